//! teloxide's dialogue shape on a session: a state enum routed with `dptree::case!`, and a
//! [`Dialogue`] handle with teloxide's verbs.
//!
//! [`SessionHandlerExt::enter_session`] takes the place of teloxide's `enter_dialogue`: it
//! loads the session `D` for the update and injects, for the handlers after it, the value
//! (`D`, so `dptree::case![State::ReceiveAge { full_name }]` routes on it and hands the
//! endpoint `full_name`), a [`Dialogue<D>`] and the update's [`Context`]. The endpoints keep
//! their bodies: `dialogue.update(State::ReceiveAge { full_name }).await?`, `reset`, `exit`,
//! `get`, `chat_id`, as with teloxide.
//!
//! ```no_run
//! use bot_session::teloxide::{Dialogue, SessionHandlerExt};
//! use bot_session::{Session, SqliteStorage};
//! use serde::{Deserialize, Serialize};
//! use teloxide::prelude::*;
//!
//! type MyDialogue = Dialogue<State>;
//! type HandlerResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;
//!
//! #[derive(Clone, Default, Session, Serialize, Deserialize)]
//! enum State {
//!     #[default]
//!     Start,
//!     ReceiveAge { full_name: String },
//! }
//!
//! async fn start(bot: Bot, dialogue: MyDialogue, msg: Message) -> HandlerResult {
//!     let full_name = msg.text().unwrap_or_default().to_owned();
//!     bot.send_message(msg.chat.id, "How old are you?").await?;
//!     dialogue.update(State::ReceiveAge { full_name }).await?;
//!     Ok(())
//! }
//!
//! async fn receive_age(
//!     bot: Bot,
//!     dialogue: MyDialogue,
//!     full_name: String, // from `State::ReceiveAge`
//!     msg: Message,
//! ) -> HandlerResult {
//!     bot.send_message(msg.chat.id, format!("{full_name}, {}", msg.text().unwrap_or("?")))
//!         .await?;
//!     dialogue.exit().await?;
//!     Ok(())
//! }
//!
//! # async fn run() -> Result<(), bot_session::StorageError> {
//! let storage = SqliteStorage::open("dialogues.sqlite3").await?;
//! let handler = Update::filter_message()
//!     .enter_session::<State>()
//!     .branch(dptree::case![State::Start].endpoint(start))
//!     .branch(dptree::case![State::ReceiveAge { full_name }].endpoint(receive_age));
//! Dispatcher::builder(Bot::from_env(), handler)
//!     .dependencies(dptree::deps![State::middleware(storage)])
//!     .build()
//!     .dispatch()
//!     .await;
//! # Ok(()) }
//! ```
//!
//! # What the handle writes, and when
//!
//! The handle writes through the session, so every rule of the middleware holds: the new state
//! is stored once the endpoint returns `Ok` (not at `update(..)`), nothing is stored when it
//! returns `Err` (unless `write_on_error`) or when no endpoint takes the update, nothing when
//! the state is unchanged, `exit()` deletes the stored state, the session's TTL and codec
//! apply, a redelivered update is recognized and changes nothing, and updates of one key never
//! interleave (across processes too, on Redis and PostgreSQL). Effects added with
//! [`Context::after_commit`] (and `send_after_commit`) run after the state is stored.
//!
//! # Where the session comes from
//!
//! - **On its own**: the session's middleware is a dependency of the `Dispatcher`
//!   (`dptree::deps![State::middleware(storage)]`, as teloxide's dialogues take their storage),
//!   and `enter_session` runs the update with this one session. One session taken before the
//!   endpoints run never has to be given up for another update (the deadlock avoidance only
//!   makes an update that holds *other* keys back off), so nothing ever runs twice.
//! - **Inside [`Sessions::wrap`](super::Sessions::wrap)**, with other sessions: the wrapped
//!   branch's [`Context`] is used, so `D` must be one of the `Sessions` (`Sessions::with`);
//!   an update that loses a deadlock-avoidance race runs the branch again, `enter_session`
//!   included. A lazy `D` is read when `enter_session` is reached, so updates that a filter
//!   before it turns away cost no read.
//!
//! `Dispatcher::build` reports a `SessionMiddleware<State>` that neither provides.
//!
//! An update without a key for the session (a `chat_user` dialogue and a message sent on
//! behalf of a chat, which has no user) or without a chat does not enter: it continues to the
//! next branch, as teloxide does for an update without a chat, and the reason is logged at
//! debug level. A session that fails to load (the store is down, its bytes do not decode)
//! reaches teloxide as the endpoints' error type, built `From` the [`SessionError`].

