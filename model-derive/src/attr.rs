//! `#[model(...)]` attributes, parsed by darling. Unknown keys get a
//! "did you mean" suggestion; duplicates and malformed values a spanned error.

use darling::util::{Flag, SpannedValue};
use darling::{FromDeriveInput, FromField, FromMeta, FromVariant};
use syn::{Expr, Ident};

use crate::ast::ContainerAttrs;
use crate::constraint::{AllowedValues, Bounds, NumberBounds, Pattern};

/// `#[model(...)]` on a struct deriving `Model`.
#[derive(FromDeriveInput, Default)]
#[darling(attributes(model))]
pub struct ModelAttrs {
    /// `collection = "name"`; by default the plural snake_case type name.
    pub collection: Option<SpannedValue<String>>,
    /// `key = field`: the field stored as `_id`.
    pub key: Option<Ident>,
    /// `additional_properties = true` lets the validator accept unknown fields.
    #[darling(default)]
    pub additional_properties: bool,
    /// `index(keys(a, b = -1), name = "..", unique, sparse, expire_after = 60, partial = expr)`.
    #[darling(multiple, rename = "index")]
    pub indexes: Vec<SpannedValue<IndexAttrs>>,
    /// `crate = path`: where the runtime is (default `::model`).
    #[darling(rename = "crate")]
    pub krate: Option<syn::Path>,
    /// `timestamps = false` leaves out `created_at` and `updated_at`;
    /// `timestamps = "created_at"` keeps `created_at` only.
    pub timestamps: Option<SpannedValue<Timestamps>>,
    /// `validation_level = "strict"` (the default) or `"moderate"`.
    #[darling(default)]
    pub validation_level: ValidationLevel,
    /// `validation_action = "error"` (the default) or `"warn"`.
    #[darling(default)]
    pub validation_action: ValidationAction,
}

/// Which writes the validator checks: the collection's `validationLevel`.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub enum ValidationLevel {
    /// Every insert and update.
    #[default]
    Strict,
    /// Inserts, and updates of documents that are valid already.
    Moderate,
}

/// Which timestamps the repository keeps: `timestamps = true` (the
/// default), `false`, or `"created_at"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Timestamps {
    /// `created_at` and `updated_at`.
    #[default]
    Both,
    /// `created_at` only: no write stamps an update time.
    CreatedAt,
    /// None.
    Off,
}

impl FromMeta for Timestamps {
    fn from_bool(value: bool) -> darling::Result<Self> {
        Ok(if value { Timestamps::Both } else { Timestamps::Off })
    }

    fn from_string(value: &str) -> darling::Result<Self> {
        match value {
            "created_at" => Ok(Timestamps::CreatedAt),
            _ => Err(darling::Error::custom(format!(
                "unknown timestamps `{}`: `true` (the default: `created_at` and `updated_at`), `false` (none), or `\"created_at\"` (the creation time only)",
                value.escape_default()
            ))),
        }
    }
}

impl FromMeta for ValidationLevel {
    fn from_string(value: &str) -> darling::Result<Self> {
        match value {
            "strict" => Ok(ValidationLevel::Strict),
            "moderate" => Ok(ValidationLevel::Moderate),
            _ => Err(darling::Error::custom(format!(
                "unknown validation level `{}`: `strict` (the default: every insert and update is validated) or `moderate` (updates of documents that already fail are not)",
                value.escape_default()
            ))),
        }
    }
}

/// What the server does with a write that fails validation: the
/// collection's `validationAction`.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub enum ValidationAction {
    /// The write is refused.
    #[default]
    Error,
    /// The write is applied and the failure logged.
    Warn,
}

impl FromMeta for ValidationAction {
    fn from_string(value: &str) -> darling::Result<Self> {
        match value {
            "error" => Ok(ValidationAction::Error),
            "warn" => Ok(ValidationAction::Warn),
            _ => Err(darling::Error::custom(format!(
                "unknown validation action `{}`: `error` (the default: a write that fails validation is refused) or `warn` (it is applied, and the server logs it)",
                value.escape_default()
            ))),
        }
    }
}

