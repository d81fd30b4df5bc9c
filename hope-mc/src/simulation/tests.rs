//! Reading, checking and building simulation files.

use super::*;
use crate::material::hounsfield::HuTable;
use crate::source::SeedPlacement;

#[test]
fn solids_are_voxelised_with_their_volume() {
    let grid = Grid::builder([40, 40, 40])
        .spacing([0.5, 0.5, 0.5])
        .origin([-9.75, -9.75, -9.75])
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let count = |solid: Solid| {
        let n = grid.voxel_count();
        let (mut mat, mut rho) = (vec![0u16; n], vec![1.0f32; n]);
        solid.voxelise(&grid, &mut mat, &mut rho, 1, 2.0);
        assert!(mat.iter().zip(&rho).all(|(m, r)| (*m == 1) == (*r == 2.0)));
        mat.iter().filter(|m| **m == 1).count() as f64 * 0.125
    };
    let sphere = count(Solid::Sphere {
        centre: Vec3::new(0.3, -0.2, 0.1),
        radius: 6.0,
    });
    let want = 4.0 / 3.0 * std::f64::consts::PI * 216.0;
    assert!((sphere / want - 1.0).abs() < 0.02, "{sphere} vs {want}");
    let axis = Vec3::new(1.0, 1.0, 0.0) * (1.0 / 2f64.sqrt());
    let cylinder = count(Solid::Cylinder {
        centre: Vec3::new(0.0, 0.0, 0.0),
        axis,
        radius: 3.0,
        half_length: 6.0,
    });
    let want = std::f64::consts::PI * 9.0 * 12.0;
    assert!((cylinder / want - 1.0).abs() < 0.03, "{cylinder} vs {want}");
    assert!(
        Solid::Cylinder {
            centre: Vec3::new(0.0, 0.0, 0.0),
            axis,
            radius: 3.0,
            half_length: 6.0,
        }
        .contains(axis * 5.9)
    );
    let cube = count(Solid::Box {
        min: Vec3::new(-2.0, -2.0, -2.0),
        max: Vec3::new(2.0, 2.0, 2.0),
    });
    assert!((cube - 64.0).abs() < 1e-9, "{cube}");
    // A 1 mm shell of radii 7 and 8 mm, a cap of 60 degrees: 2 pi (1 - cos 60) (R^3 - r^3) / 3.
    let shell = Solid::Shell {
        centre: Vec3::new(0.2, 0.1, -0.3),
        axis: Vec3::new(0.0, 0.6, 0.8),
        inner: 7.0,
        outer: 8.0,
        cos_half_angle: 0.5,
    };
    let want = 2.0 * std::f64::consts::PI * 0.5 * (512.0 - 343.0) / 3.0;
    let got = count(shell);
    assert!((got / want - 1.0).abs() < 0.05, "{got} vs {want}");
    assert!(shell.contains(Vec3::new(0.2, 0.1 + 0.6 * 7.5, -0.3 + 0.8 * 7.5)));
    assert!(!shell.contains(Vec3::new(0.2, 0.1 - 0.6 * 7.5, -0.3 - 0.8 * 7.5)));
    let tube = Solid::Tube {
        centre: Vec3::new(0.0, 0.0, 0.0),
        axis,
        inner: 2.0,
        outer: 4.0,
        half_length: 3.0,
    };
    let want = std::f64::consts::PI * (16.0 - 4.0) * 6.0;
    let got = count(tube);
    assert!((got / want - 1.0).abs() < 0.05, "{got} vs {want}");
    assert!(!tube.contains(Vec3::new(0.0, 0.0, 0.0)));
}

#[test]
fn a_simulation_comes_back_from_json_with_the_same_bits() {
    // Grid runs hand the simulation to workers as JSON: computed coordinates must survive
    // to the last bit, or a worker transports slightly different seeds (serde_json's
    // default float parsing is not correctly rounded; the workspace turns on
    // float_roundtrip).
    let text = "histories = 10\n[phantom]\ndims = [4, 4, 4]\nspacing_mm = [1.0, 1.0, 1.0]\nmaterial = 'water'\n[source]\nkind = 'seeds'\nmodel = '6711'\nradionuclide = 'I-125'\nseeds = []\n";
    let mut sim: Simulation = toml::from_str(text).unwrap_or_else(|e| panic!("{e}"));
    let SourceSpec::Seeds { seeds, .. } = &mut sim.source else {
        panic!("a seed source");
    };
    for n in 0..200 {
        let t = f64::from(n) * 0.0137;
        seeds.push(SeedPlacement {
            position_mm: [13.0 * t.cos(), -66.0 + 13.0 * t.sin() / 3.0, 1e-7 * t.exp()],
            axis: [t.sin(), t.cos() * 0.1, 2f64.sqrt() / 7.0],
            weight: 1.0 / (1.0 + t),
        });
    }
    let json = serde_json::to_string(&sim).unwrap_or_else(|e| panic!("{e}"));
    let back: Simulation = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, sim);
}

