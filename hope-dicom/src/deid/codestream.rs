//! Metadata inside compressed pixel data: the comment and application segments of JPEG and
//! JPEG-LS streams (ISO/IEC 10918-1 B.2.4, 14495-1 C.2.4) and the comments of JPEG 2000
//! codestreams (ISO/IEC 15444-1 A.9.2) can carry text, dates and thumbnails that the data set
//! does not show: a modality's EXIF block, an operator's comment, a scanned form's thumbnail.
//!
//! Their payloads are overwritten with zeros in place. Nothing moves: fragment lengths, the
//! Basic and Extended Offset Tables, JPEG 2000 tile-part lengths (Psot, TLM) stay exact, and
//! decoders skip a segment they do not recognise by its length. What is kept is what decoding
//! needs and holds no text: the fixed fields of a JFIF header (its thumbnail is zeroed), the
//! Adobe colour transform (APP14), the JPEG-LS colour transform (APP8 `mrfx`).
//!
//! The stream is walked as one, across fragment boundaries (a frame may span fragments). A stream
//! that cannot be walked (a marker where none can be, a segment running past the end) is an
//! error: the instance is refused rather than passed on with segments that might be missed.

/// The compression family of a transfer syntax whose streams are walked, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    /// ISO/IEC 10918 (baseline, extended, lossless).
    Jpeg,
    /// ISO/IEC 14495 (JPEG-LS): marker bytes in scans differ (bit stuffing).
    JpegLs,
    /// ISO/IEC 15444 codestreams (JPEG 2000, High-Throughput JPEG 2000).
    J2k,
}

/// The family of a transfer syntax UID (PS3.5 Table A-4, PS3.6 Table A-1).
pub(crate) fn family(ts: &str) -> Option<Family> {
    let rest = ts.strip_prefix("1.2.840.10008.1.2.4.")?;
    match rest.parse::<u32>().ok()? {
        50..=66 | 70 => Some(Family::Jpeg),
        80 | 81 => Some(Family::JpegLs),
        90..=93 | 201..=203 => Some(Family::J2k),
        _ => None,
    }
}

/// Zeroes the metadata segments of every stream in the fragments (in order, as one stream).
/// Returns how many segments were blanked.
pub(crate) fn blank(family: Family, fragments: &mut [Vec<u8>]) -> Result<usize, String> {
    let mut buf: Vec<u8> = fragments.concat();
    let n = match family {
        Family::Jpeg | Family::JpegLs => blank_jpeg(&mut buf, family == Family::JpegLs)?,
        Family::J2k => blank_j2k(&mut buf)?,
    };
    if n > 0 {
        let mut at = 0;
        for f in fragments.iter_mut() {
            let len = f.len();
            f.copy_from_slice(&buf[at..at + len]);
            at += len;
        }
    }
    Ok(n)
}

fn be16(buf: &[u8], at: usize) -> Option<usize> {
    Some(usize::from(u16::from_be_bytes([
        *buf.get(at)?,
        *buf.get(at + 1)?,
    ])))
}

fn find(buf: &[u8], from: usize, pattern: &[u8]) -> Option<usize> {
    buf.get(from..)?
        .windows(pattern.len())
        .position(|w| w == pattern)
        .map(|p| p + from)
}

/// Zeroes `payload` except its first `keep` bytes; whether anything was zeroed.
fn zero_from(payload: &mut [u8], keep: usize) -> bool {
    let tail = payload.get_mut(keep..).unwrap_or_default();
    let any = tail.iter().any(|&b| b != 0);
    tail.fill(0);
    any
}

/// How many leading bytes of an application segment's payload are kept.
fn kept_prefix(marker: u8, payload: &[u8], ls: bool) -> usize {
    match marker {
        // JFIF: identifier, version, units, densities, thumbnail size (ISO/IEC 10918-5 10.1).
        0xE0 if payload.starts_with(b"JFIF\0") => 14.min(payload.len()),
        // Adobe: identifier, version, flags, colour transform.
        0xEE if payload.starts_with(b"Adobe") => 12.min(payload.len()),
        // JPEG-LS colour transform (HP): identifier and the transform.
        0xE8 if ls && payload.starts_with(b"mrfx") => 5.min(payload.len()),
        _ => 0,
    }
}

