use proc_macro::TokenStream;

#[proc_macro_derive(Session, attributes(session))]
pub fn derive_session(_input: TokenStream) -> TokenStream {
    TokenStream::new()
}
