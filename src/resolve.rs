//! The linker: applies CRD defaults, fills in namespaces, connects each NIMService to the NIMCache
//! it mounts, and takes every decision the operator would take from cluster state (cache type,
//! profiles, GPU count, native layout) from the CR statuses and the facts. Produces the
//! [`Model`] that rendering reads, plus diagnostics for what cannot be resolved.

use std::collections::BTreeMap;

use rayon::prelude::*;

use crate::api::{NimCache, NimService};
use crate::defaults;
use crate::diagnostic::Diagnostic;
use crate::facts::Facts;
use crate::load::{Cr, Input};
use crate::model::{
    Cache, CacheLink, CacheType, ComputeDomain, KServe, Model, MultiNode, NgcApiKey, Profiles,
    Service, Store,
};
use crate::profiles::{self, Manifest};
use crate::quantity;
use crate::render::meta;

/// Problems that only keep a resource from rendering: the operator still reconciles it and
/// writes the status the cluster shows (a NIMService whose NIMCache does not exist is
/// `NIMCacheNotFound`), so `nimc status` and the agent compute it.
pub const RENDER_ONLY: &[&str] = &["NIMC009", "NIMC023"];

/// What the operator says when a NIMCache's profile selection is empty.
const NOTHING_SELECTED: &str = "no profiles are selected for caching";

/// The annotation a user (or the operator) sets on a NIMCache to pin its profile selection.
pub const SELECTED_PROFILES: &str = "nvidia.com/selected-profiles";

/// Resolve the input into a model. Services and caches that cannot be rendered are left out
/// and explained by a diagnostic.
///
/// The NIMService specs are moved out of `input` into the model (they are the bulk of the
/// memory); everything else in `input` stays usable for locating diagnostics.
///
/// With `for_status`, what only the cache Job's arguments need (which profiles) may stay
/// unknown: a status depends on what the cluster shows, not on what rendering would refuse.
pub fn resolve(input: &mut Input, facts: &Facts, for_status: bool) -> (Model, Vec<Diagnostic>) {
    let services = std::mem::take(&mut input.services);
    let input: &Input = input;
    let mut diags = Vec::new();
    let mut model = Model::default();
    let mut by_name: BTreeMap<(String, String), &Cr<NimCache>> = BTreeMap::new();
    for c in &input.caches {
        let ns = namespace(c.object.namespace(), facts);
        by_name
            .entry((ns, c.object.name().to_string()))
            .or_insert(c);
    }
    for c in &input.caches {
        if let Some(cache) = cache(input, c, facts, for_status, &mut diags) {
            model.caches.push(cache);
        }
    }
    let levels: Levels = input
        .pipelines
        .iter()
        .map(|p| {
            (
                (p.origin.file, p.origin.doc),
                crate::pipeline::analyse(&p.object).levels,
            )
        })
        .collect();
    // Services resolve independently; the order of the results is the input order.
    let resolved: Vec<(Option<Service>, Vec<Diagnostic>)> = services
        .into_par_iter()
        .map(|s| {
            let mut d = Vec::new();
            (service(input, s, facts, &by_name, &levels, &mut d), d)
        })
        .collect();
    for (svc, d) in resolved {
        model.services.extend(svc);
        diags.extend(d);
    }
    if facts.sync_waves {
        // A cache is applied in the wave before the first service that mounts it.
        for c in &mut model.caches {
            let first_user = model
                .services
                .iter()
                .filter(|s| {
                    s.namespace == c.namespace && s.cache.as_ref().is_some_and(|l| l.name == c.name)
                })
                .filter_map(|s| s.wave)
                .min();
            c.wave = Some(first_user.map_or(0, |w| w - 1));
        }
    }
    (model, diags)
}

fn namespace(ns: &str, facts: &Facts) -> String {
    if ns.is_empty() {
        facts.default_namespace.clone()
    } else {
        ns.to_string()
    }
}

