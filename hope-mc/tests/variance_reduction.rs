//! Variance reduction against the analog engine (issue 24): every switch, on P1 and on
//! heterogeneous cases (water, lung and bone slabs; 0.1 and 6 MeV photon beams; an electron
//! beam; a small lead insert), gives the analog run's dose voxel by voxel, its dose in the beam
//! and its energy balance within statistics. A check of the checker: the same comparison refuses
//! a copy of the analog dose made 3 % larger, so no technique can pass by being wrong.
//!
//! Each run is split into batches run on their own: the per-batch energy totals and beam doses
//! give uncertainties that do not assume anything about the technique.
#![allow(clippy::unwrap_used, missing_docs)]

use hope_core::{Grid, Vec3, Volume};
use hope_mc::physics::electron::ElectronOptions;
use hope_mc::{
    Material, Phantom, PhysicsOptions, RunOptions, Source, Spectrum, Transport, VarianceReduction,
};

const BATCHES: u64 = 10;

struct Case {
    name: &'static str,
    phantom: Phantom,
    source: Source,
    /// Histories of the analog run and of a split run.
    histories: (u64, u64),
    /// The voxels of the beam's core, whose summed dose is compared batch by batch.
    core: fn([usize; 3]) -> bool,
    /// Track-length kerma without electron transport (else the absorbed dose with electrons).
    kerma: bool,
}

struct Run {
    dose: Volume<f64>,
    uncertainty: Volume<f64>,
    /// Per batch: deposited, escaped and emitted - deposited - escaped - absorbed in the
    /// source, as fractions of the emitted energy; the dose summed over the core, per history.
    batches: Vec<[f64; 4]>,
}

fn grid(dims: [usize; 3], mm: f64) -> Grid {
    let origin = [0, 1, 2].map(|a| -(dims[a] as f64 - 1.0) * mm / 2.0);
    Grid::builder(dims)
        .spacing([mm; 3])
        .origin([origin[0], origin[1], 0.5 * mm])
        .build()
        .unwrap()
}

/// Slabs along z of 5 mm voxels: water 0-2 cm, bone 2-3 cm, lung (0.26 g/cm^3) 3-6 cm, water
/// beyond; and, with `lead`, a 1 cm lead cube at 4-5 cm depth on the axis instead of lung there.
fn slabs(dims: [usize; 3], lead: bool) -> Phantom {
    let g = grid(dims, 5.0);
    let materials = ["water", "cortical_bone_icru44", "lung_icru44", "lead"]
        .map(|n| Material::builtin(n).unwrap())
        .to_vec();
    let mut material = Vec::new();
    let mut density = Vec::new();
    let (cx, cy) = (dims[0] / 2, dims[1] / 2);
    for k in 0..dims[2] {
        for j in 0..dims[1] {
            for i in 0..dims[0] {
                let (m, d) = match k {
                    4 | 5 => (1, 1.92),
                    6..=11 => (2, 0.26),
                    _ => (0, 1.0),
                };
                let in_lead = lead
                    && (8..=9).contains(&k)
                    && (cx - 1..=cx).contains(&i)
                    && (cy - 1..=cy).contains(&j);
                let (m, d) = if in_lead { (3, 11.35) } else { (m, d) };
                material.push(m);
                density.push(d);
            }
        }
    }
    Phantom::new(g, materials, material, density).unwrap()
}

fn beam(energy_ev: f64, field_mm: f64) -> Source {
    Source::Parallel {
        centre: Vec3::new(0.0, 0.0, -10.0),
        direction: Vec3::new(0.0, 0.0, 1.0),
        field_mm: [field_mm, field_mm],
        spectrum: Spectrum::Mono(energy_ev),
    }
}

fn central(i: [usize; 3]) -> bool {
    (7..=8).contains(&i[0]) && (7..=8).contains(&i[1])
}

