//! The mapping of original patient identifiers to pseudonyms (and date shifts), kept only when
//! asked for, and written encrypted: AES-256-GCM under a key of its own, separate from the project
//! key, so that the people who de-identify (and share the project key) cannot re-identify. Writing
//! it in clear takes the `dangerous_` method.
//!
//! File format (version 1): the 8 bytes `HOPEMAP1`, a 12-byte random nonce, then the AES-256-GCM
//! encryption (the 8 magic bytes as associated data) of a JSON object
//! `{"patient id": {"pseudonym": "...", "date_shift_days": -123}, ...}`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use ring::aead;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

const MAGIC: &[u8; 8] = b"HOPEMAP1";
/// The largest mapping file read (1 GiB: tens of millions of entries).
const MAX_MAPPING_BYTES: u64 = 1 << 30;

/// What a patient became.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pseudonymised {
    /// Patient ID and Patient's Name after de-identification.
    pub pseudonym: String,
    /// Days added to the patient's dates (Modified Dates option).
    pub date_shift_days: i64,
}

/// A 256-bit key for the mapping file, kept apart from the project key.
#[derive(Clone)]
pub struct MappingKey([u8; 32]);

impl std::fmt::Debug for MappingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MappingKey(..)")
    }
}

impl MappingKey {
    /// A key from its bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A new random key.
    pub fn generate() -> std::io::Result<Self> {
        let mut b = [0u8; 32];
        getrandom::fill(&mut b)
            .map_err(|e| std::io::Error::other(format!("no random numbers: {e}")))?;
        Ok(Self(b))
    }

    /// A key from 64 hexadecimal digits.
    pub fn from_hex(text: &str) -> Option<Self> {
        super::keys::hex32(text).map(Self)
    }

    /// The key as 64 hexadecimal digits, for its key file: whoever holds it and the mapping file
    /// can re-identify every patient.
    pub fn dangerous_to_hex(&self) -> String {
        super::keys::to_hex(&self.0)
    }

    fn aead(&self) -> Result<aead::LessSafeKey> {
        aead::UnboundKey::new(&aead::AES_256_GCM, &self.0)
            .map(aead::LessSafeKey::new)
            .map_err(|_| Error::Write {
                path: "<mapping key>".into(),
                message: "AES-256-GCM key setup failed".into(),
            })
    }
}

/// Collects the mapping while de-identifying (shared by the worker threads of a batch).
#[derive(Debug, Clone, Default)]
pub struct MappingRecorder {
    inner: Arc<Mutex<BTreeMap<String, Pseudonymised>>>,
}

impl MappingRecorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn record(&self, original: &str, p: Pseudonymised) {
        if let Ok(mut m) = self.inner.lock() {
            m.entry(original.to_string()).or_insert(p);
        }
    }

    /// The mapping recorded so far.
    pub fn snapshot(&self) -> BTreeMap<String, Pseudonymised> {
        self.inner.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Writes the mapping encrypted under `key` (atomically).
    pub fn write_encrypted(&self, path: &Path, key: &MappingKey) -> Result<()> {
        let mut plain = serde_json::to_vec(&self.snapshot()).map_err(|e| Error::Write {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| Error::Write {
            path: path.to_path_buf(),
            message: format!("no random numbers: {e}"),
        })?;
        key.aead()?
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(MAGIC),
                &mut plain,
            )
            .map_err(|_| Error::Write {
                path: path.to_path_buf(),
                message: "encryption failed".into(),
            })?;
        let mut out = Vec::with_capacity(20 + plain.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&plain);
        hope_core::fs::write_atomic(path, &out)?;
        Ok(())
    }

    /// Writes the mapping as plain JSON: anyone who reads the file can re-identify every patient.
    pub fn dangerous_write_plain(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(&self.snapshot()).map_err(|e| Error::Write {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        hope_core::fs::write_atomic(path, &json)?;
        Ok(())
    }
}

/// Reads an encrypted mapping file (see the module docs).
pub fn read_encrypted(path: &Path, key: &MappingKey) -> Result<BTreeMap<String, Pseudonymised>> {
    let bad = |message: &str| Error::Attribute {
        path: path.to_path_buf(),
        attribute: "mapping file",
        message: message.into(),
    };
    let mut bytes =
        hope_core::fs::read_bounded(path, MAX_MAPPING_BYTES).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
    if bytes.len() < 20 + 16 || &bytes[..8] != MAGIC {
        return Err(bad("not a HOPEMAP1 file"));
    }
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&bytes[8..20]);
    let plain = key
        .aead()?
        .open_in_place(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(MAGIC),
            &mut bytes[20..],
        )
        .map_err(|_| bad("wrong key, or the file was altered"))?;
    serde_json::from_slice(plain).map_err(|_| bad("decrypted content is not a mapping"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypted_round_trip_and_tamper_detection() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let rec = MappingRecorder::new();
        rec.record(
            "MRN1",
            Pseudonymised {
                pseudonym: "HOPE-AAAA".into(),
                date_shift_days: -10,
            },
        );
        let key = MappingKey::from_bytes([4; 32]);
        let p = dir.path().join("map.bin");
        rec.write_encrypted(&p, &key)
            .unwrap_or_else(|e| panic!("{e}"));
        let bytes = std::fs::read(&p).unwrap_or_default();
        assert!(
            !bytes.windows(4).any(|w| w == b"MRN1"),
            "the original is not in clear"
        );
        let back = read_encrypted(&p, &key).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, rec.snapshot());
        assert!(read_encrypted(&p, &MappingKey::from_bytes([5; 32])).is_err());
        let mut altered = bytes.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        std::fs::write(&p, altered).unwrap_or_default();
        assert!(read_encrypted(&p, &key).is_err());
    }
}
