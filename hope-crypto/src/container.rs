//! The encrypted container: a versioned streaming format of AES-256-GCM segments.
//!
//! # Byte-level specification, version 2
//!
//! A container is a 139-byte header followed by one or more segments. Integers are big-endian.
//!
//! | offset | length | field | value |
//! |---|---|---|---|
//! | 0 | 8 | magic | ASCII `HOPE-ENC` |
//! | 8 | 1 | version | `2` |
//! | 9 | 1 | algorithm | `1`: AES-256-GCM segments, segment key by HKDF-SHA256 |
//! | 10 | 2 | reserved | `0` |
//! | 12 | 4 | segment size | plaintext bytes per segment, 4 KiB ..= 16 MiB (default 64 KiB) |
//! | 16 | 16 | key id | which data key (key servers index shares by it) |
//! | 32 | 4 | key version | version of that key |
//! | 36 | 32 | salt | random, fresh for every container |
//! | 68 | 7 | nonce prefix | random, fresh for every container |
//! | 75 | 32 | key commitment | `HMAC-SHA256(data key, "HOPE-rs key commitment v1" ‖ key id ‖ key version)` |
//! | 107 | 32 | object binding | `HMAC-SHA256(data key, "HOPE-rs object id v2" ‖ object id)` |
//!
//! **Object binding.** The object id is what the container is *about* (for a DICOM instance, its
//! de-identified SOP Instance UID; for a file, its relative name). The header carries it keyed:
//! only a holder of the data key can check a candidate id against it, and an id that could name
//! a patient (a file name) is never readable from the header. A reader that is given an expected
//! object id checks it (a container presented under another id does not decrypt); one that is
//! not, decrypts whatever object the container is about, still fully authenticated.
//!
//! **Segment key.** `HKDF-SHA256(ikm = data key, salt = salt, info = "HOPE-rs segment key v2" ‖
//! SHA-256(header))`, 32 bytes: the whole header, object binding included, feeds the key.
//!
//! **Segments.** The plaintext is cut into segments of exactly `segment size` bytes, except the last,
//! which holds 1 ..= `segment size` bytes (0 bytes only when the whole plaintext is empty; there is
//! always at least one segment). Segment `i` is stored as `AES-256-GCM(segment key, nonce_i, aad =
//! header, plaintext_i)`: the ciphertext (same length as the plaintext) followed by the 16-byte tag,
//! with `nonce_i = nonce prefix (7) ‖ u32(i) (4) ‖ last (1: 0x01 for the last segment, else 0x00)`.
//!
//! Consequences, each covered by a test: a flipped bit anywhere fails a tag; editing any header field
//! fails every tag (the header is the associated data and feeds the key derivation); reordering
//! segments fails (the index is in the nonce); truncating at a segment boundary fails (the new
//! last segment was sealed as not-last); appending fails (the old last segment was sealed as last);
//! splicing segments between containers fails (salt and nonce prefix differ); a wrong key is rejected
//! by the commitment before any decryption. All failures are the one opaque [`Error::Decryption`].
//!
//! A reader releases a segment's plaintext only after its tag has verified. A streaming reader can
//! still have released earlier, authentic segments when a later one fails: treat any error as
//! failure of the whole object and discard the output (the `hope decrypt` command writes through a
//! temporary file for that reason). [`RangeDecryptor`] authenticates the last segment when it opens
//! a container, so that a container cut short is refused whatever range is read.
//!
//! # Version 1
//!
//! Version 1 (a 107-byte header, the same fields without the object binding) is still read. Its
//! segment key is `HKDF-SHA256(ikm = data key, salt = salt, info = "HOPE-rs segment key v1" ‖
//! u32(len(object id)) ‖ object id ‖ SHA-256(header))`: the object id is not in the header, so the
//! reader must be given it.
//!
//! ```
//! use std::io::{Read, Write};
//! use hope_crypto::container::{Decryptor, EncryptOptions, Encryptor};
//! use hope_crypto::{DataKey, KeyId};
//!
//! let key = DataKey::generate()?;
//! let key_id = KeyId::generate()?;
//! let uid = b"2.25.123456789";
//! let mut enc = Encryptor::new(Vec::new(), &key, key_id, 1, uid, &EncryptOptions::new())?;
//! enc.write_all(b"de-identified DICOM bytes")?;
//! let sealed = enc.finish()?;
//!
//! let mut plain = Vec::new();
//! Decryptor::new(&sealed[..], &key, Some(uid))?.read_to_end(&mut plain)?;
//! assert_eq!(plain, b"de-identified DICOM bytes");
//! assert!(Decryptor::new(&sealed[..], &key, Some(b"2.25.999")).is_err()); // wrong object id
//! assert!(Decryptor::new(&sealed[..], &key, None).is_ok()); // whatever object it is about
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::{self, Read, Seek, SeekFrom, Write};

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, KeyInit};
use hmac::Mac;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, Tag, UnboundKey};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::key::{DataKey, KeyCommitment, KeyId, constant_time_eq, random_fill};
use crate::{Error, Result};

/// The magic bytes at the start of every container.
pub const MAGIC: [u8; 8] = *b"HOPE-ENC";
/// The container format version this crate writes.
pub const VERSION: u8 = 2;
/// Algorithm code 1: AES-256-GCM segments with an HKDF-SHA256 segment key.
pub const ALGORITHM_AES256GCM_HKDF_SHA256: u8 = 1;
/// Header length in bytes of the version this crate writes (2).
pub const HEADER_LEN: usize = 139;
/// Header length in bytes of version 1 (still read).
pub const HEADER_LEN_V1: usize = 107;
/// Authentication tag length per segment.
pub const TAG_LEN: usize = 16;
/// Default plaintext bytes per segment.
pub const DEFAULT_SEGMENT_SIZE: u32 = 64 * 1024;
/// Smallest allowed segment size.
pub const MIN_SEGMENT_SIZE: u32 = 4 * 1024;
/// Largest allowed segment size.
pub const MAX_SEGMENT_SIZE: u32 = 16 * 1024 * 1024;

const SEGMENT_KEY_INFO_V1: &[u8] = b"HOPE-rs segment key v1";
const SEGMENT_KEY_INFO_V2: &[u8] = b"HOPE-rs segment key v2";
const OBJECT_BINDING_LABEL: &[u8] = b"HOPE-rs object id v2";

type HmacSha256 = hmac::Hmac<Sha256>;

