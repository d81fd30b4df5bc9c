//! Tasks as elements of a Slurm job array: `sbatch --parsable --array=...` submits a job script
//! rendered from a template (partition, account, time limit, memory, extra `#SBATCH` lines), each
//! element runs the worker command with its task index; `squeue` follows the states, `scancel`
//! cancels. Slurm is driven through its commands, the stable surface across versions. The working
//! directory must be shared by the nodes.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::exec::{Executor, TaskOutcome};
use crate::plan::Plan;
use crate::workdir::WorkDir;
use crate::{Error, Result};

/// What goes into the job script's `#SBATCH` lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobTemplate {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// `--time` (Slurm's formats, e.g. `01:00:00`).
    pub time: Option<String>,
    /// `--mem` (e.g. `2G`).
    pub mem: Option<String>,
    /// `--cpus-per-task`.
    pub cpus_per_task: Option<u32>,
    /// More `#SBATCH` options, one per entry (e.g. `--qos=short`).
    pub extra: Vec<String>,
}

impl JobTemplate {
    /// The same template with a partition.
    pub fn partition(mut self, p: &str) -> Self {
        self.partition = Some(p.into());
        self
    }

    /// The same template with a time limit.
    pub fn time(mut self, t: &str) -> Self {
        self.time = Some(t.into());
        self
    }

    /// The same template with a memory request.
    pub fn mem(mut self, m: &str) -> Self {
        self.mem = Some(m.into());
        self
    }

    /// The same template with an account.
    pub fn account(mut self, a: &str) -> Self {
        self.account = Some(a.into());
        self
    }

    /// The same template with one more `#SBATCH` option.
    pub fn extra(mut self, option: &str) -> Self {
        self.extra.push(option.into());
        self
    }
}

/// The Slurm executor.
#[derive(Debug, Clone)]
pub struct Slurm {
    program: PathBuf,
    args: Vec<OsString>,
    template: JobTemplate,
    poll: Duration,
    name: String,
}

/// Quotes a word for a POSIX shell.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// An `#SBATCH` value that cannot break the script.
fn option_value(v: &str) -> Result<&str> {
    if v.is_empty() || v.chars().any(|c| c.is_control() || c == ' ') {
        return Err(Error::Plan(format!(
            "job template value {v:?}: expected one word without spaces or control characters"
        )));
    }
    Ok(v)
}

impl Slurm {
    /// Runs `program args... --dir DIR --task $SLURM_ARRAY_TASK_ID` in each array element.
    pub fn new(program: impl Into<PathBuf>, args: &[&str], template: JobTemplate) -> Self {
        Self {
            program: program.into(),
            args: args.iter().map(OsString::from).collect(),
            template,
            poll: Duration::from_millis(500),
            name: "hope".into(),
        }
    }

    /// How often `squeue` is asked (default 0.5 s).
    pub fn poll(mut self, every: Duration) -> Self {
        self.poll = every;
        self
    }

    /// The job name (default `hope`).
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    /// The job script for the working directory `dir`. The job's name goes to `sbatch` as an
    /// argument, and Slurm's own output to `/dev/null`: the script sends its output to
    /// `logs/slurm-JOB_TASK.out` itself, with the path quoted for the shell, so that no character
    /// of the directory's path (quotes, `%`, `\\`, `#`, spaces) reaches a `#SBATCH` line or a Slurm
    /// file-name pattern (Slurm expands `%` and `\\` anywhere in an output path).
    pub fn script(&self, dir: &WorkDir) -> Result<String> {
        let t = &self.template;
        let root = dir.root().to_string_lossy().into_owned();
        let mut s = String::from("#!/bin/sh\n");
        for (flag, v) in [
            ("partition", &t.partition),
            ("account", &t.account),
            ("time", &t.time),
            ("mem", &t.mem),
        ] {
            if let Some(v) = v {
                s.push_str(&format!("#SBATCH --{flag}={}\n", option_value(v)?));
            }
        }
        if let Some(c) = t.cpus_per_task {
            s.push_str(&format!("#SBATCH --cpus-per-task={c}\n"));
        }
        for e in &t.extra {
            s.push_str(&format!("#SBATCH {}\n", option_value(e)?));
        }
        let log_prefix = dir.root().join("logs").join("slurm-");
        s.push_str(&format!(
            "exec >> {}\"$SLURM_ARRAY_JOB_ID\"_\"$SLURM_ARRAY_TASK_ID\".out 2>&1\n",
            shell_quote(&log_prefix.to_string_lossy())
        ));
        let mut cmd = vec![shell_quote(&self.program.to_string_lossy())];
        cmd.extend(self.args.iter().map(|a| shell_quote(&a.to_string_lossy())));
        s.push_str(&format!(
            "exec {} --dir {} --task \"$SLURM_ARRAY_TASK_ID\"\n",
            cmd.join(" "),
            shell_quote(&root)
        ));
        Ok(s)
    }

    fn command(name: &str) -> Command {
        Command::new(name)
    }

