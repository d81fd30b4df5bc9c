//! The description of a simulation as a file (TOML or JSON), the counterpart of a GATE macro:
//! phantom, materials, source, physics, tally, number of histories, seed and, optionally, what
//! turns dose per history into absolute dose.
//!
//! ```toml
//! histories = 1000000
//! seed = 1
//! tally = "kerma"                   # or "analog" (the absorbed dose with electron transport)
//!
//! [phantom]                         # a box of voxels of one material...
//! dims = [100, 100, 100]
//! spacing_mm = [1.0, 1.0, 1.0]
//! origin_mm = [-49.5, -49.5, -49.5] # centre of the first voxel
//! material = "water"
//! # ...or a CT: ct_mha = "ct.mha" (HU; paths relative to this file) with hu_table = "hu.toml"
//! # (hope_mc::hounsfield; the default table if absent)
//!
//! [[phantom.insert]]                # solids of other materials, voxelised (a voxel takes the
//! material = "cortical_bone_icru44" # solid's material when most of it lies inside)
//! shape = "box"                     # box (min_mm, max_mm), sphere (centre_mm, radius_mm),
//! min_mm = [10.0, -20.0, -20.0]     # cylinder (centre_mm, radius_mm, axis, length_mm), tube
//!                                   # (a cylinder with inner_radius_mm) or shell (a spherical
//!                                   # shell: centre_mm, inner_radius_mm, radius_mm, and optionally
//!                                   # axis and half_angle_deg for a cap, as a plaque's backing)
//! max_mm = [30.0, 20.0, 20.0]
//!
//! [source]
//! kind = "point"                    # point, pencil, cone, parallel or seeds
//! position_mm = [0.0, 0.0, 0.0]     # (pencil, cone: direction; cone: half_angle_deg;
//!                                   #  parallel: direction, field_mm = [w, h])
//! radionuclide = "I-125"            # (TG-43U1 lines; Pd-103, Ir-192, Tc-99m, Lu-177, I-131 from
//!                                   # ICRP-107) or energy_kev = 300, or lines_kev = [[27.2, 0.4], ...]
//! # seeds: model = "6711" and seeds = [{ position_mm = [0, 0, 0], axis = [0, 0, 1] }, ...]
//! particle = "photon"               # or "electron", "positron" (energies are kinetic), or "beta":
//!                                   # electrons with the radionuclide's ICRP-107 beta spectrum
//!                                   # (Lu-177, Y-90, I-131, Ru-106...); charged particles need
//!                                   # [physics.electrons] transport = true and tally = "analog"
//!
//! [physics]
//! fluorescence = true
//! coherent = true
//! photon_cutoff_ev = 1000.0
//! material_cutoffs_ev = { modulay = 10000.0 }  # higher cutoffs in some materials
//! tracking = "woodcock"             # or "boundary"
//!
//! [physics.electrons]               # optional: coupled photon-electron transport
//! transport = true                  # (hope_mc::electron::ElectronOptions: cutoff_ev = 10000,
//!                                   # delta_threshold_ev, bremsstrahlung_threshold_ev,
//!                                   # elastic_c1, max_energy_loss, range_rejection...)
//!
//! [scoring]                         # optional: score on another grid (the phantom's axes)
//! dims = [50, 50, 50]
//! spacing_mm = [0.5, 0.5, 0.5]
//! origin_mm = [-12.25, -12.25, -12.25]
//!
//! [absolute]                        # optional: dose in Gy instead of Gy per history
//! air_kerma_strength_u = 5.0        # per seed (U = uGy m^2 / h), for seeds; or activity_bq
//! time_h = 100.0                    # or time_s; decay = true integrates the decay over the time
//! ```
//!
//! Limits, each an error naming the field: a phantom, CT or scoring grid of at most
//! [`MAX_VOXELS`] voxels (2^26); energies (`energy_kev`, each line of `lines_kev`) from 1 to
//! 100,000 keV; finite line intensities, seed weights and `absolute` values whose product is a
//! finite number of histories; files (this one, HU tables) of at most [`MAX_FILE_BYTES`], read
//! only if they are regular files.

use std::path::{Path, PathBuf};

use hope_core::{Grid, Vec3, metaimage};
use serde::{Deserialize, Serialize};

use crate::brachy::{I125_LINES, SeedModel, Surroundings, tg43};
use crate::hounsfield::HuTable;
use crate::physics::PhysicsOptions;
use crate::source::{Radionuclide, SeedPlacement, SeedSource, Source, Spectrum};
use crate::transport::{Phantom, RunOptions, Tracking, Transport};
use crate::{Error, Material, Result};

/// Which dose estimator is written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TallyKind {
    /// Track-length collision kerma (the default: far lower variance).
    #[default]
    Kerma,
    /// Energy deposited at interactions.
    Analog,
}

/// A simulation file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Simulation {
    /// Number of histories (source particles).
    pub histories: u64,
    /// Random seed: the result depends only on the inputs and this seed.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Histories per batch (each batch has its own random stream).
    #[serde(default = "default_batch")]
    pub batch_size: u64,
    /// The estimator written out.
    #[serde(default)]
    pub tally: TallyKind,
    /// The voxel phantom.
    pub phantom: PhantomSpec,
    /// The source.
    pub source: SourceSpec,
    /// Physics and tracking.
    #[serde(default)]
    pub physics: PhysicsSpec,
    /// What turns dose per history into absolute dose.
    #[serde(default)]
    pub absolute: Option<AbsoluteSpec>,
    /// A scoring grid apart from the phantom's (same axes).
    #[serde(default)]
    pub scoring: Option<ScoringSpec>,
    /// The directory relative paths are read from (the file's; not part of the file).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

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

fn default_seed() -> u64 {
    1
}

