//! Crash-safe file output: write to a temporary file beside the target, then rename.
//!
//! A reader never sees a half-written file: either the previous content or the complete new one.
//! Every HOPE-rs writer (MetaImage, DICOM, encrypted containers, job results) goes through here.
//!
//! ```
//! use std::io::Write;
//! use hope_core::fs::AtomicFile;
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("dose.txt");
//! let mut file = AtomicFile::create(&path)?;
//! file.write_all(b"1.25 Gy\n")?;
//! assert!(!path.exists(), "nothing is visible before commit");
//! file.commit()?;
//! assert_eq!(std::fs::read(&path)?, b"1.25 Gy\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::{Error, Result};

/// A file being written that becomes visible at its path only on [`AtomicFile::commit`].
///
/// Dropping it without committing removes the temporary file and leaves the target untouched.
#[derive(Debug)]
pub struct AtomicFile {
    target: PathBuf,
    writer: BufWriter<NamedTempFile>,
}

impl AtomicFile {
    /// Starts writing `path` through a temporary file in the same directory.
    pub fn create(path: impl AsRef<Path>) -> Result<AtomicFile> {
        let target = path.as_ref().to_path_buf();
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(|e| Error::io(&target, e))?;
        Ok(AtomicFile {
            target,
            writer: BufWriter::with_capacity(1 << 16, tmp),
        })
    }

    /// The path the file will have once committed.
    pub fn path(&self) -> &Path {
        &self.target
    }

    /// The temporary file itself, for positioned writes (written data is flushed first); what is
    /// written through it becomes visible, like the rest, only on commit.
    pub fn file(&mut self) -> io::Result<&File> {
        self.writer.flush()?;
        Ok(self.writer.get_ref().as_file())
    }

    /// Flushes, syncs the data to disk and renames the temporary file onto the target path.
    pub fn commit(self) -> Result<()> {
        self.finish(true, true).map(|_| ())
    }

    /// Flushes and renames the temporary file onto the target path without syncing it to disk:
    /// readers still never see a partial file, but a power loss may lose the file's content.
    /// For batches of many files, where a sync per file would dominate the run time and the
    /// batch can be redone.
    pub fn commit_unsynced(self) -> Result<()> {
        self.finish(false, true).map(|_| ())
    }

    /// Like [`AtomicFile::commit`] (with `sync`) or [`AtomicFile::commit_unsynced`], but never
    /// replaces an existing file: returns `Ok(false)`, and discards the new content, when the
    /// target exists.
    pub fn commit_new(self, sync: bool) -> Result<bool> {
        self.finish(sync, false)
    }

    fn finish(self, sync: bool, replace: bool) -> Result<bool> {
        let target = self.target;
        let tmp = self
            .writer
            .into_inner()
            .map_err(|e| Error::io(&target, e.into_error()))?;
        if sync {
            tmp.as_file()
                .sync_all()
                .map_err(|e| Error::io(&target, e))?;
        }
        if replace {
            tmp.persist(&target)
                .map_err(|e| Error::io(&target, e.error))?;
        } else {
            match tmp.persist_noclobber(&target) {
                Ok(_) => {}
                Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
                Err(e) => return Err(Error::io(&target, e.error)),
            }
        }
        if sync {
            sync_parent(&target);
        }
        Ok(true)
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.writer.write_all(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.writer.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

/// Writes `bytes` to `path` atomically (see [`AtomicFile`]).
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes)
        .map_err(|e| Error::io(file.path(), e))?;
    file.commit()
}

/// Opens `path` for reading only if it is a regular file: a FIFO, a device (`/dev/zero`), a
/// socket or a directory is refused without blocking (on Linux the file is opened non-blocking,
/// so a FIFO without a writer cannot hang the caller). The error names the path.
pub fn open_regular(path: impl AsRef<Path>) -> io::Result<File> {
    let mut options = File::options();
    options.read(true);
    open_regular_with(path, &mut options)
}

/// Opens `path` with `options` (for writing, say) only if it is, or becomes, a regular file:
/// non-blocking on Linux, so that a FIFO without a reader or writer cannot hang the caller, and
/// checked once open. The error names the path.
pub fn open_regular_with(
    path: impl AsRef<Path>,
    options: &mut std::fs::OpenOptions,
) -> io::Result<File> {
    let path = path.as_ref();
    #[cfg(all(
        target_os = "linux",
        any(
            target_arch = "x86_64",
            target_arch = "x86",
            target_arch = "aarch64",
            target_arch = "arm",
            target_arch = "riscv64"
        )
    ))]
    {
        use std::os::unix::fs::OpenOptionsExt;
        const O_NONBLOCK: i32 = 0o4000;
        options.custom_flags(O_NONBLOCK);
    }
    #[cfg(not(all(
        target_os = "linux",
        any(
            target_arch = "x86_64",
            target_arch = "x86",
            target_arch = "aarch64",
            target_arch = "arm",
            target_arch = "riscv64"
        )
    )))]
    {
        // Without a non-blocking open, look first (a race can still swap the file).
        if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
            return Err(not_regular(path));
        }
    }
    let file = options.open(path)?;
    if !file.metadata()?.is_file() {
        return Err(not_regular(path));
    }
    Ok(file)
}

