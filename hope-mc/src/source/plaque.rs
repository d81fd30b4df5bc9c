//! Eye plaques in analytic geometry: the COMS plaques from 10 to 24 mm (Modulay backing and lip,
//! Silastic seed carrier, seed slots), with their seeds as geometry too, so that interseed
//! attenuation is modelled and a slot may hold an inactive seed; and the central-axis dose in
//! water in sclera coordinates, with the plaque (HETERO) or with water in its place and each
//! seed alone (HOMO, the TG-43 superposition the plaque databases compare with).
//!
//! Frames. The plaque frame (cm) has its origin at the inner sclera on the plaque's central axis
//! and +z along that axis towards the eye centre, which lies at z = 1.13 cm (an eye of 1.23 cm
//! outer scleral radius, the sclera 1 mm thick: AAPM TG-129). Depths on the central axis are
//! measured from the inner sclera, as the plaque databases give them.
//!
//! Geometry (CLRP eye plaque database v2, Safigholi et al., Med Phys 48:3373, 2021, after TG-129;
//! `tools/gen_coms_plaques.py`): spherical shells about the eye centre, the Silastic insert from
//! the outer sclera (1.23 cm) to 1.455 cm, the 0.5 mm Modulay backing to 1.505 cm, cut by the
//! lip: a Modulay ring of inner radius D/2 and 0.5 mm thick about the axis, ending where its
//! inner edge meets the sclera. Seeds lie in the insert, their centres 13.7 mm from the eye
//! centre, their axes tangential.

use std::fmt;

use super::brachy::{Cells, SeedModel, World, walk};
use super::spectrum::Spectrum;
use crate::data::EV_PER_G_TO_GY;
use crate::data::coms_plaques::{
    BACKING_OUTER_CM, COMS_PLAQUES, EYE_CENTRE_Z_CM, INSERT_OUTER_CM, LIP_CM, SCLERA_OUTER_CM,
};
use crate::geometry::solids::{Solid, sphere_exit};
use crate::material::Material;
use crate::particle::isotropic;
use crate::physics::{PhotonPhysics, PhysicsOptions};
use crate::rng::Rng;
use crate::{Error, Result};

/// The depth of the eye centre below the inner sclera on the central axis, mm.
pub const EYE_CENTRE_DEPTH_MM: f64 = EYE_CENTRE_Z_CM * 10.0;

/// A seed slot in the plaque frame (cm): the seed's centre and its axis (a unit vector).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slot {
    /// Centre, cm.
    pub position_cm: [f64; 3],
    /// Axis (unit vector).
    pub axis: [f64; 3],
}

/// An eye plaque (backing, lip and insert) with its seed slots.
#[derive(Debug, Clone, PartialEq)]
pub struct Plaque {
    name: String,
    lip_inner: f64,
    lip_outer: f64,
    /// The lip's free end, z in the eye-centre frame (negative).
    lip_end: f64,
    slots: Vec<Slot>,
    surfaces: [Solid; 5],
}

/// The material of a point of the plaque.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaqueMaterial {
    /// The Modulay backing and lip.
    Modulay,
    /// The Silastic seed carrier.
    Silastic,
}

impl fmt::Display for Plaque {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl Plaque {
    /// The names of the built-in plaques: `coms-10`, `coms-12`, ..., `coms-24`.
    pub fn names() -> impl Iterator<Item = String> {
        COMS_PLAQUES
            .iter()
            .map(|p| format!("coms-{}", p.diameter_mm))
    }

