#![doc = include_str!("../README.md")]

pub mod collimator;
mod data;
pub mod error;
pub mod response;
mod trace;

pub use collimator::{Collimator, HoleShape};
pub use error::{Error, Result};
pub use response::{PointResponse, ResponseOptions, point_response};
