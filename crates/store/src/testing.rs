//! Databases for tests: a fresh SQLite file, or a fresh PostgreSQL database on the server
//! named by `VOUCH_TEST_DATABASE_URL`. Tests that need PostgreSQL are `#[ignore]`d and run by
//! CI with `--ignored`; run without the variable they fail loudly instead of passing.

use crate::{ConnectOptions, Store};

/// Keeps a test's SQLite folder alive as long as the store is used.
pub struct TestDb {
    pub store: Store,
    pub url: String,
    _dir: Option<scratch::TempDir>,
}

pub const PG_ENV: &str = "VOUCH_TEST_DATABASE_URL";

/// The PostgreSQL server for tests, or a panic that says how to provide one.
pub fn postgres_server_url() -> String {
    std::env::var(PG_ENV).unwrap_or_else(|_| {
        panic!("this test needs PostgreSQL: set {PG_ENV}=postgres://USER@HOST:PORT/DB (CI does)")
    })
}

/// A new, empty database on the test PostgreSQL server; returns its URL.
pub async fn fresh_postgres_url() -> String {
    use sqlx::Connection;
    let server = postgres_server_url();
    sqlx::any::install_default_drivers();
    let name = format!("vouch_test_{}", vouch_core::secret::random_hex::<6>());
    let mut admin = sqlx::AnyConnection::connect(&server)
        .await
        .expect("connect to test PostgreSQL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create test database");
    admin.close().await.ok();
    let (base, _) = server.rsplit_once('/').expect("URL ends with /DB");
    format!("{base}/{name}")
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let dir = scratch::TempDir::new();
        let url = crate::sqlite_url(&dir.path().join("vouch.db"));
        let store = Store::open(&url, &ConnectOptions::default())
            .await
            .expect("open sqlite");
        Self {
            store,
            url,
            _dir: Some(dir),
        }
    }

    pub async fn postgres() -> Self {
        let url = fresh_postgres_url().await;
        let store = Store::open(&url, &ConnectOptions::default())
            .await
            .expect("open postgres");
        Self {
            store,
            url,
            _dir: None,
        }
    }
}

/// A temporary folder removed on drop, so the store needs no test-only dependency.
pub mod scratch {
    use std::path::{Path, PathBuf};

    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new() -> Self {
            let path = std::env::temp_dir().join(format!(
                "vouch-test-{}",
                vouch_core::secret::random_hex::<8>()
            ));
            std::fs::create_dir_all(&path).expect("create temp dir");
            Self(path)
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Default for TempDir {
        fn default() -> Self {
            Self::new()
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Declares each listed `async fn case(store: Store)` as a SQLite test and as a `pg::` twin
/// that is `#[ignore]`d unless run with `--ignored pg::` (and `VOUCH_TEST_DATABASE_URL`).
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::testing::TestDb::sqlite().await.store).await })+
        }
        mod pg {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[ignore = "needs PostgreSQL: set VOUCH_TEST_DATABASE_URL and run with --ignored pg_ pg::"]
            async fn $name() { super::$name($crate::testing::TestDb::postgres().await.store).await })+
        }
    };
}

/// What [`bench_shop`] made.
pub struct BenchShop {
    pub workspace_id: i64,
    pub program_id: i64,
    pub advocates: Vec<crate::rows::Advocate>,
}

impl BenchShop {
    pub fn codes(&self) -> Vec<String> {
        self.advocates.iter().map(|a| a.code.clone()).collect()
    }
}

/// The shop the benchmarks load: a workspace, an active every-purchase program landing on
/// `https://shop.example.com/welcome` (with velocity limits lifted, since one client sends every
/// delivery) and `advocates` advocates; with `rewards`, a 10% cash reward per conversion and €5
/// credit for the friend, hold 0.
pub async fn bench_shop(store: &Store, rewards: bool, advocates: usize) -> BenchShop {
    use crate::audit::Actor;
    use vouch_core::program::{ConversionKind, ProgramRules, ProgramStatus};
    let slug = vouch_core::Slug::parse("bench").expect("a valid slug");
    let (ws, _) =
        crate::commands::create_workspace(store, "Bench", &slug, None, &Actor::cli(), false)
            .await
            .expect("create the workspace");
    let mut rules = ProgramRules::starter("https://shop.example.com/welcome");
    rules.conversion.kind = ConversionKind::EveryPurchase;
    rules.fraud.max_referrals_per_advocate_per_day = 1_000_000;
    rules.fraud.max_referrals_per_ip_per_hour = 1_000_000;
    if rewards {
        rules.rewards = serde_json::from_value(serde_json::json!({ "hold_days": 0, "refund_window_days": 0, "rules": [
            { "key": "advocate", "beneficiary": "advocate", "trigger": { "on": "conversion" },
              "grants": [{ "type": "cash", "amount": { "type": "percent", "bps": 1000, "cap_minor": 5000 } }] },
            { "key": "friend", "beneficiary": "friend", "trigger": { "on": "first_purchase" },
              "grants": [{ "type": "credit", "amount": { "type": "fixed", "minor": 500 } }] } ] }))
        .expect("valid reward rules");
    }
    let rules = rules.checked().expect("valid rules");
    let p = crate::tracking::create_program(
        store,
        ws.id,
        "P",
        ProgramStatus::Active,
        &rules,
        &Actor::cli(),
    )
    .await
    .expect("create the program");
    let mut enrolled = Vec::new();
    for i in 0..advocates {
        let input = crate::customers::CustomerInput {
            email: Some(
                vouch_core::Email::parse(&format!("advocate{i}@example.com")).expect("an email"),
            ),
            created_from: "bench",
            ..Default::default()
        };
        let (a, _, _) = crate::tracking::enroll(store, ws.id, &p, &input, None, &Actor::cli())
            .await
            .expect("enrol");
        enrolled.push(a);
    }
    BenchShop {
        workspace_id: ws.id,
        program_id: p.id,
        advocates: enrolled,
    }
}
