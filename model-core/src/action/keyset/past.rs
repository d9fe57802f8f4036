//! "After this document" as a filter, in MongoDB's sort order across BSON
//! types.
//!
//! MongoDB sorts values by type class first (MinKey, undefined, null and
//! missing, numbers, strings, objects, arrays, binary, ObjectId, booleans,
//! dates, timestamps, regular expressions, DBPointer, JavaScript, MaxKey),
//! then within the class; but `$gt`/`$lt` only match values of the
//! operand's own class. So "past a value" is `$gt`/`$lt` within its class
//! *or* any value of a class beyond it (`$type`), and a field holding
//! values of several types (a `bson::Bson` field, documents written by
//! another program) pages completely.
//!
//! NaN sorts before every other number. Comparisons with NaN match
//! nothing (on mongod, and on servers that follow IEEE 754), so NaN is
//! never a comparison operand here: "not NaN" is `$gte: -Infinity`, and
//! "is NaN" is a number that is not that.

use bson::{Bson, Document, doc};

/// A type class of MongoDB's sort order, in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Class {
    MinKey,
    Undefined,
    /// `null` and a missing field.
    Null,
    /// `int`, `long`, `double` and `decimal`, compared by value.
    Number,
    /// Strings and symbols.
    String,
    Object,
    /// Not paged: a sort on an array sorts by an element. Never in a
    /// cursor; left out of the `$type` lists.
    Array,
    Binary,
    ObjectId,
    Boolean,
    Date,
    Timestamp,
    Regex,
    DbPointer,
    JavaScript,
    JavaScriptWithScope,
    MaxKey,
}

const CLASSES: [Class; 17] = [
    Class::MinKey,
    Class::Undefined,
    Class::Null,
    Class::Number,
    Class::String,
    Class::Object,
    Class::Array,
    Class::Binary,
    Class::ObjectId,
    Class::Boolean,
    Class::Date,
    Class::Timestamp,
    Class::Regex,
    Class::DbPointer,
    Class::JavaScript,
    Class::JavaScriptWithScope,
    Class::MaxKey,
];

impl Class {
    /// The class of `value`.
    pub(crate) fn of(value: &Bson) -> Class {
        match value {
            Bson::MinKey => Class::MinKey,
            Bson::Undefined => Class::Undefined,
            Bson::Null => Class::Null,
            Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => {
                Class::Number
            }
            Bson::String(_) | Bson::Symbol(_) => Class::String,
            Bson::Document(_) => Class::Object,
            Bson::Array(_) => Class::Array,
            Bson::Binary(_) => Class::Binary,
            Bson::ObjectId(_) => Class::ObjectId,
            Bson::Boolean(_) => Class::Boolean,
            Bson::DateTime(_) => Class::Date,
            Bson::Timestamp(_) => Class::Timestamp,
            Bson::RegularExpression(_) => Class::Regex,
            Bson::DbPointer(_) => Class::DbPointer,
            Bson::JavaScriptCode(_) => Class::JavaScript,
            Bson::JavaScriptCodeWithScope(_) => Class::JavaScriptWithScope,
            Bson::MaxKey => Class::MaxKey,
        }
    }

    /// The class of a `$jsonSchema` `bsonType` name; `None` for a name it
    /// does not know.
    pub(crate) fn of_schema_type(name: &str) -> Option<Class> {
        Some(match name {
            "double" | "int" | "long" | "decimal" | "number" => Class::Number,
            "string" | "symbol" => Class::String,
            "object" => Class::Object,
            "array" => Class::Array,
            "binData" => Class::Binary,
            "objectId" => Class::ObjectId,
            "bool" => Class::Boolean,
            "date" => Class::Date,
            "timestamp" => Class::Timestamp,
            "null" => Class::Null,
            "regex" => Class::Regex,
            "minKey" => Class::MinKey,
            "maxKey" => Class::MaxKey,
            "undefined" => Class::Undefined,
            "dbPointer" => Class::DbPointer,
            "javascript" => Class::JavaScript,
            "javascriptWithScope" => Class::JavaScriptWithScope,
            _ => return None,
        })
    }

