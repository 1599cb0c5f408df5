//! Commands: each change Vouch makes, as one transaction that writes the change, its audit
//! entry and its outbox events together. The admin, the API and the CLI all call these, so a
//! change is audited and announced the same way whoever makes it.

use crate::accounts::{self, MemberView};
use crate::audit::{self, Actor};
use crate::rows::{ApiKey, User, Workspace};
use crate::{Backend, Result, Store, StoreError, outbox, workspaces};
use serde_json::json;
use vouch_core::clock::now_ms;
use vouch_core::settings::WorkspaceSettings;
use vouch_core::{ApiScope, Email, Role, Secret, Slug};

/// One change as both the audit log and the outbox see it: who did `action` to `target`
/// (`details` for people reading the log), announced to subscribers as `event`.
pub(crate) struct Change<'a> {
    pub action: &'a str,
    pub target: String,
    pub details: serde_json::Value,
    pub event: serde_json::Value,
}

/// Writes a change's audit entry and its outbox event, in the caller's transaction.
pub(crate) async fn record_change(
    c: &mut crate::Conn,
    workspace_id: i64,
    actor: &Actor,
    change: Change<'_>,
    now: i64,
) -> Result<()> {
    audit::record(
        c,
        workspace_id,
        actor,
        change.action,
        &change.target,
        change.details,
        now,
    )
    .await?;
    outbox::emit(c, workspace_id, change.action, change.event, now).await?;
    Ok(())
}

