//! Indexing de-identified DICOM instances: a standard schema of patient, study, series and instance
//! level attributes, and conversion of their DICOM string values into typed entries.
//!
//! hope-catalog does not parse DICOM: the caller (the `hope catalog add --dicom` command, or
//! hope-dicom) reads the attributes and passes their values as strings, keyed by DICOM keyword.
//!
//! ```
//! use std::collections::BTreeMap;
//! use hope_catalog::dicom::{entry_from_dicom, instance_schema};
//! use hope_catalog::{Catalog, Principal, Value};
//!
//! let cat = Catalog::in_memory();
//! let me = Principal::user("indexer");
//! cat.init(&me)?;
//! cat.mkdir(&me, "/ct")?;
//! for a in instance_schema() {
//!     cat.add_attribute(&me, "/ct", a)?;
//! }
//! let attrs = BTreeMap::from([
//!     ("SOPInstanceUID".to_string(), "2.25.1234".to_string()),
//!     ("Modality".to_string(), "CT".to_string()),
//!     ("StudyDate".to_string(), "20240131".to_string()),
//!     ("SliceThickness".to_string(), "1.25 ".to_string()),
//! ]);
//! cat.add(&me, "/ct", entry_from_dicom(&attrs)?)?;
//! let e = cat.get(&me, "/ct", "2.25.1234")?;
//! assert_eq!(e.get("StudyDate"), &Value::date("2024-01-31")?);
//! # Ok::<(), hope_catalog::Error>(())
//! ```

use std::collections::BTreeMap;

use crate::schema::{Attribute, Entry};
use crate::value::{AttrType, Value};
use crate::{Error, Result};

/// (DICOM keyword, type, indexed) of the standard instance schema.
pub const INSTANCE_ATTRIBUTES: &[(&str, AttrType, bool)] = &[
    ("PatientID", AttrType::Text, true),
    ("PatientSex", AttrType::Text, false),
    ("PatientAge", AttrType::Text, false),
    ("StudyInstanceUID", AttrType::Uid, true),
    ("StudyDate", AttrType::Date, true),
    ("StudyDescription", AttrType::Text, false),
    ("SeriesInstanceUID", AttrType::Uid, true),
    ("SeriesNumber", AttrType::Int, false),
    ("SeriesDescription", AttrType::Text, false),
    ("Modality", AttrType::Text, true),
    ("BodyPartExamined", AttrType::Text, false),
    ("SOPClassUID", AttrType::Uid, false),
    ("InstanceNumber", AttrType::Int, false),
    ("SliceThickness", AttrType::Float, false),
    ("Manufacturer", AttrType::Text, false),
    ("FrameOfReferenceUID", AttrType::Uid, false),
];

/// The standard schema for indexing instances (the entry name is the SOP Instance UID).
pub fn instance_schema() -> Vec<Attribute> {
    INSTANCE_ATTRIBUTES
        .iter()
        .map(|(k, t, idx)| Attribute {
            name: (*k).to_string(),
            ty: *t,
            nullable: true,
            indexed: *idx,
        })
        .collect()
}

/// A DICOM DA value (`YYYYMMDD`) as a date.
pub fn parse_da(s: &str) -> Option<Value> {
    let d = hope_core::calendar::parse_da(s)?;
    i32::try_from(hope_core::calendar::days_since_epoch(d))
        .ok()
        .map(Value::Date)
}

/// Converts DICOM string values (keyed by keyword) into an entry of the standard schema; the
/// name is `SOPInstanceUID`. Unknown keywords are ignored; empty values become null.
pub fn entry_from_dicom(attrs: &BTreeMap<String, String>) -> Result<Entry> {
    let uid = attrs
        .get("SOPInstanceUID")
        .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::invalid("DICOM instance", "SOPInstanceUID is missing"))?;
    // Checked here, so that one bad instance is set aside alone instead of failing a batch.
    crate::schema::check_entry_name(&uid)?;
    let mut e = Entry::new(uid);
    for (k, ty, _) in INSTANCE_ATTRIBUTES {
        let Some(raw) = attrs.get(*k) else { continue };
        let s = raw.trim_matches(|c: char| c == '\0' || c.is_whitespace());
        if s.is_empty() {
            continue;
        }
        let bad = || {
            Error::invalid(
                format!("DICOM attribute {k}"),
                format!("`{s}` is not a valid {ty}"),
            )
        };
        let v = match ty {
            AttrType::Date => parse_da(s).ok_or_else(bad)?,
            AttrType::Int => Value::Int(s.parse().map_err(|_| bad())?),
            AttrType::Float => Value::Float(
                s.parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .ok_or_else(bad)?,
            ),
            AttrType::Uid => Value::uid(s).map_err(|_| bad())?,
            _ => Value::Text(s.to_string()),
        };
        e.values.insert((*k).to_string(), v);
    }
    Ok(e)
}
