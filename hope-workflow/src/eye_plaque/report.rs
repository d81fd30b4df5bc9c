//! The eye-plaque pictures and the HTML report: two dose planes through the plaque axis, the
//! dose-volume histograms of tumour, lens, optic nerve and sclera, the central-axis depth dose
//! against the water-only calculation, and a page that gathers them with the job table and the
//! settings.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use hope_core::{Vec3, Volume};
use hope_grid::store::{JobRow, utc};
use hope_mc::source::PlaqueSource;
use hope_mc::source::plaque::PlaqueMaterial;
use hope_mc::tally::dvh::Dvh;

use super::{EyeGeometry, Options, RoiMask};
use crate::plot::{
    DosePlane, Isodose, LinePlot, Outline, PlaneSpec, Rgb, Series, render_dose_plane,
};

/// Everything the report shows.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// The run's options.
    pub options: &'a Options,
    /// The eye.
    pub eye: &'a EyeGeometry,
    /// The plaque, placed.
    pub plaque: &'a PlaqueSource,
    /// The structures on the dose grid.
    pub rois: &'a [RoiMask],
    /// Their DVHs (none for a structure off the dose grid), one per structure.
    pub dvhs: &'a [Option<Dvh>],
    /// CT, HU.
    pub ct: &'a Volume<f64>,
    /// Dose, Gy.
    pub dose: &'a Volume<f64>,
    /// Relative uncertainty of the dose.
    pub uncertainty: &'a Volume<f64>,
    /// Water-only dose, Gy (same seed strength).
    pub water: &'a Volume<f64>,
    /// Seed strength, U.
    pub air_kerma_strength_u: f64,
    /// Relative uncertainty at the apex.
    pub apex_uncertainty: f64,
    /// Seconds of the Monte Carlo.
    pub mc_seconds: f64,
    /// The job table.
    pub jobs: Vec<JobRow>,
    /// The seeds' radionuclide.
    pub nuclide: String,
    /// SOP Instance UID of the RT Dose.
    pub rt_dose_uid: String,
    /// The patient's pseudonym.
    pub pseudonym: String,
    /// Study Instance UID (de-identified).
    pub study_uid: String,
    /// Series Instance UID (de-identified).
    pub series_uid: String,
    /// Files de-identified.
    pub deidentified: usize,
    /// Files encrypted.
    pub encrypted: usize,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Distance from `p` to the segment of a seed (centre, unit axis, half length).
fn to_segment(p: Vec3, centre: Vec3, axis: Vec3, half: f64) -> f64 {
    let t = (p - centre).dot(axis).clamp(-half, half);
    (p - centre - axis * t).norm()
}

/// The isodose levels as percentages of the prescription, with their colours.
pub const ISODOSE_PERCENT: [(f64, Rgb); 6] = [
    (300.0, [150, 0, 255]),
    (200.0, [255, 0, 0]),
    (150.0, [255, 140, 0]),
    (100.0, [255, 255, 0]),
    (50.0, [0, 230, 0]),
    (25.0, [0, 140, 255]),
];

fn plane_png(
    inputs: &Inputs<'_>,
    spec: PlaneSpec,
    title: String,
    axes: (String, String),
    path: &Path,
) -> hope_core::Result<()> {
    let rx = inputs.options.prescription_gy;
    let (w, h) = spec.pixels();
    let ct = spec.sample(inputs.ct, -1000.0);
    let dose = spec.sample(inputs.dose, 0.0);
    let outlines = inputs
        .rois
        .iter()
        .filter(|r| !matches!(r.name.as_str(), "globe" | "sclera"))
        .map(|r| Outline {
            name: r.name.clone(),
            colour: r.colour,
            values: (0..w * h)
                .map(|o| {
                    let p = spec.point(o % w, o / w);
                    r.mask
                        .grid()
                        .voxel_at(p)
                        .map_or(0.0, |v| f64::from(u8::from(r.mask[v] >= 0.5)))
                })
                .collect(),
        })
        .collect();
    // The plaque drawn over the wash: backing in gold, carrier in grey, seeds dark.
    let seeds = inputs.plaque.seeds();
    let plaque = inputs.plaque.assembly().plaque();
    let overlay = (0..w * h)
        .map(|o| {
            let p = spec.point(o % w, o / w);
            if seeds
                .iter()
                .any(|&(c, a, _)| to_segment(p, c, a, 2.25) <= 0.4)
            {
                return Some(([40, 40, 40], 1.0));
            }
            match plaque.material_at(&inputs.plaque.to_plaque(p)) {
                Some(PlaqueMaterial::Modulay) => Some(([212, 175, 55], 1.0)),
                Some(PlaqueMaterial::Silastic) => Some(([175, 195, 210], 0.8)),
                None => None,
            }
        })
        .collect();
    let canvas = render_dose_plane(&DosePlane {
        title,
        spec,
        ct: &ct,
        dose: &dose,
        unit: "Gy".into(),
        wash_min: 0.1 * rx,
        wash_max: 3.0 * rx,
        isodoses: ISODOSE_PERCENT
            .iter()
            .map(|&(pc, colour)| Isodose {
                dose: rx * pc / 100.0,
                colour,
                label: format!("{pc:>3.0} % {:5.1} Gy", rx * pc / 100.0),
            })
            .collect(),
        outlines,
        overlay,
        axis_names: axes,
        zoom: 1,
    });
    canvas.write_png(path)
}

