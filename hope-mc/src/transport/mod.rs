//! Photon transport in a voxel phantom: Woodcock (delta) tracking with a majorant, or boundary
//! (ray-marching) tracking; dose scored at interactions (analog) and by the track-length kerma
//! estimator along every flight; batches of histories with their own random streams, merged in
//! batch order so that results do not depend on the thread count.
//!
//! The tracking loop is cut by particle: `photon` (flights, interactions, the track-length
//! kerma estimator) and `charged` (class II condensed history of electrons and positrons). What
//! it scores goes through the scoring object of [`crate::tally`].

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use hope_core::Grid;

use crate::Material;
use crate::geometry::{Frame, Lattice, Phantom, Ray, ScoringGrid, cell_index};
use crate::particle::Photon;
use crate::physics::electron::ElectronPhysics;
use crate::physics::{DoseTo, PhotonPhysics, PhysicsOptions};
use crate::rng::Rng;
use crate::source::Source;
use crate::tally::Partial;
use crate::tally::batch::{Accumulator, BatchState};
use crate::{Error, Result};

mod charged;
mod photon;
mod plane;
mod repeat;
mod track;
mod variance;

pub use plane::PhaseSpacePlane;
pub use variance::{MAX_SPLITTING, VarianceReduction};

/// How photons are tracked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tracking {
    /// Woodcock (delta) tracking with a majorant cross section.
    Woodcock,
    /// Voxel-by-voxel ray marching (exact boundaries).
    Boundary,
    /// Woodcock unless the majorant is more than [`AUTO_MAJORANT_RATIO`] times the phantom's
    /// mean attenuation at every energy from 30 keV to 1 MeV (dense metal in tissue: each real
    /// interaction would cost that many virtual ones), then boundary tracking.
    /// [`Transport::options`] gives the choice made.
    #[default]
    Auto,
}

/// The ratio of the majorant to the phantom's mean attenuation above which
/// [`Tracking::Auto`] chooses boundary tracking (and a run with Woodcock tracking is warned).
pub const AUTO_MAJORANT_RATIO: f64 = 4.0;

/// The energies (eV) at which [`Tracking::Auto`] compares the majorant with the mean
/// attenuation.
const AUTO_ENERGIES_EV: [f64; 4] = [30e3, 100e3, 300e3, 1e6];

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
    /// Variance reduction (default: none, the analog engine; range rejection of electrons is
    /// an electron option).
    pub variance_reduction: VarianceReduction,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            physics: PhysicsOptions::default(),
            tracking: Tracking::Auto,
            batch_size: 250_000,
            threads: 0,
            variance_reduction: VarianceReduction::default(),
        }
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
    /// See [`Transport::majorant_ratio`].
    majorant_ratio: f64,
    voxel_volume_cm3: f64,
    options: RunOptions,
    /// Material index per cell (per-voxel data is stored in blocks of 4 x 4 x 4 voxels, cells,
    /// so that a ray's neighbouring voxels share cache lines and pages; see [`Lattice`]).
    mat: Vec<u16>,
    /// Electron-table index per cell (with electron transport): the cell's material at its
    /// density bin (see [`electron_materials`]).
    emat: Vec<u16>,
    /// Density per cell, g/cm^3.
    rho: Vec<f32>,
    /// The highest photon cutoff of any material, eV.
    max_cutoff: f64,
    /// The phantom's voxels in the local frame (corner of voxel 0 at the origin).
    lattice: Lattice,
    /// Where dose is scored when not on the phantom's grid.
    scoring: Option<ScoringGrid>,
    /// Patient coordinates to the local frame.
    frame: Frame,
}

/// Width of the density bins of the electron tables, in ln(density): 2 %.
const DENSITY_BIN: f64 = 0.02;

