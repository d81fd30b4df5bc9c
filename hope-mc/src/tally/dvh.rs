//! Dose-volume histograms: the cumulative DVH of a structure (a voxel mask on the dose grid),
//! with the usual figures (D_x: the minimum dose to the hottest x % of the volume; V_d: the
//! fraction of the volume receiving at least d; mean, minimum and maximum dose).

use hope_core::Volume;

use crate::{Error, Result};

/// The cumulative DVH of one structure.
#[derive(Debug, Clone, PartialEq)]
pub struct Dvh {
    /// Doses of the structure's voxels, ascending (voxels of equal volume).
    doses: Vec<f64>,
}

impl Dvh {
    /// The DVH of the voxels where `mask` is true; the mask must be on the dose's grid (same
    /// dimensions) and select at least one voxel.
    pub fn new(dose: &Volume<f64>, mask: &Volume<bool>) -> Result<Self> {
        if dose.grid().dims() != mask.grid().dims() {
            return Err(Error::Phantom {
                message: format!(
                    "DVH mask of {:?} voxels for a dose grid of {:?}",
                    mask.grid().dims(),
                    dose.grid().dims()
                ),
            });
        }
        let mut doses: Vec<f64> = dose
            .data()
            .iter()
            .zip(mask.data())
            .filter(|(_, m)| **m)
            .map(|(d, _)| *d)
            .collect();
        if doses.is_empty() {
            return Err(Error::Phantom {
                message: "DVH mask selects no voxel".into(),
            });
        }
        doses.sort_by(f64::total_cmp);
        Ok(Self { doses })
    }

    /// Voxels in the structure.
    pub fn voxels(&self) -> usize {
        self.doses.len()
    }

    /// Mean dose.
    pub fn mean(&self) -> f64 {
        self.doses.iter().sum::<f64>() / self.doses.len() as f64
    }

    /// Minimum dose.
    pub fn min(&self) -> f64 {
        self.doses[0]
    }

    /// Maximum dose.
    pub fn max(&self) -> f64 {
        self.doses[self.doses.len() - 1]
    }

    /// V_d: the fraction of the volume receiving at least `dose`.
    pub fn volume_at_least(&self, dose: f64) -> f64 {
        let below = self.doses.partition_point(|d| *d < dose);
        (self.doses.len() - below) as f64 / self.doses.len() as f64
    }

    /// D_x: the minimum dose received by the hottest fraction `x` (0 to 1) of the volume.
    pub fn dose_to_fraction(&self, x: f64) -> f64 {
        let n = self.doses.len();
        let k = ((x.clamp(0.0, 1.0) * n as f64).ceil() as usize).clamp(1, n);
        self.doses[n - k]
    }

    /// The cumulative curve at `bins` + 1 equally spaced doses from 0 to the maximum: (dose,
    /// fraction of the volume receiving at least that dose).
    pub fn curve(&self, bins: usize) -> Vec<(f64, f64)> {
        let bins = bins.max(1);
        let max = self.max();
        (0..=bins)
            .map(|i| {
                let d = max * i as f64 / bins as f64;
                (d, self.volume_at_least(d))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hope_core::Grid;

    #[test]
    fn dvh_figures_of_a_known_distribution() {
        let grid = Grid::new([10, 10, 1], [1.0, 1.0, 1.0]).unwrap_or_else(|e| panic!("{e}"));
        // Doses 0..99 Gy, one per voxel; the structure is the upper half (50..99).
        let dose = Volume::from_fn(grid.clone(), |[i, j, _]| (i + 10 * j) as f64);
        let mask = Volume::from_fn(grid.clone(), |[_, j, _]| j >= 5);
        let h = Dvh::new(&dose, &mask).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(h.voxels(), 50);
        assert_eq!((h.min(), h.max()), (50.0, 99.0));
        assert!((h.mean() - 74.5).abs() < 1e-12);
        assert!((h.volume_at_least(90.0) - 0.2).abs() < 1e-12);
        assert!((h.volume_at_least(0.0) - 1.0).abs() < 1e-12);
        assert_eq!(h.dose_to_fraction(0.1), 95.0);
        assert_eq!(h.dose_to_fraction(1.0), 50.0);
        let c = h.curve(99);
        assert_eq!(c[0], (0.0, 1.0));
        assert!(c.windows(2).all(|w| w[1].1 <= w[0].1));
        let empty = Volume::from_fn(grid, |_| false);
        assert!(Dvh::new(&dose, &empty).is_err());
    }
}
