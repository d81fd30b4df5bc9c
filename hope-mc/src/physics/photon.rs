//! Photon physics at run time: per-material coefficient tables on a uniform ln(E) grid, the
//! majorant for Woodcock tracking, and the sampling of each interaction.

use crate::data::{ELECTRON_MASS_EV, ElementData, Process, X_GRID};
use crate::material::{Material, momentum_transfer};
use crate::rng::Rng;

use super::options::{ComptonModel, DoseTo, PhysicsOptions, Relaxation};
use super::tables::{EnergyGrid, N_GRID, interp};
use crate::data::relaxation::{mean_fluorescence, vacancy_after};

/// Coefficients of one material on the grid (cm^2/g).
#[derive(Debug, Clone)]
pub(crate) struct MaterialTable {
    pub coherent: Vec<f64>,
    pub incoherent: Vec<f64>,
    pub photoelectric: Vec<f64>,
    pub pair: Vec<f64>,
    pub total: Vec<f64>,
    pub mu_en: Vec<f64>,
    /// The mu_en/rho the kerma tally scores with: `mu_en`, or water's ([`DoseTo`]).
    pub score: Vec<f64>,
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
        // Water's mu_en/rho on the grid, with this run's physics, for a water kerma tally.
        let water_mu_en: Option<Vec<f64>> = (options.dose_to == DoseTo::Water).then(|| {
            let water = [(1u8, 0.111_898), (8u8, 0.888_102)];
            (0..N_GRID)
                .map(|i| {
                    let e = grid.energy(i);
                    water
                        .iter()
                        .filter_map(|&(z, w)| crate::data::element(z).map(|el| (el, w)))
                        .map(|(el, w)| w * el.per_gram() * energy_transfer(el, e, &options))
                        .sum()
                })
                .collect()
        });
        let tables = materials
            .iter()
            .map(|m| {
                let energies: Vec<f64> = (0..N_GRID).map(|i| grid.energy(i)).collect();
                let elements: Vec<(&'static ElementData, f64)> = m
                    .composition()
                    .iter()
                    .filter_map(|&(z, w)| crate::data::element(z).map(|e| (e, w * e.per_gram())))
                    .collect();
                let per = |p: Process| -> Vec<f64> {
                    energies
                        .iter()
                        .map(|&e| {
                            elements
                                .iter()
                                .map(|&(el, k)| k * cross_section(el, p, e, &options))
                                .sum()
                        })
                        .collect()
                };
                let coherent = per(Process::Coherent);
                let incoherent = per(Process::Incoherent);
                let photoelectric = per(Process::Photoelectric);
                let pair = per(Process::Pair);
                let total = (0..N_GRID)
                    .map(|i| coherent[i] + incoherent[i] + photoelectric[i] + pair[i])
                    .collect();
                let mu_en: Vec<f64> = energies
                    .iter()
                    .map(|&e| {
                        elements
                            .iter()
                            .map(|&(el, k)| k * energy_transfer(el, e, &options))
                            .sum()
                    })
                    .collect();
                for (e, _) in &elements {
                    if !rayleigh.iter().any(|(z, _)| *z == e.z) {
                        rayleigh.push((e.z, rayleigh_cumulative(e)));
                    }
                }
                let partial = if elements.len() > 1 {
                    let energies = &energies;
                    let options = &options;
                    SELECTED
                        .iter()
                        .flat_map(|&p| {
                            elements.iter().flat_map(move |&(el, k)| {
                                energies
                                    .iter()
                                    .map(move |&e| k * cross_section(el, p, e, options))
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
                    score: water_mu_en.clone().unwrap_or_else(|| mu_en.clone()),
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

    /// For dose to water, water's mu_en/rho over material `m`'s at `e` (eV): what energy
    /// absorbed on the spot counts as in the dose; 1 when the dose is scored in the medium.
    #[inline]
    pub(crate) fn to_water_ratio(&self, m: usize, e: f64) -> f64 {
        if self.options.dose_to != DoseTo::Water {
            return 1.0;
        }
        let t = &self.materials[m];
        let at = self.grid.locate(e);
        interp(&t.score, at) / interp(&t.mu_en, at).max(1e-300)
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

    /// Samples an interaction of a photon of energy `e` in material `m` (for transport outside
    /// hope-mc's own, as the SPECT simulator's in its phantoms and collimators).
    pub fn interact(&self, m: usize, e: f64, rng: &mut Rng) -> Interaction {
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
            let (cos, e1) = match self.options.compton {
                ComptonModel::Bound => sample_incoherent(el, e, rng),
                ComptonModel::Free => sample_klein_nishina(e, rng),
                ComptonModel::Impulse => sample_impulse(el, e, rng),
            };
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
        let relaxation = self.options.relaxation;
        let mut lines = [None, None];
        let mut emitted = 0.0;
        if relaxation != Relaxation::None {
            let mut u = rng.uniform();
            for (i, edge) in el.edges.iter().enumerate() {
                if f64::from(edge.energy) > e {
                    continue;
                }
                let p = 1.0 - 1.0 / f64::from(edge.jump).max(1.0);
                if u < p {
                    // A vacancy in this shell: a fluorescence photon with the yield's
                    // probability, then (full relaxation) one from the shell it moved to.
                    if let Some(line) = emit(el, i, relaxation, rng) {
                        lines[0] = Some(line);
                        emitted += line;
                        if relaxation == Relaxation::Full
                            && let Some(next) = vacancy_after(el, i, line)
                            && let Some(second) = emit(el, next, relaxation, rng)
                        {
                            lines[1] = Some(second);
                            emitted += second;
                        }
                    }
                    break;
                }
                u = (u - p) / (1.0 - p);
            }
        }
        Interaction::Absorb {
            deposit: e - emitted,
            fluorescence: lines,
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
#[non_exhaustive]
pub enum Interaction {
    /// The photon goes on with a new energy at an angle; `deposit` is given to the medium.
    Scatter {
        /// Cosine of the scattering angle.
        cos: f64,
        /// Energy after, eV.
        energy: f64,
        /// Energy given to the medium, eV.
        deposit: f64,
    },
    /// The photon is absorbed; up to two fluorescence photons (a line, and with full
    /// relaxation one from the vacancy it left) may leave the atom.
    Absorb {
        /// Energy given to the medium, eV.
        deposit: f64,
        /// The fluorescence photons' energies, eV (emitted isotropically).
        fluorescence: [Option<f64>; 2],
    },
    /// Pair production: the kinetic energy is deposited, two 511 keV photons leave back to back.
    Pair {
        /// Energy given to the medium, eV.
        deposit: f64,
    },
}

/// The fluorescence line (eV) that a vacancy in edge `i` of `el` emits, if it does: with the
/// shell's yield, a line chosen by the lines' probabilities; only K lines with K relaxation.
fn emit(el: &ElementData, i: usize, relaxation: Relaxation, rng: &mut Rng) -> Option<f64> {
    let edge = &el.edges[i];
    if edge.lines.is_empty()
        || (relaxation == Relaxation::K && edge.shell != "K")
        || relaxation == Relaxation::None
        || rng.uniform() >= f64::from(edge.fluorescence_yield)
    {
        return None;
    }
    let mut v = rng.uniform();
    for &(le, pr) in edge.lines {
        if v < f64::from(pr) {
            return Some(f64::from(le));
        }
        v -= f64::from(pr);
    }
    Some(f64::from(edge.lines[edge.lines.len() - 1].0))
}

/// The cross section (barn/atom) of `process` for `el` at `e` eV as a run with `options`
/// transports it: no Rayleigh when it is off; free-electron Klein-Nishina (Z times the
/// per-electron cross section) for a free Compton model; XCOM otherwise.
pub(crate) fn cross_section(
    el: &ElementData,
    process: Process,
    e: f64,
    options: &PhysicsOptions,
) -> f64 {
    match process {
        Process::Coherent if !options.rayleigh => 0.0,
        Process::Incoherent if options.compton == ComptonModel::Free => {
            f64::from(el.z) * klein_nishina_cm2(e) / crate::data::BARN_CM2
        }
        p => el.cross_section(p, e),
    }
}

/// The energy given to electrons per interaction (barn eV/eV per atom: the cross sections
/// times the mean fraction of the photon energy transferred) as a run with `options` samples
/// it; summed over the elements and times atoms per gram, mu_en/rho with radiative losses
/// neglected, consistent with the run's relaxation and Compton model.
fn energy_transfer(el: &ElementData, e: f64, options: &PhysicsOptions) -> f64 {
    let pe = el.cross_section(Process::Photoelectric, e)
        * (1.0 - mean_fluorescence(el, e, options.relaxation) / e);
    let inc = cross_section(el, Process::Incoherent, e, options)
        * match options.compton {
            ComptonModel::Bound | ComptonModel::Impulse => {
                crate::material::transfer_fraction(el, e)
            }
            ComptonModel::Free => crate::material::free_transfer_fraction(e),
        };
    let pair = el.cross_section(Process::Pair, e) * (1.0 - 2.0 * ELECTRON_MASS_EV / e).max(0.0);
    pe + inc + pair
}

/// Klein-Nishina cross section per free electron at rest (cm^2) for a photon of `e` eV.
pub(crate) fn klein_nishina_cm2(e: f64) -> f64 {
    const R_E: f64 = 2.817_940_326_2e-13;
    let k = e / ELECTRON_MASS_EV;
    if k < 1e-3 {
        // Thomson with the first corrections (the closed form loses digits at small k).
        return 8.0 / 3.0 * std::f64::consts::PI * R_E * R_E * (1.0 - 2.0 * k + 5.2 * k * k);
    }
    let l = (1.0 + 2.0 * k).ln();
    let a = 1.0 + 2.0 * k;
    2.0 * std::f64::consts::PI
        * R_E
        * R_E
        * ((1.0 + k) / (k * k) * (2.0 * (1.0 + k) / a - l / k) + l / (2.0 * k)
            - (1.0 + 3.0 * k) / (a * a))
}

/// Klein-Nishina sampling on a free electron at rest: (cos theta, scattered energy).
pub(crate) fn sample_klein_nishina(e: f64, rng: &mut Rng) -> (f64, f64) {
    let k = e / ELECTRON_MASS_EV;
    let eps0 = 1.0 / (1.0 + 2.0 * k);
    let a1 = -eps0.ln();
    let a2 = (1.0 - eps0 * eps0) / 2.0;
    loop {
        let eps = if rng.uniform() * (a1 + a2) < a1 {
            (-a1 * rng.uniform()).exp()
        } else {
            (eps0 * eps0 + (1.0 - eps0 * eps0) * rng.uniform()).sqrt()
        };
        let t = (1.0 - eps) / (k * eps);
        let sin2 = t * (2.0 - t);
        let g = 1.0 - eps * sin2 / (1.0 + eps * eps);
        if rng.uniform() < g {
            return (1.0 - t, eps * e);
        }
    }
}

/// The cumulative of a shell's analytic Compton profile (Brusa et al. 1996) at `p` (units of
/// m_e c), with `j0` = J_i(0) per electron (units of 1/(m_e c)).
pub(crate) fn profile_cumulative(j0: f64, p: f64) -> f64 {
    use std::f64::consts::{FRAC_1_SQRT_2, SQRT_2};
    if p < 0.0 {
        let u = FRAC_1_SQRT_2 - SQRT_2 * j0 * p;
        0.5 * (0.5 - u * u).exp()
    } else {
        let u = FRAC_1_SQRT_2 + SQRT_2 * j0 * p;
        1.0 - 0.5 * (0.5 - u * u).exp()
    }
}

/// The inverse of [`profile_cumulative`]: the p at which it equals `n` (0 < n < 1).
pub(crate) fn profile_inverse(j0: f64, n: f64) -> f64 {
    use std::f64::consts::{FRAC_1_SQRT_2, SQRT_2};
    if n < 0.5 {
        (FRAC_1_SQRT_2 - (0.5 - (2.0 * n).ln()).sqrt()) / (SQRT_2 * j0)
    } else {
        ((0.5 - (2.0 * (1.0 - n)).ln()).sqrt() - FRAC_1_SQRT_2) / (SQRT_2 * j0)
    }
}

/// The electron momentum component p_z (units of m_e c) along the scattering vector for a
/// photon of `k` scattered to `k1` (units of m_e c^2) at an angle of cosine `c`.
pub(crate) fn p_z(k: f64, k1: f64, c: f64) -> f64 {
    (k * k1 * (1.0 - c) - (k - k1)) / (k * k + k1 * k1 - 2.0 * k * k1 * c).sqrt()
}

/// The scattered photon's energy (units of m_e c^2) for momentum `p` at cosine `c`: the root of
/// `p_z(k, k1, c) = p` above Compton's line for p > 0, below it for p < 0; None where
/// there is none.
pub(crate) fn energy_from_p_z(k: f64, c: f64, p: f64) -> Option<f64> {
    let a = 1.0 + k * (1.0 - c);
    let p2 = p * p;
    let den = a * a - p2;
    let b = a - p2 * c;
    let disc = b * b - den * (1.0 - p2);
    if den <= 0.0 || disc < 0.0 {
        return None;
    }
    let root = disc.sqrt();
    // p_z grows with the scattered energy: p > 0 lies above Compton's line.
    let branch = if p > 0.0 { b + root } else { b - root };
    let k1 = k * branch / den;
    (k1.is_finite() && k1 > 0.0).then_some(k1)
}

/// Incoherent scattering in the impulse approximation ([`ComptonModel::Impulse`]): (cos theta,
/// scattered energy eV).
pub(crate) fn sample_impulse(el: &ElementData, e: f64, rng: &mut Rng) -> (f64, f64) {
    let shells = crate::data::compton::SHELLS[usize::from(el.z.clamp(1, 100)) - 1];
    let z = f64::from(el.z);
    let k = e / ELECTRON_MASS_EV;
    let mut weights = [0.0f64; 32];
    let mut limits = [0.0f64; 32];
    for _ in 0..10_000 {
        let (cos, _) = sample_klein_nishina(e, rng);
        // S(E, theta): each shell's electrons whose p_z lets the photon leave with at most
        // E - U_i.
        let mut s = 0.0;
        for (i, &(u, f, j0)) in shells.iter().enumerate().take(32) {
            let left = e - f64::from(u);
            weights[i] = 0.0;
            if left <= 0.0 {
                continue;
            }
            let p_max = p_z(k, left / ELECTRON_MASS_EV, cos);
            limits[i] = p_max;
            weights[i] = f64::from(f) * profile_cumulative(f64::from(j0), p_max);
            s += weights[i];
        }
        if rng.uniform() * z >= s {
            continue;
        }
        // The shell, then p_z from its profile below p_max.
        let mut pick = rng.uniform() * s;
        let mut shell = shells.len().min(32) - 1;
        for (i, w) in weights.iter().enumerate().take(shells.len().min(32)) {
            if pick < *w {
                shell = i;
                break;
            }
            pick -= w;
        }
        let (u, _, j0) = shells[shell];
        let j0 = f64::from(j0);
        let n_max = profile_cumulative(j0, limits[shell]);
        let n = (rng.uniform() * n_max).clamp(1e-300, 1.0 - 1e-16);
        let p = profile_inverse(j0, n).min(limits[shell]);
        let Some(k1) = energy_from_p_z(k, cos, p) else {
            continue;
        };
        let e1 = k1 * ELECTRON_MASS_EV;
        if e1 > 0.0 && e1 <= e - f64::from(u) {
            return (cos, e1);
        }
    }
    // (Not reached for the tabulated elements: the outer shells are bound by at most a few eV.)
    sample_klein_nishina(e, rng)
}

/// Klein-Nishina sampling (Butcher and Messel's method as used in EGS4), accepted with
/// S(x, Z)/Z for binding: (cos theta, scattered energy).
pub(crate) fn sample_incoherent(el: &ElementData, e: f64, rng: &mut Rng) -> (f64, f64) {
    let z = f64::from(el.z);
    // S(x, Z) rises to Z at large x; an element whose table holds no data (zeros: Es and Fm in
    // xraylib 4.3.0) scatters as free electrons rather than never.
    if el.scattering_function.last().is_none_or(|s| *s <= 0.0) {
        return sample_klein_nishina(e, rng);
    }
    loop {
        let (cos, e1) = sample_klein_nishina(e, rng);
        let s = crate::data::on_x_grid(el.scattering_function, momentum_transfer(e, cos)) / z;
        if rng.uniform() < s {
            return (cos, e1);
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

    #[test]
    fn klein_nishina_matches_its_textbook_values_and_the_bound_model_at_high_energy() {
        // Klein-Nishina per electron (Evans, The Atomic Nucleus, 1955; NIST XCOM's free-electron
        // values): 0.6405 b at 10 keV, 0.4927 b at 100 keV, 0.2112 b at 1 MeV; Thomson 0.6652 b.
        for (e, b) in [
            (10e3, 0.6405),
            (100e3, 0.4927),
            (1e6, 0.2112),
            (1.0, 0.6652),
        ] {
            let got = klein_nishina_cm2(e) / crate::data::BARN_CM2;
            assert!((got / b - 1.0).abs() < 5e-4, "{e}: {got} vs {b}");
        }
        // Mean energy-transfer fraction of free Compton scattering at 1 MeV: 0.440 (Attix,
        // Introduction to Radiological Physics, table of sigma_tr/sigma), and the sampler's mean.
        assert!((crate::material::free_transfer_fraction(1e6) - 0.440).abs() < 0.002);
        let mut rng = Rng::for_batch(2, 0);
        let n = 200_000;
        let mean = (0..n)
            .map(|_| 1.0 - sample_klein_nishina(1e6, &mut rng).1 / 1e6)
            .sum::<f64>()
            / f64::from(n);
        assert!((mean / 0.440 - 1.0).abs() < 0.01, "{mean}");
        // At 1 MeV binding hardly matters: the free model's water attenuation is XCOM's within
        // 0.5 %; at 20 keV binding lowers the incoherent cross section by several per cent.
        let water = Material::builtin("water").unwrap_or_else(|e| panic!("{e}"));
        let free = PhotonPhysics::new(
            std::slice::from_ref(&water),
            PhysicsOptions {
                compton: ComptonModel::Free,
                rayleigh: false,
                ..PhysicsOptions::default()
            },
        );
        let bound = PhotonPhysics::new(std::slice::from_ref(&water), PhysicsOptions::default());
        let coh = |e: f64| water.mu_rho_process(Process::Coherent, e);
        let r1 = free.mu_rho(0, 1e6) / (bound.mu_rho(0, 1e6) - coh(1e6));
        assert!((r1 - 1.0).abs() < 0.005, "{r1}");
        let r20 = free.mu_rho(0, 20e3) / (bound.mu_rho(0, 20e3) - coh(20e3));
        assert!(r20 > 1.03, "{r20}");
    }

    #[test]
    fn relaxation_emits_what_its_mean_says_and_cascades_into_l_shells() {
        // Lead at 100 keV: a K vacancy in 77 % of absorptions (1 - 1/J_K), a K line in 96 % of
        // those; a K-alpha line leaves an L2 or L3 vacancy, which fluoresces with L's yield.
        let pb = crate::data::element(82).unwrap_or_else(|| panic!("Pb"));
        let lead = Material::new("lead", 11.35, &[(82, 1.0)]).unwrap_or_else(|e| panic!("{e}"));
        let mut means = Vec::new();
        for relaxation in [Relaxation::None, Relaxation::K, Relaxation::Full] {
            let p = PhotonPhysics::new(
                std::slice::from_ref(&lead),
                PhysicsOptions {
                    relaxation,
                    ..PhysicsOptions::default()
                },
            );
            let mut rng = Rng::for_batch(3, 0);
            let (n, mut emitted, mut seconds) = (200_000, 0.0, 0);
            for _ in 0..n {
                match p.photoelectric(pb, 100e3, &mut rng) {
                    Interaction::Absorb {
                        deposit,
                        fluorescence,
                    } => {
                        let out: f64 = fluorescence.iter().flatten().sum();
                        assert!((deposit + out - 100e3).abs() < 1e-6);
                        emitted += out;
                        if let [Some(k), Some(l)] = fluorescence {
                            assert!(k > 70e3 && l < 16e3, "{k} then {l}");
                            seconds += 1;
                        }
                    }
                    other => panic!("{other:?}"),
                }
            }
            let mean = emitted / f64::from(n);
            let want = mean_fluorescence(pb, 100e3, relaxation);
            assert!(
                (mean - want).abs() <= 0.01 * want + 1.0,
                "{relaxation:?}: sampled {mean} vs {want}"
            );
            // Only full relaxation cascades.
            assert_eq!(
                seconds > 0,
                relaxation == Relaxation::Full,
                "{relaxation:?}"
            );
            means.push(want);
        }
        assert_eq!(means[0], 0.0);
        // K: about 0.77 x 0.963 x 75 keV = 56 keV; full adds the L lines (a few keV).
        assert!(means[1] > 50e3 && means[1] < 60e3, "{means:?}");
        assert!(
            means[2] > means[1] + 1e3 && means[2] < means[1] + 6e3,
            "{means:?}"
        );
    }

    #[test]
    fn the_impulse_model_broadens_comptons_line_as_its_profiles_say() {
        use std::f64::consts::PI;
        // Data: hydrogen's 1s profile at 0 is 8 / (3 pi) atomic units; every element's shells
        // hold its Z electrons.
        let h = crate::data::compton::SHELLS[0][0];
        assert!((f64::from(h.2) / 137.036 / (8.0 / (3.0 * PI)) - 1.0).abs() < 1e-3);
        for (i, shells) in crate::data::compton::SHELLS.iter().enumerate() {
            let n: f64 = shells.iter().map(|s| f64::from(s.1)).sum();
            assert!((n - (i + 1) as f64).abs() < 1e-3, "Z = {}: {n}", i + 1);
            assert!(shells.len() <= 32);
        }
        // The analytic profile integrates to 1; its inverse inverts it; p_z and the energy
        // from p_z invert each other.
        let j0 = 20.0;
        let (mut sum, dp) = (0.0, 1e-4);
        let mut p = -1.0;
        while p < 1.0 {
            sum += (profile_cumulative(j0, p + dp) - profile_cumulative(j0, p)).max(0.0);
            p += dp;
        }
        assert!((sum - 1.0).abs() < 1e-6, "{sum}");
        for n in [1e-6, 0.1, 0.5, 0.77, 0.999_999] {
            assert!((profile_cumulative(j0, profile_inverse(j0, n)) - n).abs() < 1e-9);
        }
        for (k, c, p) in [(0.2, 0.0, 0.03), (0.2, 0.5, -0.05), (2.0, -0.9, 0.01)] {
            let k1 = energy_from_p_z(k, c, p).unwrap_or_else(|| panic!("{k} {c} {p}"));
            assert!((p_z(k, k1, c) - p).abs() < 1e-9, "{k} {c} {p}");
        }
        // Sampling oxygen at 100 keV: near 90 degrees, the p_z of the scattered photons follows
        // the occupation-weighted profiles, each cut at its shell's largest p_z.
        let o = crate::data::element(8).unwrap_or_else(|| panic!("O"));
        let shells = crate::data::compton::SHELLS[7];
        let (e, k) = (100e3, 100e3 / ELECTRON_MASS_EV);
        let mut rng = Rng::for_batch(4, 0);
        let mut ps = Vec::new();
        let (mut transfer, mut n) = (0.0, 0);
        while ps.len() < 40_000 {
            let (c, e1) = sample_impulse(o, e, &mut rng);
            assert!(e1 > 0.0 && e1 < e);
            transfer += 1.0 - e1 / e;
            n += 1;
            if c.abs() < 0.05 {
                ps.push(p_z(k, e1 / ELECTRON_MASS_EV, c));
            }
        }
        let cdf = |p: f64| -> f64 {
            let (mut num, mut den) = (0.0, 0.0);
            for &(u, f, j0) in shells {
                let p_max = p_z(k, (e - f64::from(u)) / ELECTRON_MASS_EV, 0.0);
                num += f64::from(f) * profile_cumulative(f64::from(j0), p.min(p_max));
                den += f64::from(f) * profile_cumulative(f64::from(j0), p_max);
            }
            num / den
        };
        for p in [-0.02, -0.005, 0.0, 0.005, 0.02] {
            let got = ps.iter().filter(|x| **x <= p).count() as f64 / ps.len() as f64;
            assert!((got - cdf(p)).abs() < 0.01, "p_z {p}: {got} vs {}", cdf(p));
        }
        // The width is real: a tenth of the photons lie more than 0.5 % of E from the line.
        let e_c = e / (1.0 + k);
        let spread = ps
            .iter()
            .filter_map(|p| energy_from_p_z(k, 0.0, *p))
            .filter(|k1| (k1 * ELECTRON_MASS_EV / e_c - 1.0).abs() > 0.005)
            .count() as f64
            / ps.len() as f64;
        assert!(spread > 0.1, "{spread}");
        // The mean energy given to the electron is the bound model's within 2 %.
        let want = crate::material::transfer_fraction(o, e);
        assert!(
            ((transfer / f64::from(n)) / want - 1.0).abs() < 0.02,
            "{} vs {want}",
            transfer / f64::from(n)
        );
    }
}
