//! Simulation files for the tests and examples of grid runs and the command line: one writer
//! instead of a copy of the same file in each of them.

/// A simulation file of a point source at the centre of a cube of water (`voxels`^3 voxels of
/// `voxel_mm`, centred on the origin), with optional inserts.
#[derive(Debug, Clone)]
pub struct PointInWater {
    /// Histories.
    pub histories: u64,
    /// Seed.
    pub seed: u64,
    /// Histories per batch.
    pub batch_size: u64,
    /// Voxels along each axis.
    pub voxels: usize,
    /// Voxel size, mm.
    pub voxel_mm: f64,
    /// The source's energies, a line of the `[source]` table: `radionuclide = "I-125"` or
    /// `energy_kev = 200`.
    pub energies: &'static str,
    /// `[[phantom.insert]]` tables (may be empty).
    pub inserts: String,
}

impl PointInWater {
    /// An I-125 point source in water.
    pub fn i125(histories: u64, seed: u64, batch_size: u64, voxels: usize, voxel_mm: f64) -> Self {
        Self {
            histories,
            seed,
            batch_size,
            voxels,
            voxel_mm,
            energies: "radionuclide = \"I-125\"",
            inserts: String::new(),
        }
    }

    /// The same with a bone slab across the cube, from `z0` to `z1` mm, `half_width` mm either
    /// side of the axis.
    pub fn with_bone_slab(mut self, half_width: f64, z0: f64, z1: f64) -> Self {
        self.inserts.push_str(&format!(
            "[[phantom.insert]]\nmaterial = \"cortical_bone_icru44\"\n\
             min_mm = [{:?}, {:?}, {z0:?}]\nmax_mm = [{half_width:?}, {half_width:?}, {z1:?}]\n\n",
            -half_width, -half_width
        ));
        self
    }

    /// The same with a bone sphere.
    pub fn with_bone_sphere(mut self, centre_mm: [f64; 3], radius_mm: f64) -> Self {
        self.inserts.push_str(&format!(
            "[[phantom.insert]]\nmaterial = \"cortical_bone_icru44\"\nshape = \"sphere\"\n\
             centre_mm = [{:?}, {:?}, {:?}]\nradius_mm = {radius_mm:?}\n\n",
            centre_mm[0], centre_mm[1], centre_mm[2]
        ));
        self
    }

    /// The file's text (TOML).
    pub fn toml(&self) -> String {
        let origin = -(self.voxels as f64) * self.voxel_mm / 2.0 + self.voxel_mm / 2.0;
        format!(
            "histories = {}\nseed = {}\nbatch_size = {}\n\n[phantom]\ndims = [{n}, {n}, {n}]\n\
             spacing_mm = [{s:?}, {s:?}, {s:?}]\norigin_mm = [{o:?}, {o:?}, {o:?}]\n\
             material = \"water\"\n\n{}[source]\nkind = \"point\"\nposition_mm = [0.0, 0.0, 0.0]\n{}\n",
            self.histories,
            self.seed,
            self.batch_size,
            self.inserts,
            self.energies,
            n = self.voxels,
            s = self.voxel_mm,
            o = origin,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_centred_and_carries_its_parts() {
        let text = PointInWater::i125(10, 2, 5, 24, 2.5)
            .with_bone_sphere([10.0, 0.0, 0.0], 6.0)
            .toml();
        assert!(
            text.contains("origin_mm = [-28.75, -28.75, -28.75]"),
            "{text}"
        );
        assert!(text.contains("dims = [24, 24, 24]"), "{text}");
        assert!(text.contains("radius_mm = 6.0"), "{text}");
        assert!(text.contains("radionuclide = \"I-125\""), "{text}");
        let parsed: toml::Table = text.parse().unwrap();
        assert_eq!(
            parsed["phantom"]["insert"].as_array().map(Vec::len),
            Some(1)
        );
    }
}
