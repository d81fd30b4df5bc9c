//! The `[source]` section as typed values: kinds, energies and what they emit.

use std::path::PathBuf;

use super::*;
use crate::{Error, Result};

/// The energies of a source: one of `energy_kev`, `lines_kev` and `radionuclide` in the file.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Energies {
    /// One energy, keV (kinetic for electrons and positrons).
    Mono {
        /// The energy.
        energy_kev: f64,
    },
    /// Lines: [energy keV, relative intensity].
    Lines {
        /// The lines.
        lines_kev: Vec<[f64; 2]>,
    },
    /// A radionuclide's photon lines (I-125: TG-43U1's; others from ICRP-107).
    Radionuclide {
        /// Its name, as `I-125` or `Lu-177`.
        name: String,
    },
    /// A histogram: bins from `min_kev` to the first upper edge, then between consecutive upper
    /// edges, each with its probability (normalised); energies uniform within a bin.
    Histogram {
        /// The lower edge of the first bin, keV.
        min_kev: f64,
        /// [upper edge keV, probability] per bin, edges increasing.
        bins_kev: Vec<[f64; 2]>,
    },
    /// A histogram in a two-column text file (upper edge keV, probability per line; `#`
    /// comments; commas or spaces), read relative to the simulation file when the file is read,
    /// which turns it into [`Energies::Histogram`].
    HistogramFile {
        /// The file.
        path: PathBuf,
        /// The lower edge of the first bin, keV.
        min_kev: f64,
    },
}

/// The most bins a spectrum may have.
pub(crate) const MAX_SPECTRUM_BINS: usize = 100_000;

impl Energies {
    /// Reads a histogram file (relative to `base`) into an inline histogram; other energies
    /// are returned as they are.
    pub(crate) fn resolved(self, base: &std::path::Path) -> Result<Self> {
        let Energies::HistogramFile { path, min_kev } = self else {
            return Ok(self);
        };
        let full = if path.is_absolute() {
            path.clone()
        } else {
            base.join(&path)
        };
        let at = "source.spectrum_file";
        let text = crate::files::read_text(&full).map_err(|e| Error::Simulation {
            field: at.into(),
            message: "expected a readable spectrum file".into(),
            source: Some(Box::new(e)),
        })?;
        let mut bins_kev: Vec<[f64; 2]> = Vec::new();
        // Errors name the file and the line, never the line's text (it could be anything).
        let at_line = |n: usize, message: String| Error::Simulation {
            field: at.into(),
            message: format!("{} line {}: {message}", full.display(), n + 1),
            source: None,
        };
        if !(min_kev.is_finite() && min_kev >= 1.0) {
            return Err(Error::Simulation {
                field: "source.spectrum_min_kev".into(),
                message: format!("{min_kev:e}; expected at least 1 keV"),
                source: None,
            });
        }
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let cols: Vec<&str> = line
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|c| !c.is_empty())
                .collect();
            let parsed: Option<Vec<f64>> = cols.iter().map(|c| c.parse().ok()).collect();
            let Some([e, w]) = parsed.as_deref().and_then(|v| <[f64; 2]>::try_from(v).ok()) else {
                return Err(at_line(
                    n,
                    format!(
                        "{} columns, not two numbers (upper edge keV, probability)",
                        cols.len()
                    ),
                ));
            };
            let below = bins_kev.last().map_or(min_kev, |b| b[0]);
            if !(e.is_finite() && e > below && e <= 1e5) {
                return Err(at_line(
                    n,
                    format!(
                        "upper edge {e:e} keV; expected above the edge below ({below} keV) and at most 100000"
                    ),
                ));
            }
            if !(w.is_finite() && w >= 0.0) {
                return Err(at_line(
                    n,
                    format!("probability {w:e}; expected a finite number >= 0"),
                ));
            }
            if bins_kev.len() == MAX_SPECTRUM_BINS {
                return Err(at_line(n, format!("more than {MAX_SPECTRUM_BINS} bins")));
            }
            bins_kev.push([e, w]);
        }
        Ok(Energies::Histogram { min_kev, bins_kev })
    }
}

/// A field's shape in the file: `field_mm = [w, h]` or `radius_mm`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldSpec {
    /// A rectangle, mm (the first size along `u`, see the format's conventions).
    Rectangle {
        /// Width and height, mm.
        field_mm: [f64; 2],
    },
    /// A circle.
    Circle {
        /// Radius, mm.
        radius_mm: f64,
    },
}

