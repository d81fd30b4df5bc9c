//! De-identification of a synthetic corpus written by the crate, with identity planted at the top
//! level, in nested sequences, in private and repeating groups.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::path::{Path, PathBuf};

use common::{open, s, sq, text};
use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, InMemDicomObject};
use hope_core::{Grid, Volume};
use hope_dicom::deid::table::ProfileOption;
use hope_dicom::deid::{Decision, DeidKey, Deidentifier, Override, PixelVerdict, SafePrivate};
use hope_dicom::{CtSeriesOptions, write_ct_series};

/// Identity strings planted in the corpus; none may survive the Basic Profile.
const IDENTITY: &[&str] = &[
    "DOE",
    "JOHN",
    "MRN12345",
    "ELSEWHERE",
    "CTSTATION",
    "ACC999",
    "19600102",
];

/// Two CT slices of one patient, full of identity; the second refers to the first.
fn corpus(dir: &Path) -> Vec<PathBuf> {
    let grid = Grid::new([4, 4, 2], [1.0, 1.0, 2.0]).unwrap();
    let w = write_ct_series(&Volume::filled(grid, 40i16), dir, &CtSeriesOptions::new()).unwrap();
    let first_uid = text(&open(&w.files[0]), tags::SOP_INSTANCE_UID);
    for (i, f) in w.files.iter().enumerate() {
        let mut obj = open(f);
        for e in [
            s(tags::PATIENT_NAME, VR::PN, "DOE^JOHN"),
            s(tags::PATIENT_ID, VR::LO, "MRN12345"),
            s(tags::PATIENT_BIRTH_DATE, VR::DA, "19600102"),
            s(tags::STUDY_DATE, VR::DA, "20250310"),
            s(tags::SERIES_DATE, VR::DA, "20250312"),
            s(tags::ACCESSION_NUMBER, VR::SH, "ACC999"),
            s(tags::INSTITUTION_NAME, VR::LO, "St Elsewhere Hospital"),
            s(tags::STUDY_DESCRIPTION, VR::LO, "CT chest of John Doe"),
            // Identity two levels down, as in the tool that kept it.
            sq(
                tags::CONTRIBUTING_EQUIPMENT_SEQUENCE,
                vec![vec![
                    s(tags::MANUFACTURER, VR::LO, "ACME"),
                    s(tags::INSTITUTION_NAME, VR::LO, "St Elsewhere Hospital"),
                    s(tags::STATION_NAME, VR::SH, "CTSTATION1"),
                    sq(
                        tags::PURPOSE_OF_REFERENCE_CODE_SEQUENCE,
                        vec![vec![
                            s(tags::CODE_VALUE, VR::SH, "109103"),
                            s(tags::CODE_MEANING, VR::LO, "Modifying Equipment"),
                            s(tags::PATIENT_NAME, VR::PN, "DOE^JOHN"),
                        ]],
                    ),
                ]],
            ),
            s(Tag(0x0009, 0x0010), VR::LO, "ACME 1.1"),
            s(Tag(0x0009, 0x1001), VR::LO, "DOE^JOHN private"),
            s(Tag(0x0009, 0x1002), VR::DS, "1.5"),
            DataElement::new(
                Tag(0x5000, 0x3000),
                VR::OB,
                PrimitiveValue::from(b"DOE!".to_vec()),
            ),
            DataElement::new(
                Tag(0x6000, 0x3000),
                VR::OB,
                PrimitiveValue::from(b"JOHN".to_vec()),
            ),
            s(Tag(0x6000, 0x0010), VR::US, "4"),
        ] {
            obj.put(e);
        }
        if i == 1 {
            obj.put(sq(
                tags::REFERENCED_IMAGE_SEQUENCE,
                vec![vec![
                    s(
                        tags::REFERENCED_SOP_CLASS_UID,
                        VR::UI,
                        "1.2.840.10008.5.1.4.1.1.2",
                    ),
                    s(tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, &first_uid),
                ]],
            ));
        }
        obj.write_to_file(f).unwrap();
    }
    w.files
}

fn key() -> DeidKey {
    DeidKey::from_bytes([9; 32])
}

