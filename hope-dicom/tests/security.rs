//! Regression tests of the security review (issue 19), one per finding that concerns hope-dicom:
//! each failed on the code before its fix.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::path::{Path, PathBuf};

use common::{Elem, s, sq, text};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use hope_dicom::deid::table::ProfileOption;
use hope_dicom::deid::{
    BatchOptions, BurnedInPolicy, DeidKey, Deidentifier, FileOutcome, deidentify_dir, read_any,
};

const NAME: &str = "DOE^JOHN";
const MRN: &str = "MRN-4711";
const STUDY_UID: &str = "1.2.826.0.1.3680043.2.1143.777";
const CT: &str = "1.2.840.10008.5.1.4.1.1.2";

fn key() -> DeidKey {
    DeidKey::from_bytes([19; 32])
}

fn patient_file(path: &Path, ts: &str, extra: Vec<Elem>) {
    let sop = "1.2.826.0.1.3680043.2.1143.778";
    let mut obj = InMemDicomObject::from_element_iter([
        s(tags::PATIENT_NAME, VR::PN, NAME),
        s(tags::PATIENT_ID, VR::LO, MRN),
        s(tags::STUDY_DATE, VR::DA, "20240301"),
        s(tags::MODALITY, VR::CS, "CT"),
        s(tags::SOP_CLASS_UID, VR::UI, CT),
        s(tags::SOP_INSTANCE_UID, VR::UI, sop),
        s(tags::STUDY_INSTANCE_UID, VR::UI, STUDY_UID),
        s(
            tags::SERIES_INSTANCE_UID,
            VR::UI,
            "1.2.826.0.1.3680043.2.1143.779",
        ),
    ]);
    for e in extra {
        obj.put(e);
    }
    obj.with_meta(
        FileMetaTableBuilder::new()
            .transfer_syntax(ts)
            .media_storage_sop_class_uid(CT)
            .media_storage_sop_instance_uid(sop),
    )
    .unwrap()
    .write_to_file(path)
    .unwrap();
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Finding 1: a De-identification Method that starts with the project's marker (its key id is
/// printed in every output) used to switch de-identification off.
#[test]
fn finding_01_a_forged_deidentification_marker_does_not_switch_it_off() {
    let dir = tempfile::tempdir().unwrap();
    let deid = Deidentifier::new(key(), [ProfileOption::RetainLongitudinalModifiedDates]);
    // The marker as the attacker reads it off any output of the project.
    let probe = dir.path().join("probe.dcm");
    patient_file(&probe, "1.2.840.10008.1.2.1", vec![]);
    let seen = deid.deidentify(read_any(&probe).unwrap()).unwrap();
    let marker = seen
        .object
        .element(tags::DEIDENTIFICATION_METHOD)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(marker.starts_with("hope-dicom key "), "{marker}");

    let forged = dir.path().join("forged.dcm");
    patient_file(
        &forged,
        "1.2.840.10008.1.2.1",
        vec![
            s(tags::DEIDENTIFICATION_METHOD, VR::LO, &marker),
            s(tags::PATIENT_IDENTITY_REMOVED, VR::CS, "YES"),
        ],
    );
    let out = deid.deidentify(read_any(&forged).unwrap()).unwrap();
    let out_path = dir.path().join("out.dcm");
    out.object.write_to_file(&out_path).unwrap();
    let bytes = std::fs::read(&out_path).unwrap();
    for identity in [NAME, "JOHN", MRN, STUDY_UID, "20240301"] {
        assert!(
            !contains(&bytes, identity),
            "{identity} survived a forged marker"
        );
    }
    assert!(text(&out.object, tags::PATIENT_NAME).starts_with("HOPE-"));
}

/// The seal that replaces the marker: the project's own output is recognised (a second pass
/// changes nothing, in every transfer syntax), and an output whose content was changed is
/// de-identified again.
#[test]
fn finding_01_only_a_verified_seal_makes_a_second_pass_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let deid = Deidentifier::new(key(), [ProfileOption::RetainLongitudinalModifiedDates]);
    for ts in [
        "1.2.840.10008.1.2",
        "1.2.840.10008.1.2.1",
        "1.2.840.10008.1.2.2",
        "1.2.840.10008.1.2.1.99",
    ] {
        let input = dir.path().join(format!("in-{ts}.dcm"));
        patient_file(
            &input,
            ts,
            vec![sq(
                tags::REFERENCED_STUDY_SEQUENCE,
                vec![vec![s(
                    tags::REFERENCED_SOP_INSTANCE_UID,
                    VR::UI,
                    STUDY_UID,
                )]],
            )],
        );
        let once = dir.path().join(format!("once-{ts}.dcm"));
        deid.deidentify(read_any(&input).unwrap())
            .unwrap()
            .object
            .write_to_file(&once)
            .unwrap();
        let twice = dir.path().join(format!("twice-{ts}.dcm"));
        deid.deidentify(read_any(&once).unwrap())
            .unwrap()
            .object
            .write_to_file(&twice)
            .unwrap();
        assert_eq!(
            std::fs::read(&once).unwrap(),
            std::fs::read(&twice).unwrap(),
            "second pass in {ts}"
        );
    }
    // An attacker edits a sealed output: a real name in, the seal kept.
    let once = dir.path().join("once-1.2.840.10008.1.2.1.dcm");
    let mut edited = read_any(&once).unwrap();
    edited.put(s(tags::PATIENT_NAME, VR::PN, NAME));
    edited.put(s(tags::PATIENT_ID, VR::LO, MRN));
    let again = deid.deidentify(edited).unwrap();
    assert!(text(&again.object, tags::PATIENT_NAME).starts_with("HOPE-"));
    assert_ne!(text(&again.object, tags::PATIENT_ID), MRN);
}

