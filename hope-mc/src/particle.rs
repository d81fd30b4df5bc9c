//! A particle in flight (photon, electron or positron) in the phantom's local frame, and the
//! direction maths of scattering (isotropic directions, rotations by a polar angle).

use crate::rng::Rng;

/// A photon in flight, in the phantom's local frame (cm from the corner of voxel 0, axes along
/// the grid's).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Photon {
    pub(crate) pos: [f64; 3],
    pub(crate) dir: [f64; 3],
    /// Kinetic energy, eV.
    pub(crate) energy: f64,
    pub(crate) primary_unscattered: bool,
    /// 0 for a photon, -1 for an electron, +1 for a positron.
    pub(crate) charge: i8,
    /// The particle's statistical weight relative to its history's (1 but under variance
    /// reduction: a split photon's copies carry 1/N each, and their secondaries inherit it).
    pub(crate) weight: f32,
    /// For a split source photon's copy under stratified sampling, its stratum plus one (the
    /// first flight's random number is drawn within the stratum); 0 otherwise.
    pub(crate) stratum: u16,
    /// A split source photon's copy before its first interaction (history repetition shares
    /// that interaction and its electron among the copies).
    pub(crate) split_copy: bool,
    /// A split source photon's copy or a descendant of one that Russian roulette has not yet
    /// brought back to the weight of the photon that was split.
    pub(crate) split_line: bool,
}

impl Photon {
    /// A source photon.
    pub(crate) fn new(pos: [f64; 3], dir: [f64; 3], energy: f64) -> Self {
        Self {
            pos,
            dir,
            energy,
            primary_unscattered: true,
            charge: 0,
            weight: 1.0,
            stratum: 0,
            split_copy: false,
            split_line: false,
        }
    }

    /// A secondary particle.
    pub(crate) fn secondary(pos: [f64; 3], dir: [f64; 3], energy: f64, charge: i8) -> Self {
        Self {
            pos,
            dir,
            energy,
            primary_unscattered: false,
            charge,
            weight: 1.0,
            stratum: 0,
            split_copy: false,
            split_line: false,
        }
    }

    /// A source particle of the given charge.
    pub(crate) fn with_charge(mut self, charge: i8) -> Self {
        self.charge = charge;
        self
    }
}

/// `dir` turned by a polar angle of cosine `cos` and a uniform azimuth, the azimuth's cosine and
/// sine from a point uniform in the unit disc (no trigonometric functions; for the electron
/// steps, of which there are many).
#[inline]
pub(crate) fn rotate_disc(dir: &[f64; 3], cos: f64, rng: &mut Rng) -> [f64; 3] {
    loop {
        let x = 2.0 * rng.uniform() - 1.0;
        let y = 2.0 * rng.uniform() - 1.0;
        let r2 = x * x + y * y;
        if r2 <= 1.0 && r2 > 1e-12 {
            let inv = 1.0 / r2;
            return rotate_with(dir, cos, (x * x - y * y) * inv, 2.0 * x * y * inv);
        }
    }
}

/// An isotropic direction.
pub(crate) fn isotropic(rng: &mut Rng) -> [f64; 3] {
    let cos = 2.0 * rng.uniform() - 1.0;
    let sin = (1.0 - cos * cos).max(0.0).sqrt();
    let phi = 2.0 * std::f64::consts::PI * rng.uniform();
    [sin * phi.cos(), sin * phi.sin(), cos]
}

/// `dir` turned by a polar angle of cosine `cos` and a uniform azimuth.
pub(crate) fn rotate(dir: &[f64; 3], cos: f64, rng: &mut Rng) -> [f64; 3] {
    let phi = 2.0 * std::f64::consts::PI * rng.uniform();
    rotate_with(dir, cos, phi.cos(), phi.sin())
}

/// `dir` turned by a polar angle of cosine `cos` and the azimuth of cosine `cp`, sine `sp`. One
/// division and two square roots; the result is renormalised only when rounding has moved its
/// length by more than 1e-12 (electron steps turn many times).
#[inline]
pub(crate) fn rotate_with(dir: &[f64; 3], cos: f64, cp: f64, sp: f64) -> [f64; 3] {
    let sin = (1.0 - cos * cos).max(0.0).sqrt();
    let [u, v, w] = *dir;
    let out = if w.abs() > 0.999_999 {
        [sin * cp, sin * sp, cos * w.signum()]
    } else {
        let s2 = 1.0 - w * w;
        let inv = 1.0 / s2.sqrt();
        let k = sin * inv;
        [
            u * cos + k * (u * w * cp - v * sp),
            v * cos + k * (v * w * cp + u * sp),
            w * cos - sin * cp * s2 * inv,
        ]
    };
    let n2 = out[0] * out[0] + out[1] * out[1] + out[2] * out[2];
    if (n2 - 1.0).abs() > 1e-12 {
        let k = 1.0 / n2.sqrt();
        return [out[0] * k, out[1] * k, out[2] * k];
    }
    out
}
