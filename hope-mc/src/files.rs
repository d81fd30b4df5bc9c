//! Files the user names (simulation files, HU tables, seed lists): read only if regular, and up to
//! a bound.

use std::path::Path;

/// The largest simulation or HU table file read (seed lists included, they are far smaller).
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// Reads a text file the user named: a regular file of at most [`MAX_FILE_BYTES`].
pub(crate) fn read_text(path: &Path) -> std::result::Result<String, String> {
    let bytes = hope_core::fs::read_bounded(path, MAX_FILE_BYTES).map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8 text", path.display()))
}
