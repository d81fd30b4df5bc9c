//! De-identification to DICOM PS3.15 Annex E: the Basic Application Level Confidentiality Profile
//! and its options ([`table`], generated from Table E.1-1), applied by a [`Deidentifier`] to the
//! data set and to every sequence in it at any depth, with:
//!
//! - UIDs replaced by `2.25.` UUID-derived UIDs keyed by HMAC-SHA256 under a project secret
//!   ([`DeidKey`]): the same original gives the same replacement in every file, series and batch
//!   that share the key, so references between instances stay consistent, and nobody without the
//!   key can recompute or link them. UIDs under the DICOM root `1.2.840.10008.` (SOP classes,
//!   transfer syntaxes, coding schemes) and class-naming attributes are kept.
//! - Patient ID and Patient's Name replaced by a keyed pseudonym, stable across studies.
//! - With Retain Longitudinal Temporal Information with Modified Dates: every DA and DT (listed
//!   or not) moved by a keyed per-patient number of days, times kept, so intervals survive.
//! - Private attributes removed, unless retained as safe ([`SafePrivate`], Retain Safe Private);
//!   curves (50xx) removed, overlays (60xx) per the table.
//! - Marking: Patient Identity Removed, De-identification Method (Code Sequence with the CID 7050
//!   codes of the profile and options), Longitudinal Temporal Information Modified.
//!
//! ```
//! use dicom_dictionary_std::tags;
//! use hope_dicom::deid::{DeidKey, Deidentifier};
//! use hope_dicom::deid::table::ProfileOption;
//!
//! let key = DeidKey::from_bytes([42; 32]);
//! let deid = Deidentifier::new(key, [ProfileOption::RetainLongitudinalModifiedDates]);
//! # let dir = tempfile::tempdir()?;
//! # let grid = hope_core::Grid::new([2, 2, 1], [1.0; 3])?;
//! # let ct = hope_core::Volume::filled(grid, 0i16);
//! # let w = hope_dicom::write_ct_series(&ct, dir.path(), &hope_dicom::CtSeriesOptions::new())?;
//! let original = dicom_object::open_file(&w.files[0])?;
//! let out = deid.deidentify(original)?;
//! let name = out.object.element(tags::PATIENT_NAME)?.to_str()?.to_string();
//! assert!(name.starts_with("HOPE-"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod batch;
pub(crate) mod codestream;
mod engine;
pub mod keys;
pub mod mapping;
#[cfg(feature = "ocr")]
pub mod ocr;
pub mod recipe;
pub mod redact;
pub mod seal;
pub mod table;
#[rustfmt::skip]
mod table_data;

use std::collections::HashMap;

use dicom_core::value::{DataSetSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::{DefaultDicomObject, FileMetaTableBuilder, InMemDicomObject};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

pub use batch::{
    BatchOptions, BatchSummary, BurnedInPolicy, FileOutcome, deidentify_dir, find_identity,
    read_any,
};
pub use engine::{Decision, Override, Profile, SafePrivate};
pub use keys::DeidKey;
pub use mapping::{MappingKey, MappingRecorder, Pseudonymised};
pub use recipe::Recipe;
pub use redact::{Rect, RedactionRule};

use crate::attrs::text as attr_text;
use crate::{Error, Result};
use table::ProfileOption;

/// What the pixels of an instance may show (burned-in text), by its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PixelVerdict {
    /// Nothing suggests text in the pixels (Burned In Annotation `NO`, or an acquisition image of
    /// a modality that does not burn text in).
    Clean,
    /// Burned In Annotation is `YES`.
    BurnedIn,
    /// The header does not rule it out; the reason says why.
    Suspect(String),
}

/// The result of de-identifying one instance.
#[derive(Debug)]
pub struct Deidentified {
    /// The de-identified instance, with its file meta rebuilt.
    pub object: DefaultDicomObject,
    /// What its pixels may show.
    pub pixels: PixelVerdict,
}

/// One line of a dry-run report: where an attribute is (its tag path through sequences) and what
/// is done to it. It never holds a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportLine {
    /// The tags from the top-level data set down to the attribute.
    pub path: Vec<Tag>,
    /// What is done.
    pub decision: Decision,
}

