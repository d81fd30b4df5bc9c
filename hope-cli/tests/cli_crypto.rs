//! The `hope` command line end to end: `pki init`, three `keyserver` processes, `encrypt`,
//! `decrypt` (with a server down), `keys grant/revoke/show/register`, `keys verify-audit`.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::{Servers, free_ports, hope, ok, pki_init};

#[test]
fn encrypt_decrypt_grant_revoke_through_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let port = free_ports();
    pki_init(dir, port, &["alice:physics", "bob"], &[]);
    let mut servers = Servers::start(dir, "pki", port);

    std::fs::create_dir_all(dir.join("in/series")).unwrap();
    let big: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(dir.join("in/series/slice1.dcm"), &big).unwrap();
    std::fs::write(dir.join("in/notes.txt"), b"no PHI here").unwrap();

    let out = ok(
        dir,
        &[
            "encrypt",
            "--keys",
            "pki/alice.toml",
            "--grant",
            "group:physics",
            "in",
            "enc",
        ],
    );
    assert!(out.contains("encrypted 2 file(s), 0 failed"), "{out}");
    let sealed = std::fs::read(dir.join("enc/series/slice1.dcm.hope")).unwrap();
    assert!(
        !sealed.windows(16).any(|w| w == &big[1000..1016]),
        "plaintext visible in the container"
    );

    servers.stop(1);
    let out = ok(dir, &["decrypt", "--keys", "pki/alice.toml", "enc", "dec"]);
    assert!(out.contains("decrypted 2 file(s), 0 failed"), "{out}");
    assert_eq!(
        std::fs::read(dir.join("dec/series/slice1.dcm")).unwrap(),
        big
    );
    assert_eq!(
        std::fs::read(dir.join("dec/notes.txt")).unwrap(),
        b"no PHI here"
    );

    // Bob has no grant: refused, and nothing is written.
    let refused = hope(
        dir,
        &[
            "decrypt",
            "--keys",
            "pki/bob.toml",
            "enc/notes.txt.hope",
            "bob.txt",
        ],
    );
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("access denied: bob may not get key"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(!dir.join("bob.txt").exists());

    // Grants must reach every server: refused while one is down, fine once it is back.
    assert!(
        !hope(
            dir,
            &[
                "keys",
                "grant",
                "--keys",
                "pki/alice.toml",
                "enc/notes.txt.hope",
                "user:bob"
            ]
        )
        .status
        .success()
    );
    servers.restart(1);

    ok(
        dir,
        &[
            "keys",
            "grant",
            "--keys",
            "pki/alice.toml",
            "enc/notes.txt.hope",
            "user:bob",
        ],
    );
    let shown = ok(
        dir,
        &[
            "keys",
            "show",
            "--keys",
            "pki/alice.toml",
            "enc/notes.txt.hope",
        ],
    );
    assert!(
        shown.matches("owner alice").count() == 3 && shown.matches("user:bob").count() == 3,
        "{shown}"
    );
    ok(
        dir,
        &[
            "decrypt",
            "--keys",
            "pki/bob.toml",
            "enc/notes.txt.hope",
            "bob.txt",
        ],
    );
    assert_eq!(std::fs::read(dir.join("bob.txt")).unwrap(), b"no PHI here");
    ok(
        dir,
        &[
            "keys",
            "revoke",
            "--keys",
            "pki/alice.toml",
            "enc/notes.txt.hope",
            "user:bob",
        ],
    );
    assert!(
        !hope(
            dir,
            &[
                "decrypt",
                "--keys",
                "pki/bob.toml",
                "enc/notes.txt.hope",
                "bob2.txt"
            ]
        )
        .status
        .success()
    );

    // The object id travels in the header (keyed): a renamed file decrypts under its new name,
    // and is refused only when the caller expects another object.
    std::fs::create_dir_all(dir.join("moved")).unwrap();
    std::fs::copy(
        dir.join("enc/notes.txt.hope"),
        dir.join("moved/other.txt.hope"),
    )
    .unwrap();
    ok(
        dir,
        &["decrypt", "--keys", "pki/alice.toml", "moved", "moved-out"],
    );
    assert_eq!(
        std::fs::read(dir.join("moved-out/other.txt")).unwrap(),
        b"no PHI here"
    );
    assert!(
        !hope(
            dir,
            &[
                "decrypt",
                "--keys",
                "pki/alice.toml",
                "--object-id",
                "series/slice1.dcm",
                "moved/other.txt.hope",
                "m.txt",
            ]
        )
        .status
        .success()
    );
    ok(
        dir,
        &[
            "decrypt",
            "--keys",
            "pki/alice.toml",
            "--object-id",
            "notes.txt",
            "moved/other.txt.hope",
            "m.txt",
        ],
    );
    // The finding of the security review, exactly: one file in, any name out.
    std::fs::write(dir.join("single.dcm"), b"one file").unwrap();
    ok(
        dir,
        &[
            "encrypt",
            "--keys",
            "pki/alice.toml",
            "single.dcm",
            "OUT.hope",
        ],
    );
    ok(
        dir,
        &["decrypt", "--keys", "pki/alice.toml", "OUT.hope", "X"],
    );
    assert_eq!(std::fs::read(dir.join("X")).unwrap(), b"one file");

    // A key server loses its disk: the owner re-shares, in two phases, keeping the grants.
    servers.stop(2);
    std::fs::remove_dir_all(dir.join("pki/server2/shares")).unwrap();
    servers.restart(2);
    let reshared = ok(
        dir,
        &["keys", "register", "--keys", "pki/alice.toml", "OUT.hope"],
    );
    assert!(reshared.contains("generation 2"), "{reshared}");
    servers.stop(0);
    ok(
        dir,
        &["decrypt", "--keys", "pki/alice.toml", "OUT.hope", "Y"],
    );
    assert_eq!(std::fs::read(dir.join("Y")).unwrap(), b"one file");
    servers.restart(0);

    let audit = ok(dir, &["keys", "verify-audit", "pki/server0/audit.jsonl"]);
    assert!(audit.contains("chain intact"), "{audit}");
    let log = std::fs::read_to_string(dir.join("pki/server0/audit.jsonl")).unwrap();
    std::fs::write(
        dir.join("edited.jsonl"),
        log.replacen("\"alice\"", "\"mallory\"", 1),
    )
    .unwrap();
    let edited = hope(
        dir,
        &[
            "keys",
            "verify-audit",
            "--key",
            "pki/server0/audit.jsonl.key",
            "edited.jsonl",
        ],
    );
    assert!(!edited.status.success());
    assert!(
        String::from_utf8_lossy(&edited.stderr).contains("does not match its MAC"),
        "{}",
        String::from_utf8_lossy(&edited.stderr)
    );
}