/// `HMAC-SHA256(key, parts...)` into a buffer wiped on drop.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Zeroizing<[u8; 32]> {
    let mut mac = <HmacSha256 as hmac::KeyInit>::new_from_slice(key)
        .expect("HMAC accepts keys of any length");
    for p in parts {
        mac.update(p);
    }
    let mut tag = mac.finalize().into_bytes();
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&tag);
    tag.as_mut_slice().zeroize();
    out
}

/// HKDF-SHA256 (RFC 5869) for one 32-byte output block, written here so that the pseudo-random
/// key and every intermediate value live in buffers that are wiped when dropped.
fn hkdf_sha256_32(salt: &[u8], ikm: &[u8], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let prk = hmac_sha256(salt, &[ikm]);
    hmac_sha256(prk.as_ref(), &[info, &[1]])
}

/// The keyed binding of an object id under a data key (version 2 headers).
pub fn object_binding(key: &DataKey, object_id: &[u8]) -> [u8; 32] {
    *hmac_sha256(key.expose_secret(), &[OBJECT_BINDING_LABEL, object_id])
}

/// The parsed header of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Format version (1 or 2).
    pub version: u8,
    /// Plaintext bytes per segment.
    pub segment_size: u32,
    /// The data key's id.
    pub key_id: KeyId,
    /// The data key's version.
    pub key_version: u32,
    /// Random salt of the segment key derivation.
    pub salt: [u8; 32],
    /// Random nonce prefix.
    pub nonce_prefix: [u8; 7],
    /// Commitment to the data key.
    pub commitment: KeyCommitment,
    /// The keyed binding of the object id (version 2; `None` in version 1).
    pub object_binding: Option<[u8; 32]>,
}

impl Header {
    /// The header's length in bytes.
    pub fn len(&self) -> usize {
        if self.object_binding.is_some() {
            HEADER_LEN
        } else {
            HEADER_LEN_V1
        }
    }

    /// Always false: a header has a length (for clippy's `len_without_is_empty`).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The header's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = vec![0u8; self.len()];
        b[0..8].copy_from_slice(&MAGIC);
        b[8] = self.version;
        b[9] = ALGORITHM_AES256GCM_HKDF_SHA256;
        b[12..16].copy_from_slice(&self.segment_size.to_be_bytes());
        b[16..32].copy_from_slice(&self.key_id.0);
        b[32..36].copy_from_slice(&self.key_version.to_be_bytes());
        b[36..68].copy_from_slice(&self.salt);
        b[68..75].copy_from_slice(&self.nonce_prefix);
        b[75..107].copy_from_slice(&self.commitment.0);
        if let Some(binding) = &self.object_binding {
            b[107..139].copy_from_slice(binding);
        }
        b
    }

    /// Parses a header (of either version) from its bytes; anything unexpected, including a
    /// length that is not the version's, is the opaque [`Error::Decryption`].
    pub fn from_bytes(b: &[u8]) -> Result<Header> {
        let fixed: &[u8; HEADER_LEN_V1] = b
            .get(..HEADER_LEN_V1)
            .and_then(|s| s.try_into().ok())
            .ok_or(Error::Decryption)?;
        let mut h = Header::parse_fixed(fixed)?;
        match (h.version, b.len()) {
            (1, HEADER_LEN_V1) => {}
            (2, HEADER_LEN) => {
                let mut binding = [0u8; 32];
                binding.copy_from_slice(&b[107..139]);
                h.object_binding = Some(binding);
            }
            _ => return Err(Error::Decryption),
        }
        Ok(h)
    }

    /// The fields common to both versions (the binding is filled in by the caller).
    fn parse_fixed(b: &[u8; HEADER_LEN_V1]) -> Result<Header> {
        let be32 = |r: std::ops::Range<usize>| {
            let mut a = [0u8; 4];
            a.copy_from_slice(&b[r]);
            u32::from_be_bytes(a)
        };
        let segment_size = be32(12..16);
        if b[0..8] != MAGIC
            || !matches!(b[8], 1 | 2)
            || b[9] != ALGORITHM_AES256GCM_HKDF_SHA256
            || b[10..12] != [0, 0]
            || !(MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&segment_size)
        {
            return Err(Error::Decryption);
        }
        let mut key_id = [0u8; 16];
        key_id.copy_from_slice(&b[16..32]);
        let mut salt = [0u8; 32];
        salt.copy_from_slice(&b[36..68]);
        let mut nonce_prefix = [0u8; 7];
        nonce_prefix.copy_from_slice(&b[68..75]);
        let mut commitment = [0u8; 32];
        commitment.copy_from_slice(&b[75..107]);
        Ok(Header {
            version: b[8],
            segment_size,
            key_id: KeyId(key_id),
            key_version: be32(32..36),
            salt,
            nonce_prefix,
            commitment: KeyCommitment(commitment),
            object_binding: None,
        })
    }

    /// Reads and parses the header at the start of a container (to learn which key to fetch).
    pub fn read_from(mut r: impl Read) -> Result<Header> {
        let mut b = [0u8; HEADER_LEN];
        r.read_exact(&mut b[..HEADER_LEN_V1])
            .map_err(|_| Error::Decryption)?;
        let len = match b[8] {
            1 => HEADER_LEN_V1,
            2 => {
                r.read_exact(&mut b[HEADER_LEN_V1..])
                    .map_err(|_| Error::Decryption)?;
                HEADER_LEN
            }
            _ => return Err(Error::Decryption),
        };
        Header::from_bytes(&b[..len])
    }

    fn nonce(&self, index: u32, last: bool) -> [u8; 12] {
        let mut n = [0u8; 12];
        n[..7].copy_from_slice(&self.nonce_prefix);
        n[7..11].copy_from_slice(&index.to_be_bytes());
        n[11] = u8::from(last);
        n
    }

    /// The segment cipher, after checking `key` against the commitment and, when `object_id`
    /// is given, the object id against the binding (version 2) or into the key (version 1).
    fn cipher(
        &self,
        key: &DataKey,
        object_id: Option<&[u8]>,
        backend: Backend,
    ) -> Result<SegmentCipher> {
        if !self.commitment.verify(key, &self.key_id, self.key_version) {
            return Err(Error::Decryption);
        }
        let header_digest = Sha256::digest(self.to_bytes());
        let okm = match (&self.object_binding, object_id) {
            (Some(binding), expected) => {
                if let Some(id) = expected
                    && !constant_time_eq(&object_binding(key, id), binding)
                {
                    return Err(Error::Decryption);
                }
                let info = [SEGMENT_KEY_INFO_V2, &header_digest[..]].concat();
                hkdf_sha256_32(&self.salt, key.expose_secret(), &info)
            }
            (None, Some(id)) => {
                let len = u32::try_from(id.len())
                    .map_err(|_| Error::invalid("object_id", "longer than 4 GiB"))?;
                let info = [
                    SEGMENT_KEY_INFO_V1,
                    &len.to_be_bytes()[..],
                    id,
                    &header_digest[..],
                ]
                .concat();
                hkdf_sha256_32(&self.salt, key.expose_secret(), &info)
            }
            (None, None) => {
                return Err(Error::invalid(
                    "object_id",
                    "a version-1 container does not name its object: give the object id",
                ));
            }
        };
        SegmentCipher::new(backend, &okm)
    }
}

