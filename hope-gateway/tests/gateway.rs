//! The hospital gateway end to end, against the real Orthanc that `scripts/test` starts
//! (`HOPE_TEST_ORTHANC_*`), three in-process key servers with mutual TLS and a test CA.
//!
//! A job with a client certificate asks the gateway for a series by its pseudonymous UID; it gets
//! only encrypted, de-identified instances, which decrypt with 2 of the 3 key servers to files
//! without identity and with the originals' pixel data. A job without the right is refused, and
//! every request is in the gateway's audit log.
#![allow(clippy::unwrap_used, clippy::print_stderr, missing_docs)]

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use dicom_dictionary_std::tags;
use hope_catalog::{Catalog, Principal, Value};
use hope_core::{Grid, Volume};
use hope_crypto::KeyClient;
use hope_crypto::container::{Decryptor, Header};
use hope_crypto::demo::DemoSite;
use hope_dicom::deid::find_identity;
use hope_dicom::deid::{DeidKey, read_any};
use hope_dicom::net::Pacs;
use hope_dicom::{CtSeriesOptions, write_ct_series};
use hope_gateway::{
    Error, Gateway, GatewayClient, GatewayClientSettings, GatewaySettings, register_in_catalog,
};

use hope_test_support::orthanc::{MOVE_PORT, Orthanc};

fn orthanc() -> Option<Orthanc> {
    Orthanc::from_env()
}

/// The identity written into the hospital's CT.
struct Identity {
    name: String,
    id: String,
    study_date: String,
}

/// The hospital side: a CA, three key servers, the gateway's files, a CT in the PACS.
struct Site {
    demo: DemoSite,
    identity: Identity,
    originals: Vec<PathBuf>,
    study_uid: String,
    series_uid: String,
    project_key: DeidKey,
}

impl Site {
    fn new(dir: &Path, o: &Orthanc, slices: usize) -> Site {
        let demo = DemoSite::start(
            dir,
            &[
                ("gateway", "hospital"),
                ("alice", "physics"),
                ("bob", "physics"),
                ("mallory", "visitors"),
                ("it", "hospital"),
            ],
        )
        .unwrap();
        let project_key = DeidKey::generate().unwrap();
        std::fs::write(dir.join("project.key"), project_key.dangerous_to_hex()).unwrap();

        // The hospital's CT, with an identity, in the PACS.
        let unique = format!(
            "{}{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
                % 1_000_000_000
        );
        let identity = Identity {
            name: format!("DOE^JANE{unique}"),
            id: format!("EYE-{unique}"),
            study_date: "20230714".into(),
        };
        let grid = Grid::builder([48, 40, slices])
            .spacing([0.8, 0.8, 1.5])
            .build()
            .unwrap();
        let ct = Volume::from_fn(grid, |[i, j, k]| {
            ((i * 31 + j * 17 + k * 101) % 2000) as i16 - 1000
        });
        let written = write_ct_series(
            &ct,
            &dir.join("hospital"),
            &CtSeriesOptions::new()
                .patient_name(identity.name.as_str())
                .patient_id(identity.id.as_str())
                .study_date(identity.study_date.as_str()),
        )
        .unwrap();
        Pacs::new(o.dicom.clone(), o.aet.clone())
            .calling_ae("HOPESCU")
            .store(&written.files)
            .unwrap()
            .into_result()
            .unwrap();
        Site {
            demo,
            identity,
            originals: written.files,
            study_uid: written.study_uid,
            series_uid: written.series_uid,
            project_key,
        }
    }

    /// The gateway's configuration for one PACS source (`pacs` or `dicomweb` table).
    fn gateway_settings(&self, name: &str, source: &str) -> GatewaySettings {
        let text = format!(
            r#"{head}project_key = "project.key"
options = ["retain-longitudinal-modified-dates"]
readers = ["group:physics"]
admins = ["user:it"]
threads = 2

{source}

[expose]
PatientID = "{id}"
"#,
            head = self.demo.gateway_toml(name),
            id = self.identity.id
        );
        let path = self.demo.dir().join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        GatewaySettings::from_file(&path).unwrap()
    }

    fn client(&self, user: &str, addr: std::net::SocketAddr) -> GatewayClient {
        GatewayClient::new(&GatewayClientSettings::for_site_user(
            self.demo.dir(),
            user,
            &addr.to_string(),
        ))
        .unwrap()
    }

