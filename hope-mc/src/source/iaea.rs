//! IAEA phase-space files (`NAME.IAEAheader` + `NAME.IAEAphsp`): the format in which linac
//! models and the IAEA phase-space database publish the particles crossing a plane (Capote et
//! al., IAEA report INDC(NDS)-0484, 2006). Read into memory as a source ([`PhaseSpace`]), and
//! written ([`PhaseSpaceWriter`]), so that a run can score the particles crossing a plane.
//!
//! The format, as this module reads it:
//! - The header is text in blocks: a line `$NAME:` starts a block, whose value is the lines up
//!   to the next `$` line; `//` and `/* */` comments and blank lines are ignored. Required:
//!   `$FILE_TYPE` (0, a phase space; 1, an event generator, is refused), `$CHECKSUM` (the data
//!   file's size in bytes, `$RECORD_LENGTH` x `$PARTICLES`), `$RECORD_CONTENTS`,
//!   `$RECORD_CONSTANT` (may be empty), `$RECORD_LENGTH`, `$BYTE_ORDER` (1234 little-endian,
//!   4321 big-endian), `$ORIG_HISTORIES` and `$PARTICLES`. The other blocks are informative.
//! - `$RECORD_CONTENTS`: whether X, Y, Z, U, V, W and the weight are stored (1) or constant (0),
//!   the numbers of extra floats and extra longs (at most 10 each), then their type codes (an
//!   extra long of type 1 is the incremental history number). `$RECORD_CONSTANT`: the values of
//!   those not stored, in that order.
//! - A record: the particle type (a signed byte: 1 photon, 2 electron, 3 positron, 4 neutron, 5
//!   proton; negative when W < 0), the kinetic energy in MeV (a float, negative for the first
//!   particle of a new history), then the stored floats X, Y, Z (cm), U, V, the weight, the extra
//!   floats, and the extra longs (4 bytes each). W is never stored: with the W flag set it is
//!   sqrt(1 - U^2 - V^2) with the type byte's sign. A record is therefore
//!   1 + 4 (1 + stored among X, Y, Z, U, V, weight + extra floats) + 4 extra longs bytes, and
//!   `$RECORD_LENGTH` must say so.
//!
//! Every malformed value is an error naming the file and the block (or the record).

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The largest header read, bytes.
pub const MAX_HEADER_BYTES: u64 = 1 << 20;
/// The most particles read into memory (each takes 36 bytes).
pub const MAX_PARTICLES: u64 = 1 << 25;
/// The most extra floats or extra longs a record may carry.
pub const MAX_EXTRAS: usize = 10;
/// The highest kinetic energy of a record, MeV (where the physics data end).
pub const MAX_ENERGY_MEV: f32 = 100.0;
/// The lowest, MeV (1 eV: smaller values are damaged data, as big-endian data read as
/// little-endian).
pub const MIN_ENERGY_MEV: f32 = 1e-6;
/// The largest weight of a record (the tallies' fixed-point sums would saturate far above).
pub const MAX_WEIGHT: f64 = 1e6;

/// A particle kind of the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Type 1.
    Photon,
    /// Type 2.
    Electron,
    /// Type 3.
    Positron,
    /// Type 4 (read, not transported).
    Neutron,
    /// Type 5 (read, not transported).
    Proton,
}

impl Kind {
    fn code(self) -> i8 {
        match self {
            Kind::Photon => 1,
            Kind::Electron => 2,
            Kind::Positron => 3,
            Kind::Neutron => 4,
            Kind::Proton => 5,
        }
    }

    fn from_code(code: i8) -> Option<Self> {
        Some(match code.unsigned_abs() {
            1 => Kind::Photon,
            2 => Kind::Electron,
            3 => Kind::Positron,
            4 => Kind::Neutron,
            5 => Kind::Proton,
            _ => return None,
        })
    }
}

