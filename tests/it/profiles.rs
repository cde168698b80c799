//! Offline profile selection: each folder of `tests/profiles/cases/` holds a NIMCache that
//! lists no profiles (`nimcache.yaml`), the facts that give its model manifest and the nodes'
//! GPUs (`nimc.yaml`, pointing into `tests/profiles/manifests/`) and what the operator does
//! (`expected.yaml`): the profile ids its Job downloads (`ids`, as a set) or the diagnostic
//! nimc gives where the operator selects nothing or cannot read the manifest (`diagnostic`).
//! The cases reproduce the operator's own parser tests and cases computed with its parser
//! (see `tests/profiles/README.md`).

use std::fs;
use std::process::Command;

use crate::support::{nimc, root, yaml_docs};

#[test]
fn profile_selection_cases() {
    let mut cases: Vec<_> = fs::read_dir(root().join("tests/profiles/cases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 40, "expected the operator's cases");
    let mut failures = Vec::new();
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let expected = &yaml_docs(&fs::read_to_string(case.join("expected.yaml")).unwrap())[0];
        let o = Command::new(nimc())
            .args(["render", "--facts", "nimc.yaml", "nimcache.yaml"])
            .current_dir(&case)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        if let Some(code) = expected["diagnostic"].as_str() {
            if o.status.code() != Some(1) || !stderr.contains(&format!("[{code}]")) {
                failures.push(format!(
                    "{name}: expected {code}, got {:?}: {stderr}",
                    o.status.code()
                ));
            }
            continue;
        }
        if o.status.code() != Some(0) {
            failures.push(format!("{name}: exit {:?}: {stderr}", o.status.code()));
            continue;
        }
        let docs = yaml_docs(&String::from_utf8(o.stdout).unwrap());
        let job = docs.iter().find(|d| d["kind"] == "Job").expect("a Job");
        let args: Vec<&str> = job["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let want: Vec<&str> = expected["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        if args.first() != Some(&"--profiles") || args[1..] != want[..] {
            failures.push(format!("{name}: args {args:?}, want --profiles {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn nimc_profiles_explains_the_selection() {
    let dir = root().join("examples/cache-autodetect");
    let manifest = dir.join("manifests/llama-3.1-8b-instruct-1.8.4.yaml");
    let run = |format: &str| {
        let o = Command::new(nimc())
            .args(["profiles", "--manifest"])
            .arg(&manifest)
            .args(["--format", format])
            .arg(&dir)
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    };
    let table = run("table");
    let header = table.lines().next().unwrap();
    for column in [
        "ID",
        "MODEL",
        "ENGINE",
        "PRECISION",
        "TP",
        "PP",
        "GPU",
        "LORA",
        "PROFILE",
    ] {
        assert!(header.contains(column), "{header}");
    }
    assert!(
        table.contains("NIMCache nim-autodetect/llama-3-1-8b"),
        "{table}"
    );
    assert_eq!(table.matches("  selected  ").count(), 1, "{table}");
    assert!(table.contains("the profile's tp tag is `2`"), "{table}");
    assert!(table.contains("none of the nodes' GPU products"), "{table}");
    let json: serde_json::Value = serde_json::from_str(&run("json")).unwrap();
    assert_eq!(json["profiles"].as_array().unwrap().len(), 8);
    let cache = &json["caches"][0];
    assert_eq!(cache["selected"].as_array().unwrap().len(), 1);
    assert_eq!(cache["dropped"].as_array().unwrap().len(), 7);
    // The Job downloads exactly what `nimc profiles` selects.
    let rendered = Command::new(nimc())
        .arg("render")
        .arg(&dir)
        .output()
        .unwrap();
    let docs = yaml_docs(&String::from_utf8(rendered.stdout).unwrap());
    let job = docs.iter().find(|d| d["kind"] == "Job").unwrap();
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["args"][1],
        cache["selected"][0]
    );
}

#[test]
fn a_manifest_that_cannot_be_read_is_located_in_the_facts() {
    let tmp = tempfile::tempdir().unwrap();
    let case = root().join("tests/profiles/cases/v1-lora-true");
    fs::copy(case.join("nimcache.yaml"), tmp.path().join("nimcache.yaml")).unwrap();
    // `nimc COMMAND .` with these facts: it fails (exit 1); its standard error.
    let refused = |command: &str, facts: &str| {
        fs::write(tmp.path().join("nimc.yaml"), facts).unwrap();
        let o = Command::new(nimc())
            .args([command, "."])
            .current_dir(tmp.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(1), "{stderr}");
        stderr
    };
    let stderr = refused(
        "render",
        "gpuProducts: []\nmodelManifests:\n  nvcr.io/nim/example/model:1.0.0: missing.yaml\n",
    );
    assert!(stderr.contains("error[NIMC035]"), "{stderr}");
    assert!(stderr.contains("nimc.yaml:3:"), "{stderr}");
    assert!(
        stderr.contains("docker run --rm --entrypoint cat"),
        "{stderr}"
    );
    // A manifest outside the facts file's repository (here: its folder) is never read.
    let stderr = refused(
        "render",
        "modelManifests:\n  nvcr.io/nim/example/model:1.0.0: /etc/hostname\n",
    );
    assert!(
        stderr.contains("error[NIMC035]") && stderr.contains("outside"),
        "{stderr}"
    );
    // Without the manifest, NIMC010 names both facts and the way to get the file.
    let stderr = refused("validate", "kubernetesVersion: v1.34.0\n");
    for part in [
        "error[NIMC010]",
        "modelManifests",
        "gpuProducts",
        "/etc/nim/config/model_manifest.yaml",
    ] {
        assert!(stderr.contains(part), "{part}: {stderr}");
    }
}
