//! The command line contract: stdout holds only objects, diagnostics name file:line:col, exit
//! status 0/1/2, `--output-dir` is all-or-nothing, and output is byte-identical across runs,
//! thread counts and input file order.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use crate::support::{nimc, root};

fn run(args: &[&str], dir: Option<&Path>, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(nimc());
    cmd.args(args);
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run nimc")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const SERVICE: &str = "apiVersion: apps.nvidia.com/v1alpha1
kind: NIMService
metadata:
  name: demo
  namespace: ns
spec:
  image:
    repository: nvcr.io/nim/meta/llama-3.2-1b-instruct
    tag: 1.12.0
  authSecret: ngc-api-secret
  storage:
    emptyDir: {}
  expose:
    service:
      port: 8000
";

#[test]
fn renders_to_stdout_and_ignores_other_kinds() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(
        tmp.path().join("a.yaml"),
        format!("{SERVICE}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"),
    )
    .unwrap();
    let o = run(&["render", "--verbose", "."], Some(tmp.path()), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout.clone()).unwrap();
    assert!(
        out.starts_with("apiVersion: v1\nkind: ServiceAccount\n"),
        "{out}"
    );
    assert_eq!(
        out.matches("\n---\n").count() + 1,
        5,
        "SA, Role, RoleBinding, Service, Deployment"
    );
    assert!(
        stderr(&o).contains("ignored 1 x v1/ConfigMap"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn syntax_errors_name_the_file_and_line_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("ok.yaml"), SERVICE).unwrap();
    fs::write(
        tmp.path().join("bad.yaml"),
        "apiVersion: v1\nkind: [unclosed\n",
    )
    .unwrap();
    let o = run(&["render", "."], Some(tmp.path()), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        o.stdout.is_empty(),
        "nothing on stdout when the input has errors"
    );
    let e = stderr(&o);
    assert!(e.contains("error[NIMC001]"), "{e}");
    assert!(
        e.contains("--> bad.yaml:3:1") || e.contains("--> bad.yaml:2:"),
        "{e}"
    );
    assert!(e.contains("help:"), "{e}");
}

#[test]
fn unknown_fields_are_errors_with_a_suggestion() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(
        tmp.path().join("svc.yaml"),
        SERVICE.replace("  storage:", "  replica: 2\n  storage:"),
    )
    .unwrap();
    let o = run(&["render", "svc.yaml"], Some(tmp.path()), &[]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("unknown field `replica`"), "{e}");
    assert!(e.contains("svc.yaml:11:3"), "{e}");
    assert!(e.contains("did you mean `replicas`?"), "{e}");
    // A block at the wrong level (the operator's own ingress sample): where it belongs.
    fs::write(
        tmp.path().join("svc.yaml"),
        SERVICE.replace(
            "  storage:",
            "  router:\n    hostDomainName: example.com\n  storage:",
        ),
    )
    .unwrap();
    let o = run(&["render", "svc.yaml"], Some(tmp.path()), &[]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("this field belongs at spec.expose.router"),
        "{e}"
    );
}

#[test]
fn semantic_errors_point_at_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(
        tmp.path().join("svc.yaml"),
        SERVICE.replace(
            "    emptyDir: {}\n",
            "    emptyDir: {}\n    hostPath: /data\n",
        ),
    )
    .unwrap();
    let o = run(
        &["render", "svc.yaml", "--format", "github"],
        Some(tmp.path()),
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.starts_with("::error file=svc.yaml,line=11,col=3,title=NIMC007::"),
        "{e}"
    );
}

