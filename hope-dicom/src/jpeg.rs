//! A decoder for sequential DCT JPEG (ISO/IEC 10918-1 processes 1, 2 and 4: baseline and extended,
//! Huffman coding, 8- and 12-bit sample precision) for grey-scale images, written for DICOM transfer
//! syntax 1.2.840.10008.1.2.4.51 (JPEG Extended), whose 12-bit form the pure-Rust decoder that
//! dicom-pixeldata uses does not support.
//!
//! What it handles: one component (any sampling factors, since a single-component scan is never
//! interleaved; ITU-T T.81 A.2.2), quantisation tables of 8 or 16 bits, restart intervals, fill
//! bytes, application and comment segments, several images one after the other in one buffer (the
//! frames of a multi-frame DICOM object). Anything else (progressive, lossless, arithmetic coding,
//! hierarchical, colour, DNL) is refused with a message that names it.
//!
//! The inverse DCT is the defining formula (T.81 A.3.3), evaluated separably in double precision
//! and rounded, so that results differ from a fast integer IDCT (IJG's, DCMTK's) by at most one
//! sample value at a few pixels; ISO/IEC 10918-2 allows such differences.

use std::fmt;

/// Zig-zag order: position `k` of the coded sequence is coefficient `ZIGZAG[k]` (row-major) of
/// the 8x8 block (T.81 figure A.6).
const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// Why a JPEG stream could not be decoded, with the byte offset where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JpegError {
    /// Byte offset in the buffer.
    pub offset: usize,
    /// What was wrong.
    pub message: String,
}

impl fmt::Display for JpegError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JPEG stream, byte {}: {}", self.offset, self.message)
    }
}

impl std::error::Error for JpegError {}

fn err<T>(offset: usize, message: impl Into<String>) -> Result<T, JpegError> {
    Err(JpegError {
        offset,
        message: message.into(),
    })
}

/// A decoded grey-scale image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GreyImage {
    /// Samples per line.
    pub width: usize,
    /// Lines.
    pub height: usize,
    /// Sample precision in bits (8 or 12).
    pub precision: u8,
    /// Samples, row-major, each in `0..2^precision`.
    pub samples: Vec<u16>,
}

/// A Huffman table in the form of T.81 F.2.2.3 (MAXCODE, VALPTR, MINCODE), with an 8-bit lookahead
/// for the short codes.
#[derive(Debug, Clone)]
struct Huffman {
    maxcode: [i32; 17],
    valptr: [usize; 17],
    mincode: [i32; 17],
    values: Vec<u8>,
    /// For the next 8 bits: (code length, value) when a code of at most 8 bits matches; length 0 if not.
    fast: [(u8, u8); 256],
}

impl Huffman {
    fn new(counts: &[u8; 16], values: Vec<u8>, offset: usize) -> Result<Self, JpegError> {
        let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
        if total != values.len() || total > 256 {
            return err(offset, "Huffman table: code counts do not match the values");
        }
        let mut maxcode = [-1i32; 17];
        let mut valptr = [0usize; 17];
        let mut mincode = [0i32; 17];
        let mut fast = [(0u8, 0u8); 256];
        let mut code: i32 = 0;
        let mut k = 0usize;
        for len in 1..=16usize {
            let n = usize::from(counts[len - 1]);
            if n > 0 {
                valptr[len] = k;
                mincode[len] = code;
                for _ in 0..n {
                    if code >= (1 << len) {
                        return err(
                            offset,
                            format!("Huffman table: too many codes of length {len}"),
                        );
                    }
                    if len <= 8 {
                        let shift = 8 - len;
                        let first = (code as usize) << shift;
                        for e in &mut fast[first..first + (1 << shift)] {
                            *e = (len as u8, values[k]);
                        }
                    }
                    code += 1;
                    k += 1;
                }
                maxcode[len] = code - 1;
            }
            code <<= 1;
        }
        Ok(Self {
            maxcode,
            valptr,
            mincode,
            values,
            fast,
        })
    }
}

