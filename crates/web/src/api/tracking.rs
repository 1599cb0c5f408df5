//! Tracking resources: programs, customers, advocates, clicks, conversions (with refunds)
//! and referrals with their attribution traces. Every query is scoped by the key's workspace.

use super::{ApiAuth, ApiJson, ApiQuery, Writer};
use crate::AppState;
use crate::error::ApiError;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use vouch_core::clock::{now_ms, rfc3339};
use vouch_core::code::ReferralCode;
use vouch_core::program::{ConversionKind, ProgramRules, ProgramStatus};
use vouch_core::{ApiScope, Email, Invalid};
use vouch_store::customers::CustomerInput;
use vouch_store::referrals::{self, ConversionInput};
use vouch_store::rows::{Advocate, Click, Conversion, Customer, Program, Referral};
use vouch_store::{advocates, clicks, customers, programs, tracking};

/// A page of results, newest or lowest id first as each list says.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// At most this many items (1–200, default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only items of this advocate (advocate id), where the list allows it.
    pub advocate: Option<String>,
    /// Only items of this program (program id), where the list allows it.
    pub program: Option<String>,
    /// Only referrals in this status.
    pub status: Option<String>,
}

impl ListQuery {
    fn limit(&self) -> Result<i64, ApiError> {
        let l = self.limit.unwrap_or(50);
        if (1..=200).contains(&l) {
            Ok(l)
        } else {
            Err(Invalid::new("limit", "use a limit between 1 and 200").into())
        }
    }
    fn cursor(&self) -> Result<Option<i64>, ApiError> {
        self.cursor
            .as_deref()
            .map(|c| {
                c.parse::<i64>().map_err(|_| {
                    ApiError::from(Invalid::new(
                        "cursor",
                        "use the next_cursor of a previous page",
                    ))
                })
            })
            .transpose()
    }
}

fn page<R, T>(
    mut rows: Vec<R>,
    limit: i64,
    id: impl Fn(&R) -> i64,
    to: impl Fn(R) -> T,
) -> Page<T> {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|r| id(r).to_string())
    } else {
        None
    };
    Page {
        data: rows.into_iter().map(to).collect(),
        next_cursor,
    }
}

// ---- programs ----

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "prg_2b7c9e1f0a3d5c8e4f6a", "name": "Friends of the bakery", "status": "active", "version": 1,
    "rules": { "destinations": ["https://annas-bakery.example/welcome"], "default_destination": "https://annas-bakery.example/welcome",
        "attribution_window_days": 30, "attribution_model": "last_touch",
        "conversion": { "kind": "first_purchase", "max_count": null, "min_amount_minor": 1500 }, "eligibility": "anyone",
        "friend_offer": "10% off your first order", "fraud": { "max_referrals_per_advocate_per_day": 20,
        "max_referrals_per_ip_per_hour": 5, "existing_customer": "flag", "disposable_email": "block" }, "credit_typed_names": false },
    "created_at": "2026-12-01T09:00:00Z", "updated_at": "2026-12-01T09:00:00Z"
}))]
pub struct ProgramJson {
    pub id: String,
    pub name: String,
    /// `draft`, `active`, `paused` or `archived`.
    pub status: String,
    /// Bumped each time the rules change; referrals keep the version they were judged under.
    pub version: i64,
    #[schema(value_type = Object)]
    pub rules: Value,
    pub created_at: String,
    pub updated_at: String,
}

fn program_json(p: Program) -> ProgramJson {
    ProgramJson {
        id: p.public_id,
        name: p.name,
        status: p.status,
        version: p.version,
        rules: serde_json::from_str(&p.rules).unwrap_or(Value::Null),
        created_at: rfc3339(p.created_at),
        updated_at: rfc3339(p.updated_at),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "name": "Friends of the bakery", "status": "active",
    "rules": { "destinations": ["https://annas-bakery.example/welcome"], "default_destination": "https://annas-bakery.example/welcome",
        "attribution_window_days": 30, "attribution_model": "last_touch", "conversion": { "kind": "first_purchase", "min_amount_minor": 1500 },
        "eligibility": "anyone", "friend_offer": "10% off your first order" } }))]
pub struct ProgramInput {
    pub name: Option<String>,
    /// `draft` (default), `active`, `paused` or `archived`.
    pub status: Option<String>,
    #[schema(value_type = Object)]
    pub rules: Option<Value>,
}

