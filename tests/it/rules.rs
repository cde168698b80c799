//! Crafted inputs for behaviour the public examples do not cover: each test renders a small
//! document and asserts the fields the operator's code decides.

use serde_json::Value;

use crate::support::yaml_docs;
use nimc::facts::Facts;
use nimc::source::Sources;

fn compile(yaml: &str, facts: &Facts) -> nimc::Compilation {
    nimc::compile(&Sources::from_texts([("input.yaml", yaml)]), facts)
}

/// Render and return the objects as JSON, keyed by "Kind/name".
fn render(yaml: &str) -> Vec<Value> {
    render_with(yaml, &Facts::default())
}

fn render_with(yaml: &str, facts: &Facts) -> Vec<Value> {
    let c = compile(yaml, facts);
    assert!(!c.has_errors(), "{:#?}", c.diagnostics);
    yaml_docs(&nimc::manifest::to_yaml(&c.objects))
}

fn find<'a>(objs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objs.iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name}"))
}

/// The codes of the errors and warnings (notes left out).
fn codes(yaml: &str) -> Vec<&'static str> {
    compile(yaml, &Facts::default())
        .diagnostics
        .iter()
        .filter(|d| d.severity != nimc::diagnostic::Severity::Note)
        .map(|d| d.code)
        .collect()
}

const SVC: &str = "apiVersion: apps.nvidia.com/v1alpha1
kind: NIMService
metadata:
  name: svc
  namespace: ns
spec:
  image:
    repository: nvcr.io/nim/x
    tag: '1.0'
  authSecret: ngc
  storage:
    emptyDir: {}
  expose:
    service:
      port: 8000
";

fn env_of(container: &Value) -> Vec<(String, Option<String>)> {
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["value"].as_str().map(str::to_string),
            )
        })
        .collect()
}

#[test]
fn proxy_env_comes_first_and_empty_values_are_left_out() {
    let objs = render(&format!(
        "{SVC}  proxy:\n    httpsProxy: http://p:3128\n  env:\n  - name: HTTPS_PROXY\n    value: user\n  - name: ZZZ\n    value: z\n"
    ));
    let d = find(&objs, "Deployment", "svc");
    let env = env_of(&d["spec"]["template"]["spec"]["containers"][0]);
    let names: Vec<&str> = env.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names[..9],
        [
            "NIM_SDK_USE_NATIVE_TLS",
            "HTTPS_PROXY",
            "HTTP_PROXY",
            "NO_PROXY",
            "https_proxy",
            "http_proxy",
            "no_proxy",
            "ZZZ",
            "NIM_CACHE_PATH"
        ]
    );
    assert_eq!(
        env[1].1.as_deref(),
        Some("http://p:3128"),
        "the proxy wins over the user"
    );
    assert_eq!(env[2].1, None, "an empty proxy value is left out");
    // A proxy without a CA: no CA init container, but the Role grants anyuid (as upstream).
    assert!(d["spec"]["template"]["spec"]["initContainers"].is_null());
    assert_eq!(
        find(&objs, "Role", "svc")["rules"][0]["resourceNames"][0],
        "anyuid"
    );
    assert_eq!(
        d["spec"]["template"]["metadata"]["annotations"]["openshift.io/required-scc"],
        "nonroot"
    );
}

