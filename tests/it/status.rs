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

/// Paths in `v` that `schema` (a structural OpenAPI schema) does not declare: the API server
/// would prune them, and a status writer comparing with what it wrote would loop.
fn pruned(v: &serde_json::Value, schema: &serde_json::Value, at: &str, out: &mut Vec<String>) {
    use serde_json::Value;
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        return;
    }
    match v {
        Value::Object(m) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let extra = schema.get("additionalProperties").filter(|a| a.is_object());
            for (k, x) in m {
                match (props.and_then(|p| p.get(k)), extra) {
                    (Some(s), _) | (None, Some(s)) => pruned(x, s, &format!("{at}/{k}"), out),
                    (None, None) => out.push(format!("{at}/{k}")),
                }
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                pruned(x, &schema["items"], &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn statuses_fit_nvidias_status_schemas() {
    let Some(shared) = crate::support::shared() else {
        eprintln!("../shared not present; status schemas not checked");
        return;
    };
    let mut schemas = std::collections::BTreeMap::new();
    for entry in fs::read_dir(shared.join("upstream-crds/nim")).unwrap() {
        let text = fs::read_to_string(entry.unwrap().path()).unwrap();
        for crd in yaml_docs(&text) {
            if crd["kind"] != "CustomResourceDefinition" {
                continue;
            }
            let kind = crd["spec"]["names"]["kind"].as_str().unwrap().to_string();
            let schema =
                crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
                    .clone();
            schemas.insert(kind, schema);
        }
    }
    let mut statuses = Vec::new();
    let mut cases: Vec<_> = fs::read_dir(root().join("tests/status"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    for case in cases {
        let text = fs::read_to_string(case.join("expected.yaml")).unwrap();
        for doc in yaml_docs(&text) {
            let kind = doc["kind"].as_str().unwrap().to_string();
            statuses.push((
                format!("{}: {kind}", case.display()),
                kind,
                doc["status"].clone(),
            ));
        }
    }
    // What the agent writes for a resource it cannot compile.
    for kind in ["NIMService", "NIMCache", "NIMPipeline"] {
        let status = nimc::status::rejected(kind, None, "NIMC026: bad", NOW);
        statuses.push((format!("rejected {kind}"), kind.to_string(), status));
    }
    let mut kinds = std::collections::BTreeSet::new();
    for (what, kind, status) in statuses {
        let schema = &schemas[&kind];
        let validator = jsonschema::validator_for(schema).expect("schema compiles");
        let errors: Vec<String> = validator
            .iter_errors(&status)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{what}: {errors:#?}");
        let mut extra = Vec::new();
        pruned(&status, schema, "/status", &mut extra);
        assert!(
            extra.is_empty(),
            "{what}: NVIDIA's CRD would prune {extra:?}"
        );
        kinds.insert(kind);
    }
    assert_eq!(kinds.len(), 3);
    // The checks bite.
    let mut extra = Vec::new();
    let bogus = serde_json::json!({"state": "Ready", "model": {"bogus": 1}});
    pruned(&bogus, &schemas["NIMService"], "/status", &mut extra);
    assert_eq!(extra, ["/status/model/bogus"]);
    let bad = serde_json::json!({"conditions": [{"type": "Ready"}]});
    assert!(
        !jsonschema::validator_for(&schemas["NIMService"])
            .unwrap()
            .is_valid(&bad)
    );
}
