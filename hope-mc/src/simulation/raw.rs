//! The file's forms of the typed sections: flat tables whose fields apply to some kinds only.
//! Reading turns them into the typed values, refusing a field that does not apply.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::spec::{
    Emission, Energies, FieldSpec, InsertShape, InsertSpec, Invalid, Particle, PhantomBody,
    PhantomSpec, PlaqueSpec, SeedModelName, Shape, SourceKind, SourceSpec, insert_path,
};
use crate::source::SeedPlacement;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phantom {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dims: Option<[usize; 3]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spacing_mm: Option<[f64; 3]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_mm: Option<[f64; 3]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub material: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub density: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ct_mha: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hu_table: Option<PathBuf>,
    #[serde(default)]
    pub insert: Vec<Insert>,
}

/// Refuses `name` (given) where `what` does not take it.
fn not_for(field: String, present: bool, what: &str) -> Result<(), Invalid> {
    if present {
        return Err(Invalid::new(field, format!("does not apply to {what}")));
    }
    Ok(())
}

impl TryFrom<Phantom> for PhantomSpec {
    type Error = String;

    fn try_from(p: Phantom) -> Result<Self, String> {
        p.typed().map_err(|e| e.to_string())
    }
}

impl Phantom {
    fn typed(self) -> Result<PhantomSpec, Invalid> {
        let p = self;
        let body = match p.ct_mha {
            Some(ct_mha) => {
                if p.dims.is_some() || p.spacing_mm.is_some() || p.material.is_some() {
                    return Err(Invalid::new(
                        "phantom",
                        "either ct_mha or dims, spacing_mm and material, not both",
                    ));
                }
                let what = "a CT phantom (the CT gives its geometry and, with the HU table, its densities)";
                // Earlier versions wrote the default origin, 0, 0, 0, for CTs too.
                not_for(
                    "phantom.origin_mm".into(),
                    p.origin_mm.is_some_and(|o| o != [0.0; 3]),
                    what,
                )?;
                not_for("phantom.density".into(), p.density.is_some(), what)?;
                PhantomBody::Ct {
                    ct_mha,
                    hu_table: p.hu_table,
                }
            }
            None => {
                not_for(
                    "phantom.hu_table".into(),
                    p.hu_table.is_some(),
                    "a box phantom (only with ct_mha)",
                )?;
                let dims = p
                    .dims
                    .ok_or_else(|| Invalid::new("phantom.dims", "missing (or give ct_mha)"))?;
                let spacing_mm = p
                    .spacing_mm
                    .ok_or_else(|| Invalid::new("phantom.spacing_mm", "missing"))?;
                let material = p
                    .material
                    .ok_or_else(|| Invalid::new("phantom.material", "missing"))?;
                PhantomBody::Box {
                    dims,
                    spacing_mm,
                    origin_mm: p.origin_mm.unwrap_or([0.0; 3]),
                    material,
                    density: p.density,
                }
            }
        };
        let insert = p
            .insert
            .into_iter()
            .enumerate()
            .map(|(i, ins)| ins.typed(Some(i)))
            .collect::<Result<_, _>>()?;
        Ok(PhantomSpec { body, insert })
    }
}

