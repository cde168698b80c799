//! Golden tests: each example renders to exactly its checked-in output.

use std::fs;

use crate::support::{examples, render_dir, root};

#[test]
fn examples_match_their_golden_output() {
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut failures = Vec::new();
    let all = examples();
    assert!(all.len() >= 6, "expected at least six examples");
    for dir in all {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let c = render_dir(&dir);
        assert!(!c.has_errors(), "{name}: {:#?}", c.diagnostics);
        assert!(!c.objects.is_empty(), "{name}: rendered nothing");
        let got = nimc::manifest::to_yaml(&c.objects);
        let golden = root().join("tests/golden").join(format!("{name}.yaml"));
        if update {
            fs::write(&golden, &got).unwrap();
            continue;
        }
        let want = fs::read_to_string(&golden).unwrap_or_default();
        if got != want {
            failures.push(format!(
                "{name}: output differs from {} (run UPDATE_EXPECT=1 cargo test to re-bless)\n{}",
                golden.display(),
                first_difference(&want, &got)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn first_difference(want: &str, got: &str) -> String {
    for (i, (w, g)) in want.lines().zip(got.lines()).enumerate() {
        if w != g {
            return format!("line {}:\n  golden: {w}\n  actual: {g}", i + 1);
        }
    }
    format!(
        "lengths differ: golden {} lines, actual {} lines",
        want.lines().count(),
        got.lines().count()
    )
}

/// The README promises sorted keys: `apiVersion` and `kind` first (as every Kubernetes client
/// prints them), then every mapping in byte order. Checked over the examples and, when present,
/// every conformance input.
#[test]
fn objects_print_with_sorted_keys() {
    let mut dirs = examples();
    if let Some(shared) = crate::support::shared() {
        let cases = shared.join("conformance/cases");
        for case in fs::read_dir(cases).into_iter().flatten() {
            dirs.push(case.unwrap().path().join("input"));
        }
    }
    let mut unsorted = Vec::new();
    for dir in dirs {
        let c = render_dir(&dir);
        assert!(!c.has_errors(), "{}: {:#?}", dir.display(), c.diagnostics);
        let text = nimc::manifest::to_yaml(&c.objects);
        let docs = nimc::yaml::parse_documents(&text, nimc::yaml::Limits::default()).unwrap();
        for doc in &docs {
            check_sorted(doc, "", true, &mut unsorted);
        }
    }
    unsorted.sort();
    unsorted.dedup();
    assert!(
        unsorted.is_empty(),
        "keys out of order at:\n{}",
        unsorted.join("\n")
    );
}

fn check_sorted(node: &nimc::yaml::Node, path: &str, top: bool, out: &mut Vec<String>) {
    use nimc::yaml::Value;
    match &node.value {
        Value::Map(entries) => {
            let keys: Vec<&str> = entries.iter().map(|e| e.key.as_ref()).collect();
            let rest = if top && keys.starts_with(&["apiVersion", "kind"]) {
                &keys[2..]
            } else {
                &keys[..]
            };
            if !rest.is_sorted() {
                out.push(format!("{path}: {keys:?}"));
            }
            for e in entries {
                check_sorted(&e.value, &format!("{path}/{}", e.key), false, out);
            }
        }
        Value::Seq(items) => {
            for item in items {
                check_sorted(item, &format!("{path}/*"), false, out);
            }
        }
        Value::Scalar(_) => {}
    }
}
