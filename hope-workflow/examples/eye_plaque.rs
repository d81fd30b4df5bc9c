//! The flagship workflow: eye-plaque brachytherapy dosimetry from a head CT to dose images,
//! through every HOPE-rs crate (see `hope_workflow::eye_plaque` for the steps).
//!
//! ```sh
//! cargo run --release --example eye_plaque                        # synthetic head, local executor
//! cargo run --release --example eye_plaque -- --histories 4000000 # quicker, noisier
//! cargo run --release --example eye_plaque -- --ct DICOM_DIR      # a CT of your own, with an RT
//!                                                                 # Structure Set in it (globe and
//!                                                                 # tumour ROIs), tilted or not
//! cargo run --release --example eye_plaque -- --plaque coms-14 --seed-model theraseed-200
//! cargo build --release && cargo run --release --example eye_plaque -- --executor slurm
//! ```
//!
//! Options: `--out DIR` (default `out/eye_plaque`), `--histories N`, `--seed N`, `--threads N`,
//! `--executor local|slurm`, `--ct DIR`, `--structure-set FILE` (when not in the CT's folder),
//! `--plaque coms-10|coms-12|...|coms-24` (default coms-16), `--seed-model 6711|theraseed-200|
//! best-2301|isoseed-i25.s06|thinseed-9011|isostar-is-12501`, and for a CT without a structure set
//! `--eye-centre X,Y,Z` and `--plaque-axis X,Y,Z` (mm, patient coordinates). The last line names
//! the folder with the results.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use hope_test_support::args as common;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use hope::core::Vec3;
use hope_workflow::eye_plaque::{ExecutorChoice, Options, run};

fn vec3(name: &str) -> anyhow::Result<Option<Vec3>> {
    let Some(text) = common::arg(name) else {
        return Ok(None);
    };
    let v: Vec<f64> = text
        .split(',')
        .map(|x| x.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("{name} {text}: expected three numbers, x,y,z in mm"))?;
    match v.as_slice() {
        [x, y, z] => Ok(Some(Vec3::new(*x, *y, *z))),
        _ => bail!("{name} {text}: expected three numbers, x,y,z in mm"),
    }
}

fn main() -> anyhow::Result<()> {
    let start = Instant::now();
    let out = common::arg("--out").map_or_else(|| PathBuf::from("out/eye_plaque"), PathBuf::from);
    let mut options = Options::new(&out);
    if let Some(n) = common::arg("--histories") {
        options = options.histories(
            n.parse()
                .with_context(|| format!("--histories {n}: expected a whole number"))?,
        );
    }
    if let Some(s) = common::arg("--seed") {
        options.seed = s
            .parse()
            .with_context(|| format!("--seed {s}: expected a whole number"))?;
    }
    if let Some(t) = common::arg("--threads") {
        options.threads = t
            .parse()
            .with_context(|| format!("--threads {t}: expected a whole number"))?;
    }
    options.ct_dir = common::arg("--ct").map(PathBuf::from);
    options.structure_set = common::arg("--structure-set").map(PathBuf::from);
    if let Some(p) = common::arg("--plaque") {
        if !hope::mc::source::plaque::Plaque::names().any(|n| n == p) {
            bail!(
                "--plaque {p}: expected one of {}",
                hope::mc::source::plaque::Plaque::names()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        options.plaque = p;
    }
    if let Some(m) = common::arg("--seed-model") {
        options.seed_model =
            hope::mc::simulation::SeedModelName::from_name(&m).with_context(|| {
                format!(
                    "--seed-model {m}: expected one of {}",
                    hope::mc::source::SEED_MODELS.map(|s| s.0).join(", ")
                )
            })?;
    }
    if let Some(c) = vec3("--eye-centre")? {
        options.head.eye_centre = c;
    }
    if let Some(a) = vec3("--plaque-axis")? {
        options.head.plaque_axis = a
            .normalized()
            .context("--plaque-axis: expected a non-zero vector")?;
    }
    match common::arg("--executor").as_deref() {
        None | Some("local") => {}
        Some("slurm") => {
            // `hope worker` runs each array element: the hope binary next to this example.
            let hope = common::hope_exe().context(
                "--executor slurm needs the hope binary: run `cargo build --release` first",
            )?;
            options.executor = ExecutorChoice::Slurm { hope };
        }
        Some(other) => bail!("--executor {other}: expected local or slurm"),
    }
    println!(
        "HOPE-rs eye-plaque dosimetry: {} histories",
        options.histories
    );
    let bar = indicatif::ProgressBar::hidden();
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "   [{bar:40}] {pos}/{len} chunks {elapsed_precise} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    let outcome = run(
        &options,
        &|line| bar.suspend(|| println!("{line}")),
        &|done, total| {
            if bar.is_hidden() && done < total {
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            }
            bar.set_length(total);
            bar.set_position(done);
            if done >= total {
                bar.finish_and_clear();
            }
        },
    )?;
    println!(
        "apex dose {:.1} Gy +- {:.2} % (1 sigma); water only {:.1} Gy (ratio {:.3}); {:.2} U per seed",
        outcome.apex_dose_gy,
        100.0 * outcome.apex_uncertainty,
        outcome.apex_water_gy,
        outcome.apex_dose_gy / outcome.apex_water_gy,
        outcome.air_kerma_strength_u
    );
    println!(
        "hottest voxel {:.1} mm from a seed centre; {:.0} histories/s; total {:.1} s",
        outcome.hottest.1,
        outcome.histories_per_second,
        start.elapsed().as_secs_f64()
    );
    println!("report {}", outcome.report.display());
    println!("outputs in {}", outcome.out.display());
    Ok(())
}
