//! Clients of the key servers: one server ([`KeyServerClient`]) and the k-of-n client
//! ([`KeyClient`]) that registers a key's shares on n servers and reconstructs it from any k.

use std::io::BufReader;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rustls::{ClientConfig, ClientConnection, StreamOwned};
use rustls_pki_types::ServerName;

use crate::acl::{Acl, Grant};
use crate::http;
use crate::key::{DataKey, KeyCommitment, KeyId};
use crate::shares::{self, Combined, Share};
use crate::tls::{self, TlsFiles};
use crate::{Error, Result};

/// Where a key server is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServerEndpoint {
    /// `host:port`.
    pub address: String,
    /// Name the server's certificate must carry (default: the host part of `address`).
    #[serde(default)]
    pub server_name: Option<String>,
}

impl ServerEndpoint {
    /// An endpoint whose certificate name is the host of `address`.
    pub fn new(address: impl Into<String>) -> ServerEndpoint {
        ServerEndpoint {
            address: address.into(),
            server_name: None,
        }
    }

    /// The name to check in the server's certificate.
    pub fn name(&self) -> String {
        self.server_name.clone().unwrap_or_else(|| {
            let host = self
                .address
                .rsplit_once(':')
                .map_or(self.address.as_str(), |(h, _)| h);
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_string()
        })
    }
}

/// A client of one key server, identified by its client certificate.
#[derive(Clone)]
pub struct KeyServerClient {
    endpoint: ServerEndpoint,
    tls: Arc<ClientConfig>,
    timeout: Duration,
}

impl std::fmt::Debug for KeyServerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyServerClient")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl KeyServerClient {
    /// A client for `endpoint` with a TLS configuration from [`tls::client_config`].
    pub fn new(
        endpoint: ServerEndpoint,
        tls: Arc<ClientConfig>,
        timeout: Duration,
    ) -> KeyServerClient {
        KeyServerClient {
            endpoint,
            tls,
            timeout,
        }
    }

    /// The server's endpoint.
    pub fn endpoint(&self) -> &ServerEndpoint {
        &self.endpoint
    }

    fn server_error(&self, status: Option<u16>, message: impl Into<String>) -> Error {
        Error::Server {
            server: self.endpoint.address.clone(),
            status,
            message: message.into(),
        }
    }

    fn call(&self, method: &str, path: &str, body: &[u8]) -> Result<Vec<u8>> {
        let addr = self
            .endpoint
            .address
            .to_socket_addrs()
            .map_err(|e| self.server_error(None, format!("cannot resolve: {e}")))?
            .next()
            .ok_or_else(|| self.server_error(None, "address resolves to nothing"))?;
        let sock = TcpStream::connect_timeout(&addr, self.timeout)
            .map_err(|e| self.server_error(None, format!("cannot connect: {e}")))?;
        let _ = sock.set_read_timeout(Some(self.timeout));
        let _ = sock.set_write_timeout(Some(self.timeout));
        let name = ServerName::try_from(self.endpoint.name())
            .map_err(|e| self.server_error(None, format!("invalid server name: {e}")))?;
        let conn = ClientConnection::new(Arc::clone(&self.tls), name)
            .map_err(|e| self.server_error(None, format!("TLS: {e}")))?;
        let mut stream = StreamOwned::new(conn, sock);
        http::write_request(&mut stream, method, path, &self.endpoint.address, body)
            .map_err(|e| self.server_error(None, format!("TLS or network: {e}")))?;
        let (status, body) = http::read_response(&mut BufReader::new(&mut stream))
            .map_err(|e| self.server_error(None, format!("TLS or network: {e}")))?;
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        Err(self.server_error(Some(status), format!("{status}: {message}")))
    }

    fn json<T: serde::de::DeserializeOwned>(&self, body: &[u8]) -> Result<T> {
        serde_json::from_slice(body)
            .map_err(|e| self.server_error(None, format!("unexpected answer: {e}")))
    }

    /// Checks the connection and returns the name the server sees this client as.
    pub fn health(&self) -> Result<String> {
        let v: serde_json::Value = self.json(&self.call("GET", "/v1/health", b"")?)?;
        Ok(v.get("principal")
            .and_then(|p| p.as_str())
            .unwrap_or_default()
            .to_string())
    }

    /// Stores a share (see [`crate::store::KeyStore::put_share`]).
    pub fn put_share(&self, share: &Share, grants: &[Grant]) -> Result<()> {
        let body = serde_json::to_vec(&serde_json::json!({ "share": share, "grants": grants }))
            .map_err(|e| Error::invalid("share", e.to_string()))?;
        let body = zeroize::Zeroizing::new(body);
        self.call("PUT", &format!("/v1/keys/{}", share.key_id), &body)
            .map(drop)
    }

    /// Fetches this server's share of a key.
    pub fn get_share(&self, key_id: &KeyId) -> Result<Share> {
        let body = zeroize::Zeroizing::new(self.call("GET", &format!("/v1/keys/{key_id}"), b"")?);
        self.json(&body)
    }

    /// Deletes this server's share of a key.
    pub fn delete(&self, key_id: &KeyId) -> Result<()> {
        self.call("DELETE", &format!("/v1/keys/{key_id}"), b"")
            .map(drop)
    }

    /// Replaces the grants of a key on this server.
    pub fn set_grants(&self, key_id: &KeyId, grants: &[Grant]) -> Result<()> {
        let body = serde_json::to_vec(&serde_json::json!({ "grants": grants }))
            .map_err(|e| Error::invalid("grants", e.to_string()))?;
        self.call("PUT", &format!("/v1/keys/{key_id}/acl"), &body)
            .map(drop)
    }

    /// The ACL of a key on this server.
    pub fn acl(&self, key_id: &KeyId) -> Result<Acl> {
        self.json(&self.call("GET", &format!("/v1/keys/{key_id}/acl"), b"")?)
    }
}

