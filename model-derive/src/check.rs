//! The rules an input must follow, one small function each, run over the
//! AST. Every error goes to one [`Ctxt`], so the user sees every mistake
//! at once, each with its span.

mod model;

use std::fmt::Display;

use darling::FromField;
use proc_macro2::Span;
use syn::DeriveInput;
use syn::ext::IdentExt;
use syn::spanned::Spanned;

use crate::ast::{Container, ContainerAttrs, Data, Derive, Field, Variant};
use crate::attr::{ProjectionAttrs, SchemaAttrs};
use crate::serde_attr::{Name, SerdeAttrs};

pub use model::model;

/// The errors found in one input, in the order found.
#[derive(Default)]
pub struct Ctxt {
    errors: Vec<syn::Error>,
}

impl Ctxt {
    /// No error yet.
    pub fn new() -> Self {
        Ctxt::default()
    }

    /// Adds an error (a `darling::Error` may hold several).
    pub fn push(&mut self, error: impl Into<syn::Error>) {
        self.errors.push(error.into());
    }

    /// Adds the error `message` at `span`.
    pub fn error(&mut self, span: Span, message: impl Display) {
        self.errors.push(syn::Error::new(span, message));
    }

    /// The value, or `None` with the error added.
    pub fn handle<T, E: Into<syn::Error>>(&mut self, result: Result<T, E>) -> Option<T> {
        result.map_err(|error| self.push(error)).ok()
    }

    /// How many errors so far.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Every error as one, or `Ok` when there is none.
    pub fn check(self) -> syn::Result<()> {
        let mut errors = self.errors.into_iter();
        let Some(mut first) = errors.next() else { return Ok(()) };
        first.extend(errors);
        Err(first)
    }
}

/// Parses `input` for `derive` and, once every attribute has parsed, runs
/// `rules` over it: the AST, or every error found.
pub fn checked<A: ContainerAttrs, F: FromField + Default>(
    input: &DeriveInput,
    derive: Derive,
    rules: fn(&mut Ctxt, &Container<A, F>),
) -> syn::Result<Container<A, F>> {
    let mut cx = Ctxt::new();
    let ast = Container::from_ast(input, derive, &mut cx);
    if let Some(ast) = &ast
        && ast.attrs_ok
    {
        rules(&mut cx, ast);
    }
    cx.check()?;
    Ok(ast.expect("no error: the AST was built"))
}

/// The rules of `#[derive(Schema)]` and `#[derive(CompositeKey)]`.
pub fn schema<F>(cx: &mut Ctxt, input: &Container<SchemaAttrs, F>) {
    not_generic(cx, input);
    container_serde_supported(cx, input);
    match &input.data {
        Data::Struct(fields) => {
            for field in fields.iter().filter(|f| f.serde_ok) {
                field_serde_supported(cx, input.derive, &field.serde);
                stored_name(cx, field);
                reads_back(cx, &field.ident, &field.name, &field.serde);
            }
        }
        Data::Enum(variants) => {
            for variant in variants {
                if unit_variant(cx, variant) && variant.serde_ok {
                    reads_back(cx, &variant.ident, &variant.name, &variant.serde);
                }
            }
        }
    }
}

/// The rules of `#[derive(Projection)]`.
pub fn projection<F>(cx: &mut Ctxt, input: &Container<ProjectionAttrs, F>) {
    not_generic(cx, input);
    if input.attrs.model.is_none() {
        cx.error(
            input.ident.span(),
            "name the model this projects: `#[projection(model = Customer)]`",
        );
    }
    container_serde_supported(cx, input);
    for field in input.fields() {
        field_serde_supported(cx, input.derive, &field.serde);
    }
}

/// The rules of `#[derive(Ordered)]`.
pub fn ordered<F>(cx: &mut Ctxt, input: &Container<SchemaAttrs, F>) {
    not_generic(cx, input);
}

/// An enum is stored as the names of its variants: they hold no data.
fn unit_variant(cx: &mut Ctxt, variant: &Variant) -> bool {
    if !variant.unit {
        cx.error(
            variant.ident.span(),
            "`#[derive(Schema)]` supports enums of unit variants (stored as strings); implement `FieldType` by hand for this one",
        );
    }
    variant.unit
}

