//! The format of issue 23: physics presets and switches, materials of the file's own, divergent
//! and finite beams, histogram spectra.

use super::tests::{BOX, PT, read, refused};
use super::*;
use crate::physics::{ComptonModel, Relaxation};

/// The flat `[physics]` keys of a section as TOML values (`electrons.x` for the subsection).
fn physics_keys(p: &PhysicsSpec) -> std::collections::BTreeMap<String, toml::Value> {
    let mut out = std::collections::BTreeMap::new();
    let toml::Value::Table(t) = toml::Value::try_from(p).unwrap_or_else(|e| panic!("{e}")) else {
        panic!("not a table");
    };
    for (k, v) in t {
        match v {
            toml::Value::Table(sub) => {
                for (kk, vv) in sub {
                    out.insert(format!("{k}.{kk}"), vv);
                }
            }
            v => {
                out.insert(k, v);
            }
        }
    }
    out
}

#[test]
fn a_preset_sets_what_it_lists_and_nothing_else() {
    let default = physics_keys(&PhysicsSpec::default());
    for preset in [Preset::EgsnrcDosxyz, Preset::EgsBrachy] {
        let spec = PhysicsSpec::preset(preset);
        assert_eq!(spec.preset, Some(preset));
        let got = physics_keys(&spec);
        let listed: std::collections::BTreeMap<String, toml::Value> = preset
            .settings()
            .iter()
            .map(|(k, v)| {
                let t: toml::Table =
                    toml::from_str(&format!("v = {v}")).unwrap_or_else(|e| panic!("{k}: {e}"));
                ((*k).to_string(), t["v"].clone())
            })
            .collect();
        for (key, value) in &got {
            if key == "preset" {
                continue;
            }
            match listed.get(key) {
                Some(want) => assert_eq!(value, want, "{preset:?}: {key}"),
                None => assert_eq!(Some(value), default.get(key), "{preset:?} changes {key}"),
            }
        }
        assert!(listed.keys().all(|k| got.contains_key(k)), "{preset:?}");
    }
    // The format's documentation lists each setting, in the preset's paragraph.
    let docs: String = include_str!("mod.rs")
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .collect::<Vec<_>>()
        .join(" ");
    for (preset, name) in [
        (Preset::EgsnrcDosxyz, "`egsnrc-dosxyz`"),
        (Preset::EgsBrachy, "`egs-brachy`"),
    ] {
        let from = docs
            .find(&format!("{name} ("))
            .unwrap_or_else(|| panic!("{name}"));
        // From the name to the end of its sentence list (the next preset or bullet).
        let paragraph = &docs[from + name.len()..];
        let listed = &paragraph[..paragraph
            .find("`egs")
            .or_else(|| paragraph.find("- **"))
            .unwrap_or(paragraph.len())];
        for (k, v) in preset.settings() {
            assert!(
                listed.contains(&format!("`{k} = {v}`")),
                "{name}: `{k} = {v}` not in the docs: {listed}"
            );
        }
    }
    // DOSXYZnrc's settings: what the EGSnrc runs of physics.md used.
    let d = PhysicsSpec::preset(Preset::EgsnrcDosxyz);
    assert_eq!(
        (d.relaxation, d.rayleigh, d.compton, d.photoelectron_angular),
        (Relaxation::None, false, ComptonModel::Free, false)
    );
    assert!(d.electrons.transport && !d.electrons.range_rejection);
    assert_eq!((d.photon_cutoff_ev, d.electrons.cutoff_ev), (10e3, 10e3));
}

