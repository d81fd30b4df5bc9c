//! Regression tests of the security review (issue 19) that concern the key servers, their clients
//! and their audit logs: each failed on the code before its fix.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{Cluster, open, registered};
use hope_crypto::acl::{Grant, Right, Subject};
use hope_crypto::audit::{AuditKey, AuditLog, Event, verify};
use hope_crypto::container::Header;
use hope_crypto::shares::Share;
use hope_crypto::{Error, KeyId, KeyServer};

fn header(sealed: &[u8]) -> Header {
    Header::read_from(sealed).unwrap()
}

/// A connection from a chosen loopback source address.
fn connect_from(source: [u8; 4], to: &str) -> TcpStream {
    let to: SocketAddr = to.parse().unwrap();
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::from((source, 0)).into()).unwrap();
    sock.connect_timeout(&to.into(), Duration::from_secs(2))
        .unwrap();
    sock.into()
}

/// Finding 2: re-sharing overwrote live shares and, when a server failed, deleted the shares it
/// had just written everywhere: the key was gone for good.
#[test]
fn finding_02_resharing_with_a_server_down_never_destroys_the_key() {
    let mut cluster = Cluster::start(3);
    let (alice, _) = cluster.user("alice", None);
    let (bob, _) = cluster.user("bob", None);
    let (mallory, _) = cluster.user("mallory", None);
    let (_, id, sealed) = registered(&alice, &[Grant::user("bob", Right::Get)], b"CT");
    let h = header(&sealed);

    // An ungranted user can neither re-share nor disturb anything.
    assert!(mallory.reshare(&id, 1, &h.commitment).is_err());
    assert_eq!(open(&bob, &sealed, b"o").unwrap(), b"CT");

    // A server is down: the re-sharing fails as a whole and leaves the key whole.
    cluster.stop(2);
    let e = alice
        .reshare(&id, 1, &h.commitment)
        .unwrap_err()
        .to_string();
    assert!(e.contains("nothing was changed"), "{e}");
    assert_eq!(
        open(&bob, &sealed, b"o").unwrap(),
        b"CT",
        "the key survives"
    );
    cluster.restart(2);
    for info in alice.infos(&id) {
        let info = info.unwrap();
        assert_eq!((info.generation, info.staged_generation), (Some(1), None));
    }
    assert_eq!(open(&bob, &sealed, b"o").unwrap(), b"CT");

    // Back up: the re-sharing goes through, grants carried over, a new generation everywhere.
    let done = alice.reshare(&id, 1, &h.commitment).unwrap();
    assert_eq!(done.generation, 2);
    assert_eq!(done.grants, vec![Grant::user("bob", Right::Get)]);
    for info in alice.infos(&id) {
        assert_eq!(info.unwrap().generation, Some(2));
    }
    cluster.stop(0);
    assert_eq!(open(&bob, &sealed, b"o").unwrap(), b"CT");

    // A commit cut short (a server that staged goes down before its commit) leaves the key whole:
    // readers combine whichever generation they find.
    cluster.restart(0);
    let staged_everywhere = (0..3).all(|i| {
        let r = alice.servers()[i].stage(
            &Share::from_parts(id, 1, 2, 1, [0; 32]).with_generation(9),
            None,
            &[],
        );
        r.is_ok()
    });
    assert!(staged_everywhere);
    assert_eq!(
        open(&bob, &sealed, b"o").unwrap(),
        b"CT",
        "a bogus staged generation is ignored"
    );
}

