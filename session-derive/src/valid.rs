//! The rules that involve the input's shape or several attributes at once.

use quote::quote;
use syn::{Data, Field, Fields, Meta};

use crate::ast::{Input, NameSource};
use crate::attr::{DEFAULT, KEY, KEY_WITH, MIGRATE, NAME, SESSION, VERSION};
use crate::errors::Errors;
use crate::name;

const EXAMPLE: &str = "`struct Counter { count: u64 }`";

impl Input<'_> {
    /// Records every rule the input breaks.
    pub fn validate(&self, errors: &mut Errors) {
        self.check_shape(errors);
        self.check_helper_attrs(errors);
        self.check_default_variant(errors);
        self.check_generics(errors);
        self.check_name(errors);
        self.check_prefix(errors);
        self.check_key(errors);
        self.check_version(errors);
    }

    fn check_shape(&self, errors: &mut Errors) {
        let ident = self.ident;
        match self.data() {
            Data::Struct(data) => match &data.fields {
                Fields::Named(_) => {}
                Fields::Unnamed(fields) => errors.spanned(
                    fields,
                    format_args!(
                        "`#[derive(Session)]` needs named fields, so the stored data stays \
                         readable and can gain fields later: write {EXAMPLE}"
                    ),
                ),
                Fields::Unit => errors.spanned(
                    {
                        let semi = &data.semi_token;
                        quote!(#ident #semi)
                    },
                    format_args!(
                        "a unit struct has no data to keep in a session: `#[derive(Session)]` \
                         needs a struct with named fields, e.g. {EXAMPLE}, or an enum"
                    ),
                ),
            },
            Data::Enum(data) if data.variants.is_empty() => errors.spanned(
                {
                    let enum_token = &data.enum_token;
                    quote!(#enum_token #ident)
                },
                format_args!(
                    "an enum without variants has no value, so no session can hold one: add the \
                     states, e.g. `enum State {{ #[default] Start, ReceiveAge {{ name: String }} }}`"
                ),
            ),
            Data::Enum(_) => {}
            Data::Union(data) => errors.at(
                data.union_token.span,
                format_args!(
                    "`#[derive(Session)]` does not support unions: which field holds the value is \
                     not recorded, so it cannot be stored or read back; use an enum (one variant \
                     per case) or a struct with named fields, e.g. {EXAMPLE}"
                ),
            ),
        }
    }

    /// `session` and `default` are helper attributes of the derive, so rustc accepts them
    /// anywhere inside the type; only `#[session(...)]` on the type itself and `#[default]` on
    /// an enum's variant have a meaning.
    fn check_helper_attrs(&self, errors: &mut Errors) {
        let ident = self.ident;
        for attr in &self.original.attrs {
            if attr.path() == &DEFAULT {
                errors.spanned(
                    attr,
                    format_args!(
                        "`#[default]` marks the variant an enum session starts as: put it on a \
                         unit variant of an enum; a struct starts as `Default::default()` or \
                         `#[session(initial = path)]`"
                    ),
                );
            }
        }
        let (keyword, fields): (&str, Box<dyn Iterator<Item = &Field>>) = match self.data() {
            Data::Struct(data) => ("struct", Box::new(data.fields.iter())),
            Data::Enum(data) => {
                for attr in data.variants.iter().flat_map(|variant| &variant.attrs) {
                    if attr.path() == &SESSION {
                        errors.spanned(
                            attr,
                            format_args!(
                                "`#[session(...)]` configures the whole session: put it on the \
                                 enum (above `enum {ident}`), not on a variant"
                            ),
                        );
                    }
                }
                let fields = data.variants.iter().flat_map(|variant| &variant.fields);
                ("enum", Box::new(fields))
            }
            Data::Union(_) => return,
        };
        for attr in fields.flat_map(|field| &field.attrs) {
            if attr.path() == &SESSION {
                errors.spanned(
                    attr,
                    format_args!(
                        "`#[session(...)]` configures the whole session: put it on the {keyword} \
                         (above `{keyword} {ident}`), not on a field"
                    ),
                );
            } else if attr.path() == &DEFAULT {
                errors.spanned(
                    attr,
                    "`#[default]` marks the variant an enum session starts as, not a field: put \
                     it on a unit variant, or give the start value with \
                     `#[session(initial = path)]`",
                );
            }
        }
    }

    /// At most one `#[default]` variant, a unit one, written as a bare `#[default]`: the value
    /// `#[derive(Default)]` would also give, so the two never disagree.
    fn check_default_variant(&self, errors: &mut Errors) {
        for (nth, variant) in self.default_variants().enumerate() {
            let variant_ident = &variant.ident;
            let attrs = variant.attrs.iter().filter(|attr| attr.path() == &DEFAULT);
            for (nth_attr, attr) in attrs.enumerate() {
                if !matches!(attr.meta, Meta::Path(_)) {
                    errors.spanned(
                        attr,
                        "write `#[default]` alone: it takes no value (the variant is the start \
                         value)",
                    );
                }
                if nth_attr > 0 {
                    errors.spanned(attr, "`#[default]` is repeated on this variant; keep one");
                }
            }
            if nth > 0 {
                errors.spanned(
                    variant_ident,
                    format_args!(
                        "only one variant can be `#[default]`: `{variant_ident}` is the second; \
                         keep the one the session starts as"
                    ),
                );
            }
            if !matches!(variant.fields, Fields::Unit) {
                errors.spanned(
                    variant_ident,
                    format_args!(
                        "`#[default]` can only mark a unit variant (as with \
                         `#[derive(Default)]`): `{variant_ident}` has fields, whose start values \
                         are not known. Start with a unit variant, or write a function and \
                         `#[session(initial = path)]`"
                    ),
                );
            }
        }
    }

    fn check_generics(&self, errors: &mut Errors) {
        let generics = self.generics();
        if generics.params.is_empty() {
            return;
        }
        errors.spanned(
            quote!(#generics),
            "a session type cannot have generic parameters: sessions are stored and looked up \
             by their concrete `'static` type, and `ctx.<name>()` must return one type. Use a \
             struct without type or lifetime parameters that owns its data (`String`, not \
             `&str`)",
        );
    }

    fn check_name(&self, errors: &mut Errors) {
        let (name, source) = self.name();
        let Some(problem) = name::accessor_problem(&name) else {
            return;
        };
        match source {
            NameSource::Attribute(lit) => errors.spanned(
                lit,
                format_args!(
                    "invalid session name: {problem}. The name is the accessor method, \
                     `ctx.<name>()`, so it must be a snake_case Rust identifier, e.g. \
                     `{NAME} = \"prefs\"`"
                ),
            ),
            NameSource::Struct(ident) => errors.spanned(
                ident,
                format_args!(
                    "the session name `{name}`, made from the struct name, cannot be the \
                     accessor method: {problem}. Choose one with `#[session(name = \"...\")]`"
                ),
            ),
        }
    }

    fn check_prefix(&self, errors: &mut Errors) {
        let Some(setting) = &self.attrs.prefix else {
            // The default prefix is the name, checked above.
            return;
        };
        if let Some(problem) = name::prefix_problem(&setting.value.value()) {
            errors.spanned(
                &setting.value,
                format_args!(
                    "invalid `prefix`: {problem}. Use a short non-empty word without `:` or \
                     spaces, e.g. `prefix = \"prefs_v2\"`"
                ),
            );
        }
    }

    fn check_key(&self, errors: &mut Errors) {
        if let (Some(_), Some(key_with)) = (&self.attrs.key, &self.attrs.key_with) {
            errors.spanned(
                &key_with.keyword,
                format_args!(
                    "`{KEY}` and `{KEY_WITH}` cannot be combined: `{KEY} = \"...\"` picks a \
                     built-in key, `{KEY_WITH} = path` computes a custom one; keep one of them"
                ),
            );
        }
    }

    fn check_version(&self, errors: &mut Errors) {
        let Some(migrate) = &self.attrs.migrate else {
            return;
        };
        if self.version() == 0 {
            errors.spanned(
                &migrate.keyword,
                format_args!(
                    "`{MIGRATE}` needs `{VERSION} = N` with N > 0: data stored before a schema \
                     change has a lower version and goes through the migration; with the \
                     default version 0 there is nothing older to migrate"
                ),
            );
        }
    }
}
