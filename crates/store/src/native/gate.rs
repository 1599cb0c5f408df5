//! One writer at a time, in arrival order, and group commit: see `Batch`.

use super::{Writer, db_error, is_busy};
use sqlx::any::{AnyArguments, AnyQueryResult, AnyRow};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How long a transaction waits for another process's write lock (the store's connections wait
/// as long through `busy_timeout`).
const BUSY_WAIT: Duration = Duration::from_secs(10);
/// A batch commits when this many transactions are in it, or when it is this old, even with
/// more writers queued: the bound on what group commit adds to a write's latency.
const BATCH_MEMBERS: usize = 64;
const BATCH_AGE: Duration = Duration::from_millis(5);
/// Statements between two yields to the scheduler, so a long write transaction (an import, a
/// payout batch) does not hold its thread for the whole of it. Rare on purpose: a yield while
/// holding the gate leaves the writer idle until the scheduler comes back to it.
const YIELD_EVERY: u32 = 1024;

/// The writer gate: one writer at a time in this process. It counts who is queued for it, so
/// the writer that finishes knows whether to commit now or leave the batch to the next one.
#[derive(Clone)]
pub(crate) struct Gate {
    slot: Arc<tokio::sync::Mutex<Slot>>,
    queued: Arc<AtomicUsize>,
}

pub(crate) type Guard = tokio::sync::OwnedMutexGuard<Slot>;

impl Default for Gate {
    fn default() -> Self {
        let queued = Arc::new(AtomicUsize::new(0));
        Self {
            slot: Arc::new(tokio::sync::Mutex::new(Slot {
                writer: None,
                batch: None,
                queued: queued.clone(),
            })),
            queued,
        }
    }
}

impl Gate {
    /// Waits for the gate (in order of arrival), counted as queued while waiting.
    pub(crate) async fn lock(&self) -> Guard {
        struct Queued<'a>(&'a AtomicUsize);
        impl Drop for Queued<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        self.queued.fetch_add(1, Ordering::SeqCst);
        let _queued = Queued(&self.queued);
        self.slot.clone().lock_owned().await
    }
}

/// The gate's contents: the writer connection once a transaction has needed it, and the
/// batch of finished transactions waiting for their common commit.
pub(crate) struct Slot {
    writer: Option<Writer>,
    batch: Option<Batch>,
    queued: Arc<AtomicUsize>,
}

/// Group commit: transactions that finish while others queue for the gate are savepoints
/// released into one SQLite transaction, committed by the last of them (or when the batch is
/// full or old). Each waits for that commit before it reports success, so "committed" still
/// means durable; the pages every conversion touches (the last leaf of each table and index)
/// are written to the WAL once per batch instead of once per conversion.
struct Batch {
    members: Vec<oneshot::Sender<Result<(), String>>>,
    started: Instant,
}

impl Slot {
    /// Commits the open batch, if any, and tells its members how it went. Called by whoever
    /// takes the gate for another connection (the click writer) before it writes.
    pub(crate) fn flush(&mut self) {
        let Some(batch) = self.batch.take() else {
            return;
        };
        let conn = &self
            .writer
            .as_ref()
            .expect("a batch has its connection")
            .conn;
        let result = if conn.is_autocommit() {
            Err("the write batch was rolled back by SQLite after an error".to_string())
        } else {
            conn.execute_batch("COMMIT").map_err(|e| e.to_string())
        };
        if result.is_err() && !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for member in batch.members {
            let _ = member.send(result.clone());
        }
    }

    /// On leaving the gate: commit now unless another writer is queued to extend the batch.
    fn settle(&mut self) {
        let Some(batch) = &self.batch else {
            return;
        };
        let ended = conn(self).is_autocommit();
        if ended
            || self.queued.load(Ordering::SeqCst) == 0
            || batch.members.len() >= BATCH_MEMBERS
            || batch.started.elapsed() >= BATCH_AGE
        {
            self.flush();
        }
    }
}

/// A transaction on the writer connection: a savepoint inside the batch's `BEGIN IMMEDIATE`.
/// Dropped without `commit`, it rolls back to its savepoint: nothing of it happened, and the
/// batch it was in goes on.
pub(crate) struct Transaction {
    gate: Guard,
    open: bool,
    statements: u32,
}

