//! Rewards against a reference model, by property: random sequences of conversions,
//! duplicate deliveries, refunds (before or after their conversion, during or after the hold),
//! payouts paid or cancelled, and a campaign window. After each sequence the ledger balances,
//! every stored balance matches its entries, no cause was rewarded twice, the balances match
//! the model, and the outcome does not depend on the order the deliveries arrived in.
//!
//! Cases: `PROPTEST_CASES` (256 by default; CI runs thousands). One SQLite database serves
//! every case, each in a workspace of its own.

mod common;
use common::*;

use proptest::prelude::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use vouch_core::campaign::{Audience, Effect, Sides};
use vouch_core::clock::now_ms;
use vouch_core::code::ReferralCode;
use vouch_core::ledger::Account;
use vouch_store::audit::Actor;
use vouch_store::campaigns::{self, NewCampaign};
use vouch_store::rows::{Advocate, Reward};
use vouch_store::testing::TestDb;
use vouch_store::{StoreError, ledger, payouts, referrals, rewards};

const DAY: i64 = 86_400_000;
const ORDERS: usize = 6;

#[derive(Debug, Clone)]
enum Op {
    /// Order `o` arrives (again, if it already did: a duplicate delivery).
    Convert(usize),
    /// Order `o` is refunded (before or after it arrives).
    Refund(usize),
    /// A payout batch of everything payable.
    Payout,
    /// The last batch is marked paid, or cancelled.
    Settle { paid: bool },
}

/// When each order happened, relative to the run's "now": inside the campaign window, outside
/// it, or so recently that its hold is not over.
#[derive(Debug, Clone, Copy)]
enum When {
    InSprint,
    Before,
    Recent,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..ORDERS).prop_map(Op::Convert),
        2 => (0..ORDERS).prop_map(Op::Refund),
        1 => Just(Op::Payout),
        1 => any::<bool>().prop_map(|paid| Op::Settle { paid }),
    ]
}

fn when() -> impl Strategy<Value = When> {
    prop_oneof![Just(When::InSprint), Just(When::Before), Just(When::Recent)]
}

struct World {
    db: TestDb,
    rt: tokio::runtime::Runtime,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let db = rt.block_on(TestDb::sqlite());
        World { db, rt }
    })
}

struct Run {
    shop: Shop,
    anna: Advocate,
    now: i64,
    times: Vec<When>,
    amounts: Vec<i64>,
}

impl Run {
    async fn new(times: &[When], amounts: &[i64]) -> Self {
        let mut r = rules();
        r.rewards = serde_json::from_value(json!({ "rules": [
            { "key": "advocate", "beneficiary": "advocate", "trigger": { "on": "qualified_referral" },
              "grants": [{ "type": "cash", "amount": { "type": "fixed", "minor": 1000 } }] },
            { "key": "friend", "beneficiary": "friend", "trigger": { "on": "first_purchase" },
              "grants": [{ "type": "credit", "amount": { "type": "percent", "bps": 1000 } }] } ] }))
        .unwrap();
        let name = format!("Model {}", vouch_core::secret::random_hex::<6>());
        let shop = shop(world().db.store.clone(), &name, r).await;
        let anna = shop.advocate("anna@example.com").await;
        let now = now_ms();
        let mut c = shop.store.write().await.unwrap();
        campaigns::create(
            &mut c,
            shop.ws,
            &NewCampaign {
                name: "Sprint".into(),
                headline: String::new(),
                program_public_ids: vec![shop.program.public_id.clone()],
                starts_at: now - 45 * DAY,
                ends_at: now - 35 * DAY,
                time_zone: "Europe/Paris".into(),
                effect: Effect::Multiplier { bps: 20_000 },
                stackable: false,
                sides: Sides::Advocate,
                audience: Audience::All,
                budget_minor: None,
            },
            now,
        )
        .await
        .unwrap();
        c.commit().await.unwrap();
        Self {
            shop,
            anna,
            now,
            times: times.to_vec(),
            amounts: amounts.to_vec(),
        }
    }

    fn at(&self, o: usize) -> i64 {
        match self.times[o] {
            When::InSprint => self.now - 40 * DAY,
            When::Before => self.now - 50 * DAY,
            When::Recent => self.now - DAY,
        }
    }

    async fn apply(&self, op: &Op) {
        let s = &self.shop;
        match *op {
            Op::Convert(o) => {
                let (code, at, amount) = (self.anna.code.clone(), self.at(o), self.amounts[o]);
                s.convert(
                    &format!("order-{o}"),
                    &format!("friend{o}@example.com"),
                    |i| {
                        i.signals.code = Some(ReferralCode::parse(&code).unwrap());
                        i.occurred_at = at;
                        i.amount_minor = amount;
                    },
                )
                .await;
            }
            Op::Refund(o) => {
                referrals::reverse_conversion(
                    &s.store,
                    s.ws,
                    &format!("order-{o}"),
                    &format!("refund-{o}"),
                    &Actor::cli(),
                )
                .await
                .unwrap();
            }
            Op::Payout => {
                let key = vouch_core::secret::random_hex::<4>();
                match payouts::confirm(&s.store, s.ws, &key, "EUR", 0, &Actor::cli()).await {
                    Ok(_) | Err(StoreError::Rejected("nothing_to_pay", _)) => {}
                    Err(e) => panic!("{e}"),
                }
            }
            Op::Settle { paid } => {
                let mut c = s.store.read().await.unwrap();
                let last = payouts::list(&mut c, s.ws, i64::MAX, 1)
                    .await
                    .unwrap()
                    .pop();
                drop(c);
                if let Some(p) = last.filter(|p| p.status == "confirmed") {
                    if paid {
                        payouts::mark_paid(&s.store, s.ws, &p.public_id, "REF", &Actor::cli())
                            .await
                            .unwrap();
                    } else {
                        payouts::cancel(&s.store, s.ws, &p.public_id, &Actor::cli())
                            .await
                            .unwrap();
                    }
                }
            }
        }
    }

