//! The pre-commit hooks of `.pre-commit-hooks.yaml`, run by the real `pre-commit` (from PyPI)
//! in an example repository: `pre-commit try-repo` for the validate hook (it also sees
//! uncommitted hook changes) and a `.pre-commit-config.yaml` that pins this repository's HEAD
//! for the render-is-fresh hook, which needs arguments.
//!
//! pre-commit builds nimc with `cargo install` (`language: rust`). CI installs pre-commit and
//! sets `NIMC_TEST_PRE_COMMIT=1`, which makes this test mandatory; elsewhere it is skipped
//! when `pre-commit` is missing.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use crate::support::{nimc, root};

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .args(["-c", "user.name=nimc", "-c", "user.email=nimc@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

fn pre_commit(repo: &Path, home: &Path, args: &[&str]) -> Output {
    Command::new("pre-commit")
        .args(args)
        .current_dir(repo)
        .env("PRE_COMMIT_HOME", home)
        // Share one build directory between pre-commit's hook environments (and test runs),
        // unoptimised: this test is about the hook wiring, not nimc's speed.
        .env("CARGO_TARGET_DIR", root().join("target/pre-commit"))
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn pre_commit_hooks_run_with_the_real_pre_commit() {
    let required = std::env::var_os("NIMC_TEST_PRE_COMMIT").is_some();
    let available = Command::new("pre-commit")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        assert!(
            !required,
            "NIMC_TEST_PRE_COMMIT is set but pre-commit is not installed"
        );
        eprintln!("skipping the pre-commit test: pre-commit is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("pre-commit-home");
    let repo = tmp.path().join("platform");
    let nim = repo.join("nim");
    fs::create_dir_all(&nim).unwrap();
    for e in fs::read_dir(root().join("examples/basic")).unwrap() {
        let p = e.unwrap().path();
        fs::copy(&p, nim.join(p.file_name().unwrap())).unwrap();
    }
    let o = Command::new(nimc())
        .args(["render", "nim", "--output-dir", "rendered"])
        .current_dir(&repo)
        .output()
        .unwrap();
    assert!(o.status.success());
    let head = git(&root(), &["rev-parse", "HEAD"]);
    fs::write(
        repo.join(".pre-commit-config.yaml"),
        format!(
            "repos:\n- repo: {}\n  rev: {}\n  hooks:\n  - id: nimc-render-fresh\n    args: [--output-dir, rendered, nim]\n",
            root().display(),
            head.trim()
        ),
    )
    .unwrap();
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-qm", "platform"]);
    let root_dir = root().display().to_string();

    let o = pre_commit(
        &repo,
        &home,
        &["try-repo", &root_dir, "nimc-validate", "--all-files"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = pre_commit(&repo, &home, &["run", "nimc-render-fresh", "--all-files"]);
    assert!(o.status.success(), "{}", text(&o));

    // A broken resource fails the validate hook with a located diagnostic.
    fs::write(
        nim.join("broken.yaml"),
        "apiVersion: apps.nvidia.com/v1alpha1\nkind: NIMService\nmetadata: {name: x, namespace: n}\nspec:\n  replica: 2\n",
    )
    .unwrap();
    git(&repo, &["add", "."]);
    let o = pre_commit(
        &repo,
        &home,
        &["try-repo", &root_dir, "nimc-validate", "--all-files"],
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("nim/broken.yaml:5:3"), "{}", text(&o));
    fs::remove_file(nim.join("broken.yaml")).unwrap();
    git(&repo, &["add", "-A"]);

    // A resource changed without re-rendering fails the freshness hook.
    for e in fs::read_dir(&nim).unwrap() {
        let p = e.unwrap().path();
        let t = fs::read_to_string(&p).unwrap();
        if t.contains("kind: NIMService") && t.contains("  replicas: 1\n") {
            fs::write(&p, t.replacen("  replicas: 1\n", "  replicas: 3\n", 1)).unwrap();
        }
    }
    git(&repo, &["add", "."]);
    let o = pre_commit(&repo, &home, &["run", "nimc-render-fresh", "--all-files"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("is not what nimc renders now"),
        "{}",
        text(&o)
    );
}
