//! Executors run tasks; the driver ([`run`]) resubmits failed tasks and merges the results.
//!
//! A task is one worker loop ([`work`]): claim a chunk, run its batches, store the result, until
//! nothing is left that it may claim. Executors differ in where tasks run: [`Local`] on threads
//! of this process (the embedded default); process and Slurm executors run `hope worker` commands
//! that call [`work`] in another process or on another machine sharing the working directory.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::plan::{Mode, Plan};
use crate::workdir::{ChunkState, WorkDir};
use crate::workload::Workload;
use crate::{Error, Result};

/// How one task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskOutcome {
    /// Nothing left that it may claim.
    Finished,
    /// It failed (error, panic, non-zero exit, cancelled); its current chunk went back.
    Failed(String),
}

/// Runs tasks of a plan whose working directory is `dir`.
pub trait Executor {
    /// Runs tasks `tasks` (each calls [`work`] with its index) and reports how each ended.
    fn run_tasks(&self, dir: &WorkDir, plan: &Plan, tasks: &[u32]) -> Result<Vec<TaskOutcome>>;
}

/// One task: claims chunks in turn and stores their results. `on_chunk` is called after each
/// chunk stored. A workload error or panic releases the chunk and ends the task with the error.
pub fn work<W: Workload>(
    dir: &WorkDir,
    plan: &Plan,
    task: u32,
    workload: &W,
    on_chunk: &(dyn Fn() + Sync),
) -> Result<()> {
    same_batches(plan, workload)?;
    while let Some(chunk) = dir.claim(plan, task)? {
        let range = plan.chunks()[chunk].clone();
        let outcome = catch_unwind(AssertUnwindSafe(|| workload.run(range.clone())));
        let partial = match outcome {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                dir.release(chunk, task, &e.to_string())?;
                return Err(Error::Workload {
                    start: range.start,
                    end: range.end,
                    source: e,
                });
            }
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panic".into());
                dir.release(chunk, task, &format!("panic: {what}"))?;
                return Err(Error::Workload {
                    start: range.start,
                    end: range.end,
                    source: format!("panic: {what}").into(),
                });
            }
        };
        dir.complete(plan, chunk, task, workload, &partial)?;
        on_chunk();
    }
    Ok(())
}

/// Tasks on threads of this process.
pub struct Local<'a, W> {
    workload: &'a W,
    threads: usize,
    on_chunk: Option<&'a (dyn Fn() + Sync)>,
}

impl<W> std::fmt::Debug for Local<'_, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Local")
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

impl<'a, W: Workload> Local<'a, W> {
    /// Runs `workload`'s tasks on up to `threads` threads at once (0: one per core).
    pub fn new(workload: &'a W, threads: usize) -> Self {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, usize::from)
        } else {
            threads
        };
        Self {
            workload,
            threads,
            on_chunk: None,
        }
    }

    /// Calls `f` after every chunk stored (progress).
    pub fn on_chunk(mut self, f: &'a (dyn Fn() + Sync)) -> Self {
        self.on_chunk = Some(f);
        self
    }
}

impl<W: Workload> Executor for Local<'_, W> {
    fn run_tasks(&self, dir: &WorkDir, plan: &Plan, tasks: &[u32]) -> Result<Vec<TaskOutcome>> {
        let nothing = || {};
        let on_chunk: &(dyn Fn() + Sync) = self.on_chunk.unwrap_or(&nothing);
        run_pool(tasks, self.threads, |task| {
            Ok(match work(dir, plan, task, self.workload, on_chunk) {
                Ok(()) => TaskOutcome::Finished,
                Err(e) => TaskOutcome::Failed(e.to_string()),
            })
        })
    }
}

