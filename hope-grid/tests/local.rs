//! The local executor and the driver: results identical to a direct run in every mode and split,
//! failed and panicking chunks retried, damaged results recomputed, lost leases reclaimed, runs
//! resumed.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::Toy;
use hope_grid::workdir::ChunkState;
use hope_grid::{Error, Local, Mode, Plan, WorkDir, Workload, run};

#[test]
fn every_split_and_mode_gives_the_direct_result() {
    let toy = Toy::new(97, 5);
    let want = toy.run(0..97).unwrap();
    for (mode, tasks, per_task, threads) in [
        (Mode::Static, 1, 1, 1),
        (Mode::Static, 7, 1, 2),
        (Mode::Static, 4, 3, 3),
        (Mode::Dynamic, 3, 5, 2),
        (Mode::Dynamic, 16, 2, 4),
        (Mode::Dynamic, 200, 1, 2),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let plan = Plan::new(97, tasks, per_task, mode).unwrap();
        let dir = WorkDir::create(tmp.path(), &plan).unwrap();
        let got = run(&Local::new(&toy, threads), &dir, &plan, &toy, 3).unwrap();
        assert_eq!(got, want, "{mode:?} {tasks}x{per_task}");
        assert_eq!(dir.ledger().unwrap().done(), plan.chunks().len());
    }
}

#[test]
fn failed_and_panicking_chunks_are_retried() {
    let toy = Toy::new(40, 1);
    toy.fail_once.lock().unwrap().extend([3, 17]);
    toy.panic_once.lock().unwrap().insert(30);
    for mode in [Mode::Static, Mode::Dynamic] {
        let tmp = tempfile::tempdir().unwrap();
        let plan = Plan::new(40, 4, 2, mode).unwrap();
        let dir = WorkDir::create(tmp.path(), &plan).unwrap();
        let got = run(&Local::new(&toy, 2), &dir, &plan, &toy, 4).unwrap();
        assert_eq!(got, toy.expected(), "{mode:?}");
        if mode == Mode::Static {
            let ledger = dir.ledger().unwrap();
            let retried: Vec<_> = ledger.chunks.iter().filter(|c| c.attempts > 1).collect();
            assert_eq!(retried.len(), 3, "{ledger:?}");
            assert!(retried.iter().all(|c| c.last_error.is_some()));
        }
    }
}

#[test]
fn damaged_results_are_recomputed_and_runs_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let mut toy = Toy::new(30, 2);
    toy.fail_always.insert(12);
    let plan = Plan::dynamic(30, 3, 2).unwrap();
    let dir = WorkDir::create(tmp.path(), &plan).unwrap();
    let err = run(&Local::new(&toy, 2), &dir, &plan, &toy, 2).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Incomplete {
                count: 1,
                first_start: 10,
                first_end: 15,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("batch 12 failed"), "{err}");
    // Resume with the fault gone: only the missing chunk runs.
    let toy = Toy::new(30, 2);
    let got = run(&Local::new(&toy, 2), &dir, &plan, &toy, 2).unwrap();
    assert_eq!(got, toy.expected());
    assert_eq!(
        toy.ran.lock().unwrap().clone(),
        (10..15).collect::<Vec<_>>()
    );
    // A damaged result is noticed (checksum), recomputed, and the merge is the same.
    let part = tmp.path().join("partials/2.part");
    let mut bytes = std::fs::read(&part).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&part, &bytes).unwrap();
    let err = dir.read_partial(&plan, 2, &toy).unwrap_err().to_string();
    assert!(err.contains("tag mismatch"), "{err}");
    let toy = Toy::new(30, 2);
    let got = run(&Local::new(&toy, 2), &dir, &plan, &toy, 2).unwrap();
    assert_eq!(got, toy.expected());
    assert_eq!(
        toy.ran.lock().unwrap().clone(),
        (10..15).collect::<Vec<_>>()
    );
    // Another plan in the same directory is refused.
    let other = Plan::dynamic(31, 3, 2).unwrap();
    assert!(WorkDir::create(tmp.path(), &other).is_err());
}

#[test]
fn a_lost_task_s_chunk_is_claimed_again_when_its_lease_ends() {
    let tmp = tempfile::tempdir().unwrap();
    let toy = Toy::new(12, 3);
    let plan = Plan::dynamic(12, 2, 2).unwrap().with_lease(0.3).unwrap();
    let dir = WorkDir::create(tmp.path(), &plan).unwrap();
    // Task 9 claims a chunk and vanishes.
    let lost = dir.claim(&plan, 9).unwrap().unwrap();
    assert!(matches!(
        dir.ledger().unwrap().chunks[lost].state,
        ChunkState::Leased { task: 9, .. }
    ));
    let got = run(&Local::new(&toy, 2), &dir, &plan, &toy, 5).unwrap();
    assert_eq!(got, toy.expected());
    let ledger = dir.ledger().unwrap();
    assert_eq!(ledger.chunks[lost].attempts, 2);
    assert!(!matches!(
        ledger.chunks[lost].state,
        ChunkState::Done { task: 9 }
    ));
}

#[test]
fn results_are_merged_incrementally_into_a_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let toy = Toy::new(40, 6);
    let plan = Plan::dynamic(40, 2, 2).unwrap(); // 4 chunks of 10 batches
    let dir = WorkDir::create(tmp.path(), &plan).unwrap();
    let store = |chunk: usize| {
        let r = plan.chunks()[chunk].clone();
        dir.complete(&plan, chunk, 0, &toy, &toy.run(r).unwrap())
            .unwrap();
    };
    assert_eq!(hope_grid::exec::checkpoint(&dir, &plan, &toy).unwrap(), 0);
    store(0);
    store(2);
    // Only the leading run of done chunks is merged.
    assert_eq!(hope_grid::exec::checkpoint(&dir, &plan, &toy).unwrap(), 10);
    store(1);
    assert_eq!(hope_grid::exec::checkpoint(&dir, &plan, &toy).unwrap(), 30);
    let (end, merged) = dir.read_checkpoint(&toy).unwrap().unwrap();
    assert_eq!(end, 30);
    assert_eq!(merged, toy.run(0..30).unwrap());
    // The driver finishes the run; the merge starts from the checkpoint, so chunks already in
    // it are not needed any more.
    let got = run(&Local::new(&toy, 2), &dir, &plan, &toy, 2).unwrap();
    assert_eq!(got, toy.expected());
    assert_eq!(dir.read_checkpoint(&toy).unwrap().unwrap().0, 40);
    for i in 0..4 {
        std::fs::remove_file(tmp.path().join(format!("partials/{i}.part"))).unwrap();
    }
    assert_eq!(
        hope_grid::exec::merge(&dir, &plan, &toy).unwrap(),
        toy.expected()
    );
    // A damaged checkpoint is ignored.
    std::fs::write(tmp.path().join("checkpoint.part"), b"HOPEPART garbage").unwrap();
    assert!(dir.read_checkpoint(&toy).unwrap().is_none());
}