/// Which AES-256-GCM implementation seals and opens segments. Both produce and accept exactly the
/// same bytes (the known-answer tests run against both).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// `ring`: assembly from BoringSSL with run-time CPU detection (AES-NI, VAES, VPCLMULQDQ); the
    /// fastest portable choice (see BENCHMARKS.md).
    #[default]
    Ring,
    /// RustCrypto `aes-gcm` 0.11: pure Rust with run-time AES-NI detection; about a quarter of
    /// `ring`'s speed in a portable build.
    RustCrypto,
}

/// The AEAD of one container, keyed with its segment key.
enum SegmentCipher {
    Ring(Box<LessSafeKey>),
    RustCrypto(Box<Aes256Gcm>),
}

impl SegmentCipher {
    fn new(backend: Backend, key: &[u8; 32]) -> Result<SegmentCipher> {
        let bad = |_| Error::invalid("segment key", "length");
        Ok(match backend {
            Backend::Ring => SegmentCipher::Ring(Box::new(LessSafeKey::new(
                UnboundKey::new(&AES_256_GCM, key).map_err(bad)?,
            ))),
            Backend::RustCrypto => SegmentCipher::RustCrypto(Box::new(
                Aes256Gcm::new_from_slice(key)
                    .map_err(|_| Error::invalid("segment key", "length"))?,
            )),
        })
    }

    /// Encrypts `buf` in place and returns the tag.
    fn seal(&self, nonce: [u8; 12], aad: &[u8], buf: &mut [u8]) -> Option<[u8; TAG_LEN]> {
        match self {
            SegmentCipher::Ring(k) => {
                let tag = k
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(aad),
                        buf,
                    )
                    .ok()?;
                let mut t = [0u8; TAG_LEN];
                t.copy_from_slice(tag.as_ref());
                Some(t)
            }
            SegmentCipher::RustCrypto(c) => c
                .encrypt_inout_detached(&nonce.into(), aad, buf.into())
                .ok()
                .map(Into::into),
        }
    }

    /// Decrypts `buf` in place if `tag` authenticates it; on failure `buf` holds no plaintext.
    fn open(&self, nonce: [u8; 12], aad: &[u8], buf: &mut [u8], tag: [u8; TAG_LEN]) -> Result<()> {
        let ok = match self {
            SegmentCipher::Ring(k) => k
                .open_in_place_separate_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(aad),
                    Tag::from(tag),
                    buf,
                    0..,
                )
                .is_ok(),
            SegmentCipher::RustCrypto(c) => c
                .decrypt_inout_detached(&nonce.into(), aad, buf.into(), &tag.into())
                .is_ok(),
        };
        if ok {
            Ok(())
        } else {
            buf.fill(0);
            Err(Error::Decryption)
        }
    }
}

/// Options of an [`Encryptor`].
#[derive(Debug, Clone)]
#[non_exhaustive]
#[must_use]
pub struct EncryptOptions {
    segment_size: u32,
    backend: Backend,
}

impl Default for EncryptOptions {
    fn default() -> Self {
        EncryptOptions {
            segment_size: DEFAULT_SEGMENT_SIZE,
            backend: Backend::default(),
        }
    }
}

impl EncryptOptions {
    /// Default options: 64 KiB segments.
    pub fn new() -> Self {
        Self::default()
    }

    /// Plaintext bytes per segment ([`MIN_SEGMENT_SIZE`] ..= [`MAX_SEGMENT_SIZE`]).
    pub fn segment_size(mut self, bytes: u32) -> Self {
        self.segment_size = bytes;
        self
    }

    /// The AES-GCM implementation (the output is the same whichever is chosen).
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }
}

/// Streaming encryption: a [`Write`] adapter that writes a container to the inner writer.
///
/// Memory use is one segment, whatever the length of the plaintext. Call [`Encryptor::finish`] at
/// the end: a container that was not finished has no last segment and never decrypts.
pub struct Encryptor<W: Write> {
    inner: W,
    header: Header,
    header_bytes: Vec<u8>,
    cipher: SegmentCipher,
    buf: Vec<u8>,
    segment_size: usize,
    index: u32,
}

impl<W: Write> std::fmt::Debug for Encryptor<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encryptor")
            .field("header", &self.header)
            .field("segment", &self.index)
            .finish()
    }
}

impl<W: Write> Encryptor<W> {
    /// Writes the header of a new container for `object_id` and returns the encrypting writer.
    pub fn new(
        inner: W,
        key: &DataKey,
        key_id: KeyId,
        key_version: u32,
        object_id: &[u8],
        options: &EncryptOptions,
    ) -> Result<Encryptor<W>> {
        let mut salt = [0u8; 32];
        let mut nonce_prefix = [0u8; 7];
        random_fill(&mut salt)?;
        random_fill(&mut nonce_prefix)?;
        Self::with_randomness(
            inner,
            key,
            key_id,
            key_version,
            object_id,
            options,
            salt,
            nonce_prefix,
        )
    }

