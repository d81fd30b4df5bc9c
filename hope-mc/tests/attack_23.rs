//! Attack round on the parsers and sources of issue 23 (an outside helper, loopback only, the
//! prebuilt `hope` at commit 5a66e15): each finding, a test that failed before its fix.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;

use hope_core::{Grid, Vec3};
use hope_mc::source::PhaseSpaceSource;
use hope_mc::source::iaea::{self, Kind, PhaseSpace, PhaseSpaceWriter};
use hope_mc::{Material, Phantom, RunOptions, Simulation, Source, Spectrum, Transport};

fn no_progress(_: u64, _: u64) {}

const BOX: &str = "histories = 200\n[phantom]\ndims = [10, 10, 10]\nspacing_mm = [2.0, 2.0, 2.0]\norigin_mm = [-9.0, -9.0, 1.0]\nmaterial = 'water'\n";

fn read(dir: &Path, text: &str) -> hope_mc::Result<Simulation> {
    let path = dir.join("sim.toml");
    std::fs::write(&path, text).unwrap();
    Simulation::from_file(&path)
}

/// A phase space of records `(type, E MeV, x, y, z, u, v, weight)`, every value stored.
fn phase_space(dir: &Path, records: &[(i8, f32, [f32; 5], f32)], extra_header: &str) {
    let mut data = Vec::new();
    for (t, e, [x, y, z, u, v], w) in records {
        data.push(*t as u8);
        for f in [*e, *x, *y, *z, *u, *v, *w] {
            data.extend_from_slice(&f.to_le_bytes());
        }
    }
    std::fs::write(dir.join("ps.IAEAphsp"), &data).unwrap();
    let header = format!(
        "$FILE_TYPE:\n0\n$CHECKSUM:\n{}\n$RECORD_CONTENTS:\n1\n1\n1\n1\n1\n1\n1\n0\n0\n$RECORD_CONSTANT:\n\n$RECORD_LENGTH:\n29\n$BYTE_ORDER:\n1234\n$ORIG_HISTORIES:\n100\n$PARTICLES:\n{}\n{extra_header}",
        data.len(),
        records.len()
    );
    std::fs::write(dir.join("ps.IAEAheader"), header).unwrap();
}

const PS: &str = "[source]\nkind = 'phase-space'\nphase_space = 'ps.IAEAheader'\n";

/// Finding 1: a material holding Es or Fm (no incoherent scattering function in the data) hung
/// every run: Compton sampling rejected for ever. They now scatter as free electrons.
#[test]
fn attack_23_01_elements_without_scattering_data_do_not_hang() {
    let dir = tempfile::tempdir().unwrap();
    let sim = read(
        dir.path(),
        &format!(
            "{}[materials.trace]\ndensity = 1.0\ncomposition = {{ H = 0.11, O = 0.89, Fm = 0.001 }}\n[materials.fermium]\ndensity = 9.7\nformula = 'Fm'\n\
             [[phantom.insert]]\nmaterial = 'fermium'\nshape = 'sphere'\ncentre_mm = [0.0, 0.0, 6.0]\nradius_mm = 3.0\n\
             [source]\nkind = 'pencil'\nposition_mm = [0.0, 0.0, -5.0]\ndirection = [0.0, 0.0, 1.0]\nenergy_kev = 100.0\n",
            BOX.replace("material = 'water'", "material = 'trace'")
        ),
    )
    .unwrap();
    let r = sim.prepare(1).unwrap().run(&no_progress).unwrap();
    assert!(r.deposited() > 0.0 && r.emitted() > 0.0);
    let fm = Material::new("fm", 9.7, &[(100, 1.0)]).unwrap();
    assert!(fm.mu_en_rho(100e3) > 0.0);
}

