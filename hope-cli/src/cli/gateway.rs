//! `hope gateway ...` (the hospital gateway and its client) and `hope pacs ...` (PACS access).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_dictionary_std::{StandardDataDictionary, tags};
use hope::dicom::net::{DicomWeb, Pacs, Query, QueryLevel, Retrieval, StorageScp};
use hope::gateway::{Gateway, GatewayClient, GatewayClientSettings, GatewaySettings};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum GatewayCommand {
    /// Run the gateway (mutual TLS; see `hope::gateway` for the configuration file).
    Serve {
        /// Gateway configuration file (TOML).
        #[arg(long)]
        config: PathBuf,
        /// Re-read the PACS into the index before serving.
        #[arg(long)]
        refresh: bool,
    },
    /// Re-read the PACS into the gateway's index, here, without serving.
    Index {
        /// Gateway configuration file (TOML).
        #[arg(long)]
        config: PathBuf,
        /// On failure, print the cause as the PACS gave it: it may carry original identifiers
        /// (UIDs, names) that must not reach logs. Without it, only that the refresh failed.
        #[arg(long)]
        dangerous_show_cause: bool,
    },
    /// The series a gateway exposes (pseudonymous), as a job sees them.
    List {
        /// Gateway client configuration (TOML: address, ca, cert, key).
        #[arg(long)]
        client: PathBuf,
        /// Print JSON rows instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Ask a running gateway to re-read its PACS (its administrators only).
    Refresh {
        /// Gateway client configuration (TOML).
        #[arg(long)]
        client: PathBuf,
    },
    /// Fetch a series (or with --study a study) by its pseudonymous UID: encrypted de-identified
    /// instances (`*.dcm.hope`; `hope decrypt` reads them).
    Fetch {
        /// Gateway client configuration (TOML).
        #[arg(long)]
        client: PathBuf,
        /// The UID is a study's.
        #[arg(long)]
        study: bool,
        /// Pseudonymous Series (or Study) Instance UID.
        uid: String,
        /// Output folder.
        output: PathBuf,
    },
}

pub(crate) fn gateway(cmd: GatewayCommand) -> anyhow::Result<()> {
    match cmd {
        GatewayCommand::Serve { config, refresh } => {
            let settings = GatewaySettings::from_file(&config)?;
            let listen = settings.listen.clone();
            let gw = Gateway::bind(settings)?;
            if refresh {
                // The cause may carry the PACS's words and original identifiers: it goes to the
                // audit log only, never to stderr (a service's journal).
                let n = gw.refresh().map_err(|_| {
                    anyhow::anyhow!(
                        "refreshing the index failed; the cause is in the gateway's audit log"
                    )
                })?;
                eprintln!("hope gateway: {n} series exposed");
            }
            eprintln!(
                "hope gateway: listening on {} (configured {listen})",
                gw.local_addr()?
            );
            gw.serve()?;
        }
        GatewayCommand::Index {
            config,
            dangerous_show_cause,
        } => {
            let settings = GatewaySettings::from_file(&config)?;
            let index = hope::gateway::Index::open(&settings.index)?;
            let done = index
                .refresh(&settings.source, &settings.expose, &settings.deidentifier)
                .map_err(|e| {
                    if dangerous_show_cause {
                        anyhow::Error::new(e).context("refreshing the index")
                    } else {
                        anyhow::anyhow!(
                            "refreshing the index failed (the cause may name patients: \
                             --dangerous-show-cause prints it)"
                        )
                    }
                })?;
            println!("{} series exposed", done.exposed);
            if !done.skipped.is_empty() {
                // The original UIDs are for the operator's eyes only with the dangerous option.
                eprintln!(
                    "{} studies or series of the PACS were left out{}",
                    done.skipped.len(),
                    if dangerous_show_cause {
                        ":"
                    } else {
                        " (--dangerous-show-cause says which)"
                    }
                );
                if dangerous_show_cause {
                    for s in &done.skipped {
                        eprintln!("  {}: {}", s.original, s.reason);
                    }
                }
            }
        }
        GatewayCommand::List { client, json } => {
            let rows = client_of(&client)?.series()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!(
                    "SeriesInstanceUID\tStudyInstanceUID\tPatientID\tStudyDate\tModality\tInstances"
                );
                for r in &rows {
                    println!(
                        "{}\t{}\t{}\t{}\t{}\t{}",
                        r.series_instance_uid,
                        r.study_instance_uid,
                        r.patient_id,
                        r.study_date.as_deref().unwrap_or(""),
                        r.modality.as_deref().unwrap_or(""),
                        r.number_of_series_related_instances
                            .map(|n| n.to_string())
                            .unwrap_or_default()
                    );
                }
            }
        }
        GatewayCommand::Refresh { client } => {
            println!("{} series exposed", client_of(&client)?.refresh()?);
        }
        GatewayCommand::Fetch {
            client,
            study,
            uid,
            output,
        } => {
            let c = client_of(&client)?;
            let bar = super::files::counter(None, "receiving", "instances");
            let d = c.fetch_each(&uid, study, &output, &mut |_, _| bar.inc(1));
            bar.finish_and_clear();
            let d = d?;
            println!(
                "{} encrypted instance(s) in {} ({} bytes), {} withheld by the gateway; keys {}",
                d.files.len(),
                output.display(),
                d.bytes,
                d.withheld,
                if d.keys.is_empty() {
                    "per instance".to_string()
                } else {
                    d.keys.join(", ")
                }
            );
        }
    }
    Ok(())
}

