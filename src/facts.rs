//! Cluster facts: what the operator reads from the cluster rather than from the CR, given to nimc
//! as data (`nimc.yaml` at the repository root, or `--facts FILE`). Every field has a default that
//! matches the conditions the conformance corpus was produced under: Kubernetes v1.34.0, a plain
//! Kubernetes orchestrator, legacy image protocol, operator version "".

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;

use crate::diagnostic::Diagnostic;
use crate::operator::OperatorVersion;
use crate::profiles::Manifest;
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
    /// The NIM Operator release whose behaviour nimc reproduces (see `operator.rs`); it also
    /// gives the `app.kubernetes.io/operator-version` label its value.
    pub operator_version: OperatorVersion,
    /// Overrides the `app.kubernetes.io/operator-version` label, for an operator whose
    /// Deployment was given an `OPERATOR_VERSION` by hand (a stock install sets none).
    pub operator_version_label: Option<String>,
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
    /// Render option: the NIMCache Job as the operator makes it (`operator`, the default), or
    /// in a form that suits GitOps (`gitops`): a name derived from its content, no
    /// `ttlSecondsAfterFinished`, and annotations that keep a finished Job from being re-run.
    pub cache_jobs: CacheJobs,
    /// Render option for Flux's post-build variable substitution, which replaces `${...}` in
    /// every applied object (shell snippets in nimc's output included): `unchanged` (the
    /// default), `escape` (`${` becomes `$${`, which Flux turns back into `${`), or `disable`
    /// (objects holding `${` get `kustomize.toolkit.fluxcd.io/substitute: disabled`).
    pub flux_substitution: FluxSubstitution,
    /// Overlays applied to the rendered objects, in order (also `--patch FILE`).
    pub patches: Vec<Patch>,
    /// Model manifests, by model puller image as written in the NIMCache: the file (relative
    /// to the facts file) holding the image's `/etc/nim/config/model_manifest.yaml`, from which
    /// the operator selects the profiles of a NIMCache that lists none.
    pub model_manifests: BTreeMap<String, String>,
    /// The nodes' `nvidia.com/gpu.product` label values: the GPUs profile selection matches
    /// when a NIMCache's `model.gpus` is empty.
    pub gpu_products: Vec<String>,
    /// The manifests of `model_manifests`, read and parsed at the edge, by image.
    #[serde(skip)]
    pub manifests: BTreeMap<String, Arc<Manifest>>,
    /// Where each `model_manifests` entry was written: (file index, span), by image.
    #[serde(skip)]
    pub manifest_at: BTreeMap<String, (usize, Span)>,
    /// Manifests the cluster holds for individual NIMCaches (the operator's `<cache>-manifest`
    /// ConfigMaps among observed objects), by (namespace, NIMCache name).
    #[serde(skip)]
    pub cache_manifests: BTreeMap<(String, String), Arc<Manifest>>,
}

/// An overlay on rendered objects: an RFC 6902 JSON patch or an RFC 7396 merge patch, applied
/// to every object its target selects.
#[derive(Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Patch {
    #[serde(default)]
    pub target: PatchTarget,
    /// RFC 6902 operations (`op`, `path`, `value`, `from`).
    pub json_patch: Option<serde_json::Value>,
    /// An RFC 7396 merge patch (`null` deletes a field).
    pub merge_patch: Option<serde_json::Value>,
    /// Where the patch was written: (file index in the run's sources, span).
    #[serde(skip)]
    pub at: Option<(usize, Span)>,
}

/// Which rendered objects a patch applies to: every given field must match.
#[derive(Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PatchTarget {
    pub kind: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    /// Labels the object must carry (all of them, with these values).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum CacheJobs {
    #[default]
    Operator,
    Gitops,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum FluxSubstitution {
    #[default]
    Unchanged,
    Escape,
    Disable,
}

