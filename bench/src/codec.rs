//! The codec paths, each beside its hand-written equivalent.
//!
//! A [`Case`] is one way to do one job (a [`Case::group`] such as
//! `foo/encode`): the model layer's way ([`Side::Odm`]), what a user of the
//! raw driver writes with `bson::doc!` and `Document` ([`Side::Doc`]), and,
//! for encoding and decoding, the floor with `RawDocumentBuf`/`RawDocument`
//! ([`Side::Raw`]). Every side of a group produces the same bytes or value:
//! the tests below check it, so no side can win by doing less.
//!
//! What each side measures:
//! - `encode`: the insert's input -> the BSON bytes the driver sends. The
//!   model layer builds the model (`Model::from_insert`) and serializes it
//!   as the driver does for a `Collection<M>` (`bson::to_raw_document_buf`);
//!   the hand-written side builds a `doc!` and the driver serializes it.
//! - `decode`: the bytes of a reply document -> the struct. The model layer
//!   is `bson::from_slice` (what the driver's typed cursor does); the
//!   hand-written side parses a `Document` (what `Collection<Document>`
//!   returns) and extracts each field; the floor reads a `RawDocument`.
//! - `key`, `query`, `update`, `sort`: the typed builder -> the filter,
//!   update or sort `Document` the driver takes, beside the same `doc!`.

use bson::spec::BinarySubtype;
use bson::{Binary, Bson, DateTime, Document, RawBson, RawDocument, RawDocumentBuf, doc};
use model::{Model, ObjectId, Uuid};

use crate::models::{
    Address, Bar, BarKey, Dimensions, Foo, FooInsert, LineItem, Status, Wide, WideInsert, address,
    bar_sample, foo_sample, now, wide_sample,
};

/// Which implementation a [`Case`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Through the model layer.
    Odm,
    /// Hand-written with `bson::doc!` / `Document`.
    Doc,
    /// Hand-written with `RawDocumentBuf` / `RawDocument`: the floor.
    Raw,
}

impl Side {
    /// The short name used in reports and benchmark ids.
    pub fn name(self) -> &'static str {
        match self {
            Side::Odm => "odm",
            Side::Doc => "doc",
            Side::Raw => "raw",
        }
    }
}

/// One implementation of one codec job.
#[derive(Clone, Copy)]
pub struct Case {
    /// The job, `model/step` (for example `foo/encode`).
    pub group: &'static str,
    /// Which implementation.
    pub side: Side,
    /// Runs the job once on the fixtures.
    pub run: fn(&Fixtures) -> Output,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.group, self.side.name())
    }
}

/// The inputs every case reads: sample documents and their bytes.
#[derive(Debug)]
pub struct Fixtures {
    /// A stored `Foo`.
    pub foo: Foo,
    /// Its BSON bytes.
    pub foo_bytes: Vec<u8>,
    /// A stored `Bar`.
    pub bar: Bar,
    /// Its BSON bytes.
    pub bar_bytes: Vec<u8>,
    /// A stored `Wide`.
    pub wide: Wide,
    /// Its BSON bytes.
    pub wide_bytes: Vec<u8>,
    /// The timestamp the inserts and updates use.
    pub now: DateTime,
    /// The address an update sets.
    pub address: Address,
}

impl Fixtures {
    /// The sample documents of [`crate::models`], serialized.
    pub fn new() -> Self {
        let foo = foo_sample();
        let bar = bar_sample();
        let wide = wide_sample();
        Fixtures {
            foo_bytes: bson::to_vec(&foo).expect("serializable"),
            bar_bytes: bson::to_vec(&bar).expect("serializable"),
            wide_bytes: bson::to_vec(&wide).expect("serializable"),
            foo,
            bar,
            wide,
            now: now(),
            address: address(),
        }
    }
}

impl Default for Fixtures {
    fn default() -> Self {
        Self::new()
    }
}

