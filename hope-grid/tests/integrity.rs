//! Issue 27: a merged result provably belongs to its run, and a damaged or hostile working
//! directory (a co-tenant of a shared cluster directory, a damaged disk) gives a clear error,
//! never a wrong result, a hang or a crash.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::Toy;
use hope_grid::workdir::ChunkState;
use hope_grid::{Executor, Local, Plan, TaskOutcome, WorkDir, Workload, run};

/// Runs `f` on a thread and fails the test if it takes longer than `secs` (a hang).
fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs))
        .unwrap_or_else(|_| panic!("still running after {secs} s: a hang"))
}

fn all_done(dir: &WorkDir, plan: &Plan, toy: &Toy) {
    for (i, r) in plan.chunks().iter().enumerate() {
        dir.complete(plan, i, 0, toy, &toy.run(r.clone()).unwrap())
            .unwrap();
    }
}

#[test]
fn item_01_a_partial_of_another_simulation_with_the_same_plan_is_never_merged() {
    let plan = Plan::dynamic(30, 3, 1).unwrap();
    let ours = Toy::new(30, 1);
    let theirs = Toy::new(30, 2); // another simulation, the same plan
    // In the same directory (same run key): the other workload's result does not verify.
    let tmp = tempfile::tempdir().unwrap();
    let dir = WorkDir::create(tmp.path(), &plan).unwrap();
    all_done(&dir, &plan, &ours);
    dir.complete(&plan, 1, 0, &theirs, &theirs.run(10..20).unwrap())
        .unwrap();
    let e = dir.read_partial(&plan, 1, &ours).unwrap_err().to_string();
    assert!(
        e.contains("1.part") && e.contains("not a result of this run"),
        "{e}"
    );
    assert!(hope_grid::merge(&dir, &plan, &ours).is_err());
    // From another directory (another run key), copied over ours: refused, recomputed.
    let other = tempfile::tempdir().unwrap();
    let odir = WorkDir::create(other.path(), &plan).unwrap();
    all_done(&odir, &plan, &theirs);
    std::fs::copy(
        other.path().join("partials/2.part"),
        tmp.path().join("partials/2.part"),
    )
    .unwrap();
    let got = run(&Local::new(&ours, 1), &dir, &plan, &ours, 2).unwrap();
    assert_eq!(got, ours.expected());
}

#[test]
fn item_01_a_result_rewritten_with_a_fresh_checksum_is_refused() {
    // The old format's SHA-256 could be recomputed by whoever changed the payload; the tag is
    // keyed, so a forger who cannot read the run key cannot make one.
    let plan = Plan::dynamic(20, 2, 1).unwrap();
    let toy = Toy::new(20, 3);
    let tmp = tempfile::tempdir().unwrap();
    let dir = WorkDir::create(tmp.path(), &plan).unwrap();
    all_done(&dir, &plan, &toy);
    let path = tmp.path().join("partials/0.part");
    let mut bytes = std::fs::read(&path).unwrap();
    let payload_at = bytes.len() - 10 * 16;
    bytes[payload_at + 8] ^= 0x55; // batch 0's value
    use sha2::Digest;
    let digest = sha2::Sha256::digest(&bytes[payload_at..]);
    bytes[36..68].copy_from_slice(&digest);
    std::fs::write(&path, &bytes).unwrap();
    let e = dir.read_partial(&plan, 0, &toy).unwrap_err().to_string();
    assert!(e.contains("not a result of this run"), "{e}");
    // The checkpoint likewise: a forged one is ignored, and the merge is the true one.
    hope_grid::exec::checkpoint(&dir, &plan, &toy).unwrap_or_default();
    let ck = tmp.path().join("checkpoint.part");
    std::fs::copy(&path, &ck).unwrap();
    assert!(dir.read_checkpoint(&toy).unwrap().is_none());
    let got = run(&Local::new(&toy, 1), &dir, &plan, &toy, 2).unwrap();
    assert_eq!(got, toy.expected());
}

#[test]
fn item_01_a_partial_planted_in_advance_never_replaces_the_worker_s_real_one() {
    let plan = Plan::dynamic(20, 2, 1).unwrap();
    let toy = Toy::new(20, 4);
    let tmp = tempfile::tempdir().unwrap();
    let dir = WorkDir::create(tmp.path(), &plan).unwrap();
    // Planted before any worker ran: a plausible file for chunk 0.
    let mut planted = b"HOPEPART".to_vec();
    planted.extend_from_slice(&2u32.to_le_bytes());
    planted.extend_from_slice(&0u64.to_le_bytes());
    planted.extend_from_slice(&10u64.to_le_bytes());
    planted.extend_from_slice(&16u64.to_le_bytes());
    planted.extend_from_slice(&[0; 32]);
    planted.extend_from_slice(&[7; 16]);
    std::fs::write(tmp.path().join("partials/0.part"), &planted).unwrap();
    let got = within(60, move || {
        let toy = Toy::new(20, 4);
        run(&Local::new(&toy, 1), &dir, &plan, &toy, 3).map(|g| (g, toy.expected()))
    })
    .unwrap();
    assert_eq!(got.0, got.1);
    assert_eq!(toy.run(0..20).unwrap(), got.0);
}

