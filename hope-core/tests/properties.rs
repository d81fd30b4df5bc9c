//! Property tests: index <-> point round trips on arbitrary grids, MetaImage round trips.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use hope_core::{Grid, Vec3, Volume, metaimage};
use proptest::prelude::*;

/// A rotation matrix from a (non-normalised) quaternion, optionally reflected: arbitrary orthonormal
/// axis directions as found in oblique and flipped DICOM series.
fn directions_from(q: [f64; 4], reflect: bool) -> Option<[Vec3; 3]> {
    let n = q.iter().map(|c| c * c).sum::<f64>().sqrt();
    if n < 1e-3 {
        return None;
    }
    let [w, x, y, z] = q.map(|c| c / n);
    let d0 = Vec3::new(
        1.0 - 2.0 * (y * y + z * z),
        2.0 * (x * y + w * z),
        2.0 * (x * z - w * y),
    );
    let d1 = Vec3::new(
        2.0 * (x * y - w * z),
        1.0 - 2.0 * (x * x + z * z),
        2.0 * (y * z + w * x),
    );
    let d2 = Vec3::new(
        2.0 * (x * z + w * y),
        2.0 * (y * z - w * x),
        1.0 - 2.0 * (x * x + y * y),
    );
    Some(if reflect { [d0, d1, -d2] } else { [d0, d1, d2] })
}

