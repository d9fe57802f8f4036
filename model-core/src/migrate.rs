//! [`Connection::migrate`]: brings a collection's `$jsonSchema` validator and
//! indexes in line with a model, changing only what differs, after reading
//! what the change would do to the documents already stored.

use std::collections::HashSet;
use std::fmt;
use std::future::IntoFuture;

use bson::{Bson, Document, doc};
use futures::TryStreamExt;
use futures::future::BoxFuture;
use mongodb::Database;
use mongodb::action::Action;
use mongodb::error::ErrorKind;
use mongodb::options::{Collation, ValidationAction, ValidationLevel};
use serde::Serialize;

use crate::schema::IndexSpec;
use crate::{Connection, Error, Model, Result};

/// How many `_id`s of the stored documents a new validator rejects a
/// report names.
pub const REJECTED_IDS: usize = 5;
/// The name of the index MongoDB keeps on `_id`; never dropped.
const ID_INDEX: &str = "_id_";
/// Server code of `create` on a collection that exists.
const NAMESPACE_EXISTS: i32 = 48;
/// Server code of `dropIndexes` on an index that does not exist.
const INDEX_NOT_FOUND: i32 = 27;
/// Fields of a `listIndexes` entry that [`same_index`] compares, or that
/// carry no option (`v`, `ns`, `background`) or are set by the server itself.
const KNOWN_INDEX_FIELDS: &[&str] = &[
    "v",
    "key",
    "name",
    "ns",
    "background",
    "unique",
    "sparse",
    "expireAfterSeconds",
    "partialFilterExpression",
    "collation",
    "textIndexVersion",
    "2dsphereIndexVersion",
];

/// What [`Connection::migrate_all`] applies to one collection: a
/// `$jsonSchema` validator with its level and action, and the indexes.
///
/// ```
/// # use model_core::{IndexSpec, Migration, ValidationLevel};
/// let audit = Migration::new(
///     "audit",
///     bson::doc! { "bsonType": "object" },
///     vec![IndexSpec::new(bson::doc! { "at": -1 })],
/// )
/// .validation_level(ValidationLevel::Moderate);
/// assert_eq!(audit.indexes()[0].name, "at_-1");
/// assert_eq!(audit.level(), &ValidationLevel::Moderate);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Migration {
    collection: String,
    json_schema: Document,
    indexes: Vec<IndexSpec>,
    keep: Vec<String>,
    level: ValidationLevel,
    action: ValidationAction,
    allow_invalid_documents: bool,
}

impl Migration {
    /// The migration of model `M`: its collection, [`Model::json_schema`],
    /// [`Model::VALIDATION_LEVEL`], [`Model::VALIDATION_ACTION`] and
    /// [`Model::indexes`].
    pub fn of<M: Model>() -> Self {
        Self::new(M::COLLECTION, M::json_schema(), M::indexes())
            .validation_level(M::VALIDATION_LEVEL)
            .validation_action(M::VALIDATION_ACTION)
    }

    /// A migration written by hand, for a collection without a model;
    /// level `strict` and action `error` unless set.
    pub fn new(
        collection: impl Into<String>,
        json_schema: Document,
        indexes: Vec<IndexSpec>,
    ) -> Self {
        Migration {
            collection: collection.into(),
            json_schema,
            indexes,
            keep: Vec::new(),
            level: ValidationLevel::Strict,
            action: ValidationAction::Error,
            allow_invalid_documents: false,
        }
    }

    /// Keeps the index named `name` though it is not declared (one a DBA
    /// added, say): migrate neither drops nor changes it. A declared index
    /// of that name is migrated as usual.
    pub fn keep_index(mut self, name: impl Into<String>) -> Self {
        self.keep.push(name.into());
        self
    }

    /// Sets the `validationLevel`: which writes the validator checks.
    pub fn validation_level(mut self, level: ValidationLevel) -> Self {
        self.level = level;
        self
    }

    /// Sets the `validationAction`: what the server does with a write the
    /// validator rejects.
    pub fn validation_action(mut self, action: ValidationAction) -> Self {
        self.action = action;
        self
    }

