//! The NIMService Deployment: pod template, main container, init and sidecar containers, probes,
//! volumes and mounts, and the env list in the operator's exact order and precedence.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, HTTPGetAction,
    HostPathVolumeSource, LocalObjectReference, PersistentVolumeClaimVolumeSource,
    PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile,
    SecurityContext, Toleration, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::dra;
use super::meta::{
    Map, env, env_list, merge_env, non_empty, object_meta, remove_env, secret_env, some_str,
    some_vec,
};
use super::network::{api_port, grpc_port, metrics_port, named_ports};
use crate::api::{NimContainerSpec, ProbeSpec};
use crate::facts::{Facts, Orchestrator};
use crate::model::{NgcApiKey, Service, Store};
use crate::quantity;

/// The script of the `update-ca-certificates` init container, byte for byte as upstream.
pub const CA_SCRIPT: &str = "echo 'Copying CA certs from Config Map'; ls -l /custom; cp /custom/*.crt /usr/local/share/ca-certificates/; for f in /custom/*.pem; do cp \"$f\" \"/usr/local/share/ca-certificates/$(basename \"${f%.pem}\")-pem.crt\"; done;ls -l  /usr/local/share/ca-certificates/;echo 'Updating CA certs'; update-ca-certificates; echo 'CA certs updated'; cp -r /etc/ssl/certs/ /ca-certs;echo 'Exiting update-ca-certificates init container'";

pub fn deployment(s: &Service, facts: &Facts) -> Deployment {
    let spec = &s.spec;
    let labels = s.labels.clone();
    let annotations = s.annotations.clone();
    let replicas = if spec.scale.enabled == Some(true) {
        spec.scale.hpa.as_ref().and_then(|h| h.min_replicas)
    } else {
        spec.replicas
    };
    Deployment {
        metadata: object_meta(&s.name, &s.namespace, labels.clone(), annotations.clone()),
        spec: Some(deployment_spec(
            &s.name,
            replicas,
            ObjectMeta {
                labels: Some(pod_labels(&s.name, &labels)),
                annotations: non_empty(annotations),
                ..Default::default()
            },
            pod_spec(s, facts, None),
        )),
        status: None,
    }
}

/// The pod labels of a workload: `app: <app>` first, then the given labels (which cannot
/// replace it).
pub fn pod_labels(app: &str, labels: &Map) -> Map {
    let mut out = Map::from([("app".into(), app.to_string())]);
    for (k, v) in labels {
        out.entry(k.clone()).or_insert_with(|| v.clone());
    }
    out
}

/// A Deployment spec as the operator's template writes it: selector `app: <app>`, a rolling
/// update with 25% unavailable and no surge.
pub fn deployment_spec(
    app: &str,
    replicas: Option<i32>,
    pod_metadata: ObjectMeta,
    pod: PodSpec,
) -> DeploymentSpec {
    DeploymentSpec {
        replicas,
        selector: LabelSelector {
            match_labels: Some(BTreeMap::from([("app".into(), app.to_string())])),
            match_expressions: None,
        },
        strategy: Some(DeploymentStrategy {
            type_: Some("RollingUpdate".into()),
            rolling_update: Some(RollingUpdateDeployment {
                max_unavailable: Some(IntOrString::String("25%".into())),
                max_surge: Some(IntOrString::Int(0)),
            }),
        }),
        template: PodTemplateSpec {
            metadata: Some(pod_metadata),
            spec: Some(pod),
        },
        ..Default::default()
    }
}