/// What a beam or point source emits: `particle` and the energies in the file.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Emission {
    /// Photons (`particle = "photon"`, the default).
    Photons(Energies),
    /// Electrons of the given kinetic energies (needs electron transport).
    Electrons(Energies),
    /// Positrons of the given kinetic energies (needs electron transport).
    Positrons(Energies),
    /// Electrons with a radionuclide's ICRP-107 beta spectrum (`particle = "beta"`).
    Beta {
        /// The radionuclide, as `Y-90`.
        radionuclide: String,
    },
}

impl Emission {
    /// The `particle` of the file.
    pub fn particle(&self) -> Particle {
        match self {
            Emission::Photons(_) => Particle::Photon,
            Emission::Electrons(_) => Particle::Electron,
            Emission::Positrons(_) => Particle::Positron,
            Emission::Beta { .. } => Particle::Beta,
        }
    }
}

/// A source (`[source]`): its kind with the fields that kind takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "raw::Source", into = "raw::Source")]
#[non_exhaustive]
pub enum SourceSpec {
    /// Isotropic emission from a point.
    Point {
        /// The point, mm.
        position_mm: [f64; 3],
        /// Particles and energies.
        emission: Emission,
    },
    /// A pencil beam: infinitely thin, or of finite size (a parallel beam over a disc).
    Pencil {
        /// Where the beam starts (the disc's centre), mm.
        position_mm: [f64; 3],
        /// Its direction (need not be normalised).
        direction: [f64; 3],
        /// The radius of a finite pencil, mm (absent: infinitely thin).
        radius_mm: Option<f64>,
        /// Particles and energies.
        emission: Emission,
    },
    /// A cone beam from a point.
    Cone {
        /// The apex, mm.
        position_mm: [f64; 3],
        /// The cone's axis.
        direction: [f64; 3],
        /// Half opening angle, degrees (more than 0, at most 180).
        half_angle_deg: f64,
        /// Particles and energies.
        emission: Emission,
    },
    /// A parallel beam of a rectangular field.
    Parallel {
        /// The field's centre, mm.
        position_mm: [f64; 3],
        /// The beam's direction.
        direction: [f64; 3],
        /// Field size, mm.
        field_mm: [f64; 2],
        /// Particles and energies.
        emission: Emission,
    },
    /// A divergent beam from a focal point (DOSXYZnrc's source 1): uniform fluence over a
    /// rectangle or circle in the plane `distance_mm` from the focus.
    Divergent {
        /// The focal point, mm.
        position_mm: [f64; 3],
        /// The central axis.
        direction: [f64; 3],
        /// Distance from the focus to the plane of the field, mm (an SSD).
        distance_mm: f64,
        /// The field in that plane.
        field: FieldSpec,
        /// Particles and energies.
        emission: Emission,
    },
    /// An IAEA phase space (`.IAEAheader` and `.IAEAphsp`): one record per history.
    PhaseSpace {
        /// The header, the data file or their stem (relative to the simulation file).
        path: PathBuf,
        /// Where the file's origin lies in the phantom, mm.
        position_mm: [f64; 3],
        /// Rotation of the file's frame about x, then y, then z, degrees.
        rotation_deg: [f64; 3],
        /// Each record used this many more times in its history (weight divided).
        recycle: u32,
    },
    /// Brachytherapy seeds (photons only).
    Seeds {
        /// The seed model.
        model: SeedModelName,
        /// The photon energies of the seeds' radionuclide.
        energies: Energies,
        /// Position, axis and weight of each seed (empty with a plaque).
        seeds: Vec<SeedPlacement>,
        /// The eye plaque whose slots hold the seeds, instead of `seeds`.
        plaque: Option<PlaqueSpec>,
    },
}

impl SourceSpec {
    /// Reads the files the source names (a spectrum file) relative to `base`, so that the
    /// source carries their contents.
    pub(crate) fn read_files(&mut self, base: &std::path::Path) -> Result<()> {
        let energies = match self {
            SourceSpec::Point { emission, .. }
            | SourceSpec::Pencil { emission, .. }
            | SourceSpec::Cone { emission, .. }
            | SourceSpec::Parallel { emission, .. }
            | SourceSpec::Divergent { emission, .. } => match emission {
                Emission::Photons(e) | Emission::Electrons(e) | Emission::Positrons(e) => e,
                Emission::Beta { .. } => return Ok(()),
            },
            SourceSpec::Seeds { energies, .. } => energies,
            SourceSpec::PhaseSpace { .. } => return Ok(()),
        };
        let taken = std::mem::replace(energies, Energies::Mono { energy_kev: 0.0 });
        *energies = taken.resolved(base)?;
        Ok(())
    }

