//! RT Dose round trips within the quantisation of DoseGridScaling, references to the CT, errors.
#![allow(clippy::unwrap_used, missing_docs)]

use dicom_dictionary_std::{tags, uids};
use dicom_object::OpenFileOptions;
use hope_core::{Grid, Vec3, Volume};
use hope_dicom::rtdose::{DoseSummation, RtDoseOptions, read_rt_dose, write_rt_dose};
use hope_dicom::{CtSeriesOptions, Error, write_ct_series};

fn text(path: &std::path::Path, tag: dicom_core::Tag) -> String {
    let obj = OpenFileOptions::new()
        .read_until(tags::PIXEL_DATA)
        .open_file(path)
        .unwrap();
    obj.element(tag)
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches(['\0', ' '])
        .to_string()
}

fn ct_series(dir: &std::path::Path) -> hope_dicom::series::WrittenSeries {
    let grid = Grid::builder([20, 16, 8])
        .spacing([1.0, 1.0, 2.0])
        .origin([-10.0, -8.0, 0.0])
        .build()
        .unwrap();
    let ct = Volume::from_fn(grid, |[i, _, _]| if i < 10 { 0 } else { 40 });
    write_ct_series(
        &ct,
        dir,
        &CtSeriesOptions::new()
            .patient_name("DOE^JANE")
            .patient_id("PID-42"),
    )
    .unwrap()
}

/// A point-source-like dose on a finer grid placed inside the CT.
fn dose() -> Volume<f32> {
    let grid = Grid::builder([17, 13, 11])
        .spacing([0.5, 0.5, 1.0])
        .origin([-4.0, -3.0, 2.0])
        .build()
        .unwrap();
    let g2 = grid.clone();
    Volume::from_fn(grid, move |idx| {
        let r = g2.voxel_center(idx) - Vec3::new(0.0, 0.0, 7.0);
        (85.0 / (1.0 + r.dot(r))) as f32
    })
}

#[test]
fn round_trip_within_the_quantisation_and_references_the_ct() {
    let dir = tempfile::tempdir().unwrap();
    let ct = ct_series(&dir.path().join("ct"));
    let d = dose();
    let path = dir.path().join("dose.dcm");
    let written = write_rt_dose(
        &d,
        &path,
        &ct.files[3],
        &RtDoseOptions::new().referenced_plan("2.25.77"),
    )
    .unwrap();
    let max = d.data().iter().copied().fold(0.0f32, f32::max);
    let exact = f64::from(max) / f64::from(u32::MAX);
    assert!(written.dose_grid_scaling >= exact && written.dose_grid_scaling < exact * (1.0 + 1e-6));

    let back = read_rt_dose(&path).unwrap();
    assert!(
        back.grid().same_geometry(d.grid(), 1e-9),
        "{:?}",
        back.grid()
    );
    let step = written.dose_grid_scaling;
    for (a, b) in back.data().iter().zip(d.data()) {
        // Half a quantisation step, plus f32 rounding of the result.
        assert!(
            (f64::from(*a) - f64::from(*b)).abs() <= step / 2.0 + f64::from(*b) * 1e-7,
            "{a} vs {b}"
        );
    }
    assert_eq!(text(&path, tags::MODALITY), "RTDOSE");
    assert_eq!(text(&path, tags::SOP_CLASS_UID), uids::RT_DOSE_STORAGE);
    assert_eq!(text(&path, tags::DOSE_UNITS), "GY");
    assert_eq!(text(&path, tags::DOSE_SUMMATION_TYPE), "PLAN");
    for tag in [
        tags::STUDY_INSTANCE_UID,
        tags::FRAME_OF_REFERENCE_UID,
        tags::PATIENT_ID,
        tags::PATIENT_NAME,
    ] {
        assert_eq!(text(&path, tag), text(&ct.files[0], tag), "{tag}");
    }
    assert_ne!(text(&path, tags::SERIES_INSTANCE_UID), ct.series_uid);
    assert_eq!(
        text(&path, tags::SOP_INSTANCE_UID),
        written.sop_instance_uid
    );
    let obj = OpenFileOptions::new()
        .read_until(tags::PIXEL_DATA)
        .open_file(&path)
        .unwrap();
    let plan = obj.element(tags::REFERENCED_RT_PLAN_SEQUENCE).unwrap();
    let item = &plan.items().unwrap()[0];
    assert_eq!(
        item.element(tags::REFERENCED_SOP_INSTANCE_UID)
            .unwrap()
            .to_str()
            .unwrap()
            .trim_end_matches('\0'),
        "2.25.77"
    );
}

