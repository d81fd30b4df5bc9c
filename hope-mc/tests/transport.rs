//! Transport checks that can fail: narrow-beam transmission against exp(-mu x), energy
//! conservation, Woodcock against boundary tracking, and determinism across threads and runs.
#![allow(clippy::unwrap_used, missing_docs)]

use hope_core::{Grid, Vec3};
use hope_mc::{
    Material, Partial, Phantom, PhysicsOptions, RunOptions, Source, Spectrum, Tracking, Transport,
};

fn no_progress(_: u64, _: u64) {}

fn slab(material: &str, thickness_cm: f64) -> Phantom {
    let n = 10;
    let grid = Grid::builder([1, 1, n])
        .spacing([10.0, 10.0, thickness_cm * 10.0 / n as f64])
        .build()
        .unwrap();
    Phantom::uniform(grid, Material::builtin(material).unwrap())
}

fn pencil(e_ev: f64) -> Source {
    Source::Pencil {
        position: Vec3::new(0.0, 0.0, -20.0),
        direction: Vec3::new(0.0, 0.0, 1.0),
        spectrum: Spectrum::Mono(e_ev),
    }
}

#[test]
fn narrow_beam_transmission_is_exp_minus_mu_x() {
    let n = 200_000u64;
    for (material, kev, cm) in [
        ("water", 30.0, 5.0),
        ("water", 100.0, 8.0),
        ("water", 662.0, 10.0),
        ("water", 1250.0, 15.0),
        ("cortical_bone_icru44", 30.0, 0.5),
        ("cortical_bone_icru44", 662.0, 6.0),
    ] {
        let m = Material::builtin(material).unwrap();
        let want = (-m.mu_rho(kev * 1e3) * m.density() * cm).exp();
        let sigma = (want * (1.0 - want) / n as f64).sqrt();
        for tracking in [Tracking::Woodcock, Tracking::Boundary] {
            let t = Transport::new(
                slab(material, cm),
                RunOptions {
                    tracking,
                    batch_size: 20_000,
                    ..RunOptions::default()
                },
            )
            .unwrap();
            let r = t.run(&pencil(kev * 1e3), n, 7, &no_progress).unwrap();
            let got = r.uncollided as f64 / n as f64;
            assert!(
                (got - want).abs() < 4.0 * sigma,
                "{material} {kev} keV {cm} cm {tracking:?}: {got:.5} vs exp(-mu x) {want:.5} (sigma {sigma:.5})"
            );
        }
    }
}

fn heterogeneous() -> Phantom {
    let grid = Grid::builder([12, 12, 12])
        .spacing([5.0, 5.0, 5.0])
        .origin([-27.5, -27.5, -27.5])
        .build()
        .unwrap();
    let materials = vec![
        Material::builtin("water").unwrap(),
        Material::builtin("cortical_bone_icru44").unwrap(),
        Material::builtin("lung_icru44").unwrap(),
        Material::builtin("gold").unwrap(),
    ];
    let n = grid.voxel_count();
    let mut p = Phantom::new(grid, materials, vec![0; n], vec![1.0; n]).unwrap();
    for i in 0..12 {
        for j in 0..12 {
            for k in 0..12 {
                if i >= 8 {
                    p.set([i, j, k], 1, 1.92).unwrap();
                } else if j < 3 {
                    p.set([i, j, k], 2, 0.26).unwrap(); // inflated lung
                }
            }
        }
    }
    p.set([3, 6, 6], 3, 19.32).unwrap(); // a gold voxel: fluorescence
    p
}

fn run(phantom: Phantom, tracking: Tracking, threads: usize, source: &Source, n: u64) -> Partial {
    let t = Transport::new(
        phantom,
        RunOptions {
            tracking,
            threads,
            batch_size: 2_000,
            physics: PhysicsOptions::default(),
            ..RunOptions::default()
        },
    )
    .unwrap();
    t.run(source, n, 11, &no_progress).unwrap()
}

