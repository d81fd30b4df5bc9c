//! Electron and positron physics: restricted stopping powers, ranges, hard-event cross sections
//! and their sampling, for the class II condensed-history transport in [`crate::transport`].
//!
//! The model, its sources and its limits are described in `manual::physics` ("Electrons and
//! positrons"). In short:
//! - collision stopping powers from the Bethe formula as ICRU Report 37 and NIST ESTAR write it,
//!   restricted to energy transfers below the delta-ray threshold (Moller for electrons, Bhabha for
//!   positrons), with ESTAR's mean excitation energies and ESTAR's Sternheimer-Liljequist
//!   density-effect model computed for each material from per-element shell data;
//! - radiative stopping powers from ESTAR (Seltzer-Berger), restricted below the bremsstrahlung
//!   threshold with the complete-screening Bethe-Heitler spectral shape, which also gives the
//!   hard bremsstrahlung photons;
//! - elastic scattering from the screened Rutherford cross section with Moliere's screening
//!   parameter, simulated by a mixed scheme: deflections above a cutoff angle one by one (hard
//!   events, mean free path `max(lambda_el, C1 lambda_1)`), the many small ones below it lumped into
//!   one soft deflection per step at a random point of the step (random hinge), sampled from a
//!   distribution with the exact first and second moments (Lewis 1950);
//! - positron annihilation in flight (Heitler) and at rest (two 511 keV photons).

use super::tables::{EnergyGrid, interp};
use crate::data::electrons::{COMPOUND_I_EV, ELEMENTS, ENERGY_GRID_MEV};
use crate::data::{AVOGADRO, ELECTRON_MASS_EV, element};
use crate::material::Material;
use crate::rng::Rng;

/// Electron rest energy, eV.
const MC2: f64 = ELECTRON_MASS_EV;
/// Classical electron radius, cm (CODATA 2018).
const R_E: f64 = 2.817_940_326_2e-13;
/// Fine-structure constant (CODATA 2018).
const ALPHA: f64 = 7.297_352_569_3e-3;
/// Lowest tabulated kinetic energy, eV.
pub const E_LOW: f64 = 1.0e3;
/// Highest tabulated kinetic energy, eV.
pub const E_HIGH: f64 = 100.0e6;
const N_GRID: usize = 1024;

/// Electron and positron transport settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ElectronOptions {
    /// Transport electrons and positrons (coupled photon-electron transport). When false, the
    /// kinetic energy given to electrons is deposited where the photon interacted (the kerma
    /// approximation of the photon engine).
    pub transport: bool,
    /// Electrons and positrons whose kinetic energy falls below this (eV) deposit it on the
    /// spot (positrons then annihilate at rest).
    pub cutoff_ev: f64,
    /// Delta rays (Moller, Bhabha) above this kinetic energy (eV) are produced and transported;
    /// smaller energy transfers are part of the restricted collision stopping power.
    pub delta_threshold_ev: f64,
    /// Bremsstrahlung photons above this energy (eV) are produced and transported; softer ones
    /// are part of the restricted radiative stopping power.
    pub bremsstrahlung_threshold_ev: f64,
    /// Hard elastic events have a mean free path of at least `elastic_c1` times the first
    /// transport mean free path (PENELOPE's C1): smaller is more detailed and slower.
    pub elastic_c1: f64,
    /// Largest fraction of the kinetic energy lost continuously in one step.
    pub max_energy_loss: f64,
    /// Range rejection: a particle below `range_rejection_max_ev` that cannot leave its voxel
    /// (residual range with the restricted stopping power shorter than the distance to the
    /// voxel's nearest face) deposits its energy there at once. Exact for the dose except for
    /// the bremsstrahlung such particles would have emitted (see the manual).
    pub range_rejection: bool,
    /// Kinetic energy (eV) above which range rejection is not used.
    pub range_rejection_max_ev: f64,
    /// The angular distribution of bremsstrahlung photons.
    pub bremsstrahlung_angular: BremsstrahlungAngular,
}

/// The angular distribution of bremsstrahlung photons relative to the electron's direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BremsstrahlungAngular {
    /// The leading term of the Koch-Motz distribution, 1/(1 - beta cos theta)^2, independent of
    /// the photon's energy and of the medium (EGSnrc's `Brems angular sampling = Simple`,
    /// IBRDST = 0).
    Simple,
    /// Koch and Motz's formula 2BS (Rev. Mod. Phys. 31 (1959) 920): the small-angle Born
    /// approximation with screening, which depends on the photon's share of the electron's
    /// energy and on the medium's Z (through an effective Z^(1/3), the elements weighted by
    /// their Z (Z + 1) bremsstrahlung strength). EGSnrc's default `Brems angular sampling = KM`
    /// (IBRDST = 1).
    #[default]
    KochMotz,
}

impl BremsstrahlungAngular {
    /// The names the file format takes.
    pub const NAMES: &'static str = "simple, koch-motz";
}

