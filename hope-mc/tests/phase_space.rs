//! IAEA phase spaces: the format's example header read with records the test writes to its
//! layout, a phase space scored by hope and read back reproducing the direct run's dose,
//! weights and recycling, and malformed headers and files refused with the file and the field.
#![allow(clippy::unwrap_used, missing_docs, clippy::print_stdout)]

use std::path::Path;

use hope_core::{Grid, Vec3};
use hope_mc::source::PhaseSpaceSource;
use hope_mc::source::iaea::{self, Kind, PhaseSpace, PhaseSpaceWriter, Value};
use hope_mc::{Material, Phantom, RunOptions, Source, Spectrum, Transport};

fn no_progress(_: u64, _: u64) {}

/// The example header of the IAEA format (as the IAEA phsp library writes it, from BEAMnrc:
/// 831 records of 29 bytes, X Y U V and the weight stored, Z constant at 60 cm, one extra long
/// of type 2, EGS's LATCH), with 831 records written here to that layout.
fn example(dir: &Path) -> std::path::PathBuf {
    let stem = dir.join("example");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/iaea_example.IAEAheader"),
        stem.with_extension("IAEAheader"),
    )
    .unwrap();
    let mut data = Vec::new();
    for i in 0..831u32 {
        // 578 photons, 241 electrons, 12 positrons; every fifth a new history; W < 0 for
        // every seventh.
        let kind: i8 = if i < 578 {
            1
        } else if i < 819 {
            2
        } else {
            3
        };
        let kind = if i % 7 == 0 { -kind } else { kind };
        data.push(kind as u8);
        let e = 0.1 + f64::from(i) * 0.01;
        let e = if i % 5 == 0 { -e } else { e };
        let (u, v) = (0.1f32, -0.2f32);
        for x in [e as f32, i as f32 * 0.01 - 4.0, 2.5, u, v, 0.01] {
            data.extend_from_slice(&x.to_le_bytes());
        }
        data.extend_from_slice(&(i as i32).to_le_bytes());
    }
    assert_eq!(data.len(), 24099);
    std::fs::write(stem.with_extension("IAEAphsp"), &data).unwrap();
    stem
}

#[test]
fn the_formats_example_header_is_read_with_its_record_layout() {
    let dir = tempfile::tempdir().unwrap();
    let stem = example(dir.path());
    let ps = PhaseSpace::read(&stem.with_extension("IAEAheader")).unwrap();
    let h = &ps.header;
    assert_eq!(h.values[2], Value::Constant(60.0));
    assert_eq!(h.values[5], Value::Stored);
    assert_eq!((h.record_length, h.stride()), (29, 29));
    assert_eq!((h.extra_floats.len(), h.extra_longs.clone()), (0, vec![2]));
    assert_eq!((h.original_histories, h.particles), (3774, 831));
    assert_eq!(ps.particles.len(), 831);
    let count = |k: Kind| ps.particles.iter().filter(|p| p.kind == k).count();
    assert_eq!(
        (
            count(Kind::Photon),
            count(Kind::Electron),
            count(Kind::Positron)
        ),
        (578, 241, 12)
    );
    let p = ps.particles[7];
    assert!(p.direction[2] < 0.0 && !p.new_history);
    assert_eq!(p.position_cm[2], 60.0);
    let w = (1.0f32 - 0.01 - 0.04).sqrt();
    assert!((p.direction[2] + w).abs() < 1e-6);
    assert!(ps.particles[10].new_history && ps.particles[10].energy_mev > 0.0);
    assert!((ps.particles[10].energy_mev - 0.2).abs() < 1e-6);
    // The same files named by the data file or the stem.
    assert_eq!(
        PhaseSpace::read(&stem.with_extension("IAEAphsp")).unwrap(),
        ps
    );
}

