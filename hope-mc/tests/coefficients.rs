//! Table gates: mu/rho of five reference materials (XCOM with NIST/ICRU-44 compositions) and
//! mu_en/rho of water (NIST SRD 126), as listed in ../shared/reference/physics.md.
#![allow(clippy::unwrap_used, missing_docs)]

use hope_mc::Material;

/// mu/rho (cm^2/g, coherent included) at 20, 30, 50, 100, 300, 1000, 1250 keV.
const ENERGIES_KEV: [f64; 7] = [20.0, 30.0, 50.0, 100.0, 300.0, 1000.0, 1250.0];
const MU_RHO: [(&str, [f64; 7]); 5] = [
    (
        "water",
        [0.8098, 0.3756, 0.2269, 0.1707, 0.1186, 0.07072, 0.06323],
    ),
    (
        "soft_tissue_icru44",
        [0.8231, 0.3790, 0.2264, 0.1693, 0.1175, 0.07006, 0.06265],
    ),
    (
        "cortical_bone_icru44",
        [4.001, 1.331, 0.4242, 0.1855, 0.1113, 0.06566, 0.05871],
    ),
    (
        "lung_icru44",
        [0.8318, 0.3815, 0.2270, 0.1695, 0.1177, 0.07013, 0.06271],
    ),
    (
        "air",
        [0.7780, 0.3538, 0.2080, 0.1541, 0.1067, 0.06358, 0.05687],
    ),
];

#[test]
fn mu_rho_within_0_2_percent_of_xcom() {
    for (name, values) in MU_RHO {
        let m = Material::builtin(name).unwrap();
        for (e, want) in ENERGIES_KEV.iter().zip(values) {
            let got = m.mu_rho(e * 1e3);
            let rel = got / want - 1.0;
            assert!(
                rel.abs() < 0.002,
                "{name} {e} keV: {got:.5} vs {want} ({:+.3} %)",
                rel * 100.0
            );
        }
    }
}

/// Water mu_en/rho, NIST SRD 126 (cm^2/g); hope-mc neglects radiative losses of the secondary
/// electrons (g = 0), which is within 1 % below 2 MeV in water, so the gate stops at 1.25 MeV.
const WATER_MU_EN: [(f64, f64); 8] = [
    (20.0, 0.5503),
    (30.0, 0.1557),
    (50.0, 0.04223),
    (100.0, 0.02546),
    (300.0, 0.03192),
    (600.0, 0.03284),
    (1000.0, 0.03103),
    (1250.0, 0.02965),
];

#[test]
fn water_mu_en_rho_within_1_percent_of_nist() {
    let water = Material::builtin("water").unwrap();
    for (e, want) in WATER_MU_EN {
        let got = water.mu_en_rho(e * 1e3);
        let rel = got / want - 1.0;
        assert!(
            rel.abs() < 0.01,
            "water {e} keV: {got:.5} vs {want} ({:+.2} %)",
            rel * 100.0
        );
    }
}
