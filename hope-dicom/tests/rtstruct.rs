//! RT Structure Sets: write, read back, masks with partial-volume fractions against known
//! volumes, and malformed files refused with the file and the attribute.
#![allow(clippy::unwrap_used, missing_docs, clippy::print_stdout)]

use std::path::Path;

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;
use dicom_object::OpenFileOptions;
use hope_core::{Grid, Vec3, Volume};
use hope_dicom::rtstruct::{
    Contour, ContourGeometry, Roi, StructureSet, read_rt_struct, write_rt_struct,
};
use hope_dicom::{CtSeriesOptions, Error, write_ct_series};

/// A CT series (for its frame of reference) and its first file.
fn ct(dir: &Path) -> (std::path::PathBuf, String) {
    let grid = Grid::builder([60, 60, 30])
        .spacing([1.0, 1.0, 2.0])
        .origin([-29.5, -29.5, -29.0])
        .build()
        .unwrap();
    let w = write_ct_series(
        &Volume::new(grid.clone(), vec![0i16; grid.voxel_count()]).unwrap(),
        &dir.join("ct"),
        &CtSeriesOptions::new(),
    )
    .unwrap();
    let frame = hope_dicom::read_header(&w.files[0])
        .unwrap()
        .element(tags::FRAME_OF_REFERENCE_UID)
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches('\0')
        .to_string();
    (w.files[0].clone(), frame)
}

/// A circle of radius `r` at height `z`, `n` points.
fn circle(r: f64, z: f64, n: usize, centre: [f64; 2]) -> Contour {
    Contour {
        geometry: ContourGeometry::ClosedPlanar,
        points: (0..n)
            .map(|k| {
                let a = 2.0 * std::f64::consts::PI * k as f64 / n as f64;
                Vec3::new(centre[0] + r * a.cos(), centre[1] + r * a.sin(), z)
            })
            .collect(),
    }
}

fn square(half: [f64; 2], z: f64) -> Contour {
    Contour {
        geometry: ContourGeometry::ClosedPlanar,
        points: vec![
            Vec3::new(-half[0], -half[1], z),
            Vec3::new(half[0], -half[1], z),
            Vec3::new(half[0], half[1], z),
            Vec3::new(-half[0], half[1], z),
        ],
    }
}

/// A sphere of radius 15 mm contoured on the CT's slices (every 2 mm), a 30 x 20 mm box with a
/// 10 x 10 mm hole over 10 slices, and a point.
fn structures(frame: &str) -> StructureSet {
    let r = 15.0;
    let sphere: Vec<Contour> = (-7..=7)
        .map(|k| 2.0 * f64::from(k) + 1.0)
        .filter(|z: &f64| z.abs() < r)
        .map(|z| circle((r * r - z * z).sqrt(), z, 256, [0.0, 0.0]))
        .collect();
    let mut boxed = Vec::new();
    for k in 0..10 {
        let z = -19.0 + 2.0 * f64::from(k);
        boxed.push(square([15.0, 10.0], z));
        boxed.push(square([5.0, 5.0], z));
    }
    StructureSet {
        label: "test".into(),
        frame_of_reference_uid: frame.into(),
        rois: vec![
            Roi {
                number: 1,
                name: "tumour".into(),
                colour: Some([255, 0, 0]),
                interpreted_type: Some("GTV".into()),
                contours: sphere,
            },
            Roi {
                number: 7,
                name: "box with a hole".into(),
                colour: Some([0, 128, 255]),
                interpreted_type: Some("ORGAN".into()),
                contours: boxed,
            },
            Roi {
                number: 9,
                name: "marker".into(),
                colour: Some([1, 2, 3]),
                interpreted_type: Some("MARKER".into()),
                contours: vec![Contour {
                    geometry: ContourGeometry::Point,
                    points: vec![Vec3::new(1.5, -2.25, 3.0)],
                }],
            },
        ],
    }
}

