//! Angular response tables, built once per acquisition by explicit transport through the
//! collimator (GATE's ARF approach, Song et al., Phys Med Biol 50:1791, 2005):
//!
//! - [`Arf`]: the probability that a photon reaching the collimator face with direction
//!   `(tan_x, tan_y)` (its slopes across the face, in the detector's u and z) passes the
//!   collimator: the septa transmission `exp(-mu_Pb(E) L)` averaged over the entry point in the
//!   hole lattice, on a grid of slopes and photon energies. Its integral over solid angle is the
//!   collimator's efficiency times 4 pi, penetration included.
//! - [`WindowTable`]: the probability that a photon of energy `E` entering the crystal is recorded
//!   in each energy window: Monte Carlo of the energy deposited in the slab, the Gaussian energy
//!   resolution applied analytically.

use hope_mc::rng::Rng;

use crate::collimator::Collimator;
#[cfg(test)]
use crate::collimator::lead_mu_per_cm;
use crate::crystal::{Crystal, Slab, turn};
use crate::trace::Lattice;
use crate::{Error, Result};

/// Entry points and directions sampled per slope cell: a jittered 16 x 16 grid over the
/// lattice's cell, and one over the slope cell in another order (stratified: the transmission
/// varies most with the entry point).
const STRATA: usize = 16;
const POINTS_PER_CELL: usize = STRATA * STRATA;

/// The collimator's angular response on a grid of slopes and energies.
#[derive(Debug, Clone)]
pub(crate) struct Arf {
    /// Cells per axis: `2 m + 1`, cell `k` centred on slope `(k - m) h`.
    m: usize,
    h: f64,
    /// Energy grid, eV.
    e0: f64,
    de: f64,
    /// `t[e][cell]`: transmission.
    t: Vec<Vec<f32>>,
    /// `s[e]`: the integral of the transmission over solid angle, sr.
    s: Vec<f64>,
    /// `cdf[e][cell]`: cumulative of transmission times solid angle, for sampling.
    cdf: Vec<Vec<f64>>,
}

impl Arf {
    /// Slopes up to `t_max`, cells of at most `h_max`; energies from `e_min` to `e_max` eV.
    pub(crate) fn new(
        c: &Collimator,
        t_max: f64,
        e_min: f64,
        e_max: f64,
        seed: u64,
    ) -> Result<Arf> {
        let lattice = Lattice::new(c);
        // Cells a sixth of the acceptance half-angle d / l.
        let h_max = c.hole_cm() / c.length_cm() / 6.0;
        let m = (t_max / h_max).ceil() as usize;
        if m > 400 {
            return Err(Error::invalid(
                "max_angle_deg",
                format!(
                    "{:.1} degrees needs {} x {} slope cells for this collimator; at most 801 x 801",
                    t_max.atan().to_degrees(),
                    2 * m + 1,
                    2 * m + 1
                ),
            ));
        }
        let h = t_max / (m as f64 + 0.5);
        let side = 2 * m + 1;
        // Path lengths in the septa: POINTS_PER_CELL per cell, directions and entry points
        // spread over the cell and the lattice's primitive cell.
        let mut paths = vec![0.0f32; side * side * POINTS_PER_CELL];
        // A stream of its own: not one of the simulation's chunks (seed, chunk).
        let mut rng = Rng::for_batch(seed ^ 0xA2F0_5EED_0000_0001, 0);
        for cell in 0..side * side {
            let (i, j) = (cell % side, cell / side);
            for k in 0..POINTS_PER_CELL {
                // Directions in the order k -> 7k mod 256, a permutation of the strata.
                let d = (k * 7) % POINTS_PER_CELL;
                let (si, sj) = ((d % STRATA) as f64, (d / STRATA) as f64);
                let n = STRATA as f64;
                let tx = (i as f64 - m as f64 + (si + rng.uniform()) / n - 0.5) * h;
                let ty = (j as f64 - m as f64 + (sj + rng.uniform()) / n - 0.5) * h;
                let norm = (1.0 + tx * tx + ty * ty).sqrt();
                let u = [tx / norm, ty / norm, 1.0 / norm];
                let [x, y] = lattice.cell_point(
                    ((k % STRATA) as f64 + rng.uniform()) / n,
                    ((k / STRATA) as f64 + rng.uniform()) / n,
                );
                paths[cell * POINTS_PER_CELL + k] = lattice.septa_path(x, y, u) as f32;
            }
        }
        let de = 1_000.0;
        let points = ((e_max - e_min) / de).ceil().max(1.0) as usize + 1;
        let solid: Vec<f64> = (0..side * side)
            .map(|cell| {
                let (tx, ty) = (
                    ((cell % side) as f64 - m as f64) * h,
                    ((cell / side) as f64 - m as f64) * h,
                );
                h * h * (1.0 + tx * tx + ty * ty).powf(-1.5)
            })
            .collect();
        let mut t = Vec::with_capacity(points);
        let mut s = Vec::with_capacity(points);
        let mut cdf = Vec::with_capacity(points);
        for k in 0..points {
            let mu = c.mu_per_cm(e_min + k as f64 * de)?;
            let row: Vec<f32> = (0..side * side)
                .map(|cell| {
                    let p = &paths[cell * POINTS_PER_CELL..(cell + 1) * POINTS_PER_CELL];
                    (p.iter().map(|l| (-mu * f64::from(*l)).exp()).sum::<f64>()
                        / POINTS_PER_CELL as f64) as f32
                })
                .collect();
            let mut acc = 0.0;
            let c: Vec<f64> = row
                .iter()
                .zip(&solid)
                .map(|(v, w)| {
                    acc += f64::from(*v) * w;
                    acc
                })
                .collect();
            s.push(acc);
            t.push(row);
            cdf.push(c);
        }
        Ok(Arf {
            m,
            h,
            e0: e_min,
            de,
            t,
            s,
            cdf,
        })
    }

