//! Reading `#[session(...)]`.
//!
//! Every attribute is read even after a bad one: each mistake is recorded in [`Errors`] and
//! parsing goes on, so the user sees all of them in one compile. Rules that involve several
//! attributes (`key` with `key_with`, `migrate` without `version`) are checked in `valid.rs`.

use std::fmt;

use proc_macro2::{Delimiter, Ident, TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::meta::ParseNestedMeta;
use syn::parse::{Parse, ParseStream, Parser};
use syn::{Attribute, LitFloat, LitInt, LitStr, Meta, Path, Token, token};

use crate::errors::Errors;
use crate::suggest::{did_you_mean, one_of};

/// A keyword of `#[session(...)]`.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Symbol(pub &'static str);

pub const SESSION: Symbol = Symbol("session");
pub const KEY: Symbol = Symbol("key");
pub const KEY_WITH: Symbol = Symbol("key_with");
pub const TTL: Symbol = Symbol("ttl");
pub const LAZY: Symbol = Symbol("lazy");
pub const NAME: Symbol = Symbol("name");
pub const PREFIX: Symbol = Symbol("prefix");
pub const INITIAL: Symbol = Symbol("initial");
pub const CODEC: Symbol = Symbol("codec");
pub const VERSION: Symbol = Symbol("version");
pub const MIGRATE: Symbol = Symbol("migrate");
pub const ERASE: Symbol = Symbol("erase");
pub const CRATE: Symbol = Symbol("crate");
/// Not a `#[session(...)]` keyword: the attribute that marks the variant an enum session starts
/// as, `#[default]`, as `#[derive(Default)]` reads it.
pub const DEFAULT: Symbol = Symbol("default");

/// Every attribute, in the order the documentation lists them.
pub const ATTRIBUTES: &[Symbol] = &[
    KEY, KEY_WITH, TTL, LAZY, NAME, PREFIX, INITIAL, CODEC, VERSION, MIGRATE, ERASE, CRATE,
];

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl PartialEq<Symbol> for Path {
    fn eq(&self, word: &Symbol) -> bool {
        self.is_ident(word.0)
    }
}

/// `key = "..."`: which ids of an update form the storage key.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum KeyStrategy {
    Chat,
    User,
    ChatUser,
    ChatThread,
    Global,
}

impl KeyStrategy {
    /// The spellings `key = "..."` accepts.
    pub const ALL: &[(&str, KeyStrategy)] = &[
        ("chat", KeyStrategy::Chat),
        ("user", KeyStrategy::User),
        ("chat_user", KeyStrategy::ChatUser),
        ("chat_thread", KeyStrategy::ChatThread),
        ("global", KeyStrategy::Global),
    ];

    /// The variant of the runtime's `KeyStrategy`.
    pub fn variant(self) -> &'static str {
        match self {
            KeyStrategy::Chat => "Chat",
            KeyStrategy::User => "User",
            KeyStrategy::ChatUser => "ChatUser",
            KeyStrategy::ChatThread => "ChatThread",
            KeyStrategy::Global => "Global",
        }
    }
}

/// `codec = "..."`: the serialization format of the stored data.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Codec {
    Json,
    Postcard,
    Cbor,
}

impl Codec {
    /// The spellings `codec = "..."` accepts.
    pub const ALL: &[(&str, Codec)] = &[
        ("json", Codec::Json),
        ("postcard", Codec::Postcard),
        ("cbor", Codec::Cbor),
    ];

    /// The codec type under the runtime's `__private`.
    pub fn type_name(self) -> &'static str {
        match self {
            Codec::Json => "Json",
            Codec::Postcard => "Postcard",
            Codec::Cbor => "Cbor",
        }
    }
}

/// One attribute that was given: the keyword as written (for spans) and its value.
pub struct Setting<T> {
    pub keyword: Ident,
    pub value: T,
}

/// The `#[session(...)]` attributes of one struct; `None` when absent or invalid.
#[derive(Default)]
pub struct Attrs {
    pub key: Option<Setting<KeyStrategy>>,
    pub key_with: Option<Setting<Path>>,
    pub ttl: Option<Setting<u64>>,
    pub lazy: Option<Setting<()>>,
    pub name: Option<Setting<LitStr>>,
    pub prefix: Option<Setting<LitStr>>,
    pub initial: Option<Setting<Path>>,
    pub codec: Option<Setting<Codec>>,
    pub version: Option<Setting<u32>>,
    pub migrate: Option<Setting<Path>>,
    pub erase: Option<Setting<Path>>,
    pub krate: Option<Setting<Path>>,
}

