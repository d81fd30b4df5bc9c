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

// JPEG encodings of CT_small.dcm made by DCMTK 3.6.7 (`tools/gen_jpeg_fixtures.sh`; see
// tests/data/dcmtk/README.md), decoded here by the pure-Rust decoders of the default build.

fn dcmtk(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/dcmtk")
        .join(name)
}

#[test]
fn jpeg_lossless_decodes_to_the_original_hounsfield_units() {
    let original = load_ct_volume(&[data("CT_small.dcm")]).unwrap();
    for f in [
        "CT_small_jpeg_lossless_sv1.dcm",
        "CT_small_jpeg_lossless_sv6.dcm",
    ] {
        let v = load_ct_volume(&[dcmtk(f)]).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(v.grid().same_geometry(original.grid(), 1e-9), "{f}");
        assert_eq!(v.data(), original.data(), "{f}");
    }
}

/// A lossy file against DCMTK's decoding of it: two IDCT implementations may round a sample
/// differently by one stored unit (ISO/IEC 10918-2 allows it; hope-dicom evaluates the exact
/// IDCT, DCMTK's IJG code a fast integer approximation), so the Hounsfield units may differ by one
/// rescale slope, and only at a small fraction of the pixels (at most 5 %). Against the original image, the
/// error is the codec's, bounded by `max_err_vs_original` HU.
fn lossy_matches_dcmtk(file: &str, reference: &str, slope: f64, max_err_vs_original: i32) {
    let original = load_ct_volume(&[data("CT_small.dcm")]).unwrap();
    let v = load_ct_volume(&[dcmtk(file)]).unwrap_or_else(|e| panic!("{file}: {e}"));
    let r = load_ct_volume(&[dcmtk(reference)]).unwrap();
    assert!(v.grid().same_geometry(r.grid(), 1e-9), "{file}");
    let one_step = slope.ceil() as i32;
    let mut differing = 0usize;
    for (a, b) in v.data().iter().zip(r.data()) {
        let d = (i32::from(*a) - i32::from(*b)).abs();
        assert!(d <= one_step, "{file}: {a} vs DCMTK {b}");
        differing += usize::from(d != 0);
    }
    let n = v.data().len();
    // Measured: 2.0 % (baseline) and 4.1 % (12-bit extended) of the pixels, all by one unit.
    assert!(
        differing * 20 <= n,
        "{file}: {differing} of {n} pixels differ from DCMTK"
    );
    let worst = v
        .data()
        .iter()
        .zip(original.data())
        .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs())
        .max()
        .unwrap();
    assert!(
        worst <= max_err_vs_original,
        "{file}: worst error {worst} HU"
    );
    assert!(
        worst > 0,
        "{file}: a lossy file identical to the original is not a test"
    );
}

#[test]
fn jpeg_extended_12_bit_matches_dcmtk() {
    lossy_matches_dcmtk(
        "CT_small_jpeg_extended.dcm",
        "CT_small_jpeg_extended_dcmdjpeg.dcm",
        1.0,
        200,
    );
}

#[test]
fn jpeg_baseline_8_bit_matches_dcmtk() {
    lossy_matches_dcmtk(
        "CT_small_jpeg_baseline.dcm",
        "CT_small_jpeg_baseline_dcmdjpeg.dcm",
        16.05882,
        400,
    );
}

#[test]
fn jpeg_extended_8_bit_matches_dcmtk() {
    lossy_matches_dcmtk(
        "CT_small_jpeg_extended_8bit.dcm",
        "CT_small_jpeg_extended_8bit_dcmdjpeg.dcm",
        16.05882,
        400,
    );
}