fn arb_grid(max_dim: usize) -> impl Strategy<Value = Grid> {
    (
        prop::array::uniform3(1..=max_dim),
        prop::array::uniform3(0.05f64..10.0),
        prop::array::uniform3(-800.0f64..800.0),
        prop::array::uniform4(-1.0f64..1.0),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_filter_map(
            "degenerate rotation",
            |(dims, spacing, origin, q, oblique, reflect)| {
                let direction = if oblique {
                    directions_from(q, reflect)?
                } else {
                    [Vec3::X, Vec3::Y, Vec3::Z]
                };
                Grid::builder(dims)
                    .spacing(spacing)
                    .origin(origin)
                    .direction(direction)
                    .build()
                    .ok()
            },
        )
}

proptest! {
    #[test]
    fn point_to_index_inverts_index_to_point(grid in arb_grid(600), f in prop::array::uniform3(-1.0f64..2.0)) {
        let index = [0, 1, 2].map(|a| f[a] * grid.dims()[a] as f64);
        let p = grid.index_to_point(index);
        let back = grid.point_to_index(p);
        for a in 0..3 {
            // Positions reach ~10^4 mm; allow a few ulps of that, in index units.
            let tol = 1e-9 * (1.0 + p.norm()) / grid.spacing()[a];
            prop_assert!((back[a] - index[a]).abs() <= tol, "axis {a}: {} vs {}", back[a], index[a]);
        }
    }

    #[test]
    fn voxel_at_finds_every_voxel_centre(grid in arb_grid(40), pick in prop::array::uniform3(0.0f64..1.0)) {
        let idx = [0, 1, 2].map(|a| ((pick[a] * grid.dims()[a] as f64) as usize).min(grid.dims()[a] - 1));
        prop_assert_eq!(grid.voxel_at(grid.voxel_center(idx)), Some(idx));
        let off = grid.offset(idx).unwrap();
        prop_assert_eq!(grid.index_of(off), Some(idx));
    }

    #[test]
    fn points_outside_the_grid_have_no_voxel(grid in arb_grid(40), axis in 0usize..3, far in 0.51f64..5.0, low in any::<bool>()) {
        let mut index = grid.dims().map(|n| (n as f64 - 1.0) / 2.0);
        index[axis] = if low { -far } else { grid.dims()[axis] as f64 - 1.0 + far };
        prop_assert_eq!(grid.voxel_at(grid.index_to_point(index)), None);
    }

    #[test]
    fn metaimage_f32_round_trips(grid in arb_grid(12), seed in any::<u32>(), mha in any::<bool>(), compress in any::<bool>()) {
        let vol = Volume::from_fn(grid, |[i, j, k]| {
            let h = (i as u32).wrapping_mul(73_856_093) ^ (j as u32).wrapping_mul(19_349_663) ^ (k as u32).wrapping_mul(83_492_791) ^ seed;
            f32::from_bits(h & 0x7f7f_ffff) // finite values of every magnitude
        });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(if mha { "v.mha" } else { "v.mhd" });
        metaimage::write_with(&path, &vol, &metaimage::WriteOptions::new().compress(compress)).unwrap();
        let back: Volume<f32> = metaimage::read(&path).unwrap();
        prop_assert_eq!(back.grid(), vol.grid());
        prop_assert!(back.data().iter().zip(vol.data()).all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    #[test]
    fn metaimage_i16_round_trips(grid in arb_grid(12), values in prop::collection::vec(any::<i16>(), 1..64), mha in any::<bool>()) {
        let vol = Volume::from_fn(grid.clone(), |idx| values[grid.offset(idx).unwrap() % values.len()]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(if mha { "ct.mha" } else { "ct.mhd" });
        metaimage::write(&path, &vol).unwrap();
        prop_assert_eq!(metaimage::read::<i16>(&path).unwrap(), vol);
    }

    /// Arbitrary edits of a valid header never panic: they read back or fail with an error.
    #[test]
    fn mangled_headers_never_panic(cut in 0usize..400, insert in "[ -~\n]{0,20}") {
        let dir = tempfile::tempdir().unwrap();
        let vol = Volume::filled(Grid::new([3, 2, 2], [1.0; 3]).unwrap(), 1.5f32);
        let path = dir.path().join("m.mhd");
        metaimage::write(&path, &vol).unwrap();
        let mut text = std::fs::read_to_string(&path).unwrap();
        let at = cut.min(text.len());
        text.insert_str(at, &insert);
        std::fs::write(&path, text).unwrap();
        let _ = metaimage::read::<f32>(&path);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Issue 27 item 9, bounded fuzz: headers with hostile sizes (any DimSize up to 2^63, any
    /// element type, compressed or not, any HeaderSize) over data files of any small size never
    /// panic, abort or allocate what the data cannot back: each read ends in a volume or an
    /// error, at once.
    #[test]
    fn hostile_header_sizes_never_panic_or_allocate_beyond_the_data(
        dims in prop::array::uniform3(prop_oneof![1u64..5, Just(65_536u64), Just(1u64 << 31), Just(i64::MAX as u64), any::<u64>()]),
        element in prop::sample::select(vec!["MET_UCHAR", "MET_SHORT", "MET_FLOAT", "MET_DOUBLE"]),
        compressed in any::<bool>(),
        header_size in prop_oneof![Just(None), Just(Some(-1i64)), (0i64..64).prop_map(Some), Just(Some(i64::MAX))],
        local in any::<bool>(),
        data in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut header = format!(
            "NDims = 3\nDimSize = {} {} {}\nElementType = {element}\nCompressedData = {}\n",
            dims[0], dims[1], dims[2], if compressed { "True" } else { "False" }
        );
        if let Some(h) = header_size {
            header.push_str(&format!("HeaderSize = {h}\n"));
        }
        let path = dir.path().join(if local { "h.mha" } else { "h.mhd" });
        let mut bytes;
        if local {
            header.push_str("ElementDataFile = LOCAL\n");
            bytes = header.into_bytes();
            bytes.extend_from_slice(&data);
        } else {
            header.push_str("ElementDataFile = d.raw\n");
            bytes = header.into_bytes();
            std::fs::write(dir.path().join("d.raw"), &data).unwrap();
        }
        std::fs::write(&path, bytes).unwrap();
        let _ = metaimage::read_header(&path);
        match element {
            "MET_UCHAR" => { let _ = metaimage::read::<u8>(&path); }
            "MET_SHORT" => { let _ = metaimage::read::<i16>(&path); }
            "MET_FLOAT" => { let _ = metaimage::read::<f32>(&path); }
            _ => { let _ = metaimage::read::<f64>(&path); }
        }
    }
}
