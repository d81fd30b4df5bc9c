//! Photon transport speed, one thread, track-length kerma and analog scoring with history-by-
//! history uncertainties; prints histories/s and the efficiency epsilon = 1/(s^2 T), s the mean
//! relative uncertainty of the kerma over the voxels above 50 % of the maximum (the egs_brachy
//! convention; see BENCHMARKS.md). Cases:
//!
//! - `point`: an I-125 point source (TG-43U1 line spectrum) at the centre of a 10 cm water cube of
//!   1 mm voxels (the issue's benchmark);
//! - `point2`: the same cube with one voxel of another material (per-voxel material lookups);
//! - `seed`: the same with a model 6711 seed (capsule transport, then voxels);
//! - `pencil200`, `pencil1000`: a 200 keV and a 1 MeV pencil beam into the centre of the cube's face.
//!
//! ```sh
//! cargo run --release -p hope-mc --example mc_bench -- [histories] [case...]
//! ```
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::time::Instant;

use hope_core::{Grid, Vec3};
use hope_mc::source::brachy::{I125_LINES, SeedModel};
use hope_mc::{
    Material, Phantom, PhysicsOptions, RunOptions, SeedPlacement, SeedSource, Source, Spectrum,
    Transport,
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let histories: u64 = args.first().map_or(1_000_000, |s| s.parse().unwrap());
    let cases: Vec<&str> = if args.len() > 1 {
        args[1..].iter().map(String::as_str).collect()
    } else {
        vec!["point", "point2", "seed", "pencil200", "pencil1000"]
    };
    let grid = Grid::builder([100, 100, 100])
        .spacing([1.0, 1.0, 1.0])
        .origin([-49.5, -49.5, -49.5])
        .build()
        .unwrap();
    let i125 = Spectrum::lines(&I125_LINES).unwrap();
    let t = Transport::new(
        Phantom::uniform(grid.clone(), Material::builtin("water").unwrap()),
        RunOptions {
            threads: 1,
            batch_size: std::env::var("BATCH").map_or(250_000, |b| b.parse().unwrap()),
            ..RunOptions::default()
        },
    )
    .unwrap();
    // The same cube with one voxel of soft tissue in a corner: the per-voxel material lookups
    // of multi-material phantoms (CT) run.
    let mut two = Phantom::new(
        grid.clone(),
        vec![
            Material::builtin("water").unwrap(),
            Material::builtin("soft_tissue_icrp").unwrap(),
        ],
        vec![0; grid.voxel_count()],
        vec![1.0; grid.voxel_count()],
    )
    .unwrap();
    two.set([0, 0, 0], 1, 1.0).unwrap();
    let t2 = Transport::new(
        two,
        RunOptions {
            threads: 1,
            batch_size: std::env::var("BATCH").map_or(250_000, |b| b.parse().unwrap()),
            ..RunOptions::default()
        },
    )
    .unwrap();
    for case in cases {
        let pencil = |kev: f64| Source::Pencil {
            position: Vec3::new(0.0, 0.0, -60.0),
            direction: Vec3::new(0.0, 0.0, 1.0),
            spectrum: Spectrum::Mono(kev * 1e3),
        };
        let (label, source) = match case {
            "point" => (
                "I-125 point source",
                Source::Point {
                    position: Vec3::new(0.0, 0.0, 0.0),
                    spectrum: i125.clone(),
                },
            ),
            "seed" => (
                "I-125 model 6711 seed",
                Source::Seeds(Box::new(
                    SeedSource::new(
                        SeedModel::model_6711().unwrap(),
                        i125.clone(),
                        vec![SeedPlacement {
                            position_mm: [0.0; 3],
                            axis: [0.0, 0.0, 1.0],
                            weight: 1.0,
                        }],
                        PhysicsOptions::default(),
                    )
                    .unwrap(),
                )),
            ),
            "point2" => (
                "I-125 point source, two materials",
                Source::Point {
                    position: Vec3::new(0.0, 0.0, 0.0),
                    spectrum: i125.clone(),
                },
            ),
            "pencil200" => ("200 keV pencil beam", pencil(200.0)),
            "pencil1000" => ("1 MeV pencil beam", pencil(1000.0)),
            other => panic!("unknown case {other}: point, point2, seed, pencil200, pencil1000"),
        };
        let start = Instant::now();
        let transport = if case == "point2" { &t2 } else { &t };
        let r = transport.run(&source, histories, 1, &|_, _| {}).unwrap();
        let secs = start.elapsed().as_secs_f64();
        let (dose, unc) = r.dose(&r.kerma, &grid).unwrap();
        let (count, s) = hope_mc::tally::mean_uncertainty_above_half_max(&dose, &unc);
        println!("{label}, 10 cm water cube, 1 mm voxels, track-length kerma, 1 thread");
        println!(
            "  {histories} histories in {secs:.2} s: {:.0} histories/s",
            histories as f64 / secs
        );
        println!(
            "  voxels above 50 % of max: {count}, mean relative uncertainty {s:.4}, epsilon {:.3e} 1/s",
            1.0 / (s * s * secs)
        );
    }
}