/// Applies the profile; cheap to share between threads.
#[derive(Debug, Clone)]
pub struct Deidentifier {
    key: DeidKey,
    profile: Profile,
    overrides: HashMap<Tag, Override>,
    safe_private: Vec<SafePrivate>,
    redactions: Vec<RedactionRule>,
    mapping: Option<MappingRecorder>,
    #[cfg(feature = "ocr")]
    ocr: Option<ocr::Ocr>,
    dangerous_unwalked_streams: bool,
}

impl Deidentifier {
    /// The Basic Profile with these options, under this key.
    pub fn new(key: DeidKey, options: impl IntoIterator<Item = ProfileOption>) -> Self {
        Self {
            key,
            profile: Profile::new(options),
            overrides: HashMap::new(),
            safe_private: Vec::new(),
            redactions: Vec::new(),
            mapping: None,
            #[cfg(feature = "ocr")]
            ocr: None,
            dangerous_unwalked_streams: false,
        }
    }

    /// Reads the pixels of every instance whose header cannot rule burned-in text out (screens,
    /// secondary captures, dose reports...) with OCR: no text found, it is clean; text found, it
    /// is quarantined or redacted, as the [`ocr::Ocr`]'s policy says (feature `ocr`).
    #[cfg(feature = "ocr")]
    #[must_use]
    pub fn with_ocr(mut self, ocr: ocr::Ocr) -> Self {
        self.ocr = Some(ocr);
        self
    }

    /// Overrides the profile for one attribute, at every depth (a recipe line).
    #[must_use]
    pub fn with_override(mut self, tag: Tag, action: Override) -> Self {
        self.overrides.insert(tag, action);
        self
    }

    /// Declares a private attribute safe (kept with Retain Safe Private).
    #[must_use]
    pub fn with_safe_private(mut self, safe: SafePrivate) -> Self {
        self.safe_private.push(safe);
        self
    }

    /// Adds a redaction rule: matching instances get its rectangles blacked out in their native
    /// pixel data, and then count as clean (Clean Pixel Data Option).
    #[must_use]
    pub fn with_redaction(mut self, rule: RedactionRule) -> Self {
        self.redactions.push(rule);
        self
    }

    /// Records each patient's pseudonym and date shift in `recorder` (for a mapping file, see
    /// [`mapping`]); nothing is recorded otherwise.
    #[must_use]
    pub fn with_mapping(mut self, recorder: MappingRecorder) -> Self {
        self.mapping = Some(recorder);
        self
    }

    /// Passes on compressed pixel data whose stream this crate does not walk (MPEG-2, MPEG-4,
    /// HEVC, JPEG XL, ...) as it is, with whatever text its metadata holds (an MPEG user-data
    /// field, an EXIF box). Without it such an instance is refused: only JPEG, JPEG-LS, JPEG 2000
    /// and RLE streams are screened. Dangerous: identity in those streams leaves with the file.
    #[must_use]
    pub fn dangerous_pass_unwalked_pixel_streams(mut self) -> Self {
        self.dangerous_unwalked_streams = true;
        self
    }

