//! The referral link contract: `GET /r/{code}` answers 302 to the program's stored
//! destination with the click id, sets the first-party cookies, records the click — and
//! never sends anyone anywhere else.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{Reply, TestApp};
use vouch_core::Email;
use vouch_core::program::{ProgramRules, ProgramStatus};
use vouch_store::audit::Actor;
use vouch_store::customers::CustomerInput;
use vouch_store::{clicks, tracking};

const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
const DEST: &str = "https://shop.example.com/welcome?lang=fr";

struct Fixture {
    app: TestApp,
    workspace_id: i64,
    program: vouch_store::rows::Program,
    code: String,
}

async fn fixture() -> Fixture {
    let app = TestApp::new().await;
    let slug = vouch_core::Slug::parse("shop").unwrap();
    let (ws, _) = vouch_store::commands::create_workspace(
        &app.db.store,
        "Shop",
        &slug,
        None,
        &Actor::cli(),
        false,
    )
    .await
    .unwrap();
    let rules = ProgramRules::starter(DEST).checked().unwrap();
    let program = tracking::create_program(
        &app.db.store,
        ws.id,
        "Friends",
        ProgramStatus::Active,
        &rules,
        &Actor::cli(),
    )
    .await
    .unwrap();
    let input = CustomerInput {
        email: Some(Email::parse("anna@example.com").unwrap()),
        name: Some("Anna".into()),
        created_from: "test",
        ..Default::default()
    };
    let (adv, _, _) = tracking::enroll(&app.db.store, ws.id, &program, &input, None, &Actor::cli())
        .await
        .unwrap();
    Fixture {
        app,
        workspace_id: ws.id,
        program,
        code: adv.code,
    }
}

impl Fixture {
    async fn visit(&self, method: &str, path: &str, ua: &str, cookie: Option<&str>) -> Reply {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header(header::USER_AGENT, ua);
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        self.app.send(b.body(Body::empty()).unwrap()).await
    }

    async fn clicks(&self) -> Vec<vouch_store::rows::Click> {
        self.app.state.clicks.flush().await;
        let mut c = self.app.db.store.read().await.unwrap();
        clicks::list(&mut c, self.workspace_id, None, i64::MAX, 100)
            .await
            .unwrap()
    }
}

fn cookies(r: &Reply) -> Vec<String> {
    r.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_referral_link_redirects_with_a_click_id_and_cookies() {
    let f = fixture().await;
    let r = f
        .visit(
            "GET",
            &format!(
                "/r/{}?utm_source=newsletter&gclid=g1&to=https://evil.example",
                f.code.to_lowercase()
            ),
            CHROME,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FOUND, "302, never 301");
    assert_eq!(r.headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
    let loc = url::Url::parse(r.location()).unwrap();
    assert_eq!(
        (loc.scheme(), loc.host_str(), loc.path()),
        ("https", Some("shop.example.com"), "/welcome")
    );
    let q: Vec<(String, String)> = loc.query_pairs().into_owned().collect();
    assert_eq!(
        q[0],
        ("lang".into(), "fr".into()),
        "the destination's own query stays first"
    );
    assert_eq!(q[1], ("vouch_ref".into(), f.code.clone()));
    assert_eq!(q[2].0, "vouch_click");
    let click_id = q[2].1.clone();
    assert!(
        q.contains(&("utm_source".into(), "newsletter".into()))
            && q.contains(&("gclid".into(), "g1".into()))
    );
    assert!(
        !r.location().contains("evil"),
        "unknown parameters are dropped"
    );

    let set = cookies(&r);
    let click_cookie = set.iter().find(|c| c.starts_with("vouch_ref=")).unwrap();
    assert!(click_cookie.starts_with(&format!("vouch_ref={click_id};")));
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=2592000"] {
        assert!(click_cookie.contains(attr), "{click_cookie} lacks {attr}");
    }
    assert!(!click_cookie.contains("Secure"), "http base: no Secure");
    let visitor = set.iter().find(|c| c.starts_with("vouch_vid=")).unwrap();
    let visitor_id = visitor
        .trim_start_matches("vouch_vid=")
        .split(';')
        .next()
        .unwrap()
        .to_string();

    let rows = f.clicks().await;
    assert_eq!(rows.len(), 1);
    let k = &rows[0];
    assert_eq!(
        (
            k.public_id.as_str(),
            k.visitor_id.as_str(),
            k.qualified,
            k.program_id
        ),
        (click_id.as_str(), visitor_id.as_str(), 1, f.program.id)
    );
    assert_eq!(k.user_agent, CHROME);
    let params: serde_json::Value = serde_json::from_str(&k.params).unwrap();
    assert_eq!(
        params,
        serde_json::json!({ "utm_source": "newsletter", "gclid": "g1" })
    );
    assert_eq!(k.ip_hash.len(), 32);

    // The same browser comes back: same visitor, a new click, and the rollup counts both.
    let again = f
        .visit(
            "GET",
            &format!("/r/{}", f.code),
            CHROME,
            Some(&format!("vouch_vid={visitor_id}")),
        )
        .await;
    assert_eq!(again.status, StatusCode::FOUND);
    let rows = f.clicks().await;
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|k| k.visitor_id == visitor_id));
    let mut c = f.app.db.store.read().await.unwrap();
    let rollups = clicks::rollups(&mut c, f.workspace_id, rows[0].advocate_id)
        .await
        .unwrap();
    assert_eq!(
        (
            rollups.len(),
            rollups[0].clicks,
            rollups[0].qualified_clicks
        ),
        (1, 2, 2)
    );
}

