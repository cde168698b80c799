//! The output contract: rendered objects as multi-document YAML in install order (kind rank,
//! then namespace, then name), one file name per object for `--output-dir`, and the check that
//! no two custom resources render the same object differently.

use std::io::Write;

use crate::diagnostic::Diagnostic;
use crate::facts::Facts;
use crate::load::Input;
use crate::render::Rendered;

/// Every object as one multi-document YAML stream, `---` between documents.
pub fn to_yaml(objects: &[Rendered]) -> String {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = write_yaml(objects, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// Write the multi-document stream to `w`.
pub fn write_yaml<W: Write>(objects: &[Rendered], w: &mut W) -> std::io::Result<()> {
    for (i, r) in objects.iter().enumerate() {
        if i > 0 {
            w.write_all(b"---\n")?;
        }
        w.write_all(r.yaml.as_bytes())?;
    }
    Ok(())
}

/// The file name of an object in `--output-dir`: install rank first, so that a directory
/// listing is the install order. `_` separates namespace and name because it can occur in
/// neither, so two objects never share a file (`a` + `b-c` and `a-b` + `c` stay apart).
/// The path of an object's file under `--output-dir`: its file name, inside `wave-<n>/` when
/// `split_waves` is set and the object has a sync wave (one folder per stage, for one Flux
/// Kustomization each).
pub fn output_path(r: &Rendered, split_waves: bool) -> String {
    match r.wave.filter(|_| split_waves) {
        Some(w) => format!("wave-{w}/{}", file_name(r)),
        None => file_name(r),
    }
}

pub fn file_name(r: &Rendered) -> String {
    format!(
        "{:02}-{}_{}_{}.yaml",
        r.rank,
        r.kind.to_ascii_lowercase(),
        r.namespace,
        r.name
    )
}

/// Leave out the objects the cluster cannot take (the `apiVersions` fact): a ServiceMonitor
/// without the Prometheus operator's API is dropped with a warning (monitoring is optional);
/// any other missing API is an error at the field of the resource that asks for the object.
pub fn gate_apis(
    objects: Vec<Rendered>,
    facts: &Facts,
    input: &Input,
) -> (Vec<Rendered>, Vec<Diagnostic>) {
    if facts.api_versions.is_none() {
        return (objects, Vec::new());
    }
    let mut diags = Vec::new();
    let mut reported = std::collections::BTreeSet::new();
    let mut kept = Vec::with_capacity(objects.len());
    for r in objects {
        if facts.serves(r.api_version, r.kind) {
            kept.push(r);
            continue;
        }
        if !reported.insert((r.origin, r.kind)) {
            continue;
        }
        let (code, pointer, help) = match r.kind {
            "ServiceMonitor" => (
                "NIMC033",
                "/spec/metrics",
                "install the Prometheus operator's CRDs, or turn metrics off; the ServiceMonitor is left out",
            ),
            "HTTPRoute" | "GRPCRoute" => (
                "NIMC032",
                "/spec/expose/router/gateway",
                "install the Gateway API CRDs, or use router.ingress",
            ),
            "InferencePool" => (
                "NIMC032",
                "/spec/expose/router/eppConfig",
                "install the Gateway API Inference Extension CRDs",
            ),
            "LeaderWorkerSet" | "ComputeDomain" => (
                "NIMC032",
                "/spec/multiNode",
                "install LeaderWorkerSet (and the NVIDIA DRA driver for ComputeDomains)",
            ),
            "InferenceService" => (
                "NIMC032",
                "/spec/inferencePlatform",
                "install KServe, or use the standalone platform",
            ),
            "ResourceClaimTemplate" => (
                "NIMC032",
                "/spec/draResources",
                "DRA needs resource.k8s.io/v1 (Kubernetes v1.34 or newer)",
            ),
            _ => (
                "NIMC032",
                "/metadata/name",
                "the cluster must serve this API",
            ),
        };
        let mut d = Diagnostic::new(
            code,
            format!(
                "the cluster does not serve {}/{} (apiVersions), needed for {} {}/{}",
                r.api_version, r.kind, r.kind, r.namespace, r.name
            ),
        )
        .help(help);
        if let Some(origin) = r.origin {
            d = d.at(origin.file, input.span(origin, pointer));
        }
        diags.push(d);
    }
    (kept, diags)
}

/// Apply the patches of the facts (and `--patch` files) to the rendered objects, in order. A
/// patch that selects no object, or whose operations do not apply to an object it selects, is
/// an error at the patch. Patched objects are serialised again, with sorted keys.
pub fn apply_patches(
    mut objects: Vec<Rendered>,
    facts: &Facts,
) -> (Vec<Rendered>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    if facts.patches.is_empty() {
        return (objects, diags);
    }
    let locate = |d: Diagnostic, p: &crate::facts::Patch| match p.at {
        Some((file, span)) => d.at(file, span),
        None => d,
    };
    for patch in &facts.patches {
        let t = &patch.target;
        let mut matched = 0;
        for r in objects.iter_mut() {
            let quick = t.kind.as_deref().is_none_or(|k| k == r.kind)
                && t.name.as_deref().is_none_or(|n| n == r.name)
                && t.namespace.as_deref().is_none_or(|n| n == r.namespace);
            if !quick {
                continue;
            }
            let Some(mut doc) = r.value().map(|v| v.into_owned()) else {
                continue;
            };
            let labels = &doc["metadata"]["labels"];
            if !t.labels.iter().all(|(k, v)| labels[k] == *v) {
                continue;
            }
            matched += 1;
            let applied = match (&patch.json_patch, &patch.merge_patch) {
                (Some(ops), _) => serde_json::from_value::<json_patch::Patch>(ops.clone())
                    .map_err(|e| format!("not an RFC 6902 patch: {e}"))
                    .and_then(|ops| json_patch::patch(&mut doc, &ops).map_err(|e| e.to_string())),
                (None, Some(m)) => {
                    json_patch::merge(&mut doc, m);
                    Ok(())
                }
                (None, None) => Ok(()),
            };
            if let Err(e) = applied {
                diags.push(locate(
                    Diagnostic::new(
                        "NIMC034",
                        format!(
                            "the patch does not apply to {} {}/{}: {e}",
                            r.kind, r.namespace, r.name
                        ),
                    )
                    .help("check the paths against the rendered object (nimc render shows it)"),
                    patch,
                ));
                continue;
            }
            let field = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
            r.name = field(&doc["metadata"]["name"]);
            r.namespace = field(&doc["metadata"]["namespace"]);
            r.yaml = crate::yaml::emit::to_string(&doc);
            r.problems = crate::admission::violations(r.kind, &doc);
            if r.json.is_some() {
                r.json = Some(doc);
            }
        }
        if matched == 0 {
            diags.push(locate(
                Diagnostic::new("NIMC034", "the patch selects no rendered object").help(
                    "its target (kind, name, namespace, labels) must match an object nimc renders",
                ),
                patch,
            ));
        }
    }
    objects.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
    (objects, diags)
}

/// A rendered object as JSON (nimc's own output always parses).
/// Drop exact duplicates (two NIMServices sharing an existing PVC name render the same PVC) and
/// report objects that two resources render differently.
pub fn deduplicate(objects: Vec<Rendered>, input: &Input) -> (Vec<Rendered>, Vec<Diagnostic>) {
    let mut out: Vec<Rendered> = Vec::with_capacity(objects.len());
    let mut diags = Vec::new();
    for r in objects {
        if let Some(prev) = out.last()
            && (prev.rank, &prev.namespace, &prev.name) == (r.rank, &r.namespace, &r.name)
        {
            if prev.yaml != r.yaml {
                let mut d = Diagnostic::new(
                    "NIMC005",
                    format!(
                        "two resources render {} {}/{} differently",
                        r.kind, r.namespace, r.name
                    ),
                )
                .help("rename one of them (for example storage.pvc.name) so that the objects do not collide");
                if let Some(origin) = r.origin.or(prev.origin) {
                    d = d.at(origin.file, input.span(origin, "/metadata/name"));
                }
                diags.push(d);
            }
            continue;
        }
        out.push(r);
    }
    (out, diags)
}