    /// The profile in use.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    fn context(&self, obj: &InMemDicomObject, log: bool, already: bool) -> engine::Context<'_> {
        let text = |t| attr_text(obj, t).filter(|s| !s.is_empty());
        // The patient key: Patient ID, else Patient's Name; one pseudonym and one date shift for
        // every file of the patient.
        let patient = text(tags::PATIENT_ID)
            .or_else(|| text(tags::PATIENT_NAME))
            .unwrap_or_default();
        let pseudonym = if patient.is_empty() {
            "ANONYMOUS".to_string()
        } else {
            self.key.pseudonym(&patient)
        };
        let shift_days = self.key.date_shift_days(&patient);
        if let (Some(rec), false, false) = (&self.mapping, already, log || patient.is_empty()) {
            rec.record(
                &patient,
                Pseudonymised {
                    pseudonym: pseudonym.clone(),
                    date_shift_days: if self
                        .profile
                        .has(ProfileOption::RetainLongitudinalModifiedDates)
                    {
                        shift_days
                    } else {
                        0
                    },
                },
            );
        }
        engine::Context {
            key: &self.key,
            profile: &self.profile,
            overrides: &self.overrides,
            safe_private: &self.safe_private,
            pseudonym,
            shift_days,
            identity: engine::identity_values(obj),
            log: log.then(Vec::new),
            path: Vec::new(),
            content: None,
            bad_uid: None,
            already,
        }
    }

    /// What de-identification would do to each attribute of an instance, without doing it.
    pub fn dry_run(&self, obj: &InMemDicomObject) -> Vec<ReportLine> {
        if exceeds_depth(obj, crate::guard::MAX_DEPTH) {
            return Vec::new();
        }
        let mut ctx = self.context(obj, true, false);
        let _ = ctx.clean(obj.clone());
        ctx.log
            .unwrap_or_default()
            .into_iter()
            .map(|(path, decision)| ReportLine { path, decision })
            .collect()
    }

    /// De-identifies one instance: its data set, every sequence in it, and its file meta.
    pub fn deidentify(&self, file: DefaultDicomObject) -> Result<Deidentified> {
        let ts = file
            .meta()
            .transfer_syntax()
            .trim_end_matches('\0')
            .to_string();
        let class = file
            .meta()
            .media_storage_sop_class_uid()
            .trim_end_matches('\0')
            .to_string();
        let mut obj = file.into_inner();
        if exceeds_depth(&obj, crate::guard::MAX_DEPTH) {
            return Err(Error::Attribute {
                path: Default::default(),
                attribute: "sequences",
                message: format!("nested more than {} deep", crate::guard::MAX_DEPTH),
            });
        }
        // Keyed replacements are skipped only for this project's own output, proven by its seal;
        // no field of the file is trusted for that.
        let already = seal::take_and_verify(&self.key, &mut obj, &ts);
        let mut pixels = pixel_verdict(&obj);
        let rule = self.redactions.iter().find(|r| r.matches(&obj));
        let mut ctx = self.context(&obj, false, already);
        let mut out = ctx.clean(obj);
        if let Some(path) = ctx.bad_uid.take() {
            return Err(Error::Attribute {
                path: Default::default(),
                attribute: "UID",
                message: format!(
                    "{} is kept as it is (a class, Retain UIDs or an override) but is not a valid UID \
                     (digits and dots, at most 64 characters): the instance is refused",
                    path.iter()
                        .map(|t| engine::tag_name(*t))
                        .collect::<Vec<_>>()
                        .join(" > ")
                ),
            });
        }
        let mut cleaned_pixels = false;
        if let Some(rule) = rule {
            match redact::redact(&mut out, &rule.rects) {
                Ok(()) => {
                    pixels = PixelVerdict::Clean;
                    cleaned_pixels = true;
                    out.put(DataElement::new(
                        tags::BURNED_IN_ANNOTATION,
                        VR::CS,
                        PrimitiveValue::from("NO"),
                    ));
                }
                Err(why) if pixels != PixelVerdict::Clean => {
                    let why = match why {
                        redact::NotRedacted::Compressed => "the pixel data is compressed".into(),
                        redact::NotRedacted::Layout(m) => m,
                    };
                    pixels = PixelVerdict::Suspect(format!(
                        "a redaction rule matches, but cannot be applied: {why}"
                    ));
                }
                Err(_) => {}
            }
        }
        #[cfg(feature = "ocr")]
        if let (Some(engine), PixelVerdict::Suspect(why)) = (&self.ocr, &pixels) {
            let (verdict, cleaned) = read_pixels(engine, &mut out, why);
            pixels = verdict;
            cleaned_pixels |= cleaned;
            if cleaned {
                out.put(DataElement::new(
                    tags::BURNED_IN_ANNOTATION,
                    VR::CS,
                    PrimitiveValue::from("NO"),
                ));
            }
        }
        // Comments, EXIF and other application segments inside compressed pixel data.
        if let Some(e) = out.take(tags::PIXEL_DATA) {
            let (header, mut value) = e.into_parts();
            let dim = |t| {
                out.get(t)
                    .and_then(|e| e.to_int::<u16>().ok())
                    .map_or(0, usize::from)
            };
            let segment_len = dim(tags::ROWS) * dim(tags::COLUMNS);
            let walked = match (&mut value, codestream::family(&ts, segment_len)) {
                (Value::PixelSequence(seq), Some(family)) => {
                    codestream::blank(family, seq.fragments_mut()).map(|_| ())
                }
                (Value::PixelSequence(_), None)
                    if LITTLE_ENDIAN_NATIVE.contains(&ts.as_str())
                        || ts == "1.2.840.10008.1.2.2" =>
                {
                    Err(
                        "encapsulated pixel data under a native transfer syntax (a malformed file)"
                            .to_string(),
                    )
                }
                (Value::PixelSequence(_), None) if !self.dangerous_unwalked_streams => {
                    Err(format!(
                        "pixel data compressed as {ts}, whose metadata this build does not screen"
                    ))
                }
                _ => Ok(()),
            };
            out.put(DataElement::new(header.tag, header.vr, value));
            walked.map_err(|message| Error::Attribute {
                path: Default::default(),
                attribute: "PixelData",
                message: format!(
                    "{message}: text it may hold cannot be ruled out, so the instance is refused"
                ),
            })?;
        }
        self.mark(&mut out, &pixels, cleaned_pixels);
        if LITTLE_ENDIAN_NATIVE.contains(&ts.as_str()) {
            words_to_bytes(&mut out);
        }
        seal::seal(&self.key, &mut out, &ts).ok_or_else(|| Error::Attribute {
            path: Default::default(),
            attribute: "DeidentificationSeal",
            message: "the de-identified data set cannot be encoded for its seal".into(),
        })?;
        let sop_instance =
            attr_text(&out, tags::SOP_INSTANCE_UID).ok_or_else(|| Error::Attribute {
                path: Default::default(),
                attribute: "SOPInstanceUID",
                message: "missing: an instance without one cannot be stored".into(),
            })?;
        let sop_class = attr_text(&out, tags::SOP_CLASS_UID).unwrap_or(class);
        // What goes into the file meta must be well formed, or the output would not read back.
        for (attribute, uid) in [("SOPClassUID", &sop_class), ("TransferSyntaxUID", &ts)] {
            if !crate::uid::is_valid_uid(uid) {
                return Err(Error::Attribute {
                    path: Default::default(),
                    attribute,
                    message: "not a valid UID (digits and dots, at most 64 characters)".into(),
                });
            }
        }
        if TransferSyntaxRegistry
            .get(&ts)
            .is_none_or(|t| !t.can_decode_dataset())
        {
            return Err(Error::UnsupportedTransferSyntax {
                path: Default::default(),
                transfer_syntax: ts,
            });
        }
        let object = out
            .with_meta(
                FileMetaTableBuilder::new()
                    .transfer_syntax(ts)
                    .media_storage_sop_class_uid(sop_class)
                    .media_storage_sop_instance_uid(sop_instance),
            )
            .map_err(|e| Error::Attribute {
                path: Default::default(),
                attribute: "FileMetaInformation",
                message: e.to_string(),
            })?;
        Ok(Deidentified { object, pixels })
    }

    /// The start of De-identification Method as written by this crate under this key (its public
    /// id); informative only, never trusted on input (see [`seal`]).
    fn method_prefix(&self) -> String {
        format!("hope-dicom key {}", self.key.id_hex())
    }

    /// Patient Identity Removed, De-identification Method and its Code Sequence (CID 7050), and
    /// Longitudinal Temporal Information Modified.
    fn mark(&self, obj: &mut InMemDicomObject, pixels: &PixelVerdict, cleaned_pixels: bool) {
        let o = |x| self.profile.has(x);
        let removed = if *pixels == PixelVerdict::Clean {
            "YES"
        } else {
            "NO"
        };
        obj.put(DataElement::new(
            tags::PATIENT_IDENTITY_REMOVED,
            VR::CS,
            PrimitiveValue::from(removed),
        ));
        let mut codes = vec![("113100", "Basic Application Confidentiality Profile")];
        if cleaned_pixels {
            codes.push(("113101", "Clean Pixel Data Option"));
        }
        for (opt, code, meaning) in CID_7050 {
            if o(*opt) {
                codes.push((code, meaning));
            }
        }
        let method = format!(
            "{}: PS3.15 E.1 {}",
            self.method_prefix(),
            codes.iter().map(|c| c.1).collect::<Vec<_>>().join(", ")
        );
        obj.put(DataElement::new(
            tags::DEIDENTIFICATION_METHOD,
            VR::LO,
            PrimitiveValue::from(truncate(&method, 64)),
        ));
        let items: Vec<InMemDicomObject> = codes
            .iter()
            .map(|(value, meaning)| {
                InMemDicomObject::from_element_iter([
                    DataElement::new(tags::CODE_VALUE, VR::SH, PrimitiveValue::from(*value)),
                    DataElement::new(
                        tags::CODING_SCHEME_DESIGNATOR,
                        VR::SH,
                        PrimitiveValue::from("DCM"),
                    ),
                    DataElement::new(tags::CODE_MEANING, VR::LO, PrimitiveValue::from(*meaning)),
                ])
            })
            .collect();
        obj.put(DataElement::new(
            tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(items),
        ));
        let temporal = if o(ProfileOption::RetainLongitudinalFullDates) {
            "UNMODIFIED"
        } else if o(ProfileOption::RetainLongitudinalModifiedDates) {
            "MODIFIED"
        } else {
            "REMOVED"
        };
        obj.put(DataElement::new(
            tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED,
            VR::CS,
            PrimitiveValue::from(temporal),
        ));
    }
}

