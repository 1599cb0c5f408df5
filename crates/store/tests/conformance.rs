//! The store conformance suite: every case runs on SQLite, and on PostgreSQL as a `pg_` twin
//! that is `#[ignore]`d unless CI (or you) run `cargo test -- --ignored pg_ pg::` with
//! `VOUCH_TEST_DATABASE_URL` set. Run without it, a `pg_` test fails; it never passes silently.

use serde_json::json;
use std::collections::HashSet;
use vouch_core::clock::now_ms;
use vouch_core::settings::{SettingsInput, WorkspaceSettings};
use vouch_core::{ApiScope, Email, Role, Secret, Slug};
use vouch_store::accounts::{self, NewSession, ThrottleRule};
use vouch_store::audit::{self, Actor};
use vouch_store::jobs::{self, Failure, NewJob};
use vouch_store::testing::TestDb;
use vouch_store::{Store, StoreError, commands, outbox, workspaces};

vouch_store::both_backends!(
    migrations_are_idempotent_and_checked,
    workspaces_have_unique_slugs_and_settings,
    members_roles_and_the_last_owner,
    sessions_expire_and_end,
    api_keys_are_found_by_hash_until_revoked,
    audit_log_pages_newest_first,
    outbox_commits_with_the_change_or_not_at_all,
    concurrent_relays_hand_on_each_event_once,
    jobs_dedupe_by_key,
    jobs_retry_with_backoff_then_go_dead,
    jobs_come_back_when_a_lease_expires,
    lost_last_attempts_are_buried,
    concurrent_claimers_never_share_a_job,
    login_throttle_counts_in_a_window,
    export_import_round_trip,
    import_refuses_a_database_with_data,
);

fn settings(name: &str) -> WorkspaceSettings {
    WorkspaceSettings::parse(&SettingsInput {
        name,
        brand_color: "#112233",
        logo_url: "https://example.com/logo.png",
        currency: "GBP",
        time_zone: "Europe/London",
        sender_name: "Anna",
        sender_email: "anna@example.com",
    })
    .unwrap()
}

async fn workspace(store: &Store, name: &str) -> vouch_store::rows::Workspace {
    let slug = Slug::from_name(name).unwrap();
    commands::create_workspace(store, name, &slug, None, &Actor::cli(), false)
        .await
        .unwrap()
        .0
}

