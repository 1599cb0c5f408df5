//! Rewards on both backends: hold → approve → fulfil, refunds before and after fulfilment,
//! exactly once under duplicates, a sprint's window to the millisecond across DST, a code pool
//! running dry, caps, tiers and entitlements, 100 concurrent payouts, and a ledger that refuses
//! edits.

mod common;
use common::*;

use serde_json::json;
use vouch_core::campaign::{Audience, Effect, Sides, instant_in};
use vouch_core::clock::now_ms;
use vouch_core::code::ReferralCode;
use vouch_core::ledger::Account;
use vouch_core::program::ProgramRules;
use vouch_store::audit::Actor;
use vouch_store::campaigns::{self, NewCampaign};
use vouch_store::rewards::{self, Filter, Verdict};
use vouch_store::rows::{Advocate, Reward};
use vouch_store::{Store, StoreError, ledger, notices, payouts, pools, referrals};

vouch_store::both_backends!(
    hold_then_approve_then_fulfil,
    refunds_void_during_the_hold_and_claw_back_after,
    duplicate_deliveries_make_one_reward_and_one_posting,
    a_sprint_doubles_only_inside_its_window,
    a_sprint_announces_its_start_and_end,
    a_code_pool_running_dry_makes_rewards_wait,
    caps_refuse_with_limit_reached,
    tiers_milestones_and_entitlements,
    hundred_concurrent_payouts_never_exceed_payable,
    the_ledger_refuses_edits,
    credit_is_spent_once_and_never_beyond_the_balance,
    a_program_budget_refuses_with_limit_reached,
    reward_rule_changes_apply_forward_only,
);

const DAY: i64 = 86_400_000;

fn with_rewards(rewards: serde_json::Value) -> ProgramRules {
    let mut r = rules();
    r.rewards = serde_json::from_value(rewards).unwrap();
    r
}

/// €10 cash for the advocate, 15% credit (at most €20) for the friend, 30-day hold.
fn double_sided() -> ProgramRules {
    with_rewards(json!({ "rules": [
        { "key": "advocate", "beneficiary": "advocate", "trigger": { "on": "qualified_referral" },
          "grants": [{ "type": "cash", "amount": { "type": "fixed", "minor": 1000 } }] },
        { "key": "friend", "beneficiary": "friend", "trigger": { "on": "first_purchase" },
          "grants": [{ "type": "credit", "amount": { "type": "percent", "bps": 1500, "cap_minor": 2000 } }] } ] }))
}

async fn buy(s: &Shop, a: &Advocate, order: &str, friend: &str, at: i64) -> referrals::Recorded {
    s.convert(order, friend, |i| {
        i.signals.code = Some(ReferralCode::parse(&a.code).unwrap());
        i.occurred_at = at;
    })
    .await
}

/// `n` friends of `a` buying at `at`, one after the other.
async fn friends(s: &Shop, a: &Advocate, n: usize, at: i64) -> Vec<referrals::Recorded> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(buy(s, a, &format!("o-{i}"), &format!("f{i}@example.com"), at).await);
    }
    out
}

async fn reward(store: &Store, ws: i64, id: &str) -> Reward {
    let mut c = store.read().await.unwrap();
    rewards::by_public_id(&mut c, ws, id)
        .await
        .unwrap()
        .unwrap()
}

async fn bal(store: &Store, ws: i64, account: Account, customer: i64) -> i64 {
    let mut c = store.read().await.unwrap();
    ledger::balance(&mut c, store.backend(), ws, account, customer, "EUR")
        .await
        .unwrap()
}

async fn sound(store: &Store, ws: i64) {
    let mut c = store.read().await.unwrap();
    assert_eq!(
        ledger::audit(&mut c, ws).await.unwrap(),
        Vec::<String>::new()
    );
}

/// The kinds of the `reward.*` outbox events about reward `id`, oldest first.
async fn events_of(store: &Store, ws: i64, id: &str) -> Vec<String> {
    let mut c = store.read().await.unwrap();
    let mut kinds: Vec<String> = vouch_store::outbox::list(&mut c, ws, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| {
            e.kind.starts_with("reward.")
                && serde_json::from_str::<serde_json::Value>(&e.payload).unwrap()["reward"] == id
        })
        .map(|e| e.kind)
        .collect();
    kinds.reverse();
    kinds
}

fn by_rule<'a>(list: &'a [Reward], rule: &str) -> &'a Reward {
    list.iter().find(|r| r.rule_key == rule).unwrap()
}

