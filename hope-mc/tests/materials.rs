//! Every built-in material holds what the source it cites gives: compositions and densities
//! checked against `tests/data/material_references.csv`, which `tools/gen_material_references.py`
//! takes by a second route (NIST ESTAR's own material data, and ICRU Report 44 and AAPM TG-129
//! transcribed), so that a wrong table cannot hide behind a citation.
#![allow(clippy::unwrap_used, missing_docs)]

use hope_mc::Material;

/// A row of the reference file: name, density, [(Z, fraction)], source.
type Reference = (String, f64, Vec<(u8, f64)>, String);

fn references() -> Vec<Reference> {
    include_str!("data/material_references.csv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut f = l.splitn(4, ',');
            let name = f.next().unwrap().to_string();
            let density: f64 = f.next().unwrap().parse().unwrap();
            let comp = f
                .next()
                .unwrap()
                .split_whitespace()
                .map(|p| {
                    let (z, w) = p.split_once(':').unwrap();
                    (z.parse().unwrap(), w.parse().unwrap())
                })
                .collect();
            (name, density, comp, f.next().unwrap().to_string())
        })
        .collect()
}

#[test]
fn built_in_materials_match_their_sources() {
    let refs = references();
    for name in Material::library() {
        let Some((_, density, comp, source)) = refs.iter().find(|r| r.0 == name) else {
            panic!("{name}: no reference to check it against");
        };
        let m = Material::builtin(name).unwrap();
        assert!(
            (m.density() / density - 1.0).abs() < 1e-3,
            "{name}: density {} vs {density} ({source})",
            m.density()
        );
        let total: f64 = comp.iter().map(|c| c.1).sum();
        for &(z, w) in comp {
            let want = w / total;
            let got = m
                .composition()
                .iter()
                .find(|c| c.0 == z)
                .map_or(0.0, |c| c.1);
            assert!(
                (got - want).abs() <= 2e-5 + 1e-3 * want,
                "{name}: Z = {z} mass fraction {got} vs {want} ({source})"
            );
        }
        assert!(
            m.composition()
                .iter()
                .all(|c| comp.iter().any(|r| r.0 == c.0)),
            "{name}: an element the source does not list ({source})"
        );
    }
}

#[test]
fn silastic_is_tg129s_not_pure_pdms() {
    // TG-129's Silastic attenuates more than pure PDMS (H .082 C .324 O .216 Si .379) at I-125
    // energies: about 4.5 % at 28 keV (mu/rho from the same XCOM data).
    let tg129 = Material::builtin("silastic").unwrap();
    let pdms = Material::new(
        "pdms",
        1.12,
        &[(1, 0.08156), (6, 0.323947), (8, 0.215754), (14, 0.378739)],
    )
    .unwrap();
    let ratio = tg129.mu_rho(28e3) / pdms.mu_rho(28e3);
    assert!(ratio > 1.03 && ratio < 1.06, "{ratio}");
}
