//! SUVbw of a PET series from its headers (QIBA's vendor-neutral procedure), and every refusal.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};

use dicom_core::value::{DataSetSequence, PrimitiveValue};
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;
use dicom_object::{InMemDicomObject, OpenFileOptions};
use hope_core::{Grid, Volume};
use hope_dicom::{
    CtSeriesOptions, DecayCorrection, Error, SuvBw, load_activity_volume, write_ct_series,
};

type Elem = DataElement<InMemDicomObject>;

fn s(tag: dicom_core::Tag, vr: VR, v: &str) -> Elem {
    DataElement::new(tag, vr, PrimitiveValue::from(v))
}

fn edit_all(files: &[PathBuf], elems: &[Elem]) {
    for f in files {
        let mut obj = OpenFileOptions::new().open_file(f).unwrap();
        for e in elems {
            obj.put(e.clone());
        }
        obj.write_to_file(f).unwrap();
    }
}

fn pharma(elems: Vec<Elem>) -> Elem {
    DataElement::new(
        tags::RADIOPHARMACEUTICAL_INFORMATION_SEQUENCE,
        VR::SQ,
        DataSetSequence::from(vec![InMemDicomObject::from_element_iter(elems)]),
    )
}

/// A 3-slice PET series of 5000 Bq/mL everywhere: 370 MBq of F-18 (half-life 6586.2 s) injected at
/// 10:00:00, series started at 11:00:00, decay-corrected to the series start, patient 70 kg.
fn pet(dir: &Path) -> Vec<PathBuf> {
    let grid = Grid::new([4, 4, 3], [4.0, 4.0, 3.0]).unwrap();
    let w = write_ct_series(&Volume::filled(grid, 500i16), dir, &CtSeriesOptions::new()).unwrap();
    edit_all(
        &w.files,
        &[
            s(tags::MODALITY, VR::CS, "PT"),
            s(tags::SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.128"),
            s(tags::UNITS, VR::CS, "BQML"),
            s(tags::RESCALE_SLOPE, VR::DS, "10"),
            DataElement::new(
                tags::CORRECTED_IMAGE,
                VR::CS,
                PrimitiveValue::Strs(
                    ["NORM", "ATTN", "DECY", "SCAT"]
                        .map(String::from)
                        .into_iter()
                        .collect(),
                ),
            ),
            s(tags::DECAY_CORRECTION, VR::CS, "START"),
            s(tags::PATIENT_WEIGHT, VR::DS, "70"),
            s(tags::SERIES_DATE, VR::DA, "20260314"),
            s(tags::SERIES_TIME, VR::TM, "110000"),
            s(tags::ACQUISITION_DATE, VR::DA, "20260314"),
            s(tags::ACQUISITION_TIME, VR::TM, "110000.000"),
            pharma(vec![
                s(tags::RADIOPHARMACEUTICAL_START_TIME, VR::TM, "100000"),
                s(tags::RADIONUCLIDE_TOTAL_DOSE, VR::DS, "370000000"),
                s(tags::RADIONUCLIDE_HALF_LIFE, VR::DS, "6586.2"),
            ]),
        ],
    );
    w.files
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

#[test]
fn suv_bw_of_a_start_corrected_series() {
    let dir = tempfile::tempdir().unwrap();
    let files = pet(dir.path());
    let suv = SuvBw::from_files(&files).unwrap();
    assert_eq!(suv.decay_correction, DecayCorrection::Start);
    assert_eq!(suv.decay_time_s, 3600.0);
    // By hand: 370e6 * 2^(-3600/6586.2) = 253.314 MBq at 11:00; 70 000 g / that = 2.76337e-4 g/Bq.
    assert!(rel(suv.activity_at_reference_bq(), 253.314_18e6) < 1e-6);
    assert!(rel(suv.factor(), 2.763_366_8e-4) < 1e-6);
    let activity = load_activity_volume(&files).unwrap();
    assert!(activity.data().iter().all(|&a| a == 5000.0));
    let v = suv.to_suv(&activity);
    assert!(
        v.data()
            .iter()
            .all(|&x| rel(f64::from(x), 1.381_683_4) < 1e-6)
    );
}

#[test]
fn injection_datetime_midnight_and_admin() {
    let dir = tempfile::tempdir().unwrap();
    let files = pet(dir.path());
    // Radiopharmaceutical Start DateTime wins over Start Time: 09:50 instead of 10:00.
    edit_all(
        &files,
        &[pharma(vec![
            s(tags::RADIOPHARMACEUTICAL_START_TIME, VR::TM, "100000"),
            s(
                tags::RADIOPHARMACEUTICAL_START_DATE_TIME,
                VR::DT,
                "20260314095000",
            ),
            s(tags::RADIONUCLIDE_TOTAL_DOSE, VR::DS, "370000000"),
            s(tags::RADIONUCLIDE_HALF_LIFE, VR::DS, "6586.2"),
        ])],
    );
    let suv = SuvBw::from_files(&files).unwrap();
    assert_eq!(suv.decay_time_s, 4200.0);
    assert!(rel(suv.factor(), 2.943_487_8e-4) < 1e-6);
    // Injection at 23:30 the day before a 00:20 series (Start Time only): 50 minutes.
    edit_all(
        &files,
        &[
            s(tags::SERIES_TIME, VR::TM, "002000"),
            s(tags::ACQUISITION_TIME, VR::TM, "002000"),
            pharma(vec![
                s(tags::RADIOPHARMACEUTICAL_START_TIME, VR::TM, "233000"),
                s(tags::RADIONUCLIDE_TOTAL_DOSE, VR::DS, "370000000"),
                s(tags::RADIONUCLIDE_HALF_LIFE, VR::DS, "6586.2"),
            ]),
        ],
    );
    assert_eq!(SuvBw::from_files(&files).unwrap().decay_time_s, 3000.0);
    // ADMIN: already corrected to the injection, so the full dose counts.
    edit_all(&files, &[s(tags::DECAY_CORRECTION, VR::CS, "ADMIN")]);
    let suv = SuvBw::from_files(&files).unwrap();
    assert_eq!(suv.decay_time_s, 0.0);
    assert!(rel(suv.factor(), 70_000.0 / 370e6) < 1e-12);
}

fn refusal(files: &[PathBuf], elems: &[Elem]) -> (&'static str, String) {
    edit_all(files, elems);
    match SuvBw::from_files(files) {
        Err(Error::Attribute {
            attribute, message, ..
        }) => (attribute, message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn each_missing_or_unusable_attribute_is_named() {
    let cases: Vec<(Vec<Elem>, &str, &str)> = vec![
        (vec![s(tags::UNITS, VR::CS, "CNTS")], "Units", "BQML"),
        (
            vec![s(tags::CORRECTED_IMAGE, VR::CS, "ATTN")],
            "CorrectedImage",
            "DECY",
        ),
        (
            vec![s(tags::DECAY_CORRECTION, VR::CS, "NONE")],
            "DecayCorrection",
            "NONE",
        ),
        (
            vec![s(tags::PATIENT_WEIGHT, VR::DS, "0")],
            "PatientWeight",
            "positive",
        ),
        (
            vec![s(tags::ACQUISITION_TIME, VR::TM, "105959")],
            "SeriesTime",
            "re-created",
        ),
        (
            vec![pharma(vec![s(
                tags::RADIONUCLIDE_HALF_LIFE,
                VR::DS,
                "6586.2",
            )])],
            "RadionuclideTotalDose",
            "missing",
        ),
        (
            vec![pharma(vec![
                s(tags::RADIONUCLIDE_TOTAL_DOSE, VR::DS, "370000000"),
                s(tags::RADIONUCLIDE_HALF_LIFE, VR::DS, "6586.2"),
            ])],
            "RadiopharmaceuticalStartDateTime",
            "missing",
        ),
    ];
    for (elems, attribute, says) in cases {
        let dir = tempfile::tempdir().unwrap();
        let files = pet(dir.path());
        let (a, m) = refusal(&files, &elems);
        assert_eq!(a, attribute, "{m}");
        assert!(m.contains(says), "{attribute}: {m}");
    }
}