    /// A built-in plaque by name (see [`Plaque::names`]).
    pub fn by_name(name: &str) -> Result<Self> {
        COMS_PLAQUES
            .iter()
            .find(|p| format!("coms-{}", p.diameter_mm) == name)
            .map(|p| {
                let lip_inner = f64::from(p.diameter_mm) / 20.0;
                let lip_outer = lip_inner + LIP_CM;
                let lip_end = -(SCLERA_OUTER_CM.powi(2) - lip_inner.powi(2)).sqrt();
                let surfaces = [
                    Solid::ball(0.0, SCLERA_OUTER_CM, 0),
                    Solid::ball(0.0, INSERT_OUTER_CM, 0),
                    Solid::ball(0.0, BACKING_OUTER_CM, 0),
                    Solid::cylinder(lip_inner, -2.0 * BACKING_OUTER_CM, lip_end),
                    Solid::cylinder(lip_outer, -2.0 * BACKING_OUTER_CM, lip_end),
                ];
                Self {
                    name: name.to_string(),
                    lip_inner,
                    lip_outer,
                    lip_end,
                    slots: p
                        .slots
                        .iter()
                        .map(|s| Slot {
                            position_cm: [s[0], s[1], s[2]],
                            axis: [s[3], s[4], s[5]],
                        })
                        .collect(),
                    surfaces,
                }
            })
            .ok_or_else(|| Error::Source {
                message: format!(
                    "plaque `{name}`: expected one of {}",
                    Self::names().collect::<Vec<_>>().join(", ")
                ),
            })
    }

    /// The plaque's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The seed slots.
    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    /// The eye centre in the plaque frame, cm.
    pub fn eye_centre_cm() -> [f64; 3] {
        [0.0, 0.0, EYE_CENTRE_Z_CM]
    }

    /// The plaque's material at `p` (plaque frame, cm; seeds not counted), or `None` outside it.
    pub fn material_at(&self, p: &[f64; 3]) -> Option<PlaqueMaterial> {
        let z = p[2] - EYE_CENTRE_Z_CM;
        let rho2 = p[0] * p[0] + p[1] * p[1];
        let r2 = rho2 + z * z;
        if z > self.lip_end
            || rho2 > self.lip_outer * self.lip_outer
            || !(SCLERA_OUTER_CM * SCLERA_OUTER_CM..=BACKING_OUTER_CM * BACKING_OUTER_CM)
                .contains(&r2)
        {
            return None;
        }
        if r2 < INSERT_OUTER_CM * INSERT_OUTER_CM && rho2 < self.lip_inner * self.lip_inner {
            Some(PlaqueMaterial::Silastic)
        } else {
            Some(PlaqueMaterial::Modulay)
        }
    }

    /// The distance along `d` from `p` (plaque frame) to where the ray enters the plaque, if it
    /// does: the plaque is the shell between the outer sclera and the backing's outer sphere,
    /// within the lip's outer cylinder, below the lip's end.
    pub fn entry_distance(&self, p: &[f64; 3], d: &[f64; 3]) -> Option<f64> {
        const EPS: f64 = 1e-8;
        let q = [p[0], p[1], p[2] - EYE_CENTRE_Z_CM];
        let (a0, a1) = ball_interval(&q, d, BACKING_OUTER_CM)?;
        let (mut lo, mut hi) = (a0.max(0.0), a1);
        // Within the lip's outer cylinder.
        let a = d[0] * d[0] + d[1] * d[1];
        let c = q[0] * q[0] + q[1] * q[1] - self.lip_outer * self.lip_outer;
        if a > 1e-300 {
            let b = q[0] * d[0] + q[1] * d[1];
            let disc = b * b - a * c;
            if disc < 0.0 {
                return None;
            }
            let s = disc.sqrt();
            lo = lo.max((-b - s) / a);
            hi = hi.min((-b + s) / a);
        } else if c > 0.0 {
            return None;
        }
        // Below the lip's end.
        if d[2] > 1e-300 {
            hi = hi.min((self.lip_end - q[2]) / d[2]);
        } else if d[2] < -1e-300 {
            lo = lo.max((self.lip_end - q[2]) / d[2]);
        } else if q[2] > self.lip_end {
            return None;
        }
        if hi <= lo.max(EPS) {
            return None;
        }
        // Outside the sclera's sphere.
        match ball_interval(&q, d, SCLERA_OUTER_CM) {
            Some((b0, b1)) if b1 > lo && b0 < hi => {
                if b0 > lo && b0 > EPS {
                    Some(lo)
                } else if hi > b1.max(EPS) {
                    Some(b1.max(lo))
                } else {
                    None
                }
            }
            _ => Some(lo),
        }
    }

