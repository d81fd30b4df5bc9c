//! Interfile 3.3 SPECT projections (the format of SIMIND, STIR and many cameras' exports): a
//! text header (`.h33`) of `key := value` lines and a raw data file (`.i33`) beside it.
//!
//! Written: `!type of data := Tomographic`, one detector head, `number of energy windows`
//! with each window's name and levels, `!matrix size [1]` (bins along u) and `[2]` (along the
//! axis), `scaling factor (mm/pixel)`, `!number of projections`, `!extent of rotation`,
//! `start angle`, `!direction of rotation := CCW` (the angle of [`crate::Acquisition`] grows
//! counter-clockwise seen from the +z end of the axis), `Radius`, `!time per projection (sec)`,
//! `isotope name`; and, as HOPE-rs keys, the collimator's code and the method. Data: 32-bit
//! floats, little-endian, window by window, view by view, row by row.
//!
//! Read: what is written, and the common variants of cameras' exports: 16-bit unsigned
//! integers, big-endian, a single window without window keys. The header is at most 256 KB and
//! 4,000 lines; the data file must be a plain name in the header's folder and exactly as large
//! as the header says; every key is checked, errors name the key.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::acquisition::{Method, Window};
use crate::projections::Projections;
use crate::{Error, Result};

/// The largest header read, bytes.
pub const MAX_HEADER_BYTES: u64 = 256 << 10;
const MAX_LINES: usize = 4_000;
/// The most values (windows x views x bins) read.
pub const MAX_VALUES: usize = 1 << 27;

/// Writes `p` as `header` (`.h33`) and its data file (the header's name with `.i33`), each
/// atomically.
pub fn write(p: &Projections, header: &Path) -> Result<()> {
    p.check()?;
    if header
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("i33"))
    {
        return Err(Error::file(
            header,
            "a header named .i33 would be overwritten by its data",
        ));
    }
    let data_path = header.with_extension("i33");
    let data_name = data_path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::file(header, "expected a file name in UTF-8"))?
        .to_string();
    let arc = p.arc_deg();
    let direction = if arc < 0.0 { "CW" } else { "CCW" };
    let arc = arc.abs();
    let mut h = String::new();
    let mut line = |k: &str, v: &str| {
        h.push_str(k);
        h.push_str(" := ");
        h.push_str(v);
        h.push('\n');
    };
    line("!INTERFILE", "");
    line("!imaging modality", "nucmed");
    line("!version of keys", "3.3");
    line("!GENERAL DATA", "");
    line("!data offset in bytes", "0");
    line("!name of data file", &data_name);
    line("!GENERAL IMAGE DATA", "");
    line("!type of data", "Tomographic");
    line("imagedata byte order", "LITTLEENDIAN");
    line("isotope name", &p.radionuclide);
    line("number of energy windows", &p.windows.len().to_string());
    for (i, w) in p.windows.iter().enumerate() {
        line(&format!("energy window [{}]", i + 1), &w.name);
        line(
            &format!("energy window lower level [{}]", i + 1),
            &format!("{}", w.lo_ev / 1e3),
        );
        line(
            &format!("energy window upper level [{}]", i + 1),
            &format!("{}", w.hi_ev / 1e3),
        );
    }
    line("!SPECT STUDY (General)", "");
    line("!number of detector heads", "1");
    line("!number of images/energy window", &p.views.to_string());
    line("!process status", "Acquired");
    line("!matrix size [1]", &p.matrix[0].to_string());
    line("!matrix size [2]", &p.matrix[1].to_string());
    line("!number format", "float");
    line("!number of bytes per pixel", "4");
    line(
        "scaling factor (mm/pixel) [1]",
        &format!("{}", p.pixel_cm * 10.0),
    );
    line(
        "scaling factor (mm/pixel) [2]",
        &format!("{}", p.pixel_cm * 10.0),
    );
    line("!number of projections", &p.views.to_string());
    line("!extent of rotation", &format!("{arc}"));
    line(
        "!time per projection (sec)",
        &format!("{}", p.time_per_view_s),
    );
    line(
        "study duration (sec)",
        &format!("{}", p.time_per_view_s * p.views as f64),
    );
    line("!SPECT STUDY (acquired data)", "");
    line("!direction of rotation", direction);
    line(
        "start angle",
        &format!("{}", p.angles_deg.first().copied().unwrap_or(0.0)),
    );
    line("orbit", "circular");
    line("Radius", &format!("{}", p.radius_cm * 10.0));
    line("hope collimator", &p.collimator);
    line("hope method", p.method.name());
    line("hope activity (Bq)", &format!("{}", p.activity_bq));
    line("!END OF INTERFILE", "");
    let mut data = hope_core::fs::AtomicFile::create(&data_path)?;
    let mut bytes = Vec::with_capacity(p.counts.len() * 4);
    for c in &p.counts {
        bytes.extend_from_slice(&(*c as f32).to_le_bytes());
    }
    data.write_all(&bytes)
        .map_err(|e| Error::file(&data_path, e.to_string()))?;
    data.commit()?;
    hope_core::fs::write_atomic(header, h.as_bytes())?;
    Ok(())
}