/// Every case, grouped: each group has an `odm` and a `doc` side, and
/// encode/decode groups a `raw` side too.
pub fn cases() -> Vec<Case> {
    macro_rules! case {
        ($group:literal, $side:ident, $run:path) => {
            Case { group: $group, side: Side::$side, run: $run }
        };
    }
    vec![
        case!("foo/encode", Odm, foo::encode_odm),
        case!("foo/encode", Doc, foo::encode_doc),
        case!("foo/encode", Raw, foo::encode_raw),
        case!("foo/decode", Odm, foo::decode_odm),
        case!("foo/decode", Doc, foo::decode_doc),
        case!("foo/decode", Raw, foo::decode_raw),
        case!("foo/key", Odm, foo::key_odm),
        case!("foo/key", Doc, foo::key_doc),
        case!("foo/query", Odm, foo::query_odm),
        case!("foo/query", Doc, foo::query_doc),
        case!("foo/update", Odm, foo::update_odm),
        case!("foo/update", Doc, foo::update_doc),
        case!("foo/sort", Odm, foo::sort_odm),
        case!("foo/sort", Doc, foo::sort_doc),
        case!("bar/encode", Odm, bar::encode_odm),
        case!("bar/encode", Doc, bar::encode_doc),
        case!("bar/encode", Raw, bar::encode_raw),
        case!("bar/decode", Odm, bar::decode_odm),
        case!("bar/decode", Doc, bar::decode_doc),
        case!("bar/decode", Raw, bar::decode_raw),
        case!("bar/key", Odm, bar::key_odm),
        case!("bar/key", Doc, bar::key_doc),
        case!("wide/encode", Odm, wide::encode_odm),
        case!("wide/encode", Doc, wide::encode_doc),
        case!("wide/encode", Raw, wide::encode_raw),
        case!("wide/decode", Odm, wide::decode_odm),
        case!("wide/decode", Doc, wide::decode_doc),
        case!("wide/decode", Raw, wide::decode_raw),
        case!("wide/key", Odm, wide::key_odm),
        case!("wide/key", Doc, wide::key_doc),
        case!("wide/query", Odm, wide::query_odm),
        case!("wide/query", Doc, wide::query_doc),
        case!("wide/update", Odm, wide::update_odm),
        case!("wide/update", Doc, wide::update_doc),
        case!("wide/sort", Odm, wide::sort_odm),
        case!("wide/sort", Doc, wide::sort_doc),
        case!("wide/nested_query", Odm, wide::nested_query_odm),
        case!("wide/nested_query", Doc, wide::nested_query_doc),
        case!("wide/elem_match", Odm, wide::elem_match_odm),
        case!("wide/elem_match", Doc, wide::elem_match_doc),
        case!("wide/array_update", Odm, wide::array_update_odm),
        case!("wide/array_update", Doc, wide::array_update_doc),
    ]
}

/// What a case produces: the bytes to send, the decoded struct, or the
/// filter/update/sort document. Dropped inside the timed loop on every side.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Encoded BSON.
    Bytes(Vec<u8>),
    /// A document for the driver.
    Doc(Document),
    /// A decoded `Foo`.
    Foo(Foo),
    /// A decoded `Bar`.
    Bar(Bar),
    /// A decoded `Wide`.
    Wide(Box<Wide>),
}

impl Output {
    /// Comparable bytes: documents are compared in field order.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Output::Bytes(bytes) => bytes.clone(),
            Output::Doc(doc) => bson::to_vec(doc).expect("serializable"),
            Output::Foo(foo) => bson::to_vec(foo).expect("serializable"),
            Output::Bar(bar) => bson::to_vec(bar).expect("serializable"),
            Output::Wide(wide) => bson::to_vec(wide).expect("serializable"),
        }
    }
}

impl From<Document> for Output {
    fn from(doc: Document) -> Self {
        Output::Doc(doc)
    }
}

/// What the driver does to a `Document` it sends.
fn doc_bytes(doc: &Document) -> Output {
    Output::Bytes(bson::to_raw_document_buf(doc).expect("serializable").into_bytes())
}

/// What the driver does to a model the repository sends: `Stored<M>`,
/// with `None` fields left out.
fn model_bytes<M: serde::Serialize>(doc: &M) -> Output {
    Output::Bytes(
        bson::to_raw_document_buf(&model::schema::Stored(doc)).expect("serializable").into_bytes(),
    )
}

fn uuid_bson(id: Uuid) -> RawBson {
    RawBson::Binary(Binary::from_uuid(id))
}

fn opt_raw<T: Into<RawBson>>(value: Option<T>) -> RawBson {
    value.map_or(RawBson::Null, Into::into)
}

/// A `Document` field that may be `null` or missing.
fn nullable<'a>(doc: &'a Document, key: &str) -> Option<&'a Bson> {
    match doc.get(key) {
        None | Some(Bson::Null) => None,
        Some(value) => Some(value),
    }
}

fn doc_uuid(doc: &Document, key: &str) -> Option<Uuid> {
    match doc.get(key)? {
        Bson::Binary(b) if b.subtype == BinarySubtype::Uuid => b.to_uuid().ok(),
        _ => None,
    }
}

fn doc_opt_datetime(doc: &Document, key: &str) -> Option<Option<DateTime>> {
    match nullable(doc, key) {
        None => Some(None),
        Some(Bson::DateTime(d)) => Some(Some(*d)),
        Some(_) => None,
    }
}

fn doc_opt_i64(doc: &Document, key: &str) -> Option<Option<i64>> {
    match nullable(doc, key) {
        None => Some(None),
        Some(Bson::Int64(v)) => Some(Some(*v)),
        Some(_) => None,
    }
}

