//! The sections of a simulation file, as typed values: phantom and inserts, sources, physics,
//! scoring grid and absolute dose.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use hope_core::Vec3;

use super::{MAX_VOXELS, Solid, raw};
use crate::source::brachy::I125_LINES;
use crate::source::{Radionuclide, SeedPlacement, Spectrum};
use crate::{Error, Result};

/// A scoring grid: voxels along the phantom's axes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoringSpec {
    /// Voxels along the three axes.
    pub dims: [usize; 3],
    /// Voxel size, mm.
    pub spacing_mm: [f64; 3],
    /// Centre of the first voxel, mm.
    pub origin_mm: [f64; 3],
}

/// What a run writes besides the dose (`[output]`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// Blocks of voxels whose mean dose is reported with its uncertainty from the spread of
    /// independent groups of batches (`[[output.block]]`).
    #[serde(default)]
    pub block: Vec<BlockSpec>,
    /// Lines along which the dose is written (`[[output.line]]`), beside the beam's axis.
    #[serde(default)]
    pub line: Vec<LineSpec>,
    /// A phase space scored on a plane during the run (`[output.phase_space]`).
    #[serde(default)]
    pub phase_space: Option<PlaneSpec>,
}

impl OutputSpec {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.block.is_empty() && self.line.is_empty() && self.phase_space.is_none()
    }

    /// Checks the lines, blocks and phase-space plane; the error names the field.
    pub(crate) fn check(&self) -> crate::Result<()> {
        if self.line.len() > MAX_BLOCKS {
            return Err(super::field(
                "output.line",
                format!("{} lines; expected at most {MAX_BLOCKS}", self.line.len()),
            ));
        }
        for (i, l) in self.line.iter().enumerate() {
            let at = format!("output.line[{i}]");
            if !is_name(&l.name) {
                return Err(super::field(
                    &format!("{at}.name"),
                    "expected 1 to 64 letters, digits, '_' or '-'",
                ));
            }
            let d = Vec3::from(l.to_mm) - Vec3::from(l.from_mm);
            let ok = l
                .from_mm
                .iter()
                .chain(&l.to_mm)
                .all(|x| x.is_finite() && x.abs() <= 1e7)
                && d.norm() > 0.0;
            if !ok {
                return Err(super::field(
                    &at,
                    "from_mm and to_mm: two different points, finite, within 1e7 mm",
                ));
            }
        }
        if self.block.len() > MAX_BLOCKS {
            return Err(super::field(
                "output.block",
                format!("{} blocks; expected at most {MAX_BLOCKS}", self.block.len()),
            ));
        }
        for (i, b) in self.block.iter().enumerate() {
            let at = format!("output.block[{i}]");
            if !is_name(&b.name) {
                return Err(super::field(
                    &format!("{at}.name"),
                    "expected 1 to 64 letters, digits, '_' or '-'",
                ));
            }
            let ok = (0..3).all(|a| {
                b.min_mm[a].is_finite() && b.max_mm[a].is_finite() && b.min_mm[a] < b.max_mm[a]
            });
            if !ok {
                return Err(super::field(
                    &at,
                    "min_mm and max_mm: finite corners, min below max on every axis",
                ));
            }
        }
        if let Some(plane) = &self.phase_space {
            if !is_name(&plane.name) {
                return Err(super::field(
                    "output.phase_space.name",
                    "expected 1 to 64 letters, digits, '_' or '-'",
                ));
            }
            if !(plane.z_mm.is_finite() && plane.z_mm.abs() <= 1e7) {
                return Err(super::field(
                    "output.phase_space.z_mm",
                    format!("{}: expected a finite value within 1e7 mm", plane.z_mm),
                ));
            }
            if !self.block.is_empty() {
                return Err(super::field(
                    "output.phase_space",
                    "not with [[output.block]] in the same run (run twice with the same seed: \
                     the dose is the same, bit for bit)",
                ));
            }
        }
        Ok(())
    }
}

