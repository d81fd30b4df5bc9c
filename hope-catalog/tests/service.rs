//! The catalog service from the outside (issue 21), on loopback: the caller is who its
//! certificate says, whatever a request or the client's call names; revoked, unknown and missing
//! certificates are refused; a stopped server is reported as such; hostile requests get clear
//! refusals and the service goes on; every request is in the audit log.
#![cfg(all(feature = "server", feature = "client"))]
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hope_catalog::remote::client::{ClientSettings, Identity};
use hope_catalog::remote::server::{CatalogServer, ServerSettings, Storage};
use hope_catalog::{AttrType, Attribute, Catalog, Entry, Error, Permission, Principal, Subject};
use hope_crypto::pki::{IssuedCert, TestPki};
use hope_service::client::{Repeat, ServiceClient};
use hope_service::tls::TlsFiles;

struct Site {
    dir: tempfile::TempDir,
    pki: TestPki,
    settings: ServerSettings,
    server: Option<hope_service::service::ServiceHandle>,
    addr: String,
    users: Vec<(String, IssuedCert, PathBuf, PathBuf)>,
}

fn start(users: &[(&str, Option<&str>)], crl_revoking: &[&str]) -> Site {
    let dir = tempfile::tempdir().unwrap();
    let mut pki = TestPki::new("site CA").unwrap();
    std::fs::write(dir.path().join("ca.pem"), pki.ca_pem()).unwrap();
    let (cert, key) = pki
        .issue_server(&["localhost"])
        .unwrap()
        .write(dir.path(), "server")
        .unwrap();
    let mut issued = Vec::new();
    for (u, g) in users {
        let c = pki.issue_client(u, *g).unwrap();
        let (cp, kp) = c.write(dir.path(), u).unwrap();
        issued.push((u.to_string(), c, cp, kp));
    }
    let revoked: Vec<&IssuedCert> = issued
        .iter()
        .filter(|(u, ..)| crl_revoking.contains(&u.as_str()))
        .map(|(_, c, ..)| c)
        .collect();
    let crl = dir.path().join("crl.pem");
    std::fs::write(&crl, pki.crl_pem(&revoked).unwrap()).unwrap();
    let settings = ServerSettings {
        listen: "127.0.0.1:0".into(),
        cert,
        key,
        ca: dir.path().join("ca.pem"),
        crl: Some(crl),
        audit_log: dir.path().join("audit.jsonl"),
        audit_key: None,
        storage: Storage::Sqlite(dir.path().join("catalog.db")),
        admin: Some("admin".into()),
        postgres: Default::default(),
        groups: [("carol".to_string(), vec!["epidemiology".to_string()])]
            .into_iter()
            .collect(),
        disclosure: Vec::new(),
        max_connections: 16,
        max_connections_per_address: 16,
        request_timeout_ms: 2_000,
        idle_timeout_ms: 5_000,
    };
    let server = CatalogServer::bind(&settings).unwrap();
    let addr = server.local_addr().unwrap().to_string();
    Site {
        server: Some(server.spawn().unwrap()),
        dir,
        pki,
        settings,
        addr,
        users: issued,
    }
}

impl Site {
    fn identity(&self, user: &str) -> Identity {
        let (_, _, cert, key) = self.users.iter().find(|(u, ..)| u == user).unwrap();
        Identity::files(cert, key)
    }

    fn client(&self, users: &[&str]) -> Catalog {
        let ids: Vec<Identity> = users.iter().map(|u| self.identity(u)).collect();
        Catalog::connect_as(
            &self.addr,
            Some("localhost"),
            &self.settings.ca,
            &ids,
            Duration::from_secs(5),
        )
        .unwrap()
    }

    /// A raw client with `user`'s certificate, for requests the catalog client would not send.
    fn raw(&self, user: &str) -> ServiceClient {
        let id = self.identity(user);
        let tls = id.load().unwrap().client_config(&self.settings.ca).unwrap();
        ServiceClient::new(&self.addr, "localhost", tls, Duration::from_secs(5))
    }

    fn audit(&self) -> String {
        std::fs::read_to_string(&self.settings.audit_log).unwrap()
    }
}

fn admin() -> Principal {
    Principal::user("admin")
}

