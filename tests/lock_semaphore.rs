//! Counting semaphores: a key with N permits admits at most N holders at
//! once, judged by the server's clock, through crashed holders and expired
//! leases; each holder has its own lease, signal and fencing token.

mod lock_util;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bson::{Document, doc};
use lock::{LockingError, Reason};
use lock_util::{Env, HOLD};

/// How many holders of `key` have a live lease by the server's clock now.
async fn live_holders(env: &Env, key: &str) -> usize {
    let pipeline = [
        doc! { "$match": { "_id": key } },
        doc! { "$project": { "live": { "$size": { "$filter": {
            "input": "$holders",
            "cond": { "$gt": [{ "$toLong": "$$this.expires_at" }, { "$toLong": "$$NOW" }] },
        } } } } },
    ];
    use futures::TryStreamExt;
    let docs: Vec<Document> =
        env.raw("lock_semaphores").aggregate(pipeline).await.unwrap().try_collect().await.unwrap();
    docs.first().map_or(0, |d| d.get_i32("live").map(|n| n as usize).unwrap_or(0))
}

#[tokio::test]
async fn three_permits_admit_three_holders_each_with_its_own_token() {
    let env = Env::new().await;
    let other = env.peer().await;
    let mut leases = Vec::new();
    for _ in 0..3 {
        leases.push(env.locks.try_lock_permits("pool", 3, HOLD).await.unwrap().expect("a permit"));
    }
    let first = leases[0].token();
    assert_eq!(leases.iter().map(|l| l.token()).collect::<Vec<_>>(), [first, first + 1, first + 2]);
    assert!(other.locks.try_lock_permits("pool", 3, HOLD).await.unwrap().is_none(), "a fourth");
    assert_eq!(live_holders(&env, "pool").await, 3);

    // Each extends and releases its own permit only.
    let second = env.locks.extend(&leases[1], HOLD).await.unwrap();
    assert_eq!(second.extensions(), 1);
    env.locks.release(&leases[0]).await.unwrap();
    let again = env.locks.release(&leases[0]).await;
    assert!(matches!(again, Err(LockingError::Unlock { reason: Reason::Lost, .. })), "{again:?}");
    let fourth = other.locks.try_lock_permits("pool", 3, HOLD).await.unwrap().expect("freed");
    assert_eq!(fourth.token(), first + 3);

    // An expired holder is dropped by the next acquisition, and cannot extend.
    let short = env.locks.try_lock_permits("cache", 2, Duration::from_millis(50)).await;
    let short = short.unwrap().unwrap();
    let kept = env.locks.try_lock_permits("cache", 2, HOLD).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let taken = other.locks.try_lock_permits("cache", 2, HOLD).await.unwrap();
    let expected = short.token() + 2;
    assert_eq!(taken.map(|l| l.token()), Some(expected), "the expired permit was free again");
    let extended = env.locks.extend(&short, HOLD).await;
    assert!(matches!(extended, Err(LockingError::Relock { reason: Reason::Lost, .. })));
    assert!(env.locks.extend(&kept, HOLD).await.is_ok());
    // Zero permits, or too many, are refused before anything is sent.
    for permits in [0, lock::MAX_PERMITS + 1] {
        let refused = env.locks.try_lock_permits("pool", permits, HOLD).await;
        assert!(matches!(refused, Err(LockingError::InvalidArgument { .. })), "{refused:?}");
    }
}

