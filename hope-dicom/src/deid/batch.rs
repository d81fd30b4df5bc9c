//! De-identifying a directory tree: files read robustly, de-identified on a rayon pool while the
//! tree is walked (memory bounded by the number of threads, not of files), each output renamed
//! into place complete, and every file accounted for in a [`BatchSummary`]: one that fails is
//! reported with its reason and never stops the batch.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use dicom_dictionary_std::{tags, uids};
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::{DefaultDicomObject, FileMetaTableBuilder};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use hope_core::fs::AtomicFile;
use rayon::iter::{ParallelBridge, ParallelIterator};

use super::{Deidentifier, PixelVerdict};
use crate::attrs::text;
use crate::{Error, Result};

/// What happens to an instance whose pixels may show identity (see [`super::pixel_verdict`])
/// and that no redaction rule cleaned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum BurnedInPolicy {
    /// Not written; reported as quarantined (the default).
    #[default]
    Refuse,
    /// De-identified (header) and written under this directory instead of the output, for review.
    Quarantine(PathBuf),
    /// Written to the output like any other, with Patient Identity Removed = NO.
    Allow,
}

/// Options of [`deidentify_dir`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct BatchOptions {
    /// Worker threads; 0 for one per core.
    pub threads: usize,
    /// What to do with instances that may show identity in their pixels.
    pub burned_in: BurnedInPolicy,
    /// Sync each output file to disk before renaming it into place (slower; off by default:
    /// outputs are still never visible half-written).
    pub sync: bool,
}

impl BatchOptions {
    /// The defaults: every core, burned-in suspects refused, no sync per file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Worker threads (0: one per core).
    #[must_use]
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// What to do with instances that may show identity in their pixels.
    #[must_use]
    pub fn burned_in(mut self, policy: BurnedInPolicy) -> Self {
        self.burned_in = policy;
        self
    }

    /// Sync each output file before renaming it into place.
    #[must_use]
    pub fn sync(mut self, sync: bool) -> Self {
        self.sync = sync;
        self
    }
}

/// What became of one input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOutcome {
    /// Written to this path.
    Done(PathBuf),
    /// Its pixels may show identity: written to the quarantine at this path, or (`None`) refused.
    Quarantined(Option<PathBuf>, String),
    /// Not processed, with the reason (never containing values from the file).
    Skipped(String),
}

/// The account of a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchSummary {
    /// Files written to the output.
    pub done: usize,
    /// Files quarantined or refused for their pixels, with the reason.
    pub quarantined: Vec<(PathBuf, String)>,
    /// Files not processed, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

/// Reads a DICOM file: a Part 10 file, or a bare data set without preamble and file meta (the
/// transfer syntax guessed from its first element: explicit VR little endian when bytes 4-5 are
/// a VR, implicit otherwise).
pub fn read_any(path: &Path) -> Result<DefaultDicomObject> {
    let unreadable = |message: String| Error::Unreadable {
        path: path.to_path_buf(),
        message,
    };
    let bytes = crate::attrs::read_bounded(path)?;
    if let Some(start) = crate::guard::part10_start(&bytes) {
        return crate::attrs::parse_part10(path, &bytes, start);
    }
    // A bare data set starts with group 0008 (or 0002, meta without preamble); anything else is
    // not DICOM.
    if bytes.len() < 8 {
        return Err(unreadable("too short to be DICOM".into()));
    }
    let group = u16::from_le_bytes([bytes[0], bytes[1]]);
    if group != 0x0008 && group != 0x0002 {
        return Err(unreadable(format!(
            "neither a Part 10 file (no DICM) nor a bare data set (first group {group:04X})"
        )));
    }
    let explicit = bytes[4].is_ascii_uppercase() && bytes[5].is_ascii_uppercase();
    let ts_uid = if explicit {
        uids::EXPLICIT_VR_LITTLE_ENDIAN
    } else {
        uids::IMPLICIT_VR_LITTLE_ENDIAN
    };
    let ts = TransferSyntaxRegistry
        .get(ts_uid)
        .ok_or_else(|| unreadable("transfer syntax registry incomplete".into()))?;
    let obj = crate::attrs::parse_dataset(&bytes, ts)
        .map_err(|e| unreadable(format!("a bare data set that does not parse: {e}")))?;
    let (Some(class), Some(instance)) = (
        text(&obj, tags::SOP_CLASS_UID),
        text(&obj, tags::SOP_INSTANCE_UID),
    ) else {
        return Err(unreadable(
            "a bare data set without SOP Class and Instance UIDs".into(),
        ));
    };
    obj.with_meta(
        FileMetaTableBuilder::new()
            .transfer_syntax(ts_uid)
            .media_storage_sop_class_uid(class)
            .media_storage_sop_instance_uid(instance),
    )
    .map_err(|e| unreadable(e.to_string()))
}

