//! The flagship workflow: eye-plaque brachytherapy dosimetry from a CT to dose images, through
//! every HOPE-rs crate, on embedded defaults (no server to set up).
//!
//! 1. A synthetic head CT with an eye (globe, lens, sclera, a posterior choroidal tumour, optic
//!    nerve, orbit bone) is written as a DICOM CT series carrying a fake identity (or a user's
//!    CT directory is read).
//! 2. It is de-identified to PS3.15 Annex E (hope-dicom) and checked byte by byte: no trace of
//!    the name, the patient ID, the study date or the original UIDs is left.
//! 3. The de-identified files are encrypted (AES-256-GCM, hope-crypto), each key split 2-of-3
//!    over three key servers started in-process on loopback with generated certificates (real
//!    mutual TLS), readable by the `physics` group.
//! 4. Study, series and the dosimetry job are registered in the SQLite catalog (hope-catalog) and
//!    queried back.
//! 5. The compute side decrypts with one key server down (2 of 3 suffice), checks that one
//!    server alone cannot give a key, reads the RT Structure Set that comes with the CT (the
//!    synthetic head's, or a planning system's), finds the eye's centre and the tumour from its
//!    globe and tumour ROIs, converts HU to materials and places a COMS plaque (by default the
//!    16 mm: Modulay backing and lip, Silastic insert, 13 I-125 model 6711 seeds, all in analytic
//!    geometry) on the sclera over the tumour (hope-mc).
//! 6. The Monte Carlo is planned and run on the local executor (hope-grid), or on Slurm.
//! 7. The partial results are merged; the plan is written as an RT Structure Set (the ROIs,
//!    referring to the CT), an RT Plan (the seeds, referring to the structure set) and an RT Dose
//!    (referring to the plan), with MetaImage volumes, PNG dose planes through the plaque axis,
//!    DVHs of every ROI (D98, D95, D50, D2, Dmean, V of the prescription) and an HTML report
//!    comparing the central axis with a water-only (TG-43-like) calculation.
//! 8. The results are registered in the catalog.
//!
//! The seeds' strength is not an input: the run scores dose per unit air-kerma strength, and the
//! strength is chosen so that the tumour's apex receives the prescription (85 Gy over 168 h with
//! decay, after the COMS protocol), as a physicist does when ordering seeds.
//!
//! ```no_run
//! use hope_workflow::eye_plaque::{Options, run};
//!
//! let options = Options::new("out/eye_plaque").histories(2_000_000);
//! let outcome = run(&options, &|line| println!("{line}"), &|_, _| {})?;
//! println!(
//!     "apex {:.1} Gy +- {:.1} %, report {}",
//!     outcome.apex_dose_gy,
//!     100.0 * outcome.apex_uncertainty,
//!     outcome.report.display()
//! );
//! # Ok::<(), hope_workflow::eye_plaque::Error>(())
//! ```

pub mod anatomy;
pub mod report;
pub mod structures;

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Instant;

use dicom_dictionary_std::tags;
use hope_catalog::{AttrType, Attribute, Catalog, Entry, Principal, Value};
use hope_core::fs::AtomicFile;
use hope_core::{Grid, Vec3, metaimage};
use hope_crypto::container::{Decryptor, EncryptOptions, Encryptor, Header};
use hope_crypto::demo::DemoSite;
use hope_crypto::{DataKey, Grant, acl::Right};
use hope_dicom::deid::{BatchOptions, DeidKey, Deidentifier, deidentify_dir, find_identity};
use hope_dicom::series::{CtSeriesOptions, load_ct_volume, scan_dir, write_ct_series};
use hope_grid::store::{self, JobRecord, JobStatus};
use hope_grid::{Executor, JobTemplate, Local, Plan, Slurm, WorkDir, Workload};
use hope_mc::Simulation;
use hope_mc::simulation::{
    AbsoluteSpec, Energies, PhantomBody, PhantomSpec, PhysicsSpec, PlaqueSpec, SeedModelName,
    SourceSpec, TallyKind,
};
use hope_mc::source::{SeedPlacement, Source};

pub use anatomy::{Head, Structure};
pub use structures::{EyeGeometry, RoiMask};

use hope::workload::SimulationWorkload;

/// The fake identity written into the synthetic CT (and which must not survive).
pub const FAKE_PATIENT_NAME: &str = "DOE^JANE^QUINN";
/// The fake patient ID.
pub const FAKE_PATIENT_ID: &str = "HOPE-EYE-000042";
/// The fake study date.
pub const FAKE_STUDY_DATE: &str = "20261103";

/// A step of the workflow, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Step {
    /// 0: the output folder made ready.
    Output,
    /// 1: the CT series (written or read).
    Ct,
    /// 2: de-identification and its byte-by-byte check.
    Deidentification,
    /// 3: encryption with split keys.
    Encryption,
    /// 4: study, series and job in the catalog.
    Catalog,
    /// 5: decryption on the compute side, HU to materials, the plaque placed.
    DecryptionAndPlaque,
    /// 6: the Monte Carlo runs.
    MonteCarlo,
    /// 7: merging, dose, pictures, report.
    Results,
    /// 8: results registered in the catalog.
    Registration,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Step::Output => "output",
            Step::Ct => "1 CT",
            Step::Deidentification => "2 de-identification",
            Step::Encryption => "3 encryption",
            Step::Catalog => "4 catalog",
            Step::DecryptionAndPlaque => "5 decryption and plaque",
            Step::MonteCarlo => "6 Monte Carlo",
            Step::Results => "7 results",
            Step::Registration => "8 catalog",
        })
    }
}

