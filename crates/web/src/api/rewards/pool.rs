//! Code pools: imported or generated single-use discount codes.

use super::*;
use vouch_store::pools::{self, NewPool};
use vouch_store::rows::CodePool;

#[derive(Debug, Serialize, ToSchema)]
pub struct CodePoolJson {
    pub id: String,
    /// What reward rules name (`"pool": "welcome"`).
    pub key: String,
    pub name: String,
    /// Generated pools: the pattern (`#` digit, `?` letter). Imported pools: absent.
    pub pattern: Option<String>,
    pub low_stock_threshold: i64,
    /// Codes not yet given (absent for generated pools, which never run dry).
    pub available: Option<i64>,
}

async fn pool_json(c: &mut vouch_store::Conn, p: CodePool) -> Result<CodePoolJson, ApiError> {
    let available = pools::available(c, &p).await?;
    Ok(CodePoolJson {
        id: p.public_id,
        key: p.key,
        name: p.name,
        pattern: p.pattern,
        low_stock_threshold: p.low_stock_threshold,
        available,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "key": "welcome", "name": "Welcome discount", "pattern": "WELCOME-????-####", "low_stock_threshold": 20 }))]
pub struct CodePoolBody {
    pub key: String,
    pub name: String,
    pub pattern: Option<String>,
    #[serde(default)]
    pub low_stock_threshold: i64,
}

#[utoipa::path(post, path = "/api/v1/code-pools", tag = "code-pools", request_body = CodePoolBody,
    responses((status = 201, body = CodePoolJson), (status = 409, body = crate::api::ErrorBody), (status = 422, body = crate::api::ErrorBody)),
    security(("api_key" = [])))]
pub async fn create_pool(
    State(state): State<AppState>,
    Writer(auth): Writer,
    ApiJson(b): ApiJson<CodePoolBody>,
) -> Result<(StatusCode, Json<CodePoolJson>), ApiError> {
    let p = vouch_store::rewards::create_pool(
        &state.store,
        auth.workspace_id,
        &NewPool {
            key: &b.key,
            name: &b.name,
            pattern: b.pattern.as_deref(),
            low_stock_threshold: b.low_stock_threshold,
        },
        &auth.actor,
    )
    .await?;
    let mut c = state.store.read().await?;
    Ok((StatusCode::CREATED, Json(pool_json(&mut c, p).await?)))
}

#[utoipa::path(get, path = "/api/v1/code-pools", tag = "code-pools",
    responses((status = 200, body = Vec<CodePoolJson>)), security(("api_key" = [])))]
pub async fn list_pools(
    State(state): State<AppState>,
    auth: ApiAuth,
) -> Result<Json<Vec<CodePoolJson>>, ApiError> {
    auth.require(ApiScope::Read)?;
    let mut c = state.store.read().await?;
    let mut out = Vec::new();
    for p in pools::list(&mut c, auth.workspace_id).await? {
        out.push(pool_json(&mut c, p).await?);
    }
    Ok(Json(out))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "codes": ["XMAS-7KQ2", "XMAS-9PZT"] }))]
pub struct CodesBody {
    pub codes: Vec<String>,
}

/// Imports codes into a pool; rewards waiting for codes are delivered at once.
#[utoipa::path(post, path = "/api/v1/code-pools/{id}/codes", tag = "code-pools", params(("id" = String, Path)), request_body = CodesBody,
    responses((status = 200, description = "How many codes were new and how many waiting rewards got one", body = Object),
        (status = 404, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody), (status = 422, body = crate::api::ErrorBody)),
    security(("api_key" = [])))]
pub async fn import_codes(
    State(state): State<AppState>,
    Writer(auth): Writer,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<CodesBody>,
) -> Result<Json<Value>, ApiError> {
    if b.codes.is_empty() || b.codes.len() > 10_000 {
        return Err(Invalid::new("codes", "send 1 to 10000 codes at a time").into());
    }
    let (added, delivered) = vouch_store::rewards::import_codes(
        &state.store,
        auth.workspace_id,
        &id,
        &b.codes,
        &auth.actor,
    )
    .await?;
    Ok(Json(json!({ "added": added, "delivered": delivered })))
}

/// Tells Vouch a discount code was used at checkout (a clawback then records its value as lost).
#[utoipa::path(post, path = "/api/v1/discount-codes/{code}/redemption", tag = "code-pools", params(("code" = String, Path)),
    responses((status = 204, description = "Recorded"), (status = 404, body = crate::api::ErrorBody)), security(("api_key" = [])))]
pub async fn redeem_code(
    State(state): State<AppState>,
    Writer(auth): Writer,
    Path(code): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !pools::redeem_now(&state.store, auth.workspace_id, &code).await? {
        return Err(ApiError::not_found("discount code"));
    }
    Ok(StatusCode::NO_CONTENT)
}
