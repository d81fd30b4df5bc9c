//! The synthetic head and its structures, analytic so that the CT and the structure masks are
//! drawn from one description.

use hope_core::{Grid, Vec3, Volume};

/// Radius of the globe to the outer sclera, mm: the eye of AAPM TG-129 and of the plaque
/// databases (an adult eye, axial length about 24.6 mm), which the COMS plaques fit.
pub const GLOBE_RADIUS_MM: f64 = 12.3;
/// Scleral thickness, mm.
pub const SCLERA_MM: f64 = 1.0;

/// Geometry of the synthetic head and of the treated eye (mm, DICOM patient coordinates: x to
/// the patient's left, y posterior, z superior).
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    /// Centre of the treated (right) eye.
    pub eye_centre: Vec3,
    /// Unit vector from the eye's centre to the centre of the tumour's base (and of the plaque).
    pub plaque_axis: Vec3,
    /// Tumour height from the inner sclera (apex), mm.
    pub tumour_height_mm: f64,
    /// Tumour base radius, mm.
    pub tumour_base_radius_mm: f64,
}

impl Default for Head {
    fn default() -> Self {
        // A posterior choroidal melanoma 35 degrees temporal of the posterior pole of the right
        // eye: 5 mm high, 11 mm base (a medium COMS tumour).
        let angle = 35f64.to_radians();
        Head {
            eye_centre: Vec3::new(-32.0, -66.0, 0.0),
            plaque_axis: Vec3::new(-angle.sin(), angle.cos(), 0.0),
            tumour_height_mm: 5.0,
            tumour_base_radius_mm: 5.5,
        }
    }
}

/// A named region of interest with its display colour.
#[derive(Debug, Clone)]
pub struct Structure {
    /// Name (tumour, lens, optic nerve, sclera).
    pub name: &'static str,
    /// Outline colour in pictures.
    pub colour: [u8; 3],
    /// Voxels whose centre lies inside.
    pub mask: Volume<bool>,
}

/// Two unit vectors completing `a` to an orthonormal frame.
pub fn frame(a: Vec3) -> (Vec3, Vec3) {
    let helper = if a.z.abs() < 0.9 {
        Vec3::new(0.0, 0.0, 1.0)
    } else {
        Vec3::new(1.0, 0.0, 0.0)
    };
    let e1 = helper.cross(a);
    let e1 = e1 * (1.0 / e1.norm());
    (e1, a.cross(e1))
}

impl Head {
    /// The CT grid: 256 x 320 x 64 voxels of 0.6 mm (153.6 x 192 x 38.4 mm) through the orbits.
    pub fn grid() -> Grid {
        Grid::builder([256, 320, 64])
            .spacing([0.6, 0.6, 0.6])
            .origin([-76.5, -95.7, -18.9])
            .build()
            .unwrap_or_else(|_| unreachable!("a fixed, valid grid"))
    }

    /// The point of the inner sclera on the plaque axis (the tumour's base).
    pub fn inner_sclera_on_axis(&self) -> Vec3 {
        self.eye_centre + self.plaque_axis * (GLOBE_RADIUS_MM - SCLERA_MM)
    }

    /// The tumour's apex, the prescription point.
    pub fn apex(&self) -> Vec3 {
        self.eye_centre + self.plaque_axis * (GLOBE_RADIUS_MM - SCLERA_MM - self.tumour_height_mm)
    }

    fn in_tumour(&self, p: Vec3) -> bool {
        let d = p - self.eye_centre;
        if d.norm() >= GLOBE_RADIUS_MM - SCLERA_MM {
            return false;
        }
        let q = p - self.inner_sclera_on_axis();
        let along = q.dot(self.plaque_axis);
        let across = (q - self.plaque_axis * along).norm();
        let (h, b) = (self.tumour_height_mm, self.tumour_base_radius_mm);
        (along / h).powi(2) + (across / b).powi(2) <= 1.0
    }

    fn in_lens(&self, p: Vec3) -> bool {
        // Lens: 9 mm across, 4 mm thick, its centre 7.8 mm in front of the eye's centre.
        let c = self.eye_centre + Vec3::new(0.0, -7.8, 0.0);
        let d = p - c;
        (d.x / 4.5).powi(2) + (d.y / 2.0).powi(2) + (d.z / 4.5).powi(2) <= 1.0
    }

    /// Where the optic nerve leaves the globe and where it ends (the orbit's apex).
    fn nerve(&self) -> (Vec3, Vec3) {
        // It leaves the globe 15 degrees nasal of the posterior pole.
        let a = 15f64.to_radians();
        let start = self.eye_centre + Vec3::new(a.sin(), a.cos(), 0.0) * (GLOBE_RADIUS_MM - 0.5);
        (start, self.orbit_apex())
    }

    fn orbit_apex(&self) -> Vec3 {
        self.eye_centre + Vec3::new(16.0, 40.0, 0.0)
    }

    fn in_nerve(&self, p: Vec3) -> bool {
        let (a, b) = self.nerve();
        let axis = b - a;
        let len = axis.norm();
        let u = axis * (1.0 / len);
        let t = (p - a).dot(u);
        (0.0..=len).contains(&t)
            && (p - a - u * t).norm() <= 2.0
            && (p - self.eye_centre).norm() >= GLOBE_RADIUS_MM - 0.5
    }

