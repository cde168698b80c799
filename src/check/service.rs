//! NIMService rules: images, labels, storage, quantities, router and endpoint picker, autoscaling
//! and metrics, DRA, and the KServe and multi-node variants.

use k8s_openapi::api::autoscaling::v2::{MetricSpec, MetricTarget};
use k8s_openapi::api::core::v1::ResourceRequirements;

use super::valid_access_mode;
use crate::api::NimService;
use crate::diagnostic::Diagnostic;
use crate::facts::Facts;
use crate::load::{Cr, Input};
use crate::quantity;

pub(super) fn check(
    input: &Input,
    cr: &Cr<NimService>,
    facts: &Facts,
    diags: &mut Vec<Diagnostic>,
) {
    let o = cr.origin;
    let spec = &cr.object.spec;
    let name = cr.object.name();
    let mut d = |ptr: &str, code: &'static str, msg: String, help: &str| {
        diags.push(input.diag(code, o, ptr, msg).help(help));
    };
    for (field, value) in [
        ("repository", &spec.image.repository),
        ("tag", &spec.image.tag),
    ] {
        if value.is_empty() {
            d(
                &format!("/spec/image/{field}"),
                "NIMC006",
                format!("NIMService {name}: spec.image.{field} is required"),
                "set spec.image.repository and spec.image.tag",
            );
        }
    }
    if spec.auth_secret.is_empty() {
        let operator = facts.operator_version.behaviour();
        if !operator.auth_secret_required {
            d(
                "/spec/authSecret",
                "NIMC027",
                format!(
                    "NIMService {name}: spec.authSecret is empty, so NGC_API_KEY is not injected"
                ),
                "omit authSecret only for air-gapped deployments with a pre-populated model cache",
            );
        } else if input
            .json(o, "/spec/authSecret")
            .is_none_or(|v| v.is_null())
        {
            // The CRD of that release lists authSecret as required: the API server refuses.
            d(
                "/spec",
                "NIMC026",
                format!(
                    "NIMService {name}: spec.authSecret is required by the NIMService CRD of NIM Operator {}",
                    operator.name
                ),
                "set spec.authSecret to the Secret holding NGC_API_KEY (optional only since PR #910, operatorVersion main-f63f74d7)",
            );
        } else {
            d(
                "/spec/authSecret",
                "NIMC037",
                format!(
                    "NIMService {name}: spec.authSecret must not be empty under NIM Operator {} (its webhook: Required value: is required)",
                    operator.name
                ),
                "set spec.authSecret to the Secret holding NGC_API_KEY (optional only since PR #910, operatorVersion main-f63f74d7)",
            );
        }
    }
    if spec.labels.contains_key("app") {
        d(
            "/spec/labels/app",
            "NIMC008",
            format!("NIMService {name}: spec.labels.app replaces the pod selector label"),
            "the operator's Deployment would be rejected; use another label key",
        );
    }
    if spec.resources.as_ref().is_some_and(|r| r.claims.is_some()) {
        d(
            "/spec/resources/claims",
            "NIMC016",
            format!("NIMService {name}: spec.resources.claims must be empty"),
            "request DRA devices with spec.draResources; the operator fills the claims from them",
        );
    }
    let st = &spec.storage;
    let cache = st
        .nim_cache
        .as_ref()
        .is_some_and(|c| !c.name.is_empty() || !c.profile.is_empty());
    let pvc = st.pvc.as_ref().is_some_and(|p| p.is_set());
    let host = st.host_path.as_ref().is_some_and(|h| !h.is_empty());
    let sources = [cache, pvc, st.empty_dir.is_some(), host]
        .iter()
        .filter(|x| **x)
        .count();
    if sources != 1 {
        d(
            "/spec/storage",
            "NIMC007",
            format!(
                "NIMService {name}: storage needs exactly one of nimCache, pvc, emptyDir or hostPath ({sources} given)"
            ),
            "the operator's webhook rejects any other combination",
        );
    }
    if st
        .nim_cache
        .as_ref()
        .is_some_and(|c| c.name.is_empty() && !c.profile.is_empty())
    {
        d(
            "/spec/storage/nimCache",
            "NIMC007",
            format!("NIMService {name}: nimCache.profile needs nimCache.name"),
            "name the NIMCache the profile belongs to",
        );
    }
    if let Some(v) = &st.shared_memory_size_limit
        && quantity::parse_ok(&v.0)
        && !quantity::is_positive(&v.0)
    {
        d(
            "/spec/storage/sharedMemorySizeLimit",
            "NIMC007",
            format!(
                "NIMService {name}: sharedMemorySizeLimit `{}` must be > 0",
                v.0
            ),
            "give the /dev/shm volume a positive size such as 8Gi, or leave it out",
        );
    }
    if let Some(mode) = st
        .pvc
        .as_ref()
        .and_then(|p| p.volume_access_mode.as_deref())
        && pvc
        && !valid_access_mode(Some(mode))
    {
        d(
            "/spec/storage/pvc/volumeAccessMode",
            "NIMC007",
            format!("NIMService {name}: unrecognized volumeAccessMode `{mode}`"),
            "one of ReadWriteOnce, ReadOnlyMany, ReadWriteMany, ReadWriteOncePod",
        );
    }
    if let Some(p) = st.pvc.as_ref().filter(|_| !cache) {
        if p.creates() {
            if p.size.as_deref().is_none_or(|s| !quantity::parse_ok(s)) {
                d(
                    "/spec/storage/pvc/size",
                    "NIMC007",
                    format!("NIMService {name}: a PVC to create needs a valid size"),
                    "set storage.pvc.size, e.g. 50Gi",
                );
            }
            if p.volume_access_mode.is_none() {
                d(
                    "/spec/storage/pvc",
                    "NIMC007",
                    format!("NIMService {name}: a PVC to create needs a volumeAccessMode"),
                    "one of ReadWriteOnce, ReadOnlyMany, ReadWriteMany, ReadWriteOncePod",
                );
            }
        } else if p.name.as_deref().unwrap_or_default().is_empty() && pvc {
            d(
                "/spec/storage/pvc",
                "NIMC007",
                format!("NIMService {name}: storage.pvc needs a name unless create is true"),
                "name an existing PVC, or set create: true with a size",
            );
        }
    }
    let mut q = |ptr: String, v: &str| {
        if !quantity::parse_ok(v) {
            diags.push(
                input
                    .diag("NIMC011", o, &ptr, format!("`{v}` is not a valid quantity"))
                    .help("use a Kubernetes quantity such as 500m, 2, 16Gi"),
            );
        }
    };
    if let Some(v) = &st.shared_memory_size_limit {
        q("/spec/storage/sharedMemorySizeLimit".into(), &v.0);
    }
    if let Some(v) = st.empty_dir.as_ref().and_then(|e| e.size_limit.as_ref()) {
        q("/spec/storage/emptyDir/sizeLimit".into(), &v.0);
    }
    resources(spec.resources.as_ref(), "/spec/resources", &mut q);
    if let Some(hpa) = &spec.scale.hpa {
        if let Some(b) = &hpa.behavior {
            for (field, rules) in [("scaleUp", &b.scale_up), ("scaleDown", &b.scale_down)] {
                if let Some(t) = rules.as_ref().and_then(|r| r.tolerance.as_ref()) {
                    q(format!("/spec/scale/hpa/behavior/{field}/tolerance"), &t.0);
                }
            }
        }
        for (i, m) in hpa.metrics.iter().enumerate() {
            for (field, t) in metric_targets(m) {
                if let Some(v) = &t.value {
                    q(
                        format!("/spec/scale/hpa/metrics/{i}/{field}/target/value"),
                        &v.0,
                    );
                }
                if let Some(v) = &t.average_value {
                    q(
                        format!("/spec/scale/hpa/metrics/{i}/{field}/target/averageValue"),
                        &v.0,
                    );
                }
            }
        }
    }
    if spec
        .resources
        .as_ref()
        .is_some_and(|r| r.claims.as_ref().is_some_and(|c| !c.is_empty()))
    {
        diags.push(
            input
                .diag(
                    "NIMC016",
                    o,
                    "/spec/resources/claims",
                    format!("NIMService {name}: spec.resources.claims must be empty"),
                )
                .help("request DRA devices with spec.draResources; nimc adds the container claims"),
        );
    }
    let ignored = [
        (
            spec.expose
                .service
                .as_ref()
                .is_some_and(|x| x.name.is_some()),
            "/spec/expose/service/name",
            "expose.service.name",
            "the Service is always named after the NIMService",
        ),
        (
            spec.pod_affinity.is_some(),
            "/spec/podAffinity",
            "podAffinity (deprecated)",
            "move it to spec.affinity.podAffinity",
        ),
    ];
    for (set, ptr, field, help) in ignored {
        if set {
            diags.push(
                input
                    .diag(
                        "NIMC092",
                        o,
                        ptr,
                        format!("NIMService {name}: {field} is ignored by the operator"),
                    )
                    .help(help),
            );
        }
    }
    expose(input, cr, diags);
    dra(input, cr, facts, diags);
    if spec.inference_platform.as_deref() == Some("kserve") {
        kserve(input, cr, facts, diags);
    } else if spec.multi_node.is_some() {
        multinode(input, cr, diags);
    }
}

