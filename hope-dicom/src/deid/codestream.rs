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
//! that cannot be walked (a marker where none can be, a segment running past the end), or bytes
//! outside every image other than padding (zeros, or 0xFF fill), such as the boxes of a JP2 file
//! around a JPEG 2000 codestream, is an error: the instance is refused rather than passed on with
//! bytes nobody looked at.
//!
//! RLE Lossless frames (PS3.5 G) are walked too: each segment is decoded as far as the image needs
//! (rows times columns bytes) and whatever follows in the segment, and between the header and the
//! first segment, is zeroed. Other encapsulated streams (MPEG-2, MPEG-4, HEVC, JPEG XL, ...) are not
//! walked; [`family`] says `None` for them and the de-identifier refuses them unless told otherwise.

/// The compression family of a transfer syntax whose streams are walked, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    /// ISO/IEC 10918 (baseline, extended, lossless).
    Jpeg,
    /// ISO/IEC 14495 (JPEG-LS): marker bytes in scans differ (bit stuffing).
    JpegLs,
    /// ISO/IEC 15444 codestreams (JPEG 2000, High-Throughput JPEG 2000).
    J2k,
    /// RLE Lossless (PS3.5 Annex G): one frame per fragment, of `rows * columns` bytes per segment.
    Rle {
        /// Bytes each segment decodes to (rows times columns).
        segment_len: usize,
    },
}

