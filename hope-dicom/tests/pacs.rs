//! PACS access against a real Orthanc (Debian's `orthanc` and `orthanc-dicomweb`), started on
//! loopback by `scripts/test` (see `scripts/services.sh`: `HOPE_TEST_ORTHANC_*`). Every test
//! loads its own synthetic study (its own patient and UIDs), so the tests can run in parallel.
#![cfg(feature = "net")]
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use dicom_dictionary_std::tags;
use hope_core::{Grid, Volume};
use hope_dicom::net::{
    DicomWeb, Match, NetError, Pacs, Query, QueryLevel, Rejection, Retrieval, StorageScp,
    dataset_bytes,
};
use hope_dicom::{CtSeriesOptions, write_ct_series};

use hope_test_support::orthanc::{MOVE_PORT, Orthanc};

fn orthanc() -> Option<Orthanc> {
    Orthanc::from_env()
}

/// Extension of the shared fixture: clients of the test PACS.
trait Clients {
    fn pacs(&self) -> Pacs;
    fn web(&self) -> DicomWeb;
}

impl Clients for Orthanc {
    fn pacs(&self) -> Pacs {
        Pacs::new(self.dicom.clone(), self.aet.clone())
            .calling_ae("HOPESCU")
            .timeout(Duration::from_secs(30))
    }

    fn web(&self) -> DicomWeb {
        DicomWeb::new(&self.url)
            .unwrap()
            .trust_ca_pem(&self.ca)
            .unwrap()
    }
}

/// A synthetic CT series of `slices` slices with its own patient; (study, series, files).
fn synthetic_study(dir: &Path, patient: &str, slices: usize) -> (String, String, Vec<PathBuf>) {
    let grid = Grid::builder([32, 24, slices])
        .spacing([1.0, 1.0, 2.0])
        .build()
        .unwrap();
    let ct = Volume::from_fn(grid, |[i, j, k]| {
        (i as i16 * 7 - j as i16 * 3 + k as i16 * 50) - 200
    });
    let options = CtSeriesOptions::new()
        .patient_name(format!("TEST^{patient}"))
        .patient_id(patient)
        .study_date("20240315");
    let w = write_ct_series(&ct, dir, &options).unwrap();
    (w.study_uid, w.series_uid, w.files)
}

fn unique(prefix: &str) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{}", std::process::id(), t % 1_000_000_000)
}

/// Every retrieved file has the data set of the original with the same SOP Instance UID, byte
/// for byte.
fn assert_identical(originals: &[PathBuf], retrieved: &[PathBuf]) {
    assert_eq!(originals.len(), retrieved.len());
    for o in originals {
        let uid = hope_dicom::deid::read_any(o)
            .unwrap()
            .meta()
            .media_storage_sop_instance_uid()
            .trim_end_matches('\0')
            .to_string();
        let r = retrieved
            .iter()
            .find(|p| p.file_stem().unwrap().to_str() == Some(uid.as_str()))
            .unwrap_or_else(|| panic!("{uid} was not retrieved"));
        assert!(
            dataset_bytes(o).unwrap() == dataset_bytes(r).unwrap(),
            "{} differs from {}",
            r.display(),
            o.display()
        );
    }
}

fn only(matches: &[Match], tag: dicom_core::Tag) -> Vec<String> {
    let mut v: Vec<String> = matches
        .iter()
        .filter_map(|m| m.get(tag).map(str::to_string))
        .collect();
    v.sort();
    v
}