#[test]
fn missing_paths_are_usage_errors() {
    let o = run(&["render", "/nonexistent/nimc/input"], None, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
}

#[test]
fn explain_documents_codes() {
    let o = run(&["explain", "NIMC007"], None, &[]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("storage-source"));
    for c in nimc::diagnostic::CODES {
        assert!(!c.explanation.is_empty(), "{}", c.code);
    }
}

#[test]
fn output_dir_is_all_or_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    fs::create_dir(&input).unwrap();
    fs::write(input.join("svc.yaml"), SERVICE).unwrap();
    let out = tmp.path().join("out");
    let o = run(
        &["render", "in", "--output-dir", "out"],
        Some(tmp.path()),
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut names: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "00-serviceaccount_ns_demo.yaml",
            "01-role_ns_demo.yaml",
            "02-rolebinding_ns_demo.yaml",
            "07-service_ns_demo.yaml",
            "09-deployment_ns_demo.yaml"
        ]
    );
    assert!(o.stdout.is_empty());

    // A broken input leaves the previous output untouched.
    fs::write(input.join("broken.yaml"), "kind: [\n").unwrap();
    let o = run(
        &["render", "in", "--output-dir", "out"],
        Some(tmp.path()),
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(fs::read_dir(&out).unwrap().count(), 5);

    // A rename replaces the directory: no stale files remain.
    fs::remove_file(input.join("broken.yaml")).unwrap();
    fs::write(
        input.join("svc.yaml"),
        SERVICE.replace("name: demo", "name: other"),
    )
    .unwrap();
    let o = run(
        &["render", "in", "--output-dir", "out"],
        Some(tmp.path()),
        &[],
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(
        fs::read_dir(&out).unwrap().all(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("other"))
    );

    // A directory with foreign content is refused, not deleted.
    fs::write(out.join("notes.txt"), "mine").unwrap();
    let o = run(
        &["render", "in", "--output-dir", "out"],
        Some(tmp.path()),
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(out.join("notes.txt").exists());

    // An output directory that holds the input is refused before anything is read.
    for target in ["in", "."] {
        let o = run(
            &["render", "in", "--output-dir", target],
            Some(tmp.path()),
            &[],
        );
        assert_eq!(o.status.code(), Some(2), "{target}");
        assert!(stderr(&o).contains("holds the input"), "{}", stderr(&o));
        assert!(input.join("svc.yaml").exists());
    }
    let leftovers = fs::read_dir(tmp.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("nimc-")
        })
        .count();
    assert_eq!(leftovers, 0, "no staging directory is left behind");
}

#[test]
fn output_is_identical_across_runs_threads_and_file_order() {
    let examples = root().join("examples");
    let a = run(
        &["render", examples.to_str().unwrap()],
        None,
        &[("RAYON_NUM_THREADS", "1")],
    );
    let b = run(
        &["render", examples.to_str().unwrap()],
        None,
        &[("RAYON_NUM_THREADS", "4")],
    );
    assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
    assert!(!a.stdout.is_empty());
    assert_eq!(a.stdout, b.stdout, "thread count changed the output");

    // The same documents under other file names and in the opposite file order.
    let tmp = tempfile::tempdir().unwrap();
    let mut files: Vec<_> = walk(&examples);
    files.sort();
    for (i, f) in files.iter().rev().enumerate() {
        if f.file_name().unwrap() == "nimc.yaml" {
            continue;
        }
        fs::copy(f, tmp.path().join(format!("{i:03}.yaml"))).unwrap();
    }
    // The facts of `examples/` (the manifest of cache-autodetect), with a Kubernetes version
    // that changes nothing.
    let facts = fs::read_to_string(examples.join("nimc.yaml")).unwrap();
    let manifests = tmp.path().join("cache-autodetect/manifests");
    fs::create_dir_all(&manifests).unwrap();
    for m in fs::read_dir(examples.join("cache-autodetect/manifests")).unwrap() {
        let m = m.unwrap().path();
        fs::copy(&m, manifests.join(m.file_name().unwrap())).unwrap();
    }
    fs::write(
        tmp.path().join("nimc.yaml"),
        format!("kubernetesVersion: v1.34.1\n{facts}"),
    )
    .unwrap();
    let c = run(&["render", "."], Some(tmp.path()), &[]);
    assert_eq!(c.status.code(), Some(0), "{}", stderr(&c));
    assert_eq!(a.stdout, c.stdout, "file names or order changed the output");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "yaml") {
            out.push(p);
        }
    }
    out
}

#[test]
fn gitignored_and_hidden_files_are_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("svc.yaml"), SERVICE).unwrap();
    fs::write(tmp.path().join(".gitignore"), "rendered/\n").unwrap();
    for dir in ["rendered", ".hidden"] {
        fs::create_dir(tmp.path().join(dir)).unwrap();
        fs::write(tmp.path().join(dir).join("broken.yaml"), "kind: [\n").unwrap();
    }
    fs::write(tmp.path().join("notes.txt"), "kind: [\n").unwrap();
    let o = run(&["render", "."], Some(tmp.path()), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn validate_reports_without_rendering() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("svc.yaml"), SERVICE).unwrap();
    let o = run(&["validate", "."], Some(tmp.path()), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(o.stdout.is_empty(), "validate prints no objects");
    fs::write(
        tmp.path().join("svc.yaml"),
        SERVICE.replace("  storage:", "  replica: 2\n  storage:"),
    )
    .unwrap();
    let o = run(
        &["validate", ".", "--format", "json"],
        Some(tmp.path()),
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    let line: serde_json::Value = serde_json::from_str(stderr(&o).lines().next().unwrap()).unwrap();
    assert_eq!(line["code"], "NIMC003");
    assert_eq!(line["file"], "svc.yaml");
    assert_eq!(line["line"], 11);
    assert_eq!(line["help"], "did you mean `replicas`?");
}

#[test]
fn validate_base_reports_changes_the_cluster_refuses() {
    let tmp = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let o = std::process::Command::new("git")
            .args(["-c", "user.name=nimc", "-c", "user.email=nimc@example.com"])
            .args(args)
            .current_dir(tmp.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let multi = |tensor: u32| {
        SERVICE.replace(
            "  expose:",
            &format!("  replicas: 1\n  multiNode:\n    parallelism:\n      pipeline: 2\n      tensor: {tensor}\n    mpi:\n      mpiStartTimeout: 300\n  expose:"),
        )
    };
    fs::create_dir(tmp.path().join("nim")).unwrap();
    fs::write(tmp.path().join("nim/svc.yaml"), multi(4)).unwrap();
    // Values the operator's templates trim are compared as read on both sides.
    fs::write(
        tmp.path().join("nim/padded.yaml"),
        SERVICE
            .replace("name: demo", "name: padded")
            .replace("    emptyDir: {}\n", "    pvc:\n      create: true\n      size: 1Gi\n      volumeAccessMode: ReadWriteOnce\n      subPath: 'models '\n"),
    )
    .unwrap();
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "base"]);
    // Unchanged: clean. The resource moved to another file: still compared.
    let o = run(
        &["validate", "--base", "HEAD", "nim"],
        Some(tmp.path()),
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    fs::remove_file(tmp.path().join("nim/svc.yaml")).unwrap();
    fs::write(tmp.path().join("nim/moved.yaml"), multi(8)).unwrap();
    let o = run(
        &["validate", "--base", "HEAD", "--format", "github", "nim"],
        Some(tmp.path()),
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.starts_with("::error file=nim/moved.yaml,line=17,col=7,title=NIMC028::"),
        "{e}"
    );
    assert!(
        e.contains("tensor was 4 at the base revision and is 8 now"),
        "{e}"
    );
    // Without --base the same input is valid; a revision that does not exist is a usage error.
    let o = run(&["validate", "nim"], Some(tmp.path()), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = run(
        &["validate", "--base", "no-such-rev", "nim"],
        Some(tmp.path()),
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
}