/// Finding 2 (second part): on an empty (replaced) server the first registration of a key id made
/// the caller its owner, so a squatter got the owner's repair refused.
#[test]
fn finding_02_a_squatter_cannot_claim_a_key_on_a_replaced_server() {
    let mut cluster = Cluster::start(3);
    let (alice, _) = cluster.user("alice", None);
    let (bob, _) = cluster.user("bob", None);
    let (mallory, _) = cluster.user("mallory", None);
    let (_, id, sealed) = registered(&alice, &[Grant::user("bob", Right::Get)], b"CT");
    let h = header(&sealed);
    cluster.replace_empty(1);
    // Mallory has seen the key id in the header and tries to claim it first.
    let fake = Share::from_parts(id, 1, 2, 2, [1; 32]);
    assert!(
        mallory.servers()[1]
            .stage(&fake, Some(&[0; 16]), &[])
            .is_err()
    );
    let created = mallory.servers()[1]
        .create(&[(
            &fake,
            &[0u8; 16],
            &[Grant::user("mallory", Right::Admin)][..],
        )])
        .unwrap();
    assert_eq!(created[0].status, "denied");
    // The owner repairs; the ACL comes from the servers that kept the key.
    let done = alice.reshare(&id, 1, &h.commitment).unwrap();
    assert_eq!(done.owner, "alice");
    let info = alice.servers()[1].info(&id).unwrap();
    assert_eq!(info.acl.owner, "alice");
    assert_eq!(info.acl.grants, vec![Grant::user("bob", Right::Get)]);
    cluster.stop(0);
    assert_eq!(
        open(&bob, &sealed, b"o").unwrap(),
        b"CT",
        "servers 1 and 2 suffice again"
    );
    assert!(open(&mallory, &sealed, b"o").is_err());
}

/// Finding 8: the threshold was taken from the first share received, so one server answering a
/// share that claims another threshold made decryption fail although two good shares were there.
#[test]
fn finding_08_one_inconsistent_share_never_stops_decryption() {
    let mut cluster = Cluster::start(3);
    let (alice, _) = cluster.user("alice", None);
    let (key, id, sealed) = registered(&alice, &[], b"CT");
    // Server 0's record is altered on disk: its share claims a threshold of 3.
    cluster.stop(0);
    {
        let db =
            rusqlite::Connection::open(cluster.settings[0].storage.join("shares.sqlite")).unwrap();
        let mut blob: Vec<u8> = db
            .query_row(
                "SELECT active FROM keys WHERE key_id = ?1",
                [&id.0[..]],
                |r| r.get(0),
            )
            .unwrap();
        blob[24] = 3; // the threshold byte of the record
        db.execute(
            "UPDATE keys SET active = ?1 WHERE key_id = ?2",
            rusqlite::params![blob, &id.0[..]],
        )
        .unwrap();
    }
    cluster.restart(0);
    let c = alice.fetch_key(&id, 1, &key.commitment(&id, 1)).unwrap();
    assert_eq!(c.key.expose_secret(), key.expose_secret());
    assert_eq!(open(&alice, &sealed, b"o").unwrap(), b"CT");
}

/// Finding 9: grant and revoke read the ACL from the first server that answered and wrote it to
/// all, so a server that missed a revocation brought the revoked grant back everywhere.
#[test]
fn finding_09_a_revoked_grant_never_comes_back() {
    let mut cluster = Cluster::start(3);
    let (alice, _) = cluster.user("alice", None);
    let (bob, _) = cluster.user("bob", None);
    let (_, id, sealed) = registered(&alice, &[Grant::user("bob", Right::Get)], b"CT");
    assert!(open(&bob, &sealed, b"o").is_ok());
    cluster.stop(0);
    // The revocation reaches servers 1 and 2 and says that server 0 missed it.
    let e = alice.revoke(&id, &Subject::User("bob".into())).unwrap_err();
    assert!(
        matches!(e, Error::NotEnoughServers { reached: 2, .. }),
        "{e}"
    );
    cluster.restart(0);
    // An unrelated grant, with server 0 (still granting bob) answering first.
    alice.grant(&id, &Grant::user("carol", Right::Get)).unwrap();
    for (i, info) in alice.infos(&id).into_iter().enumerate().skip(1) {
        let grants = info.unwrap().acl.grants;
        assert_eq!(grants, vec![Grant::user("carol", Right::Get)], "server {i}");
    }
    assert!(
        open(&bob, &sealed, b"o").is_err(),
        "one server alone cannot release the key"
    );
    // Running the revocation again finishes it.
    alice.revoke(&id, &Subject::User("bob".into())).unwrap();
}

