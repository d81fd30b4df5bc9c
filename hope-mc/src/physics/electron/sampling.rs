//! Sampling of electron and positron events: soft multiple-scattering deflections (PENELOPE's
//! two-box distribution), Moller and Bhabha energy transfers, bremsstrahlung photon energies and
//! angles, Sauter photoelectron directions, positron annihilation in flight, and binary-collision
//! kinematics.

use super::{MC2, bhabha_b};
use crate::rng::Rng;

/// A soft deflection mu with mean `m1` and second moment `m2` (PENELOPE's two-box artificial
/// distribution: uniform on [0, b] with weight a, on [b, 1] with weight 1 - a).
#[inline]
pub(crate) fn soft_deflection(m1: f64, m2: f64, rng: &mut Rng) -> f64 {
    if m1 <= 0.0 {
        return 0.0;
    }
    let b = ((2.0 * m1 - 3.0 * m2) / (1.0 - 2.0 * m1)).clamp(0.0, 1.0);
    let a = (1.0 - 2.0 * m1 + b).clamp(0.0, 1.0);
    if rng.uniform() < a {
        b * rng.uniform()
    } else {
        b + (1.0 - b) * rng.uniform()
    }
}

/// The energy given to the delta ray in a Moller event of an electron of kinetic energy `t`
/// (eV), above `wc` (eV).
pub(crate) fn sample_moller(t: f64, wc: f64, rng: &mut Rng) -> f64 {
    let tau = t / MC2;
    let eps_c = wc / t;
    let g = tau / (tau + 1.0);
    let c = (2.0 * tau + 1.0) / ((tau + 1.0) * (tau + 1.0));
    let bound = 2.0 + g * g / 4.0;
    loop {
        let eps = 1.0 / (1.0 / eps_c - rng.uniform() * (1.0 / eps_c - 2.0));
        let r = eps / (1.0 - eps);
        let h = 1.0 + r * r + g * g * eps * eps - c * r;
        if rng.uniform() * bound <= h {
            return eps * t;
        }
    }
}

/// The energy given to the electron in a Bhabha event of a positron of kinetic energy `t`, above
/// `wc` (the positron keeps the rest).
pub(crate) fn sample_bhabha(t: f64, wc: f64, rng: &mut Rng) -> f64 {
    let eps_c = wc / t;
    let [b1, b2, b3, b4] = bhabha_b(t / MC2 + 1.0);
    loop {
        let eps = 1.0 / (1.0 / eps_c - rng.uniform() * (1.0 / eps_c - 1.0));
        let h = 1.0 - eps * (b1 - eps * (b2 - eps * (b3 - eps * b4)));
        if rng.uniform() <= h {
            return eps * t;
        }
    }
}

/// A bremsstrahlung photon's energy above `kc` from an electron of kinetic energy `t`
/// (complete-screening Bethe-Heitler shape, by rejection from 1/k).
pub(crate) fn sample_brems(t: f64, kc: f64, rng: &mut Rng) -> f64 {
    let yc = kc / t;
    loop {
        let y = yc * (1.0 / yc).powf(rng.uniform());
        let h = (4.0 / 3.0 - 4.0 / 3.0 * y + y * y) * 0.75;
        if rng.uniform() <= h {
            return y * t;
        }
    }
}

/// cos(theta) from a density proportional to (1 - beta cos)^-2: the leading-order angular
/// distribution of bremsstrahlung photons and of pair-produced leptons.
pub(crate) fn sample_forward(beta: f64, rng: &mut Rng) -> f64 {
    if beta < 1e-6 {
        return 2.0 * rng.uniform() - 1.0;
    }
    // CDF inversion of (1 - beta x)^-2 on [-1, 1].
    let u = rng.uniform();
    let (a, b) = (1.0 / (1.0 + beta), 1.0 / (1.0 - beta));
    let v = a + u * (b - a); // 1 / (1 - beta x)
    ((1.0 - 1.0 / v) / beta).clamp(-1.0, 1.0)
}

/// cos(theta) of a photoelectron of kinetic energy `t` (Sauter's K-shell distribution, by
/// rejection from the (1 - beta cos)^-2 density).
pub(crate) fn sample_sauter(t: f64, rng: &mut Rng) -> f64 {
    let gamma = t / MC2 + 1.0;
    let beta = (1.0 - 1.0 / (gamma * gamma)).sqrt();
    let b = gamma * (gamma - 1.0) * (gamma - 2.0) / 2.0;
    let bound = gamma
        * gamma
        * (1.0f64)
            .max(1.0 + b * (1.0 + beta))
            .max(1.0 + b * (1.0 - beta));
    for _ in 0..1000 {
        let x = sample_forward(beta, rng);
        let d = 1.0 - beta * x;
        let h = (1.0 - x * x) / (d * d) * (1.0 + b * d);
        if rng.uniform() * bound <= h {
            return x;
        }
    }
    1.0
}

/// Annihilation in flight of a positron of kinetic energy `t`: (fraction of the total energy
/// T + 2 mc^2 taken by the first photon, its cos(theta) to the positron's direction) (Heitler's
/// cross section, sampled as in PENELOPE).
pub(crate) fn sample_annihilation(t: f64, rng: &mut Rng) -> (f64, f64) {
    let g = t / MC2 + 1.0;
    let s = (g * g - 1.0).sqrt();
    let z_min = 1.0 / (g + 1.0 + s);
    let ratio = (1.0 - z_min) / z_min;
    let bound = g * g + 2.0 * g - 1.0;
    loop {
        let z = z_min * ratio.powf(rng.uniform());
        let h = -(g + 1.0) * (g + 1.0) * z + (g * g + 4.0 * g + 1.0) - 1.0 / z;
        if rng.uniform() * bound <= h {
            let cos = ((g + 1.0 - 1.0 / z) / s).clamp(-1.0, 1.0);
            return (z, cos);
        }
    }
}

/// Directions of the two electrons after a Moller (or Bhabha) event: cos(theta) of the
/// particle that keeps `t - w` and of the one that takes `w`.
pub(crate) fn binary_cosines(t: f64, w: f64) -> (f64, f64) {
    let two = 2.0 * MC2;
    let primary = ((t - w) * (t + two) / (t * (t - w + two))).max(0.0).sqrt();
    let secondary = (w * (t + two) / (t * (w + two))).max(0.0).sqrt();
    (primary.min(1.0), secondary.min(1.0))
}
