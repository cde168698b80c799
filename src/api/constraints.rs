//! The constraints NVIDIA's CRDs declare beyond field types: required fields, enums, numeric
//! bounds, string lengths and patterns. The API server enforces them before the operator sees a
//! resource, so a violation means the resource is never reconciled.
//!
//! This table is the one place they live. [`check`] applies it to a document's YAML tree while
//! it is loaded (so every finding has an exact span), and [`crate::schema`] writes it into the
//! published JSON Schemas and CRDs. Paths are JSON pointers from the document root with `*` for
//! every item of a list. A required field that has a CRD default is not listed: the API server
//! fills the default before it validates.

use std::sync::OnceLock;

use regex::Regex;

use super::Kind;
use crate::diagnostic::Diagnostic;
use crate::yaml::{Node, Span, Value};

/// One constraint on the node at a path.
#[derive(Clone, Copy, Debug)]
pub enum Rule {
    /// Keys a mapping must have when it is present.
    Required(&'static [&'static str]),
    /// The allowed values of a string.
    Enum(&'static [&'static str]),
    /// Inclusive bounds of an integer.
    Range(i64, i64),
    /// Inclusive bounds of a string's length in characters.
    Length(usize, usize),
    /// A regular expression the string must match (unanchored unless it says otherwise, as in
    /// the CRD).
    Pattern(&'static str),
    /// A Kubernetes quantity. Published as the CRD's quantity pattern; at load time nimc's own
    /// quantity parser checks it (NIMC011), with a better message.
    Quantity,
}

const NO_MAX: i64 = i64::MAX;
const PORT: Rule = Rule::Range(1, 65535);
const NON_EMPTY: Rule = Rule::Length(1, usize::MAX);
/// A DNS subdomain prefix, as the CRD writes it (no `$`: only the start is checked).
const DNS_SUBDOMAIN_PREFIX: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
/// A Prometheus duration.
const DURATION: &str =
    r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$";
/// The quantity pattern of the Kubernetes OpenAPI schema.
pub const QUANTITY_PATTERN: &str = r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$";
const SELECTOR_OPS: &[&str] = &[
    "Equal",
    "NotEqual",
    "GreaterThan",
    "GreaterThanOrEqual",
    "LessThan",
    "LessThanOrEqual",
];

