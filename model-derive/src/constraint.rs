//! A field's constraints: `length(min = 1, max = 64)`, `pattern = ".."`,
//! `range(min = 0, max = 150)`, `allowed("a", "b")`, `items(min = 1,
//! max = 10)`, `unique_items`. Parsed and checked here (bounds in order,
//! a pattern that compiles, values of one kind); expanded into the
//! field's `FieldDecl` and into a compile-time check that the field's
//! type is of the kind the constraint constrains.

use darling::FromMeta;
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::{Expr, Type};

use crate::attr::FieldAttrs;

/// `min = .., max = ..` of a length or a size: at least one, in order.
#[derive(Clone, Copy)]
pub struct Bounds {
    pub min: Option<u64>,
    pub max: Option<u64>,
}

impl FromMeta for Bounds {
    fn from_list(items: &[darling::ast::NestedMeta]) -> darling::Result<Self> {
        #[derive(FromMeta)]
        struct Raw {
            min: Option<u64>,
            max: Option<u64>,
        }
        let Raw { min, max } = Raw::from_list(items)?;
        in_order(min, max, |n| n as f64)?;
        Ok(Bounds { min, max })
    }
}

/// `min = .., max = ..` of a number: literals, at least one, in order.
#[derive(Clone, Copy)]
pub struct NumberBounds {
    pub min: Option<Number>,
    pub max: Option<Number>,
}

/// A numeric literal.
#[derive(Clone, Copy, PartialEq)]
pub enum Number {
    Int(i64),
    Float(f64),
}

