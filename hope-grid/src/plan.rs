//! Plans: how a workload's batches are cut into chunks (the unit of claiming, retrying and
//! storing results) and spread over tasks.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// How tasks get their chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Chunk `i` belongs to task `i % tasks`; a failed task's chunks wait for its resubmission.
    Static,
    /// Every task claims the next chunk nobody holds until none is left (fast nodes do more; a
    /// lost task's chunks are claimed again when its lease expires).
    Dynamic,
}

/// A plan: chunks that tile `0..batch_count`, the number of tasks, the mode and the lease.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    batch_count: u64,
    chunks: Vec<Range<u64>>,
    tasks: u32,
    mode: Mode,
    lease_s: f64,
}

impl Plan {
    /// A static plan: one chunk per task, batches as evenly spread as they go.
    pub fn fixed(batch_count: u64, tasks: u32) -> Result<Self> {
        Self::new(batch_count, tasks, 1, Mode::Static)
    }

    /// A dynamic plan: `chunks_per_task` chunks per task on average, claimed in turn.
    pub fn dynamic(batch_count: u64, tasks: u32, chunks_per_task: u32) -> Result<Self> {
        Self::new(batch_count, tasks, chunks_per_task, Mode::Dynamic)
    }

    /// A plan of `tasks` tasks and about `tasks * chunks_per_task` chunks (never more than
    /// batches).
    pub fn new(batch_count: u64, tasks: u32, chunks_per_task: u32, mode: Mode) -> Result<Self> {
        if batch_count == 0 {
            return Err(Error::Plan("no batches".into()));
        }
        if tasks == 0 || chunks_per_task == 0 {
            return Err(Error::Plan(format!(
                "{tasks} tasks of {chunks_per_task} chunks: expected at least one of each"
            )));
        }
        let tasks = u64::from(tasks).min(batch_count);
        let n = (tasks * u64::from(chunks_per_task)).min(batch_count);
        let chunks = (0..n)
            .map(|i| (i * batch_count / n)..((i + 1) * batch_count / n))
            .collect();
        Ok(Self {
            batch_count,
            chunks,
            tasks: tasks as u32,
            mode,
            lease_s: 3600.0,
        })
    }

    /// The same plan with another lease (seconds a claim holds before others may take it over).
    pub fn with_lease(mut self, seconds: f64) -> Result<Self> {
        if !(seconds.is_finite() && seconds > 0.0) {
            return Err(Error::Plan(format!(
                "lease {seconds} s: expected a positive time"
            )));
        }
        self.lease_s = seconds;
        Ok(self)
    }

    /// Checks a plan read from elsewhere: chunks tile `0..batch_count` in order.
    pub fn validate(&self) -> Result<()> {
        let mut next = 0;
        for c in &self.chunks {
            if c.start != next || c.end <= c.start {
                return Err(Error::Plan(format!(
                    "chunk {c:?} does not follow batch {next}"
                )));
            }
            next = c.end;
        }
        if next != self.batch_count
            || self.tasks == 0
            || self.lease_s.is_nan()
            || self.lease_s <= 0.0
        {
            return Err(Error::Plan(format!(
                "chunks end at {next} of {} batches, {} tasks, lease {} s",
                self.batch_count, self.tasks, self.lease_s
            )));
        }
        Ok(())
    }

    /// The number of batches.
    pub fn batch_count(&self) -> u64 {
        self.batch_count
    }

    /// The chunks, in batch order.
    pub fn chunks(&self) -> &[Range<u64>] {
        &self.chunks
    }

    /// The number of tasks.
    pub fn tasks(&self) -> u32 {
        self.tasks
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The lease, seconds.
    pub fn lease_s(&self) -> f64 {
        self.lease_s
    }

    /// Whether task `task` may claim chunk `chunk`.
    pub fn may_claim(&self, task: u32, chunk: usize) -> bool {
        match self.mode {
            Mode::Static => chunk as u64 % u64::from(self.tasks) == u64::from(task),
            Mode::Dynamic => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_plans_are_refused() {
        assert!(Plan::fixed(0, 2).is_err());
        assert!(Plan::fixed(10, 0).is_err());
        assert!(Plan::dynamic(10, 2, 0).is_err());
        assert!(Plan::fixed(10, 2).and_then(|p| p.with_lease(0.0)).is_err());
        let mut p = Plan::fixed(10, 2).unwrap_or_else(|e| panic!("{e}"));
        p.chunks[1].start += 1;
        assert!(p.validate().is_err());
    }
}
