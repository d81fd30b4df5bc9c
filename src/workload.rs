//! hope-mc simulations as hope-grid workloads: a [`Simulation`]'s
//! histories are its batches, a chunk's result is a [`Partial`] stored in
//! its binary form, and merging is exact, so a run split over any tasks, executors and failures
//! gives the same dose, bit for bit, as a local run with the same seed.

use std::ops::Range;

use hope_grid::{Fingerprint, Workload, WorkloadError};
use hope_mc::simulation::Prepared;
use hope_mc::{Partial, Simulation, Source, Transport};

/// A Monte Carlo run as a workload.
#[derive(Debug)]
pub struct SimulationWorkload {
    run: Prepared,
    fingerprint: [u8; 32],
}

/// The digest of what a run's dose depends on: the phantom voxel by voxel (the CT after its
/// conversion, whatever file it came from), its materials, the scoring grid, the physics and
/// tracking, the source (an activity map included), histories, batch size and seed (what the
/// simulation file says, not where it lies). The thread count is left out: results do not depend on it.
fn fingerprint(transport: &Transport, source: &Source, histories: u64, seed: u64) -> [u8; 32] {
    let phantom = transport.phantom();
    let options = transport.options();
    Fingerprint::new()
        .part(b"hope simulation workload v1")
        .debug(phantom.grid())
        .debug(&phantom.materials())
        .stream(|feed| {
            let mut buf = Vec::with_capacity(6 * 4096);
            for v in 0..phantom.grid().voxel_count() {
                let (m, d) = phantom.voxel(v).unwrap_or((u16::MAX, f32::NAN));
                buf.extend_from_slice(&m.to_le_bytes());
                buf.extend_from_slice(&d.to_bits().to_le_bytes());
                if buf.len() >= 6 * 4096 {
                    feed(&buf);
                    buf.clear();
                }
            }
            feed(&buf);
        })
        .debug(transport.scoring_grid())
        .debug(&options.tracking)
        .debug(&options.physics)
        .part(&options.batch_size.to_le_bytes())
        .debug(source)
        .part(&histories.to_le_bytes())
        .part(&seed.to_le_bytes())
        .finish()
}

impl SimulationWorkload {
    /// The workload of a simulation file's contents (`threads` per task: 0 for one per core).
    pub fn new(sim: &Simulation, threads: usize) -> hope_mc::Result<Self> {
        Ok(Self::from_prepared(sim.prepare(threads)?))
    }

    /// The workload of a prepared run.
    pub fn from_prepared(run: Prepared) -> Self {
        let fingerprint = fingerprint(run.transport(), run.source(), run.histories(), run.seed());
        Self { run, fingerprint }
    }

    /// The prepared run (transport, source, tally, scale to absolute dose).
    pub fn prepared(&self) -> &Prepared {
        &self.run
    }

    /// The transport (grids, physics).
    pub fn transport(&self) -> &Transport {
        self.run.transport()
    }

    /// The number of histories.
    pub fn histories(&self) -> u64 {
        self.run.histories()
    }
}

impl Workload for SimulationWorkload {
    type Partial = Partial;

    fn batch_count(&self) -> u64 {
        self.run.batch_count()
    }

    fn run(&self, batches: Range<u64>) -> Result<Partial, WorkloadError> {
        Ok(self.run.run_batches(batches, &|_, _| {})?)
    }

    fn merge(&self, a: Partial, b: Partial) -> Result<Partial, WorkloadError> {
        Ok(a.merge(&b)?)
    }

    fn encode(&self, partial: &Partial) -> Vec<u8> {
        partial.to_bytes()
    }

    fn decode(&self, bytes: &[u8]) -> Result<Partial, WorkloadError> {
        Ok(Partial::from_bytes(
            bytes,
            self.run.scoring_grid().voxel_count(),
        )?)
    }

    fn check(&self, batches: Range<u64>, partial: &Partial) -> Result<(), WorkloadError> {
        Ok(partial.check_run(
            batches,
            self.run.histories(),
            self.run.transport().options().batch_size,
            self.run.scoring_grid().voxel_count(),
        )?)
    }

    fn max_encoded_len(&self, _batches: Range<u64>) -> u64 {
        // Header (8 + 5 x 8 + 4 x 16), then four sums of at most one entry per voxel, each a
        // varint index step (at most 10 bytes) and a varint value (at most 19 bytes).
        let voxels = self.run.scoring_grid().voxel_count() as u64;
        112 + 4 * (8 + voxels.saturating_mul(29))
    }

    fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }
}