fn raw_uuid(doc: &RawDocument, key: &str) -> Option<Uuid> {
    let binary = doc.get_binary(key).ok()?;
    if binary.subtype != BinarySubtype::Uuid {
        return None;
    }
    Some(Uuid::from_bytes(binary.bytes.try_into().ok()?))
}

fn raw_nullable<'a>(doc: &'a RawDocument, key: &str) -> Option<Option<bson::RawBsonRef<'a>>> {
    match doc.get(key).ok()? {
        None | Some(bson::RawBsonRef::Null) => Some(None),
        Some(value) => Some(Some(value)),
    }
}

fn raw_opt_datetime(doc: &RawDocument, key: &str) -> Option<Option<DateTime>> {
    match raw_nullable(doc, key)? {
        None => Some(None),
        Some(value) => value.as_datetime().map(Some),
    }
}

fn raw_opt_i64(doc: &RawDocument, key: &str) -> Option<Option<i64>> {
    match raw_nullable(doc, key)? {
        None => Some(None),
        Some(value) => value.as_i64().map(Some),
    }
}

/// The `Foo` cases.
pub mod foo {
    use super::*;

    /// `FooInsert` -> `Foo` -> bytes.
    pub fn encode_odm(f: &Fixtures) -> Output {
        let insert = FooInsert { id: Some(f.foo.id), foo: f.foo.foo.clone(), bar: f.foo.bar };
        model_bytes(&Foo::from_insert(insert, f.now))
    }

    /// `doc!` -> bytes.
    pub fn encode_doc(f: &Fixtures) -> Output {
        let doc = doc! {
            "_id": f.foo.id,
            "foo": f.foo.foo.clone(),
            "bar": f.foo.bar,
            "created_at": f.now,
        };
        doc_bytes(&doc)
    }

    /// `RawDocumentBuf::append` -> bytes.
    pub fn encode_raw(f: &Fixtures) -> Output {
        let mut doc = RawDocumentBuf::new();
        doc.append("_id", uuid_bson(f.foo.id));
        doc.append("foo", f.foo.foo.as_str());
        doc.append("bar", opt_raw(f.foo.bar));
        doc.append("created_at", f.now);
        Output::Bytes(doc.into_bytes())
    }

    /// `bson::from_slice::<Foo>`.
    pub fn decode_odm(f: &Fixtures) -> Output {
        Output::Foo(bson::from_slice(&f.foo_bytes).expect("a Foo"))
    }

    /// The `Foo` out of a `Document`.
    pub fn from_document(doc: &Document) -> Option<Foo> {
        Some(Foo {
            id: doc_uuid(doc, "_id")?,
            foo: doc.get_str("foo").ok()?.to_string(),
            bar: doc_opt_i64(doc, "bar")?,
            created_at: *doc.get_datetime("created_at").ok()?,
            updated_at: doc_opt_datetime(doc, "updated_at")?,
        })
    }

    /// The `Foo` out of a `RawDocument`.
    pub fn from_raw(doc: &RawDocument) -> Option<Foo> {
        Some(Foo {
            id: raw_uuid(doc, "_id")?,
            foo: doc.get_str("foo").ok()?.to_string(),
            bar: raw_opt_i64(doc, "bar")?,
            created_at: doc.get_datetime("created_at").ok()?,
            updated_at: raw_opt_datetime(doc, "updated_at")?,
        })
    }

    /// Bytes -> `Document` -> `Foo`.
    pub fn decode_doc(f: &Fixtures) -> Output {
        let doc: Document = bson::from_slice(&f.foo_bytes).expect("a document");
        Output::Foo(from_document(&doc).expect("a Foo"))
    }

    /// Bytes -> `RawDocument` -> `Foo`.
    pub fn decode_raw(f: &Fixtures) -> Output {
        let doc = RawDocument::from_bytes(&f.foo_bytes).expect("a document");
        Output::Foo(from_raw(doc).expect("a Foo"))
    }

    /// `Foo::key_filter`.
    pub fn key_odm(f: &Fixtures) -> Output {
        Foo::key_filter(&f.foo.id).expect("a key").into()
    }

    /// `doc! { "_id": id }`.
    pub fn key_doc(f: &Fixtures) -> Output {
        doc! { "_id": f.foo.id }.into()
    }

    /// `Foo::FOO.eq("a").and(Foo::BAR.gte(2))`.
    pub fn query_odm(_: &Fixtures) -> Output {
        Foo::FOO.eq("a").and(Foo::BAR.gte(2)).into_document().expect("valid").into()
    }

    /// The same filter with `doc!`.
    pub fn query_doc(_: &Fixtures) -> Output {
        doc! { "foo": "a", "bar": { "$gte": 2_i64 } }.into()
    }

    /// `Foo::BAR.inc(1).and(Foo::FOO.set("x"))` with `updated_at`.
    pub fn update_odm(f: &Fixtures) -> Output {
        Foo::BAR.inc(1).and(Foo::FOO.set("x")).into_document(f.now).expect("valid").into()
    }

