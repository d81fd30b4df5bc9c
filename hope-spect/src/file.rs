//! The SPECT acquisition file (TOML, or JSON by extension), the counterpart of the dose
//! simulation's file: its `[phantom]` and `[materials]` sections are the dose simulation's
//! (hope-mc), the rest describes the activity, the camera, the orbit and the energy windows.
//!
//! ```toml
//! radionuclide = "Lu-177"          # ICRP-107 lines of hope-mc: Tc-99m, Lu-177, I-131, ...
//! decays = 2000000                 # histories simulated (not the acquisition's decays)
//! seed = 1
//! method = "forced-detection"      # or "angular-response", "explicit"
//!
//! [phantom]                        # as in a dose simulation: a box of one material with
//! dims = [64, 64, 48]              # inserts, or ct_mha = "ct.mha" with hu_table
//! spacing_mm = [4.8, 4.8, 4.8]
//! material = "air"
//! [[phantom.insert]]
//! material = "water"
//! shape = "cylinder"
//! centre_mm = [0, 0, 0]
//! axis = [0, 0, 1]
//! radius_mm = 110
//! length_mm = 180
//!
//! [activity]                       # Bq/mL: a MetaImage on the phantom's grid (mha = "a.mha"),
//! [[activity.region]]              # and/or regions, later ones replacing earlier ones:
//! material = "water"               # every voxel of a phantom material,
//! bq_per_ml = 10000
//! [[activity.region]]              # or a sphere, cylinder or box (the inserts' fields; voxels
//! shape = "sphere"                 # partly inside get their fraction)
//! centre_mm = [50, 0, 0]
//! radius_mm = 15
//! bq_per_ml = 80000
//!
//! [camera]
//! collimator = "SY-ME"             # a code of the library (hope_spect::Collimator::library), or
//!                                  # hole_shape = "hexagonal" with hole_mm, septa_mm, length_mm
//! crystal_mm = 9.525               # defaults shown
//! energy_resolution = 0.099        # FWHM / E at 140.5 keV, scaling as 1/sqrt(E)
//! intrinsic_fwhm_mm = 3.8
//! image_gap_mm = 6.4               # collimator back face to the mean depth of interaction
//! collimator_scatter = true        # scatter in the collimator and lead x-rays
//! septa_material = "lead"          # or "tungsten"
//!
//! [orbit]
//! views = 60
//! arc_deg = 360                    # defaults: 360, start_deg 0
//! radius_mm = 250                  # axis to the collimator face
//! matrix = [64, 48]                # bins along u and along the axis
//! pixel_mm = 4.8
//! time_per_view_s = 20
//!
//! [[window]]                       # centre_kev with width (fraction), or lower_kev, upper_kev
//! name = "photopeak"
//! centre_kev = 208.4
//! width = 0.2
//! [[window]]
//! name = "lower"
//! lower_kev = 166.7
//! upper_kev = 187.5
//! ```
//!
//! Unknown fields are refused by name; every value is checked with the field's name and range.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hope_core::{Vec3, Volume};
use hope_mc::simulation::{InsertShape, InsertSpec, MaterialSpec, PhantomSpec};
use hope_mc::{Phantom, Radionuclide};
use serde::{Deserialize, Serialize};

use crate::acquisition::{Acquisition, Body, Method, RunControl, Window};
use crate::collimator::{Collimator, HoleShape, SeptaMaterial};
use crate::crystal::Crystal;
use crate::{Error, Result};

/// The most `[[activity.region]]` sections.
pub const MAX_REGIONS: usize = 1_000;

