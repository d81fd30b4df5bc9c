//! Brachytherapy RT Plans: the sources (model, isotope, reference air-kerma rate) and the seeds
//! (position, orientation, source) of permanent or temporary implants and plaques, read from and
//! written to the RT Brachy Application Setups module.
//!
//! Each seed is a channel of an application setup with its source fixed at one place: two control
//! points at the same Control Point 3D Position (300A,02D4), with the seed's long axis in Control
//! Point Orientation (300A,0412) where given. The source comes from Referenced Source Number
//! (300C,000E) into the Source Sequence (300A,0210): Source Isotope Name, Reference Air Kerma Rate
//! (300A,022A, uGy/h at 1 m: the air-kerma strength in U), Source Model ID (300A,021B) or Source
//! Description, manufacturer and half-life. Reading checks every number and reference and bounds
//! the counts ([`MAX_SEEDS`]); errors name the file and the attribute.

use std::path::Path;

use dicom_core::value::{DataSetSequence, PrimitiveValue};
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use hope_core::Vec3;

use crate::attrs::{
    attr_err, derived_from_ct, ds, ds_multi, items, new_instance, open_modality, text, write_part10,
};
use crate::uid::new_uid;
use crate::{Error, Result};

/// At most this many seeds (channels) in one plan.
pub const MAX_SEEDS: usize = 10_000;
/// At most this many sources in one plan.
pub const MAX_SOURCES: usize = 100;

/// A source model of the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanSource {
    /// Source Number.
    pub number: u32,
    /// The model (Source Model ID, or Source Description), e.g. `6711`.
    pub model: String,
    /// Source Manufacturer.
    pub manufacturer: String,
    /// Source Isotope Name, e.g. `I-125`.
    pub isotope: String,
    /// Source Isotope Half Life, days.
    pub half_life_days: f64,
    /// Reference Air Kerma Rate: the air-kerma strength in U (uGy m^2 / h).
    pub air_kerma_strength_u: f64,
    /// Active Source Length and Diameter, mm, where given.
    pub active_length_mm: Option<f64>,
    /// Active Source Diameter, mm.
    pub active_diameter_mm: Option<f64>,
}

/// A seed: where it is, its long axis, and its source.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanSeed {
    /// Centre of the seed, mm (patient coordinates).
    pub position: Vec3,
    /// Direction of the seed's long axis, where given.
    pub axis: Option<Vec3>,
    /// Index into [`BrachyPlan::sources`].
    pub source: usize,
}

/// A brachytherapy plan.
#[derive(Debug, Clone, PartialEq)]
pub struct BrachyPlan {
    /// RT Plan Label.
    pub label: String,
    /// Brachy Treatment Technique (`CONTACT` for a plaque, `INTERSTITIAL`, `PERMANENT`...).
    pub technique: String,
    /// Brachy Treatment Type (`LDR`, `HDR`, `MANUAL`...).
    pub treatment_type: String,
    /// The sources.
    pub sources: Vec<PlanSource>,
    /// The seeds.
    pub seeds: Vec<PlanSeed>,
    /// The structure set the plan refers to (SOP Instance UID), if any.
    pub referenced_structure_set: Option<String>,
}

/// What [`write_rt_plan`] wrote.
#[derive(Debug, Clone)]
pub struct WrittenPlan {
    /// Its SOP Instance UID.
    pub sop_instance_uid: String,
    /// Its Series Instance UID.
    pub series_uid: String,
}