/// Issue 20: operational logging through `tracing` on stderr, apart from the audit log. A key
/// server says that it serves (information, its default) and audits a refused connection as a
/// warning naming who and what, never the audit detail; `-q` leaves errors only; `RUST_LOG`
/// overrides.
#[test]
fn a_key_server_logs_what_it_does_on_stderr_at_the_level_asked() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let port = free_ports();
    ok(
        dir,
        &[
            "pki",
            "init",
            "pki",
            "--base-port",
            &port.to_string(),
            "--user",
            "alice",
        ],
    );
    let run = |flags: &[&str], env: Option<&str>| -> String {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hope"));
        cmd.current_dir(dir)
            .args(flags)
            .args(["keyserver", "--config", "pki/server0/server.toml"])
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(v) = env {
            cmd.env("RUST_LOG", v);
        }
        let mut child = cmd.spawn().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the key server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        // A plain TCP connection that is not TLS: refused, audited, logged.
        drop(std::net::TcpStream::connect(("127.0.0.1", port)).unwrap());
        std::thread::sleep(std::time::Duration::from_millis(500));
        let _ = child.kill();
        let _ = child.wait();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        err
    };
    let default = run(&[], None);
    assert!(default.contains("serving"), "{default}");
    assert!(
        default.contains("audited") && default.contains("action=\"start\""),
        "{default}"
    );
    let quiet = run(&["-q"], None);
    assert!(
        !quiet.contains("serving") && !quiet.contains("audited"),
        "{quiet}"
    );
    let debug = run(&[], Some("hope_service=debug"));
    assert!(debug.contains("connection accepted"), "{debug}");
}

/// Attack round of issue 20: `pki init` wrote user names unchecked into TOML strings and file
/// names: a quote forged configuration, a `/` wrote outside the folder.
#[test]
fn attack_20_pki_init_takes_plain_names_only() {
    let tmp = tempfile::tempdir().unwrap();
    for bad in [
        "al\"ice",
        "../escape",
        "bob:phys ics",
        "eve\nadmin",
        ".hidden",
        "x:",
    ] {
        let o = common::hope(
            tmp.path(),
            &["pki", "init", "pki", "--user", bad, "--user", "carol"],
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.contains("not a plain name"),
            "{bad:?}: {err}"
        );
    }
    assert!(!tmp.path().join("escape.pem").exists());
    assert!(
        !tmp.path().join("pki").exists(),
        "nothing written for a refused name"
    );
}
