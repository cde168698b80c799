//! `nimc agent` end to end: the real binary against the in-process fake API server
//! ([`super::fake_api`]). The statuses it writes must be the ones `nimc status --observed`
//! computes offline from the same objects; it must survive watch events, 409 conflicts, 410
//! Gone, an API server that goes away and comes back, and hand its lease over; its only
//! writes are status patches and its Lease, each allowed by `deploy/agent/rbac.yaml`.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::fake_api::{FakeApi, Request, cluster, deployment_status, nim_service};
use super::support;
use nimc::facts::Facts;
use nimc::source::Sources;

const NS: &str = "nim";
const NIM: &str = "apps.nvidia.com/v1alpha1";
const WAIT: Duration = Duration::from_secs(40);

fn service(name: &str) -> Value {
    nim_service(NS, name)
}

fn cache(name: &str) -> Value {
    json!({
        "apiVersion": NIM, "kind": "NIMCache",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "source": {"ngc": {"modelPuller": "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3",
                               "pullSecret": "ngc-secret", "authSecret": "ngc-api-secret",
                               "model": {"profiles": ["all"]}}},
            "storage": {"pvc": {"create": true, "size": "50Gi", "volumeAccessMode": "ReadWriteOnce"}}
        }
    })
}

fn deployment_ready(api: &FakeApi, name: &str, ready: bool) {
    api.update("apps/v1", "Deployment", NS, name, |d| {
        d["status"] = deployment_status(ready)
    });
}

/// The statuses `nimc status --observed` computes from what `api` holds now.
fn offline(api: &FakeApi, resources: &[Value]) -> BTreeMap<(String, String), Value> {
    let live: Vec<String> = api.objects().iter().map(Value::to_string).collect();
    let observed = nimc::status::Observed::parse(&Sources::from_texts([(
        "observed.yaml",
        live.join("\n---\n"),
    )]))
    .unwrap();
    let sources = Sources::from_texts(
        resources
            .iter()
            .enumerate()
            .map(|(i, r)| (format!("cr-{i}.json"), r.to_string())),
    );
    let (statuses, c) = nimc::status(
        &sources,
        &Facts::default(),
        &observed,
        &BTreeMap::new(),
        "now",
    );
    assert!(!c.has_errors(), "{:?}", c.diagnostics);
    statuses
        .into_iter()
        .map(|s| ((s.kind.to_string(), s.name), without_times(s.status)))
        .collect()
}

fn without_times(mut status: Value) -> Value {
    if let Some(cs) = status["conditions"].as_array_mut() {
        for c in cs {
            c.as_object_mut().map(|m| m.remove("lastTransitionTime"));
        }
    }
    status
}

fn status_of(api: &FakeApi, kind: &str, name: &str) -> Value {
    api.get(NIM, kind, NS, name)
        .map(|o| o["status"].clone())
        .unwrap_or(Value::Null)
}

fn state_is(api: &FakeApi, kind: &str, name: &str, state: &str) -> bool {
    status_of(api, kind, name)["state"] == state
}