    /// [`Encryptor::new`] with a given salt and nonce prefix, for known-answer tests only: reusing
    /// them under one key destroys confidentiality.
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    pub fn with_randomness(
        mut inner: W,
        key: &DataKey,
        key_id: KeyId,
        key_version: u32,
        object_id: &[u8],
        options: &EncryptOptions,
        salt: [u8; 32],
        nonce_prefix: [u8; 7],
    ) -> Result<Encryptor<W>> {
        let segment_size = options.segment_size;
        if !(MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&segment_size) {
            return Err(Error::invalid(
                "segment_size",
                format!("{segment_size} bytes; expected {MIN_SEGMENT_SIZE} ..= {MAX_SEGMENT_SIZE}"),
            ));
        }
        let header = Header {
            version: VERSION,
            segment_size,
            key_id,
            key_version,
            salt,
            nonce_prefix,
            commitment: key.commitment(&key_id, key_version),
            object_binding: Some(object_binding(key, object_id)),
        };
        let header_bytes = header.to_bytes();
        inner
            .write_all(&header_bytes)
            .map_err(|e| Error::io("<container>", e))?;
        let cipher = header.cipher(key, Some(object_id), options.backend)?;
        Ok(Encryptor {
            inner,
            header_bytes,
            header,
            cipher,
            buf: Vec::with_capacity(segment_size as usize + TAG_LEN),
            segment_size: segment_size as usize,
            index: 0,
        })
    }

    /// The header written at the start of the container.
    pub fn header(&self) -> &Header {
        &self.header
    }

    fn seal_segment(&mut self, last: bool) -> io::Result<()> {
        let nonce = self.header.nonce(self.index, last);
        let tag = self
            .cipher
            .seal(nonce, &self.header_bytes, &mut self.buf)
            .ok_or_else(|| io::Error::other("segment too long for AES-GCM"))?;
        self.buf.extend_from_slice(&tag);
        self.inner.write_all(&self.buf)?;
        self.buf.clear();
        self.index = self
            .index
            .checked_add(1)
            .ok_or_else(|| io::Error::other("container exceeds 2^32 segments"))?;
        Ok(())
    }

    /// Seals the last segment, flushes and returns the inner writer.
    pub fn finish(mut self) -> Result<W> {
        self.seal_segment(true)
            .map_err(|e| Error::io("<container>", e))?;
        self.inner
            .flush()
            .map_err(|e| Error::io("<container>", e))?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for Encryptor<W> {
    fn write(&mut self, mut data: &[u8]) -> io::Result<usize> {
        let total = data.len();
        while !data.is_empty() {
            // A full buffer is sealed only once more data arrives: it may be the last segment.
            if self.buf.len() == self.segment_size {
                self.seal_segment(false)?;
            }
            let take = (self.segment_size - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(total)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Streaming decryption: a [`Read`] adapter over a container.
///
/// Memory use is one segment. Every byte returned has been authenticated; see the module docs for
/// what an error after some output means.
pub struct Decryptor<R: Read> {
    inner: R,
    header: Header,
    header_bytes: Vec<u8>,
    cipher: SegmentCipher,
    segment_size: usize,
    /// Decrypted plaintext of the current segment and the read position in it.
    plain: Vec<u8>,
    pos: usize,
    lookahead: Option<u8>,
    index: u32,
    done: bool,
}

impl<R: Read> std::fmt::Debug for Decryptor<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decryptor")
            .field("header", &self.header)
            .field("segment", &self.index)
            .finish()
    }
}

impl<R: Read> Decryptor<R> {
    /// Reads the header, checks `key` against its commitment (and the object id against the
    /// header, when one is expected) and authenticates the first segment.
    pub fn new(mut inner: R, key: &DataKey, object_id: Option<&[u8]>) -> Result<Decryptor<R>> {
        let header = Header::read_from(&mut inner)?;
        Decryptor::with_header(inner, header, key, object_id)
    }

    /// [`Decryptor::with_header`] with a chosen AES-GCM implementation.
    pub fn with_backend(
        inner: R,
        header: Header,
        key: &DataKey,
        object_id: Option<&[u8]>,
        backend: Backend,
    ) -> Result<Decryptor<R>> {
        let cipher = header.cipher(key, object_id, backend)?;
        let segment_size = header.segment_size as usize;
        let mut d = Decryptor {
            inner,
            header_bytes: header.to_bytes(),
            header,
            cipher,
            segment_size,
            plain: Vec::with_capacity(segment_size + TAG_LEN),
            pos: 0,
            lookahead: None,
            index: 0,
            done: false,
        };
        // Authenticate the first segment now: a wrong object id or a damaged container fails here.
        d.next_segment()?;
        Ok(d)
    }

    /// Continues after a header already read with [`Header::read_from`] (to fetch the key first).
    pub fn with_header(
        inner: R,
        header: Header,
        key: &DataKey,
        object_id: Option<&[u8]>,
    ) -> Result<Decryptor<R>> {
        Decryptor::with_backend(inner, header, key, object_id, Backend::default())
    }

    /// The container's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Reads and authenticates the next segment into `self.plain`.
    fn next_segment(&mut self) -> Result<()> {
        let full = self.segment_size + TAG_LEN;
        self.plain.clear();
        self.plain.resize(full, 0);
        let mut got = 0;
        if let Some(b) = self.lookahead.take() {
            self.plain[0] = b;
            got = 1;
        }
        got += read_full(&mut self.inner, &mut self.plain[got..])?;
        let last = if got == full {
            let mut one = [0u8; 1];
            match read_full(&mut self.inner, &mut one)? {
                0 => true,
                _ => {
                    self.lookahead = Some(one[0]);
                    false
                }
            }
        } else {
            true
        };
        if got < TAG_LEN {
            return Err(Error::Decryption);
        }
        let body = got - TAG_LEN;
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&self.plain[body..got]);
        self.plain.truncate(body);
        let nonce = self.header.nonce(self.index, last);
        if let Err(e) = self
            .cipher
            .open(nonce, &self.header_bytes, &mut self.plain, tag)
        {
            self.plain.clear();
            return Err(e);
        }
        self.pos = 0;
        self.done = last;
        self.index = self.index.checked_add(1).ok_or(Error::Decryption)?;
        Ok(())
    }
}

/// Reads until `buf` is full or the reader ends; returns the count. I/O errors other than
/// interruptions are reported as the opaque decryption error.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("<container>", e)),
        }
    }
    Ok(n)
}

impl<R: Read> Read for Decryptor<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.plain.len() {
            if self.done {
                return Ok(0);
            }
            self.next_segment().map_err(io::Error::other)?;
        }
        let n = (self.plain.len() - self.pos).min(out.len());
        out[..n].copy_from_slice(&self.plain[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Random-access decryption of a container that can seek: reads only the segments that cover the
/// requested bytes. Opening it authenticates the last segment, so that a container cut short
/// (inside its last segment or at a boundary) is refused, whatever range is read later.
pub struct RangeDecryptor<R: Read + Seek> {
    inner: R,
    header: Header,
    header_bytes: Vec<u8>,
    cipher: SegmentCipher,
    segments: u64,
    plaintext_len: u64,
}

impl<R: Read + Seek> std::fmt::Debug for RangeDecryptor<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RangeDecryptor")
            .field("header", &self.header)
            .field("len", &self.plaintext_len)
            .finish()
    }
}

