//! SQLite only: the store's write connection, driven in place instead of through the driver's
//! worker thread.
//!
//! Why: through sqlx every SQLite statement is a round trip to a worker thread (about 45 µs on
//! this class of machine, two thread wake-ups), while SQLite needs 1–5 µs for the statements a
//! write transaction runs. A conversion is about 45 statements, all under the one write lock, so
//! the round trips were the ceiling of everything that writes. Here a statement is stepped on the
//! calling thread, from a prepared-statement cache, and its rows come back as the `Any` driver's
//! own row type: the store's queries run unchanged (see `conn`).
//!
//! The connection belongs to the writer gate: whoever holds the gate holds the connection, so it
//! needs no lock of its own and never runs two transactions at once.

use sqlx::any::{AnyArguments, AnyQueryResult, AnyRow, AnyTypeInfo, AnyTypeInfoKind};
use sqlx_core::any::{AnyColumn, AnyValue, AnyValueKind};
use sqlx_core::ext::ustr::UStr;
use std::collections::HashMap;
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

/// Opens a connection on `path` (already migrated) with the settings of the store's own
/// connections: WAL, foreign keys, `synchronous = NORMAL`, a 32 MiB page cache.
pub(crate) fn open(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(path)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
         PRAGMA synchronous = NORMAL; PRAGMA cache_size = -32768; PRAGMA temp_store = MEMORY;",
    )?;
    Ok(conn)
}

/// The writer connection and what it remembers between transactions.
pub(crate) struct Writer {
    conn: rusqlite::Connection,
    /// Column names per statement, shared by every row the statement returns.
    columns: HashMap<String, Columns>,
    _checkpoints: Option<Checkpointer>,
}

#[derive(Clone)]
struct Columns {
    names: Arc<sqlx_core::HashMap<UStr, usize>>,
    list: Arc<[AnyColumn]>,
}

impl Writer {
    pub(crate) fn open(path: &Path) -> Result<Self, sqlx::Error> {
        let conn = open(path).map_err(db_error)?;
        // Every statement of the write paths stays prepared (the default keeps 16).
        conn.set_prepared_statement_cache_capacity(512);
        // Plans that do not depend on the values bound: without it SQLite re-prepares a
        // statement whenever a bound value might change its plan (a third of the statements of
        // a conversion, each time).
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .map_err(db_error)?;
        let checkpoints = match Checkpointer::start(path) {
            Ok(c) => {
                conn.pragma_update(None, "wal_autocheckpoint", 0)
                    .map_err(db_error)?;
                Some(c)
            }
            Err(e) => {
                tracing::warn!(error = %e, "no WAL checkpoint thread; commits checkpoint as they go");
                None
            }
        };
        Ok(Self {
            conn,
            columns: HashMap::new(),
            _checkpoints: checkpoints,
        })
    }
}

/// Copies the WAL into the database file from a thread and connection of its own, so the
/// writer's commits never do it (SQLite's automatic checkpoint runs inside the commit that
/// crosses 1,000 pages: a fifth of the writer's time at full load). A passive checkpoint waits
/// for no one; the thread ends with the writer.
struct Checkpointer {
    _stop: std::sync::mpsc::Sender<()>,
}

impl Checkpointer {
    const EVERY: Duration = Duration::from_millis(100);

