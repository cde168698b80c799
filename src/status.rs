//! Status: what the operator writes into each custom resource's `status`, computed the way it
//! computes it (`validation-status-nemo.md` §2), from the resources, the objects nimc renders
//! for them and the live objects observed in the cluster. `nimc status --observed` runs this
//! offline and `nimc agent` writes it; both call [`compute`], which is pure: the
//! observations, the model ids and the clock come from the caller.
//!
//! Where nimc differs from the operator (see `docs/deviations.md`): `availableReplicas` is
//! filled; a missing model id does not hold back `Ready`; a NIMCache Job that still retries
//! after a pod failure is `InProgress`, not `Failed`; the readiness of a NIMService is read from
//! the workload nimc renders for it (a Deployment for `multiNode` with pipeline parallelism 1);
//! a `Drifted` condition says when the live objects are not what nimc renders.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::api::API_VERSION;
use crate::diagnostic::Diagnostic;
use crate::facts::Facts;
use crate::load::{Input, Origin};
use crate::model::{Cache, Profiles};
use crate::profiles;
use crate::render::Rendered;
use crate::source::Sources;
use crate::yaml::{self, Limits};

/// Live objects, by kind, namespace and name (what `kubectl get ... -o yaml` prints). The
/// objects are shared, so a copy (the agent takes one per pass) costs no deep clone.
#[derive(Debug, Default, Clone)]
pub struct Observed {
    objects: BTreeMap<(String, String, String), std::sync::Arc<Value>>,
}

impl Observed {
    /// Read every document of `sources`; a `kind: List` (or any document with `items`) counts
    /// as its items. Documents without a kind and a name are skipped.
    pub fn parse(sources: &Sources) -> Result<Observed, Diagnostic> {
        let mut observed = Observed::default();
        for (i, file) in sources.files.iter().enumerate() {
            let docs = yaml::parse_documents(&file.text, Limits::default()).map_err(|e| {
                Diagnostic::new("NIMC001", e.message)
                    .at(
                        i,
                        yaml::Span {
                            start: e.pos,
                            end: e.pos,
                        },
                    )
                    .help("the observed objects must be YAML, as kubectl get -o yaml prints them")
            })?;
            for node in &docs {
                let Ok(doc) = yaml::de::from_node::<Value>(node) else {
                    continue;
                };
                match doc.get("items").and_then(Value::as_array) {
                    Some(items) => items.iter().for_each(|o| observed.insert(o.clone())),
                    None => observed.insert(doc),
                }
            }
        }
        Ok(observed)
    }

    /// Add (or replace) a live object, keyed by its `kind`, namespace and name; an object
    /// without a kind or a name is ignored.
    pub fn insert(&mut self, o: Value) {
        let field = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let (kind, name) = (field(&o["kind"]), field(&o["metadata"]["name"]));
        if !kind.is_empty() && !name.is_empty() {
            let ns = field(&o["metadata"]["namespace"]);
            self.objects
                .insert((kind, ns, name), std::sync::Arc::new(o));
        }
    }

    /// Forget a live object.
    pub fn remove(&mut self, kind: &str, namespace: &str, name: &str) {
        self.objects
            .remove(&(kind.to_string(), namespace.to_string(), name.to_string()));
    }

    /// Replace every object of `kind` (in `namespace`, or in all namespaces) by `objects`:
    /// what a fresh list of that kind returned.
    pub fn replace_kind(&mut self, kind: &str, namespace: Option<&str>, objects: Vec<Value>) {
        self.objects
            .retain(|(k, ns, _), _| k != kind || namespace.is_some_and(|n| n != ns));
        objects.into_iter().for_each(|o| self.insert(o));
    }

    /// Every observed object of `kind`, by namespace and name.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> {
        let from = (kind.to_string(), String::new(), String::new());
        self.objects
            .range(from..)
            .take_while(move |((k, _, _), _)| k == kind)
            .map(|(_, o)| o.as_ref())
    }

    /// How many objects are observed.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether nothing is observed.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Every observed object of `kind` in `namespace`.
    fn in_namespace<'a>(
        &'a self,
        kind: &'a str,
        namespace: &'a str,
    ) -> impl Iterator<Item = &'a Value> {
        let from = (kind.to_string(), namespace.to_string(), String::new());
        self.objects
            .range(from..)
            .take_while(move |((k, ns, _), _)| k == kind && ns == namespace)
            .map(|(_, o)| o.as_ref())
    }

    /// The live object, if observed.
    pub fn get(&self, kind: &str, namespace: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(&(kind.to_string(), namespace.to_string(), name.to_string()))
            .map(|o| o.as_ref())
    }
}

