//! CRD defaults. YAML from git has not been through the API server, so nimc applies the
//! `default:` values of NVIDIA's CRDs itself, with the API server's rule that a default is only
//! applied when the parent object is present. This is the only place these literals live.

use k8s_openapi::api::core::v1::{EnvVar, Probe};

use crate::api::{NimCacheSpec, NimServiceSpec};

pub const DEFAULT_PORT: i32 = 8000;
pub const DEFAULT_DEVICE_CLASS: &str = "gpu.nvidia.com";
pub const DEFAULT_DRIVER: &str = "gpu.nvidia.com";

/// Apply the NIMService CRD's defaults.
pub fn nim_service(spec: &mut NimServiceSpec) {
    spec.inference_platform
        .get_or_insert_with(|| "standalone".into());
    if let Some(svc) = spec.expose.service.as_mut() {
        svc.port.get_or_insert(DEFAULT_PORT);
    }
    if let Some(hpa) = spec.scale.hpa.as_mut() {
        hpa.min_replicas.get_or_insert(1);
    }
    if let Some(router) = spec.expose.router.as_mut() {
        if let Some(gw) = router.gateway.as_mut() {
            gw.http_routes_enabled.get_or_insert(true);
            gw.grpc_routes_enabled.get_or_insert(false);
            if let Some(b) = gw.backend_ref.as_mut() {
                b.group.get_or_insert_with(String::new);
                b.kind.get_or_insert_with(|| "Service".into());
                b.weight.get_or_insert(1);
            }
        }
        if let Some(epp) = router.epp_config.as_mut() {
            for p in epp.ports.iter_mut().flatten() {
                p.protocol.get_or_insert_with(|| "TCP".into());
            }
            for probe in [
                &mut epp.liveness_probe,
                &mut epp.readiness_probe,
                &mut epp.startup_probe,
            ]
            .into_iter()
            .flatten()
            {
                probe_defaults(probe);
            }
            env_defaults(&mut epp.container_spec.env);
        }
    }
    for d in &mut spec.dra_resources {
        if let Some(c) = d.claim_creation_spec.as_mut() {
            for dev in &mut c.devices {
                dev.count.get_or_insert(1);
                dev.device_class_name
                    .get_or_insert_with(|| DEFAULT_DEVICE_CLASS.into());
                dev.driver_name.get_or_insert_with(|| DEFAULT_DRIVER.into());
                for a in &mut dev.attribute_selectors {
                    a.op.get_or_insert_with(|| "Equal".into());
                }
                for c in &mut dev.capacity_selectors {
                    c.op.get_or_insert_with(|| "Equal".into());
                }
            }
        }
    }
    if let Some(mn) = spec.multi_node.as_mut() {
        mn.backend_type.get_or_insert_with(|| "lws".into());
        if let Some(mpi) = mn.mpi.as_mut() {
            mpi.mpi_start_timeout.get_or_insert(300);
        }
        if let Some(ray) = mn.ray.as_mut() {
            ray.ray_port.get_or_insert(6379);
        }
    }
    for probe in [
        &mut spec.liveness_probe.probe,
        &mut spec.readiness_probe.probe,
        &mut spec.startup_probe.probe,
    ]
    .into_iter()
    .flatten()
    {
        probe_defaults(probe);
    }
    env_defaults(&mut spec.env);
    for c in spec
        .init_containers
        .iter_mut()
        .chain(spec.sidecar_containers.iter_mut())
    {
        env_defaults(&mut c.env);
    }
}

/// Apply the NIMCache CRD's defaults.
pub fn nim_cache(spec: &mut NimCacheSpec) {
    if let Some(ds) = spec.source.data_store.as_mut() {
        ds.namespace.get_or_insert_with(|| "default".into());
    }
    env_defaults(&mut spec.env);
    for c in &mut spec.init_containers {
        env_defaults(&mut c.env);
    }
}

fn probe_defaults(probe: &mut Probe) {
    if let Some(g) = probe.grpc.as_mut() {
        g.service.get_or_insert_with(String::new);
    }
}

fn env_defaults(env: &mut [EnvVar]) {
    for e in env {
        if let Some(f) = e.value_from.as_mut()
            && let Some(k) = f.file_key_ref.as_mut()
        {
            k.optional.get_or_insert(false);
        }
    }
}
