//! Analytic solids for sources and applicators that are too small or too thin for voxels (seeds,
//! eye-plaque backings): axis-aligned cylinders and (half) balls along z, in cm, tested for
//! containment and intersected with rays exactly.
//!
//! A geometry built of them is a list of solids, innermost first: a point belongs to the first
//! solid that contains it. Tracking stops at every surface of every solid (a surface that does
//! not change the medium only costs a step), so the list need not be a strict nesting.

/// An axis-aligned solid, symmetric about the z axis (cm).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Solid {
    /// A closed cylinder of radius `r` between the planes `z0 < z1`.
    Cylinder {
        /// Radius.
        r: f64,
        /// Lower plane.
        z0: f64,
        /// Upper plane.
        z1: f64,
    },
    /// A ball of radius `r` centred at (0, 0, `zc`); with `half` +1 only its part z >= zc, with
    /// -1 only z <= zc, with 0 all of it.
    Ball {
        /// Centre on the axis.
        zc: f64,
        /// Radius.
        r: f64,
        /// Which half: +1 (z >= zc), -1 (z <= zc) or 0 (whole).
        half: i8,
    },
}

impl Solid {
    /// A closed cylinder.
    pub const fn cylinder(r: f64, z0: f64, z1: f64) -> Self {
        Solid::Cylinder { r, z0, z1 }
    }

    /// A ball, a half ball above (`half` = 1) or below (-1) its centre, or a whole one (0).
    pub const fn ball(zc: f64, r: f64, half: i8) -> Self {
        Solid::Ball { zc, r, half }
    }

    /// Whether `p` lies inside (boundary included).
    pub fn contains(&self, p: &[f64; 3]) -> bool {
        match *self {
            Solid::Cylinder { r, z0, z1 } => {
                p[2] >= z0 && p[2] <= z1 && p[0] * p[0] + p[1] * p[1] <= r * r
            }
            Solid::Ball { zc, r, half } => {
                let dz = p[2] - zc;
                f64::from(half) * dz >= 0.0 && p[0] * p[0] + p[1] * p[1] + dz * dz <= r * r
            }
        }
    }

    /// The distance along the unit vector `d` from `p` to the nearest crossing of this solid's
    /// surface beyond `eps`, if the ray meets it.
    pub fn hit(&self, p: &[f64; 3], d: &[f64; 3], eps: f64) -> Option<f64> {
        let mut best: Option<f64> = None;
        let mut take = |t: f64| {
            if t > eps && best.is_none_or(|b| t < b) {
                best = Some(t);
            }
        };
        match *self {
            Solid::Cylinder { r, z0, z1 } => {
                let a = d[0] * d[0] + d[1] * d[1];
                if a > 1e-300 {
                    let b = p[0] * d[0] + p[1] * d[1];
                    let c = p[0] * p[0] + p[1] * p[1] - r * r;
                    let disc = b * b - a * c;
                    if disc >= 0.0 {
                        let s = disc.sqrt();
                        for t in [(-b - s) / a, (-b + s) / a] {
                            let z = p[2] + t * d[2];
                            if z >= z0 && z <= z1 {
                                take(t);
                            }
                        }
                    }
                }
                if d[2].abs() > 1e-300 {
                    for z in [z0, z1] {
                        let t = (z - p[2]) / d[2];
                        let (x, y) = (p[0] + t * d[0], p[1] + t * d[1]);
                        if x * x + y * y <= r * r {
                            take(t);
                        }
                    }
                }
            }
            Solid::Ball { zc, r, half } => {
                let q = [p[0], p[1], p[2] - zc];
                let b = q[0] * d[0] + q[1] * d[1] + q[2] * d[2];
                let c = q[0] * q[0] + q[1] * q[1] + q[2] * q[2] - r * r;
                let disc = b * b - c;
                if disc >= 0.0 {
                    let s = disc.sqrt();
                    for t in [-b - s, -b + s] {
                        if f64::from(half) * (q[2] + t * d[2]) >= 0.0 {
                            take(t);
                        }
                    }
                }
                if half != 0 && d[2].abs() > 1e-300 {
                    let t = -q[2] / d[2];
                    let (x, y) = (q[0] + t * d[0], q[1] + t * d[1]);
                    if x * x + y * y <= r * r {
                        take(t);
                    }
                }
            }
        }
        best
    }

