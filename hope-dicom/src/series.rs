//! Image series to voxel volumes, and volumes to CT series.
//!
//! [`load_ct_volume`] assembles the files of one series into a [`Volume<i16>`] of Hounsfield units in
//! patient coordinates: slices are sorted along the slice normal by Image Position (Patient) (never by
//! Instance Number), spacing must be uniform and orientation constant, and every problem (missing or
//! duplicate slices, irregular spacing, mixed geometry) is an error that names the series, the
//! problem and the values found. A gantry-tilted series (slices shifted in their planes, a sheared
//! stack) is resampled onto an orthogonal grid in the planes of its slices, widened to hold every
//! slice whole, with bilinear interpolation, as dcm2niix does; shifts that are not those of a gantry
//! tilt (irregular from slice to slice, or steeper than 45 degrees) are refused; [`load_ct_volume_with`] records the correction ([`TiltCorrection`]) or refuses
//! the series instead ([`Tilt::Refuse`]). [`scan_dir`] groups a directory's files by series and frame of
//! reference, and sets localizers and secondary captures aside with a note. [`write_ct_series`]
//! writes a volume as a CT series (synthetic phantoms, tests, round trips).
//!
//! Geometry convention: the returned grid has axis 0 along the image rows (first triplet of Image
//! Orientation (Patient)), axis 1 along the columns (second triplet), axis 2 along their cross product
//! (the slice normal), origin at the first pixel of the first slice in that order.
//!
//! Pixel data: 8- or 16-bit grey-scale, native (implicit and explicit VR little endian, explicit VR
//! big endian, deflated), RLE Lossless, JPEG baseline and lossless (dicom-pixeldata's pure-Rust
//! decoders) and JPEG extended 8/12-bit (hope-dicom's own [`crate::jpeg`] decoder); JPEG 2000 with
//! the `jpeg2000` feature and JPEG-LS with the `jpegls` feature. Only the low Bits Stored bits of a
//! stored value count (sign-extended when Pixel Representation is 1). A transfer syntax without a
//! decoder in this build is refused with [`Error::UnsupportedTransferSyntax`]; a stream that fails to
//! decode gives [`Error::PixelDecode`] with the codec's message.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{DefaultDicomObject, FileMetaTableBuilder, InMemDicomObject};
use hope_core::fs::AtomicFile;
use hope_core::{Grid, Vec3, Volume};
use rayon::prelude::*;

use crate::attrs::{attr_err, ds, ds_multi, floats, open, text};
use crate::uid::new_uid;
use crate::{Error, Result};

/// The largest gantry tilt corrected, degrees (scanners tilt up to about 30).
pub const MAX_TILT_DEG: f64 = 45.0;

/// Largest in-plane offset (mm) between consecutive slice origins before the series counts as
/// tilted or sheared.
pub const TILT_TOLERANCE_MM: f64 = 0.01;
/// Largest deviation of one slice gap from the median gap, as a fraction of it (with a floor of
/// 0.01 mm), before the spacing counts as irregular.
pub const SPACING_TOLERANCE: f64 = 0.01;

/// Transfer syntaxes with native pixel data (the last is Explicit VR Big Endian, retired from the
/// standard but still found in archives); the others go through dicom-pixeldata's decoders.
const UNCOMPRESSED: &[&str] = &[
    uids::IMPLICIT_VR_LITTLE_ENDIAN,
    uids::EXPLICIT_VR_LITTLE_ENDIAN,
    "1.2.840.10008.1.2.2",
];

/// Identity and description written into a synthetic CT series.
#[derive(Debug, Clone)]
#[must_use]
pub struct CtSeriesOptions {
    patient_name: String,
    patient_id: String,
    study_date: String,
    series_description: String,
    study_uid: Option<String>,
    frame_of_reference_uid: Option<String>,
}

impl Default for CtSeriesOptions {
    fn default() -> Self {
        CtSeriesOptions {
            patient_name: "PHANTOM^SYNTHETIC".into(),
            patient_id: "PHANTOM-0001".into(),
            study_date: "20260101".into(),
            series_description: "Synthetic CT".into(),
            study_uid: None,
            frame_of_reference_uid: None,
        }
    }
}

impl CtSeriesOptions {
    /// Default options: a synthetic phantom identity.
    pub fn new() -> Self {
        Self::default()
    }

    /// Patient's Name (PN, e.g. `DOE^JANE`).
    pub fn patient_name(mut self, v: impl Into<String>) -> Self {
        self.patient_name = v.into();
        self
    }

    /// Patient ID.
    pub fn patient_id(mut self, v: impl Into<String>) -> Self {
        self.patient_id = v.into();
        self
    }

    /// Study Date (`YYYYMMDD`).
    pub fn study_date(mut self, v: impl Into<String>) -> Self {
        self.study_date = v.into();
        self
    }

    /// Series Description.
    pub fn series_description(mut self, v: impl Into<String>) -> Self {
        self.series_description = v.into();
        self
    }

    /// Put the series in an existing study (default: a new Study Instance UID).
    pub fn study_uid(mut self, v: impl Into<String>) -> Self {
        self.study_uid = Some(v.into());
        self
    }

    /// Use an existing frame of reference (default: a new one).
    pub fn frame_of_reference_uid(mut self, v: impl Into<String>) -> Self {
        self.frame_of_reference_uid = Some(v.into());
        self
    }
}

/// What [`write_ct_series`] wrote.
#[derive(Debug, Clone)]
pub struct WrittenSeries {
    /// Study Instance UID.
    pub study_uid: String,
    /// Series Instance UID.
    pub series_uid: String,
    /// Frame of Reference UID.
    pub frame_of_reference_uid: String,
    /// One file per slice, in slice order.
    pub files: Vec<PathBuf>,
}

