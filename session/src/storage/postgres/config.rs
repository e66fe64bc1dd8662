//! The connection string: the TLS settings libpq reads from it that tokio-postgres does not
//! (`sslmode=verify-ca|verify-full`, `sslrootcert`), the rest for tokio-postgres, and how the
//! server is named in messages.

use std::str::FromStr;

/// `sslmode`, as libpq spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SslMode {
    /// Plain TCP only.
    Disable,
    /// TLS when the server offers it (the default).
    Prefer,
    /// TLS or no connection.
    Require,
    /// TLS, and a certificate signed by a trusted CA.
    VerifyCa,
    /// TLS, and a certificate signed by a trusted CA for the host connected to.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<SslMode, String> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(format!(
                    "unsupported sslmode `{other}`: use disable, prefer, require, verify-ca or \
                     verify-full"
                ));
            }
        })
    }

    /// How tokio-postgres should negotiate: the verifying modes are `require` to it, and the
    /// certificate checks are the TLS connector's.
    fn negotiation(self) -> tokio_postgres::config::SslMode {
        use tokio_postgres::config::SslMode as Negotiation;
        match self {
            SslMode::Disable => Negotiation::Disable,
            SslMode::Prefer => Negotiation::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => Negotiation::Require,
        }
    }
}

/// A parsed connection string.
pub(super) struct ConnectionString {
    pub(super) config: tokio_postgres::Config,
    pub(super) ssl_mode: SslMode,
    /// `sslrootcert`: a PEM file's path, or `system`.
    pub(super) root_cert: Option<String>,
}

impl ConnectionString {
    /// Parses a `postgres://` URL or a `key=value` string as libpq does.
    pub(super) fn parse(text: &str) -> Result<ConnectionString, String> {
        let (rest, params) = split_tls_params(text)?;
        let mut ssl_mode = SslMode::Prefer;
        let mut root_cert = None;
        for (key, value) in params {
            match key {
                TlsParam::SslMode => ssl_mode = SslMode::parse(&value)?,
                TlsParam::RootCert => root_cert = Some(value),
            }
        }
        let mut config = tokio_postgres::Config::from_str(&rest).map_err(|err| {
            let mut message = err.to_string();
            let mut cause = std::error::Error::source(&err);
            while let Some(inner) = cause {
                message = format!("{message}: {inner}");
                cause = inner.source();
            }
            message
        })?;
        config.ssl_mode(ssl_mode.negotiation());
        Ok(ConnectionString {
            config,
            ssl_mode,
            root_cert,
        })
    }
}

/// The parameters this module reads itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsParam {
    SslMode,
    RootCert,
}

impl TlsParam {
    fn of(key: &str) -> Option<TlsParam> {
        match key {
            "sslmode" => Some(TlsParam::SslMode),
            "sslrootcert" => Some(TlsParam::RootCert),
            _ => None,
        }
    }
}

type TlsParams = Vec<(TlsParam, String)>;

/// Takes `sslmode` and `sslrootcert` out of the string, leaving the rest for tokio-postgres.
fn split_tls_params(text: &str) -> Result<(String, TlsParams), String> {
    let url = ["postgres://", "postgresql://"]
        .iter()
        .any(|scheme| text.starts_with(scheme));
    if url {
        Ok(split_url(text))
    } else {
        split_key_values(text)
    }
}