/// The bytes of the MPI hostfiles of a multi-node service, counted without building them and
/// stopping once past `limit`.
fn hostfile_bytes(
    replicas: u64,
    pipeline: u64,
    tensor: u64,
    lws: usize,
    ns: usize,
    limit: u64,
) -> u64 {
    let digits = |n: u64| n.checked_ilog10().unwrap_or(0) as u64 + 1;
    let slots = "slots=\n".len() as u64 + digits(tensor);
    let mut total = 0u64;
    for i in 0..replicas {
        // `localhost slots=T`, then `<lws>-<i>-<j>.<lws>.<ns>.svc slots=T` per worker.
        total += "localhost ".len() as u64 + slots + "hostfile-".len() as u64 + digits(i);
        for j in 1..pipeline {
            total += 2 * lws as u64
                + ns as u64
                + digits(i)
                + digits(j)
                + "--..svc ".len() as u64
                + slots;
            if total > limit {
                return total;
            }
        }
        if total > limit {
            return total;
        }
    }
    total
}

/// Multi-node rules (CRD CEL and what the LeaderWorkerSet needs).
fn multinode(input: &Input, cr: &Cr<NimService>, diags: &mut Vec<Diagnostic>) {
    let o = cr.origin;
    let spec = &cr.object.spec;
    let name = cr.object.name();
    let Some(mn) = &spec.multi_node else { return };
    let mut d = |ptr: &str, code: &'static str, msg: String, help: &str| {
        diags.push(input.diag(code, o, ptr, msg).help(help));
    };
    if mn.mpi.is_some() && mn.ray.is_some() {
        d(
            "/spec/multiNode",
            "NIMC023",
            format!("NIMService {name}: multiNode.mpi and multiNode.ray are mutually exclusive"),
            "pick MPI or Ray",
        );
    }
    if mn.backend_type.as_deref().is_some_and(|b| b != "lws") {
        d(
            "/spec/multiNode/backendType",
            "NIMC023",
            format!("NIMService {name}: the only multi-node backend is lws"),
            "remove backendType or set it to lws",
        );
    }
    if let Some(cd) = &mn.compute_domain {
        let create = cd.create == Some(true);
        let named = cd.name.as_deref().is_some_and(|n| !n.is_empty());
        if create == named {
            d(
                "/spec/multiNode/computeDomain",
                "NIMC023",
                format!(
                    "NIMService {name}: computeDomain needs create: true without a name, or the name of an existing ComputeDomain"
                ),
                "set create: true, or name an existing ComputeDomain",
            );
        }
    }
    if spec.scale.enabled == Some(true) {
        d(
            "/spec/scale/enabled",
            "NIMC023",
            format!("NIMService {name}: autoscaling is not supported with multiNode"),
            "scale the LeaderWorkerSet with spec.replicas",
        );
    }
    let pipeline = mn.parallelism.pipeline.unwrap_or(0);
    if pipeline <= 1 {
        d(
            "/spec/multiNode/parallelism",
            "NIMC024",
            format!(
                "NIMService {name}: multiNode with pipeline parallelism {pipeline} runs on one node; nimc renders a Deployment"
            ),
            "set parallelism.pipeline above 1 for a LeaderWorkerSet, or remove multiNode",
        );
    } else if spec.replicas.is_none() {
        d(
            "/spec/multiNode",
            "NIMC023",
            format!("NIMService {name}: a multi-node service needs spec.replicas"),
            "set spec.replicas (the number of leader/worker groups)",
        );
    } else if mn.ray.is_none() {
        const CONFIG_MAP_LIMIT: u64 = 1 << 20;
        let replicas = spec.replicas.unwrap_or(0).max(0) as u64;
        let tensor = u64::from(mn.parallelism.tensor.unwrap_or(1));
        let lws = name.len() + "-lws".len();
        let ns = cr.object.namespace().len();
        let bytes = hostfile_bytes(replicas, pipeline.into(), tensor, lws, ns, CONFIG_MAP_LIMIT);
        if bytes > CONFIG_MAP_LIMIT {
            d(
                "/spec/replicas",
                "NIMC023",
                format!(
                    "NIMService {name}: {replicas} groups of {pipeline} pods need MPI hostfiles larger than the 1 MiB a ConfigMap may hold"
                ),
                "lower spec.replicas or parallelism.pipeline",
            );
        }
    }
}

