//! Federation across three hospitals' catalog services on loopback (issue 21), each with its own
//! CA, one on PostgreSQL over verified TLS (from `HOPE_TEST_POSTGRES_URL` and
//! `HOPE_TEST_POSTGRES_TLS_CA`; required under `CI=true`): a
//! researcher's group-by counts merged and labelled by site, small cells suppressed by each
//! site's own rules, a stopped site reported unreachable and a silent one timed out, and no row
//! ever returned from an aggregate-only collection.
#![cfg(all(feature = "server", feature = "client"))]
#![allow(clippy::unwrap_used, clippy::print_stderr, missing_docs)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use hope_catalog::disclosure::Policy;
use hope_catalog::remote::federation::{Site, Sites, Status, federate};
use hope_catalog::remote::server::{CatalogServer, PostgresTable, ServerSettings, Storage};
use hope_catalog::{
    AttrType, Attribute, Catalog, CollectionPath, Entry, Error, Permission, Principal, Subject,
    Value,
};
use hope_crypto::pki::TestPki;

struct Hospital {
    name: &'static str,
    settings: ServerSettings,
    server: Option<hope_service::service::ServiceHandle>,
    addr: String,
    /// The researcher's client configuration for this site.
    client: PathBuf,
}

/// A hospital's service with `/studies/breast` holding `counts` patients by sex, readable by
/// the researcher `rita`, under an aggregate-only policy with cells of at least 5.
fn hospital(
    dir: &Path,
    name: &'static str,
    storage: Storage,
    counts: &[(&str, usize)],
) -> Hospital {
    let dir = dir.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let mut pki = TestPki::new(&format!("{name} CA")).unwrap();
    std::fs::write(dir.join("ca.pem"), pki.ca_pem()).unwrap();
    let (cert, key) = pki
        .issue_server(&["localhost"])
        .unwrap()
        .write(&dir, "server")
        .unwrap();
    let (admin_cert, admin_key) = pki
        .issue_client("admin", None)
        .unwrap()
        .write(&dir, "admin")
        .unwrap();
    pki.issue_client("rita", Some("epidemiology"))
        .unwrap()
        .write(&dir, "rita")
        .unwrap();
    // A PostgreSQL storage is reached over verified TLS where the test server offers it.
    let postgres = match (&storage, std::env::var("HOPE_TEST_POSTGRES_TLS_CA")) {
        (Storage::Postgres(_), Ok(ca)) => PostgresTable {
            ca: Some(ca.into()),
            max_connections: 4,
        },
        _ => PostgresTable::default(),
    };
    let settings = ServerSettings {
        listen: "127.0.0.1:0".into(),
        cert,
        key,
        ca: dir.join("ca.pem"),
        crl: None,
        audit_log: dir.join("audit.jsonl"),
        audit_key: None,
        storage,
        admin: Some("admin".into()),
        postgres,
        groups: Default::default(),
        disclosure: vec![Policy {
            collection: CollectionPath::parse("/studies").unwrap(),
            min_cell: 5,
            round_to: None,
            aggregate_only: true,
            unique: vec!["Pseudonym".into()],
        }],
        max_connections: 16,
        max_connections_per_address: 16,
        request_timeout_ms: 5_000,
        idle_timeout_ms: 5_000,
    };
    let server = CatalogServer::bind(&settings).unwrap();
    let addr = server.local_addr().unwrap().to_string();
    let handle = server.spawn().unwrap();
    // The site's own staff load the data (through the service, as the site's admin).
    let cat = Catalog::connect_as(
        &addr,
        Some("localhost"),
        &settings.ca,
        &[hope_catalog::remote::client::Identity::files(
            &admin_cert,
            &admin_key,
        )],
        Duration::from_secs(10),
    )
    .unwrap();
    let a = Principal::user("admin");
    cat.init(&a).unwrap();
    cat.mkdir_all(&a, "/studies/breast").unwrap();
    for attr in [
        Attribute::new("Sex", AttrType::Text).indexed(),
        Attribute::new("Age", AttrType::Int),
        Attribute::new("Pseudonym", AttrType::Text),
    ] {
        cat.add_attribute(&a, "/studies/breast", attr).unwrap();
    }
    let mut entries = Vec::new();
    for (sex, n) in counts {
        for i in 0..*n {
            entries.push(
                Entry::new(format!("{name}-{sex}-{i}"))
                    .with("Sex", Value::Text((*sex).into()))
                    .with("Age", Value::Int(40 + i as i64))
                    .with("Pseudonym", Value::Text(format!("P{name}{sex}{i}"))),
            );
        }
    }
    cat.add_many(&a, "/studies/breast", entries).unwrap();
    cat.grant(
        &a,
        "/studies",
        Subject::Group("epidemiology".into()),
        Some(Permission::Read),
    )
    .unwrap();
    let client = dir.join("rita.toml");
    std::fs::write(
        &client,
        format!(
            "server = \"{addr}\"\nserver_name = \"localhost\"\nca = \"ca.pem\"\ncert = \"rita.pem\"\nkey = \"rita.key\"\n"
        ),
    )
    .unwrap();
    Hospital {
        name,
        settings,
        server: Some(handle),
        addr,
        client,
    }
}

