//! A mixed corpus through `deidentify_dir`: a CT series, an RT Structure Set and an SR document
//! that refer to it, a Secondary Capture with burned-in text, and the awkward files of real
//! archives (bare data set without file meta, truncated, deflated, RLE-encapsulated, not DICOM).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::{Elem, open, s, sq, text};
use dicom_core::header::Header;
use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{DefaultDicomObject, FileMetaTableBuilder, InMemDicomObject};
use hope_core::{Grid, Volume};
use hope_dicom::deid::{BatchOptions, BurnedInPolicy, DeidKey, Deidentifier, deidentify_dir};
use hope_dicom::{CtSeriesOptions, load_ct_volume, write_ct_series};

const IDENTITY: &[&str] = &["ROE^JANE", "JANE", "MRN777", "ELSEWHERE"];

fn patient() -> Vec<Elem> {
    vec![
        s(tags::PATIENT_NAME, VR::PN, "ROE^JANE"),
        s(tags::PATIENT_ID, VR::LO, "MRN777"),
        s(tags::INSTITUTION_NAME, VR::LO, "St Elsewhere"),
        s(tags::STUDY_DATE, VR::DA, "20250101"),
    ]
}

fn write(path: &Path, class: &str, ts: &str, elems: Vec<Elem>) {
    let uid = hope_dicom::uid::new_uid().unwrap();
    let mut obj = InMemDicomObject::from_element_iter(elems);
    obj.put(s(tags::SOP_CLASS_UID, VR::UI, class));
    obj.put(s(tags::SOP_INSTANCE_UID, VR::UI, &uid));
    obj.with_meta(
        FileMetaTableBuilder::new()
            .transfer_syntax(ts)
            .media_storage_sop_class_uid(class)
            .media_storage_sop_instance_uid(&uid),
    )
    .unwrap()
    .write_to_file(path)
    .unwrap();
}

struct Corpus {
    ct: Vec<PathBuf>,
}