    /// The solid's volume, cm^3.
    pub fn volume(&self) -> f64 {
        use std::f64::consts::PI;
        match *self {
            Solid::Cylinder { r, z0, z1 } => PI * r * r * (z1 - z0),
            Solid::Ball { r, half, .. } => {
                let v = 4.0 / 3.0 * PI * r * r * r;
                if half == 0 { v } else { v / 2.0 }
            }
        }
    }

    /// Radius and axial extent (z0, z1) of the smallest axis-aligned cylinder holding the solid.
    pub fn bounds(&self) -> (f64, f64, f64) {
        match *self {
            Solid::Cylinder { r, z0, z1 } => (r, z0, z1),
            Solid::Ball { zc, r, half } => match half.signum() {
                1 => (r, zc, zc + r),
                -1 => (r, zc - r, zc),
                _ => (r, zc - r, zc + r),
            },
        }
    }
}

/// The distance along the unit vector `d` from `p`, inside the sphere of radius `radius` centred
/// at the origin, to its surface (0 when outside).
pub fn sphere_exit(p: &[f64; 3], d: &[f64; 3], radius: f64) -> f64 {
    let b = p[0] * d[0] + p[1] * d[1] + p[2] * d[2];
    let c = p[0] * p[0] + p[1] * p[1] + p[2] * p[2] - radius * radius;
    let disc = (b * b - c).max(0.0);
    (-b + disc.sqrt()).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Numerical check of `hit` and `contains` together: along a ray, containment changes exactly
    /// at the surface crossings `hit` reports, for random rays through every kind of solid.
    #[test]
    fn hits_are_where_containment_changes() {
        let solids = [
            Solid::cylinder(0.3, -0.2, 0.5),
            Solid::ball(0.1, 0.4, 0),
            Solid::ball(0.1, 0.4, 1),
            Solid::ball(-0.1, 0.25, -1),
        ];
        let mut rng = crate::rng::Rng::for_batch(7, 0);
        for s in solids {
            for _ in 0..2000 {
                let p = [
                    rng.uniform() * 1.6 - 0.8,
                    rng.uniform() * 1.6 - 0.8,
                    rng.uniform() * 1.6 - 0.8,
                ];
                let d = crate::particle::isotropic(&mut rng);
                // March and compare.
                let mut t = 0.0;
                let mut inside = s.contains(&p);
                let mut crossings = Vec::new();
                let step = 1e-4;
                while t < 3.0 {
                    t += step;
                    let q = [p[0] + t * d[0], p[1] + t * d[1], p[2] + t * d[2]];
                    let now = s.contains(&q);
                    if now != inside {
                        crossings.push(t);
                        inside = now;
                    }
                }
                let first = s.hit(&p, &d, 1e-12);
                match (crossings.first(), first) {
                    (None, None) => {}
                    (Some(&c), Some(h)) => assert!((c - h).abs() < 2.0 * step, "{s:?}: {c} vs {h}"),
                    (c, h) => {
                        // A ray grazing a surface may touch it without a containment change.
                        let h = h.unwrap_or(f64::NAN);
                        assert!(c.is_none() && h.is_finite(), "{s:?}: {c:?} vs {h}");
                    }
                }
            }
        }
    }

    #[test]
    fn volumes_and_bounds() {
        let c = Solid::cylinder(1.0, 0.0, 2.0);
        assert!((c.volume() - 2.0 * std::f64::consts::PI).abs() < 1e-12);
        let b = Solid::ball(1.0, 2.0, -1);
        assert!((b.volume() - 16.0 / 3.0 * std::f64::consts::PI).abs() < 1e-12);
        assert_eq!(b.bounds(), (2.0, -1.0, 1.0));
    }
}
