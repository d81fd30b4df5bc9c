//! Real key servers on loopback with mutual TLS, for the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hope_crypto::audit::AuditKey;
use hope_crypto::client::{KeyServerClient, ServerEndpoint};
use hope_crypto::container::{EncryptOptions, Header, decrypt_to_vec, encrypt_to_vec};
use hope_crypto::pki::{IssuedCert, TestPki};
use hope_crypto::server::ServerHandle;
use hope_crypto::tls::{TlsFiles, client_config};
use hope_crypto::{DataKey, KeyClient, KeyId, KeyServer, ServerSettings};

pub(crate) struct Cluster {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) pki: TestPki,
    pub(crate) crl: PathBuf,
    pub(crate) settings: Vec<ServerSettings>,
    pub(crate) servers: Vec<Option<ServerHandle>>,
}

impl Cluster {
    pub(crate) fn start(n: usize) -> Cluster {
        Cluster::start_with(n, |_| {})
    }

    /// `n` servers, each with its settings adjusted by `tune` before it starts.
    pub(crate) fn start_with(n: usize, tune: impl Fn(&mut ServerSettings)) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let mut pki = TestPki::new("HOPE test CA").unwrap();
        std::fs::write(dir.path().join("ca.pem"), pki.ca_pem()).unwrap();
        let crl = dir.path().join("ca.crl");
        std::fs::write(&crl, pki.crl_pem(&[]).unwrap()).unwrap();
        let mut settings = Vec::new();
        let mut servers = Vec::new();
        for i in 0..n {
            let sdir = dir.path().join(format!("server{i}"));
            std::fs::create_dir_all(&sdir).unwrap();
            let (cert, key) = pki
                .issue_server(&["localhost", "127.0.0.1"])
                .unwrap()
                .write(&sdir, "server")
                .unwrap();
            let ca = dir.path().join("ca.pem");
            let mut s = ServerSettings::new(
                "127.0.0.1:0",
                &TlsFiles {
                    cert: &cert,
                    key: &key,
                    ca: &ca,
                },
                sdir.join("shares"),
                sdir.join("audit.jsonl"),
            );
            s.crl = Some(crl.clone());
            s.max_connections = 16;
            tune(&mut s);
            let handle = KeyServer::bind(s.clone()).unwrap().spawn().unwrap();
            // Later restarts keep the port, so clients made before still reach the server.
            s.listen = handle.addr().to_string();
            servers.push(Some(handle));
            settings.push(s);
        }
        Cluster {
            dir,
            pki,
            crl,
            settings,
            servers,
        }
    }

    /// A user's certificate and a 2-of-n client for it.
    pub(crate) fn user(&mut self, name: &str, group: Option<&str>) -> (KeyClient, IssuedCert) {
        let issued = self.pki.issue_client(name, group).unwrap();
        let client = self.client_for(&issued, name);
        (client, issued)
    }

    pub(crate) fn client_for(&self, issued: &IssuedCert, name: &str) -> KeyClient {
        let (cert, key) = issued.write(self.dir.path(), name).unwrap();
        let tls = client_config(&TlsFiles {
            cert: &cert,
            key: &key,
            ca: &self.dir.path().join("ca.pem"),
        })
        .unwrap();
        let servers = self
            .settings
            .iter()
            .map(|s| {
                let ep = ServerEndpoint {
                    address: s.listen.clone(),
                    server_name: Some("localhost".into()),
                };
                KeyServerClient::new(ep, Arc::clone(&tls), Duration::from_secs(3))
            })
            .collect();
        KeyClient::new(servers, 2).unwrap().with_identity(name)
    }

    pub(crate) fn stop(&mut self, i: usize) {
        if let Some(h) = self.servers[i].take() {
            h.shutdown();
        }
    }

    /// Starts server `i` again on its port, with its store and log.
    pub(crate) fn restart(&mut self, i: usize) {
        self.stop(i);
        let mut tries = 0;
        let handle = loop {
            match KeyServer::bind(self.settings[i].clone()) {
                Ok(s) => break s.spawn().unwrap(),
                Err(e) if tries < 50 => {
                    tries += 1;
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("restart of server {i}: {e}"),
            }
        };
        self.servers[i] = Some(handle);
    }

    /// Replaces server `i` by an empty one (a lost disk): same address and certificate, no
    /// shares.
    pub(crate) fn replace_empty(&mut self, i: usize) {
        self.stop(i);
        let _ = std::fs::remove_dir_all(&self.settings[i].storage);
        self.restart(i);
    }

    pub(crate) fn audit(&self, i: usize) -> String {
        std::fs::read_to_string(&self.settings[i].audit_log).unwrap()
    }

    pub(crate) fn audit_key(&self, i: usize) -> AuditKey {
        AuditKey::load_or_create(AuditKey::default_path(&self.settings[i].audit_log)).unwrap()
    }
}

pub(crate) fn seal(key: &DataKey, id: KeyId, object: &[u8], data: &[u8]) -> Vec<u8> {
    encrypt_to_vec(data, key, id, 1, object, &EncryptOptions::new()).unwrap()
}

pub(crate) fn open(
    client: &KeyClient,
    sealed: &[u8],
    object: &[u8],
) -> hope_crypto::Result<Vec<u8>> {
    let h = Header::read_from(sealed)?;
    let c = client.fetch_key(&h.key_id, h.key_version, &h.commitment)?;
    decrypt_to_vec(sealed, &c.key, Some(object))
}

/// A key registered by `client`, and a container sealed under it.
pub(crate) fn registered(
    client: &KeyClient,
    grants: &[hope_crypto::acl::Grant],
    data: &[u8],
) -> (DataKey, KeyId, Vec<u8>) {
    let key = DataKey::generate().unwrap();
    let id = client.new_key_id().unwrap();
    client.register(&key, &id, 1, grants).unwrap();
    let sealed = seal(&key, id.id, b"o", data);
    (key, id.id, sealed)
}
