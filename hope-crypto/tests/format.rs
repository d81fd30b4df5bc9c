//! The container format: known-answer vectors from an independent implementation of the spec,
//! tampering of every kind, random access, and arbitrary input.
#![allow(clippy::unwrap_used)]

use std::io::{Cursor, Read, Write};

use hope_crypto::container::{
    Backend, DEFAULT_SEGMENT_SIZE, Decryptor, EncryptOptions, Encryptor, HEADER_LEN, Header,
    RangeDecryptor, TAG_LEN, decrypt_stream, decrypt_to_vec, encrypt_stream, encrypt_to_vec,
};
use hope_crypto::{DataKey, Error, KeyId};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 131 + 7) % 256) as u8).collect()
}

fn hex32(s: &str) -> [u8; 32] {
    let mut a = [0u8; 32];
    hex::decode_to_slice(s, &mut a).unwrap();
    a
}

/// Vectors written by tools/crypto_kat.py, a Python implementation of the byte-level spec on the
/// `cryptography` package: the Rust writer must produce exactly the version-2 bytes, and read
/// back both versions.
#[test]
fn known_answer_vectors() {
    for (file, version) in [
        (include_str!("data/container_v2_kat.json"), 2u8),
        (include_str!("data/container_v1_kat.json"), 1u8),
    ] {
        let doc: serde_json::Value = serde_json::from_str(file).unwrap();
        let cases = doc["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 5);
        for c in cases {
            kat_case(c, version);
        }
    }
}

fn kat_case(c: &serde_json::Value, version: u8) {
    let name = c["name"].as_str().unwrap();
    let key = DataKey::from_bytes(hex32(c["key"].as_str().unwrap()));
    let key_id: KeyId = c["key_id"].as_str().unwrap().parse().unwrap();
    let key_version = u32::try_from(c["key_version"].as_u64().unwrap()).unwrap();
    let object_id = c["object_id"].as_str().unwrap().as_bytes();
    let seg = u32::try_from(c["segment_size"].as_u64().unwrap()).unwrap();
    let salt = hex32(c["salt"].as_str().unwrap());
    let mut prefix = [0u8; 7];
    hex::decode_to_slice(c["nonce_prefix"].as_str().unwrap(), &mut prefix).unwrap();
    let plain = pattern(usize::try_from(c["plaintext_len"].as_u64().unwrap()).unwrap());
    let sealed = if version == 2 {
        let mut produced = Vec::new();
        for backend in [Backend::Ring, Backend::RustCrypto] {
            let opts = EncryptOptions::new().segment_size(seg).backend(backend);
            let mut enc = Encryptor::with_randomness(
                Vec::new(),
                &key,
                key_id,
                key_version,
                object_id,
                &opts,
                salt,
                prefix,
            )
            .unwrap();
            enc.write_all(&plain).unwrap();
            produced.push(enc.finish().unwrap());
        }
        assert_eq!(produced[0], produced[1], "{name}: backends differ");
        produced.remove(0)
    } else {
        hex::decode(c["container_hex"].as_str().unwrap()).unwrap()
    };
    let what = format!("{name} (v{version})");
    assert_eq!(
        sealed.len() as u64,
        c["container_len"].as_u64().unwrap(),
        "{what}: length"
    );
    assert_eq!(
        hex::encode(Sha256::digest(&sealed)),
        c["container_sha256"].as_str().unwrap(),
        "{what}: bytes"
    );
    if let Some(h) = c["container_hex"].as_str() {
        assert_eq!(hex::encode(&sealed), h, "{what}");
    }
    for reader in [Backend::Ring, Backend::RustCrypto] {
        let header = Header::read_from(&sealed[..]).unwrap();
        assert_eq!(header.version, version);
        let body = &sealed[header.len()..];
        let mut out = Vec::new();
        Decryptor::with_backend(body, header.clone(), &key, Some(object_id), reader)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, plain, "{what}: decrypted by {reader:?}");
        // Without the object id: version 2 names its object, version 1 must be told.
        let any = Decryptor::with_backend(body, header.clone(), &key, None, reader);
        if version == 2 {
            let mut out = Vec::new();
            any.unwrap().read_to_end(&mut out).unwrap();
            assert_eq!(out, plain, "{what}: decrypted without the object id");
        } else {
            assert!(matches!(
                any,
                Err(Error::InvalidParameter {
                    name: "object_id",
                    ..
                })
            ));
        }
        assert!(matches!(
            Decryptor::with_backend(body, header, &key, Some(b"another"), reader),
            Err(Error::Decryption)
        ));
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        let header = Header::read_from(&tampered[..]).unwrap();
        let res = Decryptor::with_backend(
            &tampered[header.len()..],
            header,
            &key,
            Some(object_id),
            reader,
        )
        .and_then(|mut d| {
            d.read_to_end(&mut Vec::new())
                .map_err(|_| Error::Decryption)
        });
        assert!(res.is_err(), "{what}: tampered tag accepted by {reader:?}");
    }
}

