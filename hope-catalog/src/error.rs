//! The error type of hope-catalog.

/// Everything that can go wrong in hope-catalog.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The smart card or token of the client's key cannot be used (wrong PIN, no card, a
    /// certificate of another key...): `hope_service::Error::token_failure` says which.
    #[cfg(feature = "client")]
    #[error(transparent)]
    Token(hope_service::Error),

    /// A query does not parse or does not fit the schema; `position` is a byte offset in the text.
    #[error("query error at position {position}: {message}\n  {query}\n  {caret}^", caret = " ".repeat(*position))]
    Query {
        /// The query text.
        query: String,
        /// Byte offset of the problem.
        position: usize,
        /// What was found and what was expected.
        message: String,
    },

    /// A name, path, value or schema change is not acceptable.
    #[error("invalid {what}: {message}")]
    Invalid {
        /// What was invalid (`path`, `attribute name`, `value of Modality`...).
        what: String,
        /// Why.
        message: String,
    },

    /// The principal lacks a permission.
    #[error("access denied: {principal} may not {action} {path}")]
    AccessDenied {
        /// Who asked.
        principal: String,
        /// What was asked (`read`, `write`, `admin`).
        action: &'static str,
        /// The collection.
        path: String,
    },

    /// A collection or entry does not exist.
    #[error("not found: {0}")]
    NotFound(String),

    /// A collection or entry already exists.
    #[error("already exists: {0}")]
    AlreadyExists(String),

    /// An entry changed between a read and a conditional update (a remote
    /// [`crate::Catalog::update_with`] retries on it).
    #[error("conflict: {0}")]
    Conflict(String),

    /// A catalog service could not be reached, refused the connection or the certificate, or
    /// failed (`status`: the HTTP status it answered, if it answered).
    #[error("catalog service {server}: {message}")]
    Remote {
        /// The service's address.
        server: String,
        /// The HTTP status, if the service answered.
        status: Option<u16>,
        /// What happened.
        message: String,
    },

    /// The storage back-end failed.
    #[error("{backend} back-end: {message}")]
    Backend {
        /// The back-end (`memory`, `sqlite`, `postgres`).
        backend: &'static str,
        /// What it was doing.
        message: String,
        /// The back-end's own error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl Error {
    /// A back-end failure with its cause.
    pub(crate) fn backend(
        backend: &'static str,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        Error::Backend {
            backend,
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    /// Stored metadata (schema or permissions JSON) that does not parse.
    pub(crate) fn metadata(backend: &'static str, source: serde_json::Error) -> Error {
        Error::backend(backend, "stored metadata is not valid JSON", source)
    }

    pub(crate) fn invalid(what: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Invalid {
            what: what.into(),
            message: message.into(),
        }
    }
}

/// `Result` with hope-catalog's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
