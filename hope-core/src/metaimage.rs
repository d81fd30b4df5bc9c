//! MetaImage (`.mhd` + `.raw`, or single-file `.mha`): the neutral exchange format of HOPE-rs.
//!
//! GATE writes its dose actors as MetaImage; ITK, SimpleITK and 3D Slicer read and write it. A header
//! of `Key = Value` lines gives the geometry and the element type; the voxel values follow, x
//! fastest, either in a separate file named by `ElementDataFile` or in the same file after
//! `ElementDataFile = LOCAL`.
//!
//! ```
//! use hope_core::{metaimage, Grid, Volume};
//!
//! let dir = tempfile::tempdir()?;
//! let grid = Grid::builder([8, 8, 4]).spacing([0.5, 0.5, 2.0]).origin([-1.75, -1.75, 10.0]).build()?;
//! let dose = Volume::<f32>::from_fn(grid, |[i, j, k]| (i + j + k) as f32);
//! let path = dir.path().join("dose.mhd");
//! metaimage::write(&path, &dose)?;
//! assert!(dir.path().join("dose.raw").exists());
//! let back: Volume<f32> = metaimage::read(&path)?;
//! assert_eq!(back, dose);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Supported on reading: `NDims` 2 or 3, one channel, every numeric `ElementType` of
//! [`ElementType`], little- or big-endian data, `CompressedData` (zlib), `HeaderSize` (including `-1`:
//! data at the end of the file), `LOCAL` data, the aliases `Offset`/`Origin`/`Position` and
//! `TransformMatrix`/`Rotation`/`Orientation`. Not supported, each with a clear error: data split
//! over several files (`LIST` or file-name patterns) and multi-channel images.
//!
//! `TransformMatrix` lists the direction cosines of axis 0, then axis 1, then axis 2 (the layout
//! ITK writes). `Offset` is the centre of the first voxel, in mm.

use std::fmt::Write as _;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::fs::AtomicFile;
use crate::grid::Grid;
use crate::vec3::Vec3;
use crate::volume::Volume;
use crate::{Error, Result};

/// The element types of MetaImage that map to a Rust number type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ElementType {
    /// `MET_CHAR`: i8.
    I8,
    /// `MET_UCHAR`: u8.
    U8,
    /// `MET_SHORT`: i16 (CT in Hounsfield units).
    I16,
    /// `MET_USHORT`: u16.
    U16,
    /// `MET_INT`: i32.
    I32,
    /// `MET_UINT`: u32.
    U32,
    /// `MET_LONG_LONG`: i64.
    I64,
    /// `MET_ULONG_LONG`: u64.
    U64,
    /// `MET_FLOAT`: f32 (dose, density).
    F32,
    /// `MET_DOUBLE`: f64.
    F64,
}

impl ElementType {
    const ALL: [ElementType; 10] = [
        ElementType::I8,
        ElementType::U8,
        ElementType::I16,
        ElementType::U16,
        ElementType::I32,
        ElementType::U32,
        ElementType::I64,
        ElementType::U64,
        ElementType::F32,
        ElementType::F64,
    ];

    /// The name used in MetaImage headers, e.g. `MET_FLOAT`.
    pub fn name(self) -> &'static str {
        match self {
            ElementType::I8 => "MET_CHAR",
            ElementType::U8 => "MET_UCHAR",
            ElementType::I16 => "MET_SHORT",
            ElementType::U16 => "MET_USHORT",
            ElementType::I32 => "MET_INT",
            ElementType::U32 => "MET_UINT",
            ElementType::I64 => "MET_LONG_LONG",
            ElementType::U64 => "MET_ULONG_LONG",
            ElementType::F32 => "MET_FLOAT",
            ElementType::F64 => "MET_DOUBLE",
        }
    }

    /// Size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            ElementType::I8 | ElementType::U8 => 1,
            ElementType::I16 | ElementType::U16 => 2,
            ElementType::I32 | ElementType::U32 | ElementType::F32 => 4,
            ElementType::I64 | ElementType::U64 | ElementType::F64 => 8,
        }
    }

    fn from_name(name: &str) -> Option<ElementType> {
        // MetaIO also writes MET_LONG / MET_ULONG for 32-bit integers.
        match name {
            "MET_LONG" => Some(ElementType::I32),
            "MET_ULONG" => Some(ElementType::U32),
            _ => ElementType::ALL.into_iter().find(|t| t.name() == name),
        }
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A Rust number type that MetaImage can store. Implemented for i8, u8, i16, u16, i32, u32, i64,
/// u64, f32 and f64.
pub trait Element: sealed::Sealed + Copy + Send + Sync + 'static {
    /// The matching MetaImage element type.
    const TYPE: ElementType;
    /// Decodes one value from little-endian bytes (`bytes.len()` is the element size).
    #[doc(hidden)]
    fn from_le(bytes: &[u8]) -> Self;
    /// Decodes one value from big-endian bytes.
    #[doc(hidden)]
    fn from_be(bytes: &[u8]) -> Self;
    /// Appends the little-endian bytes of the value.
    #[doc(hidden)]
    fn put_le(self, out: &mut Vec<u8>);
}

