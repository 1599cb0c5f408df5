//! The JSON API in-process: keys, scopes, tenant isolation, error shapes, the OpenAPI document.

mod common;

use axum::http::StatusCode;
use common::{Browser, TestApp};
use serde_json::json;
use vouch_core::{ApiScope, Email, Role, Slug};
use vouch_store::audit::Actor;
use vouch_store::commands;

async fn workspace_with_key(app: &TestApp, name: &str, scopes: &[ApiScope]) -> (i64, String) {
    let slug = Slug::from_name(name).unwrap();
    let (ws, _) =
        commands::create_workspace(&app.db.store, name, &slug, None, &Actor::cli(), false)
            .await
            .unwrap();
    let email = Email::parse(&format!("owner@{}.example.com", slug.as_str())).unwrap();
    commands::add_member(
        &app.db.store,
        ws.id,
        &email,
        Role::Owner,
        Some("h"),
        &Actor::cli(),
    )
    .await
    .unwrap();
    let (_, secret) = commands::create_api_key(&app.db.store, ws.id, "test", scopes, &Actor::cli())
        .await
        .unwrap();
    (ws.id, secret.expose().to_string())
}

#[tokio::test]
async fn the_key_names_the_workspace() {
    let app = TestApp::new().await;
    let (_, key) = workspace_with_key(&app, "Anna's Bakery", &[ApiScope::Read]).await;
    let r = app.api("GET", "/api/v1/workspace", Some(&key), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let w = r.json();
    assert_eq!(
        (
            w["slug"].as_str(),
            w["name"].as_str(),
            w["currency"].as_str()
        ),
        (Some("anna-s-bakery"), Some("Anna's Bakery"), Some("EUR"))
    );
    assert!(w["id"].as_str().unwrap().starts_with("ws_"));
    assert!(w["created_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn missing_wrong_and_misplaced_keys_are_refused() {
    let app = TestApp::new().await;
    let (_, key) = workspace_with_key(&app, "Shop", &[ApiScope::Read]).await;
    for (auth, code) in [
        (None, "unauthorized"),
        (Some("vk_not-a-real-key"), "unauthorized"),
        (Some(""), "unauthorized"),
    ] {
        let r = app.api("GET", "/api/v1/workspace", auth, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.error_code(), code);
        assert!(!r.json()["error"]["message"].as_str().unwrap().is_empty());
    }
    let basic = app
        .send(
            axum::http::Request::get("/api/v1/workspace")
                .header("authorization", "Basic abc")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
    // A key in the URL is refused even when it is valid, so it is never used from logs.
    for q in [
        format!("api_key={key}"),
        format!("token={key}"),
        format!("x={key}"),
    ] {
        let r = app
            .api("GET", &format!("/api/v1/workspace?{q}"), Some(&key), None)
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
        assert_eq!(r.error_code(), "api_key_in_query");
    }
}

#[tokio::test]
async fn api_key_lifecycle_from_the_admin() {
    let app = TestApp::new().await;
    let (mut b, csrf) = Browser::shop_owner(&app).await;
    let created = b
        .post(
            "/admin/api-keys",
            &[("csrf", &csrf), ("name", "Shop sync"), ("write", "1")],
        )
        .await;
    assert_eq!(created.status, StatusCode::OK);
    assert_eq!(created.headers.get("cache-control").unwrap(), "no-store");
    let at = created.body.find("<code id=\"new-key\">").unwrap() + 19;
    let key = created.body[at..].split('<').next().unwrap().to_string();
    assert!(key.starts_with("vk_") && key.len() >= 35);
    // Shown once: the list afterwards has the prefix only.
    let list = b.get("/admin/api-keys").await;
    assert!(!list.body.contains(&key));
    assert!(list.body.contains(&key[..11]));
    // The store holds a hash, not the key.
    let mut c = app.db.store.read().await.unwrap();
    let keys = vouch_store::accounts::api_keys(&mut c, 1).await.unwrap();
    drop(c);
    assert_eq!(keys.len(), 1);
    assert_ne!(keys[0].key_hash, key);
    assert_eq!(
        keys[0].key_hash,
        vouch_core::Secret::presented(key.clone()).hash().0
    );

    let r = app
        .api(
            "PATCH",
            "/api/v1/workspace",
            Some(&key),
            Some(r#"{"name": "Shop via API"}"#),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["name"], "Shop via API");
    let audit = app
        .api("GET", "/api/v1/audit-log?limit=1", Some(&key), None)
        .await
        .json();
    assert_eq!(audit["data"][0]["action"], "workspace.updated");
    assert_eq!(audit["data"][0]["actor_kind"], "api_key");
    assert_eq!(audit["data"][0]["actor"], "Shop sync");
    assert!(
        !b.get("/admin/api-keys").await.body.contains("never"),
        "last use is shown"
    );

    let revoke = b
        .post(
            &format!("/admin/api-keys/{}/revoke", keys[0].public_id),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(revoke.location(), "/admin/api-keys?done=key-revoked");
    let r = app.api("GET", "/api/v1/workspace", Some(&key), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let audit = b.get("/admin/audit").await.body;
    assert!(audit.contains("api_key.created") && audit.contains("api_key.revoked"));
}

#[tokio::test]
async fn read_keys_cannot_write() {
    let app = TestApp::new().await;
    let (_, key) = workspace_with_key(&app, "Shop", &[ApiScope::Read]).await;
    let r = app
        .api(
            "PATCH",
            "/api/v1/workspace",
            Some(&key),
            Some(r#"{"name": "x"}"#),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.error_code(), "insufficient_scope");
}

#[tokio::test]
async fn no_read_or_write_crosses_between_workspaces() {
    let app = TestApp::new().await;
    let (a_id, a) =
        workspace_with_key(&app, "Anna's Bakery", &[ApiScope::Read, ApiScope::Write]).await;
    let (b_id, b) =
        workspace_with_key(&app, "Bob's Bikes", &[ApiScope::Read, ApiScope::Write]).await;
    assert_ne!(a_id, b_id);
    assert_eq!(
        app.api("GET", "/api/v1/workspace", Some(&a), None)
            .await
            .json()["slug"],
        "anna-s-bakery"
    );
    assert_eq!(
        app.api("GET", "/api/v1/workspace", Some(&b), None)
            .await
            .json()["slug"],
        "bob-s-bikes"
    );
    let r = app
        .api(
            "PATCH",
            "/api/v1/workspace",
            Some(&a),
            Some(r#"{"time_zone": "Europe/Paris"}"#),
        )
        .await;
    assert_eq!(r.json()["time_zone"], "Europe/Paris");
    assert_eq!(
        app.api("GET", "/api/v1/workspace", Some(&b), None)
            .await
            .json()["time_zone"],
        "UTC",
        "B unchanged"
    );
    let members_a = app
        .api("GET", "/api/v1/members", Some(&a), None)
        .await
        .json();
    let emails: Vec<_> = members_a["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(emails, ["owner@anna-s-bakery.example.com"]);
    let audit_b = app
        .api("GET", "/api/v1/audit-log", Some(&b), None)
        .await
        .json();
    for e in audit_b["data"].as_array().unwrap() {
        assert!(
            !e["details"].to_string().contains("anna"),
            "B sees A's audit entry: {e}"
        );
    }
    assert!(
        audit_b["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["action"] != "workspace.updated")
    );
}

#[tokio::test]
async fn errors_are_json_with_stable_codes() {
    let app = TestApp::new().await;
    let (_, key) = workspace_with_key(&app, "Shop", &[ApiScope::Read, ApiScope::Write]).await;
    let cases = [
        (
            "PATCH",
            "/api/v1/workspace",
            Some("{not json"),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "PATCH",
            "/api/v1/workspace",
            Some(r#"{"nmae": "typo"}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_field",
        ),
        (
            "PATCH",
            "/api/v1/workspace",
            Some(r#"{"name": 5}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "PATCH",
            "/api/v1/workspace",
            Some(r#"{"currency": "XYZ", "time_zone": "Nowhere/Town"}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "GET",
            "/api/v1/nothing-here",
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "DELETE",
            "/api/v1/workspace",
            None,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            "GET",
            "/api/v1/audit-log?limit=9999",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "GET",
            "/api/v1/audit-log?limit=abc",
            None,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "GET",
            "/api/v1/audit-log?cursor=abc",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let r = app.api(method, path, Some(&key), body).await;
        assert_eq!(r.status, status, "{method} {path} {body:?}: {}", r.body);
        assert_eq!(r.error_code(), code, "{method} {path}: {}", r.body);
        assert!(
            r.json()["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    let r = app
        .api(
            "PATCH",
            "/api/v1/workspace",
            Some(&key),
            Some(r#"{"currency": "XYZ", "time_zone": "Nowhere/Town"}"#),
        )
        .await;
    let fields: Vec<_> = r.json()["error"]["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(fields, ["currency", "time_zone"]);
    let plain = app
        .send(
            axum::http::Request::patch("/api/v1/workspace")
                .header("authorization", format!("Bearer {key}"))
                .body(axum::body::Body::from("{}"))
                .unwrap(),
        )
        .await;
    assert_eq!(
        (plain.status, plain.error_code().as_str()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
    // Nothing of a refused change was written.
    assert_eq!(
        app.api("GET", "/api/v1/workspace", Some(&key), None)
            .await
            .json()["currency"],
        "EUR"
    );
    // Conflicts from the store map to 409 with the stable code.
    let e = vouch_web::error::ApiError::from(vouch_store::StoreError::Conflict(
        "a workspace with this slug",
    ));
    assert_eq!((e.status, e.code), (StatusCode::CONFLICT, "conflict"));
}

#[tokio::test]
async fn audit_log_pages_by_cursor() {
    let app = TestApp::new().await;
    let (_, key) = workspace_with_key(&app, "Shop", &[ApiScope::Read, ApiScope::Write]).await;
    for i in 0..3 {
        app.api(
            "PATCH",
            "/api/v1/workspace",
            Some(&key),
            Some(&json!({ "name": format!("Shop {i}") }).to_string()),
        )
        .await;
    }
    let first = app
        .api("GET", "/api/v1/audit-log?limit=2", Some(&key), None)
        .await
        .json();
    assert_eq!(first["data"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = app
        .api(
            "GET",
            &format!("/api/v1/audit-log?limit=2&cursor={cursor}"),
            Some(&key),
            None,
        )
        .await
        .json();
    assert!(second["data"][0]["id"].as_i64().unwrap() < first["data"][1]["id"].as_i64().unwrap());
    let all = app
        .api("GET", "/api/v1/audit-log?limit=200", Some(&key), None)
        .await
        .json();
    assert!(all["next_cursor"].is_null());
}

#[tokio::test]
async fn openapi_document_matches_its_snapshot_and_the_routes() {
    let app = TestApp::new().await;
    let r = app.api("GET", "/api/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = r.json();
    insta::assert_snapshot!("openapi", serde_json::to_string_pretty(&doc).unwrap());
    // Every documented operation is routed, and every routed API path is documented.
    let paths = doc["paths"].as_object().unwrap();
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            let r = app.api(&method.to_uppercase(), path, None, None).await;
            assert_ne!(
                r.error_code(),
                "not_found",
                "{method} {path} is documented but not routed"
            );
            assert_ne!(
                r.error_code(),
                "method_not_allowed",
                "{method} {path} is documented but not routed"
            );
        }
    }
    for path in [
        "/api/v1/workspace",
        "/api/v1/members",
        "/api/v1/audit-log",
        "/api/v1/programs",
        "/api/v1/programs/{id}",
        "/api/v1/customers",
        "/api/v1/customers/{id}",
        "/api/v1/advocates",
        "/api/v1/advocates/{id}",
        "/api/v1/clicks",
        "/api/v1/conversions",
        "/api/v1/conversions/{id}",
        "/api/v1/conversions/{id}/attribution",
        "/api/v1/referrals",
        "/api/v1/referrals/{id}",
        "/api/v1/referrals/{id}/attribution",
        "/api/v1/review-queue",
        "/api/v1/review-queue/decisions",
        "/api/v1/customers/{id}/entitlements",
        "/api/v1/rewards",
        "/api/v1/rewards/decisions",
        "/api/v1/rewards/{id}",
        "/api/v1/programs/{id}/reward-preview",
        "/api/v1/campaigns",
        "/api/v1/campaigns/{id}",
        "/api/v1/campaigns/{id}/cancel",
        "/api/v1/code-pools",
        "/api/v1/code-pools/{id}/codes",
        "/api/v1/discount-codes/{code}/redemption",
        "/api/v1/payouts",
        "/api/v1/payouts/preview",
        "/api/v1/payouts/{id}",
        "/api/v1/payouts/{id}/export",
        "/api/v1/payouts/{id}/paid",
        "/api/v1/payouts/{id}/cancel",
        "/api/v1/ledger/entries",
        "/api/v1/ledger/balances",
        "/api/v1/customers/{id}/credit-redemptions",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} is routed but not documented"
        );
    }
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
}

#[tokio::test]
async fn health_metrics_and_request_ids() {
    let app = TestApp::new().await;
    assert_eq!(
        app.api("GET", "/healthz", None, None).await.json()["status"],
        "ok"
    );
    assert_eq!(
        app.api("GET", "/readyz", None, None).await.json()["status"],
        "ready"
    );
    app.api("GET", "/api/v1/workspace", None, None).await;
    let r = app
        .send(
            axum::http::Request::get("/healthz")
                .header("x-request-id", "req-123")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.headers.get("x-request-id").unwrap(), "req-123");
    let fresh = app.api("GET", "/healthz", None, None).await;
    assert_eq!(fresh.headers.get("x-request-id").unwrap().len(), 16);
    let evil = app
        .send(
            axum::http::Request::get("/healthz")
                .header("x-request-id", "a b\"c")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_ne!(evil.headers.get("x-request-id").unwrap(), "a b\"c");
    app.api("GET", "/admin/members/42/role", None, None).await;
    let metrics = app.api("GET", "/metrics", None, None).await.body;
    assert!(
        metrics.contains(
            r#"vouch_http_requests_total{method="GET",route="/api/v1/workspace",status="401"} 1"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains(r#"route="/healthz""#));
    assert!(
        !metrics.contains("/admin/members/42"),
        "labels are routes, never raw paths"
    );
    assert!(
        metrics.contains("vouch_jobs{status=\"queued\"}")
            || metrics.contains("# TYPE vouch_jobs gauge")
    );
}