#[test]
fn zero_dose_and_summation_types_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let ct = ct_series(&dir.path().join("ct"));
    let zero = Volume::filled(Grid::new([3, 3, 2], [2.0; 3]).unwrap(), 0.0f32);
    let path = dir.path().join("zero.dcm");
    write_rt_dose(
        &zero,
        &path,
        &ct.files[0],
        &RtDoseOptions::new().summation(DoseSummation::Beam),
    )
    .unwrap();
    assert_eq!(read_rt_dose(&path).unwrap().data(), zero.data());
    assert_eq!(text(&path, tags::DOSE_SUMMATION_TYPE), "BEAM");
}

#[test]
fn bad_doses_and_references_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ct = ct_series(&dir.path().join("ct"));
    let grid = Grid::new([2, 2, 2], [1.0; 3]).unwrap();
    for bad in [-1.0f32, f32::NAN, f32::INFINITY] {
        let mut v = Volume::filled(grid.clone(), 1.0f32);
        v[[1, 0, 1]] = bad;
        let err = write_rt_dose(
            &v,
            &dir.path().join("x.dcm"),
            &ct.files[0],
            &RtDoseOptions::new(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("[1, 0, 1]"), "{err}");
    }
    assert!(!dir.path().join("x.dcm").exists(), "nothing half-written");
    // A CT file without a frame of reference cannot anchor a dose.
    let mut obj = OpenFileOptions::new().open_file(&ct.files[0]).unwrap();
    obj.remove_element(tags::FRAME_OF_REFERENCE_UID);
    obj.write_to_file(&ct.files[0]).unwrap();
    match write_rt_dose(
        &Volume::filled(grid, 1.0f32),
        &dir.path().join("y.dcm"),
        &ct.files[0],
        &RtDoseOptions::new(),
    ) {
        Err(Error::Attribute {
            attribute: "FrameOfReferenceUID",
            ..
        }) => {}
        other => panic!("expected a missing frame of reference, got {other:?}"),
    }
    // A CT slice is not a dose.
    assert!(matches!(
        read_rt_dose(&ct.files[1]),
        Err(Error::Attribute {
            attribute: "Modality",
            ..
        })
    ));
}

/// Issue 27 item 8: `write_rt_dose` looped for seconds, or forever below about 2e-6 Gy maximum,
/// because decimal strings printed anything under 5e-16 as "0". And item 2: the reader accepted
/// negative, zero and 1e308 grid scalings.
#[test]
fn item_08_tiny_doses_are_written_at_once_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let ct = ct_series(&dir.path().join("ct"));
    let files = ct.files.clone();
    for max in [2e-6f32, 1e-9, 1e-20, 1e-30, f32::MIN_POSITIVE] {
        let dose = Volume::from_fn(dose().grid().clone(), |[i, j, k]| {
            max * ((i + j + k) % 7) as f32 / 6.0
        });
        let out = dir.path().join("tiny.dcm");
        let started = std::time::Instant::now();
        let written = write_rt_dose(&dose, &out, &files[0], &RtDoseOptions::new()).unwrap();
        assert!(
            started.elapsed().as_secs() < 5,
            "{max}: {:?}",
            started.elapsed()
        );
        assert!(written.dose_grid_scaling > 0.0, "{max}");
        let back = read_rt_dose(&out).unwrap();
        let top = back.data().iter().copied().fold(0.0f32, f32::max);
        assert!((top / max - 1.0).abs() < 1e-6, "{max}: read back {top}");
    }
}

#[test]
fn item_02_dose_grid_scalings_that_are_no_dose_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ct = ct_series(&dir.path().join("ct"));
    let out = dir.path().join("d.dcm");
    write_rt_dose(&dose(), &out, &ct.files[0], &RtDoseOptions::new()).unwrap();
    for bad in ["-1", "0", "1e308", "NaN"] {
        let mut obj = dicom_object::OpenFileOptions::new()
            .open_file(&out)
            .unwrap();
        obj.put(dicom_core::DataElement::new(
            dicom_dictionary_std::tags::DOSE_GRID_SCALING,
            dicom_core::VR::DS,
            dicom_core::PrimitiveValue::from(bad),
        ));
        let p = dir.path().join("bad.dcm");
        obj.write_to_file(&p).unwrap();
        let e = read_rt_dose(&p).unwrap_err().to_string();
        assert!(e.contains("DoseGridScaling"), "{bad}: {e}");
    }
}
