//! The changelog: one record per step (its state, checksum, runner and
//! times by the server's clock) and an append-only history of every
//! attempt. Written with update pipelines so the times are `$$NOW`.

use bson::{DateTime, Document, doc, oid::ObjectId};
use mongodb::{ClientSession, Collection};
use serde::{Deserialize, Serialize};

/// The default changelog collection.
pub const CHANGELOG: &str = "migrations";

/// Where a step stands in the changelog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum StepState {
    /// Started and not finished: running now, or its runner died or lost
    /// its lease mid-step.
    Applying,
    /// Finished; recorded under the run's lease.
    Applied,
    /// Its body returned an error.
    Failed,
    /// Left `applying` or `failed`, then resolved to run again: the next
    /// run runs it, resuming its backfill where it stopped.
    Retry,
}

impl StepState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            StepState::Applying => "applying",
            StepState::Applied => "applied",
            StepState::Failed => "failed",
            StepState::Retry => "retry",
        }
    }
}

/// A step's record in the changelog collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StepRecord {
    /// The step's name.
    #[serde(rename = "_id")]
    pub step: String,
    /// The checksum of the definition that was run (16 hex digits).
    pub checksum: String,
    /// Where it stands.
    pub state: StepState,
    /// Its position in the step list when it was started.
    pub seq: i64,
    /// The lease owner of the run that last started or resolved it.
    pub runner: String,
    /// That run's fencing token.
    #[serde(default)]
    pub token: i64,
    /// When it was (last) started, by the server's clock.
    pub started_at: DateTime,
    /// When it was applied or failed, by the server's clock.
    #[serde(default)]
    pub ended_at: Option<DateTime>,
    /// How far each backfill of the step (`StepContext::rewrite`, by the
    /// order the body calls them: `"0"`, `"1"`, ...) has gone.
    #[serde(default)]
    pub progress: std::collections::BTreeMap<String, BackfillProgress>,
    /// The error of a failed step, as its `Display` printed it.
    #[serde(default)]
    pub error: Option<String>,
}

/// How far one backfill of a step has gone, kept in its record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BackfillProgress {
    /// Where to continue: the key of the last document done, as stored.
    #[serde(default)]
    pub after: Option<bson::Bson>,
    /// Documents read so far.
    #[serde(default)]
    pub done: i64,
    /// Whether it read every document: a rerun skips it.
    #[serde(default)]
    pub finished: bool,
}

/// The changelog's collections.
#[derive(Clone)]
pub(crate) struct Changelog {
    pub(crate) records: Collection<Document>,
    pub(crate) history: Collection<Document>,
}

impl Changelog {
    pub(crate) fn new(db: &mongodb::Database, name: &str) -> Self {
        Changelog {
            records: db.collection(name),
            history: db.collection(&format!("{name}_history")),
        }
    }

    /// Every record, by step name.
    pub(crate) async fn read(
        &self,
    ) -> mongodb::error::Result<std::collections::HashMap<String, StepRecord>> {
        use futures::TryStreamExt;
        let mut cursor = self.records.clone_with_type::<StepRecord>().find(doc! {}).await?;
        let mut records = std::collections::HashMap::new();
        while let Some(record) = cursor.try_next().await? {
            records.insert(record.step.clone(), record);
        }
        Ok(records)
    }

    /// Records `step` as `applying` for `runner` (keeping a backfill's
    /// progress), in `session`.
    pub(crate) async fn begin(
        &self,
        session: &mut ClientSession,
        step: &str,
        checksum: &str,
        seq: i64,
        runner: (&str, i64),
    ) -> mongodb::error::Result<()> {
        let set = doc! { "$set": {
            "checksum": checksum,
            "state": StepState::Applying.as_str(),
            "seq": seq,
            "runner": { "$literal": runner.0 },
            "token": runner.1,
            "started_at": "$$NOW",
        } };
        let update = vec![set, doc! { "$unset": ["ended_at", "error"] }];
        self.records
            .update_one(doc! { "_id": step }, update)
            .upsert(true)
            .session(session)
            .await
            .map(|_| ())
    }

