//! The simulation format's documentation runs: every ```toml example of the manual page
//! (hope-mc/src/manual/simulation.md) and of the format's module docs is run through
//! `hope simulate` (with few histories), with the files the page gives beside it (a block
//! ```csv NAME). And what a run writes besides the dose: the phantom as run, the beam's
//! depth dose and profiles, CPU time.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::hope;
use hope::core::{Volume, metaimage};

/// The fenced blocks of a Markdown text: (info string, contents).
fn blocks(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(info) = t.strip_prefix("```") {
            match current.take() {
                Some(block) => out.push(block),
                None => current = Some((info.trim().to_string(), String::new())),
            }
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

fn documentation() -> Vec<(String, Vec<(String, String)>)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let manual = std::fs::read_to_string(root.join("hope-mc/src/manual/simulation.md")).unwrap();
    let module: String = std::fs::read_to_string(root.join("hope-mc/src/simulation/mod.rs"))
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| format!("{}\n", l.strip_prefix(' ').unwrap_or(l)))
        .collect();
    vec![
        ("manual".to_string(), blocks(&manual)),
        ("module docs".to_string(), blocks(&module)),
    ]
}

#[test]
fn every_example_of_the_format_documentation_runs() {
    let mut ran = 0;
    for (source, blocks) in documentation() {
        let tmp = tempfile::tempdir().unwrap();
        // Files the page gives.
        for (info, body) in &blocks {
            // ```csv beam.csv: a file of that name (rustdoc refuses `=` in the info string).
            let words: Vec<&str> = info.split_whitespace().collect();
            if let [lang, name] = words[..]
                && lang != "toml"
                && name.contains('.')
            {
                std::fs::write(tmp.path().join(name), body).unwrap();
            }
        }
        for (i, (info, body)) in blocks.iter().enumerate() {
            if info != "toml" {
                continue;
            }
            let name = format!("example{i}.toml");
            std::fs::write(tmp.path().join(&name), body).unwrap();
            let out = format!("out{i}");
            let o = hope(
                tmp.path(),
                &[
                    "simulate",
                    &name,
                    "--out",
                    &out,
                    "--histories",
                    "300",
                    "--threads",
                    "1",
                ],
            );
            assert!(
                o.status.success(),
                "{source}, example {i}:\n{body}\n{}",
                String::from_utf8_lossy(&o.stderr)
            );
            let summary: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(tmp.path().join(&out).join("summary.json")).unwrap(),
            )
            .unwrap();
            let quantity = summary["quantity"].as_str().unwrap();
            assert!(
                tmp.path()
                    .join(&out)
                    .join(format!("{quantity}.mha"))
                    .is_file()
            );
            assert_eq!(summary["histories"], 300);
            if let Some(name) = body
                .split("[output.phase_space]")
                .nth(1)
                .and_then(|t| t.split('"').nth(1))
            {
                // A phase space scored on a plane: both files, read back.
                let header = tmp.path().join(&out).join(format!("{name}.IAEAheader"));
                let space = hope::mc::source::iaea::PhaseSpace::read(&header).unwrap();
                assert_eq!(space.header.original_histories, 300);
                assert!(!space.particles.is_empty(), "{source}, example {i}");
            }
            ran += 1;
        }
    }
    // The manual's eight examples and the module docs' reference file.
    assert!(ran >= 9, "{ran} examples");
}

