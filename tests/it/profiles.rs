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
