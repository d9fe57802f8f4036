//! Finds or starts a MongoDB-protocol server for tests and examples.
//!
//! Resolution order, decided once per process:
//!
//! 1. `MONGODB_URI` is set: use it and start nothing.
//! 2. `mongod` is on `PATH`: start it on a free port with a temporary data
//!    directory as a single-node replica set, so transactions and change
//!    streams work.
//! 3. Otherwise SecantusDB, a MongoDB-wire-compatible server, installed once
//!    from PyPI into a cached virtualenv and started on a free port.
//! 4. None of these works: fail at once with a message naming the three fixes.
//!
//! A server started here never outlives the process that started it: the
//! child gets `PR_SET_PDEATHSIG`, and [`ServerProcess`] kills it on drop.
//!
//! ```no_run
//! # async fn demo() {
//! let db = testkit::database().await;
//! let client = mongodb::Client::with_uri_str(&db.uri).await.unwrap();
//! client.database(&db.name).collection::<bson::Document>("things");
//! # }
//! ```
#![deny(missing_docs)]

mod client;
mod install;
mod process;
mod proxy;
mod spans;
mod wire;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

pub use client::{ClientBuilder, CommandLog, TestClient, admin_client};
pub use process::{ServerKind, ServerOptions, ServerProcess};
/// A fault-injecting TCP proxy in front of a server: lost replies (after
/// the server executed the command), delayed replies and partitions, which
/// the server's `failCommand` fail point cannot produce.
pub use proxy::FaultProxy;
pub use spans::SpanRecorder;

/// Why no server could be provided.
#[derive(Debug, Clone)]
pub struct Error {
    message: String,
}

impl Error {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Error { message: message.into() }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// The process-wide server: its connection string and where it came from.
#[derive(Debug)]
pub struct Server {
    /// A `mongodb://` connection string for the server.
    pub uri: String,
    /// How the server was found or started.
    pub kind: ServerKind,
    process: Option<ServerProcess>,
}

impl Server {
    /// The process that serves it, when this process started one.
    pub fn process(&self) -> Option<&ServerProcess> {
        self.process.as_ref()
    }
}

static SHARED: OnceLock<Result<Server, Error>> = OnceLock::new();

/// The shared server of this process, found or started on first use.
///
/// Blocks while a server starts (the first SecantusDB install takes about
/// half a minute and says so on stderr). Later calls return at once.
pub fn try_server() -> Result<&'static Server, Error> {
    SHARED.get_or_init(resolve).as_ref().map_err(Clone::clone)
}

/// Like [`try_server`], but panics with the explanation when no server can be had.
///
/// # Panics
/// When neither `MONGODB_URI`, `mongod` nor SecantusDB gives a server.
pub fn server() -> &'static Server {
    match try_server() {
        Ok(server) => server,
        Err(error) => panic!("{error}"),
    }
}

fn resolve() -> Result<Server, Error> {
    if let Some(uri) = external_uri() {
        return Ok(Server { uri, kind: ServerKind::External, process: None });
    }
    let mut failures = Vec::new();
    let kinds = if process::mongod_on_path() {
        vec![ServerKind::Mongod, ServerKind::Secantus]
    } else {
        failures.push("`mongod` is not on PATH".to_string());
        vec![ServerKind::Secantus]
    };
    for kind in kinds {
        match ServerProcess::start(ServerOptions::new(kind)) {
            Ok(process) => {
                return Ok(Server { uri: process.uri().to_string(), kind, process: Some(process) });
            }
            Err(error) => failures.push(format!("{kind:?}: {error}")),
        }
    }
    Err(Error::new(format!(
        "testkit: no MongoDB server available ({}).\n\
         Fix one of:\n  \
         1. set MONGODB_URI to a running server (mongodb://host:port);\n  \
         2. put `mongod` on PATH (a single-node replica set is started for you);\n  \
         3. make `python3` with `venv` and `pip` available and PyPI reachable, so SecantusDB can be installed.",
        failures.join("; ")
    )))
}

