//! hope-grid on a real single-node Slurm (started by scripts/test; under CI=true its absence is a
//! failure, elsewhere these tests say they are skipped): a job array gives the local dose bit for
//! bit, an array element cancelled mid-run (scancel) is resubmitted with the same result, and in
//! dynamic mode tasks of different speeds do every chunk exactly once.
#![allow(clippy::unwrap_used, clippy::print_stderr, missing_docs)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::hope;
use hope::core::{Volume, metaimage};
use hope::grid::{JobTemplate, Mode, Plan, Slurm, WorkDir, Workload};
use hope::mc::Simulation;
use hope::workload::SimulationWorkload;
use hope_test_support::simulation::PointInWater;

/// The simulation file.
fn sim_text() -> String {
    PointInWater::i125(480_000, 8, 40_000, 24, 2.5).toml()
}

fn slurm_available() -> bool {
    if std::env::var_os("HOPE_TEST_SLURM").is_some() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "no Slurm for the tests (scripts/test starts one; required under CI=true)"
    );
    eprintln!("skipped: no Slurm (run scripts/test to start one)");
    false
}

fn dose(path: &std::path::Path) -> Vec<f32> {
    let v: Volume<f32> = metaimage::read(path).unwrap();
    v.data().to_vec()
}

#[test]
fn a_job_array_gives_the_local_dose_bit_for_bit() {
    if !slurm_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("sim.toml"), sim_text()).unwrap();
    let o = hope(tmp.path(), &["simulate", "sim.toml", "--out", "ref"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = hope(
        tmp.path(),
        &[
            "run",
            "sim.toml",
            "--dir",
            "w",
            "--executor",
            "slurm",
            "--tasks",
            "3",
            "--chunks-per-task",
            "2",
            "--time",
            "00:10:00",
            "--mem",
            "500M",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        dose(&tmp.path().join("w/result/kerma.mha")),
        dose(&tmp.path().join("ref/kerma.mha"))
    );
    let script = std::fs::read_to_string(tmp.path().join("w/job.sh")).unwrap();
    assert!(script.contains("#SBATCH --time=00:10:00") && script.contains("#SBATCH --mem=500M"));
    assert!(
        !std::fs::read_to_string(tmp.path().join("w/slurm-jobs.txt"))
            .unwrap()
            .is_empty()
    );
}

/// Prepares a working directory for `plan` with the simulation copied in.
fn prepare(tmp: &std::path::Path, plan: &Plan) -> (Simulation, SimulationWorkload, WorkDir) {
    std::fs::write(tmp.join("sim.toml"), sim_text()).unwrap();
    let sim = Simulation::from_file(&tmp.join("sim.toml")).unwrap();
    let workload = SimulationWorkload::new(&sim, 1).unwrap();
    let dir = WorkDir::create(tmp.join("work"), plan).unwrap();
    dir.write_sealed(
        "simulation.json",
        &serde_json::to_vec(&sim.resolved()).unwrap(),
    )
    .unwrap();
    (sim, workload, dir)
}

#[test]
fn a_cancelled_array_element_is_resubmitted_and_the_result_is_the_same() {
    if !slurm_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let plan = Plan::new(12, 2, 1, Mode::Static)
        .unwrap()
        .with_lease(1.0)
        .unwrap();
    let (sim, workload, dir) = prepare(tmp.path(), &plan);
    let local = workload
        .transport()
        .run(&sim.source().unwrap(), sim.histories, sim.seed, &|_, _| {})
        .unwrap();
    // Cancel element 1 of the first array as soon as it runs.
    let cancel = std::thread::spawn(|| {
        for _ in 0..600 {
            let out = Command::new("squeue")
                .args([
                    "-h",
                    "-r",
                    "-t",
                    "RUNNING",
                    "-n",
                    "hope-cancel-test",
                    "-o",
                    "%i",
                ])
                .output()
                .unwrap();
            let running = String::from_utf8_lossy(&out.stdout).to_string();
            if let Some(id) = running.lines().find(|l| l.trim().ends_with("_1")) {
                std::thread::sleep(Duration::from_millis(150));
                Slurm::cancel(id.trim()).unwrap();
                return id.trim().to_string();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("element 1 never ran");
    });
    let exe = env!("CARGO_BIN_EXE_hope");
    let slurm = Slurm::new(exe, &["worker"], JobTemplate::default())
        .poll(Duration::from_millis(200))
        .name("hope-cancel-test");
    let merged = hope::grid::run(&slurm, &dir, &plan, &workload, 5).unwrap();
    let cancelled = cancel.join().unwrap();
    eprintln!("cancelled {cancelled}");
    assert_eq!(merged, local);
    let jobs = std::fs::read_to_string(tmp.path().join("work/slurm-jobs.txt")).unwrap();
    assert!(jobs.lines().count() >= 2, "no resubmission: {jobs}");
}

#[test]
fn dynamic_tasks_of_different_speeds_do_every_chunk_exactly_once() {
    if !slurm_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let plan = Plan::dynamic(12, 3, 4).unwrap();
    let (sim, workload, dir) = prepare(tmp.path(), &plan);
    let local = workload
        .transport()
        .run(&sim.source().unwrap(), sim.histories, sim.seed, &|_, _| {})
        .unwrap();
    // Task 0 runs on two threads, the others on one, and task 2 starts late.
    let wrapper = tmp.path().join("worker.sh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\ncase \"$SLURM_ARRAY_TASK_ID\" in\n  0) exec {0} worker --threads 2 \"$@\";;\n  2) sleep 1; exec {0} worker \"$@\";;\n  *) exec {0} worker \"$@\";;\nesac\n",
            env!("CARGO_BIN_EXE_hope")
        ),
    )
    .unwrap();
    let slurm = Slurm::new(
        "/bin/sh",
        &[wrapper.to_str().unwrap()],
        JobTemplate::default(),
    )
    .poll(Duration::from_millis(200));
    let merged = hope::grid::run(&slurm, &dir, &plan, &workload, 2).unwrap();
    assert_eq!(merged, local);
    let ledger = dir.ledger().unwrap();
    assert!(ledger.chunks.iter().all(|c| c.attempts == 1), "{ledger:?}");
    assert_eq!(ledger.done(), 12);
    assert_eq!(workload.batch_count(), 12);
}

#[test]
fn the_eye_plaque_workflow_runs_on_slurm_with_the_local_dose() {
    if !slurm_available() {
        return;
    }
    use hope_workflow::eye_plaque::{ExecutorChoice, Options, run};
    let tmp = tempfile::tempdir().unwrap();
    let mut outcomes = Vec::new();
    for (name, executor) in [
        ("local", ExecutorChoice::Local),
        (
            "slurm",
            ExecutorChoice::Slurm {
                hope: env!("CARGO_BIN_EXE_hope").into(),
            },
        ),
    ] {
        let mut options = Options::new(tmp.path().join(name)).histories(500_000);
        options.executor = executor;
        options.threads = 2;
        outcomes.push(run(&options, &|_| {}, &|_, _| {}).unwrap());
    }
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("slurm/job/job.json")).unwrap())
            .unwrap();
    assert_eq!(record["executor"], "slurm");
    assert_eq!(record["status"], "finished");
    // (The workflow names its dose dose.mha: absolute dose in Gy from the prescription.)
    for f in ["dose.mha", "uncertainty.mha"] {
        let (a, b) = (
            dose(&tmp.path().join("local/result").join(f)),
            dose(&tmp.path().join("slurm/result").join(f)),
        );
        assert_eq!(a.len(), b.len());
        let differing = a
            .iter()
            .zip(&b)
            .filter(|(x, y)| x.to_bits() != y.to_bits())
            .count();
        assert_eq!(differing, 0, "{f}: {differing} voxels differ");
    }
    assert_eq!(
        outcomes[0].air_kerma_strength_u,
        outcomes[1].air_kerma_strength_u
    );
}

/// Issue 27 item 12: working directories containing `'`, `"`, `%`, `\`, `#` or spaces made sbatch
/// refuse the script, made every element fail with logs pointing at an empty directory, or cut
/// the `--output` path. The name and the logs now go to sbatch as arguments, the logs relative to
/// the run's directory.
#[test]
fn item_12_working_directories_with_any_characters_run_on_slurm() {
    if !slurm_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("sim.toml"),
        sim_text().replace("histories = 480000", "histories = 80000"),
    )
    .unwrap();
    let weird = "w it's \"quoted\" 100% a\\b #1";
    let o = hope(
        tmp.path(),
        &[
            "run",
            "sim.toml",
            "--dir",
            weird,
            "--executor",
            "slurm",
            "--tasks",
            "2",
            "--time",
            "00:10:00",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dir = tmp.path().join(weird);
    assert!(dir.join("result/kerma.mha").is_file());
    let logs: Vec<_> = std::fs::read_dir(dir.join("logs"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(
        logs.len(),
        2,
        "one log per array element, in the run's own logs folder"
    );
}
