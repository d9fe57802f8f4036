//! The serde attributes that decide stored names: `rename`, `rename_all`,
//! `alias`, `default`, and the ones a model cannot follow (`flatten`,
//! `skip`, ...). Parsed once per item; the names they give are a [`Name`].

use syn::Attribute;
use syn::ext::IdentExt;
use syn::spanned::Spanned;

use crate::case::RenameRule;

/// The name serde writes an item under and the name it reads it under.
/// They differ only with `rename(serialize = .., deserialize = ..)` or a
/// `rename_all` that differs each way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Name {
    /// The name written: the one stored in the document.
    pub serialize: String,
    /// The name read back.
    pub deserialize: String,
}

/// One value per direction, as serde's `rename(serialize = "..",
/// deserialize = "..")`; `rename = ".."` sets both.
#[derive(Clone, Copy)]
struct Both<T> {
    serialize: Option<T>,
    deserialize: Option<T>,
}

impl<T> Default for Both<T> {
    fn default() -> Self {
        Both { serialize: None, deserialize: None }
    }
}

impl<T: Clone> Both<T> {
    fn set(&mut self, value: T) {
        self.serialize = Some(value.clone());
        self.deserialize = Some(value);
    }
}

/// What the serde attributes of one item (a container, field or variant)
/// say about storage.
#[derive(Default)]
pub struct SerdeAttrs {
    rename: Both<String>,
    rename_all: Both<RenameRule>,
    /// `#[serde(alias = "...")]`: more names deserialization accepts.
    aliases: Vec<String>,
    /// Attributes that change the stored shape in ways a model cannot
    /// follow, with their spans.
    pub unsupported: Vec<(String, proc_macro2::Span)>,
    /// Some other attribute that may change how the value is serialized
    /// (`with`, `serialize_with`, `skip_serializing_if`, ...): generated
    /// code must then leave serialization to serde.
    pub custom_serialization: bool,
    /// `#[serde(default)]` (or `default = "path"`): a missing field reads
    /// as its default.
    pub default: bool,
}

impl SerdeAttrs {
    /// The names serde gives the field `ident`, given the container's
    /// attributes: `rename`, else `rename_all`, else the name itself
    /// (without `r#`), each way. The one place field names are decided.
    pub fn field_name(&self, ident: &syn::Ident, container: &SerdeAttrs) -> Name {
        self.name_by(ident, container, RenameRule::apply_to_field)
    }

    /// The names serde gives the unit variant `ident`, given the enum's
    /// attributes (variant rules for `rename_all`).
    pub fn variant_name(&self, ident: &syn::Ident, container: &SerdeAttrs) -> Name {
        self.name_by(ident, container, RenameRule::apply_to_variant)
    }

    /// Whether a document written under `name` reads back: the names
    /// agree, or an `alias` accepts the written one.
    pub fn reads_back(&self, name: &Name) -> bool {
        name.serialize == name.deserialize || self.aliases.contains(&name.serialize)
    }

    /// Whether the item has a `rename` of its own (either way), rather
    /// than a name from the container's `rename_all`.
    pub fn renamed(&self) -> bool {
        self.rename.serialize.is_some() || self.rename.deserialize.is_some()
    }

    fn name_by(
        &self,
        ident: &syn::Ident,
        container: &SerdeAttrs,
        rule: fn(RenameRule, &str) -> String,
    ) -> Name {
        let plain = ident.unraw().to_string();
        let pick = |name: &Option<String>, all: Option<RenameRule>| match (name, all) {
            (Some(name), _) => name.clone(),
            (None, Some(all)) => rule(all, &plain),
            (None, None) => plain.clone(),
        };
        Name {
            serialize: pick(&self.rename.serialize, container.rename_all.serialize),
            deserialize: pick(&self.rename.deserialize, container.rename_all.deserialize),
        }
    }
}

/// Keys that only affect deserialization or naming, never the bytes written.
const SERIALIZATION_NEUTRAL: &[&str] =
    &["alias", "default", "deserialize_with", "borrow", "bound", "deny_unknown_fields"];

/// Keys that change what gets stored in ways the generated field handles,
/// schema and insert struct cannot follow.
const UNSUPPORTED: &[&str] = &[
    "flatten",
    "skip",
    "skip_serializing",
    "skip_deserializing",
    "tag",
    "untagged",
    "content",
    "transparent",
];

/// Parses every `#[serde(...)]` in `attrs`.
pub fn parse(attrs: &[Attribute]) -> syn::Result<SerdeAttrs> {
    let mut out = SerdeAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        attr.parse_nested_meta(|meta| {
            let name = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
            if name == "rename" && meta.input.peek(syn::Token![=]) {
                let lit: syn::LitStr = meta.value()?.parse()?;
                out.rename.set(lit.value());
            } else if name == "rename" {
                meta.parse_nested_meta(|inner| {
                    let lit: syn::LitStr = inner.value()?.parse()?;
                    if inner.path.is_ident("serialize") {
                        out.rename.serialize = Some(lit.value());
                    } else if inner.path.is_ident("deserialize") {
                        out.rename.deserialize = Some(lit.value());
                    }
                    Ok(())
                })?;
            } else if name == "rename_all" && meta.input.peek(syn::Token![=]) {
                let lit: syn::LitStr = meta.value()?.parse()?;
                out.rename_all.set(rename_rule(&lit)?);
            } else if name == "rename_all" {
                meta.parse_nested_meta(|inner| {
                    let lit: syn::LitStr = inner.value()?.parse()?;
                    if inner.path.is_ident("serialize") {
                        out.rename_all.serialize = Some(rename_rule(&lit)?);
                    } else if inner.path.is_ident("deserialize") {
                        out.rename_all.deserialize = Some(rename_rule(&lit)?);
                    }
                    Ok(())
                })?;
            } else if name == "alias" && meta.input.peek(syn::Token![=]) {
                let lit: syn::LitStr = meta.value()?.parse()?;
                out.aliases.push(lit.value());
            } else {
                if name == "default" {
                    out.default = true;
                }
                if UNSUPPORTED.contains(&name.as_str()) {
                    out.unsupported.push((name.clone(), meta.path.span()));
                }
                if !SERIALIZATION_NEUTRAL.contains(&name.as_str()) {
                    out.custom_serialization = true;
                }
                skip_value(&meta)?;
            }
            Ok(())
        })?;
    }
    Ok(out)
}

/// The rename rule `lit` names, or an error listing serde's rules.
fn rename_rule(lit: &syn::LitStr) -> syn::Result<RenameRule> {
    RenameRule::parse(&lit.value()).ok_or_else(|| {
        syn::Error::new(
            lit.span(),
            format!(
                "unknown rename rule `{}`; serde knows {}",
                lit.value(),
                RenameRule::NAMES.join(", ")
            ),
        )
    })
}

/// Consumes `= value` or `(...)` after a key we do not interpret.
fn skip_value(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        let _: syn::Expr = meta.value()?.parse()?;
    } else if meta.input.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in meta.input);
        let _: proc_macro2::TokenStream = content.parse()?;
    }
    Ok(())
}