    /// The largest slope tabulated.
    pub(crate) fn t_max(&self) -> f64 {
        (self.m as f64 + 0.5) * self.h
    }

    fn energy(&self, e: f64) -> (usize, f64) {
        let x = ((e - self.e0) / self.de).max(0.0);
        let k = (x as usize).min(self.t.len().saturating_sub(2));
        (k, (x - k as f64).min(1.0))
    }

    /// The integral of the transmission over solid angle at `e`, sr.
    pub(crate) fn solid_angle(&self, e: f64) -> f64 {
        if self.s.len() == 1 {
            return self.s[0];
        }
        let (k, f) = self.energy(e);
        self.s[k] + f * (self.s[k + 1] - self.s[k])
    }

    /// The transmission of a photon of energy `e` with slopes `(tx, ty)` (0 outside the table).
    pub(crate) fn transmission(&self, e: f64, tx: f64, ty: f64) -> f64 {
        let side = 2 * self.m + 1;
        let (i, j) = (
            tx / self.h + self.m as f64 + 0.5,
            ty / self.h + self.m as f64 + 0.5,
        );
        if !(i >= 0.0 && j >= 0.0 && i < side as f64 && j < side as f64) {
            return 0.0;
        }
        let cell = j as usize * side + i as usize;
        if self.t.len() == 1 {
            return f64::from(self.t[0][cell]);
        }
        let (k, f) = self.energy(e);
        let (a, b) = (f64::from(self.t[k][cell]), f64::from(self.t[k + 1][cell]));
        a + f * (b - a)
    }

    /// Slopes drawn from the transmission times solid angle at the grid energy nearest `e`.
    pub(crate) fn sample(&self, e: f64, rng: &mut Rng) -> (f64, f64) {
        let (k, f) = self.energy(e);
        let row = &self.cdf[if f < 0.5 {
            k
        } else {
            (k + 1).min(self.cdf.len() - 1)
        }];
        let total = row.last().copied().unwrap_or(0.0);
        let r = rng.uniform() * total;
        let cell = row.partition_point(|c| *c <= r).min(row.len() - 1);
        let side = 2 * self.m + 1;
        let (i, j) = (cell % side, cell / side);
        (
            (i as f64 - self.m as f64 + rng.uniform() - 0.5) * self.h,
            (j as f64 - self.m as f64 + rng.uniform() - 0.5) * self.h,
        )
    }
}

/// An energy window, `[lo, hi)` of the pulse height.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// A name for the outputs (`"photopeak"`, `"lower"`, ...).
    pub name: String,
    /// Lower edge, eV.
    pub lo_ev: f64,
    /// Upper edge, eV.
    pub hi_ev: f64,
}

