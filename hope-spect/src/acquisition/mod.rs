//! Monte Carlo simulation of a SPECT acquisition: a radionuclide's photons emitted from an
//! activity volume, transported in a voxel phantom with hope-mc's photon physics (delta tracking;
//! photoelectric absorption, bound Compton scattering, Rayleigh scattering with form factors),
//! detected by a camera with a parallel-hole collimator and a NaI(Tl) crystal on a circular orbit,
//! counted in energy windows. Three ways to detect, giving the same expected projections for
//! what they all model ([`Method`]; unscattered penetration beyond the angular table's reach,
//! [`Acquisition::max_angle_deg`], only the explicit path follows):
//!
//! - [`Method::Explicit`]: the photons leaving the body are followed through the collimator's hole
//!   lattice (with [`Acquisition::collimator_scatter`]: interactions in the lead, so penetration,
//!   scatter and lead x-rays; without: their transmission through the septa as a weight) and in
//!   the crystal, whose pulse height picks the window;
//! - [`Method::AngularResponse`]: the photons leaving the body are scored with the angular response
//!   table (the transmission averaged over the lattice, tabulated by the same tracing), the table
//!   of scatter in the collimator (tabulated by the same transport) and the window probabilities
//!   (tabulated by the same crystal Monte Carlo): GATE's ARF;
//! - [`Method::ForcedDetection`] (the default): at the emission and at every interaction in the
//!   body, a photon is forced towards each view along the collimator's axis, weighted by the
//!   probability of leaving in that direction (isotropic emission; Compton and Rayleigh by
//!   `hope_mc::physics::ScatterDensities`, the densities the transport samples) and by its
//!   attenuation on the way out; where it lands is drawn from the angular response table (the
//!   collimator-detector response, penetration included), its windows from the window table. The
//!   attenuation and the density are taken along the axis rather than along the photon's slightly
//!   oblique path within the table's few degrees (as in convolution-based forced detection; de
//!   Jong et al., Phys Med Biol 46:621, 2001). Scatter in the collimator reaches the face from up
//!   to 60 degrees: for it a direction is drawn (an angle bin of the collimator's scatter table by
//!   its share, the azimuth uniform) and the density, energy and attenuation are taken along that
//!   direction, so that part is exact in expectation.
//!
//! Frame: see [`Body`]; view `v` at angle `theta = start + arc v / views` puts the collimator face
//! `radius_cm` from the axis on the side `(-sin theta, cos theta, 0)`; the detector's `u` axis is
//! `(cos theta, sin theta, 0)`, its rows along z (the frame of [`crate::Projector`]).
//!
//! Reproducibility: histories run in chunks of fixed size, each with its own random stream
//! (`Rng::for_batch(seed, chunk)`), summed in chunk order: the result depends on the seed only,
//! not on the number of threads.
//!
//! Not modelled: unscattered photons reaching the collimator more than the angular table's
//! largest angle off its axis (see [`Acquisition::max_angle_deg`]; explicit transport follows them
//! to 60 degrees), and scattered ones beyond 60 degrees; where a photon scattered in the
//! collimator is recorded (the angular-response and forced-detection paths take the point where
//! it reached the face, as GATE's ARF does); the angle of incidence on the crystal (normal
//! incidence); fluorescence in the body; decay during the acquisition; lines above 1.022 MeV (no
//! pair production; reported as dropped).

mod arf;
pub(crate) mod body;

pub use arf::Window;
pub use body::Body;

use hope_mc::Radionuclide;
use hope_mc::rng::Rng;

use arf::{Arf, ScatterTable, WindowTable};
use hope_mc::PhysicsOptions;
use hope_mc::physics::{Interaction, PhotonPhysics, ScatterDensities};

use crate::collimator::Collimator;
use crate::crystal::{Crystal, Slab, turn};
use crate::projections::Projections;
use crate::septa::Septa;
use crate::trace::Lattice;
use crate::{Error, Result};

