//! hope-catalog at scale: bulk ingest of N entries with 12 attributes, an indexed equality query
//! returning 100 rows, a three-condition query with a date range, and the cost of permission
//! checks. SQLite on local disk always; PostgreSQL too when a URL is given. With `--service`
//! (features `catalog-server` and `catalog-client`), the same equality query through a catalog
//! service on loopback (mutual TLS, every request audited) against the library, with 1, 8 and 32
//! concurrent clients, and a federated query over three services.
//!
//! ```sh
//! cargo run --release --example catalog_bench -- [--entries 1000000] [--postgres postgresql://hope@127.0.0.1:5432/db] [--dir DIR] [--keep]
//! cargo run --release --features catalog-server,catalog-client --example catalog_bench -- --service
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
    if flag("--service") {
        #[cfg(all(feature = "catalog-server", feature = "catalog-client"))]
        service::bench(&db, n);
        #[cfg(not(all(feature = "catalog-server", feature = "catalog-client")))]
        println!("--service needs the features catalog-server and catalog-client");
    }
    drop(dir);
}

#[cfg(all(feature = "catalog-server", feature = "catalog-client"))]
mod service {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use hope::catalog::remote::client::Identity;
    use hope::catalog::remote::federation::{Site, Sites, federate};
    use hope::catalog::remote::server::{CatalogServer, ServerSettings, Storage};
    use hope::catalog::{Catalog, Principal};

    use super::SERIES;

    fn percentile(v: &mut [f64], p: f64) -> f64 {
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * p).round() as usize]
    }

    /// `per_thread` equality queries on each of `threads` threads: queries per second and the
    /// 50th and 99th percentiles of their latency, ms.
    fn run(cat: &Catalog, threads: usize, per_thread: usize, n: u64) -> (f64, f64, f64) {
        let reader = Principal::user("reader").in_group("research");
        let path = "/hospital/eye/instances";
        let start = Instant::now();
        let mut lat: Vec<f64> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let reader = &reader;
                    s.spawn(move || {
                        (0..per_thread)
                            .map(|i| {
                                let k = ((t * per_thread + i) as u64 * 7_907) % SERIES;
                                let q = format!("SeriesInstanceUID = '2.25.8{k}'");
                                let t0 = Instant::now();
                                let r = cat.query(reader, path, &q).unwrap();
                                assert_eq!(r.rows.len() as u64, n / SERIES);
                                t0.elapsed().as_secs_f64() * 1e3
                            })
                            .collect::<Vec<f64>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        let qps = lat.len() as f64 / start.elapsed().as_secs_f64();
        (qps, percentile(&mut lat, 0.5), percentile(&mut lat, 0.99))
    }

    pub(super) fn bench(db: &Path, n: u64) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut pki = hope_crypto::pki::TestPki::new("bench CA").unwrap();
        std::fs::write(d.join("ca.pem"), pki.ca_pem()).unwrap();
        let (cert, key) = pki
            .issue_server(&["localhost"])
            .unwrap()
            .write(d, "server")
            .unwrap();
        let (rc, rk) = pki
            .issue_client("reader", Some("research"))
            .unwrap()
            .write(d, "reader")
            .unwrap();
        let settings = |i: usize| ServerSettings {
            listen: "127.0.0.1:0".into(),
            cert: cert.clone(),
            key: key.clone(),
            ca: d.join("ca.pem"),
            crl: None,
            audit_log: d.join(format!("audit{i}.jsonl")),
            audit_key: None,
            storage: Storage::Sqlite(db.to_path_buf()),
            postgres: Default::default(),
            admin: None,
            groups: Default::default(),
            disclosure: Vec::new(),
            max_connections: 256,
            max_connections_per_address: 256,
            request_timeout_ms: 60_000,
            idle_timeout_ms: 60_000,
        };
        let mut handles = Vec::new();
        let mut addrs = Vec::new();
        for i in 0..3 {
            let server = CatalogServer::bind(&settings(i)).unwrap();
            addrs.push(server.local_addr().unwrap().to_string());
            handles.push(server.spawn().unwrap());
        }
        let identity = Identity::files(&rc, &rk);
        let remote = Catalog::connect_as(
            &addrs[0],
            Some("localhost"),
            &d.join("ca.pem"),
            &[identity],
            Duration::from_secs(60),
        )
        .unwrap();
        let local = Catalog::open_sqlite(db).unwrap();
        println!(
            "service on loopback (mutual TLS, each request audited with a synced append) against the library, same run:"
        );
        println!(
            "  indexed equality returning {} rows; queries per second, p50 / p99 latency",
            n / SERIES
        );
        for threads in [1usize, 8, 32] {
            let per = (2_000 / threads).max(50);
            let (lq, l50, l99) = run(&local, threads, per, n);
            let (sq, s50, s99) = run(&remote, threads, per, n);
            println!(
                "  {threads:>2} client(s): library {lq:>7.0}/s {l50:.2} / {l99:.2} ms; service {sq:>7.0}/s {s50:.2} / {s99:.2} ms; overhead x{:.1} (p50)",
                s50 / l50
            );
        }
        // Federation over the three services (one catalog file behind them).
        for (i, a) in addrs.iter().enumerate() {
            std::fs::write(
                d.join(format!("site{i}.toml")),
                format!(
                    "server = \"{a}\"\nserver_name = \"localhost\"\nca = \"ca.pem\"\ncert = \"{}\"\nkey = \"{}\"\n",
                    rc.display(),
                    rk.display()
                ),
            )
            .unwrap();
        }
        let sites = Sites {
            timeout_ms: 30_000,
            sites: (0..3)
                .map(|i| Site {
                    name: format!("site-{i}"),
                    client: d.join(format!("site{i}.toml")),
                    path: "/hospital/eye/instances".into(),
                    recursive: false,
                })
                .collect(),
        };
        let mut lat = Vec::new();
        for k in 0..60u64 {
            let t = Instant::now();
            let f = federate(
                &sites,
                &format!(
                    "select Modality, count(*) where SeriesInstanceUID = '2.25.8{}' group by Modality",
                    (k * 7_907) % SERIES
                ),
            );
            assert!(f.merged.rows.len() >= 3);
            if k >= 10 {
                lat.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        println!(
            "  federated group-by count over three services: p50 {:.1} ms, p99 {:.1} ms (50 runs; a new connection per site per run)",
            percentile(&mut lat, 0.5),
            percentile(&mut lat, 0.99)
        );
        drop(handles);
    }
}
