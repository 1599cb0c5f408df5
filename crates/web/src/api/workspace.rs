//! The workspace of the calling key: read and update its settings, list members, read the audit log.

use super::{ApiAuth, ApiJson, ApiQuery, Writer};
use crate::AppState;
use crate::error::ApiError;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vouch_core::ApiScope;
use vouch_core::clock::rfc3339;
use vouch_core::settings::{SettingsInput, WorkspaceSettings};
use vouch_store::rows::Workspace;
use vouch_store::{accounts, audit, commands, workspaces};

/// A workspace: one business using Vouch.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "ws_3f9a1c2b7d4e5f6a7b8c9d0e", "slug": "annas-bakery", "name": "Anna's Bakery",
    "brand_color": "#1f6feb", "logo_url": "", "currency": "EUR", "time_zone": "Europe/Paris",
    "sender_name": "Anna", "sender_email": "anna@example.com",
    "created_at": "2026-12-01T09:00:00Z", "updated_at": "2026-12-01T09:00:00Z"
}))]
pub struct WorkspaceJson {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub brand_color: String,
    pub logo_url: String,
    /// ISO 4217 code.
    pub currency: String,
    /// IANA time zone name.
    pub time_zone: String,
    pub sender_name: String,
    pub sender_email: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Workspace> for WorkspaceJson {
    fn from(w: Workspace) -> Self {
        Self {
            id: w.public_id,
            slug: w.slug,
            name: w.name,
            brand_color: w.brand_color,
            logo_url: w.logo_url,
            currency: w.currency,
            time_zone: w.time_zone,
            sender_name: w.sender_name,
            sender_email: w.sender_email,
            created_at: rfc3339(w.created_at),
            updated_at: rfc3339(w.updated_at),
        }
    }
}

/// The settings to change; fields left out keep their value.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "name": "Anna's Bakery", "currency": "EUR", "time_zone": "Europe/Paris" }))]
pub struct WorkspacePatch {
    pub name: Option<String>,
    pub brand_color: Option<String>,
    pub logo_url: Option<String>,
    pub currency: Option<String>,
    pub time_zone: Option<String>,
    pub sender_name: Option<String>,
    pub sender_email: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberJson {
    pub id: i64,
    pub email: String,
    /// `owner`, `admin` or `viewer`.
    pub role: String,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    pub data: Vec<MemberJson>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryJson {
    pub id: i64,
    /// `member`, `api_key`, `cli` or `system`.
    pub actor_kind: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub ip: String,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub data: Vec<AuditEntryJson>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// At most this many entries (1–200, default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

async fn load(state: &AppState, id: i64) -> Result<Workspace, ApiError> {
    let mut c = state.store.read().await?;
    workspaces::by_id(&mut c, id)
        .await?
        .ok_or_else(|| ApiError::not_found("workspace"))
}

/// The workspace of the API key used.
#[utoipa::path(get, path = "/api/v1/workspace", tag = "workspace",
    responses(
        (status = 200, description = "The workspace", body = WorkspaceJson),
        (status = 401, description = "Missing, invalid or revoked API key", body = super::docs::ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn get_workspace(
    State(state): State<AppState>,
    auth: ApiAuth,
) -> Result<Json<WorkspaceJson>, ApiError> {
    auth.require(ApiScope::Read)?;
    Ok(Json(load(&state, auth.workspace_id).await?.into()))
}

/// Changes the workspace's settings. Needs the `write` scope.
#[utoipa::path(patch, path = "/api/v1/workspace", tag = "workspace", request_body = WorkspacePatch,
    responses(
        (status = 200, description = "The updated workspace", body = WorkspaceJson),
        (status = 401, description = "Missing, invalid or revoked API key", body = super::docs::ErrorBody),
        (status = 403, description = "The key lacks the write scope", body = super::docs::ErrorBody),
        (status = 422, description = "Unknown or invalid fields", body = super::docs::ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn patch_workspace(
    State(state): State<AppState>,
    Writer(auth): Writer,
    ApiJson(patch): ApiJson<WorkspacePatch>,
) -> Result<Json<WorkspaceJson>, ApiError> {
    let current = load(&state, auth.workspace_id).await?;
    let pick = |new: &Option<String>, old: &String| new.clone().unwrap_or_else(|| old.clone());
    let (name, color, logo, currency, tz, sname, semail) = (
        pick(&patch.name, &current.name),
        pick(&patch.brand_color, &current.brand_color),
        pick(&patch.logo_url, &current.logo_url),
        pick(&patch.currency, &current.currency),
        pick(&patch.time_zone, &current.time_zone),
        pick(&patch.sender_name, &current.sender_name),
        pick(&patch.sender_email, &current.sender_email),
    );
    let settings = WorkspaceSettings::parse(&SettingsInput {
        name: &name,
        brand_color: &color,
        logo_url: &logo,
        currency: &currency,
        time_zone: &tz,
        sender_name: &sname,
        sender_email: &semail,
    })
    .map_err(|errors| ApiError::invalid(&errors))?;
    let updated =
        commands::update_settings(&state.store, auth.workspace_id, &settings, &auth.actor).await?;
    Ok(Json(updated.into()))
}

/// The people who manage this workspace.
#[utoipa::path(get, path = "/api/v1/members", tag = "workspace",
    responses(
        (status = 200, description = "Members", body = MemberList),
        (status = 401, description = "Missing, invalid or revoked API key", body = super::docs::ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn list_members(
    State(state): State<AppState>,
    auth: ApiAuth,
) -> Result<Json<MemberList>, ApiError> {
    auth.require(ApiScope::Read)?;
    let mut c = state.store.read().await?;
    let data = accounts::members(&mut c, auth.workspace_id)
        .await?
        .into_iter()
        .map(|m| MemberJson {
            id: m.member_id,
            email: m.email,
            role: m.role.as_str().into(),
            created_at: rfc3339(m.created_at),
        })
        .collect();
    Ok(Json(MemberList { data }))
}

/// Who changed what, newest first, paged by cursor.
#[utoipa::path(get, path = "/api/v1/audit-log", tag = "workspace", params(AuditQuery),
    responses(
        (status = 200, description = "A page of audit entries", body = AuditPage),
        (status = 400, description = "Bad query parameters", body = super::docs::ErrorBody),
        (status = 401, description = "Missing, invalid or revoked API key", body = super::docs::ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn list_audit_log(
    State(state): State<AppState>,
    auth: ApiAuth,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    auth.require(ApiScope::Read)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(vouch_core::Invalid::new("limit", "use a limit between 1 and 200").into());
    }
    let before = match q.cursor.as_deref() {
        None => None,
        Some(c) => Some(c.parse::<i64>().map_err(|_| {
            vouch_core::Invalid::new("cursor", "use the next_cursor of a previous page")
        })?),
    };
    let mut c = state.store.read().await?;
    let entries = audit::list(&mut c, auth.workspace_id, before, limit + 1).await?;
    let more = entries.len() as i64 > limit;
    let data: Vec<AuditEntryJson> = entries
        .into_iter()
        .take(limit as usize)
        .map(|e| AuditEntryJson {
            id: e.id,
            actor_kind: e.actor_kind,
            actor: e.actor_label,
            action: e.action,
            target: e.target,
            details: serde_json::from_str(&e.details).unwrap_or(serde_json::Value::Null),
            ip: e.ip,
            created_at: rfc3339(e.created_at),
        })
        .collect();
    let next_cursor = more
        .then(|| data.last().map(|e| e.id.to_string()))
        .flatten();
    Ok(Json(AuditPage { data, next_cursor }))
}
