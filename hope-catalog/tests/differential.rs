//! Differential property tests: random filters, orderings and aggregates give the same rows on
//! SQLite and PostgreSQL as on the in-memory reference (three-valued logic, nulls, LIKE, ordering,
//! paging). And the parser never panics, whatever the text.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::OnceLock;

use hope_catalog::{AttrType, Attribute, Catalog, Entry, Principal, Value, query};
use proptest::prelude::*;

const N: usize = 60;

fn fill(cat: &Catalog) {
    let a = Principal::user("admin");
    cat.init(&a).unwrap();
    cat.mkdir(&a, "/d").unwrap();
    for attr in [
        Attribute::new("I", AttrType::Int).indexed(),
        Attribute::new("F", AttrType::Float),
        Attribute::new("T", AttrType::Text),
        Attribute::new("D", AttrType::Date),
        Attribute::new("B", AttrType::Bool),
    ] {
        cat.add_attribute(&a, "/d", attr).unwrap();
    }
    let words = ["eye", "Eye", "orbit", "b_x", "a%b", "", "zz", "Ωmega"];
    let entries = (0..N)
        .map(|k| {
            let mut e = Entry::new(format!("n{k:02}"));
            // Deterministic pseudo-random values, each attribute null about one time in seven.
            let h = |s: usize| (k * 2_654_435_761 + s * 40_503) % 1_000_003;
            if h(1) % 7 != 0 {
                e = e.with("I", Value::Int((h(2) % 11) as i64 - 5));
            }
            if h(3) % 7 != 0 {
                e = e.with("F", Value::Float(((h(4) % 9) as f64 - 4.0) * 0.5));
            }
            if h(5) % 7 != 0 {
                e = e.with("T", Value::Text(words[h(6) % words.len()].to_string()));
            }
            if h(7) % 7 != 0 {
                e = e.with("D", Value::Date(19_700 + (h(8) % 5) as i32));
            }
            if h(9) % 7 != 0 {
                e = e.with("B", Value::Bool(h(10) % 2 == 0));
            }
            e
        })
        .collect();
    cat.add_many(&a, "/d", entries).unwrap();
}

struct Catalogs {
    memory: Catalog,
    others: Vec<Catalog>,
    _dir: tempfile::TempDir,
}

fn catalogs() -> &'static Catalogs {
    static C: OnceLock<Catalogs> = OnceLock::new();
    C.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let memory = Catalog::in_memory();
        fill(&memory);
        let sqlite = Catalog::open_sqlite(dir.path().join("d.db")).unwrap();
        fill(&sqlite);
        let mut others = vec![sqlite];
        if let Some(url) =
            common::fresh_postgres_database(&format!("hope_diff{}", std::process::id()))
        {
            let pg = Catalog::open_postgres(&url).unwrap();
            fill(&pg);
            others.push(pg);
        }
        Catalogs {
            memory,
            others,
            _dir: dir,
        }
    })
}

fn atom() -> impl Strategy<Value = String> {
    let op = prop::sample::select(vec!["=", "!=", "<", "<=", ">", ">="]);
    prop_oneof![
        (op.clone(), -6i64..6).prop_map(|(o, v)| format!("I {o} {v}")),
        (op.clone(), -5i32..5).prop_map(|(o, v)| format!("F {o} {}", f64::from(v) * 0.5)),
        (
            op.clone(),
            prop::sample::select(vec!["eye", "Eye", "b", "orbit", "zz", "", "Ω"])
        )
            .prop_map(|(o, v)| format!("T {o} '{v}'")),
        (op, 0u32..6).prop_map(|(o, d)| format!("D {o} 2023-12-{:02}", 25 + d)),
        prop::sample::select(vec!["B = true", "B = false", "B != true"]).prop_map(str::to_string),
        prop::sample::select(vec!["I", "F", "T", "D", "B"]).prop_flat_map(|a| {
            prop::bool::ANY.prop_map(move |n| format!("{a} is {}null", if n { "not " } else { "" }))
        }),
        prop::collection::vec(-5i64..5, 1..4).prop_map(|v| format!(
            "I in ({})",
            v.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
        )),
        prop::sample::select(vec![
            "like(T, '%ye%')",
            "ilike(T, 'EYE')",
            "like(T, '_ye')",
            "like(T, 'b\\_%')",
            "like(T, '%\\%%')",
            "like(T, '')",
            "ilike(T, '%O%')",
            "like(name, 'n1_')",
            "like(T, 'E%')",
            "like(T, 'e%')",
            "like(T, '%ω%')",
            "ilike(T, 'b_X')",
        ])
        .prop_map(str::to_string),
    ]
}

fn filter() -> impl Strategy<Value = String> {
    atom().prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} and {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} or {b})")),
            inner.prop_map(|a| format!("not {a}")),
        ]
    })
}

fn same(q: &str) -> Result<(), TestCaseError> {
    let c = catalogs();
    let a = Principal::user("admin");
    let expected = c.memory.query(&a, "/d", q).unwrap();
    for other in &c.others {
        let got = other.query(&a, "/d", q).unwrap();
        prop_assert_eq!(
            &got.columns,
            &expected.columns,
            "{} on {}",
            q,
            other.backend_kind()
        );
        prop_assert_eq!(
            got.rows.len(),
            expected.rows.len(),
            "{} on {}",
            q,
            other.backend_kind()
        );
        for (g, e) in got.rows.iter().zip(&expected.rows) {
            for (x, y) in g.iter().zip(e) {
                let close = match (x, y) {
                    (Value::Float(p), Value::Float(q)) => (p - q).abs() <= 1e-9 * (1.0 + q.abs()),
                    _ => x == y,
                };
                prop_assert!(
                    close,
                    "{} on {}: {:?} vs {:?}",
                    q,
                    other.backend_kind(),
                    g,
                    e
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn filters_agree_with_the_reference(f in filter(), key in prop::sample::select(vec!["I", "F", "T", "D", "B", "name"]), desc in any::<bool>(), limit in 0u64..20, offset in 0u64..10) {
        same(&format!("{f} order by {key}{} limit {limit} offset {offset}", if desc { " desc" } else { "" }))?;
    }

    #[test]
    fn aggregates_agree_with_the_reference(f in filter(), g in prop::sample::select(vec!["T", "B", "D", "I"])) {
        same(&format!("select {g}, count(*), count(F), min(I), max(T), sum(F), avg(I) where {f} group by {g}"))?;
    }

    /// The parser and checker never panic on arbitrary text (the fuzz target does the same, guided).
    #[test]
    fn parser_never_panics(text in "\\PC{0,80}", tokens in prop::collection::vec(prop::sample::select(vec![
        "select", "where", "and", "or", "not", "(", ")", ",", "'x'", "'", "1", "-2.5e3", "2024-01-01", "2024-01-01T00:00:00Z",
        "I", "T", "name", "=", "<", ">=", "!=", "in", "is", "null", "like", "count(*)", "group", "by", "order", "limit", "offset",
    ]), 0..20)) {
        let schema = hope_catalog::Schema::new(vec![Attribute::new("I", AttrType::Int), Attribute::new("T", AttrType::Text)]).unwrap();
        for t in [text, tokens.join(" ")] {
            if let Ok(q) = query::parse(&t) {
                let _ = query::check(&q, &schema);
            }
        }
    }
}