/// Finding 4: UIDs under the DICOM root were kept verbatim and named output paths.
#[test]
fn finding_04_uids_never_steer_output_paths() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let hostile = "1.2.840.10008.9/../../escaped";
    patient_file(
        &input.join("a.dcm"),
        "1.2.840.10008.1.2.1",
        vec![s(tags::SERIES_INSTANCE_UID, VR::UI, hostile)],
    );
    let out = dir.path().join("out");
    let quarantine = dir.path().join("q");
    let summary = deidentify_dir(
        &Deidentifier::new(key(), []),
        &input,
        &out,
        &BatchOptions::new().threads(1),
        &|_, _| {},
    )
    .unwrap();
    assert_eq!(summary.done, 1, "{summary:?}");
    assert!(!dir.path().join("escaped").exists());
    let written = walk(&out);
    assert_eq!(written.len(), 1);
    // The hostile value was replaced by a keyed UID like any instance UID.
    let series = written[0].parent().unwrap().file_name().unwrap();
    assert!(series.to_str().unwrap().starts_with("2.25."), "{series:?}");

    // With Retain UIDs the value is kept, so it cannot name a file: refused, nothing written
    // anywhere, not in the output, not in the quarantine.
    let retain = Deidentifier::new(key(), [ProfileOption::RetainUids]);
    let out2 = dir.path().join("out2");
    let summary = deidentify_dir(
        &retain,
        &input,
        &out2,
        &BatchOptions::new()
            .threads(1)
            .burned_in(BurnedInPolicy::Quarantine(quarantine.clone())),
        &|_, _| {},
    )
    .unwrap();
    assert_eq!(summary.done, 0);
    assert_eq!(summary.skipped.len(), 1, "{summary:?}");
    assert!(
        summary.skipped[0].1.contains("SeriesInstanceUID"),
        "{summary:?}"
    );
    assert!(walk(&out2).is_empty() && walk(&quarantine).is_empty());
    assert!(!dir.path().join("escaped").exists());
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A data set with `depth` nested sequences of undefined length (Content Sequence), explicit VR
/// little endian, as a Part 10 file.
fn nested_file(path: &Path, depth: usize) {
    let mut meta = Vec::new();
    patient_file(path, "1.2.840.10008.1.2.1", vec![]);
    let base = std::fs::read(path).unwrap();
    meta.extend_from_slice(&base);
    for _ in 0..depth {
        meta.extend_from_slice(&[
            0x40, 0x00, 0x30, 0xA7, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ]);
        meta.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
    }
    for _ in 0..depth {
        meta.extend_from_slice(&[0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
        meta.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
    }
    std::fs::write(path, meta).unwrap();
}

/// Finding 5: 1,000 nested sequences (a 20 KB file) aborted a whole batch with a stack overflow.
#[test]
fn finding_05_deep_sequence_nesting_is_refused_and_the_batch_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    nested_file(&input.join("deep.dcm"), 1000);
    nested_file(&input.join("deeper.dcm"), 3000);
    patient_file(&input.join("good.dcm"), "1.2.840.10008.1.2.1", vec![]);
    assert!(std::fs::metadata(input.join("deep.dcm")).unwrap().len() < 40_000);
    let summary = deidentify_dir(
        &Deidentifier::new(key(), []),
        &input,
        &dir.path().join("out"),
        &BatchOptions::new().threads(2),
        &|_, _| {},
    )
    .unwrap();
    assert_eq!(summary.done, 1, "{summary:?}");
    assert_eq!(summary.skipped.len(), 2, "{summary:?}");
    for (_, why) in &summary.skipped {
        assert!(why.contains("nested more than 64"), "{why}");
    }
    // Every other reader refuses it too: the header-only reader and the series scanner.
    let e = hope_dicom::read_header(&input.join("deeper.dcm"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("nested more than 64"), "{e}");
    // 64 levels are fine.
    let ok = dir.path().join("ok.dcm");
    nested_file(&ok, 64);
    let d = Deidentifier::new(key(), [])
        .deidentify(read_any(&ok).unwrap())
        .unwrap();
    assert!(d.object.element(tags::CONTENT_SEQUENCE).is_ok());
}

/// Finding 11: a 1 MB deflated file inflated to 1 GiB in memory (here 128 MiB in 130 KB).
#[test]
fn finding_11_a_deflate_bomb_is_refused() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.dcm");
    patient_file(&path, "1.2.840.10008.1.2.1.99", vec![]);
    let file = std::fs::read(&path).unwrap();
    // Keep the preamble and meta group, replace the deflated data set by a bomb.
    let meta_end = {
        let mut at = 132;
        while file[at..at + 2] == [0x02, 0x00] {
            let long = matches!(&file[at + 4..at + 6], b"OB" | b"UN" | b"UT" | b"SQ");
            let len = if long {
                u32::from_le_bytes(file[at + 8..at + 12].try_into().unwrap()) as usize + 12
            } else {
                u16::from_le_bytes(file[at + 6..at + 8].try_into().unwrap()) as usize + 8
            };
            at += len;
        }
        at
    };
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let len: u32 = 128 << 20;
    z.write_all(&[0x09, 0x00, 0x10, 0x10, b'O', b'B', 0, 0])
        .unwrap();
    z.write_all(&len.to_le_bytes()).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..128 {
        z.write_all(&zeros).unwrap();
    }
    let mut bomb = file[..meta_end].to_vec();
    bomb.extend(z.finish().unwrap());
    assert!(bomb.len() < 2 << 20, "{} bytes", bomb.len());
    std::fs::write(&path, &bomb).unwrap();
    let e = read_any(&path).unwrap_err().to_string();
    assert!(e.contains("inflates beyond"), "{e}");
    let e = hope_dicom::read_header(&path).unwrap_err().to_string();
    assert!(e.contains("inflates beyond"), "{e}");
}

/// Dates: 31 February used to become 2 March (the day was checked against 31 only).
#[test]
fn impossible_dates_are_emptied_never_rolled_over() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.dcm");
    patient_file(
        &path,
        "1.2.840.10008.1.2.1",
        vec![
            s(tags::STUDY_DATE, VR::DA, "20240231"),
            s(tags::ACQUISITION_DATE_TIME, VR::DT, "20240230101500+0100"),
        ],
    );
    let out = Deidentifier::new(key(), [ProfileOption::RetainLongitudinalModifiedDates])
        .deidentify(read_any(&path).unwrap())
        .unwrap();
    let value = |t: Tag| {
        out.object
            .element(t)
            .map(|e| e.to_str().unwrap().trim().to_string())
            .unwrap_or_default()
    };
    assert_eq!(value(tags::STUDY_DATE), "");
    assert_eq!(value(tags::ACQUISITION_DATE_TIME), "");
}