    /// Sets the validator even when documents already stored fail it
    /// (which migrate otherwise refuses with [`Error::InvalidDocuments`]):
    /// with level `strict` and action `error`, an update of such a document
    /// then fails unless it makes the document valid.
    pub fn allow_invalid_documents(mut self) -> Self {
        self.allow_invalid_documents = true;
        self
    }

    /// The undeclared indexes kept ([`keep_index`](Self::keep_index)).
    pub fn kept_indexes(&self) -> &[String] {
        &self.keep
    }

    /// The collection migrated.
    pub fn collection(&self) -> &str {
        &self.collection
    }

    /// The `$jsonSchema` the validator is set to.
    pub fn json_schema(&self) -> &Document {
        &self.json_schema
    }

    /// The `validationLevel` set with the validator.
    pub fn level(&self) -> &ValidationLevel {
        &self.level
    }

    /// The `validationAction` set with the validator.
    pub fn action(&self) -> &ValidationAction {
        &self.action
    }

    /// Whether the validator is set though stored documents fail it
    /// ([`allow_invalid_documents`](Self::allow_invalid_documents)).
    pub fn allows_invalid_documents(&self) -> bool {
        self.allow_invalid_documents
    }

    /// The declared indexes; every other index but `_id_` and the
    /// [kept](Self::keep_index) ones is dropped.
    pub fn indexes(&self) -> &[IndexSpec] {
        &self.indexes
    }

    fn validator(&self) -> Document {
        doc! { "$jsonSchema": self.json_schema.clone() }
    }

    /// Whether stored documents that fail the validator stop the
    /// migration: unless allowed, when the server would refuse every
    /// update of one that leaves it invalid (level `strict`, action
    /// `error`). Under `moderate` such updates are not checked, under
    /// `warn` they are applied, and under `off` nothing is checked.
    fn refuses_invalid_documents(&self) -> bool {
        !self.allow_invalid_documents
            && self.level == ValidationLevel::Strict
            && self.action == ValidationAction::Error
    }

    /// Rejects declarations the server would refuse half-way through.
    fn check(&self) -> Result<()> {
        let mut names = HashSet::new();
        for index in &self.indexes {
            if index.name == ID_INDEX {
                return Err(Error::invalid(format!(
                    "`{}` declares an index named `{ID_INDEX}`, the name of the `_id` index",
                    self.collection
                )));
            }
            if !names.insert(index.name.as_str()) {
                return Err(Error::invalid(format!(
                    "`{}` declares two indexes named `{}`",
                    self.collection, index.name
                )));
            }
        }
        Ok(())
    }
}

/// What [`Connection::migrate`] changed in one collection (or, from
/// [`Connection::migration_plan`], would change), and what the documents
/// already stored say about it. Its `Display` is a one-line summary for a
/// start-up log.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct MigrationReport {
    /// The collection migrated.
    pub collection: String,
    /// The collection did not exist and was created (with the validator).
    pub collection_created: bool,
    /// Declared indexes that did not exist.
    pub indexes_created: Vec<String>,
    /// Declared indexes that existed with other keys or options: dropped
    /// and created again.
    pub indexes_replaced: Vec<String>,
    /// Indexes that existed but are not declared.
    pub indexes_dropped: Vec<String>,
    /// Declared indexes that existed as declared, left alone.
    pub indexes_unchanged: Vec<String>,
    /// Whether the validator was set.
    pub validator: ValidatorChange,
    /// The stored documents the validator being set rejects; `None` when
    /// it is not set, the collection is new, or every document passes.
    pub rejected_documents: Option<RejectedDocuments>,
    /// The unique indexes to build whose keys stored documents duplicate:
    /// the server would fail to build them. Only a plan lists them
    /// ([`migrate`](Connection::migrate) refuses with
    /// [`Error::DuplicateKeys`] instead).
    pub duplicate_keys: Vec<DuplicateKeys>,
}

impl MigrationReport {
    /// Whether the migration changed nothing.
    pub fn is_unchanged(&self) -> bool {
        !self.collection_created
            && self.indexes_created.is_empty()
            && self.indexes_replaced.is_empty()
            && self.indexes_dropped.is_empty()
            && self.validator == ValidatorChange::Unchanged
    }
}