const SEG: usize = 4096;

struct Fixture {
    key: DataKey,
    plain: Vec<u8>,
    sealed: Vec<u8>,
}

/// Three segments: two full, one of 100 bytes.
fn fixture() -> Fixture {
    let key = DataKey::generate().unwrap();
    let plain = pattern(2 * SEG + 100);
    let opts = EncryptOptions::new().segment_size(SEG as u32);
    let sealed = encrypt_to_vec(&plain, &key, KeyId([9; 16]), 1, b"obj-1", &opts).unwrap();
    Fixture { key, plain, sealed }
}

fn seg_range(i: usize) -> std::ops::Range<usize> {
    let start = HEADER_LEN + i * (SEG + TAG_LEN);
    start..start + SEG + TAG_LEN
}

fn assert_opaque(bytes: &[u8], key: &DataKey, object_id: &[u8], what: &str) {
    match decrypt_to_vec(bytes, key, Some(object_id)) {
        Err(Error::Decryption) => {}
        other => panic!(
            "{what}: expected the opaque decryption error, got {:?}",
            other.map(|v| v.len())
        ),
    }
}

#[test]
fn bit_flips_in_header_and_segments_fail() {
    let f = fixture();
    assert_eq!(
        decrypt_to_vec(&f.sealed, &f.key, Some(b"obj-1")).unwrap(),
        f.plain
    );
    let mut positions: Vec<usize> = (0..HEADER_LEN).collect();
    for i in 0..3 {
        let r = if i < 2 {
            seg_range(i)
        } else {
            seg_range(2).start..f.sealed.len()
        };
        positions.extend([
            r.start,
            r.start + 1,
            (r.start + r.end) / 2,
            r.end - TAG_LEN - 1,
        ]);
        positions.extend(r.end - TAG_LEN..r.end); // every tag byte
    }
    for &p in &positions {
        for bit in [0u8, 7] {
            let mut t = f.sealed.clone();
            t[p] ^= 1 << bit;
            assert_opaque(&t, &f.key, b"obj-1", &format!("bit {bit} of byte {p}"));
        }
    }
}

#[test]
fn truncation_at_every_segment_boundary_and_inside_fails() {
    let f = fixture();
    let mut cuts = vec![
        0,
        1,
        HEADER_LEN - 1,
        HEADER_LEN,
        HEADER_LEN + 1,
        f.sealed.len() - 1,
    ];
    for i in 0..3 {
        cuts.push(seg_range(i).start);
        cuts.push(seg_range(i).start + TAG_LEN);
        cuts.push(seg_range(i).end.min(f.sealed.len()) - 1);
    }
    for cut in cuts {
        assert_opaque(
            &f.sealed[..cut],
            &f.key,
            b"obj-1",
            &format!("truncated to {cut}"),
        );
    }
}

#[test]
fn reordering_appending_and_wrong_identity_fail() {
    let f = fixture();
    let s = &f.sealed;
    let (h, s0, s1, s2) = (
        &s[..HEADER_LEN],
        &s[seg_range(0)],
        &s[seg_range(1)],
        &s[seg_range(2).start..],
    );
    assert_opaque(
        &[h, s1, s0, s2].concat(),
        &f.key,
        b"obj-1",
        "segments 0 and 1 swapped",
    );
    assert_opaque(
        &[h, s0, s2].concat(),
        &f.key,
        b"obj-1",
        "middle segment dropped",
    );
    assert_opaque(
        &[h, s0, s1, s1, s2].concat(),
        &f.key,
        b"obj-1",
        "segment duplicated",
    );
    assert_opaque(&[s, &b"x"[..]].concat(), &f.key, b"obj-1", "byte appended");
    assert_opaque(&[s, s0].concat(), &f.key, b"obj-1", "segment appended");
    assert_opaque(s, &f.key, b"obj-2", "wrong object id");
    assert_opaque(s, &DataKey::generate().unwrap(), b"obj-1", "wrong key");
}

