//! The index plan: which declared indexes exist as declared, which to
//! create, replace or drop, and how the server's listing compares with a
//! declaration.

use bson::{Bson, Document};
use mongodb::error::ErrorKind;
use mongodb::options::Collation;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::schema::IndexSpec;

use super::migration::{ID_INDEX, INDEX_NOT_FOUND, KNOWN_INDEX_FIELDS, Migration};
use super::report::MigrationReport;

/// What to do to the indexes so that `current` becomes what `migration`
/// declares.
///
/// # Errors
/// [`Error::InvalidArgument`] when a kept index has the keys of a
/// declared one to create: the server refuses two indexes on the same keys.
pub(super) fn index_plan<'a>(
    migration: &'a Migration,
    current: &[Document],
) -> Result<IndexPlan<'a>> {
    let plan = plan_indexes(migration.indexes(), migration.kept_indexes(), current);
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
    pub(super) fn report(&self, report: &mut MigrationReport) {
        report.indexes_created = self.created.clone();
        report.indexes_replaced = self.replaced.clone();
        report.indexes_dropped = self.dropped.clone();
        report.indexes_unchanged = self.unchanged.clone();
    }

    /// Drops, creates and drops again, in that order.
    pub(super) async fn apply(
        &self,
        coll: &mongodb::Collection<Document>,
    ) -> mongodb::error::Result<()> {
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
pub(super) struct IndexPlan<'a> {
    /// Replaced indexes, and undeclared ones whose keys equal those of an
    /// index to create (the server refuses two indexes on the same keys).
    pub(super) drop_first: Vec<String>,
    pub(super) create: Vec<&'a IndexSpec>,
    /// Undeclared indexes, dropped once their replacements exist.
    pub(super) drop_last: Vec<String>,
    pub(super) created: Vec<String>,
    pub(super) replaced: Vec<String>,
    pub(super) dropped: Vec<String>,
    pub(super) unchanged: Vec<String>,
    /// Kept indexes with the keys of a declared index to create: (kept,
    /// declared).
    pub(super) kept_in_the_way: Vec<(String, String)>,
}

pub(super) fn plan_indexes<'a>(
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
pub(super) fn same_index(spec: &IndexSpec, existing: &Document) -> bool {
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
pub(super) fn validator_matches(options: &Document, migration: &Migration) -> Result<bool> {
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

pub(super) fn integer(value: &Bson) -> Option<i64> {
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
pub(super) fn command_code(error: &mongodb::error::Error) -> Option<i32> {
    match error.kind.as_ref() {
        ErrorKind::Command(e) => Some(e.code),
        _ => None,
    }
}

/// The name the server lists a level or an action by (`"strict"`, `"warn"`).
pub(super) fn option_name(value: &impl Serialize) -> Result<String> {
    match bson::to_bson(value)? {
        Bson::String(name) => Ok(name),
        other => Err(Error::invalid(format!("not a validation option: {other}"))),
    }
}
