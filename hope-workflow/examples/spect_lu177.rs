//! Closing the loop of theranostic dosimetry: a Lu-177 phantom like the NEMA IEC body phantom
//! (six hot spheres of 10 to 37 mm in a warm water background, a lung insert along the axis) is
//! imaged by a simulated SPECT camera (Siemens Symbia medium-energy collimator, 3/8" NaI, 208 keV
//! photopeak with triple-energy-window scatter windows, forced detection, Poisson noise),
//! reconstructed (OSEM with attenuation correction, the depth-dependent response, TEW scatter,
//! the calibration the simulator measures on a point source in air), quantified (recovery
//! coefficient of each sphere) and turned into absorbed dose, which is compared with the dose
//! computed from the true activity.
//!
//! Writes to `out/spect_lu177` (or the first argument): the acquisition and reconstruction
//! files (the formats of `hope spect`), projections.png (views of the three windows),
//! slices.png (true, reconstructed and dose slices through the spheres), recovery.png (recovery
//! of activity and of dose against sphere diameter) and report.md.
//!
//! `cargo run --release -p hope-workflow --example spect_lu177`
//!
//! Geometry (NEMA NU 2-2012 / IEC 61675-1 body phantom): sphere inner diameters 10, 13, 17, 22,
//! 28 and 37 mm, centres on a circle of 57.2 mm radius in one transverse plane; a lung insert of
//! 51 mm diameter on the axis. The body's D-shaped section (about 300 x 230 mm) is taken here as
//! a cylinder of 110 mm radius, 180 mm long. Sphere-to-background concentration 8:1.
//!
//! Dose: the time-integrated activity of each voxel for physical decay only (no clearance: a
//! phantom), `A tau` with `tau = T1/2 / ln 2`; electrons (the betas, ICRP-107 mean energy per
//! decay) deposit their energy in their voxel (Lu-177 betas travel at most 2 mm, the voxels
//! are 4.8 mm), photons by hope-mc's Monte Carlo (track-length kerma); voxels of air (density under
//! 0.1 g/mL) get no dose (activity reconstructed outside the body is an artefact). The same
//! method turns both the true and the reconstructed activity into dose.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use hope::core::{Vec3, Volume};
use hope::mc::source::VoxelisedActivity;
use hope::mc::{PhysicsOptions, RunOptions, Source, Transport};
use hope::spect::{Body, ReconstructionSpec, RunControl, SpectSimulation, interfile, simulate};
use hope_workflow::plot::{Anchor, Canvas, LinePlot, Series, rainbow};

const DIAMETERS_MM: [f64; 6] = [10.0, 13.0, 17.0, 22.0, 28.0, 37.0];
const RING_MM: f64 = 57.2;
const BACKGROUND: f64 = 20_000.0; // Bq/mL
const RATIO: f64 = 8.0;

fn sphere_centre(k: usize) -> Vec3 {
    // Counter-clockwise from +x, 60 degrees apart, in the plane z = 0.
    let a = (60.0 * k as f64).to_radians();
    Vec3::new(RING_MM * a.cos(), RING_MM * a.sin(), 0.0)
}

fn acquisition_file(decays: u64) -> String {
    let mut s = format!(
        r#"# A Lu-177 phantom like the NEMA IEC body phantom (see the example's docs).
radionuclide = "Lu-177"
decays = {decays}
seed = 2026
method = "forced-detection"

[phantom]
dims = [64, 64, 40]
spacing_mm = [4.8, 4.8, 4.8]
origin_mm = [-151.2, -151.2, -93.6]
material = "air"

[[phantom.insert]]
material = "water"
shape = "cylinder"
centre_mm = [0.0, 0.0, 0.0]
axis = [0.0, 0.0, 1.0]
radius_mm = 110.0
length_mm = 180.0

[[phantom.insert]]
material = "lung_icrp"
density = 0.3
shape = "cylinder"
centre_mm = [0.0, 0.0, 0.0]
axis = [0.0, 0.0, 1.0]
radius_mm = 25.5
length_mm = 180.0

[[activity.region]]
material = "water"
bq_per_ml = {BACKGROUND}
"#
    );
    for (k, d) in DIAMETERS_MM.iter().enumerate() {
        let c = sphere_centre(k);
        s.push_str(&format!(
            "\n[[activity.region]]\nshape = \"sphere\"\ncentre_mm = [{:.3}, {:.3}, 0.0]\nradius_mm = {}\nbq_per_ml = {}\n",
            c.x,
            c.y,
            d / 2.0,
            BACKGROUND * RATIO
        ));
    }
    s.push_str(
        r#"
[camera]
collimator = "SY-ME"
intrinsic_fwhm_mm = 3.8

[orbit]
views = 60
radius_mm = 230.0
matrix = [64, 40]
pixel_mm = 4.8
time_per_view_s = 20.0

[[window]]
name = "photopeak"
lower_kev = 187.6
upper_kev = 229.2

[[window]]
name = "lower"
lower_kev = 166.8
upper_kev = 187.6

[[window]]
name = "upper"
lower_kev = 229.2
upper_kev = 250.0
"#,
    );
    s
}