/// One particle of a phase space, in the file's frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Particle {
    /// What it is.
    pub kind: Kind,
    /// Kinetic energy, MeV.
    pub energy_mev: f32,
    /// Position, cm.
    pub position_cm: [f32; 3],
    /// Direction cosines (a unit vector).
    pub direction: [f32; 3],
    /// Statistical weight.
    pub weight: f32,
    /// The first particle of a new original history.
    pub new_history: bool,
}

/// Byte order of the data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteOrder {
    /// 1234.
    Little,
    /// 4321.
    Big,
}

/// The values of X, Y, Z, U, V, W and the weight: stored in each record, or one constant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// In each record (W: computed from U and V, its sign from the type byte).
    Stored,
    /// The same for every record.
    Constant(f32),
}

/// A phase space's header, as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// X, Y, Z, U, V, W, weight.
    pub values: [Value; 7],
    /// Type codes of the extra floats.
    pub extra_floats: Vec<i32>,
    /// Type codes of the extra longs (1: the incremental history number).
    pub extra_longs: Vec<i32>,
    /// Bytes per record.
    pub record_length: usize,
    /// Byte order of the data.
    pub byte_order: ByteOrder,
    /// Histories of the simulation that produced the file (those that left no particle too).
    pub original_histories: u64,
    /// Records in the data file.
    pub particles: u64,
}

impl Header {
    /// The record length the contents imply.
    pub fn stride(&self) -> usize {
        let stored = [0, 1, 2, 3, 4, 6]
            .iter()
            .filter(|&&i| self.values[i] == Value::Stored)
            .count();
        1 + 4 * (1 + stored + self.extra_floats.len()) + 4 * self.extra_longs.len()
    }
}

/// The two files of a phase space named by either of them or by their common stem.
pub fn paths(path: &Path) -> (PathBuf, PathBuf) {
    let s = path.to_string_lossy();
    let stem = s
        .strip_suffix(".IAEAheader")
        .or_else(|| s.strip_suffix(".IAEAphsp"))
        .unwrap_or(&s)
        .to_string();
    (
        PathBuf::from(format!("{stem}.IAEAheader")),
        PathBuf::from(format!("{stem}.IAEAphsp")),
    )
}

fn bad(path: &Path, field: &str, message: impl Into<String>) -> Error {
    Error::PhaseSpace {
        path: path.to_path_buf(),
        field: field.to_string(),
        message: message.into(),
    }
}

/// The blocks of a header: name and its value lines (comments and blank lines removed); an
/// unterminated `/*` comment or a block given twice is an error.
fn blocks(path: &Path, text: &str) -> Result<Vec<(String, Vec<String>)>> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut in_comment = false;
    for raw in text.lines() {
        // Strip /* */ (possibly spanning lines) and // comments.
        let mut line = String::new();
        let mut rest = raw;
        loop {
            if in_comment {
                match rest.find("*/") {
                    Some(i) => {
                        rest = &rest[i + 2..];
                        in_comment = false;
                    }
                    None => break,
                }
            } else {
                let block = rest.find("/*");
                let slash = rest.find("//");
                match (block, slash) {
                    (Some(b), s) if s.is_none_or(|s| b < s) => {
                        line.push_str(&rest[..b]);
                        rest = &rest[b + 2..];
                        in_comment = true;
                    }
                    (_, Some(s)) => {
                        line.push_str(&rest[..s]);
                        break;
                    }
                    _ => {
                        line.push_str(rest);
                        break;
                    }
                }
            }
        }
        let line = line.trim();
        if let Some(name) = line.strip_prefix('$')
            && let Some((name, rest)) = name.split_once(':')
        {
            let name = name.trim().to_string();
            // A set of the names seen: a header of many blocks is read in linear time.
            if !seen.insert(name.clone()) {
                return Err(bad(
                    path,
                    &format!("${}", clip(&name)),
                    "given twice (readers disagree on which copy counts)",
                ));
            }
            // A value on the name's line counts as the block's first line.
            let rest = rest.trim();
            let first = if rest.is_empty() {
                Vec::new()
            } else {
                vec![rest.to_string()]
            };
            out.push((name, first));
            continue;
        }
        if line.is_empty() {
            continue;
        }
        if let Some((_, values)) = out.last_mut() {
            values.push(line.to_string());
        }
    }
    if in_comment {
        return Err(bad(
            path,
            "header",
            "a /* comment is not closed (it would hide every block after it)",
        ));
    }
    Ok(out)
}