async fn migrations_are_idempotent_and_checked(store: Store) {
    let v = store.applied_version().await.unwrap();
    assert_eq!(v, vouch_store::migrate::MIGRATIONS.last().unwrap().version);
    store.migrate().await.unwrap();
    assert_eq!(store.pending_migrations().await.unwrap(), 0);
    // An applied migration that changed afterwards is refused, never re-run.
    let mut c = store.read().await.unwrap();
    sqlx::query("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
        .execute(&mut c)
        .await
        .unwrap();
    drop(c);
    let err = store.migrate().await.unwrap_err();
    assert!(err.to_string().contains("migration 1 was changed"), "{err}");
}

async fn workspaces_have_unique_slugs_and_settings(store: Store) {
    let a = workspace(&store, "Anna's Bakery").await;
    assert_eq!(a.slug, "anna-s-bakery");
    assert_eq!((a.currency.as_str(), a.time_zone.as_str()), ("EUR", "UTC"));
    let dup = commands::create_workspace(
        &store,
        "Other",
        &Slug::parse("anna-s-bakery").unwrap(),
        None,
        &Actor::cli(),
        false,
    )
    .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let updated = commands::update_settings(&store, a.id, &settings("Anna's"), &Actor::cli())
        .await
        .unwrap();
    assert_eq!(
        (
            updated.name.as_str(),
            updated.currency.as_str(),
            updated.time_zone.as_str()
        ),
        ("Anna's", "GBP", "Europe/London")
    );
    let mut c = store.read().await.unwrap();
    assert_eq!(
        workspaces::by_slug(&mut c, "ANNA-S-BAKERY")
            .await
            .unwrap()
            .unwrap()
            .name,
        "Anna's"
    );
    let log = audit::list(&mut c, a.id, None, 10).await.unwrap();
    assert_eq!(log[0].action, "workspace.updated");
    let changed: serde_json::Value = serde_json::from_str(&log[0].details).unwrap();
    assert_eq!(changed["changed"].as_array().unwrap().len(), 7);
    // Creating a workspace through setup is refused once one exists.
    let again = commands::create_workspace(
        &store,
        "Late",
        &Slug::parse("late").unwrap(),
        None,
        &Actor::cli(),
        true,
    )
    .await;
    assert!(matches!(again, Err(StoreError::Refused(_))));
}

async fn members_roles_and_the_last_owner(store: Store) {
    let ws = workspace(&store, "Shop").await;
    let owner = Email::parse("owner@example.com").unwrap();
    let viewer = Email::parse("viewer@example.com").unwrap();
    let o = commands::add_member(
        &store,
        ws.id,
        &owner,
        Role::Owner,
        Some("hash-o"),
        &Actor::cli(),
    )
    .await
    .unwrap();
    // A new user needs a password; an existing one does not.
    let refused =
        commands::add_member(&store, ws.id, &viewer, Role::Viewer, None, &Actor::cli()).await;
    assert!(matches!(refused, Err(StoreError::Refused(_))));
    let v = commands::add_member(
        &store,
        ws.id,
        &viewer,
        Role::Viewer,
        Some("hash-v"),
        &Actor::cli(),
    )
    .await
    .unwrap();
    let other = workspace(&store, "Other shop").await;
    commands::add_member(&store, other.id, &viewer, Role::Admin, None, &Actor::cli())
        .await
        .unwrap();
    let dup = commands::add_member(&store, ws.id, &viewer, Role::Admin, None, &Actor::cli()).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))));

    let mut c = store.read().await.unwrap();
    let members = accounts::members(&mut c, ws.id).await.unwrap();
    assert_eq!(
        members
            .iter()
            .map(|m| (m.email.as_str(), m.role))
            .collect::<Vec<_>>(),
        [
            ("owner@example.com", Role::Owner),
            ("viewer@example.com", Role::Viewer)
        ]
    );
    let theirs = accounts::workspaces_of(&mut c, v.user_id).await.unwrap();
    assert_eq!(theirs.len(), 2);
    drop(c);

    let last =
        commands::set_member_role(&store, ws.id, o.member_id, Role::Admin, &Actor::cli()).await;
    assert!(matches!(last, Err(StoreError::Refused(_))), "{last:?}");
    let gone = commands::remove_member(&store, ws.id, o.member_id, &Actor::cli()).await;
    assert!(matches!(gone, Err(StoreError::Refused(_))));
    commands::set_member_role(&store, ws.id, v.member_id, Role::Owner, &Actor::cli())
        .await
        .unwrap();
    commands::remove_member(&store, ws.id, o.member_id, &Actor::cli())
        .await
        .unwrap();
    // A member id from another workspace is not found here.
    let foreign = commands::remove_member(&store, other.id, v.member_id, &Actor::cli()).await;
    assert!(matches!(foreign, Err(StoreError::NotFound(_))));
}

