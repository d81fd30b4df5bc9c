//! History repetition (issue 24): the copies of a split source photon that first interact in the
//! same medium share that interaction and the track of the electron it sets in motion. The track
//! is simulated once, at the first copy's point, and recorded step by step (direction, energy and
//! range at the start, hinge, turn, energy at the hinge and at the end, hard events and the
//! secondaries they made; a delta ray above the cutoff is followed at once and recorded with its
//! parent); at every other copy's point it is replayed, translated, which costs voxel lookups and
//! one deposit per voxel instead of sampling. The recorded particle is followed to its end without
//! range rejection (which depends on where it is); each replay applies range rejection at its own
//! points.
//!
//! Exactness. Condensed-history transport in one medium does not depend on where the particle is,
//! only on its state (energy, direction) and the medium; a recorded track is a sample of the
//! process from its start state, and translated it is a sample from the same state at another
//! point, for as long as the medium along it is the same. The replay checks that at every step
//! (the voxels at the step's start and, for steps that cross voxels, along its segments through
//! the same walk the transport uses); where the medium differs, the particle leaves the phantom,
//! range rejection decides otherwise at the new point, or the recording stops (the recorded
//! particle met a boundary), the replayed particle is handed to the usual transport in the state
//! it has reached. The copies' tracks are correlated (that is the price), each is distributed as
//! an independent one: the expected dose in every voxel is unchanged.

use super::Transport;
use super::charged::Segment;
use super::track::{End, Track};
use crate::particle::Photon;
use crate::particle::{isotropic, rotate};
use crate::physics::Interaction;
use crate::physics::electron::sample_sauter;
use crate::rng::Rng;
use crate::tally::batch::BatchState;

impl Transport {
    /// Whether split copies wait at their first interaction to share it (history repetition).
    #[inline]
    pub(super) fn repeats_histories(&self, st: &BatchState) -> bool {
        self.options.variance_reduction.history_repetition
            && self.electrons.is_some()
            && self.scoring.is_none()
            && st.plane.is_none()
    }

    /// Resolves the copies waiting at their first interaction: grouped by medium (and by the
    /// photon they are copies of), each group shares one sampled interaction and one electron
    /// track, simulated at the first copy's point and replayed at the others'.
    pub(super) fn resolve_pending(&self, st: &mut BatchState, rng: &mut Rng) {
        let mut pending = std::mem::take(&mut st.pending);
        while !pending.is_empty() {
            let (p0, v0) = pending[0];
            let key = |p: &Photon, v: usize| {
                (
                    self.mat[v],
                    self.emat.get(v).copied(),
                    self.rho[v].to_bits(),
                    p.energy.to_bits(),
                    p.dir.map(f64::to_bits),
                )
            };
            let k0 = key(&p0, v0);
            let (group, rest): (Vec<_>, Vec<_>) =
                pending.into_iter().partition(|(p, v)| key(p, *v) == k0);
            pending = rest;
            let m = usize::from(self.mat[v0]);
            let it = self.physics.interact(m, p0.energy, rng);
            self.share(&group, it, st, rng);
        }
        // (The vector's memory goes back for the next history.)
        pending.clear();
        st.pending = pending;
    }

