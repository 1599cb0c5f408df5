//! Workspaces: the tenants. Every other query is scoped by a workspace id from here.

use crate::rows::{self, Workspace, columns};
use crate::{Conn, Millis, Result, conflict_as};
use vouch_core::Slug;
use vouch_core::id::time_ordered;
use vouch_core::secret::random_hex;
use vouch_core::settings::WorkspaceSettings;

/// Creates a workspace with sensible defaults (EUR, UTC, Vouch blue), to be edited in settings.
pub async fn create(c: &mut Conn, name: &str, slug: &Slug, now: Millis) -> Result<Workspace> {
    let q = rows::dynamic(format!(
        "INSERT INTO workspaces (public_id, slug, name, brand_color, logo_url, currency, time_zone,
            sender_name, sender_email, created_at, updated_at, ip_salt)
         VALUES ($1, $2, $3, '#1f6feb', '', 'EUR', 'UTC', '', '', $4, $4, $5) RETURNING {}",
        columns::<Workspace>()
    ))
    .bind(time_ordered::<8>("ws_", now))
    .bind(slug.as_str().to_string())
    .bind(name.to_string())
    .bind(now)
    .bind(random_hex::<16>());
    rows::fetch_one(c, q)
        .await
        .map_err(conflict_as("a workspace with this slug"))
}

pub async fn by_id(c: &mut Conn, id: i64) -> Result<Option<Workspace>> {
    Ok(rows::fetch_optional(c, rows::select::<Workspace>("WHERE id = $1").bind(id)).await?)
}

pub async fn by_slug(c: &mut Conn, slug: &str) -> Result<Option<Workspace>> {
    let slug = slug.trim().to_lowercase();
    Ok(rows::fetch_optional(c, rows::select::<Workspace>("WHERE slug = $1").bind(slug)).await?)
}

pub async fn count(c: &mut Conn) -> Result<i64> {
    use sqlx::Row;
    let row = sqlx::query("SELECT COUNT(*) AS n FROM workspaces")
        .fetch_one(&mut *c)
        .await?;
    Ok(row.try_get("n")?)
}

pub async fn list(c: &mut Conn) -> Result<Vec<Workspace>> {
    Ok(rows::fetch_all(c, rows::select::<Workspace>("ORDER BY id")).await?)
}

pub async fn update_settings(
    c: &mut Conn,
    id: i64,
    s: &WorkspaceSettings,
    now: Millis,
) -> Result<Workspace> {
    let q = rows::dynamic(format!(
        "UPDATE workspaces SET name = $2, brand_color = $3, logo_url = $4, currency = $5,
            time_zone = $6, sender_name = $7, sender_email = $8, updated_at = $9
         WHERE id = $1 RETURNING {}",
        columns::<Workspace>()
    ))
    .bind(id)
    .bind(s.name.clone())
    .bind(s.brand_color.clone())
    .bind(s.logo_url.clone())
    .bind(s.currency.clone())
    .bind(s.time_zone.clone())
    .bind(s.sender_name.clone())
    .bind(s.sender_email.clone())
    .bind(now);
    rows::fetch_optional(c, q)
        .await?
        .ok_or(crate::StoreError::NotFound("workspace"))
}