/// The pod of a single-node NIMService. The main container's env starts from the base env;
/// init and sidecar containers merge their own env over `aux_env` (the base env for a
/// Deployment; KServe passes the multi-node env, as upstream does).
pub fn pod_spec(s: &Service, facts: &Facts, aux_env: Option<&[EnvVar]>) -> PodSpec {
    let spec = &s.spec;
    let mounts = main_mounts(s);
    let claims = dra::container_claims(s);
    let base = base_env(s);
    let aux = aux_env.unwrap_or(&base);
    let main = main_container(s, mounts.clone(), &base);
    let mut containers = vec![main];
    for sc in &spec.sidecar_containers {
        let c = Container {
            name: sc.name.clone(),
            image: Some(sc.image.reference()),
            image_pull_policy: pull_policy(sc, s),
            command: some_vec(&sc.command),
            args: some_vec(sc.args.as_deref().unwrap_or_default()),
            working_dir: sc.working_dir.clone().filter(|w| !w.is_empty()),
            env: env_list(&merge_env(aux, &sc.env)),
            volume_mounts: some_vec(&mounts),
            ..Default::default()
        };
        containers.push(c);
    }
    add_claims(&mut containers, &claims);
    let pod_claims = dra::pod_claims(s);
    let mut security = PodSecurityContext {
        run_as_user: Some(spec.user_id.unwrap_or(1000)),
        run_as_group: Some(spec.group_id.unwrap_or(2000)),
        fs_group: Some(spec.group_id.unwrap_or(2000)),
        ..Default::default()
    };
    if facts.orchestrator == Orchestrator::TKGS {
        security.seccomp_profile = Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            localhost_profile: None,
        });
    }
    PodSpec {
        scheduler_name: spec.scheduler_name.clone().filter(|x| !x.is_empty()),
        priority_class_name: spec.priority_class_name.clone().filter(|x| !x.is_empty()),
        affinity: spec.affinity.clone(),
        service_account_name: Some(s.name.clone()),
        runtime_class_name: spec.runtime_class_name.clone().filter(|x| !x.is_empty()),
        init_containers: some_vec(&init_containers(s, aux)),
        containers,
        resource_claims: some_vec(&pod_claims),
        volumes: Some(volumes(s)),
        node_selector: non_empty(spec.node_selector.clone()),
        tolerations: some_vec(&tolerations(&spec.tolerations)),
        image_pull_secrets: some_vec(
            &spec
                .image
                .pull_secrets
                .iter()
                .map(|n| LocalObjectReference { name: n.clone() })
                .collect::<Vec<_>>(),
        ),
        security_context: Some(security),
        ..Default::default()
    }
}

/// Tolerations keep `key`, `operator`, `value`, `effect` and (unlike upstream, which drops it)
/// `tolerationSeconds`; empty strings are left out.
/// Tolerations as the operator's typed objects print them: empty strings left out (Go's
/// `omitempty`).
pub fn tolerations(t: &[Toleration]) -> Vec<Toleration> {
    t.iter()
        .map(|t| Toleration {
            key: t.key.clone().filter(|x| !x.is_empty()),
            operator: t.operator.clone().filter(|x| !x.is_empty()),
            value: t.value.clone().filter(|x| !x.is_empty()),
            effect: t.effect.clone().filter(|x| !x.is_empty()),
            toleration_seconds: t.toleration_seconds,
        })
        .collect()
}

fn pull_policy(c: &NimContainerSpec, s: &Service) -> Option<String> {
    c.image
        .pull_policy
        .clone()
        .filter(|p| !p.is_empty())
        .or_else(|| s.spec.image.pull_policy.clone().filter(|p| !p.is_empty()))
}

/// The DRA claims of the pod, added to every container as the operator does it: a claim that
/// some container already references (through `spec.resources.claims`) is left alone, every
/// other is added with one entry per request.
fn add_claims(containers: &mut [Container], claims: &[k8s_openapi::api::core::v1::ResourceClaim]) {
    let referenced: std::collections::BTreeSet<String> = containers
        .iter()
        .flat_map(|c| c.resources.iter().flat_map(|r| r.claims.iter().flatten()))
        .map(|c| c.name.clone())
        .collect();
    let added: Vec<_> = claims
        .iter()
        .filter(|c| !referenced.contains(&c.name))
        .collect();
    if added.is_empty() {
        return;
    }
    for c in containers {
        let r = c.resources.get_or_insert_with(Default::default);
        r.claims
            .get_or_insert_with(Vec::new)
            .extend(added.iter().map(|&c| c.clone()));
    }
}

