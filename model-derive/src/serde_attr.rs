//! The serde attributes that decide stored names: `rename`, `rename_all`,
//! and the ones a model cannot support (`flatten`, `skip`, ...).

use syn::Attribute;
use syn::spanned::Spanned;

use crate::case::RenameRule;

/// What the serde attributes of one item say about storage.
#[derive(Default)]
pub struct SerdeAttrs {
    /// `#[serde(rename = "...")]`.
    pub rename: Option<String>,
    /// `#[serde(rename_all = "...")]`.
    pub rename_all: Option<RenameRule>,
    /// The name deserialization reads (`rename(deserialize = "...")`, or
    /// `rename = "..."`).
    read_as: Option<String>,
    /// The rule deserialization reads names by (`rename_all(deserialize =
    /// "...")`, or `rename_all = "..."`).
    read_all: Option<RenameRule>,
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
    /// The name serde stores the field `ident` under, given the
    /// container's attributes: `rename`, else `rename_all`, else the name
    /// itself (without `r#`). The one place stored names are decided.
    pub fn stored_name(&self, ident: &syn::Ident, container: &SerdeAttrs) -> String {
        self.name_by(ident, container, RenameRule::apply_to_field)
    }

    /// An error when the field `ident` is written under a name it does not
    /// read (`rename(serialize = "a")` alone, or `rename_all` rules that
    /// differ each way and give this field two names, and no `alias` for
    /// the written one): a stored document would not read back, and an
    /// `Option` field would silently read as `None`.
    pub fn unreadable(&self, ident: &syn::Ident, container: &SerdeAttrs) -> Option<darling::Error> {
        self.unreadable_by(ident, container, RenameRule::apply_to_field)
    }

    /// [`unreadable`](Self::unreadable) for the unit variant `ident`.
    pub fn unreadable_variant(
        &self,
        ident: &syn::Ident,
        container: &SerdeAttrs,
    ) -> Option<darling::Error> {
        self.unreadable_by(ident, container, RenameRule::apply_to_variant)
    }

    fn unreadable_by(
        &self,
        ident: &syn::Ident,
        container: &SerdeAttrs,
        rule: fn(RenameRule, &str) -> String,
    ) -> Option<darling::Error> {
        use syn::ext::IdentExt;
        let written = self.name_by(ident, container, rule);
        let read = pick(&self.read_as, container.read_all, ident, rule);
        let plain = ident.unraw();
        if written == read || self.aliases.contains(&written) {
            return None;
        }
        let same = if self.rename.is_none() && self.read_as.is_none() {
            "give `rename_all` the same rule both ways"
        } else {
            "give `serialize` and `deserialize` the same name"
        };
        let message = format!(
            "`{plain}` is written as `{written}` but read as `{read}`: a stored document would \
             not read back; {same}, or add `#[serde(alias = \"{written}\")]`"
        );
        Some(darling::Error::custom(message).with_span(ident))
    }

    /// The name serde writes the unit variant `ident` as, given the enum's
    /// attributes: `rename`, else `rename_all` (variant rules), else the
    /// variant's name.
    pub fn stored_variant_name(&self, ident: &syn::Ident, container: &SerdeAttrs) -> String {
        self.name_by(ident, container, RenameRule::apply_to_variant)
    }

    /// `rename`, else the container's `rename_all` applied by `rule`,
    /// else the name itself (without `r#`).
    fn name_by(
        &self,
        ident: &syn::Ident,
        container: &SerdeAttrs,
        rule: fn(RenameRule, &str) -> String,
    ) -> String {
        pick(&self.rename, container.rename_all, ident, rule)
    }
}

/// `name`, else `all` applied to `ident` by `rule`, else `ident` itself
/// (without `r#`): one direction's name, written or read.
fn pick(
    name: &Option<String>,
    all: Option<RenameRule>,
    ident: &syn::Ident,
    rule: fn(RenameRule, &str) -> String,
) -> String {
    use syn::ext::IdentExt;
    match (name, all) {
        (Some(name), _) => name.clone(),
        (None, Some(all)) => rule(all, &ident.unraw().to_string()),
        (None, None) => ident.unraw().to_string(),
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
                out.rename = Some(lit.value());
                out.read_as = Some(lit.value());
            } else if name == "rename" {
                // rename(serialize = "..", deserialize = ".."): the stored name is the serialize one.
                meta.parse_nested_meta(|inner| {
                    let lit: syn::LitStr = inner.value()?.parse()?;
                    if inner.path.is_ident("serialize") {
                        out.rename = Some(lit.value());
                    } else if inner.path.is_ident("deserialize") {
                        out.read_as = Some(lit.value());
                    }
                    Ok(())
                })?;
            } else if name == "rename_all" && meta.input.peek(syn::Token![=]) {
                let lit: syn::LitStr = meta.value()?.parse()?;
                out.rename_all = Some(rename_rule(&lit)?);
                out.read_all = out.rename_all;
            } else if name == "rename_all" {
                // rename_all(serialize = "..", deserialize = ".."): stored names use the serialize one.
                meta.parse_nested_meta(|inner| {
                    let lit: syn::LitStr = inner.value()?.parse()?;
                    if inner.path.is_ident("serialize") {
                        out.rename_all = Some(rename_rule(&lit)?);
                    } else if inner.path.is_ident("deserialize") {
                        out.read_all = Some(rename_rule(&lit)?);
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

/// Parses the serde attributes of one item, pushing a spanned error to
/// `errors` for each attribute that changes the stored shape (`refuse`
/// words the message from the attribute's name); `None` when they do not
/// parse (the error is pushed too).
pub fn parse_checked(
    attrs: &[Attribute],
    errors: &mut darling::error::Accumulator,
    refuse: impl Fn(&str) -> String,
) -> Option<SerdeAttrs> {
    let parsed = errors.handle(parse(attrs).map_err(darling::Error::from))?;
    for (name, span) in &parsed.unsupported {
        errors.push(darling::Error::custom(refuse(name)).with_span(span));
    }
    Some(parsed)
}
