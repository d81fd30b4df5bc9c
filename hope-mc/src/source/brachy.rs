//! Brachytherapy seeds in analytic geometry and the AAPM TG-43 quantities (Rivard et al., Med Phys
//! 31:633, 2004): air-kerma strength in vacuum, dose on the transverse axis in a water sphere,
//! dose-rate constant, radial dose function and 2D anisotropy function.
//!
//! The seed is transported exactly in its own geometry (analytic solids: no voxels, since its
//! parts are tenths of a millimetre), with the same physics as the voxel transport; outside the
//! capsule the photon is in a homogeneous water sphere (or in vacuum, for the air-kerma
//! strength), where dose on the transverse axis is scored by the track-length kerma estimator in
//! thin rings around the seed axis, with exact chord lengths.

use super::spectrum::Spectrum;
use crate::data::ELECTRON_MASS_EV;
use crate::data::EV_PER_G_TO_GY;
use crate::geometry::solids::{Solid, sphere_exit};
use crate::material::Material;
use crate::particle::{isotropic, rotate};
use crate::physics::{Interaction, PhotonPhysics, PhysicsOptions};
use crate::rng::Rng;
use crate::{Error, Result};

/// I-125 photons per decay, TG-43U1 Table I (Rivard et al. 2004): (energy eV, yield).
pub const I125_LINES: [(f64, f64); 5] = [
    (27_202.0, 0.406),
    (27_472.0, 0.757),
    (30_980.0, 0.202),
    (31_710.0, 0.0439),
    (35_492.0, 0.0668),
];

/// A seed in its own frame (cm, axis along z, centred at the origin): solids, innermost first,
/// each filled with one of `materials` or with the surrounding medium (the water in a capsule's
/// end dimple); where the activity lies; and the active length L of the TG-43 line source.
/// The built-in models are in [`SeedModel::by_name`]; a research code can describe its own.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedModel {
    /// The model's name (as the simulation file writes it).
    pub name: String,
    /// Solids, innermost first, with their medium: `Some(i)` for `materials[i]`, `None` for the
    /// surrounding medium. A point belongs to the first solid that contains it; a point in none
    /// is outside the seed.
    pub parts: Vec<(Solid, Option<usize>)>,
    /// The seed's materials.
    pub materials: Vec<Material>,
    /// Where the activity lies.
    pub emitter: Emitter,
    /// Active length L for the line-source geometry function, cm.
    pub active_length: f64,
}

/// Where a seed's activity lies (its frame, cm).
#[derive(Debug, Clone, PartialEq)]
pub enum Emitter {
    /// Uniform over the surface of a cylinder of this radius and half-length, ends included
    /// (the I-125 adsorbed on a silver rod).
    CylinderSurface {
        /// Radius.
        r: f64,
        /// Half-length.
        half_length: f64,
    },
    /// Uniform in the volume of these pieces (a ceramic tube, a resin shell, a palladium layer).
    Volume(Vec<Piece>),
}

/// A piece of an active volume.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Piece {
    /// The annular cylinder `r_in <= rho <= r_out`, `z0 <= z <= z1` (`r_in` 0 for a full one).
    Annulus {
        /// Inner radius.
        r_in: f64,
        /// Outer radius.
        r_out: f64,
        /// Lower plane.
        z0: f64,
        /// Upper plane.
        z1: f64,
    },
    /// Half of the spherical shell `r_in <= |p - (0,0,zc)| <= r_out`: z >= zc for `up`, z <= zc
    /// otherwise.
    HalfShell {
        /// Centre on the axis.
        zc: f64,
        /// Inner radius.
        r_in: f64,
        /// Outer radius.
        r_out: f64,
        /// Which half.
        up: bool,
    },
}

