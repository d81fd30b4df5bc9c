//! Photon physics at run time: per-material coefficient tables on a uniform ln(E) grid, the
//! majorant for Woodcock tracking, and the sampling of each interaction.

use crate::data::{ELECTRON_MASS_EV, ElementData, Process, X_GRID};
use crate::material::{Material, momentum_transfer};
use crate::rng::Rng;

use super::options::PhysicsOptions;
use super::tables::{EnergyGrid, N_GRID, interp};

/// Coefficients of one material on the grid (cm^2/g).
#[derive(Debug, Clone)]
pub(crate) struct MaterialTable {
    pub coherent: Vec<f64>,
    pub incoherent: Vec<f64>,
    pub photoelectric: Vec<f64>,
    pub pair: Vec<f64>,
    pub total: Vec<f64>,
    pub mu_en: Vec<f64>,
    /// (element, w N_A / A) for choosing the element of an interaction.
    pub elements: Vec<(&'static ElementData, f64)>,
    /// Photon cutoff in this material, eV.
    pub cutoff: f64,
    /// Per selectable process (photoelectric, incoherent, coherent) and element, the element's
    /// part of the material's mu/rho on the grid, process after process (empty for one element).
    pub partial: Vec<f64>,
}

/// The processes whose element is chosen, in the order of [`MaterialTable::partial`].
const SELECTED: [Process; 3] = [
    Process::Photoelectric,
    Process::Incoherent,
    Process::Coherent,
];

/// Everything the transport needs about photons in the materials of a phantom.
#[derive(Debug, Clone)]
pub struct PhotonPhysics {
    pub(crate) grid: EnergyGrid,
    pub(crate) materials: Vec<MaterialTable>,
    pub(crate) options: PhysicsOptions,
    /// Per element used: cumulative of F(x)^2 over x^2 on X_GRID (coherent angle sampling).
    rayleigh: Vec<(u8, Vec<f64>)>,
}

impl PhotonPhysics {
    /// Tables for `materials` (index = material number in the phantom).
    pub fn new(materials: &[Material], options: PhysicsOptions) -> Self {
        let grid = EnergyGrid::new();
        let mut rayleigh: Vec<(u8, Vec<f64>)> = Vec::new();
        let tables = materials
            .iter()
            .map(|m| {
                let energies: Vec<f64> = (0..N_GRID).map(|i| grid.energy(i)).collect();
                let per = |p: Process| -> Vec<f64> {
                    energies.iter().map(|&e| m.mu_rho_process(p, e)).collect()
                };
                let coherent = if options.coherent {
                    per(Process::Coherent)
                } else {
                    vec![0.0; N_GRID]
                };
                let incoherent = per(Process::Incoherent);
                let photoelectric = per(Process::Photoelectric);
                let pair = per(Process::Pair);
                let total = (0..N_GRID)
                    .map(|i| coherent[i] + incoherent[i] + photoelectric[i] + pair[i])
                    .collect();
                let mu_en = energies.iter().map(|&e| m.mu_en_rho(e)).collect();
                let elements: Vec<(&'static ElementData, f64)> = m
                    .composition()
                    .iter()
                    .filter_map(|&(z, w)| crate::data::element(z).map(|e| (e, w * e.per_gram())))
                    .collect();
                for (e, _) in &elements {
                    if !rayleigh.iter().any(|(z, _)| *z == e.z) {
                        rayleigh.push((e.z, rayleigh_cumulative(e)));
                    }
                }
                let partial = if elements.len() > 1 {
                    let energies = &energies;
                    SELECTED
                        .iter()
                        .flat_map(|&p| {
                            elements.iter().flat_map(move |&(el, k)| {
                                energies
                                    .iter()
                                    .map(move |&e| k * el.cross_section(p, e))
                                    .collect::<Vec<_>>()
                            })
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                let cutoff = options
                    .material_cutoffs_ev
                    .get(m.name())
                    .map_or(options.photon_cutoff_ev, |c| {
                        c.max(options.photon_cutoff_ev)
                    });
                MaterialTable {
                    cutoff,
                    partial,
                    coherent,
                    incoherent,
                    photoelectric,
                    pair,
                    total,
                    mu_en,
                    elements,
                }
            })
            .collect();
        Self {
            grid,
            materials: tables,
            options,
            rayleigh,
        }
    }

    /// mu/rho (cm^2/g) of material `m` at `e` (eV), as transported.
    #[inline]
    pub fn mu_rho(&self, m: usize, e: f64) -> f64 {
        interp(&self.materials[m].total, self.grid.locate(e))
    }

    /// mu_en/rho (cm^2/g) of material `m` at `e` (eV).
    #[inline]
    pub fn mu_en_rho(&self, m: usize, e: f64) -> f64 {
        interp(&self.materials[m].mu_en, self.grid.locate(e))
    }

    /// Picks the element of an interaction of process `SELECTED[process]` in material `m` at
    /// grid position `at`, in proportion to the elements' tabulated parts.
    fn pick_element(
        &self,
        m: usize,
        process: usize,
        at: (usize, f64),
        rng: &mut Rng,
    ) -> &'static ElementData {
        let t = &self.materials[m];
        let els = &t.elements;
        if els.len() == 1 {
            return els[0].0;
        }
        let n = els.len();
        let rows = &t.partial[process * n * N_GRID..(process + 1) * n * N_GRID];
        let weight = |i: usize| interp(&rows[i * N_GRID..(i + 1) * N_GRID], at).max(0.0);
        let total: f64 = (0..n).map(weight).sum();
        let mut u = rng.uniform() * total;
        for (i, (el, _)) in els[..n - 1].iter().enumerate() {
            let w = weight(i);
            if u < w {
                return el;
            }
            u -= w;
        }
        els[n - 1].0
    }

    /// Samples an interaction of a photon of energy `e` in material `m`.
    pub(crate) fn interact(&self, m: usize, e: f64, rng: &mut Rng) -> Interaction {
        let t = &self.materials[m];
        let at = self.grid.locate(e);
        let (coh, inc, pe) = (
            interp(&t.coherent, at),
            interp(&t.incoherent, at),
            interp(&t.photoelectric, at),
        );
        let pair = interp(&t.pair, at);
        let mut u = rng.uniform() * (coh + inc + pe + pair);
        if u < pe {
            let el = self.pick_element(m, 0, at, rng);
            return self.photoelectric(el, e, rng);
        }
        u -= pe;
        if u < inc {
            let el = self.pick_element(m, 1, at, rng);
            let (cos, e1) = sample_incoherent(el, e, rng);
            return Interaction::Scatter {
                cos,
                energy: e1,
                deposit: e - e1,
            };
        }
        u -= inc;
        if u < coh {
            let el = self.pick_element(m, 2, at, rng);
            let cos = self.sample_coherent(el, e, rng);
            return Interaction::Scatter {
                cos,
                energy: e,
                deposit: 0.0,
            };
        }
        Interaction::Pair {
            deposit: (e - 2.0 * ELECTRON_MASS_EV).max(0.0),
        }
    }

    fn photoelectric(&self, el: &ElementData, e: f64, rng: &mut Rng) -> Interaction {
        if self.options.fluorescence {
            let mut u = rng.uniform();
            for edge in el.edges.iter().filter(|x| f64::from(x.energy) <= e) {
                let p = 1.0 - 1.0 / f64::from(edge.jump).max(1.0);
                if u < p {
                    // A vacancy in this shell: a fluorescence photon with the yield's probability.
                    if !edge.lines.is_empty() && rng.uniform() < f64::from(edge.fluorescence_yield)
                    {
                        let mut v = rng.uniform();
                        let mut line = f64::from(edge.lines[edge.lines.len() - 1].0);
                        for &(le, pr) in edge.lines {
                            if v < f64::from(pr) {
                                line = f64::from(le);
                                break;
                            }
                            v -= f64::from(pr);
                        }
                        return Interaction::Absorb {
                            deposit: e - line,
                            fluorescence: Some(line),
                        };
                    }
                    break;
                }
                u = (u - p) / (1.0 - p);
            }
        }
        Interaction::Absorb {
            deposit: e,
            fluorescence: None,
        }
    }

    /// cos(theta) of coherent scattering: x^2 sampled from F(x)^2 up to x_max^2, accepted with
    /// the Thomson factor (1 + cos^2)/2.
    fn sample_coherent(&self, el: &ElementData, e: f64, rng: &mut Rng) -> f64 {
        let Some((_, cum)) = self.rayleigh.iter().find(|(z, _)| *z == el.z) else {
            return 1.0;
        };
        let x_max = e / 12_398.419_84;
        let x2_max = x_max * x_max;
        let a_max = cumulative_at(cum, x2_max);
        loop {
            let target = rng.uniform() * a_max;
            let x2 = inverse_cumulative(cum, target).min(x2_max);
            let cos = 1.0 - 2.0 * x2 / x2_max;
            if rng.uniform() * 2.0 < 1.0 + cos * cos {
                return cos;
            }
        }
    }
}

/// What an interaction did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Interaction {
    /// The photon goes on with a new energy at an angle; `deposit` is given to the medium.
    Scatter { cos: f64, energy: f64, deposit: f64 },
    /// The photon is absorbed; a fluorescence photon may leave the atom.
    Absorb {
        deposit: f64,
        fluorescence: Option<f64>,
    },
    /// Pair production: the kinetic energy is deposited, two 511 keV photons leave back to back.
    Pair { deposit: f64 },
}

/// Klein-Nishina sampling (Butcher and Messel's method as used in EGS4), accepted with
/// S(x, Z)/Z for binding: (cos theta, scattered energy).
pub(crate) fn sample_incoherent(el: &ElementData, e: f64, rng: &mut Rng) -> (f64, f64) {
    let k = e / ELECTRON_MASS_EV;
    let eps0 = 1.0 / (1.0 + 2.0 * k);
    let a1 = -eps0.ln();
    let a2 = (1.0 - eps0 * eps0) / 2.0;
    let z = f64::from(el.z);
    loop {
        let eps = if rng.uniform() * (a1 + a2) < a1 {
            (-a1 * rng.uniform()).exp()
        } else {
            (eps0 * eps0 + (1.0 - eps0 * eps0) * rng.uniform()).sqrt()
        };
        let t = (1.0 - eps) / (k * eps);
        let sin2 = t * (2.0 - t);
        let g = 1.0 - eps * sin2 / (1.0 + eps * eps);
        if rng.uniform() >= g {
            continue;
        }
        let cos = 1.0 - t;
        let s = crate::data::on_x_grid(el.scattering_function, momentum_transfer(e, cos)) / z;
        if rng.uniform() < s {
            return (cos, eps * e);
        }
    }
}

/// Cumulative integral of F(x)^2 over x^2 on X_GRID (trapezoid rule).
fn rayleigh_cumulative(el: &ElementData) -> Vec<f64> {
    let mut cum = vec![0.0; X_GRID.len()];
    for i in 1..X_GRID.len() {
        let (x0, x1) = (f64::from(X_GRID[i - 1]), f64::from(X_GRID[i]));
        let (f0, f1) = (
            f64::from(el.form_factor[i - 1]),
            f64::from(el.form_factor[i]),
        );
        cum[i] = cum[i - 1] + 0.5 * (f0 * f0 + f1 * f1) * (x1 * x1 - x0 * x0);
    }
    cum
}

fn cumulative_at(cum: &[f64], x2: f64) -> f64 {
    let i = X_GRID.partition_point(|&g| f64::from(g) * f64::from(g) <= x2);
    if i == 0 {
        return 0.0;
    }
    if i >= X_GRID.len() {
        return cum[cum.len() - 1];
    }
    let (a, b) = (
        f64::from(X_GRID[i - 1]).powi(2),
        f64::from(X_GRID[i]).powi(2),
    );
    cum[i - 1] + (cum[i] - cum[i - 1]) * (x2 - a) / (b - a)
}

fn inverse_cumulative(cum: &[f64], target: f64) -> f64 {
    let i = cum
        .partition_point(|&c| c <= target)
        .clamp(1, cum.len() - 1);
    let (a, b) = (
        f64::from(X_GRID[i - 1]).powi(2),
        f64::from(X_GRID[i]).powi(2),
    );
    let (c0, c1) = (cum[i - 1], cum[i]);
    if c1 <= c0 {
        return a;
    }
    a + (b - a) * (target - c0) / (c1 - c0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_match_the_material_coefficients() {
        let water = Material::builtin("water").unwrap_or_else(|e| panic!("{e}"));
        let p = PhotonPhysics::new(std::slice::from_ref(&water), PhysicsOptions::default());
        for e in [20e3, 60e3, 300e3, 1.25e6] {
            let rel = p.mu_rho(0, e) / water.mu_rho(e) - 1.0;
            assert!(rel.abs() < 1e-4, "{e}: {rel}");
            let rel = p.mu_en_rho(0, e) / water.mu_en_rho(e) - 1.0;
            assert!(rel.abs() < 1e-4, "{e}: {rel}");
        }
    }

    #[test]
    fn compton_sampling_gives_the_mean_energy_transfer() {
        // The mean energy given to the electron equals the transfer fraction the material model
        // integrates (the same KN x S/Z law).
        let o = crate::data::element(8).unwrap_or_else(|| panic!("O"));
        let mut rng = Rng::for_batch(1, 0);
        for e in [30e3, 300e3, 3e6] {
            let n = 200_000;
            let mean: f64 = (0..n)
                .map(|_| {
                    let (_, e1) = sample_incoherent(o, e, &mut rng);
                    1.0 - e1 / e
                })
                .sum::<f64>()
                / f64::from(n);
            let want = crate::material::incoherent_transfer_fraction(o, e);
            assert!((mean / want - 1.0).abs() < 0.01, "{e}: {mean} vs {want}");
        }
    }
}
