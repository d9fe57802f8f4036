//! [`Connection::migrate`]: brings a collection's `$jsonSchema` validator and
//! indexes in line with a model, changing only what differs.

use std::collections::HashSet;
use std::fmt;

use bson::{Bson, Document, doc};
use futures::TryStreamExt;
use mongodb::Database;
use mongodb::error::ErrorKind;
use mongodb::options::{Collation, ValidationAction, ValidationLevel};

use crate::schema::IndexSpec;
use crate::{Connection, Error, Model, Result};

/// The validation level migrate sets: every insert and update is checked.
const VALIDATION_LEVEL: &str = "strict";
/// The validation action migrate sets: a failing write is rejected.
const VALIDATION_ACTION: &str = "error";
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
/// `$jsonSchema` validator and the indexes.
///
/// ```
/// # use model_core::{IndexSpec, Migration};
/// let audit = Migration::new(
///     "audit",
///     bson::doc! { "bsonType": "object" },
///     vec![IndexSpec::new(bson::doc! { "at": -1 })],
/// );
/// assert_eq!(audit.indexes()[0].name, "at_-1");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Migration {
    collection: String,
    json_schema: Document,
    indexes: Vec<IndexSpec>,
    keep: Vec<String>,
}

impl Migration {
    /// The migration of model `M`: its collection, [`Model::json_schema`]
    /// and [`Model::indexes`].
    pub fn of<M: Model>() -> Self {
        Self::new(M::COLLECTION, M::json_schema(), M::indexes())
    }

    /// A migration written by hand, for a collection without a model.
    pub fn new(
        collection: impl Into<String>,
        json_schema: Document,
        indexes: Vec<IndexSpec>,
    ) -> Self {
        Migration { collection: collection.into(), json_schema, indexes, keep: Vec::new() }
    }

    /// Keeps the index named `name` though it is not declared (one a DBA
    /// added, say): migrate neither drops nor changes it. A declared index
    /// of that name is migrated as usual.
    pub fn keep_index(mut self, name: impl Into<String>) -> Self {
        self.keep.push(name.into());
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

    /// The declared indexes; every other index but `_id_` and the
    /// [kept](Self::keep_index) ones is dropped.
    pub fn indexes(&self) -> &[IndexSpec] {
        &self.indexes
    }

    fn validator(&self) -> Document {
        doc! { "$jsonSchema": self.json_schema.clone() }
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

/// What [`Connection::migrate`] changed in one collection. Its `Display` is
/// a one-line summary for a start-up log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
        if self.validator == ValidatorChange::Set {
            parts.push("validator set".to_string());
        }
        f.write_str(&parts.join(", "))
    }
}

/// What happened to a collection's validator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValidatorChange {
    /// The validator, level `strict` and action `error` were already set.
    #[default]
    Unchanged,
    /// The validator was set: on a new collection, or with `collMod`.
    Set,
}

