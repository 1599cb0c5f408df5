//! Tracking on both backends: conversions attributed by each signal and each model, the
//! window, exactly-once under concurrent duplicates, refunds, fraud verdicts, tenancy.

use serde_json::Value;
use std::sync::Arc;
use vouch_core::Email;
use vouch_core::clock::now_ms;
use vouch_core::code::ReferralCode;
use vouch_core::program::{Model, ProgramStatus};
use vouch_store::Store;
use vouch_store::audit::Actor;
use vouch_store::clicks::{NewClick, insert_batch, time_ordered_id};
use vouch_store::customers::CustomerInput;
use vouch_store::referrals;
use vouch_store::rows::Advocate;
use vouch_store::tracking;

vouch_store::both_backends!(
    a_code_at_checkout_credits_its_advocate,
    a_click_id_credits_its_advocate,
    the_model_chooses_between_a_visitors_clicks,
    clicks_outside_the_window_give_no_credit,
    bot_clicks_never_create_a_referral,
    an_email_of_the_same_inbox_joins_the_pending_referral,
    fifty_duplicate_deliveries_make_one_conversion,
    refunds_reverse_what_they_touched,
    self_referrals_are_blocked_with_their_reason,
    a_shared_ip_only_flags,
    disposable_and_existing_friends_follow_the_policy,
    referral_loops_are_blocked,
    codes_of_another_workspace_are_unknown,
    rule_changes_apply_forward_only,
    csv_import_reports_every_refused_row_and_keeps_the_rest,
    enrolment_follows_eligibility_and_vanity_rules,
    the_click_writer_stores_what_the_bulk_statement_stores,
    customer_export_is_spreadsheet_safe_and_imports_back,
);

mod common;
use common::*;

impl Shop {
    async fn click(&self, a: &Advocate, visitor: &str, age_ms: i64, qualified: bool) -> String {
        self.click_by(a, Some(visitor), age_ms, qualified).await
    }

    /// A visitor's first click, which names them: returns the click id, their visitor id.
    async fn first_visit(&self, a: &Advocate, age_ms: i64) -> String {
        self.click_by(a, None, age_ms, true).await
    }

    async fn click_by(
        &self,
        a: &Advocate,
        visitor: Option<&str>,
        age_ms: i64,
        qualified: bool,
    ) -> String {
        let at = now_ms() - age_ms;
        let id = time_ordered_id("", at);
        let visitor = visitor.unwrap_or(&id);
        let k = NewClick {
            workspace_id: self.ws,
            public_id: id.clone(),
            program_id: a.program_id,
            advocate_id: a.id,
            visitor_id: visitor.into(),
            ip_hash: "ip".into(),
            user_agent: "test".into(),
            referer: String::new(),
            params: "{}".into(),
            qualified,
            unqualified_reason: if qualified { "" } else { "bot" },
            created_at: at,
        };
        // The writer's own path: the native connection on SQLite, the bulk statement otherwise.
        vouch_store::clicks::write(&self.store, &Arc::from(vec![k]))
            .await
            .unwrap();
        id
    }
}

fn trace(r: &referrals::Recorded) -> Value {
    serde_json::from_str(&r.conversion.trace).unwrap()
}

async fn a_code_at_checkout_credits_its_advocate(store: Store) {
    let s = shop(store, "Shop", rules()).await;
    let anna = s.advocate("anna@example.com").await;
    let r = s
        .convert("order-1", "bob@example.com", |i| {
            i.signals.code = Some(ReferralCode::parse(&anna.code.to_lowercase()).unwrap())
        })
        .await;
    let referral = r.referral.clone().unwrap();
    assert_eq!(
        (
            referral.advocate_id,
            referral.status.as_str(),
            referral.source.as_str()
        ),
        (anna.id, "qualified", "code")
    );
    assert_eq!(
        (
            referral.fraud_verdict.as_str(),
            referral.conversions,
            referral.program_version
        ),
        ("approved", 1, 1)
    );
    assert_eq!(r.conversion.status, "attributed");
    let t = trace(&r);
    assert_eq!(t["attribution"]["winner"], "code");
    assert!(
        t["attribution"]["explanation"]
            .as_str()
            .unwrap()
            .contains("referral code")
    );
    // The stored referral keeps the same trace.
    let stored: Value = serde_json::from_str(&referral.trace).unwrap();
    assert_eq!(stored["winner"], "code");
}

