//! `hope series info|to-mhd`: inspect image series and convert them to MetaImage (CT in HU, PET and
//! SPECT in Bq/mL or SUVbw).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use hope::core::metaimage;
use hope::dicom::series::{
    ActivityOptions, LoadOptions, Loaded, SeriesInfo, Tilt, load_activity_volume_with,
    load_ct_volume_with, scan_dir,
};
use hope::dicom::suv::SuvBw;

/// What the voxels of `to-mhd`'s output hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Values {
    /// Hounsfield units (MET_SHORT): CT.
    Hu,
    /// Activity concentration in Bq/mL (MET_FLOAT): PET, SPECT.
    Activity,
    /// Body-weight SUV (MET_FLOAT): PET in BQML with the radiopharmaceutical attributes.
    Suv,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum SeriesCommand {
    /// List the series of a directory with their geometry, and the problems found.
    Info {
        /// Directory of DICOM files.
        dir: PathBuf,
    },
    /// Assemble a series into a MetaImage volume: CT in Hounsfield units (MET_SHORT), PT and NM in
    /// Bq/mL (MET_FLOAT), or SUVbw with `--values suv`.
    ToMhd {
        /// Directory of DICOM files.
        dir: PathBuf,
        /// Output header (.mhd with .raw beside it, or .mha).
        output: PathBuf,
        /// The series to convert, when the directory holds several.
        #[arg(long)]
        series: Option<String>,
        /// What to write; by default HU for CT and other modalities, activity for PT and NM.
        #[arg(long, value_enum)]
        values: Option<Values>,
        /// Bq/mL per count, for PET/SPECT images stored in counts.
        #[arg(long, value_name = "BQML_PER_COUNT")]
        calibration: Option<f64>,
        /// Go on without DICOM files that cannot be read (damaged, truncated); they are listed.
        /// Without it they stop the conversion: a missing slice changes the volume.
        #[arg(long)]
        skip_unreadable: bool,
        /// Refuse a gantry-tilted CT series instead of resampling it onto an orthogonal grid.
        #[arg(long)]
        refuse_tilt: bool,
    },
    /// Show an RT Structure Set (ROIs, contours, colours, frame of reference) or a
    /// brachytherapy RT Plan (sources, seeds); with `--ct`, each ROI's volume on that CT's grid
    /// (partial-volume masks).
    Rt {
        /// The RT Structure Set or RT Plan file.
        file: PathBuf,
        /// A directory holding the CT series the structure set refers to.
        #[arg(long)]
        ct: Option<PathBuf>,
        /// Write each ROI's mask (fraction of each voxel inside) as NAME.mha into this directory
        /// (with `--ct`).
        #[arg(long, requires = "ct")]
        masks: Option<PathBuf>,
    },
}

