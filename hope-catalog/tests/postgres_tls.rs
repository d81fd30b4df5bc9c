//! PostgreSQL over TLS (issue 21): with the CA of the server's certificate every connection is
//! TLS and verified; a server whose certificate another CA issued is refused; without a CA an
//! `sslmode=require` URL is refused rather than left unverified; the pool never opens more than
//! its maximum, and callers beyond it wait their turn.
//!
//! The server and its CA come from `HOPE_TEST_POSTGRES_URL` and `HOPE_TEST_POSTGRES_TLS_CA`
//! (`scripts/test` starts PostgreSQL with TLS); skipped without them, a failure under `CI=true`.
#![allow(clippy::unwrap_used, clippy::print_stderr, missing_docs)]

mod common;

use hope_catalog::backend::PostgresOptions;
use hope_catalog::{Catalog, Error, Principal};

fn server() -> Option<(String, std::path::PathBuf)> {
    let url = common::fresh_postgres_database(&format!("hope_tls_{}", std::process::id()))?;
    let Ok(ca) = std::env::var("HOPE_TEST_POSTGRES_TLS_CA") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "HOPE_TEST_POSTGRES_TLS_CA is not set under CI=true"
        );
        eprintln!("skipped: HOPE_TEST_POSTGRES_TLS_CA is not set");
        return None;
    };
    Some((url, ca.into()))
}

/// The number of TLS connections of this database, as the server sees them.
fn tls_connections(url: &str) -> i64 {
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    c.query_one(
        "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE s.ssl AND a.datname = current_database()",
        &[],
    )
    .unwrap()
    .get(0)
}

#[test]
fn connections_are_tls_verified_and_bounded() {
    let Some((url, ca)) = server() else { return };
    let options = PostgresOptions {
        ca: Some(ca),
        max_connections: 2,
    };
    let cat = Catalog::open_postgres_with(&url, &options).unwrap();
    let a = Principal::user("admin");
    cat.init(&a).unwrap();
    cat.mkdir(&a, "/t").unwrap();
    assert!(tls_connections(&url) >= 1);
    // Eight threads on a pool of two: all get through, no more than two connections open.
    std::thread::scope(|s| {
        for i in 0..8 {
            let (cat, a) = (&cat, &a);
            s.spawn(move || {
                for j in 0..10 {
                    cat.mkdir(a, &format!("/t/c{i}-{j}")).unwrap();
                }
            });
        }
    });
    assert_eq!(cat.list(&a, "/t").unwrap().len(), 80);
    let open = tls_connections(&url);
    assert!((1..=2).contains(&open), "{open} TLS connections");

    // A server certificate from another CA: refused.
    let dir = tempfile::tempdir().unwrap();
    let other = hope_crypto::pki::TestPki::new("another CA").unwrap();
    let other_ca = dir.path().join("other.pem");
    std::fs::write(&other_ca, other.ca_pem()).unwrap();
    let err = Catalog::open_postgres_with(
        &url,
        &PostgresOptions {
            ca: Some(other_ca),
            max_connections: 1,
        },
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::Backend { message, .. } if message.contains("cannot connect")),
        "{err}"
    );
    let chain = format!("{:?}", std::error::Error::source(&err));
    assert!(chain.to_lowercase().contains("certificate"), "{chain}");
    // A URL that asks for TLS without a CA to verify it: refused, not connected unverified.
    let err = Catalog::open_postgres(&format!("{url}?sslmode=require")).unwrap_err();
    assert!(err.to_string().contains("give the CA"), "{err}");
}
