//! Property tests of k-of-n key sharing: any k reconstruct; k-1, duplicated or modified shares never
//! yield a key (let alone plaintext); with spare shares, the bad one is named.
#![allow(clippy::unwrap_used)]

use hope_crypto::container::{EncryptOptions, decrypt_to_vec, encrypt_to_vec};
use hope_crypto::shares::{combine, split};
use hope_crypto::{DataKey, Error, KeyId};
use proptest::prelude::*;

fn setup(k: u8, n: u8, seed: u8) -> (DataKey, KeyId, Vec<hope_crypto::shares::Share>) {
    let key = DataKey::from_bytes([seed; 32].map(|b| b.wrapping_mul(31).wrapping_add(k)));
    let id = KeyId([seed; 16]);
    let shares = split(&key, id, 1, k, n).unwrap();
    (key, id, shares)
}

/// (k, n, a subset of size k as a permutation prefix)
fn params() -> impl Strategy<Value = (u8, u8, Vec<usize>, u8)> {
    (2u8..8)
        .prop_flat_map(|k| (Just(k), (k + 1)..12))
        .prop_flat_map(|(k, n)| {
            (
                Just(k),
                Just(n),
                Just((0..usize::from(n)).collect::<Vec<_>>()).prop_shuffle(),
                any::<u8>(),
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_k_shares_reconstruct((k, n, order, seed) in params()) {
        let (key, id, shares) = setup(k, n, seed);
        prop_assert_eq!(shares.len(), usize::from(n));
        let pick: Vec<_> = order[..usize::from(k)].iter().map(|&i| shares[i].clone()).collect();
        let c = combine(&pick, k, &key.commitment(&id, 1)).unwrap();
        prop_assert_eq!(c.key.expose_secret(), key.expose_secret());
        prop_assert!(c.bad_shares.is_empty());
    }

    #[test]
    fn k_minus_one_shares_never_reconstruct((k, n, order, seed) in params()) {
        let (key, id, shares) = setup(k, n, seed);
        let pick: Vec<_> = order[..usize::from(k) - 1].iter().map(|&i| shares[i].clone()).collect();
        prop_assert!(matches!(combine(&pick, k, &key.commitment(&id, 1)), Err(Error::KeyReconstruction)));
        // A duplicate does not count twice.
        let mut dup = pick.clone();
        dup.push(pick[0].clone());
        prop_assert!(matches!(combine(&dup, k, &key.commitment(&id, 1)), Err(Error::KeyReconstruction)));
        // A forged share with a fresh x is not a share.
        let mut forged = pick.clone();
        let free_x = (1..=255u8).find(|x| !pick.iter().any(|s| s.x == *x)).unwrap();
        forged.push(pick[0].clone().with_value([0x5a; 32]));
        forged.last_mut().unwrap().x = free_x;
        prop_assert!(matches!(combine(&forged, k, &key.commitment(&id, 1)), Err(Error::KeyReconstruction)));
    }

    #[test]
    fn a_modified_share_is_rejected_or_named((k, n, order, seed) in params(), byte in 0usize..32, bit in 0u8..8) {
        let (key, id, shares) = setup(k, n, seed);
        let commitment = key.commitment(&id, 1);
        let mut pick: Vec<_> = order[..usize::from(k)].iter().map(|&i| shares[i].clone()).collect();
        let mut y = *pick[0].expose_secret();
        y[byte] ^= 1 << bit;
        let bad_x = pick[0].x;
        pick[0] = pick[0].clone().with_value(y);
        // Exactly k shares with one modified: refused.
        prop_assert!(matches!(combine(&pick, k, &commitment), Err(Error::KeyReconstruction)));
        // One spare good share: the key comes back and the modified share is named.
        let spare = shares[order[usize::from(k)]].clone();
        pick.push(spare);
        let c = combine(&pick, k, &commitment).unwrap();
        prop_assert_eq!(c.key.expose_secret(), key.expose_secret());
        prop_assert_eq!(c.bad_shares, vec![bad_x]);
    }
}

#[test]
fn shares_of_another_key_or_version_never_mix() {
    let (key, id, shares) = setup(2, 3, 1);
    let (_, _, other) = setup(2, 3, 2);
    let commitment = key.commitment(&id, 1);
    assert!(combine(&[shares[0].clone(), other[1].clone()], 2, &commitment).is_err());
    let v2 = split(&key, id, 2, 2, 3).unwrap();
    assert!(combine(&[shares[0].clone(), v2[1].clone()], 2, &commitment).is_err());
    // Nor do generations of one key (re-sharings): each is a polynomial of its own.
    let g2 = hope_crypto::shares::split_generation(&key, id, 1, 2, 2, 3).unwrap();
    assert!(combine(&[shares[0].clone(), g2[1].clone()], 2, &commitment).is_err());
    let mixed = [shares[0].clone(), g2[1].clone(), g2[2].clone()];
    assert_eq!(
        combine(&mixed, 2, &commitment).unwrap().key.expose_secret(),
        key.expose_secret()
    );
}

#[test]
fn plaintext_needs_the_key_from_k_shares() {
    let (key, id, shares) = setup(2, 3, 7);
    let sealed = encrypt_to_vec(b"CT slice", &key, id, 1, b"uid", &EncryptOptions::new()).unwrap();
    let header = hope_crypto::container::Header::read_from(&sealed[..]).unwrap();
    let c = combine(&shares[1..], 2, &header.commitment).unwrap();
    assert_eq!(
        decrypt_to_vec(&sealed, &c.key, Some(b"uid")).unwrap(),
        b"CT slice"
    );
    assert!(combine(&shares[..1], 2, &header.commitment).is_err());
}

/// Finding 8: the threshold was taken from the first share received, so one share claiming a
/// larger threshold (or from another key) made decryption fail although k good shares were there.
#[test]
fn finding_08_one_inconsistent_share_never_stops_k_good_ones() {
    let (key, id, shares) = setup(2, 3, 9);
    let commitment = key.commitment(&id, 1);
    let mut liar = shares[0].clone();
    liar.threshold = 3;
    let (_, _, other) = setup(2, 3, 10);
    for first in [
        liar.clone(),
        other[0].clone(),
        shares[0].clone().with_value([7; 32]),
    ] {
        let got = [first, shares[1].clone(), shares[2].clone()];
        let c = combine(&got, 2, &commitment).unwrap();
        assert_eq!(c.key.expose_secret(), key.expose_secret());
    }
    // The reader's threshold rules: two shares of a 2-of-3 key are not enough for a reader
    // configured for three (it never trusts a share's own claim to need fewer); three are.
    assert!(combine(&shares[..2], 3, &commitment).is_err());
    assert!(
        combine(&shares, 3, &commitment).is_ok(),
        "a degree-1 polynomial fits 3 points"
    );
    let (key3, id3, shares3) = setup(3, 4, 11);
    let mut claims_two = shares3[0].clone();
    claims_two.threshold = 2;
    assert!(
        combine(
            &[claims_two, shares3[1].clone()],
            2,
            &key3.commitment(&id3, 1)
        )
        .is_err()
    );
}