    /// The same update with `doc!`.
    pub fn update_doc(f: &Fixtures) -> Output {
        doc! {
            "$set": { "foo": "x", "updated_at": f.now },
            "$inc": { "bar": 1_i64 },
        }
        .into()
    }

    /// `Foo::BAR.desc().then_by(Foo::FOO.asc())`.
    pub fn sort_odm(_: &Fixtures) -> Output {
        Foo::BAR.desc().then_by(Foo::FOO.asc()).into_document().into()
    }

    /// The same sort with `doc!`.
    pub fn sort_doc(_: &Fixtures) -> Output {
        doc! { "bar": -1, "foo": 1 }.into()
    }
}

/// The `Bar` (composite key) cases.
pub mod bar {
    use super::*;
    use crate::models::BarInsert;

    /// `BarInsert` -> `Bar` -> bytes.
    pub fn encode_odm(f: &Fixtures) -> Output {
        let insert = BarInsert { id: f.bar.id.clone(), foo: f.bar.foo.clone(), bar: f.bar.bar };
        model_bytes(&Bar::from_insert(insert, f.now))
    }

    /// `doc!` -> bytes.
    pub fn encode_doc(f: &Fixtures) -> Output {
        let doc = doc! {
            "_id": { "foo": f.bar.id.foo, "bar": f.bar.id.bar.clone() },
            "foo": f.bar.foo.clone(),
            "bar": f.bar.bar,
            "created_at": f.now,
        };
        doc_bytes(&doc)
    }

    /// `RawDocumentBuf::append` -> bytes.
    pub fn encode_raw(f: &Fixtures) -> Output {
        let mut key = RawDocumentBuf::new();
        key.append("foo", uuid_bson(f.bar.id.foo));
        key.append("bar", f.bar.id.bar.as_str());
        let mut doc = RawDocumentBuf::new();
        doc.append("_id", key);
        doc.append("foo", f.bar.foo.as_str());
        doc.append("bar", opt_raw(f.bar.bar));
        doc.append("created_at", f.now);
        Output::Bytes(doc.into_bytes())
    }

    /// `bson::from_slice::<Bar>`.
    pub fn decode_odm(f: &Fixtures) -> Output {
        Output::Bar(bson::from_slice(&f.bar_bytes).expect("a Bar"))
    }

    /// The `Bar` out of a `Document`.
    pub fn from_document(doc: &Document) -> Option<Bar> {
        let key = doc.get_document("_id").ok()?;
        Some(Bar {
            id: BarKey { foo: doc_uuid(key, "foo")?, bar: key.get_str("bar").ok()?.to_string() },
            foo: doc.get_str("foo").ok()?.to_string(),
            bar: doc_opt_i64(doc, "bar")?,
            created_at: *doc.get_datetime("created_at").ok()?,
            updated_at: doc_opt_datetime(doc, "updated_at")?,
        })
    }

    /// The `Bar` out of a `RawDocument`.
    pub fn from_raw(doc: &RawDocument) -> Option<Bar> {
        let key = doc.get_document("_id").ok()?;
        Some(Bar {
            id: BarKey { foo: raw_uuid(key, "foo")?, bar: key.get_str("bar").ok()?.to_string() },
            foo: doc.get_str("foo").ok()?.to_string(),
            bar: raw_opt_i64(doc, "bar")?,
            created_at: doc.get_datetime("created_at").ok()?,
            updated_at: raw_opt_datetime(doc, "updated_at")?,
        })
    }

    /// Bytes -> `Document` -> `Bar`.
    pub fn decode_doc(f: &Fixtures) -> Output {
        let doc: Document = bson::from_slice(&f.bar_bytes).expect("a document");
        Output::Bar(from_document(&doc).expect("a Bar"))
    }

    /// Bytes -> `RawDocument` -> `Bar`.
    pub fn decode_raw(f: &Fixtures) -> Output {
        let doc = RawDocument::from_bytes(&f.bar_bytes).expect("a document");
        Output::Bar(from_raw(doc).expect("a Bar"))
    }

    /// `Bar::key_filter` (the composite key, converted field by field).
    pub fn key_odm(f: &Fixtures) -> Output {
        Bar::key_filter(&f.bar.id).expect("a key").into()
    }

    /// `doc! { "_id": { "foo": .., "bar": .. } }`.
    pub fn key_doc(f: &Fixtures) -> Output {
        doc! { "_id": { "foo": f.bar.id.foo, "bar": f.bar.id.bar.clone() } }.into()
    }
}

/// The `Wide` (31 fields, nested, arrays) cases.
pub mod wide {
    use super::*;