macro_rules! element {
    ($t:ty, $variant:ident) => {
        impl sealed::Sealed for $t {}
        impl Element for $t {
            const TYPE: ElementType = ElementType::$variant;
            fn from_le(bytes: &[u8]) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(bytes);
                <$t>::from_le_bytes(a)
            }
            fn from_be(bytes: &[u8]) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(bytes);
                <$t>::from_be_bytes(a)
            }
            fn put_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    };
}

element!(i8, I8);
element!(u8, U8);
element!(i16, I16);
element!(u16, U16);
element!(i32, I32);
element!(u32, U32);
element!(i64, I64);
element!(u64, U64);
element!(f32, F32);
element!(f64, F64);

/// Where the voxel values of an image are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataLocation {
    /// In the header file itself, starting at this byte offset (`ElementDataFile = LOCAL`).
    Local {
        /// Byte offset of the first data byte in the header file.
        offset: u64,
    },
    /// In a separate file (a path resolved against the header's directory).
    File(PathBuf),
}

/// What a MetaImage header says: geometry, element type and where the data lies.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Header {
    /// Geometry of the image.
    pub grid: Grid,
    /// Type of each voxel value.
    pub element_type: ElementType,
    /// Whether values are stored most significant byte first.
    pub big_endian: bool,
    /// Whether the data is zlib-compressed.
    pub compressed: bool,
    /// `HeaderSize`: bytes to skip at the start of the data file (`-1`: the data is at its end).
    pub header_size: i64,
    /// Where the data is.
    pub data: DataLocation,
}

/// Options for [`write_with`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
#[must_use]
pub struct WriteOptions {
    compress: bool,
}

impl WriteOptions {
    /// Default options: uncompressed data.
    pub fn new() -> Self {
        Self::default()
    }

    /// zlib-compress the data (`CompressedData = True`; the data file is named `.zraw`).
    pub fn compress(mut self, yes: bool) -> Self {
        self.compress = yes;
        self
    }
}

/// Reads the header of a MetaImage file without reading its data.
pub fn read_header(path: impl AsRef<Path>) -> Result<Header> {
    let path = path.as_ref();
    let mut file = crate::fs::open_regular(path).map_err(|e| Error::io(path, e))?;
    // Headers are small; read until `ElementDataFile` (the last field) or 64 KiB.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = file.read(&mut chunk).map_err(|e| Error::io(path, e))?;
        buf.extend_from_slice(&chunk[..n]);
        if n == 0 || buf.len() >= 1 << 16 || has_data_file_line(&buf) {
            break;
        }
    }
    parse_header(path, &buf)
}

fn has_data_file_line(buf: &[u8]) -> bool {
    buf.split(|&b| b == b'\n').rev().skip(1).any(|line| {
        let line = String::from_utf8_lossy(line);
        line.split('=')
            .next()
            .is_some_and(|k| k.trim().eq_ignore_ascii_case("ElementDataFile"))
    })
}

