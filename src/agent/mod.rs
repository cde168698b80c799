//! `nimc agent`: the optional in-cluster status reporter. It watches the NIM resources and
//! the objects nimc rendered for them, and writes each resource's `status` through the status
//! subresource, as the operator would. It never creates or changes a workload and never
//! writes a `spec`: its only writes are merge patches on `/status` and its Lease.
//!
//! The work is split so that everything but I/O is shared with the compiler:
//! - [`kinds`]: what is watched (and therefore what the RBAC in `deploy/agent/` grants);
//! - watches (kube's `watcher`, with its re-list on 410 Gone and back-off on errors) fill one
//!   [`Observed`] store, the same type `nimc status --observed` reads from a file;
//! - [`reconcile::pass`] (pure) computes every status with [`crate::status`] and the patches;
//! - [`lease`] elects one writer among the replicas;
//! - [`serve`] answers `/healthz`, `/readyz` and `/metrics`; [`log`] writes JSON lines;
//! - [`probe`] reads the model id from each ready NIM's `/v1/models`.
//!
//! [`run`] wires these together and returns on SIGTERM or SIGINT, after releasing the lease.

pub mod kinds;
pub mod lease;
pub mod log;
pub mod probe;
pub mod reconcile;
pub mod serve;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc, watch};

use crate::facts::Facts;
use crate::status::Observed;
use kinds::{Kind, Selection};
use serve::Shared;

/// How the agent runs (from `nimc agent`'s flags).
#[derive(Debug, Clone)]
pub struct Config {
    pub facts: Facts,
    /// The namespaces to watch; empty: all.
    pub namespaces: Vec<String>,
    /// Leader election; `None` runs without (one replica only).
    pub lease: Option<lease::LeaseConfig>,
    pub health_addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    /// How often every status is recomputed without an event (model ids, retries).
    pub resync: Duration,
    /// Read model ids from the NIMs' `/v1/models`.
    pub probe_models: bool,
}

/// Run until SIGTERM or SIGINT. An error is a reason not to run at all (no API server
/// credentials, ports taken, missing permissions, the NVIDIA operator at work).
pub async fn run(config: Config) -> Result<(), String> {
    let client = Client::try_default()
        .await
        .map_err(|e| format!("no Kubernetes API server to talk to: {e}"))?;
    let shared = Arc::new(Shared::default());
    let mut bound = Vec::new();
    for addr in endpoints(&config) {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        bound.push(
            listener
                .local_addr()
                .map_or(addr.to_string(), |a| a.to_string()),
        );
        tokio::spawn(serve::serve(listener, shared.clone()));
    }
    let (shutdown_tx, shutdown) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        log::info("shutting down", Value::Null);
        let _ = shutdown_tx.send(true);
    });
    log::info(
        "starting",
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "namespaces": config.namespaces,
            "managedBy": config.facts.managed_by,
            "leaderElection": config.lease.as_ref().map(|l| format!("{}/{}", l.namespace, l.name)),
            "listening": bound,
        }),
    );

    let Some(served) = discover(&client, &config, shutdown.clone()).await? else {
        return Ok(());
    };
    let store = Arc::new(Mutex::new(Store::default()));
    let notify = Arc::new(Notify::new());
    let watched: Vec<&'static Kind> = kinds::WATCHED
        .iter()
        .filter(|k| served.contains(k.kind))
        .collect();
    // Count every watch before starting any, so readiness waits for all of them.
    lock(&store).expected = watched.len() * scopes(&config).len();
    let mut tasks = Vec::new();
    for kind in watched {
        for scope in scopes(&config) {
            tasks.push(tokio::spawn(watch_kind(
                client.clone(),
                kind,
                scope,
                config.facts.managed_by.clone(),
                store.clone(),
                notify.clone(),
                shared.clone(),
            )));
        }
    }

    // Without leader election this replica always leads; the sender lives until the end.
    let (leader_tx, leader) = watch::channel(config.lease.is_none());
    // The election stops (and releases the Lease) only after the last status write.
    let (stop_election, election_stopped) = watch::channel(false);
    let mut always_leader = None;
    let election = match config.lease.clone() {
        Some(l) => {
            let api: Api<k8s_openapi::api::coordination::v1::Lease> =
                Api::namespaced(client.clone(), &l.namespace);
            Some(tokio::spawn(lease::elect(
                api,
                l,
                leader_tx,
                election_stopped,
            )))
        }
        None => {
            always_leader = Some(leader_tx);
            None
        }
    };

    Reconciler {
        client,
        config: &config,
        store,
        notify,
        shared,
        leader,
        shutdown,
    }
    .run()
    .await;

    tasks.iter().for_each(|t| t.abort());
    drop(always_leader);
    let _ = stop_election.send(true);
    if let Some(e) = election {
        let _ = e.await;
    }
    log::info("stopped", Value::Null);
    Ok(())
}

