//! The project's secret key and what is derived from it: replacement UIDs, patient pseudonyms and
//! date offsets. Every derivation is HMAC-SHA256 under the key with a distinct label, so the same
//! input gives the same output on every run and machine that share the key, and nothing can be
//! recomputed, reversed or linked to the originals without it.

use std::fmt;

use ring::hmac;

/// A 256-bit secret shared by everyone who must produce consistent pseudonyms (one per project).
/// Its `Debug` output never shows the key.
#[derive(Clone)]
pub struct DeidKey {
    bytes: [u8; 32],
    key: hmac::Key,
    /// First bytes of HMAC(key, "hope-dicom key id"), to tell keys apart in reports.
    id: [u8; 4],
}

impl fmt::Debug for DeidKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeidKey(id {})", self.id_hex())
    }
}

impl DeidKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &bytes);
        let tag = hmac::sign(&key, b"hope-dicom key id");
        let mut id = [0u8; 4];
        id.copy_from_slice(&tag.as_ref()[..4]);
        Self { bytes, key, id }
    }

    /// The key as 64 hexadecimal digits, for writing a key file: whoever reads it can link every
    /// pseudonym and UID to the originals' hashes, so keep it secret.
    pub fn dangerous_to_hex(&self) -> String {
        to_hex(&self.bytes)
    }

    /// A new random key (from the operating system's generator).
    pub fn generate() -> std::io::Result<Self> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| std::io::Error::other(format!("no random numbers: {e}")))?;
        Ok(Self::from_bytes(bytes))
    }

    /// A key from 64 hexadecimal digits (surrounding white space ignored), as key files hold it.
    pub fn from_hex(text: &str) -> Option<Self> {
        hex32(text).map(Self::from_bytes)
    }

    /// A public identifier of the key (8 hex digits), safe to print.
    pub fn id_hex(&self) -> String {
        self.id.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn mac(&self, label: &[u8], input: &[u8]) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(label);
        ctx.update(&[0]);
        ctx.update(input);
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }

    /// An HMAC context for the seal of a de-identified data set (see [`super::seal`]).
    pub(crate) fn seal_context(&self) -> hmac::Context {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(b"seal");
        ctx.update(&[0]);
        ctx
    }

    /// The replacement of a UID: `2.25.` followed by the decimal value of a UUID (RFC 9562
    /// version 8, custom) made of the first 128 bits of HMAC(key, uid), as PS3.5 B.2 allows for
    /// UUID-derived UIDs. At most 44 characters, no leading zeros.
    pub fn uid(&self, original: &str) -> String {
        let mac = self.mac(b"uid", original.as_bytes());
        let mut b = [0u8; 16];
        b.copy_from_slice(&mac[..16]);
        b[6] = (b[6] & 0x0F) | 0x80; // version 8
        b[8] = (b[8] & 0x3F) | 0x80; // RFC 9562 variant
        format!("2.25.{}", u128::from_be_bytes(b))
    }

    /// The pseudonym of a patient identifier: `HOPE-` and 16 characters of base 32 (80 bits).
    pub fn pseudonym(&self, patient_id: &str) -> String {
        const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        let mac = self.mac(b"patient", patient_id.as_bytes());
        let mut bits = u128::from_be_bytes(mac[..16].try_into().unwrap_or([0; 16]));
        let mut s = String::from("HOPE-");
        for _ in 0..16 {
            s.push(char::from(ALPHABET[(bits & 31) as usize]));
            bits >>= 5;
        }
        s
    }

    /// The date shift of a patient, in days: between 1 and 3652 days (ten years) into the past,
    /// the same for every file of the patient so that intervals survive.
    pub fn date_shift_days(&self, patient_id: &str) -> i64 {
        let mac = self.mac(b"date shift", patient_id.as_bytes());
        let v = u64::from_be_bytes(mac[..8].try_into().unwrap_or([0; 8]));
        -(1 + (v % 3652) as i64)
    }
}

/// 32 bytes from 64 hexadecimal digits (surrounding white space ignored).
pub(crate) fn hex32(text: &str) -> Option<[u8; 32]> {
    let t = text.trim();
    if t.len() != 64 {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(t.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(bytes)
}

/// Bytes as lower-case hexadecimal digits.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivations_are_keyed_stable_and_well_formed() {
        let a = DeidKey::from_bytes([7; 32]);
        let b = DeidKey::from_bytes([8; 32]);
        let uid = a.uid("1.2.3.4");
        assert_eq!(uid, a.uid("1.2.3.4"));
        assert_ne!(uid, b.uid("1.2.3.4"));
        assert_ne!(uid, a.uid("1.2.3.5"));
        assert!(uid.starts_with("2.25.") && uid.len() <= 44, "{uid}");
        assert!(!uid[5..].starts_with('0') && uid[5..].bytes().all(|c| c.is_ascii_digit()));
        let p = a.pseudonym("12345");
        assert_eq!(p.len(), 21);
        assert_ne!(p, b.pseudonym("12345"));
        let d = a.date_shift_days("12345");
        assert!((-3652..=-1).contains(&d));
        assert_eq!(d, a.date_shift_days("12345"));
        assert_eq!(format!("{a:?}"), format!("DeidKey(id {})", a.id_hex()));
        let hex = "07".repeat(32);
        assert_eq!(
            DeidKey::from_hex(&hex).map(|k| k.uid("1")),
            Some(a.uid("1"))
        );
        assert!(DeidKey::from_hex("zz").is_none());
        assert_eq!(a.dangerous_to_hex(), hex);
    }
}
