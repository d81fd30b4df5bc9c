//! Variance reduction: photon splitting with Russian roulette of the photons the split copies
//! set in motion, history repetition, and particle recycling for sources of several seeds.
//!
//! Every technique here leaves the expected dose in every voxel unchanged (it changes only how
//! many particles carry it and with what weight) and keeps the contract of the engine: a
//! history's random numbers come from its batch's stream, so results depend on the inputs and the
//! seed, not on threads or jobs. With every switch off the engine is the analog one, bit for bit.
//!
//! - Photon splitting (`photon_splitting = N`): each photon the source emits is followed as `N`
//!   independent copies of weight `1/N`. Their interactions are `N` times as many, and so are the
//!   electrons they set in motion, each of weight `1/N`: near a beam's axis, where the dose comes
//!   from the first interactions, its variance falls by about `N` for `N` times the primary
//!   photons' and their electrons' cost.
//! - History repetition (`history_repetition`, on by default): the copies that first interact in
//!   the same medium share that interaction and their electron's track, simulated once and
//!   replayed at the other copies' points (`repeat`). What makes splitting pay with electron
//!   transport.
//! - Russian roulette (`russian_roulette`, on by default): a photon of a split copy's line
//!   (weight `w/N`, `w` the split photon's) that comes out of an interaction (a scattered
//!   photon, fluorescence, bremsstrahlung, the photons of a positron's annihilation in flight;
//!   not those of annihilation at rest) survives with probability `1/N` and then has weight
//!   `w`, out of the line; otherwise it is dropped. The scattered radiation is followed once
//!   per source photon, as in the analog engine, instead of `N` times at `1/N`. Electrons are
//!   never rouletted: they carry the dose near where they start.
//! - Particle recycling (`particle_recycling`, off by default): for a source of several
//!   identical seeds, each photon leaving the seed a decay was followed in is followed from
//!   every active seed, in that seed's frame, at the seed's share of the strength (the copies'
//!   weights sum to 1). Unbiased because a seed's own transport does not depend on where the
//!   seed is: the photons leaving seed k are those leaving any seed, turned into k's frame.
//!
//! Splitting with roulette is the textbook pair (Kahn 1956; EGSnrc's uniform bremsstrahlung
//! splitting with Russian roulette of the descendants, Kawrakow, Rogers and Walters, Med Phys 31
//! (2004) 2883, for the same reason). The energy balance holds on average, not history by
//! history: a rouletted photon's energy is neither deposited nor escaped, a survivor's counts
//! `1/w` times.

use crate::particle::Photon;
use crate::rng::Rng;
use crate::tally::batch::BatchState;

/// Variance-reduction switches (see the module documentation). `VarianceReduction::default()`
/// is the analog engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VarianceReduction {
    /// Each photon the source emits is followed as this many copies of weight `1/N` (1: off).
    /// At most [`MAX_SPLITTING`].
    pub photon_splitting: u32,
    /// The copies of a split photon draw their first flights' random numbers stratified: copy
    /// `i` of `N` within `(i/N, (i+1)/N]`, so that a history's copies interact spread over depth
    /// rather than by chance (the copies together are distributed as N independent photons'
    /// first flights: unbiased).
    pub stratified: bool,
    /// History repetition: a split photon's copies that first interact in the same medium share
    /// that interaction's sampling and its electron's track, simulated once and replayed at the
    /// other copies' points (see `repeat`); where a replayed track meets another medium, leaves
    /// the phantom or outlives its recording, the electron is transported from there as usual.
    /// Acts with electron transport, on the phantom's own grid, without a phase-space plane.
    pub history_repetition: bool,
    /// Russian roulette of the photons that split copies' interactions produce (survival
    /// probability 1/N, survivors at N times the weight, that of the photon that was split).
    /// Only acts with photon splitting.
    pub russian_roulette: bool,
    /// Particle recycling for sources of several identical seeds (an eye plaque, seeds in a
    /// phantom): a decay is followed in one seed in isolation, and each photon that leaves it is
    /// followed from every active seed, turned into that seed's frame, with weight equal to the
    /// seed's share of the total strength (egs_brachy's recycling; Chamberland et al., Phys Med
    /// Biol 61:8214, 2016). The seed's own transport is done once per decay instead of once per
    /// copy. Acts only on `seeds` sources (in a phantom: with more than one seed); the seeds
    /// must not overlap (those of the COMS plaques do not). With history repetition, copies of
    /// different seeds that first interact alike may share that interaction (unbiased: each
    /// copy keeps its weight).
    pub particle_recycling: bool,
}

