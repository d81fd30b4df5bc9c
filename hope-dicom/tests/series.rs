//! CT series round trips and every geometry problem the loader must name.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;
use dicom_object::OpenFileOptions;
use hope_core::{Grid, Vec3, Volume};
use hope_dicom::series::WrittenSeries;
use hope_dicom::{CtSeriesOptions, Error, load_ct_volume, scan_dir, write_ct_series};

fn phantom(grid: Grid) -> Volume<i16> {
    Volume::from_fn(grid, |[i, j, k]| {
        ((i * 37 + j * 101 + k * 7919) % 4000) as i16 - 1024
    })
}

fn axial() -> Grid {
    Grid::builder([12, 10, 6])
        .spacing([0.75, 0.75, 2.5])
        .origin([-120.0, -90.5, 30.0])
        .build()
        .unwrap()
}

fn write(vol: &Volume<i16>, dir: &Path) -> WrittenSeries {
    write_ct_series(vol, dir, &CtSeriesOptions::new()).unwrap()
}

/// Rewrites one attribute of a written file.
fn edit(path: &Path, elem: DataElement<dicom_object::InMemDicomObject>) {
    let mut obj = OpenFileOptions::new().open_file(path).unwrap();
    obj.put(elem);
    obj.write_to_file(path).unwrap();
}

fn position(p: Vec3) -> DataElement<dicom_object::InMemDicomObject> {
    DataElement::new(
        tags::IMAGE_POSITION_PATIENT,
        VR::DS,
        PrimitiveValue::Strs([p.x, p.y, p.z].iter().map(|v| format!("{v}")).collect()),
    )
}

fn series_error(files: &[PathBuf]) -> String {
    match load_ct_volume(files) {
        Err(Error::Series { problem, .. }) => problem,
        other => panic!(
            "expected a series error, got {:?}",
            other.map(|v| v.grid().dims())
        ),
    }
}

#[test]
fn axial_round_trip_is_lossless() {
    let dir = tempfile::tempdir().unwrap();
    let ct = phantom(axial());
    let w = write(&ct, dir.path());
    assert_eq!(w.files.len(), 6);
    let back = load_ct_volume(&w.files).unwrap();
    assert_eq!(back.data(), ct.data());
    assert_eq!(back.grid(), ct.grid(), "axial geometry survives exactly");
}

#[test]
fn oblique_round_trip_keeps_geometry_within_ds_precision() {
    let dir = tempfile::tempdir().unwrap();
    let (c, s) = (30f64.to_radians().cos(), 30f64.to_radians().sin());
    let d0 = Vec3::new(c, s, 0.0);
    let d1 = Vec3::new(-s * 0.6, c * 0.6, 0.8);
    let grid = Grid::builder([9, 7, 5])
        .spacing([0.9, 1.1, 3.0])
        .origin([10.25, -40.0, 5.5])
        .direction([d0, d1, d0.cross(d1)])
        .build()
        .unwrap();
    let ct = phantom(grid);
    let w = write(&ct, dir.path());
    let back = load_ct_volume(&w.files).unwrap();
    assert_eq!(back.data(), ct.data());
    assert!(
        back.grid().same_geometry(ct.grid(), 1e-9),
        "{:?} vs {:?}",
        back.grid(),
        ct.grid()
    );
}

#[test]
fn file_order_and_instance_numbers_do_not_matter() {
    let dir = tempfile::tempdir().unwrap();
    let ct = phantom(axial());
    let w = write(&ct, dir.path());
    // Scramble names and instance numbers: only positions order slices.
    let mut shuffled = Vec::new();
    for (n, f) in w.files.iter().enumerate() {
        edit(
            f,
            DataElement::new(
                tags::INSTANCE_NUMBER,
                VR::IS,
                PrimitiveValue::from(((n * 5) % 7).to_string()),
            ),
        );
        let to = dir.path().join(format!("x{}.dcm", (n * 5 + 3) % 6));
        std::fs::rename(f, &to).unwrap();
        shuffled.push(to);
    }
    shuffled.reverse();
    assert_eq!(load_ct_volume(&shuffled).unwrap().data(), ct.data());
}

#[test]
fn a_directory_with_two_series_and_a_stray_file_is_sorted_out() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(&phantom(axial()), &dir.path().join("a"));
    let small = Grid::builder([4, 4, 3])
        .spacing([1.0, 1.0, 1.0])
        .build()
        .unwrap();
    let b = write(&phantom(small), &dir.path().join("b"));
    std::fs::write(dir.path().join("README.txt"), "not DICOM").unwrap();
    let report = scan_dir(dir.path()).unwrap();
    assert_eq!(report.series.len(), 2);
    let uids: Vec<&str> = report
        .series
        .iter()
        .map(|s| s.series_uid.as_str())
        .collect();
    assert!(uids.contains(&a.series_uid.as_str()) && uids.contains(&b.series_uid.as_str()));
    assert_eq!(report.notes.len(), 1);
    assert!(report.notes[0].0.ends_with("README.txt"));
    // Mixing them in one load is refused, naming the series.
    let mut mixed = a.files.clone();
    mixed.push(b.files[0].clone());
    let err = load_ct_volume(&mixed).unwrap_err().to_string();
    assert!(
        err.contains(&a.series_uid) && err.contains("one series at a time"),
        "{err}"
    );
}

#[test]
fn localizers_and_secondary_captures_are_set_aside_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let w = write(&phantom(axial()), dir.path());
    edit(
        &w.files[0],
        DataElement::new(
            tags::IMAGE_TYPE,
            VR::CS,
            PrimitiveValue::Strs(
                ["ORIGINAL", "PRIMARY", "LOCALIZER"]
                    .map(String::from)
                    .into_iter()
                    .collect(),
            ),
        ),
    );
    edit(
        &w.files[1],
        DataElement::new(
            tags::SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from("1.2.840.10008.5.1.4.1.1.7"),
        ),
    );
    let report = scan_dir(dir.path()).unwrap();
    assert_eq!(report.series[0].files.len(), 4);
    let notes: Vec<&str> = report.notes.iter().map(|(_, n)| n.as_str()).collect();
    assert!(
        notes.iter().any(|n| n.contains("localizer"))
            && notes.iter().any(|n| n.contains("secondary capture")),
        "{notes:?}"
    );
}

#[test]
fn missing_slices_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let w = write(&phantom(axial()), dir.path());
    let mut files = w.files.clone();
    files.remove(3);
    let p = series_error(&files);
    assert!(
        p.contains("1 missing slice") && p.contains("35.000") && p.contains("40.000"),
        "{p}"
    );
}