fn point(kev: f64) -> Source {
    Source::Point {
        position: Vec3::new(0.0, 0.0, 0.0),
        spectrum: Spectrum::Mono(kev * 1e3),
    }
}

#[test]
fn energy_is_conserved_exactly() {
    // 2 MeV: pair production; 100 keV next to gold: fluorescence.
    for kev in [100.0, 2000.0] {
        for tracking in [Tracking::Woodcock, Tracking::Boundary] {
            let r = run(heterogeneous(), tracking, 0, &point(kev), 20_000);
            let balance = r.emitted() - r.deposited() - r.escaped();
            assert!(
                balance.abs() <= 1e-9 * r.emitted(),
                "{kev} keV {tracking:?}: emitted {} deposited {} escaped {}",
                r.emitted(),
                r.deposited(),
                r.escaped()
            );
            assert_eq!(r.emitted(), kev * 1e3 * 20_000.0);
            assert!(r.deposited() > 0.0 && r.escaped() > 0.0);
        }
    }
}

#[test]
fn a_voxelised_activity_source_deposits_where_its_activity_is() {
    // Activity in one corner voxel of the heterogeneous phantom's grid only: the dose peaks there.
    let phantom = heterogeneous();
    let grid = phantom.grid().clone();
    let mut activity = hope_core::Volume::filled(grid.clone(), 0.0f32);
    activity[[2, 9, 9]] = 5.0;
    let source = Source::Voxelised(Box::new(
        hope_mc::source::VoxelisedActivity::new(&activity, Spectrum::Mono(140e3)).unwrap(),
    ));
    let r = run(phantom, Tracking::Woodcock, 0, &source, 20_000);
    let (dose, _) = r.dose(&r.kerma, &grid).unwrap();
    let hottest = dose
        .data()
        .iter()
        .enumerate()
        .fold((0, 0.0), |b, (i, &d)| if d > b.1 { (i, d) } else { b })
        .0;
    assert_eq!(grid.index_of(hottest), Some([2, 9, 9]));
    assert!((r.emitted() - r.deposited() - r.escaped()).abs() <= 1e-9 * r.emitted());
}

#[test]
fn woodcock_and_boundary_tracking_agree() {
    let n = 100_000;
    let src = point(300.0);
    let w = run(heterogeneous(), Tracking::Woodcock, 0, &src, n);
    let b = run(heterogeneous(), Tracking::Boundary, 0, &src, n);
    let grid = heterogeneous().grid().clone();
    // Voxel by voxel for the track-length kerma (low variance everywhere); the analog dose is
    // compared region by region below (100,000 histories leave most voxels with few interactions).
    for (name, tw, tb) in [("kerma", &w.kerma, &b.kerma)] {
        let (dw, uw) = w.dose(tw, &grid).unwrap();
        let (db, ub) = b.dose(tb, &grid).unwrap();
        let mut compared = 0;
        let mut outliers = 0;
        for i in 0..dw.data().len() {
            let (a, c) = (dw.data()[i], db.data()[i]);
            let (sa, sc) = (uw.data()[i] * a, ub.data()[i] * c);
            if a <= 0.0 || c <= 0.0 || uw.data()[i] > 0.1 || ub.data()[i] > 0.1 {
                continue;
            }
            compared += 1;
            if (a - c).abs() > 4.0 * (sa * sa + sc * sc).sqrt() {
                outliers += 1;
            }
        }
        assert!(compared > 300, "{name}: {compared} voxels compared");
        assert!(
            outliers * 100 <= compared,
            "{name}: {outliers} of {compared} voxels differ by more than 4 sigma"
        );
    }
    // Analog dose summed per region, water and bone, within 3 % (the low-density lung region
    // has too few interactions at this number of histories: a few per cent of noise, measured
    // over 1,000,000 histories and two seeds with both trackings; its kerma is compared above).
    let region = |i: usize, j: usize| {
        if i >= 8 {
            1
        } else if j < 3 {
            2
        } else {
            0
        }
    };
    let mut per = [[0.0f64; 3]; 2];
    for (r, t) in [(0, &w), (1, &b)] {
        let (dose, _) = t.dose(&t.analog, &grid).unwrap();
        for k in 0..12 {
            for j in 0..12 {
                for i in 0..12 {
                    per[r][region(i, j)] += dose[[i, j, k]];
                }
            }
        }
    }
    for (reg, (woodcock, boundary)) in per[0].iter().zip(&per[1]).take(2).enumerate() {
        let rel = woodcock / boundary - 1.0;
        assert!(
            rel.abs() < 0.03,
            "region {reg}: Woodcock {woodcock} boundary {boundary}"
        );
    }
    // The total energy deposited agrees within its statistical spread (a few per mille here).
    let rel = w.deposited() / b.deposited() - 1.0;
    assert!(
        rel.abs() < 0.01,
        "deposited: Woodcock {} boundary {}",
        w.deposited(),
        b.deposited()
    );
}

