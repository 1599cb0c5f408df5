//! The admin dashboard in-process: setup, sign-in and out, throttling, CSRF, roles, forms.

mod common;

use axum::http::StatusCode;
use common::{Browser, PASSWORD, TestApp, member};
use vouch_core::{Email, Role};
use vouch_store::audit::Actor;
use vouch_store::{accounts, commands};

#[tokio::test]
async fn setup_creates_the_first_workspace_then_becomes_sign_in() {
    let app = TestApp::new().await;
    let mut b = Browser::new(&app);
    let r = b
        .set_up("Anna's Bakery", "Anna@Example.com", PASSWORD)
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/admin");
    let cookie = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("vouch_session="))
        .unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "http base URL: no Secure flag");
    let dash = b.get("/admin").await;
    assert_eq!(dash.status, StatusCode::OK);
    assert!(
        dash.body.contains("Anna&#39;s Bakery") || dash.body.contains("Anna&#x27;s Bakery"),
        "{}",
        dash.body
    );
    assert!(dash.body.contains("anna@example.com · owner"));
    assert!(dash.body.contains("workspace.created"));
    // Signed in, / goes to the dashboard; a stranger sees the sign-in page, never setup again.
    assert_eq!(b.get("/").await.location(), "/admin");
    let mut stranger = Browser::new(&app);
    let home = stranger.get("/").await;
    assert!(home.body.contains("Sign in") && !home.body.contains("Set up Vouch"));
    // A second setup attempt (a stale tab) creates nothing.
    let csrf = home.csrf();
    let again = stranger
        .post(
            "/setup",
            &[
                ("csrf", &csrf),
                ("workspace_name", "Evil"),
                ("email", "evil@example.com"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(again.location(), "/login");
    let mut c = app.db.store.read().await.unwrap();
    assert_eq!(vouch_store::workspaces::count(&mut c).await.unwrap(), 1);
    assert!(
        accounts::user_by_email(&mut c, &Email::parse("evil@example.com").unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn setup_form_shows_every_problem_and_creates_nothing() {
    let app = TestApp::new().await;
    let mut b = Browser::new(&app);
    let csrf = b.get("/").await.csrf();
    let r = b
        .post(
            "/setup",
            &[
                ("csrf", &csrf),
                ("workspace_name", " "),
                ("email", "nope"),
                ("password", "short"),
                ("password_confirm", "short"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("this cannot be empty"));
    assert!(
        r.body
            .contains("an email address looks like name@example.com")
    );
    assert!(r.body.contains("use at least 10 characters"));
    assert!(r.body.contains("value=\"nope\""), "what was typed is kept");
    let mismatch = b
        .post(
            "/setup",
            &[
                ("csrf", &csrf),
                ("workspace_name", "Shop"),
                ("email", "a@example.com"),
                ("password", PASSWORD),
                ("password_confirm", "another long password"),
            ],
        )
        .await;
    assert!(mismatch.body.contains("the two passwords differ"));
    let mut c = app.db.store.read().await.unwrap();
    assert_eq!(vouch_store::workspaces::count(&mut c).await.unwrap(), 0);
}

#[tokio::test]
async fn sign_out_ends_the_session_on_the_server() {
    let app = TestApp::new().await;
    let mut b = Browser::new(&app);
    b.set_up("Shop", "owner@example.com", PASSWORD).await;
    let stolen = b.cookies.clone();
    let csrf = b.csrf().await;
    let out = b.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.location(), "/login");
    assert!(!b.cookies.contains_key("vouch_session"));
    // The old cookie, replayed, no longer opens anything.
    let mut thief = Browser::new(&app);
    thief.cookies = stolen;
    assert_eq!(thief.get("/admin").await.location(), "/login");

    let wrong = b
        .sign_in("owner@example.com", "not the password at all")
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("do not match"));
    let unknown = b.sign_in("nobody@example.com", PASSWORD).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(
        unknown.body.contains("do not match"),
        "no hint whether an account exists"
    );
    let ok = b.sign_in("OWNER@example.com ", PASSWORD).await;
    assert_eq!(ok.location(), "/admin");
    assert_eq!(b.get("/admin").await.status, StatusCode::OK);
}

#[tokio::test]
async fn sign_in_is_throttled_per_account() {
    let app = TestApp::new().await;
    let mut b = Browser::new(&app);
    b.set_up("Shop", "owner@example.com", PASSWORD).await;
    let mut attacker = Browser::new(&app);
    for _ in 0..5 {
        assert_eq!(
            attacker
                .sign_in("owner@example.com", "guess guess guess")
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }
    let blocked = attacker.sign_in("owner@example.com", PASSWORD).await;
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(blocked.body.contains("Try again in"));
    // Other accounts are not locked by it.
    let mut c = app.db.store.read().await.unwrap();
    let ws = vouch_store::workspaces::by_slug(&mut c, "shop")
        .await
        .unwrap()
        .unwrap();
    drop(c);
    let hash = vouch_core::password::hash(PASSWORD);
    commands::add_member(
        &app.db.store,
        ws.id,
        &Email::parse("other@example.com").unwrap(),
        Role::Admin,
        Some(&hash),
        &Actor::cli(),
    )
    .await
    .unwrap();
    assert_eq!(
        Browser::new(&app)
            .sign_in("other@example.com", PASSWORD)
            .await
            .location(),
        "/admin"
    );
}

#[tokio::test]
async fn every_form_refuses_a_missing_or_wrong_csrf_token() {
    let app = TestApp::new().await;
    let mut b = Browser::new(&app);
    // Before a session: the setup and sign-in forms use a double-submit cookie.
    let r = b
        .post(
            "/setup",
            &[
                ("csrf", "0123456789abcdef0123456789abcdef"),
                ("workspace_name", "Shop"),
                ("email", "a@example.com"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    b.set_up("Shop", "owner@example.com", PASSWORD).await;
    let forms: [(&str, Vec<(&str, &str)>); 7] = [
        (
            "/admin/settings",
            vec![
                ("name", "Hacked"),
                ("brand_color", "#000000"),
                ("currency", "EUR"),
                ("time_zone", "UTC"),
            ],
        ),
        (
            "/admin/members",
            vec![
                ("email", "x@example.com"),
                ("role", "owner"),
                ("password", PASSWORD),
            ],
        ),
        ("/admin/api-keys", vec![("name", "stolen")]),
        ("/admin/members/1/role", vec![("role", "viewer")]),
        ("/admin/members/1/remove", vec![]),
        ("/admin/switch", vec![("workspace_id", "1")]),
        ("/logout", vec![]),
    ];
    for (path, fields) in forms {
        for token in [None, Some("0123456789abcdef0123456789abcdef")] {
            let mut f = fields.clone();
            if let Some(t) = token {
                f.push(("csrf", t));
            }
            let r = b.post(path, &f).await;
            assert_eq!(
                r.status,
                StatusCode::FORBIDDEN,
                "{path} with {token:?}: {}",
                r.body
            );
            assert!(r.body.contains("This form has expired"));
        }
    }
    let mut c = app.db.store.read().await.unwrap();
    let ws = vouch_store::workspaces::by_slug(&mut c, "shop")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ws.name, "Shop");
    assert_eq!(accounts::members(&mut c, ws.id).await.unwrap().len(), 1);
    assert!(accounts::api_keys(&mut c, ws.id).await.unwrap().is_empty());
    drop(c);
    assert_eq!(
        b.get("/admin").await.status,
        StatusCode::OK,
        "still signed in"
    );
}

#[tokio::test]
async fn viewers_change_nothing_and_only_owners_manage_access() {
    let app = TestApp::new().await;
    Browser::new(&app)
        .set_up("Shop", "owner@example.com", PASSWORD)
        .await;
    let mut viewer = member(&app, "viewer@example.com", Role::Viewer).await;
    let csrf = viewer.csrf().await;
    let settings = viewer.get("/admin/settings").await;
    assert_eq!(settings.status, StatusCode::OK);
    assert!(settings.body.contains("disabled") && !settings.body.contains("id=\"save-settings\""));
    let r = viewer
        .post(
            "/admin/settings",
            &[
                ("csrf", &csrf),
                ("name", "Viewer was here"),
                ("brand_color", "#000000"),
                ("currency", "EUR"),
                ("time_zone", "UTC"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        viewer.get("/admin/members").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        viewer
            .post("/admin/api-keys", &[("csrf", &csrf), ("name", "k")])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert!(
        !viewer.get("/admin").await.body.contains("/admin/api-keys"),
        "nav hides what a viewer cannot use"
    );

    let mut admin = member(&app, "admin@example.com", Role::Admin).await;
    let csrf = admin.csrf().await;
    let ok = admin
        .post(
            "/admin/settings",
            &[
                ("csrf", &csrf),
                ("name", "Shop & Co"),
                ("brand_color", "#112233"),
                ("currency", "usd"),
                ("time_zone", "America/New_York"),
                ("sender_name", ""),
                ("sender_email", ""),
            ],
        )
        .await;
    assert_eq!(ok.location(), "/admin/settings?done=saved");
    assert!(
        admin
            .get("/admin/settings?done=saved")
            .await
            .body
            .contains("Saved.")
    );
    assert_eq!(admin.get("/admin/members").await.status, StatusCode::OK);
    let add = admin
        .post(
            "/admin/members",
            &[
                ("csrf", &csrf),
                ("email", "x@example.com"),
                ("role", "owner"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(add.status, StatusCode::FORBIDDEN);
    assert_eq!(
        admin
            .post("/admin/api-keys", &[("csrf", &csrf), ("name", "k")])
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // A role change applies at the next request, not the next sign-in.
    let mut c = app.db.store.read().await.unwrap();
    let ws = vouch_store::workspaces::by_slug(&mut c, "shop")
        .await
        .unwrap()
        .unwrap();
    let admin_member = accounts::members(&mut c, ws.id)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.email == "admin@example.com")
        .unwrap();
    drop(c);
    commands::set_member_role(
        &app.db.store,
        ws.id,
        admin_member.member_id,
        Role::Viewer,
        &Actor::cli(),
    )
    .await
    .unwrap();
    let r = admin
        .post(
            "/admin/settings",
            &[
                ("csrf", &csrf),
                ("name", "Again"),
                ("brand_color", "#112233"),
                ("currency", "USD"),
                ("time_zone", "UTC"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Removing a member ends their sessions.
    commands::remove_member(&app.db.store, ws.id, admin_member.member_id, &Actor::cli())
        .await
        .unwrap();
    assert_eq!(admin.get("/admin").await.location(), "/login");
}

#[tokio::test]
async fn settings_form_marks_each_bad_field_and_saves_nothing() {
    let app = TestApp::new().await;
    let (mut b, csrf) = Browser::shop_owner(&app).await;
    let r = b
        .post(
            "/admin/settings",
            &[
                ("csrf", &csrf),
                ("name", "Renamed"),
                ("brand_color", "blue"),
                ("logo_url", "javascript:alert(1)"),
                ("currency", "XYZ"),
                ("time_zone", "Mars/Olympus"),
                ("sender_email", "nope"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    for msg in [
        "use a colour like #1f6feb",
        "use a full address starting with https://",
        "use a supported ISO 4217 code",
        "use an IANA time zone",
        "Nothing was saved",
    ] {
        assert!(r.body.contains(msg), "missing {msg:?}");
    }
    assert!(
        r.body.contains("value=\"Mars/Olympus\""),
        "typed values are kept"
    );
    let mut c = app.db.store.read().await.unwrap();
    assert_eq!(
        vouch_store::workspaces::by_slug(&mut c, "shop")
            .await
            .unwrap()
            .unwrap()
            .name,
        "Shop"
    );
}

#[tokio::test]
async fn owners_manage_members_from_the_admin() {
    let app = TestApp::new().await;
    let (mut b, csrf) = Browser::shop_owner(&app).await;
    let bad = b
        .post(
            "/admin/members",
            &[
                ("csrf", &csrf),
                ("email", "new@example.com"),
                ("role", "admin"),
                ("password", ""),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("has no account yet"));
    let ok = b
        .post(
            "/admin/members",
            &[
                ("csrf", &csrf),
                ("email", "new@example.com"),
                ("role", "admin"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(ok.location(), "/admin/members?done=member-added");
    let dup = b
        .post(
            "/admin/members",
            &[
                ("csrf", &csrf),
                ("email", "NEW@example.com"),
                ("role", "viewer"),
                ("password", ""),
            ],
        )
        .await;
    assert!(dup.body.contains("already a member"));
    // The last owner cannot demote themselves.
    let page = b.get("/admin/members").await;
    assert!(page.body.contains("new@example.com"));
    let last = b
        .post(
            "/admin/members/1/role",
            &[("csrf", &csrf), ("role", "viewer")],
        )
        .await;
    assert_eq!(last.status, StatusCode::CONFLICT);
    assert!(last.body.contains("at least one owner"));
    let audit = b.get("/admin/audit").await;
    assert!(audit.body.contains("member.added") && audit.body.contains("owner@example.com"));
}

#[tokio::test]
async fn cookies_are_secure_behind_https() {
    let app = TestApp::with_base("https://refer.example.com").await;
    let mut b = Browser::new(&app);
    let home = b.get("/").await;
    assert!(
        home.headers
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("; Secure")
    );
    let r = b.set_up("Shop", "owner@example.com", PASSWORD).await;
    let session = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("vouch_session="))
        .unwrap();
    assert!(session.contains("; Secure"), "{session}");
}

#[tokio::test]
async fn members_of_two_workspaces_switch_between_them() {
    let app = TestApp::new().await;
    let mut b = Browser::new(&app);
    b.set_up("Shop", "owner@example.com", PASSWORD).await;
    let (other, _) = commands::create_workspace(
        &app.db.store,
        "Second shop",
        &vouch_core::Slug::parse("second").unwrap(),
        None,
        &Actor::cli(),
        false,
    )
    .await
    .unwrap();
    let stranger_ws = commands::create_workspace(
        &app.db.store,
        "Not yours",
        &vouch_core::Slug::parse("not-yours").unwrap(),
        None,
        &Actor::cli(),
        false,
    )
    .await
    .unwrap()
    .0;
    commands::add_member(
        &app.db.store,
        other.id,
        &Email::parse("owner@example.com").unwrap(),
        Role::Viewer,
        None,
        &Actor::cli(),
    )
    .await
    .unwrap();
    let csrf = b.csrf().await;
    let r = b
        .post(
            "/admin/switch",
            &[("csrf", &csrf), ("workspace_id", &other.id.to_string())],
        )
        .await;
    assert_eq!(r.location(), "/admin?done=switched");
    let dash = b.get("/admin").await;
    assert!(dash.body.contains("Second shop") && dash.body.contains("· viewer"));
    let refused = b
        .post(
            "/admin/switch",
            &[
                ("csrf", &csrf),
                ("workspace_id", &stranger_ws.id.to_string()),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    assert!(b.get("/admin").await.body.contains("Second shop"));
}