/// URL form: the query's `key=value` pairs, percent-decoded. The query starts at the first `?`
/// after the credentials, as tokio-postgres reads them (up to the first `@`).
fn split_url(url: &str) -> (String, TlsParams) {
    let after_credentials = url.find('@').map_or(0, |at| at + 1);
    let Some(question) = url[after_credentials..].find('?') else {
        return (url.to_owned(), Vec::new());
    };
    let (base, query) = url.split_at(after_credentials + question);
    let mut taken = Vec::new();
    let mut kept = Vec::new();
    for pair in query[1..].split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match TlsParam::of(&percent_decode(key)) {
            Some(param) => taken.push((param, percent_decode(value))),
            None => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (rest, taken)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&high), Some(&low)) if hex(high).is_some() && hex(low).is_some() => {
                out.push((hex(high).unwrap_or(0) * 16 + hex(low).unwrap_or(0)) as u8);
                i += 3;
            }
            (byte, ..) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `key=value` form: whitespace-separated pairs, values optionally in single quotes, `\`
/// escaping the next character. The pairs kept are written back quoted.
fn split_key_values(text: &str) -> Result<(String, TlsParams), String> {
    let mut chars = text.chars().peekable();
    let mut taken = Vec::new();
    let mut kept = Vec::new();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut key = String::new();
        while let Some(c) = chars.next_if(|&c| !c.is_whitespace() && c != '=') {
            key.push(c);
        }
        if key.is_empty() {
            if chars.peek().is_some() {
                return Err(format!(
                    "bad connection string: a `=` without a key in `{text}`"
                ));
            }
            break;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(format!("bad connection string: `{key}` has no `=value`"));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let quoted = chars.next_if_eq(&'\'').is_some();
        let mut value = String::new();
        loop {
            match chars.next() {
                Some('\'') if quoted => break,
                Some('\\') => value.extend(chars.next()),
                Some(c) if quoted || !c.is_whitespace() => value.push(c),
                None if quoted => {
                    return Err(format!(
                        "bad connection string: the value of `{key}` has no closing `'`"
                    ));
                }
                _ => break,
            }
        }
        match TlsParam::of(&key) {
            Some(param) => taken.push((param, value)),
            None => kept.push(format!(
                "{key}='{}'",
                value.replace('\\', "\\\\").replace('\'', "\\'")
            )),
        }
    }
    Ok((kept.join(" "), taken))
}

/// `user@host:port/database`, for messages (never the password).
pub(super) fn describe(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("(default user)");
    let database = config.get_dbname().unwrap_or(user);
    format!("postgres://{user}@{host}:{port}/{database}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_only_the_tls_parameters() {
        let parsed = ConnectionString::parse(
            "postgres://bot:p%3Fw@db.example:6432/app?application_name=x&sslmode=verify-full\
             &sslrootcert=%2Fetc%2Fca%20root.pem&connect_timeout=3",
        )
        .unwrap();
        assert_eq!(parsed.ssl_mode, SslMode::VerifyFull);
        assert_eq!(parsed.root_cert.as_deref(), Some("/etc/ca root.pem"));
        assert_eq!(parsed.config.get_application_name(), Some("x"));
        assert_eq!(
            parsed.config.get_connect_timeout(),
            Some(&std::time::Duration::from_secs(3))
        );
        assert_eq!(parsed.config.get_password(), Some(&b"p?w"[..]));
        assert_eq!(
            parsed.config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
    }

    #[test]
    fn a_question_mark_in_the_password_does_not_start_the_query() {
        let (rest, taken) = split_url("postgres://u:a?b@h/d?sslmode=disable");
        assert_eq!(rest, "postgres://u:a?b@h/d");
        assert_eq!(taken, vec![(TlsParam::SslMode, "disable".to_owned())]);
        let (rest, taken) = split_url("postgresql://h/d");
        assert_eq!((rest.as_str(), taken.len()), ("postgresql://h/d", 0));
    }

    #[test]
    fn key_value_strings_keep_their_other_pairs() {
        let parsed = ConnectionString::parse(
            "host=127.0.0.1 port = 5433 user=bot password='it\\'s a b' \
             sslmode=verify-ca sslrootcert='/tmp/my ca.pem' dbname=app",
        )
        .unwrap();
        assert_eq!(parsed.ssl_mode, SslMode::VerifyCa);
        assert_eq!(parsed.root_cert.as_deref(), Some("/tmp/my ca.pem"));
        assert_eq!(parsed.config.get_password(), Some(&b"it's a b"[..]));
        assert_eq!(parsed.config.get_ports(), &[5433]);
        assert_eq!(parsed.config.get_dbname(), Some("app"));
        assert_eq!(
            describe(&parsed.config),
            "postgres://bot@127.0.0.1:5433/app"
        );
    }

    #[test]
    fn sslmode_defaults_to_prefer_and_rejects_what_it_cannot_do() {
        let parsed = ConnectionString::parse("postgres://bot@127.0.0.1/app").unwrap();
        assert_eq!(parsed.ssl_mode, SslMode::Prefer);
        assert_eq!(parsed.root_cert, None);
        let err = ConnectionString::parse("postgres://bot@127.0.0.1/app?sslmode=allow")
            .err()
            .unwrap();
        assert!(err.contains("unsupported sslmode `allow`"), "{err}");
        let err = ConnectionString::parse("host=h password='open")
            .err()
            .unwrap();
        assert!(err.contains("no closing"), "{err}");
        assert!(ConnectionString::parse("postgres://h/d?nonsense=1").is_err());
    }
}
