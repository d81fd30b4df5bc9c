//! A client of a catalog service: [`Catalog::connect`] gives a [`Catalog`] whose every operation
//! runs on the server, so code written against the local catalog runs against a server
//! unchanged.
//!
//! The server acts as the identity of the client certificate, never as the [`Principal`] a call
//! names: a call is sent with the certificate whose principal has the call's name (a client may
//! hold several, as a multi-user application or a test does), and a call naming someone the
//! client holds no certificate for is refused before anything is sent. Connections are kept
//! alive and reused ([`hope_service::client`]); reads are repeated once on a fresh connection if
//! a kept connection turns out to be closed, writes are not (the error then says the write may
//! have been applied). [`Catalog::add_many`] sends the entries in as few requests as the 4 MiB
//! request limit allows (each request one transaction). [`Catalog::update_with`] reads the entry,
//! computes the change and sends it with the entry it was computed from; the server applies it
//! only if the entry is unchanged, else the client reads again and retries.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hope_service::client::{CallError, Repeat, ServiceClient, host_of};
use hope_service::http::MAX_BODY;
use hope_service::tls::Source;

use super::{CALL_PATH, Call, ErrorBody, Whoami, read_toml, rebase};
use crate::schema::Entry;
use crate::value::Value;
use crate::{Catalog, Error, Principal, Result};

/// How many times [`Catalog::update_with`] retries after a concurrent change.
const UPDATE_ATTEMPTS: usize = 64;

/// The largest request body the client builds for a batch of entries (below the server's
/// limit, leaving room for the call's other fields).
const BATCH_BYTES: usize = MAX_BODY - 64 * 1024;

/// A client configuration file (`client.toml`), paths relative to the file's folder:
///
/// ```toml
/// server = "catalog.hospital-a.example:7443"
/// ca = "ca.pem"          # the CA that issued the server's certificate
/// cert = "alice.pem"     # this client's certificate (its CN is who the server sees)
/// key = "alice.key"
/// # server_name = "catalog.hospital-a.example"   # default: the host part of `server`
/// # timeout_ms = 10000
/// ```
///
/// With the key on a smart card or token (see [`hope_service::token`]): `key = "pkcs11:..."`,
/// `pkcs11_module = "..."`, `cert` optional (the token's certificate), and `pin_file` for
/// services (without it the application prompts).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    /// `host:port` of the catalog service.
    pub server: String,
    /// The name the server's certificate must carry (default: the host of `server`).
    #[serde(default)]
    pub server_name: Option<String>,
    /// The CA certificate (PEM) that issued the server's certificate.
    pub ca: PathBuf,
    /// This client's certificate chain (PEM; for a key on a token, may be left out).
    #[serde(default)]
    pub cert: Option<Source>,
    /// This client's private key: a PEM file or a `pkcs11:` URI.
    pub key: Source,
    /// The PKCS#11 module of the token holding the key.
    #[serde(default)]
    pub pkcs11_module: Option<PathBuf>,
    /// A file holding the token's PIN.
    #[serde(default)]
    pub pin_file: Option<PathBuf>,
    /// Timeout of the connection and of each read and write, milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The file these settings came from (named in errors).
    #[serde(skip)]
    pub origin: PathBuf,
}

fn default_timeout_ms() -> u64 {
    10_000
}

impl ClientSettings {
    /// Reads `path`; relative paths in it are taken from the file's folder. Errors name the
    /// file and the field.
    pub fn from_file(path: impl AsRef<Path>) -> Result<ClientSettings> {
        let path = path.as_ref();
        let (mut s, dir): (ClientSettings, _) = read_toml(path, "client configuration")?;
        rebase(&dir, &mut s.ca);
        Identity::rebase_config(
            &dir,
            &mut s.cert,
            &mut s.key,
            &mut s.pkcs11_module,
            &mut s.pin_file,
        );
        s.origin = path.to_path_buf();
        if s.timeout_ms == 0 || s.timeout_ms > 3_600_000 {
            return Err(Error::invalid(
                format!("client configuration {}: timeout_ms", path.display()),
                format!("{}; expected 1 to 3600000", s.timeout_ms),
            ));
        }
        Ok(s)
    }
}

