//! Shared helpers of the reliability suite (`tests/reliability_*.rs`):
//! a model, clients with an app name of their own (so a `failCommand`
//! fail point hits only them), fail points, command counting, dedicated
//! servers with persistent storage, and the figures each test prints.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bson::{Document, doc};
use model::{Connection, DateTime, Model, Uuid};
use serde::{Deserialize, Serialize};
use testkit::{ServerOptions, ServerProcess};

/// A document of the workloads: a group to select by and a counter.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "items", key = id)]
pub struct Item {
    #[serde(rename = "_id")]
    pub id: Uuid,
    #[model(unique)]
    pub name: String,
    #[model(index)]
    pub group: String,
    pub n: i64,
    pub created_at: DateTime,
    pub updated_at: Option<DateTime>,
}

/// An insert of an item with a fresh key.
pub fn item(name: impl Into<String>, group: &str) -> ItemInsert {
    ItemInsert { id: None, name: name.into(), group: group.to_string(), n: 0 }
}

/// An insert of an item with the given key.
pub fn item_with_id(id: Uuid, name: impl Into<String>, group: &str) -> ItemInsert {
    ItemInsert { id: Some(id), name: name.into(), group: group.to_string(), n: 0 }
}

/// The figures one test contributes to the suite's totals; printed as one
/// `[reliability]` line (visible with `--nocapture`).
#[derive(Debug, Default, Clone, Copy)]
pub struct Figures {
    /// Faults the test caused: fail points that fired, server kills, pauses.
    pub faults: u64,
    /// Repository operations the test attempted.
    pub operations: u64,
    /// Acknowledged writes missing afterwards.
    pub lost: u64,
    /// Writes that took effect more than once.
    pub duplicated: u64,
    /// Times two holders held one lock at once.
    pub exclusion_violations: u64,
    /// The longest time the server was unreachable.
    pub longest_outage: Duration,
}

impl Figures {
    /// Prints the line RELIABILITY.md adds up.
    pub fn print(&self, test: &str) {
        println!(
            "[reliability] {test}: faults={} operations={} lost={} duplicated={} \
             exclusion_violations={} longest_outage_ms={}",
            self.faults,
            self.operations,
            self.lost,
            self.duplicated,
            self.exclusion_violations,
            self.longest_outage.as_millis()
        );
    }
}

/// The names of the commands a client sent, in order.
pub type Commands = testkit::CommandLog;

/// How to build a test's client.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    /// Whether the driver retries writes once (its default).
    pub retry_writes: bool,
    /// How long an operation waits for a server before failing.
    pub server_selection_timeout: Duration,
    /// How often the driver checks the server. A state-change error (91,
    /// 189, 10107) marks the server unknown until the next check, and the
    /// retry waits for it: the driver's 10 s default makes each such fault
    /// cost up to 10 s; 500 ms is the least the driver allows.
    pub heartbeat: Duration,
    /// Whether writes wait for the journal (`j: true`), so they survive a
    /// crash of the server process.
    pub journal: bool,
}

impl Default for ClientSpec {
    fn default() -> Self {
        ClientSpec {
            retry_writes: true,
            server_selection_timeout: Duration::from_secs(10),
            heartbeat: Duration::from_millis(500),
            journal: false,
        }
    }
}

/// A test's own client: a unique app name, its commands counted.
pub struct Client {
    pub conn: Connection,
    pub app: String,
    pub commands: Commands,
    /// A client with another app name, out of reach of this one's fail points.
    pub admin: mongodb::Client,
}

impl Client {
    /// A client on a fresh database of the shared server.
    pub async fn fresh(spec: ClientSpec) -> Client {
        let db = testkit::database().await;
        Client::on(&db.uri, &db.name, spec).await
    }

    /// A client on database `db` of the server at `uri`.
    pub async fn on(uri: &str, db: &str, spec: ClientSpec) -> Client {
        let test = testkit::ClientBuilder::new(uri)
            .app("rel")
            .retry_writes(spec.retry_writes)
            .server_selection_timeout(spec.server_selection_timeout)
            .heartbeat(spec.heartbeat)
            .journal(spec.journal)
            .log_commands_to(db)
            .build()
            .await
            .unwrap();
        let admin = testkit::ClientBuilder::new(uri)
            .app("reliability-admin")
            .server_selection_timeout(spec.server_selection_timeout)
            .build()
            .await
            .unwrap();
        Client {
            conn: Connection::from_client(test.client, db),
            app: test.app,
            commands: test.commands,
            admin: admin.client,
        }
    }

    /// Arms `failCommand` for this client's app name only. There is one
    /// such fail point per server: arming it replaces any other.
    pub async fn fail(&self, times: i32, commands: &[&str], data: Document) {
        let mode = doc! { "times": times }.into();
        testkit::fail_command(&self.admin, &self.app, mode, commands, data).await.unwrap();
    }

    /// Disarms `failCommand`.
    pub async fn fail_off(&self) {
        testkit::fail_command_off(&self.admin).await.unwrap();
    }

    /// How many documents `collection` holds, counted by the admin client.
    pub async fn stored(&self, collection: &str) -> u64 {
        self.admin
            .database(self.conn.database_name())
            .collection::<Document>(collection)
            .count_documents(doc! {})
            .await
            .unwrap()
    }
}

/// A server for one fault-injection test. A server has one `failCommand`
/// fail point, and arming it replaces any other, so tests that arm it in
/// parallel need servers of their own: one is started per test, and killed
/// when this is dropped. With `MONGODB_URI` set the given server is shared
/// instead, one test at a time.
pub struct FaultServer {
    pub uri: String,
    _process: Option<ServerProcess>,
    _turn: Option<tokio::sync::MutexGuard<'static, ()>>,
}