/// `#[model(...)]` on a field of a model.
#[derive(FromField, Default)]
#[darling(attributes(model))]
pub struct FieldAttrs {
    /// This field is the key (alternative to `key = field` on the struct).
    pub key: Flag,
    /// An ascending single-field index.
    pub index: Flag,
    /// A unique single-field index.
    pub unique: Flag,
    /// Make the single-field index sparse.
    pub sparse: Flag,
    /// Make the single-field index a TTL index (seconds).
    pub expire_after: Option<SpannedValue<u64>>,
    /// The version field (optimistic concurrency).
    pub version: Flag,
    /// The creation timestamp, under any stored name.
    pub created_at: Flag,
    /// The update timestamp, under any stored name.
    pub updated_at: Flag,
    /// `length(min = 1, max = 64)`: a string's length in characters.
    pub length: Option<SpannedValue<Bounds>>,
    /// `pattern = "^[a-z]+$"`: a regular expression a string matches.
    pub pattern: Option<SpannedValue<Pattern>>,
    /// `range(min = 0, max = 150)`: a number's bounds, inclusive.
    pub range: Option<SpannedValue<NumberBounds>>,
    /// `allowed("draft", "published")`: the values the field may have.
    pub allowed: Option<SpannedValue<AllowedValues>>,
    /// `items(min = 1, max = 10)`: an array's size.
    pub items: Option<SpannedValue<Bounds>>,
    /// `unique_items`: no two elements of an array equal.
    pub unique_items: Flag,
}

/// One struct-level `index(...)`.
#[derive(FromMeta)]
pub struct IndexAttrs {
    /// `keys(a, b = -1)`: fields in order, `1` ascending (the default) or `-1` descending.
    pub keys: IndexKeys,
    pub name: Option<String>,
    pub unique: Flag,
    pub sparse: Flag,
    pub expire_after: Option<u64>,
    /// A partial filter: any expression that evaluates to a `bson::Document`.
    pub partial: Option<Expr>,
    /// `collation(locale = "en", strength = 2)`: how the index compares
    /// strings (strength 2: case-insensitive).
    pub collation: Option<CollationAttrs>,
}

/// An index's collation: a locale and, optionally, a strength (1 to 5).
#[derive(FromMeta)]
pub struct CollationAttrs {
    /// The ICU locale, `"en"`, `"fr"`, `"simple"`, ...
    pub locale: String,
    /// 1 (base letters), 2 (and accents: case-insensitive), 3 (and case,
    /// the server's default), 4, 5 (identical).
    pub strength: Option<SpannedValue<u8>>,
}

/// What an index keeps of one key: `1`, `-1`, or a kind.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum IndexKey {
    /// `1` (the default).
    Asc,
    /// `-1`.
    Desc,
    /// `"text"`.
    Text,
    /// `"2dsphere"`.
    Sphere,
    /// `"hashed"`.
    Hashed,
    /// `"wildcard"`: every path under the key (`key.$**`), or under the
    /// whole document for `"$**"`.
    Wildcard,
}

/// Which path one key of an index is on.
pub enum KeyPath {
    /// A field of the model, by its Rust name: `keys(email)`.
    Field(Ident),
    /// A path through nested documents or arrays, as a typed field path:
    /// `keys(Self::ADDRESS.then(Address::CITY))`.
    Path(Box<Expr>),
    /// Every path of the document: `keys("$**")`.
    All,
}

/// The keys of an index, in order.
pub struct IndexKeys(pub Vec<(KeyPath, IndexKey)>);

impl IndexKeys {
    /// The keys that name a field of the model, by its Rust name.
    pub fn fields(&self) -> impl Iterator<Item = (&Ident, IndexKey)> {
        self.0.iter().filter_map(|(path, key)| match path {
            KeyPath::Field(ident) => Some((ident, *key)),
            _ => None,
        })
    }
}

const KEY_FORMAT: &str = "expected a field name, a typed path like `Self::ADDRESS.then(Address::CITY)`, or `\"$**\"`, each optionally `= 1`, `= -1`, `= \"text\"`, `= \"2dsphere\"`, `= \"hashed\"` or `= \"wildcard\"`; the correct format looks like `keys(foo, bar = -1)`";

