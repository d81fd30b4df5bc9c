//! hope-dicom's sequential DCT JPEG decoder on a plain JPEG file with restart markers (made by
//! libjpeg-turbo's cjpeg; see tools/gen_jpeg_fixtures.sh), against libjpeg-turbo's own decoding,
//! and on damaged copies of it.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;

use hope_dicom::jpeg::decode;
use proptest::prelude::*;

fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/dcmtk")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The samples of a binary 8-bit PGM (P5) as written by djpeg.
fn pgm(bytes: &[u8]) -> (usize, usize, Vec<u8>) {
    let text = std::str::from_utf8(&bytes[..20]).unwrap_or("");
    let mut fields = text.split_ascii_whitespace();
    assert_eq!(fields.next(), Some("P5"));
    let w: usize = fields.next().unwrap().parse().unwrap();
    let h: usize = fields.next().unwrap().parse().unwrap();
    assert_eq!(fields.next(), Some("255"));
    (w, h, bytes[bytes.len() - w * h..].to_vec())
}

#[test]
fn restart_intervals_decode_like_libjpeg_turbo() {
    let jpg = fixture("CT_small_restart3.jpg");
    let rst = jpg
        .windows(2)
        .filter(|w| w[0] == 0xFF && (0xD0..=0xD7).contains(&w[1]))
        .count();
    assert_eq!(
        rst,
        256 / 3,
        "the fixture has a restart marker every 3 of 256 blocks"
    );
    let (img, end) = decode(&jpg, 0).unwrap();
    assert_eq!(end, jpg.len());
    let (w, h, reference) = pgm(&fixture("CT_small_restart3_djpeg.pgm"));
    assert_eq!((img.width, img.height, img.precision), (w, h, 8));
    let mut differing = 0;
    for (a, b) in img.samples.iter().zip(&reference) {
        let d = (i32::from(*a) - i32::from(*b)).abs();
        assert!(d <= 1, "{a} vs libjpeg-turbo {b}");
        differing += usize::from(d != 0);
    }
    // libjpeg-turbo's float IDCT and this exact one agree almost everywhere.
    assert!(differing * 100 <= w * h, "{differing} samples differ");
}

#[test]
fn two_images_back_to_back_decode_in_turn() {
    let jpg = fixture("CT_small_restart3.jpg");
    let mut two = jpg.clone();
    two.push(0); // DICOM pads odd fragments with a zero byte
    two.extend_from_slice(&jpg);
    let (a, end) = decode(&two, 0).unwrap();
    let (b, end2) = decode(&two, end).unwrap();
    assert_eq!(a, b);
    assert_eq!(end2, two.len());
}

#[test]
fn damage_gives_a_specific_error() {
    let jpg = fixture("CT_small_restart3.jpg");
    let sos = jpg.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    // Truncated inside the entropy-coded data.
    let e = decode(&jpg[..sos + 400], 0).unwrap_err();
    assert!(
        e.message.contains("ends before") || e.message.contains("marker"),
        "{e}"
    );
    // A restart marker renumbered.
    let mut bad = jpg.clone();
    let r = sos
        + bad[sos..]
            .windows(2)
            .position(|w| w == [0xFF, 0xD1])
            .unwrap();
    bad[r + 1] = 0xD5;
    let e = decode(&bad, 0).unwrap_err();
    assert!(e.message.contains("RST5 where RST1 was due"), "{e}");
    assert_eq!(e.offset, r);
    // A progressive frame header.
    let mut prog = jpg.clone();
    let sof = prog.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    prog[sof + 1] = 0xC2;
    assert!(
        decode(&prog, 0)
            .unwrap_err()
            .message
            .contains("progressive")
    );
    // No Huffman tables.
    let mut no_dht = jpg.clone();
    let dht = no_dht.windows(2).position(|w| w == [0xFF, 0xC4]).unwrap();
    no_dht[dht + 1] = 0xEE; // now an APP14 segment, skipped
    assert!(decode(&no_dht, 0).unwrap_err().message.contains("Huffman"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    /// Corrupted bytes anywhere give an error or an image, never a panic.
    #[test]
    fn corruption_never_panics(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut jpg = fixture("CT_small_restart3.jpg");
        let n = jpg.len();
        for (i, b) in flips {
            jpg[i.index(n)] = b;
        }
        let _ = decode(&jpg, 0);
        let _ = decode(&jpg[..n / 2], 0);
    }
}
