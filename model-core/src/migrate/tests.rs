//! The plan's rules: how declared and existing indexes compare, and
//! which declarations are refused.

use std::time::Duration;

use bson::{Bson, Document, doc};
use mongodb::options::{Collation, CollationStrength, ValidationAction, ValidationLevel};

use super::indexes::{plan_indexes, same_index, validator_matches};
use super::*;
use crate::schema::IndexSpec;

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
    let declared = Collation::builder().locale("en").strength(CollationStrength::Secondary).build();
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
