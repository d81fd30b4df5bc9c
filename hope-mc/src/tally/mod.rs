//! Tallies: per-voxel sums over histories in exact fixed point ([`Tally`]), the merged result of
//! batches with its binary codec ([`Partial`]), the scoring object of the tracking loop (`batch`),
//! and dose-volume histograms ([`dvh`]).

use std::ops::Range;

use hope_core::{Grid, Volume};

use crate::data::EV_PER_G_TO_GY;
use crate::{Error, Result};

pub(crate) mod batch;
mod codec;
pub(crate) mod crossings;
pub mod dvh;
pub mod lines;

use codec::{PARTIAL_MAGIC, Reader, put_varint};

/// Fixed-point scale of the energy totals (units of 2^-20 eV).
pub(crate) const ENERGY_SCALE: f64 = (1u64 << 20) as f64;
/// Fixed-point scale of the per-voxel sums (units of 2^-40 eV/g).
pub(crate) const SUM_SCALE: f64 = (1u64 << 40) as f64;
/// Fixed-point scale of the sums of squares (units of 2^-20 (eV/g)^2).
pub(crate) const SUM2_SCALE: f64 = (1u64 << 20) as f64;

/// Sums over histories, per voxel: the quantity and its square, per history. Within a batch they
/// are summed in f64 in history order; each batch's sums are then kept in 128-bit fixed point
/// (2^-40 eV/g and 2^-20 (eV/g)^2 resolution), whose addition is exact and associative: however
/// batches are grouped (threads, machines, runs), the sums are the same bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    sum: Vec<i128>,
    sum2: Vec<i128>,
}

impl Tally {
    fn new(n: usize) -> Self {
        Self {
            sum: vec![0; n],
            sum2: vec![0; n],
        }
    }

    fn add(&mut self, other: &Tally) {
        for (a, b) in self.sum.iter_mut().zip(&other.sum) {
            *a = a.saturating_add(*b);
        }
        for (a, b) in self.sum2.iter_mut().zip(&other.sum2) {
            *a = a.saturating_add(*b);
        }
    }

    /// The sum over histories of voxel `v` (eV/g for dose tallies).
    pub fn sum(&self, v: usize) -> f64 {
        self.sum[v] as f64 / SUM_SCALE
    }

    /// The sum over histories of the squared per-history contribution of voxel `v`.
    pub fn sum_of_squares(&self, v: usize) -> f64 {
        self.sum2[v] as f64 / SUM2_SCALE
    }

    /// The number of voxels.
    pub fn len(&self) -> usize {
        self.sum.len()
    }

    /// Whether the tally has no voxels.
    pub fn is_empty(&self) -> bool {
        self.sum.is_empty()
    }
}

/// The sums of a set of batches; merge them in batch order ([`Partial::merge`]) for results that
/// do not depend on how batches were spread over threads or machines.
#[derive(Debug, Clone, PartialEq)]
pub struct Partial {
    /// The batches summed, contiguous.
    pub batches: Range<u64>,
    /// Histories summed.
    pub histories: u64,
    /// Energy deposited at interactions (analog), eV per gram of each voxel.
    pub analog: Tally,
    /// Track-length collision kerma, eV per gram of each voxel.
    pub kerma: Tally,
    /// Energy emitted by the source, deposited in the phantom (analog), carried out of it and
    /// absorbed in the source itself (seeds), in fixed point (2^-20 eV) so that merging is exact.
    energy: [i128; 4],
    /// Source photons that left the phantom without interacting (narrow-beam transmission).
    pub uncollided: u64,
}

impl Partial {
    /// Adds the batches of `next`, which must follow or precede these (adjacent ranges).
    pub fn merge(mut self, next: &Partial) -> Result<Partial> {
        // The sums are exact integers: adjacent ranges merge in either order to the same bits.
        if next.batches.start == self.batches.end {
            self.batches.end = next.batches.end;
        } else if next.batches.end == self.batches.start {
            self.batches.start = next.batches.start;
        } else {
            return Err(Error::Merge {
                message: format!(
                    "batches {:?} and {:?} are not adjacent",
                    next.batches, self.batches
                ),
            });
        }
        if self.kerma.len() != next.kerma.len() {
            return Err(Error::Merge {
                message: format!(
                    "{} voxels and {} voxels",
                    self.kerma.len(),
                    next.kerma.len()
                ),
            });
        }
        self.histories += next.histories;
        self.analog.add(&next.analog);
        self.kerma.add(&next.kerma);
        for (a, b) in self.energy.iter_mut().zip(next.energy) {
            *a = a.saturating_add(b);
        }
        self.uncollided += next.uncollided;
        Ok(self)
    }