impl From<PhantomSpec> for Phantom {
    fn from(p: PhantomSpec) -> Self {
        let mut raw = Phantom {
            dims: None,
            spacing_mm: None,
            origin_mm: None,
            material: None,
            density: None,
            ct_mha: None,
            hu_table: None,
            insert: p.insert.into_iter().map(Insert::from).collect(),
        };
        match p.body {
            PhantomBody::Box {
                dims,
                spacing_mm,
                origin_mm,
                material,
                density,
            } => {
                raw.dims = Some(dims);
                raw.spacing_mm = Some(spacing_mm);
                raw.origin_mm = Some(origin_mm);
                raw.material = Some(material);
                raw.density = density;
            }
            PhantomBody::Ct { ct_mha, hu_table } => {
                raw.ct_mha = Some(ct_mha);
                raw.hu_table = hu_table;
            }
        }
        raw
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Insert {
    pub material: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub density: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<Shape>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_mm: Option<[f64; 3]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_mm: Option<[f64; 3]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub centre_mm: Option<[f64; 3]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radius_mm: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub axis: Option<[f64; 3]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length_mm: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inner_radius_mm: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub half_angle_deg: Option<f64>,
}

impl Insert {
    fn typed(self, index: Option<usize>) -> Result<InsertSpec, Invalid> {
        let at = insert_path(index);
        let shape = self.shape.unwrap_or_default();
        let given = [
            ("min_mm", self.min_mm.is_some()),
            ("max_mm", self.max_mm.is_some()),
            ("centre_mm", self.centre_mm.is_some()),
            ("radius_mm", self.radius_mm.is_some()),
            ("axis", self.axis.is_some()),
            ("length_mm", self.length_mm.is_some()),
            ("inner_radius_mm", self.inner_radius_mm.is_some()),
            ("half_angle_deg", self.half_angle_deg.is_some()),
        ];
        let takes: &[&str] = match shape {
            Shape::Box => &["min_mm", "max_mm"],
            Shape::Sphere => &["centre_mm", "radius_mm"],
            Shape::Cylinder => &["centre_mm", "radius_mm", "axis", "length_mm"],
            Shape::Tube => &[
                "centre_mm",
                "radius_mm",
                "axis",
                "length_mm",
                "inner_radius_mm",
            ],
            Shape::Shell => &[
                "centre_mm",
                "radius_mm",
                "axis",
                "inner_radius_mm",
                "half_angle_deg",
            ],
        };
        for (name, present) in given {
            if !takes.contains(&name) {
                not_for(
                    format!("{at}.{name}"),
                    present,
                    &format!("a {shape} (it takes {})", takes.join(", ")),
                )?;
            }
        }
        let need3 = |name: &str, v: Option<[f64; 3]>| {
            v.ok_or_else(|| {
                Invalid::new(
                    format!("{at}.{name}"),
                    format!("missing: a {shape} needs it"),
                )
            })
        };
        let need = |name: &str, v: Option<f64>| {
            v.ok_or_else(|| {
                Invalid::new(
                    format!("{at}.{name}"),
                    format!("missing: a {shape} needs it"),
                )
            })
        };
        let solid = match shape {
            Shape::Box => InsertShape::Box {
                min_mm: need3("min_mm", self.min_mm)?,
                max_mm: need3("max_mm", self.max_mm)?,
            },
            Shape::Sphere => InsertShape::Sphere {
                centre_mm: need3("centre_mm", self.centre_mm)?,
                radius_mm: need("radius_mm", self.radius_mm)?,
            },
            Shape::Cylinder => InsertShape::Cylinder {
                centre_mm: need3("centre_mm", self.centre_mm)?,
                axis: need3("axis", self.axis)?,
                radius_mm: need("radius_mm", self.radius_mm)?,
                length_mm: need("length_mm", self.length_mm)?,
            },
            Shape::Tube => InsertShape::Tube {
                centre_mm: need3("centre_mm", self.centre_mm)?,
                axis: need3("axis", self.axis)?,
                inner_radius_mm: need("inner_radius_mm", self.inner_radius_mm)?,
                radius_mm: need("radius_mm", self.radius_mm)?,
                length_mm: need("length_mm", self.length_mm)?,
            },
            Shape::Shell => InsertShape::Shell {
                centre_mm: need3("centre_mm", self.centre_mm)?,
                inner_radius_mm: need("inner_radius_mm", self.inner_radius_mm)?,
                radius_mm: need("radius_mm", self.radius_mm)?,
                axis: self.axis,
                half_angle_deg: self.half_angle_deg,
            },
        };
        Ok(InsertSpec {
            material: self.material,
            density: self.density,
            shape: solid,
        })
    }
}

impl TryFrom<Insert> for InsertSpec {
    type Error = String;

    fn try_from(i: Insert) -> Result<Self, String> {
        i.typed(None).map_err(|e| e.to_string())
    }
}

impl From<InsertSpec> for Insert {
    fn from(i: InsertSpec) -> Self {
        let mut raw = Insert {
            material: i.material,
            density: i.density,
            shape: Some(i.shape.kind()),
            ..Insert::default()
        };
        match i.shape {
            InsertShape::Box { min_mm, max_mm } => {
                raw.min_mm = Some(min_mm);
                raw.max_mm = Some(max_mm);
            }
            InsertShape::Sphere {
                centre_mm,
                radius_mm,
            } => {
                raw.centre_mm = Some(centre_mm);
                raw.radius_mm = Some(radius_mm);
            }
            InsertShape::Cylinder {
                centre_mm,
                axis,
                radius_mm,
                length_mm,
            } => {
                raw.centre_mm = Some(centre_mm);
                raw.axis = Some(axis);
                raw.radius_mm = Some(radius_mm);
                raw.length_mm = Some(length_mm);
            }
            InsertShape::Tube {
                centre_mm,
                axis,
                inner_radius_mm,
                radius_mm,
                length_mm,
            } => {
                raw.centre_mm = Some(centre_mm);
                raw.axis = Some(axis);
                raw.inner_radius_mm = Some(inner_radius_mm);
                raw.radius_mm = Some(radius_mm);
                raw.length_mm = Some(length_mm);
            }
            InsertShape::Shell {
                centre_mm,
                inner_radius_mm,
                radius_mm,
                axis,
                half_angle_deg,
            } => {
                raw.centre_mm = Some(centre_mm);
                raw.inner_radius_mm = Some(inner_radius_mm);
                raw.radius_mm = Some(radius_mm);
                raw.axis = axis;
                raw.half_angle_deg = half_angle_deg;
            }
        }
        raw
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub kind: SourceKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position_mm: Option<[f64; 3]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<[f64; 3]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub half_angle_deg: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_mm: Option<[f64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radius_mm: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance_mm: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_kev: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spectrum_kev: Option<Vec<[f64; 2]>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spectrum_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spectrum_min_kev: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines_kev: Option<Vec<[f64; 2]>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radionuclide: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<SeedModelName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seeds: Option<Vec<SeedPlacement>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plaque: Option<PlaqueSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub particle: Option<Particle>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase_space: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_deg: Option<[f64; 3]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recycle: Option<u32>,
}

impl Source {
    fn energies(&mut self) -> Result<Energies, Invalid> {
        let min_kev = self.spectrum_min_kev.take();
        let histogram = self.spectrum_kev.is_some() || self.spectrum_file.is_some();
        if min_kev.is_some() && !histogram {
            return Err(Invalid::new(
                "source.spectrum_min_kev",
                "applies to a histogram only (spectrum_kev or spectrum_file)",
            ));
        }
        let min = || {
            min_kev.ok_or_else(|| {
                Invalid::new(
                    "source.spectrum_min_kev",
                    "missing: the lower edge of the histogram's first bin, keV",
                )
            })
        };
        match (
            self.energy_kev.take(),
            self.lines_kev.take(),
            self.radionuclide.take(),
            self.spectrum_kev.take(),
            self.spectrum_file.take(),
        ) {
            (Some(energy_kev), None, None, None, None) => Ok(Energies::Mono { energy_kev }),
            (None, Some(lines_kev), None, None, None) => Ok(Energies::Lines { lines_kev }),
            (None, None, Some(name), None, None) => Ok(Energies::Radionuclide { name }),
            (None, None, None, Some(bins_kev), None) => Ok(Energies::Histogram {
                min_kev: min()?,
                bins_kev,
            }),
            (None, None, None, None, Some(path)) => Ok(Energies::HistogramFile {
                path,
                min_kev: min()?,
            }),
            _ => Err(Invalid::new(
                "source",
                "exactly one of energy_kev, lines_kev, radionuclide, spectrum_kev and \
                 spectrum_file is expected",
            )),
        }
    }

    fn emission(&mut self) -> Result<Emission, Invalid> {
        Ok(match self.particle.unwrap_or_default() {
            Particle::Beta => {
                let radionuclide = self.radionuclide.take().ok_or_else(|| {
                    Invalid::new("source.radionuclide", "a beta source needs a radionuclide")
                })?;
                if self.energy_kev.is_some()
                    || self.lines_kev.is_some()
                    || self.spectrum_kev.is_some()
                    || self.spectrum_file.is_some()
                    || self.spectrum_min_kev.is_some()
                {
                    return Err(Invalid::new(
                        "source",
                        "a beta source takes its energies from the radionuclide only",
                    ));
                }
                Emission::Beta { radionuclide }
            }
            Particle::Photon => Emission::Photons(self.energies()?),
            Particle::Electron => Emission::Electrons(self.energies()?),
            Particle::Positron => Emission::Positrons(self.energies()?),
        })
    }
}

impl TryFrom<Source> for SourceSpec {
    type Error = String;

    fn try_from(s: Source) -> Result<Self, String> {
        s.typed().map_err(|e| e.to_string())
    }
}

impl Source {
    fn typed(self) -> Result<SourceSpec, Invalid> {
        let mut s = self;
        let kind = s.kind;
        let what = format!("a {kind} source");
        let takes = |name: &str, present: bool, kinds: &[SourceKind]| {
            not_for(
                format!("source.{name}"),
                present && !kinds.contains(&kind),
                &what,
            )
        };
        use SourceKind::{Cone, Divergent, Parallel, Pencil, PhaseSpace, Point, Seeds};
        takes(
            "position_mm",
            s.position_mm.is_some(),
            &[Point, Pencil, Cone, Parallel, Divergent, PhaseSpace],
        )?;
        takes("phase_space", s.phase_space.is_some(), &[PhaseSpace])?;
        takes("rotation_deg", s.rotation_deg.is_some(), &[PhaseSpace])?;
        takes("recycle", s.recycle.is_some(), &[PhaseSpace])?;
        takes(
            "direction",
            s.direction.is_some(),
            &[Pencil, Cone, Parallel, Divergent],
        )?;
        takes("half_angle_deg", s.half_angle_deg.is_some(), &[Cone])?;
        takes("field_mm", s.field_mm.is_some(), &[Parallel, Divergent])?;
        takes("radius_mm", s.radius_mm.is_some(), &[Pencil, Divergent])?;
        takes("distance_mm", s.distance_mm.is_some(), &[Divergent])?;
        takes("model", s.model.is_some(), &[Seeds])?;
        takes("plaque", s.plaque.is_some(), &[Seeds])?;
        // Earlier versions wrote `seeds: []` for every kind: an empty list is no list.
        takes(
            "seeds",
            s.seeds.as_ref().is_some_and(|v| !v.is_empty()),
            &[Seeds],
        )?;
        let position = s
            .position_mm
            .ok_or_else(|| {
                Invalid::new(
                    "source.position_mm",
                    format!("missing: {what} needs a position"),
                )
            })
            .and_then(|p| {
                // Bounded like every other coordinate: a source 1e300 mm away has no point a
                // double can tell apart from its neighbours near the phantom.
                if p.iter().all(|x| x.is_finite() && x.abs() <= 1e7) {
                    Ok(p)
                } else {
                    Err(Invalid::new(
                        "source.position_mm",
                        "expected finite coordinates within 1e7 mm".to_string(),
                    ))
                }
            });
        let direction = s.direction.ok_or_else(|| {
            Invalid::new(
                "source.direction",
                format!("missing: a {kind} beam needs a direction"),
            )
        });
        Ok(match kind {
            Point => SourceSpec::Point {
                position_mm: position?,
                emission: s.emission()?,
            },
            Pencil => SourceSpec::Pencil {
                position_mm: position?,
                direction: direction?,
                radius_mm: s.radius_mm,
                emission: s.emission()?,
            },
            Divergent => SourceSpec::Divergent {
                position_mm: position?,
                direction: direction?,
                distance_mm: s.distance_mm.ok_or_else(|| {
                    Invalid::new(
                        "source.distance_mm",
                        "missing: the distance from the focus to the plane of the field, mm",
                    )
                })?,
                field: match (s.field_mm, s.radius_mm) {
                    (Some(field_mm), None) => FieldSpec::Rectangle { field_mm },
                    (None, Some(radius_mm)) => FieldSpec::Circle { radius_mm },
                    _ => {
                        return Err(Invalid::new(
                            "source",
                            "a divergent source takes one of field_mm (a rectangle) and \
                             radius_mm (a circle)",
                        ));
                    }
                },
                emission: s.emission()?,
            },
            Cone => SourceSpec::Cone {
                position_mm: position?,
                direction: direction?,
                half_angle_deg: s.half_angle_deg.ok_or_else(|| {
                    Invalid::new(
                        "source.half_angle_deg",
                        "missing; expected 0 < angle <= 180 degrees",
                    )
                })?,
                emission: s.emission()?,
            },
            Parallel => SourceSpec::Parallel {
                position_mm: position?,
                direction: direction?,
                field_mm: s.field_mm.ok_or_else(|| {
                    Invalid::new("source.field_mm", "missing; expected two positive sizes")
                })?,
                emission: s.emission()?,
            },
            PhaseSpace => {
                // The energies' fields (the general checks cover the geometry's).
                for (name, present) in [
                    ("energy_kev", s.energy_kev.is_some()),
                    ("lines_kev", s.lines_kev.is_some()),
                    ("radionuclide", s.radionuclide.is_some()),
                    ("spectrum_kev", s.spectrum_kev.is_some()),
                    ("spectrum_file", s.spectrum_file.is_some()),
                    ("spectrum_min_kev", s.spectrum_min_kev.is_some()),
                    ("particle", s.particle.is_some()),
                ] {
                    not_for(
                        format!("source.{name}"),
                        present,
                        "a phase-space source (its records give particles and energies)",
                    )?;
                }
                SourceSpec::PhaseSpace {
                    path: s.phase_space.ok_or_else(|| {
                        Invalid::new(
                            "source.phase_space",
                            "missing: the .IAEAheader (or .IAEAphsp) file",
                        )
                    })?,
                    position_mm: match s.position_mm {
                        None => [0.0; 3],
                        Some(_) => position?,
                    },
                    rotation_deg: s.rotation_deg.unwrap_or([0.0; 3]),
                    recycle: s.recycle.unwrap_or(0),
                }
            }
            Seeds => {
                if !matches!(s.particle, None | Some(Particle::Photon)) {
                    return Err(Invalid::new("source.particle", "seeds emit photons only"));
                }
                SourceSpec::Seeds {
                    model: s
                        .model
                        .ok_or_else(|| {
                            Invalid::new(
                                "source.model",
                                "missing; built in: 6711, theraseed-200, best-2301, isoseed-i25.s06, thinseed-9011, isostar-is-12501",
                            )
                        })?,
                    energies: s.energies()?,
                    seeds: s.seeds.take().unwrap_or_default(),
                    plaque: s.plaque.take(),
                }
            }
        })
    }
}

impl From<SourceSpec> for Source {
    fn from(s: SourceSpec) -> Self {
        let mut raw = Source {
            kind: s.kind(),
            position_mm: None,
            direction: None,
            half_angle_deg: None,
            field_mm: None,
            radius_mm: None,
            distance_mm: None,
            energy_kev: None,
            spectrum_kev: None,
            spectrum_file: None,
            spectrum_min_kev: None,
            lines_kev: None,
            radionuclide: None,
            model: None,
            seeds: None,
            plaque: None,
            particle: None,
            phase_space: None,
            rotation_deg: None,
            recycle: None,
        };
        let Some(emission) = s.emission() else {
            if let SourceSpec::PhaseSpace {
                path,
                position_mm,
                rotation_deg,
                recycle,
            } = s
            {
                raw.phase_space = Some(path);
                raw.position_mm = Some(position_mm);
                raw.rotation_deg = Some(rotation_deg);
                raw.recycle = Some(recycle);
            }
            return raw;
        };
        match s {
            SourceSpec::Point { position_mm, .. } => raw.position_mm = Some(position_mm),
            SourceSpec::Pencil {
                position_mm,
                direction,
                radius_mm,
                ..
            } => {
                raw.position_mm = Some(position_mm);
                raw.direction = Some(direction);
                raw.radius_mm = radius_mm;
            }
            SourceSpec::Divergent {
                position_mm,
                direction,
                distance_mm,
                field,
                ..
            } => {
                raw.position_mm = Some(position_mm);
                raw.direction = Some(direction);
                raw.distance_mm = Some(distance_mm);
                match field {
                    FieldSpec::Rectangle { field_mm } => raw.field_mm = Some(field_mm),
                    FieldSpec::Circle { radius_mm } => raw.radius_mm = Some(radius_mm),
                }
            }
            SourceSpec::Cone {
                position_mm,
                direction,
                half_angle_deg,
                ..
            } => {
                raw.position_mm = Some(position_mm);
                raw.direction = Some(direction);
                raw.half_angle_deg = Some(half_angle_deg);
            }
            SourceSpec::Parallel {
                position_mm,
                direction,
                field_mm,
                ..
            } => {
                raw.position_mm = Some(position_mm);
                raw.direction = Some(direction);
                raw.field_mm = Some(field_mm);
            }
            SourceSpec::PhaseSpace { .. } => {}
            SourceSpec::Seeds {
                model,
                seeds,
                plaque,
                ..
            } => {
                raw.model = Some(model);
                raw.seeds = (!seeds.is_empty() || plaque.is_none()).then_some(seeds);
                raw.plaque = plaque;
            }
        }
        let energies = match emission {
            Emission::Photons(e) => e,
            Emission::Electrons(e) => {
                raw.particle = Some(Particle::Electron);
                e
            }
            Emission::Positrons(e) => {
                raw.particle = Some(Particle::Positron);
                e
            }
            Emission::Beta { radionuclide } => {
                raw.particle = Some(Particle::Beta);
                raw.radionuclide = Some(radionuclide);
                return raw;
            }
        };
        match energies {
            Energies::Mono { energy_kev } => raw.energy_kev = Some(energy_kev),
            Energies::Lines { lines_kev } => raw.lines_kev = Some(lines_kev),
            Energies::Radionuclide { name } => raw.radionuclide = Some(name),
            Energies::Histogram { min_kev, bins_kev } => {
                raw.spectrum_min_kev = Some(min_kev);
                raw.spectrum_kev = Some(bins_kev);
            }
            Energies::HistogramFile { path, min_kev } => {
                raw.spectrum_min_kev = Some(min_kev);
                raw.spectrum_file = Some(path);
            }
        }
        raw
    }
}
