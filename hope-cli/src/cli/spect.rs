//! `hope spect simulate FILE --out DIR` and `hope spect reconstruct FILE --out DIR`: SPECT
//! acquisitions simulated from a phantom and an activity, and reconstructed to Bq/mL.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use hope::spect::{Body, ReconstructionSpec, RunControl, SpectSimulation, interfile, simulate};

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
    /// Output directory: projections.h33/.i33 (counts with Poisson noise), expected.h33/.i33
    /// (the expected counts), summary.json (counts per window, the calibration in counts per
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
    /// Output directory: activity.mha (Bq/mL), summary.json.
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
            seed: file.seed,
            threads: args.threads,
        },
    )?;
    let noisy = expected.with_poisson_noise(args.noise_seed);
    interfile::write(&noisy, &args.out.join("projections.h33"))?;
    interfile::write(&expected, &args.out.join("expected.h33"))?;
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
    let summary = serde_json::json!({
        "file": args.file.display().to_string(),
        "radionuclide": nuclide.name(),
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
        "outputs": ["projections.h33", "projections.i33", "expected.h33", "expected.i33"],
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
    let projections = interfile::read(&spec.projections_path())?;
    let start = Instant::now();
    let volume = spec.run(&projections)?;
    let seconds = start.elapsed().as_secs_f64();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    hope::core::metaimage::write(args.out.join("activity.mha"), &volume)?;
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
        "outputs": ["activity.mha"],
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
