//! Golden tests of `nimc status --observed`: each folder of `tests/status/` holds resources
//! (`input/`), live objects with their status (`observed.yaml`, whose first line says what the
//! case shows), extra arguments (`args`, one per line) and the expected output
//! (`expected.yaml`; `UPDATE_EXPECT=1 cargo test` re-blesses). The clock is fixed with --now.

use std::fs;
use std::process::Command;

use regex::Regex;

use crate::support::{nimc, root, yaml_docs};

const NOW: &str = "2026-01-01T00:00:00Z";

#[test]
fn status_goldens() {
    let mut cases: Vec<_> = fs::read_dir(root().join("tests/status"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 10);
    let reason = Regex::new(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$").unwrap();
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut failures = Vec::new();
    let mut states = std::collections::BTreeSet::new();
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let args: Vec<String> = fs::read_to_string(case.join("args"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        let o = Command::new(nimc())
            .args(["status", "--observed", "observed.yaml", "--now", NOW])
            .args(&args)
            .arg("input")
            .current_dir(&case)
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let got = String::from_utf8(o.stdout).unwrap();
        for doc in yaml_docs(&got) {
            let kind = doc["kind"].as_str().unwrap().to_string();
            states.insert(format!(
                "{kind}:{}",
                doc["status"]["state"].as_str().unwrap()
            ));
            for c in doc["status"]["conditions"].as_array().into_iter().flatten() {
                for field in ["type", "status", "reason", "message", "lastTransitionTime"] {
                    assert!(
                        c[field].is_string(),
                        "{name}: condition without {field}: {c}"
                    );
                }
                assert!(
                    reason.is_match(c["reason"].as_str().unwrap()),
                    "{name}: {c}"
                );
            }
        }
        let path = case.join("expected.yaml");
        if update {
            fs::write(&path, &got).unwrap();
        } else if fs::read_to_string(&path).ok().as_deref() != Some(got.as_str()) {
            failures.push(format!("{name}: output differs from expected.yaml:\n{got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Every state of every kind appears in some case.
    for s in [
        "NIMService:Ready",
        "NIMService:NotReady",
        "NIMService:Failed",
        "NIMCache:Ready",
        "NIMCache:Failed",
        "NIMCache:InProgress",
        "NIMCache:Pending",
        "NIMPipeline:Ready",
        "NIMPipeline:Failed",
        "NIMPipeline:NotReady",
    ] {
        assert!(states.contains(s), "no golden shows {s}: {states:?}");
    }
}
