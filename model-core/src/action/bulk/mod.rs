//! Bulk writes: many inserts, updates, upserts, replaces and deletes of one
//! model in as few round trips as the server allows, with an outcome per
//! write.
//!
//! MongoDB's one-command `bulkWrite` needs a server of version 8.0. On
//! every server, consecutive writes of one kind travel as one `insert`,
//! `update` or `delete` command (split at the server's limits); the
//! driver has no multi-statement update or delete of its own, so the
//! commands are sent as commands, in the caller's session or detached as
//! every other action is.

use bson::{Bson, DateTime, Document, RawArrayBuf, doc};
use mongodb::ClientSession;
use mongodb::options::{
    Acknowledgment, FindOptions, ReadPreference, SelectionCriteria, WriteConcern,
};

use crate::error::{Error, Result};
use crate::model::{Key, Model};
use crate::options::Options;
use crate::repo::Repo;
use crate::run::{CursorRead, collect};
use crate::stored::Stored;

mod command;
mod outcome;
mod write;

pub use command::MAX_WRITE_BATCH;
use command::*;
pub use outcome::{BulkOutcome, BulkProgress, WriteOutcome};
use outcome::{Counts, ProgressCallback};
pub use write::Write;

impl<M: Model> Repo<M> {
    /// Runs `writes` in as few round trips as the server allows, and
    /// reports the outcome of each; see [`BulkWrite`]. No round trip when
    /// `writes` is empty.
    ///
    /// ```no_run
    /// # use model_core::{BulkWrite, Model, Repo, Update, Write};
    /// # async fn f<M: Model>(repo: Repo<M>, insert: M::Insert, key: M::Key) -> model_core::Result<()> {
    /// let outcome = repo
    ///     .bulk_write([Write::insert(insert), Write::update(&key, Update::none()), Write::delete(&key)])
    ///     .await?;
    /// for (position, error) in outcome.errors() {
    ///     eprintln!("write {position} failed: {error}");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn bulk_write(&self, writes: impl IntoIterator<Item = Write<M>>) -> BulkWrite<'_, M> {
        BulkWrite {
            repo: self,
            writes: writes.into_iter().collect(),
            ordered: true,
            on_progress: None,
            now: None,
            options: Options::default(),
            session: None,
        }
    }
}

/// `repo.bulk_write(writes)`: runs the writes and reports, per position,
/// what happened ([`BulkOutcome`]).
///
/// Consecutive writes of one kind (inserts; updates, upserts and
/// replaces; deletes) go to the server as one command, split at
/// [`MAX_WRITE_BATCH`] writes and at 16 MiB; with
/// [`ordered(false)`](Self::ordered) all writes of a kind go together
/// wherever they stand. An empty bulk write sends nothing.
///
/// **Ordered** (the default): the writes run in order and stop at the
/// first that fails; the writes after it are
/// [`NotAttempted`](WriteOutcome::NotAttempted). **Unordered**: every
/// write is attempted, in any order, and each failure is reported at its
/// position.
///
/// # Errors
///
/// A write that fails is an outcome, not an error: the answer is
/// `Ok(outcome)`, with [`BulkOutcome::is_ok`] and
/// [`BulkOutcome::errors`] telling which failed. `Err` is for the batch
/// as a whole: the network, a [`Timeout`](Error::Timeout), a command the
/// server refused, a write concern error, [`Error::Unacknowledged`] for
/// `w: 0`. The commands sent before it were applied; its own may or may
/// not have been. The commands are not retried (run the bulk write in a
/// transaction for all or nothing).
///
/// A stale versioned replace matches nothing; since the server counts
/// matches per command, a command that matched fewer documents than it
/// had writes by key is followed by one read of its replaced keys, which
/// tells a replace applied (the stored document is the replacement)
/// from a stale one ([`Error::VersionConflict`]) or one of no document
/// ([`Error::NotFound`]). It reads the documents as the batch left them:
/// a later write of the same batch to a replaced document makes its
/// replace read as not applied.
///
/// # Cancel safety
///
/// A write: dropped once a command may have been sent, any of its
/// commands may or may not have been applied. Read to find out.
/// See [`Repo`](crate::Repo#cancel-safety).
#[must_use = "an action does nothing until awaited"]
pub struct BulkWrite<'a, M: Model> {
    repo: &'a Repo<M>,
    writes: Vec<Write<M>>,
    ordered: bool,
    on_progress: Option<ProgressCallback<'a>>,
    now: Option<DateTime>,
    options: Options,
    session: Option<&'a mut ClientSession>,
}

impl<'a, M: Model> BulkWrite<'a, M> {
    session_setter!();
    write_option_setters!(options);
    comment_setter!(options);
    now_setter!();

    /// Whether the writes run in order and stop at the first failure
    /// (`true`, the default), or run in any order, every one attempted.
    pub fn ordered(mut self, ordered: bool) -> Self {
        self.ordered = ordered;
        self
    }

    /// Calls `progress` after each command, with the writes sent so far.
    pub fn on_progress(mut self, progress: impl FnMut(BulkProgress) + Send + 'a) -> Self {
        self.on_progress = Some(Box::new(progress));
        self
    }