#[test]
fn grpc_and_metrics_ports_add_env_ports_and_endpoints() {
    let objs = render(&format!(
        "{SVC}      grpcPort: 50051\n      metricsPort: 8002\n  metrics:\n    enabled: true\n    serviceMonitor: {{}}\n"
    ));
    let d = find(&objs, "Deployment", "svc");
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    let env = env_of(c);
    let tail: Vec<&str> = env[env.len() - 3..]
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(
        tail,
        [
            "NIM_GRPC_API_PORT",
            "NIM_TRITON_GRPC_PORT",
            "NIM_TRITON_METRICS_PORT"
        ]
    );
    let ports: Vec<&str> = c["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(ports, ["api", "grpc", "metrics"]);
    let sm = find(&objs, "ServiceMonitor", "svc");
    assert_eq!(sm["spec"]["endpoints"][1]["path"], "/metrics");
    assert_eq!(sm["spec"]["endpoints"][1]["port"], "metrics");
}

#[test]
fn tolerations_keep_seconds_and_node_selectors_stay_strings() {
    let objs = render(&format!(
        "{SVC}  nodeSelector:\n    gpu: 'true'\n    count: '123'\n  tolerations:\n  - key: k\n    operator: Exists\n    effect: NoExecute\n    tolerationSeconds: 30\n"
    ));
    let pod = &find(&objs, "Deployment", "svc")["spec"]["template"]["spec"];
    assert_eq!(pod["tolerations"][0]["tolerationSeconds"], 30);
    assert_eq!(pod["nodeSelector"]["gpu"], "true");
    assert_eq!(pod["nodeSelector"]["count"], "123");
}

#[test]
fn missing_expose_service_means_port_8000() {
    let objs = render(&SVC.replace("  expose:\n    service:\n      port: 8000\n", ""));
    let svc = find(&objs, "Service", "svc");
    assert_eq!(svc["spec"]["ports"][0]["port"], 8000);
    let c = &find(&objs, "Deployment", "svc")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["ports"][0]["containerPort"], 8000);
}

#[test]
fn hpa_metrics_sorted_quantities_canonical_replicas_from_min() {
    let objs = render(&format!(
        "{SVC}  scale:\n    enabled: true\n    hpa:\n      minReplicas: 2\n      maxReplicas: 5\n      metrics:\n      - type: Resource\n        resource:\n          name: cpu\n          target:\n            type: AverageValue\n            averageValue: '1.5'\n      - type: External\n        external:\n          metric:\n            name: q\n          target:\n            type: Value\n            value: '1000'\n      behavior:\n        scaleUp:\n          tolerance: '0.05'\n"
    ));
    let hpa = find(&objs, "HorizontalPodAutoscaler", "svc");
    assert_eq!(hpa["spec"]["metrics"][0]["type"], "External");
    assert_eq!(
        hpa["spec"]["metrics"][0]["external"]["target"]["value"],
        "1k"
    );
    assert_eq!(
        hpa["spec"]["metrics"][1]["resource"]["target"]["averageValue"],
        "1500m"
    );
    assert_eq!(hpa["spec"]["behavior"]["scaleUp"]["tolerance"], "50m");
    assert_eq!(find(&objs, "Deployment", "svc")["spec"]["replicas"], 2);
}