#[test]
fn shells_and_tubes_are_read_and_checked() {
    let ins = |text: &str| -> InsertSpec { toml::from_str(text).unwrap_or_else(|e| panic!("{e}")) };
    let ok = ins(
        "material = 'modulay'\nshape = 'shell'\ncentre_mm = [0, 0, 0]\ninner_radius_mm = 13.0\nradius_mm = 14.0\naxis = [0, 1, 0]\nhalf_angle_deg = 35",
    );
    assert!(matches!(ok.check(Some(0)), Ok(Solid::Shell { .. })));
    let whole = ins(
        "material = 'water'\nshape = 'shell'\ncentre_mm = [0, 0, 0]\ninner_radius_mm = 1.0\nradius_mm = 2.0",
    );
    assert!(whole.check(Some(0)).is_ok());
    for (text, field_name) in [
        (
            "material = 'water'\nshape = 'shell'\ncentre_mm = [0, 0, 0]\ninner_radius_mm = 3.0\nradius_mm = 2.0",
            "inner_radius_mm",
        ),
        (
            "material = 'water'\nshape = 'shell'\ncentre_mm = [0, 0, 0]\ninner_radius_mm = 1.0\nradius_mm = 2.0\nhalf_angle_deg = 30",
            "axis",
        ),
        (
            "material = 'water'\nshape = 'shell'\ncentre_mm = [0, 0, 0]\ninner_radius_mm = 1.0\nradius_mm = 2.0\naxis = [0, 0, 1]\nhalf_angle_deg = 200",
            "half_angle_deg",
        ),
        (
            "material = 'water'\nshape = 'tube'\ncentre_mm = [0, 0, 0]\ninner_radius_mm = 1.0\nradius_mm = 2.0\naxis = [0, 0, 0]\nlength_mm = 3",
            "axis",
        ),
    ] {
        let e = ins(text)
            .check(Some(2))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains(&format!("phantom.insert[2].{field_name}")),
            "{text}: {e}"
        );
    }
    // An unknown shape is not a value of the type: refused when read, listing the shapes.
    let e = toml::from_str::<InsertSpec>("material = 'water'\nshape = 'cone'")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unknown variant `cone`, expected one of `box`, `sphere`"),
        "{e}"
    );
}

/// A simulation file's text read and checked as `from_file` does.
pub(super) fn read(text: &str) -> Result<Simulation> {
    let dir = tempfile::tempdir().map_err(|e| field("tmp", e.to_string()))?;
    let path = dir.path().join("sim.toml");
    std::fs::write(&path, text).map_err(|e| field("tmp", e.to_string()))?;
    Simulation::from_file(&path)
}

pub(super) const BOX: &str = "histories = 10\n[phantom]\ndims = [4, 4, 4]\nspacing_mm = [1.0, 1.0, 1.0]\nmaterial = 'water'\n";

/// Issue 27 item 2: `lines_kev` of 1e12 keV was accepted while `energy_kev` is capped; an
/// `absolute` section could give "inf Gy"; seed weights summing to infinity were accepted.
#[test]
fn item_02_out_of_range_energies_and_infinite_normalisations_are_refused() {
    let e = read(&format!("{BOX}[source]\nkind = 'point'\nposition_mm = [0.0, 0.0, 0.0]\nlines_kev = [[30.0, 1.0], [1e12, 0.5]]\n"))
        .and_then(|s| s.source())
        .map(|_| ())
        .unwrap_err()
        .chain();
    assert!(
        e.contains("source.lines_kev[1]") && e.contains("1000000000000 keV"),
        "{e}"
    );
    let e = read(&format!("{BOX}[source]\nkind = 'point'\nposition_mm = [0.0, 0.0, 0.0]\nlines_kev = [[30.0, 1e308], [40.0, 1e308]]\n"))
        .and_then(|s| s.source())
        .map(|_| ())
        .unwrap_err()
        .chain();
    assert!(e.contains("inf"), "{e}");
    let e = read(&format!(
        "{BOX}[source]\nkind = 'point'\nposition_mm = [0.0, 0.0, 0.0]\nenergy_kev = 300.0\n[absolute]\nphotons_per_s = 1e300\ntime_h = 1e300\n"
    ))
    .and_then(|s| s.histories_represented())
    .unwrap_err()
    .chain();
    assert!(e.contains("absolute") && e.contains("inf photons"), "{e}");
    let seeds = "[source]\nkind = 'seeds'\nmodel = '6711'\nradionuclide = 'I-125'\n\
                 [[source.seeds]]\nposition_mm = [0.0, 0.0, 0.0]\naxis = [0.0, 0.0, 1.0]\nweight = 1e308\n\
                 [[source.seeds]]\nposition_mm = [1.0, 0.0, 0.0]\naxis = [0.0, 0.0, 1.0]\nweight = 1e308\n";
    let e = read(&format!("{BOX}{seeds}"))
        .and_then(|s| s.source())
        .map(|_| ())
        .unwrap_err()
        .chain();
    assert!(e.contains("weights sum to inf"), "{e}");
}

