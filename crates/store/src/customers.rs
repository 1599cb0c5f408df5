//! Customers: the people a business knows. Upserted by external id (the shop's or CRM's id)
//! or else by email, so the same person arriving twice stays one customer.

use crate::rows::{self, Customer};
use crate::{Conn, Millis, Result, conflict_as};
use vouch_core::Email;
use vouch_core::customer::email_match_key;
use vouch_core::id::time_ordered;

/// What is known of a customer on the way in; `None` fields leave stored values alone.
#[derive(Debug, Clone, Default)]
pub struct CustomerInput {
    pub email: Option<Email>,
    pub name: Option<String>,
    pub external_id: Option<String>,
    pub phone: Option<String>,
    pub attributes: Option<serde_json::Value>,
    pub consent_marketing: Option<bool>,
    pub created_from: &'static str,
}

pub async fn by_external_id(
    c: &mut Conn,
    workspace_id: i64,
    external_id: &str,
) -> Result<Option<Customer>> {
    let q = rows::select::<Customer>("WHERE workspace_id = $1 AND external_id = $2")
        .bind(workspace_id)
        .bind(external_id.to_string());
    Ok(rows::fetch_optional(c, q).await?)
}

pub async fn by_email(c: &mut Conn, workspace_id: i64, email: &Email) -> Result<Option<Customer>> {
    let q = rows::select::<Customer>("WHERE workspace_id = $1 AND email = $2")
        .bind(workspace_id)
        .bind(email.to_string());
    Ok(rows::fetch_optional(c, q).await?)
}

/// Customers whose email reaches the same inbox (`+tags`, Gmail dots folded).
pub async fn by_email_key(c: &mut Conn, workspace_id: i64, key: &str) -> Result<Vec<Customer>> {
    let q =
        rows::select::<Customer>("WHERE workspace_id = $1 AND email_key = $2 ORDER BY id LIMIT 20")
            .bind(workspace_id)
            .bind(key.to_string());
    Ok(rows::fetch_all(c, q).await?)
}

pub async fn by_id(c: &mut Conn, workspace_id: i64, id: i64) -> Result<Option<Customer>> {
    Ok(rows::by_id(c, workspace_id, id).await?)
}

pub async fn by_public_id(
    c: &mut Conn,
    workspace_id: i64,
    public_id: &str,
) -> Result<Option<Customer>> {
    Ok(rows::by_public_id(c, workspace_id, public_id).await?)
}

pub async fn list(
    c: &mut Conn,
    workspace_id: i64,
    after: i64,
    limit: i64,
) -> Result<Vec<Customer>> {
    let q = rows::select::<Customer>("WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3")
        .bind(workspace_id)
        .bind(after)
        .bind(limit);
    Ok(rows::fetch_all(c, q).await?)
}

/// The stored customer an input names: by external id first, then by email.
pub async fn find(
    c: &mut Conn,
    workspace_id: i64,
    input: &CustomerInput,
) -> Result<Option<Customer>> {
    if let Some(x) = &input.external_id
        && let Some(found) = by_external_id(c, workspace_id, x).await?
    {
        return Ok(Some(found));
    }
    match &input.email {
        Some(e) => by_email(c, workspace_id, e).await,
        None => Ok(None),
    }
}

/// Finds the customer by external id, then by email; updates what the input knows, or
/// creates one. Returns the customer and whether it was created.
pub async fn upsert(
    c: &mut Conn,
    workspace_id: i64,
    input: &CustomerInput,
    now: Millis,
) -> Result<(Customer, bool)> {
    let existing = find(c, workspace_id, input).await?;
    let attributes = input.attributes.as_ref().map(|v| v.to_string());
    match existing {
        Some(cur) => {
            let q = rows::returning::<Customer>(
                c,
                "UPDATE customers SET
                    email = COALESCE($3, email), email_key = COALESCE($4, email_key), name = COALESCE($5, name),
                    external_id = COALESCE(external_id, $6), phone = COALESCE($7, phone),
                    attributes = COALESCE($8, attributes), consent_marketing = COALESCE($9, consent_marketing),
                    updated_at = $10
                 WHERE workspace_id = $1 AND id = $2",
            )
            .bind(workspace_id)
            .bind(cur.id)
            .bind(input.email.as_ref().map(|e| e.to_string()))
            .bind(input.email.as_ref().map(email_match_key))
            .bind(input.name.clone())
            .bind(input.external_id.clone())
            .bind(input.phone.clone())
            .bind(attributes)
            .bind(input.consent_marketing.map(i64::from))
            .bind(now);
            Ok((
                rows::written_one(c, q, Some(cur.id))
                    .await
                    .map_err(conflict_as("a customer with this email or external id"))?,
                false,
            ))
        }
        None => {
            let q = rows::returning::<Customer>(
                c,
                "INSERT INTO customers (workspace_id, public_id, email, email_key, name, external_id, phone,
                    attributes, consent_marketing, created_from, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
            )
            .bind(workspace_id)
            .bind(time_ordered::<8>("cus_", now))
            .bind(input.email.as_ref().map(|e| e.to_string()))
            .bind(input.email.as_ref().map(email_match_key))
            .bind(input.name.clone().unwrap_or_default())
            .bind(input.external_id.clone())
            .bind(input.phone.clone().unwrap_or_default())
            .bind(attributes.unwrap_or_else(|| "{}".into()))
            .bind(i64::from(input.consent_marketing.unwrap_or(false)))
            .bind(input.created_from)
            .bind(now);
            Ok((
                rows::written_one(c, q, None)
                    .await
                    .map_err(conflict_as("a customer with this email or external id"))?,
                true,
            ))
        }
    }
}
