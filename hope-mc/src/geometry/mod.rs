//! Geometry: the voxel phantom ([`Phantom`]), its voxels stored in blocks in a local frame
//! (`lattice`), rays through them (`ray`) and the frame that takes patient coordinates (mm) to
//! local ones (cm).

mod lattice;
mod phantom;
mod ray;
pub mod solids;

pub(crate) use lattice::{Lattice, ScoringGrid, cell_index};
pub use phantom::Phantom;
pub(crate) use ray::Ray;

use hope_core::{Grid, Vec3};

/// The phantom's local frame: cm from the corner of voxel 0, axes along the grid's. Sources place
/// their particles through it.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    grid: Grid,
    voxel_cm: [f64; 3],
}

impl Frame {
    /// The frame of `grid` with voxels of `voxel_cm` (the grid's spacing in cm).
    pub(crate) fn new(grid: Grid, voxel_cm: [f64; 3]) -> Self {
        Self { grid, voxel_cm }
    }

    /// A point in patient coordinates (mm) to the local frame (cm).
    pub(crate) fn to_local(&self, p: Vec3) -> [f64; 3] {
        let idx = self.grid.point_to_index(p);
        [
            (idx[0] + 0.5) * self.voxel_cm[0],
            (idx[1] + 0.5) * self.voxel_cm[1],
            (idx[2] + 0.5) * self.voxel_cm[2],
        ]
    }

    /// A point in the local frame (cm) to patient coordinates (mm).
    pub(crate) fn to_patient(&self, p: [f64; 3]) -> Vec3 {
        self.grid.index_to_point([
            p[0] / self.voxel_cm[0] - 0.5,
            p[1] / self.voxel_cm[1] - 0.5,
            p[2] / self.voxel_cm[2] - 0.5,
        ])
    }

    /// A direction in the local frame to patient coordinates.
    pub(crate) fn dir_to_patient(&self, d: [f64; 3]) -> Vec3 {
        let r = self.grid.direction();
        r[0] * d[0] + r[1] * d[1] + r[2] * d[2]
    }

    /// A direction in patient coordinates to the local frame.
    pub(crate) fn dir_to_local(&self, d: Vec3) -> [f64; 3] {
        let r = self.grid.direction();
        let n = d.norm();
        [r[0].dot(d) / n, r[1].dot(d) / n, r[2].dot(d) / n]
    }
}
