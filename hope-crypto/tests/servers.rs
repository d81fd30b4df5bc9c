//! End to end: three real key servers on loopback with mutual TLS, a 2-of-3 split key.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Cluster, open, registered};
use hope_crypto::acl::{Grant, Right, Subject};
use hope_crypto::client::{KeyServerClient, ServerEndpoint};
use hope_crypto::container::{Header, decrypt_to_vec};
use hope_crypto::pki::TestPki;
use hope_crypto::shares::{Share, combine};
use hope_crypto::tls::{TlsFiles, client_config};
use hope_crypto::{DataKey, Error, KeyClient, KeyId, KeyServer, ServerSettings};

#[test]
fn two_of_three_survives_one_server_down() {
    let mut cluster = Cluster::start(3);
    let (alice, _) = cluster.user("alice", Some("physics"));
    let (carol, _) = cluster.user("carol", Some("physics"));
    assert_eq!(alice.servers()[0].health().unwrap(), "alice");
    let (_, _, sealed) = registered(
        &alice,
        &[Grant::group("physics", Right::Get)],
        b"de-identified CT slice",
    );
    assert_eq!(
        open(&carol, &sealed, b"o").unwrap(),
        b"de-identified CT slice"
    );
    cluster.stop(0);
    assert_eq!(
        open(&carol, &sealed, b"o").unwrap(),
        b"de-identified CT slice",
        "one server down"
    );
    cluster.stop(2);
    match open(&carol, &sealed, b"o") {
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
    let (_, id, sealed) = registered(&alice, &[Grant::group("physics", Right::Get)], b"x");
    assert!(open(&mallory, &sealed, b"o").is_err());
    for (i, server) in mallory.servers().iter().enumerate() {
        let outcome = server.get(&[id]).unwrap().remove(0);
        assert_eq!(outcome.status, "denied", "server {i}");
        assert!(outcome.shares.is_empty());
        let log = cluster.audit(i);
        assert!(
            log.lines()
                .any(|l| l.contains("\"mallory\"") && l.contains("\"denied\"")),
            "server {i} log:\n{log}"
        );
        hope_crypto::audit::verify(&cluster.settings[i].audit_log, &cluster.audit_key(i)).unwrap();
    }
    // Mallory cannot grant herself anything either.
    assert!(
        mallory
            .grant(&id, &Grant::user("mallory", Right::Get))
            .is_err()
    );
}

#[test]
fn grant_then_revoke_reaches_every_server() {
    let mut cluster = Cluster::start(3);
    let (alice, _) = cluster.user("alice", None);
    let (bob, _) = cluster.user("bob", None);
    let (_, id, sealed) = registered(&alice, &[], b"dose");
    assert!(open(&bob, &sealed, b"o").is_err());
    alice.grant(&id, &Grant::user("bob", Right::Get)).unwrap();
    assert_eq!(open(&bob, &sealed, b"o").unwrap(), b"dose");
    for info in alice.infos(&id) {
        assert_eq!(
            info.unwrap().acl.grants,
            vec![Grant::user("bob", Right::Get)]
        );
    }
    alice.revoke(&id, &Subject::User("bob".into())).unwrap();
    assert!(open(&bob, &sealed, b"o").is_err());
}

#[test]
fn many_keys_register_and_fetch_in_batches() {
    let mut cluster = Cluster::start(3);
    let (alice, _) = cluster.user("alice", None);
    let keys: Vec<DataKey> = (0..1200).map(|_| DataKey::generate().unwrap()).collect();
    let ids: Vec<_> = keys.iter().map(|_| alice.new_key_id().unwrap()).collect();
    let items: Vec<hope_crypto::Registration<'_>> = keys
        .iter()
        .zip(&ids)
        .map(|(key, id)| hope_crypto::Registration {
            key,
            id,
            key_version: 1,
            grants: &[],
        })
        .collect();
    alice.register_many(&items).unwrap();
    let wanted: Vec<_> = keys
        .iter()
        .zip(&ids)
        .map(|(k, id)| (id.id, 1, k.commitment(&id.id, 1)))
        .collect();
    let got = alice.fetch_keys(&wanted);
    assert_eq!(got.len(), 1200);
    for (k, c) in keys.iter().zip(got) {
        assert_eq!(c.unwrap().key.expose_secret(), k.expose_secret());
    }
    // One audit record per key and request, synced in batches.
    let log = cluster.audit(1);
    assert!(
        log.lines()
            .filter(|l| l.contains("\"get\"") && l.contains("\"granted\""))
            .count()
            >= 1200
    );
}

#[test]
fn revoked_certificate_is_refused() {
    let mut cluster = Cluster::start(3);
    let (alice, _) = cluster.user("alice", None);
    let (bob, bob_cert) = cluster.user("bob", None);
    let (_, _, sealed) = registered(&alice, &[Grant::user("bob", Right::Get)], b"x");
    assert!(open(&bob, &sealed, b"o").is_ok());

    // The CA revokes bob; the servers pick the new CRL up within half a second, also for the
    // connections bob keeps alive.
    let crl = cluster.pki.crl_pem(&[&bob_cert]).unwrap();
    hope_core::fs::write_atomic(&cluster.crl, crl.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        open(&bob, &sealed, b"o").is_err(),
        "kept-alive connections are checked again"
    );
    let bob = cluster.client_for(&bob_cert, "bob");
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
    let ep = ServerEndpoint {
        address: cluster.settings[0].listen.clone(),
        server_name: Some("localhost".into()),
    };
    let client = KeyServerClient::new(ep, tls, Duration::from_secs(3));
    assert!(matches!(
        client.health(),
        Err(Error::Server { status: None, .. })
    ));
    let _ = cluster.user("x", None); // the cluster still serves its own users
}

/// A server's stored share, read from its database as a thief of one disk would (the owner's
/// name opens the ACL: the thief holds the file, not a certificate).
fn stolen(cluster: &Cluster, i: usize, id: &KeyId) -> Share {
    use hope_crypto::store::KeyStore;
    let store = hope_crypto::SqliteKeyStore::open(&cluster.settings[i].storage).unwrap();
    store
        .get(&hope_crypto::acl::Principal::user("alice"), &[*id])
        .unwrap()
        .remove(0)
        .unwrap()
        .remove(0)
}

#[test]
fn one_servers_store_and_log_never_allow_decryption() {
    let mut cluster = Cluster::start(3);
    let (alice, _) = cluster.user("alice", None);
    let (key, id, sealed) = registered(&alice, &[], b"patient data");
    let header = Header::read_from(&sealed[..]).unwrap();
    let key_hex = hex::encode(key.expose_secret());
    for i in 0..3 {
        // Everything one server holds: its store and its audit log.
        let mut everything = Vec::new();
        for entry in std::fs::read_dir(&cluster.settings[i].storage).unwrap() {
            everything.extend(std::fs::read(entry.unwrap().path()).unwrap());
        }
        everything.extend(cluster.audit(i).into_bytes());
        assert!(
            !everything.windows(32).any(|w| w == key.expose_secret()),
            "server {i} holds the key"
        );
        assert!(!String::from_utf8_lossy(&everything).contains(&key_hex));
        let one = stolen(&cluster, i, &id);
        assert!(matches!(
            combine(std::slice::from_ref(&one), 2, &header.commitment),
            Err(Error::KeyReconstruction)
        ));
        // Using the share value as a key does not decrypt either.
        assert!(decrypt_to_vec(&sealed, &DataKey::from_bytes(*one.expose_secret()), None).is_err());
    }
    // The threshold is two: two stolen stores do reconstruct it (which is why the servers must be
    // run by different parties).
    let two = [stolen(&cluster, 0, &id), stolen(&cluster, 1, &id)];
    assert_eq!(
        combine(&two, 2, &header.commitment)
            .unwrap()
            .key
            .expose_secret(),
        key.expose_secret()
    );
}

#[test]
fn audit_chain_verifies_and_an_edited_line_is_detected() {
    let mut cluster = Cluster::start(3);
    let (alice, _) = cluster.user("alice", None);
    let (_, id, _) = registered(&alice, &[], b"x");
    alice.servers()[1].get(&[id]).unwrap();
    let path = cluster.settings[1].audit_log.clone();
    let summary = hope_crypto::audit::verify(&path, &cluster.audit_key(1)).unwrap();
    assert!(
        summary.records >= 5,
        "start, create requested/granted, get requested/granted"
    );
    cluster.stop(1);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("\"alice\"", "\"bob\"", 1)).unwrap();
    let err = hope_crypto::audit::verify(&path, &cluster.audit_key(1))
        .unwrap_err()
        .to_string();
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
    let id = alice.new_key_id().unwrap();
    match alice.register(&key, &id, 1, &[]) {
        Err(Error::NotEnoughServers {
            needed: 3,
            reached: 2,
            ..
        }) => {}
        other => panic!("expected a failed registration, got {other:?}"),
    }
    // The new key was removed again from the reachable servers (it protects nothing yet).
    for i in 0..2 {
        let o = alice.servers()[i].get(&[id.id]).unwrap().remove(0);
        assert_eq!(o.status, "not-found", "server {i}");
    }
}

