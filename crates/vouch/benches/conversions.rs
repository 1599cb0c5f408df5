//! Conversion ingestion through `POST /api/v1/conversions` on the release binary (SQLite,
//! worker on): attribution by code, a double-sided reward approved and posted to the ledger
//! (hold 0), all committed before the answer. 10% of deliveries repeat an earlier order id.
//!
//! Two servers in one run, rounds alternated: with reward rules, and the same program with
//! none (the baseline: what rewards and the ledger add). Then an open-loop run at a fixed 500
//! requests a second against the rewarding server for the p99 (latency counted from when
//! each request was due, so a stall is not hidden). Finally checks that every distinct order
//! is one conversion with its two rewards and that the ledger is sound.
//!
//! `cargo bench -p vouch --bench conversions`

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use vouch_core::ApiScope;
use vouch_store::audit::Actor;

const ROUNDS: usize = 3;
const SECONDS: u64 = 8;
const CONCURRENCY: usize = 16;
const ADVOCATES: usize = 50;
const OPEN_LOOP_RATE: u64 = 500;
const OPEN_LOOP_SECONDS: u64 = 10;

struct Server {
    child: Child,
    base: String,
    db: String,
    key: String,
    codes: Vec<String>,
}

async fn seed(db: &str, rewards: bool) -> (String, Vec<String>) {
    let store = vouch_store::Store::open(db, &Default::default())
        .await
        .unwrap();
    let shop = vouch_store::testing::bench_shop(&store, rewards, ADVOCATES).await;
    let (ws, codes) = (shop.workspace_id, shop.codes());
    let key = vouch_store::commands::create_api_key(
        &store,
        ws,
        "bench",
        &[ApiScope::Read, ApiScope::Write],
        &Actor::cli(),
    )
    .await
    .unwrap()
    .1
    .expose()
    .to_string();
    store.close().await;
    (key, codes)
}