/// A phase space scored on the plane z = `z_mm` during the run: `NAME.IAEAheader` and
/// `NAME.IAEAphsp` in the output folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaneSpec {
    /// The files' name (without extension).
    pub name: String,
    /// The plane's patient z, mm.
    pub z_mm: f64,
    /// The crossings recorded: `"+z"` (the default) or `"-z"`.
    #[serde(default)]
    pub towards: Towards,
}

/// The direction of the crossings a scoring plane records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Towards {
    /// Towards +z.
    #[default]
    #[serde(rename = "+z")]
    PlusZ,
    /// Towards -z.
    #[serde(rename = "-z")]
    MinusZ,
}

/// A named line from one point to another, sampled every smallest voxel size (`lines.csv`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineSpec {
    /// Its name in the outputs.
    pub name: String,
    /// Where it starts, mm.
    pub from_mm: [f64; 3],
    /// Where it ends, mm.
    pub to_mm: [f64; 3],
}

/// A box of voxels (those whose centres lie inside it) whose mean dose is reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockSpec {
    /// Its name in the outputs.
    pub name: String,
    /// One corner, mm.
    pub min_mm: [f64; 3],
    /// The opposite corner, mm.
    pub max_mm: [f64; 3],
}

/// A name of 1 to 64 ASCII letters, digits, `_` or `-` (it names output rows and files).
pub(crate) fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// At most this many blocks (and as many lines).
pub const MAX_BLOCKS: usize = 100;

/// Source strength and irradiation time.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbsoluteSpec {
    /// Air-kerma strength of each seed (weight 1), U = uGy m^2 h^-1 (seed sources).
    #[serde(default)]
    pub air_kerma_strength_u: Option<f64>,
    /// Activity, Bq (sources with a radionuclide).
    #[serde(default)]
    pub activity_bq: Option<f64>,
    /// Photons emitted per second (any source).
    #[serde(default)]
    pub photons_per_s: Option<f64>,
    /// Irradiation time, hours.
    #[serde(default)]
    pub time_h: Option<f64>,
    /// Irradiation time, seconds.
    #[serde(default)]
    pub time_s: Option<f64>,
    /// Integrate the radioactive decay over the time (the radionuclide's half-life).
    #[serde(default)]
    pub decay: bool,
}

pub(super) fn default_seed() -> u64 {
    1
}

pub(super) fn default_batch() -> u64 {
    250_000
}

/// A field refused when a simulation is read or built: where it is in the file, what is wrong
/// and, when another part of the library refused the value, its error.
#[derive(Debug)]
pub(crate) struct Invalid {
    pub(crate) field: String,
    pub(crate) message: String,
    pub(crate) source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Invalid {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            source: None,
        }
    }

    /// `field` refused by `source` (`message`: what the field was expected to be).
    pub(crate) fn because(
        field: impl Into<String>,
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

/// The text serde reports (a string is all it keeps): the cause included.
impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)?;
        if let Some(s) = &self.source {
            write!(f, " ({s})")?;
        }
        Ok(())
    }
}

impl From<Invalid> for Error {
    fn from(e: Invalid) -> Self {
        Error::Simulation {
            field: e.field,
            message: e.message,
            source: e.source,
        }
    }
}

pub(crate) type Checked<T = ()> = std::result::Result<T, Invalid>;

/// Refuses a grid of more than [`MAX_VOXELS`] voxels, naming the field.
pub(crate) fn within_budget(name: &str, dims: [usize; 3]) -> Checked {
    let n = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .unwrap_or(usize::MAX);
    if n > MAX_VOXELS {
        return Err(Invalid::new(
            name,
            format!(
                "{dims:?}: {n} voxels, more than the {MAX_VOXELS} a simulation may have \
                 (resample the CT, or score on a coarser `scoring` grid)"
            ),
        ));
    }
    Ok(())
}

fn finite3(name: &str, v: [f64; 3]) -> Checked<Vec3> {
    if v.iter().all(|c| c.is_finite()) {
        Ok(Vec3::from(v))
    } else {
        Err(Invalid::new(
            name,
            format!("{v:?}; expected finite numbers"),
        ))
    }
}

fn positive(name: &str, v: f64, what: &str) -> Checked<f64> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(Invalid::new(
            name,
            format!("{v}; expected a positive {what}"),
        ))
    }
}

