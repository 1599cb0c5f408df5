//! Payouts: preview, confirm (idempotent by batch key), export, mark paid, cancel.

use super::*;
use axum::response::IntoResponse;
use vouch_store::payouts::{self, CsvExport, Provider};
use vouch_store::rows::Payout;

#[derive(Debug, Serialize, ToSchema)]
pub struct PayoutJson {
    pub id: String,
    pub batch_key: String,
    pub currency: String,
    /// `confirmed`, `paid` or `cancelled`.
    pub status: String,
    pub minimum_minor: i64,
    pub total_minor: i64,
    pub payees: i64,
    pub provider: String,
    pub reference: Option<String>,
    pub created_at: String,
    pub paid_at: Option<String>,
    pub cancelled_at: Option<String>,
}

fn payout_json(p: Payout) -> PayoutJson {
    PayoutJson {
        id: p.public_id,
        batch_key: p.batch_key,
        currency: p.currency,
        status: p.status,
        minimum_minor: p.minimum_minor,
        total_minor: p.total_minor,
        payees: p.payees,
        provider: p.provider,
        reference: p.reference,
        created_at: rfc3339(p.created_at),
        paid_at: p.paid_at.map(rfc3339),
        cancelled_at: p.cancelled_at.map(rfc3339),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PreviewQuery {
    pub currency: String,
    #[serde(default)]
    pub minimum_minor: i64,
}

/// Who a batch would pay now, and how much. Changes nothing.
#[utoipa::path(get, path = "/api/v1/payouts/preview", tag = "payouts", params(PreviewQuery),
    responses((status = 200, description = "Payees and amounts", body = Object)), security(("api_key" = [])))]
pub async fn preview_payout(
    State(state): State<AppState>,
    auth: ApiAuth,
    ApiQuery(q): ApiQuery<PreviewQuery>,
) -> Result<Json<Value>, ApiError> {
    auth.require(ApiScope::Read)?;
    let currency = vouch_core::settings::parse_currency(&q.currency)?;
    let mut c = state.store.read().await?;
    let lines =
        payouts::preview(&mut c, false, auth.workspace_id, &currency, q.minimum_minor).await?;
    let total: i64 = lines.iter().map(|l| l.amount_minor).sum();
    let payees: Vec<Value> = lines
        .into_iter()
        .map(|l| json!({ "customer": l.customer.public_id, "email": l.customer.email, "name": l.customer.name, "amount_minor": l.amount_minor }))
        .collect();
    Ok(Json(
        json!({ "currency": currency, "total_minor": total, "payees": payees }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "batch_key": "2026-12", "currency": "EUR", "minimum_minor": 2000 }))]
pub struct PayoutBody {
    /// Your key for this batch: sending it again returns the same batch.
    pub batch_key: String,
    pub currency: String,
    #[serde(default)]
    pub minimum_minor: i64,
}

/// Confirms a batch of every payable balance of at least `minimum_minor`; the amounts leave
/// the payable balances at once, so no other batch can pay them again.
#[utoipa::path(post, path = "/api/v1/payouts", tag = "payouts", request_body = PayoutBody,
    responses((status = 201, body = PayoutJson), (status = 200, description = "This batch key was confirmed before", body = PayoutJson),
        (status = 409, description = "`nothing_to_pay`", body = crate::api::ErrorBody), (status = 422, body = crate::api::ErrorBody)),
    security(("api_key" = [])))]
pub async fn confirm_payout(
    State(state): State<AppState>,
    Writer(auth): Writer,
    ApiJson(b): ApiJson<PayoutBody>,
) -> Result<(StatusCode, Json<PayoutJson>), ApiError> {
    let currency = vouch_core::settings::parse_currency(&b.currency)?;
    let (p, made) = payouts::confirm(
        &state.store,
        auth.workspace_id,
        &b.batch_key,
        &currency,
        b.minimum_minor,
        &auth.actor,
    )
    .await?;
    Ok((
        if made {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(payout_json(p)),
    ))
}

#[utoipa::path(get, path = "/api/v1/payouts", tag = "payouts", params(ListQuery),
    responses((status = 200, body = Page<PayoutJson>)), security(("api_key" = [])))]
