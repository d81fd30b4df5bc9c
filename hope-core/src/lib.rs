#![doc = include_str!("../README.md")]

pub mod calendar;
pub mod error;
pub mod fs;
pub mod grid;
pub mod metaimage;
pub mod nifti;
pub mod principal;
pub mod units;
pub mod vec3;
pub mod volume;

pub use error::{Error, Result};
pub use grid::{Grid, GridBuilder};
pub use principal::{Principal, Subject};
pub use units::{Cm, GramsPerCm3, Gray, MeV, Mm};
pub use vec3::Vec3;
pub use volume::Volume;