async fn a_click_id_credits_its_advocate(store: Store) {
    let s = shop(store, "Shop", rules()).await;
    let anna = s.advocate("anna@example.com").await;
    let click = s.click(&anna, "v1", 3_600_000, true).await;
    let r = s
        .convert("order-1", "bob@example.com", |i| {
            i.signals.click_id = Some(click.clone())
        })
        .await;
    let referral = r.referral.clone().unwrap();
    assert_eq!(
        (
            referral.source.as_str(),
            referral.click_public_id.as_deref()
        ),
        ("link", Some(click.as_str()))
    );
    assert_eq!(trace(&r)["attribution"]["winner"], "click_id");
}

async fn the_model_chooses_between_a_visitors_clicks(store: Store) {
    for (model, expected) in [(Model::FirstTouch, "anna"), (Model::LastTouch, "carl")] {
        let mut r = rules();
        r.attribution_model = model;
        let s = shop(store.clone(), &format!("Shop {model:?}"), r).await;
        let anna = s.advocate("anna@example.com").await;
        let carl = s.advocate("carl@example.com").await;
        // Bob's first visit came through Anna's link and named him; he came back through Carl's.
        let bob = s.first_visit(&anna, 5 * 86_400_000).await;
        s.click(&carl, &bob, 86_400_000, true).await;
        let rec = s
            .convert("order-1", "bob@example.com", |i| {
                i.signals.visitor_id = Some(bob.clone())
            })
            .await;
        let winner = rec.referral.clone().unwrap().advocate_id;
        assert_eq!(
            winner,
            if expected == "anna" { anna.id } else { carl.id },
            "{model:?}"
        );
        let t = trace(&rec);
        assert_eq!(t["attribution"]["winner"], "visitor");
        assert!(
            t["attribution"]["seen"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["status"] == "not_chosen_by_model")
        );
    }
}

async fn clicks_outside_the_window_give_no_credit(store: Store) {
    let s = shop(store, "Shop", rules()).await;
    let anna = s.advocate("anna@example.com").await;
    let old = s.click(&anna, "v", 31 * 86_400_000, true).await;
    let r = s
        .convert("order-1", "bob@example.com", |i| {
            i.signals.click_id = Some(old.clone())
        })
        .await;
    assert!(r.referral.is_none());
    assert_eq!(r.conversion.status, "unattributed");
    let t = trace(&r);
    assert_eq!(t["attribution"]["seen"][0]["status"], "outside_window");
    assert!(
        t["attribution"]["explanation"]
            .as_str()
            .unwrap()
            .contains("none could give credit")
    );
}

async fn bot_clicks_never_create_a_referral(store: Store) {
    let s = shop(store, "Shop", rules()).await;
    let anna = s.advocate("anna@example.com").await;
    let bot = s.click(&anna, "v", 1000, false).await;
    let r = s
        .convert("order-1", "bob@example.com", |i| {
            i.signals.click_id = Some(bot.clone());
            i.signals.visitor_id = Some("v".into());
        })
        .await;
    assert!(r.referral.is_none());
    assert!(
        trace(&r)["attribution"]["seen"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["status"] == "unqualified")
    );
}

async fn an_email_of_the_same_inbox_joins_the_pending_referral(store: Store) {
    let mut r = rules();
    r.conversion.min_amount_minor = 10_000;
    let s = shop(store, "Shop", r).await;
    let anna = s.advocate("anna@example.com").await;
    // A small first order with the code makes a pending referral (below the minimum).
    let first = s
        .convert("order-1", "bob.smith@gmail.com", |i| {
            i.signals.code = Some(ReferralCode::parse(&anna.code).unwrap())
        })
        .await;
    let pending = first.referral.unwrap();
    assert_eq!(
        (pending.status.as_str(), first.conversion.status.as_str()),
        ("pending", "not_counted")
    );
    // The friend comes back under another spelling of the same inbox, with no code at all.
    let second = s
        .convert("order-2", "Bob.Smith+shop@gmail.com", |i| {
            i.amount_minor = 20_000
        })
        .await;
    let joined = second.referral.clone().unwrap();
    assert_eq!(
        (joined.id, joined.status.as_str(), joined.conversions),
        (pending.id, "qualified", 1),
        "the same referral, now counted"
    );
    assert_eq!(second.conversion.status, "attributed");
    assert_eq!(trace(&second)["signal"], "email_match");
}

