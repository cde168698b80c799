//! Rendering: the resolved [`Model`] to Kubernetes objects. Pure and infallible: everything that
//! could go wrong was found by `check` and `resolve`. Objects are typed (`k8s-openapi` for core
//! kinds, the structs in [`crd`] for third-party kinds), never text templates.
//!
//! [`render`] lists what each custom resource produces, in the operator's order; the submodules
//! build one family of objects each.

pub mod cache;
pub mod crd;
pub mod dra;
pub mod epp;
pub mod kserve;
pub mod meta;
pub mod multinode;
pub mod network;
pub mod rbac;
pub mod scaling;
pub mod storage;
pub mod workload;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::api::resource::v1::ResourceClaimTemplate;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use rayon::prelude::*;
use serde::Serialize;

use crate::facts::{Facts, FluxSubstitution};
use crate::load::Origin;
use crate::model::{self, Model};

/// A rendered object, already serialised, with its identity and the custom resource it came
/// from (`None` for objects shared by all NIMCaches of a namespace). Serialising right after
/// building keeps memory flat: the typed object is dropped while it is still in cache.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    pub origin: Option<Origin>,
    pub rank: u8,
    pub api_version: &'static str,
    pub kind: &'static str,
    /// The Argo CD sync wave, when sync waves are on.
    pub wave: Option<i32>,
    pub namespace: String,
    pub name: String,
    /// The object as one YAML document (no `---`).
    pub yaml: String,
    /// The object as JSON, kept only when the caller reads its fields (the status drift
    /// check), so that it need not parse `yaml` back.
    pub json: Option<serde_json::Value>,
    /// What the API server would refuse in the object (located in the resources later).
    pub problems: Vec<crate::admission::Violation>,
}

impl Rendered {
    pub fn new(origin: Option<Origin>, object: &Object) -> Rendered {
        Rendered {
            origin,
            rank: object.rank(),
            api_version: object.api_version(),
            kind: object.kind(),
            wave: object
                .metadata()
                .annotations
                .as_ref()
                .and_then(|a| a.get(SYNC_WAVE))
                .and_then(|w| w.parse().ok()),
            namespace: object.namespace().to_string(),
            name: object.name().to_string(),
            yaml: crate::yaml::emit::to_string(object),
            json: None,
            problems: Vec::new(),
        }
    }

    /// The object's fields: its JSON form when kept, else its YAML read back.
    pub fn value(&self) -> Option<std::borrow::Cow<'_, serde_json::Value>> {
        use std::borrow::Cow;
        if let Some(v) = &self.json {
            return Some(Cow::Borrowed(v));
        }
        let docs = crate::yaml::parse_documents(&self.yaml, crate::yaml::Limits::default()).ok()?;
        crate::yaml::de::from_node(docs.first()?)
            .ok()
            .map(Cow::Owned)
    }

    /// The install order: kind rank, namespace, name (then origin, for a total order).
    pub fn order_key(&self) -> (u8, &str, &str, Option<Origin>) {
        (self.rank, &self.namespace, &self.name, self.origin)
    }
}

/// The Argo CD annotation that orders a sync (`--sync-waves`).
pub const SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";

/// Apply the same expression to the payload of every `Object` variant.
macro_rules! each_variant {
    ($value:expr, $o:ident => $e:expr) => {
        match $value {
            Object::ServiceAccount($o) => $e,
            Object::Role($o) => $e,
            Object::RoleBinding($o) => $e,
            Object::ConfigMap($o) => $e,
            Object::PersistentVolumeClaim($o) => $e,
            Object::ResourceClaimTemplate($o) => $e,
            Object::ComputeDomain($o) => $e,
            Object::Service($o) => $e,
            Object::Job($o) => $e,
            Object::Deployment($o) => $e,
            Object::LeaderWorkerSet($o) => $e,
            Object::InferenceService($o) => $e,
            Object::InferencePool($o) => $e,
            Object::HorizontalPodAutoscaler($o) => $e,
            Object::Ingress($o) => $e,
            Object::HttpRoute($o) => $e,
            Object::GrpcRoute($o) => $e,
            Object::ServiceMonitor($o) => $e,
        }
    };
}

/// One rendered Kubernetes object.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Object {
    ServiceAccount(ServiceAccount),
    Role(Role),
    RoleBinding(RoleBinding),
    ConfigMap(ConfigMap),
    PersistentVolumeClaim(PersistentVolumeClaim),
    ResourceClaimTemplate(ResourceClaimTemplate),
    ComputeDomain(crd::ComputeDomain),
    Service(Service),
    Job(Box<Job>),
    Deployment(Box<Deployment>),
    LeaderWorkerSet(Box<crd::LeaderWorkerSet>),
    InferenceService(Box<crd::InferenceService>),
    InferencePool(crd::InferencePool),
    HorizontalPodAutoscaler(HorizontalPodAutoscaler),
    Ingress(Ingress),
    HttpRoute(crd::HttpRoute),
    GrpcRoute(crd::GrpcRoute),
    ServiceMonitor(crd::ServiceMonitor),
}