#[test]
fn splicing_between_two_containers_fails() {
    let f = fixture();
    // Same key, same object id, same plaintext: only salt and nonce prefix differ.
    let opts = EncryptOptions::new().segment_size(SEG as u32);
    let other = encrypt_to_vec(&f.plain, &f.key, KeyId([9; 16]), 1, b"obj-1", &opts).unwrap();
    assert_eq!(
        decrypt_to_vec(&other, &f.key, Some(b"obj-1")).unwrap(),
        f.plain
    );
    for i in 0..3 {
        let r = if i < 2 {
            seg_range(i)
        } else {
            seg_range(2).start..f.sealed.len()
        };
        let mut t = f.sealed.clone();
        t[r.clone()].copy_from_slice(&other[r]);
        assert_opaque(
            &t,
            &f.key,
            b"obj-1",
            &format!("segment {i} from another container"),
        );
    }
    let mut t = f.sealed.clone();
    t[..HEADER_LEN].copy_from_slice(&other[..HEADER_LEN]);
    assert_opaque(&t, &f.key, b"obj-1", "header from another container");
}

#[test]
fn edited_header_fields_fail_even_when_consistent() {
    let f = fixture();
    let header = Header::read_from(&f.sealed[..]).unwrap();
    let edits: Vec<(&str, Header)> = vec![
        (
            "key version",
            Header {
                key_version: 2,
                ..header.clone()
            },
        ),
        (
            "segment size",
            Header {
                segment_size: 8192,
                ..header.clone()
            },
        ),
        (
            "key id",
            Header {
                key_id: KeyId([8; 16]),
                ..header.clone()
            },
        ),
        (
            "salt",
            Header {
                salt: [0; 32],
                ..header.clone()
            },
        ),
    ];
    for (what, h) in edits {
        let t = [&h.to_bytes()[..], &f.sealed[HEADER_LEN..]].concat();
        assert_opaque(&t, &f.key, b"obj-1", what);
    }
}

#[test]
fn streaming_uses_bounded_memory_over_many_segments() {
    // 8 MiB through small writes and reads: the adapters hold one segment each.
    let key = DataKey::generate().unwrap();
    let mut enc = Encryptor::new(
        Vec::new(),
        &key,
        KeyId([1; 16]),
        1,
        b"big",
        &EncryptOptions::new(),
    )
    .unwrap();
    let chunk = pattern(10_007);
    let mut total = 0;
    while total < 8 << 20 {
        enc.write_all(&chunk).unwrap();
        total += chunk.len();
    }
    let sealed = enc.finish().unwrap();
    let mut dec = Decryptor::new(&sealed[..], &key, Some(b"big")).unwrap();
    let mut buf = [0u8; 3001];
    let (mut n, mut hasher_in, mut hasher_out) = (0usize, Sha256::new(), Sha256::new());
    for _ in 0..total / chunk.len() {
        hasher_in.update(&chunk);
    }
    loop {
        let k = dec.read(&mut buf).unwrap();
        if k == 0 {
            break;
        }
        hasher_out.update(&buf[..k]);
        n += k;
    }
    assert_eq!(n, total);
    assert_eq!(hasher_in.finalize(), hasher_out.finalize());
    let segments = total.div_ceil(DEFAULT_SEGMENT_SIZE as usize);
    assert_eq!(sealed.len(), HEADER_LEN + total + segments * TAG_LEN);
}