#[test]
fn duplicate_positions_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let w = write(&phantom(axial()), dir.path());
    edit(&w.files[4], position(Vec3::new(-120.0, -90.5, 37.5)));
    let p = series_error(&w.files);
    assert!(p.contains("duplicate slice position 37.500"), "{p}");
}

#[test]
fn irregular_spacing_is_named_with_the_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let w = write(&phantom(axial()), dir.path());
    edit(&w.files[2], position(Vec3::new(-120.0, -90.5, 36.0)));
    let p = series_error(&w.files);
    assert!(
        p.contains("irregular slice spacing") && p.contains("3.5000 mm") && p.contains("2.5000 mm"),
        "{p}"
    );
}

#[test]
fn gantry_tilt_is_refused_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let w = write(&phantom(axial()), dir.path());
    // A 10 degree tilt: each slice origin moves along y by gap * tan(10°).
    for (k, f) in w.files.iter().enumerate() {
        let z = 30.0 + 2.5 * k as f64;
        edit(
            f,
            position(Vec3::new(
                -120.0,
                -90.5 + 2.5 * k as f64 * 10f64.to_radians().tan(),
                z,
            )),
        );
    }
    let refuse = hope_dicom::LoadOptions::new().tilt(hope_dicom::Tilt::Refuse);
    match hope_dicom::load_ct_volume_with(&w.files, &refuse) {
        Err(Error::Series { problem: p, .. }) => {
            assert!(p.contains("sheared") && p.contains("0.441"), "{p}");
        }
        other => panic!("expected a series error, got {:?}", other.map(|l| l.tilt)),
    }
    // By default the same series is resampled, and the correction recorded.
    let loaded =
        hope_dicom::load_ct_volume_with(&w.files, &hope_dicom::LoadOptions::new()).unwrap();
    let t = loaded.tilt.unwrap();
    assert!((t.angle_deg - 10.0).abs() < 1e-6, "{t:?}");
}

/// A gantry-tilted series as scanners write it: the image plane tilted by `tilt_deg` about the
/// patient x axis (rows along x, columns along (0, cos t, sin t)), the table moving `step` mm along
/// patient z between slices, every pixel the value of `f` at its patient point (rounded), and
/// Gantry/Detector Tilt in the files (-`tilt_deg`: the sign dcm2niix derives from this geometry;
/// with the other sign it corrects the wrong way). Returns the files and the orthogonal grid a correct
/// resampling gives (the first slice's plane and origin, the slice normal, spacing step cos t).
fn tilted_series(
    dir: &Path,
    tilt_deg: f64,
    step: f64,
    f: &dyn Fn(Vec3) -> f64,
) -> (Vec<PathBuf>, Grid) {
    let (c, s) = (tilt_deg.to_radians().cos(), tilt_deg.to_radians().sin());
    let (row, col) = (Vec3::new(1.0, 0.0, 0.0), Vec3::new(0.0, c, s));
    let origin = Vec3::new(-40.0, -35.0, -20.0);
    let (px, nz) = (1.25, 24);
    let grid = Grid::builder([64, 56, nz])
        .spacing([px, px, step * c])
        .origin(origin)
        .direction([row, col, row.cross(col)])
        .build()
        .unwrap();
    let [nx, ny, _] = grid.dims();
    let sheared_point = |i: usize, j: usize, k: usize| {
        origin
            + Vec3::new(0.0, 0.0, step * k as f64)
            + row * (px * i as f64)
            + col * (px * j as f64)
    };
    let ct = Volume::from_fn(grid.clone(), |[i, j, k]| {
        f(sheared_point(i, j, k)).round() as i16
    });
    let w = write(&ct, dir);
    for (k, file) in w.files.iter().enumerate() {
        edit(file, position(sheared_point(0, 0, k)));
        edit(
            file,
            DataElement::new(
                tags::GANTRY_DETECTOR_TILT,
                VR::DS,
                PrimitiveValue::from(format!("{}", -tilt_deg)),
            ),
        );
    }
    assert_eq!((nx, ny), (64, 56));
    (w.files, grid)
}

#[test]
fn a_tilted_series_is_resampled_onto_an_orthogonal_grid() {
    let dir = tempfile::tempdir().unwrap();
    // A linear function: bilinear interpolation is exact for it, so every covered voxel
    // holds the function's value at its own point within the rounding of the stored values.
    let linear = |p: Vec3| 100.0 + 2.0 * p.x - 3.0 * p.y + 5.0 * p.z;
    for tilt in [15.0, -15.0] {
        let sub = dir.path().join(format!("tilt{tilt}"));
        std::fs::create_dir(&sub).unwrap();
        check_tilted(&sub, tilt, &linear);
    }
}

/// Resamples the series of [`tilted_series`] and checks every voxel against `linear`.
fn check_tilted(dir: &Path, tilt: f64, linear: &dyn Fn(Vec3) -> f64) {
    let (files, want) = tilted_series(dir, tilt, 2.5, linear);
    let loaded = hope_dicom::load_ct_volume_with(&files, &hope_dicom::LoadOptions::new()).unwrap();
    let t = loaded.tilt.clone().unwrap();
    assert!((t.angle_deg - tilt.abs()).abs() < 1e-3, "{t:?}");
    assert_eq!(t.gantry_tilt_attribute_deg, Some(-tilt));
    // 23 slices of 2.5 sin 15 = 0.647 mm each.
    let per_slice = 2.5 * tilt.to_radians().sin();
    assert!((t.max_offset_mm - 23.0 * per_slice.abs()).abs() < 1e-3);
    let v = &loaded.volume;
    // The grid covers every slice: 12 rows more than a slice (23 x 0.647 mm = 11.9 pixels),
    // added after the first slice's rows for one tilt and before them for the other.
    let extra = (23.0 * per_slice.abs() / 1.25).ceil();
    let shift_y = if per_slice < 0.0 { -extra } else { 0.0 };
    let [ex, ey, ez] = want.dims();
    let col = want.direction()[1];
    let want = hope_core::Grid::builder([ex, ey + extra as usize, ez])
        .spacing(want.spacing())
        .origin(want.origin() + col * (shift_y * 1.25))
        .direction(want.direction())
        .build()
        .unwrap();
    assert!(v.grid().same_geometry(&want, 1e-6), "{:?}", v.grid());
    let (mut covered, mut air) = (0, 0);
    for (o, &x) in v.data().iter().enumerate() {
        let [i, j, k] = v.grid().index_of(o).unwrap();
        // Slice k lies k * 0.647 mm further along its columns than the first (or back, for
        // the other tilt): the grid's rows beyond it at that depth are air.
        let shift_px = k as f64 * per_slice / 1.25;
        let y = j as f64 + shift_y - shift_px;
        if !(-1e-9..=55.0 + 1e-9).contains(&y) {
            assert_eq!(x, -1024, "({i}, {j}, {k}) should be air");
            air += 1;
            continue;
        }
        let p = v.grid().index_to_point([i as f64, j as f64, k as f64]);
        let expect = linear(p);
        assert!(
            (f64::from(x) - expect).abs() <= 1.0,
            "({i}, {j}, {k}): {x} vs {expect:.2}"
        );
        covered += 1;
    }
    assert!(covered > 60_000 && air > 1000, "{covered} {air}");
}

