//! The indexes a model declares: as `#[derive(Model)]` writes them at
//! compile time ([`IndexDecl`]), and as they are created ([`IndexSpec`]).

use std::time::Duration;

use bson::{Bson, Document};
use mongodb::options::Collation;

/// What an index keeps of one key: its order, or its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexKey {
    /// Ascending (`1`).
    Asc,
    /// Descending (`-1`).
    Desc,
    /// A text index (`"text"`): words, for `$text` queries.
    Text,
    /// A geospatial index on a sphere (`"2dsphere"`), for GeoJSON values.
    Sphere,
    /// A hashed index (`"hashed"`): for hashed sharding and equality.
    Hashed,
    /// A wildcard index (`"wildcard"`): every path under the key
    /// (`key.$**: 1`), or under the whole document for an empty path
    /// (`$**: 1`).
    Wildcard,
}

impl IndexKey {
    /// The key's path in an index's key document: `path`, or for a
    /// wildcard `path.$**` (`$**` for the empty path).
    pub fn path(self, path: &str) -> String {
        match (self, path) {
            (IndexKey::Wildcard, "") => "$**".to_string(),
            (IndexKey::Wildcard, path) => format!("{path}.$**"),
            (_, path) => path.to_string(),
        }
    }

    /// The key's value in an index's key document.
    pub fn bson(self) -> Bson {
        match self {
            IndexKey::Asc | IndexKey::Wildcard => Bson::Int32(1),
            IndexKey::Desc => Bson::Int32(-1),
            IndexKey::Text => Bson::String("text".into()),
            IndexKey::Sphere => Bson::String("2dsphere".into()),
            IndexKey::Hashed => Bson::String("hashed".into()),
        }
    }
}

/// One index as `#[derive(Model)]` declares it, built at compile time; a
/// model's [`INDEX_DECLS`](crate::Model::INDEX_DECLS) become its
/// [`IndexSpec`]s when asked for.
#[derive(Debug, Clone, Copy)]
pub struct IndexDecl {
    keys: Keys,
    name: Option<&'static str>,
    unique: bool,
    sparse: bool,
    expire_after_secs: Option<u64>,
    partial_filter: Option<fn() -> Document>,
    collation: Option<(&'static str, Option<u8>)>,
}

/// An index declaration's keys: stored names, or paths built when the
/// index is.
#[derive(Debug, Clone, Copy)]
enum Keys {
    Stored(&'static [(&'static str, IndexKey)]),
    Paths(fn() -> Vec<(&'static str, IndexKey)>),
}

impl IndexDecl {
    /// An index on `keys` (stored name and order or kind), in order.
    pub const fn on(keys: &'static [(&'static str, IndexKey)]) -> Self {
        Self::with_keys(Keys::Stored(keys))
    }

    /// An index on the keys `keys` returns (paths and orders or kinds, in
    /// order), built when the index is: for nested and array paths,
    /// which are made at run time.
    pub const fn on_paths(keys: fn() -> Vec<(&'static str, IndexKey)>) -> Self {
        Self::with_keys(Keys::Paths(keys))
    }

    const fn with_keys(keys: Keys) -> Self {
        IndexDecl {
            keys,
            name: None,
            unique: false,
            sparse: false,
            expire_after_secs: None,
            partial_filter: None,
            collation: None,
        }
    }

    /// Names the index.
    pub const fn name(mut self, name: &'static str) -> Self {
        self.name = Some(name);
        self
    }

    /// Makes the index unique.
    pub const fn unique(mut self) -> Self {
        self.unique = true;
        self
    }

    /// Makes the index sparse.
    pub const fn sparse(mut self) -> Self {
        self.sparse = true;
        self
    }

    /// Makes it a TTL index.
    pub const fn expire_after_secs(mut self, seconds: u64) -> Self {
        self.expire_after_secs = Some(seconds);
        self
    }

    /// Makes it a partial index; `filter` builds the filter document.
    pub const fn partial_filter(mut self, filter: fn() -> Document) -> Self {
        self.partial_filter = Some(filter);
        self
    }

    /// Gives the index a collation: an ICU `locale` and a `strength` (1
    /// to 5; 2 compares case-insensitively, `None` is the server's
    /// default, 3).
    pub const fn collation(mut self, locale: &'static str, strength: Option<u8>) -> Self {
        self.collation = Some((locale, strength));
        self
    }

    /// The index to create.
    pub fn spec(&self) -> IndexSpec {
        let mut keys = Document::new();
        let mut put = |path: &str, key: IndexKey| keys.insert(key.path(path), key.bson());
        match self.keys {
            Keys::Stored(stored) => stored.iter().for_each(|(path, key)| {
                put(path, *key);
            }),
            Keys::Paths(paths) => paths().into_iter().for_each(|(path, key)| {
                put(path, key);
            }),
        }
        let mut spec = IndexSpec::new(keys).unique(self.unique).sparse(self.sparse);
        if let Some(name) = self.name {
            spec = spec.name(name);
        }
        if let Some(seconds) = self.expire_after_secs {
            spec = spec.expire_after(Duration::from_secs(seconds));
        }
        if let Some(filter) = self.partial_filter {
            spec = spec.partial_filter(filter());
        }
        if let Some((locale, strength)) = self.collation {
            use mongodb::options::CollationStrength;
            let strength = strength.and_then(|s| match s {
                1 => Some(CollationStrength::Primary),
                2 => Some(CollationStrength::Secondary),
                3 => Some(CollationStrength::Tertiary),
                4 => Some(CollationStrength::Quaternary),
                5 => Some(CollationStrength::Identical),
                _ => None,
            });
            spec = spec.collation(Collation::builder().locale(locale).strength(strength).build());
        }
        spec
    }
}

