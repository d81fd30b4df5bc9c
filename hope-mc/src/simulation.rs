//! The description of a simulation as a file (TOML or JSON), the counterpart of a GATE macro:
//! phantom, materials, source, physics, tally, number of histories and seed.
//!
//! ```toml
//! histories = 1000000
//! seed = 1
//! tally = "kerma"                   # or "analog"
//!
//! [phantom]                         # a box of voxels of one material...
//! dims = [100, 100, 100]
//! spacing_mm = [1.0, 1.0, 1.0]
//! origin_mm = [-49.5, -49.5, -49.5] # centre of the first voxel
//! material = "water"
//!
//! [[phantom.insert]]                # ...with boxes of other materials (voxel centres inside)
//! material = "cortical_bone_icru44"
//! min_mm = [10.0, -20.0, -20.0]
//! max_mm = [30.0, 20.0, 20.0]
//!
//! [source]
//! kind = "point"                    # or "pencil" (with direction)
//! position_mm = [0.0, 0.0, 0.0]
//! radionuclide = "I-125"            # (TG-43U1 lines; Pd-103, Ir-192, Tc-99m, Lu-177, I-131 from
//!                                   # ICRP-107) or energy_kev = 300, or lines_kev = [[27.2, 0.4], ...]
//!
//! [physics]
//! fluorescence = true
//! coherent = true
//! photon_cutoff_ev = 1000.0
//! tracking = "woodcock"             # or "boundary"
//! ```

use std::path::Path;

use hope_core::{Grid, Vec3};
use serde::{Deserialize, Serialize};

use crate::brachy::I125_LINES;
use crate::physics::PhysicsOptions;
use crate::source::{Radionuclide, Source, Spectrum};
use crate::transport::{Phantom, RunOptions, Tracking};
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
}

fn default_seed() -> u64 {
    1
}

fn default_batch() -> u64 {
    100_000
}

/// A box phantom of one material with inserts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhantomSpec {
    /// Voxels along x, y, z.
    pub dims: [usize; 3],
    /// Voxel size, mm.
    pub spacing_mm: [f64; 3],
    /// Centre of the first voxel, mm.
    #[serde(default)]
    pub origin_mm: [f64; 3],
    /// Built-in material name.
    pub material: String,
    /// Density (g/cm^3); the material's nominal density if absent.
    #[serde(default)]
    pub density: Option<f64>,
    /// Boxes of other materials.
    #[serde(default)]
    pub insert: Vec<InsertSpec>,
}

/// A box of another material: voxels whose centres lie within [min, max].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InsertSpec {
    /// Built-in material name.
    pub material: String,
    /// Density (g/cm^3); nominal if absent.
    #[serde(default)]
    pub density: Option<f64>,
    /// Lower corner, mm.
    pub min_mm: [f64; 3],
    /// Upper corner, mm.
    pub max_mm: [f64; 3],
}

/// Emission geometry and energies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// `point` (isotropic) or `pencil`.
    pub kind: String,
    /// Position, mm.
    pub position_mm: [f64; 3],
    /// Direction of a pencil beam.
    #[serde(default)]
    pub direction: Option<[f64; 3]>,
    /// One energy, keV.
    #[serde(default)]
    pub energy_kev: Option<f64>,
    /// Lines: [energy keV, relative intensity].
    #[serde(default)]
    pub lines_kev: Option<Vec<[f64; 2]>>,
    /// A radionuclide with built-in lines (`I-125`).
    #[serde(default)]
    pub radionuclide: Option<String>,
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
    /// Tracking method.
    pub tracking: Tracking,
}

impl Default for PhysicsSpec {
    fn default() -> Self {
        let p = PhysicsOptions::default();
        Self {
            fluorescence: p.fluorescence,
            coherent: p.coherent,
            photon_cutoff_ev: p.photon_cutoff_ev,
            tracking: Tracking::Woodcock,
        }
    }
}

fn field(name: &str, message: impl Into<String>) -> Error {
    Error::Simulation {
        field: name.to_string(),
        message: message.into(),
    }
}