impl Attrs {
    /// Reads every `#[session(...)]` among `attrs`, recording each mistake in `errors`.
    pub fn from_syn(attrs: &[Attribute], errors: &mut Errors) -> Attrs {
        let mut parser = AttrParser {
            attrs: Attrs::default(),
            seen: Vec::new(),
        };
        for attr in attrs {
            if attr.path() != &SESSION {
                continue;
            }
            let list = match &attr.meta {
                Meta::List(list) => list,
                Meta::Path(_) | Meta::NameValue(_) => {
                    errors.spanned(
                        attr,
                        "expected `#[session(...)]` with attributes inside, e.g. \
                         `#[session(key = \"user\", ttl = 60)]`; leave it out to use the defaults",
                    );
                    continue;
                }
            };
            if list.tokens.is_empty() {
                continue;
            }
            let outcome = list.parse_nested_meta(|meta| parser.parse_one(&meta, errors));
            if let Err(error) = outcome {
                errors.push(error);
            }
        }
        parser.attrs
    }
}

struct AttrParser {
    attrs: Attrs,
    seen: Vec<&'static str>,
}

/// What follows a keyword: nothing, `= tokens` up to the next comma, or `(tokens)`.
enum Value {
    Flag,
    Assigned { eq: Token![=], tokens: TokenStream },
    List(TokenTree),
}

impl AttrParser {
    /// Reads one `keyword [= value]`. Only a malformed attribute list (which leaves nothing
    /// sensible to read after it) is returned as `Err`; every other mistake is recorded.
    fn parse_one(&mut self, meta: &ParseNestedMeta, errors: &mut Errors) -> syn::Result<()> {
        let value = take_value(meta.input)?;
        let Some(keyword) = meta.path.get_ident().cloned() else {
            errors.push(unknown_attribute(&meta.path));
            return Ok(());
        };
        let Some(symbol) = ATTRIBUTES.iter().copied().find(|s| meta.path == *s) else {
            errors.push(unknown_attribute(&meta.path));
            return Ok(());
        };
        if self.seen.contains(&symbol.0) {
            errors.spanned(
                &keyword,
                format_args!(
                    "duplicate `{symbol}`: it is already set in `#[session(...)]` above; keep one"
                ),
            );
            return Ok(());
        }
        self.seen.push(symbol.0);

        let attrs = &mut self.attrs;
        let k = &keyword;
        match symbol {
            KEY => set(&mut attrs.key, k, key_strategy(k, value), errors),
            KEY_WITH => {
                let path = fn_path(
                    k,
                    value,
                    "fn(&Context) -> Option<String>",
                    "key_with = my_key",
                );
                set(&mut attrs.key_with, k, path, errors);
            }
            TTL => set(&mut attrs.ttl, k, ttl(k, value), errors),
            LAZY => set(&mut attrs.lazy, k, flag(k, value), errors),
            NAME => set(
                &mut attrs.name,
                k,
                string(k, value, "name = \"prefs\""),
                errors,
            ),
            PREFIX => set(
                &mut attrs.prefix,
                k,
                string(k, value, "prefix = \"prefs\""),
                errors,
            ),
            INITIAL => {
                let path = fn_path(k, value, "fn() -> Self", "initial = Self::fresh");
                set(&mut attrs.initial, k, path, errors);
            }
            CODEC => set(&mut attrs.codec, k, codec(k, value), errors),
            VERSION => set(&mut attrs.version, k, version(k, value), errors),
            MIGRATE => {
                let path = fn_path(
                    k,
                    value,
                    "fn(u32, StoredData<'_, Self>) -> Result<Self, HandlerError>",
                    "migrate = Self::migrate_from",
                );
                set(&mut attrs.migrate, k, path, errors);
            }
            ERASE => {
                let path = fn_path(k, value, "fn(&mut Self, i64)", "erase = Self::forget_user");
                set(&mut attrs.erase, k, path, errors);
            }
            CRATE => set(&mut attrs.krate, k, crate_path(k, value), errors),
            _ => unreachable!("every symbol in ATTRIBUTES is handled"),
        }
        Ok(())
    }
}

