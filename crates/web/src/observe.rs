//! Seeing what the server does: request ids, structured request logs, Prometheus metrics
//! labelled by matched route (never by raw path, which would explode the label set),
//! security headers, and the health endpoints.

use crate::AppState;
use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Instant;

const BUCKETS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Series {
    count: u64,
    sum_seconds: f64,
    buckets: [u64; BUCKETS.len()],
}

/// Request counters and latency histograms by (method, route, status).
#[derive(Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<(String, String, u16), Series>>,
}

impl Metrics {
    pub fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut map = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let s = map
            .entry((method.to_string(), route.to_string(), status))
            .or_default();
        s.count += 1;
        s.sum_seconds += seconds;
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                s.buckets[i] += 1;
            }
        }
    }

    pub fn render(&self, out: &mut String) {
        let map = self.series.lock().unwrap_or_else(|p| p.into_inner());
        out.push_str(
            "# HELP vouch_http_requests_total HTTP requests by method, matched route and status.\n",
        );
        out.push_str("# TYPE vouch_http_requests_total counter\n");
        for ((m, r, st), s) in map.iter() {
            let _ = writeln!(
                out,
                "vouch_http_requests_total{{method=\"{m}\",route=\"{r}\",status=\"{st}\"}} {}",
                s.count
            );
        }
        out.push_str("# HELP vouch_http_request_duration_seconds HTTP request latency by method and matched route.\n");
        out.push_str("# TYPE vouch_http_request_duration_seconds histogram\n");
        let mut by_route: BTreeMap<(&str, &str), Series> = BTreeMap::new();
        for ((m, r, _), s) in map.iter() {
            let agg = by_route.entry((m, r)).or_default();
            agg.count += s.count;
            agg.sum_seconds += s.sum_seconds;
            for i in 0..BUCKETS.len() {
                agg.buckets[i] += s.buckets[i];
            }
        }
        for ((m, r), s) in by_route {
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "vouch_http_request_duration_seconds_bucket{{method=\"{m}\",route=\"{r}\",le=\"{b}\"}} {}",
                    s.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "vouch_http_request_duration_seconds_bucket{{method=\"{m}\",route=\"{r}\",le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "vouch_http_request_duration_seconds_sum{{method=\"{m}\",route=\"{r}\"}} {}",
                s.sum_seconds
            );
            let _ = writeln!(
                out,
                "vouch_http_request_duration_seconds_count{{method=\"{m}\",route=\"{r}\"}} {}",
                s.count
            );
        }
    }
}

/// A request id from the caller when it is a sane token, else a fresh one.
fn request_id(req: &Request) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .map(str::to_string)
        .unwrap_or_else(vouch_core::secret::random_hex::<8>)
}

pub async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(&req);
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let path = req.uri().path().to_string();
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route);
    let mut res = {
        use tracing::Instrument;
        next.run(req).instrument(span.clone()).await
    };
    let status = res.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    state.metrics.record(&method, &route, status, seconds);
    span.in_scope(|| {
        tracing::info!(status, path = %path, ms = (seconds * 1000.0).round() as u64, "request");
    });
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert("x-request-id", v);
    }
    h.entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    h.entry(header::X_FRAME_OPTIONS)
        .or_insert(HeaderValue::from_static("DENY"));
    h.entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("same-origin"));
    let is_html = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_html {
        h.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(
            "default-src 'self'; img-src 'self' https: data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
        ));
        h.entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-store"));
    }
    res
}

pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Ready when the database answers and every migration this binary knows is applied.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let check = async {
        state.store.ping().await?;
        state.store.pending_migrations().await
    };
    match check.await {
        Ok(0) => Json(json!({ "status": "ready" })).into_response(),
        Ok(n) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not_ready", "reason": format!("{n} migrations pending; run vouch migrate") })),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "not_ready", "reason": "the database is not reachable" })),
            )
                .into_response()
        }
    }
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut out = String::new();
    state.metrics.render(&mut out);
    let c = state.clicks.stats();
    use std::sync::atomic::Ordering::Relaxed;
    let writer = [
        (
            "vouch_clicks_accepted_total",
            "counter",
            "Clicks handed to the writer.",
            c.accepted.load(Relaxed),
        ),
        (
            "vouch_clicks_written_total",
            "counter",
            "Clicks committed to the database.",
            c.written.load(Relaxed),
        ),
        (
            "vouch_clicks_pending",
            "gauge",
            "Clicks waiting to be written.",
            c.pending(),
        ),
        (
            "vouch_clicks_overflow_total",
            "counter",
            "Clicks accepted while the writer was behind (kept, not lost).",
            c.overflow.load(Relaxed),
        ),
        (
            "vouch_click_batches_total",
            "counter",
            "Click batches written.",
            c.batches.load(Relaxed),
        ),
        (
            "vouch_click_batch_failures_total",
            "counter",
            "Click batches that failed and were retried.",
            c.failed_batches.load(Relaxed),
        ),
    ];
    for (name, kind, help, value) in writer {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
    match state.store.job_counts().await {
        Ok(counts) => {
            out.push_str(
                "# HELP vouch_jobs Jobs in the queue by status.\n# TYPE vouch_jobs gauge\n",
            );
            for (status, n) in counts {
                let _ = writeln!(out, "vouch_jobs{{status=\"{status}\"}} {n}");
            }
        }
        Err(e) => tracing::warn!(error = %e, "job counts for metrics failed"),
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = super::Metrics::default();
        m.record("GET", "/x", 200, 0.003);
        m.record("GET", "/x", 500, 2.0);
        let mut out = String::new();
        m.render(&mut out);
        assert!(
            out.contains("vouch_http_requests_total{method=\"GET\",route=\"/x\",status=\"200\"} 1")
        );
        assert!(out.contains("le=\"0.005\"} 1"));
        assert!(out.contains("le=\"5\"} 2"));
        assert!(
            out.contains(
                "vouch_http_request_duration_seconds_count{method=\"GET\",route=\"/x\"} 2"
            )
        );
    }
}
