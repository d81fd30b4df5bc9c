//! Voxel grids in patient coordinates.
//!
//! A [`Grid`] places `nx * ny * nz` voxels in space the way DICOM, ITK and MetaImage do:
//!
//! ```text
//! point(i, j, k) = origin + i * sx * d0 + j * sy * d1 + k * sz * d2
//! ```
//!
//! where `origin` is the centre of voxel (0, 0, 0) in mm, `(sx, sy, sz)` the voxel spacing in mm and
//! `d0, d1, d2` the direction cosines of the three grid axes (for a DICOM image: the row direction,
//! the column direction and the slice normal of Image Orientation (Patient)). Indices are continuous
//! where it makes sense: the integer index names the voxel centre, and a voxel covers
//! `[i - 0.5, i + 0.5)` along each axis.

use crate::vec3::Vec3;
use crate::{Error, Result};

/// The most voxels a grid may have (2^32: 16 GiB of 4-byte values), so that sizes computed from
/// dimensions read from files (voxels x bytes per value, x 16 for 128-bit sums) never overflow and
/// a header cannot announce a volume no machine could hold.
pub const MAX_VOXELS: usize = (u32::MAX as usize).saturating_add(1);

/// Largest deviation from unit length or orthogonality accepted in direction cosines. DICOM
/// headers carry six to ten significant digits, so values such as `0.999999` are legitimate.
pub const DIRECTION_TOLERANCE: f64 = 1e-4;

/// The geometry of a 3-D voxel grid: dimensions, spacing (mm), origin (mm) and axis directions.
///
/// A `Grid` always holds a valid geometry: at least one voxel along each axis, finite positive
/// spacing, a finite origin and unit, mutually orthogonal axis directions. Build one with
/// [`Grid::new`] or [`Grid::builder`].
///
/// ```
/// use hope_core::{Grid, Vec3};
///
/// let grid = Grid::builder([100, 100, 50])
///     .spacing([1.0, 1.0, 2.5])
///     .origin([-49.5, -49.5, 0.0])
///     .build()?;
/// assert_eq!(grid.voxel_count(), 500_000);
/// let p = grid.index_to_point([10.0, 20.0, 4.0]);
/// assert_eq!(p, Vec3::new(-39.5, -29.5, 10.0));
/// assert_eq!(grid.voxel_at(p), Some([10, 20, 4]));
/// # Ok::<(), hope_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(try_from = "GridSpec", into = "GridSpec")
)]
pub struct Grid {
    dims: [usize; 3],
    spacing: Vec3,
    origin: Vec3,
    /// Axis directions: `direction[a]` is the unit vector along grid axis `a`.
    direction: [Vec3; 3],
    /// Rows of the inverse of the matrix whose columns are `direction`.
    inverse: [Vec3; 3],
}

/// The plain fields of a [`Grid`], as found in files; [`Grid::try_from`] validates them.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct GridSpec {
    /// Number of voxels along each axis.
    pub dims: [usize; 3],
    /// Voxel spacing along each axis, in mm.
    pub spacing: [f64; 3],
    /// Centre of voxel (0, 0, 0), in mm.
    pub origin: [f64; 3],
    /// Direction cosines of each axis (`direction[a]` is the unit vector of axis `a`).
    #[cfg_attr(feature = "serde", serde(default = "identity"))]
    pub direction: [[f64; 3]; 3],
}

#[cfg(feature = "serde")]
fn identity() -> [[f64; 3]; 3] {
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
}

impl TryFrom<GridSpec> for Grid {
    type Error = Error;
    fn try_from(s: GridSpec) -> Result<Grid> {
        Grid::builder(s.dims)
            .spacing(s.spacing)
            .origin(s.origin)
            .direction(s.direction.map(Vec3::from))
            .build()
    }
}

impl From<Grid> for GridSpec {
    fn from(g: Grid) -> GridSpec {
        GridSpec {
            dims: g.dims,
            spacing: g.spacing.to_array(),
            origin: g.origin.to_array(),
            direction: g.direction.map(Vec3::to_array),
        }
    }
}

/// Builds a [`Grid`]; unset fields default to 1 mm spacing, origin at zero and identity directions.
#[derive(Debug, Clone)]
#[must_use]
pub struct GridBuilder {
    dims: [usize; 3],
    spacing: Vec3,
    origin: Vec3,
    direction: [Vec3; 3],
}