async fn sessions_expire_and_end(store: Store) {
    let ws = workspace(&store, "Shop").await;
    let email = Email::parse("a@example.com").unwrap();
    let m = commands::add_member(&store, ws.id, &email, Role::Admin, Some("h"), &Actor::cli())
        .await
        .unwrap();
    let token = Secret::generate("");
    let now = now_ms();
    let mut c = store.read().await.unwrap();
    let s = NewSession {
        workspace_id: ws.id,
        user_id: m.user_id,
        token_hash: &token.hash(),
        csrf_token: "c",
        ip: "1.2.3.4",
        user_agent: "ua",
        expires_at: now + 1000,
    };
    accounts::create_session(&store, &s, now).await.unwrap();
    let view = accounts::session(&mut c, &token.hash(), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (view.email.as_str(), view.role),
        ("a@example.com", Role::Admin)
    );
    assert!(
        accounts::session(&mut c, &token.hash(), now + 1000)
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    accounts::touch_session(&store, view.session.id, now, now + 5000)
        .await
        .unwrap();
    assert!(
        accounts::session(&mut c, &token.hash(), now + 1000)
            .await
            .unwrap()
            .is_some(),
        "extended"
    );
    accounts::delete_session(&store, &token.hash())
        .await
        .unwrap();
    assert!(
        accounts::session(&mut c, &token.hash(), now)
            .await
            .unwrap()
            .is_none(),
        "ended"
    );
}

async fn api_keys_are_found_by_hash_until_revoked(store: Store) {
    let a = workspace(&store, "Shop A").await;
    let b = workspace(&store, "Shop B").await;
    let (key, secret) = commands::create_api_key(
        &store,
        a.id,
        "Shop sync",
        &[ApiScope::Read, ApiScope::Write],
        &Actor::cli(),
    )
    .await
    .unwrap();
    assert!(secret.expose().starts_with("vk_") && secret.expose().len() >= 3 + 32);
    assert!(secret.expose().starts_with(&key.prefix));
    assert_ne!(key.key_hash, secret.expose());
    let mut c = store.read().await.unwrap();
    let found = accounts::api_key_by_hash(&mut c, &secret.hash())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.workspace_id, found.scopes.as_str()),
        (a.id, "read write")
    );
    drop(c);
    // Another workspace cannot revoke it.
    let foreign = commands::revoke_api_key(&store, b.id, &key.public_id, &Actor::cli()).await;
    assert!(matches!(foreign, Err(StoreError::NotFound(_))));
    commands::revoke_api_key(&store, a.id, &key.public_id, &Actor::cli())
        .await
        .unwrap();
    let mut c = store.read().await.unwrap();
    assert!(
        accounts::api_key_by_hash(&mut c, &secret.hash())
            .await
            .unwrap()
            .is_none()
    );
    let again = commands::revoke_api_key(&store, a.id, &key.public_id, &Actor::cli()).await;
    assert!(matches!(again, Err(StoreError::NotFound(_))));
}

async fn audit_log_pages_newest_first(store: Store) {
    let a = workspace(&store, "Shop A").await;
    let b = workspace(&store, "Shop B").await;
    let mut c = store.read().await.unwrap();
    for i in 0..5 {
        audit::record(
            &mut c,
            a.id,
            &Actor::system(),
            &format!("test.{i}"),
            "x",
            json!({}),
            now_ms(),
        )
        .await
        .unwrap();
    }
    let first = audit::list(&mut c, a.id, None, 3).await.unwrap();
    assert_eq!(
        first.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["test.4", "test.3", "test.2"]
    );
    let next = audit::list(&mut c, a.id, Some(first[2].id), 3)
        .await
        .unwrap();
    assert_eq!(
        next.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["test.1", "test.0", "workspace.created"]
    );
    let theirs = audit::list(&mut c, b.id, None, 10).await.unwrap();
    assert_eq!(theirs.len(), 1, "only b's own creation");
}

