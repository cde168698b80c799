//! The GitOps integrations driven the way their real clients drive them: the Argo CD plugin's
//! `generate` command run as argocd-cmp-server runs it (no shell, the application directory
//! as working directory, the build environment), the Argo CD health checks in a Lua
//! interpreter, `render --check` and `diff --base`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::support::{nimc, root, yaml_docs};

/// A YAML file of the repository as JSON.
fn yaml_file(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap();
    let docs = yaml_docs(&text);
    assert_eq!(docs.len(), 1, "{}", path.display());
    docs.into_iter().next().unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
}

/// Run the plugin's generate command in `app` as argocd-cmp-server does: `command[0]` with
/// `command[1:] + args`, no shell, the application directory as working directory, and the
/// build environment on top of the sidecar's (here: only PATH).
fn generate(app: &Path, env: &[(&str, &str)]) -> Output {
    let plugin = yaml_file(&root().join("deploy/argocd/plugin.yaml"));
    assert_eq!(plugin["kind"], "ConfigManagementPlugin");
    let generate = &plugin["spec"]["generate"];
    let mut argv: Vec<String> = generate["command"]
        .as_array()
        .unwrap()
        .iter()
        .chain(generate["args"].as_array().into_iter().flatten())
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(argv[0], "nimc", "the sidecar finds nimc on its PATH");
    let bin_dir = Path::new(nimc()).parent().unwrap();
    argv[0] = nimc().to_string();
    Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(app)
        .env_clear()
        .env("PATH", bin_dir)
        .env("ARGOCD_APP_NAME", "llama")
        .env("ARGOCD_APP_SOURCE_PATH", "apps/llama")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn argocd_plugin_generate_prints_only_objects() {
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("apps/llama");
    copy_dir(&root().join("examples/autoscaling-monitoring"), &app);
    fs::write(app.join("nimc.yaml"), "{}\n").unwrap();
    // Discovery: the plugin claims directories that hold a nimc.yaml.
    let plugin = yaml_file(&root().join("deploy/argocd/plugin.yaml"));
    assert_eq!(plugin["spec"]["discover"]["find"]["glob"], "**/nimc.yaml");
    // Every parameter the plugin announces is one nimc reads, and the other way round.
    let announced: Vec<&str> = plugin["spec"]["parameters"]["static"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(announced, nimc::gitops::ARGO_PARAMETERS);

    let all_apis = "v1,v1/ConfigMap,v1/PersistentVolumeClaim,v1/Service,v1/ServiceAccount,apps/v1,apps/v1/Deployment,autoscaling/v2,autoscaling/v2/HorizontalPodAutoscaler,batch/v1,batch/v1/Job,networking.k8s.io/v1,networking.k8s.io/v1/Ingress,rbac.authorization.k8s.io/v1,rbac.authorization.k8s.io/v1/Role,rbac.authorization.k8s.io/v1/RoleBinding";
    let with_monitoring =
        format!("{all_apis},monitoring.coreos.com/v1,monitoring.coreos.com/v1/ServiceMonitor");
    let o = generate(
        &app,
        &[
            ("ARGOCD_APP_NAMESPACE", "team-a"),
            ("KUBE_VERSION", "1.34.2"),
            ("KUBE_API_VERSIONS", &with_monitoring),
            (
                "ARGOCD_APP_PARAMETERS",
                r#"[{"name":"sync-waves","string":"true"}]"#,
            ),
        ],
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let stdout = String::from_utf8(o.stdout).unwrap();
    let docs = yaml_docs(&stdout);
    assert!(!docs.is_empty());
    for d in &docs {
        assert!(d["apiVersion"].is_string() && d["kind"].is_string(), "{d}");
        assert!(d["metadata"]["name"].is_string(), "{d}");
        assert_ne!(d["kind"], "List", "Argo CD does not flatten Lists");
        assert!(d.get("status").is_none(), "no status in rendered objects");
        assert!(
            d["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"].is_string(),
            "the sync-waves parameter reached nimc: {d}"
        );
    }
    assert!(docs.iter().any(|d| d["kind"] == "ServiceMonitor"));
    // The same objects as `nimc render --sync-waves` with the same facts.
    let facts = tmp.path().join("facts.yaml");
    fs::write(
        &facts,
        "kubernetesVersion: v1.34.2\ndefaultNamespace: team-a\n",
    )
    .unwrap();
    let direct = Command::new(nimc())
        .args(["render", "--sync-waves", "--facts"])
        .arg(&facts)
        .arg(&app)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(direct.stdout).unwrap(), stdout);

    // A cluster without the Prometheus operator: no ServiceMonitor, a warning, no failed sync.
    let o = generate(&app, &[("KUBE_API_VERSIONS", all_apis)]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stderr).contains("NIMC033"));
    let docs = yaml_docs(&String::from_utf8(o.stdout).unwrap());
    assert!(!docs.iter().any(|d| d["kind"] == "ServiceMonitor"));

    // A typo in a parameter fails visibly.
    let o = generate(
        &app,
        &[(
            "ARGOCD_APP_PARAMETERS",
            r#"[{"name":"sync-wave","string":"true"}]"#,
        )],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown plugin parameter `sync-wave`"));

    // Input errors: objects never reach stdout, the error names the file.
    fs::write(app.join("broken.yaml"), "apiVersion: apps.nvidia.com/v1alpha1\nkind: NIMService\nmetadata: {name: x}\nspec:\n  replica: 2\n").unwrap();
    let o = generate(&app, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    assert!(String::from_utf8_lossy(&o.stderr).contains("broken.yaml:5:3"));
}

#[test]
fn argocd_plugin_refuses_an_empty_render() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("nimc.yaml"), "{}\n").unwrap();
    fs::write(
        tmp.path().join("other.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
    )
    .unwrap();
    let o = generate(tmp.path(), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    assert!(String::from_utf8_lossy(&o.stderr).contains("empty render"));
    let o = generate(
        tmp.path(),
        &[(
            "ARGOCD_APP_PARAMETERS",
            r#"[{"name":"allow-empty","string":"true"}]"#,
        )],
    );
    assert_eq!(o.status.code(), Some(0));
}

/// Run a health script of `deploy/argocd/health/` on an object, as Argo CD does (a global
/// `obj`, the script returns a table with `status` and `message`).
fn health(script: &str, obj: Value) -> (String, String) {
    let lua = mlua::Lua::new();
    let code = fs::read_to_string(root().join("deploy/argocd/health").join(script)).unwrap();
    use mlua::LuaSerdeExt;
    lua.globals()
        .set("obj", lua.to_value(&obj).unwrap())
        .unwrap();
    let hs: mlua::Table = lua.load(&code).eval().unwrap();
    (hs.get("status").unwrap(), hs.get("message").unwrap())
}

#[test]
fn argocd_health_checks_read_the_status() {
    let cond =
        |t: &str, s: &str, m: &str| json!({"type": t, "status": s, "reason": "R", "message": m});
    let svc = |status: Value| json!({"kind": "NIMService", "status": status});
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "nimservice.lua",
            json!({"kind": "NIMService"}),
            "Progressing",
            "Waiting",
        ),
        (
            "nimservice.lua",
            svc(
                json!({"state": "NotReady", "conditions": [cond("Ready", "False", "Deployment is progressing"), cond("Failed", "False", "")]}),
            ),
            "Progressing",
            "Deployment is progressing",
        ),
        (
            "nimservice.lua",
            svc(
                json!({"state": "Ready", "conditions": [cond("Ready", "True", "deployment \"llama\" successfully rolled out"), cond("Failed", "False", "")]}),
            ),
            "Healthy",
            "successfully rolled out",
        ),
        (
            "nimservice.lua",
            svc(
                json!({"state": "Failed", "conditions": [cond("Ready", "False", ""), cond("Failed", "True", "NIMCache llama-cache not found")]}),
            ),
            "Degraded",
            "NIMCache llama-cache not found",
        ),
        (
            "nimservice.lua",
            svc(
                json!({"state": "Ready", "conditions": [cond("Ready", "True", "ok"), cond("Drifted", "True", "Deployment/llama differs")]}),
            ),
            "Progressing",
            "Deployment/llama differs",
        ),
        (
            "nimcache.lua",
            json!({"status": {"state": "InProgress"}}),
            "Progressing",
            "InProgress",
        ),
        (
            "nimcache.lua",
            json!({"status": {"state": "Ready", "pvc": "llama-pvc"}}),
            "Healthy",
            "llama-pvc",
        ),
        (
            "nimcache.lua",
            json!({"status": {"state": "Failed"}}),
            "Degraded",
            "failed",
        ),
        (
            "nimcache.lua",
            json!({"status": {"state": "NotReady", "conditions": [cond("NIM_CACHE_RECONCILE_FAILED", "True", "persistentvolumeclaims \"models\" not found")]}}),
            "Degraded",
            "not found",
        ),
        (
            "nimpipeline.lua",
            json!({"status": {"state": "Failed", "states": {"llm": "Failed", "embed": "Ready"}}}),
            "Degraded",
            "Failed services: llm",
        ),
        (
            "nimpipeline.lua",
            json!({"status": {"state": "NotReady", "states": {"llm": "Ready", "embed": "NotReady", "rerank": ""}}}),
            "Progressing",
            "Services not ready: embed, rerank",
        ),
        (
            "nimpipeline.lua",
            json!({"status": {"state": "Ready", "states": {}}}),
            "Healthy",
            "ready",
        ),
    ];
    for (script, obj, status, message) in cases {
        let (got, msg) = health(script, obj.clone());
        assert_eq!(got, status, "{script} {obj}");
        assert!(msg.contains(message), "{script} {obj}: {msg}");
    }
    // The kustomization installs exactly these scripts under Argo CD's keys.
    let k = fs::read_to_string(root().join("deploy/argocd/kustomization.yaml")).unwrap();
    for (kind, file) in [
        ("NIMService", "nimservice.lua"),
        ("NIMCache", "nimcache.lua"),
        ("NIMPipeline", "nimpipeline.lua"),
    ] {
        assert!(
            k.contains(&format!(
                "resource.customizations.health.apps.nvidia.com_{kind}=health/{file}"
            )),
            "{kind}"
        );
    }
}

fn git(dir: &Path, args: &[&str]) {
    let o = Command::new("git")
        .args(["-c", "user.name=nimc", "-c", "user.email=nimc@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn render_check_reports_a_stale_output_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("app");
    copy_dir(&root().join("examples/basic"), &app);
    let out = tmp.path().join("rendered");
    let run = |args: &[&str]| {
        Command::new(nimc())
            .args(args)
            .current_dir(tmp.path())
            .output()
            .unwrap()
    };
    let o = run(&["render", "app", "--output-dir", "rendered", "--check"]);
    assert_eq!(o.status.code(), Some(1), "nothing rendered yet");
    assert!(!out.exists(), "--check writes nothing");
    assert_eq!(
        run(&["render", "app", "--output-dir", "rendered"])
            .status
            .code(),
        Some(0)
    );
    let o = run(&["render", "app", "--output-dir", "rendered", "--check"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let file = fs::read_dir(&out).unwrap().next().unwrap().unwrap().path();
    fs::write(&file, "edited: by hand\n").unwrap();
    let o = run(&["render", "app", "--output-dir", "rendered", "--check"]);
    assert_eq!(o.status.code(), Some(1));
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    assert!(String::from_utf8_lossy(&o.stderr).contains(&format!("changed: {name}")));
}

#[test]
fn diff_shows_object_changes_between_revisions() {
    let tmp = tempfile::tempdir().unwrap();
    let app: PathBuf = tmp.path().join("nim");
    copy_dir(&root().join("examples/basic"), &app);
    git(tmp.path(), &["init", "-q"]);
    git(tmp.path(), &["add", "."]);
    git(tmp.path(), &["commit", "-qm", "base"]);
    let run = |args: &[&str]| {
        Command::new(nimc())
            .args(args)
            .current_dir(tmp.path())
            .output()
            .unwrap()
    };
    let o = run(&["diff", "--base", "HEAD", "--exit-code", "nim"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.stdout.is_empty());
    // Change the image tag of every NIMService.
    let mut changed = 0;
    for e in fs::read_dir(&app).unwrap() {
        let p = e.unwrap().path();
        let text = fs::read_to_string(&p).unwrap();
        if !text.contains("kind: NIMService") {
            continue;
        }
        let new: String = text
            .lines()
            .map(|l| match l.strip_suffix(l.trim_start()) {
                Some(indent) if l.trim_start().starts_with("tag:") => {
                    format!("{indent}tag: \"9.9.9\"\n")
                }
                _ => format!("{l}\n"),
            })
            .collect();
        fs::write(&p, new).unwrap();
        changed += 1;
    }
    assert!(changed > 0);
    let o = run(&["diff", "--base", "HEAD", "--exit-code", "nim"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("--- a/Deployment/"), "{out}");
    assert!(out.contains(":9.9.9"), "{out}");
    assert!(stderr.contains("0 added, 0 removed,"), "{stderr}");
    // Without --exit-code a diff is not a failure.
    assert_eq!(
        run(&["diff", "--base", "HEAD", "nim"]).status.code(),
        Some(0)
    );
}

fn render_example(name: &str, facts: nimc::facts::Facts) -> Vec<nimc::render::Rendered> {
    let (sources, diags) = nimc::source::read(&[root().join("examples").join(name)]).unwrap();
    assert!(diags.is_empty());
    let c = nimc::compile(&sources, &facts);
    assert!(!c.has_errors(), "{:?}", c.diagnostics);
    c.objects
}

#[test]
fn flux_substitution_keeps_shell_variables_intact() {
    use nimc::facts::{Facts, FluxSubstitution};
    let plain = render_example("proxy-ca", Facts::default());
    let with_vars: Vec<_> = plain.iter().filter(|r| r.yaml.contains("${")).collect();
    assert!(!with_vars.is_empty(), "the CA init script uses ${{f%.pem}}");

    // escape: Flux turns `$${` back into `${`, so the applied object is the operator's.
    let escaped = render_example(
        "proxy-ca",
        Facts {
            flux_substitution: FluxSubstitution::Escape,
            ..Facts::default()
        },
    );
    for (a, b) in plain.iter().zip(&escaped) {
        assert_eq!(a.yaml.replace("${", "$${"), b.yaml);
        assert_eq!(
            b.yaml.replace("$${", "${"),
            a.yaml,
            "the round trip is exact"
        );
    }

    // disable: only the objects that hold `${` get Flux's opt-out annotation.
    let disabled = render_example(
        "proxy-ca",
        Facts {
            flux_substitution: FluxSubstitution::Disable,
            ..Facts::default()
        },
    );
    for (a, b) in plain.iter().zip(&disabled) {
        let doc = &yaml_docs(&b.yaml)[0];
        let note = &doc["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/substitute"];
        if a.yaml.contains("${") {
            assert_eq!(note, "disabled", "{}", b.yaml);
        } else {
            assert!(note.is_null());
            assert_eq!(a.yaml, b.yaml);
        }
    }
}

#[test]
fn gitops_cache_jobs_are_named_by_content_and_kept() {
    use nimc::facts::{CacheJobs, Facts};
    let gitops = Facts {
        cache_jobs: CacheJobs::Gitops,
        ..Facts::default()
    };
    let jobs = |objs: &[nimc::render::Rendered]| -> Vec<Value> {
        objs.iter()
            .filter(|r| r.kind == "Job")
            .map(|r| yaml_docs(&r.yaml).remove(0))
            .collect()
    };
    let operator = jobs(&render_example("cache-and-service", Facts::default()));
    let first = jobs(&render_example("cache-and-service", gitops.clone()));
    assert!(!operator.is_empty());
    assert_eq!(operator.len(), first.len());
    for (op, g) in operator.iter().zip(&first) {
        assert_eq!(op["spec"]["ttlSecondsAfterFinished"], 600);
        assert!(g["spec"]["ttlSecondsAfterFinished"].is_null());
        let name = g["metadata"]["name"].as_str().unwrap();
        let base = op["metadata"]["name"].as_str().unwrap();
        let hash = name
            .strip_prefix(&format!("{base}-"))
            .expect("base name kept");
        assert_eq!(hash.len(), 8);
        assert!(name.len() <= 63);
        assert_eq!(
            g["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/ssa"],
            "IfNotPresent"
        );
        assert_eq!(
            op["spec"]["template"], g["spec"]["template"],
            "the same pod"
        );
    }
    // The same input gives the same name; a change to the Job gives a new one.
    let again = jobs(&render_example("cache-and-service", gitops.clone()));
    assert_eq!(first, again);
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&root().join("examples/cache-and-service"), tmp.path());
    for e in fs::read_dir(tmp.path()).unwrap() {
        let p = e.unwrap().path();
        let t = fs::read_to_string(&p).unwrap();
        if t.contains("kind: NIMCache") {
            fs::write(&p, t.replacen("spec:\n", "spec:\n  userID: 4242\n", 1)).unwrap();
        }
    }
    let (sources, _) = nimc::source::read(&[tmp.path().to_path_buf()]).unwrap();
    let c = nimc::compile(&sources, &gitops);
    assert!(!c.has_errors(), "{:?}", c.diagnostics);
    let changed = jobs(&c.objects);
    assert_ne!(changed[0]["metadata"]["name"], first[0]["metadata"]["name"]);
}

#[test]
fn patches_overlay_rendered_objects_and_fail_at_the_patch() {
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("app");
    copy_dir(&root().join("examples/basic"), &app);
    fs::write(
        app.join("nimc.yaml"),
        "patches:
- target: {kind: Deployment}
  jsonPatch:
  - {op: add, path: /spec/template/spec/priorityClassName, value: inference-high}
  - {op: test, path: /kind, value: Deployment}
- target: {kind: Service, labels: {app.kubernetes.io/managed-by: nimc}}
  mergePatch:
    metadata:
      annotations: {external-dns.alpha.kubernetes.io/hostname: llm.example.com}
",
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new(nimc())
            .args(args)
            .current_dir(tmp.path())
            .output()
            .unwrap()
    };
    let o = run(&["render", "app"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let docs = yaml_docs(&String::from_utf8(o.stdout).unwrap());
    let deployments: Vec<_> = docs.iter().filter(|d| d["kind"] == "Deployment").collect();
    assert!(!deployments.is_empty());
    for d in deployments {
        assert_eq!(
            d["spec"]["template"]["spec"]["priorityClassName"],
            "inference-high"
        );
    }
    for s in docs.iter().filter(|d| d["kind"] == "Service") {
        assert_eq!(
            s["metadata"]["annotations"]["external-dns.alpha.kubernetes.io/hostname"],
            "llm.example.com"
        );
    }

    // A --patch file after the facts' patches; one that does not apply fails at its line.
    fs::write(
        tmp.path().join("extra.yaml"),
        "- target: {kind: Deployment}\n  jsonPatch:\n  - {op: replace, path: /spec/nothing/here, value: 1}\n- target: {kind: NoSuchKind}\n  mergePatch: {a: b}\n",
    )
    .unwrap();
    let o = run(&[
        "render",
        "app",
        "--patch",
        "extra.yaml",
        "--format",
        "github",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("::error file=extra.yaml,line=1,col=3,title=NIMC034::the patch does not apply to Deployment"), "{e}");
    assert!(e.contains("::error file=extra.yaml,line=4,col=3,title=NIMC034::the patch selects no rendered object"), "{e}");

    // A patch with both forms, or neither, is refused when the facts are read.
    fs::write(tmp.path().join("bad.yaml"), "- target: {kind: Service}\n").unwrap();
    let o = run(&["validate", "app", "--patch", "bad.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("bad.yaml:1:3"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn split_waves_give_one_folder_per_stage() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(nimc())
            .args(args)
            .current_dir(root())
            .output()
            .unwrap()
    };
    let out = tmp.path().join("stages");
    let out_s = out.to_str().unwrap();
    let o = run(&[
        "render",
        "examples/pipeline-rag",
        "--output-dir",
        out_s,
        "--split-waves",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut waves: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    waves.sort();
    assert!(waves.len() >= 2, "stages by dependency depth: {waves:?}");
    for w in &waves {
        let n: i32 = w
            .strip_prefix("wave-")
            .expect("only wave folders")
            .parse()
            .unwrap();
        for f in fs::read_dir(out.join(w)).unwrap() {
            let doc = yaml_file(&f.unwrap().path());
            assert_eq!(
                doc["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"],
                n.to_string(),
                "each object sits in the folder of its wave"
            );
        }
    }
    // The same objects as a flat render; --check understands the folders; a re-render
    // replaces them.
    let flat: usize = waves
        .iter()
        .map(|w| fs::read_dir(out.join(w)).unwrap().count())
        .sum();
    let all = run(&["render", "examples/pipeline-rag"]);
    assert_eq!(
        yaml_docs(&String::from_utf8(all.stdout).unwrap()).len(),
        flat
    );
    let check = run(&[
        "render",
        "examples/pipeline-rag",
        "--output-dir",
        out_s,
        "--split-waves",
        "--check",
    ]);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let check = run(&[
        "render",
        "examples/pipeline-rag",
        "--output-dir",
        out_s,
        "--check",
    ]);
    assert_eq!(
        check.status.code(),
        Some(1),
        "a flat layout is not the split one"
    );
    let o = run(&[
        "render",
        "examples/pipeline-rag",
        "--output-dir",
        out_s,
        "--split-waves",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
