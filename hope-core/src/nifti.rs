//! NIfTI-1 single-file volumes (`.nii` or gzip-compressed `.nii.gz`), written as dcm2niix writes
//! them: world coordinates RAS+ (the patient's right-to-left, posterior-to-anterior and
//! inferior-to-superior axes reversed for the first two: a DICOM/LPS point (x, y, z) is the RAS
//! point (-x, -y, z)), the voxel-to-world matrix in both the sform and the qform (code 1,
//! scanner), millimetres. Written atomically (a temporary file, then a rename).
//!
//! The header layout is that of the NIfTI-1 standard (NIfTI Data Format Working Group,
//! `nifti1.h`, 2004): 348 bytes, little-endian, then a 4-byte extension flag (zero) and the data
//! at offset 352, x fastest.

use std::io::Write;
use std::path::Path;

use crate::metaimage::{Element, ElementType};
use crate::{Error, Result, Volume};

/// The NIfTI-1 datatype code and bits per voxel of an element type.
fn datatype(t: ElementType) -> (i16, i16) {
    match t {
        ElementType::U8 => (2, 8),
        ElementType::I16 => (4, 16),
        ElementType::I32 => (8, 32),
        ElementType::F32 => (16, 32),
        ElementType::F64 => (64, 64),
        ElementType::I8 => (256, 8),
        ElementType::U16 => (512, 16),
        ElementType::U32 => (768, 32),
        ElementType::I64 => (1024, 64),
        ElementType::U64 => (1280, 64),
    }
}

/// The voxel-to-RAS matrix rows (3 x 4) of a volume's grid.
pub fn ras_matrix<T>(volume: &Volume<T>) -> [[f64; 4]; 3] {
    let g = volume.grid();
    let d = g.direction();
    let s = g.spacing();
    let o = g.origin();
    let cols = [d[0] * s.x, d[1] * s.y, d[2] * s.z];
    let flip = [-1.0, -1.0, 1.0];
    let comp = |v: crate::Vec3, a: usize| [v.x, v.y, v.z][a];
    let mut m = [[0.0; 4]; 3];
    for (a, row) in m.iter_mut().enumerate() {
        for (c, col) in cols.iter().enumerate() {
            row[c] = flip[a] * comp(*col, a);
        }
        row[3] = flip[a] * comp(o, a);
    }
    m
}

/// The quaternion (b, c, d) and qfac of the rotation part of a voxel-to-world matrix whose
/// columns are the axes times the spacings (nifti1.h, "method 2").
fn quaternion(m: &[[f64; 4]; 3], spacing: [f64; 3]) -> ([f64; 3], f64) {
    let mut r = [[0.0; 3]; 3];
    for (a, row) in r.iter_mut().enumerate() {
        for (c, x) in row.iter_mut().enumerate() {
            *x = m[a][c] / spacing[c];
        }
    }
    let det = r[0][0] * (r[1][1] * r[2][2] - r[1][2] * r[2][1])
        - r[0][1] * (r[1][0] * r[2][2] - r[1][2] * r[2][0])
        + r[0][2] * (r[1][0] * r[2][1] - r[1][1] * r[2][0]);
    let qfac = if det < 0.0 { -1.0 } else { 1.0 };
    if qfac < 0.0 {
        for row in &mut r {
            row[2] = -row[2];
        }
    }
    let a = r[0][0] + r[1][1] + r[2][2] + 1.0;
    let (qa, qb, qc, qd);
    if a > 0.5 {
        let q = 0.5 * a.sqrt();
        qa = q;
        qb = 0.25 * (r[2][1] - r[1][2]) / q;
        qc = 0.25 * (r[0][2] - r[2][0]) / q;
        qd = 0.25 * (r[1][0] - r[0][1]) / q;
    } else {
        let xd = 1.0 + r[0][0] - (r[1][1] + r[2][2]);
        let yd = 1.0 + r[1][1] - (r[0][0] + r[2][2]);
        let zd = 1.0 + r[2][2] - (r[0][0] + r[1][1]);
        if xd > 1.0 {
            let b = 0.5 * xd.sqrt();
            qb = b;
            qc = 0.25 * (r[0][1] + r[1][0]) / b;
            qd = 0.25 * (r[0][2] + r[2][0]) / b;
            qa = 0.25 * (r[2][1] - r[1][2]) / b;
        } else if yd > 1.0 {
            let c = 0.5 * yd.sqrt();
            qc = c;
            qb = 0.25 * (r[0][1] + r[1][0]) / c;
            qd = 0.25 * (r[1][2] + r[2][1]) / c;
            qa = 0.25 * (r[0][2] - r[2][0]) / c;
        } else {
            let d = 0.5 * zd.sqrt();
            qd = d;
            qb = 0.25 * (r[0][2] + r[2][0]) / d;
            qc = 0.25 * (r[1][2] + r[2][1]) / d;
            qa = 0.25 * (r[1][0] - r[0][1]) / d;
        }
    }
    // a >= 0 by convention.
    let sign = if qa < 0.0 { -1.0 } else { 1.0 };
    ([qb * sign, qc * sign, qd * sign], qfac)
}