    /// A compact binary form, for storing partial results between machines: a header (batches,
    /// histories, energies, uncollided photons, voxels), then per sum (analog, analog^2, kerma,
    /// kerma^2) its non-zero entries as varint index steps and zigzag varint values.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.kerma.len());
        out.extend_from_slice(PARTIAL_MAGIC);
        for x in [
            self.batches.start,
            self.batches.end,
            self.histories,
            self.uncollided,
            self.kerma.len() as u64,
        ] {
            out.extend_from_slice(&x.to_le_bytes());
        }
        for e in self.energy {
            out.extend_from_slice(&e.to_le_bytes());
        }
        for sums in [
            &self.analog.sum,
            &self.analog.sum2,
            &self.kerma.sum,
            &self.kerma.sum2,
        ] {
            let nonzero = sums.iter().filter(|x| **x != 0).count() as u64;
            out.extend_from_slice(&nonzero.to_le_bytes());
            let mut last = 0usize;
            for (i, &x) in sums.iter().enumerate().filter(|(_, x)| **x != 0) {
                put_varint(&mut out, (i - last) as u128);
                put_varint(&mut out, ((x << 1) ^ (x >> 127)) as u128);
                last = i;
            }
        }
        out
    }

    /// Reads [`Partial::to_bytes`]'s form of a result on a grid of `voxels` voxels; damaged
    /// input, or a result of another size, gives an error before anything is allocated, never a
    /// panic.
    pub fn from_bytes(bytes: &[u8], voxels: usize) -> Result<Self> {
        let bad = |m: &str| Error::Merge {
            message: format!("partial result: {m}"),
        };
        let mut r = Reader { bytes, at: 0 };
        if r.take(8).ok_or_else(|| bad("truncated header"))? != PARTIAL_MAGIC {
            return Err(bad("not a hope-mc partial result"));
        }
        let mut word = || -> Result<u64> {
            r.take(8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_le_bytes)
                .ok_or_else(|| bad("truncated header"))
        };
        let (start, end, histories, uncollided, n) = (word()?, word()?, word()?, word()?, word()?);
        if start > end {
            return Err(bad("implausible header"));
        }
        let n = usize::try_from(n)
            .ok()
            .filter(|n| *n == voxels)
            .ok_or_else(|| bad(&format!("{n} voxels where the run scores {voxels}")))?;
        let mut energy = [0i128; 4];
        for e in &mut energy {
            *e = r
                .take(16)
                .and_then(|b| b.try_into().ok())
                .map(i128::from_le_bytes)
                .ok_or_else(|| bad("truncated energies"))?;
        }
        let mut arrays: Vec<Vec<i128>> = Vec::with_capacity(4);
        for _ in 0..4 {
            let count = r
                .take(8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_le_bytes)
                .ok_or_else(|| bad("truncated"))?;
            if count > n as u64 {
                return Err(bad("more entries than voxels"));
            }
            let mut v = vec![0i128; n];
            let mut i = 0usize;
            for k in 0..count {
                let step = r.varint().ok_or_else(|| bad("truncated entries"))?;
                let z = r.varint().ok_or_else(|| bad("truncated entries"))?;
                i = usize::try_from(step)
                    .ok()
                    .and_then(|s| i.checked_add(s))
                    .filter(|i| *i < n && (k == 0 || step > 0))
                    .ok_or_else(|| bad("entry outside the grid"))?;
                v[i] = ((z >> 1) as i128) ^ -((z & 1) as i128);
            }
            arrays.push(v);
        }
        if r.at != bytes.len() {
            return Err(bad("trailing bytes"));
        }
        let mut it = arrays.into_iter();
        let mut next = || it.next().unwrap_or_default();
        let (a, a2, k, k2) = (next(), next(), next(), next());
        Ok(Partial {
            batches: start..end,
            histories,
            analog: Tally { sum: a, sum2: a2 },
            kerma: Tally { sum: k, sum2: k2 },
            energy,
            uncollided,
        })
    }

    /// Energy emitted by the source, eV.
    pub fn emitted(&self) -> f64 {
        self.energy[0] as f64 / ENERGY_SCALE
    }

    /// Energy deposited in the phantom (analog), eV.
    pub fn deposited(&self) -> f64 {
        self.energy[1] as f64 / ENERGY_SCALE
    }

    /// Energy carried out of the phantom, eV.
    pub fn escaped(&self) -> f64 {
        self.energy[2] as f64 / ENERGY_SCALE
    }

    /// Energy absorbed in the sources themselves (seeds' cores and capsules), eV; emitted =
    /// deposited + escaped + this.
    pub fn absorbed_in_sources(&self) -> f64 {
        self.energy[3] as f64 / ENERGY_SCALE
    }

    /// Dose per history (Gy) and its relative standard uncertainty per voxel, history by history,
    /// from one of the tallies. A tally that does not fit `grid`, or a result of no histories, is
    /// an error: never a dose of zeros.
    pub fn dose(&self, tally: &Tally, grid: &Grid) -> Result<(Volume<f64>, Volume<f64>)> {
        if tally.len() != grid.voxel_count() {
            return Err(Error::Merge {
                message: format!(
                    "a tally of {} voxels on a grid of {}",
                    tally.len(),
                    grid.voxel_count()
                ),
            });
        }
        if self.histories == 0 {
            return Err(Error::Merge {
                message: "a result of no histories has no dose".into(),
            });
        }
        let n = self.histories as f64;
        let mean: Vec<f64> = (0..tally.len())
            .map(|v| tally.sum(v) / n * EV_PER_G_TO_GY)
            .collect();
        let rel: Vec<f64> = (0..tally.len())
            .map(|v| (tally.sum(v), tally.sum_of_squares(v)))
            .map(|(s, s2)| {
                let m = s / n;
                if m <= 0.0 || n < 2.0 {
                    return 0.0;
                }
                let var = (s2 / n - m * m).max(0.0) / (n - 1.0);
                var.sqrt() / m
            })
            .collect();
        let wrap = |e: hope_core::Error| Error::Merge {
            message: e.to_string(),
        };
        Ok((
            Volume::new(grid.clone(), mean).map_err(wrap)?,
            Volume::new(grid.clone(), rel).map_err(wrap)?,
        ))
    }

    /// Checks that this is exactly the result of batches `batches` of a run of `histories`
    /// histories in batches of `batch_size`, scored on `voxels` voxels: the batches, the history
    /// count and the tally sizes.
    pub fn check_run(
        &self,
        batches: Range<u64>,
        histories: u64,
        batch_size: u64,
        voxels: usize,
    ) -> Result<()> {
        let bad = |m: String| {
            Err(Error::Merge {
                message: format!("result of batches {:?}: {m}", self.batches),
            })
        };
        if self.batches != batches {
            return bad(format!("expected batches {batches:?}"));
        }
        let expected = histories_in(histories, batch_size, &batches);
        if self.histories != expected {
            return bad(format!(
                "{} histories where batches {batches:?} hold {expected}",
                self.histories
            ));
        }
        if self.kerma.len() != voxels || self.analog.len() != voxels {
            return bad(format!(
                "{} and {} voxels where the run scores {voxels}",
                self.analog.len(),
                self.kerma.len()
            ));
        }
        if self.uncollided > self.histories {
            return bad(format!(
                "{} uncollided photons in {} histories",
                self.uncollided, self.histories
            ));
        }
        Ok(())
    }
}

/// The histories in batches `batches` of a run of `histories` histories cut in batches of
/// `batch_size` (the last batch may be short).
pub fn histories_in(histories: u64, batch_size: u64, batches: &Range<u64>) -> u64 {
    let at = |b: u64| b.saturating_mul(batch_size).min(histories);
    at(batches.end).saturating_sub(at(batches.start))
}

/// The mean relative uncertainty over the voxels above half the maximum dose, and how many there
/// are (the egs_brachy convention for the efficiency epsilon = 1 / (s^2 T)).
pub fn mean_uncertainty_above_half_max(
    dose: &Volume<f64>,
    uncertainty: &Volume<f64>,
) -> (usize, f64) {
    let max = dose.data().iter().copied().fold(0.0, f64::max);
    let high: Vec<f64> = dose
        .data()
        .iter()
        .zip(uncertainty.data())
        .filter(|(d, _)| **d > 0.5 * max)
        .map(|(_, u)| *u)
        .collect();
    (
        high.len(),
        high.iter().sum::<f64>() / high.len().max(1) as f64,
    )
}
