//! Replication of a collection subtree (issue 21): the copy equals the source after a first run,
//! after inserts, updates, removals and schema changes, and after a run killed mid-copy (a real
//! process, killed) and resumed; an unchanged source writes nothing; the copy is read-only.
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use hope_catalog::replication::{Options, Side, replicate};
use hope_catalog::{
    AttrType, Attribute, Catalog, Entry, Error, Permission, Principal, Subject, Value,
};

fn admin() -> Principal {
    Principal::user("admin")
}

fn regional() -> Principal {
    Principal::user("regional")
}

fn entry(i: usize) -> Entry {
    Entry::new(format!("s{i:06}"))
        .with("Modality", Value::Text(["CT", "MR", "PT"][i % 3].into()))
        .with("Age", Value::Int((i % 90) as i64))
        .with("StudyUID", Value::Uid(format!("2.25.{i}")))
}

/// A hospital's catalog: `/hospital/studies` (n entries) and `/hospital/studies/ct` (n/10),
/// readable by `regional`, writable by the group `radiology`.
fn source(path: &Path, n: usize) -> Catalog {
    let cat = Catalog::open_sqlite(path).unwrap();
    let a = admin();
    cat.init(&a).unwrap();
    cat.mkdir_all(&a, "/hospital/studies/ct").unwrap();
    for c in ["/hospital/studies", "/hospital/studies/ct"] {
        cat.add_attribute(&a, c, Attribute::new("Modality", AttrType::Text).indexed())
            .unwrap();
        cat.add_attribute(&a, c, Attribute::new("Age", AttrType::Int))
            .unwrap();
        cat.add_attribute(&a, c, Attribute::new("StudyUID", AttrType::Uid))
            .unwrap();
    }
    cat.add_many(&a, "/hospital/studies", (0..n).map(entry).collect())
        .unwrap();
    cat.add_many(&a, "/hospital/studies/ct", (0..n / 10).map(entry).collect())
        .unwrap();
    cat.grant(
        &a,
        "/hospital",
        Subject::User("regional".into()),
        Some(Permission::Read),
    )
    .unwrap();
    cat.grant(
        &a,
        "/hospital",
        Subject::Group("radiology".into()),
        Some(Permission::Write),
    )
    .unwrap();
    cat
}

fn target(path: &Path) -> Catalog {
    let cat = Catalog::open_sqlite(path).unwrap();
    cat.init(&admin()).unwrap();
    cat.mkdir(&admin(), "/regional").unwrap();
    cat.grant(
        &admin(),
        "/regional",
        Subject::User("regional".into()),
        Some(Permission::Write),
    )
    .unwrap();
    cat
}

fn all(cat: &Catalog, who: &Principal, path: &str) -> Vec<Entry> {
    let r = cat.query(who, path, "order by name").unwrap();
    r.rows
        .iter()
        .map(|row| {
            let mut e = Entry::new(match &row[0] {
                Value::Text(s) => s.clone(),
                v => panic!("{v:?}"),
            });
            for (c, v) in r.columns.iter().zip(row).skip(1) {
                if !v.is_null() {
                    e.values.insert(c.clone(), v.clone());
                }
            }
            e
        })
        .collect()
}

/// The copy at `/regional/a` equals `/hospital` (collections, schemas, entries), and its
/// permissions are the source's lowered to read.
fn assert_equal(src: &Catalog, dst: &Catalog) {
    let (r, g) = (regional(), regional());
    for (s, d) in [
        ("/hospital", "/regional/a"),
        ("/hospital/studies", "/regional/a/studies"),
        ("/hospital/studies/ct", "/regional/a/studies/ct"),
    ] {
        let (ss, ds) = (src.schema(&r, s).unwrap(), dst.schema(&g, d).unwrap());
        let names = |x: &hope_catalog::Schema| {
            x.attributes
                .iter()
                .map(|a| (a.name.clone(), a.ty, a.indexed))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&ss), names(&ds), "{s}");
        assert_eq!(all(src, &r, s), all(dst, &g, d), "{s}");
        let sl: Vec<String> = src
            .list(&r, s)
            .unwrap()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        let dl: Vec<String> = dst
            .list(&g, d)
            .unwrap()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        assert_eq!(sl, dl, "{s}");
        let p = dst.permissions(&g, d).unwrap();
        assert_eq!(p.owner, "regional");
        assert!(
            p.acl.iter().all(|e| e.permission == Permission::Read),
            "{p:?}"
        );
    }
    // Read-only for everyone but the replicating principal: radiology may not write the copy.
    let radiologist = Principal::user("rad").in_group("radiology");
    assert!(dst.count(&radiologist, "/regional/a/studies").is_ok());
    assert!(matches!(
        dst.add(&radiologist, "/regional/a/studies", Entry::new("x")),
        Err(Error::AccessDenied { .. })
    ));
}

