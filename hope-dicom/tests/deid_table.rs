//! The committed profile table matches the vendored PS3.15 Table E.1-1 row by row, and lookups
//! resolve exact tags before the repeating-group and private patterns.
#![allow(clippy::unwrap_used, missing_docs)]

use hope_dicom::deid::table::{Action, ProfileOption, TagPattern, lookup, rows};

fn action(code: &str) -> Action {
    match code {
        "D" => Action::D,
        "Z" => Action::Z,
        "X" => Action::X,
        "K" => Action::K,
        "C" => Action::C,
        "U" => Action::U,
        "Z/D" => Action::ZD,
        "X/Z" => Action::XZ,
        "X/D" => Action::XD,
        "X/Z/D" => Action::XZD,
        "X/Z/U*" => Action::XZU,
        other => panic!("unknown action code {other}"),
    }
}

#[test]
fn committed_table_matches_the_vendored_standard() {
    let source: Vec<serde_json::Value> =
        serde_json::from_str(include_str!("../data/ps3.15-table-e.1-1.json")).unwrap();
    let columns = [
        "rtnSafePrivOpt",
        "rtnUIDsOpt",
        "rtnDevIdOpt",
        "rtnInstIdOpt",
        "rtnPatCharsOpt",
        "rtnLongFullDatesOpt",
        "rtnLongModifDatesOpt",
        "cleanDescOpt",
        "cleanStructContOpt",
        "cleanGraphOpt",
    ];
    assert_eq!(rows().len(), source.len());
    for (row, src) in rows().iter().zip(&source) {
        let tag = src["tag"].as_str().unwrap();
        assert_eq!(row.name, src["name"].as_str().unwrap(), "{tag}");
        assert_eq!(
            row.basic,
            action(src["basicProfile"].as_str().unwrap()),
            "{tag}"
        );
        assert_eq!(row.in_standard_iod, src["stdCompIOD"] == "Y", "{tag}");
        for (i, col) in columns.iter().enumerate() {
            assert_eq!(
                row.options[i],
                src.get(*col).and_then(|v| v.as_str()).map(action),
                "{tag} {col}"
            );
        }
        if let TagPattern::Exact(g, e) = row.tag {
            assert_eq!(format!("({g:04X},{e:04X})"), tag.to_uppercase());
        }
    }
}

#[test]
fn lookups() {
    let pid = lookup(0x0010, 0x0020).unwrap();
    assert_eq!((pid.name, pid.basic), ("Patient ID", Action::ZD));
    let sop = lookup(0x0008, 0x0018).unwrap();
    assert_eq!(
        (sop.basic, sop.option(ProfileOption::RetainUids)),
        (Action::U, Some(Action::K))
    );
    assert_eq!(
        lookup(0x0008, 0x0080)
            .unwrap()
            .option(ProfileOption::RetainInstitutionIdentity),
        Some(Action::K)
    );
    assert_eq!(lookup(0x5010, 0x0005).unwrap().name, "Curve Data");
    assert!(
        lookup(0x5011, 0x0005).unwrap().tag == TagPattern::Private,
        "odd groups are private"
    );
    assert_eq!(lookup(0x601E, 0x4000).unwrap().name, "Overlay Comments");
    assert!(
        lookup(0x6000, 0x0010).is_none(),
        "overlay rows (60xx,0010) are not listed"
    );
    assert!(
        lookup(0x7FE0, 0x0010).is_none(),
        "pixel data is not in the table"
    );
    // Every option column uses only the codes the standard allows for it.
    for r in rows() {
        for (i, a) in r.options.iter().enumerate() {
            if let Some(a) = a {
                assert!(
                    matches!(a, Action::C | Action::K),
                    "{} option {i}: {a:?}",
                    r.name
                );
            }
        }
    }
}