impl Default for ElectronOptions {
    fn default() -> Self {
        Self {
            transport: false,
            cutoff_ev: 10.0e3,
            delta_threshold_ev: 10.0e3,
            bremsstrahlung_threshold_ev: 10.0e3,
            elastic_c1: 0.2,
            max_energy_loss: 0.08,
            range_rejection: true,
            range_rejection_max_ev: 2.0e6,
            bremsstrahlung_angular: BremsstrahlungAngular::KochMotz,
        }
    }
}

impl ElectronOptions {
    /// Checks the values; the error names the field.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |f: &str, m: String| Err((f.to_string(), m));
        if !(self.cutoff_ev.is_finite() && (E_LOW..E_HIGH).contains(&self.cutoff_ev)) {
            return bad(
                "cutoff_ev",
                format!("{}: expected {E_LOW} to {E_HIGH} eV", self.cutoff_ev),
            );
        }
        for (f, v) in [
            ("delta_threshold_ev", self.delta_threshold_ev),
            (
                "bremsstrahlung_threshold_ev",
                self.bremsstrahlung_threshold_ev,
            ),
        ] {
            // Finite: a simulation goes to grid workers as JSON, which has no infinity (a value
            // above every energy, such as 1e9 eV, turns the process off).
            if !(v.is_finite() && v >= E_LOW) {
                return bad(
                    f,
                    format!("{v}: expected a finite value of at least {E_LOW} eV"),
                );
            }
        }
        if !(self.elastic_c1 > 0.0 && self.elastic_c1 <= 0.5) {
            return bad(
                "elastic_c1",
                format!("{}: expected 0 < C1 <= 0.5", self.elastic_c1),
            );
        }
        if !(self.max_energy_loss > 0.0 && self.max_energy_loss <= 0.25) {
            return bad(
                "max_energy_loss",
                format!("{}: expected 0 < fraction <= 0.25", self.max_energy_loss),
            );
        }
        if !(self.range_rejection_max_ev.is_finite() && self.range_rejection_max_ev >= 0.0) {
            return bad(
                "range_rejection_max_ev",
                format!(
                    "{}: expected a finite value >= 0 eV",
                    self.range_rejection_max_ev
                ),
            );
        }
        Ok(())
    }
}

/// The mean excitation energy I (eV) of a material: ESTAR's value for the built-in compounds it
/// lists and for single elements, else Bragg's additivity rule over the elements with the
/// condensed-phase values of ICRU Report 37 (H 19.2, C 81, N 82, O 106 eV; other elements
/// 1.13 times their ESTAR value, Seltzer and Berger 1982).
pub fn mean_excitation_energy(material: &Material) -> f64 {
    if let Some((_, i)) = COMPOUND_I_EV.iter().find(|(n, _)| *n == material.name()) {
        return *i;
    }
    let comp = material.composition();
    if comp.len() == 1 {
        return ELEMENTS[usize::from(comp[0].0) - 1].i_ev;
    }
    let (mut num, mut den) = (0.0, 0.0);
    for &(z, w) in comp {
        let Some(el) = element(z) else { continue };
        let i = match z {
            1 => 19.2,
            6 => 81.0,
            7 => 82.0,
            8 => 106.0,
            _ => 1.13 * ELEMENTS[usize::from(z) - 1].i_ev,
        };
        let g = w * f64::from(z) / el.atomic_mass;
        num += g * i.ln();
        den += g;
    }
    (num / den).exp()
}

/// Electrons per gram of a material.
fn electrons_per_gram(material: &Material) -> f64 {
    material
        .composition()
        .iter()
        .filter_map(|&(z, w)| element(z).map(|e| w * f64::from(z) / e.atomic_mass))
        .sum::<f64>()
        * AVOGADRO
}

/// The Sternheimer-Liljequist density-effect correction of a material, as ESTAR computes it:
/// oscillators from the elements' subshells (strengths from the occupation numbers, energies
/// from the binding energies scaled so that the model reproduces I), the conduction electrons of
/// a pure conductor as a free-electron gas.
#[derive(Debug, Clone)]
struct DensityEffect {
    f: Vec<f64>,
    eps: Vec<f64>,
    alf: Vec<f64>,
    y_cut: f64,
}

