//! Brachytherapy seeds in analytic geometry and the AAPM TG-43 quantities (Rivard et al., Med Phys
//! 31:633, 2004): air-kerma strength in vacuum, dose on the transverse axis in a water sphere,
//! dose-rate constant and radial dose function.
//!
//! The seed is transported exactly in its own geometry (coaxial cylinders: no voxels, since its
//! parts are tenths of a millimetre), with the same physics as the voxel transport; outside the
//! capsule the photon is in a homogeneous water sphere (or in vacuum, for the air-kerma
//! strength), where dose on the transverse axis is scored by the track-length kerma estimator in
//! thin rings around the seed axis, with exact chord lengths.

use super::spectrum::Spectrum;
use crate::data::ELECTRON_MASS_EV;
use crate::data::EV_PER_G_TO_GY;
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

/// A seed of coaxial cylinders along z, centred at the origin (cm): a radioactive core (the
/// activity on its surface), a gas gap, and a capsule with flat end walls.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedModel {
    /// Core radius and half-length.
    pub core: (f64, f64),
    /// Capsule inner radius and inner half-length.
    pub capsule_inner: (f64, f64),
    /// Capsule outer radius and outer half-length.
    pub capsule_outer: (f64, f64),
    /// Active length L for the line-source geometry function.
    pub active_length: f64,
    /// Materials: core, gap, capsule.
    pub materials: [Material; 3],
}

impl SeedModel {
    /// The Oncura/GE model 6711 as described for TG-43U1: titanium capsule 4.5 mm long, 0.8 mm outer
    /// diameter, 0.05 mm wall (the welded ends modelled as flat 0.05 mm walls), silver rod 3.0 mm long
    /// and 0.5 mm in diameter carrying the I-125 on its surface, air between; L = 3.0 mm.
    pub fn model_6711() -> Result<Self> {
        Ok(Self {
            core: (0.025, 0.15),
            capsule_inner: (0.035, 0.22),
            capsule_outer: (0.04, 0.225),
            active_length: 0.3,
            materials: [
                Material::builtin("silver")?,
                Material::builtin("air")?,
                Material::builtin("titanium")?,
            ],
        })
    }
}

