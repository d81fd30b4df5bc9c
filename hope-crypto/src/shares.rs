//! k-of-n Shamir sharing of data keys, checked against the key commitment.
//!
//! The underlying hazmat API of `shamirsecretsharing` happily "combines" too few, duplicated or
//! tampered shares into a wrong key without any error, and accepts k = 1. This module refuses
//! what the scheme does not allow (2 <= k < n <= 255), and checks every reconstructed key against
//! the [`KeyCommitment`] carried by the container header, so a wrong key is never returned.
//!
//! The threshold is the reader's (its configuration), never what a share claims: a share that
//! claims another threshold, belongs to another key, or is simply wrong is set aside, and when
//! more than k shares are at hand the combination searches for a consistent subset, so one bad
//! share never stops k good ones. Shares of different generations (re-sharings of the key) are
//! never mixed. The shares that disagree with the key found are named, so that an operator can
//! repair the key server that holds them. A failure is the opaque [`Error::KeyReconstruction`].
//!
//! ```
//! use hope_crypto::shares::{combine, split};
//! use hope_crypto::{DataKey, KeyId};
//!
//! let key = DataKey::generate()?;
//! let id = KeyId::generate()?;
//! let shares = split(&key, id, 1, 2, 3)?;               // 2-of-3
//! let commitment = key.commitment(&id, 1);
//! let back = combine(&shares[1..], 2, &commitment)?;    // any two
//! assert_eq!(back.key.expose_secret(), key.expose_secret());
//! assert!(combine(&shares[..1], 2, &commitment).is_err()); // one is not enough
//! # Ok::<(), hope_crypto::Error>(())
//! ```

use std::fmt;

use shamirsecretsharing::hazmat;
use zeroize::{Zeroize, Zeroizing};

use crate::key::{DataKey, KEY_LEN, KeyCommitment, KeyId};
use crate::{Error, Result};

/// Most k-subsets tried when looking for a consistent set of shares among more than k.
pub const MAX_SUBSETS_TRIED: usize = 4096;

/// One share of a data key, as held by one key server.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Share {
    /// The key this share belongs to.
    pub key_id: KeyId,
    /// The key's version.
    pub key_version: u32,
    /// The sharing this share belongs to: each re-sharing of a key (after a server was replaced)
    /// makes a new generation, and only shares of one generation combine.
    #[serde(default = "first_generation")]
    pub generation: u32,
    /// Shares needed to reconstruct the key (k).
    pub threshold: u8,
    /// The share's x coordinate (1 ..= n).
    pub x: u8,
    /// The share's value (32 bytes, hexadecimal in serialised form).
    #[serde(with = "secret_hex")]
    y: Zeroizing<[u8; KEY_LEN]>,
}

fn first_generation() -> u32 {
    1
}

/// Length of a share's compact encoding ([`Share::to_record`]).
pub const RECORD_LEN: usize = 16 + 4 + 4 + 1 + 1 + KEY_LEN;

impl Share {
    /// A share of the first generation from its parts (for storage back-ends and tests).
    pub fn from_parts(
        key_id: KeyId,
        key_version: u32,
        threshold: u8,
        x: u8,
        y: [u8; KEY_LEN],
    ) -> Share {
        Share {
            key_id,
            key_version,
            generation: 1,
            threshold,
            x,
            y: Zeroizing::new(y),
        }
    }

    /// The share in another generation (for re-sharing and tests).
    pub fn with_generation(mut self, generation: u32) -> Share {
        self.generation = generation;
        self
    }

    /// The compact encoding of a share as a store keeps it: key id, key version, generation,
    /// threshold, x and the 32-byte value ([`RECORD_LEN`] bytes), in a buffer wiped on drop.
    pub fn to_record(&self) -> Zeroizing<Vec<u8>> {
        let mut b = Zeroizing::new(Vec::with_capacity(RECORD_LEN));
        b.extend_from_slice(&self.key_id.0);
        b.extend_from_slice(&self.key_version.to_be_bytes());
        b.extend_from_slice(&self.generation.to_be_bytes());
        b.push(self.threshold);
        b.push(self.x);
        b.extend_from_slice(self.y.as_ref());
        b
    }

    /// Parses [`Share::to_record`]'s encoding.
    pub fn from_record(b: &[u8]) -> Option<Share> {
        if b.len() != RECORD_LEN {
            return None;
        }
        let be = |r: std::ops::Range<usize>| {
            let mut a = [0u8; 4];
            a.copy_from_slice(&b[r]);
            u32::from_be_bytes(a)
        };
        let mut id = [0u8; 16];
        id.copy_from_slice(&b[..16]);
        let mut y = Zeroizing::new([0u8; KEY_LEN]);
        y.copy_from_slice(&b[26..]);
        Some(Share {
            key_id: KeyId(id),
            key_version: be(16..20),
            generation: be(20..24),
            threshold: b[24],
            x: b[25],
            y,
        })
    }

