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