    /// The distance along `d` from `p` (plaque frame) to the next surface of the plaque.
    pub fn next_surface(&self, p: &[f64; 3], d: &[f64; 3]) -> f64 {
        let q = [p[0], p[1], p[2] - EYE_CENTRE_Z_CM];
        self.surfaces
            .iter()
            .filter_map(|s| s.hit(&q, d, 1e-9))
            .fold(f64::INFINITY, f64::min)
    }
}

/// How the plaque is simulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaqueMode {
    /// The plaque and every seed (active or inactive) in water: interseed attenuation included.
    Hetero,
    /// Water in place of the plaque, every seed (active or inactive) in it: the interseed
    /// effects alone.
    SeedsInWater,
    /// Water in place of the plaque, and each seed alone in water (superposition of single
    /// seeds, the TG-43 condition).
    Homo,
}

/// What a slot holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SlotLoad {
    /// No seed: Silastic fills the groove.
    Empty,
    /// A seed without activity (it still attenuates).
    Inactive,
    /// A seed of this relative strength (positive).
    Active(f64),
}

/// A seed's place: centre and frame (u, v, axis) in the plaque frame.
#[derive(Debug, Clone, Copy)]
struct Placed {
    c: [f64; 3],
    frame: [[f64; 3]; 3],
}

impl Placed {
    fn new(slot: &Slot) -> Self {
        // (The tables give axes to six decimals: normalised, the frame is orthonormal to
        // rounding, so that its transpose is its inverse, as particle recycling needs.)
        let w = normalise(slot.axis);
        let helper = if w[0].abs() < 0.9 {
            [1.0, 0.0, 0.0]
        } else {
            [0.0, 1.0, 0.0]
        };
        let u = normalise(cross(helper, w));
        let v = cross(w, u);
        Self {
            c: slot.position_cm,
            frame: [u, v, w],
        }
    }

    fn local_point(&self, p: &[f64; 3]) -> [f64; 3] {
        let q = [p[0] - self.c[0], p[1] - self.c[1], p[2] - self.c[2]];
        self.frame.map(|a| dot(a, q))
    }

    fn dir_to_local(&self, d: &[f64; 3]) -> [f64; 3] {
        self.frame.map(|a| dot(a, *d))
    }

    fn plaque_point(&self, q: &[f64; 3]) -> [f64; 3] {
        let [u, v, w] = self.frame;
        std::array::from_fn(|i| self.c[i] + q[0] * u[i] + q[1] * v[i] + q[2] * w[i])
    }

    fn dir_to_plaque(&self, d: &[f64; 3]) -> [f64; 3] {
        let [u, v, w] = self.frame;
        std::array::from_fn(|i| d[0] * u[i] + d[1] * v[i] + d[2] * w[i])
    }
}

/// The interval of t where |q + t d| <= r (d a unit vector), if the line meets the ball.
fn ball_interval(q: &[f64; 3], d: &[f64; 3], r: f64) -> Option<(f64, f64)> {
    let b = dot(*q, *d);
    let c = dot(*q, *q) - r * r;
    let disc = b * b - c;
    if disc < 0.0 {
        return None;
    }
    let s = disc.sqrt();
    Some((-b - s, -b + s))
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn normalise(a: [f64; 3]) -> [f64; 3] {
    let n = dot(a, a).sqrt();
    [a[0] / n, a[1] / n, a[2] / n]
}

/// Physics material indices: the seed's materials first, then Modulay, Silastic, water.
struct PlaqueWorld<'a> {
    plaque: Option<&'a Plaque>,
    seed: &'a SeedModel,
    /// The seeds present.
    placed: &'a [Placed],
    /// HOMO: the one seed present.
    only: Option<usize>,
    bound2: f64,
    modulay: usize,
    /// The water around (material index, radius of its sphere about the plaque frame's origin);
    /// without it photons leave where neither plaque nor seed is.
    water: Option<(usize, f64)>,
}

