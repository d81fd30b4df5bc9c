//! Clients of the key servers: one server ([`KeyServerClient`], keep-alive connections reused
//! across requests) and the k-of-n client ([`KeyClient`]) that registers keys' shares on n
//! servers in batches, reconstructs keys from any k, re-shares a key in two phases, and changes
//! ACLs on the servers themselves.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use hope_service::client::{CallError, Repeat, ServiceClient, host_of};
use rustls::ClientConfig;
use zeroize::Zeroizing;

use crate::acl::{Grant, Subject};
use crate::key::{BindingSalt, DataKey, KeyCommitment, KeyId};
use crate::server::MAX_BATCH;
use crate::shares::{self, Combined, Share};
use crate::store::KeyInfo;
use crate::tls::{ClientIdentity, Source};
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
        self.server_name
            .clone()
            .unwrap_or_else(|| host_of(&self.address).to_string())
    }
}

/// The outcome for one key of a batch request to one server.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct KeyOutcome {
    /// The key.
    pub key_id: KeyId,
    /// `ok`, `denied`, `not-found`, `conflict` or `bad-request`.
    pub status: String,
    /// What went wrong.
    #[serde(default)]
    pub error: Option<String>,
    /// The shares (for `get`): the active one, then a staged one.
    #[serde(default)]
    pub shares: Vec<Share>,
}

#[derive(serde::Deserialize)]
struct Results {
    results: Vec<KeyOutcome>,
}

/// A client of one key server, identified by its client certificate. Clones share their pool of
/// open connections.
#[derive(Clone)]
pub struct KeyServerClient {
    endpoint: ServerEndpoint,
    timeout: Duration,
    service: ServiceClient,
}

impl std::fmt::Debug for KeyServerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyServerClient")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// JSON in a buffer sized up front (never reallocated, so no copy of a share is left behind) and
/// wiped when dropped.
fn secret_json(value: &impl serde::Serialize, estimate: usize) -> Result<Zeroizing<Vec<u8>>> {
    let mut buf = Zeroizing::new(Vec::with_capacity(estimate));
    serde_json::to_writer(&mut *buf, value)
        .map_err(|e| Error::invalid("request", e.to_string()))?;
    Ok(buf)
}

