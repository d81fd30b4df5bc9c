//! RT Dose: a dose volume in Gy written as a DICOM RT Dose instance that refers to the CT it was
//! computed on, and read back.
//!
//! The dose grid is one multi-frame image: `Rows` x `Columns` x `NumberOfFrames`, 32-bit unsigned
//! pixels scaled by `DoseGridScaling` (Gy per stored unit, chosen so that the maximum dose uses the
//! full range: the quantisation step is max / (2^32 - 1)), frames placed by `GridFrameOffsetVector`
//! (relative offsets along the slice normal, the first 0) from `ImagePositionPatient`. Patient and
//! study attributes and the Frame of Reference come from the CT; the RT Dose gets new Series and
//! SOP Instance UIDs. dicom-pixeldata cannot convert 32-bit pixel data, so the reader decodes the
//! bytes itself.

use std::path::Path;

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{DefaultDicomObject, InMemDicomObject};
use hope_core::{Grid, Vec3, Volume};

use crate::attrs::{
    attr_err, derived_from_ct, ds, ds_multi, floats, native_little_endian, new_instance, open,
    text, write_part10,
};
use crate::uid::new_uid;
use crate::{Error, Result};

/// How the dose was summed (DICOM Dose Summation Type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DoseSummation {
    /// The whole plan.
    #[default]
    Plan,
    /// One fraction.
    Fraction,
    /// One beam or source (e.g. one seed).
    Beam,
}

/// Options of [`write_rt_dose`].
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct RtDoseOptions {
    summation: DoseSummation,
    series_description: Option<String>,
    referenced_plan: Option<String>,
}

impl RtDoseOptions {
    /// Defaults: a physical plan dose, no plan reference.
    pub fn new() -> Self {
        Self::default()
    }

    /// Dose Summation Type.
    pub fn summation(mut self, s: DoseSummation) -> Self {
        self.summation = s;
        self
    }

    /// Series Description (default `HOPE-rs Monte Carlo dose`).
    pub fn series_description(mut self, d: impl Into<String>) -> Self {
        self.series_description = Some(d.into());
        self
    }

    /// SOP Instance UID of the RT Plan the dose belongs to (Referenced RT Plan Sequence).
    pub fn referenced_plan(mut self, sop_instance_uid: impl Into<String>) -> Self {
        self.referenced_plan = Some(sop_instance_uid.into());
        self
    }
}

/// What [`write_rt_dose`] wrote.
#[derive(Debug, Clone)]
pub struct WrittenDose {
    /// SOP Instance UID of the RT Dose.
    pub sop_instance_uid: String,
    /// Its Series Instance UID.
    pub series_uid: String,
    /// Gy per stored unit.
    pub dose_grid_scaling: f64,
}

