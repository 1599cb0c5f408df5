//! The way in and out: first-run setup, sign-in (throttled per account and per IP), sign-out.

use super::session::{self, check_pre_session_csrf, pre_session_csrf, with_cookie};
use super::views::{FormErrors, LoginPage, SetupPage};
use super::{AdminError, page};
use crate::AppState;
use crate::client::{client_ip, user_agent};
use axum::Form;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use vouch_core::account::check_new_password;
use vouch_core::clock::now_ms;
use vouch_core::{Email, Invalid, Slug, password};
use vouch_store::accounts::{self, ThrottleRule};
use vouch_store::audit::{Actor, ActorKind};
use vouch_store::{StoreError, commands, workspaces};

const ACCOUNT_RULE: ThrottleRule = ThrottleRule {
    limit: 5,
    window_ms: 15 * 60_000,
};
const IP_RULE: ThrottleRule = ThrottleRule {
    limit: 30,
    window_ms: 15 * 60_000,
};

/// Attaches the pre-session CSRF cookie when the token is new.
pub fn with_csrf(state: &AppState, res: Response, csrf: &str, fresh: bool) -> Response {
    if fresh {
        with_cookie(
            res,
            session::set_cookie(state, session::CSRF_COOKIE, csrf, 3600, "Strict"),
        )
    } else {
        res
    }
}

/// `/`: the setup page before the first workspace exists, then the sign-in page.
pub async fn home(State(state): State<AppState>, req: Request) -> Result<Response, AdminError> {
    let (mut parts, _) = req.into_parts();
    let count = {
        let mut c = state.store.read().await?;
        workspaces::count(&mut c).await?
    };
    let (csrf, fresh) = pre_session_csrf(&parts.headers);
    if count == 0 {
        let res = page(SetupPage {
            csrf: csrf.clone(),
            workspace_name: String::new(),
            email: String::new(),
            errors: FormErrors::default(),
        });
        return Ok(with_csrf(&state, res, &csrf, fresh));
    }
    if session::Signed::from_request_parts(&mut parts, &state)
        .await
        .is_ok()
    {
        return Ok(Redirect::to("/admin").into_response());
    }
    let res = page(LoginPage {
        csrf: csrf.clone(),
        email: String::new(),
        error: String::new(),
    });
    Ok(with_csrf(&state, res, &csrf, fresh))
}

pub async fn login_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (csrf, fresh) = pre_session_csrf(&headers);
    let res = page(LoginPage {
        csrf: csrf.clone(),
        email: String::new(),
        error: String::new(),
    });
    with_csrf(&state, res, &csrf, fresh)
}

#[derive(Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    workspace_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

