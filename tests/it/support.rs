//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

use nimc::facts::{self, Facts};
use nimc::source;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared` beside the repository, when present (CI provides it).
pub fn shared() -> Option<PathBuf> {
    let p = root().join("../shared");
    p.is_dir().then_some(p)
}

/// The path of the `nimc` binary built for the tests.
pub fn nimc() -> &'static str {
    env!("CARGO_BIN_EXE_nimc")
}

/// Render a directory through the library exactly as `nimc render DIR` does.
pub fn render_dir(dir: &Path) -> nimc::Compilation {
    let (sources, diags) = source::read(&[dir.to_path_buf()]).expect("read sources");
    assert!(diags.is_empty(), "{diags:?}");
    let mut sources = sources;
    let facts = match source::find_facts(dir) {
        Some(p) => {
            let i = sources.add_settings(source::read_one(&p).expect("read facts"));
            let mut facts = facts::parse(&sources.files[i], i).expect("parse facts");
            source::read_manifests(&mut facts, &p, &mut sources).expect("read manifests");
            facts
        }
        None => Facts::default(),
    };
    nimc::compile(&sources, &facts)
}

/// Every `examples/<name>/` directory, sorted.
pub fn examples() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .expect("examples/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

/// Parse a multi-document YAML stream into JSON values (with nimc's own parser).
pub fn yaml_docs(text: &str) -> Vec<serde_json::Value> {
    nimc::yaml::parse_documents(text, nimc::yaml::Limits::default())
        .expect("valid YAML")
        .iter()
        .filter(|n| !n.is_null())
        .map(|n| nimc::yaml::de::from_node::<serde_json::Value>(n).expect("JSON-compatible YAML"))
        .collect()
}
