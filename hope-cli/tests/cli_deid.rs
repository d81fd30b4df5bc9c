//! `hope deid keygen|run|report` on files written by hope-dicom.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::hope;
use std::process::Output;

use hope::core::{Grid, Volume};
use hope::dicom::{CtSeriesOptions, write_ct_series};

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn keygen_run_and_report() {
    let tmp = tempfile::tempdir().unwrap();
    let grid = Grid::new([8, 8, 3], [1.0, 1.0, 2.0]).unwrap();
    write_ct_series(
        &Volume::filled(grid, 7i16),
        &tmp.path().join("in/ct"),
        &CtSeriesOptions::new(),
    )
    .unwrap();
    std::fs::write(tmp.path().join("in/notes.txt"), "not DICOM").unwrap();

    let o = hope(tmp.path(), &["deid", "keygen", "project.key"]);
    assert!(o.status.success(), "{}", text(&o));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(tmp.path().join("project.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "key readable by others: {mode:o}");
    }
    // Never overwritten.
    assert!(
        !hope(tmp.path(), &["deid", "keygen", "project.key"])
            .status
            .success()
    );

    assert!(
        hope(tmp.path(), &["deid", "keygen", "mapping.key"])
            .status
            .success()
    );
    let o = hope(
        tmp.path(),
        &[
            "deid",
            "run",
            "in",
            "out",
            "--key",
            "project.key",
            "--option",
            "retain-longitudinal-modified-dates",
            "--mapping",
            "map.bin",
            "--mapping-key",
            "mapping.key",
        ],
    );
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("4 files") && t.contains("3 de-identified") && t.contains("1 skipped"),
        "{t}"
    );
    assert!(
        t.contains("notes.txt") && t.contains("not a readable DICOM file"),
        "{t}"
    );
    assert!(t.contains("mapping of 1 patients written encrypted"), "{t}");
    let key = hope::dicom::deid::MappingKey::from_hex(
        &std::fs::read_to_string(tmp.path().join("mapping.key")).unwrap(),
    )
    .unwrap();
    let map =
        hope::dicom::deid::mapping::read_encrypted(&tmp.path().join("map.bin"), &key).unwrap();
    assert_eq!(map.len(), 1);
    let (original, p) = map.iter().next().unwrap();
    assert!(
        p.pseudonym.starts_with("HOPE-") && p.date_shift_days < 0,
        "{original}: {p:?}"
    );
    let series: Vec<_> = std::fs::read_dir(tmp.path().join("out")).unwrap().collect();
    assert_eq!(series.len(), 1);
    let files = std::fs::read_dir(series[0].as_ref().unwrap().path())
        .unwrap()
        .count();
    assert_eq!(files, 3);

    let o = hope(
        tmp.path(),
        &["deid", "report", "in/ct/CT0001.dcm", "--key", "project.key"],
    );
    let t = text(&o);
    assert!(
        o.status.success() && t.contains("(0010,0010) Pseudonym") && t.contains("pixels: Clean"),
        "{t}"
    );

    // Mistakes are named.
    let o = hope(
        tmp.path(),
        &[
            "deid",
            "run",
            "in",
            "out2",
            "--key",
            "project.key",
            "--option",
            "keep-all",
        ],
    );
    assert!(
        !o.status.success() && text(&o).contains("--option keep-all"),
        "{}",
        text(&o)
    );
    std::fs::write(tmp.path().join("bad.key"), "1234").unwrap();
    let o = hope(
        tmp.path(),
        &["deid", "run", "in", "out3", "--key", "bad.key"],
    );
    assert!(
        !o.status.success() && text(&o).contains("64 hexadecimal digits"),
        "{}",
        text(&o)
    );
    let o = hope(
        tmp.path(),
        &["deid", "run", "in", "in/out", "--key", "project.key"],
    );
    assert!(
        !o.status.success() && text(&o).contains("inside the input"),
        "{}",
        text(&o)
    );
}