/// Finding 2: a divergent source of 1e-200 mm sizes made every direction NaN (Woodcock
/// tracking span for ever; boundary tracking scored NaN photons). Sizes below 1e-6 mm are
/// refused.
#[test]
fn attack_23_02_lengths_too_small_to_square_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let src = "[source]\nkind = 'divergent'\nposition_mm = [0.0, 0.0, -100.0]\ndirection = [0.0, 0.0, 1.0]\nenergy_kev = 100.0\n";
    for (more, says) in [
        (
            "distance_mm = 1e-200\nfield_mm = [1e-200, 1e-200]\n",
            "source.distance_mm",
        ),
        (
            "distance_mm = 100.0\nradius_mm = 5e-324\n",
            "source.radius_mm",
        ),
        (
            "distance_mm = 100.0\nfield_mm = [10.0, 1e-9]\n",
            "source.field_mm",
        ),
    ] {
        let e = read(dir.path(), &format!("{BOX}{src}{more}"))
            .map(|_| ())
            .unwrap_err()
            .chain();
        assert!(e.contains(says) && e.contains("1e-6"), "{more}: {e}");
    }
    // A degenerate beam built in code goes along its axis.
    let grid = Grid::builder([3, 3, 3]).build().unwrap();
    let t = Transport::new(
        Phantom::uniform(grid, Material::builtin("water").unwrap()),
        RunOptions::default(),
    )
    .unwrap();
    let beam = Source::Divergent {
        focus: Vec3::new(0.0, 0.0, -10.0),
        direction: Vec3::new(0.0, 0.0, 1.0),
        distance_mm: 1e-200,
        field: hope_mc::Field::Circle(1e-200),
        spectrum: Spectrum::Mono(100e3),
    };
    let r = t.run(&beam, 100, 1, &no_progress).unwrap();
    let balance = r.emitted() - r.deposited() - r.escaped();
    assert!(balance.abs() < 1e-6 * r.emitted());
}

/// Finding 3: `hope run` of a phase space with `recycle >= 1` failed every chunk: each history
/// emits `recycle + 1` primaries and the uncollided count exceeded the histories, which a
/// result's check refuses. A history now counts once.
#[test]
fn attack_23_03_recycled_histories_pass_the_result_check() {
    let dir = tempfile::tempdir().unwrap();
    phase_space(
        dir.path(),
        &[(1, 1.0, [0.0, 0.0, 0.0, 0.0, 0.0], 1.0); 3],
        "",
    );
    let space = PhaseSpace::read(&dir.path().join("ps")).unwrap();
    let ps = PhaseSpaceSource::new(space, Vec3::new(0.0, 0.0, -1.0), [0.0; 3], 3).unwrap();
    let grid = Grid::builder([1, 1, 1])
        .spacing([1.0, 1.0, 0.1])
        .build()
        .unwrap();
    let t = Transport::new(
        Phantom::uniform(grid, Material::builtin("water").unwrap()),
        RunOptions {
            batch_size: 500,
            ..RunOptions::default()
        },
    )
    .unwrap();
    let r = t
        .run(&Source::PhaseSpace(Box::new(ps)), 1000, 1, &no_progress)
        .unwrap();
    assert!(
        r.uncollided > 900 && r.uncollided <= 1000,
        "{}",
        r.uncollided
    );
    r.check_run(0..2, 1000, 500, 1).unwrap();
}

/// Findings 4, 6, 10: records of 1e5 MeV (beyond the data: the dose and the energy balance
/// disagreed), weights that saturate the fixed-point tallies, direction cosines of length 1.2,
/// and sub-normal energies (big-endian data labelled little-endian) are refused, naming the
/// record.
#[test]
fn attack_23_04_records_outside_the_data_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (record, says) in [
        (
            (1i8, 1e5f32, [0.0, 0.0, 0.0, 0.0, 0.0], 1.0f32),
            "energy 1e5 MeV",
        ),
        (
            (2, 150.0, [0.0, 0.0, 0.0, 0.0, 0.0], 1.0),
            "energy 1.5e2 MeV",
        ),
        ((1, 4.6e-41, [0.0, 0.0, 0.0, 0.0, 0.0], 1.0), "energy"),
        ((1, 1.0, [0.0, 0.0, 0.0, 0.0, 0.0], 1e17), "weight 1e17"),
        ((1, 1.0, [0.0, 0.0, 0.0, 1.2, 0.0], 1.0), "direction"),
        ((1, 1.0, [0.0, 0.0, 0.0, 0.9, 0.9], 1.0), "direction"),
    ] {
        phase_space(dir.path(), &[(1, 1.0, [0.0; 5], 1.0), record], "");
        let e = PhaseSpace::read(&dir.path().join("ps"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ps.IAEAphsp: record 1") && e.contains(says),
            "{e}"
        );
    }
    // The writer refuses what the reader would.
    let mut w = PhaseSpaceWriter::create(&dir.path().join("out")).unwrap();
    let p = iaea::Particle {
        kind: Kind::Photon,
        energy_mev: 1e5,
        position_cm: [0.0; 3],
        direction: [0.0, 0.0, 1.0],
        weight: 1.0,
        new_history: true,
    };
    assert!(w.write(&p).is_err());
    assert!(
        w.write(&iaea::Particle {
            energy_mev: 1.0,
            weight: 1e9,
            ..p
        })
        .is_err()
    );
}