#[tokio::test]
async fn bots_previews_and_head_requests_redirect_but_never_qualify() {
    let f = fixture().await;
    for (method, ua) in [
        ("HEAD", CHROME),
        (
            "GET",
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        ),
        ("GET", ""),
    ] {
        let r = f.visit(method, &format!("/r/{}", f.code), ua, None).await;
        assert_eq!(r.status, StatusCode::FOUND, "{method} {ua}");
        assert!(r.location().starts_with("https://shop.example.com/welcome"));
    }
    let rows = f.clicks().await;
    assert_eq!(rows.len(), 3);
    let mut reasons: Vec<_> = rows
        .iter()
        .map(|k| (k.qualified, k.unqualified_reason.clone()))
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            (0, "bot".into()),
            (0, "head_request".into()),
            (0, "no_user_agent".into())
        ]
    );
}

#[tokio::test]
async fn unknown_codes_get_a_friendly_page_on_the_same_host() {
    let f = fixture().await;
    for path in [
        "/r/NOSUCHCODE",
        "/r/ab",
        "/r/%3Cscript%3E",
        "/r/..%2F..%2Fadmin",
    ] {
        let r = f.visit("GET", path, CHROME, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert!(r.headers.get(header::LOCATION).is_none());
        assert!(r.body.contains("This referral link does not work"));
        assert_eq!(r.headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
    }
    assert!(f.clicks().await.is_empty());
}

#[tokio::test]
async fn paused_programs_send_visitors_on_without_credit() {
    let f = fixture().await;
    let rules = vouch_store::programs::rules_of(&f.program.rules).unwrap();
    tracking::update_program(
        &f.app.db.store,
        f.workspace_id,
        &f.program.public_id,
        "Friends",
        ProgramStatus::Paused,
        &rules,
        &Actor::cli(),
    )
    .await
    .unwrap();
    f.app.state.codes.forget_program(f.program.id);
    let r = f
        .visit("GET", &format!("/r/{}", f.code), CHROME, None)
        .await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(r.location(), "https://shop.example.com/welcome?lang=fr");
    assert!(cookies(&r).is_empty());
    assert!(f.clicks().await.is_empty(), "no credit, no click");
}

#[tokio::test]
async fn no_request_can_redirect_anywhere_else() {
    let f = fixture().await;
    let code = f.code.clone();
    let attempts = [
        format!("/r/{code}?to=https://evil.example"),
        format!("/r/{code}?url=//evil.example"),
        format!("/r/{code}?next=%2F%2Fevil.example"),
        format!("/r/{code}?redirect=%5C%5Cevil.example"),
        format!("/r/{code}?dest=https%3A%2F%2Fevil.example%0d%0aSet-Cookie:%20x=1"),
        format!("/r/{code}?return=https://shop.example.com@evil.example"),
        format!("/r/{code}?to=https://%D0%B5vil.example"),
        format!("/r/{code}?utm_source=%0d%0aLocation:%20https://evil.example"),
        format!("/r/{code}?utm_campaign=//evil.example&utm_source=https://evil.example"),
        format!("/r/{code}%2F%2Fevil.example"),
        format!("/r/{code}%2F..%2F..%2Fevil.example"),
        format!("/r/{code}%0d%0aLocation:%20https://evil.example"),
        format!("/r/{code}%5Cevil.example"),
        format!("/r/{code}@evil.example"),
        "/r//evil.example".to_string(),
        "/r/%2F%2Fevil.example".to_string(),
        "/r/https:%2F%2Fevil.example".to_string(),
        format!("/r/{code}/https://evil.example"),
    ];
    for path in &attempts {
        let r = f.visit("GET", path, CHROME, None).await;
        for (name, value) in r.headers.iter() {
            let v = value.to_str().unwrap_or("");
            assert!(
                !v.contains('\r') && !v.contains('\n'),
                "{path}: header {name} carries a line break"
            );
        }
        match r.status {
            StatusCode::FOUND => {
                let loc = url::Url::parse(r.location()).unwrap();
                assert_eq!(
                    loc.host_str(),
                    Some("shop.example.com"),
                    "{path} → {}",
                    r.location()
                );
                assert_eq!(
                    (loc.scheme(), loc.path(), loc.username(), loc.port()),
                    ("https", "/welcome", "", None),
                    "{path}"
                );
                // Whatever rode along in the kept parameters is data in the query, nothing more.
                assert!(
                    r.location()
                        .starts_with("https://shop.example.com/welcome?lang=fr&vouch_ref="),
                    "{path}"
                );
            }
            StatusCode::NOT_FOUND => assert!(r.headers.get(header::LOCATION).is_none(), "{path}"),
            other => panic!("{path}: unexpected {other}"),
        }
    }
}

#[tokio::test]
async fn cookies_are_secure_behind_https() {
    let app = TestApp::with_base("https://refer.example.com").await;
    let slug = vouch_core::Slug::parse("shop").unwrap();
    let (ws, _) = vouch_store::commands::create_workspace(
        &app.db.store,
        "Shop",
        &slug,
        None,
        &Actor::cli(),
        false,
    )
    .await
    .unwrap();
    let program = tracking::create_program(
        &app.db.store,
        ws.id,
        "P",
        ProgramStatus::Active,
        &ProgramRules::starter(DEST).checked().unwrap(),
        &Actor::cli(),
    )
    .await
    .unwrap();
    let input = CustomerInput {
        email: Some(Email::parse("a@example.com").unwrap()),
        created_from: "test",
        ..Default::default()
    };
    let (adv, _, _) = tracking::enroll(&app.db.store, ws.id, &program, &input, None, &Actor::cli())
        .await
        .unwrap();
    let r = app
        .send(
            Request::get(format!("/r/{}", adv.code))
                .header(header::USER_AGENT, CHROME)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert!(cookies(&r).iter().all(|c| c.contains("; Secure")));
}
