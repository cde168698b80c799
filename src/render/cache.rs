//! NIMCache objects: the PVC, the model-download Job in each source variant (NGC optimized,
//! NGC universal, native image, Hugging Face hub or DataStore), and the ServiceAccount, Role and
//! RoleBinding that all NIMCaches of a namespace share.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, EmptyDirVolumeSource, EnvFromSource,
    LocalObjectReference, PersistentVolumeClaimVolumeSource, PodSecurityContext, PodSpec,
    PodTemplateSpec, ResourceRequirements, SeccompProfile, SecretEnvSource, SecurityContext,
    ServiceAccount, Volume,
};
use k8s_openapi::api::rbac::v1::Role;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::Object;
use super::meta::{Map, env, env_list, managed_by, merge_env, object_meta, some_str, some_vec};
use super::rbac::{binding, scc_rule};
use super::storage::claim;
use super::workload::{CA_SCRIPT, mount, proxy_env};
use crate::facts::{CacheJobs, Facts, Orchestrator};
use crate::model::{Cache, CacheType, Profiles};
use crate::quantity;

pub const SERVICE_ACCOUNT: &str = "nim-cache-sa";
pub const ROLE: &str = "nim-cache-role";
pub const ROLE_BINDING: &str = "nim-cache-rolebinding";

/// The labels of a NIMCache's PVC (and manifest ConfigMap).
fn cache_labels(c: &Cache, facts: &Facts) -> Map {
    Map::from([
        ("app".into(), "k8s-nim-operator".into()),
        ("app.kubernetes.io/name".into(), c.name.clone()),
        ("app.kubernetes.io/instance".into(), c.name.clone()),
        ("app.kubernetes.io/part-of".into(), "nim-cache".into()),
        managed_by(facts),
    ])
}

/// The objects of one NIMCache.
pub fn objects(c: &Cache, facts: &Facts) -> Vec<Object> {
    let mut out = Vec::new();
    if let Some(pvc) = c.spec.storage.pvc.as_ref().filter(|p| p.creates()) {
        out.push(Object::PersistentVolumeClaim(claim(
            &c.claim_name,
            &c.namespace,
            cache_labels(c, facts),
            pvc,
        )));
    }
    if c.creates_job {
        let mut job = job(c, facts);
        if facts.cache_jobs == CacheJobs::Gitops {
            gitops_job(&mut job);
        }
        out.push(Object::Job(Box::new(job)));
    }
    out
}

/// The `cacheJobs: gitops` form of the caching Job. The operator's Job is deleted 600 s after
/// it finishes; under Argo CD self-heal or Flux it is then re-created and downloads the model
/// again, and a changed pod template cannot be applied to an existing Job. Here the Job keeps
/// no TTL, so a finished Job stays and is not re-created; its name carries a hash of its
/// content, so a changed spec is a new Job and the old one is pruned (Argo CD needs nothing
/// more); and Flux creates it once and never re-applies it (`ssa: IfNotPresent`).
fn gitops_job(job: &mut Job) {
    if let Some(spec) = job.spec.as_mut() {
        spec.ttl_seconds_after_finished = None;
    }
    let content = crate::yaml::emit::to_string(&*job);
    let hash = format!("{:08x}", crate::hash::fnv1a32(content.as_bytes()));
    let name = job.metadata.name.get_or_insert_with(String::new);
    // `<cache>-job-<hash>` within the 63 characters of a Job name.
    name.truncate(63 - 1 - hash.len());
    let trimmed = name.trim_end_matches('-').len();
    name.truncate(trimmed);
    name.push('-');
    name.push_str(&hash);
    job.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(
            "kustomize.toolkit.fluxcd.io/ssa".to_string(),
            "IfNotPresent".to_string(),
        );
}

/// The per-namespace ServiceAccount, Role and RoleBinding shared by every NIMCache there. The
/// operator rewrites the Role for each NIMCache it reconciles; nimc grants `anyuid` when any
/// NIMCache of the namespace has a proxy, so the result does not depend on reconcile order.
pub fn namespace_objects(caches: &[Cache], facts: &Facts) -> Vec<Object> {
    let mut namespaces: BTreeMap<&str, bool> = BTreeMap::new();
    for c in caches {
        *namespaces.entry(c.namespace.as_str()).or_default() |= c.spec.proxy.is_some();
    }
    let managed = Map::from([managed_by(facts)]);
    let role_labels = Map::from([("app".into(), "k8s-nim-operator".into()), managed_by(facts)]);
    let mut out = Vec::new();
    for (ns, proxy) in namespaces {
        out.push(Object::ServiceAccount(ServiceAccount {
            metadata: object_meta(SERVICE_ACCOUNT, ns, managed.clone(), Map::new()),
            ..Default::default()
        }));
        out.push(Object::Role(Role {
            metadata: object_meta(ROLE, ns, role_labels.clone(), Map::new()),
            rules: Some(vec![scc_rule(if proxy { "anyuid" } else { "nonroot" })]),
        }));
        out.push(Object::RoleBinding(binding(
            ROLE_BINDING,
            ROLE,
            SERVICE_ACCOUNT,
            ns,
            role_labels.clone(),
        )));
    }
    out
}

