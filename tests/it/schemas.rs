//! Rendered objects are valid objects: core kinds read back into their `k8s-openapi` types
//! without losing a field, and third-party kinds validate against the upstream CRD schemas
//! (from `../shared/upstream-crds/thirdparty`, when present).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::support::{examples, render_dir, shared, yaml_docs};

/// Every object rendered from the examples, as JSON.
fn rendered() -> Vec<Value> {
    examples()
        .iter()
        .flat_map(|d| {
            let c = render_dir(d);
            yaml_docs(&nimc::manifest::to_yaml(&c.objects))
        })
        .collect()
}

fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(v: &Value) -> Value {
    let typed: T = serde_json::from_value(v.clone()).expect("typed object");
    serde_json::to_value(&typed).unwrap()
}

#[test]
fn core_objects_read_back_into_their_types_losslessly() {
    use k8s_openapi::api::{apps, autoscaling, batch, core, networking, rbac, resource};
    let mut seen = BTreeMap::new();
    for v in rendered() {
        let kind = v["kind"].as_str().unwrap().to_string();
        let back = match kind.as_str() {
            "ServiceAccount" => round_trip::<core::v1::ServiceAccount>(&v),
            "Service" => round_trip::<core::v1::Service>(&v),
            "ConfigMap" => round_trip::<core::v1::ConfigMap>(&v),
            "PersistentVolumeClaim" => round_trip::<core::v1::PersistentVolumeClaim>(&v),
            "Role" => round_trip::<rbac::v1::Role>(&v),
            "RoleBinding" => round_trip::<rbac::v1::RoleBinding>(&v),
            "Deployment" => round_trip::<apps::v1::Deployment>(&v),
            "Job" => round_trip::<batch::v1::Job>(&v),
            "HorizontalPodAutoscaler" => round_trip::<autoscaling::v2::HorizontalPodAutoscaler>(&v),
            "Ingress" => round_trip::<networking::v1::Ingress>(&v),
            "ResourceClaimTemplate" => round_trip::<resource::v1::ResourceClaimTemplate>(&v),
            _ => continue,
        };
        assert_eq!(
            back, v,
            "{kind} lost or changed a field in a typed round trip"
        );
        *seen.entry(kind).or_insert(0) += 1;
    }
    for k in [
        "Deployment",
        "Service",
        "Job",
        "HorizontalPodAutoscaler",
        "Ingress",
        "ResourceClaimTemplate",
        "PersistentVolumeClaim",
    ] {
        assert!(seen.contains_key(k), "the examples render no {k}");
    }
}

#[test]
fn third_party_objects_validate_against_upstream_crds() {
    let Some(shared) = shared() else {
        eprintln!("../shared not present; CRD validation skipped");
        return;
    };
    let dir = shared.join("upstream-crds/thirdparty");
    let mut validators = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for crd in yaml_docs(&text) {
            let kind = crd["spec"]["names"]["kind"].as_str().unwrap().to_string();
            let group = crd["spec"]["group"].as_str().unwrap().to_string();
            for version in crd["spec"]["versions"].as_array().unwrap() {
                let api_version = format!("{group}/{}", version["name"].as_str().unwrap());
                let schema = version["schema"]["openAPIV3Schema"].clone();
                let validator = jsonschema::validator_for(&schema).expect("schema compiles");
                validators.insert((api_version, kind.clone()), validator);
            }
        }
    }
    let mut checked = BTreeMap::new();
    for v in rendered() {
        let key = (
            v["apiVersion"].as_str().unwrap().to_string(),
            v["kind"].as_str().unwrap().to_string(),
        );
        let Some(validator) = validators.get(&key) else {
            continue;
        };
        let errors: Vec<String> = validator
            .iter_errors(&v)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{key:?} {}: {errors:#?}",
            v["metadata"]["name"]
        );
        *checked.entry(key.1).or_insert(0) += 1;
    }
    for k in [
        "HTTPRoute",
        "GRPCRoute",
        "ServiceMonitor",
        "InferencePool",
        "InferenceService",
    ] {
        assert!(checked.contains_key(k), "no {k} was validated");
    }
}

/// A document with every property of an upstream CRD schema (one item per list, a plausible
/// value per scalar), to prove nimc's types accept every field the API server accepts.
fn maximal(schema: &Value) -> Value {
    if schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        return Value::String("1".into());
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        return Value::Object(props.iter().map(|(k, v)| (k.clone(), maximal(v))).collect());
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("array") => Value::Array(vec![maximal(schema.get("items").unwrap_or(&Value::Null))]),
        Some("integer") => serde_json::json!(1),
        Some("number") => serde_json::json!(0.5),
        Some("boolean") => Value::Bool(true),
        Some("string") => schema
            .get("enum")
            .and_then(|e| e.get(0))
            .cloned()
            .unwrap_or_else(|| {
                Value::String(
                    if schema.get("format") == Some(&Value::String("byte".into())) {
                        "eA==".into()
                    } else {
                        "1".into()
                    },
                )
            }),
        Some("object") => match schema.get("additionalProperties") {
            Some(ap) if ap.is_object() => serde_json::json!({ "key": maximal(ap) }),
            _ => serde_json::json!({}),
        },
        _ => Value::String("1".into()),
    }
}

