//! `cargo bench`: how fast nimc renders.
//!
//! 1. Throughput: 10,000 NIMServices (each with a PVC it creates, a router Ingress, an HPA and
//!    a ServiceMonitor: 9 objects apiece) compiled from YAML text to YAML text through the
//!    library, using every core (rayon). Target: at most 60 us of wall time per NIMService.
//! 2. Latency: one NIMService rendered by a fresh `nimc` process. Target: under 20 ms.
//!
//! Prints the figures; it asserts nothing (speed belongs here, not in tests).

use std::time::{Duration, Instant};

/// The same allocator as the `nimc` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use nimc::facts::Facts;
use nimc::source::Sources;

const SERVICES: usize = 10_000;
const PER_FILE: usize = 100;

fn service(i: usize) -> String {
    format!(
        "apiVersion: apps.nvidia.com/v1alpha1
kind: NIMService
metadata:
  name: llm-{i:05}
  namespace: team-{ns}
spec:
  image:
    repository: nvcr.io/nim/meta/llama-3.1-8b-instruct
    tag: \"1.8.4\"
    pullPolicy: IfNotPresent
    pullSecrets: [ngc-secret]
  authSecret: ngc-api-secret
  storage:
    pvc:
      create: true
      size: 50Gi
      volumeAccessMode: ReadWriteOnce
  resources:
    limits:
      nvidia.com/gpu: 1
  expose:
    service:
      port: 8000
    router:
      hostDomainName: models.example.com
      ingress:
        ingressClass: nginx
        tlsSecretName: models-tls
  scale:
    enabled: true
    hpa:
      minReplicas: 1
      maxReplicas: 4
      metrics:
        - type: Pods
          pods:
            metric:
              name: gpu_cache_usage_perc
            target:
              type: AverageValue
              averageValue: \"0.75\"
  metrics:
    enabled: true
    serviceMonitor:
      interval: 30s
      additionalLabels:
        release: prometheus
",
        ns = i % 50
    )
}

fn sources() -> Sources {
    Sources::from_texts((0..SERVICES / PER_FILE).map(|f| {
        let text = (0..PER_FILE)
            .map(|j| service(f * PER_FILE + j))
            .collect::<Vec<_>>()
            .join("---\n");
        (format!("repo/{f:03}.yaml"), text)
    }))
}

/// Output sink that counts bytes (what `nimc render` writes to stdout).
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0 += b.len();
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() {
    let sources = sources();
    let facts = Facts::default();
    let threads = rayon::current_num_threads();

    let mut times = Vec::new();
    let mut objects = 0;
    let mut bytes = 0;
    for _ in 0..6 {
        let start = Instant::now();
        let c = nimc::compile(&sources, &facts);
        let mut out = Counter(0);
        nimc::manifest::write_yaml(&c.objects, &mut out).unwrap();
        times.push(start.elapsed());
        assert!(!c.has_errors());
        objects = c.objects.len();
        bytes = out.0;
    }
    times.remove(0); // warm-up
    if std::env::var_os("NIMC_BENCH_PHASES").is_some() {
        let t = Instant::now();
        let (mut input, _) = nimc::load::load(&sources);
        println!("load {:?}", t.elapsed());
        let t = Instant::now();
        let (model, _) = nimc::resolve::resolve(&mut input, &facts, false);
        println!("resolve {:?}", t.elapsed());
        let t = Instant::now();
        let objs = nimc::render::render(model, &facts, false);
        println!("render+serialise {:?}", t.elapsed());
        let t = Instant::now();
        let mut out = Counter(0);
        nimc::manifest::write_yaml(&objs, &mut out).unwrap();
        println!("write {:?} {}", t.elapsed(), out.0);
    }
    times.sort();
    let per_cr = |d: Duration| d.as_secs_f64() * 1e6 / SERVICES as f64;
    println!(
        "throughput: {SERVICES} NIMServices -> {objects} objects ({:.1} MB of YAML) on {threads} threads",
        bytes as f64 / 1e6
    );
    println!(
        "  wall time: best {:.1} ms, median {:.1} ms = {:.1} us per NIMService (target <= 60 us)",
        times[0].as_secs_f64() * 1e3,
        times[times.len() / 2].as_secs_f64() * 1e3,
        per_cr(times[times.len() / 2])
    );

    let dir = std::env::temp_dir().join(format!("nimc-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("svc.yaml"), service(0)).unwrap();
    let mut cold = Vec::new();
    for _ in 0..30 {
        let start = Instant::now();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_nimc"))
            .arg("render")
            .arg(dir.join("svc.yaml"))
            .output()
            .unwrap();
        cold.push(start.elapsed());
        assert!(out.status.success());
    }
    let _ = std::fs::remove_dir_all(&dir);
    cold.sort();
    println!(
        "latency: one NIMService from a fresh process: median {:.2} ms, best {:.2} ms (target < 20 ms)",
        cold[cold.len() / 2].as_secs_f64() * 1e3,
        cold[0].as_secs_f64() * 1e3
    );
}
