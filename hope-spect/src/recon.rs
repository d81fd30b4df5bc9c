//! Projection and reconstruction: a rotation-based projector for parallel-hole SPECT with
//! attenuation and a depth-dependent collimator-detector response, its exact adjoint, and OSEM.
//!
//! Geometry: a volume of `n x n x nz` cubic voxels of side `voxel_cm`, its transaxial centre on
//! the axis of rotation. A view at angle `theta` rotates the volume by `-theta` (bilinear
//! interpolation in each slice) into the detector's frame: `u` along the detector, `depth`
//! towards it, the collimator face `radius_cm` from the axis. Each depth row is attenuated by
//! the linear attenuation coefficients between it and the detector (half of its own voxel
//! included), blurred in `u` and in `z` by a Gaussian whose FWHM is the system resolution at
//! its distance from the face (`sqrt(R_g^2 + R_i^2)`, the collimator's analytic geometric
//! resolution), scaled by the collimator's efficiency, and summed over depth: counts per second
//! per Bq in each detector bin of `voxel_cm x voxel_cm`. The back-projection applies the
//! transposes in the reverse order (the same Gaussian, the same attenuation, the scatter of the
//! bilinear weights), so it is the exact adjoint of the projection.

use crate::collimator::Collimator;
use crate::{Error, Result};

/// The acquisition and image geometry.
#[derive(Debug, Clone, PartialEq)]
pub struct Geometry {
    /// Transaxial size of the volume and of the detector rows, voxels.
    pub n: usize,
    /// Slices (and detector rows along the axis).
    pub nz: usize,
    /// Voxel (and detector bin) size, cm.
    pub voxel_cm: f64,
    /// Views over the arc.
    pub views: usize,
    /// Arc, degrees (360 for a full orbit; negative: the camera turns clockwise).
    pub arc_deg: f64,
    /// Angle of the first view, degrees.
    pub start_deg: f64,
    /// Radius of rotation: from the axis to the collimator face, cm.
    pub radius_cm: f64,
    /// The collimator.
    pub collimator: Collimator,
    /// Photon energy, eV (for the septa's attenuation in the collimator response).
    pub energy_ev: f64,
    /// Intrinsic resolution, FWHM, cm.
    pub intrinsic_fwhm_cm: f64,
    /// From the collimator's back face to the image plane in the crystal, cm.
    pub image_gap_cm: f64,
}

impl Geometry {
    pub(crate) fn check(&self) -> Result<()> {
        if !(8..=512).contains(&self.n) || !(1..=512).contains(&self.nz) {
            return Err(Error::invalid(
                "geometry",
                format!(
                    "{} x {} voxels; expected n 8-512, nz 1-512",
                    self.n, self.nz
                ),
            ));
        }
        if !(1..=1024).contains(&self.views) {
            return Err(Error::invalid(
                "views",
                format!("{}; expected 1-1024", self.views),
            ));
        }
        crate::error::check_ranges(&[
            ("voxel_cm", self.voxel_cm, 0.01, 5.0),
            ("arc_deg", self.arc_deg.abs(), 1.0, 360.0),
            ("start_deg", self.start_deg, -360.0, 360.0),
            ("radius_cm", self.radius_cm, 1.0, 100.0),
            ("intrinsic_fwhm_cm", self.intrinsic_fwhm_cm, 0.0, 5.0),
            ("image_gap_cm", self.image_gap_cm, 0.0, 10.0),
        ])?;
        // The volume must fit inside the orbit.
        let half_diagonal = self.n as f64 * self.voxel_cm / std::f64::consts::SQRT_2;
        if half_diagonal >= self.radius_cm {
            return Err(Error::invalid(
                "radius_cm",
                format!(
                    "{} cm; the volume's corners reach {half_diagonal:.1} cm from the axis",
                    self.radius_cm
                ),
            ));
        }
        Ok(())
    }

    /// The angle of view `v`, radians.
    pub fn angle(&self, v: usize) -> f64 {
        (self.start_deg + self.arc_deg * v as f64 / self.views as f64).to_radians()
    }
}

/// One depth row's Gaussian, truncated at 3 sigma (the same kernel forward and back).
#[derive(Debug, Clone)]
struct Kernel {
    taps: Vec<f64>,
}

