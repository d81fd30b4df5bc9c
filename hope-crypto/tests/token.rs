//! A user whose key lives only on a smart card (SoftHSM2, set up by `scripts/test`) against real
//! key servers: decrypts through 2 of 3 servers with the client configuration a hospital writes
//! (`key = "pkcs11:..."`), and is refused once the CA revokes its certificate.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Cluster, open, registered};
use hope_crypto::acl::{Grant, Right};
use hope_crypto::token::{self, KeyAlgorithm, PinSource, Pkcs11Uri, TokenFailure};
use hope_crypto::{ClientSettings, Error, KeyClient};
use rustls_pki_types::CertificateDer;

#[test]
fn a_card_holder_decrypts_through_two_of_three_servers_until_revoked() {
    let Some(card) = hope_test_support::pkcs11::token("hope-keys", "4321") else {
        return;
    };
    let mut cluster = Cluster::start(3);
    let (alice, _) = cluster.user("alice", None);

    // Carol's key is generated on the card; only the certificate leaves it.
    let uri = Pkcs11Uri {
        token: Some(card.label.clone()),
        object: Some("carol".into()),
        id: Some(vec![7]),
        ..Pkcs11Uri::default()
    };
    let pin = PinSource::File(card.pin_file.clone());
    let public = token::generate_key(&card.module, &uri, KeyAlgorithm::EcP256, &pin).unwrap();
    let issued = cluster
        .pki
        .issue_client_for_key("carol", Some("physics"), &public)
        .unwrap();
    let cert = CertificateDer::from(issued.cert_der().unwrap());
    token::store_certificate(&card.module, &uri, &cert, &pin).unwrap();

    // Her configuration: no certificate file, no key file.
    let mut servers = String::new();
    for s in &cluster.settings {
        servers.push_str(&format!(
            "\n[[servers]]\naddress = \"{}\"\nserver_name = \"localhost\"\n",
            s.listen
        ));
    }
    let config = cluster.dir.path().join("carol.toml");
    std::fs::write(
        &config,
        format!(
            "threshold = 2\nca = \"ca.pem\"\nkey = \"{uri}\"\npkcs11_module = \"{}\"\n\
             pin_file = \"{}\"\ntimeout_ms = 3000\n{servers}",
            card.module.display(),
            card.pin_file.display()
        ),
    )
    .unwrap();
    let settings = ClientSettings::from_file(&config).unwrap();
    assert!(settings.cert.is_none());
    let carol = KeyClient::from_settings(&settings).unwrap();
    assert_eq!(carol.identity().unwrap(), "carol");
    let files: Vec<_> = std::fs::read_dir(cluster.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !files
            .iter()
            .any(|f| f.starts_with("carol") && (f.ends_with(".key") || f.ends_with(".pem"))),
        "{files:?}"
    );

    let (_, _, sealed) = registered(&alice, &[Grant::group("physics", Right::Get)], b"a series");
    // One server down: the card holder still gets the key from the other two.
    cluster.stop(1);
    assert_eq!(open(&carol, &sealed, b"o").unwrap(), b"a series");
    cluster.restart(1);
    assert_eq!(open(&carol, &sealed, b"o").unwrap(), b"a series");

    // The CA revokes carol's certificate: refused, on kept-alive connections and new ones.
    let crl = cluster.pki.crl_pem(&[&issued]).unwrap();
    hope_core::fs::write_atomic(&cluster.crl, crl.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    assert!(open(&carol, &sealed, b"o").is_err());
    let carol = KeyClient::from_settings(&settings).unwrap();
    for server in carol.servers() {
        match server.health() {
            Err(Error::Server { status: None, .. }) => {}
            other => panic!("expected a TLS refusal, got {other:?}"),
        }
    }
    assert!(open(&carol, &sealed, b"o").is_err());
    assert!(open(&alice, &sealed, b"o").is_ok());
}

#[test]
fn configuration_errors_name_the_card_problem() {
    let Some(card) = hope_test_support::pkcs11::token("hope-kserr", "4321") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), "").unwrap();
    let write = |name: &str, key: &str, extra: &str| {
        let p = dir.path().join(name);
        std::fs::write(
            &p,
            format!(
                "threshold = 2\nca = \"ca.pem\"\nkey = \"{key}\"\n{extra}\n\
                 [[servers]]\naddress = \"127.0.0.1:1\"\n[[servers]]\naddress = \"127.0.0.1:2\"\n\
                 [[servers]]\naddress = \"127.0.0.1:3\"\n"
            ),
        )
        .unwrap();
        ClientSettings::from_file(&p)
    };
    let module = format!("pkcs11_module = \"{}\"", card.module.display());
    let pin = format!("pin_file = \"{}\"", card.pin_file.display());
    // A token that is not there.
    let s = write(
        "a.toml",
        "pkcs11:token=absent-card;object=x",
        &format!("{module}\n{pin}"),
    )
    .unwrap();
    let e = KeyClient::from_settings(&s).unwrap_err();
    assert_eq!(e.token_failure(), Some(TokenFailure::TokenMissing), "{e}");
    // No module.
    let s = write("b.toml", "pkcs11:token=absent-card;object=x", "").unwrap();
    let e = KeyClient::from_settings(&s).unwrap_err();
    assert!(e.to_string().contains("pkcs11_module"), "{e}");
    // A bad URI: refused when the file is read, naming the attribute.
    let e = write("c.toml", "pkcs11:tokn=x", &module).unwrap_err();
    assert!(e.to_string().contains("tokn"), "{e}");
}
