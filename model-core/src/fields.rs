//! `Debug` and `Clone` for the insert structs `#[derive(Model)]` writes,
//! done here once for tuples of field references instead of field by field
//! in every model's expansion.
//!
//! The derive passes the fields as a tuple of references, `(&self.a,
//! &self.b, ..)`, nested by twelves past twelve fields. The impls it writes
//! are bounded on these traits, so they exist exactly when every field is
//! `Debug` (or `Clone`).

use std::fmt;

/// Fields that can be written into a `debug_struct`: a reference to a
/// `Debug` value, or a tuple of such.
pub trait DebugFields {
    /// Writes each field under the next name of `names`.
    fn debug_fields(
        &self,
        names: &mut std::slice::Iter<'_, &'static str>,
        out: &mut fmt::DebugStruct<'_, '_>,
    );
}

/// Fields that can be cloned: a reference to a `Clone` value, or a tuple of
/// such; [`Owned`](CloneFields::Owned) is the same shape, owned.
pub trait CloneFields {
    /// The cloned values.
    type Owned;
    /// Clones every field.
    fn clone_fields(self) -> Self::Owned;
}

impl<T: fmt::Debug + ?Sized> DebugFields for &T {
    fn debug_fields(
        &self,
        names: &mut std::slice::Iter<'_, &'static str>,
        out: &mut fmt::DebugStruct<'_, '_>,
    ) {
        out.field(names.next().copied().unwrap_or("?"), self);
    }
}

impl<T: Clone> CloneFields for &T {
    type Owned = T;
    fn clone_fields(self) -> T {
        self.clone()
    }
}

macro_rules! tuples {
    ($($name:ident)+) => {
        impl<$($name: DebugFields),+> DebugFields for ($($name,)+) {
            fn debug_fields(&self, names: &mut std::slice::Iter<'_, &'static str>, out: &mut fmt::DebugStruct<'_, '_>) {
                #[allow(non_snake_case)]
                let ($($name,)+) = self;
                $($name.debug_fields(names, out);)+
            }
        }

        impl<$($name: CloneFields),+> CloneFields for ($($name,)+) {
            type Owned = ($($name::Owned,)+);
            fn clone_fields(self) -> Self::Owned {
                #[allow(non_snake_case)]
                let ($($name,)+) = self;
                ($($name.clone_fields(),)+)
            }
        }
    };
}

tuples!(A);
tuples!(A B);
tuples!(A B C);
tuples!(A B C D);
tuples!(A B C D E);
tuples!(A B C D E F);
tuples!(A B C D E F G);
tuples!(A B C D E F G H);
tuples!(A B C D E F G H I);
tuples!(A B C D E F G H I J);
tuples!(A B C D E F G H I J K);
tuples!(A B C D E F G H I J K L);

/// `Debug::fmt` of the struct `name` whose fields, called `names`, are
/// `fields`.
pub fn debug_struct(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    names: &[&'static str],
    fields: &impl DebugFields,
) -> fmt::Result {
    let mut out = f.debug_struct(name);
    fields.debug_fields(&mut names.iter(), &mut out);
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three fields, passed nested as the derive nests past twelve.
    struct S {
        a: i32,
        b: String,
        c: Option<f64>,
    }

    impl fmt::Debug for S {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            debug_struct(f, "S", &["a", "b", "c"], &((&self.a, &self.b), (&self.c,)))
        }
    }

    #[test]
    fn nested_tuples_debug_and_clone_field_by_field_in_order() {
        let s = S { a: 1, b: "two".to_string(), c: Some(3.5) };
        assert_eq!(format!("{s:?}"), r#"S { a: 1, b: "two", c: Some(3.5) }"#);
        let ((a, b), (c,)) = ((&s.a, &s.b), (&s.c,)).clone_fields();
        assert_eq!((a, b, c), (1, "two".to_string(), Some(3.5)));
    }
}