/// Finding 5: a spectrum file's bad line was printed back whole (`/proc/self/environ` showed
/// the environment; a 15 MB line made 15 MB of stderr). Errors name the file and the line only.
#[test]
fn attack_23_05_spectrum_file_errors_never_echo_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let src = "[source]\nkind = 'point'\nposition_mm = [0.0, 0.0, 5.0]\nspectrum_min_kev = 10.0\nspectrum_file = 's.csv'\n";
    for (content, says) in [
        (
            "100, 1\nPatientName=DOE^JOHN MRN 123456\n",
            "line 2: 3 columns",
        ),
        (
            &format!("{}\n", "x".repeat(100_000)) as &str,
            "line 1: 1 columns",
        ),
        ("100, 1\nnan, 1\n", "s.csv line 2: upper edge NaN"),
        ("100, 1\n50, 1\n", "s.csv line 2: upper edge 5e1"),
        ("100, -1\n", "s.csv line 1: probability -1e0"),
    ] {
        std::fs::write(dir.path().join("s.csv"), content).unwrap();
        let e = read(dir.path(), &format!("{BOX}{src}"))
            .map(|_| ())
            .unwrap_err()
            .chain();
        assert!(e.contains(says), "{e}");
        assert!(
            !e.contains("DOE") && !e.contains("xxxxxxxxxx") && e.len() < 1000,
            "{e}"
        );
    }
    // The lower edge is checked first, and named.
    std::fs::write(dir.path().join("s.csv"), "100, 1\n").unwrap();
    let e = read(
        dir.path(),
        &format!(
            "{BOX}{}",
            src.replace("spectrum_min_kev = 10.0", "spectrum_min_kev = nan")
        ),
    )
    .map(|_| ())
    .unwrap_err()
    .chain();
    assert!(e.contains("source.spectrum_min_kev"), "{e}");
}

/// Finding 7: a run's fingerprint hashed the `Debug` text of the source, every particle of a
/// phase space included (18.9 s for 2^20 records, minutes at the limit). It shows a digest.
#[test]
fn attack_23_07_a_phase_space_source_debugs_as_a_digest() {
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<_> = (0..20_000)
        .map(|i| {
            (
                1i8,
                1.0 + i as f32 * 1e-4,
                [0.0, 0.0, 0.0, 0.0, 0.0],
                1.0f32,
            )
        })
        .collect();
    phase_space(dir.path(), &records, "");
    let make = || {
        PhaseSpaceSource::new(
            PhaseSpace::read(&dir.path().join("ps")).unwrap(),
            Vec3::new(0.0, 0.0, 0.0),
            [0.0; 3],
            0,
        )
        .unwrap()
    };
    let a = format!("{:?}", make());
    assert!(a.len() < 600 && a.contains("digest"), "{} bytes", a.len());
    let mut changed = records.clone();
    changed[19_999].1 = 2.5;
    phase_space(dir.path(), &changed, "");
    assert_ne!(format!("{:?}", make()), a);
}

/// Finding 9: fields that a phase-space source does not take (even `direction = [nan, nan,
/// nan]`) were ignored.
#[test]
fn attack_23_09_a_phase_space_source_refuses_fields_it_does_not_take() {
    let dir = tempfile::tempdir().unwrap();
    phase_space(dir.path(), &[(1, 1.0, [0.0; 5], 1.0)], "");
    for more in [
        "direction = [1.0, 0.0, 0.0]\n",
        "direction = [nan, nan, nan]\n",
        "field_mm = [1.0, 1.0]\n",
        "distance_mm = 1.0\n",
        "radius_mm = 1.0\n",
        "half_angle_deg = 10.0\n",
        "model = '6711'\n",
    ] {
        let e = read(dir.path(), &format!("{BOX}{PS}{more}"))
            .map(|_| ())
            .unwrap_err()
            .chain();
        let key = more.split(' ').next().unwrap();
        assert!(
            e.contains(&format!("source.{key}")) && e.contains("phase-space"),
            "{e}"
        );
    }
}