    /// The `$type` names of the class (none for `null`, which `$type`
    /// does not match when the field is missing, nor for arrays).
    fn type_names(self) -> &'static [&'static str] {
        match self {
            Class::MinKey => &["minKey"],
            Class::Undefined => &["undefined"],
            Class::Null | Class::Array => &[],
            Class::Number => &["number"],
            Class::String => &["string", "symbol"],
            Class::Object => &["object"],
            Class::Binary => &["binData"],
            Class::ObjectId => &["objectId"],
            Class::Boolean => &["bool"],
            Class::Date => &["date"],
            Class::Timestamp => &["timestamp"],
            Class::Regex => &["regex"],
            Class::DbPointer => &["dbPointer"],
            Class::JavaScript => &["javascript"],
            Class::JavaScriptWithScope => &["javascriptWithScope"],
            Class::MaxKey => &["maxKey"],
        }
    }

    /// A name for messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Class::Null => "null",
            Class::Array => "array",
            other => other.type_names()[0],
        }
    }
}

/// Whether `value` is a NaN (a double's, or a decimal's).
fn is_nan(value: &Bson) -> bool {
    match value {
        Bson::Double(x) => x.is_nan(),
        // The combination field of a NaN: bits 0x7C of the top byte.
        Bson::Decimal128(d) => d.bytes()[15] & 0x7C == 0x7C,
        _ => false,
    }
}

/// Any number but NaN: NaN is not `>= -Infinity` on any server.
fn not_nan() -> Document {
    doc! { "$gte": f64::NEG_INFINITY }
}

/// A NaN: a number that is not `>= -Infinity`.
fn nan() -> Document {
    doc! { "$type": "number", "$not": not_nan() }
}

/// The condition "equal to `value`" for a field, in the sort's terms:
/// `null` also matches a missing field, NaN matches NaN.
fn equal(value: &Bson) -> Document {
    if is_nan(value) {
        nan()
    } else {
        doc! { "$eq": value.clone() }
    }
}

/// The alternatives (to be OR-ed) for "past `value` on `field`" in
/// `direction`.
fn beyond(field: &str, direction: i32, value: &Bson) -> Vec<Document> {
    let class = Class::of(value);
    let mut alternatives = Vec::new();
    if direction > 0 {
        // Greater within the class: nothing is above `null`, every other
        // number is above NaN.
        if is_nan(value) {
            alternatives.push(doc! { field: not_nan() });
        } else if class != Class::Null {
            alternatives.push(doc! { field: { "$gt": value.clone() } });
        }
        let later: Vec<&str> = CLASSES
            .iter()
            .filter(|c| **c > class)
            .flat_map(|c| c.type_names().iter().copied())
            .collect();
        if !later.is_empty() {
            alternatives.push(doc! { field: { "$type": later } });
        }
    } else {
        // Less within the class: NaN is below every other number and
        // `$lt` never matches it.
        if class == Class::Number && !is_nan(value) {
            alternatives.push(doc! { field: { "$lt": value.clone() } });
            alternatives.push(doc! { field: nan() });
        } else if class != Class::Null && class != Class::Number {
            alternatives.push(doc! { field: { "$lt": value.clone() } });
        }
        if class > Class::Null {
            alternatives.push(doc! { field: { "$eq": Bson::Null } });
        }
        let earlier: Vec<&str> = CLASSES
            .iter()
            .filter(|c| **c < class)
            .flat_map(|c| c.type_names().iter().copied())
            .collect();
        if !earlier.is_empty() {
            alternatives.push(doc! { field: { "$type": earlier } });
        }
    }
    alternatives
}

