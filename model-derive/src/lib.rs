//! `#[derive(Model)]`, `#[derive(Schema)]`, `#[derive(CompositeKey)]`,
//! `#[derive(Projection)]` and `#[derive(Ordered)]`.
//!
//! As serde_derive: `ast.rs` parses the input once into one internal model
//! every derive reads (the serde attributes by `serde_attr.rs`, the
//! `#[model(...)]` ones by darling in `attr.rs`); `check.rs` holds the
//! rules, one named function each, and reports every mistake at once with
//! its span; `expand.rs` (with `model.rs`), `schema.rs` and `project.rs`
//! only generate. Each entry point is a shim over a function on
//! `proc_macro2` tokens, so the logic is testable.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod ast;
mod attr;
mod case;
mod check;
mod constraint;
mod expand;
mod model;
mod project;
mod schema;
mod serde_attr;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Turns a struct into a model: see the `model` crate's documentation.
///
/// Not compiled as a doctest (a proc-macro crate's doctests cannot depend
/// on the runtime crate); the same model compiles in `tests/ui/pass` and
/// compiles in the `model` crate's doctests (the README's first example).
///
/// ```ignore
/// #[derive(Model, Serialize, Deserialize)]
/// #[model(collection = "foos", key = id)]
/// struct Foo {
///     #[serde(rename = "_id")]
///     id: Uuid,
///     #[model(unique)]
///     foo: String,
///     bar: Option<i64>,
///     created_at: DateTime,
///     updated_at: Option<DateTime>,
/// }
/// ```
#[proc_macro_derive(Model, attributes(model))]
pub fn derive_model(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    derive_model_inner(&input).into()
}

/// Gives a nested struct, or an enum of unit variants, a `$jsonSchema`
/// (implements `FieldType`), so it can be a model field.
#[proc_macro_derive(Schema, attributes(model))]
pub fn derive_schema(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    schema::schema(&input).unwrap_or_else(|e| e.to_compile_error()).into()
}

/// Makes a struct a composite key: its fields, in declaration order, form
/// the embedded `_id` document.
#[proc_macro_derive(CompositeKey, attributes(model))]
pub fn derive_composite_key(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    schema::composite_key(&input).unwrap_or_else(|e| e.to_compile_error()).into()
}

/// Makes a struct a projection of a model: reads can decode into it
/// (`repo.find_many(q).project::<Contact>()`), asking the server for its
/// fields only. `#[projection(model = Customer)]` names the model; each
/// field must be a field of the model, stored under the same name, of the
/// same type or an `Option` of it (checked at compile time).
#[proc_macro_derive(Projection, attributes(projection))]
pub fn derive_projection(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    project::projection(&input).unwrap_or_else(|e| e.to_compile_error()).into()
}

/// Gives a struct (a `#[derive(Schema)]` one or a composite key) the order
/// MongoDB compares embedded documents in, field by field: it can then be
/// compared (`gt`, `range`), and a composite key of it can be paged with
/// `scroll`. Every field must be ordered itself.
#[proc_macro_derive(Ordered, attributes(model))]
pub fn derive_ordered(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    project::ordered(&input).unwrap_or_else(|e| e.to_compile_error()).into()
}

/// The derive on `proc_macro2` tokens. On error: every error, plus the field
/// constants, the insert struct and a stand-in `Model` impl, so one
/// mistake does not cascade into errors at every use of the model.
fn derive_model_inner(input: &DeriveInput) -> proc_macro2::TokenStream {
    let mut cx = check::Ctxt::new();
    let Some(ast) = ast::Container::from_ast(input, ast::Derive::Model, &mut cx) else {
        return cx.check().err().map(|e| e.to_compile_error()).unwrap_or_default();
    };
    let model = model::Model::from_ast(&ast);
    let key_sound = ast.attrs_ok && check::model(&mut cx, &ast, &model);
    match cx.check() {
        Ok(()) => expand::model(&model),
        Err(errors) => {
            let mut out = errors.to_compile_error();
            out.extend(expand::stand_in(&model, key_sound));
            out
        }
    }
}

#[cfg(test)]
mod check_test;
#[cfg(test)]
mod snapshots_test;
