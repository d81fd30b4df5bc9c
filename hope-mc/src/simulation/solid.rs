//! Analytic solids (boxes, spheres, cylinders, tubes, shells) and their voxelisation into
//! phantoms.

use hope_core::{Grid, Vec3};

/// An analytic solid (mm, patient coordinates).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Solid {
    /// An axis-aligned box.
    Box {
        /// Lower corner.
        min: Vec3,
        /// Upper corner.
        max: Vec3,
    },
    /// A sphere.
    Sphere {
        /// Centre.
        centre: Vec3,
        /// Radius.
        radius: f64,
    },
    /// A finite cylinder.
    Cylinder {
        /// Centre.
        centre: Vec3,
        /// Unit axis.
        axis: Vec3,
        /// Radius.
        radius: f64,
        /// Half length.
        half_length: f64,
    },
    /// A finite hollow cylinder (a plaque's lip, a catheter).
    Tube {
        /// Centre.
        centre: Vec3,
        /// Unit axis.
        axis: Vec3,
        /// Inner radius.
        inner: f64,
        /// Outer radius.
        outer: f64,
        /// Half length.
        half_length: f64,
    },
    /// The part of a spherical shell within an angle of an axis (an eye plaque's backing or
    /// seed carrier); a whole shell with `cos_half_angle` = -1.
    Shell {
        /// Centre of the spheres.
        centre: Vec3,
        /// Unit axis of the cap.
        axis: Vec3,
        /// Inner radius.
        inner: f64,
        /// Outer radius.
        outer: f64,
        /// Cosine of the cap's half opening angle.
        cos_half_angle: f64,
    },
}

impl Solid {
    /// Whether `p` lies inside (boundary included).
    pub fn contains(&self, p: Vec3) -> bool {
        match *self {
            Solid::Box { min, max } => (0..3).all(|a| p[a] >= min[a] && p[a] <= max[a]),
            Solid::Sphere { centre, radius } => (p - centre).norm() <= radius,
            Solid::Cylinder {
                centre,
                axis,
                radius,
                half_length,
            } => {
                let d = p - centre;
                let along = d.dot(axis);
                along.abs() <= half_length && (d - axis * along).norm() <= radius
            }
            Solid::Tube {
                centre,
                axis,
                inner,
                outer,
                half_length,
            } => {
                let d = p - centre;
                let along = d.dot(axis);
                let r = (d - axis * along).norm();
                along.abs() <= half_length && r >= inner && r <= outer
            }
            Solid::Shell {
                centre,
                axis,
                inner,
                outer,
                cos_half_angle,
            } => {
                let d = p - centre;
                let r = d.norm();
                r >= inner && r <= outer && d.dot(axis) >= cos_half_angle * r
            }
        }
    }

    /// A box (lower and upper corners) that holds the solid.
    pub fn bounds(&self) -> (Vec3, Vec3) {
        let ball = |c: Vec3, r: f64| (c - Vec3::new(r, r, r), c + Vec3::new(r, r, r));
        match *self {
            Solid::Box { min, max } => (min, max),
            Solid::Sphere { centre, radius } => ball(centre, radius),
            Solid::Shell { centre, outer, .. } => ball(centre, outer),
            Solid::Cylinder {
                centre,
                radius,
                half_length,
                ..
            }
            | Solid::Tube {
                centre,
                outer: radius,
                half_length,
                ..
            } => ball(centre, (radius * radius + half_length * half_length).sqrt()),
        }
    }

    /// Sets to `material`/`density` every voxel of which at least 14 of 27 points (a 3 x 3 x 3
    /// lattice at the sixths of the voxel) lie inside.
    pub fn voxelise(
        &self,
        grid: &Grid,
        mat: &mut [u16],
        rho: &mut [f32],
        material: u16,
        density: f32,
    ) {
        let [nx, ny, nz] = grid.dims();
        // Only the voxels whose indices fall in the bounding box's image (its 8 corners mapped
        // to index space, one voxel of margin).
        let (lo, hi) = self.bounds();
        let (mut first, mut last) = ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3]);
        for c in 0..8 {
            let corner = Vec3::new(
                if c & 1 == 0 { lo.x } else { hi.x },
                if c & 2 == 0 { lo.y } else { hi.y },
                if c & 4 == 0 { lo.z } else { hi.z },
            );
            let idx = grid.point_to_index(corner);
            for a in 0..3 {
                first[a] = first[a].min(idx[a]);
                last[a] = last[a].max(idx[a]);
            }
        }
        let range = |a: usize, n: usize| {
            if !(first[a].is_finite() && last[a].is_finite()) {
                return 0..n;
            }
            let start = (first[a] - 1.0).max(0.0).min(n as f64) as usize;
            let end = (last[a] + 2.0).max(0.0).min(n as f64) as usize;
            start..end.max(start)
        };
        let (ri, rj, rk) = (range(0, nx), range(1, ny), range(2, nz));
        for k in rk {
            for j in rj.clone() {
                for i in ri.clone() {
                    let mut inside = 0;
                    for (a, b, c) in (0..27).map(|n| (n % 3, (n / 3) % 3, n / 9)) {
                        let f = |n: usize, x: usize| x as f64 + (n as f64 - 1.0) / 3.0;
                        let p = grid.index_to_point([f(a, i), f(b, j), f(c, k)]);
                        if self.contains(p) {
                            inside += 1;
                        }
                    }
                    if inside >= 14 {
                        let o = i + nx * (j + ny * k);
                        mat[o] = material;
                        rho[o] = density;
                    }
                }
            }
        }
    }
}