impl Piece {
    fn volume(&self) -> f64 {
        use std::f64::consts::PI;
        match *self {
            Piece::Annulus {
                r_in,
                r_out,
                z0,
                z1,
            } => PI * (r_out * r_out - r_in * r_in) * (z1 - z0),
            Piece::HalfShell { r_in, r_out, .. } => 2.0 / 3.0 * PI * (r_out.powi(3) - r_in.powi(3)),
        }
    }

    fn sample(&self, rng: &mut Rng) -> [f64; 3] {
        match *self {
            Piece::Annulus {
                r_in,
                r_out,
                z0,
                z1,
            } => {
                let r = (r_in * r_in + rng.uniform() * (r_out * r_out - r_in * r_in)).sqrt();
                let phi = 2.0 * std::f64::consts::PI * rng.uniform();
                [r * phi.cos(), r * phi.sin(), z0 + rng.uniform() * (z1 - z0)]
            }
            Piece::HalfShell {
                zc,
                r_in,
                r_out,
                up,
            } => {
                let r = (r_in.powi(3) + rng.uniform() * (r_out.powi(3) - r_in.powi(3))).cbrt();
                let d = isotropic(rng);
                let s = if up == (d[2] >= 0.0) { 1.0 } else { -1.0 };
                [r * d[0], r * d[1], zc + s * r * d[2]]
            }
        }
    }
}

impl SeedModel {
    /// The medium at `p` (seed frame): `Some(material index)`, or `None` outside the seed.
    pub fn medium_at(&self, p: &[f64; 3]) -> Option<usize> {
        self.parts
            .iter()
            .find(|(s, _)| s.contains(p))
            .and_then(|(_, m)| *m)
    }

    /// Whether `p` lies inside one of the seed's solids (a dimple of surrounding medium included).
    pub fn encloses(&self, p: &[f64; 3]) -> bool {
        self.parts.iter().any(|(s, _)| s.contains(p))
    }

    /// The distance along `d` from `p` to the next surface of any of the seed's solids.
    pub fn next_surface(&self, p: &[f64; 3], d: &[f64; 3]) -> f64 {
        self.parts
            .iter()
            .filter_map(|(s, _)| s.hit(p, d, 1e-9))
            .fold(f64::INFINITY, f64::min)
    }

    /// The smallest cylinder about the axis that holds the seed: (radius, z0, z1).
    pub fn bounds(&self) -> (f64, f64, f64) {
        self.parts
            .iter()
            .fold((0.0, 0.0, 0.0), |(r, a, b), (s, _)| {
                let (sr, sa, sb) = s.bounds();
                (r.max(sr), a.min(sa), b.max(sb))
            })
    }

    /// Checks the model: positive finite sizes, media that exist, an emitter inside the seed.
    pub fn check(&self) -> Result<()> {
        let bad = |message: String| Error::Source {
            message: format!("seed model `{}`: {message}", self.name),
        };
        if self.parts.is_empty() {
            return Err(bad("no solids".into()));
        }
        for (i, (s, m)) in self.parts.iter().enumerate() {
            let (r, a, b) = s.bounds();
            if !(r.is_finite() && r > 0.0 && a.is_finite() && b.is_finite() && b > a) {
                return Err(bad(format!(
                    "solid {i} ({s:?}): expected positive, finite sizes"
                )));
            }
            if m.is_some_and(|m| m >= self.materials.len()) {
                return Err(bad(format!(
                    "solid {i}: material {m:?}; the model has {} materials",
                    self.materials.len()
                )));
            }
        }
        let pieces_ok = match &self.emitter {
            Emitter::CylinderSurface { r, half_length } => {
                r.is_finite() && *r > 0.0 && half_length.is_finite() && *half_length > 0.0
            }
            Emitter::Volume(pieces) => {
                !pieces.is_empty()
                    && pieces
                        .iter()
                        .all(|p| p.volume().is_finite() && p.volume() > 0.0)
            }
        };
        if !pieces_ok {
            return Err(bad(format!(
                "emitter {:?}: expected a positive volume or area",
                self.emitter
            )));
        }
        if !(self.active_length.is_finite() && self.active_length > 0.0) {
            return Err(bad(format!(
                "active length {}; expected a positive number of cm",
                self.active_length
            )));
        }
        Ok(())
    }
}

