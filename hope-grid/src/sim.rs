//! A discrete-event simulator of a cluster or grid, to evaluate plans offline: jobs wait in a
//! queue (a [`LatencyModel`], with lost jobs and heavy tails), are resubmitted after a timeout,
//! and run on nodes of different speeds. Static plans give each job a fixed share; dynamic plans
//! let started jobs take chunks until none is left.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use serde::{Deserialize, Serialize};

use crate::latency::{LatencyModel, Stream};
use crate::{Error, Result};

/// The simulated infrastructure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    /// Queue waits.
    pub latency: LatencyModel,
    /// Node speeds relative to the calibration machine, with their probabilities: a job runs on
    /// a node drawn from them (e.g. 90 % at 1.0 and 10 % stragglers at 0.2).
    pub speeds: Vec<(f64, f64)>,
}

impl Cluster {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        self.latency.validate()?;
        let total: f64 = self.speeds.iter().map(|s| s.1).sum();
        if self.speeds.is_empty()
            || self
                .speeds
                .iter()
                .any(|(v, p)| !(v.is_finite() && *v > 0.0 && p.is_finite() && *p >= 0.0))
            || (total - 1.0).abs() > 1e-6
        {
            return Err(Error::Plan(
                "node speeds: expected positive speeds with probabilities summing to 1".into(),
            ));
        }
        Ok(())
    }

    fn speed(&self, s: &mut Stream) -> f64 {
        let mut u = s.uniform();
        for (v, p) in &self.speeds {
            if u < *p {
                return *v;
            }
            u -= p;
        }
        self.speeds[self.speeds.len() - 1].0
    }

    /// When a job submitted at 0 starts, resubmitted each time it has waited `timeout_s`
    /// (infinite: never; a lost job then never starts).
    fn start(&self, timeout_s: f64, s: &mut Stream) -> f64 {
        let mut t = 0.0;
        for _ in 0..10_000 {
            let l = self.latency.sample(s);
            if l <= timeout_s {
                return t + l;
            }
            if !timeout_s.is_finite() {
                return f64::INFINITY;
            }
            t += timeout_s;
        }
        f64::INFINITY
    }

    /// The makespan of a static plan: `jobs` jobs, each `work_s / jobs` seconds at speed 1.
    pub fn static_makespan(&self, work_s: f64, jobs: u32, timeout_s: f64, s: &mut Stream) -> f64 {
        let share = work_s / f64::from(jobs.max(1));
        (0..jobs.max(1))
            .map(|_| self.start(timeout_s, s) + share / self.speed(s))
            .fold(0.0, f64::max)
    }

    /// The makespan of a dynamic plan: `jobs` jobs take `chunks` equal chunks of `work_s` in
    /// turn as they become free.
    pub fn dynamic_makespan(
        &self,
        work_s: f64,
        jobs: u32,
        chunks: u32,
        timeout_s: f64,
        s: &mut Stream,
    ) -> f64 {
        #[derive(PartialEq)]
        struct Free(f64, f64); // (time, speed)
        impl Eq for Free {}
        impl PartialOrd for Free {
            fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
                Some(self.cmp(o))
            }
        }
        impl Ord for Free {
            fn cmp(&self, o: &Self) -> Ordering {
                o.0.total_cmp(&self.0) // earliest first
            }
        }
        let chunk = work_s / f64::from(chunks.max(1));
        let mut heap: BinaryHeap<Free> = (0..jobs.max(1))
            .map(|_| Free(self.start(timeout_s, s), self.speed(s)))
            .filter(|f| f.0.is_finite())
            .collect();
        let mut end = 0.0f64;
        for _ in 0..chunks.max(1) {
            let Some(Free(t, v)) = heap.pop() else {
                return f64::INFINITY;
            };
            let done = t + chunk / v;
            end = end.max(done);
            heap.push(Free(done, v));
        }
        end
    }
}

/// The mean of `f` over `replications` runs with streams derived from `seed`.
pub fn mean(replications: u32, seed: u64, mut f: impl FnMut(&mut Stream) -> f64) -> f64 {
    let mut s = Stream::new(seed);
    let n = replications.max(1);
    (0..n).map(|_| f(&mut s)).sum::<f64>() / f64::from(n)
}