/// Writes `plan` as an RT Plan at `path` (atomically), in the patient, study and frame of
/// reference of the CT file `ct_file`.
pub fn write_rt_plan(plan: &BrachyPlan, path: &Path, ct_file: &Path) -> Result<WrittenPlan> {
    let bad = |m: String| Error::Write {
        path: path.to_path_buf(),
        message: m,
    };
    if plan.sources.is_empty() || plan.sources.len() > MAX_SOURCES {
        return Err(bad(format!(
            "{} sources; expected 1 to {MAX_SOURCES}",
            plan.sources.len()
        )));
    }
    if plan.seeds.is_empty() || plan.seeds.len() > MAX_SEEDS {
        return Err(bad(format!(
            "{} seeds; expected 1 to {MAX_SEEDS}",
            plan.seeds.len()
        )));
    }
    for (i, s) in plan.seeds.iter().enumerate() {
        let axis_ok = s.axis.is_none_or(|a| a.is_finite() && a.norm() > 0.0);
        if s.source >= plan.sources.len() || !s.position.is_finite() || !axis_ok {
            return Err(bad(format!(
                "seed {i}: a source index, position or axis that is not valid"
            )));
        }
    }
    for s in &plan.sources {
        let strength_ok = s.air_kerma_strength_u.is_finite() && s.air_kerma_strength_u >= 0.0;
        let half_life_ok = s.half_life_days.is_finite() && s.half_life_days > 0.0;
        if !(strength_ok && half_life_ok) {
            return Err(bad(format!(
                "source {}: air-kerma strength and half-life must be finite, the half-life positive",
                s.number
            )));
        }
    }
    let (_, mut obj, _) = derived_from_ct(ct_file, "seeds")?;
    let s = |v: &str| PrimitiveValue::from(v);
    let sq = |items: Vec<InMemDicomObject>| DataSetSequence::from(items);
    let sop_uid = new_uid()?;
    let series_uid = new_uid()?;
    let sources: Vec<InMemDicomObject> = plan
        .sources
        .iter()
        .map(|src| {
            let mut item = InMemDicomObject::from_element_iter([
                DataElement::new(tags::SOURCE_NUMBER, VR::IS, s(&src.number.to_string())),
                DataElement::new(tags::SOURCE_TYPE, VR::CS, s("CYLINDER")),
                DataElement::new(tags::SOURCE_MANUFACTURER, VR::LO, s(&src.manufacturer)),
                DataElement::new(tags::SOURCE_MODEL_ID, VR::SH, s(&src.model)),
                DataElement::new(tags::SOURCE_DESCRIPTION, VR::LO, s(&src.model)),
                DataElement::new(tags::SOURCE_ISOTOPE_NAME, VR::LO, s(&src.isotope)),
                DataElement::new(
                    tags::SOURCE_ISOTOPE_HALF_LIFE,
                    VR::DS,
                    s(&ds(src.half_life_days)),
                ),
                DataElement::new(
                    tags::REFERENCE_AIR_KERMA_RATE,
                    VR::DS,
                    s(&ds(src.air_kerma_strength_u)),
                ),
                DataElement::new(tags::SOURCE_STRENGTH_REFERENCE_DATE, VR::DA, s("")),
                DataElement::new(tags::SOURCE_STRENGTH_REFERENCE_TIME, VR::TM, s("")),
            ]);
            if let Some(l) = src.active_length_mm {
                item.put(DataElement::new(
                    tags::ACTIVE_SOURCE_LENGTH,
                    VR::DS,
                    s(&ds(l)),
                ));
            }
            if let Some(d) = src.active_diameter_mm {
                item.put(DataElement::new(
                    tags::ACTIVE_SOURCE_DIAMETER,
                    VR::DS,
                    s(&ds(d)),
                ));
            }
            item
        })
        .collect();
    let channels: Vec<InMemDicomObject> = plan
        .seeds
        .iter()
        .enumerate()
        .map(|(i, seed)| {
            let p = [seed.position.x, seed.position.y, seed.position.z];
            let points: Vec<InMemDicomObject> = [0.0, 1.0]
                .iter()
                .enumerate()
                .map(|(k, w)| {
                    let mut cp = InMemDicomObject::from_element_iter([
                        DataElement::new(tags::CONTROL_POINT_INDEX, VR::IS, s(&k.to_string())),
                        DataElement::new(tags::CUMULATIVE_TIME_WEIGHT, VR::DS, s(&ds(*w))),
                        DataElement::new(tags::CONTROL_POINT_RELATIVE_POSITION, VR::DS, s("0")),
                        DataElement::new(tags::CONTROL_POINT3_D_POSITION, VR::DS, ds_multi(&p)),
                    ]);
                    if let Some(a) = seed.axis {
                        let n = a.norm();
                        cp.put(DataElement::new(
                            tags::CONTROL_POINT_ORIENTATION,
                            VR::FL,
                            PrimitiveValue::F32(
                                [a.x / n, a.y / n, a.z / n]
                                    .map(|c| c as f32)
                                    .into_iter()
                                    .collect(),
                            ),
                        ));
                    }
                    cp
                })
                .collect();
            let source = &plan.sources[seed.source];
            InMemDicomObject::from_element_iter([
                DataElement::new(tags::CHANNEL_NUMBER, VR::IS, s(&(i + 1).to_string())),
                DataElement::new(tags::CHANNEL_TOTAL_TIME, VR::DS, s("0")),
                DataElement::new(tags::SOURCE_MOVEMENT_TYPE, VR::CS, s("FIXED")),
                DataElement::new(tags::NUMBER_OF_CONTROL_POINTS, VR::IS, s("2")),
                DataElement::new(tags::FINAL_CUMULATIVE_TIME_WEIGHT, VR::DS, s("1")),
                DataElement::new(
                    tags::REFERENCED_SOURCE_NUMBER,
                    VR::IS,
                    s(&source.number.to_string()),
                ),
                DataElement::new(tags::BRACHY_CONTROL_POINT_SEQUENCE, VR::SQ, sq(points)),
            ])
        })
        .collect();
    let total: f64 = plan
        .seeds
        .iter()
        .map(|seed| plan.sources[seed.source].air_kerma_strength_u)
        .sum();
    let setup = InMemDicomObject::from_element_iter([
        DataElement::new(tags::APPLICATION_SETUP_TYPE, VR::CS, s("SOURCE")),
        DataElement::new(tags::APPLICATION_SETUP_NUMBER, VR::IS, s("1")),
        DataElement::new(tags::TOTAL_REFERENCE_AIR_KERMA, VR::DS, s(&ds(total))),
        DataElement::new(tags::CHANNEL_SEQUENCE, VR::SQ, sq(channels)),
    ]);
    for e in new_instance(uids::RT_PLAN_STORAGE, &sop_uid, "RTPLAN", &series_uid) {
        obj.put(e);
    }
    for e in [
        DataElement::new(
            tags::RT_PLAN_LABEL,
            VR::SH,
            s(&plan.label.chars().take(16).collect::<String>()),
        ),
        DataElement::new(tags::RT_PLAN_DATE, VR::DA, s("")),
        DataElement::new(tags::RT_PLAN_TIME, VR::TM, s("")),
        DataElement::new(tags::RT_PLAN_GEOMETRY, VR::CS, s("PATIENT")),
        DataElement::new(tags::BRACHY_TREATMENT_TECHNIQUE, VR::CS, s(&plan.technique)),
        DataElement::new(tags::BRACHY_TREATMENT_TYPE, VR::CS, s(&plan.treatment_type)),
        DataElement::new(tags::SOURCE_SEQUENCE, VR::SQ, sq(sources)),
        DataElement::new(tags::APPLICATION_SETUP_SEQUENCE, VR::SQ, sq(vec![setup])),
    ] {
        obj.put(e);
    }
    if let Some(rs) = &plan.referenced_structure_set {
        obj.put(DataElement::new(
            tags::REFERENCED_STRUCTURE_SET_SEQUENCE,
            VR::SQ,
            sq(vec![InMemDicomObject::from_element_iter([
                DataElement::new(
                    tags::REFERENCED_SOP_CLASS_UID,
                    VR::UI,
                    s(uids::RT_STRUCTURE_SET_STORAGE),
                ),
                DataElement::new(tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, s(rs)),
            ])]),
        ));
    }
    write_part10(obj, path, uids::RT_PLAN_STORAGE, &sop_uid)?;
    Ok(WrittenPlan {
        sop_instance_uid: sop_uid,
        series_uid,
    })
}

