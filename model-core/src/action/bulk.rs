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

use bson::{Bson, DateTime, Document, RawArrayBuf, RawBson, RawDocumentBuf, doc};
use mongodb::ClientSession;
use mongodb::error::{ErrorKind, WriteConcernError, WriteError, WriteFailure};
use mongodb::options::{
    Acknowledgment, FindOptions, ReadPreference, SelectionCriteria, WriteConcern,
};

use crate::error::{Error, Result};
use crate::model::{Key, Model};
use crate::options::Options;
use crate::query::Query;
use crate::repo::{Repo, key_filter};
use crate::run::{CursorRead, collect};
use crate::stored::Stored;
use crate::update::{Update, update_document};
use crate::version::{below_maximum, replacement};

use super::filtered::upsert_parts;

/// The most writes one command carries: the server's `maxWriteBatchSize`
/// (100,000 since MongoDB 3.6).
pub const MAX_WRITE_BATCH: usize = 100_000;

/// The most bytes of statements one command carries: the server takes a
/// command document of up to 16 MiB (`maxBsonObjectSize`) plus 16 KiB;
/// 64 KiB stay free for the command's own fields (`lsid`, `$db`, the
/// write concern, ...).
const MAX_COMMAND_BYTES: usize = 16 * 1024 * 1024 - 64 * 1024;

/// What an array element costs beside its document: a type byte, its
/// index as a string (at most 5 digits below [`MAX_WRITE_BATCH`]) and
/// its NUL.
const ELEMENT_OVERHEAD: usize = 7;

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

/// One write of a [`bulk_write`](Repo::bulk_write), with the meaning the
/// single action of the same name has: timestamps set, the version
/// counted, `None` fields left out, the collection's validator applied.
pub struct Write<M: Model>(Kind<M>);

enum Kind<M: Model> {
    Insert(M::Insert),
    Update(M::Key, Update<M>),
    UpdateMany(Query<M>, Update<M>),
    Upsert(Query<M>, Update<M>),
    Replace(M),
    Delete(M::Key),
    DeleteMany(Query<M>),
}

impl<M: Model> Write<M> {
    /// Inserts a document, as [`Repo::insert_one`]: `created_at` set, the
    /// key generated where the insert leaves it out. A duplicate key is
    /// [`Error::Conflict`] at its position.
    pub fn insert(insert: M::Insert) -> Self {
        Write(Kind::Insert(insert))
    }

    /// Updates the document with `key`, as [`Repo::update`]:
    /// `updated_at` set, the version counted (a document at its version's
    /// maximum is not matched). Matching nothing is not an error here: the
    /// server reports matches per command, see [`WriteOutcome::Updated`].
    pub fn update(key: &M::Key, update: impl Into<Update<M>>) -> Self {
        Write(Kind::Update(key.clone(), update.into()))
    }

    /// Updates every document matching `query`, as [`Repo::update_many`].
    pub fn update_many(query: Query<M>, update: impl Into<Update<M>>) -> Self {
        Write(Kind::UpdateMany(query, update.into()))
    }

    /// Updates the first document matching `query`, or inserts one, as
    /// [`Repo::upsert`]: the key generated where the query does not name
    /// it with `eq`, `created_at` set on insert.
    pub fn upsert(query: Query<M>, update: impl Into<Update<M>>) -> Self {
        Write(Kind::Upsert(query, update.into()))
    }

    /// Replaces the document with `document`'s key, as [`Repo::replace`]:
    /// `updated_at` set, and for a versioned model only while the stored
    /// document is at `document`'s version (otherwise
    /// [`Error::VersionConflict`] at its position), storing the next one.
    pub fn replace(document: M) -> Self {
        Write(Kind::Replace(document))
    }

    /// Deletes the document with `key`. Matching nothing is not an error
    /// here; see [`WriteOutcome::Deleted`].
    pub fn delete(key: &M::Key) -> Self {
        Write(Kind::Delete(key.clone()))
    }