/// The CID 7050 (De-identification Method) code of each option (PS3.16).
const CID_7050: &[(ProfileOption, &str, &str)] = &[
    (
        ProfileOption::CleanGraphics,
        "113103",
        "Clean Graphics Option",
    ),
    (
        ProfileOption::CleanStructuredContent,
        "113104",
        "Clean Structured Content Option",
    ),
    (
        ProfileOption::CleanDescriptors,
        "113105",
        "Clean Descriptors Option",
    ),
    (
        ProfileOption::RetainLongitudinalFullDates,
        "113106",
        "Retain Longitudinal Temporal Information Full Dates Option",
    ),
    (
        ProfileOption::RetainLongitudinalModifiedDates,
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
    ),
    (
        ProfileOption::RetainPatientCharacteristics,
        "113108",
        "Retain Patient Characteristics Option",
    ),
    (
        ProfileOption::RetainDeviceIdentity,
        "113109",
        "Retain Device Identity Option",
    ),
    (ProfileOption::RetainUids, "113110", "Retain UIDs Option"),
    (
        ProfileOption::RetainSafePrivate,
        "113111",
        "Retain Safe Private Option",
    ),
    (
        ProfileOption::RetainInstitutionIdentity,
        "113112",
        "Retain Institution Identity Option",
    ),
];