    fn in_sclera(&self, p: Vec3) -> bool {
        let r = (p - self.eye_centre).norm();
        (GLOBE_RADIUS_MM - SCLERA_MM..=GLOBE_RADIUS_MM).contains(&r)
    }

    /// Hounsfield units at `p`.
    pub fn hu(&self, p: Vec3) -> i16 {
        // Head: a superellipse (exponent 2.5) 144 x 180 mm, scalp 4 mm, skull 6 mm.
        let head = |p: Vec3, shrink: f64| {
            let (a, b) = (72.0 - shrink, 90.0 - shrink);
            (p.x / a).abs().powf(2.5) + ((p.y - 4.0) / b).abs().powf(2.5) <= 1.0
        };
        if !head(p, 0.0) {
            return -1000;
        }
        let mirror = Vec3::new(-p.x, p.y, p.z);
        for (q, treated) in [(p, true), (mirror, false)] {
            let d = q - self.eye_centre;
            let r = d.norm();
            if r <= GLOBE_RADIUS_MM {
                return if treated && self.in_tumour(q) {
                    45
                } else if self.in_lens(q) {
                    105
                } else if r >= GLOBE_RADIUS_MM - SCLERA_MM {
                    55
                } else {
                    8
                };
            }
            if self.in_nerve(q) {
                return 35;
            }
            // The orbit: a cone from its apex, behind the eye, to its opening in front of it.
            let apex = self.orbit_apex();
            let opening = self.eye_centre + Vec3::new(-3.0, -14.0, 0.0);
            let axis = opening - apex;
            let len = axis.norm();
            let u = axis * (1.0 / len);
            let t = (q - apex).dot(u);
            let radial = (q - apex - u * t).norm();
            let radius = 2.0 + 17.5 * (t / len);
            if t >= 0.0 && t <= len && radial <= radius {
                return -90; // orbital fat
            }
            if t >= 0.0 && t <= len && radial <= radius + 2.5 {
                return 900; // orbital walls
            }
        }
        // Ethmoid air cells between the orbits.
        if p.x.abs() <= 8.0 && p.y >= -80.0 && p.y <= -42.0 {
            return if p.x.abs() >= 7.0 { 700 } else { -850 };
        }
        if !head(p, 4.0) {
            return 40; // scalp and face
        }
        if !head(p, 10.0) {
            return 1300; // skull
        }
        35 // brain
    }

    /// The CT on `grid`.
    pub fn ct(&self, grid: &Grid) -> Volume<i16> {
        Volume::from_fn(grid.clone(), |i| self.hu(grid.voxel_center(i)))
    }

    /// Globe, tumour, lens, optic nerve and sclera of the treated eye, voxelised on `grid`
    /// (centres).
    pub fn structures(&self, grid: &Grid) -> Vec<Structure> {
        let mask =
            |f: &dyn Fn(Vec3) -> bool| Volume::from_fn(grid.clone(), |i| f(grid.voxel_center(i)));
        vec![
            Structure {
                name: "globe",
                colour: [120, 200, 120],
                mask: mask(&|p| (p - self.eye_centre).norm() <= GLOBE_RADIUS_MM),
            },
            Structure {
                name: "tumour",
                colour: [255, 60, 200],
                mask: mask(&|p| self.in_tumour(p)),
            },
            Structure {
                name: "lens",
                colour: [80, 255, 255],
                mask: mask(&|p| self.in_lens(p)),
            },
            Structure {
                name: "optic nerve",
                colour: [255, 255, 255],
                mask: mask(&|p| self.in_nerve(p)),
            },
            Structure {
                name: "sclera",
                colour: [170, 170, 255],
                mask: mask(&|p| self.in_sclera(p)),
            },
        ]
    }

    /// Whether `p` lies in the named structure (for outlines on pictures).
    pub fn contains(&self, structure: &str, p: Vec3) -> bool {
        match structure {
            "tumour" => self.in_tumour(p),
            "lens" => self.in_lens(p),
            "optic nerve" => self.in_nerve(p),
            "sclera" => self.in_sclera(p),
            "globe" => (p - self.eye_centre).norm() <= GLOBE_RADIUS_MM,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_has_its_tissues_where_expected() {
        let h = Head::default();
        assert_eq!(h.hu(Vec3::new(0.0, 0.0, 0.0)), 35, "brain at the centre");
        assert_eq!(
            h.hu(Vec3::new(0.0, 120.0, 0.0)),
            -1000,
            "air behind the head"
        );
        assert_eq!(h.hu(h.eye_centre), 8, "vitreous");
        assert_eq!(h.hu(h.apex() + h.plaque_axis * 0.5), 45, "tumour");
        assert_eq!(h.hu(h.eye_centre + Vec3::new(0.0, -7.8, 0.0)), 105, "lens");
        assert_eq!(h.hu(h.eye_centre + h.plaque_axis * 11.5), 55, "sclera");
        // The other eye, mirrored, has no tumour.
        let other = Vec3::new(-h.eye_centre.x, h.eye_centre.y, h.eye_centre.z);
        let a = h.plaque_axis;
        assert_eq!(h.hu(other + Vec3::new(-a.x, a.y, a.z) * 9.0), 8);
        assert!(h.in_nerve(h.eye_centre + Vec3::new(5.0, 16.0, 0.0)));
        assert_eq!(
            h.hu(h.eye_centre + Vec3::new(0.0, 0.0, 15.0)),
            -90,
            "orbital fat"
        );
    }
}
