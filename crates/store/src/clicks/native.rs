//! SQLite only: the click writer's own connection, on a thread of its own, stepping one prepared
//! statement per row. Through the async driver every statement is a round trip to the driver's
//! worker thread and every parameter a conversion; here a batch of thousands of clicks is one
//! round trip, and each row costs SQLite's own work and little else.
//!
//! The connection writes only while the async side holds the store's writer gate, so it queues
//! behind the other writers of this process exactly like a `BEGIN IMMEDIATE` transaction does.

use super::NewClick;
use crate::{Result, StoreError};
use rusqlite::{Connection, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use tokio::sync::oneshot;

/// What the thread is asked to do: write `clicks` into `table`, with the daily rollups or not.
struct Job {
    table: &'static str,
    clicks: Arc<[NewClick]>,
    rollups: bool,
    done: oneshot::Sender<std::result::Result<(), String>>,
}

/// A handle on the writing thread; the thread ends when the last handle is dropped.
#[derive(Debug)]
pub(crate) struct NativeWriter {
    jobs: std::sync::Mutex<mpsc::Sender<Job>>,
}

impl NativeWriter {
    /// Opens `path` (already migrated) on a new thread.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let conn = crate::native::open(path).map_err(native)?;
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("vouch-click-writer".into())
            .spawn(move || serve(conn, rx))?;
        Ok(Self {
            jobs: std::sync::Mutex::new(tx),
        })
    }

    /// Writes one batch in one transaction; the caller holds the writer gate. `Ok(false)` when
    /// the thread is gone (it panicked): nothing was written, and the caller writes the batch
    /// another way.
    pub(crate) async fn write(
        &self,
        table: &'static str,
        clicks: Arc<[NewClick]>,
        rollups: bool,
    ) -> Result<bool> {
        let (done, answer) = oneshot::channel();
        let job = Job {
            table,
            clicks,
            rollups,
            done,
        };
        let sent = match self.jobs.lock() {
            Ok(jobs) => jobs.send(job).is_ok(),
            Err(_) => false,
        };
        if !sent {
            return Ok(false);
        }
        match answer.await {
            Ok(Ok(())) => Ok(true),
            // The transaction rolled back: the batch is retried whole.
            Ok(Err(e)) => Err(StoreError::Native(format!("writing clicks: {e}"))),
            Err(_) => Ok(false),
        }
    }

    /// Ends the thread, as a panic would.
    #[cfg(test)]
    pub(crate) fn stop(&self) {
        if let Ok(mut jobs) = self.jobs.lock() {
            *jobs = mpsc::channel().0;
        }
    }
}

fn native(e: rusqlite::Error) -> StoreError {
    StoreError::Native(format!("opening the click writer: {e}"))
}

fn serve(mut conn: Connection, jobs: mpsc::Receiver<Job>) {
    while let Ok(job) = jobs.recv() {
        let result = write_batch(&mut conn, job.table, &job.clicks, job.rollups);
        let _ = job.done.send(result.map_err(|e| e.to_string()));
    }
}

fn write_batch(
    conn: &mut Connection,
    table: &str,
    clicks: &[NewClick],
    rollups: bool,
) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut insert = tx.prepare(&format!(
            "INSERT INTO {table} ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            super::CLICK_COLUMNS
        ))?;
        for k in clicks {
            insert.execute(params![
                k.workspace_id,
                k.public_id,
                k.program_id,
                k.advocate_id,
                k.visitor_id,
                k.ip_hash,
                k.user_agent,
                k.referer,
                k.params,
                i64::from(k.qualified),
                k.unqualified_reason,
                k.created_at,
            ])?;
        }
        if rollups {
            let mut upsert = tx.prepare(super::ROLLUP_UPSERT)?;
            for ((ws, adv, day), (n, q)) in super::rollups_of(clicks) {
                upsert.execute(params![ws, adv, day, n, q])?;
            }
        }
    }
    tx.commit()
}

/// The database file behind a SQLite URL, or `None` for an in-memory database (which only the
/// store's own connections can see).
pub(crate) fn file_of(url: &str) -> Option<PathBuf> {
    use std::str::FromStr;
    if url.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    let file = options.get_filename();
    (!file.as_os_str().is_empty()).then(|| file.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::file_of;

    #[test]
    fn only_a_database_file_gets_the_native_writer() {
        assert_eq!(
            file_of("sqlite:///var/lib/vouch/vouch.db?mode=rwc").as_deref(),
            Some(std::path::Path::new("/var/lib/vouch/vouch.db"))
        );
        assert_eq!(file_of("sqlite::memory:"), None);
        assert_eq!(file_of("sqlite://shared?mode=memory"), None);
    }
}
