//! Photon transport in a voxel phantom: Woodcock (delta) tracking with a majorant, or boundary
//! (ray-marching) tracking; dose scored at interactions (analog) and by the track-length kerma
//! estimator along every flight; batches of histories with their own random streams, merged in
//! batch order so that results do not depend on the thread count.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use hope_core::{Grid, Vec3, Volume};

use crate::electron::ElectronPhysics;
use crate::material::Material;
use crate::physics::{E_MAX, Interaction, PhotonPhysics, PhysicsOptions, interp};
use crate::rng::Rng;
use crate::source::Source;
use crate::{Error, Result};

/// eV/g to Gy.
pub(crate) const EV_PER_G_TO_GY: f64 = 1.602_176_634e-19 * 1e3;

/// A voxel phantom: a grid, a material index and a mass density (g/cm^3) per voxel.
#[derive(Debug, Clone)]
pub struct Phantom {
    grid: Grid,
    materials: Vec<Material>,
    material: Vec<u16>,
    density: Vec<f32>,
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

/// How photons are tracked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tracking {
    /// Woodcock (delta) tracking with a majorant cross section.
    Woodcock,
    /// Voxel-by-voxel ray marching (exact boundaries).
    Boundary,
}

/// Run settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    /// Physics switches.
    pub physics: PhysicsOptions,
    /// Tracking method.
    pub tracking: Tracking,
    /// Histories per batch (each batch has its own random stream), 1 to 2^32 - 2.
    pub batch_size: u64,
    /// Worker threads (0: one per core).
    pub threads: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            physics: PhysicsOptions::default(),
            tracking: Tracking::Woodcock,
            batch_size: 250_000,
            threads: 0,
        }
    }
}

const PARTIAL_MAGIC: &[u8; 8] = b"HOPEMCP1";

fn put_varint(out: &mut Vec<u8>, mut x: u128) {
    loop {
        let byte = (x & 0x7f) as u8;
        x >>= 7;
        if x == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }

    fn varint(&mut self) -> Option<u128> {
        let mut x = 0u128;
        for shift in (0..133).step_by(7) {
            let b = *self.bytes.get(self.at)?;
            self.at += 1;
            if shift == 126 && (b & 0x7f) > 0x03 {
                return None;
            }
            x |= u128::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(x);
            }
        }
        None
    }
}

/// Fixed-point scale of the energy totals (units of 2^-20 eV).
const ENERGY_SCALE: f64 = (1u64 << 20) as f64;
/// Fixed-point scale of the per-voxel sums (units of 2^-40 eV/g).
const SUM_SCALE: f64 = (1u64 << 40) as f64;
/// Fixed-point scale of the sums of squares (units of 2^-20 (eV/g)^2).
const SUM2_SCALE: f64 = (1u64 << 20) as f64;

/// Sums over histories, per voxel: the quantity and its square, per history. Within a batch they
/// are summed in f64 in history order; each batch's sums are then kept in 128-bit fixed point
/// (2^-40 eV/g and 2^-20 (eV/g)^2 resolution), whose addition is exact and associative: however
/// batches are grouped (threads, machines, runs), the sums are the same bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    sum: Vec<i128>,
    sum2: Vec<i128>,
}

impl Tally {
    fn new(n: usize) -> Self {
        Self {
            sum: vec![0; n],
            sum2: vec![0; n],
        }
    }

    fn add(&mut self, other: &Tally) {
        for (a, b) in self.sum.iter_mut().zip(&other.sum) {
            *a = a.saturating_add(*b);
        }
        for (a, b) in self.sum2.iter_mut().zip(&other.sum2) {
            *a = a.saturating_add(*b);
        }
    }

    /// The sum over histories of voxel `v` (eV/g for dose tallies).
    pub fn sum(&self, v: usize) -> f64 {
        self.sum[v] as f64 / SUM_SCALE
    }

    /// The sum over histories of the squared per-history contribution of voxel `v`.
    pub fn sum_of_squares(&self, v: usize) -> f64 {
        self.sum2[v] as f64 / SUM2_SCALE
    }

    /// The number of voxels.
    pub fn len(&self) -> usize {
        self.sum.len()
    }

    /// Whether the tally has no voxels.
    pub fn is_empty(&self) -> bool {
        self.sum.is_empty()
    }
}

/// The sums of a set of batches; merge them in batch order ([`Partial::merge`]) for results that
/// do not depend on how batches were spread over threads or machines.
#[derive(Debug, Clone, PartialEq)]
pub struct Partial {
    /// The batches summed, contiguous.
    pub batches: Range<u64>,
    /// Histories summed.
    pub histories: u64,
    /// Energy deposited at interactions (analog), eV per gram of each voxel.
    pub analog: Tally,
    /// Track-length collision kerma, eV per gram of each voxel.
    pub kerma: Tally,
    /// Energy emitted by the source, deposited in the phantom (analog), carried out of it and
    /// absorbed in the source itself (seeds), in fixed point (2^-20 eV) so that merging is exact.
    energy: [i128; 4],
    /// Source photons that left the phantom without interacting (narrow-beam transmission).
    pub uncollided: u64,
}

impl Partial {
    /// Adds the batches of `next`, which must follow or precede these (adjacent ranges).
    pub fn merge(mut self, next: &Partial) -> Result<Partial> {
        // The sums are exact integers: adjacent ranges merge in either order to the same bits.
        if next.batches.start == self.batches.end {
            self.batches.end = next.batches.end;
        } else if next.batches.end == self.batches.start {
            self.batches.start = next.batches.start;
        } else {
            return Err(Error::Merge {
                message: format!(
                    "batches {:?} and {:?} are not adjacent",
                    next.batches, self.batches
                ),
            });
        }
        if self.kerma.len() != next.kerma.len() {
            return Err(Error::Merge {
                message: format!(
                    "{} voxels and {} voxels",
                    self.kerma.len(),
                    next.kerma.len()
                ),
            });
        }
        self.histories += next.histories;
        self.analog.add(&next.analog);
        self.kerma.add(&next.kerma);
        for (a, b) in self.energy.iter_mut().zip(next.energy) {
            *a = a.saturating_add(b);
        }
        self.uncollided += next.uncollided;
        Ok(self)
    }

