//! Regression tests of the security review (issue 19) that concern the catalog: each failed on
//! the code before its fix.
#![allow(clippy::unwrap_used, missing_docs)]

use hope_catalog::{AttrType, Attribute, Catalog, Entry, Principal, Value, query};

/// Finding 16: 10,000 parentheses overflowed the parser's stack (the process aborted). Deep
/// nesting is refused with a position, and long chains of `and`/`or` still run (as balanced
/// trees, on every back-end).
#[test]
fn finding_16_query_nesting_is_limited_and_long_chains_still_run() {
    for text in [
        format!("{}I = 1{}", "(".repeat(10_000), ")".repeat(10_000)),
        format!("{}I = 1", "not ".repeat(10_000)),
        format!("{}I = 1{}", "(not ".repeat(5_000), ")".repeat(5_000)),
    ] {
        let e = query::parse(&text).unwrap_err().to_string();
        assert!(e.contains("nested more than"), "{}", &e[..e.len().min(200)]);
    }
    let e = query::parse(&"I = 1 and ".repeat(10_000))
        .unwrap_err()
        .to_string();
    assert!(e.contains("bytes; at most"), "{}", &e[..e.len().min(200)]);

    // 32 levels of parentheses and a chain of 3,000 conditions are fine, and give the right rows.
    let nested = format!("{}I = 1{}", "(".repeat(32), ")".repeat(32));
    assert!(query::parse(&nested).is_ok());
    let chain = (0..3000)
        .map(|i| format!("I != {}", i + 100))
        .collect::<Vec<_>>()
        .join(" and ");
    let dir = tempfile::tempdir().unwrap();
    let admin = Principal::user("admin");
    for cat in [
        Catalog::in_memory(),
        Catalog::open_sqlite(dir.path().join("c.db")).unwrap(),
    ] {
        cat.init(&admin).unwrap();
        cat.mkdir(&admin, "/d").unwrap();
        cat.add_attribute(&admin, "/d", Attribute::new("I", AttrType::Int))
            .unwrap();
        cat.add_many(
            &admin,
            "/d",
            (0..5)
                .map(|k| Entry::new(format!("e{k}")).with("I", Value::Int(k)))
                .collect(),
        )
        .unwrap();
        let any_of = (0..3000)
            .map(|i| format!("I = {}", i + 3))
            .collect::<Vec<_>>()
            .join(" or ");
        let rows = cat
            .query(&admin, "/d", &format!("select count(*) where {chain}"))
            .unwrap();
        assert_eq!(rows.rows[0][0], Value::Int(5));
        let rows = cat
            .query(&admin, "/d", &format!("select count(*) where {any_of}"))
            .unwrap();
        assert_eq!(rows.rows[0][0], Value::Int(2));
    }
}
