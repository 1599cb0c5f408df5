//! The admin in a real headless Chromium, driven over WebDriver (chromedriver). `browser_`
//! tests are `#[ignore]`d; CI installs Chromium and runs them with `--ignored browser_`.
//! Without chromedriver they fail with a message saying so; they never pass silently.

use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};

mod common;
use common::{Server, free_port};
use std::time::{Duration, Instant};
use vouch_store::testing::scratch::TempDir;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Driver {
    child: Child,
    base: String,
    session: String,
    http: reqwest::Client,
}

impl Driver {
    async fn start() -> Self {
        let bin =
            std::env::var("VOUCH_TEST_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let port = free_port();
        let child = Command::new(&bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("this test needs chromedriver ({bin}): {e}; install chromium and chromium-driver"));
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let chrome =
            std::env::var("VOUCH_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let profile = std::env::temp_dir().join(format!("vouch-chrome-{port}"));
        let caps = json!({ "capabilities": { "alwaysMatch": { "browserName": "chrome", "goog:chromeOptions": {
            "binary": chrome,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1280,900", format!("--user-data-dir={}", profile.display())]
        }}}});
        let r: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {r}"))
            .to_string();
        Self {
            child,
            base,
            session,
            http,
        }
    }

    async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let v: Value = req.send().await.unwrap().json().await.unwrap();
        if v["value"].get("error").is_some() {
            panic!("webdriver {method} {path}: {}", v["value"]);
        }
        v["value"].clone()
    }

    async fn call_str(&self, method: &str, path: &str) -> String {
        let v = self.call(method, path, json!({})).await;
        v.as_str()
            .unwrap_or_else(|| panic!("{path}: {v}"))
            .to_string()
    }

    async fn go(&self, url: &str) {
        self.call("POST", "/url", json!({ "url": url })).await;
    }

    async fn find(&self, css: &str) -> String {
        let v = self
            .call(
                "POST",
                "/element",
                json!({ "using": "css selector", "value": css }),
            )
            .await;
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    async fn fill(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.call("POST", &format!("/element/{el}/clear"), json!({}))
            .await;
        self.call(
            "POST",
            &format!("/element/{el}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.call("POST", &format!("/element/{el}/click"), json!({}))
            .await;
    }

    async fn text(&self, css: &str) -> String {
        let el = self.find(css).await;
        self.call_str("GET", &format!("/element/{el}/text")).await
    }

    async fn url(&self) -> String {
        self.call_str("GET", "/url").await
    }

    async fn page(&self) -> String {
        self.call_str("GET", "/source").await
    }

    /// Waits until the page shows `needle` (a click's navigation can finish after the click returns).
    async fn wait_for_text(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let page = self.page().await;
            if page.contains(needle) {
                return page;
            }
            assert!(
                Instant::now() < deadline,
                "page never showed {needle:?}: {page}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_for_url(&self, url: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.url().await != url {
            assert!(
                Instant::now() < deadline,
                "never reached {url}, at {}",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn screenshot(&self, path: &std::path::Path) {
        use std::io::Write;
        let b64 = self.call("GET", "/screenshot", json!({})).await;
        let bytes = decode_base64(b64.as_str().unwrap());
        std::fs::File::create(path)
            .unwrap()
            .write_all(&bytes)
            .unwrap();
    }

    async fn script(&self, js: &str) -> Value {
        self.call("POST", "/execute/sync", json!({ "script": js, "args": [] }))
            .await
    }

    async fn quit(mut self) {
        let _ = self.call("DELETE", "", json!({})).await;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sets up a fresh Vouch as Anna's Bakery, signed in as its owner.
async fn set_up(b: &Driver, base: &str) {
    b.go(&format!("{base}/")).await;
    b.fill("#workspace_name", "Anna's Bakery").await;
    b.fill("#email", "anna@example.com").await;
    b.fill("#password", "a long enough password").await;
    b.fill("#password_confirm", "a long enough password").await;
    b.click("#create-workspace").await;
    b.wait_for_url(&format!("{base}/admin")).await;
}

fn decode_base64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let clean: Vec<u8> = s
        .bytes()
        .filter(|c| *c != b'=' && !c.is_ascii_whitespace())
        .collect();
    clean
        .chunks(4)
        .flat_map(|ch| {
            let n = ch
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, c)| acc | (val(*c) as u32) << (18 - 6 * i));
            let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            bytes[..ch.len().saturating_sub(1)].to_vec()
        })
        .collect()
}

#[tokio::test]
#[ignore = "needs Chromium and chromedriver: run with --ignored browser_"]
async fn browser_setup_settings_sign_out_and_in() {
    let dir = TempDir::new();
    let vouch = Server::start(dir.path(), &[]);
    let base = format!("http://{}", vouch.bind);
    let b = Driver::start().await;

    b.go(&format!("{base}/")).await;
    assert!(b.page().await.contains("Set up Vouch"));
    b.fill("#workspace_name", "Anna's Bakery").await;
    b.fill("#email", "anna@example.com").await;
    b.fill("#password", "a long enough password").await;
    b.fill("#password_confirm", "a long enough password").await;
    b.click("#create-workspace").await;
    b.wait_for_url(&format!("{base}/admin")).await;
    assert_eq!(b.text("#workspace-name").await, "Anna's Bakery");
    assert_eq!(b.text("#member-count").await, "1");

    b.go(&format!("{base}/admin/settings")).await;
    b.fill("#brand_color", "blue").await;
    b.fill("#time_zone", "Europe/Paris").await;
    b.click("#save-settings").await;
    let page = b.wait_for_text("Nothing was saved").await;
    assert!(page.contains("use a colour like #1f6feb"), "{page}");
    b.fill("#brand_color", "#e34c26").await;
    b.click("#save-settings").await;
    b.wait_for_text("Saved.").await;
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("admin-settings.png");
    b.screenshot(&shot).await;
    assert!(std::fs::metadata(&shot).unwrap().len() > 1000);

    b.click("#sign-out").await;
    b.wait_for_url(&format!("{base}/login")).await;
    b.go(&format!("{base}/admin")).await;
    assert_eq!(
        b.url().await,
        format!("{base}/login"),
        "signed out for real"
    );
    b.fill("#email", "anna@example.com").await;
    b.fill("#password", "wrong password here").await;
    b.click("#sign-in").await;
    b.wait_for_text("do not match").await;
    b.fill("#email", "anna@example.com").await;
    b.fill("#password", "a long enough password").await;
    b.click("#sign-in").await;
    b.wait_for_url(&format!("{base}/admin")).await;
    b.quit().await;
}

#[tokio::test]
#[ignore = "needs Chromium and chromedriver: run with --ignored browser_"]
async fn browser_program_advocate_qr_and_link() {
    let dir = TempDir::new();
    let vouch = Server::start(dir.path(), &[]);
    let base = format!("http://{}", vouch.bind);
    let b = Driver::start().await;
    set_up(&b, &base).await;

    // A program whose landing page is this server's own health check, so the browser can follow.
    b.go(&format!("{base}/admin/programs")).await;
    b.fill("#name", "Friends").await;
    b.fill("#destination", &format!("{base}/healthz")).await;
    b.click("#save-program").await;
    b.wait_for_text("Saved.").await;

    b.go(&format!("{base}/admin/advocates")).await;
    b.fill("#email", "carla@example.com").await;
    b.fill("#name", "Carla").await;
    b.fill("#vanity", "CARLA10").await;
    b.click("#enrol").await;
    b.wait_for_text("Advocate enrolled.").await;
    b.click("tbody a").await;
    b.wait_for_text("advocate-link").await;
    assert_eq!(b.text("#advocate-link").await, format!("{base}/r/CARLA10"));
    // The QR image loads under the admin's content security policy.
    let deadline = Instant::now() + Duration::from_secs(10);
    while b
        .script("return document.querySelector('img').naturalWidth")
        .await
        .as_i64()
        .unwrap_or(0)
        == 0
    {
        assert!(Instant::now() < deadline, "the QR image did not load");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A friend follows the link: the browser lands on the program's page with the click id.
    b.go(&format!("{base}/r/carla10?utm_source=print")).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let landed = loop {
        let u = b.url().await;
        if u.starts_with(&format!("{base}/healthz")) {
            break u;
        }
        assert!(Instant::now() < deadline, "never landed: {u}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        landed.contains("vouch_ref=CARLA10")
            && landed.contains("vouch_click=")
            && landed.contains("utm_source=print"),
        "{landed}"
    );
    b.quit().await;
}

#[tokio::test]
#[ignore = "needs Chromium and chromedriver: run with --ignored browser_"]
async fn browser_reward_rules_approval_queue_and_a_sprint() {
    let dir = TempDir::new();
    let vouch = Server::start(dir.path(), &[]);
    let base = format!("http://{}", vouch.bind);
    let b = Driver::start().await;
    set_up(&b, &base).await;
    b.go(&format!("{base}/admin/programs")).await;
    b.fill("#name", "Friends").await;
    b.fill("#destination", "https://shop.example.com/").await;
    b.click("#save-program").await;
    b.wait_for_text("Saved.").await;
    b.go(&format!("{base}/admin/advocates")).await;
    b.fill("#email", "carla@example.com").await;
    b.fill("#vanity", "CARLA10").await;
    b.click("#enrol").await;
    b.wait_for_text("Advocate enrolled.").await;

    // Reward rules typed into the editor: €20 cash, approved by hand.
    b.go(&format!("{base}/admin/programs")).await;
    b.click("a[href^='/admin/programs/'][href$='/rewards']")
        .await;
    b.wait_for_text("Reward rules (JSON)").await;
    b.fill("#rewards-json", r#"{"auto_approve": false, "rules": [{"key": "advocate", "beneficiary": "advocate",
        "trigger": {"on": "qualified_referral"}, "grants": [{"type": "cash", "amount": {"type": "fixed", "minor": 2000}}]}]}"#).await;
    b.click("#save-rules").await;
    b.wait_for_text("Saved.").await;
    b.fill("#referrals", "3").await;
    b.click("#preview").await;
    let page = b.wait_for_text("An advocate with 3 referrals").await;
    assert!(page.contains("cash 20.00 EUR"), "{page}");

    // A purchase arrives through the API with a key made in the admin.
    b.go(&format!("{base}/admin/api-keys")).await;
    b.fill("#name", "shop").await;
    b.click("input[name='write']").await;
    b.click("#create-key").await;
    b.wait_for_text("new-key").await;
    let key = b.text("#new-key").await;
    let http = reqwest::Client::new();
    let at = vouch_core::clock::rfc3339(vouch_core::clock::now_ms() - 40 * 86_400_000);
    let r = http
        .post(format!("{base}/api/v1/conversions"))
        .bearer_auth(&key)
        .json(&json!({ "external_id": "o-1", "amount_minor": 5000, "customer": { "email": "bob@example.com" }, "code": "CARLA10", "occurred_at": at }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // The approval queue: tick it, approve it.
    b.go(&format!("{base}/admin/rewards?queue=1")).await;
    b.wait_for_text("cash 20.00 EUR").await;
    b.click("input[name='reward']").await;
    b.fill("#reason", "order checked").await;
    b.click("#approve").await;
    b.wait_for_text("Decisions saved.").await;
    assert!(b.text("#rewards .status").await.contains("approved"));

    // A Referral Sprint in the workspace's time zone.
    b.go(&format!("{base}/admin/campaigns")).await;
    b.fill("#campaign-name", "December sprint").await;
    b.script("document.querySelector('#starts_at').value = '2030-12-04T18:00'; document.querySelector('#ends_at').value = '2030-12-11T18:00'; return 1").await;
    b.click("#create-campaign").await;
    let page = b.wait_for_text("Double rewards until").await;
    assert!(page.contains("scheduled"), "{page}");
    b.quit().await;
}
