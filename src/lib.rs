//! # HOPE-rs
//!
//! The facade of HOPE-rs (HOsPital platform for E-health): composable crates that keep patient data
//! private, leave data where it is produced, and run Monte Carlo dose calculations on shared compute.
//! Each component is a crate of its own and is re-exported here under a short name, so that a program
//! can depend on `hope` alone.
//!
//! | module | crate | what it does |
//! |---|---|---|
//! | [`core`] | `hope-rs-core` (library `hope_core`) | voxel grids, volumes, units, MetaImage I/O, atomic writes |
//! | [`dicom`] | `hope-dicom` | DICOM de-identification, series to volumes, RT Dose, PACS access |
//! | [`crypto`] | `hope-crypto` | streaming AES-256-GCM with Shamir-split keys on mutual-TLS key servers |
//! | [`service`] | `hope-service` | mutual-TLS service plumbing: CA/CRL handling, small HTTP, connection limits, keyed audit log |
//! | [`catalog`] | `hope-catalog` | metadata catalog over in-memory, SQLite and PostgreSQL backends |
//! | [`mc`] | `hope-mc` | voxelised photon/electron Monte Carlo dosimetry |
//! | [`spect`] | `hope-spect` | SPECT acquisition simulation (collimators, crystal, forced detection), OSEM reconstruction, Interfile |
//! | [`grid`] | `hope-grid` | job planning and executors (local, process, Slurm) |
//! | [`plan`] | (here) | brachytherapy RT Plans as seed sources of a simulation |
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
//! | `gateway` | no | `gateway`: the `hope-gateway` crate (the hospital gateway and its job client) re-exported |
//!
//! No default feature: `cargo add hope-rs` brings the libraries and nothing of a command line or a
//! GUI. The products built on them are packages of their own:
//!
//! | package | what it is |
//! |---|---|
//! | `hope-gateway` | the hospital gateway (PACS to de-identified, encrypted deliveries) and its job client |
//! | `hope-workflow` | the eye-plaque brachytherapy workflow (`cargo run --release --example eye_plaque`) and its pictures |
//! | `hope-cli` | the `hope` command line |
//!
//!
pub use hope_catalog as catalog;
pub use hope_core as core;
pub use hope_crypto as crypto;
pub use hope_dicom as dicom;
pub use hope_grid as grid;
pub use hope_mc as mc;
pub use hope_service as service;
pub use hope_spect as spect;

#[cfg(feature = "gateway")]
pub use hope_gateway as gateway;
pub mod plan;
pub mod workload;