impl Deidentifier {
    /// De-identifies one file into `output` (as `SERIES_UID/SOP_UID.dcm`, names that carry no
    /// identity), following the burned-in `policy`. Never panics on bad input.
    pub fn deidentify_file(
        &self,
        input: &Path,
        output: &Path,
        options: &BatchOptions,
    ) -> FileOutcome {
        match self.deidentify_file_inner(input, output, options) {
            Ok(outcome) => outcome,
            Err(e) => FileOutcome::Skipped(e.to_string()),
        }
    }

    fn deidentify_file_inner(
        &self,
        input: &Path,
        output: &Path,
        options: &BatchOptions,
    ) -> Result<FileOutcome> {
        let obj = read_any(input)?;
        let d = self.deidentify(obj).map_err(|e| match e {
            Error::Attribute {
                attribute, message, ..
            } => Error::Attribute {
                path: input.to_path_buf(),
                attribute,
                message,
            },
            other => other,
        })?;
        let reason = match &d.pixels {
            PixelVerdict::Clean => None,
            PixelVerdict::BurnedIn => Some("Burned In Annotation is YES".to_string()),
            PixelVerdict::Suspect(why) => Some(format!("pixels may show identity: {why}")),
        };
        let dir = match (&reason, &options.burned_in) {
            (None, _) | (Some(_), BurnedInPolicy::Allow) => output,
            (Some(r), BurnedInPolicy::Refuse) => {
                return Ok(FileOutcome::Quarantined(None, r.clone()));
            }
            (Some(_), BurnedInPolicy::Quarantine(q)) => q.as_path(),
        };
        // The names of the output come from UIDs of the file: only valid UIDs (digits and dots)
        // name anything, and the final path must stay under its folder.
        // (A missing Series Instance UID gives the folder `unknown`.)
        let uid = |tag, attribute: &'static str, missing: Option<&str>| match (
            text(&d.object, tag).filter(|u| !u.is_empty()),
            missing,
        ) {
            (None, Some(m)) => Ok(m.to_string()),
            (Some(u), _) if crate::uid::is_valid_uid(&u) => Ok(u),
            _ => Err(Error::Attribute {
                path: input.to_path_buf(),
                attribute,
                message: "missing or not a valid UID: it cannot name the output file".into(),
            }),
        };
        let series = uid(
            tags::SERIES_INSTANCE_UID,
            "SeriesInstanceUID",
            Some("unknown"),
        )?;
        let instance = uid(tags::SOP_INSTANCE_UID, "SOPInstanceUID", None)?;
        let series_dir = dir.join(&series);
        let path = series_dir.join(format!("{instance}.dcm"));
        if !stays_under(dir, &path) {
            return Err(Error::Write {
                path: input.to_path_buf(),
                message: "the output name would leave the output folder".into(),
            });
        }
        std::fs::create_dir_all(&series_dir).map_err(|e| Error::Io {
            path: series_dir.clone(),
            source: e,
        })?;
        let mut file = AtomicFile::create(&path)?;
        d.object.write_all(&mut file).map_err(|e| Error::Write {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if !file.commit_new(options.sync)? {
            return Ok(FileOutcome::Skipped(format!(
                "{}: its de-identified instance {} exists already (an instance with the same SOP \
                 Instance UID earlier in this batch, or an earlier run): not replaced",
                input.display(),
                path.display()
            )));
        }
        Ok(match reason {
            Some(r) if !matches!(options.burned_in, BurnedInPolicy::Allow) => {
                FileOutcome::Quarantined(Some(path), r)
            }
            _ => FileOutcome::Done(path),
        })
    }
}

/// Whether `path` is `dir` followed by plain names only (no `..`, no root, no prefix).
fn stays_under(dir: &Path, path: &Path) -> bool {
    path.strip_prefix(dir).is_ok_and(|rest| {
        rest.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
    })
}

/// The files below a directory, depth first, read lazily (one directory listing at a time).
struct Walk {
    stack: Vec<std::fs::ReadDir>,
    errors: Vec<(PathBuf, String)>,
}

impl Iterator for Walk {
    type Item = PathBuf;

