//! Recipes: the profile options and per-attribute overrides of a project, in a TOML or JSON file.
//!
//! ```toml
//! options = ["retain-longitudinal-modified-dates", "clean-descriptors"]
//!
//! [tags]                         # a keyword, "(0008,1030)", "0008,1030" or "00081030"
//! StudyDescription = "keep"      # keep | remove | hash
//! InstitutionName = { replace = "HOSPITAL" }
//!
//! [[safe_private]]               # kept with the retain-safe-private option
//! creator = "ACME 1.1"
//! group = "0009"
//! element = "02"                 # low byte of the element number, hexadecimal
//!
//! [[redact]]                     # burned-in text: every given criterion must match
//! modality = "US"
//! model = "Vivid E9"
//! rows = 600
//! columns = 800
//! rects = [{ x = 0, y = 0, width = 800, height = 60 }]
//!
//! [ocr]                          # read the pixels of screens (feature `ocr`, Tesseract)
//! policy = "quarantine"          # or "redact"
//! min_confidence = 60            # optional; also program = "tesseract", language = "eng"
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use dicom_core::dictionary::DataDictionary;
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;
use serde::Deserialize;

use super::table::ProfileOption;
use super::{DeidKey, Deidentifier, Override, RedactionRule, SafePrivate};
use crate::{Error, Result};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecipeFile {
    #[serde(default)]
    options: Vec<String>,
    #[serde(default)]
    tags: BTreeMap<String, TagAction>,
    #[serde(default)]
    safe_private: Vec<SafePrivateFile>,
    #[serde(default)]
    redact: Vec<RedactionRule>,
    #[serde(default)]
    ocr: Option<OcrFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OcrFile {
    #[serde(default)]
    policy: Option<String>,
    #[serde(default)]
    program: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    min_confidence: Option<f32>,
}

/// The `[ocr]` table of a recipe: read the pixels of screens with Tesseract (feature `ocr`).
#[derive(Debug, Clone, PartialEq)]
pub struct OcrSettings {
    /// Redact the text found (`true`) or quarantine the instance (`false`, the default).
    pub redact: bool,
    /// The Tesseract program (default: `tesseract` from the `PATH`).
    pub program: Option<String>,
    /// The language code (default `eng`).
    pub language: Option<String>,
    /// The least confidence of a word (default 60).
    pub min_confidence: Option<f32>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum TagAction {
    Word(String),
    Replace { replace: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SafePrivateFile {
    creator: String,
    group: String,
    element: String,
}

/// A parsed recipe: options, overrides and safe private attributes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recipe {
    /// Profile options.
    pub options: Vec<ProfileOption>,
    /// Per-attribute overrides.
    pub overrides: Vec<(Tag, Override)>,
    /// Private attributes declared safe.
    pub safe_private: Vec<SafePrivate>,
    /// Redaction rules for burned-in text.
    pub redactions: Vec<RedactionRule>,
    /// OCR of screens, when the recipe asks for it.
    pub ocr: Option<OcrSettings>,
}

impl ProfileOption {
    /// Every option, in table order.
    pub const ALL: [ProfileOption; 10] = [
        ProfileOption::RetainSafePrivate,
        ProfileOption::RetainUids,
        ProfileOption::RetainDeviceIdentity,
        ProfileOption::RetainInstitutionIdentity,
        ProfileOption::RetainPatientCharacteristics,
        ProfileOption::RetainLongitudinalFullDates,
        ProfileOption::RetainLongitudinalModifiedDates,
        ProfileOption::CleanDescriptors,
        ProfileOption::CleanStructuredContent,
        ProfileOption::CleanGraphics,
    ];

    /// The option's name in recipes and on the command line (`retain-safe-private`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ProfileOption::RetainSafePrivate => "retain-safe-private",
            ProfileOption::RetainUids => "retain-uids",
            ProfileOption::RetainDeviceIdentity => "retain-device-identity",
            ProfileOption::RetainInstitutionIdentity => "retain-institution-identity",
            ProfileOption::RetainPatientCharacteristics => "retain-patient-characteristics",
            ProfileOption::RetainLongitudinalFullDates => "retain-longitudinal-full-dates",
            ProfileOption::RetainLongitudinalModifiedDates => "retain-longitudinal-modified-dates",
            ProfileOption::CleanDescriptors => "clean-descriptors",
            ProfileOption::CleanStructuredContent => "clean-structured-content",
            ProfileOption::CleanGraphics => "clean-graphics",
        }
    }

    /// The option of a name (see [`ProfileOption::name`]).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.name() == name)
    }
}

/// An attribute given as a keyword or a tag (`(0008,1030)`, `0008,1030`, `00081030`).
pub fn parse_tag(text: &str) -> Option<Tag> {
    StandardDataDictionary.parse_tag(text.trim())
}

