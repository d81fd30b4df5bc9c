//! The angular densities that forced detection uses are those the transport samples: water at
//! 140 keV and lead at 140 and 364 keV, bound Compton and Rayleigh with form factors, histograms
//! of sampled interactions against the densities integrated over each bin (40 bins in cos, and 30
//! in log(1 - cos) for Rayleigh's forward peak).
#![allow(clippy::unwrap_used)]

use hope_mc::physics::{Interaction, PhotonPhysics, ScatterDensities};
use hope_mc::rng::Rng;
use hope_mc::{Material, PhysicsOptions};

#[test]
fn sampled_scattering_angles_follow_the_densities() {
    for (name, e) in [
        ("water", 140_511.0),
        ("lead", 364_490.0),
        ("lead", 140_511.0),
    ] {
        let physics = PhotonPhysics::new(
            &[Material::builtin(name).unwrap()],
            PhysicsOptions::default(),
        );
        let densities = ScatterDensities::new(&physics).unwrap();
        let vertex = densities.vertex(&physics, 0, e);
        let bins = 40;
        let (mut compton, mut rayleigh) = (vec![0.0f64; bins], vec![0.0f64; bins]);
        // Rayleigh's forward peak (a few degrees wide at 140 keV): 30 bins in log(1 - cos).
        let fine = 30;
        let (t_lo, t_hi) = (1e-6f64, 2.0f64);
        let fine_bin = |t: f64| -> Option<usize> {
            let b = ((t / t_lo).ln() / (t_hi / t_lo).ln() * fine as f64).floor();
            (b >= 0.0 && b < fine as f64).then_some(b as usize)
        };
        let mut rayleigh_fine = vec![0.0f64; fine];
        let mut rng = Rng::for_batch(4, 1);
        let n = 2_000_000;
        for _ in 0..n {
            if let Interaction::Scatter { cos, energy, .. } = physics.interact(0, e, &mut rng) {
                let b = (((1.0 - cos) / 2.0 * bins as f64) as usize).min(bins - 1);
                if energy == e {
                    rayleigh[b] += 1.0;
                    if let Some(f) = fine_bin(1.0 - cos) {
                        rayleigh_fine[f] += 1.0;
                    }
                } else {
                    compton[b] += 1.0;
                    // Klein-Nishina kinematics.
                    let want = vertex.towards(cos).compton_energy;
                    assert!((energy / want - 1.0).abs() < 1e-9, "{energy} vs {want}");
                }
            }
        }
        // Expected counts: n P(process) 2 pi * integral of the density over the bin in cos.
        for (k, (c, r)) in compton.iter().zip(&rayleigh).enumerate() {
            let (hi, lo) = (
                1.0 - 2.0 * k as f64 / bins as f64,
                1.0 - 2.0 * (k + 1) as f64 / bins as f64,
            );
            let steps = 200;
            let (mut ec, mut er) = (0.0, 0.0);
            for j in 0..steps {
                let cos = lo + (hi - lo) * (j as f64 + 0.5) / steps as f64;
                let t = vertex.towards(cos);
                ec += t.compton_pdf;
                er += t.rayleigh_pdf;
            }
            let w = 2.0 * std::f64::consts::PI * (hi - lo) / steps as f64 * n as f64;
            let (ec, er) = (ec * w * vertex.compton, er * w * vertex.rayleigh);
            for (what, got, want) in [("compton", *c, ec), ("rayleigh", *r, er)] {
                assert!(
                    (got - want).abs() < 5.0 * want.sqrt() + 0.01 * want + 3.0,
                    "{name} {e} eV {what} bin {k}: sampled {got}, density {want:.1}"
                );
            }
        }
        for (k, got) in rayleigh_fine.iter().enumerate() {
            let edge = |k: usize| t_lo * (t_hi / t_lo).powf(k as f64 / fine as f64);
            let (a, b) = (edge(k), edge(k + 1));
            let steps = 400;
            let mut want = 0.0;
            for j in 0..steps {
                let t = a * (b / a).powf((j as f64 + 0.5) / steps as f64);
                let dt = t * (b / a).ln() / steps as f64;
                want += vertex.towards(1.0 - t).rayleigh_pdf * dt;
            }
            let want = want * 2.0 * std::f64::consts::PI * n as f64 * vertex.rayleigh;
            assert!(
                (got - want).abs() < 5.0 * want.sqrt() + 0.01 * want + 3.0,
                "{name} {e} eV rayleigh, 1 - cos in [{a:.1e}, {b:.1e}]: sampled {got}, density {want:.1}"
            );
        }
    }
}