impl Simulation {
    /// Reads a simulation file (TOML, or JSON by extension); errors name the file and the field.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| field(&path.display().to_string(), e.to_string()))?;
        let sim: Simulation = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text)
                .map_err(|e| field(&path.display().to_string(), e.to_string()))?
        } else {
            toml::from_str(&text).map_err(|e| field(&path.display().to_string(), e.to_string()))?
        };
        sim.validate()?;
        Ok(sim)
    }

    /// Checks every field that deserialisation cannot.
    pub fn validate(&self) -> Result<()> {
        if self.histories == 0 {
            return Err(field("histories", "0; expected at least 1"));
        }
        if self.batch_size == 0 {
            return Err(field("batch_size", "0; expected at least 1"));
        }
        let p = &self.phantom;
        if p.dims.contains(&0) {
            return Err(field(
                "phantom.dims",
                format!("{:?}; expected three positive numbers", p.dims),
            ));
        }
        if p.spacing_mm.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(field(
                "phantom.spacing_mm",
                format!("{:?}; expected three positive sizes", p.spacing_mm),
            ));
        }
        Material::builtin(&p.material).map_err(|e| field("phantom.material", e.to_string()))?;
        for (i, ins) in p.insert.iter().enumerate() {
            Material::builtin(&ins.material)
                .map_err(|e| field(&format!("phantom.insert[{i}].material"), e.to_string()))?;
            if (0..3).any(|a| ins.min_mm[a] > ins.max_mm[a]) {
                return Err(field(
                    &format!("phantom.insert[{i}]"),
                    "min_mm must not exceed max_mm",
                ));
            }
        }
        self.spectrum()?;
        match self.source.kind.as_str() {
            "point" => {}
            "pencil" => {
                let d = self.source.direction.ok_or_else(|| {
                    field(
                        "source.direction",
                        "missing: a pencil beam needs a direction",
                    )
                })?;
                if d.iter().all(|x| *x == 0.0) || d.iter().any(|x| !x.is_finite()) {
                    return Err(field(
                        "source.direction",
                        format!("{d:?}; expected a non-zero vector"),
                    ));
                }
            }
            other => {
                return Err(field(
                    "source.kind",
                    format!("`{other}`; expected point or pencil"),
                ));
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
        Ok(())
    }

    fn spectrum(&self) -> Result<Spectrum> {
        let s = &self.source;
        match (&s.energy_kev, &s.lines_kev, &s.radionuclide) {
            (Some(e), None, None) if e.is_finite() && *e >= 1.0 && *e <= 1e5 => {
                Ok(Spectrum::Mono(e * 1e3))
            }
            (Some(e), None, None) => Err(field(
                "source.energy_kev",
                format!("{e}; expected 1 to 100000 keV"),
            )),
            (None, Some(lines), None) => {
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
        let grid = Grid::builder(p.dims)
            .spacing(p.spacing_mm)
            .origin(p.origin_mm)
            .build()
            .map_err(|e| field("phantom", e.to_string()))?;
        let mut materials = vec![Material::builtin(&p.material)?];
        let base_density = p.density.unwrap_or(materials[0].density()) as f32;
        let n = grid.voxel_count();
        let mut mat = vec![0u16; n];
        let mut rho = vec![base_density; n];
        for ins in &p.insert {
            let m = Material::builtin(&ins.material)?;
            let density = ins.density.unwrap_or(m.density()) as f32;
            let index = materials.iter().position(|x| x == &m).unwrap_or_else(|| {
                materials.push(m);
                materials.len() - 1
            }) as u16;
            for k in 0..p.dims[2] {
                for j in 0..p.dims[1] {
                    for i in 0..p.dims[0] {
                        let c = grid.voxel_center([i, j, k]);
                        let inside = [c.x, c.y, c.z]
                            .iter()
                            .enumerate()
                            .all(|(a, v)| *v >= ins.min_mm[a] && *v <= ins.max_mm[a]);
                        if inside {
                            let o = i + p.dims[0] * (j + p.dims[1] * k);
                            mat[o] = index;
                            rho[o] = density;
                        }
                    }
                }
            }
        }
        Phantom::new(grid, materials, mat, rho)
    }

    /// The source this file describes.
    pub fn source(&self) -> Result<Source> {
        let s = &self.source;
        let position = Vec3::from(s.position_mm);
        let spectrum = self.spectrum()?;
        Ok(match s.kind.as_str() {
            "pencil" => Source::Pencil {
                position,
                direction: Vec3::from(s.direction.unwrap_or([0.0, 0.0, 1.0])),
                spectrum,
            },
            _ => Source::Point { position, spectrum },
        })
    }

    /// Run options (`threads` 0: one per core).
    pub fn run_options(&self, threads: usize) -> RunOptions {
        RunOptions {
            physics: PhysicsOptions {
                fluorescence: self.physics.fluorescence,
                coherent: self.physics.coherent,
                photon_cutoff_ev: self.physics.photon_cutoff_ev,
            },
            tracking: self.physics.tracking,
            batch_size: self.batch_size,
            threads,
        }
    }
}
