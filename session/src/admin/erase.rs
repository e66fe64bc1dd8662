//! Erasing a user: every session a bot keeps about one person, across its session types.

use std::sync::Arc;

use async_trait::async_trait;

use crate::admin::edit::{self, Plan};
use crate::admin::error::AdminError;
use crate::admin::list::SessionList;
use crate::admin::sessions::Sessions;
use crate::error::SessionError;
use crate::keys::{KeyStrategy, parse_chat_user, parse_id};
use crate::middleware::load;
use crate::session::Session;
use crate::storage::{ListCursor, ListedSession};

/// What erasing a user removed: the stored keys (`prefix:key`) of the sessions deleted and of
/// the shared sessions the user was scrubbed out of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErasureReport {
    /// Sessions deleted: keyed by the user (`user`), by the user in a chat (`chat_user`), by
    /// the private chat with them (`chat`, `chat_thread`: chat id = user id).
    pub deleted: Vec<String>,
    /// Other sessions the session type's `erase` function changed.
    pub scrubbed: Vec<String>,
}

impl ErasureReport {
    /// Whether nothing was found about the user.
    pub fn is_empty(&self) -> bool {
        self.deleted.is_empty() && self.scrubbed.is_empty()
    }

    fn extend(&mut self, other: ErasureReport) {
        self.deleted.extend(other.deleted);
        self.scrubbed.extend(other.scrubbed);
    }
}

impl<S: Session> Sessions<S> {
    /// Removes what the sessions of `S` keep about user `user`: deletes the sessions keyed by
    /// them (see [`ErasureReport::deleted`]), then, if `S` declares `#[session(erase = f)]`,
    /// calls `f(&mut session, user)` on every other stored session of `S` and stores those it
    /// changed. [`Registry::erase_user`] does this for every session type of a bot.
    ///
    /// Each session is taken as an update takes it, so this is safe while the bot runs; an
    /// update of the user that comes in meanwhile may store a fresh session after its old one
    /// was deleted (stop answering the user first if that matters). Safe to run again: what is
    /// gone is not found twice. The first failure ends it with an error naming the key; the
    /// sessions handled before it stay handled.
    pub async fn erase_user(&self, user: i64) -> Result<ErasureReport, AdminError> {
        let mut report = ErasureReport::default();
        let own = OwnKeys::<S>::of(user);
        if let Some(key) = &own.exact
            && self.delete_stored(key).await?
        {
            report.deleted.push(key.clone());
        }
        if let Some(prefix) = &own.under {
            let mut listing = SessionList::under(
                Arc::clone(&self.shared),
                prefix.clone(),
                ListCursor::start(),
            );
            while let Some(page) = listing.next_stored().await? {
                for stored in page.iter().filter(|stored| own.contains(&stored.key)) {
                    if self.delete_stored(&stored.key).await? {
                        report.deleted.push(stored.key.clone());
                    }
                }
            }
        }
        if let Some(erase) = S::ERASE_USER {
            let mut listing = self.list();
            while let Some(page) = listing.next_stored().await? {
                for stored in page.iter().filter(|stored| !own.contains(&stored.key)) {
                    if self.scrub(stored, erase, user).await? {
                        report.scrubbed.push(stored.key.clone());
                    }
                }
            }
        }
        Ok(report)
    }

    /// Scrubs `user` out of the listed session `stored` with `erase`, if that changes it;
    /// `true` when it did. A session `erase` leaves as it is costs no key.
    async fn scrub(
        &self,
        stored: &ListedSession,
        erase: fn(&mut S, i64),
        user: i64,
    ) -> Result<bool, SessionError> {
        let ctx = edit::outside();
        let mut listed = edit::decode(&self.shared, &ctx, &stored.key, &stored.value)?;
        if !erased(&stored.key, &mut listed, erase, user)? {
            return Ok(false);
        }
        edit::edit(&self.shared, &stored.key, |current| {
            let Some(mut value) = current.value()? else {
                return Ok((Plan::Keep, false));
            };
            if erased(&stored.key, &mut value, erase, user)? {
                Ok((Plan::Store(value), true))
            } else {
                Ok((Plan::Keep, false))
            }
        })
        .await
    }
}

