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