impl GridBuilder {
    /// Voxel spacing along each axis, in mm.
    pub fn spacing(mut self, spacing: impl Into<Vec3>) -> Self {
        self.spacing = spacing.into();
        self
    }

    /// Position of the centre of voxel (0, 0, 0), in mm.
    pub fn origin(mut self, origin: impl Into<Vec3>) -> Self {
        self.origin = origin.into();
        self
    }

    /// Direction cosines of the three axes.
    pub fn direction(mut self, direction: [Vec3; 3]) -> Self {
        self.direction = direction;
        self
    }

    /// Checks every field and returns the grid, or an error naming the first bad field.
    pub fn build(self) -> Result<Grid> {
        let GridBuilder {
            dims,
            spacing,
            origin,
            direction,
        } = self;
        if let Some(a) = dims.iter().position(|&n| n == 0) {
            return Err(invalid(
                "dims",
                format!("axis {a} has 0 voxels; expected at least 1 ({dims:?})"),
            ));
        }
        let count = dims.iter().try_fold(1usize, |acc, &n| acc.checked_mul(n));
        if count.is_none_or(|c| c > MAX_VOXELS) {
            return Err(invalid(
                "dims",
                format!(
                    "{dims:?} holds more than the {MAX_VOXELS} voxels a grid may have (2^32: \
                     16 GiB of 4-byte values)"
                ),
            ));
        }
        for a in 0..3 {
            let s = spacing[a];
            if !(s.is_finite() && s > 0.0) {
                return Err(invalid(
                    "spacing",
                    format!("axis {a} spacing is {s}; expected a finite value > 0 mm"),
                ));
            }
        }
        if !origin.is_finite() {
            return Err(invalid("origin", format!("{origin} is not finite")));
        }
        for (a, d) in direction.iter().enumerate() {
            let n = d.norm();
            if !d.is_finite() || (n - 1.0).abs() > DIRECTION_TOLERANCE {
                return Err(invalid(
                    "direction",
                    format!("axis {a} direction {d} has length {n}; expected a unit vector"),
                ));
            }
        }
        for (a, b) in [(0, 1), (0, 2), (1, 2)] {
            let c = direction[a].dot(direction[b]);
            if c.abs() > DIRECTION_TOLERANCE {
                return Err(invalid(
                    "direction",
                    format!(
                        "axes {a} and {b} are not orthogonal (cosine {c}); expected orthogonal axes"
                    ),
                ));
            }
        }
        let inverse = invert_columns(direction)
            .ok_or_else(|| invalid("direction", "axis directions are linearly dependent".into()))?;
        Ok(Grid {
            dims,
            spacing,
            origin,
            direction,
            inverse,
        })
    }
}

fn invalid(field: &'static str, reason: String) -> Error {
    Error::InvalidGrid { field, reason }
}

/// Rows of the inverse of the matrix with columns `c`, or `None` when it is singular.
fn invert_columns(c: [Vec3; 3]) -> Option<[Vec3; 3]> {
    // For M = [c0 c1 c2], M^-1 has rows (c1 x c2, c2 x c0, c0 x c1) / det.
    let det = c[0].dot(c[1].cross(c[2]));
    if !det.is_finite() || det.abs() < 1e-9 {
        return None;
    }
    Some([
        c[1].cross(c[2]) / det,
        c[2].cross(c[0]) / det,
        c[0].cross(c[1]) / det,
    ])
}

impl Grid {
    /// A grid with the given dimensions and spacing (mm), origin at zero and identity directions.
    pub fn new(dims: [usize; 3], spacing: impl Into<Vec3>) -> Result<Grid> {
        Grid::builder(dims).spacing(spacing).build()
    }

    /// Starts building a grid with the given dimensions.
    pub fn builder(dims: [usize; 3]) -> GridBuilder {
        GridBuilder {
            dims,
            spacing: Vec3::new(1.0, 1.0, 1.0),
            origin: Vec3::ZERO,
            direction: [Vec3::X, Vec3::Y, Vec3::Z],
        }
    }

    /// A builder holding this grid's fields, to derive a modified grid.
    pub fn to_builder(&self) -> GridBuilder {
        GridBuilder {
            dims: self.dims,
            spacing: self.spacing,
            origin: self.origin,
            direction: self.direction,
        }
    }