impl PlaqueWorld<'_> {
    fn present(&self) -> impl Iterator<Item = &Placed> {
        let (a, b) = match self.only {
            Some(i) => (i, i + 1),
            None => (0, self.placed.len()),
        };
        self.placed[a..b].iter()
    }

    fn surrounding(&self, p: &[f64; 3]) -> Option<usize> {
        if let Some(m) = self.plaque.and_then(|pl| pl.material_at(p)) {
            return Some(match m {
                PlaqueMaterial::Modulay => self.modulay,
                PlaqueMaterial::Silastic => self.modulay + 1,
            });
        }
        let (w, r) = self.water?;
        (dot(*p, *p) < r * r).then_some(w)
    }
}

impl World for PlaqueWorld<'_> {
    fn medium(&self, p: &[f64; 3]) -> Option<usize> {
        for s in self.present() {
            let q = [p[0] - s.c[0], p[1] - s.c[1], p[2] - s.c[2]];
            if dot(q, q) <= self.bound2 {
                let local = s.local_point(p);
                if self.seed.encloses(&local) {
                    if let Some(m) = self.seed.medium_at(&local) {
                        return Some(m);
                    }
                    // A dimple of the capsule: the medium around the seed.
                    return self.surrounding(p);
                }
            }
        }
        self.surrounding(p)
    }

    fn next_surface(&self, p: &[f64; 3], d: &[f64; 3]) -> f64 {
        let mut best = self
            .water
            .map_or(f64::INFINITY, |(_, r)| sphere_exit(p, d, r));
        if let Some(pl) = self.plaque {
            best = best.min(pl.next_surface(p, d));
        }
        for s in self.present() {
            let q = [s.c[0] - p[0], s.c[1] - p[1], s.c[2] - p[2]];
            let along = dot(q, *d).max(0.0);
            let miss2 = dot(q, q) - along * along;
            if miss2 > self.bound2 || along - self.bound2.sqrt() > best {
                continue;
            }
            best = best.min(
                self.seed
                    .next_surface(&s.local_point(p), &s.dir_to_local(d)),
            );
        }
        best
    }
}

/// A plaque loaded with seeds, ready for transport: the seeds of the loading in their slots,
/// the physics of their materials and of Modulay and Silastic (and water, for the plaque
/// database runs). The voxel transport hands a photon that reaches the plaque to it, and takes
/// back whatever leaves it, so that the plaque's half-millimetre parts need no voxels.
#[derive(Debug, Clone)]
pub struct PlaqueAssembly {
    plaque: Plaque,
    seed: SeedModel,
    loads: Vec<SlotLoad>,
    placed: Vec<Placed>,
    weights: Vec<f64>,
    cumulative: Vec<f64>,
    bound2: f64,
    physics: PhotonPhysics,
    densities: Vec<f64>,
    /// Materials: the seed's (0..n_mat), then Modulay, Silastic, water.
    n_mat: usize,
}

impl PartialEq for PlaqueAssembly {
    fn eq(&self, other: &Self) -> bool {
        self.plaque == other.plaque && self.seed == other.seed && self.loads == other.loads
    }
}