/// The batch keeps going past every file it refuses, and never writes where a file names.
#[test]
fn refusals_name_the_file_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("deep.dcm");
    nested_file(&bad, 100);
    match Deidentifier::new(key(), []).deidentify_file(
        &bad,
        &dir.path().join("out"),
        &BatchOptions::new(),
    ) {
        FileOutcome::Skipped(why) => {
            assert!(why.contains("deep.dcm") && why.contains("nested"), "{why}")
        }
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Second review (outside attack before closing issue 19): findings A-n.

/// Implicit VR little endian bytes of one element (what a UN value holds, PS3.5 6.2.2).
fn implicit(tag: Tag, value: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&tag.group().to_le_bytes());
    v.extend_from_slice(&tag.element().to_le_bytes());
    let mut value = value.to_vec();
    if value.len() % 2 == 1 {
        value.push(b' ');
    }
    v.extend_from_slice(&u32::try_from(value.len()).unwrap().to_le_bytes());
    v.extend_from_slice(&value);
    v
}

/// De-identifies a file written with `extra` (explicit VR little endian) and returns the bytes
/// written and the object.
fn deid_bytes(deid: &Deidentifier, extra: Vec<Elem>) -> (Vec<u8>, InMemDicomObject) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.dcm");
    patient_file(&path, "1.2.840.10008.1.2.1", extra);
    let out = deid.deidentify(read_any(&path).unwrap()).unwrap();
    let mut bytes = Vec::new();
    out.object.write_all(&mut bytes).unwrap();
    (bytes, out.object.into_inner())
}