    fn start(path: &Path) -> std::io::Result<Self> {
        let conn = open(path).map_err(std::io::Error::other)?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("vouch-checkpoint".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(Self::EVERY)
                {
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(error = %e, "WAL checkpoint");
                    }
                }
            })?;
        Ok(Self { _stop: stop })
    }
}

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

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("native::Transaction")
            .field("open", &self.open)
            .finish()
    }
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
        if self.writer().conn.is_autocommit() {
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

    /// Runs one statement and returns its rows (only the first when `first_only`) and what it
    /// changed. Without arguments (`raw_sql`) it runs a script of statements and returns no rows.
    pub(crate) fn run(
        &mut self,
        sql: &str,
        arguments: Option<AnyArguments>,
        persistent: bool,
        first_only: bool,
    ) -> Result<(Vec<AnyRow>, AnyQueryResult), sqlx::Error> {
        self.still_open()?;
        tracing::trace!(target: "vouch_store::native", statement = sql);
        let Writer { conn, columns, .. } = self.writer();
        // `raw_sql` scripts: no arguments, maybe several statements, no rows wanted.
        if arguments.is_none() {
            conn.execute_batch(sql).map_err(db_error)?;
            return Ok((Vec::new(), done(conn.changes(), None)));
        }
        let arguments = arguments.as_ref();
        if persistent {
            let mut s = conn.prepare_cached(sql).map_err(db_error)?;
            step(conn, &mut s, Some((columns, sql)), arguments, first_only)
        } else {
            let mut s = conn.prepare(sql).map_err(db_error)?;
            step(conn, &mut s, None, arguments, first_only)
        }
    }
}

/// Binds, steps and collects one prepared statement; `cache` keeps its column names.
fn step(
    conn: &rusqlite::Connection,
    statement: &mut rusqlite::Statement<'_>,
    cache: Option<(&mut HashMap<String, Columns>, &str)>,
    arguments: Option<&AnyArguments>,
    first_only: bool,
) -> Result<(Vec<AnyRow>, AnyQueryResult), sqlx::Error> {
    if let Some(arguments) = arguments {
        bind(statement, &arguments.values.0)?;
    }
    let columns = match cache {
        Some((cache, sql)) => match cache.get(sql) {
            Some(c) => c.clone(),
            None => cache
                .entry(sql.to_string())
                .or_insert_with(|| columns_of(statement))
                .clone(),
        },
        None => columns_of(statement),
    };
    let writes = !statement.readonly();
    let mut out = Vec::new();
    {
        let mut rows = statement.raw_query();
        while let Some(row) = rows.next().map_err(db_error)? {
            let mut values = Vec::with_capacity(columns.list.len());
            for i in 0..columns.list.len() {
                values.push(AnyValue {
                    kind: value_of(row.get_ref(i).map_err(db_error)?, i)?,
                });
            }
            out.push(AnyRow {
                column_names: columns.names.clone(),
                columns: columns.list.to_vec(),
                values,
            });
            if first_only {
                break;
            }
        }
    }
    let changed = if writes { conn.changes() } else { 0 };
    let last_insert_id = writes.then(|| conn.last_insert_rowid());
    Ok((out, done(changed, last_insert_id)))
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
    &gate.writer.as_ref().expect("opened before use").conn
}

fn done(rows_affected: u64, last_insert_id: Option<i64>) -> AnyQueryResult {
    AnyQueryResult {
        rows_affected,
        last_insert_id,
    }
}

fn columns_of(statement: &rusqlite::Statement<'_>) -> Columns {
    let mut names = sqlx_core::HashMap::new();
    let list: Vec<AnyColumn> = statement
        .column_names()
        .enumerate()
        .map(|(ordinal, name)| {
            let name = UStr::new(name);
            names.insert(name.clone(), ordinal);
            AnyColumn {
                ordinal,
                name,
                type_info: AnyTypeInfo {
                    kind: AnyTypeInfoKind::Null,
                },
            }
        })
        .collect();
    Columns {
        names: Arc::new(names),
        list: list.into(),
    }
}

