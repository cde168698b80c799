//! NIMPipeline lowering: each enabled service of a pipeline becomes a NIMService resource (named
//! after the service, in the pipeline's namespace, with no labels or annotations from the
//! pipeline) that the rest of the compiler treats like one written by hand. nimc renders the
//! services' objects directly and does not emit the child NIMService resources.
//!
//! As upstream: a service is enabled only when `enabled: true`; a dependency injects
//! `envName=envValue` in front of the service's env only when both are set (the operator builds
//! no URL from `name` and `port`). Changes to a service's spec always reach its objects (the
//! operator's update path loses them).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::EnvVar;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::api::{API_VERSION, NimPipeline, NimService, Object};
use crate::diagnostic::Diagnostic;
use crate::load::{Cr, Input, Origin};
use crate::render::meta::merge_env;

/// Add the enabled services of every pipeline to `input.services`. With `strict` (sync waves
/// requested) a dependency cycle is an error, since no wave order exists.
pub fn lower(input: &mut Input, strict: bool) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let mut services = Vec::new();
    for p in &input.pipelines {
        if !input.rejected(p.origin) {
            diags.extend(check(input, p, strict));
        }
        for (i, svc) in p.object.spec.services.iter().enumerate() {
            if svc.enabled != Some(true) || svc.name.is_empty() {
                continue;
            }
            let mut spec = svc.spec.clone();
            // The operator writes the child NIMService from its Go struct, where
            // `metrics.serviceMonitor` is a value, not a pointer: it always exists there.
            spec.metrics
                .service_monitor
                .get_or_insert_with(Default::default);
            for dep in &svc.dependencies {
                if let (Some(name), Some(value)) = (&dep.env_name, &dep.env_value)
                    && !name.is_empty()
                    && !value.is_empty()
                {
                    let var = EnvVar {
                        name: name.clone(),
                        value: Some(value.clone()),
                        value_from: None,
                    };
                    spec.env = merge_env(&spec.env, &[var]);
                }
            }
            let object: NimService = Object {
                api_version: API_VERSION.into(),
                kind: "NIMService".into(),
                metadata: ObjectMeta {
                    name: Some(svc.name.clone()),
                    namespace: p.object.metadata.namespace.clone(),
                    ..Default::default()
                },
                spec,
                status: None,
            };
            services.push(Cr {
                origin: Origin {
                    service: Some(i),
                    ..p.origin
                },
                object,
            });
        }
    }
    input.services.extend(services);
    diags
}