#[test]
fn a_files_own_keys_win_over_its_preset_and_old_keys_still_read() {
    let sim = read(&format!(
        "{BOX}{PT}[physics]\npreset = 'egsnrc-dosxyz'\nrayleigh = true\n[physics.electrons]\nrange_rejection = true\n"
    ))
    .unwrap_or_else(|e| panic!("{}", e.chain()));
    let p = &sim.physics;
    assert!(p.rayleigh && p.electrons.range_rejection && p.electrons.transport);
    assert_eq!(
        (p.compton, p.relaxation),
        (ComptonModel::Free, Relaxation::None)
    );
    // With electron transport and no `tally`, the estimator is the absorbed dose.
    assert_eq!(sim.tally_kind(), TallyKind::Analog);
    // The worker's copy reads back the same.
    let json = serde_json::to_string(&sim).unwrap_or_else(|e| panic!("{e}"));
    let back: Simulation = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back.physics, sim.physics);
    // Earlier versions' switches.
    let old = read(&format!(
        "{BOX}{PT}[physics]\nfluorescence = false\ncoherent = false\n"
    ))
    .unwrap_or_else(|e| panic!("{}", e.chain()));
    assert_eq!(old.physics.relaxation, Relaxation::None);
    assert!(!old.physics.rayleigh);
    assert_eq!(old.tally_kind(), TallyKind::Kerma);
    // Unknown values name the field and what it takes.
    let e = refused(&format!("{BOX}{PT}[physics]\npreset = 'dosxyz'\n"));
    assert!(
        e.contains("preset") && e.contains("egsnrc-dosxyz, egs-brachy"),
        "{e}"
    );
    let e = refused(&format!("{BOX}{PT}[physics]\ncompton = 'doppler'\n"));
    assert!(
        e.contains("doppler") && e.contains("free") && e.contains("bound"),
        "{e}"
    );
    let e = refused(&format!("{BOX}{PT}[physics]\nrelaxation = 'l'\n"));
    assert!(e.contains("none, k, full"), "{e}");
    let e = refused(&format!("{BOX}{PT}[physics]\nrayleigh_scattering = true\n"));
    assert!(e.contains("rayleigh_scattering"), "{e}");
}

#[test]
fn a_file_defines_materials_by_composition_or_formula() {
    let text = format!(
        "{BOX}{PT}[materials.tg129]\ndensity = 1.12\ncomposition = {{ H = 0.063, C = 0.249, O = 0.289, Si = 0.399, Pt = 5e-5 }}\n\
         [materials.hydroxyapatite]\ndensity = 3.16\nformula = 'Ca10(PO4)6(OH)2'\n\
         [[phantom.insert]]\nmaterial = 'tg129'\nshape = 'sphere'\ncentre_mm = [0.0, 0.0, 0.0]\nradius_mm = 1.0\n\
         [[phantom.insert]]\nmaterial = 'hydroxyapatite'\ndensity = 1.5\nshape = 'sphere'\ncentre_mm = [1.0, 1.0, 1.0]\nradius_mm = 0.5\n\
         [physics]\nmaterial_cutoffs_ev = {{ tg129 = 5000.0 }}\n"
    );
    let sim = read(&text).unwrap_or_else(|e| panic!("{}", e.chain()));
    let silastic = sim
        .material("tg129", "test")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(silastic.density(), 1.12);
    let builtin = Material::builtin("silastic").unwrap_or_else(|e| panic!("{e}"));
    assert!((silastic.mu_rho(28e3) / builtin.mu_rho(28e3) - 1.0).abs() < 1e-6);
    let ha = sim
        .material("hydroxyapatite", "test")
        .unwrap_or_else(|e| panic!("{e}"));
    // Ca: 10 x 40.078 / 1004.6 g/mol.
    let ca = ha
        .composition()
        .iter()
        .find(|c| c.0 == 20)
        .map_or(0.0, |c| c.1);
    assert!((ca - 0.3989).abs() < 5e-4, "{ca}");
    let (_, materials, _, _) = sim.phantom().unwrap_or_else(|e| panic!("{e}")).into_parts();
    assert!(materials.iter().any(|m| m.name() == "tg129"));
    assert!(materials.iter().any(|m| m.name() == "hydroxyapatite"));
    // Errors name the field.
    for (section, says) in [
        (
            "[materials.water]\ndensity = 1.0\nformula = 'H2O'\n",
            "materials.water",
        ),
        (
            "[materials.x]\ndensity = 1.0\n",
            "composition (mass fractions by element) or formula",
        ),
        (
            "[materials.x]\ndensity = 1.0\nformula = 'H2O'\ncomposition = { H = 1.0 }\n",
            "both",
        ),
        (
            "[materials.x]\ndensity = 1.0\ncomposition = { SI = 1.0 }\n",
            "materials.x.composition.SI",
        ),
        (
            "[materials.x]\ndensity = -1.0\nformula = 'H2O'\n",
            "materials.x.density",
        ),
        (
            "[materials.x]\ndensity = 1.0\nformula = 'H2(O'\n",
            "materials.x.formula",
        ),
        (
            "[materials.x]\ndensity = 1.0\nformula = 'H2O'\nname = 'y'\n",
            "name",
        ),
    ] {
        let e = refused(&format!("{BOX}{PT}{section}"));
        assert!(e.contains(says), "{section}: {e}");
    }
    let e = refused(&format!(
        "{BOX}{PT}[[phantom.insert]]\nmaterial = 'nothing'\nshape = 'sphere'\ncentre_mm = [0.0, 0.0, 0.0]\nradius_mm = 1.0\n"
    ));
    assert!(
        e.contains("phantom.insert[0].material") && e.contains("[materials]"),
        "{e}"
    );
    let many: String = (0..=MAX_MATERIALS)
        .map(|i| format!("[materials.m{i}]\ndensity = 1.0\nformula = 'H2O'\n"))
        .collect();
    let e = refused(&format!("{BOX}{PT}{many}"));
    assert!(e.contains("materials") && e.contains("at most 256"), "{e}");
}

