//! Constraints on a field's values, declared once on the field
//! (`#[model(length(min = 1, max = 64), pattern = "..", range(..),
//! allowed(..), items(..), unique_items)]`): written into the
//! collection's `$jsonSchema` for the server, and checked by the client
//! before an insert, a replace or a `set` sends anything.
//!
//! Both checks read the same declaration and the same BSON value: the
//! client checks the field as it will be stored, with the `$jsonSchema`
//! keywords' meaning (a keyword that does not apply to the value's BSON
//! type, a `null` say, passes).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use bson::{Bson, Document};

/// A number in a constraint: the bounds of `range` and the values of
/// `allowed`, as written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// An integer literal.
    Int(i64),
    /// A literal with a fraction or an exponent.
    Float(f64),
}

/// A value `allowed(...)` lists.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Allowed {
    /// A string.
    Str(&'static str),
    /// A number.
    Number(Number),
}

/// The constraints of one field. Built by `#[derive(Model)]` at compile
/// time; empty for a field that declares none.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Constraints {
    min_length: Option<u64>,
    max_length: Option<u64>,
    pattern: Option<&'static str>,
    client_pattern: Option<&'static str>,
    minimum: Option<Number>,
    maximum: Option<Number>,
    allowed: &'static [Allowed],
    min_items: Option<u64>,
    max_items: Option<u64>,
    unique_items: bool,
}

/// What a value breaks: the field's stored path and which constraint.
/// Says nothing of the value itself (it is user data, and messages end
/// up in logs), only of its size and of the constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The stored name of the field (`username`).
    pub path: String,
    /// Which constraint the value breaks, and how.
    pub reason: String,
}

impl Constraints {
    /// No constraint.
    pub const NONE: Constraints = Constraints {
        min_length: None,
        max_length: None,
        pattern: None,
        client_pattern: None,
        minimum: None,
        maximum: None,
        allowed: &[],
        min_items: None,
        max_items: None,
        unique_items: false,
    };

    /// A string's length in characters (Unicode code points), inclusive.
    pub const fn length(mut self, min: Option<u64>, max: Option<u64>) -> Self {
        self.min_length = min;
        self.max_length = max;
        self
    }

    /// A regular expression a string must match (unanchored, as the
    /// server's `pattern`), checked by the server only.
    pub const fn pattern(mut self, pattern: &'static str) -> Self {
        self.pattern = Some(pattern);
        self
    }

    /// The same regular expression written for the client's engine (the
    /// `regex` crate) so that it matches what the server's (PCRE) does:
    /// the derive writes it where it can (`$` as `\n?\z`, `\d` as
    /// `[0-9]`, ...), and leaves the pattern to the server where it
    /// cannot.
    pub const fn client_pattern(mut self, pattern: &'static str) -> Self {
        self.client_pattern = Some(pattern);
        self
    }

    /// A number's bounds, inclusive.
    pub const fn range(mut self, min: Option<Number>, max: Option<Number>) -> Self {
        self.minimum = min;
        self.maximum = max;
        self
    }

    /// The values the field may have.
    pub const fn allowed(mut self, values: &'static [Allowed]) -> Self {
        self.allowed = values;
        self
    }

    /// An array's size, inclusive.
    pub const fn items(mut self, min: Option<u64>, max: Option<u64>) -> Self {
        self.min_items = min;
        self.max_items = max;
        self
    }

    /// No two elements of an array equal.
    pub const fn unique_items(mut self) -> Self {
        self.unique_items = true;
        self
    }

    /// Whether there is no constraint.
    pub fn is_empty(&self) -> bool {
        *self == Constraints::NONE
    }