    /// Records `step` as ended in `state` (applied or failed), in
    /// `session`; `false` when the record is not `runner`'s any more.
    pub(crate) async fn end(
        &self,
        session: &mut ClientSession,
        step: &str,
        runner: &str,
        state: StepState,
        error: Option<String>,
    ) -> mongodb::error::Result<bool> {
        let mut set = doc! { "state": state.as_str(), "ended_at": "$$NOW" };
        if let Some(error) = error {
            set.insert("error", doc! { "$literal": error });
        }
        let done = self
            .records
            .update_one(doc! { "_id": step, "runner": runner }, vec![doc! { "$set": set }])
            .session(session)
            .await?;
        Ok(done.matched_count == 1)
    }

    /// Sets the checksum (and, with `applied`, the state) of `step`'s record.
    pub(crate) async fn amend(
        &self,
        session: &mut ClientSession,
        step: &str,
        checksum: &str,
        runner: (&str, i64),
        applied: bool,
    ) -> mongodb::error::Result<bool> {
        let mut set =
            doc! { "checksum": checksum, "runner": { "$literal": runner.0 }, "token": runner.1 };
        if applied {
            set.insert("state", StepState::Applied.as_str());
            set.insert("ended_at", "$$NOW");
        }
        let done = self
            .records
            .update_one(doc! { "_id": step }, vec![doc! { "$set": set }])
            .session(session)
            .await?;
        Ok(done.matched_count == 1)
    }

    /// Marks `step` to run again (a crashed step resolved so), keeping
    /// its backfill's progress.
    pub(crate) async fn retry(
        &self,
        session: &mut ClientSession,
        step: &str,
        runner: (&str, i64),
    ) -> mongodb::error::Result<()> {
        let set = doc! { "$set": {
            "state": StepState::Retry.as_str(),
            "runner": { "$literal": runner.0 },
            "token": runner.1,
        } };
        self.records.update_one(doc! { "_id": step }, vec![set]).session(session).await.map(|_| ())
    }

    /// The progress of backfill `index` of `step`. Only while the record
    /// is still `runner`'s.
    pub(crate) async fn progress(
        &self,
        step: &str,
        runner: &str,
        index: usize,
        progress: &BackfillProgress,
    ) -> mongodb::error::Result<()> {
        let progress = bson::to_bson(progress).map_err(mongodb::error::Error::custom)?;
        let update = doc! { "$set": { format!("progress.{index}"): progress } };
        self.records.update_one(doc! { "_id": step, "runner": runner }, update).await.map(|_| ())
    }

    /// Clears `step`'s backfill progress (a step resolved to restart).
    pub(crate) async fn restart(
        &self,
        session: &mut ClientSession,
        step: &str,
    ) -> mongodb::error::Result<()> {
        self.records
            .update_one(doc! { "_id": step }, doc! { "$unset": { "progress": "" } })
            .session(session)
            .await
            .map(|_| ())
    }

    /// Appends an event to the history (never updated, never removed).
    pub(crate) async fn log(
        &self,
        session: Option<&mut ClientSession>,
        step: &str,
        event: &str,
        checksum: &str,
        runner: (&str, i64),
        error: Option<String>,
    ) -> mongodb::error::Result<()> {
        let mut entry = doc! {
            "step": { "$literal": step },
            "event": event,
            "checksum": checksum,
            "runner": { "$literal": runner.0 },
            "token": runner.1,
            "at": "$$NOW",
        };
        if let Some(error) = error {
            entry.insert("error", doc! { "$literal": error });
        }
        let action = self
            .history
            .update_one(doc! { "_id": ObjectId::new() }, vec![doc! { "$set": entry }])
            .upsert(true);
        match session {
            Some(session) => action.session(session).await.map(|_| ()),
            None => action.await.map(|_| ()),
        }
    }
}