impl Kernel {
    fn new(fwhm_voxels: f64) -> Kernel {
        let sigma = fwhm_voxels / (8.0 * 2f64.ln()).sqrt();
        let half = (3.0 * sigma).ceil().max(0.0) as usize;
        let mut taps: Vec<f64> = (0..=2 * half)
            .map(|k| {
                let x = k as f64 - half as f64;
                if sigma > 1e-6 {
                    (-x * x / (2.0 * sigma * sigma)).exp()
                } else {
                    f64::from(u8::from(k == half))
                }
            })
            .collect();
        let sum: f64 = taps.iter().sum();
        for t in &mut taps {
            *t /= sum;
        }
        Kernel { taps }
    }

    /// `out[k] += sum_m taps[m] in[k + m - half]` over a line of `len` values with `stride`.
    fn apply(&self, input: &[f64], out: &mut [f64], start: usize, len: usize, stride: usize) {
        let half = self.taps.len() / 2;
        for k in 0..len {
            let mut acc = 0.0;
            for (m, t) in self.taps.iter().enumerate() {
                let src = k as isize + m as isize - half as isize;
                if (0..len as isize).contains(&src) {
                    acc += t * input[start + src as usize * stride];
                }
            }
            out[start + k * stride] += acc;
        }
    }
}

/// The projector of a geometry and an attenuation map.
#[derive(Debug, Clone)]
pub struct Projector {
    g: Geometry,
    /// Linear attenuation coefficients at the photon energy, 1/cm, `[z][y][x]` (None: no
    /// attenuation).
    mu: Option<Vec<f64>>,
    /// One kernel per depth row.
    kernels: Vec<Kernel>,
    /// Collimator efficiency (detected per emitted photon).
    efficiency: f64,
}

impl Projector {
    /// A projector; `mu` (1/cm at the energy, `n * n * nz` values `[z][y][x]`) for attenuation.
    pub fn new(geometry: Geometry, mu: Option<Vec<f64>>) -> Result<Projector> {
        geometry.check()?;
        let voxels = geometry.n * geometry.n * geometry.nz;
        if let Some(m) = &mu
            && (m.len() != voxels || m.iter().any(|v| !v.is_finite() || *v < 0.0 || *v > 100.0))
        {
            return Err(Error::invalid(
                "mu",
                format!("expected {voxels} values between 0 and 100 /cm"),
            ));
        }
        let lead = geometry.collimator.mu_per_cm(geometry.energy_ev)?;
        let c = &geometry.collimator;
        let n = geometry.n;
        let kernels = (0..n)
            .map(|j| {
                let depth = (j as f64 + 0.5 - n as f64 / 2.0) * geometry.voxel_cm;
                let b = geometry.radius_cm - depth;
                let rg = c.analytic_fwhm_cm(lead, b, geometry.image_gap_cm);
                Kernel::new(rg.hypot(geometry.intrinsic_fwhm_cm) / geometry.voxel_cm)
            })
            .collect();
        Ok(Projector {
            efficiency: c.analytic_efficiency(lead),
            g: geometry,
            mu,
            kernels,
        })
    }

    /// The same projector with its sensitivity (counts per second per Bq of a source in air, summed
    /// over the detector) set to a measured calibration, instead of the collimator's analytic
    /// efficiency: the reconstruction then gives Bq per voxel for that camera and window.
    pub fn calibrated(mut self, cps_per_bq: f64) -> Result<Projector> {
        if !(cps_per_bq.is_finite() && cps_per_bq > 0.0 && cps_per_bq < 1.0) {
            return Err(Error::invalid(
                "calibration",
                format!("{cps_per_bq} counts per second per Bq; expected between 0 and 1"),
            ));
        }
        self.efficiency = cps_per_bq;
        Ok(self)
    }

    /// The sensitivity the projector assumes, counts per second per Bq.
    pub fn sensitivity(&self) -> f64 {
        self.efficiency
    }

    /// The geometry.
    pub fn geometry(&self) -> &Geometry {
        &self.g
    }

    /// Detector bins per view (`n * nz`, `[z][u]`).
    pub fn bins(&self) -> usize {
        self.g.n * self.g.nz
    }