fn parse_rules(v: Value) -> Result<ProgramRules, ApiError> {
    let rules: ProgramRules = serde_json::from_value(v).map_err(|e| {
        let code = if e.to_string().contains("unknown field") {
            "unknown_field"
        } else {
            "invalid_body"
        };
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            code,
            format!("rules: {e}"),
        )
    })?;
    rules.checked().map_err(|errors| ApiError::invalid(&errors))
}

/// Creates a program. Needs the `write` scope.
#[utoipa::path(post, path = "/api/v1/programs", tag = "programs", request_body = ProgramInput,
    responses((status = 201, body = ProgramJson), (status = 422, description = "Invalid rules", body = super::docs::ErrorBody)),
    security(("api_key" = [])))]
pub async fn create_program(
    State(state): State<AppState>,
    Writer(auth): Writer,
    ApiJson(input): ApiJson<ProgramInput>,
) -> Result<(StatusCode, Json<ProgramJson>), ApiError> {
    let name = vouch_core::text::display_name("name", input.name.as_deref().unwrap_or(""))?;
    let status = ProgramStatus::parse(input.status.as_deref().unwrap_or("draft"))?;
    let rules = parse_rules(
        input
            .rules
            .ok_or_else(|| ApiError::from(Invalid::new("rules", "send the program's rules")))?,
    )?;
    let p = tracking::create_program(
        &state.store,
        auth.workspace_id,
        &name,
        status,
        &rules,
        &auth.actor,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(program_json(p))))
}

#[utoipa::path(get, path = "/api/v1/programs", tag = "programs", params(ListQuery),
    responses((status = 200, body = Page<ProgramJson>)), security(("api_key" = [])))]
pub async fn list_programs(
    State(state): State<AppState>,
    auth: ApiAuth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<ProgramJson>>, ApiError> {
    auth.require(ApiScope::Read)?;
    let limit = q.limit()?;
    let mut c = state.store.read().await?;
    let rows = programs::list(
        &mut c,
        auth.workspace_id,
        q.cursor()?.unwrap_or(0),
        limit + 1,
    )
    .await?;
    Ok(Json(page(rows, limit, |p| p.id, program_json)))
}

async fn load_program(state: &AppState, auth: &ApiAuth, id: &str) -> Result<Program, ApiError> {
    let mut c = state.store.read().await?;
    programs::by_public_id(&mut c, auth.workspace_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("program"))
}

#[utoipa::path(get, path = "/api/v1/programs/{id}", tag = "programs", params(("id" = String, Path, description = "Program id")),
    responses((status = 200, body = ProgramJson), (status = 404, body = super::docs::ErrorBody)), security(("api_key" = [])))]
pub async fn get_program(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<String>,
) -> Result<Json<ProgramJson>, ApiError> {
    auth.require(ApiScope::Read)?;
    Ok(Json(program_json(load_program(&state, &auth, &id).await?)))
}

/// Changes a program. New rules make a new version; the past is judged by the old one.
#[utoipa::path(patch, path = "/api/v1/programs/{id}", tag = "programs", request_body = ProgramInput, params(("id" = String, Path)),
    responses((status = 200, body = ProgramJson), (status = 404, body = super::docs::ErrorBody), (status = 422, body = super::docs::ErrorBody)),
    security(("api_key" = [])))]
pub async fn update_program(
    State(state): State<AppState>,
    Writer(auth): Writer,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ProgramInput>,
) -> Result<Json<ProgramJson>, ApiError> {
    let current = load_program(&state, &auth, &id).await?;
    let name =
        vouch_core::text::display_name("name", input.name.as_deref().unwrap_or(&current.name))?;
    let status = ProgramStatus::parse(input.status.as_deref().unwrap_or(&current.status))?;
    let rules = match input.rules {
        Some(v) => parse_rules(v)?,
        None => programs::rules_of(&current.rules)?,
    };
    let p = tracking::update_program(
        &state.store,
        auth.workspace_id,
        &id,
        &name,
        status,
        &rules,
        &auth.actor,
    )
    .await?;
    state.codes.forget_program(p.id);
    Ok(Json(program_json(p)))
}

