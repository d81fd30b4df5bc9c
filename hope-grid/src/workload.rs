//! What hope-grid runs: work described as indexed batches, knowing nothing of physics.

use std::ops::Range;

/// The error a workload reports.
pub type WorkloadError = Box<dyn std::error::Error + Send + Sync>;

/// Work split into `batch_count()` indexed batches. Each batch must be a pure function of the
/// workload's inputs and its index (its own random stream, say), so that any set of batches run
/// anywhere gives the same partial result.
///
/// Contract for [`Workload::merge`]: merging partial results of disjoint batch sets is
/// associative, and its result does not depend on the order (hope-grid merges in batch order
/// anyway, so a workload whose merge is only associative still gives identical results).
pub trait Workload: Sync {
    /// The result of some batches.
    type Partial: Send;

    /// The number of batches.
    fn batch_count(&self) -> u64;

    /// Runs batches `batches` (contiguous) into a partial result.
    fn run(&self, batches: Range<u64>) -> Result<Self::Partial, WorkloadError>;

    /// Merges the partial results of two disjoint batch sets.
    fn merge(&self, a: Self::Partial, b: Self::Partial) -> Result<Self::Partial, WorkloadError>;

    /// Serialises a partial result (to be written to the shared working directory).
    fn encode(&self, partial: &Self::Partial) -> Vec<u8>;

    /// Reads back a partial result written by [`Workload::encode`].
    fn decode(&self, bytes: &[u8]) -> Result<Self::Partial, WorkloadError>;
}
