//! The planner: a pure, deterministic function from the work (batches and the cost of one batch,
//! measured by a short calibration run), the resources and a latency model to a plan: number of
//! jobs, timeout, and the expected makespan of static and dynamic modes.
//!
//! Static mode: choose N minimising E[max_i (R_i + W / (N v_i))] (R_i: a job's wait with
//! resubmission after the timeout, v_i: its node's speed), estimated by Monte Carlo over the
//! cluster model; the timeout minimises a single job's expected wait (Glatard et al. 2007). Dynamic
//! mode: N jobs claim chunks (several per job) until none is left, so slow or late jobs do less.

use serde::{Deserialize, Serialize};

use crate::latency::{Stream, best_timeout};
use crate::plan::{Mode, Plan};
use crate::sim::{Cluster, mean};
use crate::{Error, Result};

/// What the planner is told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Batches of the workload.
    pub batches: u64,
    /// Seconds per batch on the calibration machine.
    pub seconds_per_batch: f64,
    /// The most jobs that may be submitted.
    pub max_jobs: u32,
    /// The infrastructure.
    pub cluster: Cluster,
    /// Chunks per job in dynamic mode.
    pub chunks_per_job: u32,
    /// Monte Carlo replications per candidate.
    pub replications: u32,
    /// Seed of the estimates (the plan depends only on the request).
    pub seed: u64,
}

/// The planner's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// Jobs for static mode.
    pub jobs: u32,
    /// Resubmission timeout for queued jobs, seconds (infinite: none).
    pub timeout_s: f64,
    /// Expected makespan of static mode with `jobs` jobs, seconds.
    pub static_makespan_s: f64,
    /// Expected makespan of static mode per candidate N.
    pub static_curve: Vec<(u32, f64)>,
    /// Jobs for dynamic mode (the most allowed, capped by the batches).
    pub dynamic_jobs: u32,
    /// Expected makespan of dynamic mode, seconds.
    pub dynamic_makespan_s: f64,
}

impl Choice {
    /// The plan of the faster mode.
    pub fn plan(&self, req: &Request) -> Result<Plan> {
        if self.dynamic_makespan_s < self.static_makespan_s {
            Plan::new(
                req.batches,
                self.dynamic_jobs,
                req.chunks_per_job,
                Mode::Dynamic,
            )
        } else {
            Plan::new(req.batches, self.jobs, 1, Mode::Static)
        }
    }
}

/// Candidate job counts: every count up to 16, then about 12 % steps, and `max`.
fn candidates(max: u32) -> Vec<u32> {
    let mut c: Vec<u32> = (1..=max.min(16)).collect();
    let mut n = 16.0f64;
    while (n as u32) < max {
        n *= 1.12;
        c.push((n as u32).min(max));
    }
    c.push(max);
    c.dedup();
    c
}

/// Plans `req`.
pub fn plan(req: &Request) -> Result<Choice> {
    req.cluster.validate()?;
    if req.batches == 0 || req.max_jobs == 0 || req.chunks_per_job == 0 || req.replications == 0 {
        return Err(Error::Plan(
            "batches, max_jobs, chunks_per_job and replications must be positive".into(),
        ));
    }
    if !(req.seconds_per_batch.is_finite() && req.seconds_per_batch > 0.0) {
        return Err(Error::Plan(format!(
            "seconds per batch {}: expected a positive time",
            req.seconds_per_batch
        )));
    }
    let work = req.batches as f64 * req.seconds_per_batch;
    let max = u32::try_from(req.batches)
        .unwrap_or(u32::MAX)
        .min(req.max_jobs);
    // The timeout from many draws of the latency model.
    let mut s = Stream::new(req.seed);
    let draws: Vec<f64> = (0..20_000)
        .map(|_| req.cluster.latency.sample(&mut s))
        .collect();
    let (timeout_s, _) = best_timeout(&draws);
    let mut curve = Vec::new();
    for (k, n) in candidates(max).into_iter().enumerate() {
        let m = mean(req.replications, req.seed ^ (k as u64 + 1), |s| {
            req.cluster.static_makespan(work, n, timeout_s, s)
        });
        curve.push((n, m));
    }
    let (jobs, static_makespan_s) = curve
        .iter()
        .copied()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((1, f64::INFINITY));
    let chunks = u32::try_from((u64::from(max) * u64::from(req.chunks_per_job)).min(req.batches))
        .unwrap_or(u32::MAX);
    let dynamic_makespan_s = mean(req.replications, req.seed ^ 0xD1, |s| {
        req.cluster
            .dynamic_makespan(work, max, chunks, timeout_s, s)
    });
    Ok(Choice {
        jobs,
        timeout_s,
        static_makespan_s,
        static_curve: curve,
        dynamic_jobs: max,
        dynamic_makespan_s,
    })
}