/// At most 40 characters of a value for an error message.
fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if s.chars().count() > 40 {
        out.push_str("...");
    }
    out
}

/// The size of a phase space's data file, a regular file (opened without blocking).
pub fn data_len(data_path: &Path) -> Result<u64> {
    hope_core::fs::open_regular(data_path)
        .and_then(|f| f.metadata())
        .map(|m| m.len())
        .map_err(|e| bad(data_path, "data file", format!("not readable: {e}")))
}

/// Reads and checks a header; `data_len` is the data file's size in bytes.
pub fn read_header(header_path: &Path, data_len: u64) -> Result<Header> {
    let bytes = hope_core::fs::read_bounded(header_path, MAX_HEADER_BYTES)
        .map_err(|e| bad(header_path, "header", format!("not readable: {e}")))?;
    let text = String::from_utf8_lossy(&bytes);
    parse_header(header_path, &text, data_len)
}

/// Parses a header's text (`path` names it in errors).
pub fn parse_header(path: &Path, text: &str, data_len: u64) -> Result<Header> {
    let blocks = blocks(path, text)?;
    let block = |name: &str| -> Result<&Vec<String>> {
        blocks
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .ok_or_else(|| bad(path, &format!("${name}"), "missing"))
    };
    // The first whitespace-separated word of a line as a number.
    let number = |name: &str, line: &str| -> Result<f64> {
        let word = line.split_whitespace().next().unwrap_or("");
        word.parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| {
                bad(
                    path,
                    &format!("${name}"),
                    format!("{:?} is not a number", clip(word)),
                )
            })
    };
    let count = |name: &str| -> Result<u64> {
        let v = block(name)?;
        let line = v
            .first()
            .ok_or_else(|| bad(path, &format!("${name}"), "no value"))?;
        let x = number(name, line)?;
        if x < 0.0 || x.fract() != 0.0 || x > 9.0e15 {
            return Err(bad(
                path,
                &format!("${name}"),
                format!("{x}; expected a whole number >= 0"),
            ));
        }
        Ok(x as u64)
    };
    let file_type = count("FILE_TYPE")?;
    if file_type != 0 {
        return Err(bad(
            path,
            "$FILE_TYPE",
            format!("{file_type}; only 0 (a phase-space file) is read, not event generators"),
        ));
    }
    let contents = block("RECORD_CONTENTS")?;
    let int_at = |i: usize| -> Result<i64> {
        let line = contents
            .get(i)
            .ok_or_else(|| bad(path, "$RECORD_CONTENTS", format!("line {} missing", i + 1)))?;
        let x = number("RECORD_CONTENTS", line)?;
        if x.fract() != 0.0 || x.abs() > 1e6 {
            return Err(bad(
                path,
                "$RECORD_CONTENTS",
                format!("line {}: {x} is not an integer", i + 1),
            ));
        }
        Ok(x as i64)
    };
    let mut flags = [false; 7];
    for (i, f) in flags.iter_mut().enumerate() {
        *f = match int_at(i)? {
            0 => false,
            1 => true,
            other => {
                return Err(bad(
                    path,
                    "$RECORD_CONTENTS",
                    format!(
                        "line {} ({} stored): {other}; expected 0 or 1",
                        i + 1,
                        ["X", "Y", "Z", "U", "V", "W", "weight"][i]
                    ),
                ));
            }
        };
    }
    let extras = |i: usize, what: &str| -> Result<usize> {
        let n = int_at(i)?;
        usize::try_from(n)
            .ok()
            .filter(|n| *n <= MAX_EXTRAS)
            .ok_or_else(|| {
                bad(
                    path,
                    "$RECORD_CONTENTS",
                    format!("{n} extra {what}; expected 0 to {MAX_EXTRAS}"),
                )
            })
    };
    let (nf, nl) = (extras(7, "floats")?, extras(8, "longs")?);
    let extra_floats = (0..nf)
        .map(|k| int_at(9 + k).map(|x| x as i32))
        .collect::<Result<Vec<_>>>()?;
    let extra_longs = (0..nl)
        .map(|k| int_at(9 + nf + k).map(|x| x as i32))
        .collect::<Result<Vec<_>>>()?;
    if flags[3] != flags[4] {
        return Err(bad(
            path,
            "$RECORD_CONTENTS",
            "U and V: stored both or neither",
        ));
    }
    let constants = block("RECORD_CONSTANT")?;
    let needed = flags.iter().filter(|f| !**f).count();
    if constants.len() != needed {
        return Err(bad(
            path,
            "$RECORD_CONSTANT",
            format!(
                "{} values; expected {needed}, one for each of X, Y, Z, U, V, W, weight not stored",
                constants.len()
            ),
        ));
    }
    let mut next = constants.iter();
    let mut values = [Value::Stored; 7];
    for (i, (v, stored)) in values.iter_mut().zip(flags).enumerate() {
        if !stored {
            let line = next.next().map_or("", String::as_str);
            let c = number("RECORD_CONSTANT", line)?;
            let what = ["X", "Y", "Z", "U", "V", "W", "weight"][i];
            let ok = match i {
                0..=2 => c.abs() <= 1e6,
                3..=5 => c.abs() <= 1.0,
                _ => (0.0..=MAX_WEIGHT).contains(&c),
            };
            if !ok {
                return Err(bad(
                    path,
                    "$RECORD_CONSTANT",
                    format!("constant {what} {c:e} out of range"),
                ));
            }
            *v = Value::Constant(c as f32);
        }
    }
    let record_length = usize::try_from(count("RECORD_LENGTH")?).unwrap_or(usize::MAX);
    let byte_order = match count("BYTE_ORDER")? {
        1234 => ByteOrder::Little,
        4321 => ByteOrder::Big,
        other => {
            return Err(bad(
                path,
                "$BYTE_ORDER",
                format!("{other}; expected 1234 (little-endian) or 4321 (big-endian)"),
            ));
        }
    };
    let header = Header {
        values,
        extra_floats,
        extra_longs,
        record_length,
        byte_order,
        original_histories: count("ORIG_HISTORIES")?,
        particles: count("PARTICLES")?,
    };
    if header.record_length != header.stride() {
        return Err(bad(
            path,
            "$RECORD_LENGTH",
            format!(
                "{}; the record contents make {} bytes",
                header.record_length,
                header.stride()
            ),
        ));
    }
    let checksum = count("CHECKSUM")?;
    let expected = header.particles.saturating_mul(header.record_length as u64);
    if checksum != expected {
        return Err(bad(
            path,
            "$CHECKSUM",
            format!("{checksum}; $RECORD_LENGTH x $PARTICLES is {expected}"),
        ));
    }
    if data_len != checksum {
        return Err(bad(
            path,
            "$CHECKSUM",
            format!(
                "{checksum} bytes, but the data file has {data_len} (truncated or not this header's)"
            ),
        ));
    }
    if header.particles > MAX_PARTICLES {
        return Err(bad(
            path,
            "$PARTICLES",
            format!("{}; at most {MAX_PARTICLES} are read", header.particles),
        ));
    }
    if header.original_histories == 0 {
        return Err(bad(
            path,
            "$ORIG_HISTORIES",
            "0; the dose per original history needs it",
        ));
    }
    Ok(header)
}

