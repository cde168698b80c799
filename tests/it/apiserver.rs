//! A real Kubernetes API server for tests: etcd and kube-apiserver from `KUBEBUILDER_ASSETS`
//! (the envtest convention; `../shared/envtest/setup.sh` fills such a folder, as does
//! `setup-envtest use -p path`), started on free loopback ports in a temporary folder with a
//! self-made CA, an admin token and RBAC, and stopped when dropped. Without the variable a test
//! prints a visible skip line; `NIMC_TEST_ENVTEST=1` (set by `.ci/run`) makes it fail instead.
//!
//! The checks here: every object nimc renders from the examples, the conformance inputs and
//! the rule fixtures that render is admitted by a server-side dry run, with the upstream CRDs
//! of `tests/upstream-crds/` installed.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::{nimc, root, yaml_docs};

pub struct ApiServer {
    _dir: tempfile::TempDir,
    children: Vec<Child>,
    pub kubeconfig: PathBuf,
    assets: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run a setup command");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl ApiServer {
    /// Start one, or `None` (after a visible skip line) when no assets are configured.
    pub fn start(test: &str) -> Option<ApiServer> {
        let Some(assets) = std::env::var_os("KUBEBUILDER_ASSETS").map(PathBuf::from) else {
            assert!(
                std::env::var_os("NIMC_TEST_ENVTEST").is_none(),
                "{test}: NIMC_TEST_ENVTEST is set but KUBEBUILDER_ASSETS is not"
            );
            eprintln!(
                "SKIPPED {test}: KUBEBUILDER_ASSETS is not set (a folder with etcd, kube-apiserver and kubectl: ../shared/envtest/setup.sh prints one)"
            );
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let pki = dir.path().join("pki");
        std::fs::create_dir_all(&pki).unwrap();
        let p = |f: &str| pki.join(f);
        let openssl = |args: &[&str]| {
            run(Command::new("openssl").args(args).current_dir(&pki));
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=nimc-test-ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=kube-apiserver",
            "-keyout",
            "api.key",
            "-out",
            "api.csr",
        ]);
        std::fs::write(
            p("api.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "api.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "api.ext",
            "-out",
            "api.crt",
        ]);
        openssl(&["genrsa", "-out", "sa.key", "2048"]);
        openssl(&["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"]);
        let token = format!("nimc-test-{}", std::process::id());
        std::fs::write(
            p("tokens.csv"),
            format!("{token},admin,admin-uid,\"system:masters\"\n"),
        )
        .unwrap();
        let (etcd_client, etcd_peer, api) = (free_port(), free_port(), free_port());
        let log = |name: &str| std::fs::File::create(dir.path().join(name)).unwrap();
        let etcd = Command::new(assets.join("etcd"))
            .args(["--name", "nimc-test", "--data-dir"])
            .arg(dir.path().join("etcd"))
            .arg(format!(
                "--listen-client-urls=http://127.0.0.1:{etcd_client}"
            ))
            .arg(format!("--listen-peer-urls=http://127.0.0.1:{etcd_peer}"))
            .stdout(Stdio::null())
            .stderr(log("etcd.log"))
            .spawn()
            .expect("start etcd from KUBEBUILDER_ASSETS");
        let apiserver = Command::new(assets.join("kube-apiserver"))
            .args([
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                "--endpoint-reconciler-type=none",
                "--service-account-issuer=https://kubernetes.default.svc",
                "--authorization-mode=RBAC",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--allow-privileged=true",
                "--profiling=false",
            ])
            .arg(format!("--secure-port={api}"))
            .arg(format!("--etcd-servers=http://127.0.0.1:{etcd_client}"))
            .arg(format!("--tls-cert-file={}", p("api.crt").display()))
            .arg(format!("--tls-private-key-file={}", p("api.key").display()))
            .arg(format!("--client-ca-file={}", p("ca.crt").display()))
            .arg(format!(
                "--service-account-key-file={}",
                p("sa.pub").display()
            ))
            .arg(format!(
                "--service-account-signing-key-file={}",
                p("sa.key").display()
            ))
            .arg(format!("--token-auth-file={}", p("tokens.csv").display()))
            .stdout(Stdio::null())
            .stderr(log("kube-apiserver.log"))
            .spawn()
            .expect("start kube-apiserver from KUBEBUILDER_ASSETS");
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters: [{{name: t, cluster: {{server: \"https://127.0.0.1:{api}\", certificate-authority: \"{}\"}}}}]\nusers: [{{name: admin, user: {{token: \"{token}\"}}}}]\ncontexts: [{{name: t, context: {{cluster: t, user: admin}}}}]\ncurrent-context: t\n",
                p("ca.crt").display()
            ),
        )
        .unwrap();
        let server = ApiServer {
            _dir: dir,
            children: vec![etcd, apiserver],
            kubeconfig,
            assets,
        };
        let start = Instant::now();
        while !server
            .kubectl(&["get", "--raw", "/readyz"])
            .status
            .success()
        {
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "kube-apiserver not ready after 90 s: {}",
                std::fs::read_to_string(server._dir.path().join("kube-apiserver.log"))
                    .unwrap_or_default()
                    .lines()
                    .rev()
                    .take(20)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        Some(server)
    }

    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new(self.assets.join("kubectl"))
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .output()
            .expect("run kubectl from KUBEBUILDER_ASSETS")
    }

    /// `kubectl` with a YAML stream on standard input.
    pub fn kubectl_stdin(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        let mut child = Command::new(self.assets.join("kubectl"))
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl from KUBEBUILDER_ASSETS");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// [`ApiServer::start`] with NVIDIA's and the third-party CRDs of `tests/upstream-crds/`.
    pub fn with_crds(test: &str) -> Option<ApiServer> {
        let server = ApiServer::start(test)?;
        let crds = root().join("tests/upstream-crds");
        server.install_crds(&[crds.join("nim"), crds.join("thirdparty")]);
        Some(server)
    }

    /// Install CRDs and wait until they are served.
    pub fn install_crds(&self, dirs: &[PathBuf]) {
        for d in dirs {
            // Right after /readyz the server may still be installing its own APIs: retry.
            let mut tries = 0;
            loop {
                let out = self.kubectl(&["apply", "--server-side", "-f", d.to_str().unwrap()]);
                tries += 1;
                if out.status.success() {
                    break;
                }
                assert!(tries < 20, "{}", String::from_utf8_lossy(&out.stderr));
                std::thread::sleep(Duration::from_millis(500));
            }
        }
        // A CRD created a moment ago may have no conditions yet, which `kubectl wait` reports
        // as an error rather than waiting: ask again.
        let mut tries = 0;
        let out = loop {
            let out = self.kubectl(&[
                "wait",
                "--for=condition=Established",
                "crd",
                "--all",
                "--timeout=60s",
            ]);
            tries += 1;
            if out.status.success() || tries >= 20 {
                break out;
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        for c in self.children.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// What `nimc render` makes of `args`, or why it refused.
fn render(args: &[&Path]) -> Result<String, String> {
    let out = Command::new(nimc())
        .arg("render")
        .args(args)
        .output()
        .unwrap();
    match out.status.success() {
        true => Ok(String::from_utf8(out.stdout).unwrap()),
        false => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
    }
}

/// Every input nimc renders in the repository's tests and examples, as (name, YAML stream).
fn rendered_corpus() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for dir in crate::support::examples() {
        let name = format!("examples/{}", dir.file_name().unwrap().to_string_lossy());
        out.push((name, render(&[&dir]).expect("the examples render")));
    }
    let tmp = tempfile::tempdir().unwrap();
    let facts = tmp.path().join("facts.yaml");
    std::fs::write(&facts, "managedBy: k8s-nim-operator\n").unwrap();
    let mut cases: Vec<_> = std::fs::read_dir(root().join("tests/conformance/cases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    for case in cases {
        let input = case.join("input");
        let name = format!(
            "conformance/{}",
            case.file_name().unwrap().to_string_lossy()
        );
        out.push((
            name,
            render(&[&input, Path::new("--facts"), &facts]).expect("the conformance inputs render"),
        ));
    }
    let mut fixtures: Vec<_> = std::fs::read_dir(root().join("tests/rules"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.to_string_lossy().ends_with(".base.yaml"))
        .collect();
    fixtures.sort();
    for f in fixtures {
        // Fixtures with facts or errors are judged by the fixture test; those that render
        // with the default facts are objects a user could apply.
        let text = std::fs::read_to_string(&f).unwrap();
        if text.contains("# facts:") {
            continue;
        }
        if let Ok(yaml) = render(&[&f]) {
            out.push((
                format!("rules/{}", f.file_name().unwrap().to_string_lossy()),
                yaml,
            ));
        }
    }
    out
}

#[test]
fn every_rendered_object_is_admitted_by_a_real_api_server() {
    let Some(server) =
        ApiServer::with_crds("every_rendered_object_is_admitted_by_a_real_api_server")
    else {
        return;
    };
    let corpus = rendered_corpus();
    let mut namespaces = std::collections::BTreeSet::new();
    for (_, yaml) in &corpus {
        for doc in yaml_docs(yaml) {
            if let Some(ns) = doc["metadata"]["namespace"].as_str() {
                namespaces.insert(ns.to_string());
            }
        }
    }
    for ns in &namespaces {
        let out = server.kubectl(&["create", "namespace", ns]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut rejected = Vec::new();
    let mut objects = 0;
    for (name, yaml) in &corpus {
        objects += yaml_docs(yaml).len();
        let out = server.kubectl_stdin(
            &[
                "apply",
                "--server-side",
                "--dry-run=server",
                "--field-manager=nimc-test",
                "-f",
                "-",
            ],
            yaml,
        );
        if !out.status.success() {
            rejected.push(format!("{name}:\n{}", String::from_utf8_lossy(&out.stderr)));
        }
    }
    println!(
        "{objects} objects from {} renders dry-run applied",
        corpus.len()
    );
    assert!(objects > 500, "the corpus rendered only {objects} objects");
    assert!(
        rejected.is_empty(),
        "rejected by the API server:\n{}",
        rejected.join("\n")
    );
}

/// A small deterministic generator (a 64-bit LCG), so a failure reproduces from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.next() % items.len()]
    }
}

/// The field mutations: a JSON pointer into a NIMService and the values it may take (valid
/// and invalid ones, all of the types NVIDIA's CRD admits).
fn mutations() -> Vec<(&'static str, Vec<Value>)> {
    use serde_json::json;
    let names = || {
        vec![
            json!("ok-name"),
            json!("Bad_Name"),
            json!("a.b.c"),
            json!("-x"),
            json!("x".repeat(70)),
        ]
    };
    let label_maps = || {
        vec![
            json!({"team": "inference"}),
            json!({"bad key": "v"}),
            json!({"example.com/k": "-bad-"}),
            json!({"k": "x".repeat(64)}),
            json!({"/x": "v"}),
            json!({"Example.COM/k": "v"}),
            json!({"k": ""}),
        ]
    };
    let quantities = || {
        vec![
            json!("1"),
            json!("500m"),
            json!("2Gi"),
            json!("-1"),
            json!(0),
        ]
    };
    let probe = || {
        vec![
            json!({"enabled": true, "probe": {"httpGet": {"path": "/v1/health/live", "port": 8000}}}),
            json!({"enabled": true, "probe": {"periodSeconds": 10}}),
            json!({"enabled": true, "probe": {"tcpSocket": {"port": 8000}, "successThreshold": 2}}),
            json!({"enabled": true, "probe": {"exec": {"command": ["true"]}, "failureThreshold": -1}}),
            json!({"enabled": true, "probe": {"httpGet": {"path": "/", "port": 8000}, "grpc": {"port": 8001}}}),
            json!({"enabled": false}),
        ]
    };
    vec![
        ("/spec/labels", label_maps()),
        ("/spec/annotations", label_maps()),
        ("/spec/expose/service/labels", label_maps()),
        ("/spec/expose/service/annotations", label_maps()),
        (
            "/spec/expose/service/type",
            vec![
                json!("ClusterIP"),
                json!("Cluster"),
                json!("NodePort"),
                json!("LoadBalancer"),
                json!(" LoadBalancer"),
            ],
        ),
        (
            "/spec/expose/service/port",
            vec![json!(8000), json!(8080), json!(1)],
        ),
        (
            "/spec/expose/service/grpcPort",
            vec![json!(8001), json!(8000)],
        ),
        (
            "/spec/expose/service/metricsPort",
            vec![json!(8002), json!(8000)],
        ),
        ("/spec/livenessProbe", probe()),
        ("/spec/readinessProbe", probe()),
        ("/spec/startupProbe", probe()),
        (
            "/spec/env",
            vec![
                json!([{"name": "OK", "value": "1"}]),
                json!([{"name": "A=B", "value": "1"}]),
                json!([{"name": "A", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]),
                json!([{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "spec.bogus"}}}]),
                json!([{"name": "A", "valueFrom": {"resourceFieldRef": {"resource": "limits.gpu"}}}]),
                json!([{"name": "A", "valueFrom": {"secretKeyRef": {"name": "Bad_Secret", "key": "k"}}}]),
                json!([{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}]),
            ],
        ),
        (
            "/spec/nodeSelector",
            vec![
                json!({"gpu": "a100"}),
                json!({"bad key": "v"}),
                json!({"k": "bad value"}),
                json!({"k": "  padded  "}),
            ],
        ),
        (
            "/spec/tolerations",
            vec![
                json!([{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]),
                json!([{"key": "bad key", "operator": "Exists"}]),
                json!([{"key": "k", "operator": "Exists", "value": "v"}]),
                json!([{"key": "k", "operator": "Equal", "value": "v", "effect": "Bogus"}]),
                json!([{"key": "k", "operator": "Maybe"}]),
                json!([{"operator": "Equal", "value": "v"}]),
                json!([{"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule", "tolerationSeconds": 30}]),
            ],
        ),
        (
            "/spec/affinity",
            vec![
                json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "k", "operator": "In", "values": ["a"]}]}]}}}),
                json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}}),
                json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "k", "operator": "In"}]}]}}}),
                json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "k", "operator": "Exists", "values": ["a"]}]}]}}}),
            ],
        ),
        (
            "/spec/resources",
            vec![
                json!({"limits": {"nvidia.com/gpu": 1}}),
                json!({"requests": {"nvidia.com/gpu": 1}}),
                json!({"requests": {"nvidia.com/gpu": 1}, "limits": {"nvidia.com/gpu": 2}}),
                json!({"requests": {"cpu": "4"}, "limits": {"cpu": "2", "nvidia.com/gpu": 1}}),
                json!({"limits": {"bad_name": 1}}),
                json!({"requests": {"memory": "8Gi"}, "limits": {"memory": "16Gi", "nvidia.com/gpu": 1}}),
            ],
        ),
        ("/spec/resources/limits/cpu", quantities()),
        ("/spec/priorityClassName", names()),
        ("/spec/runtimeClassName", names()),
        ("/spec/schedulerName", names()),
        ("/spec/userID", vec![json!(1000), json!(-5), json!(0)]),
        ("/spec/groupID", vec![json!(2000), json!(-5)]),
        (
            "/spec/image/pullPolicy",
            vec![json!("Always"), json!("Sometimes"), json!("Never ")],
        ),
        (
            "/spec/image/pullSecrets",
            vec![json!(["ngc-secret"]), json!(["Bad_Secret"]), json!([""])],
        ),
        (
            "/spec/authSecret",
            vec![json!("ngc-api-secret"), json!("Bad_Secret"), json!("")],
        ),
        ("/spec/storage/pvc/storageClass", names()),
        ("/spec/storage/pvc/name", names()),
        (
            "/spec/storage/pvc/subPath",
            vec![
                json!("models"),
                json!("../x"),
                json!("/abs"),
                json!(" padded "),
            ],
        ),
        ("/spec/storage/pvc/annotations", label_maps()),
        ("/spec/storage/sharedMemorySizeLimit", quantities()),
        ("/spec/replicas", vec![json!(1), json!(3)]),
        (
            "/spec/scale",
            vec![
                json!({"enabled": true, "hpa": {"minReplicas": 1, "maxReplicas": 3}}),
                json!({"enabled": true, "hpa": {"minReplicas": 5, "maxReplicas": 2}}),
            ],
        ),
        (
            "/spec/metrics",
            vec![
                json!({"enabled": true, "serviceMonitor": {"additionalLabels": {"release": "prom"}}}),
                json!({"enabled": true, "serviceMonitor": {"additionalLabels": {"bad key": "v"}}}),
            ],
        ),
        (
            "/spec/initContainers",
            vec![
                json!([{"name": "warmup", "image": {"repository": "busybox", "tag": "1"}}]),
                json!([{"name": "Bad_Name", "image": {"repository": "busybox", "tag": "1"}}]),
            ],
        ),
        (
            "/spec/sidecarContainers",
            vec![
                json!([{"name": "proxy", "image": {"repository": "envoy", "tag": "v1"}}]),
                json!([{"name": "a", "image": {"repository": "x", "tag": "1"}}, {"name": "a", "image": {"repository": "x", "tag": "1"}}]),
                json!([{"name": "p", "image": {"repository": "x", "tag": "1"}, "env": [{"name": "", "value": "v"}]}]),
            ],
        ),
        (
            "/spec/command",
            vec![json!(["python3", "-m", "x"]), json!([""])],
        ),
        ("/spec/args", vec![json!(["--flag"])]),
        ("/spec/image/tag", vec![json!("1.0 "), json!("1.0")]),
        (
            "/spec/image/repository",
            vec![
                json!("nvcr.io/nim/x"),
                json!(" nvcr.io/nim/x"),
                json!("nvcr.io/nim/x y"),
            ],
        ),
        (
            "/spec/expose/router",
            vec![
                json!({"hostDomainName": "example.com", "ingress": {"ingressClass": "nginx"}}),
                json!({"hostDomainName": "example.com", "ingress": {"ingressClass": "Bad_Class"}}),
                json!({"hostDomainName": "example.com", "ingress": {"ingressClass": "nginx", "tlsSecretName": "Bad_Secret"}}),
            ],
        ),
        ("/spec/scale/annotations", label_maps()),
        (
            "/spec/metrics/serviceMonitor/interval",
            vec![json!("30s"), json!("30 seconds")],
        ),
    ]
}

