//! The state tree's S3 backend against the emulator: the conditional writes
//! the lock is built on, the lock race, and a shared journal read from a second
//! "machine" (another journal file, the same bucket).

use std::sync::Arc;
use std::time::Duration;

use common::AwsContext;
use common::journal::{Journal, JournalContext};
use common::state::{self, Acquired, Cond, LockRequest, Root, Store, Write};
use serde_json::json;
use testkit::fault_proxy::{Config, Fault, FaultProxy};

async fn aws(emu: &testkit::EmulatorGuard) -> AwsContext {
    let config = testkit::sdk::load_config(emu).await;
    testkit::sdk::create_bucket(&testkit::sdk::s3_client(&config), "ltc-state").await;
    AwsContext {
        config,
        endpoint_overridden: true,
    }
}

/// The contract the run lock is built on, the same on a folder and on S3:
/// create only when absent, replace and delete only with the current tag.
/// `stale` is a tag in the backend's own form (S3's ETags are quoted).
#[allow(clippy::unwrap_used)] // a test helper: a failed call should panic
fn conditional_writes(s: &Store, key: &str, stale: &str) {
    let Write::Done(t1) = s.put(key, b"1", Cond::Absent).unwrap() else {
        panic!("create {key}")
    };
    assert_eq!(s.put(key, b"2", Cond::Absent).unwrap(), Write::Conflict);
    let stale = Cond::Match(stale.into());
    assert_eq!(s.put(key, b"2", stale).unwrap(), Write::Conflict);
    let Write::Done(t2) = s.put(key, b"2", Cond::Match(t1.clone())).unwrap() else {
        panic!("replace {key} with the right tag")
    };
    assert_eq!(s.get(key).unwrap().unwrap().body, b"2");
    assert_eq!(s.delete(key, Some(&t1)).unwrap(), Write::Conflict);
    assert!(matches!(s.delete(key, Some(&t2)).unwrap(), Write::Done(_)));
    assert!(s.get(key).unwrap().is_none());
}

