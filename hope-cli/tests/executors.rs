//! One conformance suite for every executor (local threads, worker processes, Slurm when the
//! test command started one): static and dynamic plans give the local run's dose bit for bit, a
//! chunk held by a vanished task is recovered when its lease ends, and a lost result is
//! recomputed alone when the run resumes. Also: hope-mc partial results merge in any grouping and
//! order (of adjacent ranges) to the same bits.
#![allow(clippy::unwrap_used, clippy::print_stderr, missing_docs)]

use std::sync::OnceLock;
use std::time::Duration;

use hope::grid::{Executor, JobTemplate, Local, Mode, Plan, Process, Slurm, WorkDir, Workload};
use hope::mc::{Partial, Simulation};
use hope::workload::SimulationWorkload;
use hope_test_support::simulation::PointInWater;
use proptest::prelude::*;

/// The simulation file.
fn sim_text() -> String {
    PointInWater {
        energies: "energy_kev = 100",
        ..PointInWater::i125(60_000, 21, 5_000, 16, 3.0)
    }
    .with_bone_slab(25.0, 6.0, 12.0)
    .toml()
}

struct Case {
    sim: Simulation,
    workload: SimulationWorkload,
    local: Partial,
}

fn case() -> &'static Case {
    static CASE: OnceLock<Case> = OnceLock::new();
    CASE.get_or_init(|| {
        let sim: Simulation = toml::from_str(&sim_text()).unwrap();
        let workload = SimulationWorkload::new(&sim, 1).unwrap();
        let local = workload
            .transport()
            .run(&sim.source().unwrap(), sim.histories, sim.seed, &|_, _| {})
            .unwrap();
        Case {
            sim,
            workload,
            local,
        }
    })
}

/// A working directory for `plan` with the simulation stored for workers.
fn prepare(tmp: &std::path::Path, plan: &Plan) -> WorkDir {
    let dir = WorkDir::create(tmp, plan).unwrap();
    dir.write_sealed(
        "simulation.json",
        &serde_json::to_vec(&case().sim.resolved()).unwrap(),
    )
    .unwrap();
    dir
}

/// The suite, for one executor.
fn conformance(name: &str, executor: &dyn Executor) {
    let c = case();
    let batches = c.workload.batch_count();
    // Static and dynamic plans.
    for (mode, tasks, per_task) in [(Mode::Static, 2, 1), (Mode::Dynamic, 3, 2)] {
        let tmp = tempfile::tempdir().unwrap();
        let plan = Plan::new(batches, tasks, per_task, mode).unwrap();
        let dir = prepare(tmp.path(), &plan);
        let merged = hope::grid::run(executor, &dir, &plan, &c.workload, 3).unwrap();
        assert!(merged == c.local, "{name}, {mode:?}: result differs");
        // A lost result is recomputed alone when the run resumes.
        std::fs::remove_file(tmp.path().join("checkpoint.part")).unwrap();
        std::fs::remove_file(tmp.path().join("partials/1.part")).unwrap();
        let merged = hope::grid::run(executor, &dir, &plan, &c.workload, 3).unwrap();
        assert!(
            merged == c.local,
            "{name}, {mode:?}, resumed: result differs"
        );
        assert_eq!(dir.ledger().unwrap().chunks[1].attempts, 2, "{name}");
        assert!(
            dir.ledger()
                .unwrap()
                .chunks
                .iter()
                .enumerate()
                .all(|(i, ch)| i == 1 || ch.attempts == 1)
        );
    }
    // A chunk held by a task that vanished comes back when its lease ends.
    let tmp = tempfile::tempdir().unwrap();
    let plan = Plan::dynamic(batches, 2, 2)
        .unwrap()
        .with_lease(1.0)
        .unwrap();
    let dir = prepare(tmp.path(), &plan);
    let held = dir.claim(&plan, 77).unwrap().unwrap();
    let merged = hope::grid::run(executor, &dir, &plan, &c.workload, 4).unwrap();
    assert!(merged == c.local, "{name}, vanished task: result differs");
    assert_eq!(dir.ledger().unwrap().chunks[held].attempts, 2, "{name}");
}

#[test]
fn local_executor_conforms() {
    conformance("local", &Local::new(&case().workload, 2));
}

#[test]
fn process_executor_conforms() {
    conformance(
        "process",
        &Process::new(env!("CARGO_BIN_EXE_hope"), &["worker"], 2),
    );
}

#[test]
fn slurm_executor_conforms() {
    if std::env::var_os("HOPE_TEST_SLURM").is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "no Slurm for the tests (required under CI=true)"
        );
        eprintln!("skipped: no Slurm (run scripts/test to start one)");
        return;
    }
    let slurm = Slurm::new(
        env!("CARGO_BIN_EXE_hope"),
        &["worker"],
        JobTemplate::default(),
    )
    .poll(Duration::from_millis(100))
    .name("hope-conformance");
    conformance("slurm", &slurm);
}

/// Per-batch partial results of the case, computed once.
fn per_batch() -> &'static Vec<Partial> {
    static P: OnceLock<Vec<Partial>> = OnceLock::new();
    P.get_or_init(|| {
        let c = case();
        (0..c.workload.batch_count())
            .map(|b| c.workload.run(b..b + 1).unwrap())
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn mc_partials_merge_in_any_grouping_and_order(choices in proptest::collection::vec(any::<u32>(), 12)) {
        let mut pieces: Vec<Partial> = per_batch().clone();
        let mut k = 0;
        while pieces.len() > 1 {
            let r = choices[k % choices.len()];
            k += 1;
            let i = (r as usize) % (pieces.len() - 1);
            let b = pieces.remove(i + 1);
            let a = pieces.remove(i);
            // Either order.
            let m = if r & (1 << 20) == 0 { a.merge(&b).unwrap() } else { b.merge(&a).unwrap() };
            pieces.insert(i, m);
        }
        prop_assert!(pieces[0] == case().local);
    }
}
