//! No input makes nimc panic: every prefix of every example file, and a set of hostile inputs,
//! either renders or produces diagnostics.

use std::fs;

use nimc::facts::Facts;
use nimc::source::Sources;

use crate::support::examples;

fn compile(text: &str) -> nimc::Compilation {
    nimc::compile(&Sources::from_texts([("t.yaml", text)]), &Facts::default())
}

#[test]
fn every_prefix_of_every_example_compiles_without_panicking() {
    for dir in examples() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if !path.is_file() {
                continue;
            }
            let text = fs::read_to_string(&path).unwrap();
            let mut cut = 0;
            while cut < text.len() {
                if text.is_char_boundary(cut) {
                    let c = compile(&text[..cut]);
                    for d in &c.diagnostics {
                        assert!(
                            d.file.is_some() && d.span.is_some(),
                            "{}: {d:?}",
                            path.display()
                        );
                    }
                }
                cut += 5;
            }
        }
    }
}

#[test]
fn hostile_inputs_get_diagnostics() {
    let nested = format!("a:\n  {}", "[".repeat(50_000));
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let service = |spec: &str| {
        format!(
            "apiVersion: apps.nvidia.com/v1alpha1\nkind: NIMService\nmetadata:\n  name: s\nspec:\n{spec}"
        )
    };
    let cases = [
        ("tabs", "a:\n\tb: 1\n".to_string()),
        ("nesting", nested),
        ("alias bomb", bomb),
        ("duplicate keys", "a: 1\na: 2\n".to_string()),
        ("wrong scalar type", service("  replicas: many\n")),
        (
            "negative unsigned",
            service("  multiNode:\n    parallelism:\n      tensor: -1\n"),
        ),
        (
            "huge number",
            service("  replicas: 99999999999999999999999\n"),
        ),
        (
            "bad quantity",
            service(
                "  image: {repository: r, tag: t}\n  storage:\n    emptyDir:\n      sizeLimit: lots\n",
            ),
        ),
        (
            "huge quantity",
            service(
                "  image: {repository: r, tag: t}\n  storage:\n    emptyDir:\n      sizeLimit: 99999999999999999999999999999999999999.99999999999999999999999\n",
            ),
        ),
        (
            "sequence root",
            "- apiVersion: apps.nvidia.com/v1alpha1\n".to_string(),
        ),
        ("spec is a string", service("  text\n")),
    ];
    for (name, text) in cases {
        let c = compile(&text);
        let has = |code: &str| c.diagnostics.iter().any(|d| d.code == code);
        match name {
            "sequence root" | "huge quantity" => {}
            _ => assert!(
                c.has_errors(),
                "{name}: expected an error, got {:?}",
                c.diagnostics
            ),
        }
        if name == "alias bomb" || name == "nesting" {
            assert!(has("NIMC002"), "{name}: {:?}", c.diagnostics);
        }
    }
}

/// Hostile files as an Argo CD plugin meets them in an untrusted repository: each is refused
/// by the real binary, under a 4 GB address-space limit, with exit status 1 and a diagnostic
/// that names the file and a line, and nothing panics.
#[cfg(unix)]
#[test]
fn hostile_files_are_refused_by_the_binary() {
    use std::os::unix::fs::symlink;
    use std::process::Command;

    let tmp = tempfile::tempdir().unwrap();
    let case = |name: &str| {
        let dir = tmp.path().join(name);
        fs::create_dir(&dir).unwrap();
        dir
    };
    let nim = "apiVersion: apps.nvidia.com/v1alpha1\nkind: NIMService\nmetadata: {name: s, namespace: n}\n";
    let mut cases: Vec<(&str, std::path::PathBuf, &str)> = Vec::new();
    let write = |dir: &std::path::Path, file: &str, bytes: &[u8]| {
        fs::write(dir.join(file), bytes).unwrap();
    };

    let d = case("huge");
    let f = fs::File::create(d.join("huge.yaml")).unwrap();
    f.set_len(100 * 1024 * 1024).unwrap();
    cases.push(("a 100 MB file", d, "huge.yaml"));
    let d = case("latin1");
    write(&d, "latin1.yaml", b"a: caf\xe9\n");
    cases.push(("Latin-1 text", d, "latin1.yaml"));
    let d = case("utf16");
    write(&d, "utf16.yaml", b"\xff\xfea\x00:\x00 \x001\x00\n\x00");
    cases.push(("UTF-16 text", d, "utf16.yaml"));
    let d = case("nul");
    write(&d, "nul.yaml", b"a: b\x00c\n");
    cases.push(("a NUL byte", d, "nul.yaml"));
    let d = case("self-loop");
    symlink("self.yaml", d.join("self.yaml")).unwrap();
    cases.push(("a link to itself", d, "self.yaml"));
    let d = case("pair-loop");
    symlink("b.yaml", d.join("a.yaml")).unwrap();
    symlink("a.yaml", d.join("b.yaml")).unwrap();
    cases.push(("two links to each other", d, "a.yaml"));
    let d = case("dir-loop");
    fs::create_dir(d.join("sub")).unwrap();
    symlink("..", d.join("sub/up")).unwrap();
    cases.push(("a directory link to its parent", d, "sub/up"));
    let d = case("dangling");
    symlink("missing.yaml", d.join("gone.yaml")).unwrap();
    cases.push(("a dangling link", d, "gone.yaml"));
    let d = case("escape");
    let outside = tmp.path().join("outside.yaml");
    fs::write(&outside, nim).unwrap();
    symlink(&outside, d.join("escape.yaml")).unwrap();
    cases.push(("a link out of the directory", d, "escape.yaml"));
    let d = case("kind-typo");
    write(
        &d,
        "typo.yaml",
        nim.replace("NIMService", "NIMServce").as_bytes(),
    );
    cases.push(("a misspelled kind", d, "typo.yaml"));
    let d = case("merge");
    write(
        &d,
        "merge.yaml",
        format!("{nim}spec:\n  <<: 5\n").as_bytes(),
    );
    cases.push(("a merge key on a scalar", d, "merge.yaml"));

    for (what, dir, file) in cases {
        let o = Command::new("sh")
            .arg("-c")
            .arg("ulimit -v 4194304; exec \"$0\" validate --format github .")
            .arg(crate::support::nimc())
            .current_dir(&dir)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{what}: {err}");
        assert!(!err.contains("panicked"), "{what}: {err}");
        assert!(
            err.lines()
                .any(|l| l.starts_with(&format!("::error file={file},line="))),
            "{what}: {err}"
        );
    }
}