fn cache(
    input: &Input,
    cr: &Cr<NimCache>,
    facts: &Facts,
    for_status: bool,
    diags: &mut Vec<Diagnostic>,
) -> Option<Cache> {
    let obj = &cr.object;
    let name = obj.name().to_string();
    let mut spec = obj.spec.clone();
    defaults::nim_cache(&mut spec);
    let status = obj.status.clone().unwrap_or_default();
    if obj.status.is_none() {
        diags.push(
            input
                .diag("NIMC091", cr.origin, "/metadata/name", format!(
                    "NIMCache {name} has no status: rendered from its spec alone (PVC {}, no profile-derived settings)",
                    spec.storage.pvc.clone().unwrap_or_default().claim_name(&name)
                ))
                .help("the operator's status (type, profiles) refines the Job and the NIMServices that mount the cache"),
        );
    }
    // The cache's own objects use the name from the spec; the status is not read for it.
    let claim_name = spec
        .storage
        .pvc
        .clone()
        .unwrap_or_default()
        .claim_name(&name);
    let puller = spec.source.model_puller().to_string();
    let source = &spec.source;
    // Upstream re-resolves the protocol on every reconcile and only an NGC source without
    // modelEndpoint can be native; a stale `native` elsewhere is cleared.
    let native = match status.type_.as_deref() {
        Some("native") => source.is_optimized(),
        _ => source.is_optimized() && facts.is_native_image(&puller),
    };
    let model_free = match status.type_.as_deref() {
        Some("model-free") => true,
        Some(_) => false,
        None => source.is_hf_model() && facts.lacks_manifest(&puller),
    };
    let cache_type = if native {
        CacheType::Native
    } else if model_free {
        CacheType::ModelFree
    } else {
        CacheType::Manifest
    };
    // What only the Job needs is not asked for when there is no Job.
    let creates_job = status.creates_job();
    if creates_job
        && cache_type == CacheType::ModelFree
        && source.hf_like().is_some_and(|h| h.model_name.is_none())
    {
        diags.push(
            input
                .diag("NIMC015", cr.origin, "/spec/source", format!(
                    "NIMCache {name}: a model-free image downloads by model URI, which a datasetName cannot give"
                ))
                .help("use modelName, or a model puller image that ships a model manifest"),
        );
        return None;
    }
    let ns = namespace(obj.namespace(), facts);
    // The operator's `<cache>-manifest` ConfigMap (statuses only) is what it read; else the
    // image's manifest from the facts.
    let manifest = facts
        .cache_manifests
        .get(&(ns.clone(), name.clone()))
        .or_else(|| facts.manifests.get(&puller))
        .cloned();
    let profiles = if creates_job && source.is_optimized() && cache_type != CacheType::Native {
        let (profiles, problem) = job_profiles(obj, manifest.as_deref(), facts);
        match problem {
            // `nimc status` computes what the cluster shows whatever rendering would refuse.
            Some(_) if for_status => profiles,
            Some((code, pointer, message, help)) => {
                diags.push(
                    input
                        .diag(
                            code,
                            cr.origin,
                            pointer,
                            format!("NIMCache {name}: {message}"),
                        )
                        .help(help),
                );
                return None;
            }
            None => profiles,
        }
    } else {
        Profiles::NotApplicable
    };
    Some(Cache {
        origin: cr.origin,
        name,
        namespace: ns,
        spec,
        claim_name,
        cache_type,
        creates_job,
        profiles,
        manifest,
        wave: None,
    })
}

/// A problem that keeps the Job's profiles from being known: (code, pointer, message, help).
type ProfileProblem = (&'static str, &'static str, String, String);

