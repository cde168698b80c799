//! An in-process fake Kubernetes API server over plain HTTP/1.1, for driving the real
//! `nimc agent` binary (there is no API server on CI machines). It keeps objects in memory
//! with resource versions, and serves what the agent uses: list (with label selectors),
//! watch (newline-delimited events, `410 Gone` for a compacted resource version), get,
//! create, replace and merge patch (optimistic concurrency on `resourceVersion`, a `/status`
//! subresource that only changes `status`). Tests can make the next status patches conflict,
//! expire every watch, stop and restart the server on the same port, and read the log of
//! every request (method, path, bearer token, response code).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use nimc::facts::Facts;
use nimc::source::Sources;
use serde_json::{Value, json};

/// One request the server answered.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    /// The bearer token (which agent sent it).
    pub token: String,
    pub code: u16,
}

impl Request {
    pub fn is_watch(&self) -> bool {
        matches!(
            self.query.get("watch").map(String::as_str),
            Some("true" | "1")
        )
    }
}

/// Where an object lives: `group/version` (or `v1`), plural, namespace and name.
type Key = (String, String, String, String);

#[derive(Default)]
struct State {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    /// (resource version, group/version, plural, event type, object)
    events: Vec<(u64, String, String, &'static str, Value)>,
    /// Watches from a resource version below this get 410 Gone.
    compacted: u64,
    conflicts: usize,
    requests: Vec<Request>,
}

struct Inner {
    state: Mutex<State>,
    changed: Condvar,
    up: AtomicBool,
    /// Bumped to end every open watch.
    generation: AtomicU64,
}

/// The server; stops when dropped.
pub struct FakeApi {
    inner: Arc<Inner>,
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.inner.up.store(false, Ordering::SeqCst);
        self.inner.generation.fetch_add(1, Ordering::SeqCst);
        self.inner.changed.notify_all();
    }
}

/// The plural of a kind, as the API server names its resources.
pub fn plural(kind: &str) -> String {
    let k = kind.to_lowercase();
    if k.ends_with('s') {
        format!("{k}es")
    } else {
        format!("{k}s")
    }
}

