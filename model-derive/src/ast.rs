//! The one internal model every derive reads: the container and its fields
//! (or variants), each with its serde attributes and its `#[model(...)]`
//! (or `#[projection(...)]`) attributes parsed once. Building it checks
//! nothing but the input's shape; the rules are in `check`.

use darling::{FromDeriveInput, FromField, FromVariant};
use proc_macro2::TokenStream;
use quote::quote;
use syn::{DeriveInput, Generics, Ident, Type, Visibility};

use crate::attr::VariantAttrs;
use crate::check::Ctxt;
use crate::serde_attr::{self, Name, SerdeAttrs};

/// Which derive reads the input: it decides the shapes accepted and the
/// wording of the messages.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Derive {
    Model,
    Schema,
    CompositeKey,
    Projection,
    Ordered,
}

impl Derive {
    /// The derive's name, as the user writes it.
    pub fn name(self) -> &'static str {
        match self {
            Derive::Model => "Model",
            Derive::Schema => "Schema",
            Derive::CompositeKey => "CompositeKey",
            Derive::Projection => "Projection",
            Derive::Ordered => "Ordered",
        }
    }

    /// The attribute the derive reads its options from.
    fn attribute(self) -> &'static str {
        match self {
            Derive::Projection => "projection",
            _ => "model",
        }
    }

    /// What the derive needs, said in the shape error.
    fn expects(self) -> &'static str {
        match self {
            Derive::Model => "one per document",
            Derive::Schema => "or an enum of unit variants",
            Derive::CompositeKey => "its fields make up `_id`",
            Derive::Projection => "some fields of a model",
            Derive::Ordered => "compared field by field, in order",
        }
    }

    /// Whether the derive depends on stored names (all but `Ordered`,
    /// which sits beside a `Schema` or `CompositeKey` that checks them).
    fn reads_serde(self) -> bool {
        self != Derive::Ordered
    }
}

/// The container's own options: where the runtime is, at least.
pub trait ContainerAttrs: FromDeriveInput + Default {
    /// `crate = path`.
    fn krate(&self) -> Option<&syn::Path>;
}

/// A struct or enum, as a derive sees it.
pub struct Container<A, F> {
    /// The derive reading it.
    pub derive: Derive,
    /// The type's name, visibility and generics, as written.
    pub ident: Ident,
    pub vis: Visibility,
    pub generics: Generics,
    /// The runtime path: `crate = path`, or `::model`.
    pub krate: TokenStream,
    /// The container's `#[model(...)]` (defaults where they did not parse).
    pub attrs: A,
    /// The container's serde attributes (defaults where they did not parse).
    pub serde: SerdeAttrs,
    /// The container's serde attributes parsed.
    pub serde_ok: bool,
    /// Every `#[model(...)]` attribute, on the container and on each field
    /// or variant, parsed: the cross-item rules can be checked.
    pub attrs_ok: bool,
    pub data: Data<F>,
}

/// A struct's named fields, or an enum's variants.
pub enum Data<F> {
    Struct(Vec<Field<F>>),
    Enum(Vec<Variant>),
}

/// A named field.
pub struct Field<F> {
    pub ident: Ident,
    pub ty: Type,
    /// The names serde writes and reads it under.
    pub name: Name,
    /// Its serde attributes (defaults where they did not parse).
    pub serde: SerdeAttrs,
    /// Its serde attributes parsed, so `name` is the one serde uses.
    pub serde_ok: bool,
    /// Its `#[model(...)]` (defaults where they did not parse).
    pub attrs: F,
}

impl<F> Field<F> {
    /// The name stored in the document.
    pub fn stored(&self) -> &str {
        &self.name.serialize
    }
}

/// A variant of an enum.
pub struct Variant {
    pub ident: Ident,
    /// It holds no data (the only kind `#[derive(Schema)]` stores).
    pub unit: bool,
    pub name: Name,
    pub serde: SerdeAttrs,
    pub serde_ok: bool,
}