/// Finding 3: a CRL file without a PEM block (DER, empty, garbage) gave an empty list and turned
/// revocation off while the audit said `crl-reload ok`; expired CRLs were accepted; the reload
/// looked at the modification time only.
#[test]
fn finding_03_a_crl_that_cannot_be_used_fails_closed() {
    let mut cluster = Cluster::start(3);
    let (alice, _) = cluster.user("alice", None);
    let (bob, bob_cert) = cluster.user("bob", None);
    let (_, _, sealed) = registered(&alice, &[Grant::user("bob", Right::Get)], b"CT");
    assert!(open(&bob, &sealed, b"o").is_ok());

    // A DER CRL revoking bob is understood.
    let der = cluster.pki.crl_der(&[&bob_cert], -60, 3600).unwrap();
    std::fs::write(&cluster.crl, &der).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    assert!(open(&bob, &sealed, b"o").is_err(), "DER CRL revokes");
    assert!(open(&alice, &sealed, b"o").is_ok());

    // Garbage, an empty file, an expired CRL: every connection is refused, nothing says ok.
    let expired = cluster.pki.crl_der(&[], -7200, -3600).unwrap();
    for (what, bytes) in [
        ("garbage", b"not a CRL at all".to_vec()),
        ("empty", Vec::new()),
        ("certificate", cluster.pki.ca_pem().as_bytes().to_vec()),
        ("expired", expired.clone()),
    ] {
        std::fs::write(&cluster.crl, &bytes).unwrap();
        std::thread::sleep(Duration::from_millis(600));
        let cert = cluster.pki.issue_client("alice2", None).unwrap();
        let fresh = cluster.client_for(&cert, "alice2");
        assert!(
            fresh.servers()[0].health().is_err(),
            "{what}: a connection was accepted"
        );
        assert!(
            open(&alice, &sealed, b"o").is_err(),
            "{what}: a kept-alive connection was served"
        );
        // A server does not even start with it.
        let mut s = cluster.settings[0].clone();
        s.listen = "127.0.0.1:0".into();
        s.audit_log = cluster.dir.path().join(format!("probe-{what}.jsonl"));
        s.storage = cluster.dir.path().join(format!("probe-{what}"));
        let e = KeyServer::bind(s).unwrap_err().to_string();
        assert!(e.contains("crl"), "{what}: {e}");
    }
    let log = cluster.audit(0);
    let after_der = log.split("\"crl-reload\"").count() - 1;
    assert!(after_der >= 1);
    assert!(
        log.contains("no CRL in the file") || log.contains("does not parse"),
        "{log}"
    );
    assert!(log.contains("past its next update"), "{log}");

    // A valid CRL again; then content changed with the modification time put back: seen.
    let valid = cluster.pki.crl_pem(&[]).unwrap();
    std::fs::write(&cluster.crl, valid.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        open(&bob, &sealed, b"o").is_ok(),
        "bob is no longer revoked"
    );
    let mtime = std::fs::metadata(&cluster.crl).unwrap().modified().unwrap();
    let revoking = cluster.pki.crl_pem(&[&bob_cert]).unwrap();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&cluster.crl)
        .unwrap();
    (&f).write_all(revoking.as_bytes()).unwrap();
    f.set_modified(mtime).unwrap();
    drop(f);
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        open(&bob, &sealed, b"o").is_err(),
        "a change with the same mtime is seen"
    );
}

