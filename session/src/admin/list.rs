//! [`SessionList`]: a session type's stored sessions, decoded, page by page over
//! [`Storage::list`](crate::Storage::list).

use std::sync::Arc;
use std::time::Duration;

use crate::admin::edit;
use crate::admin::error::AdminError;
use crate::admin::key::SessionKey;
use crate::context::Context;
use crate::error::StorageError;
use crate::middleware::shared::Shared;
use crate::session::Session;
use crate::storage::{ListCursor, ListedSession, MAX_PAGE};

/// How many sessions a listing reads per page unless told otherwise.
const DEFAULT_PAGE: usize = 500;

/// One session a [`SessionList`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed<S> {
    /// Its key, as [`Sessions`](crate::admin::Sessions) takes it back.
    pub key: SessionKey,
    /// Its value, migrated to the current schema version if it is older (not written back:
    /// [`Sessions::migrate_all`](crate::admin::Sessions::migrate_all) does that).
    pub value: S,
    /// How long it had left to live when it was read; `None`: it never expires.
    pub time_left: Option<Duration>,
}

/// The stored sessions of one type, from [`Sessions::list`](crate::admin::Sessions::list): a
/// paged iterator that holds one page in memory, whatever the store's size.
///
/// [`next`](Self::next) hands out one session at a time, reading the next page when the last
/// is used up. A session whose key or bytes this type cannot read is an `Err` item
/// ([`AdminError::ForeignKey`], a decode error naming the key) and the listing goes on after
/// it; a store failure is an `Err` item that ends the listing ([`cursor`](Self::cursor) says
/// where to resume).
///
/// A listing that stopped (a job that crashed, a broadcast paused) resumes from its
/// [`cursor`](Self::cursor), kept as text: it may hand out again some of the sessions of the
/// page it stopped in, up to a page, and never misses one.
///
/// What the listing sees follows [`Storage::list`](crate::Storage::list): it takes no key, so
/// a bot may run meanwhile; each session stored from start to end is listed once, and one
/// written or deleted meanwhile may be listed or not. To change what it lists, pass the key
/// to [`Sessions::update_existing`](crate::admin::Sessions::update_existing), which takes the
/// key and reads the session afresh.
pub struct SessionList<S: Session> {
    shared: Arc<Shared<S>>,
    /// Decodes outside any update.
    ctx: Context,
    /// `prefix:`.
    prefix: String,
    page_size: usize,
    /// Where the next page starts; `None` once the last page was read.
    cursor: Option<ListCursor>,
    /// Where the page being handed out started.
    page_start: ListCursor,
    page: std::vec::IntoIter<ListedSession>,
    /// A store failure ended the listing.
    failed: bool,
}

impl<S: Session> SessionList<S> {
    pub(crate) fn new(shared: Arc<Shared<S>>, cursor: ListCursor) -> Self {
        Self::under(shared, format!("{}:", S::PREFIX), cursor)
    }

    /// The sessions whose stored keys start with `prefix`, which starts with `S`'s own.
    pub(crate) fn under(shared: Arc<Shared<S>>, prefix: String, cursor: ListCursor) -> Self {
        debug_assert!(prefix.starts_with(S::PREFIX));
        SessionList {
            shared,
            ctx: edit::outside(),
            prefix,
            page_size: DEFAULT_PAGE,
            page_start: cursor.clone(),
            cursor: Some(cursor),
            page: Vec::new().into_iter(),
            failed: false,
        }
    }

    /// Reads `size` sessions a page (1 to [`MAX_PAGE`]; default 500).
    pub fn page_size(mut self, size: usize) -> Self {
        self.page_size = size.clamp(1, MAX_PAGE);
        self
    }

    /// The next session; `None` once the listing is over.
    pub async fn next(&mut self) -> Option<Result<Listed<S>, AdminError>> {
        loop {
            if let Some(stored) = self.page.next() {
                return Some(self.decode(stored));
            }
            match self.next_stored_page().await {
                Ok(true) => {}
                Ok(false) => return None,
                Err(err) => return Some(Err(err)),
            }
        }
    }

    /// Where to resume this listing with
    /// [`Sessions::list_from`](crate::admin::Sessions::list_from) (keep it as text with
    /// [`ListCursor::as_str`]): the start of the next page once every session of the current
    /// one was handed out, else the start of the current page (whose sessions handed out
    /// already then come again). `None` once the listing is over.
    pub fn cursor(&self) -> Option<&ListCursor> {
        if self.page.len() > 0 {
            Some(&self.page_start)
        } else {
            self.cursor.as_ref()
        }
    }

    /// The next page as stored, for the jobs of this module that look at the bytes before
    /// deciding to decode or take a key; `None` once the listing is over.
    pub(crate) async fn next_stored(&mut self) -> Result<Option<Vec<ListedSession>>, AdminError> {
        let buffered: Vec<ListedSession> = self.page.by_ref().collect();
        if !buffered.is_empty() {
            return Ok(Some(buffered));
        }
        if self.next_stored_page().await? {
            Ok(Some(self.page.by_ref().collect()))
        } else {
            Ok(None)
        }
    }

    /// Reads the next page into the buffer; `false` when the listing is over.
    async fn next_stored_page(&mut self) -> Result<bool, AdminError> {
        if self.failed {
            return Ok(false);
        }
        let Some(cursor) = &self.cursor else {
            return Ok(false);
        };
        let page = self
            .shared
            .store
            .list(&self.prefix, cursor, self.page_size)
            .await;
        match page {
            Ok(page) => {
                self.page_start = cursor.clone();
                self.cursor = page.next;
                self.page = page.sessions.into_iter();
                Ok(true)
            }
            Err(source) => {
                self.failed = true;
                Err(list_error::<S>(&self.prefix, source))
            }
        }
    }

    fn decode(&self, stored: ListedSession) -> Result<Listed<S>, AdminError> {
        let key = SessionKey::parse::<S>(&stored.key).ok_or_else(|| AdminError::ForeignKey {
            session: S::NAME,
            strategy: S::KEY.name(),
            key: stored.key.clone(),
        })?;
        let value = edit::decode(&self.shared, &self.ctx, &stored.key, &stored.value)?;
        Ok(Listed {
            key,
            value,
            time_left: stored.time_left,
        })
    }
}

/// The error for a failed listing of `prefix`.
fn list_error<S: Session>(prefix: &str, source: StorageError) -> AdminError {
    AdminError::List {
        session: S::NAME,
        prefix: prefix.to_owned(),
        source,
    }
}