/// Findings 11, 15, 16, 17: a block given twice (readers disagree on which copy counts), an
/// unterminated comment (it hid the rest of the header), constants out of range (blamed on the
/// data file), a directory as data file, and huge words echoed whole.
#[test]
fn attack_23_11_headers_that_readers_could_read_differently_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let one = [(1i8, 1.0f32, [0.0f32; 5], 1.0f32)];
    for (extra, says) in [
        ("$PARTICLES:\n2\n", "$PARTICLES: given twice"),
        ("/* a comment never closed\n", "not closed"),
    ] {
        phase_space(dir.path(), &one, extra);
        let e = PhaseSpace::read(&dir.path().join("ps"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("ps.IAEAheader") && e.contains(says), "{e}");
    }
    // A value on the name's line is read.
    phase_space(dir.path(), &one, "");
    let h = std::fs::read_to_string(dir.path().join("ps.IAEAheader")).unwrap();
    std::fs::write(
        dir.path().join("ps.IAEAheader"),
        h.replace("$ORIG_HISTORIES:\n100", "$ORIG_HISTORIES: 100"),
    )
    .unwrap();
    assert_eq!(
        PhaseSpace::read(&dir.path().join("ps"))
            .unwrap()
            .header
            .original_histories,
        100
    );
    // Constants out of range name $RECORD_CONSTANT.
    for (constant, says) in [("1e39", "constant X"), ("-1", "constant weight")] {
        // X constant, or the weight constant.
        let flags = if constant == "-1" {
            "1\n1\n1\n1\n1\n1\n0"
        } else {
            "0\n1\n1\n1\n1\n1\n1"
        };
        std::fs::write(
            dir.path().join("ps.IAEAheader"),
            format!(
                "$FILE_TYPE:\n0\n$CHECKSUM:\n25\n$RECORD_CONTENTS:\n{flags}\n0\n0\n$RECORD_CONSTANT:\n{constant}\n$RECORD_LENGTH:\n25\n$BYTE_ORDER:\n1234\n$ORIG_HISTORIES:\n1\n$PARTICLES:\n1\n"
            ),
        )
        .unwrap();
        std::fs::write(dir.path().join("ps.IAEAphsp"), [0u8; 25]).unwrap();
        let e = PhaseSpace::read(&dir.path().join("ps"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("$RECORD_CONSTANT") && e.contains(says), "{e}");
    }
    // A directory as the data file.
    phase_space(dir.path(), &one, "");
    std::fs::remove_file(dir.path().join("ps.IAEAphsp")).unwrap();
    std::fs::create_dir(dir.path().join("ps.IAEAphsp")).unwrap();
    let e = PhaseSpace::read(&dir.path().join("ps"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("ps.IAEAphsp") && e.contains("not readable"),
        "{e}"
    );
    let e = read(dir.path(), &format!("{BOX}{PS}"))
        .map(|_| ())
        .unwrap_err()
        .chain();
    assert!(
        e.contains("source.phase_space") && e.contains("not readable"),
        "{e}"
    );
    std::fs::remove_dir(dir.path().join("ps.IAEAphsp")).unwrap();
    // A 100 KB word is clipped in the message.
    phase_space(dir.path(), &one, "");
    let h = std::fs::read_to_string(dir.path().join("ps.IAEAheader")).unwrap();
    std::fs::write(
        dir.path().join("ps.IAEAheader"),
        h.replace(
            "$PARTICLES:\n1",
            &format!("$PARTICLES:\n{}", "9x".repeat(50_000)),
        ),
    )
    .unwrap();
    let e = PhaseSpace::read(&dir.path().join("ps"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("$PARTICLES") && e.len() < 500,
        "{} bytes: {}",
        e.len(),
        &e[..200.min(e.len())]
    );
}

/// The writer's title could open a comment (`/*`) that hid every later block of its header.
#[test]
fn attack_23_11b_a_written_title_cannot_hide_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = PhaseSpaceWriter::create(&dir.path().join("t")).unwrap();
    w.write(&iaea::Particle {
        kind: Kind::Photon,
        energy_mev: 1.0,
        position_cm: [0.0; 3],
        direction: [0.0, 0.0, 1.0],
        weight: 1.0,
        new_history: true,
    })
    .unwrap();
    w.finish(1, "beam /* $PARTICLES: // trick").unwrap();
    assert_eq!(
        PhaseSpace::read(&dir.path().join("t"))
            .unwrap()
            .particles
            .len(),
        1
    );
}

/// Findings 12, 13: a preset with the earlier names of its keys (`coherent`, `fluorescence`)
/// failed as a duplicate; an error inside `[physics]` named neither the key nor its value.
#[test]
fn attack_23_12_presets_take_the_old_names_and_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let src = "[source]\nkind = 'pencil'\nposition_mm = [0.0, 0.0, -5.0]\ndirection = [0.0, 0.0, 1.0]\nenergy_kev = 1000.0\n";
    let sim = read(
        dir.path(),
        &format!(
            "{BOX}{src}[physics]\npreset = 'egsnrc-dosxyz'\ncoherent = true\nfluorescence = true\n"
        ),
    )
    .unwrap();
    assert!(sim.physics.rayleigh);
    assert_eq!(sim.physics.relaxation, hope_mc::physics::Relaxation::Full);
    let e = read(dir.path(), &format!("{BOX}{src}[physics]\nrayleigh = 3\n"))
        .map(|_| ())
        .unwrap_err()
        .chain();
    assert!(
        e.contains("rayleigh = 3") && e.contains("expected a boolean"),
        "{e}"
    );
}

// Second attack round (the phase-space plane, dose to water and the Koch-Motz switch; the
// prebuilt `hope` at commit de93046).

#[test]
fn attack_23b_01_a_source_far_away_is_refused_not_a_hang() {
    // The depth-dose walk searched for the grid from the source in quarter voxels: 1e9 mm took
    // minutes, beyond 3e15 mm forever. Positions are bounded like every coordinate now (and the
    // walk finds the grid at once: `tally::lines` tests it).
    let dir = tempfile::tempdir().unwrap();
    for far in ["1e9", "1e300"] {
        let text = format!(
            "{BOX}[source]\nkind = 'pencil'\nposition_mm = [0.0, 0.0, -{far}]\ndirection = [0.0, 0.0, 1.0]\nenergy_kev = 100.0\n"
        );
        let chain = read(dir.path(), &text).map(|_| ()).unwrap_err().chain();
        assert!(
            chain.contains("source.position_mm") && chain.contains("1e7"),
            "{chain}"
        );
    }
}

#[test]
fn attack_23b_02_the_phase_space_writer_follows_no_link_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, b"keep").unwrap();
    // The old fixed temporary name, and the target itself, as links to the victim.
    std::os::unix::fs::symlink(&victim, dir.path().join("p.IAEAphsp.part")).unwrap();
    std::os::unix::fs::symlink(&victim, dir.path().join("p.IAEAphsp")).unwrap();
    let particle = iaea::Particle {
        kind: Kind::Photon,
        energy_mev: 1.0,
        position_cm: [0.0; 3],
        direction: [0.0, 0.0, 1.0],
        weight: 1.0,
        new_history: true,
    };
    let mut w = PhaseSpaceWriter::create(&dir.path().join("p")).unwrap();
    w.write(&particle).unwrap();
    w.finish(1, "t").unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
    let data = dir.path().join("p.IAEAphsp");
    assert!(
        !std::fs::symlink_metadata(&data)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read(&data).unwrap().len(), 29);
    // Dropped before finishing (an error on the way): no temporary file is left.
    let before = std::fs::read_dir(dir.path()).unwrap().count();
    let mut w = PhaseSpaceWriter::create(&dir.path().join("q")).unwrap();
    w.write(&particle).unwrap();
    drop(w);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), before);
    // A directory with the header's name: an error, and neither file put in place.
    std::fs::create_dir(dir.path().join("r.IAEAheader")).unwrap();
    let mut w = PhaseSpaceWriter::create(&dir.path().join("r")).unwrap();
    w.write(&particle).unwrap();
    assert!(w.finish(1, "t").is_err());
    assert!(!dir.path().join("r.IAEAphsp").exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), before + 1);
}