const SECRET_UID: &str = "1.2.826.0.1.3680043.8.498.424242";

/// Finding A-4: a sequence the profile keeps and cleans inside, written with VR UN and a defined
/// length (as PS3.5 6.2.2 allows a system that did not know the attribute), went through
/// uncleaned: the patient's name, ID, birth date and original UIDs inside it survived.
#[test]
fn attack_04_sequences_encoded_as_un_are_cleaned_like_sequences() {
    use dicom_core::value::PrimitiveValue;
    let mut body = implicit(tags::REFERENCED_SOP_INSTANCE_UID, SECRET_UID.as_bytes());
    body.extend(implicit(tags::PATIENT_NAME, b"ZZSECRET^UNSEQ"));
    body.extend(implicit(tags::PATIENT_ID, b"ZZSECRET-MRN"));
    body.extend(implicit(tags::PATIENT_BIRTH_DATE, b"19610203"));
    body.extend(implicit(tags::SERIES_INSTANCE_UID, SECRET_UID.as_bytes()));
    let mut item = vec![0xFE, 0xFF, 0x00, 0xE0];
    item.extend_from_slice(&u32::try_from(body.len()).unwrap().to_le_bytes());
    item.extend(body);
    for seq in [
        tags::REFERENCED_SERIES_SEQUENCE,
        tags::REFERENCED_IMAGE_SEQUENCE,
        tags::DERIVATION_CODE_SEQUENCE,
        tags::CONTENT_SEQUENCE,
        tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
        tags::SOURCE_IMAGE_SEQUENCE,
    ] {
        let un = Elem::new(seq, VR::UN, PrimitiveValue::from(item.clone()));
        let (bytes, obj) = deid_bytes(&Deidentifier::new(key(), []), vec![un]);
        for needle in ["ZZSECRET", "19610203", SECRET_UID, NAME, MRN] {
            assert!(!contains(&bytes, needle), "{seq}: {needle} survived");
        }
        if seq == tags::REFERENCED_SERIES_SEQUENCE {
            // Read as the sequence it is and cleaned inside, not merely dropped.
            let e = obj.element(seq).unwrap();
            assert_eq!(e.vr(), VR::SQ);
            let items = e.items().unwrap();
            assert_eq!(items.len(), 1);
            let uid = text(&items[0], tags::SERIES_INSTANCE_UID);
            assert!(uid.starts_with("2.25."), "{uid}");
        }
    }
    // A UN value that does not parse as items is removed, not passed on.
    let junk = Elem::new(
        tags::REFERENCED_SERIES_SEQUENCE,
        VR::UN,
        PrimitiveValue::from(b"ZZSECRET JUNK NOT ITEMS".to_vec()),
    );
    let (bytes, obj) = deid_bytes(&Deidentifier::new(key(), []), vec![junk]);
    assert!(!contains(&bytes, "ZZSECRET"));
    assert!(obj.element(tags::REFERENCED_SERIES_SEQUENCE).is_err());
}

