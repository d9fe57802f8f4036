//! Clients for tests: each with an app name of its own (so a `failCommand`
//! fail point armed for it hits only it), a log of the commands it sends,
//! and an admin client out of reach of its fail points.
//!
//! ```no_run
//! # async fn demo() -> mongodb::error::Result<()> {
//! let db = testkit::database().await;
//! let test = testkit::ClientBuilder::new(&db.uri).app("orders").log_commands_to(&db.name).build().await?;
//! let admin = testkit::admin_client(&db.uri).await?;
//! testkit::fail_command(&admin, &test.app, bson::doc! { "times": 1 }.into(), &["insert"], bson::doc! { "errorCode": 91 }).await?;
//! // ... run the code under test through `test.client` ...
//! assert_eq!(test.commands.count("insert"), 2, "one failed, one retried");
//! # Ok(()) }
//! ```

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mongodb::event::EventHandler;
use mongodb::event::command::CommandEvent;
use mongodb::options::{ClientOptions, WriteConcern};

/// The names of the commands a client sent, in order.
#[derive(Debug, Clone, Default)]
pub struct CommandLog(Arc<Mutex<Vec<String>>>);

impl CommandLog {
    /// How many `name` commands were sent.
    pub fn count(&self, name: &str) -> usize {
        self.lock().iter().filter(|c| *c == name).count()
    }

    /// Every command sent, in order.
    pub fn all(&self) -> Vec<String> {
        self.lock().clone()
    }

    /// Every command sent so far, forgetting them.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.lock())
    }

    /// Forgets what was sent so far.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        // A test that panicked while holding it has failed already.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn push(&self, name: String) {
        self.lock().push(name);
    }
}

/// How to build a [`TestClient`]: the driver's defaults unless set.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    uri: String,
    app_prefix: String,
    retry_writes: Option<bool>,
    server_selection_timeout: Option<Duration>,
    heartbeat: Option<Duration>,
    journal: bool,
    log_db: Option<String>,
}

impl ClientBuilder {
    /// A client of the server at `uri`.
    pub fn new(uri: &str) -> Self {
        ClientBuilder {
            uri: uri.to_string(),
            app_prefix: "test".to_string(),
            retry_writes: None,
            server_selection_timeout: None,
            heartbeat: None,
            journal: false,
            log_db: None,
        }
    }

    /// The app name starts with `prefix` (and is unique, see
    /// [`unique_name`](crate::unique_name)).
    pub fn app(mut self, prefix: &str) -> Self {
        self.app_prefix = prefix.to_string();
        self
    }

    /// Whether the driver retries a failed write once (its default: yes).
    pub fn retry_writes(mut self, retry: bool) -> Self {
        self.retry_writes = Some(retry);
        self
    }

    /// How long an operation waits for a server before failing.
    pub fn server_selection_timeout(mut self, timeout: Duration) -> Self {
        self.server_selection_timeout = Some(timeout);
        self
    }

    /// How often the driver checks the server (at least 500 ms).
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = Some(every);
        self
    }

    /// Writes wait for the journal (`j: true`), so they survive a crash of
    /// the server process.
    pub fn journal(mut self, journal: bool) -> Self {
        self.journal = journal;
        self
    }

    /// Logs the name of every command sent to database `db` (not the
    /// driver's own `hello`s and others on `admin`).
    pub fn log_commands_to(mut self, db: &str) -> Self {
        self.log_db = Some(db.to_string());
        self
    }

    /// The client.
    ///
    /// # Errors
    /// A connection string the driver cannot parse.
    pub async fn build(self) -> mongodb::error::Result<TestClient> {
        let app = crate::unique_name(&self.app_prefix);
        let commands = CommandLog::default();
        let mut options = ClientOptions::parse(&self.uri).await?;
        options.app_name = Some(app.clone());
        options.retry_writes = self.retry_writes;
        options.server_selection_timeout = self.server_selection_timeout;
        options.heartbeat_freq = self.heartbeat;
        if self.journal {
            options.write_concern = Some(WriteConcern::builder().journal(true).build());
        }
        if let Some(db) = self.log_db {
            let sink = commands.clone();
            options.command_event_handler = Some(EventHandler::callback(move |event| {
                if let CommandEvent::Started(started) = event
                    && started.db == db
                {
                    sink.push(started.command_name);
                }
            }));
        }
        let client = mongodb::Client::with_options(options)?;
        Ok(TestClient { client, app, commands })
    }
}

/// A client with an app name of its own and the log of its commands.
#[derive(Debug, Clone)]
pub struct TestClient {
    /// The driver's client.
    pub client: mongodb::Client,
    /// Its app name, for [`fail_command`](crate::fail_command).
    pub app: String,
    /// The commands it sent to the logged database
    /// ([`ClientBuilder::log_commands_to`]); empty otherwise.
    pub commands: CommandLog,
}

/// A client under an app name no [`TestClient`] has, for arming fail
/// points and looking at what is stored without being hit by them.
///
/// # Errors
/// A connection string the driver cannot parse.
pub async fn admin_client(uri: &str) -> mongodb::error::Result<mongodb::Client> {
    let mut options = ClientOptions::parse(uri).await?;
    options.app_name = Some("testkit-admin".to_string());
    options.retry_writes = Some(false);
    mongodb::Client::with_options(options)
}
