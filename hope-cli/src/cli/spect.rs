//! `hope spect simulate FILE --out DIR` and `hope spect reconstruct FILE --out DIR`: SPECT
//! acquisitions simulated from a phantom and an activity, and reconstructed to Bq/mL.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use hope::spect::{
    Body, Projections, ReconstructionSpec, RunControl, SpectSimulation, Window, interfile, simulate,
};
use hope_dicom::{NmOptions, NmProjections, NmWindow};

/// Projections as an NM instance's: counts rounded to 16 bits (refused above 65535).
fn to_nm(p: &Projections) -> anyhow::Result<NmProjections> {
    let ms = p.time_per_view_s * 1e3;
    anyhow::ensure!(
        ms >= 1.0 && (ms - ms.round()).abs() < 1e-6,
        "{} s per view is not a whole number of milliseconds (DICOM's Actual Frame Duration)",
        p.time_per_view_s
    );
    let mut counts = Vec::with_capacity(p.counts.len());
    for c in &p.counts {
        let r = c.round();
        anyhow::ensure!(
            (0.0..=65_535.0).contains(&r),
            "a bin holds {c} counts: DICOM NM projections hold at most 65535 (use the Interfile output)"
        );
        counts.push(r as u16);
    }
    Ok(NmProjections {
        windows: p
            .windows
            .iter()
            .map(|w| NmWindow {
                name: w.name.clone(),
                lower_kev: w.lo_ev / 1e3,
                upper_kev: w.hi_ev / 1e3,
            })
            .collect(),
        angles_deg: p.angles_deg.clone(),
        rows: p.matrix[1],
        columns: p.matrix[0],
        pixel_mm: p.pixel_cm * 10.0,
        radius_mm: p.radius_cm * 10.0,
        frame_duration_ms: (p.time_per_view_s * 1e3).round() as u32,
        collimator: p.collimator.clone(),
        radionuclide: p.radionuclide.clone(),
        counts,
    })
}

