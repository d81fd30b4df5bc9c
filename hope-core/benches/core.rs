//! hope-core throughput: MetaImage write and read, grid point <-> index conversions.
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hope_core::{Grid, Vec3, Volume, metaimage};
use std::hint::black_box;

fn metaimage_io(c: &mut Criterion) {
    let grid = Grid::builder([256, 256, 64])
        .spacing([1.0, 1.0, 2.0])
        .build()
        .unwrap();
    let vol = Volume::from_fn(grid, |[i, j, k]| (i * 7 + j * 3 + k) as f32);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.mhd");
    let mut g = c.benchmark_group("metaimage");
    g.throughput(Throughput::Bytes((vol.data().len() * 4) as u64));
    g.sample_size(20);
    g.bench_function("write_f32_16MiB", |b| {
        b.iter(|| metaimage::write(&path, black_box(&vol)).unwrap())
    });
    g.bench_function("read_f32_16MiB", |b| {
        b.iter(|| metaimage::read::<f32>(black_box(&path)).unwrap())
    });
    g.finish();
}

fn grid_conversions(c: &mut Criterion) {
    let s = std::f64::consts::FRAC_1_SQRT_2;
    let grid = Grid::builder([512, 512, 300])
        .spacing([0.7, 0.7, 1.25])
        .origin([-180.0, -180.0, -200.0])
        .direction([Vec3::new(s, s, 0.0), Vec3::new(-s, s, 0.0), Vec3::Z])
        .build()
        .unwrap();
    let points: Vec<Vec3> = (0..4096)
        .map(|n| grid.index_to_point([(n % 512) as f64, (n / 8 % 512) as f64, (n % 300) as f64]))
        .collect();
    let mut g = c.benchmark_group("grid");
    g.throughput(Throughput::Elements(points.len() as u64));
    g.bench_function("voxel_at_oblique", |b| {
        b.iter(|| {
            points
                .iter()
                .filter_map(|&p| grid.voxel_at(black_box(p)))
                .count()
        })
    });
    g.finish();
}

criterion_group!(benches, metaimage_io, grid_conversions);
criterion_main!(benches);
