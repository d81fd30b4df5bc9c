//! The NaI(Tl) crystal: where photons deposit their energy, by Monte Carlo in a slab, and the
//! pulse height the camera records (Gaussian energy blur), for the photopeak efficiency of an
//! energy window and the spectrum of a source.
//!
//! Photons enter the slab's face at normal incidence (the collimator's holes admit a few degrees
//! only; photons that penetrate septa at large angles would see a longer path: not modelled yet) and are followed with hope-mc's cross sections (NIST XCOM): Compton scattering by the
//! Klein-Nishina distribution (free electrons; binding ignored), Rayleigh scattering by the
//! Thomson distribution, photoelectric absorption depositing the photon's energy except the
//! iodine K x-ray that escapes: a photoelectric absorption in iodine above its K edge leaves a K
//! vacancy with probability `1 - 1/J_K` (the edge's jump ratio) and a K x-ray with the K
//! fluorescence yield (hope-mc's xraylib data), which is followed to absorption or escape. The
//! energy resolution scales as `1/sqrt(E)` from its value at 140.5 keV.

use hope_mc::data::{Process, element};
use hope_mc::material::Material;
use hope_mc::rng::Rng;

use crate::{Error, Result};

/// A NaI(Tl) crystal.
#[derive(Debug, Clone, PartialEq)]
pub struct Crystal {
    /// Thickness, cm (3/8 inch = 0.9525 cm on most cameras).
    pub thickness_cm: f64,
    /// Energy resolution, FWHM as a fraction of the energy, at 140.5 keV (about 0.099).
    pub energy_fwhm_at_140: f64,
}

const E140: f64 = 140_511.0;

impl Crystal {
    /// A 3/8-inch NaI(Tl) crystal with 9.9 % energy resolution at 140.5 keV.
    pub fn nai_3_8_inch() -> Crystal {
        Crystal {
            thickness_cm: 0.9525,
            energy_fwhm_at_140: 0.099,
        }
    }

    pub(crate) fn check(&self) -> Result<()> {
        if !(self.thickness_cm.is_finite() && self.thickness_cm > 0.0 && self.thickness_cm <= 10.0)
        {
            return Err(Error::invalid(
                "thickness_cm",
                format!("{}; expected 0 < thickness <= 10 cm", self.thickness_cm),
            ));
        }
        if !(self.energy_fwhm_at_140.is_finite() && (0.0..1.0).contains(&self.energy_fwhm_at_140)) {
            return Err(Error::invalid(
                "energy_fwhm_at_140",
                format!("{}; expected 0 to 1", self.energy_fwhm_at_140),
            ));
        }
        Ok(())
    }

    /// The energy (eV) each of `photons` photons of `energy_ev` deposits, blurred by the energy
    /// resolution: the pulse heights. Depends on `seed` only.
    pub fn pulse_heights(&self, energy_ev: f64, photons: u64, seed: u64) -> Result<Vec<f64>> {
        self.check()?;
        check_energy(energy_ev)?;
        if photons > 10_000_000 {
            return Err(Error::invalid("photons", format!("{photons}; at most 1e7")));
        }
        let slab = Slab::new(self.thickness_cm)?;
        let mut out = Vec::with_capacity(photons as usize);
        const BATCH: u64 = 1 << 14;
        let mut batch = 0;
        while (out.len() as u64) < photons {
            let mut rng = Rng::for_batch(seed, batch);
            let n = BATCH.min(photons - out.len() as u64);
            for _ in 0..n {
                let deposit = slab.follow(energy_ev, &mut rng);
                out.push(if deposit > 0.0 {
                    self.blur(deposit, &mut rng)
                } else {
                    0.0
                });
            }
            batch += 1;
        }
        Ok(out)
    }

