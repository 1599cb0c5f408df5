//! Conversions and refunds, with their attribution traces.

use super::*;

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversionJson {
    pub id: String,
    pub external_id: String,
    pub customer: i64,
    pub kind: String,
    pub amount_minor: i64,
    pub currency: String,
    /// `attributed`, `not_counted`, `unattributed` or `reversed`.
    pub status: String,
    pub referral: Option<String>,
    pub occurred_at: String,
    pub created_at: String,
    pub reversed_at: Option<String>,
    /// True when this external id had been recorded before (nothing changed).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
    /// Rewards this delivery issued, voided or clawed back (see `/api/v1/rewards/{id}`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rewards: Vec<String>,
}

fn conversion_json(c: Conversion, referral: Option<&Referral>, duplicate: bool) -> ConversionJson {
    ConversionJson {
        rewards: Vec::new(),
        id: c.public_id,
        external_id: c.external_id,
        customer: c.customer_id,
        kind: c.kind,
        amount_minor: c.amount_minor,
        currency: c.currency,
        status: c.status,
        referral: referral.map(|r| r.public_id.clone()),
        occurred_at: rfc3339(c.occurred_at),
        created_at: rfc3339(c.created_at),
        reversed_at: c.reversed_at.map(rfc3339),
        duplicate,
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "external_id": "order-1042", "type": "first_purchase", "amount_minor": 4500, "currency": "EUR",
    "customer": { "email": "bob@example.com", "external_id": "shop-77" }, "code": "ANNA10", "click_id": "0191a2b3c4d5e6f7a8b9c0d1" }))]
pub struct ConversionBody {
    /// The order, subscription or deal id in your system: the idempotency key.
    pub external_id: String,
    /// `first_purchase` (default), `purchase`, `subscription_start`, `deal_won`; or `refund` /
    /// `cancellation` with `reverses`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub customer: Option<CustomerRef>,
    /// A referral code typed at checkout.
    pub code: Option<String>,
    /// The `vouch_click` parameter the friend arrived with.
    pub click_id: Option<String>,
    /// The visitor id from Vouch's cookie, when your site forwards it.
    pub visitor_id: Option<String>,
    /// "Who referred you?" as the friend typed it (credited only if the program opts in).
    pub referred_by: Option<String>,
    /// With `refund` or `cancellation`: the `external_id` of the conversion it reverses.
    pub reverses: Option<String>,
    /// RFC 3339; defaults to now.
    pub occurred_at: Option<String>,
}

/// Records a conversion (or a refund). Durable before the answer; the same `external_id`
/// twice is one conversion.
#[utoipa::path(post, path = "/api/v1/conversions", tag = "conversions", request_body = ConversionBody,
    responses((status = 201, description = "Recorded", body = ConversionJson), (status = 200, description = "Seen before: the stored conversion", body = ConversionJson),
        (status = 202, description = "A refund of a conversion not seen yet: held, and applied when the conversion arrives", body = Object), (status = 422, body = crate::api::ErrorBody)),
    security(("api_key" = [])))]