    fn key_client(&self, user: &str) -> KeyClient {
        self.demo.key_client(user).unwrap()
    }

    /// Everything that would identify the patient or point back to the PACS.
    fn needles(&self) -> Vec<(&'static str, String)> {
        vec![
            ("patient name", self.identity.name.clone()),
            ("patient id", self.identity.id.clone()),
            ("study date", self.identity.study_date.clone()),
            ("study uid", self.study_uid.clone()),
            ("series uid", self.series_uid.clone()),
        ]
    }
}

/// Decrypts every `.hope` file of `files` into `out` with `keys`; the decrypted paths.
fn decrypt_all(
    keys: &KeyClient,
    files: &[PathBuf],
    out: &Path,
) -> hope_crypto::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out).unwrap();
    let mut plain = Vec::new();
    for f in files {
        let name = f.file_name().unwrap().to_str().unwrap();
        let object_id = name.strip_suffix(".hope").unwrap();
        let mut r = BufReader::new(std::fs::File::open(f).unwrap());
        let header = Header::read_from(&mut r)?;
        let key = keys.fetch_key(&header.key_id, header.key_version, &header.commitment)?;
        let mut bytes = Vec::new();
        Decryptor::with_header(r, header, &key.key, Some(object_id.as_bytes()))?
            .read_to_end(&mut bytes)
            .map_err(|_| hope_crypto::Error::Decryption)?;
        let p = out.join(object_id);
        std::fs::write(&p, bytes).unwrap();
        plain.push(p);
    }
    Ok(plain)
}

/// Every file below a folder.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// The gateway's `[pacs]` table for the test PACS, retrieving by C-GET.
fn c_get_table(o: &Orthanc) -> String {
    format!(
        "[pacs]\naddress = \"{}\"\nae_title = \"{}\"\ncalling_ae = \"HOPESCU\"\nretrieval = \"get\"",
        o.dicom, o.aet
    )
}

/// Writes an edited CT instance, with its SOP Instance UID `sop`, as a DICOM file at `path`.
fn write_instance(obj: dicom_object::DefaultDicomObject, sop: &str, path: &Path) {
    let meta = dicom_object::FileMetaTableBuilder::new()
        .transfer_syntax("1.2.840.10008.1.2.1")
        .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.2")
        .media_storage_sop_instance_uid(sop);
    obj.into_inner()
        .with_meta(meta)
        .unwrap()
        .write_to_file(path)
        .unwrap();
}

fn text(obj: &dicom_object::DefaultDicomObject, tag: dicom_core::Tag) -> String {
    obj.element(tag)
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches(['\0', ' '])
        .to_string()
}

/// Decrypted instances carry the originals' pixels (matched by Instance Number) and the
/// pseudonymous study and series UIDs the index exposed.
fn assert_same_pixels(site: &Site, plain: &[PathBuf], study: &str, series: &str) {
    assert_eq!(plain.len(), site.originals.len());
    let originals: Vec<_> = site
        .originals
        .iter()
        .map(|p| read_any(p).unwrap())
        .collect();
    for p in plain {
        let d = read_any(p).unwrap();
        assert_eq!(text(&d, tags::STUDY_INSTANCE_UID), study);
        assert_eq!(text(&d, tags::SERIES_INSTANCE_UID), series);
        assert_eq!(text(&d, tags::PATIENT_IDENTITY_REMOVED), "YES");
        let n = text(&d, tags::INSTANCE_NUMBER);
        let o = originals
            .iter()
            .find(|o| text(o, tags::INSTANCE_NUMBER) == n)
            .unwrap();
        assert_eq!(
            d.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap(),
            o.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap(),
            "pixels of instance {n}"
        );
        // The keyed UID remapping of the project key.
        assert_eq!(
            text(&d, tags::SOP_INSTANCE_UID),
            site.project_key.uid(&text(o, tags::SOP_INSTANCE_UID))
        );
    }
}