    /// The `kind` of the file.
    pub fn kind(&self) -> SourceKind {
        match self {
            SourceSpec::Point { .. } => SourceKind::Point,
            SourceSpec::Pencil { .. } => SourceKind::Pencil,
            SourceSpec::Cone { .. } => SourceKind::Cone,
            SourceSpec::Parallel { .. } => SourceKind::Parallel,
            SourceSpec::Divergent { .. } => SourceKind::Divergent,
            SourceSpec::PhaseSpace { .. } => SourceKind::PhaseSpace,
            SourceSpec::Seeds { .. } => SourceKind::Seeds,
        }
    }

    /// The beam's axis: a point on it and its direction (a phase space's: its frame's z axis),
    /// None for point sources and seeds.
    pub fn axis(&self) -> Option<(hope_core::Vec3, hope_core::Vec3)> {
        use hope_core::Vec3;
        match self {
            SourceSpec::Pencil {
                position_mm,
                direction,
                ..
            }
            | SourceSpec::Cone {
                position_mm,
                direction,
                ..
            }
            | SourceSpec::Parallel {
                position_mm,
                direction,
                ..
            }
            | SourceSpec::Divergent {
                position_mm,
                direction,
                ..
            } => Some((Vec3::from(*position_mm), Vec3::from(*direction))),
            SourceSpec::PhaseSpace {
                position_mm,
                rotation_deg,
                ..
            } => Some((
                Vec3::from(*position_mm),
                crate::source::rotated_axes(*rotation_deg)[2],
            )),
            SourceSpec::Point { .. } | SourceSpec::Seeds { .. } => None,
        }
    }

    /// What it emits (seeds: photons); None for a phase space (its records say).
    pub fn emission(&self) -> Option<Emission> {
        Some(match self {
            SourceSpec::Point { emission, .. }
            | SourceSpec::Pencil { emission, .. }
            | SourceSpec::Cone { emission, .. }
            | SourceSpec::Parallel { emission, .. }
            | SourceSpec::Divergent { emission, .. } => emission.clone(),
            SourceSpec::Seeds { energies, .. } => Emission::Photons(energies.clone()),
            SourceSpec::PhaseSpace { .. } => return None,
        })
    }

    /// The radionuclide named by the source, if any.
    pub fn radionuclide_name(&self) -> Option<&str> {
        let energies = match self {
            SourceSpec::Point { emission, .. }
            | SourceSpec::Pencil { emission, .. }
            | SourceSpec::Cone { emission, .. }
            | SourceSpec::Parallel { emission, .. }
            | SourceSpec::Divergent { emission, .. } => match emission {
                Emission::Photons(e) | Emission::Electrons(e) | Emission::Positrons(e) => e,
                Emission::Beta { radionuclide } => return Some(radionuclide),
            },
            SourceSpec::Seeds { energies, .. } => energies,
            SourceSpec::PhaseSpace { .. } => return None,
        };
        match energies {
            Energies::Radionuclide { name } => Some(name),
            _ => None,
        }
    }

    /// The seeds of a seed source (empty for the others).
    pub fn seeds(&self) -> &[SeedPlacement] {
        match self {
            SourceSpec::Seeds { seeds, .. } => seeds,
            _ => &[],
        }
    }

    /// The energy spectrum (eV) of what the source emits.
    pub fn spectrum(&self) -> Result<Spectrum> {
        Ok(self.checked_spectrum()?)
    }