fn has_cert(s: &Service) -> bool {
    s.spec
        .proxy
        .as_ref()
        .is_some_and(|p| !p.cert_config_map.is_empty())
}

/// Upstream adds the scratch volume when there are more init containers than the CA one it
/// counts, or any sidecar.
fn needs_scratch(s: &Service) -> bool {
    let ca = usize::from(has_cert(s));
    s.spec.init_containers.len() > ca || !s.spec.sidecar_containers.is_empty()
}

/// A volume mount with only name, path and (when set) subPath, as the operator's loops write.
pub fn mount(name: &str, path: &str, sub_path: &str) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        sub_path: some_str(sub_path),
        ..Default::default()
    }
}

fn sub_path(s: &Service) -> &str {
    match &s.store {
        Store::Pvc { sub_path, .. } => sub_path,
        _ => "",
    }
}

fn model_store_mounts(s: &Service) -> Vec<VolumeMount> {
    let sp = sub_path(s);
    if s.native {
        vec![
            mount("model-store", "/model", sp),
            mount("model-store", "/opt/cache", sp),
        ]
    } else {
        vec![mount("model-store", "/model-store", sp)]
    }
}

fn main_mounts(s: &Service) -> Vec<VolumeMount> {
    let mut m = model_store_mounts(s);
    m.push(mount("dshm", "/dev/shm", ""));
    if needs_scratch(s) {
        m.push(mount("scratch", "/scratch", ""));
    }
    if has_cert(s) {
        m.push(mount("ca-cert-volume", "/etc/ssl", ""));
    }
    m
}