/// Reads a MetaImage (`.mhd` with its data file, or `.mha`) whose elements are of type `T`.
///
/// The element type in the header must be `T`'s ([`Element::TYPE`]); read the header with
/// [`read_header`] first when the type is not known in advance.
pub fn read<T: Element>(path: impl AsRef<Path>) -> Result<Volume<T>> {
    let path = path.as_ref();
    let header = read_header(path)?;
    if header.element_type != T::TYPE {
        return Err(header_error(
            path,
            0,
            "ElementType",
            format!(
                "file holds {}, but {} was asked for",
                header.element_type.name(),
                T::TYPE.name()
            ),
        ));
    }
    let (data_path, start) = match &header.data {
        DataLocation::Local { offset } => (path.to_path_buf(), *offset),
        DataLocation::File(p) => (p.clone(), 0),
    };
    let size = T::TYPE.size();
    let data_error = |message: String| Error::MetaImageData {
        path: data_path.clone(),
        message,
    };
    let expected = header.grid.voxel_count().checked_mul(size).ok_or_else(|| {
        data_error(format!(
            "DimSize {:?} of {} does not fit in memory",
            header.grid.dims(),
            T::TYPE.name()
        ))
    })?;
    // A regular file only (not /dev/zero, not a FIFO), and never more than the header announces.
    let mut file = crate::fs::open_regular(&data_path).map_err(|e| Error::io(&data_path, e))?;
    let file_len = file.metadata().map_err(|e| Error::io(&data_path, e))?.len();
    let start = start.min(file_len);
    let raw: Vec<u8> = if header.compressed {
        let available = file_len - start;
        // zlib expands at most about 1032:1; a header announcing more than that from the bytes
        // there is refused before anything is allocated.
        if (expected as u64) > available.saturating_mul(1032).saturating_add(1024) {
            return Err(data_error(format!(
                "{available} compressed bytes cannot expand to the {expected} bytes the header's \
                 DimSize and ElementType need"
            )));
        }
        if available > (expected as u64).saturating_mul(2).saturating_add(1 << 16) {
            return Err(data_error(format!(
                "{available} compressed bytes for {expected} bytes of data: not this image's data"
            )));
        }
        file.seek(std::io::SeekFrom::Start(start))
            .map_err(|e| Error::io(&data_path, e))?;
        let mut out = Vec::with_capacity(expected);
        flate2::read::ZlibDecoder::new((&mut file).take(available))
            .take(expected as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| data_error(format!("zlib data could not be decompressed: {e}")))?;
        if out.len() != expected {
            return Err(data_error(format!(
                "compressed data expands to {} bytes; the header's DimSize and ElementType need {expected}",
                out.len()
            )));
        }
        out
    } else {
        let expected_u = expected as u64;
        let begin = match header.header_size {
            -1 => file_len.checked_sub(expected_u),
            skip => u64::try_from(skip)
                .ok()
                .and_then(|skip| start.checked_add(skip)),
        };
        match begin.map(|b| (b, file_len.saturating_sub(b))) {
            Some((b, have)) if b <= file_len && have == expected_u => {
                file.seek(std::io::SeekFrom::Start(b))
                    .map_err(|e| Error::io(&data_path, e))?;
                let mut out = vec![0u8; expected];
                file.read_exact(&mut out)
                    .map_err(|e| data_error(format!("data could not be read: {e}")))?;
                out
            }
            Some((b, have)) if b <= file_len && have > expected_u => {
                return Err(data_error(format!(
                    "data holds {have} bytes; the header's DimSize {:?} of {} needs exactly {expected}",
                    header.grid.dims(),
                    T::TYPE.name()
                )));
            }
            _ => {
                return Err(data_error(format!(
                    "file is truncated: it holds {file_len} bytes, fewer than the {expected} bytes of data the header announces"
                )));
            }
        }
    };
    let decode = if header.big_endian {
        T::from_be
    } else {
        T::from_le
    };
    let data: Vec<T> = raw.chunks_exact(size).map(decode).collect();
    Volume::new(header.grid, data)
}

/// Writes a volume as MetaImage, uncompressed: `name.mhd` + `name.raw`, or a single file when the
/// path ends in `.mha`. Both files are written atomically, data first.
pub fn write<T: Element>(path: impl AsRef<Path>, volume: &Volume<T>) -> Result<()> {
    write_with(path, volume, &WriteOptions::new())
}

/// Writes a volume as MetaImage with the given options (see [`write()`]).
pub fn write_with<T: Element>(
    path: impl AsRef<Path>,
    volume: &Volume<T>,
    options: &WriteOptions,
) -> Result<()> {
    let path = path.as_ref();
    let local = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("mha"));
    let payload = encode(volume, options.compress).map_err(|e| Error::io(path, e))?;
    let data_name = if local {
        "LOCAL".to_string()
    } else {
        let stem = path.file_stem().ok_or_else(|| {
            Error::io(
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "path has no file name"),
            )
        })?;
        let ext = if options.compress { "zraw" } else { "raw" };
        let name = format!("{}.{ext}", stem.to_string_lossy());
        crate::fs::write_atomic(path.with_file_name(&name), &payload)?;
        name
    };
    let header = render_header(
        volume.grid(),
        T::TYPE,
        options.compress.then_some(payload.len()),
        &data_name,
    );
    let mut file = AtomicFile::create(path)?;
    file.write_all(header.as_bytes())
        .map_err(|e| Error::io(path, e))?;
    if local {
        file.write_all(&payload).map_err(|e| Error::io(path, e))?;
    }
    file.commit()
}

