//! The tracking API end to end in-process: program → advocate → click → conversion →
//! referral with its trace, duplicates and refunds, and no read or write across workspaces.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{RW, TestApp, call, key};
use serde_json::{Value, json};
use vouch_core::ApiScope;

const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";

fn rules() -> Value {
    json!({ "destinations": ["https://shop.example.com/welcome"], "default_destination": "https://shop.example.com/welcome",
            "attribution_window_days": 30, "attribution_model": "last_touch",
            "conversion": { "kind": "first_purchase", "min_amount_minor": 1000 }, "eligibility": "anyone",
            "friend_offer": "10% off" })
}

#[tokio::test]
async fn from_program_to_credited_referral_through_the_api() {
    let app = TestApp::new().await;
    let k = key(&app, "Shop", RW).await;
    let (s, program) = call(
        &app,
        "POST",
        "/api/v1/programs",
        &k,
        Some(json!({ "name": "Friends", "status": "active", "rules": rules() })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{program}");
    assert_eq!(
        (program["version"].as_i64(), program["status"].as_str()),
        (Some(1), Some("active"))
    );
    let pid = program["id"].as_str().unwrap();

    let (s, adv) = call(&app, "POST", "/api/v1/advocates", &k, Some(json!({ "program": pid, "customer": { "email": "anna@example.com", "name": "Anna" }, "vanity_code": "anna10" }))).await;
    assert_eq!(s, StatusCode::CREATED, "{adv}");
    assert_eq!(adv["vanity_code"], "ANNA10");
    assert_eq!(adv["link"], "http://127.0.0.1:8080/r/ANNA10");
    let (s, again) = call(
        &app,
        "POST",
        "/api/v1/advocates",
        &k,
        Some(json!({ "program": pid, "customer": { "email": "ANNA@example.com" } })),
    )
    .await;
    assert_eq!(
        (s, again["id"].clone()),
        (StatusCode::OK, adv["id"].clone()),
        "enrolling twice keeps the advocate"
    );
    let (s, posing) = call(&app, "POST", "/api/v1/advocates", &k, Some(json!({ "program": pid, "customer": { "email": "carl@example.com" }, "vanity_code": "ANNA10" }))).await;
    assert_eq!(
        (s, posing["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("vanity_impersonation"))
    );
    let (s, taken) = call(&app, "POST", "/api/v1/advocates", &k, Some(json!({ "program": pid, "customer": { "email": "carl@example.com" }, "vanity_code": adv["code"] }))).await;
    assert_eq!(
        (s, taken["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );

    // The friend follows the vanity link; the click id rides to the shop and back in the conversion.
    let visit = app
        .send(
            Request::get("/r/anna10")
                .header(header::USER_AGENT, CHROME)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(visit.status, StatusCode::FOUND);
    let loc = url::Url::parse(visit.location()).unwrap();
    let click_id = loc
        .query_pairs()
        .find(|(k, _)| k == "vouch_click")
        .unwrap()
        .1
        .to_string();
    app.state.clicks.flush().await;
    let (_, clicks) = call(
        &app,
        "GET",
        &format!("/api/v1/clicks?advocate={}", adv["id"].as_str().unwrap()),
        &k,
        None,
    )
    .await;
    assert_eq!(clicks["data"][0]["id"], click_id.as_str());
    // A filter a list does not have is an error to fix, never a silently unfiltered page.
    let (s, refused) = call(
        &app,
        "GET",
        &format!("/api/v1/clicks?program={pid}"),
        &k,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["code"], "invalid");
    assert!(
        refused
            .to_string()
            .contains("this list filters by advocate only; remove program"),
        "{refused}"
    );
    let (s, refused) = call(&app, "GET", "/api/v1/customers?status=qualified", &k, None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(
        refused
            .to_string()
            .contains("this list has no filters; remove status"),
        "{refused}"
    );

    let conversion = json!({ "external_id": "order-1", "amount_minor": 4500, "currency": "eur", "customer": { "email": "bob@example.com", "external_id": "shop-77" }, "click_id": click_id });
    let (s, conv) = call(
        &app,
        "POST",
        "/api/v1/conversions",
        &k,
        Some(conversion.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{conv}");
    assert_eq!(
        (conv["status"].as_str(), conv["currency"].as_str()),
        (Some("attributed"), Some("EUR"))
    );
    let (s, dup) = call(&app, "POST", "/api/v1/conversions", &k, Some(conversion)).await;
    assert_eq!(
        (s, dup["id"].clone(), dup["duplicate"].as_bool()),
        (StatusCode::OK, conv["id"].clone(), Some(true))
    );

    let (_, referral) = call(
        &app,
        "GET",
        &format!("/api/v1/referrals/{}", conv["referral"].as_str().unwrap()),
        &k,
        None,
    )
    .await;
    assert_eq!(
        (
            referral["status"].as_str(),
            referral["source"].as_str(),
            referral["fraud_verdict"].as_str()
        ),
        (Some("qualified"), Some("link"), Some("approved"))
    );
    assert_eq!(referral["trace"]["winner"], "click_id");
    assert_eq!(referral["trace"]["seen"][0]["click_id"], click_id.as_str());
    let (_, why) = call(
        &app,
        "GET",
        &format!(
            "/api/v1/conversions/{}/attribution",
            conv["id"].as_str().unwrap()
        ),
        &k,
        None,
    )
    .await;
    assert!(
        why["attribution"]["explanation"]
            .as_str()
            .unwrap()
            .contains("click id")
    );

    let (s, refund) = call(
        &app,
        "POST",
        "/api/v1/conversions",
        &k,
        Some(json!({ "external_id": "refund-1", "type": "refund", "reverses": "order-1" })),
    )
    .await;
    assert_eq!(
        (s, refund["status"].as_str()),
        (StatusCode::CREATED, Some("reversed"))
    );
    let (_, referral) = call(
        &app,
        "GET",
        &format!("/api/v1/referrals/{}", conv["referral"].as_str().unwrap()),
        &k,
        None,
    )
    .await;
    assert_eq!(referral["status"], "reversed");
    let (s, _) = call(
        &app,
        "POST",
        "/api/v1/conversions",
        &k,
        Some(json!({ "external_id": "refund-2", "type": "refund", "reverses": "no-such-order" })),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::ACCEPTED,
        "a refund that overtakes its order is held"
    );

    // New rules make version 2 and take effect on the redirect at once.
    let mut new_rules = rules();
    new_rules["attribution_window_days"] = json!(7);
    let (s, p2) = call(
        &app,
        "PATCH",
        &format!("/api/v1/programs/{pid}"),
        &k,
        Some(json!({ "rules": new_rules })),
    )
    .await;
    assert_eq!((s, p2["version"].as_i64()), (StatusCode::OK, Some(2)));
    let visit = app
        .send(
            Request::get("/r/ANNA10")
                .header(header::USER_AGENT, CHROME)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let cookie = visit
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("vouch_ref="))
        .unwrap();
    assert!(cookie.contains("Max-Age=604800"), "{cookie}");
}

#[tokio::test]
async fn bad_programs_and_conversions_say_what_to_fix() {
    let app = TestApp::new().await;
    let k = key(&app, "Shop", RW).await;
    let mut bad = rules();
    bad["destinations"] = json!(["javascript:alert(1)"]);
    bad["attribution_window_days"] = json!(0);
    let (s, e) = call(
        &app,
        "POST",
        "/api/v1/programs",
        &k,
        Some(json!({ "name": "P", "rules": bad })),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid"))
    );
    let fields: Vec<_> = e["error"]["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_string())
        .collect();
    assert!(
        fields.contains(&"destinations".to_string())
            && fields.contains(&"attribution_window_days".to_string()),
        "{fields:?}"
    );
    let mut typo = rules();
    typo["attribution_windw_days"] = json!(3);
    let (s, e) = call(
        &app,
        "POST",
        "/api/v1/programs",
        &k,
        Some(json!({ "name": "P", "rules": typo })),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_field"))
    );
    for (body, field) in [
        (
            json!({ "external_id": "", "customer": { "email": "b@example.com" } }),
            "external_id",
        ),
        (json!({ "external_id": "o", "customer": {} }), "customer"),
        (
            json!({ "external_id": "o", "customer": { "email": "nope" } }),
            "email",
        ),
        (
            json!({ "external_id": "o", "type": "gift", "customer": { "email": "b@example.com" } }),
            "type",
        ),
        (
            json!({ "external_id": "o", "amount_minor": -5, "customer": { "email": "b@example.com" } }),
            "amount_minor",
        ),
        (
            json!({ "external_id": "o", "currency": "XYZ", "customer": { "email": "b@example.com" } }),
            "currency",
        ),
        (
            json!({ "external_id": "o", "occurred_at": "yesterday", "customer": { "email": "b@example.com" } }),
            "occurred_at",
        ),
        (json!({ "external_id": "o", "type": "refund" }), "reverses"),
    ] {
        let (s, e) = call(&app, "POST", "/api/v1/conversions", &k, Some(body.clone())).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {e}");
        assert_eq!(e["error"]["details"]["fields"][0]["field"], field, "{body}");
    }
    let (_, list) = call(&app, "GET", "/api/v1/conversions", &k, None).await;
    assert!(
        list["data"].as_array().unwrap().is_empty(),
        "nothing half-written"
    );
}

#[tokio::test]
async fn read_keys_cannot_create() {
    let app = TestApp::new().await;
    let k = key(&app, "Shop", &[ApiScope::Read]).await;
    for path in [
        "/api/v1/programs",
        "/api/v1/customers",
        "/api/v1/advocates",
        "/api/v1/conversions",
    ] {
        let (s, e) = call(&app, "POST", path, &k, Some(json!({}))).await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("insufficient_scope")),
            "{path}"
        );
    }
}

#[tokio::test]
async fn no_tracking_read_or_write_crosses_workspaces() {
    let app = TestApp::new().await;
    let a = key(&app, "Shop A", RW).await;
    let b = key(&app, "Shop B", RW).await;
    let (_, program) = call(
        &app,
        "POST",
        "/api/v1/programs",
        &a,
        Some(json!({ "name": "A's", "status": "active", "rules": rules() })),
    )
    .await;
    let pid = program["id"].as_str().unwrap().to_string();
    let (_, adv) = call(
        &app,
        "POST",
        "/api/v1/advocates",
        &a,
        Some(json!({ "program": pid, "customer": { "email": "anna@example.com" } })),
    )
    .await;
    let (_, cust) = call(
        &app,
        "POST",
        "/api/v1/customers",
        &a,
        Some(json!({ "email": "zoe@example.com", "attributes": { "tier": "gold" } })),
    )
    .await;
    let (_, conv) = call(&app, "POST", "/api/v1/conversions", &a, Some(json!({ "external_id": "order-1", "amount_minor": 5000, "customer": { "email": "bob@example.com" }, "code": adv["code"] }))).await;
    assert_eq!(conv["status"], "attributed");
    let aid = adv["id"].as_str().unwrap();
    let gets = [
        format!("/api/v1/programs/{pid}"),
        format!("/api/v1/advocates/{aid}"),
        format!("/api/v1/customers/{}", cust["id"].as_str().unwrap()),
        format!("/api/v1/conversions/{}", conv["id"].as_str().unwrap()),
        format!(
            "/api/v1/conversions/{}/attribution",
            conv["id"].as_str().unwrap()
        ),
        format!("/api/v1/referrals/{}", conv["referral"].as_str().unwrap()),
        format!("/api/v1/clicks?advocate={aid}"),
        format!("/api/v1/referrals?advocate={aid}"),
        format!("/api/v1/advocates?program={pid}"),
    ];
    for path in &gets {
        let (s, e) = call(&app, "GET", path, &b, None).await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found")),
            "{path} leaked to B: {e}"
        );
        assert_eq!(
            call(&app, "GET", path, &a, None).await.0,
            StatusCode::OK,
            "{path} for A"
        );
    }
    for list in [
        "/api/v1/programs",
        "/api/v1/customers",
        "/api/v1/advocates",
        "/api/v1/clicks",
        "/api/v1/conversions",
        "/api/v1/referrals",
    ] {
        let (_, page) = call(&app, "GET", list, &b, None).await;
        assert!(
            page["data"].as_array().unwrap().is_empty(),
            "{list} shows A's data to B"
        );
    }
    let (s, _) = call(
        &app,
        "PATCH",
        &format!("/api/v1/programs/{pid}"),
        &b,
        Some(json!({ "status": "archived" })),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(
        &app,
        "POST",
        "/api/v1/advocates",
        &b,
        Some(json!({ "program": pid, "customer": { "email": "mallory@example.com" } })),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(
        &app,
        "POST",
        "/api/v1/conversions",
        &b,
        Some(json!({ "external_id": "refund-x", "type": "refund", "reverses": "order-9" })),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::ACCEPTED,
        "B's refund is held in B, not applied to A"
    );
    let (s, _) = call(
        &app,
        "POST",
        "/api/v1/conversions",
        &b,
        Some(json!({ "external_id": "refund-y", "type": "refund", "reverses": "order-1" })),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::ACCEPTED,
        "B cannot refund A's order: it waits for B's own order-1"
    );
    let (_, theirs) = call(&app, "POST", "/api/v1/conversions", &b, Some(json!({ "external_id": "order-1", "amount_minor": 5000, "customer": { "email": "bob@example.com" }, "code": adv["code"] }))).await;
    assert_eq!(
        (theirs["status"].as_str(), theirs["duplicate"].as_bool()),
        (Some("reversed"), None),
        "same external id, other workspace: separate (B's own held refund applies), and A's code means nothing in B"
    );
    assert!(theirs["referral"].is_null());
    assert_eq!(
        call(&app, "GET", &format!("/api/v1/programs/{pid}"), &a, None)
            .await
            .1["status"],
        "active"
    );
}

#[tokio::test]
async fn lists_page_by_cursor() {
    let app = TestApp::new().await;
    let k = key(&app, "Shop", RW).await;
    for i in 0..5 {
        call(
            &app,
            "POST",
            "/api/v1/customers",
            &k,
            Some(json!({ "email": format!("c{i}@example.com") })),
        )
        .await;
    }
    let (_, first) = call(&app, "GET", "/api/v1/customers?limit=2", &k, None).await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = call(
        &app,
        "GET",
        &format!("/api/v1/customers?limit=2&cursor={cursor}"),
        &k,
        None,
    )
    .await;
    let (_, last) = call(
        &app,
        "GET",
        &format!(
            "/api/v1/customers?limit=2&cursor={}",
            second["next_cursor"].as_str().unwrap()
        ),
        &k,
        None,
    )
    .await;
    let emails: Vec<_> = [&first, &second, &last]
        .iter()
        .flat_map(|p| {
            p["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["email"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(
        emails,
        [
            "c0@example.com",
            "c1@example.com",
            "c2@example.com",
            "c3@example.com",
            "c4@example.com"
        ]
    );
    assert!(last["next_cursor"].is_null());
}

async fn program_with_advocates(app: &TestApp, k: &str, emails: &[&str]) -> (String, Vec<Value>) {
    let (_, program) = call(
        app,
        "POST",
        "/api/v1/programs",
        k,
        Some(json!({ "name": "Friends", "status": "active", "rules": rules() })),
    )
    .await;
    let pid = program["id"].as_str().unwrap().to_string();
    let mut advocates = Vec::new();
    for e in emails {
        let (_, a) = call(
            app,
            "POST",
            "/api/v1/advocates",
            k,
            Some(json!({ "program": pid, "customer": { "email": e } })),
        )
        .await;
        advocates.push(a);
    }
    (pid, advocates)
}

#[tokio::test]
async fn friends_are_identified_before_they_buy() {
    let app = TestApp::new().await;
    let k = key(&app, "Shop", RW).await;
    let (_, advs) =
        program_with_advocates(&app, &k, &["anna@example.com", "carl@example.com"]).await;
    let (anna, carl) = (
        advs[0]["id"].as_str().unwrap(),
        advs[1]["id"].as_str().unwrap(),
    );

    // A sign-up on the shop's site, carrying the code from the link.
    let (s, signup) = call(
        &app,
        "POST",
        "/api/v1/referrals",
        &k,
        Some(json!({ "friend": { "email": "bob@example.com" }, "code": advs[0]["code"] })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{signup}");
    assert_eq!(
        (
            signup["referral"]["status"].as_str(),
            signup["referral"]["source"].as_str()
        ),
        (Some("pending"), Some("code"))
    );
    let (_, conv) = call(&app, "POST", "/api/v1/conversions", &k, Some(json!({ "external_id": "o1", "amount_minor": 5000, "customer": { "email": "bob@example.com" } }))).await;
    assert_eq!(
        (conv["status"].as_str(), conv["referral"].clone()),
        (Some("attributed"), signup["referral"]["id"].clone()),
        "the purchase joins the sign-up's referral"
    );

    // The advocate's own form: only with the friend's consent.
    let submit = |advocate: &str, consent: bool| json!({ "source": "submission", "advocate": advocate, "friend": { "email": "dana@example.com", "name": "Dana" }, "consent": consent });
    let (s, e) = call(
        &app,
        "POST",
        "/api/v1/referrals",
        &k,
        Some(submit(anna, false)),
    )
    .await;
    assert_eq!(
        (s, e["error"]["details"]["fields"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("consent"))
    );
    let (s, sub) = call(
        &app,
        "POST",
        "/api/v1/referrals",
        &k,
        Some(submit(anna, true)),
    )
    .await;
    assert_eq!(
        (s, sub["referral"]["source"].as_str()),
        (StatusCode::CREATED, Some("submission"))
    );
    let (s, again) = call(
        &app,
        "POST",
        "/api/v1/referrals",
        &k,
        Some(submit(anna, true)),
    )
    .await;
    assert_eq!(
        (s, again["referral"]["id"].clone()),
        (StatusCode::OK, sub["referral"]["id"].clone())
    );
    let (s, e) = call(
        &app,
        "POST",
        "/api/v1/referrals",
        &k,
        Some(submit(carl, true)),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_referred")),
        "{e}"
    );

    // An admin gives the referral to Carl, with a reason that lands in the audit log.
    let rid = sub["referral"]["id"].as_str().unwrap();
    let (s, e) = call(
        &app,
        "POST",
        &format!("/api/v1/referrals/{rid}/attribution"),
        &k,
        Some(json!({ "advocate": carl, "reason": " " })),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    let (s, moved) = call(
        &app,
        "POST",
        &format!("/api/v1/referrals/{rid}/attribution"),
        &k,
        Some(json!({ "advocate": carl, "reason": "Dana told us Carl sent her" })),
    )
    .await;
    assert_eq!(
        (s, moved["source"].as_str()),
        (StatusCode::OK, Some("admin"))
    );
    assert_eq!(
        moved["trace"]["manual"]["reason"],
        "Dana told us Carl sent her"
    );
    let (_, audit) = call(&app, "GET", "/api/v1/audit-log?limit=1", &k, None).await;
    assert_eq!(audit["data"][0]["action"], "referral.reattributed");
    assert_eq!(
        audit["data"][0]["details"]["reason"],
        "Dana told us Carl sent her"
    );
}

#[tokio::test]
async fn flagged_referrals_wait_in_the_review_queue() {
    let app = TestApp::new().await;
    let k = key(&app, "Shop", RW).await;
    let (_, advs) = program_with_advocates(&app, &k, &["anna@example.com"]).await;
    let code = advs[0]["code"].clone();
    // Two friends who had bought before: existing customers, flagged by the default policy.
    let mut flagged = Vec::new();
    for (i, friend) in ["old1@example.com", "old2@example.com"].iter().enumerate() {
        call(&app, "POST", "/api/v1/conversions", &k, Some(json!({ "external_id": format!("before-{i}"), "amount_minor": 5000, "customer": { "email": friend } }))).await;
        let (_, c) = call(&app, "POST", "/api/v1/conversions", &k, Some(json!({ "external_id": format!("after-{i}"), "amount_minor": 5000, "customer": { "email": friend }, "code": code }))).await;
        flagged.push(c["referral"].as_str().unwrap().to_string());
    }
    let (_, clean) = call(&app, "POST", "/api/v1/conversions", &k, Some(json!({ "external_id": "new-1", "amount_minor": 5000, "customer": { "email": "new@example.com" }, "code": code }))).await;
    let (_, queue) = call(&app, "GET", "/api/v1/review-queue", &k, None).await;
    let ids: Vec<_> = queue["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, flagged);
    assert_eq!(
        queue["data"][0]["fraud_findings"][0]["code"],
        "existing_customer"
    );

    // One id that is not waiting for review refuses the whole batch.
    let mixed = json!({ "referrals": [flagged[0], clean["referral"]], "decision": "approve", "reason": "checked" });
    let (s, e) = call(
        &app,
        "POST",
        "/api/v1/review-queue/decisions",
        &k,
        Some(mixed),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("refused"))
    );
    let (_, still) = call(&app, "GET", "/api/v1/review-queue", &k, None).await;
    assert_eq!(
        still["data"].as_array().unwrap().len(),
        2,
        "nothing changed"
    );

    let (s, ok) = call(&app, "POST", "/api/v1/review-queue/decisions", &k, Some(json!({ "referrals": [flagged[0]], "decision": "approve", "reason": "real new business" }))).await;
    assert_eq!(
        (
            s,
            ok["data"][0]["status"].as_str(),
            ok["data"][0]["fraud_verdict"].as_str()
        ),
        (StatusCode::OK, Some("qualified"), Some("approved"))
    );
    let (_, no) = call(&app, "POST", "/api/v1/review-queue/decisions", &k, Some(json!({ "referrals": [flagged[1]], "decision": "reject", "reason": "regular customer" }))).await;
    assert_eq!(
        (
            no["data"][0]["status"].as_str(),
            no["data"][0]["rejection_reason"].as_str()
        ),
        (Some("rejected"), Some("manual_review"))
    );
    let (_, empty) = call(&app, "GET", "/api/v1/review-queue", &k, None).await;
    assert!(empty["data"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn advocates_get_a_qr_code_of_their_link() {
    let app = TestApp::new().await;
    let k = key(&app, "Shop", RW).await;
    let (_, advs) = program_with_advocates(&app, &k, &["anna@example.com"]).await;
    let id = advs[0]["id"].as_str().unwrap();
    let svg = app
        .api("GET", &format!("/api/v1/advocates/{id}/qr"), Some(&k), None)
        .await;
    assert_eq!(
        (
            svg.status,
            svg.headers.get("content-type").unwrap().to_str().unwrap()
        ),
        (StatusCode::OK, "image/svg+xml")
    );
    assert!(svg.body.contains("<svg"));
    let png = app
        .api(
            "GET",
            &format!("/api/v1/advocates/{id}/qr?format=png"),
            Some(&k),
            None,
        )
        .await;
    assert_eq!(png.headers.get("content-type").unwrap(), "image/png");
    let bad = app
        .api(
            "GET",
            &format!("/api/v1/advocates/{id}/qr?format=gif"),
            Some(&k),
            None,
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let other = key(&app, "Other", RW).await;
    assert_eq!(
        app.api(
            "GET",
            &format!("/api/v1/advocates/{id}/qr"),
            Some(&other),
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
}
