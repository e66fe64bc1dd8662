//! The headers in front of stored session bytes: the updates that changed the session, and
//! the schema version.
//!
//! Stored bytes are `[remembered updates] [version] payload`, each header optional:
//! - *remembered updates* ([`remembered`]): the ids of the updates that changed the session,
//!   with the replies they kept, so a redelivered update is recognized, not applied twice and
//!   answered as the first time. Written unless the middleware is set to remember no updates
//!   (`remember_updates(0)`).
//! - *version*: absent for version 0 (no `version` attribute), so a session of version 0 that
//!   remembers no updates is the bare codec payload, exactly what a JavaScript framework
//!   sharing the store would write, and data written before versioning reads as version 0.

pub(crate) mod remembered;

/// `0xFF` cannot start a JSON text and is rare at the start of binary payloads; the three
/// letters make an accidental match vanishingly unlikely.
const MAGIC: [u8; 4] = [0xFF, b'b', b's', b'v'];
const HEADER_LEN: usize = MAGIC.len() + 4;

/// Appends the header for `version` (nothing for version 0).
pub(crate) fn write_header(version: u32, out: &mut Vec<u8>) {
    if version > 0 {
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&version.to_le_bytes());
    }
}

/// Splits stored bytes into (schema version, codec payload).
pub(crate) fn split(bytes: &[u8]) -> (u32, &[u8]) {
    if bytes.len() >= HEADER_LEN && bytes[..MAGIC.len()] == MAGIC {
        let mut version = [0u8; 4];
        version.copy_from_slice(&bytes[MAGIC.len()..HEADER_LEN]);
        (u32::from_le_bytes(version), &bytes[HEADER_LEN..])
    } else {
        (0, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_zero_is_the_bare_payload() {
        let mut out = Vec::new();
        write_header(0, &mut out);
        out.extend_from_slice(b"{}");
        assert_eq!(out, b"{}");
        assert_eq!(split(&out), (0, &b"{}"[..]));
    }

    #[test]
    fn later_versions_round_trip() {
        let mut out = Vec::new();
        write_header(3, &mut out);
        out.extend_from_slice(b"{\"a\":1}");
        assert_eq!(split(&out), (3, &b"{\"a\":1}"[..]));
    }

    #[test]
    fn short_or_foreign_bytes_are_version_zero() {
        assert_eq!(split(b"\xFFbs"), (0, &b"\xFFbs"[..]));
        assert_eq!(split(b""), (0, &b""[..]));
    }
}
