//! Waiting for a held lock: woken by its release through a change stream
//! where the deployment has them, else by polling with backoff; and, in
//! both, woken when the holder's lease expires by the server's clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bson::{Document, doc};
use futures::StreamExt;
use futures::stream::BoxStream;
use model_core::Model as _;

use crate::{Lock, Locks};

/// How a `Locks` waits, decided by its first wait.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Mode {
    /// Woken by a change stream; `offset_ms` is the server's wall clock
    /// minus this client's, measured once (`hello`'s `localTime`).
    Notified { offset_ms: i64 },
    /// The deployment has no change streams: polling with backoff.
    Polling { offset_ms: i64 },
}

impl Mode {
    fn offset_ms(self) -> i64 {
        match self {
            Mode::Notified { offset_ms } | Mode::Polling { offset_ms } => offset_ms,
        }
    }
}

/// The longest a waiter's change stream waits on the server for an event
/// before it asks again (one `getMore` per this, while nothing happens).
const MAX_AWAIT: Duration = Duration::from_secs(10);

/// Slack added to a computed expiry, for the clocks' disagreement.
const EXPIRY_SLACK: Duration = Duration::from_millis(2);

/// Releases of one key: the events that can free it.
pub(crate) type Releases = BoxStream<'static, ()>;

fn wall_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// The change-stream filter of `key`'s releases: the owner removed, the
/// document replaced or deleted.
fn releases_of(key: &str) -> Document {
    doc! { "$match": {
        "documentKey._id": key,
        "$or": [
            { "operationType": { "$in": ["delete", "replace"] } },
            { "operationType": "update", "updateDescription.removedFields": "owner" },
        ],
    } }
}

impl Locks {
    /// How this `Locks` waits: probed once (a change stream opened and
    /// dropped, and the server's clock read).
    pub(crate) async fn wait_mode(&self) -> Mode {
        *self
            .inner
            .waiting
            .get_or_init(|| async {
                let offset_ms = self.server_offset_ms().await.unwrap_or(0);
                if self.inner.polling {
                    return Mode::Polling { offset_ms };
                }
                match self.open_releases("").await {
                    Some(_) => Mode::Notified { offset_ms },
                    None => {
                        tracing::debug!("no change streams: waiting polls");
                        Mode::Polling { offset_ms }
                    }
                }
            })
            .await
    }

    /// The server's wall clock minus this client's, in ms (half the
    /// round trip of `hello` taken as its one-way time).
    async fn server_offset_ms(&self) -> Option<i64> {
        let db = self.repo().connection().database().await.ok()?;
        let sent = wall_ms();
        let hello = async move { db.run_command(doc! { "hello": 1 }).await };
        let reply = self.repo().connection().bounded(Lock::COLLECTION, hello).await.ok()?;
        let received = wall_ms();
        let server = reply.get_datetime("localTime").ok()?.timestamp_millis();
        Some(server - (sent + received) / 2)
    }

    /// A change stream of `key`'s releases, or `None` when the deployment
    /// cannot open one.
    pub(crate) async fn open_releases(&self, key: &str) -> Option<Releases> {
        let coll = self.repo().collection().await.ok()?.clone_with_type::<Document>();
        let pipeline = [releases_of(key)];
        let open = async move { coll.watch().pipeline(pipeline).max_await_time(MAX_AWAIT).await };
        let stream = self.repo().connection().bounded(Lock::COLLECTION, open).await.ok()?;
        Some(stream.map(|_| ()).boxed())
    }

    /// How long until `lock`'s lease expires by the server's clock, as
    /// this client reckons it (`None` when it is not held).
    pub(crate) fn until_expiry(&self, lock: &Lock, mode: Mode) -> Option<Duration> {
        lock.owner.as_ref()?;
        let server_now = wall_ms() + mode.offset_ms();
        let left = lock.expires_at.timestamp_millis() - server_now;
        Some(Duration::from_millis(left.max(0) as u64) + EXPIRY_SLACK)
    }
}

/// Whether waits of `mode` are woken by a change stream.
pub(crate) fn notified(mode: Mode) -> bool {
    matches!(mode, Mode::Notified { .. })
}
