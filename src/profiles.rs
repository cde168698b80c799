//! NIMCache profile selection offline. In the cluster the operator reads the model manifest
//! from the model puller image, lists the nodes' `nvidia.com/gpu.product` labels and keeps the
//! manifest profiles that pass the NIMCache's filters (`spec.source.ngc.model`); the Job then
//! downloads those. Here the manifest is a file named in the facts (`modelManifests`, or the
//! `<cache>-manifest` ConfigMap among observed objects) and the GPU products are a fact
//! (`gpuProducts`). The rules follow the operator's manifest parser (schema v1 and v2) at
//! commit f63f74d7, quirks included: they decide what a real cluster would download.
//!
//! Pure: [`parse`] reads manifest text, [`judge`] gives every profile its verdict (the first
//! filter that drops it), [`selected`] the ids the Job downloads.

use std::collections::BTreeMap;

use crate::api::{GpuSpec, ModelSpec};
use crate::yaml::{self, Limits, Node, Pos, Value};

/// The manifest schema. The operator takes any `schema_version` containing a `2` for v2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schema {
    /// A map from profile id to `{model, release, tags, container_url}`.
    V1,
    /// `{schema_version, profile_selection_criteria, profiles: [{id, tags}]}`.
    V2,
}

/// A parsed model manifest: its profiles in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    pub schema: Schema,
    pub profiles: Vec<Profile>,
}

/// One profile. Tag values keep the text written in the manifest (`tp: 02` is `"02"`; a null
/// value is `""`). v2 profiles have no model and no release.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Profile {
    pub id: String,
    pub model: String,
    pub release: String,
    pub tags: BTreeMap<String, String>,
}

impl Profile {
    fn tag(&self, key: &str) -> &str {
        self.tags.get(key).map_or("", String::as_str)
    }
}

/// A manifest that cannot be read, with the position of the problem.
#[derive(Clone, Debug, PartialEq)]
pub struct ParseError {
    pub message: String,
    pub pos: Pos,
}

fn error(message: impl Into<String>, node: &Node) -> ParseError {
    ParseError {
        message: message.into(),
        pos: node.span.start,
    }
}

/// Read a model manifest (the image's `model_manifest.yaml`, or the stripped form the operator
/// keeps in its `<cache>-manifest` ConfigMap).
pub fn parse(text: &str) -> Result<Manifest, ParseError> {
    let docs = yaml::parse_documents(text, Limits::default()).map_err(|e| ParseError {
        message: e.message,
        pos: e.pos,
    })?;
    let Some(top) = docs.first().filter(|d| !d.is_null()) else {
        return Ok(Manifest {
            schema: Schema::V1,
            profiles: Vec::new(),
        });
    };
    let v2 = top
        .get("schema_version")
        .filter(|n| !n.is_null())
        .is_some_and(|n| matches!(&n.value, Value::Scalar(s) if s.text.trim().contains('2')));
    if v2 { parse_v2(top) } else { parse_v1(top) }
}

fn scalar(node: &Node, what: &str) -> Result<String, ParseError> {
    match &node.value {
        _ if node.is_null() => Ok(String::new()),
        Value::Scalar(s) => Ok(s.text.to_string()),
        _ => Err(error(format!("{what} must be a scalar"), node)),
    }
}

fn tags(node: Option<&Node>) -> Result<BTreeMap<String, String>, ParseError> {
    let mut out = BTreeMap::new();
    match node.map(|n| (n, &n.value)) {
        None => {}
        Some((n, _)) if n.is_null() => {}
        Some((_, Value::Map(entries))) => {
            for e in entries {
                out.insert(
                    e.key.to_string(),
                    scalar(&e.value, &format!("tag {}", e.key))?,
                );
            }
        }
        Some((n, _)) => return Err(error("tags must be a mapping", n)),
    }
    Ok(out)
}

fn entries<'n, 'a>(node: &'n Node<'a>, what: &str) -> Result<&'n [yaml::Entry<'a>], ParseError> {
    match &node.value {
        Value::Map(entries) => Ok(entries),
        _ => Err(error(format!("{what} must be a mapping"), node)),
    }
}

fn parse_v1(top: &Node) -> Result<Manifest, ParseError> {
    let mut profiles = Vec::new();
    for e in entries(top, "a schema v1 manifest (profile id to profile)")? {
        let mut p = Profile {
            id: e.key.to_string(),
            ..Default::default()
        };
        if !e.value.is_null() {
            entries(&e.value, &format!("profile {}", e.key))?;
            if let Some(n) = e.value.get("model") {
                p.model = scalar(n, "model")?;
            }
            if let Some(n) = e.value.get("release") {
                p.release = scalar(n, "release")?;
            }
            if let Some(n) = e.value.get("container_url") {
                scalar(n, "container_url")?;
            }
            p.tags = tags(e.value.get("tags"))?;
        }
        profiles.push(p);
    }
    Ok(Manifest {
        schema: Schema::V1,
        profiles,
    })
}

