//! `GET /r/{code}` end to end: the release binary with click recording against the same
//! binary with recording switched off, rounds alternated in one run, driven by `wrk` on
//! 127.0.0.1. Reports median throughput, the ratio, p99 latency at 64 connections, and
//! whether every answered redirect became a stored click.
//!
//! `cargo bench -p vouch --bench redirect` (needs `wrk`: `apt-get install wrk`).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ROUNDS: usize = 5;
const SECONDS: u64 = 8;
const CONNECTIONS: u32 = 64;
const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";

struct Server {
    child: Child,
    bind: String,
    db: String,
}

async fn seed(db: &str) -> String {
    let store = vouch_store::Store::open(db, &Default::default())
        .await
        .unwrap();
    let shop = vouch_store::testing::bench_shop(&store, false, 1).await;
    store.close().await;
    shop.advocates[0].code.clone()
}

fn start(dir: &Path, record: bool) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!("127.0.0.1:{port}");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vouch"));
    cmd.current_dir(dir).args([
        "serve",
        "--bind",
        &bind,
        "--log-level",
        "warn",
        "--no-worker",
    ]);
    if !record {
        cmd.arg("--bench-no-click-recording");
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(&bind).is_err() {
        assert!(Instant::now() < deadline, "vouch did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let db = vouch_store::sqlite_url(&dir.join("vouch-data/vouch.db"));
    Server { child, bind, db }
}

/// A bench that panics midway still stops its servers.
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Run {
    rps: f64,
    p99_ms: f64,
    requests: u64,
}

fn wrk(bind: &str, code: &str, seconds: u64) -> Run {
    let out = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{CONNECTIONS}"),
            &format!("-d{seconds}s"),
            "--latency",
            "-H",
            &format!("User-Agent: {UA}"),
        ])
        .arg(format!("http://{bind}/r/{code}?utm_source=bench"))
        .output()
        .expect("wrk is installed (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("Non-2xx or 3xx"),
        "errors in the run:\n{text}"
    );
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|r| r.trim().to_string()))
    };
    let rps = field("Requests/sec:").unwrap().parse().unwrap();
    let p99 = field("99%").unwrap();
    let p99_ms = if let Some(us) = p99.strip_suffix("us") {
        us.parse::<f64>().unwrap() / 1000.0
    } else if let Some(ms) = p99.strip_suffix("ms") {
        ms.parse().unwrap()
    } else {
        p99.trim_end_matches('s').parse::<f64>().unwrap() * 1000.0
    };
    let requests = text
        .lines()
        .find_map(|l| {
            l.trim()
                .split_once(" requests in")
                .map(|(n, _)| n.parse::<u64>().unwrap())
        })
        .unwrap();
    Run {
        rps,
        p99_ms,
        requests,
    }
}

/// Redirects the server itself counted as answered, and the click batches it wrote, from its
/// /metrics.
fn answered(bind: &str) -> (u64, u64) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(bind).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    let value = |l: &str| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap();
    let redirects = body
        .lines()
        .filter(|l| {
            l.starts_with("vouch_http_requests_total{") && l.contains("route=\"/r/{code}\"")
        })
        .map(value)
        .sum();
    let batches = body
        .lines()
        .filter(|l| l.starts_with("vouch_click_batches_total"))
        .map(value)
        .sum();
    (redirects, batches)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dirs = [
        vouch_store::testing::scratch::TempDir::new(),
        vouch_store::testing::scratch::TempDir::new(),
    ];
    let mut servers = Vec::new();
    let mut codes = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        std::fs::create_dir_all(dir.path().join("vouch-data")).unwrap();
        let db = vouch_store::sqlite_url(&dir.path().join("vouch-data/vouch.db"));
        codes.push(rt.block_on(seed(&db)));
        servers.push(start(dir.path(), i == 0));
    }
    for (s, code) in servers.iter().zip(&codes) {
        wrk(&s.bind, code, 2); // warm-up: caches, connections, page cache
    }
    let (mut rec, mut base, mut rec_p99) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let r = wrk(&servers[0].bind, &codes[0], SECONDS);
        rec.push(r.rps);
        rec_p99.push(r.p99_ms);
        base.push(wrk(&servers[1].bind, &codes[1], SECONDS).rps);
        eprintln!(
            "round: recording {:.0} req/s (p99 {:.2} ms, {} requests), baseline {:.0} req/s",
            r.rps,
            r.p99_ms,
            r.requests,
            base.last().unwrap()
        );
    }
    let (answered, batches) = answered(&servers[0].bind);
    // A clean stop: the server flushes its click writer before exiting.
    for s in &mut servers {
        Command::new("kill")
            .args(["-TERM", &s.child.id().to_string()])
            .status()
            .unwrap();
        s.child.wait().unwrap();
    }
    let written = rt.block_on(async {
        let store = vouch_store::Store::connect(&servers[0].db, &Default::default())
            .await
            .unwrap();
        let mut c = store.read().await.unwrap();
        vouch_store::clicks::count(&mut c, 1).await.unwrap() as u64
    });
    let (r, b) = (median(rec), median(base));
    println!(
        "redirect, {CONNECTIONS} connections, {ROUNDS} alternated rounds of {SECONDS} s: recording median {r:.0} req/s, \
         no-recording median {b:.0} req/s, ratio {:.2}; recording p99 median {:.2} ms (worst {:.2} ms); \
         redirects answered {answered}, clicks written {written} in {batches} batches, lost {}",
        r / b,
        median(rec_p99.clone()),
        rec_p99.iter().cloned().fold(0.0, f64::max),
        answered.saturating_sub(written)
    );
}
