//! Benchmark of the acquisition simulator's three detection methods on one case: Tc-99m spread
//! uniformly in a water cylinder (r 10 cm, 16 cm long; 0.5 cm voxels), Symbia LEHR, 3/8" NaI,
//! 32 views over 360 degrees at 20 cm, 64 x 32 bins of 0.5 cm, 20 % photopeak window. One
//! thread; CPU time of the process (/proc/self/stat).
//!
//! For each method: decays per CPU second; photopeak counts per decay (all three estimate the
//! same number); the relative noise per bin of the photopeak projections (from two runs with
//! different seeds: `var = mean((a - b)^2) / 2` over the bins facing the cylinder's inner part,
//! |u| < 8 cm and |z| < 6 cm in every view); and the efficiency `1 / (noise^2 * CPU time)`. The speed-up at equal
//! projection noise is the ratio of efficiencies to explicit transport's.
//!
//! `cargo run --release -p hope-spect --example spect_detection [explicit decays]`

#![allow(clippy::print_stdout)]

use hope_core::{Grid, Volume};
use hope_mc::{Material, Phantom, Radionuclide};
use hope_spect::{Acquisition, Body, Collimator, Crystal, Method, RunControl, Window, simulate};

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // Fields 14 and 15 of the file (utime, stime), in clock ticks of 1/100 s.
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let explicit_decays: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(10_000_000);
    let (n, nz, voxel) = (48, 32, 0.5);
    let grid = Grid::new([n, n, nz], [voxel * 10.0; 3])?;
    let (water, air) = (Material::builtin("water")?, Material::builtin("air")?);
    let mut inside = Vec::with_capacity(n * n * nz);
    for _z in 0..nz {
        for y in 0..n {
            for x in 0..n {
                let px = (x as f64 + 0.5 - n as f64 / 2.0) * voxel;
                let py = (y as f64 + 0.5 - n as f64 / 2.0) * voxel;
                inside.push(px.hypot(py) <= 10.0);
            }
        }
    }
    let phantom = Phantom::new(
        grid.clone(),
        vec![water, air],
        inside.iter().map(|i| u16::from(!*i)).collect(),
        inside
            .iter()
            .map(|i| if *i { 1.0 } else { 0.0012 })
            .collect(),
    )?;
    let activity = Volume::new(
        grid,
        inside
            .iter()
            .map(|i| if *i { 100.0 } else { 0.0 })
            .collect(),
    )?;
    let body = Body::new(&phantom, &activity)?;
    let tc = Radionuclide::by_name("Tc-99m")?;
    let acq = |method| Acquisition {
        views: 32,
        arc_deg: 360.0,
        start_deg: 0.0,
        radius_cm: 20.0,
        matrix: [64, 32],
        pixel_cm: 0.5,
        collimator: Collimator::by_code("SY-LEHR").unwrap_or_else(|_| unreachable!()),
        crystal: Crystal::nai_3_8_inch(),
        intrinsic_fwhm_cm: 0.38,
        image_gap_cm: 0.64,
        windows: vec![Window::centred("photopeak", 140_511.0, 0.2)],
        time_per_view_s: 20.0,
        method,
        max_angle_deg: None,
        collimator_scatter: true,
    };
    println!(
        "Tc-99m in a water cylinder r 10 cm, 16 cm; SY-LEHR; 32 views; 64 x 32 bins; one thread"
    );
    println!(
        "{:<18} {:>12} {:>10} {:>9} {:>14} {:>12} {:>10} {:>12} {:>9}",
        "method",
        "decays",
        "CPU s",
        "tables s",
        "decays/CPU s",
        "counts/decay",
        "noise/bin",
        "1/(n^2 t)",
        "speed-up"
    );
    let mut reference = None;
    for (method, decays) in [
        (Method::Explicit, explicit_decays),
        (Method::AngularResponse, explicit_decays),
        (Method::ForcedDetection, explicit_decays / 100),
    ] {
        let a = acq(method);
        let mut runs = Vec::new();
        let mut cpu = 0.0;
        for seed in [1, 2] {
            let before = cpu_seconds();
            runs.push(simulate(
                &body,
                &tc,
                &a,
                &RunControl {
                    decays,
                    seed,
                    threads: 1,
                },
            )?);
            cpu += cpu_seconds() - before;
        }
        let cpu = cpu / 2.0;
        // The tables (angular response, collimator scatter, window probabilities) are built per
        // run: their time, from a run of one decay, is included above and shown apart.
        let before = cpu_seconds();
        simulate(
            &body,
            &tc,
            &a,
            &RunControl {
                decays: 1,
                seed: 9,
                threads: 1,
            },
        )?;
        let tables = cpu_seconds() - before;
        let (x, y) = (&runs[0].counts, &runs[1].counts);
        let (mut d2, mut mean, mut k) = (0.0, 0.0, 0.0);
        for (i, (a, b)) in x.iter().zip(y).enumerate() {
            // The bins facing the cylinder's inner part: |u| < 8 cm, |z| < 6 cm, every view.
            let (u, z) = (
                (i % 64) as f64 * 0.5 - 15.75,
                ((i / 64) % 32) as f64 * 0.5 - 7.75,
            );
            if u.abs() < 8.0 && z.abs() < 6.0 {
                d2 += (a - b) * (a - b) / 2.0;
                mean += (a + b) / 2.0;
                k += 1.0;
            }
        }
        let noise = (d2 / k).sqrt() / (mean / k);
        let per_decay =
            runs[0].counts.iter().sum::<f64>() / (runs[0].activity_bq * runs[0].time_per_view_s);
        let fom = 1.0 / (noise * noise * cpu);
        let speed = match reference {
            None => {
                reference = Some(fom);
                1.0
            }
            Some(r) => fom / r,
        };
        println!(
            "{:<18} {:>12} {:>10.2} {:>9.2} {:>14.0} {:>12.3e} {:>10.4} {:>12.3e} {:>9.1}",
            method.name(),
            decays,
            cpu,
            tables,
            decays as f64 / cpu,
            per_decay,
            noise,
            fom,
            speed
        );
    }
    Ok(())
}