use std::any::TypeId;
use std::collections::{BTreeMap, BTreeSet};
use std::marker::PhantomData;
use std::ops::ControlFlow;
use std::panic::Location;
use std::sync::Arc;

use ::teloxide::dptree::di::DependencyMap;
use ::teloxide::dptree::{self, Cont, Handler, HandlerDescription, HandlerSignature, Type};
use ::teloxide::types::{ChatId, Update};

use crate::composer::attempts::{Attempts, MAX_ATTEMPTS, Verdict};
use crate::composer::layer::{Outcome, SessionLayer};
use crate::context::Context;
use crate::envelope::remembered::NOTHING_CONFIRMED;
use crate::error::{HandlerError, SessionError};
use crate::lock::next_ticket;
use crate::middleware::SessionMiddleware;
use crate::session::Session;

/// The handle of a conversation kept in the session `D`, with the verbs of teloxide's
/// `Dialogue`: injected by [`SessionHandlerExt::enter_session`] for the endpoints after it.
///
/// Its methods are `async` and answer [`SessionError`], so `dialogue.update(state).await?`
/// reads as with teloxide. They change the session in this update's [`Context`]; the change is
/// stored after the endpoint (see the [module docs](self)). Clones share the session.
pub struct Dialogue<D> {
    ctx: Context,
    chat_id: ChatId,
    state: PhantomData<fn() -> D>,
}

impl<D> Clone for Dialogue<D> {
    fn clone(&self) -> Self {
        Dialogue {
            ctx: self.ctx.clone(),
            chat_id: self.chat_id,
            state: PhantomData,
        }
    }
}

impl<D> std::fmt::Debug for Dialogue<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dialogue")
            .field("session", &std::any::type_name::<D>())
            .field("chat_id", &self.chat_id)
            .finish()
    }
}

impl<D: Session + Clone> Dialogue<D> {
    /// The chat of the update the dialogue was entered for (where a reply goes). The session's
    /// own key may be another (`chat_user`, `user`, ...).
    pub fn chat_id(&self) -> ChatId {
        self.chat_id
    }

    /// The update's context, with its other sessions and `after_commit`.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The current state: as loaded, or as `update` set it in this update; `None` after
    /// `exit()` in this update (as teloxide answers for a dialogue that is not stored).
    pub async fn get(&self) -> Result<Option<D>, SessionError> {
        let state = self.ctx.load_session::<D>().await?;
        Ok((!state.is_cleared()).then(|| D::clone(&state)))
    }

    /// The current state, or the session's initial value after `exit()`.
    pub async fn get_or_default(&self) -> Result<D, SessionError> {
        let state = self.ctx.load_session::<D>().await?;
        Ok(D::clone(&state))
    }

    /// Sets the state, stored once the endpoint returns `Ok`.
    pub async fn update(&self, state: impl Into<D>) -> Result<(), SessionError> {
        self.ctx.replace_session::<D>(state.into()).await
    }

    /// Sets the state to the session's initial value (its `#[default]` variant, `Default` or
    /// `initial = ..`).
    pub async fn reset(&self) -> Result<(), SessionError> {
        self.ctx.replace_session::<D>(D::initial()).await
    }

    /// Ends the conversation: the stored state is deleted once the endpoint returns `Ok`, and
    /// the next update starts from the initial value.
    pub async fn exit(&self) -> Result<(), SessionError> {
        self.ctx.clear_session::<D>().await
    }
}

