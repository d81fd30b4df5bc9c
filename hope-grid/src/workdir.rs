//! The shared working directory of a run: the plan, the ledger of chunks (who holds which, what
//! is done) and the partial results, one checksummed file per chunk.
//!
//! ```text
//! WORKDIR/plan.json          the plan
//! WORKDIR/ledger.json        per chunk: pending, leased (task, until) or done; attempts, last error
//! WORKDIR/ledger.lock        an advisory lock (flock) held while the ledger is read and rewritten
//! WORKDIR/partials/C.part    chunk C's result: header, SHA-256, payload (written to a temporary
//!                            file and renamed: never half-written)
//! ```
//!
//! Every writer takes the lock, reads the ledger, changes it and replaces it atomically, so tasks
//! on several machines sharing the directory see one consistent ledger. A claim holds for the
//! plan's lease; a task that vanishes loses its chunks when the lease expires.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::plan::Plan;
use crate::{Error, Result};

const MAGIC: &[u8; 8] = b"HOPEPART";
const VERSION: u32 = 1;
const HEADER: usize = 8 + 4 + 8 + 8 + 8 + 32;

/// The header of a stored result: magic, version, batches, length, SHA-256 of the payload.
fn blob_header(range: &std::ops::Range<u64>, payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER);
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&VERSION.to_le_bytes());
    h.extend_from_slice(&range.start.to_le_bytes());
    h.extend_from_slice(&range.end.to_le_bytes());
    h.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    h.extend_from_slice(&Sha256::digest(payload));
    h
}

/// The payload of a stored result of batches `range`, checked.
fn blob_payload(path: &Path, bytes: &[u8], range: &std::ops::Range<u64>) -> Result<Vec<u8>> {
    let bad = |m: &str| Err(Error::corrupt(path, m));
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return bad("not a hope-grid partial result");
    }
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]));
    if u32::from_le_bytes(bytes[8..12].try_into().unwrap_or([0; 4])) != VERSION {
        return bad("unknown version");
    }
    if word(12) != range.start || word(20) != range.end {
        return bad("batches differ from the plan's chunk");
    }
    if word(28) != (bytes.len() - HEADER) as u64 {
        return bad("truncated");
    }
    let payload = &bytes[HEADER..];
    if Sha256::digest(payload).as_slice() != &bytes[36..HEADER] {
        return bad("checksum mismatch");
    }
    Ok(payload.to_vec())
}

/// A chunk's state in the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum ChunkState {
    /// Waiting for a task.
    Pending,
    /// Held by `task` until `until_ms` (Unix time, milliseconds).
    Leased {
        /// The task.
        task: u32,
        /// End of the lease.
        until_ms: u64,
    },
    /// Its result is stored.
    Done {
        /// The task that stored it.
        task: u32,
    },
}

/// One chunk's entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkEntry {
    /// The state.
    #[serde(flatten)]
    pub state: ChunkState,
    /// Claims so far.
    pub attempts: u32,
    /// The last failure, if any.
    pub last_error: Option<String>,
}

/// The ledger of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    /// One entry per chunk of the plan.
    pub chunks: Vec<ChunkEntry>,
}

impl Ledger {
    /// The chunks not done yet, in order.
    pub fn not_done(&self) -> Vec<usize> {
        self.chunks
            .iter()
            .enumerate()
            .filter(|(_, c)| !matches!(c.state, ChunkState::Done { .. }))
            .map(|(i, _)| i)
            .collect()
    }

    /// Chunks done.
    pub fn done(&self) -> usize {
        self.chunks
            .iter()
            .filter(|c| matches!(c.state, ChunkState::Done { .. }))
            .count()
    }
}

