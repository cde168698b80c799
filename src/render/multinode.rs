//! Multi-node NIMServices (pipeline parallelism above 1): the LeaderWorkerSet that replaces the
//! Deployment, the MPI ConfigMaps (hostfile, start script), and the NVLink ComputeDomain.
//!
//! The operator also generates a random SSH key Secret. A GitOps repository must not carry
//! private keys, so nimc never renders it: the pods mount a Secret the user supplies (named
//! `<name>-ssh-pk`, key `private.key`, or as the `nimc/mpi-ssh-secret` annotation says).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar,
    EnvVarSource, ExecAction, ObjectFieldSelector, PodSpec, Probe, SecretVolumeSource, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Value, json};

use super::crd::{ComputeDomain, LeaderWorkerSet};
use super::meta::{Map, env, env_list, merge_env, non_empty, object_meta};
use super::network::api_port;
use super::workload::{base_env, mount, pod_labels, pod_spec};
use crate::facts::Facts;
use crate::model::{MultiNode, Service};

/// The start script the MPI leader runs, byte for byte as upstream (with the trailing newline
/// its block scalar adds).
const START_SCRIPT: &str = "#!/bin/bash
NIM_JSONL_LOGGING=\"${NIM_JSONL_LOGGING:-0}\"
if [ \"${NIM_JSONL_LOGGING}\" -eq \"1\" ] && /opt/nim/llm/.venv/bin/python3 -c \"import nim_llm_sdk.logging.pack_all_logs_into_json\" 2> /dev/null; then
  /opt/nim/llm/.venv/bin/python3 -m nim_llm_sdk.entrypoints.openai.api_server |& /opt/nim/llm/.venv/bin/python3 -m nim_llm_sdk.logging.pack_all_logs_into_json
else
  /opt/nim/llm/.venv/bin/python3 -m nim_llm_sdk.entrypoints.openai.api_server
fi
";

/// The LeaderWorkerSet's name.
pub fn lws_name(s: &Service) -> String {
    format!("{}-lws", s.name)
}

/// The Service selector of a multi-node service: the leader pod.
pub fn leader_selector(s: &Service) -> Map {
    Map::from([
        ("app".into(), lws_name(s)),
        ("nim-llm-role".into(), "leader".into()),
    ])
}

fn field_env(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: None,
                field_path: path.into(),
            }),
            ..Default::default()
        }),
    }
}

/// The env shared by leader, worker, init and sidecar containers: the base env, then the
/// multi-node variables it does not set.
fn common_env(s: &Service, m: &MultiNode) -> Vec<EnvVar> {
    merge_env(
        &[
            env("NIM_MPI_ALLOW_RUN_AS_ROOT", "0"),
            env("NIM_NUM_COMPUTE_NODES", m.pipeline.to_string()),
            env("NIM_MULTI_NODE", "1"),
            env("NIM_TENSOR_PARALLEL_SIZE", m.tensor.to_string()),
            env("NIM_PIPELINE_PARALLEL_SIZE", m.pipeline.to_string()),
            field_env(
                "NIM_NODE_RANK",
                "metadata.labels['leaderworkerset.sigs.k8s.io/worker-index']",
            ),
        ],
        &base_env(s),
    )
}

fn role_env(s: &Service, m: &MultiNode, leader: bool) -> Vec<EnvVar> {
    let role = if leader {
        vec![
            env("NIM_LEADER_ROLE", "1"),
            env("OMPI_MCA_orte_keep_fqdn_hostnames", "true"),
            env("OMPI_MCA_plm_rsh_args", "-o ConnectionAttempts=20"),
            env("GPUS_PER_NODE", m.tensor.to_string()),
            env("CLUSTER_START_TIMEOUT", m.mpi_start_timeout.to_string()),
            field_env(
                "CLUSTER_SIZE",
                "metadata.annotations['leaderworkerset.sigs.k8s.io/size']",
            ),
            field_env(
                "GROUP_INDEX",
                "metadata.labels['leaderworkerset.sigs.k8s.io/group-index']",
            ),
        ]
    } else {
        vec![
            env("NIM_LEADER_ROLE", "0"),
            field_env(
                "LEADER_NAME",
                "metadata.annotations['leaderworkerset.sigs.k8s.io/leader-name']",
            ),
            field_env("NAMESPACE", "metadata.namespace"),
            field_env(
                "LWS_NAME",
                "metadata.labels['leaderworkerset.sigs.k8s.io/name']",
            ),
        ]
    };
    let mut e = merge_env(&role, &common_env(s, m));
    if s.cache.as_ref().is_some_and(|c| c.universal) {
        e = merge_env(&[env("NIM_MODEL_NAME", "/model-store")], &e);
    }
    if let Some(c) = s.cache.as_ref().filter(|c| !c.profile.is_empty()) {
        e = merge_env(&[env("NIM_MODEL_PROFILE", c.profile.clone())], &e);
    }
    e
}

