//! The rule fixtures in `tests/rules/`: one small input per rule of the operator's validation
//! (the spec's tables: webhook rules `NS-W*` and `NC-W*`, CEL rules `CEL-*`, reconcile-time
//! checks `R-*`, the CRD schema constraints) and of nimc's repository-wide checks (`REPO-*`).
//!
//! A fixture says what it covers and what it expects in comments:
//! - `# rule: ID` (one line per rule);
//! - `# facts: {...}` cluster facts, as in `nimc.yaml` (optional);
//! - `# expect: NIMC0xx[, NIMC0yy]` at the end of the line where each diagnostic must point.
//!
//! A fixture with no `expect` must validate clean (rules that only a cluster can see). A file
//! `<name>.base.yaml` beside a fixture is the resource as it was before: the update-time rules
//! compare against it, as `nimc validate --base REV` does. The test requires the diagnostics
//! (errors and warnings; notes only where expected) to be exactly the expected (line, code)
//! pairs, each with a help line, and every rule of the spec's tables to have a fixture.

use std::collections::BTreeSet;
use std::path::PathBuf;

use nimc::diagnostic::Severity;
use nimc::facts::{self, Facts};
use nimc::source::Sources;

use crate::support::root;

/// Every rule of `validation-status-nemo.md` §1.3-§1.8, plus the schema tables of §1.6.
fn spec_rules() -> Vec<String> {
    let mut ids = Vec::new();
    ids.extend((1..=49).map(|i| format!("NS-W{i:02}")));
    ids.extend((1..=18).map(|i| format!("NC-W{i:02}")));
    ids.extend((1..=12).map(|i| format!("CEL-NS-{i:02}")));
    ids.extend((1..=5).map(|i| format!("CEL-NC-{i:02}")));
    ids.extend((1..=10).map(|i| format!("CEL-NP-{i:02}")));
    ids.extend((1..=17).map(|i| format!("R-{i:02}")));
    ids.extend(["SCHEMA-NS", "SCHEMA-NC", "SCHEMA-NP"].map(String::from));
    ids
}

struct Fixture {
    path: PathBuf,
    text: String,
    base: Option<String>,
    rules: Vec<String>,
    facts: Option<String>,
    expected: BTreeSet<(u32, String)>,
}

fn fixtures() -> Vec<Fixture> {
    let dir = root().join("tests/rules");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/rules")
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(".yaml") && !name.ends_with(".base.yaml")
        })
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let base = std::fs::read_to_string(path.with_extension("base.yaml")).ok();
            let mut f = Fixture {
                path,
                text: text.clone(),
                base,
                rules: Vec::new(),
                facts: None,
                expected: BTreeSet::new(),
            };
            for (i, line) in text.lines().enumerate() {
                if let Some(r) = line.strip_prefix("# rule:") {
                    f.rules.push(r.trim().to_string());
                } else if let Some(facts) = line.strip_prefix("# facts:") {
                    f.facts = Some(facts.trim().to_string());
                } else if let Some((_, codes)) = line.split_once("# expect:") {
                    for code in codes.split(',') {
                        f.expected.insert((i as u32 + 1, code.trim().to_string()));
                    }
                }
            }
            f
        })
        .collect()
}

#[test]
fn every_rule_fixture_reports_exactly_its_diagnostics() {
    let mut failures = Vec::new();
    let fixtures = fixtures();
    for f in &fixtures {
        let name = f.path.file_name().unwrap().to_string_lossy().into_owned();
        let facts = match &f.facts {
            None => Facts::default(),
            Some(text) => {
                let s = Sources::from_texts([("nimc.yaml", text.as_str())]);
                facts::parse(&s.files[0], 0).expect("fixture facts")
            }
        };
        let sources = Sources::from_texts([(name.as_str(), f.text.as_str())]);
        let base = f
            .base
            .as_ref()
            .map(|b| Sources::from_texts([(format!("base:{name}"), b.as_str())]));
        let c = nimc::compile_with_base(&sources, &facts, base.as_ref());
        let expected_codes: BTreeSet<&str> = f.expected.iter().map(|(_, c)| c.as_str()).collect();
        let mut actual = BTreeSet::new();
        for d in &c.diagnostics {
            if d.severity == Severity::Note && !expected_codes.contains(d.code) {
                continue;
            }
            let line = d.span.map_or(0, |s| s.start.line);
            actual.insert((line, d.code.to_string()));
            if d.help.is_none() || d.file != Some(0) {
                failures.push(format!(
                    "{name}: {} at line {line} lacks a help line or a file: {}",
                    d.code, d.message
                ));
            }
        }
        if actual != f.expected {
            failures.push(format!(
                "{name}: expected {:?}, got {:?}\n{}",
                f.expected,
                actual,
                c.diagnostics
                    .iter()
                    .map(|d| format!(
                        "  {} {:?}: {}",
                        d.code,
                        d.span.map(|s| s.start.line),
                        d.message
                    ))
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
        }
        if f.rules.is_empty() {
            failures.push(format!("{name}: no `# rule:` line"));
        }
    }
    let covered: BTreeSet<&str> = fixtures
        .iter()
        .flat_map(|f| f.rules.iter().map(String::as_str))
        .collect();
    for id in spec_rules() {
        if !covered.contains(id.as_str()) {
            failures.push(format!("rule {id} has no fixture in tests/rules/"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_code_a_fixture_expects_is_explained() {
    for f in fixtures() {
        for (_, code) in &f.expected {
            assert!(
                nimc::diagnostic::lookup(code).is_some(),
                "{}: {code} is not in the code table",
                f.path.display()
            );
        }
    }
}

#[test]
fn every_code_in_the_source_is_in_the_code_table() {
    let mut stack = vec![root().join("src")];
    let mut seen = BTreeSet::new();
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                for (i, _) in text.match_indices("\"NIMC") {
                    let code = &text[i + 1..(i + 8).min(text.len())];
                    if code[4..].bytes().all(|b| b.is_ascii_digit()) {
                        seen.insert(code.to_string());
                    }
                }
            }
        }
    }
    assert!(seen.len() > 20, "{seen:?}");
    for code in seen {
        assert!(
            nimc::diagnostic::lookup(&code).is_some(),
            "{code} is emitted but `nimc explain {code}` knows nothing about it"
        );
    }
}