#[test]
fn a_job_gets_only_encrypted_deidentified_instances_and_others_are_refused() {
    let Some(o) = orthanc() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mut site = Site::new(tmp.path(), &o, 8);
    let pacs_table = c_get_table(&o);
    let gateway = Gateway::bind(site.gateway_settings("get", &pacs_table)).unwrap();
    assert_eq!(gateway.refresh().unwrap(), 1);
    let handle = gateway.spawn().unwrap();

    // The job sees pseudonymous rows only.
    let alice = site.client("alice", handle.addr());
    assert_eq!(alice.health().unwrap(), "alice");
    let rows = alice.series().unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_ne!(row.series_instance_uid, site.series_uid);
    assert_ne!(row.study_instance_uid, site.study_uid);
    assert_ne!(row.patient_id, site.identity.id);
    assert_eq!(row.modality.as_deref(), Some("CT"));
    assert_eq!(row.number_of_series_related_instances, Some(8));
    let listing = serde_json::to_string(&rows).unwrap();
    for (what, needle) in site.needles() {
        assert!(!listing.contains(&needle), "the listing shows the {what}");
    }
    // Dates are shifted (retain-longitudinal-modified-dates), not the original.
    assert!(
        row.study_date
            .as_deref()
            .is_some_and(|d| d != site.identity.study_date)
    );

    // The series by its pseudonymous UID: encrypted instances only.
    let got = tmp.path().join("delivered");
    let delivery = alice.fetch_series(&row.series_instance_uid, &got).unwrap();
    assert_eq!(delivery.files.len(), 8);
    assert_eq!(delivery.withheld, 0);
    assert_eq!(delivery.keys.len(), 1, "one data key per series by default");
    for f in &delivery.files {
        let head = std::fs::read(f).unwrap();
        assert_eq!(
            &head[..8],
            b"HOPE-ENC",
            "{} is not a container",
            f.display()
        );
    }
    assert!(find_identity(&delivery.files, &site.needles()).is_empty());
    // Originals do not outlive the request on the gateway.
    assert_eq!(
        files_below(&tmp.path().join("get-work")),
        Vec::<PathBuf>::new()
    );

    // A whole study by its pseudonymous UID.
    let study = alice
        .fetch_study(&row.study_instance_uid, &tmp.path().join("study"))
        .unwrap();
    assert_eq!(study.files.len(), 8);

    // Decryption with one key server down: 2 of 3 suffice.
    site.demo.stop_key_server(2);
    let plain = decrypt_all(
        &site.key_client("alice"),
        &delivery.files,
        &tmp.path().join("plain"),
    )
    .unwrap();
    assert!(
        find_identity(&plain, &site.needles()).is_empty(),
        "{:?}",
        find_identity(&plain, &site.needles())
    );
    assert_same_pixels(
        &site,
        &plain,
        &row.study_instance_uid,
        &row.series_instance_uid,
    );

    // With a key server down the gateway cannot register a key: it delivers nothing, and tells
    // the job only a request id (the cause is in the audit log).
    let e = alice
        .fetch_series(&row.series_instance_uid, &tmp.path().join("down"))
        .unwrap_err();
    let Error::Refused {
        status: 502,
        message,
        ..
    } = &e
    else {
        panic!("{e}");
    };
    assert!(
        !message.contains("key server") && !message.contains("127.0.0.1"),
        "{message}"
    );
    let request = message
        .split("(request ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap()
        .to_string();
    let log = std::fs::read_to_string(tmp.path().join("get-audit.jsonl")).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains(&format!("request {request}")) && l.contains("key server")),
        "{log}"
    );
    assert!(files_below(&tmp.path().join("down")).is_empty());

    // The key is the requester's: another reader of the gateway cannot use it.
    let e = decrypt_all(
        &site.key_client("bob"),
        &delivery.files[..1],
        &tmp.path().join("bob"),
    );
    assert!(e.is_err(), "bob decrypted alice's delivery");

    // Refused: a certificate without the reader's right, an unknown UID, the refresh by a reader.
    let mallory = site.client("mallory", handle.addr());
    match mallory.fetch_series(&row.series_instance_uid, &tmp.path().join("m")) {
        Err(Error::Refused { status: 403, .. }) => {}
        other => panic!("mallory was not refused: {other:?}"),
    }
    assert!(matches!(
        mallory.series(),
        Err(Error::Refused { status: 403, .. })
    ));
    assert!(std::fs::read_dir(tmp.path().join("m")).map_or(true, |mut d| d.next().is_none()));
    match alice.fetch_series(&site.series_uid, &tmp.path().join("orig")) {
        Err(Error::Refused { status: 404, .. }) => {}
        other => panic!("the original series UID must mean nothing to the gateway: {other:?}"),
    }
    assert!(matches!(
        alice.refresh(),
        Err(Error::Refused { status: 403, .. })
    ));
    assert_eq!(site.client("it", handle.addr()).refresh().unwrap(), 1);

    // Every request in the audit log, which verifies; none names the patient or the originals.
    let audit = tmp.path().join("get-audit.jsonl");
    let audit_key = hope_service::audit::AuditKey::load_or_create(
        hope_service::audit::AuditKey::default_path(&audit),
    )
    .unwrap();
    let summary = hope_service::audit::verify(&audit, &audit_key).unwrap();
    assert!(summary.records >= 10);
    let log = std::fs::read_to_string(&audit).unwrap();
    let has = |who: &str, action: &str, result: &str| {
        log.lines().any(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["who"] == who && v["action"] == action && v["result"] == result
        })
    };
    assert!(has("alice", "fetch-series", "granted"));
    assert!(has("alice", "fetch-study", "granted"));
    assert!(has("mallory", "fetch-series", "denied"));
    assert!(has("mallory", "list", "denied"));
    assert!(has("alice", "fetch-series", "not-found"));
    assert!(has("alice", "refresh", "denied"));
    // The gateway never writes an original identifier (the original series UID appears once, in
    // the record of alice asking for it; a refresh that skips a series of the PACS, none here,
    // records its original UID).
    for line in log.lines().filter(|l| !l.contains("\"not-found\"")) {
        for (what, needle) in site.needles() {
            assert!(
                !line.contains(&needle),
                "the audit log names the {what}: {line}"
            );
        }
    }
    handle.shutdown();
}