impl SeedModel {
    /// An emission point in the seed's frame (cm): uniform over the active surface (just
    /// outside it) or in the active volume.
    pub(crate) fn emission_point(&self, rng: &mut Rng) -> [f64; 3] {
        match &self.emitter {
            Emitter::CylinderSurface {
                r: core_r,
                half_length: core_h,
            } => {
                let (core_r, core_h) = (*core_r, *core_h);
                let lateral = 2.0 * std::f64::consts::PI * core_r * 2.0 * core_h;
                let ends = 2.0 * std::f64::consts::PI * core_r * core_r;
                if rng.uniform() * (lateral + ends) < lateral {
                    let phi = 2.0 * std::f64::consts::PI * rng.uniform();
                    let z = (2.0 * rng.uniform() - 1.0) * core_h;
                    [phi.cos() * (core_r + 1e-7), phi.sin() * (core_r + 1e-7), z]
                } else {
                    let rr = core_r * rng.uniform().sqrt();
                    let phi = 2.0 * std::f64::consts::PI * rng.uniform();
                    let s = if rng.uniform() < 0.5 { 1.0 } else { -1.0 };
                    [rr * phi.cos(), rr * phi.sin(), s * (core_h + 1e-7)]
                }
            }
            Emitter::Volume(pieces) => {
                let total: f64 = pieces.iter().map(Piece::volume).sum();
                let mut u = rng.uniform() * total;
                for p in pieces {
                    u -= p.volume();
                    if u <= 0.0 {
                        return p.sample(rng);
                    }
                }
                pieces[pieces.len() - 1].sample(rng)
            }
        }
    }
}

/// A world of analytic solids for [`walk`]: the medium at a point (an index into the physics'
/// materials, or `None` where photons leave the world) and the distance to the next surface.
pub(crate) trait World {
    /// The medium at `p`.
    fn medium(&self, p: &[f64; 3]) -> Option<usize>;
    /// The distance along `d` from `p` to the next surface where the medium may change.
    fn next_surface(&self, p: &[f64; 3], d: &[f64; 3]) -> f64;
}

/// Follows a photon and the photons it gives rise to (fluorescence, annihilation) through
/// `world` until each is absorbed, falls below the cutoff or leaves the world.
/// `segment(medium, start, direction, length, energy)` receives every straight flight,
/// `leave(position, direction, energy)` every photon that leaves, and the function returns the
/// energy absorbed (eV). Media of zero density are crossed without interaction.
pub(crate) fn walk(
    world: &impl World,
    physics: &PhotonPhysics,
    densities: &[f64],
    start: ([f64; 3], [f64; 3], f64),
    rng: &mut Rng,
    mut segment: impl FnMut(usize, &[f64; 3], &[f64; 3], f64, f64),
    mut leave: impl FnMut([f64; 3], [f64; 3], f64),
) -> f64 {
    let mut absorbed = 0.0;
    let mut stack = vec![start];
    while let Some((mut p, mut d, mut e)) = stack.pop() {
        let mut medium = world.medium(&p);
        loop {
            let Some(m) = medium else {
                leave(p, d, e);
                break;
            };
            if e < physics.options.photon_cutoff_ev {
                absorbed += e;
                break;
            }
            let mu = physics.mu_rho(m, e) * densities[m];
            let dist = if mu > 0.0 {
                -rng.uniform_open().ln() / mu
            } else {
                f64::INFINITY
            };
            let to_boundary = world.next_surface(&p, &d);
            if dist >= to_boundary {
                if !to_boundary.is_finite() {
                    // Nothing ahead in a medium without interactions: the photon leaves.
                    leave(p, d, e);
                    break;
                }
                segment(m, &p, &d, to_boundary, e);
                for a in 0..3 {
                    p[a] += (to_boundary + 1e-9) * d[a];
                }
                medium = world.medium(&p);
                continue;
            }
            segment(m, &p, &d, dist, e);
            for a in 0..3 {
                p[a] += dist * d[a];
            }
            match physics.interact(m, e, rng) {
                Interaction::Scatter {
                    cos,
                    energy,
                    deposit,
                } => {
                    absorbed += deposit;
                    d = rotate(&d, cos, rng);
                    e = energy;
                }
                Interaction::Absorb {
                    deposit,
                    fluorescence,
                } => {
                    absorbed += deposit;
                    for f in fluorescence.into_iter().flatten() {
                        stack.push((p, isotropic(rng), f));
                    }
                    break;
                }
                Interaction::Pair { deposit } => {
                    absorbed += deposit;
                    let dd = isotropic(rng);
                    for s in [1.0, -1.0] {
                        stack.push((p, [s * dd[0], s * dd[1], s * dd[2]], ELECTRON_MASS_EV));
                    }
                    break;
                }
            }
        }
    }
    absorbed
}

