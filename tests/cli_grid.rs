//! `hope run` and `hope worker`: a simulation split into worker processes gives the same dose as
//! `hope simulate`, bit for bit, also when a worker is killed in the middle of a chunk (its lease
//! ends, the chunk is claimed again).
#![cfg(feature = "cli")]
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::hope;
use hope::core::{Volume, metaimage};
use hope::grid::{Mode, Plan, Process, WorkDir, Workload};
use hope::mc::Simulation;
use hope::workload::SimulationWorkload;

const SIM: &str = r#"
histories = 120000
seed = 4
batch_size = 10000

[phantom]
dims = [24, 24, 24]
spacing_mm = [2.5, 2.5, 2.5]
origin_mm = [-28.75, -28.75, -28.75]
material = "water"

[[phantom.insert]]
material = "cortical_bone_icru44"
shape = "sphere"
centre_mm = [10.0, 0.0, 0.0]
radius_mm = 6.0

[source]
kind = "point"
position_mm = [0.0, 0.0, 0.0]
radionuclide = "I-125"
"#;

fn dose(path: &std::path::Path) -> Vec<f32> {
    let v: Volume<f32> = metaimage::read(path).unwrap();
    v.data().to_vec()
}

#[test]
fn worker_processes_give_the_local_dose_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("sim.toml"), SIM).unwrap();
    let o = hope(tmp.path(), &["simulate", "sim.toml", "--out", "ref"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let want = dose(&tmp.path().join("ref/dose.mha"));
    for (mode, tasks) in [("dynamic", "3"), ("static", "2")] {
        let dir = format!("w-{mode}");
        let o = hope(
            tmp.path(),
            &[
                "run",
                "sim.toml",
                "--dir",
                &dir,
                "--executor",
                "process",
                "--tasks",
                tasks,
                "--mode",
                mode,
                "--chunks-per-task",
                "2",
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(
            dose(&tmp.path().join(&dir).join("result/dose.mha")),
            want,
            "{mode}"
        );
        let ledger = WorkDir::open(tmp.path().join(&dir))
            .unwrap()
            .ledger()
            .unwrap();
        assert_eq!(ledger.done(), ledger.chunks.len());
    }
    // Running again resumes: nothing left to do, the same result.
    let o = hope(
        tmp.path(),
        &[
            "run",
            "sim.toml",
            "--dir",
            "w-dynamic",
            "--executor",
            "process",
            "--tasks",
            "3",
            "--chunks-per-task",
            "2",
            "--out",
            "again",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(dose(&tmp.path().join("again/dose.mha")), want);
    // The job table lists both runs, finished, with all chunks done.
    let o = hope(tmp.path(), &["jobs", "--root", "."]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(table.matches("finished").count(), 2, "{table}");
    assert!(table.contains("6/6") && table.contains("2/2"), "{table}");
    let o = hope(tmp.path(), &["jobs", "w-dynamic"]);
    let detail = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        detail.contains("task 0:") && detail.contains("chunk 5:"),
        "{detail}"
    );
    // Merging needs only the checkpoint once it covers everything.
    let o = hope(tmp.path(), &["merge", "--dir", "w-static", "--out", "c"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(dose(&tmp.path().join("c/dose.mha")), want);
    // A lost result (and checkpoint): merging refuses, resuming recomputes it, merging then
    // gives the same dose.
    std::fs::remove_file(tmp.path().join("w-static/partials/1.part")).unwrap();
    std::fs::remove_file(tmp.path().join("w-static/checkpoint.part")).unwrap();
    let o = hope(tmp.path(), &["merge", "--dir", "w-static", "--out", "m"]);
    assert!(!o.status.success());
    let o = hope(
        tmp.path(),
        &[
            "run",
            "--resume",
            "--dir",
            "w-static",
            "--executor",
            "process",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = hope(tmp.path(), &["merge", "--dir", "w-static", "--out", "m"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(dose(&tmp.path().join("m/dose.mha")), want);
    // A different plan in the same directory is refused.
    let o = hope(
        tmp.path(),
        &["run", "sim.toml", "--dir", "w-dynamic", "--tasks", "5"],
    );
    assert!(!o.status.success());
}

#[test]
fn a_worker_killed_mid_chunk_is_replaced_and_the_result_is_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    // Chunks of 160,000 histories: a worker is still busy with its first when it is killed.
    let sim = SIM
        .replace("histories = 120000", "histories = 480000")
        .replace("batch_size = 10000", "batch_size = 40000");
    std::fs::write(tmp.path().join("sim.toml"), sim).unwrap();
    let sim = Simulation::from_file(&tmp.path().join("sim.toml")).unwrap();
    let workload = SimulationWorkload::new(&sim, 1).unwrap();
    let local = workload
        .transport()
        .run(&sim.source().unwrap(), sim.histories, sim.seed, &|_, _| {})
        .unwrap();
    // A plan of 3 chunks for 2 tasks with a 1.5 s lease.
    let plan = Plan::new(workload.batch_count(), 2, 1, Mode::Dynamic)
        .unwrap()
        .with_lease(1.5)
        .unwrap();
    let work = tmp.path().join("work");
    let dir = WorkDir::create(&work, &plan).unwrap();
    std::fs::write(
        work.join("simulation.json"),
        serde_json::to_vec(&sim.resolved()).unwrap(),
    )
    .unwrap();
    // The first worker started is killed (SIGKILL) shortly after it claims its chunk.
    let wrapper = tmp.path().join("worker.sh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nif mkdir {0}/killed 2>/dev/null; then\n  exec timeout -s KILL 0.3 {1} worker \"$@\"\nfi\nexec {1} worker \"$@\"\n",
            tmp.path().display(),
            env!("CARGO_BIN_EXE_hope")
        ),
    )
    .unwrap();
    let process = Process::new("sh", &[wrapper.to_str().unwrap()], 2);
    let merged = hope::grid::run(&process, &dir, &plan, &workload, 5).unwrap();
    assert!(tmp.path().join("killed").exists());
    assert_eq!(merged, local);
    let ledger = dir.ledger().unwrap();
    assert!(
        ledger.chunks.iter().any(|c| c.attempts >= 2),
        "no chunk was claimed twice: {ledger:?}"
    );
}