/// The child of the crash test: replicates page by page, slowly, until killed.
#[test]
fn replication_child() {
    let Ok(dir) = std::env::var("HOPE_REPLICATION_CHILD") else {
        return;
    };
    let dir = Path::new(&dir);
    let (src, dst) = (
        Catalog::open_sqlite(dir.join("source.db")).unwrap(),
        Catalog::open_sqlite(dir.join("target.db")).unwrap(),
    );
    let options = Options {
        page: 500,
        state: Some(dir.join("state.json")),
    };
    let (r, g) = (regional(), regional());
    replicate(
        Side {
            catalog: &src,
            who: &r,
            path: "/hospital",
        },
        Side {
            catalog: &dst,
            who: &g,
            path: "/regional/a",
        },
        &options,
        &mut |report| {
            println!("page {}", report.added);
            std::thread::sleep(std::time::Duration::from_millis(100));
            Ok(())
        },
    )
    .unwrap();
    println!("finished");
}

#[test]
fn a_copied_subtree_equals_its_source_through_changes_and_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let src = source(&dir.join("source.db"), 20_000);
    let dst = target(&dir.join("target.db"));
    let state = dir.join("state.json");

    // A run killed after a few pages.
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "replication_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("HOPE_REPLICATION_CHILD", dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut pages = 0;
    while pages < 3 {
        let line = lines.next().expect("the child ended early").unwrap();
        if line.starts_with("page") {
            pages += 1;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!lines.map_while(|l| l.ok()).any(|l| l.contains("finished")));
    assert!(
        state.exists(),
        "the position of the killed run is on record"
    );
    let (r, g) = (regional(), regional());
    let partial = dst.count(&g, "/regional/a/studies").unwrap();
    assert!((1_000..20_000).contains(&partial), "{partial}");

    // Meanwhile the source changes: inserts, updates, removals, a schema change, a collection.
    let a = admin();
    src.add_many(
        &a,
        "/hospital/studies",
        (20_000..20_500).map(entry).collect(),
    )
    .unwrap();
    for i in [5, 15_000, 19_999] {
        src.update(
            &a,
            "/hospital/studies",
            &format!("s{i:06}"),
            vec![("Age".into(), Value::Int(120))],
        )
        .unwrap();
    }
    src.update(
        &a,
        "/hospital/studies",
        "s000007",
        vec![("Modality".into(), Value::Null)],
    )
    .unwrap();
    for i in [1, 10_001] {
        src.remove(&a, "/hospital/studies", &format!("s{i:06}"))
            .unwrap();
    }
    src.add_attribute(
        &a,
        "/hospital/studies/ct",
        Attribute::new("Dose", AttrType::Float),
    )
    .unwrap();
    src.update(
        &a,
        "/hospital/studies/ct",
        "s000003",
        vec![("Dose".into(), Value::Float(1.5))],
    )
    .unwrap();
    src.mkdir(&a, "/hospital/eye").unwrap();

    let options = Options {
        page: 1_000,
        state: Some(state.clone()),
    };
    let from = Side {
        catalog: &src,
        who: &r,
        path: "/hospital",
    };
    let to = Side {
        catalog: &dst,
        who: &g,
        path: "/regional/a",
    };
    // The resumed run goes on from where the killed one stopped.
    let resumed = replicate(from, to, &options, &mut |_| Ok(())).unwrap();
    assert!(resumed.resumed);
    assert!(!state.exists(), "a completed run leaves no state");
    // The next run takes up what changed behind the resumed position: the copy is the source.
    let second = replicate(from, to, &options, &mut |_| Ok(())).unwrap();
    assert!(!second.resumed);
    assert!(second.updated >= 1 || second.removed >= 1, "{second:?}");
    assert_equal(&src, &dst);
    // Nothing changed: nothing written.
    let third = replicate(from, to, &options, &mut |_| Ok(())).unwrap();
    assert!(!third.changed(), "{third:?}");
    assert_eq!(third.collections, 4);
    // A collection gone from the source goes from the copy.
    src.rmdir(&a, "/hospital/eye").unwrap();
    let fourth = replicate(from, to, &options, &mut |_| Ok(())).unwrap();
    assert_eq!(fourth.removed_collections, 1);
    assert_equal(&src, &dst);
    // A state file of another replication is refused, not followed.
    std::fs::write(
        &state,
        br#"{"source":"/elsewhere","target":"/regional/a","collection":"","after":null}"#,
    )
    .unwrap();
    let err = replicate(from, to, &options, &mut |_| Ok(())).unwrap_err();
    assert!(err.to_string().contains("/elsewhere"), "{err}");
}