impl SeedModel {
    /// An emission point, uniform over the core's surface (just outside it), in the seed's frame
    /// (cm, axis along z).
    pub(crate) fn emission_point(&self, rng: &mut Rng) -> [f64; 3] {
        let (core_r, core_h) = self.core;
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
}

/// A seed model ready for transport inside its capsule: the voxel transport hands every photon
/// that leaves the capsule to the phantom (a phase space on the capsule's surface, as egs_brachy
/// can do), so that the seed's tenths of a millimetre need no voxels.
#[derive(Debug, Clone)]
pub struct CapsuleTransport {
    model: SeedModel,
    physics: PhotonPhysics,
    densities: [f64; 3],
}

/// What became of one decay photon inside the capsule.
#[derive(Debug, Default)]
pub(crate) struct CapsuleOutcome {
    /// Energy absorbed inside the seed, eV.
    pub absorbed: f64,
}

impl CapsuleTransport {
    /// Prepares `model` with `options` (the phantom's physics options).
    pub fn new(model: SeedModel, options: PhysicsOptions) -> Self {
        let physics = PhotonPhysics::new(&model.materials, options);
        let densities = [
            model.materials[0].density(),
            model.materials[1].density(),
            model.materials[2].density(),
        ];
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

    /// Follows a photon of energy `e` emitted at the core's surface until it, and the photons it
    /// gives rise to, are absorbed in the seed or leave the capsule; `leave(position cm, direction,
    /// energy)` receives each photon that leaves, in the seed's frame.
    pub(crate) fn emit(
        &self,
        e: f64,
        rng: &mut Rng,
        mut leave: impl FnMut([f64; 3], [f64; 3], f64),
    ) -> CapsuleOutcome {
        let geo = Geometry {
            seed: &self.model,
            outer_radius: 0.0,
        };
        let mut out = CapsuleOutcome::default();
        let mut stack = vec![(self.model.emission_point(rng), isotropic(rng), e)];
        while let Some((mut p, mut d, mut e)) = stack.pop() {
            let mut region = geo.region(&p);
            loop {
                if region == 3 {
                    leave(p, d, e);
                    break;
                }
                if e < self.physics.options.photon_cutoff_ev {
                    out.absorbed += e;
                    break;
                }
                let mu = self.physics.mu_rho(region, e) * self.densities[region];
                let dist = -rng.uniform_open().ln() / mu;
                let to_boundary = geo.boundary(&p, &d, region);
                if dist >= to_boundary {
                    for a in 0..3 {
                        p[a] += (to_boundary + 1e-9) * d[a];
                    }
                    region = geo.region(&p);
                    continue;
                }
                for a in 0..3 {
                    p[a] += dist * d[a];
                }
                match self.physics.interact(region, e, rng) {
                    Interaction::Scatter {
                        cos,
                        energy,
                        deposit,
                    } => {
                        out.absorbed += deposit;
                        d = rotate(&d, cos, rng);
                        e = energy;
                    }
                    Interaction::Absorb {
                        deposit,
                        fluorescence,
                    } => {
                        out.absorbed += deposit;
                        for f in fluorescence.into_iter().flatten() {
                            stack.push((p, isotropic(rng), f));
                        }
                        break;
                    }
                    Interaction::Pair { deposit } => {
                        out.absorbed += deposit;
                        let dd = isotropic(rng);
                        for s in [1.0, -1.0] {
                            stack.push((p, [s * dd[0], s * dd[1], s * dd[2]], ELECTRON_MASS_EV));
                        }
                        break;
                    }
                }
            }
        }
        out
    }
}

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
    /// photons above the cutoff leaving within the transverse band), in vacuum runs.
    pub air_kerma_strength: f64,
    /// Its relative standard uncertainty.
    pub air_kerma_strength_rel: f64,
    /// Dose on the transverse axis per history, Gy, at [`Tg43::radii`], in water runs.
    pub dose: Vec<f64>,
    /// Relative standard uncertainties of `dose`.
    pub dose_rel: Vec<f64>,
    /// The radii (cm).
    pub radii: Vec<f64>,
}

/// Regions: 0 core, 1 gap, 2 capsule, 3 outside.
struct Geometry<'a> {
    seed: &'a SeedModel,
    outer_radius: f64,
}

/// Distance along `d` from `p` to the surface of the closed cylinder (radius r, half-length h), the
/// smallest beyond `eps`, if any.
fn cylinder_hit(p: &[f64; 3], d: &[f64; 3], r: f64, h: f64, eps: f64) -> Option<f64> {
    let mut best: Option<f64> = None;
    let mut take = |t: f64| {
        if t > eps && best.is_none_or(|b| t < b) {
            best = Some(t);
        }
    };
    let a = d[0] * d[0] + d[1] * d[1];
    if a > 1e-300 {
        let b = p[0] * d[0] + p[1] * d[1];
        let c = p[0] * p[0] + p[1] * p[1] - r * r;
        let disc = b * b - a * c;
        if disc >= 0.0 {
            let s = disc.sqrt();
            for t in [(-b - s) / a, (-b + s) / a] {
                if (p[2] + t * d[2]).abs() <= h {
                    take(t);
                }
            }
        }
    }
    if d[2].abs() > 1e-300 {
        for z in [h, -h] {
            let t = (z - p[2]) / d[2];
            let (x, y) = (p[0] + t * d[0], p[1] + t * d[1]);
            if x * x + y * y <= r * r {
                take(t);
            }
        }
    }
    best
}

fn sphere_exit(p: &[f64; 3], d: &[f64; 3], radius: f64) -> f64 {
    let b = p[0] * d[0] + p[1] * d[1] + p[2] * d[2];
    let c = p[0] * p[0] + p[1] * p[1] + p[2] * p[2] - radius * radius;
    let disc = (b * b - c).max(0.0);
    (-b + disc.sqrt()).max(0.0)
}

