//! Clicks: appended in batches by one writer task, with the per-advocate daily rollups that
//! dashboards read updated in the same transaction. The redirect hands a click to the writer
//! and never waits; a click is never dropped: when the database is slow the queue grows (and
//! says so in the stats) and a failed batch is retried until it lands.

mod native;

pub(crate) use native::{NativeWriter, file_of as sqlite_file_of};

use crate::rows::{self, Click};
use crate::{Backend, Conn, Millis, Result, Store};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// A click as the redirect saw it.
#[derive(Debug, Clone)]
pub struct NewClick {
    pub workspace_id: i64,
    pub public_id: String,
    pub program_id: i64,
    pub advocate_id: i64,
    pub visitor_id: String,
    pub ip_hash: String,
    pub user_agent: String,
    pub referer: String,
    /// JSON object of the kept UTM and ad-click parameters.
    pub params: String,
    pub qualified: bool,
    pub unqualified_reason: &'static str,
    pub created_at: Millis,
}

/// Writes one batch of clicks with their rollups in one transaction: what the writer does.
/// On a SQLite file the batch goes to the native writer (see [`native`]); otherwise it is one
/// bulk statement in a transaction of the pool.
pub async fn write(store: &Store, clicks: &Arc<[NewClick]>) -> Result<()> {
    write_into(store, "clicks", clicks, true).await
}

/// The rows alone into a table of the clicks' shape, by the same path: the benchmark's baseline.
#[doc(hidden)]
pub async fn write_bare(
    store: &Store,
    table: &'static str,
    clicks: &Arc<[NewClick]>,
) -> Result<()> {
    write_into(store, table, clicks, false).await
}

async fn write_into(
    store: &Store,
    table: &'static str,
    clicks: &Arc<[NewClick]>,
    rollups: bool,
) -> Result<()> {
    // The native writer is the fast way; the pool's bulk statement is always there behind it.
    match store.native_clicks().await {
        Ok(Some(native)) => {
            let _gate = store.write_gate().await;
            if native.write(table, clicks.clone(), rollups).await? {
                return Ok(());
            }
            tracing::error!("the native click writer has stopped; writing clicks through the pool");
        }
        Ok(None) => {}
        Err(e) => {
            tracing::error!(error = %e, "the native click writer did not open; writing clicks through the pool")
        }
    }
    let mut tx = store.write().await?;
    insert_into(&mut tx, store.backend(), table, clicks, rollups).await?;
    Ok(tx.commit().await?)
}

/// Writes `clicks` and their rollups on `c` (the caller's transaction).
pub async fn insert_batch(c: &mut Conn, backend: Backend, clicks: &[NewClick]) -> Result<()> {
    insert_into(c, backend, "clicks", clicks, true).await
}

async fn insert_into(
    c: &mut Conn,
    backend: Backend,
    table: &str,
    clicks: &[NewClick],
    rollups: bool,
) -> Result<()> {
    insert_rows(c, backend, table, clicks).await?;
    if rollups {
        upsert_rollups(c, clicks).await?;
    }
    Ok(())
}

const CLICK_COLUMNS: &str = "workspace_id, public_id, program_id, advocate_id, visitor_id, ip_hash, \
    user_agent, referer, params, qualified, unqualified_reason, created_at";

/// The bulk insert, the one place the backends differ here: a whole batch travels as one JSON
/// array parameter and the database unpacks it, instead of thousands of bound parameters.
fn bulk_sql(backend: Backend, table: &str) -> String {
    match backend {
        Backend::Sqlite => format!(
            "INSERT INTO {table} ({CLICK_COLUMNS}) SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, \
             value ->> 4, value ->> 5, value ->> 6, value ->> 7, value ->> 8, value ->> 9, value ->> 10, value ->> 11 \
             FROM json_each($1)"
        ),
        Backend::Postgres => format!(
            "INSERT INTO {table} ({CLICK_COLUMNS}) SELECT (r ->> 0)::bigint, r ->> 1, (r ->> 2)::bigint, \
             (r ->> 3)::bigint, r ->> 4, r ->> 5, r ->> 6, r ->> 7, r ->> 8, (r ->> 9)::bigint, r ->> 10, \
             (r ->> 11)::bigint FROM jsonb_array_elements($1::jsonb) AS r"
        ),
    }
}

async fn insert_rows(
    c: &mut Conn,
    backend: Backend,
    table: &str,
    clicks: &[NewClick],
) -> Result<()> {
    let rows: Vec<_> = clicks
        .iter()
        .map(|k| {
            (
                k.workspace_id,
                &k.public_id,
                k.program_id,
                k.advocate_id,
                &k.visitor_id,
                &k.ip_hash,
                &k.user_agent,
                &k.referer,
                &k.params,
                i64::from(k.qualified),
                k.unqualified_reason,
                k.created_at,
            )
        })
        .collect();
    let json =
        serde_json::to_string(&rows).map_err(|e| crate::StoreError::Corrupt(e.to_string()))?;
    rows::dynamic(bulk_sql(backend, table))
        .bind(json)
        .execute(&mut *c)
        .await?;
    Ok(())
}

