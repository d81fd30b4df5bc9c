//! Photon energies emitted: one energy, line tables, histograms, and radionuclides (ICRP 107).

use crate::rng::Rng;
use crate::{Error, Result};

/// Photon energies emitted.
#[derive(Debug, Clone, PartialEq)]
pub enum Spectrum {
    /// One energy, eV.
    Mono(f64),
    /// Lines: (energy eV, relative intensity); sampled by their cumulative distribution.
    Lines(Vec<(f64, f64)>),
    /// A histogram: bin edges (eV, increasing) and the probability of each bin (normalised),
    /// energies uniform within a bin.
    Histogram {
        /// Bin edges, one more than bins.
        edges: Vec<f64>,
        /// Bin probabilities.
        weights: Vec<f64>,
    },
}

impl Spectrum {
    /// A line spectrum; errors name a bad line.
    pub fn lines(lines: &[(f64, f64)]) -> Result<Self> {
        if lines.is_empty() {
            return Err(Error::Source {
                message: "a line spectrum without lines".into(),
            });
        }
        for &(e, w) in lines {
            if !(e.is_finite() && e > 0.0 && w.is_finite() && w >= 0.0) {
                return Err(Error::Source {
                    message: format!(
                        "line ({e} eV, intensity {w}): expected a positive energy and a non-negative intensity"
                    ),
                });
            }
        }
        let total: f64 = lines.iter().map(|l| l.1).sum();
        if !(total.is_finite() && total > 0.0) {
            return Err(Error::Source {
                message: format!(
                    "line intensities sum to {total}; expected a positive, finite sum"
                ),
            });
        }
        Ok(Spectrum::Lines(
            lines.iter().map(|&(e, w)| (e, w / total)).collect(),
        ))
    }

    /// A histogram spectrum from bin edges (eV, increasing, positive) and bin intensities
    /// (non-negative, any scale); errors name the bad bin.
    pub fn histogram(edges: &[f64], intensities: &[f64]) -> Result<Self> {
        let bad = |m: String| Error::Source { message: m };
        if intensities.is_empty() || edges.len() != intensities.len() + 1 {
            return Err(bad(format!(
                "{} bin edges for {} bins: expected one edge more than bins",
                edges.len(),
                intensities.len()
            )));
        }
        for (i, w) in edges.windows(2).enumerate() {
            if !(w[0].is_finite() && w[0] > 0.0 && w[1].is_finite() && w[1] > w[0]) {
                return Err(bad(format!(
                    "bin {i}: edges {} to {} eV; expected positive increasing energies",
                    w[0], w[1]
                )));
            }
        }
        if let Some(i) = intensities
            .iter()
            .position(|w| !(w.is_finite() && *w >= 0.0))
        {
            return Err(bad(format!(
                "bin {i}: intensity {}; expected a non-negative number",
                intensities[i]
            )));
        }
        let total: f64 = intensities.iter().sum();
        if !(total.is_finite() && total > 0.0) {
            return Err(bad(format!(
                "bin intensities sum to {total}; expected a positive, finite sum"
            )));
        }
        Ok(Spectrum::Histogram {
            edges: edges.to_vec(),
            weights: intensities.iter().map(|w| w / total).collect(),
        })
    }

    /// The mean energy, eV.
    pub fn mean(&self) -> f64 {
        match self {
            Spectrum::Mono(e) => *e,
            Spectrum::Lines(l) => l.iter().map(|(e, w)| e * w).sum(),
            Spectrum::Histogram { edges, weights } => edges
                .windows(2)
                .zip(weights)
                .map(|(e, w)| 0.5 * (e[0] + e[1]) * w)
                .sum(),
        }
    }

    /// The highest energy, eV.
    pub fn max_energy(&self) -> f64 {
        match self {
            Spectrum::Mono(e) => *e,
            Spectrum::Lines(l) => l.iter().map(|(e, _)| *e).fold(0.0, f64::max),
            Spectrum::Histogram { edges, .. } => edges[edges.len() - 1],
        }
    }

    pub(crate) fn sample(&self, rng: &mut Rng) -> f64 {
        match self {
            Spectrum::Mono(e) => *e,
            Spectrum::Lines(l) => {
                let mut u = rng.uniform();
                for &(e, w) in l {
                    if u < w {
                        return e;
                    }
                    u -= w;
                }
                l[l.len() - 1].0
            }
            Spectrum::Histogram { edges, weights } => {
                let mut u = rng.uniform();
                let mut bin = weights.len() - 1;
                for (i, &w) in weights.iter().enumerate() {
                    if u < w {
                        bin = i;
                        break;
                    }
                    u -= w;
                }
                edges[bin] + (edges[bin + 1] - edges[bin]) * rng.uniform()
            }
        }
    }
}

