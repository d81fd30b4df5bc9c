//! Straight rays through the hole lattice of a parallel-hole collimator: the length a ray runs in
//! the septa, computed exactly (no stepping) by clipping the ray's projection on the face against
//! every hole it passes.
//!
//! Frame: the collimator's face at z = 0, its back face at z = `length`; hole centres on the
//! lattice `i a1 + j a2`. A ray enters the face at `(x, y)` with direction `(ux, uy, uz)`,
//! `uz > 0`. Its projection on the face runs from `(x, y)` over `length/uz * (ux, uy)`; the
//! fraction of that projection inside holes is the fraction of the 3D path inside holes.

use crate::collimator::{Collimator, HoleShape};

/// A collimator's lattice, ready for tracing.
#[derive(Debug, Clone)]
pub(crate) struct Lattice {
    shape: HoleShape,
    /// Half the hole size.
    half: f64,
    length: f64,
    a1: [f64; 2],
    a2: [f64; 2],
    /// Inverse of the matrix [a1 a2] (column vectors), row-major.
    inverse: [[f64; 2]; 2],
    /// Unit normals of the hole's sides (hexagons: 3; squares: 2).
    normals: Vec<[f64; 2]>,
}

impl Lattice {
    pub(crate) fn new(c: &Collimator) -> Lattice {
        let p = c.pitch_cm();
        let (s3, half) = (3f64.sqrt() / 2.0, c.hole_cm() / 2.0);
        let deg = |a: f64| [a.to_radians().cos(), a.to_radians().sin()];
        // Hexagonal arrays: neighbours across the flats of the hexagons (for round holes the
        // orientation does not matter).
        let (a1, a2, normals) = match (c.shape(), c.turned()) {
            (HoleShape::Square, _) => ([p, 0.0], [0.0, p], vec![deg(0.0), deg(90.0)]),
            (_, false) => (
                [p * s3, p * 0.5],
                [0.0, p],
                vec![deg(90.0), deg(30.0), deg(-30.0)],
            ),
            (_, true) => (
                [p, 0.0],
                [p * 0.5, p * s3],
                vec![deg(0.0), deg(60.0), deg(120.0)],
            ),
        };
        let det = a1[0] * a2[1] - a2[0] * a1[1];
        let inverse = [[a2[1] / det, -a2[0] / det], [-a1[1] / det, a1[0] / det]];
        Lattice {
            shape: c.shape(),
            half,
            length: c.length_cm(),
            a1,
            a2,
            inverse,
            normals,
        }
    }

    /// The lattice coordinates of a point of the face.
    fn coords(&self, x: f64, y: f64) -> [f64; 2] {
        [
            self.inverse[0][0] * x + self.inverse[0][1] * y,
            self.inverse[1][0] * x + self.inverse[1][1] * y,
        ]
    }

    /// The centre of hole `(i, j)`.
    fn centre(&self, i: i64, j: i64) -> [f64; 2] {
        let (fi, fj) = (i as f64, j as f64);
        [
            fi * self.a1[0] + fj * self.a2[0],
            fi * self.a1[1] + fj * self.a2[1],
        ]
    }

    /// The part `[t0, t1]` of the segment `p + t d`, `t` in [0, 1], inside the hole centred at
    /// `c` (its length as a fraction of the segment).
    fn chord(&self, p: [f64; 2], d: [f64; 2], c: [f64; 2]) -> f64 {
        self.chord_interval(p, d, c).map_or(0.0, |(a, b)| b - a)
    }

    /// The part `[t0, t1]` of the segment `p + t d`, `t` in [0, 1], inside the hole centred at
    /// `c`, if any.
    fn chord_interval(&self, p: [f64; 2], d: [f64; 2], c: [f64; 2]) -> Option<(f64, f64)> {
        let q = [p[0] - c[0], p[1] - c[1]];
        let (mut t0, mut t1) = (0.0f64, 1.0f64);
        match self.shape {
            HoleShape::Round => {
                // |q + t d|^2 <= half^2
                let a = d[0] * d[0] + d[1] * d[1];
                let b = q[0] * d[0] + q[1] * d[1];
                let k = q[0] * q[0] + q[1] * q[1] - self.half * self.half;
                if a <= 0.0 {
                    return (k <= 0.0).then_some((0.0, 1.0));
                }
                let disc = b * b - a * k;
                if disc <= 0.0 {
                    return None;
                }
                let r = disc.sqrt();
                t0 = t0.max((-b - r) / a);
                t1 = t1.min((-b + r) / a);
            }
            HoleShape::Hexagonal | HoleShape::Square => {
                for n in &self.normals {
                    let s = n[0] * q[0] + n[1] * q[1];
                    let v = n[0] * d[0] + n[1] * d[1];
                    if v.abs() < 1e-300 {
                        if s.abs() > self.half {
                            return None;
                        }
                        continue;
                    }
                    let (ta, tb) = ((-self.half - s) / v, (self.half - s) / v);
                    t0 = t0.max(ta.min(tb));
                    t1 = t1.min(ta.max(tb));
                }
            }
        }
        (t1 > t0).then_some((t0, t1))
    }

