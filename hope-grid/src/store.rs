//! The job store: every run's record (id, author, times, status, executor, result location) kept
//! in its working directory as `job.json`, and the listing of the runs under a directory, the
//! table a portal shows. Progress and per-task states come from the ledger.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::workdir::{ChunkState, Ledger, WorkDir};
use crate::{Error, Result};

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Created, not started.
    Pending,
    /// Started (or its submitting process died: resume it).
    Running,
    /// Merged result written.
    Finished,
    /// Gave up after its rounds.
    Failed,
    /// Cancelled by a user.
    Cancelled,
}

/// A run's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Unique id.
    pub id: String,
    /// Who submitted it.
    pub author: String,
    /// Creation time, Unix seconds.
    pub created_s: u64,
    /// Start of the last execution, Unix seconds.
    pub started_s: Option<u64>,
    /// End, Unix seconds.
    pub finished_s: Option<u64>,
    /// Status.
    pub status: JobStatus,
    /// Executor name.
    pub executor: String,
    /// Where the result is.
    pub result: Option<PathBuf>,
    /// The last error, if any.
    pub message: Option<String>,
}

/// Unix seconds now.
pub fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl JobRecord {
    /// A new pending record: the id is the creation time and a hash of the directory and the
    /// process, e.g. `20261125-101500-3f9a`.
    pub fn new(dir: &WorkDir, author: &str, executor: &str) -> Self {
        let created_s = now_s();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in dir
            .root()
            .to_string_lossy()
            .bytes()
            .chain(std::process::id().to_le_bytes())
            .chain(created_s.to_le_bytes())
        {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        Self {
            id: format!(
                "{}-{:04x}",
                utc(created_s).replace(['-', ':'], "").replace('T', "-"),
                h & 0xffff
            ),
            author: author.to_string(),
            created_s,
            started_s: None,
            finished_s: None,
            status: JobStatus::Pending,
            executor: executor.to_string(),
            result: None,
            message: None,
        }
    }

    /// Seconds from start to end (or to now while running).
    pub fn duration_s(&self) -> Option<u64> {
        let start = self.started_s?;
        Some(self.finished_s.unwrap_or_else(now_s).saturating_sub(start))
    }
}

/// `YYYY-MM-DDTHH:MM:SS` (UTC) of Unix seconds.
pub fn utc(s: u64) -> String {
    hope_core::calendar::utc_seconds(s)
}

impl WorkDir {
    /// The run's record, if written.
    pub fn record(&self) -> Result<Option<JobRecord>> {
        let path = self.root().join("job.json");
        match hope_core::fs::read_bounded(&path, 1 << 20) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| Error::corrupt(&path, e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// Writes the run's record (atomically).
    pub fn write_record(&self, record: &JobRecord) -> Result<()> {
        let path = self.root().join("job.json");
        let json =
            serde_json::to_vec_pretty(record).map_err(|e| Error::corrupt(&path, e.to_string()))?;
        hope_core::fs::write_atomic(&path, &json).map_err(|e| Error::corrupt(&path, e.to_string()))
    }
}

/// One run found by [`list`].
#[derive(Debug, Clone)]
pub struct JobRow {
    /// Its working directory.
    pub dir: PathBuf,
    /// Its record.
    pub record: JobRecord,
    /// Chunks done and in all.
    pub progress: (usize, usize),
    /// Per task: chunks done, chunks held now.
    pub tasks: Vec<(u32, usize, usize)>,
}

/// Per task of a ledger: (task, chunks done, chunks held).
pub fn task_states(ledger: &Ledger) -> Vec<(u32, usize, usize)> {
    let mut out: std::collections::BTreeMap<u32, (usize, usize)> = Default::default();
    for c in &ledger.chunks {
        match c.state {
            ChunkState::Done { task } => out.entry(task).or_default().0 += 1,
            ChunkState::Leased { task, .. } => out.entry(task).or_default().1 += 1,
            ChunkState::Pending => {}
        }
    }
    out.into_iter().map(|(t, (d, h))| (t, d, h)).collect()
}

/// A run directory that could not be read, and why.
pub type Unreadable = (PathBuf, String);

/// The runs in `root` and its subdirectories (two levels), newest first. Runs whose directory
/// cannot be read (damaged, foreign, another version) are left out: [`list_all`] lists them too.
pub fn list(root: &Path) -> Result<Vec<JobRow>> {
    list_all(root).map(|(rows, _)| rows)
}

/// The runs in `root` and its subdirectories (two levels), newest first, and the directories with
/// a `job.json` that could not be read, each with the reason: one damaged or foreign run never
/// hides the others. Ledgers are read without taking their lock, so that a user who may read a
/// run but not write in it still sees it.
pub fn list_all(root: &Path) -> Result<(Vec<JobRow>, Vec<Unreadable>)> {
    let mut rows = Vec::new();
    let mut unreadable = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    for level in 0..2 {
        let mut next = Vec::new();
        for d in &dirs {
            if d.join("job.json").is_file() {
                let row = WorkDir::open(d).and_then(|wd| {
                    let record = wd
                        .record()?
                        .ok_or_else(|| Error::corrupt(d.join("job.json"), "no job record"))?;
                    let ledger = wd.ledger_unlocked()?;
                    Ok(JobRow {
                        dir: d.clone(),
                        progress: (ledger.done(), ledger.chunks.len()),
                        tasks: task_states(&ledger),
                        record,
                    })
                });
                match row {
                    Ok(r) => rows.push(r),
                    Err(e) => unreadable.push((d.clone(), e.to_string())),
                }
                continue;
            }
            if level == 1 {
                continue;
            }
            let Ok(entries) = std::fs::read_dir(d) else {
                continue;
            };
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    next.push(e.path());
                }
            }
        }
        next.sort();
        dirs = next;
    }
    rows.sort_by(|a, b| {
        b.record
            .created_s
            .cmp(&a.record.created_s)
            .then(a.dir.cmp(&b.dir))
    });
    unreadable.sort();
    Ok((rows, unreadable))
}