/// A direction: finite, and with a squared length that is a normal, finite number (a vector of
/// 1e200 has an infinite length; one of 1e-155 or less a subnormal or zero square, whose root is
/// inexact: normalising either gives inf, 0 or a vector that is not of unit length).
fn unit(name: &str, v: [f64; 3]) -> Checked<Vec3> {
    let axis = finite3(name, v)?;
    let square = axis.dot(axis);
    if !(square.is_finite() && square >= f64::MIN_POSITIVE) {
        return Err(Invalid::new(
            name,
            format!(
                "{v:?}; expected a non-zero vector of moderate size (its squared length is {square})"
            ),
        ));
    }
    Ok(axis * (1.0 / square.sqrt()))
}

/// Whether `name` names I-125 (spelt as the radionuclides are looked up: any case, with or
/// without the hyphen), whose photons are TG-43U1's lines.
pub(crate) fn is_i125(name: &str) -> bool {
    name.replace('-', "").eq_ignore_ascii_case("i125")
}

/// A length (mm) from 1 nm to 10 km (smaller ones underflow when squared: a divergent beam's
/// directions became NaN).
pub(crate) fn length(name: &str, value: f64) -> Checked {
    if value.is_finite() && (1e-6..=1e7).contains(&value) {
        Ok(())
    } else {
        Err(Invalid::new(
            name,
            format!("{value:e}; expected a size from 1e-6 to 1e7 mm"),
        ))
    }
}

/// A density given as a number (g/cm^3) checked against [`DENSITY_RANGE`].
pub(crate) fn density_of(name: &str, value: f64) -> Checked {
    density(name, Some(value))
}

/// The densities a phantom may hold, g/cm^3: from a near vacuum to well beyond osmium (22.6);
/// outside, a density would not survive its conversion to the f32 of the phantom.
pub const DENSITY_RANGE: std::ops::RangeInclusive<f64> = 1e-9..=1e3;

fn density(name: &str, value: Option<f64>) -> Checked {
    match value {
        Some(d) if !(d.is_finite() && DENSITY_RANGE.contains(&d)) => Err(Invalid::new(
            name,
            format!(
                "{d}; expected {} to {} g/cm^3",
                DENSITY_RANGE.start(),
                DENSITY_RANGE.end()
            ),
        )),
        _ => Ok(()),
    }
}

/// The voxel phantom (`[phantom]`): a box of one material or a CT, with solids of other
/// materials inserted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "raw::Phantom", into = "raw::Phantom")]
pub struct PhantomSpec {
    /// The box or the CT.
    pub body: PhantomBody,
    /// Solids of other materials (`[[phantom.insert]]`), voxelised in order.
    pub insert: Vec<InsertSpec>,
}

/// What a phantom is made of before its inserts.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PhantomBody {
    /// A box of voxels of one built-in material.
    Box {
        /// Voxels along x, y, z.
        dims: [usize; 3],
        /// Voxel size, mm.
        spacing_mm: [f64; 3],
        /// Centre of the first voxel, mm (the file's default: 0, 0, 0).
        origin_mm: [f64; 3],
        /// Built-in material name.
        material: String,
        /// Density, g/cm^3 (the material's nominal density if `None`).
        density: Option<f64>,
    },
    /// A CT volume in HU (MetaImage; a relative path is read from the file's directory), turned
    /// into materials and densities by an HU table.
    Ct {
        /// The CT.
        ct_mha: PathBuf,
        /// The HU calibration table (TOML or JSON); the default table if `None`.
        hu_table: Option<PathBuf>,
    },
}

impl PhantomSpec {
    /// A box of `material` at its nominal density, `origin_mm` the centre of the first voxel.
    pub fn boxed(
        dims: [usize; 3],
        spacing_mm: [f64; 3],
        origin_mm: [f64; 3],
        material: &str,
    ) -> Self {
        Self {
            body: PhantomBody::Box {
                dims,
                spacing_mm,
                origin_mm,
                material: material.to_string(),
                density: None,
            },
            insert: Vec::new(),
        }
    }