/// The live objects and which watches have listed.
#[derive(Default)]
struct Store {
    observed: Observed,
    /// Watches started and watches that have listed once.
    expected: usize,
    synced: BTreeSet<(&'static str, Option<String>)>,
    /// What changed since the last pass.
    dirty: Dirty,
}

/// The namespaces whose resources need a new pass (their statuses depend only on objects
/// in the same namespace), or all of them.
#[derive(Default)]
struct Dirty {
    all: bool,
    namespaces: BTreeSet<String>,
}

impl Dirty {
    fn namespace(&mut self, ns: &str) {
        if !self.all {
            self.namespaces.insert(ns.to_string());
        }
    }

    /// What to recompute (`None`: everything), leaving nothing dirty.
    fn take(&mut self) -> Option<BTreeSet<String>> {
        let all = std::mem::take(&mut self.all);
        let namespaces = std::mem::take(&mut self.namespaces);
        (!all).then_some(namespaces)
    }
}

fn lock(store: &Mutex<Store>) -> std::sync::MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(|e| e.into_inner())
}

fn endpoints(config: &Config) -> Vec<SocketAddr> {
    let mut v = vec![config.health_addr];
    if config.metrics_addr != config.health_addr {
        v.push(config.metrics_addr);
    }
    v
}

/// The namespaces watched (`None`: all), each once.
fn scopes(config: &Config) -> Vec<Option<String>> {
    let namespaces: BTreeSet<&String> = config.namespaces.iter().collect();
    match namespaces.is_empty() {
        true => vec![None],
        false => namespaces.into_iter().cloned().map(Some).collect(),
    }
}

fn api_resource(kind: &Kind) -> ApiResource {
    ApiResource {
        group: kind.group.into(),
        version: kind.version.into(),
        api_version: kind.api_version(),
        kind: kind.kind.into(),
        plural: kind.plural.into(),
    }
}

fn api(client: &Client, kind: &Kind, namespace: Option<&str>) -> Api<DynamicObject> {
    let ar = api_resource(kind);
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    }
}

/// The label selector of a kind's watch.
fn selector(kind: &Kind, managed_by: &str) -> Option<String> {
    (kind.selection == Selection::ManagedByNimc)
        .then(|| format!("app.kubernetes.io/managed-by={managed_by}"))
}

/// An object as the store keeps it: JSON with its `apiVersion` and `kind` (list items
/// arrive without them).
fn value_of(kind: &Kind, o: DynamicObject) -> Value {
    let mut v = serde_json::to_value(o).unwrap_or(Value::Null);
    if let Some(m) = v.as_object_mut() {
        m.insert("apiVersion".into(), kind.api_version().into());
        m.insert("kind".into(), kind.kind.into());
    }
    v
}

/// Which kinds the cluster serves, and a refusal when the NVIDIA operator manages the
/// watched resources. Transient failures are retried until they pass or a signal arrives
/// (`Ok(None)`).
async fn discover(
    client: &Client,
    config: &Config,
    mut shutdown: watch::Receiver<bool>,
) -> Result<Option<BTreeSet<&'static str>>, String> {
    let mut wait = Duration::from_millis(500);
    'retry: loop {
        let mut served = BTreeSet::new();
        for kind in kinds::WATCHED {
            for scope in scopes(config) {
                let mut params = ListParams::default();
                if !kind.is_nim() {
                    params = params.limit(1);
                }
                if let Some(s) = selector(kind, &config.facts.managed_by) {
                    params = params.labels(&s);
                }
                match api(client, kind, scope.as_deref()).list(&params).await {
                    Ok(list) => {
                        served.insert(kind.kind);
                        if kind.is_nim() {
                            refuse_if_operator(kind, list.items)?;
                        }
                    }
                    Err(kube::Error::Api(e)) if e.code == 404 && kind.optional => {
                        log::info(
                            "kind not served by this cluster; not watched",
                            json!({"apiVersion": kind.api_version(), "kind": kind.kind}),
                        );
                    }
                    Err(kube::Error::Api(e)) if e.code == 404 => {
                        return Err(format!(
                            "the cluster does not serve {} {}: apply nimc's CRDs (crds/) first",
                            kind.api_version(),
                            kind.plural
                        ));
                    }
                    Err(kube::Error::Api(e)) if e.code == 401 || e.code == 403 => {
                        return Err(format!(
                            "not allowed to list {} {}{}: {} (apply deploy/agent/rbac.yaml)",
                            kind.api_version(),
                            kind.plural,
                            scope.map(|s| format!(" in {s}")).unwrap_or_default(),
                            e.message
                        ));
                    }
                    Err(e) => {
                        log::warn(
                            "cannot list; retrying",
                            json!({"kind": kind.kind, "error": e.to_string(), "retryInSeconds": wait.as_secs_f64()}),
                        );
                        tokio::select! {
                            _ = tokio::time::sleep(wait) => {}
                            _ = shutdown.changed() => return Ok(None),
                        }
                        wait = (wait * 2).min(Duration::from_secs(10));
                        continue 'retry;
                    }
                }
            }
        }
        return Ok(Some(served));
    }
}

