//! `hope run` (a simulation split into tasks on an executor, resumable) and `hope worker` (one
//! task, as the process and Slurm executors start it).
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::Context;
use hope::grid::store::{self, JobRecord, JobStatus};
use hope::grid::{Executor, JobTemplate, Local, Mode, Plan, Process, Slurm, WorkDir, Workload};
use hope::mc::Simulation;
use hope::workload::SimulationWorkload;

/// Where tasks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ExecutorKind {
    /// Threads of this process.
    Local,
    /// Child processes (`hope worker`).
    Process,
    /// A Slurm job array (`hope worker` in each element; the working directory must be shared).
    Slurm,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// The simulation file (TOML, or JSON by extension); not with --resume.
    #[arg(required_unless_present = "resume")]
    file: Option<PathBuf>,
    /// The working directory (plan, ledger, partial results, job record).
    #[arg(long, default_value = "out/run")]
    dir: PathBuf,
    /// Continue the run in --dir with its stored simulation and plan (after the submitting
    /// process died, or a failure).
    #[arg(long, conflicts_with = "file")]
    resume: bool,
    /// Who submits the run (default: $USER).
    #[arg(long)]
    author: Option<String>,
    /// Output directory for dose, uncertainty, images and summary (default: DIR/result).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Where tasks run.
    #[arg(long, value_enum, default_value_t = ExecutorKind::Local)]
    executor: ExecutorKind,
    /// Number of tasks (jobs).
    #[arg(long, default_value_t = 2)]
    tasks: u32,
    /// Static (chunks assigned to tasks) or dynamic (tasks claim chunks until none is left).
    #[arg(long, value_enum, default_value_t = ModeArg::Dynamic)]
    mode: ModeArg,
    /// Chunks per task (dynamic mode: more chunks balance better).
    #[arg(long, default_value_t = 4)]
    chunks_per_task: u32,
    /// Seconds a claimed chunk stays with its task before others may take it over.
    #[arg(long, default_value_t = 3600.0)]
    lease_s: f64,
    /// Tasks running at once (0: one per core).
    #[arg(long, default_value_t = 0)]
    parallel: usize,
    /// Rounds of resubmission before giving up.
    #[arg(long, default_value_t = 5)]
    max_rounds: u32,
    /// Slurm partition.
    #[arg(long)]
    partition: Option<String>,
    /// Slurm account.
    #[arg(long)]
    account: Option<String>,
    /// Slurm time limit per task (e.g. 01:00:00).
    #[arg(long)]
    time: Option<String>,
    /// Slurm memory per task (e.g. 2G).
    #[arg(long)]
    mem: Option<String>,
    /// More sbatch options for the job script (repeatable, e.g. --sbatch-option=--qos=short).
    #[arg(long = "sbatch-option")]
    sbatch_options: Vec<String>,
}

/// Plan modes on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ModeArg {
    /// Chunk i belongs to task i mod N.
    Static,
    /// Tasks claim chunks in turn.
    Dynamic,
}