fn corpus(dir: &Path) -> Corpus {
    let grid = Grid::new([8, 8, 2], [1.0, 1.0, 2.0]).unwrap();
    let ct_vol = Volume::from_fn(grid, |[i, j, k]| (i * 10 + j + k * 100) as i16);
    let w = write_ct_series(&ct_vol, &dir.join("ct"), &CtSeriesOptions::new()).unwrap();
    for f in &w.files {
        let mut obj = open(f);
        for e in patient() {
            obj.put(e);
        }
        obj.write_to_file(f).unwrap();
    }
    let ct_uids: Vec<String> = w
        .files
        .iter()
        .map(|f| text(&open(f), tags::SOP_INSTANCE_UID))
        .collect();
    let contour_images = |uids: &[String]| {
        uids.iter()
            .map(|u| {
                vec![
                    s(
                        tags::REFERENCED_SOP_CLASS_UID,
                        VR::UI,
                        uids::CT_IMAGE_STORAGE,
                    ),
                    s(tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, u),
                ]
            })
            .collect::<Vec<_>>()
    };
    // RT Structure Set: references at three places, four levels deep.
    let mut rt = patient();
    rt.extend([
        s(tags::MODALITY, VR::CS, "RTSTRUCT"),
        s(tags::STRUCTURE_SET_LABEL, VR::SH, "JANE plan"),
        s(tags::STUDY_INSTANCE_UID, VR::UI, &w.study_uid),
        sq(
            tags::REFERENCED_FRAME_OF_REFERENCE_SEQUENCE,
            vec![vec![
                s(
                    tags::FRAME_OF_REFERENCE_UID,
                    VR::UI,
                    &w.frame_of_reference_uid,
                ),
                sq(
                    tags::RT_REFERENCED_STUDY_SEQUENCE,
                    vec![vec![
                        s(tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, &w.study_uid),
                        sq(
                            tags::RT_REFERENCED_SERIES_SEQUENCE,
                            vec![vec![
                                s(tags::SERIES_INSTANCE_UID, VR::UI, &w.series_uid),
                                sq(tags::CONTOUR_IMAGE_SEQUENCE, contour_images(&ct_uids)),
                            ]],
                        ),
                    ]],
                ),
            ]],
        ),
        sq(
            tags::STRUCTURE_SET_ROI_SEQUENCE,
            vec![vec![
                s(tags::ROI_NUMBER, VR::IS, "1"),
                s(
                    tags::REFERENCED_FRAME_OF_REFERENCE_UID,
                    VR::UI,
                    &w.frame_of_reference_uid,
                ),
                s(tags::ROI_NAME, VR::LO, "PTV"),
            ]],
        ),
        sq(
            tags::ROI_CONTOUR_SEQUENCE,
            vec![vec![
                s(tags::REFERENCED_ROI_NUMBER, VR::IS, "1"),
                sq(
                    tags::CONTOUR_SEQUENCE,
                    vec![vec![
                        sq(tags::CONTOUR_IMAGE_SEQUENCE, contour_images(&ct_uids[..1])),
                        s(tags::CONTOUR_GEOMETRIC_TYPE, VR::CS, "CLOSED_PLANAR"),
                    ]],
                ),
            ]],
        ),
    ]);
    write(
        &dir.join("rtstruct.dcm"),
        uids::RT_STRUCTURE_SET_STORAGE,
        uids::EXPLICIT_VR_LITTLE_ENDIAN,
        rt,
    );
    // SR with identity in nested content items.
    let mut sr = patient();
    sr.extend([
        s(tags::MODALITY, VR::CS, "SR"),
        s(tags::VALUE_TYPE, VR::CS, "CONTAINER"),
        sq(
            tags::CONTENT_SEQUENCE,
            vec![
                vec![
                    s(tags::VALUE_TYPE, VR::CS, "TEXT"),
                    s(
                        tags::TEXT_VALUE,
                        VR::UT,
                        "Mrs Jane Roe, MRN777, seen at St Elsewhere",
                    ),
                ],
                vec![
                    s(tags::VALUE_TYPE, VR::CS, "CONTAINER"),
                    sq(
                        tags::CONTENT_SEQUENCE,
                        vec![
                            vec![
                                s(tags::VALUE_TYPE, VR::CS, "PNAME"),
                                s(tags::PERSON_NAME, VR::PN, "ROE^JANE"),
                            ],
                            vec![
                                s(tags::VALUE_TYPE, VR::CS, "UIDREF"),
                                s(tags::UID, VR::UI, &ct_uids[1]),
                            ],
                        ],
                    ),
                ],
            ],
        ),
    ]);
    write(
        &dir.join("sr.dcm"),
        uids::COMPREHENSIVE_SR_STORAGE,
        uids::EXPLICIT_VR_LITTLE_ENDIAN,
        sr,
    );
    // An MR image whose identity is in attributes written with VR UN (as after a hop through a
    // system that did not know them), and in the Other Patient IDs Sequence.
    let mut mr = patient();
    mr.retain(|e| e.tag() != tags::PATIENT_NAME && e.tag() != tags::INSTITUTION_NAME);
    mr.extend([
        s(tags::MODALITY, VR::CS, "MR"),
        DataElement::new(
            tags::PATIENT_NAME,
            VR::UN,
            PrimitiveValue::from(b"ROE^JANE".to_vec()),
        ),
        DataElement::new(
            tags::INSTITUTION_NAME,
            VR::UN,
            PrimitiveValue::from(b"St Elsewhere".to_vec()),
        ),
        sq(
            tags::OTHER_PATIENT_I_DS_SEQUENCE,
            vec![vec![
                s(tags::PATIENT_ID, VR::LO, "MRN777"),
                s(tags::ISSUER_OF_PATIENT_ID, VR::LO, "St Elsewhere"),
            ]],
        ),
    ]);
    write(
        &dir.join("mr.dcm"),
        uids::MR_IMAGE_STORAGE,
        uids::EXPLICIT_VR_LITTLE_ENDIAN,
        mr,
    );
    // Secondary Capture with burned-in text.
    let mut sc = patient();
    sc.push(s(tags::BURNED_IN_ANNOTATION, VR::CS, "YES"));
    write(
        &dir.join("sc.dcm"),
        uids::SECONDARY_CAPTURE_IMAGE_STORAGE,
        uids::EXPLICIT_VR_LITTLE_ENDIAN,
        sc,
    );
    // A bare data set (no preamble, no file meta), implicit VR.
    let mut bare = Vec::new();
    open(&w.files[0])
        .into_inner()
        .write_dataset_with_ts(
            &mut bare,
            &dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN.erased(),
        )
        .unwrap();
    std::fs::write(dir.join("bare.raw"), bare).unwrap();
    // Truncated in the middle of the pixel data.
    let whole = std::fs::read(&w.files[0]).unwrap();
    std::fs::write(dir.join("truncated.dcm"), &whole[..whole.len() - 40]).unwrap();
    // RLE-encapsulated (pydicom's MR_small_RLE, MIT), with a patient name put in.
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pydicom/MR_small_RLE.dcm"),
        dir.join("mr_rle.dcm"),
    )
    .unwrap();
    std::fs::write(dir.join("notes.txt"), "ROE^JANE's folder").unwrap();
    Corpus { ct: w.files }
}

