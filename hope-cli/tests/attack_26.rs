//! Issue 26, the outside attack round on the plaque source, the seed models and `hope series rt`:
//! each finding, now refused or handled, as a regression test.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::{failed_cleanly, hope, hope_within};

const PLAQUE: &str = r#"
histories = 2000
[phantom]
dims = [20, 20, 20]
spacing_mm = [2.0, 2.0, 2.0]
origin_mm = [-19.0, -19.0, -19.0]
material = "water"
[source]
kind = "seeds"
model = "6711"
radionuclide = "I-125"
[source.plaque]
name = "coms-16"
eye_centre_mm = [0.0, 0.0, 0.0]
direction = [0.0, 0.0, -1.0]
"#;

fn simulate(text: &str, secs: u32) -> (std::process::Output, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("s.toml"), text).unwrap();
    let o = hope_within(tmp.path(), secs, &["simulate", "s.toml", "--out", "o"]);
    (o, tmp)
}

/// Voxels of 1e308 mm overflowed the pictures (a panic after the run, the output half-written);
/// voxels of a metre made pictures of hundreds of millions of pixels.
#[test]
fn attack_26a_huge_voxels_are_refused_and_large_ones_drawn_small() {
    let (o, _t) = simulate(
        &PLAQUE.replace(
            "spacing_mm = [2.0, 2.0, 2.0]",
            "spacing_mm = [1e308, 2.0, 2.0]",
        ),
        60,
    );
    failed_cleanly(&o, "phantom.spacing_mm");
    let big = r#"
histories = 200
[phantom]
dims = [10, 10, 10]
spacing_mm = [5000.0, 5000.0, 5000.0]
material = "water"
[source]
kind = "point"
position_mm = [0.0, 0.0, 0.0]
energy_kev = 300
"#;
    let (o, t) = simulate(big, 120);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(t.path().join("o/summary.json").exists());
}

/// A plaque far from the phantom ran, scored nothing and said nothing.
#[test]
fn attack_26b_a_plaque_outside_the_phantom_is_refused() {
    let (o, _t) = simulate(
        &PLAQUE.replace(
            "eye_centre_mm = [0.0, 0.0, 0.0]",
            "eye_centre_mm = [0.0, 0.0, 500.0]",
        ),
        60,
    );
    failed_cleanly(&o, "source.plaque.eye_centre_mm");
    let (o, t) = simulate(PLAQUE, 120);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cax = std::fs::read_to_string(t.path().join("o/central_axis.csv")).unwrap();
    assert!(cax.lines().count() > 5, "{cax}");
}

/// A TheraSeed 200 (Pd-103) with I-125, a 6711 with Pd-103: physics that does not exist.
#[test]
fn attack_26c_a_radionuclide_the_seed_does_not_hold_is_refused() {
    let text = PLAQUE.replace("model = \"6711\"", "model = \"theraseed-200\"");
    let (o, _t) = simulate(&text, 60);
    failed_cleanly(&o, "source.radionuclide");
    let text = PLAQUE.replace("radionuclide = \"I-125\"", "radionuclide = \"Pd-103\"");
    let (o, _t) = simulate(&text, 60);
    failed_cleanly(&o, "source.radionuclide");
}

/// `--masks` onto a file said "File exists" and nothing more; `--ct` with an RT Plan was
/// ignored; control characters in names went raw to the terminal.
#[test]
fn attack_26d_series_rt_names_its_paths_and_prints_no_escapes() {
    use hope::core::{Grid, Vec3, Volume};
    use hope::dicom::rtstruct::{Contour, ContourGeometry, Roi, StructureSet, write_rt_struct};
    let tmp = tempfile::tempdir().unwrap();
    let grid = Grid::builder([20, 20, 6])
        .spacing([1.0, 1.0, 2.0])
        .origin([-9.5, -9.5, -5.0])
        .build()
        .unwrap();
    let ct = hope::dicom::write_ct_series(
        &Volume::from_fn(grid, |_| 0i16),
        &tmp.path().join("ct"),
        &hope::dicom::CtSeriesOptions::new(),
    )
    .unwrap();
    let set = StructureSet {
        label: "x".into(),
        frame_of_reference_uid: ct.frame_of_reference_uid.clone(),
        rois: vec![Roi {
            number: 1,
            name: "evil\u{1b}[31mred".into(),
            colour: None,
            interpreted_type: None,
            contours: vec![Contour {
                geometry: ContourGeometry::ClosedPlanar,
                points: vec![
                    Vec3::new(-3.0, -3.0, 1.0),
                    Vec3::new(3.0, -3.0, 1.0),
                    Vec3::new(3.0, 3.0, 1.0),
                ],
            }],
        }],
    };
    write_rt_struct(&set, &tmp.path().join("rs.dcm"), &ct.files[0]).unwrap();
    std::fs::write(tmp.path().join("afile"), b"x").unwrap();
    let o = hope(
        tmp.path(),
        &["series", "rt", "rs.dcm", "--ct", "ct", "--masks", "afile"],
    );
    failed_cleanly(&o, "--masks afile");
    let o = hope(tmp.path(), &["series", "rt", "rs.dcm", "--ct", "ct"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        !out.contains('\u{1b}') && out.contains("evil?[31mred"),
        "{out}"
    );
}
