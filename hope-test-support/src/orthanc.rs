//! The test PACS: Debian's Orthanc with its DICOMweb plugin behind nginx (TLS), started on loopback
//! by `scripts/test` and `scripts/with-services` (see `scripts/services.sh`), which export its
//! addresses as `HOPE_TEST_ORTHANC_*`.

use std::path::PathBuf;
use std::sync::Mutex;

/// Where the test PACS listens.
#[derive(Debug, Clone)]
pub struct Orthanc {
    /// DIMSE address, `host:port`.
    pub dicom: String,
    /// Its AE title.
    pub aet: String,
    /// The port Orthanc's configuration sends C-MOVE to (AE `HOPEMOVE`).
    pub move_port: u16,
    /// The DICOMweb root (HTTPS).
    pub url: String,
    /// The CA of the DICOMweb server's certificate (PEM).
    pub ca: PathBuf,
}

/// The C-MOVE destination port is fixed in Orthanc's configuration: one mover at a time in a test
/// binary (take this lock around a C-MOVE).
pub static MOVE_PORT: Mutex<()> = Mutex::new(());

impl Orthanc {
    /// The test PACS, or `None` (with a note on stderr) when no script started one; under
    /// `CI=true` a missing PACS fails the test instead of skipping it.
    pub fn from_env() -> Option<Orthanc> {
        let Ok(dicom) = std::env::var("HOPE_TEST_ORTHANC_DICOM") else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "HOPE_TEST_ORTHANC_DICOM is not set under CI=true"
            );
            eprintln!("skipped: HOPE_TEST_ORTHANC_DICOM is not set (scripts/test starts Orthanc)");
            return None;
        };
        let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set"));
        Some(Orthanc {
            dicom,
            aet: var("HOPE_TEST_ORTHANC_AET"),
            move_port: var("HOPE_TEST_ORTHANC_MOVE_PORT")
                .parse()
                .unwrap_or_else(|e| panic!("HOPE_TEST_ORTHANC_MOVE_PORT: {e}")),
            url: var("HOPE_TEST_ORTHANC_URL"),
            ca: var("HOPE_TEST_ORTHANC_CA").into(),
        })
    }

    /// The test PACS for a benchmark: its absence is an error that says how to start it.
    pub fn required() -> Orthanc {
        Orthanc::from_env().unwrap_or_else(|| {
            panic!("HOPE_TEST_ORTHANC_DICOM is not set: run through scripts/with-services (it starts Orthanc)")
        })
    }
}
