//! Streaming `multipart/related` (RFC 2046 section 5.1, RFC 2387), as WADO-RS answers and
//! STOW-RS requests use it: parts are read one after the other straight from the connection,
//! each body copied out as it comes, so memory stays bounded whatever the size of a part.

use std::io::{self, Read, Write};

use memchr::memmem::Finder;

/// Largest accepted header block of one part.
const MAX_PART_HEAD: usize = 16 * 1024;
/// Read size.
const CHUNK: usize = 64 * 1024;

/// The headers of one part.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Part {
    /// Header names (as sent) and values.
    pub headers: Vec<(String, String)>,
}

impl Part {
    /// A header's value (names compared without case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `Content-Type`, if given.
    pub fn content_type(&self) -> Option<&str> {
        self.header("content-type")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first delimiter (the preamble).
    Preamble,
    /// Just after a delimiter: a header block or the closing `--` follows.
    AfterDelimiter,
    /// Inside a part body.
    Body,
    /// After the close delimiter.
    Done,
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// The boundary of a `multipart/...` content type.
pub fn boundary_of(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if k.trim().eq_ignore_ascii_case("boundary") {
            let v = v.trim().trim_matches('"');
            (!v.is_empty() && v.len() <= 70).then(|| v.to_string())
        } else {
            None
        }
    })
}

/// Reads the parts of a multipart body one by one.
pub struct MultipartReader<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    delimiter: Vec<u8>,
    state: State,
}

impl<R> std::fmt::Debug for MultipartReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultipartReader")
            .field("state", &self.state)
            .finish()
    }
}

impl<R: Read> MultipartReader<R> {
    /// A reader of a body whose parts are separated by `boundary`.
    pub fn new(inner: R, boundary: &str) -> MultipartReader<R> {
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        // A CRLF in front of the body lets the first delimiter match like the others.
        let mut buf = vec![0u8; CHUNK + delimiter.len() + MAX_PART_HEAD];
        buf[..2].copy_from_slice(b"\r\n");
        MultipartReader {
            inner,
            buf,
            start: 0,
            end: 2,
            eof: false,
            delimiter,
            state: State::Preamble,
        }
    }

    /// A reader for a body of the given `Content-Type` (which must name a boundary).
    pub fn from_content_type(inner: R, content_type: &str) -> io::Result<MultipartReader<R>> {
        let boundary = boundary_of(content_type)
            .ok_or_else(|| invalid(format!("`{content_type}` names no multipart boundary")))?;
        Ok(MultipartReader::new(inner, &boundary))
    }

