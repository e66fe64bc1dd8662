//! TLS to the server through rustls (the `ring` provider), as the connection string's
//! `sslmode` and `sslrootcert` or the builder's CA certificate ask.
//!
//! tokio-postgres decides whether to ask the server for TLS (`sslmode`: never with `disable`,
//! when offered with `prefer`, always with `require` and stricter); this module decides what
//! a certificate must prove, as libpq does: with a CA certificate, that it is signed by that CA
//! (`prefer`, `require`, `verify-ca`) and also names the host connected to (`verify-full`);
//! without one, nothing (`prefer`, `require`) or that the system trusts it (`verify-ca`,
//! `verify-full`).

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};

use super::config::SslMode;

/// What the server's certificate must prove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verify {
    /// Nothing: the connection is encrypted, but a server in the middle would go unnoticed.
    Nothing,
    /// Signed by a trusted CA (`verify-ca`, or a CA certificate given with `prefer`/`require`).
    Chain,
    /// Signed by a trusted CA and issued for the host connected to (`verify-full`).
    ChainAndHost,
}

/// Where the trusted CA certificates come from.
#[derive(Clone, PartialEq, Eq)]
enum Roots {
    /// PEM text (one or more certificates), and where it came from, for messages.
    Pem { pem: Vec<u8>, origin: String },
    /// The operating system's store (`sslrootcert=system`, or no CA certificate given for
    /// `verify-ca`/`verify-full`).
    System,
}

impl fmt::Debug for Roots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Roots::Pem { origin, .. } => write!(f, "{origin}"),
            Roots::System => f.write_str("the system's root certificates"),
        }
    }
}

/// A TLS set-up that could not be made: no usable CA certificate.
#[derive(Debug)]
pub(super) struct TlsSetupError(String);

impl fmt::Display for TlsSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsSetupError {}

/// The TLS connector for every connection of a store: what `sslmode` asks of the server's
/// certificate, against the CA certificate given to the builder (`ca_certificate`, first) or
/// named by the connection string's `sslrootcert` (a PEM file, or `system`).
pub(super) fn connector(
    ssl_mode: SslMode,
    root_cert: Option<&str>,
    ca_certificate: Option<&[u8]>,
) -> Result<RustlsConnect, TlsSetupError> {
    let roots = match (ca_certificate, root_cert) {
        (Some(pem), _) => Some(Roots::Pem {
            pem: pem.to_vec(),
            origin: "the CA certificate given to `PostgresBuilder::ca_certificate`".to_owned(),
        }),
        (None, Some("system")) => Some(Roots::System),
        (None, Some(path)) => Some(Roots::Pem {
            pem: std::fs::read(path).map_err(|err| {
                TlsSetupError(format!(
                    "cannot read the CA certificate `{path}` (sslrootcert): {err}"
                ))
            })?,
            origin: format!("the CA certificate `{path}` (sslrootcert)"),
        }),
        (None, None) => None,
    };
    let verify = match (ssl_mode, &roots) {
        (SslMode::Disable, _) | (SslMode::Prefer | SslMode::Require, None) => Verify::Nothing,
        (SslMode::Prefer | SslMode::Require | SslMode::VerifyCa, _) => Verify::Chain,
        (SslMode::VerifyFull, _) => Verify::ChainAndHost,
    };
    Ok(RustlsConnect {
        config: client_config(verify, roots.as_ref())?,
    })
}

/// The rustls configuration every connection of a store shares.
fn client_config(
    verify: Verify,
    roots: Option<&Roots>,
) -> Result<Arc<ClientConfig>, TlsSetupError> {
    // Deprecated since rustls 0.23.48 for lacking post-quantum key exchange, which only
    // aws-lc-rs offers: ring is kept because it builds with a C compiler alone.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = match verify {
        Verify::Nothing => None,
        Verify::Chain | Verify::ChainAndHost => {
            let roots = root_store(roots.unwrap_or(&Roots::System))?;
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                    .build()
                    .map_err(|err| TlsSetupError(format!("cannot verify certificates: {err}")))?;
            Some(webpki)
        }
    };
    let verifier = Arc::new(LibpqVerifier {
        chain,
        check_host: verify == Verify::ChainAndHost,
        algorithms: provider.signature_verification_algorithms,
    });
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| TlsSetupError(format!("cannot set up TLS: {err}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn root_store(roots: &Roots) -> Result<RootCertStore, TlsSetupError> {
    let mut store = RootCertStore::empty();
    match roots {
        Roots::Pem { pem, origin } => {
            let certificates = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|err| {
                    TlsSetupError(format!("{origin} is not a PEM certificate file: {err}"))
                })?;
            let (added, _) = store.add_parsable_certificates(certificates);
            if added == 0 {
                return Err(TlsSetupError(format!(
                    "{origin} holds no usable CA certificate (expected PEM: -----BEGIN CERTIFICATE-----)"
                )));
            }
        }
        Roots::System => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                return Err(TlsSetupError(
                    "no CA certificate to verify the server with: the system has no root \
                     certificates; give the server's CA with `sslrootcert=PATH` in the URL or \
                     `PostgresBuilder::ca_certificate`"
                        .to_owned(),
                ));
            }
        }
    }
    Ok(store)
}

