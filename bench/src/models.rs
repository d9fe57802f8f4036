//! The models the benchmarks run on: the reference `Foo` (UUID key) and
//! `Bar` (composite key) of the test suite, `Wide`, a 31-field model with
//! nested structs, an enum and arrays, and `Blob`, a document of about
//! 1.5 KiB for the streaming-memory figures. Plus sample values of each.

use model::{DateTime, Model, ObjectId, Projection, Schema, Uuid};
use serde::{Deserialize, Serialize};

#[path = "../../tests/common/reference.rs"]
mod reference;
pub use reference::{Bar, BarInsert, BarKey, Foo, FooInsert};

/// The name of a [`Foo`] alone: a projection (`{foo: 1, _id: 0}`).
#[derive(Debug, Clone, PartialEq, Projection, Deserialize)]
#[projection(model = Foo)]
pub struct FooName {
    /// [`Foo::foo`].
    pub foo: String,
}

/// One group of `Foo`s by `bar % 10`, as an aggregation returns it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BarGroup {
    /// The remainder of `bar` by 10.
    #[serde(rename = "_id")]
    pub remainder: i64,
    /// How many documents have it.
    pub n: i64,
    /// The sum of their `bar`.
    pub total: i64,
}

/// Bytes of [`Blob::payload`]: with the other fields a stored `Blob` is
/// about 1.5 KiB.
pub const BLOB_PAYLOAD: usize = 1400;

/// A document of about 1.5 KiB: a number and a [`BLOB_PAYLOAD`]-byte
/// string, for what a stream holds with documents of a realistic size.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "blobs", key = id)]
pub struct Blob {
    /// The key.
    #[serde(rename = "_id")]
    pub id: Uuid,
    /// Its position in the seed.
    pub n: i64,
    /// [`BLOB_PAYLOAD`] bytes of text, different in every document.
    pub payload: String,
    /// Set on insert.
    pub created_at: DateTime,
    /// Set on update.
    pub updated_at: Option<DateTime>,
}

/// The `i`-th `Blob`: `n = i`, and a payload repeating `blob-{i:07}|`.
pub fn blob(i: usize, now: DateTime) -> Blob {
    let unit = format!("blob-{i:07}|");
    let mut payload = unit.repeat(BLOB_PAYLOAD / unit.len() + 1);
    payload.truncate(BLOB_PAYLOAD);
    Blob { id: Uuid::new(), n: i as i64, payload, created_at: now, updated_at: None }
}

/// A postal address, nested in [`Wide`].
#[derive(Debug, Clone, PartialEq, Schema, Serialize, Deserialize)]
pub struct Address {
    /// Street and number.
    pub street: String,
    /// City.
    pub city: String,
    /// Postal code.
    pub zip: String,
    /// ISO country code.
    pub country: String,
}

/// Physical size, nested in [`Wide`].
#[derive(Debug, Clone, PartialEq, Schema, Serialize, Deserialize)]
pub struct Dimensions {
    /// Width in cm.
    pub width: f64,
    /// Height in cm.
    pub height: f64,
    /// Depth in cm.
    pub depth: f64,
    /// Weight in kg.
    pub weight: f64,
}

/// One element of [`Wide::items`].
#[derive(Debug, Clone, PartialEq, Schema, Serialize, Deserialize)]
pub struct LineItem {
    /// Stock keeping unit.
    pub sku: String,
    /// How many.
    pub quantity: i32,
    /// Unit price.
    pub price: f64,
}

/// A status stored as a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Schema, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Live.
    Active,
    /// Not yet live.
    Pending,
    /// Retired.
    Archived,
}

impl Status {
    /// The stored string.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Pending => "pending",
            Status::Archived => "archived",
        }
    }

    /// The status stored as `s`.
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "active" => Some(Status::Active),
            "pending" => Some(Status::Pending),
            "archived" => Some(Status::Archived),
            _ => None,
        }
    }
}

/// A wide model: 31 fields of every common kind, two nested structs (one
/// optional), an enum, and three arrays (of strings, numbers and structs).
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "wides", key = id)]
#[allow(missing_docs)]
pub struct Wide {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub name: String,
    pub title: String,
    pub description: String,
    pub email: String,
    pub phone: Option<String>,
    pub status: Status,
    pub active: bool,
    pub verified: bool,
    pub age: i32,
    pub level: i32,
    pub score: f64,
    pub balance: f64,
    pub rating: Option<f64>,
    pub rank: i64,
    pub visits: i64,
    pub tags: Vec<String>,
    pub scores: Vec<i64>,
    pub items: Vec<LineItem>,
    pub address: Address,
    pub billing: Option<Address>,
    pub dimensions: Dimensions,
    pub owner: Uuid,
    pub parent: Option<ObjectId>,
    pub last_login: Option<DateTime>,
    pub born_at: DateTime,
    pub note: Option<String>,
    pub locale: String,
    pub timezone: String,
    pub created_at: DateTime,
    pub updated_at: Option<DateTime>,
}

