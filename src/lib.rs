//! nimc compiles NVIDIA NIM Operator custom resources (`NIMService`, `NIMCache`, `NIMPipeline`,
//! `apps.nvidia.com/v1alpha1`) into the Kubernetes objects the operator would create, without a
//! controller, so that Argo CD or Flux can apply them.
//!
//! The pipeline, one entry function per phase (see `ARCHITECTURE.md`):
//!
//! ```text
//! [edge] source::read(paths)          -> Sources            files, sorted; the only file I/O
//! [pure] load::load(&Sources)         -> Input, diags       typed CRs (parallel per file)
//! [pure] pipeline::lower(&mut Input)  -> diags              NIMPipeline services to NIMServices
//! [pure] template::read(&mut Input)   -> diags              values as the operator's templates read them
//! [pure] check::check(&Input, &Facts) -> diags              rules that must hold to render
//! [pure] check::update::check(..)     -> diags              update rules against a base revision
//! [pure] resolve::resolve(..)         -> Model, diags       defaults, links, cluster decisions
//! [pure] render::render(&Model, ..)   -> Vec<Rendered>      typed objects, serialised, sorted
//! [edge] manifest::write_yaml(..)     -> stdout             multi-document YAML
//! ```
//!
//! [`compile`] runs the pure phases; it stops before rendering when any error was found, so
//! rendering never sees invalid input and cannot fail.

pub mod admission;
#[cfg(feature = "agent")]
pub mod agent;
pub mod api;
pub mod check;
pub mod defaults;
pub mod diagnostic;
pub mod facts;
pub mod gitops;
pub mod hash;
pub mod load;
pub mod manifest;
pub mod model;
pub mod operator;
pub mod pipeline;
pub mod profiles;
pub mod quantity;
pub mod render;
pub mod resolve;
pub mod schema;
pub mod source;
pub mod status;
pub mod template;
pub mod yaml;

use std::collections::BTreeMap;

use diagnostic::Diagnostic;
use facts::Facts;
use render::Rendered;
use source::Sources;

/// The result of compiling a set of sources.
#[derive(Debug, Default)]
pub struct Compilation {
    /// The rendered objects in install order; empty when there are errors.
    pub objects: Vec<Rendered>,
    /// Every diagnostic, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
    /// Documents that are not NIM custom resources, counted by `apiVersion/kind`.
    pub ignored: BTreeMap<String, usize>,
    /// How many custom resources of each kind were read.
    pub counts: BTreeMap<&'static str, usize>,
}