/// The status of one custom resource.
#[derive(Debug, Clone, PartialEq)]
pub struct CrStatus {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    pub status: Value,
}

impl CrStatus {
    /// The resource as the status subresource takes it: type, name and `status`.
    pub fn to_object(&self) -> Value {
        json!({
            "apiVersion": API_VERSION,
            "kind": self.kind,
            "metadata": {"name": self.name, "namespace": self.namespace},
            "status": self.status,
        })
    }
}

/// The status of every NIMCache, NIMService (standalone or lowered from a pipeline) and
/// NIMPipeline of the input, in that order (a NIMService's status reads its NIMCache's).
pub fn compute(
    input: &Input,
    caches: &[Cache],
    objects: &[Rendered],
    facts: &Facts,
    observed: &Observed,
    models: &BTreeMap<String, String>,
    now: &str,
) -> Vec<CrStatus> {
    let ns_of = |ns: &str| match ns {
        "" => facts.default_namespace.clone(),
        n => n.to_string(),
    };
    let mut by_origin: BTreeMap<Origin, Vec<&Rendered>> = BTreeMap::new();
    for r in objects {
        if let Some(o) = r.origin {
            by_origin.entry(o).or_default().push(r);
        }
    }
    let ctx = Context {
        observed,
        objects: by_origin,
        now,
    };
    let mut out = Vec::new();
    let mut cache_states: BTreeMap<(String, String), String> = BTreeMap::new();
    for c in &input.caches {
        let ns = ns_of(c.object.namespace());
        let name = c.object.name().to_string();
        let previous = observed.get("NIMCache", &ns, &name).map(|o| &o["status"]);
        let resolved = caches.iter().find(|r| r.origin == c.origin);
        let status = ctx.cache(c.origin, previous, c.object.status.as_ref(), resolved);
        cache_states.insert(
            (ns.clone(), name.clone()),
            status["state"].as_str().unwrap_or_default().to_string(),
        );
        out.push(CrStatus {
            kind: "NIMCache",
            namespace: ns,
            name,
            status,
        });
    }
    let mut service_states: BTreeMap<Origin, String> = BTreeMap::new();
    for s in &input.services {
        let ns = ns_of(s.object.namespace());
        let name = s.object.name().to_string();
        let previous = observed.get("NIMService", &ns, &name).map(|o| &o["status"]);
        let model = models.get(&format!("{ns}/{name}")).cloned();
        let status = ctx.service(
            &s.object.spec,
            s.origin,
            (&ns, &name),
            previous,
            &cache_states,
            model,
        );
        service_states.insert(
            s.origin,
            status["state"].as_str().unwrap_or_default().to_string(),
        );
        // A NIMService a NIMPipeline created gets its own status where it exists (nimc
        // renders its objects directly and never creates it).
        if s.origin.service.is_none() || previous.is_some() {
            out.push(CrStatus {
                kind: "NIMService",
                namespace: ns,
                name,
                status,
            });
        }
    }
    for p in &input.pipelines {
        let ns = ns_of(p.object.namespace());
        let mut states = serde_json::Map::new();
        for (i, svc) in p.object.spec.services.iter().enumerate() {
            if svc.enabled != Some(true) {
                continue;
            }
            let origin = Origin {
                service: Some(i),
                ..p.origin
            };
            let state = service_states
                .get(&origin)
                .cloned()
                .unwrap_or_else(|| "NotReady".into());
            states.insert(svc.name.clone(), Value::String(state));
        }
        let all = |s: &str| states.values().all(|v| v == s);
        let state = if states.values().any(|v| v == "Failed") {
            "Failed"
        } else if all("Ready") {
            "Ready"
        } else {
            "NotReady"
        };
        out.push(CrStatus {
            kind: "NIMPipeline",
            namespace: ns,
            name: p.object.name().to_string(),
            status: json!({"state": state, "states": states}),
        });
    }
    // A merge patch cannot write a null (it deletes): a status never holds one.
    out.iter_mut().for_each(|s| strip_nulls(&mut s.status));
    out
}

/// Remove every null below `v` (a merge patch cannot write one; it deletes).
pub fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

struct Context<'a> {
    observed: &'a Observed,
    /// The rendered objects of each resource.
    objects: BTreeMap<Origin, Vec<&'a Rendered>>,
    now: &'a str,
}

