//! Damaged files through read -> de-identify -> write -> read: an error or a file, never a panic,
//! and never an allocation of what a damaged length field claims (the stable-Rust counterpart of
//! the `deid_roundtrip` fuzz target).
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;

use hope_dicom::deid::{DeidKey, Deidentifier, read_any};
use proptest::prelude::*;

fn original(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/pydicom")
            .join(name),
    )
    .unwrap()
}

fn round_trip(bytes: &[u8], dir: &Path) {
    let input = dir.join("in.dcm");
    std::fs::write(&input, bytes).unwrap();
    let Ok(obj) = read_any(&input) else { return };
    let deid = Deidentifier::new(DeidKey::from_bytes([1; 32]), []);
    if let Ok(out) = deid.deidentify(obj) {
        let back = dir.join("out.dcm");
        out.object.write_to_file(&back).unwrap();
        read_any(&back).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn damaged_files_never_panic(
        which in 0usize..3,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
        cut in any::<prop::sample::Index>(),
    ) {
        let name = ["CT_small.dcm", "MR_small_implicit.dcm", "MR_small_RLE.dcm"][which];
        let mut bytes = original(name);
        let n = bytes.len();
        // Damage the header region mostly, where lengths and tags live.
        for (i, b) in flips {
            let at = if n > 2000 { i.index(2000) } else { i.index(n) };
            bytes[at] = b;
        }
        let dir = tempfile::tempdir().unwrap();
        round_trip(&bytes, dir.path());
        round_trip(&bytes[..cut.index(n)], dir.path());
    }
}

#[test]
fn a_huge_declared_length_is_refused_before_allocation() {
    let mut bytes = original("CT_small.dcm");
    let at = bytes
        .windows(6)
        .position(|w| w == [0xE0, 0x7F, 0x10, 0x00, b'O', b'W'])
        .unwrap();
    bytes[at + 8..at + 12].copy_from_slice(&0x7FFF_FFF0u32.to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bogus.dcm");
    std::fs::write(&p, &bytes).unwrap();
    let e = read_any(&p).unwrap_err().to_string();
    assert!(e.contains("(7FE0,0010)") && e.contains("2147483632"), "{e}");
}
