//! Generates the code for `#[derive(Model)]` from the checked model.
//! Only data is generated; behaviour is in the runtime.
//!
//! What a model repeats is kept out of the expansion: the schema and the
//! indexes are constant tables the runtime reads (`FIELDS`, `INDEX_DECLS`),
//! the trait's defaults stand wherever the model has nothing of its own,
//! the functions are `#[inline]` (compiled only where they are used, as
//! serde's generic impls are), and everything but the insert struct sits
//! in one block that names the runtime once (`__model`).

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;

use crate::attr::{IndexKey, ValidationAction, ValidationLevel};
use crate::model::{Field, Index, Key, Model, Role};

/// The alias of the runtime's private module inside a generated block. An
/// `Ident`, not a `TokenStream`: quote copies an ident in as one token,
/// where each interpolated stream is a round trip to the compiler.
fn rt() -> syn::Ident {
    syn::Ident::new("__model", proc_macro2::Span::call_site())
}

/// `const _: () = { use <krate>::__private as __model; <items> };`: the
/// items see the runtime under a short name and nothing leaks out.
fn block(krate: &TokenStream, items: TokenStream) -> TokenStream {
    quote! {
        #[doc(hidden)]
        const _: () = {
            use #krate::__private as __model;
            #items
        };
    }
}

/// The `Foo::FIELD` constants alone: emitted beside the errors when the
/// attributes are wrong, so uses of the fields do not fail as well.
pub fn constants_only(model: &Model) -> TokenStream {
    let ident = &model.ident;
    let constants = constants(model);
    block(
        model.krate,
        quote! {
            #[automatically_derived]
            impl #ident {
                #(#constants)*
            }
        },
    )
}

