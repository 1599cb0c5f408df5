//! The worker: claims jobs from the store's queue and runs their handlers. It runs inside
//! `vouch serve` by default and alone as `vouch worker` when scaling out; any number of
//! workers share one database because claims are leased and fenced by attempt.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;
use vouch_core::clock::now_ms;
use vouch_store::jobs::{Claimed, Failure, JobSpec};
use vouch_store::{Store, campaigns, outbox, rewards};

pub type JobFuture = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;
type Handler = Arc<dyn Fn(Store, Claimed) -> JobFuture + Send + Sync>;

/// The job `vouch jobs probe` enqueues: proves a worker is alive and, in tests, that a job's
/// effect happens once across crashes and competing workers.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    pub key: String,
    /// Makes the probe take this long (capped at ten minutes).
    #[serde(default)]
    pub sleep_ms: u64,
    /// Makes the probe fail, to watch retries.
    #[serde(default)]
    pub fail: bool,
}

impl JobSpec for Probe {
    const KIND: &'static str = "system.probe";
}

pub const PROBE_JOB: &str = Probe::KIND;

/// A failure that retrying cannot fix (bad payload, unknown kind): the job goes dead at once.
#[derive(Debug)]
pub struct Permanent(pub String);

impl std::fmt::Display for Permanent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Permanent {}

/// Job handlers by kind.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<String, Handler>,
}

impl Registry {
    pub fn empty() -> Self {
        Self::default()
    }

    /// The handlers every Vouch worker runs.
    pub fn builtin() -> Self {
        let mut r = Self::empty();
        r.handle(dispatch_event);
        r.handle(run_probe);
        r.handle(release_reward);
        r.handle(campaign_edge);
        r
    }

    /// Registers the handler of a typed job. A payload that does not parse as `J` fails the
    /// job permanently: retrying cannot fix it.
    pub fn handle<J, F, Fut>(&mut self, f: F)
    where
        J: JobSpec,
        F: Fn(Store, J) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let f = Arc::new(f);
        self.register(J::KIND, move |store, job: Claimed| {
            let f = f.clone();
            async move {
                let payload = serde_json::from_value::<J>(job.payload.clone()).map_err(|e| {
                    Permanent(format!("the payload of {} is not valid: {e}", J::KIND))
                })?;
                f(store, payload).await
            }
        });
    }

    /// Registers a handler for an untyped kind, which receives the raw claimed job.
    pub fn register<F, Fut>(&mut self, kind: &str, f: F)
    where
        F: Fn(Store, Claimed) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        self.handlers
            .insert(kind.to_string(), Arc::new(move |s, j| Box::pin(f(s, j))));
    }
}

/// A dispatch job an earlier version enqueued for one event: marks it dispatched unless the
/// relay ([`outbox::relay`]) already did.
async fn dispatch_event(store: Store, job: outbox::DispatchEvent) -> anyhow::Result<()> {
    let id = job.event_id;
    outbox::by_id(&mut store.read().await?, id)
        .await?
        .ok_or_else(|| Permanent(format!("event {id} does not exist")))?;
    outbox::mark_dispatched(&store, id, now_ms()).await?;
    Ok(())
}

/// Events the relay hands on per transaction.
pub const RELAY_BATCH: i64 = 200;

/// Ends a reward's hold at its instant (approval, fulfilment, or the approval queue).
async fn release_reward(store: Store, job: rewards::ReleaseReward) -> anyhow::Result<()> {
    rewards::release(&store, job.workspace_id, job.reward_id, now_ms()).await?;
    Ok(())
}

/// Announces a campaign's start or end.
async fn campaign_edge(store: Store, job: campaigns::CampaignEdge) -> anyhow::Result<()> {
    campaigns::run_edge(&store, &job).await?;
    Ok(())
}

async fn run_probe(store: Store, probe: Probe) -> anyhow::Result<()> {
    tokio::time::sleep(Duration::from_millis(probe.sleep_ms.min(600_000))).await;
    if probe.fail {
        anyhow::bail!("probe {} was asked to fail", probe.key);
    }
    store.record_probe(&probe.key, now_ms()).await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Names this worker in `locked_by`, for operators reading the queue.
    pub id: String,
    pub concurrency: usize,
    pub poll_interval: Duration,
    pub lease: Duration,
    /// How long a shutdown waits for running jobs before leaving them to their leases.
    pub drain_timeout: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            id: format!("worker-{}", std::process::id()),
            concurrency: 4,
            poll_interval: Duration::from_millis(500),
            lease: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(30),
        }
    }
}

pub struct Worker {
    store: Store,
    registry: Arc<Registry>,
    config: WorkerConfig,
}

impl Worker {
    pub fn new(store: Store, registry: Registry, config: WorkerConfig) -> Self {
        Self {
            store,
            registry: Arc::new(registry),
            config,
        }
    }

