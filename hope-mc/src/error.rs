//! The error type of hope-mc.

/// Everything that can go wrong in hope-mc; errors name the item and the field at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A material definition is unusable.
    #[error("material `{name}`: {message}")]
    Material {
        /// The material's name.
        name: String,
        /// What is wrong.
        message: String,
    },

    /// A phantom definition is unusable.
    #[error("phantom: {message}")]
    Phantom {
        /// What is wrong.
        message: String,
    },

    /// A source definition is unusable.
    #[error("source: {message}")]
    Source {
        /// What is wrong.
        message: String,
    },

    /// A simulation description is unusable.
    #[error("simulation: {field}: {message}")]
    Simulation {
        /// The field (or the file) at fault.
        field: String,
        /// What is wrong and what was expected.
        message: String,
        /// The error of the part of the library that refused the value, if one did.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    /// A file the user named (a simulation file, an HU table, a CT) cannot be read.
    #[error("{}: cannot be read", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A file is not a valid simulation file or HU table: its syntax, a field of the wrong type,
    /// an unknown field or value, or a value refused (the source names the field).
    #[error("{}: not a valid {what}", path.display())]
    Syntax {
        /// The file.
        path: std::path::PathBuf,
        /// What it was read as (`simulation file`, `HU table`).
        what: &'static str,
        /// The parser's error, with the line and the field.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// An IAEA phase-space file is malformed or cannot be read or written.
    #[error("{}: {field}: {message}", path.display())]
    PhaseSpace {
        /// The header or data file.
        path: std::path::PathBuf,
        /// The header block (`$RECORD_LENGTH`) or the record.
        field: String,
        /// What is wrong.
        message: String,
    },

    /// Partial results cannot be merged.
    #[error("merge: {message}")]
    Merge {
        /// What is wrong.
        message: String,
    },
}

impl Error {
    /// The error and its causes, joined by `: ` (for messages that show the whole chain).
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            text.push_str(": ");
            text.push_str(&c.to_string());
            cause = c.source();
        }
        text
    }
}

/// `Result` with hope-mc's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