impl Transaction {
    /// Begins on the gate's connection (opened from `path` on first use), in the open batch or
    /// a new one. Waiting for another process's write lock happens here, asynchronously, not in
    /// SQLite's sleeping busy handler.
    pub(crate) async fn begin(mut gate: Guard, path: &Path) -> Result<Self, sqlx::Error> {
        if gate.writer.is_none() {
            gate.writer = Some(Writer::open(path)?);
        }
        if gate.batch.is_some() && conn(&gate).is_autocommit() {
            // SQLite ended the batch's transaction after an error: its members learn it now.
            gate.flush();
        }
        if gate.batch.is_none() {
            conn(&gate).busy_timeout(Duration::ZERO).map_err(db_error)?;
            let deadline = Instant::now() + BUSY_WAIT;
            loop {
                match conn(&gate).execute_batch("BEGIN IMMEDIATE") {
                    Ok(()) => break,
                    Err(e) if is_busy(&e) && Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    Err(e) => return Err(db_error(e)),
                }
            }
            // Inside the transaction a statement rarely waits (WAL checkpoints); let it.
            conn(&gate).busy_timeout(BUSY_WAIT).map_err(db_error)?;
            gate.batch = Some(Batch {
                members: Vec::new(),
                started: Instant::now(),
            });
        }
        let mut t = Self {
            gate,
            open: false,
            statements: 0,
        };
        t.still_open()?;
        conn(&t.gate)
            .execute_batch("SAVEPOINT vouch_write")
            .map_err(db_error)?;
        t.open = true;
        Ok(t)
    }

    fn writer(&mut self) -> &mut Writer {
        self.gate
            .writer
            .as_mut()
            .expect("a transaction has its connection")
    }

    /// Releases the savepoint into the batch, leaves the gate, and returns once the batch has
    /// committed (or failed: then nothing of this transaction happened either).
    pub(crate) async fn commit(mut self) -> Result<(), sqlx::Error> {
        self.still_open()?;
        conn(&self.gate)
            .execute_batch("RELEASE vouch_write")
            .map_err(db_error)?;
        self.open = false;
        let (member, done) = oneshot::channel();
        self.gate
            .batch
            .as_mut()
            .expect("an open transaction is in a batch")
            .members
            .push(member);
        let gate = tokio::sync::OwnedMutexGuard::mutex(&self.gate).clone();
        drop(self);
        wait_for_commit(done, gate).await
    }

    pub(crate) fn rollback(self) -> Result<(), sqlx::Error> {
        drop(self);
        Ok(())
    }

    /// SQLite ends a transaction by itself on some errors (a full disk, an I/O error); a
    /// statement after that would commit on its own, so it is refused instead.
    fn still_open(&mut self) -> Result<(), sqlx::Error> {
        if conn(&self.gate).is_autocommit() {
            self.open = false;
            return Err(sqlx::Error::Protocol(
                "the write transaction was rolled back by SQLite after an error".into(),
            ));
        }
        Ok(())
    }

    /// Lets other tasks of this thread run now and then during a long transaction.
    pub(crate) async fn cooperate(&mut self) {
        self.statements = self.statements.wrapping_add(1);
        if self.statements.is_multiple_of(YIELD_EVERY) {
            tokio::task::yield_now().await;
        }
    }

    /// `Writer::execute`, refused once SQLite has ended the transaction.
    pub(crate) fn run(
        &mut self,
        sql: &str,
        arguments: Option<AnyArguments>,
        persistent: bool,
        first_only: bool,
    ) -> Result<(Vec<AnyRow>, AnyQueryResult), sqlx::Error> {
        self.still_open()?;
        self.writer()
            .execute(sql, arguments, persistent, first_only)
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if self.open {
            self.open = false;
            let conn = conn(&self.gate);
            if !conn.is_autocommit()
                && let Err(e) = conn.execute_batch("ROLLBACK TO vouch_write; RELEASE vouch_write")
            {
                tracing::error!(error = %e, "rolling back a dropped write transaction");
                let _ = conn.execute_batch("ROLLBACK");
            }
        }
        self.gate.settle();
    }
}

/// A finished transaction's wait for its batch's commit. If the writer expected to extend the
/// batch never comes (its request was cancelled while queued), the member commits it itself.
async fn wait_for_commit(
    mut done: oneshot::Receiver<Result<(), String>>,
    gate: Arc<tokio::sync::Mutex<Slot>>,
) -> Result<(), sqlx::Error> {
    loop {
        match tokio::time::timeout(BATCH_AGE, &mut done).await {
            Ok(Ok(result)) => {
                return result.map_err(|e| sqlx::Error::Protocol(format!("commit failed: {e}")));
            }
            Ok(Err(_)) => {
                return Err(sqlx::Error::Protocol(
                    "the write batch ended without committing".into(),
                ));
            }
            Err(_) => gate.clone().lock_owned().await.flush(),
        }
    }
}

fn conn(gate: &Slot) -> &rusqlite::Connection {
    gate.writer.as_ref().expect("opened before use").conn()
}

