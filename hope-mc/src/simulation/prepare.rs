//! A simulation file made ready to run: what every caller (the command line, the grid workload,
//! the workflows) needs, assembled in one place.

use std::ops::Range;
use std::sync::OnceLock;

use hope_core::{Grid, Volume};

use super::{Simulation, TallyKind};
use crate::source::Source;
use crate::tally::Partial;
use crate::transport::Transport;
use crate::{Error, Result};

/// What a run of a [`Simulation`] needs: its transport (phantom, physics tables, scoring grid),
/// its source, histories and seed, which tally is the dose, and the scale from dose per history
/// to absolute dose (the file's `absolute` section). Made by [`Simulation::prepare`].
///
/// ```no_run
/// use hope_mc::Simulation;
///
/// let sim = Simulation::from_file("sim.toml".as_ref())?;
/// let run = sim.prepare(0)?; // 0: one thread per core
/// let result = run.run(&|_, _| {})?;
/// let dose = run.dose(&result)?;
/// println!("max {} {}", dose.dose.data().iter().copied().fold(0.0, f64::max), dose.unit);
/// # Ok::<(), hope_mc::Error>(())
/// ```
#[derive(Debug)]
pub struct Prepared {
    simulation: Simulation,
    transport: Transport,
    source: Source,
    /// Histories represented per simulated history, computed on first use (an air-kerma strength
    /// needs a simulation of the seed in vacuum, which a grid worker never needs).
    represented: OnceLock<Option<f64>>,
    /// A plaque source's partly or wholly filled scoring voxels and the fraction of each outside
    /// it, found on first use (every dose of the run needs them).
    plaque_voxels: OnceLock<Vec<(usize, f64)>>,
}

/// The unit of a dose volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoseUnit {
    /// Gy per simulated history (no `absolute` section).
    GyPerHistory,
    /// Gy (the `absolute` section gave the histories represented).
    Gy,
}

impl std::fmt::Display for DoseUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DoseUnit::GyPerHistory => "Gy per history",
            DoseUnit::Gy => "Gy",
        })
    }
}

/// The dose of a run on its scoring grid.
#[derive(Debug, Clone)]
pub struct Dose {
    /// Dose per voxel, in `unit`.
    pub dose: Volume<f64>,
    /// Relative standard uncertainty per voxel (history by history).
    pub uncertainty: Volume<f64>,
    /// The unit of `dose`.
    pub unit: DoseUnit,
    /// Histories represented per simulated history, when the file asked for absolute dose.
    pub histories_represented: Option<f64>,
}

impl Simulation {
    /// Prepares a run of this file (`threads` 0: one per core; results do not depend on it):
    /// checks it, builds the transport and the source.
    pub fn prepare(&self, threads: usize) -> Result<Prepared> {
        self.validate()?;
        // (Attack round on issue 23: 5,000 threads were started for a 2-core machine.)
        if threads > MAX_THREADS {
            return Err(Error::Simulation {
                field: "threads".into(),
                message: format!("{threads}; expected 0 (one per core) to {MAX_THREADS}"),
                source: None,
            });
        }
        let transport = self.transport(threads)?;
        let source = self.source()?;
        if self.variance_reduction.particle_recycling
            && !matches!(source, Source::Plaque(_) | Source::Seeds(_))
        {
            return Err(Error::Simulation {
                field: "variance_reduction.particle_recycling".into(),
                message: "true; it acts only on a `seeds` source (seeds or a plaque): set it to \
                          false or leave it out"
                    .into(),
                source: None,
            });
        }
        if let Source::Plaque(p) = &source {
            // (Attack round on issue 26: a plaque far from the phantom ran and scored nothing.)
            let eye = p.to_patient([0.0, 0.0, crate::source::plaque::EYE_CENTRE_DEPTH_MM / 10.0]);
            if transport.scoring_grid().voxel_at(eye).is_none() {
                return Err(Error::Simulation {
                    field: "source.plaque.eye_centre_mm".into(),
                    message: format!(
                        "{eye:?} mm lies outside the dose grid: the plaque would score nothing"
                    ),
                    source: None,
                });
            }
        }
        Ok(Prepared {
            transport,
            source,
            simulation: self.clone(),
            represented: OnceLock::new(),
            plaque_voxels: OnceLock::new(),
        })
    }
}

/// The most worker threads a run starts.
pub(super) const MAX_THREADS: usize = 1024;

impl Prepared {
    /// The simulation this was prepared from.
    pub fn simulation(&self) -> &Simulation {
        &self.simulation
    }

