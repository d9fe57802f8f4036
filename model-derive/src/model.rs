//! What `#[derive(Model)]` reads in the AST: which field is the key, which
//! are the timestamps and the version, the indexes, the collection. Built
//! whether or not the input passed its checks (the field constants emitted
//! beside errors need it); `check::model` says what is wrong with it.

use syn::ext::IdentExt;
use syn::{Expr, Ident, Type, Visibility};

use crate::ast;
use crate::attr::{
    FieldAttrs, IndexKey, KeyPath, ModelAttrs, Timestamps, ValidationAction, ValidationLevel,
};
use crate::case;

/// The AST of a `#[derive(Model)]` input.
pub type Input = ast::Container<ModelAttrs, FieldAttrs>;

/// What a field is to the runtime.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Key,
    CreatedAt,
    UpdatedAt,
    /// `#[model(version)]`: counted by the runtime.
    Version,
    Data,
}

/// A field of the model, with its role.
pub struct Field<'a> {
    pub ident: &'a Ident,
    pub ty: &'a Type,
    /// Its `#[model(...)]`.
    pub attrs: &'a FieldAttrs,
    /// The name stored in the document (after serde renames).
    pub stored: &'a str,
    pub role: Role,
    /// serde fills the field when a document lacks it (`#[serde(default)]`
    /// on it or on the struct): the validator does not require it.
    pub default: bool,
}

/// An index to declare: from a field's `#[model(index)]` or `unique`, or
/// from the struct's `index(...)`.
pub struct Index {
    /// Paths with their order or kind, in order.
    pub keys: Vec<(Key, IndexKey)>,
    pub name: Option<String>,
    pub unique: bool,
    pub sparse: bool,
    pub expire_after: Option<u64>,
    pub partial: Option<Expr>,
    /// The collation's locale and strength.
    pub collation: Option<(String, Option<u8>)>,
}

/// The path of one key of an index.
pub enum Key {
    /// A field of the model, by its stored name.
    Stored(String),
    /// A typed field path, evaluated when the index is built.
    Path(Expr),
    /// Every path of the document (a wildcard index's `$**`).
    All,
}

/// The model the generated code describes.
pub struct Model<'a> {
    pub ident: &'a Ident,
    pub vis: &'a Visibility,
    pub krate: &'a proc_macro2::TokenStream,
    pub collection: String,
    pub fields: Vec<Field<'a>>,
    pub additional_properties: bool,
    pub indexes: Vec<Index>,
    pub validation_level: ValidationLevel,
    pub validation_action: ValidationAction,
}

impl<'a> Model<'a> {
    /// Reads the model in `input`, taking the first of several keys and
    /// leaving out index keys that name no field.
    pub fn from_ast(input: &'a Input) -> Self {
        let key = key_field(input);
        let stamps = Stamps::of(input);
        let fields: Vec<Field<'a>> = input
            .fields()
            .iter()
            .map(|f| Field {
                ident: &f.ident,
                ty: &f.ty,
                attrs: &f.attrs,
                stored: f.stored(),
                role: role(f, key, stamps),
                default: f.serde.default || input.serde.default,
            })
            .collect();
        let field_indexes = fields.iter().zip(input.fields()).filter_map(|(field, raw)| {
            let attrs = &raw.attrs;
            let indexed = attrs.index.is_present() || attrs.unique.is_present();
            (indexed && field.role != Role::Key).then(|| Index {
                keys: vec![(Key::Stored(field.stored.to_string()), IndexKey::Asc)],
                name: None,
                unique: attrs.unique.is_present(),
                sparse: attrs.sparse.is_present(),
                expire_after: attrs.expire_after.as_ref().map(|v| **v),
                partial: None,
                collation: None,
            })
        });
        let struct_indexes = input.attrs.indexes.iter().map(|index| Index {
            keys: index
                .keys
                .0
                .iter()
                .filter_map(|(path, key)| match path {
                    KeyPath::Field(ident) => {
                        let field = fields.iter().find(|f| ident.unraw() == f.ident.unraw())?;
                        Some((Key::Stored(field.stored.to_string()), *key))
                    }
                    KeyPath::Path(expr) => Some((Key::Path((**expr).clone()), *key)),
                    KeyPath::All => Some((Key::All, *key)),
                })
                .collect(),
            name: index.name.clone(),
            unique: index.unique.is_present(),
            sparse: index.sparse.is_present(),
            expire_after: index.expire_after,
            partial: index.partial.clone(),
            collation: index.collation.as_ref().map(|c| (c.locale.clone(), c.strength.map(|s| *s))),
        });
        let indexes = field_indexes.chain(struct_indexes).collect();
        let attrs = &input.attrs;
        Model {
            ident: &input.ident,
            vis: &input.vis,
            krate: &input.krate,
            collection: match &attrs.collection {
                Some(name) => (**name).clone(),
                None => case::collection_name(&input.ident.unraw().to_string()),
            },
            fields,
            additional_properties: attrs.additional_properties,
            indexes,
            validation_level: attrs.validation_level,
            validation_action: attrs.validation_action,
        }
    }