    /// The fraction of photons of `energy_ev` entering the crystal that are recorded in the
    /// window `[lo_ev, hi_ev]`, and its standard uncertainty.
    pub fn window_efficiency(
        &self,
        energy_ev: f64,
        lo_ev: f64,
        hi_ev: f64,
        photons: u64,
        seed: u64,
    ) -> Result<(f64, f64)> {
        self.check()?;
        check_energy(energy_ev)?;
        if photons == 0 || photons > 10_000_000_000 {
            return Err(Error::invalid(
                "photons",
                format!("{photons}; expected 1 to 1e10"),
            ));
        }
        let slab = Slab::new(self.thickness_cm)?;
        // Counted as they come: nothing stored per photon.
        let (mut k, mut done, mut batch) = (0u64, 0u64, 0u64);
        while done < photons {
            let mut rng = Rng::for_batch(seed, batch);
            let n = (1u64 << 14).min(photons - done);
            for _ in 0..n {
                let deposit = slab.follow(energy_ev, &mut rng);
                if deposit > 0.0 && (lo_ev..=hi_ev).contains(&self.blur(deposit, &mut rng)) {
                    k += 1;
                }
            }
            done += n;
            batch += 1;
        }
        let (k, n) = (k as f64, photons as f64);
        let p = k / n;
        Ok((p, (p * (1.0 - p) / n).sqrt()))
    }

    /// The standard deviation of the pulse height of a deposit of `deposit` eV.
    pub(crate) fn sigma_ev(&self, deposit: f64) -> f64 {
        let fwhm = self.energy_fwhm_at_140 * (E140 / deposit).sqrt() * deposit;
        fwhm / (8.0 * 2f64.ln()).sqrt()
    }

    pub(crate) fn blur(&self, deposit: f64, rng: &mut Rng) -> f64 {
        if self.energy_fwhm_at_140 == 0.0 {
            return deposit;
        }
        let sigma = self.sigma_ev(deposit);
        let r = (-2.0 * rng.uniform_open().ln()).sqrt();
        (deposit + sigma * r * (2.0 * std::f64::consts::PI * rng.uniform()).cos()).max(0.0)
    }
}

/// Photon energies the crystal model takes: 10 keV to the pair threshold (1.022 MeV), since pair
/// production is not modelled.
fn check_energy(energy_ev: f64) -> Result<()> {
    if !(energy_ev.is_finite() && (10_000.0..=1_022_000.0).contains(&energy_ev)) {
        return Err(Error::invalid(
            "energy_ev",
            format!("{energy_ev}; expected 10 keV to 1.022 MeV (no pair production)"),
        ));
    }
    Ok(())
}

/// The K shell of an element: its edge, the probability that a photoelectric absorption above
/// the edge emits a K x-ray (`(1 - 1/jump) * fluorescence yield`), and its lines (hope-mc's
/// relaxation data, from xraylib).
#[derive(Debug, Clone)]
pub(crate) struct KShell {
    pub(crate) edge: f64,
    pub(crate) probability: f64,
    /// (energy eV, cumulative probability).
    lines: Vec<(f64, f64)>,
}

impl KShell {
    pub(crate) fn of(z: u8) -> Result<KShell> {
        let k = element(z)
            .and_then(|e| e.edges.iter().find(|x| x.shell == "K"))
            .ok_or_else(|| {
                Error::invalid("crystal", format!("no K-edge data for Z = {z} in hope-mc"))
            })?;
        let mut cumulative = 0.0;
        let total: f64 = k.lines.iter().map(|l| f64::from(l.1)).sum();
        let lines = k
            .lines
            .iter()
            .map(|&(e, p)| {
                cumulative += f64::from(p) / total.max(f64::MIN_POSITIVE);
                (f64::from(e), cumulative)
            })
            .collect();
        Ok(KShell {
            edge: f64::from(k.energy),
            probability: (1.0 - 1.0 / f64::from(k.jump)) * f64::from(k.fluorescence_yield),
            lines,
        })
    }

