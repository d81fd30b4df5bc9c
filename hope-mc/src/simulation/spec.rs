//! The sections of a simulation file, as typed values: phantom and inserts, sources, physics,
//! scoring grid and absolute dose.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use hope_core::Vec3;

use super::{MAX_VOXELS, Solid, raw};
use crate::physics::{ComptonModel, PhysicsOptions, Relaxation};
use crate::source::brachy::I125_LINES;
use crate::source::{Radionuclide, SeedPlacement, Spectrum};
use crate::transport::Tracking;
use crate::{Error, Material, Result};

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

type Checked<T = ()> = std::result::Result<T, Invalid>;

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

fn material(name: &str, value: &str) -> Checked {
    Material::builtin(value)
        .map(|_| ())
        .map_err(|e| Invalid::because(name, "not a built-in material", e))
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
            material: name,
            density: rho,
        } = &self.body
        {
            if dims.contains(&0) {
                return Err(Invalid::new(
                    "phantom.dims",
                    format!("{dims:?}; expected three positive numbers"),
                ));
            }
            within_budget("phantom.dims", *dims)?;
            if spacing_mm.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
                return Err(Invalid::new(
                    "phantom.spacing_mm",
                    format!("{spacing_mm:?}; expected three positive sizes"),
                ));
            }
            finite3("phantom.origin_mm", *origin_mm)?;
            material("phantom.material", name)?;
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
        material(&format!("{at}.material"), &self.material)?;
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

/// A built-in seed model (`model` in the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SeedModelName {
    /// Amersham/Oncura 6711 (I-125).
    #[serde(rename = "6711")]
    Model6711,
}

/// The energies of a source: one of `energy_kev`, `lines_kev` and `radionuclide` in the file.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Energies {
    /// One energy, keV (kinetic for electrons and positrons).
    Mono {
        /// The energy.
        energy_kev: f64,
    },
    /// Lines: [energy keV, relative intensity].
    Lines {
        /// The lines.
        lines_kev: Vec<[f64; 2]>,
    },
    /// A radionuclide's photon lines (I-125: TG-43U1's; others from ICRP-107).
    Radionuclide {
        /// Its name, as `I-125` or `Lu-177`.
        name: String,
    },
}

/// What a beam or point source emits: `particle` and the energies in the file.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Emission {
    /// Photons (`particle = "photon"`, the default).
    Photons(Energies),
    /// Electrons of the given kinetic energies (needs electron transport).
    Electrons(Energies),
    /// Positrons of the given kinetic energies (needs electron transport).
    Positrons(Energies),
    /// Electrons with a radionuclide's ICRP-107 beta spectrum (`particle = "beta"`).
    Beta {
        /// The radionuclide, as `Y-90`.
        radionuclide: String,
    },
}

impl Emission {
    /// The `particle` of the file.
    pub fn particle(&self) -> Particle {
        match self {
            Emission::Photons(_) => Particle::Photon,
            Emission::Electrons(_) => Particle::Electron,
            Emission::Positrons(_) => Particle::Positron,
            Emission::Beta { .. } => Particle::Beta,
        }
    }
}

/// A source (`[source]`): its kind with the fields that kind takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "raw::Source", into = "raw::Source")]
#[non_exhaustive]
pub enum SourceSpec {
    /// Isotropic emission from a point.
    Point {
        /// The point, mm.
        position_mm: [f64; 3],
        /// Particles and energies.
        emission: Emission,
    },
    /// A pencil beam.
    Pencil {
        /// Where the beam starts, mm.
        position_mm: [f64; 3],
        /// Its direction (need not be normalised).
        direction: [f64; 3],
        /// Particles and energies.
        emission: Emission,
    },
    /// A cone beam from a point.
    Cone {
        /// The apex, mm.
        position_mm: [f64; 3],
        /// The cone's axis.
        direction: [f64; 3],
        /// Half opening angle, degrees (more than 0, at most 180).
        half_angle_deg: f64,
        /// Particles and energies.
        emission: Emission,
    },
    /// A parallel beam of a rectangular field.
    Parallel {
        /// The field's centre, mm.
        position_mm: [f64; 3],
        /// The beam's direction.
        direction: [f64; 3],
        /// Field size, mm.
        field_mm: [f64; 2],
        /// Particles and energies.
        emission: Emission,
    },
    /// Brachytherapy seeds (photons only).
    Seeds {
        /// The seed model.
        model: SeedModelName,
        /// The photon energies of the seeds' radionuclide.
        energies: Energies,
        /// Position, axis and weight of each seed.
        seeds: Vec<SeedPlacement>,
    },
}

