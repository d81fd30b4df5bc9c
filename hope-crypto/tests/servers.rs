//! End to end: three real key servers on loopback with mutual TLS, a 2-of-3 split key.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hope_crypto::acl::{Grant, Right};
use hope_crypto::client::{KeyServerClient, ServerEndpoint};
use hope_crypto::container::{EncryptOptions, Header, decrypt_to_vec, encrypt_to_vec};
use hope_crypto::pki::TestPki;
use hope_crypto::server::ServerHandle;
use hope_crypto::shares::combine;
use hope_crypto::store::StoredShare;
use hope_crypto::tls::{TlsFiles, client_config};
use hope_crypto::{DataKey, Error, KeyClient, KeyId, KeyServer, ServerSettings};

struct Cluster {
    dir: tempfile::TempDir,
    pki: TestPki,
    crl: PathBuf,
    settings: Vec<ServerSettings>,
    servers: Vec<Option<ServerHandle>>,
}

impl Cluster {
    fn start(n: usize) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let mut pki = TestPki::new("HOPE test CA").unwrap();
        std::fs::write(dir.path().join("ca.pem"), pki.ca_pem()).unwrap();
        let crl = dir.path().join("ca.crl");
        std::fs::write(&crl, pki.crl_pem(&[]).unwrap()).unwrap();
        let mut settings = Vec::new();
        let mut servers = Vec::new();
        for i in 0..n {
            let sdir = dir.path().join(format!("server{i}"));
            std::fs::create_dir_all(&sdir).unwrap();
            let (cert, key) = pki
                .issue_server(&["localhost", "127.0.0.1"])
                .unwrap()
                .write(&sdir, "server")
                .unwrap();
            let s = ServerSettings {
                listen: "127.0.0.1:0".into(),
                cert,
                key,
                ca: dir.path().join("ca.pem"),
                crl: Some(crl.clone()),
                storage: sdir.join("shares"),
                audit_log: sdir.join("audit.jsonl"),
                max_connections: 16,
            };
            servers.push(Some(KeyServer::bind(s.clone()).unwrap().spawn().unwrap()));
            settings.push(s);
        }
        Cluster {
            dir,
            pki,
            crl,
            settings,
            servers,
        }
    }

    fn user(
        &mut self,
        name: &str,
        group: Option<&str>,
    ) -> (KeyClient, hope_crypto::pki::IssuedCert) {
        let issued = self.pki.issue_client(name, group).unwrap();
        let (cert, key) = issued.write(self.dir.path(), name).unwrap();
        let tls = client_config(&TlsFiles {
            cert: &cert,
            key: &key,
            ca: &self.dir.path().join("ca.pem"),
        })
        .unwrap();
        let servers = self
            .servers
            .iter()
            .map(|h| {
                let addr = h.as_ref().unwrap().addr();
                let ep = ServerEndpoint {
                    address: addr.to_string(),
                    server_name: Some("localhost".into()),
                };
                KeyServerClient::new(ep, Arc::clone(&tls), Duration::from_secs(3))
            })
            .collect();
        (KeyClient::new(servers, 2).unwrap(), issued)
    }

    fn stop(&mut self, i: usize) {
        if let Some(h) = self.servers[i].take() {
            h.shutdown();
        }
    }

    fn audit(&self, i: usize) -> String {
        std::fs::read_to_string(&self.settings[i].audit_log).unwrap()
    }
}

fn seal(key: &DataKey, id: KeyId, object: &[u8], data: &[u8]) -> Vec<u8> {
    encrypt_to_vec(data, key, id, 1, object, &EncryptOptions::new()).unwrap()
}

fn open(client: &KeyClient, sealed: &[u8], object: &[u8]) -> hope_crypto::Result<Vec<u8>> {
    let h = Header::read_from(sealed)?;
    let c = client.fetch_key(&h.key_id, h.key_version, &h.commitment)?;
    decrypt_to_vec(sealed, &c.key, object)
}

#[test]
fn two_of_three_survives_one_server_down() {
    let mut cluster = Cluster::start(3);
    let (alice, _) = cluster.user("alice", Some("physics"));
    let (carol, _) = cluster.user("carol", Some("physics"));
    assert_eq!(alice.servers()[0].health().unwrap(), "alice");

    let key = DataKey::generate().unwrap();
    let id = KeyId::generate().unwrap();
    alice
        .register(&key, id, 1, &[Grant::group("physics", Right::Get)])
        .unwrap();
    let sealed = seal(&key, id, b"2.25.1", b"de-identified CT slice");

    assert_eq!(
        open(&carol, &sealed, b"2.25.1").unwrap(),
        b"de-identified CT slice"
    );
    cluster.stop(0);
    assert_eq!(
        open(&carol, &sealed, b"2.25.1").unwrap(),
        b"de-identified CT slice",
        "one server down"
    );
    cluster.stop(2);
    match open(&carol, &sealed, b"2.25.1") {
        Err(Error::NotEnoughServers {
            needed: 2,
            reached: 1,
            ..
        }) => {}
        other => panic!("expected too few servers, got {other:?}"),
    }
}