/// Finding 7: a few silent or trickling clients held every connection slot of a key server.
#[test]
fn finding_07_slow_clients_cannot_lock_a_server_out() {
    let mut cluster = Cluster::start_with(3, |s| {
        s.max_connections = 8;
        s.max_connections_per_address = 3;
        s.request_timeout_ms = 700;
    });
    let (alice, _) = cluster.user("alice", None);
    let (_, _, sealed) = registered(&alice, &[], b"CT");
    let target = cluster.settings[0].listen.clone();
    // Twenty silent connections from one address, five trickling ones from another.
    let silent: Vec<TcpStream> = (0..20)
        .map(|_| connect_from([127, 0, 0, 2], &target))
        .collect();
    let trickling: Vec<TcpStream> = (0..5)
        .map(|_| connect_from([127, 0, 0, 3], &target))
        .collect();
    let start = Instant::now();
    let trickler = std::thread::spawn(move || {
        let mut cut = 0;
        for mut t in trickling {
            let _ = t.set_read_timeout(Some(Duration::from_secs(3)));
            let mut ended = false;
            for _ in 0..30 {
                if t.write_all(&[0x16]).is_err() {
                    ended = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
                let mut b = [0u8; 1];
                if let Ok(0) | Err(_) = t.read(&mut b) {
                    ended = true;
                    break;
                }
            }
            cut += usize::from(ended);
        }
        cut
    });
    // The legitimate user is served all the while.
    let cert = cluster.pki.issue_client("alice", None).unwrap();
    let fresh = cluster.client_for(&cert, "alice");
    for _ in 0..3 {
        assert_eq!(open(&fresh, &sealed, b"o").unwrap(), b"CT");
    }
    assert!(
        trickler.join().unwrap() >= 3,
        "trickling clients were cut off"
    );
    assert!(start.elapsed() < Duration::from_secs(15));
    drop(silent);
    let log = cluster.audit(0);
    assert!(
        log.contains("too many connections from this address"),
        "{log}"
    );
}

/// Finding 12: a failed audit write left a torn line; afterwards the log did not verify and the
/// server would not start again.
#[test]
fn finding_12_a_torn_audit_record_is_repaired_and_recorded() {
    let mut cluster = Cluster::start(3);
    let (alice, _) = cluster.user("alice", None);
    let (_, _, sealed) = registered(&alice, &[], b"CT");
    cluster.stop(1);
    let path = cluster.settings[1].audit_log.clone();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(b"{\"seq\":99,\"time\":\"2026-").unwrap();
    drop(f);
    assert!(
        verify(&path, &cluster.audit_key(1)).is_err(),
        "a torn tail does not verify"
    );
    cluster.restart(1);
    let log = cluster.audit(1);
    assert!(log.contains("\"audit-repair\""), "{log}");
    assert!(!log.contains("\"seq\":99"));
    verify(&path, &cluster.audit_key(1)).unwrap();
    cluster.stop(0);
    assert_eq!(open(&alice, &sealed, b"o").unwrap(), b"CT");
}

/// Finding 17: the chain was plain SHA-256 over some fields: a rewritten log with recomputed
/// hashes verified, and fields added by hand were not covered.
#[test]
fn finding_17_the_audit_chain_is_keyed_and_covers_whole_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    let key = AuditKey::load_or_create(dir.path().join("a.key")).unwrap();
    let log = AuditLog::open(&path, key.clone()).unwrap();
    for who in ["alice", "bob"] {
        log.append(Event::new(who, "get", "granted")).unwrap();
    }
    drop(log);
    verify(&path, &key).unwrap();
    // The forger rewrites a record and recomputes every MAC with a key of their own.
    let forged = AuditKey::from_bytes([0x42; 32]);
    let text = std::fs::read_to_string(&path).unwrap();
    let rewritten = dir.path().join("b.jsonl");
    let flog = AuditLog::open(&rewritten, forged.clone()).unwrap();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let who = v["who"].as_str().unwrap().replace("bob", "eve");
        flog.append(Event::new(
            who,
            v["action"].as_str().unwrap(),
            v["result"].as_str().unwrap(),
        ))
        .unwrap();
    }
    drop(flog);
    std::fs::copy(&rewritten, &path).unwrap();
    assert!(
        verify(&path, &key).is_err(),
        "a log made without the key verifies"
    );
    // The key file is private to its owner.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("a.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
}