impl PlaqueAssembly {
    /// `plaque` with a `seed` in every slot that `loads` (one per slot) does not leave empty,
    /// transported with `options` (the run's physics options).
    pub fn new(
        plaque: Plaque,
        seed: SeedModel,
        loads: &[SlotLoad],
        options: PhysicsOptions,
    ) -> Result<Self> {
        seed.check()?;
        let bad = |message: String| Error::Source {
            message: format!("plaque `{}`: {message}", plaque.name),
        };
        if loads.len() != plaque.slots.len() {
            return Err(bad(format!(
                "{} slot loads for {} slots",
                loads.len(),
                plaque.slots.len()
            )));
        }
        let mut weights = Vec::new();
        let mut placed = Vec::new();
        for (i, (load, slot)) in loads.iter().zip(&plaque.slots).enumerate() {
            match *load {
                SlotLoad::Empty => continue,
                SlotLoad::Inactive => weights.push(0.0),
                SlotLoad::Active(w) if w.is_finite() && w > 0.0 && w <= 1e6 => weights.push(w),
                SlotLoad::Active(w) => {
                    return Err(bad(format!(
                        "slot {}: seed strength {w}; expected a positive number up to 1e6",
                        i + 1
                    )));
                }
            }
            placed.push(Placed::new(slot));
        }
        let total: f64 = weights.iter().sum();
        if !(total > 0.0 && total.is_finite()) {
            return Err(bad("no active seed".into()));
        }
        let mut cumulative = Vec::with_capacity(weights.len());
        let mut acc = 0.0;
        for w in &weights {
            acc += w / total;
            cumulative.push(acc);
        }
        let n_mat = seed.materials.len();
        let mut mats = seed.materials.clone();
        mats.push(Material::builtin("modulay")?);
        mats.push(Material::builtin("silastic")?);
        mats.push(Material::builtin("water")?);
        let densities = mats.iter().map(Material::density).collect();
        let physics = PhotonPhysics::new(&mats, options);
        let (r_b, z0, z1) = seed.bounds();
        let bound2 = r_b * r_b + z0.abs().max(z1.abs()).powi(2);
        Ok(Self {
            plaque,
            seed,
            loads: loads.to_vec(),
            placed,
            weights,
            cumulative,
            bound2,
            physics,
            densities,
            n_mat,
        })
    }

    /// The plaque.
    pub fn plaque(&self) -> &Plaque {
        &self.plaque
    }

    /// The seed model.
    pub fn seed(&self) -> &SeedModel {
        &self.seed
    }

    /// What each slot holds.
    pub fn loads(&self) -> &[SlotLoad] {
        &self.loads
    }

