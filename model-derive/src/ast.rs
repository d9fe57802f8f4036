//! The internal model of a `#[derive(Model)]` input, built from the parsed
//! attributes with every cross-field rule checked. All errors are collected
//! so the user sees every mistake at once.

use darling::FromDeriveInput;
use proc_macro2::TokenStream;
use quote::quote;
use syn::ext::IdentExt;
use syn::{DeriveInput, Expr, Ident, Type, Visibility};

use crate::attr::{FieldAttrs, ModelAttrs, ValidationAction, ValidationLevel};
use crate::case;
use crate::serde_attr;

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

pub struct Field {
    pub ident: Ident,
    pub ty: Type,
    /// The name stored in the document (after serde renames).
    pub stored: String,
    pub role: Role,
    /// serde fills the field when a document lacks it (`#[serde(default)]`
    /// on it or on the struct): the validator does not require it.
    pub default: bool,
}

pub struct Index {
    pub keys: Vec<(String, i32)>,
    pub name: Option<String>,
    pub unique: bool,
    pub sparse: bool,
    pub expire_after: Option<u64>,
    pub partial: Option<Expr>,
}

pub struct Model {
    pub ident: Ident,
    pub vis: Visibility,
    pub krate: TokenStream,
    pub collection: String,
    pub fields: Vec<Field>,
    pub additional_properties: bool,
    pub indexes: Vec<Index>,
    pub validation_level: ValidationLevel,
    pub validation_action: ValidationAction,
}

impl Model {
    pub fn key(&self) -> &Field {
        self.fields.iter().find(|f| f.role == Role::Key).expect("checked: a model has a key")
    }
}