/// Finding 18: every refused handshake was written and synced, without any limit.
#[test]
fn finding_18_refused_handshakes_cannot_flood_the_audit_log() {
    let cluster = Cluster::start(3);
    let target = cluster.settings[0].listen.clone();
    let before = cluster.audit(0).lines().count();
    for _ in 0..150 {
        let mut s = TcpStream::connect(&target).unwrap();
        let _ = s.write_all(b"GET / HTTP/1.1\r\n\r\nthis is not TLS");
        let _ = s.read(&mut [0u8; 16]);
    }
    std::thread::sleep(Duration::from_millis(300));
    let log = cluster.audit(0);
    let written = log.lines().count() - before;
    assert!(
        written <= 30,
        "{written} records for 150 refused handshakes"
    );
    // And the flood is not silent: the next record says how many were left out.
    std::thread::sleep(Duration::from_millis(400));
    let mut s = TcpStream::connect(&target).unwrap();
    let _ = s.write_all(b"junk");
    let _ = s.read(&mut [0u8; 16]);
    std::thread::sleep(Duration::from_millis(200));
    assert!(cluster.audit(0).contains("were not written (rate limit)"));
}

/// Finding 20: HKDF and HMAC state were not wiped. The types that hold key material now wipe
/// themselves on drop (a compile-time check: this test does not build without it).
#[test]
fn finding_20_key_material_types_wipe_themselves() {
    fn wipes<T: zeroize::ZeroizeOnDrop>() {}
    // HMAC-SHA256 state (the segment key's HKDF, the audit chain) is two SHA-256 cores and a
    // block buffer: with the features this crate enables, each wipes itself when dropped.
    wipes::<sha2::Sha256>();
    fn zeroizing<T: zeroize::Zeroize>(_: &zeroize::Zeroizing<T>) {}
    let k = hope_crypto::DataKey::from_bytes([1; 32]);
    let shares = hope_crypto::shares::split(&k, hope_crypto::KeyId([1; 16]), 1, 2, 3).unwrap();
    zeroizing(&shares[0].to_record());
}