/// Writes a volume of Hounsfield units as a CT series, one file per slice (`CT0001.dcm`...), each
/// written atomically. Pixels are stored as signed 16-bit with slope 1 and intercept 0, so any `i16`
/// survives exactly. The grid's third axis must be the slice normal (the cross product of the first
/// two), as in every right-handed grid.
pub fn write_ct_series(
    volume: &Volume<i16>,
    dir: &Path,
    options: &CtSeriesOptions,
) -> Result<WrittenSeries> {
    let g = volume.grid();
    let [nx, ny, nz] = g.dims();
    let d = g.direction();
    let normal = d[0].cross(d[1]);
    if (normal - d[2]).norm() > 1e-6 {
        return Err(Error::Write {
            path: dir.to_path_buf(),
            message:
                "the grid's third axis is not the slice normal (a left-handed grid): flip it first"
                    .into(),
        });
    }
    if nx > usize::from(u16::MAX) || ny > usize::from(u16::MAX) {
        return Err(Error::Write {
            path: dir.to_path_buf(),
            message: format!("slices of {nx} x {ny} exceed DICOM's 65535 rows or columns"),
        });
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    let study_uid = options.study_uid.clone().map_or_else(new_uid, Ok)?;
    let series_uid = new_uid()?;
    let for_uid = options
        .frame_of_reference_uid
        .clone()
        .map_or_else(new_uid, Ok)?;
    let sp = g.spacing();
    let mut files = Vec::with_capacity(nz);
    for k in 0..nz {
        let sop_uid = new_uid()?;
        let pos = g.voxel_center([0, 0, k]);
        let s = |v: &str| PrimitiveValue::from(v);
        let pixels: Vec<u16> = volume
            .slice_z(k)
            .unwrap_or(&[])
            .iter()
            .map(|v| *v as u16)
            .collect();
        let obj = InMemDicomObject::from_element_iter([
            DataElement::new(tags::SPECIFIC_CHARACTER_SET, VR::CS, s("ISO_IR 192")),
            DataElement::new(
                tags::IMAGE_TYPE,
                VR::CS,
                PrimitiveValue::Strs(
                    ["ORIGINAL", "PRIMARY", "AXIAL"]
                        .map(String::from)
                        .into_iter()
                        .collect(),
                ),
            ),
            DataElement::new(tags::SOP_CLASS_UID, VR::UI, s(uids::CT_IMAGE_STORAGE)),
            DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, s(&sop_uid)),
            DataElement::new(tags::STUDY_DATE, VR::DA, s(&options.study_date)),
            DataElement::new(tags::STUDY_TIME, VR::TM, s("120000")),
            DataElement::new(tags::ACCESSION_NUMBER, VR::SH, PrimitiveValue::Empty),
            DataElement::new(tags::MODALITY, VR::CS, s("CT")),
            DataElement::new(tags::MANUFACTURER, VR::LO, s("HOPE-rs")),
            DataElement::new(
                tags::REFERRING_PHYSICIAN_NAME,
                VR::PN,
                PrimitiveValue::Empty,
            ),
            DataElement::new(
                tags::SERIES_DESCRIPTION,
                VR::LO,
                s(&options.series_description),
            ),
            DataElement::new(tags::PATIENT_NAME, VR::PN, s(&options.patient_name)),
            DataElement::new(tags::PATIENT_ID, VR::LO, s(&options.patient_id)),
            DataElement::new(tags::PATIENT_BIRTH_DATE, VR::DA, PrimitiveValue::Empty),
            DataElement::new(tags::PATIENT_SEX, VR::CS, PrimitiveValue::Empty),
            DataElement::new(tags::SLICE_THICKNESS, VR::DS, s(&ds(sp.z))),
            DataElement::new(tags::KVP, VR::DS, s("120")),
            DataElement::new(tags::STUDY_INSTANCE_UID, VR::UI, s(&study_uid)),
            DataElement::new(tags::SERIES_INSTANCE_UID, VR::UI, s(&series_uid)),
            DataElement::new(tags::STUDY_ID, VR::SH, s("1")),
            DataElement::new(tags::SERIES_NUMBER, VR::IS, s("1")),
            DataElement::new(tags::INSTANCE_NUMBER, VR::IS, s(&(k + 1).to_string())),
            DataElement::new(
                tags::IMAGE_POSITION_PATIENT,
                VR::DS,
                ds_multi(&pos.to_array()),
            ),
            DataElement::new(
                tags::IMAGE_ORIENTATION_PATIENT,
                VR::DS,
                ds_multi(&[d[0].x, d[0].y, d[0].z, d[1].x, d[1].y, d[1].z]),
            ),
            DataElement::new(tags::FRAME_OF_REFERENCE_UID, VR::UI, s(&for_uid)),
            DataElement::new(
                tags::POSITION_REFERENCE_INDICATOR,
                VR::LO,
                PrimitiveValue::Empty,
            ),
            DataElement::new(tags::SLICE_LOCATION, VR::DS, s(&ds(pos.dot(normal)))),
            DataElement::new(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16)),
            DataElement::new(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, s("MONOCHROME2")),
            DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(ny as u16)),
            DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(nx as u16)),
            DataElement::new(tags::PIXEL_SPACING, VR::DS, ds_multi(&[sp.y, sp.x])),
            DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16)),
            DataElement::new(tags::BITS_STORED, VR::US, PrimitiveValue::from(16u16)),
            DataElement::new(tags::HIGH_BIT, VR::US, PrimitiveValue::from(15u16)),
            DataElement::new(
                tags::PIXEL_REPRESENTATION,
                VR::US,
                PrimitiveValue::from(1u16),
            ),
            DataElement::new(tags::RESCALE_INTERCEPT, VR::DS, s("0")),
            DataElement::new(tags::RESCALE_SLOPE, VR::DS, s("1")),
            DataElement::new(tags::RESCALE_TYPE, VR::LO, s("HU")),
            DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(pixels.into())),
        ]);
        let file = obj
            .with_meta(
                FileMetaTableBuilder::new()
                    .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                    .media_storage_sop_class_uid(uids::CT_IMAGE_STORAGE)
                    .media_storage_sop_instance_uid(&sop_uid),
            )
            .map_err(|e| Error::Write {
                path: dir.to_path_buf(),
                message: e.to_string(),
            })?;
        let path = dir.join(format!("CT{:04}.dcm", k + 1));
        let mut out = AtomicFile::create(&path)?;
        file.write_all(&mut out).map_err(|e| Error::Write {
            path: path.clone(),
            message: e.to_string(),
        })?;
        out.commit()?;
        files.push(path);
    }
    Ok(WrittenSeries {
        study_uid,
        series_uid,
        frame_of_reference_uid: for_uid,
        files,
    })
}

/// One slice of a volume: where its pixels are (object and frame) and where it lies.
#[derive(Debug, Clone)]
struct Slice {
    path: PathBuf,
    obj: usize,
    frame: usize,
    position: Vec3,
    row: Vec3,
    col: Vec3,
    spacing: [f64; 2],
    rows: u16,
    cols: u16,
    slope: f64,
    intercept: f64,
    /// Slope and intercept of a Real World Value Mapping to Bq/ml, where the frame has one.
    bqml: Option<(f64, f64)>,
}

/// Slope and intercept of the item of a Real World Value Mapping Sequence (0040,9096) in `item`
/// whose Measurement Units Code Sequence says Bq/ml (UCUM `Bq/ml`).
fn rwv_bqml(item: &InMemDicomObject) -> Option<(f64, f64)> {
    let items = item.get(tags::REAL_WORLD_VALUE_MAPPING_SEQUENCE)?.items()?;
    items.iter().find_map(|m| {
        let unit = m
            .get(tags::MEASUREMENT_UNITS_CODE_SEQUENCE)?
            .items()?
            .first()?
            .get(tags::CODE_VALUE)?
            .to_str()
            .ok()?
            .trim_end_matches(['\0', ' '])
            .to_string();
        if !unit.eq_ignore_ascii_case("Bq/ml") {
            return None;
        }
        let number = |tag| {
            m.get(tag)
                .and_then(|e| e.to_float64().ok())
                .filter(|x| x.is_finite())
        };
        Some((
            number(tags::REAL_WORLD_VALUE_SLOPE)?,
            number(tags::REAL_WORLD_VALUE_INTERCEPT).unwrap_or(0.0),
        ))
    })
}

/// How stored values become the values of the volume.
#[derive(Debug, Clone, Copy)]
enum Mapping {
    /// Rescale Slope and Intercept (CT, PET in BQML).
    Rescale,
    /// The Real World Value Mapping to Bq/ml (quantitative SPECT).
    RealWorldBqml,
    /// Rescale, then times a calibration factor (counts to Bq/mL).
    RescaleTimes(f64),
}

/// A float list inside the first item of sequence `seq` of a functional-group item.
fn nested_floats(
    item: &InMemDicomObject,
    seq: dicom_core::Tag,
    attr: dicom_core::Tag,
) -> Option<Vec<f64>> {
    let inner = item.get(seq)?.items()?.first()?;
    inner.get(attr)?.to_multi_float64().ok()
}