/// The KServe webhook rules: a known deployment mode, no multi-node, and in Knative-style
/// modes no HPA, Ingress, Gateway or ServiceMonitor (KServe owns scaling and networking there).
fn kserve(input: &Input, cr: &Cr<NimService>, facts: &Facts, diags: &mut Vec<Diagnostic>) {
    let o = cr.origin;
    let spec = &cr.object.spec;
    let name = cr.object.name();
    let k = crate::model::KServe::resolve(&spec.annotations, &facts.kserve_deployment_mode);
    let mut d = |ptr: &str, msg: String, help: &str| {
        diags.push(input.diag("NIMC022", o, ptr, msg).help(help));
    };
    if !matches!(
        k.mode.as_str(),
        "Standard" | "RawDeployment" | "Knative" | "Serverless" | "ModelMesh"
    ) {
        d(
            "/spec/annotations/serving.kserve.io~1deploymentMode",
            format!(
                "NIMService {name}: unknown KServe deployment mode `{}`",
                k.mode
            ),
            "use Standard, RawDeployment, Knative, Serverless or ModelMesh",
        );
    }
    if spec.multi_node.is_some() {
        d(
            "/spec/multiNode",
            format!("NIMService {name}: multiNode is not supported on KServe"),
            "use inferencePlatform: standalone for a multi-node service",
        );
    }
    if !k.standard {
        let r = spec.expose.router.as_ref();
        let forbidden = [
            (
                spec.scale.enabled == Some(true),
                "/spec/scale/enabled",
                "scale.enabled",
            ),
            (
                spec.expose
                    .ingress
                    .as_ref()
                    .is_some_and(|i| i.enabled == Some(true)),
                "/spec/expose/ingress",
                "expose.ingress",
            ),
            (
                r.is_some_and(|r| r.ingress.is_some()),
                "/spec/expose/router/ingress",
                "router.ingress",
            ),
            (
                r.is_some_and(|r| r.gateway.is_some()),
                "/spec/expose/router/gateway",
                "router.gateway",
            ),
            (
                spec.metrics.enabled == Some(true),
                "/spec/metrics/enabled",
                "metrics.enabled",
            ),
        ];
        for (set, ptr, field) in forbidden {
            if set {
                d(
                    ptr,
                    format!(
                        "NIMService {name}: {field} is not allowed in KServe {} mode",
                        k.mode
                    ),
                    "KServe's Knative mode scales and routes by itself; remove the field or use Standard mode",
                );
            }
        }
    }
}