impl Object {
    /// The object's `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Object::ServiceAccount(_) => "ServiceAccount",
            Object::Role(_) => "Role",
            Object::RoleBinding(_) => "RoleBinding",
            Object::ConfigMap(_) => "ConfigMap",
            Object::PersistentVolumeClaim(_) => "PersistentVolumeClaim",
            Object::ResourceClaimTemplate(_) => "ResourceClaimTemplate",
            Object::ComputeDomain(_) => "ComputeDomain",
            Object::Service(_) => "Service",
            Object::Job(_) => "Job",
            Object::Deployment(_) => "Deployment",
            Object::LeaderWorkerSet(_) => "LeaderWorkerSet",
            Object::InferenceService(_) => "InferenceService",
            Object::InferencePool(_) => "InferencePool",
            Object::HorizontalPodAutoscaler(_) => "HorizontalPodAutoscaler",
            Object::Ingress(_) => "Ingress",
            Object::HttpRoute(_) => "HTTPRoute",
            Object::GrpcRoute(_) => "GRPCRoute",
            Object::ServiceMonitor(_) => "ServiceMonitor",
        }
    }

    /// The object's `apiVersion` (group/version).
    pub fn api_version(&self) -> &'static str {
        use k8s_openapi::Resource;
        match self {
            Object::ServiceAccount(_) => ServiceAccount::API_VERSION,
            Object::Role(_) => Role::API_VERSION,
            Object::RoleBinding(_) => RoleBinding::API_VERSION,
            Object::ConfigMap(_) => ConfigMap::API_VERSION,
            Object::PersistentVolumeClaim(_) => PersistentVolumeClaim::API_VERSION,
            Object::ResourceClaimTemplate(_) => ResourceClaimTemplate::API_VERSION,
            Object::Service(_) => Service::API_VERSION,
            Object::Job(_) => Job::API_VERSION,
            Object::Deployment(_) => Deployment::API_VERSION,
            Object::HorizontalPodAutoscaler(_) => HorizontalPodAutoscaler::API_VERSION,
            Object::Ingress(_) => Ingress::API_VERSION,
            Object::ComputeDomain(o) => o.api_version,
            Object::LeaderWorkerSet(o) => o.api_version,
            Object::InferenceService(o) => o.api_version,
            Object::InferencePool(o) => o.api_version,
            Object::HttpRoute(o) => o.api_version,
            Object::GrpcRoute(o) => o.api_version,
            Object::ServiceMonitor(o) => o.api_version,
        }
    }

    /// The install rank: objects are emitted in rank order (dependencies first), then by
    /// namespace and name. The rank is the position of the variant above.
    pub fn rank(&self) -> u8 {
        match self {
            Object::ServiceAccount(_) => 0,
            Object::Role(_) => 1,
            Object::RoleBinding(_) => 2,
            Object::ConfigMap(_) => 3,
            Object::PersistentVolumeClaim(_) => 4,
            Object::ResourceClaimTemplate(_) => 5,
            Object::ComputeDomain(_) => 6,
            Object::Service(_) => 7,
            Object::Job(_) => 8,
            Object::Deployment(_) => 9,
            Object::LeaderWorkerSet(_) => 10,
            Object::InferenceService(_) => 11,
            Object::InferencePool(_) => 12,
            Object::HorizontalPodAutoscaler(_) => 13,
            Object::Ingress(_) => 14,
            Object::HttpRoute(_) => 15,
            Object::GrpcRoute(_) => 16,
            Object::ServiceMonitor(_) => 17,
        }
    }

    pub fn metadata(&self) -> &ObjectMeta {
        each_variant!(self, o => &o.metadata)
    }

    pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
        each_variant!(self, o => &mut o.metadata)
    }

    /// Set the Argo CD sync wave (`argocd.argoproj.io/sync-wave`).
    pub fn set_sync_wave(&mut self, wave: i32) {
        self.metadata_mut()
            .annotations
            .get_or_insert_with(Default::default)
            .insert(SYNC_WAVE.into(), wave.to_string());
    }

    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or_default()
    }

    pub fn namespace(&self) -> &str {
        self.metadata().namespace.as_deref().unwrap_or_default()
    }
}