/// The slices of one file: one for a single-frame image; one per frame for a multi-frame image, placed
/// by the per-frame or shared functional groups (enhanced CT/MR/PET), or, without them, by the
/// top-level position advanced by Spacing Between Slices along the normal (NM tomography).
fn read_slices(path: &Path, obj: &DefaultDicomObject, index: usize) -> Result<Vec<Slice>> {
    let us = |tag, name| -> Result<u16> {
        obj.get(tag)
            .and_then(|e| e.to_int::<u16>().ok())
            .ok_or_else(|| attr_err(path, name, "missing or not an unsigned 16-bit integer"))
    };
    let (rows, cols) = (us(tags::ROWS, "Rows")?, us(tags::COLUMNS, "Columns")?);
    let frames = obj
        .get(tags::NUMBER_OF_FRAMES)
        .map(|e| {
            e.to_int::<u32>()
                .map_err(|_| attr_err(path, "NumberOfFrames", "not an integer"))
        })
        .transpose()?
        .unwrap_or(1)
        .max(1) as usize;
    check_frames_fit(path, obj, rows, cols, frames)?;
    let shared = obj
        .get(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE)
        .and_then(|e| e.items())
        .and_then(|i| i.first());
    let per_frame = obj
        .get(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
        .and_then(|e| e.items());
    if let Some(pf) = per_frame
        && pf.len() != frames
    {
        return Err(attr_err(
            path,
            "PerFrameFunctionalGroupsSequence",
            format!("{} items for {frames} frames", pf.len()),
        ));
    }
    let in_groups = |f: usize, seq, attr| {
        per_frame
            .and_then(|pf| nested_floats(&pf[f], seq, attr))
            .or_else(|| shared.and_then(|s| nested_floats(s, seq, attr)))
    };
    let lookup = |f: usize, seq, attr, name: &'static str, n: usize| -> Result<Vec<f64>> {
        match in_groups(f, seq, attr) {
            Some(v) if v.len() == n && v.iter().all(|x| x.is_finite()) => Ok(v),
            Some(v) => Err(attr_err(
                path,
                name,
                format!(
                    "{} values in the functional groups, {n} finite numbers expected",
                    v.len()
                ),
            )),
            // NM reconstructed tomography keeps orientation (and position) in the Detector
            // Information Sequence instead of at the top level.
            None => floats(obj, path, attr, name, n).or_else(|e| {
                match nested_floats(obj, tags::DETECTOR_INFORMATION_SEQUENCE, attr) {
                    Some(v) if v.len() == n && v.iter().all(|x| x.is_finite()) => Ok(v),
                    _ => Err(e),
                }
            }),
        }
    };
    let top_number = |tag, default: f64| {
        text(obj, tag)
            .and_then(|t| t.trim().parse::<f64>().ok())
            .unwrap_or(default)
    };
    // A slope or intercept that is not a finite number (or a zero slope) would turn every value
    // of the slice into the same number, silently: refused, naming the attribute.
    let check_rescale = |name: &'static str, v: f64, f: usize| -> Result<f64> {
        if v.is_finite() && (name != "RescaleSlope" || v != 0.0) {
            Ok(v)
        } else {
            Err(attr_err(
                path,
                name,
                format!(
                    "{v} (frame {}); expected a finite number{}",
                    f + 1,
                    if name == "RescaleSlope" {
                        ", not zero"
                    } else {
                        ""
                    }
                ),
            ))
        }
    };
    let mut out = Vec::with_capacity(frames);
    for f in 0..frames {
        let o = lookup(
            f,
            tags::PLANE_ORIENTATION_SEQUENCE,
            tags::IMAGE_ORIENTATION_PATIENT,
            "ImageOrientationPatient",
            6,
        )?;
        let s = lookup(
            f,
            tags::PIXEL_MEASURES_SEQUENCE,
            tags::PIXEL_SPACING,
            "PixelSpacing",
            2,
        )?;
        if s.iter().any(|v| *v <= 0.0) {
            return Err(attr_err(
                path,
                "PixelSpacing",
                format!("{s:?}; expected positive values"),
            ));
        }
        let row = Vec3::new(o[0], o[1], o[2]);
        let col = Vec3::new(o[3], o[4], o[5]);
        if (row.norm() - 1.0).abs() > 1e-3
            || (col.norm() - 1.0).abs() > 1e-3
            || row.dot(col).abs() > 1e-3
        {
            return Err(attr_err(
                path,
                "ImageOrientationPatient",
                format!("{o:?}; expected two orthogonal unit vectors"),
            ));
        }
        let position = match per_frame.and_then(|pf| {
            nested_floats(
                &pf[f],
                tags::PLANE_POSITION_SEQUENCE,
                tags::IMAGE_POSITION_PATIENT,
            )
        }) {
            Some(p) if p.len() == 3 => Vec3::new(p[0], p[1], p[2]),
            Some(p) => {
                return Err(attr_err(
                    path,
                    "ImagePositionPatient",
                    format!("{} values in frame {}, 3 expected", p.len(), f + 1),
                ));
            }
            None => {
                let p = lookup(
                    f,
                    tags::PLANE_POSITION_SEQUENCE,
                    tags::IMAGE_POSITION_PATIENT,
                    "ImagePositionPatient",
                    3,
                )?;
                let step = if f == 0 {
                    0.0
                } else {
                    top_number(tags::SPACING_BETWEEN_SLICES, f64::NAN)
                };
                if !step.is_finite() {
                    return Err(attr_err(
                        path,
                        "SpacingBetweenSlices",
                        "missing: frames of this multi-frame image cannot be placed",
                    ));
                }
                Vec3::new(p[0], p[1], p[2]) + row.cross(col) * (step * f as f64)
            }
        };
        let rescale = |attr, default: f64| -> f64 {
            in_groups(f, tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE, attr)
                .and_then(|v| v.first().copied())
                .unwrap_or_else(|| top_number(attr, default))
        };
        out.push(Slice {
            path: path.to_path_buf(),
            obj: index,
            frame: f,
            position,
            row,
            col,
            spacing: [s[0], s[1]],
            rows,
            cols,
            slope: check_rescale("RescaleSlope", rescale(tags::RESCALE_SLOPE, 1.0), f)?,
            intercept: check_rescale("RescaleIntercept", rescale(tags::RESCALE_INTERCEPT, 0.0), f)?,
            bqml: per_frame
                .and_then(|pf| rwv_bqml(&pf[f]))
                .or_else(|| shared.and_then(rwv_bqml))
                .or_else(|| rwv_bqml(obj)),
        });
    }
    Ok(out)
}

/// The most pixels a slice may have (2^26, 8192 x 8192): CT, PET and SPECT slices are far
/// smaller, and compressed pixel data gives no bound of its own (a few bytes of JPEG-LS can
/// announce any size).
pub const MAX_FRAME_PIXELS: usize = 1 << 26;

/// The most voxels a series volume may have (2^30: 2 GiB of HU, 4 GiB of Bq/mL).
pub const MAX_SERIES_VOXELS: usize = 1 << 30;

