//! Regression tests of the attack round on issue 25 (SPECT files and reconstruction): each
//! failed before its fix.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use hope_spect::acquisition::Method;
use hope_spect::{Projections, ReconstructionSpec, Window, interfile};

fn projections(views: usize, start: f64, matrix: [usize; 2], counts: f64) -> Projections {
    // Angles as the simulator makes them: through radians and back.
    let angles_deg = (0..views)
        .map(|v| {
            (start + 360.0 * v as f64 / views as f64)
                .to_radians()
                .to_degrees()
        })
        .collect();
    Projections {
        views,
        matrix,
        pixel_cm: 0.5,
        angles_deg,
        radius_cm: 20.0,
        windows: vec![
            Window::centred("photopeak", 140_511.0, 0.2),
            Window::new("lower", 114_700.0, 126_460.0),
        ],
        time_per_view_s: 10.0,
        counts: vec![counts; 2 * views * matrix[0] * matrix[1]],
        radionuclide: "Tc-99m".into(),
        activity_bq: 1e6,
        decays: 1,
        dropped_photons_per_decay: 0.0,
        chunk_detections: vec![],
        collimator: "SY-LEHR".into(),
        method: Method::ForcedDetection,
    }
}

fn recon(dir: &Path, extra: &str) -> hope_spect::Result<ReconstructionSpec> {
    std::fs::write(
        dir.join("recon.toml"),
        format!("projections = \"p.h33\"\ncalibration_cps_per_mbq = 90.0\n{extra}"),
    )
    .unwrap();
    ReconstructionSpec::from_file(&dir.join("recon.toml"))
}

/// Finding 1 and 2: 60 views from 0 degrees, 50 from 90: the arc summed from the angles came
/// out a rounding above 360 and the reader (or the projector) refused what the writer wrote.
#[test]
fn attack_25_orbits_whose_angles_round_above_a_turn_are_read_and_reconstructed() {
    let tmp = tempfile::tempdir().unwrap();
    for (views, start) in [(60, 0.0), (50, 90.0), (128, 180.0)] {
        let p = projections(views, start, [16, 4], 5.0);
        interfile::write(&p, &tmp.path().join("p.h33")).unwrap();
        let q = interfile::read(&tmp.path().join("p.h33")).unwrap();
        let spec = recon(tmp.path(), "[osem]\nsubsets = 2\niterations = 1\n").unwrap();
        spec.run(&q).unwrap();
    }
}

