//! Versioned data migrations across OS processes: four runners started at
//! once apply each step exactly once; a runner killed mid-step leaves a
//! crash state the next run refuses until resolved; a runner stopped past
//! its lease cannot record its step once another runner has taken over.
#![allow(unsafe_code)] // SIGSTOP, SIGCONT and SIGKILL of child processes (libc::kill)

use std::process::Stdio;
use std::time::Duration;

use bson::{Document, doc};
use model::Connection;
use model::migrations::{MigrationError, Migrations, Resolution, StepContext, step};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

const CHILD_DB: &str = "MIGRATIONS_FLEET_CHILD_DB";
const CHILD_ROLE: &str = "MIGRATIONS_FLEET_CHILD_ROLE";

/// The lease of a runner the test kills or stops: short, so that its
/// lease ends within the test.
const SHORT: Duration = Duration::from_secs(2);

/// The lease of every other runner: far past the test server's stalls
/// (its journaled writes stall for over a second on a loaded machine).
const TTL: Duration = Duration::from_secs(30);

async fn effects(conn: &Connection) -> mongodb::Collection<Document> {
    conn.database().await.unwrap().collection("effects")
}

/// Two steps, each recording its side effect once per run of its body.
/// The first takes a while, so the other runners wait on the lease.
fn fleet(conn: &Connection) -> Migrations {
    Migrations::new(conn)
        .ttl(TTL)
        .wait(Duration::from_secs(60))
        .step(step!("001-slow", |cx: StepContext| async move {
            let db = cx.connection().database().await?;
            db.collection::<Document>("effects").insert_one(doc! { "step": "001-slow" }).await?;
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok(())
        }))
        .step(step!("002-fast", |cx: StepContext| async move {
            let db = cx.connection().database().await?;
            db.collection::<Document>("effects").insert_one(doc! { "step": "002-fast" }).await?;
            Ok(())
        }))
}

/// A step that says it started, then waits for a line on stdin (in a
/// child; at once in the test process) before its side effect.
fn paused(conn: &Connection, rerunnable: bool, ttl: Duration) -> Migrations {
    let step = step!("001-paused", |cx: StepContext| async move {
        if std::env::var(CHILD_ROLE).is_ok() {
            println!("IN STEP");
            let mut line = String::new();
            let mut stdin = BufReader::new(tokio::io::stdin());
            stdin.read_line(&mut line).await?;
            // Resumed after a stop past the lease: the heartbeat finds the
            // lease gone and fires the signal; the step stops.
            let fired = tokio::time::timeout(Duration::from_secs(20), cx.signal().cancelled());
            if fired.await.is_ok() {
                println!("SIGNAL FIRED");
                return Ok(());
            }
        }
        let db = cx.connection().database().await?;
        let by = if std::env::var(CHILD_ROLE).is_ok() { "child" } else { "parent" };
        db.collection::<Document>("effects")
            .insert_one(doc! { "step": "001-paused", "by": by })
            .await?;
        Ok(())
    });
    let step = if rerunnable { step.rerunnable() } else { step };
    Migrations::new(conn).ttl(ttl).wait(Duration::from_secs(60)).step(step)
}

/// What a child runs, by role; it prints its outcome.
async fn child(role: &str, uri: &str, db: &str) {
    let conn = Connection::new(uri, db);
    let migrations = match role {
        "fleet" => fleet(&conn),
        "crash" => paused(&conn, false, SHORT),
        "stop" => paused(&conn, true, SHORT),
        other => panic!("unknown role {other}"),
    };
    match migrations.run().await {
        Ok(report) => println!("OK {}", report.applied.join(",")),
        Err(MigrationError::LeaseLost { step }) => println!("LEASE LOST {step}"),
        Err(other) => println!("FAILED {other}"),
    }
}

/// Runs the child role in this test binary, if this process is a child.
async fn as_child() -> bool {
    let (Ok(role), Ok(db)) = (std::env::var(CHILD_ROLE), std::env::var(CHILD_DB)) else {
        return false;
    };
    child(&role, &std::env::var("MONGODB_URI").unwrap(), &db).await;
    true
}

