//! What the live database's schema is, read back from the catalog. The parity test compares
//! this between SQLite and PostgreSQL so the two migration folders can never drift apart.

use crate::{Backend, Result, Store};
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// `integer` or `text` (what the data rules allow), or the raw type name otherwise.
    pub ty: String,
    pub not_null: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Index {
    pub name: String,
    pub unique: bool,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Table {
    pub columns: Vec<Column>,
    pub primary_key: Vec<String>,
    pub indexes: BTreeSet<Index>,
}

pub type Schema = BTreeMap<String, Table>;

fn normalise_type(raw: &str) -> String {
    match raw.to_lowercase().as_str() {
        "integer" | "bigint" | "int8" => "integer".into(),
        "text" => "text".into(),
        other => other.into(),
    }
}

impl Store {
    pub async fn describe_schema(&self) -> Result<Schema> {
        let mut c = self.read().await?;
        let mut schema = Schema::new();
        let tables_sql = match self.backend {
            Backend::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            }
            Backend::Postgres => {
                "SELECT table_name::text AS name FROM information_schema.tables
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1"
            }
        };
        let names: Vec<String> = sqlx::query(tables_sql)
            .fetch_all(&mut c)
            .await?
            .iter()
            .map(|r| r.try_get("name"))
            .collect::<Result<_, _>>()?;
        for name in names {
            let mut table = Table::default();
            match self.backend {
                Backend::Sqlite => {
                    let cols = sqlx::query(
                        "SELECT name, type, \"notnull\" AS nn, pk FROM pragma_table_info($1) ORDER BY cid",
                    )
                    .bind(name.clone())
                    .fetch_all(&mut c)
                    .await?;
                    let mut pk = Vec::new();
                    for r in &cols {
                        let col: String = r.try_get("name")?;
                        let ty: String = r.try_get("type")?;
                        let nn: i64 = r.try_get("nn")?;
                        let pk_pos: i64 = r.try_get("pk")?;
                        if pk_pos > 0 {
                            pk.push((pk_pos, col.clone()));
                        }
                        // A primary key column is never null in practice (Vouch never writes one).
                        table.columns.push(Column {
                            name: col,
                            ty: normalise_type(&ty),
                            not_null: nn == 1 || pk_pos > 0,
                        });
                    }
                    pk.sort();
                    table.primary_key = pk.into_iter().map(|(_, c)| c).collect();
                    let idx = sqlx::query(
                        "SELECT name, \"unique\" AS uniq FROM pragma_index_list($1) WHERE origin = 'c' ORDER BY name",
                    )
                    .bind(name.clone())
                    .fetch_all(&mut c)
                    .await?;
                    for r in &idx {
                        let iname: String = r.try_get("name")?;
                        let uniq: i64 = r.try_get("uniq")?;
                        let columns =
                            sqlx::query("SELECT name FROM pragma_index_info($1) ORDER BY seqno")
                                .bind(iname.clone())
                                .fetch_all(&mut c)
                                .await?
                                .iter()
                                .map(|r| r.try_get("name"))
                                .collect::<Result<_, _>>()?;
                        table.indexes.insert(Index {
                            name: iname,
                            unique: uniq == 1,
                            columns,
                        });
                    }
                }
                Backend::Postgres => {
                    let cols = sqlx::query(
                        "SELECT column_name::text AS name, data_type::text AS ty, is_nullable::text AS nullable
                         FROM information_schema.columns
                         WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
                    )
                    .bind(name.clone())
                    .fetch_all(&mut c)
                    .await?;
                    for r in &cols {
                        let ty: String = r.try_get("ty")?;
                        let nullable: String = r.try_get("nullable")?;
                        table.columns.push(Column {
                            name: r.try_get("name")?,
                            ty: normalise_type(&ty),
                            not_null: nullable == "NO",
                        });
                    }
                    let idx = sqlx::query(
                        "SELECT c.relname::text AS name,
                            (CASE WHEN i.indisunique THEN 1 ELSE 0 END)::bigint AS uniq,
                            (CASE WHEN i.indisprimary THEN 1 ELSE 0 END)::bigint AS prim,
                            array_to_string(ARRAY(
                                SELECT a.attname::text FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(n, o)
                                JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n
                                ORDER BY k.o), ',') AS cols
                         FROM pg_index i
                         JOIN pg_class c ON c.oid = i.indexrelid
                         JOIN pg_class t ON t.oid = i.indrelid
                         JOIN pg_namespace ns ON ns.oid = t.relnamespace
                         WHERE t.relname = $1 AND ns.nspname = current_schema() ORDER BY 1",
                    )
                    .bind(name.clone())
                    .fetch_all(&mut c)
                    .await?;
                    for r in &idx {
                        let cols: String = r.try_get("cols")?;
                        let columns: Vec<String> = cols.split(',').map(str::to_string).collect();
                        let prim: i64 = r.try_get("prim")?;
                        if prim == 1 {
                            table.primary_key = columns;
                            continue;
                        }
                        let uniq: i64 = r.try_get("uniq")?;
                        table.indexes.insert(Index {
                            name: r.try_get("name")?,
                            unique: uniq == 1,
                            columns,
                        });
                    }
                }
            }
            schema.insert(name, table);
        }
        Ok(schema)
    }
}