fn cases() -> Vec<Case> {
    let water = |dims| Phantom::uniform(grid(dims, 5.0), Material::builtin("water").unwrap());
    vec![
        Case {
            name: "P1 (1 MeV pencil, water)",
            phantom: water([16, 16, 30]),
            source: Source::Pencil {
                position: Vec3::new(0.0, 0.0, -10.0),
                direction: Vec3::new(0.0, 0.0, 1.0),
                spectrum: Spectrum::Mono(1e6),
            },
            histories: (400_000, 60_000),
            core: central,
            kerma: false,
        },
        Case {
            name: "6 MeV photons, water/bone/lung slabs",
            phantom: slabs([16, 16, 30], false),
            source: beam(6e6, 10.0),
            histories: (100_000, 20_000),
            core: central,
            kerma: false,
        },
        Case {
            name: "0.1 MeV photons, water/bone/lung slabs",
            phantom: slabs([16, 16, 30], false),
            source: beam(0.1e6, 10.0),
            histories: (300_000, 60_000),
            core: central,
            kerma: false,
        },
        Case {
            name: "2 MeV photons, lead insert",
            phantom: slabs([16, 16, 30], true),
            source: beam(2e6, 20.0),
            histories: (400_000, 60_000),
            core: central,
            kerma: false,
        },
        Case {
            name: "30 keV point source, kerma, lead insert",
            phantom: slabs([16, 16, 30], true),
            source: Source::Point {
                position: Vec3::new(0.0, 0.0, 30.0),
                spectrum: Spectrum::Mono(30e3),
            },
            histories: (100_000, 20_000),
            core: central,
            kerma: true,
        },
    ]
}

fn transport(case: &Case, vr: VarianceReduction, batch_size: u64) -> Transport {
    let options = RunOptions {
        threads: 2,
        batch_size,
        physics: PhysicsOptions {
            photon_cutoff_ev: 10e3,
            electrons: ElectronOptions {
                transport: !case.kerma,
                ..ElectronOptions::default()
            },
            ..PhysicsOptions::default()
        },
        variance_reduction: vr,
        ..RunOptions::default()
    };
    Transport::new(case.phantom.clone(), options).unwrap()
}

fn run(case: &Case, source: &Source, vr: VarianceReduction, histories: u64, seed: u64) -> Run {
    let per_batch = histories / BATCHES;
    let t = transport(case, vr, per_batch);
    collect(case.phantom.grid(), case.kerma, case.core, |b| {
        t.run_batches(source, histories, seed, b..b + 1, &|_, _| {})
            .unwrap()
    })
}

/// A run of [`BATCHES`] batches, `batch(b)` running batch `b` on its own; the dose (kerma or
/// absorbed) on `grid`, per-batch energies and the dose summed over the `core` voxels.
fn collect(
    grid: &Grid,
    kerma: bool,
    core: fn([usize; 3]) -> bool,
    batch: impl Fn(u64) -> hope_mc::Partial,
) -> Run {
    let mut total: Option<hope_mc::Partial> = None;
    let mut batches = Vec::new();
    for b in 0..BATCHES {
        let p = batch(b);
        let tally = if kerma { &p.kerma } else { &p.analog };
        let (dose, _) = p.dose(tally, grid).unwrap();
        let mut sum = 0.0;
        for k in 0..grid.dims()[2] {
            for j in 0..grid.dims()[1] {
                for i in 0..grid.dims()[0] {
                    if core([i, j, k]) {
                        sum += dose.get([i, j, k]).unwrap();
                    }
                }
            }
        }
        let e = p.emitted();
        batches.push([
            p.deposited() / e,
            p.escaped() / e,
            (e - p.deposited() - p.escaped() - p.absorbed_in_sources()) / e,
            sum,
        ]);
        total = Some(match total {
            None => p,
            Some(t) => t.merge(&p).unwrap(),
        });
    }
    let total = total.unwrap();
    let tally = if kerma { &total.kerma } else { &total.analog };
    let (dose, uncertainty) = total.dose(tally, grid).unwrap();
    Run {
        dose,
        uncertainty,
        batches,
    }
}

fn mean_se(x: impl Iterator<Item = f64>) -> (f64, f64) {
    let v: Vec<f64> = x.collect();
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, (var / n).sqrt())
}