/// Checks, before any per-frame work, that the pixel data can hold `frames` frames of
/// `rows` x `cols`: native data must have the bytes, encapsulated data a fragment per frame at
/// least (frames start on fragment boundaries, PS3.5 A.4). A 700-byte file claiming 4e9 frames
/// is refused here instead of driving billions of iterations.
fn check_frames_fit(
    path: &Path,
    obj: &DefaultDicomObject,
    rows: u16,
    cols: u16,
    frames: usize,
) -> Result<()> {
    use dicom_core::value::Value;
    if usize::from(rows) * usize::from(cols) > MAX_FRAME_PIXELS {
        return Err(attr_err(
            path,
            "Rows",
            format!(
                "{rows} x {cols}: more than the {MAX_FRAME_PIXELS} pixels a slice of a volume may have"
            ),
        ));
    }
    if rows == 0 || cols == 0 {
        return Err(attr_err(
            path,
            if rows == 0 { "Rows" } else { "Columns" },
            "0; an image has at least one row and one column",
        ));
    }
    let Some(pixel) = obj.get(tags::PIXEL_DATA) else {
        return Err(attr_err(path, "PixelData", "missing"));
    };
    let bits = obj
        .get(tags::BITS_ALLOCATED)
        .and_then(|e| e.to_int::<u16>().ok())
        .unwrap_or(16);
    let samples = obj
        .get(tags::SAMPLES_PER_PIXEL)
        .and_then(|e| e.to_int::<u16>().ok())
        .unwrap_or(1)
        .max(1);
    match pixel.value() {
        Value::PixelSequence(seq) => {
            let fragments = seq.fragments().len();
            if frames > fragments {
                return Err(attr_err(
                    path,
                    "NumberOfFrames",
                    format!("{frames} frames in {fragments} pixel data fragments"),
                ));
            }
        }
        Value::Primitive(p) => {
            let have = p.calculate_byte_len() as u128;
            let need = u128::from(rows)
                * u128::from(cols)
                * frames as u128
                * u128::from(samples)
                * u128::from(bits.div_ceil(8).max(1));
            if need > have {
                return Err(attr_err(
                    path,
                    "NumberOfFrames",
                    format!(
                        "{frames} frames of {rows} x {cols} need {need} bytes of pixel data; \
                         the file has {have}"
                    ),
                ));
            }
        }
        Value::Sequence(_) => {
            return Err(attr_err(path, "PixelData", "a sequence, not pixel data"));
        }
    }
    Ok(())
}

/// Assembles the files of one CT series into a volume of Hounsfield units (see the module docs):
/// rescaled values rounded to the nearest integer (clamped to the `i16` range). A single
/// multi-frame file (enhanced CT) is a series too. A gantry-tilted series is resampled onto an
/// orthogonal grid ([`Tilt::Resample`]); [`load_ct_volume_with`] says so, or refuses it.
pub fn load_ct_volume(files: &[PathBuf]) -> Result<Volume<i16>> {
    Ok(load_ct_volume_with(files, &LoadOptions::new())?.volume)
}

/// How a gantry-tilted series is read: its slices are parallel but each is shifted in its own
/// plane against the previous one (the table moved along patient z while the image plane is
/// tilted), so the stack is sheared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Tilt {
    /// Resample onto an orthogonal grid (axes along the slices' rows, columns and normal,
    /// widened in the image plane so that every slice keeps all its pixels): each slice moved
    /// back in its plane by its offset, with bilinear interpolation, as dcm2niix's tilt
    /// correction does. Points that no slice covers get the value of air (-1024 HU for CT, 0
    /// for activity). [`Loaded::tilt`] records what was done.
    #[default]
    Resample,
    /// Refuse the series (an [`Error::Series`] naming the offset found).
    Refuse,
}

/// Options of [`load_ct_volume_with`].
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct LoadOptions {
    /// What to do with a gantry-tilted (sheared) series.
    pub tilt: Tilt,
}

impl LoadOptions {
    /// The defaults: tilted series resampled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets what to do with a gantry-tilted series.
    #[must_use]
    pub fn tilt(mut self, tilt: Tilt) -> Self {
        self.tilt = tilt;
        self
    }
}

/// The resampling of a gantry-tilted series.
#[derive(Debug, Clone, PartialEq)]
pub struct TiltCorrection {
    /// The angle (degrees) between the slice normal and the line through the slices' origins.
    pub angle_deg: f64,
    /// Gantry/Detector Tilt (0018,1120) of the first file, degrees, where it is given.
    pub gantry_tilt_attribute_deg: Option<f64>,
    /// The largest in-plane offset of a slice from the first one, mm (what the resampling moved).
    pub max_offset_mm: f64,
}

/// A series read into a volume, and what was done to it.
#[derive(Debug, Clone)]
pub struct Loaded<T> {
    /// The volume (orthogonal grid).
    pub volume: Volume<T>,
    /// The tilt correction, for a gantry-tilted series that was resampled.
    pub tilt: Option<TiltCorrection>,
}

/// Assembles a CT series as [`load_ct_volume`] does, with `options` (what to do with a
/// gantry-tilted series), and says what was done.
pub fn load_ct_volume_with(files: &[PathBuf], options: &LoadOptions) -> Result<Loaded<i16>> {
    load_with(files, Mapping::Rescale, hounsfield, options.tilt, -1024.0)
}

/// A rescaled value to whole Hounsfield units: rounded half away from zero, clamped to the `i16`
/// range (NaN to 0). Written with a truncating cast rather than `f64::round`, which is a libm call
/// on baseline x86-64 and took a fifth of the series loading time.
fn hounsfield(v: f64) -> i16 {
    let c = v.clamp(f64::from(i16::MIN), f64::from(i16::MAX));
    let t = c as i32; // truncates toward zero; NaN gives 0
    let f = c - f64::from(t);
    (t + i32::from(f >= 0.5) - i32::from(f <= -0.5)) as i16
}

/// Options of [`load_activity_volume_with`].
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ActivityOptions {
    /// Bq/mL per unit of rescaled value, for images in counts (NM without a real-world value
    /// mapping, PET in CNTS): typically the reciprocal of a sensitivity measured on a phantom.
    /// `None` (the default) refuses count images.
    pub calibration_bq_per_ml: Option<f64>,
}

impl ActivityOptions {
    /// The defaults: only images that are in Bq/mL themselves.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts count images, converted with this factor (Bq/mL per count).
    #[must_use]
    pub fn calibration_bq_per_ml(mut self, factor: f64) -> Self {
        self.calibration_bq_per_ml = Some(factor);
        self
    }
}

/// Assembles a PET or NM (SPECT) series into an activity-concentration volume in Bq/mL, with the
/// default [`ActivityOptions`]; see [`load_activity_volume_with`].
pub fn load_activity_volume(files: &[PathBuf]) -> Result<Volume<f32>> {
    load_activity_volume_with(files, &ActivityOptions::new())
}