fn not_regular(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{}: not a regular file (a device, FIFO, socket or directory)",
            path.display()
        ),
    )
}

/// Reads a regular file of at most `max` bytes ([`open_regular`]); a larger file is refused
/// before it is read, and a file that grows while read is cut off at `max + 1` bytes and
/// refused. The error names the path and the limit.
pub fn read_bounded(path: impl AsRef<Path>, max: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let path = path.as_ref();
    let file = open_regular(path)?;
    let too_big = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: larger than the {max} bytes expected", path.display()),
        )
    };
    let len = file.metadata()?.len();
    if len > max {
        return Err(too_big());
    }
    let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(max.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(too_big());
    }
    Ok(out)
}

/// The largest configuration, key, certificate or recipe file read by the HOPE-rs tools
/// (1 MiB: such files are a few KiB; a CRL may be larger, see [`MAX_CRL_BYTES`]).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// The largest certificate revocation list read (64 MiB: a CA revoking a million certificates).
pub const MAX_CRL_BYTES: u64 = 64 << 20;

/// [`read_bounded`] as UTF-8 text; the error names the path.
pub fn read_text_bounded(path: impl AsRef<Path>, max: u64) -> io::Result<String> {
    let path = path.as_ref();
    String::from_utf8(read_bounded(path, max)?).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: not UTF-8 text", path.display()),
        )
    })
}

/// Makes the rename itself durable where the platform allows it (best effort: a failure here
/// cannot undo the rename, and the data is already synced).
fn sync_parent(path: &Path) {
    #[cfg(unix)]
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_file_leaves_no_trace_and_keeps_old_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.bin");
        write_atomic(&path, b"old").unwrap();
        {
            let mut f = AtomicFile::create(&path).unwrap();
            f.write_all(b"new, but abandoned").unwrap();
        }
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.bin")]);
    }

    #[test]
    fn bounded_reads_refuse_devices_fifos_and_large_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.bin");
        write_atomic(&path, b"0123456789").unwrap();
        assert_eq!(read_bounded(&path, 10).unwrap(), b"0123456789");
        let e = read_bounded(&path, 9).unwrap_err().to_string();
        assert!(e.contains("a.bin") && e.contains("9 bytes"), "{e}");
        #[cfg(unix)]
        {
            let e = read_bounded("/dev/zero", 1 << 20).unwrap_err().to_string();
            assert!(e.contains("not a regular file"), "{e}");
            let fifo = dir.path().join("fifo");
            let made = std::process::Command::new("mkfifo").arg(&fifo).status();
            if made.is_ok_and(|s| s.success()) {
                // Without a writer, a blocking open would never return.
                let e = read_bounded(&fifo, 10).unwrap_err().to_string();
                assert!(e.contains("not a regular file"), "{e}");
            }
        }
        assert!(read_bounded(dir.path(), 10).is_err());
    }

    #[test]
    fn missing_directory_names_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/dir/a.bin");
        let err = write_atomic(&path, b"x").unwrap_err();
        assert!(err.to_string().contains("no/such/dir/a.bin"), "{err}");
    }
}
