//! An append-only audit log, chained and keyed, that fails closed.
//!
//! One JSON record per line. Each line ends with `"mac"`: HMAC-SHA256 under the log's
//! [`AuditKey`] over the line's own bytes before it, which hold `"prev"`, the MAC of the line
//! before. So editing, deleting, inserting or reordering any line breaks the chain at that line
//! ([`verify`] says which), every byte of a line is covered (a field added by hand breaks it too),
//! and nobody without the key can write a log that verifies, even by recomputing every hash.
//! Every record is synced to disk before the operation it describes is answered; when a record
//! cannot be written the service refuses the request (fail closed).
//!
//! A write that fails half-way (disk full) is cut back to the last whole record at once; a log
//! whose last line was torn by a crash is repaired when opened (the torn bytes removed, and the
//! repair itself recorded). A complete line that does not verify is tampering: the log refuses to
//! open, and its service to start.
//!
//! Removing lines at the *end* of the log leaves a shorter valid chain: keep the head that
//! [`verify`] reports somewhere else (a ticket, another server's log) to detect that too.
//!
//! ```
//! use hope_service::audit::{AuditKey, AuditLog, Event, verify};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("audit.jsonl");
//! let key = AuditKey::load_or_create(dir.path().join("audit.key"))?;
//! let log = AuditLog::open(&path, key.clone())?;
//! log.append(Event::new("alice", "get", "granted").key("00112233445566778899aabbccddeeff"))?;
//! log.append(Event::new("mallory", "get", "denied").key("00112233445566778899aabbccddeeff"))?;
//! assert_eq!(verify(&path, &key)?.records, 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use hmac::{KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::{Error, Result};

type HmacSha256 = hmac::Hmac<Sha256>;

/// The secret key of an audit log's MAC chain (32 bytes; its `Debug` output never shows it).
#[derive(Clone)]
pub struct AuditKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(<redacted>)")
    }
}

impl AuditKey {
    /// A key from its bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> AuditKey {
        AuditKey(Zeroizing::new(bytes))
    }

    /// Reads a key file (64 hexadecimal digits), or creates one with a fresh random key, readable
    /// by its owner only. Keep it where the log's writers can read it and others cannot: whoever
    /// holds it can forge the log.
    pub fn load_or_create(path: impl AsRef<Path>) -> Result<AuditKey> {
        let path = path.as_ref();
        match hope_core::fs::read_text_bounded(path, hope_core::fs::MAX_CONFIG_BYTES) {
            Ok(text) => {
                let text = Zeroizing::new(text);
                let mut k = [0u8; 32];
                hex::decode_to_slice(text.trim(), &mut k).map_err(|_| Error::Config {
                    path: path.to_path_buf(),
                    field: "audit key".into(),
                    message: "expected 64 hexadecimal digits".into(),
                })?;
                Ok(AuditKey::from_bytes(k))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut k = [0u8; 32];
                crate::error::random_fill(&mut k)?;
                let text = Zeroizing::new(hex::encode(k));
                // A temporary file is created readable by its owner only (0600), then renamed
                // into place unless another process created the key first.
                let mut f = hope_core::fs::AtomicFile::create(path)?;
                f.write_all(text.as_bytes())
                    .map_err(|e| Error::io(path, e))?;
                if f.commit_new(true)? {
                    Ok(AuditKey::from_bytes(k))
                } else {
                    AuditKey::load_or_create(path)
                }
            }
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// The key file that goes with a log when none is configured: `<log>.key`.
    pub fn default_path(log: &Path) -> PathBuf {
        let mut p = log.as_os_str().to_owned();
        p.push(".key");
        PathBuf::from(p)
    }

    fn mac(&self, bytes: &[u8]) -> String {
        let mut m = <HmacSha256 as KeyInit>::new_from_slice(self.0.as_ref())
            .expect("HMAC accepts keys of any length");
        m.update(bytes);
        hex::encode(m.finalize().into_bytes())
    }
}

/// What happened: who did what to which key, with which result.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Event {
    who: String,
    action: String,
    key_id: Option<String>,
    result: String,
    detail: Option<String>,
}

impl Event {
    /// An event: `who` did `action` with `result` (`granted`, `denied`, `ok`, `error`...).
    pub fn new(
        who: impl Into<String>,
        action: impl Into<String>,
        result: impl Into<String>,
    ) -> Event {
        Event {
            who: who.into(),
            action: action.into(),
            key_id: None,
            result: result.into(),
            detail: None,
        }
    }