/// De-identifies every file into `out`, returning the written paths.
fn run(deid: &Deidentifier, files: &[PathBuf], out: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(out).unwrap();
    files
        .iter()
        .map(|f| {
            let d = deid.deidentify(open(f)).unwrap();
            let p = out.join(f.file_name().unwrap());
            d.object.write_to_file(&p).unwrap();
            p
        })
        .collect()
}

#[test]
fn basic_profile_leaves_no_identity_anywhere_in_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(&dir.path().join("in"));
    // The planted strings are really in the originals...
    let original = std::fs::read(&files[0]).unwrap();
    let contains = |hay: &[u8], needle: &str| {
        let n = needle.as_bytes();
        hay.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
    };
    assert!(IDENTITY.iter().all(|m| contains(&original, m)));
    // ... and nowhere in the output, at any depth, in any group.
    let out = run(
        &Deidentifier::new(key(), []),
        &files,
        &dir.path().join("out"),
    );
    for p in &out {
        let bytes = std::fs::read(p).unwrap();
        for m in IDENTITY {
            assert!(!contains(&bytes, m), "{m} survived in {}", p.display());
        }
        let obj = open(p);
        assert!(obj.element_opt(Tag(0x0009, 0x1001)).unwrap().is_none());
        assert!(obj.element_opt(Tag(0x5000, 0x3000)).unwrap().is_none());
        assert!(obj.element_opt(Tag(0x6000, 0x3000)).unwrap().is_none());
        // Overlay geometry is not identity: kept.
        assert!(obj.element_opt(Tag(0x6000, 0x0010)).unwrap().is_some());
        assert_eq!(text(&obj, tags::PATIENT_IDENTITY_REMOVED), "YES");
        assert_eq!(
            text(&obj, tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED),
            "REMOVED"
        );
        // Study Date is Type 2 (Z): present and empty.
        assert_eq!(text(&obj, tags::STUDY_DATE), "");
    }
}

#[test]
fn uids_are_keyed_consistent_and_references_survive() {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(&dir.path().join("in"));
    let before: Vec<DefaultDicomObject> = files.iter().map(|f| open(f)).collect();
    let out = run(&Deidentifier::new(key(), []), &files, &dir.path().join("a"));
    let after: Vec<DefaultDicomObject> = out.iter().map(|f| open(f)).collect();
    for (b, a) in before.iter().zip(&after) {
        for t in [
            tags::SOP_INSTANCE_UID,
            tags::STUDY_INSTANCE_UID,
            tags::SERIES_INSTANCE_UID,
            tags::FRAME_OF_REFERENCE_UID,
        ] {
            let (old, new) = (text(b, t), text(a, t));
            assert_ne!(old, new);
            assert!(new.starts_with("2.25.") && new.len() <= 64, "{new}");
        }
        assert_eq!(text(b, tags::SOP_CLASS_UID), text(a, tags::SOP_CLASS_UID));
        assert_eq!(
            a.meta()
                .media_storage_sop_instance_uid()
                .trim_end_matches('\0'),
            text(a, tags::SOP_INSTANCE_UID)
        );
        assert_eq!(a.meta().transfer_syntax(), b.meta().transfer_syntax());
        assert_eq!(text(a, tags::PATIENT_ID), text(a, tags::PATIENT_NAME));
        assert!(text(a, tags::PATIENT_ID).starts_with("HOPE-"));
    }
    // One study, one series, one frame of reference, one patient after as before.
    for t in [
        tags::STUDY_INSTANCE_UID,
        tags::SERIES_INSTANCE_UID,
        tags::FRAME_OF_REFERENCE_UID,
        tags::PATIENT_ID,
    ] {
        assert_eq!(text(&after[0], t), text(&after[1], t));
    }
    // The reference from the second file still points at the first.
    let item = &after[1]
        .element(tags::REFERENCED_IMAGE_SEQUENCE)
        .unwrap()
        .items()
        .unwrap()[0];
    assert_eq!(
        text(item, tags::REFERENCED_SOP_INSTANCE_UID),
        text(&after[0], tags::SOP_INSTANCE_UID)
    );
    assert_eq!(
        text(item, tags::REFERENCED_SOP_CLASS_UID),
        "1.2.840.10008.5.1.4.1.1.2"
    );
    // Another run with the same key (another batch) gives the same UIDs; another key does not.
    let again = run(&Deidentifier::new(key(), []), &files, &dir.path().join("b"));
    assert_eq!(
        text(&open(&again[0]), tags::SOP_INSTANCE_UID),
        text(&after[0], tags::SOP_INSTANCE_UID)
    );
    let other = run(
        &Deidentifier::new(DeidKey::from_bytes([1; 32]), []),
        &files,
        &dir.path().join("c"),
    );
    assert_ne!(
        text(&open(&other[0]), tags::SOP_INSTANCE_UID),
        text(&after[0], tags::SOP_INSTANCE_UID)
    );
    assert_ne!(
        text(&open(&other[0]), tags::PATIENT_ID),
        text(&after[0], tags::PATIENT_ID)
    );
}

