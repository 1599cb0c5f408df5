//! `vouch export` / `vouch import`: every table through Vouch's own row types, as JSON Lines,
//! so a business can move between SQLite and PostgreSQL. Import is one transaction into an
//! empty database: it lands whole or not at all.

use crate::rows::{self, TableRow};
use crate::rows::{
    Advocate, AdvocateVisitor, ApiKey, AuditEntry, CampaignRow, Click, ClickRollup, CodePool,
    CodeRow, Conversion, Customer, EarlyReversal, Entitlement, Event, Job, LedgerBalance,
    LedgerEntry, LedgerTransaction, LoginThrottle, Member, Notice, Payout, PayoutItem, PoolCode,
    Program, ProgramVersion, Referral, Reward, Session, SystemProbe, User, Workspace,
};
use crate::{Backend, Conn, Result, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::Path;

pub const FORMAT: &str = "vouch-export";
pub const FORMAT_VERSION: i64 = 1;

/// Calls `$m!(Type)` for every table, parents before children (the foreign-key order).
macro_rules! each_table {
    ($m:ident) => {
        $m!(Workspace);
        $m!(User);
        $m!(Member);
        $m!(Session);
        $m!(ApiKey);
        $m!(AuditEntry);
        $m!(Event);
        $m!(Job);
        $m!(LoginThrottle);
        $m!(SystemProbe);
        $m!(Program);
        $m!(ProgramVersion);
        $m!(Customer);
        $m!(Advocate);
        $m!(CodeRow);
        $m!(Click);
        $m!(ClickRollup);
        $m!(Referral);
        $m!(Conversion);
        $m!(AdvocateVisitor);
        $m!(Payout);
        $m!(Reward);
        $m!(PayoutItem);
        $m!(LedgerTransaction);
        $m!(LedgerEntry);
        $m!(LedgerBalance);
        $m!(CodePool);
        $m!(PoolCode);
        $m!(Entitlement);
        $m!(CampaignRow);
        $m!(EarlyReversal);
        $m!(Notice);
    };
}

/// Every table an export carries, in import order.
pub fn tables() -> Vec<&'static str> {
    let mut names = Vec::new();
    macro_rules! push {
        ($t:ty) => {
            names.push(<$t>::TABLE)
        };
    }
    each_table!(push);
    names
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub format_version: i64,
    pub schema_version: i64,
    pub source_backend: String,
    pub exported_at: i64,
    pub tables: BTreeMap<String, u64>,
}

const PAGE: i64 = 1000;

async fn export_table<T: TableRow>(c: &mut Conn, dir: &Path) -> Result<u64> {
    let file = std::fs::File::create(dir.join(format!("{}.jsonl", T::TABLE)))?;
    let mut out = BufWriter::new(file);
    let mut count = 0u64;
    loop {
        let q = rows::select::<T>(&format!("ORDER BY {} LIMIT $1 OFFSET $2", T::COLUMNS[0]))
            .bind(PAGE)
            .bind(count as i64);
        let page: Vec<T> = rows::fetch_all(c, q).await?;
        for row in &page {
            serde_json::to_writer(&mut out, row).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            out.write_all(b"\n")?;
        }
        count += page.len() as u64;
        if (page.len() as i64) < PAGE {
            break;
        }
    }
    out.flush()?;
    Ok(count)
}

async fn import_table<T: TableRow>(c: &mut Conn, dir: &Path, backend: Backend) -> Result<u64> {
    let path = dir.join(format!("{}.jsonl", T::TABLE));
    let file = std::fs::File::open(&path)
        .map_err(|e| StoreError::Refused(format!("{}: {e}", path.display())))?;
    let placeholders: Vec<String> = (1..=T::COLUMNS.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        T::TABLE,
        rows::columns::<T>(),
        placeholders.join(", ")
    );
    let mut count = 0u64;
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let row: T = serde_json::from_str(&line)
            .map_err(|e| StoreError::Refused(format!("{} line {}: {e}", path.display(), n + 1)))?;
        row.bind_all(rows::dynamic(sql.clone()))
            .execute(&mut *c)
            .await?;
        count += 1;
    }
    if backend == Backend::Postgres && T::COLUMNS[0] == "id" {
        // Identity columns do not see explicit ids: move each sequence past the imported rows.
        rows::dynamic(format!(
            "SELECT setval(pg_get_serial_sequence('{0}', 'id'), COALESCE((SELECT MAX(id) FROM {0}), 0) + 1, false)",
            T::TABLE
        ))
        .execute(&mut *c)
        .await?;
    }
    Ok(count)
}

impl Store {
    /// Writes every table to `dir` (created if missing) and a `manifest.json` with counts.
    pub async fn export(&self, dir: &Path) -> Result<Manifest> {
        std::fs::create_dir_all(dir)?;
        // One read transaction: the files are a consistent snapshot even while Vouch runs.
        let mut tx = self.write().await?;
        let mut tables = BTreeMap::new();
        macro_rules! export {
            ($t:ty) => {
                tables.insert(
                    <$t>::TABLE.to_string(),
                    export_table::<$t>(&mut tx, dir).await?,
                );
            };
        }
        each_table!(export);
        tx.commit().await?;
        let manifest = Manifest {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            schema_version: self.applied_version().await?,
            source_backend: self.backend.name().into(),
            exported_at: vouch_core::clock::now_ms(),
            tables,
        };
        let text = serde_json::to_string_pretty(&manifest)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        std::fs::write(dir.join("manifest.json"), text)?;
        Ok(manifest)
    }

    /// Loads an export into this (empty, migrated) database in one transaction.
    pub async fn import(&self, dir: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(dir.join("manifest.json")).map_err(|e| {
            StoreError::Refused(format!("{}: {e}", dir.join("manifest.json").display()))
        })?;
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| {
            StoreError::Refused(format!("manifest.json is not a Vouch export: {e}"))
        })?;
        if manifest.format != FORMAT || manifest.format_version != FORMAT_VERSION {
            return Err(StoreError::Refused(format!(
                "this is not a {FORMAT} version {FORMAT_VERSION} folder"
            )));
        }
        let ours = self.applied_version().await?;
        if manifest.schema_version != ours {
            return Err(StoreError::Refused(format!(
                "the export has schema version {}, this database {ours}: use the same Vouch version for both",
                manifest.schema_version
            )));
        }
        let mut tx = self.write().await?;
        let existing = crate::workspaces::count(&mut tx).await?;
        if existing > 0 {
            return Err(StoreError::Refused(
                "the target database already has workspaces; import into an empty database".into(),
            ));
        }
        let backend = self.backend;
        macro_rules! import {
            ($t:ty) => {
                let n = import_table::<$t>(&mut tx, dir, backend).await?;
                let expected = manifest.tables.get(<$t>::TABLE).copied().unwrap_or(0);
                if n != expected {
                    return Err(StoreError::Refused(format!(
                        "{} has {n} rows but the manifest says {expected}",
                        <$t>::TABLE
                    )));
                }
            };
        }
        each_table!(import);
        tx.commit().await?;
        Ok(manifest)
    }
}
