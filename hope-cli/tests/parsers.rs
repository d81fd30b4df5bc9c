//! The configuration files a user hands the tools (gateway and its clients, de-identification
//! recipes, simulation files), fed arbitrary text: a value or an error naming the file, never a
//! panic.
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
        let mut t = hope_test_support::toml_lines(pairs);
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

/// Issue 27 item 9: files named by users and operators (configurations, certificates, keys,
/// CRLs, the gateway's project key, recipes, simulation files) set to `/dev/zero` or a FIFO read
/// forever or hung; each is now refused at once, naming the path.
#[cfg(unix)]
#[test]
fn item_09_named_files_that_are_devices_or_fifos_are_refused_at_once() {
    use std::path::Path;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    let mut hostile = vec![Path::new("/dev/zero").to_path_buf()];
    if made.is_ok_and(|s| s.success()) {
        hostile.push(fifo.clone());
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let paths = hostile.clone();
    std::thread::spawn(move || {
        let mut errors = Vec::new();
        for p in &paths {
            let p = p.as_path();
            errors.push(format!(
                "{}",
                hope::service::tls::load_certs(p).unwrap_err()
            ));
            errors.push(format!("{}", hope::service::tls::load_key(p).unwrap_err()));
            errors.push(format!(
                "{:#}",
                anyhow::Error::new(hope::service::tls::load_crls(p).unwrap_err())
            ));
            errors.push(format!(
                "{:#}",
                anyhow::Error::new(hope::crypto::ClientSettings::from_file(p).unwrap_err())
            ));
            errors.push(format!(
                "{:#}",
                anyhow::Error::new(hope::crypto::ServerSettings::from_file(p).unwrap_err())
            ));
            errors.push(format!(
                "{:#}",
                anyhow::Error::new(hope::service::audit::AuditKey::load_or_create(p).unwrap_err())
            ));
            errors.push(format!(
                "{:#}",
                anyhow::Error::new(hope::gateway::GatewaySettings::from_file(p).unwrap_err())
            ));
            errors.push(format!(
                "{:#}",
                anyhow::Error::new(hope::gateway::GatewayClientSettings::from_file(p).unwrap_err())
            ));
            errors.push(format!(
                "{:#}",
                anyhow::Error::new(hope::dicom::deid::Recipe::from_file(p).unwrap_err())
            ));
            errors.push(format!(
                "{:#}",
                anyhow::Error::new(hope::mc::Simulation::from_file(p).unwrap_err())
            ));
        }
        let _ = tx.send(errors);
    });
    let errors = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("a reader hung on a device or FIFO");
    for e in errors {
        assert!(e.contains("not a regular file"), "{e}");
    }
    // The gateway's project key named in a configuration.
    let gw = dir.path().join("gw.toml");
    std::fs::write(
        &gw,
        "listen = \"127.0.0.1:0\"\ncert = \"c.pem\"\nkey = \"c.key\"\nca = \"ca.pem\"\naudit_log = \"a\"\nindex = \"i\"\nwork_dir = \"w\"\nproject_key = \"/dev/zero\"\nkey_servers = \"k.toml\"\nreaders = [\"user:a\"]\n[pacs]\naddress = \"127.0.0.1:104\"\nae_title = \"PACS\"\n",
    )
    .unwrap();
    let e = format!(
        "{:#}",
        anyhow::Error::new(hope::gateway::GatewaySettings::from_file(&gw).unwrap_err())
    );
    assert!(
        e.contains("/dev/zero") && e.contains("not a regular file"),
        "{e}"
    );
}
