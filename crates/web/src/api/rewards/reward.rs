//! Rewards: each with its state and the reason for it, the approval queue and bulk decisions,
//! and the entitlements (premium features) a customer holds.

use super::*;
use vouch_store::rewards::{self, Filter, Verdict};
use vouch_store::rows::Reward;

#[derive(Debug, Serialize, ToSchema)]
pub struct RewardJson {
    pub id: String,
    /// `advocate` or `friend`.
    pub beneficiary: String,
    pub customer_id: i64,
    pub program_id: i64,
    pub program_version: i64,
    pub referral_id: Option<i64>,
    /// The rule that granted it (`milestone:N` for milestones).
    pub rule: String,
    /// `credit`, `cash`, `discount`, `feature` or `perk`.
    pub kind: String,
    pub amount_minor: i64,
    pub currency: String,
    /// What was granted: pool, discount rate, feature and duration, perk text.
    #[schema(value_type = Object)]
    pub detail: Value,
    pub tier: Option<String>,
    /// Campaigns that changed this reward.
    pub campaigns: Vec<String>,
    pub campaign_extra_minor: i64,
    /// `pending` (on hold or awaiting approval), `pending_stock`, `approved`, `fulfilled`,
    /// `voided`, `clawed_back` or `refused`.
    pub status: String,
    /// Why it is in this state, in words.
    pub reason: String,
    /// With `refused`: `limit_reached`.
    pub refusal: Option<String>,
    pub hold_until: String,
    /// The discount code delivered.
    pub code: Option<String>,
    /// The value of a used discount code that was clawed back.
    pub lost_value_minor: i64,
    pub created_at: String,
    pub approved_at: Option<String>,
    pub fulfilled_at: Option<String>,
    pub ended_at: Option<String>,
}

pub(crate) fn reward_json(r: Reward) -> RewardJson {
    RewardJson {
        id: r.public_id,
        beneficiary: r.beneficiary,
        customer_id: r.customer_id,
        program_id: r.program_id,
        program_version: r.program_version,
        referral_id: r.referral_id,
        rule: r.rule_key,
        kind: r.kind,
        amount_minor: r.amount_minor,
        currency: r.currency,
        detail: serde_json::from_str(&r.detail).unwrap_or(Value::Null),
        tier: r.tier,
        campaigns: serde_json::from_str(&r.campaigns).unwrap_or_default(),
        campaign_extra_minor: r.campaign_extra_minor,
        status: r.status,
        reason: r.reason,
        refusal: r.refusal,
        hold_until: rfc3339(r.hold_until),
        code: r.code,
        lost_value_minor: r.lost_value_minor,
        created_at: rfc3339(r.created_at),
        approved_at: r.approved_at.map(rfc3339),
        fulfilled_at: r.fulfilled_at.map(rfc3339),
        ended_at: r.ended_at.map(rfc3339),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RewardQuery {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    pub status: Option<String>,
    /// Only rewards of this customer (customer id).
    pub customer: Option<String>,
    /// Only rewards of this program (program id).
    pub program: Option<String>,
    /// Only pending rewards whose hold is over: the approval queue.
    pub awaiting_approval: Option<bool>,
}

/// Rewards, newest first: the advocate's "where is my reward" answered with a state and a
/// reason for each.
#[utoipa::path(get, path = "/api/v1/rewards", tag = "rewards", params(RewardQuery),
    responses((status = 200, body = Page<RewardJson>)), security(("api_key" = [])))]
pub async fn list_rewards(
    State(state): State<AppState>,
    auth: ApiAuth,
    ApiQuery(q): ApiQuery<RewardQuery>,
) -> Result<Json<Page<RewardJson>>, ApiError> {
    auth.require(ApiScope::Read)?;
    let lq = ListQuery {
        limit: q.limit,
        cursor: q.cursor.clone(),
        advocate: None,
        program: None,
        status: None,
    };
    let limit = lq.limit()?;
    let filter = Filter {
        status: q.status.clone(),
        customer_id: customer_id(&state, &auth, q.customer.as_deref()).await?,
        program_id: program_id(&state, &auth, q.program.as_deref()).await?,
        awaiting_approval_at: q.awaiting_approval.unwrap_or(false).then(now_ms),
    };
    let mut c = state.store.read().await?;
    let rows = rewards::list(
        &mut c,
        auth.workspace_id,
        &filter,
        lq.cursor()?.unwrap_or(i64::MAX),
        limit + 1,
    )
    .await?;
    Ok(Json(page(rows, limit, |r| r.id, reward_json)))
}

#[utoipa::path(get, path = "/api/v1/rewards/{id}", tag = "rewards", params(("id" = String, Path)),
    responses((status = 200, body = RewardJson), (status = 404, body = crate::api::ErrorBody)), security(("api_key" = [])))]