fn blank_jpeg(buf: &mut [u8], ls: bool) -> Result<usize, String> {
    let mut count = 0;
    let mut pos = 0;
    // Each image starts at a start-of-image marker; anything between images is padding.
    while let Some(soi) = find(buf, pos, &[0xFF, 0xD8]) {
        pos = soi + 2;
        loop {
            if pos >= buf.len() {
                return Ok(count); // truncated after a segment: nothing more to find
            }
            if buf[pos] != 0xFF {
                return Err(format!(
                    "JPEG stream: byte {pos} is {:#04X} where a marker must be",
                    buf[pos]
                ));
            }
            while buf.get(pos + 1) == Some(&0xFF) {
                pos += 1; // fill bytes
            }
            let Some(&marker) = buf.get(pos + 1) else {
                return Ok(count);
            };
            pos += 2;
            match marker {
                0xD9 => break,                  // end of image
                0x01 | 0xD0..=0xD7 => continue, // no length
                0xD8 => {
                    return Err(format!(
                        "JPEG stream: a start of image inside an image at byte {}",
                        pos - 2
                    ));
                }
                0x00 => {
                    return Err(format!(
                        "JPEG stream: an escaped 0xFF where a marker must be (byte {})",
                        pos - 2
                    ));
                }
                _ => {}
            }
            let len = be16(buf, pos).ok_or("JPEG stream: a segment is cut short")?;
            let end = pos + len;
            if len < 2 || end > buf.len() {
                return Err(format!(
                    "JPEG stream: the segment {marker:#04X} at byte {} has length {len}, beyond the \
                     data",
                    pos - 2
                ));
            }
            let payload = &mut buf[pos + 2..end];
            if marker == 0xFE || (0xE0..=0xEF).contains(&marker) {
                let keep = if marker == 0xFE {
                    0
                } else {
                    kept_prefix(marker, payload, ls)
                };
                if zero_from(payload, keep) {
                    count += 1;
                }
            }
            pos = end;
            if marker == 0xDA {
                pos = scan_end(buf, pos, ls);
            }
        }
    }
    Ok(count)
}

/// Where the entropy-coded data starting at `from` ends: the next marker (or the end).
fn scan_end(buf: &[u8], from: usize, ls: bool) -> usize {
    let mut i = from;
    while let Some(ff) = buf.get(i..).and_then(|b| b.iter().position(|&x| x == 0xFF)) {
        let at = i + ff;
        let Some(&next) = buf.get(at + 1) else {
            return buf.len();
        };
        let is_marker = if ls {
            // JPEG-LS stuffs a zero bit after 0xFF: a marker's second byte has its top bit set.
            next >= 0x80 && next != 0xFF
        } else {
            next != 0x00 && next != 0xFF && !(0xD0..=0xD7).contains(&next)
        };
        if is_marker {
            return at;
        }
        i = at + 1;
    }
    buf.len()
}

fn blank_j2k(buf: &mut [u8]) -> Result<usize, String> {
    let mut count = 0;
    let mut pos = 0;
    // Each codestream starts with SOC followed by SIZ.
    while let Some(soc) = find(buf, pos, &[0xFF, 0x4F, 0xFF, 0x51]) {
        pos = soc + 2;
        // Main header, then tile-parts.
        loop {
            let (marker, end) = j2k_segment(buf, pos)?;
            if marker == 0x90 {
                break;
            }
            if marker == 0x64 && zero_from(&mut buf[pos + 4..end], 0) {
                count += 1;
            }
            pos = end;
        }
        loop {
            match buf.get(pos..pos + 2) {
                None | Some([0xFF, 0xD9]) => {
                    pos += 2;
                    break;
                }
                Some([0xFF, 0x90]) => {}
                Some(_) => {
                    return Err(format!(
                        "JPEG 2000 codestream: byte {pos} is neither a tile-part nor the end"
                    ));
                }
            }
            let sot = pos;
            let psot = buf
                .get(sot + 6..sot + 10)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
                .ok_or("JPEG 2000 codestream: a tile-part header is cut short")?;
            let (_, mut at) = j2k_segment(buf, sot)?;
            // Tile-part header markers up to the start of data.
            loop {
                if buf.get(at..at + 2) == Some(&[0xFF, 0x93]) {
                    break;
                }
                let (marker, end) = j2k_segment(buf, at)?;
                if marker == 0x64 && zero_from(&mut buf[at + 4..end], 0) {
                    count += 1;
                }
                at = end;
            }
            if psot == 0 {
                // The last tile-part runs to the end of the codestream: resume at the next one.
                pos = find(buf, at, &[0xFF, 0x4F, 0xFF, 0x51]).unwrap_or(buf.len());
                break;
            }
            if sot + psot > buf.len() || sot + psot <= at {
                return Err(format!(
                    "JPEG 2000 codestream: the tile-part at byte {sot} has length {psot}, beyond the \
                     data"
                ));
            }
            pos = sot + psot;
        }
    }
    Ok(count)
}

