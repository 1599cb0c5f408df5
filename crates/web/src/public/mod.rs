//! Public pages anyone can reach: the referral link redirect (the hot path).

pub mod codes;
mod join;
pub mod redirect;

use crate::AppState;
use axum::Router;
use axum::routing::get;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/r/{code}", get(redirect::follow).head(redirect::follow))
        .route("/join/{program}", get(join::show).post(join::join))
}
