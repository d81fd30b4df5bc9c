//! `hope simulate SIM.toml --out DIR`: runs a Monte Carlo simulation locally and writes the dose,
//! its relative uncertainty and a summary.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use hope::core::{Volume, metaimage};
use hope::mc::Simulation;
use hope::mc::simulation::Prepared;
use hope_workflow::png::{self, Plane};

#[derive(Debug, clap::Args)]
pub(crate) struct SimulateArgs {
    /// The simulation file (TOML, or JSON by extension).
    file: PathBuf,
    /// Output directory: dose.mha (Gy per history, or Gy with an `absolute` section),
    /// uncertainty.mha (relative), PNG slices through
    /// the hottest voxel with a colour bar, summary.json.
    #[arg(long, default_value = "out/simulation")]
    out: PathBuf,
    /// Worker threads (0: one per core); the result does not depend on it.
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

fn as_f32(v: &Volume<f64>) -> Volume<f32> {
    v.map(|x| *x as f32)
}

pub(crate) fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let sim = Simulation::from_file(&args.file)?;
    let run = sim.prepare(args.threads)?;
    let bar = indicatif::ProgressBar::new(run.histories());
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:40}] {pos}/{len} histories {per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message("simulating");
    let start = Instant::now();
    let result = run.run(&|done, _| {
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    let threads = match args.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    write_outputs(&run, &result, secs, Some(threads), &args.out)
}

/// What the written dose is, and the variance-reduction switches that shaped it, in words.
fn estimator(sim: &Simulation) -> String {
    let e = &sim.physics.electrons;
    match (sim.tally_kind(), e.transport) {
        (hope::mc::simulation::TallyKind::Kerma, _) => {
            "kerma: track-length collision kerma, electrons not transported (dose only where \
             charged-particle equilibrium holds)"
                .to_string()
        }
        (_, false) => "analog: energy deposited at photon interactions, electrons not \
                       transported (kinetic energy deposited on the spot)"
            .to_string(),
        (_, true) if e.range_rejection => format!(
            "analog: absorbed dose with electron transport; range rejection on below {} MeV \
             (range_rejection = false turns it off)",
            e.range_rejection_max_ev / 1e6
        ),
        (_, true) => {
            "analog: absorbed dose with electron transport; no range rejection".to_string()
        }
    }
}

/// Writes dose (Gy per history, or Gy with an `absolute` section), uncertainty, PNG slices and
/// summary.json of a finished run into `out` (`threads`: of a local run; a grid run has tasks),
/// and prints what was run and what the dose is.
pub(crate) fn write_outputs(
    run: &Prepared,
    result: &hope::mc::Partial,
    secs: f64,
    threads: Option<usize>,
    out_dir: &Path,
) -> anyhow::Result<()> {
    let sim = run.simulation();
    let grid = run.scoring_grid().clone();
    // Gy per history, or Gy with the file's `absolute` section.
    let hope::mc::simulation::Dose {
        dose,
        uncertainty: unc,
        unit,
        histories_represented: represented,
    } = run.dose(result)?;
    let unit = unit.to_string();
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let out = |name: &str| -> PathBuf { out_dir.join(name) };
    metaimage::write(out("dose.mha"), &as_f32(&dose))?;
    metaimage::write(out("uncertainty.mha"), &as_f32(&unc))?;
    let max = dose.data().iter().copied().fold(0.0, f64::max);
    let (_, s) = hope::mc::tally::mean_uncertainty_above_half_max(&dose, &unc);
    // Slices through the hottest voxel, 0 to the maximum dose, with a colour bar.
    let [i, j, k] = dose.argmax().unwrap_or([0, 0, 0]);
    let zoom = (256 / grid.dims().iter().copied().max().unwrap_or(1)).clamp(1, 8);
    for (name, plane, index) in [
        ("dose_axial.png", Plane::Axial, k),
        ("dose_coronal.png", Plane::Coronal, j),
        ("dose_sagittal.png", Plane::Sagittal, i),
    ] {
        png::write_slice(out(name), &dose, plane, index, max, zoom)?;
    }
    let estimator = estimator(sim);
    let summary = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "estimator": estimator,
        "physics": sim.physics,
        "threads": threads,
        "histories": sim.histories,
        "seed": sim.seed,
        "seconds": secs,
        "histories_per_second": sim.histories as f64 / secs,
        "tally": format!("{:?}", sim.tally_kind()),
        "dose_unit": unit,
        "histories_represented": represented,
        "max_dose": max,
        // D0.1%: the minimum dose of the hottest 0.1 % of the voxels with dose (a maximum that
        // one noisy voxel does not set).
        "dose_percentile_99_9": hope::mc::tally::dvh::Dvh::new(&dose, &dose.map(|d| *d > 0.0))
            .map_or(0.0, |dvh| dvh.dose_to_fraction(0.001)),
        "png_colour_bar": { "map": "hot", "from": 0.0, "to": max, "unit": unit },
        "png_slices_through_voxel": [i, j, k],
        "mean_relative_uncertainty_above_half_max": s,
        "efficiency_per_second": if s > 0.0 { 1.0 / (s * s * secs) } else { 0.0 },
        "energy_emitted_ev": result.emitted(),
        "energy_deposited_ev": result.deposited(),
        "energy_escaped_ev": result.escaped(),
        "energy_absorbed_in_sources_ev": result.absorbed_in_sources(),
    });
    hope::core::fs::write_atomic(
        out("summary.json"),
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    println!(
        "{} histories in {secs:.1} s ({:.0}/s); max dose {max:.4e} {unit}; outputs in {}",
        sim.histories,
        sim.histories as f64 / secs,
        out_dir.display()
    );
    println!("estimator: {estimator}");
    Ok(())
}