/// Assembles a PET or NM (SPECT) series into an activity-concentration volume in Bq/mL, for
/// voxelised sources. Where the values come from, in this order:
///
/// 1. Units (0054,1001) `BQML` (PET, and SPECT that follows the PET convention): Rescale
///    Slope/Intercept, per slice;
/// 2. a Real World Value Mapping (0040,9096) item in `Bq/ml` on every frame (quantitative SPECT;
///    per-frame, shared or top level): its slope and intercept;
/// 3. count images (Units `CNTS` or absent) with [`ActivityOptions::calibration_bq_per_ml`]:
///    rescaled counts times that factor.
///
/// Anything else is refused with an [`Error::Attribute`] naming Units. The values are as the
/// scanner stored them: decay correction and SUV are for the caller ([`crate::suv`] computes the
/// body-weight SUV factor from the series' radiopharmaceutical attributes).
pub fn load_activity_volume_with(
    files: &[PathBuf],
    options: &ActivityOptions,
) -> Result<Volume<f32>> {
    let (first, obj) = first_header(files)?;
    let units = text(&obj, tags::UNITS).unwrap_or_default();
    let has_rwv = rwv_bqml(&obj).is_some()
        || [
            tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE,
            tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
        ]
        .into_iter()
        .any(|seq| {
            obj.get(seq)
                .and_then(|e| e.items())
                .and_then(|i| i.first())
                .is_some_and(|i| rwv_bqml(i).is_some())
        });
    let mapping = match (units.as_str(), has_rwv, options.calibration_bq_per_ml) {
        ("BQML", _, _) => Mapping::Rescale,
        (_, true, _) => Mapping::RealWorldBqml,
        ("CNTS" | "", false, Some(c)) if c.is_finite() && c > 0.0 => Mapping::RescaleTimes(c),
        (_, false, Some(c)) if !(c.is_finite() && c > 0.0) => {
            return Err(attr_err(
                first,
                "Units",
                format!("calibration factor {c}: expected a positive number of Bq/mL per count"),
            ));
        }
        ("CNTS" | "", false, None) => {
            return Err(attr_err(
                first,
                "Units",
                format!(
                    "`{units}` and no Real World Value Mapping in Bq/ml: a count image, expected BQML \
                     (Bq/mL); give a calibration factor (ActivityOptions::calibration_bq_per_ml) \
                     to convert counts"
                ),
            ));
        }
        _ => {
            return Err(attr_err(
                first,
                "Units",
                format!("`{units}`; expected BQML (Bq/mL), or counts with a calibration factor"),
            ));
        }
    };
    Ok(load_with(files, mapping, |v| v as f32, Tilt::Resample, 0.0)?.volume)
}

/// The first file of a series and its header (without pixel data).
pub(crate) fn first_header(files: &[PathBuf]) -> Result<(&Path, DefaultDicomObject)> {
    let first = files.first().ok_or_else(|| Error::Series {
        series: "?".into(),
        problem: "no files".into(),
    })?;
    Ok((first, open(first, false)?))
}

