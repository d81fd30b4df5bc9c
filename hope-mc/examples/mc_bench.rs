//! Photon transport speed, one thread: an I-125 point source (TG-43U1 line spectrum) at the centre
//! of a 10 cm water cube of 1 mm voxels, track-length kerma and analog scoring; prints histories/s and
//! the efficiency epsilon = 1/(s^2 T), s the mean relative uncertainty of the kerma over the voxels
//! above 50 % of the maximum (the egs_brachy convention; see BENCHMARKS.md).
//!
//! ```sh
//! cargo run --release -p hope-mc --example mc_bench -- [histories]
//! ```
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::time::Instant;

use hope_core::{Grid, Vec3};
use hope_mc::{Material, Phantom, RunOptions, Source, Spectrum, Transport};

fn main() {
    let histories: u64 = std::env::args()
        .nth(1)
        .map_or(1_000_000, |s| s.parse().unwrap());
    let grid = Grid::builder([100, 100, 100])
        .spacing([1.0, 1.0, 1.0])
        .origin([-49.5, -49.5, -49.5])
        .build()
        .unwrap();
    let phantom = Phantom::uniform(grid.clone(), Material::builtin("water").unwrap());
    // I-125 photons per decay, TG-43U1 Table I (Rivard et al. 2004).
    let spectrum = Spectrum::lines(&[
        (27_202.0, 0.406),
        (27_472.0, 0.757),
        (30_980.0, 0.202),
        (31_710.0, 0.0439),
        (35_492.0, 0.0668),
    ])
    .unwrap();
    let source = Source::Point {
        position: Vec3::new(0.0, 0.0, 0.0),
        spectrum,
    };
    let t = Transport::new(
        phantom,
        RunOptions {
            threads: 1,
            ..RunOptions::default()
        },
    )
    .unwrap();
    let start = Instant::now();
    let r = t.run(&source, histories, 1, &|_, _| {}).unwrap();
    let secs = start.elapsed().as_secs_f64();
    let (dose, unc) = r.dose(&r.kerma, &grid);
    let (count, s) = hope_mc::transport::mean_uncertainty_above_half_max(&dose, &unc);
    println!("I-125 point source, 10 cm water cube, 1 mm voxels, track-length kerma, 1 thread");
    println!(
        "  {histories} histories in {secs:.2} s: {:.0} histories/s",
        histories as f64 / secs
    );
    println!(
        "  voxels above 50 % of max: {}, mean relative uncertainty {:.4}, epsilon {:.3e} 1/s",
        count,
        s,
        1.0 / (s * s * secs)
    );
}
