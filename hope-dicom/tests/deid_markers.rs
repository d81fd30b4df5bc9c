//! The marker property: a marker string put into every text-like attribute of the profile table
//! (and some the table does not list), at random depths inside random sequences, survives the
//! Basic Profile only in attributes the profile keeps.
#![allow(clippy::unwrap_used, missing_docs)]

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::header::Header;
use dicom_core::value::{DataSetSequence, PrimitiveValue};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::{StandardDataDictionary, tags};
use dicom_object::InMemDicomObject;
use hope_dicom::deid::table::{Action, lookup};
use hope_dicom::deid::{DeidKey, Deidentifier};
use proptest::prelude::*;

const MARKER: &str = "QZXJMARKER";
const KEPT: &str = "EYE";

/// Sequences to nest in: kept, cleaned, UID-replaced and removed ones.
const SEQUENCES: [Tag; 6] = [
    tags::CONTRIBUTING_EQUIPMENT_SEQUENCE,
    tags::REFERENCED_IMAGE_SEQUENCE,
    tags::CONTENT_SEQUENCE,
    tags::REQUEST_ATTRIBUTES_SEQUENCE,
    tags::SOURCE_IMAGE_SEQUENCE,
    tags::ANATOMIC_REGION_SEQUENCE,
];

/// Every exact tag of the table with a text VR, and unlisted text attributes.
fn text_tags() -> Vec<(Tag, VR)> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/ps3.15-table-e.1-1.json"
    ))
    .unwrap();
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let mut out: Vec<(Tag, VR)> = Vec::new();
    let unlisted = [
        tags::IMAGE_TYPE,
        tags::MODALITY,
        tags::BODY_PART_EXAMINED,
        tags::PATIENT_POSITION,
        tags::CONVOLUTION_KERNEL,
        tags::CODE_MEANING,
    ];
    let listed = rows.iter().filter_map(|r| {
        let t = r["tag"].as_str()?.trim_matches(['(', ')']);
        let (g, e) = t.split_once(',')?;
        Some(Tag(
            u16::from_str_radix(g, 16).ok()?,
            u16::from_str_radix(e, 16).ok()?,
        ))
    });
    for tag in listed.chain(unlisted) {
        let Some(VirtualVr::Exact(vr)) = StandardDataDictionary.by_tag(tag).map(|e| e.vr()) else {
            continue;
        };
        if matches!(
            vr,
            VR::AE | VR::CS | VR::LO | VR::LT | VR::PN | VR::SH | VR::ST | VR::UC | VR::UT
        ) {
            out.push((tag, vr));
        }
    }
    out
}

/// Puts `elem` at the end of `path` (sequence tags), creating one-item sequences on the way.
fn insert(obj: &mut InMemDicomObject, path: &[Tag], elem: DataElement<InMemDicomObject>) {
    match path.split_first() {
        None => {
            obj.put(elem);
        }
        Some((seq, rest)) => {
            let mut item = obj
                .take_element(*seq)
                .ok()
                .and_then(|e| e.into_value().into_items())
                .and_then(|items| items.into_iter().next())
                .unwrap_or_else(InMemDicomObject::new_empty);
            insert(&mut item, rest, elem);
            obj.put(DataElement::new(
                *seq,
                VR::SQ,
                DataSetSequence::from(vec![item]),
            ));
        }
    }
}

/// Paths (tags from the top) of the elements whose text holds the marker.
fn survivors(obj: &InMemDicomObject, path: &mut Vec<Tag>, out: &mut Vec<Vec<Tag>>) {
    for e in obj.iter() {
        path.push(e.tag());
        if let Some(items) = e.items() {
            for i in items {
                survivors(i, path, out);
            }
        } else if e.to_str().is_ok_and(|s| s.to_uppercase().contains(MARKER)) {
            out.push(path.clone());
        }
        path.pop();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn no_marker_survives_where_the_profile_does_not_keep(
        placements in prop::collection::vec(prop::collection::vec(0usize..SEQUENCES.len(), 0..4), 1..400),
    ) {
        let leaves = text_tags();
        prop_assert!(leaves.len() > 150, "{} text attributes", leaves.len());
        let mut obj = InMemDicomObject::from_element_iter([
            DataElement::new(tags::PATIENT_ID, VR::LO, PrimitiveValue::from(format!("ID {MARKER}"))),
            DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, PrimitiveValue::from("1.2.3")),
        ]);
        // Every leaf, at the depth and in the sequences the strategy picked (cycling).
        for (i, (tag, vr)) in leaves.iter().enumerate() {
            let path: Vec<Tag> = placements[i % placements.len()].iter().map(|&s| SEQUENCES[s]).collect();
            insert(&mut obj, &path, DataElement::new(*tag, *vr, PrimitiveValue::from(format!("x {MARKER} y"))));
        }
        // A kept attribute holding a value that is not an identity value (identity values are
        // scrubbed even from kept free text).
        obj.put(DataElement::new(tags::BODY_PART_EXAMINED, VR::CS, PrimitiveValue::from(KEPT)));
        let mut before = Vec::new();
        survivors(&obj, &mut Vec::new(), &mut before);
        prop_assert!(before.len() + 1 >= leaves.len()); // all but Body Part Examined
        let deid = Deidentifier::new(DeidKey::from_bytes([5; 32]), []);
        let out = deid.deidentify(
            obj.with_meta(
                dicom_object::FileMetaTableBuilder::new()
                    .transfer_syntax("1.2.840.10008.1.2.1")
                    .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.2")
                    .media_storage_sop_instance_uid("1.2.3"),
            ).unwrap(),
        ).unwrap();
        let mut after = Vec::new();
        survivors(&out.object, &mut Vec::new(), &mut after);
        for path in &after {
            let leaf = *path.last().unwrap();
            let kept = lookup(leaf.group(), leaf.element()).is_none_or(|r| r.basic == Action::K);
            prop_assert!(kept, "marker survived in {:?}", path);
        }
        // And an attribute the profile keeps did keep its value: the test is not vacuous.
        prop_assert_eq!(
            out.object.element(tags::BODY_PART_EXAMINED).unwrap().to_str().unwrap(),
            KEPT
        );
    }
}