fn volume_mm3(mask: &Volume<f32>) -> f64 {
    let s = mask.grid().spacing();
    mask.data().iter().map(|&f| f64::from(f)).sum::<f64>() * s.x * s.y * s.z
}

#[test]
fn a_structure_set_round_trips_and_its_masks_have_the_contoured_volumes() {
    let dir = tempfile::tempdir().unwrap();
    let (ct_file, frame) = ct(dir.path());
    let set = structures(&frame);
    let path = dir.path().join("rs.dcm");
    write_rt_struct(&set, &path, &ct_file).unwrap();
    let back = read_rt_struct(&path).unwrap();
    assert_eq!(back.frame_of_reference_uid, frame);
    assert_eq!(back.rois.len(), 3);
    for (a, b) in set.rois.iter().zip(&back.rois) {
        assert_eq!(
            (a.number, &a.name, a.colour, &a.interpreted_type),
            (b.number, &b.name, b.colour, &b.interpreted_type)
        );
        assert_eq!(a.contours.len(), b.contours.len());
        for (c, d) in a.contours.iter().zip(&b.contours) {
            assert_eq!(c.geometry, d.geometry);
            for (p, q) in c.points.iter().zip(&d.points) {
                assert!((*p - *q).norm() < 1e-9, "{p} vs {q}");
            }
        }
    }
    // Masks on a grid of its own (1 mm, offset from the CT's), 4 x 4 x 4 points per voxel.
    let grid = Grid::builder([50, 50, 50])
        .spacing([1.0, 1.0, 1.0])
        .origin([-24.3, -24.6, -24.5])
        .build()
        .unwrap();
    for (a, b) in set.rois.iter().zip(&back.rois).take(2) {
        assert_eq!(
            a.mask(&grid, 4).unwrap().data(),
            b.mask(&grid, 4).unwrap().data()
        );
    }
    // The sphere as contoured: 15 slabs 2 mm thick, each a disc of its contour's radius (a
    // 256-gon: area (n/2) r^2 sin(2 pi / n)); the sphere itself is 4/3 pi r^3 = 14,137 mm^3.
    let n = 256.0;
    let stacked: f64 = (-7..=7)
        .map(|k| 2.0 * f64::from(k) + 1.0)
        .map(|z: f64| (225.0 - z * z) * n / 2.0 * (2.0 * std::f64::consts::PI / n).sin() * 2.0)
        .sum();
    let got = volume_mm3(&back.rois[0].mask(&grid, 4).unwrap());
    println!(
        "sphere: mask {got:.0} mm3, contour slabs {stacked:.0} mm3, sphere {:.0} mm3",
        4.0 / 3.0 * std::f64::consts::PI * 15f64.powi(3)
    );
    assert!((got / stacked - 1.0).abs() < 0.01, "{got} vs {stacked}");
    // The box with its hole: (600 - 100) mm^2 over 10 slabs of 2 mm.
    let got = volume_mm3(&back.rois[1].mask(&grid, 4).unwrap());
    assert!((got / 10_000.0 - 1.0).abs() < 0.01, "{got}");
    // The hole is empty, the wall full.
    let m = back.rois[1].mask(&grid, 4).unwrap();
    let at = |p: Vec3| {
        let i = grid.point_to_index(p).map(|x| x.round() as usize);
        *m.get(i).unwrap()
    };
    assert_eq!(at(Vec3::new(0.3, 0.4, -10.5)), 0.0);
    assert_eq!(at(Vec3::new(10.3, 0.4, -10.5)), 1.0);
    // A point ROI has no mask.
    assert!(back.rois[2].mask(&grid, 4).is_err());
}

