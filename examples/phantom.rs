//! Writes a small CT-like phantom as MetaImage, reads it back and checks it.
//!
//! The phantom is a 20 cm water cylinder with a cortical-bone ring and an air cavity, in Hounsfield
//! units on a 1 mm x 1 mm x 2 mm grid. Open `phantom.mhd` in 3D Slicer or ITK-SNAP to look at it.
//!
//! ```sh
//! cargo run --release --example phantom [OUTPUT_DIR]
//! ```
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::time::Instant;

use hope::core::{Grid, Vec3, Volume, metaimage};
use hope_test_support::ensure;

fn main() -> hope_test_support::ExampleResult {
    let out: PathBuf = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("out/phantom"), PathBuf::from);
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;

    println!("1. building a 256 x 256 x 64 phantom (1 x 1 x 2 mm voxels)");
    let grid = Grid::builder([256, 256, 64])
        .spacing([1.0, 1.0, 2.0])
        .origin([-127.5, -127.5, -63.0])
        .build()?;
    let start = Instant::now();
    let ct = Volume::from_fn(grid.clone(), |idx| {
        let p = grid.voxel_center(idx);
        let r = Vec3::new(p.x, p.y, 0.0).norm();
        if r > 100.0 {
            -1000i16 // air around the body
        } else if (r - 80.0).abs() < 5.0 {
            1300 // cortical-bone ring
        } else if (p - Vec3::new(30.0, 0.0, 0.0)).norm() < 15.0 {
            -1000 // spherical air cavity
        } else {
            0 // water
        }
    });
    println!("   built in {:.1} ms", start.elapsed().as_secs_f64() * 1e3);

    let path = out.join("phantom.mhd");
    println!("2. writing {}", path.display());
    let start = Instant::now();
    metaimage::write(&path, &ct)?;
    let mib = (ct.data().len() * 2) as f64 / (1 << 20) as f64;
    println!(
        "   {mib:.1} MiB in {:.1} ms",
        start.elapsed().as_secs_f64() * 1e3
    );

    println!("3. reading it back and checking voxels and geometry");
    let back: Volume<i16> = metaimage::read(&path)?;
    ensure!(
        back == ct,
        "the volume read back differs from the one written"
    );
    let centre = back
        .grid()
        .voxel_at([30.0, 0.0, 0.0])
        .ok_or("cavity centre outside the grid")?;
    ensure!(back[centre] == -1000, "cavity centre is not air");
    let ring = back
        .grid()
        .voxel_at([0.0, 80.0, 10.0])
        .ok_or("ring outside the grid")?;
    ensure!(back[ring] == 1300, "bone ring missing");
    let water = ct.data().iter().filter(|&&v| v == 0).count();
    println!(
        "   ok: {} voxels, {:.1} % water, geometry identical",
        back.data().len(),
        100.0 * water as f64 / ct.data().len() as f64
    );
    println!("outputs in {}", out.display());
    Ok(())
}
