//! Scoring a phase space on a plane inside the phantom during transport: every photon,
//! electron and positron that crosses the plane in the chosen direction is recorded where it
//! crosses it (energy, position, direction, weight) and goes on; the records are written in the
//! order of batches and histories, so the file depends only on the inputs and the seed.

use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use hope_core::Vec3;

use super::Transport;
use crate::source::Source;
use crate::source::iaea::{Kind, Particle, PhaseSpaceWriter};
use crate::tally::Partial;
use crate::tally::batch::{Accumulator, BatchState};
use crate::tally::crossings::{Crossing, PlaneTally};
use crate::{Error, Result};

/// A scoring plane z = `z_mm` (patient coordinates) and the direction of the crossings it
/// records.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhaseSpacePlane {
    /// The plane's patient z, mm.
    pub z_mm: f64,
    /// Record crossings towards +z (true) or towards -z (false).
    pub towards_positive_z: bool,
}

/// At most this many crossings are held per batch (72 bytes each, so 72 MB per worker; a
/// 10,000-history batch of an electron beam makes about 12,000): beyond it the run stops with an
/// error that asks for a smaller `batch_size`, rather than fill the memory or drop particles.
const MAX_CROSSINGS_PER_BATCH: usize = 1_000_000;

impl Transport {
    /// A particle of `charge` moves `len` cm from `from` along `dir`, its kinetic energy going
    /// from `e_from` to `e_to` (eV): records it where it crosses the scoring plane, if it does
    /// and in the recorded direction.
    #[inline]
    pub(super) fn cross_plane(
        &self,
        st: &mut BatchState,
        from: &[f64; 3],
        dir: &[f64; 3],
        len: f64,
        (e_from, e_to): (f64, f64),
        charge: i8,
    ) {
        let Some(plane) = st.plane.as_mut() else {
            return;
        };
        // A history of weight 0 carries nothing.
        if st.weight <= 0.0 {
            return;
        }
        // Half open: a particle that stops on the plane is recorded, one that starts there not.
        let ahead = (plane.z - from[2]) * plane.sign;
        let reach = len * dir[2] * plane.sign;
        if !(ahead > 0.0 && ahead <= reach) || plane.crossings.len() >= MAX_CROSSINGS_PER_BATCH {
            return;
        }
        let t = ahead / (dir[2] * plane.sign);
        let energy = e_from + (e_to - e_from) * (t / len).clamp(0.0, 1.0);
        // A particle below its cutoff there would be absorbed at once: not recorded (its energy
        // stays on this side of the plane, as the transport deposits it here).
        if energy < plane.cutoff[usize::from(charge != 0)] {
            return;
        }
        plane.crossings.push(Crossing {
            history: st.history,
            charge,
            energy,
            pos: [from[0] + t * dir[0], from[1] + t * dir[1], plane.z],
            dir: *dir,
            weight: st.weight,
        });
    }

