//! CT numbers (HU) to materials and mass densities, after the method of Schneider, Bortfeld and
//! Schlegel (Phys Med Biol 45:459, 2000): the density follows a piecewise-linear calibration
//! curve of HU, and the composition is chosen by HU interval, with the bone range divided into
//! steps, each a mixture of a soft tissue and a bone whose proportions follow the density.
//!
//! The calibration is a plain table that users replace with their scanner's (TOML or JSON):
//!
//! ```toml
//! # HU -> density (g/cm^3), linear between points, constant beyond the ends
//! density = [[-1000, 0.00121], [-98, 0.93], [14, 1.03], [100, 1.1199], [1600, 1.9642], [3000, 2.8]]
//!
//! [[segment]]                 # up to max_hu (inclusive): one material
//! max_hu = -950
//! material = "air"
//!
//! [[segment]]                 # from the previous max_hu: `steps` mixtures of two materials
//! max_hu = 3000
//! mix = ["soft_tissue_icrp", "cortical_bone_icrp"]
//! steps = 10
//! ```
//!
//! In a mixture step the volume fraction of the second material is v = (rho - rho_a) / (rho_b -
//! rho_a) at the density rho of the step's middle HU (clamped to 0..1), so its mass fraction is
//! w = v rho_b / rho: the two-component model that Schneider et al. used between marrow and
//! cortical bone.
//!
//! The default table ([`HuTable::default_table`]) uses the density points of the calibration
//! distributed with GATE (`Schneider2000DensitiesTable.txt`) and compositions from the built-in
//! library (ICRP/ICRU tissues as given by NIST), not Schneider's 24 tissue compositions.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Error, Material, Result};

/// One HU interval of the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HuSegment {
    /// Upper end of the interval (inclusive); it starts above the previous segment's.
    pub max_hu: f64,
    /// One built-in material for the whole interval.
    #[serde(default)]
    pub material: Option<String>,
    /// Or two built-in materials mixed by density.
    #[serde(default)]
    pub mix: Option<[String; 2]>,
    /// Mixture steps in the interval (default 10).
    #[serde(default)]
    pub steps: Option<usize>,
}

/// A HU calibration: density curve and composition intervals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HuTable {
    /// (HU, g/cm^3) points, increasing HU.
    pub density: Vec<[f64; 2]>,
    /// Intervals, increasing `max_hu`; the last one takes every higher value too.
    pub segment: Vec<HuSegment>,
}

fn bad(field: &str, message: impl Into<String>) -> Error {
    Error::Simulation {
        field: field.to_string(),
        message: message.into(),
        source: None,
    }
}

/// `field` refused by another part of the library.
fn refused(field: &str, message: &str, source: Error) -> Error {
    Error::Simulation {
        field: field.to_string(),
        message: message.to_string(),
        source: Some(Box::new(source)),
    }
}

/// A table ready to convert: the materials and, per interval, its upper HU and material index.
#[derive(Debug, Clone)]
pub struct HuConverter {
    table: HuTable,
    pub(crate) materials: Vec<Material>,
    /// (upper HU, material index), increasing.
    bins: Vec<(f64, u16)>,
}

impl HuTable {
    /// The default calibration (see the module documentation).
    pub fn default_table() -> Self {
        let seg = |max_hu: f64, material: &str| HuSegment {
            max_hu,
            material: Some(material.into()),
            mix: None,
            steps: None,
        };
        Self {
            // GATE's Schneider2000DensitiesTable.txt points.
            density: vec![
                [-1000.0, 0.00121],
                [-98.0, 0.93],
                [-97.0, 0.930486],
                [14.0, 1.03],
                [23.0, 1.031],
                [100.0, 1.1199],
                [101.0, 1.0762],
                [1600.0, 1.9642],
                [3000.0, 2.8],
            ],
            segment: vec![
                seg(-950.0, "air"),
                seg(-120.0, "lung_icrp"),
                seg(-20.0, "adipose_icrp"),
                seg(100.0, "soft_tissue_icrp"),
                HuSegment {
                    max_hu: 3000.0,
                    material: None,
                    mix: Some(["soft_tissue_icrp".into(), "cortical_bone_icrp".into()]),
                    steps: Some(12),
                },
            ],
        }
    }

    /// Reads a table from a TOML or JSON file; errors name the file and the field.
    pub fn from_file(path: &Path) -> Result<Self> {
        crate::files::read_toml_or_json(path, "HU table")
    }

