//! hope-catalog at scale: bulk ingest of N entries with 12 attributes, an indexed equality query
//! returning 100 rows, a three-condition query with a date range, and the cost of permission
//! checks. SQLite on local disk always; PostgreSQL too when a URL is given.
//!
//! ```sh
//! cargo run --release --example catalog_bench -- [--entries 1000000] [--postgres postgresql://hope@127.0.0.1:5432/db] [--dir DIR] [--keep]
//! ```
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use hope_test_support::args as common;

use common::{arg, flag};

use std::time::Instant;

use hope::catalog::{AttrType, Attribute, Catalog, Entry, Permission, Principal, Subject, Value};

const SERIES: u64 = 10_000;

fn attributes() -> Vec<Attribute> {
    vec![
        Attribute::new("PatientID", AttrType::Text).indexed(),
        Attribute::new("StudyInstanceUID", AttrType::Uid),
        Attribute::new("SeriesInstanceUID", AttrType::Uid).indexed(),
        Attribute::new("Modality", AttrType::Text).indexed(),
        Attribute::new("StudyDate", AttrType::Date).indexed(),
        Attribute::new("BodyPartExamined", AttrType::Text),
        Attribute::new("Age", AttrType::Int),
        Attribute::new("Sex", AttrType::Text),
        Attribute::new("SliceThickness", AttrType::Float),
        Attribute::new("Manufacturer", AttrType::Text),
        Attribute::new("InstanceNumber", AttrType::Int),
        Attribute::new("Contrast", AttrType::Bool),
    ]
}

fn entry(i: u64) -> Entry {
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let series = i % SERIES;
    let modalities = ["CT", "MR", "PT", "US", "NM", "CR"];
    let parts = ["HEAD", "EYE", "CHEST", "ABDOMEN", "PELVIS"];
    Entry::new(format!("2.25.{}", 1_000_000_000 + i))
        .with("PatientID", Value::Text(format!("PSEUDO-{}", series / 4)))
        .with(
            "StudyInstanceUID",
            Value::Uid(format!("2.25.7{}", series / 2)),
        )
        .with("SeriesInstanceUID", Value::Uid(format!("2.25.8{series}")))
        .with(
            "Modality",
            Value::Text(modalities[(series % 6) as usize].into()),
        )
        .with(
            "StudyDate",
            Value::Date(16_000 + ((series * 7919) % 3650) as i32),
        )
        .with(
            "BodyPartExamined",
            Value::Text(parts[(h >> 20) as usize % 5].into()),
        )
        .with("Age", Value::Int(((h >> 8) % 95) as i64))
        .with(
            "Sex",
            Value::Text(if h & 1 == 0 { "F" } else { "M" }.into()),
        )
        .with(
            "SliceThickness",
            Value::Float([0.625, 1.0, 1.25, 2.5, 5.0][(h >> 30) as usize % 5]),
        )
        .with(
            "Manufacturer",
            Value::Text(["GE", "Siemens", "Philips", "Canon"][(h >> 40) as usize % 4].into()),
        )
        .with("InstanceNumber", Value::Int((i / SERIES) as i64 + 1))
        .with("Contrast", Value::Bool(h >> 50 & 1 == 1))
}

fn median_ms(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn bench(label: &str, cat: &Catalog, n: u64) {
    let admin = Principal::user("admin");
    let reader = Principal::user("reader").in_group("research");
    cat.init(&admin).unwrap();
    cat.mkdir_all(&admin, "/hospital/eye/instances").unwrap();
    for a in attributes() {
        cat.add_attribute(&admin, "/hospital/eye/instances", a)
            .unwrap();
    }
    // The reader's right comes from an inherited group grant two levels up.
    cat.grant(
        &admin,
        "/hospital",
        Subject::Group("research".into()),
        Some(Permission::Read),
    )
    .unwrap();

    // Timed: the catalog's work (checks, transaction, indexes), not building the input entries.
    let batch = 50_000;
    let mut i = 0;
    let mut ingest = 0.0;
    while i < n {
        let entries: Vec<Entry> = (i..(i + batch).min(n)).map(entry).collect();
        let start = Instant::now();
        cat.add_many(&admin, "/hospital/eye/instances", entries)
            .unwrap();
        ingest += start.elapsed().as_secs_f64();
        i += batch;
    }
    assert_eq!(cat.count(&admin, "/hospital/eye/instances").unwrap(), n);

    let path = "/hospital/eye/instances";
    let keys: Vec<u64> = (0..301).map(|k| (k * 7_907) % SERIES).collect();
    let eq = |k: u64| format!("SeriesInstanceUID = '2.25.8{k}'");
    for k in &keys[..20] {
        cat.query(&reader, path, &eq(*k)).unwrap(); // warm the caches
    }
    let mut with_acl = Vec::new();
    let mut without_acl = Vec::new();
    for k in &keys {
        let t = Instant::now();
        let r = cat.query(&reader, path, &eq(*k)).unwrap();
        with_acl.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(r.rows.len() as u64, n / SERIES);
        let t = Instant::now();
        let r = cat.dangerous_query_without_acl(path, &eq(*k)).unwrap();
        without_acl.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(r.rows.len() as u64, n / SERIES);
    }
    let three =
        "Modality = 'CT' and Age >= 60 and StudyDate >= 2021-06-01 and StudyDate < 2021-07-01";
    let mut three_ms = Vec::new();
    let mut rows = 0;
    for _ in 0..21 {
        let t = Instant::now();
        rows = cat.query(&reader, path, three).unwrap().rows.len();
        three_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let mut agg_ms = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        cat.query(&reader, path, "select Modality, Sex, count(*), avg(Age) where StudyDate >= 2020-01-01 group by Modality, Sex").unwrap();
        agg_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (acl, raw) = (median_ms(with_acl), median_ms(without_acl));
    println!("{label}: {n} entries x 12 attributes");
    println!(
        "  bulk ingest:                  {:.0} entries/s ({ingest:.1} s)",
        n as f64 / ingest
    );
    println!(
        "  indexed equality, {} rows:   median {acl:.3} ms (with ACL check), {raw:.3} ms (without); ACL overhead x{:.2}",
        n / SERIES,
        acl / raw
    );
    println!(
        "  three conditions with range:  median {:.2} ms ({rows} rows)",
        median_ms(three_ms)
    );
    println!(
        "  group-by aggregate over all:  median {:.0} ms",
        median_ms(agg_ms)
    );
}

fn main() {
    let n: u64 = arg("--entries").map_or(1_000_000, |s| s.parse().unwrap());
    let dir = arg("--dir").map_or_else(
        || tempfile::tempdir_in(".").unwrap(),
        |d| tempfile::tempdir_in(d).unwrap(),
    );
    let db = dir.path().join("bench.db");
    let dir = if flag("--keep") {
        println!("keeping {}", dir.keep().display());
        None
    } else {
        Some(dir)
    };
    bench(
        &format!("SQLite ({})", db.display()),
        &Catalog::open_sqlite(&db).unwrap(),
        n,
    );
    if let Some(url) = arg("--postgres") {
        bench("PostgreSQL", &Catalog::open_postgres(&url).unwrap(), n);
    }
    drop(dir);
}
