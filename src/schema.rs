//! The published schemas of the NIM custom resources, generated from the types in [`crate::api`]
//! (the same types `render` reads), so that what editors and the API server accept is what nimc
//! accepts. The constraints beyond types (required fields, enums, bounds, lengths, patterns)
//! come from [`crate::api::constraints`], the table nimc itself enforces. Two forms per kind:
//!
//! - `schemas/apps.nvidia.com/<kind>_v1alpha1.json`: JSON Schema draft-07 of the whole object,
//!   in the layout kubeconform and yaml-language-server look up. Unknown fields are errors, as
//!   in nimc.
//! - `crds/apps.nvidia.com_<plural>.yaml`: a CustomResourceDefinition whose `openAPIV3Schema` is
//!   the same schema made structural (subschemas inlined, no `null` types, no
//!   `additionalProperties: false`, free-form values marked `x-kubernetes-preserve-unknown-fields`),
//!   as the API server requires.
//!
//! Generation is pure; the test `schemas::published_schemas_are_current` compares the committed
//! files with [`files`] and rewrites them under `UPDATE_EXPECT=1`.

use schemars::Schema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Value, json};

use crate::api::constraints::{self, Rule};
use crate::api::{API_VERSION, Kind, NimCacheSpec, NimPipelineSpec, NimServiceSpec};

/// The group of every NIM custom resource.
const GROUP: &str = "apps.nvidia.com";

/// Every generated file: its path relative to the repository root, and its content (the
/// published schemas and CRDs, and the table of embedded required fields nimc enforces).
pub fn files() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for kind in [Kind::NimService, Kind::NimCache, Kind::NimPipeline] {
        let lower = kind.as_str().to_ascii_lowercase();
        let version = API_VERSION.rsplit('/').next().unwrap_or_default();
        let json = serde_json::to_string_pretty(&json_schema(kind)).unwrap_or_default();
        out.push((
            format!("schemas/{GROUP}/{lower}_{version}.json"),
            json + "\n",
        ));
        out.push((
            format!("crds/{GROUP}_{lower}s.yaml"),
            crate::yaml::emit::to_string(&crd(kind)),
        ));
    }
    out.push(("src/api/embedded.rs".into(), embedded_required_source()));
    out
}

/// The spec schema of a kind, generated with `settings`.
fn spec_schema(kind: Kind, settings: SchemaSettings) -> (Schema, SchemaGenerator) {
    let mut generator = settings.into_generator();
    let schema = match kind {
        Kind::NimService => generator.root_schema_for::<NimServiceSpec>(),
        Kind::NimCache => generator.root_schema_for::<NimCacheSpec>(),
        Kind::NimPipeline => generator.root_schema_for::<NimPipelineSpec>(),
    };
    (schema, generator)
}

/// JSON Schema draft-07 of a whole NIM object: `apiVersion`, `kind`, `metadata`, `spec`, and a
/// free-form `status`.
pub fn json_schema(kind: Kind) -> Value {
    let (schema, _) = spec_schema(
        kind,
        SchemaSettings::draft07().with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        }),
    );
    let mut spec = schema.to_value();
    if let Some(m) = spec.as_object_mut() {
        m.remove("title");
    }
    constrain(kind, &mut spec);
    defaulted_names(&mut spec);
    let mut root = json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": kind.as_str(),
        "description": format!("{} ({API_VERSION}) as nimc reads it.", kind.as_str()),
        "type": "object",
        "required": ["apiVersion", "kind", "spec"],
        "additionalProperties": false,
        "properties": {
            "apiVersion": {"type": "string", "enum": [API_VERSION]},
            "kind": {"type": "string", "enum": [kind.as_str()]},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": {"type": "object"},
        },
    });
    int_or_string_types(&mut root);
    root
}

/// Kubernetes' object references (`configMapKeyRef.name`, `imagePullSecrets[].name`, ...) are
/// "effectively required" but default to `""` in the API, so the API server never finds them
/// missing; k8s-openapi's schemas list them as required. Take them out of `required`.
fn defaulted_names(v: &mut Value) {
    match v {
        Value::Object(m) => {
            let defaulted = m
                .get("properties")
                .and_then(|p| p.get("name"))
                .and_then(|n| n.get("description"))
                .and_then(Value::as_str)
                .is_some_and(|d| d.contains("This field is effectively required"));
            if defaulted && let Some(Value::Array(req)) = m.get_mut("required") {
                req.retain(|k| k != "name");
                if req.is_empty() {
                    m.remove("required");
                }
            }
            m.values_mut().for_each(defaulted_names);
        }
        Value::Array(items) => items.iter_mut().for_each(defaulted_names),
        _ => {}
    }
}