/// Set `value` at `pointer` in `doc`, creating the objects on the way.
fn set(doc: &mut Value, pointer: &str, value: Value) {
    let mut cur = doc;
    let segments: Vec<&str> = pointer.split('/').skip(1).collect();
    for (i, seg) in segments.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Default::default());
        }
        let map = cur.as_object_mut().unwrap();
        if i + 1 == segments.len() {
            map.insert(seg.to_string(), value);
            return;
        }
        cur = map
            .entry(seg.to_string())
            .or_insert_with(|| Value::Object(Default::default()));
    }
}

#[test]
fn what_nimc_accepts_the_api_server_admits() {
    let Some(server) = ApiServer::with_crds("what_nimc_accepts_the_api_server_admits") else {
        return;
    };
    let out = server.kubectl(&["create", "namespace", "mut"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bases: Vec<Value> = [
        "basic/nimservice.yaml",
        "autoscaling-monitoring/nimservice.yaml",
        "router-ingress/nimservice.yaml",
    ]
    .iter()
    .map(|f| {
        yaml_docs(&std::fs::read_to_string(root().join("examples").join(f)).unwrap()).remove(0)
    })
    .collect();
    let muts = mutations();
    assert!(muts.len() >= 40, "{} mutation kinds", muts.len());
    let mut rng = Rng(0x6e696d63);
    let (mut refused, mut admitted, mut cr_refused) = (0, 0, 0);
    let mut disagreements = Vec::new();
    let mut cr_disagreements = Vec::new();
    let mut kinds_hit = BTreeSet::new();
    for i in 0..1000 {
        let mut doc = rng.pick(&bases).clone();
        doc["metadata"]["namespace"] = "mut".into();
        // One to three fields at a time.
        let mut applied = Vec::new();
        for _ in 0..=(rng.next() % 3) {
            let (pointer, values) = rng.pick(&muts);
            let value = rng.pick(values).clone();
            applied.push(format!("{pointer}={value}"));
            set(&mut doc, pointer, value);
            kinds_hit.insert(*pointer);
        }
        let text = nimc::yaml::emit::to_string(&doc);
        let sources = nimc::source::Sources::from_texts([("input.yaml", text.as_str())]);
        let c = nimc::compile(&sources, &nimc::facts::Facts::default());
        if c.has_errors() {
            refused += 1;
            continue;
        }
        // Only inputs whose CR NVIDIA's CRD admits say anything about nimc.
        let cr = server.kubectl_stdin(
            &["apply", "--server-side", "--dry-run=server", "-f", "-"],
            &text,
        );
        if !cr.status.success() {
            cr_refused += 1;
            // NVIDIA's CRD refuses what nimc accepted: the converse disagreement.
            cr_disagreements.push(format!(
                "input {i} ({}): {}",
                applied.join(", "),
                String::from_utf8_lossy(&cr.stderr).trim()
            ));
            continue;
        }
        let yaml = nimc::manifest::to_yaml(&c.objects);
        let out = server.kubectl_stdin(
            &[
                "apply",
                "--server-side",
                "--dry-run=server",
                "--field-manager=nimc-test",
                "-f",
                "-",
            ],
            &yaml,
        );
        if out.status.success() {
            admitted += 1;
        } else {
            disagreements.push(format!(
                "input {i} ({}):\n{}",
                applied.join(", "),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    println!(
        "1000 inputs over {} mutation kinds: nimc refused {refused}, NVIDIA's CRD refused {cr_refused}, admitted {admitted}, disagreements {}",
        kinds_hit.len(),
        disagreements.len()
    );
    assert!(
        admitted > 50,
        "too few accepted inputs to say anything: {admitted}"
    );
    // And the converse for the resources themselves: what NVIDIA's CRDs refuse, nimc refuses.
    assert!(
        cr_disagreements.is_empty(),
        "nimc accepted resources NVIDIA's CRDs refuse:\n{}",
        cr_disagreements.join("\n")
    );
    assert!(
        disagreements.is_empty(),
        "nimc exited 0 but the API server refused:\n{}",
        disagreements.join("\n")
    );
}
