//! The efficiency of reference case P1 as issue 24 defines it: epsilon = 1 / (s^2 T), T the CPU
//! time of one run (one thread), s the root-mean-square relative uncertainty of the central
//! 4-voxel column dose at the seven depths of ../shared/reference/physics.md (voxel centres 0.1,
//! 0.3, 1.1, 2.1, 5.1, 10.1 and 15.1 cm), estimated from the spread of `runs` independent runs
//! (different seeds), not from per-voxel uncertainties.
//!
//! Settings are EGSnrc's for P1 (physics.md): Klein-Nishina Compton scattering on free electrons,
//! no Rayleigh scattering, no atomic relaxation, electron and photon cutoffs 10 keV (kinetic),
//! and delta-ray and bremsstrahlung thresholds 10 keV; Woodcock photon tracking. The variance
//! reduction is chosen on the command line:
//!
//! ```sh
//! cargo run --release -p hope-mc --example efficiency -- [histories per run] [runs] \
//!     [--range-rejection on|off] [--split N] [--roulette on|off] [--stratified on|off] [--repetition on|off] [--threads T] [--max-energy-loss F] [--elastic-c1 C]
//! ```
//!
//! Prints each depth's mean dose with its relative spread, the DOSXYZnrc reference value and the
//! difference in units of the combined standard uncertainty, the mean CPU time per run and
//! epsilon.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use hope_core::{Grid, Vec3};
use hope_mc::physics::electron::ElectronOptions;
use hope_mc::physics::{ComptonModel, Relaxation};
use hope_mc::{
    Material, Phantom, PhysicsOptions, RunOptions, Source, Spectrum, Transport, VarianceReduction,
};

/// Voxel layer, voxel-centre depth (cm), DOSXYZnrc dose per history (Gy) and its 1 sigma (%),
/// from ../shared/reference/physics.md (2e6 histories as 10 runs).
const DEPTHS: [(usize, f64, f64, f64); 7] = [
    (0, 0.1, 1.9200e-11, 0.77),
    (1, 0.3, 3.0789e-11, 0.43),
    (5, 1.1, 2.9433e-11, 0.39),
    (10, 2.1, 2.7710e-11, 0.55),
    (25, 5.1, 2.1928e-11, 0.62),
    (50, 10.1, 1.5607e-11, 0.82),
    (75, 15.1, 1.0947e-11, 1.35),
];

