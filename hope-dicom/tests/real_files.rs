//! Real files (pydicom's test files, MIT; see tests/data/pydicom/README.md): every encoding of the
//! same MR image decodes to the same pixels, and CT_small gives the Hounsfield units pydicom gives.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;

use hope_dicom::{Error, load_ct_volume, scan_dir};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/pydicom")
        .join(name)
}

fn stats(v: &hope_core::Volume<i16>) -> (i64, i16, i16, i16) {
    let d = v.data();
    (
        d.iter().map(|&x| i64::from(x)).sum(),
        v[[20, 10, 0]],
        *d.iter().min().unwrap(),
        *d.iter().max().unwrap(),
    )
}

#[test]
fn ct_small_matches_pydicom() {
    let v = load_ct_volume(&[data("CT_small.dcm")]).unwrap();
    assert_eq!(v.grid().dims(), [128, 128, 1]);
    assert_eq!(stats(&v), (-1_950_906, -839, -896, 1167));
}

#[test]
fn every_native_and_rle_encoding_of_mr_small_gives_the_same_pixels() {
    let reference = load_ct_volume(&[data("MR_small.dcm")]).unwrap();
    assert_eq!(stats(&reference), (2_125_338, 316, 127, 2145));
    for f in [
        "MR_small_implicit.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_RLE.dcm",
    ] {
        let v = load_ct_volume(&[data(f)]).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(v.data(), reference.data(), "{f}");
        assert!(v.grid().same_geometry(reference.grid(), 1e-9), "{f}");
    }
}

fn optional_codec(file: &str, enabled: bool) {
    let reference = load_ct_volume(&[data("MR_small.dcm")]).unwrap();
    match load_ct_volume(&[data(file)]) {
        Ok(v) if enabled => assert_eq!(v.data(), reference.data(), "{file}"),
        Err(Error::UnsupportedTransferSyntax {
            transfer_syntax, ..
        }) if !enabled => {
            assert!(
                transfer_syntax.starts_with("1.2.840.10008.1.2.4."),
                "{transfer_syntax}"
            );
        }
        other => panic!(
            "{file} (codec enabled: {enabled}): {:?}",
            other.map(|v| v.grid().dims())
        ),
    }
}

#[test]
fn jpeg_ls_needs_its_feature() {
    optional_codec("MR_small_jpeg_ls_lossless.dcm", cfg!(feature = "jpegls"));
}

#[test]
fn jpeg_2000_needs_its_feature() {
    optional_codec("MR_small_jp2klossless.dcm", cfg!(feature = "jpeg2000"));
}

#[test]
fn the_directory_scan_sees_two_modalities() {
    let report = scan_dir(&data("")).unwrap();
    let modalities: std::collections::BTreeSet<&str> =
        report.series.iter().map(|s| s.modality.as_str()).collect();
    assert!(
        modalities.contains("CT") && modalities.contains("MR"),
        "{modalities:?}"
    );
    assert!(report.notes.iter().any(|(p, _)| p.ends_with("README.md")));
}
