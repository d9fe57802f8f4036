//! What a field's type contributes to the model: its `$jsonSchema`, its BSON
//! value, and which operators it supports. The index declarations are in
//! `index`.

use std::collections::{BTreeMap, HashMap};

use bson::{Bson, DateTime, Decimal128, Document, doc, oid::ObjectId};
use serde::Serialize;

mod constraint;
mod index;

pub use constraint::{
    Allowed, ArrayField, Constraints, Number, NumberField, TextField, Violation, array_field,
    check_document, number_field, text_field,
};
pub use index::{IndexDecl, IndexKey, IndexSpec};

/// A type a model field can have.
///
/// Implemented for the BSON-native scalars, `Option`, `Vec`, string-keyed
/// maps and `Box`; `#[derive(Schema)]` implements it for nested structs and
/// for enums of unit variants. Implement it by hand for a custom type:
///
/// ```
/// use model_core::FieldType;
/// #[derive(serde::Serialize)]
/// struct Email(String);
/// impl FieldType for Email {
///     fn json_schema() -> bson::Document {
///         bson::doc! { "bsonType": "string", "pattern": "^[^@]+@[^@]+$" }
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no known BSON schema, so it cannot be a model field",
    label = "no `FieldType` impl",
    note = "derive it with `#[derive(Schema)]`, or implement `model::FieldType` by hand",
    note = "for UUIDs use `model::Uuid` (`bson::Uuid`), which is stored as BSON binary subtype 4"
)]
pub trait FieldType: Serialize {
    /// Whether a document must contain the field (`false` for `Option`).
    const REQUIRED: bool = true;

    /// Whether equal values always encode to the same BSON, so that the
    /// server, which compares embedded documents field by field in order,
    /// finds them equal. `false` for `HashMap` (its order is random) and
    /// for what holds one: equality and membership on such a value do not
    /// compile (use a `BTreeMap`, whose keys are sorted).
    const COMPARABLE: bool = true;

    /// Whether the value is stored as an array (`Vec`, and an `Option` of one).
    const ARRAY: bool = false;

    /// The `$jsonSchema` of a value of this type.
    fn json_schema() -> Document;

    /// Whether this is a `None`, which is not stored (`false` but for `Option`).
    fn is_none(&self) -> bool {
        false
    }

    /// The value as BSON, as it is stored: `None` struct fields left out
    /// (see [`Stored`](crate::Stored)).
    ///
    /// # Errors
    /// When the value cannot be represented (for example a `u64` over `i64::MAX`).
    fn into_bson(self) -> Result<Bson, bson::ser::Error>
    where
        Self: Sized,
    {
        bson::to_bson(&crate::Stored(&self))
    }
}

/// Adds `value` to `doc` as `name`, unless it is a `None` (which is not
/// stored). Used by the derives' field-by-field conversions.
///
/// # Errors
/// When the value cannot be represented as BSON.
pub fn put<T: FieldType>(doc: &mut Document, name: &str, value: T) -> Result<(), bson::ser::Error> {
    if !value.is_none() {
        doc.insert(name, value.into_bson()?);
    }
    Ok(())
}

/// A field type with an order, so it supports `gt`, `gte`, `lt`, `lte` and `range`.
pub trait Ordered: FieldType {
    /// The type of a bound (`T` for both `T` and `Option<T>`).
    type Bound: FieldType;
}

/// A numeric field type, so it supports `inc`.
pub trait Numeric: FieldType {
    /// The type of an increment (`T` for both `T` and `Option<T>`).
    type Delta: FieldType;
}

fn bson_type(name: &str) -> Document {
    doc! { "bsonType": name }
}

macro_rules! scalar {
    ($($ty:ty => $name:literal, $into:expr);* $(;)?) => {$(
        impl FieldType for $ty {
            fn json_schema() -> Document {
                bson_type($name)
            }
            fn into_bson(self) -> Result<Bson, bson::ser::Error> {
                #[allow(clippy::redundant_closure_call)]
                Ok(($into)(self))
            }
        }
        impl Ordered for $ty {
            type Bound = $ty;
        }
    )*};
}