/// Checks a certificate as `sslmode` asks (see [`Verify`]); whatever it checks of the
/// certificate, the handshake's signatures are always checked, so the server holds the
/// certificate's key.
#[derive(Debug)]
struct LibpqVerifier {
    /// The trusted CAs' verifier; `None`: the certificate is not checked.
    chain: Option<Arc<WebPkiServerVerifier>>,
    /// Whether the certificate must name the host (`verify-full`). webpki checks the chain
    /// before the name, so a certificate refused only for its name has a trusted chain.
    check_host: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for LibpqVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_host => Ok(ServerCertVerified::assertion()),
            checked => checked,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// tokio-postgres's TLS hook over tokio-rustls: used for every connection, since
/// tokio-postgres itself skips TLS when `sslmode=disable` or the server declines it.
#[derive(Clone)]
pub(super) struct RustlsConnect {
    config: Arc<ClientConfig>,
}

impl<S> MakeTlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsHandshake;
    type Error = TlsFailure;

    fn make_tls_connect(&mut self, host: &str) -> Result<RustlsHandshake, TlsFailure> {
        let name = ServerName::try_from(host.to_owned()).map_err(|err| TlsFailure {
            message: format!("`{host}` cannot be checked against a certificate: {err}"),
            refused: true,
        })?;
        Ok(RustlsHandshake {
            config: Arc::clone(&self.config),
            name,
        })
    }
}

/// One connection's TLS handshake, for the host it connects to.
pub(super) struct RustlsHandshake {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl<S> TlsConnect<S> for RustlsHandshake
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = TlsFailure;
    type Future = Pin<Box<dyn Future<Output = Result<RustlsStream<S>, TlsFailure>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        let connector = tokio_rustls::TlsConnector::from(self.config);
        Box::pin(async move {
            connector
                .connect(self.name, stream)
                .await
                .map(RustlsStream)
                .map_err(TlsFailure::from_handshake)
        })
    }
}

/// A handshake that failed, with what to check.
#[derive(Debug)]
pub(super) struct TlsFailure {
    message: String,
    /// The certificate or the host name was refused: a matter of configuration, which
    /// retrying does not fix (rather than a connection that broke during the handshake).
    pub(super) refused: bool,
}

impl TlsFailure {
    fn from_handshake(err: io::Error) -> TlsFailure {
        let rustls = err
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        match rustls {
            Some(rustls::Error::InvalidCertificate(
                cause @ (CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. }),
            )) => TlsFailure {
                message: format!(
                    "the server's certificate is for another host ({cause}): connect with a host \
                     name the certificate names, or use sslmode=verify-ca to check only the CA's \
                     signature"
                ),
                refused: true,
            },
            Some(rustls::Error::InvalidCertificate(cause)) => TlsFailure {
                message: format!(
                    "the server's certificate was refused ({cause:?}): check that the CA \
                     certificate (`sslrootcert` in the URL, or `PostgresBuilder::ca_certificate`) \
                     is the one that signed the server's"
                ),
                refused: true,
            },
            Some(other) => TlsFailure {
                message: format!("TLS failed: {other}"),
                refused: true,
            },
            None => TlsFailure {
                message: format!("TLS failed: {err}"),
                refused: false,
            },
        }
    }
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TlsFailure {}

/// A TLS stream as tokio-postgres wants it.
pub(super) struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for RustlsStream<S> {
    /// No `tls-server-end-point` binding: SCRAM authentication goes without channel binding
    /// (tokio-postgres's default `channel_binding=prefer` allows it).
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}