    /// The energy of a K x-ray for the uniform number `r`.
    pub(crate) fn line(&self, r: f64) -> f64 {
        self.lines
            .iter()
            .find(|l| r <= l.1)
            .or(self.lines.last())
            .map_or(self.edge * 0.85, |l| l.0)
    }
}

/// NaI and the iodine K-shell data.
pub(crate) struct Slab {
    thickness: f64,
    nai: Material,
    /// Mass fraction of iodine.
    iodine_fraction: f64,
    iodine: Material,
    /// Iodine's K shell.
    k: KShell,
}

impl Slab {
    pub(crate) fn new(thickness: f64) -> Result<Slab> {
        // NaI: 3.667 g/cm^3; mass fractions from the atomic weights.
        let (na, i) = (
            element(11).map_or(22.99, |e| e.atomic_mass),
            element(53).map_or(126.904, |e| e.atomic_mass),
        );
        let iodine_fraction = i / (na + i);
        let nai = Material::new(
            "NaI",
            3.667,
            &[(11, 1.0 - iodine_fraction), (53, iodine_fraction)],
        )?;
        let iodine = Material::new("I", 4.93, &[(53, 1.0)])?;
        let k = KShell::of(53)?;
        Ok(Slab {
            thickness,
            nai,
            iodine_fraction,
            iodine,
            k,
        })
    }

    fn mu(&self, process: Process, e: f64) -> f64 {
        self.nai.mu_rho_process(process, e) * self.nai.density()
    }

    /// The energy one photon entering the face at normal incidence deposits, eV.
    pub(crate) fn follow(&self, energy: f64, rng: &mut Rng) -> f64 {
        let (mut e, mut z, mut u) = (energy, 0.0, [0.0, 0.0, 1.0f64]);
        let mut deposit = 0.0;
        for _ in 0..1_000 {
            let (coh, inc, pe) = (
                self.mu(Process::Coherent, e),
                self.mu(Process::Incoherent, e),
                self.mu(Process::Photoelectric, e),
            );
            let total = coh + inc + pe;
            z += -rng.uniform_open().ln() / total * u[2];
            if !(0.0..=self.thickness).contains(&z) {
                return deposit;
            }
            let pick = rng.uniform() * total;
            if pick < pe {
                deposit += e;
                // In iodine, above the K edge: a K x-ray, followed to absorption or escape.
                let in_iodine = self.iodine_fraction
                    * self.iodine.mu_rho_process(Process::Photoelectric, e)
                    / self.nai.mu_rho_process(Process::Photoelectric, e);
                if e > self.k.edge
                    && rng.uniform() < in_iodine
                    && rng.uniform() < self.k.probability
                {
                    let x = self.k.line(rng.uniform());
                    let cos = 2.0 * rng.uniform() - 1.0;
                    let mu_x = self.mu(Process::Photoelectric, x)
                        + self.mu(Process::Incoherent, x)
                        + self.mu(Process::Coherent, x);
                    let to_edge = if cos > 0.0 {
                        (self.thickness - z) / cos
                    } else if cos < 0.0 {
                        -z / cos
                    } else {
                        f64::INFINITY
                    };
                    if -rng.uniform_open().ln() / mu_x > to_edge {
                        deposit -= x;
                    }
                }
                return deposit;
            }
            let cos = if pick < pe + inc {
                let (k, cos) = klein_nishina(e, rng);
                deposit += e - k;
                e = k;
                cos
            } else {
                thomson(rng)
            };
            u = turn(u, cos, 2.0 * std::f64::consts::PI * rng.uniform());
            if e < 1_000.0 {
                return deposit + e;
            }
        }
        deposit
    }
}

