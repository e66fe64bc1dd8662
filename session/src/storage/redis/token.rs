//! The value a lease key holds: `"<ticket>:<nonce>"`, naming the update that holds it: the
//! ticket in decimal (other processes read it, to order updates by age), the nonce in 16 hex
//! digits (only ever compared whole).

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A `u64` in decimal, a colon and 16 hex digits.
const MAX_LEN: usize = 20 + 1 + 16;

/// `"<ticket>:<nonce>"`, formatted in place: every take and commit makes one, so it costs
/// neither an allocation nor the formatting machinery (nor twenty divisions for a random
/// nonce in decimal).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct LeaseToken {
    bytes: [u8; MAX_LEN],
    len: u8,
}

impl LeaseToken {
    pub(super) fn new(ticket: u64, nonce: u64) -> Self {
        let mut token = LeaseToken {
            bytes: [0; MAX_LEN],
            len: 0,
        };
        let mut digits = itoa::Buffer::new();
        let ticket = digits.format(ticket).as_bytes();
        let mut at = ticket.len();
        token.bytes[..at].copy_from_slice(ticket);
        token.bytes[at] = b':';
        at += 1;
        for shift in (0..16).rev() {
            token.bytes[at] = HEX[((nonce >> (shift * 4)) & 0xf) as usize];
            at += 1;
        }
        token.len = at as u8;
        token
    }

    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for LeaseToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

/// The ticket in a lease value `"<ticket>:<nonce>"`, if it is one.
pub(super) fn holder_ticket(holder: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(holder).ok()?;
    text.split_once(':')?.0.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_ticket_colon_nonce() {
        for (ticket, nonce) in [(0, 0), (7, 9), (42, 123_456), (u64::MAX, u64::MAX), (10, 1)] {
            let token = LeaseToken::new(ticket, nonce);
            assert_eq!(
                token.as_bytes(),
                format!("{ticket}:{nonce:016x}").as_bytes()
            );
            assert_eq!(holder_ticket(token.as_bytes()), Some(ticket));
        }
    }

    #[test]
    fn holder_ticket_parses_the_lease_value() {
        assert_eq!(holder_ticket(b"42:123456"), Some(42));
        assert_eq!(holder_ticket(b"garbage"), None);
        assert_eq!(holder_ticket(b"\xff:1"), None);
    }
}