fn default_batch() -> u64 {
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

/// An analytic solid (mm, patient coordinates).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Solid {
    /// An axis-aligned box.
    Box {
        /// Lower corner.
        min: Vec3,
        /// Upper corner.
        max: Vec3,
    },
    /// A sphere.
    Sphere {
        /// Centre.
        centre: Vec3,
        /// Radius.
        radius: f64,
    },
    /// A finite cylinder.
    Cylinder {
        /// Centre.
        centre: Vec3,
        /// Unit axis.
        axis: Vec3,
        /// Radius.
        radius: f64,
        /// Half length.
        half_length: f64,
    },
    /// A finite hollow cylinder (a plaque's lip, a catheter).
    Tube {
        /// Centre.
        centre: Vec3,
        /// Unit axis.
        axis: Vec3,
        /// Inner radius.
        inner: f64,
        /// Outer radius.
        outer: f64,
        /// Half length.
        half_length: f64,
    },
    /// The part of a spherical shell within an angle of an axis (an eye plaque's backing or
    /// seed carrier); a whole shell with `cos_half_angle` = -1.
    Shell {
        /// Centre of the spheres.
        centre: Vec3,
        /// Unit axis of the cap.
        axis: Vec3,
        /// Inner radius.
        inner: f64,
        /// Outer radius.
        outer: f64,
        /// Cosine of the cap's half opening angle.
        cos_half_angle: f64,
    },
}

impl Solid {
    /// Whether `p` lies inside (boundary included).
    pub fn contains(&self, p: Vec3) -> bool {
        match *self {
            Solid::Box { min, max } => (0..3).all(|a| p[a] >= min[a] && p[a] <= max[a]),
            Solid::Sphere { centre, radius } => (p - centre).norm() <= radius,
            Solid::Cylinder {
                centre,
                axis,
                radius,
                half_length,
            } => {
                let d = p - centre;
                let along = d.dot(axis);
                along.abs() <= half_length && (d - axis * along).norm() <= radius
            }
            Solid::Tube {
                centre,
                axis,
                inner,
                outer,
                half_length,
            } => {
                let d = p - centre;
                let along = d.dot(axis);
                let r = (d - axis * along).norm();
                along.abs() <= half_length && r >= inner && r <= outer
            }
            Solid::Shell {
                centre,
                axis,
                inner,
                outer,
                cos_half_angle,
            } => {
                let d = p - centre;
                let r = d.norm();
                r >= inner && r <= outer && d.dot(axis) >= cos_half_angle * r
            }
        }
    }

    /// A box (lower and upper corners) that holds the solid.
    pub fn bounds(&self) -> (Vec3, Vec3) {
        let ball = |c: Vec3, r: f64| (c - Vec3::new(r, r, r), c + Vec3::new(r, r, r));
        match *self {
            Solid::Box { min, max } => (min, max),
            Solid::Sphere { centre, radius } => ball(centre, radius),
            Solid::Shell { centre, outer, .. } => ball(centre, outer),
            Solid::Cylinder {
                centre,
                radius,
                half_length,
                ..
            }
            | Solid::Tube {
                centre,
                outer: radius,
                half_length,
                ..
            } => ball(centre, (radius * radius + half_length * half_length).sqrt()),
        }
    }

    /// Sets to `material`/`density` every voxel of which at least 14 of 27 points (a 3 x 3 x 3
    /// lattice at the sixths of the voxel) lie inside.
    pub fn voxelise(
        &self,
        grid: &Grid,
        mat: &mut [u16],
        rho: &mut [f32],
        material: u16,
        density: f32,
    ) {
        let [nx, ny, nz] = grid.dims();
        // Only the voxels whose indices fall in the bounding box's image (its 8 corners mapped
        // to index space, one voxel of margin).
        let (lo, hi) = self.bounds();
        let (mut first, mut last) = ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3]);
        for c in 0..8 {
            let corner = Vec3::new(
                if c & 1 == 0 { lo.x } else { hi.x },
                if c & 2 == 0 { lo.y } else { hi.y },
                if c & 4 == 0 { lo.z } else { hi.z },
            );
            let idx = grid.point_to_index(corner);
            for a in 0..3 {
                first[a] = first[a].min(idx[a]);
                last[a] = last[a].max(idx[a]);
            }
        }
        let range = |a: usize, n: usize| {
            if !(first[a].is_finite() && last[a].is_finite()) {
                return 0..n;
            }
            let start = (first[a] - 1.0).max(0.0).min(n as f64) as usize;
            let end = (last[a] + 2.0).max(0.0).min(n as f64) as usize;
            start..end.max(start)
        };
        let (ri, rj, rk) = (range(0, nx), range(1, ny), range(2, nz));
        for k in rk {
            for j in rj.clone() {
                for i in ri.clone() {
                    let mut inside = 0;
                    for (a, b, c) in (0..27).map(|n| (n % 3, (n / 3) % 3, n / 9)) {
                        let f = |n: usize, x: usize| x as f64 + (n as f64 - 1.0) / 3.0;
                        let p = grid.index_to_point([f(a, i), f(b, j), f(c, k)]);
                        if self.contains(p) {
                            inside += 1;
                        }
                    }
                    if inside >= 14 {
                        let o = i + nx * (j + ny * k);
                        mat[o] = material;
                        rho[o] = density;
                    }
                }
            }
        }
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
    pub electrons: crate::electron::ElectronOptions,
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

fn field(name: &str, message: impl Into<String>) -> Error {
    Error::Simulation {
        field: name.to_string(),
        message: message.into(),
    }
}

/// The most voxels a phantom or scoring grid may have (2^26, a 512 x 512 x 256 CT): transport
/// keeps about 70 bytes per voxel and, per worker thread, about 100 more for its sums, so this
/// bounds a run at about 7 GB per thread. Larger CTs are resampled first, or scored on a
/// `scoring` grid.
pub const MAX_VOXELS: usize = 1 << 26;

/// The largest simulation or HU table file read (seed lists included, they are far smaller).
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// Reads a text file the user named: a regular file of at most [`MAX_FILE_BYTES`].
pub(crate) fn read_text(path: &Path) -> std::result::Result<String, String> {
    let bytes = hope_core::fs::read_bounded(path, MAX_FILE_BYTES).map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8 text", path.display()))
}

