//! `#[derive(Projection)]` (a struct holding some fields of a model) and
//! `#[derive(Ordered)]` (a struct whose values have an order).

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::DeriveInput;
use syn::spanned::Spanned;

use crate::ast::{Container, Derive};
use crate::attr::{ProjectionAttrs, SchemaAttrs, SchemaFieldAttrs};
use crate::check;

pub fn projection(input: &DeriveInput) -> syn::Result<TokenStream> {
    let ast: Container<ProjectionAttrs, SchemaFieldAttrs> =
        check::checked(input, Derive::Projection, check::projection)?;
    let model = ast.attrs.model.as_ref().expect("checked: names the model");
    let rt = ast.private();
    let stored_names = ast.fields().iter().map(|field| field.stored());
    let checks = ast.fields().iter().map(|field| {
        let ident = &field.ident;
        let stored = field.stored();
        let constant = crate::expand::constant_name(ident);
        let ty = &field.ty;
        quote_spanned! {ident.span()=>
            const _: () = <#model>::#constant.__projected_as::<#ty>(#stored);
        }
    });
    let ident = &ast.ident;
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

pub fn ordered(input: &DeriveInput) -> syn::Result<TokenStream> {
    let ast: Container<SchemaAttrs, SchemaFieldAttrs> =
        check::checked(input, Derive::Ordered, check::ordered)?;
    let rt = ast.private();
    let ident = &ast.ident;
    let checks = ast.fields().iter().map(|field| {
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
