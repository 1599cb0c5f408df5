//! Clicks through referral links (read only).

use super::*;

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
    q.allow(&["advocate"])?;
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