#[test]
fn results_do_not_depend_on_threads_or_on_how_batches_are_split() {
    let src = point(400.0);
    let n = 20_000;
    let one = run(heterogeneous(), Tracking::Woodcock, 1, &src, n);
    let again = run(heterogeneous(), Tracking::Woodcock, 1, &src, n);
    assert!(one == again, "run to run");
    let two = run(heterogeneous(), Tracking::Woodcock, 2, &src, n);
    assert!(one.analog == two.analog, "analog");
    assert!(one.kerma == two.kerma, "kerma");
    assert!(one == two);
    let t = Transport::new(
        heterogeneous(),
        RunOptions {
            threads: 2,
            batch_size: 2_000,
            tracking: Tracking::Woodcock,
            ..RunOptions::default()
        },
    )
    .unwrap();
    let a = t.run_batches(&src, n, 11, 0..4, &no_progress).unwrap();
    let b = t.run_batches(&src, n, 11, 4..10, &no_progress).unwrap();
    let merged = a.clone().merge(&b).unwrap();
    assert_eq!(merged, one);
    // Adjacent ranges merge in either order to the same bits; others are refused.
    assert_eq!(b.clone().merge(&a).unwrap(), one);
    let c = t.run_batches(&src, n, 11, 6..10, &no_progress).unwrap();
    assert!(
        a.merge(&c).is_err(),
        "batches 0..4 and 6..10 are not adjacent"
    );
}

#[test]
fn a_material_cutoff_absorbs_photons_where_they_fall_below_it() {
    // 100 keV photons into bone with a 99 keV cutoff in bone: after any incoherent scatter
    // (which leaves at most 100 keV and usually less) the photon is absorbed on the spot, so
    // the energy that escapes is carried only by photons that never lost energy.
    let n = 20_000u64;
    let mut physics = PhysicsOptions::default();
    physics
        .material_cutoffs_ev
        .insert("cortical_bone_icru44".into(), 99.999e3);
    let run_with = |physics: PhysicsOptions| {
        let t = Transport::new(
            slab("cortical_bone_icru44", 3.0),
            RunOptions {
                physics,
                ..RunOptions::default()
            },
        )
        .unwrap();
        t.run(&pencil(100e3), n, 5, &no_progress).unwrap()
    };
    let cut = run_with(physics);
    let full = run_with(PhysicsOptions::default());
    let photons = cut.escaped() / 100e3;
    assert!(
        (photons - photons.round()).abs() < 1e-6,
        "escaped {} eV",
        cut.escaped()
    );
    assert!(cut.deposited() > full.deposited() * 1.05);
    let sum = cut.deposited() + cut.escaped();
    assert!((sum / cut.emitted() - 1.0).abs() < 1e-9);
}

