//! Walking input files and mapping them to outputs.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// One file to process: where it is, where its result goes, and its path relative to the input
/// root with `/` separators (the object id of an encrypted file).
pub(crate) struct Job {
    pub(crate) input: PathBuf,
    pub(crate) output: PathBuf,
    pub(crate) relative: String,
}

/// The files under `input` (or `input` itself), sorted, with outputs under `output`; links to
/// directories are not followed.
/// `map_name` turns an input file name into an output file name (`None`: skip the file).
pub(crate) fn jobs(
    input: &Path,
    output: &Path,
    map_name: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Vec<Job>> {
    let meta =
        std::fs::metadata(input).with_context(|| format!("cannot read {}", input.display()))?;
    if meta.is_file() {
        let name = input
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Ok(vec![Job {
            input: input.to_path_buf(),
            output: output.to_path_buf(),
            relative: name,
        }]);
    }
    let mut out = Vec::new();
    let mut stack = vec![input.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?
        {
            let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
            let path = entry.path();
            // Directories are entered, links to directories are not: two links to `.` would
            // otherwise give 2^40 paths (the walk follows no link to a directory, as `deid run`).
            let kind = entry
                .file_type()
                .with_context(|| format!("cannot read {}", path.display()))?;
            if kind.is_dir() {
                stack.push(path);
                continue;
            }
            if kind.is_symlink() && path.is_dir() {
                continue;
            }
            let rel = path.strip_prefix(input).unwrap_or(&path);
            let Some(file_name) = rel.file_name().map(|n| n.to_string_lossy().into_owned()) else {
                continue;
            };
            let Some(mapped) = map_name(&file_name) else {
                continue;
            };
            let relative = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            out.push(Job {
                output: output.join(rel).with_file_name(mapped),
                input: path,
                relative,
            });
        }
    }
    out.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(out)
}

/// A progress bar over bytes on standard error (hidden when standard error is not a terminal).
pub(crate) fn progress(total: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

/// A bar counting `total` items (`unit`: "files", "instances"), or a spinner counting them when
/// the total is not known in advance (with no `unit`: a spinner with the time elapsed). Drawn on
/// stderr only when it is a terminal, so scripts and tests see the same output as before.
pub(crate) fn counter(total: Option<u64>, what: &str, unit: &str) -> indicatif::ProgressBar {
    let (bar, template) = match total {
        Some(n) => (
            indicatif::ProgressBar::new(n),
            format!("{{msg}} [{{bar:40}}] {{pos}}/{{len}} {unit} {{per_sec}} eta {{eta}}"),
        ),
        None if unit.is_empty() => (
            indicatif::ProgressBar::new_spinner(),
            "{spinner} {msg} {elapsed}".to_string(),
        ),
        None => (
            indicatif::ProgressBar::new_spinner(),
            format!("{{spinner}} {{msg}} {{pos}} {unit} {{per_sec}} {{elapsed}}"),
        ),
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    if total.is_none() {
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
    }
    bar
}
