//! TG-43 parameters of a built-in seed model: air-kerma strength in vacuum, dose in a 30 cm water
//! sphere, dose-rate constant, radial dose function and 2D anisotropy function (the validation
//! against the AAPM consensus data is in `tests/tg43.rs`).
//!
//! ```sh
//! cargo run --release -p hope-mc --example tg43 -- [model] [histories]
//! ```
//! `model` is one of `hope_mc::source::SEED_MODELS` (default 6711); I-125 seeds emit the TG-43U1
//! I-125 lines, the Pd-103 seed the ICRP-107 lines above 10 keV.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::time::Instant;

use hope_mc::Spectrum;
use hope_mc::source::brachy::{I125_LINES, SeedModel, Surroundings, tg43_polar};
use hope_mc::source::{Radionuclide, SEED_MODELS};

fn main() {
    let model = std::env::args().nth(1).unwrap_or_else(|| "6711".into());
    let n: u64 = std::env::args()
        .nth(2)
        .map_or(2_000_000, |s| s.parse().unwrap());
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
    let radii = [0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
    let angles = [
        0.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0,
    ];
    let polar: Vec<(f64, f64)> = [0.5, 1.0, 2.0, 5.0]
        .iter()
        .flat_map(|&r| angles.iter().map(move |&a| (r, a)))
        .collect();
    let t = Instant::now();
    let vac = tg43_polar(
        &seed,
        &spectrum,
        Surroundings::Vacuum,
        &radii,
        &[],
        n,
        1,
        5e3,
    )
    .unwrap();
    let tv = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let wat = tg43_polar(
        &seed,
        &spectrum,
        Surroundings::WaterSphere(15.0),
        &radii,
        &polar,
        n,
        2,
        5e3,
    )
    .unwrap();
    let tw = t.elapsed().as_secs_f64();
    let i1 = radii.iter().position(|&r| r == 1.0).unwrap();
    let (lambda, rel) = wat.dose_rate_constant(&vac, i1);
    println!("model {model}, {n} histories each ({tv:.1} s in vacuum, {tw:.1} s in water)");
    println!("  Lambda = {lambda:.4} cGy/(h U) +- {:.4}", lambda * rel);
    println!("  r (cm)   g_L(r)   rel unc %");
    let g = wat.radial_dose_function(i1, seed.active_length);
    for (r, (g, unc)) in radii.iter().zip(g) {
        println!("  {r:6.2} {g:8.4} {:9.2}", unc * 100.0);
    }
    println!("  F(r, theta): theta (deg) then r = 0.5, 1, 2, 5 cm");
    let f = wat.anisotropy(seed.active_length);
    for (k, a) in angles.iter().enumerate() {
        let row: Vec<String> = (0..4)
            .map(|j| {
                let (v, u) = f[j * angles.len() + k].unwrap();
                format!("{v:6.3}({:3.1}%)", u * 100.0)
            })
            .collect();
        println!("  {a:5.0} {}", row.join(" "));
    }
}