impl fmt::Display for MigrationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.collection)?;
        if self.is_unchanged() {
            return f.write_str("unchanged");
        }
        let mut parts = Vec::new();
        if self.collection_created {
            parts.push("collection created".to_string());
        }
        for (what, names) in [
            ("created", &self.indexes_created),
            ("replaced", &self.indexes_replaced),
            ("dropped", &self.indexes_dropped),
        ] {
            if !names.is_empty() {
                parts.push(format!("indexes {what} [{}]", names.join(", ")));
            }
        }
        for duplicates in &self.duplicate_keys {
            parts.push(format!(
                "unique index {} over {} duplicated keys",
                duplicates.index, duplicates.groups
            ));
        }
        if self.validator == ValidatorChange::Set {
            match &self.rejected_documents {
                Some(rejected) => parts
                    .push(format!("validator set ({} stored documents fail it)", rejected.count)),
                None => parts.push("validator set".to_string()),
            }
        }
        f.write_str(&parts.join(", "))
    }
}

/// What happened to a collection's validator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValidatorChange {
    /// The validator, level and action were already set as declared.
    #[default]
    Unchanged,
    /// The validator, level and action were set: on a new collection, or
    /// with `collMod` because one of them differed.
    Set,
}

/// Stored documents a new validator rejects, counted before it is set
/// (`countDocuments({ $nor: [{ $jsonSchema: ... }] })`).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct RejectedDocuments {
    /// How many.
    pub count: u64,
    /// The `_id`s of the first few (at most [`REJECTED_IDS`], in `_id`
    /// order), to look at.
    pub ids: Vec<Bson>,
}

/// A unique index to build whose keys stored documents duplicate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DuplicateKeys {
    /// The index.
    pub index: String,
    /// How many key values are each stored in more than one document (the
    /// values themselves are user data, and are not read).
    pub groups: u64,
}

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

/// Whether a migration is applied or only planned.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Apply,
    Plan,
}

async fn apply(db: &Database, migration: &Migration, mode: Mode) -> Result<MigrationReport> {
    let name = migration.collection();
    let fail = |error| Error::from_driver(name, error);
    let validator = migration.validator();
    let mut report = MigrationReport { collection: name.to_string(), ..MigrationReport::default() };

    let options = match collection_options(db, name).await? {
        Some(options) => Some(options),
        None if mode == Mode::Plan => None,
        None => create_collection(db, migration).await?,
    };
    let Some(options) = options else {
        // A new collection: nothing stored to check.
        report.collection_created = true;
        report.validator = ValidatorChange::Set;
        let plan = index_plan(migration, &[])?;
        plan.report(&mut report);
        if mode == Mode::Apply {
            plan.apply(&db.collection(name)).await.map_err(fail)?;
        }
        return Ok(report);
    };
    let current = list_indexes(db, name).await?;
    let plan = index_plan(migration, &current)?;
    plan.report(&mut report);
    let set_validator = !validator_matches(&options, migration)?;

    // What the stored documents say, read before anything changes.
    let coll = db.collection::<Document>(name);
    if set_validator {
        report.validator = ValidatorChange::Set;
        report.rejected_documents =
            rejected_documents(&coll, migration.json_schema()).await.map_err(fail)?;
    }
    for spec in plan.create.iter().filter(|spec| spec.unique) {
        let groups = duplicate_groups(&coll, spec).await.map_err(fail)?;
        if groups > 0 {
            report.duplicate_keys.push(DuplicateKeys { index: spec.name.clone(), groups });
        }
    }
    if mode == Mode::Plan {
        return Ok(report);
    }
    if let Some(duplicates) = report.duplicate_keys.first() {
        return Err(Error::DuplicateKeys {
            collection: name.to_string(),
            index: duplicates.index.clone(),
            groups: duplicates.groups,
        });
    }
    if let Some(rejected) = &report.rejected_documents
        && migration.refuses_invalid_documents()
    {
        return Err(Error::InvalidDocuments {
            collection: name.to_string(),
            count: rejected.count,
            ids: rejected.ids.clone(),
        });
    }

    plan.apply(&coll).await.map_err(fail)?;
    if set_validator {
        db.run_command(doc! {
            "collMod": name,
            "validator": validator,
            "validationLevel": option_name(migration.level())?,
            "validationAction": option_name(migration.action())?,
        })
        .await
        .map_err(fail)?;
    }
    Ok(report)
}