impl ClientSettings {
    /// The TLS identity these settings name.
    pub fn identity(&self) -> Identity {
        Identity::from_config(
            self.cert.as_ref(),
            &self.key,
            self.pkcs11_module.as_deref(),
            self.pin_file.as_deref(),
            &self.origin,
        )
    }
}

/// One identity a client can call as: a certificate and its key (files, or a key on a token).
pub use hope_service::tls::ClientIdentity as Identity;

/// The remote side of a [`Catalog`]: the server and one connection pool per identity.
#[derive(Debug)]
pub(crate) struct Remote {
    server: String,
    identities: Vec<(Principal, ServiceClient)>,
}

fn remote_error(server: &str, message: impl Into<String>) -> Error {
    Error::Remote {
        server: server.to_string(),
        status: None,
        message: message.into(),
    }
}

impl Remote {
    fn client(&self, who: &Principal) -> Result<&ServiceClient> {
        self.identities
            .iter()
            .find(|(p, _)| p.name == who.name)
            .map(|(_, c)| c)
            .ok_or_else(|| {
                let held: Vec<&str> = self.identities.iter().map(|(p, _)| p.name.as_str()).collect();
                remote_error(
                    &self.server,
                    format!(
                        "this client holds no certificate for `{}` (it holds: {}); the server acts as the certificate's identity",
                        who.name,
                        held.join(", ")
                    ),
                )
            })
    }

    /// Sends `call` as `who` and decodes the answer.
    pub(crate) fn call<T: serde::de::DeserializeOwned>(
        &self,
        who: &Principal,
        call: &Call,
    ) -> Result<T> {
        let client = self.client(who)?;
        let body = serde_json::to_vec(call)
            .map_err(|e| Error::invalid("request", format!("cannot encode: {e}")))?;
        if body.len() > MAX_BODY {
            return Err(Error::invalid(
                "request",
                format!(
                    "{} bytes, more than the {MAX_BODY} a request may carry",
                    body.len()
                ),
            ));
        }
        let repeat = if call.is_read() {
            Repeat::Safe
        } else {
            Repeat::Never
        };
        let (status, answer) =
            client
                .call("POST", CALL_PATH, &body, repeat)
                .map_err(|e| match e {
                    CallError::Unreachable { message, .. }
                    | CallError::Exchange { message, .. } => remote_error(&self.server, message),
                    other => remote_error(&self.server, other.to_string()),
                })?;
        if status == 200 {
            return serde_json::from_slice(&answer).map_err(|e| Error::Remote {
                server: self.server.clone(),
                status: Some(status),
                message: format!("unexpected answer: {e}"),
            });
        }
        match serde_json::from_slice::<ErrorBody>(&answer) {
            Ok(b) => Err(b.error.into_error(&self.server, status)),
            Err(_) => {
                // Not the catalog's own error format (throttled, a bad request): its text.
                let text = serde_json::from_slice::<serde_json::Value>(&answer)
                    .ok()
                    .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
                    .unwrap_or_else(|| "no readable answer".into());
                Err(Error::Remote {
                    server: self.server.clone(),
                    status: Some(status),
                    message: format!("{status}: {text}"),
                })
            }
        }
    }

    /// [`Catalog::add_many`] over the network: the entries in batches of at most
    /// [`BATCH_BYTES`], each one transaction on the server. Returns how many were added.
    pub(crate) fn add_many(
        &self,
        who: &Principal,
        path: &str,
        entries: Vec<Entry>,
    ) -> Result<usize> {
        let mut added = 0;
        let mut batch: Vec<Entry> = Vec::new();
        let mut bytes = 0usize;
        let send = |batch: Vec<Entry>| -> Result<usize> {
            self.call(
                who,
                &Call::AddMany {
                    path: path.to_string(),
                    entries: batch,
                },
            )
        };
        // A failure after earlier batches went in says how many did (each batch is one
        // transaction on the server; the whole call is one only when it fits one request).
        let after = |added: usize, e: Error| {
            if added == 0 {
                e
            } else {
                Error::invalid(
                    format!("add to {path}"),
                    format!("{added} entries were added by earlier batches, then: {e}"),
                )
            }
        };
        let empty = entries.is_empty();
        for e in entries {
            let size = serde_json::to_vec(&e).map(|v| v.len() + 1).unwrap_or(0);
            if !batch.is_empty() && bytes + size > BATCH_BYTES {
                let n = send(std::mem::take(&mut batch)).map_err(|e| after(added, e))?;
                added = added.saturating_add(n);
                bytes = 0;
            }
            bytes += size;
            batch.push(e);
        }
        if !batch.is_empty() || empty {
            let n = send(batch).map_err(|e| after(added, e))?;
            added = added.saturating_add(n);
        }
        Ok(added)
    }