#[tokio::test]
async fn n_plus_k_contenders_never_exceed_n_holders_through_crashes_and_expiries() {
    const PERMITS: usize = 3;
    const CONTENDERS: usize = 7;
    // Short: the crashed holders' permits are freed only by their expiry.
    // Not shorter: a stall of the test server while a closure runs must not
    // expire a live holder's permit.
    const TTL: Duration = Duration::from_secs(1);
    let env = Arc::new(Env::new().await);
    // The key's document made first, alone: SecantusDB answers concurrent
    // upserts that create one document with a stale copy (two of seven
    // callers were granted a permit and told they were not), where mongod
    // retries the losing insert as an update and answers it right.
    let first = env.locks.try_lock_permits("pool", PERMITS as u32, TTL).await.unwrap().unwrap();
    env.locks.release(&first).await.unwrap();
    let inside = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let server_most = Arc::new(AtomicUsize::new(0));
    let tokens = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for contender in 0..CONTENDERS {
        let peer = env.peer().await;
        let (env, inside, most, server_most, tokens) =
            (env.clone(), inside.clone(), most.clone(), server_most.clone(), tokens.clone());
        tasks.push(tokio::spawn(async move {
            for round in 0..4 {
                if (contender + round) % 5 == 0 {
                    // A crashed holder: takes a permit and is never heard of
                    // again; only its expiry frees the permit.
                    let lease = peer
                        .locks
                        .acquire_permits("pool", PERMITS as u32, TTL, Duration::from_secs(20))
                        .await
                        .unwrap();
                    tokens.lock().unwrap().push(lease.token());
                    continue;
                }
                let (inside, most, server_most) = (&inside, &most, &server_most);
                let (env, tokens) = (&env, &tokens);
                peer.locks
                    .lock("pool", |signal| async move {
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        tokens.lock().unwrap().push(signal.token());
                        let live = live_holders(env, "pool").await;
                        server_most.fetch_max(live, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        inside.fetch_sub(1, Ordering::SeqCst);
                    })
                    .permits(PERMITS as u32)
                    .ttl(TTL)
                    .wait(Duration::from_secs(20))
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let most = most.load(Ordering::SeqCst);
    let server_most = server_most.load(Ordering::SeqCst);
    assert!(most <= PERMITS, "{most} closures ran at once");
    assert!(server_most <= PERMITS, "the server saw {server_most} live holders");
    assert!(server_most >= 2, "the permits were shared, not taken in turn: {server_most}");
    let mut tokens = tokens.lock().unwrap().clone();
    tokens.sort();
    let n = tokens.len() as i64;
    let after = first.token() + 1;
    assert_eq!(
        tokens,
        (after..after + n).collect::<Vec<_>>(),
        "one token per holder, none repeated"
    );
    assert_eq!(n, (CONTENDERS * 4) as i64);
}

#[tokio::test]
async fn a_holder_of_a_permit_writes_fenced_by_its_own_lease() {
    let env = Env::new().await;
    let lease = env.locks.try_lock_permits("pool", 2, Duration::from_millis(100)).await;
    let lease = lease.unwrap().unwrap();
    // Through the lock's own client: a session belongs to one.
    let noted = env.conn.database().await.unwrap().collection::<Document>("notes");
    let write = |value: &'static str| {
        let noted = noted.clone();
        (noted, value)
    };
    let fenced = env
        .locks
        .fenced(&lease, write("live"), |s, (noted, value)| {
            Box::pin(async move {
                let note = doc! { "_id": 1, "v": *value };
                let inserted = noted.insert_one(note).session(s).await;
                inserted.map_err(|e| model::Error::from_driver("notes", e))?;
                Ok(())
            })
        })
        .await;
    assert!(fenced.is_ok(), "{fenced:?}");
    tokio::time::sleep(Duration::from_millis(150)).await; // the permit expires
    let late = env
        .locks
        .fenced(&lease, write("late"), |s, (noted, value)| {
            Box::pin(async move {
                let note = doc! { "_id": 2, "v": *value };
                let inserted = noted.insert_one(note).session(s).await;
                inserted.map_err(|e| model::Error::from_driver("notes", e))?;
                Ok(())
            })
        })
        .await;
    assert!(matches!(late, Err(LockingError::Fenced { reason: Reason::Lost, .. })), "{late:?}");
    assert_eq!(noted.count_documents(doc! {}).await.unwrap(), 1, "the late note was not kept");
}

/// A holder as anyone can write one through the public `Held` trait.
struct Forged {
    key: &'static str,
    owner: &'static str,
    permits: u32,
}

impl lock::Held for Forged {
    fn key(&self) -> &str {
        self.key
    }
    fn owner(&self) -> &str {
        self.owner
    }
    fn permits(&self) -> u32 {
        self.permits
    }
}

/// Inserts a mark `by` into `marks`, fenced by `held`.
async fn mark(env: &Env, held: &impl lock::Held, by: &str) -> lock::Result<()> {
    let marks = env.conn.database().await.unwrap().collection::<Document>("marks");
    let mark = doc! { "by": by };
    env.locks
        .fenced(held, (marks, mark), |s, (marks, mark)| {
            Box::pin(async move {
                let inserted = marks.insert_one(mark.clone()).session(s).await;
                inserted.map(|_| ()).map_err(|e| model::Error::from_driver("marks", e))
            })
        })
        .await
}

/// An owner is compared as data inside the permit's aggregation
/// expression: an owner that reads like a field path (`$$this.owner`)
/// or a variable matches no permit, so a fenced write under it is refused
/// while another holder's permit is live, and nothing it wrote is kept.
#[tokio::test]
async fn an_owner_that_reads_like_a_field_path_opens_no_fence() {
    let env = Env::new().await;
    let held = env.locks.try_lock_permits("pool", 2, HOLD).await.unwrap().expect("a permit");
    for owner in ["$$this.owner", "$owner", "$$ROOT", "$$this"] {
        let forged = Forged { key: "pool", owner, permits: 2 };
        let written = mark(&env, &forged, "forged").await;
        assert!(
            matches!(written, Err(LockingError::Fenced { reason: Reason::Lost, .. })),
            "{owner}: {written:?}"
        );
    }
    assert_eq!(env.raw("marks").count_documents(doc! {}).await.unwrap(), 0, "nothing kept");
    // The real holder's fence still opens.
    mark(&env, &held, "holder").await.unwrap();
    assert_eq!(env.raw("marks").count_documents(doc! {}).await.unwrap(), 1);
}

/// A semaphore's document deleted by hand (released, or while held) comes
/// back with tokens above every earlier one.
#[tokio::test]
async fn semaphore_tokens_keep_increasing_when_the_document_is_deleted() {
    let env = Env::new().await;
    let delete = async || {
        let filter = doc! { "_id": "pool" };
        assert_eq!(env.raw("lock_semaphores").delete_one(filter).await.unwrap().deleted_count, 1);
    };
    let mut tokens = Vec::new();
    let first = env.locks.try_lock_permits("pool", 2, HOLD).await.unwrap().unwrap();
    tokens.push(first.token());
    env.locks.release(&first).await.unwrap();
    delete().await;
    let held = env.locks.try_lock_permits("pool", 2, HOLD).await.unwrap().unwrap();
    tokens.push(held.token());
    delete().await;
    let next = env.locks.try_lock_permits("pool", 2, HOLD).await.unwrap().unwrap();
    tokens.push(next.token());
    assert!(tokens.windows(2).all(|pair| pair[0] < pair[1]), "{tokens:?}");
}
