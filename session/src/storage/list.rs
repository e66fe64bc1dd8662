//! Listing the sessions of a store under a key prefix, page by page: what
//! [`Storage::list`] takes and answers, and [`Listing`], which walks the pages.
//!
//! A listing never holds more than one page in memory, whatever the store's size: each call
//! reads at most [`MAX_PAGE`] sessions and answers a [`ListCursor`] to resume from.

use std::fmt;
use std::time::Duration;

use crate::error::{StorageError, StorageErrorKind, StorageOp};
use crate::storage::Storage;

/// The most sessions one page holds, whatever `limit` a caller asks for.
pub const MAX_PAGE: usize = 10_000;

/// Where a listing resumes: the [`ListPage::next`] of the page before, or
/// [`ListCursor::start`].
///
/// Opaque: each store writes its own. A cursor is only meaningful to the store (and prefix)
/// whose listing made it; it stays valid after that store restarts, except the memory
/// store's, which lives as long as the store, and a Redis Cluster's, which a failover of the
/// master being listed ends (the store then says so). It can be kept as text
/// ([`as_str`](Self::as_str), [`from_string`](Self::from_string)) to resume later.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ListCursor(String);

impl ListCursor {
    /// The start of a listing.
    pub fn start() -> Self {
        ListCursor(String::new())
    }

    /// A cursor kept as text, from [`as_str`](Self::as_str). A store refuses text it did not
    /// write with [`StorageErrorKind::Invalid`].
    pub fn from_string(cursor: impl Into<String>) -> Self {
        ListCursor(cursor.into())
    }

    /// Whether this is the start of a listing.
    pub fn is_start(&self) -> bool {
        self.0.is_empty()
    }

    /// The cursor as text, to keep it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The cursor of the stores that list in key order (SQLite, PostgreSQL): after `key`.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) fn after_key(key: &str) -> Self {
        ListCursor(format!("{KEY_TAG}{key}"))
    }

    /// The key a key-order cursor resumes after: `None` at the start.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) fn key(&self, store: &'static str) -> Result<Option<&str>, StorageError> {
        if self.is_start() {
            return Ok(None);
        }
        self.0
            .strip_prefix(KEY_TAG)
            .map(Some)
            .ok_or_else(|| bad_cursor(store, self))
    }
}

/// Starts the cursors of the listings in key order.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
const KEY_TAG: &str = "k:";

impl fmt::Display for ListCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One session as a listing found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedSession {
    /// The stored key (`prefix:key`).
    pub key: String,
    /// The stored bytes, headers included: [`StoredBytes::parse`](crate::StoredBytes::parse)
    /// takes them apart.
    pub value: Vec<u8>,
    /// How long the session has left to live when it was read; `None`: it never expires.
    pub time_left: Option<Duration>,
}

/// One page of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    /// The sessions of this page: at most the `limit` asked for, possibly fewer, even none
    /// when the listing is not over.
    pub sessions: Vec<ListedSession>,
    /// Where the next page starts; `None` when the listing is over.
    pub next: Option<ListCursor>,
}

/// The page size a store uses for a `limit`: at least 1, at most [`MAX_PAGE`].
pub(crate) fn page_size(limit: usize) -> usize {
    limit.clamp(1, MAX_PAGE)
}

/// The smallest string greater than every string that starts with `prefix` (in the order of
/// code points, which is the order of their UTF-8 bytes): the end of the prefix's range of
/// keys. `None` when there is no such string (an empty prefix, or one of `char::MAX` only).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            last => char::from_u32(u32::from(last) + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// The error for a cursor the store did not write.
pub(crate) fn bad_cursor(store: &'static str, cursor: &ListCursor) -> StorageError {
    StorageError::new(
        store,
        StorageOp::List,
        StorageErrorKind::Invalid,
        format!(
            "the listing cursor `{}` was not made by a listing of this {store} store: resume \
             with the `next` cursor of the page before, or start again with \
             `ListCursor::start()`",
            cursor.as_str().escape_debug()
        ),
    )
}