/// The profiles an NGC cache Job downloads, in the operator's order of precedence: the spec's
/// `model.profiles`; else the `nvidia.com/selected-profiles` annotation alone when present;
/// else the operator's selection from the model manifest (facts) and the nodes' GPUs; else the
/// profiles the input's status records.
fn job_profiles(
    obj: &NimCache,
    manifest: Option<&Manifest>,
    facts: &Facts,
) -> (Profiles, Option<ProfileProblem>) {
    let model = obj
        .spec
        .source
        .ngc
        .as_ref()
        .and_then(|n| n.model.clone())
        .unwrap_or_default();
    if !model.profiles.is_empty() {
        return (Profiles::Listed(model.profiles), None);
    }
    let annotation = obj
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(SELECTED_PROFILES));
    let help_pin = || {
        format!(
            "list the profiles in spec.source.ngc.model.profiles (or [all]), or set the {SELECTED_PROFILES} annotation to a JSON list"
        )
    };
    if let Some(text) = annotation {
        return match serde_json::from_str::<Option<Vec<String>>>(text) {
            Ok(Some(list)) if !list.is_empty() => (Profiles::Listed(list), None),
            Ok(_) => (
                Profiles::OperatorFails(NOTHING_SELECTED.into()),
                Some((
                    "NIMC010",
                    "/metadata/annotations",
                    format!("the {SELECTED_PROFILES} annotation lists no profiles"),
                    help_pin(),
                )),
            ),
            Err(e) => (
                Profiles::OperatorFails(e.to_string()),
                Some((
                    "NIMC010",
                    "/metadata/annotations",
                    format!(
                        "the {SELECTED_PROFILES} annotation is not a JSON list of strings: {e}"
                    ),
                    help_pin(),
                )),
            ),
        };
    }
    if let Some(manifest) = manifest {
        let ids = profiles::selected(manifest, &model, &profiles::discovered(&facts.gpu_products));
        if ids.is_empty() {
            return (
                Profiles::OperatorFails(NOTHING_SELECTED.into()),
                Some((
                    "NIMC036",
                    "/spec/source/ngc/model",
                    format!(
                        "no profile of the model manifest of {} passes the filters of spec.source.ngc.model (the operator fails: no profiles are selected for caching)",
                        obj.spec.source.model_puller()
                    ),
                    "run nimc profiles --manifest FILE on this file to see why each profile was dropped; relax the filters, or correct gpuProducts in the facts".to_string(),
                )),
            );
        }
        return (Profiles::Listed(ids), None);
    }
    // Not read by the operator for the Job, but it records what the operator selected.
    let recorded: Vec<String> = obj
        .status
        .iter()
        .flat_map(|s| &s.profiles)
        .map(|p| p.name.clone())
        .collect();
    if !recorded.is_empty() {
        return (Profiles::Listed(recorded), None);
    }
    (
        Profiles::Unknown,
        Some((
            "NIMC010",
            "/spec/source/ngc",
            format!(
                "cannot tell which model profiles the Job downloads: the operator selects them from the model manifest of {}, which the facts do not hold",
                obj.spec.source.model_puller()
            ),
            format!(
                "give the image's manifest in nimc.yaml (modelManifests: {{{image}: FILE}}, and gpuProducts: the nodes' nvidia.com/gpu.product values); get it with: docker run --rm --entrypoint cat {image} /etc/nim/config/model_manifest.yaml > FILE. Or {}",
                help_pin(),
                image = obj.spec.source.model_puller(),
            ),
        )),
    )
}

/// The annotation that names the user-supplied Secret with the MPI SSH key (default
/// `<name>-ssh-pk`, as upstream; nimc never renders key material).
pub const SSH_SECRET_ANNOTATION: &str = "nimc/mpi-ssh-secret";

/// The multi-node plan: `None` for a single-node service (also when pipeline parallelism is 1,
/// where upstream renders a Deployment whose Service selects nothing; nimc renders a working
/// single-node service and warns in `check`).
#[allow(
    clippy::too_many_arguments,
    reason = "one call site; the arguments are the service's parts"
)]
fn multinode(
    input: &Input,
    origin: crate::load::Origin,
    name: &str,
    ns: &str,
    spec: &crate::api::NimServiceSpec,
    object_annotations: &BTreeMap<String, String>,
    facts: &Facts,
    diags: &mut Vec<Diagnostic>,
) -> Result<Option<MultiNode>, ()> {
    let Some(mn) = spec.multi_node.as_ref() else {
        return Ok(None);
    };
    let pipeline = mn.parallelism.pipeline.unwrap_or(0);
    if pipeline <= 1 || spec.inference_platform.as_deref() == Some("kserve") {
        return Ok(None);
    }
    let compute_domain = match &mn.compute_domain {
        None => None,
        Some(cd) if cd.create == Some(true) => Some(ComputeDomain {
            create: true,
            template: crate::render::dra::compute_domain_template(name),
        }),
        Some(cd) => {
            let cd_name = cd.name.clone().unwrap_or_default();
            match facts.compute_domains.get(&format!("{ns}/{cd_name}")) {
                Some(template) => Some(ComputeDomain {
                    create: false,
                    template: template.clone(),
                }),
                None => {
                    diags.push(
                        input
                            .diag("NIMC023", origin, "/spec/multiNode/computeDomain/name", format!(
                                "NIMService {name}: the channel template of the existing ComputeDomain {ns}/{cd_name} is not known"
                            ))
                            .help(format!(
                                "add `computeDomains: {{\"{ns}/{cd_name}\": <spec.channel.resourceClaimTemplate.name>}}` to nimc.yaml, or set computeDomain.create: true"
                            )),
                    );
                    return Err(());
                }
            }
        }
    };
    Ok(Some(MultiNode {
        tensor: mn.parallelism.tensor.unwrap_or(0),
        pipeline,
        mpi_start_timeout: mn
            .mpi
            .as_ref()
            .and_then(|m| m.mpi_start_timeout)
            .filter(|t| *t != 0)
            .unwrap_or(300),
        ray_port: mn.ray.as_ref().map(|r| r.ray_port.unwrap_or(6379)),
        ssh_secret: object_annotations
            .get(SSH_SECRET_ANNOTATION)
            .filter(|s| !s.is_empty())
            .cloned()
            .unwrap_or_else(|| format!("{name}-ssh-pk")),
        compute_domain,
    }))
}