/// What OCR makes of a suspect instance: its verdict, and whether its pixels were redacted.
#[cfg(feature = "ocr")]
fn read_pixels(engine: &ocr::Ocr, obj: &mut InMemDicomObject, why: &str) -> (PixelVerdict, bool) {
    let suspect = |m: String| (PixelVerdict::Suspect(format!("{why}; {m}")), false);
    let found = match engine.detect(obj) {
        Ok(f) => f,
        Err(ocr::NotRead(m)) => return suspect(format!("OCR could not read the pixels: {m}")),
    };
    if found.is_empty() {
        return (PixelVerdict::Clean, false);
    }
    if engine.current_policy() == ocr::OcrPolicy::Quarantine {
        return suspect(format!("OCR found text in {} places", found.len()));
    }
    let dims = |t| obj.get(t).and_then(|e| e.to_int::<u32>().ok()).unwrap_or(0);
    let rects = ocr::padded(&found, dims(tags::COLUMNS), dims(tags::ROWS));
    if redact::redact(obj, &rects).is_err() {
        return suspect(format!(
            "OCR found text in {} places, which cannot be redacted (compressed or unusual pixel data)",
            found.len()
        ));
    }
    match engine.detect(obj) {
        Ok(left) if left.is_empty() => (PixelVerdict::Clean, true),
        Ok(left) => suspect(format!(
            "text is left in {} places after redaction",
            left.len()
        )),
        Err(ocr::NotRead(m)) => suspect(format!("OCR could not read the redacted pixels: {m}")),
    }
}

/// Transfer syntaxes whose native pixel data is written little-endian.
const LITTLE_ENDIAN_NATIVE: &[&str] = &[
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.1.99",
];

/// 16-bit native Pixel Data as its little-endian bytes (the same file content), which dicom-rs
/// writes in one piece instead of word by word: an eighth of the de-identification time.
fn words_to_bytes(obj: &mut InMemDicomObject) {
    let Some(pixel) = obj.get(tags::PIXEL_DATA) else {
        return;
    };
    let Some(PrimitiveValue::U16(words)) = pixel.value().primitive() else {
        return;
    };
    let vr = pixel.vr();
    let mut bytes = vec![0u8; words.len() * 2];
    for (b, w) in bytes.chunks_exact_mut(2).zip(words.iter()) {
        b.copy_from_slice(&w.to_le_bytes());
    }
    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        vr,
        PrimitiveValue::from(bytes),
    ));
}