    /// The length (cm) that the ray entering the face at `(x, y)` with direction `u` (`u[2] > 0`)
    /// runs in the septa before it leaves the back face.
    pub(crate) fn septa_path(&self, x: f64, y: f64, u: [f64; 3]) -> f64 {
        let path = self.length / u[2];
        let d = [u[0] * path, u[1] * path];
        let mut inside = 0.0;
        self.for_each_hole([x, y], d, |c| inside += self.chord([x, y], d, c));
        path * (1.0 - inside).clamp(0.0, 1.0)
    }

    /// The parts `(t0, t1)` of the segment `p + t d`, `t` in [0, 1], inside holes, in order
    /// (into `out`, cleared first).
    pub(crate) fn hole_intervals(&self, p: [f64; 2], d: [f64; 2], out: &mut Vec<(f64, f64)>) {
        out.clear();
        self.for_each_hole(p, d, |c| {
            if let Some(i) = self.chord_interval(p, d, c) {
                out.push(i);
            }
        });
        out.sort_by(|a, b| a.0.total_cmp(&b.0));
    }

    /// Calls `f` with the centre of every hole the segment `p + t d`, `t` in [0, 1], may cross.
    fn for_each_hole(&self, p: [f64; 2], d: [f64; 2], mut f: impl FnMut([f64; 2])) {
        let [x, y] = p;
        let (end_x, end_y) = (x + d[0], y + d[1]);
        // Candidate holes: the lattice cells around the projected segment.
        let mut lo = [f64::INFINITY; 2];
        let mut hi = [f64::NEG_INFINITY; 2];
        for (cx, cy) in [(x, y), (end_x, end_y), (x, end_y), (end_x, y)] {
            let l = self.coords(cx, cy);
            for k in 0..2 {
                lo[k] = lo[k].min(l[k]);
                hi[k] = hi[k].max(l[k]);
            }
        }
        // Cells strip by strip: for each i, only the j whose cells can reach the part of the
        // segment within 1.5 lattice steps of the strip (a hole lies within 2/3 of a step of its
        // centre), so the work grows with the cells crossed, not with their square.
        let p0 = self.coords(x, y);
        let p1 = self.coords(end_x, end_y);
        let (i_lo, i_hi) = (lo[0].floor() as i64 - 1, hi[0].ceil() as i64 + 1);
        for i in i_lo..=i_hi {
            let fi = i as f64;
            // The t-interval where the segment's first lattice coordinate is within 1.5 of i.
            let ds = p1[0] - p0[0];
            let (t0, t1) = if ds.abs() < 1e-12 {
                if (p0[0] - fi).abs() > 1.5 {
                    continue;
                }
                (0.0, 1.0)
            } else {
                let (a, b) = ((fi - 1.5 - p0[0]) / ds, (fi + 1.5 - p0[0]) / ds);
                (a.min(b).max(0.0), a.max(b).min(1.0))
            };
            if t0 > t1 {
                continue;
            }
            let (r0, r1) = (p0[1] + t0 * (p1[1] - p0[1]), p0[1] + t1 * (p1[1] - p0[1]));
            let (j_lo, j_hi) = (r0.min(r1).floor() as i64 - 2, r0.max(r1).ceil() as i64 + 2);
            for j in j_lo..=j_hi {
                f(self.centre(i, j));
            }
        }
    }