/// Finding A-4 (variant): attributes the profile keeps, given a text VR by the file, carried free
/// text through: a sequence as LO/UT/OB, numbers and codes as LO, an unknown public attribute.
#[test]
fn attack_04_kept_attributes_with_the_wrong_vr_carry_no_text() {
    use dicom_core::value::PrimitiveValue;
    let forged: Vec<(Tag, VR)> = vec![
        (tags::REFERENCED_SERIES_SEQUENCE, VR::LO),
        (tags::REFERENCED_SERIES_SEQUENCE, VR::UT),
        (tags::REFERENCED_SERIES_SEQUENCE, VR::OB),
        (tags::REFERENCED_IMAGE_SEQUENCE, VR::LO),
        (tags::SLICE_THICKNESS, VR::LO),
        (tags::INSTANCE_NUMBER, VR::LO),
        (tags::PIXEL_SPACING, VR::LO),
        (tags::IMAGE_ORIENTATION_PATIENT, VR::LO),
        (tags::IMAGE_TYPE, VR::UT),
        (tags::MODALITY, VR::LO),
        (tags::CODING_SCHEME_UID, VR::LO),
        (tags::FRAME_OF_REFERENCE_UID, VR::LO),
        (tags::PATIENT_ORIENTATION, VR::LT),
        (Tag(0x0008, 0x7777), VR::LO), // public, unknown to the dictionary
        (Tag(0x0008, 0x7778), VR::UN),
    ];
    for (tag, vr) in forged {
        let value = format!("ZZSECRET John Smith born 1961 {tag}");
        let e = match vr {
            VR::OB | VR::UN => Elem::new(tag, vr, PrimitiveValue::from(value.into_bytes())),
            _ => s(tag, vr, &value),
        };
        let (bytes, _) = deid_bytes(&Deidentifier::new(key(), []), vec![e]);
        assert!(
            !contains(&bytes, "ZZSECRET"),
            "{tag} as {vr:?}: text survived"
        );
    }
    // Values within the repertoire of their VR are kept, whatever VR the file wrote them with.
    let (_, obj) = deid_bytes(
        &Deidentifier::new(key(), []),
        vec![s(tags::SLICE_THICKNESS, VR::LO, "2.5")],
    );
    let e = obj.element(tags::SLICE_THICKNESS).unwrap();
    assert_eq!(e.vr(), VR::DS);
    assert_eq!(e.to_str().unwrap().trim(), "2.5");
}