/// A physician whose key lives only on a smart card (SoftHSM2): the gateway client and the
/// key-server client take `key = "pkcs11:..."` in their configuration files, fetch the series
/// and decrypt it; the gateway's audit log names the card holder.
#[test]
fn a_card_holder_fetches_and_decrypts_a_series_with_a_key_on_a_token() {
    let Some(o) = orthanc() else { return };
    let Some(card) = hope_test_support::pkcs11::token("hope-gw", "2468") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let site = Site::new(tmp.path(), &o, 4);
    let token = hope_crypto::token::Pkcs11Uri {
        token: Some(card.label.clone()),
        ..Default::default()
    };
    let uri = site
        .demo
        .enrol_on_token("carol", "physics", &card.module, &token, &card.pin_file)
        .unwrap();
    assert!(!site.demo.dir().join("carol.key").exists());
    let gateway = Gateway::bind(site.gateway_settings("card", &c_get_table(&o))).unwrap();
    assert_eq!(gateway.refresh().unwrap(), 1);
    let handle = gateway.spawn().unwrap();

    // The gateway client's configuration file, as a hospital writes it: no key file.
    let config = site.demo.dir().join("carol-gateway.toml");
    std::fs::write(
        &config,
        format!(
            "address = \"{}\"\nserver_name = \"localhost\"\nca = \"ca.pem\"\n\
             key = \"{uri}\"\npkcs11_module = {:?}\npin_file = {:?}\n",
            handle.addr(),
            card.module.display().to_string(),
            card.pin_file.display().to_string()
        ),
    )
    .unwrap();
    let settings = GatewayClientSettings::from_file(&config).unwrap();
    let carol = GatewayClient::new(&settings).unwrap();
    assert_eq!(carol.health().unwrap(), "carol");
    let rows = carol.series().unwrap();
    assert_eq!(rows.len(), 1);
    let got = tmp.path().join("card-delivered");
    let delivery = carol
        .fetch_series(&rows[0].series_instance_uid, &got)
        .unwrap();
    assert_eq!(delivery.files.len(), 4);
    let keys = KeyClient::from_settings(
        &hope_crypto::ClientSettings::from_file(site.demo.dir().join("carol-keys.toml")).unwrap(),
    )
    .unwrap();
    let plain = decrypt_all(&keys, &delivery.files, &tmp.path().join("card-plain")).unwrap();
    assert_same_pixels(
        &site,
        &plain,
        &rows[0].study_instance_uid,
        &rows[0].series_instance_uid,
    );
    let log = std::fs::read_to_string(site.demo.dir().join("card-audit.jsonl")).unwrap();
    assert!(
        log.lines().any(|l| l.contains("\"carol\"")
            && l.contains("fetch-series")
            && l.contains("granted")),
        "{log}"
    );
    handle.shutdown();
}

