//! A pre-parse check of untrusted DICOM bytes, run before dicom-rs sees them.
//!
//! dicom-rs allocates a value's declared length before reading it, parses and drops nested
//! sequences recursively, and inflates deflated data sets whole; so a four-byte length field can
//! cost gigabytes of memory, a file of a thousand nested sequences (20 KB) overflows the stack and
//! aborts the process, and a megabyte of deflate can inflate to gigabytes. This walk over the
//! element headers (no value is kept) refuses such input first, with a reason:
//!
//! - every declared length, at any depth, must fit in the bytes that remain (or, in a deflated
//!   data set, in what the stream really holds);
//! - sequences may nest at most [`MAX_DEPTH`] deep;
//! - a data set may hold at most [`MAX_ELEMENTS`] elements and items;
//! - a deflated data set may inflate to at most [`MAX_INFLATED`] bytes; it is inflated as a
//!   stream, in constant memory.
//!
//! Sequences are recognised as the parser recognises them: VR `SQ` (in implicit VR, by the data
//! dictionary) or an undefined length (other than encapsulated pixel data).

use std::io::{self, Read, Seek, SeekFrom};

use dicom_core::VR;
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_dictionary_std::StandardDataDictionary;

/// Deepest nesting of sequences accepted (structured reports rarely exceed 10).
pub const MAX_DEPTH: usize = 64;
/// Most elements and items in one data set.
pub const MAX_ELEMENTS: u64 = 4_000_000;
/// Upper bound of a deflated data set once inflated.
pub const MAX_INFLATED: u64 = 64 << 20;

const UNDEFINED: u32 = u32::MAX;

/// Forward-only input: the bytes of a file or a buffer, or an inflating stream.
trait Input {
    /// Fills `buf`; `Ok(false)` when the input ended before (a truncated header: the parser
    /// reports it, nothing is allocated).
    fn fill(&mut self, buf: &mut [u8]) -> io::Result<bool>;
    /// Skips `n` bytes; `Ok(false)` when fewer remain.
    fn skip(&mut self, n: u64) -> io::Result<bool>;
    /// Bytes consumed so far.
    fn pos(&self) -> u64;
    /// Bytes left, when known.
    fn remaining(&self) -> Option<u64>;
    /// Steps back `n` bytes just read (buffers and files only).
    fn unread(&mut self, n: u64) -> io::Result<()>;
}

/// A buffer.
struct Bytes<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Input for Bytes<'_> {
    fn fill(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        match self.b.get(self.pos..self.pos + buf.len()) {
            Some(s) => {
                buf.copy_from_slice(s);
                self.pos += buf.len();
                Ok(true)
            }
            None => Ok(false),
        }
    }
    fn skip(&mut self, n: u64) -> io::Result<bool> {
        let left = (self.b.len() - self.pos) as u64;
        if n > left {
            self.pos = self.b.len();
            return Ok(false);
        }
        self.pos += n as usize;
        Ok(true)
    }
    fn pos(&self) -> u64 {
        self.pos as u64
    }
    fn remaining(&self) -> Option<u64> {
        Some((self.b.len() - self.pos) as u64)
    }
    fn unread(&mut self, n: u64) -> io::Result<()> {
        self.pos -= n as usize;
        Ok(())
    }
}

/// A seekable reader of known length (a file): values are skipped by seeking.
struct Seeking<R> {
    r: io::BufReader<R>,
    pos: u64,
    len: u64,
}

impl<R: Read + Seek> Input for Seeking<R> {
    fn fill(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        if self.pos + buf.len() as u64 > self.len {
            return Ok(false);
        }
        self.r.read_exact(buf)?;
        self.pos += buf.len() as u64;
        Ok(true)
    }
    fn skip(&mut self, n: u64) -> io::Result<bool> {
        if n > self.len - self.pos {
            return Ok(false);
        }
        self.r.seek_relative(n as i64)?;
        self.pos += n;
        Ok(true)
    }
    fn pos(&self) -> u64 {
        self.pos
    }
    fn remaining(&self) -> Option<u64> {
        Some(self.len - self.pos)
    }
    fn unread(&mut self, n: u64) -> io::Result<()> {
        self.r.seek_relative(-(n as i64))?;
        self.pos -= n;
        Ok(())
    }
}

