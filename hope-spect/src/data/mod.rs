//! Generated data tables (see `tools/`).

pub(crate) mod collimators;
