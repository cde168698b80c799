//! Names, labels, annotations and env lists, with the operator's merge rules:
//! [`merge_maps`] keeps the first map's keys (standard labels beat user labels), and
//! [`merge_env`] puts the second list first and lets it win.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, SecretKeySelector};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::api::NimServiceSpec;
use crate::facts::Facts;

/// The `app.kubernetes.io/managed-by` label (`nimc` unless the facts say otherwise; the
/// operator writes `k8s-nim-operator`).
pub fn managed_by(facts: &Facts) -> (String, String) {
    (
        "app.kubernetes.io/managed-by".into(),
        facts.managed_by.clone(),
    )
}

pub type Map = BTreeMap<String, String>;

/// All of `first`, plus the keys of `second` that `first` lacks.
pub fn merge_maps(first: &Map, second: &Map) -> Map {
    let mut out = first.clone();
    for (k, v) in second {
        out.entry(k.clone()).or_insert_with(|| v.clone());
    }
    out
}

/// All of `second` in order, then the entries of `first` whose names `second` lacks.
pub fn merge_env(first: &[EnvVar], second: &[EnvVar]) -> Vec<EnvVar> {
    let mut out: Vec<EnvVar> = second.to_vec();
    out.extend(
        first
            .iter()
            .filter(|e| !second.iter().any(|s| s.name == e.name))
            .cloned(),
    );
    out
}

/// Drop every entry named `name`.
pub fn remove_env(env: &mut Vec<EnvVar>, name: &str) {
    env.retain(|e| e.name != name);
}

/// A literal env var.
pub fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        value_from: None,
    }
}

/// A container's env list as the operator's typed objects print it: an empty value is left
/// out (Go's `omitempty`), and an empty list is no list.
pub fn env_list(env: &[EnvVar]) -> Option<Vec<EnvVar>> {
    let out: Vec<EnvVar> = env
        .iter()
        .map(|e| EnvVar {
            name: e.name.clone(),
            value: e.value.clone().filter(|v| !v.is_empty()),
            value_from: e.value_from.clone().map(|mut from| {
                // `divisor` is a plain Quantity in Go: always written, "0" when unset.
                if let Some(r) = from.resource_field_ref.as_mut() {
                    let d = r.divisor.as_ref().map_or("0", |q| q.0.as_str());
                    r.divisor = Some(Quantity(crate::quantity::canonical(d)));
                }
                from
            }),
        })
        .collect();
    (!out.is_empty()).then_some(out)
}

/// An env var read from a Secret key.
pub fn secret_env(name: &str, secret: &str, key: &str, optional: Option<bool>) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: None,
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                key: key.into(),
                name: secret.into(),
                optional,
            }),
            ..Default::default()
        }),
    }
}

/// The operator's standard labels for a NIMService.
pub fn standard_labels(name: &str, facts: &Facts) -> Map {
    let mut m = Map::new();
    m.insert("app.kubernetes.io/name".into(), name.into());
    m.insert("app.kubernetes.io/instance".into(), name.into());
    m.insert(
        "app.kubernetes.io/operator-version".into(),
        facts.operator_version_label().into(),
    );
    m.insert("app.kubernetes.io/part-of".into(), "nim-service".into());
    m.extend([managed_by(facts)]);
    m
}

/// ServiceLabels: the standard labels, then the user's `spec.labels`.
pub fn service_labels(name: &str, spec: &NimServiceSpec, facts: &Facts) -> Map {
    merge_maps(&standard_labels(name, facts), &spec.labels)
}

/// The SCC a NIMService's pods request (the `openshift.io/required-scc` annotation).
pub fn required_scc(spec: &NimServiceSpec) -> &'static str {
    let proxy_cert = spec
        .proxy
        .as_ref()
        .is_some_and(|p| !p.cert_config_map.is_empty());
    let host_path = spec
        .storage
        .host_path
        .as_ref()
        .is_some_and(|h| !h.is_empty());
    if proxy_cert {
        "anyuid"
    } else if host_path {
        "hostmount-anyuid"
    } else {
        "nonroot"
    }
}

/// NIMServiceAnnotations: the standard annotations, then the user's `spec.annotations`.
pub fn service_annotations(spec: &NimServiceSpec) -> Map {
    let mut standard = Map::new();
    standard.insert(
        "openshift.io/required-scc".into(),
        required_scc(spec).into(),
    );
    merge_maps(&standard, &spec.annotations)
}

/// Object metadata in the service's namespace.
pub fn object_meta(
    name: impl Into<String>,
    namespace: &str,
    labels: Map,
    annotations: Map,
) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(namespace.into()),
        labels: non_empty(labels),
        annotations: non_empty(annotations),
        ..Default::default()
    }
}

/// `None` for an empty map, so that it is not printed.
pub fn non_empty(m: Map) -> Option<Map> {
    (!m.is_empty()).then_some(m)
}

/// `None` for an empty string or list.
pub fn some_str(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

pub fn some_vec<T: Clone>(v: &[T]) -> Option<Vec<T>> {
    (!v.is_empty()).then(|| v.to_vec())
}
