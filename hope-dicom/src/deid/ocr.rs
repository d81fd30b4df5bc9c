//! Text in the pixels (feature `ocr`): optical character recognition of the frames of instances
//! whose header cannot rule burned-in text out, with Tesseract (Debian's `tesseract-ocr`,
//! run as a program: no C library is linked).
//!
//! Secondary captures, dose reports and other screens are often marked Burned In Annotation `NO`
//! and still show a study ID or an exam date: for them the flag is not evidence (see
//! [`super::pixel_verdict`]). With an [`Ocr`] configured ([`super::Deidentifier::with_ocr`]),
//! such an instance is looked at: no text found, it is released; text found, it is quarantined,
//! or, with [`OcrPolicy::Redact`], the regions found are blacked out and the instance is looked
//! at again (released only if nothing is left).
//!
//! What Tesseract reads is never kept, logged or returned: only where text is, and how sure the
//! engine is. A word counts when it has at least two letters or digits and a confidence of at
//! least [`Ocr::min_confidence`] (default 60), which leaves anatomy (noise, edges) and single
//! orientation letters alone.
//!
//! Frames are rendered to 8-bit grey (each frame scaled from its own minimum to maximum, colour
//! to luminance, a dark background inverted so that text is dark on light), enlarged so that
//! screen text is large enough for the engine, and read one by one (up to [`MAX_FRAMES`] frames of
//! a multi-frame instance: the first, the last and evenly between). An instance whose pixels
//! cannot be rendered (a compression this build cannot decode, a frame larger than
//! [`MAX_FRAME_PIXELS`]) stays suspect.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dicom_core::Tag;
use dicom_core::value::PrimitiveValue;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::redact::Rect;
use crate::attrs::text;

/// Frames of one instance read at most.
pub const MAX_FRAMES: usize = 8;
/// Largest frame read (rows times columns).
pub const MAX_FRAME_PIXELS: usize = 4096 * 4096;

/// What to do with an instance in whose pixels text was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OcrPolicy {
    /// Quarantine it (the default).
    #[default]
    Quarantine,
    /// Black out the regions found (native pixel data only), read it again, and release it only
    /// if no text is left.
    Redact,
}

/// The OCR engine and how its findings are used.
#[derive(Debug, Clone)]
#[must_use]
pub struct Ocr {
    program: PathBuf,
    language: String,
    min_confidence: f32,
    policy: OcrPolicy,
    timeout: Duration,
}

impl Default for Ocr {
    fn default() -> Self {
        Ocr {
            program: PathBuf::from("tesseract"),
            language: "eng".into(),
            min_confidence: 60.0,
            policy: OcrPolicy::Quarantine,
            timeout: Duration::from_secs(60),
        }
    }
}

/// Where text was found (never what it says).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextRegion {
    /// The frame (from 0).
    pub frame: usize,
    /// The region, in the frame's pixels.
    pub rect: Rect,
    /// The engine's confidence, 0-100.
    pub confidence: f32,
}

/// Why an instance could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotRead(pub String);

impl Ocr {
    /// Tesseract from the `PATH`, English, confidence 60, quarantine.
    pub fn new() -> Ocr {
        Ocr::default()
    }

    /// The Tesseract program to run.
    pub fn program(mut self, path: impl Into<PathBuf>) -> Ocr {
        self.program = path.into();
        self
    }

    /// The language (a Tesseract language code; its data must be installed).
    pub fn language(mut self, code: impl Into<String>) -> Ocr {
        self.language = code.into();
        self
    }

    /// The least confidence (0-100) for a word to count as text.
    pub fn min_confidence(mut self, confidence: f32) -> Ocr {
        self.min_confidence = confidence;
        self
    }

    /// What to do when text is found.
    pub fn policy(mut self, policy: OcrPolicy) -> Ocr {
        self.policy = policy;
        self
    }