    /// Adds the constraints' keywords to a field's `$jsonSchema`. The
    /// allowed values take the field's BSON type (an integer is an `int`
    /// for an `int` field, a `long` for a `long`), and `null` for a
    /// nullable field.
    pub(crate) fn apply(&self, schema: &mut Document) {
        let count = |n: u64| Bson::Int64(i64::try_from(n).unwrap_or(i64::MAX));
        if let Some(min) = self.min_length {
            schema.insert("minLength", count(min));
        }
        if let Some(max) = self.max_length {
            schema.insert("maxLength", count(max));
        }
        if let Some(pattern) = self.pattern {
            schema.insert("pattern", pattern);
        }
        if let Some(min) = self.minimum {
            schema.insert("minimum", number(min, None));
        }
        if let Some(max) = self.maximum {
            schema.insert("maximum", number(max, None));
        }
        if !self.allowed.is_empty() {
            let types = bson_types(schema);
            let mut values: Vec<Bson> = self
                .allowed
                .iter()
                .map(|value| match value {
                    Allowed::Str(s) => Bson::String((*s).to_string()),
                    Allowed::Number(n) => number(*n, Some(&types)),
                })
                .collect();
            if types.iter().any(|t| t == "null") {
                values.push(Bson::Null);
            }
            schema.insert("enum", values);
        }
        if let Some(min) = self.min_items {
            schema.insert("minItems", count(min));
        }
        if let Some(max) = self.max_items {
            schema.insert("maxItems", count(max));
        }
        if self.unique_items {
            schema.insert("uniqueItems", true);
        }
    }

    /// Checks `value`, the field at `path` as it will be stored (`None`
    /// when it is left out), as the server's validator would.
    ///
    /// # Errors
    /// The first constraint the value breaks.
    pub fn check(&self, path: &str, value: Option<&Bson>) -> Result<(), Violation> {
        let Some(value) = value else { return Ok(()) };
        self.reason(value)
            .map_or(Ok(()), |reason| Err(Violation { path: path.to_string(), reason }))
    }

    fn reason(&self, value: &Bson) -> Option<String> {
        match value {
            Bson::String(s) => {
                let length = s.chars().count() as u64;
                if let Some(min) = self.min_length.filter(|min| length < *min) {
                    return Some(format!(
                        "is {length} characters long, under the minimum of {min}"
                    ));
                }
                if let Some(max) = self.max_length.filter(|max| length > *max) {
                    return Some(format!("is {length} characters long, over the maximum of {max}"));
                }
                if let (Some(pattern), Some(client)) = (self.pattern, self.client_pattern)
                    && !matches(client, s)
                {
                    return Some(format!("does not match the pattern `{pattern}`"));
                }
            }
            Bson::Array(items) => {
                let size = items.len() as u64;
                if let Some(min) = self.min_items.filter(|min| size < *min) {
                    return Some(format!("has {size} items, under the minimum of {min}"));
                }
                if let Some(max) = self.max_items.filter(|max| size > *max) {
                    return Some(format!("has {size} items, over the maximum of {max}"));
                }
                if self.unique_items
                    && let Some((first, second)) = duplicate(items)
                {
                    return Some(format!("has equal items at {first} and {second}"));
                }
            }
            _ => {}
        }
        if let Some(n) = as_number(value) {
            if let Some(min) = self.minimum.filter(|min| below(n, *min)) {
                return Some(format!("is under the minimum of {}", show(min)));
            }
            if let Some(max) = self.maximum.filter(|max| below(*max, n)) {
                return Some(format!("is over the maximum of {}", show(max)));
            }
        }
        if !self.allowed.is_empty() && !matches!(value, Bson::Null) {
            let listed = self.allowed.iter().any(|allowed| match (allowed, value) {
                (Allowed::Str(a), Bson::String(s)) => a == s,
                (Allowed::Number(a), _) => as_number(value).is_some_and(|n| equal(n, *a)),
                _ => false,
            });
            if !listed {
                return Some("is not one of the allowed values".to_string());
            }
        }
        None
    }
}

/// The BSON type names a field's schema allows.
fn bson_types(schema: &Document) -> Vec<String> {
    match schema.get("bsonType") {
        Some(Bson::String(name)) => vec![name.clone()],
        Some(Bson::Array(names)) => {
            names.iter().filter_map(|n| n.as_str().map(str::to_string)).collect()
        }
        _ => Vec::new(),
    }
}

