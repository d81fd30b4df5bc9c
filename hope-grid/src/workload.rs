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

    /// Checks that `partial` is exactly the result of batches `batches` of this workload (its
    /// batches, its counts, its size), as decoded from a stored file or merged: hope-grid calls it
    /// on every stored result before merging it and on the merged result of all batches, so that
    /// nothing is ever returned that does not provably belong to this run.
    fn check(&self, batches: Range<u64>, partial: &Self::Partial) -> Result<(), WorkloadError>;

    /// The most bytes [`Workload::encode`] gives for a result of batches `batches`: stored
    /// results are read up to this size and no further.
    fn max_encoded_len(&self, batches: Range<u64>) -> u64;

    /// A digest of everything the results depend on (inputs, settings, seed; not the thread
    /// count). Stored results are bound to it and to the plan: a result of another run, even one
    /// with the same plan, is never merged. [`Fingerprint`] computes one.
    fn fingerprint(&self) -> [u8; 32];
}

/// SHA-256 of a sequence of parts, for [`Workload::fingerprint`]: each part is followed by its
/// length, so that no two different sequences give the same input.
#[derive(Clone, Default)]
pub struct Fingerprint(sha2::Sha256);

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fingerprint").finish_non_exhaustive()
    }
}

impl Fingerprint {
    /// An empty fingerprint.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one part.
    pub fn part(self, bytes: &[u8]) -> Self {
        self.stream(|feed| feed(bytes))
    }

    /// Adds one part given in pieces: `f` feeds them (for large inputs such as voxel data,
    /// without building them in memory first).
    pub fn stream(mut self, f: impl FnOnce(&mut dyn FnMut(&[u8]))) -> Self {
        use sha2::Digest;
        let mut len = 0u64;
        f(&mut |bytes: &[u8]| {
            self.0.update(bytes);
            len += bytes.len() as u64;
        });
        self.0.update(len.to_le_bytes());
        self
    }

    /// Adds the `Debug` form of `value` as one part, streamed (for values without another
    /// stable encoding; the fingerprint then changes with the program's version too, which only
    /// makes results of another version refused).
    pub fn debug(self, value: &dyn std::fmt::Debug) -> Self {
        struct Feed<'a>(&'a mut dyn FnMut(&[u8]));
        impl std::fmt::Write for Feed<'_> {
            fn write_str(&mut self, s: &str) -> std::fmt::Result {
                (self.0)(s.as_bytes());
                Ok(())
            }
        }
        self.stream(|feed| {
            let _ = std::fmt::write(&mut Feed(feed), format_args!("{value:?}"));
        })
    }

    /// The digest.
    pub fn finish(self) -> [u8; 32] {
        use sha2::Digest;
        self.0.finalize().into()
    }
}