    fn world(
        &self,
        with_plaque: bool,
        only: Option<usize>,
        water: Option<(usize, f64)>,
    ) -> PlaqueWorld<'_> {
        PlaqueWorld {
            plaque: with_plaque.then_some(&self.plaque),
            seed: &self.seed,
            placed: &self.placed,
            only,
            bound2: self.bound2,
            modulay: self.n_mat,
            water,
        }
    }

    /// The present seed that the uniform number `u` picks, weighted by strength.
    fn pick(&self, u: f64) -> usize {
        let k = self
            .cumulative
            .iter()
            .position(|&c| u < c)
            .unwrap_or(self.weights.len() - 1);
        // Rounding at the end of the table: the last active seed.
        if self.weights[k] > 0.0 {
            k
        } else {
            self.weights.iter().rposition(|w| *w > 0.0).unwrap_or(k)
        }
    }

    /// A decay: which present seed (weighted by strength) and where in it (plaque frame, cm).
    pub(crate) fn sample_start(&self, rng: &mut Rng) -> (usize, [f64; 3]) {
        let k = self.pick(rng.uniform());
        (
            k,
            self.placed[k].plaque_point(&self.seed.emission_point(rng)),
        )
    }

    /// Follows a decay photon of energy `e` through plaque and seeds until it and its
    /// descendants are absorbed there or leave (`leave(position, direction, energy)`, plaque
    /// frame); returns the energy absorbed in plaque and seeds, eV.
    pub(crate) fn emit(
        &self,
        e: f64,
        rng: &mut Rng,
        leave: impl FnMut([f64; 3], [f64; 3], f64),
    ) -> f64 {
        let (_, start) = self.sample_start(rng);
        let world = self.world(true, None, None);
        let d = isotropic(rng);
        walk(
            &world,
            &self.physics,
            &self.densities,
            (start, d, e),
            rng,
            |_, _, _, _, _| {},
            leave,
        )
    }

    /// Particle recycling ([`crate::VarianceReduction::particle_recycling`]): follows a decay
    /// photon of energy `e` in one seed alone (the seed's frame), then each photon that leaves
    /// it from every active seed, turned into that seed's frame, with weight equal to the
    /// seed's share of the strength, through plaque and seeds until it and its descendants are
    /// absorbed there or leave (`leave(position, direction, energy, weight, counted)`, plaque
    /// frame; `counted`: the copies of one seed, drawn by strength as the analog run draws the
    /// decay's seed, which the narrow-beam count follows). Seeds must not overlap (those of the
    /// COMS plaques do not). Returns the energy absorbed in plaque and
    /// seeds, weighted, and the energy emitted as the copies carry it, eV: `e` but for the
    /// rounding of the weights (single precision, as particles carry them), so that the energy
    /// balance holds exactly.
    ///
    /// Unbiased: in the analog [`PlaqueAssembly::emit`] a decay in seed k is followed inside
    /// seed k exactly as inside a seed alone (seeds do not overlap), and from where it leaves
    /// the seed on in the whole assembly, as here.
    pub(crate) fn emit_recycled(
        &self,
        e: f64,
        rng: &mut Rng,
        mut leave: impl FnMut([f64; 3], [f64; 3], f64, f32, bool),
    ) -> (f64, f64) {
        let start = (self.seed.emission_point(rng), isotropic(rng), e);
        let mut out = Vec::new();
        let mut absorbed = walk(
            &self.seed,
            &self.physics,
            &self.densities,
            start,
            rng,
            |_, _, _, _, _| {},
            |p, d, e| out.push((p, d, e)),
        );
        let world = self.world(true, None, None);
        let total: f64 = self.weights.iter().sum();
        let share = |w: &f64| (w / total) as f32;
        let carried: f64 = self.weights.iter().map(|w| f64::from(share(w))).sum();
        let left: f64 = out.iter().map(|o| o.2).sum();
        let counted = self.pick(rng.uniform());
        for (p, d, e) in out {
            for (k, (s, w)) in self.placed.iter().zip(&self.weights).enumerate() {
                let w = share(w);
                if w <= 0.0 {
                    continue;
                }
                let start = (s.plaque_point(&p), s.dir_to_plaque(&d), e);
                absorbed += f64::from(w)
                    * walk(
                        &world,
                        &self.physics,
                        &self.densities,
                        start,
                        rng,
                        |_, _, _, _, _| {},
                        |p, d, e| leave(p, d, e, w, k == counted),
                    );
            }
        }
        (absorbed, e - left + left * carried)
    }

    /// Follows a photon that reaches the plaque at `p` (plaque frame) in direction `d` until it
    /// and its descendants are absorbed in plaque and seeds or leave; returns the energy
    /// absorbed, eV.
    pub(crate) fn enter(
        &self,
        p: [f64; 3],
        d: [f64; 3],
        e: f64,
        rng: &mut Rng,
        leave: impl FnMut([f64; 3], [f64; 3], f64),
    ) -> f64 {
        // A nanometre in, so that the first step starts inside.
        let p = [p[0] + 1e-7 * d[0], p[1] + 1e-7 * d[1], p[2] + 1e-7 * d[2]];
        let world = self.world(true, None, None);
        walk(
            &world,
            &self.physics,
            &self.densities,
            (p, d, e),
            rng,
            |_, _, _, _, _| {},
            leave,
        )
    }

    /// Whether `p` (plaque frame) lies in the plaque (backing, lip, insert; the seeds lie in the
    /// insert).
    pub fn encloses(&self, p: &[f64; 3]) -> bool {
        self.plaque.material_at(p).is_some()
    }

    /// The distance along `d` from `p` (plaque frame) to where the ray enters the plaque, if it
    /// does (0 when `p` is inside and the ray goes on inside for more than 0.1 nm).
    pub fn entry_distance(&self, p: &[f64; 3], d: &[f64; 3]) -> Option<f64> {
        self.plaque.entry_distance(p, d)
    }
}

/// Central-axis dose of a plaque run, per emitted photon.
#[derive(Debug, Clone, PartialEq)]
pub struct CentralAxis {
    /// Emitted photons.
    pub histories: u64,
    /// Depths from the inner sclera, mm.
    pub depths_mm: Vec<f64>,
    /// Dose to water per emitted photon, Gy, at each depth: the collision kerma (track-length
    /// estimator) averaged over a disc about the axis ([`CELL_RADIUS_MM`] radius,
    /// [`CELL_THICKNESS_MM`] thick).
    pub dose: Vec<f64>,
    /// Relative standard uncertainties of `dose` (history by history).
    pub rel: Vec<f64>,
}