/// A NIfTI-1 file (uncompressed, as `dcm2niix -z n` writes it) as its dimensions, its
/// voxel-to-RAS affine (sform) and its values as f64.
fn read_nifti(path: &Path) -> ([usize; 3], [[f64; 4]; 3], Vec<f64>) {
    let b = std::fs::read(path).unwrap();
    let i16_at = |o: usize| i16::from_le_bytes([b[o], b[o + 1]]);
    let f32_at = |o: usize| f32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    assert_eq!(i32::from_le_bytes(b[0..4].try_into().unwrap()), 348);
    let dims = [1, 2, 3].map(|a| i16_at(40 + 2 * a) as usize);
    let datatype = i16_at(70);
    let vox_offset = f32_at(108) as usize;
    let (slope, inter) = (f64::from(f32_at(112)), f64::from(f32_at(116)));
    let (slope, inter) = if slope == 0.0 {
        (1.0, 0.0)
    } else {
        (slope, inter)
    };
    let affine = [280, 296, 312].map(|o| [0, 1, 2, 3].map(|c| f64::from(f32_at(o + 4 * c))));
    let n = dims[0] * dims[1] * dims[2];
    let values = (0..n)
        .map(|v| {
            let raw = match datatype {
                4 => f64::from(i16_at(vox_offset + 2 * v)),
                512 => f64::from(u16::from_le_bytes([
                    b[vox_offset + 2 * v],
                    b[vox_offset + 2 * v + 1],
                ])),
                16 => f64::from(f32_at(vox_offset + 4 * v)),
                other => panic!("NIfTI datatype {other}"),
            };
            raw * slope + inter
        })
        .collect();
    (dims, affine, values)
}

#[test]
fn a_tilted_series_resampled_agrees_with_dcm2niix() {
    // dcm2niix (Debian's package; CI installs it) corrects gantry tilt too: its corrected
    // volume, read through its own affine, against ours at the same patient points.
    if std::process::Command::new("dcm2niix")
        .arg("-v")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "dcm2niix is required under CI=true"
        );
        eprintln!("dcm2niix is not installed: skipping the comparison");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let series = dir.path().join("series");
    std::fs::create_dir(&series).unwrap();
    // A linear function, positive everywhere: linear interpolation (ours, dcm2niix's, and the
    // trilinear sampling of dcm2niix's volume at our points) is exact for it, so the two agree
    // within the rounding of the stored and written values wherever both cover a point.
    let f = |p: Vec3| 1000.0 + 2.0 * p.x - 3.0 * p.y + 5.0 * p.z;
    // Columns along (0, cos 12, -sin 12). (dcm2niix 1.0.20220720 and 1.0.20260724 correct the
    // other direction, (0, cos t, sin t), the wrong way: differences up to 600 HU on this
    // function, where ours stays within 1 HU of it; see the test above.)
    let (files, _) = tilted_series(&series, -12.0, 3.0, &f);
    let ours = hope_dicom::load_ct_volume(&files).unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let o = std::process::Command::new("dcm2niix")
        .args(["-z", "n", "-b", "n", "-f", "ct", "-o"])
        .arg(&out)
        .arg(&series)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    // dcm2niix writes the tilt-corrected volume with a _Tilt_ suffix.
    let corrected = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("Tilt") && p.extension().is_some_and(|e| e == "nii"))
        .unwrap_or_else(|| {
            panic!(
                "no tilt-corrected file: {}",
                String::from_utf8_lossy(&o.stdout)
            )
        });
    let (dims, a, values) = read_nifti(&corrected);
    // Our voxels' patient (LPS) points as RAS, into dcm2niix's voxel indices.
    let inv = {
        let m = [
            [a[0][0], a[0][1], a[0][2]],
            [a[1][0], a[1][1], a[1][2]],
            [a[2][0], a[2][1], a[2][2]],
        ];
        let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
        let c = |r: usize, s: usize| {
            let (r1, r2, s1, s2) = ((r + 1) % 3, (r + 2) % 3, (s + 1) % 3, (s + 2) % 3);
            m[s1][r1] * m[s2][r2] - m[s1][r2] * m[s2][r1]
        };
        [0, 1, 2].map(|r| [0, 1, 2].map(|s| c(r, s) / det))
    };
    let (mut compared, mut worst) = (0usize, 0.0f64);
    for (o, &x) in ours.data().iter().enumerate() {
        if x == -1024 {
            continue;
        }
        let [i, j, k] = ours.grid().index_of(o).unwrap();
        let p = ours.grid().index_to_point([i as f64, j as f64, k as f64]);
        let ras = [-p.x - a[0][3], -p.y - a[1][3], p.z - a[2][3]];
        let idx = [0, 1, 2].map(|r| (0..3).map(|s| inv[r][s] * ras[s]).sum::<f64>());
        if (0..3).any(|a| idx[a] < 0.0 || idx[a] > (dims[a] - 1) as f64 - 1e-9) {
            continue;
        }
        // Trilinear in dcm2niix's volume; points next to its uncovered (filled) voxels left out.
        let base = idx.map(|x| x.floor() as usize);
        let frac = [0, 1, 2].map(|a| idx[a] - base[a] as f64);
        let (mut theirs, mut filled) = (0.0, false);
        for corner in 0..8 {
            let c = [0, 1, 2].map(|a| (base[a] + (corner >> a & 1)).min(dims[a] - 1));
            let w: f64 = (0..3)
                .map(|a| {
                    if corner >> a & 1 == 1 {
                        frac[a]
                    } else {
                        1.0 - frac[a]
                    }
                })
                .product();
            let value = values[c[0] + dims[0] * (c[1] + dims[1] * c[2])];
            filled |= value < 500.0 && w > 0.0;
            theirs += w * value;
        }
        if filled {
            continue;
        }
        compared += 1;
        worst = worst.max((f64::from(x) - theirs).abs());
    }
    println!("dcm2niix: {compared} voxels compared, largest difference {worst:.2} HU");
    assert!(compared > 30_000, "{compared} voxels compared");
    // Rounding: ours once after interpolation, the files' values once, dcm2niix's once.
    assert!(worst <= 2.0, "largest difference {worst} HU");
}

