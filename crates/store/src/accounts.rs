//! Accounts: users and their memberships, server-side sessions, API keys, login throttling.
//! Secrets arrive here already hashed; the store never sees a password or a token.

use crate::rows::{self, ApiKey, Member, Session, User, Workspace, columns};
use crate::{Conn, Millis, Result, Store, StoreError, conflict_as};
use sqlx::Row;
use vouch_core::id::time_ordered;
use vouch_core::{Email, Role, SecretHash};

pub async fn user_by_email(c: &mut Conn, email: &Email) -> Result<Option<User>> {
    Ok(rows::fetch_optional(
        c,
        rows::select::<User>("WHERE email = $1").bind(email.to_string()),
    )
    .await?)
}

pub async fn user_by_id(c: &mut Conn, id: i64) -> Result<Option<User>> {
    Ok(rows::fetch_optional(c, rows::select::<User>("WHERE id = $1").bind(id)).await?)
}

pub async fn create_user(
    c: &mut Conn,
    email: &Email,
    password_hash: &str,
    now: Millis,
) -> Result<User> {
    let q = rows::dynamic(format!(
        "INSERT INTO users (email, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $3) RETURNING {}",
        columns::<User>()
    ))
    .bind(email.to_string())
    .bind(password_hash.to_string())
    .bind(now);
    rows::fetch_one(c, q)
        .await
        .map_err(conflict_as("a user with this email"))
}

pub async fn add_member(
    c: &mut Conn,
    workspace_id: i64,
    user_id: i64,
    role: Role,
    now: Millis,
) -> Result<Member> {
    let q = rows::dynamic(format!(
        "INSERT INTO members (workspace_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) RETURNING {}",
        columns::<Member>()
    ))
    .bind(workspace_id)
    .bind(user_id)
    .bind(role.as_str())
    .bind(now);
    rows::fetch_one(c, q)
        .await
        .map_err(conflict_as("this member"))
}

/// A member of a workspace as lists show them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MemberView {
    pub member_id: i64,
    pub user_id: i64,
    pub email: String,
    pub role: Role,
    pub created_at: Millis,
}

fn member_view(r: &sqlx::any::AnyRow) -> Result<MemberView> {
    let role: String = r.try_get("role")?;
    Ok(MemberView {
        member_id: r.try_get("member_id")?,
        user_id: r.try_get("user_id")?,
        email: r.try_get("email")?,
        role: Role::parse(&role).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        created_at: r.try_get("created_at")?,
    })
}

const MEMBER_VIEW: &str =
    "SELECT m.id AS member_id, m.user_id AS user_id, u.email AS email, m.role AS role,
    m.created_at AS created_at FROM members m JOIN users u ON u.id = m.user_id";

pub async fn members(c: &mut Conn, workspace_id: i64) -> Result<Vec<MemberView>> {
    let rows = rows::dynamic(format!(
        "{MEMBER_VIEW} WHERE m.workspace_id = $1 ORDER BY m.id"
    ))
    .bind(workspace_id)
    .fetch_all(&mut *c)
    .await?;
    rows.iter().map(member_view).collect()
}

pub async fn member(c: &mut Conn, workspace_id: i64, user_id: i64) -> Result<Option<MemberView>> {
    let row = rows::dynamic(format!(
        "{MEMBER_VIEW} WHERE m.workspace_id = $1 AND m.user_id = $2"
    ))
    .bind(workspace_id)
    .bind(user_id)
    .fetch_optional(&mut *c)
    .await?;
    row.as_ref().map(member_view).transpose()
}