/// The largest file read, bytes.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// Reads a TOML file, or JSON by extension.
pub(crate) fn read_toml_or_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = hope_core::fs::read_bounded(path, MAX_FILE_BYTES)
        .map_err(|e| Error::file(path, format!("cannot read: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|_| Error::file(path, "not UTF-8 text"))?;
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        serde_json::from_str(&text).map_err(|e| Error::file(path, e.to_string()))
    } else {
        toml::from_str(&text).map_err(|e| Error::file(path, e.to_string()))
    }
}

/// A region of uniform concentration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionSpec {
    /// Activity concentration, Bq/mL.
    pub bq_per_ml: f64,
    /// Every voxel of this phantom material...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub material: Option<String>,
    /// ...or a solid: `sphere`, `cylinder` or `box`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<String>,
    /// Centre (sphere, cylinder), mm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub centre_mm: Option<[f64; 3]>,
    /// Radius (sphere, cylinder), mm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radius_mm: Option<f64>,
    /// Axis (cylinder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub axis: Option<[f64; 3]>,
    /// Length (cylinder), mm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length_mm: Option<f64>,
    /// Lower corner (box), mm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_mm: Option<[f64; 3]>,
    /// Upper corner (box), mm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_mm: Option<[f64; 3]>,
}

/// The `[activity]` section.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivitySpec {
    /// A MetaImage of Bq/mL on the phantom's grid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mha: Option<PathBuf>,
    /// Regions, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub region: Vec<RegionSpec>,
}

fn default_crystal() -> f64 {
    9.525
}
fn default_resolution() -> f64 {
    0.099
}
fn default_intrinsic() -> f64 {
    3.8
}
fn default_gap() -> f64 {
    6.4
}
fn default_arc() -> f64 {
    360.0
}
fn default_true() -> bool {
    true
}
fn default_seed() -> u64 {
    1
}

/// The `[camera]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraSpec {
    /// A collimator of the library, by code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collimator: Option<String>,
    /// A collimator of one's own: `hexagonal`, `round` or `square` holes...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hole_shape: Option<String>,
    /// ...across the flats, mm,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hole_mm: Option<f64>,
    /// septa, mm,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub septa_mm: Option<f64>,
    /// and length, mm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length_mm: Option<f64>,
    /// NaI thickness, mm.
    #[serde(default = "default_crystal")]
    pub crystal_mm: f64,
    /// Energy resolution, FWHM / E at 140.5 keV.
    #[serde(default = "default_resolution")]
    pub energy_resolution: f64,
    /// Intrinsic spatial resolution, FWHM, mm.
    #[serde(default = "default_intrinsic")]
    pub intrinsic_fwhm_mm: f64,
    /// From the collimator's back face to the mean depth of interaction, mm.
    #[serde(default = "default_gap")]
    pub image_gap_mm: f64,
    /// Scatter in the collimator and lead x-rays.
    #[serde(default = "default_true")]
    pub collimator_scatter: bool,
    /// The septa's material, `lead` (default) or `tungsten`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub septa_material: Option<String>,
}

/// The `[orbit]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrbitSpec {
    /// Views over the arc.
    pub views: usize,
    /// Arc, degrees.
    #[serde(default = "default_arc")]
    pub arc_deg: f64,
    /// First view, degrees.
    #[serde(default)]
    pub start_deg: f64,
    /// Radius of rotation (axis to collimator face), mm.
    pub radius_mm: f64,
    /// Bins along u and along the axis.
    pub matrix: [usize; 2],
    /// Bin size, mm.
    pub pixel_mm: f64,
    /// Time per view, s.
    pub time_per_view_s: f64,
}

/// A `[[window]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    /// Its name.
    pub name: String,
    /// Centre, keV (with `width`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub centre_kev: Option<f64>,
    /// Relative width (0.2 for 20 %).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<f64>,
    /// Lower edge, keV (with `upper_kev`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower_kev: Option<f64>,
    /// Upper edge, keV.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper_kev: Option<f64>,
}

/// A SPECT acquisition file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpectSimulation {
    /// The radionuclide.
    pub radionuclide: String,
    /// Decays simulated.
    pub decays: u64,
    /// Seed.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Detection method (`forced-detection`, `angular-response`, `explicit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Materials of the file's own.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub materials: BTreeMap<String, MaterialSpec>,
    /// The phantom.
    pub phantom: PhantomSpec,
    /// The activity.
    pub activity: ActivitySpec,
    /// The camera.
    pub camera: CameraSpec,
    /// The orbit and the detector matrix.
    pub orbit: OrbitSpec,
    /// The energy windows.
    #[serde(rename = "window")]
    pub windows: Vec<WindowSpec>,
    /// The file's folder (relative paths are taken from it).
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// The file.
    #[serde(skip)]
    pub path: PathBuf,
}

