//! The agent's HTTP endpoints and the numbers behind them: `/healthz` (the process runs),
//! `/readyz` (every watch has listed once) and `/metrics` in the Prometheus text format.
//! Besides nimc's own series, the per-state gauges carry the operator's names
//! (`nimService_status_total{status=...}` and its siblings) so dashboards built for the
//! operator keep working.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Upper bounds of the pass-duration histogram, in seconds.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// The states the operator's gauges always export, per kind (§3.3), besides `all`.
const KNOWN_STATES: [(&str, &str, &[&str]); 3] = [
    (
        "NIMCache",
        "nimCache_status_total",
        &[
            "Failed",
            "InProgress",
            "Ready",
            "NotReady",
            "PVC-Created",
            "Pending",
            "Started",
            "Unknown",
        ],
    ),
    (
        "NIMService",
        "nimService_status_total",
        &["Failed", "Ready", "Pending", "NotReady", "Unknown"],
    ),
    (
        "NIMPipeline",
        "nimPipeline_status_total",
        &["Failed", "Ready", "NotReady", "Unknown"],
    ),
];

/// Counters and gauges, updated by the agent's tasks.
#[derive(Debug, Default)]
pub struct Metrics {
    pub passes: u64,
    pub pass_errors: u64,
    pass_buckets: [u64; BUCKETS.len()],
    pass_seconds_sum: f64,
    /// Status patches by result (`ok`, `conflict`, `error`).
    pub patches: BTreeMap<&'static str, u64>,
    /// Watch events and errors by kind.
    pub watch_events: BTreeMap<&'static str, u64>,
    pub watch_errors: BTreeMap<&'static str, u64>,
    pub rejected: usize,
    pub leader: bool,
    /// Live objects held by the watches, by kind.
    pub objects: BTreeMap<&'static str, usize>,
    /// Resources by kind and state, from the last pass.
    pub states: BTreeMap<&'static str, BTreeMap<String, usize>>,
}

impl Metrics {
    pub fn observe_pass(&mut self, seconds: f64) {
        self.passes += 1;
        self.pass_seconds_sum += seconds;
        for (i, le) in BUCKETS.iter().enumerate() {
            if seconds <= *le {
                self.pass_buckets[i] += 1;
            }
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let counted = |key: &str, m: &BTreeMap<&'static str, u64>| -> Vec<(String, String)> {
            m.iter()
                .map(|(k, n)| (label(key, k), n.to_string()))
                .collect()
        };
        family(
            &mut o,
            "nimc_agent_reconcile_total",
            "counter",
            "Reconcile passes run.",
            [(String::new(), self.passes.to_string())],
        );
        family(
            &mut o,
            "nimc_agent_reconcile_errors_total",
            "counter",
            "Reconcile passes that could not write every status.",
            [(String::new(), self.pass_errors.to_string())],
        );
        let buckets = BUCKETS
            .iter()
            .zip(self.pass_buckets)
            .map(|(le, n)| (format!("_bucket{}", label("le", le)), n.to_string()));
        family(
            &mut o,
            "nimc_agent_reconcile_duration_seconds",
            "histogram",
            "Time to compute the statuses of every resource.",
            buckets.chain([
                (
                    format!("_bucket{}", label("le", "+Inf")),
                    self.passes.to_string(),
                ),
                ("_sum".into(), self.pass_seconds_sum.to_string()),
                ("_count".into(), self.passes.to_string()),
            ]),
        );
        let patches = ["ok", "conflict", "error"].map(|r| {
            (
                label("result", r),
                self.patches.get(r).copied().unwrap_or(0).to_string(),
            )
        });
        family(
            &mut o,
            "nimc_agent_status_patches_total",
            "counter",
            "Status patches sent, by result.",
            patches,
        );
        family(
            &mut o,
            "nimc_agent_watch_events_total",
            "counter",
            "Watch events received, by kind.",
            counted("kind", &self.watch_events),
        );
        family(
            &mut o,
            "nimc_agent_watch_errors_total",
            "counter",
            "Watch errors (each followed by a retry), by kind.",
            counted("kind", &self.watch_errors),
        );
        let objects = self
            .objects
            .iter()
            .map(|(k, n)| (label("kind", k), n.to_string()));
        family(
            &mut o,
            "nimc_agent_objects",
            "gauge",
            "Live objects held by the watches, by kind.",
            objects,
        );
        family(
            &mut o,
            "nimc_agent_rejected_resources",
            "gauge",
            "NIM resources nimc cannot compile (their status says why).",
            [(String::new(), self.rejected.to_string())],
        );
        family(
            &mut o,
            "nimc_agent_leader",
            "gauge",
            "1 while this replica holds the lease and writes statuses.",
            [(String::new(), u8::from(self.leader).to_string())],
        );
        for (kind, name, known) in KNOWN_STATES {
            let mut series: BTreeMap<String, usize> =
                known.iter().map(|s| (s.to_string(), 0)).collect();
            let mut all = 0;
            for (state, n) in self.states.get(kind).into_iter().flatten() {
                let state = if state.is_empty() {
                    "Unknown"
                } else {
                    state.as_str()
                };
                *series.entry(state.to_string()).or_default() += n;
                all += n;
            }
            series.insert("all".into(), all);
            family(
                &mut o,
                name,
                "gauge",
                &format!("{kind} resources by status.state, as the operator exports them."),
                series
                    .iter()
                    .map(|(state, n)| (label("status", state), n.to_string())),
            );
        }
        o
    }
}