impl Geometry<'_> {
    fn inside(p: &[f64; 3], (r, h): (f64, f64)) -> bool {
        p[0] * p[0] + p[1] * p[1] <= r * r && p[2].abs() <= h
    }

    fn region(&self, p: &[f64; 3]) -> usize {
        if Self::inside(p, self.seed.core) {
            0
        } else if Self::inside(p, self.seed.capsule_inner) {
            1
        } else if Self::inside(p, self.seed.capsule_outer) {
            2
        } else {
            3
        }
    }

    /// Distance to the next surface from region `region`.
    fn boundary(&self, p: &[f64; 3], d: &[f64; 3], region: usize) -> f64 {
        let s = self.seed;
        let eps = 1e-9;
        let cyl = |c: (f64, f64)| cylinder_hit(p, d, c.0, c.1, eps).unwrap_or(f64::INFINITY);
        match region {
            0 => cyl(s.core),
            1 => cyl(s.core).min(cyl(s.capsule_inner)),
            2 => cyl(s.capsule_inner).min(cyl(s.capsule_outer)),
            _ => cyl(s.capsule_outer).min(sphere_exit(p, d, self.outer_radius)),
        }
    }
}

/// Ring tally on the transverse plane: annuli around the z axis, r (1 +- 0.04) wide and
/// |z| < 0.05 r high, so that volume averaging of the 1/r^2 fall-off stays below 0.3 % at every
/// radius while the rings grow with r.
struct Rings {
    /// (inner radius, outer radius, half height).
    bounds: Vec<(f64, f64, f64)>,
    volume: Vec<f64>,
}

impl Rings {
    fn new(radii: &[f64]) -> Self {
        let bounds: Vec<(f64, f64, f64)> = radii
            .iter()
            .map(|&r| (r * 0.96, r * 1.04, r * 0.05))
            .collect();
        let volume = bounds
            .iter()
            .map(|(a, b, h)| std::f64::consts::PI * (b * b - a * a) * 2.0 * h)
            .collect();
        Self { bounds, volume }
    }