/// NIMService spec constraints, relative to the spec (also used under every NIMPipeline
/// service's `spec`).
const SERVICE_SPEC: &[(&str, Rule)] = &[
    ("", Rule::Required(&["image"])),
    ("/image", Rule::Required(&["repository", "tag"])),
    ("/replicas", Rule::Range(0, NO_MAX)),
    ("/inferencePlatform", Rule::Enum(&["standalone", "kserve"])),
    ("/storage/sharedMemorySizeLimit", Rule::Quantity),
    ("/storage/emptyDir/sizeLimit", Rule::Quantity),
    ("/expose/service/port", PORT),
    ("/expose/service/grpcPort", PORT),
    ("/expose/service/metricsPort", PORT),
    (
        "/expose/router/hostDomainName",
        Rule::Pattern(r"^(([a-z0-9][a-z0-9\-]*[a-z0-9])|[a-z0-9]+\.)*([a-z]+|xn\-\-[a-z0-9]+)\.?$"),
    ),
    ("/expose/router/hostDomainName", Rule::Length(1, 63)),
    ("/expose/router/ingress", Rule::Required(&["ingressClass"])),
    ("/expose/router/ingress/ingressClass", NON_EMPTY),
    (
        "/expose/router/gateway",
        Rule::Required(&["name", "namespace"]),
    ),
    ("/expose/router/gateway/name", NON_EMPTY),
    ("/expose/router/gateway/namespace", NON_EMPTY),
    (
        "/expose/router/gateway/backendRef",
        Rule::Required(&["name"]),
    ),
    (
        "/expose/router/gateway/backendRef/group",
        Rule::Pattern(r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"),
    ),
    (
        "/expose/router/gateway/backendRef/group",
        Rule::Length(0, 253),
    ),
    (
        "/expose/router/gateway/backendRef/kind",
        Rule::Pattern(r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$"),
    ),
    (
        "/expose/router/gateway/backendRef/kind",
        Rule::Length(1, 63),
    ),
    (
        "/expose/router/gateway/backendRef/name",
        Rule::Length(1, 253),
    ),
    (
        "/expose/router/gateway/backendRef/namespace",
        Rule::Pattern(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"),
    ),
    (
        "/expose/router/gateway/backendRef/namespace",
        Rule::Length(1, 63),
    ),
    ("/expose/router/gateway/backendRef/port", PORT),
    (
        "/expose/router/gateway/backendRef/weight",
        Rule::Range(0, 1_000_000),
    ),
    (
        "/expose/router/eppConfig",
        Rule::Required(&["containerSpec"]),
    ),
    (
        "/expose/router/eppConfig/configMapRef",
        Rule::Required(&["key"]),
    ),
    (
        "/expose/router/eppConfig/containerSpec",
        Rule::Required(&["image", "name"]),
    ),
    (
        "/expose/router/eppConfig/containerSpec/image",
        Rule::Required(&["repository", "tag"]),
    ),
    ("/initContainers/*", Rule::Required(&["image", "name"])),
    (
        "/initContainers/*/image",
        Rule::Required(&["repository", "tag"]),
    ),
    ("/sidecarContainers/*", Rule::Required(&["image", "name"])),
    (
        "/sidecarContainers/*/image",
        Rule::Required(&["repository", "tag"]),
    ),
    ("/scale/hpa", Rule::Required(&["maxReplicas"])),
    ("/scale/hpa/minReplicas", Rule::Range(1, NO_MAX)),
    ("/metrics/serviceMonitor/interval", Rule::Pattern(DURATION)),
    (
        "/metrics/serviceMonitor/scrapeTimeout",
        Rule::Pattern(DURATION),
    ),
    ("/multiNode", Rule::Required(&["parallelism"])),
    ("/multiNode/backendType", Rule::Enum(&["lws"])),
    ("/multiNode/parallelism/pipeline", Rule::Range(1, NO_MAX)),
    ("/multiNode/parallelism/tensor", Rule::Range(1, NO_MAX)),
    ("/multiNode/ray/rayPort", PORT),
    (
        "/draResources/*/resourceClaimName",
        Rule::Pattern(DNS_SUBDOMAIN_PREFIX),
    ),
    ("/draResources/*/resourceClaimName", Rule::Length(1, 253)),
    (
        "/draResources/*/resourceClaimTemplateName",
        Rule::Pattern(DNS_SUBDOMAIN_PREFIX),
    ),
    (
        "/draResources/*/resourceClaimTemplateName",
        Rule::Length(1, 253),
    ),
    ("/draResources/*/requests/*", NON_EMPTY),
    (
        "/draResources/*/claimCreationSpec",
        Rule::Required(&["devices"]),
    ),
    (
        "/draResources/*/claimCreationSpec/generateName",
        Rule::Length(1, 16),
    ),
    (
        "/draResources/*/claimCreationSpec/devices/*",
        Rule::Required(&["name"]),
    ),
    (
        "/draResources/*/claimCreationSpec/devices/*/name",
        Rule::Pattern(DNS_SUBDOMAIN_PREFIX),
    ),
    (
        "/draResources/*/claimCreationSpec/devices/*/name",
        Rule::Length(1, 253),
    ),
    (
        "/draResources/*/claimCreationSpec/devices/*/driverName",
        Rule::Pattern(DNS_SUBDOMAIN_PREFIX),
    ),
    (
        "/draResources/*/claimCreationSpec/devices/*/driverName",
        Rule::Length(0, 253),
    ),
    (
        "/draResources/*/claimCreationSpec/devices/*/attributeSelectors/*",
        Rule::Required(&["key"]),
    ),
    (
        "/draResources/*/claimCreationSpec/devices/*/attributeSelectors/*/key",
        Rule::Length(0, 64),
    ),
    (
        "/draResources/*/claimCreationSpec/devices/*/attributeSelectors/*/op",
        Rule::Enum(SELECTOR_OPS),
    ),
    (
        "/draResources/*/claimCreationSpec/devices/*/attributeSelectors/*/value/stringValue",
        Rule::Length(0, 64),
    ),
    (
        "/draResources/*/claimCreationSpec/devices/*/attributeSelectors/*/value/versionValue",
        Rule::Length(0, 64),
    ),
    (
        "/draResources/*/claimCreationSpec/devices/*/capacitySelectors/*",
        Rule::Required(&["key", "value"]),
    ),
    (
        "/draResources/*/claimCreationSpec/devices/*/capacitySelectors/*/key",
        Rule::Length(0, 64),
    ),
    (
        "/draResources/*/claimCreationSpec/devices/*/capacitySelectors/*/op",
        Rule::Enum(SELECTOR_OPS),
    ),
    (
        "/draResources/*/claimCreationSpec/devices/*/capacitySelectors/*/value",
        Rule::Quantity,
    ),
];

/// NIMCache spec constraints, relative to the spec.
const CACHE_SPEC: &[(&str, Rule)] = &[
    ("", Rule::Required(&["source", "storage"])),
    ("/resources/cpu", Rule::Quantity),
    ("/resources/memory", Rule::Quantity),
    ("/certConfig", Rule::Required(&["mountPath", "name"])),
    ("/initContainers/*", Rule::Required(&["image", "name"])),
    (
        "/initContainers/*/image",
        Rule::Required(&["repository", "tag"]),
    ),
    (
        "/source/ngc",
        Rule::Required(&["authSecret", "modelPuller"]),
    ),
    (
        "/source/hf",
        Rule::Required(&[
            "authSecret",
            "endpoint",
            "modelPuller",
            "namespace",
            "pullSecret",
        ]),
    ),
    ("/source/hf/endpoint", Rule::Pattern(r"^https?://.*$")),
    ("/source/hf/authSecret", NON_EMPTY),
    ("/source/hf/modelPuller", NON_EMPTY),
    ("/source/hf/namespace", NON_EMPTY),
    ("/source/hf/pullSecret", NON_EMPTY),
    ("/source/hf/revision", NON_EMPTY),
    (
        "/source/dataStore",
        Rule::Required(&["authSecret", "endpoint", "modelPuller", "pullSecret"]),
    ),
    (
        "/source/dataStore/endpoint",
        Rule::Pattern(r"^https?://.*/v1/hf/?$"),
    ),
    ("/source/dataStore/authSecret", NON_EMPTY),
    ("/source/dataStore/modelPuller", NON_EMPTY),
    ("/source/dataStore/pullSecret", NON_EMPTY),
    ("/source/dataStore/revision", NON_EMPTY),
];

/// NIMPipeline constraints of its own, relative to the spec.
const PIPELINE_SPEC: &[(&str, Rule)] = &[(
    "/services/*/dependencies/*",
    Rule::Required(&["name", "port"]),
)];

/// Every constraint of a kind as `(path from the document root, rule)`.
pub fn rules(kind: Kind) -> Vec<(String, Rule)> {
    let under = |prefix: &str, table: &[(&str, Rule)]| {
        table
            .iter()
            .map(|(p, r)| (format!("{prefix}{p}"), *r))
            .collect::<Vec<_>>()
    };
    match kind {
        Kind::NimService => under("/spec", SERVICE_SPEC),
        Kind::NimCache => under("/spec", CACHE_SPEC),
        Kind::NimPipeline => {
            let mut v = under("/spec", PIPELINE_SPEC);
            v.extend(under("/spec/services/*/spec", SERVICE_SPEC));
            v
        }
    }
}

/// The constraint violations of one document, which must already have read into its type (so
/// every scalar has the right type). Each is an NIMC026 diagnostic in `file`.
pub fn check(kind: Kind, doc: &Node, file: usize) -> Vec<Diagnostic> {
    let name = doc
        .get("metadata")
        .and_then(|m| m.get_str("name"))
        .unwrap_or("(unnamed)");
    let mut out = Vec::new();
    let table: &[(&str, Rule)] = match kind {
        Kind::NimService => SERVICE_SPEC,
        Kind::NimCache => CACHE_SPEC,
        Kind::NimPipeline => PIPELINE_SPEC,
    };
    let Value::Map(entries) = &doc.value else {
        return out;
    };
    let Some((spec, spec_key)) = entries
        .iter()
        .find(|e| e.key == "spec")
        .map(|e| (&e.value, e.key_span))
    else {
        return out;
    };
    let mut report = |at: Span, field: &str, problem: String, help: String| {
        out.push(
            Diagnostic::new(
                "NIMC026",
                format!("{} {name}: {field} {problem}", kind.as_str()),
            )
            .at(file, at)
            .help(help),
        );
    };
    let mut each = |table: &[(&str, Rule)], root: &Node, root_at: Span, prefix: &str| {
        for (path, rule) in table {
            visit(
                root,
                root_at,
                path,
                prefix.to_string(),
                &mut |node, at, field| {
                    if let Some((problem, help)) = violation(node, *rule) {
                        // A missing key is reported at its parent's key; a bad value at the value.
                        let at = if matches!(rule, Rule::Required(_)) {
                            at
                        } else {
                            node.span
                        };
                        report(at, &field, problem, help);
                    }
                },
            );
        }
    };
    each(table, spec, spec_key, "spec");
    match kind {
        Kind::NimService => each(embedded(Kind::NimService), spec, spec_key, "spec"),
        Kind::NimCache => each(embedded(Kind::NimCache), spec, spec_key, "spec"),
        Kind::NimPipeline => visit(
            spec,
            spec.span,
            "/services/*/spec",
            "spec".into(),
            &mut |svc, at, field| {
                each(SERVICE_SPEC, svc, at, &field);
                each(embedded(Kind::NimService), svc, at, &field);
            },
        ),
    }
    out
}

/// The required fields of the embedded Kubernetes types ([`super::embedded`]) as rules.
fn embedded(kind: Kind) -> &'static [(&'static str, Rule)] {
    static SERVICE: OnceLock<Vec<(&'static str, Rule)>> = OnceLock::new();
    static CACHE: OnceLock<Vec<(&'static str, Rule)>> = OnceLock::new();
    let (slot, table) = match kind {
        Kind::NimCache => (&CACHE, super::embedded::CACHE_SPEC),
        _ => (&SERVICE, super::embedded::SERVICE_SPEC),
    };
    slot.get_or_init(|| {
        table
            .iter()
            .map(|(path, keys)| (*path, Rule::Required(keys)))
            .collect()
    })
}

/// Call `f` with every node at `path` under `node`, where to report it (the key of a mapping
/// entry, the item of a list) and its dotted field name (`spec.services[0].spec.image`).
fn visit(node: &Node, at: Span, path: &str, field: String, f: &mut dyn FnMut(&Node, Span, String)) {
    let path = path.strip_prefix('/').unwrap_or(path);
    if path.is_empty() {
        if !node.is_null() {
            f(node, at, field);
        }
        return;
    }
    let (seg, rest) = path.split_once('/').unwrap_or((path, ""));
    match &node.value {
        Value::Seq(items) if seg == "*" => {
            for (i, item) in items.iter().enumerate() {
                visit(item, item.span, rest, format!("{field}[{i}]"), f);
            }
        }
        Value::Map(entries) => {
            if let Some(e) = entries.iter().find(|e| e.key == seg) {
                visit(&e.value, e.key_span, rest, format!("{field}.{seg}"), f);
            }
        }
        _ => {}
    }
}

/// What is wrong with `node` under `rule`, and how to fix it.
fn violation(node: &Node, rule: Rule) -> Option<(String, String)> {
    let text = match &node.value {
        Value::Scalar(s) => Some(s.text.as_ref()),
        _ => None,
    };
    match rule {
        Rule::Required(keys) => {
            let Value::Map(entries) = &node.value else {
                return None;
            };
            let missing: Vec<&str> = keys
                .iter()
                .copied()
                .filter(|k| !entries.iter().any(|e| e.key == *k && !e.value.is_null()))
                .collect();
            (!missing.is_empty()).then(|| {
                let list = missing
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                (
                    format!("is missing the required {list}"),
                    format!("the CRD requires {list} here; add them"),
                )
            })
        }
        Rule::Enum(allowed) => {
            let t = text?;
            (!allowed.contains(&t)).then(|| {
                (
                    format!("is `{t}`, not one of the allowed values"),
                    format!("use one of: {}", allowed.join(", ")),
                )
            })
        }
        Rule::Range(min, max) => {
            let v: i64 = text?.trim().parse().ok()?;
            (v < min || v > max).then(|| {
                let range = if max == NO_MAX {
                    format!("at least {min}")
                } else {
                    format!("between {min} and {max}")
                };
                (
                    format!("is {v}; it must be {range}"),
                    "the CRD declares this bound, so the API server rejects the resource".into(),
                )
            })
        }
        Rule::Length(min, max) => {
            let n = text?.chars().count();
            (n < min || n > max).then(|| {
                let bound = match (min, max) {
                    (1, usize::MAX) => "must not be empty".to_string(),
                    (_, usize::MAX) => format!("needs at least {min} characters"),
                    (0, _) => format!("has {n} characters; at most {max} are allowed"),
                    _ => format!("has {n} characters; it needs {min} to {max}"),
                };
                (bound, "the CRD declares this length limit".into())
            })
        }
        Rule::Pattern(pattern) => {
            let t = text?;
            (!compiled(pattern).is_some_and(|re| re.is_match(t))).then(|| {
                (
                    format!("`{t}` does not match the pattern the CRD requires"),
                    format!("the value must match {pattern}"),
                )
            })
        }
        Rule::Quantity => None,
    }
}

/// The compiled form of one of the table's patterns, built once.
fn compiled(pattern: &str) -> Option<&'static Regex> {
    static CACHE: OnceLock<Vec<(&'static str, Regex)>> = OnceLock::new();
    let all = CACHE.get_or_init(|| {
        SERVICE_SPEC
            .iter()
            .chain(CACHE_SPEC)
            .filter_map(|(_, r)| match r {
                Rule::Pattern(p) => Regex::new(p).ok().map(|re| (*p, re)),
                _ => None,
            })
            .collect()
    });
    all.iter().find(|(p, _)| *p == pattern).map(|(_, re)| re)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_compiles() {
        for (_, r) in SERVICE_SPEC.iter().chain(CACHE_SPEC) {
            if let Rule::Pattern(p) = r {
                assert!(compiled(p).is_some(), "{p}");
            }
        }
        assert!(Regex::new(QUANTITY_PATTERN).is_ok());
    }
}
