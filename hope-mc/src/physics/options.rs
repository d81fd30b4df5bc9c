//! Physics switches and cutoffs of a run.

use super::electron::ElectronOptions;

/// Physics switches and cutoffs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PhysicsOptions {
    /// Emit K and L fluorescence photons after photoabsorption (else their energy is deposited
    /// locally).
    pub fluorescence: bool,
    /// Transport coherent scattering (else it is left out of the attenuation too).
    pub coherent: bool,
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
            fluorescence: true,
            coherent: true,
            photon_cutoff_ev: 1.0e3,
            material_cutoffs_ev: std::collections::BTreeMap::new(),
            electrons: ElectronOptions::default(),
        }
    }
}
