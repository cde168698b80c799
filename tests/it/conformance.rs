//! The conformance cases: objects the real operator created for its own samples. Each case is
//! rendered with the `nimc` binary and scored by the corpus's own `compare.py`, so the
//! normalisation cannot drift from the official runner.
//!
//! The cases are compared with `managedBy: k8s-nim-operator` in the facts: nimc's default label
//! value (`nimc`, a documented deviation) also appears inside ServiceMonitor selectors and
//! ResourceClaimTemplate claim labels, which `compare.py` does not normalise. Every other field
//! must match exactly for every case in scope.

use std::path::Path;
use std::process::Command;

use crate::support::{nimc, shared};

/// Case name prefixes that must be exact: every case of the corpus.
const IN_SCOPE: &[&str] = &[
    "serving-standalone-",
    "caching-",
    "serving-advanced-dra-",
    "pipelines-",
    "serving-kserve-",
    "serving-advanced-multi-node-",
];

#[test]
fn conformance_cases_in_scope_are_exact() {
    let Some(shared) = shared() else {
        eprintln!("../shared not present; conformance skipped");
        return;
    };
    let cases_dir = shared.join("conformance/cases");
    let compare = shared.join("conformance/compare.py");
    let tmp = tempfile::tempdir().unwrap();
    let facts = tmp.path().join("facts.yaml");
    std::fs::write(&facts, "managedBy: k8s-nim-operator\n").unwrap();
    let mut cases: Vec<_> = std::fs::read_dir(&cases_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("expected").is_dir())
        .collect();
    cases.sort();
    let mut failures = Vec::new();
    let mut exact = 0;
    let mut in_scope = 0;
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let scoped = IN_SCOPE.iter().any(|p| name.starts_with(p));
        let (line, ok) = score(case, &compare, &facts, tmp.path());
        println!("{line}");
        if scoped {
            in_scope += 1;
            if ok {
                exact += 1;
            } else {
                failures.push(line);
            }
        }
    }
    println!("conformance (in scope): {exact}/{in_scope} cases exact");
    assert!(
        in_scope > 0,
        "no conformance cases found in {}",
        cases_dir.display()
    );
    assert!(
        failures.is_empty(),
        "in-scope cases not exact:\n{}",
        failures.join("\n")
    );
}

fn score(case: &Path, compare: &Path, facts: &Path, tmp: &Path) -> (String, bool) {
    let name = case.file_name().unwrap().to_string_lossy().into_owned();
    let out = Command::new(nimc())
        .arg("render")
        .arg(case.join("input"))
        .arg("--facts")
        .arg(facts)
        .output()
        .expect("run nimc");
    if !out.status.success() {
        return (
            format!(
                "{name}: render failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
            false,
        );
    }
    let actual = tmp.join(format!("{name}.yaml"));
    std::fs::write(&actual, &out.stdout).unwrap();
    let report = Command::new("python3")
        .arg(compare)
        .arg(case)
        .arg(&actual)
        .arg("--verbose")
        .output()
        .expect("python3 with PyYAML is needed for the conformance test");
    let text = String::from_utf8_lossy(&report.stdout).into_owned();
    (
        text.trim_end().to_string(),
        report.status.success() && !text.contains("EXTRA "),
    )
}

#[test]
fn conformance_inputs_validate_clean() {
    let Some(shared) = shared() else {
        return;
    };
    for case in std::fs::read_dir(shared.join("conformance/cases")).unwrap() {
        let input = case.unwrap().path().join("input");
        let out = Command::new(nimc())
            .arg("validate")
            .arg(&input)
            .output()
            .expect("run nimc");
        assert!(
            out.status.success(),
            "{}: {}",
            input.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