#[test]
fn modified_dates_keep_intervals_and_are_marked() {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(&dir.path().join("in"));
    let deid = Deidentifier::new(key(), [ProfileOption::RetainLongitudinalModifiedDates]);
    let out = run(&deid, &files, &dir.path().join("out"));
    let a = open(&out[0]);
    let (study, series) = (text(&a, tags::STUDY_DATE), text(&a, tags::SERIES_DATE));
    assert_ne!(study, "20250310");
    let days = |d: &str| {
        let (y, m, dd) = (
            d[..4].parse::<i64>().unwrap(),
            d[4..6].parse::<i64>().unwrap(),
            d[6..].parse::<i64>().unwrap(),
        );
        y * 372 + m * 31 + dd // monotone; exact within a month
    };
    assert_eq!(days(&series) - days(&study), 2, "{study} {series}");
    assert_eq!(
        text(&open(&out[1]), tags::STUDY_DATE),
        study,
        "one shift per patient"
    );
    assert_eq!(
        text(&a, tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED),
        "MODIFIED"
    );
    let codes: Vec<String> = a
        .element(tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE)
        .unwrap()
        .items()
        .unwrap()
        .iter()
        .map(|i| text(i, tags::CODE_VALUE))
        .collect();
    assert_eq!(codes, ["113100", "113107"]);
}

#[test]
fn a_second_pass_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(&dir.path().join("in"));
    let deid = Deidentifier::new(key(), [ProfileOption::RetainLongitudinalModifiedDates]);
    let once = run(&deid, &files, &dir.path().join("once"));
    let twice = run(&deid, &once, &dir.path().join("twice"));
    for (a, b) in once.iter().zip(&twice) {
        assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    }
}

#[test]
fn safe_private_attributes_are_kept_only_when_declared() {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(&dir.path().join("in"));
    let deid = Deidentifier::new(key(), [ProfileOption::RetainSafePrivate]).with_safe_private(
        SafePrivate {
            creator: "ACME 1.1".into(),
            group: 0x0009,
            element: 0x02,
        },
    );
    let a = open(&run(&deid, &files, &dir.path().join("out"))[0]);
    assert_eq!(text(&a, Tag(0x0009, 0x1002)), "1.5");
    assert_eq!(text(&a, Tag(0x0009, 0x0010)), "ACME 1.1");
    assert!(a.element_opt(Tag(0x0009, 0x1001)).unwrap().is_none());
}