    /// Reads more bytes; false at the end of the input.
    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            return Err(invalid("a multipart header block is too large"));
        }
        let n = loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            self.eof = true;
            return Ok(false);
        }
        self.end += n;
        Ok(true)
    }

    /// Copies bytes up to the next delimiter into `out` and consumes the delimiter.
    fn copy_to_delimiter(&mut self, out: &mut impl Write) -> io::Result<u64> {
        let finder = Finder::new(&self.delimiter).into_owned();
        let d = self.delimiter.len();
        let mut n = 0u64;
        loop {
            let window = &self.buf[self.start..self.end];
            if let Some(i) = finder.find(window) {
                out.write_all(&window[..i])?;
                n += i as u64;
                self.start += i + d;
                return Ok(n);
            }
            let safe = window.len().saturating_sub(d - 1);
            if safe > 0 {
                out.write_all(&window[..safe])?;
                n += safe as u64;
                self.start += safe;
            }
            if !self.fill()? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the multipart body ends inside a part (no closing delimiter)",
                ));
            }
        }
    }

    /// Ensures `k` bytes are buffered (false if the input ends first).
    fn want(&mut self, k: usize) -> io::Result<bool> {
        while self.end - self.start < k {
            if !self.fill()? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Moves to the next part and returns its headers, skipping whatever is left of the
    /// current part's body; None after the last part.
    pub fn next_part(&mut self) -> io::Result<Option<Part>> {
        match self.state {
            State::Done => return Ok(None),
            State::Preamble | State::Body => {
                self.copy_to_delimiter(&mut io::sink())?;
                self.state = State::AfterDelimiter;
            }
            State::AfterDelimiter => {}
        }
        if !self.want(2)? {
            return Err(invalid("the multipart body ends after a delimiter"));
        }
        if &self.buf[self.start..self.start + 2] == b"--" {
            self.state = State::Done;
            return Ok(None);
        }
        // Transport padding, then the CRLF that ends the delimiter line.
        loop {
            if !self.want(2)? {
                return Err(invalid("the multipart body ends after a delimiter"));
            }
            match &self.buf[self.start..self.start + 2] {
                b"\r\n" => {
                    self.start += 2;
                    break;
                }
                [b' ' | b'\t', _] => self.start += 1,
                _ => return Err(invalid("garbage after a multipart delimiter")),
            }
        }
        // The header block, up to an empty line.
        let mut part = Part::default();
        loop {
            let window = &self.buf[self.start..self.end];
            if window.starts_with(b"\r\n") {
                self.start += 2;
                break;
            }
            if let Some(i) = memchr::memmem::find(window, b"\r\n\r\n") {
                let block = std::str::from_utf8(&window[..i])
                    .map_err(|_| invalid("multipart part headers are not UTF-8"))?;
                for line in block.split("\r\n") {
                    let (k, v) = line
                        .split_once(':')
                        .ok_or_else(|| invalid("a multipart part header without a colon"))?;
                    part.headers
                        .push((k.trim().to_string(), v.trim().to_string()));
                }
                self.start += i + 4;
                break;
            }
            if window.len() > MAX_PART_HEAD {
                return Err(invalid("a multipart header block is too large"));
            }
            if !self.fill()? {
                return Err(invalid("the multipart body ends inside a part's headers"));
            }
        }
        self.state = State::Body;
        Ok(Some(part))
    }

    /// Copies the body of the current part into `out`; the number of bytes.
    pub fn read_body(&mut self, out: &mut impl Write) -> io::Result<u64> {
        if self.state != State::Body {
            return Err(invalid("no current multipart part"));
        }
        let n = self.copy_to_delimiter(out)?;
        self.state = State::AfterDelimiter;
        Ok(n)
    }
}

/// The bytes that open a part: the delimiter (with a CRLF in front unless it is the first
/// part) and the headers.
pub fn part_head(boundary: &str, first: bool, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    if !first {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"--");
    out.extend_from_slice(boundary.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (k, v) in headers {
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The close delimiter.
pub fn close(boundary: &str) -> Vec<u8> {
    format!("\r\n--{boundary}--\r\n").into_bytes()
}

/// A fresh random boundary.
pub fn new_boundary() -> String {
    let mut b = [0u8; 16];
    // A boundary need not be secret; a clock-based fallback is unique enough.
    if getrandom::fill(&mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b = t.to_le_bytes();
    }
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("hope-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A body with a preamble, or (when `bare`) starting right at the first delimiter.
    fn body(boundary: &str, parts: &[Vec<u8>], bare: bool) -> Vec<u8> {
        let mut out = if bare {
            Vec::new()
        } else {
            b"preamble to ignore".to_vec()
        };
        for (i, p) in parts.iter().enumerate() {
            out.extend(part_head(
                boundary,
                bare && i == 0,
                &[("Content-Type", "application/dicom")],
            ));
            out.extend_from_slice(p);
        }
        out.extend(close(boundary));
        out
    }

    /// A reader that hands out at most `n` bytes per call.
    struct Trickle<'a>(&'a [u8], usize);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn read_all(bytes: &[u8], boundary: &str, step: usize) -> io::Result<Vec<Vec<u8>>> {
        let mut r = MultipartReader::new(Trickle(bytes, step), boundary);
        let mut out = Vec::new();
        while let Some(p) = r.next_part()? {
            assert_eq!(p.content_type(), Some("application/dicom"));
            let mut v = Vec::new();
            r.read_body(&mut v)?;
            out.push(v);
        }
        Ok(out)
    }

    #[test]
    fn parts_come_back_whole_whatever_the_read_sizes() {
        let parts = vec![
            b"abc".to_vec(),
            Vec::new(),
            vec![b'\r'; 70_000],
            b"--x\r\n--".to_vec(),
        ];
        for bare in [false, true] {
            let b = body("bnd", &parts, bare);
            for step in [1, 3, 17, 4096, 1 << 20] {
                assert_eq!(read_all(&b, "bnd", step).unwrap(), parts, "step {step}");
            }
        }
    }

    #[test]
    fn truncated_bodies_and_bad_content_types_are_errors() {
        let b = body("bnd", &[b"abc".to_vec()], true);
        assert!(read_all(&b[..b.len() - 10], "bnd", 5).is_err());
        assert!(MultipartReader::from_content_type(&b[..], "multipart/related").is_err());
        let r = MultipartReader::from_content_type(
            &b[..],
            "multipart/related; type=\"application/dicom\"; boundary=\"bnd\"",
        );
        assert!(r.is_ok());
    }

    proptest! {
        #[test]
        fn arbitrary_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..600), boundary in "[a-z0-9-]{0,12}", step in 1usize..50) {
            let mut r = MultipartReader::new(Trickle(&body, step), &boundary);
            for _ in 0..32 {
                match r.next_part() {
                    Ok(Some(_)) => if r.read_body(&mut io::sink()).is_err() { break },
                    _ => break,
                }
            }
        }

        #[test]
        fn any_bodies_round_trip(parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..5), step in 1usize..64) {
            let b = body("q1w2e3", &parts, step % 2 == 0);
            prop_assert_eq!(read_all(&b, "q1w2e3", step).unwrap(), parts);
        }
    }
}
