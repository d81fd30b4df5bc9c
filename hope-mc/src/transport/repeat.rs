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
        let key = |p: &Photon, v: usize| {
            (
                self.mat[v],
                self.emat.get(v).copied(),
                self.rho[v].to_bits(),
                p.energy.to_bits(),
                p.dir.map(f64::to_bits),
            )
        };
        // Groups are runs of equal keys after a stable sort (deterministic, n log n).
        pending.sort_by_key(|(p, v)| key(p, *v));
        for group in pending.chunk_by(|a, b| key(&a.0, a.1) == key(&b.0, b.1)) {
            let (p0, v0) = group[0];
            let it = self
                .physics
                .interact(usize::from(self.mat[v0]), p0.energy, rng);
            self.share(group, it, st, rng);
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
        // The electron's kinetic energy and direction, and what the photon does, shared (one copy
        // alone: nothing to share; the usual transport, range rejection included).
        let shared = match it {
            _ if group.len() < 2 => None,
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
                st.follow(&p);
                if self.apply(&mut p, v, it, st, rng) {
                    st.stack.push(p);
                }
            }
            return;
        };
        let mut track: Option<Track> = None;
        for &(p, v) in group {
            st.follow(&p);
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
            e.split_line = p.split_line;
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
                        d.split_line = p.split_line;
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
            // Stopped where the recorded particle stopped: in the same medium, as there (else
            // the usual transport decides, which never stops a particle in a void).
            End::Stop => match self.lattice.cell_at(&p.pos) {
                Some(v) if self.emat[v] == track.emat && self.rho[v] == track.rho => {
                    self.stop_charged(&p, v, rng, st);
                }
                Some(_) => {
                    self.track_charged(p, rng, st);
                }
                None => self.escape_charged(st, &p),
            },
            // The usual transport decides (range rejection at this point included).
            End::Analog | End::Open => {
                self.track_charged(p, rng, st);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::physics::electron::ElectronOptions;
    use crate::{Material, Phantom, PhysicsOptions, RunOptions};

    /// The dose-weighted mean depth (cm) of what `st` holds, on a lattice of one column.
    fn mean_depth(st: &mut BatchState, dz: f64) -> f64 {
        let (mut sum, mut w) = (0.0, 0.0);
        for (c, s) in st.analog.iter_mut().enumerate() {
            s.flush();
            let k = (c >> 6) * 4 + ((c >> 4) & 3);
            sum += s.sum * (k as f64 + 0.5) * dz;
            w += s.sum;
        }
        sum / w
    }

    /// Review of issue 24: a recorded step that met a boundary at the recording's point used to
    /// be left out, and replays resampled it: replays missed the steps that head towards the
    /// recording's boundary (a bias). A 1 MeV electron recorded 0.5 mm before water turns to
    /// lung, heading into it, and replayed 8 mm before, deposits as deep as the usual transport
    /// started at the replay's point.
    #[test]
    fn a_replay_deposits_where_the_usual_transport_does_even_when_the_recording_met_a_boundary() {
        let dz = 0.005;
        let n_z = 400;
        let grid = hope_core::Grid::new([1, 1, n_z], [100.0, 100.0, dz * 10.0]).unwrap();
        let mats = vec![
            Material::builtin("water").unwrap(),
            Material::builtin("lung_icru44").unwrap(),
        ];
        let material: Vec<u16> = (0..n_z).map(|k| u16::from(k >= 200)).collect();
        let density: Vec<f32> = (0..n_z)
            .map(|k| if k >= 200 { 0.26 } else { 1.0 })
            .collect();
        let phantom = Phantom::new(grid, mats, material, density).unwrap();
        let options = RunOptions {
            physics: PhysicsOptions {
                electrons: ElectronOptions {
                    transport: true,
                    range_rejection: false,
                    ..ElectronOptions::default()
                },
                ..PhysicsOptions::default()
            },
            ..RunOptions::default()
        };
        let t = Transport::new(phantom, options).unwrap();
        let cells = t.lattice.cells();
        let (mut replayed, mut analog) = (BatchState::new(cells), BatchState::new(cells));
        let mut rng = Rng::for_batch(17, 0);
        let (near, far) = ([5.0, 5.0, 0.95], [5.0, 5.0, 0.2]);
        let n = 20_000;
        let mut scratch = BatchState::new(cells);
        for i in 0..n {
            for st in [&mut replayed, &mut analog, &mut scratch] {
                st.history = i + 1;
            }
            let v = t.lattice.cell_at(&near).unwrap();
            let mut rec = Track::new(-1, t.emat[v], t.rho[v]);
            let e = |pos| Photon::secondary(pos, [0.0, 0.0, 1.0], 1e6, -1);
            t.track_charged_recorded(e(near), &mut rng, &mut scratch, Some(&mut rec));
            scratch.stack.clear();
            t.replay(&rec, e(far), &mut replayed, &mut rng);
            t.track_charged(e(far), &mut rng, &mut analog);
            // Secondaries (delta rays below the recording, bremsstrahlung) are left out of both.
            replayed.stack.clear();
            analog.stack.clear();
        }
        let (r, a) = (mean_depth(&mut replayed, dz), mean_depth(&mut analog, dz));
        // Statistical spread of the mean depth: about 0.1 cm / sqrt(20,000) = 0.0007 cm each.
        assert!(
            (r - a).abs() < 0.004,
            "mean depth of the deposits: replayed {r:.4} cm, usual transport {a:.4} cm"
        );
        assert!(a > 0.25 && a < 0.5, "{a}");
    }
}
