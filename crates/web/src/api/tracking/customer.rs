//! Customers: upsert by external id or email, read, and import from CSV.

use super::*;

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

pub(super) fn customer_json(c: Customer) -> CustomerJson {
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

pub(super) fn customer_input(
    r: CustomerRef,
    from: &'static str,
) -> Result<CustomerInput, ApiError> {
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
        (status = 422, body = crate::api::ErrorBody)), security(("api_key" = [])))]
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
    q.allow(&[])?;
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
    responses((status = 200, body = CustomerJson), (status = 404, body = crate::api::ErrorBody)), security(("api_key" = [])))]
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

/// Imports customers from a CSV body (`Content-Type: text/csv`); each row lands whole or not
/// at all, and the report names every refused row.
#[utoipa::path(post, path = "/api/v1/customers/import", tag = "customers",
    request_body(content = String, content_type = "text/csv", description = "A header row (email, name, external_id, phone, consent_marketing, attributes, …), then one customer a row"),
    responses((status = 200, description = "What was imported and every refused row", body = Object), (status = 409, body = crate::api::ErrorBody)),
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