fn refuse_if_operator(kind: &Kind, items: Vec<DynamicObject>) -> Result<(), String> {
    for o in items {
        let v = value_of(kind, o);
        if let Some(why) = reconcile::operator_evidence(&v) {
            let meta = &v["metadata"];
            let (ns, name) = (
                meta["namespace"].as_str().unwrap_or_default(),
                meta["name"].as_str().unwrap_or_default(),
            );
            return Err(format!(
                "the NVIDIA NIM Operator manages {} {ns}/{name} ({why}); two writers of one \
                 status would fight. Uninstall the operator, or run the agent only on namespaces \
                 it does not manage (--namespace). An uninstalled operator leaves its finalizers \
                 behind: remove them with `kubectl -n {ns} patch {} {name} --type=json \
                 -p '[{{\"op\":\"remove\",\"path\":\"/metadata/finalizers\"}}]'`",
                kind.kind, kind.plural,
            ));
        }
    }
    Ok(())
}

/// Keep the store's copy of one kind (in one namespace, or all) in step with the cluster.
async fn watch_kind(
    client: Client,
    kind: &'static Kind,
    scope: Option<String>,
    managed_by: String,
    store: Arc<Mutex<Store>>,
    notify: Arc<Notify>,
    shared: Arc<Shared>,
) {
    let mut wc = watcher::Config::default();
    if let Some(s) = selector(kind, &managed_by) {
        wc = wc.labels(&s);
    }
    let mut stream = watcher::watcher(api(&client, kind, scope.as_deref()), wc)
        .default_backoff()
        .boxed();
    let mut buffer = Vec::new();
    while let Some(event) = stream.next().await {
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                shared.with_metrics(|m| *m.watch_errors.entry(kind.kind).or_default() += 1);
                log::warn(
                    "watch failed; retrying",
                    json!({"kind": kind.kind, "namespace": scope, "error": e.to_string()}),
                );
                continue;
            }
        };
        shared.with_metrics(|m| *m.watch_events.entry(kind.kind).or_default() += 1);
        let mut s = lock(&store);
        match event {
            Event::Init => {
                buffer.clear();
                continue;
            }
            Event::InitApply(o) => {
                buffer.push(value_of(kind, o));
                continue;
            }
            Event::InitDone => {
                s.observed
                    .replace_kind(kind.kind, scope.as_deref(), std::mem::take(&mut buffer));
                s.dirty.all = true;
                s.synced.insert((kind.kind, scope.clone()));
                if s.synced.len() == s.expected && !shared.ready.swap(true, Ordering::Relaxed) {
                    log::info(
                        "every watch has listed; ready",
                        json!({"objects": s.observed.len()}),
                    );
                }
            }
            Event::Apply(o) => {
                let ns = o.metadata.namespace.clone().unwrap_or_default();
                let name = o.metadata.name.clone().unwrap_or_default();
                let o = value_of(kind, o);
                // Like the operator's predicate: a NIM resource whose change is only its status
                // (the echo of the agent's own patch) needs no pass.
                let echo = kind.is_nim()
                    && (s.observed.get(kind.kind, &ns, &name))
                        .is_some_and(|b| same_but_status(b, &o));
                s.observed.insert(o);
                if echo {
                    continue;
                }
                s.dirty.namespace(&ns);
            }
            Event::Delete(o) => {
                let ns = o.metadata.namespace.as_deref().unwrap_or_default();
                s.observed.remove(
                    kind.kind,
                    ns,
                    o.metadata.name.as_deref().unwrap_or_default(),
                );
                s.dirty.namespace(ns);
            }
        }
        drop(s);
        notify.notify_one();
    }
}