async fn outbox_commits_with_the_change_or_not_at_all(store: Store) {
    let ws = workspace(&store, "Shop").await;
    let before_jobs = store.jobs(None, 1000).await.unwrap().len();
    {
        let mut tx = store.write().await.unwrap();
        workspaces::update_settings(&mut tx, ws.id, &settings("Rolled back"), now_ms())
            .await
            .unwrap();
        outbox::emit(&mut tx, ws.id, "workspace.updated", json!({}), now_ms())
            .await
            .unwrap();
        tx.rollback().await.unwrap();
    }
    let mut c = store.read().await.unwrap();
    assert_eq!(
        workspaces::by_id(&mut c, ws.id)
            .await
            .unwrap()
            .unwrap()
            .name,
        "Shop"
    );
    let events = outbox::list(&mut c, ws.id, 100).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        ["workspace.created"]
    );
    drop(c);
    assert_eq!(
        store.jobs(None, 1000).await.unwrap().len(),
        before_jobs,
        "a rolled-back change enqueues nothing"
    );

    // Dropping a transaction without commit is a rollback too.
    {
        let mut tx = store.write().await.unwrap();
        outbox::emit(&mut tx, ws.id, "dropped", json!({}), now_ms())
            .await
            .unwrap();
    }
    assert_eq!(store.jobs(None, 1000).await.unwrap().len(), before_jobs);

    commands::update_settings(&store, ws.id, &settings("Committed"), &Actor::cli())
        .await
        .unwrap();
    let mut c = store.read().await.unwrap();
    let events = outbox::list(&mut c, ws.id, 100).await.unwrap();
    assert_eq!(events[0].kind, "workspace.updated");
    drop(c);
    assert_eq!(
        store.jobs(None, 1000).await.unwrap().len(),
        before_jobs,
        "an event costs one row, no job"
    );
    // The relay hands on what committed, oldest first, once.
    let relayed = outbox::relay(&store, 100, now_ms()).await.unwrap();
    assert_eq!(
        relayed.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        ["workspace.created", "workspace.updated"]
    );
    assert!(
        outbox::relay(&store, 100, now_ms())
            .await
            .unwrap()
            .is_empty()
    );
    let mut c = store.read().await.unwrap();
    assert!(outbox::pending(&mut c, 100).await.unwrap().is_empty());
    assert!(
        outbox::list(&mut c, ws.id, 100)
            .await
            .unwrap()
            .iter()
            .all(|e| e.dispatched_at.is_some())
    );
}

/// Relays running side by side (several workers) hand on every event exactly once.
async fn concurrent_relays_hand_on_each_event_once(store: Store) {
    let ws = workspace(&store, "Relay").await;
    let mut tx = store.write().await.unwrap();
    for n in 0..300 {
        outbox::emit(&mut tx, ws.id, "test.event", json!({ "n": n }), now_ms())
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let relays = (0..4).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                let batch = outbox::relay(&store, 25, now_ms()).await.unwrap();
                if batch.is_empty() {
                    return seen;
                }
                seen.extend(batch.into_iter().map(|e| e.id));
            }
        })
    });
    let mut all: Vec<i64> = Vec::new();
    for r in relays.collect::<Vec<_>>() {
        all.extend(r.await.unwrap());
    }
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(
        (n, all.len()),
        (301, 301),
        "300 test events and workspace.created, once each"
    );
}