impl SourceSpec {
    /// The `kind` of the file.
    pub fn kind(&self) -> SourceKind {
        match self {
            SourceSpec::Point { .. } => SourceKind::Point,
            SourceSpec::Pencil { .. } => SourceKind::Pencil,
            SourceSpec::Cone { .. } => SourceKind::Cone,
            SourceSpec::Parallel { .. } => SourceKind::Parallel,
            SourceSpec::Seeds { .. } => SourceKind::Seeds,
        }
    }

    /// What it emits (seeds: photons).
    pub fn emission(&self) -> Emission {
        match self {
            SourceSpec::Point { emission, .. }
            | SourceSpec::Pencil { emission, .. }
            | SourceSpec::Cone { emission, .. }
            | SourceSpec::Parallel { emission, .. } => emission.clone(),
            SourceSpec::Seeds { energies, .. } => Emission::Photons(energies.clone()),
        }
    }

    /// The radionuclide named by the source, if any.
    pub fn radionuclide_name(&self) -> Option<&str> {
        let energies = match self {
            SourceSpec::Point { emission, .. }
            | SourceSpec::Pencil { emission, .. }
            | SourceSpec::Cone { emission, .. }
            | SourceSpec::Parallel { emission, .. } => match emission {
                Emission::Photons(e) | Emission::Electrons(e) | Emission::Positrons(e) => e,
                Emission::Beta { radionuclide } => return Some(radionuclide),
            },
            SourceSpec::Seeds { energies, .. } => energies,
        };
        match energies {
            Energies::Radionuclide { name } => Some(name),
            _ => None,
        }
    }

    /// The seeds of a seed source (empty for the others).
    pub fn seeds(&self) -> &[SeedPlacement] {
        match self {
            SourceSpec::Seeds { seeds, .. } => seeds,
            _ => &[],
        }
    }

    /// The energy spectrum (eV) of what the source emits.
    pub fn spectrum(&self) -> Result<Spectrum> {
        Ok(self.checked_spectrum()?)
    }

    fn checked_spectrum(&self) -> Checked<Spectrum> {
        let energies = match self.emission() {
            Emission::Beta { radionuclide } => {
                return Radionuclide::by_name(&radionuclide)
                    .and_then(|r| r.beta_spectrum())
                    .map_err(|e| {
                        Invalid::because(
                            "source.radionuclide",
                            "expected a radionuclide with a beta spectrum",
                            e,
                        )
                    });
            }
            Emission::Photons(e) | Emission::Electrons(e) | Emission::Positrons(e) => e,
        };
        match energies {
            Energies::Mono { energy_kev: e } if e.is_finite() && (1.0..=1e5).contains(&e) => {
                Ok(Spectrum::Mono(e * 1e3))
            }
            Energies::Mono { energy_kev: e } => Err(Invalid::new(
                "source.energy_kev",
                format!("{e}; expected 1 to 100000 keV"),
            )),
            Energies::Lines { lines_kev } => {
                if let Some((i, [e, _])) = lines_kev
                    .iter()
                    .enumerate()
                    .find(|(_, [e, _])| !(e.is_finite() && *e >= 1.0 && *e <= 1e5))
                {
                    return Err(Invalid::new(
                        format!("source.lines_kev[{i}]"),
                        format!("{e} keV; expected 1 to 100000 keV"),
                    ));
                }
                Spectrum::lines(
                    &lines_kev
                        .iter()
                        .map(|[e, w]| (e * 1e3, *w))
                        .collect::<Vec<_>>(),
                )
                .map_err(|e| Invalid::because("source.lines_kev", "expected usable lines", e))
            }
            Energies::Radionuclide { name } => match name.as_str() {
                // The brachytherapy dosimetry standard for I-125.
                i125 if is_i125(i125) => Spectrum::lines(&I125_LINES)
                    .map_err(|e| Invalid::because("source.radionuclide", "I-125", e)),
                other => Radionuclide::by_name(other)
                    .and_then(|r| r.spectrum(0.0))
                    .map_err(|e| {
                        Invalid::because(
                            "source.radionuclide",
                            "expected a built-in radionuclide",
                            e,
                        )
                    }),
            },
        }
    }

    /// Checks every value (the file's structure is checked when it is read); the spectrum, which
    /// the checks make.
    pub(crate) fn check(&self) -> Checked<Spectrum> {
        let spectrum = self.checked_spectrum()?;
        self.check_geometry()?;
        Ok(spectrum)
    }