impl CameraSpec {
    /// The collimator, the crystal and the intrinsic resolution and image gap (cm).
    pub(crate) fn parts(&self, path: &Path) -> Result<(Collimator, Crystal, f64, f64)> {
        let f = |name: &str, m: String| Error::field(path, format!("camera.{name}"), m);
        let custom = [
            self.hole_shape.is_some(),
            self.hole_mm.is_some(),
            self.septa_mm.is_some(),
            self.length_mm.is_some(),
        ];
        let collimator = match (&self.collimator, custom.iter().any(|c| *c)) {
            (Some(code), false) => {
                Collimator::by_code(code).map_err(|e| f("collimator", e.to_string()))?
            }
            (None, true) => {
                let shape = match self.hole_shape.as_deref() {
                    Some("hexagonal") => HoleShape::Hexagonal,
                    Some("round") => HoleShape::Round,
                    Some("square") => HoleShape::Square,
                    other => {
                        return Err(f(
                            "hole_shape",
                            format!("{other:?}; expected hexagonal, round or square"),
                        ));
                    }
                };
                let need = |v: Option<f64>, name: &str| {
                    v.ok_or_else(|| f(name, "missing (a collimator of one's own needs it)".into()))
                };
                Collimator::custom(
                    shape,
                    need(self.hole_mm, "hole_mm")? / 10.0,
                    need(self.septa_mm, "septa_mm")? / 10.0,
                    need(self.length_mm, "length_mm")? / 10.0,
                )
                .map_err(|e| f("hole_mm", e.to_string()))?
            }
            (Some(_), true) => {
                return Err(f(
                    "collimator",
                    "either a code or hole_shape, hole_mm, septa_mm and length_mm, not both".into(),
                ));
            }
            (None, false) => {
                return Err(f(
                    "collimator",
                    "missing; expected a code (SY-LEHR, GI-MEGP, ...) or hole_shape, hole_mm, \
                     septa_mm, length_mm"
                        .into(),
                ));
            }
        };
        let collimator = match &self.septa_material {
            Some(m) => collimator.with_material(
                SeptaMaterial::by_name(m).map_err(|e| f("septa_material", e.to_string()))?,
            ),
            None => collimator,
        };
        let crystal = Crystal {
            thickness_cm: self.crystal_mm / 10.0,
            energy_fwhm_at_140: self.energy_resolution,
        };
        crystal
            .check()
            .map_err(|e| f("crystal_mm or energy_resolution", e.to_string()))?;
        for (name, v, hi) in [
            ("intrinsic_fwhm_mm", self.intrinsic_fwhm_mm, 50.0),
            ("image_gap_mm", self.image_gap_mm, 100.0),
        ] {
            if !(v.is_finite() && (0.0..=hi).contains(&v)) {
                return Err(f(name, format!("{v}; expected 0 to {hi} mm")));
            }
        }
        Ok((
            collimator,
            crystal,
            self.intrinsic_fwhm_mm / 10.0,
            self.image_gap_mm / 10.0,
        ))
    }
}

impl WindowSpec {
    pub(crate) fn window(&self, path: &Path, i: usize) -> Result<Window> {
        let f = |name: &str, m: String| Error::field(path, format!("window[{i}].{name}"), m);
        if self.name.is_empty()
            || self.name.len() > 64
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(f(
                "name",
                format!("{:?}; expected 1 to 64 letters, digits, - or _", self.name),
            ));
        }
        let (lo, hi) = match (self.centre_kev, self.width, self.lower_kev, self.upper_kev) {
            (Some(c), Some(w), None, None) => {
                if !(c.is_finite() && c > 0.0 && w.is_finite() && w > 0.0 && w < 2.0) {
                    return Err(f(
                        "width",
                        format!(
                            "centre {c} keV, width {w}; expected a positive centre and 0 < width < 2"
                        ),
                    ));
                }
                (c * (1.0 - w / 2.0), c * (1.0 + w / 2.0))
            }
            (None, None, Some(l), Some(u)) => (l, u),
            _ => {
                return Err(f(
                    "centre_kev",
                    "expected centre_kev with width, or lower_kev with upper_kev".into(),
                ));
            }
        };
        if !(lo.is_finite() && hi.is_finite() && 0.0 <= lo && lo < hi && hi <= 2_000.0) {
            return Err(f(
                "lower_kev",
                format!("{lo} to {hi} keV; expected 0 <= lower < upper <= 2000"),
            ));
        }
        Ok(Window::new(&self.name, lo * 1e3, hi * 1e3))
    }
}

