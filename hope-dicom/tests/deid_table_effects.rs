//! Every row of the vendored PS3.15 Table E.1-1, under the Basic Profile and under each option
//! alone: the decision the de-identifier takes for an attribute of that row (placed in a data
//! set with its dictionary VR) is one the table's action code allows.
#![allow(clippy::unwrap_used, missing_docs)]

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::value::{DataSetSequence, PrimitiveValue};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::{StandardDataDictionary, tags};
use dicom_object::InMemDicomObject;
use hope_dicom::deid::table::ProfileOption;
use hope_dicom::deid::{Decision, DeidKey, Deidentifier};

/// The table's JSON column of each option.
const COLUMNS: [(ProfileOption, &str); 10] = [
    (ProfileOption::RetainSafePrivate, "rtnSafePrivOpt"),
    (ProfileOption::RetainUids, "rtnUIDsOpt"),
    (ProfileOption::RetainDeviceIdentity, "rtnDevIdOpt"),
    (ProfileOption::RetainInstitutionIdentity, "rtnInstIdOpt"),
    (
        ProfileOption::RetainPatientCharacteristics,
        "rtnPatCharsOpt",
    ),
    (
        ProfileOption::RetainLongitudinalFullDates,
        "rtnLongFullDatesOpt",
    ),
    (
        ProfileOption::RetainLongitudinalModifiedDates,
        "rtnLongModifDatesOpt",
    ),
    (ProfileOption::CleanDescriptors, "cleanDescOpt"),
    (ProfileOption::CleanStructuredContent, "cleanStructContOpt"),
    (ProfileOption::CleanGraphics, "cleanGraphOpt"),
];

/// The decisions an action code allows (PS3.15 E.1.1; Z allows a dummy value too, so the
/// pseudonym of Patient ID and Patient's Name satisfies it).
fn allowed(code: &str) -> Vec<Decision> {
    let mut v = Vec::new();
    for part in code.split('/') {
        v.extend(match part.trim_end_matches('*') {
            "X" => vec![Decision::Remove],
            "Z" => vec![Decision::Empty, Decision::Pseudonym],
            "D" => vec![Decision::Dummy],
            "K" => vec![Decision::Keep],
            "C" => vec![Decision::Clean],
            "U" => vec![Decision::Uid],
            other => panic!("unknown action code {other}"),
        });
    }
    v
}

fn element(tag: Tag) -> DataElement<InMemDicomObject> {
    let vr = StandardDataDictionary
        .by_tag(tag)
        .map(|e| match e.vr() {
            VirtualVr::Exact(vr) => vr,
            _ => VR::OB,
        })
        .unwrap_or(VR::LO);
    let value = match vr {
        VR::SQ => {
            return DataElement::new(
                tag,
                vr,
                DataSetSequence::from(vec![InMemDicomObject::from_element_iter([
                    DataElement::new(tags::CODE_VALUE, VR::SH, PrimitiveValue::from("1")),
                ])]),
            );
        }
        VR::UI => PrimitiveValue::from("1.2.3.4.5"),
        VR::DA => PrimitiveValue::from("20200101"),
        VR::TM => PrimitiveValue::from("101010"),
        VR::DT => PrimitiveValue::from("20200101101010"),
        VR::AS => PrimitiveValue::from("042Y"),
        VR::DS | VR::IS => PrimitiveValue::from("42"),
        VR::US | VR::SS | VR::UL | VR::SL | VR::FL | VR::FD | VR::UV | VR::SV => {
            PrimitiveValue::from(42u16)
        }
        VR::OB | VR::OW | VR::UN | VR::OF | VR::OD | VR::OL | VR::OV => {
            PrimitiveValue::from(vec![1u8, 2])
        }
        _ => PrimitiveValue::from("SOMETHING"),
    };
    DataElement::new(tag, vr, value)
}

fn parse_tag(t: &str) -> Option<Tag> {
    let t = t.trim_matches(['(', ')']);
    let (g, e) = t.split_once(',')?;
    Some(Tag(
        u16::from_str_radix(g, 16).ok()?,
        u16::from_str_radix(e, 16).ok()?,
    ))
}

#[test]
fn every_row_under_every_option_gets_an_allowed_decision() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/ps3.15-table-e.1-1.json"
    ))
    .unwrap();
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let key = DeidKey::from_bytes([3; 32]);
    let mut checked = 0;
    let mut settings: Vec<(Option<ProfileOption>, &str)> = vec![(None, "basicProfile")];
    settings.extend(COLUMNS.iter().map(|(o, c)| (Some(*o), *c)));
    for (option, column) in settings {
        let deid = Deidentifier::new(key.clone(), option);
        for row in &rows {
            let tag_text = row["tag"].as_str().unwrap();
            // Repeating groups: one representative of each.
            let tag = match tag_text {
                "(50XX,XXXX)" => Tag(0x5002, 0x3000),
                "(60XX,4000)" => Tag(0x6002, 0x4000),
                "(60XX,3000)" => Tag(0x6002, 0x3000),
                "(GGGG,EEEE) WHERE GGGG IS ODD" => Tag(0x0009, 0x1001),
                t => match parse_tag(t) {
                    Some(tag) => tag,
                    None => panic!("unparsed table tag {t}"),
                },
            };
            let code = row
                .get(column)
                .and_then(|v| v.as_str())
                .unwrap_or_else(|| row["basicProfile"].as_str().unwrap());
            let mut obj = InMemDicomObject::from_element_iter([DataElement::new(
                tags::PATIENT_ID,
                VR::LO,
                PrimitiveValue::from("P1"),
            )]);
            obj.put(element(tag));
            let decision = deid
                .dry_run(&obj)
                .into_iter()
                .find(|l| l.path == [tag])
                .map(|l| l.decision)
                .unwrap();
            // Retain Safe Private keeps only declared attributes: none here.
            let allowed =
                if option == Some(ProfileOption::RetainSafePrivate) && tag.group() % 2 == 1 {
                    vec![Decision::Remove]
                } else {
                    allowed(code)
                };
            assert!(
                allowed.contains(&decision),
                "{tag_text} {} under {column}: table says {code}, de-identifier does {decision:?}",
                row["name"]
            );
            checked += 1;
        }
    }
    assert_eq!(checked, rows.len() * 11);
}