/// The filter for "after `values` in the order `keys`": for each key,
/// the documents equal on the keys before it and past it on this one.
pub(crate) fn past(keys: &[(&str, i32)], values: &[Bson]) -> Document {
    let mut branches = Vec::with_capacity(keys.len());
    for (i, ((field, direction), value)) in keys.iter().zip(values).enumerate() {
        let mut alternatives = beyond(field, *direction, value);
        let mut branch = Document::new();
        for ((before, _), equal_to) in keys[..i].iter().zip(values) {
            branch.insert(*before, equal(equal_to));
        }
        match alternatives.len() {
            0 => continue,
            1 => branch.extend(alternatives.remove(0)),
            _ => {
                branch.insert("$or", alternatives);
            }
        }
        branches.push(Bson::Document(branch));
    }
    if branches.is_empty() {
        // Nothing is past: the last value of the order on every key.
        return doc! { "_id": { "$in": [] } };
    }
    // A bound on the first key alone, implied by the branches, so that a
    // planner can scan an index on it from the cursor on instead of
    // testing every document against the `$or`: not before the value
    // within its class (which keeps every later class), and ascending not
    // `null` either.
    let bound = match (keys.first(), values.first()) {
        (Some((field, direction)), Some(value))
            if Class::of(value) != Class::Null && !is_nan(value) =>
        {
            if *direction > 0 {
                Some(doc! { *field: { "$not": { "$lt": value.clone() }, "$ne": Bson::Null } })
            } else {
                Some(doc! { *field: { "$not": { "$gt": value.clone() } } })
            }
        }
        _ => None,
    };
    match bound {
        Some(bound) => doc! { "$and": [bound, { "$or": branches }] },
        None => doc! { "$or": branches },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `$type` names after (`later`) or before a class.
    fn names(classes: impl Fn(&Class) -> bool) -> Vec<&'static str> {
        CLASSES.iter().filter(|c| classes(c)).flat_map(|c| c.type_names().iter().copied()).collect()
    }

    #[test]
    fn past_follows_the_order_across_types_null_first() {
        let after_null = names(|c| *c > Class::Null);
        let after_number = names(|c| *c > Class::Number);
        let before_number = names(|c| *c < Class::Number);
        let keys = [("a", 1), ("_id", 1)];
        assert_eq!(
            past(&keys, &[Bson::Null, 1.into()]),
            doc! { "$or": [
                { "a": { "$type": after_null } },
                { "a": { "$eq": null }, "$or": [
                    { "_id": { "$gt": 1 } }, { "_id": { "$type": after_number.clone() } },
                ] },
            ] }
        );
        assert_eq!(
            past(&keys, &[3.into(), 1.into()]),
            doc! { "$and": [{ "a": { "$not": { "$lt": 3 }, "$ne": null } }, { "$or": [
                { "$or": [ { "a": { "$gt": 3 } }, { "a": { "$type": after_number.clone() } } ] },
                { "a": { "$eq": 3 }, "$or": [
                    { "_id": { "$gt": 1 } }, { "_id": { "$type": after_number.clone() } },
                ] },
            ] }] }
        );
        let keys = [("a", -1), ("_id", 1)];
        assert_eq!(
            past(&keys, &[3.into(), 1.into()]),
            doc! { "$and": [{ "a": { "$not": { "$gt": 3 } } }, { "$or": [
                { "$or": [
                    { "a": { "$lt": 3 } },
                    { "a": { "$type": "number", "$not": { "$gte": f64::NEG_INFINITY } } },
                    { "a": { "$eq": null } },
                    { "a": { "$type": before_number } },
                ] },
                { "a": { "$eq": 3 }, "$or": [
                    { "_id": { "$gt": 1 } }, { "_id": { "$type": after_number } },
                ] },
            ] }] }
        );
        // Descending from `null` on the first key: only its ties are left.
        let past_null = past(&keys, &[Bson::Null, 1.into()]);
        let branches = past_null.get_array("$or").unwrap();
        assert_eq!(branches.len(), 2, "{past_null}");
        assert_eq!(branches[0], Bson::Document(doc! { "a": { "$type": ["minKey", "undefined"] } }));
    }

    #[test]
    fn nan_is_never_compared() {
        let nan = Bson::Double(f64::NAN);
        let ascending = past(&[("a", 1)], std::slice::from_ref(&nan));
        let text = ascending.to_string();
        assert!(!text.contains("NaN"), "{text}");
        assert!(text.contains("$gte"), "every other number is past NaN: {text}");
        let descending = past(&[("a", -1), ("_id", 1)], &[nan, 1.into()]);
        let text = descending.to_string();
        assert!(!text.contains("NaN"), "{text}");
        // Ties on NaN are found without comparing with NaN.
        let tie = &descending.get_array("$or").unwrap()[1];
        assert_eq!(
            tie.as_document().unwrap().get("a"),
            Some(&Bson::Document(
                doc! { "$type": "number", "$not": { "$gte": f64::NEG_INFINITY } }
            ))
        );
        let decimal_nan = "NaN".parse::<bson::Decimal128>().unwrap();
        assert!(is_nan(&Bson::Decimal128(decimal_nan)));
        assert!(!is_nan(&Bson::Decimal128("1.5".parse().unwrap())));
    }
}
