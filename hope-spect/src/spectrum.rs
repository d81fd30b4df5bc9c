//! The energy spectrum a camera records from a point source in a water cylinder: analog photon
//! transport in the water (Compton by Klein-Nishina, Rayleigh by Thomson, photoelectric
//! absorption; hope-mc's cross sections), the photons leaving it towards the detector traced
//! through the collimator's hole lattice (weighted by their transmission through the septa at
//! their energy), and their pulse heights in the NaI crystal. Scattered and primary photons are
//! tallied apart, so the scatter in any energy window is known, and the triple-energy-window
//! estimate (Ogawa et al., IEEE Trans Med Imaging 10:408, 1991) can be checked against it.
//!
//! Frame: the cylinder's axis along y, centred on the source at the origin; the collimator face
//! the plane z = `detector_distance_cm`, its holes along z; the detector
//! `detector_half_cm` wide on each side of the axis.

use hope_mc::data::Process;
use hope_mc::material::Material;
use hope_mc::rng::Rng;

use crate::collimator::Collimator;
use crate::crystal::{Crystal, Slab, klein_nishina, thomson, turn};
use crate::trace::Lattice;
use crate::{Error, Result};

/// What [`cylinder_spectrum`] simulates.
#[derive(Debug, Clone, PartialEq)]
pub struct CylinderSource {
    /// Photon energy, eV.
    pub energy_ev: f64,
    /// Radius of the water cylinder, cm (0: the source in air).
    pub radius_cm: f64,
    /// Half its length, cm.
    pub half_length_cm: f64,
    /// From the source (the axis) to the collimator face, cm.
    pub detector_distance_cm: f64,
    /// Half the detector's width and height, cm.
    pub detector_half_cm: [f64; 2],
    /// Photons emitted (isotropically).
    pub photons: u64,
    /// Seed.
    pub seed: u64,
    /// Width of the spectrum's bins, eV.
    pub bin_ev: f64,
    /// Photons reaching the collimator more than this angle (radians) off its axis are taken as
    /// stopped by the septa (choose as for [`crate::ResponseOptions::max_angle_rad`]).
    pub max_angle_rad: f64,
}

/// Detected counts per emitted photon, by pulse height.
#[derive(Debug, Clone, PartialEq)]
pub struct Spectrum {
    /// Bin width, eV; bin `k` covers `[k, k+1) * bin_ev`.
    pub bin_ev: f64,
    /// Photons that reached the detector without scattering in the water.
    pub primary: Vec<f64>,
    /// Photons scattered in the water at least once.
    pub scattered: Vec<f64>,
}

impl Spectrum {
    fn sum(v: &[f64], bin: f64, lo: f64, hi: f64) -> f64 {
        v.iter()
            .enumerate()
            .filter(|(k, _)| {
                let e = (*k as f64 + 0.5) * bin;
                (lo..hi).contains(&e)
            })
            .map(|(_, c)| c)
            .sum()
    }

    /// Primary and scattered counts in the window `[lo_ev, hi_ev)` (bin centres).
    pub fn window(&self, lo_ev: f64, hi_ev: f64) -> (f64, f64) {
        (
            Self::sum(&self.primary, self.bin_ev, lo_ev, hi_ev),
            Self::sum(&self.scattered, self.bin_ev, lo_ev, hi_ev),
        )
    }

    /// The triple-energy-window estimate of the scatter in the photopeak window `[lo, hi)`,
    /// from two windows of width `side_ev` just below and above it:
    /// `(C_low / w_low + C_up / w_up) * w_peak / 2`.
    pub fn tew_scatter(&self, lo_ev: f64, hi_ev: f64, side_ev: f64) -> f64 {
        let total = |a: f64, b: f64| {
            let (p, s) = self.window(a, b);
            p + s
        };
        let low = total(lo_ev - side_ev, lo_ev) / side_ev;
        let up = total(hi_ev, hi_ev + side_ev) / side_ev;
        (low + up) * (hi_ev - lo_ev) / 2.0
    }
}