    /// `WideInsert` -> `Wide` -> bytes.
    pub fn encode_odm(f: &Fixtures) -> Output {
        let w = &f.wide;
        let insert = WideInsert {
            id: Some(w.id),
            name: w.name.clone(),
            title: w.title.clone(),
            description: w.description.clone(),
            email: w.email.clone(),
            phone: w.phone.clone(),
            status: w.status,
            active: w.active,
            verified: w.verified,
            age: w.age,
            level: w.level,
            score: w.score,
            balance: w.balance,
            rating: w.rating,
            rank: w.rank,
            visits: w.visits,
            tags: w.tags.clone(),
            scores: w.scores.clone(),
            items: w.items.clone(),
            address: w.address.clone(),
            billing: w.billing.clone(),
            dimensions: w.dimensions.clone(),
            owner: w.owner,
            parent: w.parent,
            last_login: w.last_login,
            born_at: w.born_at,
            note: w.note.clone(),
            locale: w.locale.clone(),
            timezone: w.timezone.clone(),
        };
        model_bytes(&Wide::from_insert(insert, f.now))
    }

    fn address_doc(a: &Address) -> Document {
        doc! {
            "street": a.street.clone(),
            "city": a.city.clone(),
            "zip": a.zip.clone(),
            "country": a.country.clone(),
        }
    }

    fn address_raw(a: &Address) -> RawDocumentBuf {
        let mut doc = RawDocumentBuf::new();
        doc.append("street", a.street.as_str());
        doc.append("city", a.city.as_str());
        doc.append("zip", a.zip.as_str());
        doc.append("country", a.country.as_str());
        doc
    }

    /// `doc!` -> bytes.
    pub fn encode_doc(f: &Fixtures) -> Output {
        let w = &f.wide;
        let items: Vec<Document> = w
            .items
            .iter()
            .map(|i| doc! { "sku": i.sku.clone(), "quantity": i.quantity, "price": i.price })
            .collect();
        let doc = doc! {
            "_id": w.id,
            "name": w.name.clone(),
            "title": w.title.clone(),
            "description": w.description.clone(),
            "email": w.email.clone(),
            "phone": w.phone.clone(),
            "status": w.status.as_str(),
            "active": w.active,
            "verified": w.verified,
            "age": w.age,
            "level": w.level,
            "score": w.score,
            "balance": w.balance,
            "rating": w.rating,
            "rank": w.rank,
            "visits": w.visits,
            "tags": w.tags.clone(),
            "scores": w.scores.clone(),
            "items": items,
            "address": address_doc(&w.address),
            "billing": w.billing.as_ref().map(address_doc),
            "dimensions": {
                "width": w.dimensions.width,
                "height": w.dimensions.height,
                "depth": w.dimensions.depth,
                "weight": w.dimensions.weight,
            },
            "owner": w.owner,
            "parent": w.parent,
            "last_login": w.last_login,
            "born_at": w.born_at,
            "note": w.note.clone(),
            "locale": w.locale.clone(),
            "timezone": w.timezone.clone(),
            "created_at": f.now,
        };
        doc_bytes(&doc)
    }

    /// `RawDocumentBuf::append` -> bytes.
    pub fn encode_raw(f: &Fixtures) -> Output {
        let w = &f.wide;
        let mut tags = bson::RawArrayBuf::new();
        for tag in &w.tags {
            tags.push(tag.as_str());
        }
        let mut scores = bson::RawArrayBuf::new();
        for score in &w.scores {
            scores.push(*score);
        }
        let mut items = bson::RawArrayBuf::new();
        for item in &w.items {
            let mut doc = RawDocumentBuf::new();
            doc.append("sku", item.sku.as_str());
            doc.append("quantity", item.quantity);
            doc.append("price", item.price);
            items.push(doc);
        }
        let mut dimensions = RawDocumentBuf::new();
        dimensions.append("width", w.dimensions.width);
        dimensions.append("height", w.dimensions.height);
        dimensions.append("depth", w.dimensions.depth);
        dimensions.append("weight", w.dimensions.weight);
        let mut doc = RawDocumentBuf::new();
        doc.append("_id", w.id);
        doc.append("name", w.name.as_str());
        doc.append("title", w.title.as_str());
        doc.append("description", w.description.as_str());
        doc.append("email", w.email.as_str());
        doc.append("phone", opt_raw(w.phone.as_deref()));
        doc.append("status", w.status.as_str());
        doc.append("active", w.active);
        doc.append("verified", w.verified);
        doc.append("age", w.age);
        doc.append("level", w.level);
        doc.append("score", w.score);
        doc.append("balance", w.balance);
        doc.append("rating", opt_raw(w.rating));
        doc.append("rank", w.rank);
        doc.append("visits", w.visits);
        doc.append("tags", tags);
        doc.append("scores", scores);
        doc.append("items", items);
        doc.append("address", address_raw(&w.address));
        doc.append("billing", opt_raw(w.billing.as_ref().map(address_raw)));
        doc.append("dimensions", dimensions);
        doc.append("owner", uuid_bson(w.owner));
        doc.append("parent", opt_raw(w.parent));
        doc.append("last_login", opt_raw(w.last_login));
        doc.append("born_at", w.born_at);
        doc.append("note", opt_raw(w.note.as_deref()));
        doc.append("locale", w.locale.as_str());
        doc.append("timezone", w.timezone.as_str());
        doc.append("created_at", f.now);
        Output::Bytes(doc.into_bytes())
    }

