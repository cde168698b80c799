//! One reconcile pass, pure: from the live objects the agent's watches hold, the status each
//! NIM resource should have and the status patches that get it there. The resources are
//! compiled exactly as `nimc render` compiles them from git (each one becomes a source file
//! named `cluster:<namespace>/<kind>/<name>`), and their statuses come from
//! [`crate::status`], the function `nimc status --observed` runs offline.
//!
//! A resource nimc cannot compile (the cluster has no admission webhook for it when the
//! operator is absent) gets a failed status carrying the diagnostic, and the others are
//! compiled without it, so one bad resource does not hold back the rest. Resources the NVIDIA
//! operator manages (its finalizer, or owned by a NIMPipeline as the operator's children are)
//! are left alone: two writers of one status would fight.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::api::API_VERSION;
use crate::diagnostic::Diagnostic;
use crate::facts::Facts;
use crate::source::Sources;
use crate::status::{self, CrStatus, Observed};

/// The NIM kinds whose status the agent writes, in compile order.
pub const NIM_KINDS: [&str; 3] = ["NIMCache", "NIMService", "NIMPipeline"];

/// A resource, by kind, namespace and name.
pub type Key = (&'static str, String, String);

/// A status write the pass wants.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    pub key: Key,
    /// The status the resource should have.
    pub status: Value,
    /// The JSON merge patch (RFC 7396) for the `status` subresource: the status changes and
    /// the `resourceVersion` it was computed from, so a concurrent change is a 409 Conflict
    /// instead of a lost update.
    pub patch: Value,
}

/// What one pass found.
#[derive(Debug, Default)]
pub struct Pass {
    /// Every status computed (also those already in place).
    pub statuses: Vec<CrStatus>,
    /// The statuses that differ from the live ones.
    pub updates: Vec<Update>,
    /// Resources nimc cannot compile, with the first error.
    pub rejected: Vec<(Key, String)>,
    /// Resources the NVIDIA operator manages, with the evidence.
    pub foreign: Vec<(Key, String)>,
    /// The namespaces covered (`None`: all).
    pub scope: Option<BTreeSet<String>>,
}

/// Compute the status of every NIM resource in `observed` (in the `namespaces` given, or in
/// all) and the patches to write. A resource's status depends only on objects of its own
/// namespace, so a pass over some namespaces gives what a full pass gives for them; the
/// `namespaces` are ignored when the facts have patches, since a patch that selects no
/// object is an error only over the whole input. [`Pass::scope`] says what was covered. `models`
/// holds the model ids read from the NIMs (`namespace/name` -> id); `now` is the time for
/// condition transitions.
pub fn pass(
    observed: &Observed,
    facts: &Facts,
    models: &BTreeMap<String, String>,
    now: &str,
    namespaces: Option<&BTreeSet<String>>,
) -> Pass {
    let namespaces = namespaces.filter(|_| facts.patches.is_empty());
    let mut out = Pass {
        scope: namespaces.cloned(),
        ..Pass::default()
    };
    let mut resources: Vec<(Key, &Value)> = Vec::new();
    for kind in NIM_KINDS {
        for o in observed.of_kind(kind) {
            let key = key_of(kind, o);
            if namespaces.is_some_and(|n| !n.contains(&key.1)) {
                continue;
            }
            match operator_evidence(o) {
                Some(why) => out.foreign.push((key, why)),
                None => resources.push((key, o)),
            }
        }
    }

    // Compile; drop the resources with errors and compile the rest again (a resource's
    // errors do not depend on the resources after it, so this ends after a few rounds).
    let mut excluded: BTreeSet<usize> = BTreeSet::new();
    let statuses = loop {
        let kept: Vec<usize> = (0..resources.len())
            .filter(|i| !excluded.contains(i))
            .collect();
        let sources = Sources::from_texts(kept.iter().map(|&i| {
            let ((kind, ns, name), o) = &resources[i];
            (format!("cluster:{ns}/{kind}/{name}"), source_text(kind, o))
        }));
        let (statuses, compilation) = crate::status(&sources, facts, observed, models, now);
        if !compilation.has_errors() {
            break statuses;
        }
        let mut progressed = false;
        for d in compilation.diagnostics.iter().filter(|d| d.is_error()) {
            // A problem of no file belongs to the whole input: every resource fails with it.
            let files: Vec<usize> = match d.file {
                Some(f) if f < kept.len() => vec![kept[f]],
                _ => kept.clone(),
            };
            for i in files {
                if excluded.insert(i) {
                    progressed = true;
                    out.rejected.push((resources[i].0.clone(), describe(d)));
                }
            }
        }
        if !progressed {
            break Vec::new();
        }
    };

    for (key, message) in &out.rejected {
        let (kind, ns, name) = key;
        let previous = observed.get(kind, ns, name).map(|o| &o["status"]);
        out.statuses.push(CrStatus {
            kind,
            namespace: ns.clone(),
            name: name.clone(),
            status: status::rejected(kind, previous, message, now),
        });
    }
    // A resource left alone as the operator's (a NIMService a NIMPipeline created, among
    // others) gets no status from the agent, even when a pipeline nimc compiles describes it.
    out.statuses.extend(statuses.into_iter().filter(|s| {
        !out.foreign
            .iter()
            .any(|((k, ns, n), _)| *k == s.kind && *ns == s.namespace && *n == s.name)
    }));
    out.statuses
        .sort_by(|a, b| (a.kind, &a.namespace, &a.name).cmp(&(b.kind, &b.namespace, &b.name)));

    for s in &out.statuses {
        let Some(live) = observed.get(s.kind, &s.namespace, &s.name) else {
            continue;
        };
        let current = live.get("status").unwrap_or(&Value::Null);
        if *current == s.status {
            continue;
        }
        let mut metadata = Map::new();
        if let Some(rv) = live["metadata"]["resourceVersion"].as_str() {
            metadata.insert("resourceVersion".into(), rv.into());
        }
        out.updates.push(Update {
            key: (s.kind, s.namespace.clone(), s.name.clone()),
            status: s.status.clone(),
            patch: json!({"metadata": metadata, "status": merge_patch(current, &s.status)}),
        });
    }
    out
}