// ---- customers ----

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerJson {
    pub id: String,
    pub email: Option<String>,
    pub name: String,
    pub external_id: Option<String>,
    pub phone: String,
    #[schema(value_type = Object)]
    pub attributes: Value,
    pub consent_marketing: bool,
    pub created_from: String,
    pub created_at: String,
}

fn customer_json(c: Customer) -> CustomerJson {
    CustomerJson {
        id: c.public_id,
        email: c.email,
        name: c.name,
        external_id: c.external_id,
        phone: c.phone,
        attributes: serde_json::from_str(&c.attributes).unwrap_or(Value::Null),
        consent_marketing: c.consent_marketing == 1,
        created_from: c.created_from,
        created_at: rfc3339(c.created_at),
    }
}

/// Who a customer is; matched by `external_id`, else by `email`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "email": "bob@example.com", "name": "Bob", "external_id": "shop-1042" }))]
pub struct CustomerRef {
    pub email: Option<String>,
    pub name: Option<String>,
    pub external_id: Option<String>,
    pub phone: Option<String>,
    #[schema(value_type = Object)]
    pub attributes: Option<Value>,
    pub consent_marketing: Option<bool>,
}

fn customer_input(r: CustomerRef, from: &'static str) -> Result<CustomerInput, ApiError> {
    let email = r.email.as_deref().map(Email::parse).transpose()?;
    let external_id = r
        .external_id
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty());
    if email.is_none() && external_id.is_none() {
        return Err(Invalid::new("customer", "send an email or an external_id").into());
    }
    if r.attributes.as_ref().is_some_and(|a| !a.is_object()) {
        return Err(Invalid::new("attributes", "send attributes as a JSON object").into());
    }
    Ok(CustomerInput {
        email,
        name: r.name.map(|n| n.trim().chars().take(200).collect()),
        external_id,
        phone: r.phone,
        attributes: r.attributes,
        consent_marketing: r.consent_marketing,
        created_from: from,
    })
}

/// Creates or updates a customer (upsert by external id, then email).
#[utoipa::path(post, path = "/api/v1/customers", tag = "customers", request_body = CustomerRef,
    responses((status = 201, description = "Created", body = CustomerJson), (status = 200, description = "Updated", body = CustomerJson),
        (status = 422, body = super::docs::ErrorBody)), security(("api_key" = [])))]
pub async fn upsert_customer(
    State(state): State<AppState>,
    Writer(auth): Writer,
    ApiJson(input): ApiJson<CustomerRef>,
) -> Result<(StatusCode, Json<CustomerJson>), ApiError> {
    let (c, created) = tracking::upsert_customer(
        &state.store,
        auth.workspace_id,
        &customer_input(input, "api")?,
        &auth.actor,
    )
    .await?;
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(customer_json(c)),
    ))
}

#[utoipa::path(get, path = "/api/v1/customers", tag = "customers", params(ListQuery),
    responses((status = 200, body = Page<CustomerJson>)), security(("api_key" = [])))]
pub async fn list_customers(
    State(state): State<AppState>,
    auth: ApiAuth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<CustomerJson>>, ApiError> {
    auth.require(ApiScope::Read)?;
    let limit = q.limit()?;
    let mut c = state.store.read().await?;
    let rows = customers::list(
        &mut c,
        auth.workspace_id,
        q.cursor()?.unwrap_or(0),
        limit + 1,
    )
    .await?;
    Ok(Json(page(rows, limit, |c| c.id, customer_json)))
}

#[utoipa::path(get, path = "/api/v1/customers/{id}", tag = "customers", params(("id" = String, Path)),
    responses((status = 200, body = CustomerJson), (status = 404, body = super::docs::ErrorBody)), security(("api_key" = [])))]
pub async fn get_customer(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<String>,
) -> Result<Json<CustomerJson>, ApiError> {
    auth.require(ApiScope::Read)?;
    let mut c = state.store.read().await?;
    let cu = customers::by_public_id(&mut c, auth.workspace_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("customer"))?;
    Ok(Json(customer_json(cu)))
}

// ---- advocates ----

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({ "id": "adv_1c2d3e4f5a6b7c8d9e0f", "program": "prg_2b7c9e1f0a3d5c8e4f6a", "customer": "cus_0a1b2c3d4e5f6a7b8c9d",
    "code": "K7QX4MZP", "vanity_code": "ANNA10", "link": "https://refer.annas-bakery.example/r/K7QX4MZP", "status": "active",
    "created_at": "2026-12-01T09:00:00Z" }))]
