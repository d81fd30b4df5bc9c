//! Angular densities of photon scattering, for estimators that force a photon into a direction
//! (point detectors, forced detection in SPECT): the probability per steradian that a Compton or
//! Rayleigh interaction sends the photon into a given direction, consistent with how
//! [`PhotonPhysics`] samples them.
//!
//! - Compton, [`ComptonModel::Bound`]: Klein-Nishina times `S(x, Z) / Z` (the incoherent
//!   scattering function, linear in `x` on the table's grid, as the sampling reads it);
//!   [`ComptonModel::Free`]: Klein-Nishina. The element is the one the sampling would pick (its
//!   share of the material's incoherent coefficient). [`ComptonModel::Impulse`] has no single
//!   energy per direction and is refused.
//! - Rayleigh: Thomson times `F(x, Z)^2`, with `F^2` averaged over each interval of the grid in
//!   `x^2` (the sampling inverts the trapezoid cumulative linearly).
//!
//! Each density is normalised numerically per element on a logarithmic grid of energies (Simpson
//! in `cos` for Compton, exact per grid interval in `x^2` for Rayleigh).

use crate::data::{ELECTRON_MASS_EV, ElementData, X_GRID, on_x_grid};
use crate::material::momentum_transfer;

use super::options::ComptonModel;
use super::photon::PhotonPhysics;
use super::tables::interp;
use crate::{Error, Result};

const E_LO: f64 = 1.0e3;
const E_HI: f64 = 10.0e6;
const N_E: usize = 400;
const SIMPSON: usize = 1_024;

/// Normalisations of the angular densities, per element of a [`PhotonPhysics`].
#[derive(Debug, Clone)]
pub struct ScatterDensities {
    /// Per element number: (Compton, Rayleigh) integrals over the sphere on the energy grid.
    norms: Vec<Option<(Vec<f64>, Vec<f64>)>>,
    model: ComptonModel,
    rayleigh: bool,
}

/// Klein-Nishina per electron, up to the constant `r_e^2`: `P^2 (P + 1/P - sin^2) / 2`.
fn kn(k: f64, cos: f64) -> (f64, f64) {
    let p = 1.0 / (1.0 + k * (1.0 - cos));
    (0.5 * p * p * (p + 1.0 / p - (1.0 - cos * cos)), p)
}

/// `F^2` of `el` at `x^2` as the Rayleigh sampling sees it: the mean of the interval's ends.
fn f2_interval(el: &ElementData, x2: f64) -> f64 {
    let i = X_GRID
        .partition_point(|&g| f64::from(g) * f64::from(g) <= x2)
        .clamp(1, X_GRID.len() - 1);
    let (a, b) = (
        f64::from(el.form_factor[i - 1]),
        f64::from(el.form_factor[i]),
    );
    0.5 * (a * a + b * b)
}

fn s_over_z(el: &ElementData, e: f64, cos: f64) -> f64 {
    if el.scattering_function.last().is_none_or(|s| *s <= 0.0) {
        return 1.0;
    }
    on_x_grid(el.scattering_function, momentum_transfer(e, cos)) / f64::from(el.z)
}

fn grid_energy(i: usize) -> f64 {
    E_LO * (E_HI / E_LO).powf(i as f64 / (N_E - 1) as f64)
}

impl ScatterDensities {
    /// The normalisations for the elements of `physics`' materials.
    pub fn new(physics: &PhotonPhysics) -> Result<ScatterDensities> {
        let model = physics.options.compton;
        if model == ComptonModel::Impulse {
            return Err(Error::Simulation {
                field: "physics.compton".into(),
                message: "\"impulse\" has no single energy per direction: forced detection \
                          takes \"bound\" or \"free\""
                    .into(),
                source: None,
            });
        }
        let mut norms: Vec<Option<(Vec<f64>, Vec<f64>)>> = vec![None; 101];
        for t in &physics.materials {
            for (el, _) in &t.elements {
                let z = usize::from(el.z);
                if norms[z].is_some() {
                    continue;
                }
                let compton: Vec<f64> = (0..N_E)
                    .map(|i| {
                        let e = grid_energy(i);
                        let k = e / ELECTRON_MASS_EV;
                        let h = 2.0 / SIMPSON as f64;
                        let f = |c: f64| {
                            let s = if model == ComptonModel::Bound {
                                s_over_z(el, e, c)
                            } else {
                                1.0
                            };
                            kn(k, c).0 * s
                        };
                        let mut sum = f(-1.0) + f(1.0);
                        for j in 1..SIMPSON {
                            sum += if j % 2 == 1 { 4.0 } else { 2.0 } * f(-1.0 + j as f64 * h);
                        }
                        2.0 * std::f64::consts::PI * sum * h / 3.0
                    })
                    .collect();
                let rayleigh: Vec<f64> = (0..N_E)
                    .map(|i| {
                        let e = grid_energy(i);
                        let x_max = e / 12_398.419_84;
                        let x2_max = x_max * x_max;
                        // In x^2: cos = 1 - 2 x^2 / x2_max, d cos = -2 dx^2 / x2_max; per grid
                        // interval F^2 is constant and (1 + cos^2)/2 quadratic: Simpson is exact.
                        let mut sum = 0.0;
                        let mut lo = 0.0f64;
                        for g in X_GRID.iter().skip(1) {
                            let hi = (f64::from(*g) * f64::from(*g)).min(x2_max);
                            if hi > lo {
                                let f2 = f2_interval(el, 0.5 * (lo + hi));
                                let w = |x2: f64| {
                                    let c = 1.0 - 2.0 * x2 / x2_max;
                                    0.5 * (1.0 + c * c)
                                };
                                let mid = 0.5 * (lo + hi);
                                sum += f2 * (hi - lo) / 6.0 * (w(lo) + 4.0 * w(mid) + w(hi));
                            }
                            if hi >= x2_max {
                                break;
                            }
                            lo = hi;
                        }
                        2.0 * std::f64::consts::PI * sum * 2.0 / x2_max
                    })
                    .collect();
                norms[z] = Some((compton, rayleigh));
            }
        }
        Ok(ScatterDensities {
            norms,
            model,
            rayleigh: physics.options.rayleigh,
        })
    }

