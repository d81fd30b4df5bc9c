//! NM instances: SPECT projections written and read back the same; a dual-head acquisition's
//! two half-orbits merged by angle; a reconstruction in Bq/mL written and read back by the
//! activity loader; forged and inconsistent attributes refused naming the attribute.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use dicom_core::value::{DataSetSequence, PrimitiveValue};
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;
use dicom_object::{InMemDicomObject, OpenFileOptions};
use hope_core::{Grid, Vec3, Volume};
use hope_dicom::{
    NmOptions, NmProjections, NmWindow, load_activity_volume, read_nm_projections,
    write_nm_projections, write_nm_reconstruction,
};

fn projections(views: usize) -> NmProjections {
    let (rows, columns) = (3, 4);
    let windows = vec![
        NmWindow {
            name: "photopeak".into(),
            lower_kev: 187.56,
            upper_kev: 229.24,
        },
        NmWindow {
            name: "lower".into(),
            lower_kev: 166.7,
            upper_kev: 187.5,
        },
    ];
    let n = windows.len() * views * rows * columns;
    NmProjections {
        windows,
        angles_deg: (0..views)
            .map(|v| 360.0 / views as f64 * v as f64)
            .collect(),
        rows,
        columns,
        pixel_mm: 4.8,
        radius_mm: 250.0,
        frame_duration_ms: 20_000,
        collimator: "SY-ME".into(),
        radionuclide: "Lu-177".into(),
        counts: (0..n).map(|i| (i * 37 % 1000) as u16).collect(),
    }
}

#[test]
fn projections_read_back_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let p = projections(8);
    let path = tmp.path().join("proj.dcm");
    write_nm_projections(&p, &path, &NmOptions::default()).unwrap();
    let q = read_nm_projections(&path).unwrap();
    assert_eq!(q, p);
    // Clockwise from 90 degrees.
    let mut cw = projections(4);
    cw.angles_deg = vec![90.0, 0.0, -90.0, -180.0];
    write_nm_projections(&cw, &path, &NmOptions::default()).unwrap();
    assert_eq!(
        read_nm_projections(&path).unwrap().angles_deg,
        cw.angles_deg
    );
}

/// Edits a written file: `f` changes its data set.
fn edit(path: &Path, out: &Path, f: impl FnOnce(&mut InMemDicomObject)) {
    let mut obj = OpenFileOptions::new().open_file(path).unwrap();
    f(&mut obj);
    obj.write_to_file(out).unwrap();
}

fn detector(start: f64) -> InMemDicomObject {
    InMemDicomObject::from_element_iter([
        DataElement::new(
            tags::START_ANGLE,
            VR::DS,
            PrimitiveValue::from(format!("{start}")),
        ),
        DataElement::new(tags::RADIAL_POSITION, VR::DS, PrimitiveValue::from("250")),
        DataElement::new(
            tags::COLLIMATOR_GRID_NAME,
            VR::SH,
            PrimitiveValue::from("SY-ME"),
        ),
    ])
}

/// A dual-head camera: detector 1 from 0 to 180 degrees, detector 2 from 180 to 360, each four
/// views of 45 degrees, detector 2's stored first: read as one orbit of 8 views in angle order.
#[test]
fn a_dual_head_acquisition_is_merged_by_angle() {
    let tmp = tempfile::tempdir().unwrap();
    let p = projections(8);
    let single = tmp.path().join("single.dcm");
    write_nm_projections(&p, &single, &NmOptions::default()).unwrap();
    let dual = tmp.path().join("dual.dcm");
    edit(&single, &dual, |o| {
        // Frames stay in the file's order (window, then 8 frames); now frames 0-3 are detector
        // 2's views 1-4 (180 to 315 degrees) and frames 4-7 detector 1's (0 to 135).
        let frames = 16;
        let det: Vec<u16> = (0..frames).map(|f| if f % 8 < 4 { 2 } else { 1 }).collect();
        let view: Vec<u16> = (0..frames).map(|f| (f % 4) as u16 + 1).collect();
        o.put(DataElement::new(
            tags::DETECTOR_VECTOR,
            VR::US,
            PrimitiveValue::U16(det.into()),
        ));
        o.put(DataElement::new(
            tags::ANGULAR_VIEW_VECTOR,
            VR::US,
            PrimitiveValue::U16(view.into()),
        ));
        o.put(DataElement::new(
            tags::NUMBER_OF_DETECTORS,
            VR::US,
            PrimitiveValue::from(2u16),
        ));
        o.put(DataElement::new(
            tags::DETECTOR_INFORMATION_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(vec![detector(0.0), detector(180.0)]),
        ));
        let rotation = InMemDicomObject::from_element_iter([
            DataElement::new(tags::ANGULAR_STEP, VR::DS, PrimitiveValue::from("45")),
            DataElement::new(tags::ROTATION_DIRECTION, VR::CS, PrimitiveValue::from("CC")),
            DataElement::new(
                tags::ACTUAL_FRAME_DURATION,
                VR::IS,
                PrimitiveValue::from("20000"),
            ),
            DataElement::new(
                tags::NUMBER_OF_FRAMES_IN_ROTATION,
                VR::US,
                PrimitiveValue::from(4u16),
            ),
        ]);
        o.put(DataElement::new(
            tags::ROTATION_INFORMATION_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(vec![rotation]),
        ));
    });
    let q = read_nm_projections(&dual).unwrap();
    assert_eq!(q.angles_deg, p.angles_deg);
    // In angle order: detector 1's frames (the file's 4-7), then detector 2's (0-3).
    let frame = 3 * 4;
    for w in 0..2 {
        for (k, f) in [4, 5, 6, 7, 0, 1, 2, 3].into_iter().enumerate() {
            let got = &q.counts[(w * 8 + k) * frame..(w * 8 + k + 1) * frame];
            let want = &p.counts[(w * 8 + f) * frame..(w * 8 + f + 1) * frame];
            assert_eq!(got, want, "window {w}, view {k}");
        }
    }
}

