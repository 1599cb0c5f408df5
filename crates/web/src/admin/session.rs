//! Admin sessions and CSRF. A session is a random token in an `HttpOnly; SameSite=Lax` cookie
//! whose hash is the key of a server-side row, so signing out ends it for real. Every
//! state-changing form carries a CSRF token: the session's own once signed in, and a
//! double-submit cookie on the sign-in and setup forms that come before a session exists.

use super::AdminError;
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use vouch_core::clock::now_ms;
use vouch_core::secret::constant_time_eq;
use vouch_core::{Role, Secret};
use vouch_store::accounts::{self, SessionView};
use vouch_store::audit::{Actor, ActorKind};
use vouch_store::rows::Workspace;
use vouch_store::workspaces;

pub const SESSION_COOKIE: &str = "vouch_session";
pub const CSRF_COOKIE: &str = "vouch_csrf";

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A `Set-Cookie` value with Vouch's attributes (`Secure` when served over https).
pub fn set_cookie(
    state: &AppState,
    name: &str,
    value: &str,
    max_age_secs: u64,
    same_site: &str,
) -> HeaderValue {
    let secure = if state.config.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite={same_site}; Max-Age={max_age_secs}{secure}"
    ))
    .expect("cookie values are hex tokens")
}

pub fn clear_cookie(state: &AppState, name: &str) -> HeaderValue {
    set_cookie(state, name, "", 0, "Lax")
}

/// A signed-in member, loaded fresh on each request (a role change applies at once).
pub struct Signed {
    pub view: SessionView,
    pub workspace: Workspace,
    pub workspaces: Vec<(Workspace, Role)>,
    pub actor: Actor,
}

impl Signed {
    pub fn role(&self) -> Role {
        self.view.role
    }
    pub fn csrf(&self) -> &str {
        &self.view.session.csrf_token
    }
    /// Checks the form's CSRF token against the session's.
    pub fn check_csrf(&self, presented: &str) -> Result<(), AdminError> {
        if constant_time_eq(presented, self.csrf()) {
            Ok(())
        } else {
            Err(AdminError::Csrf)
        }
    }
    pub fn require_write(&self) -> Result<(), AdminError> {
        if self.role().can_write() {
            Ok(())
        } else {
            Err(AdminError::Forbidden(
                "viewers can look but not change anything; ask an owner for the admin role".into(),
            ))
        }
    }
    pub fn require_owner(&self) -> Result<(), AdminError> {
        if self.role().can_manage_access() {
            Ok(())
        } else {
            Err(AdminError::Forbidden(
                "only owners manage members and API keys".into(),
            ))
        }
    }
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AdminError> {
        let token = cookie(&parts.headers, SESSION_COOKIE).ok_or(AdminError::SignIn)?;
        let hash = Secret::presented(token).hash();
        let now = now_ms();
        let mut c = state.store.read().await?;
        let view = accounts::session(&mut c, &hash, now)
            .await?
            .ok_or(AdminError::SignIn)?;
        let workspace = workspaces::by_id(&mut c, view.session.workspace_id)
            .await?
            .ok_or(AdminError::SignIn)?;
        let workspaces = accounts::workspaces_of(&mut c, view.session.user_id).await?;
        // A write waits for the writer gate: not while holding a pooled connection.
        drop(c);
        if now - view.session.last_seen_at > 60_000 {
            let ttl = state.config.session_ttl.as_millis() as i64;
            accounts::touch_session(&state.store, view.session.id, now, now + ttl).await?;
        }
        let actor = Actor {
            kind: ActorKind::Member,
            id: Some(view.session.user_id),
            label: view.email.clone(),
            ip: crate::client::client_ip(parts, &state.config.trusted_proxies),
        };
        Ok(Signed {
            view,
            workspace,
            workspaces,
            actor,
        })
    }
}

/// The pre-session CSRF token: the cookie's if present, else a new one to set.
pub fn pre_session_csrf(headers: &HeaderMap) -> (String, bool) {
    match cookie(headers, CSRF_COOKIE).filter(|v| v.len() == 32) {
        Some(v) => (v, false),
        None => (vouch_core::secret::random_hex::<16>(), true),
    }
}

/// Checks a pre-session form: the hidden field must equal the cookie.
pub fn check_pre_session_csrf(headers: &HeaderMap, presented: &str) -> Result<(), AdminError> {
    match cookie(headers, CSRF_COOKIE) {
        Some(c) if !c.is_empty() && constant_time_eq(&c, presented) => Ok(()),
        _ => Err(AdminError::Csrf),
    }
}

/// Starts a session for `user_id` in `workspace_id`; returns the `Set-Cookie` header.
pub async fn start_session(
    state: &AppState,
    parts_ip: &str,
    user_agent: &str,
    user_id: i64,
    workspace_id: i64,
) -> Result<HeaderValue, AdminError> {
    let token = Secret::generate("");
    let now = now_ms();
    let ttl = state.config.session_ttl;
    accounts::create_session(
        &state.store,
        &accounts::NewSession {
            workspace_id,
            user_id,
            token_hash: &token.hash(),
            csrf_token: &vouch_core::secret::random_hex::<16>(),
            ip: parts_ip,
            user_agent,
            expires_at: now + ttl.as_millis() as i64,
        },
        now,
    )
    .await?;
    Ok(set_cookie(
        state,
        SESSION_COOKIE,
        token.expose(),
        ttl.as_secs(),
        "Lax",
    ))
}

pub fn with_cookie(
    mut res: axum::response::Response,
    value: HeaderValue,
) -> axum::response::Response {
    res.headers_mut().append(SET_COOKIE, value);
    res
}