#[test]
fn attack_23b_03_an_electron_stopping_at_a_near_vacuum_leaves_its_energy_in_matter() {
    // Water, then 4 mm of air at 1e-9 g/cm^3, then water: an electron that fell below its
    // cutoff on its way into the air deposited its last keV there, a dose 1e9 times too high.
    let grid = Grid::builder([9, 9, 30])
        .spacing([2.0, 2.0, 1.0])
        .origin([-8.0, -8.0, 0.5])
        .build()
        .unwrap();
    let n = grid.voxel_count();
    let density: Vec<f32> = (0..n)
        .map(|v| {
            if (10..14).contains(&(v / 81)) {
                1e-9
            } else {
                1.0
            }
        })
        .collect();
    let phantom = Phantom::new(
        grid.clone(),
        vec![Material::builtin("water").unwrap()],
        vec![0; n],
        density,
    )
    .unwrap();
    let t = Transport::new(
        phantom,
        RunOptions {
            physics: hope_mc::PhysicsOptions {
                electrons: hope_mc::physics::electron::ElectronOptions {
                    transport: true,
                    ..Default::default()
                },
                ..Default::default()
            },
            ..RunOptions::default()
        },
    )
    .unwrap();
    let beam = Source::Charged {
        positron: false,
        source: Box::new(Source::Pencil {
            position: Vec3::new(0.0, 0.0, -1.0),
            direction: Vec3::new(0.0, 0.0, 1.0),
            spectrum: Spectrum::Mono(6e6),
        }),
    };
    let r = t.run(&beam, 3000, 4, &no_progress).unwrap();
    let (dose, _) = r.dose(&r.analog, &grid).unwrap();
    let max_in = |ks: std::ops::Range<usize>| {
        let mut m = 0.0f64;
        for k in ks {
            for j in 0..9 {
                for i in 0..9 {
                    m = m.max(*dose.get([i, j, k]).unwrap());
                }
            }
        }
        m
    };
    let (water, air) = (max_in(0..10), max_in(10..14));
    // In the air the dose is what the electrons crossing it lose there (Bragg-Gray: about the
    // water's); a single stopped electron would give 1e4 times the water's maximum.
    assert!(air < 10.0 * water, "air {air:e} Gy, water {water:e} Gy");
}