const ROLLUP_UPSERT: &str = "INSERT INTO click_rollups (workspace_id, advocate_id, day, clicks, qualified_clicks) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (workspace_id, advocate_id, day) DO UPDATE SET
        clicks = click_rollups.clicks + excluded.clicks,
        qualified_clicks = click_rollups.qualified_clicks + excluded.qualified_clicks";

/// The batch's (clicks, qualified clicks) per (workspace, advocate, day).
fn rollups_of(clicks: &[NewClick]) -> HashMap<(i64, i64, i64), (i64, i64)> {
    let mut rollup: HashMap<(i64, i64, i64), (i64, i64)> = HashMap::new();
    for k in clicks {
        let e = rollup
            .entry((
                k.workspace_id,
                k.advocate_id,
                k.created_at.div_euclid(86_400_000),
            ))
            .or_default();
        e.0 += 1;
        e.1 += i64::from(k.qualified);
    }
    rollup
}

async fn upsert_rollups(c: &mut Conn, clicks: &[NewClick]) -> Result<()> {
    for ((ws, adv, day), (n, q)) in rollups_of(clicks) {
        sqlx::query(ROLLUP_UPSERT)
            .bind(ws)
            .bind(adv)
            .bind(day)
            .bind(n)
            .bind(q)
            .execute(&mut *c)
            .await?;
    }
    Ok(())
}

/// Counters the writer keeps, for `/metrics`.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub accepted: AtomicU64,
    pub written: AtomicU64,
    pub batches: AtomicU64,
    pub failed_batches: AtomicU64,
    /// Clicks accepted while more than `soft_capacity` were already waiting.
    pub overflow: AtomicU64,
}

impl WriterStats {
    pub fn pending(&self) -> u64 {
        self.accepted
            .load(Ordering::Relaxed)
            .saturating_sub(self.written.load(Ordering::Relaxed))
    }
}

enum Msg {
    Click(Box<NewClick>),
    Flush(oneshot::Sender<()>),
}

/// The batching click writer. Cheap to clone; every clone feeds the same task.
#[derive(Clone)]
pub struct ClickWriter {
    tx: mpsc::UnboundedSender<Msg>,
    stats: Arc<WriterStats>,
    soft_capacity: u64,
}

pub const MAX_BATCH: usize = 4000;

/// How long a batch that is not full waits for more clicks before it is written.
pub const LINGER: Duration = Duration::from_millis(10);

impl ClickWriter {
    /// Starts the writer task on `store`.
    pub fn start(store: Store) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(WriterStats::default());
        tokio::spawn(run(store, rx, stats.clone()));
        Self {
            tx,
            stats,
            soft_capacity: 100_000,
        }
    }

    /// Hands a click over; never blocks, never fails while the writer runs.
    pub fn record(&self, click: NewClick) {
        if self.stats.pending() >= self.soft_capacity {
            self.stats.overflow.fetch_add(1, Ordering::Relaxed);
        }
        self.stats.accepted.fetch_add(1, Ordering::Relaxed);
        if self.tx.send(Msg::Click(Box::new(click))).is_err() {
            tracing::error!("the click writer has stopped; a click could not be recorded");
        }
    }

    /// Waits until every click handed over before this call is written.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }
}

async fn run(store: Store, mut rx: mpsc::UnboundedReceiver<Msg>, stats: Arc<WriterStats>) {
    let mut batch: Vec<NewClick> = Vec::with_capacity(MAX_BATCH);
    let mut waiters: Vec<oneshot::Sender<()>> = Vec::new();
    while let Some(first) = rx.recv().await {
        take(first, &mut batch, &mut waiters);
        // Whatever arrived meanwhile joins this batch: one transaction, one fsync, many clicks.
        drain(&mut rx, &mut batch, &mut waiters);
        // A short batch lingers for more: every commit rewrites the last page of each index, so
        // a commit per handful of clicks costs more than the clicks. Nobody waits on a click;
        // a flush does not linger.
        if batch.len() < MAX_BATCH && waiters.is_empty() {
            tokio::time::sleep(LINGER).await;
            drain(&mut rx, &mut batch, &mut waiters);
        }
        if !batch.is_empty() {
            let clicks: Arc<[NewClick]> = std::mem::take(&mut batch).into();
            write_until_done(&store, &clicks, &stats).await;
            stats
                .written
                .fetch_add(clicks.len() as u64, Ordering::Relaxed);
            batch.reserve(MAX_BATCH);
        }
        for w in waiters.drain(..) {
            let _ = w.send(());
        }
    }
}

fn take(m: Msg, batch: &mut Vec<NewClick>, waiters: &mut Vec<oneshot::Sender<()>>) {
    match m {
        Msg::Click(c) => batch.push(*c),
        Msg::Flush(w) => waiters.push(w),
    }
}