#[test]
fn init_and_sidecar_containers_get_base_env_and_mounts() {
    let objs = render(&format!(
        "{SVC}  initContainers:\n  - name: init\n    image:\n      repository: busybox\n      tag: '1'\n    env:\n    - name: NIM_LOG_LEVEL\n      value: DEBUG\n  sidecarContainers:\n  - name: side\n    image:\n      repository: busybox\n      tag: '1'\n      pullPolicy: Always\n"
    ));
    let pod = &find(&objs, "Deployment", "svc")["spec"]["template"]["spec"];
    let init = &pod["initContainers"][0];
    assert_eq!(
        env_of(init)[0],
        ("NIM_LOG_LEVEL".to_string(), Some("DEBUG".to_string()))
    );
    let mounts: Vec<&str> = init["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect();
    assert_eq!(mounts, ["/model-store", "/scratch"]);
    let side = &pod["containers"][1];
    assert_eq!(side["imagePullPolicy"], "Always");
    let mounts: Vec<&str> = side["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect();
    assert_eq!(mounts, ["/model-store", "/dev/shm", "/scratch"]);
    let vols: Vec<&str> = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(vols, ["dshm", "scratch", "model-store"]);
}

#[test]
fn native_images_use_the_native_layout() {
    let mut facts = Facts::default();
    facts.images.insert(
        "nvcr.io/nim/x:1.0".into(),
        nimc::facts::ImageFacts {
            model_download_protocol: Some("native-v1".into()),
            model_manifest: None,
        },
    );
    let objs = render_with(SVC, &facts);
    let c = &find(&objs, "Deployment", "svc")["spec"]["template"]["spec"]["containers"][0];
    let env = env_of(c);
    // The auth secret pair goes first (both optional), then the engine path.
    assert_eq!(c["env"][0]["name"], "NGC_API_KEY");
    assert_eq!(c["env"][0]["valueFrom"]["secretKeyRef"]["optional"], true);
    assert_eq!(c["env"][1]["name"], "HF_TOKEN");
    assert_eq!(c["env"][1]["valueFrom"]["secretKeyRef"]["optional"], true);
    assert_eq!(
        env[2],
        (
            "NIM_ENGINE_MODEL_PATH".to_string(),
            Some("/model".to_string())
        )
    );
    let mounts: Vec<&str> = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect();
    assert_eq!(mounts, ["/model", "/opt/cache", "/dev/shm"]);
}

const CACHE: &str = "apiVersion: apps.nvidia.com/v1alpha1
kind: NIMCache
metadata:
  name: c
  namespace: ns
spec:
  source:
    ngc:
      authSecret: ngc
      modelPuller: nvcr.io/nim/x:1.0
  storage:
    pvc:
      create: true
      size: 10Gi
      volumeAccessMode: ReadWriteOnce
";

#[test]
fn cache_profiles_come_from_the_annotation_alone() {
    let annotated = CACHE.replace(
        "  namespace: ns\n",
        "  namespace: ns\n  annotations:\n    nvidia.com/selected-profiles: '[\"b\", \"a\"]'\n",
    );
    let objs = render(&format!(
        "{annotated}status:\n  profiles:\n  - name: fromstatus\n"
    ));
    let job = find(&objs, "Job", "c-job");
    let c = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["args"], serde_json::json!(["--profiles", "b", "a"]));
    assert!(
        job["spec"]["template"]["spec"]["imagePullSecrets"].is_null(),
        "no pull secret: no entry"
    );
    let empty = CACHE.replace(
        "  namespace: ns\n",
        "  namespace: ns\n  annotations:\n    nvidia.com/selected-profiles: '[]'\n",
    );
    assert_eq!(
        codes(&format!(
            "{empty}status:\n  profiles:\n  - name: fromstatus\n"
        )),
        ["NIMC010"]
    );
    assert_eq!(
        codes(CACHE),
        ["NIMC010"],
        "no profiles anywhere: nimc does not guess"
    );
}

#[test]
fn a_ready_cache_gets_no_job() {
    // The operator creates the Job only while caching is not complete; the PVC and the shared
    // RBAC stay, and the profiles the Job alone needs are not asked for.
    let ready = format!("{CACHE}status:\n  state: Ready\n  pvc: c-pvc\n");
    let objs = render(&ready);
    let kinds: Vec<String> = objs
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "ServiceAccount/nim-cache-sa",
            "Role/nim-cache-role",
            "RoleBinding/nim-cache-rolebinding",
            "PersistentVolumeClaim/c-pvc",
        ]
    );
    for state in ["Pending", "InProgress", "Failed", "NotReady"] {
        let pinned = CACHE.replace(
            "      modelPuller: nvcr.io/nim/x:1.0\n",
            "      modelPuller: nvcr.io/nim/x:1.0\n      model:\n        profiles: [p]\n",
        );
        let objs = render(&format!("{pinned}status:\n  state: {state}\n"));
        find(&objs, "Job", "c-job");
    }
}

