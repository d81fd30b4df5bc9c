//! The reconstruction file and its run: projections (Interfile), the photopeak window, the
//! calibration, the triple-energy-window scatter estimate, the attenuation map from a phantom
//! or CT (the dose simulation's `[phantom]` section), OSEM; the result in Bq/mL.
//!
//! ```toml
//! projections = "out/projections.h33"
//! window = "photopeak"                   # default
//! calibration_cps_per_mbq = 9.4          # counts per second per MBq of a point source in air in
//!                                        # that window (`hope spect simulate` measures it)
//! [scatter]                              # optional: triple-energy-window estimate
//! lower = "lower"
//! upper = "upper"                        # optional (dual window)
//! smooth = 3                             # box smoothing of the estimate, bins
//! [osem]
//! subsets = 8                            # defaults shown
//! iterations = 4
//! [camera]                               # as in the acquisition file; optional when the
//! collimator = "SY-ME"                   # projections name their collimator (HOPE-rs' own)
//! [attenuation]                          # optional: the attenuation map at the window's centre
//! phantom = { ct_mha = "ct.mha" }        # energy, from a phantom or a CT (HU table), its centre
//!                                        # on the axis of rotation
//! ```
//!
//! The image: `matrix[0] x matrix[0] x matrix[1]` voxels of the bin size, centred on the axis
//! (and placed, in patient coordinates, where the attenuation phantom's centre is, else at 0).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hope_core::{Grid, Vec3, Volume};
use hope_mc::simulation::{MaterialSpec, PhantomSpec};
use serde::{Deserialize, Serialize};

use crate::acquisition::Body;
use crate::file::{CameraSpec, read_toml_or_json};
use crate::projections::Projections;
use crate::recon::{Geometry, Projector, osem_with_background};
use crate::{Collimator, Error, Result};

/// The most values OSEM keeps (one image per subset for the sensitivities).
const MAX_OSEM_VALUES: usize = 1 << 27;

fn default_window() -> String {
    "photopeak".into()
}
fn default_smooth() -> usize {
    3
}
fn default_subsets() -> usize {
    8
}
fn default_iterations() -> usize {
    4
}

/// `[scatter]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScatterSpec {
    /// The window below the photopeak.
    pub lower: String,
    /// The window above it (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper: Option<String>,
    /// Box smoothing, bins.
    #[serde(default = "default_smooth")]
    pub smooth: usize,
}

/// `[osem]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OsemSpec {
    /// Subsets of the views.
    #[serde(default = "default_subsets")]
    pub subsets: usize,
    /// Passes over all subsets.
    #[serde(default = "default_iterations")]
    pub iterations: usize,
}

impl Default for OsemSpec {
    fn default() -> Self {
        OsemSpec {
            subsets: default_subsets(),
            iterations: default_iterations(),
        }
    }
}

/// `[attenuation]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttenuationSpec {
    /// The phantom or CT.
    pub phantom: PhantomSpec,
    /// Materials of the file's own.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub materials: BTreeMap<String, MaterialSpec>,
    /// The energy of the map, keV (default: the window's centre).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_kev: Option<f64>,
}

/// A reconstruction file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconstructionSpec {
    /// The projections (Interfile header).
    pub projections: PathBuf,
    /// The window reconstructed.
    #[serde(default = "default_window")]
    pub window: String,
    /// Counts per second per MBq of a point source in air in that window.
    pub calibration_cps_per_mbq: f64,
    /// Triple-energy-window scatter correction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scatter: Option<ScatterSpec>,
    /// OSEM.
    #[serde(default)]
    pub osem: OsemSpec,
    /// The camera, when the projections do not name their collimator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera: Option<CameraSpec>,
    /// Attenuation correction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attenuation: Option<AttenuationSpec>,
    /// The file's folder.
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// The file.
    #[serde(skip)]
    pub path: PathBuf,
}