/// Calls `erase` on `value`; `true` when that changed its encoding.
fn erased<S: Session>(
    key: &str,
    value: &mut S,
    erase: fn(&mut S, i64),
    user: i64,
) -> Result<bool, SessionError> {
    let mut before = Vec::new();
    load::encode(key, &*value, &mut before)?;
    erase(value, user);
    let mut after = Vec::with_capacity(before.len());
    load::encode(key, &*value, &mut after)?;
    Ok(before != after)
}

/// The stored keys of `S`'s sessions that belong to one user, by `S`'s key strategy.
struct OwnKeys<S> {
    user: i64,
    /// The one key: the user's session, or the private chat's.
    exact: Option<String>,
    /// The prefix the user's other sessions are under: the user in each chat, the topics of
    /// the private chat.
    under: Option<String>,
    session: std::marker::PhantomData<fn() -> S>,
}

impl<S: Session> OwnKeys<S> {
    fn of(user: i64) -> Self {
        let key = format!("{}:{user}", S::PREFIX);
        let (exact, under) = match S::KEY {
            KeyStrategy::User | KeyStrategy::Chat => (Some(key), None),
            KeyStrategy::ChatThread => (Some(key.clone()), Some(format!("{key}:"))),
            KeyStrategy::ChatUser => (None, Some(format!("{key}:"))),
            KeyStrategy::Global | KeyStrategy::Custom(_) => (None, None),
        };
        OwnKeys {
            user,
            exact,
            under,
            session: std::marker::PhantomData,
        }
    }

    /// Whether the stored key `key` is one of the user's.
    fn contains(&self, key: &str) -> bool {
        if self.exact.as_deref() == Some(key) {
            return true;
        }
        let Some(rest) = key
            .strip_prefix(S::PREFIX)
            .and_then(|rest| rest.strip_prefix(':'))
        else {
            return false;
        };
        match S::KEY {
            KeyStrategy::ChatUser => {
                parse_chat_user(rest).is_some_and(|(user, _)| user == self.user)
            }
            KeyStrategy::ChatThread => rest.split_once(':').is_some_and(|(chat, thread)| {
                parse_id(chat) == Some(self.user) && parse_id(thread).is_some()
            }),
            _ => false,
        }
    }
}

/// The session types a bot keeps, for what spans them all: erasing a user.
///
/// Add every session type the bot registers, with the store it uses (`S::admin(storage)`, or
/// [`Sessions::of`] its middleware):
///
/// ```
/// # use bot_session::{Session, MemoryStorage, Composer};
/// # use bot_session::admin::{Registry, SessionKey};
/// # use serde::{Deserialize, Serialize};
/// #[derive(Session, Serialize, Deserialize, Default)]
/// #[session(key = "user")]
/// struct Prefs {
///     lang: String,
/// }
///
/// /// A group's quiz: who has answered, by user id.
/// #[derive(Session, Serialize, Deserialize, Default)]
/// #[session(key = "chat", erase = Quiz::forget)]
/// struct Quiz {
///     answered: Vec<i64>,
/// }
///
/// impl Quiz {
///     fn forget(&mut self, user: i64) {
///         self.answered.retain(|&id| id != user);
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), bot_session::admin::AdminError> {
/// let storage = MemoryStorage::new();
/// let sessions = Registry::new()
///     .with(Prefs::admin(storage.clone()))
///     .with(Quiz::admin(storage.clone()));
/// # Prefs::admin(storage.clone()).update(SessionKey::user(42), |p| p.lang = "de".into()).await?;
/// # let quizzes = Quiz::admin(storage.clone());
/// # quizzes.update(SessionKey::chat(-100), |q| q.answered = vec![7, 42]).await?;
///
/// // A `/deletemydata` command, or a support tool, for user 42:
/// let report = sessions.erase_user(42).await?;
/// assert_eq!(report.deleted, ["prefs:42"]);
/// assert_eq!(report.scrubbed, ["quiz:-100"]);
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct Registry {
    types: Vec<Arc<dyn ErasesUsers>>,
}

impl Registry {
    /// No session types yet.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Adds a session type.
    pub fn with<S: Session>(mut self, sessions: Sessions<S>) -> Self {
        self.types.push(Arc::new(sessions));
        self
    }

    /// Removes what every registered session type keeps about user `user` (see
    /// [`Sessions::erase_user`]), one type after the other, in the order added; returns what
    /// was removed.
    ///
    /// Made from a handler (a `/forgetme` command), run it in
    /// [`Context::after_commit`](crate::Context::after_commit): the update holds its own
    /// sessions until then, and an erasure waiting for them would wait for the update that
    /// waits for it.
    pub async fn erase_user(&self, user: i64) -> Result<ErasureReport, AdminError> {
        let mut report = ErasureReport::default();
        for sessions in &self.types {
            report.extend(sessions.erase_user(user).await?);
        }
        Ok(report)
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.types.iter().map(|sessions| sessions.name()))
            .finish()
    }
}

