//! How a session value becomes bytes in the store and back.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::CodecError;

/// A serialization format for stored sessions, chosen with `#[session(codec = "...")]`.
pub trait Codec: Send + Sync + 'static {
    /// The name used in `#[session(codec = "...")]` and in error messages.
    const NAME: &'static str;

    /// Appends the encoding of `value` to `out`.
    fn encode<T: Serialize>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError>;

    /// Decodes a whole value from `bytes`.
    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError>;
}

/// JSON, the default: readable in the store, shared with the JavaScript frameworks' format.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

impl Codec for Json {
    const NAME: &'static str = "json";

    fn encode<T: Serialize>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
        serde_json::to_writer(out, value).map_err(CodecError::new)
    }

    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
        serde_json::from_slice(bytes).map_err(CodecError::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Sample {
        count: u64,
        name: String,
    }

    #[test]
    fn json_round_trips_and_appends() {
        let mut out = b"prefix".to_vec();
        let value = Sample {
            count: 7,
            name: "é".into(),
        };
        Json::encode(&value, &mut out).unwrap();
        assert_eq!(&out[..6], b"prefix");
        assert_eq!(Json::decode::<Sample>(&out[6..]).unwrap(), value);
    }

    #[test]
    fn json_decode_error_carries_serde_message() {
        let err = Json::decode::<Sample>(b"{\"count\": \"x\"}").unwrap_err();
        assert!(err.to_string().contains("invalid type"), "{err}");
    }
}
