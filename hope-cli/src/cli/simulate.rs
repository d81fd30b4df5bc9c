//! `hope simulate SIM.toml --out DIR`: runs a Monte Carlo simulation locally and writes the dose,
//! its relative uncertainty and a summary.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use hope::core::{Volume, metaimage};
use hope::mc::Simulation;
use hope::mc::simulation::Prepared;

#[derive(Debug, clap::Args)]
pub(crate) struct SimulateArgs {
    /// The simulation file (TOML, or JSON by extension).
    file: PathBuf,
    /// Output directory: kerma.mha (without electron transport) or dose.mha (Gy per history,
    /// or Gy with an `absolute` section), uncertainty.mha (relative), materials.mha and
    /// density.mha (the phantom as run), central_axis.csv along an eye plaque's axis (depth from
    /// the inner sclera), depth_dose.csv and profiles.csv along a beam's axis,
    /// PNG slices, summary.json.
    #[arg(long, default_value = "out/simulation")]
    out: PathBuf,
    /// Run this many histories instead of the file's (a quick check of a file).
    #[arg(long)]
    histories: Option<u64>,
    /// Worker threads (0: one per core); the result does not depend on it.
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

fn as_f32(v: &Volume<f64>) -> Volume<f32> {
    v.map(|x| *x as f32)
}

pub(crate) fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let mut sim = Simulation::from_file(&args.file)?;
    if let Some(n) = args.histories {
        sim.histories = n;
    }
    let run = sim.prepare(args.threads)?;
    for w in run.transport().warnings() {
        println!("warning: {w}");
    }
    let bar = indicatif::ProgressBar::new(run.histories());
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:40}] {pos}/{len} histories {per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message("simulating");
    let start = Instant::now();
    let cpu_start = cpu_seconds();
    let progress = |done, _| bar.set_position(done);
    let mut phase_space = None;
    let (result, blocks) = if sim.output.phase_space.is_some() {
        std::fs::create_dir_all(&args.out)
            .with_context(|| format!("creating {}", args.out.display()))?;
        let (result, header, particles) = run.run_with_phase_space(&args.out, &progress)?;
        phase_space = Some((header, particles));
        (result, Vec::new())
    } else if sim.output.block.is_empty() {
        (run.run(&progress)?, Vec::new())
    } else {
        // Ten groups of batches: the blocks' uncertainties from their spread.
        run.run_with_blocks(10, &progress)?
    };
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds().zip(cpu_start).map(|(b, a)| b - a);
    let threads = match args.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    write_outputs(&run, &result, secs, cpu, Some(threads), &args.out)?;
    if !blocks.is_empty() {
        write_blocks(&blocks, &run.dose(&result)?.unit.to_string(), &args.out)?;
    }
    if let Some((header, records)) = phase_space {
        println!("phase space: {} ({records} particles)", header.display());
        if records == 0 {
            println!(
                "warning: no particle crossed the plane (is output.phase_space.z_mm inside the \
                 phantom, and towards the way the particles go?)"
            );
        }
    }
    Ok(())
}

/// Writes blocks.csv and prints the blocks' mean doses.
fn write_blocks(
    blocks: &[hope::mc::simulation::BlockDose],
    unit: &str,
    out_dir: &Path,
) -> anyhow::Result<()> {
    use std::fmt::Write as _;
    let mut csv = format!(
        "name,voxels,mean_{},relative_uncertainty_groups,relative_uncertainty_voxels,groups\n",
        unit.replace(' ', "_")
    );
    for b in blocks {
        let spread = b
            .relative_uncertainty
            .map_or_else(|| "NaN".to_string(), |u| format!("{u:.5}"));
        let _ = writeln!(
            csv,
            "{},{},{:.6e},{spread},{:.5},{}",
            b.name, b.voxels, b.mean, b.voxel_quadrature_uncertainty, b.groups
        );
        println!(
            "block {}: {:.4e} {unit} +- {} (from {} groups; voxels as independent: {:.2} %)",
            b.name,
            b.mean,
            b.relative_uncertainty
                .map_or_else(|| "?".to_string(), |u| format!("{:.2} %", 100.0 * u)),
            b.groups,
            100.0 * b.voxel_quadrature_uncertainty
        );
    }
    hope::core::fs::write_atomic(out_dir.join("blocks.csv"), csv.as_bytes())?;
    Ok(())
}