    fn check_geometry(&self) -> Checked {
        let direction = |d: [f64; 3]| unit("source.direction", d).map(|_| ());
        let position = |p: [f64; 3]| finite3("source.position_mm", p).map(|_| ());
        match self {
            SourceSpec::Point { position_mm, .. } => position(*position_mm),
            SourceSpec::Pencil {
                position_mm,
                direction: d,
                ..
            } => {
                position(*position_mm)?;
                direction(*d)
            }
            SourceSpec::Cone {
                position_mm,
                direction: d,
                half_angle_deg: a,
                ..
            } => {
                position(*position_mm)?;
                direction(*d)?;
                if !(*a > 0.0 && *a <= 180.0) {
                    return Err(Invalid::new(
                        "source.half_angle_deg",
                        format!("{a}; expected 0 < angle <= 180 degrees"),
                    ));
                }
                Ok(())
            }
            SourceSpec::Parallel {
                position_mm,
                direction: d,
                field_mm: [w, h],
                ..
            } => {
                position(*position_mm)?;
                direction(*d)?;
                if !(*w > 0.0 && *h > 0.0 && w.is_finite() && h.is_finite()) {
                    return Err(Invalid::new(
                        "source.field_mm",
                        format!("{:?}; expected two positive sizes", [*w, *h]),
                    ));
                }
                Ok(())
            }
            SourceSpec::Seeds { seeds, .. } => {
                if seeds.is_empty() {
                    return Err(Invalid::new("source.seeds", "no seeds"));
                }
                for (i, seed) in seeds.iter().enumerate() {
                    finite3(&format!("source.seeds[{i}].position_mm"), seed.position_mm)?;
                    unit(&format!("source.seeds[{i}].axis"), seed.axis)?;
                    // 0 is an empty slot of a plaque; the weights' sum must be positive (checked
                    // when the source is made).
                    if !(seed.weight.is_finite() && seed.weight >= 0.0) {
                        return Err(Invalid::new(
                            format!("source.seeds[{i}].weight"),
                            format!("{}; expected a finite weight >= 0", seed.weight),
                        ));
                    }
                }
                Ok(())
            }
        }
    }
}

/// A named set of physics options that reproduces a reference code's settings. The keys a
/// preset sets are listed by [`Preset::settings`] (and in the format's documentation, which a
/// test keeps equal to it); a key the file gives itself wins over the preset's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// DOSXYZnrc's classic defaults (EGSnrc with `Bound Compton scattering = Off`,
    /// `Rayleigh scattering = Off`, `Atomic relaxations = Off`, `Photoelectron angular
    /// sampling = Off`, ECUT = 0.521 MeV total and PCUT = 0.01 MeV, IREJECT = 0), with coupled
    /// electron transport and no range rejection.
    EgsnrcDosxyz,
    /// egs_brachy's defaults (Rayleigh on, bound Compton, atomic relaxation, photoelectron
    /// angular sampling, PCUT = 1 keV, electrons deposited locally: the track-length kerma
    /// estimator), which are also hope-mc's.
    EgsBrachy,
}

impl Preset {
    /// The names the file format takes.
    pub const NAMES: &'static str = "egsnrc-dosxyz, egs-brachy";

    /// What the preset sets, as TOML lines under `[physics]` (`electrons.x` is
    /// `[physics.electrons] x`).
    pub fn settings(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Preset::EgsnrcDosxyz => &[
                ("relaxation", "\"none\""),
                ("rayleigh", "false"),
                ("compton", "\"free\""),
                ("photoelectron_angular", "false"),
                ("photon_cutoff_ev", "10000.0"),
                ("electrons.transport", "true"),
                ("electrons.cutoff_ev", "10000.0"),
                ("electrons.range_rejection", "false"),
            ],
            Preset::EgsBrachy => &[
                ("relaxation", "\"full\""),
                ("rayleigh", "true"),
                ("compton", "\"bound\""),
                ("photoelectron_angular", "true"),
                ("photon_cutoff_ev", "1000.0"),
                ("electrons.transport", "false"),
            ],
        }
    }

    /// The settings as a table, to lay under the file's own keys.
    fn table(self) -> toml::Table {
        let lines: Vec<String> = self
            .settings()
            .iter()
            .map(|(key, value)| format!("{key} = {value}"))
            .collect();
        // The settings are constants that a test reads: they always parse.
        toml::from_str(&lines.join("\n")).unwrap_or_default()
    }
}

