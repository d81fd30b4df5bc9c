//! A Monte Carlo simulation split by hope-grid over tasks, in static and dynamic mode, with a
//! failing chunk retried: the merged dose is identical, bit for bit, to a local run.
#![allow(clippy::unwrap_used, missing_docs)]

use hope::grid::{Local, Mode, Plan, WorkDir, Workload, run};
use hope::mc::Simulation;
use hope::workload::SimulationWorkload;

const SIM: &str = r#"
histories = 30000
seed = 11
batch_size = 2000

[phantom]
dims = [16, 16, 16]
spacing_mm = [4.0, 4.0, 4.0]
origin_mm = [-30.0, -30.0, -30.0]
material = "water"

[[phantom.insert]]
material = "cortical_bone_icru44"
min_mm = [-32.0, -32.0, 4.0]
max_mm = [32.0, 32.0, 12.0]

[source]
kind = "point"
position_mm = [0.0, 0.0, 0.0]
energy_kev = 200
"#;

#[test]
fn a_split_simulation_gives_the_local_dose_bit_for_bit() {
    let sim: Simulation = toml::from_str(SIM).unwrap();
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