/// A running `nimc agent`; killed when dropped.
struct Agent {
    child: Child,
    log: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Agent {
    fn start(api: &FakeApi, identity: &str) -> Agent {
        Agent::launch(api, identity, &["--no-model-probe"])
    }

    fn launch(api: &FakeApi, identity: &str, extra: &[&str]) -> Agent {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        fs::write(&kubeconfig, api.kubeconfig(identity)).unwrap();
        let addr = "127.0.0.1:0";
        let log = dir.path().join("agent.log");
        let child = Command::new(support::nimc())
            .args([
                "agent",
                "--identity",
                identity,
                "--lease-namespace",
                "nimc-system",
            ])
            .args([
                "--lease-duration",
                "3s",
                "--lease-retry",
                "300ms",
                // Longer than any wait: every change must reach the status through the
                // watches, not through the periodic resync.
                "--resync",
                "300s",
            ])
            .args(["--health-addr", addr, "--metrics-addr", addr])
            .args(extra)
            .env("KUBECONFIG", &kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("POD_NAMESPACE")
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .expect("start nimc agent");
        let mut agent = Agent {
            child,
            log,
            port: 0,
            _dir: dir,
        };
        // The endpoints listen on a port the system picks; the first log line names it.
        let end = Instant::now() + WAIT;
        while agent.port == 0 && Instant::now() < end {
            let log = agent.log();
            agent.port = log
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find_map(|l| l["listening"][0].as_str()?.rsplit(':').next()?.parse().ok())
                .unwrap_or(0);
            std::thread::sleep(Duration::from_millis(20));
        }
        agent
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn get(&self, path: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return (0, String::new());
        };
        let _ = write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        let code = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (code, body)
    }

    /// SIGTERM, and the exit code within 15 s.
    fn terminate(&mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let end = Instant::now() + Duration::from_secs(15);
        while Instant::now() < end {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A cluster holding the NIMService `llama` (its Deployment ready), and an agent that has
/// reported it Ready.
fn llama_reported_ready(identity: &str) -> (Vec<Value>, FakeApi, Agent) {
    let resources = vec![service("llama")];
    let api = cluster(&resources);
    let agent = Agent::start(&api, identity);
    expect(&api, &agent, "llama Ready", |a| {
        state_is(a, "NIMService", "llama", "Ready")
    });
    (resources, api, agent)
}

/// Wait for `f`, failing with the agent's log.
fn expect(api: &FakeApi, agent: &Agent, what: &str, f: impl FnMut(&FakeApi) -> bool) {
    assert!(
        api.wait_until(WAIT, f),
        "timed out waiting for {what}; agent log:\n{}",
        agent.log()
    );
}

fn lease_holder(api: &FakeApi) -> Option<String> {
    api.get(
        "coordination.k8s.io/v1",
        "Lease",
        "nimc-system",
        "nimc-agent",
    )
    .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_string))
}

fn status_patches(requests: &[Request]) -> Vec<&Request> {
    requests
        .iter()
        .filter(|r| r.method == "PATCH" && r.path.ends_with("/status"))
        .collect()
}

/// Every write is a status patch on a NIM resource or a Lease write: never a spec.
fn assert_only_status_and_lease_writes(requests: &[Request]) {
    for r in requests.iter().filter(|r| r.method != "GET") {
        let status = r.method == "PATCH"
            && r.path
                .starts_with("/apis/apps.nvidia.com/v1alpha1/namespaces/")
            && r.path.ends_with("/status");
        let lease = r
            .path
            .starts_with("/apis/coordination.k8s.io/v1/namespaces/nimc-system/leases")
            && (r.method == "POST" || r.method == "PUT");
        assert!(
            status || lease,
            "the agent wrote something else: {} {}",
            r.method,
            r.path
        );
    }
}

#[test]
fn the_agent_writes_the_statuses_nimc_status_computes_and_follows_the_cluster() {
    // Initial list: the status is the offline one.
    let (resources, api, mut agent) = llama_reported_ready("a");
    let want = offline(&api, &resources);
    let got = without_times(status_of(&api, "NIMService", "llama"));
    assert_eq!(got, want[&("NIMService".into(), "llama".into())]);
    assert!(
        got["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "Drifted" && c["status"] == "False"),
        "{got}"
    );
    assert_eq!(lease_holder(&api).as_deref(), Some("a"));
    let (code, _) = agent.get("/readyz");
    assert_eq!(code, 200);

    // A watch event: the Deployment loses its replicas.
    deployment_ready(&api, "llama", false);
    expect(&api, &agent, "llama NotReady", |a| {
        state_is(a, "NIMService", "llama", "NotReady")
    });
    assert_eq!(
        without_times(status_of(&api, "NIMService", "llama")),
        offline(&api, &resources)[&("NIMService".into(), "llama".into())]
    );

    // A resource that appears later is picked up by the watch.
    let mut resources2 = resources.clone();
    resources2.push(cache("cache"));
    api.put(cache("cache"));
    expect(&api, &agent, "cache status", |a| {
        !status_of(a, "NIMCache", "cache").is_null()
    });
    assert_eq!(
        without_times(status_of(&api, "NIMCache", "cache")),
        offline(&api, &resources2)[&("NIMCache".into(), "cache".into())]
    );

    // Two 409 conflicts on the status patch: the agent re-reads and the update still lands.
    let before = status_patches(&api.requests()).len();
    api.conflict_next_status_patches(2);
    deployment_ready(&api, "llama", true);
    expect(&api, &agent, "llama Ready after conflicts", |a| {
        state_is(a, "NIMService", "llama", "Ready")
    });
    let requests = api.requests();
    let patches = &status_patches(&requests)[before..];
    assert!(
        patches.iter().filter(|r| r.code == 409).count() >= 2,
        "{patches:?}"
    );
    assert_eq!(patches.last().unwrap().code, 200);

    // 410 Gone: every watch expires; the watches list again and see the next change.
    let before = api.requests().len();
    api.expire_watches();
    deployment_ready(&api, "llama", false);
    expect(&api, &agent, "llama NotReady after 410", |a| {
        state_is(a, "NIMService", "llama", "NotReady")
    });
    let requests = api.requests();
    let after = &requests[before..];
    assert!(
        after.iter().any(|r| r.is_watch() && r.code == 410),
        "no 410 served"
    );
    assert!(
        after
            .iter()
            .any(|r| r.method == "GET" && !r.is_watch() && r.path.ends_with("/deployments")),
        "the Deployment watch did not list again"
    );

    // The API server goes away; the Deployment becomes ready meanwhile; it comes back.
    api.go_away();
    std::thread::sleep(Duration::from_millis(1500));
    deployment_ready(&api, "llama", true);
    api.come_back();
    expect(&api, &agent, "llama Ready after the outage", |a| {
        state_is(a, "NIMService", "llama", "Ready")
    });

    // A resource nimc cannot compile fails alone, with the diagnostic in its status.
    let mut broken = service("broken");
    broken["spec"]["replica"] = json!(2);
    api.put(broken);
    expect(&api, &agent, "broken Failed", |a| {
        state_is(a, "NIMService", "broken", "Failed")
    });
    let failed = status_of(&api, "NIMService", "broken");
    let message = failed["conditions"][1]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.starts_with("NIMC") && message.contains("replica"),
        "{failed}"
    );
    assert!(state_is(&api, "NIMService", "llama", "Ready"));

    // A deleted object: the next pass reports it missing.
    api.delete("apps/v1", "Deployment", NS, "llama");
    expect(&api, &agent, "llama NotReady without its Deployment", |a| {
        let s = status_of(a, "NIMService", "llama");
        s["state"] == "NotReady"
            && s["conditions"].as_array().unwrap().iter().any(|c| {
                c["type"] == "Drifted"
                    && c["message"]
                        .as_str()
                        .unwrap_or("")
                        .contains("Deployment/llama is missing")
            })
    });

    // Metrics, then a clean shutdown that releases the lease.
    let (code, metrics) = agent.get("/metrics");
    assert_eq!(code, 200);
    for series in [
        "nimc_agent_reconcile_total ",
        "nimc_agent_status_patches_total{result=\"conflict\"} ",
        "nimService_status_total{status=\"NotReady\"} 1",
        "nimService_status_total{status=\"Failed\"} 1",
        "nimCache_status_total{status=\"all\"} 1",
        "nimc_agent_leader 1",
    ] {
        assert!(
            metrics.contains(series),
            "{series} missing from:\n{metrics}"
        );
    }
    assert_eq!(agent.terminate(), Some(0), "{}", agent.log());
    assert_eq!(lease_holder(&api), None);

    let requests = api.requests();
    assert_only_status_and_lease_writes(&requests);
    assert_rbac_allows(&requests);
    // Every log line is one JSON object.
    for line in agent.log().lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(
            v["time"].is_string() && v["level"].is_string() && v["msg"].is_string(),
            "{line}"
        );
    }
}

#[test]
fn the_lease_hands_over_between_two_agents() {
    let (_, api, mut a) = llama_reported_ready("a");
    assert_eq!(lease_holder(&api).as_deref(), Some("a"));
    let b = Agent::start(&api, "b");
    expect(&api, &b, "b ready", |_| b.get("/readyz").0 == 200);
    deployment_ready(&api, "llama", false);
    expect(&api, &a, "llama NotReady", |x| {
        state_is(x, "NIMService", "llama", "NotReady")
    });
    let requests = api.requests();
    assert!(
        status_patches(&requests).iter().all(|r| r.token == "a"),
        "b wrote while a led"
    );

    // a stops: it releases the lease, b takes it and writes the next change.
    assert_eq!(a.terminate(), Some(0), "{}", a.log());
    expect(&api, &b, "b holds the lease", |x| {
        lease_holder(x).as_deref() == Some("b")
    });
    let before = api.requests().len();
    deployment_ready(&api, "llama", true);
    expect(&api, &b, "llama Ready via b", |x| {
        state_is(x, "NIMService", "llama", "Ready")
    });
    let requests = api.requests();
    let after = status_patches(&requests[before..]);
    assert!(
        !after.is_empty() && after.iter().all(|r| r.token == "b"),
        "{after:?}"
    );
    assert_only_status_and_lease_writes(&requests);
    assert_rbac_allows(&requests);
}

#[test]
fn a_leader_that_dies_is_replaced_when_its_lease_expires() {
    let (_, api, mut a) = llama_reported_ready("a");
    let b = Agent::start(&api, "b");
    expect(&api, &b, "b ready", |_| b.get("/readyz").0 == 200);
    let _ = a.child.kill();
    let _ = a.child.wait();
    // No release: b waits out the lease duration (3 s) before it takes over.
    expect(&api, &b, "b holds the lease", |x| {
        lease_holder(x).as_deref() == Some("b")
    });
    deployment_ready(&api, "llama", false);
    expect(&api, &b, "llama NotReady via b", |x| {
        state_is(x, "NIMService", "llama", "NotReady")
    });
}

#[test]
fn the_agent_refuses_to_run_beside_the_nvidia_operator() {
    let mut managed = service("llama");
    managed["metadata"]["finalizers"] = json!(["finalizer.nimservice.apps.nvidia.com"]);
    let api = cluster(&[managed]);
    let mut agent = Agent::start(&api, "a");
    assert_eq!(agent.wait_exit(WAIT), Some(1), "{}", agent.log());
    let log = agent.log();
    assert!(
        log.contains("NVIDIA NIM Operator manages NIMService nim/llama"),
        "{log}"
    );
    assert!(
        log.contains("kubectl -n nim patch nimservices llama --type=json"),
        "{log}"
    );
    assert!(
        api.requests().iter().all(|r| r.method == "GET"),
        "it wrote something"
    );
}

/// The agent's RBAC (`deploy/agent/rbac.yaml`) grants every request it made.
fn assert_rbac_allows(requests: &[Request]) {
    let rules = rbac_rules();
    for r in requests {
        let Some((group, resource, verb, namespaced)) = rbac_request(r) else {
            continue;
        };
        let allowed = rules.iter().any(|(cluster_wide, g, res, verbs)| {
            (*cluster_wide || namespaced)
                && g == &group
                && res.contains(&resource)
                && verbs.contains(&verb)
        });
        assert!(
            allowed,
            "deploy/agent/rbac.yaml does not allow {verb} {group}/{resource} ({} {})",
            r.method, r.path
        );
    }
}

/// The rules of deploy/agent/rbac.yaml: (cluster-wide, group, resources, verbs).
fn rbac_rules() -> Vec<(bool, String, Vec<String>, Vec<String>)> {
    let text = fs::read_to_string(support::root().join("deploy/agent/rbac.yaml")).unwrap();
    let docs = nimc::yaml::parse_documents(&text, nimc::yaml::Limits::default()).unwrap();
    let mut out = Vec::new();
    for d in &docs {
        let v: Value = nimc::yaml::de::from_node(d).unwrap();
        let cluster_wide = match v["kind"].as_str() {
            Some("ClusterRole") => true,
            Some("Role") => false,
            _ => continue,
        };
        for rule in v["rules"].as_array().unwrap() {
            let list = |f: &str| -> Vec<String> {
                rule[f]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_str().unwrap().to_string())
                    .collect()
            };
            for g in list("apiGroups") {
                out.push((cluster_wide, g, list("resources"), list("verbs")));
            }
        }
    }
    out
}

/// A request as RBAC sees it: (group, resource[/subresource], verb, namespaced).
fn rbac_request(r: &Request) -> Option<(String, String, String, bool)> {
    let parts: Vec<&str> = r.path.trim_matches('/').split('/').collect();
    let (group, rest) = match parts.as_slice() {
        ["api", _, rest @ ..] => (String::new(), rest),
        ["apis", g, _, rest @ ..] => (g.to_string(), rest),
        _ => return None,
    };
    let (namespaced, rest) = match rest {
        ["namespaces", _, rest @ ..] => (true, rest),
        _ => (false, rest),
    };
    let (resource, named) = match rest {
        [p] => (p.to_string(), false),
        [p, _] => (p.to_string(), true),
        [p, _, sub] => (format!("{p}/{sub}"), true),
        _ => return None,
    };
    let verb = match (r.method.as_str(), named) {
        ("GET", false) if r.is_watch() => "watch",
        ("GET", false) => "list",
        ("GET", true) => "get",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", _) => "delete",
        _ => return None,
    };
    Some((group, resource, verb.to_string(), namespaced))
}

#[test]
fn the_rbac_grants_reads_of_the_watched_kinds_and_writes_only_of_statuses_and_the_lease() {
    let rules = rbac_rules();
    for k in nimc::agent::kinds::WATCHED {
        for verb in ["get", "list", "watch"] {
            assert!(
                rules.iter().any(|(cw, g, res, verbs)| *cw
                    && g == k.group
                    && res.iter().any(|r| r == k.plural)
                    && verbs.iter().any(|v| v == verb)),
                "rbac.yaml lacks {verb} on {}/{}",
                k.group,
                k.plural
            );
        }
    }
    for (cluster_wide, group, resources, verbs) in &rules {
        for res in resources {
            let watched = nimc::agent::kinds::WATCHED
                .iter()
                .any(|k| k.group == group && k.plural == res);
            let status = group == "apps.nvidia.com" && res.ends_with("/status");
            let lease = !cluster_wide && group == "coordination.k8s.io" && res == "leases";
            assert!(
                watched || status || lease,
                "rbac.yaml grants {group}/{res}, which the agent does not use"
            );
            for v in verbs {
                let read = ["get", "list", "watch"].contains(&v.as_str());
                let write_ok = (status && v == "patch")
                    || (lease && ["create", "update"].contains(&v.as_str()));
                assert!(read || write_ok, "rbac.yaml grants {v} on {group}/{res}");
            }
        }
    }
}

#[test]
fn every_kind_nimc_renders_is_watched() {
    let mut kinds = Vec::new();
    for dir in support::examples() {
        let c = support::render_dir(&dir);
        kinds.extend(c.objects.iter().map(|o| (o.api_version, o.kind)));
    }
    for case in support::shared()
        .map(|s| s.join("conformance/cases"))
        .into_iter()
    {
        for entry in fs::read_dir(case).into_iter().flatten().flatten() {
            let c = support::render_dir(&entry.path().join("input"));
            kinds.extend(c.objects.iter().map(|o| (o.api_version, o.kind)));
        }
    }
    assert!(kinds.len() > 20);
    assert_eq!(nimc::agent::unwatched(kinds), Vec::<String>::new());
}

fn documents(path: &str) -> Vec<Value> {
    let text = fs::read_to_string(support::root().join(path)).unwrap();
    let docs = nimc::yaml::parse_documents(&text, nimc::yaml::Limits::default()).unwrap();
    docs.iter()
        .map(|d| nimc::yaml::de::from_node(d).unwrap())
        .collect()
}

#[test]
fn the_agent_manifests_fit_together() {
    use k8s_openapi::api::apps::v1::Deployment;
    let docs = documents("deploy/agent/deployment.yaml");
    let deployment: Deployment = serde_json::from_value(docs[0].clone()).unwrap();
    let spec = deployment.spec.unwrap().template.spec.unwrap();
    let namespace = deployment.metadata.namespace.unwrap();
    let account = spec.service_account_name.unwrap();
    let sa = &documents("deploy/agent/serviceaccount.yaml")[0];
    assert_eq!(
        (
            sa["metadata"]["name"].as_str(),
            sa["metadata"]["namespace"].as_str()
        ),
        (Some(account.as_str()), Some(namespace.as_str()))
    );
    for binding in documents("deploy/agent/rbac.yaml")
        .iter()
        .filter(|d| d["kind"].as_str().unwrap().ends_with("Binding"))
    {
        assert_eq!(binding["subjects"][0]["name"], account.as_str());
        assert_eq!(binding["subjects"][0]["namespace"], namespace.as_str());
    }
    for role in documents("deploy/agent/rbac.yaml")
        .iter()
        .filter(|d| d["kind"] == "Role")
    {
        assert_eq!(
            role["metadata"]["namespace"],
            namespace.as_str(),
            "the Lease lives in the agent's namespace"
        );
    }
    // Every flag the Deployment passes is one `nimc agent` takes.
    let help = Command::new(support::nimc())
        .args(["agent", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for arg in spec.containers[0].args.clone().unwrap() {
        let flag = arg.split('=').next().unwrap();
        assert!(help.contains(flag), "nimc agent does not take {flag}");
    }
    // The bundled facts file is one nimc reads.
    let facts = nimc::source::read_one(&support::root().join("deploy/agent/nimc.yaml")).unwrap();
    nimc::facts::parse(&facts, 0).unwrap();
}

#[test]
fn the_model_id_is_read_from_the_nims_v1_models() {
    use std::io::{Read, Write};
    // A NIM answering GET /v1/models.
    let nim = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = nim.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in nim.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let n = conn.read(&mut buf).unwrap_or(0);
            let body = if String::from_utf8_lossy(&buf[..n]).starts_with("GET /v1/models ") {
                r#"{"object":"list","data":[{"id":"meta/llama-3.1-8b-instruct","object":"model"}]}"#
            } else {
                ""
            };
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let mut cr = service("llama");
    cr["spec"]["expose"]["service"]["port"] = json!(port);
    let api = cluster(std::slice::from_ref(&cr));
    api.update("v1", "Service", NS, "llama", |s| {
        s["spec"]["clusterIP"] = json!("127.0.0.1")
    });
    let agent = Agent::launch(&api, "a", &[]);
    expect(&api, &agent, "the model name", |a| {
        status_of(a, "NIMService", "llama")["model"]["name"] == "meta/llama-3.1-8b-instruct"
    });
    let model = &status_of(&api, "NIMService", "llama")["model"];
    assert_eq!(model["clusterEndpoint"], format!("127.0.0.1:{port}"));
}

#[test]
fn an_agent_limited_to_namespaces_leaves_the_others_alone() {
    let api = cluster(&[service("llama")]);
    let agent = Agent::launch(&api, "a", &["--no-model-probe", "--namespace", "elsewhere"]);
    expect(&api, &agent, "ready", |_| agent.get("/readyz").0 == 200);
    expect(&api, &agent, "the lease", |a| {
        lease_holder(a).as_deref() == Some("a")
    });
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        status_of(&api, "NIMService", "llama"),
        Value::Null,
        "{}",
        agent.log()
    );
    let requests = api.requests();
    assert!(
        requests
            .iter()
            .filter(|r| r.method == "GET" && !r.path.contains("/leases"))
            .all(|r| r.path.contains("/namespaces/elsewhere/")),
        "it read outside its namespace"
    );
    assert_rbac_allows(&requests);
}

#[test]
fn without_leader_election_a_single_agent_writes_at_once() {
    let api = cluster(&[service("llama")]);
    let agent = Agent::launch(&api, "a", &["--no-model-probe", "--no-leader-elect"]);
    expect(&api, &agent, "llama Ready", |a| {
        state_is(a, "NIMService", "llama", "Ready")
    });
    let requests = api.requests();
    assert!(
        requests.iter().all(|r| !r.path.contains("/leases")),
        "it used a Lease"
    );
    assert_only_status_and_lease_writes(&requests);
}

#[test]
fn lease_timings_that_would_make_replicas_fight_are_refused() {
    let out = Command::new(support::nimc())
        .args(["agent", "--lease-duration", "2s", "--lease-retry", "2s"])
        .env("KUBECONFIG", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--lease-duration"));
}
