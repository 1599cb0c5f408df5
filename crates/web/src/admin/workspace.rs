//! The workspace pages: dashboard, settings, audit log, and the workspace switcher.

use super::session::Signed;
use super::views::{AuditPage, AuditRow, Chrome, DashboardPage, FormErrors, SettingsPage, notice};
use super::{AdminError, page};
use crate::AppState;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use vouch_core::settings::{SettingsInput, WorkspaceSettings, supported_currencies};
use vouch_store::{accounts, audit, commands};

#[derive(Deserialize, Default)]
pub struct Notice {
    done: Option<String>,
}

pub async fn dashboard(
    State(state): State<AppState>,
    s: Signed,
    Query(n): Query<Notice>,
) -> Result<Response, AdminError> {
    let mut c = state.store.read().await?;
    let members = accounts::members(&mut c, s.workspace.id).await?.len();
    let active_keys = accounts::api_keys(&mut c, s.workspace.id)
        .await?
        .iter()
        .filter(|k| k.revoked_at.is_none())
        .count();
    let recent = audit::list(&mut c, s.workspace.id, None, 10)
        .await?
        .into_iter()
        .map(AuditRow::from)
        .collect();
    let notices = vouch_store::notices::open(&mut c, s.workspace.id)
        .await?
        .into_iter()
        .map(|n| n.message)
        .collect();
    drop(c);
    let jobs = state.store.job_counts().await?;
    Ok(page(DashboardPage {
        chrome: Chrome::new(&s, "Dashboard", "dashboard", notice(n.done.as_deref())),
        members,
        active_keys,
        jobs,
        recent,
        notices,
    }))
}

#[derive(Deserialize)]
pub struct SwitchForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    workspace_id: i64,
}

pub async fn switch(
    State(state): State<AppState>,
    s: Signed,
    Form(f): Form<SwitchForm>,
) -> Result<Response, AdminError> {
    s.check_csrf(&f.csrf)?;
    accounts::switch_session(
        &state.store,
        s.view.session.id,
        s.view.session.user_id,
        f.workspace_id,
    )
    .await?;
    Ok(Redirect::to("/admin?done=switched").into_response())
}

fn currency_choices(current: &str) -> Vec<(&'static str, bool)> {
    supported_currencies().map(|c| (c, c == current)).collect()
}

fn settings_view(s: &Signed, notice_text: &'static str) -> SettingsPage {
    let w = &s.workspace;
    SettingsPage {
        chrome: Chrome::new(s, "Settings", "settings", notice_text),
        name: w.name.clone(),
        brand_color: w.brand_color.clone(),
        logo_url: w.logo_url.clone(),
        currency: w.currency.clone(),
        time_zone: w.time_zone.clone(),
        sender_name: w.sender_name.clone(),
        sender_email: w.sender_email.clone(),
        currencies: currency_choices(&w.currency),
        errors: FormErrors::default(),
    }
}

pub async fn settings_page(s: Signed, Query(n): Query<Notice>) -> Response {
    page(settings_view(&s, notice(n.done.as_deref())))
}

#[derive(Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    brand_color: String,
    #[serde(default)]
    logo_url: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    sender_name: String,
    #[serde(default)]
    sender_email: String,
}

pub async fn save_settings(
    State(state): State<AppState>,
    s: Signed,
    Form(f): Form<SettingsForm>,
) -> Result<Response, AdminError> {
    s.check_csrf(&f.csrf)?;
    s.require_write()?;
    let input = SettingsInput {
        name: &f.name,
        brand_color: &f.brand_color,
        logo_url: &f.logo_url,
        currency: &f.currency,
        time_zone: &f.time_zone,
        sender_name: &f.sender_name,
        sender_email: &f.sender_email,
    };
    match WorkspaceSettings::parse(&input) {
        Ok(settings) => {
            commands::update_settings(&state.store, s.workspace.id, &settings, &s.actor).await?;
            Ok(Redirect::to("/admin/settings?done=saved").into_response())
        }
        Err(errors) => {
            // Show what was typed, with each problem beside its field.
            let mut p = settings_view(&s, "");
            p.name = f.name;
            p.brand_color = f.brand_color;
            p.logo_url = f.logo_url;
            p.currencies = currency_choices(&f.currency.trim().to_uppercase());
            p.currency = f.currency;
            p.time_zone = f.time_zone;
            p.sender_name = f.sender_name;
            p.sender_email = f.sender_email;
            p.errors = FormErrors(errors);
            Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, page(p)).into_response())
        }
    }
}

pub async fn audit_page(State(state): State<AppState>, s: Signed) -> Result<Response, AdminError> {
    let mut c = state.store.read().await?;
    let entries = audit::list(&mut c, s.workspace.id, None, 200)
        .await?
        .into_iter()
        .map(AuditRow::from)
        .collect();
    Ok(page(AuditPage {
        chrome: Chrome::new(&s, "Audit log", "audit", ""),
        entries,
    }))
}
