//! Cluster facts: what the operator reads from the cluster rather than from the CR, given to nimc
//! as data (`nimc.yaml` at the repository root, or `--facts FILE`). Every field has a default that
//! matches the conditions the conformance corpus was produced under: Kubernetes v1.34.0, a plain
//! Kubernetes orchestrator, legacy image protocol, operator version "".

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::diagnostic::Diagnostic;
use crate::source::SourceFile;
use crate::yaml::{self, Limits, Span, de::from_node};

#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Facts {
    /// The API server's `gitVersion`; DRA needs v1.34.0 or newer.
    pub kubernetes_version: String,
    /// The orchestrator the operator detects from node labels. Only TKGS (seccomp profile) and
    /// OpenShift (the cache Job's SCC annotation) change the output.
    pub orchestrator: Orchestrator,
    /// The value of the `app.kubernetes.io/operator-version` label (the operator's
    /// `OPERATOR_VERSION`, empty in a stock install).
    pub operator_version: String,
    /// The value of the `app.kubernetes.io/managed-by` label on every object (the operator
    /// writes `k8s-nim-operator`).
    pub managed_by: String,
    /// Namespace for custom resources that have none.
    pub default_namespace: String,
    /// KServe's default deployment mode (the `deploy` key of the `inferenceservice-config`
    /// ConfigMap): Standard, RawDeployment, Knative, Serverless or ModelMesh.
    pub kserve_deployment_mode: String,
    /// Existing ComputeDomains (`namespace/name`) a multi-node NIMService uses, with the name of
    /// their channel's ResourceClaimTemplate (`spec.channel.resourceClaimTemplate.name`).
    pub compute_domains: BTreeMap<String, String>,
    /// Render option: annotate objects with Argo CD sync waves derived from NIMPipeline
    /// dependencies (also `--sync-waves`).
    pub sync_waves: bool,
    /// Per image reference (`repository:tag`): what the operator reads from the registry.
    pub images: BTreeMap<String, ImageFacts>,
    /// The APIs the cluster serves, as Argo CD passes them in `KUBE_API_VERSIONS`:
    /// `group/version` and `group/version/Kind` entries. Unset: every API is assumed. When set,
    /// a ServiceMonitor without `monitoring.coreos.com/v1` is left out (a warning) and any
    /// other missing API is an error, instead of a failed sync.
    pub api_versions: Option<Vec<String>>,
}

impl Default for Facts {
    fn default() -> Self {
        Facts {
            kubernetes_version: "v1.34.0".into(),
            orchestrator: Orchestrator::Kubernetes,
            operator_version: String::new(),
            managed_by: "nimc".into(),
            default_namespace: "default".into(),
            kserve_deployment_mode: "Standard".into(),
            compute_domains: BTreeMap::new(),
            sync_waves: false,
            images: BTreeMap::new(),
            api_versions: None,
        }
    }
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Orchestrator {
    #[default]
    Kubernetes,
    OpenShift,
    TKGS,
    GKE,
    EKS,
    AKS,
    OKE,
    Ezmeral,
    RKE,
}

#[derive(Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ImageFacts {
    /// The OCI label `com.nvidia.nim.model_download_protocol`: `native-v1` or `legacy`.
    pub model_download_protocol: Option<String>,
    /// Whether the image ships a model manifest (`model_manifest.yaml`). A Hugging Face or
    /// DataStore model puller without one makes the operator choose `download-to-cache`.
    pub model_manifest: Option<bool>,
}

impl Facts {
    /// True when the image's registry label says `native-v1`.
    pub fn is_native_image(&self, image: &str) -> bool {
        self.images
            .get(image)
            .and_then(|i| i.model_download_protocol.as_deref())
            == Some("native-v1")
    }

    /// True when the image is known to ship no model manifest.
    pub fn lacks_manifest(&self, image: &str) -> bool {
        self.images.get(image).and_then(|i| i.model_manifest) == Some(false)
    }

    /// True when the cluster serves `kind` in `api_version` (always, when `apiVersions` is
    /// unset). With `group/version/Kind` entries for the group/version, the kind must be listed;
    /// a bare `group/version` entry serves every kind of it.
    pub fn serves(&self, api_version: &str, kind: &str) -> bool {
        let Some(list) = &self.api_versions else {
            return true;
        };
        let prefix = format!("{api_version}/");
        let kinds_listed = list.iter().any(|e| e.starts_with(&prefix));
        if kinds_listed {
            list.iter().any(|e| e.strip_prefix(&prefix) == Some(kind))
        } else {
            list.iter().any(|e| e == api_version)
        }
    }

    /// `kubernetesVersion >= v1.34.0`, compared as the operator does (a pre-release of 1.34.0
    /// is older).
    pub fn supports_dra(&self) -> bool {
        version_at_least(&self.kubernetes_version, (1, 34, 0))
    }
}

fn version_at_least(v: &str, min: (u64, u64, u64)) -> bool {
    let v = v.trim().trim_start_matches('v');
    let (core, pre) = match v.find(['-', '+']) {
        Some(i) => (&v[..i], v[i..].starts_with('-')),
        None => (v, false),
    };
    let mut it = core.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    let got = (
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
    );
    got > min || (got == min && !pre)
}

/// Parse a facts file. The file is located data: errors point at the line.
pub fn parse(file: &SourceFile, file_index: usize) -> Result<Facts, Diagnostic> {
    let docs = yaml::parse_documents(&file.text, Limits::default()).map_err(|e| {
        Diagnostic::new("NIMC014", e.message).at(
            file_index,
            Span {
                start: e.pos,
                end: e.pos,
            },
        )
    })?;
    let Some(node) = docs.into_iter().find(|n| !n.is_null()) else {
        return Ok(Facts::default());
    };
    from_node::<Facts>(&node).map_err(|e| {
        let mut d = Diagnostic::new("NIMC014", format!("facts {}: {}", e.pointer(), e.message))
            .at(file_index, e.span.unwrap_or(node.span));
        d.help = Some(
            e.help
                .unwrap_or_else(|| "see the README section on the facts file".into()),
        );
        d
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dra_version_gate() {
        let mut f = Facts::default();
        assert!(f.supports_dra());
        f.kubernetes_version = "v1.34.0-gke.1".into();
        assert!(!f.supports_dra());
        f.kubernetes_version = "v1.33.5".into();
        assert!(!f.supports_dra());
        f.kubernetes_version = "v1.35.1+k3s1".into();
        assert!(f.supports_dra());
    }
}
