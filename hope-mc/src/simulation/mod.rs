//! The description of a simulation as a file (TOML or JSON), the counterpart of a GATE macro:
//! phantom, materials, source, physics, tally, number of histories, seed and, optionally, what
//! turns dose per history into absolute dose.
//!
//! ```toml
//! histories = 1000000
//! seed = 1
//! tally = "kerma"                   # or "analog"; default: "analog" (the absorbed dose) with
//!                                   # electron transport, "kerma" without
//!
//! [phantom]                         # a box of voxels of one material...
//! dims = [100, 100, 100]
//! spacing_mm = [1.0, 1.0, 1.0]
//! origin_mm = [-49.5, -49.5, -49.5] # centre of the first voxel
//! material = "water"
//! # ...or a CT: ct_mha = "ct.mha" (HU; paths relative to this file) with hu_table = "hu.toml"
//! # (hope_mc::material::hounsfield; the default table if absent)
//!
//! [materials.tg129_silastic]        # optional: materials of the file's own, usable by name
//! density = 1.12                    # g/cm^3, and mass fractions by element symbol...
//! composition = { H = 0.063, C = 0.249, O = 0.289, Si = 0.399, Pt = 5e-5 }
//! # ...or formula = "C2H6OSi" (counts, parentheses: "Ca10(PO4)6(OH)2"); I from Bragg's rule
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
//! kind = "point"                    # point, pencil, cone, parallel, divergent, seeds, phase-space
//! position_mm = [0.0, 0.0, 0.0]     # (pencil, cone: direction; cone: half_angle_deg;
//!                                   #  pencil: radius_mm for a finite pencil (uniform disc);
//!                                   #  parallel: direction, field_mm = [w, h];
//!                                   #  divergent: position_mm is the focus, direction the
//!                                   #  axis, distance_mm to the plane where the field is
//!                                   #  field_mm = [w, h] or radius_mm, uniform fluence there)
//! radionuclide = "I-125"            # (TG-43U1 lines; Pd-103, Ir-192, Tc-99m, Lu-177, I-131 from
//!                                   # ICRP-107) or energy_kev = 300, or lines_kev = [[27.2, 0.4], ...]
//!                                   # or a histogram: spectrum_min_kev = 10 (the first bin's
//!                                   # lower edge) with spectrum_kev = [[upper keV, probability],
//!                                   # ...] or spectrum_file = "beam.csv" (the same two columns)
//! # seeds: model = "6711" and seeds = [{ position_mm = [0, 0, 0], axis = [0, 0, 1] }, ...]
//! # phase-space: phase_space = "linac.IAEAheader", position_mm, rotation_deg, recycle
//! particle = "photon"               # or "electron", "positron" (energies are kinetic), or "beta":
//!                                   # electrons with the radionuclide's ICRP-107 beta spectrum
//!                                   # (Lu-177, Y-90, I-131, Ru-106...); charged particles need
//!                                   # [physics.electrons] transport = true and tally = "analog"
//!
//! [physics]                         # every key optional; the defaults are shown
//! # preset = "egsnrc-dosxyz"        # or "egs-brachy": a reference code's settings (below)
//! relaxation = "full"               # "none", "k" or "full" (K and L lines, L after K)
//! rayleigh = true                   # Rayleigh (coherent) scattering
//! compton = "bound"                 # "bound" (S(x,Z) binding), "free" (Klein-Nishina) or
//!                                   # "impulse" (Doppler broadening from shell profiles)
//! photoelectron_angular = true      # Sauter's distribution (else along the photon)
//! photon_cutoff_ev = 1000.0
//! material_cutoffs_ev = { modulay = 10000.0 }  # higher cutoffs in some materials
//! tracking = "auto"                 # or "woodcock", "boundary"
//!
//! [physics.electrons]               # optional: coupled photon-electron transport
//! transport = false                 # true: electrons transported (then tally = "analog");
//!                                   # (hope_mc::physics::electron::ElectronOptions: cutoff_ev = 10000,
//!                                   # delta_threshold_ev, bremsstrahlung_threshold_ev,
//!                                   # elastic_c1, max_energy_loss, range_rejection,
//!                                   # bremsstrahlung_angular...)
//!
//! [scoring]                         # optional: score on another grid (the phantom's axes)
//! dims = [50, 50, 50]
//! spacing_mm = [0.5, 0.5, 0.5]
//! origin_mm = [-12.25, -12.25, -12.25]
//!
//! [absolute]                        # optional: dose in Gy instead of Gy per history
//! activity_bq = 1.0e9               # a radionuclide's activity; seeds: air_kerma_strength_u
//!                                   # (U = uGy m^2 / h, per seed); any source: photons_per_s
//! time_h = 100.0                    # or time_s; decay = true integrates the decay over the time
//!
//! [variance_reduction]              # optional; default none (the analog engine)
//! photon_splitting = 1              # source photons followed as N copies of weight 1/N
//!                                   # (also particle_recycling, history_repetition...)
//!
//! # Optional, each documented in the manual page: [[output.block]] (mean dose of a box),
//! # [[output.line]] (dose along a line), [output.phase_space] (name, z_mm, towards: an IAEA
//! # phase space scored on a plane during the run).
//! ```
//!
//! The manual page [`crate::manual::simulation`] has complete examples of each kind of run;
//! a test of the command line runs every example there and this one.
//!
//! Conventions (issue 23 completes this documentation):
//! - **Units.** Lengths in mm; source energies (`energy_kev`, `lines_kev`) in keV; cutoffs and
//!   thresholds (`photon_cutoff_ev`, `material_cutoffs_ev`, `[physics.electrons]`) in eV; electron
//!   and positron energies are kinetic (EGSnrc's ECUT is a total energy: its ECUT = 0.521 MeV is a
//!   kinetic 10 keV here); densities in g/cm^3.
//! - **Grid.** `origin_mm` is the centre of the first voxel, not its corner: a box of `dims` voxels
//!   of `spacing_mm` centred on 0 has `origin_mm = -(dims - 1) * spacing_mm / 2`.
//! - **Densities.** `density` on the phantom or an insert overrides the material's nominal density
//!   (the built-in lungs are 1.05 g/cm^3, inflated lung is about 0.26: give it); a CT's densities
//!   come from its HU table.
//! - **What is written out.** With electron transport off (the default), the tally is `kerma`:
//!   track-length collision kerma, which equals absorbed dose only where charged-particle
//!   equilibrium holds. With `[physics.electrons] transport = true` the tally is `analog`
//!   (energy deposited, the absorbed dose; `kerma` is refused there).
//! - **Physics switches and their EGSnrc names.** `relaxation` is EGSnrc's `Atomic relaxations`
//!   (`none` = Off; hope-mc's `full` follows K and L lines and the L line after a K line, not
//!   Auger electrons: [`Relaxation`](crate::physics::Relaxation)); `rayleigh` is `Rayleigh
//!   scattering`; `compton = "free"` is `Bound Compton scattering = Off`, `"bound"` comes
//!   closest to `Norej` and `"impulse"` (Doppler broadening) to `On`
//!   ([`ComptonModel`](crate::physics::ComptonModel)); `photoelectron_angular` is `Photoelectron
//!   angular sampling`; `photon_cutoff_ev` is PCUT (in eV) and `[physics.electrons] cutoff_ev`
//!   is ECUT less 511 keV. The earlier names `fluorescence` (true/false: full/none) and
//!   `coherent` are still read. `[physics.electrons] bremsstrahlung_angular` is `Brems angular
//!   sampling`: `"koch-motz"` (the default, EGSnrc's `KM`) or `"simple"` (the leading term,
//!   EGSnrc's `Simple`). Not switchable (and not EGSnrc's): electron steps (a mixed scheme with
//!   `elastic_c1` and `max_energy_loss`, where EGSnrc has PRESTA-II with ESTEPE and XIMAX), no
//!   spin effects.
//! - **Presets.** `preset` lays a reference code's settings under the section; a key the file
//!   gives itself wins. `egsnrc-dosxyz` (DOSXYZnrc's classic defaults, the settings of the P1
//!   runs in `../shared/reference/physics.md`) sets exactly:
//!   `relaxation = "none"`, `rayleigh = false`, `compton = "free"`,
//!   `photoelectron_angular = false`, `photon_cutoff_ev = 10000.0`,
//!   `electrons.transport = true`, `electrons.cutoff_ev = 10000.0`,
//!   `electrons.range_rejection = false`, `electrons.bremsstrahlung_angular = "koch-motz"`.
//!   `egs-brachy` (egs_brachy's defaults, the same as hope-mc's) sets exactly:
//!   `relaxation = "full"`, `rayleigh = true`, `compton = "bound"`,
//!   `photoelectron_angular = true`, `photon_cutoff_ev = 1000.0`,
//!   `electrons.transport = false`.
//! - **Density effect.** With electron transport, the collision stopping power of a voxel is
//!   that of its material at the voxel's own density (the density-effect correction depends on
//!   it), per 2 % density bin: inflated lung at 0.26 g/cm^3 stops electrons 1.4 % (1 MeV) to
//!   3.6 % (2 MeV) harder per g/cm^2 than lung at 1.05.
//! - **Range rejection** is on by default with electron transport (`range_rejection = true`, below
//!   `range_rejection_max_ev` = 2 MeV): an electron that cannot leave its voxel deposits its energy
//!   there at once. Set `range_rejection = false` to compare with a code run without it.
//! - **Field orientation.** For a `parallel` beam the field's first size runs along `u` and the
//!   second along `v`, where `u` is the unit vector of `x` × `direction` (of `y` × `direction` when
//!   the beam is within 26 degrees of the x axis) and `v` = `direction` × `u`: for a beam along +z,
//!   `field_mm[0]` runs along y and `field_mm[1]` along x.
//!
//! Each kind takes its own fields: a field that the kind does not take (a `direction` on a point
//! source, a `density` on a CT phantom, `max_mm` on a sphere) is an error, as is an unknown
//! `kind`, `shape`, `particle` or `model`, naming the field and the allowed values. The file
//! becomes typed values ([`PhantomSpec`], [`InsertShape`], [`SourceSpec`], [`Emission`]);
//! [`Simulation::builder`] makes the same values in code.
//!
//! Limits, each an error naming the field: a phantom, CT or scoring grid of at most
//! [`MAX_VOXELS`] voxels (2^26); at most [`MAX_INSERTS`] inserts; densities in
//! [`DENSITY_RANGE`] (1e-9 to 1000 g/cm^3); directions and axes of a length that is a normal,
//! finite number; every number finite (a simulation goes to grid workers as JSON, which has no
//! infinity); photon cutoffs from 1 keV to [`MAX_ENERGY_EV`], the global one below the source's
//! highest energy; energies (`energy_kev`, each line of `lines_kev`) from 1 to
//! 100,000 keV; finite line intensities, seed weights and `absolute` values whose product is a
//! finite number of histories; files (this one, HU tables) of at most [`MAX_FILE_BYTES`], read
//! only if they are regular files.

