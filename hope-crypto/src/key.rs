//! Data keys, key ids and key commitments.

use std::fmt;
use std::str::FromStr;

use hmac::{KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::{Error, Result};

/// Length of a data key in bytes (AES-256).
pub const KEY_LEN: usize = 32;

/// A 256-bit data key: one per encrypted object, never stored whole, only as shares.
///
/// The bytes are wiped from memory when the key is dropped and never appear in `Debug` output.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; KEY_LEN]>);

impl DataKey {
    /// A fresh key from the operating system's random number generator.
    pub fn generate() -> Result<DataKey> {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        random_fill(k.as_mut())?;
        Ok(DataKey(k))
    }

    /// A key from its bytes (for known-answer tests and key import).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> DataKey {
        DataKey(Zeroizing::new(bytes))
    }

    /// The key bytes. Handle with care: copies are not wiped automatically.
    pub fn expose_secret(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The commitment of this key for `(key_id, version)`; see [`KeyCommitment`].
    pub fn commitment(&self, key_id: &KeyId, version: u32) -> KeyCommitment {
        let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(self.0.as_ref())
            .expect("HMAC accepts keys of any length");
        mac.update(b"HOPE-rs key commitment v1");
        mac.update(&key_id.0);
        mac.update(&version.to_be_bytes());
        KeyCommitment(mac.finalize().into_bytes().into())
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// A public value that binds a key: `HMAC-SHA256(key, "HOPE-rs key commitment v1" || key id || version)`.
///
/// AES-GCM does not commit to its key, and Shamir combination returns *some* key even from bad
/// shares; the commitment in every container header lets a reader check that a reconstructed key is
/// the one the object was encrypted with, before any decryption. Revealing it reveals nothing
/// about the key (HMAC is a pseudo-random function).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KeyCommitment(pub [u8; 32]);

impl KeyCommitment {
    /// Whether `key` matches this commitment (constant-time comparison).
    pub fn verify(&self, key: &DataKey, key_id: &KeyId, version: u32) -> bool {
        constant_time_eq(&key.commitment(key_id, version).0, &self.0)
    }
}

impl fmt::Debug for KeyCommitment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyCommitment({})", hex::encode(self.0))
    }
}

/// The identifier of a data key: 16 random bytes, written as 32 lowercase hex digits. Key servers
/// index shares by it; it reveals nothing about the object or the patient.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 16]);

/// The salt that binds a key id to its owner (see [`KeyId::bound_to`]).
pub type BindingSalt = [u8; 16];

impl KeyId {
    /// A fresh random key id, bound to nobody (for containers whose key is not registered on key
    /// servers; a key server refuses to register it).
    pub fn generate() -> Result<KeyId> {
        let mut id = [0u8; 16];
        random_fill(&mut id)?;
        Ok(KeyId(id))
    }

    /// A fresh key id bound to `owner` (a certificate's common name) by a random salt: the id is
    /// `SHA-256("HOPE-rs key id v2" ‖ u32(len(owner)) ‖ owner ‖ salt)`, first 16 bytes. A key
    /// server registers an id only for the principal it is bound to, so nobody can claim a key id
    /// seen in a container header on a server that lost its share (see [`crate::store`]).
    pub fn bound_to(owner: &str) -> Result<(KeyId, BindingSalt)> {
        let mut salt = [0u8; 16];
        random_fill(&mut salt)?;
        Ok((KeyId::binding(owner, &salt), salt))
    }

    /// The key id bound to `owner` by `salt`.
    pub fn binding(owner: &str, salt: &BindingSalt) -> KeyId {
        use sha2::Digest;
        let mut h = Sha256::new();
        h.update(b"HOPE-rs key id v2");
        h.update((owner.len() as u32).to_be_bytes());
        h.update(owner.as_bytes());
        h.update(salt);
        let d = h.finalize();
        let mut id = [0u8; 16];
        id.copy_from_slice(&d[..16]);
        KeyId(id)
    }

    /// Whether this id is bound to `owner` by `salt`.
    pub fn is_bound_to(&self, owner: &str, salt: &BindingSalt) -> bool {
        constant_time_eq(&KeyId::binding(owner, salt).0, &self.0)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl FromStr for KeyId {
    type Err = Error;
    fn from_str(s: &str) -> Result<KeyId> {
        let mut id = [0u8; 16];
        hex::decode_to_slice(s, &mut id).map_err(|_| {
            Error::invalid("key_id", format!("`{s}`; expected 32 hexadecimal digits"))
        })?;
        Ok(KeyId(id))
    }
}

impl serde::Serialize for KeyId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for KeyId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<KeyId, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

pub(crate) fn random_fill(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf)
        .map_err(|e| Error::invalid("random", format!("the OS random generator failed: {e}")))
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_key_bytes() {
        let k = DataKey::from_bytes([0xab; 32]);
        let shown = format!("{k:?}");
        assert!(!shown.contains("ab") && !shown.contains("171"), "{shown}");
    }

    #[test]
    fn commitment_binds_key_id_and_version() {
        let k = DataKey::from_bytes([7; 32]);
        let id = KeyId([1; 16]);
        let c = k.commitment(&id, 1);
        assert!(c.verify(&k, &id, 1));
        assert!(!c.verify(&k, &id, 2));
        assert!(!c.verify(&k, &KeyId([2; 16]), 1));
        assert!(!c.verify(&DataKey::from_bytes([8; 32]), &id, 1));
    }

    #[test]
    fn bound_ids_name_their_owner() {
        let (id, salt) = KeyId::bound_to("alice").unwrap();
        assert!(id.is_bound_to("alice", &salt));
        assert!(!id.is_bound_to("mallory", &salt));
        assert!(!id.is_bound_to("alice", &[0; 16]));
        // The owner's name is length-prefixed: no ambiguity between name and salt.
        assert_ne!(
            KeyId::binding("ab", &[0; 16]),
            KeyId::binding("a", &[b'b'; 16])
        );
    }

    #[test]
    fn key_id_parses_its_display() {
        let id = KeyId([0x0f; 16]);
        assert_eq!(id.to_string().parse::<KeyId>().unwrap(), id);
        assert!("xyz".parse::<KeyId>().is_err());
    }
}