#[test]
fn fragmented_multiframe_jpeg_without_offset_table_matches_dcmtk() {
    let native = load_ct_volume(&[dcmtk("CT_small_3frames.dcm")]).unwrap();
    assert_eq!(native.grid().dims(), [128, 128, 3]);
    let first = load_ct_volume(&[data("CT_small.dcm")]).unwrap();
    assert_eq!(&native.data()[..128 * 128], first.data());
    // Frame 2 is frame 1 flipped top to bottom, frame 3 its transpose.
    assert_eq!(native[[20, 10, 1]], first[[20, 127 - 10, 0]]);
    assert_eq!(native[[20, 10, 2]], first[[10, 20, 0]]);
    let v = load_ct_volume(&[dcmtk("CT_small_3frames_jpeg_extended.dcm")]).unwrap();
    let r = load_ct_volume(&[dcmtk("CT_small_3frames_jpeg_extended_dcmdjpeg.dcm")]).unwrap();
    assert!(v.grid().same_geometry(native.grid(), 1e-9));
    let diff = v
        .data()
        .iter()
        .zip(r.data())
        .filter(|(a, b)| a != b)
        .inspect(|(a, b)| assert!((i32::from(**a) - i32::from(**b)).abs() <= 1))
        .count();
    assert!(diff * 20 <= v.data().len(), "{diff} pixels differ");
}

#[test]
fn bits_above_bits_stored_are_ignored_and_the_sign_comes_from_the_high_bit() {
    use dicom_core::value::PrimitiveValue;
    use dicom_core::{DataElement, VR};
    use dicom_dictionary_std::tags;
    let original = load_ct_volume(&[data("CT_small.dcm")]).unwrap();
    let mut obj = dicom_object::open_file(data("CT_small.dcm")).unwrap();
    let stored: Vec<i16> = obj
        .element(tags::PIXEL_DATA)
        .unwrap()
        .to_bytes()
        .unwrap()
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    // 13 bits stored, signed (high bit 12); bits 13-15 overwritten with a pattern that is neither
    // the sign extension nor zero, as some modalities leave overlay or garbage bits there.
    let mangled: Vec<u8> = stored
        .iter()
        .flat_map(|&v| (((v as u16) & 0x1FFF) | 0xA000).to_le_bytes())
        .collect();
    obj.put(DataElement::new(
        tags::BITS_STORED,
        VR::US,
        PrimitiveValue::from(13u16),
    ));
    obj.put(DataElement::new(
        tags::HIGH_BIT,
        VR::US,
        PrimitiveValue::from(12u16),
    ));
    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::from(mangled),
    ));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ct13.dcm");
    obj.write_to_file(&path).unwrap();
    let v = load_ct_volume(&[path]).unwrap();
    assert_eq!(v.data(), original.data());
}

#[test]
fn de_identified_real_files_keep_their_pixels_and_lose_their_identity() {
    use hope_dicom::deid::{DeidKey, Deidentifier, read_any};
    let deid = Deidentifier::new(DeidKey::from_bytes([2; 32]), []);
    let dir = tempfile::tempdir().unwrap();
    for (file, identity) in [
        (
            "CT_small.dcm",
            &[
                "CompressedSamples",
                "1CT1",
                "ABCD1234",
                "1234ABCD",
                "JFK IMAGING",
                "CT01_OC0",
            ][..],
        ),
        // (Manufacturer TOSHIBA_MEC is kept: a make is not identity; Institution Name TOSHIBA goes.)
        ("MR_small.dcm", &["CompressedSamples", "4MR1"][..]),
        ("MR_small_bigendian.dcm", &["CompressedSamples", "4MR1"][..]),
    ] {
        let original = read_any(&data(file)).unwrap();
        let out = deid.deidentify(original).unwrap();
        let p = dir.path().join(file);
        out.object.write_to_file(&p).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        for m in identity {
            assert!(
                !bytes.windows(m.len()).any(|w| w == m.as_bytes()),
                "{m} survived in {file}"
            );
        }
        assert!(
            out.object
                .element_opt(dicom_dictionary_std::tags::INSTITUTION_NAME)
                .unwrap()
                .is_none(),
            "{file}"
        );
        // The image is untouched: same Hounsfield units / values, same geometry.
        let before = load_ct_volume(&[data(file)]).unwrap();
        let after = load_ct_volume(&[p]).unwrap();
        assert_eq!(after.data(), before.data(), "{file}");
        assert!(after.grid().same_geometry(before.grid(), 1e-9), "{file}");
    }
}
