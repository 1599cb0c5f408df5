//! Advocates: enrolment, codes, links and QR codes.

use super::*;

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

pub(super) async fn advocate_json(
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
        (status = 409, description = "Vanity code taken", body = crate::api::ErrorBody), (status = 422, body = crate::api::ErrorBody)),
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
    q.allow(&["program"])?;
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
    responses((status = 200, body = AdvocateJson), (status = 404, body = crate::api::ErrorBody)), security(("api_key" = [])))]
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

pub(super) async fn advocate_id(
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

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct QrQuery {
    /// `svg` (default) or `png`.
    pub format: Option<String>,
}

/// The advocate's referral link as a QR code, for print and in-store use.
#[utoipa::path(get, path = "/api/v1/advocates/{id}/qr", tag = "advocates", params(("id" = String, Path), QrQuery),
    responses((status = 200, description = "image/svg+xml or image/png"), (status = 404, body = crate::api::ErrorBody)),
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