fn parse_v2(top: &Node) -> Result<Manifest, ParseError> {
    entries(top, "a schema v2 manifest")?;
    let mut profiles = Vec::new();
    match top.get("profiles") {
        None => {}
        Some(n) if n.is_null() => {}
        Some(Node {
            value: Value::Seq(items),
            ..
        }) => {
            for item in items {
                if item.is_null() {
                    profiles.push(Profile::default());
                    continue;
                }
                entries(item, "a profile")?;
                profiles.push(Profile {
                    id: item
                        .get("id")
                        .map(|n| scalar(n, "id"))
                        .transpose()?
                        .unwrap_or_default(),
                    tags: tags(item.get("tags"))?,
                    ..Default::default()
                });
            }
        }
        Some(n) => return Err(error("profiles must be a list", n)),
    }
    Ok(Manifest {
        schema: Schema::V2,
        profiles,
    })
}

/// The GPU products the operator would discover: the non-blank `nvidia.com/gpu.product`
/// values, each once.
pub fn discovered(products: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in products {
        if !p.trim().is_empty() && !out.contains(p) {
            out.push(p.clone());
        }
    }
    out
}

/// Why a profile is not selected: the first filter that dropped it.
pub type Verdict = Result<(), String>;

/// Every profile's verdict under the filters of `model`, in manifest order. `discovered` is
/// used only when `model.gpus` is empty (as the operator lists node labels only then).
pub fn judge(manifest: &Manifest, model: &ModelSpec, discovered: &[String]) -> Vec<Verdict> {
    let discovered: &[String] = if model.gpus.is_empty() {
        discovered
    } else {
        &[]
    };
    let f = Filters::of(model);
    manifest
        .profiles
        .iter()
        .map(|p| match manifest.schema {
            Schema::V1 => v1(p, &f, discovered),
            Schema::V2 => v2(p, &f, discovered),
        })
        .collect()
}

/// The ids the cache Job downloads when the operator selects them: sorted, each once (the
/// operator's order is random for v1 manifests).
pub fn selected(manifest: &Manifest, model: &ModelSpec, discovered: &[String]) -> Vec<String> {
    let mut ids: Vec<String> = manifest
        .profiles
        .iter()
        .zip(judge(manifest, model, discovered))
        .filter(|(_, v)| v.is_ok())
        .map(|(p, _)| p.id.clone())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// `status.profiles` once the Job succeeded, as the operator writes it: one entry per manifest
/// profile (in manifest order) and selected id equal to it, with the first such profile's tags.
pub fn status_entries<'m>(manifest: &'m Manifest, selection: &[String]) -> Vec<&'m Profile> {
    if selection.iter().any(|s| s == "all") {
        return Vec::new();
    }
    let mut out = Vec::new();
    for p in &manifest.profiles {
        let first = manifest.profiles.iter().find(|q| q.id == p.id).unwrap_or(p);
        for s in selection {
            if *s == p.id {
                out.push(first);
            }
        }
    }
    out
}

struct Filters<'a> {
    precision: &'a str,
    engine: &'a str,
    tp: &'a str,
    qos: &'a str,
    gpus: &'a [GpuSpec],
    lora: Option<bool>,
    buildable: Option<bool>,
}

impl<'a> Filters<'a> {
    fn of(m: &'a ModelSpec) -> Self {
        Filters {
            precision: m.precision.as_deref().unwrap_or_default(),
            engine: m.engine.as_deref().unwrap_or_default(),
            tp: m.tensor_parallelism.as_deref().unwrap_or_default(),
            qos: m.qos_profile.as_deref().unwrap_or_default(),
            gpus: &m.gpus,
            lora: m.lora,
            buildable: m.buildable,
        }
    }
}

fn differs(filter: &str, tag: &str, want: &str, have: &str) -> String {
    format!("{filter} is `{want}`, the profile's {tag} tag is `{have}`")
}

fn lower(s: &str) -> String {
    s.to_lowercase()
}

/// The GPU device id a profile names, without the NVIDIA vendor suffix.
fn device(p: &Profile) -> &str {
    let d = p.tag("gpu_device");
    d.strip_suffix(":10de").unwrap_or(d)
}

