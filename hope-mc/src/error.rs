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
    },

    /// Partial results cannot be merged.
    #[error("merge: {message}")]
    Merge {
        /// What is wrong.
        message: String,
    },
}

/// `Result` with hope-mc's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
