//! The worker against a real store: retries, dead letters, panics, lease heartbeats, and many
//! workers on one queue. `pg_` twins need PostgreSQL (see the store's conformance suite).

use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vouch_core::clock::now_ms;
use vouch_store::Store;
use vouch_store::jobs::{self, NewJob};
use vouch_worker::{Permanent, Registry, Worker, WorkerConfig};

vouch_store::both_backends!(
    failing_jobs_retry_then_succeed,
    hopeless_jobs_go_dead,
    permanent_failures_and_panics_do_not_retry_forever,
    heartbeat_keeps_a_long_job_leased,
    many_workers_run_each_job_once,
    outbox_events_are_dispatched,
);

fn config(id: &str) -> WorkerConfig {
    WorkerConfig {
        id: id.into(),
        concurrency: 4,
        poll_interval: Duration::from_millis(20),
        lease: Duration::from_secs(30),
        drain_timeout: Duration::from_secs(10),
    }
}

async fn is_done(store: &Store, id: i64) -> bool {
    store.job(id).await.unwrap().unwrap().status == "done"
}

async fn enqueue(store: &Store, job: NewJob) -> i64 {
    let mut c = store.read().await.unwrap();
    jobs::enqueue(&mut c, &job, now_ms())
        .await
        .unwrap()
        .unwrap()
}

/// Runs workers until `done` says so (or 20 s pass), then stops them.
async fn run_until<F: std::future::Future<Output = bool>>(
    workers: Vec<Worker>,
    done: impl Fn() -> F,
) {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let handles: Vec<_> = workers
        .into_iter()
        .map(|w| tokio::spawn(w.run(rx.clone())))
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done().await && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tx.send(true).unwrap();
    for h in handles {
        h.await.unwrap();
    }
}

async fn failing_jobs_retry_then_succeed(store: Store) {
    let calls = Arc::new(Mutex::new(0));
    let mut r = Registry::empty();
    let c = calls.clone();
    r.register("flaky", move |_s, _j| {
        let c = c.clone();
        async move {
            let mut n = c.lock().unwrap();
            *n += 1;
            if *n < 2 {
                anyhow::bail!("first try fails")
            } else {
                Ok(())
            }
        }
    });
    let id = enqueue(&store, NewJob::new("flaky", json!({}))).await;
    let w = Worker::new(store.clone(), r, config("w"));
    // The first attempt fails; the retry waits ~1 s of backoff, then succeeds.
    run_until(vec![w], || is_done(&store, id)).await;
    let job = store.job(id).await.unwrap().unwrap();
    assert_eq!((job.status.as_str(), job.attempts), ("done", 2));
    assert_eq!(job.last_error.as_deref(), Some("first try fails"));
}

async fn hopeless_jobs_go_dead(store: Store) {
    let mut r = Registry::empty();
    r.register("hopeless", |_s, _j| async { anyhow::bail!("always") });
    let id = enqueue(&store, NewJob::new("hopeless", json!({})).max_attempts(1)).await;
    let w = Worker::new(store.clone(), r, config("w"));
    assert_eq!(w.run_batch().await.unwrap(), 1);
    let job = store.job(id).await.unwrap().unwrap();
    assert_eq!((job.status.as_str(), job.attempts), ("dead", 1));
}

async fn permanent_failures_and_panics_do_not_retry_forever(store: Store) {
    let mut r = Registry::empty();
    r.register("bad-payload", |_s, _j| async {
        Err(Permanent("payload has no key".into()).into())
    });
    r.register("panics", |_s, _j| async { panic!("handler bug") });
    let bad = enqueue(&store, NewJob::new("bad-payload", json!({}))).await;
    let unknown = enqueue(&store, NewJob::new("nobody-handles-this", json!({}))).await;
    let panics = enqueue(&store, NewJob::new("panics", json!({}))).await;
    // A typed job whose payload does not parse cannot succeed on retry either.
    r.handle(|_s, _p: vouch_worker::Probe| async { Ok(()) });
    let malformed = enqueue(
        &store,
        NewJob::new(vouch_worker::PROBE_JOB, json!({ "kee": "typo" })),
    )
    .await;
    let w = Worker::new(store.clone(), r, config("w"));
    assert_eq!(w.run_batch().await.unwrap(), 4);
    let m = store.job(malformed).await.unwrap().unwrap();
    assert_eq!((m.status.as_str(), m.attempts), ("dead", 1));
    assert!(
        m.last_error
            .unwrap()
            .contains("payload of system.probe is not valid")
    );
    let status = |j: vouch_store::rows::Job| (j.status, j.attempts);
    assert_eq!(
        status(store.job(bad).await.unwrap().unwrap()),
        ("dead".into(), 1)
    );
    let u = store.job(unknown).await.unwrap().unwrap();
    assert_eq!(u.status, "dead");
    assert!(u.last_error.unwrap().contains("no handler"));
    // A panic fails the attempt (and is retried), without taking the worker down.
    let p = store.job(panics).await.unwrap().unwrap();
    assert_eq!((p.status.as_str(), p.attempts), ("queued", 1));
    assert!(p.last_error.unwrap().contains("panicked"));
}

