//! Brachytherapy seeds embedded in a voxel phantom: each photon is transported inside the seed's
//! capsule in the seed's analytic geometry and handed to the voxel transport where it leaves the
//! capsule. Checked against the seed alone in analytic geometry (the TG-43 run of tests/tg43.rs),
//! for orientation, anisotropy, superposition of several seeds and energy conservation.
#![allow(clippy::unwrap_used, missing_docs)]

use hope_core::{Grid, Volume};
use hope_mc::source::brachy::{I125_LINES, SeedModel, Surroundings, tg43};
use hope_mc::{
    Material, Partial, Phantom, PhysicsOptions, RunOptions, SeedPlacement, SeedSource, Source,
    Spectrum, Transport,
};

/// A 101 mm water cube of 1 mm voxels centred on the origin (a voxel centre at every whole mm).
fn grid() -> Grid {
    Grid::builder([101, 101, 101])
        .spacing([1.0, 1.0, 1.0])
        .origin([-50.0, -50.0, -50.0])
        .build()
        .unwrap()
}

fn run(seeds: Vec<SeedPlacement>, n: u64, seed: u64) -> (Partial, Volume<f64>, Volume<f64>) {
    let source = Source::Seeds(Box::new(
        SeedSource::new(
            SeedModel::model_6711().unwrap(),
            Spectrum::lines(&I125_LINES).unwrap(),
            seeds,
            PhysicsOptions::default(),
        )
        .unwrap(),
    ));
    let phantom = Phantom::uniform(grid(), Material::builtin("water").unwrap());
    let t = Transport::new(phantom, RunOptions::default()).unwrap();
    let r = t.run(&source, n, seed, &|_, _| {}).unwrap();
    let (dose, unc) = r.dose(&r.kerma, &grid()).unwrap();
    (r, dose, unc)
}

fn at(v: &Volume<f64>, p: [f64; 3]) -> f64 {
    let i = v.grid().voxel_at(p).unwrap();
    *v.get(i).unwrap()
}

/// The mean dose over the voxels of the plane z = 0 whose centres lie within 0.5 mm of `r_mm`
/// from the z axis, and its standard uncertainty.
fn ring(dose: &Volume<f64>, unc: &Volume<f64>, r_mm: f64) -> (f64, f64) {
    let (mut sum, mut var, mut n) = (0.0, 0.0, 0.0);
    for j in 0..101 {
        for i in 0..101 {
            let (x, y) = (i as f64 - 50.0, j as f64 - 50.0);
            if ((x * x + y * y).sqrt() - r_mm).abs() <= 0.5 {
                let d = *dose.get([i, j, 50]).unwrap();
                let s = *unc.get([i, j, 50]).unwrap() * d;
                sum += d;
                var += s * s;
                n += 1.0;
            }
        }
    }
    (sum / n, var.sqrt() / n)
}

fn seed_at(p: [f64; 3], axis: [f64; 3]) -> SeedPlacement {
    SeedPlacement {
        position_mm: p,
        axis,
        weight: 1.0,
    }
}

