//! [`Connection::migrate`]: brings a collection's `$jsonSchema` validator and
//! indexes in line with a model, changing only what differs, after reading
//! what the change would do to the documents already stored.

use std::collections::HashSet;
use std::future::IntoFuture;

use futures::future::BoxFuture;

use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::model::Model;

mod apply;
mod indexes;
mod migration;
mod report;
#[cfg(test)]
mod tests;

use apply::{Mode, apply};
pub use migration::{Migration, REJECTED_IDS};
pub use report::{DuplicateKeys, MigrationReport, RejectedDocuments, ValidatorChange};

/// What [`Connection::migrate`] returns: the migration of one model, run
/// with `.await` (which gives its [`MigrationReport`]).
///
/// ```no_run
/// # use model_core::{Connection, Model};
/// # async fn demo<Order: Model>(conn: Connection) -> model_core::Result<()> {
/// // A stricter validator that some stored orders fail, set knowingly.
/// let report = conn.migrate::<Order>().allow_invalid_documents().await?;
/// if let Some(rejected) = &report.rejected_documents {
///     println!("{} orders to fix, among them {:?}", rejected.count, rejected.ids);
/// }
/// # Ok(()) }
/// ```
///
/// # Cancel safety
/// As [`Connection::migrate`]: not cancel safe.
#[must_use = "a migration does nothing until awaited"]
pub struct Migrate<'a> {
    conn: &'a Connection,
    migration: Migration,
}

impl Migrate<'_> {
    /// Sets the validator even when documents already stored fail it; see
    /// [`Migration::allow_invalid_documents`].
    pub fn allow_invalid_documents(mut self) -> Self {
        self.migration = self.migration.allow_invalid_documents();
        self
    }
}

impl<'a> IntoFuture for Migrate<'a> {
    type Output = Result<MigrationReport>;
    type IntoFuture = BoxFuture<'a, Result<MigrationReport>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let reports = self.conn.migrate_all(std::slice::from_ref(&self.migration)).await?;
            // `migrate_all` returns one report per migration given.
            reports.into_iter().next().ok_or_else(|| {
                Error::invalid(format!("no report for `{}`", self.migration.collection()))
            })
        })
    }
}