/// Reads the entropy-coded segment bit by bit, undoing byte stuffing; stops at a marker.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u64,
    nbits: u32,
    /// A marker (other than stuffing) was reached at `pos`; only zero bits follow.
    at_marker: bool,
    /// Zero bits handed out past a marker (a corrupt stream if it grows beyond the padding).
    overrun: u32,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8], pos: usize) -> Self {
        Self {
            data,
            pos,
            acc: 0,
            nbits: 0,
            at_marker: false,
            overrun: 0,
        }
    }

    fn fill(&mut self) {
        while self.nbits <= 56 {
            let mut byte = 0u8;
            if !self.at_marker {
                match self.data.get(self.pos) {
                    None => self.at_marker = true,
                    Some(&0xFF) => match self.data.get(self.pos + 1) {
                        Some(0x00) => {
                            byte = 0xFF;
                            self.pos += 2;
                        }
                        _ => self.at_marker = true,
                    },
                    Some(&b) => {
                        byte = b;
                        self.pos += 1;
                    }
                }
            }
            if self.at_marker {
                self.overrun += 8;
            }
            self.acc |= u64::from(byte) << (56 - self.nbits);
            self.nbits += 8;
        }
    }

    fn peek8(&mut self) -> usize {
        if self.nbits < 8 {
            self.fill();
        }
        (self.acc >> 56) as usize
    }

    fn consume(&mut self, n: u32) {
        self.acc <<= n;
        self.nbits -= n;
    }

    fn bits(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        if self.nbits < n {
            self.fill();
        }
        let v = (self.acc >> (64 - n)) as u32;
        self.consume(n);
        v
    }

    fn decode(&mut self, h: &Huffman) -> Result<u8, JpegError> {
        let (len, value) = h.fast[self.peek8()];
        if len > 0 {
            self.consume(u32::from(len));
            return Ok(value);
        }
        let mut code = self.bits(8) as i32;
        for len in 9..=16 {
            code = (code << 1) | self.bits(1) as i32;
            if code <= h.maxcode[len] {
                let i = h.valptr[len] + (code - h.mincode[len]) as usize;
                return h.values.get(i).copied().ok_or_else(|| JpegError {
                    offset: self.pos,
                    message: "Huffman value index out of range".into(),
                });
            }
        }
        err(
            self.pos,
            "no Huffman code matches the data (corrupt stream)",
        )
    }

    /// RECEIVE and EXTEND of T.81 F.2.2.1: `s` bits as a signed difference.
    fn signed(&mut self, s: u8) -> i32 {
        if s == 0 {
            return 0;
        }
        let s = u32::from(s);
        let v = self.bits(s) as i32;
        if v < (1 << (s - 1)) {
            v - (1 << s) + 1
        } else {
            v
        }
    }

    /// The position of the marker that follows the entropy-coded data read so far (for a restart
    /// marker or the end of the scan); the bits left in the accumulator are padding. An error if
    /// decoding needed more bits than the data had.
    fn marker_pos(&self) -> Result<usize, JpegError> {
        // Zero bits made up past the marker and already consumed: the data was too short.
        if self.overrun > self.nbits {
            return err(
                self.pos,
                "entropy-coded data ends before the image is complete",
            );
        }
        // Normally `pos` is at the marker already; skip any surplus entropy-coded bytes.
        let mut p = self.pos;
        while p < self.data.len() {
            if self.data[p] == 0xFF {
                match self.data.get(p + 1) {
                    Some(0x00) => p += 2,
                    Some(0xFF) => p += 1,
                    _ => return Ok(p),
                }
            } else {
                p += 1;
            }
        }
        err(p, "no marker after the entropy-coded data")
    }
}

/// The 8x8 inverse DCT as the separable sum of T.81 A.3.3, in double precision.
struct Idct {
    /// `c[x][u] = C(u)/2 cos((2x+1) u pi / 16)`.
    c: [[f64; 8]; 8],
}

impl Idct {
    fn new() -> Self {
        let mut c = [[0.0; 8]; 8];
        for (x, row) in c.iter_mut().enumerate() {
            for (u, v) in row.iter_mut().enumerate() {
                let cu = if u == 0 {
                    std::f64::consts::FRAC_1_SQRT_2
                } else {
                    1.0
                };
                *v = cu / 2.0 * ((2 * x + 1) as f64 * u as f64 * std::f64::consts::PI / 16.0).cos();
            }
        }
        Self { c }
    }

    /// Dequantised coefficients (row-major, `[v * 8 + u]`) to samples, level-shifted, rounded and
    /// clamped to `0..=max`.
    fn block(&self, coef: &[i32; 64], level: f64, max: f64, out: &mut [f64; 64]) {
        // Rows first: tmp[v][x] = sum_u c[x][u] F[v][u].
        let mut tmp = [0.0f64; 64];
        for v in 0..8 {
            let row = &coef[v * 8..v * 8 + 8];
            if row[1..].iter().all(|&x| x == 0) {
                let dc = f64::from(row[0]) * self.c[0][0];
                tmp[v * 8..v * 8 + 8].fill(dc);
                continue;
            }
            for (x, cx) in self.c.iter().enumerate() {
                tmp[v * 8 + x] = cx.iter().zip(row).map(|(c, &f)| c * f64::from(f)).sum();
            }
        }
        for x in 0..8 {
            for y in 0..8 {
                let mut s = 0.0;
                for v in 0..8 {
                    s += self.c[y][v] * tmp[v * 8 + x];
                }
                out[y * 8 + x] = (s + level).round().clamp(0.0, max);
            }
        }
    }
}

