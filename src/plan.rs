//! Brachytherapy RT Plans as simulation sources: the seeds a planning system placed (positions,
//! orientations, source model, air-kerma strength, from the Brachy Application Setup, Channel and
//! Control Point sequences that [`crate::dicom::rtplan::read_rt_plan`] reads) as a seed source
//! of a simulation file.

use crate::dicom::rtplan::BrachyPlan;
use crate::mc::simulation::{Energies, SeedModelName, SourceSpec};
use crate::mc::source::{SEED_MODELS, SeedPlacement};
use crate::mc::{Error, Result};

/// The seed model a plan's Source Model ID names: one of [`SEED_MODELS`], written as there or
/// with spaces or underscores for hyphens, in any case (`TheraSeed 200`, `6711`).
pub fn seed_model(model: &str) -> Result<SeedModelName> {
    let norm: String = model
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| if c == ' ' || c == '_' { '-' } else { c })
        .collect();
    SeedModelName::from_name(&norm).ok_or_else(|| Error::Source {
        message: format!(
            "RT Plan source model `{}`: expected one of the built-in seed models {}",
            model
                .chars()
                .filter(|c| !c.is_control())
                .take(64)
                .collect::<String>(),
            SEED_MODELS.map(|m| m.0).join(", ")
        ),
    })
}

/// The seeds of `plan` as a seed source: the model of its sources (one model: a simulation
/// transports one), the radionuclide that model holds, each seed's centre and axis, and weights
/// in proportion to their sources' air-kerma strengths. Also returns the air-kerma strength of
/// a seed of weight 1, U (for `[absolute] air_kerma_strength_u`). A seed without an orientation,
/// a source whose isotope is not its model's, or no strength are refused.
pub fn seed_source(plan: &BrachyPlan) -> Result<(SourceSpec, f64)> {
    let bad = |message: String| Error::Source { message };
    let first = plan
        .sources
        .first()
        .ok_or_else(|| bad("the RT Plan has no source".into()))?;
    let model = seed_model(&first.model)?;
    for s in &plan.sources {
        if seed_model(&s.model)? != model {
            return Err(bad(format!(
                "the RT Plan's sources are of more than one model ({} and {}): one simulation transports one",
                model.as_str(),
                s.model
            )));
        }
        let isotope: String = s
            .isotope
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        let want: String = model
            .radionuclide()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        if !isotope.eq_ignore_ascii_case(&want) {
            return Err(bad(format!(
                "RT Plan source {}: isotope `{}` in a {} seed, which holds {}",
                s.number,
                s.isotope
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(32)
                    .collect::<String>(),
                model.as_str(),
                model.radionuclide()
            )));
        }
    }
    let unit = plan
        .sources
        .iter()
        .map(|s| s.air_kerma_strength_u)
        .fold(0.0, f64::max);
    if !(unit.is_finite() && unit > 0.0) {
        return Err(bad(
            "the RT Plan's sources have no air-kerma strength".into()
        ));
    }
    let mut seeds = Vec::with_capacity(plan.seeds.len());
    for (i, s) in plan.seeds.iter().enumerate() {
        let axis = s.axis.ok_or_else(|| {
            bad(format!(
                "RT Plan seed {}: no orientation, which the seed model's geometry needs",
                i + 1
            ))
        })?;
        let source = plan.sources.get(s.source).ok_or_else(|| {
            bad(format!(
                "RT Plan seed {}: no source {}",
                i + 1,
                s.source + 1
            ))
        })?;
        seeds.push(SeedPlacement {
            position_mm: <[f64; 3]>::from(s.position),
            axis: <[f64; 3]>::from(axis),
            weight: source.air_kerma_strength_u / unit,
        });
    }
    if seeds.is_empty() {
        return Err(bad("the RT Plan has no seed".into()));
    }
    Ok((
        SourceSpec::Seeds {
            model,
            energies: Energies::Radionuclide {
                name: model.radionuclide().into(),
            },
            seeds,
            plaque: None,
        },
        unit,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Vec3;
    use crate::dicom::rtplan::{PlanSeed, PlanSource};

    fn plan(model: &str, isotope: &str) -> BrachyPlan {
        let source = |n: u32, sk: f64| PlanSource {
            number: n,
            model: model.into(),
            manufacturer: String::new(),
            isotope: isotope.into(),
            half_life_days: 17.0,
            air_kerma_strength_u: sk,
            active_length_mm: None,
            active_diameter_mm: None,
        };
        BrachyPlan {
            label: "p".into(),
            technique: "INTERSTITIAL".into(),
            treatment_type: "LDR".into(),
            sources: vec![source(1, 2.0), source(2, 1.0)],
            seeds: vec![
                PlanSeed {
                    position: Vec3::new(1.0, 2.0, 3.0),
                    axis: Some(Vec3::new(0.0, 0.0, 1.0)),
                    source: 0,
                },
                PlanSeed {
                    position: Vec3::new(-1.0, 2.0, 3.0),
                    axis: Some(Vec3::new(0.0, 1.0, 0.0)),
                    source: 1,
                },
            ],
            referenced_structure_set: None,
        }
    }

    #[test]
    fn a_plans_seeds_become_a_seed_source() {
        let (source, unit) = seed_source(&plan("TheraSeed 200", "Pd-103")).unwrap();
        assert_eq!(unit, 2.0);
        let SourceSpec::Seeds { model, seeds, .. } = &source else {
            panic!("{source:?}")
        };
        assert_eq!(*model, SeedModelName::TheraSeed200);
        assert_eq!(seeds.len(), 2);
        assert_eq!(seeds[1].position_mm, [-1.0, 2.0, 3.0]);
        assert_eq!(seeds[1].axis, [0.0, 1.0, 0.0]);
        assert_eq!((seeds[0].weight, seeds[1].weight), (1.0, 0.5));
    }

    #[test]
    fn plans_the_engine_cannot_run_are_refused() {
        assert!(seed_source(&plan("6712", "I-125")).is_err());
        assert!(seed_source(&plan("6711", "Pd-103")).is_err());
        let mut p = plan("6711", "I-125");
        p.seeds[0].axis = None;
        assert!(
            seed_source(&p)
                .unwrap_err()
                .to_string()
                .contains("orientation")
        );
        let mut p = plan("6711", "I-125");
        p.sources
            .iter_mut()
            .for_each(|s| s.air_kerma_strength_u = 0.0);
        assert!(seed_source(&p).is_err());
    }
}