impl SpectSimulation {
    /// Reads and checks a file.
    pub fn from_file(path: &Path) -> Result<SpectSimulation> {
        let mut s: SpectSimulation = read_toml_or_json(path)?;
        s.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        s.path = path.to_path_buf();
        s.acquisition()?;
        s.nuclide()?;
        s.method()?;
        if s.decays == 0 || s.decays > 1 << 40 {
            return Err(Error::field(
                path,
                "decays",
                format!("{}; expected 1 to 2^40", s.decays),
            ));
        }
        Ok(s)
    }

    /// The radionuclide.
    pub fn nuclide(&self) -> Result<Radionuclide> {
        Radionuclide::by_name(&self.radionuclide)
            .map_err(|e| Error::field(&self.path, "radionuclide", e.to_string()))
    }

    /// The detection method.
    pub fn method(&self) -> Result<Method> {
        self.method
            .as_deref()
            .map_or(Ok(Method::ForcedDetection), Method::by_name)
            .map_err(|e| Error::field(&self.path, "method", e.to_string()))
    }

    /// How the file asks to run (`threads` as given).
    pub fn run_control(&self, threads: usize) -> RunControl {
        RunControl {
            decays: self.decays,
            seed: self.seed,
            threads,
        }
    }

    /// The camera and protocol.
    pub fn acquisition(&self) -> Result<Acquisition> {
        let path = &self.path;
        let (collimator, crystal, intrinsic, gap) = self.camera.parts(path)?;
        if self.windows.is_empty() || self.windows.len() > 16 {
            return Err(Error::field(
                path,
                "window",
                "expected 1 to 16 [[window]] sections",
            ));
        }
        let windows = self
            .windows
            .iter()
            .enumerate()
            .map(|(i, w)| w.window(path, i))
            .collect::<Result<Vec<_>>>()?;
        for (i, w) in windows.iter().enumerate() {
            if windows[..i].iter().any(|x| x.name == w.name) {
                return Err(Error::field(
                    path,
                    format!("window[{i}].name"),
                    format!("`{}` given twice", w.name),
                ));
            }
        }
        let o = &self.orbit;
        let acq = Acquisition {
            views: o.views,
            arc_deg: o.arc_deg,
            start_deg: o.start_deg,
            radius_cm: o.radius_mm / 10.0,
            matrix: o.matrix,
            pixel_cm: o.pixel_mm / 10.0,
            collimator,
            crystal,
            intrinsic_fwhm_cm: intrinsic,
            image_gap_cm: gap,
            windows,
            time_per_view_s: o.time_per_view_s,
            method: self.method()?,
            max_angle_deg: None,
            collimator_scatter: self.camera.collimator_scatter,
        };
        acq.check().map_err(|e| match e {
            Error::InvalidParameter { name, reason } => {
                Error::field(path, format!("orbit.{name}"), reason)
            }
            e => e,
        })?;
        Ok(acq)
    }

    /// The phantom.
    pub fn phantom(&self) -> Result<Phantom> {
        Ok(self.phantom.build(&self.materials, &self.base_dir)?)
    }

    /// The body: the phantom and the activity in Bq per voxel.
    pub fn body(&self) -> Result<(Phantom, Body)> {
        let phantom = self.phantom()?;
        let activity = self.activity(&phantom)?;
        let body = Body::new(&phantom, &activity)?;
        Ok((phantom, body))
    }

