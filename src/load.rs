//! Sources to typed custom resources: parses every file (in parallel), picks out the
//! `apps.nvidia.com/v1alpha1` NIMService, NIMCache and NIMPipeline documents, and reads each into
//! its [`crate::api`] type. Other documents are counted and ignored. Every YAML or type error
//! becomes a located diagnostic, and so does every break of the CRDs' constraints
//! ([`crate::api::constraints`]), checked while the tree is at hand. The YAML trees are dropped once typed (they are several times
//! the size of the text); later phases that need a field's position re-parse its file on demand.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use rayon::prelude::*;

use crate::api::{Kind, NimCache, NimPipeline, NimService};
use crate::diagnostic::Diagnostic;
use crate::source::Sources;
use crate::yaml::{self, Limits, Node, Span, de::from_node};

/// Where a custom resource came from: a file, the index of the document in it, and for a
/// NIMService lowered from a NIMPipeline, the index of its entry in `spec.services`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    pub file: usize,
    pub doc: usize,
    pub service: Option<usize>,
}

impl Origin {
    /// A pointer into the resource, made relative to the document: for a pipeline service,
    /// `/spec/x` is `/spec/services/<i>/spec/x` and `/metadata/...` is its `name`.
    pub fn document_pointer(&self, pointer: &str) -> String {
        match self.service {
            None => pointer.to_string(),
            Some(i) => {
                if let Some(rest) = pointer.strip_prefix("/spec") {
                    format!("/spec/services/{i}/spec{rest}")
                } else if pointer.starts_with("/metadata") {
                    format!("/spec/services/{i}/name")
                } else {
                    format!("/spec/services/{i}")
                }
            }
        }
    }
}

/// A custom resource with its origin.
#[derive(Clone, Debug)]
pub struct Cr<T> {
    pub origin: Origin,
    pub object: T,
}

/// Everything read from the sources.
#[derive(Debug)]
pub struct Input<'a> {
    pub services: Vec<Cr<NimService>>,
    pub caches: Vec<Cr<NimCache>>,
    pub pipelines: Vec<Cr<NimPipeline>>,
    /// The sources, to locate fields again when a diagnostic needs a position.
    pub sources: &'a Sources,
    /// Files re-parsed to locate diagnostics, by file index (only files with diagnostics).
    located: Mutex<BTreeMap<usize, Vec<Node<'a>>>>,
    /// Ignored documents, counted by `apiVersion/kind`.
    pub ignored: BTreeMap<String, usize>,
    /// The PersistentVolumeClaims among the ignored documents, as (namespace, name).
    pub claims: BTreeSet<(String, String)>,
    /// Documents (file, index) that break a CRD constraint: the API server would refuse them,
    /// so the operator's rules are not applied to them.
    rejected: BTreeSet<(usize, usize)>,
}

impl<'a> Input<'a> {
    fn new(sources: &'a Sources) -> Self {
        Input {
            services: Vec::new(),
            caches: Vec::new(),
            pipelines: Vec::new(),
            ignored: BTreeMap::new(),
            claims: BTreeSet::new(),
            rejected: BTreeSet::new(),
            sources,
            located: Mutex::new(BTreeMap::new()),
        }
    }

    /// True when the document at `origin` breaks a CRD constraint (reported while loading).
    pub fn rejected(&self, origin: Origin) -> bool {
        self.rejected.contains(&(origin.file, origin.doc))
    }