    /// Number of voxels along each axis.
    pub fn dims(&self) -> [usize; 3] {
        self.dims
    }

    /// Voxel spacing along each axis, in mm.
    pub fn spacing(&self) -> Vec3 {
        self.spacing
    }

    /// Centre of voxel (0, 0, 0), in mm.
    pub fn origin(&self) -> Vec3 {
        self.origin
    }

    /// Direction cosines: `direction()[a]` is the unit vector along grid axis `a`.
    pub fn direction(&self) -> [Vec3; 3] {
        self.direction
    }

    /// Whether the axes are the patient x, y and z axes (identity direction cosines, up to
    /// [`DIRECTION_TOLERANCE`]).
    pub fn is_axis_aligned(&self) -> bool {
        [Vec3::X, Vec3::Y, Vec3::Z]
            .iter()
            .zip(&self.direction)
            .all(|(e, d)| (*d - *e).norm() <= DIRECTION_TOLERANCE)
    }

    /// Total number of voxels.
    pub fn voxel_count(&self) -> usize {
        self.dims[0] * self.dims[1] * self.dims[2]
    }

    /// Volume of one voxel in mm^3.
    pub fn voxel_volume_mm3(&self) -> f64 {
        self.spacing.x * self.spacing.y * self.spacing.z
    }

    /// Offset of voxel `[i, j, k]` in x-fastest storage, or `None` outside the grid.
    pub fn offset(&self, [i, j, k]: [usize; 3]) -> Option<usize> {
        let [nx, ny, nz] = self.dims;
        (i < nx && j < ny && k < nz).then(|| i + nx * (j + ny * k))
    }

    /// Voxel index of an x-fastest storage offset, or `None` past the end.
    pub fn index_of(&self, offset: usize) -> Option<[usize; 3]> {
        let [nx, ny, _] = self.dims;
        (offset < self.voxel_count()).then(|| [offset % nx, (offset / nx) % ny, offset / (nx * ny)])
    }

    /// Position (mm) of a continuous index; integer indices give voxel centres.
    pub fn index_to_point(&self, index: [f64; 3]) -> Vec3 {
        let d = &self.direction;
        self.origin
            + d[0] * (index[0] * self.spacing.x)
            + d[1] * (index[1] * self.spacing.y)
            + d[2] * (index[2] * self.spacing.z)
    }

    /// Centre (mm) of voxel `[i, j, k]`.
    pub fn voxel_center(&self, [i, j, k]: [usize; 3]) -> Vec3 {
        self.index_to_point([i as f64, j as f64, k as f64])
    }

    /// Continuous index of a point (mm): the inverse of [`Grid::index_to_point`].
    pub fn point_to_index(&self, point: impl Into<Vec3>) -> [f64; 3] {
        let r = point.into() - self.origin;
        [
            self.inverse[0].dot(r) / self.spacing.x,
            self.inverse[1].dot(r) / self.spacing.y,
            self.inverse[2].dot(r) / self.spacing.z,
        ]
    }

    /// The voxel that contains a point, or `None` when the point lies outside the grid.
    pub fn voxel_at(&self, point: impl Into<Vec3>) -> Option<[usize; 3]> {
        let c = self.point_to_index(point);
        let mut out = [0usize; 3];
        for a in 0..3 {
            let r = (c[a] + 0.5).floor();
            if !(r >= 0.0 && r < self.dims[a] as f64) {
                return None;
            }
            out[a] = r as usize;
        }
        Some(out)
    }

    /// Physical size of the grid along each axis in mm (voxel count times spacing).
    pub fn extent(&self) -> Vec3 {
        Vec3::new(
            self.dims[0] as f64 * self.spacing.x,
            self.dims[1] as f64 * self.spacing.y,
            self.dims[2] as f64 * self.spacing.z,
        )
    }