/// A collection `/study` of two entries that only admin may read.
fn seed(cat: &Catalog) {
    let a = admin();
    cat.init(&a).unwrap();
    cat.mkdir(&a, "/study").unwrap();
    cat.add_attribute(&a, "/study", Attribute::new("Site", AttrType::Text))
        .unwrap();
    cat.add_many(
        &a,
        "/study",
        vec![
            Entry::new("p1").with("Site", hope_catalog::Value::Text("A".into())),
            Entry::new("p2").with("Site", hope_catalog::Value::Text("B".into())),
        ],
    )
    .unwrap();
}

#[test]
fn the_caller_is_the_certificate_whatever_the_request_says() {
    let site = start(&[("admin", None), ("mallory", None)], &[]);
    seed(&site.client(&["admin"]));
    // The client refuses to call as someone it holds no certificate for.
    let mallory_only = site.client(&["mallory"]);
    let err = mallory_only.query(&admin(), "/study", "").unwrap_err();
    assert!(
        matches!(&err, Error::Remote { message, .. } if message.contains("no certificate for `admin`")),
        "{err}"
    );
    // Mallory as herself: denied, named as mallory.
    let err = mallory_only
        .query(&Principal::user("mallory"), "/study", "")
        .unwrap_err();
    assert!(
        matches!(&err, Error::AccessDenied { principal, action: "read", path } if principal == "mallory" && path == "/study"),
        "{err}"
    );
    // A request naming someone else, in the body or in a header, changes nothing: a field the
    // call does not have is refused, and there is no header to name a user.
    let raw = site.raw("mallory");
    for body in [
        r#"{"op":"query","path":"/study","text":"","principal":"admin"}"#,
        r#"{"op":"query","path":"/study","text":"","as":"admin"}"#,
        r#"{"op":"query","path":"/study","text":"","who":{"name":"admin","groups":[]}}"#,
    ] {
        let (status, answer) = raw
            .call("POST", "/v1/catalog", body.as_bytes(), Repeat::Safe)
            .unwrap();
        let text = String::from_utf8_lossy(&answer).into_owned();
        assert_eq!(status, 400, "{body}: {text}");
        assert!(text.contains("unknown field"), "{text}");
    }
    let (status, answer) = raw
        .call(
            "POST",
            "/v1/catalog",
            br#"{"op":"query","path":"/study","text":""}"#,
            Repeat::Safe,
        )
        .unwrap();
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&answer));
    assert!(String::from_utf8_lossy(&answer).contains("mallory"));
    // A header naming someone else, on a raw TLS connection with mallory's certificate: no
    // effect (denied as mallory).
    {
        use std::io::{BufReader, Write};
        let id = site.identity("mallory");
        let tls = id.load().unwrap().client_config(&site.settings.ca).unwrap();
        let sock = std::net::TcpStream::connect(&site.addr).unwrap();
        let conn = rustls::ClientConnection::new(tls, "localhost".try_into().unwrap()).unwrap();
        let mut stream = rustls::StreamOwned::new(conn, sock);
        let body = br#"{"op":"count","path":"/study"}"#;
        let head = format!(
            "POST /v1/catalog HTTP/1.1\r\nHost: localhost\r\nX-Hope-User: admin\r\n\
             X-Remote-User: admin\r\nAuthorization: Basic YWRtaW46YWRtaW4=\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        stream.flush().unwrap();
        let (status, answer, _) =
            hope_service::http::read_response(&mut BufReader::new(&mut stream)).unwrap();
        let text = String::from_utf8_lossy(&answer).into_owned();
        assert_eq!(status, 403, "{text}");
        assert!(text.contains("mallory"), "{text}");
    }
    // Whoami: the certificate's name.
    let me = mallory_only.whoami(&Principal::user("mallory")).unwrap();
    assert_eq!(me.name, "mallory");
    // Every request is on record, as the certificate's name: the denied queries and the
    // refused forgeries are mallory's; admin never queried.
    let log = site.audit();
    assert_eq!(
        log.matches(r#""who":"mallory","action":"query","result":"denied""#)
            .count(),
        2,
        "{log}"
    );
    assert!(log.contains(r#""who":"mallory","action":"count","result":"denied""#));
    assert_eq!(
        log.matches(r#""who":"mallory","action":"request","result":"refused""#)
            .count(),
        3,
        "{log}"
    );
    assert!(!log.contains(r#""who":"admin","action":"query""#), "{log}");
    let key = hope_service::audit::AuditKey::load_or_create(
        hope_service::audit::AuditKey::default_path(&site.settings.audit_log),
    )
    .unwrap();
    let chain = hope_service::audit::verify(&site.settings.audit_log, &key).unwrap();
    assert!(chain.records >= 12, "{chain:?}");
}

#[test]
fn groups_come_from_the_certificate_and_the_site_mapping() {
    let site = start(
        &[("admin", None), ("bob", Some("radiology")), ("carol", None)],
        &[],
    );
    let admin_cat = site.client(&["admin"]);
    seed(&admin_cat);
    admin_cat
        .grant(
            &admin(),
            "/study",
            Subject::Group("radiology".into()),
            Some(Permission::Read),
        )
        .unwrap();
    admin_cat
        .grant(
            &admin(),
            "/study",
            Subject::Group("epidemiology".into()),
            Some(Permission::Write),
        )
        .unwrap();
    let cat = site.client(&["bob", "carol"]);
    // Bob's group is his certificate's OU, whatever the principal passed says.
    assert_eq!(cat.count(&Principal::user("bob"), "/study").unwrap(), 2);
    // Carol's group is the site's mapping.
    let carol = Principal::user("carol");
    assert_eq!(cat.whoami(&carol).unwrap().groups, ["epidemiology"]);
    cat.add(&carol, "/study", Entry::new("p3")).unwrap();
    // A principal claiming a group its certificate lacks gains nothing.
    let err = cat
        .add(
            &Principal::user("bob").in_group("epidemiology"),
            "/study",
            Entry::new("p4"),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::AccessDenied {
                action: "write",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn revoked_unknown_and_missing_certificates_are_refused() {
    let site = start(&[("admin", None), ("eve", None)], &["eve"]);
    seed(&site.client(&["admin"]));
    let err = site
        .client(&["eve"])
        .count(&Principal::user("eve"), "/study")
        .unwrap_err();
    assert!(matches!(err, Error::Remote { .. }), "{err}");
    // A certificate of another CA.
    let mut other = TestPki::new("other CA").unwrap();
    let (cert, key) = other
        .issue_client("admin", None)
        .unwrap()
        .write(site.dir.path(), "forged-admin")
        .unwrap();
    let forged = Catalog::connect_as(
        &site.addr,
        Some("localhost"),
        &site.settings.ca,
        &[Identity::files(&cert, &key)],
        Duration::from_secs(5),
    )
    .unwrap();
    let err = forged.count(&admin(), "/study").unwrap_err();
    assert!(matches!(err, Error::Remote { .. }), "{err}");
    // No certificate at all: a plain TLS client without one is refused in the handshake.
    let plain = std::net::TcpStream::connect(&site.addr).unwrap();
    drop(plain);
    // The refusals are on record, and the service goes on.
    assert!(site.audit().contains("refused"));
    assert_eq!(
        site.client(&["admin"]).count(&admin(), "/study").unwrap(),
        2
    );
    let _ = &site.pki;
}

#[test]
fn a_stopped_server_is_reported_and_a_restarted_one_is_found_again() {
    let mut site = start(&[("admin", None)], &[]);
    let cat = site.client(&["admin"]);
    seed(&cat);
    assert_eq!(cat.count(&admin(), "/study").unwrap(), 2);
    site.server.take().unwrap().shutdown();
    let err = cat.count(&admin(), "/study").unwrap_err();
    match &err {
        Error::Remote { server, .. } => assert_eq!(server, &site.addr),
        e => panic!("{e}"),
    }
    // The same address again (the port is free now): the client's kept connections are dead,
    // and a read goes through on a fresh one.
    let mut settings = site.settings.clone();
    settings.listen = site.addr.clone();
    let again = CatalogServer::bind(&settings).unwrap().spawn().unwrap();
    assert_eq!(cat.count(&admin(), "/study").unwrap(), 2);
    again.shutdown();
}

#[test]
fn hostile_requests_are_refused_and_the_service_goes_on() {
    let site = start(&[("admin", None)], &[]);
    let cat = site.client(&["admin"]);
    seed(&cat);
    let raw = site.raw("admin");
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (deep.into_bytes(), "not a catalog call"),
        (br#"{"op":"format_disk"}"#.to_vec(), "unknown variant"),
        (b"\xff\xfe".to_vec(), "not a catalog call"),
        (
            br#"{"op":"query","path":"/../etc","text":""}"#.to_vec(),
            "path",
        ),
        (
            br#"{"op":"audit_log","limit":18446744073709551615}"#.to_vec(),
            "",
        ),
    ];
    for (body, expect) in cases {
        let (status, answer) = raw
            .call("POST", "/v1/catalog", &body, Repeat::Safe)
            .unwrap();
        let text = String::from_utf8_lossy(&answer).into_owned();
        if expect.is_empty() {
            assert_eq!(status, 200, "{text}");
        } else {
            assert!((400..500).contains(&status), "{status} {text}");
            assert!(text.contains(expect), "{text}");
        }
    }
    // A body over the 4 MiB limit is refused before it is read whole.
    let big = vec![b' '; hope_service::http::MAX_BODY + 1];
    let r = raw.call("POST", "/v1/catalog", &big, Repeat::Never);
    assert!(r.is_err() || r.unwrap().0 == 400);
    // Another path, another method.
    let (status, _) = raw.call("GET", "/v1/catalog", b"", Repeat::Safe).unwrap();
    assert_eq!(status, 404);
    // The service still answers.
    assert_eq!(cat.count(&admin(), "/study").unwrap(), 2);
}

#[test]
fn bulk_adds_stream_in_batches_and_client_files_are_read_with_their_errors() {
    let site = start(&[("admin", None)], &[]);
    let id = site.identity("admin");
    let toml = format!(
        "server = \"{}\"\nserver_name = \"localhost\"\nca = \"ca.pem\"\ncert = \"{}\"\nkey = \"{}\"\n",
        site.addr,
        id.cert
            .as_ref()
            .and_then(|c| c.file())
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy(),
        id.key
            .file()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
    );
    let file = site.dir.path().join("client.toml");
    std::fs::write(&file, &toml).unwrap();
    let settings = ClientSettings::from_file(&file).unwrap();
    let cat = Catalog::connect(&settings).unwrap();
    seed(&cat);
    // 60,000 entries of about 100 bytes: more than one 4 MiB request.
    let entries: Vec<Entry> = (0..60_000)
        .map(|i| {
            Entry::new(format!("bulk-{i:06}-{}", "x".repeat(60)))
                .with("Site", hope_catalog::Value::Text("C".into()))
        })
        .collect();
    assert_eq!(cat.add_many(&admin(), "/study", entries).unwrap(), 60_000);
    assert_eq!(cat.count(&admin(), "/study").unwrap(), 60_002);
    let adds = site.audit().matches(r#""add_many","result":"ok""#).count();
    assert!(adds >= 2, "{adds} add requests");
    // A large answer is refused with a way out, not truncated.
    let err = cat.query(&admin(), "/study", "").unwrap_err();
    assert!(err.to_string().contains("limit and offset"), "{err}");
    let page = cat
        .query(&admin(), "/study", "order by name limit 10 offset 100")
        .unwrap();
    assert_eq!(page.rows.len(), 10);
    // Configuration errors name the file and the field.
    std::fs::write(&file, toml.replace("server =", "servr =")).unwrap();
    let err = ClientSettings::from_file(&file).unwrap_err().to_string();
    assert!(
        err.contains("client.toml") && err.contains("servr"),
        "{err}"
    );
    let _ = Path::new("");
    let _ = Arc::new(());
}

/// Attack round on issue 21, each finding as a test that failed before its fix.
mod attack_21 {
    use super::*;
    use hope_catalog::remote::server::MAX_ANSWER_ROWS;
    use hope_service::audit::AuditLog;
    use hope_service::http::Request;
    use hope_service::service::{Activity, Audited, Limits, RefusalBudget, Service};
    use hope_service::session::{Reply, Session};
    use hope_service::tls::MutualTls;

    /// Finding 1: a path of 20,000 levels made the server copy it once per level (400 MB) before
    /// any check; now refused at once.
    #[test]
    fn a_deep_path_is_refused_at_once() {
        let site = start(&[("admin", None), ("mallory", None)], &[]);
        seed(&site.client(&["admin"]));
        let t = std::time::Instant::now();
        let err = site
            .client(&["mallory"])
            .count(&Principal::user("mallory"), &"/a".repeat(20_000))
            .unwrap_err();
        assert!(
            matches!(&err, Error::Invalid { what, message } if what.contains("path") && message.contains("at most 1024")),
            "{err}"
        );
        assert!(err.to_string().len() < 500);
        assert!(t.elapsed() < Duration::from_secs(2));
    }

    /// Finding 2: on a fresh service whoever called init first owned `/`.
    #[test]
    fn only_the_configured_admin_may_create_the_root() {
        let site = start(&[("admin", None), ("mallory", None)], &[]);
        let err = site
            .client(&["mallory"])
            .init(&Principal::user("mallory"))
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::AccessDenied {
                    action: "admin",
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(
            site.client(&["admin"]).init(&admin()).unwrap(),
            hope_catalog::Initialised::Created
        );
    }

    /// Finding 4: a collection's existence showed through NotFound against AccessDenied, and
    /// `mkdir_all` said ok for an existing path to anyone.
    #[test]
    fn whether_a_collection_exists_is_not_told_to_those_who_may_not_read() {
        let site = start(&[("admin", None), ("mallory", None)], &[]);
        seed(&site.client(&["admin"]));
        let m = site.client(&["mallory"]);
        let mal = Principal::user("mallory");
        let a = m.count(&mal, "/study").unwrap_err();
        let b = m.count(&mal, "/nosuch").unwrap_err();
        assert!(matches!(a, Error::AccessDenied { .. }), "{a}");
        assert!(matches!(b, Error::AccessDenied { .. }), "{b}");
        assert!(matches!(
            m.mkdir_all(&mal, "/study"),
            Err(Error::AccessDenied { .. })
        ));
        // Whoever may read still learns that something is missing.
        let admin_cat = site.client(&["admin"]);
        assert!(matches!(
            admin_cat.count(&admin(), "/nosuch"),
            Err(Error::NotFound(_))
        ));
    }

    /// Finding 5: grants and removals were audited without their subject or entry, and a
    /// request to another path or method was not audited at all.
    #[test]
    fn the_audit_says_what_was_granted_removed_and_refused() {
        let site = start(&[("admin", None), ("mallory", None)], &[]);
        let cat = site.client(&["admin"]);
        seed(&cat);
        cat.grant(
            &admin(),
            "/study",
            Subject::User("mallory".into()),
            Some(Permission::Admin),
        )
        .unwrap();
        cat.remove(&admin(), "/study", "p1").unwrap();
        let raw = site.raw("mallory");
        raw.call("GET", "/v1/catalog", b"", Repeat::Safe).unwrap();
        let log = site.audit();
        assert!(log.contains("/study user:mallory admin"), "{log}");
        assert!(log.contains("/study entry p1"), "{log}");
        assert!(
            log.contains(r#""who":"mallory","action":"request","result":"refused""#),
            "{log}"
        );
        // And the catalog's own audit trail has them too.
        let trail = cat.audit_log(&admin(), 50).unwrap();
        assert!(
            trail
                .iter()
                .any(|r| r.action == "acl" && r.detail == "user:mallory admin")
        );
        assert!(
            trail
                .iter()
                .any(|r| r.action == "remove" && r.detail == "entry p1")
        );
    }

    /// Findings 3 and 7: an answer of more rows than the service gives is refused without being
    /// built whole; a bulk add that fails after earlier batches went in says how many did.
    #[test]
    fn large_answers_are_refused_and_partial_bulk_adds_are_told() {
        let site = start(&[("admin", None)], &[]);
        let cat = site.client(&["admin"]);
        seed(&cat);
        let n = MAX_ANSWER_ROWS as usize;
        let entries: Vec<Entry> = (0..n).map(|i| Entry::new(format!("e{i}"))).collect();
        assert_eq!(cat.add_many(&admin(), "/study", entries).unwrap(), n);
        let err = cat
            .query(&admin(), "/study", "select name")
            .unwrap_err()
            .to_string();
        assert!(err.contains("more than 100000 rows"), "{err}");
        let r = cat.query(&admin(), "/study", "select count(*)").unwrap();
        assert_eq!(r.rows[0][0], hope_catalog::Value::Int(n as i64 + 2));
        // A duplicate in the last of two batches.
        let mut more: Vec<Entry> = (0..60_000)
            .map(|i| Entry::new(format!("m{i:06}-{}", "x".repeat(60))))
            .collect();
        more.push(Entry::new("e5"));
        let err = cat
            .add_many(&admin(), "/study", more)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("entries were added by earlier batches"),
            "{err}"
        );
    }

    /// A hostile server answering as it likes.
    struct Hostile {
        tls: MutualTls,
        audit: AuditLog,
        refusals: RefusalBudget,
    }

    impl Audited for Hostile {
        fn audit(&self) -> &AuditLog {
            &self.audit
        }
        fn connection(&self, stream: std::net::TcpStream, activity: &Activity) {
            let session = Session {
                tls: &self.tls,
                audit: &self.audit,
                refusals: &self.refusals,
                limits: Limits::new(),
            };
            session.serve(stream, activity, |_, request: &Request| {
                let body = String::from_utf8_lossy(&request.body).into_owned();
                if body.contains("whoami") {
                    Reply::new(200, br#"{"name":"admin","groups":["all"]}"#.to_vec())
                } else {
                    Reply::new(200, b"18446744073709551615".to_vec())
                }
            });
        }
    }

    /// Finding 8: a hostile server's counts overflowed the client's sum (a panic), and the
    /// client took whatever name `whoami` gave.
    #[test]
    fn a_hostile_server_does_not_crash_or_fool_the_client() {
        let site = start(&[("mallory", None)], &[]);
        let dir = site.dir.path();
        let audit = AuditLog::open(
            dir.join("hostile.jsonl"),
            hope_service::audit::AuditKey::from_bytes([7; 32]),
        )
        .unwrap();
        let tls = MutualTls::new(
            &TlsFiles {
                cert: &site.settings.cert,
                key: &site.settings.key,
                ca: &site.settings.ca,
            },
            None,
        )
        .unwrap();
        let service = Service::bind("127.0.0.1:0", Limits::new()).unwrap();
        let addr = service.local_addr().unwrap().to_string();
        let _handle = service
            .spawn_audited(Arc::new(Hostile {
                tls,
                audit,
                refusals: RefusalBudget::new(),
            }))
            .unwrap();
        let cat = Catalog::connect_as(
            &addr,
            Some("localhost"),
            &site.settings.ca,
            &[site.identity("mallory")],
            Duration::from_secs(5),
        )
        .unwrap();
        let mal = Principal::user("mallory");
        let err = cat.whoami(&mal).unwrap_err().to_string();
        assert!(err.contains("the server says"), "{err}");
        let entries: Vec<Entry> = (0..60_000)
            .map(|i| Entry::new(format!("m{i:06}-{}", "x".repeat(60))))
            .collect();
        assert_eq!(cat.add_many(&mal, "/x", entries).unwrap(), usize::MAX);
        let _ = Path::new("");
    }
}

/// A researcher whose key lives only on a smart card (SoftHSM2) uses the catalog with a client
/// configuration naming the key by its `pkcs11:` URI: the server sees the card's certificate,
/// and its ACLs apply to it.
#[test]
fn a_card_holder_uses_the_catalog_with_a_key_on_a_token() {
    let Some(card) = hope_test_support::pkcs11::token("hope-cat", "1357") else {
        return;
    };
    let mut site = start(&[("admin", None)], &[]);
    let uri = hope_crypto::token::Pkcs11Uri {
        token: Some(card.label.clone()),
        object: Some("dora".into()),
        id: Some(b"dora".to_vec()),
        ..Default::default()
    };
    let pin = hope_crypto::token::PinSource::File(card.pin_file.clone());
    let public = hope_crypto::token::generate_key(
        &card.module,
        &uri,
        hope_crypto::token::KeyAlgorithm::EcP384,
        &pin,
    )
    .unwrap();
    let issued = site
        .pki
        .issue_client_for_key("dora", Some("epidemiology"), &public)
        .unwrap();
    let der = rustls_pki_types::CertificateDer::from(issued.cert_der().unwrap());
    hope_crypto::token::store_certificate(&card.module, &uri, &der, &pin).unwrap();
    let file = site.dir.path().join("dora.toml");
    std::fs::write(
        &file,
        format!(
            "server = \"{}\"\nserver_name = \"localhost\"\nca = \"ca.pem\"\nkey = \"{uri}\"\n\
             pkcs11_module = {:?}\npin_file = {:?}\n",
            site.addr,
            card.module.display().to_string(),
            card.pin_file.display().to_string()
        ),
    )
    .unwrap();
    let cat = Catalog::connect(&ClientSettings::from_file(&file).unwrap()).unwrap();
    let dora = Principal::user("dora");
    let me = cat.whoami(&dora).unwrap();
    assert_eq!(me.name, "dora");
    assert!(me.groups.contains(&"epidemiology".to_string()), "{me:?}");
    // The ACLs apply to the card's identity: admin's collection is closed to her.
    let admin_cat = site.client(&["admin"]);
    seed(&admin_cat);
    let e = cat.count(&dora, "/study").unwrap_err();
    assert!(e.to_string().contains("dora may not read /study"), "{e}");
}
