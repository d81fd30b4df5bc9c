//! De-identification throughput: one 512 x 512 16-bit CT slice read, de-identified and written
//! (the per-file work of `hope deid run`), and the in-memory step alone; one thread. The
//! directory-level figures on one and two threads, against `cp -r`, come from
//! `examples/deid_bench.rs`.
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hope_core::{Grid, Volume};
use hope_dicom::deid::table::ProfileOption;
use hope_dicom::deid::{BatchOptions, DeidKey, Deidentifier, FileOutcome, read_any};
use hope_dicom::{CtSeriesOptions, write_ct_series};

/// The allocator of the `hope` binary (see hope-cli/src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn deid(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let grid = Grid::builder([512, 512, 1])
        .spacing([0.7, 0.7, 1.25])
        .build()
        .unwrap();
    let ct = Volume::from_fn(grid, |[i, j, _]| ((i * 3 + j * 5) % 2000) as i16 - 1000);
    let w = write_ct_series(&ct, &dir.path().join("in"), &CtSeriesOptions::new()).unwrap();
    let input = w.files[0].clone();
    let deid = Deidentifier::new(
        DeidKey::from_bytes([7; 32]),
        [ProfileOption::RetainLongitudinalModifiedDates],
    );
    let out = dir.path().join("out");
    let options = BatchOptions::new().threads(1);
    let mut g = c.benchmark_group("deid");
    g.throughput(Throughput::Elements(1));
    g.bench_function("file_512x512_ct", |b| {
        b.iter(|| {
            // A fresh output each time: an existing one is never replaced.
            let _ = std::fs::remove_dir_all(&out);
            match deid.deidentify_file(&input, &out, &options) {
                FileOutcome::Done(_) => {}
                other => panic!("{other:?}"),
            }
        })
    });
    let original = read_any(&input).unwrap();
    g.bench_function("in_memory_512x512_ct", |b| {
        b.iter(|| deid.deidentify(original.clone()).unwrap())
    });
    g.finish();
}

criterion_group!(benches, deid);
criterion_main!(benches);