    /// The key concerned.
    pub fn key(mut self, key_id: impl Into<String>) -> Event {
        self.key_id = Some(key_id.into());
        self
    }

    /// Free detail (never secrets nor PHI).
    pub fn detail(mut self, detail: impl Into<String>) -> Event {
        self.detail = Some(detail.into());
        self
    }
}

/// One line of the log, as written (before its MAC).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Position in the log, from 1.
    pub seq: u64,
    /// UTC time, RFC 3339.
    pub time: String,
    /// Who (certificate CN, or `-` before authentication).
    pub who: String,
    /// What was asked.
    pub action: String,
    /// The key concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub key_id: Option<String>,
    /// The outcome.
    pub result: String,
    /// Free detail.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<String>,
    /// MAC of the previous line (64 zero digits for the first).
    pub prev: String,
}

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// What separates a line's body from its MAC.
const MAC_FIELD: &[u8] = b",\"mac\":\"";

/// What [`verify`] found in a valid log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSummary {
    /// Number of records.
    pub records: u64,
    /// MAC of the last record (the genesis value for an empty log): keep it elsewhere to detect
    /// truncation later.
    pub head: String,
    /// Bytes of whole records (where a torn tail starts, if any).
    pub valid_len: u64,
    /// Bytes after the last whole record (a write torn by a crash).
    pub torn: u64,
    /// The last record is whole but its line end is missing (opening the log adds it).
    pub unterminated: bool,
    /// The latest detail of each [`MARK_ACTION`] record, by key id: state a service must not
    /// forget even when a file of its own is lost (the newest CRL it accepted).
    pub marks: BTreeMap<String, String>,
}

/// The action of records that carry state a service must keep (see [`ChainSummary::marks`]).
pub const MARK_ACTION: &str = "mark";

struct State {
    file: File,
    seq: u64,
    head: String,
    /// Bytes of whole records in the file.
    len: u64,
    /// Per class of rate-limited event: tokens, last refill, suppressed count.
    limits: HashMap<String, (f64, Instant, u64)>,
}

/// An open audit log, safe to share between threads.
pub struct AuditLog {
    path: PathBuf,
    key: AuditKey,
    state: Mutex<State>,
    marks: BTreeMap<String, String>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.path)
            .finish()
    }
}

/// Records of a rate-limited class allowed per second, and in one burst.
const LIMIT_PER_SECOND: f64 = 5.0;
const LIMIT_BURST: f64 = 20.0;

impl AuditLog {
    /// Opens (or creates) a log. An existing log must verify under `key`; a torn last line (a
    /// crash during a write) is removed and the repair recorded.
    pub fn open(path: impl AsRef<Path>, key: AuditKey) -> Result<AuditLog> {
        let path = path.as_ref().to_path_buf();
        let summary = if path.exists() {
            verify_inner(&path, &key, true)?
        } else {
            ChainSummary {
                records: 0,
                head: GENESIS.to_string(),
                valid_len: 0,
                torn: 0,
                unterminated: false,
                marks: BTreeMap::new(),
            }
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| audit_error(&path, format!("cannot open for appending: {e}")))?;
        let mut saved = None;
        if summary.torn > 0 {
            // Keep what is cut, for whoever investigates the crash (it is not chained).
            let side = torn_path(&path);
            let kept = (|| -> std::io::Result<()> {
                let mut f = File::open(&path)?;
                f.seek(SeekFrom::Start(summary.valid_len))?;
                let mut tail = Vec::new();
                f.take(summary.torn).read_to_end(&mut tail)?;
                let mut out = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode_0600()
                    .open(&side)?;
                out.write_all(&tail)?;
                out.sync_all()
            })();
            kept.map_err(|e| {
                audit_error(
                    &path,
                    format!("cannot keep the torn record in {}: {e}", side.display()),
                )
            })?;
            saved = Some(side);
            file.set_len(summary.valid_len)
                .and_then(|()| file.sync_data())
                .map_err(|e| audit_error(&path, format!("cannot cut a torn record: {e}")))?;
        }
        let mut valid_len = summary.valid_len;
        if summary.unterminated {
            // A whole last record whose line end was lost: completed, not cut.
            (&file)
                .write_all(b"\n")
                .and_then(|()| file.sync_data())
                .map_err(|e| audit_error(&path, format!("cannot end the last record: {e}")))?;
            valid_len += 1;
        }
        let log = AuditLog {
            path,
            key,
            marks: summary.marks,
            state: Mutex::new(State {
                file,
                seq: summary.records,
                head: summary.head,
                len: valid_len,
                limits: HashMap::new(),
            }),
        };
        if let Some(side) = saved {
            log.append(Event::new("-", "audit-repair", "ok").detail(format!(
                "a torn last record ({} bytes, a write cut by a crash) was removed and kept in {}",
                summary.torn,
                side.display()
            )))?;
        }
        Ok(log)
    }

