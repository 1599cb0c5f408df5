//! The real `vouch` binary: configuration, the CLI, a running server, crashes and shutdowns.
//! `pg_` tests need PostgreSQL (`VOUCH_TEST_DATABASE_URL`) and run with `--ignored pg_ pg::`.

use serde_json::Value;
use std::io::Write;

mod common;
use common::{Server, vouch_cmd};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use vouch_store::testing::scratch::TempDir;

fn run(dir: &Path, args: &[&str]) -> Output {
    vouch_cmd(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn run_ok(dir: &Path, args: &[&str]) -> Value {
    let out = run(dir, &[&["--json"], args].concat());
    assert!(
        out.status.success(),
        "vouch {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim().to_string()
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sqlite_url(dir: &Path) -> String {
    vouch_store::sqlite_url(&dir.join("vouch-data").join("vouch.db"))
}

#[test]
fn config_errors_are_one_line_naming_the_setting_and_create_nothing() {
    let dir = TempDir::new();
    let d = dir.path();
    std::fs::write(d.join("typo.toml"), "bnid = \"127.0.0.1:1\"\n").unwrap();
    // (arguments, environment, what the one-line error must name)
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (vec!["--config", "typo.toml", "migrate"], vec![], "bnid"),
        (
            vec!["--config", "missing.toml", "migrate"],
            vec![],
            "--config",
        ),
        (
            vec!["migrate", "--database-url", "mysql://x"],
            vec![],
            "--database-url",
        ),
        (
            vec!["migrate", "--database-url", "postgres://bad url"],
            vec![],
            "--database-url",
        ),
        (vec!["serve", "--bind", "nonsense"], vec![], "--bind"),
        (vec!["serve", "--base-url", "ftp:/x"], vec![], "--base-url"),
        (
            vec!["serve", "--trusted-proxy", "10.0.0.0/99"],
            vec![],
            "--trusted-proxy",
        ),
        (vec!["serve", "--log-format", "xml"], vec![], "--log-format"),
        (
            vec!["migrate"],
            vec![("VOUCH_BIDN", "127.0.0.1:1")],
            "VOUCH_BIDN",
        ),
        (
            vec!["migrate"],
            vec![("VOUCH_DATABASE_URL_FILE", "/nonexistent/secret")],
            "VOUCH_DATABASE_URL_FILE",
        ),
    ];
    for (args, env, needle) in cases {
        let out = vouch_cmd(d).args(&args).envs(env.clone()).output().unwrap();
        let err = stderr(&out);
        assert!(!out.status.success(), "{args:?} {env:?} succeeded");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line, got {err:?}");
        assert!(
            err.contains(needle),
            "{args:?}: {err:?} should name {needle}"
        );
    }
    assert!(
        !d.join("vouch-data").exists(),
        "a refused configuration creates nothing"
    );
}

#[test]
fn an_unreachable_database_is_named_with_its_password_hidden() {
    let dir = TempDir::new();
    let out = run(
        dir.path(),
        &[
            "migrate",
            "--database-url",
            "postgres://vouch:s3cret@127.0.0.1:1/vouch",
        ],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("database postgres://vouch:***@127.0.0.1:1/vouch"),
        "{err}"
    );
    assert!(!err.contains("s3cret"));
}

#[test]
fn flags_beat_environment_beat_file_beat_defaults() {
    let dir = TempDir::new();
    let d = dir.path();
    let print = |args: &[&str], env: &[(&str, &str)]| -> Value {
        let out = vouch_cmd(d)
            .args(["config", "print", "--json"])
            .args(args)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    assert_eq!(print(&[], &[])["bind"], "127.0.0.1:8080");
    assert!(
        print(&[], &[])["database_url"]
            .as_str()
            .unwrap()
            .ends_with("vouch-data/vouch.db?mode=rwc")
    );
    std::fs::write(d.join("vouch.toml"), "bind = \"127.0.0.1:1111\"\n[smtp]\nhost = \"mail.example.com\"\npassword_file = \"smtp.secret\"\n").unwrap();
    std::fs::write(d.join("smtp.secret"), "hunter2\n").unwrap();
    std::fs::write(
        d.join("db.secret"),
        "postgres://vouch:dbpass@db.example.com/vouch\n",
    )
    .unwrap();
    let file = print(&[], &[]);
    assert_eq!(
        (
            file["bind"].as_str(),
            file["smtp"]["host"].as_str(),
            file["smtp"]["password"].as_str()
        ),
        (
            Some("127.0.0.1:1111"),
            Some("mail.example.com"),
            Some("***")
        )
    );
    assert_eq!(
        print(&[], &[("VOUCH_BIND", "127.0.0.1:2222")])["bind"],
        "127.0.0.1:2222"
    );
    assert_eq!(
        print(
            &["--bind", "127.0.0.1:3333"],
            &[("VOUCH_BIND", "127.0.0.1:2222")]
        )["bind"],
        "127.0.0.1:3333"
    );
    // Global flags go before or after the subcommand.
    let out = vouch_cmd(d)
        .args(["--data-dir", "elsewhere", "config", "print", "--json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["database_url"]
            .as_str()
            .unwrap()
            .contains("elsewhere/vouch.db")
    );
    let secret = print(&[], &[("VOUCH_DATABASE_URL_FILE", "db.secret")]);
    assert_eq!(
        secret["database_url"],
        "postgres://vouch:***@db.example.com/vouch"
    );
    let text = String::from_utf8(
        vouch_cmd(d)
            .args(["config", "print"])
            .env("VOUCH_DATABASE_URL_FILE", "db.secret")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(
        !text.contains("dbpass") && !text.contains("hunter2"),
        "{text}"
    );
}

#[test]
fn the_cli_sets_up_a_business_that_the_api_serves() {
    let dir = TempDir::new();
    let d = dir.path();
    let ws = run_ok(d, &["workspace", "create", "--name", "Anna's Bakery"]);
    assert_eq!(ws["slug"], "anna-s-bakery");
    let dup = run(d, &["workspace", "create", "--name", "Anna's Bakery"]);
    assert!(
        !dup.status.success() && stderr(&dup).contains("already exists"),
        "{}",
        stderr(&dup)
    );
    let mut child = vouch_cmd(d)
        .args([
            "--json",
            "user",
            "create",
            "--workspace",
            "anna-s-bakery",
            "--email",
            "anna@example.com",
            "--role",
            "owner",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a long enough password\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let user: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (user["role"].as_str(), user["new_user"].as_bool()),
        (Some("owner"), Some(true))
    );
    let short = vouch_cmd(d)
        .args([
            "user",
            "create",
            "--workspace",
            "anna-s-bakery",
            "--email",
            "b@example.com",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        stderr(&short).contains("at least 10 characters"),
        "{}",
        stderr(&short)
    );
    let missing = run(
        d,
        &["api-key", "create", "--workspace", "nope", "--name", "x"],
    );
    assert!(
        stderr(&missing).contains("--workspace"),
        "{}",
        stderr(&missing)
    );

    let key = run_ok(
        d,
        &[
            "api-key",
            "create",
            "--workspace",
            "anna-s-bakery",
            "--name",
            "Shop",
            "--scope",
            "read,write",
        ],
    );
    let secret = key["key"].as_str().unwrap().to_string();
    let listed = run_ok(d, &["api-key", "list", "--workspace", "anna-s-bakery"]);
    assert!(
        !listed.to_string().contains(&secret),
        "a key is printed once"
    );

    let server = Server::start(d, &[]);
    let hc = run(d, &["healthcheck", "--bind", &server.bind]);
    assert!(hc.status.success(), "{}", stderr(&hc));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = reqwest::Client::new();
    let (status, body) = rt.block_on(async {
        let r = client
            .get(server.url("/api/v1/workspace"))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    });
    assert_eq!(
        (status, body["slug"].as_str()),
        (200, Some("anna-s-bakery"))
    );
    let home = rt.block_on(async {
        client
            .get(server.url("/"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert!(
        home.contains("Sign in"),
        "set up already: / is the sign-in page"
    );

    // A change through the API is audited with the key's name and the caller's address.
    let audit = rt.block_on(async {
        let r = client
            .patch(server.url("/api/v1/workspace"))
            .bearer_auth(&secret)
            .json(&serde_json::json!({ "time_zone": "Europe/Paris" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let r = client
            .get(server.url("/api/v1/audit-log?limit=1"))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap();
        r.json::<Value>().await.unwrap()
    });
    let entry = &audit["data"][0];
    assert_eq!(
        (
            entry["action"].as_str(),
            entry["actor"].as_str(),
            entry["ip"].as_str()
        ),
        (Some("workspace.updated"), Some("Shop"), Some("127.0.0.1"))
    );
    run_ok(
        d,
        &[
            "api-key",
            "revoke",
            "--workspace",
            "anna-s-bakery",
            "--id",
            key["id"].as_str().unwrap(),
        ],
    );
    let status = rt.block_on(async {
        client
            .get(server.url("/api/v1/workspace"))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(status, 401);
    let bind = server.bind.clone();
    assert!(server.terminate().success(), "SIGTERM is a clean exit");
    let hc = run(d, &["healthcheck", "--bind", &bind]);
    assert_eq!(hc.status.code(), Some(1));
}

#[test]
fn backup_is_a_consistent_copy_and_never_overwrites() {
    let dir = TempDir::new();
    let d = dir.path();
    run_ok(d, &["workspace", "create", "--name", "Shop"]);
    run_ok(d, &["backup", "--to", "copy.db"]);
    let again = run(d, &["backup", "--to", "copy.db"]);
    assert!(!again.status.success() && stderr(&again).contains("already exists"));
    let copy = format!("sqlite://{}?mode=rw", d.join("copy.db").display());
    let list = run_ok(d, &["workspace", "list", "--database-url", &copy]);
    assert_eq!(list[0]["slug"], "shop");
}

#[test]
fn export_then_import_moves_everything() {
    let dir = TempDir::new();
    let d = dir.path();
    run_ok(d, &["workspace", "create", "--name", "Shop"]);
    run_ok(
        d,
        &["api-key", "create", "--workspace", "shop", "--name", "k"],
    );
    let exported = run_ok(d, &["export", "--to", "out"]);
    assert_eq!(exported["tables"]["workspaces"], 1);
    let target = format!("sqlite://{}?mode=rwc", d.join("target.db").display());
    let imported = run_ok(d, &["import", "--from", "out", "--database-url", &target]);
    assert_eq!(imported["tables"]["api_keys"], 1);
    let twice = run(d, &["import", "--from", "out", "--database-url", &target]);
    assert!(
        stderr(&twice).contains("empty database"),
        "{}",
        stderr(&twice)
    );
    assert_eq!(
        run_ok(d, &["workspace", "list", "--database-url", &target])[0]["slug"],
        "shop"
    );
}

fn job_of_probe(dir: &Path, db: &str, key: &str) -> Option<Value> {
    let jobs = run_ok(dir, &["jobs", "list", "--database-url", db]);
    jobs.as_array()
        .unwrap()
        .iter()
        .find(|j| j["dedupe_key"] == format!("probe:{key}"))
        .cloned()
}

async fn probe_runs(db: &str, key: &str) -> Option<i64> {
    let store = vouch_store::Store::connect(db, &Default::default())
        .await
        .unwrap();
    let runs = store.probe(key).await.unwrap().map(|p| p.runs);
    store.close().await;
    runs
}

/// A crash mid-job: after the lease the job runs again, and its effect happens once.
fn crash_during_a_job(dir: &Path, db: &str) {
    let args = [
        "--database-url",
        db,
        "--job-lease-secs",
        "2",
        "--worker-poll-ms",
        "50",
    ];
    let server = Server::start(dir, &args);
    run_ok(
        dir,
        &[
            "jobs",
            "probe",
            "--key",
            "crash",
            "--sleep-ms",
            "4000",
            "--database-url",
            db,
        ],
    );
    wait_for("the probe to be running", 20, || {
        job_of_probe(dir, db, "crash").is_some_and(|j| j["status"] == "running")
    });
    server.kill9();
    let rt = tokio::runtime::Runtime::new().unwrap();
    assert_eq!(
        rt.block_on(probe_runs(db, "crash")),
        None,
        "killed before the effect"
    );
    let job = job_of_probe(dir, db, "crash").unwrap();
    assert_eq!(
        (job["status"].as_str(), job["attempts"].as_i64()),
        (Some("running"), Some(1)),
        "the dead worker still holds the lease"
    );
    let server = Server::start(dir, &args);
    wait_for("the probe to finish after the restart", 30, || {
        job_of_probe(dir, db, "crash").is_some_and(|j| j["status"] == "done")
    });
    let job = job_of_probe(dir, db, "crash").unwrap();
    assert_eq!(job["attempts"], 2, "run again after the lease ran out");
    assert_eq!(
        rt.block_on(probe_runs(db, "crash")),
        Some(1),
        "the effect happened once"
    );
    assert!(server.terminate().success());
}

#[test]
fn kill_9_during_a_job_then_restart() {
    let dir = TempDir::new();
    crash_during_a_job(dir.path(), &sqlite_url(dir.path()));
}

#[test]
#[ignore = "needs PostgreSQL: set VOUCH_TEST_DATABASE_URL and run with --ignored pg_ pg::"]
fn pg_kill_9_during_a_job_then_restart() {
    let dir = TempDir::new();
    let db = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(vouch_store::testing::fresh_postgres_url());
    crash_during_a_job(dir.path(), &db);
}

#[test]
fn sigterm_drains_the_running_job_before_exiting() {
    let dir = TempDir::new();
    let d = dir.path();
    let db = sqlite_url(d);
    let server = Server::start(d, &["--worker-poll-ms", "50"]);
    run_ok(
        d,
        &["jobs", "probe", "--key", "drain", "--sleep-ms", "1500"],
    );
    wait_for("the probe to be running", 20, || {
        job_of_probe(d, &db, "drain").is_some_and(|j| j["status"] == "running")
    });
    assert!(server.terminate().success());
    let job = job_of_probe(d, &db, "drain").unwrap();
    assert_eq!(
        (job["status"].as_str(), job["attempts"].as_i64()),
        (Some("done"), Some(1)),
        "finished, not abandoned"
    );
}

#[test]
#[ignore = "needs PostgreSQL: set VOUCH_TEST_DATABASE_URL and run with --ignored pg_ pg::"]
fn pg_two_servers_share_one_queue_without_running_a_job_twice() {
    let dir = TempDir::new();
    let d = dir.path();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(vouch_store::testing::fresh_postgres_url());
    run_ok(d, &["migrate", "--database-url", &db]);
    let keys: Vec<String> = (0..60).map(|i| format!("shared-{i}")).collect();
    rt.block_on(async {
        let store = vouch_store::Store::connect(&db, &Default::default())
            .await
            .unwrap();
        let mut c = store.read().await.unwrap();
        for k in &keys {
            let job = vouch_store::jobs::NewJob::new(
                vouch_worker::PROBE_JOB,
                serde_json::json!({ "key": k, "sleep_ms": 40 }),
            );
            vouch_store::jobs::enqueue(&mut c, &job, vouch_core::clock::now_ms())
                .await
                .unwrap();
        }
    });
    let args = ["--database-url", db.as_str(), "--worker-poll-ms", "20"];
    let a = Server::start(d, &args);
    let b = Server::start(d, &args);
    wait_for("every probe to run", 60, || {
        rt.block_on(async {
            let store = vouch_store::Store::connect(&db, &Default::default())
                .await
                .unwrap();
            let done = store.jobs(Some("done"), 1000).await.unwrap().len();
            store.close().await;
            done == keys.len()
        })
    });
    assert!(a.terminate().success() && b.terminate().success());
    rt.block_on(async {
        let store = vouch_store::Store::connect(&db, &Default::default())
            .await
            .unwrap();
        for k in &keys {
            assert_eq!(
                store.probe(k).await.unwrap().map(|p| p.runs),
                Some(1),
                "{k} ran more than once"
            );
        }
        assert!(
            store
                .jobs(None, 1000)
                .await
                .unwrap()
                .iter()
                .all(|j| j.attempts == 1)
        );
    });
}

#[test]
fn json_logs_carry_the_request_id() {
    let dir = TempDir::new();
    let bind = format!("127.0.0.1:{}", common::free_port());
    let child = vouch_cmd(dir.path())
        .args([
            "serve",
            "--bind",
            &bind,
            "--log-format",
            "json",
            "--log-level",
            "info",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = format!("http://{bind}/healthz");
    wait_for("the server", 30, || {
        rt.block_on(async {
            let r = reqwest::Client::new()
                .get(&url)
                .header("x-request-id", "log-test-1")
                .send()
                .await;
            r.is_ok_and(|r| r.status().as_u16() == 200)
        })
    });
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let request = lines
        .iter()
        .find(|l| l["span"]["request_id"] == "log-test-1")
        .unwrap_or_else(|| panic!("no request log with the id: {logs}"));
    assert_eq!(request["status"], 200);
    assert_eq!(request["span"]["route"], "/healthz");
}

#[test]
fn customers_import_reports_refused_rows_and_exits_3() {
    let dir = TempDir::new();
    let d = dir.path();
    run_ok(d, &["workspace", "create", "--name", "Shop"]);
    std::fs::write(
        d.join("in.csv"),
        "email,name\nanna@example.com,Anna\nnope,Bad\nbob@example.com,Bob\n",
    )
    .unwrap();
    let out = run(
        d,
        &[
            "customers",
            "import",
            "--workspace",
            "shop",
            "--from",
            "in.csv",
            "--report",
            "refused.csv",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("3 rows: 2 created, 0 updated, 1 refused") && text.contains("line 3: email"),
        "{text}"
    );
    let report = std::fs::read_to_string(d.join("refused.csv")).unwrap();
    assert!(report.starts_with("line,error\n3,\"email:"), "{report}");
    let exported = run_ok(
        d,
        &[
            "customers",
            "export",
            "--workspace",
            "shop",
            "--to",
            "out.csv",
        ],
    );
    assert_eq!(exported["customers"], 2);
    let csv = std::fs::read_to_string(d.join("out.csv")).unwrap();
    assert!(csv.contains("anna@example.com,Anna,,,no,{}"), "{csv}");
}

#[test]
#[ignore = "needs PostgreSQL: set VOUCH_TEST_DATABASE_URL and run with --ignored pg_"]
fn pg_backup_points_to_pg_dump() {
    let dir = TempDir::new();
    let db = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(vouch_store::testing::fresh_postgres_url());
    let out = run(
        dir.path(),
        &["backup", "--to", "copy.db", "--database-url", &db],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("pg_dump"), "{err}");
    assert!(!dir.path().join("copy.db").exists(), "nothing half-created");
}