/// Mean of `v` over the voxels whose centre lies within `r` mm of `c`.
fn mean_in_sphere(v: &Volume<f32>, c: Vec3, r: f64) -> f64 {
    let g = v.grid();
    let (mut s, mut n) = (0.0, 0.0);
    for (i, x) in v.data().iter().enumerate() {
        if let Some(idx) = g.index_of(i)
            && (g.voxel_center(idx) - c).norm() <= r
        {
            s += f64::from(*x);
            n += 1.0;
        }
    }
    if n > 0.0 { s / n } else { f64::NAN }
}

/// Absorbed dose (Gy) from an activity concentration (Bq/mL) on the phantom's grid.
fn dose(
    concentration: &Volume<f32>,
    phantom: &hope::mc::Phantom,
    tau_s: f64,
    photons: u64,
) -> anyhow::Result<Volume<f32>> {
    let nuclide = hope::mc::Radionuclide::by_name("Lu-177")?;
    let grid = phantom.grid().clone();
    let ml = grid.voxel_volume_mm3() / 1000.0;
    // Decays per voxel over all time.
    let decays: Vec<f64> = concentration
        .data()
        .iter()
        .map(|c| f64::from(c.max(0.0)) * ml * tau_s)
        .collect();
    let total: f64 = decays.iter().sum();
    let electron_j = nuclide.mean_beta_energy() * nuclide.betas_per_decay() * 1.602_176_634e-19;
    // Photons: hope-mc's Monte Carlo, kerma per emitted photon.
    let spectrum = nuclide.spectrum(10_000.0)?;
    let photons_per_decay: f64 = nuclide
        .lines()
        .iter()
        .filter(|l| l.0 >= 10_000.0)
        .map(|l| l.1)
        .sum();
    let activity = Volume::new(grid.clone(), decays.iter().map(|d| *d as f32).collect())?;
    let transport = Transport::new(
        phantom.clone(),
        RunOptions {
            physics: PhysicsOptions::default(),
            ..RunOptions::default()
        },
    )?;
    let source = Source::Voxelised(Box::new(VoxelisedActivity::new(&activity, spectrum)?));
    let run = transport.run(&source, photons, 7, &|_, _| {})?;
    let (per_photon, _) = run.dose(&run.kerma, &grid)?;
    let masses: Vec<f64> = phantom
        .densities()
        .iter()
        .map(|d| f64::from(*d) * ml / 1000.0)
        .collect();
    let data = decays
        .iter()
        .zip(&masses)
        .zip(per_photon.data())
        .map(|((n, m), p)| {
            // Activity outside the body (air: reconstructed counts spilled over the edge) is
            // left out: its electrons would put their energy into a few micrograms of air.
            let tissue = *m > 0.1 * ml / 1000.0;
            let electrons = if tissue { n * electron_j / m } else { 0.0 };
            let photons = if tissue {
                p * total * photons_per_decay
            } else {
                0.0
            };
            (electrons + photons) as f32
        })
        .collect();
    Ok(Volume::new(grid, data)?)
}