/// Writes `dose` (Gy) as an RT Dose instance at `path` (atomically), referring to the CT file
/// `ct_file` (any slice of the series the dose was computed on).
pub fn write_rt_dose(
    dose: &Volume<f32>,
    path: &Path,
    ct_file: &Path,
    options: &RtDoseOptions,
) -> Result<WrittenDose> {
    let g = dose.grid();
    let [nx, ny, nz] = g.dims();
    let d = g.direction();
    let bad = |m: String| Error::Write {
        path: path.to_path_buf(),
        message: m,
    };
    if (d[0].cross(d[1]) - d[2]).norm() > 1e-6 {
        return Err(bad(
            "the dose grid's third axis is not the slice normal (a left-handed grid)".into(),
        ));
    }
    if nx > usize::from(u16::MAX) || ny > usize::from(u16::MAX) {
        return Err(bad(format!(
            "{nx} x {ny} exceeds DICOM's 65535 rows or columns"
        )));
    }
    let mut max = 0.0f32;
    for (i, v) in dose.data().iter().enumerate() {
        if !v.is_finite() || *v < 0.0 {
            return Err(bad(format!(
                "dose value {v} at voxel {:?}; expected finite, non-negative Gy",
                g.index_of(i)
            )));
        }
        max = max.max(*v);
    }
    // DS holds 16 characters: the written scaling is rounded, and must not round below
    // max / (2^32 - 1), or the maximum would not fit in 32 bits.
    let exact = if max > 0.0 {
        f64::from(max) / f64::from(u32::MAX)
    } else {
        1e-9
    };
    let mut scaling_text = ds(exact);
    let mut scaling: f64 = scaling_text
        .parse()
        .map_err(|_| bad("dose grid scaling".into()))?;
    // Rounded down: step up by a part in 10^9 (DS keeps at least 10 significant digits in
    // exponent form), a bounded number of times.
    let mut bump = 1.0;
    for _ in 0..64 {
        if scaling >= exact {
            break;
        }
        bump += 1e-9;
        scaling_text = ds(exact * bump);
        scaling = scaling_text
            .parse()
            .map_err(|_| bad("dose grid scaling".into()))?;
    }
    if !(scaling >= exact && scaling.is_finite() && scaling > 0.0) {
        return Err(bad(format!(
            "no decimal string of 16 characters holds a dose grid scaling of at least {exact:e}"
        )));
    }
    let mut bytes = Vec::with_capacity(dose.data().len() * 4);
    for v in dose.data() {
        let q = (f64::from(*v) / scaling)
            .round()
            .clamp(0.0, f64::from(u32::MAX)) as u32;
        bytes.extend_from_slice(&q.to_le_bytes());
    }

    let (_, mut obj, _) = derived_from_ct(ct_file, "dose")?;
    let sop_uid = new_uid()?;
    let series_uid = new_uid()?;
    let s = |v: &str| PrimitiveValue::from(v);
    let summation = match options.summation {
        DoseSummation::Plan => "PLAN",
        DoseSummation::Fraction => "FRACTION",
        DoseSummation::Beam => "BEAM",
    };
    let sp = g.spacing();
    let offsets: Vec<f64> = (0..nz).map(|k| k as f64 * sp.z).collect();
    let origin = g.origin();
    for e in new_instance(uids::RT_DOSE_STORAGE, &sop_uid, "RTDOSE", &series_uid) {
        obj.put(e);
    }
    for e in [
        DataElement::new(
            tags::SERIES_DESCRIPTION,
            VR::LO,
            s(options
                .series_description
                .as_deref()
                .unwrap_or("HOPE-rs Monte Carlo dose")),
        ),
        DataElement::new(
            tags::IMAGE_POSITION_PATIENT,
            VR::DS,
            ds_multi(&origin.to_array()),
        ),
        DataElement::new(
            tags::IMAGE_ORIENTATION_PATIENT,
            VR::DS,
            ds_multi(&[d[0].x, d[0].y, d[0].z, d[1].x, d[1].y, d[1].z]),
        ),
        DataElement::new(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16)),
        DataElement::new(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, s("MONOCHROME2")),
        DataElement::new(tags::NUMBER_OF_FRAMES, VR::IS, s(&nz.to_string())),
        DataElement::new(
            tags::FRAME_INCREMENT_POINTER,
            VR::AT,
            PrimitiveValue::Tags([tags::GRID_FRAME_OFFSET_VECTOR].into_iter().collect()),
        ),
        DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(ny as u16)),
        DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(nx as u16)),
        DataElement::new(tags::PIXEL_SPACING, VR::DS, ds_multi(&[sp.y, sp.x])),
        DataElement::new(tags::SLICE_THICKNESS, VR::DS, s(&ds(sp.z))),
        DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(32u16)),
        DataElement::new(tags::BITS_STORED, VR::US, PrimitiveValue::from(32u16)),
        DataElement::new(tags::HIGH_BIT, VR::US, PrimitiveValue::from(31u16)),
        DataElement::new(
            tags::PIXEL_REPRESENTATION,
            VR::US,
            PrimitiveValue::from(0u16),
        ),
        DataElement::new(tags::DOSE_UNITS, VR::CS, s("GY")),
        DataElement::new(tags::DOSE_TYPE, VR::CS, s("PHYSICAL")),
        DataElement::new(tags::DOSE_SUMMATION_TYPE, VR::CS, s(summation)),
        DataElement::new(tags::GRID_FRAME_OFFSET_VECTOR, VR::DS, ds_multi(&offsets)),
        DataElement::new(tags::DOSE_GRID_SCALING, VR::DS, s(&scaling_text)),
        DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U8(bytes.into())),
    ] {
        obj.put(e);
    }
    if let Some(plan) = &options.referenced_plan {
        let item = InMemDicomObject::from_element_iter([
            DataElement::new(
                tags::REFERENCED_SOP_CLASS_UID,
                VR::UI,
                s(uids::RT_PLAN_STORAGE),
            ),
            DataElement::new(tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, s(plan)),
        ]);
        obj.put(DataElement::new(
            tags::REFERENCED_RT_PLAN_SEQUENCE,
            VR::SQ,
            dicom_core::value::DataSetSequence::from(vec![item]),
        ));
    }
    write_part10(obj, path, uids::RT_DOSE_STORAGE, &sop_uid)?;
    Ok(WrittenDose {
        sop_instance_uid: sop_uid,
        series_uid,
        dose_grid_scaling: scaling,
    })
}

