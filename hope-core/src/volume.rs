//! A grid with one value per voxel.

use std::ops::{Index, IndexMut};

use crate::grid::Grid;
use crate::{Error, Result};

/// A 3-D image: a [`Grid`] and one value per voxel, stored contiguously with x fastest, then y,
/// then z (the order of DICOM frames, MetaImage and GATE output).
///
/// ```
/// use hope_core::{Grid, Volume};
///
/// let grid = Grid::new([4, 3, 2], [1.0, 1.0, 2.0])?;
/// let mut hu = Volume::<i16>::filled(grid, -1000);
/// hu[[1, 2, 1]] = 40;
/// assert_eq!(hu.get([1, 2, 1]), Some(&40));
/// assert_eq!(hu.data()[1 + 4 * (2 + 3 * 1)], 40);
/// let density = hu.map(|&v| 1.0 + f32::from(v) / 1000.0);
/// assert_eq!(density[[0, 0, 0]], 0.0);
/// # Ok::<(), hope_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Volume<T> {
    grid: Grid,
    data: Vec<T>,
}

impl<T> Volume<T> {
    /// A volume from a grid and its x-fastest data; fails when the lengths differ.
    pub fn new(grid: Grid, data: Vec<T>) -> Result<Self> {
        if data.len() != grid.voxel_count() {
            return Err(Error::DataLength {
                dims: grid.dims(),
                expected: grid.voxel_count(),
                found: data.len(),
            });
        }
        Ok(Volume { grid, data })
    }

    /// A volume with every voxel set to `value`.
    pub fn filled(grid: Grid, value: T) -> Self
    where
        T: Clone,
    {
        let data = vec![value; grid.voxel_count()];
        Volume { grid, data }
    }

    /// A volume whose voxel `[i, j, k]` holds `f([i, j, k])`.
    pub fn from_fn(grid: Grid, mut f: impl FnMut([usize; 3]) -> T) -> Self {
        let [nx, ny, nz] = grid.dims();
        let mut data = Vec::with_capacity(grid.voxel_count());
        for k in 0..nz {
            for j in 0..ny {
                for i in 0..nx {
                    data.push(f([i, j, k]));
                }
            }
        }
        Volume { grid, data }
    }

    /// The geometry.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// The values, x fastest.
    pub fn data(&self) -> &[T] {
        &self.data
    }

    /// The values, x fastest, mutable.
    pub fn data_mut(&mut self) -> &mut [T] {
        &mut self.data
    }

    /// The grid and the values.
    pub fn into_parts(self) -> (Grid, Vec<T>) {
        (self.grid, self.data)
    }

    /// The value at voxel `[i, j, k]`, or `None` outside the grid.
    pub fn get(&self, index: [usize; 3]) -> Option<&T> {
        self.grid.offset(index).map(|o| &self.data[o])
    }

    /// The value at voxel `[i, j, k]`, mutable, or `None` outside the grid.
    pub fn get_mut(&mut self, index: [usize; 3]) -> Option<&mut T> {
        self.grid.offset(index).map(|o| &mut self.data[o])
    }

    /// The values of slice `k` (constant z index), x fastest, or `None` past the last slice.
    pub fn slice_z(&self, k: usize) -> Option<&[T]> {
        let [nx, ny, nz] = self.grid.dims();
        (k < nz).then(|| &self.data[k * nx * ny..(k + 1) * nx * ny])
    }

    /// A volume on the same grid with `f` applied to every value.
    pub fn map<U>(&self, f: impl FnMut(&T) -> U) -> Volume<U> {
        Volume {
            grid: self.grid.clone(),
            data: self.data.iter().map(f).collect(),
        }
    }

    /// The index of the largest value (the first of equal ones; values that do not compare, as
    /// NaN, are passed over); None for an empty volume or one without comparable values.
    pub fn argmax(&self) -> Option<[usize; 3]>
    where
        T: PartialOrd,
    {
        let mut best: Option<(usize, &T)> = None;
        for (i, v) in self.data.iter().enumerate() {
            if v.partial_cmp(v).is_none() {
                continue;
            }
            if best.is_none_or(|(_, b)| v > b) {
                best = Some((i, v));
            }
        }
        best.and_then(|(i, _)| self.grid.index_of(i))
    }

    /// Replaces the grid by one with the same dimensions (e.g. to move the volume in space).
    pub fn with_grid(self, grid: Grid) -> Result<Self> {
        Volume::new(grid, self.data)
    }
}

/// Indexing by `[i, j, k]`; panics outside the grid, like slice indexing. Use [`Volume::get`] for
/// indices that come from outside the program.
impl<T> Index<[usize; 3]> for Volume<T> {
    type Output = T;
    fn index(&self, index: [usize; 3]) -> &T {
        match self.grid.offset(index) {
            Some(o) => &self.data[o],
            None => panic!("voxel index {index:?} outside grid {:?}", self.grid.dims()),
        }
    }
}

impl<T> IndexMut<[usize; 3]> for Volume<T> {
    fn index_mut(&mut self, index: [usize; 3]) -> &mut T {
        match self.grid.offset(index) {
            Some(o) => &mut self.data[o],
            None => panic!("voxel index {index:?} outside grid {:?}", self.grid.dims()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_finds_the_first_largest_value_and_skips_nan() {
        let grid = Grid::new([3, 2, 2], [1.0; 3]).unwrap_or_else(|e| panic!("{e}"));
        let mut v = Volume::filled(grid.clone(), 0.0f64);
        assert_eq!(v.argmax(), Some([0, 0, 0]));
        v[[1, 1, 0]] = 5.0;
        v[[2, 0, 1]] = 5.0;
        v[[0, 1, 1]] = f64::NAN;
        assert_eq!(v.argmax(), Some([1, 1, 0]));
        assert_eq!(Volume::filled(grid, f64::NAN).argmax(), None);
    }

    #[test]
    fn new_rejects_wrong_length() {
        let g = Grid::new([2, 2, 2], [1.0; 3]).unwrap();
        match Volume::new(g, vec![0u8; 7]) {
            Err(Error::DataLength {
                expected: 8,
                found: 7,
                ..
            }) => {}
            other => panic!("expected a length error, got {other:?}"),
        }
    }

    #[test]
    fn from_fn_matches_offsets() {
        let g = Grid::new([3, 2, 2], [1.0; 3]).unwrap();
        let v = Volume::from_fn(g.clone(), |idx| g.offset(idx).unwrap());
        assert!(v.data().iter().enumerate().all(|(n, &o)| n == o));
        assert_eq!(v.slice_z(1).unwrap(), &[6, 7, 8, 9, 10, 11]);
        assert!(v.slice_z(2).is_none());
    }
}