/// `enter_session` on dptree handlers, in the place of teloxide's `enter_dialogue`.
pub trait SessionHandlerExt {
    /// Enters the conversation kept in the session `D`: loads it for the update and injects
    /// `D` (for `dptree::case!`), [`Dialogue<D>`] and the [`Context`] into the handlers after
    /// it. See the [module docs](self) for where the session comes from.
    ///
    /// The endpoints' error type must be buildable `From` a [`SessionError`]
    /// (`Box<dyn Error + Send + Sync>`, `anyhow::Error`, or an enum of the bot's own).
    #[must_use]
    #[track_caller]
    fn enter_session<D: Session + Clone>(self) -> Self;
}

impl<E, Descr> SessionHandlerExt for Handler<'static, Result<(), E>, Descr>
where
    E: From<SessionError> + Send + Sync + 'static,
    Descr: HandlerDescription,
{
    #[track_caller]
    fn enter_session<D: Session + Clone>(self) -> Self {
        self.chain(enter::<D, E, Descr>())
    }
}

/// The handler [`SessionHandlerExt::enter_session`] chains: `enter::<D, _, _>()` for a tree
/// built otherwise.
#[must_use]
#[track_caller]
pub fn enter<D, E, Descr>() -> Handler<'static, Result<(), E>, Descr>
where
    D: Session + Clone,
    E: From<SessionError> + Send + Sync + 'static,
    Descr: HandlerDescription,
{
    let at = Location::caller();
    let sig = HandlerSignature::Other {
        obligations: BTreeMap::from([
            (Type::of::<SessionMiddleware<D>>(), at),
            (Type::of::<Update>(), at),
        ]),
        guaranteed_outcomes: BTreeSet::from([
            Type::of::<D>(),
            Type::of::<Dialogue<D>>(),
            Type::of::<Context>(),
        ]),
        conditional_outcomes: BTreeSet::new(),
        continues: true,
    };
    dptree::from_fn_with_description(
        Descr::filter_map_async(),
        |deps: DependencyMap, cont| async move {
            match deps.try_get::<Context>() {
                Some(ctx) => in_context::<D, E>(&ctx, deps, cont).await,
                None => on_its_own::<D, E>(deps, cont).await,
            }
        },
        sig,
    )
}

/// Enters with the context of the `Sessions::wrap` around the branch, which writes back.
async fn in_context<D, E>(
    ctx: &Context,
    deps: DependencyMap,
    cont: Cont<'static, Result<(), E>>,
) -> ControlFlow<Result<(), E>, DependencyMap>
where
    D: Session + Clone,
    E: From<SessionError> + Send + Sync + 'static,
{
    let entered = match state_of::<D>(ctx).await {
        Ok(Some(entered)) => entered,
        Ok(None) => return ControlFlow::Continue(deps),
        Err(err) => return ControlFlow::Break(Err(E::from(err))),
    };
    match cont(entered.into_deps(ctx, &deps)).await {
        ControlFlow::Continue(_) => ControlFlow::Continue(deps),
        done => done,
    }
}