/// Issue 27 item 9: phantom and scoring `dims` had no voxel budget, and the simulation file
/// itself was read without bounds.
#[test]
fn item_09_grids_beyond_the_voxel_budget_and_unbounded_files_are_refused() {
    let big = "histories = 10\n[phantom]\ndims = [100000, 100000, 100000]\nspacing_mm = [1.0, 1.0, 1.0]\nmaterial = 'water'\n[source]\nkind = 'point'\nposition_mm = [0.0, 0.0, 0.0]\nenergy_kev = 30.0\n";
    let e = read(big).unwrap_err().chain();
    assert!(
        e.contains("phantom.dims") && e.contains("more than the 67108864"),
        "{e}"
    );
    let scoring = format!(
        "{BOX}[source]\nkind = 'point'\nposition_mm = [0.0, 0.0, 0.0]\nenergy_kev = 30.0\n[scoring]\ndims = [4096, 4096, 4096]\nspacing_mm = [1.0, 1.0, 1.0]\norigin_mm = [0.0, 0.0, 0.0]\n"
    );
    let e = read(&scoring).unwrap_err().chain();
    assert!(e.contains("scoring.dims"), "{e}");
    #[cfg(unix)]
    {
        let e = Simulation::from_file(Path::new("/dev/zero"))
            .unwrap_err()
            .chain();
        assert!(e.contains("not a regular file"), "{e}");
        let e = HuTable::from_file(Path::new("/dev/zero"))
            .unwrap_err()
            .chain();
        assert!(e.contains("not a regular file"), "{e}");
    }
    // A CT beyond the budget is refused from its header, before its data is read.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.path().join("ct.mhd"),
        "NDims = 3\nDimSize = 1024 1024 1024\nElementType = MET_FLOAT\nElementDataFile = ct.raw\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let text = "histories = 10\n[phantom]\nct_mha = 'ct.mhd'\n[source]\nkind = 'point'\nposition_mm = [0.0, 0.0, 0.0]\nenergy_kev = 30.0\n";
    std::fs::write(dir.path().join("sim.toml"), text).unwrap_or_else(|e| panic!("{e}"));
    let e = Simulation::from_file(&dir.path().join("sim.toml"))
        .and_then(|s| s.phantom())
        .map(|_| ())
        .unwrap_err()
        .chain();
    assert!(
        e.contains("phantom.ct_mha") && e.contains("more than the"),
        "{e}"
    );
}