impl Window {
    /// A window of `name` from `lo_ev` to `hi_ev`.
    pub fn new(name: &str, lo_ev: f64, hi_ev: f64) -> Window {
        Window {
            name: name.to_string(),
            lo_ev,
            hi_ev,
        }
    }

    /// A window of relative width `width` (0.2 for 20 %) centred on `centre_ev`.
    pub fn centred(name: &str, centre_ev: f64, width: f64) -> Window {
        Window::new(
            name,
            centre_ev * (1.0 - width / 2.0),
            centre_ev * (1.0 + width / 2.0),
        )
    }

    /// The width, eV.
    pub fn width_ev(&self) -> f64 {
        self.hi_ev - self.lo_ev
    }
}

/// The probability that the crystal records a photon of energy `E` in each window.
#[derive(Debug, Clone)]
pub(crate) struct WindowTable {
    e0: f64,
    de: f64,
    /// `p[e][window]`.
    p: Vec<Vec<f64>>,
}

/// The standard normal distribution function (Abramowitz and Stegun 26.2.17 via erfc 7.1.26,
/// absolute error below 1.5e-7).
pub(crate) fn normal_cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erfc = poly * (-z * z).exp();
    if x >= 0.0 {
        1.0 - 0.5 * erfc
    } else {
        0.5 * erfc
    }
}

impl WindowTable {
    /// Energies from `e_min` to `e_max` eV every keV, `photons` per energy.
    pub(crate) fn new(
        crystal: &Crystal,
        windows: &[Window],
        e_min: f64,
        e_max: f64,
        photons: usize,
        seed: u64,
    ) -> Result<WindowTable> {
        let slab = Slab::new(crystal.thickness_cm)?;
        let de = 1_000.0;
        let points = ((e_max - e_min) / de).ceil().max(1.0) as usize + 1;
        let mut p = Vec::with_capacity(points);
        for k in 0..points {
            let e = e_min + k as f64 * de;
            let mut rng = Rng::for_batch(seed ^ 0xC0_5EED_0000_0002, k as u64);
            let mut row = vec![0.0; windows.len()];
            for _ in 0..photons {
                let d = slab.follow(e, &mut rng);
                if d <= 0.0 {
                    continue;
                }
                let sigma = crystal.sigma_ev(d);
                for (w, out) in windows.iter().zip(&mut row) {
                    *out += if sigma > 0.0 {
                        normal_cdf((w.hi_ev - d) / sigma) - normal_cdf((w.lo_ev - d) / sigma)
                    } else {
                        f64::from(u8::from((w.lo_ev..w.hi_ev).contains(&d)))
                    };
                }
            }
            row.iter_mut().for_each(|x| *x /= photons as f64);
            p.push(row);
        }
        Ok(WindowTable { e0: e_min, de, p })
    }

    /// The probabilities at `e`, into `out`.
    pub(crate) fn at(&self, e: f64, out: &mut [f64]) {
        let x = ((e - self.e0) / self.de).max(0.0);
        if self.p.len() == 1 {
            out.copy_from_slice(&self.p[0]);
            return;
        }
        let k = (x as usize).min(self.p.len() - 2);
        let f = (x - k as f64).min(1.0);
        for ((o, a), b) in out.iter_mut().zip(&self.p[k]).zip(&self.p[k + 1]) {
            *o = a + f * (b - a);
        }
    }
}

/// Scatter in the collimator, tabulated by transport through it ([`crate::septa`]): the
/// probability that a photon of energy `E` reaching the face at polar angle `theta` (azimuth
/// averaged over the lattice) interacts in the lead (Compton, Rayleigh, or a lead x-ray) and is
/// then recorded in each window, on a grid of energies and angle bins up to
/// [`SCATTER_MAX_DEG`]. The photons that pass without interacting are the [`Arf`]'s.
#[derive(Debug, Clone)]
pub(crate) struct ScatterTable {
    e0: f64,
    de: f64,
    energies: usize,
    windows: usize,
    /// `s[(e * BINS + bin) * windows + w]`.
    s: Vec<f64>,
    /// Per energy: the cumulative over bins of `sum_w s * solid angle`, sr.
    cdf: Vec<f64>,
}

