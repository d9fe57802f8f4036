//! `#[derive(Schema)]` (nested structs, enums of unit variants) and
//! `#[derive(CompositeKey)]` (a struct used as a model's key).

use darling::FromDeriveInput;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::DeriveInput;
use syn::spanned::Spanned;

use crate::ast::{check_shape, runtime_path};
use crate::attr::SchemaAttrs;
use crate::serde_attr;

pub fn schema(input: &DeriveInput) -> darling::Result<TokenStream> {
    if let syn::Data::Enum(_) = &input.data {
        return unit_enum(input);
    }
    check_shape(input, "Schema", "or an enum of unit variants")?;
    struct_field_type(input)
}

pub fn composite_key(input: &DeriveInput) -> darling::Result<TokenStream> {
    check_shape(input, "CompositeKey", "its fields make up `_id`")?;
    let field_type = struct_field_type(input)?;
    let attrs = SchemaAttrs::from_derive_input(input)?;
    let krate = runtime_path(attrs.krate.as_ref());
    let rt = quote!(#krate::__private);
    let ident = &attrs.ident;
    // Field by field, in declaration order (the order MongoDB compares),
    // without a serde round trip; serde's own output where it is customised.
    let to_bson = stored_fields(input).map(|fields| {
        let inserts = fields.iter().map(|(field, stored)| {
            quote! {
                #rt::put(&mut doc, #stored, ::core::clone::Clone::clone(&self.#field))?;
            }
        });
        quote! {
            fn to_bson(&self) -> #rt::Result<#rt::bson::Bson> {
                let mut doc = #rt::bson::Document::new();
                #(#inserts)*
                ::core::result::Result::Ok(#rt::bson::Bson::Document(doc))
            }
        }
    });
    Ok(quote! {
        #field_type
        #[doc(hidden)]
        const _: () = {
            #[automatically_derived]
            impl #rt::Key for #ident {
                type Insert = #ident;
                fn from_insert(insert: #ident) -> Self {
                    insert
                }
                #to_bson
            }
        };
    })
}

/// Each field's ident and stored name, or `None` when any serde attribute
/// may change how a field or the struct is serialized: generated BSON
/// conversion must then defer to serde to stay byte-identical.
fn stored_fields(input: &DeriveInput) -> Option<Vec<(syn::Ident, String)>> {
    let container = serde_attr::parse(&input.attrs).ok()?;
    if container.custom_serialization || !container.unsupported.is_empty() {
        return None;
    }
    let syn::Data::Struct(data) = &input.data else { return None };
    data.fields
        .iter()
        .map(|field| {
            let ident = field.ident.clone()?;
            let serde = serde_attr::parse(&field.attrs).ok()?;
            if serde.custom_serialization || !serde.unsupported.is_empty() {
                return None;
            }
            let stored = serde.stored_name(&ident, &container);
            Some((ident, stored))
        })
        .collect()
}

