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

use crate::collimator::{Collimator, lead_mu_per_cm};
use crate::crystal::{Crystal, Slab};
use crate::trace::Lattice;
use crate::{Error, Result};

/// Entry points sampled per slope cell.
const POINTS_PER_CELL: usize = 96;

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
                let tx = (i as f64 - m as f64 + rng.uniform() - 0.5) * h;
                let ty = (j as f64 - m as f64 + rng.uniform() - 0.5) * h;
                let norm = (1.0 + tx * tx + ty * ty).sqrt();
                let u = [tx / norm, ty / norm, 1.0 / norm];
                let [x, y] = lattice.cell_point(rng.uniform(), rng.uniform());
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
            let mu = lead_mu_per_cm(e_min + k as f64 * de)?;
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