    /// `bson::from_slice::<Wide>`.
    pub fn decode_odm(f: &Fixtures) -> Output {
        Output::Wide(Box::new(bson::from_slice(&f.wide_bytes).expect("a Wide")))
    }

    fn doc_opt_string(doc: &Document, key: &str) -> Option<Option<String>> {
        match nullable(doc, key) {
            None => Some(None),
            Some(Bson::String(s)) => Some(Some(s.clone())),
            Some(_) => None,
        }
    }

    fn doc_address(doc: &Document) -> Option<Address> {
        Some(Address {
            street: doc.get_str("street").ok()?.to_string(),
            city: doc.get_str("city").ok()?.to_string(),
            zip: doc.get_str("zip").ok()?.to_string(),
            country: doc.get_str("country").ok()?.to_string(),
        })
    }

    /// The `Wide` out of a `Document`.
    pub fn from_document(doc: &Document) -> Option<Wide> {
        let dimensions = doc.get_document("dimensions").ok()?;
        Some(Wide {
            id: doc.get_object_id("_id").ok()?,
            name: doc.get_str("name").ok()?.to_string(),
            title: doc.get_str("title").ok()?.to_string(),
            description: doc.get_str("description").ok()?.to_string(),
            email: doc.get_str("email").ok()?.to_string(),
            phone: doc_opt_string(doc, "phone")?,
            status: Status::parse(doc.get_str("status").ok()?)?,
            active: doc.get_bool("active").ok()?,
            verified: doc.get_bool("verified").ok()?,
            age: doc.get_i32("age").ok()?,
            level: doc.get_i32("level").ok()?,
            score: doc.get_f64("score").ok()?,
            balance: doc.get_f64("balance").ok()?,
            rating: match nullable(doc, "rating") {
                None => None,
                Some(Bson::Double(v)) => Some(*v),
                Some(_) => return None,
            },
            rank: doc.get_i64("rank").ok()?,
            visits: doc.get_i64("visits").ok()?,
            tags: doc
                .get_array("tags")
                .ok()?
                .iter()
                .map(|t| t.as_str().map(str::to_string))
                .collect::<Option<_>>()?,
            scores: doc
                .get_array("scores")
                .ok()?
                .iter()
                .map(Bson::as_i64)
                .collect::<Option<_>>()?,
            items: doc
                .get_array("items")
                .ok()?
                .iter()
                .map(|i| {
                    let i = i.as_document()?;
                    Some(LineItem {
                        sku: i.get_str("sku").ok()?.to_string(),
                        quantity: i.get_i32("quantity").ok()?,
                        price: i.get_f64("price").ok()?,
                    })
                })
                .collect::<Option<_>>()?,
            address: doc_address(doc.get_document("address").ok()?)?,
            billing: match nullable(doc, "billing") {
                None => None,
                Some(Bson::Document(d)) => Some(doc_address(d)?),
                Some(_) => return None,
            },
            dimensions: Dimensions {
                width: dimensions.get_f64("width").ok()?,
                height: dimensions.get_f64("height").ok()?,
                depth: dimensions.get_f64("depth").ok()?,
                weight: dimensions.get_f64("weight").ok()?,
            },
            owner: doc_uuid(doc, "owner")?,
            parent: match nullable(doc, "parent") {
                None => None,
                Some(Bson::ObjectId(id)) => Some(*id),
                Some(_) => return None,
            },
            last_login: doc_opt_datetime(doc, "last_login")?,
            born_at: *doc.get_datetime("born_at").ok()?,
            note: doc_opt_string(doc, "note")?,
            locale: doc.get_str("locale").ok()?.to_string(),
            timezone: doc.get_str("timezone").ok()?.to_string(),
            created_at: *doc.get_datetime("created_at").ok()?,
            updated_at: doc_opt_datetime(doc, "updated_at")?,
        })
    }

    fn raw_opt_string(doc: &RawDocument, key: &str) -> Option<Option<String>> {
        match raw_nullable(doc, key)? {
            None => Some(None),
            Some(value) => value.as_str().map(|s| Some(s.to_string())),
        }
    }

    fn raw_address(doc: &RawDocument) -> Option<Address> {
        Some(Address {
            street: doc.get_str("street").ok()?.to_string(),
            city: doc.get_str("city").ok()?.to_string(),
            zip: doc.get_str("zip").ok()?.to_string(),
            country: doc.get_str("country").ok()?.to_string(),
        })
    }