fn drain(
    rx: &mut mpsc::UnboundedReceiver<Msg>,
    batch: &mut Vec<NewClick>,
    waiters: &mut Vec<oneshot::Sender<()>>,
) {
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(m) => take(m, batch, waiters),
            Err(_) => break,
        }
    }
}

async fn write_until_done(store: &Store, batch: &Arc<[NewClick]>, stats: &WriterStats) {
    let mut delay = Duration::from_millis(50);
    loop {
        match write(store, batch).await {
            Ok(()) => {
                stats.batches.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(e) => {
                stats.failed_batches.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, clicks = batch.len(), "writing clicks failed; retrying, nothing is dropped");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

pub async fn by_public_id(
    c: &mut Conn,
    workspace_id: i64,
    public_id: &str,
) -> Result<Option<Click>> {
    let q = rows::select::<Click>("WHERE public_id = $1 AND workspace_id = $2")
        .bind(public_id.to_string())
        .bind(workspace_id);
    Ok(rows::fetch_optional(c, q).await?)
}

/// A visitor's clicks in a workspace, newest first: the click that named them (a first visit
/// takes its click id as the visitor id) and their returning clicks, each through its index.
pub async fn by_visitor(c: &mut Conn, workspace_id: i64, visitor_id: &str) -> Result<Vec<Click>> {
    let q = rows::select::<Click>(
        "WHERE id IN (
            SELECT id FROM clicks WHERE workspace_id = $1 AND public_id = $2
            UNION ALL
            SELECT id FROM clicks WHERE workspace_id = $1 AND visitor_id = $2 AND visitor_id <> public_id
         ) ORDER BY id DESC LIMIT 50",
    )
    .bind(workspace_id)
    .bind(visitor_id.to_string());
    Ok(rows::fetch_all(c, q).await?)
}

/// Clicks of a workspace, newest first, before the cursor id.
pub async fn list(
    c: &mut Conn,
    workspace_id: i64,
    advocate_id: Option<i64>,
    before: i64,
    limit: i64,
) -> Result<Vec<Click>> {
    let q = match advocate_id {
        Some(a) => rows::select::<Click>(
            "WHERE workspace_id = $1 AND advocate_id = $2 AND id < $3 ORDER BY id DESC LIMIT $4",
        )
        .bind(workspace_id)
        .bind(a)
        .bind(before)
        .bind(limit),
        None => {
            rows::select::<Click>("WHERE workspace_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3")
                .bind(workspace_id)
                .bind(before)
                .bind(limit)
        }
    };
    Ok(rows::fetch_all(c, q).await?)
}

pub async fn count(c: &mut Conn, workspace_id: i64) -> Result<i64> {
    use sqlx::Row;
    let r = sqlx::query("SELECT COUNT(*) AS n FROM clicks WHERE workspace_id = $1")
        .bind(workspace_id)
        .fetch_one(&mut *c)
        .await?;
    Ok(r.try_get("n")?)
}

/// Daily totals of an advocate, from the rollups.
pub async fn rollups(
    c: &mut Conn,
    workspace_id: i64,
    advocate_id: i64,
) -> Result<Vec<crate::rows::ClickRollup>> {
    let q = rows::select::<crate::rows::ClickRollup>(
        "WHERE workspace_id = $1 AND advocate_id = $2 ORDER BY day",
    )
    .bind(workspace_id)
    .bind(advocate_id);
    Ok(rows::fetch_all(c, q).await?)
}

/// A click or visitor id: a time-ordered id with 48 random bits (23 hex digits without a
/// prefix, as the redirect checks a returning visitor's cookie).
pub fn time_ordered_id(prefix: &str, now: Millis) -> String {
    vouch_core::id::time_ordered::<6>(prefix, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// If the native writer's thread dies, batches still land, through the pool.
    #[tokio::test]
    async fn a_stopped_native_writer_falls_back_to_the_pool() {
        let db = crate::testing::TestDb::sqlite().await;
        let slug = vouch_core::Slug::parse("shop").unwrap();
        let (ws, _) = crate::commands::create_workspace(
            &db.store,
            "Shop",
            &slug,
            None,
            &crate::audit::Actor::cli(),
            false,
        )
        .await
        .unwrap();
        let batch = |n: i64| -> Arc<[NewClick]> {
            Arc::from(vec![NewClick {
                workspace_id: ws.id,
                public_id: time_ordered_id("", n),
                program_id: 1,
                advocate_id: 1,
                visitor_id: "v".into(),
                ip_hash: String::new(),
                user_agent: String::new(),
                referer: String::new(),
                params: "{}".into(),
                qualified: true,
                unqualified_reason: "",
                created_at: n,
            }])
        };
        write(&db.store, &batch(1)).await.unwrap();
        db.store.native_clicks().await.unwrap().unwrap().stop();
        write(&db.store, &batch(2)).await.unwrap();
        let mut c = db.store.read().await.unwrap();
        assert_eq!(count(&mut c, ws.id).await.unwrap(), 2);
    }
}