/// The stored documents of `coll` that `json_schema` rejects, or `None`
/// when it rejects none. Reads only: a count, then the first few `_id`s.
async fn rejected_documents(
    coll: &mongodb::Collection<Document>,
    json_schema: &Document,
) -> mongodb::error::Result<Option<RejectedDocuments>> {
    let rejected = doc! { "$nor": [{ "$jsonSchema": json_schema.clone() }] };
    let count = coll.count_documents(rejected.clone()).await?;
    if count == 0 {
        return Ok(None);
    }
    let ids: Vec<Document> = coll
        .find(rejected)
        .projection(doc! { "_id": 1 })
        .sort(doc! { "_id": 1 })
        .limit(i64::try_from(REJECTED_IDS).unwrap_or(i64::MAX))
        .await?
        .try_collect()
        .await?;
    let ids = ids.into_iter().filter_map(|mut document| document.remove("_id")).collect();
    Ok(Some(RejectedDocuments { count, ids }))
}

/// How many key values of the unique index `spec` more than one stored
/// document has: the groups of an aggregation on the index's keys (the
/// documents it would index: those its partial filter matches, and under
/// `sparse` those with one of its keys at least; a missing key counts as
/// `null`, as in the index; its collation compares strings). An array is
/// compared whole, where the index compares its elements, so duplicates
/// across arrays are left to the server. Counts only: the values are user
/// data, and are never read.
async fn duplicate_groups(
    coll: &mongodb::Collection<Document>,
    spec: &IndexSpec,
) -> mongodb::error::Result<u64> {
    let mut pipeline = Vec::new();
    if let Some(filter) = &spec.partial_filter {
        pipeline.push(doc! { "$match": filter.clone() });
    }
    if spec.sparse {
        let any: Vec<Document> =
            spec.keys.keys().map(|key| doc! { key: { "$exists": true } }).collect();
        pipeline.push(doc! { "$match": { "$or": any } });
    }
    // Positional names: a key's path may hold dots, which a field of the
    // group's `_id` may not.
    let mut group = Document::new();
    for (i, key) in spec.keys.keys().enumerate() {
        group.insert(format!("k{i}"), doc! { "$ifNull": [format!("${key}"), Bson::Null] });
    }
    pipeline.push(doc! { "$group": { "_id": group, "n": { "$sum": 1 } } });
    pipeline.push(doc! { "$match": { "n": { "$gt": 1 } } });
    pipeline.push(doc! { "$count": "groups" });
    let mut cursor = coll
        .aggregate(pipeline)
        .optional(spec.collation.clone(), |aggregate, collation| aggregate.collation(collation))
        .await?;
    let groups = cursor.try_next().await?.and_then(|counted| integer(counted.get("groups")?));
    Ok(groups.and_then(|groups| u64::try_from(groups).ok()).unwrap_or(0))
}

/// The name the server lists a level or an action by (`"strict"`, `"warn"`).
fn option_name(value: &impl Serialize) -> Result<String> {
    match bson::to_bson(value)? {
        Bson::String(name) => Ok(name),
        other => Err(Error::invalid(format!("not a validation option: {other}"))),
    }
}

/// The `options` of collection `name` from `listCollections`, or `None`
/// when it does not exist.
async fn collection_options(db: &Database, name: &str) -> Result<Option<Document>> {
    let fail = |error| Error::from_driver(name, error);
    let mut cursor = db
        .run_cursor_command(doc! { "listCollections": 1, "filter": { "name": name } })
        .await
        .map_err(fail)?;
    let Some(info) = cursor.try_next().await.map_err(fail)? else {
        return Ok(None);
    };
    match info.get_str("type") {
        Ok("collection") | Err(_) => {}
        Ok(other) => {
            return Err(Error::invalid(format!(
                "`{name}` is a {other}, not a collection: migrate cannot set its validator and indexes"
            )));
        }
    }
    Ok(Some(info.get_document("options").cloned().unwrap_or_default()))
}

