//! Key-server throughput on one machine: three key servers on loopback (mutual TLS, SQLite stores
//! on disk, every share synced before it is acknowledged, every request audited and synced),
//! optionally pre-filled with millions of keys, and one 2-of-3 client registering and fetching
//! keys in batches over keep-alive connections.
//!
//! ```sh
//! cargo run --release --example keyserver_bench -- --prefill 10000000 --keys 20000
//! ```
//!
//! Prints registrations and fetches per second (batched, and one key per call), and the store
//! size. The stores live in a temporary folder under `--dir` (default: the system's).
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hope::crypto::client::KeyServerClient;
use hope::crypto::pki::TestPki;
use hope::crypto::store::{KeyStore, NewKey};
use hope::crypto::{
    DataKey, KeyClient, KeyId, KeyServer, Principal, Registration, ServerEndpoint, ServerSettings,
    SqliteKeyStore,
};
use hope::service::tls::{TlsFiles, client_config};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> hope_test_support::ExampleResult {
    let prefill = arg("--prefill", 0);
    let n = arg("--keys", 20_000) as usize;
    let base: PathBuf = std::env::args()
        .skip_while(|a| a != "--dir")
        .nth(1)
        .map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = tempfile::tempdir_in(base)?;
    let d = dir.path();
    let mut pki = TestPki::new("bench CA")?;
    let ca = d.join("ca.pem");
    std::fs::write(&ca, pki.ca_pem())?;

    // Pre-fill each store as its owner would have: bound keys, batches of 10,000.
    if prefill > 0 {
        let start = Instant::now();
        let owner = Principal::user("bench");
        for i in 0..3 {
            let store = SqliteKeyStore::open(d.join(format!("shares{i}")))?;
            let mut done = 0u64;
            while done < prefill {
                let batch = (prefill - done).min(10_000);
                let keys: Vec<NewKey> = (0..batch)
                    .map(|j| {
                        let (id, salt) = KeyId::bound_to("bench").unwrap();
                        let y = [((done + j) % 251) as u8; 32];
                        NewKey {
                            share: hope::crypto::shares::Share::from_parts(id, 1, 2, i + 1, y),
                            salt,
                            grants: Vec::new(),
                        }
                    })
                    .collect();
                store.create(&owner, keys)?;
                done += batch;
            }
        }
        println!(
            "prefill: {prefill} keys on each of 3 stores in {:.0} s",
            start.elapsed().as_secs_f64()
        );
    }

    let mut servers = Vec::new();
    for i in 0..3 {
        let (cert, key) = pki
            .issue_server(&["localhost"])?
            .write(d, &format!("server{i}"))?;
        let settings = ServerSettings::new(
            "127.0.0.1:0",
            &TlsFiles {
                cert: &cert,
                key: &key,
                ca: &ca,
            },
            d.join(format!("shares{i}")),
            d.join(format!("audit{i}.jsonl")),
        );
        servers.push(KeyServer::bind(settings)?.spawn()?);
    }
    let (cert, key) = pki.issue_client("bench", None)?.write(d, "bench")?;
    let tls = client_config(&TlsFiles {
        cert: &cert,
        key: &key,
        ca: &ca,
    })?;
    let client = KeyClient::new(
        servers
            .iter()
            .map(|s| {
                KeyServerClient::new(
                    ServerEndpoint {
                        address: s.addr().to_string(),
                        server_name: Some("localhost".into()),
                    },
                    Arc::clone(&tls),
                    Duration::from_secs(30),
                )
            })
            .collect(),
        2,
    )?
    .with_identity("bench");

    let keys: Vec<DataKey> = (0..n).map(|_| DataKey::generate().unwrap()).collect();
    let ids: Vec<_> = keys.iter().map(|_| client.new_key_id().unwrap()).collect();
    let items: Vec<Registration<'_>> = keys
        .iter()
        .zip(&ids)
        .map(|(key, id)| Registration {
            key,
            id,
            key_version: 1,
            grants: &[],
        })
        .collect();
    let start = Instant::now();
    client.register_many(&items)?;
    let reg = n as f64 / start.elapsed().as_secs_f64();

    let wanted: Vec<_> = keys
        .iter()
        .zip(&ids)
        .map(|(k, id)| (id.id, 1, k.commitment(&id.id, 1)))
        .collect();
    let start = Instant::now();
    let got = client.fetch_keys(&wanted);
    let fetch = n as f64 / start.elapsed().as_secs_f64();
    hope_test_support::ensure!(got.iter().all(Result::is_ok), "a key did not come back");
    for (k, c) in keys.iter().zip(got) {
        hope_test_support::ensure!(c?.key.expose_secret() == k.expose_secret());
    }

    // One key per call (no batching), for comparison.
    let single = 300.min(n);
    let start = Instant::now();
    for (k, id) in keys.iter().zip(&ids).take(single) {
        let fresh = client.new_key_id()?;
        client.register(k, &fresh, 1, &[])?;
        let _ = id;
    }
    let reg1 = single as f64 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    for (id, v, c) in wanted.iter().take(single) {
        client.fetch_key(id, *v, c)?;
    }
    let fetch1 = single as f64 / start.elapsed().as_secs_f64();

    let size: u64 = std::fs::read_dir(d.join("shares0"))?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!(
        "store: {} keys per server, {:.0} MB on disk (server 1)",
        prefill + n as u64 + single as u64,
        size as f64 / 1e6
    );
    println!("batched: {reg:.0} registrations/s, {fetch:.0} fetches/s ({n} keys, 2-of-3)");
    println!("one key per call: {reg1:.0} registrations/s, {fetch1:.0} fetches/s");
    Ok(())
}