scalar! {
    String => "string", Bson::String;
    bool => "bool", Bson::Boolean;
    i32 => "int", Bson::Int32;
    i64 => "long", Bson::Int64;
    f64 => "double", Bson::Double;
    DateTime => "date", Bson::DateTime;
    ObjectId => "objectId", Bson::ObjectId;
    Decimal128 => "decimal", Bson::Decimal128;
    bson::Uuid => "binData", |u| Bson::Binary(bson::Binary::from_uuid(u));
    i8 => "int", |v: i8| Bson::Int32(v.into());
    i16 => "int", |v: i16| Bson::Int32(v.into());
    u8 => "int", |v: u8| Bson::Int32(v.into());
    u16 => "int", |v: u16| Bson::Int32(v.into());
    u32 => "long", |v: u32| Bson::Int64(v.into());
    f32 => "double", |v: f32| Bson::Double(v.into());
    char => "string", |c: char| Bson::String(c.to_string());
}

/// Stored as a `long`; a value over `i64::MAX` cannot be stored.
impl FieldType for u64 {
    fn json_schema() -> Document {
        bson_type("long")
    }
    fn into_bson(self) -> Result<Bson, bson::ser::Error> {
        i64::try_from(self)
            .map(Bson::Int64)
            .map_err(|_| bson::ser::Error::UnsignedIntegerExceededRange(self))
    }
}

impl Ordered for u64 {
    type Bound = u64;
}

/// Binary data of any subtype.
impl FieldType for bson::Binary {
    fn json_schema() -> Document {
        bson_type("binData")
    }
    fn into_bson(self) -> Result<Bson, bson::ser::Error> {
        Ok(Bson::Binary(self))
    }
}

macro_rules! numeric {
    ($($ty:ty),*) => {$(
        impl Numeric for $ty {
            type Delta = $ty;
        }
    )*};
}

numeric!(i32, i64, f64, Decimal128);

impl<T: FieldType> FieldType for Option<T> {
    const REQUIRED: bool = false;
    const COMPARABLE: bool = T::COMPARABLE;
    const ARRAY: bool = T::ARRAY;

    fn json_schema() -> Document {
        nullable(T::json_schema())
    }

    fn is_none(&self) -> bool {
        Option::is_none(self)
    }

    fn into_bson(self) -> Result<Bson, bson::ser::Error> {
        match self {
            Some(value) => value.into_bson(),
            None => Ok(Bson::Null),
        }
    }
}

/// `schema` widened to also accept `null`.
fn nullable(mut schema: Document) -> Document {
    if let Some(Bson::Array(values)) = schema.get_mut("enum") {
        values.push(Bson::Null);
    }
    match schema.get("bsonType").cloned() {
        Some(Bson::String(name)) => {
            schema.insert("bsonType", vec![Bson::String(name), "null".into()]);
            schema
        }
        Some(Bson::Array(mut names)) => {
            if !names.contains(&Bson::from("null")) {
                names.push("null".into());
            }
            schema.insert("bsonType", names);
            schema
        }
        _ => doc! { "anyOf": [schema, { "bsonType": "null" }] },
    }
}

impl<T: Ordered> Ordered for Option<T> {
    type Bound = T::Bound;
}

impl<T: Numeric> Numeric for Option<T> {
    type Delta = T::Delta;
}

impl<T: FieldType> FieldType for Vec<T> {
    const COMPARABLE: bool = T::COMPARABLE;
    const ARRAY: bool = true;
    fn json_schema() -> Document {
        doc! { "bsonType": "array", "items": T::json_schema() }
    }
}

impl<T: FieldType> FieldType for Box<T> {
    const REQUIRED: bool = T::REQUIRED;
    const COMPARABLE: bool = T::COMPARABLE;
    fn json_schema() -> Document {
        T::json_schema()
    }
    fn is_none(&self) -> bool {
        (**self).is_none()
    }
    fn into_bson(self) -> Result<Bson, bson::ser::Error> {
        (*self).into_bson()
    }
}

/// Not [`COMPARABLE`](FieldType::COMPARABLE): a `HashMap` serializes in a
/// random order, so an equal map would not match.
impl<T: FieldType, S: std::hash::BuildHasher> FieldType for HashMap<String, T, S> {
    const COMPARABLE: bool = false;
    fn json_schema() -> Document {
        doc! { "bsonType": "object", "additionalProperties": T::json_schema() }
    }
}

impl<T: FieldType> FieldType for BTreeMap<String, T> {
    const COMPARABLE: bool = T::COMPARABLE;
    fn json_schema() -> Document {
        doc! { "bsonType": "object", "additionalProperties": T::json_schema() }
    }
}