/// Checks an override against the attribute's dictionary VR: a sequence can only be kept or
/// removed (text put into one made an unreadable file that was still counted as de-identified),
/// and a replacement UID must be a valid UID (UIDs name output files and references).
pub(crate) fn check_override(tag: Tag, o: &Override) -> std::result::Result<(), String> {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
    let vr = StandardDataDictionary.by_tag(tag).map(|e| e.vr().relaxed());
    match (vr, o) {
        (Some(VR::SQ), Override::Replace(_) | Override::Hash) => {
            Err("a sequence can only be kept or removed, not replaced by text or hashed".into())
        }
        (Some(VR::UI), Override::Replace(v)) if !crate::uid::is_valid_uid(v) => Err(format!(
            "`{v}` is not a valid UID (digits and dots, at most 64 characters)"
        )),
        _ => Ok(()),
    }
}

impl Recipe {
    /// Reads a recipe file: TOML, or JSON when the name ends in `.json`. Errors name the file and
    /// the entry.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = hope_core::fs::read_text_bounded(path, hope_core::fs::MAX_CONFIG_BYTES)
            .map_err(|e| Error::Io {
                path: path.to_path_buf(),
                source: e,
            })?;
        let bad = |message: String| Error::Attribute {
            path: path.to_path_buf(),
            attribute: "recipe",
            message,
        };
        let file: RecipeFile = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?
        } else {
            toml::from_str(&text).map_err(|e| bad(e.to_string()))?
        };
        let mut recipe = Recipe::default();
        for o in &file.options {
            recipe
                .options
                .push(ProfileOption::from_name(o).ok_or_else(|| {
                    bad(format!(
                        "options: unknown option `{o}`; expected one of {}",
                        ProfileOption::ALL.map(|o| o.name()).join(", ")
                    ))
                })?);
        }
        for (name, action) in &file.tags {
            let tag = parse_tag(name).ok_or_else(|| {
                bad(format!(
                    "tags: `{name}` is neither a keyword nor a tag like (0008,1030)"
                ))
            })?;
            let o = match action {
                TagAction::Word(w) => match w.as_str() {
                    "keep" => Override::Keep,
                    "remove" => Override::Remove,
                    "hash" => Override::Hash,
                    other => {
                        return Err(bad(format!(
                            "tags.{name}: `{other}`; expected keep, remove, hash or {{ replace = \"...\" }}"
                        )));
                    }
                },
                TagAction::Replace { replace } => Override::Replace(replace.clone()),
            };
            check_override(tag, &o).map_err(|m| bad(format!("tags.{name}: {m}")))?;
            recipe.overrides.push((tag, o));
        }
        for s in &file.safe_private {
            let group = u16::from_str_radix(&s.group, 16)
                .ok()
                .filter(|g| g % 2 == 1)
                .ok_or_else(|| {
                    bad(format!(
                        "safe_private: group `{}`; expected an odd hexadecimal group",
                        s.group
                    ))
                })?;
            let element = u8::from_str_radix(&s.element, 16).map_err(|_| {
                bad(format!(
                    "safe_private: element `{}`; expected the low byte in hexadecimal (00-FF)",
                    s.element
                ))
            })?;
            recipe.safe_private.push(SafePrivate {
                creator: s.creator.clone(),
                group,
                element,
            });
        }
        recipe.redactions = file.redact;
        if let Some(o) = file.ocr {
            if !cfg!(feature = "ocr") {
                return Err(bad(
                    "ocr: this build cannot read pixels (hope-dicom's feature `ocr` is off)".into(),
                ));
            }
            let redact = match o.policy.as_deref() {
                None | Some("quarantine") => false,
                Some("redact") => true,
                Some(other) => {
                    return Err(bad(format!(
                        "ocr.policy: `{other}`; expected \"quarantine\" or \"redact\""
                    )));
                }
            };
            if o.min_confidence
                .is_some_and(|c| !(0.0..=100.0).contains(&c))
            {
                return Err(bad("ocr.min_confidence: expected 0 to 100".into()));
            }
            recipe.ocr = Some(OcrSettings {
                redact,
                program: o.program,
                language: o.language,
                min_confidence: o.min_confidence,
            });
        }
        Ok(recipe)
    }

    /// A de-identifier for this recipe under `key`, with `extra` options besides the recipe's.
    pub fn deidentifier(&self, key: DeidKey, extra: &[ProfileOption]) -> Deidentifier {
        let mut d = Deidentifier::new(key, self.options.iter().chain(extra).copied());
        for (tag, o) in &self.overrides {
            d = d.with_override(*tag, o.clone());
        }
        for s in &self.safe_private {
            d = d.with_safe_private(s.clone());
        }
        for r in &self.redactions {
            d = d.with_redaction(r.clone());
        }
        #[cfg(feature = "ocr")]
        if let Some(o) = &self.ocr {
            let mut ocr = super::ocr::Ocr::new().policy(if o.redact {
                super::ocr::OcrPolicy::Redact
            } else {
                super::ocr::OcrPolicy::Quarantine
            });
            if let Some(p) = &o.program {
                ocr = ocr.program(p);
            }
            if let Some(l) = &o.language {
                ocr = ocr.language(l);
            }
            if let Some(c) = o.min_confidence {
                ocr = ocr.min_confidence(c);
            }
            d = d.with_ocr(ocr);
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(name: &str, text: &str) -> Result<Recipe> {
        let dir = tempfile::tempdir().map_err(|e| Error::Io {
            path: name.into(),
            source: e,
        })?;
        let p = dir.path().join(name);
        std::fs::write(&p, text).map_err(|e| Error::Io {
            path: p.clone(),
            source: e,
        })?;
        Recipe::from_file(&p)
    }

    #[test]
    fn toml_and_json_recipes() {
        let r = parse(
            "r.toml",
            r#"
options = ["retain-longitudinal-modified-dates", "clean-descriptors"]
[tags]
StudyDescription = "keep"
"(0008,0080)" = { replace = "HOSPITAL" }
"00200010" = "hash"
[[safe_private]]
creator = "ACME 1.1"
group = "0009"
element = "02"
[[redact]]
modality = "US"
rows = 600
rects = [{ x = 0, y = 0, width = 800, height = 60 }]
"#,
        )
        .unwrap();
        assert_eq!(
            r.options,
            [
                ProfileOption::RetainLongitudinalModifiedDates,
                ProfileOption::CleanDescriptors
            ]
        );
        assert!(r.overrides.contains(&(Tag(0x0008, 0x1030), Override::Keep)));
        assert!(
            r.overrides
                .contains(&(Tag(0x0008, 0x0080), Override::Replace("HOSPITAL".into())))
        );
        assert!(r.overrides.contains(&(Tag(0x0020, 0x0010), Override::Hash)));
        assert_eq!(r.safe_private[0].group, 9);
        assert_eq!(r.redactions[0].modality.as_deref(), Some("US"));
        assert_eq!(r.redactions[0].rects[0].width, 800);
        let j = parse(
            "r.json",
            r#"{"options": ["retain-uids"], "tags": {"PatientAge": "remove"}}"#,
        )
        .unwrap();
        assert_eq!(j.options, [ProfileOption::RetainUids]);
        assert_eq!(j.overrides, [(Tag(0x0010, 0x1010), Override::Remove)]);
    }

    #[test]
    fn mistakes_are_named() {
        let msg = |name: &str, text: &str| parse(name, text).unwrap_err().to_string();
        assert!(
            msg("a.toml", "options = [\"retain-everything\"]")
                .contains("unknown option `retain-everything`")
        );
        assert!(msg("a.toml", "[tags]\nNotAKeyword = \"keep\"").contains("NotAKeyword"));
        assert!(msg("a.toml", "[tags]\nPatientAge = \"shred\"").contains("shred"));
        assert!(
            msg(
                "a.toml",
                "[[safe_private]]\ncreator = \"X\"\ngroup = \"0008\"\nelement = \"01\""
            )
            .contains("odd")
        );
        assert!(msg("a.toml", "colour = 3").contains("colour"));
        if cfg!(feature = "ocr") {
            assert!(msg("a.toml", "[ocr]\npolicy = \"blur\"").contains("ocr.policy"));
            assert!(msg("a.toml", "[ocr]\nmin_confidence = 200").contains("min_confidence"));
            assert!(
                parse("a.toml", "[ocr]\npolicy = \"redact\"")
                    .unwrap()
                    .ocr
                    .unwrap()
                    .redact
            );
        } else {
            assert!(msg("a.toml", "[ocr]").contains("feature `ocr`"));
        }
        assert!(msg("a.json", "{").contains("a.json"));
    }

    /// Issue 27 item 13: `SeriesInstanceUID = { replace = "../../x" }` steered the output, and
    /// an override putting text into a sequence wrote an unreadable file still counted as
    /// de-identified. Both are refused when the recipe is read, naming the entry.
    #[test]
    fn item_13_overrides_that_cannot_hold_are_refused_naming_the_entry() {
        let e = parse(
            "r.toml",
            "[tags]\nSeriesInstanceUID = { replace = \"../../x\" }\n",
        )
        .map(|_| ())
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("tags.SeriesInstanceUID") && e.contains("not a valid UID"),
            "{e}"
        );
        for action in ["{ replace = \"x\" }", "\"hash\""] {
            let e = parse(
                "r.toml",
                &format!("[tags]\nReferencedImageSequence = {action}\n"),
            )
            .map(|_| ())
            .unwrap_err()
            .to_string();
            assert!(
                e.contains("tags.ReferencedImageSequence") && e.contains("a sequence"),
                "{e}"
            );
        }
        let ok = parse(
            "r.toml",
            "[tags]\nSeriesInstanceUID = { replace = \"1.2.3.4\" }\nReferencedImageSequence = \"keep\"\n",
        );
        assert!(ok.is_ok(), "{ok:?}");
    }
}
