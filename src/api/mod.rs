//! The custom resources as users write them: `apps.nvidia.com/v1alpha1` NIMService, NIMCache and
//! NIMPipeline, mirroring the operator's Go types field by field (JSON names, optionality).
//!
//! Embedded Kubernetes types (env vars, probes, affinity, Ingress specs, HPA metrics) are the
//! `k8s-openapi` types, so rendering can pass them through unchanged. Every struct of our own
//! rejects unknown fields, so a typo or a block at the wrong level is an error, not a no-op.
//! Defaults are not applied here; see [`crate::defaults`].

pub mod common;
pub mod constraints;
pub mod embedded;
pub mod nimcache;
pub mod nimpipeline;
pub mod nimservice;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

pub use common::*;
pub use nimcache::*;
pub use nimpipeline::*;
pub use nimservice::*;

/// The API group and version of every NIM custom resource.
pub const API_VERSION: &str = "apps.nvidia.com/v1alpha1";

/// The envelope every custom resource shares: type meta, object meta, spec and (optional) status.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Object<Spec, Status> {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    pub spec: Spec,
    pub status: Option<Status>,
}

impl<Spec, Status> Object<Spec, Status> {
    /// `metadata.name`, or "" when absent (reported by the checks).
    pub fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or_default()
    }

    /// `metadata.namespace`, or "" when absent (filled in by defaulting).
    pub fn namespace(&self) -> &str {
        self.metadata.namespace.as_deref().unwrap_or_default()
    }
}

pub type NimService = Object<NimServiceSpec, serde::de::IgnoredAny>;
pub type NimCache = Object<NimCacheSpec, NimCacheStatus>;
pub type NimPipeline = Object<NimPipelineSpec, serde::de::IgnoredAny>;

/// The kinds nimc compiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    NimService,
    NimCache,
    NimPipeline,
}

impl Kind {
    /// The kind for an `apiVersion`/`kind` pair, or `None` for documents nimc ignores.
    pub fn of(api_version: &str, kind: &str) -> Option<Kind> {
        if api_version != API_VERSION {
            return None;
        }
        match kind {
            "NIMService" => Some(Kind::NimService),
            "NIMCache" => Some(Kind::NimCache),
            "NIMPipeline" => Some(Kind::NimPipeline),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::NimService => "NIMService",
            Kind::NimCache => "NIMCache",
            Kind::NimPipeline => "NIMPipeline",
        }
    }
}
