//! The error type of hope-spect.

/// What can go wrong; errors name the field and what was expected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter is out of its range or unknown.
    #[error("{name}: {reason}")]
    InvalidParameter {
        /// The parameter.
        name: &'static str,
        /// What was given and what was expected.
        reason: String,
    },
    /// A material or radionuclide of hope-mc could not be had.
    #[error(transparent)]
    Mc(#[from] hope_mc::Error),
    /// A file could not be read, parsed or written; the message names the field or line.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A field of a file is missing, unknown or out of range.
    #[error("{path}: {field}: {message}")]
    Field {
        /// The file.
        path: std::path::PathBuf,
        /// The field, as the file spells it (`orbit.views`).
        field: String,
        /// What was given and what was expected.
        message: String,
    },
    /// A volume could not be read or written.
    #[error(transparent)]
    Core(#[from] hope_core::Error),
}

impl Error {
    pub(crate) fn file(path: &std::path::Path, message: impl Into<String>) -> Error {
        Error::File {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    pub(crate) fn field(
        path: &std::path::Path,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Error {
        Error::Field {
            path: path.to_path_buf(),
            field: field.into(),
            message: message.into(),
        }
    }

    pub(crate) fn invalid(name: &'static str, reason: impl Into<String>) -> Error {
        Error::InvalidParameter {
            name,
            reason: reason.into(),
        }
    }
}

/// Checks that each `(name, value, lo, hi)` is finite and within `[lo, hi]`; the error names the
/// first that is not.
pub(crate) fn check_ranges(checks: &[(&'static str, f64, f64, f64)]) -> Result<()> {
    for &(name, v, lo, hi) in checks {
        if !(v.is_finite() && (lo..=hi).contains(&v)) {
            return Err(Error::invalid(name, format!("{v}; expected {lo} to {hi}")));
        }
    }
    Ok(())
}

/// `Result` with hope-spect's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