impl Connection {
    /// Brings the collection of model `M` in line with the model, changing
    /// only what differs, and nothing that the documents already stored
    /// would fail:
    ///
    /// 1. creates the collection if it is missing, with the `$jsonSchema`
    ///    validator ([`Model::json_schema`]) and the model's
    ///    `validationLevel` and `validationAction`
    ///    ([`Model::VALIDATION_LEVEL`], [`Model::VALIDATION_ACTION`]:
    ///    `strict` and `error` unless declared);
    /// 2. creates each declared index ([`Model::indexes`]) that is missing;
    ///    drops and creates again one whose keys (order and direction
    ///    included) or options (unique, sparse, TTL, partial filter,
    ///    collation) differ; leaves alone one that matches;
    /// 3. drops every index that is not declared, except `_id_`;
    /// 4. sets the validator with `collMod` if it, the level or the action differ.
    ///
    /// Before changing an existing collection it reads what the stored
    /// documents say: how many the new validator rejects
    /// ([`MigrationReport::rejected_documents`]) and whether a unique index
    /// to build has duplicated keys. It refuses, changing nothing, a
    /// unique index over duplicates ([`Error::DuplicateKeys`]) and, under
    /// level `strict` and action `error`, a validator that stored documents
    /// fail ([`Error::InvalidDocuments`]: every later update of one that
    /// does not fix it would fail), unless told
    /// ([`allow_invalid_documents`](Migrate::allow_invalid_documents)).
    /// Under `moderate` or `warn` it sets the validator and reports the
    /// count. These checks read the documents as they are: a write between
    /// them and the change is not seen.
    ///
    /// Idempotent: on an up-to-date collection it only reads
    /// (`listCollections`, `listIndexes`). Numbers are compared by value,
    /// since a server may list `1` as an int32, int64 or double.
    ///
    /// Run it at start-up, before serving: a replaced index is absent
    /// between its drop and its creation, and an undeclared index whose keys
    /// equal a declared one's is dropped before that one is created.
    ///
    /// ```no_run
    /// # use model_core::{Connection, Model};
    /// # async fn demo<Foo: Model>(conn: Connection) -> model_core::Result<()> {
    /// let report = conn.migrate::<Foo>().await?;
    /// println!("{report}"); // "foos: collection created, indexes created [foo_1], validator set"
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] before anything is sent when two declared
    /// indexes share a name or one is named `_id_`, or when the collection is
    /// a view; [`Error::InvalidDocuments`] and [`Error::DuplicateKeys`] as
    /// above, with nothing changed; [`Error::Conflict`] when duplicates
    /// written after the check stop a unique index's build; any other
    /// driver error as [`Error::Mongo`].
    ///
    /// # Cancel safety
    /// Not cancel safe: cancelled half-way, some changes are applied and
    /// others not. Running it again completes the work.
    pub fn migrate<M: Model>(&self) -> Migrate<'_> {
        Migrate { conn: self, migration: Migration::of::<M>() }
    }

    /// [`migrate`](Self::migrate) for several collections, in order; a
    /// report per migration.
    ///
    /// ```no_run
    /// # use model_core::{Connection, Migration, Model};
    /// # async fn demo<Foo: Model, Bar: Model>(conn: Connection) -> model_core::Result<()> {
    /// for report in conn
    ///     .migrate_all(&[Migration::of::<Foo>(), Migration::of::<Bar>()])
    ///     .await?
    /// {
    ///     println!("{report}");
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`migrate`](Self::migrate), plus [`Error::InvalidArgument`] when two
    /// migrations are for the same collection (they would undo each other).
    /// Every migration is checked before anything is sent; the first that
    /// fails on the server, or that stored documents would fail, stops the
    /// run (the collections before it are migrated).
    ///
    /// With [`with_timeout`](Self::with_timeout), each migration is bounded
    /// by the timeout as a whole ([`Error::Timeout`]).
    ///
    /// # Cancel safety
    /// As [`migrate`](Self::migrate).
    pub async fn migrate_all(&self, migrations: &[Migration]) -> Result<Vec<MigrationReport>> {
        let reports = self.run_migrations(migrations, Mode::Apply).await;
        // Indexes may have changed: keyset pages list them again.
        for migration in migrations {
            self.forget_indexes(migration.collection());
        }
        reports
    }

    /// What [`migrate_all`](Self::migrate_all) would change, changing
    /// nothing: the reports it would return (collections it would create,
    /// indexes it would create, replace and drop, the validator it would
    /// set), with what the stored documents say about the changes: how
    /// many the new validator rejects and which unique indexes duplicates
    /// would stop ([`MigrationReport::duplicate_keys`]). From reads alone
    /// (`listCollections`, `listIndexes`, and `aggregate` and `find` for
    /// the stored documents). Review it before a migration that drops
    /// indexes or tightens the validator, or log it from a process that
    /// must not change the schema.
    ///
    /// # Errors
    /// As [`migrate_all`](Self::migrate_all), but for the errors only a
    /// write would meet, and for [`Error::InvalidDocuments`] and
    /// [`Error::DuplicateKeys`]: the report says what they would say.
    ///
    /// # Cancel safety
    /// Cancel safe: it only reads.
    pub async fn migration_plan(&self, migrations: &[Migration]) -> Result<Vec<MigrationReport>> {
        self.run_migrations(migrations, Mode::Plan).await
    }

    async fn run_migrations(
        &self,
        migrations: &[Migration],
        mode: Mode,
    ) -> Result<Vec<MigrationReport>> {
        let mut collections = HashSet::new();
        for migration in migrations {
            migration.check()?;
            if !collections.insert(migration.collection()) {
                return Err(Error::invalid(format!(
                    "two migrations for `{}`: they would undo each other",
                    migration.collection()
                )));
            }
        }
        let db = self.database().await?;
        let mut reports = Vec::with_capacity(migrations.len());
        for migration in migrations {
            // Each migration is bounded by the connection's timeout as a whole.
            let report = crate::run::bounded(
                self.timeout(),
                migration.collection(),
                apply(&db, migration, mode),
            )
            .await?;
            if mode == Mode::Plan {
                tracing::debug!(collection = %report.collection, "migration plan: {report}");
            } else if let Some(rejected) = &report.rejected_documents {
                // Set anyway (allowed, or a lenient level or action): say so loudly.
                tracing::warn!(
                    collection = %report.collection,
                    rejected = rejected.count,
                    "migrate: {report}; the stored documents that fail the validator stay as they are"
                );
            } else if report.is_unchanged() {
                tracing::debug!(collection = %report.collection, "migrate: unchanged");
            } else {
                tracing::info!(collection = %report.collection, "migrate: {report}");
            }
            reports.push(report);
        }
        Ok(reports)
    }
}