/// Pipeline dependency depths, by the pipeline's (file, document).
type Levels = BTreeMap<(usize, usize), BTreeMap<String, u32>>;

fn service(
    input: &Input,
    cr: Cr<NimService>,
    facts: &Facts,
    caches: &BTreeMap<(String, String), &Cr<NimCache>>,
    levels: &Levels,
    diags: &mut Vec<Diagnostic>,
) -> Option<Service> {
    let obj = cr.object;
    let name = obj.name().to_string();
    let ns = namespace(obj.namespace(), facts);
    let mut spec = obj.spec;
    defaults::nim_service(&mut spec);
    let st = &spec.storage;
    let mut link = None;
    let mut gpus = None;
    let native;
    let store = if let Some(r) = st.nim_cache.as_ref().filter(|r| !r.name.is_empty()) {
        let Some(c) = caches.get(&(ns.clone(), r.name.clone())) else {
            diags.push(
                input
                    .diag(
                        "NIMC009",
                        cr.origin,
                        "/spec/storage/nimCache/name",
                        format!(
                            "NIMService {name}: NIMCache {ns}/{} is not in the input",
                            r.name
                        ),
                    )
                    .help("add the NIMCache resource to the paths you render (same namespace)"),
            );
            return None;
        };
        let cache = &c.object;
        let status = cache.status.clone().unwrap_or_default();
        let source = &cache.spec.source;
        let pvc = cache.spec.storage.pvc.clone().unwrap_or_default();
        let claim_name = match pvc.name.as_deref() {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => status
                .pvc
                .clone()
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| pvc.claim_name(cache.name())),
        };
        native = match status.type_.as_deref() {
            Some(t) => t == "native",
            None => source.is_optimized() && facts.is_native_image(source.model_puller()),
        };
        if !r.profile.is_empty() {
            let user_gpu = spec.resources.as_ref().is_some_and(|res| {
                [&res.requests, &res.limits]
                    .iter()
                    .any(|m| m.as_ref().is_some_and(|m| m.contains_key("nvidia.com/gpu")))
            });
            if source.is_optimized() && spec.dra_resources.is_empty() && !user_gpu {
                if cache.status.is_none() {
                    diags.push(
                        input
                            .diag("NIMC091", cr.origin, "/spec/storage/nimCache/profile", format!(
                                "NIMService {name}: NIMCache {} has no status, so no GPU count is derived from profile {}",
                                r.name, r.profile
                            ))
                            .help("the operator sizes nvidia.com/gpu from the cache's status.profiles; set resources explicitly or keep the status"),
                    );
                }
                let profile = status.profiles.iter().find(|p| p.name == r.profile);
                if let Some(p) = profile {
                    // Multi-node services request their tensor parallelism per pod; otherwise
                    // the profile's tag (an empty tag counts as absent: one GPU).
                    let tensor = spec
                        .multi_node
                        .as_ref()
                        .map(|m| m.parallelism.tensor.unwrap_or(0).to_string());
                    let tp = match &tensor {
                        Some(t) => t.as_str(),
                        None => p
                            .config
                            .get("tensorParallelism")
                            .or_else(|| p.config.get("tp"))
                            .filter(|t| !t.is_empty())
                            .map_or("1", String::as_str),
                    };
                    if quantity::parse_ok(tp) {
                        gpus = Some(quantity::canonical(tp));
                    } else {
                        diags.push(
                            input
                                .diag("NIMC011", c.origin, "/status/profiles", format!(
                                    "NIMCache {}: profile {} has tensor parallelism `{tp}`, which is not a GPU count",
                                    r.name, r.profile
                                ))
                                .help("fix the profile's tp tag, or set nvidia.com/gpu in the NIMService's resources"),
                        );
                    }
                }
            }
        }
        if source.hf_like().is_some_and(|h| h.model_name.is_none()) {
            diags.push(
                input
                    .diag("NIMC015", cr.origin, "/spec/storage/nimCache/name", format!(
                        "NIMService {name}: NIMCache {} holds a dataset (datasetName), not a model",
                        r.name
                    ))
                    .help("a NIMService can only serve a NIMCache that downloads a model (modelName)"),
            );
            return None;
        }
        if let Some(state) = status.state.as_deref().filter(|s| *s != "Ready") {
            diags.push(
                input
                    .diag("NIMC091", cr.origin, "/spec/storage/nimCache/name", format!(
                        "NIMService {name}: NIMCache {} is {state}; the operator would hold the Deployment back until it is Ready",
                        r.name
                    ))
                    .help("order the cache Job before the service (sync waves, dependsOn); nimc renders both"),
            );
        }
        link = Some(CacheLink {
            name: r.name.clone(),
            profile: r.profile.clone(),
            universal: source.is_universal(),
            hf_model: source.is_hf_model(),
            hf_uri: source.hf_uri(),
        });
        Store::Pvc {
            claim_name,
            sub_path: pvc.sub_path().to_string(),
            create: false,
        }
    } else {
        native = facts.is_native_image(&spec.image.reference());
        if let Some(p) = st.pvc.as_ref().filter(|p| p.is_set()) {
            Store::Pvc {
                claim_name: if p.creates() {
                    p.claim_name(&name)
                } else {
                    p.name.clone().unwrap_or_default()
                },
                sub_path: p.sub_path().to_string(),
                create: p.creates(),
            }
        } else if let Some(e) = &st.empty_dir {
            Store::EmptyDir {
                size_limit: e.size_limit.as_ref().map(|q| quantity::canonical(&q.0)),
            }
        } else {
            Store::HostPath(st.host_path.clone().unwrap_or_default())
        }
    };
    let kserve = (spec.inference_platform.as_deref() == Some("kserve"))
        .then(|| KServe::resolve(&spec.annotations, &facts.kserve_deployment_mode));
    let object_annotations = obj.metadata.annotations.clone().unwrap_or_default();
    let multinode = match multinode(
        input,
        cr.origin,
        &name,
        &ns,
        &spec,
        &object_annotations,
        facts,
        diags,
    ) {
        Ok(m) => m,
        Err(()) => return None,
    };
    // The LeaderWorkerSet path has no native model layout.
    let native = native && multinode.is_none();
    let wave = facts.sync_waves.then(|| {
        let level = cr
            .origin
            .service
            .and_then(|_| levels.get(&(cr.origin.file, cr.origin.doc)))
            .and_then(|l| l.get(&name))
            .copied()
            .unwrap_or(0);
        i32::try_from(level).unwrap_or(i32::MAX - 1) + 1
    });
    let ngc_api_key = match spec.auth_secret.is_empty() {
        true => NgcApiKey::Absent,
        false if facts.operator_version.behaviour().ngc_api_key_second => NgcApiKey::Second,
        false => NgcApiKey::AfterLogLevel,
    };
    Some(Service {
        origin: cr.origin,
        wave,
        kserve,
        multinode,
        object_annotations,
        labels: meta::service_labels(&name, &spec, facts),
        annotations: meta::service_annotations(&spec),
        name,
        namespace: ns,
        spec,
        store,
        native,
        cache: link,
        gpus,
        ngc_api_key,
    })
}
