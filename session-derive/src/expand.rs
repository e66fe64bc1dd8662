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
    let initial = match (&input.attrs.initial, input.default_variant()) {
        (Some(setting), _) => {
            let path = &setting.value;
            quote!(#path())
        }
        (None, Some(variant)) => quote!(Self::#variant),
        // Spanned at the type so a missing `Default` is reported there, naming the trait.
        (None, None) => quote_spanned!(span=> <Self as ::core::default::Default>::default()),
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

/// The accessor trait `{Type}Ext` (declared at module level with the type's visibility)
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
    let methods = Accessors::new(input, private, accessor, &quote!(#ident));
    let Accessors {
        output,
        body,
        try_accessor,
        try_output,
        try_body,
    } = &methods;
    let guard_doc = format!(
        "The guard derefs to [`{type_name}`]; it borrows the context and cannot be held across \
         `.await` (held there, the compiler says the handler's future \"cannot be sent between \
         threads safely\"; read or change the value in a block, \
         `let n = {{ ctx.{accessor}()?.n }};`, and take the guard again after awaiting)."
    );
    let method_doc = if input.lazy() {
        format!(
            "The `{accessor}` session of this update, read from the store on the first call and \
             reused after.\n\n{guard_doc} Fails when the update lacks the ids the session is \
             keyed by (see `{try_accessor}` for updates that may), when \
             `{type_name}::middleware` is not set up, or when the store fails."
        )
    } else {
        format!(
            "The `{accessor}` session of this update, loaded before the handler ran.\n\n\
             {guard_doc} Fails when the update lacks the ids the session is keyed by (see \
             `{try_accessor}` for updates that may), or when `{type_name}::middleware` is not \
             set up."
        )
    };
    let try_doc = format!(
        "The `{accessor}` session of this update, or `None` when the update has no key for it: \
         it lacks the ids the session is keyed by (an inline query has no chat; a message sent \
         on behalf of a chat, by an anonymous group admin or a channel, has no user). Then \
         nothing is read or written for it, and the handler goes on without the session.\n\n\
         Otherwise as `{accessor}`, including its other errors."
    );
    let trait_doc = format!(
        "The typed accessors of the [`{type_name}`] session, `ctx.{accessor}()` and \
         `ctx.{try_accessor}()`, generated by `#[derive(Session)]`.\n\nImport it where \
         handlers use the session."
    );
    let decl = quote! {
        #[doc = #trait_doc]
        #vis trait #ext {
            #[doc = #method_doc]
            fn #accessor(&self) -> #output;

            #[doc = #try_doc]
            fn #try_accessor(&self) -> #try_output;
        }
    };
    let imp = quote! {
        #[automatically_derived]
        impl #ext for #private::Context {
            fn #accessor(&self) -> #output {
                #body
            }

            fn #try_accessor(&self) -> #try_output {
                #try_body
            }
        }
    };
    (decl, imp)
}

/// The signatures and bodies of the two accessors of the session type `ty`: `ctx.<name>()`
/// and `ctx.try_<name>()`, which answers `None` for an update without a key.
pub struct Accessors {
    pub output: TokenStream,
    pub body: TokenStream,
    pub try_accessor: Ident,
    pub try_output: TokenStream,
    pub try_body: TokenStream,
}

impl Accessors {
    pub fn new(input: &Input, private: &TokenStream, accessor: &Ident, ty: &TokenStream) -> Self {
        let guard = quote!(#private::SessionMut<'_, #ty>);
        let result = quote!(#private::Result<#guard, #private::SessionError>);
        let try_result = quote!(#private::Result<#private::Option<#guard>, #private::SessionError>);
        let try_accessor = format_ident!("try_{}", accessor);
        if input.lazy() {
            let future = |output: &TokenStream| quote!(impl #private::Future<Output = #output> + ::core::marker::Send);
            Accessors {
                output: future(&result),
                body: quote!(#private::Context::load_session::<#ty>(self)),
                try_accessor,
                try_output: future(&try_result),
                try_body: quote!(#private::Context::try_load_session::<#ty>(self)),
            }
        } else {
            Accessors {
                output: result,
                body: quote!(#private::Context::session::<#ty>(self)),
                try_accessor,
                try_output: try_result,
                try_body: quote!(#private::Context::try_session::<#ty>(self)),
            }
        }
    }
}
