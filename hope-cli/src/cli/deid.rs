//! `hope deid keygen|run|report`: de-identification of DICOM files to PS3.15 Annex E.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use hope::dicom::deid::table::ProfileOption;
use hope::dicom::deid::{
    BatchOptions, BurnedInPolicy, DeidKey, Deidentifier, MappingKey, MappingRecorder, Recipe,
    deidentify_dir, read_any,
};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum DeidCommand {
    /// Write a new random project key (64 hex digits, readable by the owner only). Everyone who
    /// must produce the same pseudonyms uses the same key; keep it secret.
    Keygen {
        /// The key file to create.
        file: PathBuf,
    },
    /// De-identify every file below INPUT into OUTPUT (as SERIES_UID/SOP_UID.dcm).
    Run {
        /// Directory of DICOM files.
        input: PathBuf,
        /// Output directory (created; must not lie inside INPUT).
        output: PathBuf,
        #[command(flatten)]
        profile: ProfileArgs,
        /// Worker threads (0: one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Write instances whose pixels may show identity here instead of refusing them.
        #[arg(long, value_name = "DIR", conflicts_with = "dangerous_allow_burned_in")]
        quarantine: Option<PathBuf>,
        /// Write instances whose pixels may show identity with the others (Patient Identity
        /// Removed = NO): identity in the pixels then leaves with them.
        #[arg(long)]
        dangerous_allow_burned_in: bool,
        /// Sync every output file to disk before renaming it into place.
        #[arg(long)]
        sync: bool,
        /// Write the mapping of original patient IDs to pseudonyms and date shifts here,
        /// encrypted under --mapping-key (a key file of its own, from `hope deid keygen`).
        #[arg(long, value_name = "FILE", requires = "mapping_key")]
        mapping: Option<PathBuf>,
        /// The key of the mapping file; keep it away from the people who de-identify.
        #[arg(long, value_name = "FILE")]
        mapping_key: Option<PathBuf>,
        /// Write the mapping as plain JSON: anyone who reads it can re-identify every patient.
        #[arg(long, value_name = "FILE", conflicts_with = "mapping")]
        dangerous_plain_mapping: Option<PathBuf>,
        /// Pass on compressed pixel data whose stream is not screened (MPEG-2, MPEG-4, HEVC,
        /// JPEG XL) with whatever metadata it holds, instead of refusing those instances.
        #[arg(long)]
        dangerous_pass_unwalked_pixel_streams: bool,
    },
    /// Dry run on one file: what would be done to each attribute (no values are printed).
    Report {
        /// A DICOM file.
        file: PathBuf,
        #[command(flatten)]
        profile: ProfileArgs,
    },
}

#[derive(Debug, clap::Args)]
pub(crate) struct ProfileArgs {
    /// The project key file (see `hope deid keygen`).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// A recipe (TOML, or JSON by extension): options, per-attribute overrides, safe private
    /// attributes.
    #[arg(long, value_name = "FILE")]
    recipe: Option<PathBuf>,
    /// A profile option, e.g. retain-longitudinal-modified-dates (repeatable).
    #[arg(long = "option", value_name = "NAME")]
    options: Vec<String>,
}

impl ProfileArgs {
    fn deidentifier(&self) -> anyhow::Result<Deidentifier> {
        let text = hope::core::fs::read_text_bounded(&self.key, hope::core::fs::MAX_CONFIG_BYTES)
            .with_context(|| format!("reading the key file {}", self.key.display()))?;
        let key = DeidKey::from_hex(&text).with_context(|| {
            format!(
                "{}: expected 64 hexadecimal digits (see `hope deid keygen`)",
                self.key.display()
            )
        })?;
        let recipe = match &self.recipe {
            Some(p) => Recipe::from_file(p)?,
            None => Recipe::default(),
        };
        let mut extra = Vec::new();
        for o in &self.options {
            extra.push(ProfileOption::from_name(o).with_context(|| {
                format!(
                    "--option {o}: expected one of {}",
                    ProfileOption::ALL.map(|o| o.name()).join(", ")
                )
            })?);
        }
        Ok(recipe.deidentifier(key, &extra))
    }
}