/// Eight operators at once: one holds the lock, seven are refused (exit 8)
/// naming the holder, and the lock is free after.
#[allow(clippy::unwrap_used)] // a test helper: a failed call should panic
fn eight_operators_race(s: &Store) {
    let barrier = Arc::new(std::sync::Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let s = s.clone();
            let b = barrier.clone();
            std::thread::spawn(move || {
                b.wait();
                let r = LockRequest {
                    holder: format!("op{i}"),
                    command: "dns-shift shift".into(),
                    run_id: Some(format!("run-{i}")),
                    lease: Duration::from_secs(60),
                };
                match state::acquire(&s, &r) {
                    Ok(Acquired::Held(g)) => {
                        std::thread::sleep(Duration::from_millis(300));
                        drop(g);
                        Ok(true)
                    }
                    Ok(Acquired::WithinRun(_)) => Ok(false),
                    Err(e) => Err((e.exit_code(), e.to_string())),
                }
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let won = results.iter().filter(|r| matches!(r, Ok(true))).count();
    let refused: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(won, 1, "{results:?}");
    assert_eq!(refused.len(), 7, "{results:?}");
    assert!(
        refused
            .iter()
            .all(|(code, msg)| *code == 8 && msg.contains("is locked: op"))
    );
    assert!(state::lock_status(s).unwrap().is_none(), "released");
}

#[test]
fn conditional_writes_hold_on_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(Root::Local(dir.path().to_path_buf()), "prod", None).unwrap();
    conditional_writes(&s, "a/b.json", "stale");
}

#[test]
fn eight_racing_operators_one_winner_on_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(Root::Local(dir.path().to_path_buf()), "prod", None).unwrap();
    eight_operators_race(&s);
}

fn root() -> Root {
    Root::parse("s3://ltc-state/team").expect("a valid root")
}

#[tokio::test]
async fn s3_conditional_writes_lock_race_and_shared_journal() {
    let emu = testkit::Emulator::shared();
    let aws = aws(&emu).await;
    let store = Store::open(root(), "prod", Some(&aws)).unwrap();
    assert!(store.is_shared());
    assert_eq!(
        store.location("lock.json"),
        "s3://ltc-state/team/prod/lock.json"
    );

    // Blocking API: run it off the async runtime as a command would from sync code.
    let s = store.clone();
    tokio::task::spawn_blocking(move || {
        conditional_writes(&s, "x.json", "\"stale\"");

        eight_operators_race(&s);
    })
    .await
    .unwrap();

    // Machine A journals a change; machine B (another local file) reads it.
    let dir = tempfile::tempdir().unwrap();
    let jctx = |who: &str| JournalContext {
        binary: "dns-shift".into(),
        actor: Some(who.into()),
        ..Default::default()
    };
    let a = Journal::new(dir.path().join("a.jsonl"), jctx("alice")).with_store(store.clone());
    let b = Journal::new(dir.path().join("b.jsonl"), jctx("bob")).with_store(store.clone());
    a.intent("dns.set-weights", "zone/www", json!({"blue": 100}))
        .unwrap()
        .ok(json!({"blue": 0}))
        .unwrap();
    let seen = b.last_change("dns.", "zone/www").unwrap().unwrap();
    assert_eq!(seen.intent.actor.as_deref(), Some("alice"));
    assert_eq!(seen.intent.before, json!({"blue": 100}));
    assert!(seen.outcome.is_some());
    assert!(!dir.path().join("b.jsonl").exists(), "B wrote nothing");
    assert_eq!(store.list("journal/").unwrap().len(), 2);
}

#[tokio::test]
async fn unwritable_shared_journal_refuses_the_intent() {
    let emu = testkit::Emulator::shared();
    let aws = aws(&emu).await;
    // A bucket that does not exist: the intent cannot be shared.
    let store = Store::open(
        Root::parse("s3://no-such-bucket/x").unwrap(),
        "prod",
        Some(&aws),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::new(dir.path().join("j.jsonl"), JournalContext::default()).with_store(store);
    let e = tokio::task::spawn_blocking(move || j.intent("x", "t", json!(1)).map(|_| ()))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(e.exit_code(), 3);
    assert!(e.to_string().contains("nothing was changed"), "{e}");
    assert!(
        !dir.path().join("j.jsonl").exists(),
        "no local intent either"
    );
}

/// The state client for `endpoint` (the fault proxy), the SDK's retries as shipped.
fn aws_through(aws: &AwsContext, endpoint: &str) -> AwsContext {
    AwsContext {
        config: aws.config.to_builder().endpoint_url(endpoint).build(),
        endpoint_overridden: true,
    }
}

async fn lossy_proxy(emu: &testkit::EmulatorGuard, max_faults: Option<u64>) -> FaultProxy {
    let upstream = std::net::SocketAddr::from(([127, 0, 0, 1], emu.port()));
    let config = Config {
        fault_rate: 1.0,
        faults: vec![Fault::LostResponse],
        only_mutating: true,
        max_faults,
        ..Config::default()
    };
    FaultProxy::start(upstream, "127.0.0.1:0".parse().expect("an address"), config)
        .await
        .expect("start the proxy")
}

fn lock_req() -> LockRequest {
    LockRequest {
        holder: "alice".into(),
        command: "deploy.sh".into(),
        run_id: None,
        lease: Duration::from_secs(60),
    }
}

/// The lock's PutObject reached S3 but its answer was lost: the SDK's retry
/// meets our own lock (412). That is our lock, not someone else's.
#[tokio::test(flavor = "multi_thread")]
async fn lost_answer_to_the_lock_write_is_still_our_lock() {
    let emu = testkit::Emulator::shared();
    let aws = aws(&emu).await;
    let proxy = lossy_proxy(&emu, Some(1)).await;
    let store = Store::open(root(), "lost-once", Some(&aws_through(&aws, &proxy.url()))).unwrap();
    let direct = Store::open(root(), "lost-once", Some(&aws)).unwrap();
    let got =
        tokio::task::spawn_blocking(move || state::acquire(&store, &lock_req()).map(drop_kind))
            .await
            .unwrap();
    assert_eq!(got.unwrap(), "held");
    assert_eq!(proxy.stats().faults.get("lost_response"), Some(&1));
    // Released on drop: nothing left behind to block the next operator.
    let left =
        tokio::task::spawn_blocking(move || state::lock_status(&direct).map(|l| l.is_none()))
            .await
            .unwrap();
    assert!(left.unwrap(), "the lock was released");
}

/// Every answer to the lock's writes lost (the SDK gives up): the lock is read
/// back, found to be ours, and held, instead of an error that leaves an orphan
/// lock blocking everyone for a lease.
#[tokio::test(flavor = "multi_thread")]
async fn lock_write_whose_answers_are_all_lost_is_read_back() {
    let emu = testkit::Emulator::shared();
    let aws = aws(&emu).await;
    let proxy = lossy_proxy(&emu, Some(3)).await;
    let store = Store::open(root(), "lost-all", Some(&aws_through(&aws, &proxy.url()))).unwrap();
    let direct = Store::open(root(), "lost-all", Some(&aws)).unwrap();
    let check = direct.clone();
    let holder = tokio::task::spawn_blocking(move || {
        let got = state::acquire(&store, &lock_req())?;
        let Acquired::Held(g) = got else {
            return Ok(None);
        };
        // While held, the lock in S3 is this guard's.
        let seen = state::lock_status(&check)?.map(|(i, _)| i.lock_id);
        Ok::<_, common::Error>(Some((g.info().lock_id.clone(), seen)))
    })
    .await
    .unwrap()
    .unwrap();
    let (ours, seen) = holder.expect("held");
    assert_eq!(seen.as_deref(), Some(ours.as_str()));
    assert_eq!(proxy.stats().faults.get("lost_response"), Some(&3));
    let left =
        tokio::task::spawn_blocking(move || state::lock_status(&direct).map(|l| l.is_none()))
            .await
            .unwrap();
    assert!(left.unwrap(), "released after use");
}

fn drop_kind(a: Acquired) -> &'static str {
    match a {
        Acquired::Held(_) => "held",
        Acquired::WithinRun(_) => "within-run",
    }
}

/// The shared journal is read with many reads in flight; the answers come back
/// in the order asked, and a missing key reads as None.
#[tokio::test(flavor = "multi_thread")]
async fn many_reads_come_back_in_order() {
    let emu = testkit::Emulator::shared();
    let aws = aws(&emu).await;
    let store = Store::open(root(), "many", Some(&aws)).unwrap();
    let got = tokio::task::spawn_blocking(move || {
        let mut keys = Vec::new();
        for i in 0..40 {
            let key = format!("journal/{i:03}.json");
            store.put(&key, format!("{i}").as_bytes(), Cond::Absent)?;
            keys.push(key);
        }
        keys.insert(7, "journal/missing.json".into());
        let objects = store.get_many(&keys)?;
        Ok::<_, common::Error>(
            objects
                .into_iter()
                .map(|o| o.map(|o| String::from_utf8_lossy(&o.body).into_owned()))
                .collect::<Vec<_>>(),
        )
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(got.len(), 41);
    assert_eq!(got[7], None);
    let bodies: Vec<String> = got.into_iter().flatten().collect();
    let want: Vec<String> = (0..40).map(|i| i.to_string()).collect();
    assert_eq!(bodies, want);
}

/// A shared journal entry whose PutObject answer is lost: the SDK's retry meets
/// the entry (412) or every answer is lost; either way it is our own write and
/// the intent stands (found by `scripts/rehearse --faults 0.1`).
#[tokio::test(flavor = "multi_thread")]
async fn lost_answer_to_a_journal_write_is_our_own_entry() {
    let emu = testkit::Emulator::shared();
    let aws = aws(&emu).await;
    for (env, lost) in [("journal-lost-once", 1), ("journal-lost-all", 3)] {
        let proxy = lossy_proxy(&emu, Some(lost)).await;
        let store = Store::open(root(), env, Some(&aws_through(&aws, &proxy.url()))).unwrap();
        let direct = Store::open(root(), env, Some(&aws)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let j =
            Journal::new(dir.path().join("j.jsonl"), JournalContext::default()).with_store(store);
        let written = tokio::task::spawn_blocking(move || {
            j.intent("x.change", "t", json!({"a": 1}))
                .and_then(|c| c.ok(json!({"a": 2})))
        })
        .await
        .unwrap();
        assert!(written.is_ok(), "{env}: {written:?}");
        assert_eq!(
            proxy.stats().faults.get("lost_response"),
            Some(&lost),
            "{env}"
        );
        let keys = tokio::task::spawn_blocking(move || direct.list("journal/"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            keys.len(),
            2,
            "{env}: intent and outcome once each: {keys:?}"
        );
    }
}
