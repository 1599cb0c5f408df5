//! Tracking resources: programs, customers, advocates, clicks, conversions (with refunds)
//! and referrals with their attribution traces, one module a resource. Every query is scoped
//! by the key's workspace; lists share the cursor paging here.

use crate::AppState;
use crate::api::{ApiAuth, ApiJson, ApiQuery, Writer};
use crate::error::ApiError;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use vouch_core::clock::{now_ms, rfc3339};
use vouch_core::code::ReferralCode;
use vouch_core::program::{ConversionKind, ProgramRules, ProgramStatus};
use vouch_core::{ApiScope, Email, Invalid};
use vouch_store::customers::CustomerInput;
use vouch_store::referrals::{self, ConversionInput};
use vouch_store::rows::{Advocate, Click, Conversion, Customer, Program, Referral};
use vouch_store::{advocates, clicks, customers, programs, tracking};

/// A page of results, newest or lowest id first as each list says.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// At most this many items (1–200, default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only items of this advocate (advocate id): referrals and clicks (other lists refuse it).
    pub advocate: Option<String>,
    /// Only items of this program (program id): referrals and advocates (other lists refuse it).
    pub program: Option<String>,
    /// Only referrals in this status (other lists refuse it).
    pub status: Option<String>,
}

impl ListQuery {
    /// Refuses the filters a list does not have, so that `?program=…` on a list without that
    /// filter is an error to fix, not a silently unfiltered page.
    pub(crate) fn allow(&self, filters: &[&str]) -> Result<(), ApiError> {
        let given = [
            ("advocate", self.advocate.is_some()),
            ("program", self.program.is_some()),
            ("status", self.status.is_some()),
        ];
        let refused: Vec<Invalid> = given
            .into_iter()
            .filter(|(name, set)| *set && !filters.contains(name))
            .map(|(name, _)| {
                Invalid::new(
                    name,
                    if filters.is_empty() {
                        format!("this list has no filters; remove {name}")
                    } else {
                        format!(
                            "this list filters by {} only; remove {name}",
                            filters.join(", ")
                        )
                    },
                )
            })
            .collect();
        if refused.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid(&refused))
        }
    }

    pub(crate) fn limit(&self) -> Result<i64, ApiError> {
        let l = self.limit.unwrap_or(50);
        if (1..=200).contains(&l) {
            Ok(l)
        } else {
            Err(Invalid::new("limit", "use a limit between 1 and 200").into())
        }
    }
    pub(crate) fn cursor(&self) -> Result<Option<i64>, ApiError> {
        self.cursor
            .as_deref()
            .map(|c| {
                c.parse::<i64>().map_err(|_| {
                    ApiError::from(Invalid::new(
                        "cursor",
                        "use the next_cursor of a previous page",
                    ))
                })
            })
            .transpose()
    }
}

pub(crate) fn page<R, T>(
    mut rows: Vec<R>,
    limit: i64,
    id: impl Fn(&R) -> i64,
    to: impl Fn(R) -> T,
) -> Page<T> {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|r| id(r).to_string())
    } else {
        None
    };
    Page {
        data: rows.into_iter().map(to).collect(),
        next_cursor,
    }
}

mod advocate;
mod click;
mod conversion;
mod customer;
mod program;
mod referral;

pub use advocate::*;
pub use click::*;
pub use conversion::*;
pub use customer::*;
pub use program::*;
pub use referral::*;
