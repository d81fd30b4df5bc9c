//! # HOPE-rs
//!
//! The facade of HOPE-rs (HOsPital platform for E-health): composable crates that keep patient data
//! private, leave data where it is produced, and run Monte Carlo dose calculations on shared compute.
//! Each component is a crate of its own and is re-exported here under a short name, so that a program
//! can depend on `hope` alone.
//!
//! | module | crate | what it does |
//! |---|---|---|
//! | [`core`] | `hope-core` | voxel grids, volumes, units, MetaImage I/O, atomic writes |
//! | [`dicom`] | `hope-dicom` | DICOM de-identification, series to volumes, RT Dose, PACS access |
//! | [`crypto`] | `hope-crypto` | streaming AES-256-GCM with Shamir-split keys on mutual-TLS key servers |
//! | [`catalog`] | `hope-catalog` | metadata catalog over in-memory, SQLite and PostgreSQL backends |
//! | [`mc`] | `hope-mc` | voxelised photon/electron Monte Carlo dosimetry |
//! | [`grid`] | `hope-grid` | job planning and executors (local, process, Slurm) |
//!
//! ```
//! use hope::core::{Grid, Volume};
//!
//! let grid = Grid::new([10, 10, 10], [1.0; 3])?;
//! let water = Volume::<i16>::filled(grid, 0);
//! assert_eq!(water.data().len(), 1000);
//! # Ok::<(), hope::core::Error>(())
//! ```
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `cli` | yes | the `hope` command line (clap, anyhow); embedders can turn it off |
//!
//! The flagship workflow (CT, de-identification, encryption, catalog, planned Monte Carlo, dose images)
//! will be walked through here as the crates grow; see `ARCHITECTURE.md` in the repository.

pub use hope_catalog as catalog;
pub use hope_core as core;
pub use hope_crypto as crypto;
pub use hope_dicom as dicom;
pub use hope_grid as grid;
pub use hope_mc as mc;

#[cfg(feature = "workflow")]
pub mod eye_plaque;
#[cfg(feature = "workflow")]
pub mod plot;
pub mod workload;