/// Text from a file, safe to print: control characters (a terminal's escape sequences) as `?`.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn show_rt(file: &Path, ct: Option<&Path>, masks: Option<&Path>) -> anyhow::Result<()> {
    use hope::dicom::{rtplan, rtstruct};
    let obj = hope::dicom::deid::read_any(file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let modality = obj
        .element(dicom_dictionary_std::tags::MODALITY)
        .ok()
        .and_then(|e| e.to_str().ok())
        .map(|m| m.trim().to_string())
        .unwrap_or_default();
    drop(obj);
    match modality.as_str() {
        "RTSTRUCT" => {
            let set = rtstruct::read_rt_struct(file)?;
            println!(
                "RT Structure Set `{}`, frame of reference {}, {} ROIs",
                printable(&set.label),
                printable(&set.frame_of_reference_uid),
                set.rois.len()
            );
            let grid = match ct {
                Some(dir) => {
                    let report = scan_dir(dir)?;
                    let series = pick(&report.series, None, dir)?;
                    if series.frame_of_reference_uid != set.frame_of_reference_uid {
                        bail!(
                            "the CT series in {} is in frame of reference {}, the structure set in {}",
                            dir.display(),
                            series.frame_of_reference_uid,
                            set.frame_of_reference_uid
                        );
                    }
                    Some(
                        hope::dicom::series::load_ct_volume(&series.files)?
                            .grid()
                            .clone(),
                    )
                }
                None => None,
            };
            if let Some(dir) = masks {
                std::fs::create_dir_all(dir).with_context(|| {
                    format!("--masks {}: cannot create the folder", dir.display())
                })?;
            }
            for roi in &set.rois {
                let points: usize = roi.contours.iter().map(|c| c.points.len()).sum();
                let mut line = format!(
                    "  ROI {} `{}`{}{}: {} contours, {points} points",
                    roi.number,
                    printable(&roi.name),
                    roi.interpreted_type
                        .as_ref()
                        .map_or(String::new(), |t| format!(" ({})", printable(t))),
                    roi.colour
                        .map_or(String::new(), |c| format!(" colour {c:?}")),
                    roi.contours.len()
                );
                if let Some(g) = &grid {
                    match roi.mask(g, 4) {
                        Ok(m) => {
                            let cc = m.data().iter().map(|f| f64::from(*f)).sum::<f64>()
                                * g.voxel_volume_mm3()
                                / 1000.0;
                            line.push_str(&format!(", {cc:.3} cm3 on the CT grid"));
                            if let Some(dir) = masks {
                                let safe: String = roi
                                    .name
                                    .chars()
                                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                                    .take(64)
                                    .collect();
                                let path = dir.join(format!("{}_{safe}.mha", roi.number));
                                hope::core::metaimage::write(&path, &m)
                                    .with_context(|| format!("cannot write {}", path.display()))?;
                            }
                        }
                        Err(e) => line.push_str(&format!(", no mask: {e}")),
                    }
                }
                println!("{line}");
            }
            Ok(())
        }
        "RTPLAN" => {
            if ct.is_some() || masks.is_some() {
                bail!(
                    "--ct and --masks apply to an RT Structure Set; {} is an RT Plan",
                    file.display()
                );
            }
            let plan = rtplan::read_rt_plan(file)?;
            println!(
                "RT Plan `{}` ({} {}), {} sources, {} seeds{}",
                printable(&plan.label),
                printable(&plan.technique),
                printable(&plan.treatment_type),
                plan.sources.len(),
                plan.seeds.len(),
                plan.referenced_structure_set
                    .as_ref()
                    .map_or(String::new(), |u| format!(
                        ", structure set {}",
                        printable(u)
                    ))
            );
            for s in &plan.sources {
                println!(
                    "  source {}: {} {} ({}), {:.4e} U, half-life {:.2} d",
                    s.number,
                    printable(&s.manufacturer),
                    printable(&s.model),
                    printable(&s.isotope),
                    s.air_kerma_strength_u,
                    s.half_life_days
                );
            }
            for (i, s) in plan.seeds.iter().enumerate() {
                println!(
                    "  seed {}: source {}, at ({:.2}, {:.2}, {:.2}) mm{}",
                    i + 1,
                    plan.sources.get(s.source).map_or(0, |x| x.number),
                    s.position.x,
                    s.position.y,
                    s.position.z,
                    s.axis.map_or(String::new(), |a| format!(
                        ", axis ({:.3}, {:.3}, {:.3})",
                        a.x, a.y, a.z
                    ))
                );
            }
            Ok(())
        }
        other => bail!(
            "{}: modality `{}`; expected RTSTRUCT or RTPLAN",
            file.display(),
            printable(other)
        ),
    }
}

