#![doc = include_str!("../README.md")]

mod attrs;
pub mod deid;
pub mod error;
mod guard;
pub mod jpeg;
pub mod manual;
#[cfg(feature = "net")]
pub mod net;
pub mod rtdose;
pub mod series;
pub mod suv;
pub mod uid;

pub use error::{Error, Result};
pub use rtdose::{RtDoseOptions, read_rt_dose, write_rt_dose};
pub use series::{
    ActivityOptions, CtSeriesOptions, load_activity_volume, load_activity_volume_with,
    load_ct_volume, scan_dir, write_ct_series,
};
pub use suv::{DecayCorrection, SuvBw};