#[test]
fn item_01_the_merged_result_must_be_exactly_the_run_s() {
    // A workload whose results are checked finds a result that lies about its batches.
    let plan = Plan::dynamic(20, 2, 1).unwrap();
    let toy = Toy::new(20, 5);
    let tmp = tempfile::tempdir().unwrap();
    let dir = WorkDir::create(tmp.path(), &plan).unwrap();
    // Chunk 1 stored with chunk 0's content: tagged correctly (as if by a buggy worker) but not
    // the result of its batches.
    dir.complete(&plan, 0, 0, &toy, &toy.run(0..10).unwrap())
        .unwrap();
    dir.complete(&plan, 1, 0, &toy, &toy.run(0..10).unwrap())
        .unwrap();
    let e = hope_grid::merge(&dir, &plan, &toy).unwrap_err().to_string();
    assert!(
        e.contains("1.part") && e.contains("not the result of batches 10..20"),
        "{e}"
    );
    // A workload of another size than the plan is refused before anything runs.
    let bigger = Toy::new(21, 5);
    assert!(run(&Local::new(&bigger, 1), &dir, &plan, &bigger, 1).is_err());
}

#[cfg(unix)]
#[test]
fn item_01_a_run_key_that_others_may_read_or_that_was_replaced_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let plan = Plan::dynamic(10, 1, 1).unwrap();
    let toy = Toy::new(10, 6);
    let tmp = tempfile::tempdir().unwrap();
    let dir = WorkDir::create(tmp.path(), &plan).unwrap();
    let key = tmp.path().join("run.key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = run(&Local::new(&toy, 1), &dir, &plan, &toy, 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("run.key") && e.contains("644"), "{e}");
    // Replaced by a file of another size, or removed: an error naming it, never an unkeyed run.
    std::fs::remove_file(&key).unwrap();
    std::fs::write(&key, b"short").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let e = run(&Local::new(&toy, 1), &dir, &plan, &toy, 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("run.key") && e.contains("5 bytes"), "{e}");
    std::fs::remove_file(&key).unwrap();
    let e = run(&Local::new(&toy, 1), &dir, &plan, &toy, 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("run.key"), "{e}");
}

