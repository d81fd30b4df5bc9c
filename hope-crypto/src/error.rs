//! The error type of hope-crypto.

use std::path::PathBuf;

/// Everything that can go wrong in hope-crypto.
///
/// Decryption and key reconstruction fail *opaquely*: [`Error::Decryption`] and
/// [`Error::KeyReconstruction`] say that it failed, never which byte, tag, header field or share
/// was at fault, so that a tampering attacker learns nothing from the error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The smart card or token of this client's key cannot be used (wrong PIN, no card, a
    /// certificate of another key...): [`Error::token_failure`] says which.
    #[error(transparent)]
    Token(hope_service::Error),

    /// The container could not be authenticated or decrypted (wrong key, wrong object id, any
    /// modification, truncation, reordering or splicing).
    #[error("decryption failed")]
    Decryption,

    /// The shares given do not reconstruct the key (too few, duplicated, from another key, or
    /// tampered with).
    #[error("key reconstruction failed")]
    KeyReconstruction,

    /// A parameter is outside what the scheme allows.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter {
        /// The parameter.
        name: &'static str,
        /// What was given and what is allowed.
        reason: String,
    },

    /// The caller is not allowed to perform this operation on this key.
    #[error("access denied: {principal} may not {action} key {key_id}")]
    AccessDenied {
        /// Who asked.
        principal: String,
        /// What was asked (`get`, `put`, `delete`, `set-acl`).
        action: &'static str,
        /// The key.
        key_id: String,
    },

    /// No share is stored for this key.
    #[error("no share stored for key {key_id}")]
    NotFound {
        /// The key.
        key_id: String,
    },

    /// The request conflicts with the key's state (registered already, a generation that is not
    /// newer, nothing staged to commit).
    #[error("key {key_id}: {message}")]
    Conflict {
        /// The key.
        key_id: String,
        /// What conflicts.
        message: String,
    },

    /// The audit log could not be written or read; operations fail closed.
    #[error("audit log {}: {message}", path.display())]
    Audit {
        /// The audit log.
        path: PathBuf,
        /// What went wrong (for verification: the first record that does not verify).
        message: String,
    },

    /// A configuration file, certificate, key or CRL is malformed.
    #[error("{}: {field}: {message}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// The field or item at fault.
        field: String,
        /// What was found and what was expected.
        message: String,
    },

    /// TLS set-up or handshake failure.
    #[error("TLS: {0}")]
    Tls(String),

    /// A key server answered with an error or could not be reached.
    #[error("key server {server}: {message}")]
    Server {
        /// The server address.
        server: String,
        /// The HTTP status it answered, if it answered.
        status: Option<u16>,
        /// What happened.
        message: String,
    },

    /// Too few key servers answered to reach the threshold.
    #[error("only {reached} of the {needed} key servers needed answered ({failures})")]
    NotEnoughServers {
        /// Shares needed (the threshold).
        needed: usize,
        /// Valid shares received.
        reached: usize,
        /// One line per failing server.
        failures: String,
    },

    /// An I/O error, with the file or stream it happened on.
    #[error("I/O error on {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// An error from hope-core (atomic file writes).
    #[error(transparent)]
    Core(#[from] hope_core::Error),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// The token failure behind this error, if it is one.
    pub fn token_failure(&self) -> Option<hope_service::token::TokenFailure> {
        match self {
            Error::Token(e) => e.token_failure(),
            _ => None,
        }
    }

    pub(crate) fn invalid(name: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidParameter {
            name,
            reason: reason.into(),
        }
    }
}

impl From<hope_service::Error> for Error {
    /// The service plumbing's errors as the same kinds of errors of this crate (an audit log
    /// that cannot be written is `Error::Audit` whichever crate wrote it).
    fn from(e: hope_service::Error) -> Self {
        match e {
            hope_service::Error::Audit { path, message } => Error::Audit { path, message },
            hope_service::Error::Config {
                path,
                field,
                message,
            } => Error::Config {
                path,
                field,
                message,
            },
            hope_service::Error::Tls(m) => Error::Tls(m),
            e @ hope_service::Error::Token { .. } => Error::Token(e),
            hope_service::Error::Io { path, source } => Error::Io { path, source },
            hope_service::Error::Core(e) => Error::Core(e),
            hope_service::Error::Random(m) => Error::InvalidParameter {
                name: "random",
                reason: format!("the OS random generator failed: {m}"),
            },
            other => Error::InvalidParameter {
                name: "service",
                reason: other.to_string(),
            },
        }
    }
}

/// `Result` with hope-crypto's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