/// One session type of a [`Registry`], whatever its type.
#[async_trait]
trait ErasesUsers: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    async fn erase_user(&self, user: i64) -> Result<ErasureReport, AdminError>;
}

#[async_trait]
impl<S: Session> ErasesUsers for Sessions<S> {
    fn name(&self) -> &'static str {
        S::NAME
    }

    async fn erase_user(&self, user: i64) -> Result<ErasureReport, AdminError> {
        Sessions::erase_user(self, user).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::fixtures::session_type;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Default)]
    struct ByUser;
    session_type!(ByUser, "u", KeyStrategy::User);
    #[derive(Serialize, Deserialize, Default)]
    struct ByChatUser;
    session_type!(ByChatUser, "cu", KeyStrategy::ChatUser);
    #[derive(Serialize, Deserialize, Default)]
    struct ByThread;
    session_type!(ByThread, "t", KeyStrategy::ChatThread);
    #[derive(Serialize, Deserialize, Default)]
    struct Everyone;
    session_type!(Everyone, "g", KeyStrategy::Global);

    #[test]
    fn a_users_own_keys_by_strategy() {
        let user = OwnKeys::<ByUser>::of(42);
        assert!(user.contains("u:42"));
        assert!(!user.contains("u:421") && !user.contains("u:4"));

        let member = OwnKeys::<ByChatUser>::of(42);
        assert_eq!(member.under.as_deref(), Some("cu:42:"));
        assert!(member.contains("cu:42:-100") && member.contains("cu:42:42"));
        assert!(!member.contains("cu:421:-100") && !member.contains("cu:7:42"));
        assert!(!member.contains("cu:42:x") && !member.contains("cu:42"));

        let topic = OwnKeys::<ByThread>::of(42);
        assert!(topic.contains("t:42") && topic.contains("t:42:9"));
        assert!(!topic.contains("t:-42:9") && !topic.contains("t:421:9"));

        let global = OwnKeys::<Everyone>::of(42);
        assert!(global.exact.is_none() && global.under.is_none());
        assert!(!global.contains("g:global"));
    }

    #[test]
    fn a_scrub_that_changes_nothing_is_no_change() {
        use crate::admin::fixtures::Count;
        fn forget_big(count: &mut Count, user: i64) {
            if user > 100 {
                count.n = 0;
            }
        }
        let mut count = Count { n: 5 };
        assert!(!erased("c:1", &mut count, forget_big, 7).unwrap());
        assert!(erased("c:1", &mut count, forget_big, 700).unwrap());
        assert_eq!(count, Count { n: 0 });
    }
}
