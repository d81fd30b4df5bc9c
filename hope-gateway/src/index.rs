//! The gateway's private index: the series it exposes, each under its pseudonymous UIDs, with the
//! original UIDs beside them. It lives in a SQLite catalog of the gateway's own (hope-catalog);
//! readers only ever see [`ExposedSeries`], the pseudonymous columns.
//!
//! The exposed attributes are what the de-identified instances will carry: each row is made by
//! running the project's de-identifier over the PACS's answer (patient pseudonym, keyed UIDs,
//! shifted or removed dates, descriptions as the profile options say), so a catalog built from the
//! index and the files a job receives agree.

use std::collections::BTreeSet;
use std::path::Path;

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{StandardDataDictionary, tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use hope_catalog::{AttrType, Attribute, Catalog, Entry, Principal, Value};
use hope_dicom::deid::Deidentifier;
use hope_dicom::net::{Match, Query};

use super::settings::PacsSource;
use super::{Error, Result};

/// The collection of the index.
const SERIES: &str = "/gateway/series";

/// What a refresh of the index did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Refreshed {
    /// Series now exposed.
    pub exposed: usize,
    /// Studies and series of the PACS left out, and why.
    pub skipped: Vec<Skipped>,
}

/// A study or series of the PACS that a refresh left out. It names the original UID: keep it in
/// the audit log, not in an operational log or an answer to a reader.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Skipped {
    /// The original study or series UID, as the PACS gave it.
    pub original: String,
    /// Why it was left out.
    pub reason: String,
}

/// One exposed series, as readers see it: pseudonymous identifiers and de-identified attributes,
/// named by DICOM keyword.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExposedSeries {
    /// Pseudonymous Study Instance UID.
    #[serde(rename = "StudyInstanceUID")]
    pub study_instance_uid: String,
    /// Pseudonymous Series Instance UID (what a fetch names).
    #[serde(rename = "SeriesInstanceUID")]
    pub series_instance_uid: String,
    /// The patient's pseudonym.
    #[serde(rename = "PatientID")]
    pub patient_id: String,
    /// Study Date as de-identified (shifted, or absent when the profile removes dates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub study_date: Option<String>,
    /// Modality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modality: Option<String>,
    /// Series Number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series_number: Option<i64>,
    /// Series Description, when the profile keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series_description: Option<String>,
    /// Body Part Examined, when kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_part_examined: Option<String>,
    /// Instances in the series (as the PACS counts them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_of_series_related_instances: Option<i64>,
}

/// Where an exposed series really is (never leaves the gateway).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Original {
    pub(crate) pseudonymous_series: String,
    pub(crate) study: String,
    pub(crate) series: String,
}

/// The private index.
#[derive(Debug)]
pub struct Index {
    catalog: Catalog,
    me: Principal,
}

fn schema() -> Vec<Attribute> {
    vec![
        Attribute::new("OriginalStudy", AttrType::Uid),
        Attribute::new("OriginalSeries", AttrType::Uid),
        Attribute::new("Study", AttrType::Uid).indexed(),
        Attribute::new("PatientID", AttrType::Text),
        Attribute::new("StudyDate", AttrType::Text),
        Attribute::new("Modality", AttrType::Text),
        Attribute::new("SeriesNumber", AttrType::Int),
        Attribute::new("SeriesDescription", AttrType::Text),
        Attribute::new("BodyPartExamined", AttrType::Text),
        Attribute::new("Instances", AttrType::Int),
    ]
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Text(s) | Value::Uid(s) => Some(s.clone()),
        _ => None,
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        _ => None,
    }
}

fn opt_text(s: Option<String>) -> Value {
    s.map(Value::Text).unwrap_or(Value::Null)
}

impl Index {
    /// Opens (creating if needed) the index at `path`.
    pub fn open(path: &Path) -> Result<Index> {
        let catalog = Catalog::open_sqlite(path)?;
        let me = Principal::user("gateway");
        catalog.init(&me)?;
        if catalog.schema(&me, SERIES).is_err() {
            catalog.mkdir_all(&me, SERIES)?;
            for a in schema() {
                catalog.add_attribute(&me, SERIES, a)?;
            }
        }
        Ok(Index { catalog, me })
    }