impl ReconstructionSpec {
    /// Reads a file (the projections are read by [`ReconstructionSpec::run`]).
    pub fn from_file(path: &Path) -> Result<ReconstructionSpec> {
        let mut s: ReconstructionSpec = read_toml_or_json(path)?;
        s.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        s.path = path.to_path_buf();
        let c = s.calibration_cps_per_mbq;
        if !(c.is_finite() && (1e-3..=1e5).contains(&c)) {
            return Err(Error::field(
                path,
                "calibration_cps_per_mbq",
                format!("{c}; expected 0.001 to 100000 counts per second per MBq"),
            ));
        }
        if let Some(e) = s.attenuation.as_ref().and_then(|a| a.energy_kev)
            && !(e.is_finite() && (20.0..=1_022.0).contains(&e))
        {
            return Err(Error::field(
                path,
                "attenuation.energy_kev",
                format!("{e}; expected 20 to 1022 keV"),
            ));
        }
        if !(1..=128).contains(&s.osem.subsets) || !(1..=200).contains(&s.osem.iterations) {
            return Err(Error::field(
                path,
                "osem",
                format!(
                    "{} subsets, {} iterations; expected 1-128 and 1-200",
                    s.osem.subsets, s.osem.iterations
                ),
            ));
        }
        if let Some(sc) = &s.scatter
            && !(1..=31).contains(&sc.smooth)
        {
            return Err(Error::field(
                path,
                "scatter.smooth",
                format!("{}; expected 1 to 31 bins", sc.smooth),
            ));
        }
        Ok(s)
    }

    /// The projections file, resolved.
    pub fn projections_path(&self) -> PathBuf {
        if self.projections.is_absolute() {
            self.projections.clone()
        } else {
            self.base_dir.join(&self.projections)
        }
    }

