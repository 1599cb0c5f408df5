//! `GET /r/{code}`: look the code up, hand the click to the writer, answer `302` to the
//! program's own stored destination with the click id appended and a first-party cookie.
//! Never waits on a write, never redirects anywhere a program did not store.

use super::codes::Resolved;
use crate::AppState;
use crate::client::client_ip;
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use std::sync::Arc;
use vouch_core::clock::now_ms;
use vouch_core::code::ReferralCode;
use vouch_core::visit;
use vouch_store::advocates;
use vouch_store::clicks::{NewClick, time_ordered_id};

pub const CLICK_COOKIE: &str = "vouch_ref";
pub const VISITOR_COOKIE: &str = "vouch_vid";
pub const VISITOR_MAX_AGE: u64 = 2 * 365 * 86_400;

/// The visitor id from Vouch's cookie, when it has the shape Vouch gives it.
pub fn visitor_of(headers: &axum::http::HeaderMap) -> Option<String> {
    crate::admin::cookie(headers, VISITOR_COOKIE)
        .filter(|v| v.len() == 23 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

pub async fn follow(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    parts: Parts,
) -> Response {
    let Ok(code) = ReferralCode::parse(&raw) else {
        return unknown_code();
    };
    let resolved = match state.codes.get(code.as_str()) {
        Some(hit) => hit,
        None => match lookup(&state, &code).await {
            Ok(found) => {
                state.codes.put(code.as_str(), found.clone());
                found
            }
            Err(e) => {
                tracing::error!(error = %e, "resolving a referral code failed");
                return unavailable();
            }
        },
    };
    let Some(target) = resolved else {
        return unknown_code();
    };
    if !target.credits {
        // Paused, archived or draft: the visitor still lands, nobody is credited.
        return found(target.destination.as_str(), &[]);
    }
    respond_with_click(&state, &target, &parts)
}

async fn lookup(
    state: &AppState,
    code: &ReferralCode,
) -> vouch_store::Result<Option<Arc<Resolved>>> {
    let mut c = state.store.read().await?;
    let Some(target) = advocates::resolve_code(&mut c, code).await? else {
        return Ok(None);
    };
    let own = advocates::visitors_of(&mut c, target.workspace_id, target.advocate_id).await?;
    Ok(Resolved::from_target(target, own).map(Arc::new))
}

fn respond_with_click(state: &AppState, target: &Resolved, parts: &Parts) -> Response {
    let now = now_ms();
    let headers = &parts.headers;
    let text = |name: header::HeaderName| -> String {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .take(300)
            .collect()
    };
    let user_agent = text(header::USER_AGENT);
    let referer = text(header::REFERER);
    let click_id = time_ordered_id("", now);
    // A first visit is named by its click (see `clicks::by_visitor`).
    let visitor = visitor_of(headers).unwrap_or_else(|| click_id.clone());
    let params = visit::kept_params(parts.uri.query());
    let reason =
        visit::unqualified_reason(parts.method == Method::HEAD, &user_agent).or_else(|| {
            target
                .own_visitors
                .contains(&visitor)
                .then_some("own_click")
        });
    if state.config.record_clicks {
        let ip = client_ip(parts, &state.config.trusted_proxies);
        state.clicks.record(NewClick {
            workspace_id: target.workspace_id,
            public_id: click_id.clone(),
            program_id: target.program_id,
            advocate_id: target.advocate_id,
            visitor_id: visitor.clone(),
            ip_hash: vouch_core::visit::ip_hash(&target.ip_salt, &ip),
            user_agent,
            referer,
            params: serde_json::Value::Object(
                params
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone().into()))
                    .collect(),
            )
            .to_string(),
            qualified: reason.is_none(),
            unqualified_reason: reason.unwrap_or(""),
            created_at: now,
        });
    }
    let location = visit::destination_with(&target.destination, &target.code, &click_id, &params);
    let secure = if state.config.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    let cookies = [
        format!(
            "{CLICK_COOKIE}={click_id}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            target.window_secs
        ),
        format!(
            "{VISITOR_COOKIE}={visitor}; Path=/; HttpOnly; SameSite=Lax; Max-Age={VISITOR_MAX_AGE}{secure}"
        ),
    ];
    found(location.as_str(), &cookies)
}

fn found(location: &str, cookies: &[String]) -> Response {
    let mut res = StatusCode::FOUND.into_response();
    let h = res.headers_mut();
    // The URL crate serialises to ASCII (percent- and punycode-encoded): always a valid header.
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(location).expect("a serialised URL is a valid header"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            h.append(header::SET_COOKIE, v);
        }
    }
    res
}

const UNKNOWN: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Link not found · Vouch</title>\
<link rel=\"stylesheet\" href=\"/static/app.css\"></head><body class=\"public\"><main class=\"card narrow\"><p class=\"brand\">Vouch</p>\
<h1>This referral link does not work</h1><p>The code in it is not one we know. Check the link you were sent, or ask the \
person who shared it for a new one.</p></main></body></html>";

fn unknown_code() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CACHE_CONTROL, "no-store")],
        Html(UNKNOWN),
    )
        .into_response()
}

fn unavailable() -> Response {
    let body = UNKNOWN.replace("This referral link does not work", "Please try again in a moment").replace(
        "The code in it is not one we know. Check the link you were sent, or ask the person who shared it for a new one.",
        "We could not look this link up just now.",
    );
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::RETRY_AFTER, "5"),
        ],
        Html(body),
    )
        .into_response()
}
