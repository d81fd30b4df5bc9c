//! The configuration files a user hands the tools (gateway and its clients, de-identification
//! recipes, simulation files), fed arbitrary text: a value or an error naming the file, never a
//! panic.
#![cfg(feature = "gateway")]
#![allow(clippy::unwrap_used, missing_docs)]

use proptest::prelude::*;

fn tomlish() -> impl Strategy<Value = String> {
    let keys = prop::sample::select(vec![
        "listen",
        "cert",
        "key",
        "ca",
        "audit_log",
        "index",
        "work_dir",
        "project_key",
        "key_servers",
        "readers",
        "admins",
        "grants",
        "options",
        "key_scope",
        "threads",
        "address",
        "server_name",
        "timeout_ms",
        "[pacs]",
        "[dicomweb]",
        "[expose]",
        "[tags]",
        "[[redact]]",
        "[ocr]",
        "policy",
        "rects",
        "modality",
        "[source]",
        "[phantom]",
        "energy_kev",
        "histories",
        "seed",
        "PatientID",
        "bogus",
    ]);
    let values = prop::sample::select(vec![
        "\"x\"",
        "1",
        "-1",
        "1e400",
        "[]",
        "[\"group:a\"]",
        "true",
        "\"\"",
        "{ a = 1 }",
        "\"127.0.0.1:0\"",
        "[{ x = 1, y = 2, width = 3, height = 4 }]",
        "\"redact\"",
    ]);
    (prop::collection::vec((keys, values), 0..14), ".{0,40}").prop_map(|(pairs, tail)| {
        let mut t: String = pairs
            .into_iter()
            .map(|(k, v)| {
                if k.starts_with('[') {
                    format!("{k}\n")
                } else {
                    format!("{k} = {v}\n")
                }
            })
            .collect();
        t.push_str(&tail);
        t
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn configuration_files_never_panic(text in tomlish()) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("project.key"), "ab".repeat(32)).unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, &text).unwrap();
        if let Err(e) = hope::gateway::GatewaySettings::from_file(&p) {
            let m = e.to_string();
            prop_assert!(m.contains("c.toml") || m.contains("I/O") || m.contains(".key") || m.contains(".pem"), "{}", m);
        }
        let _ = hope::gateway::GatewayClientSettings::from_file(&p);
        let _ = hope::dicom::deid::Recipe::from_file(&p);
        let _ = hope::mc::Simulation::from_file(&p);
        let j = dir.path().join("c.json");
        std::fs::write(&j, &text).unwrap();
        let _ = hope::dicom::deid::Recipe::from_file(&j);
    }
}