/// The marker at `at` (a segment with a length) and where its segment ends.
fn j2k_segment(buf: &[u8], at: usize) -> Result<(u8, usize), String> {
    let marker = match buf.get(at..at + 2) {
        Some([0xFF, m]) if *m >= 0x30 => *m,
        _ => {
            return Err(format!(
                "JPEG 2000 codestream: byte {at} is not a marker where one must be"
            ));
        }
    };
    // Markers without a segment (0xFF30-0xFF3F reserved) are not expected in headers.
    let len = be16(buf, at + 2).ok_or("JPEG 2000 codestream: a segment is cut short")?;
    let end = at + 2 + len;
    if len < 2 || end > buf.len() {
        return Err(format!(
            "JPEG 2000 codestream: the segment {marker:#04X} at byte {at} has length {len}, beyond \
             the data"
        ));
    }
    Ok((marker, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(marker: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0xFF, marker];
        v.extend_from_slice(&u16::try_from(payload.len() + 2).unwrap().to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn families_follow_the_transfer_syntax() {
        assert_eq!(family("1.2.840.10008.1.2.4.50"), Some(Family::Jpeg));
        assert_eq!(family("1.2.840.10008.1.2.4.70"), Some(Family::Jpeg));
        assert_eq!(family("1.2.840.10008.1.2.4.80"), Some(Family::JpegLs));
        assert_eq!(family("1.2.840.10008.1.2.4.91"), Some(Family::J2k));
        assert_eq!(family("1.2.840.10008.1.2.4.201"), Some(Family::J2k));
        assert_eq!(family("1.2.840.10008.1.2.5"), None);
        assert_eq!(family("1.2.840.10008.1.2.1"), None);
    }

    #[test]
    fn jpeg_comments_and_exif_are_zeroed_in_place() {
        let mut s = vec![0xFF, 0xD8];
        s.extend(seg(0xE0, b"JFIF\0\x01\x02\0\0\x01\0\x01\x01\x01THUMB"));
        s.extend(seg(0xE1, b"Exif\0\0SECRET"));
        s.extend(seg(0xFE, b"SECRET COMMENT"));
        s.extend(seg(0xDB, &[0u8; 65]));
        s.extend(seg(0xDA, &[1, 1, 0, 0, 0x3F, 0]));
        s.extend([0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56]); // entropy data, stuffing, restart
        s.extend(seg(0xFE, b"SECRET AFTER SCAN"));
        s.extend([0xFF, 0xD9, 0x00]); // end, padding
        let len = s.len();
        let mut frags = vec![s[..20].to_vec(), s[20..].to_vec()];
        assert_eq!(blank(Family::Jpeg, &mut frags).unwrap(), 4);
        let out = frags.concat();
        assert_eq!(out.len(), len);
        assert!(!out.windows(6).any(|w| w == b"SECRET"));
        assert!(!out.windows(5).any(|w| w == b"THUMB"));
        assert!(out.windows(5).any(|w| w == b"JFIF\0"));
        assert!(
            out.windows(7)
                .any(|w| w == [0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56])
        );
    }

    #[test]
    fn jpeg_ls_scans_end_only_at_real_markers() {
        let mut s = vec![0xFF, 0xD8];
        s.extend(seg(0xF7, &[8, 0, 1, 0, 1, 1, 1, 0x11, 0]));
        s.extend(seg(0xDA, &[1, 1, 0, 0, 0, 0]));
        s.extend([0xFF, 0x7F, 0xFF, 0x60, 0x01]); // bit-stuffed bytes, not markers
        s.extend(seg(0xFE, b"SECRET"));
        s.extend([0xFF, 0xD9]);
        let mut frags = vec![s];
        assert_eq!(blank(Family::JpegLs, &mut frags).unwrap(), 1);
        assert!(!frags[0].windows(6).any(|w| w == b"SECRET"));
    }

    #[test]
    fn j2k_comments_are_zeroed_in_main_and_tile_part_headers() {
        let mut s = vec![0xFF, 0x4F];
        s.extend(seg(0x51, &[0u8; 39]));
        s.extend(seg(0x64, b"\0\x01SECRET MAIN"));
        s.extend(seg(0x52, &[0u8; 10]));
        let sot = s.len();
        let tile_header = {
            let mut t = seg(0x90, &[0, 0, 0, 0, 0, 0, 0, 1]);
            t.extend(seg(0x64, b"\0\x01SECRET TILE"));
            t.extend([0xFF, 0x93, 1, 2, 3, 4]);
            t
        };
        let psot = u32::try_from(tile_header.len()).unwrap();
        s.extend(tile_header);
        s[sot + 6..sot + 10].copy_from_slice(&psot.to_be_bytes());
        s.extend([0xFF, 0xD9]);
        let mut frags = vec![s];
        assert_eq!(blank(Family::J2k, &mut frags).unwrap(), 2);
        assert!(!frags[0].windows(6).any(|w| w == b"SECRET"));
        assert!(frags[0].ends_with(&[0xFF, 0x93, 1, 2, 3, 4, 0xFF, 0xD9]));
    }

    #[test]
    fn streams_that_cannot_be_walked_are_errors() {
        let mut s = vec![0xFF, 0xD8];
        s.extend([0xFF, 0xFE, 0x40, 0x00, b'x']); // a comment longer than the data
        assert!(blank(Family::Jpeg, &mut [s]).is_err());
        let s = vec![0xFF, 0xD8, 0x12, 0x34];
        assert!(blank(Family::Jpeg, &mut [s]).is_err());
        let mut s = vec![0xFF, 0x4F];
        s.extend(seg(0x51, &[0u8; 4]));
        s.extend([0x00, 0x00]);
        assert!(blank(Family::J2k, &mut [s]).is_err());
    }

    proptest::proptest! {
        /// Any bytes, cut into any fragments: an answer, never a panic, and nothing moves.
        #[test]
        fn arbitrary_streams_never_panic_and_keep_their_lengths(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096),
            cuts in proptest::collection::vec(0usize..4096, 0..4),
            seed in proptest::collection::vec(0u8..6, 0..8),
        ) {
            // Sprinkle markers so that the walkers get past the first bytes.
            let mut bytes = bytes;
            let marks: [&[u8]; 6] = [&[0xFF, 0xD8], &[0xFF, 0xFE, 0, 4], &[0xFF, 0xDA, 0, 2],
                &[0xFF, 0x4F, 0xFF, 0x51], &[0xFF, 0x90, 0, 10], &[0xFF, 0x93]];
            for (i, m) in seed.iter().enumerate() {
                let at = (i * 97) % (bytes.len() + 1);
                bytes.splice(at..at, marks[usize::from(*m)].iter().copied());
            }
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
            points.sort_unstable();
            let mut frags = Vec::new();
            let mut last = 0;
            for p in points.into_iter().chain([bytes.len()]) {
                frags.push(bytes[last..p].to_vec());
                last = p;
            }
            for family in [Family::Jpeg, Family::JpegLs, Family::J2k] {
                let mut f = frags.clone();
                let _ = blank(family, &mut f);
                proptest::prop_assert_eq!(
                    f.iter().map(Vec::len).collect::<Vec<_>>(),
                    frags.iter().map(Vec::len).collect::<Vec<_>>()
                );
            }
        }
    }
}