#[test]
fn orientation_and_size_changes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let w = write(&phantom(axial()), dir.path());
    edit(
        &w.files[1],
        DataElement::new(
            tags::IMAGE_ORIENTATION_PATIENT,
            VR::DS,
            PrimitiveValue::Strs(
                ["0", "1", "0", "1", "0", "0"]
                    .map(String::from)
                    .into_iter()
                    .collect(),
            ),
        ),
    );
    assert!(series_error(&w.files).contains("orientation changes"));
    let dir = tempfile::tempdir().unwrap();
    let w = write(&phantom(axial()), dir.path());
    edit(
        &w.files[1],
        DataElement::new(
            tags::PIXEL_SPACING,
            VR::DS,
            PrimitiveValue::Strs(["0.8", "0.75"].map(String::from).into_iter().collect()),
        ),
    );
    assert!(series_error(&w.files).contains("pixel spacing changes"));
}

#[test]
fn malformed_attributes_name_file_and_attribute() {
    let dir = tempfile::tempdir().unwrap();
    let w = write(&phantom(axial()), dir.path());
    edit(
        &w.files[0],
        DataElement::new(
            tags::IMAGE_POSITION_PATIENT,
            VR::DS,
            PrimitiveValue::Strs(["1", "2"].map(String::from).into_iter().collect()),
        ),
    );
    match load_ct_volume(&w.files) {
        Err(Error::Attribute {
            path,
            attribute: "ImagePositionPatient",
            message,
        }) => {
            assert_eq!(path, w.files[0]);
            assert!(message.contains("2 values"), "{message}");
        }
        other => panic!(
            "expected an attribute error, got {:?}",
            other.map(|v| v.grid().dims())
        ),
    }
    std::fs::write(&w.files[1], b"DICM? no").unwrap();
    assert!(matches!(
        load_ct_volume(&w.files[1..]),
        Err(Error::Unreadable { .. })
    ));
}

#[test]
fn rescale_slope_and_intercept_are_applied() {
    let dir = tempfile::tempdir().unwrap();
    let ct = phantom(Grid::new([4, 4, 2], [1.0; 3]).unwrap());
    let w = write(&ct, dir.path());
    for f in &w.files {
        edit(
            f,
            DataElement::new(tags::RESCALE_SLOPE, VR::DS, PrimitiveValue::from("2")),
        );
        edit(
            f,
            DataElement::new(tags::RESCALE_INTERCEPT, VR::DS, PrimitiveValue::from("-10")),
        );
    }
    let back = load_ct_volume(&w.files).unwrap();
    assert!(
        back.data()
            .iter()
            .zip(ct.data())
            .all(|(b, a)| i32::from(*b) == (i32::from(*a) * 2 - 10).clamp(-32768, 32767))
    );
}

#[test]
fn pet_activity_volume_in_bq_per_ml() {
    let dir = tempfile::tempdir().unwrap();
    let grid = Grid::builder([6, 5, 4])
        .spacing([4.0, 4.0, 3.27])
        .origin([-10.0, -8.0, 0.0])
        .build()
        .unwrap();
    let counts = Volume::from_fn(grid, |[i, j, k]| (i * 100 + j * 10 + k) as i16);
    let w = write(&counts, dir.path());
    // Without Units = BQML it is not an activity volume.
    match hope_dicom::load_activity_volume(&w.files) {
        Err(Error::Attribute {
            attribute: "Units",
            message,
            ..
        }) => assert!(message.contains("BQML"), "{message}"),
        other => panic!(
            "expected a Units error, got {:?}",
            other.map(|v| v.grid().dims())
        ),
    }
    for f in &w.files {
        edit(
            f,
            DataElement::new(tags::MODALITY, VR::CS, PrimitiveValue::from("PT")),
        );
        edit(
            f,
            DataElement::new(
                tags::SOP_CLASS_UID,
                VR::UI,
                PrimitiveValue::from("1.2.840.10008.5.1.4.1.1.128"),
            ),
        );
        edit(
            f,
            DataElement::new(tags::UNITS, VR::CS, PrimitiveValue::from("BQML")),
        );
        edit(
            f,
            DataElement::new(tags::RESCALE_SLOPE, VR::DS, PrimitiveValue::from("12.5")),
        );
    }
    let report = scan_dir(dir.path()).unwrap();
    assert_eq!(report.series[0].modality, "PT");
    let activity = hope_dicom::load_activity_volume(&report.series[0].files).unwrap();
    assert_eq!(activity.grid(), counts.grid());
    assert!(
        activity
            .data()
            .iter()
            .zip(counts.data())
            .all(|(a, c)| *a == f32::from(*c) * 12.5)
    );
}