/// A seed model ready for transport inside its capsule: the voxel transport hands every photon
/// that leaves the capsule to the phantom (a phase space on the capsule's surface, as egs_brachy
/// can do), so that the seed's tenths of a millimetre need no voxels. A photon that leaves into
/// a dimple of the capsule (surrounding medium inside the seed's outline) is handed over there.
#[derive(Debug, Clone)]
pub struct CapsuleTransport {
    model: SeedModel,
    physics: PhotonPhysics,
    densities: Vec<f64>,
}

/// What became of one decay photon inside the capsule.
#[derive(Debug, Default)]
pub(crate) struct CapsuleOutcome {
    /// Energy absorbed inside the seed, eV.
    pub absorbed: f64,
}

impl World for SeedModel {
    fn medium(&self, p: &[f64; 3]) -> Option<usize> {
        self.medium_at(p)
    }

    fn next_surface(&self, p: &[f64; 3], d: &[f64; 3]) -> f64 {
        SeedModel::next_surface(self, p, d)
    }
}

impl CapsuleTransport {
    /// Prepares `model` with `options` (the phantom's physics options).
    pub fn new(model: SeedModel, options: PhysicsOptions) -> Self {
        let physics = PhotonPhysics::new(&model.materials, options);
        let densities = model.materials.iter().map(Material::density).collect();
        Self {
            model,
            physics,
            densities,
        }
    }

    /// The seed model.
    pub fn model(&self) -> &SeedModel {
        &self.model
    }

    /// Follows a photon of energy `e` emitted in the seed's active part until it, and the photons
    /// it gives rise to, are absorbed in the seed or leave the capsule; `leave(position cm,
    /// direction, energy)` receives each photon that leaves, in the seed's frame.
    pub(crate) fn emit(
        &self,
        e: f64,
        rng: &mut Rng,
        leave: impl FnMut([f64; 3], [f64; 3], f64),
    ) -> CapsuleOutcome {
        let start = (self.model.emission_point(rng), isotropic(rng), e);
        let absorbed = walk(
            &self.model,
            &self.physics,
            &self.densities,
            start,
            rng,
            |_, _, _, _, _| {},
            leave,
        );
        CapsuleOutcome { absorbed }
    }
}

/// The half-height over distance of the aperture over which the air-kerma strength is averaged:
/// that of NIST's wide-angle free-air chamber (WAFAC), an 8 cm aperture at 30 cm from the seed
/// (Seltzer et al., J Res NIST 108:337, 2003), which defines the U of every consensus dataset, and
/// of the CLRP "WAFAC voxel" (2.66 cm at 10 cm). The kerma is averaged over a band of that
/// height on a cylinder around the seed, with track lengths (a photon at elevation e crosses it
/// along 1/cos e). It matters for seeds with activity on end faces, whose photons leave near the
/// transverse plane through the thin active layer at grazing angles (TheraSeed 200: 4 % between
/// this aperture and a +-3 degree band).
pub const WAFAC_TAN: f64 = 4.0 / 30.0;