/// A phase space read into memory.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseSpace {
    /// The header.
    pub header: Header,
    /// The particles, in file order.
    pub particles: Vec<Particle>,
}

impl PhaseSpace {
    /// Reads `NAME.IAEAheader` and `NAME.IAEAphsp` (`path`: either file or their stem).
    pub fn read(path: &Path) -> Result<Self> {
        let (header_path, data_path) = paths(path);
        // Opened without blocking (a FIFO is refused, not waited on), then checked regular.
        let file = hope_core::fs::open_regular(&data_path)
            .map_err(|e| bad(&data_path, "data file", format!("not readable: {e}")))?;
        let meta = file
            .metadata()
            .map_err(|e| bad(&data_path, "data file", format!("not readable: {e}")))?;
        let header = read_header(&header_path, meta.len())?;
        let mut reader = BufReader::with_capacity(1 << 20, file.take(meta.len()));
        let mut record = vec![0u8; header.record_length];
        let mut particles = Vec::with_capacity(usize::try_from(header.particles).unwrap_or(0));
        for i in 0..header.particles {
            reader.read_exact(&mut record).map_err(|e| {
                bad(
                    &data_path,
                    &format!("record {i}"),
                    format!("cannot be read: {e}"),
                )
            })?;
            particles.push(
                decode(&header, &record).map_err(|m| bad(&data_path, &format!("record {i}"), m))?,
            );
        }
        Ok(Self { header, particles })
    }
}

