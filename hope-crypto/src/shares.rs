//! k-of-n Shamir sharing of data keys, checked against the key commitment.
//!
//! The underlying hazmat API of `shamirsecretsharing` happily "combines" too few, duplicated or
//! tampered shares into a wrong key without any error, and accepts k = 1. This module refuses
//! what the scheme does not allow (2 <= k < n <= 255), and checks every reconstructed key against
//! the [`KeyCommitment`] carried by the container header, so a wrong key is never returned. When
//! more than k shares are at hand, it searches for a consistent subset and names the shares that
//! disagree with the reconstructed key, so that an operator can repair the key server that holds
//! them. A failure is the opaque [`Error::KeyReconstruction`].
//!
//! ```
//! use hope_crypto::shares::{combine, split};
//! use hope_crypto::{DataKey, KeyId};
//!
//! let key = DataKey::generate()?;
//! let id = KeyId::generate()?;
//! let shares = split(&key, id, 1, 2, 3)?;            // 2-of-3
//! let commitment = key.commitment(&id, 1);
//! let back = combine(&shares[1..], &commitment)?;    // any two
//! assert_eq!(back.key.expose_secret(), key.expose_secret());
//! assert!(combine(&shares[..1], &commitment).is_err()); // one is not enough
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
    /// Shares needed to reconstruct the key (k).
    pub threshold: u8,
    /// The share's x coordinate (1 ..= n).
    pub x: u8,
    /// The share's value (32 bytes, hexadecimal in serialised form).
    #[serde(with = "secret_hex")]
    y: Zeroizing<[u8; KEY_LEN]>,
}

impl Share {
    /// A share from its parts (for storage back-ends and tests).
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
            threshold,
            x,
            y: Zeroizing::new(y),
        }
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

/// Splits `key` into `n` shares of which any `k` reconstruct it (2 <= k < n <= 255).
pub fn split(key: &DataKey, key_id: KeyId, key_version: u32, k: u8, n: u8) -> Result<Vec<Share>> {
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
            let s = Share::from_parts(key_id, key_version, k, r[0], y);
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

/// Reconstructs a key from `k` or more shares and checks it against `commitment`.
///
/// Shares must agree on key id, version and threshold. Exact duplicates count once. With more than
/// `k` distinct shares, up to [`MAX_SUBSETS_TRIED`] subsets are tried, and the shares inconsistent
/// with the key found are reported in [`Combined::bad_shares`].
pub fn combine(shares: &[Share], commitment: &KeyCommitment) -> Result<Combined> {
    let first = shares.first().ok_or(Error::KeyReconstruction)?;
    let (key_id, version, k) = (first.key_id, first.key_version, first.threshold);
    if k < 2
        || shares
            .iter()
            .any(|s| s.key_id != key_id || s.key_version != version || s.threshold != k || s.x == 0)
    {
        return Err(Error::KeyReconstruction);
    }
    let mut candidates: Vec<&Share> = Vec::new();
    for s in shares {
        if !candidates.contains(&s) {
            candidates.push(s);
        }
    }
    let k = usize::from(k);
    let mut distinct_x: Vec<u8> = candidates.iter().map(|s| s.x).collect();
    distinct_x.sort_unstable();
    distinct_x.dedup();
    if distinct_x.len() < k {
        return Err(Error::KeyReconstruction);
    }

    let try_subset = |subset: &[&Share]| -> Option<DataKey> {
        let key = interpolate(subset)?;
        commitment.verify(&key, &key_id, version).then_some(key)
    };

    let mut tried = 0usize;
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
    let (key, good) = found.ok_or(Error::KeyReconstruction)?;

    // A share outside the good subset is consistent iff it reconstructs the same key with k - 1 of
    // the good shares.
    let mut bad_shares = Vec::new();
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
    Ok(Combined { key, bad_shares })
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
