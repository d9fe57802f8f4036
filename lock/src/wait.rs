//! Waiting for a held lock: woken by its release through one change stream
//! per [`Locks`] where the deployment has them, else by polling with
//! backoff; and, in both, woken when the holder's lease expires by the
//! server's clock.
//!
//! The change stream is shared by every waiter of every key of a `Locks`
//! (and its clones): started by the first wait, its events handed to the
//! waiters of their key in this process, resumed after an error from its
//! last resume token, and closed when the last waiter is gone. A fleet of
//! workers thus holds one stream per process, not one per waiting call.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bson::{Document, doc};
use futures::StreamExt;
use futures::stream::BoxStream;
use model_core::Model as _;
use model_core::mongodb::change_stream::ChangeStream;
use model_core::mongodb::change_stream::event::{ChangeStreamEvent, ResumeToken};
use tokio::sync::broadcast;

use crate::{Lock, Locks};

/// The longest the change stream waits on the server for an event before
/// it asks again (one `getMore` per this, while nothing happens).
const MAX_AWAIT: Duration = Duration::from_secs(10);

/// Slack added to a computed expiry, for the clocks' disagreement.
pub(crate) const EXPIRY_SLACK: Duration = Duration::from_millis(2);

/// Releases kept for waiters that have not read them yet; a waiter that
/// falls further behind is woken (it may have missed its key's).
const BACKLOG: usize = 1024;

/// How often the stream is reopened after an error before the waiters
/// are told to poll.
const REOPENS: u32 = 3;

/// A change of a key's holder, as the shared change stream saw it.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    /// The new holder (`None`: released, or not known).
    pub owner: Option<String>,
    /// The new holder's expiry (server clock), when known.
    pub expires_at: Option<model_core::DateTime>,
    /// `false` when the event does not say who holds the key (a delete,
    /// a replace, or events possibly missed): waiters must look.
    pub known: bool,
}

/// The changes of one key's holder.
pub(crate) type Releases = BoxStream<'static, Change>;

/// The changes of holders, with their keys (an empty key: every key).
type Keys = broadcast::Receiver<Arc<(String, Change)>>;

/// The wait state of a `Locks`, shared by its clones.
#[derive(Default)]
pub(crate) struct Waiting {
    /// The server's wall clock minus this client's, in ms, read once.
    offset_ms: tokio::sync::OnceCell<i64>,
    /// `false` once the deployment refused a change stream: waits poll.
    streams: tokio::sync::OnceCell<bool>,
    /// The shared change stream, while a waiter holds it.
    hub: Mutex<Weak<Hub>>,
    /// Held while a stream is being opened, so two first waiters open one.
    opening: tokio::sync::Mutex<()>,
}

/// The shared change stream: its task, and a receiver to subscribe from.
struct Hub {
    keys: Mutex<Keys>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Hub {
    fn drop(&mut self) {
        // The last waiter is gone: the stream is dropped with its task.
        self.task.abort();
    }
}

pub(crate) fn wall_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// The change-stream filter of changes of holder: the owner set or
/// removed, the document inserted, replaced or deleted, on any key.
fn releases() -> Document {
    doc! { "$match": { "$or": [
        { "operationType": { "$in": ["delete", "replace", "insert"] } },
        { "operationType": "update", "updateDescription.removedFields": "owner" },
        { "operationType": "update", "updateDescription.updatedFields.owner": { "$exists": true } },
    ] } }
}

/// The change of holder an event shows.
fn change_of(event: &ChangeStreamEvent<Document>) -> Change {
    let unknown = Change { owner: None, expires_at: None, known: false };
    // An insert or a replace (some servers log a pipeline update as one)
    // carries the whole document: its holder is known.
    if let Some(stored) = event.full_document.as_ref() {
        return Change {
            owner: stored.get_str("owner").ok().map(String::from),
            expires_at: stored.get_datetime("expires_at").ok().copied(),
            known: true,
        };
    }
    let Some(update) = event.update_description.as_ref() else { return unknown };
    if update.removed_fields.iter().any(|f| f == "owner") {
        return Change { owner: None, expires_at: None, known: true };
    }
    let fields = &update.updated_fields;
    match fields.get("owner") {
        Some(bson::Bson::String(owner)) => Change {
            owner: Some(owner.clone()),
            expires_at: fields.get_datetime("expires_at").ok().copied(),
            known: true,
        },
        Some(bson::Bson::Null) => Change { owner: None, expires_at: None, known: true },
        _ => unknown,
    }
}

type Events = ChangeStream<ChangeStreamEvent<Document>>;

impl Locks {
    /// A stream of the changes of `key`'s holder from the shared change
    /// stream, or `None` when waits poll (asked for, or no change streams
    /// here). The stream is open on the server before this returns, so a
    /// change after it is seen.
    pub(crate) async fn releases(&self, key: &str) -> Option<Releases> {
        let waiting = &self.inner.waiting;
        if self.inner.polling || waiting.streams.get() == Some(&false) {
            return None;
        }
        let hub = self.hub().await;
        let _ = waiting.streams.set(hub.is_some());
        if hub.is_none() {
            tracing::debug!("no change streams: waiting polls");
        }
        subscribe(hub?, key)
    }

