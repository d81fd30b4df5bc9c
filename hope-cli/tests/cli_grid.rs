//! `hope run` and `hope worker`: a simulation split into worker processes gives the same dose as
//! `hope simulate`, bit for bit, also when a worker is killed in the middle of a chunk (its lease
//! ends, the chunk is claimed again).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::hope;
use hope::core::{Volume, metaimage};
use hope::grid::{Mode, Plan, Process, WorkDir, Workload};
use hope::mc::Simulation;
use hope::workload::SimulationWorkload;
use hope_test_support::simulation::PointInWater;

/// The simulation file.
fn sim_text() -> String {
    PointInWater::i125(120_000, 4, 10_000, 24, 2.5)
        .with_bone_sphere([10.0, 0.0, 0.0], 6.0)
        .toml()
}

fn dose(path: &std::path::Path) -> Vec<f32> {
    let v: Volume<f32> = metaimage::read(path).unwrap();
    v.data().to_vec()
}

#[test]
fn worker_processes_give_the_local_dose_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("sim.toml"), sim_text()).unwrap();
    let o = hope(tmp.path(), &["simulate", "sim.toml", "--out", "ref"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let want = dose(&tmp.path().join("ref/kerma.mha"));
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
            dose(&tmp.path().join(&dir).join("result/kerma.mha")),
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
    assert_eq!(dose(&tmp.path().join("again/kerma.mha")), want);
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
    assert_eq!(dose(&tmp.path().join("c/kerma.mha")), want);
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
    assert_eq!(dose(&tmp.path().join("m/kerma.mha")), want);
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
    let sim = PointInWater {
        histories: 480_000,
        batch_size: 40_000,
        ..PointInWater::i125(0, 4, 0, 24, 2.5)
    }
    .with_bone_sphere([10.0, 0.0, 0.0], 6.0)
    .toml();
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
    dir.write_sealed(
        "simulation.json",
        &serde_json::to_vec(&sim.resolved()).unwrap(),
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

/// A small run for the integrity tests: 4 batches in 2 chunks.
fn small_sim(seed: u32, dims: u32) -> String {
    PointInWater::i125(8000, u64::from(seed), 2000, dims as usize, 2.5).toml()
}

fn run_small(tmp: &std::path::Path, file: &str, dir: &str) {
    let o = common::hope_within(
        tmp,
        300,
        &[
            "run", file, "--dir", dir, "--tasks", "2", "--mode", "static",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Issue 27 item 1: partials of another simulation with the same plan, or of another grid, are
/// never merged (they gave a wrong dose or an all-zero dose with exit status 0); the run is
/// recomputed from its own results and the dose is the true one.
#[test]
fn item_01_partials_of_another_simulation_or_grid_are_never_merged() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    std::fs::write(t.join("a.toml"), small_sim(4, 12)).unwrap();
    std::fs::write(t.join("b.toml"), small_sim(5, 12)).unwrap();
    std::fs::write(t.join("c.toml"), small_sim(4, 10)).unwrap();
    for (f, d) in [("a.toml", "a"), ("b.toml", "b"), ("c.toml", "c")] {
        run_small(t, f, d);
    }
    let want = dose(&t.join("a/result/kerma.mha"));
    for other in ["b", "c"] {
        for i in 0..2 {
            std::fs::copy(
                t.join(format!("{other}/partials/{i}.part")),
                t.join(format!("a/partials/{i}.part")),
            )
            .unwrap();
        }
        std::fs::copy(
            t.join(format!("{other}/checkpoint.part")),
            t.join("a/checkpoint.part"),
        )
        .unwrap();
        let o = common::hope_within(t, 120, &["merge", "--dir", "a", "--out", "m"]);
        common::failed_cleanly(&o, "chunks without a result");
        assert!(!t.join("m/kerma.mha").exists(), "nothing written");
        let o = common::hope_within(t, 300, &["run", "--resume", "--dir", "a"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(
            dose(&t.join("a/result/kerma.mha")),
            want,
            "after {other}'s partials"
        );
    }
}

/// Issue 27 item 3: a ledger one chunk too long hung `hope run --resume` (local executor) or
/// exited 101 (process executor); one chunk too short exited 101.
#[test]
fn item_03_a_ledger_of_the_wrong_length_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    std::fs::write(t.join("a.toml"), small_sim(4, 8)).unwrap();
    run_small(t, "a.toml", "a");
    let ledger = std::fs::read_to_string(t.join("a/ledger.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&ledger).unwrap();
    let entry = r#"{"state":"pending","attempts":0,"last_error":null}"#;
    let longer = format!(
        "{{\"chunks\":[{},{},{entry}]}}",
        v["chunks"][0], v["chunks"][1]
    );
    let shorter = format!("{{\"chunks\":[{}]}}", v["chunks"][0]);
    for (what, json) in [("3 chunks", longer), ("1 chunks", shorter)] {
        std::fs::write(t.join("a/ledger.json"), &json).unwrap();
        for executor in ["local", "process"] {
            let o = common::hope_within(
                t,
                120,
                &["run", "--resume", "--dir", "a", "--executor", executor],
            );
            let err = common::failed_cleanly(&o, "ledger.json");
            assert!(err.contains(what), "{executor}: {err}");
        }
        let o = common::hope_within(t, 60, &["worker", "--dir", "a", "--task", "0"]);
        common::failed_cleanly(&o, "ledger.json");
        let o = common::hope_within(t, 60, &["merge", "--dir", "a"]);
        common::failed_cleanly(&o, "ledger.json");
    }
}

/// Issue 27 item 11: `hope jobs` failed as a whole when one run directory was damaged or foreign,
/// or when `ledger.lock` was not writable by the caller.
#[test]
fn item_11_jobs_lists_what_it_can_read_and_marks_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    std::fs::write(t.join("a.toml"), small_sim(4, 6)).unwrap();
    run_small(t, "a.toml", "runs/good");
    run_small(t, "a.toml", "runs/damaged");
    run_small(t, "a.toml", "runs/foreign");
    std::fs::write(t.join("runs/damaged/job.json"), b"{ not json").unwrap();
    std::fs::write(
        t.join("runs/foreign/plan.json"),
        b"{\"something\": \"else\"}",
    )
    .unwrap();
    // A run the caller may read but not lock: ledger.lock is a directory here.
    run_small(t, "a.toml", "runs/locked");
    std::fs::remove_file(t.join("runs/locked/ledger.lock")).unwrap();
    std::fs::create_dir(t.join("runs/locked/ledger.lock")).unwrap();
    let o = common::hope_within(t, 60, &["jobs", "--root", "runs"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(table.matches("finished").count(), 2, "{table}");
    assert_eq!(table.matches("unreadable").count(), 2, "{table}");
    assert!(
        table.contains("damaged") && table.contains("foreign") && table.contains("locked"),
        "{table}"
    );
    let o = common::hope_within(t, 60, &["jobs", "runs/locked"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Attack round on issue 27, finding C-1: `simulation.json` of a run directory was not bound to the
/// run: edited to another tally and an `absolute` section after the run, `hope merge` and
/// `hope run --resume` wrote a dose of 4.95e5 Gy instead of 2.27e-12 Gy per history, exit 0. The
/// file is now sealed with the run key; a changed one is refused, and nothing is written.
#[test]
fn attack_c01_an_edited_simulation_json_is_refused_never_merged() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    std::fs::write(t.join("a.toml"), small_sim(4, 8)).unwrap();
    run_small(t, "a.toml", "a");
    let path = t.join("a/simulation.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["absolute"] = serde_json::json!({"activity_bq": 3.7e10, "time_h": 1000.0});
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    for args in [
        vec!["merge", "--dir", "a", "--out", "m"],
        vec!["run", "--resume", "--dir", "a", "--out", "r"],
        vec!["worker", "--dir", "a", "--task", "0"],
    ] {
        let o = common::hope_within(t, 120, &args);
        common::failed_cleanly(&o, "simulation.json");
    }
    assert!(!t.join("m").exists() && !t.join("r").exists());
    // A run started again over it with the original file is refused too (not silently reused).
    let o = common::hope_within(
        t,
        120,
        &[
            "run", "a.toml", "--dir", "a", "--tasks", "2", "--mode", "static",
        ],
    );
    common::failed_cleanly(&o, "simulation.json");
    // Put back as it was: accepted again.
    std::fs::write(&path, text).unwrap();
    let o = common::hope_within(t, 120, &["merge", "--dir", "a", "--out", "m"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Findings C-2, C-3 and C-7: a FIFO or a link to /dev/zero planted as `simulation.json`, a FIFO
/// as `ledger.lock` or as a task's log hung `hope run`, `merge` and `worker`, or grew memory
/// without bound.
#[cfg(unix)]
#[test]
fn attack_c02_c03_c07_fifos_and_devices_planted_in_a_run_directory_never_hang() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    std::fs::write(t.join("a.toml"), small_sim(4, 6)).unwrap();
    let mkfifo = |p: &std::path::Path| {
        assert!(
            std::process::Command::new("mkfifo")
                .arg(p)
                .status()
                .unwrap()
                .success()
        );
    };
    // simulation.json as a FIFO, then as a link to /dev/zero, in a new run directory.
    for planted in ["fifo", "zero"] {
        let d = t.join(format!("s-{planted}"));
        std::fs::create_dir_all(&d).unwrap();
        run_small(t, "a.toml", &format!("s-{planted}"));
        let sim = d.join("simulation.json");
        std::fs::remove_file(&sim).unwrap();
        if planted == "fifo" {
            mkfifo(&sim);
        } else {
            std::os::unix::fs::symlink("/dev/zero", &sim).unwrap();
        }
        let name = format!("s-{planted}");
        let o = common::hope_within(
            t,
            60,
            &[
                "run", "a.toml", "--dir", &name, "--tasks", "2", "--mode", "static",
            ],
        );
        common::failed_cleanly(&o, "not a regular file");
        let o = common::hope_within(t, 60, &["merge", "--dir", &format!("s-{planted}")]);
        common::failed_cleanly(&o, "not a regular file");
    }
    // ledger.lock as a FIFO.
    run_small(t, "a.toml", "l");
    std::fs::remove_file(t.join("l/ledger.lock")).unwrap();
    mkfifo(&t.join("l/ledger.lock"));
    for args in [
        vec!["run", "--resume", "--dir", "l"],
        vec!["merge", "--dir", "l"],
        vec!["worker", "--dir", "l", "--task", "0"],
    ] {
        let o = common::hope_within(t, 60, &args);
        common::failed_cleanly(&o, "ledger.lock");
    }
    // A task's log as a FIFO, and as a link to a file elsewhere: the process executor replaces
    // them and never writes through the link.
    std::fs::write(t.join("b.toml"), small_sim(5, 6)).unwrap();
    let o = common::hope_within(
        t,
        120,
        &[
            "run",
            "b.toml",
            "--dir",
            "p",
            "--tasks",
            "2",
            "--executor",
            "process",
            "--max-rounds",
            "1",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::write(t.join("c.toml"), small_sim(6, 6)).unwrap();
    std::fs::create_dir_all(t.join("q/logs")).unwrap();
    mkfifo(&t.join("q/logs/task-0.log"));
    std::fs::write(t.join("victim"), b"precious\n").unwrap();
    std::os::unix::fs::symlink(t.join("victim"), t.join("q/logs/task-1.log")).unwrap();
    let o = common::hope_within(
        t,
        120,
        &[
            "run",
            "c.toml",
            "--dir",
            "q",
            "--tasks",
            "2",
            "--executor",
            "process",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(t.join("victim")).unwrap(), b"precious\n");
}

/// Finding C-6: leases in `ledger.json` ending at u64::MAX stalled every `hope run --resume` for
/// its rounds (5 minutes by default), then failed; such a lease was never reclaimed.
#[test]
fn attack_c06_a_lease_that_never_ends_is_reclaimed() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    std::fs::write(t.join("a.toml"), small_sim(4, 6)).unwrap();
    run_small(t, "a.toml", "a");
    let want = dose(&t.join("a/result/kerma.mha"));
    let entry = format!(
        r#"{{"state":"leased","task":0,"until_ms":{},"attempts":1,"last_error":null}}"#,
        u64::MAX
    );
    std::fs::write(
        t.join("a/ledger.json"),
        format!("{{\"chunks\":[{entry},{entry}]}}"),
    )
    .unwrap();
    std::fs::remove_file(t.join("a/checkpoint.part")).unwrap();
    let started = std::time::Instant::now();
    let o = common::hope_within(t, 120, &["run", "--resume", "--dir", "a", "--out", "r"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(started.elapsed().as_secs() < 60, "{:?}", started.elapsed());
    assert_eq!(dose(&t.join("r/kerma.mha")), want);
}
