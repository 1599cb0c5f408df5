//! The rewards API end to end in-process: reward rules in a program, a conversion that earns
//! double-sided rewards, the approval queue, entitlements, a campaign, a code pool, a payout
//! with its CSV, the ledger — and no read or write across workspaces.

mod common;

use axum::http::StatusCode;
use common::{RW, TestApp, call, key};
use serde_json::{Value, json};

fn rules() -> Value {
    json!({ "destinations": ["https://shop.example.com/"], "default_destination": "https://shop.example.com/",
        "attribution_window_days": 30, "attribution_model": "last_touch", "conversion": { "kind": "first_purchase" },
        "eligibility": "anyone",
        "rewards": { "rules": [
            { "key": "advocate", "beneficiary": "advocate", "trigger": { "on": "qualified_referral" },
              "grants": [{ "type": "cash", "amount": { "type": "fixed", "minor": 1000 } }] },
            { "key": "friend", "beneficiary": "friend", "trigger": { "on": "first_purchase" },
              "grants": [{ "type": "feature", "name": "premium", "duration_days": 90 }] } ] } })
}

async fn program_and_advocate(app: &TestApp, k: &str) -> (String, Value) {
    let (s, p) = call(
        app,
        "POST",
        "/api/v1/programs",
        k,
        Some(json!({ "name": "Friends", "status": "active", "rules": rules() })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let pid = p["id"].as_str().unwrap().to_string();
    let (s, a) = call(
        app,
        "POST",
        "/api/v1/advocates",
        k,
        Some(
            json!({ "program": pid, "customer": { "email": "anna@example.com", "name": "Anna" } }),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    (pid, a)
}

#[tokio::test]
async fn rewards_from_conversion_to_payout_through_the_api() {
    let app = TestApp::new().await;
    let k = key(&app, "Shop", RW).await;
    let (pid, adv) = program_and_advocate(&app, &k).await;

    // Bad reward rules are refused with the field to fix.
    let mut bad = rules();
    bad["rewards"]["hold_days"] = json!(5);
    let (s, e) = call(
        &app,
        "PATCH",
        &format!("/api/v1/programs/{pid}"),
        &k,
        Some(json!({ "rules": bad })),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(e.to_string().contains("rewards.hold_days"), "{e}");

    // The preview says what an advocate would earn.
    let (s, p) = call(
        &app,
        "POST",
        &format!("/api/v1/programs/{pid}/reward-preview"),
        &k,
        Some(json!({ "advocate_referrals": 4 })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["decisions"][0]["grant"]["amount_minor"], 1000);

    // A purchase 40 days ago: the hold (30 days) is over on arrival.
    let at = vouch_core::clock::rfc3339(vouch_core::clock::now_ms() - 40 * 86_400_000);
    let (s, conv) = call(
        &app,
        "POST",
        "/api/v1/conversions",
        &k,
        Some(json!({ "external_id": "o-1", "amount_minor": 5000,
        "customer": { "email": "bob@example.com" }, "code": adv["code"], "occurred_at": at })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{conv}");
    assert_eq!(conv["rewards"].as_array().unwrap().len(), 2, "{conv}");
    let (_, list) = call(&app, "GET", "/api/v1/rewards", &k, None).await;
    let cash = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "cash")
        .unwrap()
        .clone();
    assert_eq!(
        (cash["status"].as_str(), cash["reason"].as_str()),
        (Some("approved"), Some("payable: paid with the next payout"))
    );
    let (s, one) = call(
        &app,
        "GET",
        &format!("/api/v1/rewards/{}", cash["id"].as_str().unwrap()),
        &k,
        None,
    )
    .await;
    assert_eq!(
        (s, one["amount_minor"].as_i64()),
        (StatusCode::OK, Some(1000))
    );

    // The friend's premium feature is readable by the business's system.
    let (_, customers) = call(&app, "GET", "/api/v1/customers", &k, None).await;
    let bob = customers["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["email"] == "bob@example.com")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, ent) = call(
        &app,
        "GET",
        &format!("/api/v1/customers/{bob}/entitlements"),
        &k,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ent[0]["feature"], "premium");

    // Bob has no credit to spend (his reward is a feature): refused with a code.
    let (s, e) = call(
        &app,
        "POST",
        &format!("/api/v1/customers/{bob}/credit-redemptions"),
        &k,
        Some(json!({ "amount_minor": 100, "currency": "EUR", "reference": "order-5" })),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("insufficient_credit")),
        "{e}"
    );

    // Decisions are all or nothing, with a code.
    let (s, e) = call(
        &app,
        "POST",
        "/api/v1/rewards/decisions",
        &k,
        Some(json!({ "rewards": [cash["id"]], "decision": "approve" })),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_pending"))
    );
    let (s, e) = call(
        &app,
        "POST",
        "/api/v1/rewards/decisions",
        &k,
        Some(json!({ "rewards": [cash["id"]], "decision": "maybe" })),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid"))
    );

    // A campaign in the workspace's time zone; a bad one names every field to fix.
    let (s, e) = call(&app, "POST", "/api/v1/campaigns", &k, Some(json!({ "name": "Sprint", "programs": [pid],
        "starts_at": "Friday", "ends_at": "2026-12-11T18:00", "effect": { "type": "multiplier", "bps": 20000 } }))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(e.to_string().contains("starts_at"), "{e}");
    let (s, cmp) = call(&app, "POST", "/api/v1/campaigns", &k, Some(json!({ "name": "Sprint", "programs": [pid], "time_zone": "Europe/Paris",
        "starts_at": "2030-12-04T18:00", "ends_at": "2030-12-11T18:00", "effect": { "type": "multiplier", "bps": 20000 } }))).await;
    assert_eq!(s, StatusCode::CREATED, "{cmp}");
    assert_eq!(
        (cmp["status"].as_str(), cmp["starts_at"].as_str()),
        (Some("scheduled"), Some("2030-12-04T17:00:00Z"))
    );
    assert_eq!(
        cmp["headline"],
        "Double rewards until Wednesday 11 December 18:00"
    );
    let (s, _) = call(
        &app,
        "POST",
        &format!("/api/v1/campaigns/{}/cancel", cmp["id"].as_str().unwrap()),
        &k,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    // A code pool.
    let (s, pool) = call(
        &app,
        "POST",
        "/api/v1/code-pools",
        &k,
        Some(json!({ "key": "welcome", "name": "Welcome", "low_stock_threshold": 1 })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{pool}");
    let (s, r) = call(
        &app,
        "POST",
        &format!("/api/v1/code-pools/{}/codes", pool["id"].as_str().unwrap()),
        &k,
        Some(json!({ "codes": ["A-1", "A-2"] })),
    )
    .await;
    assert_eq!((s, r["added"].as_i64()), (StatusCode::OK, Some(2)));
    let (_, pools) = call(&app, "GET", "/api/v1/code-pools", &k, None).await;
    assert_eq!(pools[0]["available"], 2);
    let (s, e) = call(
        &app,
        "POST",
        "/api/v1/code-pools",
        &k,
        Some(json!({ "key": "gen", "name": "G", "pattern": "X-##" })),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");

    // A payout: preview, confirm (idempotent), CSV, paid.
    let (_, pv) = call(
        &app,
        "GET",
        "/api/v1/payouts/preview?currency=EUR&minimum_minor=500",
        &k,
        None,
    )
    .await;
    assert_eq!(pv["total_minor"], 1000);
    let (s, pay) = call(
        &app,
        "POST",
        "/api/v1/payouts",
        &k,
        Some(json!({ "batch_key": "2026-12", "currency": "EUR" })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{pay}");
    let (s, again) = call(
        &app,
        "POST",
        "/api/v1/payouts",
        &k,
        Some(json!({ "batch_key": "2026-12", "currency": "EUR" })),
    )
    .await;
    assert_eq!((s, &again["id"]), (StatusCode::OK, &pay["id"]));
    let (s, e) = call(
        &app,
        "POST",
        "/api/v1/payouts",
        &k,
        Some(json!({ "batch_key": "2026-12b", "currency": "EUR" })),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("nothing_to_pay"))
    );
    let pay_id = pay["id"].as_str().unwrap();
    let csv = app
        .api(
            "GET",
            &format!("/api/v1/payouts/{pay_id}/export"),
            Some(&k),
            None,
        )
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.body.contains("anna@example.com,Anna,10.00,EUR"),
        "{}",
        csv.body
    );
    let (s, paid) = call(
        &app,
        "POST",
        &format!("/api/v1/payouts/{pay_id}/paid"),
        &k,
        Some(json!({ "reference": "SEPA-1" })),
    )
    .await;
    assert_eq!((s, paid["status"].as_str()), (StatusCode::OK, Some("paid")));

    // The ledger: balanced entries, balances now and before.
    let (_, entries) = call(&app, "GET", "/api/v1/ledger/entries?limit=200", &k, None).await;
    let sum: i64 = entries["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["amount_minor"].as_i64().unwrap())
        .sum();
    assert_eq!(sum, 0);
    let (_, balances) = call(&app, "GET", "/api/v1/ledger/balances", &k, None).await;
    let paid_out = balances
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["account"] == "paid_out")
        .unwrap();
    assert_eq!(paid_out["balance_minor"], 1000);
    let (_, before) = call(
        &app,
        "GET",
        "/api/v1/ledger/balances?at=2000-01-01T00:00:00Z",
        &k,
        None,
    )
    .await;
    assert!(
        before
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["balance_minor"] == 0)
    );
}

#[tokio::test]
async fn no_rewards_read_or_write_crosses_workspaces() {
    let app = TestApp::new().await;
    let a = key(&app, "Shop A", RW).await;
    let b = key(&app, "Shop B", RW).await;
    let (pid, adv) = program_and_advocate(&app, &a).await;
    let at = vouch_core::clock::rfc3339(vouch_core::clock::now_ms() - 40 * 86_400_000);
    call(
        &app,
        "POST",
        "/api/v1/conversions",
        &a,
        Some(json!({ "external_id": "o-1", "amount_minor": 5000,
        "customer": { "email": "bob@example.com" }, "code": adv["code"], "occurred_at": at })),
    )
    .await;
    let (_, list) = call(&app, "GET", "/api/v1/rewards", &a, None).await;
    let rid = list["data"][0]["id"].as_str().unwrap().to_string();
    let (_, pool) = call(
        &app,
        "POST",
        "/api/v1/code-pools",
        &a,
        Some(json!({ "key": "welcome", "name": "Welcome" })),
    )
    .await;
    let (_, cmp) = call(&app, "POST", "/api/v1/campaigns", &a, Some(json!({ "name": "S", "programs": [pid],
        "starts_at": "2030-01-01T00:00:00Z", "ends_at": "2030-02-01T00:00:00Z", "effect": { "type": "bonus", "amount_minor": 100 } }))).await;
    let (_, pay) = call(
        &app,
        "POST",
        "/api/v1/payouts",
        &a,
        Some(json!({ "batch_key": "k", "currency": "EUR" })),
    )
    .await;
    let (_, customers) = call(&app, "GET", "/api/v1/customers", &a, None).await;
    let cust = customers["data"][0]["id"].as_str().unwrap().to_string();

    assert_eq!(
        call(&app, "GET", "/api/v1/rewards", &b, None).await.1["data"],
        json!([])
    );
    for path in [
        format!("/api/v1/rewards/{rid}"),
        format!("/api/v1/customers/{cust}/entitlements"),
        format!("/api/v1/campaigns/{}", cmp["id"].as_str().unwrap()),
        format!("/api/v1/payouts/{}", pay["id"].as_str().unwrap()),
        format!("/api/v1/payouts/{}/export", pay["id"].as_str().unwrap()),
        format!("/api/v1/rewards?customer={cust}"),
        format!("/api/v1/ledger/entries?customer={cust}"),
    ] {
        assert_eq!(
            call(&app, "GET", &path, &b, None).await.0,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    for (path, body) in [
        (
            "/api/v1/rewards/decisions".to_string(),
            json!({ "rewards": [rid], "decision": "void" }),
        ),
        (
            format!("/api/v1/campaigns/{}/cancel", cmp["id"].as_str().unwrap()),
            json!(null),
        ),
        (
            format!("/api/v1/code-pools/{}/codes", pool["id"].as_str().unwrap()),
            json!({ "codes": ["X"] }),
        ),
        (
            format!("/api/v1/payouts/{}/paid", pay["id"].as_str().unwrap()),
            json!({ "reference": "x" }),
        ),
        (
            format!("/api/v1/payouts/{}/cancel", pay["id"].as_str().unwrap()),
            json!(null),
        ),
        (
            format!("/api/v1/programs/{pid}/reward-preview"),
            json!({ "advocate_referrals": 1 }),
        ),
        (
            format!("/api/v1/customers/{cust}/credit-redemptions"),
            json!({ "amount_minor": 1, "currency": "EUR", "reference": "x" }),
        ),
    ] {
        let body = if body.is_null() { None } else { Some(body) };
        assert_eq!(
            call(&app, "POST", &path, &b, body).await.0,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let (s, e) = call(&app, "POST", "/api/v1/campaigns", &b, Some(json!({ "name": "S", "programs": [pid],
        "starts_at": "2030-01-01T00:00:00Z", "ends_at": "2030-02-01T00:00:00Z", "effect": { "type": "bonus", "amount_minor": 100 } }))).await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "A's program is not B's: {e}"
    );
    assert_eq!(
        call(&app, "GET", "/api/v1/ledger/balances", &b, None)
            .await
            .1,
        json!([])
    );
    assert_eq!(
        call(&app, "GET", "/api/v1/code-pools", &b, None).await.1,
        json!([])
    );
    assert_eq!(
        call(&app, "GET", "/api/v1/payouts", &b, None).await.1["data"],
        json!([])
    );
    assert_eq!(
        call(&app, "GET", "/api/v1/campaigns", &b, None).await.1["data"],
        json!([])
    );
}