/// How detection is simulated (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// Forced detection with the angular response table.
    #[default]
    ForcedDetection,
    /// Analog transport in the body, angular response table at the collimator.
    AngularResponse,
    /// Analog transport in the body, the collimator traced and the crystal followed.
    Explicit,
}

impl Method {
    /// The names the simulation file uses.
    pub const NAMES: [&'static str; 3] = ["forced-detection", "angular-response", "explicit"];

    /// A method by name.
    pub fn by_name(name: &str) -> Result<Method> {
        match name {
            "forced-detection" => Ok(Method::ForcedDetection),
            "angular-response" => Ok(Method::AngularResponse),
            "explicit" => Ok(Method::Explicit),
            _ => Err(Error::invalid(
                "method",
                format!("`{name}`; expected one of {}", Method::NAMES.join(", ")),
            )),
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Method::ForcedDetection => Method::NAMES[0],
            Method::AngularResponse => Method::NAMES[1],
            Method::Explicit => Method::NAMES[2],
        }
    }
}

/// The camera and the acquisition protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct Acquisition {
    /// Views over the arc.
    pub views: usize,
    /// Arc, degrees (360 for a full orbit).
    pub arc_deg: f64,
    /// Angle of the first view, degrees.
    pub start_deg: f64,
    /// Radius of rotation, from the axis to the collimator face, cm.
    pub radius_cm: f64,
    /// Detector matrix: bins along u and along z.
    pub matrix: [usize; 2],
    /// Bin size, cm.
    pub pixel_cm: f64,
    /// The collimator.
    pub collimator: Collimator,
    /// The crystal.
    pub crystal: Crystal,
    /// Intrinsic spatial resolution, FWHM, cm.
    pub intrinsic_fwhm_cm: f64,
    /// From the collimator's back face to the mean depth of interaction in the crystal, cm.
    pub image_gap_cm: f64,
    /// Energy windows.
    pub windows: Vec<Window>,
    /// Acquisition time per view, s.
    pub time_per_view_s: f64,
    /// How detection is simulated.
    pub method: Method,
    /// Largest angle off the collimator's axis at which photons are followed through it, degrees
    /// (None: three times the acceptance angle `d / l_eff` at the highest energy emitted).
    pub max_angle_deg: Option<f64>,
    /// Scatter in the collimator and lead x-rays (photons reaching the face up to 60 degrees
    /// off its axis, followed through the lead; the angular response tables take them from the
    /// same transport). Off: the septa only attenuate.
    pub collimator_scatter: bool,
}