/// An index a model declares.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IndexSpec {
    /// The index name; by default MongoDB's own (`field_1_other_-1`).
    pub name: String,
    /// The keys, in order, each `1` or `-1`.
    pub keys: Document,
    /// Reject duplicate values.
    pub unique: bool,
    /// Skip documents that lack the indexed fields.
    pub sparse: bool,
    /// TTL: delete a document this long after the date in its (single) key field.
    pub expire_after: Option<Duration>,
    /// Index only the documents matching this filter.
    pub partial_filter: Option<Document>,
    /// Compare strings by these language rules (for example case-insensitively).
    pub collation: Option<Collation>,
}

impl PartialEq for IndexSpec {
    fn eq(&self, other: &Self) -> bool {
        // `Collation` has no `PartialEq`: compare what it serializes to.
        let collation = |spec: &IndexSpec| {
            let collation = spec.collation.as_ref()?;
            bson::to_document(collation).ok()
        };
        self.name == other.name
            && self.keys == other.keys
            && self.unique == other.unique
            && self.sparse == other.sparse
            && self.expire_after == other.expire_after
            && self.partial_filter == other.partial_filter
            && collation(self) == collation(other)
    }
}

impl IndexSpec {
    /// An index on `keys` with MongoDB's default name.
    pub fn new(keys: Document) -> Self {
        IndexSpec {
            name: Self::default_name(&keys),
            keys,
            unique: false,
            sparse: false,
            expire_after: None,
            partial_filter: None,
            collation: None,
        }
    }

    /// MongoDB's default name for an index on `keys`: `a_1_b_-1`.
    pub fn default_name(keys: &Document) -> String {
        let parts: Vec<String> = keys
            .iter()
            .map(|(field, direction)| match direction {
                Bson::Int32(d) => format!("{field}_{d}"),
                Bson::Int64(d) => format!("{field}_{d}"),
                Bson::String(s) => format!("{field}_{s}"),
                other => format!("{field}_{other}"),
            })
            .collect();
        parts.join("_")
    }

    /// Names the index.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Makes the index unique.
    pub fn unique(mut self, unique: bool) -> Self {
        self.unique = unique;
        self
    }

    /// Makes the index sparse.
    pub fn sparse(mut self, sparse: bool) -> Self {
        self.sparse = sparse;
        self
    }

    /// Makes it a TTL index.
    pub fn expire_after(mut self, after: Duration) -> Self {
        self.expire_after = Some(after);
        self
    }

    /// Makes it a partial index.
    pub fn partial_filter(mut self, filter: Document) -> Self {
        self.partial_filter = Some(filter);
        self
    }

    /// Gives the index a collation. A collation can only be compared with
    /// the server's by the fields it sets: declare every field you rely on.
    pub fn collation(mut self, collation: Collation) -> Self {
        self.collation = Some(collation);
        self
    }

    /// The driver's index model.
    pub fn to_index_model(&self) -> mongodb::IndexModel {
        let options = mongodb::options::IndexOptions::builder()
            .name(self.name.clone())
            .unique(self.unique.then_some(true))
            .sparse(self.sparse.then_some(true))
            .expire_after(self.expire_after)
            .partial_filter_expression(self.partial_filter.clone())
            .collation(self.collation.clone())
            .build();
        mongodb::IndexModel::builder().keys(self.keys.clone()).options(options).build()
    }
}
