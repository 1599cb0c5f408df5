//! The reward pages of the admin: reward rules with the preview, the approval queue with bulk
//! decisions, code pools, payouts with their CSV, the campaign calendar, an advocate's ledger,
//! and the dashboard's notices, with the same CSRF and role rules as every form.

mod common;

use axum::http::StatusCode;
use common::{Browser, TestApp};
use vouch_core::Email;
use vouch_core::code::ReferralCode;
use vouch_core::program::{ConversionKind, ProgramRules, ProgramStatus};
use vouch_store::audit::Actor;
use vouch_store::customers::CustomerInput;
use vouch_store::referrals::{self, ConversionInput, FriendSignals};
use vouch_store::rows::{Advocate, Program, Workspace};

const DAY: i64 = 86_400_000;

async fn shop(app: &TestApp) -> (Workspace, Program, Advocate) {
    let mut c = app.db.store.read().await.unwrap();
    let ws = vouch_store::workspaces::list(&mut c)
        .await
        .unwrap()
        .remove(0);
    drop(c);
    let mut rules = ProgramRules::starter("https://shop.example.com/");
    rules.rewards = serde_json::from_value(serde_json::json!({ "auto_approve_under_minor": 500, "rules": [
        { "key": "advocate", "beneficiary": "advocate", "trigger": { "on": "qualified_referral" },
          "grants": [{ "type": "cash", "amount": { "type": "fixed", "minor": 1000 } }] },
        { "key": "friend", "beneficiary": "friend", "trigger": { "on": "first_purchase" },
          "grants": [{ "type": "discount", "pool": "welcome", "value": { "type": "fixed", "minor": 400 } }] } ] }))
    .unwrap();
    let program = vouch_store::tracking::create_program(
        &app.db.store,
        ws.id,
        "Friends",
        ProgramStatus::Active,
        &rules.checked().unwrap(),
        &Actor::cli(),
    )
    .await
    .unwrap();
    let input = CustomerInput {
        email: Some(Email::parse("anna@example.com").unwrap()),
        name: Some("Anna".into()),
        created_from: "test",
        ..Default::default()
    };
    let advocate = vouch_store::tracking::enroll(
        &app.db.store,
        ws.id,
        &program,
        &input,
        Some(&ReferralCode::parse("ANNA10").unwrap()),
        &Actor::cli(),
    )
    .await
    .unwrap()
    .0;
    (ws, program, advocate)
}