/// A line saying how a tilted series was resampled.
fn tilt_note(t: &hope::dicom::TiltCorrection) -> String {
    format!(
        "gantry tilt {:.2} degrees{}: resampled onto an orthogonal grid (bilinear; slices moved \
         up to {:.2} mm in their planes; --refuse-tilt refuses such a series)",
        t.angle_deg,
        t.gantry_tilt_attribute_deg
            .map_or(String::new(), |a| format!(" (Gantry/Detector Tilt {a})")),
        t.max_offset_mm
    )
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
        SeriesCommand::Rt { file, ct, masks } => show_rt(&file, ct.as_deref(), masks.as_deref()),
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
                match load_ct_volume_with(&s.files, &LoadOptions::new()) {
                    Ok(Loaded { volume: v, tilt }) => {
                        if let Some(t) = &tilt {
                            println!("  {}", tilt_note(t));
                        }
                        let g = v.grid();
                        let d = g.direction();
                        println!(
                            "  dims {:?}, spacing {} mm, origin {} mm",
                            g.dims(),
                            g.spacing(),
                            g.origin()
                        );
                        println!("  rows {} columns {} normal {}", d[0], d[1], d[2]);
                        if matches!(s.modality.as_str(), "PT" | "NM") {
                            match load_activity_volume_with(&s.files, &ActivityOptions::new()) {
                                Ok(a) => {
                                    let (lo, hi) =
                                        a.data().iter().fold(
                                            (f32::INFINITY, f32::NEG_INFINITY),
                                            |(a, b), &x| (a.min(x), b.max(x)),
                                        );
                                    println!("  activity range {lo} .. {hi} Bq/mL");
                                }
                                Err(e) => println!("  not in Bq/mL: {e}"),
                            }
                        } else {
                            let (lo, hi) = v
                                .data()
                                .iter()
                                .fold((i16::MAX, i16::MIN), |(a, b), &x| (a.min(x), b.max(x)));
                            println!("  HU range {lo} .. {hi}");
                        }
                    }
                    Err(e) => println!("  cannot be assembled: {e}"),
                }
            }
            for (path, note) in &report.notes {
                println!("note: {}: {note}", path.display());
            }
            for (path, why) in &report.unreadable {
                println!("unreadable: {}: {why}", path.display());
            }
            Ok(())
        }
        SeriesCommand::ToMhd {
            dir,
            output,
            series,
            values,
            calibration,
            skip_unreadable,
            refuse_tilt,
        } => {
            let bar = super::files::counter(None, "reading the folder", "");
            let report = scan_dir(&dir);
            bar.finish_and_clear();
            let report = report?;
            if !report.unreadable.is_empty() {
                for (path, why) in &report.unreadable {
                    eprintln!("unreadable: {}: {why}", path.display());
                }
                if !skip_unreadable {
                    bail!(
                        "{} DICOM file(s) in {} cannot be read (listed above): they may be slices \
                         of the series; use --skip-unreadable to convert without them",
                        report.unreadable.len(),
                        dir.display()
                    );
                }
            }
            let s = pick(&report.series, series.as_deref(), &dir)?;
            let values = values.unwrap_or(match s.modality.as_str() {
                "PT" | "NM" => Values::Activity,
                _ => Values::Hu,
            });
            let mut options = ActivityOptions::new();
            if let Some(c) = calibration {
                options = options.calibration_bq_per_ml(c);
            }
            let bar = super::files::counter(None, &format!("reading {} slices", s.files.len()), "");
            let what = (|| -> anyhow::Result<String> {
                Ok(match values {
                    Values::Hu => {
                        let tilt = if refuse_tilt {
                            Tilt::Refuse
                        } else {
                            Tilt::Resample
                        };
                        let loaded = load_ct_volume_with(&s.files, &LoadOptions::new().tilt(tilt))?;
                        metaimage::write(&output, &loaded.volume)?;
                        match &loaded.tilt {
                            Some(t) => format!("HU; {}", tilt_note(t)),
                            None => "HU".to_string(),
                        }
                    }
                    Values::Activity => {
                        metaimage::write(&output, &load_activity_volume_with(&s.files, &options)?)?;
                        "Bq/mL".to_string()
                    }
                    Values::Suv => {
                        let suv = SuvBw::from_files(&s.files)?;
                        let activity = load_activity_volume_with(&s.files, &options)?;
                        metaimage::write(&output, &suv.to_suv(&activity))?;
                        format!(
                            "SUVbw ({:.6e} g/Bq: {:.4e} Bq {:.0} s after injection)",
                            suv.factor(),
                            suv.activity_at_reference_bq(),
                            suv.decay_time_s
                        )
                    }
                })
            })();
            bar.finish_and_clear();
            let what = what?;
            println!(
                "{} files of series {} -> {} in {what}{}",
                s.files.len(),
                s.series_uid,
                output.display(),
                if report.unreadable.is_empty() {
                    String::new()
                } else {
                    format!("; {} unreadable file(s) skipped", report.unreadable.len())
                }
            );
            Ok(())
        }
    }
}
