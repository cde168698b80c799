//! Types shared by NIMService and NIMCache: images, containers, proxy, PVC settings.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::EnvVar;
use schemars::JsonSchema;
use serde::Deserialize;

/// A container image reference, always joined as `repository:tag` by the operator.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Image {
    #[serde(default)]
    pub repository: String,
    #[serde(default)]
    pub tag: String,
    pub pull_policy: Option<String>,
    #[serde(default)]
    pub pull_secrets: Vec<String>,
}

impl Image {
    /// `repository:tag`, exactly as the operator joins them.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.repository, self.tag)
    }
}

/// An init or sidecar container (`NIMContainerSpec`).
#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NimContainerSpec {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub image: Image,
    #[serde(default)]
    pub command: Vec<String>,
    /// `None` and `[]` differ for the EPP container (defaults vs. no args).
    pub args: Option<Vec<String>>,
    #[serde(default)]
    pub env: Vec<EnvVar>,
    pub working_dir: Option<String>,
}

/// Proxy settings and an optional ConfigMap of CA certificates.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProxySpec {
    #[serde(default)]
    pub http_proxy: String,
    #[serde(default)]
    pub https_proxy: String,
    #[serde(default)]
    pub no_proxy: String,
    #[serde(default)]
    pub cert_config_map: String,
}

/// A PVC to create or use.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PersistentVolumeClaimSpec {
    pub create: Option<bool>,
    pub name: Option<String>,
    pub storage_class: Option<String>,
    pub size: Option<String>,
    pub volume_access_mode: Option<String>,
    pub sub_path: Option<String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl PersistentVolumeClaimSpec {
    pub fn creates(&self) -> bool {
        self.create == Some(true)
    }

    /// The claim name: `name`, or `<owner>-pvc`.
    pub fn claim_name(&self, owner: &str) -> String {
        match self.name.as_deref() {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => format!("{owner}-pvc"),
        }
    }

    pub fn sub_path(&self) -> &str {
        self.sub_path.as_deref().unwrap_or_default()
    }

    /// True when any field is set (the webhook's notion of "pvc given").
    pub fn is_set(&self) -> bool {
        *self != PersistentVolumeClaimSpec::default()
    }
}