impl Compilation {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Compile sources under the given cluster facts. Pure: no I/O, no clock, no environment.
pub fn compile(sources: &Sources, facts: &Facts) -> Compilation {
    compile_with_base(sources, facts, None)
}

/// [`compile`], plus the update-time rules against `base`: the same repository at an earlier
/// revision (what `nimc validate --base REV` reads with git). Resources that exist in both are
/// checked for the changes the API server and the operator's webhook refuse on update.
pub fn compile_with_base(sources: &Sources, facts: &Facts, base: Option<&Sources>) -> Compilation {
    run(sources, facts, base, false).1
}

/// The status the operator (or `nimc agent`) would write into each custom resource, computed
/// from the resources, the objects nimc renders for them and the live objects `observed` in
/// the cluster. `models` holds the model id each NIMService serves (`namespace/name` -> id, as
/// read from its `/v1/models`); `now` is the time for condition transitions (RFC 3339). Pure:
/// the caller supplies the observations and the clock.
pub fn status(
    sources: &Sources,
    facts: &Facts,
    observed: &status::Observed,
    models: &BTreeMap<String, String>,
    now: &str,
) -> (Vec<status::CrStatus>, Compilation) {
    // The operator's `<cache>-manifest` ConfigMaps in the cluster hold the manifests it read.
    let mut facts = facts.clone();
    for cm in observed.of_kind("ConfigMap") {
        let name = cm["metadata"]["name"].as_str().unwrap_or_default();
        let (Some(cache), Some(text)) = (
            name.strip_suffix("-manifest"),
            cm["data"]["model_manifest.yaml"].as_str(),
        ) else {
            continue;
        };
        if let Ok(m) = profiles::parse(text) {
            let ns = match cm["metadata"]["namespace"].as_str().unwrap_or_default() {
                "" => facts.default_namespace.clone(),
                ns => ns.to_string(),
            };
            facts
                .cache_manifests
                .insert((ns, cache.to_string()), std::sync::Arc::new(m));
        }
    }
    let (input, compilation, caches) = run(sources, &facts, None, true);
    if compilation.has_errors() {
        return (Vec::new(), compilation);
    }
    let statuses = status::compute(
        &input,
        &caches,
        &compilation.objects,
        &facts,
        observed,
        models,
        now,
    );
    (statuses, compilation)
}

/// The pure phases. The typed input is returned for callers that need it after rendering;
/// its NIMServices move into the model while resolving, unless `for_status` is set, which
/// also keeps each rendered object's JSON form (what the status drift check reads) and the
/// resolved NIMCaches, and lets the profiles of a cache Job stay unknown.
fn run<'s>(
    sources: &'s Sources,
    facts: &Facts,
    base: Option<&Sources>,
    for_status: bool,
) -> (load::Input<'s>, Compilation, Vec<model::Cache>) {
    let mut caches = Vec::new();
    let (mut input, mut diagnostics) = load::load(sources);
    let mut out = Compilation {
        ignored: input.ignored.clone(),
        counts: BTreeMap::from([
            ("NIMService", input.services.len()),
            ("NIMCache", input.caches.len()),
            ("NIMPipeline", input.pipelines.len()),
        ]),
        ..Default::default()
    };
    diagnostics.extend(pipeline::lower(&mut input, facts.sync_waves));
    diagnostics.extend(template::read(&mut input));
    diagnostics.extend(check::check(&input, facts));
    if let Some(base) = base {
        // The base revision was accepted once; its own problems are not reported again.
        let (mut old, _) = load::load(base);
        pipeline::lower(&mut old, false);
        template::read(&mut old);
        diagnostics.extend(check::update::check(&old, &input));
    }
    if !diagnostics.iter().any(Diagnostic::is_error) {
        let kept = for_status.then(|| input.services.clone());
        let (model, mut diags) = resolve::resolve(&mut input, facts, for_status);
        if for_status {
            // What keeps a resource from rendering (a NIMCache not in the input, an unknown
            // ComputeDomain template) does not keep the statuses from being computed: the
            // resource renders nothing and its status follows what the cluster shows.
            diags
                .iter_mut()
                .filter(|d| d.is_error() && resolve::RENDER_ONLY.contains(&d.code))
                .for_each(|d| d.severity = diagnostic::Severity::Warning);
        }
        if let Some(services) = kept {
            input.services = services;
            caches = model.caches.clone();
        }
        diagnostics.extend(diags);
        if !diagnostics.iter().any(Diagnostic::is_error) {
            let objects = render::render(model, facts, for_status);
            let (objects, diags) = manifest::deduplicate(objects, &input);
            diagnostics.extend(diags);
            let (objects, diags) = manifest::gate_apis(objects, facts, &input);
            diagnostics.extend(diags);
            let (objects, diags) = manifest::apply_patches(objects, facts);
            diagnostics.extend(diags);
            let mut diags = admission::check(&objects, &input);
            if for_status {
                // An object the API server refuses is absent from the cluster; the statuses
                // follow what the cluster shows.
                diags
                    .iter_mut()
                    .for_each(|d| d.severity = diagnostic::Severity::Warning);
            }
            diagnostics.extend(diags);
            out.objects = objects;
        }
    }
    diagnostic::sort(&mut diagnostics);
    out.diagnostics = diagnostics;
    if out.has_errors() {
        out.objects.clear();
    }
    (input, out, caches)
}