impl Context<'_> {
    /// The objects nimc renders for the resource at `origin`.
    fn rendered(&self, origin: Origin) -> impl Iterator<Item = &Rendered> {
        self.objects.get(&origin).into_iter().flatten().copied()
    }

    fn live(&self, r: &Rendered) -> Option<&Value> {
        self.observed.get(r.kind, &r.namespace, &r.name)
    }

    /// A NIMCache: its state follows the caching Job (§2.3).
    fn cache(
        &self,
        origin: Origin,
        previous: Option<&Value>,
        input: Option<&crate::api::NimCacheStatus>,
        resolved: Option<&Cache>,
    ) -> Value {
        let job = self.rendered(origin).find(|r| r.kind == "Job");
        let live = job.and_then(|j| self.live(j));
        // A live status without a state says nothing (a status subresource the apply dropped).
        let previous = previous.filter(|p| p["state"].is_string());
        // A cache whose input says Ready gets no Job, and its status is the input's (or the
        // live one, once it is Ready too).
        if resolved.is_some_and(|c| !c.creates_job) {
            let live_ready = previous.filter(|p| p["state"] == "Ready");
            return self.completed_cache(origin, live_ready, input);
        }
        // Once Ready, a cache without its Job (gone after its TTL) stays as it is: the
        // operator only reads a Job that exists.
        let recorded = previous.map_or_else(
            || input.and_then(|s| s.state.as_deref()),
            |p| p["state"].as_str(),
        );
        if live.is_none() && recorded == Some("Ready") {
            return self.completed_cache(origin, previous, input);
        }
        let pvc = self
            .rendered(origin)
            .find(|r| r.kind == "PersistentVolumeClaim")
            .map(|r| r.name.clone());
        let count = |f: &str| live.and_then(|j| j["status"][f].as_i64()).unwrap_or(0);
        let job_failed = live.is_some_and(|j| has_condition(&j["status"], "Failed", "True"));
        let fails = resolved.and_then(|c| match &c.profiles {
            Profiles::OperatorFails(message) => Some(message.as_str()),
            _ => None,
        });
        let none_selected = fails.is_some();
        let (state, conditions): (&str, Vec<Condition>) = match live {
            // The operator cannot build the Job: it reports the failed reconcile.
            None if let Some(message) = fails => (
                "NotReady",
                vec![cond(
                    "NIM_CACHE_RECONCILE_FAILED",
                    true,
                    "ReconcileFailed",
                    message,
                )],
            ),
            None => (
                "Pending",
                vec![cond(
                    "NIM_CACHE_JOB_PENDING",
                    true,
                    "JobPending",
                    "The Job to cache NIM is in pending state",
                )],
            ),
            Some(_) if count("succeeded") > 0 => (
                "Ready",
                vec![
                    cond(
                        "NIM_CACHE_JOB_CREATED",
                        true,
                        "JobCreated",
                        "The Job to cache NIM has been created",
                    ),
                    cond(
                        "NIM_CACHE_JOB_COMPLETED",
                        true,
                        "JobCompleted",
                        "The Job to cache NIM has successfully completed",
                    ),
                ],
            ),
            Some(_) if job_failed => (
                "Failed",
                vec![
                    cond(
                        "NIM_CACHE_JOB_CREATED",
                        true,
                        "JobCreated",
                        "The Job to cache NIM has been created",
                    ),
                    cond(
                        "NIM_CACHE_JOB_COMPLETED",
                        false,
                        "JobFailed",
                        "The Job to cache NIM has failed",
                    ),
                ],
            ),
            Some(_) if count("active") > 0 => (
                "InProgress",
                vec![
                    cond(
                        "NIM_CACHE_JOB_CREATED",
                        true,
                        "JobCreated",
                        "The Job to cache NIM has been created",
                    ),
                    cond(
                        "NIM_CACHE_JOB_PENDING",
                        false,
                        "JobRunning",
                        "The Job to cache NIM is in progress",
                    ),
                ],
            ),
            Some(_) => (
                "Pending",
                vec![
                    cond(
                        "NIM_CACHE_JOB_CREATED",
                        true,
                        "JobCreated",
                        "The Job to cache NIM has been created",
                    ),
                    cond(
                        "NIM_CACHE_JOB_PENDING",
                        true,
                        "JobPending",
                        "The Job to cache NIM is in pending state",
                    ),
                ],
            ),
        };
        let mut status = serde_json::Map::new();
        status.insert("state".into(), state.into());
        // The claim name is known once the cache is ready (as the operator sets it).
        let claim = pvc.or_else(|| job.and_then(claim_of_job));
        if state == "Ready"
            && let Some(c) = claim
        {
            status.insert("pvc".into(), c.into());
        }
        // The cache type comes from the cluster (the image's registry labels).
        if let Some(v) = previous
            .and_then(|p| p.get("type"))
            .filter(|v| !v.is_null())
        {
            status.insert("type".into(), v.clone());
        }
        // The operator lists the profiles when the Job succeeds (and keeps them, with what
        // NIMBuild adds, while Ready); every other state has none.
        if state == "Ready" {
            let kept = previous
                .and_then(|p| p.get("profiles"))
                .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()));
            if let Some(v) = kept.cloned().or_else(|| resolved.and_then(status_profiles)) {
                status.insert("profiles".into(), v);
            }
        }
        let mut conditions = conditions;
        // A Job the operator cannot build is not missing.
        conditions.extend(self.drift(origin, |r| none_selected && r.kind == "Job"));
        status.insert("conditions".into(), self.conditions(conditions, previous));
        Value::Object(status)
    }

    /// A `Ready` NIMCache whose Job does not exist (none is created once caching is
    /// complete, and a finished one is deleted after its TTL): its status stands as it is, the
    /// state, the claim, the profiles, the type and the conditions, from the live status or
    /// else the input's; only `Drifted` is nimc's to recompute, and a missing Job is no drift.
    fn completed_cache(
        &self,
        origin: Origin,
        previous: Option<&Value>,
        input: Option<&crate::api::NimCacheStatus>,
    ) -> Value {
        let base = previous.cloned().unwrap_or_else(|| {
            serde_json::to_value(input.cloned().unwrap_or_default()).unwrap_or_default()
        });
        let mut status = serde_json::Map::new();
        status.insert("state".into(), "Ready".into());
        for keep in ["pvc", "profiles", "type"] {
            if let Some(v) = base.get(keep).filter(|v| !v.is_null()) {
                status.insert(keep.into(), v.clone());
            }
        }
        if !status.contains_key("pvc")
            && let Some(claim) = self
                .rendered(origin)
                .find(|r| r.kind == "PersistentVolumeClaim")
        {
            status.insert("pvc".into(), claim.name.clone().into());
        }
        let mut conditions: Vec<Value> = base["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["type"] != "Drifted")
            .cloned()
            .collect();
        let drift = self.drift(origin, |r| r.kind == "Job");
        if let Value::Array(drift) = self.conditions(drift.into_iter().collect(), Some(&base)) {
            conditions.extend(drift);
        }
        status.insert("conditions".into(), conditions.into());
        Value::Object(status)
    }

    /// A NIMService (§2.2): NIMCache gating, then the readiness of its workload, the model
    /// endpoints and the replicas.
    fn service(
        &self,
        spec: &crate::api::NimServiceSpec,
        origin: Origin,
        (ns, name): (&str, &str),
        previous: Option<&Value>,
        caches: &BTreeMap<(String, String), String>,
        model_id: Option<String>,
    ) -> Value {
        let mut status = serde_json::Map::new();
        // The operator keeps the last model block when the service is no longer ready.
        if let Some(m) = previous
            .and_then(|p| p.get("model"))
            .filter(|v| !v.is_null())
        {
            status.insert("model".into(), m.clone());
        }
        let gate = spec
            .storage
            .nim_cache
            .as_ref()
            .filter(|c| !c.name.is_empty())
            .and_then(|c| {
                let state = caches.get(&(ns.to_string(), c.name.clone()));
                match state.map(String::as_str) {
                    None => Some((
                        "Failed",
                        "NIMCacheNotFound",
                        format!("NIMCache {} not found", c.name),
                    )),
                    Some("Failed") => Some(("Failed", "NIMCacheFailed", String::new())),
                    Some("Ready") => None,
                    Some(_) => Some((
                        "NotReady",
                        "NIMCacheNotReady",
                        format!("NIMCache {} not ready", c.name),
                    )),
                }
            });
        let workload = self.rendered(origin).find(|r| {
            matches!(
                r.kind,
                "Deployment" | "LeaderWorkerSet" | "InferenceService"
            )
        });
        let (state, reason, message) = match gate {
            Some(g) => g,
            None => {
                let (ready, message) = match workload {
                    Some(w) => readiness(w, self.live(w)),
                    None => (false, String::new()),
                };
                if let Some(dra) = workload.and_then(|w| self.dra_statuses(w, ns)) {
                    status.insert("draResourceStatuses".into(), dra);
                }
                if ready {
                    let endpoints = self.endpoints(spec, origin, ns, name, workload);
                    let mut model = endpoints;
                    model.insert("name".into(), model_id.unwrap_or_default().into());
                    status.insert("model".into(), Value::Object(model));
                    ("Ready", "Ready", message)
                } else {
                    ("NotReady", "NotReady", message)
                }
            }
        };
        let conditions = match state {
            "Ready" => vec![
                cond("Ready", true, reason, &message),
                cond("Failed", false, "Ready", ""),
            ],
            "NotReady" => vec![
                cond("Ready", false, reason, &message),
                cond("Failed", false, "Ready", &message),
            ],
            _ => vec![
                cond("Ready", false, "Failed", ""),
                cond("Failed", true, reason, &message),
            ],
        };
        let mut conditions = conditions;
        conditions.extend(self.drift(origin, |_| false));
        status.insert("conditions".into(), self.conditions(conditions, previous));
        status.insert("state".into(), state.into());
        if let Some(n) = workload
            .and_then(|w| self.live(w))
            .and_then(available_replicas)
        {
            status.insert("availableReplicas".into(), n.into());
        }
        if let Some(cd) = self
            .rendered(origin)
            .find(|r| r.kind == "ComputeDomain")
            .and_then(|r| self.live(r))
            .or_else(|| {
                let domain = spec.multi_node.as_ref()?.compute_domain.as_ref()?;
                let cd_name = domain.name.as_deref().filter(|n| !n.is_empty())?;
                self.observed.get("ComputeDomain", ns, cd_name)
            })
        {
            let nodes: Vec<Value> = cd["status"]["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|n| json!({"name": n["name"], "cliqueID": n["cliqueID"], "status": n["status"]}))
                .collect();
            let mut s = json!({"name": cd["metadata"]["name"], "nodes": nodes});
            if let Some(st) = cd["status"]["status"].as_str() {
                s["status"] = st.into();
            }
            status.insert("computeDomainStatus".into(), s);
        }
        Value::Object(status)
    }

    /// `status.draResourceStatuses`: one entry per pod resource claim of the workload nimc
    /// renders; a claim by name reports that ResourceClaim, a template reports the claims the
    /// cluster made from it (annotated with the pod claim name), oldest first.
    fn dra_statuses(&self, workload: &Rendered, ns: &str) -> Option<Value> {
        let doc = workload.value()?;
        let pod = match workload.kind {
            "LeaderWorkerSet" => &doc["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"],
            _ => &doc["spec"]["template"]["spec"],
        };
        let claims = pod["resourceClaims"].as_array().filter(|c| !c.is_empty())?;
        let mut out = Vec::new();
        for c in claims {
            let pod_claim = c["name"].as_str().unwrap_or_default();
            if let Some(claim) = c["resourceClaimName"].as_str() {
                // The operator writes no DRA status while a named claim is missing.
                let live = self.observed.get("ResourceClaim", ns, claim)?;
                out.push(json!({
                    "name": pod_claim,
                    "resourceClaimStatus": {"name": claim, "state": claim_state(live)},
                }));
            } else if let Some(template) = c["resourceClaimTemplateName"].as_str() {
                let mut made: Vec<&Value> = self
                    .observed
                    .in_namespace("ResourceClaim", ns)
                    .filter(|rc| {
                        rc["metadata"]["annotations"]["resource.kubernetes.io/pod-claim-name"]
                            == pod_claim
                    })
                    .collect();
                made.sort_by_key(|rc| {
                    (
                        rc["metadata"]["creationTimestamp"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        rc["metadata"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                    )
                });
                let statuses: Vec<Value> = made
                    .iter()
                    .map(|rc| json!({"name": rc["metadata"]["name"], "state": claim_state(rc)}))
                    .collect();
                let mut t = json!({"name": template});
                if !statuses.is_empty() {
                    t["resourceClaimStatuses"] = Value::Array(statuses);
                }
                out.push(json!({"name": pod_claim, "resourceClaimTemplateStatus": t}));
            }
        }
        Some(Value::Array(out))
    }

    /// `status.model` endpoints: the Service's cluster IP and port, and the external host of
    /// the Ingress or LoadBalancer (KServe: the InferenceService's URLs).
    fn endpoints(
        &self,
        spec: &crate::api::NimServiceSpec,
        origin: Origin,
        ns: &str,
        name: &str,
        workload: Option<&Rendered>,
    ) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        if let Some(isvc) = workload
            .filter(|w| w.kind == "InferenceService")
            .and_then(|w| self.live(w))
        {
            m.insert(
                "clusterEndpoint".into(),
                isvc["status"]["address"]["url"]
                    .as_str()
                    .unwrap_or_default()
                    .into(),
            );
            m.insert(
                "externalEndpoint".into(),
                isvc["status"]["url"].as_str().unwrap_or_default().into(),
            );
            return m;
        }
        let port = spec
            .expose
            .service
            .as_ref()
            .and_then(|s| s.port)
            .unwrap_or(crate::defaults::DEFAULT_PORT);
        let svc = self
            .rendered(origin)
            .find(|r| r.kind == "Service")
            .and_then(|r| self.live(r))
            .or_else(|| self.observed.get("Service", ns, name));
        let cluster = svc
            .and_then(|s| s["spec"]["clusterIP"].as_str())
            .filter(|ip| !ip.is_empty())
            .map_or(String::new(), |ip| format!("{ip}:{port}"));
        let ingress_on = spec
            .expose
            .router
            .as_ref()
            .and_then(|r| r.ingress.as_ref())
            .is_some_and(|i| !i.ingress_class.is_empty())
            || spec
                .expose
                .ingress
                .as_ref()
                .is_some_and(|i| i.enabled == Some(true));
        let external = if ingress_on {
            let ing = self.observed.get("Ingress", ns, name);
            let host = ing.and_then(|i| {
                i["spec"]["rules"].as_array()?.iter().find_map(|rule| {
                    let paths = rule["http"]["paths"].as_array()?;
                    paths
                        .iter()
                        .any(|p| p["backend"]["service"]["name"] == name)
                        .then(|| rule["host"].as_str().map(str::to_string))
                        .flatten()
                })
            });
            host.or_else(|| {
                let lb = &ing?["status"]["loadBalancer"]["ingress"][0];
                lb["hostname"]
                    .as_str()
                    .or(lb["ip"].as_str())
                    .map(str::to_string)
            })
            .unwrap_or_default()
        } else if svc.is_some_and(|s| s["spec"]["type"] == "LoadBalancer") {
            // The operator reads the deprecated spec.loadBalancerIP, never the address the
            // Service is given: without that field (always, for the Services it creates) the
            // endpoint is empty.
            svc.and_then(|s| s["spec"]["loadBalancerIP"].as_str())
                .filter(|ip| !ip.is_empty())
                .map_or(String::new(), |ip| format!("{ip}:{port}"))
        } else {
            String::new()
        };
        m.insert("clusterEndpoint".into(), cluster.into());
        m.insert("externalEndpoint".into(), external.into());
        m
    }

    /// The `Drifted` condition: True when a rendered object is missing from the cluster or a
    /// field nimc sets has another value there.
    /// Objects for which `may_be_absent` holds are not missed when the cluster lacks them.
    fn drift(
        &self,
        origin: Origin,
        may_be_absent: impl Fn(&Rendered) -> bool,
    ) -> Option<Condition> {
        // With an HPA, the replica count of the Deployment is the HPA's to set.
        let autoscaled = self
            .rendered(origin)
            .any(|r| r.kind == "HorizontalPodAutoscaler");
        let mut differ = Vec::new();
        let mut any = false;
        for r in self.rendered(origin) {
            any = true;
            let Some(live) = self.live(r) else {
                if !may_be_absent(r) {
                    differ.push(format!("{}/{} is missing", r.kind, r.name));
                }
                continue;
            };
            let Some(want) = r.value() else {
                continue;
            };
            let want = match autoscaled && r.kind == "Deployment" {
                true => {
                    let mut w = want.into_owned();
                    if let Some(spec) = w["spec"].as_object_mut() {
                        spec.remove("replicas");
                    }
                    Cow::Owned(w)
                }
                false => want,
            };
            if let Some(path) = first_mismatch(&want, live) {
                differ.push(format!("{}/{} differs at {path}", r.kind, r.name));
            }
        }
        if !any {
            return None;
        }
        Some(match differ.is_empty() {
            true => cond("Drifted", false, "InSync", ""),
            false => {
                let shown: Vec<&str> = differ.iter().take(5).map(String::as_str).collect();
                let more = differ.len().saturating_sub(5);
                let mut msg = shown.join("; ");
                if more > 0 {
                    msg.push_str(&format!("; and {more} more"));
                }
                cond("Drifted", true, "LiveObjectsDiffer", &msg)
            }
        })
    }

    /// Conditions as the API stores them (see [`conditions_at`]).
    fn conditions(&self, wanted: Vec<Condition>, previous: Option<&Value>) -> Value {
        conditions_at(wanted, previous, self.now)
    }
}

/// Conditions as the API stores them, keeping each one's `lastTransitionTime` while its
/// status does not change (as `meta.SetStatusCondition` does); a new or flipped condition
/// takes `now`.
fn conditions_at(wanted: Vec<Condition>, previous: Option<&Value>, now: &str) -> Value {
    let before = previous
        .and_then(|p| p["conditions"].as_array())
        .cloned()
        .unwrap_or_default();
    let list: Vec<Value> = wanted
        .into_iter()
        .map(|c| {
            let status = if c.status { "True" } else { "False" };
            let since = before
                .iter()
                .find(|b| b["type"] == c.kind && b["status"] == status)
                .and_then(|b| b["lastTransitionTime"].as_str())
                .unwrap_or(now);
            json!({
                "type": c.kind,
                "status": status,
                "reason": c.reason,
                "message": c.message,
                "lastTransitionTime": since,
            })
        })
        .collect();
    Value::Array(list)
}

/// The status of a resource nimc cannot render (the agent met it in the cluster, where no
/// admission webhook stopped it): `message` is the diagnostic. A NIMService is `Failed` with
/// the operator's Failed-condition pair, a NIMCache `NotReady` with
/// `NIM_CACHE_RECONCILE_FAILED` (what the operator writes when a reconcile fails), and a
/// NIMPipeline `Failed` with a `Failed` condition (the operator writes none; nimc adds it so
/// the reason is visible).
pub fn rejected(kind: &str, previous: Option<&Value>, message: &str, now: &str) -> Value {
    const REASON: &str = "InvalidSpec";
    match kind {
        "NIMCache" => json!({
            "state": "NotReady",
            "conditions": conditions_at(
                vec![cond("NIM_CACHE_RECONCILE_FAILED", true, "ReconcileFailed", message)],
                previous,
                now,
            ),
        }),
        "NIMPipeline" => json!({
            "state": "Failed",
            "states": {},
            "conditions": conditions_at(vec![cond("Failed", true, REASON, message)], previous, now),
        }),
        _ => json!({
            "state": "Failed",
            "conditions": conditions_at(
                vec![
                    cond("Ready", false, "Failed", ""),
                    cond("Failed", true, REASON, message),
                ],
                previous,
                now,
            ),
        }),
    }
}

/// `secs` since the Unix epoch as RFC 3339 UTC with second precision, the form of a
/// Kubernetes `Time` (the callers read the clock; this only formats).
pub fn rfc3339(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

struct Condition {
    kind: String,
    status: bool,
    reason: String,
    message: String,
}

fn cond(kind: &str, status: bool, reason: &str, message: &str) -> Condition {
    Condition {
        kind: kind.into(),
        status,
        reason: reason.into(),
        message: message.into(),
    }
}

fn has_condition(status: &Value, kind: &str, value: &str) -> bool {
    status["conditions"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == kind && c["status"] == value))
}

/// `status.profiles` of a cache whose Job succeeded, from the model manifest the cluster gave
/// the operator: one entry per manifest profile and selected id (none for `all` or a native
/// download).
fn status_profiles(cache: &Cache) -> Option<Value> {
    let (Profiles::Listed(ids), Some(manifest)) = (&cache.profiles, &cache.manifest) else {
        return None;
    };
    let entries: Vec<Value> = profiles::status_entries(manifest, ids)
        .into_iter()
        .map(|p| {
            let mut e = serde_json::Map::new();
            e.insert("name".into(), p.id.clone().into());
            for (k, v) in [("model", &p.model), ("release", &p.release)] {
                if !v.is_empty() {
                    e.insert(k.into(), v.clone().into());
                }
            }
            if !p.tags.is_empty() {
                e.insert("config".into(), json!(p.tags));
            }
            Value::Object(e)
        })
        .collect();
    (!entries.is_empty()).then_some(Value::Array(entries))
}

/// The claim a cache Job mounts (when nimc does not create the PVC itself).
fn claim_of_job(job: &Rendered) -> Option<String> {
    let doc = job.value()?;
    doc["spec"]["template"]["spec"]["volumes"]
        .as_array()?
        .iter()
        .find_map(|v| {
            v["persistentVolumeClaim"]["claimName"]
                .as_str()
                .map(str::to_string)
        })
}

/// A ResourceClaim's state as the operator spells it: `deleted`, `pending`, `allocated`,
/// `reserved`, comma-joined.
fn claim_state(rc: &Value) -> String {
    let deleted = !rc["metadata"]["deletionTimestamp"].is_null();
    let allocated = !rc["status"]["allocation"].is_null();
    let reserved = allocated
        && rc["status"]["reservedFor"]
            .as_array()
            .is_some_and(|r| !r.is_empty());
    let mut parts = Vec::new();
    if deleted {
        parts.push("deleted");
    }
    if !allocated && !deleted {
        parts.push("pending");
    }
    if allocated {
        parts.push("allocated");
    }
    if reserved {
        parts.push("reserved");
    }
    parts.join(",")
}

/// Whether a workload is ready, and the operator's message for it (§2.2 tables).
fn readiness(w: &Rendered, live: Option<&Value>) -> (bool, String) {
    let name = &w.name;
    let Some(live) = live else {
        return match w.kind {
            "InferenceService" => (
                false,
                format!("Waiting for InferenceService \"{name}\" creation"),
            ),
            _ => (false, String::new()),
        };
    };
    let st = &live["status"];
    match w.kind {
        "InferenceService" => {
            let predictor = st["conditions"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["type"] == "PredictorReady"));
            match predictor {
                Some(c) => (
                    c["status"] == "True",
                    c["message"].as_str().unwrap_or_default().to_string(),
                ),
                None => (
                    false,
                    format!(
                        "Waiting for InferenceService \"{name}\" reporting Predictor readiness"
                    ),
                ),
            }
        }
        "LeaderWorkerSet" => {
            if live["spec"]["replicas"].as_i64().unwrap_or(0) == 0 {
                (false, format!("leaderworkerset \"{name}\" is scaled down"))
            } else if has_condition(st, "Available", "True") {
                (true, format!("leaderworkerset \"{name}\" is ready"))
            } else {
                (false, format!("leaderworkerset \"{name}\" is not ready"))
            }
        }
        _ => {
            let replicas = live["spec"]["replicas"].as_i64().unwrap_or(0);
            let updated = st["updatedReplicas"].as_i64().unwrap_or(0);
            let available = st["availableReplicas"].as_i64().unwrap_or(0);
            let deadline = st["conditions"].as_array().is_some_and(|cs| {
                cs.iter().any(|c| {
                    c["type"] == "Progressing" && c["reason"] == "ProgressDeadlineExceeded"
                })
            });
            if replicas == 0 {
                (false, format!("deployment \"{name}\" is scaled down"))
            } else if deadline {
                (
                    false,
                    format!("deployment \"{name}\" exceeded its progress deadline"),
                )
            } else if updated < replicas {
                (
                    false,
                    format!(
                        "Waiting for deployment \"{name}\" rollout to finish: {updated} out of {replicas} new replicas have been updated...\n"
                    ),
                )
            } else if available < updated {
                (
                    false,
                    format!(
                        "Waiting for deployment \"{name}\" rollout to finish: {available} of {updated} updated replicas are available...\n"
                    ),
                )
            } else {
                (
                    true,
                    format!("deployment \"{name}\" successfully rolled out\n"),
                )
            }
        }
    }
}

/// The replicas serving: a Deployment's `availableReplicas`, a LeaderWorkerSet's
/// `readyReplicas` (groups).
fn available_replicas(live: &Value) -> Option<i64> {
    let st = &live["status"];
    st["availableReplicas"]
        .as_i64()
        .or_else(|| st["readyReplicas"].as_i64())
        .or_else(|| {
            live["kind"]
                .as_str()
                .filter(|k| *k == "Deployment")
                .map(|_| 0)
        })
}

/// The first place where `want` (a rendered object) is not in `live`: every field nimc sets
/// must be there with the same value; fields the cluster adds are ignored. Lists compare item
/// by item. `status` and the server's metadata are not compared.
fn first_mismatch(want: &Value, live: &Value) -> Option<String> {
    let segments = mismatch(want, live, true)?;
    Some(segments.iter().rev().map(|s| format!("/{s}")).collect())
}

/// [`first_mismatch`]'s walk: the path segments of the first difference, innermost first
/// (built only when there is one, so matching objects cost no allocation).
fn mismatch(want: &Value, live: &Value, top: bool) -> Option<Vec<String>> {
    match (want, live) {
        (Value::Object(w), Value::Object(l)) => w.iter().find_map(|(k, v)| {
            if top && k == "status" {
                return None;
            }
            let mut inner = match l.get(k) {
                None if v.is_null() => return None,
                None => Vec::new(),
                Some(lv) => mismatch(v, lv, false)?,
            };
            inner.push(yaml::escape_segment(k));
            Some(inner)
        }),
        (Value::Array(w), Value::Array(l)) => {
            if w.len() != l.len() {
                return Some(Vec::new());
            }
            w.iter().zip(l).enumerate().find_map(|(i, (a, b))| {
                let mut inner = mismatch(a, b, false)?;
                inner.push(i.to_string());
                Some(inner)
            })
        }
        (Value::Number(a), Value::Number(b)) => (a.as_f64() != b.as_f64()).then(Vec::new),
        // Quantities and ports may come back as numbers or strings.
        (Value::String(a), Value::Number(b)) | (Value::Number(b), Value::String(a)) => {
            (a != &b.to_string()).then(Vec::new)
        }
        (a, b) => (a != b).then(Vec::new),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn nulls_are_not_kept_in_a_status() {
        let mut v = json!({"a": null, "b": [{"c": null, "d": 1}], "e": {"f": null}});
        super::strip_nulls(&mut v);
        assert_eq!(v, json!({"b": [{"d": 1}], "e": {}}));
    }
}
