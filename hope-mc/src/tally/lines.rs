//! Dose along lines through a volume: depth doses along a beam's axis and profiles across it,
//! sampled voxel by voxel (the value of the voxel holding each point, no interpolation).

use hope_core::{Vec3, Volume};

/// One sample of a line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinePoint {
    /// Distance along the line from where it enters the grid (depth lines) or from its centre
    /// (profiles), mm.
    pub distance_mm: f64,
    /// The point, patient coordinates, mm.
    pub point: Vec3,
    /// The dose of the voxel holding the point.
    pub dose: f64,
    /// Its relative uncertainty (1 sigma).
    pub relative_uncertainty: f64,
}

/// The most samples of one line.
pub const MAX_SAMPLES: usize = 100_000;

fn step_of(dose: &Volume<f64>) -> f64 {
    let s = dose.grid().spacing();
    s.x.min(s.y).min(s.z)
}

fn sample(dose: &Volume<f64>, unc: &Volume<f64>, p: Vec3, distance_mm: f64) -> Option<LinePoint> {
    let v = dose.grid().voxel_at(p)?;
    Some(LinePoint {
        distance_mm,
        point: p,
        dose: *dose.get(v)?,
        relative_uncertainty: *unc.get(v)?,
    })
}

/// The dose along the ray from `start` in `direction` (need not be normalised), from where it
/// enters the grid to where it leaves, every smallest voxel size; empty if it misses the grid.
pub fn depth_dose(
    dose: &Volume<f64>,
    unc: &Volume<f64>,
    start: Vec3,
    direction: Vec3,
) -> Vec<LinePoint> {
    let n = direction.norm();
    if !(n.is_finite() && n > 0.0) {
        return Vec::new();
    }
    let d = direction * (1.0 / n);
    let step = step_of(dose);
    let g = dose.grid();
    let dims = g.dims();
    let far = g.index_to_point([dims[0] as f64, dims[1] as f64, dims[2] as f64]);
    let near = g.index_to_point([-1.0, -1.0, -1.0]);
    // Far enough to cross the whole grid from the start.
    let reach = (start - near).norm().max((start - far).norm()) + (far - near).norm();
    let mut out = Vec::new();
    let mut entry = None;
    let mut t = 0.0;
    while t <= reach && out.len() < MAX_SAMPLES {
        let p = start + d * t;
        if g.voxel_at(p).is_some() {
            let t0 = *entry.get_or_insert(t);
            if let Some(s) = sample(dose, unc, p, t - t0) {
                out.push(s);
            }
        } else if entry.is_some() {
            break;
        }
        // Before the grid, search in quarter steps so that the entry is found within one.
        t += if entry.is_some() { step } else { step / 4.0 };
    }
    out
}

/// The dose along the segment from `from` to `to`, every smallest voxel size (distances from
/// `from`), the points inside the grid.
pub fn segment(dose: &Volume<f64>, unc: &Volume<f64>, from: Vec3, to: Vec3) -> Vec<LinePoint> {
    let d = to - from;
    let len = d.norm();
    if !(len.is_finite() && len > 0.0) {
        return Vec::new();
    }
    let step = step_of(dose);
    let count = ((len / step).floor() as usize).min(MAX_SAMPLES);
    (0..=count)
        .filter_map(|i| {
            let s = i as f64 * step;
            sample(dose, unc, from + d * (s / len), s)
        })
        .collect()
}

/// The dose across `direction` through `centre`: from -`half_width_mm` to +`half_width_mm`,
/// every smallest voxel size, the points inside the grid.
pub fn profile(
    dose: &Volume<f64>,
    unc: &Volume<f64>,
    centre: Vec3,
    direction: Vec3,
    half_width_mm: f64,
) -> Vec<LinePoint> {
    let n = direction.norm();
    if !(n.is_finite() && n > 0.0 && half_width_mm.is_finite()) {
        return Vec::new();
    }
    let d = direction * (1.0 / n);
    let step = step_of(dose);
    let count = ((2.0 * half_width_mm / step).floor() as usize).min(MAX_SAMPLES);
    (0..=count)
        .filter_map(|i| {
            let s = -half_width_mm + i as f64 * step;
            sample(dose, unc, centre + d * s, s)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_find_the_voxels_they_cross() {
        let grid = hope_core::Grid::builder([10, 10, 20])
            .spacing([2.0, 2.0, 1.0])
            .origin([-9.0, -9.0, 0.5])
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        // Dose = the voxel's k; uncertainty 1 %.
        let data: Vec<f64> = (0..grid.voxel_count()).map(|o| (o / 100) as f64).collect();
        let dose = Volume::new(grid.clone(), data).unwrap_or_else(|e| panic!("{e}"));
        let unc = dose.map(|_| 0.01);
        let dd = depth_dose(
            &dose,
            &unc,
            Vec3::new(0.5, 0.5, -30.0),
            Vec3::new(0.0, 0.0, 2.0),
        );
        assert_eq!(dd.len(), 20);
        assert!(dd[0].distance_mm.abs() < 0.26);
        for (k, p) in dd.iter().enumerate() {
            assert_eq!(p.dose, k as f64);
            assert_eq!(p.relative_uncertainty, 0.01);
        }
        assert!(
            depth_dose(
                &dose,
                &unc,
                Vec3::new(50.0, 0.0, -30.0),
                Vec3::new(0.0, 0.0, 1.0)
            )
            .is_empty()
        );
        let pr = profile(
            &dose,
            &unc,
            Vec3::new(0.5, 0.5, 10.0),
            Vec3::new(1.0, 0.0, 0.0),
            30.0,
        );
        // 20 mm of grid across, one sample per mm.
        assert!((19..=21).contains(&pr.len()), "{}", pr.len());
        assert!(pr.iter().all(|p| p.dose == 9.0 || p.dose == 10.0));
    }
}