#[test]
fn malformed_headers_and_files_name_the_file_and_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let stem = example(dir.path());
    let header = std::fs::read_to_string(stem.with_extension("IAEAheader")).unwrap();
    let edit = |from: &str, to: &str| {
        assert!(header.contains(from), "{from}");
        std::fs::write(stem.with_extension("IAEAheader"), header.replace(from, to)).unwrap();
        PhaseSpace::read(&stem).map(|_| ()).unwrap_err().to_string()
    };
    for (from, to, says) in [
        (
            "$RECORD_LENGTH:\n29",
            "$RECORD_LENGTH:\n33",
            "$RECORD_LENGTH",
        ),
        ("$RECORD_LENGTH:\n29\n", "", "$RECORD_LENGTH: missing"),
        ("$BYTE_ORDER:\n1234", "$BYTE_ORDER:\n3412", "$BYTE_ORDER"),
        ("$CHECKSUM:\n24099", "$CHECKSUM:\n24100", "$CHECKSUM"),
        ("$FILE_TYPE:\n0", "$FILE_TYPE:\n1", "event generators"),
        (
            "    1     // Y is stored ?",
            "    2     // Y is stored ?",
            "$RECORD_CONTENTS",
        ),
        ("    60.0000     // Constant Z", "", "$RECORD_CONSTANT"),
        ("$PARTICLES:\n831", "$PARTICLES:\nmany", "$PARTICLES"),
        (
            "$ORIG_HISTORIES:\n3774",
            "$ORIG_HISTORIES:\n0",
            "$ORIG_HISTORIES",
        ),
        (
            "    1     // Extra longs stored ?",
            "    11     // Extra longs stored ?",
            "extra longs",
        ),
    ] {
        let e = edit(from, to);
        assert!(
            e.contains("example.IAEAheader") && e.contains(says),
            "{to}: {e}"
        );
    }
    std::fs::write(stem.with_extension("IAEAheader"), &header).unwrap();
    // A truncated data file.
    let data = std::fs::read(stem.with_extension("IAEAphsp")).unwrap();
    std::fs::write(stem.with_extension("IAEAphsp"), &data[..data.len() - 10]).unwrap();
    let e = PhaseSpace::read(&stem).unwrap_err().to_string();
    assert!(e.contains("$CHECKSUM") && e.contains("24089"), "{e}");
    // A record of an unknown type, and one with a NaN energy.
    for (offset, bytes, says) in [
        (29 * 3, vec![9u8], "record 3: particle type 9"),
        (
            29 * 4 + 1,
            f32::NAN.to_le_bytes().to_vec(),
            "record 4: energy NaN",
        ),
    ] {
        let mut bad = data.clone();
        bad[offset..offset + bytes.len()].copy_from_slice(&bytes);
        std::fs::write(stem.with_extension("IAEAphsp"), &bad).unwrap();
        let e = PhaseSpace::read(&stem).unwrap_err().to_string();
        assert!(e.contains("example.IAEAphsp") && e.contains(says), "{e}");
    }
    // No data file at all.
    std::fs::remove_file(stem.with_extension("IAEAphsp")).unwrap();
    let e = PhaseSpace::read(&stem).unwrap_err().to_string();
    assert!(
        e.contains("example.IAEAphsp") && e.contains("not readable"),
        "{e}"
    );
}

/// Central-axis kerma per layer (3 x 3 voxels), with each layer's relative 1-sigma.
fn axis(r: &hope_mc::Partial, grid: &Grid) -> Vec<(f64, f64)> {
    let (dose, unc) = r.dose(&r.kerma, grid).unwrap();
    (0..grid.dims()[2])
        .map(|k| {
            let (mut d, mut v) = (0.0, 0.0);
            for j in 9..12 {
                for i in 9..12 {
                    let x = *dose.get([i, j, k]).unwrap();
                    d += x / 9.0;
                    v += (unc.get([i, j, k]).unwrap() * x / 9.0).powi(2);
                }
            }
            (d, v.sqrt() / d)
        })
        .collect()
}