    /// Ends every hold (a month later) and returns each order's rewards by rule.
    async fn finish(&self) -> BTreeMap<(String, String), (String, i64)> {
        let s = &self.shop;
        rewards::release_due(&s.store, s.ws, self.now + 31 * DAY)
            .await
            .unwrap();
        let mut c = s.store.read().await.unwrap();
        let all: Vec<Reward> = rewards::list(&mut c, s.ws, &Default::default(), i64::MAX, 1000)
            .await
            .unwrap();
        let mut by_cause = BTreeMap::new();
        for r in all {
            let conv: vouch_store::rows::Conversion =
                vouch_store::rows::by_id(&mut c, s.ws, r.conversion_id.unwrap())
                    .await
                    .unwrap()
                    .unwrap();
            let valued = !matches!(r.status.as_str(), "voided" | "clawed_back" | "refused");
            let prev = by_cause.insert(
                (conv.external_id.clone(), r.rule_key.clone()),
                (
                    if valued { "valued" } else { "undone" }.to_string(),
                    r.amount_minor,
                ),
            );
            assert!(
                prev.is_none(),
                "two rewards for {} {}",
                conv.external_id,
                r.rule_key
            );
        }
        by_cause
    }

    async fn balance(&self, account: Account, customer: i64) -> i64 {
        let s = &self.shop;
        let mut c = s.store.read().await.unwrap();
        ledger::balance(&mut c, s.store.backend(), s.ws, account, customer, "EUR")
            .await
            .unwrap()
    }

    /// The ledger's own checks, and the balances the model predicts.
    async fn check(&self, converted: &[bool], refunded: &[bool]) {
        let s = &self.shop;
        let mut c = s.store.read().await.unwrap();
        assert_eq!(
            ledger::audit(&mut c, s.ws).await.unwrap(),
            Vec::<String>::new()
        );
        drop(c);
        let mut cash = 0;
        let mut credit = 0;
        for o in 0..ORDERS {
            if converted[o] && !refunded[o] {
                cash += if matches!(self.times[o], When::InSprint) {
                    2000
                } else {
                    1000
                };
                credit += (self.amounts[o] * 1000 + 5000) / 10_000;
            }
        }
        let a = self.anna.customer_id;
        let advocate_net = self.balance(Account::AdvocatePayable, a).await
            + self.balance(Account::PayoutPending, a).await
            + self.balance(Account::PaidOut, 0).await
            - self.balance(Account::ClawbackReceivable, a).await;
        assert_eq!(advocate_net, cash, "the advocate's cash matches the model");
        assert!(
            self.balance(Account::AdvocatePayable, a).await >= 0,
            "payable never goes negative"
        );
        assert_eq!(
            self.balance(Account::ProgramExpense, 0).await,
            cash + credit,
            "the program's cost matches the model"
        );
    }
}

fn config() -> ProptestConfig {
    // PROPTEST_CASES overrides the default of 256.
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn ledger_and_rewards_follow_the_model(
        ops in prop::collection::vec(op(), 1..24),
        times in prop::collection::vec(when(), ORDERS),
        amounts in prop::collection::vec(0i64..20_000, ORDERS),
    ) {
        world().rt.block_on(async {
            let run = Run::new(&times, &amounts).await;
            let mut converted = [false; ORDERS];
            let mut refunded = [false; ORDERS];
            for op in &ops {
                run.apply(op).await;
                match *op {
                    Op::Convert(o) => converted[o] = true,
                    Op::Refund(o) => refunded[o] = true,
                    _ => {}
                }
            }
            let rewards = run.finish().await;
            assert_eq!(rewards.len(), 2 * converted.iter().filter(|c| **c).count(), "two rewards for each order that arrived");
            for ((order, _), (state, _)) in &rewards {
                let o: usize = order.trim_start_matches("order-").parse().unwrap();
                assert_eq!(state == "valued", !refunded[o], "{order}");
            }
            run.check(&converted, &refunded).await;
        });
    }

    #[test]
    fn the_outcome_does_not_depend_on_arrival_order(
        deliveries in prop::collection::vec((0..ORDERS, any::<bool>()), 1..16),
        times in prop::collection::vec(when(), ORDERS),
        amounts in prop::collection::vec(0i64..20_000, ORDERS),
        seed in any::<u64>(),
    ) {
        world().rt.block_on(async {
            let ops: Vec<Op> = deliveries.iter().map(|&(o, refund)| if refund { Op::Refund(o) } else { Op::Convert(o) }).collect();
            // The same deliveries in another order (a seeded shuffle).
            let mut shuffled = ops.clone();
            let mut x = seed | 1;
            for i in (1..shuffled.len()).rev() {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                shuffled.swap(i, (x % (i as u64 + 1)) as usize);
            }
            let first = Run::new(&times, &amounts).await;
            let second = Run::new(&times, &amounts).await;
            for op in &ops { first.apply(op).await; }
            for op in &shuffled { second.apply(op).await; }
            assert_eq!(first.finish().await, second.finish().await);
            for account in [Account::ProgramExpense, Account::PaidOut] {
                assert_eq!(first.balance(account, 0).await, second.balance(account, 0).await);
            }
            assert_eq!(
                first.balance(Account::AdvocatePayable, first.anna.customer_id).await,
                second.balance(Account::AdvocatePayable, second.anna.customer_id).await
            );
        });
    }
}
