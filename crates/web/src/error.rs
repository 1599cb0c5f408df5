//! API errors: every failure is `{"error": {"code", "message", "details"}}` with a stable code.
//! Unknown errors are logged with their cause chain and answered with a generic 500.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use vouch_store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Value,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Value::Null,
        }
    }
    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} was not found"),
        )
    }
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side; it has been logged",
        )
    }
    /// Field-level validation failures, all at once.
    pub fn invalid(errors: &[vouch_core::Invalid]) -> Self {
        let fields: Vec<Value> = errors
            .iter()
            .map(|e| json!({ "field": e.field, "message": e.message }))
            .collect();
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "some fields are not valid; see details",
        )
        .details(json!({ "fields": fields }))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message, "details": self.details } });
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => Self::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("{what} already exists"),
            ),
            StoreError::NotFound(what) => Self::not_found(what),
            StoreError::Refused(why) => Self::new(StatusCode::CONFLICT, "refused", why),
            StoreError::Rejected("invalid", why) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", why)
            }
            StoreError::Rejected(code, why) => Self::new(StatusCode::CONFLICT, code, why),
            other => {
                tracing::error!(error = ?other, "store error");
                Self::internal()
            }
        }
    }
}

impl From<vouch_core::Invalid> for ApiError {
    fn from(e: vouch_core::Invalid) -> Self {
        Self::invalid(&[e])
    }
}

/// Maps axum's JSON body rejections to Vouch's error shape and codes.
pub fn json_rejection(r: axum::extract::rejection::JsonRejection) -> ApiError {
    use axum::extract::rejection::JsonRejection as J;
    match &r {
        J::JsonDataError(e) => {
            let text = std::error::Error::source(e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| e.body_text());
            let code = if text.contains("unknown field") {
                "unknown_field"
            } else {
                "invalid_body"
            };
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, text)
        }
        J::JsonSyntaxError(_) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the body is not valid JSON: {}", r.body_text()),
        ),
        J::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
        ),
        _ => ApiError::new(StatusCode::BAD_REQUEST, "bad_request", r.body_text()),
    }
}