/// Creates a workspace and its owner, creating the user if needed. With `first_only`, refuses
/// when any workspace exists (the setup page), serialising concurrent attempts.
pub async fn create_workspace(
    store: &Store,
    name: &str,
    slug: &Slug,
    owner: Option<(&Email, Option<&str>)>,
    actor: &Actor,
    first_only: bool,
) -> Result<(Workspace, Option<User>)> {
    let now = now_ms();
    let mut tx = store.write().await?;
    if store.backend() == Backend::Postgres && first_only {
        sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock(7237824)) AS l")
            .execute(&mut *tx)
            .await?;
    }
    if first_only && workspaces::count(&mut tx).await? > 0 {
        return Err(StoreError::Refused(
            "Vouch is already set up; sign in instead".into(),
        ));
    }
    let ws = workspaces::create(&mut tx, name, slug, now).await?;
    let mut user = None;
    if let Some((email, password_hash)) = owner {
        let u = user_for(&mut tx, email, password_hash, now).await?;
        accounts::add_member(&mut tx, ws.id, u.id, Role::Owner, now).await?;
        user = Some(u);
    }
    record_change(
        &mut tx,
        ws.id,
        actor,
        Change {
            action: "workspace.created",
            target: format!("workspace:{}", ws.public_id),
            details: json!({ "name": ws.name, "slug": ws.slug }),
            event: json!({ "workspace": ws.public_id, "slug": ws.slug }),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok((ws, user))
}

/// The existing user for `email`, or a new one with `password_hash`.
async fn user_for(
    c: &mut crate::Conn,
    email: &Email,
    password_hash: Option<&str>,
    now: i64,
) -> Result<User> {
    match accounts::user_by_email(c, email).await? {
        Some(u) => Ok(u),
        None => {
            let hash = password_hash.ok_or_else(|| {
                StoreError::Refused(format!("{email} has no account yet: give them a password"))
            })?;
            accounts::create_user(c, email, hash, now).await
        }
    }
}

pub async fn add_member(
    store: &Store,
    workspace_id: i64,
    email: &Email,
    role: Role,
    password_hash: Option<&str>,
    actor: &Actor,
) -> Result<MemberView> {
    let now = now_ms();
    let mut tx = store.write().await?;
    let user = user_for(&mut tx, email, password_hash, now).await?;
    let m = accounts::add_member(&mut tx, workspace_id, user.id, role, now).await?;
    record_change(
        &mut tx,
        workspace_id,
        actor,
        Change {
            action: "member.added",
            target: format!("member:{}", m.id),
            details: json!({ "email": email, "role": role }),
            event: json!({ "email": email, "role": role }),
        },
        now,
    )
    .await?;
    let view = accounts::member(&mut tx, workspace_id, user.id)
        .await?
        .ok_or(StoreError::NotFound("member"))?;
    tx.commit().await?;
    Ok(view)
}

pub async fn set_member_role(
    store: &Store,
    workspace_id: i64,
    member_id: i64,
    role: Role,
    actor: &Actor,
) -> Result<MemberView> {
    let now = now_ms();
    let mut tx = store.write().await?;
    let m = accounts::set_role(&mut tx, workspace_id, member_id, role).await?;
    audit::record(
        &mut tx,
        workspace_id,
        actor,
        "member.role_changed",
        &format!("member:{member_id}"),
        json!({ "email": m.email, "role": role }),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(m)
}

pub async fn remove_member(
    store: &Store,
    workspace_id: i64,
    member_id: i64,
    actor: &Actor,
) -> Result<MemberView> {
    let now = now_ms();
    let mut tx = store.write().await?;
    let m = accounts::remove_member(&mut tx, workspace_id, member_id).await?;
    record_change(
        &mut tx,
        workspace_id,
        actor,
        Change {
            action: "member.removed",
            target: format!("member:{member_id}"),
            details: json!({ "email": m.email }),
            event: json!({ "email": m.email }),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(m)
}

/// Creates an API key and returns it with the secret, which is never stored or shown again.
pub async fn create_api_key(
    store: &Store,
    workspace_id: i64,
    name: &str,
    scopes: &[ApiScope],
    actor: &Actor,
) -> Result<(ApiKey, Secret)> {
    let now = now_ms();
    let secret = Secret::generate("vk_");
    let mut tx = store.write().await?;
    let key = accounts::create_api_key(
        &mut tx,
        &accounts::NewApiKey {
            workspace_id,
            name,
            prefix: &secret.display_prefix(),
            key_hash: &secret.hash(),
            scopes: &ApiScope::join(scopes),
            created_by: &actor.label,
        },
        now,
    )
    .await?;
    record_change(
        &mut tx,
        workspace_id,
        actor,
        Change {
            action: "api_key.created",
            target: format!("api_key:{}", key.public_id),
            details: json!({ "name": key.name, "scopes": key.scopes, "prefix": key.prefix }),
            event: json!({ "key": key.public_id, "name": key.name }),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok((key, secret))
}

pub async fn revoke_api_key(
    store: &Store,
    workspace_id: i64,
    public_id: &str,
    actor: &Actor,
) -> Result<ApiKey> {
    let now = now_ms();
    let mut tx = store.write().await?;
    let key = accounts::revoke_api_key(&mut tx, workspace_id, public_id, now).await?;
    record_change(
        &mut tx,
        workspace_id,
        actor,
        Change {
            action: "api_key.revoked",
            target: format!("api_key:{}", key.public_id),
            details: json!({ "name": key.name }),
            event: json!({ "key": key.public_id }),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(key)
}

pub async fn update_settings(
    store: &Store,
    workspace_id: i64,
    settings: &WorkspaceSettings,
    actor: &Actor,
) -> Result<Workspace> {
    let now = now_ms();
    let mut tx = store.write().await?;
    let before = workspaces::by_id(&mut tx, workspace_id)
        .await?
        .ok_or(StoreError::NotFound("workspace"))?;
    let after = workspaces::update_settings(&mut tx, workspace_id, settings, now).await?;
    let changed = changed_fields(&before, &after);
    record_change(
        &mut tx,
        workspace_id,
        actor,
        Change {
            action: "workspace.updated",
            target: format!("workspace:{}", after.public_id),
            details: json!({ "changed": changed }),
            event: json!({ "workspace": after.public_id, "changed": changed }),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

fn changed_fields(a: &Workspace, b: &Workspace) -> Vec<&'static str> {
    let pairs: [(&'static str, &String, &String); 7] = [
        ("name", &a.name, &b.name),
        ("brand_color", &a.brand_color, &b.brand_color),
        ("logo_url", &a.logo_url, &b.logo_url),
        ("currency", &a.currency, &b.currency),
        ("time_zone", &a.time_zone, &b.time_zone),
        ("sender_name", &a.sender_name, &b.sender_name),
        ("sender_email", &a.sender_email, &b.sender_email),
    ];
    pairs
        .iter()
        .filter(|(_, x, y)| x != y)
        .map(|(n, _, _)| *n)
        .collect()
}
