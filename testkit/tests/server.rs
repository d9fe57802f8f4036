//! The shared server answers and hands out distinct databases; servers die
//! with their handle and with their process; `MONGODB_URI` is used as
//! given; with nothing available the error is immediate and names the fixes.
#![allow(unsafe_code)] // libc::kill(pid, 0): is the server process alive

use bson::doc;

#[tokio::test]
async fn shared_server_answers_and_databases_are_distinct() {
    let a = testkit::database().await;
    let b = testkit::database().await;
    assert_ne!(a.name, b.name);
    let client = mongodb::Client::with_uri_str(&a.uri).await.unwrap();
    let coll = client.database(&a.name).collection::<bson::Document>("c");
    coll.insert_one(doc! { "x": 1 }).await.unwrap();
    let other = client.database(&b.name).collection::<bson::Document>("c");
    assert_eq!(coll.count_documents(doc! {}).await.unwrap(), 1);
    assert_eq!(other.count_documents(doc! {}).await.unwrap(), 0);
}

#[test]
fn dedicated_server_is_killed_on_drop() {
    let kind = testkit::server().kind;
    if kind == testkit::ServerKind::External {
        return; // nothing to start against an external server
    }
    let server = testkit::ServerProcess::start(testkit::ServerOptions::new(kind)).unwrap();
    let pid = server.pid().expect("running") as i32;
    // SAFETY: signal 0 only probes for existence.
    assert_eq!(unsafe { libc::kill(pid, 0) }, 0, "server runs");
    drop(server);
    assert_ne!(unsafe { libc::kill(pid, 0) }, 0, "server is gone after drop");
}

/// Runs this test binary again as a child, in `mode`, with `env` changes,
/// and returns its exit success, stdout and stderr.
fn run_child(mode: &str, env: &[(&str, Option<&str>)]) -> (bool, String, String) {
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command.args(["--ignored", "--exact", "child", "--nocapture", "--test-threads=1"]);
    command.env("TESTKIT_CHILD_MODE", mode);
    for (key, value) in env {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    let output = command.output().unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.success(), text(&output.stdout), text(&output.stderr))
}

/// The child side of the tests below; run by them, not on its own.
#[test]
#[ignore = "run as a child process by the tests in this file"]
fn child() {
    match std::env::var("TESTKIT_CHILD_MODE").as_deref() {
        Ok("resolve") => match testkit::try_server() {
            Ok(server) => println!("KIND={:?} URI={}", server.kind, server.uri),
            Err(error) => println!("ERROR={error}"),
        },
        Ok("pid-then-exit") => {
            let server = testkit::server();
            let pid = server.process().and_then(|p| p.pid()).expect("a started server");
            println!("PID={pid}");
            // Leave without running destructors, as a crashing binary would.
            std::process::exit(0);
        }
        other => panic!("unknown child mode {other:?}"),
    }
}

#[test]
fn with_nothing_available_it_fails_fast_naming_the_three_fixes() {
    let empty = std::env::temp_dir().join(testkit::unique_name("testkit-empty"));
    std::fs::create_dir_all(&empty).unwrap();
    let started = std::time::Instant::now();
    let (_, stdout, _) = run_child(
        "resolve",
        &[
            ("MONGODB_URI", None),
            ("PATH", Some(empty.to_str().unwrap())),
            ("MODEL_TESTKIT_CACHE", Some(empty.to_str().unwrap())),
            ("MODEL_TESTKIT_PYTHON", Some("/nonexistent/python3")),
        ],
    );
    let elapsed = started.elapsed();
    std::fs::remove_dir_all(&empty).unwrap();
    assert!(stdout.contains("ERROR=testkit: no MongoDB server available"), "{stdout}");
    for fix in ["MONGODB_URI", "`mongod` on PATH", "python3"] {
        assert!(stdout.contains(fix), "the message names {fix}: {stdout}");
    }
    assert!(elapsed < std::time::Duration::from_secs(30), "failed fast: {elapsed:?}");
}

#[test]
fn mongodb_uri_is_used_as_given_and_nothing_is_started() {
    let uri = "mongodb://127.0.0.1:1/?directConnection=true";
    let (ok, stdout, _) = run_child("resolve", &[("MONGODB_URI", Some(uri))]);
    assert!(ok);
    assert!(stdout.contains(&format!("KIND=External URI={uri}")), "{stdout}");
}

#[test]
fn the_shared_server_dies_with_its_process_and_the_cache_is_reused() {
    if testkit::server().kind == testkit::ServerKind::External {
        return; // nothing is started against an external server
    }
    // The parent's own server() above installed whatever was needed.
    let (_, stdout, stderr) = run_child("pid-then-exit", &[("MONGODB_URI", None)]);
    assert!(!stderr.contains("installing"), "a warm cache is reused: {stderr}");
    let pid: i32 = stdout
        .split("PID=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {stdout}"));
    // PR_SET_PDEATHSIG delivers SIGKILL when the child process exits.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    // SAFETY: signal 0 only probes for existence.
    while unsafe { libc::kill(pid, 0) } == 0 {
        assert!(std::time::Instant::now() < deadline, "server {pid} outlived its process");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