async fn hold_then_approve_then_fulfil(store: Store) {
    let s = shop(store, "Hold", double_sided()).await;
    let anna = s.advocate("anna@example.com").await;
    let now = now_ms();
    let r = buy(&s, &anna, "o-1", "bob@example.com", now).await;
    assert_eq!(r.rewards.len(), 2);
    let cash = by_rule(&r.rewards, "advocate").clone();
    let credit = by_rule(&r.rewards, "friend").clone();
    assert_eq!((cash.status.as_str(), cash.amount_minor), ("pending", 1000));
    assert_eq!(
        (credit.kind.as_str(), credit.amount_minor),
        ("credit", 750),
        "15% of 50.00"
    );
    assert_eq!(cash.hold_until, now + 30 * DAY);

    let early = rewards::decide_rewards(
        &s.store,
        s.ws,
        std::slice::from_ref(&cash.public_id),
        Verdict::Approve,
        "",
        &Actor::cli(),
    )
    .await;
    assert!(
        matches!(early, Err(StoreError::Rejected("on_hold", _))),
        "{early:?}"
    );
    assert_eq!(
        rewards::release_due(&s.store, s.ws, now + 30 * DAY - 1)
            .await
            .unwrap(),
        0
    );

    assert_eq!(
        rewards::release_due(&s.store, s.ws, now + 30 * DAY)
            .await
            .unwrap(),
        2
    );
    let cash = reward(&s.store, s.ws, &cash.public_id).await;
    let credit = reward(&s.store, s.ws, &credit.public_id).await;
    assert_eq!(
        (cash.status.as_str(), cash.posted),
        ("approved", 1),
        "cash is payable until paid out"
    );
    assert_eq!(credit.status, "fulfilled", "credit is posted at once");
    assert_eq!(
        bal(&s.store, s.ws, Account::AdvocatePayable, anna.customer_id).await,
        1000
    );
    assert_eq!(
        bal(&s.store, s.ws, Account::CustomerCredit, credit.customer_id).await,
        750
    );
    assert_eq!(bal(&s.store, s.ws, Account::ProgramExpense, 0).await, 1750);

    // Paid out: the cash reward is fulfilled and the referral rewarded.
    let (batch, made) = payouts::confirm(&s.store, s.ws, "2026-12", "EUR", 500, &Actor::cli())
        .await
        .unwrap();
    assert!(made);
    assert_eq!((batch.total_minor, batch.payees), (1000, 1));
    let again = payouts::confirm(&s.store, s.ws, "2026-12", "EUR", 500, &Actor::cli())
        .await
        .unwrap();
    assert_eq!(
        (again.0.id, again.1),
        (batch.id, false),
        "the same batch key is the same batch"
    );
    let csv = {
        let mut c = s.store.read().await.unwrap();
        let lines = payouts::items(&mut c, &batch).await.unwrap();
        String::from_utf8(payouts::Provider::render(&payouts::CsvExport, &batch, &lines).unwrap())
            .unwrap()
    };
    assert!(
        csv.starts_with("batch,payee_id,external_id,email,name,amount,currency,note\n"),
        "{csv}"
    );
    assert!(csv.contains(",anna@example.com,anna,10.00,EUR,"), "{csv}");
    let paid = payouts::mark_paid(&s.store, s.ws, &batch.public_id, "BANK-42", &Actor::cli())
        .await
        .unwrap();
    assert_eq!(paid.status, "paid");
    assert!(matches!(
        payouts::cancel(&s.store, s.ws, &batch.public_id, &Actor::cli()).await,
        Err(StoreError::Rejected("payout_paid", _))
    ));
    let cash = reward(&s.store, s.ws, &cash.public_id).await;
    assert_eq!(cash.status, "fulfilled");
    assert_eq!(
        bal(&s.store, s.ws, Account::AdvocatePayable, anna.customer_id).await,
        0
    );
    assert_eq!(bal(&s.store, s.ws, Account::PaidOut, 0).await, 1000);
    let mut c = s.store.read().await.unwrap();
    let referral = referrals::referral_by_id(&mut c, s.ws, cash.referral_id.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(referral.status, "rewarded");
    drop(c);
    assert_eq!(
        events_of(&s.store, s.ws, &cash.public_id).await,
        ["reward.created", "reward.approved", "reward.fulfilled"]
    );
    assert_eq!(
        events_of(&s.store, s.ws, &credit.public_id).await,
        ["reward.created", "reward.approved", "reward.fulfilled"]
    );
    sound(&s.store, s.ws).await;
}

async fn refunds_void_during_the_hold_and_claw_back_after(store: Store) {
    let s = shop(store, "Refunds", double_sided()).await;
    let anna = s.advocate("anna@example.com").await;
    let now = now_ms();
    // Refunded during the hold: voided, nothing posted.
    let r = buy(&s, &anna, "o-1", "bob@example.com", now).await;
    let undone = match referrals::reverse_conversion(&s.store, s.ws, "o-1", "r-1", &Actor::cli())
        .await
        .unwrap()
    {
        referrals::Reversal::Applied(r) => r.rewards,
        referrals::Reversal::Held => unreachable!(),
    };
    assert_eq!(
        undone.iter().map(|r| r.status.as_str()).collect::<Vec<_>>(),
        ["voided", "voided"]
    );
    assert_eq!(undone.len(), r.rewards.len());
    assert_eq!(bal(&s.store, s.ws, Account::ProgramExpense, 0).await, 0);
    for w in &undone {
        assert_eq!(
            events_of(&s.store, s.ws, &w.public_id).await,
            ["reward.created", "reward.voided"]
        );
    }

    // Refunded after the hold, before a payout: clawed back from the payable balance.
    let old = now - 40 * DAY;
    let r = buy(&s, &anna, "o-2", "carol@example.com", old).await;
    assert!(
        r.rewards.iter().all(|w| w.posted == 1),
        "the hold was over on arrival"
    );
    assert_eq!(
        bal(&s.store, s.ws, Account::AdvocatePayable, anna.customer_id).await,
        1000
    );
    referrals::reverse_conversion(&s.store, s.ws, "o-2", "r-2", &Actor::cli())
        .await
        .unwrap();
    let cash = reward(&s.store, s.ws, &by_rule(&r.rewards, "advocate").public_id).await;
    assert_eq!(cash.status, "clawed_back");
    assert_eq!(
        events_of(&s.store, s.ws, &cash.public_id)
            .await
            .last()
            .map(String::as_str),
        Some("reward.clawed_back")
    );
    assert_eq!(
        bal(&s.store, s.ws, Account::AdvocatePayable, anna.customer_id).await,
        0
    );
    assert_eq!(
        bal(
            &s.store,
            s.ws,
            Account::ClawbackReceivable,
            anna.customer_id
        )
        .await,
        0
    );

    // Refunded after the payout: the advocate owes it, and it nets against the next reward.
    buy(&s, &anna, "o-3", "dan@example.com", old).await;
    let (batch, _) = payouts::confirm(&s.store, s.ws, "b-1", "EUR", 0, &Actor::cli())
        .await
        .unwrap();
    payouts::mark_paid(&s.store, s.ws, &batch.public_id, "REF", &Actor::cli())
        .await
        .unwrap();
    referrals::reverse_conversion(&s.store, s.ws, "o-3", "r-3", &Actor::cli())
        .await
        .unwrap();
    assert_eq!(
        bal(
            &s.store,
            s.ws,
            Account::ClawbackReceivable,
            anna.customer_id
        )
        .await,
        1000
    );
    buy(&s, &anna, "o-4", "erin@example.com", old).await;
    assert_eq!(
        bal(
            &s.store,
            s.ws,
            Account::ClawbackReceivable,
            anna.customer_id
        )
        .await,
        0,
        "settled by the next reward"
    );
    assert_eq!(
        bal(&s.store, s.ws, Account::AdvocatePayable, anna.customer_id).await,
        0
    );

    // A refund that overtakes its order: the rewards end voided, as if it came after.
    referrals::reverse_conversion(&s.store, s.ws, "o-5", "r-5", &Actor::cli())
        .await
        .unwrap();
    let r = buy(&s, &anna, "o-5", "fay@example.com", now).await;
    assert_eq!(r.conversion.status, "reversed");
    assert!(
        r.rewards.iter().all(|w| w.status == "voided"),
        "{:?}",
        r.rewards
    );
    sound(&s.store, s.ws).await;
}

async fn duplicate_deliveries_make_one_reward_and_one_posting(store: Store) {
    let s = shop(store, "Dups", double_sided()).await;
    let anna = s.advocate("anna@example.com").await;
    let at = now_ms() - 40 * DAY;
    let mut tasks = Vec::new();
    for _ in 0..30 {
        let store = s.store.clone();
        let (ws, code) = (s.ws, anna.code.clone());
        tasks.push(tokio::spawn(async move {
            let input = referrals::ConversionInput {
                external_id: "o-1".into(),
                customer: person("bob@example.com"),
                kind: vouch_core::program::ConversionKind::FirstPurchase,
                amount_minor: 5000,
                currency: "EUR".into(),
                signals: referrals::FriendSignals {
                    code: Some(ReferralCode::parse(&code).unwrap()),
                    ..Default::default()
                },
                occurred_at: at,
            };
            referrals::record_conversion(&store, ws, &input, &Actor::cli())
                .await
                .unwrap()
        }));
    }
    let mut issued = 0;
    for t in tasks {
        issued += t.await.unwrap().rewards.len();
    }
    assert_eq!(
        issued, 2,
        "one delivery issued both rewards; the others none"
    );
    let mut c = s.store.read().await.unwrap();
    let all = rewards::list(&mut c, s.ws, &Filter::default(), i64::MAX, 100)
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let postings: i64 = sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM ledger_transactions WHERE workspace_id = $1",
    )
    .bind(s.ws)
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!(postings, 2);
    drop(c);
    // Releasing again, or replaying the job, posts nothing more.
    assert_eq!(
        rewards::release_due(&s.store, s.ws, now_ms() + 100 * DAY)
            .await
            .unwrap(),
        0
    );
    for r in &all {
        rewards::release(&s.store, s.ws, r.id, now_ms() + 100 * DAY)
            .await
            .unwrap();
    }
    assert_eq!(bal(&s.store, s.ws, Account::ProgramExpense, 0).await, 1750);
    sound(&s.store, s.ws).await;
}

