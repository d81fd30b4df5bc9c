//! The voxel phantom: a grid, a material index and a mass density per voxel.

use hope_core::{Grid, Volume};

use crate::material::Material;
use crate::material::hounsfield::HuConverter;
use crate::{Error, Result};

/// A voxel phantom: a grid, a material index and a mass density (g/cm^3) per voxel.
#[derive(Debug, Clone)]
pub struct Phantom {
    pub(crate) grid: Grid,
    pub(crate) materials: Vec<Material>,
    pub(crate) material: Vec<u16>,
    pub(crate) density: Vec<f32>,
}

impl Phantom {
    /// A phantom from per-voxel material indices (into `materials`) and densities (g/cm^3).
    pub fn new(
        grid: Grid,
        materials: Vec<Material>,
        material: Vec<u16>,
        density: Vec<f32>,
    ) -> Result<Self> {
        let n = grid.voxel_count();
        let bad = |m: String| Error::Phantom { message: m };
        if material.len() != n || density.len() != n {
            return Err(bad(format!(
                "{} material indices and {} densities for {n} voxels",
                material.len(),
                density.len()
            )));
        }
        if let Some(i) = material
            .iter()
            .position(|&m| usize::from(m) >= materials.len())
        {
            return Err(bad(format!(
                "voxel {i}: material index {} but {} materials",
                material[i],
                materials.len()
            )));
        }
        if let Some(i) = density.iter().position(|d| !(d.is_finite() && *d >= 0.0)) {
            return Err(bad(format!("voxel {i}: density {}", density[i])));
        }
        Ok(Self {
            grid,
            materials,
            material,
            density,
        })
    }

    /// A phantom of one material at its nominal density.
    pub fn uniform(grid: Grid, material: Material) -> Self {
        let n = grid.voxel_count();
        let d = material.density() as f32;
        Self {
            grid,
            materials: vec![material],
            material: vec![0; n],
            density: vec![d; n],
        }
    }

    /// The grid.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// The materials.
    pub fn materials(&self) -> &[Material] {
        &self.materials
    }

    /// The material index of every voxel (into [`Phantom::materials`]; x fastest).
    pub fn material_indices(&self) -> &[u16] {
        &self.material
    }

    /// The density of every voxel, g/cm^3 (x fastest).
    pub fn densities(&self) -> &[f32] {
        &self.density
    }

    /// The material index and density (g/cm^3) of the voxel at `offset` (x fastest).
    pub fn voxel(&self, offset: usize) -> Option<(u16, f32)> {
        Some((*self.material.get(offset)?, *self.density.get(offset)?))
    }

    /// The parts: grid, materials, per-voxel material indices and densities.
    pub fn into_parts(self) -> (Grid, Vec<Material>, Vec<u16>, Vec<f32>) {
        (self.grid, self.materials, self.material, self.density)
    }

    /// Sets one voxel's material and density.
    pub fn set(&mut self, index: [usize; 3], material: u16, density: f32) -> Result<()> {
        let o = self.grid.offset(index).ok_or_else(|| Error::Phantom {
            message: format!("voxel {index:?} outside the grid"),
        })?;
        if usize::from(material) >= self.materials.len() {
            return Err(Error::Phantom {
                message: format!("material index {material}"),
            });
        }
        self.material[o] = material;
        self.density[o] = density;
        Ok(())
    }
}

impl HuConverter {
    /// A phantom from a CT volume in HU, on the same grid.
    pub fn phantom(&self, ct: &Volume<f32>) -> Result<Phantom> {
        let (mat, rho): (Vec<u16>, Vec<f32>) = ct
            .data()
            .iter()
            .map(|&hu| self.convert(f64::from(hu)))
            .unzip();
        Phantom::new(ct.grid().clone(), self.materials.clone(), mat, rho)
    }
}
