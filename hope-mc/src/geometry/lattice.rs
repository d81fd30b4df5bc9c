//! Voxels stored in blocks of 4 x 4 x 4 (cells), placed in the phantom's local frame (cm), and a
//! scoring grid apart from the phantom's.

use hope_core::Grid;

/// A grid of voxels stored in 4 x 4 x 4 blocks, placed in the phantom's local frame (cm).
#[derive(Debug, Clone)]
pub(crate) struct Lattice {
    /// The corner of voxel 0.
    pub(crate) offset: [f64; 3],
    pub(crate) voxel_cm: [f64; 3],
    /// 1 / `voxel_cm` (multiplications instead of divisions on the hot paths).
    pub(crate) inv_voxel_cm: [f64; 3],
    pub(crate) dims: [usize; 3],
    pub(crate) blocks: [usize; 3],
}

impl Lattice {
    pub(crate) fn new(offset: [f64; 3], voxel_cm: [f64; 3], dims: [usize; 3]) -> Self {
        Self {
            offset,
            voxel_cm,
            inv_voxel_cm: voxel_cm.map(|v| 1.0 / v),
            dims,
            blocks: dims.map(|d| d.div_ceil(4)),
        }
    }

    pub(crate) fn cells(&self) -> usize {
        self.blocks[0] * self.blocks[1] * self.blocks[2] * 64
    }

    /// The voxel indices of `pos`, if inside.
    #[inline]
    fn index_at(&self, pos: &[f64; 3]) -> Option<[usize; 3]> {
        let mut idx = [0usize; 3];
        for a in 0..3 {
            let i = (pos[a] - self.offset[a]) * self.inv_voxel_cm[a];
            if !(i >= 0.0 && i < self.dims[a] as f64) {
                return None;
            }
            idx[a] = i as usize;
        }
        Some(idx)
    }

    /// The cell holding `pos`, if inside.
    #[inline]
    pub(crate) fn cell_at(&self, pos: &[f64; 3]) -> Option<usize> {
        let [i, j, k] = self.index_at(pos)?;
        Some(cell_index(self.blocks, i, j, k))
    }

    /// The cell holding `pos`, if inside, with its box (lower and upper corners, cm).
    #[inline]
    pub(crate) fn cell_box(&self, pos: &[f64; 3]) -> Option<(usize, [f64; 3], [f64; 3])> {
        let idx = self.index_at(pos)?;
        let lo: [f64; 3] =
            std::array::from_fn(|a| self.offset[a] + idx[a] as f64 * self.voxel_cm[a]);
        let hi: [f64; 3] = std::array::from_fn(|a| lo[a] + self.voxel_cm[a]);
        Some((cell_index(self.blocks, idx[0], idx[1], idx[2]), lo, hi))
    }

    /// The part [t0, t1] of the segment pos + t dir, t in [0, len], inside the lattice's box.
    pub(crate) fn clip(&self, pos: &[f64; 3], dir: &[f64; 3], len: f64) -> Option<(f64, f64)> {
        let (mut t0, mut t1) = (0.0f64, len);
        for a in 0..3 {
            let (lo, hi) = (
                self.offset[a],
                self.offset[a] + self.voxel_cm[a] * self.dims[a] as f64,
            );
            if dir[a].abs() < 1e-300 {
                if pos[a] < lo || pos[a] > hi {
                    return None;
                }
                continue;
            }
            let (ta, tb) = ((lo - pos[a]) / dir[a], (hi - pos[a]) / dir[a]);
            t0 = t0.max(ta.min(tb));
            t1 = t1.min(ta.max(tb));
        }
        (t1 > t0).then_some((t0, t1))
    }
}

/// A scoring grid apart from the phantom's: the same axes, any voxel size, origin and extent.
#[derive(Debug, Clone)]
pub(crate) struct ScoringGrid {
    pub(crate) grid: Grid,
    pub(crate) lattice: Lattice,
    pub(crate) volume_cm3: f64,
}

/// The cell of voxel (i, j, k): blocks of 4 x 4 x 4 voxels, x fastest, block after block.
#[inline]
pub(crate) fn cell_index(blocks: [usize; 3], i: usize, j: usize, k: usize) -> usize {
    let block = (i >> 2) + blocks[0] * ((j >> 2) + blocks[1] * (k >> 2));
    (block << 6) | ((k & 3) << 4) | ((j & 3) << 2) | (i & 3)
}