    /// The density (g/cm^3) at `hu`: linear between the points, constant beyond the ends.
    pub fn density_at(&self, hu: f64) -> f64 {
        let d = &self.density;
        let i = d.partition_point(|p| p[0] <= hu);
        if i == 0 {
            return d[0][1];
        }
        if i >= d.len() {
            return d[d.len() - 1][1];
        }
        let ([h0, r0], [h1, r1]) = (d[i - 1], d[i]);
        if h1 <= h0 {
            return r1;
        }
        r0 + (r1 - r0) * (hu - h0) / (h1 - h0)
    }

    /// Checks the table and builds its materials.
    pub fn prepare(self) -> Result<HuConverter> {
        if self.density.len() < 2 {
            return Err(bad("density", "fewer than two points"));
        }
        for (i, w) in self.density.windows(2).enumerate() {
            if w[1][0] < w[0][0] {
                return Err(bad(
                    &format!("density[{}]", i + 1),
                    format!("HU {} after {}; expected increasing HU", w[1][0], w[0][0]),
                ));
            }
        }
        if let Some(i) = self
            .density
            .iter()
            .position(|p| !(p[0].is_finite() && p[1].is_finite() && p[1] > 0.0))
        {
            return Err(bad(
                &format!("density[{i}]"),
                format!(
                    "{:?}; expected a finite HU and a positive density",
                    self.density[i]
                ),
            ));
        }
        if self.segment.is_empty() {
            return Err(bad("segment", "no segments"));
        }
        // One bin per material segment and per step of a mixture: bounded like the materials
        // (a phantom indexes them with 16 bits), so that a table cannot ask for unbounded work.
        let bins_asked = self
            .segment
            .iter()
            .map(|s| match s.mix {
                Some(_) => s.steps.unwrap_or(10),
                None => 1,
            })
            .fold(0usize, usize::saturating_add);
        if bins_asked > usize::from(u16::MAX) {
            return Err(bad(
                "segment",
                format!(
                    "{bins_asked} materials (segments and mixture steps); expected at most {}",
                    u16::MAX
                ),
            ));
        }
        let mut materials: Vec<Material> = Vec::new();
        let mut index_of = |m: Material| -> Result<u16> {
            let i = materials.iter().position(|x| x == &m).unwrap_or_else(|| {
                materials.push(m);
                materials.len() - 1
            });
            u16::try_from(i).map_err(|_| bad("segment", "more than 65535 materials"))
        };
        let mut bins = Vec::new();
        let mut lower = self.density[0][0].min(-1024.0);
        for (i, s) in self.segment.iter().enumerate() {
            let field = format!("segment[{i}]");
            if !s.max_hu.is_finite() || (i > 0 && s.max_hu <= lower) {
                return Err(bad(
                    &format!("{field}.max_hu"),
                    if i == 0 {
                        format!("{}; expected a finite HU", s.max_hu)
                    } else {
                        format!(
                            "{}; expected a finite HU above the previous segment's {lower}",
                            s.max_hu
                        )
                    },
                ));
            }
            let builtin = |name: &str, f: &str| {
                Material::builtin(name)
                    .map_err(|e| refused(&format!("{field}.{f}"), "not a built-in material", e))
            };
            match (&s.material, &s.mix) {
                (Some(m), None) => {
                    bins.push((s.max_hu, index_of(builtin(m, "material")?)?));
                }
                (None, Some([a, b])) => {
                    let (ma, mb) = (builtin(a, "mix")?, builtin(b, "mix")?);
                    let steps = s.steps.unwrap_or(10);
                    if steps == 0 || steps > 1000 {
                        return Err(bad(
                            &format!("{field}.steps"),
                            format!("{steps}; expected 1 to 1000"),
                        ));
                    }
                    let from = if i == 0 { s.max_hu.min(lower) } else { lower };
                    for k in 0..steps {
                        let h0 = from + (s.max_hu - from) * k as f64 / steps as f64;
                        let h1 = from + (s.max_hu - from) * (k + 1) as f64 / steps as f64;
                        let rho = self.density_at(0.5 * (h0 + h1));
                        let (ra, rb) = (ma.density(), mb.density());
                        let v = if (rb - ra).abs() < 1e-12 {
                            0.5
                        } else {
                            ((rho - ra) / (rb - ra)).clamp(0.0, 1.0)
                        };
                        let wb = (v * rb / (v * rb + (1.0 - v) * ra)).clamp(0.0, 1.0);
                        let mixed = Material::mixture(
                            &format!("{a}+{b} {:.0}%", wb * 100.0),
                            rho,
                            &[(&ma, 1.0 - wb), (&mb, wb)],
                        )
                        .map_err(|e| refused(&field, "the mixture cannot be made", e))?;
                        bins.push((h1, index_of(mixed)?));
                    }
                }
                _ => {
                    return Err(bad(&field, "expected exactly one of `material` and `mix`"));
                }
            }
            lower = s.max_hu;
        }
        Ok(HuConverter {
            table: self,
            materials,
            bins,
        })
    }
}