/// The geometry checks and assembly shared by the loaders; `convert` maps rescaled values;
/// `tilt` says what to do with a sheared stack, `air` (a rescaled value) fills what resampling
/// leaves uncovered.
fn load_with<T: Copy + Default + Send>(
    files: &[PathBuf],
    mapping: Mapping,
    convert: impl Fn(f64) -> T + Sync,
    tilt: Tilt,
    air: f64,
) -> Result<Loaded<T>> {
    let first = files.first().ok_or_else(|| Error::Series {
        series: "?".into(),
        problem: "no files".into(),
    })?;
    // Files are parsed, and below decoded, on every core; results keep the file order, so the
    // volume and the first error reported do not depend on the thread count.
    let objects: Vec<(PathBuf, DefaultDicomObject)> = files
        .par_iter()
        .map(|p| open(p, true).map(|o| (p.clone(), o)))
        .collect::<Vec<_>>()
        .into_iter()
        .collect::<Result<_>>()?;
    let series = text(&objects[0].1, tags::SERIES_INSTANCE_UID).unwrap_or_else(|| "?".into());
    let problem = |m: String| Error::Series {
        series: series.clone(),
        problem: m,
    };
    let mut slices = Vec::with_capacity(objects.len());
    for (i, (path, obj)) in objects.iter().enumerate() {
        let uid = text(obj, tags::SERIES_INSTANCE_UID).unwrap_or_default();
        if uid != series {
            return Err(problem(format!(
                "{} belongs to series {uid}: one series at a time",
                path.display()
            )));
        }
        slices.extend(read_slices(path, obj, i)?);
    }
    let s0 = slices[0].clone();
    for s in &slices[1..] {
        if (s.row - s0.row).norm() > 1e-4 || (s.col - s0.col).norm() > 1e-4 {
            return Err(problem(format!(
                "orientation changes: {} has {}/{}, {} has {}/{}",
                first.display(),
                s0.row,
                s0.col,
                s.path.display(),
                s.row,
                s.col
            )));
        }
        if (s.rows, s.cols) != (s0.rows, s0.cols) {
            return Err(problem(format!(
                "slice size changes: {}x{} then {}x{} in {}",
                s0.cols,
                s0.rows,
                s.cols,
                s.rows,
                s.path.display()
            )));
        }
        if (s.spacing[0] - s0.spacing[0]).abs() > 1e-4
            || (s.spacing[1] - s0.spacing[1]).abs() > 1e-4
        {
            return Err(problem(format!(
                "pixel spacing changes: {:?} then {:?} in {}",
                s0.spacing,
                s.spacing,
                s.path.display()
            )));
        }
    }
    let normal = s0.row.cross(s0.col);
    let mut order: Vec<(f64, usize)> = slices
        .iter()
        .enumerate()
        .map(|(i, s)| (s.position.dot(normal), i))
        .collect();
    order.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut gaps = Vec::new();
    for w in order.windows(2) {
        let (a, b) = (&slices[w[0].1], &slices[w[1].1]);
        let gap = w[1].0 - w[0].0;
        if gap < 1e-3 {
            return Err(problem(format!(
                "duplicate slice position {:.3} mm along the normal: {} and {}",
                w[0].0,
                a.path.display(),
                b.path.display()
            )));
        }
        let shift = b.position - a.position - normal * gap;
        if shift.norm() > TILT_TOLERANCE_MM && tilt == Tilt::Refuse {
            return Err(problem(format!(
                "slices are sheared (gantry tilt?): consecutive origins {} and {} are offset by {:.3} mm in the image plane",
                a.position,
                b.position,
                shift.norm()
            )));
        }
        gaps.push(gap);
    }
    // Each slice's in-plane offset from the first (sorted) slice, in pixels along its rows and
    // columns: zero for an orthogonal stack, growing slice by slice for a tilted one.
    let o = slices[order[0].1].position;
    let mut offsets = vec![(0.0, 0.0); slices.len()];
    let mut max_offset = 0.0f64;
    for (i, s) in slices.iter().enumerate() {
        let d = s.position - o;
        let in_plane = d - normal * d.dot(normal);
        max_offset = max_offset.max(in_plane.norm());
        offsets[i] = (d.dot(s0.row) / s0.spacing[1], d.dot(s0.col) / s0.spacing[0]);
    }
    let sheared = order.windows(2).any(|w| {
        let d = slices[w[1].1].position - slices[w[0].1].position;
        (d - normal * d.dot(normal)).norm() > TILT_TOLERANCE_MM
    });
    if sheared {
        // A gantry tilt shifts each slice in its plane in proportion to its distance along the
        // normal: anything else (zig-zag offsets, a stray slice) is not a tilt to correct.
        // (Attack round on issue 26: irregular and extreme shears were taken for tilts.)
        if !max_offset.is_finite() {
            return Err(problem(
                "slice positions too far apart to form a volume".into(),
            ));
        }
        let w0 = order[0].0;
        let last = &order[order.len() - 1];
        let span = last.0 - w0;
        let (ex, ey) = offsets[last.1];
        for &(w, i) in &order {
            let f = if span > 0.0 { (w - w0) / span } else { 0.0 };
            let (dx, dy) = offsets[i];
            let off_mm = ((dx - f * ex) * s0.spacing[1]).hypot((dy - f * ey) * s0.spacing[0]);
            if off_mm > TILT_TOLERANCE_MM.max(0.1 * s0.spacing[0].min(s0.spacing[1])) {
                return Err(problem(format!(
                    "slices are shifted in their planes irregularly ({off_mm:.3} mm off the line of a gantry tilt at {}): not a tilted series to correct",
                    slices[i].path.display()
                )));
            }
        }
        let angle = (max_offset / span.max(1e-9)).atan().to_degrees();
        if angle > MAX_TILT_DEG {
            return Err(problem(format!(
                "slices sheared by {angle:.1} degrees: more than the {MAX_TILT_DEG} degrees of a gantry tilt"
            )));
        }
    }
    let correction = sheared.then(|| {
        let last = slices[order[order.len() - 1].1].position - o;
        let along = last.dot(normal);
        let across = (last - normal * along).norm();
        TiltCorrection {
            angle_deg: across.atan2(along).to_degrees(),
            gantry_tilt_attribute_deg: text(&objects[0].1, tags::GANTRY_DETECTOR_TILT)
                .and_then(|t| t.trim().parse::<f64>().ok())
                .filter(|t| t.is_finite()),
            max_offset_mm: max_offset,
        }
    });
    if !sheared {
        offsets.iter_mut().for_each(|x| *x = (0.0, 0.0));
    }
    let dz = if gaps.is_empty() {
        // One slice: use the thickness, or 1 mm.
        text(&objects[0].1, tags::SLICE_THICKNESS)
            .and_then(|t| t.trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(1.0)
    } else {
        let mut sorted = gaps.clone();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    };
    let tol = (dz * SPACING_TOLERANCE).max(0.01);
    for (k, gap) in gaps.iter().enumerate() {
        if (gap - dz).abs() > tol {
            let multiple = gap / dz;
            let what = if (multiple - multiple.round()).abs() * dz <= tol && multiple.round() >= 2.0
            {
                format!(
                    "{} missing slice(s) between {:.3} mm and {:.3} mm along the normal",
                    multiple.round() as usize - 1,
                    order[k].0,
                    order[k + 1].0
                )
            } else {
                format!(
                    "irregular slice spacing: gap of {gap:.4} mm between {:.3} mm and {:.3} mm, where the series mostly has {dz:.4} mm",
                    order[k].0,
                    order[k + 1].0
                )
            };
            return Err(problem(what));
        }
    }

    let (nx, ny, nz) = (usize::from(s0.cols), usize::from(s0.rows), slices.len());
    // A tilted series' orthogonal grid covers every slice: widened in the image plane by the
    // slices' offsets (air where a slice does not reach), so that no tissue is cut off.
    let (lo_x, hi_x, lo_y, hi_y) = offsets
        .iter()
        .fold((0.0f64, 0.0f64, 0.0f64, 0.0f64), |a, o| {
            (a.0.min(o.0), a.1.max(o.0), a.2.min(o.1), a.3.max(o.1))
        });
    let (shift_x, shift_y) = (lo_x.floor(), lo_y.floor());
    let (nxo, nyo) = (
        nx + (hi_x.ceil() - shift_x) as usize,
        ny + (hi_y.ceil() - shift_y) as usize,
    );
    let origin = slices[order[0].1].position
        + s0.row * (shift_x * s0.spacing[1])
        + s0.col * (shift_y * s0.spacing[0]);
    let grid = Grid::builder([nxo, nyo, nz])
        .spacing([s0.spacing[1], s0.spacing[0], dz])
        .origin(origin)
        .direction([s0.row, s0.col, normal])
        .build()
        .map_err(|e| problem(format!("geometry does not form a grid: {e}")))?;
    let n = nx * ny;
    let n_out = nxo * nyo;
    // The volume is allocated before the (compressed) pixel data is decoded: bounded here, so
    // that a small file announcing a huge image cannot make it allocate gigabytes.
    if n_out.saturating_mul(nz) > MAX_SERIES_VOXELS {
        return Err(problem(format!(
            "{nxo} x {nyo} x {nz} voxels: more than the {MAX_SERIES_VOXELS} a series volume may have"
        )));
    }
    // Each file decoded once (a multi-frame file once for all its frames), on every core, straight
    // into the places of its frames in the volume.
    let mut data = vec![T::default(); n_out * nz];
    // Per file: (file index, [(slice index, its place in the volume)]).
    type Places<'v, T> = Vec<(usize, &'v mut [T])>;
    let mut jobs: Vec<(usize, Places<'_, T>)> =
        (0..objects.len()).map(|o| (o, Vec::new())).collect();
    for (&(_, i), place) in order.iter().zip(data.chunks_mut(n_out)) {
        jobs[slices[i].obj].1.push((i, place));
    }
    let fill = |(o, places): (usize, Places<'_, T>)| -> Result<()> {
        let (path, obj) = &objects[o];
        let stored = decode_stored(path, obj, n * places.len())?;
        for (i, place) in places {
            let s = &slices[i];
            let (slope, intercept) = match mapping {
                Mapping::Rescale => (s.slope, s.intercept),
                Mapping::RescaleTimes(c) => (s.slope * c, s.intercept * c),
                Mapping::RealWorldBqml => s.bqml.ok_or_else(|| {
                    attr_err(
                        &s.path,
                        "RealWorldValueMappingSequence",
                        format!(
                            "frame {}: no mapping to Bq/ml although other frames of the series have one",
                            s.frame + 1
                        ),
                    )
                })?,
            };
            let frame = &stored.raw[s.frame * n..(s.frame + 1) * n];
            let (dx, dy) = offsets[i];
            let (dx, dy) = (dx - shift_x, dy - shift_y);
            if dx == 0.0 && dy == 0.0 && n_out == n {
                for (out, &r) in place.iter_mut().zip(frame) {
                    *out = convert(stored.value(r) * slope + intercept);
                }
            } else {
                // Tilt correction: the orthogonal grid's pixel (x, y) lies at (x - dx, y - dy)
                // of this slice; bilinear between its four neighbours, air outside.
                let value =
                    |x: usize, y: usize| stored.value(frame[y * nx + x]) * slope + intercept;
                for (k, out) in place.iter_mut().enumerate() {
                    let (x, y) = ((k % nxo) as f64 - dx, (k / nxo) as f64 - dy);
                    let inside = x >= -1e-9
                        && y >= -1e-9
                        && x <= (nx - 1) as f64 + 1e-9
                        && y <= (ny - 1) as f64 + 1e-9;
                    let v = if inside {
                        let (x, y) = (x.clamp(0.0, (nx - 1) as f64), y.clamp(0.0, (ny - 1) as f64));
                        let (x0, y0) = (x.floor() as usize, y.floor() as usize);
                        let (x1, y1) = ((x0 + 1).min(nx - 1), (y0 + 1).min(ny - 1));
                        let (fx, fy) = (x - x0 as f64, y - y0 as f64);
                        (1.0 - fy) * ((1.0 - fx) * value(x0, y0) + fx * value(x1, y0))
                            + fy * ((1.0 - fx) * value(x0, y1) + fx * value(x1, y1))
                    } else {
                        air
                    };
                    *out = convert(v);
                }
            }
        }
        Ok(())
    };
    jobs.into_par_iter()
        .map(fill)
        .collect::<Vec<_>>()
        .into_iter()
        .collect::<Result<Vec<()>>>()?;
    Ok(Loaded {
        volume: Volume::new(grid, data)?,
        tilt: correction,
    })
}

/// The stored 16-bit values of every frame of a file, before rescale.
///
/// Native 16-bit data is borrowed from the parsed object (no copy); only the low Bits Stored bits
/// of a value count (PS3.5 8.1.1; High Bit is Bits Stored - 1 in every IOD read here).
struct Stored<'a> {
    raw: std::borrow::Cow<'a, [u16]>,
    signed: bool,
    /// Bits Stored.
    bits: u32,
}