/// Binds the way sqlx's SQLite driver does: `$N` and `?N` name the N-th argument, a bare `?`
/// takes the next one, and a parameter past the arguments stays NULL.
fn bind(
    statement: &mut rusqlite::Statement<'_>,
    values: &[AnyValueKind],
) -> Result<(), sqlx::Error> {
    use rusqlite::types::Null;
    let mut next = 0;
    for i in 1..=statement.parameter_count() {
        let n = match statement.parameter_name(i) {
            Some(name) => name[1..].parse::<usize>().map_err(|_| {
                sqlx::Error::Protocol(format!("unsupported SQL parameter name {name}"))
            })?,
            None => {
                next += 1;
                next
            }
        };
        let Some(value) = n.checked_sub(1).and_then(|k| values.get(k)) else {
            break;
        };
        let bound = match value {
            AnyValueKind::Null(_) => statement.raw_bind_parameter(i, Null),
            AnyValueKind::Bool(b) => statement.raw_bind_parameter(i, i64::from(*b)),
            AnyValueKind::SmallInt(v) => statement.raw_bind_parameter(i, i64::from(*v)),
            AnyValueKind::Integer(v) => statement.raw_bind_parameter(i, i64::from(*v)),
            AnyValueKind::BigInt(v) => statement.raw_bind_parameter(i, *v),
            AnyValueKind::Real(v) => statement.raw_bind_parameter(i, f64::from(*v)),
            AnyValueKind::Double(v) => statement.raw_bind_parameter(i, *v),
            AnyValueKind::Text(v) => statement.raw_bind_parameter(i, v.as_str()),
            AnyValueKind::TextSlice(v) => statement.raw_bind_parameter(i, &**v),
            AnyValueKind::Blob(v) => statement.raw_bind_parameter(i, v.as_slice()),
            other => {
                return Err(sqlx::Error::Encode(
                    format!("the native SQLite writer cannot bind {other:?}").into(),
                ));
            }
        };
        bound.map_err(db_error)?;
    }
    Ok(())
}

/// A value as the `Any` driver maps SQLite's: by the value's own type.
fn value_of(v: rusqlite::types::ValueRef<'_>, column: usize) -> Result<AnyValueKind, sqlx::Error> {
    use rusqlite::types::ValueRef;
    Ok(match v {
        ValueRef::Null => AnyValueKind::Null(AnyTypeInfoKind::Null),
        ValueRef::Integer(i) => AnyValueKind::BigInt(i),
        ValueRef::Real(f) => AnyValueKind::Double(f),
        ValueRef::Text(t) => AnyValueKind::Text(Arc::new(
            std::str::from_utf8(t)
                .map_err(|e| sqlx::Error::ColumnDecode {
                    index: column.to_string(),
                    source: Box::new(e),
                })?
                .to_owned(),
        )),
        ValueRef::Blob(b) => AnyValueKind::Blob(Arc::new(b.to_vec())),
    })
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DatabaseBusy)
}

/// SQLite's errors keep their extended code and message, and their kind, so a unique violation
/// is the same `sqlx::Error` whichever connection met it.
fn db_error(e: rusqlite::Error) -> sqlx::Error {
    match e {
        rusqlite::Error::SqliteFailure(f, message) => sqlx::Error::Database(Box::new(DbError {
            code: f.extended_code,
            message: message.unwrap_or_else(|| f.to_string()),
        })),
        other => sqlx::Error::Protocol(other.to_string()),
    }
}

#[derive(Debug)]
struct DbError {
    code: i32,
    message: String,
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DbError {}

impl sqlx::error::DatabaseError for DbError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
        Some(self.code.to_string().into())
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        use rusqlite::ffi;
        use sqlx::error::ErrorKind;
        match self.code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                ErrorKind::UniqueViolation
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ErrorKind::ForeignKeyViolation,
            ffi::SQLITE_CONSTRAINT_NOTNULL => ErrorKind::NotNullViolation,
            ffi::SQLITE_CONSTRAINT_CHECK => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::TestDb;
    use crate::{Store, StoreError, conflict_as};
    use sqlx::Row;
    use std::time::Duration;

