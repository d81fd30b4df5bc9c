//! `hope series info|to-mhd`: inspect image series and convert them to MetaImage.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use hope::core::metaimage;
use hope::dicom::series::{SeriesInfo, load_ct_volume, scan_dir};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum SeriesCommand {
    /// List the series of a directory with their geometry, and the problems found.
    Info {
        /// Directory of DICOM files.
        dir: PathBuf,
    },
    /// Assemble a CT series into a MetaImage volume of Hounsfield units (MET_SHORT).
    ToMhd {
        /// Directory of DICOM files.
        dir: PathBuf,
        /// Output header (.mhd with .raw beside it, or .mha).
        output: PathBuf,
        /// The series to convert, when the directory holds several.
        #[arg(long)]
        series: Option<String>,
    },
}

fn pick<'a>(
    series: &'a [SeriesInfo],
    uid: Option<&str>,
    dir: &Path,
) -> anyhow::Result<&'a SeriesInfo> {
    match (uid, series) {
        (Some(u), _) => series
            .iter()
            .find(|s| s.series_uid == u)
            .with_context(|| format!("no series {u} in {}", dir.display())),
        (None, [one]) => Ok(one),
        (None, []) => bail!("no image series in {}", dir.display()),
        (None, many) => bail!(
            "{} series in {}: choose one with --series (see `hope series info`)",
            many.len(),
            dir.display()
        ),
    }
}

pub(crate) fn run(cmd: SeriesCommand) -> anyhow::Result<()> {
    match cmd {
        SeriesCommand::Info { dir } => {
            let report = scan_dir(&dir)?;
            for s in &report.series {
                println!(
                    "series {} ({}, {} files, frame of reference {})",
                    s.series_uid,
                    s.modality,
                    s.files.len(),
                    s.frame_of_reference_uid
                );
                match load_ct_volume(&s.files) {
                    Ok(v) => {
                        let g = v.grid();
                        let d = g.direction();
                        println!(
                            "  dims {:?}, spacing {} mm, origin {} mm",
                            g.dims(),
                            g.spacing(),
                            g.origin()
                        );
                        println!("  rows {} columns {} normal {}", d[0], d[1], d[2]);
                        let (lo, hi) = v
                            .data()
                            .iter()
                            .fold((i16::MAX, i16::MIN), |(a, b), &x| (a.min(x), b.max(x)));
                        println!("  HU range {lo} .. {hi}");
                    }
                    Err(e) => println!("  cannot be assembled: {e}"),
                }
            }
            for (path, note) in &report.notes {
                println!("note: {}: {note}", path.display());
            }
            Ok(())
        }
        SeriesCommand::ToMhd {
            dir,
            output,
            series,
        } => {
            let report = scan_dir(&dir)?;
            let s = pick(&report.series, series.as_deref(), &dir)?;
            let volume = load_ct_volume(&s.files)?;
            metaimage::write(&output, &volume)?;
            println!(
                "{} slices of series {} -> {}",
                s.files.len(),
                s.series_uid,
                output.display()
            );
            Ok(())
        }
    }
}