#[test]
fn every_upstream_crd_field_is_accepted() {
    let Some(shared) = shared() else {
        eprintln!("../shared not present; CRD parity skipped");
        return;
    };
    for file in [
        "apps.nvidia.com_nimservices.yaml",
        "apps.nvidia.com_nimcaches.yaml",
        "apps.nvidia.com_nimpipelines.yaml",
    ] {
        let text = std::fs::read_to_string(shared.join("upstream-crds/nim").join(file)).unwrap();
        let crd = yaml_docs(&text).remove(0);
        let kind = crd["spec"]["names"]["kind"].as_str().unwrap().to_string();
        let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        let mut doc = maximal(schema);
        doc["apiVersion"] = "apps.nvidia.com/v1alpha1".into();
        doc["kind"] = kind.clone().into();
        doc["metadata"] = serde_json::json!({"name": "x", "namespace": "ns"});
        let yaml = nimc::yaml::emit::to_string(&doc);
        let c = nimc::compile(
            &nimc::source::Sources::from_texts([("crd.yaml", yaml.as_str())]),
            &nimc::facts::Facts::default(),
        );
        let unknown: Vec<String> = c
            .diagnostics
            .iter()
            .filter(|d| d.code == "NIMC003")
            .map(|d| d.message.clone())
            .collect();
        assert!(
            unknown.is_empty(),
            "{kind}: fields of the upstream CRD that nimc rejects: {unknown:#?}"
        );
    }
}

/// `schemas/` and `crds/` hold exactly what [`nimc::schema::files`] generates from nimc's
/// types; `UPDATE_EXPECT=1 cargo test` rewrites them.
#[test]
fn published_schemas_are_current() {
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut stale = Vec::new();
    for (path, text) in nimc::schema::files() {
        let file = crate::support::root().join(&path);
        if update {
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, &text).unwrap();
        } else if std::fs::read_to_string(&file).ok().as_deref() != Some(text.as_str()) {
            stale.push(path);
        }
    }
    assert!(
        stale.is_empty(),
        "stale generated files (run UPDATE_EXPECT=1 cargo test): {stale:?}"
    );
}

/// Every NIM resource of the examples and of the conformance inputs validates against the
/// published JSON Schema of its kind: editors using `schemas/` never flag what nimc accepts.
#[test]
fn nim_resources_validate_against_the_published_json_schemas() {
    use nimc::api::Kind;
    let validators: BTreeMap<&str, jsonschema::Validator> =
        [Kind::NimService, Kind::NimCache, Kind::NimPipeline]
            .into_iter()
            .map(|k| {
                let v = jsonschema::validator_for(&nimc::schema::json_schema(k)).unwrap();
                (k.as_str(), v)
            })
            .collect();
    let mut dirs = examples();
    if let Some(shared) = shared() {
        for case in std::fs::read_dir(shared.join("conformance/cases")).unwrap() {
            dirs.push(case.unwrap().path().join("input"));
        }
    }
    let mut checked = 0;
    for dir in dirs {
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml") && !p.ends_with("nimc.yaml"))
            .collect();
        files.sort();
        for file in files {
            for doc in yaml_docs(&std::fs::read_to_string(&file).unwrap()) {
                let Some(v) = doc["kind"].as_str().and_then(|k| validators.get(k)) else {
                    continue;
                };
                let errors: Vec<String> = v
                    .iter_errors(&doc)
                    .map(|e| format!("{e} at {}", e.instance_path()))
                    .collect();
                assert!(errors.is_empty(), "{}: {errors:#?}", file.display());
                checked += 1;
            }
        }
    }
    assert!(checked >= 10, "only {checked} resources checked");
    // And the schema refuses what nimc refuses: an unknown field, a wrong type.
    let bad = serde_json::json!({
        "apiVersion": "apps.nvidia.com/v1alpha1", "kind": "NIMService",
        "metadata": {"name": "x"}, "spec": {"replica": 1, "image": {"repository": 1}},
    });
    // Three errors: the unknown `replica`, the numeric repository, the missing tag.
    assert_eq!(validators["NIMService"].iter_errors(&bad).count(), 3);
}