/// Issue 20: an unknown source kind became a point source when a simulation was not read
/// through `from_file` (a grid run's `simulation.json`, a simulation built in code and
/// deserialised). Kinds are a type now: JSON with an unknown kind is refused too.
#[test]
fn an_unknown_source_kind_is_never_a_point_source() {
    let text = "histories = 10\n[phantom]\ndims = [4, 4, 4]\nspacing_mm = [1.0, 1.0, 1.0]\nmaterial = 'water'\n[source]\nkind = 'point'\nposition_mm = [0.0, 0.0, 0.0]\nenergy_kev = 30.0\n";
    let sim: Simulation = toml::from_str(text).unwrap_or_else(|e| panic!("{e}"));
    let json = serde_json::to_string(&sim).unwrap_or_else(|e| panic!("{e}"));
    assert!(json.contains(r#""kind":"point""#), "{json}");
    let e =
        serde_json::from_str::<Simulation>(&json.replace(r#""kind":"point""#, r#""kind":"fan""#))
            .map(|_| ())
            .unwrap_err()
            .to_string();
    assert!(e.contains("unknown variant `fan`"), "{e}");
}

/// Issue 20: every kind of phantom, insert, source and particle is a typed value that the
/// file's form carries both ways (a grid worker reads what the planner wrote).
#[test]
fn every_kind_comes_back_from_its_file_form() {
    let photons = |e: f64| Emission::Photons(Energies::Mono { energy_kev: e });
    let shapes = [
        InsertShape::Box {
            min_mm: [-1.0; 3],
            max_mm: [1.0; 3],
        },
        InsertShape::Sphere {
            centre_mm: [0.1, 0.2, 0.3],
            radius_mm: 2.0,
        },
        InsertShape::Cylinder {
            centre_mm: [0.0; 3],
            axis: [1.0, 1.0, 0.0],
            radius_mm: 1.0,
            length_mm: 3.0,
        },
        InsertShape::Tube {
            centre_mm: [0.0; 3],
            axis: [0.0, 0.0, 1.0],
            inner_radius_mm: 1.0,
            radius_mm: 2.0,
            length_mm: 3.0,
        },
        InsertShape::Shell {
            centre_mm: [0.0; 3],
            inner_radius_mm: 1.0,
            radius_mm: 2.0,
            axis: Some([0.0, 1.0, 0.0]),
            half_angle_deg: Some(35.0),
        },
    ];
    let mut phantom = PhantomSpec::boxed([8, 8, 8], [1.0; 3], [-3.5; 3], "water");
    for (n, shape) in shapes.into_iter().enumerate() {
        let mut insert = InsertSpec::new("lung_icru44", shape);
        insert.density = Some(0.26 + n as f64 * 0.01);
        phantom = phantom.with_insert(insert);
    }
    let sources = [
        SourceSpec::Point {
            position_mm: [0.0; 3],
            emission: Emission::Photons(Energies::Lines {
                lines_kev: vec![[27.0, 0.7], [31.0, 0.3]],
            }),
        },
        SourceSpec::Pencil {
            position_mm: [0.0, 0.0, -10.0],
            direction: [0.0, 0.0, 1.0],
            radius_mm: None,
            emission: Emission::Electrons(Energies::Mono { energy_kev: 1000.0 }),
        },
        SourceSpec::Cone {
            position_mm: [0.0, 0.0, -10.0],
            direction: [0.0, 0.0, 1.0],
            half_angle_deg: 10.0,
            emission: Emission::Positrons(Energies::Radionuclide {
                name: "Lu-177".into(),
            }),
        },
        SourceSpec::Parallel {
            position_mm: [0.0, 0.0, -10.0],
            direction: [0.0, 0.0, 1.0],
            field_mm: [4.0, 6.0],
            emission: Emission::Beta {
                radionuclide: "Y-90".into(),
            },
        },
        SourceSpec::Seeds {
            model: SeedModelName::Model6711,
            energies: Energies::Radionuclide {
                name: "I-125".into(),
            },
            seeds: vec![SeedPlacement {
                position_mm: [0.0; 3],
                axis: [0.0, 0.0, 1.0],
                weight: 1.0,
            }],
            plaque: None,
        },
        SourceSpec::Seeds {
            model: SeedModelName::TheraSeed200,
            energies: Energies::Radionuclide {
                name: "Pd-103".into(),
            },
            seeds: Vec::new(),
            plaque: Some(PlaqueSpec {
                name: "coms-12".into(),
                eye_centre_mm: [1.0, 2.0, 3.0],
                direction: [0.0, 1.0, 0.0],
                rotation_deg: 30.0,
                strengths: Some(vec![1.0, 1.0, 0.5, 0.0, 1.0, 1.0, 1.0, 2.0]),
                empty: vec![2],
            }),
        },
    ];
    for source in sources {
        let charged = source
            .emission()
            .is_some_and(|e| e.particle() != Particle::Photon);
        let mut physics = PhysicsSpec::default();
        physics.electrons.transport = charged;
        let sim = Simulation::builder(phantom.clone(), source)
            .histories(10)
            .tally(if charged {
                TallyKind::Analog
            } else {
                TallyKind::Kerma
            })
            .physics(physics)
            .build()
            .unwrap_or_else(|e| panic!("{}", e.chain()));
        let json = serde_json::to_string(&sim).unwrap_or_else(|e| panic!("{e}"));
        let back: Simulation = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, sim, "{json}");
        let text = toml::to_string(&sim).unwrap_or_else(|e| panic!("{e}"));
        let mut from_file = read(&text).unwrap_or_else(|e| panic!("{}", e.chain()));
        from_file.base_dir = PathBuf::new();
        assert_eq!(from_file, sim);
        sim.source().unwrap_or_else(|e| panic!("{}", e.chain()));
        sim.phantom().unwrap_or_else(|e| panic!("{}", e.chain()));
    }
    let ct = PhantomSpec::ct("ct.mha");
    let json = serde_json::to_string(&ct).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(json, r#"{"ct_mha":"ct.mha","insert":[]}"#);
    // The builder checks what a file is checked for.
    let point = SourceSpec::Point {
        position_mm: [0.0; 3],
        emission: photons(0.5),
    };
    let e = Simulation::builder(phantom, point)
        .histories(10)
        .build()
        .unwrap_err()
        .chain();
    assert!(
        e.contains("source.energy_kev: 0.5; expected 1 to 100000 keV"),
        "{e}"
    );
}

/// Issue 20: a field that the kind does not take was silently ignored (a `direction` on a
/// point source, a `density` on a CT); it is refused, naming the field and what the kind
/// takes.
#[test]
fn a_field_the_kind_does_not_take_is_refused() {
    let point = "[source]\nkind = 'point'\nposition_mm = [0.0, 0.0, 0.0]\nenergy_kev = 30.0\n";
    for (text, says) in [
        (
            format!("{BOX}{point}direction = [0.0, 0.0, 1.0]\n"),
            "source.direction: does not apply to a point source",
        ),
        (
            format!("{BOX}{point}model = '6711'\n"),
            "source.model: does not apply to a point source",
        ),
        (
            format!(
                "{BOX}[source]\nkind = 'seeds'\nmodel = '6711'\nradionuclide = 'I-125'\nposition_mm = [0.0, 0.0, 0.0]\n"
            ),
            "source.position_mm: does not apply to a seeds source",
        ),
        (
            format!(
                "{BOX}[source]\nkind = 'seeds'\nmodel = '6711'\nradionuclide = 'I-125'\nparticle = 'electron'\n"
            ),
            "source.particle: seeds emit photons only",
        ),
        (
            format!("histories = 10\n[phantom]\nct_mha = 'ct.mha'\ndensity = 1.0\n{point}"),
            "phantom.density: does not apply to a CT phantom",
        ),
        (
            format!(
                "{BOX}[[phantom.insert]]\nmaterial = 'water'\nshape = 'sphere'\ncentre_mm = [0.0, 0.0, 0.0]\nradius_mm = 1.0\nlength_mm = 2.0\n{point}"
            ),
            "phantom.insert[0].length_mm: does not apply to a sphere",
        ),
        (
            format!(
                "{BOX}[source]\nkind = 'point'\nposition_mm = [0.0, 0.0, 0.0]\nparticle = 'beta'\nradionuclide = 'Y-90'\nenergy_kev = 30.0\n"
            ),
            "source: a beta source takes its energies from the radionuclide only",
        ),
    ] {
        let e = read(&text).unwrap_err().chain();
        assert!(e.contains(says), "{text}\n{e}");
    }
}

/// The error of `text` read as a file, with its causes.
pub(super) fn refused(text: &str) -> String {
    read(text).map(|_| ()).unwrap_err().chain()
}

pub(super) const PT: &str =
    "[source]\nkind = 'point'\nposition_mm = [0.0, 0.0, 0.0]\nenergy_kev = 100.0\n";

/// Attack round on the typed parser (issue 20), findings 1 and 2: a direction or an axis of
/// 1e-200 or 1e200 passed (it is not zero and it is finite), and its length then underflowed or
/// overflowed: a cone source looped for ever, a pencil deposited nothing or 7 times too much, a
/// cylinder became a sphere and a shell cap vanished.
#[test]
fn attack_20_01_directions_and_axes_of_extreme_size_are_refused() {
    for (source, says) in [
        (
            "[source]\nkind = 'cone'\nposition_mm = [0.0, 0.0, -4.0]\ndirection = [0.0, 0.0, 1e-200]\nhalf_angle_deg = 10.0\nenergy_kev = 100.0\n",
            "source.direction",
        ),
        (
            "[source]\nkind = 'parallel'\nposition_mm = [0.0, 0.0, -4.0]\ndirection = [0.0, 0.0, 1e200]\nfield_mm = [2.0, 2.0]\nenergy_kev = 100.0\n",
            "source.direction",
        ),
        (
            "[source]\nkind = 'pencil'\nposition_mm = [0.0, 0.0, -4.0]\ndirection = [0.0, 0.0, 1e-200]\nenergy_kev = 100.0\n",
            "source.direction",
        ),
        (
            "[source]\nkind = 'seeds'\nmodel = '6711'\nradionuclide = 'I-125'\n[[source.seeds]]\nposition_mm = [0.0, 0.0, 0.0]\naxis = [1e200, 0.0, 0.0]\n",
            "source.seeds[0].axis",
        ),
    ] {
        let e = refused(&format!("{BOX}{source}"));
        assert!(e.contains(says) && e.contains("moderate size"), "{e}");
    }
    // A squared length in the subnormals: its root is inexact (0.72 instead of 1 once divided).
    let e = refused(&format!(
        "{BOX}[source]\nkind = 'pencil'\nposition_mm = [0.0, 0.0, -4.0]\ndirection = [0.0, 0.0, 1.6e-162]\nenergy_kev = 100.0\n"
    ));
    assert!(e.contains("source.direction"), "{e}");
    for insert in [
        "shape = 'cylinder'\ncentre_mm = [0.0, 0.0, 0.0]\naxis = [1e200, 0.0, 0.0]\nradius_mm = 2.0\nlength_mm = 2.0",
        "shape = 'shell'\ncentre_mm = [0.0, 0.0, 0.0]\naxis = [0.0, 0.0, 1e200]\ninner_radius_mm = 1.0\nradius_mm = 4.0\nhalf_angle_deg = 60.0",
        "shape = 'tube'\ncentre_mm = [0.0, 0.0, 0.0]\naxis = [0.0, 1e-200, 0.0]\ninner_radius_mm = 1.0\nradius_mm = 2.0\nlength_mm = 2.0",
    ] {
        let e = refused(&format!(
            "{BOX}[[phantom.insert]]\nmaterial = 'air'\n{insert}\n{PT}"
        ));
        assert!(e.contains("phantom.insert[0].axis"), "{e}");
    }
}

/// Findings 3 and 10: values that a file accepted but JSON cannot carry (infinity, NaN) made a
/// grid run fail in its workers; electron options were not checked with transport off; seeds
/// were not checked one by one; seeds on a point source were ignored.
#[test]
fn attack_20_03_what_a_file_accepts_survives_the_trip_to_the_workers() {
    for (more, says) in [
        (
            "[physics.electrons]\ntransport = true\nrange_rejection_max_ev = inf\n",
            "physics.electrons.range_rejection_max_ev",
        ),
        (
            "[physics.electrons]\ntransport = true\ndelta_threshold_ev = inf\n",
            "physics.electrons.delta_threshold_ev",
        ),
        (
            "[physics.electrons]\ntransport = false\ncutoff_ev = nan\n",
            "physics.electrons.cutoff_ev",
        ),
        (
            "[physics.electrons]\nelastic_c1 = -5.0\n",
            "physics.electrons.elastic_c1",
        ),
    ] {
        let tally = if more.contains("transport = true") {
            "tally = 'analog'\n"
        } else {
            ""
        };
        let e = refused(&format!("{tally}{BOX}{PT}{more}"));
        assert!(e.contains(says), "{more}: {e}");
    }
    let seeds = |seed: &str| {
        format!(
            "{BOX}[source]\nkind = 'seeds'\nmodel = '6711'\nradionuclide = 'I-125'\n[[source.seeds]]\n{seed}\n"
        )
    };
    let e = refused(&seeds(
        "position_mm = [0.0, 0.0, 0.0]\naxis = [0.0, 0.0, 1.0]\nweight = nan",
    ));
    assert!(e.contains("source.seeds[0].weight"), "{e}");
    // An empty slot of a plaque (weight 0) beside a loaded one.
    read(&seeds(
        "position_mm = [0.0, 0.0, 0.0]\naxis = [0.0, 0.0, 1.0]\nweight = 0.0\n[[source.seeds]]\nposition_mm = [1.0, 0.0, 0.0]\naxis = [0.0, 0.0, 1.0]",
    ))
    .and_then(|s| s.source())
    .unwrap_or_else(|e| panic!("{}", e.chain()));
    let e = refused(&seeds(
        "position_mm = [inf, 0.0, 0.0]\naxis = [0.0, 0.0, 1.0]",
    ));
    assert!(e.contains("source.seeds[0].position_mm"), "{e}");
    let e = refused(&format!(
        "{BOX}{PT}[[source.seeds]]\nposition_mm = [0.0, 0.0, 0.0]\naxis = [0.0, 0.0, 1.0]\n"
    ));
    assert!(
        e.contains("source.seeds: does not apply to a point source"),
        "{e}"
    );
    // What earlier versions wrote for every simulation (`seeds: []`, and the default origin
    // with a CT) is read as absent: their `simulation.json` files still load.
    let old = r#"{"histories":10,"seed":1,"batch_size":250000,"tally":"kerma",
        "phantom":{"dims":null,"spacing_mm":null,"origin_mm":[0.0,0.0,0.0],"material":null,
        "density":null,"ct_mha":"ct.mha","hu_table":null,"insert":[]},
        "source":{"kind":"point","position_mm":[0.0,0.0,0.0],"direction":null,
        "half_angle_deg":null,"field_mm":null,"energy_kev":100.0,"lines_kev":null,
        "radionuclide":null,"model":null,"seeds":[],"particle":null},
        "physics":{"fluorescence":true,"coherent":true,"photon_cutoff_ev":1000.0,
        "material_cutoffs_ev":{},"tracking":"woodcock","electrons":{"transport":false,
        "cutoff_ev":10000.0,"delta_threshold_ev":10000.0,"bremsstrahlung_threshold_ev":10000.0,
        "elastic_c1":0.2,"max_energy_loss":0.08,"range_rejection":true,
        "range_rejection_max_ev":2000000.0}},"absolute":null,"scoring":null}"#;
    let sim: Simulation = serde_json::from_str(old).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sim.phantom, PhantomSpec::ct("ct.mha"));
    assert_eq!(sim.source.kind(), SourceKind::Point);
    // What is accepted comes back from JSON.
    let sim = read(&format!(
        "tally = 'analog'\n{BOX}{PT}[physics.electrons]\ntransport = true\nrange_rejection_max_ev = 1e9\n"
    ))
    .unwrap_or_else(|e| panic!("{}", e.chain()));
    let json = serde_json::to_string(&sim).unwrap_or_else(|e| panic!("{e}"));
    let mut back: Simulation = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
    back.base_dir = sim.base_dir.clone();
    assert_eq!(back, sim);
}

/// Findings 4 and 8: the I-125 activity path skipped the check for a finite, positive number of
/// histories (a dose of inf or 0 Gy), and "i-125" was read with ICRP-107's lines where "I-125"
/// has TG-43U1's (10 % apart in absolute dose).
#[test]
fn attack_20_04_i125_is_one_nuclide_however_spelt_and_its_activity_is_bounded() {
    let i125 = |name: &str, bq: &str, s: &str| {
        read(&format!(
            "{BOX}[source]\nkind = 'point'\nposition_mm = [0.0, 0.0, 0.0]\nradionuclide = '{name}'\n[absolute]\nactivity_bq = {bq}\ntime_s = {s}\n"
        ))
        .and_then(|sim| sim.histories_represented())
    };
    for (bq, s) in [("1e200", "1e200"), ("1e-200", "1e-200")] {
        let e = i125("I-125", bq, s).unwrap_err().chain();
        assert!(e.contains("absolute"), "{e}");
    }
    let want = i125("I-125", "1e6", "3600.0").unwrap_or_else(|e| panic!("{}", e.chain()));
    for name in ["I125", "i-125", "i125"] {
        let got = i125(name, "1e6", "3600.0").unwrap_or_else(|e| panic!("{}", e.chain()));
        assert_eq!(got, want, "{name}");
    }
    let tg43 = read(&format!(
        "{BOX}[source]\nkind = 'point'\nposition_mm = [0.0, 0.0, 0.0]\nradionuclide = 'i-125'\n"
    ))
    .and_then(|s| s.source.spectrum())
    .unwrap_or_else(|e| panic!("{}", e.chain()));
    assert_eq!(
        tg43,
        Spectrum::lines(&crate::source::brachy::I125_LINES).unwrap_or_else(|e| panic!("{e}"))
    );
}

/// Findings 5 and 12: a density of 1e39 became inf in the phantom's f32 (an error naming a
/// voxel, not the field) and 1e-50 became a vacuum; `phantom()` and `transport()` did not check
/// a simulation changed after it was read.
#[test]
fn attack_20_05_densities_stay_in_range_and_every_entry_point_checks() {
    for (density, field_name) in [
        ("density = 1e39\n", "phantom.density"),
        ("density = 1e-50\n", "phantom.density"),
    ] {
        let e = refused(&format!("{BOX}{density}{PT}"));
        assert!(e.contains(field_name), "{e}");
    }
    let e = refused(&format!(
        "{BOX}[[phantom.insert]]\nmaterial = 'water'\nshape = 'sphere'\ncentre_mm = [0.0, 0.0, 0.0]\nradius_mm = 1.0\ndensity = 1e39\n{PT}"
    ));
    assert!(e.contains("phantom.insert[0].density"), "{e}");
    let mut sim = read(&format!("{BOX}{PT}")).unwrap_or_else(|e| panic!("{}", e.chain()));
    if let PhantomBody::Box { density, .. } = &mut sim.phantom.body {
        *density = Some(0.0);
    }
    let e = sim.phantom().map(|_| ()).unwrap_err().chain();
    assert!(e.contains("phantom.density"), "{e}");
    let e = sim.transport(1).map(|_| ()).unwrap_err().chain();
    assert!(e.contains("phantom.density"), "{e}");
    sim.phantom = PhantomSpec::boxed([4, 4, 4], [1.0; 3], [0.0; 3], "water");
    sim.physics.photon_cutoff_ev = f64::NAN;
    let e = sim.source().map(|_| ()).unwrap_err().chain();
    assert!(e.contains("physics.photon_cutoff_ev"), "{e}");
}

/// Findings 6, 7 and 9: an HU table's first segment was not checked (a NaN bound mapped every
/// voxel to one material) and its mixture steps were unbounded (568 MB for a 1.7 MB table); a
/// phantom could have any number of inserts (minutes of voxelisation); a photon cutoff of 1e308
/// eV, or above every source energy, gave a dose of zero.
#[test]
fn attack_20_06_tables_inserts_and_cutoffs_are_bounded() {
    let table = |segments: &str| -> Result<()> {
        let t: HuTable = toml::from_str(&format!(
            "density = [[-1000.0, 0.001], [3000.0, 2.9]]\n{segments}"
        ))
        .map_err(|e| field("hu", e.to_string()))?;
        t.prepare().map(|_| ())
    };
    let e =
        table("[[segment]]\nmax_hu = nan\nmix = ['water', 'cortical_bone_icru44']\nsteps = 3\n")
            .unwrap_err()
            .chain();
    assert!(e.contains("segment[0].max_hu"), "{e}");
    let many: String = (0..70)
        .map(|i| {
            format!(
                "[[segment]]\nmax_hu = {}.0\nmix = ['water', 'cortical_bone_icru44']\nsteps = 1000\n",
                -900 + i * 10
            )
        })
        .collect();
    let e = table(&many).unwrap_err().chain();
    assert!(e.contains("70000 materials"), "{e}");
    let inserts: String = (0..=MAX_INSERTS)
        .map(|_| "[[phantom.insert]]\nmaterial = 'water'\nmin_mm = [0.0, 0.0, 0.0]\nmax_mm = [1.0, 1.0, 1.0]\n")
        .collect();
    let e = refused(&format!("{BOX}{inserts}{PT}"));
    assert!(
        e.contains("phantom.insert") && e.contains("1001 inserts"),
        "{e}"
    );
    let e = refused(&format!("{BOX}{PT}[physics]\nphoton_cutoff_ev = 1e308\n"));
    assert!(e.contains("physics.photon_cutoff_ev"), "{e}");
    let e = refused(&format!(
        "{BOX}{PT}[physics]\nphoton_cutoff_ev = 100001.0\n"
    ));
    assert!(e.contains("no photon would be transported"), "{e}");
    // At the cutoff a photon is still transported; a material may absorb everything.
    read(&format!(
        "{BOX}{PT}[physics]\nphoton_cutoff_ev = 100000.0\nmaterial_cutoffs_ev = {{ water = 1e9 }}\n"
    ))
    .unwrap_or_else(|e| panic!("{}", e.chain()));
}

/// Finding 11: a box insert with min_mm above max_mm named the insert, not the field; a file
/// ending in `.JSON` was read as TOML.
#[test]
fn attack_20_11_errors_name_the_field_and_json_is_json_in_any_case() {
    let e = refused(&format!(
        "{BOX}[[phantom.insert]]\nmaterial = 'water'\nmin_mm = [1.0, 0.0, 0.0]\nmax_mm = [0.0, 1.0, 1.0]\n{PT}"
    ));
    assert!(e.contains("phantom.insert[0].max_mm"), "{e}");
    let sim = read(&format!("{BOX}{PT}")).unwrap_or_else(|e| panic!("{}", e.chain()));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("SIM.JSON");
    std::fs::write(
        &path,
        serde_json::to_string(&sim).unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut back = Simulation::from_file(&path).unwrap_or_else(|e| panic!("{}", e.chain()));
    back.base_dir = sim.base_dir.clone();
    assert_eq!(back, sim);
}