/// Render every object of the model, sorted in install order. The model is consumed: each
/// service is dropped as soon as its objects are serialised, which keeps memory flat. With
/// `json`, each object also keeps its JSON form ([`Rendered::json`]).
pub fn render(model: Model, facts: &Facts, json: bool) -> Vec<Rendered> {
    let mut objects: Vec<Rendered> = model
        .services
        .into_par_iter()
        .flat_map_iter(|s| {
            let origin = Some(s.origin);
            let wave = s.wave;
            service(&s, facts)
                .into_iter()
                .map(move |o| finish(origin, o, wave, facts, json))
        })
        .collect();
    objects.par_extend(model.caches.par_iter().flat_map_iter(|c| {
        cache::objects(c, facts)
            .into_iter()
            .map(|o| finish(Some(c.origin), o, c.wave, facts, json))
    }));
    for o in cache::namespace_objects(&model.caches, facts) {
        // Shared cache RBAC goes with the first cache Job of its namespace.
        let wave = model
            .caches
            .iter()
            .filter(|c| c.namespace == o.namespace())
            .filter_map(|c| c.wave)
            .min();
        objects.push(finish(None, o, wave, facts, json));
    }
    objects.par_sort_unstable_by(|a, b| a.order_key().cmp(&b.order_key()));
    objects
}

/// Flux's annotation that turns off post-build substitution for one object.
pub const FLUX_SUBSTITUTE: &str = "kustomize.toolkit.fluxcd.io/substitute";

/// The last touches of every object (its sync wave, Flux substitution handling) and its
/// serialisation.
fn finish(
    origin: Option<Origin>,
    mut o: Object,
    wave: Option<i32>,
    facts: &Facts,
    json: bool,
) -> Rendered {
    if let Some(w) = wave {
        o.set_sync_wave(w);
    }
    let mut r = Rendered::new(origin, &o);
    if r.yaml.contains("${") {
        match facts.flux_substitution {
            FluxSubstitution::Unchanged => {}
            FluxSubstitution::Escape => r.yaml = r.yaml.replace("${", "$${"),
            FluxSubstitution::Disable => {
                o.metadata_mut()
                    .annotations
                    .get_or_insert_with(Default::default)
                    .insert(FLUX_SUBSTITUTE.into(), "disabled".into());
                r = Rendered::new(origin, &o);
            }
        }
    }
    // As the cluster holds it: Flux has undone any escaping by then. The API server's
    // validation reads it here, object by object, so no JSON form outlives its object.
    if let Ok(value) = serde_json::to_value(&o) {
        r.problems = crate::admission::violations(r.kind, &value);
        if json {
            r.json = Some(value);
        }
    }
    r
}

/// Everything one NIMService produces, in the operator's creation order.
pub fn service(s: &model::Service, facts: &Facts) -> Vec<Object> {
    if let Some(k) = &s.kserve {
        return kserve_service(s, k, facts);
    }
    let mut out = vec![
        Object::ServiceAccount(rbac::service_account(s)),
        Object::Role(rbac::role(s)),
        Object::RoleBinding(rbac::role_binding(s)),
        Object::Service(network::service(s)),
    ];
    out.extend(network::ingress(s).map(Object::Ingress));
    out.extend(network::http_route(s).map(Object::HttpRoute));
    out.extend(network::grpc_route(s).map(Object::GrpcRoute));
    out.extend(scaling::hpa(s).map(Object::HorizontalPodAutoscaler));
    out.extend(scaling::service_monitor(s).map(Object::ServiceMonitor));
    out.extend(epp::objects(s));
    out.extend(storage::service_pvc(s, facts).map(Object::PersistentVolumeClaim));
    out.extend(
        dra::templates(s)
            .into_iter()
            .map(Object::ResourceClaimTemplate),
    );
    match &s.multinode {
        None => out.push(Object::Deployment(Box::new(workload::deployment(s, facts)))),
        Some(m) => {
            out.extend(
                multinode::mpi_config_maps(s, m)
                    .into_iter()
                    .map(Object::ConfigMap),
            );
            out.extend(multinode::compute_domain(s, m).map(Object::ComputeDomain));
            out.push(Object::LeaderWorkerSet(Box::new(
                multinode::leader_worker_set(s, m, facts),
            )));
        }
    }
    out
}

/// A NIMService on the KServe platform: RBAC, the PVC, a ServiceMonitor (Standard mode), DRA
/// templates and the InferenceService; no Service, Ingress, routes, HPA or endpoint picker.
fn kserve_service(s: &model::Service, k: &model::KServe, facts: &Facts) -> Vec<Object> {
    let mut out = vec![
        Object::ServiceAccount(rbac::service_account(s)),
        Object::Role(rbac::role(s)),
        Object::RoleBinding(rbac::role_binding(s)),
    ];
    out.extend(storage::service_pvc(s, facts).map(Object::PersistentVolumeClaim));
    if k.standard {
        out.extend(scaling::service_monitor(s).map(Object::ServiceMonitor));
    }
    out.extend(
        dra::templates(s)
            .into_iter()
            .map(Object::ResourceClaimTemplate),
    );
    out.push(Object::InferenceService(Box::new(
        kserve::inference_service(s, k, facts),
    )));
    out
}
