//! The replies of a lease request, as the batch's decoder reads them, whichever connection
//! carried the request: parsed from the wire by the direct connection (`resp`), or converted
//! from redis-rs's [`redis::Value`].

use std::fmt;

/// One reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Reply {
    Nil,
    Int(i64),
    Bulk(Vec<u8>),
    Status(String),
    Error(ServerError),
    Array(Vec<Reply>),
}

/// An error reply: `-<CODE> <message>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ServerError {
    line: String,
}

impl ServerError {
    pub(super) fn new(line: impl Into<String>) -> Self {
        ServerError { line: line.into() }
    }

    /// The first word: `ERR`, `NOSCRIPT`, `LOADING`, `READONLY`, ...
    pub(super) fn code(&self) -> &str {
        self.line.split(' ').next().unwrap_or_default()
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line)
    }
}

impl std::error::Error for ServerError {}

impl From<redis::ServerError> for ServerError {
    fn from(err: redis::ServerError) -> Self {
        match err.details() {
            Some(details) => ServerError::new(format!("{} {details}", err.code())),
            None => ServerError::new(err.code()),
        }
    }
}

impl From<redis::Value> for Reply {
    /// RESP3 kinds this store never asks for (maps, sets, doubles, ...) become an empty status
    /// naming them, which the decoder refuses as unexpected.
    fn from(value: redis::Value) -> Self {
        match value {
            redis::Value::Nil => Reply::Nil,
            redis::Value::Int(n) => Reply::Int(n),
            redis::Value::BulkString(bytes) => Reply::Bulk(bytes),
            redis::Value::SimpleString(text) => Reply::Status(text),
            redis::Value::Okay => Reply::Status("OK".to_owned()),
            redis::Value::Array(items) | redis::Value::Set(items) => {
                Reply::Array(items.into_iter().map(Reply::from).collect())
            }
            redis::Value::ServerError(err) => Reply::Error(err.into()),
            redis::Value::Attribute { data, .. } => Reply::from(*data),
            other => Reply::Status(format!("{other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_rs_values_convert() {
        assert_eq!(Reply::from(redis::Value::Nil), Reply::Nil);
        assert_eq!(
            Reply::from(redis::Value::Array(vec![
                redis::Value::Int(3),
                redis::Value::BulkString(b"v".to_vec()),
                redis::Value::Okay,
            ])),
            Reply::Array(vec![
                Reply::Int(3),
                Reply::Bulk(b"v".to_vec()),
                Reply::Status("OK".to_owned())
            ])
        );
        assert_eq!(
            ServerError::new("NOSCRIPT No matching script").code(),
            "NOSCRIPT"
        );
    }
}
