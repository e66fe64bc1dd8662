//! Turning a session's stored bytes into its value (decoding, migrating older schema
//! versions, or starting from the initial value) and its value into bytes.

use crate::codec::Codec;
use crate::context::Context;
use crate::envelope;
use crate::envelope::remembered;
use crate::error::SessionError;
use crate::middleware::shared::Shared;
use crate::middleware::state::{Loaded, Origin};
use crate::session::{Session, StoredData};

/// Turns stored bytes into the session value, migrating older schema versions. A session
/// that remembers this very update (`ctx`'s) as one that changed it marks the update a
/// redelivery and is read-only for it.
pub(crate) fn decode<S: Session>(
    shared: &Shared<S>,
    ctx: &Context,
    key: &str,
    stored: Option<Vec<u8>>,
) -> Result<Loaded<S>, SessionError> {
    let Some(bytes) = stored else {
        // The one call of `initial` for a new session: its encoding is kept for the
        // unchanged-check at write-back.
        let value = S::initial();
        let mut initial = Vec::with_capacity(ENCODE_BUFFER);
        encode(key, &value, &mut initial)?;
        return Ok(Loaded::new(Some(value), Origin::New(initial)));
    };
    let (header, remembered) = remembered::scan(&bytes, ctx.update_id());
    let redelivery = remembered.is_some();
    if let Some(entry) = remembered {
        ctx.mark_redelivery(entry.replies);
    }
    let (version, payload) = envelope::split(&bytes[header..]);
    let decoded = if version == S::VERSION {
        S::Codec::decode::<S>(payload).map_err(|source| SessionError::Decode {
            session: S::NAME,
            key: key.to_owned(),
            codec: <S::Codec as Codec>::NAME,
            source,
        })
    } else if version < S::VERSION {
        S::migrate(version, StoredData::new(payload)).map_err(|err| SessionError::Migration {
            session: S::NAME,
            key: key.to_owned(),
            found: version,
            current: S::VERSION,
            source: Some(err),
        })
    } else {
        Err(SessionError::Migration {
            session: S::NAME,
            key: key.to_owned(),
            found: version,
            current: S::VERSION,
            source: None,
        })
    };
    // A value migrated from an older version is a change: stored in the current version at
    // write-back, so the migration runs once, not on every read.
    let migrated = version < S::VERSION;
    let value = match decoded {
        Ok(value) => {
            if migrated {
                shared.observer.migrated(key, version, S::VERSION);
            }
            value
        }
        Err(err @ SessionError::Decode { .. }) if shared.options.reset_on_corrupt => {
            shared.observer.corrupt(true);
            tracing::warn!(session = S::NAME, key, error = %err, "corrupt session reset to its initial value");
            S::initial()
        }
        Err(err) => {
            if let SessionError::Decode { .. } = err {
                shared.observer.corrupt(false);
            }
            return Err(err);
        }
    };
    let mut loaded = Loaded::new(Some(value), Origin::Stored(bytes));
    loaded.changed = migrated;
    loaded.redelivery = redelivery;
    loaded.seen_len = header;
    Ok(loaded)
}

/// Room reserved before encoding a session that was not read: encoders grow a buffer a few
/// bytes at a time, reallocating each time.
pub(crate) const ENCODE_BUFFER: usize = 64;

pub(crate) fn encode<S: Session>(
    key: &str,
    value: &S,
    out: &mut Vec<u8>,
) -> Result<(), SessionError> {
    envelope::write_header(S::VERSION, out);
    S::Codec::encode(value, out).map_err(|source| SessionError::Encode {
        session: S::NAME,
        key: key.to_owned(),
        codec: <S::Codec as Codec>::NAME,
        source,
    })
}