/// `x-kubernetes-int-or-string` is a Kubernetes extension JSON Schema validators ignore; spell
/// it out as a type list. Also drops the `default`s schemars derives from `#[serde(default)]`
/// (`""`, `[]`): they are Rust's empty values, not the operator's defaults.
fn int_or_string_types(v: &mut Value) {
    let Some(m) = v.as_object_mut() else { return };
    m.remove("default");
    if m.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) && !m.contains_key("type") {
        m.insert("type".into(), json!(["integer", "string"]));
    }
    each_subschema(m, int_or_string_types);
}

/// Apply `f` to every direct subschema of a schema object (property schemas, not property
/// names, so a property called `default` is never mistaken for a keyword).
fn each_subschema(m: &mut serde_json::Map<String, Value>, f: fn(&mut Value)) {
    for (key, sub) in m.iter_mut() {
        match key.as_str() {
            "properties" | "patternProperties" | "definitions" => {
                if let Value::Object(named) = sub {
                    named.values_mut().for_each(f);
                }
            }
            "items" | "additionalProperties" | "not" => f(sub),
            "anyOf" | "oneOf" | "allOf" => {
                if let Value::Array(alts) = sub {
                    alts.iter_mut().for_each(f);
                }
            }
            _ => {}
        }
    }
}

/// The CustomResourceDefinition of a kind, with a structural `openAPIV3Schema`.
pub fn crd(kind: Kind) -> Value {
    let (schema, _) = spec_schema(
        kind,
        SchemaSettings::draft07().with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        }),
    );
    let mut spec = schema.to_value();
    if let Some(m) = spec.as_object_mut() {
        m.remove("title");
    }
    structural(&mut spec);
    defaulted_names(&mut spec);
    constrain(kind, &mut spec);
    let name = kind.as_str();
    let plural = format!("{}s", name.to_ascii_lowercase());
    let mut columns =
        vec![json!({"jsonPath": ".status.state", "name": "Status", "type": "string"})];
    if kind == Kind::NimCache {
        columns.push(json!({"jsonPath": ".status.pvc", "name": "PVC", "type": "string"}));
    }
    columns.push(json!({
        "format": "date-time",
        "jsonPath": ".metadata.creationTimestamp",
        "name": "Age",
        "type": "date",
    }));
    let version = API_VERSION.rsplit('/').next().unwrap_or_default();
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{GROUP}")},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": name,
                "listKind": format!("{name}List"),
                "plural": plural,
                "singular": name.to_ascii_lowercase(),
            },
            "scope": "Namespaced",
            "versions": [{
                "additionalPrinterColumns": columns,
                "name": version,
                "schema": {"openAPIV3Schema": {
                    "description": format!("{name} as nimc reads it (generated from nimc's types)."),
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "metadata": {"type": "object"},
                        "spec": spec,
                        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    },
                    "required": ["spec"],
                    "type": "object",
                }},
                "served": true,
                "storage": true,
                "subresources": {"status": {}},
            }],
        },
    })
}

/// Write the CRD constraints of [`constraints`] into a spec schema.
fn constrain(kind: Kind, spec: &mut Value) {
    for (path, rule) in constraints::rules(kind) {
        let Some(rel) = path.strip_prefix("/spec") else {
            continue;
        };
        let Some(node) = schema_at(spec, rel) else {
            continue;
        };
        let keywords = match rule {
            Rule::Required(keys) => {
                let mut have: Vec<Value> = node
                    .get("required")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                have.extend(keys.iter().map(|k| json!(k)));
                have.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
                have.dedup();
                json!({ "required": have })
            }
            Rule::Enum(values) => {
                // An `Option` field also takes `null` (nimc reads it as absent).
                let nullable = node
                    .get("type")
                    .and_then(Value::as_array)
                    .is_some_and(|t| t.contains(&json!("null")));
                let mut e: Vec<Value> = values.iter().map(|v| json!(v)).collect();
                if nullable {
                    e.push(Value::Null);
                }
                json!({ "enum": e })
            }
            Rule::Range(min, max) if max == i64::MAX => json!({ "minimum": min }),
            Rule::Range(min, max) => json!({ "minimum": min, "maximum": max }),
            Rule::Length(min, max) => {
                let mut m = json!({});
                if min > 0 {
                    m["minLength"] = json!(min);
                }
                if max != usize::MAX {
                    m["maxLength"] = json!(max);
                }
                m
            }
            Rule::Pattern(p) => json!({ "pattern": p }),
            Rule::Quantity => json!({ "pattern": constraints::QUANTITY_PATTERN }),
        };
        if let (Some(target), Value::Object(add)) = (node.as_object_mut(), keywords) {
            target.extend(add);
        }
    }
}

