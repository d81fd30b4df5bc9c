//! Queries (C-FIND identifiers and QIDO-RS parameters) and their matches.

use std::collections::BTreeMap;

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{StandardDataDictionary, tags};
use dicom_object::InMemDicomObject;

/// The level of a query or retrieval (Query/Retrieve Level, PS3.4 C.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryLevel {
    /// Patients (Patient Root information model).
    Patient,
    /// Studies.
    Study,
    /// Series.
    Series,
    /// Instances (level `IMAGE`).
    Image,
}

impl QueryLevel {
    /// The value of Query/Retrieve Level (0008,0052).
    pub fn code(self) -> &'static str {
        match self {
            QueryLevel::Patient => "PATIENT",
            QueryLevel::Study => "STUDY",
            QueryLevel::Series => "SERIES",
            QueryLevel::Image => "IMAGE",
        }
    }

    /// The attributes returned at this level when a query asks for nothing else.
    fn default_keys(self) -> &'static [Tag] {
        match self {
            QueryLevel::Patient => &[
                tags::PATIENT_NAME,
                tags::PATIENT_ID,
                tags::PATIENT_BIRTH_DATE,
                tags::PATIENT_SEX,
                tags::NUMBER_OF_PATIENT_RELATED_STUDIES,
            ],
            QueryLevel::Study => &[
                tags::STUDY_INSTANCE_UID,
                tags::STUDY_DATE,
                tags::STUDY_TIME,
                tags::ACCESSION_NUMBER,
                tags::STUDY_ID,
                tags::STUDY_DESCRIPTION,
                tags::PATIENT_NAME,
                tags::PATIENT_ID,
                tags::MODALITIES_IN_STUDY,
                tags::NUMBER_OF_STUDY_RELATED_SERIES,
                tags::NUMBER_OF_STUDY_RELATED_INSTANCES,
            ],
            QueryLevel::Series => &[
                tags::STUDY_INSTANCE_UID,
                tags::SERIES_INSTANCE_UID,
                tags::MODALITY,
                tags::SERIES_NUMBER,
                tags::SERIES_DESCRIPTION,
                tags::BODY_PART_EXAMINED,
                tags::NUMBER_OF_SERIES_RELATED_INSTANCES,
            ],
            QueryLevel::Image => &[
                tags::STUDY_INSTANCE_UID,
                tags::SERIES_INSTANCE_UID,
                tags::SOP_INSTANCE_UID,
                tags::SOP_CLASS_UID,
                tags::INSTANCE_NUMBER,
            ],
        }
    }

    /// The Query/Retrieve information model used at this level: Patient Root for patients,
    /// Study Root otherwise. Returns the FIND, GET and MOVE SOP Class UIDs.
    pub(crate) fn model(self) -> Model {
        match self {
            QueryLevel::Patient => Model {
                find: "1.2.840.10008.5.1.4.1.2.1.1",
                get: "1.2.840.10008.5.1.4.1.2.1.3",
                mov: "1.2.840.10008.5.1.4.1.2.1.2",
            },
            _ => Model {
                find: "1.2.840.10008.5.1.4.1.2.2.1",
                get: "1.2.840.10008.5.1.4.1.2.2.3",
                mov: "1.2.840.10008.5.1.4.1.2.2.2",
            },
        }
    }
}

/// The SOP classes of one Query/Retrieve information model.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Model {
    pub(crate) find: &'static str,
    pub(crate) get: &'static str,
    pub(crate) mov: &'static str,
}

/// A query: a level, matching keys (an attribute with a value: single value, wildcard `*`/`?`,
/// range `A-B` or UID list `A\B`, PS3.4 C.2.2.2) and return keys (an attribute without value).
///
/// ```
/// use hope_dicom::net::{Query, QueryLevel};
/// use dicom_dictionary_std::tags;
/// let q = Query::studies()
///     .with(tags::PATIENT_ID, "EYE-0042")
///     .with(tags::STUDY_DATE, "20240101-")
///     .returning(tags::REFERRING_PHYSICIAN_NAME);
/// assert_eq!(q.level(), QueryLevel::Study);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    level: QueryLevel,
    keys: BTreeMap<Tag, String>,
}