/// Router, gateway, endpoint picker, autoscaling and metrics settings (CEL and webhook rules).
fn expose(input: &Input, cr: &Cr<NimService>, diags: &mut Vec<Diagnostic>) {
    let o = cr.origin;
    let spec = &cr.object.spec;
    let name = cr.object.name();
    let mut d = |ptr: &str, code: &'static str, msg: String, help: &str| {
        diags.push(input.diag(code, o, ptr, msg).help(help));
    };
    let legacy = spec
        .expose
        .ingress
        .as_ref()
        .is_some_and(|i| i.enabled == Some(true));
    if let Some(r) = &spec.expose.router {
        if r.ingress.is_some() && r.gateway.is_some() {
            d(
                "/spec/expose/router",
                "NIMC017",
                format!(
                    "NIMService {name}: router.ingress and router.gateway cannot be used together"
                ),
                "pick the Ingress or the Gateway API",
            );
        }
        if legacy && r.ingress.is_some() {
            d(
                "/spec/expose/ingress",
                "NIMC017",
                format!(
                    "NIMService {name}: expose.ingress.enabled and router.ingress cannot be used together"
                ),
                "expose.ingress is deprecated; keep router.ingress",
            );
        }
        if (r.ingress.is_some() || r.gateway.is_some())
            && r.host_domain_name.as_deref().unwrap_or_default().is_empty()
        {
            d(
                "/spec/expose/router",
                "NIMC017",
                format!(
                    "NIMService {name}: router.hostDomainName is required with an ingress or a gateway"
                ),
                "hosts are named <name>.<namespace>.<hostDomainName>",
            );
        }
        if let Some(g) = &r.gateway {
            let grpc = spec
                .expose
                .service
                .as_ref()
                .and_then(|s| s.grpc_port)
                .is_some();
            if g.grpc_routes_enabled == Some(true) && !grpc {
                d(
                    "/spec/expose/router/gateway/grpcRoutesEnabled",
                    "NIMC017",
                    format!("NIMService {name}: gRPC routes need expose.service.grpcPort"),
                    "set expose.service.grpcPort",
                );
            }
            if let Some(b) = &g.backend_ref {
                let service = b.group.as_deref().unwrap_or_default().is_empty()
                    && b.kind.as_deref().unwrap_or("Service") == "Service";
                if service && b.port.is_none() {
                    d(
                        "/spec/expose/router/gateway/backendRef",
                        "NIMC017",
                        format!("NIMService {name}: a Service backendRef needs a port"),
                        "set backendRef.port",
                    );
                }
            }
        }
        if let Some(epp) = &r.epp_config {
            let base = "/spec/expose/router/eppConfig";
            match (epp.config.is_some(), epp.config_map_ref.is_some()) {
                (true, true) => d(
                    base,
                    "NIMC018",
                    format!(
                        "NIMService {name}: eppConfig.config and eppConfig.configMapRef cannot both be set"
                    ),
                    "keep one source of the endpoint picker configuration",
                ),
                (false, false) => d(
                    base,
                    "NIMC018",
                    format!("NIMService {name}: eppConfig needs config or configMapRef"),
                    "the endpoint picker cannot start without a configuration",
                ),
                _ => {}
            }
            if epp.container_spec.image.repository.is_empty() {
                d(
                    &format!("{base}/containerSpec/image"),
                    "NIMC018",
                    format!("NIMService {name}: the endpoint picker needs an image repository"),
                    "set eppConfig.containerSpec.image.repository",
                );
            }
            if let Some(cfg) = &epp.config {
                for (i, p) in cfg
                    .get("plugins")
                    .and_then(|v| v.as_array())
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    if p.get("parameters")
                        .is_some_and(|v| !v.is_null() && !v.is_string())
                    {
                        d(
                            &format!("{base}/config/plugins/{i}/parameters"),
                            "NIMC018",
                            format!("NIMService {name}: plugin parameters must be a base64 string"),
                            "the CRD stores parameters as bytes: base64-encode the JSON parameters",
                        );
                    }
                }
                let staleness = cfg
                    .get("saturationDetector")
                    .and_then(|s| s.get("metricsStalenessThreshold"));
                if let Some(v) = staleness
                    && v.as_str()
                        .is_none_or(|t| crate::render::epp::go_duration(t).is_none())
                {
                    d(
                        &format!("{base}/config/saturationDetector/metricsStalenessThreshold"),
                        "NIMC018",
                        format!("NIMService {name}: metricsStalenessThreshold is not a duration"),
                        "use a Go duration such as 200ms or 1m30s",
                    );
                }
            }
        }
    }
    if spec.scale.enabled == Some(true) && spec.replicas.is_some() {
        d(
            "/spec/replicas",
            "NIMC031",
            format!(
                "NIMService {name}: spec.replicas cannot be set when spec.scale.enabled is true"
            ),
            "remove spec.replicas; the HPA's minReplicas and maxReplicas set the replica count",
        );
    }
    if legacy {
        d(
            "/spec/expose/ingress",
            "NIMC027",
            format!("NIMService {name}: spec.expose.ingress is deprecated"),
            "use spec.expose.router.ingress (with hostDomainName) instead",
        );
    }
    let router = spec.expose.router.as_ref();
    let load_balancer = spec
        .expose
        .service
        .as_ref()
        .is_some_and(|s| s.type_.as_deref() == Some("LoadBalancer"));
    if load_balancer && router.is_some_and(|r| r.ingress.is_some() || r.gateway.is_some()) {
        d(
            "/spec/expose/service/type",
            "NIMC027",
            format!(
                "NIMService {name}: a LoadBalancer Service next to a router Ingress or Gateway makes two entry points"
            ),
            "keep only one of them: a ClusterIP Service behind the router, or the LoadBalancer alone",
        );
    }
    if spec.scale.enabled == Some(true) && spec.scale.hpa.is_none() {
        d(
            "/spec/scale",
            "NIMC019",
            format!("NIMService {name}: scale.enabled needs scale.hpa"),
            "set scale.hpa.maxReplicas (and minReplicas, metrics)",
        );
    }
    if spec.metrics.enabled == Some(true) && spec.metrics.service_monitor.is_none() {
        d(
            "/spec/metrics",
            "NIMC019",
            format!("NIMService {name}: metrics.enabled needs metrics.serviceMonitor"),
            "add metrics.serviceMonitor (it may be empty: {})",
        );
    }
}

