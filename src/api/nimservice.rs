//! `NIMService`: one NIM inference service (Deployment, networking, autoscaling, metrics, DRA).

use std::collections::BTreeMap;

use k8s_openapi::api::autoscaling::v2::{HorizontalPodAutoscalerBehavior, MetricSpec};
use k8s_openapi::api::core::v1::{
    Affinity, ContainerPort, EnvVar, PodAffinity, Probe, ResourceRequirements, Toleration,
};
use k8s_openapi::api::networking::v1::IngressSpec;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use schemars::JsonSchema;
use serde::Deserialize;

use super::common::{Image, NimContainerSpec, PersistentVolumeClaimSpec, ProxySpec};

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NimServiceSpec {
    #[serde(default)]
    pub image: Image,
    #[serde(default)]
    pub command: Vec<String>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: Vec<EnvVar>,
    #[serde(default)]
    pub auth_secret: String,
    #[serde(default)]
    pub storage: NimServiceStorage,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub node_selector: BTreeMap<String, String>,
    #[serde(default)]
    pub tolerations: Vec<Toleration>,
    /// Deprecated and ignored by the operator; only `affinity` is used.
    pub pod_affinity: Option<PodAffinity>,
    pub affinity: Option<Affinity>,
    pub resources: Option<ResourceRequirements>,
    #[serde(default)]
    pub expose: Expose,
    #[serde(default)]
    pub liveness_probe: ProbeSpec,
    #[serde(default)]
    pub readiness_probe: ProbeSpec,
    #[serde(default)]
    pub startup_probe: ProbeSpec,
    #[serde(default)]
    pub scale: Autoscaling,
    #[serde(default)]
    pub metrics: Metrics,
    pub replicas: Option<i32>,
    #[serde(rename = "userID")]
    pub user_id: Option<i64>,
    #[serde(rename = "groupID")]
    pub group_id: Option<i64>,
    pub runtime_class_name: Option<String>,
    pub scheduler_name: Option<String>,
    pub priority_class_name: Option<String>,
    pub proxy: Option<ProxySpec>,
    pub multi_node: Option<MultiNode>,
    #[serde(default)]
    pub dra_resources: Vec<DraResource>,
    pub inference_platform: Option<String>,
    #[serde(default)]
    pub init_containers: Vec<NimContainerSpec>,
    #[serde(default)]
    pub sidecar_containers: Vec<NimContainerSpec>,
}

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NimServiceStorage {
    pub nim_cache: Option<NimCacheRef>,
    pub pvc: Option<PersistentVolumeClaimSpec>,
    pub empty_dir: Option<EmptyDirSpec>,
    pub host_path: Option<String>,
    pub read_only: Option<bool>,
    pub shared_memory_size_limit: Option<Quantity>,
}

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NimCacheRef {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub profile: String,
}

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EmptyDirSpec {
    pub size_limit: Option<Quantity>,
}

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Expose {
    pub service: Option<ServiceSpec>,
    pub ingress: Option<LegacyIngress>,
    pub router: Option<Router>,
}

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceSpec {
    #[serde(rename = "type")]
    pub type_: Option<String>,
    /// "Override the default service name": never used by the operator.
    pub name: Option<String>,
    pub port: Option<i32>,
    pub grpc_port: Option<i32>,
    pub metrics_port: Option<i32>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// The deprecated `expose.ingress` form: a full IngressSpec copied verbatim.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LegacyIngress {
    pub enabled: Option<bool>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub spec: Option<IngressSpec>,
}

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Router {
    pub host_domain_name: Option<String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub ingress: Option<RouterIngress>,
    pub gateway: Option<Gateway>,
    pub epp_config: Option<EppConfig>,
}

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RouterIngress {
    #[serde(default)]
    pub ingress_class: String,
    pub tls_secret_name: Option<String>,
}

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Gateway {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    pub http_routes_enabled: Option<bool>,
    pub grpc_routes_enabled: Option<bool>,
    pub backend_ref: Option<BackendRef>,
}

/// A Gateway API `BackendRef`, copied into the HTTPRoute.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BackendRef {
    pub group: Option<String>,
    pub kind: Option<String>,
    #[serde(default)]
    pub name: String,
    pub namespace: Option<String>,
    pub port: Option<i32>,
    pub weight: Option<i32>,
}

/// The endpoint picker (EPP) and its InferencePool.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EppConfig {
    #[serde(default)]
    pub container_spec: NimContainerSpec,
    pub config: Option<serde_json::Value>,
    pub config_map_ref: Option<ConfigMapKeyRef>,
    pub ports: Option<Vec<ContainerPort>>,
    pub liveness_probe: Option<Probe>,
    pub readiness_probe: Option<Probe>,
    pub startup_probe: Option<Probe>,
}

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConfigMapKeyRef {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub key: String,
    pub optional: Option<bool>,
}

/// A probe that can be switched off or replaced.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProbeSpec {
    pub enabled: Option<bool>,
    pub probe: Option<Probe>,
}

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Autoscaling {
    pub enabled: Option<bool>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub hpa: Option<HorizontalPodAutoscalerSpec>,
}

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HorizontalPodAutoscalerSpec {
    pub min_replicas: Option<i32>,
    #[serde(default)]
    pub max_replicas: i32,
    #[serde(default)]
    pub metrics: Vec<MetricSpec>,
    pub behavior: Option<HorizontalPodAutoscalerBehavior>,
}

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Metrics {
    pub enabled: Option<bool>,
    pub service_monitor: Option<ServiceMonitorSpec>,
}

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceMonitorSpec {
    #[serde(default)]
    pub additional_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub interval: Option<String>,
    pub scrape_timeout: Option<String>,
}

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MultiNode {
    pub backend_type: Option<String>,
    #[serde(default)]
    pub parallelism: Parallelism,
    pub mpi: Option<MpiSpec>,
    pub ray: Option<RaySpec>,
    pub compute_domain: Option<ComputeDomainSpec>,
}

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Parallelism {
    pub tensor: Option<u32>,
    pub pipeline: Option<u32>,
}

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MpiSpec {
    pub mpi_start_timeout: Option<i32>,
}

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RaySpec {
    pub ray_port: Option<i32>,
}

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ComputeDomainSpec {
    pub create: Option<bool>,
    pub name: Option<String>,
}

/// One `spec.draResources[]` entry: exactly one of a claim, a template, or a template to create.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DraResource {
    pub resource_claim_name: Option<String>,
    pub resource_claim_template_name: Option<String>,
    pub claim_creation_spec: Option<ClaimCreationSpec>,
    #[serde(default)]
    pub requests: Vec<String>,
}

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClaimCreationSpec {
    pub generate_name: Option<String>,
    #[serde(default)]
    pub devices: Vec<DraDevice>,
}

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DraDevice {
    #[serde(default)]
    pub name: String,
    pub count: Option<u32>,
    pub device_class_name: Option<String>,
    pub driver_name: Option<String>,
    #[serde(default)]
    pub attribute_selectors: Vec<AttributeSelector>,
    #[serde(default)]
    pub capacity_selectors: Vec<CapacitySelector>,
    #[serde(default)]
    pub cel_expressions: Vec<String>,
}

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AttributeSelector {
    #[serde(default)]
    pub key: String,
    pub op: Option<String>,
    pub value: Option<AttributeValue>,
}

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AttributeValue {
    pub bool_value: Option<bool>,
    pub int_value: Option<i64>,
    pub string_value: Option<String>,
    pub version_value: Option<String>,
}

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CapacitySelector {
    #[serde(default)]
    pub key: String,
    pub op: Option<String>,
    pub value: Option<Quantity>,
}
