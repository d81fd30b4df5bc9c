//! A toy workload for the tests: each batch gives one number, a partial result maps batches to
//! their numbers, and merging refuses a batch counted twice, so exactly-once is checked.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::Mutex;

use hope_grid::{Workload, WorkloadError};

pub struct Toy {
    pub batches: u64,
    pub seed: u64,
    /// Batches that fail the first time they run.
    pub fail_once: Mutex<BTreeSet<u64>>,
    /// Batches that panic the first time they run.
    pub panic_once: Mutex<BTreeSet<u64>>,
    /// Batches that always fail.
    pub fail_always: BTreeSet<u64>,
    /// Every batch run, in order of running.
    pub ran: Mutex<Vec<u64>>,
}

impl Toy {
    pub fn new(batches: u64, seed: u64) -> Self {
        Self {
            batches,
            seed,
            fail_once: Mutex::new(BTreeSet::new()),
            panic_once: Mutex::new(BTreeSet::new()),
            fail_always: BTreeSet::new(),
            ran: Mutex::new(Vec::new()),
        }
    }

    pub fn value(&self, b: u64) -> u64 {
        // splitmix64 of (seed, batch)
        let mut z = self.seed ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn expected(&self) -> BTreeMap<u64, u64> {
        (0..self.batches).map(|b| (b, self.value(b))).collect()
    }
}

impl Workload for Toy {
    type Partial = BTreeMap<u64, u64>;

    fn batch_count(&self) -> u64 {
        self.batches
    }

    fn run(&self, batches: Range<u64>) -> Result<Self::Partial, WorkloadError> {
        let mut out = BTreeMap::new();
        for b in batches {
            if self.fail_always.contains(&b) || self.fail_once.lock().unwrap().remove(&b) {
                return Err(format!("batch {b} failed").into());
            }
            if self.panic_once.lock().unwrap().remove(&b) {
                panic!("batch {b} panicked");
            }
            self.ran.lock().unwrap().push(b);
            out.insert(b, self.value(b));
        }
        Ok(out)
    }

    fn merge(
        &self,
        mut a: Self::Partial,
        b: Self::Partial,
    ) -> Result<Self::Partial, WorkloadError> {
        for (k, v) in b {
            if a.insert(k, v).is_some() {
                return Err(format!("batch {k} counted twice").into());
            }
        }
        Ok(a)
    }

    fn encode(&self, p: &Self::Partial) -> Vec<u8> {
        p.iter()
            .flat_map(|(k, v)| k.to_le_bytes().into_iter().chain(v.to_le_bytes()))
            .collect()
    }

    fn decode(&self, bytes: &[u8]) -> Result<Self::Partial, WorkloadError> {
        if !bytes.len().is_multiple_of(16) {
            return Err("length not a multiple of 16".into());
        }
        Ok(bytes
            .chunks(16)
            .map(|c| {
                (
                    u64::from_le_bytes(c[..8].try_into().unwrap()),
                    u64::from_le_bytes(c[8..].try_into().unwrap()),
                )
            })
            .collect())
    }

    fn check(&self, batches: Range<u64>, p: &Self::Partial) -> Result<(), WorkloadError> {
        if p.keys().copied().eq(batches.clone()) && p.iter().all(|(b, v)| *v == self.value(*b)) {
            Ok(())
        } else {
            Err(format!("not the result of batches {batches:?}").into())
        }
    }

    fn max_encoded_len(&self, batches: Range<u64>) -> u64 {
        (batches.end - batches.start) * 16
    }

    fn fingerprint(&self) -> [u8; 32] {
        hope_grid::Fingerprint::new()
            .part(b"toy")
            .part(&self.batches.to_le_bytes())
            .part(&self.seed.to_le_bytes())
            .finish()
    }
}