impl<R: Read + Seek> RangeDecryptor<R> {
    /// Reads the header, checks the key (and the object id, when one is expected), measures the
    /// container and authenticates its last segment.
    pub fn new(mut inner: R, key: &DataKey, object_id: Option<&[u8]>) -> Result<RangeDecryptor<R>> {
        inner
            .seek(SeekFrom::Start(0))
            .map_err(|e| Error::io("<container>", e))?;
        let header = Header::read_from(&mut inner)?;
        let cipher = header.cipher(key, object_id, Backend::default())?;
        let total = inner
            .seek(SeekFrom::End(0))
            .map_err(|e| Error::io("<container>", e))?;
        let body = total
            .checked_sub(header.len() as u64)
            .ok_or(Error::Decryption)?;
        let full = u64::from(header.segment_size) + TAG_LEN as u64;
        let segments = body.div_ceil(full).max(1);
        // The last segment holds its tag and, unless it is the only one, at least one byte.
        let last_len = body - (segments - 1) * full;
        let least = if segments == 1 { TAG_LEN } else { TAG_LEN + 1 } as u64;
        if last_len < least || segments > u64::from(u32::MAX) + 1 {
            return Err(Error::Decryption);
        }
        let plaintext_len = body - segments * TAG_LEN as u64;
        let mut r = RangeDecryptor {
            inner,
            header_bytes: header.to_bytes(),
            header,
            cipher,
            segments,
            plaintext_len,
        };
        // The last segment, sealed as last, proves the container is whole.
        let mut buf = Vec::new();
        r.open_segment(segments - 1, &mut buf)?;
        buf.zeroize();
        Ok(r)
    }

    /// Length of the plaintext (from the container's length; every byte returned is authenticated).
    pub fn plaintext_len(&self) -> u64 {
        self.plaintext_len
    }

    /// Reads and authenticates segment `i` into `buf` (its plaintext).
    fn open_segment(&mut self, i: u64, buf: &mut Vec<u8>) -> Result<()> {
        let seg = u64::from(self.header.segment_size);
        let start = self.header.len() as u64 + i * (seg + TAG_LEN as u64);
        let last = i + 1 == self.segments;
        let this_len = if last {
            self.plaintext_len - i * seg
        } else {
            seg
        } as usize;
        buf.clear();
        buf.resize(this_len + TAG_LEN, 0);
        self.inner
            .seek(SeekFrom::Start(start))
            .map_err(|e| Error::io("<container>", e))?;
        self.inner.read_exact(buf).map_err(|_| Error::Decryption)?;
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&buf[this_len..]);
        buf.truncate(this_len);
        let nonce = self
            .header
            .nonce(u32::try_from(i).map_err(|_| Error::Decryption)?, last);
        self.cipher.open(nonce, &self.header_bytes, buf, tag)
    }

    /// Decrypts `len` plaintext bytes starting at `offset`; the range must lie within the plaintext.
    pub fn read_range(&mut self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let end = offset
            .checked_add(len as u64)
            .filter(|&e| e <= self.plaintext_len)
            .ok_or_else(|| {
                Error::invalid(
                    "range",
                    format!(
                        "{offset}+{len} lies outside the {} plaintext bytes",
                        self.plaintext_len
                    ),
                )
            })?;
        let seg = u64::from(self.header.segment_size);
        let mut out = Vec::with_capacity(len);
        if len == 0 {
            return Ok(out);
        }
        let mut buf = Vec::with_capacity(seg as usize + TAG_LEN);
        for i in offset / seg..=(end - 1) / seg {
            self.open_segment(i, &mut buf)?;
            let from = if i == offset / seg {
                (offset - i * seg) as usize
            } else {
                0
            };
            let to = if i == (end - 1) / seg {
                (end - i * seg) as usize
            } else {
                buf.len()
            };
            out.extend_from_slice(&buf[from..to]);
        }
        buf.zeroize();
        Ok(out)
    }
}

/// Segments encrypted or decrypted per batch by [`encrypt_stream`] and [`decrypt_stream`].
const STREAM_BATCH: usize = 32;
/// Batches in flight between the two stages of a stream.
const STREAM_DEPTH: usize = 3;

/// Threads that share a batch's segments: the cores beyond the two pipeline stages (at most 4).
fn crypto_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(2).clamp(1, 4))
}

/// Runs `f` on each of `slots` (a segment's buffer and its index), the slots shared out among up
/// to `threads` threads; the first failure is returned.
fn on_slots(
    slots: &mut [(&mut [u8], u32)],
    threads: usize,
    f: &(dyn Fn(&mut [u8], u32) -> Result<()> + Sync),
) -> Result<()> {
    if threads <= 1 || slots.len() < 2 {
        return slots.iter_mut().try_for_each(|(b, i)| f(b, *i));
    }
    let per = slots.len().div_ceil(threads);
    std::thread::scope(|s| {
        let mut handles = Vec::new();
        let mut chunks = slots.chunks_mut(per);
        let mine = chunks.next();
        for chunk in chunks {
            handles.push(s.spawn(move || chunk.iter_mut().try_for_each(|(b, i)| f(b, *i))));
        }
        let first = mine.map_or(Ok(()), |c| c.iter_mut().try_for_each(|(b, i)| f(b, *i)));
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Err(Error::Decryption)))
            .fold(first, |acc, r| acc.and(r))
    })
}

/// Fills up to [`STREAM_BATCH`] slots of `buf` (each `slot` bytes apart) with `fill` bytes each
/// from `reader`, carrying one byte of look-ahead between batches to learn which segment is the
/// last. Returns the bytes in each slot filled (a slot is counted when it got a byte, or when it
/// is the only one) and whether the input ended.
fn fill_batch(
    reader: &mut impl Read,
    buf: &mut [u8],
    slot: usize,
    fill: usize,
    lookahead: &mut Option<u8>,
) -> Result<(Vec<usize>, bool)> {
    let mut lens = Vec::with_capacity(STREAM_BATCH);
    for k in 0..STREAM_BATCH {
        let at = k * slot;
        let mut got = 0;
        if let Some(b) = lookahead.take() {
            buf[at] = b;
            got = 1;
        }
        got += read_full(reader, &mut buf[at + got..at + fill])?;
        if got < fill {
            if got > 0 || k == 0 {
                lens.push(got);
            }
            return Ok((lens, true));
        }
        lens.push(fill);
    }
    let mut one = [0u8; 1];
    let ended = match read_full(reader, &mut one)? {
        0 => true,
        _ => {
            *lookahead = Some(one[0]);
            false
        }
    };
    Ok((lens, ended))
}