/// The radius of the central-axis scoring cells, mm: wider than the 0.5 mm voxels of the plaque
/// databases, for statistics (the ratio of two plaque doses varies little across it).
pub const CELL_RADIUS_MM: f64 = 2.5;
/// The thickness of the central-axis scoring cells, mm.
pub const CELL_THICKNESS_MM: f64 = 1.0;
const CELL_RADIUS: f64 = CELL_RADIUS_MM / 10.0;
const CELL_THICKNESS: f64 = CELL_THICKNESS_MM / 10.0;

/// Runs `histories` photons of `spectrum` from the seeds of `plaque` (each a `seed`, the slots
/// loaded as `loads` says, one per slot) in a water sphere of 15 cm radius about the inner
/// sclera, and scores the central-axis dose at `depths_mm` from the inner sclera.
#[allow(clippy::too_many_arguments)]
pub fn central_axis(
    plaque: &Plaque,
    seed: &SeedModel,
    loads: &[SlotLoad],
    spectrum: &Spectrum,
    mode: PlaqueMode,
    depths_mm: &[f64],
    histories: u64,
    rng_seed: u64,
) -> Result<CentralAxis> {
    let bad = |message: String| Error::Source {
        message: format!("plaque `{}`: {message}", plaque.name),
    };
    if histories == 0 {
        return Err(bad("no histories".into()));
    }
    if let Some(d) = depths_mm
        .iter()
        .find(|d| !(d.is_finite() && (0.0..=100.0).contains(*d)))
    {
        return Err(bad(format!("depth {d} mm; expected 0 to 100 mm")));
    }
    let assembly = PlaqueAssembly::new(
        plaque.clone(),
        seed.clone(),
        loads,
        PhysicsOptions::default(),
    )?;
    let cells = Cells::from_bounds(
        depths_mm
            .iter()
            .map(|d| {
                let z = d / 10.0;
                (
                    0.0,
                    CELL_RADIUS,
                    z - CELL_THICKNESS / 2.0,
                    z + CELL_THICKNESS / 2.0,
                )
            })
            .collect(),
    );
    let (physics, densities) = (&assembly.physics, &assembly.densities);
    let water = assembly.n_mat + 2;
    let mut rng = Rng::for_batch(rng_seed, 0);
    let n_c = depths_mm.len();
    let (mut sum, mut sum2, mut hist) = (vec![0.0; n_c], vec![0.0; n_c], vec![0.0; n_c]);
    for _ in 0..histories {
        hist.iter_mut().for_each(|x| *x = 0.0);
        let (slot, start) = assembly.sample_start(&mut rng);
        let world = assembly.world(
            mode == PlaqueMode::Hetero,
            (mode == PlaqueMode::Homo).then_some(slot),
            Some((water, 15.0)),
        );
        let e = spectrum.sample(&mut rng);
        walk(
            &world,
            physics,
            densities,
            (start, isotropic(&mut rng), e),
            &mut rng,
            |m, p, d, len, e| {
                if m == water {
                    let k = e * physics.mu_en_rho(water, e);
                    cells.chords(p, d, len, |i, l| hist[i] += l * k / cells.volume[i]);
                }
            },
            |_, _, _| {},
        );
        for i in 0..n_c {
            sum[i] += hist[i];
            sum2[i] += hist[i] * hist[i];
        }
    }
    let n = histories as f64;
    let rel = |s: f64, s2: f64| {
        let m = s / n;
        if m <= 0.0 || n < 2.0 {
            return 0.0;
        }
        ((s2 / n - m * m).max(0.0) / (n - 1.0)).sqrt() / m
    };
    Ok(CentralAxis {
        histories,
        depths_mm: depths_mm.to_vec(),
        dose: sum.iter().map(|s| s / n * EV_PER_G_TO_GY).collect(),
        rel: sum.iter().zip(&sum2).map(|(s, s2)| rel(*s, *s2)).collect(),
    })
}

#[cfg(test)]
#[path = "plaque_tests.rs"]
mod tests;