#[test]
fn range_decryption_reads_any_slice() {
    let f = fixture();
    let mut r = RangeDecryptor::new(Cursor::new(&f.sealed), &f.key, Some(b"obj-1")).unwrap();
    assert_eq!(r.plaintext_len(), f.plain.len() as u64);
    for (off, len) in [
        (0, 0),
        (0, 1),
        (5, 100),
        (SEG - 3, 10),
        (SEG, SEG),
        (100, 2 * SEG),
        (0, f.plain.len()),
        (2 * SEG + 99, 1),
    ] {
        assert_eq!(
            r.read_range(off as u64, len).unwrap(),
            &f.plain[off..off + len],
            "{off}+{len}"
        );
    }
    assert!(matches!(
        r.read_range((2 * SEG + 100) as u64, 1),
        Err(Error::InvalidParameter { .. })
    ));
    // A tampered segment fails only the ranges that touch it.
    let mut t = f.sealed.clone();
    t[seg_range(1).start + 5] ^= 1;
    let mut r = RangeDecryptor::new(Cursor::new(&t), &f.key, Some(b"obj-1")).unwrap();
    assert_eq!(r.read_range(0, 10).unwrap(), &f.plain[..10]);
    assert!(matches!(
        r.read_range(SEG as u64, 10),
        Err(Error::Decryption)
    ));
    // Truncation at a boundary turns a full segment into a fake last one: refused at once.
    let cut = &f.sealed[..seg_range(1).end];
    assert!(matches!(
        RangeDecryptor::new(Cursor::new(cut), &f.key, Some(b"obj-1")),
        Err(Error::Decryption)
    ));
    assert!(matches!(
        RangeDecryptor::new(Cursor::new(&f.sealed), &f.key, Some(b"obj-2")),
        Err(Error::Decryption)
    ));
    // Without an expected id, any range of the (whole) container reads.
    let mut r = RangeDecryptor::new(Cursor::new(&f.sealed), &f.key, None).unwrap();
    assert_eq!(r.read_range(3, 4).unwrap(), &f.plain[3..7]);
}

/// Finding 15: a container cut inside its last segment was accepted by the range reader, which
/// then served every earlier range as if the container were whole.
#[test]
fn finding_15_a_range_reader_refuses_a_container_cut_short() {
    let f = fixture();
    for cut in [
        f.sealed.len() - 1,
        f.sealed.len() - TAG_LEN,
        seg_range(2).start + 5,
    ] {
        let t = &f.sealed[..cut];
        assert!(
            matches!(
                RangeDecryptor::new(Cursor::new(t), &f.key, Some(b"obj-1")),
                Err(Error::Decryption)
            ),
            "cut to {cut}"
        );
    }
}

/// The object id is in the authenticated header (keyed): a file encrypted as one name decrypts
/// under another name when no id is expected, and is refused when the wrong one is.
#[test]
fn the_object_id_travels_in_the_header_and_is_checked_only_when_expected() {
    let f = fixture();
    let header = Header::read_from(&f.sealed[..]).unwrap();
    assert_eq!(header.version, 2);
    assert_eq!(header.len(), HEADER_LEN);
    assert_eq!(
        header.object_binding,
        Some(hope_crypto::container::object_binding(&f.key, b"obj-1"))
    );
    // The id itself never appears in the header.
    assert!(!f.sealed[..HEADER_LEN].windows(5).any(|w| w == b"obj-1"));
    assert_eq!(decrypt_to_vec(&f.sealed, &f.key, None).unwrap(), f.plain);
    assert!(matches!(
        decrypt_to_vec(&f.sealed, &f.key, Some(b"obj-2")),
        Err(Error::Decryption)
    ));
}