/// Rewrites one attribute inside the first contour of the first ROI.
fn edit_first_contour(path: &Path, elem: DataElement<dicom_object::InMemDicomObject>) {
    let mut obj = OpenFileOptions::new().open_file(path).unwrap();
    let mut rois = obj
        .element(tags::ROI_CONTOUR_SEQUENCE)
        .unwrap()
        .items()
        .unwrap()
        .to_vec();
    let mut contours = rois[0]
        .element(tags::CONTOUR_SEQUENCE)
        .unwrap()
        .items()
        .unwrap()
        .to_vec();
    contours[0].put(elem);
    rois[0].put(DataElement::new(
        tags::CONTOUR_SEQUENCE,
        VR::SQ,
        dicom_core::value::DataSetSequence::from(contours),
    ));
    obj.put(DataElement::new(
        tags::ROI_CONTOUR_SEQUENCE,
        VR::SQ,
        dicom_core::value::DataSetSequence::from(rois),
    ));
    obj.write_to_file(path).unwrap();
}

#[test]
fn malformed_structure_sets_name_the_file_and_the_attribute() {
    let dir = tempfile::tempdir().unwrap();
    let (ct_file, frame) = ct(dir.path());
    let path = dir.path().join("rs.dcm");
    let cases: Vec<(DataElement<dicom_object::InMemDicomObject>, &str)> = vec![
        (
            DataElement::new(
                tags::NUMBER_OF_CONTOUR_POINTS,
                VR::IS,
                PrimitiveValue::from("300"),
            ),
            "ContourData",
        ),
        (
            DataElement::new(
                tags::CONTOUR_GEOMETRIC_TYPE,
                VR::CS,
                PrimitiveValue::from("CLOSED_CURVY"),
            ),
            "ContourGeometricType",
        ),
        (
            DataElement::new(
                tags::CONTOUR_DATA,
                VR::DS,
                PrimitiveValue::Strs(["1", "2", "NaN"].map(String::from).into_iter().collect()),
            ),
            "ContourData",
        ),
    ];
    for (elem, attribute) in cases {
        write_rt_struct(&structures(&frame), &path, &ct_file).unwrap();
        edit_first_contour(&path, elem);
        match read_rt_struct(&path) {
            Err(Error::Attribute {
                path: p,
                attribute: a,
                ..
            }) => {
                assert_eq!((p.as_path(), a), (path.as_path(), attribute));
            }
            other => panic!("{attribute}: {:?}", other.map(|s| s.rois.len())),
        }
    }
    // Not a structure set at all.
    match read_rt_struct(&ct_file) {
        Err(Error::Attribute { attribute, .. }) => assert_eq!(attribute, "Modality"),
        other => panic!("{:?}", other.map(|s| s.rois.len())),
    }
    // A structure set in another frame than the CT's is not written.
    let mut other = structures(&frame);
    other.frame_of_reference_uid = "1.2.3".into();
    assert!(write_rt_struct(&other, &dir.path().join("x.dcm"), &ct_file).is_err());
    assert!(!dir.path().join("x.dcm").exists());
}

/// Masks drawn on a grid go to contours and back: a sphere and a shell (a region with a hole)
/// keep their volumes within partial-volume error, and the contours lie in the slices' planes.
#[test]
fn masks_become_contours_and_come_back() {
    use hope_dicom::rtstruct::contours_from_mask;
    let grid = Grid::builder([40, 40, 30])
        .spacing([0.5, 0.5, 1.0])
        .origin([-10.0, -10.0, -15.0])
        .build()
        .unwrap();
    for (name, inner, outer) in [("sphere", 0.0, 7.0), ("shell", 5.0, 8.0)] {
        let mask = Volume::from_fn(grid.clone(), |i| {
            let r = grid.voxel_center(i).norm();
            if r >= inner && r <= outer {
                1.0f32
            } else {
                0.0
            }
        });
        let contours = contours_from_mask(&mask);
        assert!(!contours.is_empty(), "{name}");
        for c in &contours {
            let z = c.points[0].z;
            assert!(c.points.iter().all(|p| (p.z - z).abs() < 1e-9), "{name}");
        }
        let roi = Roi {
            number: 1,
            name: name.into(),
            colour: None,
            interpreted_type: None,
            contours,
        };
        let back = roi.mask(&grid, 4).unwrap();
        let (a, b): (f64, f64) = (
            mask.data().iter().map(|v| f64::from(*v)).sum(),
            back.data().iter().map(|v| f64::from(*v)).sum(),
        );
        assert!((a / b - 1.0).abs() < 0.03, "{name}: {a} voxels, {b} back");
        // Voxel by voxel: inside voxels are mostly inside, outside ones mostly outside.
        let wrong = mask
            .data()
            .iter()
            .zip(back.data())
            .filter(|(m, f)| (**m - **f).abs() > 0.5)
            .count();
        assert!(wrong as f64 <= 0.02 * a, "{name}: {wrong} voxels differ");
    }
}