/// Stores a valid value, or records why it is not.
fn set<T>(
    slot: &mut Option<Setting<T>>,
    keyword: &Ident,
    value: syn::Result<T>,
    errors: &mut Errors,
) {
    match value {
        Ok(value) => {
            *slot = Some(Setting {
                keyword: keyword.clone(),
                value,
            });
        }
        Err(error) => errors.push(error),
    }
}

/// Consumes what follows a keyword, whatever it is, so parsing can go on after a bad value.
fn take_value(input: ParseStream) -> syn::Result<Value> {
    if input.peek(Token![=]) {
        let eq: Token![=] = input.parse()?;
        // A closure's parameters contain commas and it is never a valid value: take the rest.
        let closure = input.peek(Token![|]) || input.peek(Token![||]) || input.peek(Token![move]);
        let mut tokens = TokenStream::new();
        while !input.is_empty() && (closure || !input.peek(Token![,])) {
            tokens.extend([input.parse::<TokenTree>()?]);
        }
        if tokens.is_empty() {
            return Err(syn::Error::new_spanned(eq, "expected a value after `=`"));
        }
        Ok(Value::Assigned { eq, tokens })
    } else if input.peek(token::Paren) {
        Ok(Value::List(input.parse()?))
    } else {
        Ok(Value::Flag)
    }
}

fn unknown_attribute(path: &Path) -> syn::Error {
    let written = path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::");
    let allowed: Vec<&str> = ATTRIBUTES.iter().map(|s| s.0).collect();
    let suggestion = match did_you_mean(&written, allowed.iter().copied()) {
        Some(word) => format!(", did you mean `{word}`?"),
        None => String::new(),
    };
    syn::Error::new_spanned(
        path,
        format!(
            "unknown session attribute `{written}`{suggestion} (expected {})",
            one_of(&allowed)
        ),
    )
}