impl HuConverter {
    /// The materials the table uses (index = material number in phantoms it makes).
    pub fn materials(&self) -> &[Material] {
        &self.materials
    }

    /// Material index and density (g/cm^3) for one CT number.
    pub fn convert(&self, hu: f64) -> (u16, f32) {
        let hu = if hu.is_finite() { hu } else { -1000.0 };
        let i = self
            .bins
            .partition_point(|b| b.0 < hu)
            .min(self.bins.len() - 1);
        (self.bins[i].1, self.table.density_at(hu) as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_table_gives_tissues_their_densities_and_compositions() {
        let t = HuTable::default_table();
        // Density curve through the calibration points.
        assert!((t.density_at(-1000.0) - 0.00121).abs() < 1e-9);
        assert!((t.density_at(14.0) - 1.03).abs() < 1e-9);
        assert!((t.density_at(850.5) - (1.0762 + (1.9642 - 1.0762) * 0.5)).abs() < 1e-9);
        assert!((t.density_at(-5000.0) - 0.00121).abs() < 1e-9);
        assert!((t.density_at(9000.0) - 2.8).abs() < 1e-9);
        let c = t.prepare().unwrap_or_else(|e| panic!("{e}"));
        let name = |hu: f64| {
            c.materials()[usize::from(c.convert(hu).0)]
                .name()
                .to_string()
        };
        assert_eq!(name(-1000.0), "air");
        assert_eq!(name(-700.0), "lung_icrp");
        assert_eq!(name(-80.0), "adipose_icrp");
        assert_eq!(name(40.0), "soft_tissue_icrp");
        // Bone: more calcium as HU rises.
        let ca = |hu: f64| {
            let m = &c.materials()[usize::from(c.convert(hu).0)];
            m.composition()
                .iter()
                .find(|(z, _)| *z == 20)
                .map_or(0.0, |x| x.1)
        };
        assert!(ca(300.0) > 0.01 && ca(300.0) < ca(1000.0) && ca(1000.0) < ca(2500.0));
        assert!(ca(2500.0) <= 0.21 + 1e-9);
        // The mixture's mu/rho lies between its parts'.
        let soft = Material::builtin("soft_tissue_icrp").unwrap_or_else(|e| panic!("{e}"));
        let bone = Material::builtin("cortical_bone_icrp").unwrap_or_else(|e| panic!("{e}"));
        let mid = &c.materials()[usize::from(c.convert(800.0).0)];
        let e = 30e3;
        assert!(mid.mu_rho(e) > soft.mu_rho(e) && mid.mu_rho(e) < bone.mu_rho(e));
        // NaN reads as air.
        assert_eq!(c.convert(f64::NAN).0, c.convert(-1000.0).0);
    }

    #[test]
    fn user_tables_are_read_and_checked() {
        let dir = std::env::temp_dir().join(format!("hope-mc-hu-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let good = dir.join("hu.toml");
        std::fs::write(
            &good,
            "density = [[-1000, 0.001], [0, 1.0], [2000, 2.0]]\n\
             [[segment]]\nmax_hu = -500\nmaterial = \"air\"\n\
             [[segment]]\nmax_hu = 3000\nmaterial = \"water\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let c = HuTable::from_file(&good)
            .and_then(HuTable::prepare)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.materials().len(), 2);
        assert_eq!(c.convert(0.0), (1, 1.0));
        let cases = [
            (
                "density = [[0, 1.0]]\n[[segment]]\nmax_hu = 0\nmaterial = \"water\"\n",
                "density",
            ),
            (
                "density = [[0, 1.0], [-10, 1.0]]\n[[segment]]\nmax_hu = 0\nmaterial = \"water\"\n",
                "density[1]",
            ),
            (
                "density = [[0, 1.0], [10, 1.0]]\n[[segment]]\nmax_hu = 0\nmaterial = \"unobtainium\"\n",
                "segment[0].material",
            ),
            (
                "density = [[0, 1.0], [10, 1.0]]\n[[segment]]\nmax_hu = 0\nmaterial = \"water\"\n\
                 [[segment]]\nmax_hu = -5\nmaterial = \"water\"\n",
                "segment[1].max_hu",
            ),
            (
                "density = [[0, 1.0], [10, 1.0]]\n[[segment]]\nmax_hu = 0\n",
                "segment[0]",
            ),
        ];
        for (text, field) in cases {
            let p = dir.join("bad.toml");
            std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
            let err = HuTable::from_file(&p)
                .and_then(HuTable::prepare)
                .map(|_| ())
                .unwrap_err()
                .to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
        std::fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    }
}