#[test]
fn c_move_and_dicomweb_sources_deliver_the_same_and_the_catalog_indexes_the_rows() {
    let Some(o) = orthanc() else { return };
    let _one = MOVE_PORT.lock().unwrap_or_else(|p| p.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let site = Site::new(tmp.path(), &o, 5);
    std::fs::copy(&o.ca, tmp.path().join("pacs-ca.pem")).unwrap();
    let sources = [
        (
            "move",
            format!(
                "[pacs]\naddress = \"{}\"\nae_title = \"{}\"\ncalling_ae = \"HOPESCU\"\nretrieval = \"move\"\nmove_listen = \"127.0.0.1:{}\"\nmove_ae = \"HOPESCP\"",
                o.dicom, o.aet, o.move_port
            ),
        ),
        (
            "web",
            format!("[dicomweb]\nurl = \"{}\"\nca = \"pacs-ca.pem\"", o.url),
        ),
    ];
    let mut decrypted = Vec::new();
    for (name, table) in &sources {
        let mut settings = site.gateway_settings(name, table);
        if *name == "web" {
            // One key per instance: every container has its own key.
            settings.key_scope = hope_gateway::KeyScope::Instance;
        }
        let gateway = Gateway::bind(settings).unwrap();
        assert_eq!(gateway.refresh().unwrap(), 1, "{name}");
        let handle = gateway.spawn().unwrap();
        let alice = site.client("alice", handle.addr());
        let rows = alice.series().unwrap();

        // The rows in the researchers' catalog (SQLite), found by query, fetched by name.
        let catalog =
            Catalog::open_sqlite(tmp.path().join(format!("{name}-catalog.sqlite"))).unwrap();
        let me = Principal::user("alice");
        catalog.init(&me).unwrap();
        let n = register_in_catalog(
            &catalog,
            &me,
            "/hospital-a/series",
            &rows,
            &handle.addr().to_string(),
        )
        .unwrap();
        assert_eq!(n, 1);
        let found = catalog
            .query(
                &me,
                "/hospital-a/series",
                "select name, Instances where Modality = 'CT' and StudyDate >= 1900-01-01",
            )
            .unwrap();
        assert_eq!(found.rows.len(), 1);
        let Value::Text(uid) = &found.rows[0][0] else {
            panic!("entry name {:?}", found.rows[0][0])
        };
        assert_eq!(found.rows[0][1], Value::Int(5));

        let delivery = alice
            .fetch_series(uid, &tmp.path().join(format!("{name}-got")))
            .unwrap();
        assert_eq!(delivery.files.len(), 5, "{name}");
        if *name == "web" {
            assert_eq!(
                delivery.keys.len(),
                0,
                "instance keys are not listed per series"
            );
        }
        let plain = decrypt_all(
            &site.key_client("alice"),
            &delivery.files,
            &tmp.path().join(format!("{name}-plain")),
        )
        .unwrap();
        assert!(find_identity(&plain, &site.needles()).is_empty());
        assert_same_pixels(
            &site,
            &plain,
            &rows[0].study_instance_uid,
            &rows[0].series_instance_uid,
        );
        decrypted.push(plain);
        handle.shutdown();
    }
    // Same project key, same profile: both sources give the same de-identified bytes.
    for (a, b) in decrypted[0].iter().zip(&decrypted[1]) {
        assert_eq!(a.file_name(), b.file_name());
        assert_eq!(
            hope_dicom::net::dataset_bytes(a).unwrap(),
            hope_dicom::net::dataset_bytes(b).unwrap()
        );
    }
}

/// A gateway over a PACS that is not there (nothing in these tests asks it anything).
fn offline_gateway(dir: &Path, extra: &str) -> (DemoSite, GatewaySettings) {
    let demo = DemoSite::start(dir, &[("gateway", "hospital"), ("alice", "physics")]).unwrap();
    std::fs::write(
        dir.join("project.key"),
        DeidKey::generate().unwrap().dangerous_to_hex(),
    )
    .unwrap();
    let text = format!(
        "{}project_key = \"project.key\"\nreaders = [\"group:physics\"]\n{extra}\n[pacs]\naddress = \"127.0.0.1:9\"\nae_title = \"NOPACS\"\n",
        demo.gateway_toml("off")
    );
    let path = dir.join("off.toml");
    std::fs::write(&path, text).unwrap();
    let settings = GatewaySettings::from_file(&path).unwrap();
    (demo, settings)
}

/// Finding 14: originals outlived a gateway request after a crash.
#[test]
fn finding_14_originals_left_by_a_crash_are_removed_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let (_demo, settings) = offline_gateway(tmp.path(), "");
    let work = tmp.path().join("off-work");
    std::fs::create_dir_all(work.join("req-7f3a")).unwrap();
    std::fs::write(
        work.join("req-7f3a/1.2.840.9.dcm"),
        b"an original, with identity",
    )
    .unwrap();
    std::fs::create_dir_all(work.join("scp")).unwrap();
    std::fs::write(work.join("scp/1.2.840.10.dcm"), b"another").unwrap();
    let _gateway = Gateway::bind(settings).unwrap();
    assert!(files_below(&work).is_empty(), "{:?}", files_below(&work));
    let log = std::fs::read_to_string(tmp.path().join("off-audit.jsonl")).unwrap();
    assert!(
        log.contains("\"cleanup\"") && log.contains("2 entries"),
        "{log}"
    );
}