#[test]
fn a_reconstruction_is_read_back_by_the_activity_loader() {
    let tmp = tempfile::tempdir().unwrap();
    let grid = Grid::builder([6, 5, 4])
        .spacing(Vec3::new(4.8, 4.8, 4.8))
        .origin(Vec3::new(-12.0, -9.6, -7.2))
        .build()
        .unwrap();
    let v = Volume::from_fn(grid, |[i, j, k]| (i * 1000 + j * 100 + k * 10) as f32 * 3.5);
    let path = tmp.path().join("recon.dcm");
    write_nm_reconstruction(&v, &path, &NmOptions::default()).unwrap();
    let back = load_activity_volume(&[path]).unwrap();
    assert!(back.grid().same_geometry(v.grid(), 1e-3));
    let max = v.data().iter().fold(0.0f32, |m, x| m.max(*x));
    for (a, b) in back.data().iter().zip(v.data()) {
        assert!((a - b).abs() <= max / 65_535.0, "{a} {b}");
    }
}

#[test]
fn forged_attributes_are_refused_naming_them() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good.dcm");
    write_nm_projections(&projections(8), &good, &NmOptions::default()).unwrap();
    let bad = tmp.path().join("bad.dcm");
    type Edit = Box<dyn FnOnce(&mut InMemDicomObject)>;
    let us = |tag, v: u16| DataElement::new(tag, VR::US, PrimitiveValue::from(v));
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(move |o| {
                o.put(DataElement::new(
                    tags::NUMBER_OF_FRAMES,
                    VR::IS,
                    PrimitiveValue::from("17"),
                ));
            }),
            "17 frames",
        ),
        (
            Box::new(move |o| {
                o.put(DataElement::new(
                    tags::NUMBER_OF_FRAMES,
                    VR::IS,
                    PrimitiveValue::from("999999"),
                ));
            }),
            "NumberOfFrames",
        ),
        (
            Box::new(move |o| {
                o.put(us(tags::NUMBER_OF_ENERGY_WINDOWS, 3));
            }),
            "EnergyWindow",
        ),
        (
            Box::new(move |o| {
                o.put(us(tags::NUMBER_OF_ROTATIONS, 2));
            }),
            "NumberOfRotations",
        ),
        (
            Box::new(move |o| {
                o.put(DataElement::new(
                    tags::ENERGY_WINDOW_VECTOR,
                    VR::US,
                    PrimitiveValue::U16(vec![1u16; 15].into()),
                ));
            }),
            "EnergyWindowVector",
        ),
        (
            Box::new(move |o| {
                o.put(DataElement::new(
                    tags::ANGULAR_VIEW_VECTOR,
                    VR::US,
                    PrimitiveValue::U16(vec![9u16; 16].into()),
                ));
            }),
            "AngularViewVector",
        ),
        (
            Box::new(move |o| {
                o.put(DataElement::new(
                    tags::ANGULAR_VIEW_VECTOR,
                    VR::US,
                    PrimitiveValue::U16(vec![1u16; 16].into()),
                ));
            }),
            "AngularViewVector",
        ),
        (
            Box::new(move |o| {
                o.remove_element(tags::ROTATION_INFORMATION_SEQUENCE);
            }),
            "RotationInformationSequence",
        ),
        (
            Box::new(move |o| {
                o.put(DataElement::new(
                    tags::IMAGE_TYPE,
                    VR::CS,
                    PrimitiveValue::from("ORIGINAL\\PRIMARY\\STATIC"),
                ));
            }),
            "ImageType",
        ),
        (
            Box::new(move |o| {
                o.put(DataElement::new(
                    tags::MODALITY,
                    VR::CS,
                    PrimitiveValue::from("CT"),
                ));
            }),
            "Modality",
        ),
        (
            Box::new(move |o| {
                o.put(DataElement::new(
                    tags::PIXEL_SPACING,
                    VR::DS,
                    PrimitiveValue::from("4.8\\2.4"),
                ));
            }),
            "PixelSpacing",
        ),
        (
            Box::new(move |o| {
                o.put(DataElement::new(
                    tags::PIXEL_DATA,
                    VR::OW,
                    PrimitiveValue::U8(vec![0u8; 10].into()),
                ));
            }),
            "PixelData",
        ),
        (
            Box::new(move |o| {
                o.put(us(tags::ROWS, 5000));
            }),
            "Rows",
        ),
        (
            Box::new(move |o| {
                o.put(us(tags::PIXEL_REPRESENTATION, 1));
            }),
            "PixelRepresentation",
        ),
    ];
    for (f, want) in cases {
        edit(&good, &bad, f);
        let err = read_nm_projections(&bad).unwrap_err().to_string();
        assert!(err.contains(want), "{want}: {err}");
    }
}