/// Writes `vol` as one multi-frame file: enhanced CT (functional groups, frames stored in reverse
/// order, HU + 1024 stored with the intercept in the shared groups) or NM style (top-level position
/// of the first frame and Spacing Between Slices).
fn write_multiframe(vol: &Volume<i16>, path: &Path, enhanced: bool, spacing_between: bool) {
    use dicom_core::value::DataSetSequence;
    use dicom_dictionary_std::uids;
    use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
    let g = vol.grid();
    let [nx, ny, nz] = g.dims();
    let d = g.direction();
    let sp = g.spacing();
    let strs = |v: &[f64]| PrimitiveValue::Strs(v.iter().map(|x| format!("{x}")).collect());
    let sq = |tag, items: Vec<InMemDicomObject>| {
        DataElement::new(tag, VR::SQ, DataSetSequence::from(items))
    };
    let item =
        |elems: Vec<DataElement<InMemDicomObject>>| InMemDicomObject::from_element_iter(elems);
    let frames: Vec<usize> = if enhanced {
        (0..nz).rev().collect()
    } else {
        (0..nz).collect()
    };
    let offset = if enhanced { 1024 } else { 0 };
    let mut pixels: Vec<u16> = Vec::with_capacity(nx * ny * nz);
    for &k in &frames {
        pixels.extend(vol.slice_z(k).unwrap().iter().map(|v| (v + offset) as u16));
    }
    let sop = "2.25.4242";
    let class = if enhanced {
        "1.2.840.10008.5.1.4.1.1.2.1"
    } else {
        "1.2.840.10008.5.1.4.1.1.20"
    };
    let mut obj = InMemDicomObject::from_element_iter([
        DataElement::new(tags::SOP_CLASS_UID, VR::UI, PrimitiveValue::from(class)),
        DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, PrimitiveValue::from(sop)),
        DataElement::new(
            tags::SERIES_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from("2.25.4243"),
        ),
        DataElement::new(
            tags::MODALITY,
            VR::CS,
            PrimitiveValue::from(if enhanced { "CT" } else { "NM" }),
        ),
        DataElement::new(
            tags::NUMBER_OF_FRAMES,
            VR::IS,
            PrimitiveValue::from(nz.to_string()),
        ),
        DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(ny as u16)),
        DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(nx as u16)),
        DataElement::new(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16)),
        DataElement::new(
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            PrimitiveValue::from("MONOCHROME2"),
        ),
        DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16)),
        DataElement::new(tags::BITS_STORED, VR::US, PrimitiveValue::from(16u16)),
        DataElement::new(tags::HIGH_BIT, VR::US, PrimitiveValue::from(15u16)),
        DataElement::new(
            tags::PIXEL_REPRESENTATION,
            VR::US,
            PrimitiveValue::from(1u16),
        ),
        DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(pixels.into())),
    ]);
    let orientation = strs(&[d[0].x, d[0].y, d[0].z, d[1].x, d[1].y, d[1].z]);
    if enhanced {
        obj.put(sq(
            tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE,
            vec![item(vec![
                sq(
                    tags::PIXEL_MEASURES_SEQUENCE,
                    vec![item(vec![DataElement::new(
                        tags::PIXEL_SPACING,
                        VR::DS,
                        strs(&[sp.y, sp.x]),
                    )])],
                ),
                sq(
                    tags::PLANE_ORIENTATION_SEQUENCE,
                    vec![item(vec![DataElement::new(
                        tags::IMAGE_ORIENTATION_PATIENT,
                        VR::DS,
                        orientation,
                    )])],
                ),
                sq(
                    tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
                    vec![item(vec![
                        DataElement::new(tags::RESCALE_SLOPE, VR::DS, PrimitiveValue::from("1")),
                        DataElement::new(
                            tags::RESCALE_INTERCEPT,
                            VR::DS,
                            PrimitiveValue::from("-1024"),
                        ),
                    ])],
                ),
            ])],
        ));
        let per_frame = frames
            .iter()
            .map(|&k| {
                let p = g.voxel_center([0, 0, k]);
                item(vec![sq(
                    tags::PLANE_POSITION_SEQUENCE,
                    vec![item(vec![DataElement::new(
                        tags::IMAGE_POSITION_PATIENT,
                        VR::DS,
                        strs(&p.to_array()),
                    )])],
                )])
            })
            .collect();
        obj.put(sq(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE, per_frame));
    } else {
        obj.put(DataElement::new(
            tags::IMAGE_POSITION_PATIENT,
            VR::DS,
            strs(&g.origin().to_array()),
        ));
        obj.put(DataElement::new(
            tags::IMAGE_ORIENTATION_PATIENT,
            VR::DS,
            orientation,
        ));
        obj.put(DataElement::new(
            tags::PIXEL_SPACING,
            VR::DS,
            strs(&[sp.y, sp.x]),
        ));
        if spacing_between {
            obj.put(DataElement::new(
                tags::SPACING_BETWEEN_SLICES,
                VR::DS,
                PrimitiveValue::from(format!("{}", sp.z)),
            ));
        }
    }
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                .media_storage_sop_class_uid(class)
                .media_storage_sop_instance_uid(sop),
        )
        .unwrap();
    file.write_to_file(path).unwrap();
}

#[test]
fn enhanced_ct_multiframe_is_placed_by_its_functional_groups() {
    let dir = tempfile::tempdir().unwrap();
    let ct = phantom(axial());
    let path = dir.path().join("enhanced.dcm");
    write_multiframe(&ct, &path, true, false);
    let back = load_ct_volume(&[path]).unwrap();
    assert_eq!(back.grid(), ct.grid());
    assert_eq!(
        back.data(),
        ct.data(),
        "frames reordered by position, intercept from the shared groups"
    );
}

#[test]
fn nm_style_multiframe_advances_along_the_normal() {
    let dir = tempfile::tempdir().unwrap();
    let grid = Grid::builder([8, 8, 5])
        .spacing([4.42, 4.42, 4.42])
        .origin([-15.47, -15.47, 20.0])
        .build()
        .unwrap();
    let counts = Volume::from_fn(grid, |[i, j, k]| (i + 8 * j + 64 * k) as i16);
    let path = dir.path().join("nm.dcm");
    write_multiframe(&counts, &path, false, true);
    let back = load_ct_volume(std::slice::from_ref(&path)).unwrap();
    assert!(back.grid().same_geometry(counts.grid(), 1e-9));
    assert_eq!(back.data(), counts.data());
    // Without Spacing Between Slices the frames cannot be placed: named.
    write_multiframe(&counts, &path, false, false);
    match load_ct_volume(&[path]) {
        Err(Error::Attribute {
            attribute: "SpacingBetweenSlices",
            ..
        }) => {}
        other => panic!(
            "expected a SpacingBetweenSlices error, got {:?}",
            other.map(|v| v.grid().dims())
        ),
    }
}

