//! The key server: HTTPS with mutual TLS in front of a durable [`DirKeyStore`], with an audit log.
//!
//! Protocol (JSON bodies; the caller is the subject of its client certificate):
//!
//! | request | needs | answer |
//! |---|---|---|
//! | `GET /v1/health` | a valid certificate | `{"status":"ok","principal":"<cn>"}` |
//! | `PUT /v1/keys/<key id>` `{"share":…,"grants":[…]}` | new key: any user; existing: admin | 201 |
//! | `GET /v1/keys/<key id>` | get | the share |
//! | `DELETE /v1/keys/<key id>` | admin | 200 |
//! | `PUT /v1/keys/<key id>/acl` `{"grants":[…]}` | admin | 200 |
//! | `GET /v1/keys/<key id>/acl` | admin | the ACL |
//!
//! Every request is audited twice, before it is executed (`requested`) and after (`granted`,
//! `denied`, `not-found`, `error`), and refused when the audit log cannot be written. Connections
//! refused at the TLS handshake (unknown CA, revoked or expired certificate) are audited as
//! `connect`/`refused`. The CRL file is re-read when it changes, so a revocation takes effect
//! without a restart.

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::acl::{Grant, Principal};
use crate::audit::{AuditLog, Event};
use crate::http;
use crate::key::KeyId;
use crate::service::{OnConnection, Service};
use crate::shares::Share;
use crate::store::{DirKeyStore, KeyStore};
use crate::tls::{MutualTls, TlsFiles};

/// A key server running on a background thread; dropping the handle stops it.
pub use crate::service::ServiceHandle as ServerHandle;
use crate::{Error, Result};

/// How long a connection may stay silent.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A key server's configuration file (TOML). Relative paths are relative to the file's directory.
///
/// ```toml
/// listen = "127.0.0.1:7443"
/// cert = "server.pem"
/// key = "server.key"
/// ca = "ca.pem"
/// crl = "ca.crl"          # optional
/// storage = "shares"      # one file per key
/// audit_log = "audit.jsonl"
/// ```
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address and port to listen on.
    pub listen: String,
    /// The server's certificate chain (PEM).
    pub cert: PathBuf,
    /// The server's private key (PEM).
    pub key: PathBuf,
    /// The CA that issues client certificates (PEM).
    pub ca: PathBuf,
    /// Certificate revocation lists of that CA (PEM), re-read when the file changes.
    #[serde(default)]
    pub crl: Option<PathBuf>,
    /// Directory of the share store.
    pub storage: PathBuf,
    /// The audit log.
    pub audit_log: PathBuf,
    /// Most connections served at once (default 64); more are dropped.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

fn default_max_connections() -> usize {
    64
}

impl ServerSettings {
    /// Reads a configuration file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<ServerSettings> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut s: ServerSettings = toml::from_str(&text).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            field: "server configuration".into(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new(""));
        for p in [
            &mut s.cert,
            &mut s.key,
            &mut s.ca,
            &mut s.storage,
            &mut s.audit_log,
        ] {
            *p = base.join(&*p);
        }
        if let Some(c) = &mut s.crl {
            *c = base.join(&*c);
        }
        Ok(s)
    }
}

struct Shared {
    store: Box<dyn KeyStore>,
    audit: AuditLog,
    tls: MutualTls,
}

/// A bound key server, ready to [`serve`](KeyServer::serve) or [`spawn`](KeyServer::spawn).
pub struct KeyServer {
    service: Service,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for KeyServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyServer")
            .field("listen", &self.service.local_addr().ok())
            .finish()
    }
}