    fn next(&mut self) -> Option<PathBuf> {
        loop {
            let dir = self.stack.last_mut()?;
            match dir.next() {
                None => {
                    self.stack.pop();
                }
                Some(Err(e)) => self.errors.push((PathBuf::new(), e.to_string())),
                Some(Ok(entry)) => {
                    let path = entry.path();
                    match entry.file_type() {
                        Ok(t) if t.is_dir() => match std::fs::read_dir(&path) {
                            Ok(rd) => self.stack.push(rd),
                            Err(e) => self.errors.push((path, e.to_string())),
                        },
                        Ok(t) if t.is_file() => return Some(path),
                        _ => {}
                    }
                }
            }
        }
    }
}

/// De-identifies every file below `input` into `output` (see [`Deidentifier::deidentify_file`]),
/// on `options.threads` threads; `progress` is called after each file with its outcome (from
/// the worker threads). `output` must not lie inside `input`.
pub fn deidentify_dir(
    deid: &Deidentifier,
    input: &Path,
    output: &Path,
    options: &BatchOptions,
    progress: &(dyn Fn(&Path, &FileOutcome) + Sync),
) -> Result<BatchSummary> {
    let io = |path: &Path, e: std::io::Error| Error::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let root = std::fs::read_dir(input).map_err(|e| io(input, e))?;
    std::fs::create_dir_all(output).map_err(|e| io(output, e))?;
    let (inp, out) = (
        input.canonicalize().map_err(|e| io(input, e))?,
        output.canonicalize().map_err(|e| io(output, e))?,
    );
    if out.starts_with(&inp) {
        // Leave no trace of the refused output (removed only if it is empty, as just created).
        let _ = std::fs::remove_dir(output);
        return Err(Error::Write {
            path: output.to_path_buf(),
            message: format!("the output lies inside the input {}", input.display()),
        });
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads)
        .build()
        .map_err(|e| Error::Write {
            path: output.to_path_buf(),
            message: format!("cannot start the worker threads: {e}"),
        })?;
    let summary = Mutex::new(BatchSummary::default());
    let walk = Mutex::new(Walk {
        stack: vec![root],
        errors: Vec::new(),
    });
    let next = || walk.lock().ok().and_then(|mut w| w.next());
    pool.install(|| {
        std::iter::from_fn(next).par_bridge().for_each(|file| {
            let outcome = deid.deidentify_file(&file, output, options);
            progress(&file, &outcome);
            if let Ok(mut s) = summary.lock() {
                match outcome {
                    FileOutcome::Done(_) => s.done += 1,
                    FileOutcome::Quarantined(_, why) => s.quarantined.push((file, why)),
                    FileOutcome::Skipped(why) => s.skipped.push((file, why)),
                }
            }
        });
    });
    let mut summary = summary.into_inner().unwrap_or_default();
    if let Ok(w) = walk.into_inner() {
        summary.skipped.extend(w.errors);
    }
    summary.quarantined.sort();
    summary.skipped.sort();
    Ok(summary)
}

/// Identity left in `files`: each `(what, needle)` of `needles` found anywhere in a file's bytes
/// (header, private attributes, pixel data), as `(file, what)`; a file that cannot be read counts
/// as `(file, "unreadable")`. The byte-for-byte check after de-identification that the eye-plaque
/// workflow, the gateway's tests and the command line's tests make.
pub fn find_identity(files: &[PathBuf], needles: &[(&str, String)]) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    for f in files {
        let Ok(bytes) = std::fs::read(f) else {
            found.push((f.clone(), "unreadable".into()));
            continue;
        };
        for (what, needle) in needles {
            let n = needle.as_bytes();
            if !n.is_empty() && bytes.windows(n.len()).any(|w| w == n) {
                found.push((f.clone(), (*what).to_string()));
            }
        }
    }
    found
}