/// Compares `b` with `a` voxel by voxel (voxels where both are known within 10 %): the mean of
/// z^2 and the largest |z|. Errors say what differs.
fn compare_voxels(a: &Run, b: &Run) -> Result<(usize, f64, f64), String> {
    let (mut n, mut chi2, mut worst) = (0usize, 0.0, 0.0f64);
    for ((da, ua), (db, ub)) in a
        .dose
        .data()
        .iter()
        .zip(a.uncertainty.data())
        .zip(b.dose.data().iter().zip(b.uncertainty.data()))
    {
        if *da <= 0.0 || *db <= 0.0 || !(*ua > 0.0 && *ua <= 0.1 && *ub > 0.0 && *ub <= 0.1) {
            continue;
        }
        let z = (da - db) / ((ua * da).powi(2) + (ub * db).powi(2)).sqrt();
        n += 1;
        chi2 += z * z;
        worst = worst.max(z.abs());
    }
    let chi2 = chi2 / n.max(1) as f64;
    if n < 100 {
        return Err(format!("only {n} voxels known within 10 %"));
    }
    if !(0.75..=1.3).contains(&chi2) || worst > 5.5 {
        return Err(format!(
            "{n} voxels: mean z^2 {chi2:.3} (expected 0.75-1.3), largest |z| {worst:.2} (expected below 5.5)"
        ));
    }
    Ok((n, chi2, worst))
}

/// Compares the per-batch quantities (deposited, escaped, balance, core dose) of `b` with `a`.
fn compare_batches(a: &Run, b: &Run) -> Result<(), String> {
    for (q, name) in ["deposited", "escaped", "balance", "core dose"]
        .iter()
        .enumerate()
    {
        let (ma, sa) = mean_se(a.batches.iter().map(|x| x[q]));
        let (mb, sb) = mean_se(b.batches.iter().map(|x| x[q]));
        let z = (ma - mb) / (sa * sa + sb * sb).sqrt().max(1e-300);
        // The balance is zero history by history in the analog run; with roulette it is zero on
        // average.
        let tolerance = if *name == "balance" { 1e-9 } else { 0.0 };
        if z.abs() > 4.5 && (ma - mb).abs() > tolerance {
            return Err(format!(
                "{name}: {ma:.5e} +- {sa:.5e} against {mb:.5e} +- {sb:.5e} ({z:+.1} sigma)"
            ));
        }
    }
    Ok(())
}

fn switches() -> Vec<(&'static str, VarianceReduction)> {
    let vr =
        |photon_splitting, stratified, history_repetition, russian_roulette| VarianceReduction {
            photon_splitting,
            stratified,
            history_repetition,
            russian_roulette,
            particle_recycling: false,
        };
    vec![
        (
            "splitting 8, stratified, history repetition, roulette",
            vr(8, true, true, true),
        ),
        ("splitting 8 alone", vr(8, false, false, false)),
        ("splitting 8, roulette", vr(8, false, false, true)),
        ("splitting 8, history repetition", vr(8, false, true, false)),
        (
            "splitting 64, stratified, history repetition, roulette",
            vr(64, true, true, true),
        ),
    ]
}

#[test]
fn every_switch_gives_the_analog_dose_and_energy_balance() {
    for case in cases() {
        let analog = run(
            &case,
            &case.source,
            VarianceReduction::default(),
            case.histories.0,
            7,
        );
        for (name, vr) in switches() {
            let r = run(&case, &case.source, vr, case.histories.1, 8);
            let (n, chi2, worst) = compare_voxels(&analog, &r)
                .unwrap_or_else(|e| panic!("{}, {name}: voxels: {e}", case.name));
            compare_batches(&analog, &r).unwrap_or_else(|e| panic!("{}, {name}: {e}", case.name));
            // The same comparison, at these settings, refuses the run made 3 % too high.
            assert!(
                compare_batches(&analog, &scaled(&r, 1.03)).is_err(),
                "{}, {name}: a 3 % bias passes",
                case.name
            );
            println!(
                "{}, {name}: {n} voxels, mean z^2 {chi2:.3}, largest |z| {worst:.2}",
                case.name
            );
        }
    }
}

