//! # hope-workflow
//!
//! The workflows of HOPE-rs that join every crate, and their pictures: the flagship,
//! eye-plaque brachytherapy dosimetry ([`eye_plaque`]), with dose planes, isodose lines and DVH plots
//! ([`plot`]) written through a small PNG writer ([`png`]). A hospital's own pipelines are
//! built from the crates the same way; this package is both a working tool and the worked example.
//!
//! ## The flagship workflow in code
//!
//! `cargo run --release --example eye_plaque` runs eye-plaque brachytherapy dosimetry from a head
//! CT to dose images through every crate; [`eye_plaque::run`] is that workflow as a function. Its
//! steps, condensed (error handling, checks and pictures left out; see `hope-workflow/src/eye_plaque/mod.rs`):
//!
//! ```no_run
//! use std::path::Path;
//! use hope::catalog::{AttrType, Attribute, Catalog, Entry, Principal, Value};
//! use hope::crypto::{container, DataKey, Grant, KeyClient, Right};
//! use hope::dicom::deid::{deidentify_dir, BatchOptions, DeidKey, Deidentifier};
//! use hope::dicom::{load_ct_volume, write_ct_series, write_rt_dose, CtSeriesOptions, RtDoseOptions};
//! use hope_workflow::eye_plaque::{plaque_simulation, Head};
//! use hope_mc::simulation::{PlaqueSpec, SeedModelName};
//! use hope::grid::{Local, Plan, WorkDir, Workload};
//! use hope::workload::SimulationWorkload;
//!
//! # fn demo(keys: &KeyClient, files: &[std::path::PathBuf]) -> Result<(), Box<dyn std::error::Error>> {
//! // 1. A CT series in the hospital (here the synthetic head, with a fake identity).
//! let head = Head::default();
//! let ct = head.ct(&Head::grid());
//! write_ct_series(&ct, Path::new("hospital/ct"), &CtSeriesOptions::new().patient_name("DOE^JANE"))?;
//!
//! // 2. De-identification to PS3.15 Annex E with the project's key.
//! let deid = Deidentifier::new(DeidKey::generate()?, []);
//! deidentify_dir(&deid, Path::new("hospital/ct"), Path::new("hospital/deid"), &BatchOptions::new(), &|_, _| {})?;
//!
//! // 3. Each file encrypted, its key split k-of-n over the key servers (`keys`), for a group.
//! for f in files {
//!     let (key, id) = (DataKey::generate()?, keys.new_key_id()?); // bound to this client's identity
//!     let sealed = container::encrypt_to_vec(&std::fs::read(f)?, &key, id.id, 1, b"name", &Default::default())?;
//!     keys.register(&key, &id, 1, &[Grant::group("physics", Right::Get)])?;
//!     std::fs::write(f.with_extension("hope"), sealed)?;
//! }
//!
//! // 4. Study, series and job in the catalog (SQLite, embedded).
//! let cat = Catalog::open_sqlite("catalog.sqlite")?;
//! let me = Principal::user("eye-dosimetry");
//! cat.init(&me)?;
//! cat.mkdir_all(&me, "/eye-plaque/series")?;
//! cat.add_attribute(&me, "/eye-plaque/series", Attribute::new("Modality", AttrType::Text).indexed())?;
//! cat.add(&me, "/eye-plaque/series", Entry::new("2.25.1").with("Modality", Value::Text("CT".into())))?;
//! let found = cat.query(&me, "/eye-plaque/series", "Modality = 'CT'")?;
//!
//! // 5. Compute side: decrypted files (any 2 of 3 servers give the keys) back to a volume; the
//! //    COMS 16 mm plaque (analytic geometry) placed on the eye over the tumour, as a simulation
//! //    of the CT (written as MetaImage).
//! let ct = load_ct_volume(files)?;
//! hope::core::metaimage::write("ct.mha", &ct.map(|v| f32::from(*v)))?;
//! let plaque = PlaqueSpec {
//!     name: "coms-16".into(),
//!     eye_centre_mm: head.eye_centre.into(),
//!     direction: head.plaque_axis.into(),
//!     rotation_deg: 0.0,
//!     strengths: None,
//!     empty: Vec::new(),
//! };
//! let sim = plaque_simulation(Path::new("ct.mha"), &plaque, SeedModelName::Model6711, 40_000_000, 2026, 168.0);
//!
//! // 6. Planned and run on an executor (local threads here; Slurm and processes alike).
//! let workload = SimulationWorkload::new(&sim, 1)?;
//! let plan = Plan::dynamic(workload.batch_count(), 2, 8)?;
//! let dir = WorkDir::create("job", &plan)?;
//! let merged = hope::grid::run(&Local::new(&workload, 2), &dir, &plan, &workload, 5)?;
//!
//! // 7. Dose in Gy (per unit air-kerma strength here), written as RT Dose referring to the CT.
//! let grid = workload.transport().scoring_grid().clone();
//! let (dose, _uncertainty) = merged.dose(&merged.kerma, &grid)?;
//! let gy = sim.histories_represented()?.unwrap_or(1.0);
//! write_rt_dose(&dose.map(|d| (d * gy) as f32), Path::new("rtdose.dcm"), &files[0], &RtDoseOptions::new())?;
//! # Ok(()) }
//! ```

pub mod eye_plaque;
pub mod plot;
pub mod png;
