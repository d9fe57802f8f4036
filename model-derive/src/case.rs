//! serde's `rename_all` rules, applied the way serde applies them.

/// A `rename_all` rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenameRule {
    Lower,
    Upper,
    Pascal,
    Camel,
    Snake,
    ScreamingSnake,
    Kebab,
    ScreamingKebab,
}

impl RenameRule {
    pub const NAMES: &[&str] = &[
        "lowercase",
        "UPPERCASE",
        "PascalCase",
        "camelCase",
        "snake_case",
        "SCREAMING_SNAKE_CASE",
        "kebab-case",
        "SCREAMING-KEBAB-CASE",
    ];

    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "lowercase" => RenameRule::Lower,
            "UPPERCASE" => RenameRule::Upper,
            "PascalCase" => RenameRule::Pascal,
            "camelCase" => RenameRule::Camel,
            "snake_case" => RenameRule::Snake,
            "SCREAMING_SNAKE_CASE" => RenameRule::ScreamingSnake,
            "kebab-case" => RenameRule::Kebab,
            "SCREAMING-KEBAB-CASE" => RenameRule::ScreamingKebab,
            _ => return None,
        })
    }

    /// Renames a field written in snake_case.
    pub fn apply_to_field(self, field: &str) -> String {
        match self {
            RenameRule::Lower | RenameRule::Snake => field.to_string(),
            RenameRule::Upper | RenameRule::ScreamingSnake => field.to_ascii_uppercase(),
            RenameRule::Pascal => pascal(field),
            RenameRule::Camel => {
                let pascal = pascal(field);
                let mut chars = pascal.chars();
                match chars.next() {
                    Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
                    None => String::new(),
                }
            }
            RenameRule::Kebab => field.replace('_', "-"),
            RenameRule::ScreamingKebab => field.to_ascii_uppercase().replace('_', "-"),
        }
    }

    /// Renames a variant written in PascalCase.
    pub fn apply_to_variant(self, variant: &str) -> String {
        match self {
            RenameRule::Pascal => variant.to_string(),
            RenameRule::Lower => variant.to_ascii_lowercase(),
            RenameRule::Upper => variant.to_ascii_uppercase(),
            RenameRule::Camel => {
                let mut chars = variant.chars();
                match chars.next() {
                    Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
                    None => String::new(),
                }
            }
            RenameRule::Snake => snake(variant),
            RenameRule::ScreamingSnake => snake(variant).to_ascii_uppercase(),
            RenameRule::Kebab => snake(variant).replace('_', "-"),
            RenameRule::ScreamingKebab => snake(variant).to_ascii_uppercase().replace('_', "-"),
        }
    }
}

fn pascal(snake: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for ch in snake.chars() {
        if ch == '_' {
            upper = true;
        } else if upper {
            out.push(ch.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(ch);
        }
    }
    out
}

/// `PascalCase` to `snake_case`.
pub fn snake(pascal: &str) -> String {
    let mut out = String::new();
    for (i, ch) in pascal.char_indices() {
        if i > 0 && ch.is_uppercase() {
            out.push('_');
        }
        out.push(ch.to_ascii_lowercase());
    }
    out
}

/// The default collection name: the type's name in snake_case, pluralized.
pub fn collection_name(type_name: &str) -> String {
    let base = snake(type_name);
    if base.ends_with('s') || base.ends_with('x') || base.ends_with("ch") || base.ends_with("sh") {
        format!("{base}es")
    } else if base.ends_with('y')
        && !base.ends_with("ay")
        && !base.ends_with("ey")
        && !base.ends_with("oy")
        && !base.ends_with("uy")
    {
        format!("{}ies", &base[..base.len() - 1])
    } else {
        format!("{base}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_follow_serde() {
        assert_eq!(RenameRule::Camel.apply_to_field("created_at"), "createdAt");
        assert_eq!(RenameRule::Pascal.apply_to_field("created_at"), "CreatedAt");
        assert_eq!(RenameRule::Kebab.apply_to_field("created_at"), "created-at");
        assert_eq!(RenameRule::ScreamingSnake.apply_to_field("a_b"), "A_B");
    }

    #[test]
    fn variants_follow_serde() {
        assert_eq!(RenameRule::Snake.apply_to_variant("InProgress"), "in_progress");
        assert_eq!(RenameRule::Camel.apply_to_variant("InProgress"), "inProgress");
        assert_eq!(RenameRule::Lower.apply_to_variant("InProgress"), "inprogress");
    }

    #[test]
    fn collection_names_are_plural_snake_case() {
        assert_eq!(collection_name("Foo"), "foos");
        assert_eq!(collection_name("OrderLine"), "order_lines");
        assert_eq!(collection_name("Box"), "boxes");
        assert_eq!(collection_name("Category"), "categories");
        assert_eq!(collection_name("Day"), "days");
    }
}