#[test]
fn user_without_grant_is_refused_by_every_server_and_audited() {
    let mut cluster = Cluster::start(3);
    let (alice, _) = cluster.user("alice", Some("physics"));
    let (mallory, _) = cluster.user("mallory", Some("radiology"));
    let key = DataKey::generate().unwrap();
    let id = KeyId::generate().unwrap();
    alice
        .register(&key, id, 1, &[Grant::group("physics", Right::Get)])
        .unwrap();

    assert!(open(&mallory, &seal(&key, id, b"o", b"x"), b"o").is_err());
    for (i, server) in mallory.servers().iter().enumerate() {
        match server.get_share(&id) {
            Err(Error::Server {
                status: Some(403), ..
            }) => {}
            other => panic!("server {i}: expected 403, got {other:?}"),
        }
        let log = cluster.audit(i);
        assert!(
            log.lines()
                .any(|l| l.contains("\"mallory\"") && l.contains("\"denied\"")),
            "server {i} log:\n{log}"
        );
        hope_crypto::audit::verify(&cluster.settings[i].audit_log).unwrap();
    }
    // Mallory cannot grant herself anything either.
    assert!(
        mallory
            .set_grants(&id, &[Grant::user("mallory", Right::Get)])
            .is_err()
    );
}

#[test]
fn grant_then_revoke_reaches_every_server() {
    let mut cluster = Cluster::start(3);
    let (alice, _) = cluster.user("alice", None);
    let (bob, _) = cluster.user("bob", None);
    let key = DataKey::generate().unwrap();
    let id = KeyId::generate().unwrap();
    alice.register(&key, id, 1, &[]).unwrap();
    let sealed = seal(&key, id, b"o", b"dose");
    assert!(open(&bob, &sealed, b"o").is_err());
    alice
        .set_grants(&id, &[Grant::user("bob", Right::Get)])
        .unwrap();
    assert_eq!(open(&bob, &sealed, b"o").unwrap(), b"dose");
    assert_eq!(
        alice.acl(&id).unwrap().grants,
        vec![Grant::user("bob", Right::Get)]
    );
    alice.set_grants(&id, &[]).unwrap();
    assert!(open(&bob, &sealed, b"o").is_err());
}

#[test]
fn revoked_certificate_is_refused() {
    let mut cluster = Cluster::start(3);
    let (alice, _) = cluster.user("alice", None);
    let (bob, bob_cert) = cluster.user("bob", None);
    let key = DataKey::generate().unwrap();
    let id = KeyId::generate().unwrap();
    alice
        .register(&key, id, 1, &[Grant::user("bob", Right::Get)])
        .unwrap();
    let sealed = seal(&key, id, b"o", b"x");
    assert!(open(&bob, &sealed, b"o").is_ok());

    // The CA revokes bob; the servers pick the new CRL up on the next connection.
    let crl = cluster.pki.crl_pem(&[&bob_cert]).unwrap();
    std::thread::sleep(Duration::from_millis(20)); // a distinct modification time
    hope_core::fs::write_atomic(&cluster.crl, crl.as_bytes()).unwrap();
    for server in bob.servers() {
        match server.health() {
            Err(Error::Server { status: None, .. }) => {}
            other => panic!("expected a TLS refusal, got {other:?}"),
        }
    }
    assert!(open(&bob, &sealed, b"o").is_err());
    assert!(
        open(&alice, &sealed, b"o").is_ok(),
        "other users are unaffected"
    );
    for i in 0..3 {
        let log = cluster.audit(i);
        assert!(log.contains("\"crl-reload\""), "{log}");
        assert!(
            log.lines()
                .any(|l| l.contains("\"connect\"") && l.contains("\"refused\"")),
            "{log}"
        );
    }
}

#[test]
fn certificate_from_another_ca_is_refused() {
    let mut cluster = Cluster::start(3);
    let mut rogue = TestPki::new("Rogue CA").unwrap();
    let issued = rogue.issue_client("alice", None).unwrap();
    let (cert, key) = issued.write(cluster.dir.path(), "rogue-alice").unwrap();
    let tls = client_config(&TlsFiles {
        cert: &cert,
        key: &key,
        ca: &cluster.dir.path().join("ca.pem"),
    })
    .unwrap();
    let addr = cluster.servers[0].as_ref().unwrap().addr();
    let ep = ServerEndpoint {
        address: addr.to_string(),
        server_name: Some("localhost".into()),
    };
    let client = KeyServerClient::new(ep, tls, Duration::from_secs(3));
    assert!(matches!(
        client.health(),
        Err(Error::Server { status: None, .. })
    ));
    let _ = cluster.user("x", None); // the cluster still serves its own users
}

