//! The shared working directory of a run: the plan, the ledger of chunks (who holds which, what
//! is done) and the partial results, one tagged file per chunk.
//!
//! ```text
//! WORKDIR/plan.json          the plan
//! WORKDIR/run.key            32 random bytes, mode 0600, made with the directory
//! WORKDIR/ledger.json        per chunk: pending, leased (task, until) or done; attempts, last error
//! WORKDIR/ledger.lock        an advisory lock (flock) held while the ledger is read and rewritten
//! WORKDIR/partials/C.part    chunk C's result: header (batches, length, tag), payload (written to
//!                            a temporary file and renamed: never half-written)
//! WORKDIR/checkpoint.part    the merged result of the leading chunks, tagged likewise
//! ```
//!
//! Every writer takes the lock, reads the ledger, changes it and replaces it atomically, so tasks
//! on several machines sharing the directory see one consistent ledger. A claim holds for the
//! plan's lease; a task that vanishes loses its chunks when the lease expires.
//!
//! A result belongs to its run, provably: its tag is an HMAC-SHA256 under the run key of the
//! run's digest (the plan and the workload's [`Workload::fingerprint`]: for simulations the
//! phantom voxel by voxel, physics, source, histories and seed), the batches and the payload.
//! Whoever may write in a shared directory but cannot read the key (owned by the submitting
//! user, mode 0600; a key others may read, or owned by someone else, is refused) cannot plant a
//! result, and a result of another run, even with the same plan, never verifies. Each result is
//! then decoded and checked against its batches ([`Workload::check`]), and the merged result
//! against the whole run. Files are read only if regular and only up to the size a result of
//! their batches can have ([`Workload::max_encoded_len`]); a ledger of another length than the
//! plan is an error naming it.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::plan::Plan;
use crate::workload::Workload;
use crate::{Error, Result};

const MAGIC: &[u8; 8] = b"HOPEPART";
const VERSION: u32 = 2;
const HEADER: usize = 8 + 4 + 8 + 8 + 8 + 32;
/// The run key's file name and size.
const KEY_FILE: &str = "run.key";
const KEY_LEN: usize = 32;
/// The longest the ledger's lock is waited for: it is held for a read and an atomic rewrite of
/// the ledger, milliseconds.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(60);
/// The largest plan, ledger or job record read (a chunk's ledger entry is well under 1 KiB).
const MAX_JSON: u64 = 64 << 20;

type HmacSha256 = hmac::Hmac<Sha256>;

/// What a stored result is: one chunk's, or the merged result of the first chunks.
#[derive(Clone, Copy)]
enum Kind {
    Chunk,
    Checkpoint,
}

/// The tag binding a stored result to its run: HMAC-SHA256 under the run key of the kind, the
/// run (plan and workload fingerprint), the batches and the payload.
fn tag(
    key: &[u8; KEY_LEN],
    run: &[u8; 32],
    kind: Kind,
    range: &std::ops::Range<u64>,
    payload: &[u8],
) -> [u8; 32] {
    use hmac::{KeyInit, Mac};
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(b"hope-grid result v2\0");
    m.update(match kind {
        Kind::Chunk => b"chunk",
        Kind::Checkpoint => b"check",
    });
    m.update(run);
    m.update(&range.start.to_le_bytes());
    m.update(&range.end.to_le_bytes());
    m.update(&(payload.len() as u64).to_le_bytes());
    m.update(payload);
    m.finalize().into_bytes().into()
}

/// The header of a stored result: magic, version, batches, length, tag.
fn blob_header(range: &std::ops::Range<u64>, payload: &[u8], tag: &[u8; 32]) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER);
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&VERSION.to_le_bytes());
    h.extend_from_slice(&range.start.to_le_bytes());
    h.extend_from_slice(&range.end.to_le_bytes());
    h.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    h.extend_from_slice(tag);
    h
}

/// The batches a stored result claims, from its header.
fn blob_range(path: &Path, bytes: &[u8]) -> Result<std::ops::Range<u64>> {
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return Err(Error::corrupt(path, "not a hope-grid result"));
    }
    if u32::from_le_bytes(bytes[8..12].try_into().unwrap_or([0; 4])) != VERSION {
        return Err(Error::corrupt(
            path,
            "unknown version (written by another hope-grid): use a new working directory",
        ));
    }
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]));
    Ok(word(12)..word(20))
}