    /// A CT in HU, converted with the default HU table.
    pub fn ct(ct_mha: impl Into<PathBuf>) -> Self {
        Self {
            body: PhantomBody::Ct {
                ct_mha: ct_mha.into(),
                hu_table: None,
            },
            insert: Vec::new(),
        }
    }

    /// The same phantom with `insert` added after the others.
    pub fn with_insert(mut self, insert: InsertSpec) -> Self {
        self.insert.push(insert);
        self
    }

    /// The box's voxel counts (`None` for a CT, whose header gives them).
    pub fn dims(&self) -> Option<[usize; 3]> {
        match &self.body {
            PhantomBody::Box { dims, .. } => Some(*dims),
            PhantomBody::Ct { .. } => None,
        }
    }

    /// Checks every value (the file's structure is checked when it is read).
    pub(crate) fn check(&self) -> Checked {
        if let PhantomBody::Box {
            dims,
            spacing_mm,
            origin_mm,
            density: rho,
            ..
        } = &self.body
        {
            if dims.contains(&0) {
                return Err(Invalid::new(
                    "phantom.dims",
                    format!("{dims:?}; expected three positive numbers"),
                ));
            }
            within_budget("phantom.dims", *dims)?;
            // (Attack round on issue 26: voxels of 1e308 mm overflowed the pictures.)
            if spacing_mm
                .iter()
                .any(|s| !(s.is_finite() && *s > 0.0 && *s <= MAX_SPACING_MM))
            {
                return Err(Invalid::new(
                    "phantom.spacing_mm",
                    format!(
                        "{spacing_mm:?}; expected three positive sizes up to {MAX_SPACING_MM} mm"
                    ),
                ));
            }
            finite3("phantom.origin_mm", *origin_mm)?;
            density("phantom.density", *rho)?;
        }
        if self.insert.len() > super::MAX_INSERTS {
            return Err(Invalid::new(
                "phantom.insert",
                format!(
                    "{} inserts; expected at most {}",
                    self.insert.len(),
                    super::MAX_INSERTS
                ),
            ));
        }
        for (i, ins) in self.insert.iter().enumerate() {
            ins.check(Some(i))?;
        }
        Ok(())
    }
}

/// A solid of another material, voxelised: a voxel takes its material when at least 14 of 27
/// points spread over the voxel lie inside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "raw::Insert", into = "raw::Insert")]
pub struct InsertSpec {
    /// Built-in material name.
    pub material: String,
    /// Density, g/cm^3 (the material's nominal density if `None`).
    pub density: Option<f64>,
    /// The solid (`shape` in the file and the fields that shape takes).
    pub shape: InsertShape,
}

/// The solid of an insert, as the file gives it (mm; axes need not be normalised).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum InsertShape {
    /// An axis-aligned box (`shape = "box"`, the default).
    Box {
        /// Lower corner.
        min_mm: [f64; 3],
        /// Upper corner.
        max_mm: [f64; 3],
    },
    /// A sphere.
    Sphere {
        /// Centre.
        centre_mm: [f64; 3],
        /// Radius.
        radius_mm: f64,
    },
    /// A finite cylinder.
    Cylinder {
        /// Centre.
        centre_mm: [f64; 3],
        /// Direction of the axis.
        axis: [f64; 3],
        /// Radius.
        radius_mm: f64,
        /// Length along the axis.
        length_mm: f64,
    },
    /// A cylinder with a hole along its axis (a plaque's lip, a catheter).
    Tube {
        /// Centre.
        centre_mm: [f64; 3],
        /// Direction of the axis.
        axis: [f64; 3],
        /// Inner radius.
        inner_radius_mm: f64,
        /// Outer radius.
        radius_mm: f64,
        /// Length along the axis.
        length_mm: f64,
    },
    /// A spherical shell, or the cap of one within `half_angle_deg` of `axis` (a plaque's
    /// backing or seed carrier).
    Shell {
        /// Centre of the spheres.
        centre_mm: [f64; 3],
        /// Inner radius.
        inner_radius_mm: f64,
        /// Outer radius.
        radius_mm: f64,
        /// The cap's axis (needed when `half_angle_deg` is under 180).
        axis: Option<[f64; 3]>,
        /// The cap's half opening angle, degrees (the whole shell, 180, if `None`).
        half_angle_deg: Option<f64>,
    },
}