impl DensityEffect {
    fn new(material: &Material, i_ev: f64) -> Self {
        let comp = material.composition();
        let g: Vec<f64> = comp
            .iter()
            .map(|&(z, w)| w * f64::from(z) / element(z).map_or(1.0, |e| e.atomic_mass))
            .collect();
        let zav: f64 = g.iter().sum();
        // Plasma energy, eV.
        let hom = 28.815_93 * (material.density() * zav).sqrt();
        let phil = 2.0 * (i_ev / hom).ln();
        let (mut f, mut en) = (Vec::new(), Vec::new());
        for (k, &(z, _)) in comp.iter().enumerate() {
            let el = &ELEMENTS[usize::from(z) - 1];
            let total: f64 = el.occupations.iter().sum();
            let last = el.occupations.len() - 1;
            for (j, (&n, &b)) in el.occupations.iter().zip(el.binding_ev).enumerate() {
                f.push(n * g[k] / zav / total);
                en.push(if j == last && el.conduction && comp.len() == 1 {
                    0.0
                } else {
                    b
                });
            }
        }
        let mut alf = vec![2.0 / 3.0; f.len()];
        let conductor = en.last().is_some_and(|&e| e <= 0.0);
        if let (true, Some(a)) = (conductor, alf.last_mut()) {
            *a = 1.0;
        }
        let mut eps: Vec<f64> = en.iter().map(|e| (e / hom).powi(2)).collect();
        // Scale the oscillator energies so that sum f ln(root eps + alf f) = ln (I / hw_p)^2.
        let mut root = 1.0f64;
        for _ in 0..200 {
            let (mut fun, mut der) = (-phil, 0.0);
            for i in 0..f.len() {
                let t = root * eps[i] + alf[i] * f[i];
                fun += f[i] * t.ln();
                der += f[i] * eps[i] / t;
            }
            let d = fun / der;
            root -= d;
            if d.abs() < 1e-10 {
                break;
            }
        }
        for e in &mut eps {
            *e *= root;
        }
        let y_cut = if conductor {
            0.0
        } else {
            1.0 / f.iter().zip(&eps).map(|(f, e)| f / e).sum::<f64>()
        };
        Self { f, eps, alf, y_cut }
    }

    /// delta at (beta gamma)^2 = `y`.
    fn delta(&self, y: f64) -> f64 {
        if y <= self.y_cut {
            return 0.0;
        }
        let yq = |q: f64| {
            1.0 / self
                .f
                .iter()
                .zip(&self.eps)
                .map(|(f, e)| f / (e + q))
                .sum::<f64>()
        };
        // yq increases with q: bisection in ln q.
        let (mut lo, mut hi) = ((1e-12f64).ln(), (1e14f64).ln());
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if yq(mid.exp()) < y {
                lo = mid;
            } else {
                hi = mid;
            }
            if hi - lo < 1e-12 {
                break;
            }
        }
        let q = (0.5 * (lo + hi)).exp();
        let d: f64 = (0..self.f.len())
            .map(|i| self.f[i] * (1.0 + q / (self.eps[i] + self.alf[i] * self.f[i])).ln())
            .sum::<f64>()
            - q / (y + 1.0);
        d.max(0.0)
    }
}

/// Which charged particle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charge {
    /// An electron.
    Electron,
    /// A positron.
    Positron,
}

/// Collision stopping power (eV cm^2/g) of a material with mean excitation energy `i_ev`,
/// electron density `n_e` (1/g) and density correction `delta`, at kinetic energy `t` (eV),
/// restricted to energy transfers below `cut` (eV; infinite: the unrestricted value). Bethe's
/// formula with Rohrlich and Carlson's F functions (ICRU Report 37, eqs. 2.13-2.16, 2.20-2.21).
fn collision_stopping(t: f64, cut: f64, i_ev: f64, n_e: f64, delta: f64, q: Charge) -> f64 {
    let tau = t / MC2;
    let gamma = tau + 1.0;
    let beta2 = tau * (tau + 2.0) / (gamma * gamma);
    let k = 2.0 * std::f64::consts::PI * R_E * R_E * MC2 * n_e / beta2;
    let i = i_ev / MC2;
    let base = (2.0 * (tau + 2.0) / (i * i)).ln();
    let f = match q {
        Charge::Electron => {
            let d = (cut / MC2).min(tau / 2.0);
            -1.0 - beta2
                + ((tau - d) * d).ln()
                + tau / (tau - d)
                + (d * d / 2.0 + (2.0 * tau + 1.0) * (1.0 - d / tau).ln()) / (gamma * gamma)
        }
        Charge::Positron => {
            let d = (cut / MC2).min(tau);
            let y = 1.0 / (tau + 2.0);
            (tau * d).ln()
                - beta2 / tau
                    * (tau + 2.0 * d
                        - 1.5 * d * d * y
                        - (d - d * d * d / 3.0) * y * y
                        - (d * d / 2.0 - tau * d * d * d / 3.0 + d.powi(4) / 4.0) * y.powi(3))
        }
    };
    (k * (base + f - delta)).max(0.0)
}