#[test]
fn a_phase_space_scored_by_hope_and_read_back_gives_the_direct_runs_dose() {
    // A 662 keV divergent beam (5 x 5 cm at 50 cm) into a water phantom whose front face is
    // z = 0: the direct run, and the phase space scored on z = 0 and read back.
    let dir = tempfile::tempdir().unwrap();
    let grid = Grid::builder([21, 21, 20])
        .spacing([5.0, 5.0, 10.0])
        .origin([-50.0, -50.0, 5.0])
        .build()
        .unwrap();
    let t = Transport::new(
        Phantom::uniform(grid.clone(), Material::builtin("water").unwrap()),
        RunOptions {
            batch_size: 20_000,
            ..RunOptions::default()
        },
    )
    .unwrap();
    let beam = Source::Divergent {
        focus: Vec3::new(0.0, 0.0, -500.0),
        direction: Vec3::new(0.0, 0.0, 1.0),
        distance_mm: 500.0,
        field: hope_mc::Field::Rectangle([50.0, 50.0]),
        spectrum: Spectrum::Mono(662e3),
    };
    let n = 200_000;
    let direct = t.run(&beam, n, 1, &no_progress).unwrap();
    let mut w = PhaseSpaceWriter::create(&dir.path().join("beam")).unwrap();
    assert_eq!(beam.score_on_plane(n, 2, 0.0, &mut w).unwrap(), n);
    w.finish(n, "hope-mc test beam").unwrap();
    let space = PhaseSpace::read(&dir.path().join("beam.IAEAheader")).unwrap();
    assert_eq!(space.header.original_histories, n);
    assert!(
        space
            .particles
            .iter()
            .all(|p| p.new_history && p.position_cm[2] == 0.0)
    );
    let replay = |recycle: u32, scale: f32| {
        let mut s = space.clone();
        for p in &mut s.particles {
            p.weight *= scale;
        }
        let ps = PhaseSpaceSource::new(s, Vec3::new(0.0, 0.0, 0.0), [0.0; 3], recycle).unwrap();
        assert_eq!(ps.records_per_original_history(), 1.0);
        t.run(&Source::PhaseSpace(Box::new(ps)), n, 3, &no_progress)
            .unwrap()
    };
    let read_back = replay(0, 1.0);
    let (a, b) = (axis(&direct, &grid), axis(&read_back, &grid));
    let mut worst: f64 = 0.0;
    for (k, ((d1, s1), (d2, s2))) in a.iter().zip(&b).enumerate() {
        let z = (d2 / d1 - 1.0) / (s1 * s1 + s2 * s2).sqrt();
        worst = worst.max(z.abs());
        assert!(z.abs() < 4.0, "layer {k}: {d1} vs {d2} ({z:.1} sigma)");
    }
    println!("read back vs direct: worst layer {worst:.2} sigma");
    // Energy: the same emitted energy per history.
    assert!((read_back.emitted() / direct.emitted() - 1.0).abs() < 1e-6);
    // Weights scale what is scored exactly; recycling keeps the expectation.
    let halved = replay(0, 0.5);
    for (x, y) in axis(&halved, &grid).iter().zip(&b) {
        assert!((x.0 / y.0 - 0.5).abs() < 1e-6, "{} vs {}", x.0, y.0);
    }
    let recycled = replay(3, 1.0);
    for (k, ((d1, s1), (d2, s2))) in a.iter().zip(axis(&recycled, &grid)).enumerate() {
        let z = (d2 / d1 - 1.0) / (s1 * s1 + s2 * s2).sqrt();
        assert!(
            z.abs() < 4.0,
            "recycled, layer {k}: {d1} vs {d2} ({z:.1} sigma)"
        );
    }
}

