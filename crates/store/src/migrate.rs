//! Embedded migrations, one folder per backend with the same versions. An applied migration
//! is checksummed: editing it afterwards is refused at start, never silently re-run.

use crate::{Backend, Store};
use sqlx::Row;
use vouch_core::secret::sha256_hex as checksum;

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "foundation",
        sqlite: include_str!("../migrations/sqlite/0001_foundation.sql"),
        postgres: include_str!("../migrations/postgres/0001_foundation.sql"),
    },
    Migration {
        version: 2,
        name: "tracking",
        sqlite: include_str!("../migrations/sqlite/0002_tracking.sql"),
        postgres: include_str!("../migrations/postgres/0002_tracking.sql"),
    },
    Migration {
        version: 3,
        name: "advocate_visitors",
        sqlite: include_str!("../migrations/sqlite/0003_advocate_visitors.sql"),
        postgres: include_str!("../migrations/postgres/0003_advocate_visitors.sql"),
    },
    Migration {
        version: 4,
        name: "rewards",
        sqlite: include_str!("../migrations/sqlite/0004_rewards.sql"),
        postgres: include_str!("../migrations/postgres/0004_rewards.sql"),
    },
    Migration {
        version: 5,
        name: "ingest_indexes",
        sqlite: include_str!("../migrations/sqlite/0005_ingest_indexes.sql"),
        postgres: include_str!("../migrations/postgres/0005_ingest_indexes.sql"),
    },
    Migration {
        version: 6,
        name: "advocate_ips",
        sqlite: include_str!("../migrations/sqlite/0006_advocate_ips.sql"),
        postgres: include_str!("../migrations/postgres/0006_advocate_ips.sql"),
    },
    Migration {
        version: 7,
        name: "first_visits",
        sqlite: include_str!("../migrations/sqlite/0007_first_visits.sql"),
        postgres: include_str!("../migrations/postgres/0007_first_visits.sql"),
    },
    Migration {
        version: 8,
        name: "outbox_relay",
        sqlite: include_str!("../migrations/sqlite/0008_outbox_relay.sql"),
        postgres: include_str!("../migrations/postgres/0008_outbox_relay.sql"),
    },
    Migration {
        version: 9,
        name: "referral_counts",
        sqlite: include_str!("../migrations/sqlite/0009_referral_counts.sql"),
        postgres: include_str!("../migrations/postgres/0009_referral_counts.sql"),
    },
];

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("migration {0} was changed after it was applied to this database; restore it")]
    Edited(i64),
    #[error(
        "the database has migration {0}, which this version of Vouch does not know; upgrade Vouch"
    )]
    Newer(i64),
    #[error("migration {version} ({name}) failed: {source}")]
    Failed {
        version: i64,
        name: &'static str,
        source: sqlx::Error,
    },
}

impl Migration {
    fn sql(&self, backend: Backend) -> &'static str {
        match backend {
            Backend::Sqlite => self.sqlite,
            Backend::Postgres => self.postgres,
        }
    }
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)";

impl Store {
    /// Applies every pending migration, each in its own transaction, and checks applied ones.
    pub async fn migrate(&self) -> crate::Result<()> {
        {
            let mut c = self.read().await?;
            sqlx::query(CREATE_TABLE).execute(&mut c).await?;
        }
        for m in MIGRATIONS {
            let mut tx = self.write().await?;
            if self.backend == Backend::Postgres {
                // Two servers starting at once: one migrates, the other waits and then sees it done.
                sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock(7237823)) AS l")
                    .execute(&mut *tx)
                    .await?;
            }
            let applied = sqlx::query("SELECT checksum FROM schema_migrations WHERE version = $1")
                .bind(m.version)
                .fetch_optional(&mut *tx)
                .await?;
            let sql = m.sql(self.backend);
            match applied {
                Some(row) => {
                    let stored: String = row.try_get("checksum")?;
                    if stored != checksum(sql) {
                        return Err(MigrationError::Edited(m.version).into());
                    }
                }
                None => {
                    sqlx::raw_sql(sql)
                        .execute(&mut *tx)
                        .await
                        .map_err(|source| MigrationError::Failed {
                            version: m.version,
                            name: m.name,
                            source,
                        })?;
                    sqlx::query(
                        "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(m.version)
                    .bind(m.name)
                    .bind(checksum(sql))
                    .bind(vouch_core::clock::now_ms())
                    .execute(&mut *tx)
                    .await?;
                    tracing::info!(version = m.version, name = m.name, "applied migration");
                }
            }
            tx.commit().await?;
        }
        let newest = self.applied_version().await?;
        let known = MIGRATIONS.last().map_or(0, |m| m.version);
        if newest > known {
            return Err(MigrationError::Newer(newest).into());
        }
        Ok(())
    }

    /// The highest applied migration version (0 for an empty database).
    pub async fn applied_version(&self) -> crate::Result<i64> {
        let mut c = self.read().await?;
        let exists = match self.backend {
            Backend::Sqlite => {
                "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
            }
            Backend::Postgres => {
                "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'schema_migrations'"
            }
        };
        let n: i64 = sqlx::query(exists).fetch_one(&mut c).await?.try_get("n")?;
        if n == 0 {
            return Ok(0);
        }
        let row = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")
            .fetch_one(&mut c)
            .await?;
        Ok(row.try_get("v")?)
    }

    /// How many migrations this binary knows that the database has not applied.
    pub async fn pending_migrations(&self) -> crate::Result<usize> {
        let v = self.applied_version().await?;
        Ok(MIGRATIONS.iter().filter(|m| m.version > v).count())
    }
}
