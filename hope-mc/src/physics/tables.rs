//! The energy grids of the physics tables: nodes uniform in ln E, and linear interpolation on
//! them.

/// Lowest tabulated energy, eV.
pub const E_MIN: f64 = 1.0e3;
/// Highest tabulated energy, eV.
pub const E_MAX: f64 = 100.0e6;
pub(crate) const N_GRID: usize = 4096;

/// The uniform ln(E) grid.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EnergyGrid {
    ln_min: f64,
    inv_step: f64,
    /// The highest position, just below the last node.
    top: f64,
}

impl EnergyGrid {
    pub(crate) fn new() -> Self {
        Self::spanning(E_MIN, E_MAX, N_GRID)
    }

    /// `n` nodes uniform in ln E from `min` to `max` (eV).
    pub(crate) fn spanning(min: f64, max: f64, n: usize) -> Self {
        Self {
            ln_min: min.ln(),
            inv_step: (n - 1) as f64 / (max / min).ln(),
            top: (n - 1) as f64 - 1e-9,
        }
    }

    /// The energy of node `i`.
    pub(crate) fn energy(&self, i: usize) -> f64 {
        (self.ln_min + i as f64 / self.inv_step).exp()
    }

    /// The energy at a fractional position `x` (node index plus fraction).
    pub(crate) fn energy_at(&self, x: f64) -> f64 {
        (self.ln_min + x / self.inv_step).exp()
    }

    /// Grid nodes per unit of ln(energy).
    #[inline]
    pub(crate) fn inv_step(&self) -> f64 {
        self.inv_step
    }

    /// (index, fraction) for linear interpolation in ln E.
    #[inline]
    pub(crate) fn locate(&self, e: f64) -> (usize, f64) {
        let t = ((e.ln() - self.ln_min) * self.inv_step).clamp(0.0, self.top);
        let i = t as usize;
        (i, t - i as f64)
    }
}

#[inline]
pub(crate) fn interp(table: &[f64], (i, f): (usize, f64)) -> f64 {
    table[i] + (table[i + 1] - table[i]) * f
}