    /// What an interaction of a photon of energy `e` in material `m` of `physics` (the one these
    /// were made for) can do towards a direction: see [`Vertex::towards`].
    pub fn vertex(&self, physics: &PhotonPhysics, m: usize, e: f64) -> Vertex {
        let t = &physics.materials[m];
        let at = physics.grid.locate(e);
        let (coh, inc, pe, pair) = (
            if self.rayleigh {
                interp(&t.coherent, at)
            } else {
                0.0
            },
            interp(&t.incoherent, at),
            interp(&t.photoelectric, at),
            interp(&t.pair, at),
        );
        let total = (coh + inc + pe + pair).max(1e-300);
        let x = ((e / E_LO).ln() / (E_HI / E_LO).ln() * (N_E - 1) as f64)
            .clamp(0.0, (N_E - 1) as f64 - 1e-9);
        let (i, f) = (x as usize, x - (x as usize) as f64);
        let lerp = |v: &[f64]| v[i] + f * (v[(i + 1).min(N_E - 1)] - v[i]);
        let n = t.elements.len();
        let share = |process: usize, j: usize| -> f64 {
            if n == 1 {
                return 1.0;
            }
            let rows = &t.partial
                [process * n * super::tables::N_GRID..(process + 1) * n * super::tables::N_GRID];
            interp(
                &rows[j * super::tables::N_GRID..(j + 1) * super::tables::N_GRID],
                at,
            )
            .max(0.0)
        };
        let (mut sum_inc, mut sum_coh) = (0.0, 0.0);
        let mut elements = Vec::with_capacity(n);
        for (j, (el, _)) in t.elements.iter().enumerate() {
            let (si, sc) = (share(1, j), share(2, j));
            sum_inc += si;
            sum_coh += sc;
            let (ni, nc) = self.norms[usize::from(el.z)]
                .as_ref()
                .map_or((1.0, 1.0), |(a, b)| (lerp(a), lerp(b)));
            elements.push((*el, si / ni.max(1e-300), sc / nc.max(1e-300)));
        }
        for (_, a, b) in &mut elements {
            *a /= sum_inc.max(1e-300);
            *b /= sum_coh.max(1e-300);
        }
        Vertex {
            e,
            compton: inc / total,
            rayleigh: coh / total,
            bound: self.model == ComptonModel::Bound,
            elements,
        }
    }
}

/// One interaction's angular densities (from [`ScatterDensities::vertex`]).
#[derive(Debug, Clone)]
pub struct Vertex {
    e: f64,
    /// The probability that the interaction is a Compton scattering.
    pub compton: f64,
    /// The probability that it is a Rayleigh scattering.
    pub rayleigh: f64,
    bound: bool,
    /// (element, its Compton share over its normalisation, its Rayleigh share over its).
    elements: Vec<(&'static ElementData, f64, f64)>,
}

/// Where a scattering sends a photon towards one direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Towards {
    /// Energy after a Compton scattering into the direction, eV.
    pub compton_energy: f64,
    /// Probability per steradian of that direction, given a Compton scattering.
    pub compton_pdf: f64,
    /// Probability per steradian of that direction, given a Rayleigh scattering (the energy is
    /// kept).
    pub rayleigh_pdf: f64,
}

impl Vertex {
    /// The densities towards a direction at cosine `cos` from the photon's.
    pub fn towards(&self, cos: f64) -> Towards {
        let k = self.e / ELECTRON_MASS_EV;
        let (kn_value, p) = kn(k, cos);
        let x2_max = (self.e / 12_398.419_84).powi(2);
        let x2 = x2_max * (1.0 - cos) / 2.0;
        let thomson = 0.5 * (1.0 + cos * cos);
        let (mut compton_pdf, mut rayleigh_pdf) = (0.0, 0.0);
        for (el, a, b) in &self.elements {
            let s = if self.bound {
                s_over_z(el, self.e, cos)
            } else {
                1.0
            };
            compton_pdf += a * kn_value * s;
            if *b > 0.0 {
                rayleigh_pdf += b * thomson * f2_interval(el, x2);
            }
        }
        Towards {
            compton_energy: self.e * p,
            compton_pdf,
            rayleigh_pdf,
        }
    }
}