/// `r` with its dose and deposited energy `factor` times as large (the balance adjusted).
fn scaled(r: &Run, factor: f64) -> Run {
    Run {
        dose: r.dose.map(|d| d * factor),
        uncertainty: r.uncertainty.clone(),
        batches: r
            .batches
            .iter()
            .map(|x| {
                [
                    x[0] * factor,
                    x[1],
                    x[2] - (factor - 1.0) * x[0],
                    x[3] * factor,
                ]
            })
            .collect(),
    }
}

/// The checks of the test above refuse a dose 3 % too high, and an energy balance that is off.
#[test]
fn the_comparison_refuses_a_biased_result() {
    let case = &cases()[0];
    let a = run(case, &case.source, VarianceReduction::default(), 400_000, 7);
    let b = run(case, &case.source, VarianceReduction::default(), 400_000, 8);
    compare_voxels(&a, &b).unwrap();
    compare_batches(&a, &b).unwrap();
    assert!(compare_batches(&a, &scaled(&b, 1.03)).is_err());
    // Voxel by voxel alone, a 3 % bias shows in the high-dose voxels of a longer run.
    let c = run(
        case,
        &case.source,
        VarianceReduction::default(),
        1_600_000,
        9,
    );
    let biased = Run {
        dose: c.dose.map(|d| d * 1.03),
        uncertainty: c.uncertainty.clone(),
        batches: c.batches.clone(),
    };
    compare_voxels(&c, &a).unwrap();
    assert!(compare_voxels(&a, &biased).is_err());
}

/// An electron beam has no photons to split: with the switches on, the run is the analog one,
/// bit for bit (the switches draw no random number where every weight is 1).
#[test]
fn an_electron_beam_is_unchanged_by_photon_splitting() {
    let case = Case {
        name: "6 MeV electrons",
        phantom: slabs([16, 16, 30], false),
        source: Source::Charged {
            positron: false,
            source: Box::new(beam(6e6, 10.0)),
        },
        histories: (5_000, 5_000),
        core: central,
        kerma: false,
    };
    let a = run(&case, &case.source, VarianceReduction::default(), 5_000, 3);
    let (_, vr) = switches().remove(0);
    let b = run(&case, &case.source, vr, 5_000, 3);
    assert_eq!(a.dose.data(), b.dose.data());
    assert_eq!(a.batches, b.batches);
    assert!(a.dose.data().iter().any(|d| *d > 0.0));
}

/// With splitting, stratification and roulette on, a result depends on the seed only: one
/// thread, two threads and the batches run in two parts and merged give the same bits.
#[test]
fn split_runs_do_not_depend_on_threads_or_on_how_batches_are_split() {
    let case = &cases()[3];
    let (_, vr) = switches().remove(0);
    let n = 4_000;
    let one = |threads: usize, range: std::ops::Range<u64>| {
        let mut t = transport(case, vr, 500);
        t = Transport::new(
            case.phantom.clone(),
            RunOptions {
                threads,
                ..t.options().clone()
            },
        )
        .unwrap();
        t.run_batches(&case.source, n, 5, range, &|_, _| {})
            .unwrap()
    };
    let a = one(1, 0..8);
    let b = one(2, 0..8);
    let c = one(2, 0..3).merge(&one(1, 3..8)).unwrap();
    assert_eq!(a.to_bytes(), b.to_bytes());
    assert_eq!(a.to_bytes(), c.to_bytes());
    assert!(a.deposited() > 0.0);
}

/// Review of issue 24: with stratification the copy that fed the narrow-beam count was always
/// the first stratum's (the shortest flights were never its), so a thin phantom reported every
/// history uncollided. The uncollided fraction of a split run matches the analog run's.
#[test]
fn the_uncollided_count_of_a_split_run_is_the_analog_one() {
    let case = &cases()[0];
    let n = 20_000u64;
    let fraction = |vr: VarianceReduction| {
        let t = transport(case, vr, n);
        let p = t.run(&case.source, n, 4, &|_, _| {}).unwrap();
        p.uncollided as f64 / n as f64
    };
    let analog = fraction(VarianceReduction::default());
    // 15 cm of water at 1 MeV: exp(-0.0707 x 15) = 0.346.
    assert!((analog - 0.346).abs() < 0.02, "{analog}");
    for (name, vr) in switches() {
        let split = fraction(vr);
        let sigma = (2.0 * analog * (1.0 - analog) / n as f64).sqrt();
        assert!(
            (split - analog).abs() < 4.5 * sigma,
            "{name}: uncollided {split} against {analog}"
        );
    }
}