fn key_of(kind: &'static str, o: &Value) -> Key {
    let field = |f: &str| o["metadata"][f].as_str().unwrap_or_default().to_string();
    (kind, field("namespace"), field("name"))
}

/// Why `o` looks managed by the NVIDIA operator, if it does: the operator puts its finalizer
/// on every resource it reconciles, and owns the NIMServices a NIMPipeline creates.
pub fn operator_evidence(o: &Value) -> Option<String> {
    let finalizers = o["metadata"]["finalizers"].as_array();
    if let Some(f) = finalizers
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find(|f| f.starts_with("finalizer.") && f.ends_with(".apps.nvidia.com"))
    {
        return Some(format!("it carries the operator's finalizer {f}"));
    }
    let owners = o["metadata"]["ownerReferences"].as_array();
    owners
        .into_iter()
        .flatten()
        .find(|r| r["kind"] == "NIMPipeline" && r["controller"] == true)
        .map(|r| {
            format!(
                "it is owned by NIMPipeline {}, as the operator's pipeline children are",
                r["name"].as_str().unwrap_or_default()
            )
        })
}

/// The resource as nimc reads it from git: type, name, namespace, labels, annotations and
/// spec. Server-set metadata and the status are left out; so is kubectl's copy of the last
/// applied object, which would only double the text.
fn source_text(kind: &str, o: &Value) -> String {
    let mut metadata = Map::new();
    for f in ["name", "namespace", "labels"] {
        if let Some(v) = o["metadata"].get(f) {
            metadata.insert(f.into(), v.clone());
        }
    }
    if let Some(a) = o["metadata"]["annotations"].as_object() {
        let mut a = a.clone();
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
        if !a.is_empty() {
            metadata.insert("annotations".into(), Value::Object(a));
        }
    }
    let mut doc = json!({"apiVersion": API_VERSION, "kind": kind, "metadata": metadata});
    if let Some(spec) = o.get("spec") {
        doc["spec"] = spec.clone();
    }
    // JSON is YAML: nimc's reader takes it as is.
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

fn describe(d: &Diagnostic) -> String {
    format!("{}: {}", d.code, d.message)
}

/// The JSON merge patch (RFC 7396) that turns `old` into `new`: changed members, and `null`
/// for members that are gone.
pub fn merge_patch(old: &Value, new: &Value) -> Value {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut patch = Map::new();
            for (k, v) in n {
                match o.get(k) {
                    Some(was) if was == v => {}
                    Some(was) => {
                        patch.insert(k.clone(), merge_patch(was, v));
                    }
                    None => {
                        patch.insert(k.clone(), v.clone());
                    }
                }
            }
            for k in o.keys().filter(|k| !n.contains_key(*k)) {
                patch.insert(k.clone(), Value::Null);
            }
            Value::Object(patch)
        }
        _ => new.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_applied_gives_the_new_value() {
        let old =
            json!({"state": "Pending", "model": {"name": "a", "clusterEndpoint": "x"}, "gone": 1});
        let new = json!({"state": "Ready", "model": {"name": "a", "clusterEndpoint": "y"}});
        let patch = merge_patch(&old, &new);
        assert_eq!(
            patch,
            json!({"state": "Ready", "model": {"clusterEndpoint": "y"}, "gone": null})
        );
        let mut applied = old.clone();
        json_patch::merge(&mut applied, &patch);
        assert_eq!(applied, new);
    }

    fn service(namespace: &str) -> Value {
        json!({
            "apiVersion": API_VERSION, "kind": "NIMService",
            "metadata": {"name": "llm", "namespace": namespace, "resourceVersion": "7"},
            "spec": {
                "image": {"repository": "nvcr.io/nim/meta/llama-3.1-8b-instruct", "tag": "1.3.3"},
                "authSecret": "ngc-api-secret",
                "storage": {"pvc": {"create": true, "size": "50Gi", "volumeAccessMode": "ReadWriteOnce"}},
                "expose": {"service": {"type": "ClusterIP", "port": 8000}}
            }
        })
    }

    #[test]
    fn a_pass_covers_the_namespaces_asked_for_and_bad_resources_fail_alone() {
        let mut observed = Observed::default();
        observed.insert(service("a"));
        observed.insert(service("b"));
        let mut bad = service("c");
        bad["spec"]["replica"] = json!(2);
        observed.insert(bad);
        let facts = Facts::default();
        let models = BTreeMap::new();

        let all = pass(&observed, &facts, &models, "now", None);
        let keys: Vec<(&str, &str)> = all
            .statuses
            .iter()
            .map(|s| (s.kind, s.namespace.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                ("NIMService", "a"),
                ("NIMService", "b"),
                ("NIMService", "c")
            ]
        );
        assert_eq!(all.updates.len(), 3);
        assert_eq!(all.rejected.len(), 1);
        assert_eq!(all.statuses[2].status["state"], "Failed");
        assert_eq!(all.updates[0].patch["metadata"]["resourceVersion"], "7");

        let b = BTreeSet::from(["b".to_string()]);
        let some = pass(&observed, &facts, &models, "now", Some(&b));
        assert_eq!(some.statuses.len(), 1);
        assert_eq!(some.statuses[0], all.statuses[1]);
        assert_eq!(some.scope, Some(b.clone()));

        // With a facts patch (here for namespace a), every pass covers every namespace.
        let file = crate::source::SourceFile {
            path: "nimc.yaml".into(),
            text: "patches:\n- target: {kind: Deployment, namespace: a}\n  mergePatch: {metadata: {labels: {team: x}}}\n".into(),
        };
        let patched = crate::facts::parse(&file, 0).unwrap();
        let full = pass(&observed, &patched, &models, "now", Some(&b));
        assert_eq!(full.scope, None);
        assert_eq!(full.statuses.len(), 3);
        assert_eq!(full.rejected.len(), 1, "{:?}", full.rejected);
    }

    #[test]
    fn the_operator_is_recognised_by_its_finalizer_or_pipeline_ownership() {
        let f = json!({"metadata": {"finalizers": ["finalizer.nimservice.apps.nvidia.com"]}});
        assert!(operator_evidence(&f).unwrap().contains("finalizer"));
        let owned = json!({"metadata": {"ownerReferences": [
            {"kind": "NIMPipeline", "name": "rag", "controller": true}]}});
        assert!(
            operator_evidence(&owned)
                .unwrap()
                .contains("NIMPipeline rag")
        );
        assert_eq!(
            operator_evidence(&json!({"metadata": {"finalizers": ["x.example.com"]}})),
            None
        );
    }
}
