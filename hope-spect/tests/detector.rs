//! The camera against published figures: the NaI crystal's pulse-height response at 140.5 keV,
//! and the Tc-99m system sensitivity of LEHR collimators (collimator x photon yield x photopeak
//! window efficiency) against the measured and simulated values of the literature.
#![allow(clippy::unwrap_used)]

use hope_spect::collimator::lead_mu_per_cm;
use hope_spect::{Collimator, Crystal, ResponseOptions, point_response};

const TC99M_EV: f64 = 140_511.0;
/// Photons of 140.5 keV per decay of Tc-99m (ICRP 107, hope-mc's radionuclide table).
fn tc99m_yield() -> f64 {
    hope_mc::Radionuclide::by_name("Tc-99m")
        .unwrap()
        .lines()
        .iter()
        .find(|l| (l.0 - TC99M_EV).abs() < 1.0)
        .unwrap()
        .1
}

/// The pulse heights of 140.5 keV photons in 3/8-inch NaI: the photopeak at 140.5 keV, the
/// iodine K-escape peak near 112 keV (140.5 - 28.6), the Compton continuum below the Compton
/// edge at 49.8 keV, about 10 % depositing nothing (transmitted, or scattered out by Rayleigh
/// scattering alone), and a 20 % window efficiency of the deposited energy (no energy blur)
/// within 2 % of OpenTOPAS-SPECT's Geant4 value, 0.862 (bertoletlab/topas-spect-release,
/// docs/validation.md: energy deposition, which Geant4 scores unblurred).
#[test]
fn the_crystal_shows_the_photopeak_the_k_escape_and_the_compton_continuum() {
    let c = Crystal::nai_3_8_inch();
    let heights = c.pulse_heights(TC99M_EV, 300_000, 7).unwrap();
    let n = heights.len() as f64;
    let count = |lo: f64, hi: f64| heights.iter().filter(|h| (lo..hi).contains(*h)).count() as f64;
    let none = heights.iter().filter(|h| **h == 0.0).count() as f64 / n;
    let nai =
        hope_mc::material::Material::new("NaI", 3.667, &[(11, 0.1534), (53, 0.8466)]).unwrap();
    // Nothing deposited: transmitted without interaction (exp(-mu t)), or after Rayleigh
    // scatterings only, so at most exp(-(mu - mu_Rayleigh) t).
    let t = c.thickness_cm * 3.667;
    let uncollided = (-nai.mu_rho(TC99M_EV) * t).exp();
    let coherent = nai.mu_rho_process(hope_mc::data::Process::Coherent, TC99M_EV);
    let at_most = (-(nai.mu_rho(TC99M_EV) - coherent) * t).exp();
    assert!(
        (uncollided..at_most).contains(&none),
        "{none} outside [{uncollided}, {at_most}]"
    );
    // Peaks: 2 keV bins around them against their flanks.
    let per_kev = |lo: f64, hi: f64| count(lo * 1e3, hi * 1e3) / (hi - lo);
    assert!(per_kev(136.0, 145.0) > 20.0 * per_kev(60.0, 90.0));
    let escape = per_kev(108.0, 116.0);
    assert!(escape > 3.0 * per_kev(90.0, 100.0), "no K-escape peak");
    assert!(escape > 3.0 * per_kev(60.0, 90.0));
    // The Compton continuum ends at the edge (49.8 keV for a single backscatter), blurred.
    assert!(per_kev(30.0, 45.0) > 2.0 * per_kev(65.0, 85.0));
    // The mean of the photopeak.
    let peak: Vec<f64> = heights
        .iter()
        .copied()
        .filter(|h| (126_000.0..155_000.0).contains(h))
        .collect();
    let mean = peak.iter().sum::<f64>() / peak.len() as f64;
    assert!((mean / TC99M_EV - 1.0).abs() < 0.005, "{mean}");
    let sharp = Crystal {
        energy_fwhm_at_140: 0.0,
        ..c.clone()
    };
    let (eff, sigma) = sharp
        .window_efficiency(TC99M_EV, 0.9 * TC99M_EV, 1.1 * TC99M_EV, 300_000, 8)
        .unwrap();
    assert!(sigma < 0.001);
    assert!((eff / 0.862 - 1.0).abs() < 0.02, "{eff}");
    // The blur moves a little of the photopeak out of the window.
    let (blurred, _) = c
        .window_efficiency(TC99M_EV, 0.9 * TC99M_EV, 1.1 * TC99M_EV, 300_000, 8)
        .unwrap();
    assert!(
        blurred < eff && blurred > eff - 0.04,
        "{blurred} against {eff}"
    );
}

/// Tc-99m system sensitivity at 10 cm in air, 20 % window: the Symbia LEHR against its measured
/// NEMA sensitivity, 5460 counts/min/MBq (91 cps/MBq, 9.1e-5 counts/decay), and the GE LEHR
/// against SIMIND's 7.6-8.5e-5 counts/decay (Sawant et al., J Nucl Med Technol 53:30, 2025), both
/// as quoted by bertoletlab/topas-spect-release (docs/validation.md, MIT). (That project's own
/// Geant4 figures, 0.95-1.00 of the first and 1.06-1.19 of the second, count per 140.5 keV photon
/// of a monoenergetic source, not per decay; the yield of 0.89 photons per decay is applied
/// here.) Asserted within 10 % of the measurement and within the SIMIND range widened by 10 %.
#[test]
fn lehr_sensitivity_is_the_published_one() {
    let mu = lead_mu_per_cm(TC99M_EV).unwrap();
    let (window, _) = Crystal::nai_3_8_inch()
        .window_efficiency(TC99M_EV, 0.9 * TC99M_EV, 1.1 * TC99M_EV, 300_000, 9)
        .unwrap();
    let per_decay = |code: &str| {
        let c = Collimator::by_code(code).unwrap();
        let r = point_response(
            &c,
            &ResponseOptions {
                rays: 1_000_000,
                max_angle_rad: 3.0 * c.hole_cm() / c.effective_length_cm(mu),
                ..ResponseOptions::new()
            },
        )
        .unwrap();
        r.efficiency * tc99m_yield() * window
    };
    let symbia = per_decay("SY-LEHR");
    assert!(
        (symbia / 9.1e-5 - 1.0).abs() < 0.10,
        "Symbia LEHR {symbia:.3e} counts/decay"
    );
    let ge = per_decay("GI-LEHR");
    assert!(
        (7.6e-5 * 0.9..8.5e-5 * 1.1).contains(&ge),
        "GE LEHR {ge:.3e} counts/decay"
    );
}