    /// Whether two grids describe the same voxels, positions compared within `tolerance_mm`.
    pub fn same_geometry(&self, other: &Grid, tolerance_mm: f64) -> bool {
        let far = self.index_to_point(self.dims.map(|n| (n - 1) as f64));
        self.dims == other.dims
            && (self.spacing - other.spacing).norm() <= tolerance_mm
            && (self.origin - other.origin).norm() <= tolerance_mm
            && (far - other.index_to_point(other.dims.map(|n| (n - 1) as f64))).norm()
                <= tolerance_mm
            && self
                .direction
                .iter()
                .zip(&other.direction)
                .all(|(a, b)| (*a - *b).norm() <= DIRECTION_TOLERANCE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_each_bad_field_with_its_name() {
        let cases: Vec<(Result<Grid>, &str)> = vec![
            (Grid::new([0, 4, 4], [1.0; 3]), "dims"),
            (Grid::new([usize::MAX, 4, 4], [1.0; 3]), "dims"),
            (Grid::new([4, 4, 4], [1.0, -1.0, 1.0]), "spacing"),
            (Grid::new([4, 4, 4], [1.0, 1.0, f64::NAN]), "spacing"),
            (
                Grid::builder([4, 4, 4])
                    .origin([f64::INFINITY, 0.0, 0.0])
                    .build(),
                "origin",
            ),
            (
                Grid::builder([4, 4, 4])
                    .direction([Vec3::X, Vec3::X, Vec3::Z])
                    .build(),
                "direction",
            ),
            (
                Grid::builder([4, 4, 4])
                    .direction([Vec3::X * 2.0, Vec3::Y, Vec3::Z])
                    .build(),
                "direction",
            ),
        ];
        for (result, field) in cases {
            match result {
                Err(Error::InvalidGrid { field: f, reason }) => {
                    assert_eq!(f, field, "{reason}");
                    assert!(!reason.is_empty());
                }
                other => panic!("expected an invalid `{field}`, got {other:?}"),
            }
        }
    }

    #[test]
    fn oblique_grid_maps_axes_to_directions() {
        let s = std::f64::consts::FRAC_1_SQRT_2;
        let d0 = Vec3::new(s, s, 0.0);
        let d1 = Vec3::new(-s, s, 0.0);
        let g = Grid::builder([3, 3, 3])
            .spacing([2.0, 2.0, 3.0])
            .origin([10.0, 0.0, -5.0])
            .direction([d0, d1, Vec3::Z])
            .build()
            .unwrap();
        let p = g.voxel_center([1, 0, 0]);
        assert!((p - Vec3::new(10.0 + 2.0 * s, 2.0 * s, -5.0)).norm() < 1e-12);
        assert_eq!(g.voxel_at(p), Some([1, 0, 0]));
        assert!(!g.is_axis_aligned());
    }

    #[test]
    fn voxel_at_respects_half_voxel_borders() {
        let g = Grid::new([2, 2, 2], [1.0; 3]).unwrap();
        assert_eq!(g.voxel_at([-0.5, 0.0, 0.0]), Some([0, 0, 0]));
        assert_eq!(g.voxel_at([-0.5001, 0.0, 0.0]), None);
        assert_eq!(g.voxel_at([1.4999, 1.0, 1.0]), Some([1, 1, 1]));
        assert_eq!(g.voxel_at([1.5, 1.0, 1.0]), None);
    }

    #[test]
    fn offsets_are_x_fastest() {
        let g = Grid::new([3, 4, 5], [1.0; 3]).unwrap();
        assert_eq!(g.offset([1, 0, 0]), Some(1));
        assert_eq!(g.offset([0, 1, 0]), Some(3));
        assert_eq!(g.offset([0, 0, 1]), Some(12));
        assert_eq!(g.offset([3, 0, 0]), None);
        assert_eq!(g.index_of(59), Some([2, 3, 4]));
        assert_eq!(g.index_of(60), None);
    }
}

#[cfg(all(test, feature = "serde"))]
mod serde_tests {
    use super::*;

    #[test]
    fn deserialising_validates_and_names_the_field() {
        let g: Grid =
            serde_json::from_str(r#"{"dims":[2,3,4],"spacing":[1,1,2.5],"origin":[0,0,-5]}"#)
                .unwrap();
        assert_eq!(g.dims(), [2, 3, 4]);
        assert!(g.is_axis_aligned());
        let json = serde_json::to_string(&g).unwrap();
        assert_eq!(serde_json::from_str::<Grid>(&json).unwrap(), g);
        let err =
            serde_json::from_str::<Grid>(r#"{"dims":[2,3,4],"spacing":[1,0,1],"origin":[0,0,0]}"#)
                .unwrap_err()
                .to_string();
        assert!(err.contains("spacing"), "{err}");
    }
}
