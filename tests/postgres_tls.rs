//! PostgreSQL over TLS: each `sslmode`, the CA from the URL or the builder, and the errors a
//! wrong CA or a wrong host name give. Needs the TLS server `scripts/services.sh` starts
//! (`BOT_SESSION_POSTGRES_TLS_URL`, `BOT_SESSION_POSTGRES_TLS_CA`); the whole storage
//! conformance suite also runs over TLS (`tests/storage_conformance.rs`).
#![cfg(feature = "postgres")]

mod support;

use bot_session::storage::PostgresStorage;
use bot_session::{Storage, StorageError, StorageErrorKind, StorageOp};
use support::postgres::{UNRELATED_CA, tls, with_param};

/// Whether the store's own connection is encrypted, as the server sees it.
async fn encrypted(store: &PostgresStorage) -> bool {
    // The store's backend is the one whose last statement names its table.
    let key = support::unique("tls_probe");
    store.write(&key, b"x", None).await.unwrap();
    let plain = support::postgres::plain_url().expect("the plain server of the TLS one");
    let (client, connection) = tokio_postgres::connect(&plain, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.application_name = 'bot-session' AND a.query LIKE '%' || $1 || '%'",
            &[&store.table()],
        )
        .await
        .unwrap();
    row.get::<_, Option<bool>>(0)
        .expect("no backend of the store found")
}

/// A store of a fresh table at `url`, dropped with the guard.
async fn connect(
    url: &str,
    ca: Option<&[u8]>,
) -> Result<(PostgresStorage, support::postgres::TempTable), StorageError> {
    let table = support::unique("tls");
    let mut builder = PostgresStorage::builder(url)
        .table(table.clone())
        .sweep_every(None)
        .connect_timeout(std::time::Duration::from_secs(5));
    if let Some(ca) = ca {
        builder = builder.ca_certificate(ca.to_vec());
    }
    let guard = support::postgres::TempTable::new(table);
    Ok((builder.connect().await?, guard))
}

fn assert_refused(err: &StorageError, expected: &str) {
    let message = err.to_string();
    assert_eq!(
        (err.store(), err.op()),
        ("postgres", StorageOp::Open),
        "{message}"
    );
    assert_eq!(err.kind(), StorageErrorKind::Invalid, "{message}");
    assert!(message.contains("127.0.0.1:"), "names no server: {message}");
    assert!(message.contains(expected), "{message}");
}

#[tokio::test]
async fn verify_full_with_the_ca_in_the_url_or_the_builder() {
    let Some((url, ca)) = tls() else {
        return;
    };
    let (store, _drop) = connect(&with_param(&url, "sslrootcert", &ca), None)
        .await
        .unwrap();
    store.write("k", b"over tls", None).await.unwrap();
    assert_eq!(
        store.read("k").await.unwrap().as_deref(),
        Some(&b"over tls"[..])
    );
    assert!(encrypted(&store).await);

    let pem = std::fs::read(&ca).unwrap();
    let (store, _drop) = connect(&url, Some(&pem)).await.unwrap();
    assert!(encrypted(&store).await);
}

#[tokio::test]
async fn a_ca_that_did_not_sign_the_certificate_is_refused_by_name() {
    let Some((url, _)) = tls() else {
        return;
    };
    let err = connect(&url, Some(UNRELATED_CA)).await.err().unwrap();
    assert_refused(&err, "the server's certificate was refused (UnknownIssuer)");
    // Without any CA, verify-full falls back to the system's roots, which do not know it.
    let err = connect(&url, None).await.err().unwrap();
    assert_refused(&err, "UnknownIssuer");
    // The builder's CA wins over the URL's.
    let (_, ca) = tls().unwrap();
    let err = connect(&with_param(&url, "sslrootcert", &ca), Some(UNRELATED_CA))
        .await
        .err()
        .unwrap();
    assert_refused(&err, "UnknownIssuer");
}

/// The certificate names 127.0.0.1 and localhost: reached under another name (the same
/// address through `hostaddr`), verify-full refuses it and verify-ca accepts it.
#[tokio::test]
async fn verify_full_checks_the_host_name_and_verify_ca_does_not() {
    let Some((url, ca)) = tls() else {
        return;
    };
    let port = url
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .unwrap();
    let other_name = format!(
        "postgres://bot:bot@db.invalid:{port}/bot_session?hostaddr=127.0.0.1&sslrootcert={ca}"
    );
    let err = connect(&with_param(&other_name, "sslmode", "verify-full"), None)
        .await
        .err()
        .unwrap();
    let message = err.to_string();
    assert_eq!(err.kind(), StorageErrorKind::Invalid, "{message}");
    assert!(message.contains("db.invalid"), "{message}");
    assert!(
        message.contains(
            "certificate is for another host (certificate not valid for name \"db.invalid\""
        ),
        "{message}"
    );

    let (store, _drop) = connect(&with_param(&other_name, "sslmode", "verify-ca"), None)
        .await
        .unwrap();
    assert!(encrypted(&store).await);
}

#[tokio::test]
async fn require_and_prefer_encrypt_and_disable_does_not() {
    let Some((url, _)) = tls() else {
        return;
    };
    let base = url.split_once('?').map_or(url.as_str(), |(base, _)| base);
    for (mode, expect_tls) in [("require", true), ("prefer", true), ("disable", false)] {
        // Without a CA nothing is verified, so the unknown issuer does not matter.
        let (store, _drop) = connect(&with_param(base, "sslmode", mode), None)
            .await
            .unwrap_or_else(|err| panic!("sslmode={mode}: {err}"));
        assert_eq!(encrypted(&store).await, expect_tls, "sslmode={mode}");
    }
    // With a CA, require checks the signature (as libpq does).
    let err = connect(&with_param(base, "sslmode", "require"), Some(UNRELATED_CA))
        .await
        .err()
        .unwrap();
    assert_refused(&err, "UnknownIssuer");
}

#[tokio::test]
async fn a_missing_ca_file_or_an_unknown_sslmode_fails_before_connecting() {
    let err = PostgresStorage::connect(
        "postgres://bot@127.0.0.1:1/none?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), StorageErrorKind::Invalid, "{err}");
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    let err = PostgresStorage::builder("postgres://bot@127.0.0.1:1/none?sslmode=verify-full")
        .ca_certificate(b"not a certificate".to_vec())
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StorageErrorKind::Invalid, "{err}");
    assert!(
        err.to_string().contains("no usable CA certificate"),
        "{err}"
    );
    let err = PostgresStorage::connect("postgres://bot@127.0.0.1:1/none?sslmode=allow")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StorageErrorKind::Invalid, "{err}");
    assert!(
        err.to_string().contains("unsupported sslmode `allow`"),
        "{err}"
    );
}