#[test]
fn a_seed_in_voxels_matches_the_analytic_seed_and_conserves_energy() {
    // Eight independent runs of 500,000 photons: the ring doses' uncertainties come from the
    // runs' spread (the per-voxel uncertainties of a ring's voxels, added as if independent,
    // understate it: the same photon tracks cross neighbouring voxels; with them this test
    // failed on some seeds at 3.7 "sigma").
    let (runs, n) = (8u64, 500_000);
    let radii = [1.0, 2.0, 3.0];
    let mut rings = vec![Vec::new(); radii.len()];
    let mut dose = None::<Volume<f64>>;
    for seed in 7..7 + runs {
        let (r, d, unc) = run(vec![seed_at([0.0; 3], [0.0, 0.0, 1.0])], n, seed);
        // Energy: emitted = deposited in the phantom + escaped + absorbed in the seed.
        let sum = r.deposited() + r.escaped() + r.absorbed_in_sources();
        assert!(
            (sum / r.emitted() - 1.0).abs() < 1e-9,
            "{sum} vs {}",
            r.emitted()
        );
        // Half the photons start into the silver rod, which absorbs most of them (its K x rays
        // partly escape); the titanium wall takes a few per cent more.
        let f = r.absorbed_in_sources() / r.emitted();
        assert!((0.3..0.6).contains(&f), "absorbed in the seed: {f}");
        for (k, r_cm) in radii.iter().enumerate() {
            rings[k].push(ring(&d, &unc, r_cm * 10.0).0);
        }
        dose = Some(match dose {
            None => d,
            Some(sum) => {
                let data: Vec<f64> = sum
                    .data()
                    .iter()
                    .zip(d.data())
                    .map(|(a, b)| a + b)
                    .collect();
                Volume::new(sum.grid().clone(), data).unwrap()
            }
        });
    }
    let dose = dose.unwrap();

    // The transverse dose at 1, 2 and 3 cm against the analytic seed in a water sphere of 5 cm
    // radius (the cube's inscribed sphere; the corners add little backscatter this close), per
    // emitted photon: the mean over the voxels of the plane z = 0 whose centres lie within 0.5 mm
    // of the radius (about 60 to 190 voxels), as the analytic ring tally averages over r +- 4 %
    // and |z| < 0.05 r.
    let analytic = tg43(
        &SeedModel::model_6711().unwrap(),
        &Spectrum::lines(&I125_LINES).unwrap(),
        Surroundings::WaterSphere(5.0),
        &radii,
        8_000_000,
        3,
        5e3,
    )
    .unwrap();
    for (k, r_cm) in radii.iter().enumerate() {
        let m = runs as f64;
        let d = rings[k].iter().sum::<f64>() / m;
        let var = rings[k].iter().map(|x| (x - d).powi(2)).sum::<f64>() / (m - 1.0);
        let sigma_d = (var / m).sqrt();
        let want = analytic.dose[k];
        let sigma = ((sigma_d / d).powi(2) + analytic.dose_rel[k].powi(2)).sqrt();
        let diff = d / want - 1.0;
        println!(
            "r = {r_cm} cm: voxels {d:.4e} Gy, analytic {want:.4e} Gy, {:+.2} % (sigma {:.2} %)",
            diff * 100.0,
            sigma * 100.0
        );
        assert!(sigma < 0.015, "uncertainty {sigma} at {r_cm} cm");
        assert!(
            diff.abs() < 0.02_f64.max(3.0 * sigma),
            "r = {r_cm} cm: {:+.2} %",
            diff * 100.0
        );
    }
    // Anisotropy: on the seed's axis at 1 cm the silver rod and the capsule's end walls shield
    // the dose. TG-43U1 gives F(1 cm, 0 deg) = 0.333 for the 6711, i.e. D(axis)/D(transverse) =
    // 0.343 with the geometry function; this model gives about 0.6: its flat 0.05 mm end walls are
    // thinner than the real welded end caps, and it has no AgI coating or rounded rod ends (see
    // hope_mc::manual::physics). The check is that the shielding is there and the orientation
    // is right.
    let axis = (at(&dose, [0.0, 0.0, 10.0]) + at(&dose, [0.0, 0.0, -10.0])) / 2.0;
    let transverse = (at(&dose, [10.0, 0.0, 0.0]) + at(&dose, [0.0, 10.0, 0.0])) / 2.0;
    let ratio = axis / transverse;
    println!("D(1 cm, 0 deg) / D(1 cm, 90 deg) = {ratio:.3}");
    assert!((0.3..0.8).contains(&ratio), "anisotropy {ratio}");
}