fn empty_dir(name: &str) -> Volume {
    Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Default::default()
    }
}

fn config_map_volume(name: &str, config_map: String) -> Volume {
    Volume {
        name: name.into(),
        config_map: Some(ConfigMapVolumeSource {
            name: config_map,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The MPI volumes and mounts a leader or worker adds to the base ones.
fn mpi_parts(s: &Service, m: &MultiNode, leader: bool) -> (Vec<Volume>, Vec<VolumeMount>) {
    let ssh_pk = Volume {
        name: "ssh-pk".into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(m.ssh_secret.clone()),
            default_mode: Some(256),
            ..Default::default()
        }),
        ..Default::default()
    };
    let script = config_map_volume("start-mpi-script", format!("{}-mpi-start-script", s.name));
    let script_mount = mount(
        "start-mpi-script",
        "/opt/nim/start-mpi-cluster.sh",
        "start-mpi-cluster.sh",
    );
    if leader {
        (
            vec![
                config_map_volume("mpi-config", format!("{}-mpi-config", s.name)),
                empty_dir("ssh-dotfiles"),
                ssh_pk,
                script,
            ],
            vec![
                mount("mpi-config", "/etc/mpi", ""),
                mount("ssh-dotfiles", "/opt/nim/llm/.ssh", ""),
                mount("ssh-pk", "/opt/nim/llm/pk", ""),
                script_mount,
            ],
        )
    } else {
        (
            vec![
                empty_dir("ssh-confs"),
                empty_dir("ssh-dotfiles"),
                ssh_pk,
                script,
            ],
            vec![
                mount("ssh-confs", "/ssh-confs", ""),
                mount("ssh-dotfiles", "/opt/nim/llm/.ssh", ""),
                mount("ssh-pk", "/opt/nim/llm/pk", ""),
                script_mount,
            ],
        )
    }
}

/// A leader or worker pod: the single-node pod with the LeaderWorkerSet's changes.
fn pod(s: &Service, m: &MultiNode, facts: &Facts, leader: bool) -> PodSpec {
    let common = common_env(s, m);
    let mut pod = pod_spec(s, facts, Some(&common));
    // Not rendered by the LeaderWorkerSet template.
    pod.service_account_name = None;
    pod.runtime_class_name = None;
    pod.affinity = None;
    if !leader {
        pod.scheduler_name = None;
    }
    let (extra_volumes, extra_mounts) = if m.ray_port.is_some() {
        (Vec::new(), Vec::new())
    } else {
        mpi_parts(s, m, leader)
    };
    pod.volumes
        .get_or_insert_with(Vec::new)
        .extend(extra_volumes);
    let mut ports = vec![ContainerPort {
        name: Some("api".into()),
        container_port: api_port(s),
        protocol: Some("TCP".into()),
        ..Default::default()
    }];
    if let Some(port) = m.ray_port {
        ports.push(ContainerPort {
            name: Some("ray".into()),
            container_port: port,
            protocol: Some("TCP".into()),
            ..Default::default()
        });
    }
    let mut mounts: Vec<VolumeMount> = Vec::new();
    if let Some(main) = pod.containers.first_mut() {
        let mut base_mounts = main.volume_mounts.take().unwrap_or_default();
        base_mounts.extend(extra_mounts);
        mounts = base_mounts.clone();
        *main = Container {
            name: if leader { "nim-leader" } else { "nim-worker" }.into(),
            image: main.image.take(),
            args: m.ray_port.map(|port| {
                if leader {
                    vec![
                        "nim-serve-ray".into(),
                        "--head".into(),
                        "--port".into(),
                        port.to_string(),
                    ]
                } else {
                    vec![
                        "nim-serve-ray".into(),
                        "--head-address".into(),
                        format!("$(LWS_LEADER_ADDRESS):{port}"),
                    ]
                }
            }),
            env: env_list(&role_env(s, m, leader)),
            ports: Some(ports),
            resources: main.resources.take(),
            liveness_probe: if leader {
                main.liveness_probe.take()
            } else {
                None
            },
            readiness_probe: if leader {
                main.readiness_probe.take()
            } else {
                None
            },
            startup_probe: if leader {
                main.startup_probe.take()
            } else {
                m.ray_port.map(|_| Probe {
                    exec: Some(ExecAction {
                        command: Some(vec!["/bin/sh".into(), "-c".into(), "ray status".into()]),
                    }),
                    initial_delay_seconds: Some(30),
                    timeout_seconds: Some(5),
                    period_seconds: Some(10),
                    failure_threshold: Some(3),
                    ..Default::default()
                })
            },
            volume_mounts: Some(base_mounts),
            ..Default::default()
        };
    }
    for sidecar in pod.containers.iter_mut().skip(1) {
        sidecar.volume_mounts = Some(mounts.clone());
    }
    pod
}

pub fn leader_worker_set(s: &Service, m: &MultiNode, facts: &Facts) -> LeaderWorkerSet {
    let leader_meta = ObjectMeta {
        labels: Some(pod_labels_leader(s)),
        annotations: non_empty(s.annotations.clone()),
        ..Default::default()
    };
    let worker_meta = ObjectMeta {
        annotations: non_empty(s.annotations.clone()),
        ..Default::default()
    };
    let template = |meta: ObjectMeta, pod: PodSpec| json!({ "metadata": meta, "spec": pod });
    let mut spec = serde_json::Map::new();
    if let Some(r) = s.spec.replicas {
        spec.insert("replicas".into(), json!(r));
    }
    spec.insert(
        "leaderWorkerTemplate".into(),
        json!({
            "size": m.pipeline,
            "restartPolicy": "RecreateGroupOnPodRestart",
            "leaderTemplate": template(leader_meta, pod(s, m, facts, true)),
            "workerTemplate": template(worker_meta, pod(s, m, facts, false)),
        }),
    );
    spec.insert(
        "networkConfig".into(),
        json!({ "subdomainPolicy": "Shared" }),
    );
    spec.insert(
        "rolloutStrategy".into(),
        json!({
            "type": "RollingUpdate",
            "rollingUpdateConfiguration": { "maxSurge": 0, "maxUnavailable": 1 },
        }),
    );
    spec.insert("startupPolicy".into(), json!("LeaderCreated"));
    LeaderWorkerSet {
        api_version: "leaderworkerset.x-k8s.io/v1",
        kind: "LeaderWorkerSet",
        metadata: object_meta(
            lws_name(s),
            &s.namespace,
            s.labels.clone(),
            s.annotations.clone(),
        ),
        spec: Value::Object(spec),
    }
}

/// Leader pod labels: `app: <name>-lws`, `nim-llm-role: leader`, then ServiceLabels.
fn pod_labels_leader(s: &Service) -> Map {
    let mut labels = pod_labels(&lws_name(s), &s.labels);
    labels
        .entry("nim-llm-role".into())
        .or_insert_with(|| "leader".into());
    labels
}

/// The MPI hostfile and start-script ConfigMaps (MPI mode only). They carry the NIMService
/// resource's own annotations, as upstream.
pub fn mpi_config_maps(s: &Service, m: &MultiNode) -> Vec<ConfigMap> {
    if m.ray_port.is_some() {
        return Vec::new();
    }
    let meta = |name: String| {
        object_meta(
            name,
            &s.namespace,
            s.labels.clone(),
            s.object_annotations.clone(),
        )
    };
    let mut out = Vec::new();
    if let Some(replicas) = s.spec.replicas {
        let lws = lws_name(s);
        let data: BTreeMap<String, String> = (0..replicas.max(0))
            .map(|i| {
                let mut hostfile = format!("localhost slots={}\n", m.tensor);
                for j in 1..m.pipeline {
                    hostfile.push_str(&format!(
                        "{lws}-{i}-{j}.{lws}.{}.svc slots={}\n",
                        s.namespace, m.tensor
                    ));
                }
                (format!("hostfile-{i}"), hostfile)
            })
            .collect();
        out.push(ConfigMap {
            metadata: meta(format!("{}-mpi-config", s.name)),
            data: non_empty(data),
            ..Default::default()
        });
    }
    out.push(ConfigMap {
        metadata: meta(format!("{}-mpi-start-script", s.name)),
        data: Some(BTreeMap::from([(
            "start-mpi-cluster.sh".to_string(),
            START_SCRIPT.to_string(),
        )])),
        ..Default::default()
    });
    out
}

/// The ComputeDomain nimc creates (`computeDomain.create: true`).
pub fn compute_domain(s: &Service, m: &MultiNode) -> Option<ComputeDomain> {
    let cd = m.compute_domain.as_ref().filter(|cd| cd.create)?;
    Some(ComputeDomain {
        api_version: "resource.nvidia.com/v1beta1",
        kind: "ComputeDomain",
        metadata: object_meta(
            &s.name,
            &s.namespace,
            s.labels.clone(),
            s.annotations.clone(),
        ),
        spec: json!({
            "numNodes": m.pipeline,
            "channel": {
                "resourceClaimTemplate": { "name": cd.template },
                "allocationMode": "Single",
            },
        }),
    })
}