/// What surrounds the seed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Surroundings {
    /// Vacuum (air-kerma strength "in vacuo").
    Vacuum,
    /// A water sphere of this radius (cm) centred on the seed.
    WaterSphere(f64),
}

/// TG-43 results per emitted photon.
#[derive(Debug, Clone, PartialEq)]
pub struct Tg43 {
    /// Histories (emitted photons).
    pub histories: u64,
    /// Air-kerma strength per history, Gy cm^2 (collision kerma in air times distance squared, for
    /// photons above the cutoff leaving within the WAFAC aperture, [`WAFAC_TAN`]), in vacuum runs.
    pub air_kerma_strength: f64,
    /// Its relative standard uncertainty.
    pub air_kerma_strength_rel: f64,
    /// Dose on the transverse axis per history, Gy, at [`Tg43::radii`], in water runs.
    pub dose: Vec<f64>,
    /// Relative standard uncertainties of `dose`.
    pub dose_rel: Vec<f64>,
    /// The radii (cm).
    pub radii: Vec<f64>,
    /// The off-axis points (r cm, polar angle degrees) of [`tg43_polar`].
    pub polar: Vec<(f64, f64)>,
    /// Dose per history at `polar`, Gy.
    pub polar_dose: Vec<f64>,
    /// Relative standard uncertainties of `polar_dose`.
    pub polar_rel: Vec<f64>,
}

/// The TG-43 world: the seed, then water out to a sphere (or vacuum: air of zero density out to a
/// sphere just around the seed, beyond which photons leave).
struct Tg43World<'a> {
    seed: &'a SeedModel,
    /// Material index of the surrounding medium.
    outside: usize,
    radius: f64,
}

impl World for Tg43World<'_> {
    fn medium(&self, p: &[f64; 3]) -> Option<usize> {
        if self.seed.encloses(p) {
            return self.seed.medium_at(p).or(Some(self.outside));
        }
        (p[0] * p[0] + p[1] * p[1] + p[2] * p[2] < self.radius * self.radius)
            .then_some(self.outside)
    }

    fn next_surface(&self, p: &[f64; 3], d: &[f64; 3]) -> f64 {
        self.seed
            .next_surface(p, d)
            .min(sphere_exit(p, d, self.radius))
    }
}

/// Scoring cells around the seed axis: the annulus `lo <= rho <= hi` between the planes `z0` and
/// `z1`, with exact chord lengths. On the transverse axis the cell at radius r spans r (1 +- 0.04)
/// and |z| < 0.05 r, so that volume averaging of the 1/r^2 fall-off stays below 0.3 %; at a polar
/// angle theta the cell is centred on (r sin theta, r cos theta) with half-sizes 0.03 r (a disc of
/// radius 0.03 r on the axis).
pub(crate) struct Cells {
    /// (inner radius, outer radius, z0, z1).
    pub(crate) bounds: Vec<(f64, f64, f64, f64)>,
    pub(crate) volume: Vec<f64>,
}

impl Cells {
    /// Cells of these bounds: (inner radius, outer radius, z0, z1).
    pub(crate) fn from_bounds(bounds: Vec<(f64, f64, f64, f64)>) -> Self {
        let volume = bounds
            .iter()
            .map(|(a, b, z0, z1)| std::f64::consts::PI * (b * b - a * a) * (z1 - z0))
            .collect();
        Self { bounds, volume }
    }

