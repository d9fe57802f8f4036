//! The commands a bulk write sends: each write as a statement, the
//! statements of one kind in an envelope, and the server's reply read
//! back per write.

use bson::{Bson, DateTime, Document, RawArrayBuf, RawBson, RawDocumentBuf};
use mongodb::error::{ErrorKind, WriteConcernError, WriteError, WriteFailure};

use crate::error::{Error, Result};
use crate::model::Model;
use crate::options::Options;
use crate::repo::key_filter;
use crate::stored::Stored;
use crate::update::update_document;
use crate::version::{below_maximum, replacement};

use super::outcome::*;
use super::write::*;
use crate::action::filtered::upsert_parts;

/// The most writes one command carries: the server's `maxWriteBatchSize`
/// (100,000 since MongoDB 3.6).
pub const MAX_WRITE_BATCH: usize = 100_000;

/// The most bytes of statements one command carries: the server takes a
/// command document of up to 16 MiB (`maxBsonObjectSize`) plus 16 KiB;
/// 64 KiB stay free for the command's own fields (`lsid`, `$db`, the
/// write concern, ...).
pub(super) const MAX_COMMAND_BYTES: usize = 16 * 1024 * 1024 - 64 * 1024;

/// What an array element costs beside its document: a type byte, its
/// index as a string (at most 5 digits below [`MAX_WRITE_BATCH`]) and
/// its NUL.
pub(super) const ELEMENT_OVERHEAD: usize = 7;

/// The server command a write travels in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Command {
    Insert,
    Update,
    Delete,
}

impl Command {
    /// The command's name and the field of its list of statements.
    pub(super) fn names(self) -> (&'static str, &'static str) {
        match self {
            Command::Insert => ("insert", "documents"),
            Command::Update => ("update", "updates"),
            Command::Delete => ("delete", "deletes"),
        }
    }
}

/// A write ready to send: its statement, and what its outcome is made of.
pub(super) struct Statement<M: Model> {
    pub(super) position: usize,
    pub(super) body: RawDocumentBuf,
    pub(super) pending: Pending<M>,
}

/// What a sent write's outcome is made of.
pub(super) enum Pending<M: Model> {
    Insert(M),
    Update,
    UpdateMany,
    Upsert,
    /// The replacement, and the version it requires (versioned models).
    Replace(M, Option<i64>),
    Delete,
}