/// Finding A-8: instance UIDs under the DICOM root (1.2.840.10008.) were kept verbatim, so an
/// original UID chosen there linked output to source. Only well-known frames of reference
/// (PS3.6 A-2) are kept in instance attributes; classes stay.
#[test]
fn attack_08_instance_uids_under_the_dicom_root_are_replaced() {
    let study = "1.2.840.10008.999.424242.1";
    let talairach = "1.2.840.10008.1.4.1.1";
    let (bytes, obj) = deid_bytes(
        &Deidentifier::new(key(), []),
        vec![
            s(tags::STUDY_INSTANCE_UID, VR::UI, study),
            s(
                tags::SERIES_INSTANCE_UID,
                VR::UI,
                "1.2.840.10008.5.1.4.1.1.2.77",
            ),
            s(tags::FRAME_OF_REFERENCE_UID, VR::UI, talairach),
        ],
    );
    assert!(!contains(&bytes, study));
    assert!(text(&obj, tags::STUDY_INSTANCE_UID).starts_with("2.25."));
    assert!(text(&obj, tags::SERIES_INSTANCE_UID).starts_with("2.25."));
    assert_eq!(text(&obj, tags::FRAME_OF_REFERENCE_UID), talairach);
    assert_eq!(text(&obj, tags::SOP_CLASS_UID), CT);
}

/// Finding A-5: an element with a value representation PS3.5 does not define ("ZZ") was read
/// with a two-byte length by the guard and a four-byte one by the parser, which then allocated
/// what the next four bytes said (up to 4 GiB) from a 500-byte file. Refused before parsing.
#[test]
fn attack_05_an_undefined_value_representation_is_refused_before_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zz.dcm");
    patient_file(&path, "1.2.840.10008.1.2.1", vec![]);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&[0x10, 0x00, 0x00, 0x10, b'Z', b'Z', 4, 0]);
    bytes.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    for e in [
        read_any(&path).unwrap_err().to_string(),
        hope_dicom::read_header(&path).unwrap_err().to_string(),
    ] {
        assert!(e.contains("\"ZZ\"") && e.contains("(0010,1000)"), "{e}");
    }
}

/// Finding A-7: comment (COM) and application (APPn: EXIF...) segments inside JPEG pixel data
/// went through untouched. They are zeroed in place; the image decodes to the same pixels.
#[test]
fn attack_07_jpeg_comments_and_exif_inside_pixel_data_are_blanked() {
    use dicom_core::DataElement;
    use dicom_core::value::{PixelFragmentSequence, Value};
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/dcmtk/CT_small_jpeg_baseline.dcm");
    let file = read_any(&src).unwrap();
    let ts = file
        .meta()
        .transfer_syntax()
        .trim_end_matches('\0')
        .to_string();
    let mut obj = file.into_inner();
    let (header, value) = obj.take_element(tags::PIXEL_DATA).unwrap().into_parts();
    let Value::PixelSequence(seq) = value else {
        panic!("encapsulated pixel data expected")
    };
    let (table, fragments) = seq.into_parts();
    let original = fragments[0].clone();
    // After SOI: an EXIF block and a comment naming the patient (even total length kept).
    let mut hostile = original[..2].to_vec();
    for (marker, payload) in [
        (0xE1u8, b"Exif\0\0ZZSECRET^EXIF 19610203".as_slice()),
        (0xFE, b"ZZSECRET COMMENT MRN-4711".as_slice()),
    ] {
        hostile.extend_from_slice(&[0xFF, marker]);
        hostile.extend_from_slice(&u16::try_from(payload.len() + 2).unwrap().to_be_bytes());
        hostile.extend_from_slice(payload);
    }
    hostile.extend_from_slice(&original[2..]);
    if hostile.len() % 2 == 1 {
        hostile.push(0);
    }
    // Split across two fragments, in the middle of the comment.
    let split = 40;
    let mut frags = vec![hostile[..split].to_vec(), hostile[split..].to_vec()];
    frags.extend(fragments.into_iter().skip(1));
    obj.put(DataElement::new(
        header.tag,
        header.vr,
        Value::PixelSequence(PixelFragmentSequence::new(table, frags)),
    ));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jpeg.dcm");
    obj.with_meta(
        FileMetaTableBuilder::new()
            .transfer_syntax(&ts)
            .media_storage_sop_class_uid(CT)
            .media_storage_sop_instance_uid("1.2.826.0.1.3680043.2.1143.778"),
    )
    .unwrap()
    .write_to_file(&path)
    .unwrap();
    let input = std::fs::read(&path).unwrap();
    assert!(contains(&input, "ZZSECRET^EXIF") && contains(&input, "SECRET COMMENT"));

    let out = Deidentifier::new(key(), [])
        .deidentify(read_any(&path).unwrap())
        .unwrap();
    let mut bytes = Vec::new();
    out.object.write_all(&mut bytes).unwrap();
    assert!(
        !contains(&bytes, "ZZSECRET"),
        "a JPEG segment kept the text"
    );
    let e = out.object.element(tags::PIXEL_DATA).unwrap();
    let Value::PixelSequence(seq) = e.value() else {
        panic!("still encapsulated")
    };
    let stream = seq.fragments().concat();
    let (after, _) = hope_dicom::jpeg::decode(&stream, 0).unwrap();
    let (before, _) = hope_dicom::jpeg::decode(&original, 0).unwrap();
    assert_eq!(after, before, "the image decodes to the same pixels");
}