struct Runner {
    child: Child,
    stdin: ChildStdin,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Runner {
    fn spawn(test: &str, role: &str, db: &testkit::TestDb) -> Runner {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", test, "--nocapture"])
            .env(CHILD_ROLE, role)
            .env(CHILD_DB, &db.name)
            .env("MONGODB_URI", &db.uri)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Runner { child, stdin, lines }
    }

    fn pid(&self) -> libc::pid_t {
        self.child.id().unwrap() as libc::pid_t
    }

    /// The child's next line that reports something, within 60 s.
    async fn report(&mut self) -> String {
        let next = async {
            loop {
                let line = self.lines.next_line().await.unwrap().expect("the child ended early");
                if ["IN STEP", "SIGNAL FIRED", "OK", "LEASE LOST", "FAILED"]
                    .iter()
                    .any(|w| line.starts_with(w))
                {
                    return line;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(60), next).await.expect("a report within 60 s")
    }

    async fn say(&mut self, line: &str) {
        self.stdin.write_all(format!("{line}\n").as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    async fn signal(&self, signal: libc::c_int) {
        // SAFETY: sending a signal to our own child process.
        assert_eq!(unsafe { libc::kill(self.pid(), signal) }, 0);
    }
}

async fn count(conn: &Connection, filter: Document) -> u64 {
    effects(conn).await.count_documents(filter).await.unwrap()
}

async fn applied_records(conn: &Connection, step: &str) -> u64 {
    let db = conn.database().await.unwrap();
    let history = db.collection::<Document>("migrations_history");
    history.count_documents(doc! { "step": step, "event": "applied" }).await.unwrap()
}

#[tokio::test]
async fn four_processes_started_at_once_apply_each_step_exactly_once() {
    const TEST: &str = "four_processes_started_at_once_apply_each_step_exactly_once";
    if as_child().await {
        return;
    }
    let db = testkit::database().await;
    let mut runners: Vec<Runner> = (0..4).map(|_| Runner::spawn(TEST, "fleet", &db)).collect();
    let mut reports = Vec::new();
    for runner in &mut runners {
        reports.push(runner.report().await);
    }
    for runner in &mut runners {
        assert!(runner.child.wait().await.unwrap().success());
    }
    assert!(reports.iter().all(|r| r.starts_with("OK")), "{reports:?}");
    let applying: Vec<_> = reports.iter().filter(|r| r.as_str() != "OK ").collect();
    assert_eq!(applying, ["OK 001-slow,002-fast"], "one runner applied both: {reports:?}");
    let conn = Connection::new(&db.uri, &db.name);
    assert_eq!(count(&conn, doc! { "step": "001-slow" }).await, 1, "the slow step ran once");
    assert_eq!(count(&conn, doc! { "step": "002-fast" }).await, 1, "the fast step ran once");
    assert_eq!(applied_records(&conn, "001-slow").await, 1);
}

#[tokio::test]
async fn a_runner_killed_mid_step_leaves_a_crash_state_until_it_is_resolved() {
    const TEST: &str = "a_runner_killed_mid_step_leaves_a_crash_state_until_it_is_resolved";
    if as_child().await {
        return;
    }
    let db = testkit::database().await;
    let conn = Connection::new(&db.uri, &db.name);
    let mut runner = Runner::spawn(TEST, "crash", &db);
    assert_eq!(runner.report().await, "IN STEP");
    runner.signal(libc::SIGKILL).await;
    assert!(!runner.child.wait().await.unwrap().success());

    // The next run waits out the dead runner's lease, then refuses.
    let refused = paused(&conn, false, TTL).run().await.unwrap_err();
    match &refused {
        MigrationError::Crashed { step, state, .. } => {
            assert_eq!((step.as_str(), state.as_str()), ("001-paused", "applying"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(count(&conn, doc! {}).await, 0, "nothing ran");
    // A re-runnable step runs again.
    let rerun = paused(&conn, true, TTL).run().await.unwrap();
    assert_eq!(rerun.applied, ["001-paused"]);
    assert_eq!(count(&conn, doc! { "by": "parent" }).await, 1);

    // Non-rerunnable: resolved by hand, then the run goes on.
    let db2 = testkit::database().await;
    let conn2 = Connection::new(&db2.uri, &db2.name);
    let mut runner = Runner::spawn(TEST, "crash", &db2);
    assert_eq!(runner.report().await, "IN STEP");
    runner.signal(libc::SIGKILL).await;
    runner.child.wait().await.unwrap();
    assert!(matches!(paused(&conn2, false, TTL).run().await, Err(MigrationError::Crashed { .. })));
    paused(&conn2, false, TTL).resolve("001-paused", Resolution::Retry).await.unwrap();
    let report = paused(&conn2, false, TTL).run().await.unwrap();
    assert_eq!(report.applied, ["001-paused"]);
    assert_eq!(count(&conn2, doc! { "by": "parent" }).await, 1);
}

#[tokio::test]
async fn a_runner_stopped_past_its_lease_cannot_record_its_step() {
    const TEST: &str = "a_runner_stopped_past_its_lease_cannot_record_its_step";
    if as_child().await {
        return;
    }
    let db = testkit::database().await;
    let conn = Connection::new(&db.uri, &db.name);
    let mut stopped = Runner::spawn(TEST, "stop", &db);
    assert_eq!(stopped.report().await, "IN STEP");
    stopped.signal(libc::SIGSTOP).await;
    tokio::time::sleep(SHORT * 3).await;

    // Another runner takes over and applies the (re-runnable) step.
    let report = paused(&conn, true, TTL).run().await.unwrap();
    assert_eq!(report.applied, ["001-paused"]);

    // The stopped runner resumes: its signal fired, and it cannot record.
    stopped.signal(libc::SIGCONT).await;
    stopped.say("go").await;
    assert_eq!(stopped.report().await, "SIGNAL FIRED");
    assert_eq!(stopped.report().await, "LEASE LOST 001-paused");
    assert!(stopped.child.wait().await.unwrap().success());
    assert_eq!(applied_records(&conn, "001-paused").await, 1, "one applied record");
    assert_eq!(
        count(&conn, doc! {}).await,
        1,
        "the step's effect once, by the runner that took over"
    );
    let db_handle = conn.database().await.unwrap();
    let record = db_handle
        .collection::<Document>("migrations")
        .find_one(doc! { "_id": "001-paused" })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.get_str("state").unwrap(), "applied");
}
