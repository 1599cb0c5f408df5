//! The public join page: customers enrol themselves, with CSRF, eligibility and a per-IP limit.

mod common;

use axum::http::StatusCode;
use common::{Browser, TestApp};
use vouch_core::program::{Eligibility, ProgramRules, ProgramStatus};
use vouch_store::audit::Actor;

async fn program(app: &TestApp, status: ProgramStatus, eligibility: Eligibility) -> String {
    let mut c = app.db.store.read().await.unwrap();
    let ws = match vouch_store::workspaces::by_slug(&mut c, "shop")
        .await
        .unwrap()
    {
        Some(w) => w,
        None => {
            drop(c);
            let slug = vouch_core::Slug::parse("shop").unwrap();
            vouch_store::commands::create_workspace(
                &app.db.store,
                "Anna's Bakery",
                &slug,
                None,
                &Actor::cli(),
                false,
            )
            .await
            .unwrap()
            .0
        }
    };
    let mut rules = ProgramRules::starter("https://shop.example.com/");
    rules.friend_offer = "a free croissant".into();
    rules.eligibility = eligibility;
    let p = vouch_store::tracking::create_program(
        &app.db.store,
        ws.id,
        "Friends",
        status,
        &rules.checked().unwrap(),
        &Actor::cli(),
    )
    .await
    .unwrap();
    p.public_id
}

#[tokio::test]
async fn customers_join_and_leave_with_their_link() {
    let app = TestApp::new().await;
    let pid = program(&app, ProgramStatus::Active, Eligibility::Anyone).await;
    let mut b = Browser::new(&app);
    let page = b.get(&format!("/join/{pid}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Anna&#39;s Bakery") || page.body.contains("Anna&#x27;s Bakery"));
    assert!(page.body.contains("a free croissant"));
    let csrf = page.csrf();
    assert_eq!(
        b.post(&format!("/join/{pid}"), &[("email", "zoe@example.com")])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let bad = b
        .post(
            &format!("/join/{pid}"),
            &[("csrf", &csrf), ("email", "nope")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("name@example.com"));
    let ok = b
        .post(
            &format!("/join/{pid}"),
            &[
                ("csrf", &csrf),
                ("email", "zoe@example.com"),
                ("name", "Zoe"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    let tag = "<code id=\"your-link\">";
    let at = ok.body.find(tag).unwrap() + tag.len();
    let link = ok.body[at..].split('<').next().unwrap();
    assert!(link.starts_with("http://127.0.0.1:8080/r/"), "{link}");
    // Joining again gives the same link back.
    let again = b
        .post(
            &format!("/join/{pid}"),
            &[("csrf", &csrf), ("email", "ZOE@example.com")],
        )
        .await;
    assert!(again.body.contains(link));
    let mut c = app.db.store.read().await.unwrap();
    let ws = vouch_store::workspaces::by_slug(&mut c, "shop")
        .await
        .unwrap()
        .unwrap();
    let joined = vouch_store::advocates::list(&mut c, ws.id, None, 0, 10)
        .await
        .unwrap();
    assert_eq!(joined.len(), 1);
    // Their browser and (hashed) address are remembered as theirs, for the fraud checks.
    let ips = vouch_store::advocates::ips_of(&mut c, ws.id, joined[0].id)
        .await
        .unwrap();
    assert_eq!(ips.len(), 1);
    assert_eq!(ips[0].len(), 32, "a salted hash, never the address");
    let audit = vouch_store::audit::list(&mut c, ws.id, None, 5)
        .await
        .unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "advocate.enrolled" && e.actor_label.contains("join page"))
    );
}

#[tokio::test]
async fn closed_programs_and_eligibility_are_respected() {
    let app = TestApp::new().await;
    let paused = program(&app, ProgramStatus::Paused, Eligibility::Anyone).await;
    let mut b = Browser::new(&app);
    assert_eq!(
        b.get(&format!("/join/{paused}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        b.get("/join/prg_doesnotexist").await.status,
        StatusCode::NOT_FOUND
    );
    let buyers = program(&app, ProgramStatus::Active, Eligibility::Purchasers).await;
    let csrf = b.get(&format!("/join/{buyers}")).await.csrf();
    let r = b
        .post(
            &format!("/join/{buyers}"),
            &[("csrf", &csrf), ("email", "stranger@example.com")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body.contains("existing customers only"),
        "a stranger is no customer yet"
    );
}

#[tokio::test]
async fn each_address_gets_a_bounded_number_of_tries() {
    let app = TestApp::new().await;
    let pid = program(&app, ProgramStatus::Active, Eligibility::Anyone).await;
    let mut b = Browser::new(&app);
    let csrf = b.get(&format!("/join/{pid}")).await.csrf();
    for i in 0..20 {
        let r = b
            .post(
                &format!("/join/{pid}"),
                &[("csrf", &csrf), ("email", &format!("p{i}@example.com"))],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "try {i}");
    }
    let blocked = b
        .post(
            &format!("/join/{pid}"),
            &[("csrf", &csrf), ("email", "one-more@example.com")],
        )
        .await;
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS);
}