/// A CT file whose pixel data is encapsulated in `fragments` under transfer syntax `ts`.
fn encapsulated_file(path: &Path, ts: &str, fragments: Vec<Vec<u8>>) {
    use dicom_core::DataElement;
    use dicom_core::value::{PixelFragmentSequence, Value};
    patient_file(
        path,
        ts,
        vec![
            Elem::new(tags::ROWS, VR::US, dicom_core::PrimitiveValue::from(2u16)),
            Elem::new(
                tags::COLUMNS,
                VR::US,
                dicom_core::PrimitiveValue::from(3u16),
            ),
            Elem::new(
                tags::BITS_ALLOCATED,
                VR::US,
                dicom_core::PrimitiveValue::from(8u16),
            ),
            DataElement::new(
                tags::PIXEL_DATA,
                VR::OB,
                Value::PixelSequence(PixelFragmentSequence::new(Vec::<u32>::new(), fragments)),
            ),
        ],
    );
}

/// Finding B-3 (second attack round): text in compressed pixel data outside the segments the
/// walker blanked survived into deliveries: the boxes of a JP2 file around a JPEG 2000
/// codestream (XML, EXIF in a uuid box), JPEG segments under a native transfer syntax, bytes
/// after an image or at the end of an RLE segment, streams of codecs that are not walked.
#[test]
fn attack_b03_text_anywhere_in_compressed_pixel_data_is_blanked_or_refused() {
    let dir = tempfile::tempdir().unwrap();
    let deid = Deidentifier::new(key(), []);
    let outcome = |name: &str, ts: &str, frags: Vec<Vec<u8>>| {
        let path = dir.path().join(name);
        encapsulated_file(&path, ts, frags);
        deid.deidentify(read_any(&path).unwrap()).map(|d| {
            let mut b = Vec::new();
            d.object.write_all(&mut b).unwrap();
            b
        })
    };
    let mut jp2 = vec![0, 0, 0, 12, b'j', b'P', b' ', b' ', 0x0D, 0x0A, 0x87, 0x0A];
    jp2.extend_from_slice(b"\0\0\0\x19xml <x>ZZPHI-XML</x>\0\0\0\x0cjp2c");
    jp2.extend_from_slice(&[0xFF, 0x4F, 0xFF, 0x51, 0, 2, 0xFF, 0xD9]);
    let jpeg_tail = {
        let mut j = vec![0xFF, 0xD8, 0xFF, 0xD9];
        j.extend_from_slice(b"ZZPHI-AFTER-EOI!");
        j
    };
    let jpeg_under_native = {
        let mut j = vec![0xFF, 0xD8, 0xFF, 0xFE, 0, 10];
        j.extend_from_slice(b"ZZPHI-CO");
        j.extend_from_slice(&[0xFF, 0xD9]);
        j
    };
    for (name, ts, frags) in [
        ("jp2.dcm", "1.2.840.10008.1.2.4.90", vec![jp2]),
        ("tail.dcm", "1.2.840.10008.1.2.4.50", vec![jpeg_tail]),
        ("native.dcm", "1.2.840.10008.1.2.1", vec![jpeg_under_native]),
        (
            "mpeg4.dcm",
            "1.2.840.10008.1.2.4.102",
            vec![b"\0\0\x01\xb2ZZPHI-USER-DATA".to_vec()],
        ),
    ] {
        let e = outcome(name, ts, frags).unwrap_err().to_string();
        assert!(
            e.contains("PixelData") && e.contains("refused"),
            "{name}: {e}"
        );
    }
    // RLE: a 2 x 3 frame, one segment of 6 bytes, then hidden text: zeroed, the image kept.
    let mut rle = vec![0u8; 64];
    rle[0] = 1;
    rle[4] = 64;
    rle.extend([5, 1, 2, 3, 4, 5, 6]);
    rle.extend_from_slice(b"ZZPHI-RLE-TAIL!");
    let bytes = outcome("rle.dcm", "1.2.840.10008.1.2.5", vec![rle]).unwrap();
    assert!(!contains(&bytes, "ZZPHI"));
    assert!(bytes.windows(7).any(|w| w == [5, 1, 2, 3, 4, 5, 6]));
    // Streams that are not walked pass only when the caller says so, by a dangerous name.
    let path = dir.path().join("mpeg4.dcm");
    assert!(
        Deidentifier::new(key(), [])
            .dangerous_pass_unwalked_pixel_streams()
            .deidentify(read_any(&path).unwrap())
            .is_ok()
    );
}