/// Reads an RT Dose instance into a dose volume in Gy (scaled by DoseGridScaling).
pub fn read_rt_dose(path: &Path) -> Result<Volume<f32>> {
    let obj: DefaultDicomObject = open(path, true)?;
    if text(&obj, tags::MODALITY).as_deref() != Some("RTDOSE") {
        return Err(attr_err(path, "Modality", "expected RTDOSE"));
    }
    native_little_endian(path, &obj)?;
    let int = |tag, name: &'static str| -> Result<usize> {
        obj.get(tag)
            .and_then(|e| e.to_int::<u32>().ok())
            .map(|v| v as usize)
            .filter(|v| *v > 0)
            .ok_or_else(|| attr_err(path, name, "missing or not a positive integer"))
    };
    let (rows, cols) = (int(tags::ROWS, "Rows")?, int(tags::COLUMNS, "Columns")?);
    let frames = obj
        .get(tags::NUMBER_OF_FRAMES)
        .map_or(Ok(1), |_| int(tags::NUMBER_OF_FRAMES, "NumberOfFrames"))?;
    let bits = int(tags::BITS_ALLOCATED, "BitsAllocated")?;
    if bits != 32 && bits != 16 {
        return Err(attr_err(
            path,
            "BitsAllocated",
            format!("{bits}; expected 16 or 32"),
        ));
    }
    let p = floats(
        &obj,
        path,
        tags::IMAGE_POSITION_PATIENT,
        "ImagePositionPatient",
        3,
    )?;
    let o = floats(
        &obj,
        path,
        tags::IMAGE_ORIENTATION_PATIENT,
        "ImageOrientationPatient",
        6,
    )?;
    let s = floats(&obj, path, tags::PIXEL_SPACING, "PixelSpacing", 2)?;
    let offsets = floats(
        &obj,
        path,
        tags::GRID_FRAME_OFFSET_VECTOR,
        "GridFrameOffsetVector",
        frames,
    )?;
    let scaling = floats(&obj, path, tags::DOSE_GRID_SCALING, "DoseGridScaling", 1)?[0];
    // Doses above 10^6 Gy per stored unit, zero or negative scalings are no dose a planning
    // system writes: refused, never turned into a dose of zeros or infinities.
    if !(scaling.is_finite() && scaling > 0.0 && scaling <= 1e6) {
        return Err(attr_err(
            path,
            "DoseGridScaling",
            format!("{scaling}; expected a positive number of Gy per stored unit, at most 1e6"),
        ));
    }
    // Offsets are relative to the first frame (first value 0) or, in older files, absolute.
    let rel: Vec<f64> = offsets.iter().map(|v| v - offsets[0]).collect();
    let dz = if frames > 1 { rel[1] } else { 1.0 };
    if frames > 1
        && (dz <= 0.0
            || rel
                .iter()
                .enumerate()
                .any(|(k, v)| (v - k as f64 * dz).abs() > 1e-3))
    {
        return Err(attr_err(
            path,
            "GridFrameOffsetVector",
            format!("{offsets:?}; expected equally spaced, increasing offsets"),
        ));
    }
    let row = Vec3::new(o[0], o[1], o[2]);
    let col = Vec3::new(o[3], o[4], o[5]);
    let grid = Grid::builder([cols, rows, frames])
        .spacing([s[1], s[0], dz])
        .origin([p[0], p[1], p[2]])
        .direction([row, col, row.cross(col)])
        .build()
        .map_err(|e| attr_err(path, "ImageOrientationPatient", e.to_string()))?;
    let pixel = obj
        .get(tags::PIXEL_DATA)
        .ok_or_else(|| attr_err(path, "PixelData", "missing"))?;
    let bytes = pixel
        .to_bytes()
        .map_err(|_| attr_err(path, "PixelData", "not native pixel data"))?;
    let n = rows * cols * frames;
    let width = bits / 8;
    if bytes.len() < n * width {
        return Err(attr_err(
            path,
            "PixelData",
            format!(
                "{} bytes; {n} pixels of {bits} bits need {}",
                bytes.len(),
                n * width
            ),
        ));
    }
    let data: Vec<f32> = bytes[..n * width]
        .chunks_exact(width)
        .map(|c| {
            let v = if width == 4 {
                f64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            } else {
                f64::from(u16::from_le_bytes([c[0], c[1]]))
            };
            (v * scaling) as f32
        })
        .collect();
    Ok(Volume::new(grid, data)?)
}
