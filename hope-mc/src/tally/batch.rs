//! The explicit scoring object of the tracking loop: one worker's scores for one batch at a time
//! (history-by-history sums per voxel, energy totals, the particle stack), and the exact
//! fixed-point accumulation of finished batches.
//!
//! The tracking loop (`transport`) only reports events to [`BatchState`]; what is scored from
//! them is decided here:
//! - [`BatchState::begin_history`]: a history starts, with the energy its source emitted and
//!   the part absorbed in the source itself;
//! - [`BatchState::track`]: a photon crossed `length_cm` of a scoring cell, with the collision
//!   kerma per unit length of its material at its energy (the track-length estimator scores
//!   their product; a fluence estimator would score the length);
//! - [`BatchState::deposit`]: energy deposited at a point of a cell (the analog estimator);
//! - [`BatchState::escape`]: a photon left the phantom.
//!
//! A new estimator built on these events is a field here and a line in each event; the tracking
//! loop does not change.

use std::ops::Range;

use super::{ENERGY_SCALE, Partial, SUM_SCALE, SUM2_SCALE, Tally};
use crate::geometry::cell_index;
use crate::particle::Photon;

/// A worker's state for one batch at a time.
pub(crate) struct BatchState {
    /// Per cell, the kerma and the analog scores (apart: kerma is scored in many voxels per
    /// history, analog in a few).
    pub(crate) kerma: Vec<Score>,
    pub(crate) analog: Vec<Score>,
    /// The history being run, counted from 1 within the batch.
    pub(crate) history: u32,
    /// The statistical weight of the current particle (its history's, 1 but for weighted
    /// sources, times its own, 1 but under variance reduction): everything scored is multiplied
    /// by it.
    pub(crate) weight: f64,
    /// The current history's weight.
    pub(crate) history_weight: f64,
    /// The current particle's weight relative to its history's: what its secondaries inherit.
    pub(crate) particle_weight: f32,
    /// Whether the current particle is of a split photon's line (`Photon::split_line`), which
    /// its secondaries inherit.
    pub(crate) particle_split: bool,
    pub(crate) emitted: f64,
    pub(crate) deposited: f64,
    pub(crate) escaped: f64,
    /// Energy absorbed in the source itself.
    pub(crate) in_source: f64,
    pub(crate) uncollided: u64,
    pub(crate) stack: Vec<Photon>,
    /// Split copies waiting at their first interaction, with their voxels (history
    /// repetition resolves them together once the stack is empty).
    pub(crate) pending: Vec<(Photon, usize)>,
    /// A phase-space scoring plane and its crossings in this batch, when one is scored.
    pub(crate) plane: Option<super::crossings::PlaneTally>,
}

/// One voxel's score in a batch: the current history's contribution and the sums over the
/// batch's earlier histories of the contributions and of their squares, in one 24-byte record so
/// that scoring touches one place in memory. The contribution is moved into the sums when a later
/// history scores here (or when the batch ends), the history-by-history method of Sempau et al.
/// (2001) and Walters et al. (2002), without a list of touched voxels. The sums are f64 in history
/// order (deterministic within the batch), moved into exact fixed point when the batch ends.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Score {
    pub(crate) sum: f64,
    pub(crate) sum2: f64,
    pub(crate) temp: f32,
    /// The history `temp` belongs to (0: none).
    pub(crate) last: u32,
}

impl Score {
    #[inline]
    pub(crate) fn add(&mut self, history: u32, value: f32) {
        if self.last != history {
            self.flush();
            self.last = history;
        }
        self.temp += value;
    }

    #[inline]
    pub(crate) fn flush(&mut self) {
        let x = f64::from(std::mem::take(&mut self.temp));
        self.sum += x;
        self.sum2 += x * x;
    }
}

impl BatchState {
    pub(crate) fn new(n: usize) -> Self {
        Self {
            kerma: vec![Score::default(); n],
            analog: vec![Score::default(); n],
            history: 0,
            weight: 1.0,
            history_weight: 1.0,
            particle_weight: 1.0,
            particle_split: false,
            emitted: 0.0,
            deposited: 0.0,
            escaped: 0.0,
            in_source: 0.0,
            uncollided: 0,
            stack: Vec::new(),
            pending: Vec::new(),
            plane: None,
        }
    }

    /// Deposits `energy` (eV, the energy balance's) that the dose counts as `scored` (for dose
    /// to water: what water would have absorbed).
    #[inline]
    pub(crate) fn deposit_as(&mut self, v: usize, energy: f64, scored: f64, mass_g: f64) {
        if energy <= 0.0 {
            return;
        }
        self.deposited += energy * self.weight;
        self.analog[v].add(
            self.history,
            (scored * self.weight / mass_g.max(1e-300)) as f32,
        );
    }

    /// A photon crossed `length_cm` of cell `v`, where its collision kerma per unit track
    /// length is `kerma_per_cm` (eV/g per cm: E mu_en/rho rho / (rho V)).
    #[inline]
    pub(crate) fn track(&mut self, v: usize, length_cm: f64, kerma_per_cm: f64) {
        let value = length_cm * kerma_per_cm * self.weight;
        if value > 0.0 {
            self.kerma[v].add(self.history, value as f32);
        }
    }

