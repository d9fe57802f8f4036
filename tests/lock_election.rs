//! Leader election: campaign, lead, resign, and observe the leader. Two
//! candidate processes campaign for one key; the leader is stopped
//! (SIGSTOP) past its ttl, the other takes over with a higher term, and an
//! observer sees every change of leader in order.
#![allow(unsafe_code)] // SIGSTOP, SIGCONT and SIGKILL of child processes (libc::kill)

mod lock_util;

use std::time::Duration;

use futures::StreamExt;
use lock::{Leader, LockingError, Reason};
use lock_util::{Env, HOLD};
use model::{DateTime, Model};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

const CHILD_DB: &str = "LOCK_ELECTION_CHILD_DB";

/// A candidate's lease: seconds, so the test server's stalls do not end
/// a term the test means to keep.
const TTL: Duration = Duration::from_secs(2);

/// What a leader writes under its term.
#[derive(Debug, Clone, Model, Serialize, Deserialize)]
#[model(collection = "schedules", key = id)]
struct Schedule {
    #[serde(rename = "_id")]
    id: String,
    by: i64,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

/// Writes `by` under `held`'s lease.
async fn write(env: &Env, held: &impl lock::Held, by: i64) -> lock::Result<()> {
    let schedules = env.conn.repo::<Schedule>();
    env.locks
        .fenced(held, &schedules, move |s, schedules| {
            Box::pin(async move {
                let daily = Schedule::ID.eq("daily".to_string());
                schedules.upsert(daily, Schedule::BY.set(by)).session(s).await.map(|_| ())
            })
        })
        .await
}

/// A former holder: its key and owner.
struct Former {
    owner: String,
}

impl lock::Held for Former {
    fn key(&self) -> &str {
        "scheduler"
    }
    fn owner(&self) -> &str {
        &self.owner
    }
}

/// The next item of `observer` within 30 s.
async fn next(
    observer: &mut futures::stream::BoxStream<'static, lock::Result<Option<Leader>>>,
) -> Option<Leader> {
    let item = tokio::time::timeout(Duration::from_secs(30), observer.next()).await;
    item.expect("no change of leader within 30 s").expect("the observer ended").unwrap()
}

#[tokio::test]
async fn a_campaign_leads_resigns_hands_over_and_is_observed() {
    let env = Env::new().await;
    let other = env.peer().await;
    let mut observer = env.locks.observe("scheduler");
    assert_eq!(next(&mut observer).await, None, "nobody leads yet");

    let first = env.locks.campaign("scheduler").ttl(HOLD).await.unwrap();
    let seen = next(&mut observer).await.expect("a leader");
    assert_eq!((seen.owner.as_str(), seen.term), (lock::Held::owner(&first), first.term()));
    assert_eq!(env.locks.leader("scheduler").await.unwrap(), Some(seen.clone()));
    assert!(first.is_leader());

    // A second candidate waits; a campaign with a timeout gives up.
    let timed_out = other.locks.campaign("scheduler").timeout(Duration::from_millis(300)).await;
    assert!(
        matches!(timed_out, Err(LockingError::Lock { reason: Reason::TimedOut, .. })),
        "{timed_out:?}"
    );
    let waiting = {
        let locks = other.locks.clone();
        tokio::spawn(async move { locks.campaign("scheduler").ttl(HOLD).await })
    };

    // The leader's fenced writes carry its term; a resigned leader's are refused.
    write(&env, &first, first.term()).await.unwrap();
    let first_term = first.term();
    let resigned = Former { owner: lock::Held::owner(&first).to_string() };
    first.resign().await.unwrap();

    let second = waiting.await.unwrap().unwrap();
    assert!(second.term() > first_term, "{} after {first_term}", second.term());
    let refused = write(&env, &resigned, first_term).await.unwrap_err();
    assert!(matches!(refused, LockingError::Fenced { reason: Reason::Lost, .. }), "{refused:?}");
    write(&other, &second, second.term()).await.unwrap();
    let stored = env.conn.repo::<Schedule>().find(&"daily".to_string()).await.unwrap();
    assert_eq!(stored.by, second.term());

    // The observer saw the resignation (or not, if the hand-over came
    // first) and the new term, in order.
    let mut seen = next(&mut observer).await;
    if seen.is_none() {
        seen = next(&mut observer).await;
    }
    assert_eq!(seen.map(|l| l.term), Some(second.term()));
    drop(second);
    assert_eq!(next(&mut observer).await, None, "a dropped leadership resigns");
}

/// A candidate process: campaigns, says when it leads (`LEADING term
/// owner`) and when it lost leadership (`LOST term`, then campaigns
/// again); resigns and ends at the line `resign`.
async fn candidate(uri: &str, db: &str) {
    let env = Env::on(uri, db).await;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        let leadership = env.locks.campaign("scheduler").ttl(TTL).await.unwrap();
        println!("LEADING {} {}", leadership.term(), lock::Held::owner(&leadership));
        tokio::select! {
            _ = leadership.signal().cancelled() => println!("LOST {}", leadership.term()),
            _ = lines.next_line() => {
                leadership.resign().await.unwrap();
                println!("RESIGNED");
                return;
            }
        }
    }
}