pub async fn list_payouts(
    State(state): State<AppState>,
    auth: ApiAuth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<PayoutJson>>, ApiError> {
    auth.require(ApiScope::Read)?;
    q.allow(&[])?;
    let limit = q.limit()?;
    let mut c = state.store.read().await?;
    let rows = payouts::list(
        &mut c,
        auth.workspace_id,
        q.cursor()?.unwrap_or(i64::MAX),
        limit + 1,
    )
    .await?;
    Ok(Json(page(rows, limit, |r| r.id, payout_json)))
}

async fn load(state: &AppState, auth: &ApiAuth, id: &str) -> Result<Payout, ApiError> {
    let mut c = state.store.read().await?;
    payouts::by_public_id(&mut c, auth.workspace_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("payout"))
}

#[utoipa::path(get, path = "/api/v1/payouts/{id}", tag = "payouts", params(("id" = String, Path)),
    responses((status = 200, body = PayoutJson), (status = 404, body = crate::api::ErrorBody)), security(("api_key" = [])))]
pub async fn get_payout(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<String>,
) -> Result<Json<PayoutJson>, ApiError> {
    auth.require(ApiScope::Read)?;
    Ok(Json(payout_json(load(&state, &auth, &id).await?)))
}

/// The batch as a CSV file for a bank or a PayPal-style mass payment.
#[utoipa::path(get, path = "/api/v1/payouts/{id}/export", tag = "payouts", params(("id" = String, Path)),
    responses((status = 200, description = "batch, payee_id, external_id, email, name, amount, currency, note", content_type = "text/csv", body = String),
        (status = 404, body = crate::api::ErrorBody)), security(("api_key" = [])))]
pub async fn export_payout(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    auth.require(ApiScope::Read)?;
    let p = load(&state, &auth, &id).await?;
    let mut c = state.store.read().await?;
    let lines = payouts::items(&mut c, &p).await?;
    let body = CsvExport.render(&p, &lines)?;
    let disposition = format!("attachment; filename=\"payout-{}.csv\"", p.public_id);
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                CsvExport.content_type().to_string(),
            ),
            (axum::http::header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "reference": "SEPA-2026-12-04-001" }))]
pub struct PaidBody {
    pub reference: String,
}

/// Marks a confirmed batch paid: its cash rewards are fulfilled.
#[utoipa::path(post, path = "/api/v1/payouts/{id}/paid", tag = "payouts", params(("id" = String, Path)), request_body = PaidBody,
    responses((status = 200, body = PayoutJson), (status = 404, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody)),
    security(("api_key" = [])))]
pub async fn mark_paid(
    State(state): State<AppState>,
    Writer(auth): Writer,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<PaidBody>,
) -> Result<Json<PayoutJson>, ApiError> {
    Ok(Json(payout_json(
        payouts::mark_paid(
            &state.store,
            auth.workspace_id,
            &id,
            &b.reference,
            &auth.actor,
        )
        .await?,
    )))
}

/// Cancels a batch not yet paid: the amounts return to the payable balances.
#[utoipa::path(post, path = "/api/v1/payouts/{id}/cancel", tag = "payouts", params(("id" = String, Path)),
    responses((status = 200, body = PayoutJson), (status = 404, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody)),
    security(("api_key" = [])))]
pub async fn cancel_payout(
    State(state): State<AppState>,
    Writer(auth): Writer,
    Path(id): Path<String>,
) -> Result<Json<PayoutJson>, ApiError> {
    Ok(Json(payout_json(
        payouts::cancel(&state.store, auth.workspace_id, &id, &auth.actor).await?,
    )))
}