/// Radiative stopping power of a material (eV cm^2/g) at `t` (eV): ESTAR's per-element values,
/// by mass fraction, log-log interpolated.
fn radiative_stopping(material: &Material, t: f64) -> f64 {
    let mev = t / 1e6;
    let g = &ENERGY_GRID_MEV;
    let i = g.partition_point(|&e| e <= mev).clamp(1, g.len() - 1);
    let u = ((mev / g[i - 1]).ln() / (g[i] / g[i - 1]).ln()).clamp(-1.0, 2.0);
    material
        .composition()
        .iter()
        .map(|&(z, w)| {
            let r = ELEMENTS[usize::from(z) - 1].radiative;
            let (a, b) = (r[i - 1].max(1e-30), r[i].max(1e-30));
            w * (a.ln() + u * (b / a).ln()).exp()
        })
        .sum::<f64>()
        * 1e6
}

/// The fraction of the radiated energy below `y` times the electron's kinetic energy, for the
/// complete-screening Bethe-Heitler shape k dsigma/dk ~ 4/3 - 4/3 y + y^2.
fn radiated_fraction_below(y: f64) -> f64 {
    let y = y.clamp(0.0, 1.0);
    4.0 / 3.0 * y - 2.0 / 3.0 * y * y + y * y * y / 3.0
}

/// The number of photons above `y` T per unit of S_rad / T (same shape).
fn photons_above(y: f64) -> f64 {
    if y >= 1.0 {
        return 0.0;
    }
    4.0 / 3.0 * (1.0 / y).ln() - 4.0 / 3.0 * (1.0 - y) + (1.0 - y * y) / 2.0
}

/// The dimensionless integral of Moller's cross section over energy transfers from `eps_c` T to
/// T / 2 (the caller multiplies by 2 pi r_e^2 mc^2 n_e / (beta^2 T)).
fn moller_integral(tau: f64, eps_c: f64) -> f64 {
    if eps_c >= 0.5 {
        return 0.0;
    }
    let g = tau / (tau + 1.0);
    let c = (2.0 * tau + 1.0) / ((tau + 1.0) * (tau + 1.0));
    1.0 / eps_c - 1.0 / (1.0 - eps_c) + g * g * (0.5 - eps_c) + c * (eps_c / (1.0 - eps_c)).ln()
}

/// Bhabha's coefficients b1..b4 at gamma.
fn bhabha_b(gamma: f64) -> [f64; 4] {
    let a = ((gamma - 1.0) / gamma).powi(2);
    let gp = gamma + 1.0;
    [
        a * (2.0 * gp * gp - 1.0) / (gamma * gamma - 1.0),
        a * (3.0 * gp * gp + 1.0) / (gp * gp),
        a * 2.0 * gamma * (gamma - 1.0) / (gp * gp),
        a * (gamma - 1.0).powi(2) / (gp * gp),
    ]
}

fn bhabha_integral(tau: f64, eps_c: f64) -> f64 {
    if eps_c >= 1.0 {
        return 0.0;
    }
    let [b1, b2, b3, b4] = bhabha_b(tau + 1.0);
    (1.0 / eps_c - 1.0) - b1 * (1.0 / eps_c).ln() + b2 * (1.0 - eps_c)
        - b3 * (1.0 - eps_c * eps_c) / 2.0
        + b4 * (1.0 - eps_c.powi(3)) / 3.0
}

/// Heitler's cross section for two-photon annihilation in flight, per electron of the medium,
/// cm^2, at positron kinetic energy `t`.
fn annihilation_per_electron(t: f64) -> f64 {
    let g = t / MC2 + 1.0;
    let s = (g * g - 1.0).sqrt();
    if s <= 0.0 {
        return 0.0;
    }
    std::f64::consts::PI * R_E * R_E / (g + 1.0)
        * ((g * g + 4.0 * g + 1.0) / (g * g - 1.0) * (g + s).ln() - (3.0 + g) / s)
}

/// (pc)^2 and beta^2 at kinetic energy t (eV).
#[inline]
fn kinematics(t: f64) -> (f64, f64) {
    let pc2 = t * (t + 2.0 * MC2);
    let e = t + MC2;
    (pc2, pc2 / (e * e))
}

/// Per element of a material: its atoms per gram and Z.
#[derive(Debug, Clone, Copy)]
struct Atom {
    per_gram: f64,
    /// pi Z (Z + 1) r_e^2 (mc^2)^2.
    a: f64,
    /// (alpha / 0.885)^2 (mc^2)^2 Z^(2/3) / 4.
    eta: f64,
    /// 3.76 (alpha Z)^2.
    coulomb: f64,
}

impl Atom {
    fn new(z: f64, per_gram: f64) -> Self {
        Self {
            per_gram,
            a: std::f64::consts::PI * z * (z + 1.0) * R_E * R_E * MC2 * MC2,
            eta: 0.25 * (ALPHA / 0.885).powi(2) * MC2 * MC2 * z.powf(2.0 / 3.0),
            coulomb: 3.76 * (ALPHA * z).powi(2),
        }
    }

