//! The durable job queue, in the same database as the data so a job is enqueued inside the
//! transaction of the change that needs it. Claims take a lease; a worker that dies loses its
//! lease and the job comes back. Failures retry with exponential backoff, then go dead.
//! Claiming is the one place the backends differ: `BEGIN IMMEDIATE` on SQLite serialises
//! claimers; `FOR UPDATE SKIP LOCKED` on PostgreSQL lets them pass each other.

use crate::rows::{self, Job, SystemProbe};
use crate::{Backend, Conn, Millis, Result, Store};
use sqlx::Row;

pub const DEFAULT_MAX_ATTEMPTS: i64 = 8;

/// A typed job: its kind names the handler, its fields are the payload.
pub trait JobSpec: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static {
    const KIND: &'static str;
}

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: String,
    pub payload: serde_json::Value,
    pub workspace_id: Option<i64>,
    /// Run no earlier than this instant (now when `None`).
    pub run_at: Option<Millis>,
    pub max_attempts: i64,
    /// Names the job's cause: a second enqueue with the same key is a no-op, forever.
    pub dedupe_key: Option<String>,
}

impl NewJob {
    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> Self {
        Self {
            kind: kind.into(),
            payload,
            workspace_id: None,
            run_at: None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            dedupe_key: None,
        }
    }
    /// A job from its typed payload.
    pub fn of<J: JobSpec>(job: &J) -> Self {
        Self::new(
            J::KIND,
            serde_json::to_value(job).expect("job payloads serialise to JSON"),
        )
    }

    pub fn workspace(mut self, id: i64) -> Self {
        self.workspace_id = Some(id);
        self
    }
    pub fn dedupe(mut self, key: impl Into<String>) -> Self {
        self.dedupe_key = Some(key.into());
        self
    }
    pub fn at(mut self, run_at: Millis) -> Self {
        self.run_at = Some(run_at);
        self
    }
    pub fn max_attempts(mut self, n: i64) -> Self {
        self.max_attempts = n.max(1);
        self
    }
}

/// Enqueues `job` on `c` (usually the caller's transaction). Returns the new job's id, or
/// `None` when a job with the same dedupe key already exists.
pub async fn enqueue(c: &mut Conn, job: &NewJob, now: Millis) -> Result<Option<i64>> {
    let row = sqlx::query(
        "INSERT INTO jobs (workspace_id, kind, payload, status, attempts, max_attempts, run_at,
            dedupe_key, created_at, updated_at)
         VALUES ($1, $2, $3, 'queued', 0, $4, $5, $6, $7, $7)
         ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
    )
    .bind(job.workspace_id)
    .bind(job.kind.clone())
    .bind(job.payload.to_string())
    .bind(job.max_attempts)
    .bind(job.run_at.unwrap_or(now))
    .bind(job.dedupe_key.clone())
    .bind(now)
    .fetch_optional(&mut *c)
    .await?;
    Ok(row.map(|r| r.try_get("id")).transpose()?)
}

/// A job a worker holds under lease. `attempt` fences the lease: a worker whose lease ran out
/// can no longer complete or fail the job, because the next claim bumped the attempt.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: i64,
    pub workspace_id: Option<i64>,
    pub kind: String,
    pub payload: serde_json::Value,
    pub attempt: i64,
    pub max_attempts: i64,
}

/// What became of a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    RetryAt(Millis),
    Dead,
    /// The lease was lost meanwhile; another attempt owns the job.
    Stale,
}

/// Delay before attempt `attempt + 1`: 1 s, 2 s, 4 s … capped at one hour, with up to 25 %
/// jitter from `entropy` so a burst of failures does not retry in lockstep.
pub fn backoff_ms(attempt: i64, entropy: u64) -> Millis {
    let exp = attempt.clamp(1, 30) - 1;
    let base = 1000i64.saturating_mul(1i64 << exp).min(3_600_000);
    base + (entropy % (base as u64 / 4 + 1)) as i64
}

