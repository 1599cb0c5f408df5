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