    /// The screened Rutherford cross section's factor A (cm^2) and Moliere's screening parameter
    /// eta at kinetic energy `t`: dsigma/dmu = A / (mu + eta)^2, mu = (1 - cos theta) / 2.
    #[inline]
    fn wentzel(&self, pc2: f64, beta2: f64) -> (f64, f64) {
        (
            self.a / (pc2 * beta2),
            self.eta / pc2 * (1.13 + self.coulomb / beta2),
        )
    }
}

/// Tables of one material, per gram, on the uniform ln(T) grid.
#[derive(Debug, Clone)]
pub(crate) struct ElectronMaterial {
    atoms: Vec<Atom>,
    /// The effective Z^(1/3) of the Koch-Motz bremsstrahlung angular distribution: the
    /// elements' Z^(1/3) weighted by their atoms per gram times Z (Z + 1).
    pub brems_z13: f64,
    /// Restricted total (collision + radiative) stopping power, eV cm^2/g [electron, positron].
    pub stopping: [Vec<f64>; 2],
    /// Range with the restricted stopping power from E_LOW, g/cm^2 [electron, positron].
    pub range: [Vec<f64>; 2],
    /// Hard events per g/cm^2 of path: elastic, delta rays, bremsstrahlung, annihilation
    /// in flight (positrons), [electron, positron].
    pub hard_elastic: Vec<f64>,
    pub delta: [Vec<f64>; 2],
    pub brems: Vec<f64>,
    pub annihilation: Vec<f64>,
    /// The sum of the hard cross sections, and its maximum over the energies a step may lose.
    pub hard: [Vec<f64>; 2],
    pub hard_max: [Vec<f64>; 2],
    /// The hard elastic cutoff mu_c.
    pub mu_c: Vec<f64>,
    /// Soft elastic moments: integral of mu and of mu^2 over dsigma/dmu below mu_c, cm^2/g.
    pub soft1: Vec<f64>,
    pub soft2: Vec<f64>,
    /// The largest path (g/cm^2) of one step at each energy (max_energy_loss).
    pub step_max: [Vec<f64>; 2],
}

/// Electron and positron physics of the materials of a phantom.
#[derive(Debug, Clone)]
pub struct ElectronPhysics {
    grid: EnergyGrid,
    pub(crate) materials: Vec<ElectronMaterial>,
    pub(crate) options: ElectronOptions,
    /// For dose to water: per material, [electron, positron], W(E) on the grid, the energy a
    /// particle slowing down from E to 0 in the material would lose in water over the same
    /// slowing down: the integral of (S/rho)_w / (S/rho)_m (restricted stopping powers) from 0
    /// to E. Empty when the dose is scored in the medium.
    to_water: Vec<[Vec<f64>; 2]>,
}

impl ElectronPhysics {
    /// Tables for `materials` (index = material number in the phantom).
    pub fn new(materials: &[Material], options: ElectronOptions) -> Self {
        let grid = EnergyGrid::spanning(E_LOW, E_HIGH, N_GRID);
        let energies: Vec<f64> = (0..N_GRID).map(|i| grid.energy(i)).collect();
        let mut this = Self {
            grid,
            materials: Vec::new(),
            options,
            to_water: Vec::new(),
        };
        this.materials = materials
            .iter()
            .map(|m| this.material_tables(m, &energies))
            .collect();
        this
    }