    /// A log whose appends always fail (its file is opened read-only), for the tests of the
    /// services that must fail closed (feature `test-util`, never in a service).
    #[cfg(any(test, feature = "test-util"))]
    pub fn unwritable_for_tests(path: PathBuf) -> AuditLog {
        std::fs::write(&path, b"").unwrap_or_default();
        let file = File::open(&path)
            .unwrap_or_else(|_| File::open("/dev/null").unwrap_or_else(|e| panic!("{e}")));
        AuditLog {
            path,
            marks: BTreeMap::new(),
            key: AuditKey::from_bytes([0; 32]),
            state: Mutex::new(State {
                file,
                seq: 0,
                head: GENESIS.to_string(),
                len: 0,
                limits: HashMap::new(),
            }),
        }
    }

    /// The [`MARK_ACTION`] records' latest details by key id, as the log held them when it was
    /// opened.
    pub fn marks(&self) -> &BTreeMap<String, String> {
        &self.marks
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends a record and syncs it to disk; on failure nothing is considered logged (a partial
    /// write is cut back) and the caller must refuse the operation.
    pub fn append(&self, event: Event) -> Result<Record> {
        let mut records = self.append_all(vec![event])?;
        records
            .pop()
            .ok_or_else(|| audit_error(&self.path, "no record written".into()))
    }

    /// Appends several records with one write and one sync (a batch request's outcomes).
    pub fn append_all(&self, events: Vec<Event>) -> Result<Vec<Record>> {
        let mut st = self
            .state
            .lock()
            .map_err(|_| audit_error(&self.path, "a writer panicked".into()))?;
        self.write_locked(&mut st, events)
    }

    fn write_locked(&self, st: &mut State, events: Vec<Event>) -> Result<Vec<Record>> {
        let (mut seq, mut head) = (st.seq, st.head.clone());
        let mut bytes = Vec::new();
        let mut out = Vec::with_capacity(events.len());
        for event in events {
            seq += 1;
            let record = Record {
                seq,
                time: hope_core::calendar::rfc3339_utc(SystemTime::now()),
                who: event.who,
                action: event.action,
                key_id: event.key_id,
                result: event.result,
                detail: event.detail,
                prev: head,
            };
            let mut body =
                serde_json::to_vec(&record).map_err(|e| audit_error(&self.path, e.to_string()))?;
            body.pop(); // the closing brace: the MAC field goes before it
            let mac = self.key.mac(&body);
            bytes.extend_from_slice(&body);
            bytes.extend_from_slice(MAC_FIELD);
            bytes.extend_from_slice(mac.as_bytes());
            bytes.extend_from_slice(b"\"}\n");
            head = mac;
            out.push(record);
        }
        let written = st.file.write_all(&bytes).and_then(|()| st.file.sync_data());
        if let Err(e) = written {
            // Leave no torn line behind: cut back to the last whole record.
            let _ = st.file.set_len(st.len).and_then(|()| st.file.sync_data());
            return Err(audit_error(&self.path, format!("cannot append: {e}")));
        }
        st.seq = seq;
        st.head = head;
        st.len += bytes.len() as u64;
        for r in &out {
            // Who did what and the outcome, for operators; never the detail, which may name
            // files or carry a PACS's words (the audit log itself keeps it). Quoted and escaped
            // (`?`): a certificate name with a newline or a terminal escape cannot forge a line
            // or drive the operator's terminal.
            tracing::info!(
                target: "hope::audit",
                seq = r.seq,
                who = ?r.who,
                action = ?r.action,
                result = ?r.result,
                key = r.key_id.as_deref().unwrap_or("-"),
                "audited"
            );
        }
        Ok(out)
    }

    /// Appends a record of a noisy `class` (refused handshakes, connections turned away): at
    /// most 5 a second (bursts of 20) are written; the others are counted, and the count is
    /// recorded with the next one written. `Ok(false)` when this one was suppressed.
    pub fn append_limited(&self, class: &str, event: Event) -> Result<bool> {
        let mut st = self
            .state
            .lock()
            .map_err(|_| audit_error(&self.path, "a writer panicked".into()))?;
        let now = Instant::now();
        let entry = st
            .limits
            .entry(class.to_string())
            .or_insert((LIMIT_BURST, now, 0));
        entry.0 = (entry.0 + now.duration_since(entry.1).as_secs_f64() * LIMIT_PER_SECOND)
            .min(LIMIT_BURST);
        entry.1 = now;
        if entry.0 < 1.0 {
            entry.2 += 1;
            return Ok(false);
        }
        entry.0 -= 1.0;
        let suppressed = std::mem::take(&mut entry.2);
        let mut events = Vec::new();
        if suppressed > 0 {
            events.push(Event::new("-", class, "suppressed").detail(format!(
                "{suppressed} more such records were not written (rate limit)"
            )));
        }
        events.push(event);
        self.write_locked(&mut st, events)?;
        Ok(true)
    }
}

/// Where the bytes of a torn record are kept: `<log>.torn-<seconds since 1970>[-n]`.
fn torn_path(log: &Path) -> PathBuf {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut n = 0;
    loop {
        let mut name = log.as_os_str().to_os_string();
        name.push(format!(".torn-{secs}"));
        if n > 0 {
            name.push(format!("-{n}"));
        }
        let p = PathBuf::from(name);
        if !p.exists() {
            return p;
        }
        n += 1;
    }
}

/// Owner-only permissions where the platform has them.
trait OwnerOnly {
    fn mode_0600(&mut self) -> &mut Self;
}

impl OwnerOnly for OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            self.mode(0o600);
        }
        self
    }
}