#[test]
fn odd_values_become_what_the_operator_makes_of_them() {
    // The operator's templates read pasted values as YAML plain scalars: padding and comments
    // go, blank and null-like values vanish; Go's omitempty drops empty toleration fields of
    // the cache Job; an env resourceFieldRef always carries a divisor ("0" when unset).
    let svc = SVC
        .replace("    repository: nvcr.io/nim/x\n    tag: '1.0'\n", "    repository: '  nvcr.io/nim/x'\n    tag: '1.0 '\n    pullPolicy: 'Never '\n    pullSecrets: ['ngc ', '', '~']\n")
        .replace("  authSecret: ngc\n", "  authSecret: ngc\n  runtimeClassName: '  '\n  nodeSelector:\n    gpu: ' a100 '\n    zone: 'null'\n  env:\n  - name: LIMIT\n    valueFrom:\n      resourceFieldRef:\n        resource: limits.memory\n  - name: CPUS\n    valueFrom:\n      resourceFieldRef:\n        resource: limits.cpu\n        divisor: 1000m\n");
    let cache = CACHE
        .replace(
            "      modelPuller: nvcr.io/nim/x:1.0\n",
            "      modelPuller: nvcr.io/nim/x:1.0\n      model:\n        profiles: [all]\n",
        )
        .replace(
            "spec:\n  source:",
            "spec:\n  tolerations:\n  - key: ''\n    operator: Exists\n    effect: ''\n  source:",
        );
    let objs = render(&format!("{svc}---\n{cache}"));
    let pod = &find(&objs, "Deployment", "svc")["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(c["image"], "nvcr.io/nim/x:1.0");
    assert_eq!(c["imagePullPolicy"], "Never");
    assert_eq!(
        pod["imagePullSecrets"],
        serde_json::json!([{"name": "ngc"}])
    );
    assert!(pod["runtimeClassName"].is_null());
    assert_eq!(
        pod["nodeSelector"],
        serde_json::json!({"gpu": "a100", "zone": ""})
    );
    let env = c["env"].as_array().unwrap();
    let divisor = |n: &str| {
        env.iter().find(|e| e["name"] == n).unwrap()["valueFrom"]["resourceFieldRef"]["divisor"]
            .clone()
    };
    assert_eq!(divisor("LIMIT"), "0");
    assert_eq!(divisor("CPUS"), "1");
    let job = &find(&objs, "Job", "c-job")["spec"]["template"]["spec"];
    assert_eq!(
        job["tolerations"],
        serde_json::json!([{"operator": "Exists"}])
    );
}

#[test]
fn universal_caches_are_never_native() {
    let universal = CACHE.replace(
        "      modelPuller: nvcr.io/nim/x:1.0\n",
        "      modelPuller: nvcr.io/nim/x:1.0\n      modelEndpoint: ngc://org/model:1\n",
    );
    let objs = render(&format!("{universal}status:\n  type: native\n"));
    let c = &find(&objs, "Job", "c-job")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["command"], serde_json::json!(["create-model-store"]));
    assert_eq!(
        c["args"],
        serde_json::json!([
            "--model-repo",
            "ngc://org/model:1",
            "--model-store",
            "/model-store"
        ])
    );
}

#[test]
fn invalid_input_is_refused_with_codes() {
    assert_eq!(codes(&SVC.replace("  name: svc\n", "")), ["NIMC004"]);
    assert_eq!(codes(&format!("{SVC}  labels:\n    app: x\n")), ["NIMC008"]);
    assert_eq!(
        codes(&SVC.replace("      port: 8000", "      port: 8000\n      name: custom")),
        ["NIMC092"]
    );
    assert_eq!(
        codes(&SVC.replace("    emptyDir: {}\n", "    nimCache:\n      name: missing\n")),
        ["NIMC009"]
    );
    assert_eq!(
        codes(&format!(
            "{SVC}    router:\n      gateway:\n        name: g\n        namespace: n\n"
        )),
        ["NIMC017"]
    );
    let old = Facts {
        kubernetes_version: "v1.33.4".into(),
        ..Facts::default()
    };
    let dra = format!("{SVC}  draResources:\n  - resourceClaimTemplateName: t\n");
    let c = compile(&dra, &old);
    assert_eq!(
        c.diagnostics.iter().map(|d| d.code).collect::<Vec<_>>(),
        ["NIMC012"]
    );
    assert!(
        c.objects.is_empty(),
        "nothing is rendered when there are errors"
    );
    let selector = |key: &str| {
        format!(
            "{SVC}  draResources:\n  - claimCreationSpec:\n      devices:\n      - name: gpu\n        capacitySelectors:\n        - {{key: '{key}', value: 1Gi}}\n"
        )
    };
    for good in ["memory", "gpu.nvidia.com/memory", "_x1"] {
        assert!(codes(&selector(good)).is_empty(), "{good}");
    }
    for bad in [
        "product-name",
        "gpu.nvidia.com/",
        "1x",
        "Bad_Domain/memory",
        "a\"].x",
    ] {
        assert_eq!(codes(&selector(bad)), ["NIMC016"], "{bad}");
    }
}