impl Query {
    /// A query at `level` with that level's usual return keys.
    pub fn new(level: QueryLevel) -> Query {
        Query {
            level,
            keys: level
                .default_keys()
                .iter()
                .map(|&t| (t, String::new()))
                .collect(),
        }
    }

    /// A query at `level` without any key.
    pub(crate) fn empty(level: QueryLevel) -> Query {
        Query {
            level,
            keys: BTreeMap::new(),
        }
    }

    /// Patients.
    pub fn patients() -> Query {
        Query::new(QueryLevel::Patient)
    }

    /// Studies.
    pub fn studies() -> Query {
        Query::new(QueryLevel::Study)
    }

    /// The series of a study (`study_uid`), or of every study when it is empty.
    pub fn series(study_uid: &str) -> Query {
        Query::new(QueryLevel::Series).with(tags::STUDY_INSTANCE_UID, study_uid)
    }

    /// The instances of a series.
    pub fn instances(study_uid: &str, series_uid: &str) -> Query {
        Query::new(QueryLevel::Image)
            .with(tags::STUDY_INSTANCE_UID, study_uid)
            .with(tags::SERIES_INSTANCE_UID, series_uid)
    }

    /// Adds or replaces a matching key.
    pub fn with(mut self, tag: Tag, value: impl Into<String>) -> Query {
        self.keys.insert(tag, value.into());
        self
    }

    /// Adds a return key (kept as a matching key if it already has a value).
    pub fn returning(mut self, tag: Tag) -> Query {
        self.keys.entry(tag).or_default();
        self
    }

    /// The level.
    pub fn level(&self) -> QueryLevel {
        self.level
    }

    /// The keys, with their values (empty for return keys).
    pub fn keys(&self) -> impl Iterator<Item = (Tag, &str)> {
        self.keys.iter().map(|(t, v)| (*t, v.as_str()))
    }

    /// The value of one key.
    pub fn key(&self, tag: Tag) -> Option<&str> {
        self.keys.get(&tag).map(String::as_str)
    }

    /// The C-FIND / C-GET / C-MOVE identifier.
    pub(crate) fn identifier(&self) -> InMemDicomObject {
        let mut obj = InMemDicomObject::new_empty();
        obj.put(DataElement::new(
            tags::QUERY_RETRIEVE_LEVEL,
            VR::CS,
            PrimitiveValue::from(self.level.code()),
        ));
        for (tag, value) in &self.keys {
            let vr = vr_of(*tag);
            let value = if value.is_empty() {
                PrimitiveValue::Empty
            } else {
                PrimitiveValue::from(value.as_str())
            };
            obj.put(DataElement::new(*tag, vr, value));
        }
        obj
    }

    /// QIDO-RS query parameters: matching keys as `GGGGEEEE=value`, return keys as
    /// `includefield=GGGGEEEE`.
    pub(crate) fn qido_params(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (tag, value) in &self.keys {
            let key = format!("{:04X}{:04X}", tag.group(), tag.element());
            if value.is_empty() {
                out.push(("includefield".to_string(), key));
            } else {
                out.push((key, value.clone()));
            }
        }
        out
    }
}

/// The dictionary VR of a tag (LO for unknown ones, which covers most private text).
pub(crate) fn vr_of(tag: Tag) -> VR {
    StandardDataDictionary
        .by_tag(tag)
        .map(|e| e.vr().relaxed())
        .unwrap_or(VR::LO)
}

/// One answer to a query: the returned attributes as text (multiple values joined by `\`,
/// person names in their alphabetic form).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Match {
    values: BTreeMap<Tag, String>,
}