impl InsertShape {
    /// The `shape` tag of the file.
    pub fn kind(&self) -> Shape {
        match self {
            InsertShape::Box { .. } => Shape::Box,
            InsertShape::Sphere { .. } => Shape::Sphere,
            InsertShape::Cylinder { .. } => Shape::Cylinder,
            InsertShape::Tube { .. } => Shape::Tube,
            InsertShape::Shell { .. } => Shape::Shell,
        }
    }
}

impl InsertSpec {
    /// An insert of `material` at its nominal density.
    pub fn new(material: &str, shape: InsertShape) -> Self {
        Self {
            material: material.to_string(),
            density: None,
            shape,
        }
    }

    /// The analytic solid this insert describes (errors name the field).
    pub fn solid(&self) -> Result<Solid> {
        Ok(self.check(None)?)
    }

    /// Checks every value; the solid.
    pub(crate) fn check(&self, index: Option<usize>) -> Checked<Solid> {
        let at = insert_path(index);
        density(&format!("{at}.density"), self.density)?;
        insert_solid(&self.shape, &at)
    }
}

pub(super) fn insert_path(index: Option<usize>) -> String {
    match index {
        Some(i) => format!("phantom.insert[{i}]"),
        None => "insert".to_string(),
    }
}

/// The solid of an insert's shape; `at` names the insert in errors.
fn insert_solid(shape: &InsertShape, at: &str) -> Checked<Solid> {
    let f = |name: &str| format!("{at}.{name}");
    let inside = |inner: f64, outer: f64| -> Checked {
        if inner >= outer {
            return Err(Invalid::new(
                f("inner_radius_mm"),
                format!("{inner}; expected less than radius_mm ({outer})"),
            ));
        }
        Ok(())
    };
    match *shape {
        InsertShape::Box { min_mm, max_mm } => {
            let (min, max) = (
                finite3(&f("min_mm"), min_mm)?,
                finite3(&f("max_mm"), max_mm)?,
            );
            if (0..3).any(|a| min[a] > max[a]) {
                return Err(Invalid::new(
                    f("max_mm"),
                    format!("{max_mm:?}; expected at least min_mm ({min_mm:?}) on every axis"),
                ));
            }
            Ok(Solid::Box { min, max })
        }
        InsertShape::Sphere {
            centre_mm,
            radius_mm,
        } => Ok(Solid::Sphere {
            centre: finite3(&f("centre_mm"), centre_mm)?,
            radius: positive(&f("radius_mm"), radius_mm, "size")?,
        }),
        InsertShape::Cylinder {
            centre_mm,
            axis,
            radius_mm,
            length_mm,
        } => {
            let axis = unit(&f("axis"), axis)?;
            Ok(Solid::Cylinder {
                centre: finite3(&f("centre_mm"), centre_mm)?,
                axis,
                radius: positive(&f("radius_mm"), radius_mm, "size")?,
                half_length: positive(&f("length_mm"), length_mm, "size")? / 2.0,
            })
        }
        InsertShape::Tube {
            centre_mm,
            axis,
            inner_radius_mm,
            radius_mm,
            length_mm,
        } => {
            let axis = unit(&f("axis"), axis)?;
            let inner = positive(&f("inner_radius_mm"), inner_radius_mm, "size")?;
            let outer = positive(&f("radius_mm"), radius_mm, "size")?;
            inside(inner, outer)?;
            Ok(Solid::Tube {
                centre: finite3(&f("centre_mm"), centre_mm)?,
                axis,
                inner,
                outer,
                half_length: positive(&f("length_mm"), length_mm, "size")? / 2.0,
            })
        }
        InsertShape::Shell {
            centre_mm,
            inner_radius_mm,
            radius_mm,
            axis,
            half_angle_deg,
        } => {
            let inner = positive(&f("inner_radius_mm"), inner_radius_mm, "size")?;
            let outer = positive(&f("radius_mm"), radius_mm, "size")?;
            inside(inner, outer)?;
            let half = half_angle_deg.unwrap_or(180.0);
            if !(half.is_finite() && half > 0.0 && half <= 180.0) {
                return Err(Invalid::new(
                    f("half_angle_deg"),
                    format!("{half}; expected more than 0 and at most 180 degrees"),
                ));
            }
            let axis = match axis {
                Some(a) => unit(&f("axis"), a)?,
                None if half >= 180.0 => Vec3::new(0.0, 0.0, 1.0),
                None => return Err(Invalid::new(f("axis"), "missing: a cap needs its axis")),
            };
            Ok(Solid::Shell {
                centre: finite3(&f("centre_mm"), centre_mm)?,
                axis,
                inner,
                outer,
                cos_half_angle: half.to_radians().cos(),
            })
        }
    }
}

