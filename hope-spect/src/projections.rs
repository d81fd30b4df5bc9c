//! Projections of a SPECT acquisition: counts per detector bin for each energy window and view,
//! Poisson noise, and the triple-energy-window scatter estimate.

use hope_mc::rng::Rng;

use crate::acquisition::{Method, Window};
use crate::{Error, Result};

/// Counts per bin, `[window][view][z][u]`, with what produced them.
#[derive(Debug, Clone, PartialEq)]
pub struct Projections {
    /// Views.
    pub views: usize,
    /// Bins along u and z.
    pub matrix: [usize; 2],
    /// Bin size, cm.
    pub pixel_cm: f64,
    /// The angle of each view, degrees.
    pub angles_deg: Vec<f64>,
    /// Radius of rotation, cm.
    pub radius_cm: f64,
    /// The energy windows.
    pub windows: Vec<Window>,
    /// Acquisition time per view, s.
    pub time_per_view_s: f64,
    /// Counts, `[window][view][z][u]`: expected counts from the simulation, or a noisy draw.
    pub counts: Vec<f64>,
    /// The radionuclide.
    pub radionuclide: String,
    /// The activity, Bq.
    pub activity_bq: f64,
    /// Decays simulated.
    pub decays: u64,
    /// Photons per decay in lines not followed (above 1.022 MeV).
    pub dropped_photons_per_decay: f64,
    /// Per bucket of histories (at most 1,024; chunk `c` of 8,192 decays in bucket `c % 1024`)
    /// and window: detections per decay summed over views and bins (the Monte Carlo's own
    /// spread, for its uncertainty).
    pub chunk_detections: Vec<Vec<f64>>,
    /// The collimator's code.
    pub collimator: String,
    /// How detection was simulated.
    pub method: Method,
}

