//! A recorded electron or positron track (history repetition, see `repeat`): its steps, the
//! secondaries its events made, and how it ended.

/// How a recorded track ends (after its last recorded step and event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// Still being recorded.
    Open,
    /// Below the cutoff: the particle stops where it is.
    Stop,
    /// Nothing left (stopped within its last step, or annihilated in flight).
    Done,
    /// The recording stopped (a boundary, a void, the phantom's edge, or a step cut short): a
    /// replay goes on with the usual transport from the state it has reached.
    Analog,
}

/// One condensed-history step as recorded.
#[derive(Debug, Clone, Copy)]
pub(super) struct Step {
    pub(super) dir: [f64; 3],
    pub(super) energy: f64,
    /// Restricted range at the start, cm (range rejection at a replay's point).
    pub(super) range_cm: f64,
    pub(super) hinge: f64,
    /// The energy at the hinge.
    pub(super) energy_hinge: f64,
    pub(super) length: f64,
    pub(super) turned: [f64; 3],
    pub(super) energy_end: f64,
    /// The range ran out before the hinge: the particle stopped there.
    pub(super) stopped_at_hinge: bool,
    /// Direction and energy after the step's hard event (or the step's end state).
    pub(super) after_dir: [f64; 3],
    pub(super) after_energy: f64,
    /// The secondaries the step's event made: `secondaries[first..first + count]`.
    pub(super) first: u32,
    pub(super) count: u32,
}

/// A secondary made by a recorded event, at the particle's position at the end of its step.
#[derive(Debug, Clone)]
pub(super) struct Secondary {
    pub(super) dir: [f64; 3],
    pub(super) energy: f64,
    pub(super) charge: i8,
    /// A delta ray's own recorded track (replayed with its parent's).
    pub(super) track: Option<Box<Track>>,
}

/// A recorded electron or positron track.
#[derive(Debug, Clone)]
pub(super) struct Track {
    pub(super) charge: i8,
    /// The electron-table index and density of the medium it was recorded in.
    pub(super) emat: u16,
    pub(super) rho: f32,
    pub(super) steps: Vec<Step>,
    pub(super) secondaries: Vec<Secondary>,
    pub(super) end: End,
}

impl Track {
    pub(super) fn new(charge: i8, emat: u16, rho: f32) -> Self {
        Self {
            charge,
            emat,
            rho,
            steps: Vec::new(),
            secondaries: Vec::new(),
            end: End::Open,
        }
    }

    /// Ends the recording (a later call does not change how it ended).
    pub(super) fn finish(&mut self, end: End) {
        if self.end == End::Open {
            self.end = end;
        }
    }

    pub(super) fn open(&self) -> bool {
        self.end == End::Open
    }

    /// Whether a voxel of electron-table index `emat` and density `rho` is the recorded medium.
    pub(super) fn same_medium(&self, emat: u16, rho: f32) -> bool {
        emat == self.emat && rho == self.rho
    }

    /// Records a step from its start state (direction, energy): the range there (cm), the
    /// hinge and the step's length (cm), the direction after the hinge, the energy at the end.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn step(
        &mut self,
        start: (&[f64; 3], f64),
        range_cm: f64,
        (hinge, energy_hinge): (f64, f64),
        length: f64,
        turned: [f64; 3],
        energy_end: f64,
        stopped_at_hinge: bool,
    ) {
        if !self.open() {
            return;
        }
        self.steps.push(Step {
            dir: *start.0,
            energy: start.1,
            range_cm,
            hinge,
            energy_hinge,
            length,
            turned,
            energy_end,
            stopped_at_hinge,
            after_dir: turned,
            after_energy: energy_end,
            first: self.secondaries.len() as u32,
            count: 0,
        });
    }

    /// The last step's event turned the particle to `dir` and left it `energy`.
    pub(super) fn event(&mut self, dir: [f64; 3], energy: f64) {
        if !self.open() {
            return;
        }
        if let Some(s) = self.steps.last_mut() {
            s.after_dir = dir;
            s.after_energy = energy;
        }
    }

    /// The last step's event made a secondary (direction not necessarily normalised for
    /// charged ones, as `give_electron` takes it).
    pub(super) fn secondary(&mut self, dir: [f64; 3], energy: f64, charge: i8) {
        self.secondary_with(dir, energy, charge, None);
    }

    /// [`Track::secondary`] for a charged secondary recorded with its own track.
    pub(super) fn secondary_with(
        &mut self,
        dir: [f64; 3],
        energy: f64,
        charge: i8,
        track: Option<Box<Track>>,
    ) {
        if !self.open() {
            return;
        }
        if let Some(s) = self.steps.last_mut() {
            self.secondaries.push(Secondary {
                dir,
                energy,
                charge,
                track,
            });
            s.count += 1;
        }
    }

    /// The medium it was recorded in (electron-table index, density).
    pub(super) fn medium(&self) -> (u16, f32) {
        (self.emat, self.rho)
    }
}