    /// Re-reads what the PACS holds under the `expose` keys (studies, then their series), maps
    /// each series through the de-identifier and replaces the index with it. A study or series
    /// whose original UID is not a valid UID (the index stores only valid ones) is skipped and
    /// reported, not fatal: one bad entry in the PACS does not hide every other series. A failing
    /// PACS, de-identifier or index is an error, and no entry is then removed as stale.
    pub fn refresh(
        &self,
        source: &PacsSource,
        expose: &[(Tag, String)],
        deid: &Deidentifier,
    ) -> Result<Refreshed> {
        let mut skipped = Vec::new();
        let mut studies = Query::studies();
        for (tag, value) in expose {
            studies = studies.with(*tag, value.as_str());
        }
        let mut seen = BTreeSet::new();
        for study in find(source, &studies)? {
            let Some(study_uid) = study.get(tags::STUDY_INSTANCE_UID) else {
                continue;
            };
            if !hope_dicom::uid::is_valid_uid(study_uid) {
                skipped.push(Skipped {
                    original: study_uid.to_string(),
                    reason: "the study's original UID is not a valid UID".into(),
                });
                continue;
            }
            let mut series_query = Query::series(study_uid);
            if let Some((_, m)) = expose.iter().find(|(t, _)| *t == tags::MODALITIES_IN_STUDY) {
                series_query = series_query.with(tags::MODALITY, m.as_str());
            }
            for series in find(source, &series_query)? {
                let Some(series_uid) = series.get(tags::SERIES_INSTANCE_UID) else {
                    continue;
                };
                if !hope_dicom::uid::is_valid_uid(series_uid) {
                    skipped.push(Skipped {
                        original: series_uid.to_string(),
                        reason: "the series' original UID is not a valid UID".into(),
                    });
                    continue;
                }
                // A de-identification failure stays fatal: it is the gateway's configuration,
                // not one entry of the PACS, and skipping would empty the index.
                let row = exposed_row(deid, &study, &series)?;
                let name = row.series_instance_uid.clone();
                let entry = Entry::new(&name)
                    .with("OriginalStudy", Value::Uid(study_uid.to_string()))
                    .with("OriginalSeries", Value::Uid(series_uid.to_string()))
                    .with("Study", Value::Uid(row.study_instance_uid.clone()))
                    .with("PatientID", Value::Text(row.patient_id.clone()))
                    .with("StudyDate", opt_text(row.study_date.clone()))
                    .with("Modality", opt_text(row.modality.clone()))
                    .with(
                        "SeriesNumber",
                        row.series_number.map(Value::Int).unwrap_or(Value::Null),
                    )
                    .with(
                        "SeriesDescription",
                        opt_text(row.series_description.clone()),
                    )
                    .with("BodyPartExamined", opt_text(row.body_part_examined.clone()))
                    .with(
                        "Instances",
                        row.number_of_series_related_instances
                            .map(Value::Int)
                            .unwrap_or(Value::Null),
                    );
                if self.catalog.get(&self.me, SERIES, &name).is_ok() {
                    self.catalog.remove(&self.me, SERIES, &name)?;
                }
                self.catalog.add(&self.me, SERIES, entry)?;
                seen.insert(name);
            }
        }
        for stale in self.names()? {
            if !seen.contains(&stale) {
                self.catalog.remove(&self.me, SERIES, &stale)?;
            }
        }
        Ok(Refreshed {
            exposed: seen.len(),
            skipped,
        })
    }

    fn rows(&self, filter: &str) -> Result<Vec<Vec<Value>>> {
        let q = format!(
            "select name, Study, PatientID, StudyDate, Modality, SeriesNumber, SeriesDescription, \
             BodyPartExamined, Instances, OriginalStudy, OriginalSeries where {filter} order by name"
        );
        Ok(self.catalog.query(&self.me, SERIES, &q)?.rows)
    }

    fn names(&self) -> Result<Vec<String>> {
        Ok(self
            .rows("name is not null")?
            .iter()
            .filter_map(|r| r.first().and_then(text))
            .collect())
    }

    /// Every exposed series (pseudonymous columns only).
    pub fn exposed(&self) -> Result<Vec<ExposedSeries>> {
        Ok(self
            .rows("name is not null")?
            .iter()
            .map(|r| ExposedSeries {
                series_instance_uid: text(&r[0]).unwrap_or_default(),
                study_instance_uid: text(&r[1]).unwrap_or_default(),
                patient_id: text(&r[2]).unwrap_or_default(),
                study_date: text(&r[3]),
                modality: text(&r[4]),
                series_number: int(&r[5]),
                series_description: text(&r[6]),
                body_part_examined: text(&r[7]),
                number_of_series_related_instances: int(&r[8]),
            })
            .collect())
    }