    /// Applies interaction `it` to every copy of `group` (same medium, energy and direction):
    /// a Compton or photoelectric electron is tracked once and replayed; anything else is
    /// applied to each copy as it is.
    fn share(
        &self,
        group: &[(Photon, usize)],
        it: Interaction,
        st: &mut BatchState,
        rng: &mut Rng,
    ) {
        let p0 = group[0].0;
        let cutoff = self
            .electrons
            .as_ref()
            .map_or(f64::INFINITY, |e| e.options.cutoff_ev);
        // The electron's kinetic energy and direction, and what the photon does, shared.
        let shared = match it {
            Interaction::Scatter {
                cos,
                energy,
                deposit,
            } if deposit >= cutoff => {
                let dir = rotate(&p0.dir, cos, rng);
                let d = [0, 1, 2].map(|a| p0.energy * p0.dir[a] - energy * dir[a]);
                Some((deposit, d, Some((dir, energy))))
            }
            Interaction::Absorb { deposit, .. } if deposit >= cutoff => {
                let d = if self.physics.options.photoelectron_angular {
                    rotate(&p0.dir, sample_sauter(deposit, rng), rng)
                } else {
                    p0.dir
                };
                Some((deposit, d, None))
            }
            _ => None,
        }
        .and_then(|(t, d, scattered)| {
            let n = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
            (n > 0.0).then(|| (t, d.map(|c| c / n), scattered))
        });
        let Some((t, dir, scattered)) = shared else {
            // Nothing to share (Rayleigh, pair production, electrons below their cutoff): the
            // interaction, sampled once, applied to each copy.
            for &(mut p, v) in group {
                p.split_copy = false;
                st.follow(p.weight);
                if self.apply(&mut p, v, it, st, rng) {
                    st.stack.push(p);
                }
            }
            return;
        };
        let mut track: Option<Track> = None;
        for &(p, v) in group {
            st.follow(p.weight);
            // The photon's side: the scattered photon (rouletted), or fluorescence.
            match (scattered, it) {
                (Some((d, e)), _) => {
                    let mut q = p;
                    q.dir = d;
                    q.energy = e;
                    q.split_copy = false;
                    self.push_photon(st, q, rng);
                }
                (None, Interaction::Absorb { fluorescence, .. }) => {
                    for f in fluorescence.into_iter().flatten() {
                        self.push_photon(st, Photon::secondary(p.pos, isotropic(rng), f, 0), rng);
                    }
                }
                _ => {}
            }
            let mut e = Photon::secondary(p.pos, dir, t, -1);
            e.weight = p.weight;
            match &track {
                None => {
                    let mut rec = Track::new(-1, self.emat[v], self.rho[v]);
                    self.track_charged_recorded(e, rng, st, Some(&mut rec));
                    track = Some(rec);
                }
                Some(rec) => self.replay(rec, e, st, rng),
            }
        }
    }

    /// Deposits what a replay has held back for its voxel `here`.
    #[inline]
    fn flush(
        &self,
        st: &mut BatchState,
        here: &mut Option<(usize, [f64; 3], [f64; 3])>,
        held: &mut (f64, f64),
        pos: &[f64; 3],
    ) {
        if let Some((v, ..)) = *here
            && held.0 > 0.0
        {
            self.deposit_as(st, v, pos, held.0, held.1);
        }
        *held = (0.0, 0.0);
    }

