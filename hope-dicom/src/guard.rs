//! A pre-parse check of untrusted DICOM bytes: every declared value length, at any depth, must fit
//! in the bytes that remain. dicom-rs allocates a value's declared length before reading it, so a
//! four-byte length field of a hostile or damaged file can cost gigabytes of memory; this walk
//! over the element headers (no values are read) refuses such files first.

use std::io::Read;

/// Upper bound of a deflated data set once inflated (a deflate bomb is refused beyond it).
const MAX_INFLATED: u64 = 1 << 30;

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
    explicit: bool,
    big: bool,
}

impl Cursor<'_> {
    fn u16(&self, at: usize) -> Option<u16> {
        let s = self.b.get(at..at + 2)?;
        Some(if self.big {
            u16::from_be_bytes([s[0], s[1]])
        } else {
            u16::from_le_bytes([s[0], s[1]])
        })
    }

    fn u32(&self, at: usize) -> Option<u32> {
        let s = self.b.get(at..at + 4)?;
        let a = [s[0], s[1], s[2], s[3]];
        Some(if self.big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        })
    }

    /// Reads one element or item header: (group, element, length, header size).
    fn header(&self) -> Option<(u16, u16, u32, usize)> {
        let (g, e) = (self.u16(self.pos)?, self.u16(self.pos + 2)?);
        if g == 0xFFFE || !self.explicit {
            return Some((g, e, self.u32(self.pos + 4)?, 8));
        }
        let vr = self.b.get(self.pos + 4..self.pos + 6)?;
        match vr {
            b"OB" | b"OD" | b"OF" | b"OL" | b"OV" | b"OW" | b"SQ" | b"SV" | b"UC" | b"UN"
            | b"UR" | b"UT" | b"UV" => Some((g, e, self.u32(self.pos + 8)?, 12)),
            _ => Some((g, e, u32::from(self.u16(self.pos + 6)?), 8)),
        }
    }

    /// Walks element headers until the end of the bytes; an error names the first length that
    /// does not fit.
    fn walk(&mut self) -> Result<(), String> {
        while self.pos < self.b.len() {
            let Some((g, e, len, size)) = self.header() else {
                // A truncated header: the parser reports it; nothing to allocate.
                return Ok(());
            };
            let at = self.pos;
            self.pos += size;
            let remaining = self.b.len().saturating_sub(self.pos);
            if len == u32::MAX {
                if (g, e) == (0x7FE0, 0x0010) {
                    self.fragments()?;
                }
                // A sequence or item of undefined length: its content follows as elements.
                continue;
            }
            if g == 0xFFFE && (e == 0xE000) {
                // An item of defined length: its content follows as elements, and must fit.
                if len as usize > remaining {
                    return Err(too_long(at, g, e, len, remaining));
                }
                continue;
            }
            if g == 0xFFFE {
                continue; // delimiters
            }
            if len as usize > remaining {
                return Err(too_long(at, g, e, len, remaining));
            }
            self.pos += len as usize;
        }
        Ok(())
    }

    /// Encapsulated pixel data: items of raw bytes up to the sequence delimiter.
    fn fragments(&mut self) -> Result<(), String> {
        while self.pos + 8 <= self.b.len() {
            let (g, e) = (
                self.u16(self.pos).unwrap_or(0),
                self.u16(self.pos + 2).unwrap_or(0),
            );
            let len = self.u32(self.pos + 4).unwrap_or(0);
            let at = self.pos;
            self.pos += 8;
            if (g, e) == (0xFFFE, 0xE0DD) {
                return Ok(());
            }
            let remaining = self.b.len() - self.pos;
            if len as usize > remaining {
                return Err(too_long(at, g, e, len, remaining));
            }
            self.pos += len as usize;
        }
        Ok(())
    }
}

fn too_long(at: usize, g: u16, e: u16, len: u32, remaining: usize) -> String {
    format!(
        "element ({g:04X},{e:04X}) at byte {at} declares {len} bytes, but only {remaining} remain"
    )
}

/// Where the `DICM` magic of a Part 10 file starts: after the 128-byte preamble, or at the start
/// when the preamble is missing.
pub(crate) fn part10_start(bytes: &[u8]) -> Option<usize> {
    if bytes.get(128..132) == Some(b"DICM") {
        Some(128)
    } else if bytes.get(0..4) == Some(b"DICM") {
        Some(0)
    } else {
        None
    }
}

/// Checks a Part 10 file (preamble optional) or a bare data set whose transfer syntax was guessed
/// (`bare`: explicit VR or not, little endian).
pub(crate) fn check(bytes: &[u8], bare: Option<bool>) -> Result<(), String> {
    let (data, explicit, big, deflated) = if let Some(explicit) = bare {
        (bytes, explicit, false, false)
    } else {
        let Some(magic) = part10_start(bytes) else {
            return Ok(()); // not Part 10: the parser refuses it
        };
        let start = magic + 4;
        // The file meta group: explicit VR little endian, group 0002.
        let mut meta = Cursor {
            b: bytes,
            pos: start,
            explicit: true,
            big: false,
        };
        let mut ts = String::new();
        while let Some((g, e, len, size)) = meta.header() {
            if g != 0x0002 {
                break;
            }
            let at = meta.pos;
            meta.pos += size;
            let remaining = bytes.len().saturating_sub(meta.pos);
            if len as usize > remaining {
                return Err(too_long(at, g, e, len, remaining));
            }
            if e == 0x0010 {
                ts = String::from_utf8_lossy(&bytes[meta.pos..meta.pos + len as usize])
                    .trim_end_matches(['\0', ' '])
                    .to_string();
            }
            meta.pos += len as usize;
        }
        let rest = &bytes[meta.pos.min(bytes.len())..];
        match ts.as_str() {
            "1.2.840.10008.1.2" => (rest, false, false, false),
            "1.2.840.10008.1.2.2" => (rest, true, true, false),
            "1.2.840.10008.1.2.1.99" => (rest, true, false, true),
            _ => (rest, true, false, false),
        }
    };
    if deflated {
        let mut inflated = Vec::new();
        let mut z = flate2::read::DeflateDecoder::new(data).take(MAX_INFLATED + 1);
        z.read_to_end(&mut inflated)
            .map_err(|e| format!("deflated data set: {e}"))?;
        if inflated.len() as u64 > MAX_INFLATED {
            return Err(format!(
                "deflated data set inflates beyond {} MiB",
                MAX_INFLATED >> 20
            ));
        }
        return Cursor {
            b: &inflated,
            pos: 0,
            explicit: true,
            big: false,
        }
        .walk();
    }
    Cursor {
        b: data,
        pos: 0,
        explicit,
        big,
    }
    .walk()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_beyond_the_data_are_refused() {
        // (0008,0060) CS length 2 "CT", then (0010,0010) PN length 0xFFF0.
        let mut d = vec![0x08, 0x00, 0x60, 0x00, b'C', b'S', 2, 0, b'C', b'T'];
        assert!(check(&d, Some(true)).is_ok());
        d.extend_from_slice(&[0x10, 0x00, 0x10, 0x00, b'P', b'N', 0xF0, 0xFF, b'X', b'Y']);
        let e = check(&d, Some(true)).unwrap_err();
        assert!(e.contains("(0010,0010)") && e.contains("65520"), "{e}");
        // Implicit VR, 4-byte length.
        let imp = [0x08, 0x00, 0x60, 0x00, 0xF0, 0xFF, 0xFF, 0x7F, b'C', b'T'];
        assert!(check(&imp, Some(false)).is_err());
    }
}