    /// [`Catalog::update_with`] over the network (see the module documentation).
    pub(crate) fn update_with(
        &self,
        who: &Principal,
        path: &str,
        name: &str,
        mut f: impl FnMut(&Entry) -> Result<Vec<(String, Value)>>,
    ) -> Result<()> {
        for _ in 0..UPDATE_ATTEMPTS {
            let current: Entry = self.call(
                who,
                &Call::Get {
                    path: path.to_string(),
                    name: name.to_string(),
                },
            )?;
            let values = f(&current)?;
            match self.call::<()>(
                who,
                &Call::UpdateIf {
                    path: path.to_string(),
                    name: name.to_string(),
                    expected: Some(current),
                    values,
                },
            ) {
                Err(Error::Conflict(_)) => continue,
                other => return other,
            }
        }
        Err(Error::Conflict(format!(
            "entry {name} in {path} kept changing: {UPDATE_ATTEMPTS} attempts"
        )))
    }

    /// The server's address.
    pub(crate) fn server(&self) -> &str {
        &self.server
    }

    /// The identities this client can call as.
    pub(crate) fn identities(&self) -> Vec<Principal> {
        self.identities.iter().map(|(p, _)| p.clone()).collect()
    }
}

impl Catalog {
    /// A catalog on the service of `settings` (see [`ClientSettings`]), as the identity of its
    /// certificate.
    pub fn connect(settings: &ClientSettings) -> Result<Catalog> {
        Catalog::connect_as(
            &settings.server,
            settings.server_name.as_deref(),
            &settings.ca,
            &[settings.identity()],
            Duration::from_millis(settings.timeout_ms),
        )
    }

    /// A catalog on the service at `server` (`host:port`; its certificate issued by `ca` for
    /// `server_name`, by default the host of `server`), able to call as each of `identities`:
    /// a call is sent with the certificate of the principal it names.
    pub fn connect_as(
        server: &str,
        server_name: Option<&str>,
        ca: &Path,
        identities: &[Identity],
        timeout: Duration,
    ) -> Result<Catalog> {
        let name = server_name.unwrap_or_else(|| host_of(server)).to_string();
        let mut held = Vec::new();
        for id in identities {
            let tls_error = |e: hope_service::Error| match e {
                e @ hope_service::Error::Token { .. } => Error::Token(e),
                e => Error::invalid(
                    format!("client identity {}", id.origin.display()),
                    e.to_string(),
                ),
            };
            let loaded = id.load().map_err(tls_error)?;
            let config = loaded.client_config(ca).map_err(tls_error)?;
            let principal = loaded.principal().map_err(tls_error)?;
            held.push((
                principal,
                ServiceClient::new(server, name.clone(), Arc::clone(&config), timeout),
            ));
        }
        if held.is_empty() {
            return Err(Error::invalid("identities", "expected at least one"));
        }
        Ok(Catalog::remote(Remote {
            server: server.to_string(),
            identities: held,
        }))
    }

    /// Who the server sees `who`'s certificate as: name and groups (the certificate's and the
    /// site's mapping). Only for a catalog on a service.
    pub fn whoami(&self, who: &Principal) -> Result<Whoami> {
        match self.remote_ref() {
            Some(r) => {
                let w: Whoami = r.call(who, &Call::Whoami)?;
                // The server must see the certificate the call was made with.
                if w.name != who.name {
                    return Err(remote_error(
                        r.server(),
                        format!(
                            "the server says the certificate of `{}` is `{}`",
                            who.name, w.name
                        ),
                    ));
                }
                Ok(w)
            }
            None => Err(Error::invalid(
                "whoami",
                "a local catalog has no server to ask",
            )),
        }
    }
}
