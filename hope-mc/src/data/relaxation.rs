//! Atomic relaxation after photoabsorption: which fluorescence a vacancy sends away, as the
//! photon transport samples it and as its mean enters mu_en/rho.

use super::ElementData;

/// What happens after photoabsorption leaves a vacancy in an inner shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Relaxation {
    /// No fluorescence: the photon's whole energy is given to the photoelectron (or deposited).
    /// EGSnrc's `Atomic relaxations = Off` (IEDGFL = 0).
    None,
    /// K-shell fluorescence only; vacancies in other shells deposit their energy on the spot.
    K,
    /// K- and L-shell fluorescence, and the cascade: the vacancy that a K line leaves in an L
    /// subshell may emit an L line in turn. Auger electrons are not followed (their energy,
    /// below 90 keV for any element, is deposited on the spot), nor the L lines that follow a
    /// KLL Auger transition; M-shell lines (below 4 keV for Z < 80) are deposited. EGSnrc's
    /// `Atomic relaxations = On` with EADL data treats the whole cascade.
    #[default]
    Full,
}

impl Relaxation {
    /// The names the file format takes (`true` and `false` are also read, as `full` and
    /// `none`: the `fluorescence` switch of earlier versions).
    pub const NAMES: &'static str = "none, k, full";
}

impl<'de> serde::Deserialize<'de> for Relaxation {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Relaxation;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "one of {} (or true/false)", Relaxation::NAMES)
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Relaxation, E> {
                Ok(if v {
                    Relaxation::Full
                } else {
                    Relaxation::None
                })
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Relaxation, E> {
                match v {
                    "none" => Ok(Relaxation::None),
                    "k" => Ok(Relaxation::K),
                    "full" => Ok(Relaxation::Full),
                    other => Err(E::invalid_value(serde::de::Unexpected::Str(other), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// The edge whose shell holds the vacancy after a line of `line` eV filled one in edge `i`:
/// the shell whose binding energy is the difference (within 2 %), if it is tabulated.
pub(crate) fn vacancy_after(el: &ElementData, i: usize, line: f64) -> Option<usize> {
    let hole = f64::from(el.edges[i].energy) - line;
    el.edges
        .iter()
        .enumerate()
        .skip(i + 1)
        .map(|(j, x)| (j, (f64::from(x.energy) - hole).abs()))
        .filter(|&(_, d)| d <= 0.02 * hole.max(1.0))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(j, _)| j)
}

/// The mean energy (eV) that relaxation sends away as fluorescence after photoabsorption of a
/// photon of `energy` eV by `el`, exactly as [`PhotonPhysics`] samples it.
pub(crate) fn mean_fluorescence(el: &ElementData, energy: f64, relaxation: Relaxation) -> f64 {
    let mean_from = |i: usize| -> f64 {
        let edge = &el.edges[i];
        if edge.lines.is_empty()
            || relaxation == Relaxation::None
            || (relaxation == Relaxation::K && edge.shell != "K")
        {
            return 0.0;
        }
        f64::from(edge.fluorescence_yield)
            * edge
                .lines
                .iter()
                .map(|&(le, pr)| {
                    let le = f64::from(le);
                    let cascade = match (relaxation, vacancy_after(el, i, le)) {
                        (Relaxation::Full, Some(j)) => {
                            let v = &el.edges[j];
                            f64::from(v.fluorescence_yield)
                                * v.lines
                                    .iter()
                                    .map(|&(l, q)| f64::from(l) * f64::from(q))
                                    .sum::<f64>()
                        }
                        _ => 0.0,
                    };
                    f64::from(pr) * (le + cascade)
                })
                .sum::<f64>()
    };
    let mut remaining = 1.0;
    let mut emitted = 0.0;
    for (i, edge) in el.edges.iter().enumerate() {
        if f64::from(edge.energy) > energy {
            continue;
        }
        let p = remaining * (1.0 - 1.0 / f64::from(edge.jump).max(1.0));
        emitted += p * mean_from(i);
        remaining -= p;
    }
    emitted
}