/// Writes every part, with vectored writes where the writer supports them.
fn write_all_vectored(w: &mut impl Write, parts: &mut [&[u8]]) -> io::Result<()> {
    let mut first = 0;
    while first < parts.len() {
        let slices: Vec<io::IoSlice<'_>> =
            parts[first..].iter().map(|p| io::IoSlice::new(p)).collect();
        let mut n = w.write_vectored(&slices)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "the writer took nothing",
            ));
        }
        while first < parts.len() && n >= parts[first].len() {
            n -= parts[first].len();
            first += 1;
        }
        if n > 0 {
            parts[first] = &parts[first][n..];
        }
    }
    Ok(())
}

/// A batch between the stages: its buffer (wiped when dropped), the bytes of each slot, and
/// whether it is the last.
type Batch = (Zeroizing<Vec<u8>>, Vec<usize>, bool);

/// What the reading stage does to a batch: (buffer, slot lengths, first segment, last batch?).
type Transform<'a> = dyn Fn(&mut [u8], &[usize], u32, bool) -> Result<()> + Sync + 'a;
/// What the writing stage does with a batch: (buffer, slot lengths).
type Emit<'a> = dyn FnMut(&[u8], &[usize]) -> Result<()> + 'a;

/// Streams `reader` through batches of segments in two stages: one thread reads and transforms
/// (`transform(buffer, slot lengths, index of its first segment, last batch?)`), the calling
/// thread writes (`emit(buffer, slot lengths)`), so reading and writing overlap. Buffers are
/// recycled and wiped when dropped. The stream is complete only when the last batch was written:
/// a stage that stops early for any reason (an error, a panic) is an error, never a short output.
fn pipeline<R: Read + Send>(
    mut reader: R,
    slot: usize,
    fill: usize,
    transform: &Transform<'_>,
    emit: &mut Emit<'_>,
) -> Result<()> {
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Result<Batch>>(STREAM_DEPTH);
    let (free_tx, free_rx) = std::sync::mpsc::channel::<Zeroizing<Vec<u8>>>();
    for _ in 0..STREAM_DEPTH {
        let _ = free_tx.send(Zeroizing::new(vec![0u8; STREAM_BATCH * slot]));
    }
    std::thread::scope(|s| {
        let producer = s.spawn(move || {
            let mut lookahead = None;
            let mut index: u32 = 0;
            while let Ok(mut buf) = free_rx.recv() {
                let step = fill_batch(&mut reader, &mut buf, slot, fill, &mut lookahead).and_then(
                    |(lens, ended)| {
                        transform(&mut buf, &lens, index, ended)?;
                        index = index
                            .checked_add(lens.len() as u32)
                            .ok_or(Error::Decryption)?;
                        Ok((lens, ended))
                    },
                );
                match step {
                    Ok((lens, ended)) => {
                        if full_tx.send(Ok((buf, lens, ended))).is_err() || ended {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = full_tx.send(Err(e));
                        return;
                    }
                }
            }
        });
        // Without the last batch, the stream is not complete.
        let mut outcome = Err(Error::invalid(
            "stream",
            "the reading stage stopped before the end",
        ));
        for batch in full_rx.iter() {
            match batch {
                Ok((buf, lens, ended)) => {
                    if let Err(e) = emit(&buf, &lens) {
                        outcome = Err(e);
                        break;
                    }
                    if ended {
                        outcome = Ok(());
                        break;
                    }
                    let _ = free_tx.send(buf);
                }
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        drop(free_tx);
        drop(full_rx);
        match producer.join() {
            Ok(()) => outcome,
            Err(_) => Err(Error::invalid("stream", "the reading stage failed")),
        }
    })
}

/// Encrypts everything `reader` yields into a container written to `writer`: reading and sealing
/// on one thread, writing on the calling one (the output is exactly [`Encryptor`]'s: the same
/// bytes for the same salt and nonce prefix). For large files; returns the writer.
pub fn encrypt_stream<R: Read + Send, W: Write>(
    reader: R,
    writer: W,
    key: &DataKey,
    key_id: KeyId,
    key_version: u32,
    object_id: &[u8],
    options: &EncryptOptions,
) -> Result<W> {
    let enc = Encryptor::new(writer, key, key_id, key_version, object_id, options)?;
    let Encryptor {
        mut inner,
        header,
        header_bytes,
        cipher,
        segment_size: seg,
        ..
    } = enc;
    let slot = seg + TAG_LEN;
    let threads = crypto_threads();
    let seal = |buf: &mut [u8], lens: &[usize], first: u32, ended: bool| -> Result<()> {
        let count = lens.len();
        let mut slots: Vec<(&mut [u8], u32)> =
            buf.chunks_mut(slot).take(count).zip(0u32..).collect();
        let one = |b: &mut [u8], k: u32| -> Result<()> {
            let len = lens[k as usize];
            let last = ended && k as usize + 1 == count;
            let i = first.checked_add(k).ok_or(Error::Decryption)?;
            let tag = cipher
                .seal(header.nonce(i, last), &header_bytes, &mut b[..len])
                .ok_or_else(|| Error::invalid("container", "a segment could not be sealed"))?;
            b[len..len + TAG_LEN].copy_from_slice(&tag);
            Ok(())
        };
        on_slots(&mut slots, threads, &one)
    };
    let mut emit = |buf: &[u8], lens: &[usize]| -> Result<()> {
        // Sealed segments lie back to back: every slot but the last is full.
        let total: usize = lens.iter().map(|l| l + TAG_LEN).sum();
        inner
            .write_all(&buf[..total])
            .map_err(|e| Error::io("<container>", e))
    };
    pipeline(reader, slot, seg, &seal, &mut emit)?;
    inner.flush().map_err(|e| Error::io("<container>", e))?;
    Ok(inner)
}

/// Decrypts the container that `reader` continues (after `header`, read with
/// [`Header::read_from`]) into `writer`: reading and opening on one thread, writing on the calling
/// one. Every byte written has been authenticated, but an error after some output means the whole
/// object is to be discarded (write to a temporary file). Returns the writer.
pub fn decrypt_stream<R: Read + Send, W: Write>(
    reader: R,
    header: Header,
    mut writer: W,
    key: &DataKey,
    object_id: Option<&[u8]>,
) -> Result<W> {
    let cipher = header.cipher(key, object_id, Backend::default())?;
    let header_bytes = header.to_bytes();
    let slot = header.segment_size as usize + TAG_LEN;
    let threads = crypto_threads();
    let open = |buf: &mut [u8], lens: &[usize], first: u32, ended: bool| -> Result<()> {
        // Every segment holds its tag; one that is not the first holds a byte too.
        if lens
            .iter()
            .enumerate()
            .any(|(k, &l)| l < TAG_LEN || (l == TAG_LEN && (first > 0 || k > 0)))
        {
            return Err(Error::Decryption);
        }
        let count = lens.len();
        let mut slots: Vec<(&mut [u8], u32)> =
            buf.chunks_mut(slot).take(count).zip(0u32..).collect();
        let one = |b: &mut [u8], k: u32| -> Result<()> {
            let body = lens[k as usize] - TAG_LEN;
            let last = ended && k as usize + 1 == count;
            let i = first.checked_add(k).ok_or(Error::Decryption)?;
            let mut tag = [0u8; TAG_LEN];
            tag.copy_from_slice(&b[body..body + TAG_LEN]);
            cipher.open(header.nonce(i, last), &header_bytes, &mut b[..body], tag)
        };
        on_slots(&mut slots, threads, &one).map_err(|_| Error::Decryption)
    };
    let mut emit = |buf: &[u8], lens: &[usize]| -> Result<()> {
        // The plaintexts, without their tags, in as few writes as the writer takes.
        let mut parts: Vec<&[u8]> = lens
            .iter()
            .enumerate()
            .map(|(k, len)| &buf[k * slot..k * slot + len - TAG_LEN])
            .filter(|p| !p.is_empty())
            .collect();
        write_all_vectored(&mut writer, &mut parts).map_err(|e| Error::io("<container>", e))
    };
    pipeline(reader, slot, slot, &open, &mut emit)?;
    writer.flush().map_err(|e| Error::io("<container>", e))?;
    Ok(writer)
}

/// Runs `work(batch)` for batches `0..batches` on every core, each thread taking the next batch;
/// the first failure stops the others.
#[cfg(unix)]
fn on_batches(batches: u64, work: &(dyn Fn(u64, &mut Vec<u8>) -> Result<()> + Sync)) -> Result<()> {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let next = AtomicU64::new(0);
    let failed = AtomicBool::new(false);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let run = || -> Result<()> {
        let mut buf = Vec::new();
        let r = loop {
            let b = next.fetch_add(1, Ordering::SeqCst);
            if b >= batches || failed.load(Ordering::SeqCst) {
                break Ok(());
            }
            if let Err(e) = work(b, &mut buf) {
                failed.store(true, Ordering::SeqCst);
                break Err(e);
            }
        };
        buf.zeroize();
        r
    };
    std::thread::scope(|s| {
        let others: Vec<_> = (1..threads).map(|_| s.spawn(run)).collect();
        let mine = run();
        others
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::invalid("container", "a worker failed")))
            })
            .fold(mine, |acc, r| acc.and(r))
    })
}