pub(crate) fn keygen(file: &Path) -> anyhow::Result<()> {
    if file.exists() {
        bail!(
            "{} exists: a project key is never overwritten",
            file.display()
        );
    }
    let key = DeidKey::generate().context("no random numbers from the operating system")?;
    // The temporary file behind the atomic write is created readable by the owner only.
    hope::core::fs::write_atomic(file, format!("{}\n", key.dangerous_to_hex()).as_bytes())?;
    println!("key {} written to {}", key.id_hex(), file.display());
    Ok(())
}

pub(crate) fn run(cmd: DeidCommand) -> anyhow::Result<()> {
    match cmd {
        DeidCommand::Keygen { file } => keygen(&file),
        DeidCommand::Run {
            input,
            output,
            profile,
            threads,
            quarantine,
            dangerous_allow_burned_in,
            sync,
            mapping,
            mapping_key,
            dangerous_plain_mapping,
            dangerous_pass_unwalked_pixel_streams,
        } => {
            let mut deid = profile.deidentifier()?;
            if dangerous_pass_unwalked_pixel_streams {
                deid = deid.dangerous_pass_unwalked_pixel_streams();
            }
            // The mapping key is read before any work, so that a bad key file costs nothing.
            let map_key = match &mapping_key {
                Some(p) => Some(
                    MappingKey::from_hex(
                        &hope::core::fs::read_text_bounded(p, hope::core::fs::MAX_CONFIG_BYTES)
                            .with_context(|| format!("reading the mapping key {}", p.display()))?,
                    )
                    .with_context(|| format!("{}: expected 64 hexadecimal digits", p.display()))?,
                ),
                None => None,
            };
            let recorder = MappingRecorder::new();
            if mapping.is_some() || dangerous_plain_mapping.is_some() {
                deid = deid.with_mapping(recorder.clone());
            }
            let policy = match (quarantine, dangerous_allow_burned_in) {
                (Some(q), _) => BurnedInPolicy::Quarantine(q),
                (None, true) => BurnedInPolicy::Allow,
                (None, false) => BurnedInPolicy::Refuse,
            };
            let options = BatchOptions::new()
                .threads(threads)
                .burned_in(policy)
                .sync(sync);
            let bar = indicatif::ProgressBar::new_spinner();
            if let Ok(style) =
                indicatif::ProgressStyle::with_template("{spinner} {pos} files {per_sec} {msg}")
            {
                bar.set_style(style);
            }
            let start = std::time::Instant::now();
            let summary = deidentify_dir(&deid, &input, &output, &options, &|_, _| bar.inc(1))?;
            bar.finish_and_clear();
            let secs = start.elapsed().as_secs_f64();
            let total = summary.done + summary.quarantined.len() + summary.skipped.len();
            println!(
                "{total} files in {secs:.1} s ({:.0} files/s): {} de-identified, {} quarantined, {} skipped",
                total as f64 / secs.max(1e-9),
                summary.done,
                summary.quarantined.len(),
                summary.skipped.len()
            );
            if let (Some(path), Some(key)) = (&mapping, &map_key) {
                recorder.write_encrypted(path, key)?;
                println!(
                    "mapping of {} patients written encrypted to {}",
                    recorder.snapshot().len(),
                    path.display()
                );
            }
            if let Some(path) = &dangerous_plain_mapping {
                recorder.dangerous_write_plain(path)?;
                println!(
                    "mapping of {} patients written IN CLEAR to {}",
                    recorder.snapshot().len(),
                    path.display()
                );
            }
            for (p, why) in &summary.quarantined {
                println!("quarantined: {}: {why}", p.display());
            }
            // The reason names the file already.
            for (_, why) in &summary.skipped {
                println!("skipped: {why}");
            }
            Ok(())
        }
        DeidCommand::Report { file, profile } => {
            let deid = profile.deidentifier()?;
            let obj = read_any(&file)?;
            let verdict = hope::dicom::deid::pixel_verdict(&obj);
            // A closed pipe (`| head`) ends the listing quietly.
            let mut out = std::io::stdout().lock();
            for line in deid.dry_run(&obj) {
                let path: Vec<String> = line.path.iter().map(|t| t.to_string()).collect();
                if writeln!(out, "{} {:?}", path.join(" > "), line.decision).is_err() {
                    return Ok(());
                }
            }
            let _ = writeln!(out, "pixels: {verdict:?}");
            Ok(())
        }
    }
}
