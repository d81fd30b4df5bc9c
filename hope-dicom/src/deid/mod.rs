//! De-identification to DICOM PS3.15 Annex E. In progress: this version provides the profile table
//! ([`table`]); the de-identifier that applies it comes with the rest of the de-identification work.

pub mod table;
#[rustfmt::skip]
mod table_data;
