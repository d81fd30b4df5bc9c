//! The error type of hope-core.

use std::path::PathBuf;

/// Everything that can go wrong in hope-core.
///
/// Every variant says which input was wrong (the file and the field where there is one) and what was
/// expected, so that a user can fix the input without reading the source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A grid was described with values that cannot form a voxel grid.
    #[error("invalid grid: {field}: {reason}")]
    InvalidGrid {
        /// The grid field at fault (`dims`, `spacing`, `origin`, `direction`).
        field: &'static str,
        /// What was found and what was expected.
        reason: String,
    },

    /// A volume's data does not match its grid.
    #[error("volume data holds {found} values but the grid {dims:?} needs {expected}")]
    DataLength {
        /// Grid dimensions.
        dims: [usize; 3],
        /// Number of voxels of the grid.
        expected: usize,
        /// Number of values given.
        found: usize,
    },

    /// A MetaImage header is malformed or asks for something this reader does not support.
    #[error("{}: line {line}: field `{field}`: {message}", path.display())]
    MetaImageHeader {
        /// The header file (`.mhd` or `.mha`).
        path: PathBuf,
        /// 1-based line number in the header (0 when the problem is a missing field).
        line: usize,
        /// The header field at fault.
        field: String,
        /// What was found and what was expected.
        message: String,
    },

    /// A MetaImage data file does not hold what its header announces.
    #[error("{}: {message}", path.display())]
    MetaImageData {
        /// The data file (`.raw`, or the `.mha` for local data).
        path: PathBuf,
        /// What was found and what was expected.
        message: String,
    },

    /// An image cannot be made from the values given.
    #[error("image: {0}")]
    Image(String),

    /// An I/O error, with the file it happened on.
    #[error("I/O error on {}", path.display())]
    Io {
        /// The file being read or written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// `Result` with hope-core's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