    /// The `Wide` out of a `RawDocument`.
    pub fn from_raw(doc: &RawDocument) -> Option<Wide> {
        let dimensions = doc.get_document("dimensions").ok()?;
        Some(Wide {
            id: doc.get_object_id("_id").ok()?,
            name: doc.get_str("name").ok()?.to_string(),
            title: doc.get_str("title").ok()?.to_string(),
            description: doc.get_str("description").ok()?.to_string(),
            email: doc.get_str("email").ok()?.to_string(),
            phone: raw_opt_string(doc, "phone")?,
            status: Status::parse(doc.get_str("status").ok()?)?,
            active: doc.get_bool("active").ok()?,
            verified: doc.get_bool("verified").ok()?,
            age: doc.get_i32("age").ok()?,
            level: doc.get_i32("level").ok()?,
            score: doc.get_f64("score").ok()?,
            balance: doc.get_f64("balance").ok()?,
            rating: match raw_nullable(doc, "rating")? {
                None => None,
                Some(v) => Some(v.as_f64()?),
            },
            rank: doc.get_i64("rank").ok()?,
            visits: doc.get_i64("visits").ok()?,
            tags: doc
                .get_array("tags")
                .ok()?
                .into_iter()
                .map(|t| t.ok()?.as_str().map(str::to_string))
                .collect::<Option<_>>()?,
            scores: doc
                .get_array("scores")
                .ok()?
                .into_iter()
                .map(|s| s.ok()?.as_i64())
                .collect::<Option<_>>()?,
            items: doc
                .get_array("items")
                .ok()?
                .into_iter()
                .map(|i| {
                    let i = i.ok()?.as_document()?;
                    Some(LineItem {
                        sku: i.get_str("sku").ok()?.to_string(),
                        quantity: i.get_i32("quantity").ok()?,
                        price: i.get_f64("price").ok()?,
                    })
                })
                .collect::<Option<_>>()?,
            address: raw_address(doc.get_document("address").ok()?)?,
            billing: match raw_nullable(doc, "billing")? {
                None => None,
                Some(v) => Some(raw_address(v.as_document()?)?),
            },
            dimensions: Dimensions {
                width: dimensions.get_f64("width").ok()?,
                height: dimensions.get_f64("height").ok()?,
                depth: dimensions.get_f64("depth").ok()?,
                weight: dimensions.get_f64("weight").ok()?,
            },
            owner: raw_uuid(doc, "owner")?,
            parent: match raw_nullable(doc, "parent")? {
                None => None,
                Some(v) => Some(v.as_object_id()?),
            },
            last_login: raw_opt_datetime(doc, "last_login")?,
            born_at: doc.get_datetime("born_at").ok()?,
            note: raw_opt_string(doc, "note")?,
            locale: doc.get_str("locale").ok()?.to_string(),
            timezone: doc.get_str("timezone").ok()?.to_string(),
            created_at: doc.get_datetime("created_at").ok()?,
            updated_at: raw_opt_datetime(doc, "updated_at")?,
        })
    }

    /// Bytes -> `Document` -> `Wide`.
    pub fn decode_doc(f: &Fixtures) -> Output {
        let doc: Document = bson::from_slice(&f.wide_bytes).expect("a document");
        Output::Wide(Box::new(from_document(&doc).expect("a Wide")))
    }

    /// Bytes -> `RawDocument` -> `Wide`.
    pub fn decode_raw(f: &Fixtures) -> Output {
        let doc = RawDocument::from_bytes(&f.wide_bytes).expect("a document");
        Output::Wide(Box::new(from_raw(doc).expect("a Wide")))
    }

    /// `Wide::key_filter` (ObjectId).
    pub fn key_odm(f: &Fixtures) -> Output {
        Wide::key_filter(&f.wide.id).expect("a key").into()
    }

    /// `doc! { "_id": id }`.
    pub fn key_doc(f: &Fixtures) -> Output {
        let id: ObjectId = f.wide.id;
        doc! { "_id": id }.into()
    }

    /// Four conditions: an enum, a range, a bound and a list.
    pub fn query_odm(_: &Fixtures) -> Output {
        Wide::STATUS
            .eq(Status::Active)
            .and(Wide::AGE.range(18..65))
            .and(Wide::SCORE.gt(0.5))
            .and(Wide::EMAIL.one_of(["a@example.com", "b@example.com"]))
            .into_document()
            .expect("valid")
            .into()
    }

    /// The same filter with `doc!`.
    pub fn query_doc(_: &Fixtures) -> Output {
        doc! {
            "status": "active",
            "age": { "$gte": 18, "$lt": 65 },
            "score": { "$gt": 0.5 },
            "email": { "$in": ["a@example.com", "b@example.com"] },
        }
        .into()
    }

