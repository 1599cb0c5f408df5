//! The referral pages of the admin: program editor, enrolment, advocate profile, referral
//! filters and the review queue, with the same CSRF and role rules as every form.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{Browser, PASSWORD, TestApp};
use vouch_core::{Email, Role};
use vouch_store::audit::Actor;

fn program_form<'a>(csrf: &'a str, name: &'a str, destination: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("name", name),
        ("status", "active"),
        ("destination", destination),
        ("window_days", "30"),
        ("model", "last_touch"),
        ("conversion", "first_purchase"),
        ("min_amount_minor", "0"),
        ("friend_offer", "10% off"),
    ]
}

#[tokio::test]
async fn a_business_runs_its_program_from_the_admin() {
    let app = TestApp::new().await;
    let (mut b, csrf) = Browser::shop_owner(&app).await;
    let empty = b.get("/admin/programs").await;
    assert!(empty.body.contains("No program yet"));

    let bad = b
        .post(
            "/admin/programs",
            &program_form(&csrf, "Friends", "javascript:alert(1)"),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("Nothing was saved") && bad.body.contains("starts with https://"));
    let ok = b
        .post(
            "/admin/programs",
            &program_form(&csrf, "Friends", "https://shop.example.com/welcome"),
        )
        .await;
    assert_eq!(ok.location(), "/admin/programs?done=saved");
    let list = b.get("/admin/programs").await;
    assert!(
        list.body.contains("Friends") && list.body.contains("https://shop.example.com/welcome")
    );
    // More landing pages, one a line: a bad one is named under its own field.
    let mut more = program_form(&csrf, "Gifts", "https://shop.example.com/gifts");
    more.push((
        "other_destinations",
        "https://shop.example.com/cards\nftp://shop.example.com/",
    ));
    let bad = b.post("/admin/programs", &more).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad.body.contains("ftp://shop.example.com/:"),
        "{}",
        bad.body
    );
    more.pop();
    more.push((
        "other_destinations",
        "https://shop.example.com/cards\n\nhttps://shop.example.com/cards",
    ));
    assert_eq!(
        b.post("/admin/programs", &more).await.location(),
        "/admin/programs?done=saved"
    );
    let mut c = app.db.store.read().await.unwrap();
    let gifts = vouch_store::programs::list(&mut c, 1, 0, 10)
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.name == "Gifts")
        .unwrap();
    drop(c);
    let rules = vouch_store::programs::rules_of(&gifts.rules).unwrap();
    assert_eq!(
        rules.destinations,
        [
            "https://shop.example.com/gifts",
            "https://shop.example.com/cards"
        ]
    );
    let edit = b.get(&format!("/admin/programs/{}", gifts.public_id)).await;
    assert!(
        edit.body
            .contains(">https://shop.example.com/cards</textarea>"),
        "{}",
        edit.body
    );
    let pid = common::public_id(&list.body, "/admin/programs/", "prg_");

    let enrol = |vanity: &'static str| {
        vec![
            ("program", pid.clone()),
            ("email", "anna@example.com".to_string()),
            ("name", "Anna".to_string()),
            ("vanity", vanity.to_string()),
        ]
    };
    let fields: Vec<(&str, String)> = enrol("SWEET10");
    let mut form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    form.push(("csrf", &csrf));
    assert_eq!(
        b.post("/admin/advocates", &form).await.location(),
        "/admin/advocates?done=enrolled"
    );
    let mut other: Vec<(&str, &str)> = vec![
        ("csrf", &csrf),
        ("program", &pid),
        ("email", "carl@example.com"),
        ("vanity", "sweet10"),
    ];
    let taken = b.post("/admin/advocates", &other).await;
    assert_eq!(taken.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(taken.body.contains("this code is taken"));
    other[3] = ("vanity", "ANNA5");
    let impersonating = b.post("/admin/advocates", &other).await;
    assert!(
        impersonating.body.contains("looks like another advocate"),
        "{}",
        impersonating.body
    );
    other[3] = ("vanity", "");
    assert_eq!(
        b.post("/admin/advocates", &other).await.location(),
        "/admin/advocates?done=enrolled"
    );

    let advocates = b.get("/admin/advocates").await;
    assert!(advocates.body.contains("http://127.0.0.1:8080/r/SWEET10"));
    let aid = common::public_id(&advocates.body, "/admin/advocates/", "adv_");

    // A click and a purchase show up on the profile and in the referral list.
    let visit = app
        .send(
            Request::get("/r/SWEET10")
                .header(header::USER_AGENT, "Mozilla/5.0 Chrome/120")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(visit.status, StatusCode::FOUND);
    app.state.clicks.flush().await;
    let mut c = app.db.store.read().await.unwrap();
    let ws = vouch_store::workspaces::by_slug(&mut c, "shop")
        .await
        .unwrap()
        .unwrap();
    drop(c);
    let input = vouch_store::referrals::ConversionInput {
        external_id: "o1".into(),
        customer: vouch_store::customers::CustomerInput {
            email: Some(Email::parse("bob@example.com").unwrap()),
            created_from: "test",
            ..Default::default()
        },
        kind: vouch_core::program::ConversionKind::FirstPurchase,
        amount_minor: 5000,
        currency: "EUR".into(),
        signals: vouch_store::referrals::FriendSignals {
            code: Some(vouch_core::code::ReferralCode::parse("SWEET10").unwrap()),
            ..Default::default()
        },
        occurred_at: vouch_core::clock::now_ms(),
    };
    vouch_store::referrals::record_conversion(&app.db.store, ws.id, &input, &Actor::cli())
        .await
        .unwrap();
    let profile = b.get(&format!("/admin/advocates/{aid}")).await;
    assert!(
        profile.body.contains("SWEET10")
            && profile.body.contains("bob@example.com")
            && profile.body.contains("qualified"),
        "{}",
        profile.body
    );
    assert!(
        profile.body.contains("<td>1</td><td>1</td>"),
        "one click, one qualified"
    );
    assert!(profile.body.contains("credited to advocate"));
    let filtered = b.get("/admin/referrals?status=rejected").await;
    assert!(filtered.body.contains("No referral yet"));
    assert!(
        b.get("/admin/referrals?status=qualified")
            .await
            .body
            .contains("bob@example.com")
    );
    // Filters by program, advocate and day narrow the list; a bad day says what to type.
    let today = vouch_core::clock::rfc3339(vouch_core::clock::now_ms())[..10].to_string();
    let mine = b
        .get(&format!(
            "/admin/referrals?program={pid}&advocate={aid}&from={today}&until={today}"
        ))
        .await;
    assert!(mine.body.contains("bob@example.com"), "{}", mine.body);
    let before = b.get("/admin/referrals?until=2020-01-01").await;
    assert!(before.body.contains("No referral yet"));
    let bad = b.get("/admin/referrals?from=yesterday").await;
    assert!(bad.body.contains("is not a day: use the form 2026-12-04"));

    // Give Bob's referral to Carl by hand; a reason is required and lands in the audit log.
    let carl_at = advocates.body.find("carl@example.com").unwrap();
    let carl_start = advocates.body[..carl_at]
        .rfind("/admin/advocates/adv_")
        .unwrap();
    let carl = common::public_id(&advocates.body[carl_start..], "/admin/advocates/", "adv_");
    let rid = common::public_id(&profile.body, "/admin/referrals/", "ref_");
    let no_reason = b
        .post(
            &format!("/admin/referrals/{rid}/attribution"),
            &[("csrf", &csrf), ("advocate", &carl), ("reason", " ")],
        )
        .await;
    assert_eq!(no_reason.status, StatusCode::BAD_REQUEST);
    let moved = b
        .post(
            &format!("/admin/referrals/{rid}/attribution"),
            &[
                ("csrf", &csrf),
                ("advocate", &carl),
                ("reason", "Bob says Carl sent him"),
            ],
        )
        .await;
    assert_eq!(moved.location(), format!("/admin/advocates/{carl}"));
    assert!(
        b.get(&format!("/admin/advocates/{carl}"))
            .await
            .body
            .contains("bob@example.com")
    );
    assert!(
        b.get("/admin/audit")
            .await
            .body
            .contains("referral.reattributed")
    );

    // Edit the program: a new rules version, shown in the list.
    let edit = b
        .post(
            &format!("/admin/programs/{pid}"),
            &program_form(&csrf, "Friends", "https://shop.example.com/other"),
        )
        .await;
    assert_eq!(edit.location(), "/admin/programs?done=saved");
    let list = b.get("/admin/programs").await;
    assert!(
        list.body.contains("https://shop.example.com/other") && list.body.contains("<td>2</td>")
    );
}

#[tokio::test]
async fn the_review_queue_decides_in_bulk() {
    let app = TestApp::new().await;
    let (mut b, csrf) = Browser::shop_owner(&app).await;
    b.post(
        "/admin/programs",
        &program_form(&csrf, "Friends", "https://shop.example.com/"),
    )
    .await;
    let mut c = app.db.store.read().await.unwrap();
    let ws = vouch_store::workspaces::by_slug(&mut c, "shop")
        .await
        .unwrap()
        .unwrap();
    let program = vouch_store::programs::list(&mut c, ws.id, 0, 10)
        .await
        .unwrap()
        .remove(0);
    drop(c);
    let anna = vouch_store::customers::CustomerInput {
        email: Some(Email::parse("anna@example.com").unwrap()),
        created_from: "test",
        ..Default::default()
    };
    let (adv, _, _) =
        vouch_store::tracking::enroll(&app.db.store, ws.id, &program, &anna, None, &Actor::cli())
            .await
            .unwrap();
    // An imported customer referred later is flagged for review.
    let known = vouch_store::customers::CustomerInput {
        email: Some(Email::parse("known@example.com").unwrap()),
        created_from: "import",
        ..Default::default()
    };
    vouch_store::tracking::upsert_customer(&app.db.store, ws.id, &known, &Actor::cli())
        .await
        .unwrap();
    let input = vouch_store::referrals::ConversionInput {
        external_id: "o1".into(),
        customer: known.clone(),
        kind: vouch_core::program::ConversionKind::FirstPurchase,
        amount_minor: 5000,
        currency: "EUR".into(),
        signals: vouch_store::referrals::FriendSignals {
            code: Some(vouch_core::code::ReferralCode::parse(&adv.code).unwrap()),
            ..Default::default()
        },
        occurred_at: vouch_core::clock::now_ms(),
    };
    let r = vouch_store::referrals::record_conversion(&app.db.store, ws.id, &input, &Actor::cli())
        .await
        .unwrap()
        .referral
        .unwrap();
    let queue = b.get("/admin/review").await;
    assert!(queue.body.contains("known@example.com") && queue.body.contains("existing_customer"));

    // A viewer sees the queue but cannot decide.
    let hash = vouch_core::password::hash(PASSWORD);
    vouch_store::commands::add_member(
        &app.db.store,
        ws.id,
        &Email::parse("viewer@example.com").unwrap(),
        Role::Viewer,
        Some(&hash),
        &Actor::cli(),
    )
    .await
    .unwrap();
    let mut viewer = Browser::new(&app);
    viewer.sign_in("viewer@example.com", PASSWORD).await;
    let vcsrf = viewer.csrf().await;
    let v = viewer
        .post(
            "/admin/review/decisions",
            &[
                ("csrf", &vcsrf),
                ("referral", &r.public_id),
                ("decision", "approve"),
                ("reason", "x"),
            ],
        )
        .await;
    assert_eq!(v.status, StatusCode::FORBIDDEN);
    assert_eq!(
        b.post(
            "/admin/review/decisions",
            &[
                ("referral", &r.public_id),
                ("decision", "approve"),
                ("reason", "x")
            ]
        )
        .await
        .status,
        StatusCode::FORBIDDEN,
        "CSRF"
    );

    let ok = b
        .post(
            "/admin/review/decisions",
            &[
                ("csrf", &csrf),
                ("referral", &r.public_id),
                ("decision", "approve"),
                ("reason", "checked: new location"),
            ],
        )
        .await;
    assert_eq!(ok.location(), "/admin/review?done=reviewed");
    assert!(
        b.get("/admin/review?done=reviewed")
            .await
            .body
            .contains("Nothing waits for review")
    );
    let mut c = app.db.store.read().await.unwrap();
    let after = vouch_store::referrals::referral_by_public_id(&mut c, ws.id, &r.public_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (after.status.as_str(), after.fraud_verdict.as_str()),
        ("qualified", "approved")
    );
}
