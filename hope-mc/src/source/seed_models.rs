//! The built-in brachytherapy seed models, in the seed's frame (cm, axis along z, centred).
//!
//! Dimensions: the 6711 as described for AAPM TG-43U1 (Rivard et al., Med Phys 31:633, 2004);
//! the others as modelled for the Carleton Laboratory for Radiotherapy Physics TG-43 database
//! (CLRP TG43v2: Safigholi et al., Med Phys 47:4656, 2020), after the manufacturers' drawings in
//! the papers it cites: TheraSeed 200 (Williamson, Med Phys 27:643, 2000), Best 2301 (Meigooni et
//! al., Med Phys 29:2152, 2002; Sowards and Meigooni, Med Phys 29:2163, 2002) and IsoSeed
//! I25.S06 (Hedtjärn et al., Phys Med Biol 45:1287, 2000), ThinSeed 9011 (Kennedy et al., Med Phys
//! 37:1681, 2010) and IsoStar IS-12501 (Gearheart et al., Med Phys 27:2278, 2000). Only dimensions were taken (facts), and
//! each is listed in `tools/sources/issue26.md` or `issue26_more_seeds.md` with where it was read.

use super::brachy::{Emitter, Piece, SeedModel};
use crate::geometry::solids::Solid;
use crate::material::Material;
use crate::{Error, Result};

/// The names [`SeedModel::by_name`] knows, with the radionuclide each carries.
pub const SEED_MODELS: [(&str, &str); 6] = [
    ("6711", "I-125"),
    ("theraseed-200", "Pd-103"),
    ("best-2301", "I-125"),
    ("isoseed-i25.s06", "I-125"),
    ("thinseed-9011", "I-125"),
    ("isostar-is-12501", "I-125"),
];

fn materials(names: &[&str]) -> Result<Vec<Material>> {
    names.iter().map(|n| Material::builtin(n)).collect()
}

impl SeedModel {
    /// A built-in model by name (see [`SEED_MODELS`]).
    pub fn by_name(name: &str) -> Result<Self> {
        match name {
            "6711" => Self::model_6711(),
            "theraseed-200" => Self::theraseed_200(),
            "best-2301" => Self::best_2301(),
            "isoseed-i25.s06" => Self::isoseed_i25_s06(),
            "thinseed-9011" => Self::thinseed_9011(),
            "isostar-is-12501" => Self::isostar_is_12501(),
            _ => Err(Error::Source {
                message: format!(
                    "seed model `{name}`: expected one of {}",
                    SEED_MODELS.map(|m| m.0).join(", ")
                ),
            }),
        }
    }

    /// The Oncura/GE model 6711 (I-125) as described for TG-43U1: titanium capsule 4.5 mm long,
    /// 0.8 mm outer diameter, 0.05 mm wall (the welded ends modelled as flat 0.05 mm walls), silver
    /// rod 3.0 mm long and 0.5 mm in diameter carrying the I-125 on its surface, air between;
    /// L = 3.0 mm.
    pub fn model_6711() -> Result<Self> {
        Ok(Self {
            name: "6711".into(),
            parts: vec![
                (Solid::cylinder(0.025, -0.15, 0.15), Some(0)),
                (Solid::cylinder(0.035, -0.22, 0.22), Some(1)),
                (Solid::cylinder(0.04, -0.225, 0.225), Some(2)),
            ],
            materials: materials(&["silver", "air", "titanium"])?,
            emitter: Emitter::CylinderSurface {
                r: 0.025,
                half_length: 0.15,
            },
            active_length: 0.3,
        })
    }

    /// The Theragenics TheraSeed 200 (Pd-103), "light" seed: a titanium tube 4.5 mm long, 0.826 mm
    /// in outer diameter with a 0.056 mm wall, closed by laser-welded end cups (hemispherical
    /// titanium shells, 0.04 mm thick, open to the outside); inside, two graphite pellets 0.89 mm
    /// long and 0.56 mm in diameter coated with 2.2 um of palladium (the activity) on either side
    /// of a lead marker 1.09 mm long and 0.51 mm in diameter, air between; L = 4.23 mm (TG-43U1).
    pub fn theraseed_200() -> Result<Self> {
        let (z_in, z_out) = (0.06147, 0.15003);
        let (l_in, l_out) = (0.06125, 0.15025);
        let (r_g, r_pd) = (0.02778, 0.028);
        let mut parts = vec![(Solid::cylinder(0.0255, -0.0545, 0.0545), Some(0))];
        for s in [1.0, -1.0] {
            let (a, b) = ordered(s * z_in, s * z_out);
            parts.push((Solid::cylinder(r_g, a, b), Some(1)));
        }
        for s in [1.0, -1.0] {
            let (a, b) = ordered(s * l_in, s * l_out);
            parts.push((Solid::cylinder(r_pd, a, b), Some(2)));
        }
        // The end cups: hemispherical titanium shells (r 0.306-0.346 mm) centred 1.916 mm from the
        // middle, bulging inwards, with water in them and in the tube's open ends beyond.
        for s in [1i8, -1] {
            let zc = f64::from(s) * 0.1916;
            parts.push((Solid::ball(zc, 0.0306, -s), None));
            let (a, b) = ordered(zc, f64::from(s) * 0.225);
            parts.push((Solid::cylinder(0.0306, a, b), None));
        }
        for s in [1i8, -1] {
            parts.push((Solid::ball(f64::from(s) * 0.1916, 0.0346, -s), Some(3)));
        }
        parts.push((Solid::cylinder(0.0357, -0.1916, 0.1916), Some(4)));
        parts.push((Solid::cylinder(0.0413, -0.225, 0.225), Some(3)));
        let mut pieces = Vec::new();
        for s in [1.0, -1.0] {
            let (a, b) = ordered(s * z_in, s * z_out);
            pieces.push(Piece::Annulus {
                r_in: r_g,
                r_out: r_pd,
                z0: a,
                z1: b,
            });
            for (p, q) in [(l_in, z_in), (z_out, l_out)] {
                let (a, b) = ordered(s * p, s * q);
                pieces.push(Piece::Annulus {
                    r_in: 0.0,
                    r_out: r_pd,
                    z0: a,
                    z1: b,
                });
            }
        }
        Ok(Self {
            name: "theraseed-200".into(),
            parts,
            materials: materials(&["lead", "graphite", "palladium", "titanium", "air"])?,
            emitter: Emitter::Volume(pieces),
            active_length: 0.423,
        })
    }

