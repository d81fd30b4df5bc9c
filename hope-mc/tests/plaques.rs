//! COMS eye plaques in analytic geometry against the CLRP eye plaque database v2 (Safigholi,
//! Parsons, Deering and Thomson, Med Phys 48:3373, 2021, Table II): the ratio of the central-axis
//! dose with the plaque (Modulay backing and lip, Silastic insert, all seeds: HETERO) to the dose
//! with water in its place and each seed alone (HOMO), for fully loaded plaques of model 6711
//! seeds, at 1, 2, 5 and 10 mm from the inner sclera; within 2 % for three sizes, with the
//! statistical uncertainty of the ratio below 1 %. The runs are seeded, so the outcome is
//! reproducible; the figures are in hope_mc::manual::physics.
#![allow(clippy::unwrap_used, missing_docs)]

use hope_mc::Spectrum;
use hope_mc::source::brachy::{I125_LINES, SeedModel};
use hope_mc::source::plaque::{Plaque, PlaqueMode, SlotLoad, central_axis};

const DEPTHS_MM: [f64; 4] = [1.0, 2.0, 5.0, 10.0];

fn check(name: &str, published: [f64; 4]) {
    let plaque = Plaque::by_name(name).unwrap();
    let seed = SeedModel::model_6711().unwrap();
    let spectrum = Spectrum::lines(&I125_LINES).unwrap();
    let weights = vec![SlotLoad::Active(1.0); plaque.slots().len()];
    let n = 12_000_000;
    let run = |mode, rng| {
        central_axis(
            &plaque, &seed, &weights, &spectrum, mode, &DEPTHS_MM, n, rng,
        )
        .unwrap()
    };
    let het = run(PlaqueMode::Hetero, 1);
    let hom = run(PlaqueMode::Homo, 2);
    for i in 0..DEPTHS_MM.len() {
        let ratio = het.dose[i] / hom.dose[i];
        let rel = (het.rel[i].powi(2) + hom.rel[i].powi(2)).sqrt();
        assert!(rel < 0.01, "{name}: uncertainty {rel} at {} mm", DEPTHS_MM[i]);
        assert!(
            (ratio / published[i] - 1.0).abs() < 0.02,
            "{name} at {} mm: HETERO/HOMO {ratio:.4} +- {:.4}, published {} ({:+.2} %)",
            DEPTHS_MM[i],
            ratio * rel,
            published[i],
            (ratio / published[i] - 1.0) * 100.0
        );
    }
}

#[test]
fn coms_12_mm_against_the_clrp_database() {
    check("coms-12", [0.887, 0.890, 0.881, 0.855]);
}

#[test]
fn coms_16_mm_against_the_clrp_database() {
    check("coms-16", [0.870, 0.878, 0.878, 0.859]);
}

#[test]
fn coms_20_mm_against_the_clrp_database() {
    check("coms-20", [0.862, 0.870, 0.873, 0.859]);
}