/// The generated CRDs are what the API server accepts: they read into the typed
/// CustomResourceDefinition without loss, and their schemas are structural (every node typed
/// or explicitly free-form, no references, no `additionalProperties` next to `properties`).
#[test]
fn generated_crds_are_structural() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    for kind in [
        nimc::api::Kind::NimService,
        nimc::api::Kind::NimCache,
        nimc::api::Kind::NimPipeline,
    ] {
        let crd = nimc::schema::crd(kind);
        let back = round_trip::<CustomResourceDefinition>(&crd);
        assert_eq!(first_difference(&crd, &back, ""), None, "{}", kind.as_str());
        let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        let mut problems = Vec::new();
        structural_problems(schema, "", &mut problems);
        assert!(problems.is_empty(), "{}: {problems:#?}", kind.as_str());
    }
}

fn structural_problems(s: &Value, path: &str, out: &mut Vec<String>) {
    let free = s.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
        || s.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    if s.get("type").and_then(Value::as_str).is_none() && !free {
        out.push(format!("{path}: no single type"));
    }
    for key in ["$ref", "definitions", "default", "anyOf", "oneOf"] {
        if s.get(key).is_some() {
            out.push(format!("{path}: has {key}"));
        }
    }
    if s.get("properties").is_some() && s.get("additionalProperties").is_some() {
        out.push(format!("{path}: properties and additionalProperties"));
    }
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        for (k, sub) in props {
            structural_problems(sub, &format!("{path}/{k}"), out);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(sub) = s.get(key).filter(|v| v.is_object()) {
            structural_problems(sub, &format!("{path}/*"), out);
        }
    }
}

/// Our CRDs and NVIDIA's have the same property paths, both ways, except where nimc keeps a
/// value free-form on purpose.
#[test]
fn generated_crds_have_the_upstream_property_paths() {
    /// `eppConfig.config` is the endpoint picker's own configuration document: nimc passes it
    /// through as free-form JSON (re-serialised like the Go type), so its inner paths are not
    /// modelled.
    const FREE_FORM: &[&str] = &["/expose/router/eppConfig/config/"];
    let Some(shared) = shared() else {
        eprintln!("../shared not present; CRD parity skipped");
        return;
    };
    for kind in [
        nimc::api::Kind::NimService,
        nimc::api::Kind::NimCache,
        nimc::api::Kind::NimPipeline,
    ] {
        let plural = format!("{}s", kind.as_str().to_ascii_lowercase());
        let file = shared.join(format!("upstream-crds/nim/apps.nvidia.com_{plural}.yaml"));
        let upstream = yaml_docs(&std::fs::read_to_string(file).unwrap()).remove(0);
        let spec = |crd: &Value| {
            crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"].clone()
        };
        let paths = |crd: &Value| {
            let mut v = Vec::new();
            nimc::schema::property_paths(&spec(crd), "", &mut v);
            v.into_iter()
                .filter(|p| !FREE_FORM.iter().any(|f| p.contains(f)))
                .collect::<std::collections::BTreeSet<_>>()
        };
        let theirs = paths(&upstream);
        let ours = paths(&nimc::schema::crd(kind));
        let missing: Vec<_> = theirs.difference(&ours).collect();
        let extra: Vec<_> = ours.difference(&theirs).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{}: only upstream {missing:#?}; only nimc {extra:#?}",
            kind.as_str()
        );
        assert!(ours.len() > 100, "{}: {} paths", kind.as_str(), ours.len());
    }
}

/// The first path where two JSON values differ.
fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => x
            .iter()
            .find_map(|(k, v)| match y.get(k) {
                Some(w) => first_difference(v, w, &format!("{path}/{k}")),
                None => Some(format!("{path}/{k}: missing on the right")),
            })
            .or_else(|| {
                y.keys()
                    .find(|k| !x.contains_key(*k))
                    .map(|k| format!("{path}/{k}: missing on the left"))
            }),
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (v, w))| first_difference(v, w, &format!("{path}/{i}"))),
        // `minimum: 0` reads back as the float `0.0`: the same number.
        (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => None,
        _ => (a != b).then(|| format!("{path}: {a} vs {b}")),
    }
}

/// Where nimc reuses a Kubernetes type from `k8s-openapi`, the schema is the Kubernetes
/// OpenAPI's, whose `required` lists differ from controller-gen's; and `eppConfig.config` is
/// free-form. Constraint parity is checked everywhere else.
const EMBEDDED: &[&str] = &[
    "/affinity",
    "/podAffinity",
    "/tolerations",
    "/env",
    "/resources/limits",
    "/resources/requests",
    "/resources/claims",
    "/livenessProbe/probe",
    "/readinessProbe/probe",
    "/startupProbe/probe",
    "/expose/ingress/spec",
    "/scale/hpa/metrics",
    "/scale/hpa/behavior",
    "/expose/router/eppConfig/ports",
    "/expose/router/eppConfig/livenessProbe",
    "/expose/router/eppConfig/readinessProbe",
    "/expose/router/eppConfig/startupProbe",
    "/expose/router/eppConfig/containerSpec/env",
    "/expose/router/eppConfig/config",
    "/initContainers/*/env",
    "/sidecarContainers/*/env",
];

