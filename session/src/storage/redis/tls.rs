//! TLS (`rediss://`): rustls with the ring provider, trusting the CA certificate the builder
//! was given, or else the system's trust store (where `SSL_CERT_FILE` and `SSL_CERT_DIR` are
//! honoured).

use std::path::PathBuf;

use redis::TlsCertificates;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// The CA a server's certificate must chain to, as [`super::RedisBuilder`] was given it.
#[derive(Debug, Clone)]
pub(super) enum CaCertificate {
    File(PathBuf),
    Pem(Vec<u8>),
}

impl CaCertificate {
    /// The certificates for redis-rs, checked: readable, PEM, at least one certificate.
    pub(super) fn certificates(&self) -> Result<TlsCertificates, String> {
        let (pem, source) = match self {
            CaCertificate::File(path) => (
                std::fs::read(path).map_err(|err| {
                    format!(
                        "could not read the CA certificate `{}`: {err}",
                        path.display()
                    )
                })?,
                format!("the CA certificate file `{}`", path.display()),
            ),
            CaCertificate::Pem(pem) => (pem.clone(), "the CA certificate given".to_owned()),
        };
        let mut count = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            cert.map_err(|err| format!("{source} is not valid PEM: {err}"))?;
            count += 1;
        }
        if count == 0 {
            return Err(format!(
                "{source} holds no certificate (expected `-----BEGIN CERTIFICATE-----` blocks)"
            ));
        }
        Ok(TlsCertificates {
            client_tls: None,
            root_cert: Some(pem),
        })
    }
}

/// Makes ring rustls's process-wide provider unless the program installed one: redis-rs
/// builds its TLS configuration from that default, and a program whose other dependencies
/// enable a second provider (aws-lc-rs) would have none chosen otherwise.
pub(super) fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Deprecated since rustls 0.23.48 for lacking post-quantum key exchange, which only
        // aws-lc-rs offers: ring is kept because it builds with a C compiler alone, and a
        // program that wants post-quantum installs aws-lc-rs as the default, used above.
        #[allow(deprecated)]
        let ring = rustls::crypto::ring::default_provider();
        // Losing a race with another thread installing one is fine: one is installed.
        let _ = ring.install_default();
    }
}

/// Whether `message`, a failed connection's, is about the server's certificate.
pub(super) fn is_certificate_error(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("certificate") || message.contains("unknownissuer")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_that_is_not_pem_or_missing_is_refused_with_its_source() {
        let missing = CaCertificate::File(PathBuf::from("/nonexistent/ca.crt"));
        let err = missing.certificates().unwrap_err();
        assert!(err.contains("/nonexistent/ca.crt"), "{err}");
        let err = CaCertificate::Pem(b"not a certificate".to_vec())
            .certificates()
            .unwrap_err();
        assert!(err.contains("no certificate"), "{err}");
    }
}