/// The mean dose over the 5 x 5 x 5 voxels around `c` (mm).
fn block(v: &Volume<f64>, c: [f64; 3]) -> f64 {
    let mut sum = 0.0;
    for dz in -2..=2 {
        for dy in -2..=2 {
            for dx in -2..=2 {
                sum += at(
                    v,
                    [
                        c[0] + f64::from(dx),
                        c[1] + f64::from(dy),
                        c[2] + f64::from(dz),
                    ],
                );
            }
        }
    }
    sum / 125.0
}

#[test]
fn seeds_follow_their_orientation_and_add_up() {
    let n = 1_000_000;
    // A seed along x: its transverse plane is x = 0, its axis through (+-10, 0, 0).
    let (_, along_x, _) = run(vec![seed_at([0.0; 3], [1.0, 0.0, 0.0])], n, 11);
    let (_, along_z, _) = run(vec![seed_at([0.0; 3], [0.0, 0.0, 1.0])], n, 13);
    let mean = |v: &Volume<f64>, pts: &[[f64; 3]]| {
        pts.iter().map(|p| block(v, *p)).sum::<f64>() / pts.len() as f64
    };
    let x_axis = mean(&along_x, &[[12.0, 0.0, 0.0], [-12.0, 0.0, 0.0]]);
    let x_trans = mean(
        &along_x,
        &[
            [0.0, 12.0, 0.0],
            [0.0, -12.0, 0.0],
            [0.0, 0.0, 12.0],
            [0.0, 0.0, -12.0],
        ],
    );
    let z_axis = mean(&along_z, &[[0.0, 0.0, 12.0], [0.0, 0.0, -12.0]]);
    let z_trans = mean(
        &along_z,
        &[
            [12.0, 0.0, 0.0],
            [-12.0, 0.0, 0.0],
            [0.0, 12.0, 0.0],
            [0.0, -12.0, 0.0],
        ],
    );
    println!(
        "axis/transverse: x seed {}, z seed {}",
        x_axis / x_trans,
        z_axis / z_trans
    );
    assert!(x_axis < 0.8 * x_trans && z_axis < 0.8 * z_trans);
    assert!((x_axis / z_axis - 1.0).abs() < 0.05, "{x_axis} vs {z_axis}");
    assert!(
        (x_trans / z_trans - 1.0).abs() < 0.03,
        "{x_trans} vs {z_trans}"
    );

    // Two seeds 20 mm apart: per emitted photon, half of each single seed's dose (shifted), within
    // 4 % (about three standard deviations of these 125-voxel means).
    let two = vec![
        seed_at([-10.0, 0.0, 0.0], [0.0, 0.0, 1.0]),
        seed_at([10.0, 0.0, 0.0], [0.0, 0.0, 1.0]),
    ];
    let (_, both, _) = run(two, 2 * n, 12);
    for p in [
        [-10.0, 10.0, 0.0],
        [10.0, -10.0, 0.0],
        [0.0, 0.0, 0.0],
        [0.0, 15.0, 5.0],
    ] {
        let single = |c: [f64; 3]| block(&along_z, [p[0] - c[0], p[1] - c[1], p[2] - c[2]]);
        let want = 0.5 * (single([-10.0, 0.0, 0.0]) + single([10.0, 0.0, 0.0]));
        let got = block(&both, p);
        println!("{p:?}: two seeds {got:.4e}, from one {want:.4e}");
        assert!((got / want - 1.0).abs() < 0.04, "{p:?}: {got} vs {want}");
    }
    // Bad placements are refused with the seed named.
    let err = SeedSource::new(
        SeedModel::model_6711().unwrap(),
        Spectrum::Mono(30e3),
        vec![
            seed_at([0.0; 3], [0.0, 0.0, 1.0]),
            seed_at([0.0; 3], [0.0; 3]),
        ],
        PhysicsOptions::default(),
    )
    .map(|_| ())
    .unwrap_err()
    .to_string();
    assert!(err.contains("seed 1"), "{err}");
}
