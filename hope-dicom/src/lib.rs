#![doc = include_str!("../README.md")]

pub mod error;
pub mod series;
pub mod uid;

pub use error::{Error, Result};
pub use series::{CtSeriesOptions, load_ct_volume, scan_dir, write_ct_series};
