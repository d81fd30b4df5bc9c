//! Physical quantities as newtypes, where mixing them up is a real mistake.
//!
//! DICOM positions are in millimetres while Monte Carlo codes think in centimetres; photon energies
//! come in keV in decay tables and in MeV in cross-section tables; dose is reported in Gy or cGy. Each
//! quantity here is a plain `f64` in one fixed unit, so the conversion happens once, explicitly.
//!
//! ```
//! use hope_core::units::{Cm, Gray, MeV, Mm};
//!
//! let depth = Mm(15.0);
//! assert_eq!(Cm::from(depth), Cm(1.5));
//! assert_eq!(MeV::from_kev(662.0), MeV(0.662));
//! assert!((Gray::from_cgy(250.0).0 - 2.5).abs() < 1e-12);
//! assert_eq!(Mm(2.0) + Mm(3.0), Mm(5.0));
//! assert_eq!(Mm(6.0) / Mm(3.0), 2.0);
//! ```

use std::fmt;
use std::ops::{Add, AddAssign, Div, Mul, Neg, Sub, SubAssign};

macro_rules! quantity {
    ($(#[$doc:meta])* $name:ident, $symbol:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, PartialOrd)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(transparent))]
        pub struct $name(pub f64);

        impl $name {
            /// The value in this type's unit.
            pub const fn value(self) -> f64 {
                self.0
            }

            /// Whether the value is finite (neither NaN nor infinite).
            pub fn is_finite(self) -> bool {
                self.0.is_finite()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)?;
                f.write_str(concat!(" ", $symbol))
            }
        }

        impl Add for $name {
            type Output = Self;
            fn add(self, rhs: Self) -> Self {
                Self(self.0 + rhs.0)
            }
        }

        impl AddAssign for $name {
            fn add_assign(&mut self, rhs: Self) {
                self.0 += rhs.0;
            }
        }

        impl Sub for $name {
            type Output = Self;
            fn sub(self, rhs: Self) -> Self {
                Self(self.0 - rhs.0)
            }
        }

        impl SubAssign for $name {
            fn sub_assign(&mut self, rhs: Self) {
                self.0 -= rhs.0;
            }
        }

        impl Neg for $name {
            type Output = Self;
            fn neg(self) -> Self {
                Self(-self.0)
            }
        }

        impl Mul<f64> for $name {
            type Output = Self;
            fn mul(self, rhs: f64) -> Self {
                Self(self.0 * rhs)
            }
        }

        impl Mul<$name> for f64 {
            type Output = $name;
            fn mul(self, rhs: $name) -> $name {
                $name(self * rhs.0)
            }
        }

        impl Div<f64> for $name {
            type Output = Self;
            fn div(self, rhs: f64) -> Self {
                Self(self.0 / rhs)
            }
        }

        /// The ratio of two quantities of the same kind is a plain number.
        impl Div for $name {
            type Output = f64;
            fn div(self, rhs: Self) -> f64 {
                self.0 / rhs.0
            }
        }

        impl std::iter::Sum for $name {
            fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
                Self(iter.map(|q| q.0).sum())
            }
        }
    };
}

quantity!(
    /// A length in millimetres: the unit of DICOM and MetaImage geometry.
    Mm, "mm"
);
quantity!(
    /// A length in centimetres: the unit of cross sections and Monte Carlo transport.
    Cm, "cm"
);
quantity!(
    /// An energy in mega-electronvolts.
    MeV, "MeV"
);
quantity!(
    /// A mass density in grams per cubic centimetre.
    GramsPerCm3, "g/cm^3"
);
quantity!(
    /// An absorbed dose in gray (J/kg).
    Gray, "Gy"
);

impl From<Mm> for Cm {
    fn from(value: Mm) -> Self {
        Cm(value.0 / 10.0)
    }
}

impl From<Cm> for Mm {
    fn from(value: Cm) -> Self {
        Mm(value.0 * 10.0)
    }
}

impl MeV {
    /// An energy given in keV.
    pub fn from_kev(kev: f64) -> Self {
        MeV(kev / 1000.0)
    }

    /// The energy in keV.
    pub fn kev(self) -> f64 {
        self.0 * 1000.0
    }

    /// The energy in joules (1 MeV = 1.602176634e-13 J, exact since the 2019 SI).
    pub fn joules(self) -> f64 {
        self.0 * MEV_IN_JOULES
    }
}

impl Gray {
    /// A dose given in centigray.
    pub fn from_cgy(cgy: f64) -> Self {
        Gray(cgy / 100.0)
    }

    /// The dose in centigray.
    pub fn cgy(self) -> f64 {
        self.0 * 100.0
    }
}

/// One MeV in joules (exact: the elementary charge is fixed by the 2019 SI).
pub const MEV_IN_JOULES: f64 = 1.602_176_634e-13;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_conversions_round_trip() {
        assert_eq!(Mm::from(Cm::from(Mm(123.5))), Mm(123.5));
        assert_eq!(Cm::from(Mm(10.0)), Cm(1.0));
    }

    #[test]
    fn energy_and_dose_conversions() {
        assert_eq!(MeV(0.0355).kev(), 35.5);
        assert!((MeV(1.0).joules() - 1.602_176_634e-13).abs() < 1e-25);
        assert_eq!(Gray(0.5).cgy(), 50.0);
    }

    #[test]
    fn display_carries_the_unit() {
        assert_eq!(Mm(1.5).to_string(), "1.5 mm");
        assert_eq!(GramsPerCm3(1.06).to_string(), "1.06 g/cm^3");
        assert_eq!(format!("{:.2}", Gray(1.0 / 3.0)), "0.33 Gy");
    }

    #[test]
    fn arithmetic_stays_in_unit() {
        let mut d = Mm(1.0);
        d += Mm(2.0);
        d -= Mm(0.5);
        assert_eq!(d, Mm(2.5));
        assert_eq!(-d * 2.0, Mm(-5.0));
        assert_eq!(2.0 * d, Mm(5.0));
        assert_eq!([Gray(1.0), Gray(2.0)].into_iter().sum::<Gray>(), Gray(3.0));
    }
}