fn u16_at(data: &[u8], pos: usize) -> Result<usize, JpegError> {
    match data.get(pos..pos + 2) {
        Some(b) => Ok(usize::from(u16::from_be_bytes([b[0], b[1]]))),
        None => err(pos, "truncated marker segment"),
    }
}

/// The name of a start-of-frame marker this decoder refuses.
fn unsupported_process(marker: u8) -> Option<&'static str> {
    Some(match marker {
        0xC2 => "progressive DCT (SOF2)",
        0xC3 => "lossless (SOF3; decoded by the JPEG Lossless transfer syntaxes instead)",
        0xC5..=0xC7 => "hierarchical (SOF5-7)",
        0xC9..=0xCB | 0xCD..=0xCF => "arithmetic coding (SOF9-15)",
        _ => return None,
    })
}

/// Decodes one image that starts at `start` (its SOI marker, possibly after padding bytes);
/// returns it and the offset just after its EOI marker.
pub fn decode(data: &[u8], start: usize) -> Result<(GreyImage, usize), JpegError> {
    let mut pos = start;
    while data.get(pos) == Some(&0) {
        pos += 1;
    }
    if data.get(pos..pos + 2) != Some(&[0xFF, 0xD8]) {
        return err(pos, "no SOI marker (FF D8) where an image should start");
    }
    pos += 2;
    let mut qt: [Option<[u16; 64]>; 4] = [None; 4];
    let mut dc: [Option<Huffman>; 4] = [None, None, None, None];
    let mut ac: [Option<Huffman>; 4] = [None, None, None, None];
    let mut restart = 0usize;
    // (precision, height, width, component id, quantisation table).
    let mut frame: Option<(u8, usize, usize, u8, usize)> = None;
    let mut image: Option<GreyImage> = None;
    loop {
        if data.get(pos) != Some(&0xFF) {
            return err(pos, "expected a marker");
        }
        while data.get(pos + 1) == Some(&0xFF) {
            pos += 1; // fill bytes
        }
        let Some(&marker) = data.get(pos + 1) else {
            return err(pos, "truncated before EOI");
        };
        let seg = pos + 2;
        match marker {
            0xD9 => {
                return match image {
                    Some(img) => Ok((img, seg)),
                    None => err(pos, "EOI before any scan"),
                };
            }
            0xD0..=0xD7 | 0x01 => {
                pos = seg; // stray RST or TEM: no segment
                continue;
            }
            _ => {}
        }
        let len = u16_at(data, seg)?;
        let end = seg + len;
        if len < 2 || end > data.len() {
            return err(
                seg,
                format!("marker FF{marker:02X}: segment length {len} runs past the data"),
            );
        }
        let body = &data[seg + 2..end];
        match marker {
            0xDB => {
                let mut p = 0;
                while p < body.len() {
                    let (pq, tq) = (body[p] >> 4, usize::from(body[p] & 15));
                    let size = if pq == 0 { 64 } else { 128 };
                    if tq > 3 || pq > 1 || p + 1 + size > body.len() {
                        return err(seg + 2 + p, "DQT: bad table header or length");
                    }
                    let mut t = [0u16; 64];
                    for (k, q) in t.iter_mut().enumerate() {
                        *q = if pq == 0 {
                            u16::from(body[p + 1 + k])
                        } else {
                            u16::from_be_bytes([body[p + 1 + 2 * k], body[p + 2 + 2 * k]])
                        };
                    }
                    qt[tq] = Some(t);
                    p += 1 + size;
                }
            }
            0xC4 => {
                let mut p = 0;
                while p < body.len() {
                    if p + 17 > body.len() {
                        return err(seg + 2 + p, "DHT: truncated table");
                    }
                    let (tc, th) = (body[p] >> 4, usize::from(body[p] & 15));
                    let mut counts = [0u8; 16];
                    counts.copy_from_slice(&body[p + 1..p + 17]);
                    let n: usize = counts.iter().map(|&c| usize::from(c)).sum();
                    if tc > 1 || th > 3 || p + 17 + n > body.len() {
                        return err(seg + 2 + p, "DHT: bad table class, id or length");
                    }
                    let h = Huffman::new(&counts, body[p + 17..p + 17 + n].to_vec(), seg + 2 + p)?;
                    if tc == 0 {
                        dc[th] = Some(h);
                    } else {
                        ac[th] = Some(h);
                    }
                    p += 17 + n;
                }
            }
            0xDD => restart = u16_at(data, seg + 2)?,
            0xC0 | 0xC1 => {
                if body.len() < 6 {
                    return err(seg, "SOF: truncated");
                }
                let precision = body[0];
                let height = usize::from(u16::from_be_bytes([body[1], body[2]]));
                let width = usize::from(u16::from_be_bytes([body[3], body[4]]));
                let nf = body[5];
                if precision != 8 && (precision != 12 || marker == 0xC0) {
                    return err(
                        seg,
                        format!(
                            "SOF{}: sample precision {precision} (8, or 12 for extended, expected)",
                            marker - 0xC0
                        ),
                    );
                }
                if nf != 1 {
                    return err(
                        seg,
                        format!(
                            "{nf} components; only grey-scale (1 component) images are decoded"
                        ),
                    );
                }
                if height == 0 {
                    return err(
                        seg,
                        "image height 0 (height given by a DNL marker is not supported)",
                    );
                }
                if width == 0 || body.len() < 9 {
                    return err(seg, "SOF: width 0 or truncated component");
                }
                let tq = usize::from(body[8]);
                if tq > 3 {
                    return err(seg, format!("quantisation table {tq}"));
                }
                frame = Some((precision, height, width, body[6], tq));
            }
            0xDA => {
                let Some((precision, height, width, comp, tq)) = frame else {
                    return err(pos, "SOS before a supported SOF");
                };
                if image.is_some() {
                    return err(
                        pos,
                        "more than one scan (only sequential single-scan images are decoded)",
                    );
                }
                if body.len() < 6 || body[0] != 1 || body[1] != comp {
                    return err(seg, "SOS: expected one component, the frame's");
                }
                let (td, ta) = (usize::from(body[2] >> 4), usize::from(body[2] & 15));
                if body[3] != 0 || body[4] != 63 || body[5] != 0 {
                    return err(
                        seg,
                        "SOS: spectral selection or successive approximation in a sequential scan",
                    );
                }
                let (Some(Some(dct)), Some(Some(act))) = (dc.get(td), ac.get(ta)) else {
                    return err(
                        seg,
                        format!("SOS: Huffman tables DC {td} / AC {ta} not defined"),
                    );
                };
                let Some(q) = qt[tq] else {
                    return err(seg, format!("quantisation table {tq} not defined"));
                };
                let (img, next) = scan(data, end, precision, height, width, restart, dct, act, &q)?;
                image = Some(img);
                pos = next;
                continue;
            }
            m if unsupported_process(m).is_some() => {
                return err(
                    pos,
                    format!(
                        "unsupported JPEG process: {}",
                        unsupported_process(m).unwrap_or("")
                    ),
                );
            }
            0xDC => {
                return err(
                    pos,
                    "DNL marker (height defined after the scan) is not supported",
                );
            }
            _ => {} // APPn, COM, DAC-free others: skipped
        }
        pos = end;
    }
}

