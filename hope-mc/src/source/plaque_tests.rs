//! Tests of the plaque, its assembly and particle recycling.
use super::*;

#[test]
fn every_coms_plaque_is_built_and_its_parts_are_where_tg129_puts_them() {
    let names: Vec<String> = Plaque::names().collect();
    assert_eq!(names.len(), 8);
    for name in &names {
        let p = Plaque::by_name(name).unwrap();
        let d: f64 = name[5..].parse().unwrap();
        // On the axis: water inside the outer sclera, Silastic, then the backing, then water.
        let at = |z: f64| p.material_at(&[0.0, 0.0, z]);
        assert_eq!(at(-0.05), None, "{name}");
        assert_eq!(at(-0.15), Some(PlaqueMaterial::Silastic), "{name}");
        let backing = EYE_CENTRE_Z_CM - 1.48;
        assert_eq!(at(backing), Some(PlaqueMaterial::Modulay), "{name}");
        assert_eq!(at(EYE_CENTRE_Z_CM - 1.52), None, "{name}");
        // The lip: Modulay just inside its free end, nothing beyond.
        let rho = d / 20.0 + 0.025;
        let z_end = EYE_CENTRE_Z_CM + p.lip_end;
        assert_eq!(
            p.material_at(&[rho, 0.0, z_end - 0.005]),
            Some(PlaqueMaterial::Modulay),
            "{name}"
        );
        assert_eq!(p.material_at(&[rho, 0.0, z_end + 0.005]), None, "{name}");
        // Every seed lies inside the insert, whole.
        let seed = SeedModel::model_6711().unwrap();
        for (i, s) in p.slots().iter().enumerate() {
            let placed = Placed::new(s);
            for q in [
                [0.04, 0.0, 0.225],
                [-0.04, 0.0, -0.225],
                [0.0, 0.04, 0.225],
                [0.0, -0.04, -0.225],
            ] {
                let x = placed.plaque_point(&q);
                assert_eq!(
                    p.material_at(&x),
                    Some(PlaqueMaterial::Silastic),
                    "{name} slot {i}: {x:?}"
                );
            }
            assert!(seed.encloses(&placed.local_point(&s.position_cm)));
        }
    }
    assert!(Plaque::by_name("coms-15").is_err());
}

/// The entry distance agrees with marching along random rays and testing containment.
#[test]
fn entry_distance_matches_containment() {
    let p = Plaque::by_name("coms-16").unwrap();
    let mut rng = Rng::for_batch(11, 0);
    let mut hits = 0;
    for _ in 0..3000 {
        let start = [
            rng.uniform() * 4.0 - 2.0,
            rng.uniform() * 4.0 - 2.0,
            rng.uniform() * 4.0 - 1.5,
        ];
        let d = isotropic(&mut rng);
        let step = 2e-4;
        let mut t = 0.0;
        let mut first = None;
        while t < 5.0 {
            let x = [
                start[0] + t * d[0],
                start[1] + t * d[1],
                start[2] + t * d[2],
            ];
            if p.material_at(&x).is_some() {
                first = Some(t);
                break;
            }
            t += step;
        }
        let got = p.entry_distance(&start, &d);
        match (first, got) {
            (Some(a), Some(b)) => {
                hits += 1;
                assert!((a - b).abs() < 2.0 * step, "{start:?} {d:?}: {a} vs {b}");
            }
            (None, None) => {}
            // A grazing ray may touch the plaque between two marching steps.
            (None, Some(b)) => {
                let x = [
                    start[0] + b * d[0],
                    start[1] + b * d[1],
                    start[2] + b * d[2],
                ];
                let y = [x[0] + 1e-6 * d[0], x[1] + 1e-6 * d[1], x[2] + 1e-6 * d[2]];
                assert!(p.material_at(&y).is_some(), "{start:?} {d:?}: none vs {b}");
            }
            (Some(a), None) => panic!("{start:?} {d:?}: {a} vs none"),
        }
    }
    assert!(hits > 100, "{hits}");
}

#[test]
fn a_plaque_run_refuses_bad_loadings() {
    let p = Plaque::by_name("coms-10").unwrap();
    let seed = SeedModel::model_6711().unwrap();
    let sp = Spectrum::lines(&super::super::brachy::I125_LINES).unwrap();
    let run = |w: &[SlotLoad], depths: &[f64]| {
        central_axis(&p, &seed, w, &sp, PlaqueMode::Hetero, depths, 10, 1)
    };
    let a = SlotLoad::Active(1.0);
    assert!(run(&[a; 4], &[1.0]).is_err());
    assert!(run(&[SlotLoad::Inactive; 5], &[1.0]).is_err());
    assert!(run(&[SlotLoad::Empty; 5], &[1.0]).is_err());
    assert!(run(&[a, a, SlotLoad::Active(f64::NAN), a, a], &[1.0]).is_err());
    assert!(run(&[a, a, SlotLoad::Active(0.0), a, a], &[1.0]).is_err());
    assert!(run(&[a; 5], &[-1.0]).is_err());
    assert!(run(&[a; 5], &[1.0, 5.0]).is_ok());
}