/// Refuses a grid of more than [`MAX_VOXELS`] voxels, naming the field.
fn within_budget(name: &str, dims: [usize; 3]) -> Result<()> {
    let n = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .unwrap_or(usize::MAX);
    if n > MAX_VOXELS {
        return Err(field(
            name,
            format!(
                "{dims:?}: {n} voxels, more than the {MAX_VOXELS} a simulation may have \
                 (resample the CT, or score on a coarser `scoring` grid)"
            ),
        ));
    }
    Ok(())
}

impl Simulation {
    /// Reads a simulation file (TOML, or JSON by extension); errors name the file and the field.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = read_text(path).map_err(|e| field(&path.display().to_string(), e))?;
        let mut sim: Simulation = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text)
                .map_err(|e| field(&path.display().to_string(), e.to_string()))?
        } else {
            toml::from_str(&text).map_err(|e| field(&path.display().to_string(), e.to_string()))?
        };
        sim.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        sim.validate()?;
        Ok(sim)
    }

    /// The same simulation with its file paths made absolute (for copying it elsewhere, as
    /// into a grid run's working directory).
    pub fn resolved(&self) -> Simulation {
        let mut sim = self.clone();
        let abs = |p: &Path| {
            let p = self.path(p);
            std::fs::canonicalize(&p).unwrap_or(p)
        };
        sim.phantom.ct_mha = self.phantom.ct_mha.as_deref().map(abs);
        sim.phantom.hu_table = self.phantom.hu_table.as_deref().map(abs);
        sim
    }

    fn path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    /// Checks every field that deserialisation cannot.
    pub fn validate(&self) -> Result<()> {
        if self.histories == 0 {
            return Err(field("histories", "0; expected at least 1"));
        }
        if self.physics.electrons.transport {
            if self.tally == TallyKind::Kerma {
                return Err(field(
                    "tally",
                    "\"kerma\" with electron transport: the absorbed dose is the \"analog\" tally",
                ));
            }
            self.physics
                .electrons
                .validate()
                .map_err(|(f, m)| field(&format!("physics.electrons.{f}"), m))?;
        }
        if self.batch_size == 0 || self.batch_size >= u64::from(u32::MAX) {
            return Err(field(
                "batch_size",
                format!("{}; expected 1 to {}", self.batch_size, u32::MAX - 1),
            ));
        }
        let p = &self.phantom;
        match (&p.ct_mha, p.dims, p.spacing_mm, &p.material) {
            (Some(_), None, None, None) => {}
            (Some(_), ..) => {
                return Err(field(
                    "phantom",
                    "either ct_mha or dims, spacing_mm and material, not both",
                ));
            }
            (None, Some(dims), Some(spacing), Some(material)) => {
                if dims.contains(&0) {
                    return Err(field(
                        "phantom.dims",
                        format!("{dims:?}; expected three positive numbers"),
                    ));
                }
                within_budget("phantom.dims", dims)?;
                if spacing.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
                    return Err(field(
                        "phantom.spacing_mm",
                        format!("{spacing:?}; expected three positive sizes"),
                    ));
                }
                Material::builtin(material)
                    .map_err(|e| field("phantom.material", e.to_string()))?;
            }
            (None, None, ..) => return Err(field("phantom.dims", "missing (or give ct_mha)")),
            (None, _, None, _) => return Err(field("phantom.spacing_mm", "missing")),
            (None, ..) => return Err(field("phantom.material", "missing")),
        }
        if let Some(d) = p.density
            && !(d.is_finite() && d > 0.0)
        {
            return Err(field("phantom.density", format!("{d}; expected > 0")));
        }
        for (i, ins) in p.insert.iter().enumerate() {
            Material::builtin(&ins.material)
                .map_err(|e| field(&format!("phantom.insert[{i}].material"), e.to_string()))?;
            insert_solid(ins, i)?;
        }
        self.spectrum()?;
        let s = &self.source;
        let direction = || -> Result<Vec3> {
            let d = s.direction.ok_or_else(|| {
                field(
                    "source.direction",
                    format!("missing: a {} beam needs a direction", s.kind),
                )
            })?;
            if d.iter().all(|x| *x == 0.0) || d.iter().any(|x| !x.is_finite()) {
                return Err(field(
                    "source.direction",
                    format!("{d:?}; expected a non-zero vector"),
                ));
            }
            Ok(Vec3::from(d))
        };
        let position = || -> Result<()> {
            match s.position_mm {
                Some(p) if p.iter().all(|x| x.is_finite()) => Ok(()),
                Some(p) => Err(field("source.position_mm", format!("{p:?}"))),
                None => Err(field(
                    "source.position_mm",
                    format!("missing: a {} source needs a position", s.kind),
                )),
            }
        };
        match s.kind {
            SourceKind::Point => position()?,
            SourceKind::Pencil => {
                position()?;
                direction()?;
            }
            SourceKind::Cone => {
                position()?;
                direction()?;
                match s.half_angle_deg {
                    Some(a) if a > 0.0 && a <= 180.0 => {}
                    other => {
                        return Err(field(
                            "source.half_angle_deg",
                            format!("{other:?}; expected 0 < angle <= 180 degrees"),
                        ));
                    }
                }
            }
            SourceKind::Parallel => {
                position()?;
                direction()?;
                match s.field_mm {
                    Some([w, h]) if w > 0.0 && h > 0.0 && w.is_finite() && h.is_finite() => {}
                    other => {
                        return Err(field(
                            "source.field_mm",
                            format!("{other:?}; expected two positive sizes"),
                        ));
                    }
                }
            }
            SourceKind::Seeds => {
                self.seed_model()?;
                if s.seeds.is_empty() {
                    return Err(field("source.seeds", "no seeds"));
                }
            }
        }
        if !(self.physics.photon_cutoff_ev.is_finite() && self.physics.photon_cutoff_ev >= 1e3) {
            return Err(field(
                "physics.photon_cutoff_ev",
                format!(
                    "{}; expected at least 1000 eV (the data start at 1 keV)",
                    self.physics.photon_cutoff_ev
                ),
            ));
        }
        for (name, c) in &self.physics.material_cutoffs_ev {
            let f = format!("physics.material_cutoffs_ev.{name}");
            Material::builtin(name).map_err(|e| field(&f, e.to_string()))?;
            if !(c.is_finite() && *c >= 1e3) {
                return Err(field(&f, format!("{c}; expected at least 1000 eV")));
            }
        }
        if let Some(a) = &self.absolute {
            self.check_absolute(a)?;
        }
        if let Some(sc) = &self.scoring {
            if sc.dims.contains(&0) {
                return Err(field(
                    "scoring.dims",
                    format!("{:?}; expected three positive numbers", sc.dims),
                ));
            }
            within_budget("scoring.dims", sc.dims)?;
            if sc.spacing_mm.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
                return Err(field(
                    "scoring.spacing_mm",
                    format!("{:?}; expected three positive sizes", sc.spacing_mm),
                ));
            }
            if sc.origin_mm.iter().any(|x| !x.is_finite()) {
                return Err(field("scoring.origin_mm", format!("{:?}", sc.origin_mm)));
            }
        }
        Ok(())
    }

    /// The phantom, physics and scoring grid of this file, ready to run (`threads` 0: one per
    /// core).
    pub fn transport(&self, threads: usize) -> Result<Transport> {
        let phantom = self.phantom()?;
        let direction = phantom.grid().direction();
        let t = Transport::new(phantom, self.run_options(threads))?;
        match &self.scoring {
            None => Ok(t),
            Some(sc) => {
                let grid = Grid::builder(sc.dims)
                    .spacing(sc.spacing_mm)
                    .origin(sc.origin_mm)
                    .direction(direction)
                    .build()
                    .map_err(|e| field("scoring", e.to_string()))?;
                t.with_scoring_grid(grid)
            }
        }
    }

    fn seed_model(&self) -> Result<SeedModel> {
        match self.source.model {
            Some(SeedModelName::Model6711) => SeedModel::model_6711(),
            None => Err(field("source.model", "missing; built in: 6711")),
        }
    }

    fn check_absolute(&self, a: &AbsoluteSpec) -> Result<()> {
        let positive = |name: &str, v: Option<f64>| -> Result<()> {
            match v {
                Some(x) if !(x.is_finite() && x > 0.0) => Err(field(
                    &format!("absolute.{name}"),
                    format!("{x}; expected a positive number"),
                )),
                _ => Ok(()),
            }
        };
        positive("air_kerma_strength_u", a.air_kerma_strength_u)?;
        positive("activity_bq", a.activity_bq)?;
        positive("photons_per_s", a.photons_per_s)?;
        positive("time_h", a.time_h)?;
        positive("time_s", a.time_s)?;
        let given = [a.air_kerma_strength_u, a.activity_bq, a.photons_per_s]
            .iter()
            .filter(|x| x.is_some())
            .count();
        if given != 1 {
            return Err(field(
                "absolute",
                "exactly one of air_kerma_strength_u, activity_bq and photons_per_s is expected",
            ));
        }
        if a.time_h.is_some() == a.time_s.is_some() {
            return Err(field(
                "absolute",
                "exactly one of time_h and time_s is expected",
            ));
        }
        if a.air_kerma_strength_u.is_some() && self.source.kind != SourceKind::Seeds {
            return Err(field(
                "absolute.air_kerma_strength_u",
                "only for seed sources",
            ));
        }
        if (a.activity_bq.is_some() || a.decay) && self.radionuclide().is_none() {
            return Err(field(
                "source.radionuclide",
                "missing: activity and decay need a radionuclide",
            ));
        }
        Ok(())
    }

    /// The radionuclide named by the source, if any.
    fn radionuclide(&self) -> Option<Radionuclide> {
        self.source
            .radionuclide
            .as_deref()
            .and_then(|n| Radionuclide::by_name(n).ok())
    }

    fn spectrum(&self) -> Result<Spectrum> {
        let s = &self.source;
        if s.particle == Some(Particle::Beta) {
            let name = s.radionuclide.as_deref().ok_or_else(|| {
                field("source.radionuclide", "a beta source needs a radionuclide")
            })?;
            if s.energy_kev.is_some() || s.lines_kev.is_some() {
                return Err(field(
                    "source",
                    "a beta source takes its energies from the radionuclide only",
                ));
            }
            return Radionuclide::by_name(name)
                .and_then(|r| r.beta_spectrum())
                .map_err(|e| field("source.radionuclide", e.to_string()));
        }
        match (&s.energy_kev, &s.lines_kev, &s.radionuclide) {
            (Some(e), None, None) if e.is_finite() && *e >= 1.0 && *e <= 1e5 => {
                Ok(Spectrum::Mono(e * 1e3))
            }
            (Some(e), None, None) => Err(field(
                "source.energy_kev",
                format!("{e}; expected 1 to 100000 keV"),
            )),
            (None, Some(lines), None) => {
                if let Some((i, [e, _])) = lines
                    .iter()
                    .enumerate()
                    .find(|(_, [e, _])| !(e.is_finite() && *e >= 1.0 && *e <= 1e5))
                {
                    return Err(field(
                        &format!("source.lines_kev[{i}]"),
                        format!("{e} keV; expected 1 to 100000 keV"),
                    ));
                }
                Spectrum::lines(&lines.iter().map(|[e, w]| (e * 1e3, *w)).collect::<Vec<_>>())
                    .map_err(|e| field("source.lines_kev", e.to_string()))
            }
            (None, None, Some(n)) => match n.as_str() {
                // The brachytherapy dosimetry standard for I-125.
                "I-125" | "I125" => Spectrum::lines(&I125_LINES),
                other => Radionuclide::by_name(other)
                    .and_then(|r| r.spectrum(0.0))
                    .map_err(|e| field("source.radionuclide", e.to_string())),
            },
            _ => Err(field(
                "source",
                "exactly one of energy_kev, lines_kev and radionuclide is expected",
            )),
        }
    }

    /// The phantom this file describes.
    pub fn phantom(&self) -> Result<Phantom> {
        let p = &self.phantom;
        let (grid, mut materials, mut mat, mut rho) = if let Some(ct) = &p.ct_mha {
            let path = self.path(ct);
            let header = metaimage::read_header(&path)
                .map_err(|e| field("phantom.ct_mha", format!("{}: {e}", path.display())))?;
            within_budget("phantom.ct_mha", header.grid.dims())?;
            let volume: hope_core::Volume<f32> = metaimage::read(&path)
                .map_err(|e| field("phantom.ct_mha", format!("{}: {e}", path.display())))?;
            let table = match &p.hu_table {
                Some(t) => HuTable::from_file(&self.path(t))?,
                None => HuTable::default_table(),
            };
            let converter = table.prepare()?;
            let ph = converter.phantom(&volume)?;
            let (grid, materials, mat, rho) = ph.into_parts();
            (grid, materials, mat, rho)
        } else {
            let (Some(dims), Some(spacing), Some(name)) = (p.dims, p.spacing_mm, &p.material)
            else {
                return Err(field("phantom", "incomplete box phantom"));
            };
            let grid = Grid::builder(dims)
                .spacing(spacing)
                .origin(p.origin_mm)
                .build()
                .map_err(|e| field("phantom", e.to_string()))?;
            let m = Material::builtin(name)?;
            let density = p.density.unwrap_or(m.density()) as f32;
            let n = grid.voxel_count();
            (grid, vec![m], vec![0u16; n], vec![density; n])
        };
        for (i, ins) in p.insert.iter().enumerate() {
            let m = Material::builtin(&ins.material)?;
            let density = ins.density.unwrap_or(m.density()) as f32;
            let index = materials.iter().position(|x| x == &m).unwrap_or_else(|| {
                materials.push(m);
                materials.len() - 1
            });
            let index = u16::try_from(index)
                .map_err(|_| field("phantom.insert", "more than 65535 materials"))?;
            insert_solid(ins, i)?.voxelise(&grid, &mut mat, &mut rho, index, density);
        }
        Phantom::new(grid, materials, mat, rho)
    }

    /// The source this file describes (`physics`: the run's options, for seeds' capsules).
    pub fn source(&self) -> Result<Source> {
        let s = &self.source;
        let spectrum = self.spectrum()?;
        let positron = match s.particle.unwrap_or_default() {
            Particle::Photon => None,
            Particle::Electron | Particle::Beta => Some(false),
            Particle::Positron => Some(true),
        };
        if let Some(positron) = positron {
            if !self.physics.electrons.transport {
                return Err(field(
                    "source.particle",
                    "charged particles need [physics.electrons] transport = true",
                ));
            }
            if s.kind == SourceKind::Seeds {
                return Err(field("source.particle", "seeds emit photons only"));
            }
            let inner = self.source_with(spectrum)?;
            return Ok(Source::Charged {
                positron,
                source: Box::new(inner),
            });
        }
        self.source_with(spectrum)
    }

    /// The source's geometry with `spectrum`.
    fn source_with(&self, spectrum: Spectrum) -> Result<Source> {
        let s = &self.source;
        let position = Vec3::from(s.position_mm.unwrap_or([0.0; 3]));
        let direction = Vec3::from(s.direction.unwrap_or([0.0, 0.0, 1.0]));
        Ok(match s.kind {
            SourceKind::Pencil => Source::Pencil {
                position,
                direction,
                spectrum,
            },
            SourceKind::Cone => Source::Cone {
                position,
                direction,
                half_angle_deg: s.half_angle_deg.unwrap_or(0.0),
                spectrum,
            },
            SourceKind::Parallel => Source::Parallel {
                centre: position,
                direction,
                field_mm: s.field_mm.unwrap_or([0.0; 2]),
                spectrum,
            },
            SourceKind::Seeds => Source::Seeds(Box::new(
                SeedSource::new(
                    self.seed_model()?,
                    spectrum,
                    s.seeds.clone(),
                    self.run_options(1).physics,
                )
                .map_err(|e| field("source.seeds", e.to_string()))?,
            )),
            SourceKind::Point => Source::Point { position, spectrum },
        })
    }

    /// Run options (`threads` 0: one per core).
    pub fn run_options(&self, threads: usize) -> RunOptions {
        RunOptions {
            physics: PhysicsOptions {
                fluorescence: self.physics.fluorescence,
                coherent: self.physics.coherent,
                photon_cutoff_ev: self.physics.photon_cutoff_ev,
                material_cutoffs_ev: self.physics.material_cutoffs_ev.clone(),
                electrons: self.physics.electrons.clone(),
            },
            tracking: self.physics.tracking,
            batch_size: self.batch_size,
            threads,
        }
    }

    /// The number of source histories (photons emitted) that the `absolute` section stands for,
    /// i.e. the factor from Gy per history to Gy; None without the section. For seeds, the
    /// air-kerma strength per history is computed first (TG-43: in vacuum, 5 keV cutoff, the
    /// seed's analytic geometry, 2 million histories).
    pub fn histories_represented(&self) -> Result<Option<f64>> {
        let Some(a) = &self.absolute else {
            return Ok(None);
        };
        self.check_absolute(a)?;
        let mut time_s = a.time_s.unwrap_or_else(|| a.time_h.unwrap_or(0.0) * 3600.0);
        if a.decay {
            let nuclide = self.radionuclide().map_or(
                // I-125 by its TG-43U1 name.
                Radionuclide::by_name("I-125"),
                Ok,
            )?;
            let tau = nuclide.half_life_s() / std::f64::consts::LN_2;
            time_s = tau * (1.0 - (-time_s / tau).exp());
        }
        let per_s = if let Some(sk) = a.air_kerma_strength_u {
            let model = self.seed_model()?;
            let vacuum = tg43(
                &model,
                &self.spectrum()?,
                Surroundings::Vacuum,
                &[],
                2_000_000,
                self.seed,
                5e3,
            )?;
            let total_weight: f64 = self.source.seeds.iter().map(|s| s.weight).sum();
            // 1 U = 1 uGy m^2 / h = 1e-2 Gy cm^2 / 3600 s.
            sk * total_weight * 1e-2 / 3600.0 / vacuum.air_kerma_strength
        } else if let Some(bq) = a.activity_bq {
            let nuclide = match self.source.radionuclide.as_deref() {
                Some("I-125" | "I125") => {
                    // TG-43U1 I-125 photons per decay (the spectrum used).
                    return Ok(Some(
                        bq * I125_LINES.iter().map(|l| l.1).sum::<f64>() * time_s,
                    ));
                }
                _ => self
                    .radionuclide()
                    .ok_or_else(|| field("source.radionuclide", "missing"))?,
            };
            bq * nuclide.photons_per_decay()
        } else {
            a.photons_per_s.unwrap_or(0.0)
        };
        let n = per_s * time_s;
        if !(n.is_finite() && n > 0.0) {
            return Err(field(
                "absolute",
                format!(
                    "{per_s} photons/s for {time_s} s give {n} photons: expected a positive, \
                     finite number (the values multiply beyond what a dose can be)"
                ),
            ));
        }
        Ok(Some(n))
    }
}