fn outputs(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for series in std::fs::read_dir(dir).unwrap() {
        for f in std::fs::read_dir(series.unwrap().path()).unwrap() {
            v.push(f.unwrap().path());
        }
    }
    v.sort();
    v
}

#[test]
fn a_mixed_corpus_is_de_identified_with_references_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let c = corpus(&input);
    let before_ct: Vec<DefaultDicomObject> = c.ct.iter().map(|p| open(p)).collect();
    let deid = Deidentifier::new(DeidKey::from_bytes([11; 32]), []);
    let quarantine = tmp.path().join("quarantine");
    let options = BatchOptions::new()
        .threads(2)
        .burned_in(BurnedInPolicy::Quarantine(quarantine.clone()));
    let seen = std::sync::atomic::AtomicUsize::new(0);
    let out = tmp.path().join("out");
    let summary = deidentify_dir(&deid, &input, &out, &options, &|_, _| {
        seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    })
    .unwrap();
    // 2 CT + RT + SR + MR done; SC (burned in) and MR_small (derived secondary) quarantined; truncated
    // and notes.txt skipped, named, and the bare copy of slice 1 (or slice 1 itself, whichever
    // came second) skipped as a duplicate instance rather than overwriting it.
    assert_eq!(summary.done, 5, "{summary:#?}");
    assert_eq!(summary.quarantined.len(), 2, "{summary:#?}");
    assert_eq!(summary.skipped.len(), 3, "{summary:#?}");
    assert!(
        summary
            .skipped
            .iter()
            .any(|(_, why)| why.contains("exists already"))
    );
    assert_eq!(seen.into_inner(), 10);
    assert!(
        summary
            .skipped
            .iter()
            .any(|(p, why)| p.ends_with("truncated.dcm") && why.contains("truncated.dcm"))
    );
    assert!(
        summary
            .quarantined
            .iter()
            .any(|(p, why)| p.ends_with("sc.dcm") && why.contains("Burned In"))
    );

    let files = outputs(&out);
    assert_eq!(files.len(), 5);
    // No identity anywhere in any output or quarantined file.
    for p in files.iter().chain(&outputs(&quarantine)) {
        let bytes = std::fs::read(p).unwrap();
        for m in IDENTITY {
            let found = bytes
                .windows(m.len())
                .any(|w| w.eq_ignore_ascii_case(m.as_bytes()));
            assert!(!found, "{m} in {}: {:?}", p.display(), open(p));
        }
    }
    let objs: Vec<DefaultDicomObject> = files.iter().map(|p| open(p)).collect();
    let by_modality = |m: &str| {
        objs.iter()
            .filter(|o| text(o, tags::MODALITY) == m)
            .collect::<Vec<_>>()
    };
    let cts = by_modality("CT");
    assert_eq!(cts.len(), 2);
    let ct_uids: BTreeSet<String> = cts
        .iter()
        .map(|o| text(o, tags::SOP_INSTANCE_UID))
        .collect();
    assert_eq!(ct_uids.len(), 2);
    let (study, series, frame) = (
        text(cts[0], tags::STUDY_INSTANCE_UID),
        text(cts[0], tags::SERIES_INSTANCE_UID),
        text(cts[0], tags::FRAME_OF_REFERENCE_UID),
    );
    assert_ne!(series, text(&before_ct[0], tags::SERIES_INSTANCE_UID));
    // The de-identified CT still loads as a volume, voxel for voxel.
    let ct_files: Vec<PathBuf> = files
        .iter()
        .filter(|p| p.parent().unwrap().ends_with(&series))
        .cloned()
        .collect();
    let original = load_ct_volume(&c.ct).unwrap();
    assert_eq!(load_ct_volume(&ct_files).unwrap().data(), original.data());

    // RT Structure Set: every reference follows the CT.
    let rt = by_modality("RTSTRUCT")[0];
    let rfor = &rt
        .element(tags::REFERENCED_FRAME_OF_REFERENCE_SEQUENCE)
        .unwrap()
        .items()
        .unwrap()[0];
    assert_eq!(text(rfor, tags::FRAME_OF_REFERENCE_UID), frame);
    let study_item = &rfor
        .element(tags::RT_REFERENCED_STUDY_SEQUENCE)
        .unwrap()
        .items()
        .unwrap()[0];
    assert_eq!(text(study_item, tags::REFERENCED_SOP_INSTANCE_UID), study);
    let series_item = &study_item
        .element(tags::RT_REFERENCED_SERIES_SEQUENCE)
        .unwrap()
        .items()
        .unwrap()[0];
    assert_eq!(text(series_item, tags::SERIES_INSTANCE_UID), series);
    let referenced: BTreeSet<String> = series_item
        .element(tags::CONTOUR_IMAGE_SEQUENCE)
        .unwrap()
        .items()
        .unwrap()
        .iter()
        .map(|i| text(i, tags::REFERENCED_SOP_INSTANCE_UID))
        .collect();
    assert_eq!(referenced, ct_uids);
    let roi = &rt
        .element(tags::STRUCTURE_SET_ROI_SEQUENCE)
        .unwrap()
        .items()
        .unwrap()[0];
    assert_eq!(text(roi, tags::REFERENCED_FRAME_OF_REFERENCE_UID), frame);
    assert_eq!(
        text(roi, tags::ROI_NAME),
        "",
        "ROI Name: Z in the Basic Profile"
    );
    assert_eq!(text(rt, tags::STUDY_INSTANCE_UID), study);

    // SR: the free text and the person name replaced, the UID reference followed.
    let sr = by_modality("SR")[0];
    let items = sr.element(tags::CONTENT_SEQUENCE).unwrap().items().unwrap();
    // Content Sequence is D: its free text becomes dummy text, its codes stay.
    assert_eq!(text(&items[0], tags::TEXT_VALUE), "ANONYMIZED");
    assert_eq!(text(&items[0], tags::VALUE_TYPE), "TEXT");
    let inner = items[1]
        .element(tags::CONTENT_SEQUENCE)
        .unwrap()
        .items()
        .unwrap();
    assert_eq!(text(&inner[0], tags::PERSON_NAME), "ANONYMIZED");
    assert!(ct_uids.contains(&text(&inner[1], tags::UID)));

    // The RLE pixel data passes through unchanged (quarantined, as MR_small is DERIVED\SECONDARY).
    let mr = outputs(&quarantine)
        .into_iter()
        .map(|p| open(&p))
        .find(|o| text(o, tags::MODALITY) == "MR")
        .unwrap();
    let orig = open(&input.join("mr_rle.dcm"));
    assert_eq!(mr.meta().transfer_syntax(), orig.meta().transfer_syntax());
    assert_eq!(
        mr.element(tags::PIXEL_DATA).unwrap().value().fragments(),
        orig.element(tags::PIXEL_DATA).unwrap().value().fragments()
    );
}