fn encode<T: Element>(volume: &Volume<T>, compress: bool) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(volume.data().len() * T::TYPE.size());
    for &v in volume.data() {
        v.put_le(&mut bytes);
    }
    if !compress {
        return Ok(bytes);
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&bytes)?;
    z.finish()
}

fn render_header(
    grid: &Grid,
    element: ElementType,
    compressed_size: Option<usize>,
    data_file: &str,
) -> String {
    let join = |v: &[f64]| {
        v.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let dirs: Vec<f64> = grid.direction().iter().flat_map(|d| d.to_array()).collect();
    let mut h = String::new();
    // Writing into a String cannot fail.
    let _ = writeln!(h, "ObjectType = Image");
    let _ = writeln!(h, "NDims = 3");
    let _ = writeln!(h, "BinaryData = True");
    let _ = writeln!(h, "BinaryDataByteOrderMSB = False");
    let _ = writeln!(
        h,
        "CompressedData = {}",
        if compressed_size.is_some() {
            "True"
        } else {
            "False"
        }
    );
    if let Some(n) = compressed_size {
        let _ = writeln!(h, "CompressedDataSize = {n}");
    }
    let _ = writeln!(h, "TransformMatrix = {}", join(&dirs));
    let _ = writeln!(h, "Offset = {}", join(&grid.origin().to_array()));
    let _ = writeln!(h, "CenterOfRotation = 0 0 0");
    let _ = writeln!(
        h,
        "AnatomicalOrientation = {}",
        anatomical_orientation(grid)
    );
    let _ = writeln!(h, "ElementSpacing = {}", join(&grid.spacing().to_array()));
    let [nx, ny, nz] = grid.dims();
    let _ = writeln!(h, "DimSize = {nx} {ny} {nz}");
    let _ = writeln!(h, "ElementType = {}", element.name());
    let _ = writeln!(h, "ElementDataFile = {data_file}");
    h
}

/// ITK's three-letter orientation code: for each axis, the patient side it runs *from*, in DICOM
/// LPS coordinates (identity directions give `RAI`).
fn anatomical_orientation(grid: &Grid) -> String {
    grid.direction()
        .iter()
        .map(|d| {
            let a = d.to_array();
            let (axis, v) = (0..3).map(|i| (i, a[i])).fold((0, 0.0), |best, (i, v)| {
                if v.abs() > f64::abs(best.1) {
                    (i, v)
                } else {
                    best
                }
            });
            match (axis, v >= 0.0) {
                (0, true) => 'R',
                (0, false) => 'L',
                (1, true) => 'A',
                (1, false) => 'P',
                (_, true) => 'I',
                (_, false) => 'S',
            }
        })
        .collect()
}

fn header_error(path: &Path, line: usize, field: &str, message: String) -> Error {
    Error::MetaImageHeader {
        path: path.to_path_buf(),
        line,
        field: field.to_string(),
        message,
    }
}

/// A header value with the line it came from.
struct Field {
    line: usize,
    value: String,
}

fn parse_header(path: &Path, bytes: &[u8]) -> Result<Header> {
    let mut fields: Vec<(String, Field)> = Vec::new();
    let mut pos = 0usize;
    let mut data_offset = None;
    for (n, raw_line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        let line_no = n + 1;
        pos += raw_line.len();
        let text = std::str::from_utf8(raw_line)
            .map_err(|_| header_error(path, line_no, "?", "line is not valid UTF-8 text".into()))?;
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let (key, value) = text.split_once('=').ok_or_else(|| {
            header_error(path, line_no, text, "expected a `Key = Value` line".into())
        })?;
        let key = canonical_key(key.trim());
        if fields.iter().any(|(k, _)| *k == key) {
            return Err(header_error(
                path,
                line_no,
                &key,
                "field appears twice".into(),
            ));
        }
        let is_last = key == "ElementDataFile";
        fields.push((
            key,
            Field {
                line: line_no,
                value: value.trim().to_string(),
            },
        ));
        if is_last {
            data_offset = Some(pos as u64);
            break;
        }
    }
    let get = |k: &str| fields.iter().find(|(key, _)| key == k).map(|(_, f)| f);
    let missing = |k: &str| header_error(path, 0, k, "required field is missing".into());

    if let Some(f) = get("ObjectType")
        && !f.value.eq_ignore_ascii_case("Image")
    {
        return Err(header_error(
            path,
            f.line,
            "ObjectType",
            format!("`{}`; expected `Image`", f.value),
        ));
    }
    let ndims_field = get("NDims").ok_or_else(|| missing("NDims"))?;
    let ndims: usize = match ndims_field.value.parse() {
        Ok(n @ (2 | 3)) => n,
        _ => {
            return Err(header_error(
                path,
                ndims_field.line,
                "NDims",
                format!("`{}`; expected 2 or 3", ndims_field.value),
            ));
        }
    };
    if let Some(f) = get("ElementNumberOfChannels")
        && f.value != "1"
    {
        return Err(header_error(
            path,
            f.line,
            "ElementNumberOfChannels",
            format!("`{}`; only single-channel images are supported", f.value),
        ));
    }
    if let Some(f) = get("BinaryData")
        && !parse_bool(&f.value).unwrap_or(false)
    {
        return Err(header_error(
            path,
            f.line,
            "BinaryData",
            format!("`{}`; expected True", f.value),
        ));
    }
    let flag = |k: &str| -> Result<bool> {
        match get(k) {
            None => Ok(false),
            Some(f) => parse_bool(&f.value).ok_or_else(|| {
                header_error(
                    path,
                    f.line,
                    k,
                    format!("`{}`; expected True or False", f.value),
                )
            }),
        }
    };
    let big_endian = flag("BinaryDataByteOrderMSB")?;
    let compressed = flag("CompressedData")?;

    let dims_field = get("DimSize").ok_or_else(|| missing("DimSize"))?;
    let dims_vals: Vec<usize> =
        parse_list(path, dims_field, "DimSize", ndims, "positive integers")?;
    let mut dims = [1usize; 3];
    dims[..ndims].copy_from_slice(&dims_vals);

    let mut spacing = [1.0f64; 3];
    if let Some(f) = get("ElementSpacing") {
        let v: Vec<f64> = parse_list(path, f, "ElementSpacing", ndims, "numbers (mm)")?;
        spacing[..ndims].copy_from_slice(&v);
    }
    let mut origin = [0.0f64; 3];
    if let Some(f) = get("Offset") {
        let v: Vec<f64> = parse_list(path, f, "Offset", ndims, "numbers (mm)")?;
        origin[..ndims].copy_from_slice(&v);
    }
    let mut direction = [Vec3::X, Vec3::Y, Vec3::Z];
    if let Some(f) = get("TransformMatrix") {
        let v: Vec<f64> = parse_list(path, f, "TransformMatrix", ndims * ndims, "numbers")?;
        for (a, axis) in direction.iter_mut().enumerate().take(ndims) {
            let mut c = [0.0; 3];
            c[..ndims].copy_from_slice(&v[a * ndims..(a + 1) * ndims]);
            *axis = Vec3::from(c);
        }
        if ndims == 2 {
            direction[2] = direction[0].cross(direction[1]);
        }
    }
    let element_field = get("ElementType").ok_or_else(|| missing("ElementType"))?;
    let element_type = ElementType::from_name(&element_field.value).ok_or_else(|| {
        header_error(
            path,
            element_field.line,
            "ElementType",
            format!("`{}`; expected one of MET_CHAR, MET_UCHAR, MET_SHORT, MET_USHORT, MET_INT, MET_UINT, MET_LONG_LONG, MET_ULONG_LONG, MET_FLOAT, MET_DOUBLE", element_field.value),
        )
    })?;
    let header_size = match get("HeaderSize") {
        None => 0,
        Some(f) => match f.value.parse::<i64>() {
            Ok(n) if n >= -1 => n,
            _ => {
                return Err(header_error(
                    path,
                    f.line,
                    "HeaderSize",
                    format!("`{}`; expected a byte count or -1", f.value),
                ));
            }
        },
    };

    let data_field = get("ElementDataFile").ok_or_else(|| missing("ElementDataFile"))?;
    let data = match data_field.value.as_str() {
        v if v.eq_ignore_ascii_case("LOCAL") => DataLocation::Local {
            offset: data_offset.unwrap_or(0),
        },
        v if v.eq_ignore_ascii_case("LIST")
            || v.contains('%')
            || v.split_whitespace().count() > 1
            || v.is_empty() =>
        {
            return Err(header_error(
                path,
                data_field.line,
                "ElementDataFile",
                format!(
                    "`{v}`: data split over several files is not supported; expected LOCAL or one file name"
                ),
            ));
        }
        v if Path::new(v).is_absolute()
            || v.contains(':')
            || Path::new(v)
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_))) =>
        {
            // (Attack round on issue 25: a forged header read the tail of any file.)
            return Err(header_error(
                path,
                data_field.line,
                "ElementDataFile",
                format!(
                    "`{v}`: expected a file name relative to the header's folder, without `..`"
                ),
            ));
        }
        v => DataLocation::File(path.parent().unwrap_or(Path::new("")).join(v)),
    };

    let grid = Grid::builder(dims)
        .spacing(spacing)
        .origin(origin)
        .direction(direction)
        .build()
        .map_err(|e| match e {
            Error::InvalidGrid { field, reason } => {
                let (name, line) = match field {
                    "dims" => ("DimSize", dims_field.line),
                    "spacing" => (
                        "ElementSpacing",
                        get("ElementSpacing").map_or(0, |f| f.line),
                    ),
                    "origin" => ("Offset", get("Offset").map_or(0, |f| f.line)),
                    _ => (
                        "TransformMatrix",
                        get("TransformMatrix").map_or(0, |f| f.line),
                    ),
                };
                header_error(path, line, name, reason)
            }
            other => other,
        })?;
    Ok(Header {
        grid,
        element_type,
        big_endian,
        compressed,
        header_size,
        data,
    })
}

