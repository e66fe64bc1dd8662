//! What an invalid input expands to: the errors, plus stand-ins for the items the rest of the
//! user's code refers to (the `Session` impl, `S::middleware`, the accessor trait), so that one
//! mistake in `#[session(...)]` is reported once and not again at every use of the session.

use proc_macro2::TokenStream;
use quote::quote;
use syn::Data;

use crate::ast::Input;
use crate::expand;

pub fn expand(input: &Input, error: syn::Error) -> TokenStream {
    let errors = error.into_compile_error();
    let stubs = match input.data() {
        // No stand-in can make a union usable as a session.
        Data::Union(_) => TokenStream::new(),
        _ if !input.generics().params.is_empty() => generic_stubs(input),
        _ => stubs(input),
    };
    quote! {
        #errors
        #stubs
    }
}

/// A `Session` impl with default settings whose functions are never called (the crate does
/// not compile), and the real accessor trait and middleware constructor on top of it.
fn stubs(input: &Input) -> TokenStream {
    let krate = input.krate();
    let private = quote!(#krate::__private);
    let ident = input.ident;
    let vis = input.vis;
    let type_name = input.type_name();
    let name = input.name().0;
    let lazy = input.lazy();
    let (ext_decl, ext_impl) = match input.accessor() {
        Some(accessor) => expand::accessor_trait(input, &private, &accessor),
        None => (TokenStream::new(), TokenStream::new()),
    };
    quote! {
        #ext_decl

        const _: () = {
            #[automatically_derived]
            impl #private::Session for #ident {
                const NAME: &'static ::core::primitive::str = #name;
                const TYPE_NAME: &'static ::core::primitive::str = #type_name;
                const KEY: #private::KeyStrategy = #private::KeyStrategy::Chat;
                const TTL: #private::Option<#private::Duration> = #private::Option::None;
                const LAZY: ::core::primitive::bool = #lazy;
                const PREFIX: &'static ::core::primitive::str = #name;
                const VERSION: ::core::primitive::u32 = 0;
                type Codec = #private::Json;

                fn initial() -> Self {
                    ::core::unreachable!()
                }
            }

            impl #ident {
                #vis fn middleware(
                    _: impl #private::Storage,
                ) -> #private::SessionMiddleware<Self> {
                    ::core::unreachable!()
                }

                #vis fn admin(
                    _: impl #private::Storage,
                ) -> #private::Sessions<Self> {
                    ::core::unreachable!()
                }
            }

            #ext_impl
        };
    }
}

/// For a generic struct no `Session` impl can be written; the middleware constructor and the
/// accessor exist, bounded on the impl that is missing, so that imports and calls resolve.
fn generic_stubs(input: &Input) -> TokenStream {
    let krate = input.krate();
    let private = quote!(#krate::__private);
    let ident = input.ident;
    let vis = input.vis;
    let ext = input.ext_trait();
    let (impl_generics, ty_generics, where_clause) = input.generics().split_for_impl();
    let predicates = where_clause.map(|w| &w.predicates);
    let bound = quote!(#ident #ty_generics: #private::Session);
    let bounds = match predicates {
        Some(predicates) if !predicates.empty_or_trailing() => quote!(#predicates, #bound),
        Some(predicates) => quote!(#predicates #bound),
        None => bound,
    };
    let ty = quote!(#ident #ty_generics);
    let accessor = input.accessor().map(|accessor| {
        let expand::Accessors {
            output,
            body,
            try_accessor,
            try_output,
            try_body,
        } = expand::Accessors::new(input, &private, &accessor, &ty);
        let signature = quote! {
            fn #accessor #impl_generics (&self) -> #output
            where
                #bounds
        };
        let try_signature = quote! {
            fn #try_accessor #impl_generics (&self) -> #try_output
            where
                #bounds
        };
        quote! {
            #vis trait #ext {
                #signature;
                #try_signature;
            }

            const _: () = {
                #[automatically_derived]
                impl #ext for #private::Context {
                    #signature {
                        #body
                    }
                    #try_signature {
                        #try_body
                    }
                }
            };
        }
    });
    quote! {
        #accessor

        const _: () = {
            impl #impl_generics #ident #ty_generics #where_clause {
                #vis fn middleware(
                    _: impl #private::Storage,
                ) -> #private::SessionMiddleware<Self>
                where
                    Self: #private::Session,
                {
                    ::core::unreachable!()
                }

                #vis fn admin(
                    _: impl #private::Storage,
                ) -> #private::Sessions<Self>
                where
                    Self: #private::Session,
                {
                    ::core::unreachable!()
                }
            }
        };
    }
}