fn dra(input: &Input, cr: &Cr<NimService>, facts: &Facts, diags: &mut Vec<Diagnostic>) {
    let spec = &cr.object.spec;
    if spec.dra_resources.is_empty() {
        return;
    }
    let o = cr.origin;
    if !facts.supports_dra() {
        diags.push(
            input
                .diag(
                    "NIMC012",
                    o,
                    "/spec/draResources",
                    format!(
                        "DRA resources need Kubernetes v1.34.0 or newer; the facts say {}",
                        facts.kubernetes_version
                    ),
                )
                .help("set kubernetesVersion in nimc.yaml to the cluster's version"),
        );
    }
    let mut claims = Vec::new();
    for (i, r) in spec.dra_resources.iter().enumerate() {
        let ptr = format!("/spec/draResources/{i}");
        let set = [
            r.resource_claim_name.is_some(),
            r.resource_claim_template_name.is_some(),
            r.claim_creation_spec.is_some(),
        ]
        .iter()
        .filter(|x| **x)
        .count();
        let mut bad = |p: &str, msg: String| {
            diags.push(
                input
                    .diag("NIMC016", o, p, msg)
                    .help("see the NIMService CRD's draResources documentation"),
            );
        };
        for (j, req) in r.requests.iter().enumerate() {
            if r.requests[..j].contains(req) {
                // The operator adds a container claim per request; the API server refuses two
                // identical ones.
                bad(
                    &format!("{ptr}/requests/{j}"),
                    format!(
                        "request {req:?} is listed twice; the pod template would claim it twice"
                    ),
                );
            }
        }
        if set != 1 {
            bad(&ptr, "exactly one of resourceClaimName, resourceClaimTemplateName, claimCreationSpec must be set".into());
        }
        if let Some(c) = &r.resource_claim_name {
            if claims.contains(c) {
                bad(
                    &format!("{ptr}/resourceClaimName"),
                    format!("resource claim `{c}` is listed twice"),
                );
            }
            claims.push(c.clone());
            if spec.replicas.unwrap_or(1) > 1 || spec.scale.enabled == Some(true) {
                bad(&format!("{ptr}/resourceClaimName"),
                    "a shared resourceClaimName cannot be used with more than one replica or with autoscaling".into());
            }
        }
        let Some(c) = &r.claim_creation_spec else {
            continue;
        };
        if c.devices.is_empty() {
            bad(
                &format!("{ptr}/claimCreationSpec/devices"),
                "claimCreationSpec needs at least one device".into(),
            );
        }
        for (j, dev) in c.devices.iter().enumerate() {
            let dp = format!("{ptr}/claimCreationSpec/devices/{j}");
            if dev.name.is_empty() {
                bad(&dp, "a device needs a name".into());
            }
            if dev.device_class_name.as_deref() == Some("") {
                bad(
                    &format!("{dp}/deviceClassName"),
                    "a device needs a deviceClassName".into(),
                );
            }
            // Keys are qualified with the driver name; attribute and capacity selectors share
            // one namespace (the webhook's duplicate check).
            let driver = dev
                .driver_name
                .as_deref()
                .unwrap_or(crate::defaults::DEFAULT_DRIVER);
            let mut keys = std::collections::BTreeSet::new();
            let selector_keys = dev
                .attribute_selectors
                .iter()
                .enumerate()
                .map(|(k, a)| (format!("{dp}/attributeSelectors/{k}/key"), &a.key))
                .chain(
                    dev.capacity_selectors
                        .iter()
                        .enumerate()
                        .map(|(k, c)| (format!("{dp}/capacitySelectors/{k}/key"), &c.key)),
                );
            for (p, key) in selector_keys {
                let qualified = match key.contains('/') {
                    true => key.clone(),
                    false => format!("{driver}/{key}"),
                };
                if !keys.insert(qualified.clone()) {
                    bad(
                        &p,
                        format!("selector key `{qualified}` is used twice on this device"),
                    );
                }
            }
            for (k, expr) in dev.cel_expressions.iter().enumerate() {
                if let Some(problem) = cel_syntax_problem(expr) {
                    bad(
                        &format!("{dp}/celExpressions/{k}"),
                        format!("CEL expression does not compile: {problem}"),
                    );
                }
            }
            if dev.count == Some(0) {
                bad(
                    &format!("{dp}/count"),
                    "device count must be greater than 0".into(),
                );
            }
            if !dev.cel_expressions.is_empty()
                && (!dev.attribute_selectors.is_empty() || !dev.capacity_selectors.is_empty())
            {
                bad(
                    &format!("{dp}/celExpressions"),
                    "celExpressions cannot be combined with attribute or capacity selectors".into(),
                );
            }
            for (k, a) in dev.attribute_selectors.iter().enumerate() {
                let ap = format!("{dp}/attributeSelectors/{k}");
                if let Some(msg) = selector_key_problem(&a.key) {
                    bad(&format!("{ap}/key"), msg);
                }
                let v = a.value.clone().unwrap_or_default();
                for (field, text) in [
                    ("stringValue", &v.string_value),
                    ("versionValue", &v.version_value),
                ] {
                    if text.as_ref().is_some_and(|t| t.len() > 64) {
                        bad(
                            &format!("{ap}/value/{field}"),
                            format!("{field} is longer than 64 characters"),
                        );
                    }
                }
                let kinds = [
                    v.bool_value.is_some(),
                    v.int_value.is_some(),
                    v.string_value.is_some(),
                    v.version_value.is_some(),
                ];
                let op = a.op.as_deref().unwrap_or("Equal");
                if kinds.iter().filter(|x| **x).count() != 1 {
                    bad(&format!("{ap}/value"), "an attribute selector value needs exactly one of boolValue, intValue, stringValue, versionValue".into());
                } else if (v.bool_value.is_some() || v.string_value.is_some())
                    && !matches!(op, "Equal" | "NotEqual")
                {
                    bad(
                        &format!("{ap}/op"),
                        format!("operator {op} is not valid for a bool or string value"),
                    );
                } else if !crate::render::dra::valid_op(op) {
                    bad(&format!("{ap}/op"), format!("unknown operator {op}"));
                }
                if let Some(ver) = &v.version_value
                    && !crate::render::dra::is_semver(ver)
                {
                    bad(
                        &format!("{ap}/value/versionValue"),
                        format!("`{ver}` is not a semantic version"),
                    );
                }
            }
            for (k, cs) in dev.capacity_selectors.iter().enumerate() {
                let cp = format!("{dp}/capacitySelectors/{k}");
                if let Some(msg) = selector_key_problem(&cs.key) {
                    bad(&format!("{cp}/key"), msg);
                }
                match &cs.value {
                    Some(v) if quantity::parse_ok(&v.0) => {}
                    _ => bad(
                        &format!("{cp}/value"),
                        "a capacity selector needs a quantity value".into(),
                    ),
                }
                if !crate::render::dra::valid_op(cs.op.as_deref().unwrap_or("Equal")) {
                    bad(&format!("{cp}/op"), "unknown operator".into());
                }
            }
        }
    }
}