    /// The key field (there is one once the checks pass).
    pub fn key(&self) -> &Field<'a> {
        self.fields.iter().find(|f| f.role == Role::Key).expect("checked: a model has a key")
    }
}

/// Every field declared the key, in order: the one `key = field` names
/// (when it names one), then each marked `#[model(key)]`, with the span
/// of its declaration.
pub fn declared_keys(input: &Input) -> Vec<(&Ident, proc_macro2::Span)> {
    let named = input.attrs.key.as_ref().and_then(|key| {
        let field = input.fields().iter().find(|f| key.unraw() == f.ident.unraw())?;
        Some((&field.ident, key.span()))
    });
    let marked = input.fields().iter().filter(|f| f.attrs.key.is_present());
    named.into_iter().chain(marked.map(|f| (&f.ident, f.attrs.key.span()))).collect()
}

/// The key: the first field declared so.
fn key_field(input: &Input) -> Option<&Ident> {
    declared_keys(input).first().map(|(ident, _)| *ident)
}

/// How a model's timestamps are found.
#[derive(Clone, Copy)]
pub struct Stamps {
    /// Not `#[model(timestamps = false)]`.
    pub enabled: bool,
    /// Not `#[model(timestamps = false)]` nor `timestamps = "created_at"`.
    pub updated: bool,
    /// A field is marked `#[model(created_at)]`: no other is by its name.
    pub created_marked: bool,
    /// A field is marked `#[model(updated_at)]`.
    pub updated_marked: bool,
}

impl Stamps {
    pub fn of(input: &Input) -> Self {
        let fields = input.fields();
        Stamps {
            enabled: input.attrs.timestamps.as_ref().is_none_or(|t| **t != Timestamps::Off),
            updated: input.attrs.timestamps.as_ref().is_none_or(|t| **t == Timestamps::Both),
            created_marked: fields.iter().any(|f| f.attrs.created_at.is_present()),
            updated_marked: fields.iter().any(|f| f.attrs.updated_at.is_present()),
        }
    }

    /// Whether a field is marked as the timestamp `role`.
    pub fn marked(self, role: Role) -> bool {
        match role {
            Role::CreatedAt => self.created_marked,
            _ => self.updated_marked,
        }
    }
}

fn role(field: &ast::Field<FieldAttrs>, key: Option<&Ident>, stamps: Stamps) -> Role {
    if key == Some(&field.ident) {
        Role::Key
    } else if field.attrs.version.is_present() {
        Role::Version
    } else {
        timestamp(field, stamps).unwrap_or(Role::Data)
    }
}

/// Which timestamp a field is: marked `#[model(created_at)]` or
/// `#[model(updated_at)]` (not both), else (when no field is marked so)
/// named or stored `created_at` or `updated_at`; none when the model
/// leaves timestamps out.
pub fn timestamp(field: &ast::Field<FieldAttrs>, stamps: Stamps) -> Option<Role> {
    let attrs = &field.attrs;
    let plain = field.ident.unraw().to_string();
    let stored = field.stored();
    if !stamps.enabled {
        return None;
    }
    match (attrs.created_at.is_present(), attrs.updated_at.is_present()) {
        (true, true) => None,
        (true, false) => Some(Role::CreatedAt),
        (false, true) => Some(Role::UpdatedAt),
        _ if !stamps.created_marked && (plain == "created_at" || stored == "created_at") => {
            Some(Role::CreatedAt)
        }
        _ if stamps.updated
            && !stamps.updated_marked
            && (plain == "updated_at" || stored == "updated_at") =>
        {
            Some(Role::UpdatedAt)
        }
        _ => None,
    }
}
