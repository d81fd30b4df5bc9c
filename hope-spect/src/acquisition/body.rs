//! The patient (or phantom) as the acquisition simulator sees it: voxels of a material and a
//! density, activity per voxel, photon coefficients tabulated per material, delta (Woodcock)
//! tracking for the photons' flights and exact ray sums for the forced-detection attenuation.
//!
//! Frame (cm): the volume's centre at the origin, its voxel axes along x, y, z; the axis of
//! rotation is the z axis.

use hope_core::Volume;
use hope_mc::Phantom;
use hope_mc::rng::Rng;

use crate::{Error, Result};

/// The mass attenuation coefficient an attenuation map uses, cm^2/g: photoelectric absorption,
/// Compton scattering and pair production, not Rayleigh scattering, whose photons keep their
/// energy and (with the form factors) nearly their direction, so that they stay in the
/// photopeak where they would have been seen.
pub(crate) fn attenuation(m: &hope_mc::Material, energy_ev: f64) -> f64 {
    use hope_mc::data::Process;
    m.mu_rho(energy_ev) - m.mu_rho_process(Process::Coherent, energy_ev)
}

/// Voxels, materials and activity, ready for transport.
#[derive(Debug, Clone)]
pub struct Body {
    pub(crate) dims: [usize; 3],
    pub(crate) voxel_cm: [f64; 3],
    pub(crate) half_cm: [f64; 3],
    material: Vec<u16>,
    density: Vec<f32>,
    names: Vec<String>,
    materials: Vec<hope_mc::Material>,
    /// Highest density of each material in the volume.
    rho_max: Vec<f64>,
    /// Cumulative activity over the voxels, Bq.
    cumulative: Vec<f64>,
}

impl Body {
    /// The body of a phantom (materials and densities) and an activity volume (Bq per voxel) on
    /// the same grid, which must be axis-aligned.
    pub fn new(phantom: &Phantom, activity: &Volume<f32>) -> Result<Body> {
        let grid = phantom.grid();
        if !grid.same_geometry(activity.grid(), 1e-3) {
            return Err(Error::invalid(
                "activity",
                "the activity volume's grid differs from the phantom's",
            ));
        }
        if !grid.is_axis_aligned() {
            return Err(Error::invalid(
                "phantom",
                "the grid must be axis-aligned (resample it first)",
            ));
        }
        let dims = grid.dims();
        if dims.iter().any(|d| *d > 2048) || dims.iter().product::<usize>() > 256 << 20 {
            return Err(Error::invalid(
                "phantom",
                format!("{dims:?} voxels; at most 2048 per axis and 2^28 in all"),
            ));
        }
        let s = grid.spacing();
        let voxel_cm = [s.x / 10.0, s.y / 10.0, s.z / 10.0];
        let half_cm = [
            dims[0] as f64 * voxel_cm[0] / 2.0,
            dims[1] as f64 * voxel_cm[1] / 2.0,
            dims[2] as f64 * voxel_cm[2] / 2.0,
        ];
        let mut cumulative = Vec::with_capacity(activity.data().len());
        let mut sum = 0.0;
        for (i, a) in activity.data().iter().enumerate() {
            if !(a.is_finite() && *a >= 0.0) {
                return Err(Error::invalid(
                    "activity",
                    format!("voxel {i}: {a} Bq; expected a finite value >= 0"),
                ));
            }
            sum += f64::from(*a);
            cumulative.push(sum);
        }
        let materials = phantom.materials().to_vec();
        let mut rho_max = vec![0.0f64; materials.len()];
        for (m, d) in phantom.material_indices().iter().zip(phantom.densities()) {
            let r = &mut rho_max[usize::from(*m)];
            *r = r.max(f64::from(*d));
        }
        Ok(Body {
            dims,
            voxel_cm,
            half_cm,
            material: phantom.material_indices().to_vec(),
            density: phantom.densities().to_vec(),
            names: materials.iter().map(|m| m.name().to_string()).collect(),
            materials,
            rho_max,
            cumulative,
        })
    }