#[test]
fn a_simulation_file_runs_a_phase_space_placed_and_turned() {
    let dir = tempfile::tempdir().unwrap();
    // A pencil of 1 MeV photons along +x, written as a phase space in its own frame (along +z)
    // and turned by 90 degrees about y to run along +x.
    let mut w = PhaseSpaceWriter::create(&dir.path().join("pencil")).unwrap();
    for i in 0..1000 {
        w.write(&iaea::Particle {
            kind: Kind::Photon,
            energy_mev: 1.0,
            position_cm: [0.0, 0.0, 0.0],
            direction: [0.0, 0.0, 1.0],
            weight: 1.0,
            new_history: i % 2 == 0,
        })
        .unwrap();
    }
    w.finish(2000, "pencil").unwrap();
    let text = "histories = 20000\n[phantom]\ndims = [20, 3, 3]\nspacing_mm = [10.0, 10.0, 10.0]\n\
                origin_mm = [5.0, -10.0, -10.0]\nmaterial = 'water'\n\
                [source]\nkind = 'phase-space'\nphase_space = 'pencil.IAEAheader'\n\
                position_mm = [-10.0, 0.0, 0.0]\nrotation_deg = [0.0, 90.0, 0.0]\n";
    let path = dir.path().join("sim.toml");
    std::fs::write(&path, text).unwrap();
    let sim = hope_mc::Simulation::from_file(&path).unwrap();
    let Source::PhaseSpace(ps) = sim.source().unwrap() else {
        panic!("not a phase space");
    };
    assert_eq!(ps.records_per_original_history(), 0.5);
    let result = sim.prepare(1).unwrap().run(&no_progress).unwrap();
    let grid = sim.prepare(1).unwrap().scoring_grid().clone();
    let (dose, _) = result.dose(&result.kerma, &grid).unwrap();
    // All on the central row along +x, falling with depth.
    let row: Vec<f64> = (0..20).map(|i| *dose.get([i, 1, 1]).unwrap()).collect();
    assert!(
        row[0] > row[10] && row[10] > row[19] && row[19] > 0.0,
        "{row:?}"
    );
    assert!(*dose.get([0, 0, 1]).unwrap() < 0.1 * row[0]);
    // Refused: energies on a phase-space source, a missing file, a charged phase space without
    // electron transport.
    std::fs::write(&path, format!("{text}energy_kev = 100.0\n")).unwrap();
    let e = hope_mc::Simulation::from_file(&path).unwrap_err().chain();
    assert!(
        e.contains("source.energy_kev") && e.contains("phase-space"),
        "{e}"
    );
    std::fs::write(&path, text.replace("pencil.IAEAheader", "none.IAEAheader")).unwrap();
    let e = hope_mc::Simulation::from_file(&path).unwrap_err().chain();
    assert!(
        e.contains("source.phase_space") && e.contains("none.IAEAphsp"),
        "{e}"
    );
    let mut w = PhaseSpaceWriter::create(&dir.path().join("pencil")).unwrap();
    w.write(&iaea::Particle {
        kind: Kind::Electron,
        energy_mev: 1.0,
        position_cm: [0.0, 0.0, 0.0],
        direction: [0.0, 0.0, 1.0],
        weight: 1.0,
        new_history: true,
    })
    .unwrap();
    w.finish(1, "electron").unwrap();
    std::fs::write(&path, text).unwrap();
    let sim = hope_mc::Simulation::from_file(&path).unwrap();
    let e = sim.source().map(|_| ()).unwrap_err().chain();
    assert!(e.contains("transport = true"), "{e}");
}

/// Dose per layer summed over the layer (Gy per history x voxel count), and its relative
/// 1-sigma (voxels added in quadrature).
fn layers(r: &hope_mc::Partial, grid: &Grid) -> Vec<(f64, f64)> {
    let (dose, unc) = r.dose(&r.analog, grid).unwrap();
    let [ni, nj, nk] = grid.dims();
    (0..nk)
        .map(|k| {
            let (mut d, mut v) = (0.0, 0.0);
            for j in 0..nj {
                for i in 0..ni {
                    let x = *dose.get([i, j, k]).unwrap();
                    d += x;
                    v += (unc.get([i, j, k]).unwrap() * x).powi(2);
                }
            }
            (d, v.sqrt() / d.max(1e-300))
        })
        .collect()
}

