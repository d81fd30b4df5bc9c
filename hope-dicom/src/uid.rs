//! DICOM UIDs.

use crate::{Error, Result};

/// The Implementation Class UID written in the file meta groups of files this crate receives
/// (a fixed UUID-derived UID under `2.25`).
pub const IMPLEMENTATION_CLASS_UID: &str = "2.25.169023654611948912649619169927493314530";

/// The Implementation Version Name written beside it (at most 16 characters).
pub const IMPLEMENTATION_VERSION_NAME: &str = concat!("HOPE-RS ", env!("CARGO_PKG_VERSION"));

/// A fresh UID under the `2.25` root (ITU-T X.667): `2.25.` followed by the decimal value of a
/// random 128-bit UUID (version 4 bits set), at most 44 characters.
pub fn new_uid() -> Result<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| Error::Write {
        path: "<uid>".into(),
        message: format!("random source failed: {e}"),
    })?;
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    Ok(format!("2.25.{}", u128::from_be_bytes(b)))
}

/// Whether `s` is a valid UID: components of digits without leading zeros, separated by dots,
/// at most 64 characters.
pub fn is_valid_uid(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.split('.').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_digit())
                && (c == "0" || !c.starts_with('0'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_uids_are_valid_and_distinct() {
        let a = new_uid().unwrap();
        let b = new_uid().unwrap();
        assert!(is_valid_uid(&a) && is_valid_uid(&b), "{a} {b}");
        assert_ne!(a, b);
        assert!(a.len() <= 44);
    }
}
