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
mod solid;
mod spec;

pub use prepare::{Dose, DoseUnit, Prepared};

use solid::insert_solid;
use spec::{default_batch, default_seed};

pub use solid::Solid;
pub use spec::{
    AbsoluteSpec, InsertSpec, Particle, PhantomSpec, PhysicsSpec, ScoringSpec, SeedModelName,
    Shape, SourceKind, SourceSpec,
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

pub use crate::files::MAX_FILE_BYTES;
pub(crate) use crate::files::read_text;

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