fn constants(model: &Model) -> Vec<TokenStream> {
    let Model { ident, vis, fields, .. } = model;
    let rt = rt();
    fields
        .iter()
        .map(|f| {
            // `_id` is read-only even where the key is not declared (the
            // constants emitted beside errors).
            let access = match f.role {
                Role::Data if f.stored != "_id" => quote!(#rt::Writable),
                _ => quote!(#rt::ReadOnly),
            };
            constant(&rt, ident, vis, f.ident, f.ty, f.stored, access)
        })
        .collect()
}

/// `const FIELD: Field<Owner, Type, Access> = Field::new("stored");` for the
/// field `field` of `owner` (a model or a `#[derive(Schema)]` struct).
pub fn constant(
    rt: &impl quote::ToTokens,
    owner: &syn::Ident,
    vis: &syn::Visibility,
    field: &syn::Ident,
    ty: &syn::Type,
    stored: &str,
    access: TokenStream,
) -> TokenStream {
    let name = constant_name(field);
    let doc = format!("The field `{}`, stored as `{stored}`.", field.unraw());
    quote! {
        #[doc = #doc]
        #vis const #name: #rt::Field<#owner, #ty, #access> = #rt::Field::new(#stored);
    }
}

/// The name of the constant for `field`: `FIELD` for `field` (and for
/// `r#field`), spanned at the field.
pub fn constant_name(field: &syn::Ident) -> syn::Ident {
    format_ident!("{}", field.unraw().to_string().to_uppercase(), span = field.span())
}

pub fn model(model: &Model) -> TokenStream {
    let Model { ident, krate, collection, fields, additional_properties, .. } = model;
    let rt = rt();
    let insert_ident = format_ident!("{}Insert", ident);
    let key = model.key();
    let key_ident = &key.ident;
    let key_ty = &key.ty;

    let constants = constants(model);
    let stamp = |role| fields.iter().find(|f| f.role == role);
    let touch = stamp(Role::UpdatedAt).map(|f| {
        let (field, ty) = (&f.ident, &f.ty);
        quote! {
            #[inline]
            fn touch(&mut self, now: #rt::bson::DateTime) {
                self.#field = <#ty as #rt::UpdatedAt>::on_update(now);
            }
        }
    });
    // The trait's defaults are `created_at` and `updated_at`: only a model
    // that stores them otherwise, or not at all, says so.
    let stamp_name = |role, name: &str, default: &str| {
        let value = match stamp(role) {
            Some(f) if f.stored == default => return None,
            Some(f) => {
                let stored = &f.stored;
                quote!(#rt::Option::Some(#stored))
            }
            None => quote!(#rt::Option::None),
        };
        let name = format_ident!("{name}");
        Some(quote!(const #name: #rt::Option<&'static str> = #value;))
    };
    let created_at_name = stamp_name(Role::CreatedAt, "CREATED_AT", "created_at");
    let updated_at_name = stamp_name(Role::UpdatedAt, "UPDATED_AT", "updated_at");

    let is_insert_field = |f: &&Field<'_>| matches!(f.role, Role::Key | Role::Data);

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

    let constraints: Vec<_> =
        fields.iter().map(|f| crate::constraint::expand(&quote!(#rt), f.attrs, f.ty)).collect();
    let field_decls = fields.iter().zip(&constraints).map(|(f, constraints)| {
        let ty = &f.ty;
        let stored = &f.stored;
        let mut decl = quote_spanned!(ty.span()=> #rt::FieldDecl::of::<#ty>(#stored));
        if f.role == Role::Version || f.default {
            // Not required: serde reads a document without it (a version
            // field always has a default), so the validator accepts one.
            decl = quote!(#decl.optional());
        }
        if let Some((constraints, _)) = constraints {
            decl = quote!(#decl.constrained(#constraints));
        }
        decl
    });
    let kind_checks = constraints.iter().flatten().map(|(_, checks)| checks);

    let additional = additional_properties.then(|| {
        quote!(
            const ADDITIONAL_PROPERTIES: bool = true;
        )
    });
    // The trait's defaults are `strict` and `error`.
    let level = (model.validation_level == ValidationLevel::Moderate).then(|| {
        quote!(
            const VALIDATION_LEVEL: #rt::ValidationLevel = #rt::ValidationLevel::Moderate;
        )
    });
    let action = (model.validation_action == ValidationAction::Warn).then(|| {
        quote!(
            const VALIDATION_ACTION: #rt::ValidationAction = #rt::ValidationAction::Warn;
        )
    });

    let version = fields.iter().find(|f| f.role == Role::Version).map(|f| {
        let (field, ty, stored) = (&f.ident, &f.ty, &f.stored);
        quote_spanned! {ty.span()=>
            const VERSION: #rt::Option<&'static str> = #rt::Option::Some(#stored);

            #[inline]
            fn version_step() -> #rt::bson::Bson {
                <#ty as #rt::Version>::step()
            }

            #[inline]
            fn version_max() -> i64 {
                <#ty as #rt::Version>::MAX
            }

            #[inline]
            fn version(&self) -> i64 {
                <#ty as #rt::Version>::get(self.#field)
            }

            #[inline]
            fn set_version(&mut self, version: i64) {
                self.#field = <#ty as #rt::Version>::from_i64(version);
            }
        }
    });

    let insert_types: Vec<TokenStream> = fields
        .iter()
        .filter(is_insert_field)
        .map(|f| {
            let ty = &f.ty;
            if f.role == Role::Key { quote!(<#ty as #rt::Key>::Insert) } else { quote!(#ty) }
        })
        .collect();
    let ref_types: Vec<TokenStream> = insert_types.iter().map(|ty| quote!(&'__m #ty)).collect();
    let ref_tuple = tuple_of(&ref_types);
    let owned_tuple = tuple_of(&insert_types);
    let insert_idents: Vec<&syn::Ident> =
        fields.iter().filter(is_insert_field).map(|f| f.ident).collect();
    let insert_names: Vec<String> = insert_idents.iter().map(|i| i.unraw().to_string()).collect();
    let self_refs: Vec<TokenStream> = insert_idents.iter().map(|i| quote!(&self.#i)).collect();
    let self_refs = tuple_of(&self_refs);
    let owned_paths = tuple_paths(insert_idents.len());
    let insert_name = insert_ident.to_string();

    let indexes = (!model.indexes.is_empty()).then(|| {
        let indexes = model.indexes.iter().map(|index| index_decl(&rt, index));
        quote!(const INDEX_DECLS: &'static [#rt::IndexDecl] = &[#(#indexes),*];)
    });
    let items = quote! {
        #[automatically_derived]
        impl #ident {
            #(#constants)*
        }

        // `Debug` and `Clone` where every field has them, done by the
        // runtime on the fields as a tuple of references: where a field
        // lacks the trait, the impl is simply absent.
        #[automatically_derived]
        impl #rt::fmt::Debug for #insert_ident
        where
            for<'__m> #ref_tuple: #rt::DebugFields,
        {
            #[inline]
            fn fmt(&self, f: &mut #rt::fmt::Formatter<'_>) -> #rt::fmt::Result {
                #rt::debug_struct(f, #insert_name, &[#(#insert_names),*], &#self_refs)
            }
        }

        #[automatically_derived]
        impl #rt::Clone for #insert_ident
        where
            for<'__m> #ref_tuple: #rt::CloneFields<Owned = #owned_tuple>,
        {
            #[inline]
            fn clone(&self) -> Self {
                let owned = #rt::CloneFields::clone_fields(#self_refs);
                #insert_ident { #(#insert_idents: owned #owned_paths,)* }
            }
        }

        #[automatically_derived]
        impl #rt::Model for #ident {
            type Key = #key_ty;
            type Insert = #insert_ident;
            const COLLECTION: &'static str = #collection;
            #created_at_name
            #updated_at_name
            #additional
            #level
            #action
            const FIELDS: &'static [#rt::FieldDecl] = &[#(#field_decls),*];
            #indexes

            #[inline]
            fn key(&self) -> &Self::Key {
                &self.#key_ident
            }

            #[inline]
            fn from_insert(insert: #insert_ident, now: #rt::bson::DateTime) -> Self {
                #ident { #(#build_fields,)* }
            }

            #[inline]
            fn generates_key(insert: &#insert_ident) -> bool {
                <#key_ty as #rt::Key>::generates(&insert.#key_ident)
            }

            #touch
            #version
        }

        #(#kind_checks)*
    };
    let block = block(krate, items);
    let insert_struct = insert_struct(model);
    quote! {
        #insert_struct
        #block
    }
}

/// `FooInsert`: every field but the timestamps and the version.
fn insert_struct(model: &Model) -> TokenStream {
    let Model { ident, vis, krate, fields, .. } = model;
    let insert_ident = format_ident!("{}Insert", ident);
    let is_insert_field = |f: &&Field<'_>| matches!(f.role, Role::Key | Role::Data);
    let insert_fields = fields.iter().filter(is_insert_field).map(|f| {
        let field = &f.ident;
        let ty = &f.ty;
        if f.role == Role::Key {
            let doc = format!(
                "The key (`{ident}::{}`); for UUID and ObjectId keys `None` generates one.",
                field.unraw()
            );
            quote! {
                #[doc = #doc]
                #vis #field: <#ty as #krate::__private::Key>::Insert
            }
        } else {
            let doc = format!("`{ident}::{}`.", field.unraw());
            quote! {
                #[doc = #doc]
                #vis #field: #ty
            }
        }
    });
    let insert_doc = format!(
        "What `Repo::<{ident}>::insert_one` takes: every field of [`{ident}`] but the timestamps."
    );
    quote! {
        #[doc = #insert_doc]
        #vis struct #insert_ident {
            #(#insert_fields,)*
        }
    }
}

/// What is emitted beside a model's errors: the field constants and,
/// when the key broke no rule, the insert struct and a `Model` impl whose
/// methods are never run (the crate does not compile), so that uses of
/// the model type-check and one mistake is one error, not one per use.
pub fn stand_in(model: &Model, key_sound: bool) -> TokenStream {
    let constants = constants_only(model);
    let key = model.fields.iter().find(|f| f.role == Role::Key);
    let Some(key) = key.filter(|_| key_sound) else {
        return constants;
    };
    let insert_struct = insert_struct(model);
    let (ident, rt, key_ty) = (model.ident, rt(), key.ty);
    let insert_ident = format_ident!("{}Insert", ident);
    let collection = &model.collection;
    let model_impl = block(
        model.krate,
        quote! {
            #[automatically_derived]
            impl #rt::Model for #ident {
                type Key = #key_ty;
                type Insert = #insert_ident;
                const COLLECTION: &'static str = #collection;
                fn key(&self) -> &Self::Key {
                    loop {}
                }
                fn from_insert(_: #insert_ident, _: #rt::bson::DateTime) -> Self {
                    loop {}
                }
                fn generates_key(_: &#insert_ident) -> bool {
                    loop {}
                }
            }
        },
    );
    quote!(#constants #insert_struct #model_impl)
}

fn index_decl(rt: &syn::Ident, index: &Index) -> TokenStream {
    let keys = index.keys.iter().map(|(path, key)| {
        let key = match key {
            IndexKey::Asc => quote!(#rt::IndexKey::Asc),
            IndexKey::Desc => quote!(#rt::IndexKey::Desc),
            IndexKey::Text => quote!(#rt::IndexKey::Text),
            IndexKey::Sphere => quote!(#rt::IndexKey::Sphere),
            IndexKey::Hashed => quote!(#rt::IndexKey::Hashed),
            IndexKey::Wildcard => quote!(#rt::IndexKey::Wildcard),
        };
        let path = match path {
            Key::Stored(name) => quote!(#name),
            // Typed: the compiler checks it is a path of this model that
            // a query can read (not a positional update path).
            Key::Path(expr) => quote_spanned!(expr.span()=> #rt::index_path::<Self, _, _>(#expr)),
            Key::All => quote!(""),
        };
        (path, key)
    });
    let mut decl = if index.keys.iter().all(|(path, _)| !matches!(path, Key::Path(_))) {
        let keys = keys.map(|(path, key)| quote!((#path, #key)));
        quote!(#rt::IndexDecl::on(&[#(#keys),*]))
    } else {
        let keys = keys.map(|(path, key)| quote!((#path, #key)));
        quote!(#rt::IndexDecl::on_paths(|| #rt::std::vec![#(#keys),*]))
    };
    if let Some(name) = &index.name {
        decl = quote!(#decl.name(#name));
    }
    if index.unique {
        decl = quote!(#decl.unique());
    }
    if index.sparse {
        decl = quote!(#decl.sparse());
    }
    if let Some(seconds) = index.expire_after {
        decl = quote!(#decl.expire_after_secs(#seconds));
    }
    if let Some(partial) = &index.partial {
        decl = quote!(#decl.partial_filter(|| #partial));
    }
    if let Some((locale, strength)) = &index.collation {
        let strength = match strength {
            Some(strength) => quote!(#rt::Option::Some(#strength)),
            None => quote!(#rt::Option::None),
        };
        decl = quote!(#decl.collation(#locale, #strength));
    }
    decl
}

/// The items as one tuple, nested by twelves (the largest tuple the
/// runtime's `DebugFields` and `CloneFields` take).
fn tuple_of(items: &[TokenStream]) -> TokenStream {
    if items.len() <= 12 {
        return quote!((#(#items,)*));
    }
    let chunks: Vec<TokenStream> = items.chunks(12).map(|chunk| quote!((#(#chunk,)*))).collect();
    tuple_of(&chunks)
}

/// Where each of `n` items sits in [`tuple_of`]'s tuple: `.3`, `.1.0`, ..
fn tuple_paths(n: usize) -> Vec<TokenStream> {
    if n <= 12 {
        return (0..n)
            .map(|i| {
                let i = syn::Index::from(i);
                quote!(.#i)
            })
            .collect();
    }
    let chunks = tuple_paths(n.div_ceil(12));
    (0..n)
        .map(|i| {
            let (chunk, j) = (&chunks[i / 12], syn::Index::from(i % 12));
            quote!(#chunk.#j)
        })
        .collect()
}