/// The payload of a stored result of batches `range`, its tag checked.
fn blob_payload<'a>(
    path: &Path,
    bytes: &'a [u8],
    range: &std::ops::Range<u64>,
    key: &[u8; KEY_LEN],
    run: &[u8; 32],
    kind: Kind,
) -> Result<&'a [u8]> {
    let bad = |m: &str| Err(Error::corrupt(path, m));
    if blob_range(path, bytes)? != *range {
        return bad("batches differ from the plan's chunk");
    }
    let len = u64::from_le_bytes(bytes[28..36].try_into().unwrap_or([0; 8]));
    if len != (bytes.len() - HEADER) as u64 {
        return bad("truncated");
    }
    let payload = &bytes[HEADER..];
    let expected = tag(key, run, kind, range, payload);
    // Constant time: the tag is a MAC.
    let diff = expected
        .iter()
        .zip(&bytes[36..HEADER])
        .fold(0u8, |d, (a, b)| d | (a ^ b));
    if diff != 0 {
        return bad("not a result of this run (tag mismatch: another run, or altered)");
    }
    Ok(payload)
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
#[derive(Clone)]
pub struct WorkDir {
    root: PathBuf,
    /// Chunks in the plan: a ledger of another length is refused.
    chunks: usize,
    /// SHA-256 of the plan.
    plan_digest: [u8; 32],
}

impl std::fmt::Debug for WorkDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkDir")
            .field("root", &self.root)
            .field("chunks", &self.chunks)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Whether a lease ending at `until_ms` still holds at `now`: not yet ended, and not ending later
/// than a lease taken now could (a ledger edited to hold a chunk forever does not stall the run).
pub(crate) fn lease_holds(until_ms: u64, now: u64, lease_ms: u64) -> bool {
    until_ms >= now && until_ms <= now.saturating_add(lease_ms).saturating_add(60_000)
}

fn plan_digest(plan: &Plan) -> [u8; 32] {
    let json = serde_json::to_vec(plan).unwrap_or_default();
    Sha256::digest(&json).into()
}