    /// Reconstructs `p` (read from [`ReconstructionSpec::projections_path`]): Bq/mL.
    pub fn run(&self, p: &Projections) -> Result<Volume<f32>> {
        let path = &self.path;
        let f = |name: &str, m: String| Error::field(path, name.to_string(), m);
        p.check().map_err(|e| f("projections", e.to_string()))?;
        let peak = p
            .window_index(&self.window)
            .map_err(|e| f("window", e.to_string()))?;
        let (collimator, intrinsic, gap) = match &self.camera {
            Some(c) => {
                let (col, _, i, g) = c.parts(path)?;
                (col, i, g)
            }
            None => (
                Collimator::by_code(&p.collimator).map_err(|_| {
                    f(
                        "camera",
                        format!(
                            "missing, and the projections name no collimator of the library (`{}`)",
                            p.collimator
                        ),
                    )
                })?,
                0.38,
                0.64,
            ),
        };
        let step = if p.views > 1 {
            p.angles_deg[1] - p.angles_deg[0]
        } else {
            360.0
        };
        let regular = p
            .angles_deg
            .iter()
            .enumerate()
            .all(|(v, a)| (a - p.angles_deg[0] - step * v as f64).abs() < 1e-6);
        if !regular || step == 0.0 || (step * p.views as f64).abs() > 360.0 + 1e-6 {
            return Err(f(
                "projections",
                format!(
                    "views at {:?} degrees; expected evenly spaced views over at most 360 degrees",
                    &p.angles_deg[..p.views.min(4)]
                ),
            ));
        }
        let window = &p.windows[peak];
        let energy_ev = match &self.attenuation {
            Some(AttenuationSpec {
                energy_kev: Some(e),
                ..
            }) => *e * 1e3,
            _ => (window.lo_ev + window.hi_ev) / 2.0,
        };
        let [n, nz] = p.matrix;
        let geometry = Geometry {
            n,
            nz,
            voxel_cm: p.pixel_cm,
            views: p.views,
            // Sums of angles overshoot a full turn by a rounding (attack round on issue 25).
            arc_deg: p.arc_deg(),
            start_deg: p.angles_deg.first().copied().unwrap_or(0.0),
            radius_cm: p.radius_cm,
            collimator,
            energy_ev,
            intrinsic_fwhm_cm: intrinsic,
            image_gap_cm: gap,
        };
        // The geometry first: nothing is computed for projections the projector refuses.
        geometry
            .check()
            .map_err(|e| f("projections", e.to_string()))?;
        if self.osem.subsets > p.views {
            return Err(f(
                "osem.subsets",
                format!(
                    "{}; the projections have {} views",
                    self.osem.subsets, p.views
                ),
            ));
        }
        if self.osem.subsets.max(2) * n * n * nz > MAX_OSEM_VALUES {
            return Err(f(
                "osem.subsets",
                format!(
                    "{} subsets of {n} x {n} x {nz} voxels need more than {} values of memory",
                    self.osem.subsets, MAX_OSEM_VALUES
                ),
            ));
        }
        let (mu, centre, axes) = match &self.attenuation {
            Some(a) => {
                let phantom = a.phantom.build(&a.materials, &self.base_dir)?;
                let g = phantom.grid().clone();
                let centre = g.index_to_point([
                    (g.dims()[0] as f64 - 1.0) / 2.0,
                    (g.dims()[1] as f64 - 1.0) / 2.0,
                    (g.dims()[2] as f64 - 1.0) / 2.0,
                ]);
                let empty = Volume::filled(g, 0.0f32);
                let body = Body::new(&phantom, &empty)?;
                let axes = phantom.grid().direction();
                (Some(body.mu_on(n, nz, p.pixel_cm, energy_ev)), centre, axes)
            }
            None => (
                None,
                Vec3::new(0.0, 0.0, 0.0),
                [
                    Vec3::new(1.0, 0.0, 0.0),
                    Vec3::new(0.0, 1.0, 0.0),
                    Vec3::new(0.0, 0.0, 1.0),
                ],
            ),
        };
        let projector = Projector::new(geometry, mu)
            .map_err(|e| f("projections", e.to_string()))?
            .calibrated(self.calibration_cps_per_mbq * 1e-6)?;
        let per_second = |v: Vec<Vec<f64>>| -> Vec<Vec<f64>> {
            v.into_iter()
                .map(|x| x.into_iter().map(|c| c / p.time_per_view_s).collect())
                .collect()
        };
        let measured = per_second(p.window_views(peak));
        let scatter = match &self.scatter {
            Some(s) => {
                let lower = p
                    .window_index(&s.lower)
                    .map_err(|e| f("scatter.lower", e.to_string()))?;
                let upper = s
                    .upper
                    .as_deref()
                    .map(|u| p.window_index(u))
                    .transpose()
                    .map_err(|e| f("scatter.upper", e.to_string()))?;
                Some(per_second(
                    p.tew(peak, lower, upper, s.smooth)
                        .map_err(|e| f("scatter", e.to_string()))?,
                ))
            }
            None => None,
        };
        let x = osem_with_background(
            &projector,
            &measured,
            scatter.as_deref(),
            self.osem.subsets,
            self.osem.iterations,
        )
        .map_err(|e| f("osem", e.to_string()))?;
        let ml = p.pixel_cm.powi(3);
        if let Some(bad) = x.iter().find(|v| !((**v / ml) as f32).is_finite()) {
            return Err(f(
                "projections",
                format!("the reconstruction reached {bad}: counts or calibration out of range"),
            ));
        }
        let mm = p.pixel_cm * 10.0;
        let (hu, hz) = ((n as f64 - 1.0) / 2.0 * mm, (nz as f64 - 1.0) / 2.0 * mm);
        let origin = centre - axes[0] * hu - axes[1] * hu - axes[2] * hz;
        let grid = Grid::builder([n, n, nz])
            .spacing(Vec3::new(mm, mm, mm))
            .origin(origin)
            .direction(axes)
            .build()?;
        Ok(Volume::new(
            grid,
            x.iter().map(|v| (v / ml) as f32).collect(),
        )?)
    }
}