/// Dose along the plaque's central axis from the inner sclera inwards: (depth mm, value).
fn central_axis(inputs: &Inputs<'_>, volume: &Volume<f64>, max_depth: f64) -> Vec<(f64, f64)> {
    let a = inputs.eye.plaque_axis;
    let start = inputs.eye.inner_sclera_on_axis();
    let step = 0.1;
    let n = (max_depth / step).round() as usize;
    let (e1, _) = super::anatomy::frame(a);
    let spec = PlaneSpec {
        centre: start - a * (max_depth / 2.0),
        u: -a,
        v: e1,
        half_width_mm: max_depth / 2.0 + step / 2.0,
        half_height_mm: step / 2.0,
        pixel_mm: step,
    };
    let values = spec.sample(volume, 0.0);
    (0..values.len().min(n + 1))
        .map(|i| (i as f64 * step, values[i]))
        .collect()
}

/// Writes the pictures and `report.html` into `dir`; returns the pictures and the report.
pub fn write(inputs: &Inputs<'_>, dir: &Path) -> hope_core::Result<(Vec<PathBuf>, PathBuf)> {
    let eye = inputs.eye;
    let rx = inputs.options.prescription_gy;
    let c = eye.eye_centre;
    let a = eye.plaque_axis;
    let mut images = Vec::new();

    let axial = dir.join("plane_axial.png");
    plane_png(
        inputs,
        PlaneSpec {
            centre: c,
            u: Vec3::new(1.0, 0.0, 0.0),
            v: Vec3::new(0.0, 1.0, 0.0),
            half_width_mm: 22.0,
            half_height_mm: 22.0,
            pixel_mm: 0.08,
        },
        format!("Axial plane z = {:.1} mm through the plaque axis", c.z),
        (
            "mm from the eye centre, patient's left to the right (x)".into(),
            "mm, anterior up (y)".into(),
        ),
        &axial,
    )?;
    images.push(axial);
    let along = dir.join("plane_plaque_axis.png");
    plane_png(
        inputs,
        PlaneSpec {
            centre: c,
            u: a,
            v: Vec3::new(0.0, 0.0, -1.0),
            half_width_mm: 22.0,
            half_height_mm: 17.0,
            pixel_mm: 0.08,
        },
        "Plane through the plaque axis and the head's long axis".into(),
        (
            "mm from the eye centre along the plaque axis (plaque to the right)".into(),
            "mm, superior up (z)".into(),
        ),
        &along,
    )?;
    images.push(along);

    // DVHs.
    let mut dvh_plot = LinePlot::new(
        "Cumulative dose-volume histograms",
        "dose (Gy)",
        "volume (%)",
    )
    .y_range(0.0, 100.0)
    .marker(rx, format!("prescription {rx} Gy"));
    let mut dvh_rows = String::new();
    // The plotted curves as numbers, beside the picture.
    let mut dvh_csv = String::from("structure,dose_gy,volume_percent\n");
    let mut top: f64 = 0.0;
    let voxel_cc = inputs.dose.grid().voxel_volume_mm3() / 1000.0;
    for (s, dvh) in inputs.rois.iter().zip(inputs.dvhs) {
        let Some(dvh) = dvh.as_ref().filter(|_| s.name != "globe") else {
            continue;
        };
        top = top.max(dvh.dose_to_fraction(0.02));
        let points: Vec<(f64, f64)> = dvh
            .curve(400)
            .into_iter()
            .map(|(d, v)| (d, 100.0 * v))
            .collect();
        for (d, v) in &points {
            let _ = writeln!(dvh_csv, "{},{d:.5},{v:.4}", s.name);
        }
        dvh_plot = dvh_plot.series(Series::new(&s.name, s.colour, points));
        let m = dvh.metrics(&[rx]);
        let _ = write!(
            dvh_rows,
            "<tr><td>{}</td><td>{:.3}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td></tr>",
            esc(&s.name),
            dvh.volume_voxels() * voxel_cc,
            m.min,
            m.d98,
            m.d95,
            m.d50,
            m.mean,
            m.d2,
            m.max,
            100.0 * m.v.first().map_or(0.0, |v| v.1),
        );
    }
    let dvh_path = dir.join("dvh.png");
    dvh_plot
        .x_range(0.0, (top * 1.1).max(rx * 1.2))
        .render(720, 420)
        .write_png(&dvh_path)?;
    hope_core::fs::write_atomic(dir.join("dvh.csv"), dvh_csv.as_bytes())?;
    images.push(dvh_path);

    // Central axis.
    let depth = 22.0;
    let mc = central_axis(inputs, inputs.dose, depth);
    let water = central_axis(inputs, inputs.water, depth);
    let apex_depth = eye.tumour_height_mm;
    let cax_path = dir.join("central_axis.png");
    LinePlot::new(
        "Central-axis dose: Monte Carlo with plaque vs water only",
        "depth from the inner sclera along the plaque axis (mm)",
        "dose (Gy)",
    )
    .series(Series::new(
        "Monte Carlo: CT, plaque, seeds",
        [200, 30, 30],
        mc.clone(),
    ))
    .series(Series::new("water only (TG-43-like)", [30, 60, 200], water.clone()).dashed())
    .marker(apex_depth, "tumour apex")
    .y_range(
        0.0,
        mc.iter()
            .map(|p| p.1)
            .fold(0.0, f64::max)
            .max(water.iter().map(|p| p.1).fold(0.0, f64::max))
            * 1.05,
    )
    .render(720, 420)
    .write_png(&cax_path)?;
    let mut cax_csv = String::from("depth_mm,monte_carlo_gy,water_only_gy\n");
    for ((d, m), (_, w)) in mc.iter().zip(&water) {
        let _ = writeln!(cax_csv, "{d:.2},{m:.6e},{w:.6e}");
    }
    hope_core::fs::write_atomic(dir.join("central_axis.csv"), cax_csv.as_bytes())?;
    images.push(cax_path);

    let mut cax_rows = String::new();
    for d in [0.0f64, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0] {
        let i = (d / 0.1).round() as usize;
        let (Some(m), Some(w)) = (mc.get(i), water.get(i)) else {
            continue;
        };
        let p = eye.inner_sclera_on_axis() - a * d;
        let u = inputs
            .dose
            .grid()
            .voxel_at(p)
            .map_or(0.0, |v| inputs.uncertainty[v]);
        let _ = write!(
            cax_rows,
            "<tr{}><td>{d:.0}</td><td>{:.1}</td><td>{:.1}</td><td>{:.3}</td><td>{:.2}</td></tr>",
            if (d - apex_depth).abs() < 1e-9 {
                " class=\"apex\""
            } else {
                ""
            },
            m.1,
            w.1,
            if w.1 > 0.0 { m.1 / w.1 } else { 0.0 },
            100.0 * u
        );
    }

    let mut job_rows = String::new();
    for j in &inputs.jobs {
        let r = &j.record;
        let _ = write!(
            job_rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:?}</td><td>{}</td><td>{}</td><td>{}/{}</td></tr>",
            esc(&r.id),
            esc(&r.author),
            r.started_s
                .map_or_else(|| "-".into(), |s| utc(s).replace('T', " ")),
            r.status,
            r.duration_s()
                .map_or_else(|| "-".into(), |s| format!("{s} s")),
            esc(&r.executor),
            j.progress.0,
            j.progress.1
        );
    }

    let apex_voxel = inputs.dose.grid().voxel_at(eye.apex);
    let apex_dose = apex_voxel.map_or(0.0, |v| inputs.dose[v]);
    let apex_water = apex_voxel.map_or(0.0, |v| inputs.water[v]);
    let tau_h = hope_mc::Radionuclide::by_name(&inputs.nuclide).map_or(f64::NAN, |r| {
        r.half_life_s() / 3600.0 / std::f64::consts::LN_2
    });
    let t = inputs.options.treatment_h;
    let initial_rate = apex_dose / (tau_h * (1.0 - (-t / tau_h).exp()));
    let o = inputs.options;
    let sp = inputs.dose.grid().spacing();
    let dims = inputs.dose.grid().dims();
    let mut html = String::new();
    let _ = write!(
        html,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>HOPE-rs eye-plaque dosimetry</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 1100px; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
td, th {{ border: 1px solid #bbb; padding: 3px 8px; text-align: right; }}
th {{ background: #eee; }} td:first-child {{ text-align: left; }}
tr.apex {{ background: #ffd; font-weight: bold; }}
figure {{ display: inline-block; margin: 0 1em 1em 0; vertical-align: top; }}
figcaption {{ max-width: 560px; font-size: 90%; }}
.note {{ color: #555; font-size: 90%; }}
</style></head><body>
<h1>Eye-plaque brachytherapy dosimetry</h1>
<p class="note">Synthetic data, for demonstration: written by HOPE-rs's <code>eye_plaque</code> workflow.
Patient {pseudonym} (pseudonym), study {study}, series {series}. No identity left the hospital step:
{deid} files de-identified and checked, {enc} files encrypted with 2-of-3 split keys.</p>

<h2>Result</h2>
<table>
<tr><th>quantity</th><th>value</th></tr>
<tr><td>prescription at the tumour apex ({h:.1} mm from the inner sclera)</td><td>{rx:.1} Gy in {t:.0} h</td></tr>
<tr><td>dose at the apex (Monte Carlo)</td><td>{apex:.1} Gy</td></tr>
<tr><td>statistical uncertainty at the apex (1 sigma, 0.6 mm voxel)</td><td>{unc:.2} %</td></tr>
<tr><td>water-only dose at the apex, same seeds</td><td>{water:.1} Gy</td></tr>
<tr><td>ratio Monte Carlo / water at the apex</td><td>{ratio:.3}</td></tr>
<tr><td>air-kerma strength per seed for the prescription</td><td>{sk:.2} U</td></tr>
<tr><td>initial dose rate at the apex</td><td>{rate:.3} Gy/h</td></tr>
<tr><td>Monte Carlo time</td><td>{secs:.1} s ({hps:.0} histories/s)</td></tr>
</table>

<h2>Dose planes</h2>
<figure><img src="plane_axial.png" alt="axial dose plane"><figcaption>Axial plane through the eye's centre,
which holds the plaque axis. Grey: CT (window -300 to 500 HU). Colour wash: dose from 10 % to 300 % of the
prescription. Lines: isodoses at 300, 200, 150, 100, 50 and 25 % of {rx:.0} Gy; outlines of the tumour
(magenta), lens (cyan) and optic nerve (white). The plaque: Modulay (gold), Silastic (grey), seeds (dark).</figcaption></figure>
<figure><img src="plane_plaque_axis.png" alt="dose plane along the plaque axis"><figcaption>The plane
through the plaque axis and the head's long axis; the plaque is on the right.</figcaption></figure>

<h2>Dose-volume histograms</h2>
<figure><img src="dvh.png" alt="DVH"></figure>
<table><tr><th>structure</th><th>volume (cm³)</th><th>D<sub>min</sub> (Gy)</th><th>D<sub>98</sub> (Gy)</th><th>D<sub>95</sub> (Gy)</th><th>D<sub>50</sub> (Gy)</th><th>D<sub>mean</sub> (Gy)</th><th>D<sub>2</sub> (Gy)</th><th>D<sub>max</sub> (Gy)</th><th>V<sub>{rx:.0} Gy</sub> (%)</th></tr>
{dvh_rows}</table>

<h2>Central axis: Monte Carlo against water only</h2>
<p>The water-only calculation puts the same seeds, with the same strength, in water that fills the CT's
grid, without plaque or tissues: what a TG-43 planning system computes. The Silastic carrier and the
gold backing lower the dose along the axis (published Monte Carlo studies of COMS plaques with I-125 find
about 10 % less at 5 mm).</p>
<figure><img src="central_axis.png" alt="central-axis depth dose"></figure>
<table><tr><th>depth (mm)</th><th>Monte Carlo (Gy)</th><th>water only (Gy)</th><th>ratio</th><th>uncertainty (%)</th></tr>
{cax_rows}</table>

<h2>Jobs</h2>
<table><tr><th>id</th><th>author</th><th>start (UTC)</th><th>status</th><th>duration</th><th>executor</th><th>chunks</th></tr>
{job_rows}</table>

<h2>Settings</h2>
<table>
<tr><td>CT grid</td><td>{nx} x {ny} x {nz} voxels of {sx:.2} x {sy:.2} x {sz:.2} mm (the dose grid is the same)</td></tr>
<tr><td>materials</td><td>from HU (Schneider-style table, hope_mc::material::hounsfield); plaque: Modulay, Silastic (AAPM TG-129)</td></tr>
<tr><td>plaque</td><td>{plaque_name} (CLRP/TG-129 dimensions, analytic geometry: no voxels), {n_seeds} {nuclide} seeds of model {model}, {seed_r:.1} mm from the eye centre</td></tr>
<tr><td>histories</td><td>{hist} (plaque), {whist} (water), seed {seed}</td></tr>
<tr><td>physics</td><td>photons: photoelectric with fluorescence, Compton, Rayleigh; track-length kerma; cutoff 1 keV</td></tr>
<tr><td>decay</td><td>{nuclide}, half-life {half_d:.2} d, integrated over the treatment time</td></tr>
</table>

<h2>Files</h2>
<ul>
<li><a href="rtdose.dcm">rtdose.dcm</a>: RT Dose (Gy), SOP Instance {rt_uid}, referring to the RT Plan</li>
<li><a href="rtplan.dcm">rtplan.dcm</a>: RT Plan (the seeds, their model and strength), referring to the RT Structure Set</li>
<li><a href="rtstruct.dcm">rtstruct.dcm</a>: RT Structure Set (the structures above as contours), referring to the de-identified CT</li>
<li><a href="dose.mha">dose.mha</a>, <a href="uncertainty.mha">uncertainty.mha</a>, <a href="water_dose.mha">water_dose.mha</a>: MetaImage</li>
<li><a href="simulation.json">simulation.json</a>: the simulation, with the seed strength above</li>
<li><a href="../job/job.json">job record</a>, <a href="../catalog.sqlite">catalog</a> (SQLite)</li>
</ul>
</body></html>
"#,
        pseudonym = esc(&inputs.pseudonym),
        study = esc(&inputs.study_uid),
        series = esc(&inputs.series_uid),
        deid = inputs.deidentified,
        enc = inputs.encrypted,
        h = eye.tumour_height_mm,
        apex = apex_dose,
        unc = 100.0 * inputs.apex_uncertainty,
        water = apex_water,
        ratio = if apex_water > 0.0 {
            apex_dose / apex_water
        } else {
            0.0
        },
        sk = inputs.air_kerma_strength_u,
        rate = initial_rate,
        secs = inputs.mc_seconds,
        hps = o.histories as f64 / inputs.mc_seconds.max(1e-9),
        nx = dims[0],
        ny = dims[1],
        nz = dims[2],
        sx = sp.x,
        sy = sp.y,
        sz = sp.z,
        seed_r = {
            let seeds = inputs.plaque.seeds();
            seeds
                .iter()
                .map(|(c, _, _)| (*c - eye.eye_centre).norm())
                .sum::<f64>()
                / seeds.len().max(1) as f64
        },
        n_seeds = inputs.plaque.seeds().len(),
        plaque_name = esc(inputs.plaque.assembly().plaque().name()),
        model = esc(&inputs.plaque.assembly().seed().name),
        nuclide = esc(&inputs.nuclide),
        hist = o.histories,
        whist = o.water_histories,
        seed = o.seed,
        rt_uid = esc(&inputs.rt_dose_uid),
        half_d = tau_h * std::f64::consts::LN_2 / 24.0,
    );
    let report = dir.join("report.html");
    hope_core::fs::write_atomic(&report, html.as_bytes())?;
    Ok((images, report))
}
