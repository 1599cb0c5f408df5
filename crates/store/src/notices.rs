//! Notices: what the admin must be told (a code pool running dry, a cap or budget reached).
//! One open notice per kind and subject; raising it again refreshes its message.

use crate::rows::{self, Notice};
use crate::{Conn, Millis, Result};

pub async fn raise(
    c: &mut Conn,
    workspace_id: i64,
    kind: &str,
    subject: &str,
    message: &str,
    now: Millis,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO notices (workspace_id, kind, subject, message, created_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (workspace_id, kind, subject)
         DO UPDATE SET message = excluded.message, created_at = excluded.created_at, dismissed_at = NULL",
    )
    .bind(workspace_id)
    .bind(kind.to_string())
    .bind(subject.to_string())
    .bind(message.to_string())
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Open notices, newest first.
pub async fn open(c: &mut Conn, workspace_id: i64) -> Result<Vec<Notice>> {
    let q = rows::select::<Notice>(
        "WHERE workspace_id = $1 AND dismissed_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 50",
    )
    .bind(workspace_id);
    Ok(rows::fetch_all(c, q).await?)
}

pub async fn dismiss(c: &mut Conn, workspace_id: i64, id: i64, now: Millis) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE notices SET dismissed_at = $3 WHERE workspace_id = $1 AND id = $2 AND dismissed_at IS NULL",
    )
    .bind(workspace_id)
    .bind(id)
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(done.rows_affected() == 1)
}