    fn new(radii: &[f64], polar: &[(f64, f64)]) -> Self {
        let mut bounds: Vec<(f64, f64, f64, f64)> = radii
            .iter()
            .map(|&r| (r * 0.96, r * 1.04, -r * 0.05, r * 0.05))
            .collect();
        for &(r, theta_deg) in polar {
            let (rho, z) = (
                r * theta_deg.to_radians().sin(),
                r * theta_deg.to_radians().cos(),
            );
            let h = 0.03 * r;
            bounds.push(((rho - h).max(0.0), rho + h, z - h, z + h));
        }
        let volume = bounds
            .iter()
            .map(|(a, b, z0, z1)| std::f64::consts::PI * (b * b - a * a) * (z1 - z0))
            .collect();
        Self { bounds, volume }
    }

    /// Length of the segment p + t d, t in [0, len], inside each cell; calls `f(cell, length)`.
    pub(crate) fn chords(
        &self,
        p: &[f64; 3],
        d: &[f64; 3],
        len: f64,
        mut f: impl FnMut(usize, f64),
    ) {
        let a = d[0] * d[0] + d[1] * d[1];
        let b = 2.0 * (p[0] * d[0] + p[1] * d[1]);
        let c0 = p[0] * p[0] + p[1] * p[1];
        for (i, &(lo, hi, z0, z1)) in self.bounds.iter().enumerate() {
            // The part within the slab z0 < z < z1.
            let (mut t0, mut t1) = (0.0f64, len);
            if d[2].abs() < 1e-300 {
                if p[2] <= z0 || p[2] >= z1 {
                    continue;
                }
            } else {
                let (ta, tb) = ((z0 - p[2]) / d[2], (z1 - p[2]) / d[2]);
                t0 = t0.max(ta.min(tb));
                t1 = t1.min(ta.max(tb));
            }
            if t1 <= t0 {
                continue;
            }
            // Length within [t0, t1] where rho^2 <= r^2.
            let inside = |r: f64| -> f64 {
                if r <= 0.0 {
                    return 0.0;
                }
                if a < 1e-300 {
                    return if c0 <= r * r { t1 - t0 } else { 0.0 };
                }
                let disc = b * b - 4.0 * a * (c0 - r * r);
                if disc <= 0.0 {
                    return 0.0;
                }
                let s = disc.sqrt();
                let (r1, r2) = ((-b - s) / (2.0 * a), (-b + s) / (2.0 * a));
                (r2.min(t1) - r1.max(t0)).max(0.0)
            };
            let l = inside(hi) - inside(lo);
            if l > 0.0 {
                f(i, l);
            }
        }
    }
}

/// Runs `histories` photons of `spectrum` emitted in the seed's active part (uniformly, isotropic
/// directions), in `surroundings`, scoring dose on the transverse axis at `radii`. Photons below
/// `cutoff_ev` do not count for the air-kerma strength (TG-43: 5 keV).
pub fn tg43(
    seed: &SeedModel,
    spectrum: &Spectrum,
    surroundings: Surroundings,
    radii: &[f64],
    histories: u64,
    rng_seed: u64,
    cutoff_ev: f64,
) -> Result<Tg43> {
    tg43_polar(
        seed,
        spectrum,
        surroundings,
        radii,
        &[],
        histories,
        rng_seed,
        cutoff_ev,
    )
}

