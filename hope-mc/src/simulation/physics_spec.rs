//! The `[physics]` section: switches, tracking and presets.

use serde::{Deserialize, Serialize};

use crate::physics::{ComptonModel, DoseTo, PhysicsOptions, Relaxation};
use crate::transport::Tracking;

/// A named set of physics options that reproduces a reference code's settings. The keys a
/// preset sets are listed by [`Preset::settings`] (and in the format's documentation, which a
/// test keeps equal to it); a key the file gives itself wins over the preset's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// DOSXYZnrc's classic defaults (EGSnrc with `Bound Compton scattering = Off`,
    /// `Rayleigh scattering = Off`, `Atomic relaxations = Off`, `Photoelectron angular
    /// sampling = Off`, ECUT = 0.521 MeV total and PCUT = 0.01 MeV, IREJECT = 0), with coupled
    /// electron transport and no range rejection.
    EgsnrcDosxyz,
    /// egs_brachy's defaults (Rayleigh on, bound Compton, atomic relaxation, photoelectron
    /// angular sampling, PCUT = 1 keV, electrons deposited locally: the track-length kerma
    /// estimator), which are also hope-mc's.
    EgsBrachy,
}

impl Preset {
    /// The names the file format takes.
    pub const NAMES: &'static str = "egsnrc-dosxyz, egs-brachy";

    /// What the preset sets, as TOML lines under `[physics]` (`electrons.x` is
    /// `[physics.electrons] x`).
    pub fn settings(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Preset::EgsnrcDosxyz => &[
                ("relaxation", "\"none\""),
                ("rayleigh", "false"),
                ("compton", "\"free\""),
                ("photoelectron_angular", "false"),
                ("photon_cutoff_ev", "10000.0"),
                ("electrons.transport", "true"),
                ("electrons.cutoff_ev", "10000.0"),
                ("electrons.range_rejection", "false"),
                ("electrons.bremsstrahlung_angular", "\"koch-motz\""),
            ],
            Preset::EgsBrachy => &[
                ("relaxation", "\"full\""),
                ("rayleigh", "true"),
                ("compton", "\"bound\""),
                ("photoelectron_angular", "true"),
                ("photon_cutoff_ev", "1000.0"),
                ("electrons.transport", "false"),
            ],
        }
    }

    /// The settings as a table, to lay under the file's own keys.
    fn table(self) -> toml::Table {
        let lines: Vec<String> = self
            .settings()
            .iter()
            .map(|(key, value)| format!("{key} = {value}"))
            .collect();
        // The settings are constants that a test reads: they always parse.
        toml::from_str(&lines.join("\n")).unwrap_or_default()
    }
}

/// Physics switches and tracking: the `[physics]` section. See [`PhysicsOptions`] for each
/// switch and its EGSnrc equivalent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PhysicsSpec {
    /// The preset these options started from, if any (already applied: the other fields hold
    /// the result).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<Preset>,
    /// Atomic relaxation after photoabsorption (`fluorescence`, true or false, in earlier
    /// versions).
    #[serde(alias = "fluorescence")]
    pub relaxation: Relaxation,
    /// Rayleigh (coherent) scattering (`coherent` in earlier versions).
    #[serde(alias = "coherent")]
    pub rayleigh: bool,
    /// Incoherent scattering model.
    pub compton: ComptonModel,
    /// Sauter's angular distribution for photoelectrons (else the photon's direction).
    pub photoelectron_angular: bool,
    /// Photon cutoff, eV.
    pub photon_cutoff_ev: f64,
    /// Higher cutoffs in some materials (eV, by built-in material name).
    pub material_cutoffs_ev: std::collections::BTreeMap<String, f64>,
    /// The medium scored in: `"medium"` (each voxel's, D_m,m) or `"water"` (D_w,m);
    /// `kerma_to` in earlier versions.
    #[serde(alias = "kerma_to")]
    pub dose_to: DoseTo,
    /// Tracking method.
    pub tracking: Tracking,
    /// Electron and positron transport (`[physics.electrons]`, `transport = true` for coupled
    /// photon-electron transport).
    pub electrons: crate::physics::electron::ElectronOptions,
}

impl PhysicsSpec {
    /// Reads the section, laying its `preset` (if any) under the keys it gives: what
    /// [`Simulation`](super::super::Simulation) uses for `[physics]`. (A `PhysicsSpec`
    /// deserialized on its own records a preset without applying it.)
    pub(crate) fn with_preset<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut table = toml::Table::deserialize(d)?;
        if let Some(name) = table.get("preset") {
            let preset: Preset = name.clone().try_into().map_err(|_| {
                D::Error::custom(format!("preset {name}: expected one of {}", Preset::NAMES))
            })?;
            for (key, value) in preset.table() {
                // The earlier names of two keys count as the keys themselves.
                let alias = match key.as_str() {
                    "rayleigh" => Some("coherent"),
                    "relaxation" => Some("fluorescence"),
                    _ => None,
                };
                if alias.is_some_and(|a| table.contains_key(a)) {
                    continue;
                }
                match (table.get_mut(&key), value) {
                    (Some(toml::Value::Table(mine)), toml::Value::Table(theirs)) => {
                        for (k, v) in theirs {
                            mine.entry(k).or_insert(v);
                        }
                    }
                    (Some(_), _) => {}
                    (None, value) => {
                        table.insert(key, value);
                    }
                }
            }
        }
        // Read again from text, so that an error shows the key and its value.
        let text = toml::to_string(&table).map_err(D::Error::custom)?;
        toml::from_str(&text).map_err(|e: toml::de::Error| {
            D::Error::custom(format!(
                "[physics] (with any preset laid under it): {}",
                e.to_string().trim_end()
            ))
        })
    }
}

impl PhysicsSpec {
    /// The options a preset gives (with the defaults for what it does not set).
    pub fn preset(preset: Preset) -> Self {
        let mut table = toml::Table::new();
        if let Ok(name) = toml::Value::try_from(preset) {
            table.insert("preset".into(), name);
        }
        // The preset's own table always reads.
        Self::with_preset(toml::Value::Table(table)).unwrap_or_default()
    }

    /// The run-time physics options.
    pub fn options(&self) -> PhysicsOptions {
        PhysicsOptions {
            relaxation: self.relaxation,
            rayleigh: self.rayleigh,
            compton: self.compton,
            photoelectron_angular: self.photoelectron_angular,
            photon_cutoff_ev: self.photon_cutoff_ev,
            material_cutoffs_ev: self.material_cutoffs_ev.clone(),
            dose_to: self.dose_to,
            electrons: self.electrons.clone(),
        }
    }
}

impl Default for PhysicsSpec {
    fn default() -> Self {
        let p = PhysicsOptions::default();
        Self {
            preset: None,
            relaxation: p.relaxation,
            rayleigh: p.rayleigh,
            compton: p.compton,
            photoelectron_angular: p.photoelectron_angular,
            photon_cutoff_ev: p.photon_cutoff_ev,
            material_cutoffs_ev: p.material_cutoffs_ev,
            dose_to: p.dose_to,
            tracking: Tracking::Auto,
            electrons: p.electrons,
        }
    }
}