/// The runtime path: `crate = path`, or `::model`.
pub fn runtime_path(krate: Option<&syn::Path>) -> TokenStream {
    match krate {
        Some(path) => quote!(#path),
        None => quote!(::model),
    }
}

/// Rejects inputs that are not structs with named fields, with a message
/// that says what the derive expects.
pub fn check_shape(input: &DeriveInput, derive: &str, what: &str) -> darling::Result<()> {
    let found = match &input.data {
        syn::Data::Struct(s) => match s.fields {
            syn::Fields::Named(_) => return Ok(()),
            syn::Fields::Unnamed(_) => "a tuple struct",
            syn::Fields::Unit => "a unit struct",
        },
        syn::Data::Enum(_) => "an enum",
        syn::Data::Union(_) => "a union",
    };
    Err(darling::Error::custom(format!(
        "`#[derive({derive})]` needs a struct with named fields ({what}); found {found}"
    ))
    .with_span(&input.ident))
}

pub fn parse(input: &DeriveInput) -> darling::Result<Model> {
    check_shape(input, "Model", "one per document")?;
    let attrs = ModelAttrs::from_derive_input(input)?;
    let mut errors = darling::Error::accumulator();

    if !attrs.generics.params.is_empty() {
        errors.push(
            darling::Error::custom(
                "a model cannot be generic: its collection and schema are fixed",
            )
            .with_span(&attrs.generics),
        );
    }
    let container = serde_attr::parse_checked(&attrs.attrs, &mut errors, |name| {
        format!("`#[serde({name})]` is not supported on a model: it changes the stored shape")
    })
    .unwrap_or_default();

    let raw_fields = attrs.data.take_struct().expect("checked: named struct").fields;
    let field_names: Vec<String> =
        raw_fields.iter().filter_map(|f| f.ident.as_ref().map(|i| i.unraw().to_string())).collect();

    // The key: `key = field` on the struct, or `#[model(key)]` on one field.
    let mut key_fields: Vec<(Ident, proc_macro2::Span)> = Vec::new();
    if let Some(key) = &attrs.key {
        if field_names.iter().any(|n| key == n.as_str()) {
            key_fields.push((key.clone(), key.span()));
        } else {
            errors.push(unknown_field(key, &field_names, "`key`"));
        }
    }
    for field in &raw_fields {
        if field.key.is_present() {
            let ident = field.ident.clone().expect("named");
            key_fields.push((ident, field.key.span()));
        }
    }
    if key_fields.is_empty() && attrs.key.is_none() {
        errors.push(
            darling::Error::custom(
                "a model needs a key: name the field stored as `_id`, like `#[model(key = id)]` on the struct or `#[model(key)]` on the field",
            )
            .with_span(&attrs.ident),
        );
    }
    for (_, span) in key_fields.iter().skip(1) {
        errors.push(
            darling::Error::custom(
                "a model has one key; for a key made of several fields use a `#[derive(CompositeKey)]` struct as the key's type",
            )
            .with_span(span),
        );
    }
    let key_ident = key_fields.first().map(|(i, _)| i.clone());
    for extra in raw_fields.iter().filter(|f| f.version.is_present()).skip(1) {
        errors.push(
            darling::Error::custom("a model has at most one version field")
                .with_span(&extra.version.span()),
        );
    }

    let timestamps = Stamps {
        enabled: attrs.timestamps.as_ref().is_none_or(|t| **t),
        created_marked: raw_fields.iter().any(|f| f.created_at.is_present()),
        updated_marked: raw_fields.iter().any(|f| f.updated_at.is_present()),
    };
    let mut fields = Vec::new();
    let mut indexes = Vec::new();
    // The names (plain and stored) of the fields that failed their checks.
    let mut failed = Vec::new();
    for raw in &raw_fields {
        let parsed = parse_field(raw, &container, key_ident.as_ref(), timestamps);
        if let Some(field) = errors.handle(parsed) {
            if let Some(index) = field_index(raw, &field, &mut errors) {
                indexes.push(index);
            }
            fields.push(field);
        } else if let Some(ident) = &raw.ident {
            failed.push(ident.unraw().to_string());
            if let Ok(serde) = serde_attr::parse(&raw.attrs) {
                failed.push(serde.stored_name(ident, &container));
            }
        }
    }

    // Stored names must be distinct, and only the key may be `_id`.
    for (i, field) in fields.iter().enumerate() {
        if fields[..i].iter().any(|f| f.stored == field.stored) {
            errors.push(
                darling::Error::custom(format!(
                    "two fields are stored as `{}`; give one another `#[serde(rename = \"...\")]`",
                    field.stored
                ))
                .with_span(&field.ident),
            );
        }
        if field.stored == "_id" && field.role != Role::Key && key_ident.is_some() {
            errors.push(
                darling::Error::custom(
                    "only the key may be stored as `_id`; mark this field the key with `#[model(key)]`, or rename it",
                )
                .with_span(&field.ident),
            );
        }
    }
    for (role, name, ty) in [
        (Role::CreatedAt, "created_at", "DateTime"),
        (Role::UpdatedAt, "updated_at", "Option<DateTime>` or `DateTime"),
    ] {
        let found: Vec<&Field> = fields.iter().filter(|f| f.role == role).collect();
        // A marked field, or one of the name, that failed its checks has
        // had its error.
        let marked = if role == Role::CreatedAt {
            timestamps.created_marked
        } else {
            timestamps.updated_marked
        };
        let failed = failed.iter().any(|f| f == name);
        if timestamps.enabled && key_ident.is_some() && found.is_empty() && !marked && !failed {
            errors.push(
                darling::Error::custom(format!(
                    "a model needs the timestamp field `{name}: {ty}`, which the repository sets: looked for a field named `{name}`, one stored as `{name}`, or one marked `#[model({name})]` (under any stored name); `#[model(timestamps = false)]` leaves the timestamps out"
                ))
                .with_span(&attrs.ident),
            );
        }
        for extra in found.iter().skip(1) {
            errors.push(
                darling::Error::custom(format!(
                    "a model has one `{name}` timestamp; this field is one too (by its name or its mark)"
                ))
                .with_span(&extra.ident),
            );
        }
    }

    for spanned in &attrs.indexes {
        let index = &**spanned;
        let mut keys = Vec::new();
        for (ident, direction) in &index.keys.0 {
            match fields.iter().find(|f| ident == &f.ident.unraw()) {
                Some(field) => keys.push((field.stored.clone(), *direction)),
                None => errors.push(unknown_field(ident, &field_names, "an index key")),
            }
        }
        if index.expire_after.is_some() && keys.len() != 1 {
            errors.push(
                darling::Error::custom("a TTL index (`expire_after`) has exactly one key")
                    .with_span(&spanned.span()),
            );
        }
        indexes.push(Index {
            keys,
            name: index.name.clone(),
            unique: index.unique.is_present(),
            sparse: index.sparse.is_present(),
            expire_after: index.expire_after,
            partial: index.partial.clone(),
        });
    }

    let collection = match &attrs.collection {
        Some(name) if name.is_empty() || name.contains('$') || name.contains('\0') => {
            errors.push(
                darling::Error::custom(
                    "a collection name is non-empty and has no `$` or NUL character",
                )
                .with_span(&name.span()),
            );
            String::new()
        }
        Some(name) => (**name).clone(),
        None => case::collection_name(&attrs.ident.unraw().to_string()),
    };

    errors.finish_with(Model {
        ident: attrs.ident,
        vis: attrs.vis,
        krate: runtime_path(attrs.krate.as_ref()),
        collection,
        fields,
        additional_properties: attrs.additional_properties,
        indexes,
        validation_level: attrs.validation_level,
        validation_action: attrs.validation_action,
    })
}

fn parse_field(
    raw: &FieldAttrs,
    container: &serde_attr::SerdeAttrs,
    key: Option<&Ident>,
    timestamps: Stamps,
) -> darling::Result<Field> {
    let ident = raw.ident.clone().expect("named field");
    let serde = serde_attr::parse(&raw.attrs)?;
    let mut errors = darling::Error::accumulator();
    for (name, span) in &serde.unsupported {
        errors.push(
            darling::Error::custom(format!(
                "`#[serde({name})]` is not supported on a model field: every field is stored as itself"
            ))
            .with_span(span),
        );
    }
    let plain = ident.unraw().to_string();
    let stored = serde.stored_name(&ident, container);
    if let Some(error) = check_stored_name(&stored, &ident) {
        errors.push(error);
    }
    if let Some(error) = serde.unreadable(&ident, container) {
        errors.push(error);
    }
    let is_key = key.is_some_and(|k| k == &ident);
    let timestamp = timestamp_role(raw, &plain, &stored, timestamps, &mut errors);
    let role = if is_key {
        if raw.created_at.is_present() || raw.updated_at.is_present() {
            errors.push(darling::Error::custom("the key cannot be a timestamp").with_span(&ident));
        }
        Role::Key
    } else if raw.version.is_present() {
        if !serde.default && !container.default {
            errors.push(
                darling::Error::custom(
                    "a version field needs `#[serde(default)]`, so that documents stored before it existed read as version 0",
                )
                .with_span(&raw.version.span()),
            );
        }
        if timestamp.is_some() {
            errors.push(
                darling::Error::custom("a timestamp cannot be the version field")
                    .with_span(&raw.version.span()),
            );
        }
        Role::Version
    } else if let Some(role) = timestamp {
        role
    } else {
        Role::Data
    };
    if is_key && stored != "_id" {
        errors.push(
            darling::Error::custom(format!(
                "the key field `{plain}` must be stored as `_id`: add `#[serde(rename = \"_id\")]` to it"
            ))
            .with_span(&ident),
        );
    }
    let default = serde.default || container.default;
    errors.finish_with(Field { ident, ty: raw.ty.clone(), stored, role, default })
}

/// How a model's timestamps are found.
#[derive(Clone, Copy)]
struct Stamps {
    /// Not `#[model(timestamps = false)]`.
    enabled: bool,
    /// A field is marked `#[model(created_at)]`: no other is by its name.
    created_marked: bool,
    /// A field is marked `#[model(updated_at)]`.
    updated_marked: bool,
}

/// Which timestamp a field is: marked `#[model(created_at)]` or
/// `#[model(updated_at)]`, else (when no field is marked so) named or
/// stored `created_at` or `updated_at`; none when the model leaves
/// timestamps out.
fn timestamp_role(
    raw: &FieldAttrs,
    plain: &str,
    stored: &str,
    timestamps: Stamps,
    errors: &mut darling::error::Accumulator,
) -> Option<Role> {
    let marks = [(&raw.created_at, Role::CreatedAt), (&raw.updated_at, Role::UpdatedAt)];
    let marked: Vec<_> = marks.iter().filter(|(flag, _)| flag.is_present()).collect();
    if !timestamps.enabled {
        for (flag, _) in &marked {
            errors.push(
                darling::Error::custom(
                    "this model leaves timestamps out (`timestamps = false`); remove the mark or that setting",
                )
                .with_span(&flag.span()),
            );
        }
        return None;
    }
    match marked.as_slice() {
        [(_, role)] => Some(*role),
        [_, (flag, _)] => {
            errors.push(
                darling::Error::custom("a field is one timestamp, not both")
                    .with_span(&flag.span()),
            );
            None
        }
        _ if !timestamps.created_marked && (plain == "created_at" || stored == "created_at") => {
            Some(Role::CreatedAt)
        }
        _ if !timestamps.updated_marked && (plain == "updated_at" || stored == "updated_at") => {
            Some(Role::UpdatedAt)
        }
        _ => None,
    }
}

fn field_index(
    raw: &FieldAttrs,
    field: &Field,
    errors: &mut darling::error::Accumulator,
) -> Option<Index> {
    let indexed = raw.index.is_present() || raw.unique.is_present();
    if !indexed {
        if raw.sparse.is_present() || raw.expire_after.is_some() {
            errors.push(
                darling::Error::custom(
                    "`sparse` and `expire_after` qualify an index: add `index` or `unique`",
                )
                .with_span(&field.ident),
            );
        }
        return None;
    }
    if field.role == Role::Key {
        errors.push(
            darling::Error::custom("the key is always indexed (and unique) as `_id`")
                .with_span(&field.ident),
        );
        return None;
    }
    Some(Index {
        keys: vec![(field.stored.clone(), 1)],
        name: None,
        unique: raw.unique.is_present(),
        sparse: raw.sparse.is_present(),
        expire_after: raw.expire_after.as_ref().map(|v| **v),
        partial: None,
    })
}

/// The field constants of a struct whose attributes have errors, so that one
/// mistake in `#[model(...)]` does not also break every use of `Foo::FIELD`.
/// Stored names follow serde; unparsable serde attributes fall back to the
/// field's own name.
pub fn fallback(input: &DeriveInput) -> Option<Model> {
    let syn::Data::Struct(data) = &input.data else {
        return None;
    };
    let syn::Fields::Named(named) = &data.fields else {
        return None;
    };
    let container = serde_attr::parse(&input.attrs).unwrap_or_default();
    let krate = input.attrs.iter().filter(|a| a.path().is_ident("model")).find_map(|a| {
        let mut krate = None;
        let _ = a.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                krate = Some(meta.value()?.parse::<syn::Path>()?);
            } else if meta.input.peek(syn::Token![=]) {
                let _: Expr = meta.value()?.parse()?;
            } else if meta.input.peek(syn::token::Paren) {
                let content;
                syn::parenthesized!(content in meta.input);
                let _: TokenStream = content.parse()?;
            }
            Ok(())
        });
        krate
    });
    let fields = named
        .named
        .iter()
        .filter_map(|f| {
            let ident = f.ident.clone()?;
            let serde = serde_attr::parse(&f.attrs).unwrap_or_default();
            let stored = serde.stored_name(&ident, &container);
            let plain = ident.unraw().to_string();
            let role = match (stored.as_str(), plain.as_str()) {
                ("_id", _) => Role::Key,
                ("created_at", _) | (_, "created_at") => Role::CreatedAt,
                ("updated_at", _) | (_, "updated_at") => Role::UpdatedAt,
                _ => Role::Data,
            };
            Some(Field { ident, ty: f.ty.clone(), stored, role, default: false })
        })
        .collect();
    Some(Model {
        ident: input.ident.clone(),
        vis: input.vis.clone(),
        krate: runtime_path(krate.as_ref()),
        collection: String::new(),
        fields,
        additional_properties: false,
        indexes: Vec::new(),
        validation_level: ValidationLevel::default(),
        validation_action: ValidationAction::default(),
    })
}

