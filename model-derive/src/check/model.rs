//! The rules of `#[derive(Model)]`: the key, the timestamps, the version,
//! stored names and indexes. A field that breaks a rule of its own is
//! left out of the rules between fields, so one mistake is one error.

use syn::ext::IdentExt;

use super::{
    Ctxt, container_serde_supported, field_serde_supported, names_a_field, not_generic, reads_back,
    stored_name,
};
use crate::model::{self, Input, Model, Role, Stamps};

type Field = crate::ast::Field<crate::attr::FieldAttrs>;

/// Every rule of a model, in the order a reader meets them. Whether a
/// stand-in `Model` impl can be emitted beside the errors: the type is
/// not generic, its serde attributes are ones serde and the model take,
/// and the key broke no rule of its own.
pub fn model(cx: &mut Ctxt, input: &Input, model: &Model<'_>) -> bool {
    let before = cx.len();
    not_generic(cx, input);
    container_serde_supported(cx, input);
    let container_sound = input.serde_ok && cx.len() == before;
    let has_key = key(cx, input);
    one_version(cx, input);
    let stamps = Stamps::of(input);
    let sound: Vec<bool> = input
        .fields()
        .iter()
        .zip(&model.fields)
        .map(|(field, view)| {
            // A field whose serde attributes did not parse has had its error.
            let before = cx.len();
            if field.serde_ok {
                field_rules(cx, input, field, view, stamps);
            }
            let sound = field.serde_ok && cx.len() == before;
            if sound {
                field_index(cx, field, view.role);
            }
            sound
        })
        .collect();
    let key_sound =
        model.fields.iter().zip(&sound).any(|(field, ok)| field.role == Role::Key && *ok);
    let (sound, failed): (Vec<_>, Vec<_>) = model.fields.iter().zip(sound).partition(|(_, ok)| *ok);
    let sound: Vec<&model::Field<'_>> = sound.into_iter().map(|(f, _)| f).collect();
    let failed: Vec<&model::Field<'_>> = failed.into_iter().map(|(f, _)| f).collect();
    distinct_stored_names(cx, &sound, has_key);
    timestamps(cx, input, &sound, &failed, has_key, stamps);
    struct_indexes(cx, input);
    collection_name(cx, input);
    container_sound && key_sound
}

/// A model has one key: `key = field` naming a field, or one field marked
/// `#[model(key)]`. Whether there is one.
fn key(cx: &mut Ctxt, input: &Input) -> bool {
    if let Some(key) = &input.attrs.key {
        names_a_field(cx, key, input.fields());
    }
    let keys = model::declared_keys(input);
    if keys.is_empty() && input.attrs.key.is_none() {
        cx.error(
            input.ident.span(),
            "a model needs a key: name the field stored as `_id`, like `#[model(key = id)]` on the struct or `#[model(key)]` on the field",
        );
    }
    for (_, span) in keys.iter().skip(1) {
        cx.error(
            *span,
            "a model has one key; for a key made of several fields use a `#[derive(CompositeKey)]` struct as the key's type",
        );
    }
    !keys.is_empty()
}

/// At most one field is marked `#[model(version)]`.
fn one_version(cx: &mut Ctxt, input: &Input) {
    for extra in input.fields().iter().filter(|f| f.attrs.version.is_present()).skip(1) {
        cx.error(extra.attrs.version.span(), "a model has at most one version field");
    }
}

/// The rules of one field, on its own.
fn field_rules(
    cx: &mut Ctxt,
    input: &Input,
    field: &Field,
    view: &model::Field<'_>,
    stamps: Stamps,
) {
    field_serde_supported(cx, input.derive, &field.serde);
    stored_name(cx, field);
    reads_back(cx, &field.ident, &field.name, &field.serde);
    timestamp_marks(cx, field, stamps);
    let attrs = &field.attrs;
    match view.role {
        Role::Key if attrs.created_at.is_present() || attrs.updated_at.is_present() => {
            cx.error(field.ident.span(), "the key cannot be a timestamp");
        }
        Role::Version => {
            if !view.default {
                cx.error(
                    attrs.version.span(),
                    "a version field needs `#[serde(default)]`, so that documents stored before it existed read as version 0",
                );
            }
            if model::timestamp(field, stamps).is_some() {
                cx.error(attrs.version.span(), "a timestamp cannot be the version field");
            }
        }
        _ => {}
    }
    if view.role == Role::Key && field.stored() != "_id" {
        cx.error(
            field.ident.span(),
            format!(
                "the key field `{}` must be stored as `_id`: add `#[serde(rename = \"_id\")]` to it",
                field.ident.unraw()
            ),
        );
    }
}

