//! Finding 10 of the security review: the C-MOVE storage SCP accepted any calling AE with no
//! limits; injected files lingered and could replace an instance in flight. Runs without a PACS:
//! the project's own DIMSE client plays the intruder and the PACS.
#![cfg(feature = "net")]
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};

use hope_core::{Grid, Volume};
use hope_dicom::net::{NetError, Pacs, StorageScp};
use hope_dicom::{CtSeriesOptions, write_ct_series};

fn series(dir: &Path) -> Vec<PathBuf> {
    let grid = Grid::new([4, 4, 3], [1.0, 1.0, 2.0]).unwrap();
    let ct = Volume::from_fn(grid, |[i, j, k]| (i + j + k) as i16);
    write_ct_series(&ct, dir, &CtSeriesOptions::new())
        .unwrap()
        .files
}

fn sop_uid(path: &Path) -> String {
    let obj = hope_dicom::read_header(path).unwrap();
    obj.meta()
        .media_storage_sop_instance_uid()
        .trim_end_matches('\0')
        .to_string()
}

#[test]
fn finding_10_the_storage_scp_takes_only_expected_instances_from_its_pacs() {
    let tmp = tempfile::tempdir().unwrap();
    let files = series(&tmp.path().join("src"));
    let scp_dir = tmp.path().join("scp");
    let scp = StorageScp::bind("127.0.0.1:0", "HOPESCP", &scp_dir)
        .unwrap()
        .allow_peer("THEPACS", &["127.0.0.1".parse().unwrap()])
        .spawn()
        .unwrap();
    let addr = scp.addr().to_string();

    // An unknown calling AE is refused at the association.
    let intruder = Pacs::new(addr.clone(), "HOPESCP").calling_ae("MALLORY");
    match intruder.store(&files) {
        Err(NetError::Rejected { .. }) => {}
        other => panic!("expected a rejected association, got {other:?}"),
    }
    // The PACS's AE title from an address not allowed: not even an association.
    let elsewhere = StorageScp::bind("127.0.0.1:0", "HOPESCP", &tmp.path().join("scp2"))
        .unwrap()
        .allow_peer("THEPACS", &["10.9.9.9".parse().unwrap()])
        .spawn()
        .unwrap();
    assert!(
        Pacs::new(elsewhere.addr().to_string(), "HOPESCP")
            .calling_ae("THEPACS")
            .store(&files)
            .is_err()
    );

    // The right peer, but nothing is expected: every instance refused, nothing written.
    let pacs = Pacs::new(addr.clone(), "HOPESCP").calling_ae("THEPACS");
    let summary = pacs.store(&files).unwrap();
    assert_eq!(summary.stored.len(), 0, "{summary:?}");
    assert_eq!(std::fs::read_dir(&scp_dir).unwrap().count(), 0);

    // A retrieval expects two instances: only those are stored, once.
    let wanted: Vec<String> = files[..2].iter().map(|f| sop_uid(f)).collect();
    scp.expect(wanted.iter());
    let summary = pacs.store(&files).unwrap();
    assert_eq!(summary.stored.len(), 2, "{summary:?}");
    let again = pacs.store(&files[..1]).unwrap();
    assert_eq!(
        again.stored.len(),
        0,
        "a second copy never replaces the first"
    );
    assert!(scp.refused() >= 3);
    // The retrieval ends: what was not collected is deleted.
    scp.finish_expecting();
    let left: Vec<_> = std::fs::read_dir(&scp_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