fn decode(h: &Header, record: &[u8]) -> std::result::Result<Particle, String> {
    let code = record[0] as i8;
    let kind = Kind::from_code(code)
        .ok_or_else(|| format!("particle type {code}; expected 1 to 5 (or their negatives)"))?;
    let float = |at: usize| -> f32 {
        let b = [record[at], record[at + 1], record[at + 2], record[at + 3]];
        match h.byte_order {
            ByteOrder::Little => f32::from_le_bytes(b),
            ByteOrder::Big => f32::from_be_bytes(b),
        }
    };
    let e = float(1);
    if !(e.is_finite() && (MIN_ENERGY_MEV..=MAX_ENERGY_MEV).contains(&e.abs())) {
        return Err(format!(
            "energy {e:e} MeV; expected {MIN_ENERGY_MEV:e} to {MAX_ENERGY_MEV} MeV (the data's range)"
        ));
    }
    let mut at = 5;
    let mut take = |v: Value| -> f32 {
        match v {
            Value::Stored => {
                let x = float(at);
                at += 4;
                x
            }
            Value::Constant(c) => c,
        }
    };
    let [x, y, z] = [take(h.values[0]), take(h.values[1]), take(h.values[2])];
    let (u, v) = (take(h.values[3]), take(h.values[4]));
    let weight = take(h.values[6]);
    let w = match h.values[5] {
        Value::Stored => {
            let w2 = 1.0 - u * u - v * v;
            let w = w2.max(0.0).sqrt();
            if code < 0 { -w } else { w }
        }
        Value::Constant(c) => c,
    };
    let norm = (u * u + v * v + w * w).sqrt();
    // Single-precision cosines: a unit vector to 1e-4.
    if !([x, y, z, u, v, w].iter().all(|c| c.is_finite())
        && (norm - 1.0).abs() <= 1e-4
        && [x, y, z].iter().all(|c| c.abs() <= 1e6))
    {
        return Err(format!(
            "position ({x}, {y}, {z}) cm, direction ({u}, {v}, {w}): expected finite numbers and unit direction cosines"
        ));
    }
    if !(weight.is_finite() && (0.0..=MAX_WEIGHT).contains(&f64::from(weight))) {
        return Err(format!(
            "weight {weight:e}; expected a finite weight from 0 to {MAX_WEIGHT:e}"
        ));
    }
    // The incremental history number, where stored, says whether a history began.
    let mut new_history = e < 0.0;
    at += 4 * h.extra_floats.len();
    for &t in &h.extra_longs {
        let b = [record[at], record[at + 1], record[at + 2], record[at + 3]];
        let n = match h.byte_order {
            ByteOrder::Little => i32::from_le_bytes(b),
            ByteOrder::Big => i32::from_be_bytes(b),
        };
        if t == 1 {
            new_history = n > 0;
        }
        at += 4;
    }
    Ok(Particle {
        kind,
        energy_mev: e.abs(),
        position_cm: [x, y, z],
        direction: [u / norm, v / norm, w / norm],
        weight,
        new_history,
    })
}