#[cfg(test)]
mod tests {
    use super::super::tests::{insert, keys, scratch};
    use crate::testing::TestDb;
    use crate::{StoreError, conflict_as};
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    #[tokio::test]
    async fn a_dropped_transaction_leaves_nothing_and_a_failed_statement_does_not_end_one() {
        let db = TestDb::sqlite().await;
        scratch(&db.store).await;
        insert(&db.store, "a").await.unwrap();
        {
            let mut tx = db.store.write().await.unwrap();
            sqlx::query("INSERT INTO scratch (k) VALUES ('dropped')")
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        let mut tx = db.store.write().await.unwrap();
        let err = sqlx::query("INSERT INTO scratch (k) VALUES ('a')")
            .execute(&mut *tx)
            .await
            .map_err(conflict_as("key"))
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict("key")), "{err}");
        sqlx::query("INSERT INTO scratch (k) VALUES ('b')")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(keys(&db.store).await, ["a", "b"]);
    }

    /// Group commit: writers that queue share one SQLite transaction, each still all or
    /// nothing, and each told of success only once the batch is durable.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_commit_together_each_whole_or_not_at_all() {
        let db = TestDb::sqlite().await;
        scratch(&db.store).await;
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..200 {
            let store = db.store.clone();
            tasks.spawn(async move {
                let mut tx = store.write().await.unwrap();
                sqlx::query("INSERT INTO scratch (k) VALUES ($1)")
                    .bind(format!("k{n:03}"))
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                sqlx::query("INSERT INTO other DEFAULT VALUES")
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                if n % 10 == 0 {
                    // Every tenth changes its mind after writing: it must leave no trace,
                    // and the batch it was in goes on without it.
                    tx.rollback().await.unwrap();
                    return (n, false);
                }
                tx.commit().await.unwrap();
                // Committed means visible to every other connection already.
                let mut c = store.read().await.unwrap();
                let seen: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM scratch WHERE k = $1")
                    .bind(format!("k{n:03}"))
                    .fetch_one(&mut c)
                    .await
                    .unwrap();
                assert_eq!(seen, 1, "k{n:03} acknowledged but not visible");
                (n, true)
            });
        }
        let mut kept: Vec<String> = Vec::new();
        while let Some(r) = tasks.join_next().await {
            let (n, committed) = r.unwrap();
            if committed {
                kept.push(format!("k{n:03}"));
            }
        }
        kept.sort();
        assert_eq!(kept.len(), 180);
        assert_eq!(keys(&db.store).await, kept);
        let mut c = db.store.read().await.unwrap();
        let others: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM other")
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(
            others, 180,
            "each transaction's two rows stand or fall together"
        );
    }

    /// A write transaction that has written `k` and not committed yet.
    async fn written(store: &crate::Store, k: &str) -> crate::Tx {
        let mut tx = store.write().await.unwrap();
        sqlx::query("INSERT INTO scratch (k) VALUES ($1)")
            .bind(k.to_string())
            .execute(&mut *tx)
            .await
            .unwrap();
        tx
    }

    /// Returns once another writer waits at the gate.
    async fn until_queued(store: &crate::Store) {
        while store.writer.queued.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
    }

    /// The writer a finished transaction left its batch open for is cancelled while queued:
    /// the batch still commits, and the finished one is told so.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_commits_even_when_the_writer_it_waited_for_gives_up() {
        let db = TestDb::sqlite().await;
        scratch(&db.store).await;
        let tx = written(&db.store, "first").await;
        let store = db.store.clone();
        let queued = tokio::spawn(async move {
            let _never = store.write().await;
        });
        until_queued(&db.store).await;
        let committing = tokio::spawn(tx.commit());
        tokio::time::sleep(Duration::from_millis(1)).await;
        queued.abort();
        tokio::time::timeout(Duration::from_secs(5), committing)
            .await
            .expect("the batch committed")
            .unwrap()
            .unwrap();
        assert_eq!(keys(&db.store).await, ["first"]);
    }

    /// The click writer writes on a connection of its own: taking the gate, it commits the
    /// batch left open for it, or its own transaction would wait on the batch's write lock.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_click_writer_gate_commits_an_open_batch_first() {
        let db = TestDb::sqlite().await;
        scratch(&db.store).await;
        let tx = written(&db.store, "in-batch").await;
        let (held, holding) = tokio::sync::oneshot::channel();
        let store = db.store.clone();
        let clicks = tokio::spawn(async move {
            let gate = store.write_gate().await;
            let _ = held.send(());
            tokio::time::sleep(Duration::from_secs(2)).await;
            drop(gate);
        });
        until_queued(&db.store).await;
        // Another writer is queued, so this commit leaves the batch open for it.
        let committing = tokio::spawn(tx.commit());
        holding.await.unwrap();
        // The gate is held for two seconds: only the gate's own flush can have committed.
        tokio::time::timeout(Duration::from_secs(1), committing)
            .await
            .expect("committed by the click writer's gate")
            .unwrap()
            .unwrap();
        assert_eq!(keys(&db.store).await, ["in-batch"]);
        clicks.await.unwrap();
    }
}