#[test]
fn deflated_files_load_like_the_originals() {
    let dir = tempfile::tempdir().unwrap();
    let ct = phantom(axial());
    let w = write(&ct, dir.path());
    for f in &w.files {
        let file = OpenFileOptions::new().open_file(f).unwrap();
        let sop = file
            .meta()
            .media_storage_sop_instance_uid()
            .trim_end_matches('\0')
            .to_string();
        let deflated = file
            .into_inner()
            .with_meta(
                dicom_object::FileMetaTableBuilder::new()
                    .transfer_syntax(dicom_dictionary_std::uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
                    .media_storage_sop_class_uid(dicom_dictionary_std::uids::CT_IMAGE_STORAGE)
                    .media_storage_sop_instance_uid(sop),
            )
            .unwrap();
        deflated.write_to_file(f).unwrap();
    }
    let reopened = OpenFileOptions::new().open_file(&w.files[0]).unwrap();
    assert_eq!(
        reopened.meta().transfer_syntax().trim_end_matches('\0'),
        dicom_dictionary_std::uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN
    );
    let raw = std::fs::read(&w.files[0]).unwrap();
    assert!(
        !raw.windows(8)
            .any(|w| w == b"HOPE-rs\0" || w == b"HOPE-rs "),
        "the dataset is stored deflated, not in clear"
    );
    assert_eq!(load_ct_volume(&w.files).unwrap().data(), ct.data());
}

/// An NM reconstructed tomogram as quantitative-SPECT systems write it: geometry in the Detector
/// Information Sequence, values mapped to Bq/ml by a Real World Value Mapping; and the same image
/// in counts, which needs a calibration factor.
#[test]
fn quantitative_spect_in_bq_per_ml_and_counts_with_a_calibration() {
    use dicom_core::value::DataSetSequence;
    use dicom_object::InMemDicomObject;
    use hope_dicom::{ActivityOptions, load_activity_volume, load_activity_volume_with};
    let dir = tempfile::tempdir().unwrap();
    let grid = Grid::builder([8, 8, 5])
        .spacing([4.42, 4.42, 4.42])
        .origin([-15.47, -15.47, 20.0])
        .build()
        .unwrap();
    let counts = Volume::from_fn(grid, |[i, j, k]| (i + 8 * j + 64 * k) as i16);
    let path = dir.path().join("nm.dcm");
    write_multiframe(&counts, &path, false, true);
    let sq = |tag, items: Vec<InMemDicomObject>| {
        DataElement::new(tag, VR::SQ, DataSetSequence::from(items))
    };
    // Move the geometry into the Detector Information Sequence, as NM RECON TOMO images have it.
    let mut obj = OpenFileOptions::new().open_file(&path).unwrap();
    let ipp = obj.take_element(tags::IMAGE_POSITION_PATIENT).unwrap();
    let iop = obj.take_element(tags::IMAGE_ORIENTATION_PATIENT).unwrap();
    obj.put(sq(
        tags::DETECTOR_INFORMATION_SEQUENCE,
        vec![InMemDicomObject::from_element_iter([ipp, iop])],
    ));
    obj.write_to_file(&path).unwrap();
    let files = [path.clone()];
    // Counts without a calibration: refused, naming Units and the way out.
    match load_activity_volume(&files) {
        Err(Error::Attribute {
            attribute: "Units",
            message,
            ..
        }) => assert!(message.contains("calibration"), "{message}"),
        other => panic!("{:?}", other.map(|v| v.grid().dims())),
    }
    let calibrated =
        load_activity_volume_with(&files, &ActivityOptions::new().calibration_bq_per_ml(2.5))
            .unwrap();
    assert!(calibrated.grid().same_geometry(counts.grid(), 1e-9));
    assert!(
        calibrated
            .data()
            .iter()
            .zip(counts.data())
            .all(|(a, c)| *a == f32::from(*c) * 2.5)
    );
    assert!(
        load_activity_volume_with(&files, &ActivityOptions::new().calibration_bq_per_ml(-1.0))
            .is_err()
    );
    // A Real World Value Mapping to Bq/ml (UCUM), beside one in another unit that must be skipped.
    let mapping = |unit: &str, slope: f64, intercept: f64| {
        InMemDicomObject::from_element_iter([
            sq(
                tags::MEASUREMENT_UNITS_CODE_SEQUENCE,
                vec![InMemDicomObject::from_element_iter([
                    DataElement::new(tags::CODE_VALUE, VR::SH, PrimitiveValue::from(unit)),
                    DataElement::new(
                        tags::CODING_SCHEME_DESIGNATOR,
                        VR::SH,
                        PrimitiveValue::from("UCUM"),
                    ),
                ])],
            ),
            DataElement::new(
                tags::REAL_WORLD_VALUE_SLOPE,
                VR::FD,
                PrimitiveValue::from(slope),
            ),
            DataElement::new(
                tags::REAL_WORLD_VALUE_INTERCEPT,
                VR::FD,
                PrimitiveValue::from(intercept),
            ),
        ])
    };
    edit(
        &path,
        sq(
            tags::REAL_WORLD_VALUE_MAPPING_SEQUENCE,
            vec![
                mapping("{SUVbw}g/ml", 0.001, 0.0),
                mapping("Bq/ml", 40.0, 5.0),
            ],
        ),
    );
    let activity = load_activity_volume(&files).unwrap();
    assert!(activity.grid().same_geometry(counts.grid(), 1e-9));
    assert!(
        activity
            .data()
            .iter()
            .zip(counts.data())
            .all(|(a, c)| *a == f32::from(*c) * 40.0 + 5.0)
    );
}

/// A copy of a written slice file re-encoded with `ts`, with `elems` put over its attributes.
fn reencoded(
    src: &Path,
    dst: &Path,
    ts: &str,
    elems: Vec<DataElement<dicom_object::InMemDicomObject>>,
) {
    use dicom_object::FileMetaTableBuilder;
    let file = OpenFileOptions::new().open_file(src).unwrap();
    let class = file
        .meta()
        .media_storage_sop_class_uid()
        .trim_end_matches('\0')
        .to_string();
    let sop = file
        .meta()
        .media_storage_sop_instance_uid()
        .trim_end_matches('\0')
        .to_string();
    let mut obj = file.into_inner();
    for e in elems {
        obj.put(e);
    }
    obj.with_meta(
        FileMetaTableBuilder::new()
            .transfer_syntax(ts)
            .media_storage_sop_class_uid(class)
            .media_storage_sop_instance_uid(sop),
    )
    .unwrap()
    .write_to_file(dst)
    .unwrap();
}

/// A 4 x 4 CT of one slice, written in `dir`.
fn one_slice(dir: &Path) -> WrittenSeries {
    let grid = Grid::builder([4, 4, 1])
        .spacing([1.0, 1.0, 1.0])
        .build()
        .unwrap();
    write(&phantom(grid), dir)
}

/// Encapsulated pixel data of these fragments (no offset table).
fn encapsulated(fragments: Vec<Vec<u8>>) -> DataElement<dicom_object::InMemDicomObject> {
    use dicom_core::value::{PixelFragmentSequence, Value};
    DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        Value::PixelSequence(PixelFragmentSequence::new(Vec::<u32>::new(), fragments)),
    )
}