impl Projections {
    /// Checks that the fields agree with each other (the struct's fields are public): views,
    /// angles, matrix, windows and counts.
    pub fn check(&self) -> Result<()> {
        let bad = |m: String| Error::invalid("projections", m);
        if self.views == 0 || self.angles_deg.len() != self.views {
            return Err(bad(format!(
                "{} views with {} angles",
                self.views,
                self.angles_deg.len()
            )));
        }
        if self.matrix.iter().any(|m| *m == 0 || *m > 1024) || self.windows.is_empty() {
            return Err(bad(format!(
                "matrix {:?}, {} windows",
                self.matrix,
                self.windows.len()
            )));
        }
        let n = self.windows.len() * self.views * self.bins();
        if self.counts.len() != n {
            return Err(bad(format!(
                "{} counts; the windows, views and matrix make {n}",
                self.counts.len()
            )));
        }
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if ![self.pixel_cm, self.time_per_view_s, self.radius_cm]
            .into_iter()
            .all(positive)
            || self.angles_deg.iter().any(|a| !a.is_finite())
            || self.counts.iter().any(|c| !(c.is_finite() && *c >= 0.0))
        {
            return Err(bad(
                "a bin size, time, radius, angle or count that is not a finite positive number"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The arc the views cover, degrees: the step between the first two views times the views
    /// (negative: clockwise; 360 for one view), rounded to a millionth of a degree (the angles
    /// carry the rounding of their sums, and a full turn must not read as more than 360).
    pub fn arc_deg(&self) -> f64 {
        if self.views < 2 || self.angles_deg.len() < 2 {
            return 360.0;
        }
        let step = self.angles_deg[1] - self.angles_deg[0];
        (step * self.views as f64 * 1e6).round() / 1e6
    }

    /// Bins per view.
    pub fn bins(&self) -> usize {
        self.matrix[0] * self.matrix[1]
    }

    /// The index of the window called `name`.
    pub fn window_index(&self, name: &str) -> Result<usize> {
        self.windows
            .iter()
            .position(|w| w.name == name)
            .ok_or_else(|| {
                Error::invalid(
                    "window",
                    format!(
                        "`{name}`; the projections have {}",
                        self.windows
                            .iter()
                            .map(|w| w.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })
    }

    /// The counts of view `v` in window `w`, `[z][u]`.
    pub fn view(&self, w: usize, v: usize) -> &[f64] {
        let b = self.bins();
        let start = (w * self.views + v) * b;
        &self.counts[start..start + b]
    }

    /// All views of window `w`, each `[z][u]`.
    pub fn window_views(&self, w: usize) -> Vec<Vec<f64>> {
        (0..self.views).map(|v| self.view(w, v).to_vec()).collect()
    }

    /// The total counts of window `w` and the relative standard uncertainty of the Monte Carlo
    /// estimate (from the spread between chunks of histories).
    pub fn total(&self, w: usize) -> (f64, f64) {
        let b = self.bins() * self.views;
        let total: f64 = self.counts[w * b..(w + 1) * b].iter().sum();
        let x: Vec<f64> = self.chunk_detections.iter().map(|c| c[w]).collect();
        let n = x.len() as f64;
        if n < 2.0 {
            return (total, f64::NAN);
        }
        let mean = x.iter().sum::<f64>() / n;
        let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0);
        (
            total,
            if mean > 0.0 {
                (var / n).sqrt() / mean
            } else {
                f64::NAN
            },
        )
    }

    /// A noisy acquisition: each bin a Poisson draw with the expected counts as its mean.
    /// Depends on `seed` only.
    pub fn with_poisson_noise(&self, seed: u64) -> Projections {
        let mut out = self.clone();
        for (k, row) in out.counts.chunks_mut(4_096).enumerate() {
            let mut rng = Rng::for_batch(seed, 0x9015_0000 + k as u64);
            for x in row {
                *x = poisson(*x, &mut rng) as f64;
            }
        }
        out
    }

    /// The triple-energy-window estimate of the scatter in window `peak` for each view and bin
    /// (`[view][z][u]`): `(C_lower / w_lower + C_upper / w_upper) w_peak / 2` (Ogawa et al.,
    /// IEEE Trans Med Imaging 10:408, 1991), smoothed by a `smooth` x `smooth` box (1: none), as
    /// the noise of narrow windows asks. `upper` may be None (a dual-window estimate from below,
    /// as for Tc-99m where the upper window is nearly empty).
    pub fn tew(
        &self,
        peak: usize,
        lower: usize,
        upper: Option<usize>,
        smooth: usize,
    ) -> Result<Vec<Vec<f64>>> {
        let n = self.windows.len();
        if peak >= n || lower >= n || upper.is_some_and(|u| u >= n) {
            return Err(Error::invalid(
                "tew",
                format!("window index beyond the {n} windows"),
            ));
        }
        // (Attack round: a scatter window equal to, or overlapping, the photopeak's was taken.)
        for s in std::iter::once(lower).chain(upper) {
            let (a, b) = (&self.windows[s], &self.windows[peak]);
            // Windows whose edges meet within a thousandth of the photopeak's energy (keV
            // written to two decimals) are adjacent, not overlapping.
            let slack = 1e-3 * (b.lo_ev + b.hi_ev) / 2.0;
            if s == peak || (a.lo_ev < b.hi_ev - slack && b.lo_ev < a.hi_ev - slack) {
                return Err(Error::invalid(
                    "tew",
                    format!(
                        "the scatter window `{}` overlaps the photopeak window `{}`",
                        a.name, b.name
                    ),
                ));
            }
        }
        if upper == Some(lower) {
            return Err(Error::invalid(
                "tew",
                "the lower and upper windows are the same",
            ));
        }
        if smooth == 0 || smooth > 31 {
            return Err(Error::invalid(
                "smooth",
                format!("{smooth}; expected 1 to 31"),
            ));
        }
        let wp = self.windows[peak].width_ev();
        let wl = self.windows[lower].width_ev();
        let [nu, nz] = self.matrix;
        let mut out = Vec::with_capacity(self.views);
        for v in 0..self.views {
            let low = self.view(lower, v);
            let raw: Vec<f64> = (0..self.bins())
                .map(|b| {
                    let up = upper.map_or(0.0, |u| self.view(u, v)[b] / self.windows[u].width_ev());
                    (low[b] / wl + up) * wp / 2.0
                })
                .collect();
            if smooth == 1 {
                out.push(raw);
                continue;
            }
            let h = (smooth / 2) as isize;
            let mut s = vec![0.0; raw.len()];
            for z in 0..nz as isize {
                for u in 0..nu as isize {
                    let (mut acc, mut k) = (0.0, 0.0);
                    for dz in -h..=h {
                        for du in -h..=h {
                            let (zz, uu) = (z + dz, u + du);
                            if zz >= 0 && uu >= 0 && zz < nz as isize && uu < nu as isize {
                                acc += raw[zz as usize * nu + uu as usize];
                                k += 1.0;
                            }
                        }
                    }
                    s[z as usize * nu + u as usize] = acc / k;
                }
            }
            out.push(s);
        }
        Ok(out)
    }
}

/// `ln(k!)`.
fn ln_factorial(k: f64) -> f64 {
    if k < 10.0 {
        let mut f = 1.0f64;
        let mut i = 2.0;
        while i <= k {
            f *= i;
            i += 1.0;
        }
        f.ln()
    } else {
        // Stirling's series.
        let x = k + 1.0;
        (x - 0.5) * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI).ln() + 1.0 / (12.0 * x)
            - 1.0 / (360.0 * x * x * x)
            + 1.0 / (1260.0 * x.powi(5))
    }
}

/// A Poisson draw of mean `lambda`: by multiplication of uniforms below 10, by Hormann's
/// transformed rejection with squeeze (PTRS; Insurance Math Econom 12:39, 1993) above.
pub(crate) fn poisson(lambda: f64, rng: &mut Rng) -> u64 {
    if lambda.is_nan() || lambda <= 0.0 || !lambda.is_finite() {
        return 0;
    }
    if lambda < 10.0 {
        let limit = (-lambda).exp();
        let (mut k, mut prod) = (0u64, rng.uniform_open());
        while prod > limit {
            k += 1;
            prod *= rng.uniform_open();
        }
        return k;
    }
    let slam = lambda.sqrt();
    let loglam = lambda.ln();
    let b = 0.931 + 2.53 * slam;
    let a = -0.059 + 0.024_83 * b;
    let inv_alpha = 1.123_9 + 1.132_8 / (b - 3.4);
    let vr = 0.927_7 - 3.622_4 / (b - 2.0);
    loop {
        let u = rng.uniform() - 0.5;
        let v = rng.uniform_open();
        let us = 0.5 - u.abs();
        let k = ((2.0 * a / us + b) * u + lambda + 0.43).floor();
        if us >= 0.07 && v <= vr {
            return k as u64;
        }
        if k < 0.0 || (us < 0.013 && v > us) {
            continue;
        }
        if v.ln() + inv_alpha.ln() - (a / (us * us) + b).ln()
            <= -lambda + k * loglam - ln_factorial(k)
        {
            return k as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mean and variance of the draws equal the mean, for small and large means; the
    /// probabilities of a few values match the distribution.
    #[test]
    fn poisson_draws_have_the_poisson_moments() {
        for lambda in [0.3, 4.0, 9.9, 10.0, 37.5, 1_000.0] {
            let mut rng = Rng::for_batch(3, lambda as u64);
            let n = 200_000;
            let draws: Vec<f64> = (0..n).map(|_| poisson(lambda, &mut rng) as f64).collect();
            let mean = draws.iter().sum::<f64>() / n as f64;
            let var = draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0);
            let se = (lambda / n as f64).sqrt();
            assert!((mean - lambda).abs() < 5.0 * se, "{lambda}: mean {mean}");
            assert!(
                (var / lambda - 1.0).abs() < 0.02,
                "{lambda}: variance {var}"
            );
            let k = lambda.floor();
            let p = (k * lambda.ln() - lambda - ln_factorial(k)).exp();
            let f = draws.iter().filter(|d| **d == k).count() as f64 / n as f64;
            assert!(
                (f - p).abs() < 5.0 * (p / n as f64).sqrt(),
                "{lambda}: P({k}) {f} vs {p}"
            );
        }
        assert_eq!(poisson(0.0, &mut Rng::for_batch(1, 1)), 0);
        assert_eq!(poisson(f64::NAN, &mut Rng::for_batch(1, 1)), 0);
    }

    #[test]
    fn ln_factorial_is_exact_enough() {
        let mut f = 0.0f64;
        for k in 1..40 {
            f += (k as f64).ln();
            assert!((ln_factorial(k as f64) - f).abs() < 1e-9, "{k}");
        }
    }
}