#[test]
fn one_servers_store_and_log_never_allow_decryption() {
    let mut cluster = Cluster::start(3);
    let (alice, _) = cluster.user("alice", None);
    let key = DataKey::generate().unwrap();
    let id = KeyId::generate().unwrap();
    alice.register(&key, id, 1, &[]).unwrap();
    let sealed = seal(&key, id, b"o", b"patient data");
    let header = Header::read_from(&sealed[..]).unwrap();
    let key_hex = hex::encode(key.expose_secret());

    let stolen = |i: usize| -> StoredShare {
        let path = cluster.settings[i].storage.join(format!("{id}.json"));
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    for i in 0..3 {
        // Everything one server holds: its store and its audit log.
        let mut everything = String::new();
        for entry in walk(&cluster.settings[i].storage) {
            everything.push_str(&String::from_utf8_lossy(&std::fs::read(entry).unwrap()));
        }
        everything.push_str(&cluster.audit(i));
        assert!(!everything.contains(&key_hex), "server {i} holds the key");
        let one = stolen(i).share;
        assert!(matches!(
            combine(std::slice::from_ref(&one), &header.commitment),
            Err(Error::KeyReconstruction)
        ));
        // Using the share value as a key does not decrypt either.
        assert!(decrypt_to_vec(&sealed, &DataKey::from_bytes(*one.expose_secret()), b"o").is_err());
    }
    // The threshold is two: two stolen stores do reconstruct it (which is why the servers must be
    // run by different parties).
    let two = [stolen(0).share, stolen(1).share];
    assert_eq!(
        combine(&two, &header.commitment)
            .unwrap()
            .key
            .expose_secret(),
        key.expose_secret()
    );
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

#[test]
fn audit_chain_verifies_and_an_edited_line_is_detected() {
    let mut cluster = Cluster::start(3);
    let (alice, _) = cluster.user("alice", None);
    let key = DataKey::generate().unwrap();
    let id = KeyId::generate().unwrap();
    alice.register(&key, id, 1, &[]).unwrap();
    alice.servers()[1].get_share(&id).unwrap();
    let path = cluster.settings[1].audit_log.clone();
    let summary = hope_crypto::audit::verify(&path).unwrap();
    assert!(
        summary.records >= 5,
        "start, put requested/granted, get requested/granted"
    );

    cluster.stop(1);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("\"alice\"", "\"bob\"", 1)).unwrap();
    let err = hope_crypto::audit::verify(&path).unwrap_err().to_string();
    assert!(err.contains("line"), "{err}");
    // A server refuses to start on a log that does not verify.
    assert!(matches!(
        KeyServer::bind(cluster.settings[1].clone()),
        Err(Error::Audit { .. })
    ));
}

#[test]
fn register_fails_whole_when_a_server_is_down() {
    let mut cluster = Cluster::start(3);
    let (alice, _) = cluster.user("alice", None);
    cluster.stop(2);
    let key = DataKey::generate().unwrap();
    let id = KeyId::generate().unwrap();
    match alice.register(&key, id, 1, &[]) {
        Err(Error::NotEnoughServers {
            needed: 3,
            reached: 2,
            ..
        }) => {}
        other => panic!("expected a failed registration, got {other:?}"),
    }
    // Shares stored on the reachable servers were removed again.
    for i in 0..2 {
        assert!(
            !cluster.settings[i]
                .storage
                .join(format!("{id}.json"))
                .exists(),
            "server {i}"
        );
    }
}

#[test]
fn configuration_files_resolve_relative_paths_and_name_bad_fields() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("server.toml");
    std::fs::write(&p, "listen = \"127.0.0.1:0\"\ncert = \"s.pem\"\nkey = \"s.key\"\nca = \"ca.pem\"\nstorage = \"shares\"\naudit_log = \"audit.jsonl\"\n").unwrap();
    let s = ServerSettings::from_file(&p).unwrap();
    assert_eq!(s.cert, dir.path().join("s.pem"));
    assert_eq!(s.crl, None);
    std::fs::write(&p, "listen = \"127.0.0.1:0\"\ncerts = \"s.pem\"\n").unwrap();
    let err = ServerSettings::from_file(&p).unwrap_err().to_string();
    assert!(
        err.contains("server.toml") && err.contains("certs"),
        "{err}"
    );
    let c = dir.path().join("client.toml");
    std::fs::write(&c, "threshold = 2\nca = \"ca.pem\"\ncert = \"a.pem\"\nkey = \"a.key\"\n[[servers]]\naddress = \"127.0.0.1:1\"\n[[servers]]\naddress = \"127.0.0.1:2\"\n").unwrap();
    let cs = hope_crypto::ClientSettings::from_file(&c).unwrap();
    assert_eq!(cs.servers.len(), 2);
    assert_eq!(cs.ca, dir.path().join("ca.pem"));
    // 2-of-2 is refused: no server may be lost.
    std::fs::write(
        dir.path().join("ca.pem"),
        TestPki::new("x").unwrap().ca_pem(),
    )
    .unwrap();
    let mut pki = TestPki::new("y").unwrap();
    pki.issue_client("a", None)
        .unwrap()
        .write(dir.path(), "a")
        .unwrap();
    assert!(matches!(
        KeyClient::from_settings(&cs),
        Err(Error::InvalidParameter {
            name: "threshold",
            ..
        })
    ));
}