const PIPELINE: &str = "apiVersion: apps.nvidia.com/v1alpha1
kind: NIMPipeline
metadata:
  name: rag
  namespace: ns
spec:
  services:
  - name: llm
    enabled: true
    spec:
      image: {repository: nvcr.io/nim/llm, tag: '1'}
      authSecret: ngc
      storage: {emptyDir: {}}
      env:
      - {name: A, value: user}
      - {name: LLM_URL, value: overridden}
      expose: {service: {port: 8000}}
    dependencies:
    - {name: embed, port: 8000, envName: EMBED_URL, envValue: 'http://embed:8000'}
    - {name: rerank, port: 8000, envName: LLM_URL, envValue: 'http://self'}
  - name: embed
    enabled: true
    spec:
      image: {repository: nvcr.io/nim/embed, tag: '1'}
      authSecret: ngc
      storage: {emptyDir: {}}
  - name: rerank
    enabled: false
    spec:
      image: {repository: nvcr.io/nim/rerank, tag: '1'}
      storage: {emptyDir: {}}
";

#[test]
fn pipelines_render_their_enabled_services_with_dependency_env() {
    let c = compile(PIPELINE, &Facts::default());
    let objs = yaml_docs(&nimc::manifest::to_yaml(&c.objects));
    let d = find(&objs, "Deployment", "llm");
    let env = env_of(&d["spec"]["template"]["spec"]["containers"][0]);
    let first: Vec<(&str, Option<&str>)> = env[..3]
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_deref()))
        .collect();
    // Dependencies are injected one after another in front: the last one ends up first, and a
    // dependency wins over the user's variable of the same name.
    assert_eq!(
        first,
        [
            ("LLM_URL", Some("http://self")),
            ("EMBED_URL", Some("http://embed:8000")),
            ("A", Some("user"))
        ]
    );
    assert!(
        objs.iter()
            .any(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == "embed")
    );
    assert!(
        !objs.iter().any(|o| o["metadata"]["name"] == "rerank"),
        "disabled services are not rendered"
    );
    assert!(
        !objs.iter().any(|o| o["kind"] == "NIMService"),
        "child NIMService resources are not emitted"
    );
    assert_eq!(d["metadata"]["namespace"], "ns");
    // Depending on a disabled service is reported.
    let warnings: Vec<&str> = c.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(warnings, ["NIMC021"]);
}

#[test]
fn pipeline_problems_point_into_the_pipeline() {
    let broken = PIPELINE.replacen("storage: {emptyDir: {}}", "storage: {}", 1);
    let c = compile(&broken, &Facts::default());
    let d = c
        .diagnostics
        .iter()
        .find(|d| d.code == "NIMC007")
        .expect("storage error");
    assert_eq!(
        d.span.unwrap().start.line,
        13,
        "points at the service's storage"
    );
    let dup = PIPELINE.replace("  - name: embed\n", "  - name: llm\n");
    assert!(codes(&dup).contains(&"NIMC020"));
    let cycle = PIPELINE.replace("enabled: false", "enabled: true")
        + "    dependencies:\n    - {name: llm, port: 8000}\n";
    let c = compile(&cycle, &Facts::default());
    assert!(
        c.diagnostics
            .iter()
            .any(|d| d.code == "NIMC021" && d.message.contains("llm -> rerank -> llm")),
        "{:#?}",
        c.diagnostics
    );
}

