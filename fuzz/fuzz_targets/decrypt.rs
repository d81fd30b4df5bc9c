//! Decrypting arbitrary bytes never panics: streaming, whole-buffer and random-access readers.
#![no_main]

use std::io::{Cursor, Read};

use hope_crypto::container::{Decryptor, Header, RangeDecryptor, decrypt_to_vec};
use hope_crypto::shares::{Share, combine};
use hope_crypto::{DataKey, KeyCommitment, KeyId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = DataKey::from_bytes([7; 32]);
    let _ = decrypt_to_vec(data, &key, Some(b"object"));
    if let Ok(mut d) = Decryptor::new(data, &key, Some(b"object")) {
        let _ = d.read_to_end(&mut Vec::new());
    }
    if let Ok(mut r) = RangeDecryptor::new(Cursor::new(data), &key, Some(b"object")) {
        let n = r.plaintext_len().min(1 << 16) as usize;
        let _ = r.read_range(0, n);
        let _ = r.read_range(r.plaintext_len() / 2, 1);
    }
    if let Ok(h) = Header::read_from(data) {
        let _ = h.to_bytes();
        let body = data.get(h.len()..).unwrap_or_default();
        let _ = hope_crypto::container::decrypt_stream(body, h, Vec::new(), &key, None);
    }
    // Share combination over arbitrary share values never panics either.
    if data.len() >= 66 {
        let shares: Vec<Share> = data
            .chunks_exact(33)
            .take(8)
            .map(|c| {
                let mut y = [0u8; 32];
                y.copy_from_slice(&c[1..]);
                Share::from_parts(KeyId([1; 16]), 1, 2, c[0], y)
            })
            .collect();
        let _ = combine(&shares, 2, &KeyCommitment([0; 32]));
    }
});