impl<M: Model> Pending<M> {
    pub(super) fn command(&self) -> Command {
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
    pub(super) fn prepare(position: usize, write: Write<M>, now: DateTime) -> Result<Self> {
        let (body, pending) = match write.0 {
            Kind::Insert(insert) => {
                let doc = M::from_insert(insert, now);
                crate::check::insert(&doc)?;
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
                crate::check::replacement(&document)?;
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

pub(super) fn raw(doc: &Document) -> Result<RawDocumentBuf> {
    Ok(bson::to_raw_document_buf(doc)?)
}

/// An `update` statement.
pub(super) fn update_statement(
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

/// `total += n`, saturating.
fn add(total: &mut u64, n: u64) {
    *total = total.saturating_add(n);
}

/// A `delete` statement: `limit` 1 for one document, 0 for all.
pub(super) fn delete_statement(filter: Document, limit: i32) -> Result<RawDocumentBuf> {
    let mut statement = RawDocumentBuf::new();
    statement.append("q", raw(&filter)?);
    statement.append("limit", limit);
    Ok(statement)
}

/// What every command of a bulk write carries beside its statements.
pub(super) struct Envelope {
    pub(super) collection: &'static str,
    pub(super) ordered: bool,
    pub(super) write_concern: Option<RawDocumentBuf>,
    pub(super) comment: Option<RawBson>,
}

impl Envelope {
    pub(super) fn new(collection: &'static str, ordered: bool, options: Options) -> Result<Self> {
        let write_concern =
            options.write_concern.as_ref().map(bson::to_raw_document_buf).transpose()?;
        let comment = options
            .comment
            .map(RawBson::try_from)
            .transpose()
            .map_err(|error| Error::invalid(format!("the comment cannot be sent: {error}")))?;
        Ok(Envelope { collection, ordered, write_concern, comment })
    }

    pub(super) fn command(&self, command: Command, statements: RawArrayBuf) -> RawDocumentBuf {
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
pub(super) struct Reply {
    pub(super) n: u64,
    pub(super) modified: u64,
    /// The statements (by index in the command) that upserted, with the key.
    pub(super) upserted: Vec<(usize, Bson)>,
    /// The statements that failed, in index order.
    pub(super) errors: Vec<(usize, WriteError)>,
}

impl Reply {
    /// The reply's counts and write errors; a write concern error is the
    /// command's.
    pub(super) fn read(collection: &str, reply: &Document) -> Result<Self> {
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
    pub(super) fn apply<M: Model>(
        self,
        command: Command,
        ordered: bool,
        pending: Vec<(usize, Pending<M>)>,
        outcome: &mut BulkOutcome<M>,
        unsure: &mut Vec<(usize, M, Option<i64>)>,
    ) {
        let upserted = self.upserted.len() as u64;
        match command {
            // Saturating: the counts come from the server.
            Command::Insert => add(&mut outcome.counts.inserted, self.n),
            Command::Update => {
                add(&mut outcome.counts.matched, self.n.saturating_sub(upserted));
                add(&mut outcome.counts.modified, self.modified);
                add(&mut outcome.counts.upserted, upserted);
            }
            Command::Delete => add(&mut outcome.counts.deleted, self.n),
        }
        let mut errors = self.errors.into_iter().peekable();
        let mut upserts = self.upserted.into_iter().peekable();
        // Writes by key (and upserts) match one document each when applied:
        // fewer matches than those leave their replaces open.
        let mut must_match = 0;
        let mut any_many = false;
        let mut replaces = Vec::new();
        for (at, (position, pending)) in pending.into_iter().enumerate() {
            // A reply naming a statement twice: the first one counts.
            while errors.next_if(|(index, _)| *index < at).is_some() {}
            while upserts.next_if(|(index, _)| *index < at).is_some() {}
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
pub(super) fn driver_error(failure: WriteFailure) -> mongodb::error::Error {
    mongodb::error::Error::from(ErrorKind::Write(failure))
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;
    use crate::action::bulk::{BulkOutcome, WriteOutcome};

    #[derive(Debug, serde::Serialize, serde::Deserialize, model_derive::Model)]
    #[model(crate = crate, key = id, timestamps = false)]
    struct Item {
        #[serde(rename = "_id")]
        id: i64,
    }

    fn outcome(n: usize) -> BulkOutcome<Item> {
        BulkOutcome {
            writes: (0..n).map(|_| WriteOutcome::NotAttempted).collect(),
            counts: Default::default(),
            commands: 0,
        }
    }

    fn deletes(n: usize) -> Vec<(usize, Pending<Item>)> {
        (0..n).map(|at| (at + 10, Pending::Delete)).collect()
    }

    /// A reply from a server that is wrong or hostile: a statement named
    /// twice, indexes out of range or negative, counts at `i64::MAX`.
    #[test]
    fn a_hostile_reply_loses_no_error_and_panics_nowhere() {
        let error = |index: Bson, code: i32| doc! { "index": index, "code": code, "errmsg": "e" };
        let reply = doc! {
            "ok": 1,
            "n": i64::MAX,
            "writeErrors": [
                error(Bson::Int32(1), 11000),
                error(Bson::Int32(1), 11000),
                error(Bson::Int32(-1), 2),
                error(Bson::Int64(99), 2),
                error(Bson::Int32(2), 121),
            ],
        };
        let mut outcome = outcome(13);
        let mut unsure = Vec::new();
        for _ in 0..3 {
            let read = Reply::read("items", &reply).expect("readable");
            read.apply(Command::Delete, false, deletes(3), &mut outcome, &mut unsure);
        }
        assert!(matches!(outcome.writes[10], WriteOutcome::Deleted));
        assert!(matches!(outcome.writes[11], WriteOutcome::Failed(Error::Conflict { .. })));
        assert!(
            matches!(outcome.writes[12], WriteOutcome::Failed(Error::Validation { .. })),
            "the error after the duplicated one is kept: {:?}",
            outcome.writes[12]
        );
        assert_eq!(outcome.counts.deleted, u64::MAX, "saturated, not wrapped");
    }
}