/// The family of a transfer syntax UID (PS3.5 Table A-4, PS3.6 Table A-1); `segment_len` is
/// rows times columns, for RLE.
pub(crate) fn family(ts: &str, segment_len: usize) -> Option<Family> {
    if ts == "1.2.840.10008.1.2.5" {
        return Some(Family::Rle { segment_len });
    }
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
    if let Family::Rle { segment_len } = family {
        let mut n = 0;
        for (i, f) in fragments.iter_mut().enumerate() {
            n += blank_rle(f, segment_len).map_err(|m| format!("RLE frame {}: {m}", i + 1))?;
        }
        return Ok(n);
    }
    let mut buf: Vec<u8> = fragments.concat();
    let n = match family {
        Family::Jpeg | Family::JpegLs => blank_jpeg(&mut buf, family == Family::JpegLs)?,
        _ => blank_j2k(&mut buf)?,
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

/// Checks that `buf[from..to]` is padding only (zeros or 0xFF fill bytes).
fn padding(buf: &[u8], from: usize, to: usize, what: &str) -> Result<(), String> {
    match buf
        .get(from..to.min(buf.len()))
        .unwrap_or_default()
        .iter()
        .position(|&b| b != 0 && b != 0xFF)
    {
        None => Ok(()),
        Some(i) => Err(format!(
            "{what}: byte {} lies outside every image and is not padding (another file format \
             around the stream, or data hidden there)",
            from + i
        )),
    }
}

/// Decodes a PackBits segment (PS3.5 G.3.1) as far as `need` bytes of output; the input bytes
/// used.
fn packbits_used(seg: &[u8], need: usize) -> Result<usize, String> {
    let (mut at, mut out) = (0usize, 0usize);
    while out < need {
        let Some(&h) = seg.get(at) else {
            return Err(format!("a segment ends after {out} of its {need} bytes"));
        };
        at += 1;
        match h as i8 {
            n @ 0..=127 => {
                let len = n as usize + 1;
                if at + len > seg.len() {
                    return Err("a literal run goes past the end of its segment".into());
                }
                at += len;
                out += len;
            }
            -128 => {}
            n => {
                if at >= seg.len() {
                    return Err("a repeat run has no byte to repeat".into());
                }
                at += 1;
                out += (1 - n as isize) as usize;
            }
        }
    }
    if out > need {
        return Err(format!("a segment decodes to more than {need} bytes"));
    }
    Ok(at)
}

/// Checks an RLE Lossless frame before a decoder sees it: `segments` segments (bytes per sample
/// times samples), offsets in order within the frame, each segment decoding to `segment_len`
/// bytes exactly. Decoders trusting the header have panicked on less.
pub(crate) fn check_rle_frame(
    frame: &[u8],
    segments: usize,
    segment_len: usize,
) -> Result<(), String> {
    let mut copy = frame.to_vec();
    let count = copy
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or("no RLE header")?;
    if count != segments {
        return Err(format!(
            "{count} segments where the image needs {segments} (one per byte of each sample)"
        ));
    }
    blank_rle(&mut copy, segment_len).map(|_| ())
}

/// Zeroes what an RLE frame holds beyond its segments' data; the number of areas zeroed.
fn blank_rle(frame: &mut [u8], segment_len: usize) -> Result<usize, String> {
    let word = |i: usize| -> Option<usize> {
        frame
            .get(i * 4..i * 4 + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let count = word(0).ok_or("no RLE header")?;
    if !(1..=15).contains(&count) {
        return Err(format!("{count} segments (1 to 15 expected)"));
    }
    let mut offsets = Vec::with_capacity(count);
    for i in 1..=count {
        let o = word(i).ok_or("no RLE header")?;
        if o < 64 || o > frame.len() || offsets.last().is_some_and(|&p| o <= p) {
            return Err(format!(
                "segment offset {o} out of order or beyond the frame"
            ));
        }
        offsets.push(o);
    }
    let mut zeroed = 0;
    // Unused offsets must be zero; the bytes before the first segment belong to nothing.
    for area in [count * 4 + 4..64, 64..offsets[0]] {
        if zero_from(&mut frame[area], 0) {
            zeroed += 1;
        }
    }
    for (i, &start) in offsets.iter().enumerate() {
        let end = offsets.get(i + 1).copied().unwrap_or(frame.len());
        let used = packbits_used(&frame[start..end], segment_len)?;
        if zero_from(&mut frame[start + used..end], 0) {
            zeroed += 1;
        }
    }
    Ok(zeroed)
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
    // Each image starts at a start-of-image marker; anything between images must be padding.
    while let Some(soi) = find(buf, pos, &[0xFF, 0xD8]) {
        padding(buf, pos, soi, "JPEG stream")?;
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
    padding(buf, pos, buf.len(), "JPEG stream")?;
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
    // Each codestream starts with SOC followed by SIZ; anything between them must be padding.
    while let Some(soc) = find(buf, pos, &[0xFF, 0x4F, 0xFF, 0x51]) {
        padding(buf, pos, soc, "JPEG 2000 codestream")?;
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
    padding(buf, pos, buf.len(), "JPEG 2000 codestream")?;
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
        assert_eq!(family("1.2.840.10008.1.2.4.50", 0), Some(Family::Jpeg));
        assert_eq!(family("1.2.840.10008.1.2.4.70", 0), Some(Family::Jpeg));
        assert_eq!(family("1.2.840.10008.1.2.4.80", 0), Some(Family::JpegLs));
        assert_eq!(family("1.2.840.10008.1.2.4.91", 0), Some(Family::J2k));
        assert_eq!(family("1.2.840.10008.1.2.4.201", 0), Some(Family::J2k));
        assert_eq!(
            family("1.2.840.10008.1.2.5", 6),
            Some(Family::Rle { segment_len: 6 })
        );
        assert_eq!(family("1.2.840.10008.1.2.4.102", 0), None);
        assert_eq!(family("1.2.840.10008.1.2.4.112", 0), None);
        assert_eq!(family("1.2.840.10008.1.2.1", 0), None);
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
    fn bytes_outside_images_must_be_padding() {
        let mut s = b"ZZPHI".to_vec();
        s.extend([0xFF, 0xD8, 0xFF, 0xD9]);
        let e = blank(Family::Jpeg, &mut [s]).unwrap_err();
        assert!(e.contains("not padding"), "{e}");
        let s = vec![0xFF, 0xD8, 0xFF, 0xD9, b'Z', b'Z', 0];
        assert!(blank(Family::Jpeg, &mut [s]).is_err());
        let s = vec![0xFF, 0xD8, 0xFF, 0xD9, 0, 0xFF];
        assert!(blank(Family::Jpeg, &mut [s]).is_ok());
        // A JP2 file (signature box) around a codestream.
        let mut s = vec![0, 0, 0, 12, b'j', b'P', b' ', b' ', 0x0D, 0x0A, 0x87, 0x0A];
        s.extend([0xFF, 0x4F, 0xFF, 0x51, 0, 2]);
        let e = blank(Family::J2k, &mut [s]).unwrap_err();
        assert!(e.contains("not padding"), "{e}");
    }

    #[test]
    fn rle_frames_keep_only_their_segments_data() {
        // One segment of 6 bytes: a literal run of 3, a repeat of 3; then hidden text.
        let mut f = vec![0u8; 64];
        f[0] = 1;
        f[4] = 64;
        f[20..26].copy_from_slice(b"ZZPHI!"); // in an unused offset slot
        f.extend([2, 10, 20, 30, 0xFE, 7]);
        f.extend(b"ZZPHI HIDDEN");
        let mut frags = vec![f];
        assert_eq!(
            blank(Family::Rle { segment_len: 6 }, &mut frags).unwrap(),
            2
        );
        assert!(!frags[0].windows(5).any(|w| w == b"ZZPHI"));
        assert_eq!(&frags[0][64..70], &[2, 10, 20, 30, 0xFE, 7]);
        // A segment too short for the image is an error.
        let mut f = vec![0u8; 64];
        f[0] = 1;
        f[4] = 64;
        f.extend([0, 1]);
        assert!(blank(Family::Rle { segment_len: 6 }, &mut [f]).is_err());
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
            for family in [Family::Jpeg, Family::JpegLs, Family::J2k, Family::Rle { segment_len: 16 }] {
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