pub struct AdvocateJson {
    pub id: String,
    pub program: String,
    pub customer: String,
    pub code: String,
    pub vanity_code: Option<String>,
    /// The advocate's referral link.
    pub link: String,
    pub status: String,
    pub created_at: String,
}

async fn advocate_json(
    state: &AppState,
    c: &mut vouch_store::Conn,
    a: Advocate,
) -> Result<AdvocateJson, ApiError> {
    let program = programs::by_id(c, a.workspace_id, a.program_id)
        .await?
        .map(|p| p.public_id)
        .unwrap_or_default();
    let customer = customers::by_id(c, a.workspace_id, a.customer_id)
        .await?
        .map(|c| c.public_id)
        .unwrap_or_default();
    let base = state.config.base_url.as_str().trim_end_matches('/');
    Ok(AdvocateJson {
        id: a.public_id,
        program,
        customer,
        link: format!("{base}/r/{}", a.vanity_code.as_deref().unwrap_or(&a.code)),
        code: a.code,
        vanity_code: a.vanity_code,
        status: a.status,
        created_at: rfc3339(a.created_at),
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "program": "prg_2b7c9e1f0a3d5c8e4f6a", "customer": { "email": "anna@example.com", "name": "Anna" }, "vanity_code": "ANNA10" }))]
pub struct EnrolInput {
    /// The program id.
    pub program: String,
    pub customer: CustomerRef,
    /// An optional memorable code (3–32 letters, digits, dashes), unique on this server.
    pub vanity_code: Option<String>,
}

/// Enrols a customer as an advocate (idempotent: an enrolled customer keeps their code).
#[utoipa::path(post, path = "/api/v1/advocates", tag = "advocates", request_body = EnrolInput,
    responses((status = 201, description = "Enrolled", body = AdvocateJson), (status = 200, description = "Already enrolled", body = AdvocateJson),
        (status = 409, description = "Vanity code taken", body = super::docs::ErrorBody), (status = 422, body = super::docs::ErrorBody)),
    security(("api_key" = [])))]
pub async fn enrol(
    State(state): State<AppState>,
    Writer(auth): Writer,
    ApiJson(input): ApiJson<EnrolInput>,
) -> Result<(StatusCode, Json<AdvocateJson>), ApiError> {
    let program = load_program(&state, &auth, &input.program).await?;
    let vanity = input
        .vanity_code
        .as_deref()
        .map(ReferralCode::parse)
        .transpose()?;
    let customer = customer_input(input.customer, "advocate")?;
    let (a, _, created) = tracking::enroll(
        &state.store,
        auth.workspace_id,
        &program,
        &customer,
        vanity.as_ref(),
        &auth.actor,
    )
    .await?;
    let mut c = state.store.read().await?;
    let json = advocate_json(&state, &mut c, a).await?;
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(json),
    ))
}

#[utoipa::path(get, path = "/api/v1/advocates", tag = "advocates", params(ListQuery),
    responses((status = 200, body = Page<AdvocateJson>)), security(("api_key" = [])))]
pub async fn list_advocates(
    State(state): State<AppState>,
    auth: ApiAuth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<AdvocateJson>>, ApiError> {
    auth.require(ApiScope::Read)?;
    let limit = q.limit()?;
    let program = match &q.program {
        Some(p) => Some(load_program(&state, &auth, p).await?.id),
        None => None,
    };
    let mut c = state.store.read().await?;
    let rows = advocates::list(
        &mut c,
        auth.workspace_id,
        program,
        q.cursor()?.unwrap_or(0),
        limit + 1,
    )
    .await?;
    let more = rows.len() as i64 > limit;
    let mut data = Vec::new();
    for a in rows.into_iter().take(limit as usize) {
        data.push((a.id, advocate_json(&state, &mut c, a).await?));
    }
    let next_cursor = if more {
        data.last().map(|(id, _)| id.to_string())
    } else {
        None
    };
    Ok(Json(Page {
        data: data.into_iter().map(|(_, j)| j).collect(),
        next_cursor,
    }))
}

#[utoipa::path(get, path = "/api/v1/advocates/{id}", tag = "advocates", params(("id" = String, Path)),
    responses((status = 200, body = AdvocateJson), (status = 404, body = super::docs::ErrorBody)), security(("api_key" = [])))]