/// A failed step: which one, and why (the error of the crate that failed, as its
/// [`source`](std::error::Error::source), or a check of the workflow's own).
#[derive(Debug)]
pub struct Error {
    /// The step.
    pub step: Step,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// What went wrong (the source's message, or the check that failed).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.step, self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// The result of a step.
pub type Result<T> = std::result::Result<T, Error>;

trait In<T> {
    fn in_step(self, step: Step) -> Result<T>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> In<T> for std::result::Result<T, E> {
    fn in_step(self, step: Step) -> Result<T> {
        self.map_err(|e| Error {
            step,
            message: e.to_string(),
            source: Some(Box::new(e)),
        })
    }
}

fn fail<T>(step: Step, message: impl Into<String>) -> Result<T> {
    Err(Error {
        step,
        message: message.into(),
        source: None,
    })
}

/// Where the Monte Carlo tasks run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutorChoice {
    /// Threads of this process.
    Local,
    /// A Slurm job array; each element runs `hope worker` from this executable (the output
    /// folder must be on a file system the nodes share).
    Slurm {
        /// The `hope` executable.
        hope: PathBuf,
    },
}

/// What the workflow does.
#[derive(Debug, Clone)]
#[must_use]
pub struct Options {
    /// The output folder (created; a previous run's folder is replaced).
    pub out: PathBuf,
    /// A user's CT directory instead of the synthetic head. An RT Structure Set in it (or at
    /// `structure_set`) gives the structures and, from its globe and tumour ROIs, the eye's
    /// centre and the plaque axis; without one they are taken from `head`.
    pub ct_dir: Option<PathBuf>,
    /// An RT Structure Set for the CT in `ct_dir`, when it is not in that directory.
    pub structure_set: Option<PathBuf>,
    /// The plaque: `coms-10`, `coms-12`, ..., `coms-24`.
    pub plaque: String,
    /// The seed model in its slots.
    pub seed_model: SeedModelName,
    /// Histories of the plaque run.
    pub histories: u64,
    /// Histories of the water-only reference run.
    pub water_histories: u64,
    /// Random seed.
    pub seed: u64,
    /// Tasks running at once on the local executor (0: one per core).
    pub threads: usize,
    /// Where tasks run.
    pub executor: ExecutorChoice,
    /// Who submits the job.
    pub author: String,
    /// Prescription at the tumour's apex, Gy.
    pub prescription_gy: f64,
    /// Treatment time, hours (decay included).
    pub treatment_h: f64,
    /// The eye and tumour.
    pub head: Head,
}

impl Options {
    /// The defaults: synthetic head, 40 million histories (about 1 % at the apex), 10 million
    /// for the water reference, 85 Gy in 168 h, local executor.
    pub fn new(out: impl Into<PathBuf>) -> Options {
        Options {
            out: out.into(),
            ct_dir: None,
            structure_set: None,
            plaque: "coms-16".into(),
            seed_model: SeedModelName::Model6711,
            histories: 40_000_000,
            water_histories: 10_000_000,
            seed: 2026,
            threads: 0,
            executor: ExecutorChoice::Local,
            author: std::env::var("USER").unwrap_or_else(|_| "physicist".into()),
            prescription_gy: 85.0,
            treatment_h: 168.0,
            head: Head::default(),
        }
    }

    /// Histories of the plaque run (the water reference gets a quarter).
    pub fn histories(mut self, n: u64) -> Options {
        self.histories = n;
        self.water_histories = (n / 4).max(1);
        self
    }
}

/// What a run produced and measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The output folder.
    pub out: PathBuf,
    /// The HTML report.
    pub report: PathBuf,
    /// The RT Dose file.
    pub rt_dose: PathBuf,
    /// The RT Plan file.
    pub rt_plan: PathBuf,
    /// The RT Structure Set file.
    pub rt_struct: PathBuf,
    /// Where the eye, the tumour and the plaque were found to be.
    pub eye: EyeGeometry,
    /// DVH metrics of each structure (the V is at the prescription dose).
    pub dvh: Vec<(String, hope_mc::tally::dvh::DvhMetrics)>,
    /// The PNG images.
    pub images: Vec<PathBuf>,
    /// CT files written (or read) in the hospital.
    pub ct_files: usize,
    /// De-identified files.
    pub deidentified_files: usize,
    /// Identity found after de-identification: (file, what); empty when clean.
    pub identity_left: Vec<(PathBuf, String)>,
    /// Encrypted files.
    pub encrypted_files: usize,
    /// Key servers that were up when the compute side decrypted.
    pub servers_up_for_decryption: usize,
    /// Whether one key server alone was refused a key.
    pub one_server_refused: bool,
    /// Whether the decrypted pixels equal the CT written in step 1.
    pub pixels_unchanged: bool,
    /// Catalog rows by collection, as queried back at the end.
    pub catalog_rows: Vec<(String, usize)>,
    /// The job's id.
    pub job_id: String,
    /// Whether the dose grid equals the CT's geometry.
    pub dose_grid_is_ct_grid: bool,
    /// Dose at the tumour's apex, Gy (the prescription, by construction).
    pub apex_dose_gy: f64,
    /// Its relative standard uncertainty (one sigma).
    pub apex_uncertainty: f64,
    /// Water-only dose at the apex with the same seeds, Gy.
    pub apex_water_gy: f64,
    /// Air-kerma strength per seed that gives the prescription, U.
    pub air_kerma_strength_u: f64,
    /// The hottest voxel's centre, mm, and its distance to the nearest seed centre.
    pub hottest: (Vec3, f64),
    /// Seconds per step.
    pub timings: Vec<(String, f64)>,
    /// Histories per second of the plaque run.
    pub histories_per_second: f64,
}