async fn fifty_duplicate_deliveries_make_one_conversion(store: Store) {
    let s = std::sync::Arc::new(shop(store, "Shop", rules()).await);
    let anna = s.advocate("anna@example.com").await;
    let code = anna.code.clone();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let s = s.clone();
        let code = code.clone();
        tasks.push(tokio::spawn(async move {
            s.convert("order-dup", "bob@example.com", |i| {
                i.signals.code = Some(ReferralCode::parse(&code).unwrap())
            })
            .await
        }));
    }
    let mut fresh = 0;
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let r = t.await.unwrap();
        fresh += usize::from(!r.duplicate);
        ids.insert(r.conversion.id);
    }
    assert_eq!(
        (fresh, ids.len()),
        (1, 1),
        "one conversion, 49 duplicates answered with it"
    );
    let mut c = s.store.read().await.unwrap();
    assert_eq!(
        referrals::list_conversions(&mut c, s.ws, i64::MAX, 100)
            .await
            .unwrap()
            .len(),
        1
    );
    let refs = referrals::list_referrals(&mut c, s.ws, &Default::default(), i64::MAX, 100)
        .await
        .unwrap();
    assert_eq!((refs.len(), refs[0].conversions), (1, 1));
}

async fn refunds_reverse_what_they_touched(store: Store) {
    let s = shop(store, "Shop", rules()).await;
    let anna = s.advocate("anna@example.com").await;
    s.convert("order-1", "bob@example.com", |i| {
        i.signals.code = Some(ReferralCode::parse(&anna.code).unwrap())
    })
    .await;
    let r = applied(
        referrals::reverse_conversion(&s.store, s.ws, "order-1", "refund-1", &Actor::cli()).await,
    );
    assert_eq!(
        (
            r.conversion.status.as_str(),
            r.conversion.reversal_external_id.as_deref()
        ),
        ("reversed", Some("refund-1"))
    );
    let referral = r.referral.clone().unwrap();
    assert_eq!(
        (referral.status.as_str(), referral.conversions),
        ("reversed", 0)
    );
    let again = applied(
        referrals::reverse_conversion(&s.store, s.ws, "order-1", "refund-1", &Actor::cli()).await,
    );
    assert!(again.duplicate);
    assert_eq!(again.referral.unwrap().status, "reversed");
    // A refund that overtakes its order is held, then applied when the order arrives.
    let early = referrals::reverse_conversion(&s.store, s.ws, "order-2", "refund-2", &Actor::cli())
        .await
        .unwrap();
    assert!(matches!(early, referrals::Reversal::Held));
    let late = s
        .convert("order-2", "carol@example.com", |i| {
            i.signals.code = Some(ReferralCode::parse(&anna.code).unwrap())
        })
        .await;
    assert_eq!(late.conversion.status, "reversed");
    assert_eq!(
        late.conversion.reversal_external_id.as_deref(),
        Some("refund-2")
    );
    assert_eq!(late.referral.unwrap().status, "reversed");
}

fn applied(r: vouch_store::Result<referrals::Reversal>) -> referrals::Recorded {
    match r.unwrap() {
        referrals::Reversal::Applied(r) => *r,
        referrals::Reversal::Held => panic!("the conversion exists: the reversal applies"),
    }
}