/// The header's keys: lower case, `!` and spaces trimmed, inner runs of spaces as one.
fn parse_header(path: &Path, text: &str) -> Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() > MAX_LINES {
        return Err(Error::file(
            path,
            format!("{} lines; at most {MAX_LINES}", lines.len()),
        ));
    }
    let mut first = true;
    for (n, raw) in lines.iter().enumerate() {
        let l = raw.split(';').next().unwrap_or("").trim();
        if l.is_empty() {
            continue;
        }
        let Some((k, v)) = l.split_once(":=") else {
            return Err(Error::file(
                path,
                format!("line {}: expected `key := value`", n + 1),
            ));
        };
        let key = k
            .trim()
            .trim_start_matches('!')
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_lowercase();
        if first {
            if key != "interfile" {
                return Err(Error::file(
                    path,
                    "not an Interfile header (expected `!INTERFILE :=` first)",
                ));
            }
            first = false;
        }
        out.insert(key, v.trim().to_string());
    }
    if first {
        return Err(Error::file(path, "empty header"));
    }
    Ok(out)
}

/// Reads projections written by [`write()`] or by a camera or another simulator.
pub fn read(header: &Path) -> Result<Projections> {
    let bytes = hope_core::fs::read_bounded(header, MAX_HEADER_BYTES)
        .map_err(|e| Error::file(header, format!("cannot read: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|_| Error::file(header, "not UTF-8 text"))?;
    let keys = parse_header(header, &text)?;
    let field = |k: &str, m: String| Error::field(header, k.to_string(), m);
    let get = |k: &str| keys.get(k).map(String::as_str);
    let need = |k: &str| get(k).ok_or_else(|| field(k, "missing".into()));
    let number = |k: &str, lo: f64, hi: f64| -> Result<f64> {
        let v = need(k)?;
        let x: f64 = v
            .parse()
            .map_err(|_| field(k, format!("`{v}`; expected a number")))?;
        if !(x.is_finite() && (lo..=hi).contains(&x)) {
            return Err(field(k, format!("{x}; expected {lo} to {hi}")));
        }
        Ok(x)
    };
    let int = |k: &str, lo: usize, hi: usize| -> Result<usize> {
        let v = need(k)?;
        let x: usize = v
            .parse()
            .map_err(|_| field(k, format!("`{v}`; expected a whole number")))?;
        if !(lo..=hi).contains(&x) {
            return Err(field(k, format!("{x}; expected {lo} to {hi}")));
        }
        Ok(x)
    };
    if let Some(t) = get("type of data")
        && !t.eq_ignore_ascii_case("tomographic")
    {
        return Err(field(
            "type of data",
            format!("`{t}`; expected Tomographic"),
        ));
    }
    if let Some(h) = get("number of detector heads")
        && h != "1"
    {
        return Err(field(
            "number of detector heads",
            format!("`{h}`; expected 1 (one head's projections per file)"),
        ));
    }
    let nu = int("matrix size [1]", 1, 1024)?;
    let nz = int("matrix size [2]", 1, 1024)?;
    let views = int("number of projections", 1, 1024)?;
    if let Some(v) = get("number of images/energy window")
        && v.parse::<usize>().ok() != Some(views)
    {
        return Err(field(
            "number of images/energy window",
            format!("`{v}`; expected the number of projections, {views}"),
        ));
    }
    let windows_n = match get("number of energy windows") {
        Some(_) => int("number of energy windows", 1, 16)?,
        None => 1,
    };
    let mut windows = Vec::with_capacity(windows_n);
    for i in 1..=windows_n {
        let name = get(&format!("energy window [{i}]"))
            .unwrap_or(if windows_n == 1 { "photopeak" } else { "" })
            .to_string();
        if name.is_empty() || name.len() > 64 {
            return Err(field(
                &format!("energy window [{i}]"),
                "missing or longer than 64 characters".into(),
            ));
        }
        let (lo, hi) =
            if get(&format!("energy window lower level [{i}]")).is_some() || windows_n > 1 {
                (
                    number(&format!("energy window lower level [{i}]"), 0.0, 2_000.0)?,
                    number(&format!("energy window upper level [{i}]"), 0.0, 2_000.0)?,
                )
            } else {
                (0.0, 2_000.0)
            };
        if lo >= hi {
            return Err(field(
                &format!("energy window upper level [{i}]"),
                format!("{hi} keV; expected above the lower level {lo}"),
            ));
        }
        if windows.iter().any(|w: &Window| w.name == name) {
            return Err(field(
                &format!("energy window [{i}]"),
                format!("`{name}` given twice"),
            ));
        }
        windows.push(Window::new(&name, lo * 1e3, hi * 1e3));
    }
    let pixel_u = number("scaling factor (mm/pixel) [1]", 0.1, 50.0)?;
    let pixel_z = number("scaling factor (mm/pixel) [2]", 0.1, 50.0)?;
    if (pixel_u - pixel_z).abs() > 1e-6 * pixel_u {
        return Err(field(
            "scaling factor (mm/pixel) [2]",
            format!("{pixel_z}; expected square bins ({pixel_u} along u)"),
        ));
    }
    // (Attack round: sums of angles overshoot 360 by a rounding.)
    let arc = number("extent of rotation", 1.0, 360.0 + 1e-6)?.min(360.0);
    let start = match get("start angle") {
        Some(_) => number("start angle", -360.0, 360.0)?,
        None => 0.0,
    };
    let sign = match get("direction of rotation")
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        None | Some("CCW") => 1.0,
        Some("CW") => -1.0,
        Some(other) => {
            return Err(field(
                "direction of rotation",
                format!("`{other}`; expected CW or CCW"),
            ));
        }
    };
    let radius_mm = number("radius", 10.0, 1_000.0)?;
    let time = number("time per projection (sec)", 1e-6, 1e6)?;
    let (bytes_per, float) = match (
        get("number format").map(str::to_ascii_lowercase).as_deref(),
        get("number of bytes per pixel"),
    ) {
        (Some("float" | "short float"), Some("4") | None) => (4, true),
        (Some("unsigned integer"), Some("2") | None) => (2, false),
        (f, b) => {
            return Err(field(
                "number format",
                format!(
                    "{f:?} with {b:?} bytes per pixel; expected float (4) or unsigned integer (2)"
                ),
            ));
        }
    };
    let big = match get("imagedata byte order")
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        None | Some("LITTLEENDIAN") => false,
        Some("BIGENDIAN") => true,
        Some(o) => {
            return Err(field(
                "imagedata byte order",
                format!("`{o}`; expected LITTLEENDIAN or BIGENDIAN"),
            ));
        }
    };
    let offset = match get("data offset in bytes") {
        Some(_) => int("data offset in bytes", 0, 1 << 30)?,
        None => 0,
    };
    let name = need("name of data file")?;
    let data_path = data_file(header, name)?;
    let count = windows_n * views * nu * nz;
    if count > MAX_VALUES {
        return Err(field(
            "matrix size [1]",
            format!(
                "{windows_n} windows x {views} projections x {nu} x {nz} bins; at most {MAX_VALUES} values"
            ),
        ));
    }
    let expected = offset as u64 + (count * bytes_per) as u64;
    let raw = hope_core::fs::read_bounded(&data_path, expected)
        .map_err(|e| Error::file(&data_path, format!("cannot read: {e}")))?;
    if raw.len() as u64 != expected {
        return Err(Error::file(
            &data_path,
            format!("{} bytes; the header describes {expected}", raw.len()),
        ));
    }
    let body = &raw[offset..];
    let mut counts = Vec::with_capacity(count);
    for c in body.chunks_exact(bytes_per) {
        let v = match (float, big) {
            (true, false) => f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            (true, true) => f64::from(f32::from_be_bytes([c[0], c[1], c[2], c[3]])),
            (false, false) => f64::from(u16::from_le_bytes([c[0], c[1]])),
            (false, true) => f64::from(u16::from_be_bytes([c[0], c[1]])),
        };
        if !(v.is_finite() && v >= 0.0) {
            return Err(Error::file(
                &data_path,
                format!("value {v} at {}; expected finite counts >= 0", counts.len()),
            ));
        }
        counts.push(v);
    }
    let method = get("hope method")
        .map(Method::by_name)
        .transpose()
        .map_err(|e| field("hope method", e.to_string()))?
        .unwrap_or_default();
    Ok(Projections {
        views,
        matrix: [nu, nz],
        pixel_cm: pixel_u / 10.0,
        angles_deg: (0..views)
            .map(|v| start + sign * arc * v as f64 / views as f64)
            .collect(),
        radius_cm: radius_mm / 10.0,
        windows,
        time_per_view_s: time,
        counts,
        radionuclide: get("isotope name").unwrap_or("").chars().take(64).collect(),
        activity_bq: get("hope activity (bq)")
            .and_then(|v| v.parse().ok())
            .filter(|v: &f64| v.is_finite())
            .unwrap_or(f64::NAN),
        decays: 0,
        dropped_photons_per_decay: 0.0,
        chunk_detections: Vec::new(),
        collimator: get("hope collimator")
            .unwrap_or("")
            .chars()
            .take(32)
            .collect(),
        method,
    })
}

/// The data file a header names: a plain file name, in the header's folder.
fn data_file(header: &Path, name: &str) -> Result<PathBuf> {
    let plain = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', ':'])
        && !name.contains('\0');
    if !plain {
        return Err(Error::field(
            header,
            "name of data file",
            format!("`{name}`; expected a file name in the header's folder"),
        ));
    }
    Ok(header.parent().unwrap_or(Path::new("")).join(name))
}