impl FakeApi {
    pub fn start() -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                rv: 100,
                ..Default::default()
            }),
            changed: Condvar::new(),
            up: AtomicBool::new(true),
            generation: AtomicU64::new(0),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let (i, s) = (inner.clone(), stop.clone());
        thread::spawn(move || accept_loop(Some(listener), port, i, s));
        FakeApi { inner, port, stop }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A kubeconfig for this server that sends `token`.
    pub fn kubeconfig(&self, token: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\n\
             users:\n- name: fake\n  user:\n    token: {token}\ncontexts:\n- name: fake\n  context:\n    \
             cluster: fake\n    user: fake\n    namespace: default\ncurrent-context: fake\n",
            self.url()
        )
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Create or replace an object (as another client would), with a watch event.
    pub fn put(&self, mut o: Value) {
        let key = key_of(&o);
        let mut s = self.lock();
        let kind = if s.objects.contains_key(&key) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        if let Some(old) = s.objects.get(&key) {
            o["metadata"]["uid"] = old["metadata"]["uid"].clone();
        } else {
            o["metadata"]["uid"] = json!(format!("uid-{}", s.rv + 1));
        }
        commit(&mut s, key, o, kind);
        self.inner.changed.notify_all();
    }

    /// Change an object in place (as another client would).
    pub fn update(
        &self,
        api_version: &str,
        kind: &str,
        ns: &str,
        name: &str,
        f: impl FnOnce(&mut Value),
    ) {
        let mut o = self
            .get(api_version, kind, ns, name)
            .expect("object to update");
        f(&mut o);
        self.put(o);
    }

    pub fn get(&self, api_version: &str, kind: &str, ns: &str, name: &str) -> Option<Value> {
        let key = (
            api_version.to_string(),
            plural(kind),
            ns.to_string(),
            name.to_string(),
        );
        self.lock().objects.get(&key).cloned()
    }

    /// Delete an object (as another client would), with a watch event.
    pub fn delete(&self, api_version: &str, kind: &str, ns: &str, name: &str) {
        let key = (
            api_version.to_string(),
            plural(kind),
            ns.to_string(),
            name.to_string(),
        );
        let mut s = self.lock();
        let o = s.objects.get(&key).cloned().expect("object to delete");
        commit(&mut s, key, o, "DELETED");
        drop(s);
        self.inner.changed.notify_all();
    }

    /// Make the next `n` status patches fail with 409 Conflict.
    pub fn conflict_next_status_patches(&self, n: usize) {
        self.lock().conflicts = n;
    }

    /// Compact the event history and end every watch: the watchers must re-list.
    pub fn expire_watches(&self) {
        let mut s = self.lock();
        s.rv += 1;
        s.compacted = s.rv;
        drop(s);
        self.inner.generation.fetch_add(1, Ordering::SeqCst);
        self.inner.changed.notify_all();
    }

    /// Go away: close the listening socket and every connection.
    pub fn go_away(&self) {
        self.inner.up.store(false, Ordering::SeqCst);
        self.inner.generation.fetch_add(1, Ordering::SeqCst);
        self.inner.changed.notify_all();
    }

    /// Come back on the same port, with the same objects.
    pub fn come_back(&self) {
        self.inner.up.store(true, Ordering::SeqCst);
    }

    /// Every stored object but the Leases.
    pub fn objects(&self) -> Vec<Value> {
        self.lock()
            .objects
            .iter()
            .filter(|((_, p, _, _), _)| p != "leases")
            .map(|(_, o)| o.clone())
            .collect()
    }

    pub fn requests(&self) -> Vec<Request> {
        self.lock().requests.clone()
    }

    /// Wait until `f` holds for the stored objects (true) or `timeout` passes (false).
    pub fn wait_until(&self, timeout: Duration, mut f: impl FnMut(&FakeApi) -> bool) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if f(self) {
                return true;
            }
            thread::sleep(Duration::from_millis(50));
        }
        f(self)
    }
}

fn key_of(o: &Value) -> Key {
    let f = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (
        f(&o["apiVersion"]),
        plural(o["kind"].as_str().unwrap_or_default()),
        f(&o["metadata"]["namespace"]),
        f(&o["metadata"]["name"]),
    )
}

/// Store `o` under a new resource version and record the event.
fn commit(s: &mut State, key: Key, mut o: Value, kind: &'static str) -> Value {
    s.rv += 1;
    o["metadata"]["resourceVersion"] = json!(s.rv.to_string());
    let rv = s.rv;
    s.events
        .push((rv, key.0.clone(), key.1.clone(), kind, o.clone()));
    if kind == "DELETED" {
        s.objects.remove(&key);
    } else {
        s.objects.insert(key, o.clone());
    }
    o
}

