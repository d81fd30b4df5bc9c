//! The sections of a simulation file, as typed values: phantom and inserts, sources, physics,
//! scoring grid and absolute dose.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Solid;
use super::solid::insert_solid;
use crate::Result;
use crate::physics::PhysicsOptions;
use crate::source::SeedPlacement;
use crate::transport::Tracking;

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

/// A box phantom of one material, or a CT, with inserted solids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhantomSpec {
    /// Voxels along x, y, z (box phantoms).
    #[serde(default)]
    pub dims: Option<[usize; 3]>,
    /// Voxel size, mm (box phantoms).
    #[serde(default)]
    pub spacing_mm: Option<[f64; 3]>,
    /// Centre of the first voxel, mm (box phantoms).
    #[serde(default)]
    pub origin_mm: [f64; 3],
    /// Built-in material name (box phantoms).
    #[serde(default)]
    pub material: Option<String>,
    /// Density (g/cm^3); the material's nominal density if absent.
    #[serde(default)]
    pub density: Option<f64>,
    /// A CT volume in HU (MetaImage), instead of the box.
    #[serde(default)]
    pub ct_mha: Option<PathBuf>,
    /// The HU calibration table (TOML or JSON); the default if absent.
    #[serde(default)]
    pub hu_table: Option<PathBuf>,
    /// Solids of other materials.
    #[serde(default)]
    pub insert: Vec<InsertSpec>,
}

/// A solid of another material, voxelised: a voxel takes its material when at least 14 of 27
/// points spread over the voxel lie inside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InsertSpec {
    /// Built-in material name.
    pub material: String,
    /// Density (g/cm^3); nominal if absent.
    #[serde(default)]
    pub density: Option<f64>,
    /// `box` (the default), `sphere`, `cylinder`, `tube` or `shell`.
    #[serde(default)]
    pub shape: Option<Shape>,
    /// Box: lower corner, mm.
    #[serde(default)]
    pub min_mm: Option<[f64; 3]>,
    /// Box: upper corner, mm.
    #[serde(default)]
    pub max_mm: Option<[f64; 3]>,
    /// Sphere, cylinder: centre, mm.
    #[serde(default)]
    pub centre_mm: Option<[f64; 3]>,
    /// Sphere, cylinder: radius, mm.
    #[serde(default)]
    pub radius_mm: Option<f64>,
    /// Cylinder: axis direction.
    #[serde(default)]
    pub axis: Option<[f64; 3]>,
    /// Cylinder, tube: length, mm.
    #[serde(default)]
    pub length_mm: Option<f64>,
    /// Tube, shell: inner radius, mm.
    #[serde(default)]
    pub inner_radius_mm: Option<f64>,
    /// Shell: the cap's half opening angle around `axis`, degrees (default 180: the whole shell).
    #[serde(default)]
    pub half_angle_deg: Option<f64>,
}

impl InsertSpec {
    /// The analytic solid this insert describes (errors name the field).
    pub fn solid(&self) -> Result<Solid> {
        insert_solid(self, 0)
    }
}

/// The kind of a source (`kind` in the file): an unknown value is an error listing these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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

/// A built-in seed model (`model` in the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeedModelName {
    /// Amersham/Oncura 6711 (I-125).
    #[serde(rename = "6711")]
    Model6711,
}

/// Emission geometry and energies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// `point` (isotropic), `pencil`, `cone`, `parallel` or `seeds`.
    pub kind: SourceKind,
    /// Position (point, pencil, cone apex) or field centre (parallel), mm.
    #[serde(default)]
    pub position_mm: Option<[f64; 3]>,
    /// Direction of a pencil, cone or parallel beam.
    #[serde(default)]
    pub direction: Option<[f64; 3]>,
    /// Half opening angle of a cone beam, degrees.
    #[serde(default)]
    pub half_angle_deg: Option<f64>,
    /// Field size of a parallel beam, mm.
    #[serde(default)]
    pub field_mm: Option<[f64; 2]>,
    /// One energy, keV.
    #[serde(default)]
    pub energy_kev: Option<f64>,
    /// Lines: [energy keV, relative intensity].
    #[serde(default)]
    pub lines_kev: Option<Vec<[f64; 2]>>,
    /// A radionuclide with built-in lines.
    #[serde(default)]
    pub radionuclide: Option<String>,
    /// Seed model (`6711`).
    #[serde(default)]
    pub model: Option<SeedModelName>,
    /// Seeds: position, axis, weight.
    #[serde(default)]
    pub seeds: Vec<SeedPlacement>,
    /// `photon` (the default), `electron`, `positron`, or `beta` (electrons with the
    /// radionuclide's beta spectrum).
    #[serde(default)]
    pub particle: Option<Particle>,
}

/// Physics switches and tracking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PhysicsSpec {
    /// K/L fluorescence after photoabsorption.
    pub fluorescence: bool,
    /// Coherent scattering.
    pub coherent: bool,
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

impl Default for PhysicsSpec {
    fn default() -> Self {
        let p = PhysicsOptions::default();
        Self {
            fluorescence: p.fluorescence,
            coherent: p.coherent,
            photon_cutoff_ev: p.photon_cutoff_ev,
            material_cutoffs_ev: p.material_cutoffs_ev,
            tracking: Tracking::Woodcock,
            electrons: p.electrons,
        }
    }
}
