//! Reference case P1 (../shared/reference/physics.md): a 1 MeV photon pencil beam into the
//! centre of the front face of a 20 cm water cube of 2 mm voxels, coupled photon-electron
//! transport (10 keV electron and photon cutoffs), one thread. Prints the fraction of the
//! incident energy deposited, the dose per history in the central 4 x 4 mm^2 column at 1, 5, 10
//! and 15 cm (mean of the two voxel layers on either side of the depth) with its uncertainty, the
//! EGSnrc values, histories/s and the efficiency epsilon = 1/(s^2 T) (see BENCHMARKS.md).
//!
//! ```sh
//! cargo run --release -p hope-mc --example p1 -- [histories] [threads]
//! ```
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::time::Instant;

use hope_core::{Grid, Vec3};
use hope_mc::physics::electron::ElectronOptions;
use hope_mc::{Material, Phantom, PhysicsOptions, RunOptions, Source, Spectrum, Transport};

/// (depth cm, DOSXYZnrc Gy per history, egs++).
const EGSNRC: [(f64, f64, f64); 4] = [
    (1.0, 2.904e-11, 2.903e-11),
    (5.0, 2.217e-11, 2.214e-11),
    (10.0, 1.558e-11, 1.534e-11),
    (15.0, 1.093e-11, 1.093e-11),
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let histories: u64 = args.first().map_or(1_000_000, |s| s.parse().unwrap());
    let threads: usize = args.get(1).map_or(1, |s| s.parse().unwrap());
    let grid = Grid::builder([100, 100, 100])
        .spacing([2.0, 2.0, 2.0])
        .origin([-99.0, -99.0, 1.0])
        .build()
        .unwrap();
    let options = RunOptions {
        threads,
        tracking: hope_mc::Tracking::Woodcock,
        physics: PhysicsOptions {
            photon_cutoff_ev: 10e3,
            electrons: {
                // Settings may be changed for studies: P1_C1, P1_ELOSS, P1_DELTA, P1_BREMS (eV),
                // P1_RR (0 turns range rejection off).
                let env = |k: &str, d: f64| std::env::var(k).map_or(d, |v| v.parse().unwrap());
                let d = ElectronOptions::default();
                ElectronOptions {
                    transport: true,
                    elastic_c1: env("P1_C1", d.elastic_c1),
                    max_energy_loss: env("P1_ELOSS", d.max_energy_loss),
                    delta_threshold_ev: env("P1_DELTA", d.delta_threshold_ev),
                    bremsstrahlung_threshold_ev: env("P1_BREMS", d.bremsstrahlung_threshold_ev),
                    range_rejection: env("P1_RR", 1.0) > 0.0,
                    ..d
                }
            },
            ..PhysicsOptions::default()
        },
        ..RunOptions::default()
    };
    let start = Instant::now();
    let t = Transport::new(
        Phantom::uniform(grid.clone(), Material::builtin("water").unwrap()),
        options,
    )
    .unwrap();
    let setup = start.elapsed().as_secs_f64();
    let source = Source::Pencil {
        position: Vec3::new(0.0, 0.0, -10.0),
        direction: Vec3::new(0.0, 0.0, 1.0),
        spectrum: Spectrum::Mono(1e6),
    };
    let start = Instant::now();
    let p = t.run(&source, histories, 1, &|_, _| {}).unwrap();
    let secs = start.elapsed().as_secs_f64();
    let (dose, unc) = p.dose(&p.analog, &grid).unwrap();
    println!(
        "P1: {histories} histories, {threads} thread(s), set-up {setup:.2} s, run {secs:.2} s: {:.0} histories/s",
        histories as f64 / secs
    );
    println!(
        "deposited fraction {:.4} (EGSnrc 0.4760, 0.4762); escaped {:.4}; balance {:.2e}",
        p.deposited() / p.emitted(),
        p.escaped() / p.emitted(),
        (p.emitted() - p.deposited() - p.escaped()) / p.emitted()
    );
    if std::env::var("P1_PROFILE").is_ok() {
        for k in 0..12 {
            let d: f64 = (49..51)
                .flat_map(|j| (49..51).map(move |i| (i, j)))
                .map(|(i, j)| dose.get([i, j, k]).unwrap() / 4.0)
                .sum();
            println!(
                "layer {k} ({:.0}-{:.0} mm): {d:.4e}",
                2.0 * k as f64,
                2.0 * k as f64 + 2.0
            );
        }
    }
    let mut s2 = 0.0;
    for (depth, dosxyz, egspp) in EGSNRC {
        let k = (depth * 10.0 / 2.0) as usize; // the layer starting at the depth
        let (mut d, mut var) = (0.0, 0.0);
        for kk in [k - 1, k] {
            for j in 49..51 {
                for i in 49..51 {
                    let x = dose.get([i, j, kk]).unwrap();
                    let u = unc.get([i, j, kk]).unwrap() * x;
                    d += x / 8.0;
                    var += (u / 8.0).powi(2);
                }
            }
        }
        let rel = var.sqrt() / d;
        s2 += rel * rel / 4.0;
        println!(
            "{depth:>4} cm: {d:.4e} Gy +- {:.2} %  DOSXYZnrc {dosxyz:.3e} ({:+.2} %)  egs++ {egspp:.3e} ({:+.2} %)",
            100.0 * rel,
            100.0 * (d / dosxyz - 1.0),
            100.0 * (d / egspp - 1.0)
        );
    }
    let (n, s) = hope_mc::tally::mean_uncertainty_above_half_max(&dose, &unc);
    println!(
        "efficiency: column s {:.3} % -> epsilon {:.3e} 1/s; {n} voxels above half max, mean s {:.2} % -> epsilon {:.3e} 1/s",
        100.0 * s2.sqrt(),
        1.0 / (s2 * secs),
        100.0 * s,
        1.0 / (s * s * secs)
    );
}