/// CPU time of this process (all threads, user and system), seconds: from /proc/self/stat and
/// the clock tick the kernel gives in the auxiliary vector; None where they are not readable.
pub(crate) fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let auxv = std::fs::read("/proc/self/auxv").ok()?;
    // (key, value) pairs of native words; AT_CLKTCK = 17.
    let tick = auxv
        .chunks_exact(16)
        .map(|c| {
            let k = u64::from_ne_bytes(c[..8].try_into().unwrap_or([0; 8]));
            let v = u64::from_ne_bytes(c[8..].try_into().unwrap_or([0; 8]));
            (k, v)
        })
        .find(|(k, _)| *k == 17)
        .map_or(100, |(_, v)| v);
    (tick > 0).then(|| (utime + stime) / tick as f64)
}

/// What the written dose is, and the variance-reduction switches that shaped it, in words.
fn estimator(sim: &Simulation) -> String {
    let vr = &sim.variance_reduction;
    let mut what = estimator_kind(sim);
    if vr.particle_recycling {
        what.push_str(
            "; particle recycling (photons leaving a seed followed from every active seed)",
        );
    }
    if vr.photon_splitting <= 1 {
        return what;
    }
    format!(
        "{what}; photon splitting {} ({}stratified, {})",
        vr.photon_splitting,
        if vr.stratified { "" } else { "not " },
        if vr.russian_roulette {
            "Russian roulette of their scattered and secondary photons"
        } else {
            "no Russian roulette"
        }
    )
}

/// What the written dose is, and range rejection, in words.
fn estimator_kind(sim: &Simulation) -> String {
    let e = &sim.physics.electrons;
    match (sim.tally_kind(), e.transport) {
        (hope::mc::simulation::TallyKind::Kerma, _)
            if sim.physics.dose_to == hope::mc::physics::DoseTo::Water =>
        {
            "kerma to water: track-length collision kerma with water's mu_en/rho in every voxel \
             (D_w,m by large-cavity theory), electrons not transported"
                .to_string()
        }
        (hope::mc::simulation::TallyKind::Kerma, _) => {
            "kerma: track-length collision kerma, electrons not transported (dose only where \
             charged-particle equilibrium holds)"
                .to_string()
        }
        (_, false) => "analog: energy deposited at photon interactions, electrons not \
                       transported (kinetic energy deposited on the spot)"
            .to_string(),
        (_, true) => {
            let what = match sim.physics.dose_to {
                hope::mc::physics::DoseTo::Water => {
                    "analog: absorbed dose to water in medium (D_w,m: each charged particle's \
                     losses scored as water's over the same slowing down, restricted \
                     stopping-power ratios on the fly) with electron transport"
                }
                hope::mc::physics::DoseTo::Medium => {
                    "analog: absorbed dose with electron transport"
                }
            };
            if e.range_rejection {
                format!(
                    "{what}; range rejection on below {} MeV (range_rejection = false turns it \
                     off)",
                    e.range_rejection_max_ev / 1e6
                )
            } else {
                format!("{what}; no range rejection")
            }
        }
    }
}

