#![doc = include_str!("../README.md")]

pub mod collimator;
pub mod crystal;
mod data;
pub mod error;
pub mod recon;
pub mod response;
pub mod spectrum;
mod trace;

pub use collimator::{Collimator, HoleShape};
pub use crystal::Crystal;
pub use error::{Error, Result};
pub use recon::{Geometry, Projector, osem};
pub use response::{PointResponse, ResponseOptions, point_response};
