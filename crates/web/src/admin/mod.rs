//! The admin dashboard: server-rendered pages (askama), plain forms that work without
//! JavaScript, each POST checked for CSRF and role before it changes anything.

mod access;
mod entry;
mod rewards;
mod session;
pub(crate) mod tracking;
mod views;
mod workspace;

pub use entry::with_csrf as with_csrf_cookie;
pub use session::{CSRF_COOKIE, SESSION_COOKIE, check_pre_session_csrf, cookie, pre_session_csrf};
pub use views::FormErrors;

use crate::AppState;
use askama::Template;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use vouch_store::StoreError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(entry::home))
        .route("/login", get(entry::login_page).post(entry::login))
        .route("/setup", post(entry::setup))
        .route("/logout", post(entry::logout))
        .route("/admin", get(workspace::dashboard))
        .route("/admin/switch", post(workspace::switch))
        .route(
            "/admin/settings",
            get(workspace::settings_page).post(workspace::save_settings),
        )
        .route("/admin/audit", get(workspace::audit_page))
        .route(
            "/admin/members",
            get(access::members_page).post(access::add_member),
        )
        .route("/admin/members/{id}/role", post(access::change_role))
        .route("/admin/members/{id}/remove", post(access::remove_member))
        .route(
            "/admin/api-keys",
            get(access::api_keys_page).post(access::create_api_key),
        )
        .route("/admin/api-keys/{id}/revoke", post(access::revoke_api_key))
        .route(
            "/admin/programs",
            get(tracking::programs_page).post(tracking::create_program),
        )
        .route(
            "/admin/programs/{id}",
            get(tracking::edit_program).post(tracking::update_program),
        )
        .route(
            "/admin/advocates",
            get(tracking::advocates_page).post(tracking::enrol),
        )
        .route("/admin/advocates/{id}", get(tracking::advocate_profile))
        .route("/admin/advocates/{id}/qr", get(tracking::advocate_qr))
        .route("/admin/referrals", get(tracking::referrals_page))
        .route("/admin/review", get(tracking::review_page))
        .route(
            "/admin/referrals/{id}/attribution",
            post(tracking::reattribute),
        )
        .route("/admin/review/decisions", post(tracking::decide))
        .route("/admin/rewards", get(rewards::rewards_page))
        .route("/admin/rewards/decisions", post(rewards::decide))
        .route(
            "/admin/programs/{id}/rewards",
            get(rewards::rules_page).post(rewards::save_rules),
        )
        .route(
            "/admin/code-pools",
            get(rewards::pools_page).post(rewards::create_pool),
        )
        .route("/admin/code-pools/{id}/codes", post(rewards::import_codes))
        .route(
            "/admin/payouts",
            get(rewards::payouts_page).post(rewards::confirm_payout),
        )
        .route("/admin/payouts/{id}", post(rewards::settle_payout))
        .route("/admin/payouts/{id}/export", get(rewards::export_payout))
        .route(
            "/admin/campaigns",
            get(rewards::campaigns_page).post(rewards::create_campaign),
        )
        .route(
            "/admin/campaigns/{id}/cancel",
            post(rewards::cancel_campaign),
        )
        .route(
            "/admin/advocates/{id}/ledger",
            get(rewards::advocate_ledger),
        )
        .route("/static/app.css", get(stylesheet))
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/app.css"),
    )
        .into_response()
}

/// Renders a template as an HTML response.
pub fn page(t: impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed to render");
            AdminError::Internal.into_response()
        }
    }
}

/// What can go wrong on an admin page, shown as a friendly page (or a trip to sign-in).
#[derive(Debug)]
pub enum AdminError {
    SignIn,
    Csrf,
    Forbidden(String),
    NotFound,
    Refused(String),
    Throttled(i64),
    BadRequest(String),
    Internal,
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) => AdminError::NotFound,
            StoreError::Conflict(what) => AdminError::Refused(format!("{what} already exists")),
            StoreError::Refused(why) | StoreError::Rejected(_, why) => AdminError::Refused(why),
            other => {
                tracing::error!(error = ?other, "store error on an admin page");
                AdminError::Internal
            }
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            AdminError::SignIn => return Redirect::to("/login").into_response(),
            AdminError::Csrf => (
                StatusCode::FORBIDDEN,
                "This form has expired",
                "The form was not sent from this Vouch page, or it is too old. Go back, reload the page and try again.".to_string(),
            ),
            AdminError::Forbidden(why) => (StatusCode::FORBIDDEN, "Not allowed", why),
            AdminError::NotFound => (StatusCode::NOT_FOUND, "Not found", "There is nothing here. It may have been removed.".into()),
            AdminError::Refused(why) => (StatusCode::CONFLICT, "That did not work", why),
            AdminError::Throttled(minutes) => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                format!("Too many failed sign-ins. Try again in {minutes} minute(s)."),
            ),
            AdminError::BadRequest(why) => (StatusCode::BAD_REQUEST, "Something is missing", why),
            AdminError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Something went wrong on our side. It has been logged; please try again.".into(),
            ),
        };
        let body = views::ErrorPage {
            title,
            message: &message,
        }
        .render()
        .unwrap_or_else(|_| message.clone());
        (status, Html(body)).into_response()
    }
}
