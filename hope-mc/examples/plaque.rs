//! Central-axis dose of a fully loaded COMS plaque in water, with the plaque (HETERO) and with
//! water in its place and each seed alone (HOMO), and their ratio: the quantity the CLRP eye
//! plaque database tabulates (Safigholi et al., Med Phys 48:3373, 2021, Table II).
//!
//! ```sh
//! cargo run --release -p hope-mc --example plaque -- [plaque] [seed model] [histories]
//! ```
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::time::Instant;

use hope_mc::Spectrum;
use hope_mc::source::brachy::{I125_LINES, SeedModel};
use hope_mc::source::plaque::{Plaque, PlaqueMode, SlotLoad, central_axis};
use hope_mc::source::{Radionuclide, SEED_MODELS};

fn main() {
    let mut args = std::env::args().skip(1);
    let plaque = Plaque::by_name(&args.next().unwrap_or_else(|| "coms-16".into())).unwrap();
    let model = args.next().unwrap_or_else(|| "6711".into());
    let n: u64 = args.next().map_or(2_000_000, |s| s.parse().unwrap());
    let seed = SeedModel::by_name(&model).unwrap();
    let nuclide = SEED_MODELS.iter().find(|m| m.0 == model).unwrap().1;
    let spectrum = if nuclide == "I-125" {
        Spectrum::lines(&I125_LINES).unwrap()
    } else {
        Radionuclide::by_name(nuclide)
            .unwrap()
            .spectrum(10e3)
            .unwrap()
    };
    let depths = [0.0, 1.0, 2.0, 5.0, 10.0, 15.0];
    let weights = vec![SlotLoad::Active(1.0); plaque.slots().len()];
    let run = |mode, rng| {
        let t = Instant::now();
        let r = central_axis(&plaque, &seed, &weights, &spectrum, mode, &depths, n, rng).unwrap();
        (r, t.elapsed().as_secs_f64())
    };
    let (het, th) = run(PlaqueMode::Hetero, 1);
    let (hom, tm) = run(PlaqueMode::Homo, 2);
    let (sw, ts) = run(PlaqueMode::SeedsInWater, 3);
    println!(
        "{plaque} with {} {model} seeds, {n} histories each ({th:.1} s HETERO, {tm:.1} s HOMO, {ts:.1} s seeds in water)",
        weights.len()
    );
    println!("  depth (mm)   HETERO/HOMO   rel unc %   SEEDS/HOMO   rel unc %");
    for (i, depth) in depths.iter().enumerate() {
        let ratio = het.dose[i] / hom.dose[i];
        let rel = (het.rel[i].powi(2) + hom.rel[i].powi(2)).sqrt();
        let inter = sw.dose[i] / hom.dose[i];
        let rel2 = (sw.rel[i].powi(2) + hom.rel[i].powi(2)).sqrt();
        println!(
            "  {:9.1} {ratio:13.4} {:11.2} {inter:12.4} {:11.2}",
            depth,
            rel * 100.0,
            rel2 * 100.0
        );
    }
}