/// Pipeline-level rules: service names, enablement, dependencies.
fn check(input: &Input, p: &Cr<NimPipeline>, strict: bool) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let pipeline = p.object.name();
    let services = &p.object.spec.services;
    let at = |i: usize, rest: &str| format!("/spec/services/{i}{rest}");
    let mut seen = BTreeMap::new();
    for (i, s) in services.iter().enumerate() {
        if s.name.is_empty() {
            diags.push(
                input
                    .diag(
                        "NIMC020",
                        p.origin,
                        &at(i, ""),
                        format!("NIMPipeline {pipeline}: service {i} has no name"),
                    )
                    .help("the service's objects are named after it; set name"),
            );
        } else if let Some(first) = seen.insert(s.name.as_str(), i) {
            diags.push(
                input
                    .diag("NIMC020", p.origin, &at(i, "/name"), format!(
                        "NIMPipeline {pipeline}: service {} is listed twice (entries {first} and {i})",
                        s.name
                    ))
                    .help("each service needs its own name"),
            );
        }
        if s.enabled.is_none() {
            diags.push(
                input
                    .diag("NIMC021", p.origin, &at(i, "/name"), format!(
                        "NIMPipeline {pipeline}: service {} has no `enabled` and is not deployed",
                        s.name
                    ))
                    .help("set enabled: true to deploy it (or enabled: false to say it is off)"),
            );
        }
    }
    let enabled: BTreeSet<&str> = services
        .iter()
        .filter(|s| s.enabled == Some(true))
        .map(|s| s.name.as_str())
        .collect();
    for (i, s) in services
        .iter()
        .enumerate()
        .filter(|(_, s)| s.enabled == Some(true))
    {
        for (j, d) in s.dependencies.iter().enumerate() {
            let ptr = at(i, &format!("/dependencies/{j}"));
            if !enabled.contains(d.name.as_str()) {
                let why = if seen.contains_key(d.name.as_str()) {
                    "is not enabled"
                } else {
                    "is not in the pipeline"
                };
                diags.push(
                    input
                        .diag(
                            "NIMC021",
                            p.origin,
                            &format!("{ptr}/name"),
                            format!(
                                "NIMPipeline {pipeline}: {} depends on {}, which {why}",
                                s.name, d.name
                            ),
                        )
                        .help("enable the dependency or remove it"),
                );
            }
            let has = |v: &Option<String>| v.as_deref().is_some_and(|x| !x.is_empty());
            if has(&d.env_name) != has(&d.env_value) {
                diags.push(
                    input
                        .diag("NIMC021", p.origin, &ptr, format!(
                            "NIMPipeline {pipeline}: dependency {} of {} sets only one of envName and envValue, so no variable is injected",
                            d.name, s.name
                        ))
                        .help("the operator injects envName=envValue only when both are set; it builds no URL from name and port"),
                );
            }
        }
    }
    if let Some(cycle) = analyse(&p.object).cycle {
        let i = services
            .iter()
            .position(|s| s.name == cycle[0])
            .unwrap_or(0);
        let severity = if strict {
            crate::diagnostic::Severity::Error
        } else {
            crate::diagnostic::Severity::Warning
        };
        diags.push(
            input
                .diag(
                    "NIMC021",
                    p.origin,
                    &at(i, "/dependencies"),
                    format!(
                        "NIMPipeline {pipeline}: dependencies form a cycle: {}",
                        cycle.join(" -> ")
                    ),
                )
                .help("no service can start first; remove one of the dependencies")
                .severity(severity),
        );
    }
    diags
}

/// The dependency graph of a pipeline's enabled services, walked once.
pub struct Analysis {
    /// Depth of each service: 0 without dependencies, else one more than its deepest enabled
    /// dependency (a dependency that closes a cycle counts as depth 0).
    pub levels: BTreeMap<String, u32>,
    /// The first dependency cycle found, as the names around it.
    pub cycle: Option<Vec<String>>,
}

/// Walk the dependencies of the enabled services (iteratively: pipelines can be long).
pub fn analyse(p: &NimPipeline) -> Analysis {
    let deps: BTreeMap<&str, Vec<&str>> = p
        .spec
        .services
        .iter()
        .filter(|s| s.enabled == Some(true))
        .map(|s| {
            (
                s.name.as_str(),
                s.dependencies.iter().map(|d| d.name.as_str()).collect(),
            )
        })
        .collect();
    let mut level: BTreeMap<&str, u32> = BTreeMap::new();
    let mut cycle: Option<Vec<String>> = None;
    for &root in deps.keys() {
        if level.contains_key(root) {
            continue;
        }
        // Post-order walk: (node, index of the next dependency to visit).
        let mut stack: Vec<(&str, usize)> = vec![(root, 0)];
        while let Some((node, next)) = stack.last().copied() {
            let children = &deps[node];
            if next < children.len() {
                if let Some(top) = stack.last_mut() {
                    top.1 += 1;
                }
                let child = children[next];
                if !deps.contains_key(child) || level.contains_key(child) {
                    continue;
                }
                if let Some(start) = stack.iter().position(|(n, _)| *n == child) {
                    if cycle.is_none() {
                        let mut c: Vec<String> =
                            stack[start..].iter().map(|(n, _)| n.to_string()).collect();
                        c.push(child.to_string());
                        cycle = Some(c);
                    }
                    continue;
                }
                stack.push((child, 0));
                continue;
            }
            let depth = children
                .iter()
                .filter_map(|c| level.get(c))
                .map(|l| l + 1)
                .max()
                .unwrap_or(0);
            level.insert(node, depth);
            stack.pop();
        }
    }
    Analysis {
        levels: level.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        cycle,
    }
}
