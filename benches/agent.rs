//! The status agent at scale: `nimc agent` (the release binary) against the in-process fake
//! API server holding 1,000 NIMServices and the objects nimc renders for them. Reports the
//! agent process's own CPU time and peak memory (from /proc) for the first full pass (list,
//! compute, 1,000 status patches), the latency from a Deployment change to its status patch,
//! and the CPU it spends idle; once with the services spread over 10 namespaces and once
//! with all of them in one.
//!
//! Run: `cargo bench --features agent --bench agent` (Linux: it reads /proc).

#[path = "../tests/it/fake_api.rs"]
#[allow(dead_code)]
mod fake_api;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fake_api::{FakeApi, cluster, deployment_status, nim_service};
use nimc::facts::Facts;
use serde_json::Value;

const SERVICES: usize = 1000;

fn main() {
    // Spread over 10 namespaces (a change recomputes one), then all in one (the worst case).
    for namespaces in [10, 1] {
        run(namespaces);
    }
}

fn run(namespaces: usize) {
    let resources: Vec<Value> = (0..SERVICES)
        .map(|i| nim_service(&format!("team-{}", i % namespaces), &format!("llm-{i:04}")))
        .collect();
    let api = cluster(&resources);
    let objects = api.objects().len();

    // One reconcile pass in-process: the pure part of the agent's work per change.
    let mut observed = nimc::status::Observed::default();
    api.objects().into_iter().for_each(|o| observed.insert(o));
    let facts = Facts::default();
    let models = Default::default();
    let t = Instant::now();
    let runs = 5;
    for _ in 0..runs {
        let pass =
            nimc::agent::reconcile::pass(&observed, &facts, &models, "2026-01-01T00:00:00Z", None);
        assert_eq!(pass.updates.len(), SERVICES);
    }
    let pass_ms = t.elapsed().as_secs_f64() * 1000.0 / runs as f64;

    let dir = std::env::temp_dir().join(format!("nimc-agent-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, api.kubeconfig("bench")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let mut agent = Command::new(env!("CARGO_BIN_EXE_nimc"))
        .args([
            "agent",
            "--lease-namespace",
            "nimc-system",
            "--identity",
            "bench",
        ])
        .args([
            "--health-addr",
            &addr,
            "--metrics-addr",
            &addr,
            "--no-model-probe",
        ])
        .env("KUBECONFIG", &kubeconfig)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nimc agent (build with --features agent)");
    let pid = agent.id();

    let written = |api: &FakeApi| {
        api.objects()
            .iter()
            .filter(|o| o["kind"] == "NIMService" && o["status"]["state"] == "Ready")
            .count()
    };
    assert!(
        api.wait_until(Duration::from_secs(300), |a| written(a) == SERVICES),
        "the agent did not write every status"
    );
    let converged = started.elapsed();
    let cpu_first = cpu_seconds(pid);
    let rss_first = memory_kib(pid, "VmRSS");

    // Change one Deployment at a time and time the status patch.
    let mut latencies = Vec::new();
    for round in 0..20usize {
        let i = (round * 37) % SERVICES;
        let (ns, name) = (format!("team-{}", i % namespaces), format!("llm-{i:04}"));
        for ready_now in [false, true] {
            let t = Instant::now();
            api.update("apps/v1", "Deployment", &ns, &name, |d| {
                d["status"] = deployment_status(ready_now)
            });
            let want = if ready_now { "Ready" } else { "NotReady" };
            assert!(api.wait_until(Duration::from_secs(30), |a| {
                a.get("apps.nvidia.com/v1alpha1", "NIMService", &ns, &name)
                    .is_some_and(|o| o["status"]["state"] == want)
            }));
            latencies.push(t.elapsed());
        }
    }
    latencies.sort();
    let cpu_changes = cpu_seconds(pid) - cpu_first;

    std::thread::sleep(Duration::from_secs(2));
    let idle_from = cpu_seconds(pid);
    std::thread::sleep(Duration::from_secs(10));
    let idle = cpu_seconds(pid) - idle_from;
    let peak = memory_kib(pid, "VmHWM");
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = agent.wait();
    let _ = std::fs::remove_dir_all(&dir);

    println!(
        "nimc agent, {SERVICES} NIMServices in {namespaces} namespaces, {objects} live objects"
    );
    println!(
        "  one reconcile pass in-process (compile, statuses, drift of every object): {pass_ms:.0} ms"
    );
    println!(
        "  first full pass (list, compute, {SERVICES} status patches): {:.2} s wall, {cpu_first:.2} s CPU",
        converged.as_secs_f64()
    );
    println!(
        "  resident memory after it: {:.1} MiB; peak over the run: {:.1} MiB",
        rss_first as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    println!(
        "  Deployment change -> status patch: median {:.0} ms, max {:.0} ms ({} changes, {:.2} s CPU in all)",
        latencies[latencies.len() / 2].as_secs_f64() * 1000.0,
        latencies.last().unwrap().as_secs_f64() * 1000.0,
        latencies.len(),
        cpu_changes
    );
    println!("  idle: {idle:.2} s CPU in 10 s");
}

/// User plus system CPU time of `pid`, in seconds (clock ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, s)| s).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command.
    (ticks(11) + ticks(12)) / 100.0
}

/// A memory figure of `pid` from /proc/PID/status, in KiB.
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
