//! Where a token's PIN comes from.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use zeroize::Zeroizing;

use super::{TokenFailure, failure};
use crate::Result;

/// The longest PIN read from a file (PKCS#11 PINs are short; a passphrase for an HSM partition
/// may be longer).
const MAX_PIN_BYTES: usize = 256;

/// What a prompt is told when a PIN is needed. It holds nothing secret.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PinRequest<'a> {
    /// The token's label.
    pub token: &'a str,
    /// What the key is (the URI's object label, or `private key`).
    pub object: &'a str,
    /// The token says earlier PIN entries failed.
    pub count_low: bool,
    /// The token says the next wrong PIN locks it.
    pub final_try: bool,
}

/// Asks someone for a PIN (a terminal, a dialog). `None`: cancelled.
pub trait PinPrompt: Send + Sync {
    /// The PIN for `request`, or `None` if the person cancelled.
    fn pin(&self, request: &PinRequest<'_>) -> Option<Zeroizing<String>>;
}

impl std::fmt::Debug for dyn PinPrompt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PinPrompt")
    }
}

/// Where the PIN of a token key comes from.
#[derive(Debug, Clone, Default)]
pub enum PinSource {
    /// A file holding the PIN (one line; a trailing newline is not part of it), named explicitly:
    /// for services. `/dev/fd/N` reads a descriptor the caller opened. The file must not be
    /// readable by others (mode `o-r`).
    File(PathBuf),
    /// This prompt.
    Prompt(Arc<dyn PinPrompt>),
    /// The application's prompt ([`set_pin_prompt`]); an error saying how to give a PIN if the
    /// application set none.
    #[default]
    Application,
}

static APPLICATION_PROMPT: RwLock<Option<Arc<dyn PinPrompt>>> = RwLock::new(None);

/// Sets the prompt that token keys without a PIN file use in this process (the `hope` command
/// sets a terminal prompt). Libraries never prompt on their own.
pub fn set_pin_prompt(prompt: Arc<dyn PinPrompt>) {
    let mut slot = APPLICATION_PROMPT
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    *slot = Some(prompt);
}

impl PinSource {
    /// A PIN file's source, or the application's prompt.
    pub fn file_or_prompt(file: Option<&Path>) -> PinSource {
        file.map_or(PinSource::Application, |p| PinSource::File(p.to_path_buf()))
    }

    /// True if the PIN comes without a person (a file): such a source is not tried on a card
    /// whose PIN counter is low.
    pub fn is_unattended(&self) -> bool {
        matches!(self, PinSource::File(_))
    }

    /// The PIN.
    pub(crate) fn get(&self, request: &PinRequest<'_>) -> Result<Zeroizing<String>> {
        let prompt = match self {
            PinSource::File(path) => return read_pin_file(request.token, path),
            PinSource::Prompt(p) => Some(Arc::clone(p)),
            PinSource::Application => APPLICATION_PROMPT
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone(),
        };
        let Some(prompt) = prompt else {
            return Err(failure(
                request.token,
                TokenFailure::PinNeeded,
                "no PIN file is configured (`pin_file`, or `pin-source` in the URI) and no \
                 prompt is available (run from a terminal, or configure a PIN file)",
            ));
        };
        prompt.pin(request).ok_or_else(|| {
            failure(
                request.token,
                TokenFailure::PinNeeded,
                "the PIN entry was cancelled (or there is no terminal to ask on; give a PIN file)",
            )
        })
    }
}

/// A descriptor the caller opened and named explicitly (`/dev/fd/N`, `/proc/self/fd/N`): the one
/// kind of PIN source that is not a regular file.
fn is_descriptor(path: &Path) -> bool {
    let s = path.to_string_lossy();
    ["/dev/fd/", "/proc/self/fd/"].iter().any(|p| {
        s.strip_prefix(p)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })
}

fn read_pin_file(token: &str, path: &Path) -> Result<Zeroizing<String>> {
    let bad = |message: String| {
        failure(
            token,
            TokenFailure::PinNeeded,
            format!("PIN file {}: {message}", path.display()),
        )
    };
    // A regular file, opened without blocking (a FIFO without a writer cannot hang the caller),
    // or a descriptor named as such.
    let file = if is_descriptor(path) {
        std::fs::File::open(path)
    } else {
        hope_core::fs::open_regular(path)
    };
    let mut file = file.map_err(|e| bad(format!("cannot open: {e}")))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = file
            .metadata()
            .map_err(|e| bad(format!("cannot stat: {e}")))?;
        let mode = meta.permissions().mode();
        if meta.is_file() && mode & 0o004 != 0 {
            return Err(bad(
                "readable by every user of the machine; make it readable by the service only \
                 (chmod o-r)"
                    .into(),
            ));
        }
        if meta.is_file() && mode & 0o022 != 0 {
            return Err(bad(
                "writable by others than its owner: another user could plant a wrong PIN and \
                 spend the card's tries (chmod go-w)"
                    .into(),
            ));
        }
    }
    // Into a fixed buffer that never grows (no copy left behind by a reallocation).
    let mut buffer = Zeroizing::new([0u8; MAX_PIN_BYTES + 3]);
    let mut len = 0;
    loop {
        if len == buffer.len() {
            return Err(bad(format!("longer than {MAX_PIN_BYTES} bytes")));
        }
        match file.read(&mut buffer[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(bad(format!("cannot read: {e}"))),
        }
    }
    let bytes = &buffer[..len];
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    if bytes.len() > MAX_PIN_BYTES {
        return Err(bad(format!("longer than {MAX_PIN_BYTES} bytes")));
    }
    if bytes.is_empty() {
        return Err(bad("empty".into()));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8 text".into()))?;
    if text.contains(['\n', '\r', '\0']) {
        return Err(bad("more than one line".into()));
    }
    Ok(Zeroizing::new(text.to_string()))
}

/// The marker a refused PIN file leaves beside itself (`PIN_FILE.refused`): while the PIN file
/// is unchanged (same size and modification time), a later process does not try it again, so a
/// service restarted in a loop with a wrong PIN file spends one of the card's tries, not all.
pub(crate) fn refused_marker(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".refused");
    path.with_file_name(name)
}

