//! A demonstration site on one machine (feature `pki`): a test CA, three key servers
//! in-process on loopback ports with mutual TLS, a gateway server certificate and the
//! certificates and key-server settings of a few users. The eye-plaque workflow, the gateway's
//! tests and benchmarks run on it; a hospital uses its own CA and its own key servers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::client::KeyServerClient;
use crate::pki::TestPki;
use crate::server::ServerHandle;
use crate::tls::{self, TlsFiles};
use crate::{KeyClient, KeyServer, ServerEndpoint, ServerSettings};

use crate::token::{KeyAlgorithm, ObjectType, PinSource, Pkcs11Uri};
use crate::{Error, Result};
use std::sync::Mutex;

/// The site: its folder holds `ca.pem`, `gateway-server.{pem,key}`, `USER.{pem,key}` and
/// `USER-keys.toml` (the user's key-server client settings) for every user.
pub struct DemoSite {
    dir: PathBuf,
    servers: Vec<Option<ServerHandle>>,
    addresses: Vec<String>,
    pki: Mutex<TestPki>,
    endpoints: String,
}

impl std::fmt::Debug for DemoSite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoSite")
            .field("dir", &self.dir)
            .field("key_servers", &self.addresses)
            .finish()
    }
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    Ok(hope_core::fs::write_atomic(path, text.as_bytes())?)
}

impl DemoSite {
    /// Creates the CA and certificates in `dir` and starts three key servers (2-of-3). `users`
    /// are (name, group) pairs; a user named `gateway` is the gateway's identity at the key
    /// servers.
    pub fn start(dir: &Path, users: &[(&str, &str)]) -> Result<DemoSite> {
        std::fs::create_dir_all(dir).map_err(|source| io(dir, source))?;
        let mut pki = TestPki::new("HOPE-rs demonstration CA")?;
        let ca = dir.join("ca.pem");
        write(&ca, pki.ca_pem())?;
        let mut servers = Vec::new();
        let mut addresses = Vec::new();
        for i in 0..3 {
            let sdir = dir.join(format!("keyserver{i}"));
            std::fs::create_dir_all(&sdir).map_err(|source| io(&sdir, source))?;
            let (cert, key) = pki
                .issue_server(&["localhost", "127.0.0.1"])?
                .write(&sdir, "server")?;
            let settings = ServerSettings::new(
                "127.0.0.1:0",
                &TlsFiles {
                    cert: &cert,
                    key: &key,
                    ca: &ca,
                },
                sdir.join("shares"),
                sdir.join("audit.jsonl"),
            );
            let handle = KeyServer::bind(settings)?.spawn()?;
            addresses.push(handle.addr().to_string());
            servers.push(Some(handle));
        }
        pki.issue_server(&["localhost", "127.0.0.1"])?
            .write(dir, "gateway-server")?;
        let mut endpoints = String::new();
        for a in &addresses {
            endpoints.push_str(&format!(
                "\n[[servers]]\naddress = \"{a}\"\nserver_name = \"localhost\"\n"
            ));
        }
        for (user, group) in users {
            pki.issue_client(user, Some(group))?.write(dir, user)?;
            write(
                &dir.join(format!("{user}-keys.toml")),
                &format!(
                    "threshold = 2\nca = \"ca.pem\"\ncert = \"{user}.pem\"\nkey = \"{user}.key\"\n{endpoints}"
                ),
            )?;
        }
        Ok(DemoSite {
            dir: dir.to_path_buf(),
            servers,
            addresses,
            pki: Mutex::new(pki),
            endpoints,
        })
    }

    /// Enrols `user` of `group` with a key on a smart card or token: the key is generated on the
    /// token that `token` names (labelled `user`, id `user`), the certificate the site's CA
    /// issues for it is stored on the token and written to `USER.pem`, and `USER-keys.toml`
    /// names the key by its URI, with the module and the PIN file. Returns the key's URI.
    pub fn enrol_on_token(
        &self,
        user: &str,
        group: &str,
        module: &Path,
        token: &Pkcs11Uri,
        pin_file: &Path,
    ) -> Result<Pkcs11Uri> {
        let uri = Pkcs11Uri {
            object: Some(user.to_string()),
            id: Some(user.as_bytes().to_vec()),
            object_type: Some(ObjectType::Private),
            ..token.clone()
        };
        let pin = PinSource::File(pin_file.to_path_buf());
        let mut issued = None;
        crate::token::enrol(module, &uri, KeyAlgorithm::EcP256, &pin, |public| {
            let cert = self
                .pki
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .issue_client_for_key(user, Some(group), public)?;
            let der = rustls_pki_types::CertificateDer::from(cert.cert_der()?);
            issued = Some(cert);
            Ok::<_, Error>(der)
        })?;
        if let Some(cert) = issued {
            cert.write_cert(&self.dir, user)?;
        }
        write(
            &self.dir.join(format!("{user}-keys.toml")),
            &format!(
                "threshold = 2\nca = \"ca.pem\"\nkey = {}\npkcs11_module = {}\npin_file = {}\n{}",
                toml::Value::String(uri.to_string()),
                toml::Value::String(module.display().to_string()),
                toml::Value::String(pin_file.display().to_string()),
                self.endpoints
            ),
        )?;
        Ok(uri)
    }

    /// The site's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The key servers' addresses.
    pub fn key_servers(&self) -> &[String] {
        &self.addresses
    }

    /// Key servers running now.
    pub fn up(&self) -> usize {
        self.servers.iter().filter(|h| h.is_some()).count()
    }

    /// Stops key server `i` (0, 1 or 2).
    pub fn stop_key_server(&mut self, i: usize) {
        if let Some(h) = self.servers.get_mut(i).and_then(Option::take) {
            h.shutdown();
        }
    }

    /// A user's key-server client.
    pub fn key_client(&self, user: &str) -> Result<KeyClient> {
        let tls = tls::client_config(&TlsFiles {
            cert: &self.dir.join(format!("{user}.pem")),
            key: &self.dir.join(format!("{user}.key")),
            ca: &self.dir.join("ca.pem"),
        })?;
        let servers = self
            .addresses
            .iter()
            .map(|a| {
                KeyServerClient::new(
                    ServerEndpoint {
                        address: a.clone(),
                        server_name: Some("localhost".into()),
                    },
                    Arc::clone(&tls),
                    Duration::from_secs(10),
                )
            })
            .collect();
        Ok(KeyClient::new(servers, 2)?.with_identity(user))
    }

    /// The start of a gateway configuration file for this site (TLS files, the `gateway`
    /// user's key-server settings, audit log, index and work folder named after `name`); the
    /// caller adds the access lists, the PACS table and `[expose]`.
    pub fn gateway_toml(&self, name: &str) -> String {
        format!(
            r#"listen = "127.0.0.1:0"
cert = "gateway-server.pem"
key = "gateway-server.key"
ca = "ca.pem"
audit_log = "{name}-audit.jsonl"
index = "{name}-index.sqlite"
work_dir = "{name}-work"
key_servers = "gateway-keys.toml"
"#
        )
    }
}