#[test]
fn deflated_files_stay_deflated_and_readable() {
    let tmp = tempfile::tempdir().unwrap();
    let grid = Grid::new([4, 4, 1], [1.0; 3]).unwrap();
    let w = write_ct_series(
        &Volume::filled(grid, 5i16),
        &tmp.path().join("in"),
        &CtSeriesOptions::new(),
    )
    .unwrap();
    let f = &w.files[0];
    let obj = open(f);
    let sop = text(&obj, tags::SOP_INSTANCE_UID);
    let mut inner = obj.into_inner();
    inner.put(s(tags::PATIENT_NAME, VR::PN, "ROE^JANE"));
    inner
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
                .media_storage_sop_class_uid(uids::CT_IMAGE_STORAGE)
                .media_storage_sop_instance_uid(&sop),
        )
        .unwrap()
        .write_to_file(f)
        .unwrap();
    let deid = Deidentifier::new(DeidKey::from_bytes([11; 32]), []);
    let out = tmp.path().join("out");
    let summary = deidentify_dir(
        &deid,
        &tmp.path().join("in"),
        &out,
        &BatchOptions::new(),
        &|_, _| {},
    )
    .unwrap();
    assert_eq!(summary.done, 1, "{summary:?}");
    let o = open(&outputs(&out)[0]);
    assert_eq!(
        o.meta().transfer_syntax().trim_end_matches('\0'),
        uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN
    );
    assert!(text(&o, tags::PATIENT_NAME).starts_with("HOPE-"));
    assert_eq!(load_ct_volume(&outputs(&out)).unwrap().data(), &[5i16; 16]);
}