    /// How long the engine may take for one frame (default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Ocr {
        self.timeout = timeout;
        self
    }

    /// The policy in use.
    pub fn current_policy(&self) -> OcrPolicy {
        self.policy
    }

    /// Whether the engine can be run (its version answers).
    pub fn available(&self) -> bool {
        Command::new(&self.program)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// The regions of text in the frames of an instance.
    pub fn detect(&self, obj: &InMemDicomObject) -> Result<Vec<TextRegion>, NotRead> {
        let image = GreyFrames::from_object(obj)?;
        let mut found = Vec::new();
        for frame in image.chosen_frames() {
            let (pixels, scale) = image.render(frame);
            found.extend(
                self.read(&pixels, image.cols * scale, image.rows * scale)?
                    .into_iter()
                    .map(|(rect, confidence)| TextRegion {
                        frame,
                        rect: Rect {
                            x: rect.x / scale as u32,
                            y: rect.y / scale as u32,
                            width: rect.width.div_ceil(scale as u32),
                            height: rect.height.div_ceil(scale as u32),
                        },
                        confidence,
                    }),
            );
        }
        Ok(found)
    }

    /// Runs the engine on one 8-bit grey image; the words that count, as rectangles in its
    /// pixels with their confidence.
    fn read(&self, pixels: &[u8], cols: usize, rows: usize) -> Result<Vec<(Rect, f32)>, NotRead> {
        let mut file = tempfile::Builder::new()
            .prefix("hope-ocr-")
            .suffix(".pgm")
            .tempfile()
            .map_err(|e| NotRead(format!("cannot write the frame for OCR: {e}")))?;
        write!(file, "P5\n{cols} {rows}\n255\n")
            .and_then(|()| file.write_all(pixels))
            .and_then(|()| file.flush())
            .map_err(|e| NotRead(format!("cannot write the frame for OCR: {e}")))?;
        let mut child = Command::new(&self.program)
            .arg(file.path())
            .arg("stdout")
            .args(["--psm", "11", "-l", &self.language, "tsv"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                NotRead(format!(
                    "the OCR engine `{}` cannot be run: {e}",
                    self.program.display()
                ))
            })?;
        let mut stdout = child
            .stdout
            .take()
            .ok_or_else(|| NotRead("the OCR engine gave no output".into()))?;
        let reader = std::thread::spawn(move || {
            let mut out = Vec::new();
            let _ = std::io::Read::read_to_end(
                &mut std::io::Read::take(&mut stdout, 16 << 20),
                &mut out,
            );
            out
        });
        let start = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if start.elapsed() > self.timeout => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(NotRead("the OCR engine took too long".into()));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(NotRead(format!("the OCR engine failed: {e}"))),
            }
        };
        let out = reader.join().unwrap_or_default();
        if !status.success() {
            return Err(NotRead(format!("the OCR engine failed ({status})")));
        }
        Ok(self.words(&out))
    }

    /// The words of Tesseract's TSV output that count as text.
    fn words(&self, tsv: &[u8]) -> Vec<(Rect, f32)> {
        let text = String::from_utf8_lossy(tsv);
        let mut out = Vec::new();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() < 12 || f[0] != "5" {
                continue;
            }
            let num = |i: usize| f[i].trim().parse::<u32>().ok();
            let (Some(x), Some(y), Some(w), Some(h)) = (num(6), num(7), num(8), num(9)) else {
                continue;
            };
            let conf = f[10].trim().parse::<f32>().unwrap_or(-1.0);
            let alnum = f[11].chars().filter(|c| c.is_alphanumeric()).count();
            if conf >= self.min_confidence && alnum >= 2 {
                out.push((
                    Rect {
                        x,
                        y,
                        width: w,
                        height: h,
                    },
                    conf,
                ));
            }
        }
        out
    }
}

/// The regions found, padded and clipped to a `cols` x `rows` frame, for redaction.
pub(crate) fn padded(regions: &[TextRegion], cols: u32, rows: u32) -> Vec<Rect> {
    regions
        .iter()
        .map(|r| {
            let pad = (r.rect.height / 3).max(3);
            let x = r.rect.x.saturating_sub(pad);
            let y = r.rect.y.saturating_sub(pad);
            Rect {
                x,
                y,
                width: (r.rect.width + 2 * pad).min(cols.saturating_sub(x)),
                height: (r.rect.height + 2 * pad).min(rows.saturating_sub(y)),
            }
        })
        .collect()
}

/// The frames of an instance as grey levels.
struct GreyFrames {
    rows: usize,
    cols: usize,
    frames: usize,
    /// One value per pixel and frame (luminance for colour), as read.
    values: Vec<f32>,
}

fn number(obj: &InMemDicomObject, tag: Tag) -> Option<usize> {
    obj.get(tag)
        .and_then(|e| e.to_int::<u32>().ok())
        .map(|v| v as usize)
}

