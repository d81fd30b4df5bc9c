//! Physics switches and cutoffs of a run.

use super::electron::ElectronOptions;

/// How incoherent (Compton) scattering is modelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ComptonModel {
    /// Klein-Nishina scattering on free electrons at rest: Z times the Klein-Nishina cross
    /// section per atom, angles and energies from the Klein-Nishina formula. EGSnrc's
    /// `Bound Compton scattering = Off` (IBCMP = 0), DOSXYZnrc's classic default.
    Free,
    /// Klein-Nishina weighted by the incoherent scattering function S(x, Z)/Z (Waller-Hartree
    /// binding): XCOM's incoherent cross sections, angles rejected with S(x, Z)/Z, the scattered
    /// photon's energy still Compton's formula. EGSnrc's `Bound Compton scattering = Norej`
    /// comes closest (it takes the total cross section from the same data; EGSnrc's `On` adds
    /// Doppler broadening from shell Compton profiles, which hope-mc does not model yet).
    #[default]
    Bound,
}

impl ComptonModel {
    /// The names the file format takes.
    pub const NAMES: &'static str = "free, bound";
}

/// What happens after photoabsorption leaves a vacancy in an inner shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Relaxation {
    /// No fluorescence: the photon's whole energy is given to the photoelectron (or deposited).
    /// EGSnrc's `Atomic relaxations = Off` (IEDGFL = 0).
    None,
    /// K-shell fluorescence only; vacancies in other shells deposit their energy on the spot.
    K,
    /// K- and L-shell fluorescence, and the cascade: the vacancy that a K line leaves in an L
    /// subshell may emit an L line in turn. Auger electrons are not followed (their energy,
    /// below 90 keV for any element, is deposited on the spot), nor the L lines that follow a
    /// KLL Auger transition; M-shell lines (below 4 keV for Z < 80) are deposited. EGSnrc's
    /// `Atomic relaxations = On` with EADL data treats the whole cascade.
    #[default]
    Full,
}

impl Relaxation {
    /// The names the file format takes (`true` and `false` are also read, as `full` and
    /// `none`: the `fluorescence` switch of earlier versions).
    pub const NAMES: &'static str = "none, k, full";
}

impl<'de> serde::Deserialize<'de> for Relaxation {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Relaxation;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "one of {} (or true/false)", Relaxation::NAMES)
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Relaxation, E> {
                Ok(if v { Relaxation::Full } else { Relaxation::None })
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Relaxation, E> {
                match v {
                    "none" => Ok(Relaxation::None),
                    "k" => Ok(Relaxation::K),
                    "full" => Ok(Relaxation::Full),
                    other => Err(E::invalid_value(serde::de::Unexpected::Str(other), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// Physics switches and cutoffs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PhysicsOptions {
    /// Atomic relaxation after photoabsorption (`fluorescence` in earlier versions, a
    /// boolean: true is `full`, false is `none`).
    #[serde(alias = "fluorescence")]
    pub relaxation: Relaxation,
    /// Transport Rayleigh (coherent) scattering; when false it is left out of the attenuation
    /// too (`coherent` in earlier versions). EGSnrc's `Rayleigh scattering`.
    #[serde(alias = "coherent")]
    pub rayleigh: bool,
    /// Incoherent scattering model.
    pub compton: ComptonModel,
    /// Photoelectrons leave at an angle sampled from Sauter's distribution (EGSnrc's
    /// `Photoelectron angular sampling = On`, IPHTER = 1); when false they take the photon's
    /// direction. Matters only with electron transport.
    pub photoelectron_angular: bool,
    /// Photons below this energy (eV) are absorbed where they are.
    pub photon_cutoff_ev: f64,
    /// Higher cutoffs (eV) in some materials, by material name: a photon whose energy falls
    /// below its material's cutoff after an interaction there deposits it on the spot.
    pub material_cutoffs_ev: std::collections::BTreeMap<String, f64>,
    /// Electron and positron transport (off: the kerma approximation).
    pub electrons: ElectronOptions,
}

impl Default for PhysicsOptions {
    fn default() -> Self {
        Self {
            relaxation: Relaxation::Full,
            rayleigh: true,
            compton: ComptonModel::Bound,
            photoelectron_angular: true,
            photon_cutoff_ev: 1.0e3,
            material_cutoffs_ev: std::collections::BTreeMap::new(),
            electrons: ElectronOptions::default(),
        }
    }
}