/// A stored name that queries and updates could not address: a leading `$`
/// (an operator), a `.` (a path into a sub-document) or a NUL byte.
pub fn check_stored_name(stored: &str, ident: &Ident) -> Option<darling::Error> {
    let problem = if stored.is_empty() {
        "is empty"
    } else if stored.starts_with('$') {
        "starts with `$`, which MongoDB reads as an operator"
    } else if stored.contains('.') {
        "contains `.`, which MongoDB reads as a path into a sub-document"
    } else if stored.contains('\0') {
        "contains a NUL byte"
    } else {
        return None;
    };
    Some(
        darling::Error::custom(format!(
            "the stored name `{}` {problem}; choose another with `#[serde(rename = \"...\")]`",
            stored.escape_default()
        ))
        .with_span(ident),
    )
}

/// "unknown field" with a suggestion when a field's name is close.
pub fn unknown_field(ident: &Ident, known: &[String], what: &str) -> darling::Error {
    let name = ident.unraw().to_string();
    let mut message = format!("{what} names no field of this struct: `{name}`");
    if let Some(best) = known
        .iter()
        .map(|k| (strsim_distance(&name, k), k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
    {
        message.push_str(&format!("; did you mean `{best}`?"));
    }
    darling::Error::custom(message).with_span(ident)
}

/// Levenshtein distance, for suggestions.
fn strsim_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            current.push((previous[j] + cost).min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}