#[test]
fn c_echo_c_store_and_c_find_at_every_level() {
    let Some(o) = orthanc() else { return };
    let pacs = o.pacs();
    pacs.echo().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let patient = unique("FIND");
    let (study, series, files) = synthetic_study(tmp.path(), &patient, 4);
    let stored = pacs.store(&files).unwrap().into_result().unwrap();
    assert_eq!(stored.stored.len(), 4);

    let patients = pacs
        .find(&Query::patients().with(tags::PATIENT_ID, patient.as_str()))
        .unwrap();
    assert_eq!(only(&patients, tags::PATIENT_ID), vec![patient.clone()]);
    assert_eq!(
        patients[0].get(tags::PATIENT_NAME),
        Some(format!("TEST^{patient}").as_str())
    );

    let studies = pacs
        .find(
            &Query::studies()
                .with(tags::PATIENT_ID, patient.as_str())
                .with(tags::STUDY_DATE, "20240101-20241231"),
        )
        .unwrap();
    assert_eq!(
        only(&studies, tags::STUDY_INSTANCE_UID),
        vec![study.clone()]
    );
    assert_eq!(
        studies[0].get(tags::NUMBER_OF_STUDY_RELATED_INSTANCES),
        Some("4")
    );
    let none = pacs
        .find(
            &Query::studies()
                .with(tags::PATIENT_ID, patient.as_str())
                .with(tags::STUDY_DATE, "20250101-"),
        )
        .unwrap();
    assert!(none.is_empty());

    let series_found = pacs
        .find(&Query::series(&study).with(tags::MODALITY, "CT"))
        .unwrap();
    assert_eq!(
        only(&series_found, tags::SERIES_INSTANCE_UID),
        vec![series.clone()]
    );
    assert_eq!(
        series_found[0].get(tags::NUMBER_OF_SERIES_RELATED_INSTANCES),
        Some("4")
    );

    let instances = pacs.find(&Query::instances(&study, &series)).unwrap();
    assert_eq!(instances.len(), 4);
    assert!(
        instances
            .iter()
            .all(|m| m.get(tags::SOP_CLASS_UID) == Some("1.2.840.10008.5.1.4.1.1.2"))
    );

    // find_each can stop early (C-CANCEL) and keeps the association usable for the PACS.
    let mut seen = 0;
    pacs.find_each(&Query::instances(&study, &series), |_| {
        seen += 1;
        false
    })
    .unwrap();
    assert!(seen >= 1);
    assert_eq!(Query::series(&study).level(), QueryLevel::Series);
}

#[test]
fn c_get_returns_byte_identical_instances_and_resumes_per_instance() {
    let Some(o) = orthanc() else { return };
    let pacs = o.pacs();
    let tmp = tempfile::tempdir().unwrap();
    let (study, series, files) = synthetic_study(&tmp.path().join("src"), &unique("GET"), 6);
    pacs.store(&files).unwrap().into_result().unwrap();

    let out = tmp.path().join("got");
    let mut seen = Vec::new();
    let got = pacs
        .retrieve(&study, Some(&series), &out, Retrieval::Get, |p| {
            seen.push(p.to_path_buf());
            true
        })
        .unwrap();
    assert_eq!((got.received, got.already_present), (6, 0));
    assert_eq!(seen.len(), 6);
    assert_identical(&files, &got.files);
    // Only whole instances in the folder: no temporary file left behind.
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 6);

    // An interrupted retrieval: two instances lost; only they are asked for again.
    std::fs::remove_file(&got.files[1]).unwrap();
    std::fs::remove_file(&got.files[4]).unwrap();
    let again = pacs
        .retrieve(&study, Some(&series), &out, Retrieval::Get, |_| true)
        .unwrap();
    assert_eq!((again.received, again.already_present), (2, 4));
    assert_identical(&files, &again.files);

    // A whole study, and the abort of a retrieval by the caller.
    let whole = pacs
        .retrieve(
            &study,
            None,
            &tmp.path().join("study"),
            Retrieval::Get,
            |_| true,
        )
        .unwrap();
    assert_identical(&files, &whole.files);
    let e = pacs
        .retrieve(
            &study,
            None,
            &tmp.path().join("cut"),
            Retrieval::Get,
            |_| false,
        )
        .unwrap_err();
    assert!(matches!(e, NetError::Cancelled { .. }), "{e}");
}

