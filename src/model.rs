//! The resolved model: every NIMService and NIMCache with its defaults applied, its namespace
//! filled in, and every cross-resource and cluster-derived decision already taken (which model
//! store, which layout, which profiles, how many GPUs). Rendering reads only this.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::api::{NimCacheSpec, NimServiceSpec};
use crate::load::Origin;
use crate::profiles::Manifest;

#[derive(Clone, Debug, Default)]
pub struct Model {
    pub services: Vec<Service>,
    pub caches: Vec<Cache>,
}

/// A standalone, single-node NIMService ready to render.
#[derive(Clone, Debug)]
pub struct Service {
    pub origin: Origin,
    pub name: String,
    pub namespace: String,
    pub spec: NimServiceSpec,
    pub store: Store,
    /// The model-store layout: native (`/model` and `/opt/cache`) or legacy (`/model-store`).
    pub native: bool,
    /// The NIMCache this service mounts, if any.
    pub cache: Option<CacheLink>,
    /// `nvidia.com/gpu` to set in requests and limits, from the NIMCache profile.
    pub gpus: Option<String>,
    /// Where the standard container env carries NGC_API_KEY (the operator release decides).
    pub ngc_api_key: NgcApiKey,
    /// ServiceLabels: the standard labels, then `spec.labels` (most objects carry these).
    pub labels: BTreeMap<String, String>,
    /// NIMServiceAnnotations: `openshift.io/required-scc`, then `spec.annotations`.
    pub annotations: BTreeMap<String, String>,
    /// Set on the KServe platform.
    pub kserve: Option<KServe>,
    /// Set for a multi-node service (a LeaderWorkerSet instead of the Deployment).
    pub multinode: Option<MultiNode>,
    /// The `metadata.annotations` of the NIMService resource itself (the MPI ConfigMaps carry
    /// them, as upstream).
    pub object_annotations: BTreeMap<String, String>,
    /// The Argo CD sync wave of the service's objects (`syncWaves`): one more than its deepest
    /// pipeline dependency, starting at 1.
    pub wave: Option<i32>,
}

/// A multi-node NIMService: pipeline parallelism above 1 with the LWS backend.
#[derive(Clone, Debug, PartialEq)]
pub struct MultiNode {
    /// Tensor parallelism: GPUs per node.
    pub tensor: u32,
    /// Pipeline parallelism: nodes per group.
    pub pipeline: u32,
    pub mpi_start_timeout: i32,
    /// Set in Ray mode; MPI mode otherwise.
    pub ray_port: Option<i32>,
    /// The Secret holding the MPI SSH key (supplied by the user; never rendered).
    pub ssh_secret: String,
    pub compute_domain: Option<ComputeDomain>,
}

/// The NVLink ComputeDomain of a multi-node service.
#[derive(Clone, Debug, PartialEq)]
pub struct ComputeDomain {
    /// True when nimc renders the ComputeDomain (named after the service).
    pub create: bool,
    /// The ResourceClaimTemplate its channel uses (created by the NVIDIA DRA driver).
    pub template: String,
}

/// The KServe deployment mode the operator resolves for a NIMService.
#[derive(Clone, Debug, PartialEq)]
pub struct KServe {
    /// `Standard`, `RawDeployment`, `Knative`, `Serverless` or `ModelMesh`.
    pub mode: String,
    /// Standard or RawDeployment (everything else takes the Knative branches).
    pub standard: bool,
}

impl KServe {
    /// The mode from the NIMService's `serving.kserve.io/deploymentMode` annotation, else the
    /// cluster default from the facts.
    pub fn resolve(annotations: &BTreeMap<String, String>, default_mode: &str) -> KServe {
        let mode = annotations
            .get("serving.kserve.io/deploymentMode")
            .filter(|m| !m.is_empty())
            .cloned()
            .unwrap_or_else(|| default_mode.to_string());
        let standard = matches!(mode.as_str(), "Standard" | "RawDeployment");
        KServe { mode, standard }
    }
}

/// Where the model lives.
#[derive(Clone, Debug, PartialEq)]
pub enum Store {
    /// A PVC: a NIMCache's, one the NIMService creates, or an existing one.
    Pvc {
        claim_name: String,
        sub_path: String,
        /// True when the NIMService itself creates the PVC.
        create: bool,
    },
    EmptyDir {
        size_limit: Option<String>,
    },
    HostPath(String),
}

/// What a NIMService takes from the NIMCache it mounts.
#[derive(Clone, Debug, PartialEq)]
pub struct CacheLink {
    pub name: String,
    pub profile: String,
    /// NGC with `modelEndpoint`, or Hugging Face hub.
    pub universal: bool,
    /// Hugging Face hub or DataStore.
    pub hf_model: bool,
    /// `hf://<namespace>/<model>`, or "" for NGC.
    pub hf_uri: String,
}

/// How the cache was populated, as the NIMCache status records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheType {
    /// The image carries a model manifest (the usual case).
    Manifest,
    /// The image has no model manifest (`status.type: model-free`).
    ModelFree,
    /// The image downloads natively (`status.type: native`).
    Native,
}

/// A NIMCache ready to render.
#[derive(Clone, Debug)]
pub struct Cache {
    pub origin: Origin,
    pub name: String,
    pub namespace: String,
    pub spec: NimCacheSpec,
    pub claim_name: String,
    pub cache_type: CacheType,
    /// Whether the download Job is created: the operator creates it only while caching is not
    /// complete (the input's `status.state` is not `Ready`).
    pub creates_job: bool,
    /// The profiles the download Job fetches.
    pub profiles: Profiles,
    /// The model manifest the cluster would give the operator for this cache (the facts'
    /// `modelManifests`, or its `<cache>-manifest` ConfigMap), when known.
    pub manifest: Option<Arc<Manifest>>,
    /// The sync wave of the PVC and Job: the wave before the first service that mounts it.
    pub wave: Option<i32>,
}

/// Which model profiles a cache Job downloads (an NGC source without `modelEndpoint` and a
/// manifest-carrying image; every other download names no profiles).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Profiles {
    /// The Job downloads no named profiles (Hugging Face, DataStore, `modelEndpoint`, native).
    NotApplicable,
    /// The ids the Job downloads: listed in the spec, pinned by the annotation, or selected from
    /// the manifest (sorted). `["all"]` means every one.
    Listed(Vec<String>),
    /// Not knowable from the input (`nimc status` only; rendering refuses it with NIMC010).
    Unknown,
    /// The operator cannot build the Job and fails the reconcile with this message: its
    /// selection is empty, or the annotation is not a JSON list (`nimc status` only; rendering
    /// refuses it with NIMC036 or NIMC010).
    OperatorFails(String),
}

/// Where the standard env of a NIMService's containers carries NGC_API_KEY (a reference to
/// `spec.authSecret`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NgcApiKey {
    /// No authSecret: not injected.
    Absent,
    /// Right after NIM_CACHE_PATH (NIM Operator 3.1.2).
    Second,
    /// After NIM_LOG_LEVEL, before the gRPC and metrics ports (since PR #910).
    AfterLogLevel,
}
