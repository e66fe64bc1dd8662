//! How a session value becomes bytes in the store and back.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::CodecError;

/// A serialization format for stored sessions, chosen with `#[session(codec = "...")]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot encode sessions in this build",
    note = "`codec = \"postcard\"` needs the `postcard` feature of bot-session and `codec = \"cbor\"` the `cbor` feature: enable it in Cargo.toml"
)]
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

/// Postcard: compact and fast, but not self-describing, so adding or reordering fields needs a
/// schema `version` and a migration. Needs the `postcard` feature.
#[derive(Debug, Clone, Copy, Default)]
pub struct Postcard;

#[cfg(feature = "postcard")]
impl Codec for Postcard {
    const NAME: &'static str = "postcard";

    fn encode<T: Serialize>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let encoded = postcard::to_extend(value, std::mem::take(out)).map_err(CodecError::new)?;
        *out = encoded;
        Ok(())
    }

    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
        postcard::from_bytes(bytes).map_err(CodecError::new)
    }
}

/// CBOR: binary and self-describing, so fields can be added like with JSON. Needs the `cbor`
/// feature.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cbor;

#[cfg(feature = "cbor")]
impl Codec for Cbor {
    const NAME: &'static str = "cbor";

    fn encode<T: Serialize>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
        ciborium::into_writer(value, out).map_err(CodecError::new)
    }

    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
        ciborium::from_reader(bytes).map_err(CodecError::new)
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

    #[cfg(feature = "postcard")]
    #[test]
    fn postcard_round_trips_and_appends() {
        let mut out = b"p".to_vec();
        let value = Sample {
            count: 300,
            name: "x".into(),
        };
        Postcard::encode(&value, &mut out).unwrap();
        assert_eq!(out[0], b'p');
        assert_eq!(Postcard::decode::<Sample>(&out[1..]).unwrap(), value);
        assert!(Postcard::decode::<Sample>(&[0xFF]).is_err());
    }

    #[cfg(feature = "cbor")]
    #[test]
    fn cbor_round_trips_and_appends() {
        let mut out = b"c".to_vec();
        let value = Sample {
            count: 300,
            name: "x".into(),
        };
        Cbor::encode(&value, &mut out).unwrap();
        assert_eq!(out[0], b'c');
        assert_eq!(Cbor::decode::<Sample>(&out[1..]).unwrap(), value);
        assert!(Cbor::decode::<Sample>(b"not cbor").is_err());
    }

    #[test]
    fn json_decode_error_carries_serde_message() {
        let err = Json::decode::<Sample>(b"{\"count\": \"x\"}").unwrap_err();
        assert!(err.to_string().contains("invalid type"), "{err}");
    }
}
