//! `NIMCache`: a model downloaded once into a PVC by a Job, for NIMServices to mount.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EnvVar, Toleration};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{NimContainerSpec, PersistentVolumeClaimSpec, ProxySpec};

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NimCacheSpec {
    #[serde(default)]
    pub source: NimSource,
    #[serde(default)]
    pub storage: NimCacheStorage,
    #[serde(default)]
    pub resources: CacheResources,
    #[serde(default)]
    pub tolerations: Vec<Toleration>,
    /// `None` means "use the GPU default"; an explicit `{}` disables it.
    pub node_selector: Option<BTreeMap<String, String>>,
    #[serde(rename = "userID")]
    pub user_id: Option<i64>,
    #[serde(rename = "groupID")]
    pub group_id: Option<i64>,
    /// Deprecated: the operator refuses to build the Job when it is set.
    pub cert_config: Option<CertConfig>,
    #[serde(default)]
    pub env: Vec<EnvVar>,
    pub runtime_class_name: Option<String>,
    pub proxy: Option<ProxySpec>,
    #[serde(default)]
    pub init_containers: Vec<NimContainerSpec>,
}

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NimSource {
    pub ngc: Option<NgcSource>,
    pub hf: Option<HfSource>,
    pub data_store: Option<HfSource>,
}

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NgcSource {
    #[serde(default)]
    pub auth_secret: String,
    #[serde(default)]
    pub model_puller: String,
    #[serde(default)]
    pub pull_secret: String,
    pub model: Option<ModelSpec>,
    pub model_endpoint: Option<String>,
}

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ModelSpec {
    #[serde(default)]
    pub profiles: Vec<String>,
    pub precision: Option<String>,
    pub engine: Option<String>,
    pub tensor_parallelism: Option<String>,
    pub qos_profile: Option<String>,
    #[serde(default)]
    pub gpus: Vec<GpuSpec>,
    pub lora: Option<bool>,
    pub buildable: Option<bool>,
}

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GpuSpec {
    pub product: Option<String>,
    #[serde(default)]
    pub ids: Vec<String>,
}

/// A Hugging Face hub or NeMo DataStore source (the same fields).
#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HfSource {
    #[serde(default)]
    pub endpoint: String,
    pub namespace: Option<String>,
    pub model_name: Option<String>,
    pub dataset_name: Option<String>,
    #[serde(default)]
    pub auth_secret: String,
    #[serde(default)]
    pub model_puller: String,
    #[serde(default)]
    pub pull_secret: String,
    pub revision: Option<String>,
}

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NimCacheStorage {
    pub pvc: Option<PersistentVolumeClaimSpec>,
    /// Deprecated and ignored by the controller.
    pub host_path: Option<String>,
}

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CacheResources {
    pub cpu: Option<Quantity>,
    pub memory: Option<Quantity>,
}

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CertConfig {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub mount_path: String,
}

/// The status the NIMCache controller wrote. Read leniently: it is server-owned.
#[derive(Deserialize, Serialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NimCacheStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pvc: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<NimProfile>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<StatusCondition>,
}

/// A status condition (`metav1.Condition`, the fields nimc keeps).
#[derive(Deserialize, Serialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StatusCondition {
    #[serde(default, rename = "type")]
    pub type_: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub last_transition_time: String,
}

impl NimCacheStatus {
    /// Whether the operator creates the download Job: only while caching is not complete
    /// (`reconcileJob`). A `Ready` status that records the Job's creation
    /// (`NIM_CACHE_JOB_CREATED`) is the operator's own account of a Job it created, so that
    /// Job is one of its objects; a `Ready` status without it (a cache populated beforehand and
    /// marked Ready) never gets one.
    pub fn creates_job(&self) -> bool {
        let job_created = self
            .conditions
            .iter()
            .any(|c| c.type_ == "NIM_CACHE_JOB_CREATED" && c.status == "True");
        self.state.as_deref() != Some("Ready") || job_created
    }
}

#[derive(Deserialize, Serialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NimProfile {
    #[serde(default)]
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
}

impl NimSource {
    /// The active Hugging-Face-style source (dataStore, then hf, as upstream checks them).
    pub fn hf_like(&self) -> Option<&HfSource> {
        self.data_store.as_ref().or(self.hf.as_ref())
    }

    /// NGC without `modelEndpoint`: the operator's "optimized NIM".
    pub fn is_optimized(&self) -> bool {
        self.ngc
            .as_ref()
            .is_some_and(|n| n.model_endpoint.is_none())
    }

    /// NGC with `modelEndpoint`, or Hugging Face hub (not DataStore): "universal NIM".
    pub fn is_universal(&self) -> bool {
        self.ngc
            .as_ref()
            .is_some_and(|n| n.model_endpoint.is_some())
            || self.hf.is_some()
    }

    /// Hugging Face hub or DataStore.
    pub fn is_hf_model(&self) -> bool {
        self.hf.is_some() || self.data_store.is_some()
    }

    /// `hf://<namespace>/<modelName>` for HF-style sources, "" for NGC.
    pub fn hf_uri(&self) -> String {
        match self.hf_like() {
            Some(s) => format!(
                "hf://{}/{}",
                s.namespace.as_deref().unwrap_or_default(),
                s.model_name.as_deref().unwrap_or_default()
            ),
            None => String::new(),
        }
    }

    /// The image that downloads the model.
    pub fn model_puller(&self) -> &str {
        match (&self.ngc, self.hf_like()) {
            (Some(n), _) => &n.model_puller,
            (None, Some(h)) => &h.model_puller,
            _ => "",
        }
    }

    pub fn pull_secret(&self) -> &str {
        match (&self.ngc, self.hf_like()) {
            (Some(n), _) => &n.pull_secret,
            (None, Some(h)) => &h.pull_secret,
            _ => "",
        }
    }

    pub fn auth_secret(&self) -> &str {
        match (&self.ngc, self.hf_like()) {
            (Some(n), _) => &n.auth_secret,
            (None, Some(h)) => &h.auth_secret,
            _ => "",
        }
    }
}
