//! The error type of hope-dicom.

use std::path::PathBuf;

/// Everything that can go wrong in hope-dicom. Errors name the file or series, the attribute and
/// what was expected; they never carry patient data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read as DICOM.
    #[error("{}: not a readable DICOM file: {message}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },

    /// An attribute is missing or has a value that cannot be used.
    #[error("{}: {attribute}: {message}", path.display())]
    Attribute {
        /// The file.
        path: PathBuf,
        /// The attribute keyword.
        attribute: &'static str,
        /// What was found and what was expected.
        message: String,
    },

    /// A series cannot be assembled into a volume (geometry, missing or duplicate slices...).
    #[error("series {series}: {problem}")]
    Series {
        /// The Series Instance UID.
        series: String,
        /// What is wrong, with the values found.
        problem: String,
    },

    /// The pixel data is encoded in a way this build cannot decode.
    #[error("{}: transfer syntax {transfer_syntax} is not supported for pixel decoding", path.display())]
    UnsupportedTransferSyntax {
        /// The file.
        path: PathBuf,
        /// Its transfer syntax UID.
        transfer_syntax: String,
    },

    /// The pixel data uses a supported transfer syntax but could not be decoded (corrupt or
    /// truncated stream, or a variant the codec does not handle).
    #[error("{}: pixel data in transfer syntax {transfer_syntax} could not be decoded: {message}", path.display())]
    PixelDecode {
        /// The file.
        path: PathBuf,
        /// Its transfer syntax UID.
        transfer_syntax: String,
        /// The codec's message.
        message: String,
    },

    /// A file could not be written.
    #[error("{}: cannot write: {message}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },

    /// An I/O error, with the path it happened on.
    #[error("I/O error on {}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// An error from hope-core (grids, atomic writes).
    #[error(transparent)]
    Core(#[from] hope_core::Error),
}

/// `Result` with hope-dicom's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