#[test]
fn configuration_files_resolve_relative_paths_and_name_bad_fields() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("server.toml");
    std::fs::write(&p, "listen = \"127.0.0.1:0\"\ncert = \"s.pem\"\nkey = \"s.key\"\nca = \"ca.pem\"\nstorage = \"shares\"\naudit_log = \"audit.jsonl\"\naudit_key = \"k\"\n").unwrap();
    let s = ServerSettings::from_file(&p).unwrap();
    assert_eq!(s.cert, dir.path().join("s.pem"));
    assert_eq!(s.audit_key, Some(dir.path().join("k")));
    assert_eq!(s.crl, None);
    assert_eq!(s.max_connections_per_address, 16);
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

#[test]
fn keep_alive_connections_are_reused() {
    let mut cluster = Cluster::start(3);
    let (alice, _) = cluster.user("alice", None);
    let (_, id, _) = registered(&alice, &[], b"x");
    for _ in 0..20 {
        alice.servers()[0].get(&[id]).unwrap();
    }
    // No connection was refused or turned away on the way.
    assert!(!cluster.audit(0).contains("\"connect\""));
    // A connection the server has closed (restart) is replaced transparently.
    cluster.restart(0);
    assert_eq!(alice.servers()[0].get(&[id]).unwrap()[0].status, "ok");
}

/// A server restart closes every kept-alive connection of a client's pool: the next request
/// still succeeds at once (the pool is emptied and a fresh connection made), not only when a
/// single connection was pooled.
#[test]
fn a_restarted_server_is_reached_again_whatever_the_pool_held() {
    let mut cluster = Cluster::start(3);
    let (alice, _) = cluster.user("alice", None);
    // Several connections to server 0 pooled at once.
    std::thread::scope(|s| {
        for _ in 0..6 {
            s.spawn(|| {
                for _ in 0..3 {
                    alice.servers()[0].health().unwrap();
                }
            });
        }
    });
    cluster.restart(0);
    assert_eq!(alice.servers()[0].health().unwrap(), "alice");
}