    /// Claims and runs jobs until `shutdown` turns true, then drains running jobs.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut running = JoinSet::new();
        let mut last_sweep = 0;
        tracing::info!(worker = %self.config.id, "worker started");
        while !*shutdown.borrow() {
            // Finished jobs free their slots even when the loop does not wait (relaying).
            while running.try_join_next().is_some() {}
            let free = self.config.concurrency.saturating_sub(running.len());
            let mut claimed = 0;
            if free > 0 {
                match self.claim(free as i64).await {
                    Ok(jobs) => {
                        claimed = jobs.len();
                        for job in jobs {
                            running.spawn(run_job(
                                self.store.clone(),
                                self.registry.clone(),
                                job,
                                self.config.lease,
                            ));
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "claiming jobs failed; will retry"),
                }
            }
            let relayed = match self.relay_events().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "relaying outbox events failed; will retry");
                    0
                }
            };
            if now_ms() - last_sweep > 600_000 {
                last_sweep = now_ms();
                self.sweep().await;
            }
            if relayed as i64 == RELAY_BATCH {
                // More events are waiting: relay again without sleeping.
                continue;
            }
            if claimed > 0 && claimed == free {
                // A full batch: there may be more waiting; look again once a slot frees up.
                tokio::select! {
                    _ = running.join_next() => {}
                    _ = shutdown.changed() => {}
                }
            } else {
                tokio::select! {
                    _ = tokio::time::sleep(self.config.poll_interval) => {}
                    Some(_) = running.join_next(), if !running.is_empty() => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
        tracing::info!(
            running = running.len(),
            "worker stopping; draining running jobs"
        );
        let drain = async { while running.join_next().await.is_some() {} };
        if tokio::time::timeout(self.config.drain_timeout, drain)
            .await
            .is_err()
        {
            tracing::warn!("drain timed out; unfinished jobs return when their leases expire");
        }
    }

    /// Hands on one batch of the outbox's pending events; returns how many.
    pub async fn relay_events(&self) -> vouch_store::Result<usize> {
        Ok(outbox::relay(&self.store, RELAY_BATCH, now_ms())
            .await?
            .len())
    }

    /// Relays pending events, then claims one batch of jobs and runs it to the end: for tests
    /// and `vouch jobs run-once`. Returns the number of jobs run.
    pub async fn run_batch(&self) -> anyhow::Result<usize> {
        self.relay_events().await?;
        let jobs = self.claim(self.config.concurrency as i64).await?;
        let n = jobs.len();
        let mut set = JoinSet::new();
        for job in jobs {
            set.spawn(run_job(
                self.store.clone(),
                self.registry.clone(),
                job,
                self.config.lease,
            ));
        }
        while set.join_next().await.is_some() {}
        Ok(n)
    }

    async fn claim(&self, limit: i64) -> vouch_store::Result<Vec<Claimed>> {
        let lease = self.config.lease.as_millis() as i64;
        self.store
            .claim_jobs(&self.config.id, limit, lease, now_ms())
            .await
    }

    async fn sweep(&self) {
        let result =
            async { vouch_store::accounts::delete_expired_sessions(&self.store, now_ms()).await }
                .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "removing expired sessions failed");
        }
    }
}

async fn run_job(store: Store, registry: Arc<Registry>, job: Claimed, lease: Duration) {
    let heartbeat = {
        let (store, job) = (store.clone(), job.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(lease / 3);
            tick.tick().await;
            loop {
                tick.tick().await;
                let until = now_ms() + lease.as_millis() as i64;
                match store.extend_lease(&job, until).await {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => tracing::warn!(error = %e, "extending a job lease failed"),
                }
            }
        })
    };
    let outcome = match registry.handlers.get(&job.kind) {
        // A handler runs in its own task so that a panic fails the attempt instead of the worker.
        Some(handler) => match tokio::spawn(handler(store.clone(), job.clone())).await {
            Ok(result) => result,
            Err(e) => Err(anyhow::anyhow!("the job handler panicked: {e}")),
        },
        None => Err(Permanent(format!("no handler for job kind {:?}", job.kind)).into()),
    };
    heartbeat.abort();
    let now = now_ms();
    let recorded = match &outcome {
        Ok(()) => store.complete_job(&job, now).await.map(|ok| {
            if !ok {
                tracing::warn!(job = job.id, "job finished after its lease was lost");
            }
        }),
        Err(e) => {
            let permanent = e.downcast_ref::<Permanent>().is_some();
            store
                .fail_job(&job, &format!("{e:#}"), permanent, now)
                .await
                .map(|f| match f {
                    Failure::RetryAt(at) => {
                        tracing::warn!(job = job.id, kind = %job.kind, error = %e, retry_in_ms = at - now, "job failed; will retry")
                    }
                    Failure::Dead => tracing::error!(job = job.id, kind = %job.kind, error = %e, "job failed for good"),
                    Failure::Stale => tracing::warn!(job = job.id, "job failed after its lease was lost"),
                })
        }
    };
    if let Err(e) = recorded {
        tracing::error!(job = job.id, error = %e, "recording a job's outcome failed; its lease will bring it back");
    }
}
