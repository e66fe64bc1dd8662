//! One line of an export: a session's key, stored bytes and time left.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bot_session::storage::ListedSession;
use serde::{Deserialize, Serialize};

use crate::args::Encoding;
use crate::render::{hex, millis, unhex};

/// `{"key":"counter:1","base64":"eyJjb3VudCI6M30=","time_left_ms":null}`, or with `hex`
/// instead of `base64`. `time_left_ms` is the session's time left when it was exported
/// (`null`: it never expires).
#[derive(Debug, Serialize, Deserialize)]
pub struct Record {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hex: Option<String>,
    pub time_left_ms: Option<u64>,
}

impl Record {
    pub fn new(session: &ListedSession, encoding: Encoding) -> Record {
        let (base64, hex) = match encoding {
            Encoding::Base64 => (Some(STANDARD.encode(&session.value)), None),
            Encoding::Hex => (None, Some(hex(&session.value))),
        };
        Record {
            key: session.key.clone(),
            base64,
            hex,
            time_left_ms: millis(session.time_left),
        }
    }

    /// The stored bytes and time left; why not, when the line is not a session.
    pub fn into_session(self) -> Result<ListedSession, String> {
        let value = match (&self.base64, &self.hex) {
            (Some(text), None) => STANDARD
                .decode(text)
                .map_err(|err| format!("`base64` of `{}` is not base64: {err}", self.key))?,
            (None, Some(text)) => {
                unhex(text).ok_or_else(|| format!("`hex` of `{}` is not hex", self.key))?
            }
            _ => {
                return Err(format!(
                    "the session `{}` needs its bytes as exactly one of `base64` and `hex`",
                    self.key
                ));
            }
        };
        Ok(ListedSession {
            key: self.key,
            value,
            time_left: self.time_left_ms.map(Duration::from_millis),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_in_both_encodings() {
        let session = ListedSession {
            key: "counter:1".into(),
            value: vec![0xff, b'b', b's', 0],
            time_left: Some(Duration::from_millis(1500)),
        };
        for encoding in [Encoding::Base64, Encoding::Hex] {
            let line = serde_json::to_string(&Record::new(&session, encoding)).unwrap();
            let back: Record = serde_json::from_str(&line).unwrap();
            assert_eq!(back.into_session().unwrap(), session, "{line}");
        }
        let line = r#"{"key":"k","base64":"AA==","hex":"00","time_left_ms":null}"#;
        let both: Record = serde_json::from_str(line).unwrap();
        assert!(both.into_session().unwrap_err().contains("exactly one"));
    }
}