pub(crate) fn client_of(path: &Path) -> anyhow::Result<GatewayClient> {
    Ok(GatewayClient::new(&GatewayClientSettings::from_file(
        path,
    )?)?)
}

/// Where the PACS is and who is calling.
#[derive(Debug, clap::Args)]
pub(crate) struct PacsTarget {
    /// DIMSE peer, host:port (or use --dicomweb).
    #[arg(
        long,
        conflicts_with = "dicomweb",
        required_unless_present = "dicomweb"
    )]
    address: Option<String>,
    /// The PACS's AE title.
    #[arg(long, default_value = "ANY-SCP")]
    aet: String,
    /// This side's AE title.
    #[arg(long, default_value = "HOPE")]
    calling_aet: String,
    /// DICOMweb base URL (https://…/dicom-web) instead of DIMSE.
    #[arg(long)]
    dicomweb: Option<String>,
    /// CA certificate (PEM) that issued the DICOMweb server's certificate.
    #[arg(long, requires = "dicomweb")]
    ca: Option<PathBuf>,
    /// Seconds to wait for any answer.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

enum Peer {
    Dimse(Pacs),
    Web(DicomWeb),
}

impl PacsTarget {
    fn peer(&self) -> anyhow::Result<Peer> {
        let t = Duration::from_secs(self.timeout);
        if let Some(url) = &self.dicomweb {
            let mut w = DicomWeb::new(url)?.timeout(t);
            if let Some(ca) = &self.ca {
                w = w.trust_ca_pem(ca)?;
            }
            return Ok(Peer::Web(w));
        }
        let address = self.address.clone().context("--address or --dicomweb")?;
        Ok(Peer::Dimse(
            Pacs::new(address, self.aet.clone())
                .calling_ae(self.calling_aet.clone())
                .timeout(t),
        ))
    }
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum PacsCommand {
    /// C-ECHO: does the PACS answer and accept this side?
    Echo {
        #[command(flatten)]
        target: PacsTarget,
    },
    /// C-FIND (or QIDO-RS): matches at a level, keys as KEYWORD=VALUE (wildcards, ranges).
    Find {
        #[command(flatten)]
        target: PacsTarget,
        /// patient, study, series or image.
        #[arg(long, default_value = "study")]
        level: String,
        /// Matching keys, e.g. PatientID=EYE-* StudyDate=20240101-.
        keys: Vec<String>,
    },
    /// Retrieve a study or series into a folder (C-GET, C-MOVE with --move-to, or WADO-RS),
    /// resuming an interrupted retrieval per instance.
    Get {
        #[command(flatten)]
        target: PacsTarget,
        /// Study Instance UID.
        study: String,
        /// Series Instance UID (the whole study when absent).
        #[arg(long)]
        series: Option<String>,
        /// C-MOVE to a storage SCP started here: AE_TITLE@host:port (the PACS must know it).
        #[arg(long, value_name = "AE@HOST:PORT")]
        move_to: Option<String>,
        /// Output folder.
        output: PathBuf,
    },
    /// C-STORE (or STOW-RS) every file of a folder or the files given.
    Store {
        #[command(flatten)]
        target: PacsTarget,
        /// Files or folders.
        inputs: Vec<PathBuf>,
    },
}

fn level(s: &str) -> anyhow::Result<QueryLevel> {
    Ok(match s {
        "patient" => QueryLevel::Patient,
        "study" => QueryLevel::Study,
        "series" => QueryLevel::Series,
        "image" | "instance" => QueryLevel::Image,
        other => bail!("--level {other}: expected patient, study, series or image"),
    })
}

pub(crate) fn pacs(cmd: PacsCommand) -> anyhow::Result<()> {
    match cmd {
        PacsCommand::Echo { target } => match target.peer()? {
            Peer::Dimse(p) => {
                p.echo()?;
                println!("C-ECHO {} ({}): success", p.address(), p.called_ae());
            }
            Peer::Web(w) => {
                w.search(&Query::studies().with(tags::STUDY_INSTANCE_UID, "1"))?;
                println!("QIDO-RS {}: answered", w.base_url());
            }
        },
        PacsCommand::Find {
            target,
            level: l,
            keys,
        } => {
            let mut q = Query::new(level(&l)?);
            for kv in &keys {
                let (k, v) = kv
                    .split_once('=')
                    .with_context(|| format!("`{kv}`: expected KEYWORD=VALUE"))?;
                let tag = StandardDataDictionary
                    .by_name(k)
                    .map(|e| e.tag())
                    .with_context(|| format!("`{k}` is not a DICOM keyword"))?;
                q = q.with(tag, v);
            }
            let matches = match target.peer()? {
                Peer::Dimse(p) => p.find(&q)?,
                Peer::Web(w) => w.search(&q)?,
            };
            for m in &matches {
                let cols: Vec<String> = m
                    .iter()
                    .map(|(t, v)| {
                        let name = StandardDataDictionary
                            .by_tag(t)
                            .map(|e| e.alias().to_string())
                            .unwrap_or_else(|| format!("{t}"));
                        format!("{name}={v}")
                    })
                    .collect();
                println!("{}", cols.join("\t"));
            }
            eprintln!("{} match(es)", matches.len());
        }
        PacsCommand::Get {
            target,
            study,
            series,
            move_to,
            output,
        } => {
            let bar = super::files::counter(None, "receiving", "instances");
            let landed = |_: &Path| {
                bar.inc(1);
                true
            };
            let got = match (target.peer()?, move_to) {
                (Peer::Dimse(p), None) => {
                    p.retrieve(&study, series.as_deref(), &output, Retrieval::Get, landed)?
                }
                (Peer::Dimse(p), Some(dest)) => {
                    let (ae, addr) = dest
                        .split_once('@')
                        .context("--move-to: expected AE_TITLE@host:port")?;
                    let scp = StorageScp::bind(addr, ae, &output)?.spawn()?;
                    p.retrieve(
                        &study,
                        series.as_deref(),
                        &output,
                        Retrieval::Move(&scp),
                        landed,
                    )?
                }
                (Peer::Web(w), None) => w.retrieve(&study, series.as_deref(), &output, landed)?,
                (Peer::Web(_), Some(_)) => bail!("--move-to is a DIMSE retrieval"),
            };
            bar.finish_and_clear();
            println!(
                "{} instance(s) in {}: {} received ({} bytes), {} already there",
                got.files.len(),
                output.display(),
                got.received,
                got.bytes,
                got.already_present
            );
        }
        PacsCommand::Store { target, inputs } => {
            let mut files = Vec::new();
            for i in &inputs {
                if i.is_dir() {
                    files.extend(
                        super::files::jobs(i, i, |n| Some(n.to_string()))?
                            .into_iter()
                            .map(|j| j.input),
                    );
                } else {
                    files.push(i.clone());
                }
            }
            // DIMSE stores file by file (a bar); STOW-RS sends one request (a spinner).
            let summary = match target.peer()? {
                Peer::Dimse(p) => {
                    let bar = super::files::counter(Some(files.len() as u64), "storing", "files");
                    let s = p.store_each(&files, |_| bar.inc(1));
                    bar.finish_and_clear();
                    s?
                }
                Peer::Web(w) => {
                    let bar = super::files::counter(None, "storing (STOW-RS)", "requests");
                    let s = w.store(&files);
                    bar.finish_and_clear();
                    s?
                }
            };
            for (f, e) in &summary.failed {
                eprintln!("failed: {}: {e}", f.display());
            }
            println!(
                "stored {} file(s) ({} bytes), {} failed",
                summary.stored.len(),
                summary.bytes,
                summary.failed.len()
            );
            if !summary.failed.is_empty() {
                bail!("{} file(s) were not stored", summary.failed.len());
            }
        }
    }
    Ok(())
}