    /// The Best Medical model 2301 (I-125): a titanium capsule 5.0 mm long and 0.8 mm in diameter
    /// (the double wall modelled as one of 0.08 mm, hemispherical ends); inside, a tungsten
    /// marker 0.25 mm in diameter with rounded ends in an organic (polystyrene) layer 0.1 mm thick
    /// that holds the I-125; air between; L = 4.0 mm (TG-43U1).
    pub fn best_2301() -> Result<Self> {
        let mut parts = Vec::new();
        for (r, h, zc, m) in [
            (0.0125, 0.175, 0.175, 0),
            (0.0225, 0.175, 0.175, 1),
            (0.032, 0.21, 0.21, 2),
            (0.040, 0.21, 0.21, 3),
        ] {
            parts.push((Solid::cylinder(r, -h, h), Some(m)));
            parts.push((Solid::ball(zc, r, 1), Some(m)));
            parts.push((Solid::ball(-zc, r, -1), Some(m)));
        }
        Ok(Self {
            name: "best-2301".into(),
            parts,
            materials: materials(&["tungsten", "polystyrene", "air", "titanium"])?,
            emitter: Emitter::Volume(vec![
                Piece::Annulus {
                    r_in: 0.0125,
                    r_out: 0.0225,
                    z0: -0.175,
                    z1: 0.175,
                },
                Piece::HalfShell {
                    zc: 0.175,
                    r_in: 0.0125,
                    r_out: 0.0225,
                    up: true,
                },
                Piece::HalfShell {
                    zc: -0.175,
                    r_in: 0.0125,
                    r_out: 0.0225,
                    up: false,
                },
            ]),
            active_length: 0.40,
        })
    }

    /// The BEBIG/Theragenics IsoSeed I25.S06 (I-125; the I25.S16 of BEBIG eye plaques has the same
    /// geometry): a titanium capsule 4.5 mm long and 0.8 mm in diameter with a 0.05 mm wall and
    /// solid hemispherical welded ends; inside, a ceramic (Al2O3) tube 3.5 mm long, 0.22-0.60 mm in
    /// diameter, holding the I-125 in its volume, around a gold marker 0.17 mm in diameter; air
    /// between; L = 3.5 mm (TG-43U1).
    pub fn isoseed_i25_s06() -> Result<Self> {
        let mut parts = vec![
            (Solid::cylinder(0.0085, -0.175, 0.175), Some(0)),
            (Solid::cylinder(0.011, -0.175, 0.175), Some(1)),
            (Solid::cylinder(0.030, -0.175, 0.175), Some(2)),
            (Solid::cylinder(0.035, -0.185, 0.185), Some(1)),
            (Solid::cylinder(0.040, -0.185, 0.185), Some(3)),
        ];
        parts.push((Solid::ball(0.185, 0.040, 1), Some(3)));
        parts.push((Solid::ball(-0.185, 0.040, -1), Some(3)));
        Ok(Self {
            name: "isoseed-i25.s06".into(),
            parts,
            materials: materials(&["gold", "air", "alumina", "titanium"])?,
            emitter: Emitter::Volume(vec![Piece::Annulus {
                r_in: 0.011,
                r_out: 0.030,
                z0: -0.175,
                z1: 0.175,
            }]),
            active_length: 0.35,
        })
    }
}

