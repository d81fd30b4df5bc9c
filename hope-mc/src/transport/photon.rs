//! Photons: flights (Woodcock or boundary tracking), interactions, and the track-length kerma
//! estimator along every flight.

use super::charged::annihilate_at_rest;
use super::{Tracking, Transport, prefetch};
use crate::geometry::{Ray, ScoringGrid};
use crate::particle::{Photon, isotropic, rotate};
use crate::physics::{E_MAX, Interaction, interp};
use crate::rng::Rng;
use crate::source::Applicator;
use crate::tally::batch::BatchState;

/// The most times one history's photons are handed to the applicator.
const MAX_HANDOVERS: u32 = 100_000;

impl Transport {
    /// Puts a photon that an interaction of the current particle produced on the stack, after
    /// Russian roulette when the particle is of a split photon's line (see `variance`).
    pub(super) fn push_photon(&self, st: &mut BatchState, mut p: Photon, rng: &mut Rng) {
        if let Some((w, line)) = self.options.variance_reduction.roulette(st, rng) {
            p.weight = w;
            p.split_line = line;
            st.stack.push(p);
        }
    }

    /// Follows one photon until it is absorbed, leaves, or reaches the applicator `app` (an eye
    /// plaque in analytic geometry), which then transports it and puts what leaves it on the
    /// stack. `handovers` counts the history's handovers: past [`MAX_HANDOVERS`] (a photon caught
    /// between two surfaces by rounding) a photon is counted as escaped.
    pub(super) fn track(
        &self,
        mut p: Photon,
        rng: &mut Rng,
        st: &mut BatchState,
        app: Option<&Applicator<'_>>,
        handovers: &mut u32,
    ) {
        let cutoff = self.physics.options.photon_cutoff_ev;
        let hand_over = |p: &Photon, rng: &mut Rng, st: &mut BatchState, n: &mut u32| {
            let Some(a) = app else { return };
            *n += 1;
            // (A split history has N times the photons.)
            if *n > MAX_HANDOVERS.saturating_mul(self.options.variance_reduction.photon_splitting) {
                st.escape(p);
                return;
            }
            let first = st.stack.len();
            let absorbed = a.enter(p, rng, &mut st.stack);
            st.in_source += absorbed * st.weight;
            // What leaves the applicator carries the weight and line of what entered it.
            for q in &mut st.stack[first..] {
                q.weight = p.weight;
                q.split_line = p.split_line;
            }
        };
        loop {
            if p.energy < self.max_cutoff {
                match self.lattice.cell_at(&p.pos) {
                    Some(v) => {
                        let m = usize::from(self.mat[v]);
                        if p.energy < self.physics.materials[m].cutoff {
                            let scored = p.energy * self.physics.to_water_ratio(m, p.energy);
                            self.deposit_as(st, v, &p.pos, p.energy, scored);
                            return;
                        }
                    }
                    None if p.energy < cutoff => {
                        st.escaped += p.energy * st.weight;
                        return;
                    }
                    None => {}
                }
            }
            let to_app = app.and_then(|a| a.entry(&p.pos, &p.dir));
            let clipped = self.lattice.clip(&p.pos, &p.dir, f64::INFINITY);
            if let Some(t) = to_app.filter(|t| clipped.is_none_or(|(enter, _)| *t <= enter)) {
                // The plaque comes first (outside the voxels, or where they begin).
                for a in 0..3 {
                    p.pos[a] += t * p.dir[a];
                }
                hand_over(&p, rng, st, handovers);
                return;
            }
            let Some((enter, exit)) = clipped else {
                st.escape(&p);
                return;
            };
            for a in 0..3 {
                p.pos[a] += enter * p.dir[a];
            }
            // The flight ends at the plaque if it lies within the voxels' span.
            let to_app = to_app.map(|t| t - enter).filter(|t| *t < exit - enter);
            let span = to_app.unwrap_or(exit - enter);
            let e = p.energy.min(E_MAX);
            let at = self.physics.grid.locate(e);
            let travelled = match self.options.tracking {
                // (Auto was resolved when the transport was built.)
                Tracking::Woodcock | Tracking::Auto => {
                    let mu_max = interp(&self.majorant, at);
                    let mut travelled = 0.0;
                    let mut real = false;
                    while !real {
                        let u = self.options.variance_reduction.flight_uniform(&mut p, rng);
                        let s = -u.ln() / mu_max;
                        let seg = s.min(span - travelled);
                        let start = [
                            p.pos[0] + travelled * p.dir[0],
                            p.pos[1] + travelled * p.dir[1],
                            p.pos[2] + travelled * p.dir[2],
                        ];
                        self.score_kerma(&start, &p.dir, seg, e, at, st);
                        travelled += seg;
                        if travelled >= span {
                            break;
                        }
                        let here = [
                            p.pos[0] + travelled * p.dir[0],
                            p.pos[1] + travelled * p.dir[1],
                            p.pos[2] + travelled * p.dir[2],
                        ];
                        if let Some(v) = self.lattice.cell_at(&here) {
                            let m = usize::from(self.mat[v]);
                            let mu = interp(&self.physics.materials[m].total, at)
                                * f64::from(self.rho[v]);
                            real = rng.uniform() * mu_max < mu;
                        }
                    }
                    real.then_some(travelled)
                }
                Tracking::Boundary => {
                    let mut tau = -self
                        .options
                        .variance_reduction
                        .flight_uniform(&mut p, rng)
                        .ln();
                    let mut hit = None;
                    // On the phantom's grid, kerma is scored in the same walk.
                    let fused = self.scoring.is_none() && self.electrons.is_none();
                    let walked = self.walk(&p.pos, &p.dir, span, |v, len| {
                        let m = usize::from(self.mat[v]);
                        let rho = f64::from(self.rho[v]);
                        let mu = interp(&self.physics.materials[m].total, at) * rho;
                        // Track-length kerma per unit length in this voxel, eV/g per cm.
                        let k = e * interp(&self.physics.materials[m].score, at)
                            / self.voxel_volume_cm3;
                        if mu * len > tau {
                            let d = tau / mu;
                            if fused {
                                st.track(v, d, k);
                            }
                            hit = Some(d);
                            return Some(d);
                        }
                        tau -= mu * len;
                        if fused {
                            st.track(v, len, k);
                        }
                        None
                    });
                    if !fused {
                        self.score_kerma(&p.pos, &p.dir, walked, e, at, st);
                    }
                    hit.map(|_| walked)
                }
            };
            let Some(d) = travelled else {
                self.cross_plane(st, &p.pos, &p.dir, span, (p.energy, p.energy), 0);
                for a in 0..3 {
                    p.pos[a] += span * p.dir[a];
                }
                if to_app.is_some() {
                    hand_over(&p, rng, st, handovers);
                } else {
                    st.escape(&p);
                }
                return;
            };
            self.cross_plane(st, &p.pos, &p.dir, d, (p.energy, p.energy), 0);
            for a in 0..3 {
                p.pos[a] += d * p.dir[a];
            }
            let Some(v) = self.lattice.cell_at(&p.pos) else {
                st.escape(&p);
                return;
            };
            let m = usize::from(self.mat[v]);
            p.primary_unscattered = false;
            if p.split_copy && self.repeats_histories(st) {
                // Resolved with the history's other copies (history repetition, `repeat`).
                st.pending.push((p, v));
                return;
            }
            let it = self.physics.interact(m, p.energy, rng);
            if !self.apply(&mut p, v, it, st, rng) {
                return;
            }
        }
    }

