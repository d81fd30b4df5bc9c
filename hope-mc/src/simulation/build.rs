//! The phantom of a file's `[phantom]` section, for the dose simulation and other formats that
//! take the section (SPECT acquisitions).

use std::path::Path;

use hope_core::Grid;
use hope_core::metaimage;

use super::spec::{PhantomBody, PhantomSpec, within_budget};
use super::{MaterialSpec, field, refused};
use crate::material::Material;
use crate::material::hounsfield::HuTable;
use crate::{Phantom, Result};

impl PhantomSpec {
    /// The phantom: the CT through its HU table, or the box, with the inserts voxelised;
    /// `materials` are a file's own (`[materials.NAME]`, else built-in names), relative paths
    /// are taken from `base_dir`. Other file formats with a `[phantom]` section (SPECT
    /// acquisitions) build theirs with it.
    pub fn build(
        &self,
        materials: &std::collections::BTreeMap<String, MaterialSpec>,
        base_dir: &Path,
    ) -> Result<Phantom> {
        let path = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base_dir.join(p)
            }
        };
        let material = |name: &str, field_name: &str| -> Result<Material> {
            match materials.get(name) {
                Some(spec) => Ok(spec.material(name)?),
                None => Material::builtin(name).map_err(|e| {
                    refused(
                        field_name,
                        "neither a material of the file's [materials] nor a built-in one",
                        e,
                    )
                }),
            }
        };
        let p = self;
        let (grid, mut materials, mut mat, mut rho) = match &p.body {
            PhantomBody::Ct { ct_mha, hu_table } => {
                let path_ct = path(ct_mha);
                let unreadable = |e: hope_core::Error| {
                    refused(
                        "phantom.ct_mha",
                        &format!("{}: expected a readable MetaImage CT", path_ct.display()),
                        e,
                    )
                };
                let header = metaimage::read_header(&path_ct).map_err(unreadable)?;
                within_budget("phantom.ct_mha", header.grid.dims())?;
                let volume: hope_core::Volume<f32> =
                    metaimage::read(&path_ct).map_err(unreadable)?;
                let table = match hu_table {
                    Some(t) => HuTable::from_file(&path(t))?,
                    None => HuTable::default_table(),
                };
                let converter = table
                    .prepare()
                    .map_err(|e| refused("phantom.hu_table", "the HU table cannot be used", e))?;
                let ph = converter.phantom(&volume)?;
                ph.into_parts()
            }
            PhantomBody::Box {
                dims,
                spacing_mm,
                origin_mm,
                material: name,
                density,
            } => {
                let grid = Grid::builder(*dims)
                    .spacing(*spacing_mm)
                    .origin(*origin_mm)
                    .build()
                    .map_err(|e| refused("phantom", "expected a valid grid", e))?;
                let m = material(name, "phantom.material")?;
                let density = density.unwrap_or(m.density()) as f32;
                let n = grid.voxel_count();
                (grid, vec![m], vec![0u16; n], vec![density; n])
            }
        };
        for (i, ins) in p.insert.iter().enumerate() {
            let solid = ins.check(Some(i))?;
            let m = material(&ins.material, &format!("phantom.insert[{i}].material"))?;
            let density = ins.density.unwrap_or(m.density()) as f32;
            let index = materials.iter().position(|x| x == &m).unwrap_or_else(|| {
                materials.push(m);
                materials.len() - 1
            });
            let index = u16::try_from(index)
                .map_err(|_| field("phantom.insert", "more than 65535 materials"))?;
            solid.voxelise(&grid, &mut mat, &mut rho, index, density);
        }
        Phantom::new(grid, materials, mat, rho)
    }
}
