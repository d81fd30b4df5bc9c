//! Files the user names (simulation files, HU tables, seed lists): read only if regular, and up to
//! a bound.

use std::path::Path;

use crate::{Error, Result};

/// The largest simulation or HU table file read (seed lists included, they are far smaller).
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// Reads a text file the user named: a regular file of at most [`MAX_FILE_BYTES`].
pub(crate) fn read_text(path: &Path) -> Result<String> {
    let read = |source: Box<dyn std::error::Error + Send + Sync>| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let bytes = hope_core::fs::read_bounded(path, MAX_FILE_BYTES).map_err(|e| read(e.into()))?;
    String::from_utf8(bytes).map_err(|e| read(e.into()))
}

/// Reads a TOML file, or JSON by extension, as `what` (errors name the file; their source, the
/// line and the field).
pub(crate) fn read_toml_or_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &'static str,
) -> Result<T> {
    let text = read_text(path)?;
    let syntax = |source: Box<dyn std::error::Error + Send + Sync>| Error::Syntax {
        path: path.to_path_buf(),
        what,
        source,
    };
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        serde_json::from_str(&text).map_err(|e| syntax(e.into()))
    } else {
        toml::from_str(&text).map_err(|e| syntax(e.into()))
    }
}