    /// Deletes every document matching `query`, as [`Repo::delete_many`].
    pub fn delete_many(query: Query<M>) -> Self {
        Write(Kind::DeleteMany(query))
    }
}

/// What happened to one write of a bulk write, at its position.
#[derive(Debug)]
#[non_exhaustive]
pub enum WriteOutcome<M: Model> {
    /// Inserted: the document as stored.
    Inserted(M),
    /// An update, or an upsert that matched: applied without error. The
    /// server's `update` command counts matches for the whole command,
    /// not per write (per write only with MongoDB 8.0's `bulkWrite`), so
    /// the counts are [`BulkOutcome::matched`] and
    /// [`BulkOutcome::modified`].
    Updated,
    /// An upsert that inserted a document, with this key.
    Upserted(M::Key),
    /// Replaced: the document as stored (its `updated_at` and version set).
    Replaced(M),
    /// A delete applied without error; how many it deleted is counted
    /// for the whole command, in [`BulkOutcome::deleted`].
    Deleted,
    /// The write failed: [`Error::Conflict`] (a duplicate key, naming
    /// the index), [`Error::Validation`], [`Error::VersionConflict`] (a
    /// stale replace), [`Error::NotFound`] (a replace of no document), or
    /// an error found before sending ([`Error::InvalidValue`],
    /// [`Error::InvalidArgument`]). Nothing of it was written.
    Failed(Error),
    /// Not sent: an ordered bulk write stops at its first failure.
    NotAttempted,
}

impl<M: Model> WriteOutcome<M> {
    /// Whether the write was applied.
    pub fn is_applied(&self) -> bool {
        !matches!(self, WriteOutcome::Failed(_) | WriteOutcome::NotAttempted)
    }

    /// The error, for a write that failed.
    pub fn error(&self) -> Option<&Error> {
        match self {
            WriteOutcome::Failed(error) => Some(error),
            _ => None,
        }
    }
}

/// What a bulk write did: an outcome per write, at the write's position,
/// and the server's counts.
#[derive(Debug)]
pub struct BulkOutcome<M: Model> {
    writes: Vec<WriteOutcome<M>>,
    counts: Counts,
    commands: usize,
}

/// The server's counts over every command of a bulk write.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    inserted: u64,
    matched: u64,
    modified: u64,
    upserted: u64,
    deleted: u64,
}

impl<M: Model> BulkOutcome<M> {
    /// Whether every write was applied.
    pub fn is_ok(&self) -> bool {
        self.writes.iter().all(WriteOutcome::is_applied)
    }

    /// The writes that failed, as (position, error), in position order.
    pub fn errors(&self) -> impl Iterator<Item = (usize, &Error)> {
        self.writes.iter().enumerate().filter_map(|(at, outcome)| Some((at, outcome.error()?)))
    }

    /// The outcome of the write at `position`.
    pub fn get(&self, position: usize) -> Option<&WriteOutcome<M>> {
        self.writes.get(position)
    }

    /// The outcomes, one per write, in the writes' order.
    pub fn writes(&self) -> &[WriteOutcome<M>] {
        &self.writes
    }

    /// The outcomes, one per write, in the writes' order.
    pub fn into_writes(self) -> Vec<WriteOutcome<M>> {
        self.writes
    }

    /// How many documents were inserted (by inserts, not upserts).
    pub fn inserted(&self) -> u64 {
        self.counts.inserted
    }

    /// How many documents updates, upserts and replaces matched.
    pub fn matched(&self) -> u64 {
        self.counts.matched
    }

    /// How many documents updates, upserts and replaces changed.
    pub fn modified(&self) -> u64 {
        self.counts.modified
    }

    /// How many documents upserts inserted.
    pub fn upserted(&self) -> u64 {
        self.counts.upserted
    }

