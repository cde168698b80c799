//! Per-resource checks that must pass before rendering: the rules whose violation would make the
//! operator fail, panic or render objects the API server rejects, plus what only a view of the
//! whole repository shows (duplicates, names). Each finding is a located diagnostic. `service`
//! holds the NIMService rules (storage, router, endpoint picker, DRA, KServe, multi-node),
//! `cache` the NIMCache rules, `objects` what the API server refuses in the objects the
//! resources' values reach.

mod cache;
mod objects;
mod service;
pub mod update;

use std::collections::BTreeMap;

use crate::diagnostic::Diagnostic;
use crate::facts::Facts;
use crate::load::{Input, Origin};

/// Check every NIMService and NIMCache of the input.
pub fn check(input: &Input, facts: &Facts) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    duplicates(input, &mut diags);
    // The API server refuses a resource that breaks a CRD constraint before any webhook runs,
    // so such resources get only those diagnostics.
    for s in input.services.iter().filter(|s| !input.rejected(s.origin)) {
        service::check(input, s, facts, &mut diags);
        objects::service(input, s, &mut diags);
    }
    for c in input.caches.iter().filter(|c| !input.rejected(c.origin)) {
        cache::check(input, c, &mut diags);
        objects::cache(input, c, &mut diags);
    }
    existing_claims(input, &mut diags);
    diags
}

/// A `storage.pvc` that names an existing claim (create is not true) should find it in the
/// input: a PersistentVolumeClaim document, or a claim another resource creates. Only a
/// warning: the claim may well be managed outside the repository.
fn existing_claims(input: &Input, diags: &mut Vec<Diagnostic>) {
    let services = input.services.iter().filter_map(|s| {
        let p = s.object.spec.storage.pvc.as_ref()?;
        let cache = s.object.spec.storage.nim_cache.is_some();
        Some((s.origin, s.object.namespace(), s.object.name(), p)).filter(|_| !cache)
    });
    let caches = input.caches.iter().filter_map(|c| {
        let p = c.object.spec.storage.pvc.as_ref()?;
        Some((c.origin, c.object.namespace(), c.object.name(), p))
    });
    let all: Vec<_> = services.chain(caches).collect();
    let created: std::collections::BTreeSet<(&str, String)> = all
        .iter()
        .filter(|(.., p)| p.creates())
        .map(|(_, ns, owner, p)| (*ns, p.claim_name(owner)))
        .collect();
    for (origin, ns, _, p) in &all {
        let Some(claim) = p.name.as_deref().filter(|n| !n.is_empty() && !p.creates()) else {
            continue;
        };
        let known = created.contains(&(*ns, claim.to_string()))
            || input.claims.contains(&(ns.to_string(), claim.to_string()));
        if !known && !input.rejected(*origin) {
            diags.push(
                input
                    .diag("NIMC030", *origin, "/spec/storage/pvc/name", format!(
                        "PersistentVolumeClaim {ns}/{claim} is not in the input and no resource creates it"
                    ))
                    .help("make sure the claim exists in the cluster, add it to the repository, or set storage.pvc.create: true with a size"),
            );
        }
    }
}

fn duplicates(input: &Input, diags: &mut Vec<Diagnostic>) {
    let mut seen: BTreeMap<(&str, &str, &str), Origin> = BTreeMap::new();
    let all = input
        .services
        .iter()
        .map(|s| {
            (
                "NIMService",
                s.object.namespace(),
                s.object.name(),
                s.origin,
            )
        })
        .chain(
            input
                .caches
                .iter()
                .map(|c| ("NIMCache", c.object.namespace(), c.object.name(), c.origin)),
        )
        .chain(input.pipelines.iter().map(|p| {
            (
                "NIMPipeline",
                p.object.namespace(),
                p.object.name(),
                p.origin,
            )
        }));
    for (kind, ns, name, origin) in all {
        if name.is_empty() {
            diags.push(
                input
                    .diag("NIMC004", origin, "/metadata", format!("{kind} has no metadata.name"))
                    .help("every rendered object is named after its custom resource; add metadata.name"),
            );
            continue;
        }
        if let Some(first) = seen.insert((kind, ns, name), origin) {
            diags.push(
                input
                    .diag(
                        "NIMC005",
                        origin,
                        "/metadata/name",
                        format!("{kind} {ns}/{name} is defined twice"),
                    )
                    .help(format!(
                        "the first definition is document {} of {}; keep one",
                        first.doc + 1,
                        input
                            .sources
                            .files
                            .get(first.file)
                            .map_or("", |f| f.path.as_str())
                    )),
            );
        }
        if kind != "NIMPipeline" && !valid_base_name(name, kind == "NIMService") {
            let what = if kind == "NIMService" {
                "a DNS-1035 label (lowercase letters, digits, '-', starting with a letter)"
            } else {
                "a DNS-1123 label (lowercase letters, digits, '-')"
            };
            diags.push(
                input
                    .diag("NIMC025", origin, "/metadata/name", format!(
                        "{kind} name `{name}` must be {what} of at most {MAX_BASE_NAME} characters"
                    ))
                    .help("derived objects (`<name>-ctr`, `<name>-epp`, `<name>-lws`, `<name>-job`) must stay within 63 characters"),
            );
        }
    }
}

/// Names of NIMServices and NIMCaches leave room for the longest suffix nimc appends (`-ctr`,
/// `-epp`, `-lws`, `-job`) within Kubernetes' 63-character label limit.
const MAX_BASE_NAME: usize = 59;

/// A DNS-1123 label (or, for Service names, a DNS-1035 label that starts with a letter) of at
/// most [`MAX_BASE_NAME`] characters.
fn valid_base_name(name: &str, dns1035: bool) -> bool {
    let b = name.as_bytes();
    let ok_char = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-';
    !b.is_empty()
        && b.len() <= MAX_BASE_NAME
        && b.iter().all(ok_char)
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
        && (!dns1035 || b[0].is_ascii_lowercase())
}

/// A Kubernetes access mode for a PVC nimc renders.
fn valid_access_mode(m: Option<&str>) -> bool {
    matches!(
        m,
        Some("ReadWriteOnce" | "ReadOnlyMany" | "ReadWriteMany" | "ReadWriteOncePod")
    )
}