impl KeyServer {
    /// Loads certificates, opens the store and the audit log (which must verify) and binds.
    pub fn bind(settings: ServerSettings) -> Result<KeyServer> {
        let files = TlsFiles {
            cert: &settings.cert,
            key: &settings.key,
            ca: &settings.ca,
        };
        let tls = MutualTls::new(&files, settings.crl.as_deref())?;
        let store = DirKeyStore::open(&settings.storage)?;
        let audit = AuditLog::open(&settings.audit_log)?;
        let service = Service::bind(&settings.listen, settings.max_connections).map_err(|e| {
            Error::Server {
                server: settings.listen.clone(),
                status: None,
                message: format!("cannot listen: {e}"),
            }
        })?;
        audit.append(
            Event::new("-", "start", "ok").detail(format!("listening on {}", settings.listen)),
        )?;
        Ok(KeyServer {
            service,
            shared: Arc::new(Shared {
                store: Box::new(store),
                audit,
                tls,
            }),
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.service
            .local_addr()
            .map_err(|e| Error::io("<listener>", e))
    }

    fn handler(&self) -> OnConnection {
        let shared = Arc::clone(&self.shared);
        Arc::new(move |stream| shared.connection(stream))
    }

    /// Serves connections until stopped (through a [`ServerHandle`]); connections beyond
    /// `max_connections` are dropped.
    pub fn serve(self) -> Result<()> {
        let handler = self.handler();
        self.service.serve(handler, |_| {});
        Ok(())
    }

    /// Serves on a background thread; the handle stops it.
    pub fn spawn(self) -> Result<ServerHandle> {
        let handler = self.handler();
        self.service
            .spawn(handler, |_| {})
            .map_err(|e| Error::io("<listener>", e))
    }
}

#[derive(serde::Deserialize)]
struct PutBody {
    share: Share,
    #[serde(default)]
    grants: Vec<Grant>,
}

#[derive(serde::Deserialize)]
struct AclBody {
    grants: Vec<Grant>,
}

fn json_error(message: impl std::fmt::Display) -> Vec<u8> {
    serde_json::json!({ "error": message.to_string() })
        .to_string()
        .into_bytes()
}

impl Shared {
    fn connection(&self, stream: TcpStream) {
        let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
        let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
        let Some((mut tls, who)) = self.tls.accept_audited(stream, &self.audit) else {
            return;
        };
        let request = match http::read_request(&mut BufReader::new(&mut tls)) {
            Ok(r) => r,
            Err(e) => {
                let _ = http::write_response(&mut tls, 400, &json_error(e));
                return;
            }
        };
        let (status, body) = handle(self.store.as_ref(), &self.audit, &who, &request);
        let _ = http::write_response(&mut tls, status, &body);
        tls.conn.send_close_notify();
        let _ = tls.flush();
    }
}

/// Answers one authenticated request: audit, authorise, execute, audit again.
fn handle(
    store: &dyn KeyStore,
    audit: &AuditLog,
    who: &Principal,
    req: &http::Request,
) -> (u16, Vec<u8>) {
    let segments: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let (action, key): (&'static str, Option<&str>) =
        match (req.method.as_str(), segments.as_slice()) {
            ("GET", ["v1", "health"]) => ("health", None),
            ("PUT", ["v1", "keys", id]) => ("put", Some(id)),
            ("GET", ["v1", "keys", id]) => ("get", Some(id)),
            ("DELETE", ["v1", "keys", id]) => ("delete", Some(id)),
            ("PUT", ["v1", "keys", id, "acl"]) => ("set-acl", Some(id)),
            ("GET", ["v1", "keys", id, "acl"]) => ("read-acl", Some(id)),
            _ => {
                return (
                    404,
                    json_error(format!("no route for {} {}", req.method, req.path)),
                );
            }
        };
    if action == "health" {
        return (
            200,
            serde_json::json!({ "status": "ok", "principal": who.name })
                .to_string()
                .into_bytes(),
        );
    }
    let key_id: KeyId = match key.map(str::parse) {
        Some(Ok(k)) => k,
        _ => return (400, json_error("the key id must be 32 hexadecimal digits")),
    };
    let ev = |result: &str| Event::new(who.name.clone(), action, result).key(key_id.to_string());
    if let Err(e) = audit.append(ev("requested")) {
        return (500, json_error(format!("refused: {e}")));
    }
    let outcome: Result<(u16, Vec<u8>)> = match action {
        "put" => serde_json::from_slice::<PutBody>(&req.body)
            .map_err(|e| Error::invalid("body", e.to_string()))
            .and_then(|b| {
                if b.share.key_id != key_id {
                    return Err(Error::invalid(
                        "share.key_id",
                        "does not match the key id of the path",
                    ));
                }
                store
                    .put_share(who, b.share, b.grants)
                    .map(|()| (201, b"{}".to_vec()))
            }),
        "get" => store.get_share(who, &key_id).and_then(|s| {
            serde_json::to_vec(&s)
                .map(|b| (200, b))
                .map_err(|e| Error::invalid("share", e.to_string()))
        }),
        "delete" => store.delete(who, &key_id).map(|()| (200, b"{}".to_vec())),
        "set-acl" => serde_json::from_slice::<AclBody>(&req.body)
            .map_err(|e| Error::invalid("body", e.to_string()))
            .and_then(|b| {
                store
                    .set_grants(who, &key_id, b.grants)
                    .map(|()| (200, b"{}".to_vec()))
            }),
        _ => store.acl(who, &key_id).and_then(|a| {
            serde_json::to_vec(&a)
                .map(|b| (200, b))
                .map_err(|e| Error::invalid("acl", e.to_string()))
        }),
    };
    let (status, body, result) = match outcome {
        Ok((s, b)) => (s, b, "granted"),
        Err(e @ Error::AccessDenied { .. }) => (403, json_error(e), "denied"),
        Err(e @ Error::NotFound { .. }) => (404, json_error(e), "not-found"),
        Err(e @ Error::InvalidParameter { .. }) => (400, json_error(e), "bad-request"),
        Err(e) => (500, json_error(e), "error"),
    };
    // Fail closed: nothing is released unless its outcome is on record.
    match audit.append(ev(result)) {
        Ok(_) => (status, body),
        Err(e) => (500, json_error(format!("refused: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryKeyStore;

    fn request(method: &str, path: &str, body: serde_json::Value) -> http::Request {
        http::Request {
            method: method.into(),
            path: path.into(),
            body: body.to_string().into_bytes(),
        }
    }

    #[test]
    fn nothing_happens_and_nothing_is_released_without_an_audit_record() {
        let dir = tempfile::tempdir().unwrap();
        let store = MemoryKeyStore::new();
        let alice = Principal::user("alice");
        let id = KeyId([7; 16]);
        let share = Share::from_parts(id, 1, 2, 1, [9; 32]);
        let put = request(
            "PUT",
            &format!("/v1/keys/{id}"),
            serde_json::json!({ "share": share, "grants": [] }),
        );

        let good = AuditLog::open(dir.path().join("ok.jsonl")).unwrap();
        assert_eq!(handle(&store, &good, &alice, &put).0, 201);
        let get = request("GET", &format!("/v1/keys/{id}"), serde_json::Value::Null);
        assert_eq!(handle(&store, &good, &alice, &get).0, 200);

        let broken = AuditLog::unwritable_for_tests(dir.path().join("broken.jsonl"));
        let (status, body) = handle(&store, &broken, &alice, &get);
        assert_eq!(status, 500);
        assert!(
            !String::from_utf8_lossy(&body).contains(&hex::encode([9u8; 32])),
            "share leaked"
        );
        let del = request("DELETE", &format!("/v1/keys/{id}"), serde_json::Value::Null);
        assert_eq!(handle(&store, &broken, &alice, &del).0, 500);
        assert!(
            store.get_share(&alice, &id).is_ok(),
            "refused request must not be executed"
        );
    }

    #[test]
    fn routes_and_status_codes() {
        let dir = tempfile::tempdir().unwrap();
        let store = MemoryKeyStore::new();
        let audit = AuditLog::open(dir.path().join("a.jsonl")).unwrap();
        let who = Principal::user("bob");
        let cases = [
            (request("GET", "/v1/keys/zz", serde_json::Value::Null), 400),
            (
                request(
                    "GET",
                    &format!("/v1/keys/{}", KeyId([1; 16])),
                    serde_json::Value::Null,
                ),
                404,
            ),
            (request("POST", "/v1/keys", serde_json::Value::Null), 404),
            (
                request(
                    "PUT",
                    &format!("/v1/keys/{}", KeyId([1; 16])),
                    serde_json::json!({"share": 1}),
                ),
                400,
            ),
            (request("GET", "/v1/health", serde_json::Value::Null), 200),
        ];
        for (req, status) in cases {
            assert_eq!(
                handle(&store, &audit, &who, &req).0,
                status,
                "{} {}",
                req.method,
                req.path
            );
        }
        let share = Share::from_parts(KeyId([2; 16]), 1, 2, 1, [1; 32]);
        let mismatched = request(
            "PUT",
            &format!("/v1/keys/{}", KeyId([3; 16])),
            serde_json::json!({ "share": share }),
        );
        assert_eq!(handle(&store, &audit, &who, &mismatched).0, 400);
        crate::audit::verify(dir.path().join("a.jsonl")).unwrap();
    }
}
