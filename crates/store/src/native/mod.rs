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
use std::time::Duration;

mod gate;

pub(crate) use gate::{Gate, Guard, Transaction};

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

    pub(super) fn conn(&self) -> &rusqlite::Connection {
        &self.conn
    }

    /// Runs one statement and returns its rows (only the first when `first_only`) and what it
    /// changed. Without arguments (`raw_sql`) it runs a script of statements and returns no rows.
    fn execute(
        &mut self,
        sql: &str,
        arguments: Option<AnyArguments>,
        persistent: bool,
        first_only: bool,
    ) -> Result<(Vec<AnyRow>, AnyQueryResult), sqlx::Error> {
        tracing::trace!(target: "vouch_store::native", statement = sql);
        let Writer { conn, columns, .. } = self;
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
pub(super) mod tests {
    use crate::testing::TestDb;
    use crate::{Store, conflict_as};
    use sqlx::Row;

    pub(super) async fn scratch(store: &Store) {
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

    pub(super) async fn insert(store: &Store, k: &str) -> crate::Result<()> {
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
    pub(super) async fn keys(store: &Store) -> Vec<String> {
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
}