async fn a_sprint_doubles_only_inside_its_window(store: Store) {
    let s = shop(store, "Sprint", double_sided()).await;
    let anna = s.advocate("anna@example.com").await;
    let tz = "Europe/Paris";
    // Across the spring-forward night: 28 March 2026 20:00 CET to 29 March 20:00 CEST.
    let starts = instant_in("starts_at", "2026-03-28T20:00", tz).unwrap();
    let ends = instant_in("ends_at", "2026-03-29T20:00", tz).unwrap();
    assert_eq!(ends - starts, 23 * 3_600_000, "the night is an hour short");
    let mut c = s.store.write().await.unwrap();
    let sprint = campaigns::create(
        &mut c,
        s.ws,
        &NewCampaign {
            name: "Spring sprint".into(),
            headline: String::new(),
            program_public_ids: vec![s.program.public_id.clone()],
            starts_at: starts,
            ends_at: ends,
            time_zone: tz.into(),
            effect: Effect::Multiplier { bps: 20_000 },
            stackable: false,
            sides: Sides::Advocate,
            audience: Audience::All,
            budget_minor: None,
        },
        now_ms(),
    )
    .await
    .unwrap();
    let edges: i64 = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM jobs WHERE kind = 'campaign.edge' AND workspace_id = $1 AND run_at IN ($2, $3)")
        .bind(s.ws).bind(starts).bind(ends).fetch_one(&mut *c).await.unwrap();
    assert_eq!(
        edges, 2,
        "the start and the end are scheduled at their instants"
    );
    c.commit().await.unwrap();
    assert_eq!(
        campaigns::headline(&sprint),
        "Double rewards until Sunday 29 March 20:00"
    );
    let mut amounts = Vec::new();
    for (i, at) in [starts - 1, starts, ends - 1, ends].into_iter().enumerate() {
        let r = buy(
            &s,
            &anna,
            &format!("o-{i}"),
            &format!("f{i}@example.com"),
            at,
        )
        .await;
        let cash = by_rule(&r.rewards, "advocate");
        let friend = by_rule(&r.rewards, "friend");
        assert_eq!(
            friend.amount_minor, 750,
            "the friend side is not in the campaign"
        );
        amounts.push((cash.amount_minor, cash.campaigns.clone()));
    }
    let ids = format!("[\"{}\"]", sprint.public_id);
    assert_eq!(
        amounts,
        [
            (1000, "[]".into()),
            (2000, ids.clone()),
            (2000, ids),
            (1000, "[]".into())
        ]
    );
    let mut c = s.store.read().await.unwrap();
    let after = campaigns::by_public_id(&mut c, s.ws, &sprint.public_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        after.spent_minor, 2000,
        "what the sprint added is counted against it"
    );
}

