//! Expansion snapshots: the code the derive writes for the reference models,
//! pretty-printed, so every change to generated code is reviewed as a diff.
//! Update with `INSTA_UPDATE=always cargo test -p model-derive`.

use syn::DeriveInput;

fn expand(input: DeriveInput) -> String {
    let tokens = crate::derive_model_inner(&input);
    let file: syn::File = syn::parse2(tokens).expect("the derive emits valid items");
    prettyplease::unparse(&file)
}

#[test]
fn foo() {
    let input: DeriveInput = syn::parse_quote! {
        #[derive(Model, Serialize, Deserialize)]
        #[model(collection = "foos", key = id)]
        pub struct Foo {
            #[serde(rename = "_id")]
            pub id: Uuid,
            #[model(unique)]
            pub foo: String,
            pub bar: Option<i64>,
            pub created_at: DateTime,
            pub updated_at: Option<DateTime>,
        }
    };
    insta::assert_snapshot!(expand(input));
}

#[test]
fn bar() {
    let input: DeriveInput = syn::parse_quote! {
        #[derive(Model, Serialize, Deserialize)]
        #[model(collection = "bars", key = id)]
        pub struct Bar {
            #[serde(rename = "_id")]
            pub id: BarKey,
            #[model(unique)]
            pub foo: String,
            pub bar: Option<i64>,
            pub created_at: DateTime,
            pub updated_at: Option<DateTime>,
        }
    };
    insta::assert_snapshot!(expand(input));
}

#[test]
fn bar_key() {
    let input: DeriveInput = syn::parse_quote! {
        #[derive(CompositeKey, Serialize, Deserialize)]
        pub struct BarKey {
            pub foo: Uuid,
            pub bar: String,
        }
    };
    let tokens = crate::schema::composite_key(&input).expect("valid key");
    let file: syn::File = syn::parse2(tokens).expect("valid items");
    insta::assert_snapshot!(prettyplease::unparse(&file));
}

/// The lock crate's model, read from its source so the snapshot follows it.
#[test]
fn lock_model() {
    let source = include_str!("../../lock/src/model.rs");
    let file = syn::parse_file(source).expect("lock/src/model.rs parses");
    let input = file
        .items
        .into_iter()
        .find_map(|item| match item {
            syn::Item::Struct(s)
                if s.attrs.iter().any(|a| {
                    a.path().is_ident("derive")
                        && a.meta.require_list().is_ok_and(|l| {
                            l.tokens.to_string().split(',').any(|t| t.trim() == "Model")
                        })
                }) =>
            {
                Some(DeriveInput::from(s))
            }
            _ => None,
        })
        .expect("a #[derive(Model)] struct in lock/src/model.rs");
    insta::assert_snapshot!(expand(input));
}
