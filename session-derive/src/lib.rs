//! The `#[derive(Session)]` macro of [bot-session](https://docs.rs/bot-session). Use it through
//! `bot_session::Session`; this crate is an implementation detail.
//!
//! The pipeline: [`Input::from_syn`](ast::Input::from_syn) reads the type and its
//! `#[session(...)]` attributes, `validate` checks the rules that span several of them, and
//! [`expand`] writes the code — or, on any error, [`fallback`] writes the errors plus
//! stand-ins for the items the rest of the user's code refers to.

mod ast;
mod attr;
mod errors;
mod expand;
mod fallback;
mod name;
mod suggest;
mod valid;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

use crate::ast::Input;
use crate::errors::Errors;

/// Derives [`Session`] for a struct with named fields or an enum: typed, persistent state per
/// chat, user or user-in-chat, loaded before (or during) a handler and written back after it.
///
/// ```
/// mod sessions {
///     use bot_session::Session;
///     use serde::{Deserialize, Serialize};
///
///     #[derive(Session, Serialize, Deserialize, Default)]
///     #[session(key = "chat", ttl = 60)] // eager, per chat, kept 60 s after the last write
///     pub struct Counter {
///         pub count: u64,
///     }
///
///     #[derive(Session, Serialize, Deserialize, Default)]
///     #[session(key = "user", name = "prefs", lazy)] // read on first access
///     pub struct UserPrefs {
///         pub lang: String,
///     }
/// }
///
/// // The accessor traits are ordinary items: import them where handlers use the sessions.
/// use sessions::{Counter, CounterExt, UserPrefs, UserPrefsExt};
/// use bot_session::{Composer, Context, MemoryStorage};
///
/// let storage = MemoryStorage::new();
/// let bot = Composer::new()
///     .with(Counter::middleware(storage.clone()))
///     .with(UserPrefs::middleware(storage))
///     .handler(async |ctx: Context| {
///         ctx.counter()?.count += 1; // eager: no await
///         let _lang = ctx.prefs().await?.lang.clone(); // lazy: the first access reads the store
///         Ok(())
///     });
/// ```
///
/// An enum is a conversation's state, as teloxide keeps dialogues: unit, tuple and struct
/// variants, stored as serde writes them. The session starts as the variant marked
/// `#[default]` (no `#[derive(Default)]` needed; with one, both read the same mark):
///
/// ```
/// use bot_session::Session;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Session, Serialize, Deserialize, Clone)]
/// #[session(key = "chat_user")] // one conversation per member of a group
/// enum Registration {
///     #[default]
///     Start,
///     ReceiveAge { full_name: String },
///     ReceiveLocation(String, u8),
/// }
///
/// assert!(matches!(Registration::initial(), Registration::Start));
/// ```
///
/// # What it generates
///
/// For `struct Counter` (or `enum Counter`):
///
/// - `impl Session for Counter`, whose constants carry the attributes below;
/// - `Counter::middleware(storage) -> SessionMiddleware<Counter>`, to add with
///   `Composer::with`; its builder methods (`.ttl(..)`, `.write_on_error(..)`, ...) override
///   the attributes at run time;
/// - `Counter::admin(storage) -> bot_session::admin::Sessions<Counter>`, the sessions outside
///   updates (a cron job, a broadcast, an admin command): get, list, update, delete, migrate,
///   erase a user, safely while the bot runs;
/// - a trait `CounterExt` with the type's visibility, implemented for `Context`, with the
///   accessor `ctx.counter()`: `Result<SessionMut<'_, Counter>, SessionError>` for an eager
///   session, a future of the same for a lazy one (`ctx.prefs().await?`); and
///   `ctx.try_counter()`, the same wrapped in an `Option`: `Ok(None)` when the update has no
///   key for the session (an inline query has no chat, a message sent on behalf of a chat has
///   no user), so a handler can go on without it where `ctx.counter()?` would fail the update.
///   The trait is declared next to the type, so `use crate::sessions::CounterExt;` brings the
///   accessors into scope elsewhere.
///
/// The type must implement `Serialize`, `Deserialize`, `Send`, `Sync` and be `'static`; and
/// `Default` unless `initial` is given (or, for an enum, a variant is marked `#[default]`). A
/// missing trait is reported on the type's name.
///
/// # Attributes
///
/// All are optional, in one or several `#[session(...)]`:
///
/// - **`key = "chat" | "user" | "chat_user" | "chat_thread" | "global"`** — which ids of the
///   update form the storage key: the chat (default), the sender, the sender in this chat
///   (`user:chat`), the forum topic in the chat, or one session for the whole bot. An update
///   without the needed id has no session: the accessor returns `SessionError::NoKey`.
/// - **`key_with = path::to::function`** — a custom key, `fn(&Context) -> Option<String>`;
///   `None` means this update has no session of this type. Not together with `key`.
/// - **`ttl = 3600`** — seconds a session is kept after its last write; an integer > 0.
///   Without it sessions never expire.
/// - **`lazy`** — load the session on its first access (`ctx.prefs().await?`) instead of before
///   the handler; an update that never touches it costs no store access. A bare flag.
/// - **`name = "prefs"`** — the accessor, `ctx.prefs()`. A snake_case Rust identifier that is
///   not a keyword nor a method `Context` already has (`session`, `update`, `ids`, ...).
///   Default: the type name in snake_case (`UserPrefs` → `user_prefs`).
/// - **`prefix = "prefs_v2"`** — the storage namespace: keys are stored as `prefix:key`, so
///   several session types can share one store. Non-empty, without `:` (which separates the
///   prefix from the key, so two types could otherwise share keys) or whitespace. Default: the
///   name.
/// - **`initial = path::to::function`** — `fn() -> Self` giving the value of a session that
///   was never stored (or was cleared). Default: an enum's `#[default]` variant, else
///   `Default::default`.
/// - **`codec = "json" | "postcard" | "cbor"`** — the format of the stored bytes. Default
///   `"json"`; the others need the runtime's cargo feature of the same name.
/// - **`version = 2`** and **`migrate = path::to::function`** — schema versioning. Data is
///   stored with its version (0 by default); data of an older version is passed to
///   `fn(u32, StoredData<'_, Self>) -> Result<Self, HandlerError>` with the version it was
///   written with, and `StoredData::decode` reads it as the old type. `migrate` needs a
///   `version` above 0. Without `migrate`, older data fails to load with an error that says so.
/// - **`erase = path::to::function`** — `fn(&mut Self, i64)`: removes the user with that id
///   from a session other people share (a group's member list). Erasing a user
///   (`bot_session::admin::Registry::erase_user`) deletes the sessions keyed by them and
///   calls this on every other session of the type, storing those it changed. Without it, a
///   type keeps nothing about a user in sessions keyed by someone else.
/// - **`crate = "path::to::bot_session"`** — where the runtime is, for a crate that
///   re-exports it; default `::bot_session`.
///
/// Function paths may be written bare (`initial = Self::fresh`) or in quotes.
///
/// ```
/// use bot_session::{Context, HandlerError, Session, StoredData};
/// use serde::{Deserialize, Serialize};
///
/// fn by_topic(ctx: &Context) -> Option<String> {
///     let ids = ctx.ids();
///     Some(format!("{}/{}", ids.chat?, ids.thread.unwrap_or(0)))
/// }
///
/// #[derive(Session, Serialize, Deserialize)]
/// #[session(key_with = by_topic, ttl = 86400, prefix = "quiz_v2", initial = Self::fresh)]
/// #[session(codec = "json", version = 2, migrate = Self::upgrade)]
/// struct Quiz {
///     question: u32,
///     lives: u32,
/// }
///
/// impl Quiz {
///     fn fresh() -> Self {
///         Quiz { question: 0, lives: 3 }
///     }
///
///     fn upgrade(version: u32, stored: StoredData<'_, Self>) -> Result<Self, HandlerError> {
///         #[derive(Deserialize)]
///         struct V1 {
///             question: u32,
///         }
///         match version {
///             0 | 1 => Ok(Quiz { question: stored.decode::<V1>()?.question, lives: 3 }),
///             _ => Err(format!("unknown quiz version {version}").into()),
///         }
///     }
/// }
///
/// assert_eq!(Quiz::NAME, "quiz");
/// assert_eq!(Quiz::PREFIX, "quiz_v2");
/// assert_eq!(Quiz::VERSION, 2);
/// ```
///
/// # Mistakes are compile errors
///
/// Each is reported at the offending token with what is allowed instead, all at once: a union
/// (it does not record which field holds the value), a tuple or unit struct, an enum without
/// variants; `#[default]` on a variant with fields, on two variants, with a value, or on a
/// field; `#[session(...)]` on a field or variant; generic parameters (a session is stored and found by its
/// concrete `'static` type); an unknown or repeated attribute (with a "did you mean `ttl`?"
/// for misspellings); an unknown key strategy or codec; `key` with `key_with`; a `ttl` that is
/// zero, negative, fractional, a string or not a literal; `lazy = ...`; an invalid `name` or
/// `prefix`; `migrate` without `version`; a function attribute (`initial`, `migrate`, `erase`,
/// ...) given a closure, a call or anything but a path, or a function of the wrong signature. After such an error the middleware and the accessor
/// still exist, so the code using them reports nothing more.
///
/// [`Session`]: https://docs.rs/bot-session/latest/bot_session/trait.Session.html
#[proc_macro_derive(Session, attributes(session, default))]
pub fn derive_session(input: TokenStream) -> TokenStream {
    let node = parse_macro_input!(input as DeriveInput);
    derive(&node).into()
}

fn derive(node: &DeriveInput) -> proc_macro2::TokenStream {
    let mut errors = Errors::new();
    let input = Input::from_syn(node, &mut errors);
    input.validate(&mut errors);
    match errors.finish() {
        Ok(()) => expand::derive(&input),
        Err(error) => fallback::expand(&input, error),
    }
}