/// Attack round on issue 26: a lone contour stood for a 1 mm slab whatever the grid (its volume
/// jumped with sub-millimetre shifts); a stray far contour filled the whole gap to it; two ROIs
/// numbered alike merged. Now a lone contour stands for one voxel of the grid along its normal,
/// a gap much wider than the others stays empty, and duplicate ROI numbers are refused.
#[test]
fn attack_26_lone_and_stray_contours_and_duplicate_numbers() {
    let grid = Grid::builder([20, 20, 20])
        .spacing([1.0, 1.0, 2.0])
        .origin([-9.5, -9.5, -19.0])
        .build()
        .unwrap();
    let square = |z: f64, half: f64| Contour {
        geometry: ContourGeometry::ClosedPlanar,
        points: vec![
            Vec3::new(-half, -half, z),
            Vec3::new(half, -half, z),
            Vec3::new(half, half, z),
            Vec3::new(-half, half, z),
        ],
    };
    let roi = |contours: Vec<Contour>| Roi {
        number: 1,
        name: "r".into(),
        colour: None,
        interpreted_type: None,
        contours,
    };
    let volume = |r: &Roi| -> f64 {
        r.mask(&grid, 4)
            .unwrap()
            .data()
            .iter()
            .map(|f| f64::from(*f))
            .sum::<f64>()
            * 2.0
    };
    // A 10 x 10 mm square alone: one 2 mm slice, 200 mm3, wherever it lies in z.
    for z in [0.0, 0.3, 0.6, 1.0] {
        let v = volume(&roi(vec![square(z, 5.0)]));
        assert!((v - 200.0).abs() < 1.0, "z = {z}: {v} mm3");
    }
    // Contours every 2 mm from -4 to 4, and a stray one 20 mm away: the gap is not filled.
    let mut cs: Vec<Contour> = [-4.0, -2.0, 0.0, 2.0, 4.0]
        .iter()
        .map(|z| square(*z, 5.0))
        .collect();
    let regular = volume(&roi(cs.clone()));
    assert!((regular - 1000.0).abs() < 5.0, "{regular}");
    cs.push(square(16.0, 5.0));
    let with_stray = volume(&roi(cs));
    // Each side of the 12 mm gap reaches 1.5 x half the usual spacing (1.5 mm), the stray plane
    // 1 mm beyond: 1000 + 50 + 250 mm3, not the 1000 + 1200 + 100 of a filled gap.
    assert!((with_stray - 1300.0).abs() < 5.0, "{with_stray}");
}

#[test]
fn attack_26_duplicate_roi_numbers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ct = ct(dir.path());
    let contour = Contour {
        geometry: ContourGeometry::ClosedPlanar,
        points: vec![
            Vec3::new(-5.0, -5.0, 0.0),
            Vec3::new(5.0, -5.0, 0.0),
            Vec3::new(5.0, 5.0, 0.0),
        ],
    };
    let roi = |name: &str| Roi {
        number: 1,
        name: name.into(),
        colour: None,
        interpreted_type: None,
        contours: vec![contour.clone()],
    };
    let set = StructureSet {
        label: "dup".into(),
        frame_of_reference_uid: ct.1.clone(),
        rois: vec![roi("a"), roi("b")],
    };
    let path = dir.path().join("rs.dcm");
    write_rt_struct(&set, &path, &ct.0).unwrap();
    let e = read_rt_struct(&path).unwrap_err().to_string();
    assert!(e.contains("ROINumber") && e.contains("two ROIs"), "{e}");
}
