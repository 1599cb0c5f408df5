//! The rewards API: rewards and their approval, entitlements, campaigns, code pools,
//! payouts, and the ledger (read). Reward rules and tiers live inside a program's rules
//! (`rules.rewards`), versioned with them.

use crate::AppState;
use crate::api::tracking::{ListQuery, Page, page};
use crate::api::{ApiAuth, ApiJson, ApiQuery, Writer};
use crate::error::ApiError;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use vouch_core::clock::{now_ms, rfc3339};
use vouch_core::{ApiScope, Invalid};
use vouch_store::{customers, programs};

mod campaign;
mod ledger;
mod payout;
mod pool;
mod reward;

pub use campaign::*;
pub use ledger::*;
pub use payout::*;
pub use pool::*;
pub use reward::*;

/// The internal id of a customer named by its public id, in the caller's workspace.
async fn customer_id(
    state: &AppState,
    auth: &ApiAuth,
    public_id: Option<&str>,
) -> Result<Option<i64>, ApiError> {
    let Some(id) = public_id else { return Ok(None) };
    let mut c = state.store.read().await?;
    let k = customers::by_public_id(&mut c, auth.workspace_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("customer"))?;
    Ok(Some(k.id))
}

async fn program_id(
    state: &AppState,
    auth: &ApiAuth,
    public_id: Option<&str>,
) -> Result<Option<i64>, ApiError> {
    let Some(id) = public_id else { return Ok(None) };
    let mut c = state.store.read().await?;
    let p = programs::by_public_id(&mut c, auth.workspace_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("program"))?;
    Ok(Some(p.id))
}