/// A timestamp mark needs timestamps, and a field is one timestamp at most.
fn timestamp_marks(cx: &mut Ctxt, field: &Field, stamps: Stamps) {
    let (created, updated) = (&field.attrs.created_at, &field.attrs.updated_at);
    if !stamps.enabled {
        for flag in [created, updated].into_iter().filter(|f| f.is_present()) {
            cx.error(
                flag.span(),
                "this model leaves timestamps out (`timestamps = false`); remove the mark or that setting",
            );
        }
    } else if created.is_present() && updated.is_present() {
        cx.error(updated.span(), "a field is one timestamp, not both");
    } else if !stamps.updated && updated.is_present() {
        cx.error(
            updated.span(),
            "this model keeps `created_at` only (`timestamps = \"created_at\"`); remove the mark or that setting",
        );
    }
}

/// `sparse` and `expire_after` qualify a field's index, and the key has
/// its own.
fn field_index(cx: &mut Ctxt, field: &Field, role: Role) {
    let attrs = &field.attrs;
    let indexed = attrs.index.is_present() || attrs.unique.is_present();
    if !indexed && (attrs.sparse.is_present() || attrs.expire_after.is_some()) {
        cx.error(
            field.ident.span(),
            "`sparse` and `expire_after` qualify an index: add `index` or `unique`",
        );
    } else if indexed && role == Role::Key {
        cx.error(field.ident.span(), "the key is always indexed (and unique) as `_id`");
    }
}

/// Stored names are distinct, and only the key is stored as `_id`.
fn distinct_stored_names(cx: &mut Ctxt, fields: &[&model::Field<'_>], has_key: bool) {
    for (i, field) in fields.iter().enumerate() {
        if fields[..i].iter().any(|f| f.stored == field.stored) {
            cx.error(
                field.ident.span(),
                format!(
                    "two fields are stored as `{}`; give one another `#[serde(rename = \"...\")]`",
                    field.stored
                ),
            );
        }
        if field.stored == "_id" && field.role != Role::Key && has_key {
            cx.error(
                field.ident.span(),
                "only the key may be stored as `_id`; mark this field the key with `#[model(key)]`, or rename it",
            );
        }
    }
}

/// A model with timestamps has one `created_at` and one `updated_at`.
/// `sound` are the fields that passed their own rules; one of the `failed`
/// that would have been the timestamp has had its error.
fn timestamps(
    cx: &mut Ctxt,
    input: &Input,
    sound: &[&model::Field<'_>],
    failed: &[&model::Field<'_>],
    has_key: bool,
    stamps: Stamps,
) {
    for (role, name, ty) in [
        (Role::CreatedAt, "created_at", "DateTime"),
        (Role::UpdatedAt, "updated_at", "Option<DateTime>` or `DateTime"),
    ] {
        let found: Vec<_> = sound.iter().filter(|f| f.role == role).collect();
        let failed = failed.iter().any(|f| f.stored == name || f.ident.unraw() == name);
        let kept = stamps.enabled && (role == Role::CreatedAt || stamps.updated);
        if kept && has_key && found.is_empty() && !stamps.marked(role) && !failed {
            cx.error(
                input.ident.span(),
                format!(
                    "a model needs the timestamp field `{name}: {ty}`, which the repository sets: looked for a field named `{name}`, one stored as `{name}`, or one marked `#[model({name})]` (under any stored name); `#[model(timestamps = false)]` leaves the timestamps out, `timestamps = \"created_at\"` keeps the creation time only"
                ),
            );
        }
        for extra in found.iter().skip(1) {
            cx.error(
                extra.ident.span(),
                format!(
                    "a model has one `{name}` timestamp; this field is one too (by its name or its mark)"
                ),
            );
        }
    }
}

/// Every struct-level index key names a field, and a TTL index has one key.
fn struct_indexes(cx: &mut Ctxt, input: &Input) {
    for index in &input.attrs.indexes {
        for (ident, _) in index.keys.fields() {
            names_a_field(cx, ident, input.fields());
        }
        if index.expire_after.is_some() && index.keys.0.len() != 1 {
            cx.error(index.span(), "a TTL index (`expire_after`) has exactly one key");
        }
        let wildcard = index.keys.0.iter().any(|(_, key)| *key == crate::attr::IndexKey::Wildcard);
        if wildcard && (index.unique.is_present() || index.expire_after.is_some()) {
            cx.error(
                index.span(),
                "a wildcard index cannot be unique or a TTL index (`expire_after`): the server refuses it",
            );
        }
        if let Some(strength) = index.collation.as_ref().and_then(|c| c.strength.as_ref())
            && !(1..=5).contains(&**strength)
        {
            cx.error(
                strength.span(),
                "a collation's strength is 1 (base letters), 2 (and accents: case-insensitive), 3 (and case), 4 or 5 (identical)",
            );
        }
    }
}

/// A collection name the server accepts.
fn collection_name(cx: &mut Ctxt, input: &Input) {
    if let Some(name) = &input.attrs.collection
        && (name.is_empty() || name.contains('$') || name.contains('\0'))
    {
        cx.error(name.span(), "a collection name is non-empty and has no `$` or NUL character");
    }
}