fn accept_loop(
    mut listener: Option<TcpListener>,
    port: u16,
    inner: Arc<Inner>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::SeqCst) {
        if !inner.up.load(Ordering::SeqCst) {
            listener = None;
            thread::sleep(Duration::from_millis(10));
            continue;
        }
        let l = match &listener {
            Some(l) => l,
            None => match TcpListener::bind(("127.0.0.1", port)) {
                Ok(l) => listener.insert(l),
                Err(_) => {
                    thread::sleep(Duration::from_millis(20));
                    continue;
                }
            },
        };
        l.set_nonblocking(true).ok();
        match l.accept() {
            Ok((stream, _)) => {
                let inner = inner.clone();
                thread::spawn(move || {
                    let _ = handle(stream, &inner);
                });
            }
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a path names.
struct Target {
    api_version: String,
    plural: String,
    namespace: Option<String>,
    name: Option<String>,
    status: bool,
}

fn parse_path(path: &str) -> Option<Target> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (api_version, rest) = match parts.as_slice() {
        ["api", v, rest @ ..] => (v.to_string(), rest),
        ["apis", g, v, rest @ ..] => (format!("{g}/{v}"), rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(ns.to_string()), rest),
        _ => (None, rest),
    };
    let (plural, name, status) = match rest {
        [p] => (p, None, false),
        [p, n] => (p, Some(n.to_string()), false),
        [p, n, "status"] => (p, Some(n.to_string()), true),
        _ => return None,
    };
    Some(Target {
        api_version,
        plural: plural.to_string(),
        namespace,
        name,
        status,
    })
}

fn matches_selector(o: &Value, selector: Option<&String>) -> bool {
    let Some(sel) = selector.filter(|s| !s.is_empty()) else {
        return true;
    };
    sel.split(',').all(|term| match term.split_once('=') {
        Some((k, v)) => o["metadata"]["labels"][k.trim_end_matches('=')].as_str() == Some(v),
        None => false,
    })
}

fn status_body(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

fn respond(stream: &mut TcpStream, code: u16, body: &Value) -> std::io::Result<()> {
    let text = body.to_string();
    let reason = match code {
        200 => "OK",
        201 => "Created",
        404 => "Not Found",
        409 => "Conflict",
        _ => "Error",
    };
    write!(
        stream,
        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    )?;
    stream.flush()
}

fn handle(mut stream: TcpStream, inner: &Inner) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let (mut length, mut token) = (0usize, String::new());
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        let (name, value) = h.split_once(':').unwrap_or((&h, ""));
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().unwrap_or(0),
            "authorization" => token = value.trim().trim_start_matches("Bearer ").to_string(),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let query: BTreeMap<String, String> = query
        .split('&')
        .filter(|q| !q.is_empty())
        .map(|q| {
            let (k, v) = q.split_once('=').unwrap_or((q, ""));
            (decode(k), decode(v))
        })
        .collect();
    let mut request = Request {
        method: method.clone(),
        path: path.to_string(),
        query,
        token,
        code: 0,
    };
    if !inner.up.load(Ordering::SeqCst) {
        return Ok(());
    }
    let Some(t) = parse_path(path) else {
        request.code = 404;
        log(inner, request);
        return respond(
            &mut stream,
            404,
            &status_body(404, "NotFound", "no such path"),
        );
    };
    if method == "GET" && t.name.is_none() && request.is_watch() {
        return watch(stream, inner, t, request);
    }
    let (code, out) = {
        let mut s = inner.state.lock().unwrap_or_else(|e| e.into_inner());
        let r = serve(&mut s, &method, &t, &request, body);
        inner.changed.notify_all();
        r
    };
    request.code = code;
    log(inner, request);
    respond(&mut stream, code, &out)
}

fn log(inner: &Inner, r: Request) {
    inner
        .state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .requests
        .push(r);
}

fn serve(s: &mut State, method: &str, t: &Target, r: &Request, body: Value) -> (u16, Value) {
    let ns = t.namespace.clone().unwrap_or_default();
    let known = |s: &State| {
        s.objects
            .keys()
            .any(|(v, p, _, _)| *v == t.api_version && *p == t.plural)
            || t.plural == "leases"
            || ![
                "leaderworkersets",
                "inferenceservices",
                "inferencepools",
                "httproutes",
                "grpcroutes",
                "servicemonitors",
                "computedomains",
                "resourceclaims",
                "resourceclaimtemplates",
            ]
            .contains(&t.plural.as_str())
    };
    if !known(s) {
        return (
            404,
            status_body(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ),
        );
    }
    let Some(name) = t.name.clone() else {
        return match method {
            "GET" => {
                let items: Vec<Value> = s
                    .objects
                    .iter()
                    .filter(|((v, p, n, _), o)| {
                        *v == t.api_version
                            && *p == t.plural
                            && t.namespace.as_ref().is_none_or(|want| want == n)
                            && matches_selector(o, r.query.get("labelSelector"))
                    })
                    .map(|(_, o)| o.clone())
                    .collect();
                (
                    200,
                    json!({"apiVersion": "v1", "kind": "List",
                             "metadata": {"resourceVersion": s.rv.to_string()}, "items": items}),
                )
            }
            "POST" => {
                let name = body["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let key = (t.api_version.clone(), t.plural.clone(), ns, name);
                if s.objects.contains_key(&key) {
                    return (409, status_body(409, "AlreadyExists", "already exists"));
                }
                let mut o = body;
                o["metadata"]["uid"] = json!(format!("uid-{}", s.rv + 1));
                (201, commit(s, key, o, "ADDED"))
            }
            _ => (
                405,
                status_body(405, "MethodNotAllowed", "method not allowed"),
            ),
        };
    };
    let key = (t.api_version.clone(), t.plural.clone(), ns, name);
    let Some(current) = s.objects.get(&key).cloned() else {
        return (404, status_body(404, "NotFound", "not found"));
    };
    let stale = |given: &Value| {
        given
            .as_str()
            .is_some_and(|rv| Some(rv) != current["metadata"]["resourceVersion"].as_str())
    };
    match method {
        "GET" => (200, current),
        "PUT" => {
            if stale(&body["metadata"]["resourceVersion"]) {
                return (
                    409,
                    status_body(409, "Conflict", "the object has been modified"),
                );
            }
            let mut o = body;
            o["metadata"]["uid"] = current["metadata"]["uid"].clone();
            if !t.status && current.get("status").is_some() && t.plural != "leases" {
                o["status"] = current["status"].clone();
            }
            (200, commit(s, key, o, "MODIFIED"))
        }
        "PATCH" => {
            if t.status && s.conflicts > 0 {
                s.conflicts -= 1;
                return (
                    409,
                    status_body(
                        409,
                        "Conflict",
                        "the object has been modified; please apply your changes to the latest version and try again",
                    ),
                );
            }
            if stale(&body["metadata"]["resourceVersion"]) {
                return (
                    409,
                    status_body(409, "Conflict", "the object has been modified"),
                );
            }
            let mut o = current.clone();
            if t.status {
                if let Some(status) = body.get("status") {
                    let mut st = o.get("status").cloned().unwrap_or(json!({}));
                    json_patch::merge(&mut st, status);
                    o["status"] = st;
                }
            } else {
                json_patch::merge(&mut o, &body);
            }
            (200, commit(s, key, o, "MODIFIED"))
        }
        "DELETE" => (200, commit(s, key, current, "DELETED")),
        _ => (
            405,
            status_body(405, "MethodNotAllowed", "method not allowed"),
        ),
    }
}

fn watch(
    mut stream: TcpStream,
    inner: &Inner,
    t: Target,
    mut request: Request,
) -> std::io::Result<()> {
    let generation = inner.generation.load(Ordering::SeqCst);
    let from: u64 = request
        .query
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let timeout = request
        .query
        .get("timeoutSeconds")
        .and_then(|v| v.parse().ok())
        .unwrap_or(290u64);
    let selector = request.query.get("labelSelector").cloned();
    let compacted = inner
        .state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .compacted;
    request.code = if from < compacted { 410 } else { 200 };
    log(inner, request.clone());
    stream.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    )?;
    let mut send = |v: &Value| -> std::io::Result<()> {
        let line = format!("{v}\n");
        write!(stream, "{:x}\r\n{line}\r\n", line.len())?;
        stream.flush()
    };
    if from < compacted {
        send(
            &json!({"type": "ERROR", "object": status_body(410, "Expired", "too old resource version")}),
        )?;
        return stream.write_all(b"0\r\n\r\n");
    }
    let end = Instant::now() + Duration::from_secs(timeout);
    let mut last = from;
    loop {
        let pending: Vec<Value> = {
            let s = inner.state.lock().unwrap_or_else(|e| e.into_inner());
            let events: Vec<Value> = s
                .events
                .iter()
                .filter(|(rv, v, p, _, o)| {
                    *rv > last
                        && *v == t.api_version
                        && *p == t.plural
                        && t.namespace
                            .as_ref()
                            .is_none_or(|n| o["metadata"]["namespace"] == n.as_str())
                        && matches_selector(o, selector.as_ref())
                })
                .map(|(_, _, _, kind, o)| json!({"type": kind, "object": o}))
                .collect();
            last = s.rv;
            if events.is_empty() {
                let (_guard, _) = inner
                    .changed
                    .wait_timeout(s, Duration::from_millis(100))
                    .unwrap_or_else(|e| e.into_inner());
            }
            events
        };
        for e in &pending {
            send(e)?;
        }
        if inner.generation.load(Ordering::SeqCst) != generation
            || !inner.up.load(Ordering::SeqCst)
            || Instant::now() > end
        {
            // An expired or interrupted watch ends without the final chunk when the server goes
            // away, and with it when the watch just times out.
            if inner.up.load(Ordering::SeqCst) {
                stream.write_all(b"0\r\n\r\n")?;
            }
            return Ok(());
        }
    }
}

/// A NIMService for a single-GPU Llama NIM with its own PVC.
pub fn nim_service(namespace: &str, name: &str) -> Value {
    json!({
        "apiVersion": "apps.nvidia.com/v1alpha1", "kind": "NIMService",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "image": {"repository": "nvcr.io/nim/meta/llama-3.1-8b-instruct", "tag": "1.3.3",
                      "pullSecrets": ["ngc-secret"]},
            "authSecret": "ngc-api-secret",
            "storage": {"pvc": {"create": true, "size": "50Gi", "volumeAccessMode": "ReadWriteOnce"}},
            "replicas": 1,
            "resources": {"limits": {"nvidia.com/gpu": 1}},
            "expose": {"service": {"type": "ClusterIP", "port": 8000}}
        }
    })
}