/// Writes a phase space: every value stored (X, Y, Z, U, V, W flag, weight), no extras,
/// little-endian; the files appear (by rename) only when [`PhaseSpaceWriter::finish`] succeeds.
/// The data goes to a temporary file created anew beside the target (never an existing file or
/// link followed), removed if the writer is dropped or fails.
#[derive(Debug)]
pub struct PhaseSpaceWriter {
    header_path: PathBuf,
    data_path: PathBuf,
    out: hope_core::fs::AtomicFile,
    counts: [u64; 5],
    /// Per kind: total weight, min and max weight, sum of weight x energy, min and max energy.
    stats: [[f64; 6]; 5],
    extent: [[f64; 2]; 3],
    written: u64,
}

impl PhaseSpaceWriter {
    /// Starts `NAME.IAEAheader` / `NAME.IAEAphsp` (`path`: either file or their stem).
    pub fn create(path: &Path) -> Result<Self> {
        let (header_path, data_path) = paths(path);
        let out = hope_core::fs::AtomicFile::create(&data_path)
            .map_err(|e| bad(&data_path, "data file", format!("cannot be created: {e}")))?;
        Ok(Self {
            header_path,
            data_path,
            out,
            counts: [0; 5],
            stats: [[0.0, f64::INFINITY, 0.0, 0.0, f64::INFINITY, 0.0]; 5],
            extent: [[f64::INFINITY, f64::NEG_INFINITY]; 3],
            written: 0,
        })
    }

    /// The particles written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The data file it will write.
    pub fn data_path(&self) -> &Path {
        &self.data_path
    }

    /// Appends a particle.
    pub fn write(&mut self, p: &Particle) -> Result<()> {
        if self.written >= MAX_PARTICLES {
            return Err(bad(
                &self.data_path,
                "$PARTICLES",
                format!("more than {MAX_PARTICLES} particles"),
            ));
        }
        let e = p.energy_mev.abs();
        if !(e.is_finite() && (MIN_ENERGY_MEV..=MAX_ENERGY_MEV).contains(&e)) {
            return Err(bad(&self.data_path, "energy", format!("{e:e} MeV")));
        }
        if !(p.weight.is_finite() && (0.0..=MAX_WEIGHT).contains(&f64::from(p.weight))) {
            return Err(bad(&self.data_path, "weight", format!("{:e}", p.weight)));
        }
        let [u, v, w] = p.direction;
        let code = if w < 0.0 {
            -p.kind.code()
        } else {
            p.kind.code()
        };
        let mut rec = Vec::with_capacity(29);
        rec.push(code as u8);
        let energy = if p.new_history { -e } else { e };
        for x in [
            energy,
            p.position_cm[0],
            p.position_cm[1],
            p.position_cm[2],
            u,
            v,
            p.weight,
        ] {
            rec.extend_from_slice(&x.to_le_bytes());
        }
        self.out
            .write_all(&rec)
            .map_err(|e| bad(&self.data_path, "data file", format!("write failed: {e}")))?;
        let k = usize::from(p.kind.code().unsigned_abs()) - 1;
        self.counts[k] += 1;
        let s = &mut self.stats[k];
        let (wt, en) = (f64::from(p.weight), f64::from(e));
        s[0] += wt;
        s[1] = s[1].min(wt);
        s[2] = s[2].max(wt);
        s[3] += wt * en;
        s[4] = s[4].min(en);
        s[5] = s[5].max(en);
        for (a, x) in self.extent.iter_mut().zip(p.position_cm) {
            a[0] = a[0].min(f64::from(x));
            a[1] = a[1].max(f64::from(x));
        }
        self.written += 1;
        Ok(())
    }

