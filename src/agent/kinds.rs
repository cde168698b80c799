//! The kinds the agent watches: the three NIM custom resources, every kind nimc renders
//! (listed through nimc's `app.kubernetes.io/managed-by` label, so the caches hold only
//! nimc's objects), and the cluster-made objects a status reads (ResourceClaims made from
//! nimc's templates, ComputeDomains). This table is also the agent's RBAC: `deploy/agent/`
//! grants get/list/watch on exactly these resources (a test keeps the two in step).

/// How the agent lists a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Every object (the custom resources, and objects nimc does not create).
    All,
    /// Only objects carrying nimc's `app.kubernetes.io/managed-by` label.
    ManagedByNimc,
}

/// One watched kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub selection: Selection,
    /// Served only where an add-on is installed: a kind the cluster does not serve is skipped
    /// (with a log line) instead of failing the agent.
    pub optional: bool,
}

impl Kind {
    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        match self.group {
            "" => self.version.to_string(),
            g => format!("{g}/{}", self.version),
        }
    }

    /// Whether this is one of the NIM custom resources whose status the agent writes.
    pub fn is_nim(&self) -> bool {
        self.group == "apps.nvidia.com"
    }
}

const fn kind(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    selection: Selection,
    optional: bool,
) -> Kind {
    Kind {
        group,
        version,
        kind,
        plural,
        selection,
        optional,
    }
}

use Selection::{All, ManagedByNimc as Nimc};

/// Every kind the agent watches. The NIM resources come first: the agent checks them for the
/// NVIDIA operator's finalizers before anything else.
pub const WATCHED: &[Kind] = &[
    kind(
        "apps.nvidia.com",
        "v1alpha1",
        "NIMCache",
        "nimcaches",
        All,
        false,
    ),
    kind(
        "apps.nvidia.com",
        "v1alpha1",
        "NIMService",
        "nimservices",
        All,
        false,
    ),
    kind(
        "apps.nvidia.com",
        "v1alpha1",
        "NIMPipeline",
        "nimpipelines",
        All,
        false,
    ),
    kind("", "v1", "ServiceAccount", "serviceaccounts", Nimc, false),
    kind(
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        Nimc,
        false,
    ),
    kind(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        Nimc,
        false,
    ),
    kind("", "v1", "ConfigMap", "configmaps", Nimc, false),
    kind(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        Nimc,
        false,
    ),
    kind("", "v1", "Service", "services", Nimc, false),
    kind("batch", "v1", "Job", "jobs", Nimc, false),
    kind("apps", "v1", "Deployment", "deployments", Nimc, false),
    kind(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        Nimc,
        false,
    ),
    kind(
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        Nimc,
        false,
    ),
    kind(
        "resource.k8s.io",
        "v1",
        "ResourceClaimTemplate",
        "resourceclaimtemplates",
        Nimc,
        true,
    ),
    kind(
        "resource.k8s.io",
        "v1",
        "ResourceClaim",
        "resourceclaims",
        All,
        true,
    ),
    kind(
        "resource.nvidia.com",
        "v1beta1",
        "ComputeDomain",
        "computedomains",
        All,
        true,
    ),
    kind(
        "leaderworkerset.x-k8s.io",
        "v1",
        "LeaderWorkerSet",
        "leaderworkersets",
        Nimc,
        true,
    ),
    kind(
        "serving.kserve.io",
        "v1beta1",
        "InferenceService",
        "inferenceservices",
        Nimc,
        true,
    ),
    kind(
        "inference.networking.k8s.io",
        "v1",
        "InferencePool",
        "inferencepools",
        Nimc,
        true,
    ),
    kind(
        "gateway.networking.k8s.io",
        "v1",
        "HTTPRoute",
        "httproutes",
        Nimc,
        true,
    ),
    kind(
        "gateway.networking.k8s.io",
        "v1",
        "GRPCRoute",
        "grpcroutes",
        Nimc,
        true,
    ),
    kind(
        "monitoring.coreos.com",
        "v1",
        "ServiceMonitor",
        "servicemonitors",
        Nimc,
        true,
    ),
];

/// The watched kind of `kind`, if the agent watches it.
pub fn find(kind: &str) -> Option<&'static Kind> {
    WATCHED.iter().find(|k| k.kind == kind)
}