#[test]
fn kserve_modes_shape_the_inference_service() {
    let standard = format!("{SVC}  inferencePlatform: kserve\n  replicas: 2\n").replace(
        "      port: 8000\n",
        "      port: 8000\n      metricsPort: 8002\n",
    );
    let objs = render(&standard);
    let isvc = find(&objs, "InferenceService", "svc");
    assert!(
        !objs
            .iter()
            .any(|o| o["kind"] == "Deployment" || o["kind"] == "Service")
    );
    let p = &isvc["spec"]["predictor"];
    assert_eq!(
        (p["minReplicas"].clone(), p["maxReplicas"].clone()),
        (serde_json::json!(2), serde_json::json!(2))
    );
    assert_eq!(p["containers"][0]["ports"][1]["name"], "metrics");
    assert_eq!(
        isvc["metadata"]["labels"]["networking.kserve.io/visibility"],
        "cluster-local"
    );
    assert_eq!(
        isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"],
        "Standard"
    );
    assert_eq!(p["securityContext"]["runAsUser"], 1000);

    let knative = format!(
        "{SVC}  inferencePlatform: kserve\n  annotations:\n    serving.kserve.io/deploymentMode: Knative\n"
    );
    let objs = render(&knative);
    let p = &find(&objs, "InferenceService", "svc")["spec"]["predictor"];
    let c = &p["containers"][0];
    assert_eq!(
        c["ports"],
        serde_json::json!([{"containerPort": 8000, "protocol": "TCP"}])
    );
    assert_eq!(
        c["livenessProbe"]["httpGet"]["port"], 8000,
        "numeric port in Knative mode"
    );
    assert_eq!(c["startupProbe"]["failureThreshold"], 30);
    assert!(
        p["securityContext"].is_null()
            && p["minReplicas"].is_null()
            && p["deploymentStrategy"].is_null()
    );

    assert_eq!(
        codes(&format!(
            "{knative}  scale:\n    enabled: true\n    hpa: {{maxReplicas: 2}}\n"
        )),
        ["NIMC022"]
    );
    assert_eq!(
        codes(&format!(
            "{SVC}  inferencePlatform: kserve\n  annotations:\n    serving.kserve.io/deploymentMode: Fast\n"
        )),
        ["NIMC022"]
    );
}

const MULTI: &str = "apiVersion: apps.nvidia.com/v1alpha1
kind: NIMService
metadata:
  name: big
  namespace: ns
  annotations:
    nimc/mpi-ssh-secret: my-key
spec:
  image: {repository: nvcr.io/nim/big, tag: '1'}
  authSecret: ngc
  storage: {pvc: {name: models, create: true, size: 1Ti, volumeAccessMode: ReadWriteMany}}
  replicas: 2
  expose: {service: {port: 8000}}
  multiNode:
    parallelism: {tensor: 4, pipeline: 3}
";