    /// Runs `histories` histories of `source` with `seed` as [`Transport::run`] does (the same
    /// dose, bit for bit), and writes every particle that crosses `plane` into `writer`: position
    /// (cm) and direction in patient coordinates, kinetic energy at the crossing (for charged
    /// particles, interpolated along the step), the history's weight, the first crossing of
    /// each history marked as a new history. A particle that crosses several times is recorded
    /// each time it crosses in the recorded direction, as BEAMnrc records its scoring planes:
    /// replayed as a source into the region beyond the plane (particles going back discarded),
    /// the phase space reproduces that region's dose. The phantom's grid must be axial (its
    /// third axis patient +z). Call [`PhaseSpaceWriter::finish`] with `histories` afterwards.
    pub fn run_with_phase_space(
        &self,
        source: &Source,
        histories: u64,
        seed: u64,
        plane: PhaseSpacePlane,
        writer: &mut PhaseSpaceWriter,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<Partial> {
        let grid = self.phantom.grid.clone();
        let data_path = writer.data_path().to_path_buf();
        let refuse = |field: &str, message: String| Error::PhaseSpace {
            path: data_path.clone(),
            field: field.into(),
            message,
        };
        self.check_plane(plane).map_err(|m| refuse("plane", m))?;
        let origin = grid.origin();
        let z = self
            .frame
            .to_local(Vec3::new(origin.x, origin.y, plane.z_mm))[2];
        let sign = if plane.towards_positive_z { 1.0 } else { -1.0 };
        let cutoff = [
            self.physics.options.photon_cutoff_ev,
            self.electrons.as_ref().map_or(0.0, |e| e.options.cutoff_ev),
        ];
        let batches = histories.div_ceil(self.options.batch_size);
        let pool = self.pool()?;
        let workers = pool.current_num_threads().max(1) as u64;
        let mut total = Accumulator::new(0);
        let done = AtomicU64::new(0);
        // Waves of one batch per worker: each wave's batches run in parallel, then their
        // crossings are written in batch order (memory: one wave's crossings).
        let wave = workers.max(1);
        let mut start = 0;
        while start < batches {
            let range: Range<u64> = start..(start + wave).min(batches);
            let found: Mutex<Vec<(u64, Vec<Crossing>)>> = Mutex::new(Vec::new());
            let acc = self.run_on(
                &pool,
                (source, histories, seed),
                range.clone(),
                &done,
                progress,
                |st| {
                    st.plane = Some(PlaneTally {
                        z,
                        sign,
                        cutoff,
                        crossings: Vec::new(),
                    });
                },
                |b, st| {
                    if let Some(p) = st.plane.as_mut() {
                        let crossings = std::mem::take(&mut p.crossings);
                        if let Ok(mut f) = found.lock() {
                            f.push((b, crossings));
                        }
                    }
                },
            );
            total.add(acc);
            let mut found = found
                .into_inner()
                .map_err(|_| refuse("crossings", "a worker failed while scoring".into()))?;
            if found.len() as u64 != range.end - range.start {
                return Err(refuse("crossings", "a worker failed while scoring".into()));
            }
            found.sort_by_key(|(b, _)| *b);
            for (_, crossings) in found {
                if crossings.len() >= MAX_CROSSINGS_PER_BATCH {
                    return Err(refuse(
                        "crossings",
                        format!(
                            "more than {MAX_CROSSINGS_PER_BATCH} crossings of the plane in one \
                             batch: give a smaller batch_size"
                        ),
                    ));
                }
                let mut last = 0;
                for c in crossings {
                    writer.write(&self.record(&c, c.history != last))?;
                    last = c.history;
                }
            }
            start = range.end;
        }
        let lattice = self.score_lattice();
        Ok(total.into_partial(0..batches, lattice.dims, lattice.blocks))
    }

    /// Whether a phase-space plane can be scored on this phantom: an axial grid (third axis
    /// along patient +z) and a finite z; the reason if not.
    pub fn check_plane(&self, plane: PhaseSpacePlane) -> std::result::Result<(), String> {
        let axis = self.phantom.grid.direction()[2];
        if (axis - Vec3::new(0.0, 0.0, 1.0)).norm() > 1e-9 {
            return Err(format!(
                "needs an axial grid (third axis along patient +z); the phantom's is {axis}"
            ));
        }
        if !plane.z_mm.is_finite() {
            return Err(format!("z_mm {}: expected a finite number", plane.z_mm));
        }
        Ok(())
    }

    /// A crossing as a phase-space record in patient coordinates.
    fn record(&self, c: &Crossing, new_history: bool) -> Particle {
        let p = self.frame.to_patient(c.pos);
        let d = self.frame.dir_to_patient(c.dir);
        Particle {
            kind: match c.charge {
                0 => Kind::Photon,
                q if q < 0 => Kind::Electron,
                _ => Kind::Positron,
            },
            energy_mev: (c.energy / 1e6) as f32,
            position_cm: [p.x, p.y, p.z].map(|x| (x / 10.0) as f32),
            direction: [d.x, d.y, d.z].map(|x| x as f32),
            weight: c.weight as f32,
            new_history,
        }
    }
}
