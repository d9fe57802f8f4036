//! One migration, applied or planned: read the collection's options,
//! indexes and stored documents, then change what differs.

use bson::{Bson, Document, doc};
use futures::TryStreamExt;
use mongodb::Database;
use mongodb::action::Action;

use crate::error::{Error, Result};
use crate::schema::IndexSpec;

use super::indexes::{command_code, index_plan, integer, option_name, validator_matches};
use super::migration::{ID_INDEX, Migration, NAMESPACE_EXISTS, REJECTED_IDS};
use super::report::{DuplicateKeys, MigrationReport, RejectedDocuments, ValidatorChange};

/// Whether a migration is applied or only planned.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Changes what differs.
    Apply,
    /// Reports what would change, changing nothing.
    Plan,
}

pub(super) async fn apply(
    db: &Database,
    migration: &Migration,
    mode: Mode,
) -> Result<MigrationReport> {
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