/// The kind of a source (`kind` in the file): an unknown value is an error listing these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SourceKind {
    /// Isotropic from a point.
    Point,
    /// A pencil beam.
    Pencil,
    /// A cone beam from a point.
    Cone,
    /// A parallel beam of a rectangular field.
    Parallel,
    /// A divergent beam from a focal point through a rectangular or circular field.
    Divergent,
    /// An IAEA phase space.
    #[serde(rename = "phase-space")]
    PhaseSpace,
    /// Brachytherapy seeds.
    Seeds,
}

impl std::fmt::Display for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SourceKind::Point => "point",
            SourceKind::Pencil => "pencil",
            SourceKind::Cone => "cone",
            SourceKind::Parallel => "parallel",
            SourceKind::Divergent => "divergent",
            SourceKind::PhaseSpace => "phase-space",
            SourceKind::Seeds => "seeds",
        })
    }
}

/// What a source emits (`particle` in the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Particle {
    /// Photons (the default).
    #[default]
    Photon,
    /// Electrons of the given energies (kinetic).
    Electron,
    /// Positrons of the given energies (kinetic).
    Positron,
    /// Electrons with the radionuclide's beta spectrum.
    Beta,
}

/// The shape of an insert (`shape` in the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Shape {
    /// A box, `min_mm` to `max_mm` (the default).
    #[default]
    Box,
    /// A sphere.
    Sphere,
    /// A cylinder.
    Cylinder,
    /// A cylinder with a hole along its axis.
    Tube,
    /// A spherical shell, or a cap of one.
    Shell,
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Shape::Box => "box",
            Shape::Sphere => "sphere",
            Shape::Cylinder => "cylinder",
            Shape::Tube => "tube",
            Shape::Shell => "shell",
        })
    }
}

/// An eye plaque that holds the seeds (`[source.plaque]` of a seed source): a built-in plaque,
/// placed on an eye, its slots loaded. The plaque and its seeds are transported in analytic
/// geometry ([`crate::source::plaque`]), not voxelised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaqueSpec {
    /// The plaque (`coms-10`, `coms-12`, ..., `coms-24`).
    pub name: String,
    /// The eye's centre, mm.
    pub eye_centre_mm: [f64; 3],
    /// From the eye's centre towards the plaque's centre (the tumour's side); need not be
    /// normalised.
    pub direction: [f64; 3],
    /// Rotation of the plaque about its axis, degrees.
    #[serde(default)]
    pub rotation_deg: f64,
    /// Relative strength of the seed in each slot, in the plaque's slot order (0: an inactive
    /// seed, which still attenuates); every slot 1 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strengths: Option<Vec<f64>>,
    /// Slots left without a seed (numbers from 1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub empty: Vec<usize>,
}

