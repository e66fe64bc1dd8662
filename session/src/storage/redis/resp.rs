//! The Redis wire format (RESP2) for the lease connection: commands written straight into
//! the request buffer, replies parsed from the bytes read.
//!
//! Only what the lease connection sends and receives: commands are arrays of bulk strings;
//! replies are simple strings, errors, integers, bulk strings and arrays of them.

use std::fmt;

use super::commands::Commands;
pub(super) use super::reply::{Reply, ServerError};

/// Spare room beyond twice a bulk string's length (see [`parse_at`]): a session's new
/// encoding may be a little longer than the stored one.
const BULK_SPARE: usize = 16;

/// Writes commands into a request buffer.
pub(super) struct Encoder<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> Encoder<'a> {
    pub(super) fn new(out: &'a mut Vec<u8>) -> Self {
        Encoder { out }
    }

    /// `*<n>\r\n` or `$<n>\r\n`; lengths under 100, nearly all of them, without a loop.
    fn header(&mut self, kind: u8, n: usize) {
        if n < 10 {
            self.out
                .extend_from_slice(&[kind, b'0' + n as u8, b'\r', b'\n']);
        } else if n < 100 {
            let (tens, ones) = ((n / 10) as u8, (n % 10) as u8);
            self.out
                .extend_from_slice(&[kind, b'0' + tens, b'0' + ones, b'\r', b'\n']);
        } else {
            self.out.push(kind);
            let mut digits = [0u8; 20];
            self.out.extend_from_slice(decimal(n as u64, &mut digits));
            self.out.extend_from_slice(b"\r\n");
        }
    }
}

impl Commands for Encoder<'_> {
    /// Starts a command of `args` arguments (its name included).
    fn command(&mut self, args: usize) -> &mut Self {
        self.header(b'*', args);
        self
    }

    fn arg(&mut self, bytes: &[u8]) -> &mut Self {
        self.header(b'$', bytes.len());
        self.out.extend_from_slice(bytes);
        self.out.extend_from_slice(b"\r\n");
        self
    }

    fn arg_parts(&mut self, parts: &[&[u8]]) -> &mut Self {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        self.out.reserve(len + 16);
        self.header(b'$', len);
        for part in parts {
            self.out.extend_from_slice(part);
        }
        self.out.extend_from_slice(b"\r\n");
        self
    }

    fn arg_u64(&mut self, n: u64) -> &mut Self {
        let mut digits = [0u8; 20];
        let text = decimal(n, &mut digits);
        self.arg(text)
    }
}

/// `n` in decimal, written at the end of `buf`. Two digits at a time: every argument's
/// length goes through here.
pub(super) fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    let mut at = buf.len();
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        at -= 2;
        buf[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = n as usize * 2;
        at -= 2;
        buf[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        at -= 1;
        buf[at] = b'0' + n as u8;
    }
    &buf[at..]
}

/// Bytes that are not a reply this parser knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ProtocolError(pub(super) String);

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Redis sent something that is not a RESP2 reply: {}",
            self.0
        )
    }
}

impl std::error::Error for ProtocolError {}

/// Arrays nest this deep at most in the replies this store asks for; deeper is refused
/// rather than recursed into.
const MAX_DEPTH: usize = 4;

/// Parses one reply at the start of `buf`: the reply and the bytes it took, or `None` when
/// `buf` does not hold all of it yet.
pub(super) fn parse(buf: &[u8]) -> Result<Option<(Reply, usize)>, ProtocolError> {
    let mut at = 0;
    Ok(parse_at(buf, &mut at, 0)?.map(|reply| (reply, at)))
}