impl Default for Facts {
    fn default() -> Self {
        Facts {
            kubernetes_version: "v1.34.0".into(),
            orchestrator: Orchestrator::Kubernetes,
            operator_version: OperatorVersion::default(),
            operator_version_label: None,
            managed_by: "nimc".into(),
            default_namespace: "default".into(),
            kserve_deployment_mode: "Standard".into(),
            compute_domains: BTreeMap::new(),
            sync_waves: false,
            images: BTreeMap::new(),
            api_versions: None,
            cache_jobs: CacheJobs::Operator,
            flux_substitution: FluxSubstitution::Unchanged,
            patches: Vec::new(),
            model_manifests: BTreeMap::new(),
            gpu_products: Vec::new(),
            manifests: BTreeMap::new(),
            manifest_at: BTreeMap::new(),
            cache_manifests: BTreeMap::new(),
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
    /// The value of the `app.kubernetes.io/operator-version` label.
    pub fn operator_version_label(&self) -> &str {
        self.operator_version_label
            .as_deref()
            .unwrap_or(self.operator_version.behaviour().version_label)
    }

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
    let docs = parse_yaml(file, file_index)?;
    let Some(node) = docs.into_iter().find(|n| !n.is_null()) else {
        return Ok(Facts::default());
    };
    let mut facts: Facts = typed(&node, file_index, "facts")?;
    for (i, p) in facts.patches.iter_mut().enumerate() {
        p.at = Some((file_index, node.lookup(&format!("/patches/{i}"))));
        check_patch(p, file_index)?;
    }
    for image in facts.model_manifests.keys() {
        let pointer = format!("/modelManifests/{}", yaml::escape_segment(image));
        let span = node
            .at(&pointer)
            .map_or_else(|| node.lookup(&pointer), |n| n.span);
        facts.manifest_at.insert(image.clone(), (file_index, span));
    }
    Ok(facts)
}

/// Parse a `--patch` file: a YAML list of patches (the entries of `patches:` in the facts).
pub fn parse_patches(file: &SourceFile, file_index: usize) -> Result<Vec<Patch>, Diagnostic> {
    let docs = parse_yaml(file, file_index)?;
    let Some(node) = docs.into_iter().find(|n| !n.is_null()) else {
        return Ok(Vec::new());
    };
    let mut patches: Vec<Patch> = typed(&node, file_index, "patch file")?;
    for (i, p) in patches.iter_mut().enumerate() {
        p.at = Some((file_index, node.lookup(&format!("/{i}"))));
        check_patch(p, file_index)?;
    }
    Ok(patches)
}

fn parse_yaml(file: &SourceFile, file_index: usize) -> Result<Vec<yaml::Node<'_>>, Diagnostic> {
    yaml::parse_documents(&file.text, Limits::default()).map_err(|e| {
        Diagnostic::new("NIMC014", e.message)
            .at(
                file_index,
                Span {
                    start: e.pos,
                    end: e.pos,
                },
            )
            .help("fix the YAML syntax of the file")
    })
}

fn typed<'de, T: Deserialize<'de>>(
    node: &'de yaml::Node<'de>,
    file_index: usize,
    what: &str,
) -> Result<T, Diagnostic> {
    from_node::<T>(node).map_err(|e| {
        let mut d = Diagnostic::new("NIMC014", format!("{what} {}: {}", e.pointer(), e.message))
            .at(file_index, e.span.unwrap_or(node.span));
        d.help = Some(
            e.help
                .unwrap_or_else(|| "see the README section on the facts file".into()),
        );
        d
    })
}

/// A patch has exactly one of `jsonPatch` (a list) and `mergePatch`.
fn check_patch(p: &Patch, file_index: usize) -> Result<(), Diagnostic> {
    let problem = match (&p.json_patch, &p.merge_patch) {
        (Some(j), None) if !j.is_array() => "jsonPatch must be a list of operations",
        (Some(_), None) | (None, Some(_)) => return Ok(()),
        _ => "a patch needs exactly one of jsonPatch and mergePatch",
    };
    let span = p.at.map(|(_, s)| s).unwrap_or_default();
    Err(Diagnostic::new("NIMC014", problem)
        .at(file_index, span)
        .help("see the README section on patches"))
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