async fn jobs_dedupe_by_key(store: Store) {
    let now = now_ms();
    let mut c = store.read().await.unwrap();
    let job = NewJob::new("t", json!({"n": 1})).dedupe("cause-1");
    let first = jobs::enqueue(&mut c, &job, now).await.unwrap();
    assert!(first.is_some());
    assert_eq!(jobs::enqueue(&mut c, &job, now).await.unwrap(), None);
    // Jobs without a key never collide.
    let plain = NewJob::new("t", json!({}));
    assert!(jobs::enqueue(&mut c, &plain, now).await.unwrap().is_some());
    assert!(jobs::enqueue(&mut c, &plain, now).await.unwrap().is_some());
    // A scheduled job waits for its time.
    jobs::enqueue(
        &mut c,
        &NewJob::new("later", json!({})).at(now + 60_000),
        now,
    )
    .await
    .unwrap();
    drop(c);
    let claimed = store.claim_jobs("w", 10, 600_000, now).await.unwrap();
    assert_eq!(claimed.len(), 3);
    assert!(claimed.iter().all(|j| j.kind == "t"));
    assert_eq!(
        store
            .claim_jobs("w", 10, 1000, now + 60_000)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn jobs_retry_with_backoff_then_go_dead(store: Store) {
    let now = now_ms();
    let mut c = store.read().await.unwrap();
    let id = jobs::enqueue(
        &mut c,
        &NewJob::new("flaky", json!({})).max_attempts(3),
        now,
    )
    .await
    .unwrap()
    .unwrap();
    drop(c);
    let mut t = now;
    for attempt in 1..=3 {
        let claimed = store.claim_jobs("w", 1, 10_000, t).await.unwrap();
        assert_eq!(claimed.len(), 1, "attempt {attempt} is claimable at {t}");
        assert_eq!(claimed[0].attempt, attempt);
        let outcome = store.fail_job(&claimed[0], "boom", false, t).await.unwrap();
        if attempt < 3 {
            let Failure::RetryAt(at) = outcome else {
                panic!("{outcome:?}")
            };
            let base = 1000 * (1 << (attempt - 1));
            assert!(
                at - t >= base && at - t <= base + base / 4,
                "backoff {}",
                at - t
            );
            assert!(
                store
                    .claim_jobs("w", 1, 10_000, at - 1)
                    .await
                    .unwrap()
                    .is_empty(),
                "not before its time"
            );
            t = at;
        } else {
            assert_eq!(outcome, Failure::Dead);
        }
    }
    let job = store.job(id).await.unwrap().unwrap();
    assert_eq!(
        (job.status.as_str(), job.attempts, job.last_error.as_deref()),
        ("dead", 3, Some("boom"))
    );
    assert!(
        store
            .claim_jobs("w", 1, 10_000, t + 10_000_000)
            .await
            .unwrap()
            .is_empty()
    );

    // A permanent failure is dead at once.
    let mut c = store.read().await.unwrap();
    jobs::enqueue(&mut c, &NewJob::new("bad", json!({})), now)
        .await
        .unwrap();
    drop(c);
    let claimed = store.claim_jobs("w", 1, 10_000, t).await.unwrap();
    assert_eq!(
        store
            .fail_job(&claimed[0], "no handler", true, t)
            .await
            .unwrap(),
        Failure::Dead
    );
}

async fn jobs_come_back_when_a_lease_expires(store: Store) {
    let now = now_ms();
    let mut c = store.read().await.unwrap();
    let id = jobs::enqueue(&mut c, &NewJob::new("slow", json!({})), now)
        .await
        .unwrap()
        .unwrap();
    drop(c);
    let first = store
        .claim_jobs("crashed", 1, 1000, now)
        .await
        .unwrap()
        .remove(0);
    assert!(
        store
            .claim_jobs("other", 1, 1000, now + 999)
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );
    let second = store
        .claim_jobs("other", 1, 1000, now + 1001)
        .await
        .unwrap()
        .remove(0);
    assert_eq!((second.id, second.attempt), (id, 2));
    // The first worker wakes up late: its attempt is fenced off.
    assert!(!store.complete_job(&first, now + 1100).await.unwrap());
    assert_eq!(
        store
            .fail_job(&first, "late", false, now + 1100)
            .await
            .unwrap(),
        Failure::Stale
    );
    assert!(!store.extend_lease(&first, now + 5000).await.unwrap());
    assert!(store.extend_lease(&second, now + 5000).await.unwrap());
    assert!(
        store
            .claim_jobs("third", 1, 1000, now + 4000)
            .await
            .unwrap()
            .is_empty(),
        "extended lease holds"
    );
    assert!(store.complete_job(&second, now + 1200).await.unwrap());
    let job = store.job(id).await.unwrap().unwrap();
    assert_eq!(
        (job.status.as_str(), job.attempts, job.locked_by),
        ("done", 2, None)
    );
}

async fn lost_last_attempts_are_buried(store: Store) {
    let now = now_ms();
    let mut c = store.read().await.unwrap();
    let id = jobs::enqueue(&mut c, &NewJob::new("slow", json!({})).max_attempts(1), now)
        .await
        .unwrap()
        .unwrap();
    drop(c);
    store.claim_jobs("crashed", 1, 1000, now).await.unwrap();
    assert!(
        store
            .claim_jobs("other", 1, 1000, now + 2000)
            .await
            .unwrap()
            .is_empty()
    );
    let job = store.job(id).await.unwrap().unwrap();
    assert_eq!(job.status, "dead");
    assert!(job.last_error.unwrap().contains("stopped before finishing"));
}

async fn concurrent_claimers_never_share_a_job(store: Store) {
    let now = now_ms();
    let mut c = store.read().await.unwrap();
    for i in 0..120 {
        jobs::enqueue(&mut c, &NewJob::new("n", json!({ "i": i })), now)
            .await
            .unwrap();
    }
    drop(c);
    let mut tasks = Vec::new();
    for w in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = store
                    .claim_jobs(&format!("w{w}"), 7, 60_000, now_ms())
                    .await
                    .unwrap();
                if batch.is_empty() {
                    break;
                }
                for j in batch {
                    assert!(store.complete_job(&j, now_ms()).await.unwrap());
                    mine.push(j.id);
                }
            }
            mine
        }));
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    for t in tasks {
        for id in t.await.unwrap() {
            total += 1;
            assert!(seen.insert(id), "job {id} claimed twice");
        }
    }
    assert_eq!((total, seen.len()), (120, 120));
    assert!(
        store
            .jobs(Some("done"), 1000)
            .await
            .unwrap()
            .iter()
            .all(|j| j.attempts == 1)
    );
}