fn sites(hospitals: &[&Hospital], extra: Option<Site>, timeout_ms: u64) -> Sites {
    let mut sites: Vec<Site> = hospitals
        .iter()
        .map(|h| Site {
            name: h.name.into(),
            client: h.client.clone(),
            path: "/studies/breast".into(),
            recursive: false,
        })
        .collect();
    sites.extend(extra);
    Sites { timeout_ms, sites }
}

fn rows_of<'a>(merged: &'a hope_catalog::QueryResult, site: &str) -> Vec<&'a Vec<Value>> {
    merged
        .rows
        .iter()
        .filter(|r| r[0] == Value::Text(site.into()))
        .collect()
}

#[test]
fn three_hospitals_answer_a_researcher_under_their_own_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let postgres = common::fresh_postgres_database(&format!("hope_fed_{}", std::process::id()))
        .map(Storage::Postgres);
    if postgres.is_none() {
        eprintln!("site C runs on SQLite: no PostgreSQL for this run");
    }
    let a = hospital(
        tmp.path(),
        "hospital-a",
        Storage::Sqlite(tmp.path().join("a.db")),
        &[("F", 40), ("M", 12)],
    );
    let mut b = hospital(
        tmp.path(),
        "hospital-b",
        Storage::Sqlite(tmp.path().join("b.db")),
        &[("F", 30), ("M", 3)],
    );
    let c = hospital(
        tmp.path(),
        "hospital-c",
        postgres.unwrap_or_else(|| Storage::Sqlite(tmp.path().join("c.db"))),
        &[("F", 25), ("M", 8)],
    );

    // Group-by counts from the three, merged and labelled.
    let f = federate(
        &sites(&[&a, &b, &c], None, 20_000),
        "select Sex, count(*) group by Sex",
    );
    for s in &f.sites {
        assert_eq!(s.status, Status::Answered, "{}: {:?}", s.site, s.status);
        assert!(s.merged);
    }
    assert_eq!(f.merged.columns, ["site", "Sex", "count(*)"]);
    assert_eq!(f.merged.rows.len(), 4);
    let a_rows = rows_of(&f.merged, "hospital-a");
    assert_eq!(a_rows[0][1..], [Value::Text("F".into()), Value::Int(40)]);
    assert_eq!(a_rows[1][1..], [Value::Text("M".into()), Value::Int(12)]);
    // Hospital B's 3 men are a small cell; the 30 women would give them away with the total:
    // both suppressed, left out whole (a row's grouping values say that someone has them).
    assert!(rows_of(&f.merged, "hospital-b").is_empty());
    assert_eq!(rows_of(&f.merged, "hospital-c")[1][2], Value::Int(8));

    // A row-level query is refused by every site; no row comes back.
    let f = federate(&sites(&[&a, &b, &c], None, 20_000), "Sex = 'M'");
    assert!(f.merged.rows.is_empty());
    for s in &f.sites {
        assert!(
            matches!(&s.status, Status::Refused(m) if m.contains("aggregates only")),
            "{}: {:?}",
            s.site,
            s.status
        );
    }
    // Nor through the client directly: no entry, no min/max, no filter on a pseudonym.
    let rita = Catalog::connect(
        &hope_catalog::remote::client::ClientSettings::from_file(&b.client).unwrap(),
    )
    .unwrap();
    let me = Principal::user("rita");
    for err in [
        rita.get(&me, "/studies/breast", "hospital-b-M-0")
            .unwrap_err(),
        rita.query(&me, "/studies/breast", "select max(Age), count(*)")
            .unwrap_err(),
        rita.query(
            &me,
            "/studies/breast",
            "select count(*) where Pseudonym = 'Phospital-bM0'",
        )
        .unwrap_err(),
        rita.query_recursive(&me, "/studies", "select name")
            .unwrap_err(),
    ] {
        assert!(
            matches!(&err, Error::Invalid { what, .. } if what.contains("disclosure policy")),
            "{err}"
        );
    }
    // A collection's total is given when it is at least the minimum cell.
    assert_eq!(rita.count(&me, "/studies/breast").unwrap(), 33);
    // Second attack round: the entry name is an identifier (a differencing pair, or rows as
    // group keys), group keys must be selected, counts only, no order by counts.
    for q in [
        "select count(*) where Sex = 'F' and name != 'hospital-b-F-7'",
        "select name, Sex, Age, count(*) group by name, Sex, Age",
        "select count(*) group by Sex",
        "select Sex, count(*), avg(Age) group by Sex",
        "select Sex, count(*) group by Sex order by count(*)",
    ] {
        let err = rita.query(&me, "/studies/breast", q).unwrap_err();
        assert!(
            matches!(&err, Error::Invalid { what, .. } if what.contains("disclosure policy")),
            "{q}: {err}"
        );
    }
    // The site's audit log has each query's shape, its values left out, and what was suppressed.
    let log = std::fs::read_to_string(&b.settings.audit_log).unwrap();
    assert!(
        log.contains("query: select Sex, count(*) group by Sex; 2 cells suppressed"),
        "{log}"
    );
    assert!(
        log.contains("name <> ?") && !log.contains("hospital-b-F-7"),
        "{log}"
    );

    // Hospital B stops: reported as unreachable; the others still answer.
    b.server.take().unwrap().shutdown();
    // A fourth "hospital" that accepts connections and never answers: timed out.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_client = tmp.path().join("silent.toml");
    std::fs::write(
        &silent_client,
        std::fs::read_to_string(&a.client)
            .unwrap()
            .replace(&a.addr, &silent.local_addr().unwrap().to_string())
            .replace("ca.pem", &a.settings.ca.display().to_string())
            .replace(
                "rita.pem",
                &a.client.with_file_name("rita.pem").display().to_string(),
            )
            .replace(
                "rita.key",
                &a.client.with_file_name("rita.key").display().to_string(),
            ),
    )
    .unwrap();
    let silent_site = Site {
        name: "hospital-d".into(),
        client: silent_client,
        path: "/studies/breast".into(),
        recursive: false,
    };
    let started = std::time::Instant::now();
    let f = federate(
        &sites(&[&a, &b, &c], Some(silent_site), 2_000),
        "group by Sex",
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let status: Vec<(&str, &str)> = f
        .sites
        .iter()
        .map(|s| (s.site.as_str(), s.status.label()))
        .collect();
    assert_eq!(
        status,
        [
            ("hospital-a", "answered"),
            ("hospital-b", "unreachable"),
            ("hospital-c", "answered"),
            ("hospital-d", "timed out"),
        ]
    );
    assert_eq!(f.merged.rows.len(), 4);
    drop(silent);

    // Second attack round: write on a query's root exempted the whole subtree from the rules
    // (and let a replicating writer copy an aggregate-only collection's rows). Now only the
    // administrators of a collection itself see its rows, and recursive queries under rules
    // are refused for everyone.
    let c_admin = Catalog::connect_as(
        &c.addr,
        Some("localhost"),
        &c.settings.ca,
        &[hope_catalog::remote::client::Identity::files(
            &c.client.with_file_name("admin.pem"),
            &c.client.with_file_name("admin.key"),
        )],
        Duration::from_secs(10),
    )
    .unwrap();
    let a = Principal::user("admin");
    c_admin
        .grant(
            &a,
            "/studies",
            Subject::Group("epidemiology".into()),
            Some(Permission::Write),
        )
        .unwrap();
    let rita_c = Catalog::connect(
        &hope_catalog::remote::client::ClientSettings::from_file(&c.client).unwrap(),
    )
    .unwrap();
    for err in [
        rita_c
            .query_recursive(&me, "/studies", "select Pseudonym, Sex, Age")
            .unwrap_err(),
        rita_c
            .query(&me, "/studies/breast", "select Pseudonym")
            .unwrap_err(),
    ] {
        assert!(
            matches!(&err, Error::Invalid { what, .. } if what.contains("disclosure policy")),
            "{err}"
        );
    }
    // The collection's administrator sees its rows.
    assert_eq!(
        c_admin
            .query(&a, "/studies/breast", "select Pseudonym")
            .unwrap()
            .rows
            .len(),
        33
    );
}