    /// Bilinear weights of the view-frame voxel `(u, d)` of view angle `theta`: up to 4 image
    /// voxels `(x, y)` and their weights.
    fn taps(&self, cos: f64, sin: f64, u: usize, d: usize) -> [(usize, f64); 4] {
        let n = self.g.n;
        let h = n as f64 / 2.0;
        let (pu, pd) = (u as f64 + 0.5 - h, d as f64 + 0.5 - h);
        // View frame to image frame: rotate by theta.
        let x = cos * pu - sin * pd + h - 0.5;
        let y = sin * pu + cos * pd + h - 0.5;
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let mut out = [(0usize, 0.0f64); 4];
        for (k, (dx, dy, w)) in [
            (0.0, 0.0, (1.0 - fx) * (1.0 - fy)),
            (1.0, 0.0, fx * (1.0 - fy)),
            (0.0, 1.0, (1.0 - fx) * fy),
            (1.0, 1.0, fx * fy),
        ]
        .into_iter()
        .enumerate()
        {
            let (xi, yi) = (x0 + dx, y0 + dy);
            if xi >= 0.0 && yi >= 0.0 && xi < n as f64 && yi < n as f64 {
                out[k] = (yi as usize * n + xi as usize, w);
            }
        }
        out
    }

    /// The attenuation factor of each view-frame voxel of one slice, `[d][u]`.
    fn attenuation(&self, cos: f64, sin: f64, z: usize) -> Vec<f64> {
        let n = self.g.n;
        let mut att = vec![1.0; n * n];
        let Some(mu) = &self.mu else {
            return att;
        };
        let slice = &mu[z * n * n..(z + 1) * n * n];
        for u in 0..n {
            let mut beyond = 0.0;
            for d in (0..n).rev() {
                let m: f64 = self
                    .taps(cos, sin, u, d)
                    .iter()
                    .map(|(i, w)| w * slice[*i])
                    .sum();
                att[d * n + u] = (-(beyond + 0.5 * m) * self.g.voxel_cm).exp();
                beyond += m;
            }
        }
        att
    }

    /// Projects `image` (Bq per voxel, `[z][y][x]`) into view `v`: counts per second per bin,
    /// `[z][u]`.
    pub fn forward(&self, image: &[f64], v: usize) -> Vec<f64> {
        let (n, nz) = (self.g.n, self.g.nz);
        let (sin, cos) = self.g.angle(v).sin_cos();
        // Rotated, attenuated activity [z][d][u].
        let mut rotated = vec![0.0; nz * n * n];
        for z in 0..nz {
            let att = self.attenuation(cos, sin, z);
            let slice = &image[z * n * n..(z + 1) * n * n];
            for d in 0..n {
                for u in 0..n {
                    let a: f64 = self
                        .taps(cos, sin, u, d)
                        .iter()
                        .map(|(i, w)| w * slice[*i])
                        .sum();
                    rotated[(z * n + d) * n + u] = a * att[d * n + u];
                }
            }
        }
        let mut out = vec![0.0; nz * n];
        let mut along_u = vec![0.0; nz * n];
        for d in 0..n {
            // This depth row as a [z][u] plane, blurred in u then in z.
            let plane: Vec<f64> = (0..nz * n)
                .map(|k| rotated[((k / n) * n + d) * n + k % n])
                .collect();
            along_u.iter_mut().for_each(|x| *x = 0.0);
            for z in 0..nz {
                self.kernels[d].apply(&plane, &mut along_u, z * n, n, 1);
            }
            for u in 0..n {
                self.kernels[d].apply(&along_u, &mut out, u, nz, n);
            }
        }
        for x in &mut out {
            *x *= self.efficiency;
        }
        out
    }

