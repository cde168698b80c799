//! Leader election with a `coordination.k8s.io/v1` Lease, the way client-go's leader
//! election works: the holder renews `renewTime` every retry period; a candidate takes the
//! lease over when it is free or when its record has not changed for a whole lease duration
//! (measured on the candidate's own clock, so clock skew between nodes does not matter).
//! Every write carries the `resourceVersion` it read, so of two candidates only one wins.
//! A leader that cannot renew within the renew deadline stops writing before its lease can
//! expire; on shutdown it releases the lease so the next replica takes over at once.
//!
//! The lease name is nimc's own (`nimc-agent` by default), never the operator's
//! `a0715c6e.nvidia.com`.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;
use tokio::sync::watch;

use super::log;

/// Where and how to hold the lease.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    /// This replica's identity (the pod name).
    pub identity: String,
    pub duration: Duration,
    /// How often the holder renews and a candidate retries.
    pub retry: Duration,
}

impl LeaseConfig {
    /// A leader that has not renewed for this long stops acting (client-go's RenewDeadline:
    /// two thirds of the lease duration).
    pub fn renew_deadline(&self) -> Duration {
        self.duration * 2 / 3
    }

    /// client-go's rule: the renew deadline must leave room for retries (with their jitter),
    /// or replicas would take the lease from each other.
    pub fn check(&self) -> Result<(), String> {
        if self.renew_deadline().as_secs_f64() <= self.retry.as_secs_f64() * 1.2 {
            return Err(format!(
                "--lease-duration ({:?}) must be more than 1.8 times --lease-retry ({:?})",
                self.duration, self.retry
            ));
        }
        Ok(())
    }
}

/// What a candidate last saw of the lease, and when it first saw it.
struct Seen {
    holder: Option<String>,
    renew_time: Option<Timestamp>,
    since: Instant,
}

/// Hold or wait for the lease until `shutdown` turns true, publishing leadership on `leader`.
pub async fn elect(
    api: Api<Lease>,
    config: LeaseConfig,
    leader: watch::Sender<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut seen: Option<Seen> = None;
    let mut renewed: Option<Instant> = None;
    loop {
        // Each round must end within the renew deadline: a leader that cannot renew by then
        // stops writing before another replica can take the Lease.
        let round =
            tokio::time::timeout(config.renew_deadline(), attempt(&api, &config, &mut seen));
        let held = match round.await.unwrap_or_else(|_| Err(Failure::Timeout)) {
            Ok(held) => {
                if held {
                    renewed = Some(Instant::now());
                }
                held
            }
            Err(e) => {
                log::warn(
                    "lease: no answer from the API server",
                    json!({"lease": config.name, "error": e.to_string()}),
                );
                // Keep leading only while the last renewal is within the renew deadline.
                renewed.is_some_and(|t| t.elapsed() < config.renew_deadline())
            }
        };
        if !held {
            renewed = None;
        }
        if *leader.borrow() != held {
            let msg = if held {
                "lease: acquired, writing statuses"
            } else {
                "lease: not the leader, standing by"
            };
            log::info(
                msg,
                json!({"lease": config.name, "identity": config.identity}),
            );
            let _ = leader.send(held);
        }
        tokio::select! {
            _ = tokio::time::sleep(config.retry) => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            break;
        }
    }
    if *leader.borrow() {
        let _ = leader.send(false);
        let released = tokio::time::timeout(config.renew_deadline(), release(&api, &config));
        match released.await.unwrap_or_else(|_| Err(Failure::Timeout)) {
            Ok(()) => log::info("lease: released", json!({"lease": config.name})),
            Err(e) => log::warn(
                "lease: could not release; the next replica takes over when it expires",
                json!({"lease": config.name, "error": e.to_string()}),
            ),
        }
    }
}

/// Why a round failed.
enum Failure {
    Api(kube::Error),
    /// No answer within the renew deadline.
    Timeout,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Api(e) => e.fmt(f),
            Failure::Timeout => f.write_str("no answer within the renew deadline"),
        }
    }
}

impl From<kube::Error> for Failure {
    fn from(e: kube::Error) -> Failure {
        Failure::Api(e)
    }
}

/// One round: read the lease and renew, take or create it when allowed. `Ok(true)` when this
/// replica holds it afterwards.
async fn attempt(
    api: &Api<Lease>,
    config: &LeaseConfig,
    seen: &mut Option<Seen>,
) -> Result<bool, Failure> {
    let now = MicroTime(Timestamp::now());
    let Some(mut lease) = api.get_opt(&config.name).await? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(config.name.clone()),
                namespace: Some(config.namespace.clone()),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(config.identity.clone()),
                lease_duration_seconds: Some(duration_secs(config.duration)),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(0),
                ..Default::default()
            }),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e.into()),
        };
    };
    let spec = lease.spec.get_or_insert_with(Default::default);
    let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
    let renew_time = spec.renew_time.as_ref().map(|t| t.0);
    let mine = holder.as_deref() == Some(config.identity.as_str());
    if !mine {
        // The record changed since we last looked: the holder is alive; start the clock again.
        let changed = seen
            .as_ref()
            .is_none_or(|s| s.holder != holder || s.renew_time != renew_time);
        if changed {
            *seen = Some(Seen {
                holder: holder.clone(),
                renew_time,
                since: Instant::now(),
            });
        }
        let held_for = Duration::from_secs(
            u64::try_from(spec.lease_duration_seconds.unwrap_or(15)).unwrap_or(15),
        );
        let expired = seen.as_ref().is_some_and(|s| s.since.elapsed() >= held_for);
        if holder.is_some() && !expired {
            return Ok(false);
        }
        spec.acquire_time = Some(now.clone());
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
    }
    spec.holder_identity = Some(config.identity.clone());
    spec.lease_duration_seconds = Some(duration_secs(config.duration));
    spec.renew_time = Some(now);
    match api
        .replace(&config.name, &PostParams::default(), &lease)
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Give the lease up: no holder, so a candidate takes it on its next round.
async fn release(api: &Api<Lease>, config: &LeaseConfig) -> Result<(), Failure> {
    let mut lease = api.get(&config.name).await?;
    let spec = lease.spec.get_or_insert_with(Default::default);
    if spec.holder_identity.as_deref() != Some(config.identity.as_str()) {
        return Ok(());
    }
    spec.holder_identity = None;
    spec.lease_duration_seconds = Some(1);
    spec.renew_time = Some(MicroTime(Timestamp::now()));
    api.replace(&config.name, &PostParams::default(), &lease)
        .await
        .map(|_| ())
        .map_err(Failure::Api)
}

/// The Lease records whole seconds: round up, so no candidate takes it over early.
fn duration_secs(d: Duration) -> i32 {
    i32::try_from(d.as_secs_f64().ceil().max(1.0) as u64).unwrap_or(i32::MAX)
}