#[test]
fn c_move_to_our_storage_scp_returns_byte_identical_instances() {
    let Some(o) = orthanc() else { return };
    let _one = MOVE_PORT.lock().unwrap_or_else(|p| p.into_inner());
    let pacs = o.pacs();
    let tmp = tempfile::tempdir().unwrap();
    let (study, series, files) = synthetic_study(&tmp.path().join("src"), &unique("MOVE"), 5);
    pacs.store(&files).unwrap().into_result().unwrap();

    let scp = StorageScp::bind(
        &format!("127.0.0.1:{}", o.move_port),
        "HOPESCP",
        &tmp.path().join("scp"),
    )
    .unwrap()
    .allow_peer(&o.aet, &["127.0.0.1".parse().unwrap()])
    .spawn()
    .unwrap();
    let out = tmp.path().join("moved");
    let got = pacs
        .retrieve(&study, Some(&series), &out, Retrieval::Move(&scp), |_| true)
        .unwrap();
    assert_eq!(got.received, 5);
    assert_identical(&files, &got.files);

    // Resumed per instance as with C-GET.
    std::fs::remove_file(&got.files[2]).unwrap();
    let again = pacs
        .retrieve(&study, Some(&series), &out, Retrieval::Move(&scp), |_| true)
        .unwrap();
    assert_eq!((again.received, again.already_present), (1, 4));
    assert_identical(&files, &again.files);

    // A destination the PACS does not know: its specific status.
    let e = pacs
        .move_to(
            &Query::series(&study).with(tags::SERIES_INSTANCE_UID, series.as_str()),
            "NOBODY",
        )
        .unwrap_err();
    // PS3.4 says A801 (move destination unknown); Orthanc 1.10 answers C000 (unable to process).
    match &e {
        NetError::Status {
            status, operation, ..
        } => {
            assert!(matches!(status, 0xA801 | 0xC000), "{e}");
            assert_eq!(operation, "C-MOVE");
        }
        other => panic!("expected a failure status, got {other}"),
    }
}

#[test]
fn qido_rs_wado_rs_and_stow_rs_round_trip_byte_for_byte() {
    let Some(o) = orthanc() else { return };
    let web = o.web();
    let tmp = tempfile::tempdir().unwrap();
    let patient = unique("WEB");
    let (study, series, files) = synthetic_study(&tmp.path().join("src"), &patient, 5);

    let stored = web.store(&files).unwrap().into_result().unwrap();
    assert_eq!(stored.stored.len(), 5);

    let studies = web
        .search(&Query::studies().with(tags::PATIENT_ID, patient.as_str()))
        .unwrap();
    assert_eq!(
        only(&studies, tags::STUDY_INSTANCE_UID),
        vec![study.clone()]
    );
    let found = web.search(&Query::series(&study)).unwrap();
    assert_eq!(
        only(&found, tags::SERIES_INSTANCE_UID),
        vec![series.clone()]
    );
    assert_eq!(found[0].get(tags::MODALITY), Some("CT"));
    let instances = web.search(&Query::instances(&study, &series)).unwrap();
    assert_eq!(instances.len(), 5);

    let out = tmp.path().join("wado");
    let got = web.retrieve(&study, Some(&series), &out, |_| true).unwrap();
    assert_eq!(got.received, 5);
    assert_identical(&files, &got.files);
    std::fs::remove_file(&got.files[0]).unwrap();
    let again = web.retrieve(&study, Some(&series), &out, |_| true).unwrap();
    assert_eq!((again.received, again.already_present), (1, 4));
    assert_identical(&files, &again.files);

    // What DICOMweb stored, DIMSE finds and returns unchanged.
    let pacs = o.pacs();
    let dimse = pacs
        .retrieve(
            &study,
            Some(&series),
            &tmp.path().join("get"),
            Retrieval::Get,
            |_| true,
        )
        .unwrap();
    assert_identical(&files, &dimse.files);
}