    /// Run `f` on the YAML tree of the document at `origin` (its file is re-parsed once).
    fn with_document<R>(&self, origin: Origin, f: impl FnOnce(&Node<'a>) -> R) -> Option<R> {
        let mut cache = self.located.lock().unwrap_or_else(|e| e.into_inner());
        let docs = cache.entry(origin.file).or_insert_with(|| {
            self.sources
                .files
                .get(origin.file)
                .and_then(|f| yaml::parse_documents(&f.text, Limits::default()).ok())
                .unwrap_or_default()
        });
        docs.get(origin.doc).map(f)
    }

    /// The span of `pointer` (e.g. `/spec/storage`) in the document at `origin`.
    pub fn span(&self, origin: Origin, pointer: &str) -> Span {
        self.with_document(origin, |n| n.lookup(&origin.document_pointer(pointer)))
            .unwrap_or_default()
    }

    /// The value at `pointer` in the document at `origin`, as JSON (Kubernetes scalar rules),
    /// or `None` when the field is absent.
    pub fn json(&self, origin: Origin, pointer: &str) -> Option<serde_json::Value> {
        self.with_document(origin, |n| {
            n.at(&origin.document_pointer(pointer))
                .and_then(|n| from_node(n).ok())
        })
        .flatten()
    }

    /// A diagnostic located at `pointer` in the document at `origin`.
    pub fn diag(
        &self,
        code: &'static str,
        origin: Origin,
        pointer: &str,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic::new(code, message).at(origin.file, self.span(origin, pointer))
    }
}

enum Loaded {
    Service(Box<NimService>),
    Cache(Box<NimCache>),
    Pipeline(Box<NimPipeline>),
}

struct FileResult {
    docs: Vec<(usize, Loaded)>,
    rejected: Vec<usize>,
    ignored: Vec<String>,
    claims: Vec<(String, String)>,
    diags: Vec<Diagnostic>,
}

/// Parse and type every document of every source.
pub fn load(sources: &Sources) -> (Input<'_>, Vec<Diagnostic>) {
    let results: Vec<FileResult> = sources
        .inputs()
        .par_iter()
        .enumerate()
        .map(|(i, f)| load_file(i, &f.text))
        .collect();
    let mut input = Input::new(sources);
    let mut diags = Vec::new();
    for (file, r) in results.into_iter().enumerate() {
        for (doc, loaded) in r.docs {
            let origin = Origin {
                file,
                doc,
                service: None,
            };
            match loaded {
                Loaded::Service(s) => input.services.push(Cr { origin, object: *s }),
                Loaded::Cache(c) => input.caches.push(Cr { origin, object: *c }),
                Loaded::Pipeline(p) => input.pipelines.push(Cr { origin, object: *p }),
            }
        }
        input
            .rejected
            .extend(r.rejected.into_iter().map(|doc| (file, doc)));
        for k in r.ignored {
            *input.ignored.entry(k).or_default() += 1;
        }
        input.claims.extend(r.claims);
        diags.extend(r.diags);
    }
    (input, diags)
}

fn load_file(file: usize, text: &str) -> FileResult {
    let mut r = FileResult {
        docs: Vec::new(),
        rejected: Vec::new(),
        ignored: Vec::new(),
        claims: Vec::new(),
        diags: Vec::new(),
    };
    let docs = match yaml::parse_documents(text, Limits::default()) {
        Ok(d) => d,
        Err(e) => {
            let code = if e.limit { "NIMC002" } else { "NIMC001" };
            let help = if e.limit {
                "nimc bounds nesting and alias expansion so that hostile input cannot exhaust memory"
            } else if text.contains('\t') && e.message.contains("tab") {
                "YAML indentation must use spaces, not tabs"
            } else {
                "fix the YAML syntax; nothing is rendered until every file parses"
            };
            r.diags.push(
                Diagnostic::new(code, e.message)
                    .at(
                        file,
                        Span {
                            start: e.pos,
                            end: e.pos,
                        },
                    )
                    .help(help),
            );
            return r;
        }
    };
    for (doc, node) in docs.iter().enumerate() {
        if node.is_null() {
            continue;
        }
        let api_version = node.get_str("apiVersion").unwrap_or_default();
        let kind_name = node.get_str("kind").unwrap_or_default();
        if let Some(d) = foreign_nim_kind(api_version, kind_name, node, file) {
            r.diags.push(d);
            r.rejected.push(doc);
            continue;
        }
        let Some(kind) = Kind::of(api_version, kind_name) else {
            let label = if kind_name.is_empty() {
                "(no kind)".to_string()
            } else {
                format!("{api_version}/{kind_name}")
            };
            if api_version == "v1" && kind_name == "PersistentVolumeClaim" {
                let meta = node.get("metadata");
                let field = |f: &str| {
                    meta.and_then(|m| m.get_str(f))
                        .unwrap_or_default()
                        .to_string()
                };
                r.claims.push((field("namespace"), field("name")));
            }
            r.ignored.push(label);
            continue;
        };
        let loaded = match kind {
            Kind::NimService => from_node::<NimService>(node).map(|o| Loaded::Service(Box::new(o))),
            Kind::NimCache => from_node::<NimCache>(node).map(|o| Loaded::Cache(Box::new(o))),
            Kind::NimPipeline => {
                from_node::<NimPipeline>(node).map(|o| Loaded::Pipeline(Box::new(o)))
            }
        };
        match loaded {
            Ok(l) => {
                let violations = crate::api::constraints::check(kind, node, file);
                if !violations.is_empty() {
                    r.rejected.push(doc);
                    r.diags.extend(violations);
                }
                r.docs.push((doc, l));
            }
            Err(e) => {
                let span = e.span.unwrap_or(node.span);
                let mut d = Diagnostic::new(
                    "NIMC003",
                    format!("{} {}: {}", kind.as_str(), e.pointer(), e.message),
                )
                .at(file, span);
                let pointer = e.pointer();
                let unknown = e
                    .message
                    .strip_prefix("unknown field `")
                    .and_then(|m| m.split('`').next());
                let (parent, _) = pointer.rsplit_once('/').unwrap_or(("", ""));
                let moved = unknown
                    .filter(|_| {
                        e.help
                            .as_deref()
                            .is_none_or(|h| !h.starts_with("did you mean"))
                    })
                    .and_then(|field| crate::schema::misplaced_field(kind, parent, field));
                if let Some(path) = moved {
                    d = d.help(format!("this field belongs at {path}; move it there"));
                } else if let Some(h) = e.help {
                    d = d.help(h);
                } else {
                    d = d.help(format!(
                        "see the {} CRD (apps.nvidia.com/v1alpha1) for the field's type",
                        kind.as_str()
                    ));
                }
                r.diags.push(d);
            }
        }
    }
    r
}

/// The other kinds of the `apps.nvidia.com` group, which nimc does not compile.
const OTHER_GROUP_KINDS: &[&str] = &[
    "NIMBuild",
    "NemoCustomizer",
    "NemoDatastore",
    "NemoEntitystore",
    "NemoEvaluator",
    "NemoGuardrail",
];

/// A document of the NIM operator's API group that nimc would otherwise skip by mistake: a
/// NIM kind under a version the CRDs do not serve, or a kind the group does not have (a typo
/// such as `NIMServce` would silently render nothing).
fn foreign_nim_kind(api_version: &str, kind: &str, node: &Node, file: usize) -> Option<Diagnostic> {
    let (group, version) = api_version.split_once('/')?;
    if group != "apps.nvidia.com" || OTHER_GROUP_KINDS.contains(&kind) {
        return None;
    }
    let ours = ["NIMService", "NIMCache", "NIMPipeline"];
    if ours.contains(&kind) {
        return (version != "v1alpha1").then(|| {
            Diagnostic::new(
                "NIMC003",
                format!("{kind} is served as apps.nvidia.com/v1alpha1, not {api_version}"),
            )
            .at(file, node.lookup("/apiVersion"))
            .help("set apiVersion: apps.nvidia.com/v1alpha1")
        });
    }
    if kind.is_empty() {
        return Some(
            Diagnostic::new("NIMC003", "`kind` is missing or not a string")
                .at(file, node.lookup("/kind"))
                .help("set kind: NIMService, NIMCache or NIMPipeline"),
        );
    }
    let mut known: Vec<&str> = ours.to_vec();
    known.extend(OTHER_GROUP_KINDS);
    let help = match yaml::de::closest(kind, &known) {
        Some(k) => format!("did you mean `{k}`?"),
        None => format!("the group's kinds are {}", known.join(", ")),
    };
    Some(
        Diagnostic::new("NIMC003", format!("apps.nvidia.com has no kind `{kind}`"))
            .at(file, node.lookup("/kind"))
            .help(help),
    )
}
