//! The JSON API under `/api/v1`, authenticated by workspace API keys. Every handler is
//! annotated for the OpenAPI document, which is built from these same functions.

mod auth;
mod docs;
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