    /// Sets a string, a number and a nested struct; increments; unsets.
    pub fn update_odm(f: &Fixtures) -> Output {
        Wide::NAME
            .set("n")
            .and(Wide::SCORE.set(1.5))
            .and(Wide::ADDRESS.set(f.address.clone()))
            .and(Wide::VISITS.inc(1))
            .and(Wide::NOTE.unset())
            .into_document(f.now)
            .expect("valid")
            .into()
    }

    /// The same update with `doc!`.
    pub fn update_doc(f: &Fixtures) -> Output {
        doc! {
            "$set": {
                "name": "n",
                "score": 1.5,
                "address": address_doc(&f.address),
                "updated_at": f.now,
            },
            "$unset": { "note": "" },
            "$inc": { "visits": 1_i64 },
        }
        .into()
    }

    /// Three keys.
    pub fn sort_odm(_: &Fixtures) -> Output {
        Wide::STATUS
            .asc()
            .then_by(Wide::SCORE.desc())
            .then_by(Wide::CREATED_AT.desc())
            .into_document()
            .into()
    }

    /// The same sort with `doc!`.
    pub fn sort_doc(_: &Fixtures) -> Output {
        doc! { "status": 1, "score": -1, "created_at": -1 }.into()
    }

    /// Nested paths: a field of a nested struct, a field of any array
    /// element, an array membership.
    pub fn nested_query_odm(_: &Fixtures) -> Output {
        Wide::ADDRESS
            .then(Address::CITY)
            .eq("London")
            .and(Wide::ITEMS.any(LineItem::SKU).eq("A-1"))
            .and(Wide::TAGS.contains("math"))
            .into_document()
            .expect("valid")
            .into()
    }

    /// The same filter with `doc!` and dotted strings.
    pub fn nested_query_doc(_: &Fixtures) -> Output {
        doc! { "address.city": "London", "items.sku": "A-1", "tags": "math" }.into()
    }

    /// `$elemMatch` with a typed element query.
    pub fn elem_match_odm(_: &Fixtures) -> Output {
        Wide::ITEMS
            .elem_match(LineItem::SKU.eq("A-1").and(LineItem::QUANTITY.gte(2)))
            .into_document()
            .expect("valid")
            .into()
    }

    /// The same filter with `doc!`.
    pub fn elem_match_doc(_: &Fixtures) -> Output {
        doc! { "items": { "$elemMatch": { "sku": "A-1", "quantity": { "$gte": 2 } } } }.into()
    }

    /// Array operators and a nested path in one update. A pushed document
    /// goes inside `$each` (so its keys stay data); the hand-written side
    /// sends the same.
    pub fn array_update_odm(f: &Fixtures) -> Output {
        Wide::TAGS
            .add_to_set("x")
            .and(Wide::ITEMS.push(f.wide.items[0].clone()))
            .and(Wide::VISITS.inc(1))
            .and(Wide::ADDRESS.then(Address::CITY).set("Paris"))
            .into_document(f.now)
            .expect("valid")
            .into()
    }

    /// The same update with `doc!`.
    pub fn array_update_doc(f: &Fixtures) -> Output {
        let item = &f.wide.items[0];
        doc! {
            "$set": { "address.city": "Paris", "updated_at": f.now },
            "$inc": { "visits": 1_i64 },
            "$addToSet": { "tags": "x" },
            "$push": { "items": { "$each": [
                { "sku": item.sku.clone(), "quantity": item.quantity, "price": item.price },
            ] } },
        }
        .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_group_has_an_odm_and_a_hand_written_side() {
        let cases = cases();
        for case in &cases {
            let has = |side| cases.iter().any(|c| c.group == case.group && c.side == side);
            assert!(has(Side::Odm) && has(Side::Doc), "{case:?}");
        }
    }

    /// No side can win by doing less: all produce the same bytes, documents
    /// (in the same field order) or structs.
    #[test]
    fn the_sides_of_a_group_produce_the_same_output() {
        let f = Fixtures::new();
        let cases = cases();
        for case in &cases {
            let odm = cases.iter().find(|c| c.group == case.group && c.side == Side::Odm).unwrap();
            let (mine, theirs) = ((case.run)(&f), (odm.run)(&f));
            assert_eq!(mine, theirs, "{case:?}");
            assert_eq!(mine.to_bytes(), theirs.to_bytes(), "{case:?}");
        }
    }

    #[test]
    fn decoding_returns_the_stored_samples() {
        let f = Fixtures::new();
        for case in cases().iter().filter(|c| c.group.ends_with("/decode")) {
            let expected = match case.group {
                "foo/decode" => Output::Foo(f.foo.clone()),
                "bar/decode" => Output::Bar(f.bar.clone()),
                _ => Output::Wide(Box::new(f.wide.clone())),
            };
            assert_eq!((case.run)(&f), expected, "{case:?}");
        }
    }
}
