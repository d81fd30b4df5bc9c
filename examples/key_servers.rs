//! Encryption with split keys: three key servers started in this process on loopback (mutual TLS
//! with a generated CA), a file encrypted with AES-256-GCM whose key is split 2-of-3 over them,
//! and decryption with one server down; then one server alone is refused.
//!
//! ```sh
//! cargo run --release --example key_servers
//! ```
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::Duration;

use hope::crypto::client::KeyServerClient;
use hope::crypto::container::{EncryptOptions, Header, decrypt_to_vec, encrypt_to_vec};
use hope::crypto::pki::TestPki;
use hope::crypto::{DataKey, Grant, KeyClient, KeyServer, Right, ServerEndpoint, ServerSettings};
use hope::service::tls::{TlsFiles, client_config};
use hope_test_support::ensure;

fn main() -> hope_test_support::ExampleResult {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let mut pki = TestPki::new("example CA")?;
    let ca = d.join("ca.pem");
    std::fs::write(&ca, pki.ca_pem())?;
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
        servers.push(Some(KeyServer::bind(settings)?.spawn()?));
    }
    let (cert, key) = pki
        .issue_client("alice", Some("physics"))?
        .write(d, "alice")?;
    let tls = client_config(&TlsFiles {
        cert: &cert,
        key: &key,
        ca: &ca,
    })?;
    let endpoints = servers
        .iter()
        .flatten()
        .map(|s| ServerEndpoint {
            address: s.addr().to_string(),
            server_name: Some("localhost".into()),
        })
        .collect::<Vec<_>>();
    let client = KeyClient::new(
        endpoints
            .into_iter()
            .map(|e| KeyServerClient::new(e, Arc::clone(&tls), Duration::from_secs(5)))
            .collect(),
        2,
    )?
    .with_identity("alice");

    let secret = b"a de-identified CT slice, say";
    // A key id bound to alice: no one else can ever register it on a key server.
    let (data_key, new_id) = (DataKey::generate()?, client.new_key_id()?);
    let key_id = new_id.id;
    let sealed = encrypt_to_vec(
        secret,
        &data_key,
        key_id,
        1,
        b"ct/0001.dcm",
        &EncryptOptions::new(),
    )?;
    client.register(
        &data_key,
        &new_id,
        1,
        &[Grant::group("physics", Right::Get)],
    )?;
    println!(
        "encrypted {} bytes; key {key_id} split 2-of-3",
        secret.len()
    );

    let header = Header::read_from(sealed.as_slice())?;
    if let Some(s) = servers[2].take() {
        s.shutdown();
    }
    let combined = client.fetch_key(&header.key_id, header.key_version, &header.commitment)?;
    ensure!(decrypt_to_vec(&sealed, &combined.key, Some(b"ct/0001.dcm"))? == secret);
    println!("decrypted with server 3 down: 2 of 3 suffice");
    if let Some(s) = servers[1].take() {
        s.shutdown();
    }
    let refused = client.fetch_key(&header.key_id, header.key_version, &header.commitment);
    ensure!(refused.is_err(), "one server gave the key");
    println!(
        "one server alone: {}",
        refused.err().map(|e| e.to_string()).unwrap_or_default()
    );
    Ok(())
}