/// The subschema at a constraint path (`/expose/service/port`, `*` for list items), looking
/// through `Option`'s `anyOf: [<schema>, null]`.
fn schema_at<'v>(schema: &'v mut Value, path: &str) -> Option<&'v mut Value> {
    let mut cur = schema;
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        cur = non_null(cur);
        cur = if seg == "*" {
            cur.get_mut("items")?
        } else {
            cur.get_mut("properties")?.get_mut(seg)?
        };
    }
    Some(non_null(cur))
}

/// The non-null alternative of `anyOf: [<schema>, {type: null}]`, or the schema itself.
fn non_null(schema: &mut Value) -> &mut Value {
    let alternative = schema
        .get("anyOf")
        .and_then(Value::as_array)
        .and_then(|alts| {
            alts.iter()
                .position(|a| a.get("type") != Some(&json!("null")))
        });
    match alternative {
        Some(i) => &mut schema["anyOf"][i],
        None => schema,
    }
}

/// The formats the API server knows; others (`uint32`, ...) are dropped.
const FORMATS: &[&str] = &[
    "int32",
    "int64",
    "float",
    "double",
    "byte",
    "date",
    "date-time",
    "password",
];

/// Make a generated schema structural: fold `Option`'s `null` alternatives away, drop
/// `additionalProperties: false` and unknown formats, and turn free-form values (`true` or `{}`)
/// into `x-kubernetes-preserve-unknown-fields` objects; drop schemars' `default`s.
fn structural(v: &mut Value) {
    if v == &Value::Bool(true) || v.as_object().is_some_and(|m| m.is_empty()) {
        *v = json!({"x-kubernetes-preserve-unknown-fields": true});
        return;
    }
    let Some(m) = v.as_object_mut() else { return };
    // Rust's empty values, which the API server would otherwise write into every object.
    m.remove("default");
    // `["string", "null"]` becomes `"string"`.
    if let Some(Value::Array(types)) = m.get("type") {
        let kept: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        if kept.len() == 1 {
            m.insert("type".into(), kept[0].clone());
        }
    }
    // `anyOf: [<schema>, {type: null}]` becomes `<schema>`.
    if let Some(Value::Array(alts)) = m.get("anyOf") {
        let kept: Vec<Value> = alts
            .iter()
            .filter(|a| a.get("type") != Some(&json!("null")))
            .cloned()
            .collect();
        if let [Value::Object(only)] = kept.as_slice() {
            m.remove("anyOf");
            for (k, val) in only {
                m.entry(k.clone()).or_insert_with(|| val.clone());
            }
        }
    }
    if let Some(Value::Array(e)) = m.get_mut("enum") {
        e.retain(|x| !x.is_null());
    }
    if m.get("additionalProperties") == Some(&Value::Bool(false)) {
        m.remove("additionalProperties");
    }
    if m.get("format")
        .and_then(Value::as_str)
        .is_some_and(|f| !FORMATS.contains(&f))
    {
        m.remove("format");
    }
    each_subschema(m, structural);
}

/// The `required` lists of the generated CRD's spec schema, as (path relative to `spec`,
/// keys), for every object below `spec` except where nimc's own constraint table already
/// requires keys (those keep their hand-written entries).
pub fn required_below_spec(kind: Kind) -> Vec<(String, Vec<String>)> {
    fn walk(schema: &Value, path: &str, out: &mut Vec<(String, Vec<String>)>) {
        if let Some(req) = schema.get("required").and_then(Value::as_array) {
            let keys: Vec<String> = req
                .iter()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect();
            if !keys.is_empty() && !path.is_empty() {
                out.push((path.to_string(), keys));
            }
        }
        if let Some(Value::Object(props)) = schema.get("properties") {
            for (k, sub) in props {
                walk(sub, &format!("{path}/{k}"), out);
            }
        }
        if let Some(items) = schema.get("items") {
            walk(items, &format!("{path}/*"), out);
        }
        if let Some(extra) = schema.get("additionalProperties").filter(|a| a.is_object()) {
            walk(extra, &format!("{path}/*"), out);
        }
    }
    let crd = crd(kind);
    let mut out = Vec::new();
    walk(
        &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"],
        "",
        &mut out,
    );
    let hand: Vec<String> = crate::api::constraints::rules(kind)
        .into_iter()
        .filter(|(_, r)| matches!(r, crate::api::constraints::Rule::Required(_)))
        .map(|(p, _)| p.trim_start_matches("/spec").to_string())
        .collect();
    out.retain(|(p, _)| !hand.contains(p));
    out.sort();
    out
}

