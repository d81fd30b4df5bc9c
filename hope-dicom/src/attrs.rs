//! Reading and writing attribute values: shared by the series and RT Dose modules.

use std::path::Path;

use dicom_core::value::PrimitiveValue;
use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, InMemDicomObject, OpenFileOptions};

use crate::{Error, Result};

/// A DS (decimal string) value of at most 16 characters: of the fixed-point and exponent forms
/// that fit, the one closest to `x` (fixed point alone printed anything under 5e-16 as "0").
/// A bounded search: at most 32 candidates.
pub(crate) fn ds(x: f64) -> String {
    let x = if x == 0.0 { 0.0 } else { x }; // no "-0"
    let s = format!("{x}");
    if s.len() <= 16 || !x.is_finite() {
        return s;
    }
    let fixed = (0..=15usize).rev().map(|prec| {
        let t = format!("{x:.prec$}");
        if t.contains('.') {
            t.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            t
        }
    });
    let exponent = (0..=15usize).rev().map(|prec| format!("{x:.prec$e}"));
    let error = |t: &str| t.parse::<f64>().map_or(f64::INFINITY, |v| (v - x).abs());
    fixed
        .chain(exponent)
        .filter(|t| t.len() <= 16)
        .min_by(|a, b| error(a).total_cmp(&error(b)).then(a.len().cmp(&b.len())))
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

/// Largest file read whole into memory (the guard and the parser each need it there).
pub(crate) const MAX_FILE_BYTES: u64 = 2 << 30;

/// Reads a whole file, refusing one larger than [`MAX_FILE_BYTES`].
pub(crate) fn read_bounded(path: &Path) -> Result<Vec<u8>> {
    let unreadable = |message: String| Error::Unreadable {
        path: path.to_path_buf(),
        message,
    };
    let mut f = hope_core::fs::open_regular(path).map_err(|e| unreadable(e.to_string()))?;
    let len = f.metadata().map_err(|e| unreadable(e.to_string()))?.len();
    if len > MAX_FILE_BYTES {
        return Err(unreadable(format!(
            "{len} bytes; files larger than {} GiB are not read",
            MAX_FILE_BYTES >> 30
        )));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    std::io::Read::read_to_end(
        &mut std::io::Read::take(&mut f, MAX_FILE_BYTES + 1),
        &mut bytes,
    )
    .map_err(|e| unreadable(e.to_string()))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(unreadable("the file grew while it was read".into()));
    }
    Ok(bytes)
}

/// Opens a Part 10 file. With its pixels, the file is read whole, checked ([`crate::guard`]) and
/// parsed from memory; without, the elements up to the pixel data are checked as a stream and
/// parsing stops there.
pub(crate) fn open(path: &Path, with_pixels: bool) -> Result<DefaultDicomObject> {
    let unreadable = |message: String| Error::Unreadable {
        path: path.to_path_buf(),
        message,
    };
    if !with_pixels {
        let mut file = hope_core::fs::open_regular(path).map_err(|e| unreadable(e.to_string()))?;
        let len = file
            .metadata()
            .map_err(|e| unreadable(e.to_string()))?
            .len();
        crate::guard::check_file_header(&mut file, len).map_err(unreadable)?;
        let mut head = [0u8; 132];
        use std::io::{Read, Seek, SeekFrom};
        file.seek(SeekFrom::Start(0))
            .map_err(|e| unreadable(e.to_string()))?;
        let n = file
            .by_ref()
            .take(132)
            .read(&mut head)
            .map_err(|e| unreadable(e.to_string()))?;
        let start = crate::guard::part10_start(&head[..n])
            .ok_or_else(|| unreadable("no DICM magic: not a Part 10 file".into()))?;
        file.seek(SeekFrom::Start(start as u64))
            .map_err(|e| unreadable(e.to_string()))?;
        return OpenFileOptions::new()
            .read_until(tags::PIXEL_DATA)
            .from_reader(std::io::BufReader::new(file))
            .map_err(|e| unreadable(e.to_string()));
    }
    let bytes = read_bounded(path)?;
    let start = crate::guard::part10_start(&bytes)
        .ok_or_else(|| unreadable("no DICM magic: not a Part 10 file".into()))?;
    parse_part10(path, &bytes, start)
}

/// Parses the bytes of a Part 10 file whose `DICM` magic is at `start`, after checking them
/// ([`crate::guard`]: lengths, nesting depth, element count, deflate size).
pub(crate) fn parse_part10(path: &Path, bytes: &[u8], start: usize) -> Result<DefaultDicomObject> {
    let unreadable = |message: String| Error::Unreadable {
        path: path.to_path_buf(),
        message,
    };
    crate::guard::check(bytes).map_err(unreadable)?;
    OpenFileOptions::new()
        .from_reader(&bytes[start..])
        .map_err(|e| unreadable(e.to_string()))
}

/// Parses a bare data set in transfer syntax `ts` after the same checks.
pub(crate) fn parse_dataset(
    bytes: &[u8],
    ts: &dicom_encoding::TransferSyntax,
) -> std::result::Result<InMemDicomObject, String> {
    crate::guard::check_dataset(bytes, ts.uid())?;
    InMemDicomObject::read_dataset_with_ts(bytes, ts).map_err(|e| e.to_string())
}

/// Patient, study and frame attributes a derived object (RT Dose, RT Structure Set) takes from
/// the CT it refers to, so that it lands in the same patient, study and frame of reference
/// (planning systems and 3D Slicer match on these).
pub(crate) const COPIED_FROM_CT: &[dicom_core::Tag] = &[
    dicom_dictionary_std::tags::SPECIFIC_CHARACTER_SET,
    dicom_dictionary_std::tags::PATIENT_NAME,
    dicom_dictionary_std::tags::PATIENT_ID,
    dicom_dictionary_std::tags::PATIENT_BIRTH_DATE,
    dicom_dictionary_std::tags::PATIENT_SEX,
    dicom_dictionary_std::tags::STUDY_INSTANCE_UID,
    dicom_dictionary_std::tags::STUDY_DATE,
    dicom_dictionary_std::tags::STUDY_TIME,
    dicom_dictionary_std::tags::STUDY_ID,
    dicom_dictionary_std::tags::ACCESSION_NUMBER,
    dicom_dictionary_std::tags::REFERRING_PHYSICIAN_NAME,
    dicom_dictionary_std::tags::STUDY_DESCRIPTION,
    dicom_dictionary_std::tags::FRAME_OF_REFERENCE_UID,
    dicom_dictionary_std::tags::POSITION_REFERENCE_INDICATOR,
];

/// A new object derived from the CT file `ct_file` (its patient, study and frame attributes),
/// with the CT's header and its Frame of Reference UID, which must be there (`what` says what
/// could not be placed without it).
pub(crate) fn derived_from_ct(
    ct_file: &Path,
    what: &str,
) -> Result<(DefaultDicomObject, InMemDicomObject, String)> {
    let ct = open(ct_file, false)?;
    let frame = text(&ct, dicom_dictionary_std::tags::FRAME_OF_REFERENCE_UID).unwrap_or_default();
    if frame.is_empty() {
        return Err(attr_err(
            ct_file,
            "FrameOfReferenceUID",
            format!("missing: the {what} cannot be placed in the CT's frame"),
        ));
    }
    let mut obj = InMemDicomObject::new_empty();
    for tag in COPIED_FROM_CT {
        if let Some(e) = ct.get(*tag) {
            obj.put(e.clone());
        }
    }
    Ok((ct, obj, frame))
}

/// Opens the header of `path` and checks that its Modality is `want`.
pub(crate) fn open_modality(path: &Path, want: &str) -> Result<DefaultDicomObject> {
    let obj = open(path, false)?;
    let modality = text(&obj, dicom_dictionary_std::tags::MODALITY).unwrap_or_default();
    if modality != want {
        return Err(attr_err(
            path,
            "Modality",
            format!("`{modality}`; expected {want}"),
        ));
    }
    Ok(obj)
}

/// The items of sequence `tag` (keyword `name`) of `o`: none when it is absent, an error naming
/// the file and the attribute when it is not a sequence.
pub(crate) fn items(
    path: &Path,
    o: &InMemDicomObject,
    tag: dicom_core::Tag,
    name: &'static str,
) -> Result<Vec<InMemDicomObject>> {
    match o.get(tag) {
        None => Ok(Vec::new()),
        Some(e) => e
            .items()
            .map(<[InMemDicomObject]>::to_vec)
            .ok_or_else(|| attr_err(path, name, "not a sequence")),
    }
}

/// The identity of a new instance that HOPE-rs writes: SOP class and instance, modality,
/// manufacturer, its own series (number 1, instance 1).
pub(crate) fn new_instance(
    sop_class: &str,
    sop_instance: &str,
    modality: &str,
    series: &str,
) -> [dicom_core::DataElement<InMemDicomObject>; 7] {
    use dicom_core::{DataElement, VR, value::PrimitiveValue};
    use dicom_dictionary_std::tags;
    let s = |v: &str| PrimitiveValue::from(v);
    [
        DataElement::new(tags::SOP_CLASS_UID, VR::UI, s(sop_class)),
        DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, s(sop_instance)),
        DataElement::new(tags::MODALITY, VR::CS, s(modality)),
        DataElement::new(tags::MANUFACTURER, VR::LO, s("HOPE-rs")),
        DataElement::new(tags::SERIES_INSTANCE_UID, VR::UI, s(series)),
        DataElement::new(tags::SERIES_NUMBER, VR::IS, s("1")),
        DataElement::new(tags::INSTANCE_NUMBER, VR::IS, s("1")),
    ]
}