async fn a_code_pool_running_dry_makes_rewards_wait(store: Store) {
    let s = shop(store, "Pool", with_rewards(json!({ "hold_days": 0, "refund_window_days": 0, "rules": [
        { "key": "friend", "beneficiary": "friend", "trigger": { "on": "first_purchase" },
          "grants": [{ "type": "discount", "pool": "welcome", "value": { "type": "fixed", "minor": 500 } }] } ] }))).await;
    let anna = s.advocate("anna@example.com").await;
    let now = now_ms();
    // The pool does not exist yet: the reward waits, and the admin is told.
    let r = buy(&s, &anna, "o-0", "zed@example.com", now).await;
    assert_eq!(r.rewards[0].status, "pending_stock");
    let pool = rewards::create_pool(
        &s.store,
        s.ws,
        &pools::NewPool {
            key: "welcome",
            name: "Welcome codes",
            pattern: None,
            low_stock_threshold: 1,
        },
        &Actor::cli(),
    )
    .await
    .unwrap();
    rewards::import_codes(
        &s.store,
        s.ws,
        &pool.public_id,
        &["WELCOME-A".into(), "WELCOME-B".into()],
        &Actor::cli(),
    )
    .await
    .unwrap();
    let first = reward(&s.store, s.ws, &r.rewards[0].public_id).await;
    assert_eq!(
        (first.status.as_str(), first.code.as_deref()),
        ("fulfilled", Some("WELCOME-A")),
        "delivered when codes arrived"
    );
    let second = buy(&s, &anna, "o-1", "bob@example.com", now).await.rewards[0].clone();
    assert_eq!(second.code.as_deref(), Some("WELCOME-B"));
    let third = buy(&s, &anna, "o-2", "carol@example.com", now)
        .await
        .rewards[0]
        .clone();
    assert_eq!(
        (third.status.as_str(), third.code.as_deref()),
        ("pending_stock", None)
    );
    let mut c = s.store.read().await.unwrap();
    let open = notices::open(&mut c, s.ws).await.unwrap();
    assert!(
        open.iter()
            .any(|n| n.kind == "code_pool.low_stock" && n.message.contains("is empty")),
        "{open:?}"
    );
    let events: i64 = sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM events WHERE workspace_id = $1 AND kind = 'code_pool.low_stock'",
    )
    .bind(s.ws)
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert!(events >= 1);
    drop(c);
    let (added, delivered) = rewards::import_codes(
        &s.store,
        s.ws,
        &pool.public_id,
        &["WELCOME-B".into(), "WELCOME-C".into()],
        &Actor::cli(),
    )
    .await
    .unwrap();
    assert_eq!(
        (added, delivered),
        (1, 1),
        "the duplicate code is skipped; the waiting reward gets the new one"
    );
    assert_eq!(
        reward(&s.store, s.ws, &third.public_id)
            .await
            .code
            .as_deref(),
        Some("WELCOME-C")
    );
    // A used code clawed back is recorded as lost value.
    let mut c = s.store.write().await.unwrap();
    assert!(pools::redeem(&mut c, s.ws, "welcome-b", now).await.unwrap());
    c.commit().await.unwrap();
    referrals::reverse_conversion(&s.store, s.ws, "o-1", "r-1", &Actor::cli())
        .await
        .unwrap();
    let clawed = reward(&s.store, s.ws, &second.public_id).await;
    assert_eq!(
        (clawed.status.as_str(), clawed.lost_value_minor),
        ("clawed_back", 500)
    );
    // A generated pool never runs dry.
    let generated = rewards::create_pool(
        &s.store,
        s.ws,
        &pools::NewPool {
            key: "gen",
            name: "Generated",
            pattern: Some("THX-????-####"),
            low_stock_threshold: 0,
        },
        &Actor::cli(),
    )
    .await
    .unwrap();
    let mut c = s.store.write().await.unwrap();
    let code = pools::take(&mut c, s.store.backend(), &generated, third.id, now)
        .await
        .unwrap()
        .unwrap();
    assert!(code.starts_with("THX-") && code.len() == 13, "{code}");
}

