//! The audit log: who changed what, when and from where, written in the same transaction
//! as the change so the log never claims a change that rolled back (or misses one that did not).

use crate::rows::{self, AuditEntry};
use crate::{Conn, Millis, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    Member,
    ApiKey,
    Cli,
    System,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Member => "member",
            ActorKind::ApiKey => "api_key",
            ActorKind::Cli => "cli",
            ActorKind::System => "system",
        }
    }
}

/// Who is acting: a member (by id and email), an API key (by id and name), the CLI, or Vouch.
#[derive(Debug, Clone)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: Option<i64>,
    pub label: String,
    pub ip: String,
}

impl Actor {
    pub fn cli() -> Self {
        Self {
            kind: ActorKind::Cli,
            id: None,
            label: "command line".into(),
            ip: String::new(),
        }
    }

    pub fn system() -> Self {
        Self {
            kind: ActorKind::System,
            id: None,
            label: "vouch".into(),
            ip: String::new(),
        }
    }
}

pub async fn record(
    c: &mut Conn,
    workspace_id: i64,
    actor: &Actor,
    action: &str,
    target: &str,
    details: serde_json::Value,
    now: Millis,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (workspace_id, actor_kind, actor_id, actor_label, action, target, details, ip, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(workspace_id)
    .bind(actor.kind.as_str())
    .bind(actor.id)
    .bind(actor.label.clone())
    .bind(action.to_string())
    .bind(target.to_string())
    .bind(details.to_string())
    .bind(actor.ip.clone())
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// The newest entries first, `limit` at most, before entry id `before` when paging.
pub async fn list(
    c: &mut Conn,
    workspace_id: i64,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditEntry>> {
    let q =
        rows::select::<AuditEntry>("WHERE workspace_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3")
            .bind(workspace_id)
            .bind(before.unwrap_or(i64::MAX))
            .bind(limit);
    Ok(rows::fetch_all(c, q).await?)
}