impl Stored<'_> {
    /// The value of a stored word: its low `bits` bits, sign-extended when signed.
    fn value(&self, r: u16) -> f64 {
        let shift = 16 - self.bits;
        if self.signed {
            f64::from(((r << shift) as i16) >> shift)
        } else {
            f64::from((r << shift) >> shift)
        }
    }
}

/// The stored values of every frame of a file (`n` values in all), from 8- or 16-bit
/// single-sample pixel data, native or encapsulated.
fn decode_stored<'a>(path: &Path, obj: &'a DefaultDicomObject, n: usize) -> Result<Stored<'a>> {
    let ts = obj
        .meta()
        .transfer_syntax()
        .trim_end_matches('\0')
        .to_string();
    let us = |tag, name| -> Result<u16> {
        obj.get(tag)
            .and_then(|e| e.to_int::<u16>().ok())
            .ok_or_else(|| attr_err(path, name, "missing or not an unsigned 16-bit integer"))
    };
    let bits = us(tags::BITS_ALLOCATED, "BitsAllocated")?;
    if bits != 8 && bits != 16 {
        return Err(attr_err(
            path,
            "BitsAllocated",
            format!("{bits}; expected 8 or 16"),
        ));
    }
    let samples = us(tags::SAMPLES_PER_PIXEL, "SamplesPerPixel")?;
    if samples != 1 {
        return Err(attr_err(
            path,
            "SamplesPerPixel",
            format!("{samples}; expected 1 (a grey-scale image)"),
        ));
    }
    let signed = us(tags::PIXEL_REPRESENTATION, "PixelRepresentation")? == 1;
    let raw: std::borrow::Cow<'a, [u16]> = if UNCOMPRESSED.contains(&ts.as_str()) {
        let pixel = obj
            .get(tags::PIXEL_DATA)
            .ok_or_else(|| attr_err(path, "PixelData", "missing"))?;
        // 8-bit values are widened so that `Stored::value` reads them back with their sign.
        let widen8 = |b: u8| {
            if signed {
                b as i8 as i16 as u16
            } else {
                u16::from(b)
            }
        };
        match (bits, pixel.value().primitive()) {
            (16, Some(PrimitiveValue::U16(v))) => std::borrow::Cow::Borrowed(&v[..]),
            (16, Some(PrimitiveValue::I16(v))) => v.iter().map(|x| *x as u16).collect(),
            (16, Some(PrimitiveValue::U8(b))) => b
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect(),
            (8, Some(PrimitiveValue::U8(b))) => b.iter().map(|&x| widen8(x)).collect(),
            // OW read as words although BitsAllocated is 8: the bytes in file (little-endian) order.
            (8, Some(PrimitiveValue::U16(v))) => {
                v.iter().flat_map(|w| w.to_le_bytes()).map(widen8).collect()
            }
            _ => {
                return Err(attr_err(
                    path,
                    "PixelData",
                    format!("not native {bits}-bit pixel data"),
                ));
            }
        }
    } else if ts == uids::JPEG_EXTENDED12_BIT {
        // 8- and 12-bit lossy JPEG: hope-dicom's own decoder (the pure-Rust one dicom-pixeldata
        // uses stops at 8 bits).
        decode_jpeg_extended(path, obj, &ts, n)?.into()
    } else {
        // Encapsulated pixel data (RLE, JPEG; with features JPEG 2000 and JPEG-LS): decoded to
        // stored values; the rescale is applied by the caller, as for native data.
        use dicom_encoding::TransferSyntaxIndex;
        use dicom_pixeldata::{ConvertOptions, ModalityLutOption, PixelDecoder};
        use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
        let decodable = TransferSyntaxRegistry
            .get(&ts)
            .is_some_and(|t| t.can_decode_all());
        if !decodable {
            return Err(Error::UnsupportedTransferSyntax {
                path: path.to_path_buf(),
                transfer_syntax: ts,
            });
        }
        let failed = |e: &dyn std::error::Error| Error::PixelDecode {
            path: path.to_path_buf(),
            transfer_syntax: ts.clone(),
            message: error_chain(e),
        };
        if ts == uids::RLE_LOSSLESS {
            check_rle(path, obj, &ts, bits)?;
        }
        // The decoders are another crate's: a panic there (one was found on RLE data, and
        // reported upstream) is this file's error, never the caller's crash.
        let decoded =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| obj.decode_pixel_data()))
                .map_err(|_| Error::PixelDecode {
                    path: path.to_path_buf(),
                    transfer_syntax: ts.clone(),
                    message: "the decoder failed on this pixel data (malformed stream)".into(),
                })?
                .map_err(|e| failed(&e))?;
        let opts = ConvertOptions::new().with_modality_lut(ModalityLutOption::None);
        if signed {
            decoded
                .to_vec_with_options::<i16>(&opts)
                .map_err(|e| failed(&e))?
                .into_iter()
                .map(|v| v as u16)
                .collect()
        } else {
            decoded
                .to_vec_with_options::<u16>(&opts)
                .map_err(|e| failed(&e))?
                .into()
        }
    };
    if raw.len() < n {
        return Err(attr_err(
            path,
            "PixelData",
            format!("{} pixels; Rows x Columns x frames needs {n}", raw.len()),
        ));
    }
    let stored = obj
        .get(tags::BITS_STORED)
        .and_then(|e| e.to_int::<u16>().ok())
        .unwrap_or(bits);
    if stored == 0 || stored > bits {
        return Err(attr_err(
            path,
            "BitsStored",
            format!("{stored}; expected 1 to BitsAllocated ({bits})"),
        ));
    }
    // 8-bit values were widened (sign-extended) to 16 bits above, so 8 bits stored in 8 allocated
    // read back as they are; otherwise the high bits are dropped.
    let bits = if bits == 8 && stored == 8 {
        16
    } else {
        u32::from(stored)
    };
    Ok(Stored { raw, signed, bits })
}

/// The fragments of `obj`'s encapsulated pixel data.
fn encapsulated_fragments<'a>(path: &Path, obj: &'a DefaultDicomObject) -> Result<&'a [Vec<u8>]> {
    let pixel = obj
        .get(tags::PIXEL_DATA)
        .ok_or_else(|| attr_err(path, "PixelData", "missing"))?;
    pixel.value().fragments().ok_or_else(|| {
        attr_err(
            path,
            "PixelData",
            "not encapsulated although the transfer syntax is",
        )
    })
}