async fn self_referrals_are_blocked_with_their_reason(store: Store) {
    let s = shop(store, "Shop", rules()).await;
    let anna = s.advocate("anna.smith@gmail.com").await;
    let r = s
        .convert("order-1", "annasmith+again@gmail.com", |i| {
            i.signals.code = Some(ReferralCode::parse(&anna.code).unwrap())
        })
        .await;
    let referral = r.referral.clone().unwrap();
    assert_eq!(
        (
            referral.status.as_str(),
            referral.rejection_reason.as_deref(),
            referral.fraud_verdict.as_str()
        ),
        ("rejected", Some("self_referral"), "blocked")
    );
    let findings: Value = serde_json::from_str(&referral.fraud_findings).unwrap();
    assert_eq!(findings[0]["code"], "self_referral");
    assert_eq!(r.conversion.status, "not_counted");
    assert!(
        trace(&r)["reason"]
            .as_str()
            .unwrap()
            .contains("rejected (self_referral)")
    );
    // Another address, but the advocate's own browser: still the advocate.
    let carl = s.advocate("carl@example.com").await;
    let mut c = s.store.read().await.unwrap();
    vouch_store::advocates::remember_visitor(&mut c, s.ws, carl.id, "carls-browser", "", now_ms())
        .await
        .unwrap();
    drop(c);
    let same_browser = s
        .convert("order-2", "totally-not-carl@example.com", |i| {
            i.signals.code = Some(ReferralCode::parse(&carl.code).unwrap());
            i.signals.visitor_id = Some("carls-browser".into());
        })
        .await;
    let r2 = same_browser.referral.unwrap();
    assert_eq!(
        (r2.status.as_str(), r2.rejection_reason.as_deref()),
        ("rejected", Some("self_referral"))
    );
    let findings: Value = serde_json::from_str(&r2.fraud_findings).unwrap();
    assert!(
        findings[0]["detail"]
            .as_str()
            .unwrap()
            .contains("visitor id")
    );
}

async fn disposable_and_existing_friends_follow_the_policy(store: Store) {
    let s = shop(store, "Shop", rules()).await;
    let anna = s.advocate("anna@example.com").await;
    let code = || Some(ReferralCode::parse(&anna.code).unwrap());
    let throwaway = s
        .convert("order-1", "someone@mailinator.com", |i| {
            i.signals.code = code()
        })
        .await
        .referral
        .unwrap();
    assert_eq!(
        (
            throwaway.status.as_str(),
            throwaway.rejection_reason.as_deref()
        ),
        ("rejected", Some("disposable_email"))
    );
    // A customer the business imported before is not new business: flagged for review.
    let known = CustomerInput {
        created_from: "import",
        ..person("known@example.com")
    };
    tracking::upsert_customer(&s.store, s.ws, &known, &Actor::cli())
        .await
        .unwrap();
    let flagged = s
        .convert("order-2", "known@example.com", |i| i.signals.code = code())
        .await
        .referral
        .unwrap();
    assert_eq!(
        (flagged.status.as_str(), flagged.fraud_verdict.as_str()),
        ("converted", "flagged"),
        "waits for review, not qualified"
    );
    let findings: Value = serde_json::from_str(&flagged.fraud_findings).unwrap();
    assert_eq!(findings[0]["code"], "existing_customer");
}

async fn referral_loops_are_blocked(store: Store) {
    let s = shop(store, "Shop", rules()).await;
    let anna = s.advocate("anna@example.com").await;
    s.convert("order-1", "bob@example.com", |i| {
        i.signals.code = Some(ReferralCode::parse(&anna.code).unwrap())
    })
    .await;
    let bob = s.advocate("bob@example.com").await;
    let back = s
        .convert("order-2", "anna@example.com", |i| {
            i.signals.code = Some(ReferralCode::parse(&bob.code).unwrap())
        })
        .await
        .referral
        .unwrap();
    assert_eq!(
        (back.status.as_str(), back.rejection_reason.as_deref()),
        ("rejected", Some("referral_loop"))
    );
}