    /// A compact binary form, for storing partial results between machines: a header (batches,
    /// histories, energies, uncollided photons, voxels), then per sum (analog, analog^2, kerma,
    /// kerma^2) its non-zero entries as varint index steps and zigzag varint values.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.kerma.len());
        out.extend_from_slice(PARTIAL_MAGIC);
        for x in [
            self.batches.start,
            self.batches.end,
            self.histories,
            self.uncollided,
            self.kerma.len() as u64,
        ] {
            out.extend_from_slice(&x.to_le_bytes());
        }
        for e in self.energy {
            out.extend_from_slice(&e.to_le_bytes());
        }
        for sums in [
            &self.analog.sum,
            &self.analog.sum2,
            &self.kerma.sum,
            &self.kerma.sum2,
        ] {
            let nonzero = sums.iter().filter(|x| **x != 0).count() as u64;
            out.extend_from_slice(&nonzero.to_le_bytes());
            let mut last = 0usize;
            for (i, &x) in sums.iter().enumerate().filter(|(_, x)| **x != 0) {
                put_varint(&mut out, (i - last) as u128);
                put_varint(&mut out, ((x << 1) ^ (x >> 127)) as u128);
                last = i;
            }
        }
        out
    }

    /// Reads [`Partial::to_bytes`]'s form of a result on a grid of `voxels` voxels; damaged
    /// input, or a result of another size, gives an error before anything is allocated, never a
    /// panic.
    pub fn from_bytes(bytes: &[u8], voxels: usize) -> Result<Self> {
        let bad = |m: &str| Error::Merge {
            message: format!("partial result: {m}"),
        };
        let mut r = Reader { bytes, at: 0 };
        if r.take(8).ok_or_else(|| bad("truncated header"))? != PARTIAL_MAGIC {
            return Err(bad("not a hope-mc partial result"));
        }
        let mut word = || -> Result<u64> {
            r.take(8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_le_bytes)
                .ok_or_else(|| bad("truncated header"))
        };
        let (start, end, histories, uncollided, n) = (word()?, word()?, word()?, word()?, word()?);
        if start > end {
            return Err(bad("implausible header"));
        }
        let n = usize::try_from(n)
            .ok()
            .filter(|n| *n == voxels)
            .ok_or_else(|| bad(&format!("{n} voxels where the run scores {voxels}")))?;
        let mut energy = [0i128; 4];
        for e in &mut energy {
            *e = r
                .take(16)
                .and_then(|b| b.try_into().ok())
                .map(i128::from_le_bytes)
                .ok_or_else(|| bad("truncated energies"))?;
        }
        let mut arrays: Vec<Vec<i128>> = Vec::with_capacity(4);
        for _ in 0..4 {
            let count = r
                .take(8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_le_bytes)
                .ok_or_else(|| bad("truncated"))?;
            if count > n as u64 {
                return Err(bad("more entries than voxels"));
            }
            let mut v = vec![0i128; n];
            let mut i = 0usize;
            for k in 0..count {
                let step = r.varint().ok_or_else(|| bad("truncated entries"))?;
                let z = r.varint().ok_or_else(|| bad("truncated entries"))?;
                i = usize::try_from(step)
                    .ok()
                    .and_then(|s| i.checked_add(s))
                    .filter(|i| *i < n && (k == 0 || step > 0))
                    .ok_or_else(|| bad("entry outside the grid"))?;
                v[i] = ((z >> 1) as i128) ^ -((z & 1) as i128);
            }
            arrays.push(v);
        }
        if r.at != bytes.len() {
            return Err(bad("trailing bytes"));
        }
        let mut it = arrays.into_iter();
        let mut next = || it.next().unwrap_or_default();
        let (a, a2, k, k2) = (next(), next(), next(), next());
        Ok(Partial {
            batches: start..end,
            histories,
            analog: Tally { sum: a, sum2: a2 },
            kerma: Tally { sum: k, sum2: k2 },
            energy,
            uncollided,
        })
    }

    /// Energy emitted by the source, eV.
    pub fn emitted(&self) -> f64 {
        self.energy[0] as f64 / ENERGY_SCALE
    }

    /// Energy deposited in the phantom (analog), eV.
    pub fn deposited(&self) -> f64 {
        self.energy[1] as f64 / ENERGY_SCALE
    }

    /// Energy carried out of the phantom, eV.
    pub fn escaped(&self) -> f64 {
        self.energy[2] as f64 / ENERGY_SCALE
    }

    /// Energy absorbed in the sources themselves (seeds' cores and capsules), eV; emitted =
    /// deposited + escaped + this.
    pub fn absorbed_in_sources(&self) -> f64 {
        self.energy[3] as f64 / ENERGY_SCALE
    }

    /// Dose per history (Gy) and its relative standard uncertainty per voxel, history by history,
    /// from one of the tallies. A tally that does not fit `grid`, or a result of no histories, is
    /// an error: never a dose of zeros.
    pub fn dose(&self, tally: &Tally, grid: &Grid) -> Result<(Volume<f64>, Volume<f64>)> {
        if tally.len() != grid.voxel_count() {
            return Err(Error::Merge {
                message: format!(
                    "a tally of {} voxels on a grid of {}",
                    tally.len(),
                    grid.voxel_count()
                ),
            });
        }
        if self.histories == 0 {
            return Err(Error::Merge {
                message: "a result of no histories has no dose".into(),
            });
        }
        let n = self.histories as f64;
        let mean: Vec<f64> = (0..tally.len())
            .map(|v| tally.sum(v) / n * EV_PER_G_TO_GY)
            .collect();
        let rel: Vec<f64> = (0..tally.len())
            .map(|v| (tally.sum(v), tally.sum_of_squares(v)))
            .map(|(s, s2)| {
                let m = s / n;
                if m <= 0.0 || n < 2.0 {
                    return 0.0;
                }
                let var = (s2 / n - m * m).max(0.0) / (n - 1.0);
                var.sqrt() / m
            })
            .collect();
        let wrap = |e: hope_core::Error| Error::Merge {
            message: e.to_string(),
        };
        Ok((
            Volume::new(grid.clone(), mean).map_err(wrap)?,
            Volume::new(grid.clone(), rel).map_err(wrap)?,
        ))
    }

    /// Checks that this is exactly the result of batches `batches` of a run of `histories`
    /// histories in batches of `batch_size`, scored on `voxels` voxels: the batches, the history
    /// count and the tally sizes.
    pub fn check_run(
        &self,
        batches: Range<u64>,
        histories: u64,
        batch_size: u64,
        voxels: usize,
    ) -> Result<()> {
        let bad = |m: String| {
            Err(Error::Merge {
                message: format!("result of batches {:?}: {m}", self.batches),
            })
        };
        if self.batches != batches {
            return bad(format!("expected batches {batches:?}"));
        }
        let expected = histories_in(histories, batch_size, &batches);
        if self.histories != expected {
            return bad(format!(
                "{} histories where batches {batches:?} hold {expected}",
                self.histories
            ));
        }
        if self.kerma.len() != voxels || self.analog.len() != voxels {
            return bad(format!(
                "{} and {} voxels where the run scores {voxels}",
                self.analog.len(),
                self.kerma.len()
            ));
        }
        if self.uncollided > self.histories {
            return bad(format!(
                "{} uncollided photons in {} histories",
                self.uncollided, self.histories
            ));
        }
        Ok(())
    }
}

/// The histories in batches `batches` of a run of `histories` histories cut in batches of
/// `batch_size` (the last batch may be short).
pub fn histories_in(histories: u64, batch_size: u64, batches: &Range<u64>) -> u64 {
    let at = |b: u64| b.saturating_mul(batch_size).min(histories);
    at(batches.end).saturating_sub(at(batches.start))
}

/// The mean relative uncertainty over the voxels above half the maximum dose, and how many there
/// are (the egs_brachy convention for the efficiency epsilon = 1 / (s^2 T)).
pub fn mean_uncertainty_above_half_max(
    dose: &Volume<f64>,
    uncertainty: &Volume<f64>,
) -> (usize, f64) {
    let max = dose.data().iter().copied().fold(0.0, f64::max);
    let high: Vec<f64> = dose
        .data()
        .iter()
        .zip(uncertainty.data())
        .filter(|(d, _)| **d > 0.5 * max)
        .map(|(_, u)| *u)
        .collect();
    (
        high.len(),
        high.iter().sum::<f64>() / high.len().max(1) as f64,
    )
}

/// A photon in flight, in the phantom's local frame (cm from the corner of voxel 0, axes along
/// the grid's).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Photon {
    pos: [f64; 3],
    dir: [f64; 3],
    /// Kinetic energy, eV.
    energy: f64,
    primary_unscattered: bool,
    /// 0 for a photon, -1 for an electron, +1 for a positron.
    charge: i8,
}

impl Photon {
    /// A source photon.
    pub(crate) fn new(pos: [f64; 3], dir: [f64; 3], energy: f64) -> Self {
        Self {
            pos,
            dir,
            energy,
            primary_unscattered: true,
            charge: 0,
        }
    }

    /// A secondary particle.
    fn secondary(pos: [f64; 3], dir: [f64; 3], energy: f64, charge: i8) -> Self {
        Self {
            pos,
            dir,
            energy,
            primary_unscattered: false,
            charge,
        }
    }

    /// A source particle of the given charge.
    pub(crate) fn with_charge(mut self, charge: i8) -> Self {
        self.charge = charge;
        self
    }
}