    /// Writes the header for `original_histories` histories and puts both files in place.
    pub fn finish(mut self, original_histories: u64, title: &str) -> Result<PathBuf> {
        self.out
            .flush()
            .map_err(|e| bad(&self.data_path, "data file", format!("write failed: {e}")))?;
        let n = self.written;
        let names = ["PHOTONS", "ELECTRONS", "POSITRONS", "NEUTRONS", "PROTONS"];
        let mut h = String::new();
        // Nothing that could start a block or a comment in the header.
        let title = title
            .replace(['\n', '\r', '$'], " ")
            .replace("/*", "/ *")
            .replace("//", "/ /");
        h.push_str(&format!(
            "$IAEA_INDEX:\n0   // written by hope-mc\n\n$TITLE:\n{title}\n\n$FILE_TYPE:\n0\n\n$CHECKSUM:\n{}\n\n",
            29 * n
        ));
        h.push_str("$RECORD_CONTENTS:\n    1     // X is stored ?\n    1     // Y is stored ?\n    1     // Z is stored ?\n    1     // U is stored ?\n    1     // V is stored ?\n    1     // W is stored ?\n    1     // Weight is stored ?\n    0     // Extra floats stored ?\n    0     // Extra longs stored ?\n\n$RECORD_CONSTANT:\n\n");
        h.push_str(&format!(
            "$RECORD_LENGTH:\n29\n\n$BYTE_ORDER:\n1234\n\n$ORIG_HISTORIES:\n{original_histories}\n\n$PARTICLES:\n{n}\n\n"
        ));
        for (name, c) in names.iter().zip(self.counts) {
            if c > 0 {
                h.push_str(&format!("${name}:\n{c}\n\n"));
            }
        }
        h.push_str(&format!(
            "$TRANSPORT_PARAMETERS:\nhope-mc {}\n\n$MACHINE_TYPE:\nnone\n\n$MONTE_CARLO_CODE_VERSION:\nhope-mc {}\n\n$GLOBAL_PHOTON_ENERGY_CUTOFF:\n  0.00000\n\n$GLOBAL_PARTICLE_ENERGY_CUTOFF:\n  0.00000\n\n$COORDINATE_SYSTEM_DESCRIPTION:\ncm, the simulation's patient coordinates\n\n",
            env!("CARGO_PKG_VERSION"),
            env!("CARGO_PKG_VERSION")
        ));
        h.push_str("$STATISTICAL_INFORMATION_PARTICLES:\n//        Weight        Wmin       Wmax       <E>         Emin         Emax    Particle\n");
        for ((name, c), s) in names.iter().zip(self.counts).zip(self.stats) {
            if c > 0 {
                let mean = if s[0] > 0.0 { s[3] / s[0] } else { 0.0 };
                h.push_str(&format!(
                    "  {:>15.6} {:>10.4e} {:>10.4e} {:>10.4} {:>12.4e} {:>10.4}   {name}\n",
                    s[0], s[1], s[2], mean, s[4], s[5]
                ));
            }
        }
        h.push_str("\n$STATISTICAL_INFORMATION_GEOMETRY:\n");
        if n > 0 {
            for [lo, hi] in self.extent {
                h.push_str(&format!(" {lo:.4} {hi:.4}\n"));
            }
        }
        // The header first, then the data: a failure on either leaves neither in place (the
        // header is removed again if the data cannot be put in place).
        let mut header = hope_core::fs::AtomicFile::create(&self.header_path).map_err(|e| {
            bad(
                &self.header_path,
                "header",
                format!("cannot be created: {e}"),
            )
        })?;
        header
            .write_all(h.as_bytes())
            .map_err(|e| bad(&self.header_path, "header", format!("write failed: {e}")))?;
        if self.header_path.is_dir() || self.data_path.is_dir() {
            return Err(bad(
                &self.data_path,
                "data file",
                "a directory has the name of the header or the data file".to_string(),
            ));
        }
        header
            .commit()
            .map_err(|e| bad(&self.header_path, "header", format!("write failed: {e}")))?;
        if let Err(e) = self.out.commit() {
            let _ = std::fs::remove_file(&self.header_path);
            return Err(bad(
                &self.data_path,
                "data file",
                format!("rename failed: {e}"),
            ));
        }
        Ok(self.header_path)
    }
}