impl KeyServerClient {
    /// A client for `endpoint` with a TLS configuration from
    /// [`LoadedIdentity::client_config`](crate::tls::LoadedIdentity::client_config) (or
    /// [`crate::tls::client_config`] for PEM files).
    pub fn new(
        endpoint: ServerEndpoint,
        tls: Arc<ClientConfig>,
        timeout: Duration,
    ) -> KeyServerClient {
        let service = ServiceClient::new(endpoint.address.clone(), endpoint.name(), tls, timeout);
        KeyServerClient {
            endpoint,
            timeout,
            service,
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

    /// One request on a pooled connection (or a new one); every request of the protocol is
    /// safe to repeat, so one that fails on a reused connection is made once more on a fresh
    /// one.
    fn call(&self, method: &str, path: &str, body: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let (status, answer) =
            self.service
                .call(method, path, body, Repeat::Safe)
                .map_err(|e| match e {
                    CallError::Unreachable { message, .. }
                    | CallError::Exchange { message, .. } => self.server_error(None, message),
                    other => self.server_error(None, other.to_string()),
                })?;
        if (200..300).contains(&status) {
            return Ok(answer);
        }
        let message = serde_json::from_slice::<serde_json::Value>(&answer)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&answer).into_owned());
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

    /// Registers keys on this server (at most [`MAX_BATCH`] per call): `(share, salt, grants)`.
    pub fn create(&self, keys: &[(&Share, &BindingSalt, &[Grant])]) -> Result<Vec<KeyOutcome>> {
        let items: Vec<serde_json::Value> = keys
            .iter()
            .map(|(share, salt, grants)| {
                serde_json::json!({ "share": share, "salt": hex::encode(salt), "grants": grants })
            })
            .collect();
        let body = secret_json(&serde_json::json!({ "keys": items }), 64 + keys.len() * 512)?;
        drop(items);
        let answer: Results = self.json(&self.call("POST", "/v2/keys/create", &body)?)?;
        self.check_len(answer.results, keys.len())
    }

    /// The shares of keys on this server (at most [`MAX_BATCH`] per call).
    pub fn get(&self, key_ids: &[KeyId]) -> Result<Vec<KeyOutcome>> {
        let body = serde_json::to_vec(&serde_json::json!({ "key_ids": key_ids }))
            .map_err(|e| Error::invalid("request", e.to_string()))?;
        let answer = self.call("POST", "/v2/keys/get", &body)?;
        let answer: Results = self.json(&answer)?;
        self.check_len(answer.results, key_ids.len())
    }

    fn check_len(&self, results: Vec<KeyOutcome>, n: usize) -> Result<Vec<KeyOutcome>> {
        if results.len() == n {
            Ok(results)
        } else {
            Err(self.server_error(None, format!("{} results for {n} keys", results.len())))
        }
    }

    /// Stages the share of a new generation (creating the key's record where this server lacks
    /// it: then `salt` proves the caller owns the key id, and `grants` are its grants).
    pub fn stage(&self, share: &Share, salt: Option<&BindingSalt>, grants: &[Grant]) -> Result<()> {
        let body = secret_json(
            &serde_json::json!({
                "share": share,
                "salt": salt.map(hex::encode),
                "grants": grants,
            }),
            1024 + grants.len() * 64,
        )?;
        self.call("POST", "/v2/keys/stage", &body).map(drop)
    }

    /// Makes the staged share of `generation` active.
    pub fn commit(&self, key_id: &KeyId, generation: u32) -> Result<()> {
        let body = serde_json::json!({ "key_id": key_id, "generation": generation }).to_string();
        self.call("POST", "/v2/keys/commit", body.as_bytes())
            .map(drop)
    }

    /// Drops the staged share of `generation` (never the active one).
    pub fn abort(&self, key_id: &KeyId, generation: u32) -> Result<()> {
        let body = serde_json::json!({ "key_id": key_id, "generation": generation }).to_string();
        self.call("POST", "/v2/keys/abort", body.as_bytes())
            .map(drop)
    }

    /// Removes the grants of `remove`'s subjects and adds `add`, on the server.
    pub fn change_acl(&self, key_id: &KeyId, add: &[Grant], remove: &[Subject]) -> Result<KeyInfo> {
        let body =
            serde_json::json!({ "key_id": key_id, "add": add, "remove": remove }).to_string();
        self.json(&self.call("POST", "/v2/keys/acl", body.as_bytes())?)
    }

    /// The ACL and bookkeeping of a key on this server.
    pub fn info(&self, key_id: &KeyId) -> Result<KeyInfo> {
        let body = serde_json::json!({ "key_id": key_id }).to_string();
        self.json(&self.call("POST", "/v2/keys/info", body.as_bytes())?)
    }

    /// Deletes this server's record of a key.
    pub fn delete(&self, key_id: &KeyId) -> Result<()> {
        let body = serde_json::json!({ "key_id": key_id }).to_string();
        self.call("POST", "/v2/keys/delete", body.as_bytes())
            .map(drop)
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
///
/// With the key on a smart card or token (see [`hope_service::token`]), `key` is a `pkcs11:`
/// URI, `pkcs11_module` the card's PKCS#11 module, `cert` may be left out (the certificate on the
/// token is used) and the PIN comes from `pin_file` or, without one, from the application's
/// prompt:
///
/// ```toml
/// key = "pkcs11:token=CPS;object=Authentication;type=private"
/// pkcs11_module = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"
/// ```
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    /// Shares needed to reconstruct a key (k).
    pub threshold: u8,
    /// CA of the key servers' certificates.
    pub ca: PathBuf,
    /// This user's certificate (a file; or, for a key on a token, left out or a `pkcs11:` URI
    /// for the token's certificate).
    #[serde(default)]
    pub cert: Option<Source>,
    /// This user's private key: a PEM file or a `pkcs11:` URI.
    pub key: Source,
    /// The PKCS#11 module of the token holding the key.
    #[serde(default)]
    pub pkcs11_module: Option<PathBuf>,
    /// A file holding the token's PIN (services); without it the application prompts.
    #[serde(default)]
    pub pin_file: Option<PathBuf>,
    /// Per-request timeout in milliseconds (default 5000).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The key servers (n of them), in share order.
    pub servers: Vec<ServerEndpoint>,
    /// The file these settings came from (named in errors).
    #[serde(skip)]
    pub origin: PathBuf,
}

fn default_timeout_ms() -> u64 {
    5000
}

impl ClientSettings {
    /// Reads a configuration file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<ClientSettings> {
        let path = path.as_ref();
        let text = hope_core::fs::read_text_bounded(path, hope_core::fs::MAX_CONFIG_BYTES)
            .map_err(|e| Error::io(path, e))?;
        let mut s: ClientSettings = toml::from_str(&text).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            field: "client configuration".into(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new(""));
        s.ca = base.join(&s.ca);
        ClientIdentity::rebase_config(
            base,
            &mut s.cert,
            &mut s.key,
            &mut s.pkcs11_module,
            &mut s.pin_file,
        );
        s.origin = path.to_path_buf();
        Ok(s)
    }

    /// The TLS identity these settings name.
    pub fn identity(&self) -> ClientIdentity {
        ClientIdentity::from_config(
            self.cert.as_ref(),
            &self.key,
            self.pkcs11_module.as_deref(),
            self.pin_file.as_deref(),
            &self.origin,
        )
    }
}

/// A fresh key id bound to this client's identity, to register a new key under (see
/// [`KeyId::bound_to`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewKeyId {
    /// The key id (what goes into the container header).
    pub id: KeyId,
    salt: BindingSalt,
}

