//! Dose-volume histograms: the cumulative DVH of a structure (a voxel mask on the dose grid),
//! with the usual figures (D_x: the minimum dose to the hottest x % of the volume; V_d: the
//! fraction of the volume receiving at least d; mean, minimum and maximum dose).

use hope_core::Volume;

use crate::{Error, Result};

/// The cumulative DVH of one structure.
#[derive(Debug, Clone, PartialEq)]
pub struct Dvh {
    /// Doses of the structure's voxels, ascending.
    doses: Vec<f64>,
    /// Each voxel's share of the structure's volume (1 for a whole voxel; a partial-volume
    /// fraction from an RT Structure Set mask), in the order of `doses`.
    weights: Vec<f64>,
    /// From the top: `above[i]` is the weight of voxels `i..`.
    above: Vec<f64>,
}

/// The usual figures of a DVH.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DvhMetrics {
    /// D98, D95, D50, D2: the minimum dose to the hottest 98, 95, 50 and 2 % of the volume.
    pub d98: f64,
    /// D95.
    pub d95: f64,
    /// D50.
    pub d50: f64,
    /// D2.
    pub d2: f64,
    /// The mean dose.
    pub mean: f64,
    /// The minimum and maximum voxel doses.
    pub min: f64,
    /// The maximum voxel dose.
    pub max: f64,
    /// (d, V_d): the fraction of the volume receiving at least d, for the doses asked.
    pub v: Vec<(f64, f64)>,
    /// The volume, in voxels (fractions added).
    pub voxels: f64,
}

impl Dvh {
    /// The DVH of the voxels where `mask` is true; the mask must be on the dose's grid (same
    /// dimensions) and select at least one voxel.
    pub fn new(dose: &Volume<f64>, mask: &Volume<bool>) -> Result<Self> {
        Self::weighted(dose, &mask.map(|m| if *m { 1.0f32 } else { 0.0 }))
    }

    /// The DVH of a structure given as each voxel's fraction inside it (0 to 1, partial volume:
    /// what [`hope_dicom`'s RT Structure Set masks](https://docs.rs/hope-dicom) give); on the
    /// dose's grid, with some volume inside.
    pub fn weighted(dose: &Volume<f64>, fractions: &Volume<f32>) -> Result<Self> {
        if dose.grid().dims() != fractions.grid().dims() {
            return Err(Error::Phantom {
                message: format!(
                    "DVH mask of {:?} voxels for a dose grid of {:?}",
                    fractions.grid().dims(),
                    dose.grid().dims()
                ),
            });
        }
        let mut pairs: Vec<(f64, f64)> = dose
            .data()
            .iter()
            .zip(fractions.data())
            .filter(|(_, f)| **f > 0.0)
            .map(|(d, f)| (*d, f64::from(f.min(1.0))))
            .collect();
        if pairs.is_empty() || pairs.iter().any(|(d, _)| !d.is_finite()) {
            return Err(Error::Phantom {
                message: "DVH mask selects no voxel, or a selected dose is not finite".into(),
            });
        }
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (doses, weights): (Vec<f64>, Vec<f64>) = pairs.into_iter().unzip();
        let mut above = vec![0.0; weights.len()];
        let mut acc = 0.0;
        for i in (0..weights.len()).rev() {
            acc += weights[i];
            above[i] = acc;
        }
        Ok(Self {
            doses,
            weights,
            above,
        })
    }

    /// Voxels in the structure (with some volume inside).
    pub fn voxels(&self) -> usize {
        self.doses.len()
    }

    /// The structure's volume in voxels (partial-volume fractions added).
    pub fn volume_voxels(&self) -> f64 {
        self.above[0]
    }

    /// Mean dose (volume-weighted).
    pub fn mean(&self) -> f64 {
        self.doses
            .iter()
            .zip(&self.weights)
            .map(|(d, w)| d * w)
            .sum::<f64>()
            / self.above[0]
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
        self.above.get(below).map_or(0.0, |a| a / self.above[0])
    }

    /// D_x: the minimum dose received by the hottest fraction `x` (0 to 1) of the volume.
    pub fn dose_to_fraction(&self, x: f64) -> f64 {
        let target = x.clamp(0.0, 1.0) * self.above[0] * (1.0 - 1e-12);
        // The last voxel (from the bottom) with at least `target` of the volume at or above it.
        let k = self.above.partition_point(|a| *a >= target);
        self.doses[k.saturating_sub(1)]
    }