impl Number {
    fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }

    fn tokens(self, rt: &TokenStream) -> TokenStream {
        match self {
            Number::Int(i) => quote!(#rt::Number::Int(#i)),
            Number::Float(f) => quote!(#rt::Number::Float(#f)),
        }
    }
}

impl FromMeta for Number {
    fn from_expr(expr: &Expr) -> darling::Result<Self> {
        number(expr).ok_or_else(|| {
            darling::Error::custom("expected a number literal, like `0`, `-1` or `0.5`")
                .with_span(expr)
        })
    }
}

fn number(expr: &Expr) -> Option<Number> {
    match expr {
        Expr::Lit(syn::ExprLit { lit: syn::Lit::Int(i), .. }) => {
            i.base10_parse::<i64>().ok().map(Number::Int)
        }
        Expr::Lit(syn::ExprLit { lit: syn::Lit::Float(f), .. }) => {
            f.base10_parse::<f64>().ok().filter(|f| f.is_finite()).map(Number::Float)
        }
        Expr::Unary(syn::ExprUnary { op: syn::UnOp::Neg(_), expr, .. }) => match number(expr)? {
            Number::Int(i) => i.checked_neg().map(Number::Int),
            Number::Float(f) => Some(Number::Float(-f)),
        },
        Expr::Group(group) => number(&group.expr),
        _ => None,
    }
}

impl FromMeta for NumberBounds {
    fn from_list(items: &[darling::ast::NestedMeta]) -> darling::Result<Self> {
        #[derive(FromMeta)]
        struct Raw {
            min: Option<Number>,
            max: Option<Number>,
        }
        let Raw { min, max } = Raw::from_list(items)?;
        in_order(min, max, Number::as_f64)?;
        Ok(NumberBounds { min, max })
    }
}

fn in_order<T: Copy>(min: Option<T>, max: Option<T>, f: impl Fn(T) -> f64) -> darling::Result<()> {
    match (min, max) {
        (None, None) => {
            Err(darling::Error::custom("give a bound: `min = ..`, `max = ..`, or both (inclusive)"))
        }
        (Some(min), Some(max)) if f(min) > f(max) => {
            Err(darling::Error::custom("`min` is over `max`: no value would be allowed"))
        }
        _ => Ok(()),
    }
}

/// `allowed("a", "b")` or `allowed(1, 2)`: literals of one kind.
pub struct AllowedValues(pub Vec<Value>);

/// One allowed literal.
pub enum Value {
    Str(String),
    Number(Number),
}

impl FromMeta for AllowedValues {
    fn from_list(items: &[darling::ast::NestedMeta]) -> darling::Result<Self> {
        use darling::ast::NestedMeta;
        let mut errors = darling::Error::accumulator();
        let mut values = Vec::new();
        for item in items {
            let value = match item {
                NestedMeta::Lit(syn::Lit::Str(s)) => Some(Value::Str(s.value())),
                NestedMeta::Lit(lit) => {
                    number(&Expr::Lit(syn::ExprLit { attrs: Vec::new(), lit: lit.clone() }))
                        .map(Value::Number)
                }
                NestedMeta::Meta(_) => None,
            };
            match value {
                Some(value) => values.push(value),
                None => errors.push(
                    darling::Error::custom(
                        "expected a string or number literal, like `allowed(\"draft\", \"published\")`",
                    )
                    .with_span(item),
                ),
            }
        }
        if items.is_empty() {
            errors.push(darling::Error::custom(
                "list the allowed values, like `allowed(\"draft\", \"published\")`",
            ));
        }
        let strings = values.iter().filter(|v| matches!(v, Value::Str(_))).count();
        if strings != 0 && strings != values.len() {
            errors
                .push(darling::Error::custom("the allowed values are all strings or all numbers"));
        }
        errors.finish_with(AllowedValues(values))
    }
}

/// `pattern = ".."`: a regular expression the client can check as well as
/// the server.
pub struct Pattern(pub String);

impl FromMeta for Pattern {
    fn from_string(value: &str) -> darling::Result<Self> {
        regex_syntax::Parser::new().parse(value).map_err(|error| {
            darling::Error::custom(format!(
                "the pattern does not compile: {}; a pattern is checked by the client before a write as well as by the server, so it is one both read (no look-around, no backreferences)",
                first_line(&error.to_string())
            ))
        })?;
        Ok(Pattern(value.to_string()))
    }
}

fn first_line(text: &str) -> String {
    let line = text.lines().rfind(|l| !l.trim().is_empty()).unwrap_or(text).trim();
    line.strip_prefix("error: ").unwrap_or(line).to_string()
}

/// The constraints of a field as tokens: the runtime's `Constraints`
/// value, and the compile-time checks of the field's type. `None` when
/// the field declares none.
pub fn expand(
    rt: &TokenStream,
    attrs: &FieldAttrs,
    ty: &Type,
) -> Option<(TokenStream, TokenStream)> {
    let option = |v: Option<u64>| match v {
        Some(v) => quote!(#rt::Option::Some(#v)),
        None => quote!(#rt::Option::None),
    };
    let number_option = |v: Option<Number>| match v {
        Some(v) => {
            let v = v.tokens(rt);
            quote!(#rt::Option::Some(#v))
        }
        None => quote!(#rt::Option::None),
    };
    let mut value = quote!(#rt::Constraints::NONE);
    let mut checks = Vec::new();
    let check = |span: Span, kind: &str| {
        let check = syn::Ident::new(kind, span);
        quote_spanned!(span=> const _: () = #rt::#check::<#ty>();)
    };
    if let Some(length) = &attrs.length {
        let (min, max) = (option(length.min), option(length.max));
        value = quote!(#value.length(#min, #max));
        checks.push(check(length.span(), "text_field"));
    }
    if let Some(pattern) = &attrs.pattern {
        let source = &pattern.0;
        value = quote!(#value.pattern(#source));
        checks.push(check(pattern.span(), "text_field"));
    }
    if let Some(range) = &attrs.range {
        let (min, max) = (number_option(range.min), number_option(range.max));
        value = quote!(#value.range(#min, #max));
        checks.push(check(range.span(), "number_field"));
    }
    if let Some(allowed) = &attrs.allowed {
        let values = allowed.0.iter().map(|v| match v {
            Value::Str(s) => quote!(#rt::Allowed::Str(#s)),
            Value::Number(n) => {
                let n = n.tokens(rt);
                quote!(#rt::Allowed::Number(#n))
            }
        });
        value = quote!(#value.allowed(&[#(#values),*]));
        let kind = match allowed.0.first() {
            Some(Value::Number(_)) => "number_field",
            _ => "text_field",
        };
        checks.push(check(allowed.span(), kind));
    }
    if let Some(items) = &attrs.items {
        let (min, max) = (option(items.min), option(items.max));
        value = quote!(#value.items(#min, #max));
        checks.push(check(items.span(), "array_field"));
    }
    if attrs.unique_items.is_present() {
        value = quote!(#value.unique_items());
        checks.push(check(attrs.unique_items.span(), "array_field"));
    }
    (!checks.is_empty()).then(|| (value, quote!(#(#checks)*)))
}
