//! De-identify a directory of DICOM files to PS3.15 Annex E (basic profile, keyed UIDs and
//! pseudonyms), with a fresh project key, and report what happened to each file.
//!
//! ```sh
//! cargo run --release --example deid_dir -- INPUT_DIR OUTPUT_DIR
//! cargo run --release --example deid_dir                 # a small synthetic series, in out/deid_dir
//! ```
#![allow(clippy::print_stdout)]

use std::path::PathBuf;

use hope::core::{Grid, Volume};
use hope::dicom::deid::{BatchOptions, DeidKey, Deidentifier, FileOutcome, deidentify_dir};
use hope::dicom::{CtSeriesOptions, write_ct_series};

fn main() -> hope_test_support::ExampleResult {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (input, output) = match args.as_slice() {
        [i, o] => (PathBuf::from(i), PathBuf::from(o)),
        _ => {
            // No input given: a 4-slice CT with a fake identity.
            let dir = PathBuf::from("out/deid_dir");
            let grid = Grid::new([16, 16, 4], [1.0, 1.0, 2.0])?;
            write_ct_series(
                &Volume::<i16>::filled(grid, 40),
                &dir.join("in"),
                &CtSeriesOptions::new()
                    .patient_name("ROE^RICHARD")
                    .patient_id("MRN-1234"),
            )?;
            (dir.join("in"), dir.join("out"))
        }
    };
    // The project key decides pseudonyms and UIDs: keep it secret, reuse it for the same project.
    let key = DeidKey::generate()
        .map_err(|e| format!("no random numbers from the operating system: {e}"))?;
    let deid = Deidentifier::new(key, []);
    let summary = deidentify_dir(
        &deid,
        &input,
        &output,
        &BatchOptions::new(),
        &|path, outcome| {
            // Outcomes never hold values from the files: safe to print.
            if !matches!(outcome, FileOutcome::Done(_)) {
                println!("{}: {outcome:?}", path.display());
            }
        },
    )?;
    println!(
        "{} files de-identified into {}, {} quarantined, {} skipped",
        summary.done,
        output.display(),
        summary.quarantined.len(),
        summary.skipped.len()
    );
    Ok(())
}
