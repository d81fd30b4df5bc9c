#![doc = include_str!("../README.md")]

pub mod error;
pub mod exec;
pub mod latency;
pub mod plan;
pub mod planner;
pub mod process;
pub mod sim;
pub mod slurm;
pub mod store;
pub mod workdir;
pub mod workload;

pub use error::{Error, Result};
pub use exec::{Executor, Local, TaskOutcome, checkpoint, merge, run, work};
pub use plan::{Mode, Plan};
pub use process::Process;
pub use slurm::{JobTemplate, Slurm};
pub use workdir::WorkDir;
pub use workload::{Fingerprint, Workload, WorkloadError};