    /// The transport: phantom, physics tables and scoring grid.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// The source.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// Histories to run.
    pub fn histories(&self) -> u64 {
        self.simulation.histories
    }

    /// The seed of the random streams.
    pub fn seed(&self) -> u64 {
        self.simulation.seed
    }

    /// Which tally is the dose.
    pub fn tally(&self) -> TallyKind {
        self.simulation.tally_kind()
    }

    /// The grid dose is scored on.
    pub fn scoring_grid(&self) -> &Grid {
        self.transport.scoring_grid()
    }

    /// The number of batches (each with its own random stream; the last may be short).
    pub fn batch_count(&self) -> u64 {
        self.histories()
            .div_ceil(self.transport.options().batch_size.max(1))
    }

    /// Runs every history; `progress(done, total)` is called as batches finish.
    pub fn run(&self, progress: &(dyn Fn(u64, u64) + Sync)) -> Result<Partial> {
        self.transport
            .run(&self.source, self.histories(), self.seed(), progress)
    }

    /// Runs every history as [`Prepared::run`] does (the same result, bit for bit) and writes
    /// the phase space of the simulation's `[output.phase_space]` plane as `NAME.IAEAheader` and
    /// `NAME.IAEAphsp` in `dir` (see [`Transport::run_with_phase_space`]); returns the result,
    /// the header's path and the particles written. Without a plane in the file, an error.
    pub fn run_with_phase_space(
        &self,
        dir: &std::path::Path,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<(Partial, std::path::PathBuf, u64)> {
        let Some(spec) = &self.simulation.output.phase_space else {
            return Err(Error::Simulation {
                field: "output.phase_space".into(),
                message: "no plane to score".into(),
                source: None,
            });
        };
        let plane = crate::transport::PhaseSpacePlane {
            z_mm: spec.z_mm,
            towards_positive_z: spec.towards == super::spec::Towards::PlusZ,
        };
        // Checked before any file is created.
        self.transport
            .check_plane(plane)
            .map_err(|message| Error::Simulation {
                field: "output.phase_space".into(),
                message,
                source: None,
            })?;
        let mut writer = crate::source::iaea::PhaseSpaceWriter::create(&dir.join(&spec.name))?;
        let result = self.transport.run_with_phase_space(
            &self.source,
            self.histories(),
            self.seed(),
            plane,
            &mut writer,
            progress,
        )?;
        let title = format!(
            "hope-mc, scored on z = {} mm ({}), seed {}",
            spec.z_mm,
            if plane.towards_positive_z { "+z" } else { "-z" },
            self.seed()
        );
        let particles = writer.written();
        let header = writer.finish(self.histories(), &title)?;
        Ok((result, header, particles))
    }

    /// Runs batches `range` only: results merge exactly with those of the other batches.
    pub fn run_batches(
        &self,
        range: Range<u64>,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<Partial> {
        self.transport
            .run_batches(&self.source, self.histories(), self.seed(), range, progress)
    }

    /// Histories represented per simulated history (the `absolute` section), computed once.
    pub fn histories_represented(&self) -> Result<Option<f64>> {
        if let Some(n) = self.represented.get() {
            return Ok(*n);
        }
        let n = self.simulation.histories_represented()?;
        Ok(*self.represented.get_or_init(|| n))
    }

    /// The dose of a merged result: the file's tally, in Gy per history or, with an `absolute`
    /// section, in Gy.
    pub fn dose(&self, result: &Partial) -> Result<Dose> {
        let tally = match self.tally() {
            TallyKind::Kerma => &result.kerma,
            TallyKind::Analog => &result.analog,
        };
        let (mut dose, uncertainty) = result.dose(tally, self.scoring_grid())?;
        if let Source::Plaque(plaque) = &self.source {
            // The plaque's voxels: the dose of their tissue.
            let partial = self
                .plaque_voxels
                .get_or_init(|| plaque.partial_voxels(self.scoring_grid()));
            let data = dose.data_mut();
            for &(o, fraction) in partial {
                data[o] = if fraction > 0.0 {
                    data[o] / fraction
                } else {
                    0.0
                };
            }
        }
        let represented = self.histories_represented()?;
        if let Some(n) = represented {
            dose = dose.map(|d| d * n);
        }
        Ok(Dose {
            dose,
            uncertainty,
            unit: if represented.is_some() {
                DoseUnit::Gy
            } else {
                DoseUnit::GyPerHistory
            },
            histories_represented: represented,
        })
    }
}

/// The mean dose over a block of voxels, with its uncertainty from independent groups of
/// batches.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockDose {
    /// The block's name.
    pub name: String,
    /// Voxels whose centres lie in the block.
    pub voxels: usize,
    /// Mean dose (the unit of [`Prepared::dose`]).
    pub mean: f64,
    /// Relative 1-sigma uncertainty of the mean from the spread of the groups' means (None with
    /// fewer than two groups).
    pub relative_uncertainty: Option<f64>,
    /// The voxels' own uncertainties combined as if independent, for comparison (it understates
    /// a block's where the same tracks cross neighbouring voxels).
    pub voxel_quadrature_uncertainty: f64,
    /// Groups of batches.
    pub groups: u64,
}

impl Prepared {
    /// Runs every history as up to `max_groups` consecutive groups of batches (the merged
    /// result is the same, bit for bit, as [`Prepared::run`]'s) and reports the mean dose of each
    /// of the simulation's `[[output.block]]` blocks with the spread of the groups' means.
    pub fn run_with_blocks(
        &self,
        max_groups: u64,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<(Partial, Vec<BlockDose>)> {
        let blocks = &self.simulation.output.block;
        let grid = self.scoring_grid().clone();
        // The voxels of each block.
        let members: Vec<Vec<usize>> = blocks
            .iter()
            .map(|b| {
                (0..grid.voxel_count())
                    .filter(|&o| {
                        grid.index_of(o).is_some_and(|[i, j, k]| {
                            let p = grid.index_to_point([i as f64, j as f64, k as f64]);
                            let c = [p.x, p.y, p.z];
                            (0..3).all(|a| c[a] >= b.min_mm[a] && c[a] <= b.max_mm[a])
                        })
                    })
                    .collect()
            })
            .collect();
        if let Some((b, _)) = blocks.iter().zip(&members).find(|(_, m)| m.is_empty()) {
            return Err(Error::Simulation {
                field: format!("output.block {}", b.name),
                message: "no voxel centre of the scoring grid lies in it".into(),
                source: None,
            });
        }
        let batches = self.batch_count();
        let groups = max_groups.clamp(1, batches.max(1));
        let mut total: Option<Partial> = None;
        // Per block: (histories, mean) of each group.
        let mut means: Vec<Vec<(f64, f64)>> = vec![Vec::new(); blocks.len()];
        for g in 0..groups {
            let range = (batches * g / groups)..(batches * (g + 1) / groups);
            let part = self.run_batches(range, progress)?;
            let dose = self.dose(&part)?.dose;
            for (k, m) in members.iter().enumerate() {
                let mean = m.iter().map(|&o| dose.data()[o]).sum::<f64>() / m.len() as f64;
                means[k].push((part.histories as f64, mean));
            }
            total = Some(match total {
                None => part,
                Some(t) => t.merge(&part)?,
            });
        }
        let total = total.ok_or_else(|| Error::Simulation {
            field: "histories".into(),
            message: "no batch to run".into(),
            source: None,
        })?;
        let whole = self.dose(&total)?;
        let out = blocks
            .iter()
            .zip(&members)
            .zip(&means)
            .map(|((b, m), groups_of)| {
                let n: f64 = groups_of.iter().map(|g| g.0).sum();
                let mean = groups_of.iter().map(|(h, x)| h * x).sum::<f64>() / n;
                let relative_uncertainty = (groups_of.len() >= 2 && mean != 0.0).then(|| {
                    // The spread of the groups' means, weighted by their histories.
                    let var_one: f64 = groups_of
                        .iter()
                        .map(|(h, x)| h * (x - mean).powi(2))
                        .sum::<f64>()
                        / (groups_of.len() as f64 - 1.0);
                    (var_one / n).sqrt() / mean.abs()
                });
                let quad = m
                    .iter()
                    .map(|&o| (whole.dose.data()[o] * whole.uncertainty.data()[o]).powi(2))
                    .sum::<f64>()
                    .sqrt()
                    / m.len() as f64;
                let mean_whole =
                    m.iter().map(|&o| whole.dose.data()[o]).sum::<f64>() / m.len() as f64;
                BlockDose {
                    name: b.name.clone(),
                    voxels: m.len(),
                    mean: mean_whole,
                    relative_uncertainty,
                    voxel_quadrature_uncertainty: if mean_whole != 0.0 {
                        quad / mean_whole.abs()
                    } else {
                        0.0
                    },
                    groups: groups_of.len() as u64,
                }
            })
            .collect();
        Ok((total, out))
    }
}