    /// Submits the array; returns the job id.
    fn submit(&self, dir: &WorkDir, tasks: &[u32]) -> Result<String> {
        let logs = dir.root().join("logs");
        std::fs::create_dir_all(&logs).map_err(|e| Error::io(&logs, e))?;
        let script = dir.root().join("job.sh");
        hope_core::fs::write_atomic(&script, self.script(dir)?.as_bytes())
            .map_err(|e| Error::corrupt(&script, e.to_string()))?;
        let list = tasks
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        // The job name as one argument, control characters left out (it is only a label).
        let name: String = self.name.chars().filter(|c| !c.is_control()).collect();
        let out = Self::command("sbatch")
            .current_dir(dir.root())
            .arg("--parsable")
            .arg(format!("--array={list}"))
            .arg(format!(
                "--job-name={}",
                if name.is_empty() { "hope" } else { &name }
            ))
            .arg("--output=/dev/null")
            .arg("job.sh")
            .output()
            .map_err(|e| Error::io("sbatch", e))?;
        if !out.status.success() {
            return Err(Error::Plan(format!(
                "sbatch: {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let id = String::from_utf8_lossy(&out.stdout)
            .trim()
            .split(';')
            .next()
            .unwrap_or("")
            .to_string();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
            return Err(Error::Plan(format!("sbatch printed no job id: {id:?}")));
        }
        Ok(id)
    }

    /// The states of the array's elements: (task, state).
    fn states(&self, job: &str) -> Result<Vec<(u32, String)>> {
        let out = Self::command("squeue")
            .args(["-h", "-r", "-t", "all", "-j", job, "-o", "%i %T"])
            .output()
            .map_err(|e| Error::io("squeue", e))?;
        if !out.status.success() {
            return Err(Error::Plan(format!(
                "squeue: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let (id, state) = l.trim().split_once(' ')?;
                let task = id.rsplit_once('_')?.1.parse().ok()?;
                Some((task, state.to_string()))
            })
            .collect())
    }

    /// Cancels a whole job or one element (`JOB_TASK`).
    pub fn cancel(id: &str) -> Result<()> {
        let out = Self::command("scancel")
            .arg(id)
            .output()
            .map_err(|e| Error::io("scancel", e))?;
        if !out.status.success() {
            return Err(Error::Plan(format!(
                "scancel {id}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }
}

const ACTIVE: [&str; 6] = [
    "PENDING",
    "RUNNING",
    "CONFIGURING",
    "COMPLETING",
    "SUSPENDED",
    "REQUEUED",
];

impl Executor for Slurm {
    fn run_tasks(&self, dir: &WorkDir, _plan: &Plan, tasks: &[u32]) -> Result<Vec<TaskOutcome>> {
        let job = self.submit(dir, tasks)?;
        let job_file = dir.root().join("slurm-jobs.txt");
        let mut f = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&job_file)
            .map_err(|e| Error::io(&job_file, e))?;
        std::io::Write::write_all(&mut f, format!("{job}\n").as_bytes())
            .map_err(|e| Error::io(&job_file, e))?;
        let states = loop {
            std::thread::sleep(self.poll);
            let states = self.states(&job)?;
            let active = states.iter().any(|(_, s)| ACTIVE.contains(&s.as_str()));
            // An element not listed yet (being split from the array) counts as active.
            if !active && tasks.iter().all(|t| states.iter().any(|(x, _)| x == t)) {
                break states;
            }
            if !active && states.is_empty() {
                // Forgotten already (MinJobAge): the ledger will tell.
                break states;
            }
        };
        Ok(tasks
            .iter()
            .map(|t| match states.iter().find(|(x, _)| x == t) {
                Some((_, s)) if s == "COMPLETED" => TaskOutcome::Finished,
                Some((_, s)) => TaskOutcome::Failed(format!(
                    "array element {job}_{t}: {s}; see {}",
                    dir.root().join("logs").display()
                )),
                None => TaskOutcome::Finished,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_job_script_carries_the_template_and_quotes_the_command() {
        let tmp = std::env::temp_dir().join(format!("hope-grid-slurm-{}", std::process::id()));
        let plan = Plan::fixed(4, 2).unwrap_or_else(|e| panic!("{e}"));
        let dir = WorkDir::create(&tmp, &plan).unwrap_or_else(|e| panic!("{e}"));
        let t = JobTemplate::default()
            .partition("short")
            .time("00:10:00")
            .mem("2G")
            .account("physics")
            .extra("--qos=low");
        let s = Slurm::new("/opt/hope it's/bin/hope", &["worker", "--threads", "1"], t)
            .script(&dir)
            .unwrap_or_else(|e| panic!("{e}"));
        for want in [
            "#SBATCH --partition=short\n",
            "#SBATCH --time=00:10:00\n",
            "#SBATCH --mem=2G\n",
            "#SBATCH --account=physics\n",
            "#SBATCH --qos=low\n",
            "exec '/opt/hope it'\\''s/bin/hope' 'worker' '--threads' '1' --dir '",
            "--task \"$SLURM_ARRAY_TASK_ID\"\n",
        ] {
            assert!(s.contains(want), "{want:?} in\n{s}");
        }
        let bad = Slurm::new(
            "hope",
            &[],
            JobTemplate::default().partition("a b\n#SBATCH x"),
        );
        assert!(bad.script(&dir).is_err());
        std::fs::remove_dir_all(&tmp).unwrap_or_else(|e| panic!("{e}"));
    }
}