/// Why a DRA CEL expression cannot compile, as far as its shape shows: it is empty, or its
/// brackets and string quotes do not balance. (The operator compiles it in the DRA CEL
/// environment; nimc catches the typos that break every compiler.)
fn cel_syntax_problem(expr: &str) -> Option<String> {
    if expr.trim().is_empty() {
        return Some("the expression is empty".into());
    }
    let mut open: Vec<char> = Vec::new();
    let mut chars = expr.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' => loop {
                match chars.next() {
                    None => return Some(format!("unterminated string starting with {c}")),
                    Some('\\') => {
                        chars.next();
                    }
                    Some(q) if q == c => break,
                    Some(_) => {}
                }
            },
            '(' | '[' | '{' => open.push(c),
            ')' | ']' | '}' => {
                let want = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                if open.pop() != Some(want) {
                    return Some(format!("unexpected `{c}`"));
                }
            }
            _ => {}
        }
    }
    open.last().map(|c| format!("`{c}` is never closed"))
}

/// Why an attribute or capacity selector key cannot be used, if it cannot. The key becomes a
/// CEL field selection (`device.attributes["<domain>"].<name>`), so the name must be a C
/// identifier, as DRA requires of attribute names; the domain is a DNS subdomain; the CRD caps
/// the key at 64 characters.
fn selector_key_problem(key: &str) -> Option<String> {
    let (domain, name) = key.split_once('/').unwrap_or(("", key));
    let identifier = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let subdomain = |d: &str| {
        d.split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
    };
    if key.len() > 64 {
        Some(format!("selector key `{key}` is longer than 64 characters"))
    } else if !identifier || name.len() > 32 {
        Some(format!(
            "selector key `{key}`: the name part must be a C identifier of at most 32 characters"
        ))
    } else if key.contains('/') && !subdomain(domain) {
        Some(format!(
            "selector key `{key}`: the domain part must be a DNS subdomain such as gpu.nvidia.com"
        ))
    } else {
        None
    }
}

fn metric_targets(m: &MetricSpec) -> Vec<(&'static str, &MetricTarget)> {
    let mut out = Vec::new();
    if let Some(x) = &m.object {
        out.push(("object", &x.target));
    }
    if let Some(x) = &m.pods {
        out.push(("pods", &x.target));
    }
    if let Some(x) = &m.resource {
        out.push(("resource", &x.target));
    }
    if let Some(x) = &m.container_resource {
        out.push(("containerResource", &x.target));
    }
    if let Some(x) = &m.external {
        out.push(("external", &x.target));
    }
    out
}

fn resources(r: Option<&ResourceRequirements>, base: &str, q: &mut impl FnMut(String, &str)) {
    let Some(r) = r else { return };
    for (field, map) in [("requests", &r.requests), ("limits", &r.limits)] {
        for (k, v) in map.iter().flatten() {
            q(
                format!("{base}/{field}/{}", crate::yaml::escape_segment(k)),
                &v.0,
            );
        }
    }
}