/// A radionuclide's photon emissions (gamma and X rays) and half-life, from ICRP Publication 107
/// (Eckerman and Endo 2008; generated by `tools/gen_radionuclides.py`: lines of at least 1 keV and
/// 10^-4 per decay).
#[derive(Debug, Clone, Copy)]
pub struct Radionuclide {
    data: &'static RadionuclideData,
}

/// Generated radionuclide data.
#[derive(Debug)]
pub(crate) struct RadionuclideData {
    name: &'static str,
    half_life_s: f64,
    dropped_energy_fraction: f64,
    lines: &'static [(f64, f64)],
    betas_per_decay: f64,
    /// (kinetic energy eV, betas per eV per decay), piecewise linear.
    beta_spectrum: &'static [(f64, f64)],
}

#[path = "../data/radionuclides.rs"]
#[rustfmt::skip]
#[allow(clippy::all, clippy::unreadable_literal)]
mod radionuclides;

impl Radionuclide {
    /// The names known: I-125, Pd-103, Ir-192, Tc-99m, Lu-177, I-131, Y-90, Ru-106 (with its
    /// daughter Rh-106 in equilibrium).
    pub fn names() -> impl Iterator<Item = &'static str> {
        radionuclides::RADIONUCLIDES.iter().map(|r| r.name)
    }

    /// A radionuclide by name (`I-125`, also `I125` or `i-125`).
    pub fn by_name(name: &str) -> Result<Self> {
        let norm = |s: &str| s.replace('-', "").to_ascii_lowercase();
        radionuclides::RADIONUCLIDES
            .iter()
            .find(|r| norm(r.name) == norm(name))
            .map(|data| Self { data })
            .ok_or_else(|| Error::Source {
                message: format!(
                    "radionuclide `{name}`: expected one of {}",
                    Self::names().collect::<Vec<_>>().join(", ")
                ),
            })
    }

    /// The name.
    pub fn name(&self) -> &'static str {
        self.data.name
    }

    /// The half-life, s.
    pub fn half_life_s(&self) -> f64 {
        self.data.half_life_s
    }

    /// Photons emitted per decay (the lines kept).
    pub fn photons_per_decay(&self) -> f64 {
        self.data.lines.iter().map(|l| l.1).sum()
    }

    /// The photon lines: (energy eV, yield per decay).
    pub fn lines(&self) -> &'static [(f64, f64)] {
        self.data.lines
    }

    /// The fraction of the photon energy per decay in lines left out of the table (below 1 keV or
    /// 10^-4 per decay).
    pub fn dropped_energy_fraction(&self) -> f64 {
        self.data.dropped_energy_fraction
    }

    /// Beta-minus particles emitted per decay (0 for none).
    pub fn betas_per_decay(&self) -> f64 {
        self.data.betas_per_decay
    }

    /// The mean kinetic energy of the beta particles, eV (0 without betas).
    pub fn mean_beta_energy(&self) -> f64 {
        let (mut n, mut e) = (0.0, 0.0);
        for w in self.data.beta_spectrum.windows(2) {
            let ((e0, v0), (e1, v1)) = (w[0], w[1]);
            n += 0.5 * (v0 + v1) * (e1 - e0);
            e += (e1 - e0) * (v0 * (2.0 * e0 + e1) + v1 * (e0 + 2.0 * e1)) / 6.0;
        }
        if n > 0.0 { e / n } else { 0.0 }
    }

    /// The beta-minus spectrum (kinetic energies of one beta particle per history), as a
    /// histogram on ICRP-107's energy grid; use it with [`Source::Charged`](super::Source::Charged) for beta sources.
    pub fn beta_spectrum(&self) -> Result<Spectrum> {
        let s = self.data.beta_spectrum;
        if s.len() < 2 {
            return Err(Error::Source {
                message: format!("{} emits no beta-minus particles", self.data.name),
            });
        }
        let edges: Vec<f64> = s.iter().map(|p| p.0.max(1.0)).collect();
        let weights: Vec<f64> = s
            .windows(2)
            .map(|w| 0.5 * (w[0].1 + w[1].1) * (w[1].0 - w[0].0))
            .collect();
        Spectrum::histogram(&edges, &weights)
    }

    /// The photon spectrum (one photon per history), optionally without lines below `min_ev`
    /// (a seed's capsule absorbs them).
    pub fn spectrum(&self, min_ev: f64) -> Result<Spectrum> {
        if self.data.lines.is_empty() {
            return Err(Error::Source {
                message: format!(
                    "{} emits no photon lines above 1 keV (use its beta spectrum)",
                    self.data.name
                ),
            });
        }
        let kept: Vec<(f64, f64)> = self
            .data
            .lines
            .iter()
            .copied()
            .filter(|l| l.0 >= min_ev)
            .collect();
        Spectrum::lines(&kept)
    }
}
