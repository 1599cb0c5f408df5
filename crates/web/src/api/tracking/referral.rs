//! Referrals: identifying friends, reading traces, the review queue, re-attribution.

use super::*;

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

pub(super) fn referral_json(r: Referral) -> ReferralJson {
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
    q.allow(&["advocate", "program", "status"])?;
    let limit = q.limit()?;
    let advocate = advocate_id(&state, &auth, q.advocate.as_deref()).await?;
    let mut c = state.store.read().await?;
    let program = match q.program.as_deref() {
        Some(p) => Some(
            programs::by_public_id(&mut c, auth.workspace_id, p)
                .await?
                .ok_or_else(|| ApiError::not_found("program"))?
                .id,
        ),
        None => None,
    };
    let filter = referrals::ReferralFilter {
        status: q.status.clone(),
        advocate_id: advocate,
        program_id: program,
        ..Default::default()
    };
    let rows = referrals::list_referrals(
        &mut c,
        auth.workspace_id,
        &filter,
        q.cursor()?.unwrap_or(i64::MAX),
        limit + 1,
    )
    .await?;
    Ok(Json(page(rows, limit, |r| r.id, referral_json)))
}

#[utoipa::path(get, path = "/api/v1/referrals/{id}", tag = "referrals", params(("id" = String, Path)),
    responses((status = 200, body = ReferralJson), (status = 404, body = crate::api::ErrorBody)), security(("api_key" = [])))]
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
        (status = 409, description = "already_referred: another advocate referred this friend first", body = crate::api::ErrorBody),
        (status = 422, body = crate::api::ErrorBody)),
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
    q.allow(&[])?;
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
    responses((status = 200, body = Reviewed), (status = 409, description = "One of them is not waiting for review: nothing changed", body = crate::api::ErrorBody),
        (status = 422, body = crate::api::ErrorBody)),
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
    responses((status = 200, body = ReferralJson), (status = 404, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody)),
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