    /// A history starts: its source emitted `emitted` eV, of which `absorbed` stayed in the
    /// source itself (a seed's capsule).
    #[inline]
    pub(crate) fn begin_history(&mut self, emitted: f64, absorbed: f64, weight: f64) {
        self.history += 1;
        self.weight = weight;
        self.history_weight = weight;
        self.particle_weight = 1.0;
        self.particle_split = false;
        self.emitted += emitted * weight;
        self.in_source += absorbed * weight;
    }

    /// The particle `p` (its weight relative to the history's, its line) is now the one being
    /// followed.
    #[inline]
    pub(crate) fn follow(&mut self, p: &Photon) {
        self.particle_weight = p.weight;
        self.particle_split = p.split_line;
        self.weight = self.history_weight * f64::from(p.weight);
    }

    /// Puts a secondary of the current particle on the stack: it inherits the particle's weight
    /// and line.
    #[inline]
    pub(crate) fn push(&mut self, mut p: Photon) {
        p.weight = self.particle_weight;
        p.split_line = self.particle_split;
        self.stack.push(p);
    }

    pub(crate) fn escape(&mut self, p: &Photon) {
        self.escaped += p.energy * self.weight;
        if p.primary_unscattered {
            self.uncollided += 1;
        }
    }
}

/// Sums over batches in exact 128-bit fixed point (2^-40 eV/g for the sums, 2^-20 (eV/g)^2 for
/// the sums of squares, 2^-20 eV for the energy totals), per cell; integer addition is exact,
/// associative and commutative, so however batches are grouped (threads, machines, runs) the
/// sums are the same bits.
pub(crate) struct Accumulator {
    pub(crate) histories: u64,
    pub(crate) kerma: Tally,
    pub(crate) analog: Tally,
    pub(crate) energy: [i128; 4],
    pub(crate) uncollided: u64,
}

impl Accumulator {
    pub(crate) fn new(n: usize) -> Self {
        Self {
            histories: 0,
            kerma: Tally::new(n),
            analog: Tally::new(n),
            energy: [0; 4],
            uncollided: 0,
        }
    }

    /// Adds a finished batch and zeroes its sums for the next one.
    pub(crate) fn add_batch(&mut self, st: &mut BatchState, count: u64) {
        for (scores, tally) in [
            (&mut st.kerma, &mut self.kerma),
            (&mut st.analog, &mut self.analog),
        ] {
            for (v, s) in scores.iter_mut().enumerate() {
                if s.last != 0 {
                    s.flush();
                    let Score { sum, sum2, .. } = std::mem::take(s);
                    tally.sum[v] = tally.sum[v].saturating_add(fixed(sum * SUM_SCALE));
                    tally.sum2[v] = tally.sum2[v].saturating_add(fixed(sum2 * SUM2_SCALE));
                }
            }
        }
        st.history = 0;
        let energy =
            [st.emitted, st.deposited, st.escaped, st.in_source].map(|e| fixed(e * ENERGY_SCALE));
        for (a, b) in self.energy.iter_mut().zip(energy) {
            *a = a.saturating_add(b);
        }
        self.histories += count;
        self.uncollided += st.uncollided;
        (
            st.emitted,
            st.deposited,
            st.escaped,
            st.in_source,
            st.uncollided,
        ) = (0.0, 0.0, 0.0, 0.0, 0);
    }

    /// Adds another worker's sums.
    pub(crate) fn add(&mut self, other: Accumulator) {
        if self.kerma.is_empty() {
            *self = other;
            return;
        }
        self.histories += other.histories;
        self.kerma.add(&other.kerma);
        self.analog.add(&other.analog);
        for (a, b) in self.energy.iter_mut().zip(other.energy) {
            *a = a.saturating_add(b);
        }
        self.uncollided += other.uncollided;
    }

    /// The sums in voxel order.
    pub(crate) fn into_partial(
        self,
        batches: Range<u64>,
        dims: [usize; 3],
        blocks: [usize; 3],
    ) -> Partial {
        let n = dims[0] * dims[1] * dims[2];
        let reorder = |t: &Tally| {
            let mut out = Tally::new(n);
            let cells = (0..dims[2]).flat_map(|k| {
                (0..dims[1])
                    .flat_map(move |j| (0..dims[0]).map(move |i| cell_index(blocks, i, j, k)))
            });
            for (v, c) in cells.enumerate() {
                out.sum[v] = t.sum[c];
                out.sum2[v] = t.sum2[c];
            }
            out
        };
        Partial {
            batches,
            histories: self.histories,
            analog: reorder(&self.analog),
            kerma: reorder(&self.kerma),
            energy: self.energy,
            uncollided: self.uncollided,
        }
    }
}

/// `x` rounded to an integer (through i64 when it fits: the usual case, and much faster).
#[inline]
pub(crate) fn fixed(x: f64) -> i128 {
    if x.abs() < 9.0e18 {
        // Truncation is one instruction (round() is a library call on the x86_64 baseline);
        // then half away from zero, as round() does.
        let t = x as i64;
        let frac = x - t as f64;
        i128::from(if frac >= 0.5 {
            t + 1
        } else if frac <= -0.5 {
            t - 1
        } else {
            t
        })
    } else {
        x.round() as i128
    }
}