/// Attack round on issue 25: a body-contour orbit (radius changing per view), a window of two
/// energy ranges, and a header announcing 2^34 pixels were read (the first two as something
/// else, the last before any check of the memory it needs).
#[test]
fn attack_25_orbits_windows_and_sizes_the_reader_cannot_honour_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good.dcm");
    write_nm_projections(&projections(8), &good, &NmOptions::default()).unwrap();
    let bad = tmp.path().join("bad.dcm");
    edit(&good, &bad, |o| {
        let rotation = InMemDicomObject::from_element_iter([
            DataElement::new(tags::ANGULAR_STEP, VR::DS, PrimitiveValue::from("45")),
            DataElement::new(tags::ROTATION_DIRECTION, VR::CS, PrimitiveValue::from("CC")),
            DataElement::new(
                tags::ACTUAL_FRAME_DURATION,
                VR::IS,
                PrimitiveValue::from("20000"),
            ),
            DataElement::new(
                tags::NUMBER_OF_FRAMES_IN_ROTATION,
                VR::US,
                PrimitiveValue::from(8u16),
            ),
            DataElement::new(
                tags::RADIAL_POSITION,
                VR::DS,
                PrimitiveValue::Strs(
                    ["150", "180", "210", "240", "250", "240", "210", "180"]
                        .map(String::from)
                        .into_iter()
                        .collect(),
                ),
            ),
        ]);
        o.put(DataElement::new(
            tags::DETECTOR_INFORMATION_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(vec![InMemDicomObject::from_element_iter([
                DataElement::new(tags::START_ANGLE, VR::DS, PrimitiveValue::from("0")),
            ])]),
        ));
        o.put(DataElement::new(
            tags::ROTATION_INFORMATION_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(vec![rotation]),
        ));
    });
    let err = read_nm_projections(&bad).unwrap_err().to_string();
    assert!(err.contains("RadialPosition"), "{err}");
    edit(&good, &bad, |o| {
        let range = |lo: &str, hi: &str| {
            InMemDicomObject::from_element_iter([
                DataElement::new(
                    tags::ENERGY_WINDOW_LOWER_LIMIT,
                    VR::DS,
                    PrimitiveValue::from(lo),
                ),
                DataElement::new(
                    tags::ENERGY_WINDOW_UPPER_LIMIT,
                    VR::DS,
                    PrimitiveValue::from(hi),
                ),
            ])
        };
        let window = |name: &str| {
            InMemDicomObject::from_element_iter([
                DataElement::new(
                    tags::ENERGY_WINDOW_RANGE_SEQUENCE,
                    VR::SQ,
                    DataSetSequence::from(vec![range("100", "120"), range("180", "220")]),
                ),
                DataElement::new(tags::ENERGY_WINDOW_NAME, VR::SH, PrimitiveValue::from(name)),
            ])
        };
        o.put(DataElement::new(
            tags::ENERGY_WINDOW_INFORMATION_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(vec![window("a"), window("b")]),
        ));
    });
    let err = read_nm_projections(&bad).unwrap_err().to_string();
    assert!(err.contains("EnergyWindowRangeSequence"), "{err}");
    edit(&good, &bad, |o| {
        o.put(DataElement::new(
            tags::NUMBER_OF_FRAMES,
            VR::IS,
            PrimitiveValue::from("16384"),
        ));
        o.put(DataElement::new(
            tags::ROWS,
            VR::US,
            PrimitiveValue::from(1024u16),
        ));
        o.put(DataElement::new(
            tags::COLUMNS,
            VR::US,
            PrimitiveValue::from(1024u16),
        ));
    });
    let err = read_nm_projections(&bad).unwrap_err().to_string();
    assert!(err.contains("pixels"), "{err}");
}