    fn material_tables(&self, m: &Material, energies: &[f64]) -> ElectronMaterial {
        let o = &self.options;
        let n_e = electrons_per_gram(m);
        let atoms: Vec<Atom> = m
            .composition()
            .iter()
            .filter_map(|&(z, w)| {
                element(z).map(|e| Atom::new(f64::from(z), w * AVOGADRO / e.atomic_mass))
            })
            .collect();
        let (mut zw, mut w) = (0.0, 0.0);
        for &(z, f) in m.composition() {
            if let Some(e) = element(z) {
                let z = f64::from(z);
                let strength = f / e.atomic_mass * z * (z + 1.0);
                zw += strength * z.cbrt();
                w += strength;
            }
        }
        let n = energies.len();
        let mut t = ElectronMaterial {
            atoms,
            brems_z13: if w > 0.0 { zw / w } else { 1.0 },
            stopping: [vec![0.0; n], vec![0.0; n]],
            range: [vec![0.0; n], vec![0.0; n]],
            hard_elastic: vec![0.0; n],
            delta: [vec![0.0; n], vec![0.0; n]],
            brems: vec![0.0; n],
            annihilation: vec![0.0; n],
            hard: [vec![0.0; n], vec![0.0; n]],
            hard_max: [vec![0.0; n], vec![0.0; n]],
            mu_c: vec![0.0; n],
            soft1: vec![0.0; n],
            soft2: vec![0.0; n],
            step_max: [vec![0.0; n], vec![0.0; n]],
        };
        let kc = o.bremsstrahlung_threshold_ev;
        let wc = o.delta_threshold_ev;
        for (i, &e) in energies.iter().enumerate() {
            let (pc2, beta2) = kinematics(e);
            let tau = e / MC2;
            let srad = radiative_stopping(m, e);
            t.brems[i] = if e > kc {
                srad / e * photons_above(kc / e)
            } else {
                0.0
            };
            let k = 2.0 * std::f64::consts::PI * R_E * R_E * MC2 * n_e / beta2 / e;
            t.delta[0][i] = k * moller_integral(tau, wc / e);
            t.delta[1][i] = k * bhabha_integral(tau, wc / e);
            t.annihilation[i] = n_e * annihilation_per_electron(e);
            // Elastic: hard mean free path max(lambda_el, C1 lambda_1).
            // Per element: (atoms per gram times A, eta).
            let w: Vec<(f64, f64)> = t
                .atoms
                .iter()
                .map(|a| {
                    let (aa, eta) = a.wentzel(pc2, beta2);
                    (a.per_gram * aa, eta)
                })
                .collect();
            let sigma_el: f64 = w.iter().map(|&(na, eta)| na / (eta * (1.0 + eta))).sum();
            let sigma_1: f64 = w
                .iter()
                .map(|&(na, eta)| 2.0 * na * (((1.0 + eta) / eta).ln() - 1.0 / (1.0 + eta)))
                .sum();
            let target = sigma_el.min(sigma_1 / o.elastic_c1);
            let hard_at = |mc: f64| -> f64 {
                w.iter()
                    .map(|&(na, eta)| na * (1.0 / (mc + eta) - 1.0 / (1.0 + eta)))
                    .sum()
            };
            let mu_c = if target >= sigma_el {
                0.0
            } else {
                let (mut lo, mut hi) = (0.0f64, 1.0f64);
                for _ in 0..100 {
                    let mid = 0.5 * (lo + hi);
                    if hard_at(mid) > target {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                0.5 * (lo + hi)
            };
            t.mu_c[i] = mu_c;
            t.hard_elastic[i] = hard_at(mu_c);
            t.soft1[i] = w
                .iter()
                .map(|&(na, eta)| na * (((mu_c + eta) / eta).ln() - mu_c / (mu_c + eta)))
                .sum();
            t.soft2[i] = w
                .iter()
                .map(|&(na, eta)| {
                    na * (mu_c - 2.0 * eta * ((mu_c + eta) / eta).ln() + eta * mu_c / (mu_c + eta))
                })
                .sum();
            t.hard[0][i] = t.hard_elastic[i] + t.delta[0][i] + t.brems[i];
            t.hard[1][i] = t.hard_elastic[i] + t.delta[1][i] + t.brems[i] + t.annihilation[i];
        }
        self.stopping_and_ranges(&mut t, m, energies);
        t
    }

    /// Scores dose to water from now on: tabulates W(E) ([`Self::water_energy`]) for every
    /// material added so far (call it after the density variants).
    pub(crate) fn score_to_water(&mut self) -> crate::Result<()> {
        let energies: Vec<f64> = (0..N_GRID).map(|i| self.grid.energy(i)).collect();
        let water = self.material_tables(&Material::builtin("water")?, &energies);
        self.to_water = self
            .materials
            .iter()
            .map(|t| {
                [0, 1].map(|q| {
                    let ratio: Vec<f64> = (0..N_GRID)
                        .map(|i| water.stopping[q][i] / t.stopping[q][i].max(1e-300))
                        .collect();
                    // Below the grid the ratio is taken as at its first point; trapezoids above.
                    let mut w = vec![energies[0] * ratio[0]; N_GRID];
                    for i in 1..N_GRID {
                        w[i] = w[i - 1]
                            + 0.5 * (ratio[i - 1] + ratio[i]) * (energies[i] - energies[i - 1]);
                    }
                    w
                })
            })
            .collect();
        Ok(())
    }

    /// Whether dose to water is scored ([`Self::score_to_water`]).
    #[inline]
    pub(crate) fn scores_to_water(&self) -> bool {
        !self.to_water.is_empty()
    }

    /// W(E) of material `m` for charge index `q` (0 electron, 1 positron): what a particle
    /// of kinetic energy `e` (eV) slowing down to rest in the material would lose in water
    /// over the same slowing down (eV); `e` itself when the dose is scored in the medium.
    #[inline]
    pub(crate) fn water_energy(&self, m: usize, q: usize, e: f64) -> f64 {
        let Some(w) = self.to_water.get(m) else {
            return e;
        };
        let w = &w[q];
        if e <= E_LOW {
            return e * w[0] / E_LOW;
        }
        // Linear in E between nodes (W is the integral of a slowly varying ratio: nearly
        // linear in E, not in ln E; in water it is E itself).
        let (i, _) = self.locate(e);
        let (e0, e1) = (self.grid.energy(i), self.grid.energy(i + 1));
        w[i] + (w[i + 1] - w[i]) * ((e - e0) / (e1 - e0)).clamp(0.0, 1.0)
    }

    /// Adds the tables of `material` at `density` (g/cm^3) instead of its nominal density, made
    /// from the tables of the nominal material at index `base`: only the collision stopping
    /// power depends on the density (through the density-effect correction delta), and with it
    /// the ranges and the step lengths. Returns the new index.
    pub(crate) fn add_density_variant(
        &mut self,
        base: usize,
        material: &Material,
        density: f64,
    ) -> usize {
        let energies: Vec<f64> = (0..N_GRID).map(|i| self.grid.energy(i)).collect();
        let mut t = self.materials[base].clone();
        self.stopping_and_ranges(&mut t, &material.with_density(density), &energies);
        self.materials.push(t);
        self.materials.len() - 1
    }

    /// Restricted stopping powers, ranges and step limits of material `m` (at its density).
    fn stopping_and_ranges(&self, t: &mut ElectronMaterial, m: &Material, energies: &[f64]) {
        let o = &self.options;
        let i_ev = mean_excitation_energy(m);
        let n_e = electrons_per_gram(m);
        let de = DensityEffect::new(m, i_ev);
        let kc = o.bremsstrahlung_threshold_ev;
        let wc = o.delta_threshold_ev;
        let n = energies.len();
        for (i, &e) in energies.iter().enumerate() {
            let (pc2, _) = kinematics(e);
            let delta = de.delta(pc2 / (MC2 * MC2));
            let srad = radiative_stopping(m, e);
            let lrad = if e > kc {
                srad * radiated_fraction_below(kc / e)
            } else {
                srad
            };
            for (q, charge) in [Charge::Electron, Charge::Positron].into_iter().enumerate() {
                t.stopping[q][i] = collision_stopping(e, wc, i_ev, n_e, delta, charge) + lrad;
            }
        }
        // Ranges: integral of dT / L from E_LOW (Simpson on each interval; below E_LOW, T / L
        // times 1/2, as ESTAR starts its ranges).
        let h = (energies[1] / energies[0]).ln();
        for q in 0..2 {
            let l = &t.stopping[q];
            // T / L at grid position x: the integrand over ln T.
            let at = |x: f64| {
                let e = self.grid.energy_at(x);
                e / interp(l, self.grid.locate(e)).max(1e-30)
            };
            let mut r = 0.5 * energies[0] / l[0].max(1e-30);
            t.range[q][0] = r;
            for i in 1..n {
                let b = i as f64;
                r += h / 6.0 * (at(b - 1.0) + 4.0 * at(b - 0.5) + at(b));
                t.range[q][i] = r;
            }
        }
        // Steps and majorants over the energy a step can lose.
        for q in 0..2 {
            for (i, &e) in energies.iter().enumerate() {
                let low = e * (1.0 - o.max_energy_loss);
                let (j, _) = self.locate(low);
                let r_low = self.range_at(&t.range[q], low);
                t.step_max[q][i] = (t.range[q][i] - r_low).max(0.0);
                let from = j.saturating_sub(1);
                let to = (i + 1).min(n - 1);
                t.hard_max[q][i] = t.hard[q][from..=to].iter().copied().fold(0.0, f64::max) * 1.001;
            }
        }
    }

    /// (index, fraction) on the grid, clamped.
    #[inline]
    pub(crate) fn locate(&self, e: f64) -> (usize, f64) {
        self.grid.locate(e)
    }

    fn range_at(&self, range: &[f64], e: f64) -> f64 {
        if e <= E_LOW {
            return range[0] * (e / E_LOW).max(0.0).powi(2);
        }
        interp(range, self.locate(e))
    }

    /// The range (g/cm^2) of a particle of kinetic energy `e` in material `m` with the
    /// restricted stopping power.
    #[cfg(test)]
    pub(crate) fn range(&self, m: usize, q: usize, e: f64) -> f64 {
        self.range_at(&self.materials[m].range[q], e)
    }

    /// [`ElectronPhysics::range`] at `e` whose grid position is `at`.
    #[inline]
    pub(crate) fn range_located(&self, m: usize, q: usize, e: f64, at: (usize, f64)) -> f64 {
        let range = &self.materials[m].range[q];
        if e <= E_LOW {
            return self.range_at(range, e);
        }
        interp(range, at)
    }

    /// The kinetic energy left after a path of `s` g/cm^2 from energy `e` (continuous loss).
    #[cfg(test)]
    pub(crate) fn energy_after(&self, m: usize, q: usize, e: f64, s: f64) -> f64 {
        let at = self.locate(e);
        self.energy_after_at(m, q, e, at, s)
    }

    /// The kinetic energy left after a path of `s` g/cm^2 from energy `e`, whose grid position
    /// is `at` (continuous loss, from the range table).
    #[inline]
    pub(crate) fn energy_after_at(
        &self,
        m: usize,
        q: usize,
        e: f64,
        at: (usize, f64),
        s: f64,
    ) -> f64 {
        let t = &self.materials[m];
        let r = &t.range[q];
        let target = if e <= E_LOW {
            self.range_at(r, e)
        } else {
            interp(r, at)
        } - s;
        if target <= r[0] {
            return if target <= 0.0 {
                0.0
            } else {
                E_LOW * (target / r[0]).sqrt()
            };
        }
        // First guess from the stopping power at e, then the node below the target. The guess's
        // grid position is e's moved by ln(guess / e) = ln(1 - x) (three terms of the series:
        // the search below corrects a start a node off; no logarithm).
        let x = (s * interp(&t.stopping[q], at) / e).min(0.5);
        let ln1m = -x * (1.0 + x * (0.5 + x / 3.0));
        let moved = at.0 as f64 + at.1 + ln1m * self.grid.inv_step();
        // (`as` maps NaN and negative values to 0.)
        let mut i = if e <= E_LOW {
            0
        } else {
            (moved as usize).min(r.len() - 2)
        };
        while i > 0 && r[i] > target {
            i -= 1;
        }
        while i + 2 < r.len() && r[i + 1] < target {
            i += 1;
        }
        let f = ((target - r[i]) / (r[i + 1] - r[i])).clamp(0.0, 1.0);
        self.grid.energy_at(i as f64 + f).min(e)
    }

    /// Unrestricted stopping powers of a material at `t` (eV), eV cm^2/g: (collision,
    /// radiative) for electrons.
    pub fn stopping_powers(material: &Material, t: f64) -> (f64, f64) {
        Self::unrestricted(material)(t)
    }

    /// The unrestricted (collision, radiative) stopping powers of a material as a function of
    /// kinetic energy, with the material's I, electron density and density-effect model
    /// prepared once.
    fn unrestricted(material: &Material) -> impl Fn(f64) -> (f64, f64) + '_ {
        let i_ev = mean_excitation_energy(material);
        let de = DensityEffect::new(material, i_ev);
        let n_e = electrons_per_gram(material);
        move |t| {
            let (pc2, _) = kinematics(t);
            let delta = de.delta(pc2 / (MC2 * MC2));
            (
                collision_stopping(t, f64::INFINITY, i_ev, n_e, delta, Charge::Electron),
                radiative_stopping(material, t),
            )
        }
    }

    /// The CSDA range (g/cm^2) of electrons of kinetic energy `t` (eV): the integral of 1 / S_tot
    /// with the unrestricted stopping powers, from 1 keV (as ESTAR: half T / S below it).
    pub fn csda_range(material: &Material, t: f64) -> f64 {
        let stopping = Self::unrestricted(material);
        let total = |e: f64| {
            let (c, r) = stopping(e);
            c + r
        };
        let n = 2000;
        let (a, b) = (E_LOW.ln(), t.ln());
        let h = (b - a) / f64::from(n);
        let f = |x: f64| x.exp() / total(x.exp());
        let mut s = f(a) + f(b);
        for k in 1..n {
            s += f(a + f64::from(k) * h) * if k % 2 == 1 { 4.0 } else { 2.0 };
        }
        0.5 * E_LOW / total(E_LOW) + s * h / 3.0
    }

    /// Samples the hard elastic deflection mu = (1 - cos theta) / 2 at kinetic energy `e` in
    /// material `m` (above the table's cutoff mu_c).
    pub(crate) fn sample_hard_elastic(&self, m: usize, e: f64, rng: &mut Rng) -> f64 {
        let t = &self.materials[m];
        let mu_c = interp(&t.mu_c, self.locate(e));
        let (pc2, beta2) = kinematics(e);
        let pick = |a: &Atom| {
            let (aa, eta) = a.wentzel(pc2, beta2);
            (
                a.per_gram * aa * (1.0 / (mu_c + eta) - 1.0 / (1.0 + eta)),
                eta,
            )
        };
        let eta = if t.atoms.len() == 1 {
            pick(&t.atoms[0]).1
        } else {
            let total: f64 = t.atoms.iter().map(|a| pick(a).0).sum();
            let mut u = rng.uniform() * total;
            let mut chosen = pick(&t.atoms[t.atoms.len() - 1]).1;
            for a in &t.atoms {
                let (w, eta) = pick(a);
                if u < w {
                    chosen = eta;
                    break;
                }
                u -= w;
            }
            chosen
        };
        let a = 1.0 / (mu_c + eta);
        let b = a - 1.0 / (1.0 + eta);
        let mu = 1.0 / (a - rng.uniform() * b) - eta;
        mu.clamp(0.0, 1.0)
    }
}

mod sampling;

pub(crate) use sampling::{
    binary_cosines, sample_annihilation, sample_bhabha, sample_brems, sample_forward,
    sample_koch_motz, sample_moller, sample_sauter, soft_deflection,
};

#[cfg(test)]
use sampling::koch_motz_h;

#[cfg(test)]
mod tests;
