//! Test support shared by the integration tests.
#![allow(clippy::unwrap_used, clippy::print_stderr, dead_code)]

/// The URL of a fresh, empty PostgreSQL database named `name` on the server of
/// `HOPE_TEST_POSTGRES_URL` (started by `scripts/test`); `None`, with a note, when the variable is
/// not set, which is a failure under `CI=true`.
pub(crate) fn fresh_postgres_database(name: &str) -> Option<String> {
    let Ok(url) = std::env::var("HOPE_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "HOPE_TEST_POSTGRES_URL is not set under CI=true"
        );
        eprintln!("skipped: HOPE_TEST_POSTGRES_URL is not set (scripts/test starts PostgreSQL)");
        return None;
    };
    let mut admin = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
    // Separate statements: DROP/CREATE DATABASE cannot run inside a transaction block.
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    let (base, _) = url.rsplit_once('/').unwrap();
    Some(format!("{base}/{name}"))
}