    /// Replays `track` (recorded from a particle in `track`'s start state) for particle `p`,
    /// which is in the same state at another point.
    fn replay(&self, track: &Track, mut p: Photon, st: &mut BatchState, rng: &mut Rng) {
        let Some(ep) = &self.electrons else {
            return;
        };
        let o = &ep.options;
        let q = usize::from(track.charge > 0);
        p.charge = track.charge;
        let m = usize::from(track.emat);
        // The replayed particle's voxel (known to hold the recorded medium) and its box, and the
        // energy deposited there since it entered (one deposit per voxel, not per step).
        let mut here: Option<(usize, [f64; 3], [f64; 3])> = None;
        let mut held = (0.0f64, 0.0f64);
        let inside = |lo: &[f64; 3], hi: &[f64; 3], x: &[f64; 3]| {
            (0..3).all(|a| x[a] >= lo[a] && x[a] < hi[a])
        };
        for step in &track.steps {
            // The replayed particle is in the recorded step's start state, at its own point.
            let (v, lo, hi) = match here {
                Some((v, lo, hi)) if inside(&lo, &hi, &p.pos) => (v, lo, hi),
                _ => {
                    self.flush(st, &mut here, &mut held, &p.pos);
                    let Some((v, lo, hi)) = self.lattice.cell_box(&p.pos) else {
                        self.escape_charged(st, &p);
                        return;
                    };
                    if self.emat[v] != track.emat || self.rho[v] != track.rho {
                        self.track_charged(p, rng, st);
                        return;
                    }
                    here = Some((v, lo, hi));
                    (v, lo, hi)
                }
            };
            if o.range_rejection && step.energy < o.range_rejection_max_ev {
                let d = (0..3)
                    .map(|a| (p.pos[a] - lo[a]).min(hi[a] - p.pos[a]))
                    .fold(f64::INFINITY, f64::min);
                if step.range_cm < d {
                    self.flush(st, &mut here, &mut held, &p.pos);
                    self.stop_charged(&p, v, rng, st);
                    return;
                }
            }
            let h = [0, 1, 2].map(|a| p.pos[a] + step.hinge * step.dir[a]);
            let end = [0, 1, 2].map(|a| h[a] + (step.length - step.hinge) * step.turned[a]);
            if inside(&lo, &hi, &h) && inside(&lo, &hi, &end) {
                if step.stopped_at_hinge {
                    self.flush(st, &mut here, &mut held, &p.pos);
                    p.pos = h;
                    self.stop_charged(&p, v, rng, st);
                    return;
                }
                held.0 += step.energy - step.energy_end;
                held.1 += self.scored_loss(v, q, step.energy, step.energy_end);
                p.pos = end;
                p.energy = step.energy_end;
            } else {
                // Across voxels: the transport's own walk, which stops where the medium changes.
                self.flush(st, &mut here, &mut held, &p.pos);
                here = None;
                let segments = [
                    (step.dir, step.hinge, step.energy_hinge),
                    (step.turned, step.length - step.hinge, step.energy_end),
                ];
                for (dir, len, e_to) in segments {
                    p.dir = dir;
                    let known = (!step.stopped_at_hinge).then_some(e_to);
                    let ended = self
                        .charged_segment_to(&mut p, (m, track.rho, q), len, known, st)
                        .1;
                    match ended {
                        Segment::Done => {}
                        Segment::Left => {
                            self.escape_charged(st, &p);
                            return;
                        }
                        Segment::Boundary | Segment::Stopped => {
                            self.track_charged(p, rng, st);
                            return;
                        }
                    }
                }
            }
            // The step's event: the particle's new direction and energy (the energy lost in the
            // event taken from what the particle has, which matches the record but for rounding
            // across voxels), and its secondaries.
            let lost = step.energy_end - step.after_energy;
            p.dir = step.after_dir;
            p.energy = (p.energy - lost).max(0.0);
            if step.count > 0 {
                let at = match here {
                    Some((v, lo, hi)) if inside(&lo, &hi, &p.pos) => v,
                    _ => self.lattice.cell_at(&p.pos).unwrap_or(v),
                };
                let range = step.first as usize..(step.first + step.count) as usize;
                for s in &track.secondaries[range] {
                    if let Some(sub) = &s.track {
                        // (Recorded with a normalised direction.)
                        let mut d = Photon::secondary(p.pos, s.dir, s.energy, s.charge);
                        d.weight = p.weight;
                        self.replay(sub, d, st, rng);
                    } else if s.charge == 0 {
                        self.push_photon(st, Photon::secondary(p.pos, s.dir, s.energy, 0), rng);
                    } else {
                        self.give_electron(st, at, &p.pos, s.dir, s.energy, s.charge, rng);
                    }
                }
            }
        }
        self.flush(st, &mut here, &mut held, &p.pos);
        match track.end {
            End::Done => {}
            End::Stop => match self.lattice.cell_at(&p.pos) {
                Some(v) => self.stop_charged(&p, v, rng, st),
                None => self.escape_charged(st, &p),
            },
            // The usual transport decides (range rejection at this point included).
            End::Analog | End::Open => {
                self.track_charged(p, rng, st);
            }
        }
    }
}
