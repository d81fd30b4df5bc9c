//! The operational log of the audited services (issue 20, attack round): a test binary of its
//! own, since tracing's per-callsite interest is shared by every thread of a process and other
//! tests appending to audit logs at the same moment could hide this one's events.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::{Arc, Mutex};

use hope_service::audit::{AuditKey, AuditLog, Event};

/// A writer into a shared buffer, for capturing what a subscriber prints.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A certificate name with a newline and a terminal escape forged a whole `audited` line and
/// drove the operator's terminal through the operational log. The names are now quoted and
/// escaped there; the detail never appears.
#[test]
fn a_hostile_name_cannot_forge_an_operational_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path().join("a.jsonl"), AuditKey::from_bytes([3; 32])).unwrap();
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();
    log.append(
        Event::new(
            "mallory\n2025-01-01T00:00:00Z INFO hope::audit: audited who=root\x1b[2J",
            "create",
            "granted",
        )
        .detail("DOE^JANE 19700101"),
    )
    .unwrap();
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    assert_eq!(text.lines().count(), 1, "one event, one line: {text:?}");
    assert!(
        !text.contains('\x1b'),
        "a raw escape reached the log: {text:?}"
    );
    assert!(text.contains("who=\"mallory\\n2025"), "{text:?}");
    assert!(
        !text.contains("DOE^JANE"),
        "the detail reached the log: {text:?}"
    );
}