/// A prepared simulation: phantom, physics tables, majorant.
#[derive(Debug)]
pub struct Transport {
    phantom: Phantom,
    physics: PhotonPhysics,
    /// Electron and positron tables when they are transported.
    electrons: Option<ElectronPhysics>,
    /// Majorant linear attenuation (1/cm) on the physics energy grid.
    majorant: Vec<f64>,
    voxel_volume_cm3: f64,
    options: RunOptions,
    /// Material index per cell (per-voxel data is stored in blocks of 4 x 4 x 4 voxels, cells,
    /// so that a ray's neighbouring voxels share cache lines and pages; see [`Lattice`]).
    mat: Vec<u16>,
    /// Density per cell, g/cm^3.
    rho: Vec<f32>,
    /// The highest photon cutoff of any material, eV.
    max_cutoff: f64,
    /// The phantom's voxels in the local frame (corner of voxel 0 at the origin).
    lattice: Lattice,
    /// Where dose is scored when not on the phantom's grid.
    scoring: Option<ScoringGrid>,
}

/// A grid of voxels stored in 4 x 4 x 4 blocks, placed in the phantom's local frame (cm).
#[derive(Debug, Clone)]
struct Lattice {
    /// The corner of voxel 0.
    offset: [f64; 3],
    voxel_cm: [f64; 3],
    dims: [usize; 3],
    blocks: [usize; 3],
}

impl Lattice {
    fn new(offset: [f64; 3], voxel_cm: [f64; 3], dims: [usize; 3]) -> Self {
        Self {
            offset,
            voxel_cm,
            dims,
            blocks: dims.map(|d| d.div_ceil(4)),
        }
    }

    fn cells(&self) -> usize {
        self.blocks[0] * self.blocks[1] * self.blocks[2] * 64
    }

    /// The cell holding `pos`, if inside.
    #[inline]
    fn cell_at(&self, pos: &[f64; 3]) -> Option<usize> {
        let mut idx = [0usize; 3];
        for a in 0..3 {
            let i = (pos[a] - self.offset[a]) / self.voxel_cm[a];
            if !(i >= 0.0 && i < self.dims[a] as f64) {
                return None;
            }
            idx[a] = i as usize;
        }
        Some(cell_index(self.blocks, idx[0], idx[1], idx[2]))
    }