/// A one-replica Deployment's status, rolled out and available or not.
pub fn deployment_status(ready: bool) -> Value {
    let n = i64::from(ready);
    json!({
        "replicas": 1, "updatedReplicas": n, "availableReplicas": n, "readyReplicas": n,
        "conditions": [
            {"type": "Available", "status": if ready { "True" } else { "False" }},
            {"type": "Progressing", "status": "True",
             "reason": if ready { "NewReplicaSetAvailable" } else { "ReplicaSetUpdated" }}
        ]
    })
}

/// A fake cluster after a GitOps apply: `resources` and what nimc renders for them (default
/// facts), as the API server holds them, with every Deployment ready.
pub fn cluster(resources: &[Value]) -> FakeApi {
    let api = FakeApi::start();
    let sources = Sources::from_texts(
        resources
            .iter()
            .enumerate()
            .map(|(i, r)| (format!("cr-{i}.json"), r.to_string())),
    );
    let c = nimc::compile(&sources, &Facts::default());
    assert!(!c.has_errors(), "{:?}", c.diagnostics);
    resources.iter().for_each(|r| api.put(r.clone()));
    for r in &c.objects {
        let mut o = r.value().expect("rendered YAML reads back").into_owned();
        match o["kind"].as_str() {
            // The API server copies a Job's pod-template labels onto a Job without labels.
            Some("Job") if o["metadata"]["labels"].is_null() => {
                o["metadata"]["labels"] = o["spec"]["template"]["metadata"]["labels"].clone();
            }
            Some("Service") => o["spec"]["clusterIP"] = json!("10.0.0.10"),
            Some("Deployment") => o["status"] = deployment_status(true),
            _ => {}
        }
        api.put(o);
    }
    api
}