pub async fn get_reward(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<String>,
) -> Result<Json<RewardJson>, ApiError> {
    auth.require(ApiScope::Read)?;
    let mut c = state.store.read().await?;
    let r = rewards::by_public_id(&mut c, auth.workspace_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("reward"))?;
    Ok(Json(reward_json(r)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "rewards": ["rwd_5f2c9a1b3d4e6f708192"], "decision": "approve", "reason": "checked the order" }))]
pub struct RewardDecisionBody {
    pub rewards: Vec<String>,
    /// `approve` (after the hold), `void` (not yet given), or `fulfil` (a perk handed over).
    pub decision: String,
    #[serde(default)]
    pub reason: String,
}

/// Approves, voids or ticks off rewards in bulk: all of them or none.
#[utoipa::path(post, path = "/api/v1/rewards/decisions", tag = "rewards", request_body = RewardDecisionBody,
    responses((status = 200, body = Vec<RewardJson>), (status = 409, description = "A reward is on hold or not in a state for this decision; nothing changed", body = crate::api::ErrorBody),
        (status = 422, body = crate::api::ErrorBody)), security(("api_key" = [])))]
pub async fn decide_rewards(
    State(state): State<AppState>,
    Writer(auth): Writer,
    ApiJson(b): ApiJson<RewardDecisionBody>,
) -> Result<Json<Vec<RewardJson>>, ApiError> {
    let verdict = match b.decision.as_str() {
        "approve" => Verdict::Approve,
        "void" => Verdict::Void,
        "fulfil" | "fulfill" => Verdict::Fulfil,
        _ => return Err(Invalid::new("decision", "use approve, void or fulfil").into()),
    };
    if b.rewards.is_empty() || b.rewards.len() > 500 {
        return Err(Invalid::new("rewards", "name 1 to 500 rewards").into());
    }
    let done = rewards::decide_rewards(
        &state.store,
        auth.workspace_id,
        &b.rewards,
        verdict,
        &b.reason,
        &auth.actor,
    )
    .await?;
    Ok(Json(done.into_iter().map(reward_json).collect()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntitlementJson {
    pub feature: String,
    pub reward: i64,
    pub starts_at: String,
    /// Absent: no end.
    pub ends_at: Option<String>,
}

/// The premium features a customer holds now, for the business's own system to unlock.
#[utoipa::path(get, path = "/api/v1/customers/{id}/entitlements", tag = "rewards", params(("id" = String, Path)),
    responses((status = 200, body = Vec<EntitlementJson>), (status = 404, body = crate::api::ErrorBody)), security(("api_key" = [])))]
pub async fn customer_entitlements(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<String>,
) -> Result<Json<Vec<EntitlementJson>>, ApiError> {
    auth.require(ApiScope::Read)?;
    let customer = customer_id(&state, &auth, Some(&id))
        .await?
        .unwrap_or_default();
    let mut c = state.store.read().await?;
    let list = rewards::entitlements(&mut c, auth.workspace_id, customer, now_ms()).await?;
    Ok(Json(
        list.into_iter()
            .map(|e| EntitlementJson {
                feature: e.feature,
                reward: e.reward_id,
                starts_at: rfc3339(e.starts_at),
                ends_at: e.ends_at.map(rfc3339),
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "advocate_referrals": 4, "at": "2026-12-05T10:00:00Z", "amount_minor": 5000 }))]
pub struct PreviewBody {
    /// The advocate's qualified referrals, this one included.
    pub advocate_referrals: i64,
    /// When the qualifying purchase happens (campaigns in force then apply); default now.
    pub at: Option<String>,
    /// The purchase amount, for percentage rewards.
    #[serde(default)]
    pub amount_minor: i64,
}

/// What the program's current rules would grant: "an advocate with 4 referrals during the
/// sprint earns …". Changes nothing.
#[utoipa::path(post, path = "/api/v1/programs/{id}/reward-preview", tag = "rewards", params(("id" = String, Path)),
    request_body = PreviewBody, responses((status = 200, description = "The decisions, with the campaigns that applied", body = Object),
        (status = 404, body = crate::api::ErrorBody), (status = 422, body = crate::api::ErrorBody)), security(("api_key" = [])))]
pub async fn reward_preview(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<PreviewBody>,
) -> Result<Json<Value>, ApiError> {
    auth.require(ApiScope::Read)?;
    let at = match b.at.as_deref() {
        Some(t) => vouch_core::clock::parse_rfc3339(t).ok_or_else(|| {
            ApiError::from(Invalid::new(
                "at",
                "use RFC 3339, e.g. 2026-12-05T10:00:00Z",
            ))
        })?,
        None => now_ms(),
    };
    if b.advocate_referrals < 1 {
        return Err(Invalid::new("advocate_referrals", "use 1 or more").into());
    }
    let mut c = state.store.read().await?;
    let program = programs::by_public_id(&mut c, auth.workspace_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("program"))?;
    let decisions = rewards::preview(
        &mut c,
        auth.workspace_id,
        &program,
        b.advocate_referrals,
        at,
        b.amount_minor,
    )
    .await?;
    Ok(Json(json!({ "decisions": decisions })))
}