    fn checked_spectrum(&self) -> Checked<Spectrum> {
        let Some(emission) = self.emission() else {
            // A phase space's energies are in its records (read with the source); for the
            // checks, anything up to the data's limit.
            return Ok(Spectrum::Mono(crate::physics::E_MAX));
        };
        let energies = match emission {
            Emission::Beta { radionuclide } => {
                return Radionuclide::by_name(&radionuclide)
                    .and_then(|r| r.beta_spectrum())
                    .map_err(|e| {
                        Invalid::because(
                            "source.radionuclide",
                            "expected a radionuclide with a beta spectrum",
                            e,
                        )
                    });
            }
            Emission::Photons(e) | Emission::Electrons(e) | Emission::Positrons(e) => e,
        };
        match energies {
            Energies::Mono { energy_kev: e } if e.is_finite() && (1.0..=1e5).contains(&e) => {
                Ok(Spectrum::Mono(e * 1e3))
            }
            Energies::Mono { energy_kev: e } => Err(Invalid::new(
                "source.energy_kev",
                format!("{e}; expected 1 to 100000 keV"),
            )),
            Energies::Lines { lines_kev } => {
                if let Some((i, [e, _])) = lines_kev
                    .iter()
                    .enumerate()
                    .find(|(_, [e, _])| !(e.is_finite() && *e >= 1.0 && *e <= 1e5))
                {
                    return Err(Invalid::new(
                        format!("source.lines_kev[{i}]"),
                        format!("{e} keV; expected 1 to 100000 keV"),
                    ));
                }
                Spectrum::lines(
                    &lines_kev
                        .iter()
                        .map(|[e, w]| (e * 1e3, *w))
                        .collect::<Vec<_>>(),
                )
                .map_err(|e| Invalid::because("source.lines_kev", "expected usable lines", e))
            }
            Energies::Histogram { min_kev, bins_kev } => {
                if bins_kev.is_empty() || bins_kev.len() > MAX_SPECTRUM_BINS {
                    return Err(Invalid::new(
                        "source.spectrum_kev",
                        format!("{} bins; expected 1 to {MAX_SPECTRUM_BINS}", bins_kev.len()),
                    ));
                }
                if !(min_kev.is_finite() && min_kev >= 1.0) {
                    return Err(Invalid::new(
                        "source.spectrum_min_kev",
                        format!("{min_kev:e}; expected at least 1 keV"),
                    ));
                }
                let mut edges = vec![min_kev];
                for (i, [e, w]) in bins_kev.iter().enumerate() {
                    let below = edges[edges.len() - 1];
                    if !(e.is_finite() && *e > below && *e <= 1e5) {
                        return Err(Invalid::new(
                            format!("source.spectrum_kev[{i}]"),
                            format!(
                                "upper edge {e} keV; expected above the edge below ({below} keV) and at most 100000"
                            ),
                        ));
                    }
                    if !(w.is_finite() && *w >= 0.0) {
                        return Err(Invalid::new(
                            format!("source.spectrum_kev[{i}]"),
                            format!("probability {w}; expected a finite number >= 0"),
                        ));
                    }
                    edges.push(*e);
                }
                if !(min_kev.is_finite() && min_kev >= 1.0) {
                    return Err(Invalid::new(
                        "source.spectrum_min_kev",
                        format!("{min_kev}; expected at least 1 keV"),
                    ));
                }
                let edges: Vec<f64> = edges.iter().map(|e| e * 1e3).collect();
                let weights: Vec<f64> = bins_kev.iter().map(|[_, w]| *w).collect();
                Spectrum::histogram(&edges, &weights).map_err(|e| {
                    Invalid::because("source.spectrum_kev", "expected a usable histogram", e)
                })
            }
            Energies::HistogramFile { path, .. } => Err(Invalid::new(
                "source.spectrum_file",
                format!(
                    "{}: not read yet (Simulation::from_file reads it; in code, give \
                     Energies::Histogram)",
                    path.display()
                ),
            )),
            Energies::Radionuclide { name } => match name.as_str() {
                // The brachytherapy dosimetry standard for I-125.
                i125 if is_i125(i125) => Spectrum::lines(&I125_LINES)
                    .map_err(|e| Invalid::because("source.radionuclide", "I-125", e)),
                other => Radionuclide::by_name(other)
                    .and_then(|r| r.spectrum(0.0))
                    .map_err(|e| {
                        Invalid::because(
                            "source.radionuclide",
                            "expected a built-in radionuclide",
                            e,
                        )
                    }),
            },
        }
    }

    /// Checks every value (the file's structure is checked when it is read); the spectrum, which
    /// the checks make.
    pub(crate) fn check(&self) -> Checked<Spectrum> {
        let spectrum = self.checked_spectrum()?;
        self.check_geometry()?;
        Ok(spectrum)
    }