/// Enters with a context of its own holding the one session `D`, whose middleware is a
/// dependency: takes the key, runs the rest of the tree once, writes back and runs the
/// effects.
async fn on_its_own<D, E>(
    deps: DependencyMap,
    cont: Cont<'static, Result<(), E>>,
) -> ControlFlow<Result<(), E>, DependencyMap>
where
    D: Session + Clone,
    E: From<SessionError> + Send + Sync + 'static,
{
    // Present: `enter`'s signature requires both, and `Dispatcher::build` checks it.
    let middleware: Arc<SessionMiddleware<D>> = deps.get();
    let update: Arc<Update> = deps.get();
    let ctx = Context::in_chain(
        update,
        next_ticket(),
        NOTHING_CONFIRMED,
        &[TypeId::of::<D>()],
        "Sessions::with",
    );
    let mut attempts = Attempts::new(ctx);
    // Only a group becoming a supergroup takes two keys (the old chat's, then the new one's),
    // and may lose a race at the second; that happens here, before anything ran, so taking
    // the keys again is safe.
    loop {
        let began = middleware.begin(attempts.context()).complete().await;
        let Err(err) = began else { break };
        match attempts.conclude(false).await {
            Verdict::RunAgain => {}
            Verdict::Finished => return session_failed(err),
            Verdict::GaveUp => {
                tracing::error!(
                    session = D::NAME,
                    "the update lost {MAX_ATTEMPTS} deadlock-avoidance races in a row and was \
                     given up (nothing was written; a store that keeps answering busy?)"
                );
                return session_failed(err);
            }
        }
    }
    let ctx = attempts.context().clone();
    let entered = state_of::<D>(&ctx).await;
    let (outcome, result) = match entered {
        Ok(Some(entered)) => match cont(entered.into_deps(&ctx, &deps)).await {
            ControlFlow::Break(Ok(())) => (Outcome::Ok, ControlFlow::Break(Ok(()))),
            ControlFlow::Break(Err(err)) => (Outcome::Failed, ControlFlow::Break(Err(err))),
            ControlFlow::Continue(_) => (Outcome::Unhandled, ControlFlow::Continue(deps)),
        },
        Ok(None) => (Outcome::Unhandled, ControlFlow::Continue(deps)),
        Err(err) => (Outcome::Failed, ControlFlow::Break(Err(E::from(err)))),
    };
    let ended = middleware.end(&ctx, outcome).complete().await;
    attempts
        .conclude(outcome == Outcome::Ok && ended.is_ok())
        .await;
    match (result, ended) {
        // The endpoint's own error wins over a failure to release after it.
        (ControlFlow::Break(Err(err)), _) => ControlFlow::Break(Err(err)),
        (_, Err(err)) => session_failed(err),
        (result, Ok(())) => result,
    }
}

/// The state the update entered with.
struct Entered<D> {
    state: D,
    chat_id: ChatId,
}

impl<D: Session + Clone> Entered<D> {
    /// `deps` with the state, the handle and the context added.
    fn into_deps(self, ctx: &Context, deps: &DependencyMap) -> DependencyMap {
        let mut deps = deps.clone();
        deps.insert(self.state);
        deps.insert(Dialogue::<D> {
            ctx: ctx.clone(),
            chat_id: self.chat_id,
            state: PhantomData,
        });
        deps.insert(ctx.clone());
        deps
    }
}

/// The session's value for the update (loading a lazy session), or `None` when the update has
/// no key for it or no chat: then it does not enter.
async fn state_of<D: Session + Clone>(ctx: &Context) -> Result<Option<Entered<D>>, SessionError> {
    let Some(chat) = ctx.ids().chat else {
        tracing::debug!(
            session = D::NAME,
            kind = ctx.update_kind(),
            "the update has no chat: it does not enter the dialogue"
        );
        return Ok(None);
    };
    let state = match ctx.try_load_session::<D>().await? {
        Some(state) => D::clone(&state),
        None => {
            // The accessor's error says why, naming `sender_chat` when that is the reason.
            let why = ctx.session::<D>().err().map(|err| err.to_string());
            tracing::debug!(
                session = D::NAME,
                kind = ctx.update_kind(),
                reason = why.as_deref().unwrap_or("no key"),
                "the update has no key for the session: it does not enter the dialogue"
            );
            return Ok(None);
        }
    };
    Ok(Some(Entered {
        state,
        chat_id: ChatId(chat),
    }))
}

/// What teloxide gets when the session itself failed.
fn session_failed<E: From<SessionError>>(
    err: HandlerError,
) -> ControlFlow<Result<(), E>, DependencyMap> {
    match err.downcast::<SessionError>() {
        Ok(err) => ControlFlow::Break(Err(E::from(*err))),
        // The session layer answers nothing but `SessionError`s.
        Err(other) => {
            tracing::error!(error = %other, "a session failed; the update is dropped");
            ControlFlow::Break(Ok(()))
        }
    }
}