pub async fn setup(State(state): State<AppState>, req: Request) -> Result<Response, AdminError> {
    let (parts, body) = req.into_parts();
    let Form(form) =
        Form::<SetupForm>::from_request(Request::from_parts(parts.clone(), body), &state)
            .await
            .map_err(|e| AdminError::BadRequest(e.body_text()))?;
    check_pre_session_csrf(&parts.headers, &form.csrf)?;
    let mut errors = Vec::new();
    let name = vouch_core::text::display_name("workspace_name", &form.workspace_name)
        .map_err(|e| errors.push(e))
        .ok();
    let slug = name.as_deref().and_then(|n| {
        Slug::from_name(n)
            .map_err(|_| {
                errors.push(Invalid::new(
                    "workspace_name",
                    "use at least two letters or digits",
                ))
            })
            .ok()
    });
    let email = Email::parse(&form.email).map_err(|e| errors.push(e)).ok();
    if let Err(e) = check_new_password(&form.password) {
        errors.push(e);
    } else if form.password != form.password_confirm {
        errors.push(Invalid::new("password_confirm", "the two passwords differ"));
    }
    let (Some(name), Some(slug), Some(email), true) = (name, slug, email, errors.is_empty()) else {
        let csrf = form.csrf.clone();
        return Ok(page(SetupPage {
            csrf,
            workspace_name: form.workspace_name,
            email: form.email,
            errors: FormErrors(errors),
        }));
    };
    let pw = form.password.clone();
    let hash = tokio::task::spawn_blocking(move || password::hash(&pw))
        .await
        .map_err(|_| AdminError::Internal)?;
    let actor = Actor {
        kind: ActorKind::Member,
        id: None,
        label: email.to_string(),
        ip: client_ip(&parts, &state.config.trusted_proxies),
    };
    let (ws, user) = match commands::create_workspace(
        &state.store,
        &name,
        &slug,
        Some((&email, Some(&hash))),
        &actor,
        true,
    )
    .await
    {
        Ok(v) => v,
        Err(StoreError::Refused(_)) => return Ok(Redirect::to("/login").into_response()),
        Err(e) => return Err(e.into()),
    };
    let user = user.ok_or(AdminError::Internal)?;
    let cookie =
        session::start_session(&state, &actor.ip, &user_agent(&parts), user.id, ws.id).await?;
    Ok(with_cookie(Redirect::to("/admin").into_response(), cookie))
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

pub async fn login(State(state): State<AppState>, req: Request) -> Result<Response, AdminError> {
    let (parts, body) = req.into_parts();
    let Form(form) =
        Form::<LoginForm>::from_request(Request::from_parts(parts.clone(), body), &state)
            .await
            .map_err(|e| AdminError::BadRequest(e.body_text()))?;
    check_pre_session_csrf(&parts.headers, &form.csrf)?;
    let ip = client_ip(&parts, &state.config.trusted_proxies);
    let now = now_ms();
    let email = Email::parse(&form.email).ok();
    let account_key = format!(
        "account:{}",
        email
            .as_ref()
            .map_or(form.email.trim().to_lowercase(), |e| e.to_string())
    );
    let ip_key = format!("ip:{ip}");
    let mut c = state.store.read().await?;
    for (key, rule) in [(&account_key, ACCOUNT_RULE), (&ip_key, IP_RULE)] {
        if let Some(until) = accounts::throttled_until(&mut c, key, rule, now).await? {
            return Err(AdminError::Throttled(((until - now) / 60_000).max(1)));
        }
    }
    let user = match &email {
        Some(e) => accounts::user_by_email(&mut c, e).await?,
        None => None,
    };
    drop(c);
    let stored = user.as_ref().map_or_else(
        || password::decoy_hash().to_string(),
        |u| u.password_hash.clone(),
    );
    let pw = form.password.clone();
    let ok = tokio::task::spawn_blocking(move || password::verify(&pw, &stored))
        .await
        .map_err(|_| AdminError::Internal)?;
    let (Some(user), true) = (user, ok) else {
        accounts::count_attempt(&state.store, &account_key, ACCOUNT_RULE, now).await?;
        accounts::count_attempt(&state.store, &ip_key, IP_RULE, now).await?;
        let res = page(LoginPage {
            csrf: form.csrf,
            email: form.email,
            error: "That email and password do not match an account.".into(),
        });
        return Ok((axum::http::StatusCode::UNAUTHORIZED, res).into_response());
    };
    let memberships = accounts::workspaces_of(&mut state.store.read().await?, user.id).await?;
    accounts::clear_attempts(&state.store, &account_key).await?;
    let Some((ws, _)) = memberships.first() else {
        return Err(AdminError::Forbidden(
            "your account is not a member of any workspace; ask an owner to add you".into(),
        ));
    };
    let cookie = session::start_session(&state, &ip, &user_agent(&parts), user.id, ws.id).await?;
    Ok(with_cookie(Redirect::to("/admin").into_response(), cookie))
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// Ends the session server-side, so a copied cookie is worthless afterwards.
pub async fn logout(
    State(state): State<AppState>,
    signed: session::Signed,
    Form(form): Form<CsrfForm>,
) -> Result<Response, AdminError> {
    signed.check_csrf(&form.csrf)?;
    accounts::delete_session(
        &state.store,
        &vouch_core::SecretHash(signed.view.session.token_hash.clone()),
    )
    .await?;
    Ok(with_cookie(
        Redirect::to("/login").into_response(),
        session::clear_cookie(&state, session::SESSION_COOKIE),
    ))
}