    /// [`releases`](Self::releases) from the change stream if it is
    /// running already; `None` (nothing sent) otherwise.
    pub(crate) fn running_releases(&self, key: &str) -> Option<Releases> {
        if self.inner.polling {
            return None;
        }
        let hub = self.inner.waiting.hub.lock().ok()?.upgrade()?;
        if hub.task.is_finished() {
            return None;
        }
        subscribe(hub, key)
    }
}

/// A stream of the changes of `key`'s holder from `hub`.
fn subscribe(hub: Arc<Hub>, key: &str) -> Option<Releases> {
    let keys = hub.keys.lock().ok()?.resubscribe();
    let key: Arc<str> = key.into();
    let woken = futures::stream::unfold((keys, key, hub), |(mut keys, key, hub)| async move {
        loop {
            match keys.recv().await {
                // An empty key (no key is empty) wakes every waiter.
                Ok(seen) if *seen.0 == *key || seen.0.is_empty() => {
                    return Some((seen.1.clone(), (keys, key, hub)));
                }
                Ok(_) => {}
                // Fell behind: its key's change may be among those lost.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let unknown = Change { owner: None, expires_at: None, known: false };
                    return Some((unknown, (keys, key, hub)));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Some(woken.boxed())
}

impl Locks {
    /// The shared change stream: the running one, or a new one.
    async fn hub(&self) -> Option<Arc<Hub>> {
        let waiting = &self.inner.waiting;
        let running = || waiting.hub.lock().ok()?.upgrade().filter(|hub| !hub.task.is_finished());
        if let Some(hub) = running() {
            return Some(hub);
        }
        let _opening = waiting.opening.lock().await;
        if let Some(hub) = running() {
            return Some(hub);
        }
        let events = self.watch(None).await?;
        let (sender, keys) = broadcast::channel(BACKLOG);
        let task = tokio::spawn(self.clone().pump(events, sender));
        let hub = Arc::new(Hub { keys: Mutex::new(keys), task });
        *waiting.hub.lock().ok()? = Arc::downgrade(&hub);
        Some(hub)
    }

    /// Opens the change stream of releases, after `token` when resuming.
    async fn watch(&self, token: Option<ResumeToken>) -> Option<Events> {
        let coll = self.repo().collection().await.ok()?.clone_with_type::<Document>();
        let open = async move {
            coll.watch().pipeline([releases()]).max_await_time(MAX_AWAIT).resume_after(token).await
        };
        self.repo().connection().bounded(Lock::COLLECTION, open).await.ok()
    }

    /// Hands each release to the waiters of its key, reopening the stream
    /// after an error from the last resume token; on giving up (or an
    /// invalidated stream) the channel closes and the waiters poll.
    async fn pump(self, mut events: Events, sender: broadcast::Sender<Arc<(String, Change)>>) {
        let mut failures = 0;
        loop {
            match events.next().await {
                Some(Ok(event)) => {
                    failures = 0;
                    let key = event.document_key.as_ref().and_then(|k| k.get_str("_id").ok());
                    if let Some(key) = key {
                        // No receiver is not an error: the hub holds one.
                        let _ = sender.send(Arc::new((key.to_string(), change_of(&event))));
                    }
                }
                Some(Err(error)) if failures < REOPENS => {
                    failures += 1;
                    tracing::debug!(%error, failures, "the release stream failed: reopening");
                    tokio::time::sleep(Duration::from_millis(50 << failures)).await;
                    if let Some(reopened) = self.watch(events.resume_token()).await {
                        events = reopened;
                        // Without a token events may have been missed:
                        // every waiter tries again.
                        let unknown = Change { owner: None, expires_at: None, known: false };
                        let _ = sender.send(Arc::new((String::new(), unknown)));
                    }
                }
                Some(Err(error)) => {
                    tracing::debug!(%error, "the release stream failed: waits poll");
                    return;
                }
                None => return,
            }
        }
    }

    /// The server's wall clock minus this client's, in ms (half the
    /// round trip of `hello` taken as its one-way time), read once.
    pub(crate) async fn offset_ms(&self) -> i64 {
        *self
            .inner
            .waiting
            .offset_ms
            .get_or_init(|| async { self.read_offset_ms().await.unwrap_or(0) })
            .await
    }

    async fn read_offset_ms(&self) -> Option<i64> {
        let db = self.repo().connection().database().await.ok()?;
        let sent = wall_ms();
        let hello = async move { db.run_command(doc! { "hello": 1 }).await };
        let reply = self.repo().connection().bounded(Lock::COLLECTION, hello).await.ok()?;
        let received = wall_ms();
        let server = reply.get_datetime("localTime").ok()?.timestamp_millis();
        Some(server - (sent + received) / 2)
    }
}
