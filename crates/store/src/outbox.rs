//! The outbox: domain events written in the caller's transaction, each with a dispatch job
//! enqueued in that same transaction. Nothing is sent for a change that rolled back, and
//! nothing committed is forgotten: the worker dispatches every event at least once.

use crate::jobs::{self, JobSpec, NewJob};
use crate::rows::{self, Event};
use crate::{Conn, Millis, Result};
use vouch_core::secret::random_hex;

/// The job that carries one event to its subscribers.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DispatchEvent {
    pub event_id: i64,
}

impl JobSpec for DispatchEvent {
    const KIND: &'static str = "event.dispatch";
}

/// The job kind that carries an event to its subscribers.
pub const DISPATCH_JOB: &str = DispatchEvent::KIND;

/// Writes `kind` with `payload` to the outbox and enqueues its dispatch. Returns the event id.
pub async fn emit(
    c: &mut Conn,
    workspace_id: i64,
    kind: &str,
    payload: serde_json::Value,
    now: Millis,
) -> Result<i64> {
    use sqlx::Row;
    let row = sqlx::query(
        "INSERT INTO events (workspace_id, public_id, kind, payload, created_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(workspace_id)
    .bind(format!("evt_{}", random_hex::<12>()))
    .bind(kind.to_string())
    .bind(payload.to_string())
    .bind(now)
    .fetch_one(&mut *c)
    .await?;
    let id: i64 = row.try_get("id")?;
    let job = NewJob::of(&DispatchEvent { event_id: id })
        .workspace(workspace_id)
        .dedupe(format!("event:{id}"));
    jobs::enqueue(c, &job, now).await?;
    Ok(id)
}

pub async fn by_id(c: &mut Conn, id: i64) -> Result<Option<Event>> {
    Ok(rows::fetch_optional(c, rows::select::<Event>("WHERE id = $1").bind(id)).await?)
}

pub async fn mark_dispatched(c: &mut Conn, id: i64, now: Millis) -> Result<()> {
    sqlx::query("UPDATE events SET dispatched_at = $2 WHERE id = $1 AND dispatched_at IS NULL")
        .bind(id)
        .bind(now)
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub async fn list(c: &mut Conn, workspace_id: i64, limit: i64) -> Result<Vec<Event>> {
    let q = rows::select::<Event>("WHERE workspace_id = $1 ORDER BY id DESC LIMIT $2")
        .bind(workspace_id)
        .bind(limit);
    Ok(rows::fetch_all(c, q).await?)
}