    /// The adjoint of [`Projector::forward`]: adds the back-projection of `proj` (`[z][u]`)
    /// from view `v` into `image`.
    pub fn back(&self, proj: &[f64], v: usize, image: &mut [f64]) {
        let (n, nz) = (self.g.n, self.g.nz);
        let (sin, cos) = self.g.angle(v).sin_cos();
        let scaled: Vec<f64> = proj.iter().map(|p| p * self.efficiency).collect();
        let mut rotated = vec![0.0; nz * n * n];
        let mut along_z = vec![0.0; nz * n];
        let mut plane = vec![0.0; nz * n];
        for d in 0..n {
            along_z.iter_mut().for_each(|x| *x = 0.0);
            for u in 0..n {
                self.kernels[d].apply(&scaled, &mut along_z, u, nz, n);
            }
            plane.iter_mut().for_each(|x| *x = 0.0);
            for z in 0..nz {
                self.kernels[d].apply(&along_z, &mut plane, z * n, n, 1);
            }
            for k in 0..nz * n {
                rotated[((k / n) * n + d) * n + k % n] = plane[k];
            }
        }
        for z in 0..nz {
            let att = self.attenuation(cos, sin, z);
            let slice = &mut image[z * n * n..(z + 1) * n * n];
            for d in 0..n {
                for u in 0..n {
                    let value = rotated[(z * n + d) * n + u] * att[d * n + u];
                    for (i, w) in self.taps(cos, sin, u, d) {
                        slice[i] += w * value;
                    }
                }
            }
        }
    }
}

/// Ordered-subsets expectation maximisation: `iterations` passes over `subsets` subsets of the
/// views (view `v` in subset `v % subsets`), from a uniform image; `projections[v]` are the
/// counts per second of view `v` (`[z][u]`). Returns Bq per voxel.
pub fn osem(
    p: &Projector,
    projections: &[Vec<f64>],
    subsets: usize,
    iterations: usize,
) -> Result<Vec<f64>> {
    osem_with_background(p, projections, None, subsets, iterations)
}

/// OSEM with an additive background in the model, `expected = A x + b`: the scatter estimate
/// of the triple-energy-window method (the way that keeps the counts Poisson; Hutton et al.,
/// Phys Med Biol 56:R85, 2011). `background[v]` as `projections[v]`, in the same units.
pub fn osem_with_background(
    p: &Projector,
    projections: &[Vec<f64>],
    background: Option<&[Vec<f64>]>,
    subsets: usize,
    iterations: usize,
) -> Result<Vec<f64>> {
    let g = p.geometry();
    if let Some(b) = background
        && (b.len() != g.views
            || b.iter()
                .any(|v| v.len() != p.bins() || v.iter().any(|x| !x.is_finite() || *x < 0.0)))
    {
        return Err(Error::invalid(
            "background",
            format!(
                "expected {} views of {} finite values >= 0",
                g.views,
                p.bins()
            ),
        ));
    }
    if projections.len() != g.views || projections.iter().any(|v| v.len() != p.bins()) {
        return Err(Error::invalid(
            "projections",
            format!("expected {} views of {} bins", g.views, p.bins()),
        ));
    }
    if subsets == 0 || subsets > g.views || iterations == 0 || iterations > 1_000 {
        return Err(Error::invalid(
            "osem",
            format!("{subsets} subsets, {iterations} iterations; expected 1 to views, 1 to 1000"),
        ));
    }
    let voxels = g.n * g.n * g.nz;
    let mut x = vec![1.0; voxels];
    let ones = vec![1.0; p.bins()];
    let sensitivity: Vec<Vec<f64>> = (0..subsets)
        .map(|s| {
            let mut sens = vec![0.0; voxels];
            for v in (s..g.views).step_by(subsets) {
                p.back(&ones, v, &mut sens);
            }
            sens
        })
        .collect();
    for _ in 0..iterations {
        for (s, sens) in sensitivity.iter().enumerate() {
            let mut correction = vec![0.0; voxels];
            for v in (s..g.views).step_by(subsets) {
                let mut expected = p.forward(&x, v);
                if let Some(b) = background {
                    for (e, s) in expected.iter_mut().zip(&b[v]) {
                        *e += s;
                    }
                }
                let ratio: Vec<f64> = projections[v]
                    .iter()
                    .zip(&expected)
                    .map(|(m, e)| if *e > 1e-30 { m / e } else { 0.0 })
                    .collect();
                p.back(&ratio, v, &mut correction);
            }
            for ((xi, ci), si) in x.iter_mut().zip(&correction).zip(sens) {
                *xi = if *si > 1e-30 { *xi * ci / si } else { 0.0 };
            }
        }
    }
    Ok(x)
}