impl PlaqueSpec {
    /// The loading of each of `slots` slots; errors name the field.
    pub(crate) fn loads(
        &self,
        slots: usize,
    ) -> std::result::Result<Vec<crate::source::plaque::SlotLoad>, Invalid> {
        use crate::source::plaque::SlotLoad;
        let strengths = match &self.strengths {
            Some(s) if s.len() != slots => {
                return Err(Invalid::new(
                    "source.plaque.strengths",
                    format!("{} values; plaque {} has {slots} slots", s.len(), self.name),
                ));
            }
            Some(s) => s.clone(),
            None => vec![1.0; slots],
        };
        let mut loads = Vec::with_capacity(slots);
        for (i, w) in strengths.iter().enumerate() {
            if !(w.is_finite() && (0.0..=1e6).contains(w)) {
                return Err(Invalid::new(
                    format!("source.plaque.strengths[{i}]"),
                    format!("{w}; expected 0 (an inactive seed) to 1e6"),
                ));
            }
            loads.push(if *w > 0.0 {
                SlotLoad::Active(*w)
            } else {
                SlotLoad::Inactive
            });
        }
        for &e in &self.empty {
            if e == 0 || e > slots {
                return Err(Invalid::new(
                    "source.plaque.empty",
                    format!("slot {e}; plaque {} has slots 1 to {slots}", self.name),
                ));
            }
            loads[e - 1] = SlotLoad::Empty;
        }
        Ok(loads)
    }

    /// The central axis: the inner sclera under the plaque's centre (mm) and the unit vector into
    /// the eye (None for a zero direction).
    pub fn central_axis(&self) -> Option<(Vec3, Vec3)> {
        let d = Vec3::from(self.direction);
        let n = d.norm();
        if !(n.is_finite() && n > 0.0) {
            return None;
        }
        let u = d * (1.0 / n);
        Some((
            Vec3::from(self.eye_centre_mm) + u * (crate::source::plaque::EYE_CENTRE_DEPTH_MM),
            u * -1.0,
        ))
    }
}

/// The largest voxel of a phantom, mm (10 m).
pub(crate) const MAX_SPACING_MM: f64 = 1e4;

/// A built-in seed model (`model` in the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SeedModelName {
    /// Amersham/Oncura 6711 (I-125).
    #[serde(rename = "6711")]
    Model6711,
    /// Theragenics TheraSeed 200 (Pd-103).
    #[serde(rename = "theraseed-200")]
    TheraSeed200,
    /// Best Medical 2301 (I-125).
    #[serde(rename = "best-2301")]
    Best2301,
    /// BEBIG/Theragenics IsoSeed I25.S06 (I-125; the I25.S16 of BEBIG plaques).
    #[serde(rename = "isoseed-i25.s06")]
    IsoSeedI25S06,
    /// Oncura/GE ThinSeed 9011 (I-125).
    #[serde(rename = "thinseed-9011")]
    ThinSeed9011,
    /// Imagyn IsoStar IS-12501 (I-125).
    #[serde(rename = "isostar-is-12501")]
    IsoStarIs12501,
}

impl SeedModelName {
    /// The radionuclide the model holds (ICRP-107 name).
    pub fn radionuclide(self) -> &'static str {
        crate::source::SEED_MODELS
            .iter()
            .find(|m| m.0 == self.as_str())
            .map_or("I-125", |m| m.1)
    }

    /// The model of a name of [`crate::source::SEED_MODELS`].
    pub fn from_name(name: &str) -> Option<Self> {
        [
            SeedModelName::Model6711,
            SeedModelName::TheraSeed200,
            SeedModelName::Best2301,
            SeedModelName::IsoSeedI25S06,
            SeedModelName::ThinSeed9011,
            SeedModelName::IsoStarIs12501,
        ]
        .into_iter()
        .find(|m| m.as_str() == name)
    }

    /// The name in the simulation file (and in [`crate::source::SEED_MODELS`]).
    pub fn as_str(self) -> &'static str {
        match self {
            SeedModelName::Model6711 => "6711",
            SeedModelName::TheraSeed200 => "theraseed-200",
            SeedModelName::Best2301 => "best-2301",
            SeedModelName::IsoSeedI25S06 => "isoseed-i25.s06",
            SeedModelName::ThinSeed9011 => "thinseed-9011",
            SeedModelName::IsoStarIs12501 => "isostar-is-12501",
        }
    }
}

#[path = "physics_spec.rs"]
mod physics_spec;
#[path = "sources.rs"]
mod sources;

pub use physics_spec::{PhysicsSpec, Preset};
pub use sources::{Emission, Energies, FieldSpec, SourceSpec};