pub async fn get_advocate(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<String>,
) -> Result<Json<AdvocateJson>, ApiError> {
    auth.require(ApiScope::Read)?;
    let mut c = state.store.read().await?;
    let a = advocates::by_public_id(&mut c, auth.workspace_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("advocate"))?;
    Ok(Json(advocate_json(&state, &mut c, a).await?))
}

async fn advocate_id(
    state: &AppState,
    auth: &ApiAuth,
    public_id: Option<&str>,
) -> Result<Option<i64>, ApiError> {
    match public_id {
        None => Ok(None),
        Some(id) => {
            let mut c = state.store.read().await?;
            Ok(Some(
                advocates::by_public_id(&mut c, auth.workspace_id, id)
                    .await?
                    .ok_or_else(|| ApiError::not_found("advocate"))?
                    .id,
            ))
        }
    }
}

// ---- clicks ----

#[derive(Debug, Serialize, ToSchema)]
pub struct ClickJson {
    pub id: String,
    pub advocate_id: i64,
    pub visitor_id: String,
    /// Clicks from bots, previewers, mail scanners and HEAD requests never qualify.
    pub qualified: bool,
    pub unqualified_reason: String,
    pub user_agent: String,
    pub referer: String,
    #[schema(value_type = Object)]
    pub params: Value,
    pub created_at: String,
}

fn click_json(k: Click) -> ClickJson {
    ClickJson {
        id: k.public_id,
        advocate_id: k.advocate_id,
        visitor_id: k.visitor_id,
        qualified: k.qualified == 1,
        unqualified_reason: k.unqualified_reason,
        user_agent: k.user_agent,
        referer: k.referer,
        params: serde_json::from_str(&k.params).unwrap_or(Value::Null),
        created_at: rfc3339(k.created_at),
    }
}

/// Clicks, newest first (`advocate` filters by advocate id).
#[utoipa::path(get, path = "/api/v1/clicks", tag = "clicks", params(ListQuery),
    responses((status = 200, body = Page<ClickJson>)), security(("api_key" = [])))]
pub async fn list_clicks(
    State(state): State<AppState>,
    auth: ApiAuth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<ClickJson>>, ApiError> {
    auth.require(ApiScope::Read)?;
    let limit = q.limit()?;
    let advocate = advocate_id(&state, &auth, q.advocate.as_deref()).await?;
    let mut c = state.store.read().await?;
    let rows = clicks::list(
        &mut c,
        auth.workspace_id,
        advocate,
        q.cursor()?.unwrap_or(i64::MAX),
        limit + 1,
    )
    .await?;
    Ok(Json(page(rows, limit, |k| k.id, click_json)))
}

// ---- conversions ----

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
}

fn conversion_json(c: Conversion, referral: Option<&Referral>, duplicate: bool) -> ConversionJson {
    ConversionJson {
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
        (status = 404, description = "A refund of an unknown conversion", body = super::docs::ErrorBody), (status = 422, body = super::docs::ErrorBody)),
    security(("api_key" = [])))]
pub async fn record_conversion(
    State(state): State<AppState>,
    Writer(auth): Writer,
    ApiJson(b): ApiJson<ConversionBody>,
) -> Result<(StatusCode, Json<ConversionJson>), ApiError> {
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
        let status = if r.duplicate {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        };
        return Ok((
            status,
            Json(conversion_json(
                r.conversion,
                r.referral.as_ref(),
                r.duplicate,
            )),
        ));
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
    let status = if r.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(conversion_json(
            r.conversion,
            r.referral.as_ref(),
            r.duplicate,
        )),
    ))
}

#[utoipa::path(get, path = "/api/v1/conversions", tag = "conversions", params(ListQuery),
    responses((status = 200, body = Page<ConversionJson>)), security(("api_key" = [])))]
pub async fn list_conversions(
    State(state): State<AppState>,
    auth: ApiAuth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<ConversionJson>>, ApiError> {
    auth.require(ApiScope::Read)?;
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
    responses((status = 200, body = ConversionJson), (status = 404, body = super::docs::ErrorBody)), security(("api_key" = [])))]
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
    responses((status = 200, description = "The attribution trace", body = Object), (status = 404, body = super::docs::ErrorBody)),
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