/// As [`tg43`], and also scores dose at the points (r cm, polar angle theta degrees from the seed
/// axis) of `polar`, for the 2D anisotropy function ([`Tg43::anisotropy`]).
#[allow(clippy::too_many_arguments)]
pub fn tg43_polar(
    seed: &SeedModel,
    spectrum: &Spectrum,
    surroundings: Surroundings,
    radii: &[f64],
    polar: &[(f64, f64)],
    histories: u64,
    rng_seed: u64,
    cutoff_ev: f64,
) -> Result<Tg43> {
    if histories == 0 {
        return Err(Error::Source {
            message: "no histories".into(),
        });
    }
    seed.check()?;
    if let Some(bad) = radii
        .iter()
        .chain(polar.iter().map(|p| &p.0))
        .find(|r| !(r.is_finite() && **r > 0.0))
    {
        return Err(Error::Source {
            message: format!("scoring radius {bad}; expected a positive number of cm"),
        });
    }
    if let Some(bad) = polar.iter().find(|p| !(0.0..=180.0).contains(&p.1)) {
        return Err(Error::Source {
            message: format!("polar angle {}; expected 0 to 180 degrees", bad.1),
        });
    }
    let n_mat = seed.materials.len();
    let mut mats: Vec<Material> = seed.materials.clone();
    mats.push(Material::builtin("water")?);
    mats.push(Material::builtin("air")?);
    let physics = PhotonPhysics::new(&mats, PhysicsOptions::default());
    let mut densities: Vec<f64> = seed.materials.iter().map(Material::density).collect();
    let (water, air) = (n_mat, n_mat + 1);
    densities.push(1.0);
    densities.push(0.0); // vacuum: the air is there only for its mu_en
    let (_, z0, z1) = seed.bounds();
    let (r_b, ..) = seed.bounds();
    let around = 2.0 * (r_b.max(z0.abs()).max(z1.abs()));
    let world = match surroundings {
        Surroundings::Vacuum => Tg43World {
            seed,
            outside: air,
            radius: around,
        },
        Surroundings::WaterSphere(r) => Tg43World {
            seed,
            outside: water,
            radius: r,
        },
    };
    let vacuum = matches!(surroundings, Surroundings::Vacuum);
    let cells = Cells::new(radii, polar);
    // Per-history sums (history-by-history variance), in order.
    let n_c = cells.bounds.len();
    let mut dose_sum = vec![0.0f64; n_c];
    let mut dose_sum2 = vec![0.0f64; n_c];
    let (mut sk_sum, mut sk_sum2) = (0.0f64, 0.0f64);
    let mut rng = Rng::for_batch(rng_seed, 0);
    let mut hist_dose = vec![0.0f64; n_c];
    for _ in 0..histories {
        hist_dose.iter_mut().for_each(|x| *x = 0.0);
        let mut hist_sk = 0.0;
        let pos = seed.emission_point(&mut rng);
        let start = (pos, isotropic(&mut rng), spectrum.sample(&mut rng));
        walk(
            &world,
            &physics,
            &densities,
            start,
            &mut rng,
            |m, p, d, len, e| {
                if m == water {
                    let k = e * physics.mu_en_rho(water, e);
                    cells.chords(p, d, len, |i, l| hist_dose[i] += l * k / cells.volume[i]);
                }
            },
            |_, d, e| {
                // Left the world; in vacuum, air-kerma strength if within the WAFAC's aperture.
                let rho = (d[0] * d[0] + d[1] * d[1]).sqrt();
                if vacuum && d[2].abs() < WAFAC_TAN * rho && e >= cutoff_ev {
                    hist_sk += e * physics.mu_en_rho(air, e) / rho;
                }
            },
        );
        for (i, v) in hist_dose.iter().enumerate() {
            dose_sum[i] += v;
            dose_sum2[i] += v * v;
        }
        sk_sum += hist_sk;
        sk_sum2 += hist_sk * hist_sk;
    }
    let n = histories as f64;
    let rel = |s: f64, s2: f64| {
        let m = s / n;
        if m <= 0.0 || n < 2.0 {
            return 0.0;
        }
        ((s2 / n - m * m).max(0.0) / (n - 1.0)).sqrt() / m
    };
    let omega = 4.0 * std::f64::consts::PI * WAFAC_TAN;
    let dose: Vec<f64> = dose_sum.iter().map(|s| s / n * EV_PER_G_TO_GY).collect();
    let dose_rel: Vec<f64> = dose_sum
        .iter()
        .zip(&dose_sum2)
        .map(|(s, s2)| rel(*s, *s2))
        .collect();
    let k = radii.len();
    Ok(Tg43 {
        histories,
        air_kerma_strength: sk_sum / n / omega * EV_PER_G_TO_GY,
        air_kerma_strength_rel: rel(sk_sum, sk_sum2),
        dose: dose[..k].to_vec(),
        dose_rel: dose_rel[..k].to_vec(),
        radii: radii.to_vec(),
        polar: polar.to_vec(),
        polar_dose: dose[k..].to_vec(),
        polar_rel: dose_rel[k..].to_vec(),
    })
}

