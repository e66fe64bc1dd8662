//! One update as Telegram sends it: a JSON object of at most [`MAX_UPDATE_BYTES`], in a
//! webhook's body or on a line of recorded updates alike.

use bot_session::Update;

/// The largest update accepted; Telegram's updates are a few KiB.
pub const MAX_UPDATE_BYTES: usize = 1 << 20;

/// Parses one update, refusing what Telegram never sends.
///
/// The update model's derived `Deserialize` also takes a struct's sequence form: `[42]` would
/// be an update with id 42 and no payload. Telegram sends every update as an object, so
/// anything else is refused here, before serde sees it.
pub fn parse_update(bytes: &[u8]) -> Result<Update, String> {
    match bytes.iter().find(|byte| !byte.is_ascii_whitespace()) {
        Some(b'{') => serde_json::from_slice(bytes).map_err(|err| err.to_string()),
        Some(_) => Err("expected a JSON object".to_owned()),
        None => Err("empty".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_object_is_an_update() {
        assert_eq!(parse_update(b" {\"update_id\": 7}").unwrap().update_id, 7);
        assert_eq!(parse_update(b"[42]").unwrap_err(), "expected a JSON object");
        assert!(parse_update(b"42").is_err());
        assert!(parse_update(b"  ").is_err());
    }
}