#[allow(clippy::too_many_arguments)]
/// A false-colour picture of `values` (`w` x `h`, row 0 at the top) scaled up `zoom` times.
fn image(
    c: &mut Canvas,
    x0: i64,
    y0: i64,
    values: &[f64],
    w: usize,
    h: usize,
    zoom: i64,
    max: f64,
    title: &str,
) {
    for y in 0..h {
        for x in 0..w {
            let t = (values[y * w + x] / max).clamp(0.0, 1.0);
            let colour = rainbow(t);
            c.fill_rect(
                x0 + x as i64 * zoom,
                y0 + y as i64 * zoom,
                zoom,
                zoom,
                colour,
            );
        }
    }
    c.text(
        x0 + (w as i64 * zoom) / 2,
        y0 - 14,
        title,
        [0, 0, 0],
        Anchor::Centre,
        true,
    );
}

fn main() -> anyhow::Result<()> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "out/spect_lu177".into()),
    );
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let start = Instant::now();
    // The acquisition, written as a file and read back as `hope spect simulate` does.
    std::fs::write(out.join("acquisition.toml"), acquisition_file(400_000))?;
    let file = SpectSimulation::from_file(&out.join("acquisition.toml"))?;
    let nuclide = file.nuclide()?;
    let acq = file.acquisition()?;
    let (phantom, body) = file.body()?;
    let truth = file.concentration(&phantom)?;
    println!(
        "phantom: {:.1} MBq of Lu-177; simulating {} decays, {} views...",
        body.activity_bq() / 1e6,
        file.decays,
        acq.views
    );
    let t = Instant::now();
    let expected = simulate(&body, &nuclide, &acq, &file.run_control(0))?;
    let simulate_s = t.elapsed().as_secs_f64();
    let point = simulate(
        &Body::point_in_air(1e6, acq.pixel_cm)?,
        &nuclide,
        &acq,
        &RunControl {
            decays: 100_000,
            seed: 1,
            threads: 0,
        },
    )?;
    // The calibration as the reconstruction will see it: the point source's photopeak counts less
    // their triple-energy-window estimate (the energy-resolution tails and the collimator's
    // scatter that TEW removes from the phantom's counts too).
    let per_second = |w: usize| point.total(w).0 / (point.views as f64 * point.time_per_view_s);
    let widths: Vec<f64> = point.windows.iter().map(|w| w.width_ev()).collect();
    let raw_calibration = per_second(0);
    let calibration =
        raw_calibration - (per_second(1) / widths[1] + per_second(2) / widths[2]) * widths[0] / 2.0;
    let noisy = expected.with_poisson_noise(7);
    interfile::write(&noisy, &out.join("projections.h33"))?;
    let counts: Vec<f64> = (0..3)
        .map(|w| {
            noisy.counts[w * noisy.views * noisy.bins()..(w + 1) * noisy.views * noisy.bins()]
                .iter()
                .sum()
        })
        .collect();
    println!(
        "  {simulate_s:.0} s; photopeak {:.3e} counts, lower {:.3e}, upper {:.3e}; calibration {calibration:.2} cps/MBq",
        counts[0], counts[1], counts[2]
    );
    // The reconstruction, from its file as `hope spect reconstruct` does.
    let recon_text = format!(
        "projections = \"projections.h33\"\ncalibration_cps_per_mbq = {calibration}\n\n[scatter]\nlower = \"lower\"\nupper = \"upper\"\n\n[osem]\nsubsets = 10\niterations = 4\n\n[attenuation]\n{}",
        std::fs::read_to_string(out.join("acquisition.toml"))?
            .split("[phantom]")
            .nth(1)
            .and_then(|rest| rest.split("[[activity.region]]").next())
            .map(|p| format!(
                "[attenuation.phantom]{}",
                p.replace("[[phantom.insert]]", "[[attenuation.phantom.insert]]")
            ))
            .unwrap_or_default()
    );
    let recon_text = recon_text.replace(
        "[attenuation]\n[attenuation.phantom]",
        "[attenuation.phantom]",
    );
    std::fs::write(out.join("reconstruction.toml"), &recon_text)?;
    let spec = ReconstructionSpec::from_file(&out.join("reconstruction.toml"))?;
    let t = Instant::now();
    let recon = spec.run(&interfile::read(&spec.projections_path())?)?;
    let recon_s = t.elapsed().as_secs_f64();
    hope::core::metaimage::write(out.join("activity.mha"), &recon)?;
    anyhow::ensure!(
        recon.grid().same_geometry(truth.grid(), 1e-3),
        "the reconstruction's grid is not the phantom's"
    );
    println!("  reconstructed in {recon_s:.0} s");
    // Recovery and dose.
    let tau = nuclide.half_life_s() / std::f64::consts::LN_2;
    let t = Instant::now();
    let dose_true = dose(&truth, &phantom, tau, 400_000)?;
    let dose_recon = dose(&recon, &phantom, tau, 400_000)?;
    let dose_s = t.elapsed().as_secs_f64();
    let mut rows = Vec::new();
    for (k, d) in DIAMETERS_MM.iter().enumerate() {
        let c = sphere_centre(k);
        let true_c = BACKGROUND * RATIO;
        let rec_c = mean_in_sphere(&recon, c, d / 2.0);
        let (dt, dr) = (
            mean_in_sphere(&dose_true, c, d / 2.0),
            mean_in_sphere(&dose_recon, c, d / 2.0),
        );
        rows.push((*d, true_c, rec_c, rec_c / true_c, dt, dr, dr / dt));
    }
    // Background: a ring between the spheres and the wall, away from the spheres' plane.
    let bg = |v: &Volume<f32>| {
        let g = v.grid();
        let (mut s, mut n) = (0.0, 0.0);
        for (i, x) in v.data().iter().enumerate() {
            let p = g.voxel_center(g.index_of(i).unwrap_or([0, 0, 0]));
            let r = (p.x * p.x + p.y * p.y).sqrt();
            if (40.0..90.0).contains(&r) && p.z.abs() > 40.0 && p.z.abs() < 70.0 {
                s += f64::from(*x);
                n += 1.0;
            }
        }
        s / n
    };
    let (bg_rec, bg_dose_true, bg_dose_rec) = (bg(&recon), bg(&dose_true), bg(&dose_recon));
    // Pictures.
    let (nu, nz) = (noisy.matrix[0], noisy.matrix[1]);
    let mut pc = Canvas::new(3 * (nu * 4 + 20) + 20, nz * 4 + 60, [255, 255, 255]);
    for (w, name) in ["photopeak", "lower", "upper"].iter().enumerate() {
        let v = noisy.view(w, 0);
        let flipped: Vec<f64> = (0..nz)
            .flat_map(|z| v[(nz - 1 - z) * nu..(nz - z) * nu].to_vec())
            .collect();
        let max = noisy.view(0, 0).iter().fold(0.0f64, |m, x| m.max(*x));
        image(
            &mut pc,
            20 + w as i64 * (nu as i64 * 4 + 20),
            40,
            &flipped,
            nu,
            nz,
            4,
            max,
            &format!("{name}, view 0"),
        );
    }
    pc.write_png(out.join("projections.png"))?;
    let [nx, ny, nzz] = truth.grid().dims();
    let kz = nzz / 2;
    let slice = |v: &Volume<f32>| -> Vec<f64> {
        (0..ny)
            .rev()
            .flat_map(|j| (0..nx).map(move |i| (i, j)))
            .map(|(i, j)| f64::from(v[[i, j, kz]]))
            .collect()
    };
    let mut sc = Canvas::new(4 * (nx * 3 + 20) + 20, ny * 3 + 60, [255, 255, 255]);
    let cmax = BACKGROUND * RATIO;
    let dmax = dose_true.data().iter().fold(0.0f32, |m, x| m.max(*x)) as f64;
    for (k, (v, max, title)) in [
        (&truth, cmax, "true activity"),
        (&recon, cmax, "reconstructed"),
        (&dose_true, dmax, "dose, true activity"),
        (&dose_recon, dmax, "dose, reconstructed"),
    ]
    .into_iter()
    .enumerate()
    {
        image(
            &mut sc,
            20 + k as i64 * (nx as i64 * 3 + 20),
            40,
            &slice(v),
            nx,
            ny,
            3,
            max,
            title,
        );
    }
    sc.write_png(out.join("slices.png"))?;
    let plot = LinePlot::new(
        "Lu-177 spheres: recovery of activity and of dose",
        "sphere diameter (mm)",
        "reconstructed / true",
    )
    .series(Series::new(
        "activity (mean in the sphere)",
        [200, 30, 30],
        rows.iter().map(|r| (r.0, r.3)).collect(),
    ))
    .series(
        Series::new(
            "absorbed dose",
            [30, 30, 200],
            rows.iter().map(|r| (r.0, r.6)).collect(),
        )
        .dashed(),
    )
    .x_range(0.0, 40.0)
    .y_range(0.0, 1.2);
    plot.render(900, 560).write_png(out.join("recovery.png"))?;
    // The report.
    let mut md = format!(
        "# Lu-177 SPECT: simulated, reconstructed, quantified, turned into dose\n\n\
         Phantom: water cylinder r 110 mm, 180 mm long, lung insert r 25.5 mm (0.3 g/mL); six spheres \
         ({:?} mm) at {} kBq/mL in a {} kBq/mL background ({:.1} MBq in all).\n\n\
         Camera: {} ({}), 3/8\" NaI, intrinsic 3.8 mm; {} views over 360 degrees at {} mm, {} x {} bins of \
         {} mm, {} s per view; windows photopeak 187.6-229.2 keV, lower 166.8-187.6, upper 229.2-250.0.\n\n\
         Simulation: {} decays by forced detection in {simulate_s:.0} s; counts with Poisson noise: \
         photopeak {:.3e}, lower {:.3e}, upper {:.3e}. Calibration (point source in air, photopeak less its TEW \
         estimate): {calibration:.2} cps/MBq ({raw_calibration:.2} before TEW).\n\n\
         Reconstruction: OSEM 10 subsets x 4 iterations, attenuation (phantom), depth-dependent \
         response, TEW scatter; {recon_s:.0} s.\n\n\
         Dose: time-integrated activity for physical decay (tau = {:.2} d), betas deposited locally, \
         photons by hope-mc's Monte Carlo (400,000 photons each); {dose_s:.0} s for both.\n\n\
         | sphere (mm) | true (kBq/mL) | reconstructed (kBq/mL) | recovery | dose from truth (Gy) | dose from SPECT (Gy) | dose ratio |\n\
         |---|---|---|---|---|---|---|\n",
        DIAMETERS_MM,
        BACKGROUND * RATIO / 1e3,
        BACKGROUND / 1e3,
        body.activity_bq() / 1e6,
        acq.collimator.code(),
        acq.collimator.description(),
        acq.views,
        acq.radius_cm * 10.0,
        acq.matrix[0],
        acq.matrix[1],
        acq.pixel_cm * 10.0,
        acq.time_per_view_s,
        file.decays,
        counts[0],
        counts[1],
        counts[2],
        tau / 86_400.0,
    );
    for r in &rows {
        md.push_str(&format!(
            "| {:.0} | {:.1} | {:.1} | {:.3} | {:.2} | {:.2} | {:.3} |\n",
            r.0,
            r.1 / 1e3,
            r.2 / 1e3,
            r.3,
            r.4,
            r.5,
            r.6
        ));
    }
    md.push_str(&format!(
        "| background | {:.1} | {:.1} | {:.3} | {:.3} | {:.3} | {:.3} |\n\n\
         The dose from the true activity is lower in the small spheres than in the large ones: \
         their 4.8 mm voxels lie partly outside the sphere (the activity map holds each voxel's \
         fraction inside), and betas deposit in their voxel.\n\n\
         The recovery falls with the sphere's size (partial volume: the reconstructed resolution, \
         about {:.0} mm FWHM at the spheres for this collimator, against the spheres' diameters), \
         and the dose from the SPECT image inherits it: dosimetry of small lesions from SPECT needs \
         a recovery correction. Pictures: projections.png, slices.png, recovery.png. Total run {:.0} s.\n",
        BACKGROUND / 1e3,
        bg_rec / 1e3,
        bg_rec / BACKGROUND,
        bg_dose_true,
        bg_dose_rec,
        bg_dose_rec / bg_dose_true,
        acq.collimator.analytic_fwhm_cm(hope::spect::collimator::lead_mu_per_cm(208_366.0)?, acq.radius_cm, acq.image_gap_cm).hypot(acq.intrinsic_fwhm_cm) * 10.0,
        start.elapsed().as_secs_f64()
    ));
    hope::core::fs::write_atomic(out.join("report.md"), md.as_bytes())?;
    print!("{md}");
    Ok(())
}
