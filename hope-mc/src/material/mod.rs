//! Materials: mixtures of elements by mass fraction with a density, a built-in library (ICRU-44 and
//! NIST compositions), and their photon coefficients: mass attenuation mu/rho per process and the
//! mass energy-absorption coefficient mu_en/rho from hope-mc's own energy-transfer model.

use crate::data::relaxation::{Relaxation, mean_fluorescence};
use crate::data::{self, ELECTRON_MASS_EV, ElementData, Process, element};
use crate::{Error, Result};

pub mod hounsfield;

/// A built-in material as generated from its sources (see `tools/gen_materials.py`).
#[derive(Debug)]
pub(crate) struct MaterialData {
    pub name: &'static str,
    pub density: f64,
    pub composition: &'static [(u8, f64)],
    pub source: &'static str,
}

#[path = "../data/materials.rs"]
#[rustfmt::skip]
mod materials;

/// A material: elements by mass fraction, and a nominal density (g/cm^3; a voxel may scale it).
#[derive(Debug, Clone, PartialEq)]
pub struct Material {
    name: String,
    density: f64,
    /// (Z, mass fraction), fractions summing to 1.
    composition: Vec<(u8, f64)>,
}

impl Material {
    /// A material from (Z, mass fraction) pairs; the fractions are normalised to 1. Errors name
    /// the problem: unknown element, negative or zero total fraction, non-positive density.
    pub fn new(name: &str, density: f64, composition: &[(u8, f64)]) -> Result<Self> {
        let bad = |m: String| Error::Material {
            name: name.to_string(),
            message: m,
        };
        if !(density.is_finite() && density > 0.0) {
            return Err(bad(format!(
                "density {density}: expected a positive number of g/cm3"
            )));
        }
        if composition.is_empty() {
            return Err(bad("no elements".into()));
        }
        for &(z, w) in composition {
            if element(z).is_none() {
                return Err(bad(format!("element Z = {z}: expected 1 to 100")));
            }
            if !(w.is_finite() && w >= 0.0) {
                return Err(bad(format!("mass fraction {w} of Z = {z}: expected >= 0")));
            }
        }
        let total: f64 = composition.iter().map(|c| c.1).sum();
        if total <= 0.0 {
            return Err(bad("mass fractions sum to zero".into()));
        }
        Ok(Self {
            name: name.to_string(),
            density,
            composition: composition
                .iter()
                .filter(|c| c.1 > 0.0)
                .map(|&(z, w)| (z, w / total))
                .collect(),
        })
    }

    /// A mixture of materials by mass fraction (`parts`: material and its fraction), with the
    /// given density.
    pub fn mixture(name: &str, density: f64, parts: &[(&Material, f64)]) -> Result<Self> {
        let mut composition: Vec<(u8, f64)> = Vec::new();
        for (m, w) in parts {
            for &(z, f) in &m.composition {
                match composition.iter_mut().find(|c| c.0 == z) {
                    Some(c) => c.1 += w * f,
                    None => composition.push((z, w * f)),
                }
            }
        }
        composition.sort_by_key(|c| c.0);
        Self::new(name, density, &composition)
    }

