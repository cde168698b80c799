//! `NIMPipeline`: a list of NIMService specs deployed together.

use schemars::JsonSchema;
use serde::Deserialize;

use super::nimservice::NimServiceSpec;

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NimPipelineSpec {
    #[serde(default)]
    pub services: Vec<PipelineService>,
}

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PipelineService {
    #[serde(default)]
    pub name: String,
    /// Must be explicitly `true`; absent means disabled.
    pub enabled: Option<bool>,
    #[serde(default)]
    pub spec: NimServiceSpec,
    #[serde(default)]
    pub dependencies: Vec<ServiceDependency>,
}

#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceDependency {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub port: i32,
    pub env_name: Option<String>,
    pub env_value: Option<String>,
}
