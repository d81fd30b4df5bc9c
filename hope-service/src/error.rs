//! The error type of hope-service.

use std::path::PathBuf;

/// Everything that can go wrong in the service plumbing; errors name the file or the peer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The audit log cannot be opened, verified or written (the service then refuses to serve:
    /// it fails closed).
    #[error("audit log {}: {message}", path.display())]
    Audit {
        /// The log.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },

    /// A configuration or key file is unusable.
    #[error("{}: {field}: {message}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// The field at fault.
        field: String,
        /// What is wrong.
        message: String,
    },

    /// TLS set-up or a handshake failed, or a certificate was refused.
    #[error("TLS: {0}")]
    Tls(String),

    /// A PKCS#11 token (smart card, HSM) cannot be used: see [`TokenFailure`] for the cause.
    /// The message never holds a PIN.
    ///
    /// [`TokenFailure`]: crate::token::TokenFailure
    #[error("PKCS#11 token `{}`: {kind}: {message}", token.escape_debug())]
    Token {
        /// The token's label (or the URI's, when no token was found).
        token: String,
        /// The cause.
        kind: crate::token::TokenFailure,
        /// What was found, and what to do.
        message: String,
    },

    /// The operating system's random generator failed.
    #[error("the OS random generator failed: {0}")]
    Random(String),

    /// Reading or writing a file failed.
    #[error("I/O error on {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// A file operation of hope-core failed (an atomic write, a bounded read).
    #[error(transparent)]
    Core(#[from] hope_core::Error),
}

impl Error {
    /// The token failure behind this error, if it is one.
    pub fn token_failure(&self) -> Option<crate::token::TokenFailure> {
        match self {
            Error::Token { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// `Result` with hope-service's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Fills `buf` from the operating system's random generator.
pub fn random_fill(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| Error::Random(e.to_string()))
}
