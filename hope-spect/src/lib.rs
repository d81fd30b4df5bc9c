#![doc = include_str!("../README.md")]

pub mod acquisition;
pub mod collimator;
pub mod crystal;
mod data;
pub mod error;
pub mod file;
pub mod interfile;
pub mod projections;
pub mod recon;
pub mod reconstruct;
pub mod response;
mod septa;
pub mod spectrum;
mod trace;

pub use acquisition::{Acquisition, Body, Method, RunControl, Window, simulate};
pub use collimator::{Collimator, HoleShape, SeptaMaterial};
pub use crystal::Crystal;
pub use error::{Error, Result};
pub use file::SpectSimulation;
pub use projections::Projections;
pub use recon::{Geometry, Projector, osem, osem_with_background};
pub use reconstruct::ReconstructionSpec;
pub use response::{PointResponse, ResponseOptions, point_response};