/// A constraint's number as BSON: an integer in the field's integer type
/// when it has one (`int` where it fits), else as written.
fn number(n: Number, types: Option<&[String]>) -> Bson {
    let is = |name: &str| types.is_some_and(|types| types.iter().any(|t| t == name));
    match n {
        Number::Int(i) if is("int") => i32::try_from(i).map_or(Bson::Int64(i), Bson::Int32),
        Number::Int(i) if is("double") => Bson::Double(i as f64),
        Number::Int(i) => Bson::Int64(i),
        Number::Float(f) => Bson::Double(f),
    }
}

fn show(n: Number) -> String {
    match n {
        Number::Int(i) => i.to_string(),
        Number::Float(f) => f.to_string(),
    }
}

/// A stored number, exactly: integers as integers, doubles as doubles.
fn as_number(value: &Bson) -> Option<Number> {
    match value {
        Bson::Int32(i) => Some(Number::Int((*i).into())),
        Bson::Int64(i) => Some(Number::Int(*i)),
        Bson::Double(f) => Some(Number::Float(*f)),
        _ => None,
    }
}

/// `a < b` in the server's order of numbers: exact between an integer and
/// a double (an `i64` beyond 2⁵³ is not rounded), and NaN below every
/// other number.
fn below(a: Number, b: Number) -> bool {
    /// 2⁶³, the first double over every `i64`.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    match (a, b) {
        (Number::Int(a), Number::Int(b)) => a < b,
        (_, Number::Float(b)) if b.is_nan() => false,
        (Number::Float(a), _) if a.is_nan() => true,
        // a < b exactly when a < ⌈b⌉; a < b exactly when ⌊a⌋ < b.
        (Number::Int(a), Number::Float(b)) => b >= TWO_63 || (b >= -TWO_63 && a < b.ceil() as i64),
        (Number::Float(a), Number::Int(b)) => a < -TWO_63 || (a < TWO_63 && (a.floor() as i64) < b),
        (Number::Float(a), Number::Float(b)) => a < b,
    }
}

/// Equal in the server's order of numbers (NaN equals NaN).
fn equal(a: Number, b: Number) -> bool {
    !below(a, b) && !below(b, a)
}

/// The positions of the first two equal items.
fn duplicate(items: &[Bson]) -> Option<(usize, usize)> {
    items
        .iter()
        .enumerate()
        .find_map(|(j, b)| items[..j].iter().position(|a| same(a, b)).map(|i| (i, j)))
}

/// Equal as the server's `uniqueItems` compares values: numbers by value
/// whatever their BSON type, embedded documents by their fields in any
/// order, arrays element by element.
fn same(a: &Bson, b: &Bson) -> bool {
    match (a, b) {
        (Bson::Document(a), Bson::Document(b)) => {
            a.len() == b.len() && a.iter().all(|(k, va)| b.get(k).is_some_and(|vb| same(va, vb)))
        }
        (Bson::Array(a), Bson::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b))
        }
        _ => match (as_number(a), as_number(b)) {
            (Some(a), Some(b)) => equal(a, b),
            _ => a == b,
        },
    }
}

/// Whether `text` matches `pattern`, compiled once per pattern. The
/// derive has checked that the pattern compiles; one that does not (a
/// `Constraints` built by hand) is left to the server.
fn matches(pattern: &'static str, text: &str) -> bool {
    /// Each pattern, compiled (`None`: it does not compile).
    type Compiled = HashMap<&'static str, Option<Arc<regex::Regex>>>;
    static COMPILED: Mutex<Option<Compiled>> = Mutex::new(None);
    let compiled = {
        let mut cache = COMPILED.lock().unwrap_or_else(PoisonError::into_inner);
        cache
            .get_or_insert_with(HashMap::new)
            .entry(pattern)
            .or_insert_with(|| regex::Regex::new(pattern).ok().map(Arc::new))
            .clone()
    };
    compiled.is_none_or(|regex| regex.is_match(text))
}