impl SeedModel {
    /// The Oncura/GE ThinSeed 9011 (I-125): a titanium capsule 4.55 mm long and 0.51 mm in
    /// diameter (0.057 mm wall; solid hemispherical welded ends on a 0.02 mm end disc), filled with
    /// argon; inside, a silver rod 2.80 mm long and 0.305 mm in diameter coated with 1.75 um of
    /// AgI:AgBr holding the I-125 (the rod's 45 degree end bevels, 0.05 mm, modelled as flat ends);
    /// L = 2.8 mm (TG-43U1S2).
    pub fn thinseed_9011() -> Result<Self> {
        let (r_ag, h_ag, t) = (0.01525, 0.14, 0.000175);
        let parts = vec![
            (Solid::cylinder(r_ag, -h_ag, h_ag), Some(0)),
            (Solid::cylinder(r_ag + t, -h_ag - t, h_ag + t), Some(1)),
            (Solid::cylinder(0.0198, -0.200, 0.200), Some(2)),
            (Solid::cylinder(0.0255, -0.202, 0.202), Some(3)),
            (Solid::ball(0.202, 0.0255, 1), Some(3)),
            (Solid::ball(-0.202, 0.0255, -1), Some(3)),
        ];
        Ok(Self {
            name: "thinseed-9011".into(),
            parts,
            materials: materials(&["silver", "silver_halide", "argon", "titanium"])?,
            emitter: Emitter::Volume(vec![
                Piece::Annulus {
                    r_in: r_ag,
                    r_out: r_ag + t,
                    z0: -h_ag,
                    z1: h_ag,
                },
                Piece::Annulus {
                    r_in: 0.0,
                    r_out: r_ag + t,
                    z0: h_ag,
                    z1: h_ag + t,
                },
                Piece::Annulus {
                    r_in: 0.0,
                    r_out: r_ag + t,
                    z0: -h_ag - t,
                    z1: -h_ag,
                },
            ]),
            active_length: 0.28,
        })
    }

    /// The Imagyn IsoStar IS-12501 (I-125): a titanium capsule 4.5 mm long and 0.8 mm in diameter
    /// (0.05 mm wall, solid welded ends: a 0.1 mm disc and a hemisphere); inside, five silver
    /// spheres 0.65 mm in diameter, 0.69 mm apart, each coated with 1 um of AgI holding the I-125;
    /// air between; L = 3.4 mm (TG-43U1).
    pub fn isostar_is_12501() -> Result<Self> {
        let centres = [0.0, 0.069, -0.069, 0.138, -0.138];
        let (r, t) = (0.0325, 0.0001);
        let mut parts = Vec::new();
        for z in centres {
            parts.push((Solid::ball(z, r, 0), Some(0)));
        }
        for z in centres {
            parts.push((Solid::ball(z, r + t, 0), Some(1)));
        }
        parts.push((Solid::cylinder(0.035, -0.175, 0.175), Some(2)));
        parts.push((Solid::cylinder(0.040, -0.185, 0.185), Some(3)));
        parts.push((Solid::ball(0.185, 0.040, 1), Some(3)));
        parts.push((Solid::ball(-0.185, 0.040, -1), Some(3)));
        let pieces = centres
            .iter()
            .flat_map(|&zc| {
                [true, false].map(|up| Piece::HalfShell {
                    zc,
                    r_in: r,
                    r_out: r + t,
                    up,
                })
            })
            .collect();
        Ok(Self {
            name: "isostar-is-12501".into(),
            parts,
            materials: materials(&["silver", "silver_iodide", "air", "titanium"])?,
            emitter: Emitter::Volume(pieces),
            active_length: 0.34,
        })
    }
}

fn ordered(a: f64, b: f64) -> (f64, f64) {
    if a <= b { (a, b) } else { (b, a) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every built-in model is well formed, its emitter lies in the medium the description says
    /// holds the activity, and the seed is closed: a point just outside the outline is outside.
    #[test]
    fn built_in_models_are_well_formed() {
        let mut rng = crate::rng::Rng::for_batch(3, 0);
        for (name, _) in SEED_MODELS {
            let m = SeedModel::by_name(name).unwrap();
            m.check().unwrap();
            let active: &[&str] = match name {
                "6711" => &["air"],
                "theraseed-200" => &["palladium"],
                "best-2301" => &["polystyrene"],
                "thinseed-9011" => &["silver_halide"],
                "isostar-is-12501" => &["silver_iodide"],
                _ => &["alumina"],
            };
            for _ in 0..10_000 {
                let p = m.emission_point(&mut rng);
                let med = m.medium_at(&p).map(|i| m.materials[i].name().to_string());
                assert!(
                    med.as_deref().is_some_and(|n| active.contains(&n)),
                    "{name}: emission at {p:?} in {med:?}"
                );
            }
            let (r, z0, z1) = m.bounds();
            assert!(m.medium_at(&[r * 1.001, 0.0, 0.0]).is_none());
            assert!(m.medium_at(&[0.0, 0.0, z1 + 1e-6]).is_none());
            assert!(m.medium_at(&[0.0, 0.0, z0 - 1e-6]).is_none());
            // The capsule is titanium just inside its outer radius at the middle.
            let ti = m.medium_at(&[r * 0.999, 0.0, 0.0]).unwrap();
            assert_eq!(m.materials[ti].name(), "titanium", "{name}");
        }
        assert!(SeedModel::by_name("6712").is_err());
    }
}