/// The workspaces a user belongs to, for the sign-in choice and the switcher.
pub async fn workspaces_of(c: &mut Conn, user_id: i64) -> Result<Vec<(Workspace, Role)>> {
    let cols = columns::<Workspace>()
        .split(", ")
        .map(|col| format!("w.{col} AS {col}"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = rows::dynamic(format!(
        "SELECT {cols}, m.role AS role FROM members m JOIN workspaces w ON w.id = m.workspace_id
         WHERE m.user_id = $1 ORDER BY w.name, w.id"
    ))
    .bind(user_id)
    .fetch_all(&mut *c)
    .await?;
    use crate::rows::TableRow;
    rows.iter()
        .map(|r| {
            let role: String = r.try_get("role")?;
            Ok((
                Workspace::from_row(r)?,
                Role::parse(&role).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            ))
        })
        .collect()
}

/// Changes a member's role, refusing to leave a workspace without an owner.
pub async fn set_role(
    c: &mut Conn,
    workspace_id: i64,
    member_id: i64,
    role: Role,
) -> Result<MemberView> {
    let current = members(c, workspace_id).await?;
    let target = current
        .iter()
        .find(|m| m.member_id == member_id)
        .ok_or(StoreError::NotFound("member"))?;
    let owners = current.iter().filter(|m| m.role == Role::Owner).count();
    if target.role == Role::Owner && role != Role::Owner && owners == 1 {
        return Err(StoreError::Refused(
            "a workspace needs at least one owner; make someone else owner first".into(),
        ));
    }
    sqlx::query("UPDATE members SET role = $3 WHERE workspace_id = $1 AND id = $2")
        .bind(workspace_id)
        .bind(member_id)
        .bind(role.as_str())
        .execute(&mut *c)
        .await?;
    Ok(MemberView {
        role,
        ..target.clone()
    })
}

/// Removes a member and ends their sessions in this workspace; never the last owner.
pub async fn remove_member(c: &mut Conn, workspace_id: i64, member_id: i64) -> Result<MemberView> {
    let current = members(c, workspace_id).await?;
    let target = current
        .iter()
        .find(|m| m.member_id == member_id)
        .ok_or(StoreError::NotFound("member"))?
        .clone();
    let owners = current.iter().filter(|m| m.role == Role::Owner).count();
    if target.role == Role::Owner && owners == 1 {
        return Err(StoreError::Refused(
            "the last owner of a workspace cannot be removed".into(),
        ));
    }
    sqlx::query("DELETE FROM sessions WHERE workspace_id = $1 AND user_id = $2")
        .bind(workspace_id)
        .bind(target.user_id)
        .execute(&mut *c)
        .await?;
    sqlx::query("DELETE FROM members WHERE workspace_id = $1 AND id = $2")
        .bind(workspace_id)
        .bind(member_id)
        .execute(&mut *c)
        .await?;
    Ok(target)
}

// ---- sessions ----

pub struct NewSession<'a> {
    pub workspace_id: i64,
    pub user_id: i64,
    pub token_hash: &'a SecretHash,
    pub csrf_token: &'a str,
    pub ip: &'a str,
    pub user_agent: &'a str,
    pub expires_at: Millis,
}

pub async fn create_session(store: &Store, s: &NewSession<'_>, now: Millis) -> Result<()> {
    let q = sqlx::query(
        "INSERT INTO sessions (workspace_id, user_id, token_hash, csrf_token, ip, user_agent,
            created_at, last_seen_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)",
    )
    .bind(s.workspace_id)
    .bind(s.user_id)
    .bind(s.token_hash.0.clone())
    .bind(s.csrf_token.to_string())
    .bind(s.ip.to_string())
    .bind(s.user_agent.chars().take(300).collect::<String>())
    .bind(now)
    .bind(s.expires_at);
    store.write_one(q).await?;
    Ok(())
}

/// A live session, joined with what every admin request needs to know.
#[derive(Debug, Clone)]
pub struct SessionView {
    pub session: Session,
    pub email: String,
    pub role: Role,
}

/// The unexpired session for a token hash, with the member's current role (a role change or
/// removal takes effect on the next request, not at next sign-in).
pub async fn session(
    c: &mut Conn,
    token_hash: &SecretHash,
    now: Millis,
) -> Result<Option<SessionView>> {
    let cols = columns::<Session>()
        .split(", ")
        .map(|col| format!("s.{col} AS {col}"))
        .collect::<Vec<_>>()
        .join(", ");
    let row = rows::dynamic(format!(
        "SELECT {cols}, u.email AS email, m.role AS role FROM sessions s
         JOIN users u ON u.id = s.user_id
         JOIN members m ON m.workspace_id = s.workspace_id AND m.user_id = s.user_id
         WHERE s.token_hash = $1 AND s.expires_at > $2"
    ))
    .bind(token_hash.0.clone())
    .bind(now)
    .fetch_optional(&mut *c)
    .await?;
    use crate::rows::TableRow;
    row.map(|r| {
        let role: String = r.try_get("role")?;
        Ok(SessionView {
            session: Session::from_row(&r)?,
            email: r.try_get("email")?,
            role: Role::parse(&role).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        })
    })
    .transpose()
}

/// Slides a session's expiry forward; called at most once a minute per session.
pub async fn touch_session(store: &Store, id: i64, now: Millis, expires_at: Millis) -> Result<()> {
    let q = sqlx::query("UPDATE sessions SET last_seen_at = $2, expires_at = $3 WHERE id = $1")
        .bind(id)
        .bind(now)
        .bind(expires_at);
    store.write_one(q).await?;
    Ok(())
}

pub async fn delete_session(store: &Store, token_hash: &SecretHash) -> Result<()> {
    let q = sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash.0.clone());
    store.write_one(q).await?;
    Ok(())
}

pub async fn delete_expired_sessions(store: &Store, now: Millis) -> Result<u64> {
    let q = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1").bind(now);
    store.write_one(q).await
}

// ---- API keys ----

pub struct NewApiKey<'a> {
    pub workspace_id: i64,
    pub name: &'a str,
    pub prefix: &'a str,
    pub key_hash: &'a SecretHash,
    pub scopes: &'a str,
    pub created_by: &'a str,
}