#[test]
fn partial_results_survive_their_binary_form_and_damage_is_refused() {
    let r = run(heterogeneous(), Tracking::Woodcock, 1, &point(300.0), 3_000);
    let bytes = r.to_bytes();
    let voxels = r.kerma.len();
    let back = Partial::from_bytes(&bytes, voxels).unwrap();
    assert_eq!(back, r);
    // Smaller than the dense sums (4 x 16 bytes a voxel).
    assert!(bytes.len() < r.kerma.len() * 64, "{} bytes", bytes.len());
    // Every truncation and a sample of corruptions: an error or a valid partial, never a panic.
    for cut in (0..bytes.len()).step_by((bytes.len() / 200).max(1)) {
        assert!(
            Partial::from_bytes(&bytes[..cut], voxels).is_err(),
            "cut at {cut}"
        );
    }
    let mut s = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..300 {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let mut b = bytes.clone();
        let i = (s % b.len() as u64) as usize;
        b[i] ^= (s >> 40) as u8 | 1;
        let _ = Partial::from_bytes(&b, voxels);
    }
    let mut b = bytes.clone();
    b.push(0);
    assert!(Partial::from_bytes(&b, voxels).is_err());
}

/// Issue 27 item 1: a stored result of another grid size is refused before anything is
/// allocated (a 212-byte file claiming 2^34 voxels grew past 4 GB), `dose()` is an error on a
/// grid that does not fit (it returned zeros), and a result is checked against its run.
#[test]
fn item_01_results_of_another_size_or_run_are_refused_never_zeros() {
    let r = run(heterogeneous(), Tracking::Woodcock, 1, &point(300.0), 2_000);
    let voxels = r.kerma.len();
    let grid = heterogeneous().grid().clone();
    // Claiming 2^34 voxels: refused at once, naming both sizes.
    let mut huge = r.to_bytes();
    huge[40..48].copy_from_slice(&(1u64 << 34).to_le_bytes());
    let e = Partial::from_bytes(&huge, voxels).unwrap_err().to_string();
    assert!(
        e.contains("17179869184 voxels") && e.contains(&voxels.to_string()),
        "{e}"
    );
    // The right size but another grid: an error, never a dose of zeros.
    let small = Grid::builder([2, 2, 2]).build().unwrap();
    assert!(r.dose(&r.kerma, &small).is_err());
    assert!(r.dose(&r.kerma, &grid).is_ok());
    // Checked against the run: batches, histories, voxels.
    let bs = r.histories.div_ceil(r.batches.end - r.batches.start);
    let whole = r.batches.clone();
    r.check_run(whole.clone(), 2_000, bs, voxels).unwrap();
    assert!(r.check_run(whole.clone(), 1_999, bs, voxels).is_err());
    assert!(r.check_run(0..whole.end + 1, 2_000, bs, voxels).is_err());
    assert!(r.check_run(whole.clone(), 2_000, bs, voxels + 1).is_err());
    let mut forged = r.clone();
    forged.histories = 1;
    let e = forged
        .check_run(whole, 2_000, bs, voxels)
        .unwrap_err()
        .to_string();
    assert!(e.contains("1 histories"), "{e}");
    assert_eq!(hope_mc::tally::histories_in(2_500, 1_000, &(1..3)), 1_500);
    assert_eq!(hope_mc::tally::histories_in(2_500, 1_000, &(3..4)), 0);
}