/// Checks `document`, a model's document as it is stored (its fields
/// under their stored names, `None`s left out), against the constraints
/// of `fields`: what the server's validator checks, field by field.
///
/// # Errors
/// The first constraint a field breaks.
pub fn check_document(fields: &[super::FieldDecl], document: &Document) -> Result<(), Violation> {
    fields
        .iter()
        .filter(|field| !field.constraints().is_empty())
        .try_for_each(|field| field.constraints().check(field.name(), document.get(field.name())))
}

/// Field types with a length: strings (`length`, `pattern`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a string: `length` and `pattern` constrain string fields",
    label = "not a string field",
    note = "for a number use `range(min = .., max = ..)`; for an array, `items(min = .., max = ..)`"
)]
pub trait TextField {}

/// Field types that are numbers (`range`, and numeric `allowed` values).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a number: `range` and numeric `allowed` values constrain number fields",
    label = "not a number field",
    note = "for a string use `length(min = .., max = ..)`; for an array, `items(min = .., max = ..)`"
)]
pub trait NumberField {}

/// Field types stored as arrays (`items`, `unique_items`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an array: `items` and `unique_items` constrain array fields",
    label = "not an array field",
    note = "for a string use `length(min = .., max = ..)`; for a number, `range(min = .., max = ..)`"
)]
pub trait ArrayField {}

impl TextField for String {}
impl<T: TextField> TextField for Option<T> {}
impl<T: TextField> TextField for Box<T> {}

macro_rules! numbers {
    ($($ty:ty),*) => {$( impl NumberField for $ty {} )*};
}
numbers!(i8, i16, i32, i64, u8, u16, u32, u64, f32, f64);
impl<T: NumberField> NumberField for Option<T> {}
impl<T: NumberField> NumberField for Box<T> {}

impl<T> ArrayField for Vec<T> {}
impl<T> ArrayField for std::collections::BTreeSet<T> {}
impl<T, S> ArrayField for std::collections::HashSet<T, S> {}
impl<T: ArrayField> ArrayField for Option<T> {}
impl<T: ArrayField> ArrayField for Box<T> {}

/// Compiles only for a string field type: the derive's check of `length`
/// and `pattern`.
pub const fn text_field<T: TextField + ?Sized>() {}

/// Compiles only for a number field type: the derive's check of `range`.
pub const fn number_field<T: NumberField + ?Sized>() {}

/// Compiles only for an array field type: the derive's check of `items`.
pub const fn array_field<T: ArrayField + ?Sized>() {}

#[cfg(test)]
mod tests {
    use super::*;

    const NUMBERS: Constraints =
        Constraints::NONE.range(Some(Number::Int(i64::MAX - 1)), None).unique_items();

    #[test]
    fn large_integers_are_compared_exactly() {
        // As doubles, i64::MAX - 2 and i64::MAX - 1 are the same number.
        let below = NUMBERS.check("n", Some(&Bson::Int64(i64::MAX - 2)));
        assert_eq!(below.unwrap_err().reason, format!("is under the minimum of {}", i64::MAX - 1));
        assert!(NUMBERS.check("n", Some(&Bson::Int64(i64::MAX - 1))).is_ok());
    }

    #[test]
    fn equal_numbers_of_other_types_are_duplicates() {
        let items = Bson::Array(vec![Bson::Int32(1), Bson::String("1".into()), Bson::Double(1.0)]);
        let error = Constraints::NONE.unique_items().check("xs", Some(&items)).unwrap_err();
        assert_eq!(error.reason, "has equal items at 0 and 2");
    }

    #[test]
    fn a_keyword_passes_a_value_of_another_type_as_the_server_does() {
        let strict = Constraints::NONE.length(Some(3), None).range(Some(Number::Int(5)), None);
        assert!(strict.check("x", Some(&Bson::Null)).is_ok());
        assert!(strict.check("x", Some(&Bson::Boolean(true))).is_ok());
        assert!(strict.check("x", None).is_ok());
        assert!(strict.check("x", Some(&"ab".into())).is_err());
        assert!(strict.check("x", Some(&Bson::Int32(4))).is_err());
    }