impl GreyFrames {
    fn from_object(obj: &InMemDicomObject) -> Result<GreyFrames, NotRead> {
        let bad = |m: &str| NotRead(m.to_string());
        let rows = number(obj, tags::ROWS).ok_or_else(|| bad("no Rows"))?;
        let cols = number(obj, tags::COLUMNS).ok_or_else(|| bad("no Columns"))?;
        let bits = number(obj, tags::BITS_ALLOCATED).ok_or_else(|| bad("no Bits Allocated"))?;
        let spp = number(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1);
        let planar = number(obj, tags::PLANAR_CONFIGURATION).unwrap_or(0) == 1;
        let frames = number(obj, tags::NUMBER_OF_FRAMES).unwrap_or(1).max(1);
        let signed = number(obj, tags::PIXEL_REPRESENTATION).unwrap_or(0) == 1;
        if rows == 0 || cols == 0 || rows * cols > MAX_FRAME_PIXELS || !matches!(spp, 1 | 3) {
            return Err(bad("an image size or layout OCR does not read"));
        }
        let pixel = obj
            .get(tags::PIXEL_DATA)
            .ok_or_else(|| bad("no Pixel Data"))?;
        let Some(value) = pixel.value().primitive() else {
            return Err(bad("compressed pixel data (not read by OCR)"));
        };
        let bytes: Vec<u8> = match value {
            PrimitiveValue::U8(b) => b.to_vec(),
            PrimitiveValue::U16(w) => w.iter().flat_map(|x| x.to_le_bytes()).collect(),
            PrimitiveValue::I16(w) => w.iter().flat_map(|x| x.to_le_bytes()).collect(),
            _ => return Err(bad("pixel data of an unexpected type")),
        };
        let per = match bits {
            8 => 1,
            16 => 2,
            _ => return Err(bad("Bits Allocated other than 8 or 16")),
        };
        let frame_len = rows * cols * spp * per;
        if bytes.len() < frame_len * frames {
            return Err(bad("less pixel data than the image needs"));
        }
        let sample = |at: usize| -> f32 {
            if per == 1 {
                f32::from(bytes[at])
            } else {
                let raw = u16::from_le_bytes([bytes[at], bytes[at + 1]]);
                if signed {
                    f32::from(raw as i16)
                } else {
                    f32::from(raw)
                }
            }
        };
        let mut values = Vec::with_capacity(rows * cols * frames);
        for f in 0..frames {
            let base = f * frame_len;
            for p in 0..rows * cols {
                let v = if spp == 1 {
                    sample(base + p * per)
                } else {
                    let at = |s: usize| {
                        if planar {
                            base + (s * rows * cols + p) * per
                        } else {
                            base + (p * spp + s) * per
                        }
                    };
                    0.299 * sample(at(0)) + 0.587 * sample(at(1)) + 0.114 * sample(at(2))
                };
                values.push(v);
            }
        }
        if text(obj, tags::PHOTOMETRIC_INTERPRETATION).as_deref() == Some("MONOCHROME1") {
            for v in &mut values {
                *v = -*v;
            }
        }
        Ok(GreyFrames {
            rows,
            cols,
            frames,
            values,
        })
    }

    /// The frames read: all of up to [`MAX_FRAMES`], else the first, the last and evenly between.
    fn chosen_frames(&self) -> Vec<usize> {
        if self.frames <= MAX_FRAMES {
            return (0..self.frames).collect();
        }
        let mut f: Vec<usize> = (0..MAX_FRAMES)
            .map(|i| i * (self.frames - 1) / (MAX_FRAMES - 1))
            .collect();
        f.dedup();
        f
    }

    /// A frame as 8-bit grey, dark text on a light ground, enlarged: the pixels and the factor.
    fn render(&self, frame: usize) -> (Vec<u8>, usize) {
        let n = self.rows * self.cols;
        let v = &self.values[frame * n..(frame + 1) * n];
        let (lo, hi) = v
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &x| (a.min(x), b.max(x)));
        let span = (hi - lo).max(1.0);
        let mut grey: Vec<u8> = v
            .iter()
            .map(|&x| ((x - lo) / span * 255.0).round().clamp(0.0, 255.0) as u8)
            .collect();
        let mean = grey.iter().map(|&g| u64::from(g)).sum::<u64>() / n as u64;
        if mean < 128 {
            for g in &mut grey {
                *g = 255 - *g;
            }
        }
        let scale = match self.cols.max(self.rows) {
            0..=700 => 3,
            701..=1400 => 2,
            _ => 1,
        };
        if scale == 1 {
            return (grey, 1);
        }
        let (w, h) = (self.cols * scale, self.rows * scale);
        let mut big = vec![0u8; w * h];
        for y in 0..h {
            let src = &grey[(y / scale) * self.cols..(y / scale + 1) * self.cols];
            for (x, out) in big[y * w..(y + 1) * w].iter_mut().enumerate() {
                *out = src[x / scale];
            }
        }
        (big, scale)
    }
}
