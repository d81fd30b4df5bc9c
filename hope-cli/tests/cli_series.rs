//! `hope series info` and `hope series to-mhd` on series written by hope-dicom.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::hope;

use hope::core::{Grid, Volume, metaimage};
use hope::dicom::{CtSeriesOptions, write_ct_series};

#[test]
fn inspect_and_convert_a_series() {
    let tmp = tempfile::tempdir().unwrap();
    let grid = Grid::builder([16, 12, 5])
        .spacing([0.8, 0.8, 2.0])
        .origin([-6.0, -4.4, 100.0])
        .build()
        .unwrap();
    let ct = Volume::from_fn(grid, |[i, j, k]| {
        i as i16 * 10 - j as i16 * 3 + k as i16 * 100 - 1000
    });
    let w = write_ct_series(&ct, &tmp.path().join("in"), &CtSeriesOptions::new()).unwrap();
    let run = |args: &[&str]| hope(tmp.path(), args);

    let info = run(&["series", "info", "in"]);
    let text = String::from_utf8(info.stdout).unwrap();
    assert!(info.status.success());
    assert!(
        text.contains(&w.series_uid)
            && text.contains("dims [16, 12, 5]")
            && text.contains("HU range -1033 .. -450"),
        "{text}"
    );

    let out = run(&["series", "to-mhd", "in", "ct.mhd"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let back: Volume<i16> = metaimage::read(tmp.path().join("ct.mhd")).unwrap();
    assert_eq!(back, ct);

    // A broken series is reported with its problem, and conversion fails clearly.
    std::fs::remove_file(&w.files[2]).unwrap();
    let text = String::from_utf8(run(&["series", "info", "in"]).stdout).unwrap();
    assert!(
        text.contains("cannot be assembled") && text.contains("missing slice"),
        "{text}"
    );
    let out = run(&["series", "to-mhd", "in", "bad.mhd"]);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("missing slice")
    );
}

#[test]
fn a_pet_series_converts_to_bq_per_ml_and_to_suv() {
    use dicom_core::value::{DataSetSequence, PrimitiveValue};
    use dicom_core::{DataElement, VR};
    use dicom_dictionary_std::tags;
    use dicom_object::InMemDicomObject;
    let tmp = tempfile::tempdir().unwrap();
    let grid = Grid::new([4, 3, 2], [4.0, 4.0, 3.0]).unwrap();
    let stored = Volume::from_fn(grid, |[i, j, k]| (i + 4 * j + 12 * k) as i16);
    let w = write_ct_series(&stored, &tmp.path().join("pet"), &CtSeriesOptions::new()).unwrap();
    let s = |tag, vr, v: &str| DataElement::new(tag, vr, PrimitiveValue::from(v));
    for f in &w.files {
        let mut obj = dicom_object::open_file(f).unwrap();
        for e in [
            s(tags::MODALITY, VR::CS, "PT"),
            s(tags::UNITS, VR::CS, "BQML"),
            s(tags::RESCALE_SLOPE, VR::DS, "100"),
            s(tags::CORRECTED_IMAGE, VR::CS, "ATTN\\DECY"),
            s(tags::DECAY_CORRECTION, VR::CS, "ADMIN"),
            s(tags::PATIENT_WEIGHT, VR::DS, "80"),
            DataElement::new(
                tags::RADIOPHARMACEUTICAL_INFORMATION_SEQUENCE,
                VR::SQ,
                DataSetSequence::from(vec![InMemDicomObject::from_element_iter([
                    s(tags::RADIONUCLIDE_TOTAL_DOSE, VR::DS, "400000000"),
                    s(tags::RADIONUCLIDE_HALF_LIFE, VR::DS, "6586.2"),
                ])]),
            ),
        ] {
            obj.put(e);
        }
        obj.write_to_file(f).unwrap();
    }
    let run = |args: &[&str]| hope(tmp.path(), args);
    let info = String::from_utf8(run(&["series", "info", "pet"]).stdout).unwrap();
    assert!(info.contains("activity range 0 .. 2300 Bq/mL"), "{info}");
    let out = run(&["series", "to-mhd", "pet", "pet.mha"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("Bq/mL"), "{text}");
    let activity: Volume<f32> = metaimage::read(tmp.path().join("pet.mha")).unwrap();
    assert!(
        activity
            .data()
            .iter()
            .zip(stored.data())
            .all(|(a, s)| *a == f32::from(*s) * 100.0)
    );
    let out = run(&["series", "to-mhd", "pet", "suv.mha", "--values", "suv"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // ADMIN: SUV = C * 80 000 g / 400 MBq = C * 2e-4.
    let suv: Volume<f32> = metaimage::read(tmp.path().join("suv.mha")).unwrap();
    assert!(
        suv.data()
            .iter()
            .zip(activity.data())
            .all(|(v, a)| (f64::from(*v) - f64::from(*a) * 2e-4).abs() < 1e-5)
    );
}

/// Issue 27 item 2: 8 files with 4 unreadable gave a 2 mm volume and exit status 0. Damaged
/// DICOM files now stop the conversion, naming each; `--skip-unreadable` goes on and says so.
#[test]
fn item_02_unreadable_slices_stop_to_mhd_unless_skipped_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let grid = Grid::builder([8, 8, 8])
        .spacing([1.0, 1.0, 1.0])
        .build()
        .unwrap();
    let ct = Volume::from_fn(grid, |[i, j, k]| (i + j + k) as i16);
    let w = write_ct_series(&ct, &tmp.path().join("in"), &CtSeriesOptions::new()).unwrap();
    for f in w.files.iter().skip(1).step_by(2) {
        let bytes = std::fs::read(f).unwrap();
        std::fs::write(f, &bytes[..300]).unwrap();
    }
    let o = common::hope_within(tmp.path(), 120, &["series", "to-mhd", "in", "ct.mhd"]);
    let err = common::failed_cleanly(&o, "4 DICOM file(s)");
    assert!(
        err.contains("CT0002.dcm") && err.contains("--skip-unreadable"),
        "{err}"
    );
    assert!(!tmp.path().join("ct.mhd").exists());
    let o = common::hope_within(
        tmp.path(),
        120,
        &["series", "to-mhd", "in", "ct.mhd", "--skip-unreadable"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("4 unreadable file(s) skipped"), "{out}");
    let v: Volume<i16> = metaimage::read(tmp.path().join("ct.mhd")).unwrap();
    assert_eq!(v.grid().dims()[2], 4);
    let o = common::hope_within(tmp.path(), 120, &["series", "info", "in"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.matches("unreadable: ").count() == 4, "{out}");
}

/// A gantry-tilted series (slice origins stepping along z while the image plane is tilted) is
/// resampled by `to-mhd`, which says so, and refused with `--refuse-tilt`.
#[test]
fn a_tilted_series_is_resampled_and_said_so_or_refused() {
    use dicom_core::value::PrimitiveValue;
    use dicom_core::{DataElement, VR};
    let tmp = tempfile::tempdir().unwrap();
    let (c, s) = (10f64.to_radians().cos(), 10f64.to_radians().sin());
    let (row, col) = (
        hope::core::Vec3::new(1.0, 0.0, 0.0),
        hope::core::Vec3::new(0.0, c, -s),
    );
    let grid = Grid::builder([16, 12, 6])
        .spacing([1.0, 1.0, 2.0 * c])
        .origin([-8.0, -6.0, 50.0])
        .direction([row, col, row.cross(col)])
        .build()
        .unwrap();
    let ct = Volume::from_fn(grid, |[i, j, _]| i as i16 * 10 + j as i16);
    let w = write_ct_series(&ct, &tmp.path().join("in"), &CtSeriesOptions::new()).unwrap();
    for (k, f) in w.files.iter().enumerate() {
        let mut obj = dicom_object::OpenFileOptions::new().open_file(f).unwrap();
        let p = [-8.0, -6.0, 50.0 + 2.0 * k as f64];
        obj.put(DataElement::new(
            dicom_dictionary_std::tags::IMAGE_POSITION_PATIENT,
            VR::DS,
            PrimitiveValue::Strs(p.iter().map(|v| format!("{v}")).collect()),
        ));
        obj.write_to_file(f).unwrap();
    }
    let run = |args: &[&str]| hope(tmp.path(), args);
    let out = run(&["series", "to-mhd", "in", "ct.mha"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("gantry tilt 10.00 degrees") && text.contains("resampled"),
        "{text}"
    );
    let back: Volume<i16> = metaimage::read(tmp.path().join("ct.mha")).unwrap();
    // Widened to keep every slice whole: 5 steps of 2 sin 10 degrees = 1.74 mm, two rows more.
    assert_eq!(back.grid().dims(), [16, 14, 6]);
    let refused = run(&["series", "to-mhd", "in", "ct2.mha", "--refuse-tilt"]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && err.contains("sheared"),
        "{err}"
    );
    assert!(!tmp.path().join("ct2.mha").exists());
}