/// Every file below `dir`, sorted.
fn files_below(dir: &Path, step: Step) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).in_step(step)? {
            let p = e.in_step(step)?.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn text_of(obj: &dicom_object::DefaultDicomObject, tag: dicom_core::Tag) -> String {
    obj.get(tag)
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
        .unwrap_or_default()
}

/// Histories per batch of the plaque run.
const BATCH_SIZE: u64 = 250_000;

/// The simulation of `plaque` (seeds of `model`) on the CT at `ct_mha`, per unit air-kerma
/// strength per seed. The plaque and its seeds are transported in analytic geometry.
pub fn plaque_simulation(
    ct_mha: &Path,
    plaque: &PlaqueSpec,
    model: SeedModelName,
    histories: u64,
    seed: u64,
    treatment_h: f64,
) -> Simulation {
    Simulation {
        histories,
        seed,
        batch_size: BATCH_SIZE,
        tally: Some(TallyKind::Kerma),
        materials: Default::default(),
        output: Default::default(),
        variance_reduction: Default::default(),
        phantom: PhantomSpec {
            body: PhantomBody::Ct {
                ct_mha: ct_mha.to_path_buf(),
                hu_table: None,
            },
            insert: Vec::new(),
        },
        source: SourceSpec::Seeds {
            model,
            energies: Energies::Radionuclide {
                name: model.radionuclide().into(),
            },
            seeds: Vec::new(),
            plaque: Some(plaque.clone()),
        },
        physics: PhysicsSpec::default(),
        absolute: Some(AbsoluteSpec {
            air_kerma_strength_u: Some(1.0),
            time_h: Some(treatment_h),
            decay: true,
            ..AbsoluteSpec::default()
        }),
        scoring: None,
        base_dir: PathBuf::new(),
    }
}

/// The same seeds in water filling the CT's grid, each in its capsule, without the plaque: the
/// TG-43-like reference (no plaque, no tissue heterogeneity).
pub fn water_simulation(
    plaque_sim: &Simulation,
    grid: &Grid,
    histories: u64,
    seeds: Vec<SeedPlacement>,
) -> Simulation {
    let mut sim = plaque_sim.clone();
    sim.histories = histories;
    sim.seed = plaque_sim.seed.wrapping_add(1);
    sim.phantom = PhantomSpec::boxed(
        grid.dims(),
        <[f64; 3]>::from(grid.spacing()),
        <[f64; 3]>::from(grid.origin()),
        "water",
    );
    if let SourceSpec::Seeds {
        seeds: s, plaque, ..
    } = &mut sim.source
    {
        *s = seeds;
        *plaque = None;
    }
    sim
}

/// The RT Structure Set among `files`, if any.
fn find_structure_set(files: &[PathBuf]) -> Option<PathBuf> {
    files.iter().find_map(|f| {
        let obj = hope_dicom::deid::read_any(f).ok()?;
        (text_of(&obj, tags::MODALITY) == "RTSTRUCT").then(|| f.clone())
    })
}

/// Runs the whole workflow. `log` receives one line per step and result; `progress` the chunks
/// done and the total while the Monte Carlo runs.
pub fn run(
    options: &Options,
    log: &dyn Fn(&str),
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Outcome> {
    let out = &options.out;
    let marker = out.join(".hope-eye-plaque");
    if out.exists() {
        let empty = std::fs::read_dir(out)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !empty && !marker.exists() {
            return fail(
                Step::Output,
                format!(
                    "{} exists and is not a previous eye-plaque output; choose another folder",
                    out.display()
                ),
            );
        }
        std::fs::remove_dir_all(out).in_step(Step::Output)?;
    }
    std::fs::create_dir_all(out).in_step(Step::Output)?;
    std::fs::write(
        &marker,
        b"written by hope_workflow::eye_plaque; replaced by the next run\n",
    )
    .in_step(Step::Output)?;
    let mut timings = Vec::new();
    let mut clock = Instant::now();
    let mut lap = |name: &str, timings: &mut Vec<(String, f64)>| {
        timings.push((name.to_string(), clock.elapsed().as_secs_f64()));
        clock = Instant::now();
    };
    let head = &options.head;
    let hospital = out.join("hospital");

    // 1. The CT, in the hospital.
    let step = Step::Ct;
    let grid = Head::grid();
    let synthetic = options.ct_dir.is_none();
    let (ct_dir, original_uids, written_ct) = if let Some(dir) = &options.ct_dir {
        log(&format!("1. reading the CT series in {}", dir.display()));
        match &options.structure_set {
            None => (dir.clone(), Vec::new(), None),
            Some(ss) => {
                // The CT and its structure set together, to be de-identified as one study.
                let input = hospital.join("input");
                std::fs::create_dir_all(&input).in_step(step)?;
                for (i, f) in files_below(dir, step)?.iter().enumerate() {
                    std::fs::copy(f, input.join(format!("ct{i:05}.dcm"))).in_step(step)?;
                }
                std::fs::copy(ss, input.join("rtstruct.dcm")).in_step(step)?;
                (input, Vec::new(), None)
            }
        }
    } else {
        log(
            "1. writing a synthetic head CT (256 x 320 x 64 voxels of 0.6 mm) as a DICOM series with a fake identity",
        );
        let dir = hospital.join("ct");
        let ct = head.ct(&grid);
        let written = write_ct_series(
            &ct,
            &dir,
            &CtSeriesOptions::new()
                .patient_name(FAKE_PATIENT_NAME)
                .patient_id(FAKE_PATIENT_ID)
                .study_date(FAKE_STUDY_DATE)
                .series_description("Head CT, orbits, 0.6 mm"),
        )
        .in_step(step)?;
        // The structures, as a planning system would send them with the CT.
        let first_slice = files_below(&dir, step)?
            .into_iter()
            .next()
            .ok_or_else(|| Error {
                step,
                message: "no CT slice written".into(),
                source: None,
            })?;
        let set = structures::structure_set_of(head, &grid, &written.frame_of_reference_uid);
        hope_dicom::rtstruct::write_rt_struct(&set, &dir.join("rtstruct.dcm"), &first_slice)
            .in_step(step)?;
        (
            dir,
            vec![
                written.study_uid,
                written.series_uid,
                written.frame_of_reference_uid,
            ],
            Some(ct),
        )
    };
    let ct_files = files_below(&ct_dir, step)?;
    log(&format!("   {} files", ct_files.len()));
    lap("1 CT", &mut timings);

    // 2. De-identification, in the hospital.
    let step = Step::Deidentification;
    log("2. de-identifying (PS3.15 Annex E basic profile, keyed UIDs and pseudonym)");
    let key = DeidKey::generate().in_step(step)?;
    std::fs::create_dir_all(&hospital).in_step(step)?;
    hope_core::fs::write_atomic(
        hospital.join("project.key"),
        format!("{}\n", key.dangerous_to_hex()).as_bytes(),
    )
    .in_step(step)?;
    let deid_dir = hospital.join("deidentified");
    // The protocol's recipe keeps ROI names (PS3.15 empties them): the dosimetry finds the globe
    // and the tumour by name. A site whose planning system puts identity in ROI names would
    // clean them and name the structures for the study instead.
    let deid =
        Deidentifier::new(key, []).with_override(tags::ROI_NAME, hope_dicom::deid::Override::Keep);
    let summary = deidentify_dir(
        &deid,
        &ct_dir,
        &deid_dir,
        &BatchOptions::new().threads(options.threads),
        &|_, _| {},
    )
    .in_step(step)?;
    if summary.done != ct_files.len() {
        return fail(
            step,
            format!(
                "{} of {} files de-identified ({} quarantined, {} skipped)",
                summary.done,
                ct_files.len(),
                summary.quarantined.len(),
                summary.skipped.len()
            ),
        );
    }
    let deid_files = files_below(&deid_dir, step)?;
    let mut needles: Vec<(&str, String)> = Vec::new();
    if synthetic {
        needles.push(("patient name", FAKE_PATIENT_NAME.into()));
        needles.push(("family name", "DOE^JANE".into()));
        needles.push(("patient ID", FAKE_PATIENT_ID.into()));
        needles.push(("study date", FAKE_STUDY_DATE.into()));
    } else if let Some(first) = ct_files.first() {
        let obj = hope_dicom::deid::read_any(first).in_step(step)?;
        for (what, tag) in [
            ("patient name", tags::PATIENT_NAME),
            ("patient ID", tags::PATIENT_ID),
            ("birth date", tags::PATIENT_BIRTH_DATE),
        ] {
            let v = text_of(&obj, tag);
            if v.len() >= 4 {
                needles.push((what, v));
            }
        }
    }
    for uid in &original_uids {
        needles.push(("original UID", uid.clone()));
    }
    let identity_left = find_identity(&deid_files, &needles);
    if !identity_left.is_empty() {
        return fail(
            step,
            format!(
                "identity left in {} places (first: {} in {})",
                identity_left.len(),
                identity_left[0].1,
                identity_left[0].0.display()
            ),
        );
    }
    log(&format!(
        "   {} files; no name, patient ID, study date or original UID left (checked byte by byte)",
        deid_files.len()
    ));
    lap("2 de-identification", &mut timings);

    // 3. Encryption with 2-of-3 split keys.
    let step = Step::Encryption;
    log(
        "3. encrypting with AES-256-GCM, keys split 2-of-3 over three key servers (mutual TLS on loopback)",
    );
    let mut servers = DemoSite::start(
        &out.join("keyservers"),
        &[("hospital", "radiology"), ("eye-dosimetry", "physics")],
    )
    .in_step(step)?;
    let hospital_client = servers.key_client("hospital").in_step(step)?;
    let enc_dir = out.join("encrypted");
    std::fs::create_dir_all(&enc_dir).in_step(step)?;
    let grants = [Grant::group("physics", Right::Get)];
    let mut encrypted = Vec::new();
    let mut pending = Vec::new();
    for f in &deid_files {
        let rel = f
            .strip_prefix(&deid_dir)
            .unwrap_or(f)
            .to_string_lossy()
            .replace('/', "_");
        let target = enc_dir.join(format!("{rel}.hope"));
        let key = DataKey::generate().in_step(step)?;
        let key_id = hospital_client.new_key_id().in_step(step)?;
        let mut reader = BufReader::new(File::open(f).in_step(step)?);
        let sink = AtomicFile::create(&target).in_step(step)?;
        let mut enc = Encryptor::new(
            sink,
            &key,
            key_id.id,
            1,
            rel.as_bytes(),
            &EncryptOptions::new(),
        )
        .in_step(step)?;
        std::io::copy(&mut reader, &mut enc).in_step(step)?;
        pending.push((enc.finish().in_step(step)?, key, key_id));
        encrypted.push((target, rel));
    }
    // Every share registered (one batch per key server) before any file becomes visible.
    let registrations: Vec<hope_crypto::Registration<'_>> = pending
        .iter()
        .map(|(_, key, id)| hope_crypto::Registration {
            key,
            id,
            key_version: 1,
            grants: &grants,
        })
        .collect();
    hospital_client
        .register_many(&registrations)
        .in_step(step)?;
    drop(registrations);
    for (sink, _, _) in pending {
        sink.commit().in_step(step)?;
    }
    log(&format!(
        "   {} files encrypted for group `physics`; key servers at {}",
        encrypted.len(),
        servers.key_servers().join(", ")
    ));
    lap("3 encryption", &mut timings);

    // 4. Catalog.
    let step = Step::Catalog;
    log("4. registering study, series and the dosimetry job in the SQLite catalog");
    let catalog = Catalog::open_sqlite(out.join("catalog.sqlite")).in_step(step)?;
    let me = Principal::user("eye-dosimetry");
    catalog.init(&me).in_step(step)?;
    let schemas: [(&str, Vec<Attribute>); 4] = [
        (
            "/eye-plaque/studies",
            vec![
                Attribute::new("PatientID", AttrType::Text).indexed(),
                Attribute::new("StudyDate", AttrType::Text),
                Attribute::new("Hospital", AttrType::Text),
            ],
        ),
        (
            "/eye-plaque/series",
            vec![
                Attribute::new("StudyInstanceUID", AttrType::Uid).indexed(),
                Attribute::new("Modality", AttrType::Text).indexed(),
                Attribute::new("FrameOfReferenceUID", AttrType::Uid),
                Attribute::new("Instances", AttrType::Int),
                Attribute::new("EncryptedAt", AttrType::Text),
            ],
        ),
        (
            "/eye-plaque/jobs",
            vec![
                Attribute::new("Author", AttrType::Text).indexed(),
                Attribute::new("Status", AttrType::Text).indexed(),
                Attribute::new("Executor", AttrType::Text),
                Attribute::new("SeriesInstanceUID", AttrType::Uid),
                Attribute::new("Histories", AttrType::Int),
                Attribute::new("DurationS", AttrType::Float),
            ],
        ),
        (
            "/eye-plaque/results",
            vec![
                Attribute::new("Job", AttrType::Text).indexed(),
                Attribute::new("Kind", AttrType::Text),
                Attribute::new("Path", AttrType::Text),
                Attribute::new("ApexDoseGy", AttrType::Float),
                Attribute::new("ApexUncertainty", AttrType::Float),
            ],
        ),
    ];
    for (path, attrs) in schemas {
        catalog.mkdir_all(&me, path).in_step(step)?;
        for a in attrs {
            catalog.add_attribute(&me, path, a).in_step(step)?;
        }
    }
    let scan = scan_dir(&deid_dir).in_step(step)?;
    let Some(series) = scan.series.first().cloned() else {
        return fail(step, "no CT series among the de-identified files");
    };
    let first = hope_dicom::deid::read_any(&series.files[0]).in_step(step)?;
    let study_uid = text_of(&first, tags::STUDY_INSTANCE_UID);
    let pseudonym = text_of(&first, tags::PATIENT_ID);
    catalog
        .add(
            &me,
            "/eye-plaque/studies",
            Entry::new(&study_uid)
                .with("PatientID", Value::Text(pseudonym.clone()))
                .with("StudyDate", Value::Text(text_of(&first, tags::STUDY_DATE)))
                .with("Hospital", Value::Text("synthetic".into())),
        )
        .in_step(step)?;
    catalog
        .add(
            &me,
            "/eye-plaque/series",
            Entry::new(&series.series_uid)
                .with("StudyInstanceUID", Value::Uid(study_uid.clone()))
                .with("Modality", Value::Text(series.modality.clone()))
                .with(
                    "FrameOfReferenceUID",
                    Value::Uid(series.frame_of_reference_uid.clone()),
                )
                .with("Instances", Value::Int(series.files.len() as i64))
                .with("EncryptedAt", Value::Text(enc_dir.display().to_string())),
        )
        .in_step(step)?;
    let compute = out.join("compute");
    std::fs::create_dir_all(&compute).in_step(step)?;
    let ct_mha = std::fs::canonicalize(&compute)
        .in_step(step)?
        .join("ct.mha");
    let batches = options.histories.div_ceil(BATCH_SIZE);
    let parallel = if options.threads == 0 {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        options.threads
    };
    let tasks = u32::try_from(parallel).unwrap_or(2).clamp(1, 64);
    let plan = Plan::dynamic(batches, tasks, 8)
        .and_then(|p| p.with_lease(3600.0))
        .in_step(step)?;
    let job_dir = out.join("job");
    WorkDir::create(&job_dir, &plan).in_step(step)?;
    let work = WorkDir::open(std::fs::canonicalize(&job_dir).in_step(step)?).in_step(step)?;
    let executor_name = match options.executor {
        ExecutorChoice::Local => "local",
        ExecutorChoice::Slurm { .. } => "slurm",
    };
    let mut record = JobRecord::new(&work, &options.author, executor_name);
    work.write_record(&record).in_step(step)?;
    catalog
        .add(
            &me,
            "/eye-plaque/jobs",
            Entry::new(&record.id)
                .with("Author", Value::Text(options.author.clone()))
                .with("Status", Value::Text("pending".into()))
                .with("Executor", Value::Text(executor_name.into()))
                .with("SeriesInstanceUID", Value::Uid(series.series_uid.clone()))
                .with("Histories", Value::Int(options.histories as i64)),
        )
        .in_step(step)?;
    let found = catalog
        .query(
            &me,
            "/eye-plaque/series",
            &format!("Modality = 'CT' and StudyInstanceUID = '{study_uid}'"),
        )
        .in_step(step)?;
    if found.rows.len() != 1 {
        return fail(
            step,
            format!("{} series found, 1 expected", found.rows.len()),
        );
    }
    log(&format!(
        "   study {study_uid} (patient {pseudonym}), {} CT instances, job {} pending; query found the series",
        series.files.len(),
        record.id
    ));
    lap("4 catalog", &mut timings);

    // 5. Compute side: decrypt with two servers, materials, plaque.
    let step = Step::DecryptionAndPlaque;
    log("5. compute side: decrypting with key server 3 down (2 of 3 suffice)");
    servers.stop_key_server(2);
    let servers_up_for_decryption = servers.up();
    let job_client = servers.key_client("eye-dosimetry").in_step(step)?;
    let plain_dir = compute.join("ct");
    std::fs::create_dir_all(&plain_dir).in_step(step)?;
    for (path, rel) in &encrypted {
        let mut reader = BufReader::new(File::open(path).in_step(step)?);
        let header = Header::read_from(&mut reader).in_step(step)?;
        let combined = job_client
            .fetch_key(&header.key_id, header.key_version, &header.commitment)
            .in_step(step)?;
        let mut sink = AtomicFile::create(plain_dir.join(rel)).in_step(step)?;
        let mut dec = Decryptor::with_header(reader, header, &combined.key, Some(rel.as_bytes()))
            .in_step(step)?;
        std::io::copy(&mut dec, &mut sink)
            .map_err(|_| hope_crypto::Error::Decryption)
            .in_step(step)?;
        sink.commit().in_step(step)?;
    }
    servers.stop_key_server(1);
    let one_server_refused = match encrypted.first() {
        Some((path, _)) => {
            let mut reader = BufReader::new(File::open(path).in_step(step)?);
            let header = Header::read_from(&mut reader).in_step(step)?;
            job_client
                .fetch_key(&header.key_id, header.key_version, &header.commitment)
                .is_err()
        }
        None => false,
    };
    if !one_server_refused {
        return fail(
            step,
            "a key was reconstructed with one key server: the split is broken",
        );
    }
    drop(servers);
    log("   decrypted; with one server left the key was refused, as it must be");
    let plain_files = files_below(&plain_dir, step)?;
    let plain_scan = scan_dir(&plain_dir).in_step(step)?;
    let Some(ct_series) = plain_scan
        .series
        .iter()
        .find(|s| s.modality == "CT")
        .cloned()
    else {
        return fail(step, "no CT series among the decrypted files");
    };
    let ct = load_ct_volume(&ct_series.files).in_step(step)?;
    let pixels_unchanged = written_ct
        .as_ref()
        .is_none_or(|w| ct.data() == w.data() && ct.grid().same_geometry(w.grid(), 1e-3));
    if !pixels_unchanged {
        return fail(step, "the decrypted CT differs from the one written");
    }
    let ct_grid = ct.grid().clone();
    metaimage::write(&ct_mha, &ct.map(|v| f32::from(*v))).in_step(step)?;
    // The structures and the eye: from the structure set that came with the CT.
    let (set, eye) = match find_structure_set(&plain_files) {
        Some(path) => {
            let set = hope_dicom::rtstruct::read_rt_struct(&path).in_step(step)?;
            if set.frame_of_reference_uid != ct_series.frame_of_reference_uid {
                return fail(
                    step,
                    format!(
                        "the structure set is in frame of reference {}, the CT in {}",
                        set.frame_of_reference_uid, ct_series.frame_of_reference_uid
                    ),
                );
            }
            let eye = match structures::eye_geometry(&set) {
                Ok(e) => e,
                Err(e) => return fail(step, e),
            };
            (set, eye)
        }
        None => (
            structures::structure_set_of(head, &ct_grid, &ct_series.frame_of_reference_uid),
            EyeGeometry::of_head(head),
        ),
    };
    if synthetic {
        // The synthetic head's structure set went through de-identification, encryption and
        // back: the eye found from it must be the one drawn.
        let drawn = EyeGeometry::of_head(head);
        if (eye.eye_centre - drawn.eye_centre).norm() > 0.5
            || eye.plaque_axis.dot(drawn.plaque_axis) < 0.995
        {
            return fail(
                step,
                format!(
                    "the eye found from the structure set ({:?}, axis {:?}) is not the one drawn",
                    eye.eye_centre, eye.plaque_axis
                ),
            );
        }
    }
    let rois = match structures::roi_masks(&set, &ct_grid) {
        Ok(r) => r,
        Err(e) => return fail(step, e),
    };
    let plaque_spec = PlaqueSpec {
        name: options.plaque.clone(),
        eye_centre_mm: <[f64; 3]>::from(eye.eye_centre),
        direction: <[f64; 3]>::from(eye.plaque_axis),
        rotation_deg: 0.0,
        strengths: None,
        empty: Vec::new(),
    };
    let sim = plaque_simulation(
        &ct_mha,
        &plaque_spec,
        options.seed_model,
        options.histories,
        options.seed,
        options.treatment_h,
    );
    log(&format!(
        "   CT {:?} voxels of {:.2} mm; structure set `{}`: {}; eye centre ({:.1}, {:.1}, {:.1}) mm, globe radius {:.1} mm, tumour {:.1} mm high",
        ct_grid.dims(),
        ct_grid.spacing().x,
        set.label,
        rois.iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        eye.eye_centre.x,
        eye.eye_centre.y,
        eye.eye_centre.z,
        eye.globe_radius_mm,
        eye.tumour_height_mm
    ));
    log(&format!(
        "   plaque {} on the sclera over the tumour (analytic geometry: Modulay backing and lip, Silastic insert), {} seeds {}",
        options.plaque,
        options.seed_model.radionuclide(),
        options.seed_model.as_str()
    ));
    lap("5 decryption and plaque", &mut timings);

    // 6. Plan and run.
    let step = Step::MonteCarlo;
    log(&format!(
        "6. Monte Carlo: {} histories in {} batches, {} chunks for {} tasks on the {} executor",
        options.histories,
        batches,
        plan.chunks().len(),
        plan.tasks(),
        executor_name
    ));
    // What a Slurm worker does when it reads the file: the same checks here.
    sim.validate().in_step(step)?;
    let workload = SimulationWorkload::new(&sim, 1).in_step(step)?;
    if workload.batch_count() != batches {
        return fail(step, "batch count differs from the plan's");
    }
    work.write_sealed(
        "simulation.json",
        &serde_json::to_vec_pretty(&sim).in_step(step)?,
    )
    .in_step(step)?;
    let chunks = plan.chunks().len() as u64;
    let done = std::sync::atomic::AtomicU64::new(0);
    let tick = || {
        let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        progress(n, chunks);
    };
    progress(0, chunks);
    let local;
    let slurm;
    let executor: &dyn Executor = match &options.executor {
        ExecutorChoice::Local => {
            local = Local::new(&workload, parallel).on_chunk(&tick);
            &local
        }
        ExecutorChoice::Slurm { hope } => {
            slurm = Slurm::new(hope.clone(), &["worker"], JobTemplate::default())
                .name("hope-eye-plaque");
            &slurm
        }
    };
    record.status = JobStatus::Running;
    record.started_s = Some(store::now_s());
    work.write_record(&record).in_step(step)?;
    let started = Instant::now();
    let merged = hope_grid::run(executor, &work, &plan, &workload, 5);
    let mc_seconds = started.elapsed().as_secs_f64();
    record.finished_s = Some(store::now_s());
    let merged = match merged {
        Ok(m) => m,
        Err(e) => {
            record.status = JobStatus::Failed;
            record.message = Some(e.to_string());
            let _ = work.write_record(&record);
            return fail(step, e.to_string());
        }
    };
    progress(chunks, chunks);
    log(&format!(
        "   {:.1} s, {:.0} histories/s",
        mc_seconds,
        options.histories as f64 / mc_seconds
    ));
    log(&format!(
        "   water-only reference (TG-43-like): {} histories",
        options.water_histories
    ));
    let Source::Plaque(placed) = workload.prepared().source() else {
        return fail(step, "the simulation's source is not a plaque");
    };
    let seeds: Vec<SeedPlacement> = placed
        .seeds()
        .into_iter()
        .map(|(c, a, w)| SeedPlacement {
            position_mm: <[f64; 3]>::from(c),
            axis: <[f64; 3]>::from(a),
            weight: w,
        })
        .collect();
    let water_sim = water_simulation(&sim, &ct_grid, options.water_histories, seeds.clone());
    let water_result = water_sim
        .prepare(options.threads)
        .in_step(step)?
        .run(&|_, _| {})
        .in_step(step)?;
    lap("6 Monte Carlo", &mut timings);

    // 7. Merge, dose, pictures, report.
    let step = Step::Results;
    log("7. dose: RT Dose, MetaImage, PNG planes, DVH, HTML report");
    let dose_grid = workload.transport().scoring_grid().clone();
    let dose_grid_is_ct_grid = dose_grid.same_geometry(&ct_grid, 1e-6);
    if !dose_grid_is_ct_grid {
        return fail(step, "the dose grid differs from the CT's");
    }
    // Gy per history for one U per seed: the same seeds and strength in both runs, so one
    // normalisation (its TG-43 vacuum run) serves both.
    let run = workload.prepared();
    let gy = run.histories_represented().in_step(step)?.unwrap_or(1.0);
    let hope_mc::simulation::Dose {
        dose: per_u,
        uncertainty: unc,
        ..
    } = run.dose(&merged).in_step(step)?;
    let water_per_u = water_result
        .dose(&water_result.kerma, &dose_grid)
        .in_step(step)?
        .0
        .map(|d| d * gy);
    let apex = eye.apex;
    let Some(apex_voxel) = dose_grid.voxel_at(apex) else {
        return fail(step, "the tumour's apex lies outside the dose grid");
    };
    let apex_per_u = per_u[apex_voxel];
    if apex_per_u.is_nan() || apex_per_u <= 0.0 {
        return fail(step, "no dose at the tumour's apex");
    }
    let sk = options.prescription_gy / apex_per_u;
    let dose = per_u.map(|d| d * sk);
    let water = water_per_u.map(|d| d * sk);
    let apex_uncertainty = unc[apex_voxel];
    let apex_water_gy = water[apex_voxel];
    let hottest_point = dose_grid.voxel_center(dose.argmax().unwrap_or([0; 3]));
    let nearest_seed = seeds
        .iter()
        .map(|s| (Vec3::from(s.position_mm) - hottest_point).norm())
        .fold(f64::INFINITY, f64::min);
    let result_dir = out.join("result");
    std::fs::create_dir_all(&result_dir).in_step(step)?;
    metaimage::write(result_dir.join("dose.mha"), &dose.map(|d| *d as f32)).in_step(step)?;
    metaimage::write(result_dir.join("uncertainty.mha"), &unc.map(|d| *d as f32)).in_step(step)?;
    metaimage::write(result_dir.join("water_dose.mha"), &water.map(|d| *d as f32)).in_step(step)?;
    // The structures, the plan and the dose, each referring to the one before and to the CT.
    let ct_file = &ct_series.files[0];
    let rt_struct = result_dir.join("rtstruct.dcm");
    let written_struct =
        hope_dicom::rtstruct::write_rt_struct(&set, &rt_struct, ct_file).in_step(step)?;
    let model =
        hope_mc::source::brachy::SeedModel::by_name(options.seed_model.as_str()).in_step(step)?;
    let nuclide = options.seed_model.radionuclide();
    let half_life_days = hope_mc::Radionuclide::by_name(nuclide)
        .in_step(step)?
        .half_life_s()
        / 86_400.0;
    let rt_plan = result_dir.join("rtplan.dcm");
    let written_plan = hope_dicom::rtplan::write_rt_plan(
        &hope_dicom::rtplan::BrachyPlan {
            label: format!("{} {}", options.plaque, options.seed_model.as_str()),
            technique: "CONTACT".into(),
            treatment_type: "LDR".into(),
            sources: vec![hope_dicom::rtplan::PlanSource {
                number: 1,
                model: options.seed_model.as_str().into(),
                manufacturer: String::new(),
                isotope: nuclide.into(),
                half_life_days,
                air_kerma_strength_u: sk,
                active_length_mm: Some(model.active_length * 10.0),
                active_diameter_mm: None,
            }],
            seeds: seeds
                .iter()
                .filter(|s| s.weight > 0.0)
                .map(|s| hope_dicom::rtplan::PlanSeed {
                    position: Vec3::from(s.position_mm),
                    axis: Some(Vec3::from(s.axis)),
                    source: 0,
                })
                .collect(),
            referenced_structure_set: Some(written_struct.sop_instance_uid.clone()),
        },
        &rt_plan,
        ct_file,
    )
    .in_step(step)?;
    let rt_dose = result_dir.join("rtdose.dcm");
    let written = hope_dicom::rtdose::write_rt_dose(
        &dose.map(|d| *d as f32),
        &rt_dose,
        ct_file,
        &hope_dicom::rtdose::RtDoseOptions::new()
            .series_description(format!(
                "HOPE-rs Monte Carlo, {} plaque, {} {}",
                options.plaque,
                nuclide,
                options.seed_model.as_str()
            ))
            .referenced_plan(written_plan.sop_instance_uid.clone()),
    )
    .in_step(step)?;
    // One DVH per structure (none for an ROI outside the dose grid), for the report and the
    // outcome.
    let dvhs: Vec<Option<hope_mc::tally::dvh::Dvh>> = rois
        .iter()
        .map(|r| hope_mc::tally::dvh::Dvh::weighted(&dose, &r.mask).ok())
        .collect();
    let dvh: Vec<(String, hope_mc::tally::dvh::DvhMetrics)> = rois
        .iter()
        .zip(&dvhs)
        .filter_map(|(r, d)| {
            d.as_ref()
                .map(|d| (r.name.clone(), d.metrics(&[options.prescription_gy])))
        })
        .collect();
    let mut final_sim = sim.clone();
    if let Some(a) = &mut final_sim.absolute {
        a.air_kerma_strength_u = Some(sk);
    }
    hope_core::fs::write_atomic(
        result_dir.join("simulation.json"),
        &serde_json::to_vec_pretty(&final_sim).in_step(step)?,
    )
    .in_step(step)?;
    record.status = JobStatus::Finished;
    record.message = None;
    record.result = Some(std::fs::canonicalize(&result_dir).unwrap_or(result_dir.clone()));
    work.write_record(&record).in_step(step)?;
    let hu = ct.map(|v| f64::from(*v));
    let inputs = report::Inputs {
        options,
        eye: &eye,
        plaque: placed,
        rois: &rois,
        dvhs: &dvhs,
        nuclide: nuclide.to_string(),
        ct: &hu,
        dose: &dose,
        uncertainty: &unc,
        water: &water,
        air_kerma_strength_u: sk,
        apex_uncertainty,
        mc_seconds,
        jobs: store::list(out).unwrap_or_default(),
        rt_dose_uid: written.sop_instance_uid.clone(),
        pseudonym: pseudonym.clone(),
        study_uid: study_uid.clone(),
        series_uid: series.series_uid.clone(),
        deidentified: deid_files.len(),
        encrypted: encrypted.len(),
    };
    let (images, report_path) = report::write(&inputs, &result_dir).in_step(step)?;
    lap("7 results", &mut timings);

    // 8. Results in the catalog.
    let step = Step::Registration;
    log("8. registering the results in the catalog");
    let duration = record.duration_s().unwrap_or(0) as f64;
    catalog
        .update(
            &me,
            "/eye-plaque/jobs",
            &record.id,
            vec![
                ("Status".into(), Value::Text("finished".into())),
                ("DurationS".into(), Value::Float(duration.max(mc_seconds))),
            ],
        )
        .in_step(step)?;
    let mut results = vec![
        (
            written.sop_instance_uid.clone(),
            "RTDOSE".to_string(),
            rt_dose.clone(),
        ),
        (
            written_plan.sop_instance_uid.clone(),
            "RTPLAN".to_string(),
            rt_plan.clone(),
        ),
        (
            written_struct.sop_instance_uid.clone(),
            "RTSTRUCT".to_string(),
            rt_struct.clone(),
        ),
    ];
    for p in images.iter().chain([&report_path]) {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().replace('.', "-"))
            .unwrap_or_default();
        let kind = p
            .extension()
            .map(|e| e.to_string_lossy().to_uppercase())
            .unwrap_or_default();
        results.push((format!("{}-{name}", record.id), kind, p.clone()));
    }
    for (name, kind, path) in &results {
        catalog
            .add(
                &me,
                "/eye-plaque/results",
                Entry::new(name)
                    .with("Job", Value::Text(record.id.clone()))
                    .with("Kind", Value::Text(kind.clone()))
                    .with("Path", Value::Text(path.display().to_string()))
                    .with("ApexDoseGy", Value::Float(dose[apex_voxel]))
                    .with("ApexUncertainty", Value::Float(apex_uncertainty)),
            )
            .in_step(step)?;
    }
    let mut catalog_rows = Vec::new();
    for c in ["studies", "series", "jobs", "results"] {
        let path = format!("/eye-plaque/{c}");
        let n = catalog.count(&me, &path).in_step(step)?;
        catalog_rows.push((c.to_string(), n as usize));
    }
    let mine = catalog
        .query(
            &me,
            "/eye-plaque/results",
            &format!("Job = '{}'", record.id),
        )
        .in_step(step)?;
    log(&format!(
        "   {} results of job {} found by query; catalog rows: {}",
        mine.rows.len(),
        record.id,
        catalog_rows
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    lap("8 catalog", &mut timings);

    Ok(Outcome {
        out: out.clone(),
        report: report_path,
        rt_dose,
        rt_plan,
        rt_struct,
        eye,
        dvh,
        images,
        ct_files: ct_files.len(),
        deidentified_files: deid_files.len(),
        identity_left,
        encrypted_files: encrypted.len(),
        servers_up_for_decryption,
        one_server_refused,
        pixels_unchanged,
        catalog_rows,
        job_id: record.id,
        dose_grid_is_ct_grid,
        apex_dose_gy: dose[apex_voxel],
        apex_uncertainty,
        apex_water_gy,
        air_kerma_strength_u: sk,
        hottest: (hottest_point, nearest_seed),
        timings,
        histories_per_second: options.histories as f64 / mc_seconds,
    })
}
