//! Photons in the collimator: transport through the hole lattice with interactions in the lead
//! (hope-mc's photon physics: photoelectric absorption with lead's fluorescence, bound Compton
//! scattering, Rayleigh scattering with form factors), so that scatter in the collimator and lead x-rays reach the crystal as
//! they do in a camera.
//!
//! Frame: the collimator's face at z = 0, its back at z = `length`; a photon enters the face at
//! `(x, y)`. Holes are prisms along z, so whether a point is in lead depends on `(x, y)` only:
//! along a straight path the lead intervals are the complement of the hole chords of its
//! projection on the face ([`Lattice::hole_intervals`]). Paths are followed in pieces of at most
//! [`PIECE_CM`] (a photon running across the septa would otherwise cross thousands of holes);
//! the exponential path length is drawn afresh for each piece, which changes nothing (it has no
//! memory).

use hope_mc::PhysicsOptions;
use hope_mc::physics::{Interaction, PhotonPhysics};
use hope_mc::rng::Rng;

use crate::Result;
use crate::collimator::Collimator;
use crate::crystal::turn;
use crate::trace::Lattice;

/// The longest straight piece traced at once, cm.
pub(crate) const PIECE_CM: f64 = 2.0;
/// Photons below this energy are absorbed where they are.
const E_CUT: f64 = 20_000.0;

/// A photon leaving the collimator's back face.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Exit {
    /// Where it leaves, in the face's coordinates, cm.
    pub(crate) x: f64,
    pub(crate) y: f64,
    /// Its direction (`u[2] > 0`).
    pub(crate) u: [f64; 3],
    /// Its energy, eV.
    pub(crate) e: f64,
    /// Whether it interacted in the lead (scattered, or a lead x-ray).
    pub(crate) interacted: bool,
}

/// The collimator as a transport medium.
#[derive(Debug, Clone)]
pub(crate) struct Septa {
    lattice: Lattice,
    length: f64,
    /// hope-mc's photon physics in lead (bound Compton, Rayleigh with form factors,
    /// photoelectric absorption with K and L fluorescence).
    lead: PhotonPhysics,
    density: f64,
}

impl Septa {
    pub(crate) fn new(c: &Collimator) -> Result<Septa> {
        let lead = c.material().material()?;
        Ok(Septa {
            lattice: Lattice::new(c),
            length: c.length_cm(),
            lead: PhotonPhysics::new(std::slice::from_ref(&lead), PhysicsOptions::default()),
            density: lead.density(),
        })
    }

    /// Follows a photon entering the face at `(x, y)` with direction `u` (`u[2] > 0`) and energy
    /// `e`: where it leaves the back face, if it does (absorbed, or back out of the face: None).
    pub(crate) fn follow(
        &self,
        x: f64,
        y: f64,
        u: [f64; 3],
        e: f64,
        rng: &mut Rng,
        holes: &mut Vec<(f64, f64)>,
    ) -> Option<Exit> {
        let (mut p, mut u, mut e) = ([x, y, 0.0f64], u, e);
        let mut interacted = false;
        for _ in 0..1_000 {
            let to_exit = if u[2] > 1e-12 {
                (self.length - p[2]) / u[2]
            } else if u[2] < -1e-12 {
                -p[2] / u[2]
            } else {
                f64::INFINITY
            };
            let piece = to_exit.clamp(0.0, PIECE_CM);
            self.lattice
                .hole_intervals([p[0], p[1]], [u[0] * piece, u[1] * piece], holes);
            let mu = self.lead.mu_rho(0, e) * self.density;
            let mut left = -rng.uniform_open().ln() / mu;
            // The lead intervals: the gaps between the hole chords, in fractions of the piece.
            let mut at = None;
            let mut from = 0.0f64;
            for (a, b) in holes.iter().copied().chain(std::iter::once((1.0, 1.0))) {
                let (a, b) = (a.clamp(0.0, 1.0), b.clamp(0.0, 1.0));
                if a > from {
                    let len = (a - from) * piece;
                    if left <= len {
                        at = Some(from * piece + left);
                        break;
                    }
                    left -= len;
                }
                from = from.max(b);
            }
            let Some(t) = at else {
                p = [
                    p[0] + u[0] * piece,
                    p[1] + u[1] * piece,
                    p[2] + u[2] * piece,
                ];
                if piece < to_exit {
                    continue;
                }
                return (u[2] > 0.0).then_some(Exit {
                    x: p[0],
                    y: p[1],
                    u,
                    e,
                    interacted,
                });
            };
            p = [p[0] + u[0] * t, p[1] + u[1] * t, p[2] + u[2] * t];
            interacted = true;
            match self.lead.interact(0, e, rng) {
                Interaction::Scatter { cos, energy, .. } => {
                    e = energy;
                    u = turn(u, cos, 2.0 * std::f64::consts::PI * rng.uniform());
                }
                // A lead x-ray (the K line; an L line that may follow is below the cut-off),
                // isotropic, or nothing.
                Interaction::Absorb { fluorescence, .. } => match fluorescence[0] {
                    Some(line) => {
                        e = line;
                        let cos = 2.0 * rng.uniform() - 1.0;
                        u = turn(
                            [0.0, 0.0, 1.0],
                            cos,
                            2.0 * std::f64::consts::PI * rng.uniform(),
                        );
                    }
                    None => return None,
                },
                _ => return None,
            }
            if e < E_CUT {
                return None;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fraction of photons leaving the back face without interacting equals the mean
    /// transmission `exp(-mu L)` along the septa path the tracer computes, at 208 and 364 keV,
    /// along and across the holes.
    #[test]
    fn unscattered_passage_matches_the_traced_transmission() {
        let c = Collimator::by_code("SY-ME").unwrap();
        let septa = Septa::new(&c).unwrap();
        let lattice = Lattice::new(&c);
        let lead = hope_mc::Material::builtin("lead").unwrap();
        let mut rng = Rng::for_batch(1, 2);
        let mut holes = Vec::new();
        for (e, tan) in [(208_000.0, 0.02), (364_000.0, 0.05), (364_000.0, 0.15)] {
            let norm = (1.0f64 + tan * tan).sqrt();
            let u = [tan / norm, 0.0, 1.0 / norm];
            let mu = lead.mu_rho(e) * lead.density();
            let (mut passed, mut expected) = (0.0, 0.0);
            let n = 40_000;
            for _ in 0..n {
                let [x, y] = lattice.cell_point(rng.uniform(), rng.uniform());
                expected += (-mu * lattice.septa_path(x, y, u)).exp();
                if let Some(exit) = septa.follow(x, y, u, e, &mut rng, &mut holes)
                    && !exit.interacted
                {
                    passed += 1.0;
                }
            }
            let (p, x) = (passed / n as f64, expected / n as f64);
            let sigma = (x * (1.0 - x) / n as f64).sqrt();
            assert!(
                (p - x).abs() < 5.0 * sigma + 1e-4,
                "{e} eV at {tan}: {p} vs {x}"
            );
        }
    }
}