/// The bytes of a NIfTI-1 file (header, extension flag, data) for `volume`.
pub fn encode<T: Element>(volume: &Volume<T>, description: &str) -> Vec<u8> {
    let g = volume.grid();
    let [nx, ny, nz] = g.dims();
    let s = g.spacing();
    let (code, bitpix) = datatype(T::TYPE);
    let m = ras_matrix(volume);
    let (q, qfac) = quaternion(&m, [s.x, s.y, s.z]);
    let mut h = vec![0u8; 352];
    let put_i32 =
        |h: &mut Vec<u8>, at: usize, v: i32| h[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let put_i16 =
        |h: &mut Vec<u8>, at: usize, v: i16| h[at..at + 2].copy_from_slice(&v.to_le_bytes());
    let put_f32 = |h: &mut Vec<u8>, at: usize, v: f64| {
        h[at..at + 4].copy_from_slice(&(v as f32).to_le_bytes());
    };
    put_i32(&mut h, 0, 348);
    h[38] = b'r';
    for (k, d) in [3, nx, ny, nz, 1, 1, 1, 1].into_iter().enumerate() {
        put_i16(&mut h, 40 + 2 * k, i16::try_from(d).unwrap_or(i16::MAX));
    }
    put_i16(&mut h, 70, code);
    put_i16(&mut h, 72, bitpix);
    for (k, v) in [qfac, s.x, s.y, s.z, 1.0, 1.0, 1.0, 1.0]
        .into_iter()
        .enumerate()
    {
        put_f32(&mut h, 76 + 4 * k, v);
    }
    put_f32(&mut h, 108, 352.0);
    put_f32(&mut h, 112, 1.0);
    h[123] = 2; // millimetres
    let desc = description.as_bytes();
    let n = desc.len().min(79);
    h[148..148 + n].copy_from_slice(&desc[..n]);
    put_i16(&mut h, 252, 1);
    put_i16(&mut h, 254, 1);
    for (k, v) in q.into_iter().chain([m[0][3], m[1][3], m[2][3]]).enumerate() {
        put_f32(&mut h, 256 + 4 * k, v);
    }
    for (r, row) in m.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            put_f32(&mut h, 280 + 16 * r + 4 * c, *v);
        }
    }
    h[344..348].copy_from_slice(b"n+1\0");
    for v in volume.data() {
        v.put_le(&mut h);
    }
    h
}