/// The plaintext and container lengths of segment batch `b` of [`STREAM_BATCH`] segments.
#[cfg(unix)]
fn batch_span(b: u64, seg: u64, plain_len: u64) -> (u64, u64, u64, bool) {
    let per = STREAM_BATCH as u64 * seg;
    let start = b * per;
    let len = per.min(plain_len - start.min(plain_len));
    let last = start + per >= plain_len;
    // Segments: at least one, even for an empty plaintext.
    let segments = len.div_ceil(seg).max(1);
    (start, len, segments, last)
}

/// Encrypts the file `input` into the file `output` (at the start of it) on every core: each
/// thread reads a batch of segments at its offset, seals them and writes them at theirs, so
/// reading, sealing and writing all run in parallel. The output is exactly [`Encryptor`]'s.
/// `progress` is told of every plaintext byte done. The input is taken at the length it has
/// when the call starts; a file that shrinks meanwhile is an error.
#[cfg(unix)]
#[allow(clippy::too_many_arguments)]
pub fn encrypt_file(
    input: &std::fs::File,
    output: &std::fs::File,
    key: &DataKey,
    key_id: KeyId,
    key_version: u32,
    object_id: &[u8],
    options: &EncryptOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Header> {
    use std::os::unix::fs::FileExt;
    let plain_len = input.metadata().map_err(|e| Error::io("<input>", e))?.len();
    let mut head = Vec::new();
    let enc = Encryptor::new(&mut head, key, key_id, key_version, object_id, options)?;
    let Encryptor {
        header,
        header_bytes,
        cipher,
        segment_size,
        ..
    } = enc;
    let seg = segment_size as u64;
    let slot = seg + TAG_LEN as u64;
    let segments_total = plain_len.div_ceil(seg).max(1);
    if segments_total > u64::from(u32::MAX) + 1 {
        return Err(Error::invalid("container", "more than 2^32 segments"));
    }
    output
        .write_all_at(&header_bytes, 0)
        .map_err(|e| Error::io("<container>", e))?;
    let batches = segments_total.div_ceil(STREAM_BATCH as u64);
    let work = |b: u64, buf: &mut Vec<u8>| -> Result<()> {
        let (start, len, segments, last_batch) = batch_span(b, seg, plain_len);
        buf.resize((segments * slot) as usize, 0);
        // Read the plaintext into place, leaving a gap for each tag.
        for k in 0..segments {
            let from = start + k * seg;
            let n = seg.min(start + len - from.min(start + len));
            let at = (k * slot) as usize;
            input
                .read_exact_at(&mut buf[at..at + n as usize], from)
                .map_err(|e| Error::io("<input>", e))?;
        }
        let first = u32::try_from(b * STREAM_BATCH as u64).map_err(|_| Error::Decryption)?;
        for k in 0..segments {
            let from = start + k * seg;
            let n = seg.min(start + len - from.min(start + len)) as usize;
            let at = (k * slot) as usize;
            let last = last_batch && k + 1 == segments;
            let i = first + k as u32;
            let tag = cipher
                .seal(header.nonce(i, last), &header_bytes, &mut buf[at..at + n])
                .ok_or_else(|| Error::invalid("container", "a segment could not be sealed"))?;
            buf[at + n..at + n + TAG_LEN].copy_from_slice(&tag);
        }
        let written = len + segments * TAG_LEN as u64;
        output
            .write_all_at(
                &buf[..written as usize],
                header_bytes.len() as u64 + start / seg * slot,
            )
            .map_err(|e| Error::io("<container>", e))?;
        progress(len);
        Ok(())
    };
    on_batches(batches, &work)?;
    // The input must not have shrunk while it was read (a short read would have failed).
    Ok(header)
}

/// Decrypts the container file `input` into the file `output` on every core (see
/// [`encrypt_file`]): the container's length says where its last segment is, which must
/// authenticate as the last, so a container cut anywhere is refused. Every byte written has been
/// authenticated; on an error, discard the output. Returns the header.
#[cfg(unix)]
pub fn decrypt_file(
    input: &std::fs::File,
    output: &std::fs::File,
    key: &DataKey,
    object_id: Option<&[u8]>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Header> {
    use std::os::unix::fs::FileExt;
    let total = input
        .metadata()
        .map_err(|e| Error::io("<container>", e))?
        .len();
    let mut head = [0u8; HEADER_LEN];
    let got = {
        let mut n = 0;
        while n < HEADER_LEN {
            match input.read_at(&mut head[n..], n as u64) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io("<container>", e)),
            }
        }
        n
    };
    let header = Header::read_from(&head[..got])?;
    let cipher = header.cipher(key, object_id, Backend::default())?;
    let header_bytes = header.to_bytes();
    let seg = u64::from(header.segment_size);
    let slot = seg + TAG_LEN as u64;
    let body = total
        .checked_sub(header.len() as u64)
        .ok_or(Error::Decryption)?;
    let segments_total = body.div_ceil(slot).max(1);
    let last_len = body - (segments_total - 1) * slot;
    let least = if segments_total == 1 {
        TAG_LEN
    } else {
        TAG_LEN + 1
    } as u64;
    if last_len < least || segments_total > u64::from(u32::MAX) + 1 {
        return Err(Error::Decryption);
    }
    let plain_len = body - segments_total * TAG_LEN as u64;
    let batches = segments_total.div_ceil(STREAM_BATCH as u64);
    let work = |b: u64, buf: &mut Vec<u8>| -> Result<()> {
        let (start, len, segments, last_batch) = batch_span(b, seg, plain_len);
        let sealed = len + segments * TAG_LEN as u64;
        buf.resize(sealed as usize, 0);
        input
            .read_exact_at(buf, header.len() as u64 + start / seg * slot)
            .map_err(|_| Error::Decryption)?;
        let first = u32::try_from(b * STREAM_BATCH as u64).map_err(|_| Error::Decryption)?;
        let mut plain_end = 0usize;
        for k in 0..segments {
            let from = start + k * seg;
            let n = seg.min(start + len - from.min(start + len)) as usize;
            let at = (k * slot) as usize;
            let last = last_batch && k + 1 == segments;
            let mut tag = [0u8; TAG_LEN];
            tag.copy_from_slice(&buf[at + n..at + n + TAG_LEN]);
            cipher.open(
                header.nonce(first + k as u32, last),
                &header_bytes,
                &mut buf[at..at + n],
                tag,
            )?;
            // Close the gap of the tag: plaintexts back to back.
            buf.copy_within(at..at + n, plain_end);
            plain_end += n;
        }
        output
            .write_all_at(&buf[..plain_end], start)
            .map_err(|e| Error::io("<output>", e))?;
        progress(sealed);
        Ok(())
    };
    on_batches(batches, &work)?;
    Ok(header)
}