/// Finding 7: sixteen silent clients locked every job out of the gateway.
#[test]
fn finding_07_slow_clients_cannot_lock_out_the_gateway() {
    let tmp = tempfile::tempdir().unwrap();
    let (demo, settings) = offline_gateway(tmp.path(), "request_timeout_ms = 800\n");
    let handle = Gateway::bind(settings).unwrap().spawn().unwrap();
    let addr = handle.addr();
    let silent: Vec<std::net::TcpStream> = (0..30)
        .map(|_| {
            let s =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            s.bind(&std::net::SocketAddr::from(([127, 0, 0, 2], 0)).into())
                .unwrap();
            s.connect(&addr.into()).unwrap();
            s.into()
        })
        .collect();
    let alice = GatewayClient::new(&GatewayClientSettings::for_site_user(
        demo.dir(),
        "alice",
        &addr.to_string(),
    ))
    .unwrap();
    assert_eq!(alice.health().unwrap(), "alice");
    // And a silent connection is dropped once its time is up.
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let mut first = &silent[0];
    let mut b = [0u8; 1];
    first
        .set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .unwrap();
    assert!(matches!(first.read(&mut b), Ok(0) | Err(_)));
    assert_eq!(alice.health().unwrap(), "alice");
}

/// Finding 5: an instance of deeply nested sequences in the PACS aborted the gateway for every
/// user (stack overflow) and left originals in its work folder. Now it is withheld, with its
/// reason in the audit log, and the others are delivered.
#[test]
fn finding_05_a_hostile_instance_in_the_pacs_is_withheld_not_fatal() {
    let Some(o) = orthanc() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let site = Site::new(tmp.path(), &o, 3);
    // A fourth instance of the series, with 100 nested sequences.
    let mut hostile = read_any(&site.originals[0]).unwrap();
    let sop = format!("{}.99", site.series_uid);
    hostile.put(dicom_core::DataElement::new(
        tags::SOP_INSTANCE_UID,
        dicom_core::VR::UI,
        dicom_core::PrimitiveValue::from(sop.as_str()),
    ));
    let mut nested = dicom_object::InMemDicomObject::new_empty();
    for _ in 0..100 {
        nested = dicom_object::InMemDicomObject::from_element_iter([dicom_core::DataElement::new(
            tags::CONTENT_SEQUENCE,
            dicom_core::VR::SQ,
            dicom_core::value::DataSetSequence::from(vec![nested]),
        )]);
    }
    for e in nested {
        hostile.put(e);
    }
    let path = tmp.path().join("hostile.dcm");
    write_instance(hostile, &sop, &path);
    let stored = Pacs::new(o.dicom.clone(), o.aet.clone())
        .calling_ae("HOPESCU")
        .store(&[path])
        .unwrap();
    if stored.stored.is_empty() {
        eprintln!("skipped: the PACS refused the hostile instance itself: {stored:?}");
        return;
    }
    let pacs_table = c_get_table(&o);
    let gateway = Gateway::bind(site.gateway_settings("hostile", &pacs_table)).unwrap();
    gateway.refresh().unwrap();
    let handle = gateway.spawn().unwrap();
    let alice = site.client("alice", handle.addr());
    let row = alice.series().unwrap().remove(0);
    let delivery = alice
        .fetch_series(&row.series_instance_uid, &tmp.path().join("got"))
        .unwrap();
    assert_eq!((delivery.files.len(), delivery.withheld), (3, 1));
    assert_eq!(alice.health().unwrap(), "alice", "the gateway is still up");
    assert!(files_below(&tmp.path().join("hostile-work")).is_empty());
    let log = std::fs::read_to_string(tmp.path().join("hostile-audit.jsonl")).unwrap();
    assert!(log.contains("nested more than 64"), "{log}");
}

