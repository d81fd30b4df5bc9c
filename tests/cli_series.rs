//! `hope series info` and `hope series to-mhd` on series written by hope-dicom.
#![cfg(feature = "cli")]
#![allow(clippy::unwrap_used, missing_docs)]

use std::process::Command;

use hope::core::{Grid, Volume, metaimage};
use hope::dicom::{CtSeriesOptions, write_ct_series};

#[test]
fn inspect_and_convert_a_series() {
    let tmp = tempfile::tempdir().unwrap();
    let grid = Grid::builder([16, 12, 5])
        .spacing([0.8, 0.8, 2.0])
        .origin([-6.0, -4.4, 100.0])
        .build()
        .unwrap();
    let ct = Volume::from_fn(grid, |[i, j, k]| {
        i as i16 * 10 - j as i16 * 3 + k as i16 * 100 - 1000
    });
    let w = write_ct_series(&ct, &tmp.path().join("in"), &CtSeriesOptions::new()).unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_hope"))
            .current_dir(tmp.path())
            .args(args)
            .output()
            .unwrap()
    };

    let info = run(&["series", "info", "in"]);
    let text = String::from_utf8(info.stdout).unwrap();
    assert!(info.status.success());
    assert!(
        text.contains(&w.series_uid)
            && text.contains("dims [16, 12, 5]")
            && text.contains("HU range -1033 .. -450"),
        "{text}"
    );

    let out = run(&["series", "to-mhd", "in", "ct.mhd"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let back: Volume<i16> = metaimage::read(tmp.path().join("ct.mhd")).unwrap();
    assert_eq!(back, ct);

    // A broken series is reported with its problem, and conversion fails clearly.
    std::fs::remove_file(&w.files[2]).unwrap();
    let text = String::from_utf8(run(&["series", "info", "in"]).stdout).unwrap();
    assert!(
        text.contains("cannot be assembled") && text.contains("missing slice"),
        "{text}"
    );
    let out = run(&["series", "to-mhd", "in", "bad.mhd"]);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("missing slice")
    );
}