    async fn scratch(store: &Store) {
        let mut tx = store.write().await.unwrap();
        sqlx::raw_sql(
            "CREATE TABLE scratch (id INTEGER PRIMARY KEY, k TEXT NOT NULL UNIQUE, n INTEGER, \
             r REAL, b BLOB); CREATE TABLE other (id INTEGER PRIMARY KEY)",
        )
        .execute(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }

    async fn insert(store: &Store, k: &str) -> crate::Result<()> {
        let mut tx = store.write().await?;
        sqlx::query("INSERT INTO scratch (k, n) VALUES ($1, $2)")
            .bind(k.to_string())
            .bind(1_i64)
            .execute(&mut *tx)
            .await
            .map_err(conflict_as("key"))?;
        tx.commit().await?;
        Ok(())
    }

    /// What the pool's connections (the driver, not the native writer) see committed.
    async fn keys(store: &Store) -> Vec<String> {
        let mut c = store.read().await.unwrap();
        sqlx::query_scalar("SELECT k FROM scratch ORDER BY k")
            .fetch_all(&mut c)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_file_store_writes_through_the_native_connection() {
        let db = TestDb::sqlite().await;
        let tx = db.store.write().await.unwrap();
        assert_eq!(format!("{:?}", *tx), "Conn::Native");
    }

    #[tokio::test]
    async fn values_read_back_as_the_driver_reads_them() {
        let db = TestDb::sqlite().await;
        scratch(&db.store).await;
        let mut tx = db.store.write().await.unwrap();
        let row = sqlx::query(
            "INSERT INTO scratch (k, n, r, b) VALUES ($1, $2, $3, $4) RETURNING id, k, n, r, b",
        )
        .bind("é ☃".to_string())
        .bind(i64::MAX)
        .bind(2.5_f64)
        .bind(vec![0_u8, 255])
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        let id: i64 = row.try_get("id").unwrap();
        let missing = sqlx::query("SELECT n FROM scratch WHERE id = $1")
            .bind(id + 1)
            .fetch_optional(&mut *tx)
            .await
            .unwrap();
        assert!(missing.is_none());
        let nothing: Option<i64> = sqlx::query_scalar("SELECT NULL")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(nothing, None);
        let changed = sqlx::query("UPDATE scratch SET n = n - 1 WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .unwrap();
        assert_eq!(changed.rows_affected(), 1);
        tx.commit().await.unwrap();
        let mut c = db.store.read().await.unwrap();
        let back = sqlx::query("SELECT k, n, r, b FROM scratch WHERE id = $1")
            .bind(id)
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(
            row.try_get::<String, _>("k").unwrap(),
            back.try_get::<String, _>("k").unwrap()
        );
        assert_eq!(row.try_get::<i64, _>("n").unwrap(), i64::MAX);
        assert_eq!(back.try_get::<i64, _>("n").unwrap(), i64::MAX - 1);
        assert_eq!(
            row.try_get::<f64, _>("r").unwrap(),
            back.try_get::<f64, _>("r").unwrap()
        );
        assert_eq!(
            row.try_get::<Vec<u8>, _>("b").unwrap(),
            back.try_get::<Vec<u8>, _>("b").unwrap()
        );
    }

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

    /// The writer a finished transaction left its batch open for is cancelled while queued:
    /// the batch still commits, and the finished one is told so.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_commits_even_when_the_writer_it_waited_for_gives_up() {
        let db = TestDb::sqlite().await;
        scratch(&db.store).await;
        let mut tx = db.store.write().await.unwrap();
        sqlx::query("INSERT INTO scratch (k) VALUES ('first')")
            .execute(&mut *tx)
            .await
            .unwrap();
        let store = db.store.clone();
        let queued = tokio::spawn(async move {
            let _never = store.write().await;
        });
        while db
            .store
            .writer
            .queued
            .load(std::sync::atomic::Ordering::SeqCst)
            == 0
        {
            tokio::task::yield_now().await;
        }
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
        let mut tx = db.store.write().await.unwrap();
        sqlx::query("INSERT INTO scratch (k) VALUES ('in-batch')")
            .execute(&mut *tx)
            .await
            .unwrap();
        let (held, holding) = tokio::sync::oneshot::channel();
        let store = db.store.clone();
        let clicks = tokio::spawn(async move {
            let gate = store.write_gate().await;
            let _ = held.send(());
            tokio::time::sleep(Duration::from_secs(2)).await;
            drop(gate);
        });
        while db
            .store
            .writer
            .queued
            .load(std::sync::atomic::Ordering::SeqCst)
            == 0
        {
            tokio::task::yield_now().await;
        }
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