/// Reads a brachytherapy RT Plan (see the module docs).
pub fn read_rt_plan(path: &Path) -> Result<BrachyPlan> {
    let obj = open_modality(path, "RTPLAN")?;
    let items = |o: &InMemDicomObject, tag, name: &'static str| items(path, o, tag, name);
    let number = |o: &InMemDicomObject, tag, name: &'static str| -> Result<f64> {
        text(o, tag)
            .and_then(|t| t.trim().parse::<f64>().ok())
            .filter(|x| x.is_finite())
            .ok_or_else(|| attr_err(path, name, "missing or not a finite number"))
    };
    let source_items = items(&obj, tags::SOURCE_SEQUENCE, "SourceSequence")?;
    if source_items.is_empty() || source_items.len() > MAX_SOURCES {
        return Err(attr_err(
            path,
            "SourceSequence",
            format!(
                "{} sources; expected 1 to {MAX_SOURCES}",
                source_items.len()
            ),
        ));
    }
    let mut sources = Vec::with_capacity(source_items.len());
    for item in &source_items {
        let n = number(item, tags::SOURCE_NUMBER, "SourceNumber")?;
        let strength = number(
            item,
            tags::REFERENCE_AIR_KERMA_RATE,
            "ReferenceAirKermaRate",
        )?;
        if strength < 0.0 || n < 0.0 || n.fract() != 0.0 || n > f64::from(u32::MAX) {
            return Err(attr_err(
                path,
                "ReferenceAirKermaRate",
                format!("source {n}: a negative strength or a source number that is not whole"),
            ));
        }
        let half_life = number(
            item,
            tags::SOURCE_ISOTOPE_HALF_LIFE,
            "SourceIsotopeHalfLife",
        )?;
        if half_life <= 0.0 {
            return Err(attr_err(
                path,
                "SourceIsotopeHalfLife",
                format!("{half_life} days; expected a positive number"),
            ));
        }
        if sources
            .iter()
            .any(|x: &PlanSource| f64::from(x.number) == n)
        {
            return Err(attr_err(
                path,
                "SourceNumber",
                format!("source number {n} is given to two sources; expected distinct numbers"),
            ));
        }
        let optional = |tag| text(item, tag).and_then(|t| t.trim().parse::<f64>().ok());
        sources.push(PlanSource {
            number: n as u32,
            model: text(item, tags::SOURCE_MODEL_ID)
                .filter(|m| !m.trim().is_empty())
                .or_else(|| text(item, tags::SOURCE_DESCRIPTION))
                .unwrap_or_default()
                .trim()
                .to_string(),
            manufacturer: text(item, tags::SOURCE_MANUFACTURER).unwrap_or_default(),
            isotope: text(item, tags::SOURCE_ISOTOPE_NAME)
                .unwrap_or_default()
                .trim()
                .to_string(),
            half_life_days: half_life,
            air_kerma_strength_u: strength,
            active_length_mm: optional(tags::ACTIVE_SOURCE_LENGTH),
            active_diameter_mm: optional(tags::ACTIVE_SOURCE_DIAMETER),
        });
    }
    let mut seeds = Vec::new();
    for setup in items(
        &obj,
        tags::APPLICATION_SETUP_SEQUENCE,
        "ApplicationSetupSequence",
    )? {
        for channel in items(&setup, tags::CHANNEL_SEQUENCE, "ChannelSequence")? {
            let referenced = number(
                &channel,
                tags::REFERENCED_SOURCE_NUMBER,
                "ReferencedSourceNumber",
            )?;
            let source = sources
                .iter()
                .position(|s| f64::from(s.number) == referenced)
                .ok_or_else(|| {
                    attr_err(
                        path,
                        "ReferencedSourceNumber",
                        format!("{referenced}: no such source in the Source Sequence"),
                    )
                })?;
            let points = items(
                &channel,
                tags::BRACHY_CONTROL_POINT_SEQUENCE,
                "BrachyControlPointSequence",
            )?;
            // A fixed seed: the first control point's position (a stepping source's dwell
            // positions are not seeds; they are refused rather than misread).
            let movement = text(&channel, tags::SOURCE_MOVEMENT_TYPE).unwrap_or_default();
            if !movement.trim().is_empty() && movement.trim() != "FIXED" {
                return Err(attr_err(
                    path,
                    "SourceMovementType",
                    format!("`{}`; only FIXED sources (seeds) are read", movement.trim()),
                ));
            }
            let first = points.first().ok_or_else(|| {
                attr_err(
                    path,
                    "BrachyControlPointSequence",
                    "a channel without control points",
                )
            })?;
            let p = first
                .get(tags::CONTROL_POINT3_D_POSITION)
                .ok_or_else(|| attr_err(path, "ControlPoint3DPosition", "missing"))?
                .to_multi_float64()
                .map_err(|_| attr_err(path, "ControlPoint3DPosition", "not numbers"))?;
            let [x, y, z] = p[..] else {
                return Err(attr_err(
                    path,
                    "ControlPoint3DPosition",
                    format!("{} values; expected 3", p.len()),
                ));
            };
            let position = Vec3::new(x, y, z);
            if !(position.is_finite() && [x, y, z].iter().all(|c| c.abs() <= 1e7)) {
                return Err(attr_err(
                    path,
                    "ControlPoint3DPosition",
                    "a coordinate that is not a finite number within 1e7 mm",
                ));
            }
            let axis = match first.get(tags::CONTROL_POINT_ORIENTATION) {
                None => None,
                Some(e) => {
                    let a = e
                        .to_multi_float64()
                        .map_err(|_| attr_err(path, "ControlPointOrientation", "not numbers"))?;
                    let [x, y, z] = a[..] else {
                        return Err(attr_err(
                            path,
                            "ControlPointOrientation",
                            format!("{} values; expected 3", a.len()),
                        ));
                    };
                    let v = Vec3::new(x, y, z);
                    if !(v.is_finite() && v.norm() > 1e-6) {
                        return Err(attr_err(
                            path,
                            "ControlPointOrientation",
                            "not a direction (zero or not finite)",
                        ));
                    }
                    Some(v * (1.0 / v.norm()))
                }
            };
            if seeds.len() >= MAX_SEEDS {
                return Err(attr_err(
                    path,
                    "ChannelSequence",
                    format!("more than {MAX_SEEDS} seeds"),
                ));
            }
            seeds.push(PlanSeed {
                position,
                axis,
                source,
            });
        }
    }
    if seeds.is_empty() {
        return Err(attr_err(
            path,
            "ApplicationSetupSequence",
            "no seed (no channel with a control point)",
        ));
    }
    let referenced_structure_set = items(
        &obj,
        tags::REFERENCED_STRUCTURE_SET_SEQUENCE,
        "ReferencedStructureSetSequence",
    )?
    .first()
    .and_then(|i| text(i, tags::REFERENCED_SOP_INSTANCE_UID));
    Ok(BrachyPlan {
        label: text(&obj, tags::RT_PLAN_LABEL).unwrap_or_default(),
        technique: text(&obj, tags::BRACHY_TREATMENT_TECHNIQUE).unwrap_or_default(),
        treatment_type: text(&obj, tags::BRACHY_TREATMENT_TYPE).unwrap_or_default(),
        sources,
        seeds,
        referenced_structure_set,
    })
}
