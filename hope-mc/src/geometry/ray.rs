//! Rays through a lattice, voxel by voxel (Amanatides and Woo 1987).

use super::lattice::{Lattice, cell_index};

/// A ray walking through the voxels (Amanatides and Woo 1987), in the local frame.
pub(crate) struct Ray {
    pub(crate) idx: [i64; 3],
    pub(crate) step: [i64; 3],
    pub(crate) t_max: [f64; 3],
    pub(crate) t_delta: [f64; 3],
    /// Distance walked so far, cm.
    pub(crate) t: f64,
    pub(crate) len: f64,
    pub(crate) done: bool,
}

impl Ray {
    pub(crate) fn new(lattice: &Lattice, pos: &[f64; 3], dir: &[f64; 3], len: f64) -> Self {
        let mut ray = Self {
            idx: [0; 3],
            step: [0; 3],
            t_max: [f64::INFINITY; 3],
            t_delta: [f64::INFINITY; 3],
            t: 0.0,
            len,
            done: len <= 0.0,
        };
        for a in 0..3 {
            let (pos, size) = (pos[a] - lattice.offset[a], lattice.voxel_cm[a]);
            // Truncation, not floor: they differ only below zero, where both clamp to voxel 0
            // (and floor is a library call on the x86_64 baseline).
            let i = ((pos / size) as i64).clamp(0, lattice.dims[a] as i64 - 1);
            ray.idx[a] = i;
            if dir[a] > 0.0 {
                ray.step[a] = 1;
                ray.t_max[a] = ((i + 1) as f64 * size - pos) / dir[a];
                ray.t_delta[a] = size / dir[a];
            } else if dir[a] < 0.0 {
                ray.step[a] = -1;
                ray.t_max[a] = (i as f64 * size - pos) / dir[a];
                ray.t_delta[a] = -size / dir[a];
            }
        }
        ray
    }

    /// The next voxel crossed: (cell, distance to its entry, length within it).
    #[inline]
    pub(crate) fn next(&mut self, lattice: &Lattice) -> Option<(usize, f64, f64)> {
        if self.done {
            return None;
        }
        let voxel = cell_index(
            lattice.blocks,
            self.idx[0] as usize,
            self.idx[1] as usize,
            self.idx[2] as usize,
        );
        let a = if self.t_max[0] < self.t_max[1] {
            if self.t_max[0] < self.t_max[2] { 0 } else { 2 }
        } else if self.t_max[1] < self.t_max[2] {
            1
        } else {
            2
        };
        let start = self.t;
        // Plain comparisons (one instruction each; f64::min/max also order NaNs, which cannot
        // occur here).
        let mut next = self.t_max[a];
        if self.len < next {
            next = self.len;
        }
        if next < start {
            next = start;
        }
        self.t = next;
        if next >= self.len {
            self.done = true;
        } else {
            self.idx[a] += self.step[a];
            self.t_max[a] += self.t_delta[a];
            if self.idx[a] < 0 || self.idx[a] >= lattice.dims[a] as i64 {
                self.done = true;
            }
        }
        Some((voxel, start, next - start))
    }
}