/// Encrypts a whole buffer (convenience for small objects).
pub fn encrypt_to_vec(
    plaintext: &[u8],
    key: &DataKey,
    key_id: KeyId,
    key_version: u32,
    object_id: &[u8],
    options: &EncryptOptions,
) -> Result<Vec<u8>> {
    let mut enc = Encryptor::new(
        Vec::with_capacity(plaintext.len() + 256),
        key,
        key_id,
        key_version,
        object_id,
        options,
    )?;
    enc.write_all(plaintext)
        .map_err(|e| Error::io("<container>", e))?;
    enc.finish()
}

/// Decrypts a whole container held in memory (checking the object id when one is expected).
pub fn decrypt_to_vec(
    container: &[u8],
    key: &DataKey,
    object_id: Option<&[u8]>,
) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(container.len());
    Decryptor::new(container, key, object_id)?
        .read_to_end(&mut out)
        .map_err(|_| Error::Decryption)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> DataKey {
        DataKey::from_bytes([0x42; 32])
    }

    #[test]
    fn segment_boundaries_round_trip() {
        let seg = MIN_SEGMENT_SIZE as usize;
        for len in [0, 1, seg - 1, seg, seg + 1, 2 * seg, 3 * seg + 7] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let opts = EncryptOptions::new().segment_size(seg as u32);
            let c = encrypt_to_vec(&data, &key(), KeyId([1; 16]), 3, b"obj", &opts).unwrap();
            let segments = len.div_ceil(seg).max(1);
            assert_eq!(c.len(), HEADER_LEN + len + segments * TAG_LEN, "len {len}");
            assert_eq!(
                decrypt_to_vec(&c, &key(), Some(b"obj")).unwrap(),
                data,
                "len {len}"
            );
        }
    }

    #[test]
    fn rejects_segment_sizes_out_of_range() {
        for s in [0, MIN_SEGMENT_SIZE - 1, MAX_SEGMENT_SIZE + 1] {
            let r = Encryptor::new(
                Vec::new(),
                &key(),
                KeyId([0; 16]),
                1,
                b"o",
                &EncryptOptions::new().segment_size(s),
            );
            assert!(matches!(
                r,
                Err(Error::InvalidParameter {
                    name: "segment_size",
                    ..
                })
            ));
        }
    }

    #[test]
    fn unfinished_container_never_decrypts() {
        let mut enc = Encryptor::new(
            Vec::new(),
            &key(),
            KeyId([1; 16]),
            1,
            b"o",
            &EncryptOptions::new(),
        )
        .unwrap();
        enc.write_all(&[5u8; 200_000]).unwrap();
        let partial = enc.inner.clone(); // what a crash would leave behind
        assert!(matches!(
            decrypt_to_vec(&partial, &key(), Some(b"o")),
            Err(Error::Decryption)
        ));
    }
}