/// Writes dose (Gy per history, or Gy with an `absolute` section), uncertainty, PNG slices and
/// summary.json of a finished run into `out` (`threads`: of a local run; a grid run has tasks),
/// and prints what was run and what the dose is.
pub(crate) fn write_outputs(
    run: &Prepared,
    result: &hope::mc::Partial,
    secs: f64,
    cpu_secs: Option<f64>,
    threads: Option<usize>,
    out_dir: &Path,
) -> anyhow::Result<()> {
    let sim = run.simulation();
    // Gy per history, or Gy with the file's `absolute` section.
    let hope::mc::simulation::Dose {
        dose,
        uncertainty: unc,
        unit,
        histories_represented: represented,
    } = run.dose(result)?;
    let unit = unit.to_string();
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let out = |name: &str| -> PathBuf { out_dir.join(name) };
    // Kerma is named kerma: it is the dose only where charged-particle equilibrium holds.
    let quantity = match (sim.tally_kind(), sim.physics.dose_to) {
        (hope::mc::simulation::TallyKind::Kerma, hope::mc::physics::DoseTo::Water) => {
            "kerma_to_water"
        }
        (hope::mc::simulation::TallyKind::Kerma, _) => "kerma",
        (hope::mc::simulation::TallyKind::Analog, hope::mc::physics::DoseTo::Water) => {
            "dose_to_water"
        }
        (hope::mc::simulation::TallyKind::Analog, _) => "dose",
    };
    // Each volume as MetaImage and as NIfTI (RAS, as dcm2niix writes it).
    fn both<T: hope::core::metaimage::Element>(
        dir: &Path,
        name: &str,
        v: &Volume<T>,
        what: &str,
    ) -> anyhow::Result<()> {
        metaimage::write(dir.join(format!("{name}.mha")), v)?;
        hope::core::nifti::write(dir.join(format!("{name}.nii.gz")), v, what)?;
        Ok(())
    }
    both(
        out_dir,
        quantity,
        &as_f32(&dose),
        &format!("hope-mc {quantity}, {unit}"),
    )?;
    both(
        out_dir,
        "uncertainty",
        &as_f32(&unc),
        "relative uncertainty, 1 sigma",
    )?;
    // The phantom as run: material index per voxel (names in summary.json) and density.
    let phantom = run.transport().phantom();
    let pgrid = phantom.grid().clone();
    both(
        out_dir,
        "materials",
        &Volume::new(pgrid.clone(), phantom.material_indices().to_vec())?,
        "material index (summary.json)",
    )?;
    both(
        out_dir,
        "density",
        &Volume::new(pgrid, phantom.densities().to_vec())?,
        "density, g/cm3",
    )?;
    let materials: Vec<&str> = phantom.materials().iter().map(|m| m.name()).collect();
    let lines = write_lines(sim, &dose, &unc, quantity, &unit, out_dir)?;
    let max = dose.data().iter().copied().fold(0.0, f64::max);
    let (_, s) = hope::mc::tally::mean_uncertainty_above_half_max(&dose, &unc);
    // D0.1%: the minimum dose of the hottest 0.1 % of the voxels with dose (a maximum that
    // one noisy voxel does not set); it scales the pictures.
    let d999 = hope::mc::tally::dvh::Dvh::new(&dose, &dose.map(|d| *d > 0.0))
        .map_or(0.0, |dvh| dvh.dose_to_fraction(0.001));
    let [i, j, k] = dose.argmax().unwrap_or([0, 0, 0]);
    let pictures = write_pictures(run, &dose, [i, j, k], d999, quantity, &unit, out_dir)?;
    let estimator = estimator(sim);
    let summary = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "estimator": estimator,
        "physics": sim.physics,
        "variance_reduction": sim.variance_reduction,
        // The tracking run (the file's "auto" resolved) and why.
        "tracking": run.transport().options().tracking,
        "majorant_ratio": run.transport().majorant_ratio(),
        "threads": threads,
        "histories": sim.histories,
        "seed": sim.seed,
        "seconds": secs,
        "cpu_seconds": cpu_secs,
        "histories_per_second": sim.histories as f64 / secs,
        "quantity": quantity,
        // A phase space's dose is per record; times this, per history of the run that made it.
        "records_per_original_history": match run.source() {
            hope::mc::Source::PhaseSpace(ps) => Some(ps.records_per_original_history()),
            _ => None,
        },
        "materials": materials,
        "lines": lines,
        "tally": format!("{:?}", sim.tally_kind()),
        "dose_unit": unit,
        "histories_represented": represented,
        "max_dose": max,
        // D0.1%: the minimum dose of the hottest 0.1 % of the voxels with dose (a maximum that
        // one noisy voxel does not set).
        "dose_percentile_99_9": d999,
        "pictures": pictures,
        "png_slices_through_voxel": [i, j, k],
        "mean_relative_uncertainty_above_half_max": s,
        "efficiency_per_second": if s > 0.0 { 1.0 / (s * s * secs) } else { 0.0 },
        "energy_emitted_ev": result.emitted(),
        "energy_deposited_ev": result.deposited(),
        "energy_escaped_ev": result.escaped(),
        "energy_absorbed_in_sources_ev": result.absorbed_in_sources(),
    });
    hope::core::fs::write_atomic(
        out("summary.json"),
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    println!(
        "{} histories in {secs:.1} s ({:.0}/s); max dose {max:.4e} {unit}; outputs in {}",
        sim.histories,
        sim.histories as f64 / secs,
        out_dir.display()
    );
    println!("estimator: {estimator}");
    Ok(())
}