    #[test]
    fn documents_with_the_same_fields_in_another_order_are_duplicates() {
        let items = Bson::Array(vec![
            bson::doc! { "a": 1, "b": 2 }.into(),
            bson::doc! { "b": 2, "a": 1 }.into(),
        ]);
        assert!(Constraints::NONE.unique_items().check("xs", Some(&items)).is_err());
        let twice = Bson::Array(vec![bson::doc! { "a": 1 }.into(), bson::doc! { "a": 1.0 }.into()]);
        assert!(Constraints::NONE.unique_items().check("xs", Some(&twice)).is_err());
    }

    #[test]
    fn integers_and_doubles_compare_exactly_and_nan_is_below_every_number() {
        let big = 1_i64 << 53;
        assert!(below(Number::Float(big as f64), Number::Int(big + 1)));
        assert!(!equal(Number::Int(big + 1), Number::Float(big as f64)));
        assert!(equal(Number::Int(big), Number::Float(big as f64)));
        assert!(below(Number::Int(i64::MAX), Number::Float(9_223_372_036_854_775_808.0)));
        assert!(
            below(Number::Int(2), Number::Float(2.5)) && !below(Number::Int(3), Number::Float(2.5))
        );
        assert!(
            below(Number::Float(2.5), Number::Int(3)) && !below(Number::Float(2.5), Number::Int(2))
        );
        assert!(below(Number::Float(f64::NAN), Number::Int(i64::MIN)));
        assert!(equal(Number::Float(f64::NAN), Number::Float(f64::NAN)));
        let at_least_zero = Constraints::NONE.range(Some(Number::Int(0)), None);
        assert!(at_least_zero.check("x", Some(&Bson::Double(f64::NAN))).is_err());
    }

    #[test]
    fn the_patterns_the_derive_writes_for_the_client_compile_and_match_as_pcre() {
        // What the derive writes for `^[a-z]+$`, `\bfoo` and `^\S+$`.
        let end = Constraints::NONE.pattern("^[a-z]+$").client_pattern("^[a-z]+(?:\\n?\\z)");
        assert!(end.check("x", Some(&"abc\n".into())).is_ok(), "PCRE's `$` before a final newline");
        assert!(end.check("x", Some(&"abc\nd".into())).is_err());
        let word = Constraints::NONE.pattern("\\bfoo").client_pattern("(?-u:\\b)foo");
        assert!(word.check("x", Some(&"éfoo".into())).is_ok(), "an ASCII word boundary");
        let space = Constraints::NONE
            .pattern("^\\S+$")
            .client_pattern("^[^\\t\\n\\x0B\\x0C\\r ]+(?:\\n?\\z)");
        assert!(space.check("x", Some(&"a\u{a0}b".into())).is_ok(), "ASCII white space only");
        assert!(space.check("x", Some(&"a b".into())).is_err());
        // Without a client pattern the server alone checks it.
        let server_only = Constraints::NONE.pattern("^(?=a)");
        assert!(server_only.check("x", Some(&"b".into())).is_ok());
    }

    #[test]
    fn lengths_count_characters_not_bytes() {
        let two = Constraints::NONE.length(None, Some(2));
        assert!(two.check("x", Some(&"éé".into())).is_ok());
        assert!(two.check("x", Some(&"ééé".into())).is_err());
    }

    #[test]
    fn allowed_integers_take_the_fields_integer_type_and_null() {
        let tiers = Constraints::NONE
            .allowed(&[Allowed::Number(Number::Int(1)), Allowed::Number(Number::Int(2))]);
        let mut schema = bson::doc! { "bsonType": ["int", "null"] };
        tiers.apply(&mut schema);
        assert_eq!(
            schema.get_array("enum").unwrap(),
            &vec![Bson::Int32(1), Bson::Int32(2), Bson::Null]
        );
        assert!(tiers.check("t", Some(&Bson::Int64(2))).is_ok());
        assert!(tiers.check("t", Some(&Bson::Double(2.0))).is_ok());
        assert!(tiers.check("t", Some(&Bson::Int32(3))).is_err());
    }
}