impl Connection {
    /// Brings the collection of model `M` in line with the model, changing
    /// only what differs:
    ///
    /// 1. creates the collection if it is missing, with the `$jsonSchema`
    ///    validator ([`Model::json_schema`]), `validationLevel: strict` and
    ///    `validationAction: error`;
    /// 2. creates each declared index ([`Model::indexes`]) that is missing;
    ///    drops and creates again one whose keys (order and direction
    ///    included) or options (unique, sparse, TTL, partial filter,
    ///    collation) differ; leaves alone one that matches;
    /// 3. drops every index that is not declared, except `_id_`;
    /// 4. sets the validator with `collMod` if it, the level or the action differ.
    ///
    /// Idempotent: on an up-to-date collection it only reads
    /// (`listCollections`, `listIndexes`). Numbers are compared by value,
    /// since a server may list `1` as an int32, int64 or double.
    ///
    /// Run it at start-up, before serving: a replaced index is absent
    /// between its drop and its creation, and an undeclared index whose keys
    /// equal a declared one's is dropped before that one is created.
    /// `collMod` does not check the documents already stored.
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
    /// a view; [`Error::Conflict`] when a unique index cannot be built over
    /// duplicate values; any other driver error as [`Error::Mongo`].
    ///
    /// # Cancel safety
    /// Not cancel safe: cancelled half-way, some changes are applied and
    /// others not. Running it again completes the work.
    pub async fn migrate<M: Model>(&self) -> Result<MigrationReport> {
        self.migrate_all(&[Migration::of::<M>()]).await.map(|mut reports| reports.remove(0))
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
    /// fails on the server stops the run.
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
    /// set), from reads alone. Review it before a migration that drops
    /// indexes, or log it from a process that must not change the schema.
    ///
    /// # Errors
    /// As [`migrate_all`](Self::migrate_all), but for the errors only a
    /// write would meet (a unique index over duplicates).
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
            let report = crate::actions::bounded(
                self.timeout(),
                migration.collection(),
                apply(&db, migration, mode),
            )
            .await?;
            if mode == Mode::Plan {
                tracing::debug!(collection = %report.collection, "migration plan: {report}");
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
        None => create_collection(db, name, &validator).await?,
    };
    let current = match &options {
        Some(_) => list_indexes(db, name).await?,
        None => {
            report.collection_created = true;
            report.validator = ValidatorChange::Set;
            Vec::new()
        }
    };
    sync_indexes(db, migration, &current, &mut report, mode).await?;

    if let Some(options) = options
        && !validator_matches(&options, &validator)
    {
        if mode == Mode::Plan {
            report.validator = ValidatorChange::Set;
            return Ok(report);
        }
        db.run_command(doc! {
            "collMod": name,
            "validator": validator,
            "validationLevel": VALIDATION_LEVEL,
            "validationAction": VALIDATION_ACTION,
        })
        .await
        .map_err(fail)?;
        report.validator = ValidatorChange::Set;
    }
    Ok(report)
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

/// Creates the collection with the validator: `None` when this call created
/// it, its options when another process created it first.
async fn create_collection(
    db: &Database,
    name: &str,
    validator: &Document,
) -> Result<Option<Document>> {
    let created = db
        .create_collection(name)
        .validator(validator.clone())
        .validation_level(ValidationLevel::Strict)
        .validation_action(ValidationAction::Error)
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

/// Creates, replaces and drops indexes so that `current` becomes what
/// `migration` declares, recording each change in `report`.
async fn sync_indexes(
    db: &Database,
    migration: &Migration,
    current: &[Document],
    report: &mut MigrationReport,
    mode: Mode,
) -> Result<()> {
    let name = migration.collection();
    let fail = |error| Error::from_driver(name, error);
    let plan = plan_indexes(migration.indexes(), &migration.keep, current);
    if let Some((kept, declared)) = plan.kept_in_the_way.first() {
        return Err(Error::invalid(format!(
            "`{name}` keeps the index `{kept}`, which has the keys of the declared index `{declared}`: the server refuses two indexes on the same keys; keep one of them"
        )));
    }
    report.indexes_created = plan.created.clone();
    report.indexes_replaced = plan.replaced.clone();
    report.indexes_dropped = plan.dropped.clone();
    report.indexes_unchanged = plan.unchanged.clone();
    if mode == Mode::Plan {
        return Ok(());
    }
    let coll = db.collection::<Document>(name);
    for index in &plan.drop_first {
        drop_index(&coll, index).await.map_err(fail)?;
    }
    if !plan.create.is_empty() {
        coll.create_indexes(plan.create.iter().map(|spec| spec.to_index_model()))
            .await
            .map_err(fail)?;
    }
    for index in &plan.drop_last {
        drop_index(&coll, index).await.map_err(fail)?;
    }
    Ok(())
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
/// those migrate sets (an absent level is `strict`, an absent action `error`).
fn validator_matches(options: &Document, validator: &Document) -> bool {
    options.get_str("validationLevel").unwrap_or(VALIDATION_LEVEL) == VALIDATION_LEVEL
        && options.get_str("validationAction").unwrap_or(VALIDATION_ACTION) == VALIDATION_ACTION
        && options.get_document("validator").is_ok_and(|current| same_document(current, validator))
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
    fn the_validator_matches_only_with_level_strict_and_action_error() {
        let validator = doc! { "$jsonSchema": { "bsonType": "object", "maxProperties": 3 } };
        let options = doc! {
            "validator": { "$jsonSchema": { "bsonType": "object", "maxProperties": 3.0 } },
            "validationLevel": "strict", "validationAction": "error",
        };
        assert!(validator_matches(&options, &validator));
        let mut moderate = options.clone();
        moderate.insert("validationLevel", "moderate");
        assert!(!validator_matches(&moderate, &validator));
        let mut warn = options.clone();
        warn.insert("validationAction", "warn");
        assert!(!validator_matches(&warn, &validator));
        assert!(!validator_matches(&doc! {}, &validator));
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