/// Finding B-6 (second attack round): a series-level retrieval answered by the PACS with every
/// series of that UID, whatever the study: a study that is not exposed (another patient's MR)
/// sharing the exposed series' UID was delivered with it. Each instance's original study and
/// series must be the exposed row's.
#[test]
fn attack_b06_a_reused_series_uid_never_delivers_another_study() {
    let Some(o) = orthanc() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let site = Site::new(tmp.path(), &o, 3);
    // Another patient, another study, not exposed, reusing the exposed series' UID.
    let mut victim = read_any(&site.originals[0]).unwrap();
    let study = format!("{}.7", site.study_uid);
    let sop = format!("{}.77", site.series_uid);
    for (tag, vr, value) in [
        (tags::PATIENT_ID, dicom_core::VR::LO, "VICTIM-4242"),
        (tags::PATIENT_NAME, dicom_core::VR::PN, "VICTIM^ZZ"),
        (tags::STUDY_INSTANCE_UID, dicom_core::VR::UI, study.as_str()),
        (tags::SOP_INSTANCE_UID, dicom_core::VR::UI, sop.as_str()),
    ] {
        victim.put(dicom_core::DataElement::new(
            tag,
            vr,
            dicom_core::PrimitiveValue::from(value),
        ));
    }
    let path = tmp.path().join("victim.dcm");
    write_instance(victim, &sop, &path);
    Pacs::new(o.dicom.clone(), o.aet.clone())
        .calling_ae("HOPESCU")
        .store(&[path])
        .unwrap()
        .into_result()
        .unwrap();
    let pacs_table = c_get_table(&o);
    let gateway = Gateway::bind(site.gateway_settings("reused", &pacs_table)).unwrap();
    gateway.refresh().unwrap();
    let handle = gateway.spawn().unwrap();
    let alice = site.client("alice", handle.addr());
    let rows = alice.series().unwrap();
    assert_eq!(rows.len(), 1, "only the exposed patient's series is listed");
    let delivery = alice
        .fetch_series(&rows[0].series_instance_uid, &tmp.path().join("got"))
        .unwrap();
    assert_eq!(
        delivery.files.len(),
        3,
        "only the exposed study's instances"
    );
    let log = std::fs::read_to_string(tmp.path().join("reused-audit.jsonl")).unwrap();
    // Orthanc answers a series-level C-GET with the other study's instance too: withheld.
    assert_eq!(delivery.withheld, 1);
    assert!(log.contains("another study or series"), "{log}");
    assert!(!log.contains("VICTIM"), "{log}");
}

