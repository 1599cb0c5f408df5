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
use std::time::{Duration, Instant};

/// How long a transaction waits for another process's write lock (the store's connections wait
/// as long through `busy_timeout`).
const BUSY_WAIT: Duration = Duration::from_secs(10);
/// Statements between two yields to the scheduler, so a long write transaction (an import, a
/// payout batch) does not hold its thread for the whole of it.
const YIELD_EVERY: u32 = 64;

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
        Ok(Self {
            conn,
            columns: HashMap::new(),
        })
    }
}

/// The gate's contents: the writer connection once a transaction has needed it.
#[derive(Default)]
pub(crate) struct Slot {
    pub(crate) writer: Option<Writer>,
}

/// An open `BEGIN IMMEDIATE` transaction on the writer connection. Dropped without `commit`,
/// it rolls back: nothing of it happened.
pub(crate) struct Transaction {
    gate: tokio::sync::OwnedMutexGuard<Slot>,
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
    /// Begins on the gate's connection (opened from `path` on first use). Waiting for another
    /// process's write lock happens here, asynchronously, not in SQLite's sleeping busy handler.
    pub(crate) async fn begin(
        mut gate: tokio::sync::OwnedMutexGuard<Slot>,
        path: &Path,
    ) -> Result<Self, sqlx::Error> {
        if gate.writer.is_none() {
            gate.writer = Some(Writer::open(path)?);
        }
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
        Ok(Self {
            gate,
            open: true,
            statements: 0,
        })
    }

    fn writer(&mut self) -> &mut Writer {
        self.gate
            .writer
            .as_mut()
            .expect("a transaction has its connection")
    }

    pub(crate) fn commit(mut self) -> Result<(), sqlx::Error> {
        self.still_open()?;
        self.writer()
            .conn
            .execute_batch("COMMIT")
            .map_err(db_error)?;
        self.open = false;
        Ok(())
    }

    pub(crate) fn rollback(mut self) -> Result<(), sqlx::Error> {
        self.open = false;
        let conn = &self.writer().conn;
        if conn.is_autocommit() {
            return Ok(());
        }
        conn.execute_batch("ROLLBACK").map_err(db_error)
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
        let Writer { conn, columns } = self.writer();
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
            let conn = &self.writer().conn;
            if !conn.is_autocommit()
                && let Err(e) = conn.execute_batch("ROLLBACK")
            {
                tracing::error!(error = %e, "rolling back a dropped write transaction");
            }
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
