//! Issue 27, bounded fuzz loop over simulation files: arbitrary edits of valid files (numbers
//! pushed to the limits of their types, fields cut or doubled) are read, checked and turned into
//! sources and small phantoms without a panic: each ends in a value or an error naming a field.
#![allow(clippy::unwrap_used, missing_docs)]

use hope_mc::Simulation;
use proptest::prelude::*;

const FILES: [&str; 4] = [
    "histories = 100\nseed = 3\n[phantom]\ndims = [4, 4, 4]\nspacing_mm = [2.0, 2.0, 2.0]\norigin_mm = [-3.0, -3.0, -3.0]\nmaterial = 'water'\ndensity = 1.0\n[[phantom.insert]]\nmaterial = 'lung_icru44'\nshape = 'sphere'\ncentre_mm = [0.0, 0.0, 0.0]\nradius_mm = 2.0\ndensity = 0.26\n[source]\nkind = 'point'\nposition_mm = [0.0, 0.0, 0.0]\nlines_kev = [[27.0, 0.7], [31.0, 0.3]]\n[absolute]\nphotons_per_s = 1e9\ntime_s = 60.0\n",
    "histories = 100\n[phantom]\ndims = [4, 4, 4]\nspacing_mm = [1.0, 1.0, 1.0]\nmaterial = 'water'\n[source]\nkind = 'seeds'\nmodel = '6711'\nradionuclide = 'I-125'\n[[source.seeds]]\nposition_mm = [0.0, 0.0, 0.0]\naxis = [0.0, 0.0, 1.0]\nweight = 1.0\n[absolute]\nair_kerma_strength_u = 4.0\ntime_h = 100.0\n",
    "histories = 100\nbatch_size = 10\n[phantom]\ndims = [3, 3, 3]\nspacing_mm = [5.0, 5.0, 5.0]\nmaterial = 'water'\n[source]\nkind = 'beam'\nposition_mm = [0.0, 0.0, -50.0]\ndirection = [0.0, 0.0, 1.0]\nfield_mm = [10.0, 10.0]\nenergy_kev = 1250.0\n[scoring]\ndims = [2, 2, 2]\nspacing_mm = [5.0, 5.0, 5.0]\norigin_mm = [0.0, 0.0, 0.0]\n",
    "histories = 100\n[phantom]\ndims = [6, 6, 6]\nspacing_mm = [5.0, 5.0, 5.0]\norigin_mm = [-12.5, -12.5, -12.5]\nmaterial = 'water'\n[source]\nkind = 'seeds'\nmodel = 'theraseed-200'\nradionuclide = 'Pd-103'\n[source.plaque]\nname = 'coms-12'\neye_centre_mm = [0.0, 0.0, 0.0]\ndirection = [0.0, 0.0, -1.0]\nrotation_deg = 10.0\nstrengths = [1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0]\nempty = [2]\n",
];

fn edits() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("1e308".to_string()),
        Just("-1e308".to_string()),
        Just("nan".to_string()),
        Just("inf".to_string()),
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("18446744073709551615".to_string()),
        Just("9223372036854775807".to_string()),
        Just("4294967296".to_string()),
        Just("[]".to_string()),
        Just("[[1e12, 1.0]]".to_string()),
        Just("'unknown'".to_string()),
        "[ -~\n]{0,12}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn edited_simulation_files_never_panic(which in 0usize..4, at in 0usize..1000, cut in 0usize..8, edit in edits()) {
        let mut text = FILES[which].to_string();
        let at = (at % text.len()).min(text.len());
        let at = (0..=at).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        let end = (at + cut).min(text.len());
        let end = (end..=text.len()).find(|i| text.is_char_boundary(*i)).unwrap_or(text.len());
        text.replace_range(at..end, &edit);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sim.toml");
        std::fs::write(&path, &text).unwrap();
        if let Ok(sim) = Simulation::from_file(&path) {
            let _ = sim.source();
            let _ = sim.histories_represented().map(|n| {
                if let Some(n) = n {
                    assert!(n.is_finite() && n > 0.0, "{n} histories represented");
                }
            });
            let count = |d: &[usize; 3]| d.iter().try_fold(1usize, |a, &n| a.checked_mul(n)).unwrap_or(usize::MAX);
            let small = sim.phantom.dims().is_none_or(|d| count(&d) <= 100_000)
                && sim.scoring.as_ref().is_none_or(|s| count(&s.dims) <= 100_000);
            if small {
                let _ = sim.transport(1);
            }
        }
    }
}

