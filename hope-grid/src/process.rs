//! Tasks as child processes: each runs a worker command (for HOPE-rs, `hope worker`) that calls
//! [`work`](crate::work) on the shared working directory. A crash of the workload stays in its
//! process; the driver sees a non-zero exit and resubmits.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::exec::{Executor, TaskOutcome, run_pool};
use crate::plan::Plan;
use crate::workdir::WorkDir;
use crate::{Error, Result};

/// Runs each task as `program args... --dir DIR --task N`, up to `parallel` at a time; each
/// attempt's output goes to `DIR/logs/task-N.log` (appended).
#[derive(Debug, Clone)]
pub struct Process {
    program: PathBuf,
    args: Vec<OsString>,
    parallel: usize,
}

impl Process {
    /// A process executor running `program` with `args` before the task's arguments.
    pub fn new(program: impl Into<PathBuf>, args: &[&str], parallel: usize) -> Self {
        Self {
            program: program.into(),
            args: args.iter().map(OsString::from).collect(),
            parallel: parallel.max(1),
        }
    }
}

/// Opens a task's log for appending: a regular file of the run's `logs` folder, never followed
/// through a link (a link planted there would have the task's output appended to its target) and
/// never a FIFO (which would block). Anything else found there is replaced.
fn open_log(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    if let Ok(m) = std::fs::symlink_metadata(path)
        && !m.is_file()
    {
        std::fs::remove_file(path)?;
    }
    let mut options = std::fs::File::options();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = hope_core::fs::open_regular_with(path, &mut options)?;
    // Opened what was looked at: the same file as the name now, and not through a link.
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let (open, named) = (file.metadata()?, std::fs::symlink_metadata(path)?);
        if !named.is_file() || (open.dev(), open.ino()) != (named.dev(), named.ino()) {
            return Err(std::io::Error::other(format!(
                "{}: replaced while it was opened",
                path.display()
            )));
        }
    }
    Ok(file)
}

impl Executor for Process {
    fn run_tasks(&self, dir: &WorkDir, _plan: &Plan, tasks: &[u32]) -> Result<Vec<TaskOutcome>> {
        let logs = dir.root().join("logs");
        std::fs::create_dir_all(&logs).map_err(|e| Error::io(&logs, e))?;
        run_pool(tasks, self.parallel, |task| {
            let log_path = logs.join(format!("task-{task}.log"));
            let log = open_log(&log_path).map_err(|e| Error::io(&log_path, e))?;
            let err = log.try_clone();
            let status = Command::new(&self.program)
                .args(&self.args)
                .arg("--dir")
                .arg(dir.root())
                .arg("--task")
                .arg(task.to_string())
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(err.map_or_else(|_| Stdio::null(), Stdio::from))
                .status();
            Ok(match status {
                Ok(s) if s.success() => TaskOutcome::Finished,
                Ok(s) => {
                    TaskOutcome::Failed(format!("task {task}: {s}; see {}", log_path.display()))
                }
                Err(e) => TaskOutcome::Failed(format!(
                    "task {task}: cannot start {}: {e}",
                    self.program.display()
                )),
            })
        })
    }
}
