//! PACS access (feature `net`): DIMSE as a service class user (C-ECHO, C-FIND, C-GET, C-MOVE,
//! C-STORE) through dicom-ul, a storage SCP for C-MOVE destinations, and DICOMweb (QIDO-RS,
//! WADO-RS, STOW-RS) over HTTPS.
//!
//! Retrievals stream every instance to disk as it arrives (memory stays bounded whatever the
//! series size), write it through a temporary file renamed into place, and resume per instance:
//! a retrieval that was cut off asks only for the instances it does not have yet.
//!
//! Errors name the PACS, the operation and what went wrong ([`NetError`]): a PACS that is down
//! ([`NetError::Unreachable`]), an association refused with its reason ([`NetError::Rejected`],
//! e.g. an unknown AE title), a service it does not offer ([`NetError::NotNegotiated`]), a
//! failure status ([`NetError::Status`]), a timeout, an HTTP error. They never carry patient
//! data: query values are not repeated in messages.
//!
//! ```no_run
//! use hope_dicom::net::{Pacs, Query, Retrieval};
//! use dicom_dictionary_std::tags;
//! let pacs = Pacs::new("127.0.0.1:4242", "ORTHANC").calling_ae("HOPE");
//! let series = pacs.find(&Query::series("1.2.3.4"))?;
//! let uid = series[0].get(tags::SERIES_INSTANCE_UID).unwrap_or_default();
//! let got = pacs.retrieve("1.2.3.4", Some(uid), "series/".as_ref(), Retrieval::Get, |_| true)?;
//! println!("{} instances", got.files.len());
//! # Ok::<(), hope_dicom::net::NetError>(())
//! ```

mod command;
mod dimse;
mod error;
mod link;
pub mod multipart;
mod part10;
mod query;
mod scp;
mod web;

pub use dimse::{Pacs, Retrieval, Retrieved, StoreSummary, SubOperations};
pub use error::{NetError, NetResult, Rejection, status_meaning};
pub use multipart::{MultipartReader, Part};
pub use part10::dataset_bytes;
pub use query::{Match, Query, QueryLevel};
pub use scp::{ScpHandle, StorageScp};
pub use web::DicomWeb;

/// Whether a UID is safe as a file name: digits and dots only, 1 to 64 characters.
pub(crate) fn is_safe_uid(uid: &str) -> bool {
    !uid.is_empty()
        && uid.len() <= 64
        && uid.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && !uid.starts_with('.')
}