impl FaultServer {
    /// The server, or `None` (with a printed note) when `MONGODB_URI`
    /// names one that does not take `configureFailPoint` (test commands off).
    pub async fn start() -> Option<FaultServer> {
        static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        if external() {
            let turn = ONE_AT_A_TIME.lock().await;
            let uri = testkit::server().uri.clone();
            let admin = mongodb::Client::with_uri_str(&uri).await.unwrap();
            if let Err(error) = testkit::fail_command_off(&admin).await {
                let test = std::thread::current().name().unwrap_or("a fault test").to_string();
                skip(&test, &format!("the server refuses fail points: {error}"));
                return None;
            }
            return Some(FaultServer { uri, _process: None, _turn: Some(turn) });
        }
        let options = ServerOptions::new(testkit::startable_kind());
        let process = tokio::task::spawn_blocking(move || ServerProcess::start(options))
            .await
            .unwrap()
            .unwrap_or_else(|error| panic!("cannot start a server: {error}"));
        Some(FaultServer { uri: process.uri().to_string(), _process: Some(process), _turn: None })
    }

    /// A client of its own on a fresh database of this server.
    pub async fn client(&self, spec: ClientSpec) -> Client {
        Client::on(&self.uri, &testkit::unique_name("t"), spec).await
    }
}

/// Whether `MONGODB_URI` names the server (as `testkit` decides it),
/// without starting the shared server to find out.
fn external() -> bool {
    testkit::external_uri().is_some()
}

/// Whether the suite may start and kill servers of its own: not when
/// `MONGODB_URI` names an external server (then say so and skip).
pub fn can_control_servers(test: &str) -> bool {
    if external() {
        skip(test, "MONGODB_URI is set and this test needs process control");
        return false;
    }
    true
}

/// Says that `test` did not run and why; a failure instead when
/// `MODEL_TEST_FULL=1` demands that every test run (as CI sets it).
pub fn skip(test: &str, why: &str) {
    if std::env::var("MODEL_TEST_FULL").is_ok_and(|v| v == "1") {
        panic!("{test} cannot run here ({why}), and MODEL_TEST_FULL=1 demands it");
    }
    println!("[reliability] {test}: SKIPPED, {why} (MODEL_TEST_FULL=1 makes this a failure)");
    eprintln!("[reliability] {test}: SKIPPED, {why}");
}

/// Whether the heavier variants run (`RELIABILITY_HEAVY=1`).
pub fn heavy() -> bool {
    std::env::var("RELIABILITY_HEAVY").is_ok_and(|v| v == "1")
}

/// A data directory that outlives the servers using it and is removed on drop.
pub struct DataDir(PathBuf);

impl DataDir {
    pub fn new() -> DataDir {
        let dir = std::env::temp_dir().join("model-reliability").join(testkit::unique_name("data"));
        std::fs::create_dir_all(&dir).unwrap();
        DataDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts a dedicated server (`mongod` from `PATH`, else SecantusDB) on
/// `port` (a free one when `None`), storing its data in `dir`.
pub async fn start_server(dir: &Path, port: Option<u16>) -> ServerProcess {
    let mut options = ServerOptions::new(testkit::startable_kind()).storage(dir);
    if let Some(port) = port {
        options = options.port(port);
    }
    tokio::task::spawn_blocking(move || ServerProcess::start(options))
        .await
        .unwrap()
        .unwrap_or_else(|error| panic!("cannot start a dedicated server: {error}"))
}

/// A server of this test's own, to pause: its data directory, the server,
/// its pid, and a client on the database `db`. `None` (after saying why)
/// where the suite may not start servers.
pub async fn pausable_server(
    test: &str,
    db: &str,
) -> Option<(DataDir, ServerProcess, libc::pid_t, Client)> {
    if !can_control_servers(test) {
        return None;
    }
    let dir = DataDir::new();
    let server = start_server(dir.path(), None).await;
    let pid = server.pid().expect("a started server has a pid") as libc::pid_t;
    let client = Client::on(server.uri(), db, ClientSpec::default()).await;
    Some((dir, server, pid, client))
}

/// The code of the server error behind `error`, if the server sent one.
pub fn server_code(error: &model::Error) -> Option<i32> {
    testkit::server_code(error.driver_error()?)
}

/// Whether `error` is the driver's report of a broken or refused
/// connection (or of the pool it cleared because of one).
pub fn is_network_error(error: &model::Error) -> bool {
    use mongodb::error::ErrorKind;
    error.driver_error().is_some_and(|e| {
        matches!(e.kind.as_ref(), ErrorKind::Io(_) | ErrorKind::ConnectionPoolCleared { .. })
    })
}

/// Whether `error` is the driver giving up on finding a server.
pub fn is_server_selection_error(error: &model::Error) -> bool {
    error.driver_error().is_some_and(|e| {
        matches!(e.kind.as_ref(), mongodb::error::ErrorKind::ServerSelection { .. })
    })
}

/// `error`, its Display and Debug and those of every source, in one string.
pub fn whole_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = format!("{error} / {error:?}");
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(" / {cause} / {cause:?}"));
        source = cause.source();
    }
    text
}

/// How many of `ids` repeat an earlier one.
pub fn duplicates<K: std::hash::Hash + Eq>(ids: impl IntoIterator<Item = K>) -> u64 {
    let mut seen: HashMap<K, u64> = HashMap::new();
    for id in ids {
        *seen.entry(id).or_default() += 1;
    }
    seen.values().filter(|n| **n > 1).map(|n| n - 1).sum()
}
