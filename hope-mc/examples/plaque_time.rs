//! Issue 24's brachytherapy figure: the CPU time to a 2 % (1 sigma) uncertainty at the apex of a
//! COMS 16 mm plaque with 13 model 6711 I-125 seeds, the comparison egs_brachy's authors publish
//! (200 s on one 3.0 GHz Xeon core; Chamberland et al., Phys Med Biol 61:8214, 2016). The plaque
//! and its seeds in analytic geometry (TG-129/CLRP dimensions) on an eye in water, scored in
//! 0.25 mm voxels by track-length kerma; the apex is the voxel on the plaque's axis 5 mm from the
//! inner sclera. One thread; CPU time of the run (after the tables are built).
//!
//! ```sh
//! cargo run --release -p hope-mc --example plaque_time -- [histories] [auto|woodcock|boundary] [split] [recycling: on|off]
//! ```
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use hope_mc::Simulation;

/// The CPU time of this process so far (user + system), seconds, from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let histories: u64 = args.first().map_or(2_000_000, |s| s.parse().unwrap());
    let tracking = args.get(1).map_or("auto", String::as_str);
    let split: u32 = args.get(2).map_or(1, |s| s.parse().unwrap());
    let recycling = args.get(3).is_some_and(|s| s == "on");
    // Eye centre at the origin, plaque on the -z side: the inner sclera on the axis is at
    // z = -11.3 mm and the apex (5 mm from it, towards the eye's centre) at z = -6.3 mm, a voxel
    // centre of this grid (k = 40).
    let file = format!(
        r#"
histories = {histories}
seed = 5

[phantom]
dims = [121, 121, 121]
spacing_mm = [0.25, 0.25, 0.25]
origin_mm = [-15.0, -15.0, -16.3]
material = "water"

[source]
kind = "seeds"
model = "6711"
radionuclide = "I-125"

[source.plaque]
name = "coms-16"
eye_centre_mm = [0.0, 0.0, 0.0]
direction = [0.0, 0.0, -1.0]

[physics]
tracking = "{tracking}"

[variance_reduction]
photon_splitting = {split}
particle_recycling = {recycling}
"#
    );
    let path = std::env::temp_dir().join(format!("plaque_time_{}.toml", std::process::id()));
    std::fs::write(&path, file).unwrap();
    let sim = Simulation::from_file(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let run = sim.prepare(1).unwrap();
    println!(
        "COMS 16 mm, 13 model 6711 seeds, 0.25 mm voxels, {histories} histories, one thread, \
         tracking {:?} (asked: {tracking}; majorant ratio {:.2}), photon splitting {split}, \
         particle recycling {recycling}",
        run.transport().options().tracking,
        run.transport().majorant_ratio()
    );
    let before = cpu_seconds();
    let result = run.run(&|_, _| {}).unwrap();
    let cpu = cpu_seconds() - before;
    let dose = run.dose(&result).unwrap();
    let apex = [60, 60, 40];
    let d = dose.dose.get(apex).unwrap();
    let s = dose.uncertainty.get(apex).unwrap();
    println!(
        "run {cpu:.1} s CPU ({:.0} histories per CPU second); apex dose {d:.4e} Gy per history +- {:.2} %",
        histories as f64 / cpu,
        100.0 * s
    );
    println!(
        "CPU time to 2 % at the apex: {:.1} s (egs_brachy, published: 200 s on a 3.0 GHz Xeon core)",
        cpu * (s / 0.02).powi(2)
    );
}