fn job(c: &Cache, facts: &Facts) -> Job {
    let spec = &c.spec;
    let source = &spec.source;
    let uid = spec.user_id.unwrap_or(1000);
    let gid = spec.group_id.unwrap_or(2000);
    let sub_path = spec
        .storage
        .pvc
        .as_ref()
        .map(|p| p.sub_path().to_string())
        .unwrap_or_default();
    let cert = spec
        .proxy
        .as_ref()
        .map(|p| p.cert_config_map.clone())
        .filter(|c| !c.is_empty());

    // The variant: command, args, env, mounts, termination message fields.
    let mut command = None;
    let mut args = None;
    let mut termination = true;
    let (variant_env, mut mounts) = if c.cache_type == CacheType::Native && source.is_optimized() {
        (
            Vec::new(),
            vec![
                mount("nim-cache-volume", "/model", &sub_path),
                mount("nim-cache-volume", "/opt/cache", &sub_path),
                mount("scratch", "/scratch", ""),
            ],
        )
    } else {
        let store = vec![
            mount("nim-cache-volume", "/model-store", &sub_path),
            mount("scratch", "/scratch", ""),
        ];
        if let Some(hf) = source.hf_like().filter(|_| source.ngc.is_none()) {
            termination = false;
            let ns = hf.namespace.clone().unwrap_or_default();
            command = Some(if c.cache_type == CacheType::ModelFree {
                vec![
                    "download-to-cache".to_string(),
                    "--model-uri".into(),
                    source.hf_uri(),
                    "--manifest-file".into(),
                    "/model-store/model_manifest.json".into(),
                ]
            } else {
                let (repo, repo_type) = match (&hf.model_name, &hf.dataset_name) {
                    (Some(m), _) => (m.clone(), "model"),
                    (None, Some(d)) => (d.clone(), "dataset"),
                    (None, None) => (String::new(), "model"),
                };
                let mut cmd = vec![
                    "huggingface-cli".to_string(),
                    "download".into(),
                    format!("{ns}/{repo}"),
                    "--local-dir".into(),
                    "/model-store".into(),
                    "--repo-type".into(),
                    repo_type.into(),
                ];
                if let Some(rev) = hf.revision.as_ref().filter(|r| !r.is_empty()) {
                    cmd.push("--revision".into());
                    cmd.push(rev.clone());
                }
                cmd
            });
            (
                vec![
                    env("HF_ENDPOINT", hf.endpoint.clone()),
                    env("HF_HUB_OFFLINE", "0"),
                    env("NIM_CACHE_PATH", "/model-store"),
                    env("HF_HOME", "/model-store/huggingface/hub"),
                ],
                store,
            )
        } else if let Some(endpoint) = source.ngc.as_ref().and_then(|n| n.model_endpoint.clone()) {
            command = Some(vec!["create-model-store".to_string()]);
            args = Some(vec![
                "--model-repo".to_string(),
                endpoint,
                "--model-store".into(),
                "/model-store".into(),
            ]);
            (vec![env("NIM_CACHE_PATH", "/model-store")], store)
        } else {
            command = Some(vec!["download-to-cache".to_string()]);
            args = match &c.profiles {
                Profiles::Listed(ids) if ids.iter().any(|p| p == "all") => {
                    Some(vec!["--all".to_string()])
                }
                Profiles::Listed(ids) => Some(
                    std::iter::once("--profiles".to_string())
                        .chain(ids.iter().cloned())
                        .collect(),
                ),
                // Only `nimc status` renders a Job whose profiles are not known: its
                // arguments are then not compared with the live Job's.
                _ => None,
            };
            (vec![env("NIM_CACHE_PATH", "/model-store")], store)
        }
    };
    let mut env_vars = merge_env(&variant_env, &spec.env);
    if c.cache_type == CacheType::Native && source.is_optimized() {
        env_vars = merge_env(
            &env_vars,
            &[
                env("NIM_ENGINE_MODEL_DOWNLOAD_ONLY", "1"),
                env("NIM_ENGINE_MODEL_PATH", format!("/model/{}", c.name)),
            ],
        );
    }

    // Init containers see the env and mounts as they are before the proxy and CA are added.
    let puller = source.model_puller().to_string();
    let mut init = Vec::new();
    if cert.is_some() {
        let mut m = vec![
            mount("ca-cert-volume", "/ca-certs", ""),
            mount("custom-ca", "/custom", ""),
        ];
        m.extend(mounts.iter().cloned());
        init.push(Container {
            name: "update-ca-certificates".into(),
            image: Some(puller.clone()),
            command: Some(vec!["/bin/sh".into(), "-c".into(), CA_SCRIPT.into()]),
            security_context: Some(SecurityContext {
                run_as_user: Some(0),
                run_as_non_root: Some(false),
                ..Default::default()
            }),
            env: env_list(&env_vars),
            volume_mounts: Some(m),
            ..Default::default()
        });
    }
    for ic in &spec.init_containers {
        init.push(Container {
            name: ic.name.clone(),
            image: Some(ic.image.reference()),
            image_pull_policy: ic.image.pull_policy.clone().filter(|p| !p.is_empty()),
            command: some_vec(&ic.command),
            args: some_vec(ic.args.as_deref().unwrap_or_default()),
            env: env_list(&merge_env(&ic.env, &env_vars)),
            working_dir: ic.working_dir.clone().filter(|w| !w.is_empty()),
            volume_mounts: Some(mounts.clone()),
            ..Default::default()
        });
    }
    if let Some(p) = &spec.proxy {
        env_vars = merge_env(&env_vars, &proxy_env(p));
    }
    if cert.is_some() {
        mounts.push(mount("ca-cert-volume", "/etc/ssl", ""));
    }

    let zero = || Quantity("0".into());
    let q = |v: &Option<Quantity>| {
        v.as_ref()
            .map(|q| Quantity(quantity::canonical(&q.0)))
            .unwrap_or_else(zero)
    };
    let res = BTreeMap::from([
        ("cpu".to_string(), q(&spec.resources.cpu)),
        ("memory".to_string(), q(&spec.resources.memory)),
    ]);
    let auth = source.auth_secret();
    let container = Container {
        name: "nim-cache-ctr".into(),
        image: Some(puller),
        command,
        args,
        env: env_list(&env_vars),
        env_from: (!auth.is_empty()).then(|| {
            vec![EnvFromSource {
                secret_ref: Some(SecretEnvSource {
                    name: auth.to_string(),
                    optional: None,
                }),
                ..Default::default()
            }]
        }),
        resources: Some(ResourceRequirements {
            claims: None,
            limits: Some(res.clone()),
            requests: Some(res),
        }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities {
                add: None,
                drop: Some(vec!["ALL".into()]),
            }),
            run_as_non_root: Some(true),
            run_as_group: Some(gid),
            run_as_user: Some(uid),
            ..Default::default()
        }),
        termination_message_path: termination.then(|| "/dev/termination-log".into()),
        termination_message_policy: termination.then(|| "FallbackToLogsOnError".into()),
        volume_mounts: Some(mounts),
        ..Default::default()
    };

    let mut volumes = vec![
        Volume {
            name: "nim-cache-volume".into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: c.claim_name.clone(),
                read_only: None,
            }),
            ..Default::default()
        },
        Volume {
            name: "scratch".into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Default::default()
        },
    ];
    if let Some(cm) = &cert {
        volumes.push(Volume {
            name: "ca-cert-volume".into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Default::default()
        });
        volumes.push(Volume {
            name: "custom-ca".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: cm.clone(),
                ..Default::default()
            }),
            ..Default::default()
        });
    }

    let mut security = PodSecurityContext {
        run_as_user: Some(uid),
        fs_group: Some(gid),
        run_as_non_root: Some(true),
        ..Default::default()
    };
    if facts.orchestrator == Orchestrator::TKGS {
        security.seccomp_profile = Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            localhost_profile: None,
        });
    }
    let mut annotations = Map::from([("sidecar.istio.io/inject".into(), "false".into())]);
    if facts.orchestrator == Orchestrator::OpenShift {
        let scc = if spec.proxy.is_some() {
            "anyuid"
        } else {
            "nonroot"
        };
        annotations.insert("openshift.io/scc".into(), scc.into());
    }
    let node_selector = spec.node_selector.clone().unwrap_or_else(|| {
        Map::from([(
            "feature.node.kubernetes.io/pci-10de.present".into(),
            "true".into(),
        )])
    });
    Job {
        metadata: ObjectMeta {
            name: Some(format!("{}-job", c.name)),
            namespace: Some(c.namespace.clone()),
            ..Default::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(5),
            ttl_seconds_after_finished: Some(600),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(Map::from([
                        ("app".into(), "k8s-nim-operator".into()),
                        ("app.kubernetes.io/name".into(), c.name.clone()),
                        managed_by(facts),
                    ])),
                    annotations: Some(annotations),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    runtime_class_name: spec.runtime_class_name.clone().filter(|r| !r.is_empty()),
                    security_context: Some(security),
                    restart_policy: Some("Never".into()),
                    service_account_name: Some(SERVICE_ACCOUNT.into()),
                    tolerations: some_vec(&super::workload::tolerations(&spec.tolerations)),
                    node_selector: (!node_selector.is_empty()).then_some(node_selector),
                    // Upstream always lists one secret; with no name it is an empty entry,
                    // which means the same as none.
                    image_pull_secrets: some_str(source.pull_secret())
                        .map(|name| vec![LocalObjectReference { name }]),
                    volumes: Some(volumes),
                    containers: vec![container],
                    init_containers: some_vec(&init),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    }
}