impl<A: ContainerAttrs, F: FromField + Default> Container<A, F> {
    /// Parses `input` for `derive`, pushing every parse error to `cx`;
    /// `None` when the input is not a shape the derive takes.
    pub fn from_ast(input: &DeriveInput, derive: Derive, cx: &mut Ctxt) -> Option<Self> {
        if let Err(error) = check_shape(input, derive) {
            cx.push(error);
            return None;
        }
        let mut attrs_ok = true;
        let attrs = parsed(A::from_derive_input(input), cx, &mut attrs_ok);
        let krate = match attrs.krate() {
            Some(path) => quote!(#path),
            None => lenient_krate(input, derive.attribute()),
        };
        let (serde, serde_ok) = if derive.reads_serde() {
            match cx.handle(serde_attr::parse(&input.attrs)) {
                Some(serde) => (serde, true),
                None => (SerdeAttrs::default(), false),
            }
        } else {
            (SerdeAttrs::default(), true)
        };
        let data = match &input.data {
            syn::Data::Struct(data) => Data::Struct(
                data.fields
                    .iter()
                    .map(|field| {
                        let ident = field.ident.clone().expect("checked: named fields");
                        let attrs = parsed(F::from_field(field), cx, &mut attrs_ok);
                        let (own, serde_ok) = field_serde(&field.attrs, derive, cx);
                        let name = own.field_name(&ident, &serde);
                        Field { ident, ty: field.ty.clone(), name, serde: own, serde_ok, attrs }
                    })
                    .collect(),
            ),
            syn::Data::Enum(data) => Data::Enum(
                data.variants
                    .iter()
                    .map(|variant| {
                        parsed(VariantAttrs::from_variant(variant), cx, &mut attrs_ok);
                        let (own, serde_ok) = field_serde(&variant.attrs, derive, cx);
                        Variant {
                            ident: variant.ident.clone(),
                            unit: matches!(variant.fields, syn::Fields::Unit),
                            name: own.variant_name(&variant.ident, &serde),
                            serde: own,
                            serde_ok,
                        }
                    })
                    .collect(),
            ),
            syn::Data::Union(_) => unreachable!("checked: no unions"),
        };
        Some(Container {
            derive,
            ident: input.ident.clone(),
            vis: input.vis.clone(),
            generics: input.generics.clone(),
            krate,
            attrs,
            serde,
            serde_ok,
            attrs_ok,
            data,
        })
    }
}

impl<A, F> Container<A, F> {
    /// The runtime's hidden module, `<krate>::__private`, that generated
    /// code names runtime items through.
    pub fn private(&self) -> TokenStream {
        let krate = &self.krate;
        quote!(#krate::__private)
    }

    /// The fields of a struct (none for an enum).
    pub fn fields(&self) -> &[Field<F>] {
        match &self.data {
            Data::Struct(fields) => fields,
            Data::Enum(_) => &[],
        }
    }
}

/// The parsed value, or its default with the error pushed and `ok` cleared.
fn parsed<T: Default>(result: darling::Result<T>, cx: &mut Ctxt, ok: &mut bool) -> T {
    cx.handle(result).unwrap_or_else(|| {
        *ok = false;
        T::default()
    })
}

/// An item's serde attributes, and whether they parsed.
fn field_serde(attrs: &[syn::Attribute], derive: Derive, cx: &mut Ctxt) -> (SerdeAttrs, bool) {
    if !derive.reads_serde() {
        return (SerdeAttrs::default(), true);
    }
    match cx.handle(serde_attr::parse(attrs)) {
        Some(serde) => (serde, true),
        None => (SerdeAttrs::default(), false),
    }
}

/// Rejects inputs the derive does not take (a struct with named fields,
/// and for `Schema` an enum), with a message that says what it expects.
fn check_shape(input: &DeriveInput, derive: Derive) -> syn::Result<()> {
    let found = match &input.data {
        syn::Data::Struct(s) => match s.fields {
            syn::Fields::Named(_) => return Ok(()),
            syn::Fields::Unnamed(_) => "a tuple struct",
            syn::Fields::Unit => "a unit struct",
        },
        syn::Data::Enum(_) if derive == Derive::Schema => return Ok(()),
        syn::Data::Enum(_) => "an enum",
        syn::Data::Union(_) => "a union",
    };
    Err(syn::Error::new(
        input.ident.span(),
        format!(
            "`#[derive({})]` needs a struct with named fields ({}); found {found}",
            derive.name(),
            derive.expects()
        ),
    ))
}

/// The runtime path when the container's attributes did not parse:
/// `crate = path` read on its own, so that the field constants emitted
/// beside the errors still name the right crate; else `::model`.
fn lenient_krate(input: &DeriveInput, attribute: &str) -> TokenStream {
    let krate = input.attrs.iter().filter(|a| a.path().is_ident(attribute)).find_map(|a| {
        let mut krate = None;
        let _ = a.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                krate = Some(meta.value()?.parse::<syn::Path>()?);
            } else if meta.input.peek(syn::Token![=]) {
                let _: syn::Expr = meta.value()?.parse()?;
            } else if meta.input.peek(syn::token::Paren) {
                let content;
                syn::parenthesized!(content in meta.input);
                let _: TokenStream = content.parse()?;
            }
            Ok(())
        });
        krate
    });
    match krate {
        Some(path) => quote!(#path),
        None => quote!(::model),
    }
}
