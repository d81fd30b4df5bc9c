#![doc = include_str!("../README.md")]

mod attrs;
pub mod deid;
pub mod error;
pub mod guard;
pub mod jpeg;
pub mod manual;
#[cfg(feature = "net")]
pub mod net;
pub mod nm;
pub mod rtdose;
pub mod rtplan;
pub mod rtstruct;
pub mod series;
pub mod suv;
pub mod uid;

pub use error::{Error, Result};
pub use nm::{
    NmOptions, NmProjections, NmWindow, read_nm_projections, write_nm_projections,
    write_nm_reconstruction,
};
pub use rtdose::{RtDoseOptions, read_rt_dose, write_rt_dose};
pub use series::{
    ActivityOptions, CtSeriesOptions, LoadOptions, Loaded, Tilt, TiltCorrection,
    load_activity_volume, load_activity_volume_with, load_ct_volume, load_ct_volume_with, scan_dir,
    write_ct_series,
};
pub use suv::{DecayCorrection, SuvBw};

/// Reads the attributes of a Part 10 file up to its pixel data, after checking the bytes read
/// (declared lengths, nesting depth, element count: see the de-identification manual). For a
/// whole instance with its pixels, see [`deid::read_any`].
pub fn read_header(path: &std::path::Path) -> Result<dicom_object::DefaultDicomObject> {
    attrs::open(path, false)
}