const CLAIM_SQLITE: &str = "UPDATE jobs SET status = 'running', attempts = attempts + 1,
        locked_until = $2, locked_by = $3, updated_at = $1
    WHERE id IN (SELECT id FROM jobs
        WHERE (status = 'queued' AND run_at <= $1) OR (status = 'running' AND locked_until < $1)
        ORDER BY run_at, id LIMIT $4)
    RETURNING id, workspace_id, kind, payload, attempts, max_attempts";

const CLAIM_POSTGRES: &str = "UPDATE jobs SET status = 'running', attempts = attempts + 1,
        locked_until = $2, locked_by = $3, updated_at = $1
    WHERE id IN (SELECT id FROM jobs
        WHERE (status = 'queued' AND run_at <= $1) OR (status = 'running' AND locked_until < $1)
        ORDER BY run_at, id LIMIT $4 FOR UPDATE SKIP LOCKED)
    RETURNING id, workspace_id, kind, payload, attempts, max_attempts";

/// A job whose lease ran out on its last allowed attempt died with its worker.
const BURY_LOST: &str = "UPDATE jobs SET status = 'dead', locked_until = NULL, locked_by = NULL,
        finished_at = $1, updated_at = $1,
        last_error = 'the worker running the last attempt stopped before finishing'
    WHERE status = 'running' AND locked_until < $1 AND attempts >= max_attempts";

