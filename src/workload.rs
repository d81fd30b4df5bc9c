//! hope-mc simulations as hope-grid workloads: a [`Simulation`]'s
//! histories are its batches, a chunk's result is a [`Partial`] stored in
//! its binary form, and merging is exact, so a run split over any tasks, executors and failures
//! gives the same dose, bit for bit, as a local run with the same seed.

use std::ops::Range;

use hope_grid::{Workload, WorkloadError};
use hope_mc::{Partial, Simulation, Source, Transport};

/// A Monte Carlo run as a workload.
#[derive(Debug)]
pub struct SimulationWorkload {
    transport: Transport,
    source: Source,
    histories: u64,
    seed: u64,
}

impl SimulationWorkload {
    /// The workload of a simulation file's contents (`threads` per task: 0 for one per core).
    pub fn new(sim: &Simulation, threads: usize) -> hope_mc::Result<Self> {
        Ok(Self {
            transport: sim.transport(threads)?,
            source: sim.source()?,
            histories: sim.histories,
            seed: sim.seed,
        })
    }

    /// A workload from prepared parts.
    pub fn from_parts(transport: Transport, source: Source, histories: u64, seed: u64) -> Self {
        Self {
            transport,
            source,
            histories,
            seed,
        }
    }

    /// The transport (grids, physics).
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// The number of histories.
    pub fn histories(&self) -> u64 {
        self.histories
    }
}

impl Workload for SimulationWorkload {
    type Partial = Partial;

    fn batch_count(&self) -> u64 {
        self.histories
            .div_ceil(self.transport.options().batch_size.max(1))
    }

    fn run(&self, batches: Range<u64>) -> Result<Partial, WorkloadError> {
        Ok(self.transport.run_batches(
            &self.source,
            self.histories,
            self.seed,
            batches,
            &|_, _| {},
        )?)
    }

    fn merge(&self, a: Partial, b: Partial) -> Result<Partial, WorkloadError> {
        Ok(a.merge(&b)?)
    }

    fn encode(&self, partial: &Partial) -> Vec<u8> {
        partial.to_bytes()
    }

    fn decode(&self, bytes: &[u8]) -> Result<Partial, WorkloadError> {
        Ok(Partial::from_bytes(bytes)?)
    }
}
