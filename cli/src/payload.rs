//! A session's payload for a person: pretty JSON, CBOR in diagnostic notation, or hex.

use std::fmt::Write as _;

use ciborium::Value as Cbor;

use crate::render::hex;

/// What the payload's bytes turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A whole JSON text (the `json` codec's).
    Json(serde_json::Value),
    /// One whole CBOR item (the `cbor` codec's), in diagnostic notation.
    Cbor(String),
    /// Anything else (`postcard`, another codec): the bytes in hex.
    Binary(String),
}

impl Payload {
    pub fn read(bytes: &[u8]) -> Payload {
        if let Ok(json) = serde_json::from_slice::<serde_json::Value>(bytes) {
            return Payload::Json(json);
        }
        let mut rest = bytes;
        if let Ok(cbor) = ciborium::from_reader::<Cbor, _>(&mut rest)
            && rest.is_empty()
            && !bytes.is_empty()
        {
            let mut diagnostic = String::new();
            cbor_diagnostic(&cbor, &mut diagnostic);
            return Payload::Cbor(diagnostic);
        }
        Payload::Binary(hex(bytes))
    }

    /// `json`, `cbor` or `binary`.
    pub fn format(&self) -> &'static str {
        match self {
            Payload::Json(_) => "json",
            Payload::Cbor(_) => "cbor",
            Payload::Binary(_) => "binary",
        }
    }

    /// For a person: JSON indented, CBOR's notation, hex.
    pub fn pretty(&self) -> String {
        match self {
            Payload::Json(json) => {
                serde_json::to_string_pretty(json).unwrap_or_else(|_| json.to_string())
            }
            Payload::Cbor(text) | Payload::Binary(text) => text.clone(),
        }
    }

    /// For `--json`: the JSON value itself, or the text.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Payload::Json(json) => json.clone(),
            Payload::Cbor(text) | Payload::Binary(text) => serde_json::Value::String(text.clone()),
        }
    }
}

/// RFC 8949's diagnostic notation (section 8) of `value`.
fn cbor_diagnostic(value: &Cbor, out: &mut String) {
    match value {
        Cbor::Integer(n) => {
            let _ = write!(out, "{}", i128::from(*n));
        }
        Cbor::Bytes(bytes) => {
            let _ = write!(out, "h'{}'", hex(bytes));
        }
        Cbor::Float(f) if f.is_nan() => out.push_str("NaN"),
        Cbor::Float(f) if f.is_infinite() => {
            out.push_str(if *f > 0.0 { "Infinity" } else { "-Infinity" })
        }
        Cbor::Float(f) => {
            let _ = write!(out, "{f:?}");
        }
        Cbor::Text(text) => {
            let _ = write!(out, "{}", serde_json::Value::String(text.clone()));
        }
        Cbor::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Cbor::Null => out.push_str("null"),
        Cbor::Tag(tag, inner) => {
            let _ = write!(out, "{tag}(");
            cbor_diagnostic(inner, out);
            out.push(')');
        }
        Cbor::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                cbor_diagnostic(item, out);
            }
            out.push(']');
        }
        Cbor::Map(entries) => {
            out.push('{');
            for (i, (key, value)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                cbor_diagnostic(key, out);
                out.push_str(": ");
                cbor_diagnostic(value, out);
            }
            out.push('}');
        }
        // Simple values ciborium does not name, and what later versions add.
        _ => out.push_str("undefined"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_indented() {
        let payload = Payload::read(br#"{"count":3}"#);
        assert_eq!(payload.format(), "json");
        assert_eq!(payload.pretty(), "{\n  \"count\": 3\n}");
    }

    #[test]
    fn cbor_reads_in_diagnostic_notation() {
        let mut bytes = Vec::new();
        let value = Cbor::Map(vec![
            (Cbor::Text("count".into()), Cbor::Integer(3.into())),
            (Cbor::Text("raw".into()), Cbor::Bytes(vec![1, 0xff])),
            (
                Cbor::Text("list".into()),
                Cbor::Array(vec![Cbor::Bool(true), Cbor::Null]),
            ),
            (Cbor::Text("f".into()), Cbor::Float(1.5)),
            (Cbor::Text("neg".into()), Cbor::Integer((-7).into())),
        ]);
        ciborium::into_writer(&value, &mut bytes).unwrap();
        let payload = Payload::read(&bytes);
        assert_eq!(payload.format(), "cbor");
        assert_eq!(
            payload.pretty(),
            r#"{"count": 3, "raw": h'01ff', "list": [true, null], "f": 1.5, "neg": -7}"#
        );
    }

    #[test]
    fn other_bytes_read_as_hex() {
        // Not JSON, and a CBOR item that does not end where the bytes do.
        let payload = Payload::read(&[0x03, 0x01, 0xff]);
        assert_eq!(payload, Payload::Binary("0301ff".into()));
        assert_eq!(Payload::read(&[]).format(), "binary");
    }
}
