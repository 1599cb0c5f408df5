//! The public join page: a customer enrols in a program themselves and leaves with their link,
//! code and QR code. Public, so every POST carries a CSRF token and each IP address gets a
//! bounded number of tries an hour.

use crate::AppState;
use crate::admin::{AdminError, page};
use askama::Template;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use vouch_core::clock::now_ms;
use vouch_core::program::ProgramStatus;
use vouch_core::{Email, Invalid};
use vouch_store::accounts::{self, ThrottleRule};
use vouch_store::audit::{Actor, ActorKind};
use vouch_store::customers::CustomerInput;
use vouch_store::rows::Program;
use vouch_store::{StoreError, programs, tracking, workspaces};

const JOIN_RULE: ThrottleRule = ThrottleRule {
    limit: 20,
    window_ms: 3_600_000,
};

#[derive(Template)]
#[template(path = "join.html")]
pub struct JoinPage {
    pub csrf: String,
    pub program_id: String,
    pub business: String,
    pub program: String,
    pub offer: String,
    pub email: String,
    pub name: String,
    pub errors: crate::admin::FormErrors,
    pub link: String,
    pub code: String,
    pub advocate_id: String,
}

/// The program a join link names, if it takes advocates now. Program ids are random, so a
/// join link names its workspace without revealing or enumerating others.
async fn joinable(state: &AppState, public_id: &str) -> Result<(Program, String), AdminError> {
    let mut c = state.store.read().await?;
    let row = program_and_business(&mut c, public_id).await?;
    let (program, business) = row.ok_or(AdminError::NotFound)?;
    if ProgramStatus::parse(&program.status).ok() != Some(ProgramStatus::Active) {
        return Err(AdminError::NotFound);
    }
    Ok((program, business))
}

async fn program_and_business(
    c: &mut vouch_store::Conn,
    public_id: &str,
) -> Result<Option<(Program, String)>, AdminError> {
    let Some(program) = programs::by_public_id_any_workspace(c, public_id).await? else {
        return Ok(None);
    };
    let business = workspaces::by_id(c, program.workspace_id)
        .await?
        .map(|w| w.name)
        .unwrap_or_default();
    Ok(Some((program, business)))
}

fn form_page(program: &Program, business: String, csrf: String) -> JoinPage {
    let rules = programs::rules_of(&program.rules).ok();
    JoinPage {
        csrf,
        program_id: program.public_id.clone(),
        business,
        program: program.name.clone(),
        offer: rules.map(|r| r.friend_offer).unwrap_or_default(),
        email: String::new(),
        name: String::new(),
        errors: Default::default(),
        link: String::new(),
        code: String::new(),
        advocate_id: String::new(),
    }
}

pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, AdminError> {
    let (program, business) = joinable(&state, &id).await?;
    let (csrf, fresh) = crate::admin::pre_session_csrf(req.headers());
    let res = page(form_page(&program, business, csrf.clone()));
    Ok(crate::admin::with_csrf_cookie(&state, res, &csrf, fresh))
}

#[derive(Deserialize)]
pub struct JoinForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
}

pub async fn join(
    State(state): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, AdminError> {
    use axum::extract::FromRequest;
    let (parts, body) = req.into_parts();
    let axum::Form(f) =
        axum::Form::<JoinForm>::from_request(Request::from_parts(parts.clone(), body), &state)
            .await
            .map_err(|e| AdminError::BadRequest(e.body_text()))?;
    crate::admin::check_pre_session_csrf(&parts.headers, &f.csrf)?;
    let (program, business) = joinable(&state, &id).await?;
    let ip = crate::client::client_ip(&parts, &state.config.trusted_proxies);
    let key = format!("join:{ip}");
    let now = now_ms();
    let throttled =
        accounts::throttled_until(&mut state.store.read().await?, &key, JOIN_RULE, now).await?;
    if let Some(until) = throttled {
        return Err(AdminError::Throttled(((until - now) / 60_000).max(1)));
    }
    // Every attempt counts, so the form cannot be used to probe addresses at speed.
    accounts::count_attempt(&state.store, &key, JOIN_RULE, now).await?;
    let mut p = form_page(&program, business, f.csrf.clone());
    p.email = f.email.clone();
    p.name = f.name.clone();
    let email = match Email::parse(&f.email) {
        Ok(e) => e,
        Err(e) => {
            p.errors = crate::admin::FormErrors(vec![e]);
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page(p)).into_response());
        }
    };
    let input = CustomerInput {
        email: Some(email.clone()),
        name: Some(f.name.trim().chars().take(120).collect::<String>()).filter(|n| !n.is_empty()),
        created_from: "join_page",
        ..Default::default()
    };
    let actor = Actor {
        kind: ActorKind::System,
        id: None,
        label: format!("join page ({email})"),
        ip: ip.clone(),
    };
    match tracking::enroll(
        &state.store,
        program.workspace_id,
        &program,
        &input,
        None,
        &actor,
    )
    .await
    {
        Ok((a, _, _)) => {
            // This browser is the advocate's own: their clicks on their link will not qualify,
            // and a "friend" buying from it is the advocate.
            let (visitor, fresh) = match super::redirect::visitor_of(&parts.headers) {
                Some(v) => (v, false),
                None => (vouch_store::clicks::time_ordered_id("", now), true),
            };
            let mut c = state.store.read().await?;
            let salt = workspaces::by_id(&mut c, program.workspace_id)
                .await?
                .map(|w| w.ip_salt)
                .unwrap_or_default();
            vouch_store::advocates::remember_visitor(
                &mut c,
                program.workspace_id,
                a.id,
                &visitor,
                &vouch_core::visit::ip_hash(&salt, &ip),
                now,
            )
            .await?;
            state.codes.forget(&a.code);
            if let Some(v) = &a.vanity_code {
                state.codes.forget(v);
            }
            p.code = a.code.clone();
            p.link = format!(
                "{}/r/{}",
                state.config.base_url.as_str().trim_end_matches('/'),
                a.vanity_code.as_deref().unwrap_or(&a.code)
            );
            p.advocate_id = a.public_id;
            let mut res = page(p);
            if fresh {
                let secure = if state.config.secure_cookies() {
                    "; Secure"
                } else {
                    ""
                };
                let cookie = format!(
                    "{}={visitor}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
                    super::redirect::VISITOR_COOKIE,
                    super::redirect::VISITOR_MAX_AGE
                );
                if let Ok(v) = axum::http::HeaderValue::from_str(&cookie) {
                    res.headers_mut().append(axum::http::header::SET_COOKIE, v);
                }
            }
            Ok(res)
        }
        Err(StoreError::Rejected("not_eligible", why)) => {
            p.errors = crate::admin::FormErrors(vec![Invalid::new("email", why)]);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page(p)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}
