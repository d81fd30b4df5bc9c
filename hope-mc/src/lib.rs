#![doc = include_str!("../README.md")]
//!
//! # Modules, by domain
//!
//! | module | what |
//! |---|---|
//! | [`geometry`] | the voxel phantom, its lattice of voxel blocks, rays, the local frame |
//! | [`material`] | materials and their photon coefficients; CT numbers to materials ([`material::hounsfield`]) |
//! | [`physics`] | run switches, energy grids, photon interactions, electron and positron physics |
//! | [`source`] | spectra, radionuclides and emission geometries; brachytherapy seeds ([`source::brachy`]) |
//! | [`tally`] | per-voxel sums, partial results and their codec, DVHs ([`tally::dvh`]) |
//! | [`transport`] | photon and charged-particle tracking in the phantom |
//! | [`simulation`] | the simulation file format |
//!
//! Dependencies run one way: `simulation` → `transport` → (`source`, `tally`, `geometry`,
//! `physics`) → `material` → `data`.

pub mod data;
pub mod error;
mod files;
pub mod geometry;
pub mod manual;
pub mod material;
mod particle;
pub mod physics;
pub mod rng;
pub mod simulation;
pub mod source;
pub mod tally;
pub mod transport;

pub use error::{Error, Result};
pub use geometry::Phantom;
pub use material::Material;
pub use physics::PhysicsOptions;
pub use simulation::Simulation;
pub use source::{
    Field, PhaseSpaceSource, Radionuclide, SeedPlacement, SeedSource, Source, Spectrum,
};
pub use tally::{Partial, Tally};
pub use transport::{RunOptions, Tracking, Transport, VarianceReduction};