/// A candidate process and its stdin and stdout.
struct Candidate {
    child: Child,
    stdin: ChildStdin,
    lines: tokio::io::Lines<BufReader<ChildStdout>>,
}

impl Candidate {
    fn start(env: &Env) -> Candidate {
        let test = "two_processes_campaign_and_one_leads_at_a_time_through_a_stopped_leader";
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", test, "--nocapture"])
            .env(CHILD_DB, &env.db)
            .env("MONGODB_URI", &env.uri)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Candidate { child, stdin, lines }
    }

    fn pid(&self) -> libc::pid_t {
        self.child.id().unwrap() as libc::pid_t
    }

    /// The candidate's next line of its own (not the test harness's).
    async fn said(&mut self) -> String {
        let read = async {
            loop {
                let line = self.lines.next_line().await.unwrap().expect("the candidate ended");
                if ["LEADING", "LOST", "RESIGNED"].iter().any(|w| line.starts_with(w)) {
                    return line;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), read).await.expect("the candidate is silent")
    }

    /// The term and owner of a `LEADING` line.
    async fn leads(&mut self) -> (i64, String) {
        let line = self.said().await;
        let mut words = line.split(' ');
        assert_eq!(words.next(), Some("LEADING"), "{line}");
        (words.next().unwrap().parse().unwrap(), words.next().unwrap().to_string())
    }

    async fn resign(&mut self) {
        self.stdin.write_all(b"resign\n").await.unwrap();
        self.stdin.flush().await.unwrap();
        assert_eq!(self.said().await, "RESIGNED");
        assert!(self.child.wait().await.unwrap().success());
    }
}

#[tokio::test]
async fn two_processes_campaign_and_one_leads_at_a_time_through_a_stopped_leader() {
    if let Ok(db) = std::env::var(CHILD_DB) {
        candidate(&std::env::var("MONGODB_URI").unwrap(), &db).await;
        return;
    }
    let env = Env::new().await;
    let mut observer = env.locks.observe("scheduler");
    assert_eq!(next(&mut observer).await, None);
    let mut seen = Vec::new();
    let mut a = Candidate::start(&env);
    let (a_term, a_owner) = a.leads().await;
    let mut b = Candidate::start(&env);
    // B campaigns while A leads: it waits.
    tokio::time::sleep(Duration::from_secs(1)).await;

    // A stops past its ttl: its heartbeat cannot extend its lease.
    assert_eq!(unsafe { libc::kill(a.pid(), libc::SIGSTOP) }, 0);
    tokio::time::sleep(TTL / 4).await;
    let a_lease = env.lease_doc("scheduler").await.unwrap();
    let a_ends = a_lease.get_datetime("expires_at").unwrap().timestamp_millis();
    let (b_term, b_owner) = b.leads().await;
    assert!(b_term > a_term, "terms increase: {a_term}, then {b_term}");
    let b_lease = env.lease_doc("scheduler").await.unwrap();
    let b_began = b_lease.get_datetime("created_at").unwrap().timestamp_millis();
    assert!(b_began >= a_ends, "B leads from {b_began}, before A's lease ended at {a_ends}");

    // A resumes, learns it lost, and campaigns again behind B.
    assert_eq!(unsafe { libc::kill(a.pid(), libc::SIGCONT) }, 0);
    assert_eq!(a.said().await, format!("LOST {a_term}"));
    b.resign().await;
    let (a_again, a_owner_again) = a.leads().await;
    assert!(a_again > b_term, "terms increase: {b_term}, then {a_again}");
    a.resign().await;

    // The observer saw each leader in order, each term once.
    loop {
        match next(&mut observer).await {
            Some(leader) => seen.push((leader.term, leader.owner)),
            None if seen.len() == 3 => break,
            None => {}
        }
    }
    let expected = [(a_term, a_owner), (b_term, b_owner), (a_again, a_owner_again)];
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn a_polling_observer_sees_the_leader_its_expiry_and_the_next_term() {
    let env = Env::new().await;
    let mut observer = env.locks.clone().polling().observe("scheduler");
    assert_eq!(next(&mut observer).await, None);
    // A lease left to expire: the observer reads at the leader's expiry.
    let lease = env.locks.try_lock("scheduler", Duration::from_secs(1)).await.unwrap().unwrap();
    assert_eq!(next(&mut observer).await.map(|l| l.term), Some(lease.token()));
    assert_eq!(next(&mut observer).await, None, "expired by the server's clock");
    let leadership = env.locks.campaign("scheduler").ttl(HOLD).await.unwrap();
    assert_eq!(next(&mut observer).await.map(|l| l.term), Some(leadership.term()));
    assert!(leadership.term() > lease.token());
    leadership.resign().await.unwrap();
    assert_eq!(next(&mut observer).await, None);
}