/// Whether two versions of a resource differ in nothing but `status` (and the bookkeeping
/// the API server changes with it).
fn same_but_status(a: &Value, b: &Value) -> bool {
    let meta = |o: &Value, f: &str| o["metadata"].get(f).cloned();
    a.get("spec") == b.get("spec")
        && [
            "generation",
            "labels",
            "annotations",
            "deletionTimestamp",
            "finalizers",
            "ownerReferences",
        ]
        .iter()
        .all(|f| meta(a, f) == meta(b, f))
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The reconcile loop: recompute on every change (batched), on the resync period and on
/// retries; write the statuses that differ while this replica leads.
struct Reconciler<'a> {
    client: Client,
    config: &'a Config,
    store: Arc<Mutex<Store>>,
    notify: Arc<Notify>,
    shared: Arc<Shared>,
    leader: watch::Receiver<bool>,
    shutdown: watch::Receiver<bool>,
}

/// How long a pass waits after its wake-up, so the events of a burst join one pass.
const DEBOUNCE: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The longest a status patch (with its re-read on conflict) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What a batch of status patches came to.
#[derive(Default)]
struct Written {
    conflicts: usize,
    errors: usize,
}

impl Reconciler<'_> {
    async fn run(mut self) {
        let facts = Arc::new(self.config.facts.clone());
        let mut resync = tokio::time::interval(self.config.resync);
        let mut backoff = Duration::from_millis(200);
        let mut retry_at: Option<tokio::time::Instant> = None;
        let mut models: BTreeMap<String, String> = BTreeMap::new();
        let mut probes = Probes::default();
        let (probe_tx, mut probe_rx) = mpsc::unbounded_channel::<ProbeResult>();
        let mut foreign_logged: BTreeSet<reconcile::Key> = BTreeSet::new();
        let mut known = Known::default();
        loop {
            let retry = async {
                match retry_at {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            let everything = tokio::select! {
                _ = self.notify.notified() => false,
                _ = resync.tick() => true,
                // Failed and conflicting writes marked their namespaces dirty.
                _ = retry => {
                    retry_at = None;
                    false
                }
                Some((key, endpoint, id)) = probe_rx.recv() => {
                    if !probes.record(&key, endpoint, id, &mut models) {
                        continue;
                    }
                    let ns = key.split('/').next().unwrap_or_default();
                    lock(&self.store).dirty.namespace(ns);
                    false
                }
                r = self.leader.changed() => if r.is_err() { break } else { true },
                _ = self.shutdown.changed() => false,
            };
            if everything {
                lock(&self.store).dirty.all = true;
            }
            if *self.shutdown.borrow() {
                break;
            }
            let leading = *self.leader.borrow();
            self.shared.with_metrics(|m| m.leader = leading);
            if !leading || !self.shared.ready.load(Ordering::Relaxed) {
                continue;
            }
            tokio::time::sleep(DEBOUNCE).await;

            let started = Instant::now();
            let now = crate::status::rfc3339(unix_now());
            probes.remember(&lock(&self.store).observed, &mut models);
            let (store, f, ids) = (self.store.clone(), facts.clone(), models.clone());
            let computed = tokio::task::spawn_blocking(move || {
                // Compute on a copy (shared objects: no deep clone), so the watches keep the
                // store while the pass runs, and only for the namespaces that changed.
                let (observed, scope) = {
                    let mut s = lock(&store);
                    (s.observed.clone(), s.dirty.take())
                };
                let pass = reconcile::pass(&observed, &f, &ids, &now, scope.as_ref());
                let mut objects: BTreeMap<&'static str, usize> = BTreeMap::new();
                for k in kinds::WATCHED {
                    objects.insert(k.kind, observed.of_kind(k.kind).count());
                }
                (pass, objects)
            })
            .await;
            let Ok((pass, objects)) = computed else {
                log::error("reconcile pass panicked", Value::Null);
                lock(&self.store).dirty.all = true;
                continue;
            };
            known.update(&pass, pass.scope.as_ref());
            self.record(&pass, &known, objects, started.elapsed().as_secs_f64());
            for (key, why) in &pass.foreign {
                if foreign_logged.insert(key.clone()) {
                    log::warn(
                        "resource managed by the NVIDIA operator; its status is left alone",
                        json!({"kind": key.0, "namespace": key.1, "name": key.2, "evidence": why}),
                    );
                }
            }
            if self.config.probe_models {
                probes.start(&pass, self.config.resync, &probe_tx);
            }

            let written = self.write(pass.updates).await;
            if written.conflicts + written.errors == 0 {
                backoff = Duration::from_millis(200);
                continue;
            }
            if written.errors > 0 {
                self.shared.with_metrics(|m| m.pass_errors += 1);
            }
            // Conflicts were re-read: the next pass starts from the fresh objects.
            retry_at = Some(tokio::time::Instant::now() + backoff);
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    fn record(
        &self,
        pass: &reconcile::Pass,
        known: &Known,
        objects: BTreeMap<&'static str, usize>,
        secs: f64,
    ) {
        self.shared.with_metrics(|m| {
            m.observe_pass(secs);
            m.objects = objects;
            m.rejected = known.rejected.len();
            m.states.clear();
            for ((kind, _, _), state) in &known.states {
                *m.states
                    .entry(kind)
                    .or_default()
                    .entry(state.clone())
                    .or_default() += 1;
            }
        });
        for (key, message) in &pass.rejected {
            if pass.updates.iter().any(|u| &u.key == key) {
                log::warn(
                    "resource cannot be compiled; its status says why",
                    json!({"kind": key.0, "namespace": key.1, "name": key.2, "error": message}),
                );
            }
        }
    }

    /// Send the patches, a few at a time. A 409 means the resource changed since it was
    /// read: it is read again so the next pass works from the fresh object.
    async fn write(&self, updates: Vec<reconcile::Update>) -> Written {
        let mut shutdown = self.shutdown.clone();
        let all = futures::stream::iter(updates)
            .map(|u| async {
                let ns = u.key.1.clone();
                let outcome = tokio::time::timeout(REQUEST_TIMEOUT, self.patch(u))
                    .await
                    .unwrap_or(Outcome::Failed);
                // What was not written is recomputed on the retry.
                if matches!(outcome, Outcome::Failed | Outcome::Conflict) {
                    lock(&self.store).dirty.namespace(&ns);
                }
                outcome
            })
            .buffer_unordered(8)
            .collect::<Vec<Outcome>>();
        // A signal abandons the writes still in flight (each is whole or not sent at all).
        let results = tokio::select! {
            r = all => r,
            _ = shutdown.wait_for(|stop| *stop) => Vec::new(),
        };
        let mut written = Written::default();
        for r in results {
            let result = match r {
                Outcome::Written => "ok",
                Outcome::Skipped => continue,
                Outcome::Conflict => {
                    written.conflicts += 1;
                    "conflict"
                }
                Outcome::Failed => {
                    written.errors += 1;
                    "error"
                }
            };
            self.shared
                .with_metrics(|m| *m.patches.entry(result).or_default() += 1);
        }
        written
    }

    async fn patch(&self, u: reconcile::Update) -> Outcome {
        if !*self.leader.borrow() {
            return Outcome::Skipped;
        }
        let (kind, ns, name) = &u.key;
        let Some(kind) = kinds::find(kind) else {
            return Outcome::Skipped;
        };
        let api = api(&self.client, kind, Some(ns));
        let fields = json!({"kind": kind.kind, "namespace": ns, "name": name});
        match api
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&u.patch))
            .await
        {
            Ok(o) => {
                lock(&self.store).observed.insert(value_of(kind, o));
                log::info(
                    "status written",
                    json!({"kind": kind.kind, "namespace": ns, "name": name,
                           "state": u.status["state"]}),
                );
                Outcome::Written
            }
            Err(kube::Error::Api(e)) if e.code == 409 => {
                log::info("status patch conflicted; re-reading", fields);
                match api.get_status(name).await {
                    Ok(o) => lock(&self.store).observed.insert(value_of(kind, o)),
                    Err(kube::Error::Api(e)) if e.code == 404 => {
                        let mut s = lock(&self.store);
                        s.observed.remove(kind.kind, ns, name);
                        s.dirty.namespace(ns);
                    }
                    Err(_) => {}
                }
                Outcome::Conflict
            }
            Err(kube::Error::Api(e)) if e.code == 404 => {
                let mut s = lock(&self.store);
                s.observed.remove(kind.kind, ns, name);
                s.dirty.namespace(ns);
                Outcome::Skipped
            }
            Err(e) => {
                log::warn(
                    "status patch failed; retrying",
                    json!({"kind": kind.kind, "namespace": ns, "name": name, "error": e.to_string()}),
                );
                Outcome::Failed
            }
        }
    }
}

/// The last computed state of every resource and which could not be compiled, across
/// passes that each cover some namespaces (for the per-state gauges).
#[derive(Default)]
struct Known {
    states: BTreeMap<reconcile::Key, String>,
    rejected: BTreeSet<reconcile::Key>,
}

impl Known {
    fn update(&mut self, pass: &reconcile::Pass, scope: Option<&BTreeSet<String>>) {
        let covered = |k: &reconcile::Key| scope.is_none_or(|s| s.contains(&k.1));
        self.states.retain(|k, _| !covered(k));
        self.rejected.retain(|k| !covered(k));
        for s in &pass.statuses {
            let state = s.status["state"].as_str().unwrap_or_default().to_string();
            self.states
                .insert((s.kind, s.namespace.clone(), s.name.clone()), state);
        }
        self.rejected
            .extend(pass.rejected.iter().map(|(k, _)| k.clone()));
    }
}

enum Outcome {
    Written,
    Skipped,
    Conflict,
    Failed,
}

/// Model-id probes of ready NIMServices: one per endpoint, again after a resync period when
/// it failed, and again when the endpoint changes.
#[derive(Default)]
struct Probes {
    /// `namespace/name` -> the endpoint probed and when.
    tried: BTreeMap<String, (String, Instant)>,
}

type ProbeResult = (String, String, Option<String>);

impl Probes {
    fn start(
        &mut self,
        pass: &reconcile::Pass,
        resync: Duration,
        tx: &mpsc::UnboundedSender<ProbeResult>,
    ) {
        for s in pass.statuses.iter().filter(|s| s.kind == "NIMService") {
            let endpoint = s.status["model"]["clusterEndpoint"].as_str().unwrap_or("");
            if s.status["state"] != "Ready" || endpoint.is_empty() {
                continue;
            }
            let key = format!("{}/{}", s.namespace, s.name);
            // Ask again when the endpoint changes, and every resync period (a new image can
            // serve another model behind the same Service).
            let fresh = self
                .tried
                .get(&key)
                .is_some_and(|(e, at)| e == endpoint && at.elapsed() < resync);
            if fresh {
                continue;
            }
            self.tried
                .insert(key.clone(), (endpoint.to_string(), Instant::now()));
            let (tx, endpoint) = (tx.clone(), endpoint.to_string());
            tokio::spawn(async move {
                let id = probe::model_id(&endpoint, Duration::from_secs(2)).await;
                let _ = tx.send((key, endpoint, id));
            });
        }
    }

    /// Model names already in the live statuses stand until a probe says otherwise, so a new
    /// leader or a restart does not blank them while its probes are under way.
    fn remember(&self, observed: &Observed, models: &mut BTreeMap<String, String>) {
        for o in observed.of_kind("NIMService") {
            let name = o["status"]["model"]["name"].as_str().unwrap_or_default();
            let meta = &o["metadata"];
            let key = format!(
                "{}/{}",
                meta["namespace"].as_str().unwrap_or_default(),
                meta["name"].as_str().unwrap_or_default()
            );
            if !name.is_empty() && !models.contains_key(&key) {
                models.insert(key, name.to_string());
            }
        }
    }

    /// Take a probe's answer; true when the model ids changed.
    fn record(
        &mut self,
        key: &str,
        endpoint: String,
        id: Option<String>,
        models: &mut BTreeMap<String, String>,
    ) -> bool {
        if self.tried.get(key).is_none_or(|(e, _)| *e != endpoint) {
            return false;
        }
        match id {
            Some(id) if models.get(key) != Some(&id) => {
                models.insert(key.to_string(), id);
                true
            }
            _ => false,
        }
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The kinds of every object in `objects` the agent does not watch (empty when the table
/// covers everything nimc renders; a test keeps it so).
pub fn unwatched<'a>(objects: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<String> {
    let mut missing = BTreeSet::new();
    for (api_version, kind) in objects {
        let watched = kinds::find(kind).is_some_and(|k| k.api_version() == api_version);
        if !watched {
            missing.insert(format!("{api_version} {kind}"));
        }
    }
    missing.into_iter().collect()
}