/// Largest angle of incidence on the collimator followed for its scatter, degrees.
pub(crate) const SCATTER_MAX_DEG: f64 = 60.0;
const BINS: usize = 30;
/// Photons per energy and angle bin.
const SCATTER_PHOTONS: usize = 600;

impl ScatterTable {
    pub(crate) fn new(
        septa: &crate::septa::Septa,
        lattice: &Lattice,
        windows: &WindowTable,
        n_windows: usize,
        e_min: f64,
        e_max: f64,
        seed: u64,
    ) -> ScatterTable {
        let de = ((e_max - e_min) / 50.0).max(4_000.0);
        let energies = ((e_max - e_min) / de).ceil().max(1.0) as usize + 1;
        let mut s = vec![0.0; energies * BINS * n_windows];
        let mut cdf = vec![0.0; energies * BINS];
        let mut holes = Vec::new();
        let mut p = vec![0.0; n_windows];
        let max = SCATTER_MAX_DEG.to_radians();
        for k in 0..energies {
            let e = e_min + k as f64 * de;
            let mut rng = Rng::for_batch(seed ^ 0x5CA7_7E55_0000_0004, k as u64);
            let mut acc = 0.0;
            for b in 0..BINS {
                let (c_hi, c_lo) = (
                    (max * b as f64 / BINS as f64).cos(),
                    (max * (b + 1) as f64 / BINS as f64).cos(),
                );
                let row = &mut s[(k * BINS + b) * n_windows..(k * BINS + b + 1) * n_windows];
                for _ in 0..SCATTER_PHOTONS {
                    let cos = c_lo + (c_hi - c_lo) * rng.uniform();
                    let u = turn(
                        [0.0, 0.0, 1.0],
                        cos,
                        2.0 * std::f64::consts::PI * rng.uniform(),
                    );
                    let [x, y] = lattice.cell_point(rng.uniform(), rng.uniform());
                    if let Some(exit) = septa.follow(x, y, u, e, &mut rng, &mut holes)
                        && exit.interacted
                    {
                        windows.at(exit.e, &mut p);
                        for (r, q) in row.iter_mut().zip(&p) {
                            *r += q;
                        }
                    }
                }
                for r in row.iter_mut() {
                    *r /= SCATTER_PHOTONS as f64;
                }
                let solid = 2.0 * std::f64::consts::PI * (c_hi - c_lo);
                acc += row.iter().sum::<f64>() * solid;
                cdf[k * BINS + b] = acc;
            }
        }
        ScatterTable {
            e0: e_min,
            de,
            energies,
            windows: n_windows,
            s,
            cdf,
        }
    }

    fn row(&self, e: f64) -> usize {
        (((e - self.e0) / self.de).round().max(0.0) as usize).min(self.energies - 1)
    }

    /// The bin of polar angle `theta` (radians), if within the table.
    pub(crate) fn bin(theta: f64) -> Option<usize> {
        let b = theta / SCATTER_MAX_DEG.to_radians() * BINS as f64;
        (b >= 0.0 && b < BINS as f64).then_some(b as usize)
    }

    /// The solid angle of bin `b` (all azimuths), sr.
    pub(crate) fn solid_angle(&self, b: usize) -> f64 {
        let max = SCATTER_MAX_DEG.to_radians();
        2.0 * std::f64::consts::PI
            * ((max * b as f64 / BINS as f64).cos() - (max * (b + 1) as f64 / BINS as f64).cos())
    }

    /// The window probabilities of bin `b` at energy `e` (linear between the grid's energies),
    /// into `out`.
    pub(crate) fn probabilities(&self, e: f64, b: usize, out: &mut [f64]) {
        let x = ((e - self.e0) / self.de).clamp(0.0, (self.energies - 1) as f64);
        let k = (x as usize).min(self.energies.saturating_sub(2));
        let f = if self.energies > 1 {
            (x - k as f64).min(1.0)
        } else {
            0.0
        };
        let k1 = (k + 1).min(self.energies - 1);
        let row =
            |k: usize| &self.s[(k * BINS + b) * self.windows..(k * BINS + b + 1) * self.windows];
        for ((o, a), c) in out.iter_mut().zip(row(k)).zip(row(k1)) {
            *o = a + f * (c - a);
        }
    }

