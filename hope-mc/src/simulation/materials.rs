//! Materials defined in a simulation file (`[materials.NAME]`): a density and either mass
//! fractions by element symbol or a chemical formula.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::spec::{Checked, Invalid};
use crate::Material;
use crate::data::element_by_symbol;

/// At most this many materials in one file.
pub const MAX_MATERIALS: usize = 256;
/// A formula of at most this many characters, parentheses nested at most [`MAX_NESTING`] deep.
pub const MAX_FORMULA_CHARS: usize = 256;
/// The deepest nesting of parentheses in a formula.
pub const MAX_NESTING: usize = 8;

/// A material the file defines: `density` (g/cm^3) and one of `composition` (mass fractions
/// by element symbol, normalised to 1) or `formula` (atoms per formula unit).
///
/// ```toml
/// [materials.tg129_silastic]
/// density = 1.12
/// composition = { H = 0.063, C = 0.249, O = 0.289, Si = 0.399, Pt = 5e-5 }
///
/// [materials.pdms]
/// density = 0.97
/// formula = "C2H6OSi"
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaterialSpec {
    /// Density, g/cm^3.
    pub density: f64,
    /// Mass fractions by element symbol (normalised to 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub composition: Option<BTreeMap<String, f64>>,
    /// A chemical formula: element symbols with counts, parentheses for groups, e.g.
    /// `"H2O"`, `"C2H6OSi"`, `"Ca10(PO4)6(OH)2"`; mass fractions from the atomic weights of the
    /// photon data (xraylib's, which round some: H 1.01).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formula: Option<String>,
}

impl MaterialSpec {
    /// The material named `name` (errors name `materials.NAME.field`).
    pub(crate) fn material(&self, name: &str) -> Checked<Material> {
        let at = format!("materials.{name}");
        if !super::spec::is_name(name) {
            return Err(Invalid::new(
                at,
                "expected a name of 1 to 64 letters, digits, '_' or '-'",
            ));
        }
        if Material::library().any(|b| b == name) {
            return Err(Invalid::new(
                at,
                "a built-in material has this name: choose another (the file's would shadow it)",
            ));
        }
        super::spec::density_of(&format!("{at}.density"), self.density)?;
        let pairs: Vec<(u8, f64)> = match (&self.composition, &self.formula) {
            (Some(c), None) => {
                if c.is_empty() {
                    return Err(Invalid::new(format!("{at}.composition"), "no elements"));
                }
                c.iter()
                    .map(|(symbol, w)| {
                        let f = format!("{at}.composition.{symbol}");
                        let el = element_by_symbol(symbol).ok_or_else(|| {
                            Invalid::new(
                                &f,
                                "not an element symbol (H to Fm, as written: Si, not SI)",
                            )
                        })?;
                        if !(w.is_finite() && *w >= 0.0) {
                            return Err(Invalid::new(
                                &f,
                                format!("{w}; expected a finite mass fraction >= 0"),
                            ));
                        }
                        Ok((el.z, *w))
                    })
                    .collect::<Checked<_>>()?
            }
            (None, Some(formula)) => parse_formula(formula)
                .map_err(|m| Invalid::new(format!("{at}.formula"), format!("{formula:?}: {m}")))?
                .into_iter()
                .map(|(z, atoms)| {
                    let mass = crate::data::element(z).map_or(0.0, |e| e.atomic_mass);
                    (z, atoms * mass)
                })
                .collect(),
            (Some(_), Some(_)) => {
                return Err(Invalid::new(
                    at,
                    "both composition and formula: give one of them",
                ));
            }
            (None, None) => {
                return Err(Invalid::new(
                    at,
                    "expected composition (mass fractions by element) or formula",
                ));
            }
        };
        Material::new(name, self.density, &pairs)
            .map_err(|e| Invalid::because(at, "not a usable material", e))
    }
}