/// A `product_name_regex` tag matches a node label (unanchored; one that does not compile
/// matches nothing, as in the operator).
fn regex_matches(pattern: &str, label: &str) -> bool {
    !pattern.is_empty() && regex::Regex::new(pattern).is_ok_and(|r| r.is_match(label))
}

/// Schema v1: exact, case-sensitive comparisons.
fn v1(p: &Profile, f: &Filters, discovered: &[String]) -> Verdict {
    for (want, key, filter) in [
        (f.precision, "precision", "precision"),
        (f.tp, "tp", "tensorParallelism"),
        (f.qos, "profile", "qosProfile"),
    ] {
        if !want.is_empty() && p.tag(key) != want {
            return Err(differs(filter, key, want, p.tag(key)));
        }
    }
    let lora = p.tag("feat_lora");
    match f.lora {
        None if lora == "true" => {
            return Err("a LoRA profile (feat_lora `true`), and lora is not set".into());
        }
        Some(b) if lora != if b { "true" } else { "false" } => {
            return Err(differs("lora", "feat_lora", &b.to_string(), lora));
        }
        _ => {}
    }
    let backend = match p.tag("llm_engine") {
        "" => p.tag("backend"),
        e => e,
    };
    if !f.engine.is_empty() {
        let want = f.engine.strip_suffix("_llm").unwrap_or(f.engine);
        if !backend.contains(want) {
            return Err(format!(
                "engine `{}` is not part of the profile's backend `{backend}`",
                f.engine
            ));
        }
    }
    let optimized = |s: &str| lower(s).contains("tensorrt");
    if optimized(f.engine) || !f.gpus.is_empty() {
        if !optimized(backend) {
            return Err(format!(
                "the filters ask for a TensorRT profile (engine or gpus) and the backend is `{backend}`"
            ));
        }
        if !f.gpus.is_empty() || !discovered.is_empty() {
            v1_gpu(p, f.gpus, discovered)?;
        }
    }
    Ok(())
}

fn v1_gpu(p: &Profile, gpus: &[GpuSpec], discovered: &[String]) -> Verdict {
    let (gpu, key) = (lower(p.tag("gpu")), lower(p.tag("key")));
    // Once a product matched, it counts for the later entries too (the operator's flag is
    // never reset).
    let mut found = false;
    for g in gpus {
        let product = g.product.as_deref().unwrap_or_default();
        if product.is_empty() {
            continue;
        }
        let product = lower(product);
        if gpu.contains(&product) || key.contains(&product) {
            found = true;
        }
        if found && !g.ids.is_empty() && !g.ids.iter().any(|id| id == device(p)) {
            return Err(format!(
                "gpus ids {:?} do not include the profile's device `{}`",
                g.ids,
                device(p)
            ));
        }
    }
    if found {
        return Ok(());
    }
    let regex = p.tag("product_name_regex");
    if discovered
        .iter()
        .any(|l| lower(l).contains(&gpu) || regex_matches(regex, l))
    {
        return Ok(());
    }
    Err(gpu_mismatch(p, gpus, discovered))
}

fn gpu_mismatch(p: &Profile, gpus: &[GpuSpec], discovered: &[String]) -> String {
    if gpus.is_empty() {
        format!(
            "its GPU `{}` is none of the nodes' GPU products {discovered:?} (gpuProducts)",
            p.tag("gpu")
        )
    } else {
        let products: Vec<&str> = gpus.iter().filter_map(|g| g.product.as_deref()).collect();
        format!(
            "its GPU `{}` matches none of the gpus products {products:?}",
            p.tag("gpu")
        )
    }
}

