//! Queue-latency models: how long a submitted job waits before it runs, including jobs that never
//! run (lost: they wait forever until a timeout resubmits them).

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A small deterministic random stream (splitmix64) for the planner and the simulator.
#[derive(Debug, Clone)]
pub struct Stream(u64);

impl Stream {
    /// A stream from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// A latency distribution, seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum LatencyModel {
    /// Every job waits the same.
    Fixed {
        /// Seconds.
        seconds: f64,
    },
    /// Waits drawn from observed ones (e.g. from past runs' job stores).
    Empirical {
        /// Observed waits, seconds.
        samples: Vec<f64>,
    },
    /// A log-normal body with heavy-tailed outliers and lost jobs, the shape measured on
    /// production grids (Glatard et al. 2007; Camarasu-Pop et al. 2010): most jobs wait about
    /// `median_s` (log-normal with `sigma`), a fraction `outlier_fraction` waits `outlier_factor`
    /// times longer, and a fraction `lost_fraction` never runs.
    Parametric {
        /// Median wait of the body, seconds.
        median_s: f64,
        /// Log-normal shape of the body.
        sigma: f64,
        /// Fraction of outliers.
        outlier_fraction: f64,
        /// How much longer outliers wait.
        outlier_factor: f64,
        /// Fraction of jobs that never run.
        lost_fraction: f64,
    },
}

impl LatencyModel {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Plan(m));
        match self {
            LatencyModel::Fixed { seconds } if !(seconds.is_finite() && *seconds >= 0.0) => {
                bad(format!("fixed latency {seconds} s"))
            }
            LatencyModel::Empirical { samples }
                if samples.is_empty() || samples.iter().any(|s| !(s.is_finite() && *s >= 0.0)) =>
            {
                bad("empirical latencies: expected non-negative finite samples".into())
            }
            LatencyModel::Parametric {
                median_s,
                sigma,
                outlier_fraction,
                outlier_factor,
                lost_fraction,
            } if !(median_s.is_finite()
                && *median_s > 0.0
                && sigma.is_finite()
                && *sigma >= 0.0
                && (0.0..1.0).contains(outlier_fraction)
                && outlier_factor.is_finite()
                && *outlier_factor >= 1.0
                && (0.0..0.9).contains(lost_fraction)) =>
            {
                bad(format!("parametric latency {self:?}"))
            }
            _ => Ok(()),
        }
    }

    /// One wait, seconds (infinite for a lost job).
    pub fn sample(&self, s: &mut Stream) -> f64 {
        match self {
            LatencyModel::Fixed { seconds } => *seconds,
            LatencyModel::Empirical { samples } => {
                samples[(s.next_u64() % samples.len() as u64) as usize]
            }
            LatencyModel::Parametric {
                median_s,
                sigma,
                outlier_fraction,
                outlier_factor,
                lost_fraction,
            } => {
                let u = s.uniform();
                if u < *lost_fraction {
                    return f64::INFINITY;
                }
                let body = median_s * (sigma * s.normal()).exp();
                if u < lost_fraction + outlier_fraction {
                    body * outlier_factor
                } else {
                    body
                }
            }
        }
    }

    /// The cumulative distribution at `t` (estimated from `n` draws for the parametric model,
    /// exact otherwise), for choosing timeouts.
    pub fn cdf(&self, t: f64, draws: &[f64]) -> f64 {
        match self {
            LatencyModel::Fixed { seconds } => f64::from(u8::from(*seconds <= t)),
            LatencyModel::Empirical { samples } => {
                samples.iter().filter(|x| **x <= t).count() as f64 / samples.len() as f64
            }
            LatencyModel::Parametric { .. } => {
                draws.iter().filter(|x| **x <= t).count() as f64 / draws.len().max(1) as f64
            }
        }
    }
}

/// The timeout that minimises the expected wait of a job resubmitted whenever it has waited that
/// long (Glatard, Montagnat and Pennec 2007): E(t) = (integral from 0 to t of (1 - F(u)) du) /
/// F(t), evaluated on the empirical distribution of `draws` (sorted waits, infinite for lost
/// jobs). Returns (timeout, expected wait); (infinity, mean) when no timeout helps.
pub fn best_timeout(draws: &[f64]) -> (f64, f64) {
    let mut d: Vec<f64> = draws.to_vec();
    d.sort_by(f64::total_cmp);
    let n = d.len() as f64;
    let finite: Vec<f64> = d.iter().copied().filter(|x| x.is_finite()).collect();
    let mut best = (f64::INFINITY, f64::INFINITY);
    if finite.len() == d.len() && !d.is_empty() {
        best = (f64::INFINITY, d.iter().sum::<f64>() / n);
    }
    // Candidate timeouts: the observed waits. Integral of the survival function up to t_k.
    let mut integral = 0.0;
    let mut prev = 0.0;
    for (k, &t) in finite.iter().enumerate() {
        integral += (t - prev) * (1.0 - k as f64 / n);
        prev = t;
        let f = (k + 1) as f64 / n;
        let e = integral / f;
        if e < best.1 {
            best = (t, e);
        }
    }
    best
}
