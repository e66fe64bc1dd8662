//! The rules for accessor names and storage prefixes, and the default name of a struct.

/// Every Rust keyword, strict or reserved, in any edition: none can name a method.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "Self", "static", "struct", "super", "trait", "true", "try", "type",
    "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Methods `ctx.name()` would already find on `Context` before the accessor trait's: its own
/// public methods and those of the prelude traits it implements. An accessor with one of these
/// names could never be called as `ctx.name()`.
const CONTEXT_METHODS: &[&str] = &[
    "session",
    "load_session",
    "try_session",
    "try_load_session",
    "replace_session",
    "clear_session",
    "update",
    "update_as",
    "update_id",
    "ids",
    "update_kind",
    "sender_chat",
    "chat_migration",
    "migrate_to_chat_id",
    "is_redelivery",
    "after_commit",
    "send_after_commit",
    "clone",
    "clone_from",
    "clone_into",
    "to_owned",
    "into",
    "try_into",
];

/// The default accessor name of a struct: its name in snake_case (`UserPrefs` → `user_prefs`,
/// `HTTPState` → `http_state`, `V2Data` → `v2_data`).
pub fn snake_case(ident: &str) -> String {
    let ident = ident.strip_prefix("r#").unwrap_or(ident);
    let chars: Vec<char> = ident.chars().collect();
    let mut out = String::with_capacity(ident.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c == '_' {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            continue;
        }
        if c.is_uppercase() {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1);
            let starts_word = match prev {
                Some(p) if p.is_lowercase() || p.is_numeric() => true,
                // The last capital of an acronym starts the next word: `HTTPState`.
                Some(p) if p.is_uppercase() => next.is_some_and(|n| n.is_lowercase()),
                _ => false,
            };
            if starts_word && !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// Why `name` cannot be an accessor name, if it cannot.
pub fn accessor_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("the accessor name is empty".to_owned());
    }
    if !is_identifier(name) {
        return Some(format!(
            "`{name}` is not a Rust identifier (use ASCII lowercase letters, digits and `_`, \
             not starting with a digit)"
        ));
    }
    if KEYWORDS.contains(&name) {
        return Some(format!("`{name}` is a Rust keyword"));
    }
    if !is_snake_case(name) {
        return Some(format!(
            "`{name}` is not snake_case (try `{}`)",
            snake_case(name)
        ));
    }
    if CONTEXT_METHODS.contains(&name) {
        return Some(format!(
            "`{name}` is already a method of `Context`, so `ctx.{name}()` would not reach the \
             session"
        ));
    }
    None
}

/// Why `prefix` cannot be a storage prefix, if it cannot.
pub fn prefix_problem(prefix: &str) -> Option<String> {
    if prefix.is_empty() {
        return Some("the storage prefix is empty".to_owned());
    }
    if prefix.contains(':') {
        return Some(format!(
            "the storage prefix `{prefix}` contains `:`, which separates the prefix from the \
             key: two session types could then share stored keys"
        ));
    }
    if prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some(format!(
            "the storage prefix {prefix:?} contains whitespace or control characters"
        ));
    }
    None
}

/// An ASCII identifier: a letter or `_` first, then letters, digits and `_`; not just `_`s.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.chars().any(|c| c != '_')
}

/// No capitals and no `__` between words, as rustc's `non_snake_case` lint wants.
fn is_snake_case(name: &str) -> bool {
    let inner = name.trim_matches('_');
    !inner.contains("__") && !inner.chars().any(|c| c.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_of_struct_names() {
        assert_eq!(snake_case("Counter"), "counter");
        assert_eq!(snake_case("UserPrefs"), "user_prefs");
        assert_eq!(snake_case("HTTPState"), "http_state");
        assert_eq!(snake_case("MyHTTPServer"), "my_http_server");
        assert_eq!(snake_case("ABC"), "abc");
        assert_eq!(snake_case("V2Data"), "v2_data");
        assert_eq!(snake_case("Counter2"), "counter2");
        assert_eq!(snake_case("Utf8Str"), "utf8_str");
        assert_eq!(snake_case("Chat_Prefs"), "chat_prefs");
        assert_eq!(snake_case("already_snake"), "already_snake");
        assert_eq!(snake_case("r#Type"), "type");
        assert_eq!(snake_case("Trailing_"), "trailing");
    }

    #[test]
    fn good_accessor_names() {
        for name in ["counter", "user_prefs", "v2", "_private", "a1_b2"] {
            assert_eq!(accessor_problem(name), None, "{name}");
        }
    }

    #[test]
    fn bad_accessor_names() {
        let problem = |name| accessor_problem(name).unwrap();
        assert!(problem("").contains("empty"));
        assert!(problem("my-prefs").contains("not a Rust identifier"));
        assert!(problem("1st").contains("not a Rust identifier"));
        assert!(problem("_").contains("not a Rust identifier"));
        assert!(problem("café").contains("not a Rust identifier"));
        assert!(problem("match").contains("keyword"));
        assert!(problem("Self").contains("keyword"));
        assert!(problem("gen").contains("keyword"));
        assert!(problem("UserPrefs").contains("try `user_prefs`"));
        assert!(problem("user__prefs").contains("not snake_case"));
        assert!(problem("session").contains("already a method of `Context`"));
        assert!(problem("clone").contains("already a method of `Context`"));
    }

    #[test]
    fn prefixes() {
        assert_eq!(prefix_problem("counter"), None);
        assert_eq!(prefix_problem("app.counter-v2"), None);
        assert!(prefix_problem("").unwrap().contains("empty"));
        assert!(prefix_problem("app:counter").unwrap().contains("`:`"));
        assert!(prefix_problem("a b").unwrap().contains("whitespace"));
    }
}