    /// The activity concentration, Bq/mL, on the phantom's grid.
    pub fn concentration(&self, phantom: &Phantom) -> Result<Volume<f32>> {
        let path = &self.path;
        let grid = phantom.grid().clone();
        let mut c = match &self.activity.mha {
            Some(p) => {
                let p = if p.is_absolute() {
                    p.clone()
                } else {
                    self.base_dir.join(p)
                };
                let v: Volume<f32> = hope_core::metaimage::read(&p)
                    .map_err(|e| Error::field(path, "activity.mha", e.to_string()))?;
                if !v.grid().same_geometry(&grid, 1e-3) {
                    return Err(Error::field(
                        path,
                        "activity.mha",
                        "its grid is not the phantom's",
                    ));
                }
                if let Some(bad) = v.data().iter().find(|x| !(x.is_finite() && **x >= 0.0)) {
                    return Err(Error::field(
                        path,
                        "activity.mha",
                        format!("a value {bad}; expected finite Bq/mL >= 0"),
                    ));
                }
                v
            }
            None => Volume::filled(grid.clone(), 0.0f32),
        };
        if self.activity.mha.is_none() && self.activity.region.is_empty() {
            return Err(Error::field(
                path,
                "activity",
                "expected mha or at least one [[activity.region]]",
            ));
        }
        if self.activity.region.len() > MAX_REGIONS {
            return Err(Error::field(
                path,
                "activity.region",
                format!(
                    "{} regions; at most {MAX_REGIONS}",
                    self.activity.region.len()
                ),
            ));
        }
        let names: Vec<String> = phantom
            .materials()
            .iter()
            .map(|m| m.name().to_string())
            .collect();
        for (i, r) in self.activity.region.iter().enumerate() {
            let f = |name: &str, m: String| {
                Error::field(path, format!("activity.region[{i}].{name}"), m)
            };
            if !(r.bq_per_ml.is_finite() && (0.0..=1e15).contains(&r.bq_per_ml)) {
                return Err(f(
                    "bq_per_ml",
                    format!("{}; expected 0 to 1e15", r.bq_per_ml),
                ));
            }
            let value = r.bq_per_ml as f32;
            match (&r.material, &r.shape) {
                (Some(name), None) => {
                    let given = [
                        r.centre_mm.is_some(),
                        r.radius_mm.is_some(),
                        r.axis.is_some(),
                        r.length_mm.is_some(),
                        r.min_mm.is_some(),
                        r.max_mm.is_some(),
                    ];
                    if given.iter().any(|g| *g) {
                        return Err(f(
                            "material",
                            "a material region takes no shape fields".into(),
                        ));
                    }
                    let m = match self.materials.get(name) {
                        // A file's material carries the name it was given.
                        Some(_) => Ok(name.clone()),
                        None => hope_mc::Material::builtin(name).map(|m| m.name().to_string()),
                    }
                    .map_err(|e| f("material", e.to_string()))?;
                    let Some(index) = names.iter().position(|n| *n == m) else {
                        return Err(f(
                            "material",
                            format!("`{name}`; the phantom has {}", names.join(", ")),
                        ));
                    };
                    for (v, mi) in c.data_mut().iter_mut().zip(phantom.material_indices()) {
                        if usize::from(*mi) == index {
                            *v = value;
                        }
                    }
                }
                (None, Some(shape)) => {
                    let need = |v: Option<f64>, n: &str| {
                        v.ok_or_else(|| f(n, format!("missing for a {shape}")))
                    };
                    let need3 = |v: Option<[f64; 3]>, n: &str| {
                        v.ok_or_else(|| f(n, format!("missing for a {shape}")))
                    };
                    let s = match shape.as_str() {
                        "sphere" => InsertShape::Sphere {
                            centre_mm: need3(r.centre_mm, "centre_mm")?,
                            radius_mm: need(r.radius_mm, "radius_mm")?,
                        },
                        "cylinder" => InsertShape::Cylinder {
                            centre_mm: need3(r.centre_mm, "centre_mm")?,
                            axis: r.axis.unwrap_or([0.0, 0.0, 1.0]),
                            radius_mm: need(r.radius_mm, "radius_mm")?,
                            length_mm: need(r.length_mm, "length_mm")?,
                        },
                        "box" => InsertShape::Box {
                            min_mm: need3(r.min_mm, "min_mm")?,
                            max_mm: need3(r.max_mm, "max_mm")?,
                        },
                        other => {
                            return Err(f(
                                "shape",
                                format!("`{other}`; expected sphere, cylinder or box"),
                            ));
                        }
                    };
                    let (lo, hi) = extent(&s);
                    let solid = InsertSpec::new("water", s)
                        .solid()
                        .map_err(|e| f("shape", e.to_string()))?;
                    fill(&mut c, &solid, value, lo, hi);
                }
                _ => return Err(f("material", "expected either material or shape".into())),
            }
        }
        Ok(c)
    }