#[test]
fn multinode_renders_a_leader_worker_set() {
    let objs = render(MULTI);
    assert!(!objs.iter().any(|o| o["kind"] == "Deployment"));
    assert!(
        !objs.iter().any(|o| o["kind"] == "Secret"),
        "no key material is rendered"
    );
    let lws = find(&objs, "LeaderWorkerSet", "big-lws");
    assert_eq!(lws["spec"]["leaderWorkerTemplate"]["size"], 3);
    let leader = &lws["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"];
    let env = env_of(&leader["containers"][0]);
    assert!(env.contains(&("CLUSTER_START_TIMEOUT".to_string(), Some("300".to_string()))));
    assert!(env.contains(&("GPUS_PER_NODE".to_string(), Some("4".to_string()))));
    let ssh = leader["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "ssh-pk")
        .unwrap();
    assert_eq!(ssh["secret"]["secretName"], "my-key");
    let hosts = &find(&objs, "ConfigMap", "big-mpi-config")["data"];
    assert_eq!(
        hosts["hostfile-1"],
        "localhost slots=4\nbig-lws-1-1.big-lws.ns.svc slots=4\nbig-lws-1-2.big-lws.ns.svc slots=4\n"
    );
    assert_eq!(
        find(&objs, "Service", "big")["spec"]["selector"]["nim-llm-role"],
        "leader"
    );

    let ray = MULTI.replace(
        "    parallelism: {tensor: 4, pipeline: 3}\n",
        "    parallelism: {tensor: 4, pipeline: 3}\n    ray: {}\n",
    );
    let objs = render(&ray);
    assert!(
        !objs.iter().any(|o| o["kind"] == "ConfigMap"),
        "Ray mode has no MPI objects"
    );
    let worker = &find(&objs, "LeaderWorkerSet", "big-lws")["spec"]["leaderWorkerTemplate"]["workerTemplate"]
        ["spec"];
    assert_eq!(
        worker["containers"][0]["args"][2],
        "$(LWS_LEADER_ADDRESS):6379"
    );
    assert_eq!(
        worker["containers"][0]["startupProbe"]["exec"]["command"][2],
        "ray status"
    );

    let single = MULTI.replace("pipeline: 3", "pipeline: 1");
    assert_eq!(codes(&single), ["NIMC024"]);
    let objs = render(&single);
    assert_eq!(
        find(&objs, "Service", "big")["spec"]["selector"]["app"],
        "big"
    );
    assert!(objs.iter().any(|o| o["kind"] == "Deployment"));
    assert_eq!(codes(&MULTI.replace("  replicas: 2\n", "")), ["NIMC023"]);
}

#[test]
fn crd_constraints_are_enforced_with_their_position() {
    assert_eq!(
        codes(&MULTI.replace("pipeline: 3", "pipeline: 0")),
        ["NIMC026"]
    );
    assert_eq!(codes(&MULTI.replace("tensor: 4", "tensor: 0")), ["NIMC026"]);
    assert_eq!(
        codes(&MULTI.replace("replicas: 2", "replicas: -1")),
        ["NIMC026"]
    );
    assert_eq!(
        codes(&SVC.replace("port: 8000", "port: 70000")),
        ["NIMC026"]
    );
    let diags = compile(&SVC.replace("port: 8000", "port: 0"), &Facts::default()).diagnostics;
    assert_eq!(diags.len(), 1);
    assert_eq!(
        diags[0].message,
        "NIMService svc: spec.expose.service.port is 0; it must be between 1 and 65535"
    );
    assert_eq!(diags[0].span.unwrap().start.line, 15, "the `port: 0` line");
    // Required fields (a CRD default counts as present), enums, patterns, lengths.
    let missing = compile(&SVC.replace("    tag: '1.0'\n", ""), &Facts::default()).diagnostics;
    assert_eq!(
        (missing[0].code, missing[0].message.as_str()),
        (
            "NIMC026",
            "NIMService svc: spec.image is missing the required `tag`"
        ),
        "only the constraint is reported, not the operator rule (NIMC006) behind it"
    );
    assert_eq!(missing.len(), 1);
    for (extra, what) in [
        ("  inferencePlatform: kubeflow\n", "enum"),
        (
            "  metrics:\n    serviceMonitor:\n      interval: 30 seconds\n",
            "pattern",
        ),
        (
            "  draResources:\n  - claimCreationSpec:\n      generateName: much-too-long-a-prefix\n      devices: [{name: gpu}]\n",
            "length",
        ),
        (
            "  draResources:\n  - claimCreationSpec:\n      devices: [{count: 2}]\n",
            "required",
        ),
        (
            "  scale:\n    enabled: true\n    hpa: {minReplicas: 0, maxReplicas: 2}\n",
            "range",
        ),
    ] {
        assert_eq!(codes(&format!("{SVC}{extra}")), ["NIMC026"], "{what}");
    }
    // A device's count and class have CRD defaults, so only its name is required.
    assert!(
        codes(&format!(
            "{SVC}  draResources:\n  - claimCreationSpec:\n      devices: [{{name: gpu}}]\n"
        ))
        .is_empty()
    );
    // Inside a pipeline, the NIMService constraints apply to every service's spec.
    let pipeline = PIPELINE.replace(
        "tag: '1'}\n      authSecret: ngc\n      storage: {emptyDir: {}}\n  - name: rerank",
        "tag: '1'}\n      authSecret: ngc\n      storage: {emptyDir: {}}\n      replicas: -2\n  - name: rerank",
    );
    let diags = compile(&pipeline, &Facts::default()).diagnostics;
    let errors: Vec<_> = diags.iter().filter(|d| d.is_error()).collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(
        errors[0].message,
        "NIMPipeline rag: spec.services[1].spec.replicas is -2; it must be at least 0"
    );
}

#[test]
fn mpi_hostfiles_must_fit_in_a_config_map() {
    // A million hostfile lines cannot fit in one ConfigMap; the check stops counting early.
    let huge = MULTI
        .replace("replicas: 2", "replicas: 2000000000")
        .replace("pipeline: 3", "pipeline: 4000000000");
    assert_eq!(codes(&huge), ["NIMC023"]);
    assert_eq!(
        codes(&MULTI.replace("replicas: 2", "replicas: 100000")),
        ["NIMC023"]
    );
    assert!(codes(&MULTI.replace("replicas: 2", "replicas: 100")).is_empty());
}

#[test]
fn sync_waves_follow_pipeline_dependencies() {
    let facts = Facts {
        sync_waves: true,
        ..Facts::default()
    };
    // llm depends on embed; rerank (enabled here) depends on llm.
    let chained = PIPELINE.replace("enabled: false", "enabled: true")
        + "    dependencies:\n    - {name: llm, port: 8000}\n";
    let chained = chained.replace(
        "    - {name: rerank, port: 8000, envName: LLM_URL, envValue: 'http://self'}\n",
        "",
    );
    let objs = render_with(&chained, &facts);
    let wave = |name: &str| {
        find(&objs, "Deployment", name)["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
            .clone()
    };
    assert_eq!(
        (wave("embed"), wave("llm"), wave("rerank")),
        (
            serde_json::json!("1"),
            serde_json::json!("2"),
            serde_json::json!("3")
        )
    );
    // Without the option, no waves.
    let plain = render(&chained);
    assert!(
        find(&plain, "Deployment", "llm")["metadata"]["annotations"]
            .get("argocd.argoproj.io/sync-wave")
            .is_none()
    );
    // A cycle has no wave order: an error when waves are asked for.
    let cycle = PIPELINE.replace("enabled: false", "enabled: true")
        + "    dependencies:\n    - {name: llm, port: 8000}\n";
    let c = compile(&cycle, &facts);
    assert!(c.has_errors(), "{:#?}", c.diagnostics);
}

#[test]
fn pipeline_services_may_enable_metrics_without_a_service_monitor_block() {
    let with_metrics = PIPELINE.replace(
        "      expose: {service: {port: 8000}}\n",
        "      expose: {service: {port: 8000}}\n      metrics: {enabled: true}\n",
    );
    let objs = render(&with_metrics);
    assert_eq!(
        find(&objs, "ServiceMonitor", "llm")["spec"]["endpoints"][0]["path"],
        "/v1/metrics"
    );
}

#[test]
fn names_that_cannot_name_the_derived_objects_are_refused() {
    let long = "a".repeat(60);
    assert_eq!(
        codes(&SVC.replace("  name: svc\n", &format!("  name: {long}\n"))),
        ["NIMC025"]
    );
    assert_eq!(
        codes(&SVC.replace("  name: svc\n", "  name: 1svc\n")),
        ["NIMC025"]
    );
    assert_eq!(
        codes(&SVC.replace("  name: svc\n", "  name: Svc\n")),
        ["NIMC025"]
    );
    assert!(
        codes(&SVC.replace("  name: svc\n", &format!("  name: {}\n", "a".repeat(59)))).is_empty()
    );
}