// ---- referrals ----

#[derive(Debug, Serialize, ToSchema)]
pub struct ReferralJson {
    pub id: String,
    pub advocate_id: i64,
    pub friend_customer_id: i64,
    /// `pending`, `converted`, `qualified`, `rewarded`, `rejected` or `reversed`.
    pub status: String,
    /// Why a rejected referral was rejected: `self_referral`, `already_referred`, `referral_loop`, `disposable_email`, …
    pub rejection_reason: Option<String>,
    /// How the friend was identified: `code`, `link`, `email_match`, `typed_name`.
    pub source: String,
    /// `approved`, `flagged` or `blocked`.
    pub fraud_verdict: String,
    #[schema(value_type = Vec<Object>)]
    pub fraud_findings: Value,
    /// The attribution trace: signals seen, which won, and why.
    #[schema(value_type = Object)]
    pub trace: Value,
    pub program_version: i64,
    pub conversions: i64,
    pub created_at: String,
    pub converted_at: Option<String>,
    pub qualified_at: Option<String>,
}

fn referral_json(r: Referral) -> ReferralJson {
    ReferralJson {
        id: r.public_id,
        advocate_id: r.advocate_id,
        friend_customer_id: r.friend_customer_id,
        status: r.status,
        rejection_reason: r.rejection_reason,
        source: r.source,
        fraud_verdict: r.fraud_verdict,
        fraud_findings: serde_json::from_str(&r.fraud_findings).unwrap_or(Value::Null),
        trace: serde_json::from_str(&r.trace).unwrap_or(Value::Null),
        program_version: r.program_version,
        conversions: r.conversions,
        created_at: rfc3339(r.created_at),
        converted_at: r.converted_at.map(rfc3339),
        qualified_at: r.qualified_at.map(rfc3339),
    }
}

/// Referrals, newest first; filter by `status` or `advocate`.
#[utoipa::path(get, path = "/api/v1/referrals", tag = "referrals", params(ListQuery),
    responses((status = 200, body = Page<ReferralJson>)), security(("api_key" = [])))]
pub async fn list_referrals(
    State(state): State<AppState>,
    auth: ApiAuth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<ReferralJson>>, ApiError> {
    auth.require(ApiScope::Read)?;
    let limit = q.limit()?;
    let advocate = advocate_id(&state, &auth, q.advocate.as_deref()).await?;
    let mut c = state.store.read().await?;
    let rows = referrals::list_referrals(
        &mut c,
        auth.workspace_id,
        q.status.as_deref(),
        advocate,
        q.cursor()?.unwrap_or(i64::MAX),
        limit + 1,
    )
    .await?;
    Ok(Json(page(rows, limit, |r| r.id, referral_json)))
}

#[utoipa::path(get, path = "/api/v1/referrals/{id}", tag = "referrals", params(("id" = String, Path)),
    responses((status = 200, body = ReferralJson), (status = 404, body = super::docs::ErrorBody)), security(("api_key" = [])))]
pub async fn get_referral(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<String>,
) -> Result<Json<ReferralJson>, ApiError> {
    auth.require(ApiScope::Read)?;
    let mut c = state.store.read().await?;
    let r = referrals::referral_by_public_id(&mut c, auth.workspace_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("referral"))?;
    Ok(Json(referral_json(r)))
}

// ---- identifying friends, reviewing, re-attributing ----

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "source": "submission", "advocate": "adv_1c2d3e4f5a6b7c8d9e0f",
    "friend": { "email": "bob@example.com", "name": "Bob" }, "consent": true }))]