/// An NM instance's projections.
fn from_nm(n: NmProjections) -> Projections {
    Projections {
        views: n.angles_deg.len(),
        matrix: [n.columns, n.rows],
        pixel_cm: n.pixel_mm / 10.0,
        angles_deg: n.angles_deg,
        radius_cm: n.radius_mm / 10.0,
        windows: n
            .windows
            .iter()
            .map(|w| Window::new(&w.name, w.lower_kev * 1e3, w.upper_kev * 1e3))
            .collect(),
        time_per_view_s: f64::from(n.frame_duration_ms) / 1e3,
        counts: n.counts.iter().map(|c| f64::from(*c)).collect(),
        radionuclide: n.radionuclide,
        activity_bq: f64::NAN,
        decays: 0,
        dropped_photons_per_decay: 0.0,
        chunk_detections: Vec::new(),
        collimator: n.collimator,
        method: hope::spect::Method::default(),
    }
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum SpectCommand {
    /// Simulate an acquisition described in a file: projections (Interfile) with Poisson noise
    /// and without, the calibration measured on a point source in air, a summary.
    Simulate(SimulateArgs),
    /// Reconstruct projections (OSEM, attenuation, depth-dependent response, TEW scatter) to an
    /// activity concentration in Bq/mL (MetaImage), as the dose simulation's activity sources
    /// take it.
    Reconstruct(ReconstructArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct SimulateArgs {
    /// The acquisition file (TOML, or JSON by extension).
    file: PathBuf,
    /// Output directory: projections.h33/.i33 and projections.dcm (DICOM NM, TOMO: counts with
    /// Poisson noise), expected.h33/.i33 (the expected counts), summary.json (with windows
    /// named `lower` and `upper`, also the first window's calibration less its TEW estimate) (counts per window, the calibration in counts per
    /// second per MBq of each window, timings).
    #[arg(long, default_value = "out/spect")]
    out: PathBuf,
    /// Simulate this many decays instead of the file's.
    #[arg(long)]
    decays: Option<u64>,
    /// Worker threads (0: one per core); the result does not depend on it.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Seed of the Poisson draw (the simulation's is the file's).
    #[arg(long, default_value_t = 1)]
    noise_seed: u64,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ReconstructArgs {
    /// The reconstruction file (TOML, or JSON by extension).
    file: PathBuf,
    /// Output directory: activity.mha and activity.dcm (DICOM NM, RECON TOMO; Bq/mL),
    /// summary.json. The projections may be Interfile (.h33) or DICOM NM (.dcm).
    #[arg(long, default_value = "out/spect-recon")]
    out: PathBuf,
}

pub(crate) fn run(command: SpectCommand) -> anyhow::Result<()> {
    match command {
        SpectCommand::Simulate(a) => run_simulate(a),
        SpectCommand::Reconstruct(a) => run_reconstruct(a),
    }
}

fn run_simulate(args: SimulateArgs) -> anyhow::Result<()> {
    let mut file = SpectSimulation::from_file(&args.file)?;
    if let Some(d) = args.decays {
        file.decays = d;
    }
    let nuclide = file.nuclide()?;
    let acq = file.acquisition()?;
    let (_, body) = file.body()?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    println!(
        "{}: {:.3} MBq in the phantom, {} views of {} x {}, {} windows, {} decays by {}",
        args.file.display(),
        body.activity_bq() / 1e6,
        acq.views,
        acq.matrix[0],
        acq.matrix[1],
        acq.windows.len(),
        file.decays,
        acq.method.name()
    );
    let start = Instant::now();
    let cpu = super::simulate::cpu_seconds();
    let expected = simulate(&body, &nuclide, &acq, &file.run_control(args.threads))?;
    let seconds = start.elapsed().as_secs_f64();
    let cpu = cpu.and_then(|c| super::simulate::cpu_seconds().map(|d| d - c));
    // The calibration: a point source of 1 MBq in air, same camera and windows.
    let point = simulate(
        &Body::point_in_air(1e6, acq.pixel_cm)?,
        &nuclide,
        &acq,
        &RunControl {
            decays: 100_000,
            // A stream of its own, not the body run's chunks.
            seed: file.seed ^ 0xCA11_B0A7_0000_0003,
            threads: args.threads,
        },
    )?;
    let noisy = expected.with_poisson_noise(args.noise_seed);
    interfile::write(&noisy, &args.out.join("projections.h33"))?;
    interfile::write(&expected, &args.out.join("expected.h33"))?;
    let dicom = match to_nm(&noisy) {
        Ok(nm) => {
            hope_dicom::write_nm_projections(
                &nm,
                &args.out.join("projections.dcm"),
                &NmOptions::default(),
            )?;
            true
        }
        Err(e) => {
            // No stale file from an earlier run beside the new projections.
            let _ = std::fs::remove_file(args.out.join("projections.dcm"));
            println!("no projections.dcm: {e}");
            false
        }
    };
    let mut windows = Vec::new();
    for (w, win) in acq.windows.iter().enumerate() {
        let (counts, rel) = expected.total(w);
        let cal = point.total(w).0 / (point.views as f64 * point.time_per_view_s);
        println!(
            "  {:<12} {:>8.1}-{:<8.1} keV  {:>12.0} counts (Monte Carlo {:.2} %)  calibration {:.3} cps/MBq",
            win.name,
            win.lo_ev / 1e3,
            win.hi_ev / 1e3,
            counts,
            100.0 * rel,
            cal
        );
        windows.push(serde_json::json!({
            "name": win.name,
            "lower_kev": win.lo_ev / 1e3,
            "upper_kev": win.hi_ev / 1e3,
            "expected_counts": counts,
            "monte_carlo_relative_uncertainty": rel,
            "calibration_cps_per_mbq": cal,
        }));
    }
    // With scatter windows named `lower` (and `upper`): the photopeak's calibration less its
    // triple-energy-window estimate, the one to use with a TEW reconstruction.
    let index = |name: &str| acq.windows.iter().position(|w| w.name == name);
    let rate = |w: usize| point.total(w).0 / (point.views as f64 * point.time_per_view_s);
    let tew_calibration = index("lower").map(|lower| {
        let width = |w: usize| acq.windows[w].width_ev();
        let up = index("upper").map_or(0.0, |u| rate(u) / width(u));
        rate(0) - (rate(lower) / width(lower) + up) * width(0) / 2.0
    });
    if let Some(c) = tew_calibration {
        println!(
            "  calibration of {} less its TEW estimate: {c:.3} cps/MBq",
            acq.windows[0].name
        );
    }
    let summary = serde_json::json!({
        "file": args.file.display().to_string(),
        "radionuclide": nuclide.name(),
        "calibration_tew_cps_per_mbq": tew_calibration,
        "activity_mbq": body.activity_bq() / 1e6,
        "decays_simulated": file.decays,
        "method": acq.method.name(),
        "collimator": acq.collimator.code(),
        "views": acq.views,
        "matrix": acq.matrix,
        "pixel_mm": acq.pixel_cm * 10.0,
        "time_per_view_s": acq.time_per_view_s,
        "photons_per_decay_not_followed": expected.dropped_photons_per_decay,
        "windows": windows,
        "wall_seconds": seconds,
        "cpu_seconds": cpu,
        "outputs": if dicom {
            vec!["projections.h33", "projections.i33", "projections.dcm", "expected.h33", "expected.i33"]
        } else {
            vec!["projections.h33", "projections.i33", "expected.h33", "expected.i33"]
        },
    });
    hope::core::fs::write_atomic(
        args.out.join("summary.json"),
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    println!(
        "wrote {} in {seconds:.1} s",
        args.out.join("projections.h33").display()
    );
    Ok(())
}

fn run_reconstruct(args: ReconstructArgs) -> anyhow::Result<()> {
    let spec = ReconstructionSpec::from_file(&args.file)?;
    let path = spec.projections_path();
    let projections = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("dcm"))
    {
        from_nm(hope_dicom::read_nm_projections(&path)?)
    } else {
        interfile::read(&path)?
    };
    let start = Instant::now();
    let volume = spec.run(&projections)?;
    let seconds = start.elapsed().as_secs_f64();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    hope::core::metaimage::write(args.out.join("activity.mha"), &volume)?;
    hope_dicom::write_nm_reconstruction(
        &volume,
        &args.out.join("activity.dcm"),
        &NmOptions::default(),
    )?;
    let ml = volume.grid().voxel_volume_mm3() / 1000.0;
    let total: f64 = volume.data().iter().map(|v| f64::from(*v) * ml).sum();
    let summary = serde_json::json!({
        "file": args.file.display().to_string(),
        "projections": spec.projections_path().display().to_string(),
        "window": spec.window,
        "scatter_correction": spec.scatter.is_some(),
        "attenuation_correction": spec.attenuation.is_some(),
        "subsets": spec.osem.subsets,
        "iterations": spec.osem.iterations,
        "dims": volume.grid().dims(),
        "total_activity_mbq": total / 1e6,
        "wall_seconds": seconds,
        "outputs": ["activity.mha", "activity.dcm"],
    });
    hope::core::fs::write_atomic(
        args.out.join("summary.json"),
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    println!(
        "wrote {} ({:?} voxels, {:.3} MBq in all) in {seconds:.1} s",
        args.out.join("activity.mha").display(),
        volume.grid().dims(),
        total / 1e6
    );
    Ok(())
}