async fn login_throttle_counts_in_a_window(store: Store) {
    let rule = ThrottleRule {
        limit: 3,
        window_ms: 1000,
    };
    let now = now_ms();
    let mut c = store.read().await.unwrap();
    for i in 0..3 {
        assert!(
            accounts::throttled_until(&mut c, "k", rule, now)
                .await
                .unwrap()
                .is_none(),
            "{i}"
        );
        accounts::count_attempt(&store, "k", rule, now + i)
            .await
            .unwrap();
    }
    assert_eq!(
        accounts::throttled_until(&mut c, "k", rule, now + 10)
            .await
            .unwrap(),
        Some(now + 1000)
    );
    assert!(
        accounts::throttled_until(&mut c, "other", rule, now)
            .await
            .unwrap()
            .is_none()
    );
    // A new window starts fresh.
    assert!(
        accounts::throttled_until(&mut c, "k", rule, now + 1000)
            .await
            .unwrap()
            .is_none()
    );
    accounts::count_attempt(&store, "k", rule, now + 1000)
        .await
        .unwrap();
    assert!(
        accounts::throttled_until(&mut c, "k", rule, now + 1001)
            .await
            .unwrap()
            .is_none()
    );
    accounts::clear_attempts(&store, "k").await.unwrap();
}

/// Fills a store with a little of everything, for transfer tests.
pub async fn populate(store: &Store) {
    let ws = workspace(store, "Anna's Bakery").await;
    let other = workspace(store, "Bob's Bikes").await;
    let email = Email::parse("anna@example.com").unwrap();
    commands::add_member(
        store,
        ws.id,
        &email,
        Role::Owner,
        Some("$argon2id$fake"),
        &Actor::cli(),
    )
    .await
    .unwrap();
    commands::add_member(store, other.id, &email, Role::Viewer, None, &Actor::cli())
        .await
        .unwrap();
    let (k, _) = commands::create_api_key(store, ws.id, "Shop", &[ApiScope::Read], &Actor::cli())
        .await
        .unwrap();
    commands::revoke_api_key(store, ws.id, &k.public_id, &Actor::cli())
        .await
        .unwrap();
    commands::update_settings(store, ws.id, &settings("Anna's Bakery ✓"), &Actor::cli())
        .await
        .unwrap();
    accounts::count_attempt(
        store,
        "ip:1.2.3.4",
        ThrottleRule {
            limit: 5,
            window_ms: 1000,
        },
        5,
    )
    .await
    .unwrap();
    store.record_probe("p", 7).await.unwrap();
}

async fn export_import_round_trip(store: Store) {
    populate(&store).await;
    let dir = vouch_store::testing::scratch::TempDir::new();
    let manifest = store.export(dir.path()).await.unwrap();
    assert_eq!(manifest.tables["workspaces"], 2);
    assert_eq!(manifest.tables.len(), vouch_store::transfer::tables().len());
    let target = TestDb::sqlite().await;
    target.store.import(dir.path()).await.unwrap();
    let again = vouch_store::testing::scratch::TempDir::new();
    target.store.export(again.path()).await.unwrap();
    for t in vouch_store::transfer::tables() {
        let a = std::fs::read_to_string(dir.path().join(format!("{t}.jsonl"))).unwrap();
        let b = std::fs::read_to_string(again.path().join(format!("{t}.jsonl"))).unwrap();
        assert_eq!(a, b, "{t} differs after the round trip");
    }
    // New rows after an import get fresh ids.
    let ws = workspace(&target.store, "After import").await;
    assert!(ws.id > 2);
}