#[test]
fn overrides_burned_in_text_and_the_dry_run() {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(&dir.path().join("in"));
    let deid = Deidentifier::new(key(), [])
        .with_override(
            tags::STUDY_DESCRIPTION,
            Override::Replace("CT CHEST".into()),
        )
        .with_override(tags::MANUFACTURER, Override::Remove)
        .with_override(tags::ACCESSION_NUMBER, Override::Hash)
        .with_override(tags::INSTITUTION_NAME, Override::Keep);
    let mut obj = open(&files[0]);
    obj.put(s(tags::BURNED_IN_ANNOTATION, VR::CS, "YES"));
    let report = deid.dry_run(&obj);
    let find = |path: &[Tag]| report.iter().find(|l| l.path == path).map(|l| l.decision);
    assert_eq!(find(&[tags::PATIENT_NAME]), Some(Decision::Pseudonym));
    assert_eq!(
        find(&[tags::CONTRIBUTING_EQUIPMENT_SEQUENCE, tags::STATION_NAME]),
        Some(Decision::Remove)
    );
    assert_eq!(
        find(&[tags::CONTRIBUTING_EQUIPMENT_SEQUENCE, tags::MANUFACTURER]),
        Some(Decision::Remove)
    );
    assert_eq!(find(&[Tag(0x0009, 0x1001)]), Some(Decision::Remove));
    let d = deid.deidentify(obj).unwrap();
    assert_eq!(d.pixels, PixelVerdict::BurnedIn);
    assert_eq!(text(&d.object, tags::PATIENT_IDENTITY_REMOVED), "NO");
    assert_eq!(text(&d.object, tags::STUDY_DESCRIPTION), "CT CHEST");
    // Keep wins over the profile (Institution Name would be removed), at the top level and in
    // the Contributing Equipment Sequence alike; Hash gives a keyed, stable token.
    assert_eq!(
        text(&d.object, tags::INSTITUTION_NAME),
        "St Elsewhere Hospital"
    );
    let hashed = text(&d.object, tags::ACCESSION_NUMBER);
    assert_eq!(hashed.len(), 16, "{hashed}");
    assert_ne!(hashed, "ACC999");
    let again = deid.deidentify(open(&files[1])).unwrap();
    assert_eq!(text(&again.object, tags::ACCESSION_NUMBER), hashed);
}