pub struct IdentifyBody {
    /// `signup` (a sign-up or lead from your site; default), `submission` (the advocate's
    /// "refer a friend" form) or `admin`.
    pub source: Option<String>,
    pub friend: CustomerRef,
    /// The advocate id: required for `submission` and `admin`.
    pub advocate: Option<String>,
    pub code: Option<String>,
    pub click_id: Option<String>,
    pub visitor_id: Option<String>,
    pub referred_by: Option<String>,
    /// For `submission`: the friend agreed to be contacted.
    pub consent: Option<bool>,
    /// For `admin`: why, for the audit log.
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Identification {
    /// The friend's referral, or null when no advocate could be credited.
    pub referral: Option<ReferralJson>,
    /// The attribution trace of this identification.
    #[schema(value_type = Object)]
    pub trace: Value,
}

/// Identifies a friend before any purchase: a pending, judged referral when an advocate is credited.
#[utoipa::path(post, path = "/api/v1/referrals", tag = "referrals", request_body = IdentifyBody,
    responses((status = 201, description = "A referral was created", body = Identification),
        (status = 200, description = "No advocate credited, or the same advocate already referred this friend", body = Identification),
        (status = 409, description = "already_referred: another advocate referred this friend first", body = super::docs::ErrorBody),
        (status = 422, body = super::docs::ErrorBody)),
    security(("api_key" = [])))]
pub async fn identify(
    State(state): State<AppState>,
    Writer(auth): Writer,
    ApiJson(b): ApiJson<IdentifyBody>,
) -> Result<(StatusCode, Json<Identification>), ApiError> {
    let how = match b.source.as_deref().unwrap_or("signup") {
        "signup" => referrals::Identified::Signup,
        "submission" => referrals::Identified::Submission,
        "admin" => referrals::Identified::Admin,
        _ => return Err(Invalid::new("source", "use signup, submission or admin").into()),
    };
    let advocate = advocate_id(&state, &auth, b.advocate.as_deref()).await?;
    if how != referrals::Identified::Signup && advocate.is_none() {
        return Err(Invalid::new(
            "advocate",
            "a submission or an admin referral names its advocate",
        )
        .into());
    }
    if how == referrals::Identified::Submission && b.consent != Some(true) {
        return Err(Invalid::new(
            "consent",
            "a friend is submitted only with their consent (consent: true)",
        )
        .into());
    }
    let reason = b.reason.as_deref().map(str::trim).unwrap_or("");
    if how == referrals::Identified::Admin && reason.is_empty() {
        return Err(Invalid::new("reason", "say why, for the audit log").into());
    }
    let from = match how {
        referrals::Identified::Signup => "signup",
        referrals::Identified::Submission => "referral_submission",
        referrals::Identified::Admin => "admin",
    };
    let signals = referrals::FriendSignals {
        advocate_id: advocate,
        code: b.code.as_deref().map(ReferralCode::parse).transpose()?,
        click_id: b.click_id,
        visitor_id: b.visitor_id,
        referred_by_name: b.referred_by,
    };
    let mut actor = auth.actor.clone();
    if !reason.is_empty() {
        actor.label = format!("{} ({reason})", actor.label);
    }
    let (referral, trace, created) = referrals::identify_friend(
        &state.store,
        auth.workspace_id,
        &customer_input(b.friend, from)?,
        &signals,
        how,
        &actor,
    )
    .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(Identification {
            referral: referral.map(referral_json),
            trace,
        }),
    ))
}

/// Flagged referrals waiting for a person, oldest first.
#[utoipa::path(get, path = "/api/v1/review-queue", tag = "referrals", params(ListQuery),
    responses((status = 200, body = Page<ReferralJson>)), security(("api_key" = [])))]
pub async fn review_queue(
    State(state): State<AppState>,
    auth: ApiAuth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<ReferralJson>>, ApiError> {
    auth.require(ApiScope::Read)?;
    let limit = q.limit()?;
    let mut c = state.store.read().await?;
    let rows = referrals::review_queue(
        &mut c,
        auth.workspace_id,
        q.cursor()?.unwrap_or(0),
        limit + 1,
    )
    .await?;
    Ok(Json(page(rows, limit, |r| r.id, referral_json)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "referrals": ["ref_0a1b2c3d4e5f6a7b8c9d"], "decision": "approve", "reason": "checked with the shop: real new customer" }))]
pub struct ReviewBody {
    pub referrals: Vec<String>,
    /// `approve` or `reject`.
    pub decision: String,
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Reviewed {
    pub data: Vec<ReferralJson>,
}

/// Approves or rejects flagged referrals in bulk, all or nothing, with a reason.
#[utoipa::path(post, path = "/api/v1/review-queue/decisions", tag = "referrals", request_body = ReviewBody,
    responses((status = 200, body = Reviewed), (status = 409, description = "One of them is not waiting for review: nothing changed", body = super::docs::ErrorBody),
        (status = 422, body = super::docs::ErrorBody)),
    security(("api_key" = [])))]
