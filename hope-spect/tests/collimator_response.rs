//! The Monte Carlo collimator response against the analytic formulas of parallel-hole
//! collimators (issue 25, "Done when": sensitivity against the collimator-efficiency formula,
//! system resolution against distance, septal penetration growing with energy).
#![allow(clippy::unwrap_used)]

use hope_spect::collimator::lead_mu_per_cm;
use hope_spect::{Collimator, ResponseOptions, point_response};

const TC99M_EV: f64 = 140_511.0; // ICRP 107
const I131_EV: f64 = 364_489.0; // ICRP 107

/// The fraction of Tc-99m photons a collimator passes, traced through its hole lattice with
/// septal penetration, against `K^2 (d/l_eff)^2 (d/(d+t))^2` with `l_eff = l - 2/mu`, for the
/// low- to high-energy collimators of the three vendors: within 3 %, and above the black-septa
/// value (penetration adds). The statistical uncertainty is under 1 %.
#[test]
fn tc99m_efficiency_matches_the_analytic_formula() {
    let mu = lead_mu_per_cm(TC99M_EV).unwrap();
    for code in [
        "SY-LEHR", "SY-LEAP", "GI-LEHR", "PB-LEHR", "GI-MEGP", "SY-ME", "SY-HE", "GI-HEGP",
    ] {
        let c = Collimator::by_code(code).unwrap();
        let o = ResponseOptions {
            rays: 1_000_000,
            max_angle_rad: 3.0 * c.hole_cm() / c.effective_length_cm(mu),
            ..ResponseOptions::new()
        };
        let r = point_response(&c, &o).unwrap();
        let analytic = c.analytic_efficiency(mu);
        let ratio = r.efficiency / analytic;
        assert!(
            r.efficiency_sigma / r.efficiency < 0.01,
            "{code}: {} +- {}",
            r.efficiency,
            r.efficiency_sigma
        );
        assert!(
            (ratio - 1.0).abs() < 0.03,
            "{code}: Monte Carlo {:.4e}, formula {analytic:.4e} (ratio {ratio:.3})",
            r.efficiency
        );
        assert!(
            r.efficiency > c.analytic_efficiency(f64::INFINITY),
            "{code}"
        );
    }
}

/// Doubling the cone of directions followed does not change the efficiency: the cone holds every
/// direction that passes.
#[test]
fn the_cone_followed_holds_every_passing_direction() {
    let c = Collimator::by_code("SY-LEHR").unwrap();
    let run = |angle: f64| {
        point_response(
            &c,
            &ResponseOptions {
                rays: 800_000,
                max_angle_rad: angle,
                ..ResponseOptions::new()
            },
        )
        .unwrap()
    };
    let (narrow, wide) = (run(0.15), run(0.3));
    let sigma = narrow.efficiency_sigma.hypot(wide.efficiency_sigma);
    assert!(
        (narrow.efficiency - wide.efficiency).abs() < 4.0 * sigma,
        "{} against {} (sigma {sigma})",
        narrow.efficiency,
        wide.efficiency
    );
}

/// The system resolution (FWHM of the line-spread function with a 3.8 mm intrinsic resolution)
/// from 5 to 20 cm against `sqrt(R_g^2 + R_i^2)`, `R_g = d (l_eff + b + c) / l_eff`. The formula
/// is the width of a slit's response; a hexagonal hole's line-spread function is a little more
/// peaked, and the traced response is 0.93-0.99 of the formula: asserted within [0.92, 1.03],
/// growing linearly with distance with the formula's slope within 8 %.
#[test]
fn system_resolution_against_distance_follows_the_geometric_response() {
    let mu = lead_mu_per_cm(TC99M_EV).unwrap();
    for code in ["SY-LEHR", "GI-MEGP"] {
        let c = Collimator::by_code(code).unwrap();
        let mut geometric = Vec::new();
        for b in [5.0, 10.0, 15.0, 20.0] {
            for intrinsic in [0.0, 0.38] {
                let rg = c.analytic_fwhm_cm(mu, b, 0.5);
                let o = ResponseOptions {
                    rays: 1_000_000,
                    distance_cm: b,
                    intrinsic_fwhm_cm: intrinsic,
                    max_angle_rad: 3.0 * c.hole_cm() / c.effective_length_cm(mu),
                    bin_cm: rg / 30.0,
                    ..ResponseOptions::new()
                };
                let fwhm = point_response(&c, &o).unwrap().fwhm_cm();
                let expected = rg.hypot(intrinsic);
                let ratio = fwhm / expected;
                assert!(
                    (0.92..1.03).contains(&ratio),
                    "{code} at {b} cm, intrinsic {intrinsic} cm: FWHM {fwhm:.3} cm, formula \
                     {expected:.3} cm (ratio {ratio:.3})"
                );
                if intrinsic == 0.0 {
                    geometric.push((b, fwhm));
                }
            }
        }
        // Least-squares slope of the geometric FWHM against distance.
        let n = geometric.len() as f64;
        let (sx, sy) = geometric
            .iter()
            .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
        let (mx, my) = (sx / n, sy / n);
        let slope = geometric
            .iter()
            .map(|(x, y)| (x - mx) * (y - my))
            .sum::<f64>()
            / geometric.iter().map(|(x, _)| (x - mx).powi(2)).sum::<f64>();
        let formula = c.hole_cm() / c.effective_length_cm(mu);
        assert!(
            (slope / formula - 1.0).abs() < 0.08,
            "{code}: slope {slope:.4} against d/l_eff {formula:.4}"
        );
    }
}