/// A bench that panics midway still stops its servers.
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path, rewards: bool, rt: &tokio::runtime::Runtime) -> Server {
    std::fs::create_dir_all(dir.join("vouch-data")).unwrap();
    let db = vouch_store::sqlite_url(&dir.join("vouch-data/vouch.db"));
    let (key, codes) = rt.block_on(seed(&db, rewards));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!("127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_vouch"))
        .current_dir(dir)
        .args(["serve", "--bind", &bind, "--log-level", "warn"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(&bind).is_err() {
        assert!(Instant::now() < deadline, "vouch did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server {
        child,
        base: format!("http://{bind}"),
        db,
        key,
        codes,
    }
}

/// Order ids: nine in ten new, one in ten a repeat of an earlier one (a duplicate delivery).
struct Orders {
    next: AtomicU64,
    prefix: String,
}

impl Orders {
    fn pick(&self) -> u64 {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        if n % 10 != 9 {
            return n;
        }
        // A repeat of an earlier new order (never of another repeat's slot).
        let earlier = (n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) % n;
        if earlier % 10 == 9 {
            earlier - 1
        } else {
            earlier
        }
    }
}

async fn send(client: &reqwest::Client, s: &Server, orders: &Orders) -> Duration {
    let n = orders.pick();
    let code = &s.codes[(n as usize) % s.codes.len()];
    let body = format!(
        r#"{{"external_id":"{}-{n}","type":"purchase","amount_minor":{},"currency":"EUR","customer":{{"email":"friend{n}@example.com"}},"code":"{code}"}}"#,
        orders.prefix,
        1000 + (n % 50) * 100
    );
    let t = Instant::now();
    let r = client
        .post(format!("{}/api/v1/conversions", s.base))
        .bearer_auth(&s.key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert!(status.is_success(), "{status}: {text}");
    t.elapsed()
}

/// Closed loop: `CONCURRENCY` clients as fast as answers come. Returns requests a second.
async fn saturate(
    client: &reqwest::Client,
    s: Arc<Server>,
    orders: Arc<Orders>,
    seconds: u64,
) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (client, s, orders, done) = (client.clone(), s.clone(), orders.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < until {
                send(&client, &s, &orders).await;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let t = Instant::now();
    for task in tasks {
        task.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / t.elapsed().as_secs_f64()
}

/// Open loop at a fixed rate; latency from each request's due time. Returns (p50, p99) in ms.
async fn at_rate(client: &reqwest::Client, s: Arc<Server>, orders: Arc<Orders>) -> (f64, f64) {
    let start = tokio::time::Instant::now();
    let total = OPEN_LOOP_RATE * OPEN_LOOP_SECONDS;
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + Duration::from_micros(i * 1_000_000 / OPEN_LOOP_RATE);
        tokio::time::sleep_until(due).await;
        let (client, s, orders) = (client.clone(), s.clone(), orders.clone());
        tasks.push(tokio::spawn(async move {
            send(&client, &s, &orders).await;
            due.elapsed()
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.push(t.await.unwrap().as_secs_f64() * 1000.0);
    }
    lat.sort_by(f64::total_cmp);
    (lat[lat.len() / 2], lat[lat.len() * 99 / 100])
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dirs = [
        vouch_store::testing::scratch::TempDir::new(),
        vouch_store::testing::scratch::TempDir::new(),
    ];
    let servers = [
        Arc::new(start(dirs[0].path(), true, &rt)),
        Arc::new(start(dirs[1].path(), false, &rt)),
    ];
    let orders: Vec<Arc<Orders>> = ["a", "b"]
        .iter()
        .map(|p| {
            Arc::new(Orders {
                next: AtomicU64::new(0),
                prefix: p.to_string(),
            })
        })
        .collect();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let (mut with, mut without) = (Vec::new(), Vec::new());
    rt.block_on(async {
        for (s, o) in servers.iter().zip(&orders) {
            saturate(&client, s.clone(), o.clone(), 2).await; // warm-up
        }
        for _ in 0..ROUNDS {
            let w = saturate(&client, servers[0].clone(), orders[0].clone(), SECONDS).await;
            let b = saturate(&client, servers[1].clone(), orders[1].clone(), SECONDS).await;
            eprintln!("round: with rewards {w:.0}/s, without {b:.0}/s");
            with.push(w);
            without.push(b);
        }
    });
    let (p50, p99) = rt.block_on(at_rate(&client, servers[0].clone(), orders[0].clone()));
    let sent = orders[0].next.load(Ordering::Relaxed);
    let mut servers = servers.map(|s| Arc::try_unwrap(s).ok().unwrap());
    for s in &mut servers {
        Command::new("kill")
            .args(["-TERM", &s.child.id().to_string()])
            .status()
            .unwrap();
        s.child.wait().unwrap();
    }
    let (conversions, rewards, problems) = rt.block_on(async {
        let store = vouch_store::Store::connect(&servers[0].db, &Default::default())
            .await
            .unwrap();
        let mut c = store.read().await.unwrap();
        let count = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql);
        let conversions = count("SELECT COUNT(*) FROM conversions")
            .fetch_one(&mut c)
            .await
            .unwrap();
        let rewards = count("SELECT COUNT(*) FROM rewards")
            .fetch_one(&mut c)
            .await
            .unwrap();
        let problems = vouch_store::ledger::audit(&mut c, 1).await.unwrap();
        (conversions, rewards, problems)
    });
    // Order numbers 0..sent were drawn; every tenth repeated an earlier one.
    let distinct = (sent - sent / 10) as i64;
    let (w, b) = (median(with), median(without));
    println!(
        "conversions, {CONCURRENCY} clients, {ROUNDS} alternated rounds of {SECONDS} s: with rewards median {w:.0}/s, \
         without reward rules median {b:.0}/s, ratio {:.2}; open loop {OPEN_LOOP_RATE}/s for {OPEN_LOOP_SECONDS} s: p50 {p50:.1} ms, \
         p99 {p99:.1} ms; deliveries {sent}, distinct orders {distinct}, conversions stored {conversions}, rewards {rewards}, \
         ledger problems {}",
        w / b,
        problems.len()
    );
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        conversions, distinct,
        "each distinct order is one conversion"
    );
    assert_eq!(
        rewards,
        2 * distinct,
        "each conversion earns its two rewards once"
    );
}
