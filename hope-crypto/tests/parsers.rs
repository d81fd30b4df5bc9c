//! Every parser of outside input in hope-crypto, fed arbitrary input: a value or an error, never a
//! panic (configuration files, container headers, key ids, audit logs). The HTTP subset and the
//! key server's request bodies are covered by the property tests beside them (`http`, `server`).
#![allow(clippy::unwrap_used)]

use hope_crypto::audit::{AuditKey, verify};
use hope_crypto::container::Header;
use hope_crypto::{ClientSettings, KeyId, ServerSettings};
use proptest::prelude::*;

/// Text that looks like TOML often enough to reach the field checks.
fn tomlish() -> impl Strategy<Value = String> {
    let keys = prop::sample::select(vec![
        "listen",
        "cert",
        "key",
        "ca",
        "crl",
        "storage",
        "audit_log",
        "audit_key",
        "threshold",
        "timeout_ms",
        "max_connections",
        "servers",
        "address",
        "server_name",
        "request_timeout_ms",
        "[[servers]]",
        "bogus",
    ]);
    let values = prop::sample::select(vec![
        "\"x\"",
        "1",
        "-1",
        "99999999999999999999",
        "[]",
        "true",
        "\"\"",
        "{ a = 1 }",
        "\"127.0.0.1:0\"",
    ]);
    (
        prop::collection::vec((keys, values), 0..12),
        any::<Vec<u8>>(),
    )
        .prop_map(|(pairs, junk)| {
            let mut t = hope_test_support::toml_lines(pairs);
            t.push_str(&String::from_utf8_lossy(&junk));
            t
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn configuration_files_never_panic(text in tomlish()) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, &text).unwrap();
        let _ = ServerSettings::from_file(&p);
        if let Ok(s) = ClientSettings::from_file(&p) {
            // A client made from it may fail (no certificates there), never panic.
            let _ = hope_crypto::KeyClient::from_settings(&s);
        }
    }

    #[test]
    fn headers_and_key_ids_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200), text in ".{0,40}") {
        if let Ok(h) = Header::read_from(&bytes[..]) {
            prop_assert_eq!(Header::from_bytes(&h.to_bytes()).unwrap(), h);
        }
        let _ = text.parse::<KeyId>();
    }

    #[test]
    fn audit_logs_never_panic(lines in prop::collection::vec(".{0,300}", 0..8), torn in ".{0,40}") {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        let mut text = lines.join("\n");
        text.push('\n');
        text.push_str(&torn);
        std::fs::write(&p, text).unwrap();
        let key = AuditKey::from_bytes([1; 32]);
        let _ = verify(&p, &key);
        let _ = hope_crypto::audit::AuditLog::open(&p, key);
    }
}