/// Runs `run(task)` for every task on up to `parallel` threads, tasks taken in order; the
/// outcomes in the order of `tasks`, or the first error.
pub(crate) fn run_pool(
    tasks: &[u32],
    parallel: usize,
    run: impl Fn(u32) -> Result<TaskOutcome> + Sync,
) -> Result<Vec<TaskOutcome>> {
    let next = AtomicUsize::new(0);
    let outcomes = Mutex::new(vec![TaskOutcome::Finished; tasks.len()]);
    let failure = Mutex::new(None::<Error>);
    std::thread::scope(|s| {
        for _ in 0..parallel.min(tasks.len()).max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&task) = tasks.get(i) else {
                        break;
                    };
                    match run(task) {
                        Ok(o) => {
                            if let Ok(mut all) = outcomes.lock() {
                                all[i] = o;
                            }
                        }
                        Err(e) => {
                            if let Ok(mut f) = failure.lock() {
                                f.get_or_insert(e);
                            }
                            break;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    outcomes
        .into_inner()
        .map_err(|_| Error::Plan("a task thread panicked".into()))
}

/// How often the driver merges arrived results into the checkpoint.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Runs a plan to the end with `executor` and merges the results of `workload` in batch order:
/// rounds of tasks, each round resubmitting the tasks that still have chunks to do (static mode:
/// the owners of pending chunks; dynamic: as many tasks as pending chunks, up to the plan's),
/// until every chunk is done or `max_rounds` rounds have run. Stored results are verified
/// (tags, then [`Workload::check`]) before merging; damaged or foreign ones are recomputed. Resuming a run is calling this again
/// on the same working directory.
pub fn run<W: Workload>(
    executor: &dyn Executor,
    dir: &WorkDir,
    plan: &Plan,
    workload: &W,
    max_rounds: u32,
) -> Result<W::Partial> {
    same_batches(plan, workload)?;
    let mut last_error = String::new();
    for _ in 0..max_rounds.max(1) {
        dir.verify(plan, workload)?;
        let ledger = dir.ledger()?;
        let pending = ledger.not_done();
        if pending.is_empty() {
            return merge(dir, plan, workload);
        }
        let tasks: Vec<u32> = match plan.mode() {
            Mode::Static => {
                let mut t: Vec<u32> = pending
                    .iter()
                    .map(|&i| (i as u64 % u64::from(plan.tasks())) as u32)
                    .collect();
                t.sort_unstable();
                t.dedup();
                t
            }
            Mode::Dynamic => (0..plan.tasks().min(pending.len() as u32)).collect(),
        };
        // Chunks that others hold (a task that vanished, or one still running elsewhere) come
        // back when their lease ends: wait for the first such end if nothing else is left.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let lease_ms = (plan.lease_s() * 1000.0) as u64;
        let held: Vec<u64> = pending
            .iter()
            .filter_map(|&i| match ledger.chunks[i].state {
                ChunkState::Leased { until_ms, .. }
                    if crate::workdir::lease_holds(until_ms, now, lease_ms) =>
                {
                    Some(until_ms)
                }
                _ => None,
            })
            .collect();
        if held.len() == pending.len() {
            let wait = held.iter().min().map_or(0, |m| m - now) + 1;
            std::thread::sleep(std::time::Duration::from_millis(wait.min(60_000)));
            continue;
        }
        // Results are merged into the checkpoint as they arrive, every few seconds.
        // The flag is set by a guard, so that the checkpoint thread ends (and the scope with it)
        // however the executor returns, a panic included.
        struct SetOnDrop<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for SetOnDrop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let finished = std::sync::atomic::AtomicBool::new(false);
        let outcomes = std::thread::scope(|s| {
            s.spawn(|| {
                let mut last = std::time::Instant::now();
                while !finished.load(Ordering::Relaxed) {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    if last.elapsed() >= CHECKPOINT_EVERY {
                        let _ = checkpoint(dir, plan, workload);
                        last = std::time::Instant::now();
                    }
                }
            });
            let _done = SetOnDrop(&finished);
            catch_unwind(AssertUnwindSafe(|| executor.run_tasks(dir, plan, &tasks)))
                .unwrap_or_else(|_| Err(Error::Plan("the executor panicked".into())))
        })?;
        checkpoint(dir, plan, workload)?;
        for (task, o) in tasks.iter().zip(outcomes) {
            if let TaskOutcome::Failed(e) = o {
                // The task is gone: what it held is free now, not when its lease ends.
                dir.release_task(*task, &e)?;
                last_error = e;
            }
        }
    }
    dir.verify(plan, workload)?;
    let ledger = dir.ledger()?;
    let missing = ledger.not_done();
    if missing.is_empty() {
        return merge(dir, plan, workload);
    }
    if last_error.is_empty() {
        // No task failed, but chunks' results were refused: say why, from the ledger.
        last_error = missing
            .iter()
            .find_map(|&i| ledger.chunks.get(i).and_then(|c| c.last_error.clone()))
            .unwrap_or_default();
    }
    let first = &plan.chunks()[missing[0]];
    Err(Error::Incomplete {
        count: missing.len(),
        first_start: first.start,
        first_end: first.end,
        last_error,
    })
}

/// The checkpoint's result and the number of chunks it covers (none if absent, damaged, foreign
/// or not on a chunk boundary).
fn load_checkpoint<W: Workload>(
    dir: &WorkDir,
    plan: &Plan,
    workload: &W,
) -> Result<(Option<W::Partial>, usize)> {
    if let Some((end, p)) = dir.read_checkpoint(workload)?
        && let Some(k) = plan.chunks().iter().position(|c| c.end == end)
    {
        return Ok((Some(p), k + 1));
    }
    Ok((None, 0))
}

/// Incremental merging: folds the chunks done right after the checkpoint (or from the first)
/// into it and stores it again. Returns the batches it covers from 0.
pub fn checkpoint<W: Workload>(dir: &WorkDir, plan: &Plan, workload: &W) -> Result<u64> {
    // Nothing to fold (the usual case between arrivals): no need to read the checkpoint back.
    let ledger = dir.ledger()?;
    let covered = dir.checkpoint_end()?;
    if covered == plan.batch_count() {
        return Ok(covered);
    }
    let next = plan.chunks().iter().position(|c| c.start == covered);
    if let Some(k) = next
        && !matches!(ledger.chunks[k].state, ChunkState::Done { .. })
    {
        return Ok(covered);
    }
    let (mut total, first) = load_checkpoint(dir, plan, workload)?;
    let mut k = first;
    while k < plan.chunks().len() && matches!(ledger.chunks[k].state, ChunkState::Done { .. }) {
        let Ok(Some(p)) = dir.read_partial(plan, k, workload) else {
            break;
        };
        total = Some(fold(workload, total, p, &plan.chunks()[k])?);
        k += 1;
    }
    let end = if k == 0 { 0 } else { plan.chunks()[k - 1].end };
    if k > first
        && let Some(t) = &total
    {
        check(workload, 0..end, t)?;
        dir.write_checkpoint(end, workload, t)?;
    }
    Ok(end)
}

/// Merges the stored results of every chunk in batch order (starting from the checkpoint), each
/// authenticated as this run's and checked against its batches; the merged result is checked
/// to be exactly the run's (every batch, every history, every voxel) before it is returned.
pub fn merge<W: Workload>(dir: &WorkDir, plan: &Plan, workload: &W) -> Result<W::Partial> {
    same_batches(plan, workload)?;
    let (mut total, first) = load_checkpoint(dir, plan, workload)?;
    for (i, range) in plan.chunks().iter().enumerate().skip(first) {
        let p = dir
            .read_partial(plan, i, workload)?
            .ok_or_else(|| Error::Incomplete {
                count: 1,
                first_start: range.start,
                first_end: range.end,
                last_error: "result missing".into(),
            })?;
        total = Some(fold(workload, total, p, range)?);
    }
    let total = total.ok_or_else(|| Error::Plan("no chunks".into()))?;
    check(workload, 0..plan.batch_count(), &total)?;
    Ok(total)
}

/// Refuses a workload whose batches are not the plan's.
fn same_batches<W: Workload>(plan: &Plan, workload: &W) -> Result<()> {
    if workload.batch_count() == plan.batch_count() {
        return Ok(());
    }
    Err(Error::Plan(format!(
        "the workload has {} batches, the plan {}",
        workload.batch_count(),
        plan.batch_count()
    )))
}

/// [`Workload::check`] as this crate's error.
fn check<W: Workload>(
    workload: &W,
    batches: std::ops::Range<u64>,
    partial: &W::Partial,
) -> Result<()> {
    workload
        .check(batches.clone(), partial)
        .map_err(|source| Error::Workload {
            start: batches.start,
            end: batches.end,
            source,
        })
}

/// `total` merged with the result `p` of batches `range`.
fn fold<W: Workload>(
    workload: &W,
    total: Option<W::Partial>,
    p: W::Partial,
    range: &std::ops::Range<u64>,
) -> Result<W::Partial> {
    match total {
        None => Ok(p),
        Some(t) => workload.merge(t, p).map_err(|source| Error::Workload {
            start: range.start,
            end: range.end,
            source,
        }),
    }
}