/// An inactive seed is geometry (its materials fill its slot), an empty slot is Silastic, and
/// only present seeds take part in HOMO runs one at a time.
#[test]
fn inactive_seeds_are_geometry_and_empty_slots_are_silastic() {
    let p = Plaque::by_name("coms-12").unwrap();
    let seed = SeedModel::model_6711().unwrap();
    let placed: Vec<Placed> = p.slots().iter().take(3).map(Placed::new).collect();
    let world = PlaqueWorld {
        plaque: Some(&p),
        seed: &seed,
        placed: &placed,
        only: None,
        bound2: 0.06,
        modulay: 3,
        water: Some((5, 15.0)),
    };
    // Slot 0's centre: silver (material 0); a point in its capsule wall: titanium (2).
    let s0 = placed[0];
    assert_eq!(world.medium(&s0.c), Some(0));
    assert_eq!(world.medium(&s0.plaque_point(&[0.0375, 0.0, 0.0])), Some(2));
    // Slot 5 holds no seed: Silastic (modulay + 1).
    assert_eq!(world.medium(&p.slots()[5].position_cm), Some(4));
    // A ray along slot 0's axis from outside stops at its capsule.
    let from = s0.plaque_point(&[0.0, 0.0, -0.3]);
    let d = s0.frame[2];
    let t = world.next_surface(&from, &d);
    assert!((t - 0.075).abs() < 1e-6, "{t}");
    let homo = PlaqueWorld {
        plaque: None,
        only: Some(1),
        ..world
    };
    assert_eq!(homo.medium(&s0.c), Some(5));
    assert_eq!(homo.medium(&placed[1].c), Some(0));
}

/// Particle recycling's photons leaving the plaque against the analog emission's: the
/// energy absorbed and leaving per decay, leaving towards the eye, and the energy-weighted
/// means of where (depth, lateral spread) and in which direction photons leave, within 4
/// sigma. (First version: the seed frames were orthonormal only to 3e-7, since the tables
/// give axes to six decimals; a photon leaving the seed alone, turned into a seed's frame,
/// was back inside that seed's capsule, 14,800 eV absorbed per decay against 14,100.)
#[test]
fn recycled_emission_leaves_the_plaque_as_the_analog_one() {
    let plaque = Plaque::by_name("coms-16").unwrap();
    let mut loads = vec![SlotLoad::Active(1.0); plaque.slots().len()];
    loads[0] = SlotLoad::Active(2.0);
    loads[3] = SlotLoad::Inactive;
    loads[6] = SlotLoad::Empty;
    let a = PlaqueAssembly::new(
        plaque,
        SeedModel::model_6711().unwrap(),
        &loads,
        PhysicsOptions::default(),
    )
    .unwrap();
    let n = 200_000;
    // Per decay: [absorbed, leaving, leaving to z > 0, leaving E * z, leaving E * (x^2 + y^2)].
    let stats = |recycle: bool| {
        let mut rng = Rng::for_batch(3, u64::from(recycle));
        let mut sums = [[0.0f64; 2]; 6];
        for _ in 0..n {
            let mut x = [0.0; 6];
            let mut add = |p: [f64; 3], d: [f64; 3], e: f64, w: f64| {
                x[1] += w * e;
                if d[2] > 0.0 {
                    x[2] += w * e;
                }
                x[3] += w * e * p[2];
                x[4] += w * e * (p[0] * p[0] + p[1] * p[1]);
                x[5] += w * e * d[2];
            };
            x[0] = if recycle {
                a.emit_recycled(28e3, &mut rng, |p, d, e, w, _| add(p, d, e, f64::from(w)))
                    .0
            } else {
                a.emit(28e3, &mut rng, |p, d, e| add(p, d, e, 1.0))
            };
            for (s, v) in sums.iter_mut().zip(x) {
                s[0] += v;
                s[1] += v * v;
            }
        }
        sums.map(|[s, s2]| {
            let m = s / n as f64;
            (m, ((s2 / n as f64 - m * m) / n as f64).sqrt())
        })
    };
    let analog = stats(false);
    let recycled = stats(true);
    for (q, ((ma, sa), (mr, sr))) in analog.iter().zip(&recycled).enumerate() {
        let z = (ma - mr) / (sa * sa + sr * sr).sqrt();
        assert!(
            z.abs() < 4.0,
            "quantity {q}: {ma} +- {sa} against {mr} +- {sr}"
        );
    }
}

/// Every slot's frame is orthonormal: a point taken into the plaque frame and back is where
/// it was (to 1e-12 cm; 1e-8 before the axes were normalised).
#[test]
fn seed_frames_are_orthonormal() {
    for name in Plaque::names() {
        let p = Plaque::by_name(&name).unwrap();
        for slot in p.slots() {
            let placed = Placed::new(slot);
            let q = [0.04, -0.03, 0.2];
            let back = placed.local_point(&placed.plaque_point(&q));
            let d = placed.dir_to_local(&placed.dir_to_plaque(&[0.6, 0.0, 0.8]));
            for a in 0..3 {
                assert!((back[a] - q[a]).abs() < 1e-12, "{name}: {back:?}");
                assert!((d[a] - [0.6, 0.0, 0.8][a]).abs() < 1e-12, "{name}: {d:?}");
            }
        }
    }
}
