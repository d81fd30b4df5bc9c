//! De-identifying a directory of 512 x 512 16-bit CT slices with `deidentify_dir`, on one thread
//! and on every core, against `cp -r` of the same directory (page cache warm for all), with the
//! peak resident memory of the de-identifying process (each run is a child process of this one,
//! so that writing the input does not count).
//!
//! ```sh
//! cargo run --release --example deid_bench -- [--dir DIR] [--files 1000]
//! cargo run --release --example deid_bench -- --make IN --files 300     # only write the input
//! cargo run --release --example deid_bench -- --run IN --out OUT [--threads 1]  # one run
//! ```
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use hope_test_support::args as common;

use common::{arg, median};

use std::process::Command;
use std::time::Instant;

use hope_core::{Grid, Volume};
use hope_dicom::deid::table::ProfileOption;
use hope_dicom::deid::{BatchOptions, DeidKey, Deidentifier, deidentify_dir};
use hope_dicom::{CtSeriesOptions, write_ct_series};

/// The allocator of the `hope` binary (see hope-cli/src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Peak resident set size of this process (VmHWM), in MiB, where /proc has it.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() {
    if let Some(input) = arg("--run") {
        // Child: one de-identification run; prints seconds, files and peak RSS.
        let threads: usize = arg("--threads").map_or(0, |s| s.parse().unwrap());
        let out = std::path::PathBuf::from(arg("--out").unwrap());
        let deid = Deidentifier::new(
            DeidKey::from_bytes([7; 32]),
            [ProfileOption::RetainLongitudinalModifiedDates],
        );
        let t = Instant::now();
        let summary = deidentify_dir(
            &deid,
            input.as_ref(),
            &out,
            &BatchOptions::new().threads(threads),
            &|_, _| {},
        )
        .unwrap();
        let secs = t.elapsed().as_secs_f64();
        assert!(
            summary.skipped.is_empty() && summary.quarantined.is_empty(),
            "{summary:?}"
        );
        println!("{secs} {} {}", summary.done, peak_rss_mib().unwrap_or(0.0));
        return;
    }
    let files: usize = arg("--files").map_or(1000, |s| s.parse().unwrap());
    let base = arg("--dir").map_or_else(
        || tempfile::tempdir_in(".").unwrap(),
        |d| tempfile::tempdir_in(d).unwrap(),
    );
    let input = arg("--make").map_or_else(|| base.path().join("in"), std::path::PathBuf::from);
    // Written in series of 100 slices, so that the input has several studies' worth of UIDs.
    for s in 0..files.div_ceil(100) {
        let n = (files - s * 100).min(100);
        let grid = Grid::builder([512, 512, n])
            .spacing([0.7, 0.7, 1.25])
            .build()
            .unwrap();
        let ct = Volume::from_fn(grid, |[i, j, k]| {
            ((i * 3 + j * 5 + k * 7) % 2000) as i16 - 1000
        });
        write_ct_series(&ct, &input.join(format!("s{s}")), &CtSeriesOptions::new()).unwrap();
    }
    if arg("--make").is_some() {
        return; // input written for a run by hand (`--run DIR --out OUT`)
    }
    let mut cp = Vec::new();
    let mut runs: Vec<(usize, Vec<f64>, f64)> = vec![(1, Vec::new(), 0.0), (0, Vec::new(), 0.0)];
    for round in 0..3 {
        let t = Instant::now();
        let target = base.path().join(format!("cp{round}"));
        let status = Command::new("cp")
            .arg("-r")
            .arg(&input)
            .arg(&target)
            .status()
            .unwrap();
        assert!(status.success());
        cp.push(t.elapsed().as_secs_f64());
        std::fs::remove_dir_all(&target).unwrap();
        for (threads, times, rss) in &mut runs {
            let out = base.path().join(format!("out{round}-{threads}"));
            let child = Command::new(std::env::current_exe().unwrap())
                .arg("--run")
                .arg(&input)
                .arg("--out")
                .arg(&out)
                .arg("--threads")
                .arg(threads.to_string())
                .output()
                .unwrap();
            assert!(
                child.status.success(),
                "{}",
                String::from_utf8_lossy(&child.stderr)
            );
            let text = String::from_utf8(child.stdout).unwrap();
            let v: Vec<f64> = text
                .split_whitespace()
                .map(|x| x.parse().unwrap())
                .collect();
            assert_eq!(v[1] as usize, files);
            times.push(v[0]);
            *rss = rss.max(v[2]);
            std::fs::remove_dir_all(&out).unwrap();
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let c = median(cp);
    println!(
        "{files} files of 512x512 16-bit CT ({:.0} MB)",
        files as f64 * 0.525
    );
    println!("  cp -r:                {:.0} files/s", files as f64 / c);
    for (threads, times, rss) in runs {
        let t = median(times);
        let label = if threads == 0 {
            format!("{cores} threads")
        } else {
            "1 thread".into()
        };
        println!(
            "  deidentify_dir, {label}: {:.0} files/s, {:.2} of cp -r, peak RSS {rss:.0} MiB",
            files as f64 / t,
            c / t
        );
    }
}