async fn import_refuses_a_database_with_data(store: Store) {
    populate(&store).await;
    let dir = vouch_store::testing::scratch::TempDir::new();
    store.export(dir.path()).await.unwrap();
    let err = store.import(dir.path()).await.unwrap_err();
    assert!(err.to_string().contains("empty database"), "{err}");
    // A corrupt file rolls the whole import back.
    let target = TestDb::sqlite().await;
    let members = dir.path().join("members.jsonl");
    let text = std::fs::read_to_string(&members).unwrap();
    std::fs::write(&members, text.replace("\"role\"", "\"rank\"")).unwrap();
    let err = target.store.import(dir.path()).await.unwrap_err();
    assert!(err.to_string().contains("members.jsonl line 1"), "{err}");
    let mut c = target.store.read().await.unwrap();
    assert_eq!(
        workspaces::count(&mut c).await.unwrap(),
        0,
        "nothing half-imported"
    );
}

#[tokio::test]
async fn every_table_is_exported() {
    let db = TestDb::sqlite().await;
    let schema = db.store.describe_schema().await.unwrap();
    let mut tables: Vec<_> = schema
        .keys()
        .filter(|t| *t != "schema_migrations")
        .cloned()
        .collect();
    let mut exported: Vec<_> = vouch_store::transfer::tables()
        .into_iter()
        .map(String::from)
        .collect();
    tables.sort();
    exported.sort();
    assert_eq!(tables, exported, "add new tables to transfer::each_table!");
    for (name, table) in &schema {
        if name == "schema_migrations" {
            continue;
        }
        for col in &table.columns {
            assert!(
                matches!(col.ty.as_str(), "integer" | "text"),
                "{name}.{} is {}: use i64 or text",
                col.name,
                col.ty
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set VOUCH_TEST_DATABASE_URL and run with --ignored pg_ pg::"]
async fn pg_schema_parity() {
    let sqlite = TestDb::sqlite()
        .await
        .store
        .describe_schema()
        .await
        .unwrap();
    let pg = TestDb::postgres()
        .await
        .store
        .describe_schema()
        .await
        .unwrap();
    assert_eq!(
        sqlite.keys().collect::<Vec<_>>(),
        pg.keys().collect::<Vec<_>>(),
        "tables differ"
    );
    for (name, s) in &sqlite {
        let p = &pg[name];
        assert_eq!(s.columns, p.columns, "columns of {name} differ");
        assert_eq!(
            s.primary_key, p.primary_key,
            "primary key of {name} differs"
        );
        assert_eq!(s.indexes, p.indexes, "indexes of {name} differ");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set VOUCH_TEST_DATABASE_URL and run with --ignored pg_ pg::"]
async fn pg_round_trip_sqlite_postgres_sqlite() {
    let source = TestDb::sqlite().await;
    populate(&source.store).await;
    let first = vouch_store::testing::scratch::TempDir::new();
    source.store.export(first.path()).await.unwrap();
    let pg = TestDb::postgres().await;
    pg.store.import(first.path()).await.unwrap();
    let second = vouch_store::testing::scratch::TempDir::new();
    pg.store.export(second.path()).await.unwrap();
    let back = TestDb::sqlite().await;
    back.store.import(second.path()).await.unwrap();
    let third = vouch_store::testing::scratch::TempDir::new();
    back.store.export(third.path()).await.unwrap();
    for t in vouch_store::transfer::tables() {
        let a = std::fs::read_to_string(first.path().join(format!("{t}.jsonl"))).unwrap();
        let b = std::fs::read_to_string(second.path().join(format!("{t}.jsonl"))).unwrap();
        let c = std::fs::read_to_string(third.path().join(format!("{t}.jsonl"))).unwrap();
        assert_eq!(a, b, "{t}: SQLite → PostgreSQL changed it");
        assert_eq!(a, c, "{t}: PostgreSQL → SQLite changed it");
    }
    // PostgreSQL's identity sequences moved past the imported ids.
    let ws = workspace(&pg.store, "New on postgres").await;
    assert_eq!(ws.id, 3);
}