/// The tokens of `keyword = value`, for errors about the attribute as a whole.
fn whole(keyword: &Ident, value: &Value) -> TokenStream {
    match value {
        Value::Flag => keyword.to_token_stream(),
        Value::Assigned { eq, tokens } => quote!(#keyword #eq #tokens),
        Value::List(group) => quote!(#keyword #group),
    }
}

/// The value of `keyword = value`, or an error saying what to write instead.
fn assigned(keyword: &Ident, value: Value, example: &str) -> syn::Result<TokenStream> {
    match value {
        Value::Assigned { tokens, .. } => Ok(tokens),
        Value::Flag => Err(syn::Error::new_spanned(
            keyword,
            format!("`{keyword}` needs a value: `{example}`"),
        )),
        Value::List(_) => Err(syn::Error::new_spanned(
            whole(keyword, &value),
            format!("expected `{example}`"),
        )),
    }
}

/// Why a value's tokens are not a `T`.
enum Mismatch {
    /// They start with a `T` and go on: the tokens after it.
    Trailing(TokenStream),
    /// They are something else.
    Other,
}

/// Parses all of `tokens` as one `T`.
fn parse_all<T: Parse>(tokens: &TokenStream) -> Result<T, Mismatch> {
    let parser = |input: ParseStream| Ok((input.parse::<T>()?, input.parse::<TokenStream>()?));
    match parser.parse2(tokens.clone()) {
        Ok((value, rest)) if rest.is_empty() => Ok(value),
        Ok((_, rest)) => Err(Mismatch::Trailing(rest)),
        Err(_) => Err(Mismatch::Other),
    }
}

/// The error for tokens left after a complete value: most likely a missing comma.
fn missing_comma(rest: TokenStream) -> syn::Error {
    let first = rest.into_iter().next();
    syn::Error::new_spanned(
        first,
        "expected `,` before this: attributes in `#[session(...)]` are separated by commas",
    )
}

/// A string literal value.
fn string(keyword: &Ident, value: Value, example: &str) -> syn::Result<LitStr> {
    let tokens = assigned(keyword, value, example)?;
    match parse_all::<LitStr>(&tokens) {
        Ok(lit) => Ok(lit),
        Err(Mismatch::Trailing(rest)) => Err(missing_comma(rest)),
        Err(Mismatch::Other) => Err(syn::Error::new_spanned(
            tokens,
            format!("`{keyword}` takes a string in quotes: `{example}`"),
        )),
    }
}

/// A `&str`-valued choice among `choices`.
fn choice<T: Copy>(
    keyword: &Ident,
    value: Value,
    choices: &[(&'static str, T)],
    what: &str,
    extra: &str,
) -> syn::Result<T> {
    let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
    let example = format!("{keyword} = \"{}\"", names[0]);
    let lit = string(keyword, value, &example)?;
    let written = lit.value();
    if let Some((_, choice)) = choices.iter().find(|(name, _)| *name == written) {
        return Ok(*choice);
    }
    let suggestion = match did_you_mean(&written, names.iter().copied()) {
        Some(name) => format!(", did you mean `{name}`?"),
        None => String::new(),
    };
    Err(syn::Error::new_spanned(
        lit,
        format!(
            "unknown {what} `{written}`{suggestion} (expected {}{extra})",
            one_of(&names)
        ),
    ))
}

fn key_strategy(keyword: &Ident, value: Value) -> syn::Result<KeyStrategy> {
    choice(
        keyword,
        value,
        KeyStrategy::ALL,
        "key strategy",
        ", or `key_with = path::to::fn` for a custom key",
    )
}

fn codec(keyword: &Ident, value: Value) -> syn::Result<Codec> {
    choice(keyword, value, Codec::ALL, "codec", "")
}

/// A bare flag such as `lazy`.
fn flag(keyword: &Ident, value: Value) -> syn::Result<()> {
    match value {
        Value::Flag => Ok(()),
        Value::Assigned { .. } | Value::List(_) => Err(syn::Error::new_spanned(
            whole(keyword, &value),
            format!(
                "`{keyword}` is a flag and takes no value: write `#[session({keyword})]`, or \
                 leave it out"
            ),
        )),
    }
}

/// A path, written bare or in a string; `parse` reads it.
fn path_with(
    tokens: &TokenStream,
    parse: fn(ParseStream) -> syn::Result<Path>,
) -> Result<Path, Mismatch> {
    if let Ok(lit) = parse_all::<LitStr>(tokens) {
        return lit.parse_with(parse).map_err(|_| Mismatch::Other);
    }
    let parser = |input: ParseStream| Ok((parse(input)?, input.parse::<TokenStream>()?));
    match parser.parse2(tokens.clone()) {
        Ok((path, rest)) if rest.is_empty() => Ok(path),
        Ok((_, rest)) => Err(Mismatch::Trailing(rest)),
        Err(_) => Err(Mismatch::Other),
    }
}

/// The path of a function, written bare or in a string: `initial = Self::fresh`.
fn fn_path(keyword: &Ident, value: Value, signature: &str, example: &str) -> syn::Result<Path> {
    let tokens = assigned(keyword, value, example)?;
    let expected = || {
        syn::Error::new_spanned(
            &tokens,
            format!("`{keyword}` takes the path of a function `{signature}`, e.g. `{example}`"),
        )
    };
    let first = tokens.clone().into_iter().next();
    let closure = match &first {
        Some(TokenTree::Punct(p)) => p.as_char() == '|',
        Some(TokenTree::Ident(ident)) => ident == "move",
        _ => false,
    };
    if closure {
        return Err(syn::Error::new_spanned(
            first,
            format!(
                "`{keyword}` takes the path of a function `{signature}`, not a closure: write \
                 a `fn` and give its path, e.g. `{example}`"
            ),
        ));
    }
    match path_with(&tokens, Path::parse) {
        Ok(path) => Ok(path),
        Err(Mismatch::Trailing(rest)) => match rest.clone().into_iter().next() {
            Some(TokenTree::Group(group)) if group.delimiter() == Delimiter::Parenthesis => {
                Err(syn::Error::new_spanned(
                    group,
                    format!(
                        "`{keyword}` takes the function itself, not a call: remove the \
                         parentheses, e.g. `{example}`"
                    ),
                ))
            }
            _ => Err(missing_comma(rest)),
        },
        Err(Mismatch::Other) => Err(expected()),
    }
}

/// `crate = "path"`: where the runtime is, for crates that re-export it.
fn crate_path(keyword: &Ident, value: Value) -> syn::Result<Path> {
    let tokens = assigned(keyword, value, "crate = \"my_bot::bot_session\"")?;
    match path_with(&tokens, Path::parse_mod_style) {
        Ok(path) => Ok(path),
        Err(Mismatch::Trailing(rest)) => Err(missing_comma(rest)),
        Err(Mismatch::Other) => Err(syn::Error::new_spanned(
            tokens,
            "`crate` takes the path the runtime crate is reachable at, e.g. \
             `crate = \"my_bot::bot_session\"`",
        )),
    }
}

/// A whole number of type `N` (named `type_label` in messages); also returns the literal.
/// `hint` ends the message for values that are not number literals at all.
fn integer<N>(
    keyword: &Ident,
    value: Value,
    type_label: &str,
    example: &str,
    hint: &str,
) -> syn::Result<(N, LitInt)>
where
    N: std::str::FromStr,
    N::Err: fmt::Display,
{
    let tokens = assigned(keyword, value, example)?;
    let fail = |message: String| Err(syn::Error::new_spanned(&tokens, message));
    let first = tokens.clone().into_iter().next();
    if matches!(first, Some(TokenTree::Punct(p)) if p.as_char() == '-') {
        return fail(format!("`{keyword}` cannot be negative: `{example}`"));
    }
    match parse_all::<LitInt>(&tokens) {
        Ok(lit) => {
            return match lit.base10_parse::<N>() {
                Ok(n) => Ok((n, lit)),
                Err(_) => fail(format!(
                    "`{keyword} = {lit}` does not fit in a `{type_label}`"
                )),
            };
        }
        Err(Mismatch::Trailing(rest)) => return Err(missing_comma(rest)),
        Err(Mismatch::Other) => {}
    }
    if parse_all::<LitFloat>(&tokens).is_ok() {
        return fail(format!("`{keyword}` takes a whole number: `{example}`"));
    }
    if let Ok(lit) = parse_all::<LitStr>(&tokens) {
        let fixed = match parse_duration(&lit.value()) {
            Some(secs) if *keyword == TTL.0 => format!("{keyword} = {secs}"),
            _ => match lit.value().trim().parse::<u64>() {
                Ok(n) => format!("{keyword} = {n}"),
                Err(_) => example.to_owned(),
            },
        };
        return fail(format!(
            "`{keyword}` takes a number, not a string: write `{fixed}` without quotes"
        ));
    }
    fail(format!(
        "`{keyword}` takes an integer literal: `{example}`{hint}"
    ))
}

/// Seconds in `"90"`, `"90s"`, `"5m"`, `"2h"` or `"1d"`, for suggesting a `ttl`.
fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let scale = match unit.trim() {
        "" | "s" | "sec" | "secs" | "seconds" => 1,
        "m" | "min" | "mins" | "minutes" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86400,
        _ => return None,
    };
    number.checked_mul(scale)
}

/// `version = N`, the schema version.
fn version(keyword: &Ident, value: Value) -> syn::Result<u32> {
    integer::<u32>(keyword, value, "u32", "version = 2", "").map(|(version, _)| version)
}

/// `ttl = seconds`, more than zero.
fn ttl(keyword: &Ident, value: Value) -> syn::Result<u64> {
    let (secs, lit) = integer::<u64>(
        keyword,
        value,
        "u64",
        "ttl = 3600",
        " (seconds); to choose the TTL at run time, call `.ttl(...)` on the middleware",
    )?;
    if secs == 0 {
        return Err(syn::Error::new_spanned(
            lit,
            "`ttl = 0` would expire every session as soon as it is written: give the number \
             of seconds (> 0) a session is kept after its last write, or leave `ttl` out for \
             sessions that never expire",
        ));
    }
    Ok(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(attrs: &str) -> (Attrs, Vec<String>) {
        let input: syn::DeriveInput =
            syn::parse_str(&format!("{attrs} struct Counter {{ count: u64 }}")).unwrap();
        let mut errors = Errors::new();
        let parsed = Attrs::from_syn(&input.attrs, &mut errors);
        let messages = match errors.finish() {
            Ok(()) => Vec::new(),
            Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
        };
        (parsed, messages)
    }

    fn path_string(path: &Path) -> String {
        quote!(#path).to_string().replace(' ', "")
    }

    #[test]
    fn reads_every_attribute() {
        let (attrs, errors) = parse(
            r#"#[session(key = "chat_user", ttl = 60, lazy, name = "prefs", prefix = "p2")]
               #[session(initial = Self::fresh, codec = "cbor", version = 3,
                         migrate = "upgrade", erase = Self::forget, crate = "my::rt")]"#,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(attrs.key.unwrap().value, KeyStrategy::ChatUser);
        assert_eq!(attrs.ttl.unwrap().value, 60);
        assert!(attrs.lazy.is_some());
        assert_eq!(attrs.name.unwrap().value.value(), "prefs");
        assert_eq!(attrs.prefix.unwrap().value.value(), "p2");
        assert_eq!(path_string(&attrs.initial.unwrap().value), "Self::fresh");
        assert_eq!(attrs.codec.unwrap().value, Codec::Cbor);
        assert_eq!(attrs.version.unwrap().value, 3);
        assert_eq!(path_string(&attrs.migrate.unwrap().value), "upgrade");
        assert_eq!(path_string(&attrs.erase.unwrap().value), "Self::forget");
        assert_eq!(path_string(&attrs.krate.unwrap().value), "my::rt");
    }

    #[test]
    fn erase_takes_a_function_path_only() {
        let message = |attrs: &str| parse(attrs).1.join(" | ");
        assert!(message("#[session(erase)]").contains("`erase` needs a value"));
        assert!(message("#[session(erase = |s, u| ())]").contains("not a closure"));
        assert!(message("#[session(erase = forget())]").contains("not a call"));
        assert!(message("#[session(erase = 5)]").contains("fn(&mut Self, i64)"));
    }

    #[test]
    fn key_with_takes_a_bare_or_quoted_path() {
        let (attrs, errors) = parse("#[session(key_with = keys::by_topic)]");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            path_string(&attrs.key_with.unwrap().value),
            "keys::by_topic"
        );
        let (attrs, errors) = parse(r#"#[session(key_with = "keys::by_topic")]"#);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            path_string(&attrs.key_with.unwrap().value),
            "keys::by_topic"
        );
    }

    #[test]
    fn nothing_given_is_all_defaults() {
        let (attrs, errors) = parse("#[derive(Clone)] #[session()]");
        assert!(errors.is_empty());
        assert!(attrs.key.is_none() && attrs.ttl.is_none() && attrs.lazy.is_none());
    }

    #[test]
    fn collects_every_error_and_keeps_the_good_values() {
        let (attrs, errors) = parse(
            r#"#[session(tll = 60, key = "user", ttl = 0, lazy = true, codec = "yaml", ttl = 5)]"#,
        );
        assert_eq!(errors.len(), 5, "{errors:?}");
        assert!(errors[0].contains("did you mean `ttl`?"), "{}", errors[0]);
        assert!(errors[1].contains("`ttl = 0`"), "{}", errors[1]);
        assert!(errors[2].contains("`lazy` is a flag"), "{}", errors[2]);
        assert!(errors[3].contains("unknown codec `yaml`"), "{}", errors[3]);
        assert!(errors[4].contains("duplicate `ttl`"), "{}", errors[4]);
        assert_eq!(attrs.key.unwrap().value, KeyStrategy::User);
        assert!(attrs.ttl.is_none());
    }

    #[test]
    fn bad_numbers_say_what_to_write() {
        let message = |attrs: &str| parse(attrs).1.join(" | ");
        assert!(message("#[session(ttl = -5)]").contains("cannot be negative"));
        assert!(message("#[session(ttl = 1.5)]").contains("whole number"));
        assert!(message(r#"#[session(ttl = "90")]"#).contains("write `ttl = 90` without quotes"));
        assert!(message(r#"#[session(ttl = "2h")]"#).contains("write `ttl = 7200` without quotes"));
        assert!(message("#[session(ttl = HOUR)]").contains("`.ttl(...)` on the middleware"));
        assert!(message("#[session(version = 4294967296)]").contains("does not fit in a `u32`"));
        assert!(message("#[session(ttl = 60 lazy)]").contains("expected `,`"));
    }

    #[test]
    fn unknown_values_suggest_the_closest() {
        let message = |attrs: &str| parse(attrs).1.join(" | ");
        assert!(message(r#"#[session(key = "chats")]"#).contains("did you mean `chat`?"));
        assert!(message(r#"#[session(codec = "JSON")]"#).contains("did you mean `json`?"));
        assert!(message(r#"#[session(nmae = "x")]"#).contains("did you mean `name`?"));
        let unrelated = message(r#"#[session(storage = "redis")]"#);
        assert!(!unrelated.contains("did you mean"), "{unrelated}");
        assert!(
            unrelated.contains("`key`, `key_with`, `ttl`"),
            "{unrelated}"
        );
    }

    #[test]
    fn durations_for_ttl_hints() {
        assert_eq!(parse_duration("90"), Some(90));
        assert_eq!(parse_duration("90s"), Some(90));
        assert_eq!(parse_duration("5m"), Some(300));
        assert_eq!(parse_duration("2 hours"), Some(7200));
        assert_eq!(parse_duration("1d"), Some(86400));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration("3w"), None);
    }
}