/// Model 6711 I-125 seeds at `seeds`.
fn i125_seeds(seeds: &[hope_mc::SeedPlacement]) -> Source {
    Source::Seeds(Box::new(
        hope_mc::SeedSource::new(
            hope_mc::source::brachy::SeedModel::model_6711().unwrap(),
            Spectrum::lines(&hope_mc::source::brachy::I125_LINES).unwrap(),
            seeds.to_vec(),
            PhysicsOptions::default(),
        )
        .unwrap(),
    ))
}

/// Particle recycling (a decay followed in one seed alone, what leaves it followed from every
/// active seed at the seed's share of the strength) against the analog run, with and without
/// roulette and splitting: an eye plaque (COMS 16 mm, unequal strengths, an inactive seed and an
/// empty slot) on an eye in water, and model 6711 seeds of unequal strengths (one of them 0)
/// around a lead insert in the water/bone/lung slabs. Kerma voxel by voxel, the energy balance
/// and the dose near the sources batch by batch. (Roulette acts on split photons' lines only:
/// recycled copies keep their weight; a first version rouletted them at their seed's share and
/// gave a mean z^2 of 1.63 on the plaque.)
#[test]
fn particle_recycling_gives_the_analog_dose_and_energy_balance() {
    let variants = [
        ("recycling alone", (1, true)),
        ("recycling with splitting 4 and roulette", (4, true)),
        ("recycling with splitting 4, no roulette", (4, false)),
    ]
    .map(|(name, (photon_splitting, russian_roulette))| {
        (
            name,
            VarianceReduction {
                photon_splitting,
                russian_roulette,
                particle_recycling: true,
                ..VarianceReduction::default()
            },
        )
    });
    // The plaque: eye centre at the origin, plaque on the -z side (inner sclera at z = -11.3
    // mm); 1 mm voxels.
    let strengths = "[2.0, 1.0, 1.0, 0.0, 1.0, 0.5, 1.0, 1.0, 1.0, 1.5, 1.0, 1.0, 1.0]";
    let file = format!(
        r#"
histories = 1
seed = 1
tally = "kerma"

[phantom]
dims = [29, 29, 20]
spacing_mm = [1.0, 1.0, 1.0]
origin_mm = [-14.0, -14.0, -16.0]
material = "water"

[source]
kind = "seeds"
model = "6711"
radionuclide = "I-125"

[source.plaque]
name = "coms-16"
eye_centre_mm = [0.0, 0.0, 0.0]
direction = [0.0, 0.0, -1.0]
strengths = {strengths}
empty = [7]
"#
    );
    let dir = std::env::temp_dir().join(format!("hope_recycling_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("plaque.toml");
    std::fs::write(&path, file).unwrap();
    let sim = hope_mc::Simulation::from_file(&path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    // The voxels between the plaque and 5 mm into the eye, on its axis.
    fn under_plaque(i: [usize; 3]) -> bool {
        (12..=16).contains(&i[0]) && (12..=16).contains(&i[1]) && (5..=10).contains(&i[2])
    }
    let plaque_run = |vr: VarianceReduction, histories: u64, seed: u64| {
        let mut s = sim.clone();
        s.variance_reduction = vr;
        s.histories = histories;
        s.seed = seed;
        s.batch_size = histories / BATCHES;
        let prepared = s.prepare(2).unwrap();
        let grid = prepared.scoring_grid().clone();
        collect(&grid, true, under_plaque, |b| {
            prepared.run_batches(b..b + 1, &|_, _| {}).unwrap()
        })
    };
    // Seeds around the lead insert (x, y in mm; the cube spans -5..5 mm, z 40..50 mm).
    let seeds = [
        ([-8.0, 0.0, 45.0], [0.0, 0.0, 1.0], 1.0),
        ([8.0, 2.0, 45.0], [0.0, 1.0, 0.0], 2.0),
        ([0.0, -8.0, 42.0], [1.0, 0.0, 1.0], 0.0),
        ([0.0, 8.0, 48.0], [1.0, 1.0, 0.0], 0.5),
    ]
    .map(|(position_mm, axis, weight)| hope_mc::SeedPlacement {
        position_mm,
        axis,
        weight,
    });
    let seeds_case = Case {
        name: "6711 seeds around a lead insert",
        phantom: slabs([16, 16, 30], true),
        source: i125_seeds(&seeds),
        histories: (200_000, 40_000),
        core: |i| (5..=10).contains(&i[0]) && (5..=10).contains(&i[1]) && (7..=10).contains(&i[2]),
        kerma: true,
    };
    // Recycled runs depend on the seed only: one thread or two, the same bits.
    let recycled = |threads: usize| {
        let mut s = sim.clone();
        s.variance_reduction = variants[1].1;
        s.histories = 4_000;
        s.batch_size = 500;
        s.prepare(threads)
            .unwrap()
            .run(&|_, _| {})
            .unwrap()
            .to_bytes()
    };
    assert_eq!(recycled(1), recycled(2));
    let analog_plaque = plaque_run(VarianceReduction::default(), 1_000_000, 7);
    let analog_seeds = run(
        &seeds_case,
        &seeds_case.source,
        VarianceReduction::default(),
        seeds_case.histories.0,
        7,
    );
    for (name, vr) in variants {
        let plaque = plaque_run(vr, 150_000, 8);
        let seeds = run(
            &seeds_case,
            &seeds_case.source,
            vr,
            seeds_case.histories.1,
            8,
        );
        for (case, analog, r) in [
            ("plaque", &analog_plaque, &plaque),
            (seeds_case.name, &analog_seeds, &seeds),
        ] {
            let (n, chi2, worst) =
                compare_voxels(analog, r).unwrap_or_else(|e| panic!("{case}, {name}: voxels: {e}"));
            compare_batches(analog, r).unwrap_or_else(|e| panic!("{case}, {name}: {e}"));
            assert!(
                compare_batches(analog, &scaled(r, 1.03)).is_err(),
                "{case}, {name}: a 3 % bias passes"
            );
            println!("{case}, {name}: {n} voxels, mean z^2 {chi2:.3}, largest |z| {worst:.2}");
        }
    }
}

/// Review of particle recycling: the narrow-beam count followed the copies of seed `h mod n`,
/// each seed equally often, where the analog run draws the decay's seed by strength. Strengths
/// 9 and 1, the strong seed inside the lead cube (nothing leaves it uncollided), the weak one
/// near the phantom's face: the uncollided fraction with recycling is the analog one (it was
/// five times as large).
#[test]
fn the_uncollided_count_of_a_recycled_run_is_the_analog_one() {
    let seeds = [([0.0, 0.0, 45.0], 9.0), ([0.0, 0.0, 3.0], 1.0)].map(|(position_mm, weight)| {
        hope_mc::SeedPlacement {
            position_mm,
            axis: [0.0, 0.0, 1.0],
            weight,
        }
    });
    let case = Case {
        name: "two seeds, one in lead",
        phantom: slabs([16, 16, 30], true),
        source: i125_seeds(&seeds),
        histories: (100_000, 100_000),
        core: central,
        kerma: true,
    };
    let n = 100_000u64;
    let fraction = |vr: VarianceReduction, seed: u64| {
        let t = transport(&case, vr, n);
        let p = t.run(&case.source, n, seed, &|_, _| {}).unwrap();
        p.uncollided as f64 / n as f64
    };
    let analog = fraction(VarianceReduction::default(), 4);
    let recycled = fraction(
        VarianceReduction {
            particle_recycling: true,
            ..VarianceReduction::default()
        },
        5,
    );
    let sigma = (2.0 * analog * (1.0 - analog) / n as f64).sqrt();
    assert!(analog > 0.005, "{analog}");
    assert!(
        (recycled - analog).abs() < 4.5 * sigma,
        "uncollided {recycled} against {analog}"
    );
}
