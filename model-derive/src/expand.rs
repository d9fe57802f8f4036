//! Generates the code for `#[derive(Model)]` from the checked internal model.
//! Only data is generated; behaviour is in the runtime.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;

use crate::ast::{Index, Model, Role};

/// The `Foo::FIELD` constants alone: emitted beside the errors when the
/// attributes are wrong, so uses of the fields do not fail as well.
pub fn constants_only(model: &Model) -> TokenStream {
    let ident = &model.ident;
    let constants = constants(model);
    quote! {
        #[automatically_derived]
        impl #ident {
            #(#constants)*
        }
    }
}

fn constants(model: &Model) -> Vec<TokenStream> {
    let Model { ident, vis, krate, fields, .. } = model;
    let rt = quote!(#krate::__private);
    fields
        .iter()
        .map(|f| {
            let access = match f.role {
                Role::Data => quote!(#rt::Writable),
                _ => quote!(#rt::ReadOnly),
            };
            constant(&rt, ident, vis, &f.ident, &f.ty, &f.stored, access)
        })
        .collect()
}

/// `const FIELD: Field<Owner, Type, Access> = Field::new("stored");` for the
/// field `field` of `owner` (a model or a `#[derive(Schema)]` struct).
pub fn constant(
    rt: &TokenStream,
    owner: &syn::Ident,
    vis: &syn::Visibility,
    field: &syn::Ident,
    ty: &syn::Type,
    stored: &str,
    access: TokenStream,
) -> TokenStream {
    let name = format_ident!("{}", field.unraw().to_string().to_uppercase(), span = field.span());
    let doc = format!("The field `{}`, stored as `{stored}`.", field.unraw());
    quote! {
        #[doc = #doc]
        #vis const #name: #rt::Field<#owner, #ty, #access> = #rt::Field::new(#stored);
    }
}

pub fn model(model: &Model) -> TokenStream {
    let Model { ident, vis, krate, collection, fields, additional_properties, .. } = model;
    let rt = quote!(#krate::__private);
    let insert_ident = format_ident!("{}Insert", ident);
    let key = model.key();
    let key_ident = &key.ident;
    let key_ty = &key.ty;

    let constants = constants(model);
    let stamp = |role| fields.iter().find(|f| f.role == role);
    let touch = stamp(Role::UpdatedAt).map(|f| {
        let (field, ty) = (&f.ident, &f.ty);
        quote!(self.#field = <#ty as #rt::UpdatedAt>::on_update(now);)
    });
    let stored_stamp = |role| match stamp(role) {
        Some(f) => {
            let stored = &f.stored;
            quote!(::core::option::Option::Some(#stored))
        }
        None => quote!(::core::option::Option::None),
    };
    let (created_at_name, updated_at_name) =
        (stored_stamp(Role::CreatedAt), stored_stamp(Role::UpdatedAt));

    let insert_fields =
        fields.iter().filter(|f| matches!(f.role, Role::Key | Role::Data)).map(|f| {
            let field = &f.ident;
            let ty = &f.ty;
            if f.role == Role::Key {
                let doc = format!(
                    "The key (`{ident}::{}`); for UUID and ObjectId keys `None` generates one.",
                    field.unraw()
                );
                quote! {
                    #[doc = #doc]
                    #vis #field: <#ty as #rt::Key>::Insert
                }
            } else {
                let doc = format!("`{ident}::{}`.", field.unraw());
                quote! {
                    #[doc = #doc]
                    #vis #field: #ty
                }
            }
        });

    let build_fields = fields.iter().map(|f| {
        let field = &f.ident;
        let ty = &f.ty;
        match f.role {
            Role::Key => quote!(#field: <#ty as #rt::Key>::from_insert(insert.#field)),
            Role::Data => quote!(#field: insert.#field),
            Role::CreatedAt => quote_spanned!(ty.span()=> #field: now),
            Role::UpdatedAt => {
                quote_spanned!(ty.span()=> #field: <#ty as #rt::UpdatedAt>::on_insert(now))
            }
            Role::Version => quote_spanned!(ty.span()=> #field: <#ty as #rt::Version>::from_i64(0)),
        }
    });

    let properties = fields.iter().map(|f| {
        let ty = &f.ty;
        let stored = &f.stored;
        if f.role == Role::Version {
            // Not required: documents stored before the field existed stay valid.
            quote_spanned! {ty.span()=>
                .property_schema(#stored, <#ty as #rt::FieldType>::json_schema(), false)
            }
        } else {
            quote_spanned!(ty.span()=> .property::<#ty>(#stored))
        }
    });

    let version = fields.iter().find(|f| f.role == Role::Version).map(|f| {
        let (field, ty, stored) = (&f.ident, &f.ty, &f.stored);
        quote_spanned! {ty.span()=>
            const VERSION: ::core::option::Option<&'static str> =
                ::core::option::Option::Some(#stored);

            fn version_step() -> #rt::bson::Bson {
                <#ty as #rt::Version>::step()
            }

            fn version(&self) -> i64 {
                <#ty as #rt::Version>::get(self.#field)
            }

            fn set_version(&mut self, version: i64) {
                self.#field = <#ty as #rt::Version>::from_i64(version);
            }
        }
    });

    let insert_types: Vec<TokenStream> = fields
        .iter()
        .filter(|f| matches!(f.role, Role::Key | Role::Data))
        .map(|f| {
            let ty = &f.ty;
            if f.role == Role::Key { quote!(<#ty as #rt::Key>::Insert) } else { quote!(#ty) }
        })
        .collect();
    let insert_idents: Vec<&syn::Ident> = fields
        .iter()
        .filter(|f| matches!(f.role, Role::Key | Role::Data))
        .map(|f| &f.ident)
        .collect();
    let insert_names: Vec<String> = insert_idents.iter().map(|i| i.unraw().to_string()).collect();
    let insert_name = insert_ident.to_string();

    let indexes = model.indexes.iter().map(|index| index_spec(&rt, index));
    let insert_doc = format!(
        "What `Repo::<{ident}>::insert_one` takes: every field of [`{ident}`] but the timestamps."
    );

    quote! {
        #[doc = #insert_doc]
        #vis struct #insert_ident {
            #(#insert_fields,)*
        }

        #[automatically_derived]
        impl #ident {
            #(#constants)*
        }

        // `Debug` and `Clone` where every field has them: a bound under
        // `for<'__m>` is not a trivial one, so where a field lacks the
        // trait the impl is simply absent instead of an error.
        #[automatically_derived]
        impl ::core::fmt::Debug for #insert_ident
        where
            #(for<'__m> #insert_types: ::core::fmt::Debug,)*
        {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(#insert_name)
                    #(.field(#insert_names, &self.#insert_idents))*
                    .finish()
            }
        }

        #[automatically_derived]
        impl ::core::clone::Clone for #insert_ident
        where
            #(for<'__m> #insert_types: ::core::clone::Clone,)*
        {
            fn clone(&self) -> Self {
                #insert_ident { #(#insert_idents: ::core::clone::Clone::clone(&self.#insert_idents),)* }
            }
        }

        #[doc(hidden)]
        const _: () = {
            #[automatically_derived]
            impl #rt::Model for #ident {
                type Key = #key_ty;
                type Insert = #insert_ident;
                const COLLECTION: &'static str = #collection;

                fn key(&self) -> &Self::Key {
                    &self.#key_ident
                }

                fn from_insert(insert: #insert_ident, now: #rt::bson::DateTime) -> Self {
                    #ident { #(#build_fields,)* }
                }

                fn generates_key(insert: &#insert_ident) -> bool {
                    <#key_ty as #rt::Key>::generates(&insert.#key_ident)
                }

                fn touch(&mut self, now: #rt::bson::DateTime) {
                    let _ = now;
                    #touch
                }

                const CREATED_AT: ::core::option::Option<&'static str> = #created_at_name;
                const UPDATED_AT: ::core::option::Option<&'static str> = #updated_at_name;

                #version

                fn json_schema() -> #rt::bson::Document {
                    #rt::ObjectSchema::new(#additional_properties)
                        #(#properties)*
                        .build()
                }

                fn indexes() -> #rt::std::vec::Vec<#rt::IndexSpec> {
                    #rt::std::vec![#(#indexes),*]
                }
            }
        };
    }
}

fn index_spec(rt: &TokenStream, index: &Index) -> TokenStream {
    let names = index.keys.iter().map(|(name, _)| name);
    let directions = index.keys.iter().map(|(_, d)| d);
    let mut spec = quote! {
        #rt::IndexSpec::new({
            let mut keys = #rt::bson::Document::new();
            #(keys.insert(#names, #directions);)*
            keys
        })
    };
    if let Some(name) = &index.name {
        spec = quote!(#spec.name(#name));
    }
    if index.unique {
        spec = quote!(#spec.unique(true));
    }
    if index.sparse {
        spec = quote!(#spec.sparse(true));
    }
    if let Some(seconds) = index.expire_after {
        spec = quote!(#spec.expire_after(#rt::std::time::Duration::from_secs(#seconds)));
    }
    if let Some(partial) = &index.partial {
        spec = quote!(#spec.partial_filter(#partial));
    }
    spec
}
