//! The generated code for a valid input.
//!
//! It stays thin: constants and calls into the runtime through `{crate}::__private`, in a
//! `const _: () = { ... };` block with fully qualified paths, so odd names in the user's scope
//! cannot interfere. Only the accessor trait is declared outside the block, so users can
//! import it.

use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::Input;

pub fn derive(input: &Input) -> TokenStream {
    let krate = input.krate();
    let private = quote!(#krate::__private);
    let ident = input.ident;
    let vis = input.vis;
    let span = input.span();
    let type_name = input.type_name();
    let (name, _) = input.name();
    let prefix = input.prefix();
    let Some(accessor) = input.accessor() else {
        unreachable!("validation rejects invalid accessor names");
    };

    let key = match &input.attrs.key_with {
        Some(setting) => {
            let path = &setting.value;
            quote!(#private::KeyStrategy::Custom(#path))
        }
        None => {
            let variant = format_ident!("{}", input.key_strategy().variant());
            quote!(#private::KeyStrategy::#variant)
        }
    };
    let ttl = match &input.attrs.ttl {
        Some(setting) => {
            let secs = Literal::u64_unsuffixed(setting.value);
            quote!(#private::Option::Some(#private::Duration::from_secs(#secs)))
        }
        None => quote!(#private::Option::None),
    };
    let lazy = input.lazy();
    let version = Literal::u32_unsuffixed(input.version());
    // Spanned at `codec = ...`, so a codec the runtime was built without is reported there.
    let codec = match &input.attrs.codec {
        Some(setting) => format_ident!(
            "{}",
            setting.value.type_name(),
            span = setting.keyword.span()
        ),
        None => format_ident!("{}", input.codec().type_name()),
    };
    let initial = match &input.attrs.initial {
        Some(setting) => {
            let path = &setting.value;
            quote!(#path())
        }
        // Spanned at the struct so a missing `Default` is reported there, naming the trait.
        None => quote_spanned!(span=> <Self as ::core::default::Default>::default()),
    };
    let migrate = input.attrs.migrate.as_ref().map(|setting| {
        let path = &setting.value;
        let version = Ident::new("version", Span::mixed_site());
        let stored = Ident::new("stored", Span::mixed_site());
        quote! {
            fn migrate(
                #version: ::core::primitive::u32,
                #stored: #private::StoredData<'_, Self>,
            ) -> #private::Result<Self, #private::HandlerError> {
                #path(#version, #stored)
            }
        }
    });
    // Spanned at the path, so a function of the wrong signature is reported there.
    let erase = input.attrs.erase.as_ref().map(|setting| {
        let path = &setting.value;
        quote_spanned! {path.span()=>
            const ERASE_USER: #private::Option<fn(&mut Self, ::core::primitive::i64)> =
                #private::Option::Some(#path);
        }
    });
    // Spanned at the struct so a missing `Serialize`, `Deserialize`, `Send`, ... (supertraits
    // of `Session`) is reported on the user's struct, naming the trait.
    let session_trait = quote_spanned!(span=> #private::Session);
    let storage = Ident::new("storage", Span::mixed_site());
    let middleware_doc = format!(
        "The session middleware of [`{type_name}`] on `storage`, configured by its \
         `#[session(...)]` attributes: add it with `Composer::with`. Its builder methods \
         override the attributes at run time."
    );
    let admin_doc = format!(
        "The sessions of [`{type_name}`] in `storage`, outside updates: get, list, update, \
         replace, delete, migrate them, erase a user, while the bot runs (see \
         `bot_session::admin`)."
    );
    let (ext_decl, ext_impl) = accessor_trait(input, &private, &accessor);

    quote! {
        #ext_decl

        const _: () = {
            #[automatically_derived]
            impl #session_trait for #ident {
                const NAME: &'static ::core::primitive::str = #name;
                const TYPE_NAME: &'static ::core::primitive::str = #type_name;
                const KEY: #private::KeyStrategy = #key;
                const TTL: #private::Option<#private::Duration> = #ttl;
                const LAZY: ::core::primitive::bool = #lazy;
                const PREFIX: &'static ::core::primitive::str = #prefix;
                const VERSION: ::core::primitive::u32 = #version;
                #erase
                type Codec = #private::#codec;

                fn initial() -> Self {
                    #initial
                }

                #migrate
            }

            impl #ident {
                #[doc = #middleware_doc]
                #vis fn middleware(
                    #storage: impl #private::Storage,
                ) -> #private::SessionMiddleware<Self> {
                    #private::SessionMiddleware::new(#storage)
                }

                #[doc = #admin_doc]
                #vis fn admin(
                    #storage: impl #private::Storage,
                ) -> #private::Sessions<Self> {
                    #private::Sessions::new(#storage)
                }
            }

            #ext_impl
        };
    }
}

/// The accessor trait `{Struct}Ext` (declared at module level with the struct's visibility)
/// and its impl for `Context` (to be placed inside the `const _` block).
pub fn accessor_trait(
    input: &Input,
    private: &TokenStream,
    accessor: &Ident,
) -> (TokenStream, TokenStream) {
    let ident = input.ident;
    let vis = input.vis;
    let ext = input.ext_trait();
    let type_name = input.type_name();
    let guard = quote! {
        #private::Result<#private::SessionMut<'_, #ident>, #private::SessionError>
    };
    let (output, body, method_doc) = if input.lazy() {
        (
            quote!(impl #private::Future<Output = #guard> + ::core::marker::Send),
            quote!(#private::Context::load_session::<#ident>(self)),
            format!(
                "The `{accessor}` session of this update, read from the store on the first \
                 call and reused after.\n\nThe guard derefs to [`{type_name}`]; it borrows the \
                 context and cannot be held across `.await` (held there, the compiler says the handler's future \"cannot be sent between \
                 threads safely\"; read or change the value in a block, \
                 `let n = {{ ctx.{accessor}()?.n }};`, and take the guard again after awaiting). Fails when the update lacks the \
                 ids the session is keyed by, when `{type_name}::middleware` is not in the \
                 chain, or when the store fails."
            ),
        )
    } else {
        (
            guard,
            quote!(#private::Context::session::<#ident>(self)),
            format!(
                "The `{accessor}` session of this update, loaded before the handler ran.\n\n\
                 The guard derefs to [`{type_name}`]; it borrows the context and cannot be held \
                 across `.await` (held there, the compiler says the handler's future \"cannot be sent between \
                 threads safely\"; read or change the value in a block, \
                 `let n = {{ ctx.{accessor}()?.n }};`, and take the guard again after awaiting). Fails when the update lacks the ids the session is keyed by, \
                 or when `{type_name}::middleware` is not in the chain."
            ),
        )
    };
    let trait_doc = format!(
        "The typed accessor of the [`{type_name}`] session, `ctx.{accessor}()`, generated by \
         `#[derive(Session)]`.\n\nImport it where handlers use the session."
    );
    let decl = quote! {
        #[doc = #trait_doc]
        #vis trait #ext {
            #[doc = #method_doc]
            fn #accessor(&self) -> #output;
        }
    };
    let imp = quote! {
        #[automatically_derived]
        impl #ext for #private::Context {
            fn #accessor(&self) -> #output {
                #body
            }
        }
    };
    (decl, imp)
}
