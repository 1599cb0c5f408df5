//! The outbox: domain events written in the caller's transaction. Nothing is sent for a change
//! that rolled back, and nothing committed is forgotten: the worker's relay reads the events
//! not yet dispatched, oldest first, and marks them in the same transaction that hands them on.
//!
//! An event costs its writer one row. (Earlier versions also enqueued a job per event; the
//! worker still runs such jobs, see [`DispatchEvent`].)

use crate::jobs::JobSpec;
use crate::rows::{self, Event};
use crate::{Backend, Conn, Millis, Result, Store};
use sqlx::Row;
use vouch_core::id::time_ordered;

/// The job earlier versions enqueued for each event; still run for queues they left behind.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DispatchEvent {
    pub event_id: i64,
}

impl JobSpec for DispatchEvent {
    const KIND: &'static str = "event.dispatch";
}

/// Writes `kind` with `payload` to the outbox.
///
/// No `RETURNING`: on SQLite it makes the insert a statement with a journal of its own, which
/// copies every page the insert touches; eight events per conversion paid it.
pub async fn emit(
    c: &mut Conn,
    workspace_id: i64,
    kind: &str,
    payload: serde_json::Value,
    now: Millis,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO events (workspace_id, public_id, kind, payload, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(workspace_id)
    .bind(time_ordered::<8>("evt_", now))
    .bind(kind.to_string())
    .bind(payload.to_string())
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub async fn by_id(c: &mut Conn, id: i64) -> Result<Option<Event>> {
    Ok(rows::fetch_optional(c, rows::select::<Event>("WHERE id = $1").bind(id)).await?)
}

pub async fn mark_dispatched(store: &Store, id: i64, now: Millis) -> Result<()> {
    let q =
        sqlx::query("UPDATE events SET dispatched_at = $2 WHERE id = $1 AND dispatched_at IS NULL")
            .bind(id)
            .bind(now);
    store.write_one(q).await?;
    Ok(())
}

/// Events not yet dispatched, oldest first, across workspaces (the relay's view).
pub async fn pending(c: &mut Conn, limit: i64) -> Result<Vec<Event>> {
    Ok(rows::fetch_all(c, undispatched(limit, "")).await?)
}

/// The query of [`pending`], with a row-locking clause the relay adds on PostgreSQL.
fn undispatched(limit: i64, lock: &str) -> rows::AnyQuery {
    rows::select::<Event>(&format!(
        "WHERE dispatched_at IS NULL ORDER BY id LIMIT $1{lock}"
    ))
    .bind(limit)
}

/// Dispatches up to `limit` pending events in one transaction and returns them. Subscribers
/// (outbound webhooks, journeys) join here by enqueueing their deliveries in this transaction,
/// so an event is handed on exactly when it is marked. On PostgreSQL, relays of several
/// workers skip each other's rows. On SQLite the events are read before the writer gate and
/// only marked inside it (the relay handles eight events per conversion: reading them inside
/// held up every writer); the mark's `dispatched_at IS NULL` keeps an event another relay
/// marked meanwhile from being handed on twice.
pub async fn relay(store: &Store, limit: i64, now: Millis) -> Result<Vec<Event>> {
    loop {
        // An idle relay (most polls) only reads: no write lock when nothing waits.
        let mut events = pending(&mut store.read().await?, limit).await?;
        if events.is_empty() {
            return Ok(events);
        }
        let mut tx = store.write().await?;
        if store.backend() == Backend::Postgres {
            events =
                rows::fetch_all(&mut tx, undispatched(limit, " FOR UPDATE SKIP LOCKED")).await?;
            if events.is_empty() {
                tx.rollback().await?;
                return Ok(events);
            }
        }
        let marked = mark_dispatched_all(&mut tx, &events, now).await?;
        tx.commit().await?;
        events.retain(|e| marked.contains(&e.id));
        if !events.is_empty() {
            for e in &events {
                tracing::debug!(event = e.id, kind = %e.kind, "dispatching event");
            }
            return Ok(events);
        }
        // Another relay marked all of these first: look again.
    }
}

/// Marks `events` dispatched; returns the ids this call marked (not those marked before).
async fn mark_dispatched_all(
    c: &mut Conn,
    events: &[Event],
    now: Millis,
) -> Result<std::collections::HashSet<i64>> {
    let ids = (0..events.len())
        .map(|i| format!("${}", i + 2))
        .collect::<Vec<_>>()
        .join(", ");
    let mut q = rows::dynamic(format!(
        "UPDATE events SET dispatched_at = $1 WHERE dispatched_at IS NULL AND id IN ({ids}) RETURNING id"
    ))
    .bind(now);
    for e in events {
        q = q.bind(e.id);
    }
    let marked = q
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(|r| r.try_get("id"))
        .collect::<std::result::Result<_, _>>()?;
    Ok(marked)
}

pub async fn list(c: &mut Conn, workspace_id: i64, limit: i64) -> Result<Vec<Event>> {
    let q = rows::select::<Event>("WHERE workspace_id = $1 ORDER BY id DESC LIMIT $2")
        .bind(workspace_id)
        .bind(limit);
    Ok(rows::fetch_all(c, q).await?)
}