/// One key to register with [`KeyClient::register_many`].
#[derive(Debug, Clone, Copy)]
pub struct Registration<'a> {
    /// The data key.
    pub key: &'a DataKey,
    /// Its id, from [`KeyClient::new_key_id`].
    pub id: &'a NewKeyId,
    /// The key's version (as in the container header).
    pub key_version: u32,
    /// Rights beyond the owner's.
    pub grants: &'a [Grant],
}

/// What [`KeyClient::reshare`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reshared {
    /// The generation now active on every server.
    pub generation: u32,
    /// The owner the servers agree on.
    pub owner: String,
    /// The grants carried over (those every server that held the key agreed on).
    pub grants: Vec<Grant>,
}

/// The k-of-n client: shares go to n key servers, any k of them give the key back.
#[derive(Debug, Clone)]
pub struct KeyClient {
    servers: Vec<KeyServerClient>,
    threshold: u8,
    timeout: Duration,
    identity: Arc<OnceLock<String>>,
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
            identity: Arc::new(OnceLock::new()),
        })
    }

    /// Says who this client is (its certificate's common name), so that key ids can be bound to
    /// it without asking a server.
    pub fn with_identity(self, name: impl Into<String>) -> KeyClient {
        let _ = self.identity.set(name.into());
        self
    }

    /// A client from a configuration file's settings (its identity read from the certificate).
    pub fn from_settings(settings: &ClientSettings) -> Result<KeyClient> {
        let identity = settings.identity().load()?;
        let tls = identity.client_config(&settings.ca)?;
        let timeout = Duration::from_millis(settings.timeout_ms);
        let servers = settings
            .servers
            .iter()
            .map(|e| KeyServerClient::new(e.clone(), Arc::clone(&tls), timeout))
            .collect();
        let me = identity.principal()?;
        Ok(KeyClient::new(servers, settings.threshold)?.with_identity(me.name))
    }

    /// The servers, in share order.
    pub fn servers(&self) -> &[KeyServerClient] {
        &self.servers
    }

    /// Shares needed (k).
    pub fn threshold(&self) -> u8 {
        self.threshold
    }

    /// The name the servers know this client by (asked of the first server that answers, when
    /// not given).
    pub fn identity(&self) -> Result<String> {
        if let Some(n) = self.identity.get() {
            return Ok(n.clone());
        }
        let mut last = None;
        for s in &self.servers {
            match s.health() {
                Ok(n) if !n.is_empty() => {
                    let _ = self.identity.set(n.clone());
                    return Ok(n);
                }
                Ok(_) => {}
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::invalid("identity", "no server named this client")))
    }

    /// A fresh key id bound to this client, for a new key.
    pub fn new_key_id(&self) -> Result<NewKeyId> {
        let (id, salt) = KeyId::bound_to(&self.identity()?)?;
        Ok(NewKeyId { id, salt })
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

    /// Splits `key` k-of-n and registers share i on server i. See [`KeyClient::register_many`].
    pub fn register(
        &self,
        key: &DataKey,
        id: &NewKeyId,
        key_version: u32,
        grants: &[Grant],
    ) -> Result<()> {
        self.register_many(&[Registration {
            key,
            id,
            key_version,
            grants,
        }])
    }

    /// Registers many new keys: each split k-of-n, share i of every key to server i in batches of
    /// [`MAX_BATCH`] (one request, one audit sync and one disk sync per batch on each server),
    /// the servers in parallel. Every server must register every key; when one does not, the
    /// keys of this call (new, so nothing is encrypted under them yet) are removed again where
    /// they were registered, and the error lists the failures.
    pub fn register_many(&self, items: &[Registration<'_>]) -> Result<()> {
        let n = u8::try_from(self.servers.len())
            .map_err(|_| Error::invalid("servers", "more than 255"))?;
        let mut per_key: Vec<Vec<Share>> = Vec::with_capacity(items.len());
        for r in items {
            per_key.push(shares::split(
                r.key,
                r.id.id,
                r.key_version,
                self.threshold,
                n,
            )?);
        }
        let results = self.on_all(|i, c| {
            let mut outcomes = Vec::with_capacity(items.len());
            for (chunk_items, chunk_shares) in
                items.chunks(MAX_BATCH).zip(per_key.chunks(MAX_BATCH))
            {
                let batch: Vec<(&Share, &BindingSalt, &[Grant])> = chunk_items
                    .iter()
                    .zip(chunk_shares)
                    .map(|(r, s)| (&s[i], &r.id.salt, r.grants))
                    .collect();
                outcomes.extend(c.create(&batch)?);
            }
            Ok(outcomes)
        });
        let mut failures = Vec::new();
        for (server, r) in self.servers.iter().zip(&results) {
            match r {
                Err(e) => failures.push(format!("{}: {e}", server.endpoint.address)),
                Ok(outcomes) => {
                    for o in outcomes.iter().filter(|o| o.status != "ok") {
                        failures.push(format!(
                            "{}: key {}: {}",
                            server.endpoint.address,
                            o.key_id,
                            o.error.as_deref().unwrap_or(&o.status)
                        ));
                    }
                }
            }
        }
        if failures.is_empty() {
            return Ok(());
        }
        // Undo: these keys are new and protect nothing yet.
        for (server, r) in self.servers.iter().zip(&results) {
            if let Ok(outcomes) = r {
                for o in outcomes.iter().filter(|o| o.status == "ok") {
                    let _ = server.delete(&o.key_id);
                }
            }
        }
        let reached = results.iter().filter(|r| r.is_ok()).count();
        Err(Error::NotEnoughServers {
            needed: self.servers.len(),
            reached,
            failures: failures.join("; "),
        })
    }

    /// Asks every server for its share in parallel and returns the key as soon as k shares
    /// reconstruct one that matches `commitment` (servers that are down or slow are not waited
    /// for beyond the timeout). Shares that disagree are reported in [`Combined::bad_shares`];
    /// a share that claims another threshold, key or version is set aside, never trusted.
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
                let _ = tx.send((i, server.get(&[key_id])));
            });
        }
        drop(tx);
        let deadline = Instant::now() + self.timeout * 2 + Duration::from_millis(500);
        let mut got: Vec<Share> = Vec::new();
        let mut answered = 0usize;
        let mut failures = Vec::new();
        while let Ok((i, result)) =
            rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            let address = &self.servers[i].endpoint.address;
            match result.map(|mut v| v.pop()) {
                Ok(Some(o)) if o.status == "ok" => {
                    answered += 1;
                    got.extend(
                        o.shares
                            .into_iter()
                            .filter(|s| s.key_id == *key_id && s.key_version == key_version)
                            .take(2),
                    );
                    if answered >= usize::from(self.threshold)
                        && let Ok(c) = shares::combine(&got, self.threshold, commitment)
                    {
                        return Ok(c);
                    }
                }
                Ok(Some(o)) => failures.push(format!(
                    "{address}: {}",
                    o.error.as_deref().unwrap_or(&o.status)
                )),
                Ok(None) => failures.push(format!("{address}: no answer for the key")),
                Err(e) => failures.push(e.to_string()),
            }
        }
        if answered >= usize::from(self.threshold) {
            // Enough answers, but no consistent k among them: opaque.
            return Err(Error::KeyReconstruction);
        }
        Err(Error::NotEnoughServers {
            needed: usize::from(self.threshold),
            reached: answered,
            failures: failures.join("; "),
        })
    }

    /// [`KeyClient::fetch_key`] for many keys at once: one batched request per server (per
    /// [`MAX_BATCH`] keys), the servers in parallel; a result per key, in order.
    pub fn fetch_keys(&self, keys: &[(KeyId, u32, KeyCommitment)]) -> Vec<Result<Combined>> {
        let ids: Vec<KeyId> = keys.iter().map(|k| k.0).collect();
        let results = self.on_all(|_, c| {
            let mut out = Vec::with_capacity(ids.len());
            for chunk in ids.chunks(MAX_BATCH) {
                out.extend(c.get(chunk)?);
            }
            Ok(out)
        });
        keys.iter()
            .enumerate()
            .map(|(j, (key_id, version, commitment))| {
                let mut got = Vec::new();
                let mut answered = 0usize;
                let mut failures = Vec::new();
                for (server, r) in self.servers.iter().zip(&results) {
                    match r {
                        Ok(outcomes) => match outcomes.get(j) {
                            Some(o) if o.status == "ok" && o.key_id == *key_id => {
                                answered += 1;
                                got.extend(
                                    o.shares
                                        .iter()
                                        .filter(|s| {
                                            s.key_id == *key_id && s.key_version == *version
                                        })
                                        .take(2)
                                        .cloned(),
                                );
                            }
                            Some(o) => failures.push(format!(
                                "{}: {}",
                                server.endpoint.address,
                                o.error.as_deref().unwrap_or(&o.status)
                            )),
                            None => failures.push(format!(
                                "{}: no answer for the key",
                                server.endpoint.address
                            )),
                        },
                        Err(e) => failures.push(e.to_string()),
                    }
                }
                if answered < usize::from(self.threshold) {
                    return Err(Error::NotEnoughServers {
                        needed: usize::from(self.threshold),
                        reached: answered,
                        failures: failures.join("; "),
                    });
                }
                shares::combine(&got, self.threshold, commitment)
            })
            .collect()
    }

    /// Re-shares a key on the configured servers (after a server was replaced and lost its
    /// shares, or to renew them), in two phases that never put the key at risk:
    ///
    /// 1. the key is reconstructed from k servers, and the servers that hold it are asked for
    ///    its owner, binding and grants: they must agree on owner and binding, and only the
    ///    grants every one of them holds are carried over (a revoked grant never comes back);
    /// 2. new shares of a new generation are *staged* on every server, beside the active ones (a
    ///    server that lacks the key takes it only from its bound owner); if one server refuses,
    ///    the staged shares are dropped again and nothing has changed;
    /// 3. only then is the new generation committed everywhere. A commit that fails leaves that
    ///    server with its old share and the new one staged: the key stays whole (readers combine
    ///    either generation), and running `reshare` again finishes the work.
    pub fn reshare(
        &self,
        key_id: &KeyId,
        key_version: u32,
        commitment: &KeyCommitment,
    ) -> Result<Reshared> {
        let key = self.fetch_key(key_id, key_version, commitment)?.key;
        let infos = self.on_all(|_, c| c.info(key_id));
        let holders: Vec<&KeyInfo> = infos.iter().filter_map(|r| r.as_ref().ok()).collect();
        let first = holders.first().ok_or_else(|| Error::NotEnoughServers {
            needed: 1,
            reached: 0,
            failures: failures(&self.servers, &infos).join("; "),
        })?;
        if holders
            .iter()
            .any(|h| h.acl.owner != first.acl.owner || h.salt != first.salt)
        {
            return Err(Error::Conflict {
                key_id: key_id.to_string(),
                message: "the servers that hold the key disagree on its owner or binding: nothing was changed".into(),
            });
        }
        let grants: Vec<Grant> = first
            .acl
            .grants
            .iter()
            .filter(|g| holders.iter().all(|h| h.acl.grants.contains(g)))
            .cloned()
            .collect();
        let generation = holders
            .iter()
            .flat_map(|h| [h.generation, h.staged_generation])
            .flatten()
            .max()
            .unwrap_or(0)
            .checked_add(1)
            .ok_or_else(|| Error::invalid("generation", "exhausted"))?;
        let n = u8::try_from(self.servers.len())
            .map_err(|_| Error::invalid("servers", "more than 255"))?;
        let new_shares =
            shares::split_generation(&key, *key_id, key_version, generation, self.threshold, n)?;
        let salt = first.salt;
        let staged = self.on_all(|i, c| c.stage(&new_shares[i], salt.as_ref(), &grants));
        let stage_failures = failures(&self.servers, &staged);
        if !stage_failures.is_empty() {
            for (server, r) in self.servers.iter().zip(&staged) {
                if r.is_ok() {
                    let _ = server.abort(key_id, generation);
                }
            }
            return Err(Error::NotEnoughServers {
                needed: self.servers.len(),
                reached: self.servers.len() - stage_failures.len(),
                failures: format!(
                    "{} (nothing was changed: the active shares are untouched)",
                    stage_failures.join("; ")
                ),
            });
        }
        let committed = self.on_all(|_, c| c.commit(key_id, generation));
        let commit_failures = failures(&self.servers, &committed);
        if !commit_failures.is_empty() {
            return Err(Error::NotEnoughServers {
                needed: self.servers.len(),
                reached: self.servers.len() - commit_failures.len(),
                failures: format!(
                    "{} (generation {generation} is staged everywhere and committed elsewhere; \
                     the key stays whole: run the re-sharing again to finish)",
                    commit_failures.join("; ")
                ),
            });
        }
        Ok(Reshared {
            generation,
            owner: first.acl.owner.clone(),
            grants,
        })
    }

    /// Adds a grant on every server (server-side: nothing read elsewhere is written back).
    pub fn grant(&self, key_id: &KeyId, grant: &Grant) -> Result<()> {
        let results = self.on_all(|_, c| c.change_acl(key_id, std::slice::from_ref(grant), &[]));
        all_or_error(&self.servers, &results)
    }

    /// Removes a subject's grants on every server. An error names the servers not reached: run it
    /// again when they are back (fewer than k servers still granting cannot release the key).
    pub fn revoke(&self, key_id: &KeyId, subject: &Subject) -> Result<()> {
        let results = self.on_all(|_, c| c.change_acl(key_id, &[], std::slice::from_ref(subject)));
        all_or_error(&self.servers, &results)
    }

    /// What each server says of a key, in server order.
    pub fn infos(&self, key_id: &KeyId) -> Vec<Result<KeyInfo>> {
        self.on_all(|_, c| c.info(key_id))
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