/// Issue 26: a plaque source's bad values are refused naming the field.
#[test]
fn bad_plaque_sources_are_refused_naming_the_field() {
    let base = FILES[3];
    let cases = [
        ("name = 'coms-12'", "name = 'coms-13'", "source.plaque.name"),
        (
            "strengths = [1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0]",
            "strengths = [1.0]",
            "source.plaque.strengths",
        ),
        (
            "strengths = [1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0]",
            "strengths = [1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, nan]",
            "source.plaque.strengths[7]",
        ),
        (
            "strengths = [1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0]",
            "strengths = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]",
            "source.plaque.strengths",
        ),
        ("empty = [2]", "empty = [9]", "source.plaque.empty"),
        ("empty = [2]", "empty = [0]", "source.plaque.empty"),
        (
            "direction = [0.0, 0.0, -1.0]",
            "direction = [0.0, 0.0, 0.0]",
            "source.plaque.direction",
        ),
        (
            "eye_centre_mm = [0.0, 0.0, 0.0]",
            "eye_centre_mm = [0.0, nan, 0.0]",
            "source.plaque.eye_centre_mm",
        ),
        (
            "rotation_deg = 10.0",
            "rotation_deg = 1e300",
            "source.plaque.rotation_deg",
        ),
        ("rotation_deg = 10.0", "rotation_deg = 10.0\nlip = 3", "lip"),
        (
            "[source.plaque]",
            "[[source.seeds]]\nposition_mm = [0.0, 0.0, 0.0]\naxis = [0.0, 0.0, 1.0]\n[source.plaque]",
            "source.seeds",
        ),
    ];
    for (from, to, field) in cases {
        assert!(base.contains(from), "{from}");
        let text = base.replace(from, to);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sim.toml");
        std::fs::write(&path, &text).unwrap();
        let err = Simulation::from_file(&path)
            .and_then(|s| s.source().map(|_| ()))
            .expect_err(to);
        let chain = err.chain().to_string();
        assert!(chain.contains(field), "{to}: {chain}");
    }
    // The file as it stands is accepted, and a point outside the plaque of a huge eye centre is
    // refused when the source is made, not run.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sim.toml");
    std::fs::write(&path, base).unwrap();
    Simulation::from_file(&path).unwrap().source().unwrap();
    std::fs::write(
        &path,
        base.replace(
            "eye_centre_mm = [0.0, 0.0, 0.0]",
            "eye_centre_mm = [0.0, 1e300, 0.0]",
        ),
    )
    .unwrap();
    let err = Simulation::from_file(&path)
        .and_then(|s| s.source().map(|_| ()))
        .expect_err("huge eye centre");
    assert!(
        err.chain().to_string().contains("eye centre"),
        "{}",
        err.chain()
    );
}

/// Issue 24: `[variance_reduction]` is read, checked naming the field, and refuses unknown keys;
/// a file without it is the analog engine.
#[test]
fn variance_reduction_sections_are_read_and_bad_ones_refused_naming_the_field() {
    let base = FILES[0];
    let read = |text: &str| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sim.toml");
        std::fs::write(&path, text).unwrap();
        Simulation::from_file(&path)
    };
    let analog = read(base).unwrap();
    assert!(analog.variance_reduction.is_analog());
    let split = read(&format!(
        "{base}[variance_reduction]\nphoton_splitting = 16\nstratified = false\n"
    ))
    .unwrap();
    assert_eq!(split.variance_reduction.photon_splitting, 16);
    assert!(!split.variance_reduction.stratified && split.variance_reduction.russian_roulette);
    assert_eq!(
        split.run_options(1).variance_reduction,
        split.variance_reduction
    );
    for (section, field) in [
        (
            "photon_splitting = 0",
            "variance_reduction.photon_splitting",
        ),
        (
            "photon_splitting = 1025",
            "variance_reduction.photon_splitting",
        ),
        ("photon_splitting = -3", "photon_splitting"),
        ("photon_spliting = 4", "photon_spliting"),
        ("russian_roulette = 'yes'", "russian_roulette"),
    ] {
        let err = read(&format!("{base}[variance_reduction]\n{section}\n")).expect_err(section);
        let chain = err.chain().to_string();
        assert!(chain.contains(field), "{section}: {chain}");
    }
    // Particle recycling is read, and refused where it could do nothing (no seeds).
    let recycled = read(&format!(
        "{base}[variance_reduction]\nparticle_recycling = true\n"
    ))
    .unwrap();
    assert!(recycled.variance_reduction.particle_recycling);
    assert!(!recycled.variance_reduction.is_analog());
    assert!(!base.contains("kind = \"seeds\""));
    let err = recycled
        .prepare(1)
        .map(|_| ())
        .expect_err("recycling without seeds");
    assert!(
        err.chain()
            .to_string()
            .contains("variance_reduction.particle_recycling"),
        "{}",
        err.chain()
    );
}
