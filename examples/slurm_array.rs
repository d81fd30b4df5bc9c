//! A hope-mc simulation as a Slurm job array with hope-grid: a plan of 4 tasks, each array
//! element running `hope worker`, and the merged dose, which equals the local run bit for bit.
//! Needs Slurm (e.g. `scripts/with-services`, which starts a single-node one) and the `hope`
//! binary (`cargo build --release`).
//!
//! ```sh
//! cargo build --release && scripts/with-services cargo run --release --example slurm_array
//! ```
#![allow(clippy::print_stdout)]

use hope_test_support::args as common;

use hope::grid::{JobTemplate, Local, Mode, Plan, Slurm, WorkDir, Workload};
use hope::mc::Simulation;
use hope::workload::SimulationWorkload;
use hope_test_support::ensure;
use hope_test_support::simulation::PointInWater;

/// The simulation file.
fn simulation_text() -> String {
    PointInWater::i125(2_000_000, 7, 100_000, 60, 1.0).toml()
}

fn main() -> hope_test_support::ExampleResult {
    let hope = common::hope_exe().ok_or("build the hope binary first: cargo build --release")?;
    ensure!(
        std::process::Command::new("sbatch")
            .arg("--version")
            .output()
            .is_ok(),
        "no Slurm here (sbatch not found): run through scripts/with-services"
    );
    // The working directory must be on a file system that the nodes share.
    let dir = std::env::current_dir()?.join("out/slurm_array");
    let _ = std::fs::remove_dir_all(&dir);
    let sim: Simulation = toml::from_str(&simulation_text())?;
    let workload = SimulationWorkload::new(&sim, 1)?;
    let plan = Plan::new(workload.batch_count(), 4, 1, Mode::Static)?;
    let work = WorkDir::create(&dir, &plan)?;
    work.write_sealed("simulation.json", &serde_json::to_vec(&sim)?)?;
    let slurm = Slurm::new(hope, &["worker"], JobTemplate::default()).name("hope-example");
    let start = std::time::Instant::now();
    let merged = hope::grid::run(&slurm, &work, &plan, &workload, 3)?;
    println!(
        "4-task array: {} histories merged in {:.1} s",
        merged.histories,
        start.elapsed().as_secs_f64()
    );
    let local_dir = tempfile::tempdir()?;
    let local_work = WorkDir::create(local_dir.path().join("w"), &plan)?;
    let local = hope::grid::run(&Local::new(&workload, 2), &local_work, &plan, &workload, 1)?;
    ensure!(
        merged == local,
        "the array's dose differs from the local run's"
    );
    println!("identical to the local run, bit for bit");
    Ok(())
}