pub async fn decide(
    State(state): State<AppState>,
    Writer(auth): Writer,
    ApiJson(b): ApiJson<ReviewBody>,
) -> Result<Json<Reviewed>, ApiError> {
    let decision = match b.decision.as_str() {
        "approve" => referrals::Decision::Approve,
        "reject" => referrals::Decision::Reject,
        _ => return Err(Invalid::new("decision", "use approve or reject").into()),
    };
    if b.referrals.is_empty() || b.referrals.len() > 500 {
        return Err(Invalid::new("referrals", "send 1 to 500 referral ids").into());
    }
    if b.reason.trim().is_empty() {
        return Err(Invalid::new("reason", "say why, for the advocate and the audit log").into());
    }
    let done = referrals::review(
        &state.store,
        auth.workspace_id,
        &b.referrals,
        decision,
        b.reason.trim(),
        &auth.actor,
    )
    .await?;
    Ok(Json(Reviewed {
        data: done.into_iter().map(referral_json).collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReattributeBody {
    /// The advocate id who gets the credit.
    pub advocate: String,
    pub reason: String,
}

/// Gives a referral to another advocate of its program, by hand, with a reason (audited).
#[utoipa::path(post, path = "/api/v1/referrals/{id}/attribution", tag = "referrals", request_body = ReattributeBody, params(("id" = String, Path)),
    responses((status = 200, body = ReferralJson), (status = 404, body = super::docs::ErrorBody), (status = 409, body = super::docs::ErrorBody)),
    security(("api_key" = [])))]
pub async fn reattribute(
    State(state): State<AppState>,
    Writer(auth): Writer,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ReattributeBody>,
) -> Result<Json<ReferralJson>, ApiError> {
    if b.reason.trim().is_empty() {
        return Err(Invalid::new("reason", "say why, for the audit log").into());
    }
    let r = referrals::reattribute(
        &state.store,
        auth.workspace_id,
        &id,
        &b.advocate,
        b.reason.trim(),
        &auth.actor,
    )
    .await?;
    Ok(Json(referral_json(r)))
}

/// Imports customers from a CSV body (`Content-Type: text/csv`); each row lands whole or not
/// at all, and the report names every refused row.
#[utoipa::path(post, path = "/api/v1/customers/import", tag = "customers",
    request_body(content = String, content_type = "text/csv", description = "A header row (email, name, external_id, phone, consent_marketing, attributes, …), then one customer a row"),
    responses((status = 200, description = "What was imported and every refused row", body = Object), (status = 409, body = super::docs::ErrorBody)),
    security(("api_key" = [])))]
pub async fn import_customers(
    State(state): State<AppState>,
    Writer(auth): Writer,
    body: axum::body::Bytes,
) -> Result<Json<vouch_store::customers_csv::ImportReport>, ApiError> {
    let report = vouch_store::customers_csv::import(
        &state.store,
        auth.workspace_id,
        body.as_ref(),
        &auth.actor,
        |_| {},
    )
    .await?;
    Ok(Json(report))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct QrQuery {
    /// `svg` (default) or `png`.
    pub format: Option<String>,
}

/// The advocate's referral link as a QR code, for print and in-store use.
#[utoipa::path(get, path = "/api/v1/advocates/{id}/qr", tag = "advocates", params(("id" = String, Path), QrQuery),
    responses((status = 200, description = "image/svg+xml or image/png"), (status = 404, body = super::docs::ErrorBody)),
    security(("api_key" = [])))]
pub async fn advocate_qr(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<QrQuery>,
) -> Result<axum::response::Response, ApiError> {
    auth.require(ApiScope::Read)?;
    if q.format
        .as_deref()
        .is_some_and(|f| f != "svg" && f != "png")
    {
        return Err(Invalid::new("format", "use svg or png").into());
    }
    let mut c = state.store.read().await?;
    let a = advocates::by_public_id(&mut c, auth.workspace_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("advocate"))?;
    let json = advocate_json(&state, &mut c, a).await?;
    Ok(crate::admin::tracking::qr_response(
        &json.link,
        q.format.as_deref(),
    ))
}