#[test]
fn a_phase_space_scored_inside_the_phantom_replays_the_dose_beyond_its_plane() {
    // A 6 MeV electron beam (divergent, 3 x 3 cm at 1 m) into water, 2 mm layers from z = 0 to
    // 40 mm, with coupled transport: the phase space scored during the run on z = 10 mm (a voxel
    // face: particles stopped on it by a boundary step are met too) holds the electrons,
    // bremsstrahlung photons and delta rays crossing towards +z, at the energy they have there.
    // Replayed into the same grid with everything before the plane empty, it gives the direct
    // run's dose beyond the plane (dose per original history: records x records per history).
    let dir = tempfile::tempdir().unwrap();
    let grid = Grid::builder([15, 15, 20])
        .spacing([4.0, 4.0, 2.0])
        .origin([-28.0, -28.0, 1.0])
        .build()
        .unwrap();
    let water = Material::builtin("water").unwrap();
    let options = |threads: usize| RunOptions {
        batch_size: 2_000,
        threads,
        physics: hope_mc::PhysicsOptions {
            electrons: hope_mc::physics::electron::ElectronOptions {
                transport: true,
                ..Default::default()
            },
            ..Default::default()
        },
        ..RunOptions::default()
    };
    let beam = Source::Charged {
        positron: false,
        source: Box::new(Source::Divergent {
            focus: Vec3::new(0.0, 0.0, -1000.0),
            direction: Vec3::new(0.0, 0.0, 1.0),
            distance_mm: 1000.0,
            field: hope_mc::Field::Rectangle([30.0, 30.0]),
            spectrum: Spectrum::Mono(6e6),
        }),
    };
    let plane = hope_mc::transport::PhaseSpacePlane {
        z_mm: 10.0,
        towards_positive_z: true,
    };
    let (n, seed) = (30_000, 11);
    let score = |threads: usize, name: &str| {
        let t = Transport::new(
            Phantom::uniform(grid.clone(), water.clone()),
            options(threads),
        )
        .unwrap();
        let mut w = PhaseSpaceWriter::create(&dir.path().join(name)).unwrap();
        let direct = t
            .run_with_phase_space(&beam, n, seed, plane, &mut w, &no_progress)
            .unwrap();
        w.finish(n, "scored at z = 10 mm").unwrap();
        // The dose is the plain run's, bit for bit.
        let plain = t.run(&beam, n, seed, &no_progress).unwrap();
        assert!(direct.analog == plain.analog);
        direct
    };
    let direct = score(2, "plane");
    // The file depends on the seed only, not on the threads.
    let _ = score(1, "plane1");
    for ext in ["IAEAheader", "IAEAphsp"] {
        let a = std::fs::read(dir.path().join(format!("plane.{ext}"))).unwrap();
        let b = std::fs::read(dir.path().join(format!("plane1.{ext}"))).unwrap();
        assert!(a == b, "{ext} differs between 1 and 2 threads");
    }
    let space = PhaseSpace::read(&dir.path().join("plane.IAEAheader")).unwrap();
    let count = |k: Kind| space.particles.iter().filter(|p| p.kind == k).count();
    let (photons, electrons) = (count(Kind::Photon), count(Kind::Electron));
    println!(
        "{} records: {photons} photons, {electrons} electrons",
        space.particles.len()
    );
    // Nearly every primary reaches 1 cm (range 3 cm), and some bremsstrahlung does.
    assert!(
        electrons as u64 > n * 9 / 10 && photons > 100,
        "{electrons} {photons}"
    );
    assert!(space.particles.iter().all(|p| {
        (p.position_cm[2] - 1.0).abs() < 1e-5 && p.direction[2] > 0.0 && p.energy_mev < 6.0
    }));
    let histories = space.particles.iter().filter(|p| p.new_history).count();
    assert!(histories as u64 <= n && histories as u64 > n * 9 / 10);
    // Replay: the layers before the plane empty.
    let nvox = grid.voxel_count();
    let density: Vec<f32> = (0..nvox)
        .map(|v| if v / (15 * 15) < 5 { 0.0 } else { 1.0 })
        .collect();
    let t = Transport::new(
        Phantom::new(grid.clone(), vec![water.clone()], vec![0; nvox], density).unwrap(),
        options(2),
    )
    .unwrap();
    let records = space.particles.len() as u64;
    let ps = PhaseSpaceSource::new(space, Vec3::new(0.0, 0.0, 0.0), [0.0; 3], 0).unwrap();
    let per_original = ps.records_per_original_history();
    let replay = t
        .run(&Source::PhaseSpace(Box::new(ps)), records, 13, &no_progress)
        .unwrap();
    let (a, b) = (layers(&direct, &grid), layers(&replay, &grid));
    let mut worst: f64 = 0.0;
    // Where the dose is at least 2 % of the plane's (beyond, in the bremsstrahlung tail, a
    // layer's dose rests on a handful of electrons and its sigma is poorly known).
    for k in (5..20).filter(|&k| a[k].0 > 0.02 * a[5].0) {
        let ((d1, s1), (d2, s2)) = (a[k], b[k]);
        let d2 = d2 * per_original;
        let z = (d2 / d1 - 1.0) / (s1 * s1 + s2 * s2).sqrt();
        worst = worst.max(z.abs());
        println!(
            "layer {k}: {:+.2} % ({z:+.1} sigma)",
            100.0 * (d2 / d1 - 1.0)
        );
        assert!(
            z.abs() < 4.0,
            "layer {k}: direct {d1:e}, replayed {d2:e} ({z:.1} sigma)"
        );
    }
    println!("replayed vs direct beyond the plane: worst layer {worst:.2} sigma");
    // Before the plane the replay scores nothing (the layers are empty; an electron that fell
    // below its cutoff as it entered them once deposited its energy in a void voxel there).
    assert!(b[..5].iter().all(|(d, _)| *d == 0.0));
}