#[test]
fn free_compton_without_rayleigh_lets_more_of_a_100_kev_beam_through_as_narrow_beam_physics_says() {
    // A 100 keV pencil beam along a 1 x 1 mm column of water 15 cm long (2 mm voxels): the
    // column's track-length kerma is the primary's (what scatters leaves the column), so it
    // falls as exp(-mu z). Two models: (a) Rayleigh off and free-electron Klein-Nishina Compton
    // (DOSXYZnrc's classic defaults), (b) Rayleigh on and bound Compton (XCOM). The analytic
    // narrow-beam estimate: mu_a = N_e sigma_KN + mu_pe, mu_b = XCOM's total; with
    // sigma_KN(100 keV) = 0.4927 barn (Klein-Nishina) and water's 3.3428e23 electrons per gram,
    // mu_a - mu_b = -3.2e-3 cm^2/g (physics.md: mu_b = 0.1707), so from 2 to 14 cm the kerma
    // ratio a/b grows by exp(0.0032 x 12) - 1 = +3.9 %.
    let water = Material::builtin("water").unwrap();
    let grid = Grid::builder([1, 1, 75])
        .spacing([0.2, 0.2, 2.0])
        .origin([0.0, 0.0, 1.0])
        .build()
        .unwrap();
    let kerma_at = |free: bool| {
        let t = Transport::new(
            Phantom::uniform(grid.clone(), water.clone()),
            RunOptions {
                batch_size: 100_000,
                physics: PhysicsOptions {
                    rayleigh: !free,
                    compton: if free {
                        hope_mc::physics::ComptonModel::Free
                    } else {
                        hope_mc::physics::ComptonModel::Bound
                    },
                    ..PhysicsOptions::default()
                },
                ..RunOptions::default()
            },
        )
        .unwrap();
        let r = t
            .run(
                &Source::Pencil {
                    position: Vec3::new(0.0, 0.0, -10.0),
                    direction: Vec3::new(0.0, 0.0, 1.0),
                    spectrum: Spectrum::Mono(100e3),
                },
                1_000_000,
                3,
                &no_progress,
            )
            .unwrap();
        let (dose, _) = r.dose(&r.kerma, &grid).unwrap();
        // Voxels centred at 2.1 cm and 14.1 cm: 12 cm apart.
        let (near, far) = (
            *dose.get([0, 0, 10]).unwrap(),
            *dose.get([0, 0, 70]).unwrap(),
        );
        (near, far)
    };
    let (a_near, a_far) = kerma_at(true);
    let (b_near, b_far) = kerma_at(false);
    let mu_a = (a_near / a_far).ln() / 12.0;
    let mu_b = (b_near / b_far).ln() / 12.0;
    // XCOM (the tables' source) for water at 100 keV: total 0.1707 (physics.md), photoelectric
    // from the same data; Klein-Nishina per electron 0.4927 barn.
    let pe = water.mu_rho_process(hope_mc::data::Process::Photoelectric, 100e3);
    let want_a = 3.3428e23 * 0.4927e-24 + pe;
    let want_b = 0.1707;
    println!(
        "mu from the column: free/no Rayleigh {mu_a:.5} (narrow beam {want_a:.5}), \
         bound/Rayleigh {mu_b:.5} ({want_b}) cm2/g"
    );
    // Each model's own attenuation is the narrow-beam one within 1 %.
    assert!(
        (mu_a / want_a - 1.0).abs() < 0.01,
        "free: {mu_a} vs {want_a}"
    );
    assert!(
        (mu_b / want_b - 1.0).abs() < 0.01,
        "bound: {mu_b} vs {want_b}"
    );
    let gain = (a_far / b_far) / (a_near / b_near) - 1.0;
    let predicted = ((want_b - want_a) * 12.0).exp() - 1.0;
    println!(
        "kerma ratio free/bound grows by {:.2} % from 2 to 14 cm (narrow beam: {:.2} %)",
        100.0 * gain,
        100.0 * predicted
    );
    // The sign and the size of the change, within a fifth of it.
    assert!(gain > 0.0, "{gain}");
    assert!(
        (gain / predicted - 1.0).abs() < 0.2,
        "{gain} vs {predicted}"
    );
}

