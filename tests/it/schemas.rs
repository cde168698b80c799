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