impl Match {
    /// The value of an attribute (None if it was not returned or is empty).
    pub fn get(&self, tag: Tag) -> Option<&str> {
        self.values
            .get(&tag)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Every returned attribute.
    pub fn iter(&self) -> impl Iterator<Item = (Tag, &str)> {
        self.values.iter().map(|(t, v)| (*t, v.as_str()))
    }

    /// Sets a value (used when building matches from other sources).
    pub fn insert(&mut self, tag: Tag, value: impl Into<String>) {
        self.values.insert(tag, value.into());
    }

    /// The text of every primitive attribute of a C-FIND response identifier.
    pub(crate) fn from_identifier(obj: &InMemDicomObject) -> Match {
        let mut values = BTreeMap::new();
        for e in obj {
            if e.header().tag == tags::QUERY_RETRIEVE_LEVEL
                || e.header().tag == tags::SPECIFIC_CHARACTER_SET
            {
                continue;
            }
            if let dicom_core::value::Value::Primitive(p) = e.value() {
                let text = p
                    .to_multi_str()
                    .iter()
                    .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
                    .collect::<Vec<_>>()
                    .join("\\");
                values.insert(e.header().tag, text);
            }
        }
        Match { values }
    }

    /// A match from one object of the DICOM JSON model (PS3.18 F.2): strings, numbers and the
    /// alphabetic group of person names; sequences and bulk data are left out.
    pub(crate) fn from_json(obj: &serde_json::Map<String, serde_json::Value>) -> Match {
        let mut values = BTreeMap::new();
        for (key, attr) in obj {
            let Some(tag) = parse_hex_tag(key) else {
                continue;
            };
            let Some(items) = attr.get("Value").and_then(|v| v.as_array()) else {
                values.insert(tag, String::new());
                continue;
            };
            let parts: Vec<String> = items
                .iter()
                .filter_map(|v| match v {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    serde_json::Value::Object(o) => o
                        .get("Alphabetic")
                        .and_then(|a| a.as_str())
                        .map(str::to_string),
                    _ => None,
                })
                .collect();
            if parts.len() == items.len() {
                values.insert(tag, parts.join("\\"));
            }
        }
        Match { values }
    }
}

/// `GGGGEEEE` (eight hexadecimal digits) as a tag.
pub(crate) fn parse_hex_tag(s: &str) -> Option<Tag> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let g = u16::from_str_radix(&s[..4], 16).ok()?;
    let e = u16::from_str_radix(&s[4..], 16).ok()?;
    Some(Tag(g, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::header::HasLength;

    #[test]
    fn identifiers_carry_the_level_matching_and_return_keys_with_dictionary_vrs() {
        let q = Query::series("1.2.3").with(tags::MODALITY, "CT");
        let id = q.identifier();
        let level = id.element(tags::QUERY_RETRIEVE_LEVEL).unwrap();
        assert_eq!(level.to_str().unwrap(), "SERIES");
        assert_eq!(id.element(tags::MODALITY).unwrap().vr(), VR::CS);
        assert_eq!(
            id.element(tags::STUDY_INSTANCE_UID)
                .unwrap()
                .to_str()
                .unwrap(),
            "1.2.3"
        );
        let n = id
            .element(tags::NUMBER_OF_SERIES_RELATED_INSTANCES)
            .unwrap();
        assert_eq!(n.vr(), VR::IS);
        assert!(n.is_empty());
    }

    #[test]
    fn qido_parameters_split_matching_and_return_keys() {
        let p = Query::studies().with(tags::PATIENT_ID, "P1").qido_params();
        assert!(p.contains(&("00100020".into(), "P1".into())));
        assert!(p.contains(&("includefield".into(), "0020000D".into())));
    }

    #[test]
    fn json_matches_read_strings_numbers_and_person_names() {
        let v: serde_json::Value = serde_json::from_str(
            r#"{"00100010":{"vr":"PN","Value":[{"Alphabetic":"Doe^J"}]},
                "00201208":{"vr":"IS","Value":[12]},
                "00080061":{"vr":"CS","Value":["CT","RTDOSE"]},
                "00081030":{"vr":"LO"}}"#,
        )
        .unwrap();
        let m = Match::from_json(v.as_object().unwrap());
        assert_eq!(m.get(tags::PATIENT_NAME), Some("Doe^J"));
        assert_eq!(m.get(tags::NUMBER_OF_STUDY_RELATED_INSTANCES), Some("12"));
        assert_eq!(m.get(tags::MODALITIES_IN_STUDY), Some("CT\\RTDOSE"));
        assert_eq!(m.get(tags::STUDY_DESCRIPTION), None);
    }
}
