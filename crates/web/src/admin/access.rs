//! Who may get in: members with roles, and API keys (shown once, stored as a hash).
//! Admins can see both pages; only owners change them.

use super::session::Signed;
use super::views::{ApiKeysPage, Chrome, FormErrors, KeyRow, MembersPage, notice};
use super::{AdminError, page};
use crate::AppState;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use vouch_core::account::check_new_password;
use vouch_core::{ApiScope, Email, Invalid, Role, password};
use vouch_store::{StoreError, accounts, commands};

#[derive(Deserialize, Default)]
pub struct Notice {
    done: Option<String>,
}

async fn members_view(
    state: &AppState,
    s: &Signed,
    notice_text: &'static str,
) -> Result<MembersPage, AdminError> {
    if !s.role().can_write() {
        return Err(AdminError::Forbidden(
            "viewers cannot see the member list".into(),
        ));
    }
    let mut c = state.store.read().await?;
    Ok(MembersPage {
        chrome: Chrome::new(s, "Members", "members", notice_text),
        members: accounts::members(&mut c, s.workspace.id).await?,
        email: String::new(),
        role: "admin".into(),
        errors: FormErrors::default(),
    })
}

pub async fn members_page(
    State(state): State<AppState>,
    s: Signed,
    Query(n): Query<Notice>,
) -> Result<Response, AdminError> {
    Ok(page(
        members_view(&state, &s, notice(n.done.as_deref())).await?,
    ))
}

#[derive(Deserialize)]
pub struct AddMemberForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

pub async fn add_member(
    State(state): State<AppState>,
    s: Signed,
    Form(f): Form<AddMemberForm>,
) -> Result<Response, AdminError> {
    s.check_csrf(&f.csrf)?;
    s.require_owner()?;
    let mut errors = Vec::new();
    let email = Email::parse(&f.email).map_err(|e| errors.push(e)).ok();
    let role = Role::parse(&f.role).map_err(|e| errors.push(e)).ok();
    let password = f.password.trim_end_matches(['\r', '\n']).to_string();
    if !password.is_empty()
        && let Err(e) = check_new_password(&password)
    {
        errors.push(e);
    }
    let result = match (email, role, errors.is_empty()) {
        (Some(email), Some(role), true) => {
            let hash = if password.is_empty() {
                None
            } else {
                Some(
                    tokio::task::spawn_blocking(move || password::hash(&password))
                        .await
                        .map_err(|_| AdminError::Internal)?,
                )
            };
            match commands::add_member(
                &state.store,
                s.workspace.id,
                &email,
                role,
                hash.as_deref(),
                &s.actor,
            )
            .await
            {
                Ok(_) => {
                    return Ok(Redirect::to("/admin/members?done=member-added").into_response());
                }
                Err(StoreError::Conflict(_)) => {
                    Err(Invalid::new("email", "this person is already a member"))
                }
                Err(StoreError::Refused(why)) => Err(Invalid::new("password", why)),
                Err(e) => return Err(e.into()),
            }
        }
        _ => Ok(()),
    };
    if let Err(e) = result {
        errors.push(e);
    }
    let mut p = members_view(&state, &s, "").await?;
    p.email = f.email;
    p.role = f.role;
    p.errors = FormErrors(errors);
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page(p)).into_response())
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    role: String,
}

pub async fn change_role(
    State(state): State<AppState>,
    s: Signed,
    Path(member_id): Path<i64>,
    Form(f): Form<RoleForm>,
) -> Result<Response, AdminError> {
    s.check_csrf(&f.csrf)?;
    s.require_owner()?;
    let role = Role::parse(&f.role).map_err(|e| AdminError::BadRequest(e.message))?;
    commands::set_member_role(&state.store, s.workspace.id, member_id, role, &s.actor).await?;
    Ok(Redirect::to("/admin/members?done=member-updated").into_response())
}

pub async fn remove_member(
    State(state): State<AppState>,
    s: Signed,
    Path(member_id): Path<i64>,
    Form(f): Form<super::entry::CsrfForm>,
) -> Result<Response, AdminError> {
    s.check_csrf(&f.csrf)?;
    s.require_owner()?;
    commands::remove_member(&state.store, s.workspace.id, member_id, &s.actor).await?;
    Ok(Redirect::to("/admin/members?done=member-removed").into_response())
}

async fn keys_view(
    state: &AppState,
    s: &Signed,
    notice_text: &'static str,
) -> Result<ApiKeysPage, AdminError> {
    if !s.role().can_write() {
        return Err(AdminError::Forbidden("viewers cannot see API keys".into()));
    }
    let mut c = state.store.read().await?;
    Ok(ApiKeysPage {
        chrome: Chrome::new(s, "API keys", "api-keys", notice_text),
        keys: accounts::api_keys(&mut c, s.workspace.id)
            .await?
            .into_iter()
            .rev()
            .map(KeyRow::from)
            .collect(),
        name: String::new(),
        errors: FormErrors::default(),
        created_secret: String::new(),
        created_name: String::new(),
    })
}

pub async fn api_keys_page(
    State(state): State<AppState>,
    s: Signed,
    Query(n): Query<Notice>,
) -> Result<Response, AdminError> {
    Ok(page(
        keys_view(&state, &s, notice(n.done.as_deref())).await?,
    ))
}

#[derive(Deserialize)]
pub struct KeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    write: Option<String>,
}

pub async fn create_api_key(
    State(state): State<AppState>,
    s: Signed,
    Form(f): Form<KeyForm>,
) -> Result<Response, AdminError> {
    s.check_csrf(&f.csrf)?;
    s.require_owner()?;
    let scopes = if f.write.is_some() {
        vec![ApiScope::Read, ApiScope::Write]
    } else {
        vec![ApiScope::Read]
    };
    match vouch_core::text::display_name("name", &f.name) {
        Ok(name) => {
            let (key, secret) =
                commands::create_api_key(&state.store, s.workspace.id, &name, &scopes, &s.actor)
                    .await?;
            let mut p = keys_view(&state, &s, "").await?;
            p.created_secret = secret.expose().to_string();
            p.created_name = key.name;
            Ok(page(p))
        }
        Err(e) => {
            let mut p = keys_view(&state, &s, "").await?;
            p.name = f.name;
            p.errors = FormErrors(vec![e]);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page(p)).into_response())
        }
    }
}

pub async fn revoke_api_key(
    State(state): State<AppState>,
    s: Signed,
    Path(public_id): Path<String>,
    Form(f): Form<super::entry::CsrfForm>,
) -> Result<Response, AdminError> {
    s.check_csrf(&f.csrf)?;
    s.require_owner()?;
    commands::revoke_api_key(&state.store, s.workspace.id, &public_id, &s.actor).await?;
    Ok(Redirect::to("/admin/api-keys?done=key-revoked").into_response())
}