/// Writes `volume` to `path` (`.nii`, or `.nii.gz` compressed), atomically. Refuses grids of
/// more than 32767 voxels along an axis (the format's limit).
pub fn write<T: Element>(
    path: impl AsRef<Path>,
    volume: &Volume<T>,
    description: &str,
) -> Result<()> {
    let path = path.as_ref();
    if volume.grid().dims().iter().any(|&d| d > i16::MAX as usize) {
        return Err(Error::Image(format!(
            "{}: NIfTI-1 holds at most 32767 voxels along an axis",
            path.display()
        )));
    }
    let bytes = encode(volume, description);
    if path.to_string_lossy().ends_with(".gz") {
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(&bytes)
            .and_then(|()| z.finish())
            .map_err(|e| Error::io(path, e))
            .and_then(|gz| crate::fs::write_atomic(path, &gz))
    } else {
        crate::fs::write_atomic(path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Grid, Vec3};

    fn f32_at(b: &[u8], at: usize) -> f64 {
        f64::from(f32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]))
    }

    #[test]
    fn the_header_maps_voxels_to_ras_as_dicom_maps_them_to_lps() {
        // An oblique grid: axes turned 30 degrees about z.
        let (c, s) = (30f64.to_radians().cos(), 30f64.to_radians().sin());
        let grid = Grid::builder([4, 3, 2])
            .spacing([0.5, 0.8, 2.5])
            .origin([-12.0, 30.0, 7.5])
            .direction([
                Vec3::new(c, s, 0.0),
                Vec3::new(-s, c, 0.0),
                Vec3::new(0.0, 0.0, 1.0),
            ])
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let data: Vec<f32> = (0..24).map(|i| i as f32 * 0.5).collect();
        let v = Volume::new(grid.clone(), data.clone()).unwrap_or_else(|e| panic!("{e}"));
        let b = encode(&v, "test");
        assert_eq!(&b[344..348], b"n+1\0");
        assert_eq!(i32::from_le_bytes([b[0], b[1], b[2], b[3]]), 348);
        assert_eq!(i16::from_le_bytes([b[70], b[71]]), 16);
        assert_eq!(f32_at(&b, 108), 352.0);
        // sform: RAS of voxel (i, j, k) = -LPS x, -LPS y, z.
        for idx in [[0.0, 0.0, 0.0], [3.0, 2.0, 1.0], [1.0, 0.0, 1.0]] {
            let lps = grid.index_to_point(idx);
            let ras = [-lps.x, -lps.y, lps.z];
            for (r, want) in ras.iter().enumerate() {
                let row: Vec<f64> = (0..4).map(|c| f32_at(&b, 280 + 16 * r + 4 * c)).collect();
                let got = row[0] * idx[0] + row[1] * idx[1] + row[2] * idx[2] + row[3];
                assert!(
                    (got - want).abs() < 1e-4,
                    "{idx:?} row {r}: {got} vs {want}"
                );
            }
        }
        // qform: the same mapping from the quaternion (nifti1.h method 2).
        let (qb, qc, qd) = (f32_at(&b, 256), f32_at(&b, 260), f32_at(&b, 264));
        let qa = (1.0 - (qb * qb + qc * qc + qd * qd)).max(0.0).sqrt();
        let r = [
            [
                qa * qa + qb * qb - qc * qc - qd * qd,
                2.0 * (qb * qc - qa * qd),
                2.0 * (qb * qd + qa * qc),
            ],
            [
                2.0 * (qb * qc + qa * qd),
                qa * qa + qc * qc - qb * qb - qd * qd,
                2.0 * (qc * qd - qa * qb),
            ],
            [
                2.0 * (qb * qd - qa * qc),
                2.0 * (qc * qd + qa * qb),
                qa * qa + qd * qd - qc * qc - qb * qb,
            ],
        ];
        let qfac = f32_at(&b, 76);
        let pix = [f32_at(&b, 80), f32_at(&b, 84), f32_at(&b, 88) * qfac];
        let off = [f32_at(&b, 268), f32_at(&b, 272), f32_at(&b, 276)];
        let lps = grid.index_to_point([3.0, 2.0, 1.0]);
        let ras = [-lps.x, -lps.y, lps.z];
        for a in 0..3 {
            let got = r[a][0] * pix[0] * 3.0 + r[a][1] * pix[1] * 2.0 + r[a][2] * pix[2] + off[a];
            assert!(
                (got - ras[a]).abs() < 1e-3,
                "qform axis {a}: {got} vs {}",
                ras[a]
            );
        }
        // The data, x fastest, after the 352 bytes.
        for (k, x) in data.iter().enumerate() {
            assert_eq!(f32_at(&b, 352 + 4 * k) as f32, *x);
        }
    }

    #[test]
    fn a_compressed_file_holds_the_same_bytes() {
        let grid = Grid::builder([2, 2, 2])
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let v =
            Volume::new(grid, vec![1u16, 2, 3, 4, 5, 6, 7, 8]).unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("m.nii.gz");
        write(&path, &v, "materials").unwrap_or_else(|e| panic!("{e}"));
        let gz = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut raw)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(raw, encode(&v, "materials"));
        assert_eq!(i16::from_le_bytes([raw[70], raw[71]]), 512);
    }
}
