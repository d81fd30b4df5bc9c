//! A loaded eye plaque placed on a patient's eye: the source of its seeds' photons, and the
//! analytic region that the voxel transport hands photons to when they reach the plaque.

use hope_core::Vec3;

use super::plaque::PlaqueAssembly;
use super::spectrum::Spectrum;
use crate::data::coms_plaques::EYE_CENTRE_Z_CM;
use crate::geometry::Frame;
use crate::particle::Photon;
use crate::rng::Rng;
use crate::{Error, Result};

/// A loaded plaque on an eye, in patient coordinates (mm).
#[derive(Debug, Clone, PartialEq)]
pub struct PlaqueSource {
    assembly: PlaqueAssembly,
    spectrum: Spectrum,
    /// The plaque frame's origin (the inner sclera on the central axis), mm.
    origin_mm: Vec3,
    /// The plaque frame's axes in patient coordinates: x, y, and z along the central axis
    /// towards the eye centre.
    axes: [Vec3; 3],
}

impl PlaqueSource {
    /// `assembly` on the eye centred at `eye_centre_mm`, its centre in the direction `towards`
    /// from the eye centre (the tumour's side; need not be normalised), turned by `rotation_deg`
    /// about its axis (0: the plaque's x axis is the unit vector of patient x times the axis z
    /// into the eye, or of patient y times z when z lies within 26 degrees of the x axis).
    pub fn new(
        assembly: PlaqueAssembly,
        spectrum: Spectrum,
        eye_centre_mm: Vec3,
        towards: Vec3,
        rotation_deg: f64,
    ) -> Result<Self> {
        let n = towards.norm();
        let bad = |message: String| Error::Source {
            message: format!("plaque `{}`: {message}", assembly.plaque().name()),
        };
        if !(n.is_finite() && n > 0.0) {
            return Err(bad(format!(
                "direction {towards:?}; expected a non-zero, finite vector"
            )));
        }
        let finite = |v: f64| v.is_finite() && v.abs() <= 1e7;
        if ![eye_centre_mm.x, eye_centre_mm.y, eye_centre_mm.z]
            .into_iter()
            .all(finite)
        {
            return Err(bad(format!(
                "eye centre {eye_centre_mm:?} mm; expected finite coordinates within 1e7 mm"
            )));
        }
        if !(rotation_deg.is_finite() && rotation_deg.abs() <= 360.0) {
            return Err(bad(format!(
                "rotation {rotation_deg} degrees; expected -360 to 360"
            )));
        }
        let z = towards * (-1.0 / n);
        let helper = if z.x.abs() < 0.9 {
            Vec3::new(1.0, 0.0, 0.0)
        } else {
            Vec3::new(0.0, 1.0, 0.0)
        };
        let u = helper.cross(z);
        let u = u * (1.0 / u.norm());
        let v = z.cross(u);
        let (c, s) = (
            rotation_deg.to_radians().cos(),
            rotation_deg.to_radians().sin(),
        );
        let x = u * c + v * s;
        let y = z.cross(x);
        Ok(Self {
            assembly,
            spectrum,
            origin_mm: eye_centre_mm - z * (EYE_CENTRE_Z_CM * 10.0),
            axes: [x, y, z],
        })
    }

    /// The loaded plaque.
    pub fn assembly(&self) -> &PlaqueAssembly {
        &self.assembly
    }

    /// The photon energies.
    pub fn spectrum(&self) -> &Spectrum {
        &self.spectrum
    }

    /// A point of the plaque frame (cm) in patient coordinates (mm).
    pub fn to_patient(&self, p_cm: [f64; 3]) -> Vec3 {
        let [x, y, z] = self.axes;
        self.origin_mm + (x * p_cm[0] + y * p_cm[1] + z * p_cm[2]) * 10.0
    }

    /// A direction of the plaque frame in patient coordinates.
    pub fn dir_to_patient(&self, d: [f64; 3]) -> Vec3 {
        let [x, y, z] = self.axes;
        x * d[0] + y * d[1] + z * d[2]
    }

    /// The central axis: the inner sclera under the plaque's centre (mm) and the unit vector into
    /// the eye; a depth of `t` mm from the inner sclera is at `start + direction * t`.
    pub fn central_axis(&self) -> (Vec3, Vec3) {
        (self.origin_mm, self.axes[2])
    }

    /// The seeds in their slots, in patient coordinates: centre (mm), axis (unit vector) and
    /// relative strength (0 for an inactive seed; empty slots left out), in slot order.
    pub fn seeds(&self) -> Vec<(Vec3, Vec3, f64)> {
        use super::plaque::SlotLoad;
        self.assembly
            .plaque()
            .slots()
            .iter()
            .zip(self.assembly.loads())
            .filter_map(|(slot, load)| {
                let weight = match load {
                    SlotLoad::Empty => return None,
                    SlotLoad::Inactive => 0.0,
                    SlotLoad::Active(w) => *w,
                };
                Some((
                    self.to_patient(slot.position_cm),
                    self.dir_to_patient(slot.axis),
                    weight,
                ))
            })
            .collect()
    }

    /// A point in patient coordinates (mm) in the plaque frame (cm).
    pub fn to_plaque(&self, p_mm: Vec3) -> [f64; 3] {
        let q = (p_mm - self.origin_mm) * 0.1;
        self.axes.map(|a| a.dot(q))
    }

