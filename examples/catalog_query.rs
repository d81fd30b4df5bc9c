//! The metadata catalog on its embedded SQLite backend: a collection with a typed schema, a few
//! series registered, queries with conditions and aggregates, and the access rules.
//!
//! ```sh
//! cargo run --release --example catalog_query
//! ```
#![allow(clippy::print_stdout)]

use hope::catalog::{AttrType, Attribute, Catalog, Entry, Principal, Value};

fn main() -> hope_test_support::ExampleResult {
    let dir = tempfile::tempdir()?;
    let cat = Catalog::open_sqlite(dir.path().join("catalog.sqlite"))?;
    let alice = Principal::user("alice");
    cat.init(&alice)?;
    cat.mkdir_all(&alice, "/hospital-a/series")?;
    for a in [
        Attribute::new("Modality", AttrType::Text).indexed(),
        Attribute::new("StudyDate", AttrType::Date).indexed(),
        Attribute::new("Instances", AttrType::Int),
    ] {
        cat.add_attribute(&alice, "/hospital-a/series", a)?;
    }
    for (uid, modality, date, n) in [
        ("2.25.1", "CT", "2026-03-01", 120),
        ("2.25.2", "CT", "2026-05-12", 300),
        ("2.25.3", "MR", "2026-05-20", 48),
        ("2.25.4", "PT", "2026-06-02", 200),
    ] {
        cat.add(
            &alice,
            "/hospital-a/series",
            Entry::new(uid)
                .with("Modality", Value::Text(modality.into()))
                .with("StudyDate", Value::date(date)?)
                .with("Instances", Value::Int(n)),
        )?;
    }
    let query = "Modality = 'CT' and StudyDate >= '2026-04-01'";
    let found = cat.query(&alice, "/hospital-a/series", query)?;
    println!("{query}: {} series", found.rows.len());
    let per = cat.query(
        &alice,
        "/hospital-a/series",
        "select Modality, count(*) group by Modality",
    )?;
    for row in &per.rows {
        println!("  {row:?}");
    }
    let denied = cat.query(&Principal::user("eve"), "/hospital-a/series", query);
    println!(
        "eve: {}",
        denied.err().map(|e| e.to_string()).unwrap_or_default()
    );
    Ok(())
}