/// Decodes the entropy-coded data of a single-component sequential scan starting at `pos`;
/// returns the image and the position of the marker that ends the scan.
#[allow(clippy::too_many_arguments)]
fn scan(
    data: &[u8],
    pos: usize,
    precision: u8,
    height: usize,
    width: usize,
    restart: usize,
    dc: &Huffman,
    ac: &Huffman,
    q: &[u16; 64],
) -> Result<(GreyImage, usize), JpegError> {
    let bw = width.div_ceil(8);
    let bh = height.div_ceil(8);
    let level = f64::from(1u32 << (precision - 1));
    let max = f64::from((1u32 << precision) - 1);
    let idct = Idct::new();
    // Every block costs at least two bits (a DC code and an end-of-block code), so the data bounds
    // the image size: refuse a frame header that claims more before allocating for it.
    let available = data.len().saturating_sub(pos);
    if bw * bh > available.saturating_mul(4) {
        return err(
            pos,
            format!(
                "a {width}x{height} image cannot fit in {available} bytes of entropy-coded data"
            ),
        );
    }
    let mut samples = vec![0u16; width * height];
    let mut bits = Bits::new(data, pos);
    let mut pred = 0i32;
    let mut out = [0.0f64; 64];
    let max_dc_size = precision + 3; // 11 or 15 bits of DC difference (T.81 F.1.2.1)
    let max_ac_size = precision + 2; // 10 or 14 bits of AC value
    for b in 0..bw * bh {
        if restart > 0 && b > 0 && b % restart == 0 {
            let m = bits.marker_pos()?;
            match data.get(m..m + 2) {
                Some([0xFF, r]) if (0xD0..=0xD7).contains(r) => {
                    let expected = 0xD0 + ((b / restart - 1) % 8) as u8;
                    if *r != expected {
                        return err(
                            m,
                            format!(
                                "restart marker RST{} where RST{} was due",
                                r - 0xD0,
                                expected - 0xD0
                            ),
                        );
                    }
                    bits = Bits::new(data, m + 2);
                    pred = 0;
                }
                _ => return err(m, "restart marker missing"),
            }
        }
        let mut coef = [0i32; 64];
        let s = bits.decode(dc)?;
        if s > max_dc_size {
            return err(
                bits.pos,
                format!("DC difference of {s} bits in a {precision}-bit image"),
            );
        }
        pred += bits.signed(s);
        coef[0] = pred * i32::from(q[0]);
        let mut k = 1usize;
        while k < 64 {
            let rs = bits.decode(ac)?;
            let (r, s) = (usize::from(rs >> 4), rs & 15);
            if s == 0 {
                if r == 15 {
                    k += 16;
                    continue;
                }
                break; // end of block
            }
            k += r;
            if k > 63 || s > max_ac_size {
                return err(
                    bits.pos,
                    "AC coefficient past the end of the block (corrupt stream)",
                );
            }
            coef[ZIGZAG[k]] = bits.signed(s) * i32::from(q[k]);
            k += 1;
        }
        if k > 64 {
            return err(
                bits.pos,
                "zero run past the end of the block (corrupt stream)",
            );
        }
        idct.block(&coef, level, max, &mut out);
        let (x0, y0) = ((b % bw) * 8, (b / bw) * 8);
        for y in 0..8.min(height - y0) {
            for x in 0..8.min(width - x0) {
                samples[(y0 + y) * width + x0 + x] = out[y * 8 + x] as u16;
            }
        }
    }
    let end = bits.marker_pos()?;
    Ok((
        GreyImage {
            width,
            height,
            precision,
            samples,
        },
        end,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idct_of_a_dc_only_block_is_flat() {
        let idct = Idct::new();
        let mut coef = [0i32; 64];
        coef[0] = 80; // DC 80 -> 80/8 = 10 above the level shift
        let mut out = [0.0; 64];
        idct.block(&coef, 128.0, 255.0, &mut out);
        assert!(out.iter().all(|&v| v == 138.0), "{out:?}");
    }

    #[test]
    fn huffman_tables_reject_overfull_code_spaces() {
        let mut counts = [0u8; 16];
        counts[0] = 3; // three 1-bit codes cannot exist
        assert!(Huffman::new(&counts, vec![0, 1, 2], 0).is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode(&[], 0).is_err());
        assert!(decode(&[0xFF, 0xD8], 0).is_err());
        assert!(decode(&[0xFF, 0xD8, 0xFF, 0xC1, 0x00], 0).is_err());
        let mut x = vec![0xFF, 0xD8];
        x.extend_from_slice(&[0xFF, 0xC1, 0, 11, 12, 0, 8, 0, 8, 1, 1, 0x11, 0]);
        x.extend_from_slice(&[0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0]);
        assert!(
            decode(&x, 0)
                .unwrap_err()
                .message
                .contains("Huffman tables")
        );
    }

    #[test]
    fn a_huge_frame_header_is_refused_before_allocation() {
        // SOF1 claiming 65535 x 65535, one DC and one AC table of one 1-bit code, a short scan
        // (found by the jpeg_decode fuzz target: it allocated 8 GiB).
        let mut x = vec![0xFF, 0xD8];
        x.extend_from_slice(&[0xFF, 0xC1, 0, 11, 8, 0xFF, 0xFF, 0xFF, 0xFF, 1, 1, 0x11, 0]);
        x.extend_from_slice(&[0xFF, 0xDB, 0, 67, 0]);
        x.extend_from_slice(&[1u8; 64]);
        for class in [0x00u8, 0x10] {
            x.extend_from_slice(&[0xFF, 0xC4, 0, 20, class, 1]);
            x.extend_from_slice(&[0u8; 15]);
            x.push(0);
        }
        x.extend_from_slice(&[0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0, 0, 0, 0, 0, 0xFF, 0xD9]);
        let e = decode(&x, 0).unwrap_err();
        assert!(e.message.contains("cannot fit"), "{e}");
    }
}