#[test]
fn kerma_to_water_scores_waters_mu_en_in_the_mediums_fluence() {
    // A 30 keV pencil along a 1 x 1 mm column of cortical bone: the column's kerma is the
    // primary's, so kerma to water over kerma to bone is (mu_en/rho)_water / (mu_en/rho)_bone at
    // 30 keV (about 0.15, bone's photoelectric absorption), and in water the two are the same.
    // Without relaxation: calcium's 3.7 keV K lines, absorbed within the voxel where they start,
    // would add their own (much larger) water-to-bone ratio to the column's.
    let grid = Grid::builder([1, 1, 20])
        .spacing([1.0, 1.0, 1.0])
        .origin([0.0, 0.0, 0.5])
        .build()
        .unwrap();
    let run = |material: &str, medium: hope_mc::physics::DoseTo| {
        let t = Transport::new(
            Phantom::uniform(grid.clone(), Material::builtin(material).unwrap()),
            RunOptions {
                batch_size: 50_000,
                physics: PhysicsOptions {
                    dose_to: medium,
                    relaxation: hope_mc::physics::Relaxation::None,
                    ..PhysicsOptions::default()
                },
                ..RunOptions::default()
            },
        )
        .unwrap();
        let r = t
            .run(
                &Source::Pencil {
                    position: Vec3::new(0.0, 0.0, -10.0),
                    direction: Vec3::new(0.0, 0.0, 1.0),
                    spectrum: Spectrum::Mono(30e3),
                },
                200_000,
                5,
                &no_progress,
            )
            .unwrap();
        r.dose(&r.kerma, &grid).unwrap().0
    };
    use hope_mc::physics::DoseTo::{Medium as Local, Water};
    let (bone, to_water) = (
        run("cortical_bone_icru44", Local),
        run("cortical_bone_icru44", Water),
    );
    let (b, w) = (
        Material::builtin("cortical_bone_icru44").unwrap(),
        Material::builtin("water").unwrap(),
    );
    // mu_en/rho without relaxation (all of the photoelectric energy absorbed).
    let physics = hope_mc::physics::PhotonPhysics::new(
        &[b.clone(), w.clone()],
        PhysicsOptions {
            relaxation: hope_mc::physics::Relaxation::None,
            ..PhysicsOptions::default()
        },
    );
    let want = physics.mu_en_rho(1, 30e3) / physics.mu_en_rho(0, 30e3);
    for k in [0usize, 5, 10] {
        let ratio = to_water.get([0, 0, k]).unwrap() / bone.get([0, 0, k]).unwrap();
        assert!(
            (ratio / want - 1.0).abs() < 0.01,
            "voxel {k}: {ratio} vs {want}"
        );
    }
    assert!(want < 0.3, "{want}");
    // In water: the same tally, bit for bit.
    assert_eq!(run("water", Local).data(), run("water", Water).data());
}

#[test]
fn doppler_broadening_keeps_the_attenuation_and_the_energy() {
    // The impulse model changes how Compton scattering shares energy and angle, not how often
    // it happens: the narrow-beam transmission is the bound model's, and energy is conserved.
    let mut got = Vec::new();
    for compton in [
        hope_mc::physics::ComptonModel::Bound,
        hope_mc::physics::ComptonModel::Impulse,
    ] {
        let t = Transport::new(
            slab("water", 8.0),
            RunOptions {
                batch_size: 20_000,
                physics: PhysicsOptions {
                    compton,
                    ..PhysicsOptions::default()
                },
                ..RunOptions::default()
            },
        )
        .unwrap();
        let r = t.run(&pencil(100e3), 100_000, 9, &no_progress).unwrap();
        let balance = r.emitted() - r.deposited() - r.escaped();
        assert!(balance.abs() < 1e-9 * r.emitted(), "{compton:?}: {balance}");
        got.push(r.uncollided);
    }
    // Both the narrow-beam transmission exp(-mu x) within 4 sigma (the random streams part
    // after the first scattering of a batch).
    let m = Material::builtin("water").unwrap();
    let want = (-m.mu_rho(100e3) * 8.0).exp();
    let sigma = (want * (1.0 - want) / 100_000.0).sqrt();
    for u in got {
        let f = u as f64 / 100_000.0;
        assert!((f - want).abs() < 4.0 * sigma, "{f} vs {want}");
    }
}
