//! TG-43 parameters of the model 6711 I-125 seed: air-kerma strength in vacuum, dose on the
//! transverse axis in a 30 cm water sphere, dose-rate constant and radial dose function, against
//! TG-43U1 (Rivard et al. 2004).
//!
//! ```sh
//! cargo run --release -p hope-mc --example tg43 -- [histories]
//! ```
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::time::Instant;

use hope_mc::Spectrum;
use hope_mc::source::brachy::{I125_LINES, SeedModel, Surroundings, tg43};

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map_or(2_000_000, |s| s.parse().unwrap());
    let seed = SeedModel::model_6711().unwrap();
    let spectrum = Spectrum::lines(&I125_LINES).unwrap();
    let radii = [0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
    let t = Instant::now();
    let vac = tg43(&seed, &spectrum, Surroundings::Vacuum, &radii, n, 1, 5e3).unwrap();
    let tv = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let wat = tg43(
        &seed,
        &spectrum,
        Surroundings::WaterSphere(15.0),
        &radii,
        n,
        2,
        5e3,
    )
    .unwrap();
    let tw = t.elapsed().as_secs_f64();
    let i1 = radii.iter().position(|&r| r == 1.0).unwrap();
    let (lambda, rel) = wat.dose_rate_constant(&vac, i1);
    println!("model 6711, {n} histories each ({tv:.1} s in vacuum, {tw:.1} s in water)");
    println!(
        "  Lambda = {lambda:.4} cGy/(h U) +- {:.4}  (TG-43U1 consensus 0.965, egs_brachy 0.932)",
        lambda * rel
    );
    let reference = [
        1.071, 1.042, 1.000, 0.908, 0.814, 0.632, 0.496, 0.364, 0.270, 0.199,
    ];
    println!("  r (cm)   g_L(r)   TG-43U1   diff %   rel unc %");
    let g = wat.radial_dose_function(i1, seed.active_length);
    for ((r, (g, unc)), want) in radii.iter().zip(g).zip(reference) {
        println!(
            "  {r:6.2} {g:8.4} {want:9.3} {:8.2} {:9.2}",
            (g / want - 1.0) * 100.0,
            unc * 100.0
        );
    }
}