/// A Compton scattering of a photon of energy `e` (eV) off a free electron, by Kahn's rejection
/// method on the Klein-Nishina cross section: the new energy and the cosine of the angle.
pub(crate) fn klein_nishina(e: f64, rng: &mut Rng) -> (f64, f64) {
    let k = e / hope_mc::data::ELECTRON_MASS_EV;
    loop {
        let (r1, r2, r3) = (rng.uniform(), rng.uniform(), rng.uniform());
        let x = if r1 <= (1.0 + 2.0 * k) / (9.0 + 2.0 * k) {
            let x = 1.0 + 2.0 * k * r2;
            if r3 > 4.0 * (1.0 / x - 1.0 / (x * x)) {
                continue;
            }
            x
        } else {
            let x = (1.0 + 2.0 * k) / (1.0 + 2.0 * k * r2);
            let cos = 1.0 - (x - 1.0) / k;
            if r3 > 0.5 * (cos * cos + 1.0 / x) {
                continue;
            }
            x
        };
        let cos = 1.0 - (x - 1.0) / k;
        return (e / x, cos.clamp(-1.0, 1.0));
    }
}

/// The cosine of a Thomson scattering angle (density (1 + cos^2)/2), by rejection.
pub(crate) fn thomson(rng: &mut Rng) -> f64 {
    loop {
        let c = 2.0 * rng.uniform() - 1.0;
        if 2.0 * rng.uniform() <= 1.0 + c * c {
            return c;
        }
    }
}

/// Direction `u` turned by the polar angle of cosine `cos` and the azimuth `phi`.
pub(crate) fn turn(u: [f64; 3], cos: f64, phi: f64) -> [f64; 3] {
    let sin = (1.0 - cos * cos).max(0.0).sqrt();
    let (cp, sp) = (phi.cos(), phi.sin());
    if u[2].abs() > 0.999_999 {
        let s = u[2].signum();
        return [sin * cp, sin * sp, s * cos];
    }
    let r = (1.0 - u[2] * u[2]).sqrt();
    [
        u[0] * cos + sin * (u[0] * u[2] * cp - u[1] * sp) / r,
        u[1] * cos + sin * (u[1] * u[2] * cp + u[0] * sp) / r,
        u[2] * cos - sin * cp * r,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kahn's sampling gives the Klein-Nishina mean energy after scattering at 140.5 keV,
    /// computed here by numerical integration of the cross section.
    #[test]
    fn compton_sampling_follows_klein_nishina() {
        let e = 140_511.0;
        let k = e / hope_mc::data::ELECTRON_MASS_EV;
        // d(sigma)/d(cos) is proportional to P^2 (P + 1/P - sin^2), P = 1/(1 + k(1 - cos)).
        let (mut num, mut den) = (0.0, 0.0);
        let n = 20_000;
        for i in 0..n {
            let c = -1.0 + (i as f64 + 0.5) * 2.0 / n as f64;
            let p = 1.0 / (1.0 + k * (1.0 - c));
            let w = p * p * (p + 1.0 / p - (1.0 - c * c));
            num += w * p * e;
            den += w;
        }
        let expected = num / den;
        let mut rng = Rng::for_batch(3, 0);
        let m = 400_000;
        let mean = (0..m).map(|_| klein_nishina(e, &mut rng).0).sum::<f64>() / m as f64;
        assert!(
            (mean / expected - 1.0).abs() < 0.001,
            "{mean} against {expected}"
        );
    }

    #[test]
    fn turned_directions_stay_unit_and_keep_the_angle() {
        let mut rng = Rng::for_batch(1, 0);
        for _ in 0..1000 {
            let u = turn(
                [0.0, 0.0, 1.0],
                2.0 * rng.uniform() - 1.0,
                6.0 * rng.uniform(),
            );
            let c = 2.0 * rng.uniform() - 1.0;
            let v = turn(u, c, 6.0 * rng.uniform());
            let norm = v.iter().map(|x| x * x).sum::<f64>();
            let dot = u.iter().zip(&v).map(|(a, b)| a * b).sum::<f64>();
            assert!((norm - 1.0).abs() < 1e-9 && (dot - c).abs() < 1e-9);
        }
    }
}