pub async fn record_conversion(
    State(state): State<AppState>,
    Writer(auth): Writer,
    ApiJson(b): ApiJson<ConversionBody>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let external_id = b.external_id.trim().to_string();
    if external_id.is_empty() || external_id.len() > 200 {
        return Err(Invalid::new(
            "external_id",
            "send your order or deal id (1 to 200 characters)",
        )
        .into());
    }
    let kind = b.kind.as_deref().unwrap_or("first_purchase");
    if matches!(kind, "refund" | "cancellation") {
        let original = b.reverses.ok_or_else(|| {
            ApiError::from(Invalid::new(
                "reverses",
                "name the external_id of the conversion this reverses",
            ))
        })?;
        let r = referrals::reverse_conversion(
            &state.store,
            auth.workspace_id,
            &original,
            &external_id,
            &auth.actor,
        )
        .await?;
        return Ok(match r {
            referrals::Reversal::Applied(r) => recorded(*r).into_response(),
            referrals::Reversal::Held => (
                StatusCode::ACCEPTED,
                Json(serde_json::json!({ "status": "held", "external_id": external_id, "reverses": original,
                    "message": "no conversion with this external_id yet: the reversal is kept and applied when it arrives" })),
            )
                .into_response(),
        });
    }
    let kind = match kind {
        "first_purchase" => ConversionKind::FirstPurchase,
        "purchase" => ConversionKind::EveryPurchase,
        "subscription_start" => ConversionKind::SubscriptionStart,
        "deal_won" => ConversionKind::DealWon,
        _ => return Err(Invalid::new(
            "type",
            "use first_purchase, purchase, subscription_start, deal_won, refund or cancellation",
        )
        .into()),
    };
    let amount_minor = b.amount_minor.unwrap_or(0);
    if amount_minor < 0 {
        return Err(Invalid::new("amount_minor", "use 0 or more (minor units: cents)").into());
    }
    let currency = match b.currency {
        Some(c) => vouch_core::settings::parse_currency(&c)?,
        None => {
            let mut c = state.store.read().await?;
            vouch_store::workspaces::by_id(&mut c, auth.workspace_id)
                .await?
                .map(|w| w.currency)
                .unwrap_or_else(|| "EUR".into())
        }
    };
    let occurred_at = match b.occurred_at {
        Some(t) => vouch_core::clock::parse_rfc3339(&t).ok_or_else(|| {
            ApiError::from(Invalid::new(
                "occurred_at",
                "use RFC 3339, e.g. 2026-12-01T09:00:00Z",
            ))
        })?,
        None => now_ms(),
    };
    let input = ConversionInput {
        external_id,
        customer: customer_input(b.customer.unwrap_or_default(), "conversion")?,
        kind,
        amount_minor,
        currency,
        signals: referrals::FriendSignals {
            advocate_id: None,
            code: b.code.as_deref().map(ReferralCode::parse).transpose()?,
            click_id: b.click_id,
            visitor_id: b.visitor_id,
            referred_by_name: b.referred_by,
        },
        occurred_at,
    };
    let r =
        referrals::record_conversion(&state.store, auth.workspace_id, &input, &auth.actor).await?;
    Ok(recorded(r).into_response())
}

fn recorded(r: referrals::Recorded) -> (StatusCode, Json<ConversionJson>) {
    let status = if r.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let mut body = conversion_json(r.conversion, r.referral.as_ref(), r.duplicate);
    body.rewards = r.rewards.into_iter().map(|w| w.public_id).collect();
    (status, Json(body))
}

#[utoipa::path(get, path = "/api/v1/conversions", tag = "conversions", params(ListQuery),
    responses((status = 200, body = Page<ConversionJson>)), security(("api_key" = [])))]
pub async fn list_conversions(
    State(state): State<AppState>,
    auth: ApiAuth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<ConversionJson>>, ApiError> {
    auth.require(ApiScope::Read)?;
    q.allow(&[])?;
    let limit = q.limit()?;
    let mut c = state.store.read().await?;
    let rows = referrals::list_conversions(
        &mut c,
        auth.workspace_id,
        q.cursor()?.unwrap_or(i64::MAX),
        limit + 1,
    )
    .await?;
    Ok(Json(page(
        rows,
        limit,
        |r| r.id,
        |r| conversion_json(r, None, false),
    )))
}

async fn load_conversion(
    state: &AppState,
    auth: &ApiAuth,
    id: &str,
) -> Result<Conversion, ApiError> {
    let mut c = state.store.read().await?;
    referrals::conversion_by_public_id(&mut c, auth.workspace_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("conversion"))
}

#[utoipa::path(get, path = "/api/v1/conversions/{id}", tag = "conversions", params(("id" = String, Path)),
    responses((status = 200, body = ConversionJson), (status = 404, body = crate::api::ErrorBody)), security(("api_key" = [])))]
pub async fn get_conversion(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<String>,
) -> Result<Json<ConversionJson>, ApiError> {
    auth.require(ApiScope::Read)?;
    let conv = load_conversion(&state, &auth, &id).await?;
    let mut c = state.store.read().await?;
    let referral = match conv.referral_id {
        Some(r) => referrals::referral_by_id(&mut c, auth.workspace_id, r).await?,
        None => None,
    };
    Ok(Json(conversion_json(conv, referral.as_ref(), false)))
}

/// Why a conversion was (or was not) credited: the signals seen, which won, which rule applied.
#[utoipa::path(get, path = "/api/v1/conversions/{id}/attribution", tag = "conversions", params(("id" = String, Path)),
    responses((status = 200, description = "The attribution trace", body = Object), (status = 404, body = crate::api::ErrorBody)),
    security(("api_key" = [])))]
pub async fn conversion_attribution(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth.require(ApiScope::Read)?;
    let conv = load_conversion(&state, &auth, &id).await?;
    Ok(Json(
        serde_json::from_str(&conv.trace).unwrap_or(Value::Null),
    ))
}