    /// Length of the segment p + t d, t in [0, len], inside each ring; calls `f(ring, length)`.
    fn chords(&self, p: &[f64; 3], d: &[f64; 3], len: f64, mut f: impl FnMut(usize, f64)) {
        let a = d[0] * d[0] + d[1] * d[1];
        let b = 2.0 * (p[0] * d[0] + p[1] * d[1]);
        let c0 = p[0] * p[0] + p[1] * p[1];
        for (i, &(lo, hi, h)) in self.bounds.iter().enumerate() {
            // The part within the slab |z| < h.
            let (mut t0, mut t1) = (0.0f64, len);
            if d[2].abs() < 1e-300 {
                if p[2].abs() >= h {
                    continue;
                }
            } else {
                let (ta, tb) = ((-h - p[2]) / d[2], (h - p[2]) / d[2]);
                t0 = t0.max(ta.min(tb));
                t1 = t1.min(ta.max(tb));
            }
            if t1 <= t0 {
                continue;
            }
            // Length within [t0, t1] where rho^2 <= r^2.
            let inside = |r: f64| -> f64 {
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

/// Runs `histories` photons of `spectrum` emitted from the surface of the seed's core (uniformly
/// over its area, isotropic directions), in `surroundings`. Photons below `cutoff_ev` do not count
/// for the air-kerma strength (TG-43: 5 keV).
pub fn tg43(
    seed: &SeedModel,
    spectrum: &Spectrum,
    surroundings: Surroundings,
    radii: &[f64],
    histories: u64,
    rng_seed: u64,
    cutoff_ev: f64,
) -> Result<Tg43> {
    if histories == 0 {
        return Err(Error::Source {
            message: "no histories".into(),
        });
    }
    let water = Material::builtin("water")?;
    let air = Material::builtin("air")?;
    let mut mats: Vec<Material> = seed.materials.to_vec();
    mats.push(water);
    mats.push(air);
    let physics = PhotonPhysics::new(&mats, PhysicsOptions::default());
    let outer = match surroundings {
        Surroundings::Vacuum => 0.0,
        Surroundings::WaterSphere(r) => r,
    };
    let geo = Geometry {
        seed,
        outer_radius: outer,
    };
    let rings = Rings::new(radii);
    let densities = [
        seed.materials[0].density(),
        seed.materials[1].density(),
        seed.materials[2].density(),
        1.0,
    ];
    let band = 0.05; // |cos theta| < band: solid angle 4 pi band
    // Per-history sums (history-by-history variance), batch by batch in order.
    let n_r = radii.len();
    let mut dose_sum = vec![0.0f64; n_r];
    let mut dose_sum2 = vec![0.0f64; n_r];
    let (mut sk_sum, mut sk_sum2) = (0.0f64, 0.0f64);
    let mut rng = Rng::for_batch(rng_seed, 0);
    let mut hist_dose = vec![0.0f64; n_r];
    for _ in 0..histories {
        hist_dose.iter_mut().for_each(|x| *x = 0.0);
        let mut hist_sk = 0.0;
        let pos = seed.emission_point(&mut rng);
        let mut stack = vec![(pos, isotropic(&mut rng), spectrum.sample(&mut rng))];
        while let Some((mut p, mut d, mut e)) = stack.pop() {
            let mut region = geo.region(&p);
            loop {
                if e < physics.options.photon_cutoff_ev {
                    break;
                }
                if region == 3 && matches!(surroundings, Surroundings::Vacuum) {
                    // Left the capsule into vacuum: air-kerma strength if in the transverse band.
                    if d[2].abs() < band && e >= cutoff_ev {
                        hist_sk += e * physics.mu_en_rho(4, e);
                    }
                    break;
                }
                let m = region; // material index: 0 core, 1 gap, 2 capsule, 3 water
                let mu = physics.mu_rho(m, e) * densities[m];
                let dist = -rng.uniform_open().ln() / mu;
                let to_boundary = geo.boundary(&p, &d, region);
                let step = dist.min(to_boundary);
                if region == 3 {
                    let k = e * physics.mu_en_rho(3, e);
                    rings.chords(&p, &d, step, |i, l| hist_dose[i] += l * k / rings.volume[i]);
                }
                for a in 0..3 {
                    p[a] += step * d[a];
                }
                if dist >= to_boundary {
                    // Nudge across the surface and find the new region.
                    for a in 0..3 {
                        p[a] += 1e-9 * d[a];
                    }
                    region = geo.region(&p);
                    if region == 3 && matches!(surroundings, Surroundings::WaterSphere(_)) {
                        let r2 = p[0] * p[0] + p[1] * p[1] + p[2] * p[2];
                        if r2 >= outer * outer {
                            break;
                        }
                    }
                    continue;
                }
                match physics.interact(m, e, &mut rng) {
                    Interaction::Scatter { cos, energy, .. } => {
                        d = rotate(&d, cos, &mut rng);
                        e = energy;
                    }
                    Interaction::Absorb { fluorescence, .. } => {
                        for f in fluorescence.into_iter().flatten() {
                            stack.push((p, isotropic(&mut rng), f));
                        }
                        break;
                    }
                    Interaction::Pair { .. } => {
                        let dd = isotropic(&mut rng);
                        for s in [1.0, -1.0] {
                            stack.push((p, [s * dd[0], s * dd[1], s * dd[2]], ELECTRON_MASS_EV));
                        }
                        break;
                    }
                }
            }
        }
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
    let omega = 4.0 * std::f64::consts::PI * band;
    Ok(Tg43 {
        histories,
        air_kerma_strength: sk_sum / n / omega * EV_PER_G_TO_GY,
        air_kerma_strength_rel: rel(sk_sum, sk_sum2),
        dose: dose_sum.iter().map(|s| s / n * EV_PER_G_TO_GY).collect(),
        dose_rel: dose_sum
            .iter()
            .zip(&dose_sum2)
            .map(|(s, s2)| rel(*s, *s2))
            .collect(),
        radii: radii.to_vec(),
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

/// The TG-43 line-source geometry function on the transverse axis, G_L(r, 90 deg) = beta / (L r),
/// beta = 2 atan(L / 2r).
pub fn line_geometry_transverse(r: f64, length: f64) -> f64 {
    2.0 * (length / (2.0 * r)).atan() / (length * r)
}