/// Issue 27 item 2: RescaleSlope NaN became 0 HU for every voxel of the slice, silently.
#[test]
fn item_02_a_rescale_that_is_not_a_finite_number_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let w = write(&phantom(axial()), dir.path());
    for (tag, value, name) in [
        (tags::RESCALE_SLOPE, "NaN", "RescaleSlope"),
        (tags::RESCALE_SLOPE, "0", "RescaleSlope"),
        (tags::RESCALE_INTERCEPT, "inf", "RescaleIntercept"),
    ] {
        let d = tempfile::tempdir().unwrap();
        let files: Vec<PathBuf> = w
            .files
            .iter()
            .map(|f| {
                let to = d.path().join(f.file_name().unwrap());
                std::fs::copy(f, &to).unwrap();
                to
            })
            .collect();
        edit(
            &files[2],
            DataElement::new(tag, VR::DS, PrimitiveValue::from(value)),
        );
        match load_ct_volume(&files) {
            Err(Error::Attribute {
                attribute, path, ..
            }) => {
                assert_eq!(attribute, name);
                assert_eq!(path, files[2]);
            }
            other => panic!("{value}: {:?}", other.map(|v| v.grid().dims())),
        }
    }
}

/// Issue 27 item 6: NumberOfFrames drove per-frame work before the size check (a 700-byte file
/// claiming 4e9 frames grew without limit).
#[test]
fn item_06_number_of_frames_beyond_the_pixel_data_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let w = write(&phantom(axial()), dir.path());
    let path = dir.path().join("frames.dcm");
    std::fs::copy(&w.files[0], &path).unwrap();
    edit(
        &path,
        DataElement::new(
            tags::NUMBER_OF_FRAMES,
            VR::IS,
            PrimitiveValue::from("4000000000"),
        ),
    );
    let started = std::time::Instant::now();
    match load_ct_volume(std::slice::from_ref(&path)) {
        Err(Error::Attribute {
            attribute, message, ..
        }) => {
            assert_eq!(attribute, "NumberOfFrames");
            assert!(message.contains("4000000000 frames"), "{message}");
        }
        other => panic!("{:?}", other.map(|v| v.grid().dims())),
    }
    assert!(
        started.elapsed().as_secs() < 10,
        "refused before the frames were walked"
    );
}

/// Issue 27 item 5: an 8-bit 4x4 RLE image with one 2-byte segment panicked inside
/// dicom-transfer-syntax-registry 0.10.1 (`rle_lossless.rs` 119), reached from `series info`,
/// `to-mhd` and the workflow's CT load. The frame is checked first; the decoder's panics are
/// contained.
#[test]
fn item_05_a_malformed_rle_frame_is_an_error_never_a_panic() {
    use dicom_dictionary_std::uids;
    let dir = tempfile::tempdir().unwrap();
    let w = one_slice(dir.path());
    let rle = |segment: &[u8]| {
        let mut frame = vec![0u8; 64];
        frame[0..4].copy_from_slice(&1u32.to_le_bytes());
        frame[4..8].copy_from_slice(&64u32.to_le_bytes());
        frame.extend_from_slice(segment);
        frame
    };
    let us = |tag, v: u16| DataElement::new(tag, VR::US, PrimitiveValue::from(v));
    let file = |name: &str, frame: Vec<u8>| {
        let to = dir.path().join(name);
        reencoded(
            &w.files[0],
            &to,
            uids::RLE_LOSSLESS,
            vec![
                us(tags::BITS_ALLOCATED, 8),
                us(tags::BITS_STORED, 8),
                us(tags::HIGH_BIT, 7),
                us(tags::PIXEL_REPRESENTATION, 0),
                encapsulated(vec![frame]),
            ],
        );
        to
    };
    // One 2-byte segment (a literal run of one byte) for 16 pixels.
    let bad = file("bad.dcm", rle(&[0x00, 0x07]));
    match load_ct_volume(&[bad]) {
        Err(Error::PixelDecode { message, .. }) => {
            assert!(message.contains("RLE frame 1"), "{message}");
        }
        other => panic!("{:?}", other.map(|v| v.grid().dims())),
    }
    // A well-formed frame of the same image decodes (a repeat run of 16 bytes of 40).
    let good = file("good.dcm", rle(&[(1i8 - 16) as u8, 40]));
    let v = load_ct_volume(&[good]).unwrap();
    assert_eq!(v.data().len(), 16);
    assert!(v.data().iter().all(|x| *x == v.data()[0]), "{:?}", v.data());
}