/// Creates the collection with the validator, its level and its action:
/// `None` when this call created it, its options when another process
/// created it first.
async fn create_collection(db: &Database, migration: &Migration) -> Result<Option<Document>> {
    let name = migration.collection();
    let created = db
        .create_collection(name)
        .validator(migration.validator())
        .validation_level(migration.level().clone())
        .validation_action(migration.action().clone())
        .await;
    match created {
        Ok(()) => Ok(None),
        Err(error) if command_code(&error) == Some(NAMESPACE_EXISTS) => {
            match collection_options(db, name).await? {
                Some(options) => Ok(Some(options)),
                None => Err(Error::from_driver(name, error)),
            }
        }
        Err(error) => Err(Error::from_driver(name, error)),
    }
}

/// Every index of collection `name` but `_id_`, as `listIndexes` lists it.
async fn list_indexes(db: &Database, name: &str) -> Result<Vec<Document>> {
    let fail = |error| Error::from_driver(name, error);
    let indexes: Vec<Document> = db
        .run_cursor_command(doc! { "listIndexes": name })
        .await
        .map_err(fail)?
        .try_collect()
        .await
        .map_err(fail)?;
    Ok(indexes.into_iter().filter(|index| index.get_str("name") != Ok(ID_INDEX)).collect())
}

/// What to do to the indexes so that `current` becomes what `migration`
/// declares.
///
/// # Errors
/// [`Error::InvalidArgument`] when a kept index has the keys of a
/// declared one to create: the server refuses two indexes on the same keys.
fn index_plan<'a>(migration: &'a Migration, current: &[Document]) -> Result<IndexPlan<'a>> {
    let plan = plan_indexes(migration.indexes(), &migration.keep, current);
    if let Some((kept, declared)) = plan.kept_in_the_way.first() {
        return Err(Error::invalid(format!(
            "`{}` keeps the index `{kept}`, which has the keys of the declared index `{declared}`: the server refuses two indexes on the same keys; keep one of them",
            migration.collection()
        )));
    }
    Ok(plan)
}

impl IndexPlan<'_> {
    /// Records the changes in `report`.
    fn report(&self, report: &mut MigrationReport) {
        report.indexes_created = self.created.clone();
        report.indexes_replaced = self.replaced.clone();
        report.indexes_dropped = self.dropped.clone();
        report.indexes_unchanged = self.unchanged.clone();
    }

    /// Drops, creates and drops again, in that order.
    async fn apply(&self, coll: &mongodb::Collection<Document>) -> mongodb::error::Result<()> {
        for index in &self.drop_first {
            drop_index(coll, index).await?;
        }
        if !self.create.is_empty() {
            coll.create_indexes(self.create.iter().map(|spec| spec.to_index_model())).await?;
        }
        for index in &self.drop_last {
            drop_index(coll, index).await?;
        }
        Ok(())
    }
}

async fn drop_index(
    coll: &mongodb::Collection<Document>,
    index: &str,
) -> mongodb::error::Result<()> {
    match coll.drop_index(index).await {
        Err(error) if command_code(&error) == Some(INDEX_NOT_FOUND) => Ok(()),
        other => other,
    }
}

/// What to do to the indexes, in order: drop `drop_first`, create
/// `create`, drop `drop_last`.
#[derive(Debug, Default, PartialEq)]
struct IndexPlan<'a> {
    /// Replaced indexes, and undeclared ones whose keys equal those of an
    /// index to create (the server refuses two indexes on the same keys).
    drop_first: Vec<String>,
    create: Vec<&'a IndexSpec>,
    /// Undeclared indexes, dropped once their replacements exist.
    drop_last: Vec<String>,
    created: Vec<String>,
    replaced: Vec<String>,
    dropped: Vec<String>,
    unchanged: Vec<String>,
    /// Kept indexes with the keys of a declared index to create: (kept,
    /// declared).
    kept_in_the_way: Vec<(String, String)>,
}

