//! Counts the SQL statements one conversion costs in the store (SQLite, the shop the ingest
//! benchmark uses), from the statement logs of sqlx (`[driver]`: a round trip to the driver's
//! worker thread each) and of the native writer connection (`[native]`: stepped in place).
//!
//! `cargo run --release -p vouch --example statements` (`NO_REWARDS=1` for the program without
//! reward rules).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use vouch_core::code::ReferralCode;
use vouch_core::program::ConversionKind;
use vouch_store::audit::Actor;
use vouch_store::customers::CustomerInput;
use vouch_store::referrals::{self, ConversionInput, FriendSignals};

const N: usize = 100;

/// Statements seen (their first 150 characters, whitespace folded) and how often, while on.
#[derive(Clone, Default)]
struct Statements {
    seen: Arc<Mutex<BTreeMap<String, usize>>>,
    on: Arc<Mutex<bool>>,
}

struct Summary(String);

impl Visit for Summary {
    fn record_str(&mut self, f: &Field, v: &str) {
        if f.name() == "db.statement" || f.name() == "summary" || f.name() == "statement" {
            self.0 = v.to_string();
        }
    }

    fn record_debug(&mut self, f: &Field, v: &dyn std::fmt::Debug) {
        if self.0.is_empty()
            && (f.name() == "db.statement" || f.name() == "summary" || f.name() == "statement")
        {
            self.0 = format!("{v:?}");
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Statements {
    fn on_event(&self, e: &tracing::Event<'_>, _: Context<'_, S>) {
        let target = e.metadata().target();
        let via = if target.starts_with("sqlx") {
            "driver"
        } else if target == "vouch_store::native" {
            "native"
        } else {
            return;
        };
        if !*self.on.lock().unwrap() {
            return;
        }
        let mut s = Summary(String::new());
        e.record(&mut s);
        let text: String = s.0.split_whitespace().collect::<Vec<_>>().join(" ");
        let key = format!("[{via}] {}", text.chars().take(150).collect::<String>());
        *self.seen.lock().unwrap().entry(key).or_default() += 1;
    }
}

#[tokio::main]
async fn main() {
    let statements = Statements::default();
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(
            statements
                .clone()
                .with_filter(tracing_subscriber::filter::LevelFilter::TRACE),
        ),
    )
    .unwrap();
    let db = vouch_store::testing::TestDb::sqlite().await;
    let rewards = std::env::var("NO_REWARDS").is_err();
    let shop = vouch_store::testing::bench_shop(&db.store, rewards, 50).await;
    let (ws, codes) = (shop.workspace_id, shop.codes());
    *statements.on.lock().unwrap() = true;
    for n in 0..N {
        let input = ConversionInput {
            external_id: format!("o-{n}"),
            customer: CustomerInput {
                email: Some(vouch_core::Email::parse(&format!("f{n}@example.com")).unwrap()),
                created_from: "statements",
                ..Default::default()
            },
            kind: ConversionKind::EveryPurchase,
            amount_minor: 5000,
            currency: "EUR".into(),
            signals: FriendSignals {
                code: Some(ReferralCode::parse(&codes[n % codes.len()]).unwrap()),
                ..Default::default()
            },
            occurred_at: vouch_core::clock::now_ms(),
        };
        referrals::record_conversion(&db.store, ws, &input, &Actor::cli())
            .await
            .unwrap();
    }
    *statements.on.lock().unwrap() = false;
    let seen = statements.seen.lock().unwrap();
    let total: usize = seen.values().sum();
    println!(
        "{} statements per conversion ({} reward rules), over {N} conversions:",
        total as f64 / N as f64,
        if rewards { "with" } else { "without" }
    );
    let mut by_count: Vec<_> = seen.iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(a.1));
    for (text, n) in by_count {
        println!("{:6.2}  {text}", *n as f64 / N as f64);
    }
}