fn audit_error(path: &Path, message: String) -> Error {
    Error::Audit {
        path: path.to_path_buf(),
        message,
    }
}

/// Verifies a whole log under `key`: every line parses (no field beyond the record's), its MAC
/// matches, sequence numbers follow and every `prev` is the previous MAC. The error names the
/// first line that fails. A torn last line (no line end) is an error here too; [`AuditLog::open`]
/// repairs it.
pub fn verify(path: impl AsRef<Path>, key: &AuditKey) -> Result<ChainSummary> {
    verify_inner(path.as_ref(), key, false)
}

/// Longest audit record read back (a record is a few hundred bytes; details are bounded).
const MAX_RECORD: usize = 1 << 20;

/// Checks one line (without its line end) as record `n + 1` after `head`; returns its MAC and
/// the record.
fn check_line(
    line: &[u8],
    key: &AuditKey,
    n: u64,
    head: &str,
) -> std::result::Result<(String, Record), String> {
    let at = line
        .windows(MAC_FIELD.len())
        .rposition(|w| w == MAC_FIELD)
        .ok_or("not an audit record (no MAC)")?;
    let (body, tail) = line.split_at(at);
    let mac = tail
        .strip_prefix(MAC_FIELD)
        .and_then(|t| t.strip_suffix(b"\"}"))
        .filter(|m| m.len() == 64)
        .ok_or("not an audit record (malformed MAC)")?;
    if key.mac(body).as_bytes() != mac {
        return Err("does not match its MAC (edited, or another key)".into());
    }
    let mut json = body.to_vec();
    json.push(b'}');
    let rec: Record =
        serde_json::from_slice(&json).map_err(|e| format!("not an audit record: {e}"))?;
    if rec.seq != n + 1 {
        return Err(format!(
            "sequence number {} where {} was expected",
            rec.seq,
            n + 1
        ));
    }
    if rec.prev != head {
        return Err("does not chain to the previous record".into());
    }
    Ok((String::from_utf8_lossy(mac).into_owned(), rec))
}