/// The largest photon splitting number.
/// (With a phase space's `recycle` of at most 1,000, at most about a million copies wait in
/// one history.)
pub const MAX_SPLITTING: u32 = 1_024;

impl Default for VarianceReduction {
    fn default() -> Self {
        Self {
            photon_splitting: 1,
            stratified: true,
            history_repetition: true,
            russian_roulette: true,
            particle_recycling: false,
        }
    }
}

impl VarianceReduction {
    /// Checks the values; the error names the field.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if !(1..=MAX_SPLITTING).contains(&self.photon_splitting) {
            return Err((
                "photon_splitting".into(),
                format!(
                    "{}: expected 1 (off) to {MAX_SPLITTING}",
                    self.photon_splitting
                ),
            ));
        }
        Ok(())
    }

    /// Whether every switch that changes results is off.
    pub fn is_analog(&self) -> bool {
        self.photon_splitting == 1 && !self.particle_recycling
    }

    /// Splits the source photons on `stack` (just emitted for history `history`) into their
    /// copies. The narrow-beam count (uncollided photons) keeps one copy of each, copy
    /// `history mod N`: with stratification a given copy's first flight is not distributed as a
    /// photon's (only the copies together are), so which copy counts turns with the history.
    pub(crate) fn split_source(&self, stack: &mut Vec<Photon>, history: u64) {
        let n = self.photon_splitting;
        if n <= 1 {
            return;
        }
        let w = 1.0 / n as f32;
        let counted = (history % u64::from(n)) as u32;
        for i in 0..stack.len() {
            let p = stack[i];
            if p.charge != 0 {
                continue;
            }
            for c in 0..n {
                let mut copy = p;
                copy.weight *= w;
                copy.split_copy = true;
                copy.split_line = true;
                copy.primary_unscattered = p.primary_unscattered && c == counted;
                if self.stratified {
                    // (n <= MAX_SPLITTING < 2^16.)
                    copy.stratum = (c + 1) as u16;
                }
                if c == 0 {
                    stack[i] = copy;
                } else {
                    stack.push(copy);
                }
            }
        }
    }

    /// The random number, uniform in (0, 1], of a photon's next flight: within its stratum for
    /// a stratified copy's first flight (and the stratum is then spent).
    #[inline]
    pub(crate) fn flight_uniform(&self, p: &mut Photon, rng: &mut Rng) -> f64 {
        let u = rng.uniform_open();
        if p.stratum == 0 {
            return u;
        }
        let k = f64::from(p.stratum - 1);
        p.stratum = 0;
        (k + u) / f64::from(self.photon_splitting)
    }

    /// Russian roulette of a photon of the current particle's weight and line that an
    /// interaction just produced or scattered: its new weight and line when it goes on, None
    /// when it is dropped. Only a split photon's line is rouletted: it goes on with probability
    /// 1/N (N the splitting), at N times the weight, out of the line (so at the weight of the
    /// photon that was split: 1, or a recycled seed's share). Anything else goes on as it is and
    /// draws no random number.
    #[inline]
    pub(crate) fn roulette(&self, st: &mut BatchState, rng: &mut Rng) -> Option<(f32, bool)> {
        let w = st.particle_weight;
        if !self.russian_roulette || !st.particle_split {
            return Some((w, st.particle_split));
        }
        let n = self.photon_splitting.max(1);
        (rng.uniform() * f64::from(n) < 1.0).then_some((w * n as f32, false))
    }
}