/// The source of `src/api/embedded.rs` (see there), regenerated by `UPDATE_EXPECT=1 cargo
/// test` and checked by the test suite.
pub fn embedded_required_source() -> String {
    let table = |kind: Kind| {
        required_below_spec(kind)
            .into_iter()
            .map(|(p, keys)| {
                let keys: Vec<String> = keys.iter().map(|k| format!("{k:?}")).collect();
                format!("    ({p:?}, &[{}]),\n", keys.join(", "))
            })
            .collect::<String>()
    };
    format!(
        "//! Generated from the CRDs nimc publishes (`src/schema.rs`) by `UPDATE_EXPECT=1 cargo test`;\n\
         //! do not edit. The required fields of the Kubernetes types embedded in the NIM resources\n\
         //! (env vars, probes, ports, affinity terms, HPA metrics, ...), by path relative to `spec`,\n\
         //! which the API server enforces like the NIM-authored constraints.\n\n\
         /// NIMService `spec` (also every NIMPipeline service's `spec`).\n\
         #[rustfmt::skip]\n\
         pub const SERVICE_SPEC: &[(&str, &[&str])] = &[\n{}];\n\n\
         /// NIMCache `spec`.\n\
         #[rustfmt::skip]\n\
         pub const CACHE_SPEC: &[(&str, &[&str])] = &[\n{}];\n",
        table(Kind::NimService),
        table(Kind::NimCache)
    )
}

/// Every property path of a kind (`/spec/expose/router`, arrays as `*`), computed once.
pub fn field_paths(kind: Kind) -> &'static [String] {
    static PATHS: [std::sync::OnceLock<Vec<String>>; 3] = [
        std::sync::OnceLock::new(),
        std::sync::OnceLock::new(),
        std::sync::OnceLock::new(),
    ];
    let slot = match kind {
        Kind::NimService => 0,
        Kind::NimCache => 1,
        Kind::NimPipeline => 2,
    };
    PATHS[slot].get_or_init(|| {
        let crd = crd(kind);
        let mut out = Vec::new();
        property_paths(
            &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"],
            "",
            &mut out,
        );
        out
    })
}

/// Where an unknown field probably belongs: the nearest place below `parent` (a JSON pointer
/// into the document, list indices allowed) where the kind has a field named `field`, as a
/// dotted path (`spec.expose.router`).
pub fn misplaced_field(kind: Kind, parent: &str, field: &str) -> Option<String> {
    let generic: String = parent
        .split('/')
        .map(|seg| match seg.parse::<usize>() {
            Ok(_) => "*",
            Err(_) => seg,
        })
        .collect::<Vec<_>>()
        .join("/");
    field_paths(kind)
        .iter()
        .filter(|p| p.starts_with(&format!("{generic}/")) && p.ends_with(&format!("/{field}")))
        .min_by_key(|p| (p.len(), p.as_str()))
        .map(|p| {
            p.trim_start_matches('/')
                .replace('/', ".")
                .replace(".*", "[]")
        })
}

/// Every property path of a schema (`/spec/expose/service/port`, arrays as `*`), for the
/// parity test against NVIDIA's CRDs.
pub fn property_paths(schema: &Value, prefix: &str, out: &mut Vec<String>) {
    if let Some(Value::Object(props)) = schema.get("properties") {
        for (k, sub) in props {
            let p = format!("{prefix}/{k}");
            out.push(p.clone());
            property_paths(sub, &p, out);
        }
    }
    if let Some(items) = schema.get("items") {
        property_paths(items, &format!("{prefix}/*"), out);
    }
    if let Some(extra) = schema.get("additionalProperties").filter(|a| a.is_object()) {
        property_paths(extra, &format!("{prefix}/*"), out);
    }
}
