//! Sources: energy spectra (one line, line tables) and emission geometries (isotropic point,
//! pencil beam), in patient coordinates (mm).

use hope_core::Vec3;

use crate::rng::Rng;
use crate::transport::{Transport, isotropic};
use crate::{Error, Result};

/// Photon energies emitted.
#[derive(Debug, Clone, PartialEq)]
pub enum Spectrum {
    /// One energy, eV.
    Mono(f64),
    /// Lines: (energy eV, relative intensity); sampled by their cumulative distribution.
    Lines(Vec<(f64, f64)>),
}

impl Spectrum {
    /// A line spectrum; errors name a bad line.
    pub fn lines(lines: &[(f64, f64)]) -> Result<Self> {
        if lines.is_empty() {
            return Err(Error::Source {
                message: "a line spectrum without lines".into(),
            });
        }
        for &(e, w) in lines {
            if !(e.is_finite() && e > 0.0 && w.is_finite() && w >= 0.0) {
                return Err(Error::Source {
                    message: format!(
                        "line ({e} eV, intensity {w}): expected a positive energy and a non-negative intensity"
                    ),
                });
            }
        }
        let total: f64 = lines.iter().map(|l| l.1).sum();
        if total <= 0.0 {
            return Err(Error::Source {
                message: "line intensities sum to zero".into(),
            });
        }
        Ok(Spectrum::Lines(
            lines.iter().map(|&(e, w)| (e, w / total)).collect(),
        ))
    }

    /// The mean energy, eV.
    pub fn mean(&self) -> f64 {
        match self {
            Spectrum::Mono(e) => *e,
            Spectrum::Lines(l) => l.iter().map(|(e, w)| e * w).sum(),
        }
    }

    pub(crate) fn sample(&self, rng: &mut Rng) -> f64 {
        match self {
            Spectrum::Mono(e) => *e,
            Spectrum::Lines(l) => {
                let mut u = rng.uniform();
                for &(e, w) in l {
                    if u < w {
                        return e;
                    }
                    u -= w;
                }
                l[l.len() - 1].0
            }
        }
    }
}

/// Where and how photons start.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// An isotropic point source at a position (mm, patient coordinates).
    Point {
        /// Position, mm.
        position: Vec3,
        /// Energies.
        spectrum: Spectrum,
    },
    /// A pencil beam from a position along a direction.
    Pencil {
        /// Start, mm (may be outside the phantom).
        position: Vec3,
        /// Direction (need not be normalised).
        direction: Vec3,
        /// Energies.
        spectrum: Spectrum,
    },
    /// An isotropic source distributed over voxels in proportion to their activity (a PET or
    /// SPECT activity volume, in any grid), uniform within each voxel.
    Voxelised(Box<VoxelisedActivity>),
}

/// An activity volume prepared for sampling.
#[derive(Debug, Clone, PartialEq)]
pub struct VoxelisedActivity {
    grid: hope_core::Grid,
    /// Voxel offsets with activity, and the cumulative activity up to each (normalised to 1).
    voxels: Vec<usize>,
    cumulative: Vec<f64>,
    spectrum: Spectrum,
    total: f64,
}

impl VoxelisedActivity {
    /// From an activity volume (any unit: only the proportions matter) and the energies emitted.
    /// Negative or non-finite activities are refused with the voxel named.
    pub fn new(activity: &hope_core::Volume<f32>, spectrum: Spectrum) -> Result<Self> {
        let mut voxels = Vec::new();
        let mut cumulative = Vec::new();
        let mut total = 0.0f64;
        for (i, &a) in activity.data().iter().enumerate() {
            if !(a.is_finite() && a >= 0.0) {
                return Err(Error::Source {
                    message: format!(
                        "activity of voxel {:?}: {a}; expected a finite non-negative value",
                        activity.grid().index_of(i)
                    ),
                });
            }
            if a > 0.0 {
                total += f64::from(a);
                voxels.push(i);
                cumulative.push(total);
            }
        }
        if total <= 0.0 {
            return Err(Error::Source {
                message: "the activity volume holds no activity".into(),
            });
        }
        for c in &mut cumulative {
            *c /= total;
        }
        Ok(Self {
            grid: activity.grid().clone(),
            voxels,
            cumulative,
            spectrum,
            total,
        })
    }

    /// The total activity (in the volume's unit, summed over voxels).
    pub fn total(&self) -> f64 {
        self.total
    }

    /// A point (mm, patient coordinates) drawn from the distribution.
    fn sample_point(&self, rng: &mut Rng) -> Vec3 {
        let u = rng.uniform();
        let k = self
            .cumulative
            .partition_point(|&c| c <= u)
            .min(self.voxels.len() - 1);
        let [i, j, l] = self.grid.index_of(self.voxels[k]).unwrap_or([0, 0, 0]);
        self.grid.index_to_point([
            i as f64 + rng.uniform() - 0.5,
            j as f64 + rng.uniform() - 0.5,
            l as f64 + rng.uniform() - 0.5,
        ])
    }
}

impl Source {
    /// (position and direction in the phantom's local frame, energy eV).
    pub(crate) fn sample(&self, t: &Transport, rng: &mut Rng) -> ([f64; 3], [f64; 3], f64) {
        match self {
            Source::Point { position, spectrum } => {
                (t.to_local(*position), isotropic(rng), spectrum.sample(rng))
            }
            Source::Pencil {
                position,
                direction,
                spectrum,
            } => (
                t.to_local(*position),
                t.dir_to_local(*direction),
                spectrum.sample(rng),
            ),
            Source::Voxelised(v) => (
                t.to_local(v.sample_point(rng)),
                isotropic(rng),
                v.spectrum.sample(rng),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hope_core::{Grid, Volume};

    #[test]
    fn voxelised_sources_follow_the_activity() {
        let grid = Grid::builder([4, 1, 1])
            .spacing([10.0, 10.0, 10.0])
            .origin([5.0, 5.0, 5.0])
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let activity =
            Volume::new(grid, vec![1.0, 0.0, 3.0, 0.0]).unwrap_or_else(|e| panic!("{e}"));
        let v = VoxelisedActivity::new(&activity, Spectrum::Mono(1e5))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v.total(), 4.0);
        let mut rng = Rng::for_batch(5, 0);
        let n = 100_000;
        let mut counts = [0u32; 4];
        for _ in 0..n {
            let p = v.sample_point(&mut rng);
            assert!(p.y >= 0.0 && p.y <= 10.0 && p.z >= 0.0 && p.z <= 10.0);
            counts[(p.x / 10.0).floor().clamp(0.0, 3.0) as usize] += 1;
        }
        assert_eq!((counts[1], counts[3]), (0, 0));
        let frac = f64::from(counts[2]) / f64::from(n);
        assert!((frac - 0.75).abs() < 0.01, "{frac}");
        let bad = Volume::new(activity.grid().clone(), vec![1.0, -1.0, 0.0, 0.0])
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(VoxelisedActivity::new(&bad, Spectrum::Mono(1e5)).is_err());
        let none = Volume::filled(activity.grid().clone(), 0.0f32);
        assert!(VoxelisedActivity::new(&none, Spectrum::Mono(1e5)).is_err());
    }
}