#[test]
fn failures_have_their_specific_errors() {
    let Some(o) = orthanc() else { return };
    // The called AE title is not the PACS's.
    let e = Pacs::new(o.dicom.clone(), "NOTTHEPACS")
        .calling_ae("HOPESCU")
        .echo()
        .unwrap_err();
    assert!(
        matches!(
            &e,
            NetError::Rejected {
                reason: Rejection::CalledAeTitleNotRecognized,
                ..
            }
        ),
        "{e}"
    );
    // The PACS does not know this calling AE title: the association is refused.
    let e = Pacs::new(o.dicom.clone(), o.aet.clone())
        .calling_ae("STRANGER")
        .echo()
        .unwrap_err();
    assert!(
        matches!(
            &e,
            NetError::Rejected {
                reason: Rejection::CallingAeTitleNotRecognized,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("refused the association"), "{e}");
    // Nothing listens: the PACS is down.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let e = Pacs::new(closed.to_string(), o.aet.clone())
        .echo()
        .unwrap_err();
    assert!(matches!(&e, NetError::Unreachable { .. }), "{e}");
    let down = DicomWeb::new(&format!("https://{closed}/dicom-web"))
        .unwrap()
        .trust_ca_pem(&o.ca)
        .unwrap();
    let e = down.search(&Query::studies()).unwrap_err();
    assert!(matches!(&e, NetError::Unreachable { .. }), "{e}");
    // A server certificate from another CA is refused.
    let tmp = tempfile::tempdir().unwrap();
    let other_ca = tmp.path().join("other.pem");
    std::fs::write(&other_ca, OTHER_CA).unwrap();
    let wrong = DicomWeb::new(&o.url)
        .unwrap()
        .trust_ca_pem(&other_ca)
        .unwrap();
    let e = wrong.search(&Query::studies()).unwrap_err();
    assert!(matches!(&e, NetError::Tls { .. }), "{e}");
    // A series the PACS does not have.
    let web = o.web();
    let e = web
        .retrieve(
            "1.2.3.999",
            Some("1.2.3.999.1"),
            &tmp.path().join("x"),
            |_| true,
        )
        .unwrap_err();
    assert!(
        e.to_string().contains("did not arrive") || matches!(e, NetError::Http { .. }),
        "{e}"
    );
    // A query that silently waits too long is a timeout: a listener that never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let e = Pacs::new(silent.local_addr().unwrap().to_string(), "X")
        .timeout(Duration::from_millis(300))
        .echo()
        .unwrap_err();
    assert!(matches!(&e, NetError::Timeout { .. }), "{e}");
}

/// A CA certificate that issued nothing here (self-signed P-256, made once with `openssl req -x509`;
/// valid until 2126).
const OTHER_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBfDCCASOgAwIBAgIUDdSioyfxiNu/2X6n8ePyPK+NSrIwCgYIKoZIzj0EAwIw
EzERMA8GA1UEAwwIT3RoZXIgQ0EwIBcNMjYxMjA2MDQzODA4WhgPMjEyNjExMTIw
NDM4MDhaMBMxETAPBgNVBAMMCE90aGVyIENBMFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEidxrEc383kVCPULk40tWNHwtNFXfRy47s6OPqz5cEvLPOXRbDu2HnK96
Us/L8bNmRbJk9/A1jcflpPalxPS+VqNTMFEwHQYDVR0OBBYEFKj5QHUlclCZDKYq
JGG02TX7MFU5MB8GA1UdIwQYMBaAFKj5QHUlclCZDKYqJGG02TX7MFU5MA8GA1Ud
EwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIgZYUQ3xHvtZLCPo9HjVAVQB3m
3nH6RK2tRK/AAi28gDICIHmhHl0UDUm+Cr0kD1GsxHhnZ7jZHC+wxpkFuePNzYtG
-----END CERTIFICATE-----
";
