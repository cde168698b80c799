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
        let out = self.kubectl(&[
            "wait",
            "--for=condition=Established",
            "crd",
            "--all",
            "--timeout=60s",
        ]);
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
    let Some(server) = ApiServer::start("every_rendered_object_is_admitted_by_a_real_api_server")
    else {
        return;
    };
    let crds = root().join("tests/upstream-crds");
    server.install_crds(&[crds.join("nim"), crds.join("thirdparty")]);
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