pub async fn create_api_key(c: &mut Conn, k: &NewApiKey<'_>, now: Millis) -> Result<ApiKey> {
    let q = rows::dynamic(format!(
        "INSERT INTO api_keys (workspace_id, public_id, name, prefix, key_hash, scopes, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {}",
        columns::<ApiKey>()
    ))
    .bind(k.workspace_id)
    .bind(time_ordered::<8>("key_", now))
    .bind(k.name.to_string())
    .bind(k.prefix.to_string())
    .bind(k.key_hash.0.clone())
    .bind(k.scopes.to_string())
    .bind(k.created_by.to_string())
    .bind(now);
    rows::fetch_one(c, q)
        .await
        .map_err(conflict_as("an API key with this hash"))
}

/// The unrevoked key with this hash, whatever its workspace: the key names its workspace.
pub async fn api_key_by_hash(c: &mut Conn, key_hash: &SecretHash) -> Result<Option<ApiKey>> {
    let q = rows::select::<ApiKey>("WHERE key_hash = $1 AND revoked_at IS NULL")
        .bind(key_hash.0.clone());
    Ok(rows::fetch_optional(c, q).await?)
}

pub async fn api_keys(c: &mut Conn, workspace_id: i64) -> Result<Vec<ApiKey>> {
    let q = rows::select::<ApiKey>("WHERE workspace_id = $1 ORDER BY id").bind(workspace_id);
    Ok(rows::fetch_all(c, q).await?)
}

pub async fn revoke_api_key(
    c: &mut Conn,
    workspace_id: i64,
    public_id: &str,
    now: Millis,
) -> Result<ApiKey> {
    let q = rows::dynamic(format!(
        "UPDATE api_keys SET revoked_at = $3 WHERE workspace_id = $1 AND public_id = $2 AND revoked_at IS NULL
         RETURNING {}",
        columns::<ApiKey>()
    ))
    .bind(workspace_id)
    .bind(public_id.to_string())
    .bind(now);
    rows::fetch_optional(c, q)
        .await?
        .ok_or(StoreError::NotFound("active API key"))
}

/// Notes a key's use; skipped when noted within the last minute, so a busy key costs no writes
/// (the key as just read decides; the statement's condition covers other replicas). An UPDATE
/// takes SQLite's write lock even when it matches nothing, so it is not issued at all when due
/// to change nothing, and when it is, it queues at the writer gate like every write.
pub async fn touch_api_key(store: &Store, key: &ApiKey, now: Millis) -> Result<()> {
    const EVERY: Millis = 60_000;
    if key.last_used_at.is_some_and(|t| t >= now - EVERY) {
        return Ok(());
    }
    let q = sqlx::query(
        "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)",
    )
    .bind(key.id)
    .bind(now)
    .bind(now - EVERY);
    store.write_one(q).await?;
    Ok(())
}

// ---- throttling ----

/// Attempts counted per key (a sign-in account, an IP, a join page visitor) in a fixed window.
/// Stored in `login_throttle`, the table's name from when sign-in was its only user.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleRule {
    pub limit: i64,
    pub window_ms: Millis,
}

/// Whether `key` has used up its failures in the current window; if so, when it may retry.
pub async fn throttled_until(
    c: &mut Conn,
    key: &str,
    rule: ThrottleRule,
    now: Millis,
) -> Result<Option<Millis>> {
    let row = sqlx::query("SELECT failures, window_start FROM login_throttle WHERE key = $1")
        .bind(key.to_string())
        .fetch_optional(&mut *c)
        .await?;
    Ok(row.and_then(|r| {
        let failures: i64 = r.try_get("failures").ok()?;
        let start: i64 = r.try_get("window_start").ok()?;
        (failures >= rule.limit && start + rule.window_ms > now).then_some(start + rule.window_ms)
    }))
}

pub async fn count_attempt(
    store: &Store,
    key: &str,
    rule: ThrottleRule,
    now: Millis,
) -> Result<()> {
    let q = sqlx::query(
        "INSERT INTO login_throttle (key, failures, window_start) VALUES ($1, 1, $2)
         ON CONFLICT (key) DO UPDATE SET
            failures = CASE WHEN login_throttle.window_start + $3 <= $2 THEN 1 ELSE login_throttle.failures + 1 END,
            window_start = CASE WHEN login_throttle.window_start + $3 <= $2 THEN $2 ELSE login_throttle.window_start END",
    )
    .bind(key.to_string())
    .bind(now)
    .bind(rule.window_ms);
    store.write_one(q).await?;
    Ok(())
}

pub async fn clear_attempts(store: &Store, key: &str) -> Result<()> {
    let q = sqlx::query("DELETE FROM login_throttle WHERE key = $1").bind(key.to_string());
    store.write_one(q).await?;
    Ok(())
}

/// Moves a session to another workspace of the same user (the workspace switcher).
pub async fn switch_session(
    store: &Store,
    session_id: i64,
    user_id: i64,
    workspace_id: i64,
) -> Result<()> {
    let mut tx = store.write().await?;
    if member(&mut tx, workspace_id, user_id).await?.is_none() {
        return Err(StoreError::NotFound("membership"));
    }
    sqlx::query("UPDATE sessions SET workspace_id = $3 WHERE id = $1 AND user_id = $2")
        .bind(session_id)
        .bind(user_id)
        .bind(workspace_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