fn constraints(schema: &Value, path: &str, out: &mut BTreeMap<String, Value>) {
    let rel = path.strip_prefix("/services/*/spec").unwrap_or(path);
    if EMBEDDED.iter().any(|e| rel.starts_with(e)) {
        return;
    }
    let mut found = serde_json::Map::new();
    for key in [
        "enum",
        "minimum",
        "maximum",
        "pattern",
        "minLength",
        "maxLength",
    ] {
        if let Some(v) = schema.get(key) {
            // `minimum: 0` of an unsigned Rust type adds nothing the type does not say.
            let implied = key == "minimum"
                && v.as_f64() == Some(0.0)
                && schema.get("maximum").is_none()
                && schema.get("format").is_none();
            if !implied {
                found.insert(
                    key.into(),
                    serde_json::json!(v.as_f64().map_or(v.clone(), |f| serde_json::json!(f))),
                );
            }
        }
    }
    // A required field with a default is always present once the API server has defaulted.
    let props = schema.get("properties").and_then(Value::as_object);
    let mut required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|k| {
            props
                .and_then(|p| p.get(*k))
                .is_none_or(|p| p.get("default").is_none())
        })
        .collect();
    required.sort();
    if !required.is_empty() {
        found.insert("required".into(), serde_json::json!(required));
    }
    if !found.is_empty() {
        out.insert(path.to_string(), Value::Object(found));
    }
    for (k, sub) in props.into_iter().flatten() {
        constraints(sub, &format!("{path}/{k}"), out);
    }
    if let Some(items) = schema.get("items") {
        constraints(items, &format!("{path}/*"), out);
    }
}

/// Every constraint NVIDIA's CRDs put on fields nimc models itself (required fields, enums,
/// bounds, lengths, patterns) is in nimc's table, and nimc adds none of its own.
#[test]
fn generated_crds_have_the_upstream_constraints() {
    let Some(shared) = shared() else {
        eprintln!("../shared not present; constraint parity skipped");
        return;
    };
    for kind in [
        nimc::api::Kind::NimService,
        nimc::api::Kind::NimCache,
        nimc::api::Kind::NimPipeline,
    ] {
        let plural = format!("{}s", kind.as_str().to_ascii_lowercase());
        let file = shared.join(format!("upstream-crds/nim/apps.nvidia.com_{plural}.yaml"));
        let upstream = yaml_docs(&std::fs::read_to_string(file).unwrap()).remove(0);
        let spec = |crd: &Value| {
            crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"].clone()
        };
        let (mut theirs, mut ours) = (BTreeMap::new(), BTreeMap::new());
        constraints(&spec(&upstream), "", &mut theirs);
        constraints(&spec(&nimc::schema::crd(kind)), "", &mut ours);
        let differ: Vec<String> = theirs
            .keys()
            .chain(ours.keys())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .filter(|p| theirs.get(*p) != ours.get(*p))
            .map(|p| format!("{p}: upstream {:?}, nimc {:?}", theirs.get(p), ours.get(p)))
            .collect();
        assert!(differ.is_empty(), "{}: {differ:#?}", kind.as_str());
        assert!(
            theirs.len() > 15,
            "{}: {} constrained paths",
            kind.as_str(),
            theirs.len()
        );
    }
}

/// Every required field nimc enforces on the embedded Kubernetes types is required by NVIDIA's
/// CRD at the same place too: nimc never refuses what the API server accepts.
#[test]
fn embedded_required_fields_match_nvidias_crds() {
    let Some(shared) = crate::support::shared() else {
        return;
    };
    for (table, file) in [
        (
            nimc::api::embedded::SERVICE_SPEC,
            "apps.nvidia.com_nimservices.yaml",
        ),
        (
            nimc::api::embedded::CACHE_SPEC,
            "apps.nvidia.com_nimcaches.yaml",
        ),
    ] {
        let text = std::fs::read_to_string(shared.join("upstream-crds/nim").join(file)).unwrap();
        let crd = crate::support::yaml_docs(&text).remove(0);
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        for (path, keys) in table {
            let mut node = spec;
            for seg in path.trim_start_matches('/').split('/') {
                node = if seg == "*" {
                    node.get("items").unwrap_or(&node["additionalProperties"])
                } else {
                    &node["properties"][seg]
                };
            }
            let required: Vec<&str> = node["required"]
                .as_array()
                .map(|r| r.iter().filter_map(|k| k.as_str()).collect())
                .unwrap_or_default();
            for k in *keys {
                assert!(
                    required.contains(k),
                    "{file} {path}: `{k}` is not required upstream"
                );
            }
        }
    }
}