    /// A point of the unit cell at lattice position `(s, t)` in [0, 1)^2.
    pub(crate) fn cell_point(&self, s: f64, t: f64) -> [f64; 2] {
        [
            s * self.a1[0] + t * self.a2[0],
            s * self.a1[1] + t * self.a2[1],
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lattice(shape: HoleShape, turned: bool) -> Lattice {
        let mut c = Collimator::custom(shape, 0.1, 0.02, 2.0).unwrap();
        c.turned = turned;
        Lattice::new(&c)
    }

    #[test]
    fn a_ray_along_the_axis_is_in_a_hole_or_in_a_septum() {
        for (shape, turned) in [
            (HoleShape::Hexagonal, false),
            (HoleShape::Hexagonal, true),
            (HoleShape::Round, false),
            (HoleShape::Square, false),
        ] {
            let l = lattice(shape, turned);
            // The centre of a hole.
            assert_eq!(l.septa_path(0.0, 0.0, [0.0, 0.0, 1.0]), 0.0, "{shape:?}");
            // Half-way between two neighbouring holes: in a septum, all the way.
            let mid = l.cell_point(0.5, 0.0);
            assert!(
                (l.septa_path(mid[0], mid[1], [0.0, 0.0, 1.0]) - 2.0).abs() < 1e-12,
                "{shape:?}"
            );
        }
    }

    #[test]
    fn the_open_fraction_of_the_face_is_the_holes_area_fraction() {
        // Rays along the axis over a fine grid of one cell: the fraction that sees no lead.
        for (shape, open) in [
            // Hexagon of flat-to-flat d in a cell of pitch p: (d/p)^2.
            (HoleShape::Hexagonal, (0.1f64 / 0.12).powi(2)),
            (HoleShape::Square, (0.1f64 / 0.12).powi(2)),
            // Circle of diameter d in a hexagonal cell of pitch p.
            (
                HoleShape::Round,
                std::f64::consts::PI * 0.05 * 0.05 / (3f64.sqrt() / 2.0 * 0.12 * 0.12),
            ),
        ] {
            let l = lattice(shape, false);
            let n = 400;
            let mut clear = 0;
            for a in 0..n {
                for b in 0..n {
                    let p = l.cell_point((a as f64 + 0.5) / n as f64, (b as f64 + 0.5) / n as f64);
                    if l.septa_path(p[0], p[1], [0.0, 0.0, 1.0]) == 0.0 {
                        clear += 1;
                    }
                }
            }
            let f = clear as f64 / (n * n) as f64;
            assert!((f - open).abs() < 0.005, "{shape:?}: {f} against {open}");
        }
    }

    #[test]
    fn an_oblique_ray_crossing_septa_runs_their_thickness() {
        // Square holes 0.1 cm, septa 0.02 cm, length 2 cm; a ray in the x-z plane from a hole's
        // centre line crosses septa perpendicular to x: its path in lead is the x-width of lead
        // it crosses divided by sin(theta).
        let l = lattice(HoleShape::Square, false);
        let tan: f64 = 0.6 / 2.0; // 0.6 cm of lateral travel: 5 pitches
        let u = {
            let n = (1.0 + tan * tan).sqrt();
            [tan / n, 0.0, 1.0 / n]
        };
        let lead = l.septa_path(0.0, 0.0, u);
        // Lateral travel 0.6 cm = 5 pitches of 0.12 cm: 5 septa of 0.02 cm in x.
        let expected = 5.0 * 0.02 / u[0];
        assert!((lead - expected).abs() < 1e-9, "{lead} against {expected}");
    }

    /// The strip-by-strip enumeration finds every hole a ray crosses: the same septa path as
    /// clipping the ray against every hole of a wide window.
    #[test]
    fn strips_miss_no_hole() {
        let mut rng = hope_mc::rng::Rng::for_batch(11, 0);
        for (shape, turned) in [
            (HoleShape::Hexagonal, false),
            (HoleShape::Hexagonal, true),
            (HoleShape::Round, false),
            (HoleShape::Square, false),
        ] {
            let l = lattice(shape, turned);
            for _ in 0..300 {
                let (x, y) = (4.0 * rng.uniform() - 2.0, 4.0 * rng.uniform() - 2.0);
                let t = 1.2 * rng.uniform();
                let phi = 6.3 * rng.uniform();
                let u = [t.sin() * phi.cos(), t.sin() * phi.sin(), t.cos()];
                let path = l.length / u[2];
                let d = [u[0] * path, u[1] * path];
                let mut inside = 0.0;
                for i in -120..=120 {
                    for j in -120..=120 {
                        inside += l.chord([x, y], d, l.centre(i, j));
                    }
                }
                let brute = path * (1.0 - inside).clamp(0.0, 1.0);
                let fast = l.septa_path(x, y, u);
                assert!(
                    (fast - brute).abs() < 1e-9,
                    "{shape:?}: {fast} against {brute}"
                );
            }
        }
    }
}