/// Writes `obj` as a Part 10 file at `path` (explicit VR little endian), atomically.
pub(crate) fn write_part10(
    obj: InMemDicomObject,
    path: &Path,
    sop_class: &str,
    sop_instance: &str,
) -> Result<()> {
    let bad = |m: String| Error::Write {
        path: path.to_path_buf(),
        message: m,
    };
    let file = obj
        .with_meta(
            dicom_object::FileMetaTableBuilder::new()
                .transfer_syntax(dicom_dictionary_std::uids::EXPLICIT_VR_LITTLE_ENDIAN)
                .media_storage_sop_class_uid(sop_class)
                .media_storage_sop_instance_uid(sop_instance),
        )
        .map_err(|e| bad(e.to_string()))?;
    let mut out = hope_core::fs::AtomicFile::create(path)?;
    file.write_all(&mut out).map_err(|e| bad(e.to_string()))?;
    out.commit()?;
    Ok(())
}

/// A string attribute's value with its padding (NUL or space) removed, if present and textual.
pub(crate) fn text(obj: &InMemDicomObject, tag: dicom_core::Tag) -> Option<String> {
    obj.get(tag)
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
}

/// Refuses a file whose pixel data is not native little-endian (explicit or implicit VR): the
/// readers that decode pixel bytes themselves take only those.
pub(crate) fn native_little_endian(path: &Path, obj: &DefaultDicomObject) -> Result<()> {
    let ts = obj
        .meta()
        .transfer_syntax()
        .trim_end_matches('\0')
        .to_string();
    let (explicit, implicit) = (
        dicom_dictionary_std::uids::EXPLICIT_VR_LITTLE_ENDIAN,
        dicom_dictionary_std::uids::IMPLICIT_VR_LITTLE_ENDIAN,
    );
    if ts != explicit && ts != implicit {
        return Err(Error::UnsupportedTransferSyntax {
            path: path.to_path_buf(),
            transfer_syntax: ts,
        });
    }
    Ok(())
}

pub(crate) fn floats(
    obj: &DefaultDicomObject,
    path: &Path,
    tag: dicom_core::Tag,
    name: &'static str,
    n: usize,
) -> Result<Vec<f64>> {
    let e = obj
        .get(tag)
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