fn image(
    rows: u16,
    cols: u16,
    spp: u16,
    bits: u16,
    frames: u32,
    pixels: PrimitiveValue,
) -> DefaultDicomObject {
    let mut elems = vec![
        s(tags::SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.7"),
        s(tags::SOP_INSTANCE_UID, VR::UI, "1.2.3.4.5"),
        s(tags::MODALITY, VR::CS, "OT"),
        s(tags::PATIENT_NAME, VR::PN, "DOE^JOHN"),
        s(tags::BURNED_IN_ANNOTATION, VR::CS, "YES"),
        s(tags::NUMBER_OF_FRAMES, VR::IS, &frames.to_string()),
    ];
    for (t, v) in [
        (tags::ROWS, rows),
        (tags::COLUMNS, cols),
        (tags::SAMPLES_PER_PIXEL, spp),
        (tags::BITS_ALLOCATED, bits),
        (tags::BITS_STORED, bits),
        (tags::HIGH_BIT, bits - 1),
        (tags::PIXEL_REPRESENTATION, 0),
    ] {
        elems.push(DataElement::new(t, VR::US, PrimitiveValue::from(v)));
    }
    if spp == 3 {
        elems.push(s(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "RGB"));
        elems.push(DataElement::new(
            tags::PLANAR_CONFIGURATION,
            VR::US,
            PrimitiveValue::from(0u16),
        ));
    } else {
        elems.push(s(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2"));
    }
    let vr = if bits == 8 { VR::OB } else { VR::OW };
    elems.push(DataElement::new(tags::PIXEL_DATA, vr, pixels));
    InMemDicomObject::from_element_iter(elems)
        .with_meta(
            dicom_object::FileMetaTableBuilder::new()
                .transfer_syntax("1.2.840.10008.1.2.1")
                .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.7")
                .media_storage_sop_instance_uid("1.2.3.4.5"),
        )
        .unwrap()
}

fn pixel_bytes(obj: &InMemDicomObject) -> Vec<u8> {
    obj.element(tags::PIXEL_DATA)
        .unwrap()
        .to_bytes()
        .unwrap()
        .to_vec()
}

#[test]
fn redaction_blacks_out_the_rectangles_in_every_frame_and_sample() {
    use hope_dicom::deid::{Rect, RedactionRule};
    let rule = RedactionRule {
        modality: Some("OT".into()),
        rows: Some(8),
        rects: vec![
            Rect {
                x: 2,
                y: 1,
                width: 3,
                height: 2,
            },
            Rect {
                x: 14,
                y: 7,
                width: 9,
                height: 9,
            },
        ],
        ..RedactionRule::default()
    };
    let deid = Deidentifier::new(key(), []).with_redaction(rule.clone());
    // 8-bit RGB, interleaved, 2 frames of 8 x 16, every sample 200.
    let (rows, cols) = (8usize, 16usize);
    let original = image(
        8,
        16,
        3,
        8,
        2,
        PrimitiveValue::from(vec![200u8; rows * cols * 3 * 2]),
    );
    let d = deid.deidentify(original).unwrap();
    assert_eq!(d.pixels, PixelVerdict::Clean);
    assert_eq!(text(&d.object, tags::BURNED_IN_ANNOTATION), "NO");
    assert_eq!(text(&d.object, tags::PATIENT_IDENTITY_REMOVED), "YES");
    let codes: Vec<String> = d
        .object
        .element(tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE)
        .unwrap()
        .items()
        .unwrap()
        .iter()
        .map(|i| text(i, tags::CODE_VALUE))
        .collect();
    assert!(codes.contains(&"113101".to_string()), "{codes:?}");
    let px = pixel_bytes(&d.object);
    let inside =
        |x: usize, y: usize| ((2..5).contains(&x) && (1..3).contains(&y)) || (x >= 14 && y >= 7);
    for f in 0..2 {
        for y in 0..rows {
            for x in 0..cols {
                for sample in 0..3 {
                    let v = px[f * rows * cols * 3 + (y * cols + x) * 3 + sample];
                    assert_eq!(
                        v,
                        if inside(x, y) { 0 } else { 200 },
                        "frame {f} ({x},{y}) sample {sample}"
                    );
                }
            }
        }
    }
    // 16-bit monochrome, one frame.
    let words: Vec<u16> = vec![1000; rows * cols];
    let d = deid
        .deidentify(image(8, 16, 1, 16, 1, PrimitiveValue::U16(words.into())))
        .unwrap();
    let px = pixel_bytes(&d.object);
    let value = |x: usize, y: usize| {
        u16::from_le_bytes([px[(y * cols + x) * 2], px[(y * cols + x) * 2 + 1]])
    };
    assert_eq!(
        (
            value(2, 1),
            value(4, 2),
            value(5, 2),
            value(0, 0),
            value(15, 7)
        ),
        (0, 0, 1000, 1000, 0)
    );
    // A rule that does not match leaves the instance suspect, untouched.
    let other = Deidentifier::new(key(), []).with_redaction(RedactionRule {
        rows: Some(9),
        ..rule.clone()
    });
    let d = other
        .deidentify(image(
            8,
            16,
            1,
            8,
            1,
            PrimitiveValue::from(vec![7u8; rows * cols]),
        ))
        .unwrap();
    assert_eq!(d.pixels, PixelVerdict::BurnedIn);
    assert!(pixel_bytes(&d.object).iter().all(|&b| b == 7));
    // Compressed pixel data cannot be redacted: said so.
    let rle = open(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/pydicom/MR_small_RLE.dcm"),
    );
    let mr_rule = RedactionRule {
        modality: Some("MR".into()),
        rects: rule.rects.clone(),
        ..RedactionRule::default()
    };
    let d = Deidentifier::new(key(), [])
        .with_redaction(mr_rule)
        .deidentify(rle)
        .unwrap();
    match d.pixels {
        PixelVerdict::Suspect(why) => assert!(why.contains("compressed"), "{why}"),
        other => panic!("{other:?}"),
    }
}

/// Issue 27 item 4: Rows, Columns and SamplesPerPixel of 32768 with 262,144 frames and 64 bytes
/// of pixel data wrapped the size product to 0 and aborted the whole `deid run` once a
/// redaction rule matched. The instance is now held back, with the reason; nothing aborts.
#[test]
fn item_04_redaction_sizes_that_overflow_are_refused_not_wrapped() {
    use hope_dicom::deid::{Rect, RedactionRule};
    let rule = RedactionRule {
        modality: Some("OT".into()),
        rects: vec![Rect {
            x: 0,
            y: 0,
            width: 10,
            height: 10,
        }],
        ..RedactionRule::default()
    };
    let deid = Deidentifier::new(key(), []).with_redaction(rule);
    for (rows, cols, spp, frames) in [
        (32768u16, 32768u16, 32768u16, 262_144u32),
        (65535, 65535, 65535, u32::MAX),
        (0, 4, 1, 1),
    ] {
        let hostile = image(
            rows,
            cols,
            spp,
            16,
            frames,
            PrimitiveValue::from(vec![9u8; 64]),
        );
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| deid.deidentify(hostile)))
                .unwrap_or_else(|_| panic!("{rows}x{cols}x{spp}, {frames} frames: panicked"));
        match outcome {
            Ok(d) => match d.pixels {
                PixelVerdict::Suspect(why) => {
                    assert!(why.contains("cannot be applied"), "{why}")
                }
                other => panic!("{rows}x{cols}: {other:?}"),
            },
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
}

/// Issue 27 item 13, through the library: overrides that cannot hold (a UID that is no UID, text
/// into a sequence) remove the attribute; the file stays readable and under its output folder.
#[test]
fn item_13_library_overrides_that_cannot_hold_remove_the_attribute() {
    use hope_dicom::deid::BatchOptions;
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(&dir.path().join("in"));
    let deid = Deidentifier::new(key(), [])
        .with_override(
            tags::SERIES_INSTANCE_UID,
            Override::Replace("../../x".into()),
        )
        .with_override(
            tags::REFERENCED_IMAGE_SEQUENCE,
            Override::Replace("text".into()),
        )
        .with_override(tags::REFERENCED_SOP_SEQUENCE, Override::Hash);
    let out = dir.path().join("out");
    for f in &files {
        match deid.deidentify_file(f, &out, &BatchOptions::default()) {
            hope_dicom::deid::FileOutcome::Done(p) => {
                assert!(p.starts_with(&out), "{}", p.display());
                let back = open(&p);
                assert!(back.element(tags::SERIES_INSTANCE_UID).is_err());
                assert!(back.element(tags::REFERENCED_IMAGE_SEQUENCE).is_err());
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(!dir.path().join("x").exists());
}

#[test]
fn the_burned_in_verdict_follows_the_header() {
    use hope_dicom::deid::pixel_verdict;
    let obj = |elems: Vec<common::Elem>, pixels: bool| {
        let mut o = InMemDicomObject::from_element_iter(elems);
        if pixels {
            o.put(DataElement::new(
                tags::PIXEL_DATA,
                VR::OW,
                PrimitiveValue::from(vec![0u8; 4]),
            ));
        }
        o
    };
    let modality = |m: &str| s(tags::MODALITY, VR::CS, m);
    let bia = |v: &str| s(tags::BURNED_IN_ANNOTATION, VR::CS, v);
    let suspect = |v: PixelVerdict| matches!(v, PixelVerdict::Suspect(_));
    assert_eq!(
        pixel_verdict(&obj(vec![modality("CT")], true)),
        PixelVerdict::Clean
    );
    assert_eq!(
        pixel_verdict(&obj(vec![modality("CT"), bia("YES")], true)),
        PixelVerdict::BurnedIn
    );
    assert!(
        suspect(pixel_verdict(&obj(vec![modality("CR")], true))),
        "projection images may carry labels"
    );
    assert_eq!(
        pixel_verdict(&obj(vec![modality("CR"), bia("NO")], true)),
        PixelVerdict::Clean
    );
    assert!(suspect(pixel_verdict(&obj(
        vec![modality("US"), bia("MAYBE")],
        true
    ))));
    assert_eq!(
        pixel_verdict(&obj(vec![modality("US"), bia("NO")], true)),
        PixelVerdict::Clean
    );
    assert_eq!(
        pixel_verdict(&obj(vec![modality("SR")], false)),
        PixelVerdict::Clean,
        "no pixels"
    );
    assert!(suspect(pixel_verdict(&obj(
        vec![
            modality("CT"),
            s(tags::IMAGE_TYPE, VR::CS, "DERIVED\\SECONDARY\\SCREEN SAVE")
        ],
        true
    ))));
    assert!(suspect(pixel_verdict(&obj(
        vec![
            modality("CT"),
            s(tags::SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.7")
        ],
        true
    ))));
}
