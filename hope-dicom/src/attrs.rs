//! Reading and writing attribute values: shared by the series and RT Dose modules.

use std::path::Path;

use dicom_core::value::PrimitiveValue;
use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, InMemDicomObject, OpenFileOptions};

use crate::{Error, Result};

/// A DS (decimal string) value of at most 16 characters.
pub(crate) fn ds(x: f64) -> String {
    let x = if x == 0.0 { 0.0 } else { x }; // no "-0"
    let s = format!("{x}");
    if s.len() <= 16 {
        return s;
    }
    for prec in (0..=15).rev() {
        let t = format!("{x:.prec$}");
        let t = if t.contains('.') {
            t.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            t
        };
        if t.len() <= 16 {
            return t;
        }
    }
    (0..=15)
        .rev()
        .map(|prec| format!("{x:.prec$e}"))
        .find(|t| t.len() <= 16)
        .unwrap_or_else(|| format!("{x:.0e}"))
}

pub(crate) fn ds_multi(values: &[f64]) -> PrimitiveValue {
    PrimitiveValue::Strs(values.iter().map(|v| ds(*v)).collect())
}

pub(crate) fn attr_err(path: &Path, attribute: &'static str, message: impl Into<String>) -> Error {
    Error::Attribute {
        path: path.to_path_buf(),
        attribute,
        message: message.into(),
    }
}

/// Opens a Part 10 file. With its pixels, the file is read whole, its declared lengths checked
/// against its size ([`crate::guard`]) and parsed from memory; without, parsing stops at the pixel
/// data.
pub(crate) fn open(path: &Path, with_pixels: bool) -> Result<DefaultDicomObject> {
    let unreadable = |message: String| Error::Unreadable {
        path: path.to_path_buf(),
        message,
    };
    if !with_pixels {
        return OpenFileOptions::new()
            .read_until(tags::PIXEL_DATA)
            .open_file(path)
            .map_err(|e| unreadable(e.to_string()));
    }
    let bytes = std::fs::read(path).map_err(|e| unreadable(e.to_string()))?;
    let start = crate::guard::part10_start(&bytes)
        .ok_or_else(|| unreadable("no DICM magic: not a Part 10 file".into()))?;
    parse_part10(path, &bytes, start)
}

/// Parses the bytes of a Part 10 file whose `DICM` magic is at `start`, after checking every
/// declared length against the bytes there are ([`crate::guard`]).
pub(crate) fn parse_part10(path: &Path, bytes: &[u8], start: usize) -> Result<DefaultDicomObject> {
    let unreadable = |message: String| Error::Unreadable {
        path: path.to_path_buf(),
        message,
    };
    crate::guard::check(bytes, None).map_err(unreadable)?;
    OpenFileOptions::new()
        .from_reader(&bytes[start..])
        .map_err(|e| unreadable(e.to_string()))
}

/// A string attribute's value with its padding (NUL or space) removed, if present and textual.
pub(crate) fn text(obj: &InMemDicomObject, tag: dicom_core::Tag) -> Option<String> {
    obj.element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
}

pub(crate) fn floats(
    obj: &DefaultDicomObject,
    path: &Path,
    tag: dicom_core::Tag,
    name: &'static str,
    n: usize,
) -> Result<Vec<f64>> {
    let e = obj
        .element_opt(tag)
        .ok()
        .flatten()
        .ok_or_else(|| attr_err(path, name, "missing"))?;
    let v = e
        .to_multi_float64()
        .map_err(|_| attr_err(path, name, "not a list of numbers"))?;
    if v.len() != n || v.iter().any(|x| !x.is_finite()) {
        return Err(attr_err(
            path,
            name,
            format!("{} values found, {n} finite numbers expected", v.len()),
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::ds;

    #[test]
    fn decimal_strings_fit_sixteen_characters() {
        for x in [
            0.0,
            -0.0,
            1.0,
            -127.5,
            std::f64::consts::FRAC_1_SQRT_2,
            -1234.567890123456,
            1e-20,
            123456789012345678.0,
        ] {
            let s = ds(x);
            assert!(s.len() <= 16, "{x} -> {s}");
            let back: f64 = s.parse().unwrap();
            assert!((back - x).abs() <= 1e-9 * x.abs().max(1e-9), "{x} -> {s}");
        }
        assert_eq!(ds(-0.0), "0");
        assert_eq!(ds(0.5), "0.5");
    }
}
