#![doc = include_str!("../README.md")]

pub mod data;
pub mod error;
pub mod material;

pub use error::{Error, Result};
pub use material::Material;