/// Finding 3: a header describing 2^34 values was read (64 GiB of data asked for).
#[test]
fn attack_25_an_interfile_of_too_many_values_is_refused_before_its_data() {
    let tmp = tempfile::tempdir().unwrap();
    let header = "!INTERFILE :=\n!name of data file := huge.i33\n!type of data := Tomographic\n\
                  number of energy windows := 16\n!matrix size [1] := 1024\n!matrix size [2] := 1024\n\
                  !number format := float\n!number of bytes per pixel := 4\n\
                  scaling factor (mm/pixel) [1] := 4\nscaling factor (mm/pixel) [2] := 4\n\
                  !number of projections := 1024\n!extent of rotation := 360\n\
                  !time per projection (sec) := 1\nRadius := 200\n"
        .to_string()
        + &(1..=16)
            .map(|i| {
                format!(
                    "energy window [{i}] := w{i}\nenergy window lower level [{i}] := {}\nenergy window upper level [{i}] := {}\n",
                    10 * i,
                    10 * i + 5
                )
            })
            .collect::<String>();
    std::fs::write(tmp.path().join("huge.h33"), header).unwrap();
    let err = interfile::read(&tmp.path().join("huge.h33"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("values"), "{err}");
}

/// Finding 4: the attenuation map was computed (8 GiB for 1024 x 1024) before the projector
/// refused the matrix.
#[test]
fn attack_25_the_geometry_is_checked_before_the_attenuation_map() {
    let tmp = tempfile::tempdir().unwrap();
    let p = projections(1, 0.0, [1024, 8], 1.0);
    interfile::write(&p, &tmp.path().join("p.h33")).unwrap();
    let spec = recon(
        tmp.path(),
        "[osem]\nsubsets = 1\niterations = 1\n[attenuation.phantom]\ndims = [512, 512, 512]\n\
         spacing_mm = [1.0, 1.0, 1.0]\nmaterial = \"water\"\n",
    )
    .unwrap();
    let err = spec
        .run(&interfile::read(&tmp.path().join("p.h33")).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("projections") && err.contains("8-512"),
        "{err}"
    );
}

/// Findings 5, 7, 17, 18: more subsets than views, a calibration of 1e-26, a NaN energy, a
/// reconstruction that overflows: each refused naming its field.
#[test]
fn attack_25_reconstruction_values_out_of_range_are_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let p = projections(8, 0.0, [16, 4], 5.0);
    interfile::write(&p, &tmp.path().join("p.h33")).unwrap();
    let q = interfile::read(&tmp.path().join("p.h33")).unwrap();
    let err = recon(tmp.path(), "[osem]\nsubsets = 16\n")
        .unwrap()
        .run(&q)
        .unwrap_err()
        .to_string();
    assert!(err.contains("osem.subsets"), "{err}");
    std::fs::write(
        tmp.path().join("recon.toml"),
        "projections = \"p.h33\"\ncalibration_cps_per_mbq = 1e-26\n",
    )
    .unwrap();
    let err = ReconstructionSpec::from_file(&tmp.path().join("recon.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("calibration_cps_per_mbq"), "{err}");
    let err = recon(
        tmp.path(),
        "[attenuation]\nenergy_kev = nan\nphantom = { dims = [8, 8, 8], spacing_mm = [5.0, 5.0, 5.0], material = \"water\" }\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("attenuation.energy_kev"), "{err}");
    // Counts of 3e38 per 1 microsecond: the image overflows; refused, not written with inf.
    let mut big = projections(8, 0.0, [16, 4], 3e38);
    big.time_per_view_s = 1e-6;
    let err = recon(tmp.path(), "[osem]\nsubsets = 2\niterations = 1\n")
        .unwrap()
        .run(&big)
        .unwrap_err()
        .to_string();
    assert!(err.contains("projections"), "{err}");
}

/// Finding 9: a scatter window equal to or overlapping the photopeak's, and window names given
/// twice, were taken.
#[test]
fn attack_25_scatter_windows_must_be_other_windows() {
    let tmp = tempfile::tempdir().unwrap();
    let p = projections(8, 0.0, [16, 4], 5.0);
    assert!(p.tew(0, 0, None, 1).is_err());
    let mut overlapping = p.clone();
    overlapping.windows[1] = Window::new("lower", 120_000.0, 130_000.0);
    let err = overlapping.tew(0, 1, None, 1).unwrap_err().to_string();
    assert!(err.contains("overlaps"), "{err}");
    interfile::write(&p, &tmp.path().join("p.h33")).unwrap();
    let header = std::fs::read_to_string(tmp.path().join("p.h33"))
        .unwrap()
        .replace(
            "energy window [2] := lower",
            "energy window [2] := photopeak",
        );
    std::fs::write(tmp.path().join("p.h33"), header).unwrap();
    let err = interfile::read(&tmp.path().join("p.h33"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("given twice"), "{err}");
}

/// Findings 14, 15, 18: a data file name with a drive or stream colon, a header named .i33, an
/// unknown method, and a Projections value whose fields disagree (a panic before).
#[test]
fn attack_25_interfile_names_and_inconsistent_values_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let p = projections(8, 0.0, [16, 4], 5.0);
    assert!(interfile::write(&p, &tmp.path().join("p.i33")).is_err());
    interfile::write(&p, &tmp.path().join("p.h33")).unwrap();
    let text = std::fs::read_to_string(tmp.path().join("p.h33")).unwrap();
    for (from, to, want) in [
        ("p.i33", "C:p.i33", "name of data file"),
        ("p.i33", "p.i33:stream", "name of data file"),
        (
            "hope method := forced-detection",
            "hope method := magic",
            "hope method",
        ),
    ] {
        std::fs::write(tmp.path().join("p.h33"), text.replace(from, to)).unwrap();
        let err = interfile::read(&tmp.path().join("p.h33"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{want}: {err}");
    }
    let mut broken = p.clone();
    broken.angles_deg.truncate(1);
    assert!(interfile::write(&broken, &tmp.path().join("b.h33")).is_err());
    let mut broken = p;
    broken.counts.pop();
    assert!(broken.check().is_err());
}

/// Finding 10: regions were not counted (45,000 boxes over the whole phantom ran for hours).
#[test]
fn attack_25_activity_regions_are_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let mut text = String::from(
        "radionuclide = \"Tc-99m\"\ndecays = 1000\n[phantom]\ndims = [8, 8, 8]\nspacing_mm = [5.0, 5.0, 5.0]\nmaterial = \"water\"\n\
         [camera]\ncollimator = \"SY-LEHR\"\n[orbit]\nviews = 4\nradius_mm = 200.0\nmatrix = [8, 8]\npixel_mm = 5.0\ntime_per_view_s = 1.0\n\
         [[window]]\nname = \"photopeak\"\ncentre_kev = 140.5\nwidth = 0.2\n",
    );
    for _ in 0..1_001 {
        text.push_str("[[activity.region]]\nshape = \"box\"\nmin_mm = [-1e9, -1e9, -1e9]\nmax_mm = [1e9, 1e9, 1e9]\nbq_per_ml = 1.0\n");
    }
    std::fs::write(tmp.path().join("acq.toml"), text).unwrap();
    let file = hope_spect::SpectSimulation::from_file(&tmp.path().join("acq.toml")).unwrap();
    let err = file.body().unwrap_err().to_string();
    assert!(
        err.contains("activity.region") && err.contains("1000"),
        "{err}"
    );
}
