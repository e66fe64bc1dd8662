//! The rules that involve the input's shape or several attributes at once.

use quote::quote;
use syn::{Data, Fields};

use crate::ast::{Input, NameSource};
use crate::attr::{KEY, KEY_WITH, MIGRATE, NAME, SESSION, VERSION};
use crate::errors::Errors;
use crate::name;

const EXAMPLE: &str = "`struct Counter { count: u64 }`";

impl Input<'_> {
    /// Records every rule the input breaks.
    pub fn validate(&self, errors: &mut Errors) {
        self.check_shape(errors);
        self.check_field_attrs(errors);
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
                         needs a struct with named fields, e.g. {EXAMPLE}"
                    ),
                ),
            },
            Data::Enum(data) => errors.at(
                data.enum_token.span,
                format_args!(
                    "`#[derive(Session)]` does not support enums: put the enum in a field of \
                     a struct with named fields, e.g. `struct Dialog {{ state: State }}`"
                ),
            ),
            Data::Union(data) => errors.at(
                data.union_token.span,
                format_args!(
                    "`#[derive(Session)]` does not support unions: it needs a struct with \
                     named fields, e.g. {EXAMPLE}"
                ),
            ),
        }
    }

    /// `session` is a helper attribute of the derive, so rustc accepts it anywhere inside the
    /// struct; only the struct's own has a meaning.
    fn check_field_attrs(&self, errors: &mut Errors) {
        let Data::Struct(data) = self.data() else {
            return;
        };
        let ident = self.ident;
        for attr in data.fields.iter().flat_map(|field| &field.attrs) {
            if attr.path() == &SESSION {
                errors.spanned(
                    attr,
                    format_args!(
                        "`#[session(...)]` configures the whole session: put it on the struct \
                         (above `struct {ident}`), not on a field"
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