fn parse_at(buf: &[u8], at: &mut usize, depth: usize) -> Result<Option<Reply>, ProtocolError> {
    let Some(line) = line(buf, *at) else {
        return Ok(None);
    };
    let start = *at;
    *at += line.len() + 2;
    let (kind, body) = match line.split_first() {
        Some((&kind, body)) => (kind, body),
        None => return Err(ProtocolError("an empty line".to_owned())),
    };
    match kind {
        b'+' => Ok(Some(Reply::Status(
            String::from_utf8_lossy(body).into_owned(),
        ))),
        b'-' => Ok(Some(Reply::Error(ServerError::new(
            String::from_utf8_lossy(body).into_owned(),
        )))),
        b':' => Ok(Some(Reply::Int(integer(body)?))),
        b'$' => {
            let len = integer(body)?;
            if len < 0 {
                return Ok(Some(Reply::Nil));
            }
            let len = len as usize;
            if buf.len() < *at + len + 2 {
                *at = start;
                return Ok(None);
            }
            if &buf[*at + len..*at + len + 2] != b"\r\n" {
                return Err(ProtocolError(
                    "a bulk string longer than announced".to_owned(),
                ));
            }
            // With room for as many bytes again: the bulk strings a store reads are nearly
            // all session values, and the write-back appends the new encoding to the stored
            // one to compare them (`write_back::plan`); without room, that append reallocates.
            let mut bytes = Vec::with_capacity(2 * len + BULK_SPARE);
            bytes.extend_from_slice(&buf[*at..*at + len]);
            *at += len + 2;
            Ok(Some(Reply::Bulk(bytes)))
        }
        b'*' => {
            let len = integer(body)?;
            if len < 0 {
                return Ok(Some(Reply::Nil));
            }
            if depth >= MAX_DEPTH {
                return Err(ProtocolError(format!(
                    "arrays nested over {MAX_DEPTH} deep"
                )));
            }
            // The length comes from the wire: reserve by what the buffer can hold at most.
            let mut items = Vec::with_capacity((len as usize).min(buf.len() - *at));
            for _ in 0..len {
                match parse_at(buf, at, depth + 1)? {
                    Some(item) => items.push(item),
                    None => {
                        *at = start;
                        return Ok(None);
                    }
                }
            }
            Ok(Some(Reply::Array(items)))
        }
        other => Err(ProtocolError(format!(
            "a reply starting with {:?}",
            char::from(other)
        ))),
    }
}

/// The line starting at `at`, without its `\r\n`, if it is complete.
fn line(buf: &[u8], at: usize) -> Option<&[u8]> {
    let rest = buf.get(at..)?;
    let end = rest.windows(2).position(|w| w == b"\r\n")?;
    Some(&rest[..end])
}

fn integer(text: &[u8]) -> Result<i64, ProtocolError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| {
            ProtocolError(format!(
                "`{}` where a number belongs",
                String::from_utf8_lossy(text)
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        let mut buf = [0u8; 20];
        for n in [
            0,
            7,
            10,
            42,
            99,
            100,
            101,
            999,
            1000,
            65_535,
            1 << 40,
            u64::MAX,
        ] {
            assert_eq!(decimal(n, &mut buf), n.to_string().as_bytes());
        }
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        let mut out = Vec::new();
        Encoder::new(&mut out)
            .command(4)
            .arg(b"SET")
            .arg_parts(&[b"p:", b"k", b"\0lease"])
            .arg(b"")
            .arg_u64(1500);
        assert_eq!(
            out,
            b"*4\r\n$3\r\nSET\r\n$9\r\np:k\0lease\r\n$0\r\n\r\n$4\r\n1500\r\n"
        );
    }

    #[test]
    fn every_reply_kind_parses() {
        let cases: [(&[u8], Reply); 7] = [
            (b"+OK\r\n", Reply::Status("OK".to_owned())),
            (b"-NOSCRIPT No matching script\r\n", {
                Reply::Error(ServerError::new("NOSCRIPT No matching script"))
            }),
            (b":-42\r\n", Reply::Int(-42)),
            (b"$-1\r\n", Reply::Nil),
            (b"$5\r\na\r\nbc\r\n", Reply::Bulk(b"a\r\nbc".to_vec())),
            (b"*-1\r\n", Reply::Nil),
            (
                b"*3\r\n:1\r\n$-1\r\n*1\r\n$0\r\n\r\n",
                Reply::Array(vec![
                    Reply::Int(1),
                    Reply::Nil,
                    Reply::Array(vec![Reply::Bulk(Vec::new())]),
                ]),
            ),
        ];
        for (bytes, expected) in cases {
            assert_eq!(parse(bytes), Ok(Some((expected, bytes.len()))), "{bytes:?}");
        }
        assert_eq!(
            ServerError::new("NOSCRIPT No matching script").code(),
            "NOSCRIPT"
        );
    }

    #[test]
    fn a_reply_split_anywhere_waits_for_the_rest() {
        let whole: &[u8] = b"*2\r\n$5\r\nhello\r\n:7\r\n+OK\r\n";
        let first_len = whole.len() - 5;
        for cut in 0..first_len {
            assert_eq!(parse(&whole[..cut]), Ok(None), "cut at {cut}");
        }
        let (reply, used) = parse(whole).expect("valid").expect("complete");
        assert_eq!(used, first_len);
        assert_eq!(
            reply,
            Reply::Array(vec![Reply::Bulk(b"hello".to_vec()), Reply::Int(7)])
        );
        assert_eq!(
            parse(&whole[used..]),
            Ok(Some((Reply::Status("OK".to_owned()), 5)))
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [
            &b"?what\r\n"[..],
            b":12x\r\n",
            b"$3\r\nabcdef\r\n",
            b"\r\n",
            b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",
        ] {
            assert!(parse(bytes).is_err(), "{bytes:?}");
        }
    }
}