proptest! {
    /// Decrypting arbitrary bytes never panics (the fuzz target does the same, guided).
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600), keep_header in any::<bool>()) {
        let f_key = DataKey::from_bytes([3; 32]);
        let mut input = bytes;
        if keep_header && input.len() >= HEADER_LEN {
            let sealed = encrypt_to_vec(b"x", &f_key, KeyId([1; 16]), 1, b"o", &EncryptOptions::new()).unwrap();
            input[..HEADER_LEN].copy_from_slice(&sealed[..HEADER_LEN]);
        }
        prop_assert!(decrypt_to_vec(&input, &f_key, Some(b"o")).is_err());
        prop_assert!(decrypt_to_vec(&input, &f_key, None).is_err());
        if let Ok(mut r) = RangeDecryptor::new(Cursor::new(&input), &f_key, Some(b"o")) {
            let len = r.plaintext_len().min(64) as usize;
            let _ = r.read_range(0, len);
        }
    }

    /// A container cut anywhere is refused by every reader, never a panic.
    #[test]
    fn a_container_cut_anywhere_is_refused(len in 0usize..13_000, cut in any::<prop::sample::Index>()) {
        let key = DataKey::from_bytes([6; 32]);
        let plain = pattern(len);
        let opts = EncryptOptions::new().segment_size(4096);
        let sealed = encrypt_to_vec(&plain, &key, KeyId([2; 16]), 1, b"c", &opts).unwrap();
        let cut = cut.index(sealed.len());
        let t = &sealed[..cut];
        prop_assert!(decrypt_to_vec(t, &key, None).is_err());
        prop_assert!(RangeDecryptor::new(Cursor::new(t), &key, None).is_err());
    }

    #[test]
    fn any_length_round_trips(len in 0usize..20_000, seg in 4096u32..9000) {
        let key = DataKey::from_bytes([5; 32]);
        let plain = pattern(len);
        let sealed = encrypt_to_vec(&plain, &key, KeyId([2; 16]), 7, b"p", &EncryptOptions::new().segment_size(seg)).unwrap();
        prop_assert_eq!(decrypt_to_vec(&sealed, &key, Some(b"p")).unwrap(), plain);
    }
}

/// The parallel streaming paths write and read exactly the format of [`Encryptor`] and
/// [`Decryptor`], at every length around segment and batch boundaries, and refuse what they refuse.
#[test]
fn parallel_streams_match_the_sequential_reader_and_writer() {
    let key = DataKey::from_bytes([8; 32]);
    let seg = 4096usize;
    let opts = EncryptOptions::new().segment_size(seg as u32);
    for len in [
        0,
        1,
        seg - 1,
        seg,
        seg + 1,
        32 * seg - 1,
        32 * seg,
        32 * seg + 1,
        33 * seg,
        70 * seg + 5,
    ] {
        let plain = pattern(len);
        let sealed =
            encrypt_stream(&plain[..], Vec::new(), &key, KeyId([3; 16]), 1, b"s", &opts).unwrap();
        let segments = len.div_ceil(seg).max(1);
        assert_eq!(
            sealed.len(),
            HEADER_LEN + len + segments * TAG_LEN,
            "len {len}"
        );
        assert_eq!(
            decrypt_to_vec(&sealed, &key, Some(b"s")).unwrap(),
            plain,
            "len {len}"
        );
        let reference = encrypt_to_vec(&plain, &key, KeyId([3; 16]), 1, b"s", &opts).unwrap();
        let header = Header::read_from(&reference[..]).unwrap();
        let out = decrypt_stream(
            &reference[HEADER_LEN..],
            header.clone(),
            Vec::new(),
            &key,
            Some(b"s"),
        )
        .unwrap();
        assert_eq!(out, plain, "len {len}");
        assert!(
            decrypt_stream(
                &reference[HEADER_LEN..],
                header.clone(),
                Vec::new(),
                &key,
                Some(b"t")
            )
            .is_err()
        );
        // Cut short at a boundary, inside a segment, or tampered: refused.
        for cut in [
            reference.len() - 1,
            reference.len() - TAG_LEN,
            HEADER_LEN + seg + TAG_LEN,
        ] {
            if cut <= HEADER_LEN || cut >= reference.len() {
                continue;
            }
            assert!(
                decrypt_stream(
                    &reference[HEADER_LEN..cut],
                    header.clone(),
                    Vec::new(),
                    &key,
                    None
                )
                .is_err(),
                "len {len} cut {cut}"
            );
        }
        let mut t = reference.clone();
        let last = t.len() - 1;
        t[last] ^= 1;
        assert!(decrypt_stream(&t[HEADER_LEN..], header, Vec::new(), &key, None).is_err());
    }
}

/// A reader that fails after `left` bytes.
struct Failing {
    data: Vec<u8>,
    at: usize,
    left: usize,
}

impl Read for Failing {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Err(std::io::Error::other("the disk went away"));
        }
        let n = buf.len().min(self.left).min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        self.left -= n;
        Ok(n)
    }
}