    /// The share's value. Handle with care.
    pub fn expose_secret(&self) -> &[u8; KEY_LEN] {
        &self.y
    }

    /// The share with its value changed (for tamper tests).
    #[doc(hidden)]
    pub fn with_value(mut self, y: [u8; KEY_LEN]) -> Share {
        *self.y = y;
        self
    }
}

impl fmt::Debug for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Share")
            .field("key_id", &self.key_id)
            .field("key_version", &self.key_version)
            .field("generation", &self.generation)
            .field("threshold", &self.threshold)
            .field("x", &self.x)
            .field("y", &"<redacted>")
            .finish()
    }
}

mod secret_hex {
    use serde::{Deserialize, Deserializer, Serializer};
    use zeroize::Zeroizing;

    pub(super) fn serialize<S: Serializer>(
        y: &Zeroizing<[u8; 32]>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let text = Zeroizing::new(hex::encode(y.as_ref()));
        s.serialize_str(&text)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Zeroizing<[u8; 32]>, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        let mut y = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.as_bytes(), y.as_mut())
            .map_err(|_| serde::de::Error::custom("share value: expected 64 hexadecimal digits"))?;
        Ok(y)
    }
}

/// Splits `key` into `n` shares of which any `k` reconstruct it (2 <= k < n <= 255), of the first
/// generation.
pub fn split(key: &DataKey, key_id: KeyId, key_version: u32, k: u8, n: u8) -> Result<Vec<Share>> {
    split_generation(key, key_id, key_version, 1, k, n)
}

/// [`split`] for a given generation (a re-sharing).
pub fn split_generation(
    key: &DataKey,
    key_id: KeyId,
    key_version: u32,
    generation: u32,
    k: u8,
    n: u8,
) -> Result<Vec<Share>> {
    if !(2 <= k && k < n) {
        return Err(Error::invalid(
            "threshold",
            format!(
                "{k}-of-{n}; expected 2 <= k < n <= 255 (k = 1 gives the key away, k = n tolerates no lost server)"
            ),
        ));
    }
    let mut raw = hazmat::create_keyshares(key.expose_secret(), n, k)
        .map_err(|e| Error::invalid("threshold", format!("{k}-of-{n}: {e}")))?;
    let shares = raw
        .iter()
        .map(|r| {
            let mut y = [0u8; KEY_LEN];
            y.copy_from_slice(&r[1..]);
            let s = Share::from_parts(key_id, key_version, k, r[0], y).with_generation(generation);
            y.zeroize();
            s
        })
        .collect();
    for r in &mut raw {
        r.zeroize();
    }
    Ok(shares)
}

/// A reconstructed key, with the x coordinates of the shares that disagree with it.
#[derive(Debug)]
pub struct Combined {
    /// The key, verified against the commitment.
    pub key: DataKey,
    /// x coordinates of the shares given that are not shares of this key (tampered, corrupted or
    /// from another key): the key servers that hold them need attention.
    pub bad_shares: Vec<u8>,
}

