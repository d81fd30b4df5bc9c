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

/// The medium the dose (or kerma) is scored in: each voxel's own, or a small mass of water
/// placed there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DoseTo {
    /// Each voxel's own medium: D_m,m (`"local"` in earlier versions).
    #[default]
    #[serde(alias = "local")]
    Medium,
    /// Water, in every voxel: D_w,m, the dose to a small mass of water in the medium's
    /// radiation field.
    /// - Kerma tally (no electron transport): water's mu_en/rho in every voxel, the collision
    ///   kerma to water in the medium's photon fluence (large-cavity theory; exact for the
    ///   track-length estimator, since the local fluence's spectrum weights the ratio).
    /// - Electron transport (the analog tally): every energy a charged particle loses in a
    ///   medium is scored as what it would lose in water over the same slowing down, the
    ///   energy W(E1) - W(E2) with W(E) the integral of (S/rho)_w / (S/rho)_m from 0 to E, the
    ///   restricted stopping powers of this run (the medium's at its voxel's density, water's at
    ///   1 g/cm^3; Spencer-Attix's small-cavity ratio evaluated on the fly over the local electron
    ///   spectrum, the approach of Siebert and Thomas, Phys. Med. Biol. 42 (1997) 2461, applied
    ///   per step); a photon absorbed below its cutoff counts with water's mu_en/rho over the
    ///   medium's.
    Water,
}

impl DoseTo {
    /// The names the file format takes.
    pub const NAMES: &'static str = "medium, water";
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
    /// The medium the dose or kerma is scored in (`dose_to` in the file, `kerma_to` in earlier
    /// versions): each voxel's own, or water.
    #[serde(alias = "kerma_to")]
    pub dose_to: DoseTo,
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
            dose_to: DoseTo::Medium,
            electrons: ElectronOptions::default(),
        }
    }
}