/// Checks every RLE frame of `obj` (one per fragment) before the decoder sees it.
fn check_rle(path: &Path, obj: &DefaultDicomObject, ts: &str, bits: u16) -> Result<()> {
    let fragments = encapsulated_fragments(path, obj)?;
    let us = |tag| {
        obj.get(tag)
            .and_then(|e| e.to_int::<u16>().ok())
            .unwrap_or(0)
    };
    let segment_len = usize::from(us(tags::ROWS)) * usize::from(us(tags::COLUMNS));
    let segments = usize::from(bits / 8) * usize::from(us(tags::SAMPLES_PER_PIXEL).max(1));
    for (i, f) in fragments.iter().enumerate() {
        crate::deid::codestream::check_rle_frame(f, segments, segment_len).map_err(|m| {
            Error::PixelDecode {
                path: path.to_path_buf(),
                transfer_syntax: ts.to_string(),
                message: format!("RLE frame {}: {m}", i + 1),
            }
        })?;
    }
    Ok(())
}

/// Decodes JPEG Extended (process 2 and 4) pixel data, frame after frame, with [`crate::jpeg`].
fn decode_jpeg_extended(
    path: &Path,
    obj: &DefaultDicomObject,
    ts: &str,
    n: usize,
) -> Result<Vec<u16>> {
    let failed = |message: String| Error::PixelDecode {
        path: path.to_path_buf(),
        transfer_syntax: ts.to_string(),
        message,
    };
    let fragments = encapsulated_fragments(path, obj)?;
    // Every frame is a complete JPEG image from SOI to EOI, and frames start on fragment
    // boundaries (PS3.5 A.4), so the frames are the images found one after the other in the
    // concatenated fragments, whatever the fragmentation and whether or not there is an offset table.
    let stream: Vec<u8> = fragments.iter().flatten().copied().collect();
    let size = |tag| obj.get(tag).and_then(|e| e.to_int::<usize>().ok());
    let (rows, cols) = (size(tags::ROWS), size(tags::COLUMNS));
    let mut out = Vec::with_capacity(n);
    let mut pos = 0usize;
    let mut frame = 0usize;
    while out.len() < n {
        let Some(start) = stream[pos..]
            .windows(2)
            .position(|w| w == [0xFF, 0xD8])
            .map(|p| pos + p)
        else {
            return Err(failed(format!(
                "frame {}: no more JPEG images in the pixel data ({} of {n} pixels decoded)",
                frame + 1,
                out.len()
            )));
        };
        let (image, next) = crate::jpeg::decode(&stream, start)
            .map_err(|e| failed(format!("frame {}: {e}", frame + 1)))?;
        if (Some(image.height), Some(image.width)) != (rows, cols) {
            return Err(failed(format!(
                "frame {}: the JPEG image is {}x{}, Rows x Columns say {}x{}",
                frame + 1,
                image.height,
                image.width,
                rows.unwrap_or(0),
                cols.unwrap_or(0)
            )));
        }
        out.extend_from_slice(&image.samples);
        pos = next;
        frame += 1;
    }
    Ok(out)
}

/// A codec error with its causes, as one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

/// One series found by [`scan_dir`].
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesInfo {
    /// Series Instance UID.
    pub series_uid: String,
    /// Frame of Reference UID (empty when absent).
    pub frame_of_reference_uid: String,
    /// Modality.
    pub modality: String,
    /// Its image files, in file-name order (the loader orders them by position).
    pub files: Vec<PathBuf>,
}

/// What [`scan_dir`] found.
#[derive(Debug, Clone, Default)]
pub struct ScanReport {
    /// Series usable for volume assembly, by Series Instance UID.
    pub series: Vec<SeriesInfo>,
    /// Files set aside, each with the reason (not DICOM, localizer, secondary capture, no image).
    pub notes: Vec<(PathBuf, String)>,
    /// DICOM files (Part 10 preamble and `DICM`) that could not be read: damaged or truncated.
    /// They may be slices of a series, so a volume assembled without them may have gaps that
    /// look like a coarser spacing; callers refuse to go on unless told to skip them.
    pub unreadable: Vec<(PathBuf, String)>,
}

/// Whether `path` starts like a DICOM Part 10 file (`DICM`, after the preamble or without one).
fn looks_like_dicom(path: &Path) -> bool {
    use std::io::Read;
    let mut head = Vec::with_capacity(132);
    hope_core::fs::open_regular(path)
        .and_then(|f| f.take(132).read_to_end(&mut head))
        .is_ok()
        && crate::guard::part10_start(&head).is_some()
}

/// Groups the DICOM files under `dir` (recursively) by series and frame of reference; files that are
/// not DICOM, localizers, secondary captures and non-image objects are listed in the notes.
pub fn scan_dir(dir: &Path) -> Result<ScanReport> {
    let mut paths = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(|e| Error::Io {
            path: d.clone(),
            source: e,
        })? {
            let entry = entry.map_err(|e| Error::Io {
                path: d.clone(),
                source: e,
            })?;
            let p = entry.path();
            // Links to directories are not followed (two links to `.` would give 2^40 paths).
            let kind = entry.file_type().map_err(|e| Error::Io {
                path: p.clone(),
                source: e,
            })?;
            if kind.is_dir() {
                stack.push(p)
            } else if kind.is_symlink() && p.is_dir() {
                continue;
            } else {
                paths.push(p)
            }
        }
    }
    paths.sort();
    let mut groups: BTreeMap<(String, String), SeriesInfo> = BTreeMap::new();
    let mut report = ScanReport::default();
    for p in paths {
        let obj = match open(&p, false) {
            Ok(o) => o,
            Err(e) if looks_like_dicom(&p) => {
                report.unreadable.push((p, e.to_string()));
                continue;
            }
            Err(e) => {
                report.notes.push((p, e.to_string()));
                continue;
            }
        };
        let sop_class = text(&obj, tags::SOP_CLASS_UID).unwrap_or_default();
        let image_type = text(&obj, tags::IMAGE_TYPE)
            .unwrap_or_default()
            .to_ascii_uppercase();
        if sop_class.starts_with("1.2.840.10008.5.1.4.1.1.7") {
            report
                .notes
                .push((p, "secondary capture: not used for volume assembly".into()));
            continue;
        }
        if image_type.contains("LOCALIZER") {
            report
                .notes
                .push((p, "localizer: not used for volume assembly".into()));
            continue;
        }
        if obj.get(tags::IMAGE_POSITION_PATIENT).is_none() {
            report.notes.push((
                p,
                "no Image Position (Patient): not a slice of a volume".into(),
            ));
            continue;
        }
        let series_uid = text(&obj, tags::SERIES_INSTANCE_UID).unwrap_or_default();
        let for_uid = text(&obj, tags::FRAME_OF_REFERENCE_UID).unwrap_or_default();
        let modality = text(&obj, tags::MODALITY).unwrap_or_default();
        groups
            .entry((series_uid.clone(), for_uid.clone()))
            .or_insert_with(|| SeriesInfo {
                series_uid,
                frame_of_reference_uid: for_uid,
                modality,
                files: Vec::new(),
            })
            .files
            .push(p);
    }
    report.series = groups.into_values().collect();
    Ok(report)
}

#[cfg(test)]
mod tests {
    #[test]
    fn hounsfield_rounding_matches_f64_round() {
        for v in [
            0.0f64, 0.49, 0.5, 0.51, -0.5, -0.49, -0.51, 1.5, -1.5, 2.5, -1024.5, 32766.6, 32767.5,
            1e9, -1e9, -32768.4, -32769.0,
        ] {
            let expected = v.round().clamp(-32768.0, 32767.0) as i16;
            assert_eq!(super::hounsfield(v), expected, "{v}");
        }
        assert_eq!(super::hounsfield(f64::NAN), 0);
    }
}