#[test]
fn item_01_stored_results_are_read_only_up_to_their_bound() {
    let plan = Plan::dynamic(10, 1, 1).unwrap();
    let toy = Toy::new(10, 7);
    let tmp = tempfile::tempdir().unwrap();
    let dir = WorkDir::create(tmp.path(), &plan).unwrap();
    // Larger than any result of chunk 0 can be: refused without reading it into memory.
    let big = std::fs::File::create(tmp.path().join("partials/0.part")).unwrap();
    big.set_len(1 << 40).unwrap(); // sparse: 1 TiB claimed, no disk used
    let e = dir.read_partial(&plan, 0, &toy).unwrap_err().to_string();
    assert!(e.contains("0.part") && e.contains("larger than"), "{e}");
    #[cfg(unix)]
    {
        std::fs::remove_file(tmp.path().join("partials/0.part")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", tmp.path().join("partials/0.part")).unwrap();
        let e = within(20, move || dir.read_partial(&plan, 0, &toy).map(|_| ()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a regular file"), "{e}");
    }
}

/// A ledger of one chunk more or less than the plan (3 chunks): `a_ledger` gives the entries.
fn ledger_of(tmp: &std::path::Path, chunks: usize) {
    let entry = r#"{"state":"pending","attempts":0,"last_error":null}"#;
    let json = format!("{{\"chunks\":[{}]}}", vec![entry; chunks].join(","));
    std::fs::write(tmp.join("ledger.json"), json).unwrap();
}

#[test]
fn item_03_a_ledger_one_chunk_too_long_or_too_short_is_refused_naming_it() {
    for chunks in [4, 2, 0] {
        let tmp = tempfile::tempdir().unwrap();
        let plan = Plan::dynamic(30, 3, 1).unwrap();
        WorkDir::create(tmp.path(), &plan).unwrap();
        ledger_of(tmp.path(), chunks);
        let root = tmp.path().to_path_buf();
        let p = plan.clone();
        let e = within(30, move || {
            let toy = Toy::new(30, 8);
            let dir = WorkDir::open(&root)?;
            run(&Local::new(&toy, 2), &dir, &p, &toy, 2).map(|_| ())
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("ledger.json")
                && e.contains(&format!("{chunks} chunks where the plan has 3")),
            "{e}"
        );
        // A worker (what the process and Slurm executors start) stops with the same error.
        let dir = WorkDir::open(tmp.path()).unwrap();
        let toy = Toy::new(30, 8);
        let e = hope_grid::work(&dir, &plan, 0, &toy, &|| {})
            .unwrap_err()
            .to_string();
        assert!(e.contains("ledger.json"), "{e}");
    }
}

/// An executor that panics (a bug in an executor, or a worker library).
struct Panicking;

impl Executor for Panicking {
    fn run_tasks(&self, _: &WorkDir, _: &Plan, _: &[u32]) -> hope_grid::Result<Vec<TaskOutcome>> {
        panic!("executor bug")
    }
}

#[test]
fn item_03_an_executor_that_panics_ends_the_run_with_an_error_never_a_hang() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let e = within(30, move || {
        let plan = Plan::dynamic(10, 1, 1).unwrap();
        let toy = Toy::new(10, 9);
        let dir = WorkDir::create(&root, &plan)?;
        run(&Panicking, &dir, &plan, &toy, 1).map(|_| ())
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("panicked"), "{e}");
    let dir = WorkDir::open(tmp.path()).unwrap();
    assert!(
        dir.ledger()
            .unwrap()
            .chunks
            .iter()
            .all(|c| c.state == ChunkState::Pending)
    );
}

/// A file of a working directory and how it is damaged, for the fuzz loop below.
#[derive(Debug, Clone)]
enum Damage {
    /// Byte `at` (modulo the length) of the file XORed with `x`.
    Flip { file: usize, at: usize, x: u8 },
    /// The file cut to `len` bytes (modulo its length).
    Cut { file: usize, len: usize },
    /// Bytes appended.
    Append { file: usize, bytes: Vec<u8> },
    /// The file replaced by arbitrary bytes.
    Replace { file: usize, bytes: Vec<u8> },
}

const FILES: [&str; 5] = [
    "ledger.json",
    "plan.json",
    "partials/0.part",
    "partials/1.part",
    "checkpoint.part",
];

fn damage() -> impl proptest::strategy::Strategy<Value = Damage> {
    use proptest::prelude::*;
    let file = 0usize..FILES.len();
    prop_oneof![
        (file.clone(), any::<usize>(), 1u8..=255).prop_map(|(file, at, x)| Damage::Flip {
            file,
            at,
            x
        }),
        (file.clone(), any::<usize>()).prop_map(|(file, len)| Damage::Cut { file, len }),
        (file.clone(), proptest::collection::vec(any::<u8>(), 1..64))
            .prop_map(|(file, bytes)| Damage::Append { file, bytes }),
        (file, proptest::collection::vec(any::<u8>(), 0..300))
            .prop_map(|(file, bytes)| Damage::Replace { file, bytes }),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Issue 27, bounded fuzz loop over ledgers, plans, partials and checkpoints: whatever is
    /// damaged, resuming the run gives the true result or an error naming a file, at once; never
    /// another result, a panic or a hang.
    #[test]
    fn damaged_working_directories_give_the_true_result_or_an_error(
        damages in proptest::collection::vec(damage(), 1..4)
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let plan = Plan::dynamic(40, 2, 2).unwrap().with_lease(0.2).unwrap();
        let toy = Toy::new(40, 11);
        let dir = WorkDir::create(tmp.path(), &plan).unwrap();
        run(&Local::new(&toy, 2), &dir, &plan, &toy, 2).unwrap();
        for d in &damages {
            let (file, f) = match d {
                Damage::Flip { file, .. } | Damage::Cut { file, .. } | Damage::Append { file, .. } | Damage::Replace { file, .. } => (*file, tmp.path().join(FILES[*file])),
            };
            let _ = file;
            let mut bytes = std::fs::read(&f).unwrap_or_default();
            match d {
                Damage::Flip { at, x, .. } if !bytes.is_empty() => {
                    let i = at % bytes.len();
                    bytes[i] ^= x;
                }
                Damage::Cut { len, .. } => bytes.truncate(len % (bytes.len() + 1)),
                Damage::Append { bytes: more, .. } => bytes.extend_from_slice(more),
                Damage::Replace { bytes: new, .. } => bytes = new.clone(),
                _ => {}
            }
            std::fs::write(&f, &bytes).unwrap();
        }
        let root = tmp.path().to_path_buf();
        let outcome = within(60, move || {
            let toy = Toy::new(40, 11);
            let plan = Plan::dynamic(40, 2, 2).unwrap().with_lease(0.2).unwrap();
            WorkDir::open(&root).and_then(|dir| run(&Local::new(&toy, 2), &dir, &plan, &toy, 3))
        });
        match outcome {
            Ok(got) => proptest::prop_assert_eq!(got, toy.expected()),
            Err(e) => proptest::prop_assert!(!e.to_string().is_empty()),
        }
    }
}