/// Maps the aliases MetaIO accepts onto one name; other keys are kept as written.
fn canonical_key(key: &str) -> String {
    const CANON: &[(&str, &str)] = &[
        ("ObjectType", "ObjectType"),
        ("NDims", "NDims"),
        ("DimSize", "DimSize"),
        ("ElementSpacing", "ElementSpacing"),
        ("Offset", "Offset"),
        ("Origin", "Offset"),
        ("Position", "Offset"),
        ("TransformMatrix", "TransformMatrix"),
        ("Rotation", "TransformMatrix"),
        ("Orientation", "TransformMatrix"),
        ("ElementType", "ElementType"),
        ("ElementDataFile", "ElementDataFile"),
        ("BinaryData", "BinaryData"),
        ("BinaryDataByteOrderMSB", "BinaryDataByteOrderMSB"),
        ("ElementByteOrderMSB", "BinaryDataByteOrderMSB"),
        ("CompressedData", "CompressedData"),
        ("HeaderSize", "HeaderSize"),
        ("ElementNumberOfChannels", "ElementNumberOfChannels"),
    ];
    CANON
        .iter()
        .find(|(alias, _)| alias.eq_ignore_ascii_case(key))
        .map_or_else(|| key.to_string(), |(_, canon)| (*canon).to_string())
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

fn parse_list<T: std::str::FromStr>(
    path: &Path,
    field: &Field,
    name: &str,
    count: usize,
    what: &str,
) -> Result<Vec<T>> {
    let parts: Vec<&str> = field.value.split_whitespace().collect();
    let bad = || {
        header_error(
            path,
            field.line,
            name,
            format!("`{}`; expected {count} {what}", field.value),
        )
    };
    if parts.len() != count {
        return Err(bad());
    }
    parts
        .iter()
        .map(|p| p.parse::<T>().map_err(|_| bad()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_names_round_trip() {
        for t in ElementType::ALL {
            assert_eq!(ElementType::from_name(t.name()), Some(t));
        }
        assert_eq!(ElementType::from_name("MET_LONG"), Some(ElementType::I32));
        assert_eq!(ElementType::from_name("MET_FLOATS"), None);
    }

    #[test]
    fn orientation_code_of_identity_is_rai() {
        let g = Grid::new([1, 1, 1], [1.0; 3]).unwrap();
        assert_eq!(anatomical_orientation(&g), "RAI");
        let g = g
            .to_builder()
            .direction([-Vec3::X, -Vec3::Y, -Vec3::Z])
            .build()
            .unwrap();
        assert_eq!(anatomical_orientation(&g), "LPS");
    }
}