/// The CPU time of this process so far (user + system), seconds, from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut positional = Vec::new();
    let (mut rr, mut split, mut threads) = (true, 1u32, 1usize);
    let d = ElectronOptions::default();
    let (mut eloss, mut c1) = (d.max_energy_loss, d.elastic_c1);
    let (mut roulette, mut stratified, mut repetition) = (true, true, true);
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--range-rejection" => {
                rr = args[i + 1] == "on";
                i += 1;
            }
            "--split" => {
                split = args[i + 1].parse().unwrap();
                i += 1;
            }
            "--max-energy-loss" => {
                eloss = args[i + 1].parse().unwrap();
                i += 1;
            }
            "--elastic-c1" => {
                c1 = args[i + 1].parse().unwrap();
                i += 1;
            }
            "--roulette" => {
                roulette = args[i + 1] == "on";
                i += 1;
            }
            "--repetition" => {
                repetition = args[i + 1] == "on";
                i += 1;
            }
            "--stratified" => {
                stratified = args[i + 1] == "on";
                i += 1;
            }
            "--threads" => {
                threads = args[i + 1].parse().unwrap();
                i += 1;
            }
            a => positional.push(a.to_string()),
        }
        i += 1;
    }
    let histories: u64 = positional.first().map_or(200_000, |s| s.parse().unwrap());
    let runs: u64 = positional.get(1).map_or(8, |s| s.parse().unwrap());
    let grid = Grid::builder([100, 100, 100])
        .spacing([2.0, 2.0, 2.0])
        .origin([-99.0, -99.0, 1.0])
        .build()
        .unwrap();
    let options = RunOptions {
        threads,
        tracking: hope_mc::Tracking::Woodcock,
        physics: PhysicsOptions {
            photon_cutoff_ev: 10e3,
            rayleigh: false,
            compton: ComptonModel::Free,
            relaxation: Relaxation::None,
            electrons: ElectronOptions {
                transport: true,
                range_rejection: rr,
                max_energy_loss: eloss,
                elastic_c1: c1,
                ..d
            },
            ..PhysicsOptions::default()
        },
        variance_reduction: VarianceReduction {
            photon_splitting: split,
            russian_roulette: roulette,
            stratified,
            history_repetition: repetition,
            particle_recycling: false,
        },
        ..RunOptions::default()
    };
    let t = Transport::new(
        Phantom::uniform(grid.clone(), Material::builtin("water").unwrap()),
        options,
    )
    .unwrap();
    let source = Source::Pencil {
        position: Vec3::new(0.0, 0.0, -10.0),
        direction: Vec3::new(0.0, 0.0, 1.0),
        spectrum: Spectrum::Mono(1e6),
    };
    println!(
        "P1 efficiency: {runs} runs of {histories} histories, {threads} thread(s), range rejection {}, \
         photon splitting {split} (roulette {roulette}, stratified {stratified}, history repetition {repetition}), electron steps: max energy loss {eloss}, elastic C1 {c1}",
        if rr { "on" } else { "off" }
    );
    let mut doses = vec![Vec::new(); DEPTHS.len()];
    let (mut cpu, mut deposited) = (0.0, Vec::new());
    for run in 0..runs {
        let before = cpu_seconds();
        let p = t.run(&source, histories, 1000 + run, &|_, _| {}).unwrap();
        let secs = cpu_seconds() - before;
        cpu += secs;
        let (dose, _) = p.dose(&p.analog, &grid).unwrap();
        for (d, &(k, ..)) in doses.iter_mut().zip(&DEPTHS) {
            let mut sum = 0.0;
            for j in 49..51 {
                for i in 49..51 {
                    sum += dose.get([i, j, k]).unwrap() / 4.0;
                }
            }
            d.push(sum);
        }
        deposited.push(p.deposited() / p.emitted());
        println!(
            "run {run}: {secs:.2} s CPU, {:.0} histories per CPU second",
            histories as f64 / secs
        );
    }
    let n = runs as f64;
    let mean_sd = |x: &[f64]| {
        let m = x.iter().sum::<f64>() / n;
        let var = x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0);
        (m, var.sqrt())
    };
    let mut s2 = 0.0;
    for (d, &(_, z, reference, ref_pct)) in doses.iter().zip(&DEPTHS) {
        let (m, sd) = mean_sd(d);
        // Relative spread of one run, and the mean's.
        let rel = sd / m;
        s2 += rel * rel / DEPTHS.len() as f64;
        let sigma_mean = sd / n.sqrt();
        let combined = (sigma_mean.powi(2) + (reference * ref_pct / 100.0).powi(2)).sqrt();
        println!(
            "z {z:>4.1} cm: {m:.4e} Gy (1 run: +- {:.2} %, mean +- {:.2} %)  DOSXYZnrc {reference:.4e} \
             ({:+.2} %, {:+.1} sigma)",
            100.0 * rel,
            100.0 * sigma_mean / m,
            100.0 * (m / reference - 1.0),
            (m - reference) / combined
        );
    }
    let (dep, dep_sd) = mean_sd(&deposited);
    let t_run = cpu / n;
    println!(
        "deposited fraction {dep:.5} +- {:.5} (DOSXYZnrc 0.47656 +- 0.00031)",
        dep_sd / n.sqrt()
    );
    println!(
        "s {:.3} % per run, T {t_run:.2} s CPU per run ({:.0} histories per CPU second): epsilon {:.0} /s",
        100.0 * s2.sqrt(),
        histories as f64 / t_run,
        1.0 / (s2 * t_run)
    );
}