impl Tg43 {
    /// The dose-rate constant (cGy h^-1 U^-1, numerically dose per history over air-kerma strength
    /// per history, 1/cm^2) at radius `radii[r0]` of this water run, with the air-kerma strength of
    /// a vacuum run; and its relative standard uncertainty.
    pub fn dose_rate_constant(&self, vacuum: &Tg43, r0: usize) -> (f64, f64) {
        let lambda = self.dose[r0] / vacuum.air_kerma_strength;
        let rel = (self.dose_rel[r0].powi(2) + vacuum.air_kerma_strength_rel.powi(2)).sqrt();
        (lambda, rel)
    }

    /// The radial dose function g_L(r) at every radius, relative to `radii[r0]` (1 cm), with the
    /// line-source geometry function of active length `length`; and relative uncertainties.
    pub fn radial_dose_function(&self, r0: usize, length: f64) -> Vec<(f64, f64)> {
        let g0 = line_geometry_transverse(self.radii[r0], length);
        self.radii
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let g = self.dose[i] / self.dose[r0] * g0 / line_geometry_transverse(*r, length);
                let rel = (self.dose_rel[i].powi(2) + self.dose_rel[r0].powi(2)).sqrt();
                (g, rel)
            })
            .collect()
    }
}

impl Tg43 {
    /// The 2D anisotropy function F(r, theta) at every point of [`Tg43::polar`], with the
    /// transverse-axis dose at the same r taken from `transverse` (a [`tg43_polar`] run whose
    /// `polar` holds (r, 90) for every r used; this run itself when it does) and the line-source
    /// geometry function of active length `length`; and relative uncertainties.
    /// `None` where the transverse point is missing.
    pub fn anisotropy(&self, length: f64) -> Vec<Option<(f64, f64)>> {
        self.polar
            .iter()
            .enumerate()
            .map(|(i, &(r, theta))| {
                let j = self
                    .polar
                    .iter()
                    .position(|&(r2, t2)| r2 == r && t2 == 90.0)?;
                let f = self.polar_dose[i] / self.polar_dose[j] * line_geometry(r, 90.0, length)
                    / line_geometry(r, theta, length);
                let rel = if i == j {
                    0.0
                } else {
                    (self.polar_rel[i].powi(2) + self.polar_rel[j].powi(2)).sqrt()
                };
                Some((f, rel))
            })
            .collect()
    }
}

/// The TG-43 line-source geometry function G_L(r, theta) (cm^-2): beta / (L r sin theta), beta the
/// angle the source's ends subtend; (r^2 - L^2/4)^-1 on the axis.
pub fn line_geometry(r: f64, theta_deg: f64, length: f64) -> f64 {
    let th = theta_deg.to_radians();
    let (z, rho) = (r * th.cos(), r * th.sin());
    if rho < 1e-12 * r {
        return 1.0 / (r * r - length * length / 4.0);
    }
    let h = length / 2.0;
    let beta = ((z + h) / rho).atan() - ((z - h) / rho).atan();
    beta / (length * rho)
}

/// The TG-43 line-source geometry function on the transverse axis, G_L(r, 90 deg) = beta / (L r),
/// beta = 2 atan(L / 2r).
pub fn line_geometry_transverse(r: f64, length: f64) -> f64 {
    2.0 * (length / (2.0 * r)).atan() / (length * r)
}