/// Whether sequences in `obj` nest deeper than `limit` (looks no deeper than that).
fn exceeds_depth(obj: &InMemDicomObject, limit: usize) -> bool {
    obj.iter().any(|e| {
        e.items()
            .is_some_and(|items| limit == 0 || items.iter().any(|i| exceeds_depth(i, limit - 1)))
    })
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Judges, from the header, whether the pixels may show identifying text. Burned In Annotation
/// `YES` is burned in; an instance without pixel data is clean. Screens (Secondary Capture,
/// Image Type `SCREEN`, dose reports, modalities OT, SC and DOC) are suspect *whatever* Burned In
/// Annotation says: their `NO` is not evidence. Otherwise `NO` is clean; ultrasound, photographs
/// and secondary images are suspect; CT, MR, PET, NM, RT Dose, segmentations and registrations
/// are clean; every other modality is suspect. With OCR ([`Deidentifier::with_ocr`], feature
/// `ocr`) a suspect instance is looked at before it is quarantined.
pub fn pixel_verdict(obj: &InMemDicomObject) -> PixelVerdict {
    let text = |t| attr_text(obj, t).map(|s| s.to_uppercase());
    let burned_in = text(tags::BURNED_IN_ANNOTATION);
    if burned_in.as_deref() == Some("YES") {
        return PixelVerdict::BurnedIn;
    }
    // No pixels, nothing burned in (SR, RT Structure Set, RT Plan...).
    if obj.get(tags::PIXEL_DATA).is_none()
        && obj.get(tags::FLOAT_PIXEL_DATA).is_none()
        && obj.get(tags::DOUBLE_FLOAT_PIXEL_DATA).is_none()
    {
        return PixelVerdict::Clean;
    }
    let class = text(tags::SOP_CLASS_UID).unwrap_or_default();
    let modality = text(tags::MODALITY).unwrap_or_default();
    let image_type = text(tags::IMAGE_TYPE).unwrap_or_default();
    let series = text(tags::SERIES_DESCRIPTION).unwrap_or_default();
    // Screens: what the flag says of them is not evidence (dose reports and secondary
    // captures marked NO that show a study ID and the exam date are common).
    let flag = if burned_in.as_deref() == Some("NO") {
        " (Burned In Annotation says NO, which is not evidence for screens)"
    } else {
        ""
    };
    if class.starts_with("1.2.840.10008.5.1.4.1.1.7") {
        return PixelVerdict::Suspect(format!(
            "Secondary Capture (screen captures often show text){flag}"
        ));
    }
    if image_type.contains("SCREEN")
        || series.contains("DOSE REPORT")
        || series.contains("DOSE INFO")
        || series.contains("PATIENT PROTOCOL")
    {
        return PixelVerdict::Suspect(format!("a screen or dose report{flag}"));
    }
    if matches!(modality.as_str(), "OT" | "SC" | "DOC") {
        return PixelVerdict::Suspect(format!("modality {modality} (screens and documents){flag}"));
    }
    if burned_in.as_deref() == Some("NO") {
        return PixelVerdict::Clean;
    }
    if class.starts_with("1.2.840.10008.5.1.4.1.1.6")
        || class.starts_with("1.2.840.10008.5.1.4.1.1.3")
        || modality == "US"
    {
        return PixelVerdict::Suspect("ultrasound (patient data is usually burned in)".into());
    }
    if matches!(modality.as_str(), "XC" | "ES" | "GM" | "SM") {
        return PixelVerdict::Suspect(format!("modality {modality} (photographs and documents)"));
    }
    if image_type.contains("SECONDARY") {
        return PixelVerdict::Suspect("derived secondary image (Image Type)".into());
    }
    // Without Burned In Annotation = NO, only the reconstructed cross-sectional modalities (whose
    // images carry no text by convention) pass; projection images (CR, DX, MG, XA, RF...), RT
    // images, and anything unknown may show labels.
    if matches!(
        modality.as_str(),
        "CT" | "MR" | "PT" | "NM" | "RTDOSE" | "SEG" | "REG"
    ) {
        return PixelVerdict::Clean;
    }
    PixelVerdict::Suspect(format!(
        "Burned In Annotation not NO, and modality `{modality}` may show text in its pixels"
    ))
}