/// A run's working directory.
#[derive(Debug, Clone)]
pub struct WorkDir {
    root: PathBuf,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl WorkDir {
    /// Prepares `root` for `plan` (creating it), or opens it if it already holds the same plan
    /// (a resumed run keeps its ledger and results).
    pub fn create(root: impl AsRef<Path>, plan: &Plan) -> Result<Self> {
        plan.validate()?;
        let root = root.as_ref().to_path_buf();
        let dir = Self { root };
        std::fs::create_dir_all(dir.root.join("partials"))
            .map_err(|e| Error::io(dir.root.join("partials"), e))?;
        let plan_path = dir.root.join("plan.json");
        if plan_path.exists() {
            let existing = dir.plan()?;
            if &existing != plan {
                return Err(Error::corrupt(
                    plan_path,
                    "holds another plan; use a new working directory",
                ));
            }
            return Ok(dir);
        }
        let json = serde_json::to_vec_pretty(plan).map_err(|e| Error::Plan(e.to_string()))?;
        let ledger = Ledger {
            chunks: vec![
                ChunkEntry {
                    state: ChunkState::Pending,
                    attempts: 0,
                    last_error: None,
                };
                plan.chunks().len()
            ],
        };
        dir.write_ledger(&ledger)?;
        hope_core::fs::write_atomic(&plan_path, &json)
            .map_err(|e| Error::corrupt(&plan_path, e.to_string()))?;
        Ok(dir)
    }

    /// Opens an existing working directory.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        let dir = Self {
            root: root.as_ref().to_path_buf(),
        };
        dir.plan()?;
        Ok(dir)
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The plan stored here.
    pub fn plan(&self) -> Result<Plan> {
        let path = self.root.join("plan.json");
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let plan: Plan =
            serde_json::from_slice(&bytes).map_err(|e| Error::corrupt(&path, e.to_string()))?;
        plan.validate()
            .map_err(|e| Error::corrupt(&path, e.to_string()))?;
        Ok(plan)
    }

    /// The ledger as it is now.
    pub fn ledger(&self) -> Result<Ledger> {
        let _lock = self.lock()?;
        self.read_ledger()
    }

    fn lock(&self) -> Result<File> {
        let path = self.root.join("ledger.lock");
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        f.lock().map_err(|e| Error::io(&path, e))?;
        Ok(f)
    }

    fn read_ledger(&self) -> Result<Ledger> {
        let path = self.root.join("ledger.json");
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        serde_json::from_slice(&bytes).map_err(|e| Error::corrupt(&path, e.to_string()))
    }

    fn write_ledger(&self, ledger: &Ledger) -> Result<()> {
        let path = self.root.join("ledger.json");
        let json = serde_json::to_vec(ledger).map_err(|e| Error::corrupt(&path, e.to_string()))?;
        hope_core::fs::write_atomic(&path, &json).map_err(|e| Error::corrupt(&path, e.to_string()))
    }

    /// Changes the ledger under the lock.
    fn update<T>(&self, f: impl FnOnce(&mut Ledger) -> T) -> Result<T> {
        let _lock = self.lock()?;
        let mut ledger = self.read_ledger()?;
        let out = f(&mut ledger);
        self.write_ledger(&ledger)?;
        Ok(out)
    }

    /// Claims a chunk task `task` may take that is pending or whose lease expired: the one
    /// claimed least often so far, then the first (a chunk that keeps failing waits behind the
    /// others instead of stopping every task in turn).
    pub fn claim(&self, plan: &Plan, task: u32) -> Result<Option<usize>> {
        let lease_ms = (plan.lease_s() * 1000.0) as u64;
        self.update(|l| {
            let now = now_ms();
            let (i, _) = l
                .chunks
                .iter()
                .enumerate()
                .filter(|(i, c)| {
                    plan.may_claim(task, *i)
                        && match c.state {
                            ChunkState::Pending => true,
                            ChunkState::Leased { until_ms, .. } => until_ms < now,
                            ChunkState::Done { .. } => false,
                        }
                })
                .min_by_key(|(i, c)| (c.attempts, *i))?;
            let c = &mut l.chunks[i];
            c.state = ChunkState::Leased {
                task,
                until_ms: now.saturating_add(lease_ms),
            };
            c.attempts += 1;
            Some(i)
        })
    }

    /// Stores chunk `chunk`'s result and marks it done. A chunk already done keeps its first
    /// result (a task that outlived its lease computed the same batches: identical bytes).
    pub fn complete(&self, plan: &Plan, chunk: usize, task: u32, payload: &[u8]) -> Result<()> {
        let range = plan
            .chunks()
            .get(chunk)
            .ok_or_else(|| Error::Plan(format!("no chunk {chunk}")))?;
        let path = self.partial_path(chunk);
        let mut f = hope_core::fs::AtomicFile::create(&path)
            .map_err(|e| Error::corrupt(&path, e.to_string()))?;
        f.write_all(&blob_header(range, payload))
            .and_then(|()| f.write_all(payload))
            .map_err(|e| Error::io(&path, e))?;
        // Not stored (false) when an identical result was there first.
        f.commit_new(true)
            .map_err(|e| Error::corrupt(&path, e.to_string()))?;
        self.update(|l| {
            if let Some(c) = l.chunks.get_mut(chunk)
                && !matches!(c.state, ChunkState::Done { .. })
            {
                c.state = ChunkState::Done { task };
            }
        })
    }