/// Septal penetration: at 140 keV the septa stop nearly everything that does not go through a
/// hole (a few percent of the detected photons crossed lead); at I-131's 364 keV the thin septa
/// of a low-energy collimator are nearly transparent (almost every detected photon crossed lead,
/// and the efficiency is two orders of magnitude above the geometric one), while a high-energy
/// collimator keeps penetration to a minority of the detected photons.
#[test]
fn septal_penetration_grows_with_energy_and_thin_septa() {
    // A 54 x 40 cm detector (GE Infinia, Siemens Symbia); the cone reaches its corners, so the
    // detector bounds what penetrates.
    let (hx, hy) = (27.0f64, 20.0f64);
    let run = |code: &str, energy_ev: f64| {
        let c = Collimator::by_code(code).unwrap();
        let reach = 10.0 + c.length_cm() + 0.5;
        point_response(
            &c,
            &ResponseOptions {
                energy_ev,
                rays: 400_000,
                max_angle_rad: (hx.hypot(hy) / reach).atan(),
                bin_cm: 0.1,
                detector_half_cm: Some([hx, hy]),
                ..ResponseOptions::new()
            },
        )
        .unwrap()
    };
    let lehr_tc = run("SY-LEHR", TC99M_EV);
    let lehr_i = run("SY-LEHR", I131_EV);
    let hegp_tc = run("GI-HEGP", TC99M_EV);
    let hegp_i = run("GI-HEGP", I131_EV);
    let he_i = run("SY-HE", I131_EV);
    assert!(lehr_tc.penetration_fraction < 0.12, "{lehr_tc:?}");
    assert!(
        hegp_tc.penetration_fraction < 0.05,
        "{}",
        hegp_tc.penetration_fraction
    );
    assert!(
        lehr_i.penetration_fraction > 0.9,
        "{}",
        lehr_i.penetration_fraction
    );
    assert!(lehr_i.efficiency > 50.0 * lehr_tc.efficiency);
    for r in [&hegp_i, &he_i] {
        assert!(
            (0.05..0.5).contains(&r.penetration_fraction),
            "{}",
            r.penetration_fraction
        );
        assert!(r.penetration_fraction > 3.0 * hegp_tc.penetration_fraction);
    }
    // Penetration widens the response: the I-131 line-spread function through LEHR is wider
    // than through HEGP although LEHR's holes are narrower.
    assert!(lehr_i.fwhm_cm() > hegp_i.fwhm_cm());
}

/// The response depends on the seed only.
#[test]
fn the_response_depends_on_the_seed_only() {
    let c = Collimator::by_code("GI-LEHR").unwrap();
    let o = ResponseOptions {
        rays: 200_000,
        ..ResponseOptions::new()
    };
    let a = point_response(&c, &o).unwrap();
    assert_eq!(a, point_response(&c, &o).unwrap());
    let b = point_response(
        &c,
        &ResponseOptions {
            seed: 2,
            ..o.clone()
        },
    )
    .unwrap();
    assert_ne!(a.efficiency, b.efficiency);
    let e = point_response(
        &c,
        &ResponseOptions {
            energy_ev: f64::NAN,
            ..ResponseOptions::new()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("energy_ev"), "{e}");
    // Review finding M1: bins that would take gigabytes, a detector of no size, one ray.
    for (bad, field) in [
        (
            ResponseOptions {
                bin_cm: 1e-5,
                max_angle_rad: 1.4,
                distance_cm: 900.0,
                ..o.clone()
            },
            "bin_cm",
        ),
        (
            ResponseOptions {
                detector_half_cm: Some([f64::NAN, 1.0]),
                ..o.clone()
            },
            "detector_half_cm",
        ),
        (
            ResponseOptions {
                detector_half_cm: Some([-1.0, 1.0]),
                ..o.clone()
            },
            "detector_half_cm",
        ),
    ] {
        let e = point_response(&c, &bad).unwrap_err().to_string();
        assert!(e.contains(field), "{e}");
    }
    let one = point_response(&c, &ResponseOptions { rays: 1, ..o }).unwrap();
    assert!(one.efficiency_sigma.is_nan());
}