fn struct_field_type(input: &DeriveInput) -> darling::Result<TokenStream> {
    let attrs = SchemaAttrs::from_derive_input(input)?;
    let krate = runtime_path(attrs.krate.as_ref());
    let rt = quote!(#krate::__private);
    let mut errors = darling::Error::accumulator();
    if !attrs.generics.params.is_empty() {
        errors.push(
            darling::Error::custom(
                "a generic type's schema is not supported; implement `FieldType` by hand",
            )
            .with_span(&attrs.generics),
        );
    }
    let container = serde_attr::parse_checked(&attrs.attrs, &mut errors, |name| {
        format!(
            "`#[serde({name})]` is not supported here: it changes the stored shape, so the field paths and the schema would not match it"
        )
    })
    .unwrap_or_default();
    let fields = attrs.data.take_struct().expect("checked: named struct").fields;
    let mut properties = Vec::new();
    let mut constants = Vec::new();
    let mut comparable = Vec::new();
    for field in &fields {
        let ident = field.ident.as_ref().expect("named");
        let Some(serde) = serde_attr::parse_checked(&field.attrs, &mut errors, |name| {
            format!("`#[serde({name})]` is not supported here: every field is stored as itself")
        }) else {
            continue;
        };
        let stored = serde.stored_name(ident, &container);
        if let Some(error) = crate::ast::check_stored_name(&stored, ident) {
            errors.push(error);
        }
        if let Some(error) = serde.unreadable(ident, &container) {
            errors.push(error);
        }
        let ty = &field.ty;
        if serde.default || container.default {
            // serde fills it when missing: the validator does not require it.
            properties.push(quote_spanned!(ty.span()=> .optional_property::<#ty>(#stored)));
        } else {
            properties.push(quote_spanned!(ty.span()=> .property::<#ty>(#stored)));
        }
        comparable.push(quote!(<#ty as #rt::FieldType>::COMPARABLE));
        let access = quote!(#rt::Writable);
        constants.push(crate::expand::constant(
            &rt,
            &attrs.ident,
            &attrs.vis,
            ident,
            ty,
            &stored,
            access,
        ));
    }
    let ident = &attrs.ident;
    let additional = attrs.additional_properties;
    let into_bson = stored_fields(input).map(|fields| {
        let inserts =
            fields.iter().map(|(field, stored)| quote!(#rt::put(&mut doc, #stored, self.#field)?;));
        quote! {
            fn into_bson(self) -> ::core::result::Result<#rt::bson::Bson, #rt::bson::ser::Error> {
                let mut doc = #rt::bson::Document::new();
                #(#inserts)*
                ::core::result::Result::Ok(#rt::bson::Bson::Document(doc))
            }
        }
    });
    errors.finish_with(quote! {
        #[automatically_derived]
        impl #ident {
            #(#constants)*
        }

        #[doc(hidden)]
        const _: () = {
            #[automatically_derived]
            impl #rt::Nested for #ident {
                type Struct = #ident;
                type Value<U: #rt::Nullable> = U;
            }

            #[automatically_derived]
            impl #rt::Nullable for #ident {
                type Optional = #rt::std::option::Option<#ident>;
            }

            #[automatically_derived]
            impl #rt::FieldType for #ident {
                const COMPARABLE: bool = true #(&& #comparable)*;
                fn json_schema() -> #rt::bson::Document {
                    #rt::ObjectSchema::new(#additional)
                        #(#properties)*
                        .build()
                }
                #into_bson
            }
        };
    })
}

fn unit_enum(input: &DeriveInput) -> darling::Result<TokenStream> {
    let attrs = SchemaAttrs::from_derive_input(input)?;
    let krate = runtime_path(attrs.krate.as_ref());
    let rt = quote!(#krate::__private);
    let mut errors = darling::Error::accumulator();
    let container = errors
        .handle(serde_attr::parse(&attrs.attrs).map_err(darling::Error::from))
        .unwrap_or_default();
    for (name, span) in &container.unsupported {
        errors.push(
            darling::Error::custom(format!(
                "`#[serde({name})]` is not supported here: the variants are stored as plain strings"
            ))
            .with_span(span),
        );
    }
    let variants = attrs.data.take_enum().expect("checked: enum");
    let mut names = Vec::new();
    for variant in &variants {
        if !variant.fields.is_unit() {
            errors.push(
                darling::Error::custom(
                    "`#[derive(Schema)]` supports enums of unit variants (stored as strings); implement `FieldType` by hand for this one",
                )
                .with_span(&variant.ident),
            );
            continue;
        }
        let Some(serde) =
            errors.handle(serde_attr::parse(&variant.attrs).map_err(darling::Error::from))
        else {
            continue;
        };
        if let Some(error) = serde.unreadable_variant(&variant.ident, &container) {
            errors.push(error);
        }
        names.push(serde.stored_variant_name(&variant.ident, &container));
    }
    let ident = &attrs.ident;
    errors.finish_with(quote! {
        #[doc(hidden)]
        const _: () = {
            #[automatically_derived]
            impl #rt::FieldType for #ident {
                fn json_schema() -> #rt::bson::Document {
                    #rt::string_enum_schema(&[#(#names),*])
                }
            }

            #[automatically_derived]
            impl #rt::Nullable for #ident {
                type Optional = #rt::std::option::Option<#ident>;
            }
        };
    })
}