impl Acquisition {
    pub(crate) fn check(&self) -> Result<()> {
        if !(1..=1024).contains(&self.views) {
            return Err(Error::invalid(
                "views",
                format!("{}; expected 1 to 1024", self.views),
            ));
        }
        if !self.matrix.iter().all(|m| (1..=1024).contains(m)) {
            return Err(Error::invalid(
                "matrix",
                format!("{:?}; expected 1 to 1024 bins each way", self.matrix),
            ));
        }
        if self.views * self.matrix[0] * self.matrix[1] * self.windows.len().max(1) > 1 << 27 {
            return Err(Error::invalid(
                "matrix",
                "views x bins x windows above 2^27 values",
            ));
        }
        crate::error::check_ranges(&[
            ("arc_deg", self.arc_deg, 1.0, 360.0),
            ("start_deg", self.start_deg, -360.0, 360.0),
            ("radius_cm", self.radius_cm, 1.0, 100.0),
            ("pixel_cm", self.pixel_cm, 0.01, 5.0),
            ("intrinsic_fwhm_cm", self.intrinsic_fwhm_cm, 0.0, 5.0),
            ("image_gap_cm", self.image_gap_cm, 0.0, 10.0),
            ("time_per_view_s", self.time_per_view_s, 1e-6, 1e6),
        ])?;
        if let Some(a) = self.max_angle_deg {
            crate::error::check_ranges(&[("max_angle_deg", a, 0.01, 45.0)])?;
        }
        self.crystal.check()?;
        if self.windows.is_empty() || self.windows.len() > 16 {
            return Err(Error::invalid("windows", "expected 1 to 16 energy windows"));
        }
        for w in &self.windows {
            if !(w.lo_ev.is_finite() && w.hi_ev.is_finite() && 0.0 <= w.lo_ev && w.lo_ev < w.hi_ev)
                || w.hi_ev > 2e6
            {
                return Err(Error::invalid(
                    "windows",
                    format!(
                        "`{}`: {} to {} eV; expected 0 <= lower < upper <= 2 MeV",
                        w.name, w.lo_ev, w.hi_ev
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The angle of view `v`, radians.
    pub fn angle(&self, v: usize) -> f64 {
        (self.start_deg + self.arc_deg * v as f64 / self.views as f64).to_radians()
    }
}

/// How many histories and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunControl {
    /// Decays simulated.
    pub decays: u64,
    /// Seed.
    pub seed: u64,
    /// Worker threads (0: one per core). The result does not depend on it.
    pub threads: usize,
}

/// Photons below this energy are not followed (absorbed where they are).
const E_CUT: f64 = 20_000.0;
/// Highest photon energy (no pair production in the crystal model).
const E_MAX: f64 = 1_022_000.0;
/// Histories per chunk (one random stream each).
const CHUNK: u64 = 8_192;

/// The photon lines followed: (energy eV, cumulative probability), photons per decay followed,
/// photons per decay dropped.
fn lines(nuclide: &Radionuclide) -> (Vec<(f64, f64)>, f64, f64) {
    let kept: Vec<(f64, f64)> = nuclide
        .lines()
        .iter()
        .copied()
        .filter(|(e, _)| (E_CUT..=E_MAX).contains(e))
        .collect();
    let total: f64 = kept.iter().map(|l| l.1).sum();
    let mut acc = 0.0;
    let cumulative = kept
        .iter()
        .map(|(e, y)| {
            acc += y / total;
            (*e, acc)
        })
        .collect();
    (cumulative, total, nuclide.photons_per_decay() - total)
}

/// Given the cosine between a photon's direction and a view's axis, up to two (energy eV,
/// probability per steradian) of leaving along the axis.
type Channels<'a> = dyn Fn(f64, &mut [(f64, f64); 2]) + 'a;

/// A worker's buffers.
struct Scratch {
    /// Mass thickness per material along a forced path.
    paths: Vec<f64>,
    /// Window probabilities.
    windows: Vec<f64>,
    /// Hole chords of a path through the collimator.
    holes: Vec<(f64, f64)>,
}

/// What the workers share.
struct Setup<'a> {
    body: &'a Body,
    acq: &'a Acquisition,
    lines: Vec<(f64, f64)>,
    photons_per_decay: f64,
    /// hope-mc's photon physics in the body's materials, and its angular densities.
    physics: PhotonPhysics,
    densities: ScatterDensities,
    /// Lead's (for the septa's transmission when collimator scatter is off).
    lead: PhotonPhysics,
    arf: Arf,
    windows: WindowTable,
    slab: Slab,
    lattice: Lattice,
    /// The collimator as a transport medium, and its scatter table (collimator scatter on).
    septa: Option<(Septa, ScatterTable)>,
    /// Per view: (sin, cos) of its angle.
    views: Vec<(f64, f64)>,
    sigma_i: f64,
}

/// Simulates the acquisition of `body` (its activity in Bq) emitting the photons of `nuclide`:
/// expected counts per bin (the Monte Carlo estimate for the activity and the time per view;
/// [`Projections::with_poisson_noise`] draws a noisy acquisition from it).
pub fn simulate(
    body: &Body,
    nuclide: &Radionuclide,
    acq: &Acquisition,
    run: &RunControl,
) -> Result<Projections> {
    acq.check()?;
    if run.decays == 0 || run.decays > 1 << 40 {
        return Err(Error::invalid(
            "decays",
            format!("{}; expected 1 to 2^40", run.decays),
        ));
    }
    if body.activity_bq() <= 0.0 {
        return Err(Error::invalid("activity", "no activity in the volume"));
    }
    let half_diagonal = body.half_cm[0].hypot(body.half_cm[1]);
    if half_diagonal >= acq.radius_cm {
        return Err(Error::invalid(
            "radius_cm",
            format!(
                "{} cm; the volume's corners reach {half_diagonal:.1} cm from the axis",
                acq.radius_cm
            ),
        ));
    }
    let (lines, photons_per_decay, dropped) = lines(nuclide);
    let e_max = lines.iter().map(|l| l.0).fold(0.0, f64::max);
    if lines.is_empty() {
        return Err(Error::invalid(
            "radionuclide",
            format!(
                "{} emits no photons between 20 keV and 1.022 MeV",
                nuclide.name()
            ),
        ));
    }
    let c = &acq.collimator;
    let t_max = match acq.max_angle_deg {
        Some(a) => a.to_radians().tan(),
        None => (3.0 * c.hole_cm() / c.effective_length_cm(c.mu_per_cm(e_max)?)).min(1.0),
    };
    let arf = Arf::new(c, t_max, E_CUT, e_max + 2_000.0, run.seed)?;
    let windows = WindowTable::new(
        &acq.crystal,
        &acq.windows,
        E_CUT,
        e_max + 2_000.0,
        8_000,
        run.seed,
    )?;
    let lead = c.material.material()?;
    let physics = PhotonPhysics::new(body.materials(), PhysicsOptions::default());
    let septa = if acq.collimator_scatter {
        let septa = Septa::new(c)?;
        let table = ScatterTable::new(
            &septa,
            &Lattice::new(c),
            &windows,
            acq.windows.len(),
            E_CUT,
            e_max + 2_000.0,
            run.seed,
        );
        Some((septa, table))
    } else {
        None
    };
    let setup = Setup {
        body,
        acq,
        lines,
        photons_per_decay,
        densities: ScatterDensities::new(&physics)?,
        physics,
        lead: PhotonPhysics::new(std::slice::from_ref(&lead), PhysicsOptions::default()),
        arf,
        windows,
        slab: Slab::new(acq.crystal.thickness_cm)?,
        lattice: Lattice::new(c),
        septa,
        views: (0..acq.views).map(|v| acq.angle(v).sin_cos()).collect(),
        sigma_i: acq.intrinsic_fwhm_cm / (8.0 * 2f64.ln()).sqrt(),
    };
    let lead_density = lead.density();
    let size = acq.windows.len() * acq.views * acq.matrix[0] * acq.matrix[1];
    let chunks = run.decays.div_ceil(CHUNK);
    let threads = if run.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        run.threads
    }
    .clamp(1, 64)
    // Each worker holds a tally of the whole acquisition: at most 2 GiB of them in all.
    .min(((1usize << 28) / size.max(1)).max(1));
    let mut total = vec![0.0f64; size];
    // Detections per window summed over the chunks of each of at most 1,024 buckets (chunk c in
    // bucket c % 1024), with the decays in each: the spread between buckets gives the Monte
    // Carlo uncertainty.
    let buckets = chunks.min(1_024) as usize;
    let mut bucket_sums = vec![vec![0.0f64; acq.windows.len()]; buckets];
    let mut bucket_decays = vec![0u64; buckets];
    let mut next = 0u64;
    while next < chunks {
        let group: Vec<u64> = (next..chunks.min(next + threads as u64)).collect();
        let results: Vec<Vec<f64>> = std::thread::scope(|s| {
            let handles: Vec<_> = group
                .iter()
                .map(|&chunk| {
                    let setup = &setup;
                    s.spawn(move || {
                        let n = CHUNK.min(run.decays - chunk * CHUNK);
                        let mut tally = vec![0.0f64; size];
                        let mut rng = Rng::for_batch(run.seed, chunk);
                        let mut scratch = Scratch {
                            paths: vec![0.0; setup.body.material_count()],
                            windows: vec![0.0; setup.acq.windows.len()],
                            holes: Vec::new(),
                        };
                        for _ in 0..n {
                            setup.history(&mut rng, &mut tally, lead_density, &mut scratch);
                        }
                        tally
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
        for (chunk, tally) in group.iter().zip(results) {
            if tally.len() != size {
                return Err(Error::invalid("threads", "a worker thread failed"));
            }
            let per_window = size / acq.windows.len();
            let b = (*chunk % 1_024) as usize;
            for (w, sum) in tally.chunks(per_window).zip(&mut bucket_sums[b]) {
                *sum += w.iter().sum::<f64>();
            }
            bucket_decays[b] += CHUNK.min(run.decays - chunk * CHUNK);
            for (t, x) in total.iter_mut().zip(&tally) {
                *t += x;
            }
        }
        next += group.len() as u64;
    }
    // Weights are detections per decay summed over the histories.
    let scale = body.activity_bq() * acq.time_per_view_s / run.decays as f64;
    for t in &mut total {
        *t *= scale;
    }
    let chunk_totals: Vec<Vec<f64>> = bucket_sums
        .into_iter()
        .zip(&bucket_decays)
        .map(|(sums, n)| sums.into_iter().map(|x| x / (*n).max(1) as f64).collect())
        .collect();
    Ok(Projections {
        views: acq.views,
        matrix: acq.matrix,
        pixel_cm: acq.pixel_cm,
        angles_deg: (0..acq.views).map(|v| acq.angle(v).to_degrees()).collect(),
        radius_cm: acq.radius_cm,
        windows: acq.windows.clone(),
        time_per_view_s: acq.time_per_view_s,
        counts: total,
        radionuclide: nuclide.name().to_string(),
        activity_bq: body.activity_bq(),
        decays: run.decays,
        dropped_photons_per_decay: dropped,
        chunk_detections: chunk_totals,
        collimator: c.code().to_string(),
        method: acq.method,
    })
}

impl Setup<'_> {
    /// The bin of detector position `(u, z)` cm, with the intrinsic blur drawn.
    #[inline]
    fn bin(&self, u: f64, z: f64, rng: &mut Rng) -> Option<usize> {
        let (u, z) = if self.sigma_i > 0.0 {
            let r = (-2.0 * rng.uniform_open().ln()).sqrt() * self.sigma_i;
            let (s, c) = (2.0 * std::f64::consts::PI * rng.uniform()).sin_cos();
            (u + r * c, z + r * s)
        } else {
            (u, z)
        };
        let [nu, nz] = self.acq.matrix;
        let iu = u / self.acq.pixel_cm + nu as f64 / 2.0;
        let iz = z / self.acq.pixel_cm + nz as f64 / 2.0;
        if iu >= 0.0 && iz >= 0.0 && iu < nu as f64 && iz < nz as f64 {
            Some(iz as usize * nu + iu as usize)
        } else {
            None
        }
    }

    /// Adds `weight` times the window probabilities at `e` to bin `bin` of view `v`.
    #[inline]
    fn score(&self, tally: &mut [f64], v: usize, bin: usize, e: f64, weight: f64, p: &mut [f64]) {
        self.windows.at(e, p);
        let per_view = self.acq.matrix[0] * self.acq.matrix[1];
        let per_window = per_view * self.acq.views;
        for (w, pw) in p.iter().enumerate() {
            if *pw > 0.0 {
                tally[w * per_window + v * per_view + bin] += weight * pw;
            }
        }
    }

    /// `sum mu l` at energy `e` over the mass thickness of each material along a path.
    fn optical_depth(&self, paths: &[f64], e: f64) -> f64 {
        paths
            .iter()
            .enumerate()
            .filter(|(_, l)| **l > 0.0)
            .map(|(m, l)| self.physics.mu_rho(m, e) * l)
            .sum()
    }

    /// Forced detection from `p`: for each view, the photon leaving towards the detector along
    /// its axis; `channels(cos, out)` gives, for the cosine between the incoming direction and
    /// the axis, up to two (energy, probability per steradian) pairs.
    #[allow(clippy::too_many_arguments)]
    fn force(
        &self,
        p: [f64; 3],
        weight: f64,
        channels: &Channels<'_>,
        u_in: [f64; 3],
        rng: &mut Rng,
        tally: &mut [f64],
        scratch: &mut Scratch,
    ) {
        let acq = self.acq;
        let extra = acq.collimator.length_cm() + acq.image_gap_cm;
        for (v, &(sin, cos)) in self.views.iter().enumerate() {
            let n = [-sin, cos, 0.0];
            let c = u_in[0] * n[0] + u_in[1] * n[1] + u_in[2] * n[2];
            let mut out = [(0.0, 0.0); 2];
            channels(c, &mut out);
            if out.iter().all(|(e, pdf)| *pdf <= 0.0 || *e < E_CUT) {
                continue;
            }
            self.body.mass_paths(p, n, &mut scratch.paths);
            let depth = p[0] * n[0] + p[1] * n[1];
            let to_image = acq.radius_cm - depth + extra;
            let u0 = p[0] * cos + p[1] * sin;
            for (e, pdf) in out {
                if pdf <= 0.0 || e < E_CUT {
                    continue;
                }
                let mu_l = self.optical_depth(&scratch.paths, e);
                let w = weight * pdf * (-mu_l).exp() * self.arf.solid_angle(e);
                if w <= 0.0 {
                    continue;
                }
                let (tx, ty) = self.arf.sample(e, rng);
                if let Some(bin) = self.bin(u0 + to_image * tx, p[2] + to_image * ty, rng) {
                    self.score(tally, v, bin, e, w, &mut scratch.windows);
                }
            }
            // Scatter in the collimator: a direction drawn towards the face (an angle bin by its
            // share at the energy along the axis, the azimuth uniform), then everything along
            // that direction: the scattering density and energy, the attenuation, the table's
            // window probabilities at that energy; recorded where the photon reaches the face.
            if let Some((_, table)) = &self.septa {
                let e_ref = if out[0].1 > 0.0 { out[0].0 } else { out[1].0 };
                let total = table.total(e_ref);
                if total <= 0.0 {
                    continue;
                }
                let (b, cos_t) = table.sample(e_ref, rng);
                let q_b = table.bin_weight(e_ref, b) / total;
                if q_b <= 0.0 {
                    continue;
                }
                let sin_t = (1.0 - cos_t * cos_t).max(0.0).sqrt();
                let (s_phi, c_phi) = (2.0 * std::f64::consts::PI * rng.uniform()).sin_cos();
                // The detector's u axis (cos, sin, 0) and z axis.
                let dir = [
                    n[0] * cos_t + cos * sin_t * c_phi,
                    n[1] * cos_t + sin * sin_t * c_phi,
                    sin_t * s_phi,
                ];
                let mut along = [(0.0, 0.0); 2];
                channels(
                    u_in[0] * dir[0] + u_in[1] * dir[1] + u_in[2] * dir[2],
                    &mut along,
                );
                if along.iter().all(|(e, pdf)| *pdf <= 0.0 || *e < E_CUT) {
                    continue;
                }
                let to_face = acq.radius_cm - depth;
                let tan = sin_t / cos_t;
                let Some(bin) = self.bin(
                    u0 + to_face * tan * c_phi,
                    p[2] + to_face * tan * s_phi,
                    rng,
                ) else {
                    continue;
                };
                self.body.mass_paths(p, dir, &mut scratch.paths);
                let per_view = acq.matrix[0] * acq.matrix[1];
                let solid = table.solid_angle(b);
                for (e, pdf) in along {
                    if pdf <= 0.0 || e < E_CUT {
                        continue;
                    }
                    let mu_l = self.optical_depth(&scratch.paths, e);
                    let w = weight * pdf * (-mu_l).exp() * solid / q_b;
                    table.probabilities(e, b, &mut scratch.windows);
                    for (k, qk) in scratch.windows.iter().enumerate() {
                        tally[(k * acq.views + v) * per_view + bin] += w * qk;
                    }
                }
            }
        }
    }

    /// Scores a photon leaving the body at `p` in direction `u` (analog methods).
    #[allow(clippy::too_many_arguments)]
    fn escape(
        &self,
        p: [f64; 3],
        u: [f64; 3],
        e: f64,
        weight: f64,
        rng: &mut Rng,
        tally: &mut [f64],
        scratch: &mut Scratch,
        lead_density: f64,
    ) {
        let acq = self.acq;
        let t_max = self.arf.t_max();
        let per_view = acq.matrix[0] * acq.matrix[1];
        for (v, &(sin, cos)) in self.views.iter().enumerate() {
            let c = -u[0] * sin + u[1] * cos;
            if c <= 0.0 {
                continue;
            }
            let (tx, ty) = ((u[0] * cos + u[1] * sin) / c, u[2] / c);
            let in_table = tx.abs() <= t_max && ty.abs() <= t_max;
            let scatter_bin = self
                .septa
                .as_ref()
                .and_then(|_| ScatterTable::bin(c.clamp(-1.0, 1.0).acos()));
            if !in_table && scatter_bin.is_none() {
                continue;
            }
            let depth = -p[0] * sin + p[1] * cos;
            let to_face = acq.radius_cm - depth;
            let to_image = to_face + acq.collimator.length_cm() + acq.image_gap_cm;
            let u0 = p[0] * cos + p[1] * sin;
            let (fx, fy) = (u0 + to_face * tx, p[2] + to_face * ty);
            match acq.method {
                Method::AngularResponse => {
                    let w = if in_table {
                        weight * self.arf.transmission(e, tx, ty)
                    } else {
                        0.0
                    };
                    if w > 0.0
                        && let Some(bin) = self.bin(u0 + to_image * tx, p[2] + to_image * ty, rng)
                    {
                        self.score(tally, v, bin, e, w, &mut scratch.windows);
                    }
                    // Scattered in the collimator: recorded where the photon reached the face.
                    if let (Some(b), Some((_, table))) = (scatter_bin, &self.septa)
                        && let Some(bin) = self.bin(fx, fy, rng)
                    {
                        table.probabilities(e, b, &mut scratch.windows);
                        for (k, q) in scratch.windows.iter().enumerate() {
                            tally[(k * acq.views + v) * per_view + bin] += weight * q;
                        }
                    }
                }
                _ => {
                    let norm = (1.0 + tx * tx + ty * ty).sqrt();
                    let local = [tx / norm, ty / norm, 1.0 / norm];
                    // Through the collimator: followed in the lead (scatter on), else weighted
                    // by the transmission along the septa path.
                    let (w, e_out, (ix, iy)) = match &self.septa {
                        Some((septa, _)) => {
                            let Some(exit) =
                                septa.follow(fx, fy, local, e, rng, &mut scratch.holes)
                            else {
                                continue;
                            };
                            let gap = acq.image_gap_cm / exit.u[2];
                            (
                                weight,
                                exit.e,
                                (exit.x + exit.u[0] * gap, exit.y + exit.u[1] * gap),
                            )
                        }
                        None => {
                            if !in_table {
                                continue;
                            }
                            let path = self.lattice.septa_path(fx, fy, local);
                            (
                                weight * (-self.lead.mu_rho(0, e) * lead_density * path).exp(),
                                e,
                                (u0 + to_image * tx, p[2] + to_image * ty),
                            )
                        }
                    };
                    if w < 1e-12 {
                        continue;
                    }
                    let deposit = self.slab.follow(e_out, rng);
                    if deposit <= 0.0 {
                        continue;
                    }
                    let height = acq.crystal.blur(deposit, rng);
                    let Some(bin) = self.bin(ix, iy, rng) else {
                        continue;
                    };
                    for (k, win) in acq.windows.iter().enumerate() {
                        if (win.lo_ev..win.hi_ev).contains(&height) {
                            tally[(k * acq.views + v) * per_view + bin] += w;
                        }
                    }
                }
            }
        }
    }

    /// One decay.
    fn history(&self, rng: &mut Rng, tally: &mut [f64], lead_density: f64, scratch: &mut Scratch) {
        let mut p = self.body.sample_position(rng);
        let r = rng.uniform();
        let mut e = self
            .lines
            .iter()
            .find(|l| r <= l.1)
            .or(self.lines.last())
            .map_or(0.0, |l| l.0);
        let weight = self.photons_per_decay;
        let forced = self.acq.method == Method::ForcedDetection;
        let four_pi = 4.0 * std::f64::consts::PI;
        if forced {
            let e0 = e;
            self.force(
                p,
                weight,
                &|_, out| out[0] = (e0, 1.0 / four_pi),
                [0.0, 0.0, 1.0],
                rng,
                tally,
                scratch,
            );
        }
        let cos = 2.0 * rng.uniform() - 1.0;
        let mut u = turn(
            [0.0, 0.0, 1.0],
            cos,
            2.0 * std::f64::consts::PI * rng.uniform(),
        );
        for _ in 0..10_000 {
            let majorant = self.body.majorant(&self.physics, e);
            let to_edge = self.body.to_surface(p, u);
            let s = if majorant > 0.0 {
                -rng.uniform_open().ln() / majorant
            } else {
                f64::INFINITY
            };
            if s >= to_edge {
                if !forced {
                    let q = [
                        p[0] + u[0] * to_edge,
                        p[1] + u[1] * to_edge,
                        p[2] + u[2] * to_edge,
                    ];
                    self.escape(q, u, e, weight, rng, tally, scratch, lead_density);
                }
                return;
            }
            p = [p[0] + u[0] * s, p[1] + u[1] * s, p[2] + u[2] * s];
            let Some(i) = self.body.voxel(p) else {
                return;
            };
            let (m, rho) = self.body.at(i);
            // Delta tracking: a real interaction with probability mu / majorant.
            if rng.uniform() * majorant >= self.physics.mu_rho(m, e) * rho {
                continue;
            }
            if forced {
                let vertex = self.densities.vertex(&self.physics, m, e);
                let e_in = e;
                self.force(
                    p,
                    weight,
                    &|c: f64, out: &mut [(f64, f64); 2]| {
                        let t = vertex.towards(c);
                        out[0] = (t.compton_energy, vertex.compton * t.compton_pdf);
                        out[1] = (e_in, vertex.rayleigh * t.rayleigh_pdf);
                    },
                    u,
                    rng,
                    tally,
                    scratch,
                );
            }
            // hope-mc's photon physics: bound Compton, Rayleigh with form factors; absorbed
            // photons' fluorescence in the body is not followed (below 20 keV in tissues).
            let c = match self.physics.interact(m, e, rng) {
                Interaction::Scatter { cos, energy, .. } => {
                    e = energy;
                    cos
                }
                _ => return,
            };
            u = turn(u, c, 2.0 * std::f64::consts::PI * rng.uniform());
            if e < E_CUT {
                return;
            }
        }
    }
}