impl Store {
    /// Claims up to `limit` runnable jobs for `worker` for `lease_ms`.
    pub async fn claim_jobs(
        &self,
        worker: &str,
        limit: i64,
        lease_ms: Millis,
        now: Millis,
    ) -> Result<Vec<Claimed>> {
        let mut tx = self.write().await?;
        sqlx::query(BURY_LOST).bind(now).execute(&mut *tx).await?;
        let sql = match self.backend {
            Backend::Sqlite => CLAIM_SQLITE,
            Backend::Postgres => CLAIM_POSTGRES,
        };
        let rows = sqlx::query(sql)
            .bind(now)
            .bind(now + lease_ms)
            .bind(worker.to_string())
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                let payload: String = r.try_get("payload")?;
                Ok(Claimed {
                    id: r.try_get("id")?,
                    workspace_id: r.try_get("workspace_id")?,
                    kind: r.try_get("kind")?,
                    payload: serde_json::from_str(&payload)
                        .map_err(|e| crate::StoreError::Corrupt(format!("job payload: {e}")))?,
                    attempt: r.try_get("attempts")?,
                    max_attempts: r.try_get("max_attempts")?,
                })
            })
            .collect()
    }

    /// Extends the lease of a running attempt. `false` if the lease was already lost.
    pub async fn extend_lease(&self, job: &Claimed, until: Millis) -> Result<bool> {
        let q = sqlx::query(
            "UPDATE jobs SET locked_until = $3 WHERE id = $1 AND attempts = $2 AND status = 'running'",
        )
        .bind(job.id)
        .bind(job.attempt)
        .bind(until);
        Ok(self.write_one(q).await? == 1)
    }

    /// Marks an attempt done. `false` if the lease was lost (the job ran late; its effect
    /// must be idempotent by key, as every job's is).
    pub async fn complete_job(&self, job: &Claimed, now: Millis) -> Result<bool> {
        let q = sqlx::query(
            "UPDATE jobs SET status = 'done', locked_until = NULL, locked_by = NULL,
                finished_at = $3, updated_at = $3
             WHERE id = $1 AND attempts = $2 AND status = 'running'",
        )
        .bind(job.id)
        .bind(job.attempt)
        .bind(now);
        Ok(self.write_one(q).await? == 1)
    }

    /// Records a failed attempt: retried after a backoff, or dead when attempts are used up
    /// or the failure is `permanent`.
    pub async fn fail_job(
        &self,
        job: &Claimed,
        error: &str,
        permanent: bool,
        now: Millis,
    ) -> Result<Failure> {
        let error: String = error.chars().take(2000).collect();
        let dead = permanent || job.attempt >= job.max_attempts;
        let (sql, when) = if dead {
            (
                "UPDATE jobs SET status = 'dead', locked_until = NULL, locked_by = NULL, last_error = $3,
                    finished_at = $4, updated_at = $4
                 WHERE id = $1 AND attempts = $2 AND status = 'running'",
                now,
            )
        } else {
            let entropy = u64::from_le_bytes(vouch_core::secret::random_bytes::<8>());
            (
                "UPDATE jobs SET status = 'queued', locked_until = NULL, locked_by = NULL, last_error = $3,
                    run_at = $4, updated_at = $5
                 WHERE id = $1 AND attempts = $2 AND status = 'running'",
                now + backoff_ms(job.attempt, entropy),
            )
        };
        let q = sqlx::query(sql)
            .bind(job.id)
            .bind(job.attempt)
            .bind(error)
            .bind(when)
            .bind(now);
        Ok(match (self.write_one(q).await?, dead) {
            (0, _) => Failure::Stale,
            (_, true) => Failure::Dead,
            (_, false) => Failure::RetryAt(when),
        })
    }

    pub async fn job(&self, id: i64) -> Result<Option<Job>> {
        let mut c = self.read().await?;
        Ok(rows::fetch_optional(&mut c, rows::select::<Job>("WHERE id = $1").bind(id)).await?)
    }

    /// Jobs in `status` (all when `None`), oldest first, at most `limit`.
    pub async fn jobs(&self, status: Option<&str>, limit: i64) -> Result<Vec<Job>> {
        let mut c = self.read().await?;
        let q = match status {
            Some(s) => rows::select::<Job>("WHERE status = $1 ORDER BY id LIMIT $2")
                .bind(s.to_string())
                .bind(limit),
            None => rows::select::<Job>("ORDER BY id LIMIT $1").bind(limit),
        };
        Ok(rows::fetch_all(&mut c, q).await?)
    }

    /// Counts of jobs by status, for `/metrics` and the admin.
    pub async fn job_counts(&self) -> Result<Vec<(String, i64)>> {
        let mut c = self.read().await?;
        let rows =
            sqlx::query("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status ORDER BY status")
                .fetch_all(&mut c)
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
            .collect()
    }

    /// Records one run of the probe job `key`: its effect is idempotent by key, and `runs`
    /// counts how often it took effect, so a test can prove a job took effect exactly once.
    pub async fn record_probe(&self, key: &str, now: Millis) -> Result<()> {
        let q = sqlx::query(
            "INSERT INTO system_probes (key, runs, last_run_at) VALUES ($1, 1, $2)
             ON CONFLICT (key) DO UPDATE SET runs = system_probes.runs + 1, last_run_at = $2",
        )
        .bind(key.to_string())
        .bind(now);
        self.write_one(q).await?;
        Ok(())
    }

    pub async fn probe(&self, key: &str) -> Result<Option<SystemProbe>> {
        let mut c = self.read().await?;
        Ok(rows::fetch_optional(
            &mut c,
            rows::select::<SystemProbe>("WHERE key = $1").bind(key.to_string()),
        )
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::backoff_ms;

    #[test]
    fn backoff_doubles_with_bounded_jitter_and_a_cap() {
        assert_eq!(backoff_ms(1, 0), 1000);
        assert_eq!(backoff_ms(2, 0), 2000);
        assert_eq!(backoff_ms(3, 0), 4000);
        for e in [0u64, 1, 999, u64::MAX] {
            let d = backoff_ms(3, e);
            assert!((4000..=5000).contains(&d), "{d}");
        }
        assert!(backoff_ms(40, u64::MAX) <= 3_600_000 + 900_000);
    }
}