/// A fresh, uniquely named database on the shared server.
#[derive(Debug, Clone)]
pub struct TestDb {
    /// The server's connection string.
    pub uri: String,
    /// A database name no other test in any process uses.
    pub name: String,
}

/// A fresh database on the shared server, checked to answer `hello`.
///
/// # Panics
/// When no server can be had, or the server does not answer.
pub async fn database() -> TestDb {
    let server = server();
    wait_until_ready(&server.uri).await.unwrap_or_else(|error| panic!("{error}"));
    TestDb { uri: server.uri.clone(), name: unique_name("t") }
}

/// A database name that no other caller in any process gets: `prefix` plus
/// the process id, a counter and random bits (well under the 64-byte limit).
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}_{}_{n}_{}", std::process::id(), &random[..8])
}

/// Waits until the server at `uri` answers `hello` through the driver.
///
/// # Errors
/// When it does not answer within 30 seconds.
pub async fn wait_until_ready(uri: &str) -> Result<(), Error> {
    let client = mongodb::Client::with_uri_str(uri)
        .await
        .map_err(|e| Error::new(format!("testkit: bad server URI: {e}")))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match client.database("admin").run_command(bson::doc! { "hello": 1 }).await {
            Ok(_) => return Ok(()),
            Err(error) if std::time::Instant::now() > deadline => {
                return Err(Error::new(format!(
                    "testkit: the server did not answer hello: {error}"
                )));
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
}

/// Arms the server's `failCommand` fail point for clients whose app name is
/// `app_name` only, so tests sharing a server do not hit each other's
/// faults. `mode` is `"alwaysOn"`, `{times: N}`, ...; `data` adds the
/// fault (`errorCode`, `closeConnection`, `blockConnection`, ...). Needs a
/// server with test commands enabled (testkit starts its own that way).
///
/// # Errors
/// The server's refusal, for example when test commands are off.
pub async fn fail_command(
    admin: &mongodb::Client,
    app_name: &str,
    mode: bson::Bson,
    commands: &[&str],
    mut data: bson::Document,
) -> mongodb::error::Result<()> {
    data.insert("failCommands", commands.to_vec());
    data.insert("appName", app_name);
    let command = bson::doc! { "configureFailPoint": "failCommand", "mode": mode, "data": data };
    admin.database("admin").run_command(command).await.map(drop)
}

/// Disarms the `failCommand` fail point armed by [`fail_command`].
///
/// # Errors
/// The server's refusal, for example when test commands are off.
pub async fn fail_command_off(admin: &mongodb::Client) -> mongodb::error::Result<()> {
    let command = bson::doc! { "configureFailPoint": "failCommand", "mode": "off" };
    admin.database("admin").run_command(command).await.map(drop)
}

/// The code of the server error behind a driver error, if the server sent
/// one: a command's error, a write error, or the first of an
/// `insert_many`'s write errors.
pub fn server_code(error: &mongodb::error::Error) -> Option<i32> {
    use mongodb::error::{ErrorKind, WriteFailure};
    match error.kind.as_ref() {
        ErrorKind::Command(e) => Some(e.code),
        ErrorKind::Write(WriteFailure::WriteError(e)) => Some(e.code),
        ErrorKind::InsertMany(e) => e.write_errors.as_ref()?.first().map(|e| e.code),
        _ => None,
    }
}

/// The kind of server this machine can start: `mongod` if it is on
/// `PATH`, else SecantusDB (the same choice [`server`] makes when
/// `MONGODB_URI` is not set). For tests and benchmarks that start servers
/// of their own.
pub fn startable_kind() -> ServerKind {
    if process::mongod_on_path() { ServerKind::Mongod } else { ServerKind::Secantus }
}

/// `MONGODB_URI`, when it is set and not blank: the server [`server`]
/// uses instead of starting one.
pub fn external_uri() -> Option<String> {
    std::env::var("MONGODB_URI").ok().filter(|uri| !uri.trim().is_empty())
}