use std::path::{Path, PathBuf};

use hope_core::{Grid, Vec3};
use serde::{Deserialize, Serialize};

use crate::geometry::Phantom;
use crate::source::brachy::{I125_LINES, SeedModel, Surroundings, tg43};
use crate::source::plaque::{Plaque, PlaqueAssembly};
use crate::source::{PlaqueSource, Radionuclide, SeedSource, Source, Spectrum};
use crate::transport::{RunOptions, Transport};
use crate::{Error, Material, Result};

mod build;
mod materials;
mod prepare;
mod raw;
mod solid;
mod spec;

pub use prepare::{BlockDose, Dose, DoseUnit, Prepared};

use spec::{default_batch, default_seed, within_budget};

pub use materials::{MAX_FORMULA_CHARS, MAX_MATERIALS, MAX_NESTING, MaterialSpec};
pub use solid::Solid;
pub use spec::DENSITY_RANGE;
pub use spec::{
    AbsoluteSpec, BlockSpec, Emission, Energies, FieldSpec, InsertShape, InsertSpec, MAX_BLOCKS,
    OutputSpec, Particle, PhantomBody, PhantomSpec, PhysicsSpec, PlaneSpec, PlaqueSpec, Preset,
    ScoringSpec, SeedModelName, Shape, SourceKind, SourceSpec, Towards,
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
    /// The estimator written out; when absent, `analog` with electron transport and `kerma`
    /// without (see [`Simulation::tally_kind`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tally: Option<TallyKind>,
    /// Materials the file defines (`[materials.NAME]`), usable by name wherever a built-in
    /// material is.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub materials: std::collections::BTreeMap<String, MaterialSpec>,
    /// The voxel phantom.
    pub phantom: PhantomSpec,
    /// The source.
    pub source: SourceSpec,
    /// Physics and tracking (a `preset` laid under the keys the section gives).
    #[serde(default, deserialize_with = "PhysicsSpec::with_preset")]
    pub physics: PhysicsSpec,
    /// What turns dose per history into absolute dose.
    #[serde(default)]
    pub absolute: Option<AbsoluteSpec>,
    /// A scoring grid apart from the phantom's (same axes).
    #[serde(default)]
    pub scoring: Option<ScoringSpec>,
    /// `[variance_reduction]`: photon splitting, stratification, Russian roulette, particle
    /// recycling (default: none; [`crate::VarianceReduction`]).
    #[serde(default, skip_serializing_if = "crate::VarianceReduction::is_analog")]
    pub variance_reduction: crate::VarianceReduction,
    /// What a run writes besides the dose: blocks of voxels (`[[output.block]]`), lines
    /// (`[[output.line]]`), a phase space on a plane (`[output.phase_space]`).
    #[serde(default, skip_serializing_if = "OutputSpec::is_empty")]
    pub output: OutputSpec,
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

    /// Defines a material the phantom and inserts may name (`[materials.NAME]`).
    pub fn material(mut self, name: &str, spec: MaterialSpec) -> Self {
        self.sim.materials.insert(name.to_string(), spec);
        self
    }

    /// The estimator written out (default kerma).
    pub fn tally(mut self, tally: TallyKind) -> Self {
        self.sim.tally = Some(tally);
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

pub(super) fn field(name: &str, message: impl Into<String>) -> Error {
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

/// The highest energy a simulation takes, eV (100 MeV: where the photon data end).
pub const MAX_ENERGY_EV: f64 = 1e8;

/// The most inserts a phantom may have: each is voxelised by testing 27 points in every voxel of
/// its bounding box, so their number bounds the time a file can make a run take before it
/// starts.
pub const MAX_INSERTS: usize = 1000;

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
                tally: None,
                materials: std::collections::BTreeMap::new(),
                phantom,
                source,
                physics: PhysicsSpec::default(),
                absolute: None,
                scoring: None,
                output: OutputSpec::default(),
                variance_reduction: crate::VarianceReduction::default(),
                base_dir: PathBuf::new(),
            },
        }
    }

    /// Reads a simulation file (TOML, or JSON by extension); errors name the file and, in their
    /// source, the line and the field.
    pub fn from_file(path: &Path) -> Result<Self> {
        let mut sim: Simulation = crate::files::read_toml_or_json(path, "simulation file")?;
        sim.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let base = sim.base_dir.clone();
        sim.source.read_files(&base)?;
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
        if let SourceSpec::PhaseSpace { path, .. } = &mut sim.source {
            *path = abs(path);
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

    /// The material called `name`: one the file defines (`[materials.NAME]`), else a built-in
    /// one. `field` names where the name was given, for the error.
    pub fn material(&self, name: &str, field_name: &str) -> Result<Material> {
        match self.materials.get(name) {
            Some(spec) => Ok(spec.material(name)?),
            None => Material::builtin(name).map_err(|e| {
                refused(
                    field_name,
                    "neither a material of the file's [materials] nor a built-in one",
                    e,
                )
            }),
        }
    }

    /// The estimator written out: the file's `tally`, else `analog` (the absorbed dose) with
    /// electron transport and `kerma` without.
    pub fn tally_kind(&self) -> TallyKind {
        self.tally.unwrap_or(if self.physics.electrons.transport {
            TallyKind::Analog
        } else {
            TallyKind::Kerma
        })
    }

    /// Checks every value, and what one section asks of another (a file's structure, which
    /// fields a kind of phantom, insert or source takes, is checked when it is read).
    pub fn validate(&self) -> Result<()> {
        if self.histories == 0 {
            return Err(field("histories", "0; expected at least 1"));
        }
        if self.physics.dose_to == crate::physics::DoseTo::Water
            && self.tally_kind() == TallyKind::Analog
            && !self.physics.electrons.transport
        {
            return Err(field(
                "physics.dose_to",
                "\"water\" applies to the kerma tally (without electron transport) or to the \
                 absorbed dose with electron transport, not to the analog tally without \
                 electrons (energy deposited on the spot has no medium to convert)",
            ));
        }
        if self.physics.electrons.transport && self.tally_kind() == TallyKind::Kerma {
            return Err(field(
                "tally",
                "\"kerma\" with electron transport: the absorbed dose is the \"analog\" tally",
            ));
        }
        // Checked with transport off too: the values travel to grid workers as they are.
        self.physics
            .electrons
            .validate()
            .map_err(|(f, m)| field(&format!("physics.electrons.{f}"), m))?;
        self.variance_reduction
            .validate()
            .map_err(|(f, m)| field(&format!("variance_reduction.{f}"), m))?;
        if self.batch_size == 0 || self.batch_size >= u64::from(u32::MAX) {
            return Err(field(
                "batch_size",
                format!("{}; expected 1 to {}", self.batch_size, u32::MAX - 1),
            ));
        }
        self.output.check()?;
        if self.materials.len() > MAX_MATERIALS {
            return Err(field(
                "materials",
                format!(
                    "{} materials; expected at most {MAX_MATERIALS}",
                    self.materials.len()
                ),
            ));
        }
        for (name, spec) in &self.materials {
            spec.material(name)?;
        }
        self.phantom.check()?;
        if let PhantomBody::Box { material, .. } = &self.phantom.body {
            self.material(material, "phantom.material")?;
        }
        for (i, ins) in self.phantom.insert.iter().enumerate() {
            self.material(&ins.material, &format!("phantom.insert[{i}].material"))?;
        }
        let spectrum = self.source.check()?;
        if let SourceSpec::PhaseSpace { path, .. } = &self.source {
            // The header and the data file's size (the records are read with the source).
            let (header, data) = crate::source::iaea::paths(&self.path(path));
            let len = crate::source::iaea::data_len(&data)
                .map_err(|e| refused("source.phase_space", "expected a readable data file", e))?;
            crate::source::iaea::read_header(&header, len)
                .map_err(|e| refused("source.phase_space", "expected a valid IAEA header", e))?;
        }
        if self
            .source
            .emission()
            .is_some_and(|e| e.particle() != Particle::Photon)
            && !self.physics.electrons.transport
        {
            return Err(field(
                "source.particle",
                "charged particles need [physics.electrons] transport = true",
            ));
        }
        let cutoff = self.physics.photon_cutoff_ev;
        if !(cutoff.is_finite() && (1e3..MAX_ENERGY_EV).contains(&cutoff)) {
            return Err(field(
                "physics.photon_cutoff_ev",
                format!(
                    "{cutoff}; expected at least 1000 eV (the data start at 1 keV) and below \
                     {MAX_ENERGY_EV} eV"
                ),
            ));
        }
        let highest = spectrum.max_energy();
        // A photon at the cutoff is still transported (only those below are absorbed).
        if self
            .source
            .emission()
            .is_some_and(|e| e.particle() == Particle::Photon)
            && cutoff > highest
        {
            return Err(field(
                "physics.photon_cutoff_ev",
                format!(
                    "{cutoff} eV, not below the source's highest energy ({highest} eV): no \
                     photon would be transported"
                ),
            ));
        }
        for (name, c) in &self.physics.material_cutoffs_ev {
            let f = format!("physics.material_cutoffs_ev.{name}");
            self.material(name, &f)?;
            // Above every energy is allowed: the material then absorbs every photon.
            if !(c.is_finite() && *c >= 1e3) {
                return Err(field(
                    &f,
                    format!("{c}; expected a finite value of at least 1000 eV"),
                ));
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
            SourceSpec::Seeds { model, .. } => SeedModel::by_name(model.as_str()),
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

    /// The phantom this file describes (the simulation is checked first).
    pub fn phantom(&self) -> Result<Phantom> {
        self.validate()?;
        self.phantom.build(&self.materials, &self.base_dir)
    }

    /// The source this file describes (the simulation is checked first).
    pub fn source(&self) -> Result<Source> {
        self.validate()?;
        let spectrum = self.source.spectrum()?;
        let positron = match self.source.emission() {
            Some(Emission::Photons(_)) | None => None,
            Some(Emission::Electrons(_) | Emission::Beta { .. }) => Some(false),
            Some(Emission::Positrons(_)) => Some(true),
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
                radius_mm: None,
                ..
            } => Source::Pencil {
                position: Vec3::from(*position_mm),
                direction: Vec3::from(*direction),
                spectrum,
            },
            SourceSpec::Pencil {
                position_mm,
                direction,
                radius_mm: Some(radius_mm),
                ..
            } => Source::Disc {
                centre: Vec3::from(*position_mm),
                direction: Vec3::from(*direction),
                radius_mm: *radius_mm,
                spectrum,
            },
            SourceSpec::Divergent {
                position_mm,
                direction,
                distance_mm,
                field,
                ..
            } => Source::Divergent {
                focus: Vec3::from(*position_mm),
                direction: Vec3::from(*direction),
                distance_mm: *distance_mm,
                field: match *field {
                    FieldSpec::Rectangle { field_mm } => crate::source::Field::Rectangle(field_mm),
                    FieldSpec::Circle { radius_mm } => crate::source::Field::Circle(radius_mm),
                },
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
            SourceSpec::PhaseSpace {
                path,
                position_mm,
                rotation_deg,
                recycle,
            } => {
                let at = "source.phase_space";
                let space = crate::source::iaea::PhaseSpace::read(&self.path(path))
                    .map_err(|e| refused(at, "expected a readable IAEA phase space", e))?;
                let ps = crate::source::PhaseSpaceSource::new(
                    space,
                    Vec3::from(*position_mm),
                    *rotation_deg,
                    *recycle,
                )
                .map_err(|e| {
                    refused(
                        at,
                        &format!(
                            "{}: expected a usable phase space",
                            self.path(path).display()
                        ),
                        e,
                    )
                })?;
                if ps.has_charged() && !self.physics.electrons.transport {
                    return Err(field(
                        at,
                        "the phase space holds electrons or positrons: they need \
                         [physics.electrons] transport = true",
                    ));
                }
                Source::PhaseSpace(Box::new(ps))
            }
            SourceSpec::Seeds {
                plaque: Some(p), ..
            } => {
                if self.physics.options().electrons.transport {
                    return Err(field(
                        "source.plaque",
                        "a plaque is transported with photons only: \
                         [physics.electrons] transport = false",
                    ));
                }
                let plaque = Plaque::by_name(&p.name)
                    .map_err(|e| refused("source.plaque.name", "expected a built-in plaque", e))?;
                let loads = p
                    .loads(plaque.slots().len())
                    .map_err(|e| field(&e.field, e.message))?;
                let assembly = PlaqueAssembly::new(
                    plaque,
                    self.seed_model()?,
                    &loads,
                    self.run_options(1).physics,
                )
                .map_err(|e| refused("source.plaque", "expected a usable loading", e))?;
                Source::Plaque(Box::new(
                    PlaqueSource::new(
                        assembly,
                        spectrum,
                        Vec3::from(p.eye_centre_mm),
                        Vec3::from(p.direction),
                        p.rotation_deg,
                    )
                    .map_err(|e| refused("source.plaque", "expected a usable placement", e))?,
                ))
            }
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
            physics: self.physics.options(),
            tracking: self.physics.tracking,
            batch_size: self.batch_size,
            threads,
            variance_reduction: self.variance_reduction,
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
        self.validate()?;
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
            let total_weight: f64 = match &self.source {
                SourceSpec::Seeds {
                    plaque: Some(p), ..
                } => {
                    let slots = crate::source::plaque::Plaque::by_name(&p.name)?
                        .slots()
                        .len();
                    p.loads(slots)
                        .map_err(|e| field(&e.field, e.message))?
                        .iter()
                        .map(|l| match l {
                            crate::source::plaque::SlotLoad::Active(w) => *w,
                            _ => 0.0,
                        })
                        .sum()
                }
                _ => self.source.seeds().iter().map(|s| s.weight).sum(),
            };
            // 1 U = 1 uGy m^2 / h = 1e-2 Gy cm^2 / 3600 s.
            sk * total_weight * 1e-2 / 3600.0 / vacuum.air_kerma_strength
        } else if let Some(bq) = a.activity_bq {
            match self.source.radionuclide_name() {
                // TG-43U1 I-125 photons per decay (the spectrum used).
                Some(name) if spec::is_i125(name) => {
                    bq * I125_LINES.iter().map(|l| l.1).sum::<f64>()
                }
                _ => {
                    let nuclide = self
                        .radionuclide()
                        .ok_or_else(|| field("source.radionuclide", "missing"))?;
                    bq * nuclide.photons_per_decay()
                }
            }
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
mod format_tests;
#[cfg(test)]
mod tests;