/// A client configuration file (TOML). Relative paths are relative to the file's directory.
///
/// ```toml
/// threshold = 2
/// ca = "ca.pem"
/// cert = "alice.pem"
/// key = "alice.key"
/// timeout_ms = 5000
///
/// [[servers]]
/// address = "127.0.0.1:7443"
/// server_name = "localhost"
/// ```
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    /// Shares needed to reconstruct a key (k).
    pub threshold: u8,
    /// CA of the key servers' certificates.
    pub ca: PathBuf,
    /// This user's certificate.
    pub cert: PathBuf,
    /// This user's private key.
    pub key: PathBuf,
    /// Per-request timeout in milliseconds (default 5000).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The key servers (n of them), in share order.
    pub servers: Vec<ServerEndpoint>,
}

fn default_timeout_ms() -> u64 {
    5000
}

impl ClientSettings {
    /// Reads a configuration file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<ClientSettings> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut s: ClientSettings = toml::from_str(&text).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            field: "client configuration".into(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new(""));
        for p in [&mut s.ca, &mut s.cert, &mut s.key] {
            *p = base.join(&*p);
        }
        Ok(s)
    }
}

/// The k-of-n client: shares go to n key servers, any k of them give the key back.
#[derive(Debug, Clone)]
pub struct KeyClient {
    servers: Vec<KeyServerClient>,
    threshold: u8,
    timeout: Duration,
}

impl KeyClient {
    /// A client over `servers` (n of them, in share order) with threshold k.
    pub fn new(servers: Vec<KeyServerClient>, threshold: u8) -> Result<KeyClient> {
        let n = servers.len();
        if !(2 <= usize::from(threshold) && usize::from(threshold) < n && n <= 255) {
            return Err(Error::invalid(
                "threshold",
                format!("{threshold}-of-{n}; expected 2 <= k < n <= 255"),
            ));
        }
        let timeout = servers
            .iter()
            .map(|s| s.timeout)
            .max()
            .unwrap_or(Duration::from_secs(5));
        Ok(KeyClient {
            servers,
            threshold,
            timeout,
        })
    }

    /// A client from a configuration file's settings.
    pub fn from_settings(settings: &ClientSettings) -> Result<KeyClient> {
        let tls = tls::client_config(&TlsFiles {
            cert: &settings.cert,
            key: &settings.key,
            ca: &settings.ca,
        })?;
        let timeout = Duration::from_millis(settings.timeout_ms);
        let servers = settings
            .servers
            .iter()
            .map(|e| KeyServerClient::new(e.clone(), Arc::clone(&tls), timeout))
            .collect();
        KeyClient::new(servers, settings.threshold)
    }

    /// The servers, in share order.
    pub fn servers(&self) -> &[KeyServerClient] {
        &self.servers
    }

    /// Shares needed (k).
    pub fn threshold(&self) -> u8 {
        self.threshold
    }