#[test]
fn attack_23b_04_plane_errors_name_the_file_and_come_before_any_file() {
    // A grid whose third axis is not patient +z: refused before the files are created, naming
    // the field.
    let dir = tempfile::tempdir().unwrap();
    let grid = Grid::builder([5, 5, 5])
        .spacing([2.0, 2.0, 2.0])
        .direction([
            Vec3::new(1.0, 0.0, 0.0),
            Vec3::new(0.0, -1.0, 0.0),
            Vec3::new(0.0, 0.0, -1.0),
        ])
        .build()
        .unwrap();
    let t = Transport::new(
        Phantom::uniform(grid, Material::builtin("water").unwrap()),
        RunOptions::default(),
    )
    .unwrap();
    let plane = hope_mc::transport::PhaseSpacePlane {
        z_mm: 0.0,
        towards_positive_z: true,
    };
    let e = t.check_plane(plane).unwrap_err();
    assert!(e.contains("axial"), "{e}");
    let mut w = PhaseSpaceWriter::create(&dir.path().join("p")).unwrap();
    let beam = Source::Pencil {
        position: Vec3::new(0.0, 0.0, -10.0),
        direction: Vec3::new(0.0, 0.0, 1.0),
        spectrum: Spectrum::Mono(1e5),
    };
    let e = t
        .run_with_phase_space(&beam, 10, 1, plane, &mut w, &no_progress)
        .unwrap_err()
        .to_string();
    assert!(e.contains("p.IAEAphsp") && e.contains("plane"), "{e}");
    drop(w);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn attack_23b_05_histories_of_weight_zero_cross_no_plane() {
    // Half the records of a chained phase space were particles of weight 0.
    let dir = tempfile::tempdir().unwrap();
    phase_space(
        dir.path(),
        &[
            (1, 1.0, [0.0, 0.0, -0.5, 0.0, 0.0], 0.0),
            (1, 1.0, [0.1, 0.0, -0.5, 0.0, 0.0], 1.0),
        ],
        "",
    );
    let space = PhaseSpace::read(&dir.path().join("ps.IAEAheader")).unwrap();
    let source = Source::PhaseSpace(Box::new(
        PhaseSpaceSource::new(space, Vec3::new(0.0, 0.0, 0.0), [0.0; 3], 0).unwrap(),
    ));
    let grid = Grid::builder([5, 5, 10])
        .spacing([2.0, 2.0, 2.0])
        .origin([-4.0, -4.0, 1.0])
        .build()
        .unwrap();
    let t = Transport::new(
        Phantom::uniform(grid, Material::builtin("air").unwrap()),
        RunOptions::default(),
    )
    .unwrap();
    let mut w = PhaseSpaceWriter::create(&dir.path().join("out")).unwrap();
    let plane = hope_mc::transport::PhaseSpacePlane {
        z_mm: 10.0,
        towards_positive_z: true,
    };
    t.run_with_phase_space(&source, 100, 1, plane, &mut w, &no_progress)
        .unwrap();
    w.finish(100, "t").unwrap();
    let out = PhaseSpace::read(&dir.path().join("out.IAEAheader")).unwrap();
    assert!(!out.particles.is_empty());
    assert!(out.particles.iter().all(|p| p.weight > 0.0));
}
