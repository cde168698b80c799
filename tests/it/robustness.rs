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
