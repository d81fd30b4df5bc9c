//! Sources: energy spectra (one line, line tables) and emission geometries (isotropic point,
//! pencil beam), in patient coordinates (mm).

use hope_core::Vec3;

use crate::rng::Rng;
use crate::transport::{Transport, isotropic};
use crate::{Error, Result};

/// Photon energies emitted.
#[derive(Debug, Clone, PartialEq)]
pub enum Spectrum {
    /// One energy, eV.
    Mono(f64),
    /// Lines: (energy eV, relative intensity); sampled by their cumulative distribution.
    Lines(Vec<(f64, f64)>),
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
        if total <= 0.0 {
            return Err(Error::Source {
                message: "line intensities sum to zero".into(),
            });
        }
        Ok(Spectrum::Lines(
            lines.iter().map(|&(e, w)| (e, w / total)).collect(),
        ))
    }

    /// The mean energy, eV.
    pub fn mean(&self) -> f64 {
        match self {
            Spectrum::Mono(e) => *e,
            Spectrum::Lines(l) => l.iter().map(|(e, w)| e * w).sum(),
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
        }
    }
}

/// Where and how photons start.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// An isotropic point source at a position (mm, patient coordinates).
    Point {
        /// Position, mm.
        position: Vec3,
        /// Energies.
        spectrum: Spectrum,
    },
    /// A pencil beam from a position along a direction.
    Pencil {
        /// Start, mm (may be outside the phantom).
        position: Vec3,
        /// Direction (need not be normalised).
        direction: Vec3,
        /// Energies.
        spectrum: Spectrum,
    },
}

impl Source {
    /// (position and direction in the phantom's local frame, energy eV).
    pub(crate) fn sample(&self, t: &Transport, rng: &mut Rng) -> ([f64; 3], [f64; 3], f64) {
        match self {
            Source::Point { position, spectrum } => {
                (t.to_local(*position), isotropic(rng), spectrum.sample(rng))
            }
            Source::Pencil {
                position,
                direction,
                spectrum,
            } => (
                t.to_local(*position),
                t.dir_to_local(*direction),
                spectrum.sample(rng),
            ),
        }
    }
}