    /// The voxels of `grid` that the plaque occupies in part or whole, with the fraction of each
    /// outside the plaque (on a 6 x 6 x 6 lattice of points per voxel). The track-length kerma
    /// of such a voxel, averaged over its whole volume, is divided by this fraction to give the
    /// kerma of its tissue (egs_brachy's volume correction); a voxel wholly inside the plaque has
    /// fraction 0 and no tissue dose.
    pub fn partial_voxels(&self, grid: &hope_core::Grid) -> Vec<(usize, f64)> {
        const N: usize = 6;
        let eye = self.to_patient([0.0, 0.0, EYE_CENTRE_Z_CM]);
        let c = grid.point_to_index(eye);
        let dims = grid.dims();
        let sp = grid.spacing();
        // The plaque lies within 15.05 mm of the eye centre.
        let reach = [sp.x, sp.y, sp.z].map(|s| (15.1 / s).ceil() + 1.0);
        let range = |a: usize| {
            let lo = (c[a] - reach[a]).max(0.0);
            let hi = (c[a] + reach[a]).min(dims[a] as f64 - 1.0);
            if hi < lo {
                0..0
            } else {
                (lo as usize)..(hi as usize + 1)
            }
        };
        let mut out = Vec::new();
        for k in range(2) {
            for j in range(1) {
                for i in range(0) {
                    let mut outside = 0usize;
                    for s in 0..N * N * N {
                        let f = |n: usize| (n as f64 + 0.5) / N as f64 - 0.5;
                        let idx = [
                            i as f64 + f(s % N),
                            j as f64 + f(s / N % N),
                            k as f64 + f(s / (N * N)),
                        ];
                        let q = self.to_plaque(grid.index_to_point(idx));
                        if !self.assembly.encloses(&q) {
                            outside += 1;
                        }
                    }
                    if outside < N * N * N
                        && let Some(o) = grid.offset([i, j, k])
                    {
                        out.push((o, outside as f64 / (N * N * N) as f64));
                    }
                }
            }
        }
        out
    }

    /// The plaque in the phantom's local frame.
    pub(crate) fn placed_in(&self, t: &Frame) -> Applicator<'_> {
        let o = t.to_local(self.origin_mm);
        Applicator {
            assembly: &self.assembly,
            o,
            axes: self.axes.map(|a| t.dir_to_local(a)),
        }
    }

    /// Emits one decay's photons (local frame) onto `stack`; returns the energy emitted and the
    /// energy absorbed in plaque and seeds, eV. With `recycle` (particle recycling), the photons
    /// leaving the decay's seed come out of every active seed at that seed's share of the
    /// weight; the narrow-beam count keeps the copies of one seed drawn by strength, and the
    /// energy emitted is what the copies carry (see [`PlaqueAssembly::emit_recycled`]).
    pub(crate) fn emit(
        &self,
        t: &Frame,
        recycle: bool,
        rng: &mut Rng,
        stack: &mut Vec<Photon>,
    ) -> (f64, f64) {
        let app = self.placed_in(t);
        let energy = self.spectrum.sample(rng);
        if recycle {
            let (absorbed, emitted) =
                self.assembly
                    .emit_recycled(energy, rng, |p, d, e, weight, counted| {
                        let mut photon = Photon::new(app.local_point(p), app.local_dir(d), e);
                        photon.weight = weight;
                        photon.primary_unscattered = counted;
                        stack.push(photon);
                    });
            return (emitted, absorbed);
        }
        let absorbed = self.assembly.emit(energy, rng, |p, d, e| {
            stack.push(Photon::new(app.local_point(p), app.local_dir(d), e));
        });
        (energy, absorbed)
    }
}

/// A plaque placed in the phantom's local frame (cm): what the photon transport asks where the
/// plaque is and hands photons to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Applicator<'a> {
    assembly: &'a PlaqueAssembly,
    /// The plaque frame's origin, local frame.
    o: [f64; 3],
    /// The plaque frame's axes, local frame.
    axes: [[f64; 3]; 3],
}

fn dot(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

impl Applicator<'_> {
    fn plaque_point(&self, p: &[f64; 3]) -> [f64; 3] {
        let q = [p[0] - self.o[0], p[1] - self.o[1], p[2] - self.o[2]];
        self.axes.map(|a| dot(&a, &q))
    }

    fn plaque_dir(&self, d: &[f64; 3]) -> [f64; 3] {
        self.axes.map(|a| dot(&a, d))
    }

    fn local_point(&self, q: [f64; 3]) -> [f64; 3] {
        let [x, y, z] = self.axes;
        std::array::from_fn(|i| self.o[i] + q[0] * x[i] + q[1] * y[i] + q[2] * z[i])
    }

    fn local_dir(&self, d: [f64; 3]) -> [f64; 3] {
        let [x, y, z] = self.axes;
        std::array::from_fn(|i| d[0] * x[i] + d[1] * y[i] + d[2] * z[i])
    }

    /// The distance along `d` from `p` (local frame) to where the ray enters the plaque.
    pub(crate) fn entry(&self, p: &[f64; 3], d: &[f64; 3]) -> Option<f64> {
        self.assembly
            .entry_distance(&self.plaque_point(p), &self.plaque_dir(d))
    }

    /// Transports `photon`, which reaches the plaque where it is, through plaque and seeds;
    /// pushes what leaves onto `stack` and returns the energy absorbed, eV.
    pub(crate) fn enter(&self, photon: &Photon, rng: &mut Rng, stack: &mut Vec<Photon>) -> f64 {
        self.assembly.enter(
            self.plaque_point(&photon.pos),
            self.plaque_dir(&photon.dir),
            photon.energy,
            rng,
            |p, d, e| {
                stack.push(Photon::secondary(
                    self.local_point(p),
                    self.local_dir(d),
                    e,
                    0,
                ));
            },
        )
    }
}