    async fn run(mut self) -> Result<BulkOutcome<M>> {
        let total = self.writes.len();
        let mut outcome = BulkOutcome {
            writes: (0..total).map(|_| WriteOutcome::NotAttempted).collect(),
            counts: Counts::default(),
            commands: 0,
        };
        let now = self.now.unwrap_or_else(DateTime::now);
        let mut statements = Vec::with_capacity(total);
        // Ordered: where preparing failed, so nothing after it is sent.
        let mut unprepared = None;
        for (position, write) in std::mem::take(&mut self.writes).into_iter().enumerate() {
            match Statement::prepare(position, write, now) {
                Ok(statement) => statements.push(statement),
                Err(error) => {
                    outcome.writes[position] = WriteOutcome::Failed(error);
                    if self.ordered {
                        unprepared = Some(position);
                        break;
                    }
                }
            }
        }
        if statements.is_empty() {
            return Ok(outcome);
        }
        if !self.ordered {
            // Stable: each kind keeps its writes' order.
            statements.sort_by_key(|statement| statement.pending.command() as u8);
        }
        let mut options =
            self.repo.options_with(std::mem::take(&mut self.options), self.session.is_some());
        let db = self.repo.connection().database().await?;
        // A command sent as a command takes no default write concern from
        // the driver: the client's (the connection string's) is added
        // here, as the driver adds it to its own write commands; not in a
        // transaction, whose commit carries it.
        if self.session.is_none() && options.write_concern.is_none() {
            options.write_concern = db.write_concern().cloned();
        }
        if let Some(WriteConcern { w: Some(Acknowledgment::Nodes(0)), .. }) = options.write_concern
        {
            return Err(Error::Unacknowledged { collection: M::COLLECTION.to_string() });
        }
        let envelope = Envelope::new(M::COLLECTION, self.ordered, options)?;
        let mut unsure = Vec::new();
        let mut statements = statements.into_iter().peekable();
        let mut written = 0;
        while let Some(first) = statements.next() {
            let command = first.pending.command();
            let mut list = RawArrayBuf::new();
            let mut bytes = first.body.as_bytes().len();
            let mut pending = vec![(first.position, first.pending)];
            list.push(first.body);
            while let Some(next) = statements.next_if(|next| {
                next.pending.command() == command
                    && pending.len() < MAX_WRITE_BATCH
                    && bytes + next.body.as_bytes().len() + ELEMENT_OVERHEAD <= MAX_COMMAND_BYTES
            }) {
                bytes += next.body.as_bytes().len() + ELEMENT_OVERHEAD;
                pending.push((next.position, next.pending));
                list.push(next.body);
            }
            let body = envelope.command(command, list);
            let reply =
                in_session!(self.repo, db, self.session.as_deref_mut(), db.run_raw_command(body))
                    .map_err(Repo::<M>::error)?;
            let reply = Reply::read(M::COLLECTION, &reply)?;
            outcome.commands += 1;
            written += pending.len();
            let stop = self.ordered && !reply.errors.is_empty();
            reply.apply(command, self.ordered, pending, &mut outcome, &mut unsure);
            let progress = BulkProgress { written, total, commands: outcome.commands };
            tracing::debug!(written, total, commands = outcome.commands, "bulk write command");
            if let Some(on_progress) = self.on_progress.as_mut() {
                on_progress(progress);
            }
            if stop {
                // The write that failed to prepare was never reached.
                if let Some(position) = unprepared {
                    outcome.writes[position] = WriteOutcome::NotAttempted;
                }
                break;
            }
        }
        if !unsure.is_empty() {
            self.settle(unsure, &mut outcome.writes).await?;
        }
        Ok(outcome)
    }

    /// Tells, for each replace in `unsure` (position, replacement,
    /// version required), whether it was applied: one read of their
    /// documents, in the bulk write's session.
    async fn settle(
        &mut self,
        unsure: Vec<(usize, M, Option<i64>)>,
        writes: &mut [WriteOutcome<M>],
    ) -> Result<()> {
        let keys =
            unsure.iter().map(|(_, doc, _)| doc.key().to_bson()).collect::<Result<Vec<Bson>>>()?;
        let coll = self.repo.collection().await?.clone_with_type::<Document>();
        let mut options = FindOptions::default();
        options.selection_criteria =
            Some(SelectionCriteria::ReadPreference(ReadPreference::Primary));
        let read = CursorRead::Find(doc! { "_id": { "$in": keys } }, options);
        let timeout = self.repo.connection().timeout();
        let stored =
            collect(M::COLLECTION, timeout, coll, read, self.session.as_deref_mut()).await?;
        for (position, document, expected) in unsure {
            let key = document.key().to_bson()?;
            // As the driver wrote it (binary, not human-readable, serde).
            let ours = bson::to_raw_document_buf(&Stored(&document))?;
            let is_ours = |stored: &Document| ours.to_document().is_ok_and(|ours| ours == *stored);
            let found = stored.iter().find(|doc| doc.get("_id") == Some(&key));
            writes[position] = match (found, expected) {
                (Some(stored), _) if is_ours(stored) => WriteOutcome::Replaced(document),
                (Some(_), Some(expected)) => WriteOutcome::Failed(Error::VersionConflict {
                    collection: M::COLLECTION.to_string(),
                    expected,
                }),
                // Without a version a replace requires the key only: the
                // document is there, changed by a later write.
                (Some(_), None) => WriteOutcome::Replaced(document),
                (None, _) => WriteOutcome::Failed(Repo::<M>::not_found()),
            };
        }
        Ok(())
    }
}

into_future!(BulkWrite, BulkOutcome<M>, "bulk_write");