/// Issue 27 item 2: `hope series to-mhd` dropped unreadable files without a word (8 files with 4
/// unreadable gave a 2 mm volume). The scan now lists damaged DICOM files apart from notes.
#[test]
fn item_02_damaged_dicom_files_are_reported_apart_from_notes() {
    let dir = tempfile::tempdir().unwrap();
    let w = write(&phantom(axial()), dir.path());
    std::fs::write(dir.path().join("README.txt"), "not an image").unwrap();
    let bytes = std::fs::read(&w.files[3]).unwrap();
    std::fs::write(&w.files[3], &bytes[..400]).unwrap();
    let report = scan_dir(dir.path()).unwrap();
    assert_eq!(report.unreadable.len(), 1, "{:?}", report.unreadable);
    assert_eq!(report.unreadable[0].0, w.files[3]);
    assert!(report.notes.iter().any(|(p, _)| p.ends_with("README.txt")));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(160))]

    /// Issue 27, bounded fuzz loop over pixel-data layouts: any Rows, Columns, bits, samples and
    /// frame count over pixel data of any small size, native or RLE, read as a series and
    /// de-identified with a redaction rule that matches: a volume or an error, never a panic,
    /// an abort or work beyond the bytes there.
    #[test]
    fn any_pixel_layout_gives_a_volume_or_an_error(
        rows in proptest::prop_oneof![1u16..6, proptest::prelude::Just(u16::MAX), proptest::prelude::Just(32768u16), proptest::prelude::Just(0u16)],
        cols in proptest::prop_oneof![1u16..6, proptest::prelude::Just(u16::MAX), proptest::prelude::Just(0u16)],
        bits in proptest::sample::select(vec![1u16, 8, 12, 16, 32]),
        spp in proptest::prop_oneof![proptest::prelude::Just(1u16), proptest::prelude::Just(3u16), proptest::prelude::Just(u16::MAX)],
        frames in proptest::prop_oneof![proptest::prelude::Just(None), proptest::strategy::Strategy::prop_map(0u32..4, Some), proptest::prelude::Just(Some(u32::MAX)), proptest::prelude::Just(Some(262_144u32))],
        rle in proptest::prelude::any::<bool>(),
        pixels in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
    ) {
        use dicom_dictionary_std::uids;
        let dir = tempfile::tempdir().unwrap();
        let grid = Grid::builder([2, 2, 1]).spacing([1.0, 1.0, 1.0]).build().unwrap();
        let w = write(&phantom(grid), dir.path());
        let us = |tag, v: u16| DataElement::new(tag, VR::US, PrimitiveValue::from(v));
        let mut elems = vec![
            us(tags::ROWS, rows),
            us(tags::COLUMNS, cols),
            us(tags::BITS_ALLOCATED, bits),
            us(tags::BITS_STORED, bits),
            us(tags::HIGH_BIT, bits.saturating_sub(1)),
            us(tags::SAMPLES_PER_PIXEL, spp),
        ];
        if let Some(n) = frames {
            elems.push(DataElement::new(tags::NUMBER_OF_FRAMES, VR::IS, PrimitiveValue::from(n.to_string())));
        }
        let ts = if rle {
            elems.push(encapsulated(vec![pixels.clone()]));
            uids::RLE_LOSSLESS
        } else {
            elems.push(DataElement::new(tags::PIXEL_DATA, VR::OB, PrimitiveValue::from(pixels.clone())));
            uids::EXPLICIT_VR_LITTLE_ENDIAN
        };
        let path = dir.path().join("x.dcm");
        reencoded(&w.files[0], &path, ts, elems);
        let _ = load_ct_volume(std::slice::from_ref(&path));
        let _ = hope_dicom::series::load_activity_volume(std::slice::from_ref(&path));
        let rule = hope_dicom::deid::RedactionRule {
            rects: vec![hope_dicom::deid::Rect { x: 0, y: 0, width: u32::MAX, height: u32::MAX }],
            ..hope_dicom::deid::RedactionRule::default()
        };
        let deid = hope_dicom::deid::Deidentifier::new(hope_dicom::deid::DeidKey::from_bytes([3; 32]), [])
            .with_redaction(rule);
        if let Ok(obj) = OpenFileOptions::new().open_file(&path) {
            let _ = deid.deidentify(obj);
        }
    }
}

/// Attack round on issue 27, finding C-4: a 636-byte JPEG Lossless file announcing 65535 x 65535
/// pixels made `series to-mhd` allocate 8.6 GB before decoding anything (SIGABRT under a memory
/// limit). Slices are limited to 2^26 pixels and volumes to 2^30 voxels before allocating.
#[test]
fn attack_c04_a_tiny_compressed_file_announcing_a_huge_image_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let w = one_slice(dir.path());
    let path = dir.path().join("huge.dcm");
    let us = |tag, v: u16| DataElement::new(tag, VR::US, PrimitiveValue::from(v));
    reencoded(
        &w.files[0],
        &path,
        "1.2.840.10008.1.2.4.70",
        vec![
            us(tags::ROWS, 65535),
            us(tags::COLUMNS, 65535),
            encapsulated(vec![vec![0xFF, 0xD8, 0xFF, 0xD9]]),
        ],
    );
    match load_ct_volume(std::slice::from_ref(&path)) {
        Err(Error::Attribute {
            attribute, message, ..
        }) => {
            assert_eq!(attribute, "Rows");
            assert!(message.contains("65535 x 65535"), "{message}");
        }
        other => panic!("{:?}", other.map(|v| v.grid().dims())),
    }
}

/// Finding C-5: two links to `.` in an input folder made `series info`, `series to-mhd` and
/// `catalog add --dicom` walk 2^40 paths while memory grew. Links to directories are not followed.
#[cfg(unix)]
#[test]
fn attack_c05_links_to_directories_are_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let w = write(&phantom(axial()), dir.path());
    std::os::unix::fs::symlink(".", dir.path().join("loop1")).unwrap();
    std::os::unix::fs::symlink("..", dir.path().join("loop2")).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let root = dir.path().to_path_buf();
    std::thread::spawn(move || {
        let _ =
            tx.send(scan_dir(&root).map(|r| r.series.iter().map(|s| s.files.len()).sum::<usize>()));
    });
    let files = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the walk did not end")
        .unwrap();
    assert_eq!(files, w.files.len());
}

/// Attack round on issue 26: a tilted series' later slices slid out of the resampled grid (up to
/// 29 % of a slice at 15 degrees) and were replaced by air. Now every slice keeps all its pixels.
#[test]
fn attack_26_a_tilted_series_keeps_every_slice_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (files, _) = tilted_series(dir.path(), 15.0, 2.5, &|_| 100.0);
    let loaded = hope_dicom::load_ct_volume_with(&files, &hope_dicom::LoadOptions::new()).unwrap();
    let v = &loaded.volume;
    let [nx, ny, nz] = v.grid().dims();
    for k in 0..nz {
        let tissue = (0..ny)
            .flat_map(|j| (0..nx).map(move |i| [i, j, k]))
            .filter(|&ix| v.get(ix) == Some(&100))
            .count();
        // A 64 x 56 slice, shifted by a fraction of a pixel: at least 64 x 55 voxels of it.
        assert!(tissue >= 64 * 55, "slice {k}: {tissue} voxels of tissue");
    }
}

/// Attack round on issue 26: zig-zag in-plane offsets and shears far beyond a gantry's were
/// taken for tilts and "corrected". Now they are refused, naming the file or the angle.
#[test]
fn attack_26_irregular_or_extreme_shears_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // Zig-zag: every other slice shifted 3 mm along its rows as well.
    let sub = dir.path().join("zigzag");
    std::fs::create_dir(&sub).unwrap();
    let (files, _) = tilted_series(&sub, 10.0, 2.5, &|_| 0.0);
    for (k, f) in files.iter().enumerate().filter(|(k, _)| k % 2 == 1) {
        let p = Vec3::new(-40.0 + 3.0, -35.0, -20.0) + Vec3::new(0.0, 0.0, 2.5 * k as f64);
        edit(f, position(p));
    }
    let e = hope_dicom::load_ct_volume_with(&files, &hope_dicom::LoadOptions::new())
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("irregularly"), "{e}");
    // 60 degrees.
    let sub = dir.path().join("sixty");
    std::fs::create_dir(&sub).unwrap();
    let (files, _) = tilted_series(&sub, 60.0, 2.5, &|_| 0.0);
    let e = hope_dicom::load_ct_volume_with(&files, &hope_dicom::LoadOptions::new())
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("degrees of a gantry tilt"), "{e}");
}