fn plan_indexes<'a>(
    declared: &'a [IndexSpec],
    keep: &[String],
    current: &[Document],
) -> IndexPlan<'a> {
    let mut plan = IndexPlan::default();
    for spec in declared {
        match current.iter().find(|index| index.get_str("name") == Ok(&spec.name)) {
            None => {
                plan.create.push(spec);
                plan.created.push(spec.name.clone());
            }
            Some(index) if same_index(spec, index) => plan.unchanged.push(spec.name.clone()),
            Some(_) => {
                plan.drop_first.push(spec.name.clone());
                plan.create.push(spec);
                plan.replaced.push(spec.name.clone());
            }
        }
    }
    for index in current {
        let Ok(name) = index.get_str("name") else {
            continue;
        };
        if name == ID_INDEX || declared.iter().any(|spec| spec.name == name) {
            continue;
        }
        let collides_with = index.get_document("key").ok().and_then(|keys| {
            plan.create.iter().find(|spec| same_document(&spec.keys, keys)).map(|s| &s.name)
        });
        if keep.iter().any(|kept| kept == name) {
            if let Some(declared) = collides_with {
                plan.kept_in_the_way.push((name.to_string(), declared.clone()));
            }
            continue;
        }
        let collides = collides_with.is_some();
        if collides {
            plan.drop_first.push(name.to_string());
        } else {
            plan.drop_last.push(name.to_string());
        }
        plan.dropped.push(name.to_string());
    }
    plan
}

/// Whether the index `listIndexes` lists as `existing` is the one `spec`
/// declares: same keys in the same order and direction, same options, and
/// no option `spec` cannot express (for example `hidden: true`).
fn same_index(spec: &IndexSpec, existing: &Document) -> bool {
    let keys = existing.get_document("key").is_ok_and(|keys| same_document(keys, &spec.keys));
    let ttl = match (existing.get("expireAfterSeconds"), spec.expire_after) {
        (None, None) => true,
        (Some(seconds), Some(after)) => {
            i64::try_from(after.as_secs()).is_ok_and(|s| same_value(seconds, &Bson::Int64(s)))
        }
        _ => false,
    };
    let partial =
        match (existing.get_document("partialFilterExpression").ok(), &spec.partial_filter) {
            (None, None) => true,
            (Some(existing), Some(declared)) => same_document(existing, declared),
            _ => false,
        };
    let collation = match (existing.get_document("collation").ok(), &spec.collation) {
        (None, None) => true,
        (Some(existing), Some(declared)) => collation_matches(declared, existing),
        _ => false,
    };
    let no_other_options = existing.iter().all(|(field, value)| {
        KNOWN_INDEX_FIELDS.contains(&field.as_str()) || (field == "hidden" && !truthy(Some(value)))
    });
    keys && ttl
        && partial
        && collation
        && no_other_options
        && truthy(existing.get("unique")) == spec.unique
        && truthy(existing.get("sparse")) == spec.sparse
}

/// Whether every field `declared` sets has the same value in the server's
/// collation. MongoDB lists a collation with every field filled in (and an
/// ICU `version`), so the fields a declaration leaves out cannot be compared.
fn collation_matches(declared: &Collation, existing: &Document) -> bool {
    bson::to_document(declared).is_ok_and(|declared| {
        declared
            .iter()
            .all(|(field, value)| existing.get(field).is_some_and(|v| same_value(v, value)))
    })
}

/// Whether the validator, level and action in collection `options` are
/// those `migration` sets (an absent level is `strict`, an absent action
/// `error`).
fn validator_matches(options: &Document, migration: &Migration) -> Result<bool> {
    let level = option_name(migration.level())?;
    let action = option_name(migration.action())?;
    Ok(options.get_str("validationLevel").unwrap_or("strict") == level
        && options.get_str("validationAction").unwrap_or("error") == action
        && options
            .get_document("validator")
            .is_ok_and(|current| same_document(current, &migration.validator())))
}

/// Whether two documents have the same fields in the same order with
/// [`same_value`]s.
fn same_document(a: &Document, b: &Document) -> bool {
    a.len() == b.len()
        && a.iter().zip(b.iter()).all(|((ka, va), (kb, vb))| ka == kb && same_value(va, vb))
}

