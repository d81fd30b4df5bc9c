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
//! # (hope_mc::material::hounsfield; the default table if absent)
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
//! transport = true                  # (hope_mc::physics::electron::ElectronOptions: cutoff_ev = 10000,
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
//! Each kind takes its own fields: a field that the kind does not take (a `direction` on a point
//! source, a `density` on a CT phantom, `max_mm` on a sphere) is an error, as is an unknown
//! `kind`, `shape`, `particle` or `model`, naming the field and the allowed values. The file
//! becomes typed values ([`PhantomSpec`], [`InsertShape`], [`SourceSpec`], [`Emission`]);
//! [`Simulation::builder`] makes the same values in code.
//!
//! Limits, each an error naming the field: a phantom, CT or scoring grid of at most
//! [`MAX_VOXELS`] voxels (2^26); energies (`energy_kev`, each line of `lines_kev`) from 1 to
//! 100,000 keV; finite line intensities, seed weights and `absolute` values whose product is a
//! finite number of histories; files (this one, HU tables) of at most [`MAX_FILE_BYTES`], read
//! only if they are regular files.

use std::path::{Path, PathBuf};

use hope_core::{Grid, Vec3, metaimage};
use serde::{Deserialize, Serialize};

use crate::geometry::Phantom;
use crate::material::hounsfield::HuTable;
use crate::physics::PhysicsOptions;
use crate::source::brachy::{I125_LINES, SeedModel, Surroundings, tg43};
use crate::source::{Radionuclide, SeedSource, Source, Spectrum};
use crate::transport::{RunOptions, Transport};
use crate::{Error, Material, Result};

mod prepare;
mod raw;
mod solid;
mod spec;

pub use prepare::{Dose, DoseUnit, Prepared};

use spec::{default_batch, default_seed, within_budget};

pub use solid::Solid;
pub use spec::{
    AbsoluteSpec, Emission, Energies, InsertShape, InsertSpec, Particle, PhantomBody, PhantomSpec,
    PhysicsSpec, ScoringSpec, SeedModelName, Shape, SourceKind, SourceSpec,
};

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

/// Builds a [`Simulation`] in code (made by [`Simulation::builder`]); the file's defaults
/// for what is not set.
#[derive(Debug, Clone)]
#[must_use]
pub struct SimulationBuilder {
    sim: Simulation,
}

impl SimulationBuilder {
    /// Number of histories (source particles); required.
    pub fn histories(mut self, n: u64) -> Self {
        self.sim.histories = n;
        self
    }

    /// Random seed (default 1).
    pub fn seed(mut self, seed: u64) -> Self {
        self.sim.seed = seed;
        self
    }

    /// Histories per batch (default 250,000).
    pub fn batch_size(mut self, n: u64) -> Self {
        self.sim.batch_size = n;
        self
    }

    /// The estimator written out (default kerma).
    pub fn tally(mut self, tally: TallyKind) -> Self {
        self.sim.tally = tally;
        self
    }

    /// Physics and tracking (default: the file's `[physics]` defaults).
    pub fn physics(mut self, physics: PhysicsSpec) -> Self {
        self.sim.physics = physics;
        self
    }

    /// What turns dose per history into absolute dose.
    pub fn absolute(mut self, absolute: AbsoluteSpec) -> Self {
        self.sim.absolute = Some(absolute);
        self
    }

    /// A scoring grid apart from the phantom's.
    pub fn scoring(mut self, scoring: ScoringSpec) -> Self {
        self.sim.scoring = Some(scoring);
        self
    }

    /// The directory relative paths (a CT, an HU table) are read from.
    pub fn base_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.sim.base_dir = dir.into();
        self
    }

    /// The simulation, checked as [`Simulation::from_file`] checks a file.
    pub fn build(self) -> Result<Simulation> {
        self.sim.validate()?;
        Ok(self.sim)
    }
}

fn field(name: &str, message: impl Into<String>) -> Error {
    Error::Simulation {
        field: name.to_string(),
        message: message.into(),
        source: None,
    }
}