/// Finding B-5 (second attack round): a certificate without a role sent thousands of refused
/// requests, each recorded (with a 7,000-character UID verbatim) and synced: 4.6 GB of log an
/// hour. Refused callers are slowed down (429) and what is recorded of their text is bounded.
#[test]
fn attack_b05_refused_gateway_callers_are_throttled_and_recorded_briefly() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = DemoSite::start(
        tmp.path(),
        &[
            ("gateway", "hospital"),
            ("alice", "physics"),
            ("mallory", "visitors"),
        ],
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("project.key"),
        DeidKey::generate().unwrap().dangerous_to_hex(),
    )
    .unwrap();
    let text = format!(
        "{}project_key = \"project.key\"\nreaders = [\"group:physics\"]\n[pacs]\naddress = \"127.0.0.1:9\"\nae_title = \"NOPACS\"\n",
        demo.gateway_toml("off")
    );
    std::fs::write(tmp.path().join("off.toml"), text).unwrap();
    let settings = GatewaySettings::from_file(tmp.path().join("off.toml")).unwrap();
    let handle = Gateway::bind(settings).unwrap().spawn().unwrap();
    let addr = handle.addr().to_string();
    // Raw requests (the client library checks UIDs before sending).
    let tls = hope_service::tls::client_config(&hope_service::tls::TlsFiles {
        cert: &tmp.path().join("mallory.pem"),
        key: &tmp.path().join("mallory.key"),
        ca: &tmp.path().join("ca.pem"),
    })
    .unwrap();
    let long_uid = "1".repeat(7000);
    let log_path = tmp.path().join("off-audit.jsonl");
    let before = std::fs::read_to_string(&log_path).unwrap().lines().count();
    let (mut refused, mut throttled) = (0, 0);
    for _ in 0..60 {
        use std::io::Write;
        let tcp = std::net::TcpStream::connect(&addr).unwrap();
        let conn = rustls::ClientConnection::new(
            std::sync::Arc::clone(&tls),
            "localhost".try_into().unwrap(),
        )
        .unwrap();
        let mut stream = rustls::StreamOwned::new(conn, tcp);
        let request = format!("GET /v1/series/{long_uid} HTTP/1.1\r\nHost: x\r\n\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer);
        if answer.starts_with("HTTP/1.1 429") {
            throttled += 1;
        } else {
            assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
            refused += 1;
        }
    }
    assert!(
        refused >= 20 && throttled > 0,
        "{refused} refused, {throttled} throttled"
    );
    let log = std::fs::read_to_string(&log_path).unwrap();
    let grown = log.lines().count() - before;
    assert!(
        grown <= refused + 30,
        "{grown} records for {refused} refused requests"
    );
    assert!(
        log.lines().all(|l| l.len() < 2048),
        "a record holds the client's text whole"
    );
    assert!(log.contains("\"throttled\""), "{log}");
    // Others are not slowed down.
    let alice = GatewayClient::new(&GatewayClientSettings::for_site_user(
        demo.dir(),
        "alice",
        &addr,
    ))
    .unwrap();
    assert_eq!(alice.health().unwrap(), "alice");
}

/// Attack round of issue 20: one study in the PACS whose original UID has a component with a
/// leading zero (not a valid UID, which the index refuses to store) made the whole refresh
/// fail, so no series at all was exposed. It is skipped, recorded in the audit log, and the
/// other series are exposed.
#[test]
fn attack_20_one_invalid_original_uid_skips_its_series_not_the_refresh() {
    let Some(o) = orthanc() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let site = Site::new(tmp.path(), &o, 2);
    // The same patient, a second study whose UID has a component "05".
    let mut bad = read_any(&site.originals[0]).unwrap();
    let study = format!("{}.05", site.study_uid);
    let series = format!("{}.6", site.series_uid);
    let sop = format!("{}.66", site.series_uid);
    for (tag, value) in [
        (tags::STUDY_INSTANCE_UID, study.as_str()),
        (tags::SERIES_INSTANCE_UID, series.as_str()),
        (tags::SOP_INSTANCE_UID, sop.as_str()),
    ] {
        bad.put(dicom_core::DataElement::new(
            tag,
            dicom_core::VR::UI,
            dicom_core::PrimitiveValue::from(value),
        ));
    }
    let path = tmp.path().join("bad-uid.dcm");
    write_instance(bad, &sop, &path);
    let stored = Pacs::new(o.dicom.clone(), o.aet.clone())
        .calling_ae("HOPESCU")
        .store(&[path])
        .unwrap();
    if stored.stored.is_empty() {
        eprintln!("skipped: the PACS refused the instance itself: {stored:?}");
        return;
    }
    let pacs_table = c_get_table(&o);
    let gateway = Gateway::bind(site.gateway_settings("baduid", &pacs_table)).unwrap();
    assert_eq!(gateway.refresh().unwrap(), 1, "the valid series is exposed");
    let log = std::fs::read_to_string(tmp.path().join("baduid-audit.jsonl")).unwrap();
    assert!(
        log.contains("\"skipped\"") && log.contains(&study),
        "the skipped study is on record: {log}"
    );
    assert!(log.contains("1 series exposed, 1 skipped"), "{log}");
}