    /// D98, D95, D50, D2, mean, minimum, maximum, and V_d for each of `v_doses`.
    pub fn metrics(&self, v_doses: &[f64]) -> DvhMetrics {
        DvhMetrics {
            d98: self.dose_to_fraction(0.98),
            d95: self.dose_to_fraction(0.95),
            d50: self.dose_to_fraction(0.50),
            d2: self.dose_to_fraction(0.02),
            mean: self.mean(),
            min: self.min(),
            max: self.max(),
            v: v_doses
                .iter()
                .map(|&d| (d, self.volume_at_least(d)))
                .collect(),
            voxels: self.volume_voxels(),
        }
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

    /// The volume fraction of a sphere of radius 1 where x >= a (a spherical cap).
    fn cap(a: f64) -> f64 {
        (1.0 - a) * (1.0 - a) * (2.0 + a) / 4.0
    }

    #[test]
    fn dvh_metrics_of_a_linear_dose_in_a_sphere_match_the_closed_forms() {
        // A sphere of radius R = 20 mm on a 1 mm grid, as partial-volume fractions (4^3 points a
        // voxel), in a dose D0 (1 + x / R): V(D0 (1 + a)) is the cap fraction (1-a)^2 (2+a)/4,
        // and D_p the dose where the cap is p.
        let (r, d0) = (20.0, 2.0);
        let grid = Grid::builder([45, 45, 45])
            .spacing([1.0, 1.0, 1.0])
            .origin([-22.0, -22.0, -22.0])
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let fractions = Volume::from_fn(grid.clone(), |[i, j, k]| {
            let mut inside = 0;
            for s in 0..64 {
                let o = [s % 4, (s / 4) % 4, s / 16].map(|q| (q as f64 + 0.5) / 4.0 - 0.5);
                let p = grid.index_to_point([i as f64 + o[0], j as f64 + o[1], k as f64 + o[2]]);
                if p.norm() < r {
                    inside += 1;
                }
            }
            inside as f32 / 64.0
        });
        let dose = Volume::from_fn(grid.clone(), |[i, j, k]| {
            d0 * (1.0 + grid.index_to_point([i as f64, j as f64, k as f64]).x / r)
        });
        let h = Dvh::weighted(&dose, &fractions).unwrap_or_else(|e| panic!("{e}"));
        // The volume: 4/3 pi R^3 = 33,510 mm^3 within the sampling's error.
        let sphere = 4.0 / 3.0 * std::f64::consts::PI * r.powi(3);
        assert!(
            (h.volume_voxels() / sphere - 1.0).abs() < 0.002,
            "{}",
            h.volume_voxels()
        );
        // V_d at doses between two planes of voxel centres (x = 10.5 and -9.5 mm): a dose on a
        // plane of centres would count that whole layer of voxels.
        let m = h.metrics(&[d0 * (1.0 + 10.5 / r), d0 * (1.0 - 9.5 / r)]);
        // D_p: solve cap(a) = p by bisection.
        let d_at = |p: f64| {
            let (mut lo, mut hi) = (-1.0f64, 1.0f64);
            for _ in 0..100 {
                let mid = 0.5 * (lo + hi);
                if cap(mid) > p {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            d0 * (1.0 + 0.5 * (lo + hi))
        };
        // A voxel's dose is its centre's: D_p within half a voxel's dose step (D0 / 40).
        for (got, p) in [(m.d98, 0.98), (m.d95, 0.95), (m.d50, 0.5), (m.d2, 0.02)] {
            let want = d_at(p);
            assert!(
                (got - want).abs() < d0 / 40.0,
                "D{}: {got} vs {want}",
                p * 100.0
            );
        }
        assert!((m.mean / d0 - 1.0).abs() < 1e-3, "{}", m.mean);
        assert!(
            (m.v[0].1 - cap(0.525)).abs() < 0.003,
            "{:?} vs {}",
            m.v,
            cap(0.525)
        );
        assert!(
            (m.v[1].1 - cap(-0.475)).abs() < 0.003,
            "{:?} vs {}",
            m.v,
            cap(-0.475)
        );
    }
}