/// `name` refused by another part of the library (`message`: what was expected).
fn refused(
    name: &str,
    message: &str,
    source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> Error {
    Error::Simulation {
        field: name.to_string(),
        message: message.to_string(),
        source: Some(source.into()),
    }
}

/// The most voxels a phantom or scoring grid may have (2^26, a 512 x 512 x 256 CT): transport
/// keeps about 70 bytes per voxel and, per worker thread, about 100 more for its sums, so this
/// bounds a run at about 7 GB per thread. Larger CTs are resampled first, or scored on a
/// `scoring` grid.
pub const MAX_VOXELS: usize = 1 << 26;

pub use crate::files::MAX_FILE_BYTES;

impl Simulation {
    /// A simulation of `phantom` and `source`, built in code: set the number of histories and
    /// whatever else differs from the file's defaults, then [`SimulationBuilder::build`] checks
    /// it as [`Simulation::from_file`] checks a file.
    ///
    /// ```
    /// use hope_mc::simulation::{Emission, Energies, PhantomSpec, Simulation, SourceSpec};
    ///
    /// let sim = Simulation::builder(
    ///     PhantomSpec::boxed([50, 50, 50], [2.0; 3], [-49.0; 3], "water"),
    ///     SourceSpec::Point {
    ///         position_mm: [0.0; 3],
    ///         emission: Emission::Photons(Energies::Mono { energy_kev: 662.0 }),
    ///     },
    /// )
    /// .histories(100_000)
    /// .seed(7)
    /// .build()?;
    /// assert_eq!(sim.histories, 100_000);
    /// # Ok::<(), hope_mc::Error>(())
    /// ```
    pub fn builder(phantom: PhantomSpec, source: SourceSpec) -> SimulationBuilder {
        SimulationBuilder {
            sim: Simulation {
                histories: 0,
                seed: default_seed(),
                batch_size: default_batch(),
                tally: TallyKind::default(),
                phantom,
                source,
                physics: PhysicsSpec::default(),
                absolute: None,
                scoring: None,
                base_dir: PathBuf::new(),
            },
        }
    }

    /// Reads a simulation file (TOML, or JSON by extension); errors name the file and, in their
    /// source, the line and the field.
    pub fn from_file(path: &Path) -> Result<Self> {
        let mut sim: Simulation = crate::files::read_toml_or_json(path, "simulation file")?;
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
        if let PhantomBody::Ct { ct_mha, hu_table } = &mut sim.phantom.body {
            *ct_mha = abs(ct_mha);
            *hu_table = hu_table.as_deref().map(abs);
        }
        sim
    }

    fn path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    /// Checks every value, and what one section asks of another (a file's structure, which
    /// fields a kind of phantom, insert or source takes, is checked when it is read).
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
        self.phantom.check()?;
        self.source.check()?;
        if self.source.emission().particle() != Particle::Photon
            && !self.physics.electrons.transport
        {
            return Err(field(
                "source.particle",
                "charged particles need [physics.electrons] transport = true",
            ));
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
            Material::builtin(name).map_err(|e| refused(&f, "not a built-in material", e))?;
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
                    .map_err(|e| refused("scoring", "expected a valid grid", e))?;
                t.with_scoring_grid(grid)
            }
        }
    }

    fn seed_model(&self) -> Result<SeedModel> {
        match &self.source {
            SourceSpec::Seeds {
                model: SeedModelName::Model6711,
                ..
            } => SeedModel::model_6711(),
            _ => Err(field("source.model", "only seed sources have a seed model")),
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
        if a.air_kerma_strength_u.is_some() && self.source.kind() != SourceKind::Seeds {
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
            .radionuclide_name()
            .and_then(|n| Radionuclide::by_name(n).ok())
    }

    /// The phantom this file describes.
    pub fn phantom(&self) -> Result<Phantom> {
        let p = &self.phantom;
        let (grid, mut materials, mut mat, mut rho) = match &p.body {
            PhantomBody::Ct { ct_mha, hu_table } => {
                let path = self.path(ct_mha);
                let header = metaimage::read_header(&path).map_err(|e| Error::Read {
                    path: path.clone(),
                    source: e.into(),
                })?;
                within_budget("phantom.ct_mha", header.grid.dims())?;
                let volume: hope_core::Volume<f32> =
                    metaimage::read(&path).map_err(|e| Error::Read {
                        path: path.clone(),
                        source: e.into(),
                    })?;
                let table = match hu_table {
                    Some(t) => HuTable::from_file(&self.path(t))?,
                    None => HuTable::default_table(),
                };
                let converter = table.prepare()?;
                let ph = converter.phantom(&volume)?;
                ph.into_parts()
            }
            PhantomBody::Box {
                dims,
                spacing_mm,
                origin_mm,
                material,
                density,
            } => {
                let grid = Grid::builder(*dims)
                    .spacing(*spacing_mm)
                    .origin(*origin_mm)
                    .build()
                    .map_err(|e| refused("phantom", "expected a valid grid", e))?;
                let m = Material::builtin(material)
                    .map_err(|e| refused("phantom.material", "not a built-in material", e))?;
                let density = density.unwrap_or(m.density()) as f32;
                let n = grid.voxel_count();
                (grid, vec![m], vec![0u16; n], vec![density; n])
            }
        };
        for (i, ins) in p.insert.iter().enumerate() {
            let solid = ins.check(Some(i))?;
            let m = Material::builtin(&ins.material).map_err(|e| {
                refused(
                    &format!("phantom.insert[{i}].material"),
                    "not a built-in material",
                    e,
                )
            })?;
            let density = ins.density.unwrap_or(m.density()) as f32;
            let index = materials.iter().position(|x| x == &m).unwrap_or_else(|| {
                materials.push(m);
                materials.len() - 1
            });
            let index = u16::try_from(index)
                .map_err(|_| field("phantom.insert", "more than 65535 materials"))?;
            solid.voxelise(&grid, &mut mat, &mut rho, index, density);
        }
        Phantom::new(grid, materials, mat, rho)
    }

    /// The source this file describes.
    pub fn source(&self) -> Result<Source> {
        self.source.check()?;
        let spectrum = self.source.spectrum()?;
        let positron = match self.source.emission() {
            Emission::Photons(_) => None,
            Emission::Electrons(_) | Emission::Beta { .. } => Some(false),
            Emission::Positrons(_) => Some(true),
        };
        if let Some(positron) = positron {
            if !self.physics.electrons.transport {
                return Err(field(
                    "source.particle",
                    "charged particles need [physics.electrons] transport = true",
                ));
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
        Ok(match &self.source {
            SourceSpec::Point { position_mm, .. } => Source::Point {
                position: Vec3::from(*position_mm),
                spectrum,
            },
            SourceSpec::Pencil {
                position_mm,
                direction,
                ..
            } => Source::Pencil {
                position: Vec3::from(*position_mm),
                direction: Vec3::from(*direction),
                spectrum,
            },
            SourceSpec::Cone {
                position_mm,
                direction,
                half_angle_deg,
                ..
            } => Source::Cone {
                position: Vec3::from(*position_mm),
                direction: Vec3::from(*direction),
                half_angle_deg: *half_angle_deg,
                spectrum,
            },
            SourceSpec::Parallel {
                position_mm,
                direction,
                field_mm,
                ..
            } => Source::Parallel {
                centre: Vec3::from(*position_mm),
                direction: Vec3::from(*direction),
                field_mm: *field_mm,
                spectrum,
            },
            SourceSpec::Seeds { seeds, .. } => Source::Seeds(Box::new(
                SeedSource::new(
                    self.seed_model()?,
                    spectrum,
                    seeds.clone(),
                    self.run_options(1).physics,
                )
                .map_err(|e| refused("source.seeds", "expected usable seeds", e))?,
            )),
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
                &self.source.spectrum()?,
                Surroundings::Vacuum,
                &[],
                2_000_000,
                self.seed,
                5e3,
            )?;
            let total_weight: f64 = self.source.seeds().iter().map(|s| s.weight).sum();
            // 1 U = 1 uGy m^2 / h = 1e-2 Gy cm^2 / 3600 s.
            sk * total_weight * 1e-2 / 3600.0 / vacuum.air_kerma_strength
        } else if let Some(bq) = a.activity_bq {
            let nuclide = match self.source.radionuclide_name() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SeedPlacement;

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
        let SourceSpec::Seeds { seeds, .. } = &mut sim.source else {
            panic!("a seed source");
        };
        for n in 0..200 {
            let t = f64::from(n) * 0.0137;
            seeds.push(SeedPlacement {
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
        assert!(matches!(ok.check(Some(0)), Ok(Solid::Shell { .. })));
        let whole = ins(
            "material = 'water'\nshape = 'shell'\ncentre_mm = [0, 0, 0]\ninner_radius_mm = 1.0\nradius_mm = 2.0",
        );
        assert!(whole.check(Some(0)).is_ok());
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
            let e = ins(text)
                .check(Some(2))
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
            .chain();
        assert!(
            e.contains("source.lines_kev[1]") && e.contains("1000000000000 keV"),
            "{e}"
        );
        let e = read(&format!("{BOX}[source]\nkind = 'point'\nposition_mm = [0.0, 0.0, 0.0]\nlines_kev = [[30.0, 1e308], [40.0, 1e308]]\n"))
            .and_then(|s| s.source())
            .map(|_| ())
            .unwrap_err()
            .chain();
        assert!(e.contains("inf"), "{e}");
        let e = read(&format!(
            "{BOX}[source]\nkind = 'point'\nposition_mm = [0.0, 0.0, 0.0]\nenergy_kev = 300.0\n[absolute]\nphotons_per_s = 1e300\ntime_h = 1e300\n"
        ))
        .and_then(|s| s.histories_represented())
        .unwrap_err()
        .chain();
        assert!(e.contains("absolute") && e.contains("inf photons"), "{e}");
        let seeds = "[source]\nkind = 'seeds'\nmodel = '6711'\nradionuclide = 'I-125'\n\
                     [[source.seeds]]\nposition_mm = [0.0, 0.0, 0.0]\naxis = [0.0, 0.0, 1.0]\nweight = 1e308\n\
                     [[source.seeds]]\nposition_mm = [1.0, 0.0, 0.0]\naxis = [0.0, 0.0, 1.0]\nweight = 1e308\n";
        let e = read(&format!("{BOX}{seeds}"))
            .and_then(|s| s.source())
            .map(|_| ())
            .unwrap_err()
            .chain();
        assert!(e.contains("weights sum to inf"), "{e}");
    }

    /// Issue 27 item 9: phantom and scoring `dims` had no voxel budget, and the simulation file
    /// itself was read without bounds.
    #[test]
    fn item_09_grids_beyond_the_voxel_budget_and_unbounded_files_are_refused() {
        let big = "histories = 10\n[phantom]\ndims = [100000, 100000, 100000]\nspacing_mm = [1.0, 1.0, 1.0]\nmaterial = 'water'\n[source]\nkind = 'point'\nposition_mm = [0.0, 0.0, 0.0]\nenergy_kev = 30.0\n";
        let e = read(big).unwrap_err().chain();
        assert!(
            e.contains("phantom.dims") && e.contains("more than the 67108864"),
            "{e}"
        );
        let scoring = format!(
            "{BOX}[source]\nkind = 'point'\nposition_mm = [0.0, 0.0, 0.0]\nenergy_kev = 30.0\n[scoring]\ndims = [4096, 4096, 4096]\nspacing_mm = [1.0, 1.0, 1.0]\norigin_mm = [0.0, 0.0, 0.0]\n"
        );
        let e = read(&scoring).unwrap_err().chain();
        assert!(e.contains("scoring.dims"), "{e}");
        #[cfg(unix)]
        {
            let e = Simulation::from_file(Path::new("/dev/zero"))
                .unwrap_err()
                .chain();
            assert!(e.contains("not a regular file"), "{e}");
            let e = HuTable::from_file(Path::new("/dev/zero"))
                .unwrap_err()
                .chain();
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
            .chain();
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

    /// Issue 20: every kind of phantom, insert, source and particle is a typed value that the
    /// file's form carries both ways (a grid worker reads what the planner wrote).
    #[test]
    fn every_kind_comes_back_from_its_file_form() {
        let photons = |e: f64| Emission::Photons(Energies::Mono { energy_kev: e });
        let shapes = [
            InsertShape::Box {
                min_mm: [-1.0; 3],
                max_mm: [1.0; 3],
            },
            InsertShape::Sphere {
                centre_mm: [0.1, 0.2, 0.3],
                radius_mm: 2.0,
            },
            InsertShape::Cylinder {
                centre_mm: [0.0; 3],
                axis: [1.0, 1.0, 0.0],
                radius_mm: 1.0,
                length_mm: 3.0,
            },
            InsertShape::Tube {
                centre_mm: [0.0; 3],
                axis: [0.0, 0.0, 1.0],
                inner_radius_mm: 1.0,
                radius_mm: 2.0,
                length_mm: 3.0,
            },
            InsertShape::Shell {
                centre_mm: [0.0; 3],
                inner_radius_mm: 1.0,
                radius_mm: 2.0,
                axis: Some([0.0, 1.0, 0.0]),
                half_angle_deg: Some(35.0),
            },
        ];
        let mut phantom = PhantomSpec::boxed([8, 8, 8], [1.0; 3], [-3.5; 3], "water");
        for (n, shape) in shapes.into_iter().enumerate() {
            let mut insert = InsertSpec::new("lung_icru44", shape);
            insert.density = Some(0.26 + n as f64 * 0.01);
            phantom = phantom.with_insert(insert);
        }
        let sources = [
            SourceSpec::Point {
                position_mm: [0.0; 3],
                emission: Emission::Photons(Energies::Lines {
                    lines_kev: vec![[27.0, 0.7], [31.0, 0.3]],
                }),
            },
            SourceSpec::Pencil {
                position_mm: [0.0, 0.0, -10.0],
                direction: [0.0, 0.0, 1.0],
                emission: Emission::Electrons(Energies::Mono { energy_kev: 1000.0 }),
            },
            SourceSpec::Cone {
                position_mm: [0.0, 0.0, -10.0],
                direction: [0.0, 0.0, 1.0],
                half_angle_deg: 10.0,
                emission: Emission::Positrons(Energies::Radionuclide {
                    name: "Lu-177".into(),
                }),
            },
            SourceSpec::Parallel {
                position_mm: [0.0, 0.0, -10.0],
                direction: [0.0, 0.0, 1.0],
                field_mm: [4.0, 6.0],
                emission: Emission::Beta {
                    radionuclide: "Y-90".into(),
                },
            },
            SourceSpec::Seeds {
                model: SeedModelName::Model6711,
                energies: Energies::Radionuclide {
                    name: "I-125".into(),
                },
                seeds: vec![SeedPlacement {
                    position_mm: [0.0; 3],
                    axis: [0.0, 0.0, 1.0],
                    weight: 1.0,
                }],
            },
        ];
        for source in sources {
            let charged = source.emission().particle() != Particle::Photon;
            let mut physics = PhysicsSpec::default();
            physics.electrons.transport = charged;
            let sim = Simulation::builder(phantom.clone(), source)
                .histories(10)
                .tally(if charged {
                    TallyKind::Analog
                } else {
                    TallyKind::Kerma
                })
                .physics(physics)
                .build()
                .unwrap_or_else(|e| panic!("{}", e.chain()));
            let json = serde_json::to_string(&sim).unwrap_or_else(|e| panic!("{e}"));
            let back: Simulation = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(back, sim, "{json}");
            let text = toml::to_string(&sim).unwrap_or_else(|e| panic!("{e}"));
            let mut from_file = read(&text).unwrap_or_else(|e| panic!("{}", e.chain()));
            from_file.base_dir = PathBuf::new();
            assert_eq!(from_file, sim);
            sim.source().unwrap_or_else(|e| panic!("{}", e.chain()));
            sim.phantom().unwrap_or_else(|e| panic!("{}", e.chain()));
        }
        let ct = PhantomSpec::ct("ct.mha");
        let json = serde_json::to_string(&ct).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(json, r#"{"ct_mha":"ct.mha","insert":[]}"#);
        // The builder checks what a file is checked for.
        let point = SourceSpec::Point {
            position_mm: [0.0; 3],
            emission: photons(0.5),
        };
        let e = Simulation::builder(phantom, point)
            .histories(10)
            .build()
            .unwrap_err()
            .chain();
        assert!(
            e.contains("source.energy_kev: 0.5; expected 1 to 100000 keV"),
            "{e}"
        );
    }

    /// Issue 20: a field that the kind does not take was silently ignored (a `direction` on a
    /// point source, a `density` on a CT); it is refused, naming the field and what the kind
    /// takes.
    #[test]
    fn a_field_the_kind_does_not_take_is_refused() {
        let point = "[source]\nkind = 'point'\nposition_mm = [0.0, 0.0, 0.0]\nenergy_kev = 30.0\n";
        for (text, says) in [
            (
                format!("{BOX}{point}direction = [0.0, 0.0, 1.0]\n"),
                "source.direction: does not apply to a point source",
            ),
            (
                format!("{BOX}{point}model = '6711'\n"),
                "source.model: does not apply to a point source",
            ),
            (
                format!(
                    "{BOX}[source]\nkind = 'seeds'\nmodel = '6711'\nradionuclide = 'I-125'\nposition_mm = [0.0, 0.0, 0.0]\n"
                ),
                "source.position_mm: does not apply to a seeds source",
            ),
            (
                format!(
                    "{BOX}[source]\nkind = 'seeds'\nmodel = '6711'\nradionuclide = 'I-125'\nparticle = 'electron'\n"
                ),
                "source.particle: seeds emit photons only",
            ),
            (
                format!("histories = 10\n[phantom]\nct_mha = 'ct.mha'\ndensity = 1.0\n{point}"),
                "phantom.density: does not apply to a CT phantom",
            ),
            (
                format!(
                    "{BOX}[[phantom.insert]]\nmaterial = 'water'\nshape = 'sphere'\ncentre_mm = [0.0, 0.0, 0.0]\nradius_mm = 1.0\nlength_mm = 2.0\n{point}"
                ),
                "phantom.insert[0].length_mm: does not apply to a sphere",
            ),
            (
                format!(
                    "{BOX}[source]\nkind = 'point'\nposition_mm = [0.0, 0.0, 0.0]\nparticle = 'beta'\nradionuclide = 'Y-90'\nenergy_kev = 30.0\n"
                ),
                "source: a beta source takes its energies from the radionuclide only",
            ),
        ] {
            let e = read(&text).unwrap_err().chain();
            assert!(e.contains(says), "{text}\n{e}");
        }
    }
}
