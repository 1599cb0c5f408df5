//! Vouch's HTTP faces on one axum router: the JSON API (`/api/v1`), the server-rendered admin
//! (`/admin`), the health and metrics endpoints. Handlers are thin: parse, authorise, call a
//! store command, render.

pub mod admin;
pub mod api;
pub mod client;
pub mod error;
pub mod observe;
pub mod public;
pub mod qr;

use axum::Router;
use axum::routing::get;
use std::sync::Arc;
use std::time::Duration;
use vouch_store::Store;

/// What the web layer needs to know about its deployment.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// The public address, e.g. `https://refer.example.com`; links and cookie security follow it.
    pub base_url: url::Url,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub session_ttl: Duration,
    /// Off only to measure the redirect without recording (the benchmark's baseline).
    pub record_clicks: bool,
}

impl WebConfig {
    pub fn new(base_url: url::Url) -> Self {
        Self {
            base_url,
            trusted_proxies: Vec::new(),
            session_ttl: Duration::from_secs(14 * 24 * 3600),
            record_clicks: true,
        }
    }

    /// Cookies are `Secure` exactly when Vouch is reached over https.
    pub fn secure_cookies(&self) -> bool {
        self.base_url.scheme() == "https"
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<WebConfig>,
    pub metrics: Arc<observe::Metrics>,
    pub clicks: vouch_store::clicks::ClickWriter,
    pub codes: Arc<public::codes::CodeCache>,
}

impl AppState {
    pub fn new(store: Store, config: WebConfig) -> Self {
        Self {
            store: store.clone(),
            config: Arc::new(config),
            metrics: Arc::new(observe::Metrics::default()),
            clicks: vouch_store::clicks::ClickWriter::start(store.clone()),
            codes: Arc::default(),
        }
    }
}

/// The whole application. Tests call it in-process; `vouch serve` binds it to a socket.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(observe::healthz))
        .route("/readyz", get(observe::readyz))
        .route("/metrics", get(observe::metrics))
        .route("/api/openapi.json", get(api::openapi_json))
        .nest("/api/v1", api::router())
        .merge(admin::router())
        .merge(public::router())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe::observe,
        ))
        .with_state(state)
}