    /// A point source of `bq` Bq in vacuum at the centre of a single voxel of `voxel_cm`: the
    /// calibration acquisition.
    pub fn point_in_air(bq: f64, voxel_cm: f64) -> Result<Body> {
        crate::error::check_ranges(&[("bq", bq, 1e-30, 1e20), ("voxel_cm", voxel_cm, 1e-4, 10.0)])?;
        let grid = hope_core::Grid::new([1, 1, 1], [voxel_cm * 10.0; 3])
            .map_err(|e| Error::invalid("voxel_cm", e.to_string()))?;
        let phantom = Phantom::new(
            grid.clone(),
            vec![hope_mc::Material::builtin("air")?],
            vec![0],
            vec![0.0],
        )?;
        Body::new(&phantom, &Volume::filled(grid, bq as f32))
    }

    /// Total activity, Bq.
    pub fn activity_bq(&self) -> f64 {
        self.cumulative.last().copied().unwrap_or(0.0)
    }

    /// The names of the materials.
    pub fn material_names(&self) -> &[String] {
        &self.names
    }

    /// The linear attenuation coefficient of each voxel at `energy_ev` (without Rayleigh
    /// scattering, whose photons keep their energy and nearly their direction), 1/cm, x fastest:
    /// the attenuation map of the reconstruction.
    pub fn mu_map(&self, energy_ev: f64) -> Vec<f64> {
        let mu: Vec<f64> = self
            .materials
            .iter()
            .map(|m| attenuation(m, energy_ev))
            .collect();
        self.material
            .iter()
            .zip(&self.density)
            .map(|(m, d)| mu[usize::from(*m)] * f64::from(*d))
            .collect()
    }

    /// The linear attenuation coefficient at `energy_ev` (1/cm; without Rayleigh scattering, as
    /// [`Body::mu_map`]) on the reconstruction's grid of `n x n x nz` cubes of `voxel_cm` centred
    /// on the axis (x fastest), each the mean of 3 x 3 x 3 points of this body (0 outside).
    pub fn mu_on(&self, n: usize, nz: usize, voxel_cm: f64, energy_ev: f64) -> Vec<f64> {
        let mu: Vec<f64> = self
            .materials
            .iter()
            .map(|m| attenuation(m, energy_ev))
            .collect();
        let mut out = Vec::with_capacity(n * n * nz);
        for z in 0..nz {
            for y in 0..n {
                for x in 0..n {
                    let mut acc = 0.0;
                    for s in 0..27 {
                        let o = |k: usize| (k as f64 + 0.5) / 3.0;
                        let p = [
                            (x as f64 + o(s % 3) - n as f64 / 2.0) * voxel_cm,
                            (y as f64 + o((s / 3) % 3) - n as f64 / 2.0) * voxel_cm,
                            (z as f64 + o(s / 9) - nz as f64 / 2.0) * voxel_cm,
                        ];
                        if let Some(i) = self.voxel(p) {
                            let (m, d) = self.at(i);
                            acc += mu[m] * d;
                        }
                    }
                    out.push(acc / 27.0);
                }
            }
        }
        out
    }

    /// The materials.
    pub(crate) fn materials(&self) -> &[hope_mc::Material] {
        &self.materials
    }

    /// A decay's position: a voxel by its activity, uniform inside it.
    pub(crate) fn sample_position(&self, rng: &mut Rng) -> [f64; 3] {
        let total = self.activity_bq();
        let r = rng.uniform() * total;
        let i = self
            .cumulative
            .partition_point(|c| *c <= r)
            .min(self.cumulative.len() - 1);
        let [nx, ny, _] = self.dims;
        let idx = [i % nx, (i / nx) % ny, i / (nx * ny)];
        let mut p = [0.0; 3];
        for a in 0..3 {
            p[a] = (idx[a] as f64 + rng.uniform()) * self.voxel_cm[a] - self.half_cm[a];
        }
        p
    }

