//! PNG images of volume slices: an 8-bit RGB PNG writer (PNG specification, ISO/IEC 15948; zlib
//! through flate2, CRC-32 computed here), a colour map, and slices of a `Volume<f64>` with a colour
//! bar, for looking at dose distributions without a viewer.

use std::io::Write;
use std::path::Path;

use hope_core::fs::AtomicFile;
use hope_core::{Error, Result, Volume};

/// CRC-32 (ISO 3309, polynomial 0xEDB88320, as PNG chunks use).
fn crc32(bytes: &[u8]) -> u32 {
    let mut table = [0u32; 256];
    for (n, slot) in table.iter_mut().enumerate() {
        let mut c = n as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
        *slot = c;
    }
    let mut c = 0xFFFF_FFFFu32;
    for &b in bytes {
        c = table[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
    }
    c ^ 0xFFFF_FFFF
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// Encodes an 8-bit RGB image (`rgb` row by row, 3 bytes a pixel) as PNG bytes.
pub fn encode_rgb(width: u32, height: u32, rgb: &[u8]) -> Result<Vec<u8>> {
    let row = width as usize * 3;
    if width == 0 || height == 0 || rgb.len() != row * height as usize {
        return Err(Error::Image(format!(
            "PNG: {} bytes for a {width} x {height} RGB image",
            rgb.len()
        )));
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8 bits, truecolour, deflate, no filter, no interlace
    chunk(&mut out, b"IHDR", &ihdr);
    let mut raw = Vec::with_capacity((row + 1) * height as usize);
    for line in rgb.chunks_exact(row) {
        raw.push(0); // filter: none
        raw.extend_from_slice(line);
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&raw)
        .and_then(|_| z.flush())
        .map_err(|e| Error::Image(format!("PNG: compression failed: {e}")))?;
    let idat = z
        .finish()
        .map_err(|e| Error::Image(format!("PNG: compression failed: {e}")))?;
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    Ok(out)
}

/// A colour for `t` in [0, 1]: black, through red and yellow, to white (the "hot" map: monotonic
/// in luminance, readable in grey print).
pub fn hot(t: f64) -> [u8; 3] {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let c = |x: f64| (x.clamp(0.0, 1.0) * 255.0).round() as u8;
    [c(t * 3.0), c(t * 3.0 - 1.0), c(t * 3.0 - 2.0)]
}

/// Which plane a slice lies in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plane {
    /// Constant k (axis 2).
    Axial,
    /// Constant j (axis 1).
    Coronal,
    /// Constant i (axis 0).
    Sagittal,
}

/// Writes slice `index` of `volume` in `plane` as a PNG (one pixel per voxel, each side scaled up
/// by `zoom`), values mapped from 0 to `max` with [`hot`], and a colour bar along the right edge.
/// Written atomically.
pub fn write_slice(
    path: impl AsRef<Path>,
    volume: &Volume<f64>,
    plane: Plane,
    index: usize,
    max: f64,
    zoom: usize,
) -> Result<()> {
    let [nx, ny, nz] = volume.grid().dims();
    let zoom = zoom.max(1);
    let (w, h, limit) = match plane {
        Plane::Axial => (nx, ny, nz),
        Plane::Coronal => (nx, nz, ny),
        Plane::Sagittal => (ny, nz, nx),
    };
    if index >= limit {
        return Err(Error::Image(format!(
            "slice {index} of a volume with {limit} slices in that plane"
        )));
    }
    let bar = 3 * zoom.max(4);
    let (width, height) = (w * zoom + 2 * bar, h * zoom);
    let mut rgb = vec![0u8; width * height * 3];
    let scale = if max > 0.0 { 1.0 / max } else { 0.0 };
    for y in 0..height {
        for x in 0..width {
            let colour = if x < w * zoom {
                let (u, v) = (x / zoom, y / zoom);
                let idx = match plane {
                    Plane::Axial => [u, v, index],
                    Plane::Coronal => [u, index, v],
                    Plane::Sagittal => [index, u, v],
                };
                hot(volume.get(idx).copied().unwrap_or(0.0) * scale)
            } else if x >= w * zoom + bar {
                // The colour bar: full scale at the top, zero at the bottom.
                hot(1.0 - y as f64 / (height.max(2) - 1) as f64)
            } else {
                [255, 255, 255]
            };
            rgb[(y * width + x) * 3..(y * width + x) * 3 + 3].copy_from_slice(&colour);
        }
    }
    let png = encode_rgb(width as u32, height as u32, &rgb)?;
    let path = path.as_ref();
    let mut f = AtomicFile::create(path)?;
    f.write_all(&png).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    f.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn crc_of_the_standard_check_string() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn an_encoded_image_has_valid_chunks_and_its_pixels() {
        let rgb: Vec<u8> = (0..2 * 3 * 3).map(|i| i as u8 * 10).collect();
        let png = encode_rgb(3, 2, &rgb).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let mut pos = 8;
        let mut idat = Vec::new();
        while pos < png.len() {
            let len = u32::from_be_bytes(png[pos..pos + 4].try_into().unwrap()) as usize;
            let body = &png[pos + 4..pos + 8 + len];
            let crc = u32::from_be_bytes(png[pos + 8 + len..pos + 12 + len].try_into().unwrap());
            assert_eq!(crc, crc32(body), "chunk {:?}", &body[..4]);
            if &body[..4] == b"IHDR" {
                assert_eq!(&body[4..12], &[0, 0, 0, 3, 0, 0, 0, 2]);
            }
            if &body[..4] == b"IDAT" {
                idat.extend_from_slice(&body[4..]);
            }
            pos += 12 + len;
        }
        let mut raw = Vec::new();
        flate2::read::ZlibDecoder::new(&idat[..])
            .read_to_end(&mut raw)
            .unwrap();
        assert_eq!(raw.len(), 2 * (1 + 9));
        assert_eq!(&raw[1..10], &rgb[..9]);
        assert_eq!(&raw[11..20], &rgb[9..]);
        assert!(encode_rgb(3, 2, &rgb[..5]).is_err());
    }

    #[test]
    fn hot_is_monotonic_from_black_to_white() {
        assert_eq!(hot(0.0), [0, 0, 0]);
        assert_eq!(hot(1.0), [255, 255, 255]);
        let lum = |c: [u8; 3]| u32::from(c[0]) + u32::from(c[1]) + u32::from(c[2]);
        assert!(
            (0..100).all(|i| lum(hot(f64::from(i) / 100.0)) <= lum(hot(f64::from(i + 1) / 100.0)))
        );
    }
}