async fn buy(app: &TestApp, ws: &Workspace, order: &str, friend: &str, at: i64) {
    let input = ConversionInput {
        external_id: order.into(),
        customer: CustomerInput {
            email: Some(Email::parse(friend).unwrap()),
            created_from: "test",
            ..Default::default()
        },
        kind: ConversionKind::FirstPurchase,
        amount_minor: 5000,
        currency: "EUR".into(),
        signals: FriendSignals {
            code: Some(ReferralCode::parse("ANNA10").unwrap()),
            ..Default::default()
        },
        occurred_at: at,
    };
    referrals::record_conversion(&app.db.store, ws.id, &input, &Actor::cli())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_business_runs_its_rewards_from_the_admin() {
    let app = TestApp::new().await;
    let (mut b, csrf) = Browser::shop_owner(&app).await;
    let (ws, program, anna) = shop(&app).await;
    let pid = program.public_id.clone();

    // The rule editor: a bad version is refused with the reason, the preview explains.
    let rules = b.get(&format!("/admin/programs/{pid}/rewards")).await;
    assert!(
        rules.body.contains("&#34;key&#34;: &#34;advocate&#34;"),
        "{}",
        rules.body
    );
    let bad = b
        .post(
            &format!("/admin/programs/{pid}/rewards"),
            &[("csrf", &csrf), ("rewards", r#"{"hold_days": 3}"#)],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad.body.contains("Nothing was saved") && bad.body.contains("refund window"),
        "{}",
        bad.body
    );
    let preview = b
        .get(&format!("/admin/programs/{pid}/rewards?referrals=4&at="))
        .await;
    assert!(
        preview.body.contains("An advocate with 4 referrals")
            && preview.body.contains("cash 10.00 EUR"),
        "{}",
        preview.body
    );
    let bad_preview = b
        .get(&format!("/admin/programs/{pid}/rewards?referrals=0"))
        .await;
    assert!(bad_preview.body.contains("use a whole number of 1 or more"));

    // A purchase 40 days ago: the hold is over; 10.00 is above the auto-approval amount.
    buy(
        &app,
        &ws,
        "o-1",
        "bob@example.com",
        vouch_core::clock::now_ms() - 40 * DAY,
    )
    .await;
    let dashboard = b.get("/admin").await;
    assert!(
        dashboard.body.contains("Needs your attention") && dashboard.body.contains("welcome"),
        "the missing pool is announced: {}",
        dashboard.body
    );
    let queue = b.get("/admin/rewards?queue=1").await;
    assert!(
        queue.body.contains("cash 10.00 EUR") && queue.body.contains("anna@example.com"),
        "{}",
        queue.body
    );
    let rid = common::public_id(&queue.body, "name=\"reward\" value=\"", "rwd_");
    let approved = b
        .post(
            "/admin/rewards/decisions",
            &[
                ("csrf", &csrf),
                ("reward", &rid),
                ("decision", "approve"),
                ("reason", "checked"),
            ],
        )
        .await;
    assert_eq!(approved.location(), "/admin/rewards?done=decided");
    let forged = b
        .post(
            "/admin/rewards/decisions",
            &[("csrf", "forged"), ("reward", &rid), ("decision", "void")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let again = b
        .post(
            "/admin/rewards/decisions",
            &[("csrf", &csrf), ("reward", &rid), ("decision", "approve")],
        )
        .await;
    assert_eq!(
        again.status,
        StatusCode::CONFLICT,
        "an approved reward is not in the queue"
    );

    // The pool the friend's discount waits for: refused with the field, then created and filled.
    let pools = b
        .post(
            "/admin/code-pools",
            &[
                ("csrf", &csrf),
                ("key", "welcome"),
                ("name", "Welcome"),
                ("pattern", "X-##"),
                ("low_stock_threshold", "1"),
            ],
        )
        .await;
    assert_eq!(pools.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        pools.body.contains("at least 6 random places"),
        "{}",
        pools.body
    );
    let made = b
        .post(
            "/admin/code-pools",
            &[
                ("csrf", &csrf),
                ("key", "welcome"),
                ("name", "Welcome"),
                ("pattern", ""),
                ("low_stock_threshold", "1"),
            ],
        )
        .await;
    assert_eq!(made.location(), "/admin/code-pools?done=saved");
    let list = b.get("/admin/code-pools").await;
    let pool = common::public_id(&list.body, "/admin/code-pools/", "pool_");
    let imported = b
        .post(
            &format!("/admin/code-pools/{pool}/codes"),
            &[("csrf", &csrf), ("codes", "WELCOME-1\nWELCOME-2")],
        )
        .await;
    assert_eq!(imported.location(), "/admin/code-pools?done=imported");
    let all = b.get("/admin/rewards").await;
    assert!(
        all.body.contains("discount code WELCOME-1"),
        "the waiting reward got its code: {}",
        all.body
    );

    // Payouts: preview, confirm, CSV, mark paid.
    let payouts = b.get("/admin/payouts?minimum=5.00").await;
    assert!(
        payouts.body.contains("anna@example.com") && payouts.body.contains("Total 10.00 EUR"),
        "{}",
        payouts.body
    );
    let confirmed = b
        .post(
            "/admin/payouts",
            &[
                ("csrf", &csrf),
                ("batch_key", "2026-12"),
                ("minimum", "5.00"),
            ],
        )
        .await;
    assert_eq!(confirmed.location(), "/admin/payouts?done=confirmed");
    let list = b.get("/admin/payouts").await;
    let pay = common::public_id(&list.body, "/admin/payouts/", "pay_");
    let csv = b.get(&format!("/admin/payouts/{pay}/export")).await;
    assert!(
        csv.body.contains("2026-12,") && csv.body.contains(",10.00,EUR,"),
        "{}",
        csv.body
    );
    let paid = b
        .post(
            &format!("/admin/payouts/{pay}"),
            &[("csrf", &csrf), ("reference", "SEPA-1"), ("action", "paid")],
        )
        .await;
    assert_eq!(paid.location(), "/admin/payouts?done=saved");
    assert!(b.get("/admin/payouts").await.body.contains("paid (SEPA-1)"));

    // The advocate's rewards and ledger.
    let ledger = b
        .get(&format!("/admin/advocates/{}/ledger", anna.public_id))
        .await;
    assert!(
        ledger.body.contains("fulfilled") && ledger.body.contains("payout 2026-12 paid"),
        "{}",
        ledger.body
    );
    assert!(ledger.body.contains("advocate payable"), "{}", ledger.body);

    // Campaigns in the workspace's time zone, with the fields to fix.
    let bad = b
        .post(
            "/admin/campaigns",
            &[
                ("csrf", &csrf),
                ("name", "Sprint"),
                ("program", &pid),
                ("starts_at", "soon"),
                ("ends_at", "2030-12-11T18:00"),
                ("effect", "multiplier"),
                ("value", "two"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad.body.contains("use a date and time like")
            && bad.body.contains("for a multiplier type a factor"),
        "{}",
        bad.body
    );
    let ok = b
        .post(
            "/admin/campaigns",
            &[
                ("csrf", &csrf),
                ("name", "Sprint"),
                ("program", &pid),
                ("starts_at", "2030-12-04T18:00"),
                ("ends_at", "2030-12-11T18:00"),
                ("effect", "multiplier"),
                ("value", "2"),
                ("budget", "100.00"),
            ],
        )
        .await;
    assert_eq!(ok.location(), "/admin/campaigns?done=saved", "{}", ok.body);
    let vip = b
        .post(
            "/admin/campaigns",
            &[
                ("csrf", &csrf),
                ("name", "VIP week"),
                ("program", &pid),
                ("starts_at", "2030-12-04T18:00"),
                ("ends_at", "2030-12-11T18:00"),
                ("effect", "bonus"),
                ("value", "5.00"),
                ("audience", "min_referrals"),
                ("audience_value", "none"),
            ],
        )
        .await;
    assert_eq!(vip.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        vip.body.contains("give a number of referrals"),
        "{}",
        vip.body
    );
    let vip = b
        .post(
            "/admin/campaigns",
            &[
                ("csrf", &csrf),
                ("name", "VIP week"),
                ("program", &pid),
                ("starts_at", "2030-12-04T18:00"),
                ("ends_at", "2030-12-11T18:00"),
                ("effect", "bonus"),
                ("value", "5.00"),
                ("audience", "min_referrals"),
                ("audience_value", "5"),
            ],
        )
        .await;
    assert_eq!(vip.location(), "/admin/campaigns?done=saved");
    let saved_campaign = |name: &'static str| {
        let store = app.db.store.clone();
        async move {
            let mut c = store.read().await.unwrap();
            vouch_store::campaigns::list(&mut c, ws.id, i64::MAX, 10)
                .await
                .unwrap()
                .into_iter()
                .find(|r| r.name == name)
                .unwrap()
        }
    };
    let saved = saved_campaign("VIP week").await;
    assert_eq!(saved.audience, r#"{"type":"min_referrals","n":5}"#);

    // A sprint with a tier table of its own: every problem shown on the form, nothing saved.
    let cases = [
        (
            r#"[{"name": "Gold""#,
            Some("the tier table is not valid JSON"),
        ),
        (
            r#"[{"name": "A", "min_referrals": 3, "grants": [{"type": "cash", "amount": {"type": "fixed", "minor": 1000}}]},
                {"name": "B", "min_referrals": 2, "grants": [{"type": "cash", "amount": {"type": "fixed", "minor": 2000}}]}]"#,
            Some("climb strictly"),
        ),
        (
            r#"[{"name": "Sprint", "min_referrals": 1, "grants": [{"type": "cash", "amount": {"type": "fixed", "minor": 2000}}]}]"#,
            None,
        ),
    ];
    for (tiers, problem) in cases {
        let res = b
            .post(
                "/admin/campaigns",
                &[
                    ("csrf", &csrf),
                    ("name", "Tier sprint"),
                    ("program", &pid),
                    ("starts_at", "2030-12-04T18:00"),
                    ("ends_at", "2030-12-11T18:00"),
                    ("effect", "tiers"),
                    ("tiers", tiers),
                ],
            )
            .await;
        match problem {
            Some(p) => {
                assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
                assert!(res.body.contains(p), "{}", res.body);
                assert!(
                    res.body.contains("&quot;name&quot;") || res.body.contains("&#34;name&#34;"),
                    "the typed table is kept: {}",
                    res.body
                );
            }
            None => assert_eq!(
                res.location(),
                "/admin/campaigns?done=saved",
                "{}",
                res.body
            ),
        }
    }
    let saved = saved_campaign("Tier sprint").await;
    let effect: serde_json::Value = serde_json::from_str(&saved.effect).unwrap();
    assert_eq!(effect["type"], "tiers", "{effect}");
    assert_eq!(effect["tiers"][0]["grants"][0]["amount"]["minor"], 2000);
    let calendar = b.get("/admin/campaigns").await;
    assert!(
        calendar
            .body
            .contains("Double rewards until Wednesday 11 December 18:00")
            && calendar.body.contains("scheduled"),
        "{}",
        calendar.body
    );
    let cmp = common::public_id(&calendar.body, "/admin/campaigns/", "cmp_");
    let cancelled = b
        .post(
            &format!("/admin/campaigns/{cmp}/cancel"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(cancelled.location(), "/admin/campaigns?done=saved");
    assert!(b.get("/admin/campaigns").await.body.contains("cancelled"));
}

#[tokio::test]
async fn viewers_read_rewards_but_cannot_decide() {
    let app = TestApp::new().await;
    let (mut owner, _) = Browser::shop_owner(&app).await;
    let (ws, _, _) = shop(&app).await;
    buy(
        &app,
        &ws,
        "o-1",
        "bob@example.com",
        vouch_core::clock::now_ms() - 40 * DAY,
    )
    .await;
    let mut c = app.db.store.read().await.unwrap();
    let rid = vouch_store::rewards::list(&mut c, ws.id, &Default::default(), i64::MAX, 10)
        .await
        .unwrap()[0]
        .public_id
        .clone();
    drop(c);
    let mut viewer = common::member(&app, "viewer@example.com", vouch_core::Role::Viewer).await;
    let page = viewer.get("/admin/rewards").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("Approve selected"));
    let csrf = viewer.csrf().await;
    let refused = viewer
        .post(
            "/admin/rewards/decisions",
            &[("csrf", &csrf), ("reward", &rid), ("decision", "void")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let _ = owner.get("/admin").await;
}
