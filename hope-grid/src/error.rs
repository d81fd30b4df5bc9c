//! The crate's error type.

use std::path::PathBuf;

/// What can go wrong when planning, running or merging.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A plan that cannot be carried out.
    #[error("plan: {0}")]
    Plan(String),
    /// A file of the working directory that does not hold what it should.
    #[error("{path}: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The workload failed.
    #[error("workload, batches {start}..{end}: {source}")]
    Workload {
        /// First batch of the failed chunk.
        start: u64,
        /// One past its last batch.
        end: u64,
        /// The workload's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Chunks still without a result after every attempt.
    #[error(
        "{count} chunks without a result (first: batches {first_start}..{first_end}); last error: {last_error}"
    )]
    Incomplete {
        /// How many.
        count: usize,
        /// The first one's batches.
        first_start: u64,
        /// One past its last batch.
        first_end: u64,
        /// The last failure seen, if any.
        last_error: String,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Corrupt {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// `Result` with this crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
