//! Brachytherapy RT Plans: written and read back, and malformed plans refused with the file and
//! the attribute.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;
use dicom_object::OpenFileOptions;
use hope_core::{Grid, Vec3, Volume};
use hope_dicom::rtplan::{BrachyPlan, PlanSeed, PlanSource, read_rt_plan, write_rt_plan};
use hope_dicom::{CtSeriesOptions, Error, write_ct_series};

fn ct(dir: &Path) -> std::path::PathBuf {
    let grid = Grid::builder([8, 8, 4])
        .spacing([1.0, 1.0, 2.0])
        .origin([-3.5, -3.5, -3.0])
        .build()
        .unwrap();
    write_ct_series(
        &Volume::new(grid.clone(), vec![0i16; grid.voxel_count()]).unwrap(),
        &dir.join("ct"),
        &CtSeriesOptions::new(),
    )
    .unwrap()
    .files[0]
        .clone()
}

/// A 13-seed plaque of 6711 seeds with one Pd-103 seed among them.
fn plan() -> BrachyPlan {
    let mut seeds = Vec::new();
    for k in 0..13 {
        let a = f64::from(k) * 0.48;
        let p = Vec3::new(6.0 * a.cos(), 6.0 * a.sin(), 12.5 + 0.01 * f64::from(k));
        seeds.push(PlanSeed {
            position: p,
            axis: Some(Vec3::new(-a.sin(), a.cos(), 0.0)),
            source: usize::from(k == 6),
        });
    }
    BrachyPlan {
        label: "COMS 16 mm".into(),
        technique: "CONTACT".into(),
        treatment_type: "LDR".into(),
        sources: vec![
            PlanSource {
                number: 1,
                model: "6711".into(),
                manufacturer: "GE Healthcare".into(),
                isotope: "I-125".into(),
                half_life_days: 59.40,
                air_kerma_strength_u: 3.06,
                active_length_mm: Some(3.0),
                active_diameter_mm: Some(0.5),
            },
            PlanSource {
                number: 4,
                model: "200".into(),
                manufacturer: "Theragenics".into(),
                isotope: "Pd-103".into(),
                half_life_days: 16.991,
                air_kerma_strength_u: 1.5,
                active_length_mm: None,
                active_diameter_mm: None,
            },
        ],
        seeds,
        referenced_structure_set: Some("1.2.826.0.1.3680043.2.1143.1".into()),
    }
}

#[test]
fn a_brachytherapy_plan_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let ct_file = ct(dir.path());
    let path = dir.path().join("plan.dcm");
    let written = write_rt_plan(&plan(), &path, &ct_file).unwrap();
    let back = read_rt_plan(&path).unwrap();
    let want = plan();
    assert_eq!(
        (&back.label, &back.technique, &back.treatment_type),
        (&want.label, &want.technique, &want.treatment_type)
    );
    assert_eq!(back.sources, want.sources);
    assert_eq!(back.referenced_structure_set, want.referenced_structure_set);
    assert_eq!(back.seeds.len(), 13);
    for (a, b) in want.seeds.iter().zip(&back.seeds) {
        assert_eq!(a.source, b.source);
        assert!((a.position - b.position).norm() < 1e-9);
        // Orientations are FL: single precision.
        assert!((a.axis.unwrap() - b.axis.unwrap()).norm() < 1e-6);
    }
    // The plan's own identity, in the CT's study and frame.
    let obj = hope_dicom::read_header(&path).unwrap();
    let ct = hope_dicom::read_header(&ct_file).unwrap();
    let uid = |o: &dicom_object::DefaultDicomObject, t| {
        o.element(t)
            .unwrap()
            .to_str()
            .unwrap()
            .trim_end_matches('\0')
            .to_string()
    };
    assert_eq!(uid(&obj, tags::SOP_INSTANCE_UID), written.sop_instance_uid);
    assert_eq!(
        uid(&obj, tags::STUDY_INSTANCE_UID),
        uid(&ct, tags::STUDY_INSTANCE_UID)
    );
    assert_eq!(
        uid(&obj, tags::FRAME_OF_REFERENCE_UID),
        uid(&ct, tags::FRAME_OF_REFERENCE_UID)
    );
    // The setup's total: 12 x 3.06 U + 1.5 U.
    let setup = &obj
        .element(tags::APPLICATION_SETUP_SEQUENCE)
        .unwrap()
        .items()
        .unwrap()[0];
    let total: f64 = setup
        .element(tags::TOTAL_REFERENCE_AIR_KERMA)
        .unwrap()
        .to_float64()
        .unwrap();
    assert!((total - (12.0 * 3.06 + 1.5)).abs() < 1e-9, "{total}");
}

/// Rewrites one attribute of the first channel of the first application setup.
fn edit_first_channel(path: &Path, elem: DataElement<dicom_object::InMemDicomObject>) {
    let mut obj = OpenFileOptions::new().open_file(path).unwrap();
    let mut setups = obj
        .element(tags::APPLICATION_SETUP_SEQUENCE)
        .unwrap()
        .items()
        .unwrap()
        .to_vec();
    let mut channels = setups[0]
        .element(tags::CHANNEL_SEQUENCE)
        .unwrap()
        .items()
        .unwrap()
        .to_vec();
    channels[0].put(elem);
    setups[0].put(DataElement::new(
        tags::CHANNEL_SEQUENCE,
        VR::SQ,
        dicom_core::value::DataSetSequence::from(channels),
    ));
    obj.put(DataElement::new(
        tags::APPLICATION_SETUP_SEQUENCE,
        VR::SQ,
        dicom_core::value::DataSetSequence::from(setups),
    ));
    obj.write_to_file(path).unwrap();
}

#[test]
fn malformed_plans_name_the_file_and_the_attribute() {
    let dir = tempfile::tempdir().unwrap();
    let ct_file = ct(dir.path());
    let path = dir.path().join("plan.dcm");
    for (elem, attribute) in [
        (
            DataElement::new(
                tags::REFERENCED_SOURCE_NUMBER,
                VR::IS,
                PrimitiveValue::from("9"),
            ),
            "ReferencedSourceNumber",
        ),
        (
            DataElement::new(
                tags::SOURCE_MOVEMENT_TYPE,
                VR::CS,
                PrimitiveValue::from("STEPWISE"),
            ),
            "SourceMovementType",
        ),
        (
            DataElement::new(
                tags::REFERENCED_SOURCE_NUMBER,
                VR::IS,
                PrimitiveValue::from("one"),
            ),
            "ReferencedSourceNumber",
        ),
    ] {
        write_rt_plan(&plan(), &path, &ct_file).unwrap();
        edit_first_channel(&path, elem);
        match read_rt_plan(&path) {
            Err(Error::Attribute {
                path: p,
                attribute: a,
                ..
            }) => assert_eq!((p.as_path(), a), (path.as_path(), attribute)),
            other => panic!("{attribute}: {:?}", other.map(|p| p.seeds.len())),
        }
    }
    // A seed that is not a number is not written.
    let mut bad = plan();
    bad.seeds[3].position = Vec3::new(f64::NAN, 0.0, 0.0);
    assert!(write_rt_plan(&bad, &dir.path().join("x.dcm"), &ct_file).is_err());
    assert!(!dir.path().join("x.dcm").exists());
    match read_rt_plan(&ct_file) {
        Err(Error::Attribute { attribute, .. }) => assert_eq!(attribute, "Modality"),
        other => panic!("{:?}", other.map(|p| p.seeds.len())),
    }
}
