//! Subcommand implementations of the `hope` command line.

pub(crate) mod catalog;
pub(crate) mod crypto;
pub(crate) mod deid;
pub(crate) mod files;
pub(crate) mod gateway;
pub(crate) mod grid;
pub(crate) mod series;
pub(crate) mod simulate;
pub(crate) mod spect;
pub(crate) mod text;