impl FromMeta for IndexKeys {
    fn from_meta(item: &syn::Meta) -> darling::Result<Self> {
        use syn::punctuated::Punctuated;
        let syn::Meta::List(list) = item else {
            return Err(darling::Error::custom(KEY_FORMAT).with_span(item));
        };
        let items = list
            .parse_args_with(Punctuated::<Expr, syn::Token![,]>::parse_terminated)
            .map_err(|e| darling::Error::custom(KEY_FORMAT).with_span(&e.span()))?;
        let mut keys = Vec::new();
        let mut errors = darling::Error::accumulator();
        for item in &items {
            let (path, key) = match item {
                Expr::Assign(assign) => match index_key(&assign.right) {
                    Some(key) => (&*assign.left, key),
                    None => {
                        errors.push(
                            darling::Error::custom(
                                "an index key is `1` (ascending), `-1` (descending), `\"text\"`, `\"2dsphere\"`, `\"hashed\"` or `\"wildcard\"`",
                            )
                            .with_span(&assign.right),
                        );
                        continue;
                    }
                },
                other => (other, IndexKey::Asc),
            };
            match key_path(path) {
                Some(KeyPath::All) if key != IndexKey::Asc => errors.push(
                    darling::Error::custom(
                        "`\"$**\"` is a wildcard index of every path: it takes no kind",
                    )
                    .with_span(item),
                ),
                Some(KeyPath::All) => keys.push((KeyPath::All, IndexKey::Wildcard)),
                Some(path) => keys.push((path, key)),
                None => errors.push(darling::Error::custom(KEY_FORMAT).with_span(item)),
            }
        }
        if items.is_empty() {
            errors
                .push(darling::Error::custom("an index needs at least one key, like `keys(foo)`"));
        }
        errors.finish_with(IndexKeys(keys))
    }
}

fn key_path(expr: &Expr) -> Option<KeyPath> {
    match expr {
        Expr::Path(path) if path.qself.is_none() && path.path.get_ident().is_some() => {
            path.path.get_ident().cloned().map(KeyPath::Field)
        }
        Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) if s.value() == "$**" => {
            Some(KeyPath::All)
        }
        Expr::Lit(_) => None,
        _ => Some(KeyPath::Path(Box::new(expr.clone()))),
    }
}

fn index_key(expr: &Expr) -> Option<IndexKey> {
    match expr {
        Expr::Lit(syn::ExprLit { lit: syn::Lit::Int(i), .. }) => match i.base10_digits() {
            "1" => Some(IndexKey::Asc),
            "-1" => Some(IndexKey::Desc),
            _ => None,
        },
        Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) => match s.value().as_str() {
            "text" => Some(IndexKey::Text),
            "2dsphere" => Some(IndexKey::Sphere),
            "hashed" => Some(IndexKey::Hashed),
            "wildcard" => Some(IndexKey::Wildcard),
            _ => None,
        },
        Expr::Unary(syn::ExprUnary { op: syn::UnOp::Neg(_), expr, .. }) => match index_key(expr) {
            Some(IndexKey::Asc) => Some(IndexKey::Desc),
            _ => None,
        },
        _ => None,
    }
}

/// `#[model(...)]` on a type deriving `Schema`, `CompositeKey` or `Ordered`.
#[derive(FromDeriveInput, Default)]
#[darling(attributes(model))]
pub struct SchemaAttrs {
    /// `additional_properties = true` lets the validator accept unknown fields.
    #[darling(default)]
    pub additional_properties: bool,
    /// `crate = path`: where the runtime is (default `::model`).
    #[darling(rename = "crate")]
    pub krate: Option<syn::Path>,
}

/// `#[model(...)]` on a field of a nested struct or composite key (no
/// field options yet: any is an error).
#[derive(FromField, Default)]
#[darling(attributes(model))]
pub struct SchemaFieldAttrs {}

/// `#[model(...)]` on a variant of an enum deriving `Schema` (no options).
#[derive(FromVariant, Default)]
#[darling(attributes(model))]
pub struct VariantAttrs {}

/// `#[projection(...)]` on a struct deriving `Projection`.
#[derive(FromDeriveInput, Default)]
#[darling(attributes(projection))]
pub struct ProjectionAttrs {
    /// `model = Path`: the model this reads from.
    pub model: Option<syn::Path>,
    /// `crate = path`: where the runtime is (default `::model`).
    #[darling(rename = "crate")]
    pub krate: Option<syn::Path>,
}

impl ContainerAttrs for ModelAttrs {
    fn krate(&self) -> Option<&syn::Path> {
        self.krate.as_ref()
    }
}

impl ContainerAttrs for SchemaAttrs {
    fn krate(&self) -> Option<&syn::Path> {
        self.krate.as_ref()
    }
}

impl ContainerAttrs for ProjectionAttrs {
    fn krate(&self) -> Option<&syn::Path> {
        self.krate.as_ref()
    }
}
