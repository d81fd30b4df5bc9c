//! An append-only, hash-chained audit log that fails closed.
//!
//! One JSON record per line. Each record carries the SHA-256 hash of the previous record (`prev`)
//! and its own hash over `prev` and its canonical content, so editing, deleting, inserting or
//! reordering any line breaks the chain at that line ([`verify`] says which). Every record is
//! synced to disk before the operation it describes is answered; when a record cannot be written
//! the key server refuses the request (fail closed).
//!
//! Removing lines at the *end* of the log leaves a shorter valid chain: keep the head hash that
//! [`verify`] reports somewhere else (a ticket, another server's log) to detect that too.
//!
//! ```
//! use hope_crypto::audit::{AuditLog, Event, verify};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("audit.jsonl");
//! let log = AuditLog::open(&path)?;
//! log.append(Event::new("alice", "get", "granted").key("00112233445566778899aabbccddeeff"))?;
//! log.append(Event::new("mallory", "get", "denied").key("00112233445566778899aabbccddeeff"))?;
//! assert_eq!(verify(&path)?.records, 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::{Error, Result};

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

/// One line of the log, as written. Field order is the canonical order hashed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    /// Hash of the previous record (64 zero digits for the first).
    pub prev: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Line {
    #[serde(flatten)]
    record: Record,
    hash: String,
}

impl Record {
    fn hash(&self) -> String {
        // Serialising a struct of strings and integers cannot fail.
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(canonical))
    }
}

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What [`verify`] found in a valid log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSummary {
    /// Number of records.
    pub records: u64,
    /// Hash of the last record (the genesis value for an empty log): keep it elsewhere to detect
    /// truncation later.
    pub head: String,
}

struct State {
    file: File,
    seq: u64,
    head: String,
}

/// An open audit log, safe to share between threads.
pub struct AuditLog {
    path: PathBuf,
    state: Mutex<State>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.path)
            .finish()
    }
}

impl AuditLog {
    /// Opens (or creates) a log; an existing log must verify, or the log refuses to open.
    pub fn open(path: impl AsRef<Path>) -> Result<AuditLog> {
        let path = path.as_ref().to_path_buf();
        let summary = if path.exists() {
            verify(&path)?
        } else {
            ChainSummary {
                records: 0,
                head: GENESIS.to_string(),
            }
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| audit_error(&path, format!("cannot open for appending: {e}")))?;
        Ok(AuditLog {
            path,
            state: Mutex::new(State {
                file,
                seq: summary.records,
                head: summary.head,
            }),
        })
    }

    /// A log whose appends always fail (its file is opened read-only), to test failing closed.
    #[cfg(test)]
    pub(crate) fn unwritable_for_tests(path: PathBuf) -> AuditLog {
        std::fs::write(&path, b"").unwrap_or_default();
        let file = File::open(&path)
            .unwrap_or_else(|_| File::open("/dev/null").unwrap_or_else(|e| panic!("{e}")));
        AuditLog {
            path,
            state: Mutex::new(State {
                file,
                seq: 0,
                head: GENESIS.to_string(),
            }),
        }
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends a record and syncs it to disk; on failure nothing is considered logged and the
    /// caller must refuse the operation.
    pub fn append(&self, event: Event) -> Result<Record> {
        let mut st = self
            .state
            .lock()
            .map_err(|_| audit_error(&self.path, "a writer panicked".into()))?;
        let record = Record {
            seq: st.seq + 1,
            time: hope_core::calendar::rfc3339_utc(SystemTime::now()),
            who: event.who,
            action: event.action,
            key_id: event.key_id,
            result: event.result,
            detail: event.detail,
            prev: st.head.clone(),
        };
        let hash = record.hash();
        let mut line = serde_json::to_vec(&Line {
            record: record.clone(),
            hash: hash.clone(),
        })
        .map_err(|e| audit_error(&self.path, e.to_string()))?;
        line.push(b'\n');
        st.file
            .write_all(&line)
            .and_then(|()| st.file.sync_data())
            .map_err(|e| audit_error(&self.path, format!("cannot append: {e}")))?;
        st.seq += 1;
        st.head = hash;
        Ok(record)
    }
}

fn audit_error(path: &Path, message: String) -> Error {
    Error::Audit {
        path: path.to_path_buf(),
        message,
    }
}

/// Verifies a whole log: every line parses, sequence numbers follow, every `prev` is the previous
/// hash and every hash matches. The error names the first line that fails.
pub fn verify(path: impl AsRef<Path>) -> Result<ChainSummary> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| audit_error(path, format!("cannot read: {e}")))?;
    let mut head = GENESIS.to_string();
    let mut n = 0u64;
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line_no = i + 1;
        let line =
            line.map_err(|e| audit_error(path, format!("line {line_no}: cannot read: {e}")))?;
        let parsed: Line = serde_json::from_str(&line)
            .map_err(|e| audit_error(path, format!("line {line_no}: not an audit record: {e}")))?;
        let rec = parsed.record;
        if rec.seq != n + 1 {
            return Err(audit_error(
                path,
                format!(
                    "line {line_no}: sequence number {} where {} was expected",
                    rec.seq,
                    n + 1
                ),
            ));
        }
        if rec.prev != head {
            return Err(audit_error(
                path,
                format!("line {line_no}: does not chain to the previous record"),
            ));
        }
        let hash = rec.hash();
        if hash != parsed.hash {
            return Err(audit_error(
                path,
                format!("line {line_no}: content does not match its hash (edited)"),
            ));
        }
        head = hash;
        n += 1;
    }
    Ok(ChainSummary { records: n, head })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reopening_continues_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        AuditLog::open(&p)
            .unwrap()
            .append(Event::new("a", "x", "ok"))
            .unwrap();
        let r = AuditLog::open(&p)
            .unwrap()
            .append(Event::new("b", "y", "ok"))
            .unwrap();
        assert_eq!(r.seq, 2);
        assert_eq!(verify(&p).unwrap().records, 2);
    }

    #[test]
    fn edits_deletions_and_reordering_are_detected() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        let log = AuditLog::open(&p).unwrap();
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
        ];
        for (tampered, at) in cases {
            std::fs::write(&p, tampered).unwrap();
            let err = verify(&p).unwrap_err().to_string();
            assert!(err.contains(at), "{err}");
            assert!(
                AuditLog::open(&p).is_err(),
                "a broken log must not be appended to"
            );
        }
    }
}