#[derive(Debug, clap::Args)]
pub(crate) struct WorkerArgs {
    /// The working directory of the run.
    #[arg(long)]
    dir: PathBuf,
    /// This task's index.
    #[arg(long)]
    task: u32,
    /// Worker threads inside the task (0: one per core).
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// The simulation of a run, as its working directory holds it (sealed with the run key: a file
/// changed by whoever may write there is refused, never run or merged).
fn simulation_of(dir: &WorkDir) -> anyhow::Result<Simulation> {
    let bytes = dir
        .read_sealed("simulation.json", hope::mc::simulation::MAX_FILE_BYTES)?
        .with_context(|| format!("no simulation.json in {}", dir.root().display()))?;
    let sim: Simulation = serde_json::from_slice(&bytes)
        .with_context(|| format!("{}", dir.root().join("simulation.json").display()))?;
    sim.validate()?;
    Ok(sim)
}

pub(crate) fn run(args: RunArgs) -> anyhow::Result<()> {
    if args.resume {
        let dir = WorkDir::open(&args.dir)?;
        let plan = dir.plan()?;
        let sim = simulation_of(&dir)?;
        let workload = SimulationWorkload::new(&sim, 1)?;
        return execute(&args, &sim, &plan, &workload);
    }
    let file = args.file.as_ref().context("a simulation file is needed")?;
    let sim = Simulation::from_file(file)?.resolved();
    if sim.output.phase_space.is_some() {
        anyhow::bail!(
            "{}: output.phase_space: a phase space is scored by `hope simulate` (one process, \
             records in batch order), not by `hope run`; run the file with `hope simulate`",
            file.display()
        );
    }
    let workload = SimulationWorkload::new(&sim, 1)?;
    let plan = new_plan(&args, workload.batch_count())?;
    execute(&args, &sim, &plan, &workload)
}

fn new_plan(args: &RunArgs, batches: u64) -> anyhow::Result<Plan> {
    let mode = match args.mode {
        ModeArg::Static => Mode::Static,
        ModeArg::Dynamic => Mode::Dynamic,
    };
    let per_task = if mode == Mode::Static {
        1
    } else {
        args.chunks_per_task
    };
    Ok(Plan::new(batches, args.tasks, per_task, mode)?.with_lease(args.lease_s)?)
}

fn execute(
    args: &RunArgs,
    sim: &Simulation,
    plan: &Plan,
    workload: &SimulationWorkload,
) -> anyhow::Result<()> {
    let plan = plan.clone();
    WorkDir::create(&args.dir, &plan)?;
    // Absolute, for workers started elsewhere (Slurm).
    let dir = WorkDir::open(std::fs::canonicalize(&args.dir)?)?;
    let json = serde_json::to_vec_pretty(sim)?;
    match dir.read_sealed("simulation.json", hope::mc::simulation::MAX_FILE_BYTES)? {
        Some(existing) if existing != json => anyhow::bail!(
            "{} holds another simulation; use a new working directory",
            dir.root().join("simulation.json").display()
        ),
        Some(_) => {}
        None => dir.write_sealed("simulation.json", &json)?,
    }
    let parallel = if args.parallel == 0 {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        args.parallel
    };
    let chunks = plan.chunks().len();
    let done = AtomicUsize::new(dir.ledger()?.done());
    let bar = indicatif::ProgressBar::new(chunks as u64);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} chunks eta {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(format!("{} tasks", plan.tasks()));
    bar.set_position(done.load(Ordering::Relaxed) as u64);
    let tick = || {
        bar.set_position(done.fetch_add(1, Ordering::Relaxed) as u64 + 1);
    };
    let exe = std::env::current_exe().context("locating the hope executable")?;
    let local;
    let process;
    let slurm;
    let executor: &dyn Executor = match args.executor {
        ExecutorKind::Local => {
            local = Local::new(workload, parallel).on_chunk(&tick);
            &local
        }
        ExecutorKind::Process => {
            process = Process::new(exe, &["worker"], parallel);
            &process
        }
        ExecutorKind::Slurm => {
            let mut t = JobTemplate::default();
            if let Some(p) = &args.partition {
                t = t.partition(p);
            }
            if let Some(a) = &args.account {
                t = t.account(a);
            }
            if let Some(x) = &args.time {
                t = t.time(x);
            }
            if let Some(m) = &args.mem {
                t = t.mem(m);
            }
            for o in &args.sbatch_options {
                t = t.extra(o);
            }
            let dir_abs = std::fs::canonicalize(&args.dir)?;
            slurm = Slurm::new(exe, &["worker"], t).name(&format!(
                "hope-{}",
                dir_abs
                    .file_name()
                    .map_or("run".into(), |n| n.to_string_lossy().replace(' ', "_"))
            ));
            &slurm
        }
    };
    let executor_name = format!("{:?}", args.executor).to_lowercase();
    let mut record = match dir.record()? {
        Some(r) => r,
        None => {
            let author = args
                .author
                .clone()
                .or_else(|| std::env::var("USER").ok())
                .unwrap_or_else(|| "unknown".into());
            JobRecord::new(&dir, &author, &executor_name)
        }
    };
    record.status = JobStatus::Running;
    record.started_s = Some(store::now_s());
    record.finished_s = None;
    record.executor = executor_name;
    dir.write_record(&record)?;
    let start = Instant::now();
    let outcome = hope::grid::run(executor, &dir, &plan, workload, args.max_rounds);
    bar.finish_and_clear();
    record.finished_s = Some(store::now_s());
    let result = match outcome {
        Ok(r) => r,
        Err(e) => {
            record.status = JobStatus::Failed;
            record.message = Some(e.to_string());
            dir.write_record(&record)?;
            return Err(e.into());
        }
    };
    let secs = start.elapsed().as_secs_f64();
    let out = args.out.clone().unwrap_or_else(|| args.dir.join("result"));
    super::simulate::write_outputs(workload.prepared(), &result, secs, None, None, &out)?;
    record.status = JobStatus::Finished;
    record.message = None;
    record.result = Some(std::fs::canonicalize(&out).unwrap_or(out));
    dir.write_record(&record)?;
    println!("job {}", record.id);
    Ok(())
}

#[derive(Debug, clap::Args)]
pub(crate) struct JobsArgs {
    /// Where the runs' working directories are (searched two levels deep).
    #[arg(long, default_value = "out")]
    root: PathBuf,
    /// Show one run in detail (its tasks and chunks) instead of the table.
    dir: Option<PathBuf>,
}

fn fmt_time(s: Option<u64>) -> String {
    s.map_or_else(|| "-".into(), |s| store::utc(s).replace('T', " "))
}

pub(crate) fn jobs(args: JobsArgs) -> anyhow::Result<()> {
    if let Some(d) = &args.dir {
        let dir = WorkDir::open(d)?;
        let record = dir.record()?.context("no job record in that directory")?;
        let ledger = dir.ledger_unlocked()?;
        println!(
            "job {} by {}: {:?}",
            shown(&record.id),
            shown(&record.author),
            record.status
        );
        println!(
            "  created {}, started {}, finished {}",
            fmt_time(Some(record.created_s)),
            fmt_time(record.started_s),
            fmt_time(record.finished_s)
        );
        println!(
            "  executor {}, progress {}/{} chunks",
            record.executor,
            ledger.done(),
            ledger.chunks.len()
        );
        if let Some(r) = &record.result {
            println!("  result {}", r.display());
        }
        if let Some(m) = &record.message {
            println!("  last error: {}", shown(m));
        }
        for (task, done, held) in store::task_states(&ledger) {
            println!("  task {task}: {done} chunks done, {held} held");
        }
        for (i, c) in ledger.chunks.iter().enumerate() {
            println!("  chunk {i}: {:?}, {} attempts", c.state, c.attempts);
        }
        return Ok(());
    }
    let (rows, unreadable) = store::list_all(&args.root)?;
    println!(
        "{:<22} {:<10} {:<19} {:<19} {:<9} {:>9} {:>9}  directory",
        "id", "author", "created", "started", "status", "progress", "duration"
    );
    for r in rows {
        let j = &r.record;
        println!(
            "{:<22} {:<10} {:<19} {:<19} {:<9} {:>9} {:>9}  {}",
            shown(&j.id),
            shown(&j.author),
            fmt_time(Some(j.created_s)),
            fmt_time(j.started_s),
            format!("{:?}", j.status).to_lowercase(),
            format!("{}/{}", r.progress.0, r.progress.1),
            j.duration_s()
                .map_or_else(|| "-".into(), |d| format!("{d} s")),
            shown(&r.dir.display().to_string())
        );
    }
    for (dir, why) in unreadable {
        println!(
            "{:<22} {:<10} {:<19} {:<19} {:<9} {:>9} {:>9}  {} ({})",
            "-",
            "-",
            "-",
            "-",
            "unreadable",
            "-",
            "-",
            shown(&dir.display().to_string()),
            shown(&why)
        );
    }
    Ok(())
}

/// Text from a run directory (written by anyone who may write there), terminal-safe and at most
/// 200 characters.
fn shown(s: &str) -> String {
    super::text::shown(s, 200)
}

#[derive(Debug, clap::Args)]
pub(crate) struct MergeArgs {
    /// The working directory of a run whose chunks are all done.
    #[arg(long)]
    dir: PathBuf,
    /// Output directory (default: DIR/result).
    #[arg(long)]
    out: Option<PathBuf>,
}

pub(crate) fn merge(args: MergeArgs) -> anyhow::Result<()> {
    let dir = WorkDir::open(&args.dir)?;
    let plan = dir.plan()?;
    let sim = simulation_of(&dir)?;
    let workload = SimulationWorkload::new(&sim, 1)?;
    dir.verify(&plan, &workload)?;
    let result = hope::grid::exec::merge(&dir, &plan, &workload)?;
    let out = args.out.unwrap_or_else(|| args.dir.join("result"));
    super::simulate::write_outputs(workload.prepared(), &result, 0.0, None, None, &out)
}

pub(crate) fn worker(args: WorkerArgs) -> anyhow::Result<()> {
    let dir = WorkDir::open(&args.dir)?;
    let plan = dir.plan()?;
    let sim = simulation_of(&dir)?;
    let workload = SimulationWorkload::new(&sim, args.threads)?;
    hope::grid::work(&dir, &plan, args.task, &workload, &|| {})?;
    Ok(())
}

#[derive(Debug, clap::Args)]
pub(crate) struct PlanArgs {
    /// The simulation file: its batches are planned, one is run here to measure their cost.
    file: PathBuf,
    /// Seconds per batch instead of measuring one.
    #[arg(long)]
    seconds_per_batch: Option<f64>,
    /// The most jobs that may be submitted (one per core of the cluster, say).
    #[arg(long, default_value_t = 100)]
    max_jobs: u32,
    /// Median queue wait, seconds (log-normal body).
    #[arg(long, default_value_t = 60.0)]
    latency_median_s: f64,
    /// Log-normal shape of the queue waits.
    #[arg(long, default_value_t = 1.0)]
    latency_sigma: f64,
    /// Fraction of jobs that wait `outlier_factor` times longer.
    #[arg(long, default_value_t = 0.05)]
    outliers: f64,
    /// How much longer outliers wait.
    #[arg(long, default_value_t = 20.0)]
    outlier_factor: f64,
    /// Fraction of jobs that never start.
    #[arg(long, default_value_t = 0.05)]
    lost: f64,
    /// Fraction of jobs on slow nodes.
    #[arg(long, default_value_t = 0.0)]
    stragglers: f64,
    /// Speed of the slow nodes (relative to this machine).
    #[arg(long, default_value_t = 0.2)]
    straggler_speed: f64,
    /// Chunks per job in dynamic mode.
    #[arg(long, default_value_t = 10)]
    chunks_per_job: u32,
    /// Also compare the modes in the cluster simulator (independent streams).
    #[arg(long)]
    simulate: bool,
}

pub(crate) fn plan(args: PlanArgs) -> anyhow::Result<()> {
    use hope::grid::latency::LatencyModel;
    use hope::grid::planner::{Request, plan};
    use hope::grid::sim::{Cluster, mean};
    let sim = Simulation::from_file(&args.file)?;
    let workload = SimulationWorkload::new(&sim, 1)?;
    let batches = workload.batch_count();
    let seconds_per_batch = match args.seconds_per_batch {
        Some(s) => s,
        None => {
            let start = Instant::now();
            workload
                .run(0..1)
                .map_err(|e| anyhow::anyhow!("calibration batch: {e}"))?;
            start.elapsed().as_secs_f64()
        }
    };
    let mut speeds = vec![(1.0, 1.0 - args.stragglers)];
    if args.stragglers > 0.0 {
        speeds.push((args.straggler_speed, args.stragglers));
    }
    let cluster = Cluster {
        latency: LatencyModel::Parametric {
            median_s: args.latency_median_s,
            sigma: args.latency_sigma,
            outlier_fraction: args.outliers,
            outlier_factor: args.outlier_factor,
            lost_fraction: args.lost,
        },
        speeds,
    };
    let req = Request {
        batches,
        seconds_per_batch,
        max_jobs: args.max_jobs,
        cluster: cluster.clone(),
        chunks_per_job: args.chunks_per_job,
        replications: 200,
        seed: 1,
    };
    let choice = plan(&req)?;
    let work = batches as f64 * seconds_per_batch;
    println!("{batches} batches of {seconds_per_batch:.3} s ({work:.0} s of work on this machine)");
    println!(
        "resubmission timeout {:.0} s (Glatard et al. 2007)",
        choice.timeout_s
    );
    println!(
        "static: {} jobs, expected makespan {:.0} s",
        choice.jobs, choice.static_makespan_s
    );
    println!(
        "dynamic: {} jobs x {} chunks, expected makespan {:.0} s",
        choice.dynamic_jobs, args.chunks_per_job, choice.dynamic_makespan_s
    );
    println!("chosen: {:?}", choice.plan(&req)?.mode());
    if args.simulate {
        let eval = |n: u32, dynamic: bool, seed: u64| {
            mean(500, seed, |s| {
                if dynamic {
                    let chunks = (u64::from(n) * u64::from(args.chunks_per_job)).min(batches);
                    cluster.dynamic_makespan(work, n, chunks as u32, choice.timeout_s, s)
                } else {
                    cluster.static_makespan(work, n, choice.timeout_s, s)
                }
            })
        };
        println!("simulated makespans (500 runs each, independent streams):");
        let naive_n = args.max_jobs.min(batches as u32);
        for (label, n, dynamic) in [
            ("static, chosen N", choice.jobs, false),
            ("static, one job per core", naive_n, false),
            ("dynamic", choice.dynamic_jobs, true),
        ] {
            println!("  {label:<26} N = {n:>5}: {:>9.0} s", eval(n, dynamic, 99));
        }
        println!("  static N curve (planner's estimates):");
        for (n, m) in choice.static_curve.iter().step_by(4) {
            println!("    N = {n:>5}: {m:>9.0} s");
        }
    }
    Ok(())
}
