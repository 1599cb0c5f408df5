//! The ledger, read-only: entries and balances, now or at any past instant.

use super::*;
use vouch_core::ledger::Account;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LedgerQuery {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    /// Only this customer's accounts (customer id).
    pub customer: Option<String>,
    /// Balances as they were at this instant (RFC 3339), derived from the entries.
    pub at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntryJson {
    pub id: i64,
    pub transaction: String,
    /// `reward`, `clawback` or `payout`.
    pub kind: String,
    pub memo: String,
    pub account: String,
    pub customer_id: i64,
    pub currency: String,
    /// Signed: debits positive, credits negative; each transaction sums to zero.
    pub amount_minor: i64,
    pub posted_at: String,
}

/// Ledger entries, newest first. Entries are never changed; corrections are new entries.
#[utoipa::path(get, path = "/api/v1/ledger/entries", tag = "ledger", params(LedgerQuery),
    responses((status = 200, body = Page<EntryJson>)), security(("api_key" = [])))]
pub async fn ledger_entries(
    State(state): State<AppState>,
    auth: ApiAuth,
    ApiQuery(q): ApiQuery<LedgerQuery>,
) -> Result<Json<Page<EntryJson>>, ApiError> {
    auth.require(ApiScope::Read)?;
    let lq = ListQuery {
        limit: q.limit,
        cursor: q.cursor.clone(),
        advocate: None,
        program: None,
        status: None,
    };
    let limit = lq.limit()?;
    let customer = customer_id(&state, &auth, q.customer.as_deref()).await?;
    let mut c = state.store.read().await?;
    let rows = vouch_store::ledger::entries(
        &mut c,
        auth.workspace_id,
        customer,
        lq.cursor()?.unwrap_or(i64::MAX),
        limit + 1,
    )
    .await?;
    Ok(Json(page(
        rows,
        limit,
        |(e, _)| e.id,
        |(e, t)| EntryJson {
            id: e.id,
            transaction: t.public_id,
            kind: t.kind,
            memo: t.memo,
            account: e.account,
            customer_id: e.customer_id,
            currency: e.currency,
            amount_minor: e.amount_minor,
            posted_at: rfc3339(e.posted_at),
        },
    )))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BalanceJson {
    pub account: String,
    pub customer_id: i64,
    pub currency: String,
    /// What the account holds (positive in its normal direction).
    pub balance_minor: i64,
}

/// Balances by account. With `at`, derived from the entries posted up to that instant.
#[utoipa::path(get, path = "/api/v1/ledger/balances", tag = "ledger", params(LedgerQuery),
    responses((status = 200, body = Vec<BalanceJson>), (status = 422, body = crate::api::ErrorBody)), security(("api_key" = [])))]
pub async fn ledger_balances(
    State(state): State<AppState>,
    auth: ApiAuth,
    ApiQuery(q): ApiQuery<LedgerQuery>,
) -> Result<Json<Vec<BalanceJson>>, ApiError> {
    auth.require(ApiScope::Read)?;
    let at =
        q.at.as_deref()
            .map(|t| {
                vouch_core::clock::parse_rfc3339(t).ok_or_else(|| {
                    ApiError::from(Invalid::new(
                        "at",
                        "use RFC 3339, e.g. 2026-12-01T00:00:00Z",
                    ))
                })
            })
            .transpose()?;
    let customer = customer_id(&state, &auth, q.customer.as_deref()).await?;
    let mut c = state.store.read().await?;
    let mut out = Vec::new();
    for b in vouch_store::ledger::balances(&mut c, auth.workspace_id, customer).await? {
        let Some(account) = Account::parse(&b.account) else {
            continue;
        };
        let balance = match at {
            Some(at) => {
                vouch_store::ledger::balance_at(
                    &mut c,
                    auth.workspace_id,
                    account,
                    b.customer_id,
                    &b.currency,
                    at,
                )
                .await?
            }
            None => account.natural(b.balance_minor),
        };
        out.push(BalanceJson {
            account: b.account,
            customer_id: b.customer_id,
            currency: b.currency,
            balance_minor: balance,
        });
    }
    Ok(Json(out))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "amount_minor": 500, "currency": "EUR", "reference": "order-2077" }))]
pub struct RedemptionBody {
    pub amount_minor: i64,
    pub currency: String,
    /// The order or invoice that used the credit: the same reference again spends nothing.
    pub reference: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RedemptionJson {
    pub transaction: String,
    /// The customer's credit left.
    pub balance_minor: i64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

/// Spends a customer's credit (your checkout used it): never beyond the balance, once per
/// reference.
#[utoipa::path(post, path = "/api/v1/customers/{id}/credit-redemptions", tag = "ledger", params(("id" = String, Path)),
    request_body = RedemptionBody,
    responses((status = 201, body = RedemptionJson), (status = 200, description = "This reference was redeemed before", body = RedemptionJson),
        (status = 404, body = crate::api::ErrorBody), (status = 409, description = "`insufficient_credit`", body = crate::api::ErrorBody),
        (status = 422, body = crate::api::ErrorBody)),
    security(("api_key" = [])))]
pub async fn redeem_credit(
    State(state): State<AppState>,
    Writer(auth): Writer,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<RedemptionBody>,
) -> Result<(StatusCode, Json<RedemptionJson>), ApiError> {
    let currency = vouch_core::settings::parse_currency(&b.currency)?;
    let customer = customer_id(&state, &auth, Some(&id))
        .await?
        .unwrap_or_default();
    let r = vouch_store::ledger::redeem_credit(
        &state.store,
        auth.workspace_id,
        customer,
        &currency,
        b.amount_minor,
        &b.reference,
        &auth.actor,
    )
    .await?;
    let status = if r.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(RedemptionJson {
            transaction: r.transaction.public_id,
            balance_minor: r.balance_minor,
            duplicate: r.duplicate,
        }),
    ))
}