    /// The integral over solid angle of the probabilities summed over windows at the grid
    /// energy nearest `e` (the row [`ScatterTable::sample`] draws from), sr.
    pub(crate) fn total(&self, e: f64) -> f64 {
        self.cdf[self.row(e) * BINS + BINS - 1]
    }

    /// The share of bin `b` in [`ScatterTable::total`]: its probabilities summed over windows
    /// times its solid angle, at the same row.
    pub(crate) fn bin_weight(&self, e: f64, b: usize) -> f64 {
        let k = self.row(e);
        let lo = if b == 0 {
            0.0
        } else {
            self.cdf[k * BINS + b - 1]
        };
        self.cdf[k * BINS + b] - lo
    }

    /// An angle bin drawn in proportion to its probability times solid angle, and a polar
    /// angle uniform in solid angle within it: (bin, cos theta).
    pub(crate) fn sample(&self, e: f64, rng: &mut Rng) -> (usize, f64) {
        let k = self.row(e);
        let row = &self.cdf[k * BINS..(k + 1) * BINS];
        let r = rng.uniform() * row[BINS - 1];
        let b = row.partition_point(|c| *c <= r).min(BINS - 1);
        let max = SCATTER_MAX_DEG.to_radians();
        let (c_hi, c_lo) = (
            (max * b as f64 / BINS as f64).cos(),
            (max * (b + 1) as f64 / BINS as f64).cos(),
        );
        (b, c_lo + (c_hi - c_lo) * rng.uniform())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table's integral of the transmission over solid angle equals a direct Monte Carlo
    /// integral (directions uniform over the slopes, weighted by their solid angle, entry points
    /// uniform over the lattice's cell).
    #[test]
    fn the_angular_table_integrates_the_transmission() {
        let c = Collimator::by_code("SY-LEHR").unwrap();
        let e = 140_511.0;
        let t_max = 0.15;
        let arf = Arf::new(&c, t_max, 20_000.0, 150_000.0, 3).unwrap();
        let lattice = Lattice::new(&c);
        let mu = lead_mu_per_cm(e).unwrap();
        let mut rng = Rng::for_batch(77, 0);
        let n = 2_000_000;
        let (mut sum, mut sum2) = (0.0, 0.0);
        let t = arf.t_max();
        for _ in 0..n {
            let (tx, ty) = (
                (2.0 * rng.uniform() - 1.0) * t,
                (2.0 * rng.uniform() - 1.0) * t,
            );
            let norm = (1.0 + tx * tx + ty * ty).sqrt();
            let [x, y] = lattice.cell_point(rng.uniform(), rng.uniform());
            let v = (-mu * lattice.septa_path(x, y, [tx / norm, ty / norm, 1.0 / norm])).exp()
                * (2.0 * t).powi(2)
                / norm.powi(3);
            sum += v;
            sum2 += v * v;
        }
        let mean = sum / n as f64;
        let sd = ((sum2 / n as f64 - mean * mean) / n as f64).sqrt();
        let s = arf.solid_angle(e);
        assert!(
            (s / mean - 1.0).abs() < 4.0 * sd / mean + 0.005,
            "table {s}, direct {mean} +- {sd}"
        );
    }

    /// The window table (deposits by Monte Carlo, the blur applied analytically) gives the
    /// window efficiencies the crystal gives by sampling pulse heights, within their noise.
    #[test]
    fn the_window_table_matches_sampled_pulse_heights() {
        let crystal = Crystal::nai_3_8_inch();
        let windows = [
            Window::centred("photopeak", 140_511.0, 0.2),
            Window::new("low", 70_000.0, 112_000.0),
        ];
        let table = WindowTable::new(&crystal, &windows, 20_000.0, 150_000.0, 8_000, 5).unwrap();
        let mut p = [0.0; 2];
        for e in [140_511.0, 120_000.0, 90_000.0] {
            table.at(e, &mut p);
            for (w, pw) in windows.iter().zip(p) {
                let (q, sq) = crystal
                    .window_efficiency(e, w.lo_ev, w.hi_ev, 400_000, 9)
                    .unwrap();
                let tol = 4.0 * (sq * sq + q * (1.0 - q) / 8_000.0).sqrt() + 1e-4;
                assert!(
                    (pw - q).abs() < tol,
                    "{e} eV, {}: table {pw}, sampled {q}",
                    w.name
                );
            }
        }
    }
}