/// Simulates the spectrum (see the module docs).
pub fn cylinder_spectrum(
    collimator: &Collimator,
    crystal: &Crystal,
    o: &CylinderSource,
) -> Result<Spectrum> {
    crate::error::check_ranges(&[
        ("energy_ev", o.energy_ev, 20_000.0, 1_022_000.0),
        ("radius_cm", o.radius_cm, 0.0, 50.0),
        ("half_length_cm", o.half_length_cm, 0.0, 100.0),
        ("detector_distance_cm", o.detector_distance_cm, 1.0, 200.0),
        ("bin_ev", o.bin_ev, 100.0, 100_000.0),
        ("max_angle_rad", o.max_angle_rad, 0.001, 1.5),
    ])?;
    if o.detector_distance_cm <= o.radius_cm {
        return Err(Error::invalid(
            "detector_distance_cm",
            "the collimator face must be outside the cylinder",
        ));
    }
    if !o
        .detector_half_cm
        .iter()
        .all(|v| v.is_finite() && *v > 0.0 && *v <= 100.0)
    {
        return Err(Error::invalid("detector_half_cm", "expected 0 to 100 cm"));
    }
    if o.photons == 0 || o.photons > 1_000_000_000 {
        return Err(Error::invalid(
            "photons",
            format!("{}; expected 1 to 1e9", o.photons),
        ));
    }
    let water = Material::builtin("water")?;
    let lead = collimator.material().material()?;
    let cos_max = o.max_angle_rad.cos();
    let rho = water.density();
    let slab = Slab::new(crystal.thickness_cm)?;
    let lattice = Lattice::new(collimator);
    let bins = (1.2 * o.energy_ev / o.bin_ev).ceil() as usize + 1;
    let mut out = Spectrum {
        bin_ev: o.bin_ev,
        primary: vec![0.0; bins],
        scattered: vec![0.0; bins],
    };
    let (r2, h) = (o.radius_cm * o.radius_cm, o.half_length_cm);
    // The distance from p along u to the cylinder's surface (p inside).
    let exit = |p: [f64; 3], u: [f64; 3]| -> f64 {
        let a = u[0] * u[0] + u[2] * u[2];
        let side = if a > 1e-15 {
            let b = p[0] * u[0] + p[2] * u[2];
            let c = p[0] * p[0] + p[2] * p[2] - r2;
            (-b + (b * b - a * c).max(0.0).sqrt()) / a
        } else {
            f64::INFINITY
        };
        let end = if u[1] > 0.0 {
            (h - p[1]) / u[1]
        } else if u[1] < 0.0 {
            (-h - p[1]) / u[1]
        } else {
            f64::INFINITY
        };
        side.min(end).max(0.0)
    };
    let n = o.photons as f64;
    let (mut done, mut batch) = (0u64, 0u64);
    while done < o.photons {
        let mut rng = Rng::for_batch(o.seed, batch);
        let count = (1u64 << 14).min(o.photons - done);
        for _ in 0..count {
            let cos = 2.0 * rng.uniform() - 1.0;
            let mut u = turn(
                [0.0, 0.0, 1.0],
                cos,
                2.0 * std::f64::consts::PI * rng.uniform(),
            );
            let (mut p, mut e, mut scattered) = ([0.0f64; 3], o.energy_ev, false);
            let mut alive = true;
            for _ in 0..500 {
                let to_edge = if o.radius_cm > 0.0 && o.half_length_cm > 0.0 {
                    exit(p, u)
                } else {
                    0.0
                };
                let (coh, inc, pe) = (
                    water.mu_rho_process(Process::Coherent, e) * rho,
                    water.mu_rho_process(Process::Incoherent, e) * rho,
                    water.mu_rho_process(Process::Photoelectric, e) * rho,
                );
                let total = coh + inc + pe;
                let s = -rng.uniform_open().ln() / total;
                if s >= to_edge {
                    p = [
                        p[0] + u[0] * to_edge,
                        p[1] + u[1] * to_edge,
                        p[2] + u[2] * to_edge,
                    ];
                    break;
                }
                p = [p[0] + u[0] * s, p[1] + u[1] * s, p[2] + u[2] * s];
                let pick = rng.uniform() * total;
                if pick < pe {
                    alive = false;
                    break;
                }
                let c = if pick < pe + inc {
                    let (k, c) = klein_nishina(e, &mut rng);
                    e = k;
                    c
                } else {
                    thomson(&mut rng)
                };
                scattered = true;
                u = turn(u, c, 2.0 * std::f64::consts::PI * rng.uniform());
                if e < 20_000.0 {
                    alive = false;
                    break;
                }
            }
            if !alive || u[2] < cos_max {
                continue;
            }
            // To the collimator face, within the detector.
            let t = (o.detector_distance_cm - p[2]) / u[2];
            let (x, y) = (p[0] + u[0] * t, p[1] + u[1] * t);
            if x.abs() > o.detector_half_cm[0] || y.abs() > o.detector_half_cm[1] {
                continue;
            }
            let path = lattice.septa_path(x, y, u);
            let w = (-lead.mu_rho(e) * lead.density() * path).exp();
            if w < 1e-12 {
                continue;
            }
            let deposit = slab.follow(e, &mut rng);
            if deposit <= 0.0 {
                continue;
            }
            let height = crystal.blur(deposit, &mut rng);
            let bin = (height / o.bin_ev) as usize;
            if let Some(b) = if scattered {
                out.scattered.get_mut(bin)
            } else {
                out.primary.get_mut(bin)
            } {
                *b += w / n;
            }
        }
        done += count;
        batch += 1;
    }
    Ok(out)
}