/// The solid of insert `i`; errors name the field.
fn insert_solid(ins: &InsertSpec, i: usize) -> Result<Solid> {
    let f = |name: &str| format!("phantom.insert[{i}].{name}");
    let finite3 = |name: &str, v: Option<[f64; 3]>| -> Result<Vec3> {
        match v {
            Some(x) if x.iter().all(|c| c.is_finite()) => Ok(Vec3::from(x)),
            Some(x) => Err(field(&f(name), format!("{x:?}"))),
            None => Err(field(&f(name), "missing")),
        }
    };
    let positive = |name: &str, v: Option<f64>| -> Result<f64> {
        match v {
            Some(x) if x.is_finite() && x > 0.0 => Ok(x),
            Some(x) => Err(field(&f(name), format!("{x}; expected a positive size"))),
            None => Err(field(&f(name), "missing")),
        }
    };
    let unit = |name: &str, v: Option<[f64; 3]>| -> Result<Vec3> {
        let axis = finite3(name, v)?;
        let n = axis.norm();
        if n <= 0.0 {
            return Err(field(&f(name), "expected a non-zero vector"));
        }
        Ok(axis * (1.0 / n))
    };
    match ins.shape.unwrap_or_default() {
        Shape::Box => {
            let (min, max) = (
                finite3("min_mm", ins.min_mm)?,
                finite3("max_mm", ins.max_mm)?,
            );
            if (0..3).any(|a| min[a] > max[a]) {
                return Err(field(
                    &format!("phantom.insert[{i}]"),
                    "min_mm must not exceed max_mm",
                ));
            }
            Ok(Solid::Box { min, max })
        }
        Shape::Sphere => Ok(Solid::Sphere {
            centre: finite3("centre_mm", ins.centre_mm)?,
            radius: positive("radius_mm", ins.radius_mm)?,
        }),
        Shape::Cylinder => {
            let axis = finite3("axis", ins.axis)?;
            let n = axis.norm();
            if n <= 0.0 {
                return Err(field(&f("axis"), "expected a non-zero vector"));
            }
            Ok(Solid::Cylinder {
                centre: finite3("centre_mm", ins.centre_mm)?,
                axis: axis * (1.0 / n),
                radius: positive("radius_mm", ins.radius_mm)?,
                half_length: positive("length_mm", ins.length_mm)? / 2.0,
            })
        }
        Shape::Tube => {
            let axis = unit("axis", ins.axis)?;
            let inner = positive("inner_radius_mm", ins.inner_radius_mm)?;
            let outer = positive("radius_mm", ins.radius_mm)?;
            if inner >= outer {
                return Err(field(
                    &f("inner_radius_mm"),
                    format!("{inner}; expected less than radius_mm ({outer})"),
                ));
            }
            Ok(Solid::Tube {
                centre: finite3("centre_mm", ins.centre_mm)?,
                axis,
                inner,
                outer,
                half_length: positive("length_mm", ins.length_mm)? / 2.0,
            })
        }
        Shape::Shell => {
            let inner = positive("inner_radius_mm", ins.inner_radius_mm)?;
            let outer = positive("radius_mm", ins.radius_mm)?;
            if inner >= outer {
                return Err(field(
                    &f("inner_radius_mm"),
                    format!("{inner}; expected less than radius_mm ({outer})"),
                ));
            }
            let half = ins.half_angle_deg.unwrap_or(180.0);
            if !(half.is_finite() && half > 0.0 && half <= 180.0) {
                return Err(field(
                    &f("half_angle_deg"),
                    format!("{half}; expected more than 0 and at most 180 degrees"),
                ));
            }
            let axis = match ins.axis {
                Some(_) => unit("axis", ins.axis)?,
                None if half >= 180.0 => Vec3::new(0.0, 0.0, 1.0),
                None => return Err(field(&f("axis"), "missing: a cap needs its axis")),
            };
            Ok(Solid::Shell {
                centre: finite3("centre_mm", ins.centre_mm)?,
                axis,
                inner,
                outer,
                cos_half_angle: half.to_radians().cos(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solids_are_voxelised_with_their_volume() {
        let grid = Grid::builder([40, 40, 40])
            .spacing([0.5, 0.5, 0.5])
            .origin([-9.75, -9.75, -9.75])
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let count = |solid: Solid| {
            let n = grid.voxel_count();
            let (mut mat, mut rho) = (vec![0u16; n], vec![1.0f32; n]);
            solid.voxelise(&grid, &mut mat, &mut rho, 1, 2.0);
            assert!(mat.iter().zip(&rho).all(|(m, r)| (*m == 1) == (*r == 2.0)));
            mat.iter().filter(|m| **m == 1).count() as f64 * 0.125
        };
        let sphere = count(Solid::Sphere {
            centre: Vec3::new(0.3, -0.2, 0.1),
            radius: 6.0,
        });
        let want = 4.0 / 3.0 * std::f64::consts::PI * 216.0;
        assert!((sphere / want - 1.0).abs() < 0.02, "{sphere} vs {want}");
        let axis = Vec3::new(1.0, 1.0, 0.0) * (1.0 / 2f64.sqrt());
        let cylinder = count(Solid::Cylinder {
            centre: Vec3::new(0.0, 0.0, 0.0),
            axis,
            radius: 3.0,
            half_length: 6.0,
        });
        let want = std::f64::consts::PI * 9.0 * 12.0;
        assert!((cylinder / want - 1.0).abs() < 0.03, "{cylinder} vs {want}");
        assert!(
            Solid::Cylinder {
                centre: Vec3::new(0.0, 0.0, 0.0),
                axis,
                radius: 3.0,
                half_length: 6.0,
            }
            .contains(axis * 5.9)
        );
        let cube = count(Solid::Box {
            min: Vec3::new(-2.0, -2.0, -2.0),
            max: Vec3::new(2.0, 2.0, 2.0),
        });
        assert!((cube - 64.0).abs() < 1e-9, "{cube}");
        // A 1 mm shell of radii 7 and 8 mm, a cap of 60 degrees: 2 pi (1 - cos 60) (R^3 - r^3) / 3.
        let shell = Solid::Shell {
            centre: Vec3::new(0.2, 0.1, -0.3),
            axis: Vec3::new(0.0, 0.6, 0.8),
            inner: 7.0,
            outer: 8.0,
            cos_half_angle: 0.5,
        };
        let want = 2.0 * std::f64::consts::PI * 0.5 * (512.0 - 343.0) / 3.0;
        let got = count(shell);
        assert!((got / want - 1.0).abs() < 0.05, "{got} vs {want}");
        assert!(shell.contains(Vec3::new(0.2, 0.1 + 0.6 * 7.5, -0.3 + 0.8 * 7.5)));
        assert!(!shell.contains(Vec3::new(0.2, 0.1 - 0.6 * 7.5, -0.3 - 0.8 * 7.5)));
        let tube = Solid::Tube {
            centre: Vec3::new(0.0, 0.0, 0.0),
            axis,
            inner: 2.0,
            outer: 4.0,
            half_length: 3.0,
        };
        let want = std::f64::consts::PI * (16.0 - 4.0) * 6.0;
        let got = count(tube);
        assert!((got / want - 1.0).abs() < 0.05, "{got} vs {want}");
        assert!(!tube.contains(Vec3::new(0.0, 0.0, 0.0)));
    }

    #[test]
    fn a_simulation_comes_back_from_json_with_the_same_bits() {
        // Grid runs hand the simulation to workers as JSON: computed coordinates must survive
        // to the last bit, or a worker transports slightly different seeds (serde_json's
        // default float parsing is not correctly rounded; the workspace turns on
        // float_roundtrip).
        let text = "histories = 10\n[phantom]\ndims = [4, 4, 4]\nspacing_mm = [1.0, 1.0, 1.0]\nmaterial = 'water'\n[source]\nkind = 'seeds'\nmodel = '6711'\nradionuclide = 'I-125'\nseeds = []\n";
        let mut sim: Simulation = toml::from_str(text).unwrap_or_else(|e| panic!("{e}"));
        for n in 0..200 {
            let t = f64::from(n) * 0.0137;
            sim.source.seeds.push(SeedPlacement {
                position_mm: [13.0 * t.cos(), -66.0 + 13.0 * t.sin() / 3.0, 1e-7 * t.exp()],
                axis: [t.sin(), t.cos() * 0.1, 2f64.sqrt() / 7.0],
                weight: 1.0 / (1.0 + t),
            });
        }
        let json = serde_json::to_string(&sim).unwrap_or_else(|e| panic!("{e}"));
        let back: Simulation = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, sim);
    }

    #[test]
    fn shells_and_tubes_are_read_and_checked() {
        let ins =
            |text: &str| -> InsertSpec { toml::from_str(text).unwrap_or_else(|e| panic!("{e}")) };
        let ok = ins(
            "material = 'modulay'\nshape = 'shell'\ncentre_mm = [0, 0, 0]\ninner_radius_mm = 13.0\nradius_mm = 14.0\naxis = [0, 1, 0]\nhalf_angle_deg = 35",
        );
        assert!(matches!(insert_solid(&ok, 0), Ok(Solid::Shell { .. })));
        let whole = ins(
            "material = 'water'\nshape = 'shell'\ncentre_mm = [0, 0, 0]\ninner_radius_mm = 1.0\nradius_mm = 2.0",
        );
        assert!(insert_solid(&whole, 0).is_ok());
        for (text, field_name) in [
            (
                "material = 'water'\nshape = 'shell'\ncentre_mm = [0, 0, 0]\ninner_radius_mm = 3.0\nradius_mm = 2.0",
                "inner_radius_mm",
            ),
            (
                "material = 'water'\nshape = 'shell'\ncentre_mm = [0, 0, 0]\ninner_radius_mm = 1.0\nradius_mm = 2.0\nhalf_angle_deg = 30",
                "axis",
            ),
            (
                "material = 'water'\nshape = 'shell'\ncentre_mm = [0, 0, 0]\ninner_radius_mm = 1.0\nradius_mm = 2.0\naxis = [0, 0, 1]\nhalf_angle_deg = 200",
                "half_angle_deg",
            ),
            (
                "material = 'water'\nshape = 'tube'\ncentre_mm = [0, 0, 0]\ninner_radius_mm = 1.0\nradius_mm = 2.0\naxis = [0, 0, 0]\nlength_mm = 3",
                "axis",
            ),
        ] {
            let e = insert_solid(&ins(text), 2)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                e.contains(&format!("phantom.insert[2].{field_name}")),
                "{text}: {e}"
            );
        }
        // An unknown shape is not a value of the type: refused when read, listing the shapes.
        let e = toml::from_str::<InsertSpec>("material = 'water'\nshape = 'cone'")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown variant `cone`, expected one of `box`, `sphere`"),
            "{e}"
        );
    }

    /// A simulation file's text read and checked as `from_file` does.
    fn read(text: &str) -> Result<Simulation> {
        let dir = tempfile::tempdir().map_err(|e| field("tmp", e.to_string()))?;
        let path = dir.path().join("sim.toml");
        std::fs::write(&path, text).map_err(|e| field("tmp", e.to_string()))?;
        Simulation::from_file(&path)
    }

    const BOX: &str = "histories = 10\n[phantom]\ndims = [4, 4, 4]\nspacing_mm = [1.0, 1.0, 1.0]\nmaterial = 'water'\n";

    /// Issue 27 item 2: `lines_kev` of 1e12 keV was accepted while `energy_kev` is capped; an
    /// `absolute` section could give "inf Gy"; seed weights summing to infinity were accepted.
    #[test]
    fn item_02_out_of_range_energies_and_infinite_normalisations_are_refused() {
        let e = read(&format!("{BOX}[source]\nkind = 'point'\nposition_mm = [0.0, 0.0, 0.0]\nlines_kev = [[30.0, 1.0], [1e12, 0.5]]\n"))
            .and_then(|s| s.source())
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("source.lines_kev[1]") && e.contains("1000000000000 keV"),
            "{e}"
        );
        let e = read(&format!("{BOX}[source]\nkind = 'point'\nposition_mm = [0.0, 0.0, 0.0]\nlines_kev = [[30.0, 1e308], [40.0, 1e308]]\n"))
            .and_then(|s| s.source())
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains("inf"), "{e}");
        let e = read(&format!(
            "{BOX}[source]\nkind = 'point'\nposition_mm = [0.0, 0.0, 0.0]\nenergy_kev = 300.0\n[absolute]\nphotons_per_s = 1e300\ntime_h = 1e300\n"
        ))
        .and_then(|s| s.histories_represented())
        .unwrap_err()
        .to_string();
        assert!(e.contains("absolute") && e.contains("inf photons"), "{e}");
        let seeds = "[source]\nkind = 'seeds'\nmodel = '6711'\nradionuclide = 'I-125'\n\
                     [[source.seeds]]\nposition_mm = [0.0, 0.0, 0.0]\naxis = [0.0, 0.0, 1.0]\nweight = 1e308\n\
                     [[source.seeds]]\nposition_mm = [1.0, 0.0, 0.0]\naxis = [0.0, 0.0, 1.0]\nweight = 1e308\n";
        let e = read(&format!("{BOX}{seeds}"))
            .and_then(|s| s.source())
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains("weights sum to inf"), "{e}");
    }

    /// Issue 27 item 9: phantom and scoring `dims` had no voxel budget, and the simulation file
    /// itself was read without bounds.
    #[test]
    fn item_09_grids_beyond_the_voxel_budget_and_unbounded_files_are_refused() {
        let big = "histories = 10\n[phantom]\ndims = [100000, 100000, 100000]\nspacing_mm = [1.0, 1.0, 1.0]\nmaterial = 'water'\n[source]\nkind = 'point'\nposition_mm = [0.0, 0.0, 0.0]\nenergy_kev = 30.0\n";
        let e = read(big).unwrap_err().to_string();
        assert!(
            e.contains("phantom.dims") && e.contains("more than the 67108864"),
            "{e}"
        );
        let scoring = format!(
            "{BOX}[source]\nkind = 'point'\nposition_mm = [0.0, 0.0, 0.0]\nenergy_kev = 30.0\n[scoring]\ndims = [4096, 4096, 4096]\nspacing_mm = [1.0, 1.0, 1.0]\norigin_mm = [0.0, 0.0, 0.0]\n"
        );
        let e = read(&scoring).unwrap_err().to_string();
        assert!(e.contains("scoring.dims"), "{e}");
        #[cfg(unix)]
        {
            let e = Simulation::from_file(Path::new("/dev/zero"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("not a regular file"), "{e}");
            let e = HuTable::from_file(Path::new("/dev/zero"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("not a regular file"), "{e}");
        }
        // A CT beyond the budget is refused from its header, before its data is read.
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            dir.path().join("ct.mhd"),
            "NDims = 3\nDimSize = 1024 1024 1024\nElementType = MET_FLOAT\nElementDataFile = /dev/zero\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let text = "histories = 10\n[phantom]\nct_mha = 'ct.mhd'\n[source]\nkind = 'point'\nposition_mm = [0.0, 0.0, 0.0]\nenergy_kev = 30.0\n";
        std::fs::write(dir.path().join("sim.toml"), text).unwrap_or_else(|e| panic!("{e}"));
        let e = Simulation::from_file(&dir.path().join("sim.toml"))
            .and_then(|s| s.phantom())
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("phantom.ct_mha") && e.contains("more than the"),
            "{e}"
        );
    }

    /// Issue 20: an unknown source kind became a point source when a simulation was not read
    /// through `from_file` (a grid run's `simulation.json`, a simulation built in code and
    /// deserialised). Kinds are a type now: JSON with an unknown kind is refused too.
    #[test]
    fn an_unknown_source_kind_is_never_a_point_source() {
        let text = "histories = 10\n[phantom]\ndims = [4, 4, 4]\nspacing_mm = [1.0, 1.0, 1.0]\nmaterial = 'water'\n[source]\nkind = 'point'\nposition_mm = [0.0, 0.0, 0.0]\nenergy_kev = 30.0\n";
        let sim: Simulation = toml::from_str(text).unwrap_or_else(|e| panic!("{e}"));
        let json = serde_json::to_string(&sim).unwrap_or_else(|e| panic!("{e}"));
        assert!(json.contains(r#""kind":"point""#), "{json}");
        let e = serde_json::from_str::<Simulation>(
            &json.replace(r#""kind":"point""#, r#""kind":"fan""#),
        )
        .map(|_| ())
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown variant `fan`"), "{e}");
    }
}
