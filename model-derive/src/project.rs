//! `#[derive(Projection)]` (a struct holding some fields of a model) and
//! `#[derive(Ordered)]` (a struct whose values have an order).

use darling::FromDeriveInput;
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::DeriveInput;
use syn::ext::IdentExt;
use syn::spanned::Spanned;

use crate::ast::{check_shape, runtime_path};
use crate::attr::ProjectionAttrs;
use crate::serde_attr;

pub fn projection(input: &DeriveInput) -> darling::Result<TokenStream> {
    check_shape(input, "Projection", "some fields of a model")?;
    let attrs = ProjectionAttrs::from_derive_input(input)?;
    let krate = runtime_path(attrs.krate.as_ref());
    let rt = quote!(#krate::__private);
    let mut errors = darling::Error::accumulator();
    if !attrs.generics.params.is_empty() {
        errors.push(
            darling::Error::custom("a projection cannot be generic").with_span(&attrs.generics),
        );
    }
    let Some(model) = attrs.model.clone() else {
        errors.push(
            darling::Error::custom(
                "name the model this projects: `#[projection(model = Customer)]`",
            )
            .with_span(&attrs.ident),
        );
        return errors.finish().map(|()| TokenStream::new());
    };
    let container = serde_attr::parse_checked(&attrs.attrs, &mut errors, |name| {
        format!(
            "`#[serde({name})]` is not supported on a projection: its fields must read as the model stores them"
        )
    })
    .unwrap_or_default();
    let mut stored_names = Vec::new();
    let mut checks = Vec::new();
    for field in attrs.data.take_struct().expect("checked: named struct").fields {
        let ident = field.ident.as_ref().expect("named");
        let Some(serde) = serde_attr::parse_checked(&field.attrs, &mut errors, |name| {
            format!("`#[serde({name})]` is not supported on a projection's field")
        }) else {
            continue;
        };
        let stored = serde.stored_name(ident, &container);
        let constant =
            format_ident!("{}", ident.unraw().to_string().to_uppercase(), span = ident.span());
        let ty = &field.ty;
        checks.push(quote_spanned! {ident.span()=>
            const _: () = <#model>::#constant.__projected_as::<#ty>(#stored);
        });
        stored_names.push(stored);
    }
    errors.finish()?;
    let ident = &attrs.ident;
    Ok(quote! {
        #[doc(hidden)]
        const _: () = {
            #[automatically_derived]
            impl #rt::Projection<#model> for #ident {
                fn projection() -> ::core::option::Option<#rt::bson::Document> {
                    ::core::option::Option::Some(#rt::projection_of(&[#(#stored_names),*]))
                }
            }
            #(#checks)*
        };
    })
}

pub fn ordered(input: &DeriveInput) -> darling::Result<TokenStream> {
    check_shape(input, "Ordered", "compared field by field, in order")?;
    let attrs = crate::attr::SchemaAttrs::from_derive_input(input)?;
    let krate = runtime_path(attrs.krate.as_ref());
    let rt = quote!(#krate::__private);
    if !attrs.generics.params.is_empty() {
        return Err(darling::Error::custom("a generic type cannot derive `Ordered`")
            .with_span(&attrs.generics));
    }
    let ident = &attrs.ident;
    let fields = attrs.data.take_struct().expect("checked: named struct").fields;
    let checks = fields.iter().map(|field| {
        let ty = &field.ty;
        quote_spanned!(ty.span()=> ordered::<#ty>();)
    });
    Ok(quote! {
        #[doc(hidden)]
        const _: () = {
            #[automatically_derived]
            impl #rt::Ordered for #ident {
                type Bound = #ident;
            }
            // Every field has an order, so the struct's (field by field) is total.
            fn _fields_are_ordered() {
                fn ordered<T: #rt::Ordered>() {}
                #(#checks)*
            }
        };
    })
}
