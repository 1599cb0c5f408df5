//! An in-process client for the router: a cookie jar, form and JSON helpers.

#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use std::collections::BTreeMap;
use tower::ServiceExt;
use vouch_core::{ApiScope, Slug};
use vouch_store::audit::Actor;
use vouch_store::commands;
use vouch_store::testing::TestDb;
use vouch_web::{AppState, WebConfig, router};

pub struct TestApp {
    pub db: TestDb,
    pub app: Router,
    pub state: AppState,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }
    /// The value of the first hidden `csrf` field on the page.
    pub fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("page has a csrf field")
            + 19;
        self.body[at..at + 32].to_string()
    }
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_base("http://127.0.0.1:8080").await
    }

    pub async fn with_base(base: &str) -> Self {
        let db = TestDb::sqlite().await;
        let state = AppState::new(db.store.clone(), WebConfig::new(base.parse().unwrap()));
        let app = router(state.clone());
        Self { db, app, state }
    }

    pub async fn send(&self, req: Request<Body>) -> Reply {
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn api(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<&str>,
    ) -> Reply {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(k) = key {
            b = b.header(header::AUTHORIZATION, format!("Bearer {k}"));
        }
        if body.is_some() {
            b = b.header(header::CONTENT_TYPE, "application/json");
        }
        self.send(b.body(Body::from(body.unwrap_or("").to_string())).unwrap())
            .await
    }
}

/// A browser-like session: keeps cookies between requests.
pub struct Browser<'a> {
    pub app: &'a TestApp,
    pub cookies: BTreeMap<String, String>,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, r: &Reply) {
        for v in r.headers.get_all(header::SET_COOKIE) {
            let v = v.to_str().unwrap();
            let (kv, _) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = kv.split_once('=').unwrap();
            if val.is_empty() || v.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), val.to_string());
            }
        }
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        let req = Request::get(path)
            .header(header::COOKIE, self.cookie_header())
            .body(Body::empty())
            .unwrap();
        let r = self.app.send(req).await;
        self.keep_cookies(&r);
        r
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Reply {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        let req = Request::post(path)
            .header(header::COOKIE, self.cookie_header())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        let r = self.app.send(req).await;
        self.keep_cookies(&r);
        r
    }

    /// Runs the setup page as its first visitor would.
    pub async fn set_up(&mut self, business: &str, email: &str, password: &str) -> Reply {
        let page = self.get("/").await;
        assert!(page.body.contains("Set up Vouch"), "{}", page.body);
        let csrf = page.csrf();
        self.post(
            "/setup",
            &[
                ("csrf", &csrf),
                ("workspace_name", business),
                ("email", email),
                ("password", password),
                ("password_confirm", password),
            ],
        )
        .await
    }

    pub async fn sign_in(&mut self, email: &str, password: &str) -> Reply {
        let page = self.get("/login").await;
        let csrf = page.csrf();
        self.post(
            "/login",
            &[("csrf", &csrf), ("email", email), ("password", password)],
        )
        .await
    }

    /// A browser signed in as the owner of a fresh "Shop" workspace, with its CSRF token.
    pub async fn shop_owner(app: &'a TestApp) -> (Self, String) {
        let mut b = Self::new(app);
        b.set_up("Shop", "owner@example.com", PASSWORD).await;
        let csrf = b.csrf().await;
        (b, csrf)
    }

    /// The CSRF token of the signed-in session, read from a page.
    pub async fn csrf(&mut self) -> String {
        self.get("/admin").await.csrf()
    }
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub const PASSWORD: &str = "a long enough password";

/// A new workspace with an API key of these scopes; returns the key.
pub async fn key(app: &TestApp, name: &str, scopes: &[ApiScope]) -> String {
    let slug = Slug::from_name(name).unwrap();
    let (ws, _) =
        commands::create_workspace(&app.db.store, name, &slug, None, &Actor::cli(), false)
            .await
            .unwrap();
    commands::create_api_key(&app.db.store, ws.id, "k", scopes, &Actor::cli())
        .await
        .unwrap()
        .1
        .expose()
        .to_string()
}

/// Calls the API with a key; the status and the JSON body (null when empty).
pub async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let r = app
        .api(
            method,
            path,
            Some(key),
            body.map(|b| b.to_string()).as_deref(),
        )
        .await;
    let v = if r.body.is_empty() {
        Value::Null
    } else {
        r.json()
    };
    (r.status, v)
}

pub const RW: &[ApiScope] = &[ApiScope::Read, ApiScope::Write];

/// A member of the "shop" workspace with this role, signed in.
pub async fn member<'a>(app: &'a TestApp, email: &str, role: vouch_core::Role) -> Browser<'a> {
    let mut c = app.db.store.read().await.unwrap();
    let ws = vouch_store::workspaces::by_slug(&mut c, "shop")
        .await
        .unwrap()
        .unwrap();
    drop(c);
    let hash = vouch_core::password::hash(PASSWORD);
    commands::add_member(
        &app.db.store,
        ws.id,
        &vouch_core::Email::parse(email).unwrap(),
        role,
        Some(&hash),
        &Actor::cli(),
    )
    .await
    .unwrap();
    let mut b = Browser::new(app);
    assert_eq!(b.sign_in(email, PASSWORD).await.location(), "/admin");
    b
}

/// The first public id in a page that starts with `prefix` right after `before` (a link path
/// such as `/admin/programs/` with `prg_`), read to its end rather than by a fixed length.
pub fn public_id(body: &str, before: &str, prefix: &str) -> String {
    let at = body
        .find(&format!("{before}{prefix}"))
        .unwrap_or_else(|| panic!("no {before}{prefix}… in {body}"))
        + before.len();
    body[at..]
        .split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
        .next()
        .unwrap()
        .to_string()
}
