//! Redaction of burned-in text: rectangles of native pixel data set to zero, by rules that match
//! instances on header attributes (the layout of a scanner's or an ultrasound machine's screen is
//! known per model and image size).

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, Tag};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use serde::Deserialize;

use crate::attrs::text;

/// A rectangle of pixels: columns `x..x + width`, rows `y..y + height` (clipped to the image).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Rect {
    /// First column.
    pub x: u32,
    /// First row.
    pub y: u32,
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
}

/// A redaction rule: which instances (every given criterion must match the original header) and
/// which rectangles to black out in every frame.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionRule {
    /// Modality (0008,0060).
    #[serde(default)]
    pub modality: Option<String>,
    /// SOP Class UID (0008,0016).
    #[serde(default)]
    pub sop_class: Option<String>,
    /// Manufacturer (0008,0070).
    #[serde(default)]
    pub manufacturer: Option<String>,
    /// Manufacturer's Model Name (0008,1090).
    #[serde(default)]
    pub model: Option<String>,
    /// Rows (0028,0010).
    #[serde(default)]
    pub rows: Option<u16>,
    /// Columns (0028,0011).
    #[serde(default)]
    pub columns: Option<u16>,
    /// The rectangles.
    pub rects: Vec<Rect>,
}

fn number(obj: &InMemDicomObject, tag: Tag) -> Option<u16> {
    obj.get(tag).and_then(|e| e.to_int::<u16>().ok())
}

impl RedactionRule {
    /// Whether the rule applies to an instance (its original header).
    pub fn matches(&self, obj: &InMemDicomObject) -> bool {
        let same = |want: &Option<String>, tag| {
            want.as_ref()
                .is_none_or(|w| text(obj, tag).is_some_and(|v| v.eq_ignore_ascii_case(w)))
        };
        same(&self.modality, tags::MODALITY)
            && same(&self.sop_class, tags::SOP_CLASS_UID)
            && same(&self.manufacturer, tags::MANUFACTURER)
            && same(&self.model, tags::MANUFACTURER_MODEL_NAME)
            && self.rows.is_none_or(|r| number(obj, tags::ROWS) == Some(r))
            && self
                .columns
                .is_none_or(|c| number(obj, tags::COLUMNS) == Some(c))
    }
}

/// Why redaction could not be done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NotRedacted {
    /// The pixel data is encapsulated (compressed): it would have to be decoded and re-encoded.
    Compressed,
    /// The image attributes needed to find the pixels are missing or inconsistent.
    Layout(String),
}

/// Sets the rectangles to zero in every frame and sample of native pixel data.
pub(crate) fn redact(obj: &mut InMemDicomObject, rects: &[Rect]) -> Result<(), NotRedacted> {
    let rows = usize::from(number(obj, tags::ROWS).ok_or(NotRedacted::Layout("Rows".into()))?);
    let cols =
        usize::from(number(obj, tags::COLUMNS).ok_or(NotRedacted::Layout("Columns".into()))?);
    let bits =
        number(obj, tags::BITS_ALLOCATED).ok_or(NotRedacted::Layout("BitsAllocated".into()))?;
    let spp = usize::from(number(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1));
    let planar = number(obj, tags::PLANAR_CONFIGURATION).unwrap_or(0) == 1;
    let frames = obj
        .get(tags::NUMBER_OF_FRAMES)
        .and_then(|e| e.to_int::<u32>().ok())
        .unwrap_or(1)
        .max(1) as usize;
    let Some(pixel) = obj.get(tags::PIXEL_DATA) else {
        return Err(NotRedacted::Layout("PixelData missing".into()));
    };
    let vr = pixel.vr();
    let Some(value) = pixel.value().primitive() else {
        return Err(NotRedacted::Compressed);
    };
    let bytes_per_sample = match bits {
        8 => 1,
        16 => 2,
        other => return Err(NotRedacted::Layout(format!("BitsAllocated {other}"))),
    };
    // Work on the little-endian bytes of the pixel data, whatever the parser made of them.
    let mut data: Vec<u8> = match value {
        PrimitiveValue::U8(b) => b.to_vec(),
        PrimitiveValue::U16(w) => w.iter().flat_map(|x| x.to_le_bytes()).collect(),
        PrimitiveValue::I16(w) => w.iter().flat_map(|x| x.to_le_bytes()).collect(),
        _ => {
            return Err(NotRedacted::Layout(
                "PixelData of an unexpected type".into(),
            ));
        }
    };
    // Sizes come from the header: checked, so that no product wraps (Rows, Columns and
    // SamplesPerPixel of 32768 with 262,144 frames wrapped to 0 and aborted the whole run).
    let frame_len = [cols, spp, bytes_per_sample]
        .iter()
        .try_fold(rows, |a, &b| a.checked_mul(b))
        .filter(|n| *n > 0);
    let total = frame_len.and_then(|n| n.checked_mul(frames));
    let (Some(frame_len), Some(total)) = (frame_len, total) else {
        return Err(NotRedacted::Layout(format!(
            "{frames} frames of {rows}x{cols}, {spp} samples: no pixel data has that size"
        )));
    };
    if data.len() < total {
        return Err(NotRedacted::Layout(format!(
            "PixelData holds {} bytes; {frames} frames of {rows}x{cols} need {total}",
            data.len(),
        )));
    }
    for f in 0..frames {
        let frame = &mut data[f * frame_len..(f + 1) * frame_len];
        for r in rects {
            let (x0, y0) = (r.x as usize, r.y as usize);
            let x1 = x0.saturating_add(r.width as usize).min(cols);
            let y1 = y0.saturating_add(r.height as usize).min(rows);
            for y in y0.min(rows)..y1 {
                for s in 0..spp {
                    // Interleaved: samples side by side; planar: one plane per sample.
                    let (start, step) = if planar {
                        (
                            (s * rows * cols + y * cols + x0) * bytes_per_sample,
                            bytes_per_sample,
                        )
                    } else {
                        (
                            ((y * cols + x0) * spp + s) * bytes_per_sample,
                            spp * bytes_per_sample,
                        )
                    };
                    for i in 0..x1.saturating_sub(x0) {
                        let at = start + i * step;
                        frame[at..at + bytes_per_sample].fill(0);
                    }
                }
            }
        }
    }
    let value = if bytes_per_sample == 2 && !matches!(value, PrimitiveValue::U8(_)) {
        PrimitiveValue::U16(
            data.chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect(),
        )
    } else {
        PrimitiveValue::from(data)
    };
    obj.put(DataElement::new(tags::PIXEL_DATA, vr, value));
    Ok(())
}
