//! `#[derive(Schema)]` (nested structs, enums of unit variants) and
//! `#[derive(CompositeKey)]` (a struct used as a model's key).

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::DeriveInput;
use syn::spanned::Spanned;

use crate::ast::{Container, Data, Derive};
use crate::attr::{SchemaAttrs, SchemaFieldAttrs};
use crate::check;

/// The AST of a `#[derive(Schema)]` or `#[derive(CompositeKey)]` input.
type Input = Container<SchemaAttrs, SchemaFieldAttrs>;

pub fn schema(input: &DeriveInput) -> syn::Result<TokenStream> {
    let ast = check::checked(input, Derive::Schema, check::schema)?;
    Ok(match &ast.data {
        Data::Struct(_) => struct_field_type(&ast),
        Data::Enum(_) => unit_enum(&ast),
    })
}

pub fn composite_key(input: &DeriveInput) -> syn::Result<TokenStream> {
    let ast = check::checked(input, Derive::CompositeKey, check::schema)?;
    let field_type = struct_field_type(&ast);
    let rt = ast.private();
    let ident = &ast.ident;
    // Field by field, in declaration order (the order MongoDB compares),
    // without a serde round trip; serde's own output where it is customised.
    let to_bson = stored_fields(&ast).map(|fields| {
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
fn stored_fields(ast: &Input) -> Option<Vec<(&syn::Ident, &str)>> {
    let custom = |serde: &crate::serde_attr::SerdeAttrs| {
        serde.custom_serialization || !serde.unsupported.is_empty()
    };
    if custom(&ast.serde) {
        return None;
    }
    ast.fields()
        .iter()
        .map(|field| (!custom(&field.serde)).then(|| (&field.ident, field.stored())))
        .collect()
}

fn struct_field_type(ast: &Input) -> TokenStream {
    let rt = ast.private();
    let mut properties = Vec::new();
    let mut constants = Vec::new();
    let mut comparable = Vec::new();
    for field in ast.fields() {
        let ty = &field.ty;
        let stored = field.stored();
        if field.serde.default || ast.serde.default {
            // serde fills it when missing: the validator does not require it.
            properties.push(quote_spanned!(ty.span()=> .optional_property::<#ty>(#stored)));
        } else {
            properties.push(quote_spanned!(ty.span()=> .property::<#ty>(#stored)));
        }
        comparable.push(quote!(<#ty as #rt::FieldType>::COMPARABLE));
        let access = quote!(#rt::Writable);
        constants.push(crate::expand::constant(
            &rt,
            &ast.ident,
            &ast.vis,
            &field.ident,
            ty,
            stored,
            access,
        ));
    }
    let ident = &ast.ident;
    let additional = ast.attrs.additional_properties;
    let into_bson = stored_fields(ast).map(|fields| {
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
    quote! {
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
    }
}

fn unit_enum(ast: &Input) -> TokenStream {
    let rt = ast.private();
    let Data::Enum(variants) = &ast.data else { unreachable!("an enum") };
    let names = variants.iter().map(|variant| &variant.name.serialize);
    let ident = &ast.ident;
    quote! {
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
    }
}