/// Atoms per formula unit by Z, from a formula such as `Ca10(PO4)6(OH)2`.
pub(crate) fn parse_formula(formula: &str) -> Result<Vec<(u8, f64)>, String> {
    if formula.len() > MAX_FORMULA_CHARS {
        return Err(format!("longer than {MAX_FORMULA_CHARS} characters"));
    }
    let bytes = formula.as_bytes();
    // A stack of groups: atoms counted so far in each open parenthesis.
    let mut stack: Vec<BTreeMap<u8, f64>> = vec![BTreeMap::new()];
    let mut i = 0;
    let count = |i: &mut usize| -> Result<f64, String> {
        let start = *i;
        while *i < bytes.len() && (bytes[*i].is_ascii_digit() || bytes[*i] == b'.') {
            *i += 1;
        }
        if start == *i {
            return Ok(1.0);
        }
        let n: f64 = formula[start..*i]
            .parse()
            .map_err(|_| format!("{:?} is not a count", &formula[start..*i]))?;
        if !(n > 0.0 && n <= 1e6) {
            return Err(format!("count {n}: expected more than 0 and at most 1e6"));
        }
        Ok(n)
    };
    while i < bytes.len() {
        match bytes[i] {
            b'(' => {
                if stack.len() > MAX_NESTING {
                    return Err(format!("parentheses nested more than {MAX_NESTING} deep"));
                }
                stack.push(BTreeMap::new());
                i += 1;
            }
            b')' => {
                i += 1;
                let n = count(&mut i)?;
                let group = stack.pop().filter(|_| !stack.is_empty());
                let (Some(group), Some(outer)) = (group, stack.last_mut()) else {
                    return Err("a ')' without its '('".into());
                };
                if group.is_empty() {
                    return Err("an empty group '()'".into());
                }
                for (z, a) in group {
                    *outer.entry(z).or_insert(0.0) += a * n;
                }
            }
            b'A'..=b'Z' => {
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_lowercase() {
                    i += 1;
                }
                let symbol = &formula[start..i];
                let el = element_by_symbol(symbol)
                    .ok_or_else(|| format!("{symbol:?} is not an element symbol"))?;
                let n = count(&mut i)?;
                if let Some(top) = stack.last_mut() {
                    *top.entry(el.z).or_insert(0.0) += n;
                }
            }
            _ => {
                return Err(format!(
                    "unexpected {:?} at character {}; expected element symbols, counts and parentheses",
                    formula[i..].chars().next().unwrap_or(' '),
                    i + 1
                ));
            }
        }
    }
    if stack.len() != 1 {
        return Err("a '(' without its ')'".into());
    }
    let atoms: Vec<(u8, f64)> = stack.pop().unwrap_or_default().into_iter().collect();
    if atoms.is_empty() {
        return Err("no elements".into());
    }
    Ok(atoms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_give_their_atoms() {
        assert_eq!(parse_formula("H2O"), Ok(vec![(1, 2.0), (8, 1.0)]));
        assert_eq!(
            parse_formula("Ca10(PO4)6(OH)2"),
            Ok(vec![(1, 2.0), (8, 26.0), (15, 6.0), (20, 10.0)])
        );
        assert_eq!(parse_formula("((CH2)2)3"), Ok(vec![(1, 12.0), (6, 6.0)]));
        for (bad, says) in [
            ("", "no elements"),
            ("H2O)", "without its '('"),
            ("(H2O", "without its ')'"),
            ("Xx2", "not an element"),
            ("H0", "count 0"),
            ("H1e9", "unexpected"),
            ("H2 O", "unexpected ' '"),
            ("()", "empty group"),
            ("H99999999", "at most 1e6"),
        ] {
            let e = parse_formula(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let deep = format!("{}H{}", "(".repeat(9), ")".repeat(9));
        assert!(parse_formula(&deep).unwrap_err().contains("nested"));
        assert!(
            parse_formula(&"H".repeat(300))
                .unwrap_err()
                .contains("longer")
        );
        // Water by formula is NIST's water by mass (with the photon data's atomic weights,
        // H 1.01 and O 16.0 as xraylib gives them, to 2e-4).
        let w = MaterialSpec {
            density: 1.0,
            composition: None,
            formula: Some("H2O".into()),
        }
        .material("my_water")
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            (w.composition()[0].1 - 0.111898).abs() < 3e-4,
            "{:?}",
            w.composition()
        );
    }
}