    /// Applies interaction `it` to photon `p` in voxel `v`: deposits or gives the electrons their
    /// energy, puts fluorescence and annihilation photons on the stack, and turns a scattered
    /// photon (after Russian roulette when it is of a split copy's line). Returns whether the photon
    /// goes on.
    pub(super) fn apply(
        &self,
        p: &mut Photon,
        v: usize,
        it: Interaction,
        st: &mut BatchState,
        rng: &mut Rng,
    ) -> bool {
        match it {
            Interaction::Scatter {
                cos,
                energy,
                deposit,
            } => {
                let before = p.dir;
                p.dir = rotate(&p.dir, cos, rng);
                if self.electrons.is_none() {
                    self.deposit(st, v, &p.pos, deposit);
                } else if deposit > 0.0 {
                    // The Compton electron takes the momentum the photon lost.
                    let e0 = p.energy;
                    let d = [0, 1, 2].map(|a| e0 * before[a] - energy * p.dir[a]);
                    self.give_electron(st, v, &p.pos, d, deposit, -1, rng);
                }
                p.energy = energy;
                // A split copy's scattered photon is rouletted back to full weight.
                match self.options.variance_reduction.roulette(st, rng) {
                    Some((w, line)) => {
                        p.weight = w;
                        p.split_line = line;
                        st.follow(p);
                    }
                    None => return false,
                }
            }
            Interaction::Absorb {
                deposit,
                fluorescence,
            } => {
                if self.electrons.is_some() && deposit > 0.0 {
                    let d = if self.physics.options.photoelectron_angular {
                        let cos = crate::physics::electron::sample_sauter(deposit, rng);
                        rotate(&p.dir, cos, rng)
                    } else {
                        p.dir
                    };
                    self.give_electron(st, v, &p.pos, d, deposit, -1, rng);
                } else {
                    self.deposit(st, v, &p.pos, deposit);
                }
                for f in fluorescence.into_iter().flatten() {
                    self.push_photon(st, Photon::secondary(p.pos, isotropic(rng), f, 0), rng);
                }
                return false;
            }
            Interaction::Pair { deposit } => {
                if self.electrons.is_some() {
                    // Kinetic energy shared uniformly (a simplification of Bethe-Heitler's
                    // distribution), each lepton at the leading-order angle; the positron
                    // annihilates where it stops.
                    let t1 = deposit * rng.uniform();
                    for (t, q) in [(t1, -1i8), (deposit - t1, 1)] {
                        let g = t / crate::data::ELECTRON_MASS_EV + 1.0;
                        let beta = (1.0 - 1.0 / (g * g)).sqrt();
                        let cos = crate::physics::electron::sample_forward(beta, rng);
                        let d = rotate(&p.dir, cos, rng);
                        self.give_electron(st, v, &p.pos, d, t, q, rng);
                    }
                } else {
                    self.deposit(st, v, &p.pos, deposit);
                    annihilate_at_rest(st, &p.pos, rng);
                }
                return false;
            }
        }
        true
    }