impl FieldType for Document {
    fn json_schema() -> Document {
        bson_type("object")
    }
    fn into_bson(self) -> Result<Bson, bson::ser::Error> {
        Ok(Bson::Document(self))
    }
}

impl FieldType for Bson {
    fn json_schema() -> Document {
        Document::new()
    }
    fn into_bson(self) -> Result<Bson, bson::ser::Error> {
        Ok(self)
    }
}

/// Builds the `$jsonSchema` of an object from its properties; used by the
/// derive for models and nested structs.
#[derive(Debug)]
pub struct ObjectSchema {
    properties: Document,
    required: Vec<Bson>,
    additional_properties: bool,
}

impl ObjectSchema {
    /// An object schema; `additional_properties: false` rejects unknown fields.
    pub fn new(additional_properties: bool) -> Self {
        ObjectSchema { properties: Document::new(), required: Vec::new(), additional_properties }
    }

    /// Adds the property `name` of type `T`.
    pub fn property<T: FieldType + ?Sized>(mut self, name: &str) -> Self {
        self.properties.insert(name, T::json_schema());
        if T::REQUIRED {
            self.required.push(Bson::String(name.to_string()));
        }
        self
    }

    /// Adds the property `name` of type `T`, not required whatever `T`:
    /// a field serde fills when a document lacks it (`#[serde(default)]`).
    pub fn optional_property<T: FieldType + ?Sized>(mut self, name: &str) -> Self {
        self.properties.insert(name, T::json_schema());
        self
    }

    /// Adds the property `name` with an explicit schema.
    pub fn property_schema(mut self, name: &str, schema: Document, required: bool) -> Self {
        self.properties.insert(name, schema);
        if required {
            self.required.push(Bson::String(name.to_string()));
        }
        self
    }

    /// The schema document.
    pub fn build(self) -> Document {
        let mut schema = doc! { "bsonType": "object" };
        if !self.required.is_empty() {
            schema.insert("required", self.required);
        }
        schema.insert("properties", self.properties);
        schema.insert("additionalProperties", self.additional_properties);
        schema
    }
}

/// One stored field as `#[derive(Model)]` declares it: its name, its
/// schema, whether a document must have it. A model's
/// [`FIELDS`](crate::Model::FIELDS) table is a list of these, built at
/// compile time; the `$jsonSchema` is made from it only when asked for.
#[derive(Debug, Clone, Copy)]
pub struct FieldDecl {
    name: &'static str,
    schema: fn() -> Document,
    required: bool,
    constraints: Constraints,
}

impl FieldDecl {
    /// The field stored as `name`, of type `T`.
    pub const fn of<T: FieldType + ?Sized>(name: &'static str) -> Self {
        FieldDecl {
            name,
            schema: T::json_schema,
            required: T::REQUIRED,
            constraints: Constraints::NONE,
        }
    }

    /// The same field, its values constrained (`#[model(length(..))]`, ...).
    pub const fn constrained(mut self, constraints: Constraints) -> Self {
        self.constraints = constraints;
        self
    }

    /// The field's constraints ([`Constraints::NONE`] for none).
    pub const fn constraints(&self) -> &Constraints {
        &self.constraints
    }

    /// The same field, not required: one serde fills when a document lacks
    /// it (`#[serde(default)]`, and so every version field), so documents
    /// stored before it existed stay valid.
    pub const fn optional(mut self) -> Self {
        self.required = false;
        self
    }

    /// The stored name.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The field's `$jsonSchema`, with its constraints.
    pub(crate) fn schema(&self) -> Document {
        let mut schema = (self.schema)();
        self.constraints.apply(&mut schema);
        schema
    }
}

impl ObjectSchema {
    /// The schema of an object with `fields`.
    pub fn of_fields(fields: &[FieldDecl], additional_properties: bool) -> Document {
        let mut schema = ObjectSchema::new(additional_properties);
        for field in fields {
            schema = schema.property_schema(field.name, field.schema(), field.required);
        }
        schema.build()
    }
}

/// The schema of an enum of unit variants stored as strings.
pub fn string_enum_schema(values: &[&str]) -> Document {
    let values: Vec<Bson> = values.iter().map(|v| Bson::String((*v).into())).collect();
    doc! { "bsonType": "string", "enum": values }
}