/// Attack finding A-1: silent connections from four loopback addresses (16 each) filled all 64
/// slots of every key server; as the attacker reconnected, no client decrypted anything. Waiting
/// connections of the heaviest address now make room.
#[test]
fn attack_01_silent_connections_from_many_addresses_cannot_lock_clients_out() {
    let mut cluster = Cluster::start_with(3, |s| {
        s.max_connections = 12;
        s.max_connections_per_address = 4;
        s.request_timeout_ms = 30_000; // the attacker's connections are not timed out here
    });
    let (alice, _) = cluster.user("alice", None);
    let (_, _, sealed) = registered(&alice, &[], b"CT");
    // Every slot of every server held by silent connections from three addresses.
    let mut silent = Vec::new();
    for s in &cluster.settings {
        for source in [[127, 0, 0, 2], [127, 0, 0, 3], [127, 0, 0, 4]] {
            for _ in 0..4 {
                silent.push(connect_from(source, &s.listen));
            }
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    // A client with a fresh connection is served at once, again and again.
    let cert = cluster.pki.issue_client("alice", None).unwrap();
    let start = Instant::now();
    for _ in 0..3 {
        let fresh = cluster.client_for(&cert, "alice");
        assert_eq!(open(&fresh, &sealed, b"o").unwrap(), b"CT");
    }
    assert!(start.elapsed() < Duration::from_secs(10));
    drop(silent);
    let log = cluster.audit(0);
    assert!(log.contains("a waiting connection closed"), "{log}");
}

/// Attack finding A-2: putting back an older CRL (same CA, still within its next update) was
/// accepted and un-revoked a certificate. The newest CRL per issuer is remembered, across
/// restarts: an older one fails closed.
#[test]
fn attack_02_an_older_crl_cannot_un_revoke_a_certificate() {
    let mut cluster = Cluster::start(3);
    let (alice, _) = cluster.user("alice", None);
    let (eve, eve_cert) = cluster.user("eve", None);
    let (_, _, sealed) = registered(&alice, &[Grant::user("eve", Right::Get)], b"CT");
    let old = cluster.pki.crl_pem(&[]).unwrap(); // number n, valid 30 days
    std::fs::write(&cluster.crl, &old).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    assert!(open(&eve, &sealed, b"o").is_ok());
    let revoking = cluster.pki.crl_pem(&[&eve_cert]).unwrap(); // number n + 1
    std::fs::write(&cluster.crl, &revoking).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    assert!(open(&eve, &sealed, b"o").is_err(), "eve is revoked");

    // The older CRL put back: refused, and with it every connection (fail closed).
    std::fs::write(&cluster.crl, &old).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        open(&eve, &sealed, b"o").is_err(),
        "the rollback un-revoked eve"
    );
    assert!(
        open(&alice, &sealed, b"o").is_err(),
        "served under a rolled-back CRL"
    );
    let log = cluster.audit(0);
    assert!(log.contains("lower than"), "{log}");
    // Nor does a restart forget it, even with the state file deleted (finding B-2 of the
    // second attack round): the newest CRL is on record in the keyed audit log too.
    for i in 0..3 {
        cluster.stop(i);
        let e = KeyServer::bind(cluster.settings[i].clone())
            .unwrap_err()
            .to_string();
        assert!(e.contains("lower than"), "server {i}: {e}");
        let state = hope_crypto::tls::crl_state_path(&cluster.settings[i].audit_log);
        std::fs::remove_file(&state).unwrap();
        let e = KeyServer::bind(cluster.settings[i].clone())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("lower than"),
            "server {i} without its state file: {e}"
        );
    }
    // The current CRL again (or a newer one): served, eve still revoked.
    std::fs::write(&cluster.crl, &revoking).unwrap();
    for i in 0..3 {
        cluster.restart(i);
    }
    assert!(open(&alice, &sealed, b"o").is_ok());
    assert!(open(&eve, &sealed, b"o").is_err());
    let newer = cluster.pki.crl_pem(&[&eve_cert]).unwrap();
    std::fs::write(&cluster.crl, &newer).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    assert!(open(&alice, &sealed, b"o").is_ok());
}

/// Attack finding A-3: removing the final line end made the next start cut the last whole,
/// valid record as if a crash had torn it (a record of a release vanished, "repaired"). A whole
/// record is completed instead; a torn one is cut but kept aside and named in the repair record.
#[test]
fn attack_03_a_lost_line_end_never_cuts_a_whole_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let key = AuditKey::from_bytes([3; 32]);
    {
        let log = AuditLog::open(&path, key.clone()).unwrap();
        log.append(Event::new("alice", "get", "granted").key("k1"))
            .unwrap();
    }
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.pop(); // the last line end
    std::fs::write(&path, &bytes).unwrap();
    let summary = verify(&path, &key).unwrap();
    assert_eq!((summary.records, summary.unterminated), (1, true));
    drop(AuditLog::open(&path, key.clone()).unwrap());
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("\"granted\"") && text.ends_with('\n'),
        "{text}"
    );
    assert!(!text.contains("audit-repair"), "{text}");
    assert_eq!(verify(&path, &key).unwrap().records, 1);

    // A torn tail is cut, and kept aside for whoever investigates.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(b"{\"seq\":2,\"time\":\"2026-").unwrap();
    drop(f);
    drop(AuditLog::open(&path, key.clone()).unwrap());
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("audit-repair") && text.contains(".torn-"),
        "{text}"
    );
    let side: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".torn-"))
        .collect();
    assert_eq!(side.len(), 1);
    assert_eq!(
        std::fs::read(side[0].path()).unwrap(),
        b"{\"seq\":2,\"time\":\"2026-"
    );
    verify(&path, &key).unwrap();
}

