//! The rules, on tokens: each test derives from an input and reads the
//! messages back, without a compiler run (the `tests/ui` cases pin what the
//! user sees).

use proc_macro2::TokenStream;
use syn::DeriveInput;

/// The messages of the `compile_error!`s in `tokens`, in order.
fn messages(tokens: TokenStream) -> Vec<String> {
    let file: syn::File = syn::parse2(tokens).expect("the derive emits valid items");
    file.items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Macro(m)
                if m.mac.path.segments.last().is_some_and(|s| s.ident == "compile_error") =>
            {
                let lit: syn::LitStr = m.mac.parse_body().expect("a message");
                Some(lit.value())
            }
            _ => None,
        })
        .collect()
}

fn model(input: DeriveInput) -> Vec<String> {
    messages(crate::derive_model_inner(&input))
}

fn schema(input: DeriveInput) -> Vec<String> {
    messages(crate::schema::schema(&input).err().map(|e| e.to_compile_error()).unwrap_or_default())
}

#[test]
fn a_valid_model_has_no_error() {
    let errors = model(syn::parse_quote! {
        #[model(key = id)]
        struct Foo {
            #[serde(rename = "_id")]
            id: Uuid,
            created_at: DateTime,
            updated_at: Option<DateTime>,
        }
    });
    assert_eq!(errors, Vec::<String>::new());
}

#[test]
fn every_rule_reports_at_once() {
    let errors = model(syn::parse_quote! {
        #[model(key = id)]
        #[serde(flatten)]
        struct Foo<T> {
            #[serde(rename = "_id")]
            id: T,
            #[serde(rename = "$a")]
            a: i64,
            #[model(version)]
            v: i64,
        }
    });
    assert_eq!(errors.len(), 6, "{errors:#?}");
    assert!(errors[0].starts_with("a model cannot be generic"));
    assert!(errors[1].starts_with("`#[serde(flatten)]` is not supported on a model"));
    assert!(errors[2].starts_with("the stored name `$a` starts with `$`"));
    assert!(errors[3].starts_with("a version field needs `#[serde(default)]`"));
    assert!(errors[4].starts_with("a model needs the timestamp field `created_at"));
    assert!(errors[5].starts_with("a model needs the timestamp field `updated_at"));
}

#[test]
fn a_field_that_breaks_its_own_rule_is_not_counted_twice() {
    // `b` is stored as `a` but does not read back: one error, not also
    // "two fields are stored as `a`".
    let errors = model(syn::parse_quote! {
        #[model(key = id, timestamps = false)]
        struct Foo {
            #[serde(rename = "_id")]
            id: Uuid,
            a: i64,
            #[serde(rename(serialize = "a"))]
            b: i64,
        }
    });
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].starts_with("`b` is written as `a` but read as `b`"));
}

#[test]
fn unknown_names_get_darlings_suggestion() {
    let errors = model(syn::parse_quote! {
        #[model(key = idd, timestamps = false, index(keys(zzz)))]
        struct Foo {
            #[serde(rename = "_id")]
            id: Uuid,
            name: String,
        }
    });
    assert_eq!(
        errors,
        [
            "Unknown field: `idd`. Did you mean `id`?",
            "Unknown field: `zzz`. Available values: `id`, `name`",
        ]
    );
}

#[test]
fn no_derive_takes_a_generic_type() {
    let enum_errors = schema(syn::parse_quote! {
        enum Switch<T> { On, Off }
    });
    assert_eq!(
        enum_errors,
        ["a generic type's schema is not supported; implement `FieldType` by hand"]
    );
    let ordered = crate::project::ordered(&syn::parse_quote! {
        struct Pair<T> { a: T }
    });
    assert_eq!(
        messages(ordered.expect_err("generic").to_compile_error()),
        ["a generic type cannot derive `Ordered`"]
    );
}

#[test]
fn a_projection_reports_every_error_at_once() {
    let errors = crate::project::projection(&syn::parse_quote! {
        #[serde(flatten)]
        struct Contact<T> {
            #[serde(skip)]
            name: T,
        }
    });
    let errors = messages(errors.expect_err("four errors").to_compile_error());
    assert_eq!(
        errors,
        [
            "a projection cannot be generic",
            "name the model this projects: `#[projection(model = Customer)]`",
            "`#[serde(flatten)]` is not supported on a projection: its fields must read as the model stores them",
            "`#[serde(skip)]` is not supported on a projection's field",
        ]
    );
}

#[test]
fn enum_variants_are_units_that_read_back() {
    let errors = schema(syn::parse_quote! {
        enum Switch {
            #[serde(rename(serialize = "on"))]
            On,
            Off(u8),
        }
    });
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(errors[0].starts_with("`On` is written as `on` but read as `On`"));
    assert!(errors[1].starts_with("`#[derive(Schema)]` supports enums of unit variants"));
}