    /// Track-length collision kerma along a straight segment (Williamson 1987): in each voxel,
    /// length x E x mu_en/rho / volume, eV/g.
    pub(super) fn score_kerma(
        &self,
        start: &[f64; 3],
        dir: &[f64; 3],
        len: f64,
        e: f64,
        at: (usize, f64),
        st: &mut BatchState,
    ) {
        // With electron transport the analog tally is the dose; kerma is not scored.
        if len <= 0.0 || self.electrons.is_some() {
            return;
        }
        if let Some(sg) = &self.scoring {
            self.score_kerma_on(sg, start, dir, len, e, at, st);
            return;
        }
        // The voxels and segment lengths are found a chunk at a time before any is scored, so
        // that the scores' memory accesses (scattered over the grid) are independent of each
        // other and of the walk's branches, and their cache misses overlap.
        const CHUNK: usize = 32;
        let mut ray = Ray::new(&self.lattice, start, dir, len);
        let mut cells = [0u32; CHUNK];
        let mut segs = [0f64; CHUNK];
        // Kerma per unit track length, eV/g per cm, for the last material seen (in a phantom of
        // one material, the only one: no per-voxel lookup).
        let one_material = self.physics.materials.len() == 1;
        let (mut last, mut k) = (
            0,
            e * interp(&self.physics.materials[0].score, at) / self.voxel_volume_cm3,
        );
        loop {
            let mut n = 0;
            while n < CHUNK {
                let Some((v, _, seg)) = ray.next(&self.lattice) else {
                    break;
                };
                prefetch(&st.kerma[v]);
                if !one_material {
                    prefetch(&self.mat[v]);
                }
                cells[n] = v as u32;
                segs[n] = seg;
                n += 1;
            }
            for (&v, &seg) in cells[..n].iter().zip(&segs[..n]) {
                if !one_material {
                    let m = usize::from(self.mat[v as usize]);
                    if m != last {
                        last = m;
                        k = e * interp(&self.physics.materials[m].score, at)
                            / self.voxel_volume_cm3;
                    }
                }
                st.track(v as usize, seg, k);
            }
            if n < CHUNK {
                return;
            }
        }
    }

    /// Track-length kerma on a separate scoring grid: the segment is cut at the boundaries of
    /// both grids, each piece scored in its scoring voxel with its phantom voxel's mu_en/rho.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn score_kerma_on(
        &self,
        sg: &ScoringGrid,
        start: &[f64; 3],
        dir: &[f64; 3],
        len: f64,
        e: f64,
        at: (usize, f64),
        st: &mut BatchState,
    ) {
        let Some((t0, t1)) = sg.lattice.clip(start, dir, len) else {
            return;
        };
        let p0 = [0, 1, 2].map(|a| start[a] + t0 * dir[a]);
        let len = t1 - t0;
        let k_of = |m: usize| e * interp(&self.physics.materials[m].score, at) / sg.volume_cm3;
        let mut scoring = Ray::new(&sg.lattice, &p0, dir, len);
        if self.physics.materials.len() == 1 {
            let k = k_of(0);
            while let Some((c, _, seg)) = scoring.next(&sg.lattice) {
                st.track(c, seg, k);
            }
            return;
        }
        let mut phantom = Ray::new(&self.lattice, &p0, dir, len);
        let (mut p, mut s) = (phantom.next(&self.lattice), scoring.next(&sg.lattice));
        let mut t = 0.0;
        while let (Some((pv, ps, pl)), Some((sv, ss, sl))) = (p, s) {
            let (p_end, s_end) = (ps + pl, ss + sl);
            let end = p_end.min(s_end);
            if end > t {
                st.track(sv, end - t, k_of(usize::from(self.mat[pv])));
                t = end;
            }
            if p_end <= end {
                p = phantom.next(&self.lattice);
            }
            if s_end <= end {
                s = scoring.next(&sg.lattice);
            }
        }
    }
}
