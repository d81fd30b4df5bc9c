#![doc = include_str!("../README.md")]

pub mod brachy;
pub mod data;
pub mod dvh;
pub mod electron;
pub mod error;
pub mod hounsfield;
pub mod manual;
pub mod material;
pub mod physics;
pub mod rng;
pub mod simulation;
pub mod source;
pub mod transport;

pub use error::{Error, Result};
pub use material::Material;
pub use physics::PhysicsOptions;
pub use simulation::Simulation;
pub use source::{Radionuclide, SeedPlacement, SeedSource, Source, Spectrum};
pub use transport::{Partial, Phantom, RunOptions, Tally, Tracking, Transport};