fn eq_fold(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// Schema v2: case-insensitive comparisons; a buildable profile survives a GPU mismatch.
fn v2(p: &Profile, f: &Filters, discovered: &[String]) -> Verdict {
    let bool_text = |b: bool| if b { "true" } else { "false" };
    for (want, key, filter) in [
        (f.precision, "precision", "precision"),
        (f.tp, "tp", "tensorParallelism"),
        (f.qos, "profile", "qosProfile"),
        (f.lora.map_or("", bool_text), "feat_lora", "lora"),
        (
            f.buildable.map_or("", bool_text),
            "trtllm_buildable",
            "buildable",
        ),
    ] {
        if !want.is_empty() && !eq_fold(p.tag(key), want) {
            return Err(differs(filter, key, want, p.tag(key)));
        }
    }
    let mut backend = ["llm_engine", "model_type", "backend"]
        .iter()
        .map(|k| p.tag(k))
        .find(|v| !v.is_empty())
        .unwrap_or_default();
    if eq_fold(backend, "triton") {
        backend = "tensorrt";
    }
    if !f.engine.is_empty() {
        let engine = lower(f.engine);
        let want = engine.strip_suffix("_llm").unwrap_or(&engine);
        if !lower(backend).contains(want) {
            return Err(format!(
                "engine `{}` is not part of the profile's backend `{backend}`",
                f.engine
            ));
        }
    }
    match v2_gpu(p, f.gpus, discovered) {
        Err(_) if eq_fold(p.tag("trtllm_buildable"), "true") => Ok(()),
        v => v,
    }
}

fn v2_gpu(p: &Profile, gpus: &[GpuSpec], discovered: &[String]) -> Verdict {
    let (gpu, key, regex) = (
        lower(p.tag("gpu")),
        lower(p.tag("key")),
        p.tag("product_name_regex"),
    );
    let identity = !gpu.is_empty() || !key.is_empty() || !regex.is_empty();
    if gpus.is_empty() && (!identity || discovered.is_empty()) {
        return Ok(());
    }
    if gpus.iter().any(|g| !g.ids.is_empty()) {
        let dev = device(p);
        if dev.is_empty() || !gpus.iter().flat_map(|g| &g.ids).any(|id| id == dev) {
            return Err(format!("no gpus id matches the profile's device `{dev}`"));
        }
    }
    let products: Vec<String> = gpus
        .iter()
        .filter_map(|g| g.product.as_deref())
        .filter(|s| !s.is_empty())
        .map(lower)
        .collect();
    if !products.is_empty()
        && !products.iter().any(|q| {
            (!gpu.is_empty() && gpu.contains(q.as_str()))
                || (!key.is_empty() && key.contains(q.as_str()))
        })
    {
        return Err(gpu_mismatch(p, gpus, discovered));
    }
    if gpus.is_empty()
        && !discovered.iter().any(|l| {
            let l_low = lower(l);
            (!gpu.is_empty() && l_low.contains(&gpu))
                || (!key.is_empty() && l_low.contains(&key))
                || regex_matches(regex, l)
        })
    {
        return Err(gpu_mismatch(p, gpus, discovered));
    }
    Ok(())
}

/// One row of `nimc profiles`: a profile as the manifest describes it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Row {
    pub id: String,
    pub model: String,
    pub engine: String,
    pub precision: String,
    pub tp: String,
    pub pp: String,
    pub gpu: String,
    pub lora: String,
    pub profile: String,
}

/// The rows of a manifest, in manifest order.
pub fn rows(manifest: &Manifest) -> Vec<Row> {
    manifest
        .profiles
        .iter()
        .map(|p| Row {
            id: p.id.clone(),
            model: p.model.clone(),
            engine: ["llm_engine", "model_type", "backend"]
                .iter()
                .map(|k| p.tag(k))
                .find(|v| !v.is_empty())
                .unwrap_or_default()
                .to_string(),
            precision: p.tag("precision").into(),
            tp: p.tag("tp").into(),
            pp: p.tag("pp").into(),
            gpu: p.tag("gpu").into(),
            lora: p.tag("feat_lora").into(),
            profile: p.tag("profile").into(),
        })
        .collect()
}

/// What `nimc profiles` says about one NIMCache: the ids its filters select (as the Job
/// downloads them) and, for each other profile, the first filter that dropped it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Selection {
    pub selected: Vec<String>,
    pub dropped: Vec<Dropped>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Dropped {
    pub id: String,
    pub reason: String,
}

/// The selection of `model`'s filters with the nodes' GPU `products`, explained.
pub fn explain(manifest: &Manifest, model: &ModelSpec, products: &[String]) -> Selection {
    let found = discovered(products);
    let verdicts = judge(manifest, model, &found);
    let dropped = manifest
        .profiles
        .iter()
        .zip(verdicts)
        .filter_map(|(p, v)| {
            v.err().map(|reason| Dropped {
                id: p.id.clone(),
                reason,
            })
        })
        .collect();
    Selection {
        selected: selected(manifest, model, &found),
        dropped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_version_with_a_two_is_v2() {
        let v2 = "schema_version: '1.2'\nprofiles:\n- id: a\n  tags: {tp: 02}\n";
        let m = parse(v2).unwrap();
        assert_eq!(m.schema, Schema::V2);
        assert_eq!(m.profiles[0].tags["tp"], "02");
        assert!(parse("schema_version: '3.0'\nprofiles: []\n").is_err());
        let v1 = parse("abc:\n  model: m\n  release: r\n  tags:\n    gpu: ~\n").unwrap();
        assert_eq!(v1.schema, Schema::V1);
        assert_eq!(v1.profiles[0].tags["gpu"], "");
        assert!(parse("abc:\n  tags:\n    gpu: [a]\n").is_err());
    }
}