    /// The activity, Bq per voxel.
    pub fn activity(&self, phantom: &Phantom) -> Result<Volume<f32>> {
        let c = self.concentration(phantom)?;
        let ml = phantom.grid().voxel_volume_mm3() / 1000.0;
        Ok(c.map(|v| (f64::from(*v) * ml) as f32))
    }
}

/// A box around a region's shape, mm.
fn extent(s: &InsertShape) -> ([f64; 3], [f64; 3]) {
    let ball = |c: [f64; 3], r: f64| {
        (
            [c[0] - r, c[1] - r, c[2] - r],
            [c[0] + r, c[1] + r, c[2] + r],
        )
    };
    match s {
        InsertShape::Sphere {
            centre_mm,
            radius_mm,
        } => ball(*centre_mm, *radius_mm),
        InsertShape::Cylinder {
            centre_mm,
            radius_mm,
            length_mm,
            ..
        } => ball(*centre_mm, radius_mm.hypot(length_mm / 2.0)),
        InsertShape::Box { min_mm, max_mm } => (*min_mm, *max_mm),
        _ => ([f64::NEG_INFINITY; 3], [f64::INFINITY; 3]),
    }
}

/// Sets the voxels of `v` inside `solid` to `value` times the fraction of the voxel inside (4 x
/// 4 x 4 points), keeping the rest of a partly covered voxel's old value; only voxels near the
/// box `lo`-`hi` (mm) are looked at.
fn fill(
    v: &mut Volume<f32>,
    solid: &hope_mc::simulation::Solid,
    value: f32,
    lo: [f64; 3],
    hi: [f64; 3],
) {
    let grid = v.grid().clone();
    let [nx, ny, nz] = grid.dims();
    let (mut first, mut last) = ([0usize; 3], [nx, ny, nz]);
    if lo.iter().chain(&hi).all(|x| x.is_finite()) {
        for c in 0..8 {
            let corner = Vec3::new(
                if c & 1 == 0 { lo[0] } else { hi[0] },
                if c & 2 == 0 { lo[1] } else { hi[1] },
                if c & 4 == 0 { lo[2] } else { hi[2] },
            );
            let idx = grid.point_to_index(corner);
            for a in 0..3 {
                let n = [nx, ny, nz][a] as f64;
                let (f, l) = (
                    (idx[a] - 1.0).clamp(0.0, n) as usize,
                    (idx[a] + 2.0).clamp(0.0, n) as usize,
                );
                if c == 0 {
                    first[a] = f;
                    last[a] = l;
                } else {
                    first[a] = first[a].min(f);
                    last[a] = last[a].max(l);
                }
            }
        }
    }
    let data = v.data_mut();
    for k in first[2]..last[2] {
        for j in first[1]..last[1] {
            for i in first[0]..last[0] {
                let mut inside = 0u32;
                for s in 0..64u32 {
                    let o = |x: u32| (f64::from(x) + 0.5) / 4.0 - 0.5;
                    let p: Vec3 = grid.index_to_point([
                        i as f64 + o(s % 4),
                        j as f64 + o((s / 4) % 4),
                        k as f64 + o(s / 16),
                    ]);
                    if solid.contains(p) {
                        inside += 1;
                    }
                }
                if inside > 0 {
                    let f = inside as f32 / 64.0;
                    let o = (k * ny + j) * nx + i;
                    data[o] = data[o] * (1.0 - f) + value * f;
                }
            }
        }
    }
}
