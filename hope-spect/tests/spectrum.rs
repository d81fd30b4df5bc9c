//! The energy spectrum of a Tc-99m point source at the centre of a water cylinder (radius 10 cm,
//! length 20 cm) through a Symbia LEHR collimator and 3/8-inch NaI (issue 25, "Done when": the
//! photopeak and Compton scatter where they belong), against the same source in air.
#![allow(clippy::unwrap_used)]

use hope_spect::spectrum::{CylinderSource, Spectrum, cylinder_spectrum};
use hope_spect::{Collimator, Crystal};

const E: f64 = 140_511.0;
/// The 20 % photopeak window.
const LO: f64 = 0.9 * E;
const HI: f64 = 1.1 * E;

fn run(radius_cm: f64, photons: u64) -> Spectrum {
    cylinder_spectrum(
        &Collimator::by_code("SY-LEHR").unwrap(),
        &Crystal::nai_3_8_inch(),
        &CylinderSource {
            energy_ev: E,
            radius_cm,
            half_length_cm: 10.0,
            detector_distance_cm: 15.0,
            detector_half_cm: [20.0, 20.0],
            photons,
            seed: 3,
            bin_ev: 2_000.0,
            max_angle_rad: 0.35,
        },
    )
    .unwrap()
}

/// In air every detected photon is primary, peaked at 140.5 keV, about 1e-4 per emitted photon
/// in the window (collimator efficiency 1.2e-4 times the window efficiency 0.85). In water the
/// primaries are attenuated (about exp(-0.154 * 10) = 0.21 of air's), the scattered photons
/// fill the spectrum below the photopeak, mostly down to the single-backscatter energy (90.7
/// keV), never above the photopeak, and make a scatter fraction in
/// the photopeak window of 0.2-0.55 (published values for a 20-22 cm water phantom are about
/// 0.3-0.4 with a 20 % window). The triple-energy-window estimate (two 6 keV windows) is of the
/// same order as the true scatter.
#[test]
fn photopeak_and_compton_scatter_are_where_they_belong() {
    let air = run(0.0, 1_000_000);
    let (p_air, s_air) = air.window(LO, HI);
    assert_eq!(s_air, 0.0);
    assert!(air.scattered.iter().all(|c| *c == 0.0));
    assert!((0.8e-4..1.2e-4).contains(&p_air), "{p_air}");
    let peak_bin = |v: &[f64]| {
        v.iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0.0, |(k, _)| (k as f64 + 0.5) * 2_000.0)
    };
    assert!((E - 4_000.0..E + 4_000.0).contains(&peak_bin(&air.primary)));

    let water = run(10.0, 6_000_000);
    let (p, s) = water.window(LO, HI);
    let attenuation = p / p_air;
    assert!(
        (0.15..0.3).contains(&attenuation),
        "primary in water / air {attenuation}"
    );
    let sf = s / (p + s);
    assert!((0.2..0.55).contains(&sf), "scatter fraction {sf}");
    // Scatter sits below the photopeak: nothing scattered above it, the larger part between the
    // backscatter energy and the photopeak (the rest: multiple scattering, and the crystal's own
    // Compton tail of each detected photon).
    let (_, above) = water.window(HI + 4_000.0, 1.2 * E);
    assert!(above < 0.01 * s, "{above}");
    let (_, single) = water.window(85_000.0, HI);
    let (_, all) = water.window(0.0, 1.2 * E);
    assert!(single > 0.45 * all, "{single} of {all}");
    let mean = |v: &[f64]| {
        let total: f64 = v.iter().sum();
        v.iter()
            .enumerate()
            .map(|(k, c)| (k as f64 + 0.5) * 2_000.0 * c)
            .sum::<f64>()
            / total
    };
    assert!(mean(&water.scattered) < mean(&water.primary) - 10_000.0);
    let tew = water.tew_scatter(LO, HI, 6_000.0);
    assert!((0.3..2.0).contains(&(tew / s)), "TEW {tew} against {s}");
}