    /// How many documents deletes deleted.
    pub fn deleted(&self) -> u64 {
        self.counts.deleted
    }

    /// How many commands (round trips) were sent.
    pub fn commands(&self) -> usize {
        self.commands
    }
}

/// How far a bulk write is, after each command: handed to the callback
/// of [`BulkWrite::on_progress`], and logged as a `tracing` debug event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BulkProgress {
    /// Writes sent so far (applied or failed).
    pub written: usize,
    /// Writes in the bulk write.
    pub total: usize,
    /// Commands sent so far.
    pub commands: usize,
}

type ProgressCallback<'a> = Box<dyn FnMut(BulkProgress) + Send + 'a>;

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
        for (position, write) in std::mem::take(&mut self.writes).into_iter().enumerate() {
            match Statement::prepare(position, write, now) {
                Ok(statement) => statements.push(statement),
                Err(error) => {
                    outcome.writes[position] = WriteOutcome::Failed(error);
                    if self.ordered {
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
        let options =
            self.repo.options_with(std::mem::take(&mut self.options), self.session.is_some());
        if let Some(WriteConcern { w: Some(Acknowledgment::Nodes(0)), .. }) = options.write_concern
        {
            return Err(Error::Unacknowledged { collection: M::COLLECTION.to_string() });
        }
        let envelope = Envelope::new(M::COLLECTION, self.ordered, options)?;
        let db = self.repo.connection().database().await?;
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

/// The server command a write travels in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Insert,
    Update,
    Delete,
}

impl Command {
    /// The command's name and the field of its list of statements.
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Command::Insert => ("insert", "documents"),
            Command::Update => ("update", "updates"),
            Command::Delete => ("delete", "deletes"),
        }
    }
}

/// A write ready to send: its statement, and what its outcome is made of.
struct Statement<M: Model> {
    position: usize,
    body: RawDocumentBuf,
    pending: Pending<M>,
}

/// What a sent write's outcome is made of.
enum Pending<M: Model> {
    Insert(M),
    Update,
    UpdateMany,
    Upsert,
    /// The replacement, and the version it requires (versioned models).
    Replace(M, Option<i64>),
    Delete,
}

impl<M: Model> Pending<M> {
    fn command(&self) -> Command {
        match self {
            Pending::Insert(_) => Command::Insert,
            Pending::Update | Pending::UpdateMany | Pending::Upsert | Pending::Replace(..) => {
                Command::Update
            }
            Pending::Delete => Command::Delete,
        }
    }
}

impl<M: Model> Statement<M> {
    /// The statement of `write`, with its filter and update made as the
    /// single action of the same name makes them.
    fn prepare(position: usize, write: Write<M>, now: DateTime) -> Result<Self> {
        let (body, pending) = match write.0 {
            Kind::Insert(insert) => {
                let doc = M::from_insert(insert, now);
                crate::check::document(&doc)?;
                (bson::to_raw_document_buf(&Stored(&doc))?, Pending::Insert(doc))
            }
            Kind::Update(key, update) => {
                let filter = below_maximum::<M>(key_filter::<M>(&key)?);
                let update = raw(&update_document(update, now)?)?;
                (update_statement(filter, update, false, false)?, Pending::Update)
            }
            Kind::UpdateMany(query, update) => {
                let filter = below_maximum::<M>(query.into_document()?);
                let update = raw(&update_document(update, now)?)?;
                (update_statement(filter, update, true, false)?, Pending::UpdateMany)
            }
            Kind::Upsert(query, update) => {
                let (filter, update) = upsert_parts(query, update, now)?;
                (update_statement(filter, raw(&update)?, false, true)?, Pending::Upsert)
            }
            Kind::Replace(mut document) => {
                crate::check::document(&document)?;
                let mut filter = key_filter::<M>(document.key())?;
                let expected = replacement::<M>(&mut filter, &mut document, now)?;
                let replacement = bson::to_raw_document_buf(&Stored(&document))?;
                let statement = update_statement(filter, replacement, false, false)?;
                (statement, Pending::Replace(document, expected))
            }
            Kind::Delete(key) => (delete_statement(key_filter::<M>(&key)?, 1)?, Pending::Delete),
            Kind::DeleteMany(query) => {
                (delete_statement(query.into_document()?, 0)?, Pending::Delete)
            }
        };
        if body.as_bytes().len() + ELEMENT_OVERHEAD > MAX_COMMAND_BYTES {
            return Err(Error::invalid(format!(
                "a write to `{}` of {} bytes is over what a bulk write command carries ({MAX_COMMAND_BYTES})",
                M::COLLECTION,
                body.as_bytes().len()
            )));
        }
        Ok(Statement { position, body, pending })
    }
}

fn raw(doc: &Document) -> Result<RawDocumentBuf> {
    Ok(bson::to_raw_document_buf(doc)?)
}

/// An `update` statement.
fn update_statement(
    filter: Document,
    update: RawDocumentBuf,
    multi: bool,
    upsert: bool,
) -> Result<RawDocumentBuf> {
    let mut statement = RawDocumentBuf::new();
    statement.append("q", raw(&filter)?);
    statement.append("u", update);
    if multi {
        statement.append("multi", true);
    }
    if upsert {
        statement.append("upsert", true);
    }
    Ok(statement)
}

/// A `delete` statement: `limit` 1 for one document, 0 for all.
fn delete_statement(filter: Document, limit: i32) -> Result<RawDocumentBuf> {
    let mut statement = RawDocumentBuf::new();
    statement.append("q", raw(&filter)?);
    statement.append("limit", limit);
    Ok(statement)
}

/// What every command of a bulk write carries beside its statements.
struct Envelope {
    collection: &'static str,
    ordered: bool,
    write_concern: Option<RawDocumentBuf>,
    comment: Option<RawBson>,
}

impl Envelope {
    fn new(collection: &'static str, ordered: bool, options: Options) -> Result<Self> {
        let write_concern =
            options.write_concern.as_ref().map(bson::to_raw_document_buf).transpose()?;
        let comment = options
            .comment
            .map(RawBson::try_from)
            .transpose()
            .map_err(|error| Error::invalid(format!("the comment cannot be sent: {error}")))?;
        Ok(Envelope { collection, ordered, write_concern, comment })
    }

    fn command(&self, command: Command, statements: RawArrayBuf) -> RawDocumentBuf {
        let (name, list) = command.names();
        let mut body = RawDocumentBuf::new();
        body.append(name, self.collection);
        body.append(list, statements);
        body.append("ordered", self.ordered);
        if let Some(write_concern) = &self.write_concern {
            body.append("writeConcern", write_concern.clone());
        }
        if let Some(comment) = &self.comment {
            body.append("comment", comment.clone());
        }
        body
    }
}

/// What the server answered to one command.
struct Reply {
    n: u64,
    modified: u64,
    /// The statements (by index in the command) that upserted, with the key.
    upserted: Vec<(usize, Bson)>,
    /// The statements that failed, in index order.
    errors: Vec<(usize, WriteError)>,
}

impl Reply {
    /// The reply's counts and write errors; a write concern error is the
    /// command's.
    fn read(collection: &str, reply: &Document) -> Result<Self> {
        let count = |field| match reply.get(field) {
            Some(Bson::Int32(n)) => u64::try_from(*n).unwrap_or(0),
            Some(Bson::Int64(n)) => u64::try_from(*n).unwrap_or(0),
            _ => 0,
        };
        let indexed = |field| -> Vec<&Document> {
            match reply.get_array(field) {
                Ok(items) => items.iter().filter_map(Bson::as_document).collect(),
                Err(_) => Vec::new(),
            }
        };
        let index = |doc: &Document| match doc.get("index") {
            Some(Bson::Int32(i)) => usize::try_from(*i).ok(),
            Some(Bson::Int64(i)) => usize::try_from(*i).ok(),
            _ => None,
        };
        if let Ok(concern) = reply.get_document("writeConcernError") {
            let concern: WriteConcernError = bson::from_document(concern.clone())?;
            let error = driver_error(WriteFailure::WriteConcernError(concern));
            return Err(Error::from_driver(collection, error));
        }
        let upserted = indexed("upserted")
            .into_iter()
            .filter_map(|doc| Some((index(doc)?, doc.get("_id")?.clone())))
            .collect();
        let mut errors = Vec::new();
        for doc in indexed("writeErrors") {
            if let Some(at) = index(doc) {
                errors.push((at, bson::from_document::<WriteError>(doc.clone())?));
            }
        }
        errors.sort_by_key(|(at, _)| *at);
        Ok(Reply { n: count("n"), modified: count("nModified"), upserted, errors })
    }

    /// Records the outcome of each statement of the command (`pending`,
    /// in the command's order) in `outcome`; replaces whose outcome the
    /// counts leave open go to `unsure`. In an `ordered` command nothing
    /// after the first error ran.
    fn apply<M: Model>(
        self,
        command: Command,
        ordered: bool,
        pending: Vec<(usize, Pending<M>)>,
        outcome: &mut BulkOutcome<M>,
        unsure: &mut Vec<(usize, M, Option<i64>)>,
    ) {
        let upserted = self.upserted.len() as u64;
        match command {
            Command::Insert => outcome.counts.inserted += self.n,
            Command::Update => {
                outcome.counts.matched += self.n.saturating_sub(upserted);
                outcome.counts.modified += self.modified;
                outcome.counts.upserted += upserted;
            }
            Command::Delete => outcome.counts.deleted += self.n,
        }
        let mut errors = self.errors.into_iter().peekable();
        let mut upserts = self.upserted.into_iter().peekable();
        // Writes by key (and upserts) match one document each when applied:
        // fewer matches than those leave their replaces open.
        let mut must_match = 0;
        let mut any_many = false;
        let mut replaces = Vec::new();
        for (at, (position, pending)) in pending.into_iter().enumerate() {
            if let Some((_, error)) = errors.next_if(|(index, _)| *index == at) {
                let error = driver_error(WriteFailure::WriteError(error));
                outcome.writes[position] =
                    WriteOutcome::Failed(Error::from_driver(M::COLLECTION, error));
                if ordered {
                    break;
                }
                continue;
            }
            outcome.writes[position] = match pending {
                Pending::Insert(doc) => WriteOutcome::Inserted(doc),
                Pending::Upsert => {
                    must_match += 1;
                    match upserts.next_if(|(index, _)| *index == at) {
                        Some((_, key)) => match bson::from_bson(key) {
                            Ok(key) => WriteOutcome::Upserted(key),
                            Err(error) => WriteOutcome::Failed(Error::Deserialize(error)),
                        },
                        None => WriteOutcome::Updated,
                    }
                }
                Pending::Update => {
                    must_match += 1;
                    WriteOutcome::Updated
                }
                Pending::UpdateMany => {
                    any_many = true;
                    WriteOutcome::Updated
                }
                Pending::Replace(doc, expected) => {
                    must_match += 1;
                    replaces.push((position, doc, expected));
                    continue;
                }
                Pending::Delete => WriteOutcome::Deleted,
            };
        }
        if any_many || self.n < must_match {
            unsure.extend(replaces);
        } else {
            for (position, doc, _) in replaces {
                outcome.writes[position] = WriteOutcome::Replaced(doc);
            }
        }
    }
}

/// A driver error of a write failure the server reported in a reply.
fn driver_error(failure: WriteFailure) -> mongodb::error::Error {
    mongodb::error::Error::from(ErrorKind::Write(failure))
}
