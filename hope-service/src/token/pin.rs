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

fn read_pin_file(token: &str, path: &Path) -> Result<Zeroizing<String>> {
    let bad = |message: String| {
        failure(
            token,
            TokenFailure::PinNeeded,
            format!("PIN file {}: {message}", path.display()),
        )
    };
    let mut file = std::fs::File::open(path).map_err(|e| bad(format!("cannot open: {e}")))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = file
            .metadata()
            .map_err(|e| bad(format!("cannot stat: {e}")))?;
        if meta.is_file() && meta.permissions().mode() & 0o004 != 0 {
            return Err(bad(
                "readable by every user of the machine; make it readable by the service only \
                 (chmod o-r)"
                    .into(),
            ));
        }
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(64));
    (&mut file)
        .take(MAX_PIN_BYTES as u64 + 3)
        .read_to_end(&mut bytes)
        .map_err(|e| bad(format!("cannot read: {e}")))?;
    let mut len = bytes.len();
    if bytes[..len].ends_with(b"\n") {
        len -= 1;
        if bytes[..len].ends_with(b"\r") {
            len -= 1;
        }
    }
    if len > MAX_PIN_BYTES {
        return Err(bad(format!("longer than {MAX_PIN_BYTES} bytes")));
    }
    if len == 0 {
        return Err(bad("empty".into()));
    }
    let text = std::str::from_utf8(&bytes[..len]).map_err(|_| bad("not UTF-8 text".into()))?;
    if text.contains(['\n', '\r', '\0']) {
        return Err(bad("more than one line".into()));
    }
    Ok(Zeroizing::new(text.to_string()))
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
