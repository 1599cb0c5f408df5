//! Campaigns (Referral Sprints): scheduled ahead in the workspace's time zone.

use super::*;
use vouch_core::campaign::{Audience, Effect, Sides, instant_in};
use vouch_store::campaigns::{self, NewCampaign};
use vouch_store::rows::CampaignRow;

#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignJson {
    pub id: String,
    pub name: String,
    /// What advocates read, with the deadline: "Double rewards until Friday 04 December 18:00".
    pub headline: String,
    pub programs: Vec<i64>,
    pub starts_at: String,
    pub ends_at: String,
    pub time_zone: String,
    #[schema(value_type = Object)]
    pub effect: Value,
    pub stackable: bool,
    /// `advocate`, `friend` or `both`.
    pub sides: String,
    #[schema(value_type = Object)]
    pub audience: Value,
    pub budget_minor: Option<i64>,
    pub spent_minor: i64,
    /// `scheduled`, `running`, `ended` or `cancelled`.
    pub status: String,
}

pub(crate) fn campaign_json(r: CampaignRow) -> CampaignJson {
    let status = campaigns::status(&r, now_ms());
    CampaignJson {
        headline: campaigns::headline(&r),
        programs: campaigns::program_ids(&r),
        id: r.public_id,
        name: r.name,
        starts_at: rfc3339(r.starts_at),
        ends_at: rfc3339(r.ends_at),
        time_zone: r.time_zone,
        effect: serde_json::from_str(&r.effect).unwrap_or(Value::Null),
        stackable: r.stackable == 1,
        sides: r.sides,
        audience: serde_json::from_str(&r.audience).unwrap_or(Value::Null),
        budget_minor: r.budget_minor,
        spent_minor: r.spent_minor,
        status: status.into(),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "name": "December sprint", "programs": ["prg_0a1b2c3d4e5f60718293"], "starts_at": "2026-12-04T18:00",
    "ends_at": "2026-12-11T18:00", "effect": { "type": "multiplier", "bps": 20000 }, "budget_minor": 50000 }))]
pub struct CampaignBody {
    pub name: String,
    #[serde(default)]
    pub headline: String,
    /// Program ids.
    pub programs: Vec<String>,
    /// A wall-clock time in `time_zone` (`2026-12-04T18:00`) or an RFC 3339 instant.
    pub starts_at: String,
    pub ends_at: String,
    /// Defaults to the workspace's time zone.
    pub time_zone: Option<String>,
    /// `{"type": "multiplier", "bps": 20000}` (×2), `{"type": "bonus", "amount_minor": 500}`, or
    /// `{"type": "tiers", "tiers": [...]}`.
    #[schema(value_type = Object)]
    pub effect: Value,
    #[serde(default)]
    pub stackable: bool,
    /// `advocate` (default), `friend` or `both`.
    pub sides: Option<String>,
    /// `{"type": "all"}` (default), `{"type": "min_referrals", "n": 5}`, or
    /// `{"type": "attribute", "key": "segment", "value": "vip"}`.
    #[schema(value_type = Object)]
    pub audience: Option<Value>,
    pub budget_minor: Option<i64>,
}

/// Schedules a campaign. Overlapping campaigns: the highest wins, unless stackable.
#[utoipa::path(post, path = "/api/v1/campaigns", tag = "campaigns", request_body = CampaignBody,
    responses((status = 201, body = CampaignJson), (status = 422, body = crate::api::ErrorBody)), security(("api_key" = [])))]
pub async fn create_campaign(
    State(state): State<AppState>,
    Writer(auth): Writer,
    ApiJson(b): ApiJson<CampaignBody>,
) -> Result<(StatusCode, Json<CampaignJson>), ApiError> {
    let tz = match b.time_zone {
        Some(t) => t,
        None => {
            let mut c = state.store.read().await?;
            vouch_store::workspaces::by_id(&mut c, auth.workspace_id)
                .await?
                .map(|w| w.time_zone)
                .unwrap_or_else(|| "UTC".into())
        }
    };
    let mut errors = Vec::new();
    let starts = instant_in("starts_at", &b.starts_at, &tz)
        .map_err(|e| errors.push(e))
        .unwrap_or(0);
    let ends = instant_in("ends_at", &b.ends_at, &tz)
        .map_err(|e| errors.push(e))
        .unwrap_or(0);
    let effect: Option<Effect> = serde_json::from_value(b.effect)
        .map_err(|e| {
            errors.push(Invalid::new(
                "effect",
                format!("{e}: use multiplier, bonus or tiers"),
            ))
        })
        .ok();
    let sides: Option<Sides> =
        serde_json::from_value(json!(b.sides.unwrap_or_else(|| "advocate".into())))
            .map_err(|_| errors.push(Invalid::new("sides", "use advocate, friend or both")))
            .ok();
    let audience: Option<Audience> =
        serde_json::from_value(b.audience.unwrap_or(json!({ "type": "all" })))
            .map_err(|e| {
                errors.push(Invalid::new(
                    "audience",
                    format!("{e}: use all, min_referrals or attribute"),
                ))
            })
            .ok();
    let (Some(effect), Some(sides), Some(audience), true) =
        (effect, sides, audience, errors.is_empty())
    else {
        return Err(ApiError::invalid(&errors));
    };
    let n = NewCampaign {
        name: b.name,
        headline: b.headline,
        program_public_ids: b.programs,
        starts_at: starts,
        ends_at: ends,
        time_zone: tz,
        effect,
        stackable: b.stackable,
        sides,
        audience,
        budget_minor: b.budget_minor,
    };
    let row = campaigns::schedule(&state.store, auth.workspace_id, &n, &auth.actor).await?;
    Ok((StatusCode::CREATED, Json(campaign_json(row))))
}

#[utoipa::path(get, path = "/api/v1/campaigns", tag = "campaigns", params(ListQuery),
    responses((status = 200, body = Page<CampaignJson>)), security(("api_key" = [])))]
pub async fn list_campaigns(
    State(state): State<AppState>,
    auth: ApiAuth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<CampaignJson>>, ApiError> {
    auth.require(ApiScope::Read)?;
    q.allow(&[])?;
    let limit = q.limit()?;
    let mut c = state.store.read().await?;
    let rows = campaigns::list(
        &mut c,
        auth.workspace_id,
        q.cursor()?.unwrap_or(i64::MAX),
        limit + 1,
    )
    .await?;
    Ok(Json(page(rows, limit, |r| r.id, campaign_json)))
}

#[utoipa::path(get, path = "/api/v1/campaigns/{id}", tag = "campaigns", params(("id" = String, Path)),
    responses((status = 200, body = CampaignJson), (status = 404, body = crate::api::ErrorBody)), security(("api_key" = [])))]
pub async fn get_campaign(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<String>,
) -> Result<Json<CampaignJson>, ApiError> {
    auth.require(ApiScope::Read)?;
    let mut c = state.store.read().await?;
    let r = campaigns::by_public_id(&mut c, auth.workspace_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("campaign"))?;
    Ok(Json(campaign_json(r)))
}

/// Cancels a campaign that has not ended: it stops applying at once.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/cancel", tag = "campaigns", params(("id" = String, Path)),
    responses((status = 200, body = CampaignJson), (status = 404, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody)),
    security(("api_key" = [])))]
pub async fn cancel_campaign(
    State(state): State<AppState>,
    Writer(auth): Writer,
    Path(id): Path<String>,
) -> Result<Json<CampaignJson>, ApiError> {
    let row = campaigns::cancel_by(&state.store, auth.workspace_id, &id, &auth.actor).await?;
    Ok(Json(campaign_json(row)))
}