    fn originals(&self, filter: &str) -> Result<Vec<Original>> {
        Ok(self
            .rows(filter)?
            .iter()
            .filter_map(|r| {
                Some(Original {
                    pseudonymous_series: text(&r[0])?,
                    study: text(&r[9])?,
                    series: text(&r[10])?,
                })
            })
            .collect())
    }

    /// The original of one exposed series.
    pub(crate) fn series(&self, pseudonymous_series: &str) -> Result<Option<Original>> {
        if !hope_dicom::uid::is_valid_uid(pseudonymous_series) {
            return Ok(None);
        }
        Ok(self
            .originals(&format!("name = '{pseudonymous_series}'"))?
            .into_iter()
            .next())
    }

    /// The originals of every exposed series of a study.
    pub(crate) fn study(&self, pseudonymous_study: &str) -> Result<Vec<Original>> {
        if !hope_dicom::uid::is_valid_uid(pseudonymous_study) {
            return Ok(Vec::new());
        }
        self.originals(&format!("Study = '{pseudonymous_study}'"))
    }
}

fn find(source: &PacsSource, query: &Query) -> Result<Vec<Match>> {
    Ok(match source {
        PacsSource::Get(pacs) | PacsSource::Move { pacs, .. } => pacs.find(query)?,
        PacsSource::Web(web) => web.search(query)?,
    })
}

/// The attributes of a study and series match, de-identified as an instance of the series would
/// be: a header-only object put through the project's de-identifier.
fn exposed_row(deid: &Deidentifier, study: &Match, series: &Match) -> Result<ExposedSeries> {
    let mut obj = InMemDicomObject::new_empty();
    let mut put = |tag: Tag, value: Option<&str>| {
        if let Some(v) = value {
            let vr = StandardDataDictionary
                .by_tag(tag)
                .map(|e| e.vr().relaxed())
                .unwrap_or(VR::LO);
            obj.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
        }
    };
    for tag in [
        tags::PATIENT_ID,
        tags::PATIENT_NAME,
        tags::STUDY_INSTANCE_UID,
        tags::STUDY_DATE,
        tags::STUDY_TIME,
        tags::STUDY_DESCRIPTION,
        tags::ACCESSION_NUMBER,
    ] {
        put(tag, study.get(tag));
    }
    for tag in [
        tags::SERIES_INSTANCE_UID,
        tags::MODALITY,
        tags::SERIES_NUMBER,
        tags::SERIES_DESCRIPTION,
        tags::BODY_PART_EXAMINED,
    ] {
        put(tag, series.get(tag));
    }
    // A stand-in instance identity (the meta group needs one; it is not exposed).
    let stand_in = series.get(tags::SERIES_INSTANCE_UID).unwrap_or("1.2");
    put(
        tags::SOP_CLASS_UID,
        Some(uids::SECONDARY_CAPTURE_IMAGE_STORAGE),
    );
    put(tags::SOP_INSTANCE_UID, Some(stand_in));
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                .media_storage_sop_class_uid(uids::SECONDARY_CAPTURE_IMAGE_STORAGE)
                .media_storage_sop_instance_uid(stand_in),
        )
        .map_err(|e| Error::Protocol {
            address: "index".into(),
            detail: format!("cannot build the series header: {e}"),
        })?;
    let out = deid.deidentify(file)?.object;
    let get = |tag: Tag| {
        out.get(tag)
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
            .filter(|s| !s.is_empty())
    };
    Ok(ExposedSeries {
        study_instance_uid: get(tags::STUDY_INSTANCE_UID).unwrap_or_default(),
        series_instance_uid: get(tags::SERIES_INSTANCE_UID).unwrap_or_default(),
        patient_id: get(tags::PATIENT_ID).unwrap_or_default(),
        study_date: get(tags::STUDY_DATE),
        modality: get(tags::MODALITY),
        series_number: get(tags::SERIES_NUMBER).and_then(|s| s.trim().parse().ok()),
        series_description: get(tags::SERIES_DESCRIPTION),
        body_part_examined: get(tags::BODY_PART_EXAMINED),
        number_of_series_related_instances: series
            .get(tags::NUMBER_OF_SERIES_RELATED_INSTANCES)
            .and_then(|s| s.trim().parse().ok()),
    })
}