/// A stream that fails half-way is an error, never a shorter container or plaintext that looks
/// complete (an early version returned success with the first batches only).
#[test]
fn a_stream_that_fails_half_way_is_an_error() {
    let key = DataKey::from_bytes([9; 32]);
    let opts = EncryptOptions::new().segment_size(4096);
    let plain = pattern(500 * 4096);
    for left in [0, 1000, 200 * 4096, 499 * 4096] {
        let r = Failing {
            data: plain.clone(),
            at: 0,
            left,
        };
        assert!(
            encrypt_stream(r, Vec::new(), &key, KeyId([1; 16]), 1, b"f", &opts).is_err(),
            "encrypting, failure after {left} bytes"
        );
    }
    let sealed = encrypt_to_vec(&plain, &key, KeyId([1; 16]), 1, b"f", &opts).unwrap();
    let header = Header::read_from(&sealed[..]).unwrap();
    let body = sealed[HEADER_LEN..].to_vec();
    for left in [0, 1000, 200 * 4112, body.len() - 1] {
        let r = Failing {
            data: body.clone(),
            at: 0,
            left,
        };
        assert!(
            decrypt_stream(r, header.clone(), Vec::new(), &key, None).is_err(),
            "decrypting, failure after {left} bytes"
        );
    }
}

/// The positioned, all-core file paths write exactly the format of the sequential writer and
/// read it back, at lengths around segment and batch boundaries, and refuse what it refuses.
#[cfg(unix)]
#[test]
fn file_paths_match_the_sequential_format() {
    use hope_crypto::container::{decrypt_file, encrypt_file};
    let dir = tempfile::tempdir().unwrap();
    let key = DataKey::from_bytes([10; 32]);
    let seg = 4096usize;
    let opts = EncryptOptions::new().segment_size(seg as u32);
    let progress = std::sync::atomic::AtomicU64::new(0);
    let count = |n: u64| {
        progress.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
    };
    for len in [
        0,
        1,
        seg,
        seg + 1,
        32 * seg,
        32 * seg + 1,
        64 * seg,
        200 * seg + 9,
    ] {
        let plain = pattern(len);
        let src = dir.path().join("plain");
        std::fs::write(&src, &plain).unwrap();
        let enc = dir.path().join("enc");
        let out = std::fs::File::create(&enc).unwrap();
        progress.store(0, std::sync::atomic::Ordering::SeqCst);
        let header = encrypt_file(
            &std::fs::File::open(&src).unwrap(),
            &out,
            &key,
            KeyId([4; 16]),
            1,
            b"f",
            &opts,
            &count,
        )
        .unwrap();
        drop(out);
        assert_eq!(
            progress.load(std::sync::atomic::Ordering::SeqCst),
            len as u64
        );
        let sealed = std::fs::read(&enc).unwrap();
        assert_eq!(header.len(), HEADER_LEN);
        assert_eq!(
            decrypt_to_vec(&sealed, &key, Some(b"f")).unwrap(),
            plain,
            "len {len}"
        );
        // And the parallel reader reads the sequential writer's container.
        let reference = encrypt_to_vec(&plain, &key, KeyId([4; 16]), 1, b"f", &opts).unwrap();
        let refp = dir.path().join("ref");
        std::fs::write(&refp, &reference).unwrap();
        let dec = dir.path().join("dec");
        decrypt_file(
            &std::fs::File::open(&refp).unwrap(),
            &std::fs::File::create(&dec).unwrap(),
            &key,
            Some(b"f"),
            &|_| {},
        )
        .unwrap();
        assert_eq!(std::fs::read(&dec).unwrap(), plain, "len {len}");
        let open = |bytes: &[u8], id: Option<&[u8]>| {
            std::fs::write(&refp, bytes).unwrap();
            decrypt_file(
                &std::fs::File::open(&refp).unwrap(),
                &std::fs::File::create(&dec).unwrap(),
                &key,
                id,
                &|_| {},
            )
        };
        assert!(open(&reference, Some(b"g")).is_err());
        for cut in [
            reference.len() - 1,
            reference.len() - TAG_LEN,
            HEADER_LEN + seg + TAG_LEN,
            10,
        ] {
            if cut < reference.len() {
                assert!(
                    open(&reference[..cut], None).is_err(),
                    "len {len} cut {cut}"
                );
            }
        }
        let mut t = reference.clone();
        t[HEADER_LEN + 3] ^= 1;
        assert!(open(&t, None).is_err());
    }
}
