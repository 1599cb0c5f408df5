//! Vouch's storage: one `Store` over SQLite (embedded default) or PostgreSQL (scale backend).
//! SQL is written once in the dialect both accept; `Backend` branches only where they differ.

pub mod accounts;
pub mod advocates;
pub mod audit;
pub mod campaigns;
pub mod clicks;
pub mod commands;
mod conn;
pub mod customers;
pub mod customers_csv;
pub mod jobs;
pub mod ledger;
pub mod migrate;
mod native;
pub mod notices;
pub mod outbox;
pub mod payouts;
pub mod pools;
pub mod programs;
pub mod referrals;
pub mod rewards;
pub mod rows;
pub mod schema;
pub mod spreadsheet;
pub mod testing;
pub mod tracking;
pub mod transfer;
pub mod workspaces;

use sqlx::AnyPool;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use std::str::FromStr;
use std::time::Duration;

pub use conn::Conn;
pub use vouch_core::Millis;

/// A write transaction: commit it, or drop it and nothing of it happened. On SQLite it also
/// holds the process's writer gate, so writers queue in order instead of polling SQLite's
/// busy handler (which sleeps for milliseconds and caps throughput under contention); on a
/// SQLite file it runs on the gate's native connection (see `native`).
pub struct Tx {
    inner: Conn,
    _gate: Option<native::Guard>,
}

impl Tx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.inner.commit().await
    }
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.inner.rollback().await
    }
}

impl std::ops::Deref for Tx {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        &self.inner
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.inner
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error("{0} was not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Refused(String),
    /// Refused for a typed reason the API names with a stable code (`already_referred`, …).
    #[error("{1}")]
    Rejected(&'static str, String),
    #[error("database URL is not usable: {0}")]
    BadUrl(String),
    #[error(transparent)]
    Migration(#[from] migrate::MigrationError),
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    #[error("file error: {0}")]
    Io(#[from] std::io::Error),
    #[error("database error: {0}")]
    Db(#[source] sqlx::Error),
    /// From the click writer's own SQLite connection (see `clicks`).
    #[error("database error: {0}")]
    Native(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Db(e)
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Maps a unique-constraint violation to `Conflict(what)`; other errors pass through.
pub(crate) fn conflict_as(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(what),
        _ => StoreError::Db(e),
    }
}

/// The handle every part of Vouch uses to reach its data. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// One writer at a time on SQLite (another process still waits on the busy timeout).
    writer: native::Gate,
    /// The database file on SQLite (not for an in-memory database): where the native write
    /// connection and the click writer's own connection open, once, on first use.
    sqlite_file: Option<std::sync::Arc<std::path::PathBuf>>,
    native_clicks: std::sync::Arc<tokio::sync::OnceCell<clicks::NativeWriter>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish()
    }
}

/// Options for opening a store.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

impl Store {
    /// Opens `url` (`sqlite://…` or `postgres://…`). Does not migrate; call [`Store::migrate`].
    pub async fn connect(url: &str, options: &ConnectOptions) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = backend_of(url)?;
        let connect =
            AnyConnectOptions::from_str(url).map_err(|e| StoreError::BadUrl(e.to_string()))?;
        let pool = AnyPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the one writer; busy_timeout makes a
                        // second writer wait instead of failing; foreign keys are off by default;
                        // a 32 MiB page cache per connection keeps hot indexes out of read(2).
                        sqlx::raw_sql(
                            "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; \
                             PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL; \
                             PRAGMA cache_size = -32768; PRAGMA temp_store = MEMORY;",
                        )
                        .execute(&mut *conn)
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(connect)
            .await?;
        let sqlite_file = match backend {
            Backend::Sqlite => clicks::sqlite_file_of(url).map(std::sync::Arc::new),
            Backend::Postgres => None,
        };
        Ok(Self {
            pool,
            backend,
            writer: Default::default(),
            sqlite_file,
            native_clicks: Default::default(),
        })
    }

    /// Opens and migrates: what `serve`, `worker` and every command do first.
    pub async fn open(url: &str, options: &ConnectOptions) -> Result<Self> {
        let store = Self::connect(url, options).await?;
        store.migrate().await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A connection for reads (or single-statement writes).
    pub async fn read(&self) -> Result<Conn> {
        Ok(Conn::pooled(self.pool.acquire().await?))
    }

    /// A write transaction. On SQLite it takes the write lock up front (`BEGIN IMMEDIATE`),
    /// so a read-then-write transaction never fails to upgrade under concurrent writers.
    pub async fn write(&self) -> Result<Tx> {
        Ok(match self.backend {
            Backend::Sqlite => {
                let gate = self.writer.lock().await;
                match &self.sqlite_file {
                    Some(file) => Tx {
                        inner: Conn::native(native::Transaction::begin(gate, file).await?),
                        _gate: None,
                    },
                    None => Tx {
                        inner: Conn::driver(self.pool.begin_with("BEGIN IMMEDIATE").await?),
                        _gate: Some(gate),
                    },
                }
            }
            Backend::Postgres => Tx {
                inner: Conn::driver(self.pool.begin().await?),
                _gate: None,
            },
        })
    }

    /// Runs one write statement as a transaction of its own, through the writer gate like every
    /// write: on a pooled SQLite connection it would wait for SQLite's lock in a sleeping busy
    /// handler, behind every batch of writes under load.
    pub async fn write_one(&self, q: rows::AnyQuery) -> Result<u64> {
        let mut tx = self.write().await?;
        let done = q.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// The writer gate alone, for a writer with a connection of its own (the click writer).
    /// The batch of native write transactions left open, if any, is committed first.
    pub(crate) async fn write_gate(&self) -> native::Guard {
        let mut gate = self.writer.lock().await;
        gate.flush();
        gate
    }

    /// The native click writer on a SQLite file, started on first use.
    pub(crate) async fn native_clicks(&self) -> Result<Option<&clicks::NativeWriter>> {
        let Some(file) = &self.sqlite_file else {
            return Ok(None);
        };
        let w = self
            .native_clicks
            .get_or_try_init(|| async { clicks::NativeWriter::open(file) })
            .await?;
        Ok(Some(w))
    }

    /// Round-trips the database: what `/readyz` and `vouch healthcheck` ask.
    pub async fn ping(&self) -> Result<()> {
        let mut c = self.read().await?;
        sqlx::query("SELECT 1").execute(&mut c).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn backend_of(url: &str) -> Result<Backend> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err(StoreError::BadUrl(
            "use sqlite://PATH or postgres://USER@HOST/DB".into(),
        ))
    }
}

/// The SQLite URL for a file path, created if missing.
pub fn sqlite_url(path: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}
