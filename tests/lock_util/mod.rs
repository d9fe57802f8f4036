//! Shared helpers of the lock tests: connections with their own app name
//! (so `failCommand` fail points hit only them), command counting, fail
//! points, and clocks running fast or slow.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use bson::{Bson, Document, doc};
use lock::{Clock, Locks};
use model::Connection;

/// The ttl of a lease a test holds across several commands and expects to
/// keep. Longer than any stall of the test server: SecantusDB's journaled
/// writes (`j: true`) stall for more than a second now and then on a
/// loaded machine, so a lease of a few hundred milliseconds can expire
/// between two commands of a test that means to hold it. Short ttls are
/// for tests whose point is the expiry.
pub const HOLD: Duration = Duration::from_secs(5);

/// A database of its own, reached through a client with its own app name.
pub struct Env {
    pub uri: String,
    pub db: String,
    pub app: String,
    pub conn: Connection,
    pub locks: Locks,
    /// A client with another app name, untouched by this one's fail points.
    pub admin: mongodb::Client,
    /// The names of the commands this client sent to the test's database.
    pub commands: testkit::CommandLog,
}

impl Env {
    /// A fresh database and a client of its own.
    pub async fn new() -> Env {
        let db = testkit::database().await;
        Env::on(&db.uri, &db.name).await
    }

    /// A client of its own on an existing database.
    pub async fn on(uri: &str, db: &str) -> Env {
        let (conn, app, commands) = connection(uri, db).await;
        let locks = Locks::new(&conn);
        Env {
            admin: testkit::admin_client(uri).await.unwrap(),
            uri: uri.to_string(),
            db: db.to_string(),
            app,
            conn,
            locks,
            commands,
        }
    }

    /// Another client (another app name) on the same database.
    pub async fn peer(&self) -> Env {
        Env::on(&self.uri, &self.db).await
    }

    /// The commands sent so far, forgetting them.
    pub fn take_commands(&self) -> Vec<String> {
        self.commands.take()
    }

    /// The lease document of `key`, as stored.
    pub async fn lease_doc(&self, key: &str) -> Option<Document> {
        self.raw("locks").find_one(doc! { "_id": key }).await.unwrap()
    }

    /// An untyped collection of the test's database.
    pub fn raw(&self, name: &str) -> mongodb::Collection<Document> {
        self.admin.database(&self.db).collection(name)
    }

    /// Arms `failCommand` for this client's app name only.
    pub async fn fail(&self, mode: Bson, commands: &[&str], data: Document) {
        testkit::fail_command(&self.admin, &self.app, mode, commands, data).await.unwrap();
    }

    /// Disarms `failCommand`.
    pub async fn fail_off(&self) {
        testkit::fail_command_off(&self.admin).await.unwrap();
    }
}

/// A connection through a client with an app name of its own, with
/// retryable writes off (SecantusDB slows down with every retryable write
/// it serves), logging the commands it sends to `db`.
pub async fn connection(uri: &str, db: &str) -> (Connection, String, testkit::CommandLog) {
    let test = testkit::ClientBuilder::new(uri)
        .app("lockapp")
        .retry_writes(false)
        .log_commands_to(db)
        .build()
        .await
        .unwrap();
    (Connection::from_client(test.client, db), test.app, test.commands)
}

/// A clock running at `rate` times the system's monotonic clock (`1.1`:
/// 10% fast, `0.9`: 10% slow), from when it was made.
#[derive(Debug, Clone, Copy)]
pub struct RateClock {
    origin: Instant,
    rate: f64,
}

impl RateClock {
    /// A clock at `rate`, starting now.
    pub fn new(rate: f64) -> Self {
        RateClock { origin: Instant::now(), rate }
    }
}

impl Clock for RateClock {
    fn now(&self) -> Instant {
        self.origin + self.origin.elapsed().mul_f64(self.rate)
    }
}

/// The token a lease document's key started from, if `stored` was created
/// by its first acquisition: the server's clock at that acquisition
/// (`created_at`) in milliseconds × 1000.
pub fn clock_floor(stored: &Document) -> i64 {
    stored.get_datetime("created_at").unwrap().timestamp_millis() * 1000
}