/// The derives write impls for one type: no type parameters.
fn not_generic<A, F>(cx: &mut Ctxt, input: &Container<A, F>) {
    if input.generics.params.is_empty() {
        return;
    }
    let message = match input.derive {
        Derive::Model => "a model cannot be generic: its collection and schema are fixed",
        Derive::Schema | Derive::CompositeKey => {
            "a generic type's schema is not supported; implement `FieldType` by hand"
        }
        Derive::Projection => "a projection cannot be generic",
        Derive::Ordered => "a generic type cannot derive `Ordered`",
    };
    cx.error(input.generics.span(), message);
}

/// No serde attribute on the container that changes the stored shape: the
/// field paths, the schema and the stored documents would disagree.
fn container_serde_supported<A, F>(cx: &mut Ctxt, input: &Container<A, F>) {
    let is_enum = matches!(input.data, Data::Enum(_));
    let container = |name: &str| match input.derive {
        Derive::Model => {
            format!("`#[serde({name})]` is not supported on a model: it changes the stored shape")
        }
        Derive::Projection => format!(
            "`#[serde({name})]` is not supported on a projection: its fields must read as the model stores them"
        ),
        _ if is_enum => format!(
            "`#[serde({name})]` is not supported here: the variants are stored as plain strings"
        ),
        _ => format!(
            "`#[serde({name})]` is not supported here: it changes the stored shape, so the field paths and the schema would not match it"
        ),
    };
    for (name, span) in &input.serde.unsupported {
        cx.error(*span, container(name));
    }
}

/// No serde attribute on a field that changes the stored shape.
fn field_serde_supported(cx: &mut Ctxt, derive: Derive, serde: &SerdeAttrs) {
    for (name, span) in &serde.unsupported {
        let message = match derive {
            Derive::Model => format!(
                "`#[serde({name})]` is not supported on a model field: every field is stored as itself"
            ),
            Derive::Projection => {
                format!("`#[serde({name})]` is not supported on a projection's field")
            }
            _ => {
                format!("`#[serde({name})]` is not supported here: every field is stored as itself")
            }
        };
        cx.error(*span, message);
    }
}

/// A stored name that queries and updates can address: not empty, no
/// leading `$` (an operator), no `.` (a path into a sub-document), no NUL.
fn stored_name<F>(cx: &mut Ctxt, field: &Field<F>) {
    let stored = field.stored();
    let problem = if stored.is_empty() {
        "is empty"
    } else if stored.starts_with('$') {
        "starts with `$`, which MongoDB reads as an operator"
    } else if stored.contains('.') {
        "contains `.`, which MongoDB reads as a path into a sub-document"
    } else if stored.contains('\0') {
        "contains a NUL byte"
    } else {
        return;
    };
    cx.error(
        field.ident.span(),
        format!(
            "the stored name `{}` {problem}; choose another with `#[serde(rename = \"...\")]`",
            stored.escape_default()
        ),
    );
}

/// The item `ident` reads back under the name it is written under: else a
/// stored document would not read back, and an `Option` field would
/// silently read as `None`.
fn reads_back(cx: &mut Ctxt, ident: &syn::Ident, name: &Name, serde: &SerdeAttrs) {
    if serde.reads_back(name) {
        return;
    }
    let Name { serialize: written, deserialize: read } = name;
    let same = if serde.renamed() {
        "give `serialize` and `deserialize` the same name"
    } else {
        "give `rename_all` the same rule both ways"
    };
    cx.error(
        ident.span(),
        format!(
            "`{}` is written as `{written}` but read as `{read}`: a stored document would \
             not read back; {same}, or add `#[serde(alias = \"{written}\")]`",
            ident.unraw()
        ),
    );
}

/// `ident` names a field of `fields`; else an error suggesting the
/// closest name (darling's suggestion), or listing them.
fn names_a_field<F>(cx: &mut Ctxt, ident: &syn::Ident, fields: &[Field<F>]) -> bool {
    let known: Vec<String> = fields.iter().map(|f| f.ident.unraw().to_string()).collect();
    let name = ident.unraw().to_string();
    if known.contains(&name) {
        return true;
    }
    cx.push(darling::Error::unknown_field_with_alts(&name, &known).with_span(ident));
    false
}
