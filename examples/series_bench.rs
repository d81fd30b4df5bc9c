//! Assembling a 512 x 512 x 300 CT series into a Hounsfield-unit volume, against `cat` of the same
//! files (page cache warm for both).
//!
//! ```sh
//! cargo run --release --example series_bench -- [--dir DIR] [--slices 300]
//! ```
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use hope_test_support::args as common;

use common::{arg, median};

use std::process::Command;
use std::time::Instant;

use hope::core::{Grid, Volume};
use hope::dicom::{CtSeriesOptions, load_ct_volume, write_ct_series};

fn main() {
    let slices: usize = arg("--slices").map_or(300, |s| s.parse().unwrap());
    let base = arg("--dir").map_or_else(
        || tempfile::tempdir_in(".").unwrap(),
        |d| tempfile::tempdir_in(d).unwrap(),
    );
    let grid = Grid::builder([512, 512, slices])
        .spacing([0.7, 0.7, 1.25])
        .origin([-179.0, -179.0, -200.0])
        .build()
        .unwrap();
    let ct = Volume::from_fn(grid, |[i, j, k]| {
        ((i * 3 + j * 5 + k * 7) % 2000) as i16 - 1000
    });
    let series = write_ct_series(&ct, base.path(), &CtSeriesOptions::new()).unwrap();
    let bytes: u64 = series
        .files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    let mb = bytes as f64 / 1e6;

    let mut cat = Vec::new();
    let mut load = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!("cat {}/*.dcm > /dev/null", base.path().display()))
            .status()
            .unwrap();
        assert!(status.success());
        cat.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let v = load_ct_volume(&series.files).unwrap();
        load.push(t.elapsed().as_secs_f64());
        assert_eq!(v.data().len(), ct.data().len());
    }
    let (c, l) = (median(cat), median(load));
    println!("{slices} slices of 512x512, {mb:.0} MB");
    println!(
        "  cat > /dev/null:   {:.0} MB/s ({:.0} ms)",
        mb / c,
        c * 1e3
    );
    println!(
        "  load_ct_volume:    {:.0} MB/s ({:.0} ms), {:.2} of cat",
        mb / l,
        l * 1e3,
        c / l
    );
}
