//! The JSON API under `/api/v1`, authenticated by workspace API keys. Every handler is
//! annotated for the OpenAPI document, which is built from these same functions.

mod auth;
mod docs;
mod rewards;
mod tracking;
mod workspace;

pub use auth::{ApiAuth, Writer};
pub use docs::{ApiDoc, ErrorBody, openapi_json};

use crate::AppState;
use crate::error::{ApiError, json_rejection};
use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::get;

use serde::de::DeserializeOwned;
pub use tracking::Page;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/workspace",
            get(workspace::get_workspace).patch(workspace::patch_workspace),
        )
        .route("/members", get(workspace::list_members))
        .route("/audit-log", get(workspace::list_audit_log))
        .route(
            "/programs",
            get(tracking::list_programs).post(tracking::create_program),
        )
        .route(
            "/programs/{id}",
            get(tracking::get_program).patch(tracking::update_program),
        )
        .route(
            "/customers",
            get(tracking::list_customers).post(tracking::upsert_customer),
        )
        .route(
            "/customers/import",
            axum::routing::post(tracking::import_customers),
        )
        .route("/customers/{id}", get(tracking::get_customer))
        .route(
            "/advocates",
            get(tracking::list_advocates).post(tracking::enrol),
        )
        .route("/advocates/{id}", get(tracking::get_advocate))
        .route("/advocates/{id}/qr", get(tracking::advocate_qr))
        .route("/clicks", get(tracking::list_clicks))
        .route(
            "/conversions",
            get(tracking::list_conversions).post(tracking::record_conversion),
        )
        .route("/conversions/{id}", get(tracking::get_conversion))
        .route(
            "/conversions/{id}/attribution",
            get(tracking::conversion_attribution),
        )
        .route(
            "/referrals",
            get(tracking::list_referrals).post(tracking::identify),
        )
        .route("/referrals/{id}", get(tracking::get_referral))
        .route(
            "/referrals/{id}/attribution",
            axum::routing::post(tracking::reattribute),
        )
        .route("/review-queue", get(tracking::review_queue))
        .route(
            "/review-queue/decisions",
            axum::routing::post(tracking::decide),
        )
        .route(
            "/customers/{id}/entitlements",
            get(rewards::customer_entitlements),
        )
        .route(
            "/customers/{id}/credit-redemptions",
            axum::routing::post(rewards::redeem_credit),
        )
        .route("/rewards", get(rewards::list_rewards))
        .route(
            "/rewards/decisions",
            axum::routing::post(rewards::decide_rewards),
        )
        .route("/rewards/{id}", get(rewards::get_reward))
        .route(
            "/programs/{id}/reward-preview",
            axum::routing::post(rewards::reward_preview),
        )
        .route(
            "/campaigns",
            get(rewards::list_campaigns).post(rewards::create_campaign),
        )
        .route("/campaigns/{id}", get(rewards::get_campaign))
        .route(
            "/campaigns/{id}/cancel",
            axum::routing::post(rewards::cancel_campaign),
        )
        .route(
            "/code-pools",
            get(rewards::list_pools).post(rewards::create_pool),
        )
        .route(
            "/code-pools/{id}/codes",
            axum::routing::post(rewards::import_codes),
        )
        .route(
            "/discount-codes/{code}/redemption",
            axum::routing::post(rewards::redeem_code),
        )
        .route(
            "/payouts",
            get(rewards::list_payouts).post(rewards::confirm_payout),
        )
        .route("/payouts/preview", get(rewards::preview_payout))
        .route("/payouts/{id}", get(rewards::get_payout))
        .route("/payouts/{id}/export", get(rewards::export_payout))
        .route(
            "/payouts/{id}/paid",
            axum::routing::post(rewards::mark_paid),
        )
        .route(
            "/payouts/{id}/cancel",
            axum::routing::post(rewards::cancel_payout),
        )
        .route("/ledger/entries", get(rewards::ledger_entries))
        .route("/ledger/balances", get(rewards::ledger_balances))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such API endpoint; see /api/openapi.json",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not accept that method; see /api/openapi.json",
    )
}

/// A JSON body whose rejections are Vouch API errors (`invalid_json`, `unknown_field`, …).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        axum::Json::<T>::from_request(req, state)
            .await
            .map(|axum::Json(v)| ApiJson(v))
            .map_err(json_rejection)
    }
}

/// Query parameters whose rejections are Vouch API errors.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| ApiQuery(v))
            .map_err(|r| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", r.body_text()))
    }
}
