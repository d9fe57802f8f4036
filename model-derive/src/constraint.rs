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
        let same = |a: &Value, b: &Value| match (a, b) {
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
            _ => false,
        };
        if values.iter().enumerate().any(|(i, v)| values[..i].iter().any(|w| same(v, w))) {
            errors.push(darling::Error::custom(
                "an allowed value is listed twice (the server refuses an `enum` with duplicates)",
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

/// `pattern = ".."`: a regular expression for the server (PCRE), and
/// the same written for the client's engine where that can be done.
pub struct Pattern {
    /// As written: what the server's validator gets.
    pub server: String,
    /// What the client checks; `None` leaves the pattern to the server.
    pub client: Option<String>,
}

impl FromMeta for Pattern {
    fn from_string(value: &str) -> darling::Result<Self> {
        let client = client_pattern(value).filter(|p| regex_syntax::Parser::new().parse(p).is_ok());
        Ok(Pattern { server: value.to_string(), client })
    }
}

/// `pattern` written for the `regex` crate so that it matches what PCRE,
/// the server's engine, matches: PCRE's `$` also matches before a final
/// newline, and its `\d`, `\w`, `\s` and `\b` are ASCII where the
/// crate's are Unicode. `None` where a construct has no faithful
/// translation (a negated class inside brackets, an inline flag other
/// than `i`, ...): the client then leaves the pattern to the server.
fn client_pattern(pattern: &str) -> Option<String> {
    const DIGIT: &str = "0-9";
    const WORD: &str = "0-9A-Za-z_";
    const SPACE: &str = "\\t\\n\\x0B\\x0C\\r ";
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let next = chars.next()?;
                let class = match next {
                    'd' | 'D' => DIGIT,
                    'w' | 'W' => WORD,
                    's' | 'S' => SPACE,
                    _ => "",
                };
                match (next, in_class) {
                    ('d' | 'w' | 's', false) => out.push_str(&format!("[{class}]")),
                    ('D' | 'W' | 'S', false) => out.push_str(&format!("[^{class}]")),
                    ('d' | 'w' | 's', true) => out.push_str(class),
                    ('D' | 'W' | 'S', true) => return None,
                    ('b' | 'B', false) => out.push_str(&format!("(?-u:\\{next})")),
                    _ => {
                        out.push('\\');
                        out.push(next);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    out.push(chars.next()?);
                }
                if chars.peek() == Some(&']') {
                    out.push_str("\\]");
                    chars.next();
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '$' if !in_class => out.push_str("(?:\\n?\\z)"),
            '(' if !in_class && chars.peek() == Some(&'?') => {
                out.push('(');
                out.push(chars.next()?);
                // An inline flag group: `i` alone means the same to both.
                let flags: String =
                    chars.clone().take_while(|c| c.is_ascii_alphabetic() || *c == '-').collect();
                if !flags.is_empty() && flags.chars().any(|f| f != 'i' && f != '-') {
                    let after = chars.clone().nth(flags.len());
                    if matches!(after, Some(':' | ')')) {
                        return None;
                    }
                }
            }
            _ => out.push(c),
        }
    }
    Some(out)
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
        let server = &pattern.server;
        value = quote!(#value.pattern(#server));
        if let Some(client) = &pattern.client {
            value = quote!(#value.client_pattern(#client));
        }
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

#[cfg(test)]
mod tests {
    use super::client_pattern;

    #[test]
    fn the_client_reads_a_pattern_as_pcre_does() {
        let translated = |p: &str| client_pattern(p).expect(p);
        assert_eq!(translated("^[a-z0-9_]+$"), "^[a-z0-9_]+(?:\\n?\\z)");
        assert_eq!(
            translated("^\\d{3}\\s\\W$"),
            "^[0-9]{3}[\\t\\n\\x0B\\x0C\\r ][^0-9A-Za-z_](?:\\n?\\z)"
        );
        assert_eq!(translated("[\\d.$]"), "[0-9.$]");
        assert_eq!(translated("\\bfoo\\$"), "(?-u:\\b)foo\\$");
        assert_eq!(translated("(?i)^ab$"), "(?i)^ab(?:\\n?\\z)");
        assert_eq!(translated("[]a]"), "[\\]a]");
        assert_eq!(client_pattern("[^\\D]"), None, "a negated class in brackets");
        assert_eq!(client_pattern("(?m)^a$"), None, "multi-line");
        assert_eq!(client_pattern("(?x) a"), None, "extended");
    }
}
