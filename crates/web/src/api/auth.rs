//! API key authentication: `Authorization: Bearer vk_…`. The key names its workspace, so a
//! request can only ever see the workspace its key belongs to.

use crate::AppState;
use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use vouch_core::clock::now_ms;
use vouch_core::{ApiScope, Secret};
use vouch_store::accounts;
use vouch_store::audit::{Actor, ActorKind};

/// An authenticated API caller.
#[derive(Debug, Clone)]
pub struct ApiAuth {
    pub workspace_id: i64,
    pub key_id: i64,
    pub scopes: Vec<ApiScope>,
    pub actor: Actor,
}

impl ApiAuth {
    pub fn require(&self, scope: ApiScope) -> Result<(), ApiError> {
        if ApiScope::allows(&self.scopes, scope) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!(
                    "this API key lacks the {} scope; create a key with it",
                    scope.as_str()
                ),
            ))
        }
    }
}

const QUERY_KEY_NAMES: [&str; 5] = ["api_key", "apikey", "key", "token", "access_token"];

/// Keys in URLs end up in proxy logs and browser history: refuse them outright.
fn key_in_query(parts: &Parts) -> bool {
    let Some(q) = parts.uri.query() else {
        return false;
    };
    q.split('&').any(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        QUERY_KEY_NAMES.contains(&k.to_ascii_lowercase().as_str()) || v.starts_with("vk_")
    })
}

impl FromRequestParts<AppState> for ApiAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if key_in_query(parts) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "api_key_in_query",
                "send the API key in the Authorization header (Bearer), never in the URL",
            ));
        }
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ApiError::unauthorized("send an API key as Authorization: Bearer vk_…")
            })?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must be Bearer vk_…")
            })?;
        let hash = Secret::presented(token).hash();
        let mut c = state.store.read().await?;
        let key = accounts::api_key_by_hash(&mut c, &hash)
            .await?
            .ok_or_else(|| {
                ApiError::unauthorized("this API key is not valid or has been revoked")
            })?;
        drop(c);
        accounts::touch_api_key(&state.store, &key, now_ms()).await?;
        let scopes = ApiScope::parse_list(&key.scopes).unwrap_or_default();
        Ok(ApiAuth {
            workspace_id: key.workspace_id,
            key_id: key.id,
            scopes,
            actor: Actor {
                kind: ActorKind::ApiKey,
                id: Some(key.id),
                label: key.name,
                ip: crate::client::client_ip(parts, &state.config.trusted_proxies),
            },
        })
    }
}

/// An API caller whose key holds the `write` scope, checked before the body is read, so a
/// read-only key is told about its scope rather than about the body.
#[derive(Debug, Clone)]
pub struct Writer(pub ApiAuth);

impl FromRequestParts<AppState> for Writer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let auth = ApiAuth::from_request_parts(parts, state).await?;
        auth.require(ApiScope::Write)?;
        Ok(Writer(auth))
    }
}
