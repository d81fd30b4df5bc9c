//! Physics switches and cutoffs of a run.

use super::electron::ElectronOptions;
pub use crate::data::relaxation::Relaxation;

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
    /// comes closest (it takes the total cross section from the same data).
    #[default]
    Bound,
    /// The impulse approximation with Doppler broadening (EGSnrc's `Bound Compton scattering =
    /// On`, PENELOPE's model): scattering by one electron of a shell, chosen with the shell's
    /// occupation and its Compton profile up to the largest momentum the shell's binding energy
    /// allows at that angle; the electron's momentum component p_z along the scattering vector
    /// drawn from the shell's analytic profile (Brusa et al., NIM A 379 (1996) 167: the profile
    /// with J_i(0) of Biggs, Mendelsohn and Mann, 1975); the scattered energy from p_z and the
    /// angle. A scattered photon's energy is spread around Compton's line; no photon leaves with
    /// more than E - U_i. Total cross sections and mu_en/rho are the `bound` model's (XCOM's),
    /// and angles follow Klein-Nishina times the impulse approximation's S(E, theta).
    Impulse,
}

impl ComptonModel {
    /// The names the file format takes.
    pub const NAMES: &'static str = "free, bound, impulse";
}

/// The medium whose mass energy-absorption coefficient the track-length kerma uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KermaMedium {
    /// Each voxel's own medium: collision kerma to the medium (D_m,m where it equals the dose).
    #[default]
    Local,
    /// Water, in every voxel: collision kerma to a small mass of water in the medium's photon
    /// fluence (D_w,m by large-cavity theory, exact for the track-length estimator: the
    /// fluence's spectrum at each point weights the coefficients' ratio).
    Water,
}

impl KermaMedium {
    /// The names the file format takes.
    pub const NAMES: &'static str = "local, water";
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
    /// The medium of the kerma tally (`kerma_to` in the file): each voxel's own, or water.
    pub kerma_to: KermaMedium,
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
            kerma_to: KermaMedium::Local,
            electrons: ElectronOptions::default(),
        }
    }
}