/// Writes the pictures: three planes through voxel `at` along the grid's axes (the phantom's
/// density as a grey background, the dose as a colour wash with a labelled colour bar, isodose
/// lines, axes in mm), on a logarithmic scale (four decades below D0.1%) where the dose spans
/// more than two decades, and the depth dose along a beam's axis as a plot beside its CSV.
/// Returns the files and their scale.
fn write_pictures(
    run: &Prepared,
    dose: &Volume<f64>,
    at: [usize; 3],
    top: f64,
    quantity: &str,
    unit: &str,
    out_dir: &Path,
) -> anyhow::Result<serde_json::Value> {
    use hope_workflow::plot::{self, DosePlane, Isodose, LinePlot, PlaneSpec, Series};
    let g = dose.grid();
    let d = g.direction();
    let s = g.spacing();
    let dims = g.dims();
    let centre = g.index_to_point([at[0] as f64, at[1] as f64, at[2] as f64]);
    // The grid's middle along the two in-plane axes, the hottest voxel across.
    let mid = |a: usize| (dims[a] as f64 - 1.0) / 2.0;
    let positive: Vec<f64> = dose.data().iter().copied().filter(|x| *x > 0.0).collect();
    let low = positive.iter().copied().fold(f64::INFINITY, f64::min);
    let log = top > 0.0 && low.is_finite() && top / low > 100.0;
    let density: Volume<f64> = {
        let phantom = run.transport().phantom();
        Volume::new(
            phantom.grid().clone(),
            phantom
                .densities()
                .iter()
                .map(|r| 1000.0 * (f64::from(*r) - 1.0))
                .collect(),
        )?
    };
    let (wash_min, wash_max, scale_unit, levels): (f64, f64, String, Vec<f64>) = if log {
        (
            (top * 1e-4).log10(),
            top.log10(),
            format!("log10 {unit}"),
            vec![0.001, 0.01, 0.1, 0.5, 1.0],
        )
    } else {
        (0.0, top, unit.to_string(), vec![0.1, 0.2, 0.5, 0.8, 1.0])
    };
    let colours: [[u8; 3]; 5] = [
        [40, 40, 200],
        [0, 150, 200],
        [0, 160, 0],
        [230, 140, 0],
        [200, 0, 0],
    ];
    let mut files = Vec::new();
    for (name, axes, across) in [
        ("axial", [0usize, 1], 2usize),
        ("coronal", [0, 2], 1),
        ("sagittal", [1, 2], 0),
    ] {
        let sz = [s.x, s.y, s.z];
        let (a, b) = (axes[0], axes[1]);
        let mut idx = [mid(0), mid(1), mid(2)];
        idx[across] = at[across] as f64;
        let spec_centre = g.index_to_point(idx);
        let pixel = sz[a].min(sz[b]).clamp(0.05, 2.0);
        let spec = PlaneSpec {
            centre: spec_centre,
            u: d[a],
            v: d[b],
            half_width_mm: dims[a] as f64 * sz[a] / 2.0,
            half_height_mm: dims[b] as f64 * sz[b] / 2.0,
            pixel_mm: pixel,
        };
        let (w, h) = spec.pixels();
        let zoom = (600 / w.max(h).max(1)).clamp(1, 8);
        let values = spec.sample(dose, 0.0);
        let shown: Vec<f64> = if log {
            values
                .iter()
                // Zero dose below the wash (a finite value: the isodose contours interpolate).
                .map(|v| if *v > 0.0 { v.log10() } else { wash_min - 2.0 })
                .collect()
        } else {
            values
        };
        let background = spec.sample(&density, -1000.0);
        let axis = |i: usize| ["x", "y", "z"][i];
        let canvas = plot::render_dose_plane(&DosePlane {
            title: format!(
                "{quantity}, {name} plane through ({:.1}, {:.1}, {:.1}) mm",
                centre.x, centre.y, centre.z
            ),
            spec,
            ct: &background,
            dose: &shown,
            unit: scale_unit.clone(),
            wash_min,
            wash_max,
            isodoses: levels
                .iter()
                .zip(colours)
                .map(|(f, colour)| Isodose {
                    dose: if log { (top * f).log10() } else { top * f },
                    colour,
                    label: format!("{:>5} % of D0.1%", f * 100.0),
                })
                .collect(),
            outlines: Vec::new(),
            overlay: Vec::new(),
            axis_names: (format!("{} (mm)", axis(a)), format!("{} (mm)", axis(b))),
            zoom,
        });
        let file = format!("{quantity}_{name}.png");
        canvas.write_png(out_dir.join(&file))?;
        files.push(file);
    }
    // The depth dose, beside its CSV.
    if let Some((start, direction)) = run.simulation().source.axis() {
        let unc = dose.map(|_| 0.0);
        let line = hope::mc::tally::lines::depth_dose(dose, &unc, start, direction);
        if !line.is_empty() {
            // In units of a power of ten, so that the axis labels stay short.
            let peak = line.iter().map(|p| p.dose).fold(0.0, f64::max);
            let exponent = if peak > 0.0 {
                peak.log10().floor()
            } else {
                0.0
            };
            let scale = 10f64.powf(exponent);
            let points: Vec<(f64, f64)> = line
                .iter()
                .map(|p| (p.distance_mm, p.dose / scale))
                .collect();
            let canvas = LinePlot::new(
                format!("{quantity} along the beam axis (data: depth_dose.csv)"),
                "depth from where the axis enters the grid (mm)",
                format!("{quantity} (1e{exponent} {unit})"),
            )
            .series(Series::new(quantity, [200, 0, 0], points))
            .render(800, 500);
            canvas.write_png(out_dir.join("depth_dose.png"))?;
            files.push("depth_dose.png".into());
        }
    }
    Ok(serde_json::json!({
        "files": files,
        "scale": if log { "log10" } else { "linear" },
        "from": if log { top * 1e-4 } else { 0.0 },
        "to": top,
        "unit": unit,
        "reference": "D0.1% (dose_percentile_99_9)",
    }))
}