async fn heartbeat_keeps_a_long_job_leased(store: Store) {
    let runs = Arc::new(Mutex::new(0));
    let mut r = Registry::empty();
    let c = runs.clone();
    r.register("long", move |_s, _j| {
        let c = c.clone();
        async move {
            *c.lock().unwrap() += 1;
            tokio::time::sleep(Duration::from_millis(1500)).await;
            Ok(())
        }
    });
    let id = enqueue(&store, NewJob::new("long", json!({}))).await;
    // A lease far shorter than the job: only the heartbeat stops the second worker taking it.
    let mut a = config("a");
    a.lease = Duration::from_millis(450);
    let mut b = config("b");
    b.lease = Duration::from_millis(450);
    let registry_b = r.clone();
    run_until(
        vec![
            Worker::new(store.clone(), r, a),
            Worker::new(store.clone(), registry_b, b),
        ],
        || is_done(&store, id),
    )
    .await;
    assert_eq!(*runs.lock().unwrap(), 1, "the job ran once");
    assert_eq!(store.job(id).await.unwrap().unwrap().attempts, 1);
}

async fn many_workers_run_each_job_once(store: Store) {
    let runs: Arc<Mutex<HashMap<i64, u32>>> = Arc::default();
    let running: Arc<Mutex<std::collections::HashSet<i64>>> = Arc::default();
    let mut r = Registry::empty();
    let (rc, rn) = (runs.clone(), running.clone());
    r.register("count", move |_s, j| {
        let (rc, rn) = (rc.clone(), rn.clone());
        async move {
            assert!(
                rn.lock().unwrap().insert(j.id),
                "job {} running twice at once",
                j.id
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
            *rc.lock().unwrap().entry(j.id).or_default() += 1;
            rn.lock().unwrap().remove(&j.id);
            Ok(())
        }
    });
    for i in 0..80 {
        enqueue(&store, NewJob::new("count", json!({ "i": i }))).await;
    }
    let workers = (0..3)
        .map(|i| Worker::new(store.clone(), r.clone(), config(&format!("w{i}"))))
        .collect();
    let rc = runs.clone();
    run_until(workers, || {
        let n = rc.lock().unwrap().len();
        async move { n == 80 }
    })
    .await;
    let runs = runs.lock().unwrap().clone();
    assert_eq!(runs.len(), 80);
    assert!(runs.values().all(|n| *n == 1), "every job ran exactly once");
    let done = store.jobs(Some("done"), 1000).await.unwrap();
    assert_eq!(done.len(), 80);
}

async fn outbox_events_are_dispatched(store: Store) {
    let slug = vouch_core::Slug::parse("shop").unwrap();
    let (ws, _) = vouch_store::commands::create_workspace(
        &store,
        "Shop",
        &slug,
        None,
        &vouch_store::audit::Actor::cli(),
        false,
    )
    .await
    .unwrap();
    let w = Worker::new(store.clone(), Registry::builtin(), config("w"));
    assert_eq!(w.relay_events().await.unwrap(), 1, "workspace.created");
    assert_eq!(w.relay_events().await.unwrap(), 0);
    let mut c = store.read().await.unwrap();
    let events = vouch_store::outbox::list(&mut c, ws.id, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert!(events[0].dispatched_at.is_some());
}