/// A stream of unknown length (an inflating reader), capped at `cap` bytes.
struct Stream<R> {
    r: R,
    pos: u64,
    cap: u64,
}

impl<R: Read> Stream<R> {
    fn over_cap(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("deflated data set inflates beyond {} MiB", self.cap >> 20),
        )
    }
}

impl<R: Read> Input for Stream<R> {
    fn fill(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        let mut got = 0;
        while got < buf.len() {
            match self.r.read(&mut buf[got..]) {
                Ok(0) => return Ok(false),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.pos += got as u64;
        if self.pos > self.cap {
            return Err(self.over_cap());
        }
        Ok(true)
    }
    fn skip(&mut self, n: u64) -> io::Result<bool> {
        if self.pos + n > self.cap {
            return Err(self.over_cap());
        }
        let skipped = io::copy(&mut (&mut self.r).take(n), &mut io::sink())?;
        self.pos += skipped;
        Ok(skipped == n)
    }
    fn pos(&self) -> u64 {
        self.pos
    }
    fn remaining(&self) -> Option<u64> {
        None
    }
    fn unread(&mut self, _: u64) -> io::Result<()> {
        Err(io::Error::other("a stream cannot step back"))
    }
}

/// How the data set is encoded.
#[derive(Debug, Clone, Copy)]
struct Encoding {
    explicit: bool,
    big: bool,
}

/// An element or item header: group, element, VR (if explicit), length.
type ElementHeader = (u16, u16, Option<[u8; 2]>, u32);

/// An open sequence or item and where it ends (`None`: at its delimiter).
#[derive(Debug, Clone, Copy)]
struct Frame {
    item: bool,
    end: Option<u64>,
}

struct Walker<I> {
    input: I,
    enc: Encoding,
    stack: Vec<Frame>,
    depth: usize,
    count: u64,
    /// Stop at the top-level Pixel Data (where a header-only parse stops).
    stop_at_pixels: bool,
}

fn io_reason(e: &io::Error) -> String {
    format!("cannot be read: {e}")
}

fn too_long(at: u64, g: u16, e: u16, len: u32, remaining: Option<u64>) -> String {
    match remaining {
        Some(r) => format!(
            "element ({g:04X},{e:04X}) at byte {at} declares {len} bytes, but only {r} remain"
        ),
        None => format!(
            "element ({g:04X},{e:04X}) at byte {at} declares {len} bytes, more than the data set holds"
        ),
    }
}

impl<I: Input> Walker<I> {
    fn u16(&self, b: [u8; 2]) -> u16 {
        if self.enc.big {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }
    }

    fn u32(&self, b: [u8; 4]) -> u32 {
        if self.enc.big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }

    /// Reads one element or item header; `None` at the end of the input.
    fn header(&mut self) -> Result<Option<ElementHeader>, String> {
        let mut h = [0u8; 8];
        if !self.input.fill(&mut h).map_err(|e| io_reason(&e))? {
            return Ok(None);
        }
        let g = self.u16([h[0], h[1]]);
        let e = self.u16([h[2], h[3]]);
        if g == 0xFFFE || !self.enc.explicit {
            return Ok(Some((g, e, None, self.u32([h[4], h[5], h[6], h[7]]))));
        }
        let vr = [h[4], h[5]];
        match &vr {
            b"OB" | b"OD" | b"OF" | b"OL" | b"OV" | b"OW" | b"SQ" | b"SV" | b"UC" | b"UN"
            | b"UR" | b"UT" | b"UV" => {
                let mut l = [0u8; 4];
                if !self.input.fill(&mut l).map_err(|e| io_reason(&e))? {
                    return Ok(None);
                }
                Ok(Some((g, e, Some(vr), self.u32(l))))
            }
            b"AE" | b"AS" | b"AT" | b"CS" | b"DA" | b"DS" | b"DT" | b"FD" | b"FL" | b"IS"
            | b"LO" | b"LT" | b"PN" | b"SH" | b"SL" | b"SS" | b"ST" | b"TM" | b"UI" | b"UL"
            | b"US" => Ok(Some((g, e, Some(vr), u32::from(self.u16([h[6], h[7]]))))),
            // Parsers disagree on the length field of a code PS3.5 does not define (two bytes,
            // or four as UN): a file that needs the reader to guess is refused.
            _ => Err(format!(
                "element ({g:04X},{e:04X}) at byte {} has the value representation {}, which \
                 PS3.5 does not define",
                self.input.pos() - 8,
                vr_text(vr)
            )),
        }
    }

    fn push(&mut self, frame: Frame) -> Result<(), String> {
        if !frame.item {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(format!(
                    "sequences nested more than {MAX_DEPTH} deep (at byte {})",
                    self.input.pos()
                ));
            }
        }
        self.stack.push(frame);
        Ok(())
    }

    fn pop(&mut self) {
        if let Some(f) = self.stack.pop()
            && !f.item
        {
            self.depth -= 1;
        }
    }

    /// Closes the defined-length frames that end here; one overrun is an error.
    fn close_ended(&mut self) -> Result<(), String> {
        while let Some(Frame { end: Some(end), .. }) = self.stack.last().copied() {
            let pos = self.input.pos();
            if pos < end {
                break;
            }
            if pos > end {
                return Err(format!(
                    "an element overruns the end of its sequence or item (byte {end})"
                ));
            }
            self.pop();
        }
        Ok(())
    }

    fn is_sequence(&self, g: u16, e: u16, vr: Option<[u8; 2]>, len: u32) -> bool {
        let pixel_data = (g, e) == (0x7FE0, 0x0010);
        if len == UNDEFINED && !pixel_data {
            return true;
        }
        match vr {
            Some(v) => &v == b"SQ",
            None => {
                !pixel_data
                    && StandardDataDictionary
                        .by_tag(dicom_core::Tag(g, e))
                        .is_some_and(|entry| entry.vr().relaxed() == VR::SQ)
            }
        }
    }

    fn walk(&mut self) -> Result<(), String> {
        loop {
            self.close_ended()?;
            let at = self.input.pos();
            let Some((g, e, vr, len)) = self.header()? else {
                return Ok(());
            };
            self.count += 1;
            if self.count > MAX_ELEMENTS {
                return Err(format!("more than {MAX_ELEMENTS} elements and items"));
            }
            if g == 0xFFFE {
                match e {
                    0xE000 => {
                        let end = self.defined_end(at, g, e, len)?;
                        self.push(Frame { item: true, end })?;
                    }
                    0xE00D if self.stack.last().is_some_and(|f| f.item && f.end.is_none()) => {
                        self.pop();
                    }
                    0xE0DD => {
                        if self.stack.last().is_some_and(|f| f.item) {
                            self.pop(); // an item left open by its sequence's end
                        }
                        if self
                            .stack
                            .last()
                            .is_some_and(|f| !f.item && f.end.is_none())
                        {
                            self.pop();
                        }
                    }
                    _ => {}
                }
                continue;
            }
            if self.stop_at_pixels && self.stack.is_empty() && (g, e) == (0x7FE0, 0x0010) {
                return Ok(());
            }
            if self.is_sequence(g, e, vr, len) {
                let end = self.defined_end(at, g, e, len)?;
                self.push(Frame { item: false, end })?;
                continue;
            }
            if len == UNDEFINED {
                self.fragments()?;
                continue;
            }
            if !self.input.skip(u64::from(len)).map_err(|e| io_reason(&e))? {
                return Err(too_long(at, g, e, len, self.input.remaining()));
            }
        }
    }

    /// Where a sequence or item of this length ends (it must fit), or `None` if undefined.
    fn defined_end(&self, at: u64, g: u16, e: u16, len: u32) -> Result<Option<u64>, String> {
        if len == UNDEFINED {
            return Ok(None);
        }
        if let Some(r) = self.input.remaining()
            && u64::from(len) > r
        {
            return Err(too_long(at, g, e, len, Some(r)));
        }
        Ok(Some(self.input.pos() + u64::from(len)))
    }

    /// Encapsulated pixel data: items of raw bytes up to the sequence delimiter.
    fn fragments(&mut self) -> Result<(), String> {
        loop {
            let at = self.input.pos();
            let mut h = [0u8; 8];
            if !self.input.fill(&mut h).map_err(|e| io_reason(&e))? {
                return Ok(());
            }
            let (g, e) = (self.u16([h[0], h[1]]), self.u16([h[2], h[3]]));
            let len = self.u32([h[4], h[5], h[6], h[7]]);
            if (g, e) == (0xFFFE, 0xE0DD) {
                return Ok(());
            }
            self.count += 1;
            if self.count > MAX_ELEMENTS {
                return Err(format!("more than {MAX_ELEMENTS} elements and items"));
            }
            if len == UNDEFINED || !self.input.skip(u64::from(len)).map_err(|e| io_reason(&e))? {
                return Err(too_long(at, g, e, len, self.input.remaining()));
            }
        }
    }
}

fn walk(input: impl Input, enc: Encoding, stop_at_pixels: bool) -> Result<(), String> {
    Walker {
        input,
        enc,
        stack: Vec::new(),
        depth: 0,
        count: 0,
        stop_at_pixels,
    }
    .walk()
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

/// The encoding of a data set in transfer syntax `ts`, and whether it is deflated.
fn encoding_of(ts: &str) -> (Encoding, bool) {
    match ts.trim_end_matches(['\0', ' ']) {
        "1.2.840.10008.1.2" => (
            Encoding {
                explicit: false,
                big: false,
            },
            false,
        ),
        "1.2.840.10008.1.2.2" => (
            Encoding {
                explicit: true,
                big: true,
            },
            false,
        ),
        "1.2.840.10008.1.2.1.99" => (
            Encoding {
                explicit: true,
                big: false,
            },
            true,
        ),
        _ => (
            Encoding {
                explicit: true,
                big: false,
            },
            false,
        ),
    }
}

/// Checks the file meta group at the start of `input` (after `DICM`), leaves `input` at the
/// start of the data set and returns the transfer syntax the group names.
fn meta(input: &mut impl Input) -> Result<String, String> {
    let mut ts = String::new();
    loop {
        let start = input.pos();
        let mut h = [0u8; 8];
        if !input.fill(&mut h).map_err(|e| io_reason(&e))? {
            return Ok(ts);
        }
        let g = u16::from_le_bytes([h[0], h[1]]);
        if g != 0x0002 {
            input.unread(8).map_err(|e| io_reason(&e))?;
            return Ok(ts);
        }
        let e = u16::from_le_bytes([h[2], h[3]]);
        let long = matches!(
            &[h[4], h[5]],
            b"OB"
                | b"OD"
                | b"OF"
                | b"OL"
                | b"OV"
                | b"OW"
                | b"SQ"
                | b"SV"
                | b"UC"
                | b"UN"
                | b"UR"
                | b"UT"
                | b"UV"
        );
        let len = if long {
            let mut l = [0u8; 4];
            if !input.fill(&mut l).map_err(|e| io_reason(&e))? {
                return Ok(ts);
            }
            u32::from_le_bytes(l)
        } else {
            u32::from(u16::from_le_bytes([h[6], h[7]]))
        };
        let fits = input.remaining().is_none_or(|r| u64::from(len) <= r);
        if len > 1 << 20 || !fits {
            return Err(too_long(start, g, e, len, input.remaining()));
        }
        let mut value = vec![0u8; len as usize];
        if !input.fill(&mut value).map_err(|e| io_reason(&e))? {
            return Err(too_long(start, g, e, len, input.remaining()));
        }
        if e == 0x0010 {
            ts = String::from_utf8_lossy(&value)
                .trim_end_matches(['\0', ' '])
                .to_string();
        }
    }
}

/// Checks a Part 10 file held in memory (preamble optional).
pub(crate) fn check(bytes: &[u8]) -> Result<(), String> {
    let Some(magic) = part10_start(bytes) else {
        return Ok(()); // not Part 10: the parser refuses it
    };
    let mut m = Bytes {
        b: bytes,
        pos: magic + 4,
    };
    let ts = meta(&mut m)?;
    check_dataset(&bytes[m.pos..], &ts)
}

/// Checks a bare data set in transfer syntax `ts` (a C-FIND identifier, a bare file).
pub(crate) fn check_dataset(data: &[u8], ts: &str) -> Result<(), String> {
    let (enc, deflated) = encoding_of(ts);
    if deflated {
        let stream = Stream {
            r: flate2::read::DeflateDecoder::new(data),
            pos: 0,
            cap: MAX_INFLATED,
        };
        return walk(stream, enc, false).map_err(|e| format!("deflated data set: {e}"));
    }
    walk(Bytes { b: data, pos: 0 }, enc, false)
}

/// Checks the elements of a Part 10 file up to its top-level Pixel Data (what a header-only
/// parse reads), streaming from `file` (positioned anywhere; `len` its length).
pub(crate) fn check_file_header<R: Read + Seek>(mut file: R, len: u64) -> Result<(), String> {
    let mut head = [0u8; 132];
    file.seek(SeekFrom::Start(0)).map_err(|e| io_reason(&e))?;
    let n = file
        .by_ref()
        .take(132)
        .read(&mut head)
        .map_err(|e| io_reason(&e))?;
    let Some(magic) = part10_start(&head[..n]) else {
        return Ok(());
    };
    let start = (magic + 4) as u64;
    file.seek(SeekFrom::Start(start))
        .map_err(|e| io_reason(&e))?;
    let mut input = Seeking {
        r: std::io::BufReader::with_capacity(8192, &mut file),
        pos: start,
        len,
    };
    let ts = meta(&mut input)?;
    let data_start = input.pos;
    drop(input);
    let (enc, deflated) = encoding_of(&ts);
    file.seek(SeekFrom::Start(data_start))
        .map_err(|e| io_reason(&e))?;
    if deflated {
        let stream = Stream {
            r: flate2::read::DeflateDecoder::new(std::io::BufReader::new(&mut file)),
            pos: 0,
            cap: MAX_INFLATED,
        };
        return walk(stream, enc, true).map_err(|e| format!("deflated data set: {e}"));
    }
    walk(
        Seeking {
            r: io::BufReader::with_capacity(8192, &mut file),
            pos: data_start,
            len,
        },
        enc,
        true,
    )
}

/// Two VR bytes as text, escaped when they are not printable.
fn vr_text(vr: [u8; 2]) -> String {
    if vr.iter().all(u8::is_ascii_graphic) {
        format!("\"{}{}\"", vr[0] as char, vr[1] as char)
    } else {
        format!("0x{:02X}{:02X}", vr[0], vr[1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undefined_value_representations_are_refused() {
        let mut d = vec![0x10, 0x00, 0x00, 0x10, b'Z', b'Z', 4, 0];
        d.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        let e = check_dataset(&d, "1.2.840.10008.1.2.1").unwrap_err();
        assert!(e.contains("\"ZZ\"") && e.contains("does not define"), "{e}");
        d[4..6].copy_from_slice(&[0, 1]);
        let e = check_dataset(&d, "1.2.840.10008.1.2.1").unwrap_err();
        assert!(e.contains("0x0001"), "{e}");
        // Every defined VR reads.
        for vr in [b"AE", b"CS", b"DS", b"FD", b"LO", b"PN", b"UI", b"US"] {
            let mut ok = vec![0x10, 0x00, 0x00, 0x10, vr[0], vr[1], 0, 0];
            ok.extend_from_slice(&[0x10, 0x00, 0x01, 0x10, b'L', b'O', 0, 0]);
            check_dataset(&ok, "1.2.840.10008.1.2.1").unwrap();
        }
    }

    #[test]
    fn lengths_beyond_the_data_are_refused() {
        // (0008,0060) CS length 2 "CT", then (0010,0010) PN length 0xFFF0.
        let mut d = vec![0x08, 0x00, 0x60, 0x00, b'C', b'S', 2, 0, b'C', b'T'];
        assert!(check_dataset(&d, "1.2.840.10008.1.2.1").is_ok());
        d.extend_from_slice(&[0x10, 0x00, 0x10, 0x00, b'P', b'N', 0xF0, 0xFF, b'X', b'Y']);
        let e = check_dataset(&d, "1.2.840.10008.1.2.1").unwrap_err();
        assert!(e.contains("(0010,0010)") && e.contains("65520"), "{e}");
        // Implicit VR, 4-byte length.
        let imp = [0x08, 0x00, 0x60, 0x00, 0xF0, 0xFF, 0xFF, 0x7F, b'C', b'T'];
        assert!(check_dataset(&imp, "1.2.840.10008.1.2").is_err());
    }

    /// `depth` nested sequences of undefined length, explicit VR LE.
    fn nested(depth: usize) -> Vec<u8> {
        let mut d = Vec::new();
        for _ in 0..depth {
            d.extend_from_slice(&[
                0x40, 0x00, 0x30, 0xA7, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
            ]);
            d.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        }
        for _ in 0..depth {
            d.extend_from_slice(&[0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
            d.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        }
        d
    }

    /// The same with defined lengths, implicit VR (sequence recognised by the dictionary).
    fn nested_defined_implicit(depth: usize) -> Vec<u8> {
        let mut inner: Vec<u8> = Vec::new();
        for _ in 0..depth {
            let mut item = vec![0xFE, 0xFF, 0x00, 0xE0];
            item.extend_from_slice(&(inner.len() as u32).to_le_bytes());
            item.extend_from_slice(&inner);
            let mut seq = vec![0x40, 0x00, 0x30, 0xA7];
            seq.extend_from_slice(&(item.len() as u32).to_le_bytes());
            seq.extend_from_slice(&item);
            inner = seq;
        }
        inner
    }

    #[test]
    fn deep_nesting_is_refused_at_any_encoding() {
        assert!(check_dataset(&nested(MAX_DEPTH), "1.2.840.10008.1.2.1").is_ok());
        let e = check_dataset(&nested(MAX_DEPTH + 1), "1.2.840.10008.1.2.1").unwrap_err();
        assert!(e.contains("nested more than 64"), "{e}");
        assert!(check_dataset(&nested(3000), "1.2.840.10008.1.2.1").is_err());
        let ok = nested_defined_implicit(MAX_DEPTH);
        assert!(check_dataset(&ok, "1.2.840.10008.1.2").is_ok());
        let deep = nested_defined_implicit(MAX_DEPTH + 1);
        assert!(check_dataset(&deep, "1.2.840.10008.1.2").is_err());
    }

    #[test]
    fn a_deflate_bomb_is_refused_in_bounded_memory() {
        use std::io::Write;
        // One OB element declaring 100 MiB of zeros, deflated: about 100 KB.
        let len: u32 = 100 << 20;
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&[0x09, 0x00, 0x10, 0x10, b'O', b'B', 0, 0])
            .unwrap();
        z.write_all(&len.to_le_bytes()).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..100 {
            z.write_all(&zeros).unwrap();
        }
        let bomb = z.finish().unwrap();
        assert!(bomb.len() < 1 << 20);
        let e = check_dataset(&bomb, "1.2.840.10008.1.2.1.99").unwrap_err();
        assert!(e.contains("inflates beyond 64 MiB"), "{e}");
    }
}
