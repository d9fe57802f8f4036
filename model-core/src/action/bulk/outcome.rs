//! What a bulk write reports: an outcome per write, the server's counts,
//! and its progress.

use crate::error::Error;
use crate::model::Model;

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
    /// [`Error::InvalidArgument`], a broken constraint as
    /// [`Error::Validation`]). Nothing of it was written, but for an
    /// upsert whose key, sent back by the server, does not decode
    /// ([`Error::Deserialize`]): that one inserted its document.
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
    pub(super) writes: Vec<WriteOutcome<M>>,
    pub(super) counts: Counts,
    pub(super) commands: usize,
}

/// The server's counts over every command of a bulk write.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Counts {
    pub(super) inserted: u64,
    pub(super) matched: u64,
    pub(super) modified: u64,
    pub(super) upserted: u64,
    pub(super) deleted: u64,
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

pub(super) type ProgressCallback<'a> = Box<dyn FnMut(BulkProgress) + Send + 'a>;