/// One metric family: its HELP and TYPE lines, then each sample as (what follows the name:
/// a suffix and/or labels, value).
fn family(
    o: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    samples: impl IntoIterator<Item = (String, String)>,
) {
    let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (rest, value) in samples {
        let _ = writeln!(o, "{name}{rest} {value}");
    }
}

/// `{key="value"}`.
fn label(key: &str, value: impl std::fmt::Display) -> String {
    format!("{{{key}=\"{value}\"}}")
}

/// What the endpoints read.
#[derive(Debug, Default)]
pub struct Shared {
    pub metrics: Mutex<Metrics>,
    /// Set once every watch has listed.
    pub ready: AtomicBool,
}

impl Shared {
    /// Update the metrics (a poisoned lock still holds usable numbers).
    pub fn with_metrics<R>(&self, f: impl FnOnce(&mut Metrics) -> R) -> R {
        let mut m = self.metrics.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut m)
    }
}

/// Serve the endpoints on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, shared: std::sync::Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors, say: wait instead of spinning.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let deadline = std::time::Duration::from_secs(5);
            let _ = tokio::time::timeout(deadline, answer(stream, &shared)).await;
        });
    }
}

async fn answer(mut stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 8192 {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let request = String::from_utf8_lossy(&buf);
    let mut parts = request.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET", "/healthz") => ("200 OK", "text/plain", "ok\n".to_string()),
        ("GET", "/readyz") if shared.ready.load(Ordering::Relaxed) => {
            ("200 OK", "text/plain", "ok\n".to_string())
        }
        ("GET", "/readyz") => (
            "503 Service Unavailable",
            "text/plain",
            "the watches have not listed every kind yet\n".to_string(),
        ),
        ("GET", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4",
            shared.with_metrics(|m| m.render()),
        ),
        _ => ("404 Not Found", "text/plain", "not found\n".to_string()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::Metrics;

    #[test]
    fn the_exposition_has_every_family_and_the_operators_gauges() {
        let mut m = Metrics::default();
        m.observe_pass(0.02);
        m.patches.insert("ok", 3);
        m.watch_events.insert("Deployment", 5);
        m.objects.insert("Service", 2);
        m.leader = true;
        m.states
            .entry("NIMService")
            .or_default()
            .extend([("Ready".to_string(), 2), (String::new(), 1)]);
        let text = m.render();
        for line in [
            "# HELP nimc_agent_reconcile_total Reconcile passes run.",
            "# TYPE nimc_agent_reconcile_total counter",
            "nimc_agent_reconcile_total 1",
            "nimc_agent_reconcile_duration_seconds_bucket{le=\"0.01\"} 0",
            "nimc_agent_reconcile_duration_seconds_bucket{le=\"0.025\"} 1",
            "nimc_agent_reconcile_duration_seconds_bucket{le=\"+Inf\"} 1",
            "nimc_agent_reconcile_duration_seconds_sum 0.02",
            "nimc_agent_reconcile_duration_seconds_count 1",
            "nimc_agent_status_patches_total{result=\"ok\"} 3",
            "nimc_agent_status_patches_total{result=\"error\"} 0",
            "nimc_agent_watch_events_total{kind=\"Deployment\"} 5",
            "nimc_agent_objects{kind=\"Service\"} 2",
            "nimc_agent_leader 1",
            "nimService_status_total{status=\"Ready\"} 2",
            "nimService_status_total{status=\"Unknown\"} 1",
            "nimService_status_total{status=\"all\"} 3",
            "nimCache_status_total{status=\"all\"} 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from:\n{text}"
            );
        }
    }
}
