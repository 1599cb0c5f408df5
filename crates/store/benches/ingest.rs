//! Conversion ingest in the store alone (no HTTP, no worker): how long one conversion with
//! attribution, two rewards approved and posted to the ledger, and its outbox events takes on
//! SQLite, one after the other, against the same without reward rules.
//!
//! Also prints what a statement through sqlx's SQLite driver costs (a `SELECT 1` round trip to
//! its worker thread): what the write path paid per statement before it ran on the native
//! connection, and what reads through the pool still pay.
//!
//! `cargo bench -p vouch-store --bench ingest`

use std::time::Instant;
use vouch_core::Email;
use vouch_core::code::ReferralCode;
use vouch_core::program::ConversionKind;
use vouch_store::audit::Actor;
use vouch_store::customers::CustomerInput;
use vouch_store::referrals::{self, ConversionInput, FriendSignals};
use vouch_store::testing::TestDb;

const N: usize = 3000;

async fn run(rewards: bool) -> f64 {
    let db = TestDb::sqlite().await;
    let store = db.store.clone();
    let shop = vouch_store::testing::bench_shop(&store, rewards, 50).await;
    let (ws, codes) = (shop.workspace_id, shop.codes());
    let t = Instant::now();
    for n in 0..N {
        let input = ConversionInput {
            external_id: format!("o-{n}"),
            customer: CustomerInput {
                email: Some(Email::parse(&format!("f{n}@example.com")).unwrap()),
                created_from: "bench",
                ..Default::default()
            },
            kind: ConversionKind::EveryPurchase,
            amount_minor: 5000,
            currency: "EUR".into(),
            signals: FriendSignals {
                code: Some(ReferralCode::parse(&codes[n % 50]).unwrap()),
                ..Default::default()
            },
            occurred_at: vouch_core::clock::now_ms(),
        };
        referrals::record_conversion(&store, ws, &input, &Actor::cli())
            .await
            .unwrap();
    }
    N as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    println!("SELECT 1 round trip: {:.1} µs", rt.block_on(round_trip()));
    let single = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "SELECT 1 round trip (current-thread runtime): {:.1} µs",
        single.block_on(round_trip())
    );
    let with = rt.block_on(run(true));
    let without = rt.block_on(run(false));
    println!(
        "store ingest, {N} conversions one after the other: with rewards {with:.0}/s, without reward rules {without:.0}/s"
    );
}

/// One `SELECT 1` through the pool's connection (the driver's worker thread), in µs.
async fn round_trip() -> f64 {
    let db = TestDb::sqlite().await;
    let mut c = db.store.read().await.unwrap();
    let t = Instant::now();
    for _ in 0..20_000 {
        sqlx::query("SELECT 1").execute(&mut c).await.unwrap();
    }
    t.elapsed().as_secs_f64() * 1e6 / 20_000.0
}