/// BSON equality with numbers compared by value: `1`, `1i64` and `1.0` are
/// the same direction, TTL or bound.
fn same_value(a: &Bson, b: &Bson) -> bool {
    match (a, b) {
        (Bson::Document(a), Bson::Document(b)) => same_document(a, b),
        (Bson::Array(a), Bson::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_value(a, b))
        }
        _ => match ((integer(a), integer(b)), (float(a), float(b))) {
            ((Some(x), Some(y)), _) => x == y,
            (_, (Some(x), Some(y))) => x == y,
            _ => a == b,
        },
    }
}

fn integer(value: &Bson) -> Option<i64> {
    match value {
        Bson::Int32(v) => Some(i64::from(*v)),
        Bson::Int64(v) => Some(*v),
        _ => None,
    }
}

#[allow(clippy::cast_precision_loss)] // only compared with a double
fn float(value: &Bson) -> Option<f64> {
    match value {
        Bson::Int32(v) => Some(f64::from(*v)),
        Bson::Int64(v) => Some(*v as f64),
        Bson::Double(v) => Some(*v),
        _ => None,
    }
}

/// An index flag as the server means it: absent, `null`, `false` and `0` are off.
fn truthy(value: Option<&Bson>) -> bool {
    match value {
        None | Some(Bson::Null) | Some(Bson::Boolean(false)) => false,
        Some(value) => float(value).is_none_or(|v| v != 0.0),
    }
}