async fn codes_of_another_workspace_are_unknown(store: Store) {
    let a = shop(store.clone(), "Shop A", rules()).await;
    let b = shop(store, "Shop B", rules()).await;
    let anna = a.advocate("anna@example.com").await;
    let r = b
        .convert("order-1", "bob@example.com", |i| {
            i.signals.code = Some(ReferralCode::parse(&anna.code).unwrap())
        })
        .await;
    assert!(
        r.referral.is_none(),
        "a code of workspace A credits nobody in B"
    );
    let mut c = a.store.read().await.unwrap();
    assert!(
        referrals::list_conversions(&mut c, a.ws, i64::MAX, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        referrals::conversion_by_public_id(&mut c, a.ws, &r.conversion.public_id)
            .await
            .unwrap()
            .is_none()
    );
}

async fn rule_changes_apply_forward_only(store: Store) {
    let s = shop(store, "Shop", rules()).await;
    let anna = s.advocate("anna@example.com").await;
    let first = s
        .convert("order-1", "bob@example.com", |i| {
            i.signals.code = Some(ReferralCode::parse(&anna.code).unwrap())
        })
        .await
        .referral
        .unwrap();
    let mut stricter = rules().checked().unwrap();
    stricter.conversion.min_amount_minor = 1_000_000;
    let p = tracking::update_program(
        &s.store,
        s.ws,
        &s.program.public_id,
        "Friends",
        ProgramStatus::Active,
        &stricter,
        &Actor::cli(),
    )
    .await
    .unwrap();
    assert_eq!(p.version, 2);
    let same = tracking::update_program(
        &s.store,
        s.ws,
        &s.program.public_id,
        "Friends renamed",
        ProgramStatus::Active,
        &stricter,
        &Actor::cli(),
    )
    .await
    .unwrap();
    assert_eq!(same.version, 2, "the same rules make no new version");
    let second = s
        .convert("order-2", "carl@example.com", |i| {
            i.signals.code = Some(ReferralCode::parse(&anna.code).unwrap())
        })
        .await;
    let r2 = second.referral.unwrap();
    assert_eq!((first.program_version, r2.program_version), (1, 2));
    assert_eq!(
        (r2.status.as_str(), second.conversion.status.as_str()),
        ("pending", "not_counted"),
        "judged by the new rules"
    );
}

async fn csv_import_reports_every_refused_row_and_keeps_the_rest(store: Store) {
    let s = shop(store, "Shop", rules()).await;
    let csv = "Email,Name,external_id,consent_marketing,tier,attributes\n\
        anna@example.com,Anna,A1,yes,gold,\n\
        not-an-email,Bad,,,,\n\
        ,,,,silver,\n\
        bob@example.com,Bob,B1,maybe,,\n\
        carl@example.com,Carl,C1,no,,{\"city\": \"Lyon\"}\n\
        dana@example.com,Dana,D1,,,[1]\n\
        ANNA@example.com,Anna Smith,,,platinum,\n";
    let mut seen = 0;
    let r =
        vouch_store::customers_csv::import(&s.store, s.ws, csv.as_bytes(), &Actor::cli(), |p| {
            seen = p.rows
        })
        .await
        .unwrap();
    assert_eq!((r.rows, r.created, r.updated, seen), (7, 2, 1, 7));
    let lines: Vec<_> = r
        .errors
        .iter()
        .map(|e| (e.line, e.error.split(':').next().unwrap().to_string()))
        .collect();
    assert_eq!(
        lines,
        [
            (3, "email".into()),
            (4, "each row needs an email or an external_id".into()),
            (5, "consent_marketing".into()),
            (7, "attributes".into())
        ]
    );
    let mut c = s.store.read().await.unwrap();
    let anna =
        vouch_store::customers::by_email(&mut c, s.ws, &Email::parse("anna@example.com").unwrap())
            .await
            .unwrap()
            .unwrap();
    assert_eq!(
        (
            anna.name.as_str(),
            anna.external_id.as_deref(),
            anna.consent_marketing,
            anna.created_from.as_str()
        ),
        ("Anna Smith", Some("A1"), 1, "import")
    );
    let attrs: Value = serde_json::from_str(&anna.attributes).unwrap();
    assert_eq!(attrs, serde_json::json!({ "tier": "platinum" }));
    let carl = vouch_store::customers::by_external_id(&mut c, s.ws, "C1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&carl.attributes).unwrap(),
        serde_json::json!({ "city": "Lyon" })
    );
    drop(c);
    // Export, then import into another workspace: the same customers.
    let mut out = Vec::new();
    assert_eq!(
        vouch_store::customers_csv::export(&s.store, s.ws, &mut out)
            .await
            .unwrap(),
        2
    );
    let (_, again) = import_elsewhere(&s, "Other", &out).await;
    assert_eq!((again.created, again.errors.len()), (2, 0));
    let bad_header = vouch_store::customers_csv::import(
        &s.store,
        s.ws,
        "name,phone\nx,1\n".as_bytes(),
        &Actor::cli(),
        |_| {},
    )
    .await;
    assert!(
        bad_header
            .unwrap_err()
            .to_string()
            .contains("email or an external_id column")
    );
}

async fn enrolment_follows_eligibility_and_vanity_rules(store: Store) {
    use vouch_core::program::Eligibility;
    let mut r = rules();
    r.eligibility = Eligibility::Purchasers;
    let s = shop(store, "Shop", r).await;
    let enrol = |email: &str, vanity: Option<&str>| {
        let input = CustomerInput {
            name: Some(email.split('@').next().unwrap().to_string()),
            ..person(email)
        };
        let vanity = vanity.map(|v| ReferralCode::parse(v).unwrap());
        let (store, ws, program) = (s.store.clone(), s.ws, s.program.clone());
        async move {
            tracking::enroll(&store, ws, &program, &input, vanity.as_ref(), &Actor::cli()).await
        }
    };
    let err = enrol("stranger@example.com", None).await.unwrap_err();
    assert!(
        matches!(err, vouch_store::StoreError::Rejected("not_eligible", _)),
        "{err:?}"
    );
    tracking::upsert_customer(&s.store, s.ws, &person("carl@example.com"), &Actor::cli())
        .await
        .unwrap();
    assert!(
        matches!(
            enrol("carl@example.com", None).await,
            Err(vouch_store::StoreError::Rejected("not_eligible", _))
        ),
        "known but never bought"
    );
    // Once Carl has bought, he may advocate; a stranger still may not, and nothing was created for them.
    s.convert("carl-order", "carl@example.com", |_| {}).await;
    let carl = enrol("carl@example.com", Some("CARL10")).await.unwrap().0;
    assert_eq!(carl.vanity_code.as_deref(), Some("CARL10"));
    let mut c = s.store.read().await.unwrap();
    assert!(
        vouch_store::customers::by_email(
            &mut c,
            s.ws,
            &Email::parse("stranger@example.com").unwrap()
        )
        .await
        .unwrap()
        .is_none()
    );
    drop(c);
    s.convert("anna-order", "anna@example.com", |_| {}).await;
    let err = enrol("anna@example.com", Some("CARL20")).await.unwrap_err();
    assert!(
        matches!(
            err,
            vouch_store::StoreError::Rejected("vanity_impersonation", _)
        ),
        "{err:?}"
    );
    let err = enrol("anna@example.com", Some("SH1TSHOP"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            vouch_store::StoreError::Rejected("vanity_inappropriate", _)
        ),
        "{err:?}"
    );
    assert!(enrol("anna@example.com", Some("ANNA10")).await.is_ok());
}

async fn a_shared_ip_only_flags(store: Store) {
    let s = shop(store, "Shop", rules()).await;
    let dana = s.advocate("dana@example.com").await;
    // Dana joined from the office; a colleague clicks her link from the same address.
    let mut c = s.store.write().await.unwrap();
    vouch_store::advocates::remember_visitor(
        &mut c,
        s.ws,
        dana.id,
        "danas-browser",
        "ip",
        now_ms(),
    )
    .await
    .unwrap();
    c.commit().await.unwrap();
    let click = s.click(&dana, "colleagues-browser", 60_000, true).await;
    let r = s
        .convert("order-1", "colleague@example.com", |i| {
            i.signals.click_id = Some(click)
        })
        .await;
    let referral = r.referral.unwrap();
    assert_eq!(
        (referral.fraud_verdict.as_str(), referral.status.as_str()),
        ("flagged", "converted"),
        "flagged for review, not blocked"
    );
    let findings: Value = serde_json::from_str(&referral.fraud_findings).unwrap();
    assert_eq!(findings[0]["code"], "shared_ip", "{findings}");
}

/// The click writer (a native connection on a SQLite file) and the bulk statement in a
/// transaction of the pool store the same rows and add up the same rollups.
async fn the_click_writer_stores_what_the_bulk_statement_stores(store: Store) {
    let s = shop(store, "Shop", rules()).await;
    let anna = s.advocate("anna@example.com").await;
    let at = now_ms();
    let click = |n: i64, qualified: bool| NewClick {
        workspace_id: s.ws,
        public_id: time_ordered_id("", at + n),
        program_id: anna.program_id,
        advocate_id: anna.id,
        visitor_id: format!("visitor-{n}"),
        ip_hash: "ip-hash".into(),
        user_agent: "Mozilla/5.0 \u{e9}t\u{e9}".into(),
        referer: "https://mail.example.com/?q='quoted'".into(),
        params: r#"{"utm_source":"newsletter"}"#.into(),
        qualified,
        unqualified_reason: if qualified { "" } else { "bot" },
        created_at: at + n,
    };
    let by_writer: Vec<NewClick> = (0..5).map(|n| click(n, n % 2 == 0)).collect();
    let by_statement: Vec<NewClick> = (5..10).map(|n| click(n, n % 2 == 0)).collect();
    vouch_store::clicks::write(&s.store, &Arc::from(by_writer.clone()))
        .await
        .unwrap();
    let mut tx = s.store.write().await.unwrap();
    insert_batch(&mut tx, s.store.backend(), &by_statement)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut c = s.store.read().await.unwrap();
    let stored = vouch_store::clicks::list(&mut c, s.ws, None, i64::MAX, 100)
        .await
        .unwrap();
    assert_eq!(stored.len(), 10);
    // What each click should have become, in the stored row's own shape.
    let as_stored = |k: &NewClick, stored: &vouch_store::rows::Click| vouch_store::rows::Click {
        id: stored.id,
        workspace_id: k.workspace_id,
        public_id: k.public_id.clone(),
        program_id: k.program_id,
        advocate_id: k.advocate_id,
        visitor_id: k.visitor_id.clone(),
        ip_hash: k.ip_hash.clone(),
        user_agent: k.user_agent.clone(),
        referer: k.referer.clone(),
        params: k.params.clone(),
        qualified: i64::from(k.qualified),
        unqualified_reason: k.unqualified_reason.to_string(),
        created_at: k.created_at,
    };
    for k in by_writer.iter().chain(&by_statement) {
        let row = stored
            .iter()
            .find(|r| r.public_id == k.public_id)
            .expect("every click stored");
        assert_eq!(row, &as_stored(k, row));
    }
    let found = vouch_store::clicks::by_public_id(&mut c, s.ws, &by_writer[0].public_id)
        .await
        .unwrap();
    assert_eq!(found.map(|k| k.visitor_id), Some("visitor-0".to_string()));
    let rollups = vouch_store::clicks::rollups(&mut c, s.ws, anna.id)
        .await
        .unwrap();
    let (clicks, qualified) = rollups
        .iter()
        .fold((0, 0), |(n, q), r| (n + r.clicks, q + r.qualified_clicks));
    assert_eq!((clicks, qualified), (10, 5), "{rollups:?}");
}

/// A name that is a formula leaves as text (a leading apostrophe), a phone number as it is, and
/// the exported file imports back to the same values.
async fn customer_export_is_spreadsheet_safe_and_imports_back(store: Store) {
    let s = shop(store, "Csv", rules()).await;
    let formula = "=HYPERLINK(\"http://evil.example/\",\"click\")";
    let mut c = s.store.write().await.unwrap();
    vouch_store::customers::upsert(
        &mut c,
        s.ws,
        &CustomerInput {
            email: Some(Email::parse("eve@example.com").unwrap()),
            name: Some(formula.into()),
            external_id: Some("@E1".into()),
            phone: Some("+33 6 12 34 56 78".into()),
            created_from: "test",
            ..Default::default()
        },
        now_ms(),
    )
    .await
    .unwrap();
    c.commit().await.unwrap();
    let mut out = Vec::new();
    vouch_store::customers_csv::export(&s.store, s.ws, &mut out)
        .await
        .unwrap();
    let text = String::from_utf8(out.clone()).unwrap();
    assert!(text.contains("'=HYPERLINK("), "{text}");
    assert!(text.contains(",'@E1,"), "{text}");
    assert!(text.contains(",+33 6 12 34 56 78,"), "{text}");
    let (other, r) = import_elsewhere(&s, "Csv again", &out).await;
    assert_eq!((r.created, r.errors.len()), (1, 0), "{:?}", r.errors);
    let mut c = other.store.read().await.unwrap();
    let eve = vouch_store::customers::by_external_id(&mut c, other.ws, "@E1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (eve.name.as_str(), eve.phone.as_str()),
        (formula, "+33 6 12 34 56 78")
    );
}

/// Imports `csv` into a new workspace `name` on the same store.
async fn import_elsewhere(
    s: &Shop,
    name: &str,
    csv: &[u8],
) -> (Shop, vouch_store::customers_csv::ImportReport) {
    let other = shop(s.store.clone(), name, rules()).await;
    let r = vouch_store::customers_csv::import(&other.store, other.ws, csv, &Actor::cli(), |_| {})
        .await
        .unwrap();
    (other, r)
}
