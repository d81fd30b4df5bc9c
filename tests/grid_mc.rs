//! A Monte Carlo simulation split by hope-grid over tasks, in static and dynamic mode, with a
//! failing chunk retried: the merged dose is identical, bit for bit, to a local run.
#![allow(clippy::unwrap_used, missing_docs)]

use hope::grid::{Local, Mode, Plan, WorkDir, Workload, run};
use hope::mc::Simulation;
use hope::workload::SimulationWorkload;
use hope_test_support::simulation::PointInWater;

/// The simulation file.
fn sim_text() -> String {
    PointInWater {
        energies: "energy_kev = 200",
        ..PointInWater::i125(30_000, 11, 2_000, 16, 4.0)
    }
    .with_bone_slab(32.0, 4.0, 12.0)
    .toml()
}

#[test]
fn a_split_simulation_gives_the_local_dose_bit_for_bit() {
    let sim: Simulation = toml::from_str(&sim_text()).unwrap();
    sim.validate().unwrap();
    let workload = SimulationWorkload::new(&sim, 1).unwrap();
    assert_eq!(workload.batch_count(), 15);
    let source = sim.source().unwrap();
    let local = workload
        .transport()
        .run(&source, sim.histories, sim.seed, &|_, _| {})
        .unwrap();
    for (mode, tasks, per_task) in [(Mode::Static, 4, 1), (Mode::Dynamic, 3, 2)] {
        let tmp = tempfile::tempdir().unwrap();
        let plan = Plan::new(workload.batch_count(), tasks, per_task, mode).unwrap();
        let dir = WorkDir::create(tmp.path(), &plan).unwrap();
        let merged = run(&Local::new(&workload, 2), &dir, &plan, &workload, 3).unwrap();
        assert_eq!(merged, local, "{mode:?}");
    }
}
