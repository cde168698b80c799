//! The update-time rules: what the API server (CEL transition rules) and the operator's
//! admission webhook refuse when a resource that already exists changes. `nimc validate --base
//! REV` reads the resources as they were at a git revision; this module compares each resource
//! with its earlier self (matched by kind, namespace and name; a NIMPipeline's services count as
//! the NIMServices the pipeline controller updates) and reports the changes that would be
//! refused. CEL runs first, so a change CEL refuses never reaches the webhook.
//!
//! Both sides are compared after CRD defaulting, as the API server stores them, with the
//! semantics of Go's `equality.Semantic.DeepEqual` (an empty list equals an absent one). The
//! diagnostic points at the first field that differs, not just at the frozen block.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::api::{NimCacheSpec, NimServiceSpec};
use crate::defaults;
use crate::diagnostic::Diagnostic;
use crate::load::{Input, Origin};

/// Compare `input` with `base` (the same repository at an earlier revision).
pub fn check(base: &Input, input: &Input) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let old_services: BTreeMap<(&str, &str), (&NimServiceSpec, Origin)> = base
        .services
        .iter()
        .map(|s| {
            (
                (s.object.namespace(), s.object.name()),
                (&s.object.spec, s.origin),
            )
        })
        .collect();
    for s in input.services.iter().filter(|s| !input.rejected(s.origin)) {
        let key = (s.object.namespace(), s.object.name());
        if let Some((old, old_origin)) = old_services.get(&key) {
            let at = Change {
                base,
                input,
                old: *old_origin,
                new: s.origin,
            };
            service(&at, old, &s.object.spec, &mut diags);
        }
    }
    let old_caches: BTreeMap<(&str, &str), (&NimCacheSpec, Origin)> = base
        .caches
        .iter()
        .map(|c| {
            (
                (c.object.namespace(), c.object.name()),
                (&c.object.spec, c.origin),
            )
        })
        .collect();
    for c in input.caches.iter().filter(|c| !input.rejected(c.origin)) {
        let key = (c.object.namespace(), c.object.name());
        if let Some((old, old_origin)) = old_caches.get(&key) {
            let at = Change {
                base,
                input,
                old: *old_origin,
                new: c.origin,
            };
            cache(&at, old, &c.object.spec, &mut diags);
        }
    }
    diags
}

/// One resource at two revisions.
struct Change<'i, 'b, 'a> {
    base: &'i Input<'b>,
    input: &'i Input<'a>,
    old: Origin,
    new: Origin,
}

impl Change<'_, '_, '_> {
    /// A NIMC028 diagnostic at the first field under `pointer` that differs between the two
    /// revisions (or at `pointer`, or its nearest present parent, when the block was removed).
    fn immutable(&self, pointer: &str, message: String, help: &str) -> Diagnostic {
        let old = self.base.json(self.old, pointer);
        let new = self.input.json(self.new, pointer);
        let at = match (&old, &new) {
            (Some(o), Some(n)) => first_difference(o, n, pointer.to_string()),
            _ => pointer.to_string(),
        };
        let show = |v: Option<serde_json::Value>| match v {
            None => "(absent)".to_string(),
            Some(v) => {
                let text = v.to_string();
                match text.char_indices().nth(60) {
                    Some((i, _)) => format!("{}...", &text[..i]),
                    None => text,
                }
            }
        };
        let field = at.trim_start_matches('/').replace('/', ".");
        let change = format!(
            "{field} was {} at the base revision and is {} now",
            show(self.base.json(self.old, &at)),
            show(self.input.json(self.new, &at))
        );
        self.input
            .diag("NIMC028", self.new, &at, format!("{message}: {change}"))
            .help(help.to_string())
    }
}

fn service(at: &Change, old: &NimServiceSpec, new: &NimServiceSpec, diags: &mut Vec<Diagnostic>) {
    let (mut old, mut new) = (old.clone(), new.clone());
    defaults::nim_service(&mut old);
    defaults::nim_service(&mut new);
    // CEL on the NIMService root (the webhook's NS-W49 is the weaker form of this rule).
    if old.dra_resources != new.dra_resources {
        let what = match (old.dra_resources.is_empty(), new.dra_resources.is_empty()) {
            (true, _) => "added to",
            (_, true) => "removed from",
            _ => "changed on",
        };
        diags.push(at.immutable(
            "/spec/draResources",
            format!("spec.draResources is immutable: they cannot be {what} an existing NIMService"),
            "delete and re-create the NIMService (or give it a new name) to change its DRA resources",
        ));
        return;
    }
    if old.multi_node != new.multi_node {
        diags.push(at.immutable(
            "/spec/multiNode",
            "spec.multiNode is immutable once the NIMService is created".into(),
            "delete and re-create the NIMService (or give it a new name) to change its multi-node layout",
        ));
    }
    if let Some(pvc) = old.storage.pvc.as_ref().filter(|p| p.create == Some(true))
        && Some(pvc) != new.storage.pvc.as_ref()
    {
        diags.push(at.immutable(
            "/spec/storage/pvc",
            "spec.storage.pvc is immutable once it is created with spec.storage.pvc.create = true"
                .into(),
            "a PVC the operator created keeps its settings; create a new PVC under another name instead",
        ));
    }
}

fn cache(at: &Change, old: &NimCacheSpec, new: &NimCacheSpec, diags: &mut Vec<Diagnostic>) {
    // CEL transition rule on the field: only when both revisions have it.
    if let (Some(o), Some(n)) = (&old.source.ngc, &new.source.ngc)
        && o.model_puller != n.model_puller
    {
        diags.push(at.immutable(
            "/spec/source/ngc/modelPuller",
            format!(
                "modelPuller is immutable: `{}` cannot become `{}`",
                o.model_puller, n.model_puller
            ),
            "create a new NIMCache resource when you want to change the model puller image",
        ));
        return;
    }
    let (mut old, mut new) = (old.clone(), new.clone());
    defaults::nim_cache(&mut old);
    defaults::nim_cache(&mut new);
    if old != new {
        diags.push(at.immutable(
            "/spec",
            "nimcache.spec is immutable once the object is created".into(),
            "the operator's webhook freezes a NIMCache's spec: create a NIMCache under a new name \
             and point the NIMServices at it",
        ));
    }
}

/// The JSON pointer of the first place where `old` and `new` differ, below `at`.
fn first_difference(old: &Value, new: &Value, at: String) -> String {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut keys: Vec<&String> = o.keys().chain(n.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let child = format!("{at}/{}", crate::yaml::escape_segment(k));
                match (o.get(k), n.get(k)) {
                    (Some(a), Some(b)) if a == b => {}
                    (Some(a), Some(b)) => return first_difference(a, b, child),
                    (_, Some(_)) => return child,
                    _ => return at,
                }
            }
            at
        }
        (Value::Array(o), Value::Array(n)) => {
            for (i, (a, b)) in o.iter().zip(n).enumerate() {
                if a != b {
                    return first_difference(a, b, format!("{at}/{i}"));
                }
            }
            match n.len() > o.len() {
                true => format!("{at}/{}", o.len()),
                false => at,
            }
        }
        _ => at,
    }
}