    /// Runs `f` on every server in parallel; results in server order.
    fn on_all<T: Send>(
        &self,
        f: impl Fn(usize, &KeyServerClient) -> Result<T> + Sync,
    ) -> Vec<Result<T>> {
        std::thread::scope(|s| {
            let handles: Vec<_> = self
                .servers
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let f = &f;
                    s.spawn(move || f(i, c))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(Error::invalid("worker", "a request thread panicked"))
                    })
                })
                .collect()
        })
    }

    /// Splits `key` k-of-n and stores share i on server i, in parallel. All n must accept it;
    /// otherwise the shares already stored are deleted again and the error lists the failures.
    pub fn register(
        &self,
        key: &DataKey,
        key_id: KeyId,
        key_version: u32,
        grants: &[Grant],
    ) -> Result<()> {
        let n = u8::try_from(self.servers.len())
            .map_err(|_| Error::invalid("servers", "more than 255"))?;
        let shares = shares::split(key, key_id, key_version, self.threshold, n)?;
        let results = self.on_all(|i, c| c.put_share(&shares[i], grants));
        let failures = failures(&self.servers, &results);
        if failures.is_empty() {
            return Ok(());
        }
        let ok: Vec<usize> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_ok())
            .map(|(i, _)| i)
            .collect();
        for i in ok {
            let _ = self.servers[i].delete(&key_id);
        }
        Err(Error::NotEnoughServers {
            needed: self.servers.len(),
            reached: self.servers.len() - failures.len(),
            failures: failures.join("; "),
        })
    }

    /// Asks every server for its share in parallel and returns the key as soon as k shares
    /// reconstruct one that matches `commitment` (servers that are down or slow are not waited
    /// for beyond the timeout). Shares that disagree are reported in [`Combined::bad_shares`].
    pub fn fetch_key(
        &self,
        key_id: &KeyId,
        key_version: u32,
        commitment: &KeyCommitment,
    ) -> Result<Combined> {
        let (tx, rx) = mpsc::channel();
        for (i, server) in self.servers.iter().enumerate() {
            let (tx, server, key_id) = (tx.clone(), server.clone(), *key_id);
            std::thread::spawn(move || {
                let _ = tx.send((i, server.get_share(&key_id)));
            });
        }
        drop(tx);
        let deadline = Instant::now() + self.timeout * 2 + Duration::from_millis(500);
        let mut got: Vec<Share> = Vec::new();
        let mut failures = Vec::new();
        while let Ok((i, result)) =
            rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            match result {
                Ok(share) if share.key_id == *key_id && share.key_version == key_version => {
                    got.push(share);
                    if got.len() >= usize::from(self.threshold)
                        && let Ok(c) = shares::combine(&got, commitment)
                    {
                        return Ok(c);
                    }
                }
                Ok(_) => failures.push(format!(
                    "{}: share of another key or version",
                    self.servers[i].endpoint.address
                )),
                Err(e) => failures.push(e.to_string()),
            }
        }
        if got.len() >= usize::from(self.threshold) {
            // Enough answers, but no consistent k among them: opaque.
            return Err(Error::KeyReconstruction);
        }
        Err(Error::NotEnoughServers {
            needed: usize::from(self.threshold),
            reached: got.len(),
            failures: failures.join("; "),
        })
    }

    /// Replaces the grants of a key on every server. Succeeds only if every server accepted it
    /// (a revocation must reach enough servers that fewer than k still grant).
    pub fn set_grants(&self, key_id: &KeyId, grants: &[Grant]) -> Result<()> {
        let results = self.on_all(|_, c| c.set_grants(key_id, grants));
        all_or_error(&self.servers, &results)
    }

    /// The ACL of a key, from the first server that answers.
    pub fn acl(&self, key_id: &KeyId) -> Result<Acl> {
        let mut last = None;
        for s in &self.servers {
            match s.acl(key_id) {
                Ok(a) => return Ok(a),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::invalid("servers", "none configured")))
    }

    /// Deletes a key's shares on every server.
    pub fn delete(&self, key_id: &KeyId) -> Result<()> {
        let results = self.on_all(|_, c| c.delete(key_id));
        all_or_error(&self.servers, &results)
    }
}

fn failures<T>(servers: &[KeyServerClient], results: &[Result<T>]) -> Vec<String> {
    results
        .iter()
        .zip(servers)
        .filter_map(|(r, s)| {
            r.as_ref()
                .err()
                .map(|e| format!("{}: {e}", s.endpoint.address))
        })
        .collect()
}

fn all_or_error<T>(servers: &[KeyServerClient], results: &[Result<T>]) -> Result<()> {
    let f = failures(servers, results);
    if f.is_empty() {
        Ok(())
    } else {
        Err(Error::NotEnoughServers {
            needed: servers.len(),
            reached: servers.len() - f.len(),
            failures: f.join("; "),
        })
    }
}
