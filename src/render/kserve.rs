//! The KServe platform (`inferencePlatform: kserve`): the InferenceService that replaces the
//! Deployment, Service, Ingress and HPA. Its predictor is the standalone pod with the KServe
//! changes: ports, probes and scaling by deployment mode, no command or args, and the
//! multi-node env on init and sidecar containers (an upstream quirk reproduced for fidelity).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ContainerPort, EnvVar, EnvVarSource, GRPCAction, HTTPGetAction, ObjectFieldSelector, Probe,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};

use super::crd::{InferenceService, InferenceServiceSpec};
use super::meta::{env, merge_env, object_meta};
use super::network::{api_port, grpc_port};
use super::workload::{base_env, container_ports, pod_spec};
use crate::api::ProbeSpec;
use crate::facts::Facts;
use crate::model::{KServe, Service};
use crate::quantity;

pub const DEPLOYMENT_MODE: &str = "serving.kserve.io/deploymentMode";
const VISIBILITY: &str = "networking.kserve.io/visibility";

/// The multi-node env the operator puts on KServe init and sidecar containers: the base env,
/// then the MPI variables (with zero parallelism, as no multi-node settings apply).
fn common_env(s: &Service) -> Vec<EnvVar> {
    merge_env(
        &[
            env("NIM_MPI_ALLOW_RUN_AS_ROOT", "0"),
            env("NIM_NUM_COMPUTE_NODES", "0"),
            env("NIM_MULTI_NODE", "1"),
            env("NIM_TENSOR_PARALLEL_SIZE", "0"),
            env("NIM_PIPELINE_PARALLEL_SIZE", "0"),
            EnvVar {
                name: "NIM_NODE_RANK".into(),
                value: None,
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        api_version: None,
                        field_path: "metadata.labels['leaderworkerset.sigs.k8s.io/worker-index']"
                            .into(),
                    }),
                    ..Default::default()
                }),
            },
        ],
        &base_env(s),
    )
}

/// Knative-mode default probe: gRPC on the gRPC port when there is one, else HTTP on the
/// numeric API port.
fn knative_probe(s: &Service, path: &str, initial_delay: i32, failure_threshold: i32) -> Probe {
    let mut p = Probe {
        initial_delay_seconds: Some(initial_delay),
        timeout_seconds: Some(1),
        period_seconds: Some(10),
        success_threshold: Some(1),
        failure_threshold: Some(failure_threshold),
        ..Default::default()
    };
    match grpc_port(s) {
        Some(port) => {
            p.grpc = Some(GRPCAction {
                port,
                service: None,
            })
        }
        None => {
            p.http_get = Some(HTTPGetAction {
                path: Some(path.into()),
                port: IntOrString::Int(api_port(s)),
                ..Default::default()
            })
        }
    }
    p
}

fn probe(spec: &ProbeSpec, default: impl FnOnce() -> Probe) -> Option<Probe> {
    if spec.enabled == Some(false) {
        return None;
    }
    Some(spec.probe.clone().unwrap_or_else(default))
}

/// `minReplicas`, `maxReplicas`, `scaleMetric`, `scaleMetricType`, `scaleTarget` (Standard mode).
fn scaling(s: &Service) -> BTreeMap<&'static str, Value> {
    let mut out = BTreeMap::new();
    let spec = &s.spec;
    if spec.scale.enabled == Some(true) {
        let hpa = spec.scale.hpa.clone().unwrap_or_default();
        if let Some(min) = hpa.min_replicas {
            out.insert("minReplicas", json!(min));
        }
        if hpa.max_replicas > 0 {
            out.insert("maxReplicas", json!(hpa.max_replicas));
        }
        let resource = hpa.metrics.iter().find_map(|m| {
            let r = m.resource.as_ref().filter(|_| m.type_ == "Resource")?;
            matches!(r.name.as_str(), "cpu" | "memory").then_some(r)
        });
        if let Some(r) = resource {
            out.insert("scaleMetric", json!(r.name));
            out.insert("scaleMetricType", json!(r.target.type_));
            let target = match r.target.type_.as_str() {
                "Utilization" => r.target.average_utilization.map(i64::from),
                "Value" => r
                    .target
                    .value
                    .as_ref()
                    .and_then(|q| quantity::ceil_value(&q.0)),
                "AverageValue" => r
                    .target
                    .average_value
                    .as_ref()
                    .and_then(|q| quantity::ceil_value(&q.0)),
                _ => None,
            };
            if let Some(t) = target.map(|t| t as i32).filter(|t| *t > 0) {
                out.insert("scaleTarget", json!(t));
            }
        }
    } else if let Some(r) = spec.replicas {
        out.insert("minReplicas", json!(r));
        out.insert("maxReplicas", json!(r));
    }
    out
}

pub fn inference_service(s: &Service, k: &KServe, facts: &Facts) -> InferenceService {
    let spec = &s.spec;
    let mut labels = s.labels.clone();
    let ingress = spec
        .expose
        .router
        .as_ref()
        .and_then(|r| r.ingress.as_ref())
        .is_some_and(|i| !i.ingress_class.is_empty())
        || spec
            .expose
            .ingress
            .as_ref()
            .is_some_and(|i| i.enabled == Some(true));
    if !labels.contains_key(VISIBILITY) && !ingress {
        labels.insert(VISIBILITY.into(), "cluster-local".into());
    }
    let mut annotations = s.annotations.clone();
    if k.standard && spec.scale.enabled == Some(true) {
        annotations.insert("serving.kserve.io/autoscalerClass".into(), "hpa".into());
    }
    annotations.insert(
        "serving.kserve.io/enable-metric-aggregation".into(),
        "true".into(),
    );
    annotations.insert(
        "serving.kserve.io/enable-prometheus-scraping".into(),
        "true".into(),
    );
    annotations
        .entry(DEPLOYMENT_MODE.into())
        .or_insert_with(|| k.mode.clone());

    let mut pod = pod_spec(s, facts, Some(&common_env(s)));
    if let Some(main) = pod.containers.first_mut() {
        main.command = None;
        main.args = None;
        main.ports = Some(if k.standard {
            container_ports(s)
        } else {
            std::iter::once(api_port(s))
                .chain(grpc_port(s))
                .map(|port| ContainerPort {
                    container_port: port,
                    protocol: Some("TCP".into()),
                    ..Default::default()
                })
                .collect()
        });
        if !k.standard {
            main.liveness_probe = probe(&spec.liveness_probe, || {
                knative_probe(s, "/v1/health/live", 15, 3)
            });
            main.readiness_probe = probe(&spec.readiness_probe, || {
                knative_probe(s, "/v1/health/ready", 15, 3)
            });
            main.startup_probe = probe(&spec.startup_probe, || {
                knative_probe(s, "/v1/health/ready", 30, 30)
            });
        }
    }
    if !k.standard {
        pod.security_context = None;
    }
    let mut predictor = serde_json::to_value(&pod).unwrap_or_default();
    if let Value::Object(m) = &mut predictor {
        m.insert("labels".into(), json!({ "app": s.name }));
        if !s.annotations.is_empty() {
            m.insert("annotations".into(), json!(s.annotations));
        }
        if k.standard {
            for (key, v) in scaling(s) {
                m.insert(key.into(), v);
            }
            m.insert(
                "deploymentStrategy".into(),
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 0}}),
            );
        }
    }
    InferenceService {
        api_version: "serving.kserve.io/v1beta1",
        kind: "InferenceService",
        metadata: object_meta(&s.name, &s.namespace, labels, annotations),
        spec: InferenceServiceSpec { predictor },
    }
}
