//! Mutual-TLS handshakes per second with the client's key on a PKCS#11 token (SoftHSM2) against
//! the same kind of key in a PEM file, in the same run, in alternating rounds: the cost of keeping
//! the key on a card. Each handshake is a full TLS 1.3 handshake with client authentication
//! (resumption off) against hope-service's own server configuration on loopback.
//!
//! ```sh
//! source scripts/services.sh && start_softhsm   # SOFTHSM2_CONF, HOPE_TEST_PKCS11_MODULE
//! cargo run --release --example token_handshakes -- --handshakes 500 --rounds 5
//! ```
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use hope::crypto::pki::TestPki;
use hope::crypto::token::{self, KeyAlgorithm, PinSource, Pkcs11Uri, TokenKey};
use hope::service::tls::{self, ClientIdentity, Source, TlsFiles};
use rustls::SignatureScheme;

fn arg(name: &str, default: usize) -> usize {
    hope_test_support::args::arg(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `n` full handshakes with `client`; the seconds they took.
fn handshakes(address: std::net::SocketAddr, client: &Arc<rustls::ClientConfig>, n: usize) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        let socket = TcpStream::connect(address).unwrap();
        socket.set_nodelay(true).unwrap();
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let mut conn = rustls::StreamOwned::new(
            rustls::ClientConnection::new(Arc::clone(client), name).unwrap(),
            socket,
        );
        conn.write_all(b"?").unwrap();
        let mut byte = [0u8; 1];
        conn.read_exact(&mut byte).unwrap();
    }
    start.elapsed().as_secs_f64()
}

fn main() -> hope_test_support::ExampleResult {
    let n = arg("--handshakes", 500);
    let rounds = arg("--rounds", 5);
    let Some(card) = hope_test_support::pkcs11::token("hope-bench", "1234") else {
        return Err(
            "HOPE_TEST_PKCS11_MODULE is not set: source scripts/services.sh; start_softhsm".into(),
        );
    };
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let mut pki = TestPki::new("bench CA")?;
    std::fs::write(d.join("ca.pem"), pki.ca_pem())?;
    let (server_cert, server_key) = pki.issue_server(&["localhost"])?.write(d, "server")?;
    pki.issue_client("file-user", None)?.write(d, "file-user")?;
    let pin = PinSource::File(card.pin_file.clone());
    let mut identities = vec![(
        "ECDSA P-256, PEM file".to_string(),
        ClientIdentity::files(&d.join("file-user.pem"), &d.join("file-user.key")),
        None,
    )];
    for (i, algorithm) in [KeyAlgorithm::EcP256, KeyAlgorithm::Rsa(2048)]
        .into_iter()
        .enumerate()
    {
        let user = format!("token-user-{i}");
        let uri = Pkcs11Uri {
            token: Some(card.label.clone()),
            object: Some(user.clone()),
            id: Some(vec![i as u8 + 1]),
            ..Pkcs11Uri::default()
        };
        let public = token::generate_key(&card.module, &uri, algorithm, &pin)?;
        let cert = pki
            .issue_client_for_key(&user, None, &public)?
            .write_cert(d, &user)?;
        let key = TokenKey::open(&card.module, &uri, &pin)?;
        identities.push((
            format!("{algorithm}, SoftHSM2 token"),
            ClientIdentity {
                cert: Some(Source::File(cert)),
                key: Source::Token(uri),
                pkcs11_module: Some(card.module.clone()),
                pin: pin.clone(),
                origin: PathBuf::from("bench"),
            },
            Some(key),
        ));
    }

    // The server: hope-service's configuration, requiring a client certificate from the CA.
    let server = tls::server_config(
        &TlsFiles {
            cert: &server_cert,
            key: &server_key,
            ca: &d.join("ca.pem"),
        },
        None,
    )?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    std::thread::spawn(move || {
        for socket in listener.incoming() {
            let Ok(socket) = socket else { continue };
            let _ = socket.set_nodelay(true);
            let Ok(conn) = rustls::ServerConnection::new(Arc::clone(&server)) else {
                continue;
            };
            let mut conn = rustls::StreamOwned::new(conn, socket);
            let mut byte = [0u8; 1];
            if conn.read_exact(&mut byte).is_ok() {
                let _ = conn.write_all(b"!");
                let _ = conn.flush();
            }
        }
    });

    let ca = d.join("ca.pem");
    let clients: Vec<Arc<rustls::ClientConfig>> = identities
        .iter()
        .map(|(_, id, _)| {
            let mut config = (*id.load().unwrap().client_config(&ca).unwrap()).clone();
            config.resumption = rustls::client::Resumption::disabled();
            Arc::new(config)
        })
        .collect();
    for c in &clients {
        handshakes(address, c, 20); // warm-up
    }
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); clients.len()];
    for _ in 0..rounds {
        for (i, c) in clients.iter().enumerate() {
            rates[i].push(n as f64 / handshakes(address, c, n));
        }
    }
    println!("TLS 1.3 mutual-TLS handshakes on loopback, {n} per round, {rounds} rounds, median:");
    let mut file_rate = 0.0;
    for (i, (label, _, key)) in identities.iter().enumerate() {
        let median = hope_test_support::args::median(rates[i].clone());
        if i == 0 {
            file_rate = median;
        }
        // The token's own signing time, for the record.
        let sign = key.as_ref().map(|k| {
            let scheme = match k.algorithm() {
                KeyAlgorithm::Rsa(_) => SignatureScheme::RSA_PSS_SHA256,
                KeyAlgorithm::EcP384 => SignatureScheme::ECDSA_NISTP384_SHA384,
                KeyAlgorithm::EcP256 => SignatureScheme::ECDSA_NISTP256_SHA256,
            };
            let start = Instant::now();
            for j in 0..200u32 {
                k.sign_with(scheme, &j.to_be_bytes()).unwrap();
            }
            start.elapsed().as_secs_f64() / 200.0 * 1e3
        });
        println!(
            "  {label:<28} {median:>8.0} handshakes/s  ({:.2} of the file key){}",
            median / file_rate,
            sign.map_or(String::new(), |ms| format!(
                ", one token signature {ms:.3} ms"
            ))
        );
    }
    Ok(())
}