/// Reconstructs a key from `threshold` (k) or more shares and checks it against `commitment`.
///
/// Shares are grouped by key id, key version and generation (only one group can match the
/// commitment); a share with x = 0 or claiming a threshold above k cannot be part of a k-of-n
/// sharing and is set aside as bad. Exact duplicates count once. Within a group, up to
/// [`MAX_SUBSETS_TRIED`] k-subsets are tried, newest generation first, and the shares
/// inconsistent with the key found are reported in [`Combined::bad_shares`].
pub fn combine(shares: &[Share], threshold: u8, commitment: &KeyCommitment) -> Result<Combined> {
    let k = usize::from(threshold);
    if k < 2 {
        return Err(Error::KeyReconstruction);
    }
    let mut bad_shares: Vec<u8> = Vec::new();
    // (key id, key version, generation) and the distinct shares of that sharing.
    type Group<'a> = ((KeyId, u32, u32), Vec<&'a Share>);
    let mut groups: Vec<Group<'_>> = Vec::new();
    for s in shares {
        if s.x == 0 || s.threshold < 2 || usize::from(s.threshold) > k {
            bad_shares.push(s.x);
            continue;
        }
        let id = (s.key_id, s.key_version, s.generation);
        match groups.iter_mut().find(|(g, _)| *g == id) {
            Some((_, members)) => {
                if !members.contains(&s) {
                    members.push(s);
                }
            }
            None => groups.push((id, vec![s])),
        }
    }
    // Newest generation first, then the largest group.
    groups.sort_by(|a, b| b.0.2.cmp(&a.0.2).then(b.1.len().cmp(&a.1.len())));
    let mut tried = 0usize;
    for ((key_id, version, _), candidates) in &groups {
        let mut distinct_x: Vec<u8> = candidates.iter().map(|s| s.x).collect();
        distinct_x.sort_unstable();
        distinct_x.dedup();
        if distinct_x.len() < k {
            continue;
        }
        let try_subset = |subset: &[&Share]| -> Option<DataKey> {
            let key = interpolate(subset)?;
            commitment.verify(&key, key_id, *version).then_some(key)
        };
        let mut found: Option<(DataKey, Vec<usize>)> = None;
        for_each_subset(candidates.len(), k, &mut |idx| {
            if has_duplicate_x(idx.iter().map(|&i| candidates[i].x)) {
                return true;
            }
            tried += 1;
            let subset: Vec<&Share> = idx.iter().map(|&i| candidates[i]).collect();
            if let Some(key) = try_subset(&subset) {
                found = Some((key, idx.to_vec()));
                return false;
            }
            tried < MAX_SUBSETS_TRIED
        });
        let Some((key, good)) = found else {
            if tried >= MAX_SUBSETS_TRIED {
                break;
            }
            continue;
        };
        // A share outside the good subset is consistent iff it reconstructs the same key with
        // k - 1 of the good shares.
        for (i, c) in candidates.iter().enumerate() {
            if good.contains(&i) {
                continue;
            }
            let mut subset: Vec<&Share> = good
                .iter()
                .map(|&g| candidates[g])
                .filter(|s| s.x != c.x)
                .take(k - 1)
                .collect();
            subset.push(c);
            if subset.len() < k || try_subset(&subset).is_none() {
                bad_shares.push(c.x);
            }
        }
        bad_shares.sort_unstable();
        bad_shares.dedup();
        return Ok(Combined { key, bad_shares });
    }
    Err(Error::KeyReconstruction)
}

fn has_duplicate_x(xs: impl Iterator<Item = u8>) -> bool {
    let mut seen = [false; 256];
    for x in xs {
        if std::mem::replace(&mut seen[usize::from(x)], true) {
            return true;
        }
    }
    false
}

/// Lagrange interpolation at 0 of exactly the given shares (distinct x assumed).
fn interpolate(subset: &[&Share]) -> Option<DataKey> {
    let mut raw: Vec<Vec<u8>> = subset
        .iter()
        .map(|s| {
            let mut v = Vec::with_capacity(1 + KEY_LEN);
            v.push(s.x);
            v.extend_from_slice(s.expose_secret());
            v
        })
        .collect();
    let result = hazmat::combine_keyshares(&raw).ok();
    for r in &mut raw {
        r.zeroize();
    }
    let mut bytes = Zeroizing::new(result?);
    let mut key = [0u8; KEY_LEN];
    key.copy_from_slice(bytes.get(..KEY_LEN)?);
    bytes.zeroize();
    let k = DataKey::from_bytes(key);
    key.zeroize();
    Some(k)
}

/// Calls `f` with every k-subset of `0..n` (as sorted indices) in lexicographic order, until `f`
/// returns false.
fn for_each_subset(n: usize, k: usize, f: &mut dyn FnMut(&[usize]) -> bool) {
    if k > n || k == 0 {
        return;
    }
    let mut idx: Vec<usize> = (0..k).collect();
    loop {
        if !f(&idx) {
            return;
        }
        // Advance to the next combination.
        let mut i = k;
        while i > 0 && idx[i - 1] == n - k + (i - 1) {
            i -= 1;
        }
        if i == 0 {
            return;
        }
        idx[i - 1] += 1;
        for j in i..k {
            idx[j] = idx[j - 1] + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsets_are_enumerated_once_each() {
        let mut seen = Vec::new();
        for_each_subset(5, 3, &mut |s| {
            seen.push(s.to_vec());
            true
        });
        assert_eq!(seen.len(), 10);
        seen.dedup();
        assert_eq!(seen.len(), 10);
        assert_eq!(seen[0], vec![0, 1, 2]);
        assert_eq!(seen[9], vec![2, 3, 4]);
    }

    #[test]
    fn thresholds_outside_the_scheme_are_refused() {
        let key = DataKey::from_bytes([1; 32]);
        for (k, n) in [(1, 3), (0, 3), (3, 3), (4, 3), (2, 2), (255, 255)] {
            assert!(
                matches!(
                    split(&key, KeyId([0; 16]), 1, k, n),
                    Err(Error::InvalidParameter { .. })
                ),
                "{k}-of-{n}"
            );
        }
        assert_eq!(split(&key, KeyId([0; 16]), 1, 254, 255).unwrap().len(), 255);
    }

    #[test]
    fn debug_redacts_the_share_value() {
        let s = Share::from_parts(KeyId([0; 16]), 1, 2, 1, [0xcd; 32]);
        assert!(!format!("{s:?}").contains("cd"));
    }
}