    /// The voxel at `p`, if inside.
    #[inline]
    pub(crate) fn voxel(&self, p: [f64; 3]) -> Option<usize> {
        let mut idx = [0usize; 3];
        for a in 0..3 {
            let x = (p[a] + self.half_cm[a]) / self.voxel_cm[a];
            if !(x >= 0.0 && x < self.dims[a] as f64) {
                return None;
            }
            idx[a] = x as usize;
        }
        Some(idx[0] + self.dims[0] * (idx[1] + self.dims[1] * idx[2]))
    }

    /// The material and density of voxel `i`.
    #[inline]
    pub(crate) fn at(&self, i: usize) -> (usize, f64) {
        (usize::from(self.material[i]), f64::from(self.density[i]))
    }

    /// The majorant of the linear attenuation coefficient at `e`, 1/cm.
    #[inline]
    pub(crate) fn majorant(&self, physics: &hope_mc::physics::PhotonPhysics, e: f64) -> f64 {
        self.rho_max
            .iter()
            .enumerate()
            .map(|(m, r)| physics.mu_rho(m, e) * r)
            .fold(0.0, f64::max)
    }

    /// The distance along `u` from `p` (inside or on the box) to the box's surface.
    #[inline]
    pub(crate) fn to_surface(&self, p: [f64; 3], u: [f64; 3]) -> f64 {
        let mut t = f64::INFINITY;
        for a in 0..3 {
            if u[a] > 0.0 {
                t = t.min((self.half_cm[a] - p[a]) / u[a]);
            } else if u[a] < 0.0 {
                t = t.min((-self.half_cm[a] - p[a]) / u[a]);
            }
        }
        t.max(0.0)
    }

    /// The mass thickness (g/cm^2) of each material along the ray from `p` in direction `u` to
    /// the surface, into `out` (voxel by voxel, Amanatides and Woo).
    pub(crate) fn mass_paths(&self, p: [f64; 3], u: [f64; 3], out: &mut [f64]) {
        out.iter_mut().for_each(|x| *x = 0.0);
        let len = self.to_surface(p, u);
        if len <= 0.0 {
            return;
        }
        let mut idx = [0i64; 3];
        let mut step = [0i64; 3];
        let mut t_max = [f64::INFINITY; 3];
        let mut t_delta = [f64::INFINITY; 3];
        for a in 0..3 {
            let local = p[a] + self.half_cm[a];
            let i = ((local / self.voxel_cm[a]).max(0.0) as i64).min(self.dims[a] as i64 - 1);
            idx[a] = i;
            if u[a] > 0.0 {
                step[a] = 1;
                t_max[a] = ((i + 1) as f64 * self.voxel_cm[a] - local) / u[a];
                t_delta[a] = self.voxel_cm[a] / u[a];
            } else if u[a] < 0.0 {
                step[a] = -1;
                t_max[a] = (i as f64 * self.voxel_cm[a] - local) / u[a];
                t_delta[a] = -self.voxel_cm[a] / u[a];
            }
        }
        let (nx, ny) = (self.dims[0] as i64, self.dims[1] as i64);
        let mut t = 0.0f64;
        while t < len {
            let a = if t_max[0] <= t_max[1] && t_max[0] <= t_max[2] {
                0
            } else if t_max[1] <= t_max[2] {
                1
            } else {
                2
            };
            let end = t_max[a].min(len);
            let i = (idx[0] + nx * (idx[1] + ny * idx[2])) as usize;
            let (m, d) = self.at(i);
            out[m] += d * (end - t).max(0.0);
            t = end;
            idx[a] += step[a];
            if idx[a] < 0 || idx[a] >= self.dims[a] as i64 {
                break;
            }
            t_max[a] += t_delta[a];
        }
    }

    /// The number of materials.
    pub(crate) fn material_count(&self) -> usize {
        self.materials.len()
    }
}
