//! Electrons and positrons: class II condensed history (continuous loss below the thresholds,
//! hard collisions and bremsstrahlung above them, multiple scattering by soft deflections), with
//! the steps cut at the media's boundaries.

use super::Transport;
use super::track::{End, Track};
use crate::geometry::Ray;
use crate::particle::{Photon, isotropic, rotate, rotate_disc, rotate_with};
use crate::physics::electron::BremsstrahlungAngular;
use crate::physics::interp;
use crate::rng::Rng;
use crate::tally::batch::BatchState;

impl Transport {
    /// Hands kinetic energy `t` to a new electron (`charge` -1) or positron (+1) moving along
    /// `dir` (not normalised) at `pos` in voxel `v`: transported when electrons are, else
    /// deposited on the spot (a positron then annihilates there).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn give_electron(
        &self,
        st: &mut BatchState,
        v: usize,
        pos: &[f64; 3],
        dir: [f64; 3],
        t: f64,
        charge: i8,
        rng: &mut Rng,
    ) {
        let n = (dir[0] * dir[0] + dir[1] * dir[1] + dir[2] * dir[2]).sqrt();
        match &self.electrons {
            Some(ep) if t >= ep.options.cutoff_ev && n > 0.0 => {
                st.push(Photon::secondary(
                    *pos,
                    [dir[0] / n, dir[1] / n, dir[2] / n],
                    t,
                    charge,
                ));
            }
            _ => {
                let scored = self.scored_loss(v, usize::from(charge > 0), t, 0.0);
                self.deposit_as(st, v, pos, t, scored);
                if charge > 0 {
                    annihilate_at_rest(st, pos, rng);
                }
            }
        }
    }

    /// What a charged particle (`q` 0 electron, 1 positron) slowing down from `from` to `to`
    /// (eV) in cell `v` counts as in the dose: `from - to`, or for dose to water the energy
    /// water would have absorbed over the same slowing down.
    #[inline]
    pub(super) fn scored_loss(&self, v: usize, q: usize, from: f64, to: f64) -> f64 {
        match (&self.electrons, self.emat.get(v)) {
            (Some(ep), Some(&m)) if ep.scores_to_water() => {
                let m = usize::from(m);
                ep.water_energy(m, q, from) - ep.water_energy(m, q, to)
            }
            _ => from - to,
        }
    }

    /// The distance (cm) from `pos` to the nearest face of its voxel.
    #[inline]
    pub(super) fn distance_to_faces(&self, pos: &[f64; 3]) -> f64 {
        let mut d = f64::INFINITY;
        for ((x, size), inv) in pos
            .iter()
            .zip(self.lattice.voxel_cm)
            .zip(self.lattice.inv_voxel_cm)
        {
            let x = x * inv;
            let frac = x - (x as i64) as f64;
            d = d.min(frac.min(1.0 - frac) * size);
        }
        d
    }

    /// A charged particle stops: its kinetic energy is deposited in voxel `v`; a positron
    /// annihilates at rest.
    pub(super) fn stop_charged(&self, p: &Photon, v: usize, rng: &mut Rng, st: &mut BatchState) {
        let scored = self.scored_loss(v, usize::from(p.charge > 0), p.energy, 0.0);
        self.deposit_as(st, v, &p.pos, p.energy, scored);
        if p.charge > 0 {
            annihilate_at_rest(st, &p.pos, rng);
        }
    }

    /// Follows an electron or positron (class II condensed history; see `electron`) until it
    /// stops or leaves the phantom; returns the path length travelled, cm.
    pub(super) fn track_charged(&self, p: Photon, rng: &mut Rng, st: &mut BatchState) -> f64 {
        self.track_charged_to_end(p, rng, st).0
    }

    /// [`Transport::track_charged`], also returning where the particle ended.
    pub(super) fn track_charged_to_end(
        &self,
        p: Photon,
        rng: &mut Rng,
        st: &mut BatchState,
    ) -> (f64, [f64; 3]) {
        self.track_charged_recorded(p, rng, st, None)
    }

    /// [`Transport::track_charged_to_end`], recording the track into `rec` for history
    /// repetition (`repeat`) while the particle stays in its first medium.
    pub(super) fn track_charged_recorded(
        &self,
        mut p: Photon,
        rng: &mut Rng,
        st: &mut BatchState,
        mut rec: Option<&mut Track>,
    ) -> (f64, [f64; 3]) {
        let Some(ep) = &self.electrons else {
            // Not transported: deposited where it starts (cannot happen from photons).
            if let Some(v) = self.lattice.cell_at(&p.pos) {
                self.stop_charged(&p, v, rng, st);
            } else {
                self.escape_charged(st, &p);
            }
            return (0.0, p.pos);
        };
        let o = &ep.options;
        let q = usize::from(p.charge > 0);
        let mut path = 0.0;
        // A source particle may start outside: move it to the phantom's surface.
        if self.lattice.cell_at(&p.pos).is_none() {
            match self.lattice.clip(&p.pos, &p.dir, f64::INFINITY) {
                Some((enter, _)) => {
                    for a in 0..3 {
                        p.pos[a] += (enter + 1e-9) * p.dir[a];
                    }
                }
                None => {
                    self.escape_charged(st, &p);
                    return (0.0, p.pos);
                }
            }
        }
        loop {
            let Some(v) = self.lattice.cell_at(&p.pos) else {
                if let Some(r) = rec.as_deref_mut() {
                    r.finish(End::Analog);
                }
                self.escape_charged(st, &p);
                return (path, p.pos);
            };
            let e = p.energy;
            // The electron tables of the cell's material at its density.
            let m = usize::from(self.emat[v]);
            let rho_f = self.rho[v];
            let rho = f64::from(rho_f);
            if e < o.cutoff_ev && rho > 0.0 {
                if let Some(r) = rec.as_deref_mut() {
                    r.finish(End::Stop);
                }
                self.stop_charged(&p, v, rng, st);
                return (path, p.pos);
            }
            // The recording covers the first medium only.
            if let Some(r) = rec.as_deref_mut()
                && (!r.same_medium(self.emat[v], rho_f))
            {
                r.finish(End::Analog);
            }
            // (A particle that fell below the cutoff on its way into a void stops in the first
            // voxel of matter it meets, not in the void, which has no mass to take a dose.)
            if rho <= 0.0 {
                // A void voxel: fly straight to the next voxel that is not.
                let mut found = false;
                let d = self.walk(&p.pos, &p.dir, f64::INFINITY, |c, _| {
                    found = self.rho[c] > 0.0;
                    found.then_some(0.0)
                });
                if !found {
                    self.escape_charged(st, &p);
                    return (path, p.pos);
                }
                self.cross_plane(st, &p.pos, &p.dir, d, (e, e), p.charge);
                for a in 0..3 {
                    p.pos[a] += (d + 1e-9) * p.dir[a];
                }
                path += d;
                continue;
            }
            let at = ep.locate(e);
            // A track being recorded is followed to its end (each replay applies range
            // rejection at its own point).
            if o.range_rejection
                && e < o.range_rejection_max_ev
                && !rec.as_deref().is_some_and(Track::open)
                && ep.range_located(m, q, e, at) / rho < self.distance_to_faces(&p.pos)
            {
                self.stop_charged(&p, v, rng, st);
                return (path, p.pos);
            }
            let t = &ep.materials[m];
            let sigma_max = interp(&t.hard_max[q], at) * rho;
            let s_hard = -rng.uniform_open().ln() / sigma_max;
            let s_max = interp(&t.step_max[q], at) / rho;
            let (s, hard) = if s_hard < s_max {
                (s_hard, true)
            } else {
                (s_max, false)
            };
            // Soft elastic moments over the step (Lewis): <mu> and <mu^2>.
            let k1 = interp(&t.soft1, at) * rho * s;
            let k2 = interp(&t.soft2, at) * rho * s;
            let m1 = 0.5 * one_minus_exp(2.0 * k1);
            let m2 = (6.0 * m1 - one_minus_exp(6.0 * (k1 - k2))) / 6.0;
            let hinge = rng.uniform() * s;
            let mu = crate::physics::electron::soft_deflection(m1, m2, rng);
            let turned = rotate_disc(&p.dir, 1.0 - 2.0 * mu, rng);
            let h = [0, 1, 2].map(|a| p.pos[a] + hinge * p.dir[a]);
            let end = [0, 1, 2].map(|a| h[a] + (s - hinge) * turned[a]);
            if self.scoring.is_none()
                && self.lattice.cell_at(&h) == Some(v)
                && self.lattice.cell_at(&end) == Some(v)
            {
                // The whole step lies in this voxel (a box holds the segments between points
                // it holds): one deposit.
                let reach = interp(&t.range[q], at) / rho;
                if let Some(r) = rec.as_deref_mut()
                    && r.open()
                {
                    let (e_hinge, e_end) = if s >= reach {
                        (0.0, 0.0)
                    } else {
                        (
                            ep.energy_after_at(m, q, e, at, hinge * rho),
                            ep.energy_after_at(m, q, e, at, s * rho),
                        )
                    };
                    r.step(
                        (&p.dir, e),
                        reach,
                        (hinge, e_hinge),
                        s,
                        turned,
                        e_end,
                        s >= reach,
                    );
                    if s >= reach {
                        r.finish(End::Done);
                    }
                }
                if s >= reach {
                    path += reach;
                    self.cross_plane(st, &p.pos, &p.dir, hinge, (e, 0.0), p.charge);
                    p.pos = h;
                    p.energy = e;
                    self.stop_charged(&p, v, rng, st);
                    return (path, p.pos);
                }
                let e_end = ep.energy_after_at(m, q, e, at, s * rho);
                let scored = self.scored_loss(v, q, e, e_end);
                self.deposit_as(st, v, &p.pos, e - e_end, scored);
                if st.plane.is_some() {
                    let e_hinge = e - (e - e_end) * hinge / s;
                    self.cross_plane(st, &p.pos, &p.dir, hinge, (e, e_hinge), p.charge);
                    self.cross_plane(st, &h, &turned, s - hinge, (e_hinge, e_end), p.charge);
                }
                p.energy = e_end;
                p.pos = end;
                p.dir = turned;
                path += s;
            } else {
                let (from, e_from) = (p.pos, p.energy);
                let start = (p.pos, p.dir, p.energy);
                let first = self.charged_segment(&mut p, m, rho_f, q, hinge, st);
                let e_hinge = p.energy;
                self.cross_plane(st, &from, &p.dir, first.0, (e_from, p.energy), p.charge);
                path += first.0;
                if first.1 != Segment::Done {
                    if let Some(r) = rec.as_deref_mut() {
                        let state = (&start.1, start.2, at);
                        self.record_cut_step(r, state, (m, q, rho), (hinge, s, turned), hard, rng);
                    }
                    if first.1 == Segment::Left {
                        self.escape_charged(st, &p);
                        return (path, p.pos);
                    }
                    continue;
                }
                p.dir = turned;
                let (from, e_from) = (p.pos, p.energy);
                let second = self.charged_segment(&mut p, m, rho_f, q, s - hinge, st);
                self.cross_plane(st, &from, &p.dir, second.0, (e_from, p.energy), p.charge);
                path += second.0;
                if let Some(r) = rec.as_deref_mut() {
                    if second.1 == Segment::Done {
                        let reach = interp(&t.range[q], at) / rho;
                        r.step(
                            (&start.1, start.2),
                            reach,
                            (hinge, e_hinge),
                            s,
                            turned,
                            p.energy,
                            false,
                        );
                    } else {
                        let state = (&start.1, start.2, at);
                        self.record_cut_step(r, state, (m, q, rho), (hinge, s, turned), hard, rng);
                    }
                }
                match second.1 {
                    Segment::Done => {}
                    Segment::Left => {
                        self.escape_charged(st, &p);
                        return (path, p.pos);
                    }
                    Segment::Boundary | Segment::Stopped => continue,
                }
            }
            if !hard || p.energy < o.cutoff_ev {
                continue;
            }
            // A hard event, or a delta event (majorant), at the energy reached.
            match self.sample_hard(m, q, p.energy, &p.dir, sigma_max / rho, rng) {
                Hard::Elastic(dir) => {
                    p.dir = dir;
                    if let Some(r) = rec.as_deref_mut() {
                        r.event(p.dir, p.energy);
                    }
                }
                Hard::Delta { dir, d2, w } => {
                    p.dir = dir;
                    p.energy -= w;
                    let here = self.lattice.cell_at(&p.pos).unwrap_or(v);
                    if let Some(r) = rec.as_deref_mut()
                        && r.open()
                    {
                        r.event(p.dir, p.energy);
                        let n = (d2[0] * d2[0] + d2[1] * d2[1] + d2[2] * d2[2]).sqrt();
                        let (emat, rho_here) = r.medium();
                        if w >= o.cutoff_ev
                            && n > 0.0
                            && self.emat[here] == emat
                            && self.rho[here] == rho_here
                        {
                            // The delta ray is followed now and recorded with its parent, so
                            // that replays replay it too.
                            let d = [d2[0] / n, d2[1] / n, d2[2] / n];
                            let mut sub = Track::new(-1, emat, rho_here);
                            self.track_charged_recorded(
                                Photon::secondary(p.pos, d, w, -1),
                                rng,
                                st,
                                Some(&mut sub),
                            );
                            r.secondary_with(d, w, -1, Some(Box::new(sub)));
                            continue;
                        }
                        r.secondary(d2, w, -1);
                    }
                    self.give_electron(st, here, &p.pos, d2, w, -1, rng);
                }
                Hard::Brems { dir, k } => {
                    self.push_photon(st, Photon::secondary(p.pos, dir, k, 0), rng);
                    p.energy -= k;
                    if let Some(r) = rec.as_deref_mut() {
                        r.event(p.dir, p.energy);
                        r.secondary(dir, k, 0);
                    }
                }
                Hard::Annihilation { photons } => {
                    for (d, k) in photons {
                        self.push_photon(st, Photon::secondary(p.pos, d, k, 0), rng);
                    }
                    if let Some(r) = rec.as_deref_mut() {
                        r.event(p.dir, 0.0);
                        for (d, k) in photons {
                            r.secondary(d, k, 0);
                        }
                        r.finish(End::Done);
                    }
                    return (path, p.pos);
                }
                Hard::Null => {}
            }
        }
    }

    /// Records a step that the recorded particle could not complete where it is (a boundary, the
    /// phantom's edge, its range running out across a voxel face), as sampled: from its start
    /// state `(dir, energy, grid position)`, its hinge, length and turn, with its hard event
    /// (if `hard`) sampled for it at the energy the whole step would reach. A replay walks it
    /// from its own point; the recording ends there. (Leaving the step out would make replays
    /// resample it, and the steps that meet a boundary at the recording's point would be missing
    /// from them: a bias.)
    #[allow(clippy::too_many_arguments)]
    fn record_cut_step(
        &self,
        r: &mut Track,
        (dir, e, at): (&[f64; 3], f64, (usize, f64)),
        (m, q, rho): (usize, usize, f64),
        (hinge, s, turned): (f64, f64, [f64; 3]),
        hard: bool,
        rng: &mut Rng,
    ) {
        let Some(ep) = &self.electrons else {
            return;
        };
        if !r.open() {
            return;
        }
        let t = &ep.materials[m];
        let reach = interp(&t.range[q], at) / rho;
        if s >= reach {
            r.step((dir, e), reach, (hinge, 0.0), s, turned, 0.0, true);
            r.finish(End::Analog);
            return;
        }
        let e_hinge = ep.energy_after_at(m, q, e, at, hinge * rho);
        let e_end = ep.energy_after_at(m, q, e, at, s * rho);
        r.step((dir, e), reach, (hinge, e_hinge), s, turned, e_end, false);
        if hard && e_end >= ep.options.cutoff_ev {
            let sigma_max = interp(&t.hard_max[q], at);
            match self.sample_hard(m, q, e_end, &turned, sigma_max, rng) {
                Hard::Elastic(d) => r.event(d, e_end),
                Hard::Delta { dir, d2, w } => {
                    r.event(dir, e_end - w);
                    r.secondary(d2, w, -1);
                }
                Hard::Brems { dir, k } => {
                    r.event(turned, e_end - k);
                    r.secondary(dir, k, 0);
                }
                Hard::Annihilation { photons } => {
                    r.event(turned, 0.0);
                    for (d, k) in photons {
                        r.secondary(d, k, 0);
                    }
                    r.finish(End::Done);
                }
                Hard::Null => {}
            }
        }
        r.finish(End::Analog);
    }

    /// Samples the hard event (or the majorant's null event) of a particle (`q` 0 electron, 1
    /// positron) of kinetic energy `e` moving along `dir` in electron medium `m`, whose step's
    /// majorant per gram was `sigma_max`: what it does, not yet applied.
    pub(super) fn sample_hard(
        &self,
        m: usize,
        q: usize,
        e: f64,
        dir: &[f64; 3],
        sigma_max: f64,
        rng: &mut Rng,
    ) -> Hard {
        let Some(ep) = &self.electrons else {
            return Hard::Null;
        };
        let o = &ep.options;
        let t = &ep.materials[m];
        let at = ep.locate(e);
        let el = interp(&t.hard_elastic, at);
        let de = interp(&t.delta[q], at);
        let br = interp(&t.brems, at);
        let an = if q == 1 {
            interp(&t.annihilation, at)
        } else {
            0.0
        };
        let mut u = rng.uniform() * sigma_max;
        if u < el {
            let mu = ep.sample_hard_elastic(m, e, rng);
            return Hard::Elastic(rotate_disc(dir, 1.0 - 2.0 * mu, rng));
        }
        u -= el;
        if u < de {
            let w = if q == 0 {
                crate::physics::electron::sample_moller(e, o.delta_threshold_ev, rng)
            } else {
                crate::physics::electron::sample_bhabha(e, o.delta_threshold_ev, rng)
            };
            let (cp, cs) = crate::physics::electron::binary_cosines(e, w);
            let phi = 2.0 * std::f64::consts::PI * rng.uniform();
            let (c, sn) = (phi.cos(), phi.sin());
            let d2 = rotate_with(dir, cs, -c, -sn);
            return Hard::Delta {
                dir: rotate_with(dir, cp, c, sn),
                d2,
                w,
            };
        }
        u -= de;
        if u < br {
            let k = crate::physics::electron::sample_brems(e, o.bremsstrahlung_threshold_ev, rng);
            let cos = match o.bremsstrahlung_angular {
                BremsstrahlungAngular::Simple => {
                    let g = e / crate::data::ELECTRON_MASS_EV + 1.0;
                    let beta = (1.0 - 1.0 / (g * g)).sqrt();
                    crate::physics::electron::sample_forward(beta, rng)
                }
                BremsstrahlungAngular::KochMotz => {
                    crate::physics::electron::sample_koch_motz(e, k, t.brems_z13, rng)
                }
            };
            return Hard::Brems {
                dir: rotate(dir, cos, rng),
                k,
            };
        }
        u -= br;
        if u < an {
            let mc2 = crate::data::ELECTRON_MASS_EV;
            let (z, cos) = crate::physics::electron::sample_annihilation(e, rng);
            let total = e + 2.0 * mc2;
            let k1 = z * total;
            let d1 = rotate(dir, cos, rng);
            let pm = (e * (e + 2.0 * mc2)).sqrt();
            let d2 = [0, 1, 2].map(|a| pm * dir[a] - k1 * d1[a]);
            let n2 = (d2[0] * d2[0] + d2[1] * d2[1] + d2[2] * d2[2])
                .sqrt()
                .max(1e-300);
            return Hard::Annihilation {
                photons: [(d1, k1), ([d2[0] / n2, d2[1] / n2, d2[2] / n2], total - k1)],
            };
        }
        Hard::Null
    }

    /// A charged particle leaves the phantom: its kinetic energy (and a positron's rest
    /// energy, 2 mc^2 with its partner) escapes.
    pub(super) fn escape_charged(&self, st: &mut BatchState, p: &Photon) {
        st.escaped += p.energy * st.weight;
        if p.charge > 0 {
            st.escaped += 2.0 * crate::data::ELECTRON_MASS_EV * st.weight;
        }
    }

    /// Moves a charged particle `len` cm straight on through voxels of medium (`m`, `rho`),
    /// losing energy continuously (range tables) and depositing it voxel by voxel. Stops early
    /// where the medium changes (the particle is put just inside the new voxel), where it leaves
    /// the phantom, or where its range runs out. Returns the length moved and why it stopped.
    pub(super) fn charged_segment(
        &self,
        p: &mut Photon,
        m: usize,
        rho: f32,
        q: usize,
        len: f64,
        st: &mut BatchState,
    ) -> (f64, Segment) {
        self.charged_segment_to(p, (m, rho, q), len, None, st)
    }

    /// [`Transport::charged_segment`], with the energy at the segment's end given when it is
    /// known (a replayed track's: no range-table lookups).
    pub(super) fn charged_segment_to(
        &self,
        p: &mut Photon,
        (m, rho, q): (usize, f32, usize),
        len: f64,
        known_end: Option<f64>,
        st: &mut BatchState,
    ) -> (f64, Segment) {
        let Some(ep) = &self.electrons else {
            return (0.0, Segment::Stopped);
        };
        let rho_g = f64::from(rho);
        let start = p.pos;
        // The energy lost over the whole length (range tables), shared among the voxels crossed
        // in proportion to their path lengths (the stopping power changes little within one
        // step); the pieces add up to the loss exactly.
        let e0 = p.energy;
        let (exhausted, len, e_end) = match known_end {
            Some(e_end) => (false, len, e_end.min(e0)),
            None => {
                let at = ep.locate(e0);
                let reach = interp(&ep.materials[m].range[q], at) / rho_g;
                let exhausted = len >= reach;
                let len = len.min(reach);
                let e_end = if exhausted {
                    0.0
                } else {
                    ep.energy_after_at(m, q, e0, at, len * rho_g)
                };
                (exhausted, len, e_end)
            }
        };
        let per_cm = (e0 - e_end) / len.max(1e-300);
        // Dose to water: what each piece counts as, in proportion to its share of the loss.
        let scored_per_ev = match ep.scores_to_water() {
            true if e0 > e_end => {
                (ep.water_energy(m, q, e0) - ep.water_energy(m, q, e_end)) / (e0 - e_end)
            }
            _ => 1.0,
        };
        let mut ray = Ray::new(&self.lattice, &start, &p.dir, len);
        let mut moved = 0.0;
        let mut left = e0 - e_end;
        let mut last: Option<(usize, [f64; 3])> = None;
        while let Some((c, t0, seg)) = ray.next(&self.lattice) {
            if usize::from(self.emat[c]) != m || self.rho[c] != rho {
                let t = t0 + 1e-9;
                p.pos = [0, 1, 2].map(|a| start[a] + t * p.dir[a]);
                p.energy = e_end + left;
                // A particle that fell below its cutoff on the way out of this medium leaves what
                // it has in the last voxel it crossed here, not in the next one (which may hold
                // almost no mass: a 10 keV deposit in air at 1e-9 g/cm^3 is a dose spike).
                if p.energy < ep.options.cutoff_ev
                    && let Some((lc, mid)) = last
                {
                    let scored = self.scored_loss(lc, q, p.energy, 0.0);
                    self.deposit_as(st, lc, &mid, p.energy, scored);
                    p.energy = 0.0;
                    return (t, Segment::Stopped);
                }
                return (t, Segment::Boundary);
            }
            let loss = if t0 + seg >= len {
                left
            } else {
                (per_cm * seg).min(left)
            };
            left -= loss;
            let mid = [0, 1, 2].map(|a| start[a] + (t0 + 0.5 * seg) * p.dir[a]);
            self.deposit_as(st, c, &mid, loss, loss * scored_per_ev);
            last = Some((c, mid));
            moved = t0 + seg;
        }
        p.energy = e_end + left;
        if exhausted && moved >= len * (1.0 - 1e-12) {
            // Range exhausted (the caller stops the particle here).
            p.pos = [0, 1, 2].map(|a| start[a] + (len * (1.0 - 1e-9)) * p.dir[a]);
            return (moved, Segment::Stopped);
        }
        p.pos = [0, 1, 2].map(|a| start[a] + len * p.dir[a]);
        if moved < len * (1.0 - 1e-12) || self.lattice.cell_at(&p.pos).is_none() {
            return (moved, Segment::Left);
        }
        (len, Segment::Done)
    }
}