fn volumes(s: &Service) -> Vec<Volume> {
    let spec = &s.spec;
    let empty_dir = |medium: Option<&str>, size: Option<String>| Volume {
        empty_dir: Some(EmptyDirVolumeSource {
            medium: medium.map(str::to_string),
            size_limit: size.map(Quantity),
        }),
        ..Default::default()
    };
    let mut v = vec![Volume {
        name: "dshm".into(),
        ..empty_dir(
            Some("Memory"),
            spec.storage
                .shared_memory_size_limit
                .as_ref()
                .map(|q| quantity::canonical(&q.0)),
        )
    }];
    if needs_scratch(s) {
        v.push(Volume {
            name: "scratch".into(),
            ..empty_dir(None, None)
        });
    }
    let model_store = match &s.store {
        Store::Pvc { claim_name, .. } => Volume {
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim_name.clone(),
                read_only: spec.storage.read_only.filter(|r| *r),
            }),
            ..Default::default()
        },
        Store::EmptyDir { size_limit } => empty_dir(None, size_limit.clone()),
        Store::HostPath(path) => Volume {
            host_path: Some(HostPathVolumeSource {
                path: path.clone(),
                type_: Some("DirectoryOrCreate".into()),
            }),
            ..Default::default()
        },
    };
    v.push(Volume {
        name: "model-store".into(),
        ..model_store
    });
    if let Some(p) = spec
        .proxy
        .as_ref()
        .filter(|p| !p.cert_config_map.is_empty())
    {
        v.push(Volume {
            name: "ca-cert-volume".into(),
            ..empty_dir(None, None)
        });
        v.push(Volume {
            name: "custom-ca".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: p.cert_config_map.clone(),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    v
}

/// The standard env of every NIMService container.
fn standard_env(s: &Service) -> Vec<EnvVar> {
    let port = api_port(s).to_string();
    let mut e = vec![
        env("NIM_CACHE_PATH", "/model-store"),
        env("OUTLINES_CACHE_DIR", "/tmp/outlines"),
        env("NIM_SERVER_PORT", port.clone()),
        env("NIM_HTTP_API_PORT", port),
        env("NIM_JSONL_LOGGING", "1"),
        env("NIM_LOG_LEVEL", "INFO"),
    ];
    let key = || secret_env("NGC_API_KEY", &s.spec.auth_secret, "NGC_API_KEY", None);
    match s.ngc_api_key {
        NgcApiKey::Absent => {}
        NgcApiKey::Second => e.insert(1, key()),
        NgcApiKey::AfterLogLevel => e.push(key()),
    }
    if let Some(g) = grpc_port(s) {
        e.push(env("NIM_GRPC_API_PORT", g.to_string()));
        e.push(env("NIM_TRITON_GRPC_PORT", g.to_string()));
    }
    if let Some(m) = metrics_port(s) {
        e.push(env("NIM_TRITON_METRICS_PORT", m.to_string()));
    }
    e
}

/// The proxy env, all seven always emitted (an empty value stays an empty value).
pub fn proxy_env(p: &crate::api::ProxySpec) -> Vec<EnvVar> {
    vec![
        env("NIM_SDK_USE_NATIVE_TLS", "1"),
        env("HTTPS_PROXY", p.https_proxy.clone()),
        env("HTTP_PROXY", p.http_proxy.clone()),
        env("NO_PROXY", p.no_proxy.clone()),
        env("https_proxy", p.https_proxy.clone()),
        env("http_proxy", p.http_proxy.clone()),
        env("no_proxy", p.no_proxy.clone()),
    ]
}

/// E2: the user's env over the standard env, then the proxy env over both. Init and sidecar
/// containers start from this too.
pub fn base_env(s: &Service) -> Vec<EnvVar> {
    let e1 = merge_env(&standard_env(s), &s.spec.env);
    match &s.spec.proxy {
        Some(p) => merge_env(&e1, &proxy_env(p)),
        None => e1,
    }
}

/// The main container's env: the base env plus the NIMCache-, layout- and profile-specific
/// entries, in the operator's order.
fn main_env(s: &Service, base: &[EnvVar]) -> Vec<EnvVar> {
    let mut e = base.to_vec();
    let cache = s.cache.as_ref();
    if let Some(c) = cache.filter(|c| c.universal && !s.native) {
        e = merge_env(
            &[
                env("NIM_MODEL_NAME", "/model-store"),
                env("HF_HOME", "/model-store/huggingface/hub"),
                env("NIM_MODEL_PATH", c.hf_uri.clone()),
            ],
            &e,
        );
    }
    let auth = &s.spec.auth_secret;
    if s.native {
        let path = match cache {
            Some(c) => format!("/model/{}", c.name),
            None => "/model".into(),
        };
        e = merge_env(&e, &[env("NIM_ENGINE_MODEL_PATH", path)]);
        remove_env(&mut e, "NGC_API_KEY");
        if !auth.is_empty() {
            e = merge_env(
                &e,
                &[
                    secret_env("NGC_API_KEY", auth, "NGC_API_KEY", Some(true)),
                    secret_env("HF_TOKEN", auth, "HF_TOKEN", Some(true)),
                ],
            );
        }
    }
    let hf_name = base
        .iter()
        .find(|v| v.name == "NIM_MODEL_NAME")
        .and_then(|v| v.value.as_deref())
        .is_some_and(|v| v.starts_with("hf://"));
    if cache.is_some_and(|c| c.hf_model) || hf_name {
        remove_env(&mut e, "NGC_API_KEY");
        if !auth.is_empty() {
            e = merge_env(
                &e,
                &[
                    secret_env("NGC_API_KEY", auth, "NGC_API_KEY", Some(true)),
                    secret_env("HF_TOKEN", auth, "HF_TOKEN", None),
                ],
            );
        }
    }
    if let Some(c) = cache.filter(|c| !c.profile.is_empty()) {
        e = merge_env(&[env("NIM_MODEL_PROFILE", c.profile.clone())], &e);
    }
    e
}

fn default_probe(path: &str, initial_delay: i32, failure_threshold: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("api".into()),
            ..Default::default()
        }),
        initial_delay_seconds: Some(initial_delay),
        timeout_seconds: Some(1),
        period_seconds: Some(10),
        success_threshold: Some(1),
        failure_threshold: Some(failure_threshold),
        ..Default::default()
    }
}

fn probe(p: &ProbeSpec, default: Probe) -> Option<Probe> {
    if p.enabled == Some(false) {
        return None;
    }
    Some(p.probe.clone().unwrap_or(default))
}

