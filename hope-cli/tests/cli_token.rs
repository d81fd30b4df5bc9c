//! `hope pki init --token-user`: a user enrolled on a smart card (SoftHSM2, set up by
//! `scripts/test`) encrypts and decrypts through the key servers with the configuration the
//! command wrote, whose key is a `pkcs11:` URI; no key file is ever written for that user.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Servers, free_ports, hope, ok, pki_init};

#[test]
fn a_user_enrolled_on_a_token_decrypts_with_two_of_three_servers() {
    let Some(card) = hope_test_support::pkcs11::token("hope-cli", "8642") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let port = free_ports();
    let token = format!("pkcs11:token={}", card.label);
    let module = card.module.display().to_string();
    let pin_file = card.pin_file.display().to_string();
    let card_flags = [
        "--token",
        &token,
        "--pkcs11-module",
        &module,
        "--pin-file",
        &pin_file,
    ];
    pki_init(
        dir,
        port,
        &["alice:physics"],
        &[&["--token-user", "carol:physics"][..], &card_flags].concat(),
    );
    assert!(
        !dir.join("pki/carol.key").exists(),
        "a key file for the card holder"
    );
    let config = std::fs::read_to_string(dir.join("pki/carol.toml")).unwrap();
    assert!(
        config.contains(&format!(
            "key = \"pkcs11:token={};object=carol;id=%63%61%72%6F%6C;type=private\"",
            card.label
        )),
        "{config}"
    );
    assert!(
        config.contains("pkcs11_module") && config.contains("pin_file"),
        "{config}"
    );

    let mut servers = Servers::start(dir, "pki", port);
    std::fs::create_dir_all(dir.join("in")).unwrap();
    std::fs::write(dir.join("in/dose.txt"), b"a dose grid").unwrap();
    // Alice grants carol (whose card she never sees) the key of her file.
    let grant = [
        "encrypt",
        "--grant",
        "user:carol",
        "--keys",
        "pki/alice.toml",
    ];
    let out = ok(dir, &[&grant[..], &["in", "enc"]].concat());
    assert!(out.contains("encrypted 1 file(s), 0 failed"), "{out}");
    servers.stop(0);
    let out = ok(dir, &["decrypt", "--keys", "pki/carol.toml", "enc", "dec"]);
    assert!(out.contains("decrypted 1 file(s), 0 failed"), "{out}");
    assert_eq!(
        std::fs::read(dir.join("dec/dose.txt")).unwrap(),
        b"a dose grid"
    );

    // Enrolling again under the same name is refused: keys on a card are never overwritten.
    let again = hope(
        dir,
        &[
            &["pki", "init", "pki2", "--token-user", "carol"][..],
            &card_flags,
        ]
        .concat(),
    );
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        !again.status.success() && err.contains("never overwritten"),
        "{err}"
    );

    // One name as a file user and a card user: refused before anything is generated.
    let twice = hope(
        dir,
        &[
            &[
                "pki",
                "init",
                "pki3",
                "--user",
                "dave",
                "--token-user",
                "dave",
            ][..],
            &card_flags,
        ]
        .concat(),
    );
    let err = String::from_utf8_lossy(&twice.stderr);
    assert!(
        !twice.status.success() && err.contains("named twice"),
        "{err}"
    );

    // A wrong PIN file: the command says so, and names no PIN.
    let wrong = dir.join("wrong-pin");
    std::fs::write(&wrong, "0000\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let bad = config.replace(&pin_file, &wrong.display().to_string());
    std::fs::write(dir.join("pki/carol-wrong.toml"), bad).unwrap();
    let o = hope(
        dir,
        &["decrypt", "--keys", "pki/carol-wrong.toml", "enc", "dec2"],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("wrong PIN"), "{err}");
    assert!(!err.contains("0000") && !err.contains("8642"), "{err}");
    assert!(!dir.join("dec2/dose.txt").exists());
}
