//! hope-grid on the local Slurm (start one with `scripts/with-services cargo run --release
//! --example grid_bench`): the Slurm executor's overhead per task with an (almost) empty workload,
//! from submission to merged result, and the speed-up of a 2-task array over one local thread on
//! the I-125 benchmark of hope-mc. Needs the `hope` binary built in the same profile
//! (`cargo build --release`).
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use hope_test_support::args as common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use hope::grid::{JobTemplate, Mode, Plan, Slurm, WorkDir, Workload};
use hope::mc::Simulation;
use hope::workload::SimulationWorkload;

fn hope_exe() -> PathBuf {
    common::hope_exe().expect("build the hope binary first: cargo build --release")
}

/// Runs `sim` as `tasks` static Slurm tasks; returns (seconds, merged partial).
fn on_slurm(sim: &Simulation, tasks: u32) -> (f64, hope::mc::Partial) {
    let tmp = tempfile::tempdir().unwrap();
    let workload = SimulationWorkload::new(sim, 1).unwrap();
    let plan = Plan::new(workload.batch_count(), tasks, 1, Mode::Static).unwrap();
    let start = Instant::now();
    let dir = WorkDir::create(tmp.path().join("w"), &plan).unwrap();
    std::fs::write(
        tmp.path().join("w/simulation.json"),
        serde_json::to_vec(&sim.resolved()).unwrap(),
    )
    .unwrap();
    let slurm =
        Slurm::new(hope_exe(), &["worker"], JobTemplate::default()).poll(Duration::from_millis(50));
    let merged = hope::grid::run(&slurm, &dir, &plan, &workload, 3).unwrap();
    (start.elapsed().as_secs_f64(), merged)
}

fn simulation(histories: u64, batch: u64, dims: usize) -> Simulation {
    // Centred: with the default 100 voxels, the origin of -49.5 mm it always had.
    let text =
        hope_test_support::simulation::PointInWater::i125(histories, 1, batch, dims, 1.0).toml();
    toml::from_str(&text).unwrap()
}

fn main() {
    assert!(
        std::env::var_os("SLURM_CONF").is_some(),
        "no Slurm: run through scripts/with-services"
    );
    let reps: usize = common::arg("--reps").map_or(3, |s| s.parse().unwrap());
    println!(
        "Slurm executor overhead (1 history per task, 1-voxel phantom), submission to merged result:"
    );
    for tasks in [1u32, 2, 4, 8] {
        let sim = simulation(u64::from(tasks), 1, 1);
        let t = common::median((0..reps).map(|_| on_slurm(&sim, tasks).0).collect());
        println!(
            "  {tasks} tasks: {t:.2} s ({:.2} s per task)",
            t / f64::from(tasks)
        );
    }
    let histories: u64 = common::arg("--histories").map_or(4_000_000, |s| s.parse().unwrap());
    let sim = simulation(histories, 250_000, 100);
    let workload = SimulationWorkload::new(&sim, 1).unwrap();
    let source = sim.source().unwrap();
    let start = Instant::now();
    let local = workload
        .transport()
        .run(&source, histories, sim.seed, &|_, _| {})
        .unwrap();
    let t_local = start.elapsed().as_secs_f64();
    let (t_slurm, merged) = on_slurm(&sim, 2);
    assert_eq!(
        merged, local,
        "the array's result differs from the local run"
    );
    println!(
        "I-125 point source, {histories} histories in 1 mm water voxels: one local thread {t_local:.2} s, \
         2-task Slurm array {t_slurm:.2} s: speed-up {:.2} (identical result)",
        t_local / t_slurm
    );
    let _ = workload.batch_count();
}