async fn caps_refuse_with_limit_reached(store: Store) {
    let s = shop(
        store,
        "Caps",
        with_rewards(
            json!({ "advocate_cap": { "amount_minor": 2500, "period": "month" }, "rules": [
        { "key": "advocate", "beneficiary": "advocate", "trigger": { "on": "qualified_referral" },
          "grants": [{ "type": "cash", "amount": { "type": "fixed", "minor": 1000 } }] } ] }),
        ),
    )
    .await;
    let anna = s.advocate("anna@example.com").await;
    let now = now_ms();
    let mut statuses = Vec::new();
    for r in friends(&s, &anna, 3, now).await {
        statuses.push((r.rewards[0].status.clone(), r.rewards[0].refusal.clone()));
    }
    assert_eq!(
        statuses[..2],
        [("pending".to_string(), None), ("pending".to_string(), None)]
    );
    assert_eq!(
        statuses[2],
        ("refused".to_string(), Some("limit_reached".to_string()))
    );
    let mut c = s.store.read().await.unwrap();
    let open = notices::open(&mut c, s.ws).await.unwrap();
    assert!(
        open.iter()
            .any(|n| n.kind == "reward.limit_reached" && n.message.contains("cap")),
        "{open:?}"
    );
}

async fn tiers_milestones_and_entitlements(store: Store) {
    let s = shop(store, "Tiers", with_rewards(json!({ "hold_days": 0, "refund_window_days": 0, "rules": [
        { "key": "advocate", "beneficiary": "advocate", "trigger": { "on": "qualified_referral" }, "tiers": [
            { "name": "Bronze", "min_referrals": 1, "grants": [{ "type": "credit", "amount": { "type": "fixed", "minor": 500 } }] },
            { "name": "Gold", "min_referrals": 3, "grants": [
                { "type": "cash", "amount": { "type": "fixed", "minor": 2000 } },
                { "type": "feature", "name": "premium", "duration_days": 30 } ] } ] } ],
        "milestones": [{ "at": 2, "grant": { "type": "perk", "text": "A cake" } }] }))).await;
    let anna = s.advocate("anna@example.com").await;
    let now = now_ms();
    let mut got = Vec::new();
    for r in friends(&s, &anna, 3, now).await {
        got.push(
            r.rewards
                .iter()
                .map(|w| (w.rule_key.clone(), w.kind.clone(), w.status.clone()))
                .collect::<Vec<_>>(),
        );
    }
    let s3 = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    assert_eq!(got[0], [s3("advocate", "credit", "fulfilled")]);
    assert_eq!(
        got[1],
        [
            s3("advocate", "credit", "fulfilled"),
            s3("milestone:2", "perk", "approved")
        ]
    );
    assert_eq!(
        got[2],
        [
            s3("advocate#0", "cash", "approved"),
            s3("advocate#1", "feature", "fulfilled")
        ]
    );
    let mut c = s.store.read().await.unwrap();
    let ent = rewards::entitlements(&mut c, s.ws, anna.customer_id, now)
        .await
        .unwrap();
    assert_eq!(
        ent.iter().map(|e| e.feature.as_str()).collect::<Vec<_>>(),
        ["premium"]
    );
    assert!(
        rewards::entitlements(&mut c, s.ws, anna.customer_id, now + 31 * DAY)
            .await
            .unwrap()
            .is_empty(),
        "it lasts 30 days"
    );
    let tiers: Vec<String> = sqlx::query_scalar(
        "SELECT payload FROM events WHERE workspace_id = $1 AND kind = 'tier.reached' ORDER BY id",
    )
    .bind(s.ws)
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert_eq!(
        tiers.len(),
        2,
        "Bronze at the first, Gold at the third: {tiers:?}"
    );
    assert!(tiers[1].contains("Gold"));
    let perk = rewards::list(
        &mut c,
        s.ws,
        &Filter {
            status: Some("approved".into()),
            ..Default::default()
        },
        i64::MAX,
        10,
    )
    .await
    .unwrap()
    .into_iter()
    .find(|r| r.kind == "perk")
    .unwrap();
    drop(c);
    let done = rewards::decide_rewards(
        &s.store,
        s.ws,
        &[perk.public_id],
        Verdict::Fulfil,
        "handed over in the shop",
        &Actor::cli(),
    )
    .await
    .unwrap();
    assert_eq!(done[0].status, "fulfilled");
    // A refund revokes the feature.
    referrals::reverse_conversion(&s.store, s.ws, "o-2", "r-2", &Actor::cli())
        .await
        .unwrap();
    let mut c = s.store.read().await.unwrap();
    assert!(
        rewards::entitlements(&mut c, s.ws, anna.customer_id, now)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn hundred_concurrent_payouts_never_exceed_payable(store: Store) {
    let s = shop(store, "Payouts", double_sided()).await;
    let old = now_ms() - 40 * DAY;
    let mut advocates = Vec::new();
    for i in 0..5 {
        let a = s.advocate(&format!("adv{i}@example.com")).await;
        buy(
            &s,
            &a,
            &format!("o-{i}"),
            &format!("friend{i}@example.com"),
            old,
        )
        .await;
        advocates.push(a);
    }
    let payable: i64 = {
        let mut t = 0;
        for a in &advocates {
            t += bal(&s.store, s.ws, Account::AdvocatePayable, a.customer_id).await;
        }
        t
    };
    assert_eq!(payable, 5000);
    let mut tasks = Vec::new();
    for i in 0..100 {
        let store = s.store.clone();
        let ws = s.ws;
        tasks.push(tokio::spawn(async move {
            payouts::confirm(
                &store,
                ws,
                &format!("batch-{}", i % 50),
                "EUR",
                0,
                &Actor::cli(),
            )
            .await
        }));
    }
    let mut paid = std::collections::BTreeMap::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok((p, _)) => {
                paid.insert(p.id, p.total_minor);
            }
            Err(StoreError::Rejected("nothing_to_pay", _)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(
        paid.values().sum::<i64>(),
        payable,
        "every cent once: {paid:?}"
    );
    for a in &advocates {
        assert_eq!(
            bal(&s.store, s.ws, Account::AdvocatePayable, a.customer_id).await,
            0
        );
        assert_eq!(
            bal(&s.store, s.ws, Account::PayoutPending, a.customer_id).await,
            1000
        );
    }
    // Cancelled before it is paid, the amounts return to payable.
    let mut c = s.store.read().await.unwrap();
    let batch = payouts::list(&mut c, s.ws, i64::MAX, 10)
        .await
        .unwrap()
        .remove(0);
    drop(c);
    payouts::cancel(&s.store, s.ws, &batch.public_id, &Actor::cli())
        .await
        .unwrap();
    assert_eq!(
        bal(
            &s.store,
            s.ws,
            Account::PayoutPending,
            advocates[0].customer_id
        )
        .await,
        0
    );
    assert_eq!(
        bal(
            &s.store,
            s.ws,
            Account::AdvocatePayable,
            advocates[0].customer_id
        )
        .await,
        1000
    );
    sound(&s.store, s.ws).await;
}

async fn the_ledger_refuses_edits(store: Store) {
    let s = shop(store, "Ledger", double_sided()).await;
    let anna = s.advocate("anna@example.com").await;
    let before = now_ms() - 1;
    buy(&s, &anna, "o-1", "bob@example.com", now_ms() - 40 * DAY).await;
    for sql in [
        "UPDATE ledger_entries SET amount_minor = amount_minor + 1",
        "DELETE FROM ledger_entries",
        "UPDATE ledger_transactions SET memo = 'edited'",
        "DELETE FROM ledger_transactions",
    ] {
        let mut tx = s.store.write().await.unwrap();
        let err = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    // Balances at any past instant come from the entries and match the stored ones.
    let mut c = s.store.read().await.unwrap();
    assert_eq!(
        ledger::balance_at(
            &mut c,
            s.ws,
            Account::AdvocatePayable,
            anna.customer_id,
            "EUR",
            before
        )
        .await
        .unwrap(),
        0
    );
    assert_eq!(
        ledger::balance_at(
            &mut c,
            s.ws,
            Account::AdvocatePayable,
            anna.customer_id,
            "EUR",
            now_ms()
        )
        .await
        .unwrap(),
        1000
    );
    drop(c);
    sound(&s.store, s.ws).await;
}

async fn a_sprint_announces_its_start_and_end(store: Store) {
    let s = shop(store, "Edges", double_sided()).await;
    let now = now_ms();
    let new = |name: &str| NewCampaign {
        name: name.into(),
        headline: "Double rewards".into(),
        program_public_ids: vec![s.program.public_id.clone()],
        starts_at: now + 1000,
        ends_at: now + 2000,
        time_zone: "UTC".into(),
        effect: Effect::Multiplier { bps: 20_000 },
        stackable: false,
        sides: Sides::Advocate,
        audience: Audience::All,
        budget_minor: None,
    };
    let kept = campaigns::schedule(&s.store, s.ws, &new("Kept"), &Actor::cli())
        .await
        .unwrap();
    let dropped = campaigns::schedule(&s.store, s.ws, &new("Dropped"), &Actor::cli())
        .await
        .unwrap();
    campaigns::cancel_by(&s.store, s.ws, &dropped.public_id, &Actor::cli())
        .await
        .unwrap();
    // What the worker does at each edge's instant, run by hand (twice: a replay adds nothing
    // the job queue would not already have deduplicated, and a cancelled campaign stays quiet).
    for row in [&kept, &dropped] {
        for (edge, at) in [("started", row.starts_at), ("ended", row.ends_at)] {
            let job = campaigns::CampaignEdge {
                workspace_id: s.ws,
                campaign_id: row.id,
                edge: edge.into(),
                at,
            };
            campaigns::run_edge(&s.store, &job).await.unwrap();
        }
    }
    // An edge job from before the campaign moved is ignored.
    let stale = campaigns::CampaignEdge {
        workspace_id: s.ws,
        campaign_id: kept.id,
        edge: "started".into(),
        at: kept.starts_at - 1,
    };
    campaigns::run_edge(&s.store, &stale).await.unwrap();
    let mut c = s.store.read().await.unwrap();
    let events: Vec<String> = sqlx::query_scalar(
        "SELECT kind FROM events WHERE workspace_id = $1 AND kind LIKE 'campaign.%' AND kind <> 'campaign.scheduled' ORDER BY id",
    )
    .bind(s.ws)
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert_eq!(
        events,
        ["campaign.started", "campaign.ended"],
        "only the kept campaign's edges"
    );
}

async fn credit_is_spent_once_and_never_beyond_the_balance(store: Store) {
    let s = shop(store, "Credit", double_sided()).await;
    let anna = s.advocate("anna@example.com").await;
    let r = buy(&s, &anna, "o-1", "bob@example.com", now_ms() - 40 * DAY).await;
    let bob = by_rule(&r.rewards, "friend").customer_id;
    assert_eq!(bal(&s.store, s.ws, Account::CustomerCredit, bob).await, 750);
    let spent = ledger::redeem_credit(&s.store, s.ws, bob, "EUR", 500, "order-9", &Actor::cli())
        .await
        .unwrap();
    assert_eq!((spent.balance_minor, spent.duplicate), (250, false));
    let again = ledger::redeem_credit(&s.store, s.ws, bob, "EUR", 500, "order-9", &Actor::cli())
        .await
        .unwrap();
    assert!(again.duplicate, "the same order spends once");
    assert_eq!(bal(&s.store, s.ws, Account::CustomerCredit, bob).await, 250);
    let mut tasks = Vec::new();
    for i in 0..10 {
        let store = s.store.clone();
        let ws = s.ws;
        tasks.push(tokio::spawn(async move {
            ledger::redeem_credit(
                &store,
                ws,
                bob,
                "EUR",
                100,
                &format!("order-x{i}"),
                &Actor::cli(),
            )
            .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::Rejected("insufficient_credit", _)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(ok, 2, "250 pays for two spends of 100");
    assert_eq!(bal(&s.store, s.ws, Account::CustomerCredit, bob).await, 50);
    assert_eq!(bal(&s.store, s.ws, Account::CreditRedeemed, 0).await, 700);
    sound(&s.store, s.ws).await;
}

/// The budget is the program's, shared by every advocate: the reward that would cross it is
/// refused with `limit_reached`, the admin is told, and the refusal is an event.
async fn a_program_budget_refuses_with_limit_reached(store: Store) {
    let s = shop(
        store,
        "Budget",
        with_rewards(json!({ "budget_minor": 2500, "rules": [
        { "key": "advocate", "beneficiary": "advocate", "trigger": { "on": "qualified_referral" },
          "grants": [{ "type": "cash", "amount": { "type": "fixed", "minor": 1000 } }] } ] })),
    )
    .await;
    let anna = s.advocate("anna@example.com").await;
    let carl = s.advocate("carl@example.com").await;
    let now = now_ms();
    let first = buy(&s, &anna, "o-1", "f1@example.com", now).await;
    let second = buy(&s, &carl, "o-2", "f2@example.com", now).await;
    let third = buy(&s, &anna, "o-3", "f3@example.com", now).await;
    let state =
        |r: &referrals::Recorded| (r.rewards[0].status.clone(), r.rewards[0].refusal.clone());
    assert_eq!(state(&first), ("pending".to_string(), None));
    assert_eq!(
        state(&second),
        ("pending".to_string(), None),
        "another advocate, same budget"
    );
    assert_eq!(
        state(&third),
        ("refused".to_string(), Some("limit_reached".to_string())),
        "2,000 committed + 1,000 would cross 2,500"
    );
    assert_eq!(
        bal(&s.store, s.ws, Account::ProgramExpense, 0).await,
        0,
        "all still on hold"
    );
    let mut c = s.store.read().await.unwrap();
    let open = notices::open(&mut c, s.ws).await.unwrap();
    assert!(
        open.iter()
            .any(|n| n.kind == "reward.limit_reached" && n.message.contains("budget")),
        "{open:?}"
    );
    drop(c);
    assert_eq!(
        events_of(&s.store, s.ws, &third.rewards[0].public_id).await,
        ["reward.refused"]
    );
}

/// Changing a program's reward rules changes what later referrals earn; rewards already
/// issued keep their amounts, and a referral judged under the old version keeps its rules.
async fn reward_rule_changes_apply_forward_only(store: Store) {
    let cash = |minor: i64| {
        with_rewards(json!({ "rules": [
        { "key": "advocate", "beneficiary": "advocate", "trigger": { "on": "first_purchase" },
          "grants": [{ "type": "cash", "amount": { "type": "fixed", "minor": minor } }] } ] }))
    };
    let s = shop(store, "Forward", cash(1000)).await;
    let anna = s.advocate("anna@example.com").await;
    let now = now_ms();
    let before = buy(&s, &anna, "o-1", "bob@example.com", now).await;
    assert_eq!(before.rewards[0].amount_minor, 1000);
    // Dan is referred (he signs up with Anna's code) before the change and buys after it.
    let signals = referrals::FriendSignals {
        code: Some(ReferralCode::parse(&anna.code).unwrap()),
        ..Default::default()
    };
    let (dan, _, created) = referrals::identify_friend(
        &s.store,
        s.ws,
        &person("dan@example.com"),
        &signals,
        referrals::Identified::Signup,
        &Actor::cli(),
    )
    .await
    .unwrap();
    assert!(created);
    let v1 = dan.unwrap().program_version;

    let changed = vouch_store::tracking::update_program(
        &s.store,
        s.ws,
        &s.program.public_id,
        &s.program.name,
        vouch_core::program::ProgramStatus::Active,
        &cash(2500),
        &Actor::cli(),
    )
    .await
    .unwrap();
    assert!(changed.version > v1);

    let after = buy(&s, &anna, "o-2", "carol@example.com", now).await;
    assert_eq!(
        after.rewards[0].amount_minor, 2500,
        "a new referral earns the new amount"
    );
    let old = reward(&s.store, s.ws, &before.rewards[0].public_id).await;
    assert_eq!(
        old.amount_minor, 1000,
        "an issued reward is never rewritten"
    );
    let late = buy(&s, &anna, "o-3", "dan@example.com", now).await;
    assert_eq!(late.referral.as_ref().unwrap().program_version, v1);
    assert_eq!(
        late.rewards[0].amount_minor, 1000,
        "Dan's referral was judged under the rules of its time"
    );
}