/// Physics switches and tracking: the `[physics]` section. See [`PhysicsOptions`] for each
/// switch and its EGSnrc equivalent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhysicsSpec {
    /// The preset these options started from, if any (already applied: the other fields hold
    /// the result).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<Preset>,
    /// Atomic relaxation after photoabsorption.
    pub relaxation: Relaxation,
    /// Rayleigh (coherent) scattering.
    pub rayleigh: bool,
    /// Incoherent scattering model.
    pub compton: ComptonModel,
    /// Sauter's angular distribution for photoelectrons (else the photon's direction).
    pub photoelectron_angular: bool,
    /// Photon cutoff, eV.
    pub photon_cutoff_ev: f64,
    /// Higher cutoffs in some materials (eV, by built-in material name).
    pub material_cutoffs_ev: std::collections::BTreeMap<String, f64>,
    /// Tracking method.
    pub tracking: Tracking,
    /// Electron and positron transport (`[physics.electrons]`, `transport = true` for coupled
    /// photon-electron transport).
    pub electrons: crate::physics::electron::ElectronOptions,
}

/// The section's fields as the file gives them (after the preset is laid under them).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct PhysicsFields {
    preset: Option<Preset>,
    #[serde(alias = "fluorescence")]
    relaxation: Relaxation,
    #[serde(alias = "coherent")]
    rayleigh: bool,
    compton: ComptonModel,
    photoelectron_angular: bool,
    photon_cutoff_ev: f64,
    material_cutoffs_ev: std::collections::BTreeMap<String, f64>,
    tracking: Tracking,
    electrons: crate::physics::electron::ElectronOptions,
}

impl Default for PhysicsFields {
    fn default() -> Self {
        let p = PhysicsSpec::default();
        Self {
            preset: None,
            relaxation: p.relaxation,
            rayleigh: p.rayleigh,
            compton: p.compton,
            photoelectron_angular: p.photoelectron_angular,
            photon_cutoff_ev: p.photon_cutoff_ev,
            material_cutoffs_ev: p.material_cutoffs_ev,
            tracking: p.tracking,
            electrons: p.electrons,
        }
    }
}

impl<'de> Deserialize<'de> for PhysicsSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut table = toml::Table::deserialize(d)?;
        if let Some(name) = table.get("preset") {
            let preset: Preset = name.clone().try_into().map_err(|_| {
                D::Error::custom(format!("preset {name}: expected one of {}", Preset::NAMES))
            })?;
            for (key, value) in preset.table() {
                match (table.get_mut(&key), value) {
                    (Some(toml::Value::Table(mine)), toml::Value::Table(theirs)) => {
                        for (k, v) in theirs {
                            mine.entry(k).or_insert(v);
                        }
                    }
                    (Some(_), _) => {}
                    (None, value) => {
                        table.insert(key, value);
                    }
                }
            }
        }
        let f: PhysicsFields = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| D::Error::custom(e.message()))?;
        Ok(Self {
            preset: f.preset,
            relaxation: f.relaxation,
            rayleigh: f.rayleigh,
            compton: f.compton,
            photoelectron_angular: f.photoelectron_angular,
            photon_cutoff_ev: f.photon_cutoff_ev,
            material_cutoffs_ev: f.material_cutoffs_ev,
            tracking: f.tracking,
            electrons: f.electrons,
        })
    }
}

impl PhysicsSpec {
    /// The options a preset gives (with the defaults for what it does not set).
    pub fn preset(preset: Preset) -> Self {
        let mut table = toml::Table::new();
        if let Ok(name) = toml::Value::try_from(preset) {
            table.insert("preset".into(), name);
        }
        // The preset's own table always reads.
        toml::Value::Table(table).try_into().unwrap_or_default()
    }

    /// The run-time physics options.
    pub fn options(&self) -> PhysicsOptions {
        PhysicsOptions {
            relaxation: self.relaxation,
            rayleigh: self.rayleigh,
            compton: self.compton,
            photoelectron_angular: self.photoelectron_angular,
            photon_cutoff_ev: self.photon_cutoff_ev,
            material_cutoffs_ev: self.material_cutoffs_ev.clone(),
            electrons: self.electrons.clone(),
        }
    }
}

impl Default for PhysicsSpec {
    fn default() -> Self {
        let p = PhysicsOptions::default();
        Self {
            preset: None,
            relaxation: p.relaxation,
            rayleigh: p.rayleigh,
            compton: p.compton,
            photoelectron_angular: p.photoelectron_angular,
            photon_cutoff_ev: p.photon_cutoff_ev,
            material_cutoffs_ev: p.material_cutoffs_ev,
            tracking: Tracking::Woodcock,
            electrons: p.electrons,
        }
    }
}
