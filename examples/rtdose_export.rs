//! Writes a synthetic CT series, a dose volume on its own grid as MetaImage, and the same dose as
//! RT Dose referring to the CT; an RT Structure Set (a 12 mm sphere contoured on every slice) and
//! a brachytherapy RT Plan (three seeds) referring to it: the input of `scripts/check_rtdose.py`,
//! which reads them with pydicom (an independent DICOM reader) and compares.
//!
//! ```sh
//! cargo run --release --example rtdose_export -- OUTPUT_DIR
//! ```
#![allow(clippy::print_stdout)]

use std::path::PathBuf;

use hope::core::{Grid, Vec3, Volume, metaimage};
use hope::dicom::rtplan::{BrachyPlan, PlanSeed, PlanSource, write_rt_plan};
use hope::dicom::rtstruct::{Contour, ContourGeometry, Roi, StructureSet, write_rt_struct};
use hope::dicom::{CtSeriesOptions, RtDoseOptions, write_ct_series, write_rt_dose};

fn main() -> hope_test_support::ExampleResult {
    let out: PathBuf = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("out/rtdose"), PathBuf::from);
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let grid = Grid::builder([32, 28, 12])
        .spacing([1.0, 1.0, 2.5])
        .origin([-15.5, -13.5, -10.0])
        .build()?;
    let ct = Volume::from_fn(grid, |[i, j, _]| {
        if (i as i32 - 16).pow(2) + (j as i32 - 14).pow(2) < 144 {
            0
        } else {
            -1000
        }
    });
    let series = write_ct_series(&ct, &out.join("ct"), &CtSeriesOptions::new())?;

    let dgrid = Grid::builder([25, 21, 9])
        .spacing([0.8, 0.8, 2.0])
        .origin([-9.6, -8.0, -6.0])
        .build()?;
    let g = dgrid.clone();
    let dose = Volume::from_fn(dgrid, move |idx| {
        let r = g.voxel_center(idx) - Vec3::new(0.5, 0.0, 1.0);
        (60.0 * (-r.dot(r) / 40.0).exp()) as f32
    });
    metaimage::write(out.join("dose.mhd"), &dose)?;
    let written = write_rt_dose(
        &dose,
        &out.join("rtdose.dcm"),
        &series.files[0],
        &RtDoseOptions::new(),
    )?;
    // A sphere of radius 12 mm at the origin, contoured (64 points) on every CT slice it cuts.
    let frame = series.frame_of_reference_uid.clone();
    let contours = (0..12)
        .map(|k| -10.0 + 2.5 * f64::from(k))
        .filter(|z: &f64| z.abs() < 12.0)
        .map(|z| Contour {
            geometry: ContourGeometry::ClosedPlanar,
            points: (0..64)
                .map(|i| {
                    let a = std::f64::consts::TAU * f64::from(i) / 64.0;
                    let r = (144.0 - z * z).sqrt();
                    Vec3::new(r * a.cos(), r * a.sin(), z)
                })
                .collect(),
        })
        .collect();
    let structures = write_rt_struct(
        &StructureSet {
            label: "sphere".into(),
            frame_of_reference_uid: frame,
            rois: vec![Roi {
                number: 1,
                name: "sphere".into(),
                colour: Some([255, 0, 0]),
                interpreted_type: Some("GTV".into()),
                contours,
            }],
        },
        &out.join("rtstruct.dcm"),
        &series.files[0],
    )?;
    write_rt_plan(
        &BrachyPlan {
            label: "three seeds".into(),
            technique: "INTERSTITIAL".into(),
            treatment_type: "LDR".into(),
            sources: vec![PlanSource {
                number: 1,
                model: "6711".into(),
                manufacturer: "GE Healthcare".into(),
                isotope: "I-125".into(),
                half_life_days: 59.40,
                air_kerma_strength_u: 0.5,
                active_length_mm: Some(3.0),
                active_diameter_mm: Some(0.5),
            }],
            seeds: [-5.0, 0.0, 5.0]
                .map(|x| PlanSeed {
                    position: Vec3::new(x, 1.0, 2.5),
                    axis: Some(Vec3::new(0.0, 0.0, 1.0)),
                    source: 0,
                })
                .to_vec(),
            referenced_structure_set: Some(structures.sop_instance_uid),
        },
        &out.join("rtplan.dcm"),
        &series.files[0],
    )?;
    println!(
        "CT series {} ({} slices), RT Dose {} (scaling {:e} Gy)",
        series.series_uid,
        series.files.len(),
        written.sop_instance_uid,
        written.dose_grid_scaling
    );
    println!("outputs in {}", out.display());
    Ok(())
}
