//! PS3.15 Table E.1-1, the Application Level Confidentiality Profile Attributes, generated from the
//! standard (see `hope-dicom/data/SOURCE.md` and `tools/gen_deid_table.py`).
//!
//! ```
//! use hope_dicom::deid::table::{Action, ProfileOption, lookup};
//!
//! let name = lookup(0x0010, 0x0010).unwrap();
//! assert_eq!(name.name, "Patient's Name");
//! assert_eq!(name.basic, Action::Z);
//! let date = lookup(0x0008, 0x0020).unwrap(); // Study Date
//! assert_eq!(date.option(ProfileOption::RetainLongitudinalFullDates), Some(Action::K));
//! assert_eq!(lookup(0x0009, 0x1001).unwrap().name, "Private Attributes");
//! assert_eq!(lookup(0x6002, 0x3000).unwrap().name, "Overlay Data");
//! assert!(lookup(0x0028, 0x0010).is_none()); // Rows: not in the table, kept
//! ```

use super::table_data::ROWS;

/// An action code of PS3.15 E.1.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Replace with a non-zero length dummy value consistent with the VR.
    D,
    /// Replace with a zero length value, or a dummy value consistent with the VR.
    Z,
    /// Remove.
    X,
    /// Keep (sequences are still cleaned recursively).
    K,
    /// Clean: replace with values of similar meaning that identify no one.
    C,
    /// Replace with a non-zero length UID that is internally consistent within the set of instances.
    U,
    /// Z unless D is required to satisfy the IOD (Type 1).
    ZD,
    /// X unless Z is required to satisfy the IOD (Type 2).
    XZ,
    /// X unless D is required to satisfy the IOD (Type 1).
    XD,
    /// X unless Z or D is required to satisfy the IOD.
    XZD,
    /// X unless Z or replacement of contained instance UIDs (U) is required (`X/Z/U*`).
    XZU,
}

/// The options of the profile, in the column order of Table E.1-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProfileOption {
    /// Retain Safe Private Option.
    RetainSafePrivate = 0,
    /// Retain UIDs Option.
    RetainUids,
    /// Retain Device Identity Option.
    RetainDeviceIdentity,
    /// Retain Institution Identity Option.
    RetainInstitutionIdentity,
    /// Retain Patient Characteristics Option.
    RetainPatientCharacteristics,
    /// Retain Longitudinal Temporal Information with Full Dates Option.
    RetainLongitudinalFullDates,
    /// Retain Longitudinal Temporal Information with Modified Dates Option.
    RetainLongitudinalModifiedDates,
    /// Clean Descriptors Option.
    CleanDescriptors,
    /// Clean Structured Content Option.
    CleanStructuredContent,
    /// Clean Graphics Option.
    CleanGraphics,
}

/// Which attributes a row covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagPattern {
    /// One attribute.
    Exact(u16, u16),
    /// Curve data: every element of the repeating groups 50xx.
    Curve,
    /// One element of the repeating overlay groups 60xx.
    Overlay(u16),
    /// Every private attribute (odd group).
    Private,
}

impl TagPattern {
    /// Whether the attribute (group, element) is covered.
    pub fn matches(self, group: u16, element: u16) -> bool {
        match self {
            TagPattern::Exact(g, e) => g == group && e == element,
            TagPattern::Curve => group & 0xFF01 == 0x5000,
            TagPattern::Overlay(e) => group & 0xFF01 == 0x6000 && e == element,
            TagPattern::Private => group % 2 == 1,
        }
    }
}

/// One row of Table E.1-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProfileRow {
    /// The attributes covered.
    pub tag: TagPattern,
    /// The attribute name as in the standard.
    pub name: &'static str,
    /// Whether the attribute is in a standard composite IOD ("Std. Comp. IOD" column).
    pub in_standard_iod: bool,
    /// The action of the Basic Profile.
    pub basic: Action,
    /// The action of each option where the option changes it, in [`ProfileOption`] order.
    pub options: [Option<Action>; 10],
}

impl ProfileRow {
    /// The action an option sets for this attribute, if it sets one.
    pub fn option(&self, option: ProfileOption) -> Option<Action> {
        self.options[option as usize]
    }
}

/// Every row, in the order of the standard's table.
pub fn rows() -> &'static [ProfileRow] {
    ROWS
}

/// The row covering attribute (group, element): an exact row first, then the overlay, curve and
/// private patterns; `None` for attributes the profile does not list (they are kept).
pub fn lookup(group: u16, element: u16) -> Option<&'static ProfileRow> {
    ROWS.iter()
        .find(|r| matches!(r.tag, TagPattern::Exact(..)) && r.tag.matches(group, element))
        .or_else(|| ROWS.iter().find(|r| r.tag.matches(group, element)))
}
