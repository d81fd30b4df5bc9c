//! Writes a synthetic CT series, a dose volume on its own grid as MetaImage, and the same dose as
//! RT Dose referring to the CT: the input of `scripts/check_rtdose.py`, which reads them with
//! pydicom (an independent DICOM reader) and compares.
//!
//! ```sh
//! cargo run --release --example rtdose_export -- OUTPUT_DIR
//! ```
#![allow(clippy::print_stdout)]

use std::path::PathBuf;

use hope::core::{Grid, Vec3, Volume, metaimage};
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