    fn check_geometry(&self) -> Checked {
        let direction = |d: [f64; 3]| unit("source.direction", d).map(|_| ());
        let position = |p: [f64; 3]| finite3("source.position_mm", p).map(|_| ());
        match self {
            SourceSpec::Point { position_mm, .. } => position(*position_mm),
            SourceSpec::Pencil {
                position_mm,
                direction: d,
                radius_mm,
                ..
            } => {
                position(*position_mm)?;
                direction(*d)?;
                match radius_mm {
                    Some(r) => length("source.radius_mm", *r),
                    None => Ok(()),
                }
            }
            SourceSpec::Divergent {
                position_mm,
                direction: d,
                distance_mm,
                field,
                ..
            } => {
                position(*position_mm)?;
                direction(*d)?;
                length("source.distance_mm", *distance_mm)?;
                match field {
                    FieldSpec::Rectangle { field_mm: [w, h] } => {
                        length("source.field_mm", *w)?;
                        length("source.field_mm", *h)
                    }
                    FieldSpec::Circle { radius_mm } => length("source.radius_mm", *radius_mm),
                }
            }
            SourceSpec::Cone {
                position_mm,
                direction: d,
                half_angle_deg: a,
                ..
            } => {
                position(*position_mm)?;
                direction(*d)?;
                if !(*a > 0.0 && *a <= 180.0) {
                    return Err(Invalid::new(
                        "source.half_angle_deg",
                        format!("{a}; expected 0 < angle <= 180 degrees"),
                    ));
                }
                Ok(())
            }
            SourceSpec::Parallel {
                position_mm,
                direction: d,
                field_mm: [w, h],
                ..
            } => {
                position(*position_mm)?;
                direction(*d)?;
                if !(*w > 0.0 && *h > 0.0 && w.is_finite() && h.is_finite()) {
                    return Err(Invalid::new(
                        "source.field_mm",
                        format!("{:?}; expected two positive sizes", [*w, *h]),
                    ));
                }
                Ok(())
            }
            SourceSpec::PhaseSpace {
                position_mm,
                rotation_deg,
                recycle,
                ..
            } => {
                position(*position_mm)?;
                finite3("source.rotation_deg", *rotation_deg)?;
                if *recycle > 1000 {
                    return Err(Invalid::new(
                        "source.recycle",
                        format!("{recycle}; expected at most 1000"),
                    ));
                }
                Ok(())
            }
            SourceSpec::Seeds {
                model,
                energies: Energies::Radionuclide { name },
                ..
            } if crate::source::Radionuclide::by_name(name)
                .is_ok_and(|r| r.name() != model.radionuclide()) =>
            {
                // (Attack round on issue 26: a TheraSeed 200 of I-125 was accepted.)
                Err(Invalid::new(
                    "source.radionuclide",
                    format!(
                        "`{name}` in seed model {}, which holds {}; give the lines with lines_kev \
                         for another spectrum",
                        model.as_str(),
                        model.radionuclide()
                    ),
                ))
            }
            SourceSpec::Seeds {
                plaque: Some(p),
                seeds,
                ..
            } => {
                if !seeds.is_empty() {
                    return Err(Invalid::new(
                        "source.seeds",
                        "not with a plaque: its slots place the seeds",
                    ));
                }
                let plaque = crate::source::plaque::Plaque::by_name(&p.name)
                    .map_err(|e| Invalid::new("source.plaque.name", e.to_string()))?;
                finite3("source.plaque.eye_centre_mm", p.eye_centre_mm)?;
                unit("source.plaque.direction", p.direction)?;
                if !(p.rotation_deg.is_finite() && p.rotation_deg.abs() <= 360.0) {
                    return Err(Invalid::new(
                        "source.plaque.rotation_deg",
                        format!("{}; expected -360 to 360", p.rotation_deg),
                    ));
                }
                let loads = p.loads(plaque.slots().len())?;
                if !loads
                    .iter()
                    .any(|l| matches!(l, crate::source::plaque::SlotLoad::Active(_)))
                {
                    return Err(Invalid::new("source.plaque.strengths", "no active seed"));
                }
                Ok(())
            }
            SourceSpec::Seeds { seeds, .. } => {
                if seeds.is_empty() {
                    return Err(Invalid::new("source.seeds", "no seeds"));
                }
                for (i, seed) in seeds.iter().enumerate() {
                    finite3(&format!("source.seeds[{i}].position_mm"), seed.position_mm)?;
                    unit(&format!("source.seeds[{i}].axis"), seed.axis)?;
                    // 0 is an empty slot of a plaque; the weights' sum must be positive (checked
                    // when the source is made).
                    if !(seed.weight.is_finite() && seed.weight >= 0.0) {
                        return Err(Invalid::new(
                            format!("source.seeds[{i}].weight"),
                            format!("{}; expected a finite weight >= 0", seed.weight),
                        ));
                    }
                }
                Ok(())
            }
        }
    }
}