/// A charged particle's hard event, sampled ([`Transport::sample_hard`]).
#[derive(Debug, Clone, Copy)]
pub(super) enum Hard {
    /// Elastic scattering: the new direction.
    Elastic([f64; 3]),
    /// A delta ray: the particle's new direction, the delta's direction and kinetic energy.
    Delta { dir: [f64; 3], d2: [f64; 3], w: f64 },
    /// A bremsstrahlung photon's direction and energy.
    Brems { dir: [f64; 3], k: f64 },
    /// A positron's annihilation in flight: the two photons (direction, energy).
    Annihilation { photons: [([f64; 3], f64); 2] },
    /// The majorant's null event.
    Null,
}

/// Why a charged particle's straight segment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Segment {
    /// The whole length was moved.
    Done,
    /// The medium (material or density) changes ahead.
    Boundary,
    /// The particle left the phantom.
    Left,
    /// The particle's range ran out.
    Stopped,
}

/// 1 - exp(-x) for x >= 0 (a series where x is small, as soft deflections are).
#[inline]
fn one_minus_exp(x: f64) -> f64 {
    if x < 0.02 {
        x * (1.0 - x / 2.0 * (1.0 - x / 3.0 * (1.0 - x / 4.0 * (1.0 - x / 5.0))))
    } else {
        -(-x).exp_m1()
    }
}

/// A positron at rest at `pos` annihilates with an electron: two 511 keV photons back to back,
/// isotropic.
pub(super) fn annihilate_at_rest(st: &mut BatchState, pos: &[f64; 3], rng: &mut Rng) {
    let d = isotropic(rng);
    for s in [1.0, -1.0] {
        st.push(Photon::secondary(
            *pos,
            [s * d[0], s * d[1], s * d[2]],
            crate::data::ELECTRON_MASS_EV,
            0,
        ));
    }
}