#[test]
fn divergent_fields_finite_pencils_and_spectra_are_read_from_files() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let sim_at = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        Simulation::from_file(&path)
    };
    std::fs::write(
        dir.path().join("six_mv.csv"),
        "# upper edge (keV), probability\n250, 0.1\n500 0.3\n1000,0.4\n\n6000, 0.2 # tail\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let sim = sim_at(
        "a.toml",
        &format!(
            "{BOX}[source]\nkind = 'divergent'\nposition_mm = [0.0, 0.0, -1000.0]\ndirection = [0.0, 0.0, 1.0]\n\
             distance_mm = 1000.0\nfield_mm = [100.0, 100.0]\nspectrum_file = 'six_mv.csv'\nspectrum_min_kev = 10.0\n"
        ),
    )
    .unwrap_or_else(|e| panic!("{}", e.chain()));
    // The file was read into the source: workers need no file.
    let SourceSpec::Divergent {
        field: FieldSpec::Rectangle { field_mm },
        emission: Emission::Photons(Energies::Histogram { min_kev, bins_kev }),
        ..
    } = &sim.source
    else {
        panic!("{:?}", sim.source);
    };
    assert_eq!(
        (*field_mm, *min_kev, bins_kev.len()),
        ([100.0, 100.0], 10.0, 4)
    );
    let mean = sim
        .source
        .spectrum()
        .unwrap_or_else(|e| panic!("{e}"))
        .mean();
    let want = 1e3 * (0.1 * 130.0 + 0.3 * 375.0 + 0.4 * 750.0 + 0.2 * 3500.0);
    assert!((mean / want - 1.0).abs() < 1e-9, "{mean} vs {want}");
    let json = serde_json::to_string(&sim).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        json.contains("spectrum_kev") && !json.contains("six_mv"),
        "{json}"
    );
    let back: Simulation = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back.source, sim.source);
    assert!(matches!(
        back.source().unwrap_or_else(|e| panic!("{e}")),
        Source::Divergent { .. }
    ));
    // A circle, a finite pencil, an inline histogram.
    let sim = sim_at(
        "b.toml",
        &format!(
            "{BOX}[source]\nkind = 'divergent'\nposition_mm = [0.0, 0.0, -1000.0]\ndirection = [0.0, 0.0, 1.0]\n\
             distance_mm = 1000.0\nradius_mm = 20.0\nspectrum_min_kev = 20.0\nspectrum_kev = [[30.0, 1.0], [40.0, 3.0]]\n"
        ),
    )
    .unwrap_or_else(|e| panic!("{}", e.chain()));
    assert!(matches!(
        sim.source,
        SourceSpec::Divergent { field: FieldSpec::Circle { radius_mm }, .. } if radius_mm == 20.0
    ));
    let sim = sim_at(
        "c.toml",
        &format!(
            "{BOX}[source]\nkind = 'pencil'\nposition_mm = [0.0, 0.0, -10.0]\ndirection = [0.0, 0.0, 1.0]\nradius_mm = 2.5\nenergy_kev = 100.0\n"
        ),
    )
    .unwrap_or_else(|e| panic!("{}", e.chain()));
    assert!(matches!(
        sim.source().unwrap_or_else(|e| panic!("{e}")),
        Source::Disc { radius_mm, .. } if radius_mm == 2.5
    ));
    // Errors name the field (and the file's line).
    let src = "[source]\nkind = 'divergent'\nposition_mm = [0.0, 0.0, -1000.0]\ndirection = [0.0, 0.0, 1.0]\n";
    std::fs::write(dir.path().join("bad.csv"), "250, 0.1\n500, x\n")
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("down.csv"), "250, 0.1\n200, 0.1\n")
        .unwrap_or_else(|e| panic!("{e}"));
    for (more, says) in [
        (
            "distance_mm = 1000.0\nfield_mm = [10.0, 10.0]\nradius_mm = 5.0\nenergy_kev = 100.0\n",
            "one of field_mm",
        ),
        (
            "field_mm = [10.0, 10.0]\nenergy_kev = 100.0\n",
            "source.distance_mm",
        ),
        (
            "distance_mm = -1.0\nradius_mm = 5.0\nenergy_kev = 100.0\n",
            "source.distance_mm",
        ),
        (
            "distance_mm = 1000.0\nradius_mm = 5.0\nspectrum_kev = [[30.0, 1.0]]\n",
            "spectrum_min_kev",
        ),
        (
            "distance_mm = 1000.0\nradius_mm = 5.0\nenergy_kev = 100.0\nspectrum_min_kev = 5.0\n",
            "applies to a histogram only",
        ),
        (
            "distance_mm = 1000.0\nradius_mm = 5.0\nspectrum_min_kev = 20.0\nspectrum_kev = [[30.0, 1.0], [25.0, 1.0]]\n",
            "source.spectrum_kev[1]",
        ),
        (
            "distance_mm = 1000.0\nradius_mm = 5.0\nspectrum_min_kev = 20.0\nspectrum_kev = [[30.0, -1.0]]\n",
            "probability -1",
        ),
        (
            "distance_mm = 1000.0\nradius_mm = 5.0\nspectrum_min_kev = 0.5\nspectrum_kev = [[30.0, 1.0]]\n",
            "source.spectrum_min_kev",
        ),
        (
            "distance_mm = 1000.0\nradius_mm = 5.0\nspectrum_min_kev = 20.0\nspectrum_file = 'bad.csv'\n",
            "bad.csv line 2",
        ),
        (
            "distance_mm = 1000.0\nradius_mm = 5.0\nspectrum_min_kev = 20.0\nspectrum_file = 'down.csv'\n",
            "down.csv line 2: upper edge",
        ),
        (
            "distance_mm = 1000.0\nradius_mm = 5.0\nspectrum_min_kev = 20.0\nspectrum_file = 'none.csv'\n",
            "source.spectrum_file",
        ),
    ] {
        let e = sim_at("bad.toml", &format!("{BOX}{src}{more}"))
            .map(|_| ())
            .unwrap_err()
            .chain();
        assert!(e.contains(says), "{more}: {e}");
    }
    let e = refused(&format!(
        "{BOX}[source]\nkind = 'point'\nposition_mm = [0.0, 0.0, 0.0]\nradius_mm = 1.0\nenergy_kev = 100.0\n"
    ));
    assert!(e.contains("source.radius_mm") && e.contains("point"), "{e}");
}