/// A fixed timestamp, so runs are comparable.
pub fn now() -> DateTime {
    DateTime::from_millis(1_700_000_000_000)
}

/// The `i`-th `Foo` insert: name `name-{i:07}` (sorts like `i`), `bar = i`.
pub fn foo_insert(i: usize) -> FooInsert {
    FooInsert { id: None, foo: foo_name(i), bar: Some(i as i64) }
}

/// `n` stored `Foo`s as the raw side writes them: fresh keys, the names
/// and `bar`s of [`foo_insert`], created `now`.
pub fn stored_foos(n: usize, now: DateTime) -> Vec<Foo> {
    (0..n)
        .map(|i| Foo {
            id: Uuid::new(),
            foo: foo_name(i),
            bar: Some(i as i64),
            created_at: now,
            updated_at: None,
        })
        .collect()
}

/// The name of the `i`-th `Foo`.
pub fn foo_name(i: usize) -> String {
    format!("name-{i:07}")
}

/// A sample `Foo` as stored after an update.
pub fn foo_sample() -> Foo {
    Foo {
        id: Uuid::parse_str("67e55044-10b1-426f-9247-bb680e5fe0c8").expect("valid"),
        foo: "some name of twenty".into(),
        bar: Some(42),
        created_at: now(),
        updated_at: Some(now()),
    }
}

/// A sample `Bar` as stored after an update.
pub fn bar_sample() -> Bar {
    Bar {
        id: BarKey {
            foo: Uuid::parse_str("67e55044-10b1-426f-9247-bb680e5fe0c8").expect("valid"),
            bar: "part two".into(),
        },
        foo: "some name of twenty".into(),
        bar: Some(42),
        created_at: now(),
        updated_at: Some(now()),
    }
}

/// `n` `Wide`s as the raw side writes them: the sample with fresh keys
/// and the `i`-th in `city-{i:04}`.
pub fn stored_wides(n: usize) -> Vec<Wide> {
    (0..n)
        .map(|i| {
            let mut wide = wide_sample();
            wide.id = ObjectId::new();
            wide.address.city = format!("city-{i:04}");
            wide
        })
        .collect()
}

/// A sample address.
pub fn address() -> Address {
    Address {
        street: "221B Baker Street".into(),
        city: "London".into(),
        zip: "NW1 6XE".into(),
        country: "GB".into(),
    }
}

/// A sample `Wide` with every optional field present and short arrays.
pub fn wide_sample() -> Wide {
    Wide {
        id: ObjectId::parse_str("65f1a2b3c4d5e6f708192a3b").expect("valid"),
        name: "Ada Lovelace".into(),
        title: "Analyst of the engine".into(),
        description: "A record wide enough to look like a real one, with some text.".into(),
        email: "ada@example.com".into(),
        phone: Some("+44 20 7946 0958".into()),
        status: Status::Active,
        active: true,
        verified: false,
        age: 36,
        level: 7,
        score: 98.5,
        balance: 1234.56,
        rating: Some(4.5),
        rank: 12,
        visits: 3456,
        tags: vec!["math".into(), "engines".into(), "poetry".into()],
        scores: vec![1, 2, 3, 5, 8],
        items: vec![
            LineItem { sku: "A-1".into(), quantity: 2, price: 9.99 },
            LineItem { sku: "B-22".into(), quantity: 1, price: 19.5 },
        ],
        address: address(),
        billing: Some(address()),
        dimensions: Dimensions { width: 10.0, height: 20.0, depth: 30.0, weight: 1.5 },
        owner: Uuid::parse_str("67e55044-10b1-426f-9247-bb680e5fe0c8").expect("valid"),
        parent: Some(ObjectId::parse_str("65f1a2b3c4d5e6f708192a3c").expect("valid")),
        last_login: Some(now()),
        born_at: DateTime::from_millis(-4_820_000_000_000),
        note: Some("note".into()),
        locale: "en-GB".into(),
        timezone: "Europe/London".into(),
        created_at: now(),
        updated_at: Some(now()),
    }
}
