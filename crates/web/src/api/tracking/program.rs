//! Programs and their versioned rules.

use super::*;

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

pub(super) fn program_json(p: Program) -> ProgramJson {
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
    responses((status = 201, body = ProgramJson), (status = 422, description = "Invalid rules", body = crate::api::ErrorBody)),
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
    q.allow(&[])?;
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

pub(super) async fn load_program(
    state: &AppState,
    auth: &ApiAuth,
    id: &str,
) -> Result<Program, ApiError> {
    let mut c = state.store.read().await?;
    programs::by_public_id(&mut c, auth.workspace_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("program"))
}

#[utoipa::path(get, path = "/api/v1/programs/{id}", tag = "programs", params(("id" = String, Path, description = "Program id")),
    responses((status = 200, body = ProgramJson), (status = 404, body = crate::api::ErrorBody)), security(("api_key" = [])))]
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
    responses((status = 200, body = ProgramJson), (status = 404, body = crate::api::ErrorBody), (status = 422, body = crate::api::ErrorBody)),
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