#[test]
fn a_run_writes_the_phantom_the_beam_lines_and_its_cpu_time() {
    let sim = r#"
histories = 20000
seed = 3

[phantom]
dims = [21, 21, 30]
spacing_mm = [4.0, 4.0, 5.0]
origin_mm = [-40.0, -40.0, 2.5]
material = "water"

[[phantom.insert]]
material = "lung_icrp"
density = 0.26
shape = "box"
min_mm = [-45.0, -45.0, 50.0]
max_mm = [45.0, 45.0, 80.0]

[source]
kind = "parallel"
position_mm = [0.0, 0.0, -10.0]
direction = [0.0, 0.0, 1.0]
field_mm = [40.0, 40.0]
energy_kev = 1250

[[output.line]]
name = "across"
from_mm = [-40.0, 0.0, 20.0]
to_mm = [40.0, 0.0, 20.0]
"#;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("s.toml"), sim).unwrap();
    let o = hope(
        tmp.path(),
        &["simulate", "s.toml", "--out", "o", "--threads", "1"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("estimator: kerma"), "{stdout}");
    let dir = tmp.path().join("o");
    // Kerma is named kerma.
    assert!(dir.join("kerma.mha").is_file() && !dir.join("dose.mha").exists());
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["quantity"], "kerma");
    assert!(summary["cpu_seconds"].as_f64().unwrap() > 0.0, "{summary}");
    assert_eq!(
        summary["materials"],
        serde_json::json!(["water", "lung_icrp"])
    );
    // The phantom as run: the lung slab at 0.26 g/cm3 between 50 and 80 mm.
    let m: Volume<u16> = metaimage::read(dir.join("materials.mha")).unwrap();
    let rho: Volume<f32> = metaimage::read(dir.join("density.mha")).unwrap();
    for (z, want_m, want_rho) in [(20.0, 0u16, 1.0f32), (62.5, 1, 0.26), (100.0, 0, 1.0)] {
        let v = m.grid().voxel_at([0.0, 0.0, z]).unwrap();
        assert_eq!(
            (*m.get(v).unwrap(), *rho.get(v).unwrap()),
            (want_m, want_rho),
            "z {z}"
        );
    }
    // The depth dose along the axis from the phantom's front face, every 4 mm (the smallest
    // voxel size): kerma falls with depth in water, and about four times more slowly per mm in
    // the lung at 0.26 g/cm3.
    let csv = std::fs::read_to_string(dir.join("depth_dose.csv")).unwrap();
    let rows: Vec<Vec<f64>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|x| x.parse().unwrap()).collect())
        .collect();
    assert!(csv.starts_with("depth_mm,x_mm,y_mm,z_mm,kerma_"), "{csv}");
    assert!(rows.len() >= 35, "{}", rows.len());
    assert!(
        rows[0][0].abs() < 1.5 && (rows[0][3]).abs() < 1.5,
        "{:?}",
        rows[0]
    );
    let at = |depth: f64| {
        rows.iter()
            .min_by(|a, b| (a[0] - depth).abs().total_cmp(&(b[0] - depth).abs()))
            .unwrap()[4]
    };
    assert!(at(10.0) > at(45.0) && at(45.0) > 0.0);
    let water = (at(10.0) / at(45.0)).ln() / 35.0;
    let lung = (at(52.0) / at(78.0)).ln() / 26.0;
    assert!(lung < 0.5 * water, "lung {lung} water {water}");
    // Profiles across the axis: flat inside the 40 mm field, falling outside it.
    let csv = std::fs::read_to_string(dir.join("profiles.csv")).unwrap();
    let u: Vec<Vec<String>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(String::from).collect())
        .filter(|r: &Vec<String>| r[1] == "u")
        .collect();
    assert!(!u.is_empty());
    let first_depth = u[0][0].clone();
    let at_offset = |off: f64| {
        u.iter()
            .filter(|r| r[0] == first_depth)
            .min_by(|a, b| {
                let da = (a[2].parse::<f64>().unwrap() - off).abs();
                let db = (b[2].parse::<f64>().unwrap() - off).abs();
                da.total_cmp(&db)
            })
            .map(|r| r[6].parse::<f64>().unwrap())
            .unwrap()
    };
    assert!(
        at_offset(0.0) > 5.0 * at_offset(36.0),
        "{} {}",
        at_offset(0.0),
        at_offset(36.0)
    );
    assert!((at_offset(-8.0) / at_offset(8.0) - 1.0).abs() < 0.1);
    // A named line across the field at 20 mm: 80 mm every 4 mm, inside the field at its
    // middle, outside at its ends.
    let csv = std::fs::read_to_string(dir.join("lines.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 21, "{csv}");
    assert!(rows.iter().all(|r| r[0] == "across"));
    let v = |r: &Vec<&str>| r[5].parse::<f64>().unwrap();
    assert!(
        v(&rows[10]) > 5.0 * v(&rows[0]) && v(&rows[10]) > 5.0 * v(&rows[20]),
        "{csv}"
    );
    assert_eq!(summary["lines"][0], "lines.csv");
}

#[test]
fn a_phase_space_run_states_its_normalisation() {
    use hope::mc::source::iaea::{Kind, Particle, PhaseSpaceWriter};
    let tmp = tempfile::tempdir().unwrap();
    let mut w = PhaseSpaceWriter::create(&tmp.path().join("beam")).unwrap();
    for i in 0..100 {
        w.write(&Particle {
            kind: Kind::Photon,
            energy_mev: 0.5,
            position_cm: [0.0, 0.0, 0.0],
            direction: [0.0, 0.0, 1.0],
            weight: 1.0,
            new_history: i % 4 == 0,
        })
        .unwrap();
    }
    // 100 records from 400 histories.
    w.finish(400, "test").unwrap();
    let sim = "histories = 1000\n[phantom]\ndims = [5, 5, 10]\nspacing_mm = [4.0, 4.0, 4.0]\n\
               origin_mm = [-8.0, -8.0, 2.0]\nmaterial = 'water'\n[source]\nkind = 'phase-space'\n\
               phase_space = 'beam.IAEAphsp'\n";
    std::fs::write(tmp.path().join("p.toml"), sim).unwrap();
    let o = hope(
        tmp.path(),
        &["simulate", "p.toml", "--out", "o", "--threads", "1"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("o/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["records_per_original_history"], 0.25);
    assert!(tmp.path().join("o/depth_dose.csv").is_file());
    // Attack round on issue 23, finding 3: `hope run` of a recycled phase space failed every
    // chunk (each history's recycled primaries counted as uncollided photons beyond the
    // histories), with an empty "last error". It runs, in worker processes, to the same kerma.
    std::fs::write(tmp.path().join("r.toml"), format!("{sim}recycle = 2\n")).unwrap();
    let o = hope(
        tmp.path(),
        &["simulate", "r.toml", "--out", "local", "--threads", "1"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = common::hope_within(
        tmp.path(),
        300,
        &[
            "run", "r.toml", "--dir", "run", "--tasks", "2", "--mode", "static",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let a: Volume<f32> = metaimage::read(tmp.path().join("local/kerma.mha")).unwrap();
    let b: Volume<f32> = metaimage::read(tmp.path().join("run/result/kerma.mha")).unwrap();
    assert_eq!(a.data(), b.data());
}

#[test]
fn blocks_report_their_mean_with_the_spread_of_groups_of_batches() {
    let base = r#"
histories = 40000
batch_size = 2000

[phantom]
dims = [15, 15, 20]
spacing_mm = [2.0, 2.0, 2.0]
origin_mm = [-14.0, -14.0, 1.0]
material = "water"

[source]
kind = "pencil"
position_mm = [0.0, 0.0, -10.0]
direction = [0.0, 0.0, 1.0]
energy_kev = 300
"#;
    let blocks = "\n[[output.block]]\nname = \"axis\"\nmin_mm = [-2.0, -2.0, 8.0]\nmax_mm = [2.0, 2.0, 12.0]\n";
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("a.toml"), base).unwrap();
    std::fs::write(tmp.path().join("b.toml"), format!("{base}{blocks}")).unwrap();
    for (f, out) in [("a.toml", "a"), ("b.toml", "b")] {
        let o = hope(tmp.path(), &["simulate", f, "--out", out, "--threads", "2"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    // Run in groups, the same kerma bit for bit.
    let a: Volume<f32> = metaimage::read(tmp.path().join("a/kerma.mha")).unwrap();
    let b: Volume<f32> = metaimage::read(tmp.path().join("b/kerma.mha")).unwrap();
    assert_eq!(a.data(), b.data());
    let csv = std::fs::read_to_string(tmp.path().join("b/blocks.csv")).unwrap();
    let row: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    // Voxel centres at x, y = -2, 0, 2 and z = 9, 11 mm lie in the block: 18 voxels.
    assert_eq!((row[0], row[1], row[5]), ("axis", "18", "10"), "{csv}");
    // The block's mean is the mean of its 18 voxels.
    let g = a.grid();
    let mut sum = 0.0;
    for k in [4usize, 5] {
        for j in 6..=8 {
            for i in 6..=8 {
                sum += f64::from(*a.get([i, j, k]).unwrap());
            }
        }
    }
    let mean: f64 = row[2].parse().unwrap();
    assert!(
        (mean / (sum / 18.0) - 1.0).abs() < 1e-5,
        "{mean} vs {}",
        sum / 18.0
    );
    assert!(g.voxel_at([1.0, 1.0, 9.0]).is_some());
    // Both uncertainties: finite, positive and of the same order.
    let (groups, voxels): (f64, f64) = (row[3].parse().unwrap(), row[4].parse().unwrap());
    assert!(
        groups > 0.0 && voxels > 0.0 && groups < 5.0 * voxels && voxels < 5.0 * groups,
        "{csv}"
    );
    // A block that holds no voxel centre is refused, naming it.
    let far = "\n[[output.block]]\nname = \"outside\"\nmin_mm = [100.0, 100.0, 100.0]\nmax_mm = [101.0, 101.0, 101.0]\n";
    std::fs::write(tmp.path().join("c.toml"), format!("{base}{far}")).unwrap();
    let o = hope(tmp.path(), &["simulate", "c.toml", "--out", "c"]);
    common::failed_cleanly(&o, "output.block outside");
}