    /// A material of the built-in library by name (see [`Material::library`]).
    pub fn builtin(name: &str) -> Result<Self> {
        let m = materials::MATERIALS
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| Error::Material {
                name: name.to_string(),
                message: format!(
                    "not in the built-in library; known: {}",
                    Self::library().collect::<Vec<_>>().join(", ")
                ),
            })?;
        Self::new(m.name, m.density, m.composition)
    }

    /// The names of the built-in materials.
    pub fn library() -> impl Iterator<Item = &'static str> {
        materials::MATERIALS.iter().map(|m| m.name)
    }

    /// Where a built-in material's composition comes from.
    pub fn library_source(name: &str) -> Option<&'static str> {
        materials::MATERIALS
            .iter()
            .find(|m| m.name == name)
            .map(|m| m.source)
    }

    /// The same material at another density (g/cm^3), as a voxel or an insert may give it.
    /// The density matters beyond scaling: the density-effect correction of the electron
    /// stopping power depends on it.
    pub fn with_density(&self, density: f64) -> Self {
        Self {
            density,
            ..self.clone()
        }
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Nominal density, g/cm^3.
    pub fn density(&self) -> f64 {
        self.density
    }

    /// (Z, mass fraction) pairs.
    pub fn composition(&self) -> &[(u8, f64)] {
        &self.composition
    }

    fn elements(&self) -> impl Iterator<Item = (&'static ElementData, f64)> + '_ {
        self.composition
            .iter()
            .filter_map(|&(z, w)| element(z).map(|e| (e, w)))
    }

    /// Mass attenuation coefficient of one process at `energy` (eV), cm^2/g.
    pub fn mu_rho_process(&self, process: Process, energy: f64) -> f64 {
        self.elements()
            .map(|(e, w)| w * e.per_gram() * e.cross_section(process, energy))
            .sum()
    }

    /// Total mass attenuation coefficient (coherent included) at `energy` (eV), cm^2/g.
    pub fn mu_rho(&self, energy: f64) -> f64 {
        [
            Process::Coherent,
            Process::Incoherent,
            Process::Photoelectric,
            Process::Pair,
        ]
        .into_iter()
        .map(|p| self.mu_rho_process(p, energy))
        .sum()
    }

    /// Mass energy-absorption coefficient at `energy` (eV), cm^2/g: the energy transferred to
    /// electrons per interaction, per process, with radiative losses of the electrons neglected
    /// (g = 0; below 2 MeV in water g < 0.5 %, see `manual::physics`):
    /// photoelectric, the photon energy less the mean fluorescence energy emitted (vacancy in the
    /// K or L shells, yields and lines from xraylib, shell chosen by the edge jump ratios, and
    /// the L line that may follow a K line: [`Relaxation::Full`]);
    /// incoherent, the mean electron energy of Klein-Nishina scattering weighted by S(x, Z)/Z;
    /// pair, the photon energy less 2 m c^2; coherent, nothing.
    pub fn mu_en_rho(&self, energy: f64) -> f64 {
        self.elements()
            .map(|(e, w)| {
                let k = w * e.per_gram();
                let pe = e.cross_section(Process::Photoelectric, energy)
                    * (1.0 - mean_fluorescence(e, energy, Relaxation::Full) / energy);
                let inc =
                    e.cross_section(Process::Incoherent, energy) * transfer_fraction(e, energy);
                let pair = e.cross_section(Process::Pair, energy)
                    * (1.0 - 2.0 * ELECTRON_MASS_EV / energy).max(0.0);
                k * (pe + inc + pair)
            })
            .sum()
    }
}

/// Energies of the per-element tables of the incoherent transfer fraction: uniform in ln E.
const TRANSFER_POINTS: usize = 257;
const TRANSFER_E_MIN: f64 = 1.0e3;
const TRANSFER_E_MAX: f64 = 100.0e6;

/// [`incoherent_transfer_fraction`] interpolated (linearly in ln E) from a table of 257 energies
/// computed once per element, on first use: the integral is smooth in energy, and evaluating it
/// at every energy of every material's run-time table cost seconds at start-up.
pub(crate) fn transfer_fraction(e: &ElementData, energy: f64) -> f64 {
    static TABLES: [std::sync::OnceLock<Vec<f64>>; 100] =
        [const { std::sync::OnceLock::new() }; 100];
    tabulated(&TABLES[usize::from(e.z.clamp(1, 100)) - 1], energy, |en| {
        incoherent_transfer_fraction(e, en)
    })
}

/// The free-electron (Klein-Nishina) transfer fraction, tabulated as [`transfer_fraction`] is.
pub(crate) fn free_transfer_fraction(energy: f64) -> f64 {
    static TABLE: std::sync::OnceLock<Vec<f64>> = std::sync::OnceLock::new();
    tabulated(&TABLE, energy, |en| klein_nishina_transfer(en, |_| 1.0))
}

/// `f` at `energy`, interpolated linearly in ln E from its values at 257 energies, computed on
/// first use into `slot`.
fn tabulated(slot: &std::sync::OnceLock<Vec<f64>>, energy: f64, f: impl Fn(f64) -> f64) -> f64 {
    let step = (TRANSFER_E_MAX / TRANSFER_E_MIN).ln() / (TRANSFER_POINTS - 1) as f64;
    let table = slot.get_or_init(|| {
        (0..TRANSFER_POINTS)
            .map(|i| f(TRANSFER_E_MIN * (i as f64 * step).exp()))
            .collect()
    });
    let t = ((energy.max(TRANSFER_E_MIN) / TRANSFER_E_MIN).ln() / step)
        .clamp(0.0, (TRANSFER_POINTS - 1) as f64 - 1e-9);
    let i = t as usize;
    table[i] + (table[i + 1] - table[i]) * (t - i as f64)
}

/// The mean fraction of the photon energy given to the electron in incoherent scattering:
/// Klein-Nishina weighted by S(x, Z)/Z (free electrons where the element has no S data: Es,
/// Fm, as the sampling does).
pub(crate) fn incoherent_transfer_fraction(e: &ElementData, energy: f64) -> f64 {
    if e.scattering_function.last().is_none_or(|s| *s <= 0.0) {
        return klein_nishina_transfer(energy, |_| 1.0);
    }
    let z = f64::from(e.z);
    klein_nishina_transfer(energy, |mu| {
        data::on_x_grid(e.scattering_function, momentum_transfer(energy, mu)) / z
    })
}

/// The mean fraction of the photon energy given to the electron by Klein-Nishina scattering
/// weighted by `s(cos theta)`, integrated over cos theta (Simpson's rule, 400 intervals).
pub(crate) fn klein_nishina_transfer(energy: f64, s: impl Fn(f64) -> f64) -> f64 {
    let k = energy / ELECTRON_MASS_EV;
    let n = 400;
    let (mut num, mut den) = (0.0, 0.0);
    for i in 0..=n {
        let mu = -1.0 + 2.0 * f64::from(i) / f64::from(n);
        let ratio = 1.0 / (1.0 + k * (1.0 - mu)); // E'/E
        let kn = ratio * ratio * (ratio + 1.0 / ratio - (1.0 - mu * mu));
        let s = s(mu);
        let weight = if i == 0 || i == n {
            1.0
        } else if i % 2 == 1 {
            4.0
        } else {
            2.0
        };
        num += weight * kn * s * (1.0 - ratio);
        den += weight * kn * s;
    }
    if den > 0.0 { num / den } else { 0.0 }
}

/// Momentum transfer x = sin(theta/2)/lambda (1/Angstrom) of a photon of `energy` (eV) scattered
/// by an angle whose cosine is `mu`.
pub(crate) fn momentum_transfer(energy: f64, mu: f64) -> f64 {
    // lambda (Angstrom) = h c / E = 12398.42 eV Angstrom / E.
    let sin_half = ((1.0 - mu) / 2.0).max(0.0).sqrt();
    sin_half * energy / 12_398.419_84
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_and_validation() {
        assert!(Material::library().count() >= 30);
        let w = Material::builtin("water").unwrap();
        assert_eq!(w.density(), 1.0);
        assert!((w.composition().iter().map(|c| c.1).sum::<f64>() - 1.0).abs() < 1e-12);
        let e = Material::builtin("unobtainium").unwrap_err().to_string();
        assert!(e.contains("unobtainium") && e.contains("water"), "{e}");
        assert!(Material::new("x", -1.0, &[(1, 1.0)]).is_err());
        assert!(
            Material::new("x", 1.0, &[(101, 1.0)])
                .unwrap_err()
                .to_string()
                .contains("101")
        );
        let m = Material::new("x", 1.0, &[(1, 2.0), (8, 2.0)]).unwrap();
        assert_eq!(m.composition(), &[(1, 0.5), (8, 0.5)]);
    }
}