/// Finding B-4 (second attack round): attributes the profile table does not list were kept
/// verbatim although they identify: birth and death dates in an alternative calendar, people's
/// names (reviewers, evaluators, authors), comments, text values, titles, contact details.
#[test]
fn attack_b04_identifying_attributes_the_table_does_not_list_are_removed() {
    let secret = |t: Tag| format!("ZZ{:04X}{:04X}", t.group(), t.element());
    let unlisted: [(Tag, VR); 10] = [
        (Tag(0x0010, 0x0033), VR::LO),
        (Tag(0x0010, 0x0034), VR::LO),
        (Tag(0x0014, 0x0104), VR::PN),
        (Tag(0x0014, 0x2006), VR::PN),
        (Tag(0x0040, 0xA067), VR::PN),
        (Tag(0x0040, 0x0400), VR::LT),
        (Tag(0x0040, 0xA160), VR::UT),
        (Tag(0x0042, 0x0010), VR::ST),
        (Tag(0x0074, 0x100A), VR::UR),
        (Tag(0x0074, 0x100C), VR::LO),
    ];
    let extra: Vec<Elem> = unlisted
        .iter()
        .map(|&(t, vr)| s(t, vr, &secret(t)))
        .collect();
    let (bytes, obj) = deid_bytes(&Deidentifier::new(key(), []), extra);
    for (t, _) in unlisted {
        assert!(!contains(&bytes, &secret(t)), "{t} kept");
        assert!(obj.get(t).is_none(), "{t} kept");
    }
    // An unlisted date goes unless dates are retained (then it is shifted or kept).
    let unlisted_date = Tag(0x0040, 0xA121); // Date (content item)
    let e = s(unlisted_date, VR::DA, "19610203");
    let (bytes, _) = deid_bytes(&Deidentifier::new(key(), []), vec![e.clone()]);
    assert!(!contains(&bytes, "19610203"));
    let (bytes, _) = deid_bytes(
        &Deidentifier::new(key(), [ProfileOption::RetainLongitudinalFullDates]),
        vec![e],
    );
    assert!(contains(&bytes, "19610203"));
}
