//! The derive input as this macro sees it: the user's tokens (kept for spans) and the parsed
//! `#[session(...)]` attributes.

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;
use syn::{Data, DeriveInput, Fields, Generics, Variant, Visibility};

use crate::attr::{Attrs, Codec, DEFAULT, KeyStrategy};
use crate::errors::Errors;
use crate::name;

pub struct Input<'a> {
    /// The user's tokens: the shape and generics are read from here, and spans point here.
    pub original: &'a DeriveInput,
    pub ident: &'a Ident,
    pub vis: &'a Visibility,
    pub attrs: Attrs,
}

/// Where the accessor name comes from.
pub enum NameSource<'a> {
    /// `name = "..."`.
    Attribute(&'a syn::LitStr),
    /// The struct name in snake_case.
    Struct(&'a Ident),
}

impl<'a> Input<'a> {
    /// Reads the input, recording every attribute mistake in `errors`.
    pub fn from_syn(node: &'a DeriveInput, errors: &mut Errors) -> Self {
        Input {
            original: node,
            ident: &node.ident,
            vis: &node.vis,
            attrs: Attrs::from_syn(&node.attrs, errors),
        }
    }

    pub fn generics(&self) -> &'a Generics {
        &self.original.generics
    }

    pub fn data(&self) -> &'a Data {
        &self.original.data
    }

    /// The variants of an enum marked `#[default]`, in order (none for a struct).
    pub fn default_variants(&self) -> impl Iterator<Item = &'a Variant> {
        let variants = match self.data() {
            Data::Enum(data) => Some(&data.variants),
            Data::Struct(_) | Data::Union(_) => None,
        };
        variants
            .into_iter()
            .flatten()
            .filter(|variant| variant.attrs.iter().any(|attr| attr.path() == &DEFAULT))
    }

    /// The unit variant an enum session starts as, when one is marked `#[default]` (the first,
    /// once validated the only one).
    pub fn default_variant(&self) -> Option<&'a Ident> {
        self.default_variants()
            .find(|variant| matches!(variant.fields, Fields::Unit))
            .map(|variant| &variant.ident)
    }

    /// The type's name as users see it (without `r#`).
    pub fn type_name(&self) -> String {
        let ident = self.ident.to_string();
        match ident.strip_prefix("r#") {
            Some(unraw) => unraw.to_owned(),
            None => ident,
        }
    }

    /// The accessor name (`ctx.<name>()`) and where it comes from.
    pub fn name(&self) -> (String, NameSource<'_>) {
        match &self.attrs.name {
            Some(setting) => (setting.value.value(), NameSource::Attribute(&setting.value)),
            None => (
                name::snake_case(&self.ident.to_string()),
                NameSource::Struct(self.ident),
            ),
        }
    }

    /// The accessor method, if the name is valid (always, once validated).
    pub fn accessor(&self) -> Option<Ident> {
        let (name, source) = self.name();
        if name::accessor_problem(&name).is_some() {
            return None;
        }
        let span = match source {
            NameSource::Attribute(lit) => lit.span(),
            NameSource::Struct(ident) => ident.span(),
        };
        Some(Ident::new(&name, span))
    }

    /// The storage prefix: `prefix = "..."` or the accessor name.
    pub fn prefix(&self) -> String {
        match &self.attrs.prefix {
            Some(setting) => setting.value.value(),
            None => self.name().0,
        }
    }

    /// The accessor trait, `{Struct}Ext`.
    pub fn ext_trait(&self) -> Ident {
        Ident::new(&format!("{}Ext", self.type_name()), self.ident.span())
    }

    /// The runtime crate's path: `crate = "..."` or `::bot_session`.
    pub fn krate(&self) -> TokenStream {
        match &self.attrs.krate {
            Some(setting) => {
                let path = &setting.value;
                quote!(#path)
            }
            None => quote!(::bot_session),
        }
    }

    pub fn key_strategy(&self) -> KeyStrategy {
        self.attrs
            .key
            .as_ref()
            .map_or(KeyStrategy::Chat, |setting| setting.value)
    }

    pub fn codec(&self) -> Codec {
        self.attrs
            .codec
            .as_ref()
            .map_or(Codec::Json, |setting| setting.value)
    }

    pub fn lazy(&self) -> bool {
        self.attrs.lazy.is_some()
    }

    pub fn version(&self) -> u32 {
        self.attrs
            .version
            .as_ref()
            .map_or(0, |setting| setting.value)
    }

    /// The span generated code that the user's type must satisfy is attributed to, so that
    /// a missing `Serialize`, `Deserialize` or `Default` is reported on the type's name.
    pub fn span(&self) -> Span {
        self.ident.span()
    }
}
