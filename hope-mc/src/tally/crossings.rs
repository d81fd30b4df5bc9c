//! The crossings of a phase-space scoring plane in the batch being run (the transport records
//! them, `Transport::run_with_phase_space` writes them).

/// The plane in the local frame, and the crossings of the batch being run.
#[derive(Debug, Default)]
pub(crate) struct PlaneTally {
    /// Local z (cm) and the sign of the recorded crossings' direction.
    pub(crate) z: f64,
    pub(crate) sign: f64,
    /// The photon and the electron cutoffs (eV).
    pub(crate) cutoff: [f64; 2],
    pub(crate) crossings: Vec<Crossing>,
}

/// One particle crossing the plane (local frame).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Crossing {
    pub(crate) history: u32,
    pub(crate) charge: i8,
    pub(crate) energy: f64,
    pub(crate) pos: [f64; 3],
    pub(crate) dir: [f64; 3],
    pub(crate) weight: f64,
}