fn verify_inner(path: &Path, key: &AuditKey, allow_torn: bool) -> Result<ChainSummary> {
    let file = File::open(path).map_err(|e| audit_error(path, format!("cannot read: {e}")))?;
    // Streamed, one bounded line at a time: a log of any size verifies in constant memory.
    let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
    let mut head = GENESIS.to_string();
    let mut n = 0u64;
    let mut valid_len = 0u64;
    let mut line = Vec::new();
    let mut torn = 0u64;
    let mut unterminated = false;
    let mut marks = BTreeMap::new();
    loop {
        line.clear();
        let read = (&mut reader)
            .take(MAX_RECORD as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| audit_error(path, format!("cannot read: {e}")))?;
        if read == 0 {
            break;
        }
        let line_no = n + 1;
        if line.last() != Some(&b'\n') {
            if line.len() > MAX_RECORD {
                return Err(audit_error(
                    path,
                    format!("line {line_no}: longer than {MAX_RECORD} bytes: not an audit record"),
                ));
            }
            // The end of the file without a line end: a whole record whose line end was lost
            // is kept; anything else is a write torn by a crash.
            if let Ok((mac, rec)) = check_line(&line, key, n, &head) {
                note_mark(&mut marks, rec);
                head = mac;
                n += 1;
                valid_len += line.len() as u64;
                unterminated = true;
            } else {
                torn = line.len() as u64;
            }
            break;
        }
        line.pop();
        let (mac, rec) = check_line(&line, key, n, &head)
            .map_err(|m| audit_error(path, format!("line {line_no}: {m}")))?;
        note_mark(&mut marks, rec);
        head = mac;
        n += 1;
        valid_len += read as u64;
    }
    if torn > 0 && !allow_torn {
        return Err(audit_error(
            path,
            format!(
                "the last record is torn ({torn} bytes without a line end): open the log to repair it"
            ),
        ));
    }
    Ok(ChainSummary {
        records: n,
        head,
        valid_len,
        torn,
        unterminated,
        marks,
    })
}

/// Keeps the detail of a [`MARK_ACTION`] record under its key id (the latest wins).
fn note_mark(marks: &mut BTreeMap<String, String>, rec: Record) {
    if rec.action == MARK_ACTION
        && let (Some(key), Some(detail)) = (rec.key_id, rec.detail)
    {
        marks.insert(key, detail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AuditKey {
        AuditKey::from_bytes([3; 32])
    }

    #[test]
    fn an_overlong_line_is_refused_with_its_line_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        let log = AuditLog::open(&path, key()).unwrap();
        log.append(Event::new("a", "get", "granted")).unwrap();
        drop(log);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&vec![b'x'; MAX_RECORD + 10]).unwrap();
        f.write_all(b"\n").unwrap();
        drop(f);
        let e = verify(&path, &key()).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("longer than"), "{e}");
        assert!(AuditLog::open(&path, key()).is_err());
    }

    #[test]
    fn reopening_continues_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        AuditLog::open(&p, key())
            .unwrap()
            .append(Event::new("a", "x", "ok"))
            .unwrap();
        let r = AuditLog::open(&p, key())
            .unwrap()
            .append(Event::new("b", "y", "ok"))
            .unwrap();
        assert_eq!(r.seq, 2);
        assert_eq!(verify(&p, &key()).unwrap().records, 2);
        assert!(verify(&p, &AuditKey::from_bytes([4; 32])).is_err());
    }

    #[test]
    fn edits_deletions_and_reordering_are_detected() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        let log = AuditLog::open(&p, key()).unwrap();
        for who in ["alice", "bob", "carol"] {
            log.append(Event::new(who, "get", "granted").key("k1"))
                .unwrap();
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let cases = [
            (text.replace("\"bob\"", "\"eve\""), "line 2"),
            (format!("{}\n{}\n", lines[0], lines[2]), "line 2"),
            (
                format!("{}\n{}\n{}\n", lines[1], lines[0], lines[2]),
                "line 1",
            ),
            (text.replacen("granted", "denied", 1), "line 1"),
            // A field added by hand is covered too.
            (text.replacen("\"who\"", "\"extra\":1,\"who\"", 1), "line 1"),
        ];
        for (tampered, at) in cases {
            std::fs::write(&p, tampered).unwrap();
            let err = verify(&p, &key()).unwrap_err().to_string();
            assert!(err.contains(at), "{err}");
            assert!(
                AuditLog::open(&p, key()).is_err(),
                "a broken log must not be appended to"
            );
        }
    }

    #[test]
    fn rate_limited_records_are_counted_not_lost() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        let log = AuditLog::open(&p, key()).unwrap();
        let written = (0..200)
            .filter(|i| {
                log.append_limited(
                    "connect",
                    Event::new("-", "connect", "refused").detail(format!("{i}")),
                )
                .unwrap()
            })
            .count();
        assert!((20..=25).contains(&written), "{written}");
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(
            log.append_limited("connect", Event::new("-", "connect", "refused"))
                .unwrap()
        );
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.contains("more such records were not written"),
            "{text}"
        );
        verify(&p, &key()).unwrap();
    }
}