fn main_resources(s: &Service) -> Option<ResourceRequirements> {
    let mut requests: Option<BTreeMap<String, Quantity>> = None;
    let mut limits: Option<BTreeMap<String, Quantity>> = None;
    if let Some(r) = &s.spec.resources {
        let canon = |m: &BTreeMap<String, Quantity>| {
            m.iter()
                .map(|(k, v)| (k.clone(), Quantity(quantity::canonical(&v.0))))
                .collect::<BTreeMap<_, _>>()
        };
        requests = r.requests.as_ref().map(canon);
        limits = r.limits.as_ref().map(canon);
    }
    if let Some(g) = &s.gpus {
        for m in [&mut requests, &mut limits] {
            m.get_or_insert_with(BTreeMap::new)
                .insert("nvidia.com/gpu".into(), Quantity(g.clone()));
        }
    }
    let requests = requests.filter(|m| !m.is_empty());
    let limits = limits.filter(|m| !m.is_empty());
    if requests.is_none() && limits.is_none() {
        return None;
    }
    Some(ResourceRequirements {
        claims: None,
        limits,
        requests,
    })
}

/// The named container ports: api, then grpc and metrics when set (all TCP).
pub fn container_ports(s: &Service) -> Vec<ContainerPort> {
    named_ports(s)
        .into_iter()
        .map(|(name, port)| ContainerPort {
            name: Some(name.into()),
            container_port: port,
            protocol: Some("TCP".into()),
            ..Default::default()
        })
        .collect()
}

fn main_container(s: &Service, mounts: Vec<VolumeMount>, base: &[EnvVar]) -> Container {
    let spec = &s.spec;
    Container {
        name: format!("{}-ctr", s.name),
        image: Some(spec.image.reference()),
        image_pull_policy: spec.image.pull_policy.clone().filter(|p| !p.is_empty()),
        command: some_vec(&spec.command),
        args: some_vec(&spec.args),
        ports: Some(container_ports(s)),
        resources: main_resources(s),
        liveness_probe: probe(
            &spec.liveness_probe,
            default_probe("/v1/health/live", 15, 3),
        ),
        readiness_probe: probe(
            &spec.readiness_probe,
            default_probe("/v1/health/ready", 15, 3),
        ),
        startup_probe: probe(
            &spec.startup_probe,
            default_probe("/v1/health/ready", 30, 120),
        ),
        volume_mounts: Some(mounts),
        env: env_list(&main_env(s, base)),
        ..Default::default()
    }
}

fn init_containers(s: &Service, base: &[EnvVar]) -> Vec<Container> {
    let spec = &s.spec;
    let mut mounts = model_store_mounts(s);
    if needs_scratch(s) {
        mounts.push(mount("scratch", "/scratch", ""));
    }
    if has_cert(s) {
        mounts.push(mount("ca-cert-volume", "/ca-certs", ""));
        mounts.push(mount("custom-ca", "/custom", ""));
    }
    let mut out = Vec::new();
    if has_cert(s) {
        out.push(Container {
            name: "update-ca-certificates".into(),
            image: Some(spec.image.reference()),
            image_pull_policy: spec.image.pull_policy.clone().filter(|p| !p.is_empty()),
            command: Some(vec!["/bin/sh".into(), "-c".into(), CA_SCRIPT.into()]),
            security_context: Some(SecurityContext {
                run_as_user: Some(0),
                run_as_non_root: Some(false),
                ..Default::default()
            }),
            env: env_list(base),
            volume_mounts: Some(mounts.clone()),
            ..Default::default()
        });
    }
    for ic in &spec.init_containers {
        out.push(Container {
            name: ic.name.clone(),
            image: Some(ic.image.reference()),
            image_pull_policy: pull_policy(ic, s),
            command: some_vec(&ic.command),
            args: some_vec(ic.args.as_deref().unwrap_or_default()),
            working_dir: ic.working_dir.clone().filter(|w| !w.is_empty()),
            env: env_list(&merge_env(base, &ic.env)),
            volume_mounts: Some(mounts.clone()),
            ..Default::default()
        });
    }
    out
}