/// The PIN file's size and modification time, as the marker records them.
fn stamp(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    let modified = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    Some(format!("{} {}", meta.len(), modified.as_nanos()))
}

impl PinSource {
    /// An error if this PIN file was refused by a token before and has not changed since.
    pub(crate) fn refused_before(&self, token: &str) -> Result<()> {
        let PinSource::File(path) = self else {
            return Ok(());
        };
        if is_descriptor(path) {
            return Ok(());
        }
        let marker = refused_marker(path);
        let Ok(recorded) = std::fs::read_to_string(&marker) else {
            return Ok(());
        };
        if stamp(path).is_some_and(|s| s == recorded.trim_end()) {
            return Err(failure(
                token,
                TokenFailure::PinIncorrect,
                format!(
                    "the PIN in {} was refused before and the file has not changed since; not \
                     trying it again (cards lock after a few wrong PINs): correct the file, or \
                     remove {}",
                    path.display(),
                    marker.display()
                ),
            ));
        }
        Ok(())
    }

    /// Records that this PIN file was refused (best effort: a read-only folder keeps no marker).
    pub(crate) fn record_refusal(&self) {
        if let PinSource::File(path) = self
            && !is_descriptor(path)
            && let Some(s) = stamp(path)
        {
            let _ = hope_core::fs::write_atomic(refused_marker(path), s.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> PinRequest<'static> {
        PinRequest {
            token: "card",
            object: "key",
            count_low: false,
            final_try: false,
        }
    }

    fn write(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        #[cfg(not(unix))]
        let _ = mode;
        p
    }

    #[test]
    fn pin_files_are_one_private_line() {
        let dir = tempfile::tempdir().unwrap();
        let get = |name: &str, bytes: &[u8], mode: u32| {
            PinSource::File(write(dir.path(), name, bytes, mode))
                .get(&request())
                .map(|p| p.to_string())
        };
        assert_eq!(get("a", b"1234\n", 0o600).unwrap(), "1234");
        assert_eq!(get("b", b"12 34\r\n", 0o640).unwrap(), "12 34");
        assert_eq!(get("c", b"1234", 0o400).unwrap(), "1234");
        for (name, bytes, mode, says) in [
            ("d", &b""[..], 0o600, "empty"),
            ("e", b"\n", 0o600, "empty"),
            ("f", b"12\n34\n", 0o600, "more than one line"),
            ("g", b"1234\n", 0o644, "readable by every user"),
            ("g2", b"1234\n", 0o620, "writable by others"),
            ("g3", b"1234\n", 0o602, "writable by others"),
            ("h", &[0xff, 0xfe][..], 0o600, "not UTF-8"),
        ] {
            let e = get(name, bytes, mode).unwrap_err();
            assert_eq!(e.token_failure(), Some(TokenFailure::PinNeeded));
            assert!(e.to_string().contains(says), "{name}: {e}");
            assert!(!e.to_string().contains("1234"), "{e}");
        }
        let long = get("i", &[b'1'; 300], 0o600).unwrap_err();
        assert!(long.to_string().contains("longer than 256"), "{long}");
        let missing = PinSource::File(dir.path().join("none")).get(&request());
        assert!(missing.unwrap_err().to_string().contains("cannot open"));
    }

    /// Attack finding M2: a FIFO without a writer (or a device) is refused at once instead of
    /// hanging the process.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_fifo_or_a_device_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pin");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let r = PinSource::File(fifo).get(&request()).map(|_| ());
            let _ = tx.send(r.unwrap_err().to_string());
        });
        let e = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("reading a FIFO PIN file hung");
        assert!(e.contains("cannot open"), "{e}");
        let e = PinSource::File("/dev/zero".into())
            .get(&request())
            .unwrap_err();
        assert!(e.to_string().contains("cannot open"), "{e}");
    }

    #[test]
    fn a_refused_pin_file_is_not_tried_again_until_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "pin", b"1111\n", 0o600);
        let source = PinSource::File(p.clone());
        source.refused_before("card").unwrap();
        source.record_refusal();
        let e = source.refused_before("card").unwrap_err();
        assert_eq!(e.token_failure(), Some(TokenFailure::PinIncorrect));
        assert!(e.to_string().contains("refused before"), "{e}");
        // The file is corrected: tried again.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&p, b"2222\n").unwrap();
        source.refused_before("card").unwrap();
    }

    #[test]
    fn a_prompt_is_asked_and_may_cancel() {
        struct Fixed(Option<&'static str>);
        impl PinPrompt for Fixed {
            fn pin(&self, r: &PinRequest<'_>) -> Option<Zeroizing<String>> {
                assert_eq!(r.token, "card");
                self.0.map(|s| Zeroizing::new(s.to_string()))
            }
        }
        let ok = PinSource::Prompt(Arc::new(Fixed(Some("0000"))));
        assert_eq!(ok.get(&request()).unwrap().as_str(), "0000");
        assert!(!ok.is_unattended());
        let cancelled = PinSource::Prompt(Arc::new(Fixed(None)));
        let e = cancelled.get(&request()).unwrap_err();
        assert_eq!(e.token_failure(), Some(TokenFailure::PinNeeded));
        assert!(e.to_string().contains("cancelled"));
    }
}