    /// Gives chunk `chunk` back after a failure (another task, or a resubmission, takes it).
    pub fn release(&self, chunk: usize, task: u32, error: &str) -> Result<()> {
        self.update(|l| {
            if let Some(c) = l.chunks.get_mut(chunk) {
                if matches!(c.state, ChunkState::Leased { task: t, .. } if t == task) {
                    c.state = ChunkState::Pending;
                }
                c.last_error = Some(error.chars().take(500).collect());
            }
        })
    }

    /// Gives back every chunk task `task` still holds: the executor saw the task end without
    /// finishing (killed, cancelled, crashed), so its leases need not run out first. Returns how
    /// many.
    pub fn release_task(&self, task: u32, reason: &str) -> Result<usize> {
        self.update(|l| {
            let mut n = 0;
            for c in &mut l.chunks {
                if matches!(c.state, ChunkState::Leased { task: t, .. } if t == task) {
                    c.state = ChunkState::Pending;
                    c.last_error = Some(reason.chars().take(500).collect());
                    n += 1;
                }
            }
            n
        })
    }

    fn partial_path(&self, chunk: usize) -> PathBuf {
        self.root.join("partials").join(format!("{chunk}.part"))
    }

    /// Chunk `chunk`'s stored payload, checked against its header and checksum; None if absent.
    pub fn read_partial(&self, plan: &Plan, chunk: usize) -> Result<Option<Vec<u8>>> {
        let path = self.partial_path(chunk);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        blob_payload(&path, &bytes, &plan.chunks()[chunk]).map(Some)
    }

    /// The merged result of the first chunks, if a checkpoint was written: (batches covered from
    /// 0, payload). A damaged checkpoint is ignored (the chunks are merged again).
    pub fn read_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>> {
        let path = self.root.join("checkpoint.part");
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        if bytes.len() < HEADER {
            return Ok(None);
        }
        let end = u64::from_le_bytes(bytes[20..28].try_into().unwrap_or([0; 8]));
        Ok(blob_payload(&path, &bytes, &(0..end))
            .ok()
            .map(|p| (end, p)))
    }

    /// The batches the checkpoint claims to cover from 0, read from its header alone (0 without
    /// one); [`WorkDir::read_checkpoint`] checks it.
    pub fn checkpoint_end(&self) -> Result<u64> {
        let path = self.root.join("checkpoint.part");
        let mut header = [0u8; HEADER];
        match std::fs::File::open(&path) {
            Ok(mut f) => Ok(match std::io::Read::read_exact(&mut f, &mut header) {
                Ok(()) if &header[..8] == MAGIC => {
                    u64::from_le_bytes(header[20..28].try_into().unwrap_or([0; 8]))
                }
                _ => 0,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// Stores the merged result of batches `0..end` (atomically).
    pub fn write_checkpoint(&self, end: u64, payload: &[u8]) -> Result<()> {
        let path = self.root.join("checkpoint.part");
        let mut f = hope_core::fs::AtomicFile::create(&path)
            .map_err(|e| Error::corrupt(&path, e.to_string()))?;
        f.write_all(&blob_header(&(0..end), payload))
            .and_then(|()| f.write_all(payload))
            .map_err(|e| Error::io(&path, e))?;
        f.commit().map_err(|e| Error::corrupt(&path, e.to_string()))
    }

    /// Checks every chunk marked done: a missing or damaged result sends it back to pending (its
    /// file is removed). Returns how many were sent back.
    pub fn verify(&self, plan: &Plan) -> Result<usize> {
        let mut bad = Vec::new();
        for (i, c) in self.ledger()?.chunks.iter().enumerate() {
            if matches!(c.state, ChunkState::Done { .. }) {
                match self.read_partial(plan, i) {
                    Ok(Some(_)) => {}
                    Ok(None) => bad.push((i, "result missing".to_string())),
                    Err(e) => bad.push((i, e.to_string())),
                }
            }
        }
        for (i, _) in &bad {
            let path = self.partial_path(*i);
            if path.exists() {
                std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
            }
        }
        let n = bad.len();
        self.update(|l| {
            for (i, why) in bad {
                l.chunks[i].state = ChunkState::Pending;
                l.chunks[i].last_error = Some(why);
            }
        })?;
        Ok(n)
    }
}