/// The electron-table index of every cell: the density-effect correction of the collision
/// stopping power depends on the density, so a material met at a density other than its
/// nominal one gets tables of its own, one per 2 % bin of ln(density / nominal) (the bin's
/// centre density; a cell at the nominal density uses the nominal tables). Within a bin delta
/// differs by at most 0.01, the collision stopping power by under 0.05 %.
fn electron_materials(
    ep: &mut ElectronPhysics,
    materials: &[Material],
    mat: &[u16],
    rho: &[f32],
) -> Result<Vec<u16>> {
    let mut bins: std::collections::HashMap<(u16, i64), u16> = std::collections::HashMap::new();
    let mut out = Vec::with_capacity(mat.len());
    for (&m, &r) in mat.iter().zip(rho) {
        let material = &materials[usize::from(m)];
        let nominal = material.density();
        let k = if r > 0.0 {
            ((f64::from(r) / nominal).ln() / DENSITY_BIN).round() as i64
        } else {
            0
        };
        if k == 0 {
            out.push(m);
            continue;
        }
        let index = match bins.get(&(m, k)) {
            Some(&i) => i,
            None => {
                let density = nominal * (k as f64 * DENSITY_BIN).exp();
                let i = ep.add_density_variant(usize::from(m), material, density);
                let i = u16::try_from(i).map_err(|_| Error::Phantom {
                    message: format!(
                        "more than {} material and density combinations for the electron tables",
                        u16::MAX
                    ),
                })?;
                bins.insert((m, k), i);
                i
            }
        };
        out.push(index);
    }
    Ok(out)
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
        options
            .variance_reduction
            .validate()
            .map_err(|(field, message)| Error::Phantom {
                message: format!("variance reduction {field}: {message}"),
            })?;
        let physics = PhotonPhysics::new(&phantom.materials, options.physics.clone());
        let mut electrons = if options.physics.electrons.transport {
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
        let majorant: Vec<f64> = (0..n)
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
        let majorant_ratio = majorant_ratio(&physics, &majorant, &phantom);
        let mut options = options;
        if options.tracking == Tracking::Auto {
            options.tracking = if majorant_ratio > AUTO_MAJORANT_RATIO {
                Tracking::Boundary
            } else {
                Tracking::Woodcock
            };
        }
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
        let emat = match &mut electrons {
            Some(ep) => {
                let emat = electron_materials(ep, &phantom.materials, &mat, &rho)?;
                if options.physics.dose_to == DoseTo::Water {
                    ep.score_to_water()?;
                }
                emat
            }
            None => Vec::new(),
        };
        let max_cutoff = physics
            .materials
            .iter()
            .map(|m| m.cutoff)
            .fold(physics.options.photon_cutoff_ev, f64::max);
        let frame = Frame::new(phantom.grid.clone(), voxel_cm);
        Ok(Self {
            frame,
            electrons,
            max_cutoff,
            lattice,
            scoring: None,
            mat,
            emat,
            rho,
            voxel_volume_cm3: voxel_cm[0] * voxel_cm[1] * voxel_cm[2],
            phantom,
            physics,
            majorant,
            majorant_ratio,
            options,
        })
    }

    /// The ratio of the majorant to the phantom's mean attenuation, the smallest over 30 keV to
    /// 1 MeV: about the number of flights (real and virtual) per real interaction under Woodcock
    /// tracking.
    pub fn majorant_ratio(&self) -> f64 {
        self.majorant_ratio
    }

    /// Warnings about the run's settings (the library does not print them): Woodcock tracking
    /// with a majorant far above the mean attenuation.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.options.tracking == Tracking::Woodcock && self.majorant_ratio > AUTO_MAJORANT_RATIO
        {
            out.push(format!(
                "Woodcock tracking with a majorant {:.0} times the phantom's mean attenuation \
                 (dense material in the phantom): about {:.0} flights per interaction; boundary \
                 tracking (tracking = \"boundary\" or \"auto\") is likely much faster",
                self.majorant_ratio, self.majorant_ratio
            ));
        }
        out
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
        self.deposit_as(st, v, pos, energy, energy);
    }

    /// Scores an energy deposit at `pos`, in phantom voxel `v`, that counts as `scored` in the
    /// dose (the energy water would have absorbed, for dose to water).
    #[inline]
    fn deposit_as(&self, st: &mut BatchState, v: usize, pos: &[f64; 3], energy: f64, scored: f64) {
        match &self.scoring {
            None => st.deposit_as(v, energy, scored, self.mass_g(v)),
            Some(s) => match s.lattice.cell_at(pos) {
                Some(c) => st.deposit_as(c, energy, scored, f64::from(self.rho[v]) * s.volume_cm3),
                // In the phantom but outside the scoring grid.
                None => st.deposited += energy * st.weight,
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
            st.follow(&p);
            let (walked, end) = self.track_charged_to_end(p, &mut rng, &mut st);
            path += walked;
            depth += end[2] - centre[2];
            while let Some(p) = st.stack.pop() {
                st.follow(&p);
                if p.charge == 0 {
                    self.track(p, &mut rng, &mut st, None, &mut 0);
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
        let pool = self.pool()?;
        let n_batches = range.end.saturating_sub(range.start);
        if n_batches == 0 {
            return Err(Error::Merge {
                message: format!("no batches in {range:?}"),
            });
        }
        let done = AtomicU64::new(0);
        let total = self.run_on(
            &pool,
            (source, histories, seed),
            range.clone(),
            &done,
            progress,
            |_| {},
            |_, _| {},
        );
        let lattice = self.score_lattice();
        Ok(total.into_partial(range, lattice.dims, lattice.blocks))
    }

    /// The run's worker threads, once the memory they will need is known to be there.
    pub(super) fn pool(&self) -> Result<rayon::ThreadPool> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.options.threads)
            .build()
            .map_err(|e| Error::Phantom {
                message: format!("cannot start worker threads: {e}"),
            })?;
        self.check_memory(pool.current_num_threads(), available_memory())?;
        Ok(pool)
    }

    /// Refuses a run whose tallies would not fit in `available` bytes (when known): each worker
    /// keeps two scores (48 bytes) and two exact sums (64 bytes) per scoring cell, and the
    /// merge another 64. (Attack round on issue 26: a 190-byte file asking for 64 million voxels
    /// aborted on allocation after 4 GB.)
    fn check_memory(&self, workers: usize, available: Option<u64>) -> Result<()> {
        let Some(available) = available else {
            return Ok(());
        };
        let cells = self.score_lattice().cells() as u64;
        let need = cells.saturating_mul(112u64.saturating_mul(workers as u64).saturating_add(64));
        if need > available / 10 * 9 {
            return Err(Error::Phantom {
                message: format!(
                    "{cells} scoring cells with {workers} worker threads need about {:.1} GB for \
                     their tallies, and {:.1} GB are available: use fewer voxels (or a coarser \
                     [scoring] grid) or fewer threads",
                    need as f64 / 1e9,
                    available as f64 / 1e9
                ),
            });
        }
        Ok(())
    }

    /// Runs batches `range` of `(source, histories, seed)` on `pool`: every worker claims the
    /// next batch until none is left, and adds each batch's sums, in exact fixed point, to its
    /// own accumulator; integer addition does not depend on which worker ran which batch, so
    /// neither does the result. `prepare` sets up each worker's state, `finished(b, st)` sees
    /// batch `b`'s state after its sums were taken; `done` counts the histories run (for
    /// `progress`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn run_on(
        &self,
        pool: &rayon::ThreadPool,
        (source, histories, seed): (&Source, u64, u64),
        range: Range<u64>,
        done: &AtomicU64,
        progress: &(dyn Fn(u64, u64) + Sync),
        prepare: impl Fn(&mut BatchState) + Sync,
        finished: impl Fn(u64, &mut BatchState) + Sync,
    ) -> Accumulator {
        let n_batches = range.end.saturating_sub(range.start);
        let workers = (pool.current_num_threads().max(1) as u64).min(n_batches) as usize;
        let next = AtomicU64::new(range.start);
        let cells = self.score_lattice().cells();
        let accumulators: Vec<Accumulator> = pool.broadcast(|ctx| {
            if ctx.index() >= workers {
                return Accumulator::new(0);
            }
            let mut acc = Accumulator::new(cells);
            let mut st = BatchState::new(cells);
            prepare(&mut st);
            loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= range.end {
                    break;
                }
                let count = self.batch(source, histories, seed, b, &mut st);
                acc.add_batch(&mut st, count);
                finished(b, &mut st);
                let now = done.fetch_add(count, Ordering::Relaxed) + count;
                progress(now, histories);
            }
            acc
        });
        let mut total = Accumulator::new(0);
        for a in accumulators {
            total.add(a);
        }
        total
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
        let app = source.applicator(&self.frame);
        for h in 0..count {
            // (The source only fills the stack: nothing is scored before the history begins.)
            let (emitted, absorbed, weight) = source.emit(
                &self.frame,
                first + h,
                self.options.variance_reduction.particle_recycling,
                &mut rng,
                &mut st.stack,
            );
            self.options
                .variance_reduction
                .split_source(&mut st.stack, first + h);
            st.begin_history(emitted, absorbed, weight);
            let mut handovers = 0u32;
            loop {
                while let Some(p) = st.stack.pop() {
                    st.follow(&p);
                    if p.charge == 0 {
                        self.track(p, &mut rng, st, app.as_ref(), &mut handovers);
                    } else {
                        self.track_charged(p, &mut rng, st);
                    }
                }
                if st.pending.is_empty() {
                    break;
                }
                self.resolve_pending(st, &mut rng);
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

    fn mass_g(&self, v: usize) -> f64 {
        f64::from(self.rho[v]) * self.voxel_volume_cm3
    }
}

/// The smallest, over [`AUTO_ENERGIES_EV`], ratio of the majorant to the volume mean of the
/// phantom's attenuation (1 in a phantom of one material and density).
fn majorant_ratio(physics: &PhotonPhysics, majorant: &[f64], phantom: &Phantom) -> f64 {
    // Volume per (material, density) pair would be exact; per material with the mean density
    // is the same sum, since attenuation is linear in density.
    let mut mass = vec![0.0f64; physics.materials.len()];
    for (m, d) in phantom.material.iter().zip(&phantom.density) {
        mass[usize::from(*m)] += f64::from(*d);
    }
    let n = phantom.material.len().max(1) as f64;
    AUTO_ENERGIES_EV
        .iter()
        .map(|&e| {
            let at = physics.grid.locate(e);
            let mean: f64 = physics
                .materials
                .iter()
                .zip(&mass)
                .map(|(t, m)| crate::physics::interp(&t.total, at) * m)
                .sum::<f64>()
                / n;
            if mean > 0.0 {
                crate::physics::interp(majorant, at) / mean
            } else {
                1.0
            }
        })
        .fold(f64::INFINITY, f64::min)
}

/// The memory available to this process, bytes: Linux's MemAvailable (None where it cannot be
/// read).
fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb.saturating_mul(1024))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 24: Woodcock tracking with gold in the phantom was ten times slower than boundary
    /// tracking, and nothing said so. `Auto` picks boundary tracking there and Woodcock in
    /// tissue (bone included); an explicit Woodcock choice with gold is warned.
    #[test]
    fn auto_tracking_avoids_woodcock_with_dense_metal_and_a_woodcock_choice_is_warned() {
        let grid = hope_core::Grid::new([20, 20, 20], [1.0; 3]).unwrap();
        let mats = ["water", "cortical_bone_icru44", "gold"]
            .map(|n| crate::Material::builtin(n).unwrap())
            .to_vec();
        let with = |insert: u16, density: f32| {
            let mut p =
                Phantom::new(grid.clone(), mats.clone(), vec![0; 8000], vec![1.0; 8000]).unwrap();
            for k in 8..12 {
                for j in 0..20 {
                    for i in 0..20 {
                        p.set([i, j, k], insert, density).unwrap();
                    }
                }
            }
            p
        };
        let build = |p: Phantom, tracking| {
            Transport::new(
                p,
                RunOptions {
                    tracking,
                    ..RunOptions::default()
                },
            )
            .unwrap()
        };
        let gold = build(with(2, 19.32), Tracking::Auto);
        assert_eq!(gold.options().tracking, Tracking::Boundary);
        assert!(gold.majorant_ratio() > 4.0, "{}", gold.majorant_ratio());
        assert!(gold.warnings().is_empty());
        let bone = build(with(1, 1.92), Tracking::Auto);
        assert_eq!(bone.options().tracking, Tracking::Woodcock);
        assert!(bone.majorant_ratio() < 2.0, "{}", bone.majorant_ratio());
        let water = build(with(0, 1.0), Tracking::Auto);
        assert!((water.majorant_ratio() - 1.0).abs() < 1e-5);
        assert!(water.warnings().is_empty());
        let forced = build(with(2, 19.32), Tracking::Woodcock);
        assert_eq!(forced.options().tracking, Tracking::Woodcock);
        let w = forced.warnings();
        assert!(w.len() == 1 && w[0].contains("boundary"), "{w:?}");
    }

    /// Attack round on issue 26: the tallies' memory is checked before the workers start.
    #[test]
    fn a_run_whose_tallies_would_not_fit_is_refused() {
        let grid = hope_core::Grid::new([40, 40, 40], [1.0; 3]).unwrap();
        let water = crate::Material::builtin("water").unwrap();
        let t = Transport::new(Phantom::uniform(grid, water), RunOptions::default()).unwrap();
        // 64,000 cells, 2 workers: (2 x 112 + 64) bytes each, 18.4 MB.
        let e = t.check_memory(2, Some(10_000_000)).unwrap_err().to_string();
        assert!(e.contains("fewer voxels") && e.contains("GB"), "{e}");
        t.check_memory(2, Some(30_000_000)).unwrap();
        t.check_memory(64, None).unwrap();
        assert!(available_memory().is_none_or(|m| m > 0));
    }
}