/// Walks the listing of a prefix, page by page.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), bot_session::StorageError> {
/// use bot_session::storage::Listing;
/// use bot_session::{MemoryStorage, Storage};
///
/// let store = MemoryStorage::new();
/// for chat in 1..=5 {
///     store.write(&format!("counter:{chat}"), b"{\"count\":1}", None).await?;
/// }
/// let mut listing = Listing::new(&store, "counter:", 2);
/// let mut seen = 0;
/// while let Some(sessions) = listing.next_page().await? {
///     seen += sessions.len();
/// }
/// assert_eq!(seen, 5);
/// # Ok(()) }
/// ```
pub struct Listing<'a, S: Storage + ?Sized> {
    store: &'a S,
    prefix: String,
    page_size: usize,
    /// `None` once the last page was read.
    cursor: Option<ListCursor>,
}

impl<'a, S: Storage + ?Sized> Listing<'a, S> {
    /// A listing of the sessions whose keys start with `prefix` (`""`: every session), at
    /// most `page_size` a page (at most [`MAX_PAGE`]).
    pub fn new(store: &'a S, prefix: impl Into<String>, page_size: usize) -> Self {
        Listing {
            store,
            prefix: prefix.into(),
            page_size,
            cursor: Some(ListCursor::start()),
        }
    }

    /// The same, resuming at `cursor` (a [`Listing::cursor`] kept from an earlier listing).
    pub fn resume(
        store: &'a S,
        prefix: impl Into<String>,
        page_size: usize,
        cursor: ListCursor,
    ) -> Self {
        Listing {
            cursor: Some(cursor),
            ..Listing::new(store, prefix, page_size)
        }
    }

    /// The next page's sessions, or `None` once the listing is over. A page may be empty
    /// before the end.
    pub async fn next_page(&mut self) -> Result<Option<Vec<ListedSession>>, StorageError> {
        let Some(cursor) = &self.cursor else {
            return Ok(None);
        };
        let page = self
            .store
            .list(&self.prefix, cursor, self.page_size)
            .await?;
        self.cursor = page.next;
        Ok(Some(page.sessions))
    }

    /// Where the next page starts; `None` once the listing is over.
    pub fn cursor(&self) -> Option<&ListCursor> {
        self.cursor.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    #[test]
    fn a_prefix_ends_where_its_last_character_is_one_more() {
        assert_eq!(prefix_end("counter:").as_deref(), Some("counter;"));
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("\u{10FFFF}\u{10FFFF}"), None);
        for (key, inside) in [
            ("counter:1", true),
            ("counter:\u{10FFFF}x", true),
            ("counter;", false),
            ("counter", false),
            ("counter:", true),
        ] {
            let end = prefix_end("counter:").unwrap();
            assert_eq!(key.starts_with("counter:"), inside);
            assert_eq!(key >= "counter:" && key < end.as_str(), inside, "{key}");
        }
    }

    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    #[test]
    fn key_cursors_round_trip_and_foreign_ones_are_refused() {
        let cursor = ListCursor::after_key("counter:5");
        assert_eq!(cursor.key("sqlite").unwrap(), Some("counter:5"));
        let kept = ListCursor::from_string(cursor.as_str());
        assert_eq!(kept, cursor);
        assert_eq!(ListCursor::start().key("sqlite").unwrap(), None);
        let err = ListCursor::from_string("junk").key("sqlite").unwrap_err();
        assert_eq!(err.kind(), StorageErrorKind::Invalid);
        assert!(err.to_string().contains("`junk`"), "{err}");
    }

    #[test]
    fn page_sizes_are_bounded() {
        assert_eq!(page_size(0), 1);
        assert_eq!(page_size(500), 500);
        assert_eq!(page_size(usize::MAX), MAX_PAGE);
    }
}