/// Appends `prefix` and a line point (distance, x, y, z, value, relative uncertainty) as a CSV
/// row.
fn csv_row(csv: &mut String, prefix: &str, p: &hope::mc::tally::lines::LinePoint) {
    use std::fmt::Write as _;
    let _ = writeln!(
        csv,
        "{prefix}{:.3},{:.3},{:.3},{:.3},{:.6e},{:.5}",
        p.distance_mm, p.point.x, p.point.y, p.point.z, p.dose, p.relative_uncertainty
    );
}

/// Writes depth_dose.csv along a beam's axis and profiles.csv across it (at the depth of the
/// axis maximum and at 50, 100 and 200 mm), for sources with an axis; returns the files
/// written.
fn write_lines(
    sim: &Simulation,
    dose: &Volume<f64>,
    unc: &Volume<f64>,
    quantity: &str,
    unit: &str,
    out_dir: &Path,
) -> anyhow::Result<Vec<String>> {
    use hope::mc::tally::lines;
    let mut written = Vec::new();
    if !sim.output.line.is_empty() {
        let unit = unit.replace(' ', "_");
        let mut csv =
            format!("line,distance_mm,x_mm,y_mm,z_mm,{quantity}_{unit},relative_uncertainty\n");
        for l in &sim.output.line {
            for p in lines::segment(dose, unc, l.from_mm.into(), l.to_mm.into()) {
                csv_row(&mut csv, &format!("{},", l.name), &p);
            }
        }
        hope::core::fs::write_atomic(out_dir.join("lines.csv"), csv.as_bytes())?;
        written.push("lines.csv".to_string());
    }
    if let hope::mc::simulation::SourceSpec::Seeds {
        plaque: Some(plaque),
        ..
    } = &sim.source
        && let Some((sclera, into_eye)) = plaque.central_axis()
    {
        // The plaque's central axis in sclera coordinates: depth from the inner sclera, across
        // the eye (24.6 mm, its outer diameter).
        let unit = unit.replace(' ', "_");
        let mut csv = format!("depth_mm,x_mm,y_mm,z_mm,{quantity}_{unit},relative_uncertainty\n");
        for p in lines::segment(dose, unc, sclera, sclera + into_eye * 24.6) {
            csv_row(&mut csv, "", &p);
        }
        hope::core::fs::write_atomic(out_dir.join("central_axis.csv"), csv.as_bytes())?;
        written.push("central_axis.csv".to_string());
    }
    let Some((start, direction)) = sim.source.axis() else {
        return Ok(written);
    };
    let depth = lines::depth_dose(dose, unc, start, direction);
    if depth.is_empty() {
        return Ok(written);
    }
    let unit = unit.replace(' ', "_");
    let mut csv = format!("depth_mm,x_mm,y_mm,z_mm,{quantity}_{unit},relative_uncertainty\n");
    for p in &depth {
        csv_row(&mut csv, "", p);
    }
    hope::core::fs::write_atomic(out_dir.join("depth_dose.csv"), csv.as_bytes())?;
    let [u, v, _] = hope::mc::source::beam_axes(direction * (1.0 / direction.norm()));
    let hottest = depth
        .iter()
        .max_by(|a, b| a.dose.total_cmp(&b.dose))
        .map_or(0.0, |p| p.distance_mm);
    let last = depth.last().map_or(0.0, |p| p.distance_mm);
    let g = dose.grid();
    let d = g.dims();
    let half = (g.index_to_point([d[0] as f64, d[1] as f64, d[2] as f64])
        - g.index_to_point([-1.0, -1.0, -1.0]))
    .norm()
        / 2.0;
    let mut csv =
        format!("depth_mm,axis,offset_mm,x_mm,y_mm,z_mm,{quantity}_{unit},relative_uncertainty\n");
    let mut depths = vec![hottest];
    depths.extend([50.0, 100.0, 200.0].into_iter().filter(|x| *x <= last));
    for at in depths {
        let Some(centre) = depth.iter().min_by(|a, b| {
            (a.distance_mm - at)
                .abs()
                .total_cmp(&(b.distance_mm - at).abs())
        }) else {
            continue;
        };
        for (name, axis) in [("u", u), ("v", v)] {
            for p in lines::profile(dose, unc, centre.point, axis, half) {
                csv_row(&mut csv, &format!("{:.3},{name},", centre.distance_mm), &p);
            }
        }
    }
    hope::core::fs::write_atomic(out_dir.join("profiles.csv"), csv.as_bytes())?;
    written.extend(["depth_dose.csv".into(), "profiles.csv".into()]);
    Ok(written)
}
