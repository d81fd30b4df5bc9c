//! Dose scored on a grid apart from the phantom's: the scoring does not change the random
//! sequence, so a scoring grid equal to the phantom's gives the same dose, and a grid of 2 x 2 x 2
//! phantom voxels gives the mean of their doses (the volume-weighted mean of the dose to the
//! media inside), for both estimators, in one material and in several.
#![allow(clippy::unwrap_used, missing_docs)]

use hope_core::{Grid, Vec3, Volume};
use hope_mc::{Material, Phantom, RunOptions, Source, Spectrum, Tracking, Transport};

/// 20 x 20 x 20 voxels of 1 mm, corner at -10 mm; water with a bone block when `bone`.
fn phantom(bone: bool) -> Phantom {
    let grid = Grid::builder([20, 20, 20])
        .spacing([1.0, 1.0, 1.0])
        .origin([-9.5, -9.5, -9.5])
        .build()
        .unwrap();
    let n = grid.voxel_count();
    let materials = vec![
        Material::builtin("water").unwrap(),
        Material::builtin("cortical_bone_icru44").unwrap(),
    ];
    let mut p = Phantom::new(grid, materials, vec![0; n], vec![1.0; n]).unwrap();
    if bone {
        for k in 12..16 {
            for j in 0..20 {
                for i in 3..20 {
                    p.set([i, j, k], 1, 1.92).unwrap();
                }
            }
        }
    }
    p
}

fn run(bone: bool, tracking: Tracking, scoring: Option<Grid>) -> [Volume<f64>; 2] {
    let mut t = Transport::new(
        phantom(bone),
        RunOptions {
            tracking,
            batch_size: 10_000,
            ..RunOptions::default()
        },
    )
    .unwrap();
    if let Some(g) = scoring {
        t = t.with_scoring_grid(g).unwrap();
    }
    let source = Source::Point {
        position: Vec3::new(0.3, -0.7, 0.2),
        spectrum: Spectrum::Mono(60e3),
    };
    let r = t.run(&source, 30_000, 9, &|_, _| {}).unwrap();
    let grid = t.scoring_grid().clone();
    [
        r.dose(&r.kerma, &grid).unwrap().0,
        r.dose(&r.analog, &grid).unwrap().0,
    ]
}

fn coarse(origin: f64, n: usize) -> Grid {
    Grid::builder([n, n, n])
        .spacing([2.0, 2.0, 2.0])
        .origin([origin, origin, origin])
        .build()
        .unwrap()
}

#[test]
fn the_phantom_grid_as_scoring_grid_changes_nothing() {
    for (bone, tracking) in [
        (false, Tracking::Woodcock),
        (true, Tracking::Woodcock),
        (true, Tracking::Boundary),
    ] {
        let plain = run(bone, tracking, None);
        let same = run(bone, tracking, Some(phantom(bone).grid().clone()));
        for (a, b) in plain.iter().zip(&same) {
            for (x, y) in a.data().iter().zip(b.data()) {
                assert!(
                    (x - y).abs() <= 1e-9 * x.abs().max(1e-30),
                    "bone {bone}, {tracking:?}: {x} vs {y}"
                );
            }
        }
    }
}

#[test]
fn a_coarser_grid_scores_the_mean_of_its_voxels() {
    for (bone, tracking) in [
        (false, Tracking::Woodcock),
        (true, Tracking::Woodcock),
        (true, Tracking::Boundary),
    ] {
        let fine = run(bone, tracking, None);
        // 2 mm voxels, the first centred at -9 mm (covering -10 to -8): 10 per axis.
        let big = run(bone, tracking, Some(coarse(-9.0, 10)));
        for (which, (f, c)) in fine.iter().zip(&big).enumerate() {
            let mut compared = 0;
            for (o, &d) in c.data().iter().enumerate() {
                let [i, j, k] = c.grid().index_of(o).unwrap();
                let mut sum = 0.0;
                for n in 0..8 {
                    let (a, b, e) = (n & 1, (n >> 1) & 1, n >> 2);
                    sum += f.get([2 * i + a, 2 * j + b, 2 * k + e]).unwrap();
                }
                let want = sum / 8.0;
                assert!(
                    (d - want).abs() <= 1e-5 * want.abs().max(1e-25),
                    "estimator {which}, bone {bone}, {tracking:?}, voxel {:?}: {d} vs {want}",
                    [i, j, k]
                );
                compared += usize::from(want > 0.0);
            }
            assert!(compared > 900, "{compared}");
        }
    }
}

#[test]
fn a_scoring_grid_may_reach_beyond_the_phantom() {
    // Shifted by one phantom voxel and reaching 6 mm beyond the phantom's +x, +y, +z faces.
    let fine = run(true, Tracking::Woodcock, None);
    let shifted = run(true, Tracking::Woodcock, Some(coarse(-8.0, 11)));
    let [kerma, _] = &shifted;
    for (o, &d) in kerma.data().iter().enumerate() {
        let [i, j, k] = kerma.grid().index_of(o).unwrap();
        // Scoring voxel i covers -9 + 2i to -7 + 2i mm, i.e. phantom voxels 2i + 1 and 2i + 2.
        if [i, j, k].iter().any(|&x| 2 * x + 2 >= 20) {
            if [i, j, k].iter().any(|&x| 2 * x + 1 >= 20) {
                assert_eq!(d, 0.0, "outside the phantom");
            }
            continue;
        }
        let mut sum = 0.0;
        for n in 0..8 {
            let (a, b, e) = (n & 1, (n >> 1) & 1, n >> 2);
            sum += fine[0]
                .get([2 * i + 1 + a, 2 * j + 1 + b, 2 * k + 1 + e])
                .unwrap();
        }
        assert!(
            (d - sum / 8.0).abs() <= 1e-5 * (sum / 8.0),
            "{:?}",
            [i, j, k]
        );
    }
    // Axes must match the phantom's.
    let tilted = Grid::builder([4, 4, 4])
        .spacing([2.0, 2.0, 2.0])
        .direction([
            Vec3::new(0.0, 1.0, 0.0),
            Vec3::new(-1.0, 0.0, 0.0),
            Vec3::new(0.0, 0.0, 1.0),
        ])
        .build()
        .unwrap();
    let t = Transport::new(phantom(false), RunOptions::default()).unwrap();
    assert!(t.with_scoring_grid(tilted).is_err());
}