    /// The part [t0, t1] of the segment pos + t dir, t in [0, len], inside the lattice's box.
    fn clip(&self, pos: &[f64; 3], dir: &[f64; 3], len: f64) -> Option<(f64, f64)> {
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
struct ScoringGrid {
    grid: Grid,
    lattice: Lattice,
    volume_cm3: f64,
}

impl Transport {
    /// Builds the tables for a phantom.
    pub fn new(phantom: Phantom, options: RunOptions) -> Result<Self> {
        if options.batch_size == 0 || options.batch_size >= u64::from(u32::MAX) {
            return Err(Error::Phantom {
                message: format!(
                    "batch_size {}: expected 1 to {} histories",
                    options.batch_size,
                    u32::MAX - 1
                ),
            });
        }
        let physics = PhotonPhysics::new(&phantom.materials, options.physics.clone());
        let electrons = if options.physics.electrons.transport {
            options
                .physics
                .electrons
                .validate()
                .map_err(|(field, message)| Error::Phantom {
                    message: format!("electron option {field}: {message}"),
                })?;
            Some(ElectronPhysics::new(
                &phantom.materials,
                options.physics.electrons.clone(),
            ))
        } else {
            None
        };
        // Majorant: per material, the largest density in the phantom times mu/rho, maximised.
        let mut max_density = vec![0.0f64; phantom.materials.len()];
        for (m, d) in phantom.material.iter().zip(&phantom.density) {
            let slot = &mut max_density[usize::from(*m)];
            *slot = slot.max(f64::from(*d));
        }
        let n = physics.materials[0].total.len();
        let majorant = (0..n)
            .map(|i| {
                physics
                    .materials
                    .iter()
                    .zip(&max_density)
                    .map(|(t, d)| t.total[i] * d)
                    .fold(0.0, f64::max)
                    * 1.000_001
            })
            .collect();
        let dims = phantom.grid.dims();
        let sp = phantom.grid.spacing();
        let voxel_cm = [sp.x / 10.0, sp.y / 10.0, sp.z / 10.0];
        let lattice = Lattice::new([0.0; 3], voxel_cm, dims);
        let blocks = lattice.blocks;
        let (mut mat, mut rho) = (vec![0u16; lattice.cells()], vec![0f32; lattice.cells()]);
        for k in 0..dims[2] {
            for j in 0..dims[1] {
                for i in 0..dims[0] {
                    let v = i + dims[0] * (j + dims[1] * k);
                    let c = cell_index(blocks, i, j, k);
                    mat[c] = phantom.material[v];
                    rho[c] = phantom.density[v];
                }
            }
        }
        let max_cutoff = physics
            .materials
            .iter()
            .map(|m| m.cutoff)
            .fold(physics.options.photon_cutoff_ev, f64::max);
        Ok(Self {
            electrons,
            max_cutoff,
            lattice,
            scoring: None,
            mat,
            rho,
            voxel_volume_cm3: voxel_cm[0] * voxel_cm[1] * voxel_cm[2],
            phantom,
            physics,
            majorant,
            options,
        })
    }

    /// The phantom.
    pub fn phantom(&self) -> &Phantom {
        &self.phantom
    }

    /// Scores dose on `grid` instead of the phantom's grid: the same axes (direction cosines),
    /// any voxel size, origin and extent (parts outside the phantom score nothing). A scoring
    /// voxel's dose is the volume-weighted mean of the dose to the media within it: track-length
    /// kerma uses each crossed phantom voxel's mu_en/rho, analog deposits are divided by the local
    /// density times the scoring voxel's volume.
    pub fn with_scoring_grid(mut self, grid: Grid) -> Result<Self> {
        let (a, b) = (self.phantom.grid.direction(), grid.direction());
        if (0..3).any(|i| (a[i] - b[i]).norm() > 1e-9) {
            return Err(Error::Phantom {
                message: "the scoring grid's axes differ from the phantom's".into(),
            });
        }
        let sp = grid.spacing();
        let voxel_cm = [sp.x / 10.0, sp.y / 10.0, sp.z / 10.0];
        let corner = self
            .phantom
            .grid
            .point_to_index(grid.index_to_point([-0.5; 3]));
        let offset = [0, 1, 2].map(|a| (corner[a] + 0.5) * self.lattice.voxel_cm[a]);
        self.scoring = Some(ScoringGrid {
            lattice: Lattice::new(offset, voxel_cm, grid.dims()),
            volume_cm3: voxel_cm[0] * voxel_cm[1] * voxel_cm[2],
            grid,
        });
        Ok(self)
    }

    /// The grid dose is scored on (the phantom's unless a scoring grid was given).
    pub fn scoring_grid(&self) -> &Grid {
        self.scoring
            .as_ref()
            .map_or(&self.phantom.grid, |s| &s.grid)
    }

    /// The lattice scores are kept on.
    fn score_lattice(&self) -> &Lattice {
        self.scoring.as_ref().map_or(&self.lattice, |s| &s.lattice)
    }

    /// Scores an energy deposit at `pos`, in phantom voxel `v`.
    #[inline]
    fn deposit(&self, st: &mut BatchState, v: usize, pos: &[f64; 3], energy: f64) {
        match &self.scoring {
            None => st.deposit(v, energy, self.mass_g(v)),
            Some(s) => match s.lattice.cell_at(pos) {
                Some(c) => st.deposit(c, energy, f64::from(self.rho[v]) * s.volume_cm3),
                // In the phantom but outside the scoring grid.
                None => st.deposited += energy,
            },
        }
    }

    /// The run settings.
    pub fn options(&self) -> &RunOptions {
        &self.options
    }

    /// The physics tables.
    pub fn physics(&self) -> &PhotonPhysics {
        &self.physics
    }

    /// A point in patient coordinates (mm) to the local frame (cm).
    pub(crate) fn to_local(&self, p: Vec3) -> [f64; 3] {
        let idx = self.phantom.grid.point_to_index(p);
        [
            (idx[0] + 0.5) * self.lattice.voxel_cm[0],
            (idx[1] + 0.5) * self.lattice.voxel_cm[1],
            (idx[2] + 0.5) * self.lattice.voxel_cm[2],
        ]
    }

    /// A direction in patient coordinates to the local frame.
    pub(crate) fn dir_to_local(&self, d: Vec3) -> [f64; 3] {
        let r = self.phantom.grid.direction();
        let n = d.norm();
        [r[0].dot(d) / n, r[1].dot(d) / n, r[2].dot(d) / n]
    }

    /// Electrons (`positron` false) or positrons of kinetic energy `energy_ev` started at the
    /// centre of the phantom along its third axis, one after the other: the mean path length
    /// (cm) each travelled and the mean depth (cm) it reached along the axis where it stopped
    /// (the projected range), over `count` particles. Their secondaries are followed too but not
    /// counted. A check of the electron transport against ranges (ESTAR's CSDA range is the mean
    /// path length with hard events and energy loss fluctuations left out).
    pub fn charged_paths(
        &self,
        positron: bool,
        energy_ev: f64,
        count: u64,
        seed: u64,
    ) -> (f64, f64) {
        let mut st = BatchState::new(self.score_lattice().cells());
        let mut rng = Rng::for_batch(seed, 0);
        let dims = self.lattice.dims;
        let centre = [0, 1, 2].map(|a| 0.5 * dims[a] as f64 * self.lattice.voxel_cm[a]);
        let (mut path, mut depth) = (0.0, 0.0);
        for _ in 0..count {
            st.history = st.history.wrapping_add(1).max(1);
            let p = Photon::secondary(
                centre,
                [0.0, 0.0, 1.0],
                energy_ev,
                if positron { 1 } else { -1 },
            );
            let (walked, end) = self.track_charged_to_end(p, &mut rng, &mut st);
            path += walked;
            depth += end[2] - centre[2];
            while let Some(p) = st.stack.pop() {
                if p.charge == 0 {
                    self.track(p, &mut rng, &mut st);
                } else {
                    self.track_charged(p, &mut rng, &mut st);
                }
            }
        }
        (path / count.max(1) as f64, depth / count.max(1) as f64)
    }

    /// Runs `histories` histories of `source` with `seed`, every batch, merged in order.
    pub fn run(
        &self,
        source: &Source,
        histories: u64,
        seed: u64,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<Partial> {
        let batches = histories.div_ceil(self.options.batch_size);
        self.run_batches(source, histories, seed, 0..batches, progress)
    }

    /// Runs batches `range` of a run of `histories` histories (the last batch may be short):
    /// results merge exactly with those of the other batches, run anywhere.
    pub fn run_batches(
        &self,
        source: &Source,
        histories: u64,
        seed: u64,
        range: Range<u64>,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<Partial> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.options.threads)
            .build()
            .map_err(|e| Error::Phantom {
                message: format!("cannot start worker threads: {e}"),
            })?;
        let n_batches = range.end.saturating_sub(range.start);
        if n_batches == 0 {
            return Err(Error::Merge {
                message: format!("no batches in {range:?}"),
            });
        }
        let workers = (pool.current_num_threads().max(1) as u64).min(n_batches) as usize;
        // Every worker claims the next batch until none is left, and adds each batch's sums, in
        // exact fixed point, to its own accumulator; integer addition does not depend on which
        // worker ran which batch, so neither does the result.
        let next = AtomicU64::new(range.start);
        let done = AtomicU64::new(0);
        let cells = self.score_lattice().cells();
        let accumulators: Vec<Accumulator> = pool.broadcast(|ctx| {
            if ctx.index() >= workers {
                return Accumulator::new(0);
            }
            let mut acc = Accumulator::new(cells);
            let mut st = BatchState::new(cells);
            loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= range.end {
                    break;
                }
                let count = self.batch(source, histories, seed, b, &mut st);
                acc.add_batch(&mut st, count);
                let now = done.fetch_add(count, Ordering::Relaxed) + count;
                progress(now, histories);
            }
            acc
        });
        let mut total = Accumulator::new(0);
        for a in accumulators {
            total.add(a);
        }
        let lattice = self.score_lattice();
        Ok(total.into_partial(range, lattice.dims, lattice.blocks))
    }

    /// Runs batch `b` into `st` (whose sums are zero); returns its number of histories.
    fn batch(
        &self,
        source: &Source,
        histories: u64,
        seed: u64,
        b: u64,
        st: &mut BatchState,
    ) -> u64 {
        let first = b.saturating_mul(self.options.batch_size);
        let count = histories.saturating_sub(first).min(self.options.batch_size);
        let mut rng = Rng::for_batch(seed, b);
        for _ in 0..count {
            st.history += 1;
            let (emitted, absorbed) = source.emit(self, &mut rng, &mut st.stack);
            st.emitted += emitted;
            st.in_source += absorbed;
            while let Some(p) = st.stack.pop() {
                if p.charge == 0 {
                    self.track(p, &mut rng, st);
                } else {
                    self.track_charged(p, &mut rng, st);
                }
            }
        }
        count
    }

    /// Walks the voxels crossed from `pos` along `dir` for at most `len` cm (Amanatides and Woo),
    /// calling `f(voxel, segment length)`; `f` returns `Some(d)` to stop `d` cm into the
    /// segment. Returns the length walked.
    fn walk(
        &self,
        pos: &[f64; 3],
        dir: &[f64; 3],
        len: f64,
        mut f: impl FnMut(usize, f64) -> Option<f64>,
    ) -> f64 {
        let mut ray = Ray::new(&self.lattice, pos, dir, len);
        while let Some((voxel, start, seg)) = ray.next(&self.lattice) {
            if let Some(stop_at) = f(voxel, seg) {
                return start + stop_at;
            }
        }
        ray.t
    }

    /// Follows one photon until it is absorbed or leaves.
    fn track(&self, mut p: Photon, rng: &mut Rng, st: &mut BatchState) {
        let cutoff = self.physics.options.photon_cutoff_ev;
        loop {
            if p.energy < self.max_cutoff {
                match self.lattice.cell_at(&p.pos) {
                    Some(v) => {
                        let m = usize::from(self.mat[v]);
                        if p.energy < self.physics.materials[m].cutoff {
                            self.deposit(st, v, &p.pos, p.energy);
                            return;
                        }
                    }
                    None if p.energy < cutoff => {
                        st.escaped += p.energy;
                        return;
                    }
                    None => {}
                }
            }
            let Some((enter, exit)) = self.lattice.clip(&p.pos, &p.dir, f64::INFINITY) else {
                st.escape(&p);
                return;
            };
            for a in 0..3 {
                p.pos[a] += enter * p.dir[a];
            }
            let span = exit - enter;
            let e = p.energy.min(E_MAX);
            let at = self.physics.grid.locate(e);
            let travelled = match self.options.tracking {
                Tracking::Woodcock => {
                    let mu_max = interp(&self.majorant, at);
                    let mut travelled = 0.0;
                    let mut real = false;
                    while !real {
                        let s = -rng.uniform_open().ln() / mu_max;
                        let seg = s.min(span - travelled);
                        let start = [
                            p.pos[0] + travelled * p.dir[0],
                            p.pos[1] + travelled * p.dir[1],
                            p.pos[2] + travelled * p.dir[2],
                        ];
                        self.score_kerma(&start, &p.dir, seg, e, at, st);
                        travelled += seg;
                        if travelled >= span {
                            break;
                        }
                        let here = [
                            p.pos[0] + travelled * p.dir[0],
                            p.pos[1] + travelled * p.dir[1],
                            p.pos[2] + travelled * p.dir[2],
                        ];
                        if let Some(v) = self.lattice.cell_at(&here) {
                            let m = usize::from(self.mat[v]);
                            let mu = interp(&self.physics.materials[m].total, at)
                                * f64::from(self.rho[v]);
                            real = rng.uniform() * mu_max < mu;
                        }
                    }
                    real.then_some(travelled)
                }
                Tracking::Boundary => {
                    let mut tau = -rng.uniform_open().ln();
                    let mut hit = None;
                    // On the phantom's grid, kerma is scored in the same walk.
                    let fused = self.scoring.is_none() && self.electrons.is_none();
                    let walked = self.walk(&p.pos, &p.dir, span, |v, len| {
                        let m = usize::from(self.mat[v]);
                        let rho = f64::from(self.rho[v]);
                        let mu = interp(&self.physics.materials[m].total, at) * rho;
                        // Track-length kerma per unit length in this voxel, eV/g per cm.
                        let k = e * interp(&self.physics.materials[m].mu_en, at)
                            / self.voxel_volume_cm3;
                        if mu * len > tau {
                            let d = tau / mu;
                            if fused {
                                st.kerma_in(v, k * d);
                            }
                            hit = Some(d);
                            return Some(d);
                        }
                        tau -= mu * len;
                        if fused {
                            st.kerma_in(v, k * len);
                        }
                        None
                    });
                    if !fused {
                        self.score_kerma(&p.pos, &p.dir, walked, e, at, st);
                    }
                    hit.map(|_| walked)
                }
            };
            let Some(d) = travelled else {
                for a in 0..3 {
                    p.pos[a] += span * p.dir[a];
                }
                st.escape(&p);
                return;
            };
            for a in 0..3 {
                p.pos[a] += d * p.dir[a];
            }
            let Some(v) = self.lattice.cell_at(&p.pos) else {
                st.escape(&p);
                return;
            };
            let m = usize::from(self.mat[v]);
            p.primary_unscattered = false;
            match self.physics.interact(m, p.energy, rng) {
                Interaction::Scatter {
                    cos,
                    energy,
                    deposit,
                } => {
                    let before = p.dir;
                    p.dir = rotate(&p.dir, cos, rng);
                    if self.electrons.is_none() {
                        self.deposit(st, v, &p.pos, deposit);
                    } else if deposit > 0.0 {
                        // The Compton electron takes the momentum the photon lost.
                        let e0 = p.energy;
                        let d = [0, 1, 2].map(|a| e0 * before[a] - energy * p.dir[a]);
                        self.give_electron(st, v, &p.pos, d, deposit, -1, rng);
                    }
                    p.energy = energy;
                }
                Interaction::Absorb {
                    deposit,
                    fluorescence,
                } => {
                    if self.electrons.is_some() && deposit > 0.0 {
                        let cos = crate::electron::sample_sauter(deposit, rng);
                        let d = rotate(&p.dir, cos, rng);
                        self.give_electron(st, v, &p.pos, d, deposit, -1, rng);
                    } else {
                        self.deposit(st, v, &p.pos, deposit);
                    }
                    if let Some(f) = fluorescence {
                        st.stack
                            .push(Photon::secondary(p.pos, isotropic(rng), f, 0));
                    }
                    return;
                }
                Interaction::Pair { deposit } => {
                    if self.electrons.is_some() {
                        // Kinetic energy shared uniformly (a simplification of Bethe-Heitler's
                        // distribution), each lepton at the leading-order angle; the positron
                        // annihilates where it stops.
                        let t1 = deposit * rng.uniform();
                        for (t, q) in [(t1, -1i8), (deposit - t1, 1)] {
                            let g = t / crate::data::ELECTRON_MASS_EV + 1.0;
                            let beta = (1.0 - 1.0 / (g * g)).sqrt();
                            let cos = crate::electron::sample_forward(beta, rng);
                            let d = rotate(&p.dir, cos, rng);
                            self.give_electron(st, v, &p.pos, d, t, q, rng);
                        }
                    } else {
                        self.deposit(st, v, &p.pos, deposit);
                        annihilate_at_rest(st, &p.pos, rng);
                    }
                    return;
                }
            }
        }
    }

    /// Hands kinetic energy `t` to a new electron (`charge` -1) or positron (+1) moving along
    /// `dir` (not normalised) at `pos` in voxel `v`: transported when electrons are, else
    /// deposited on the spot (a positron then annihilates there).
    #[allow(clippy::too_many_arguments)]
    fn give_electron(
        &self,
        st: &mut BatchState,
        v: usize,
        pos: &[f64; 3],
        dir: [f64; 3],
        t: f64,
        charge: i8,
        rng: &mut Rng,
    ) {
        let n = (dir[0] * dir[0] + dir[1] * dir[1] + dir[2] * dir[2]).sqrt();
        match &self.electrons {
            Some(ep) if t >= ep.options.cutoff_ev && n > 0.0 => {
                st.stack.push(Photon::secondary(
                    *pos,
                    [dir[0] / n, dir[1] / n, dir[2] / n],
                    t,
                    charge,
                ));
            }
            _ => {
                self.deposit(st, v, pos, t);
                if charge > 0 {
                    annihilate_at_rest(st, pos, rng);
                }
            }
        }
    }

    /// The distance (cm) from `pos` to the nearest face of its voxel.
    #[inline]
    fn distance_to_faces(&self, pos: &[f64; 3]) -> f64 {
        let mut d = f64::INFINITY;
        for (x, size) in pos.iter().zip(self.lattice.voxel_cm) {
            let x = x / size;
            let frac = x - (x as i64) as f64;
            d = d.min(frac.min(1.0 - frac) * size);
        }
        d
    }

    /// A charged particle stops: its kinetic energy is deposited in voxel `v`; a positron
    /// annihilates at rest.
    fn stop_charged(&self, p: &Photon, v: usize, rng: &mut Rng, st: &mut BatchState) {
        self.deposit(st, v, &p.pos, p.energy);
        if p.charge > 0 {
            annihilate_at_rest(st, &p.pos, rng);
        }
    }

    /// Follows an electron or positron (class II condensed history; see `electron`) until it
    /// stops or leaves the phantom; returns the path length travelled, cm.
    fn track_charged(&self, p: Photon, rng: &mut Rng, st: &mut BatchState) -> f64 {
        self.track_charged_to_end(p, rng, st).0
    }

    /// [`Transport::track_charged`], also returning where the particle ended.
    fn track_charged_to_end(
        &self,
        mut p: Photon,
        rng: &mut Rng,
        st: &mut BatchState,
    ) -> (f64, [f64; 3]) {
        let Some(ep) = &self.electrons else {
            // Not transported: deposited where it starts (cannot happen from photons).
            if let Some(v) = self.lattice.cell_at(&p.pos) {
                self.stop_charged(&p, v, rng, st);
            } else {
                self.escape_charged(st, &p);
            }
            return (0.0, p.pos);
        };
        let o = &ep.options;
        let q = usize::from(p.charge > 0);
        let mut path = 0.0;
        // A source particle may start outside: move it to the phantom's surface.
        if self.lattice.cell_at(&p.pos).is_none() {
            match self.lattice.clip(&p.pos, &p.dir, f64::INFINITY) {
                Some((enter, _)) => {
                    for a in 0..3 {
                        p.pos[a] += (enter + 1e-9) * p.dir[a];
                    }
                }
                None => {
                    self.escape_charged(st, &p);
                    return (0.0, p.pos);
                }
            }
        }
        loop {
            let Some(v) = self.lattice.cell_at(&p.pos) else {
                self.escape_charged(st, &p);
                return (path, p.pos);
            };
            let e = p.energy;
            if e < o.cutoff_ev {
                self.stop_charged(&p, v, rng, st);
                return (path, p.pos);
            }
            let m = usize::from(self.mat[v]);
            let rho_f = self.rho[v];
            let rho = f64::from(rho_f);
            if rho <= 0.0 {
                // A void voxel: fly straight to the next voxel that is not.
                let mut found = false;
                let d = self.walk(&p.pos, &p.dir, f64::INFINITY, |c, _| {
                    found = self.rho[c] > 0.0;
                    found.then_some(0.0)
                });
                if !found {
                    self.escape_charged(st, &p);
                    return (path, p.pos);
                }
                for a in 0..3 {
                    p.pos[a] += (d + 1e-9) * p.dir[a];
                }
                path += d;
                continue;
            }
            if o.range_rejection
                && e < o.range_rejection_max_ev
                && ep.range(m, q, e) / rho < self.distance_to_faces(&p.pos)
            {
                self.stop_charged(&p, v, rng, st);
                return (path, p.pos);
            }
            let t = &ep.materials[m];
            let at = ep.locate(e);
            let sigma_max = interp(&t.hard_max[q], at) * rho;
            let s_hard = -rng.uniform_open().ln() / sigma_max;
            let s_max = interp(&t.step_max[q], at) / rho;
            let (s, hard) = if s_hard < s_max {
                (s_hard, true)
            } else {
                (s_max, false)
            };
            // Soft elastic moments over the step (Lewis): <mu> and <mu^2>.
            let k1 = interp(&t.soft1, at) * rho * s;
            let k2 = interp(&t.soft2, at) * rho * s;
            let m1 = 0.5 * one_minus_exp(2.0 * k1);
            let m2 = (6.0 * m1 - one_minus_exp(6.0 * (k1 - k2))) / 6.0;
            let hinge = rng.uniform() * s;
            let mu = crate::electron::soft_deflection(m1, m2, rng);
            let turned = rotate_disc(&p.dir, 1.0 - 2.0 * mu, rng);
            let h = [0, 1, 2].map(|a| p.pos[a] + hinge * p.dir[a]);
            let end = [0, 1, 2].map(|a| h[a] + (s - hinge) * turned[a]);
            if self.scoring.is_none()
                && self.lattice.cell_at(&h) == Some(v)
                && self.lattice.cell_at(&end) == Some(v)
            {
                // The whole step lies in this voxel (a box holds the segments between points
                // it holds): one deposit.
                let reach = interp(&t.range[q], at) / rho;
                if s >= reach {
                    path += reach;
                    p.pos = h;
                    p.energy = e;
                    self.stop_charged(&p, v, rng, st);
                    return (path, p.pos);
                }
                let e_end = ep.energy_after_at(m, q, e, at, s * rho);
                st.deposit(v, e - e_end, self.mass_g(v));
                p.energy = e_end;
                p.pos = end;
                p.dir = turned;
                path += s;
            } else {
                let first = self.charged_segment(&mut p, m, rho_f, q, hinge, st);
                path += first.0;
                if first.1 != Segment::Done {
                    if first.1 == Segment::Left {
                        self.escape_charged(st, &p);
                        return (path, p.pos);
                    }
                    continue;
                }
                p.dir = turned;
                let second = self.charged_segment(&mut p, m, rho_f, q, s - hinge, st);
                path += second.0;
                match second.1 {
                    Segment::Done => {}
                    Segment::Left => {
                        self.escape_charged(st, &p);
                        return (path, p.pos);
                    }
                    Segment::Boundary | Segment::Stopped => continue,
                }
            }
            if !hard || p.energy < o.cutoff_ev {
                continue;
            }
            // A hard event, or a delta event (majorant), at the energy reached.
            let e = p.energy;
            let at = ep.locate(e);
            let el = interp(&t.hard_elastic, at);
            let de = interp(&t.delta[q], at);
            let br = interp(&t.brems, at);
            let an = if q == 1 {
                interp(&t.annihilation, at)
            } else {
                0.0
            };
            let mut u = rng.uniform() * sigma_max / rho;
            if u < el {
                let mu = ep.sample_hard_elastic(m, e, rng);
                p.dir = rotate_disc(&p.dir, 1.0 - 2.0 * mu, rng);
                continue;
            }
            u -= el;
            if u < de {
                let w = if q == 0 {
                    crate::electron::sample_moller(e, o.delta_threshold_ev, rng)
                } else {
                    crate::electron::sample_bhabha(e, o.delta_threshold_ev, rng)
                };
                let (cp, cs) = crate::electron::binary_cosines(e, w);
                let phi = 2.0 * std::f64::consts::PI * rng.uniform();
                let (c, sn) = (phi.cos(), phi.sin());
                let d2 = rotate_with(&p.dir, cs, -c, -sn);
                p.dir = rotate_with(&p.dir, cp, c, sn);
                p.energy = e - w;
                let here = self.lattice.cell_at(&p.pos).unwrap_or(v);
                self.give_electron(st, here, &p.pos, d2, w, -1, rng);
                continue;
            }
            u -= de;
            if u < br {
                let k = crate::electron::sample_brems(e, o.bremsstrahlung_threshold_ev, rng);
                let g = e / crate::data::ELECTRON_MASS_EV + 1.0;
                let beta = (1.0 - 1.0 / (g * g)).sqrt();
                let cos = crate::electron::sample_forward(beta, rng);
                st.stack
                    .push(Photon::secondary(p.pos, rotate(&p.dir, cos, rng), k, 0));
                p.energy = e - k;
                continue;
            }
            u -= br;
            if u < an {
                let mc2 = crate::data::ELECTRON_MASS_EV;
                let (z, cos) = crate::electron::sample_annihilation(e, rng);
                let total = e + 2.0 * mc2;
                let k1 = z * total;
                let d1 = rotate(&p.dir, cos, rng);
                let pm = (e * (e + 2.0 * mc2)).sqrt();
                let d2 = [0, 1, 2].map(|a| pm * p.dir[a] - k1 * d1[a]);
                let n2 = (d2[0] * d2[0] + d2[1] * d2[1] + d2[2] * d2[2])
                    .sqrt()
                    .max(1e-300);
                st.stack.push(Photon::secondary(p.pos, d1, k1, 0));
                st.stack.push(Photon::secondary(
                    p.pos,
                    [d2[0] / n2, d2[1] / n2, d2[2] / n2],
                    total - k1,
                    0,
                ));
                return (path, p.pos);
            }
            // Otherwise a delta event of the majorant: nothing happens.
        }
    }

    /// A charged particle leaves the phantom: its kinetic energy (and a positron's rest
    /// energy, 2 mc^2 with its partner) escapes.
    fn escape_charged(&self, st: &mut BatchState, p: &Photon) {
        st.escaped += p.energy;
        if p.charge > 0 {
            st.escaped += 2.0 * crate::data::ELECTRON_MASS_EV;
        }
    }

    /// Moves a charged particle `len` cm straight on through voxels of medium (`m`, `rho`),
    /// losing energy continuously (range tables) and depositing it voxel by voxel. Stops early
    /// where the medium changes (the particle is put just inside the new voxel), where it leaves
    /// the phantom, or where its range runs out. Returns the length moved and why it stopped.
    fn charged_segment(
        &self,
        p: &mut Photon,
        m: usize,
        rho: f32,
        q: usize,
        len: f64,
        st: &mut BatchState,
    ) -> (f64, Segment) {
        let Some(ep) = &self.electrons else {
            return (0.0, Segment::Stopped);
        };
        let rho_g = f64::from(rho);
        let start = p.pos;
        // The energy lost over the whole length (range tables), shared among the voxels crossed
        // in proportion to their path lengths (the stopping power changes little within one
        // step); the pieces add up to the loss exactly.
        let e0 = p.energy;
        let at = ep.locate(e0);
        let reach = interp(&ep.materials[m].range[q], at) / rho_g;
        let exhausted = len >= reach;
        let len = len.min(reach);
        let e_end = if exhausted {
            0.0
        } else {
            ep.energy_after_at(m, q, e0, at, len * rho_g)
        };
        let per_cm = (e0 - e_end) / len.max(1e-300);
        let mut ray = Ray::new(&self.lattice, &start, &p.dir, len);
        let mut moved = 0.0;
        let mut left = e0 - e_end;
        while let Some((c, t0, seg)) = ray.next(&self.lattice) {
            if usize::from(self.mat[c]) != m || self.rho[c] != rho {
                let t = t0 + 1e-9;
                p.pos = [0, 1, 2].map(|a| start[a] + t * p.dir[a]);
                p.energy = e_end + left;
                return (t, Segment::Boundary);
            }
            let loss = if t0 + seg >= len {
                left
            } else {
                (per_cm * seg).min(left)
            };
            left -= loss;
            let mid = [0, 1, 2].map(|a| start[a] + (t0 + 0.5 * seg) * p.dir[a]);
            self.deposit(st, c, &mid, loss);
            moved = t0 + seg;
        }
        p.energy = e_end + left;
        if exhausted && moved >= len * (1.0 - 1e-12) {
            // Range exhausted (the caller stops the particle here).
            p.pos = [0, 1, 2].map(|a| start[a] + (len * (1.0 - 1e-9)) * p.dir[a]);
            return (moved, Segment::Stopped);
        }
        p.pos = [0, 1, 2].map(|a| start[a] + len * p.dir[a]);
        if moved < len * (1.0 - 1e-12) || self.lattice.cell_at(&p.pos).is_none() {
            return (moved, Segment::Left);
        }
        (len, Segment::Done)
    }

    fn mass_g(&self, v: usize) -> f64 {
        f64::from(self.rho[v]) * self.voxel_volume_cm3
    }

    /// Track-length collision kerma along a straight segment (Williamson 1987): in each voxel,
    /// length x E x mu_en/rho / volume, eV/g.
    fn score_kerma(
        &self,
        start: &[f64; 3],
        dir: &[f64; 3],
        len: f64,
        e: f64,
        at: (usize, f64),
        st: &mut BatchState,
    ) {
        // With electron transport the analog tally is the dose; kerma is not scored.
        if len <= 0.0 || self.electrons.is_some() {
            return;
        }
        if let Some(sg) = &self.scoring {
            self.score_kerma_on(sg, start, dir, len, e, at, st);
            return;
        }
        // The voxels and segment lengths are found a chunk at a time before any is scored, so
        // that the scores' memory accesses (scattered over the grid) are independent of each
        // other and of the walk's branches, and their cache misses overlap.
        const CHUNK: usize = 32;
        let mut ray = Ray::new(&self.lattice, start, dir, len);
        let mut cells = [0u32; CHUNK];
        let mut segs = [0f64; CHUNK];
        // Kerma per unit track length, eV/g per cm, for the last material seen (in a phantom of
        // one material, the only one: no per-voxel lookup).
        let one_material = self.physics.materials.len() == 1;
        let (mut last, mut k) = (
            0,
            e * interp(&self.physics.materials[0].mu_en, at) / self.voxel_volume_cm3,
        );
        loop {
            let mut n = 0;
            while n < CHUNK {
                let Some((v, _, seg)) = ray.next(&self.lattice) else {
                    break;
                };
                prefetch(&st.kerma[v]);
                if !one_material {
                    prefetch(&self.mat[v]);
                }
                cells[n] = v as u32;
                segs[n] = seg;
                n += 1;
            }
            for (&v, &seg) in cells[..n].iter().zip(&segs[..n]) {
                if !one_material {
                    let m = usize::from(self.mat[v as usize]);
                    if m != last {
                        last = m;
                        k = e * interp(&self.physics.materials[m].mu_en, at)
                            / self.voxel_volume_cm3;
                    }
                }
                st.kerma_in(v as usize, seg * k);
            }
            if n < CHUNK {
                return;
            }
        }
    }
}

impl Transport {
    /// Track-length kerma on a separate scoring grid: the segment is cut at the boundaries of
    /// both grids, each piece scored in its scoring voxel with its phantom voxel's mu_en/rho.
    #[allow(clippy::too_many_arguments)]
    fn score_kerma_on(
        &self,
        sg: &ScoringGrid,
        start: &[f64; 3],
        dir: &[f64; 3],
        len: f64,
        e: f64,
        at: (usize, f64),
        st: &mut BatchState,
    ) {
        let Some((t0, t1)) = sg.lattice.clip(start, dir, len) else {
            return;
        };
        let p0 = [0, 1, 2].map(|a| start[a] + t0 * dir[a]);
        let len = t1 - t0;
        let k_of = |m: usize| e * interp(&self.physics.materials[m].mu_en, at) / sg.volume_cm3;
        let mut scoring = Ray::new(&sg.lattice, &p0, dir, len);
        if self.physics.materials.len() == 1 {
            let k = k_of(0);
            while let Some((c, _, seg)) = scoring.next(&sg.lattice) {
                st.kerma_in(c, seg * k);
            }
            return;
        }
        let mut phantom = Ray::new(&self.lattice, &p0, dir, len);
        let (mut p, mut s) = (phantom.next(&self.lattice), scoring.next(&sg.lattice));
        let mut t = 0.0;
        while let (Some((pv, ps, pl)), Some((sv, ss, sl))) = (p, s) {
            let (p_end, s_end) = (ps + pl, ss + sl);
            let end = p_end.min(s_end);
            if end > t {
                st.kerma_in(sv, (end - t) * k_of(usize::from(self.mat[pv])));
                t = end;
            }
            if p_end <= end {
                p = phantom.next(&self.lattice);
            }
            if s_end <= end {
                s = scoring.next(&sg.lattice);
            }
        }
    }
}

/// A ray walking through the voxels (Amanatides and Woo 1987), in the local frame.
struct Ray {
    idx: [i64; 3],
    step: [i64; 3],
    t_max: [f64; 3],
    t_delta: [f64; 3],
    /// Distance walked so far, cm.
    t: f64,
    len: f64,
    done: bool,
}

impl Ray {
    fn new(lattice: &Lattice, pos: &[f64; 3], dir: &[f64; 3], len: f64) -> Self {
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
    fn next(&mut self, lattice: &Lattice) -> Option<(usize, f64, f64)> {
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

/// A worker's state for one batch at a time.
struct BatchState {
    /// Per cell, the kerma and the analog scores (apart: kerma is scored in many voxels per
    /// history, analog in a few).
    kerma: Vec<Score>,
    analog: Vec<Score>,
    /// The history being run, counted from 1 within the batch.
    history: u32,
    emitted: f64,
    deposited: f64,
    escaped: f64,
    /// Energy absorbed in the source itself.
    in_source: f64,
    uncollided: u64,
    stack: Vec<Photon>,
}

/// One voxel's score in a batch: the current history's contribution and the sums over the
/// batch's earlier histories of the contributions and of their squares, in one 24-byte record so
/// that scoring touches one place in memory. The contribution is moved into the sums when a later
/// history scores here (or when the batch ends), the history-by-history method of Sempau et al.
/// (2001) and Walters et al. (2002), without a list of touched voxels. The sums are f64 in history
/// order (deterministic within the batch), moved into exact fixed point when the batch ends.
#[derive(Debug, Clone, Copy, Default)]
struct Score {
    sum: f64,
    sum2: f64,
    temp: f32,
    /// The history `temp` belongs to (0: none).
    last: u32,
}

impl Score {
    #[inline]
    fn add(&mut self, history: u32, value: f32) {
        if self.last != history {
            self.flush();
            self.last = history;
        }
        self.temp += value;
    }

    #[inline]
    fn flush(&mut self) {
        let x = f64::from(std::mem::take(&mut self.temp));
        self.sum += x;
        self.sum2 += x * x;
    }
}

impl BatchState {
    fn new(n: usize) -> Self {
        Self {
            kerma: vec![Score::default(); n],
            analog: vec![Score::default(); n],
            history: 0,
            emitted: 0.0,
            deposited: 0.0,
            escaped: 0.0,
            in_source: 0.0,
            uncollided: 0,
            stack: Vec::new(),
        }
    }

    #[inline]
    fn deposit(&mut self, v: usize, energy: f64, mass_g: f64) {
        if energy <= 0.0 {
            return;
        }
        self.deposited += energy;
        self.analog[v].add(self.history, (energy / mass_g.max(1e-300)) as f32);
    }

    #[inline]
    fn kerma_in(&mut self, v: usize, value: f64) {
        if value > 0.0 {
            self.kerma[v].add(self.history, value as f32);
        }
    }

    fn escape(&mut self, p: &Photon) {
        self.escaped += p.energy;
        if p.primary_unscattered {
            self.uncollided += 1;
        }
    }
}

/// Sums over batches in exact 128-bit fixed point (2^-40 eV/g for the sums, 2^-20 (eV/g)^2 for
/// the sums of squares, 2^-20 eV for the energy totals), per cell; integer addition is exact,
/// associative and commutative, so however batches are grouped (threads, machines, runs) the
/// sums are the same bits.
struct Accumulator {
    histories: u64,
    kerma: Tally,
    analog: Tally,
    energy: [i128; 4],
    uncollided: u64,
}

impl Accumulator {
    fn new(n: usize) -> Self {
        Self {
            histories: 0,
            kerma: Tally::new(n),
            analog: Tally::new(n),
            energy: [0; 4],
            uncollided: 0,
        }
    }

    /// Adds a finished batch and zeroes its sums for the next one.
    fn add_batch(&mut self, st: &mut BatchState, count: u64) {
        for (scores, tally) in [
            (&mut st.kerma, &mut self.kerma),
            (&mut st.analog, &mut self.analog),
        ] {
            for (v, s) in scores.iter_mut().enumerate() {
                if s.last != 0 {
                    s.flush();
                    let Score { sum, sum2, .. } = std::mem::take(s);
                    tally.sum[v] = tally.sum[v].saturating_add(fixed(sum * SUM_SCALE));
                    tally.sum2[v] = tally.sum2[v].saturating_add(fixed(sum2 * SUM2_SCALE));
                }
            }
        }
        st.history = 0;
        let energy =
            [st.emitted, st.deposited, st.escaped, st.in_source].map(|e| fixed(e * ENERGY_SCALE));
        for (a, b) in self.energy.iter_mut().zip(energy) {
            *a = a.saturating_add(b);
        }
        self.histories += count;
        self.uncollided += st.uncollided;
        (
            st.emitted,
            st.deposited,
            st.escaped,
            st.in_source,
            st.uncollided,
        ) = (0.0, 0.0, 0.0, 0.0, 0);
    }

    /// Adds another worker's sums.
    fn add(&mut self, other: Accumulator) {
        if self.kerma.is_empty() {
            *self = other;
            return;
        }
        self.histories += other.histories;
        self.kerma.add(&other.kerma);
        self.analog.add(&other.analog);
        for (a, b) in self.energy.iter_mut().zip(other.energy) {
            *a = a.saturating_add(b);
        }
        self.uncollided += other.uncollided;
    }

    /// The sums in voxel order.
    fn into_partial(self, batches: Range<u64>, dims: [usize; 3], blocks: [usize; 3]) -> Partial {
        let n = dims[0] * dims[1] * dims[2];
        let reorder = |t: &Tally| {
            let mut out = Tally::new(n);
            let cells = (0..dims[2]).flat_map(|k| {
                (0..dims[1])
                    .flat_map(move |j| (0..dims[0]).map(move |i| cell_index(blocks, i, j, k)))
            });
            for (v, c) in cells.enumerate() {
                out.sum[v] = t.sum[c];
                out.sum2[v] = t.sum2[c];
            }
            out
        };
        Partial {
            batches,
            histories: self.histories,
            analog: reorder(&self.analog),
            kerma: reorder(&self.kerma),
            energy: self.energy,
            uncollided: self.uncollided,
        }
    }
}

/// `x` rounded to an integer (through i64 when it fits: the usual case, and much faster).
#[inline]
fn fixed(x: f64) -> i128 {
    if x.abs() < 9.0e18 {
        // Truncation is one instruction (round() is a library call on the x86_64 baseline);
        // then half away from zero, as round() does.
        let t = x as i64;
        let frac = x - t as f64;
        i128::from(if frac >= 0.5 {
            t + 1
        } else if frac <= -0.5 {
            t - 1
        } else {
            t
        })
    } else {
        x.round() as i128
    }
}

/// Asks the processor to start loading `x`'s cache line (a hint; no effect on results).
#[inline(always)]
#[allow(unsafe_code)]
fn prefetch<T>(x: &T) {
    // SAFETY: SSE is part of the x86_64 baseline, and a prefetch of a valid reference's address
    // neither reads into the program nor faults.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            (x as *const T).cast::<i8>(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

/// The cell of voxel (i, j, k): blocks of 4 x 4 x 4 voxels, x fastest, block after block.
#[inline]
fn cell_index(blocks: [usize; 3], i: usize, j: usize, k: usize) -> usize {
    let block = (i >> 2) + blocks[0] * ((j >> 2) + blocks[1] * (k >> 2));
    (block << 6) | ((k & 3) << 4) | ((j & 3) << 2) | (i & 3)
}

/// Why a charged particle's straight segment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment {
    /// The whole length was moved.
    Done,
    /// The medium (material or density) changes ahead.
    Boundary,
    /// The particle left the phantom.
    Left,
    /// The particle's range ran out.
    Stopped,
}

/// 1 - exp(-x) for x >= 0 (a series where x is small, as soft deflections are).
#[inline]
fn one_minus_exp(x: f64) -> f64 {
    if x < 0.02 {
        x * (1.0 - x / 2.0 * (1.0 - x / 3.0 * (1.0 - x / 4.0 * (1.0 - x / 5.0))))
    } else {
        -(-x).exp_m1()
    }
}

/// `dir` turned by a polar angle of cosine `cos` and a uniform azimuth, the azimuth's cosine and
/// sine from a point uniform in the unit disc (no trigonometric functions; for the electron
/// steps, of which there are many).
#[inline]
fn rotate_disc(dir: &[f64; 3], cos: f64, rng: &mut Rng) -> [f64; 3] {
    loop {
        let x = 2.0 * rng.uniform() - 1.0;
        let y = 2.0 * rng.uniform() - 1.0;
        let r2 = x * x + y * y;
        if r2 <= 1.0 && r2 > 1e-12 {
            let inv = 1.0 / r2;
            return rotate_with(dir, cos, (x * x - y * y) * inv, 2.0 * x * y * inv);
        }
    }
}

/// A positron at rest at `pos` annihilates with an electron: two 511 keV photons back to back,
/// isotropic.
fn annihilate_at_rest(st: &mut BatchState, pos: &[f64; 3], rng: &mut Rng) {
    let d = isotropic(rng);
    for s in [1.0, -1.0] {
        st.stack.push(Photon::secondary(
            *pos,
            [s * d[0], s * d[1], s * d[2]],
            crate::data::ELECTRON_MASS_EV,
            0,
        ));
    }
}

/// An isotropic direction.
pub(crate) fn isotropic(rng: &mut Rng) -> [f64; 3] {
    let cos = 2.0 * rng.uniform() - 1.0;
    let sin = (1.0 - cos * cos).max(0.0).sqrt();
    let phi = 2.0 * std::f64::consts::PI * rng.uniform();
    [sin * phi.cos(), sin * phi.sin(), cos]
}

/// `dir` turned by a polar angle of cosine `cos` and a uniform azimuth.
pub(crate) fn rotate(dir: &[f64; 3], cos: f64, rng: &mut Rng) -> [f64; 3] {
    let phi = 2.0 * std::f64::consts::PI * rng.uniform();
    rotate_with(dir, cos, phi.cos(), phi.sin())
}

/// `dir` turned by a polar angle of cosine `cos` and the azimuth of cosine `cp`, sine `sp`. One
/// division and two square roots; the result is renormalised only when rounding has moved its
/// length by more than 1e-12 (electron steps turn many times).
#[inline]
pub(crate) fn rotate_with(dir: &[f64; 3], cos: f64, cp: f64, sp: f64) -> [f64; 3] {
    let sin = (1.0 - cos * cos).max(0.0).sqrt();
    let [u, v, w] = *dir;
    let out = if w.abs() > 0.999_999 {
        [sin * cp, sin * sp, cos * w.signum()]
    } else {
        let s2 = 1.0 - w * w;
        let inv = 1.0 / s2.sqrt();
        let k = sin * inv;
        [
            u * cos + k * (u * w * cp - v * sp),
            v * cos + k * (v * w * cp + u * sp),
            w * cos - sin * cp * s2 * inv,
        ]
    };
    let n2 = out[0] * out[0] + out[1] * out[1] + out[2] * out[2];
    if (n2 - 1.0).abs() > 1e-12 {
        let k = 1.0 / n2.sqrt();
        return [out[0] * k, out[1] * k, out[2] * k];
    }
    out
}