/// The server's error code of a command error.
fn command_code(error: &mongodb::error::Error) -> Option<i32> {
    match error.kind.as_ref() {
        ErrorKind::Command(e) => Some(e.code),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bson::{Bson, doc};
    use mongodb::options::{Collation, CollationStrength};

    use super::*;

    fn spec() -> IndexSpec {
        IndexSpec::new(doc! { "a": 1, "b": -1 })
            .unique(true)
            .expire_after(Duration::from_secs(60))
            .partial_filter(doc! { "a": { "$gt": 5 } })
    }

    #[test]
    fn an_index_listed_with_other_number_types_is_the_same() {
        let listed = doc! {
            "v": 2, "key": { "a": 1.0, "b": Bson::Int64(-1) }, "name": "a_1_b_-1",
            "unique": true, "expireAfterSeconds": 60.0,
            "partialFilterExpression": { "a": { "$gt": Bson::Int64(5) } },
        };
        assert!(same_index(&spec(), &listed));
    }

    #[test]
    fn key_order_direction_and_each_option_make_an_index_different() {
        let listed = doc! {
            "v": 2, "key": { "a": 1, "b": -1 }, "name": "a_1_b_-1", "unique": true,
            "expireAfterSeconds": 60, "partialFilterExpression": { "a": { "$gt": 5 } },
        };
        assert!(same_index(&spec(), &listed));
        let changes: [(&str, Bson); 7] = [
            ("key", doc! { "b": -1, "a": 1 }.into()),
            ("key", doc! { "a": 1, "b": 1 }.into()),
            ("unique", false.into()),
            ("expireAfterSeconds", 61.into()),
            ("partialFilterExpression", doc! { "a": { "$gte": 5 } }.into()),
            ("sparse", true.into()),
            ("hidden", true.into()),
        ];
        for (field, value) in changes {
            let mut changed = listed.clone();
            changed.insert(field, value.clone());
            assert!(!same_index(&spec(), &changed), "{field}: {value}");
        }
        let mut without_ttl = listed.clone();
        without_ttl.remove("expireAfterSeconds");
        assert!(!same_index(&spec(), &without_ttl));
    }

    #[test]
    fn a_collation_matches_by_the_fields_declared() {
        let declared =
            Collation::builder().locale("en").strength(CollationStrength::Secondary).build();
        let spec = IndexSpec::new(doc! { "s": 1 }).collation(declared);
        let listed = |collation: Document| doc! { "v": 2, "key": { "s": 1 }, "name": "s_1", "collation": collation };
        let expanded = doc! {
            "locale": "en", "caseLevel": false, "caseFirst": "off", "strength": 2,
            "numericOrdering": false, "alternate": "non-ignorable", "maxVariable": "punct",
            "normalization": false, "backwards": false, "version": "57.1",
        };
        assert!(same_index(&spec, &listed(expanded)));
        assert!(!same_index(&spec, &listed(doc! { "locale": "en", "strength": 3 })));
        assert!(!same_index(&spec, &doc! { "v": 2, "key": { "s": 1 }, "name": "s_1" }));
    }

    #[test]
    fn the_plan_keeps_replaces_creates_and_drops() {
        let declared = vec![
            IndexSpec::new(doc! { "kept": 1 }),
            IndexSpec::new(doc! { "changed": 1 }).unique(true),
            IndexSpec::new(doc! { "new": 1 }),
        ];
        let current = vec![
            doc! { "v": 2, "key": { "kept": 1 }, "name": "kept_1" },
            doc! { "v": 2, "key": { "changed": 1 }, "name": "changed_1" },
            doc! { "v": 2, "key": { "new": 1 }, "name": "by_new" },
            doc! { "v": 2, "key": { "other": 1 }, "name": "other_1" },
        ];
        let plan = plan_indexes(&declared, &[], &current);
        assert_eq!(plan.unchanged, ["kept_1"]);
        assert_eq!(plan.replaced, ["changed_1"]);
        assert_eq!(plan.created, ["new_1"]);
        assert_eq!(plan.dropped, ["by_new", "other_1"]);
        // `by_new` has the keys of `new_1`: it must go before `new_1` is created.
        assert_eq!(plan.drop_first, ["changed_1", "by_new"]);
        assert_eq!(plan.drop_last, ["other_1"]);
        let created: Vec<&str> = plan.create.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(created, ["changed_1", "new_1"]);
    }

    #[test]
    fn the_validator_matches_only_with_the_declared_level_and_action() {
        let schema = doc! { "bsonType": "object", "maxProperties": 3 };
        let migration = Migration::new("c", schema, Vec::new());
        let options = doc! {
            "validator": { "$jsonSchema": { "bsonType": "object", "maxProperties": 3.0 } },
            "validationLevel": "strict", "validationAction": "error",
        };
        assert!(validator_matches(&options, &migration).unwrap());
        let mut moderate = options.clone();
        moderate.insert("validationLevel", "moderate");
        assert!(!validator_matches(&moderate, &migration).unwrap());
        let mut warn = options.clone();
        warn.insert("validationAction", "warn");
        assert!(!validator_matches(&warn, &migration).unwrap());
        assert!(!validator_matches(&doc! {}, &migration).unwrap());

        let declared = migration
            .validation_level(ValidationLevel::Moderate)
            .validation_action(ValidationAction::Warn);
        assert!(!validator_matches(&options, &declared).unwrap());
        let mut both = moderate.clone();
        both.insert("validationAction", "warn");
        assert!(validator_matches(&both, &declared).unwrap());
    }

    #[test]
    fn invalid_stored_documents_stop_only_a_strict_erroring_validator_not_allowed() {
        let strict = Migration::new("c", doc! {}, Vec::new());
        assert!(strict.refuses_invalid_documents());
        assert!(!strict.clone().allow_invalid_documents().refuses_invalid_documents());
        let moderate = strict.clone().validation_level(ValidationLevel::Moderate);
        assert!(!moderate.refuses_invalid_documents());
        let off = strict.clone().validation_level(ValidationLevel::Off);
        assert!(!off.refuses_invalid_documents());
        assert!(!strict.validation_action(ValidationAction::Warn).refuses_invalid_documents());
    }

    #[test]
    fn duplicate_or_reserved_index_names_are_rejected() {
        let twice = Migration::new(
            "c",
            doc! {},
            vec![IndexSpec::new(doc! { "a": 1 }), IndexSpec::new(doc! { "a": 1 })],
        );
        assert!(matches!(twice.check(), Err(Error::InvalidArgument { .. })));
        let id = Migration::new("c", doc! {}, vec![IndexSpec::new(doc! { "a": 1 }).name("_id_")]);
        assert!(matches!(id.check(), Err(Error::InvalidArgument { .. })));
    }
}