/// Reads a file of the working directory: a regular file of at most `max` bytes.
fn read_file(path: &Path, max: u64) -> Result<Option<Vec<u8>>> {
    match hope_core::fs::read_bounded(path, max) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// The user id of this process (the owner of `/proc/self`), where the system says.
#[cfg(unix)]
fn own_uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

impl WorkDir {
    /// Prepares `root` for `plan` (creating it, with a new random run key), or opens it if it
    /// already holds the same plan (a resumed run keeps its ledger and results).
    pub fn create(root: impl AsRef<Path>, plan: &Plan) -> Result<Self> {
        plan.validate()?;
        let root = root.as_ref().to_path_buf();
        let dir = Self {
            root,
            chunks: plan.chunks().len(),
            plan_digest: plan_digest(plan),
        };
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
            dir.key()?;
            return Ok(dir);
        }
        dir.new_key()?;
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
        let mut dir = Self {
            root: root.as_ref().to_path_buf(),
            chunks: 0,
            plan_digest: [0; 32],
        };
        let plan = dir.plan()?;
        dir.chunks = plan.chunks().len();
        dir.plan_digest = plan_digest(&plan);
        Ok(dir)
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The plan stored here.
    pub fn plan(&self) -> Result<Plan> {
        let path = self.root.join("plan.json");
        let bytes = read_file(&path, MAX_JSON)?.ok_or_else(|| {
            Error::io(
                &path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no plan: not a run directory"),
            )
        })?;
        let plan: Plan =
            serde_json::from_slice(&bytes).map_err(|e| Error::corrupt(&path, e.to_string()))?;
        plan.validate()
            .map_err(|e| Error::corrupt(&path, e.to_string()))?;
        Ok(plan)
    }

    /// Writes a new run key (created, never replaced: a second creator reads the first's).
    fn new_key(&self) -> Result<()> {
        let path = self.root.join(KEY_FILE);
        let mut key = [0u8; KEY_LEN];
        getrandom::fill(&mut key).map_err(|e| Error::corrupt(&path, e.to_string()))?;
        let mut options = File::options();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(&path) {
            Ok(mut f) => {
                f.write_all(&key)
                    .and_then(|()| f.sync_all())
                    .map_err(|e| Error::io(&path, e))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(&path, e)),
        }
        self.key().map(|_| ())
    }

    /// The run key: results are tagged with it, so that whoever can write in a shared working
    /// directory but not read the key (mode 0600, owned by the submitting user) cannot plant one.
    /// A key that others may read or write, that someone else owns, or of the wrong size is
    /// refused.
    fn key(&self) -> Result<[u8; KEY_LEN]> {
        use std::io::Read;
        let path = self.root.join(KEY_FILE);
        let mut f = hope_core::fs::open_regular(&path).map_err(|e| {
            Error::corrupt(
                &path,
                format!("the run key cannot be read ({e}); results cannot be checked"),
            )
        })?;
        let meta = f.metadata().map_err(|e| Error::io(&path, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            if meta.mode() & 0o077 != 0 {
                return Err(Error::corrupt(
                    &path,
                    format!(
                        "mode {:o}: others may read or change the run key (expected 600)",
                        meta.mode() & 0o777
                    ),
                ));
            }
            if let Some(uid) = own_uid()
                && meta.uid() != uid
            {
                return Err(Error::corrupt(
                    &path,
                    format!(
                        "owned by user {}, not by this user ({uid}): the run key was replaced",
                        meta.uid()
                    ),
                ));
            }
        }
        if meta.len() != KEY_LEN as u64 {
            return Err(Error::corrupt(
                &path,
                format!("{} bytes, expected {KEY_LEN}", meta.len()),
            ));
        }
        let mut key = [0u8; KEY_LEN];
        f.read_exact(&mut key).map_err(|e| Error::io(&path, e))?;
        Ok(key)
    }

    /// The tag of a sealed file: HMAC-SHA256 under the run key of its name, the plan and its
    /// bytes.
    fn seal_tag(&self, name: &str, bytes: &[u8]) -> Result<[u8; 32]> {
        use hmac::{KeyInit, Mac};
        let key = self.key()?;
        let mut m =
            <HmacSha256 as KeyInit>::new_from_slice(&key).expect("HMAC takes any key length");
        m.update(b"hope-grid sealed file v1\0");
        m.update(&(name.len() as u64).to_le_bytes());
        m.update(name.as_bytes());
        m.update(&self.plan_digest);
        m.update(bytes);
        Ok(m.finalize().into_bytes().into())
    }

    /// Stores `bytes` as the file `name` of the working directory (the inputs workers read, such
    /// as the simulation) with its tag under the run key beside it (`name.tag`), both atomically,
    /// so that [`WorkDir::read_sealed`] can tell it was written for this run and not changed.
    pub fn write_sealed(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.root.join(name);
        let tag_path = self.root.join(format!("{name}.tag"));
        let tag = self.seal_tag(name, bytes)?;
        hope_core::fs::write_atomic(&path, bytes)
            .map_err(|e| Error::corrupt(&path, e.to_string()))?;
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        hope_core::fs::write_atomic(&tag_path, hex.as_bytes())
            .map_err(|e| Error::corrupt(&tag_path, e.to_string()))
    }

    /// The file `name` written by [`WorkDir::write_sealed`], at most `max` bytes, its tag checked;
    /// None if it does not exist. A file changed since (by whoever may write in a shared
    /// directory), a missing tag, a device or FIFO are errors naming the file.
    pub fn read_sealed(&self, name: &str, max: u64) -> Result<Option<Vec<u8>>> {
        let path = self.root.join(name);
        let Some(bytes) = read_file(&path, max)? else {
            return Ok(None);
        };
        let tag_path = self.root.join(format!("{name}.tag"));
        let tag = read_file(&tag_path, 64)?.ok_or_else(|| {
            Error::corrupt(
                &tag_path,
                "missing: the file beside it cannot be shown to belong to this run",
            )
        })?;
        let expected: String = self
            .seal_tag(name, &bytes)?
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let diff = expected
            .as_bytes()
            .iter()
            .zip(tag.iter().chain(std::iter::repeat(&0)))
            .fold(u8::from(tag.len() != 64), |d, (a, b)| d | (a ^ b));
        if diff != 0 {
            return Err(Error::corrupt(
                &path,
                "changed since the run was created (its tag does not match): not this run's",
            ));
        }
        Ok(Some(bytes))
    }

    /// The digest a workload's results are bound to: the plan and the workload's fingerprint.
    fn run_digest<W: Workload>(&self, workload: &W) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"hope-grid run\0");
        h.update(self.plan_digest);
        h.update(workload.fingerprint());
        h.finalize().into()
    }

    /// The ledger as it is now.
    pub fn ledger(&self) -> Result<Ledger> {
        let _lock = self.lock()?;
        self.read_ledger()
    }

    /// Takes the ledger's lock: `ledger.lock`, a regular file (mode 0600), opened without
    /// blocking (a FIFO planted there cannot hang the run), locked within [`LOCK_WAIT`] (a lock
    /// held longer, by a process that hangs or by someone else, is an error naming the file).
    fn lock(&self) -> Result<File> {
        let path = self.root.join("ledger.lock");
        let mut options = File::options();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let f = hope_core::fs::open_regular_with(&path, &mut options)
            .map_err(|e| Error::io(&path, e))?;
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        loop {
            match f.try_lock() {
                Ok(()) => return Ok(f),
                Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(Error::corrupt(
                        &path,
                        format!(
                            "locked by another process for more than {} s",
                            LOCK_WAIT.as_secs()
                        ),
                    ));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&path, e)),
            }
        }
    }

    /// Reads the ledger without the lock (for listings by users who may not take it).
    pub fn ledger_unlocked(&self) -> Result<Ledger> {
        self.read_ledger()
    }

    fn read_ledger(&self) -> Result<Ledger> {
        let path = self.root.join("ledger.json");
        let bytes = read_file(&path, MAX_JSON)?.ok_or_else(|| {
            Error::io(
                &path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "the ledger is missing"),
            )
        })?;
        let ledger: Ledger =
            serde_json::from_slice(&bytes).map_err(|e| Error::corrupt(&path, e.to_string()))?;
        if ledger.chunks.len() != self.chunks {
            return Err(Error::corrupt(
                &path,
                format!(
                    "{} chunks where the plan has {}: the ledger does not belong to this plan",
                    ledger.chunks.len(),
                    self.chunks
                ),
            ));
        }
        Ok(ledger)
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
                            ChunkState::Leased { until_ms, .. } => {
                                !lease_holds(until_ms, now, lease_ms)
                            }
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

    /// Stores chunk `chunk`'s result, tagged for this run, and marks it done. The result replaces
    /// whatever file was there (one planted in advance, say); a chunk already done by another
    /// task gets the same bytes again (batches are deterministic).
    pub fn complete<W: Workload>(
        &self,
        plan: &Plan,
        chunk: usize,
        task: u32,
        workload: &W,
        partial: &W::Partial,
    ) -> Result<()> {
        let range = plan
            .chunks()
            .get(chunk)
            .ok_or_else(|| Error::Plan(format!("no chunk {chunk}")))?;
        let payload = workload.encode(partial);
        let t = tag(
            &self.key()?,
            &self.run_digest(workload),
            Kind::Chunk,
            range,
            &payload,
        );
        let path = self.partial_path(chunk);
        let mut f = hope_core::fs::AtomicFile::create(&path)
            .map_err(|e| Error::corrupt(&path, e.to_string()))?;
        f.write_all(&blob_header(range, &payload, &t))
            .and_then(|()| f.write_all(&payload))
            .map_err(|e| Error::io(&path, e))?;
        f.commit()
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

    /// Reads, authenticates, decodes and checks a stored result of batches `range`.
    fn load<W: Workload>(
        &self,
        path: &Path,
        range: &std::ops::Range<u64>,
        workload: &W,
        kind: Kind,
    ) -> Result<Option<W::Partial>> {
        let max = workload
            .max_encoded_len(range.clone())
            .saturating_add(HEADER as u64);
        let Some(bytes) = read_file(path, max)? else {
            return Ok(None);
        };
        let payload = blob_payload(
            path,
            &bytes,
            range,
            &self.key()?,
            &self.run_digest(workload),
            kind,
        )?;
        let partial = workload
            .decode(payload)
            .map_err(|e| Error::corrupt(path, e.to_string()))?;
        workload
            .check(range.clone(), &partial)
            .map_err(|e| Error::corrupt(path, e.to_string()))?;
        Ok(Some(partial))
    }

    /// Chunk `chunk`'s stored result, authenticated as this run's, decoded and checked against
    /// its batches ([`Workload::check`]); None if absent.
    pub fn read_partial<W: Workload>(
        &self,
        plan: &Plan,
        chunk: usize,
        workload: &W,
    ) -> Result<Option<W::Partial>> {
        let range = plan
            .chunks()
            .get(chunk)
            .ok_or_else(|| Error::Plan(format!("no chunk {chunk}")))?;
        self.load(&self.partial_path(chunk), range, workload, Kind::Chunk)
    }

    /// The merged result of the first chunks, if a checkpoint was written: (batches covered from
    /// 0, result). A damaged or foreign checkpoint is ignored (the chunks are merged again).
    pub fn read_checkpoint<W: Workload>(&self, workload: &W) -> Result<Option<(u64, W::Partial)>> {
        let path = self.root.join("checkpoint.part");
        let end = self.checkpoint_end()?;
        if end == 0 {
            return Ok(None);
        }
        Ok(self
            .load(&path, &(0..end), workload, Kind::Checkpoint)
            .ok()
            .flatten()
            .map(|p| (end, p)))
    }

    /// The batches the checkpoint claims to cover from 0, read from its header alone (0 without
    /// one); [`WorkDir::read_checkpoint`] checks it.
    pub fn checkpoint_end(&self) -> Result<u64> {
        let path = self.root.join("checkpoint.part");
        let mut header = [0u8; HEADER];
        match hope_core::fs::open_regular(&path) {
            Ok(mut f) => Ok(match std::io::Read::read_exact(&mut f, &mut header) {
                Ok(()) => blob_range(&path, &header).map_or(0, |r| r.end),
                _ => 0,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(_) => Ok(0),
        }
    }

    /// Stores the merged result of batches `0..end` (atomically), tagged for this run.
    pub fn write_checkpoint<W: Workload>(
        &self,
        end: u64,
        workload: &W,
        partial: &W::Partial,
    ) -> Result<()> {
        let path = self.root.join("checkpoint.part");
        let payload = workload.encode(partial);
        let t = tag(
            &self.key()?,
            &self.run_digest(workload),
            Kind::Checkpoint,
            &(0..end),
            &payload,
        );
        let mut f = hope_core::fs::AtomicFile::create(&path)
            .map_err(|e| Error::corrupt(&path, e.to_string()))?;
        f.write_all(&blob_header(&(0..end), &payload, &t))
            .and_then(|()| f.write_all(&payload))
            .map_err(|e| Error::io(&path, e))?;
        f.commit().map_err(|e| Error::corrupt(&path, e.to_string()))
    }

    /// Checks every chunk marked done: a missing, foreign or damaged result sends it back to
    /// pending (its file is removed). Returns how many were sent back.
    pub fn verify<W: Workload>(&self, plan: &Plan, workload: &W) -> Result<usize> {
        // Without a usable run key nothing can be checked: stop, naming the key file.
        self.key()?;
        let mut bad = Vec::new();
        for (i, c) in self.ledger()?.chunks.iter().enumerate() {
            if matches!(c.state, ChunkState::Done { .. }) {
                match self.read_partial(plan, i, workload) {
                    Ok(Some(_)) => {}
                    Ok(None) => bad.push((i, "result missing".to_string())),
                    Err(e) => bad.push((i, e.to_string())),
                }
            }
        }
        for (i, _) in &bad {
            let path = self.partial_path(*i);
            if std::fs::symlink_metadata(&path).is_ok() {
                std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
            }
        }
        let n = bad.len();
        self.update(|l| {
            for (i, why) in bad {
                l.chunks[i].state = ChunkState::Pending;
                l.chunks[i].last_error = Some(why.chars().take(500).collect());
            }
        })?;
        Ok(n)
    }
}