/// Attack finding A-6: a certificate without any grant asked for 1000 unknown keys per request
/// and each request wrote 1001 synced records (about 67 GB an hour); `verify` read the whole
/// log into memory. Refusals are one record per outcome, and a caller who keeps being refused
/// is slowed down.
#[test]
fn attack_06_an_ungranted_caller_cannot_flood_the_audit_log() {
    use hope_crypto::client::KeyServerClient;
    let mut cluster = Cluster::start(3);
    let (_, mallory_cert) = cluster.user("mallory", None);
    let (alice, _) = cluster.user("alice", None);
    let (_, _, sealed) = registered(&alice, &[], b"CT");
    let mallory = cluster.client_for(&mallory_cert, "mallory");
    let server: &KeyServerClient = &mallory.servers()[0];
    let ids: Vec<KeyId> = (0..1000)
        .map(|i: u16| {
            let mut b = [7u8; 16];
            b[..2].copy_from_slice(&i.to_le_bytes());
            KeyId(b)
        })
        .collect();
    let before = cluster.audit(0).lines().count();
    let mut answered = 0;
    let mut throttled = 0;
    for _ in 0..60 {
        match server.get(&ids) {
            Ok(results) => {
                assert!(results.iter().all(|r| r.status == "not-found"));
                answered += 1;
            }
            Err(e) => {
                assert!(
                    e.to_string().contains("429") || e.to_string().contains("slow down"),
                    "{e}"
                );
                throttled += 1;
            }
        }
    }
    let grown = cluster.audit(0).lines().count() - before;
    assert!(
        answered >= 20 && throttled > 0,
        "{answered} answered, {throttled} throttled"
    );
    // Two records per answered request (requested, not-found), a few for the throttling.
    assert!(
        grown <= 2 * answered + 30,
        "{grown} records for {answered} requests"
    );
    let log = cluster.audit(0);
    assert!(
        log.contains("1000 keys:") && log.contains("and 992 more"),
        "{log}"
    );
    assert!(log.contains("\"throttled\""), "{log}");
    // Others are not slowed down.
    assert_eq!(open(&alice, &sealed, b"o").unwrap(), b"CT");
}

/// Finding B-1 (second attack round): a connection counted as served (never closed for room) as
/// soon as its TLS handshake was done, so any certificate of the CA, without a single grant,
/// could hold every slot by trickling request heads. It is served only once a whole request is in.
#[test]
fn attack_b01_authenticated_tricklers_cannot_lock_clients_out() {
    use hope_crypto::tls::{TlsFiles, client_config};
    let mut cluster = Cluster::start_with(3, |s| {
        s.max_connections = 8;
        s.max_connections_per_address = 4;
        s.request_timeout_ms = 30_000;
    });
    let (alice, _) = cluster.user("alice", None);
    let (_, _, sealed) = registered(&alice, &[], b"CT");
    let mallory = cluster.pki.issue_client("mallory", None).unwrap();
    let (cert, key) = mallory.write(cluster.dir.path(), "mallory").unwrap();
    let tls = client_config(&TlsFiles {
        cert: &cert,
        key: &key,
        ca: &cluster.dir.path().join("ca.pem"),
    })
    .unwrap();
    // Every slot of every server: a completed handshake, then half a request head.
    let mut held = Vec::new();
    for s in &cluster.settings {
        for source in [[127, 0, 0, 2], [127, 0, 0, 3]] {
            for _ in 0..4 {
                let tcp = connect_from(source, &s.listen);
                let conn = rustls::ClientConnection::new(
                    std::sync::Arc::clone(&tls),
                    "localhost".try_into().unwrap(),
                )
                .unwrap();
                let mut stream = rustls::StreamOwned::new(conn, tcp);
                stream
                    .write_all(b"POST /v2/keys/get HTTP/1.1\r\nHost: x\r\n")
                    .unwrap();
                stream.flush().unwrap();
                held.push(stream);
                // Let the server finish its side of the handshake before the next one.
                std::thread::sleep(Duration::from_millis(40));
            }
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let cert = cluster.pki.issue_client("alice", None).unwrap();
    for _ in 0..3 {
        let fresh = cluster.client_for(&cert, "alice");
        assert_eq!(open(&fresh, &sealed, b"o").unwrap(), b"CT");
    }
    drop(held);
}
