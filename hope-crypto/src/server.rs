//! The key server: HTTPS with mutual TLS in front of a durable [`SqliteKeyStore`], with an audit
//! log.
//!
//! Protocol (JSON bodies; the caller is the subject of its client certificate; connections are
//! kept alive for many requests; at most [`MAX_BATCH`] keys per request):
//!
//! | request | needs | answer |
//! |---|---|---|
//! | `GET /v1/health` | a valid certificate | `{"status":"ok","principal":"<cn>"}` |
//! | `POST /v2/keys/create` `{"keys":[{"share","salt","grants"}…]}` | the id bound to the caller | a result per key |
//! | `POST /v2/keys/get` `{"key_ids":[…]}` | get, per key | a result per key, with the shares |
//! | `POST /v2/keys/stage` `{"share","salt","grants"}` | admin (or the bound owner, for a key the server lacks) | `{}` |
//! | `POST /v2/keys/commit` `{"key_id","generation"}` | admin | `{}` |
//! | `POST /v2/keys/abort` `{"key_id","generation"}` | admin | `{}` |
//! | `POST /v2/keys/acl` `{"key_id","add":[…],"remove":[…]}` | admin | the key's [`KeyInfo`] |
//! | `POST /v2/keys/info` `{"key_id"}` | admin | the key's [`KeyInfo`] |
//! | `POST /v2/keys/delete` `{"key_id"}` | admin | `{}` |
//!
//! A result per key is `{"key_id","status"}` with status `ok`, `denied`, `not-found`, `conflict`
//! or `bad-request` (and `error`, `shares` where they apply).
//!
//! Every request is audited before it is executed (`requested`) and after: each key released or
//! created has a record of its own (`granted`); refusals (`denied`, `not-found`, `conflict`,
//! `bad-request`, `error`) one record per outcome, with the count and the first key ids. All are
//! synced before the answer is sent; a request is refused when the audit log cannot be written
//! (fail closed). A caller whose requests keep being refused is slowed down: beyond 20 such
//! requests in a burst, 5 a second, it is answered 429 (audited as `throttled`, rate-limited). Connections refused at
//! the TLS handshake (unknown CA, revoked or expired certificate) and connections turned away
//! (too many, too many from one address) are audited as `connect`, at most five a second (the
//! others are counted). The CRL file is read again when its content changes (see
//! [`MutualTls`]); each client has [`Limits::request_timeout`] to complete its handshake and each
//! request, however it trickles its bytes.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::acl::{Grant, Principal, Right, Subject};
use crate::audit::{AuditKey, AuditLog, Event};
use crate::http;
use crate::key::{BindingSalt, KeyId};
use crate::service::{Activity, Audited, Limits, RefusalBudget, Service};
use crate::shares::Share;
use crate::store::{KeyStore, NewKey, SqliteKeyStore};
use crate::tls::{MutualTls, TlsFiles, crl_state_path};
use hope_service::session::{Reply, Session};

/// A key server running on a background thread; dropping the handle stops it.
pub use crate::service::ServiceHandle as ServerHandle;
pub use crate::store::KeyInfo;
use crate::{Error, Result};

/// Most keys in one request.
pub const MAX_BATCH: usize = 1000;

/// A key server's configuration file (TOML). Relative paths are relative to the file's directory.
///
/// ```toml
/// listen = "127.0.0.1:7443"
/// cert = "server.pem"
/// key = "server.key"
/// ca = "ca.pem"
/// crl = "ca.crl"          # optional; PEM or DER, must be valid (fails closed)
/// storage = "shares"      # a folder: shares.sqlite in it
/// audit_log = "audit.jsonl"
/// audit_key = "audit.key" # optional (default: the log's path with .key); created if missing
/// max_connections = 64
/// max_connections_per_address = 16
/// request_timeout_ms = 10000   # handshake and each request
/// idle_timeout_ms = 30000      # an idle keep-alive connection
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
    /// Certificate revocation lists of that CA (PEM or DER), read again when the content changes.
    #[serde(default)]
    pub crl: Option<PathBuf>,
    /// Folder of the share store.
    pub storage: PathBuf,
    /// The audit log.
    pub audit_log: PathBuf,
    /// The audit log's MAC key (default: `<audit_log>.key`, created if missing).
    #[serde(default)]
    pub audit_key: Option<PathBuf>,
    /// Most connections served at once (default 64); more are turned away.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Most connections at once from one IP address (default 16).
    #[serde(default = "default_per_address")]
    pub max_connections_per_address: usize,
    /// Time to complete the handshake and each request, in milliseconds (default 10 000).
    #[serde(default = "default_request_timeout")]
    pub request_timeout_ms: u64,
    /// How long an idle connection is kept, in milliseconds (default 30 000).
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_ms: u64,
}

fn default_max_connections() -> usize {
    64
}
fn default_per_address() -> usize {
    16
}
fn default_request_timeout() -> u64 {
    10_000
}
fn default_idle_timeout() -> u64 {
    30_000
}

impl ServerSettings {
    /// Settings with the defaults for everything but the files and the address.
    pub fn new(
        listen: impl Into<String>,
        files: &TlsFiles<'_>,
        storage: impl Into<PathBuf>,
        audit_log: impl Into<PathBuf>,
    ) -> ServerSettings {
        ServerSettings {
            listen: listen.into(),
            cert: files.cert.to_path_buf(),
            key: files.key.to_path_buf(),
            ca: files.ca.to_path_buf(),
            crl: None,
            storage: storage.into(),
            audit_log: audit_log.into(),
            audit_key: None,
            max_connections: default_max_connections(),
            max_connections_per_address: default_per_address(),
            request_timeout_ms: default_request_timeout(),
            idle_timeout_ms: default_idle_timeout(),
        }
    }

    /// Reads a configuration file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<ServerSettings> {
        let path = path.as_ref();
        let text = hope_core::fs::read_text_bounded(path, hope_core::fs::MAX_CONFIG_BYTES)
            .map_err(|e| Error::io(path, e))?;
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
        for p in [&mut s.crl, &mut s.audit_key].into_iter().flatten() {
            *p = base.join(&*p);
        }
        Ok(s)
    }

    /// The connection limits these settings describe.
    pub fn limits(&self) -> Limits {
        Limits {
            max_connections: self.max_connections,
            max_per_address: self.max_connections_per_address,
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
        }
    }
}

struct Shared {
    store: Box<dyn KeyStore>,
    audit: AuditLog,
    tls: MutualTls,
    limits: Limits,
    refusals: RefusalBudget,
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
        let tls = MutualTls::with_crl_state(
            &files,
            settings.crl.as_deref(),
            Some(&crl_state_path(&settings.audit_log)),
        )?;
        let store = SqliteKeyStore::open(&settings.storage)?;
        let key_path = settings
            .audit_key
            .clone()
            .unwrap_or_else(|| AuditKey::default_path(&settings.audit_log));
        let audit = AuditLog::open(&settings.audit_log, AuditKey::load_or_create(&key_path)?)?;
        // The newest CRLs are on record in the audit log too: a lost state file cannot bring an
        // older one back.
        tls.adopt_audit_marks(&audit)?;
        let limits = settings.limits();
        let service = Service::bind(&settings.listen, limits).map_err(|e| Error::Server {
            server: settings.listen.clone(),
            status: None,
            message: format!("cannot listen: {e}"),
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
                limits,
                refusals: RefusalBudget::new(),
            }),
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.service
            .local_addr()
            .map_err(|e| Error::io("<listener>", e))
    }

    /// Serves connections until stopped (through a [`ServerHandle`]); connections beyond the
    /// limits are turned away and audited.
    pub fn serve(self) -> Result<()> {
        self.service.serve_audited(self.shared);
        Ok(())
    }

    /// Serves on a background thread; the handle stops it.
    pub fn spawn(self) -> Result<ServerHandle> {
        self.service
            .spawn_audited(self.shared)
            .map_err(|e| Error::io("<listener>", e))
    }
}

impl Audited for Shared {
    fn audit(&self) -> &AuditLog {
        &self.audit
    }

    fn connection(&self, stream: TcpStream, activity: &Activity) {
        let session = Session {
            tls: &self.tls,
            audit: &self.audit,
            refusals: &self.refusals,
            limits: self.limits,
        };
        session.serve(stream, activity, |who, request| {
            handle(self.store.as_ref(), &self.audit, who, request)
        });
    }
}

/// A hexadecimal binding salt in JSON.
#[derive(Debug, Clone, Copy)]
struct Salt(BindingSalt);

impl<'de> serde::Deserialize<'de> for Salt {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Salt, D::Error> {
        let text = String::deserialize(d)?;
        let mut b = [0u8; 16];
        hex::decode_to_slice(text.as_bytes(), &mut b)
            .map_err(|_| serde::de::Error::custom("salt: expected 32 hexadecimal digits"))?;
        Ok(Salt(b))
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateItem {
    share: Share,
    salt: Salt,
    #[serde(default)]
    grants: Vec<Grant>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    keys: Vec<CreateItem>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct GetBody {
    key_ids: Vec<KeyId>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StageBody {
    share: Share,
    #[serde(default)]
    salt: Option<Salt>,
    #[serde(default)]
    grants: Vec<Grant>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct GenerationBody {
    key_id: KeyId,
    generation: u32,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AclBody {
    key_id: KeyId,
    #[serde(default)]
    add: Vec<Grant>,
    #[serde(default)]
    remove: Vec<Subject>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyBody {
    key_id: KeyId,
}

/// The result for one key of a batch.
#[derive(serde::Serialize)]
struct ItemResult {
    key_id: KeyId,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    shares: Vec<Share>,
}

fn json_error(message: impl std::fmt::Display) -> Vec<u8> {
    serde_json::json!({ "error": message.to_string() })
        .to_string()
        .into_bytes()
}

/// JSON in a buffer sized up front (so that it never moves: no copy of a share is left behind
/// by a reallocation) and wiped when dropped.
fn secret_json(value: &impl serde::Serialize, estimate: usize) -> Zeroizing<Vec<u8>> {
    let mut buf = Zeroizing::new(Vec::with_capacity(estimate));
    if serde_json::to_writer(&mut *buf, value).is_err() {
        buf.clear();
    }
    buf
}

/// The audit result word and HTTP status of an error.
fn classify(e: &Error) -> (&'static str, u16) {
    match e {
        Error::AccessDenied { .. } => ("denied", 403),
        Error::NotFound { .. } => ("not-found", 404),
        Error::Conflict { .. } => ("conflict", 409),
        Error::InvalidParameter { .. } => ("bad-request", 400),
        _ => ("error", 500),
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| Error::invalid("body", e.to_string()))
}

fn plain(status: u16, body: Vec<u8>) -> Reply {
    Reply::new(status, body)
}

/// Answers one authenticated request: audit, authorise, execute, audit again (fail closed).
fn handle(store: &dyn KeyStore, audit: &AuditLog, who: &Principal, req: &http::Request) -> Reply {
    let action = match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/v1/health") => {
            return plain(
                200,
                serde_json::json!({ "status": "ok", "principal": who.name })
                    .to_string()
                    .into_bytes(),
            );
        }
        ("POST", "/v2/keys/create") => "create",
        ("POST", "/v2/keys/get") => "get",
        ("POST", "/v2/keys/stage") => "stage",
        ("POST", "/v2/keys/commit") => "commit",
        ("POST", "/v2/keys/abort") => "abort",
        ("POST", "/v2/keys/acl") => "set-acl",
        ("POST", "/v2/keys/info") => "read-acl",
        ("POST", "/v2/keys/delete") => "delete",
        _ => {
            return plain(
                404,
                json_error(format!("no route for {} {}", req.method, req.path)),
            );
        }
    };
    match action {
        "create" | "get" => batch(store, audit, who, action, &req.body),
        _ => single(store, audit, who, action, &req.body),
    }
}

/// The execution of a batch request, once audited.
type Work<'a> = Box<dyn FnOnce() -> Result<Vec<ItemResult>> + 'a>;

/// `create` and `get`: a result per key.
fn batch(
    store: &dyn KeyStore,
    audit: &AuditLog,
    who: &Principal,
    action: &'static str,
    body: &[u8],
) -> Reply {
    let (ids, work): (Vec<KeyId>, Work<'_>) = match action {
        "create" => match parse::<CreateBody>(body) {
            Ok(b) => {
                let ids = b.keys.iter().map(|k| k.share.key_id).collect();
                let keys: Vec<NewKey> = b
                    .keys
                    .into_iter()
                    .map(|k| NewKey {
                        share: k.share,
                        salt: k.salt.0,
                        grants: k.grants,
                    })
                    .collect();
                (
                    ids,
                    Box::new(move || {
                        let ids: Vec<KeyId> = keys.iter().map(|k| k.share.key_id).collect();
                        Ok(store
                            .create(who, keys)?
                            .into_iter()
                            .zip(ids)
                            .map(|(r, key_id)| item(key_id, r.map(|()| Vec::new())))
                            .collect())
                    }),
                )
            }
            Err(e) => return plain(400, json_error(e)),
        },
        _ => match parse::<GetBody>(body) {
            Ok(b) => {
                let ids = b.key_ids.clone();
                (
                    ids,
                    Box::new(move || {
                        Ok(store
                            .get(who, &b.key_ids)?
                            .into_iter()
                            .zip(b.key_ids)
                            .map(|(r, key_id)| item(key_id, r))
                            .collect())
                    }),
                )
            }
            Err(e) => return plain(400, json_error(e)),
        },
    };
    if ids.len() > MAX_BATCH {
        return plain(
            400,
            json_error(format!(
                "{} keys in one request; at most {MAX_BATCH}",
                ids.len()
            )),
        );
    }
    if let Err(e) = audit.append(
        Event::new(who.name.clone(), action, "requested").detail(format!("{} keys", ids.len())),
    ) {
        return plain(500, json_error(format!("refused: {e}")));
    }
    let results = match work() {
        Ok(r) => r,
        Err(e) => {
            let _ =
                audit.append(Event::new(who.name.clone(), action, "error").detail(e.to_string()));
            return plain(500, json_error(e));
        }
    };
    // Fail closed: nothing is released unless every outcome is on record. Each key released
    // has a record of its own; refusals have one record per outcome (with the first key ids),
    // so that a caller asking for keys it may not have cannot flood the log.
    let mut events: Vec<Event> = Vec::new();
    let mut refused: Vec<(&'static str, Vec<&KeyId>)> = Vec::new();
    for r in &results {
        if r.status == "ok" {
            events.push(Event::new(who.name.clone(), action, "granted").key(r.key_id.to_string()));
        } else if let Some((_, ids)) = refused.iter_mut().find(|(s, _)| *s == r.status) {
            ids.push(&r.key_id);
        } else {
            refused.push((r.status, vec![&r.key_id]));
        }
    }
    for (status, ids) in &refused {
        events.push(match ids.as_slice() {
            [one] => Event::new(who.name.clone(), action, *status).key(one.to_string()),
            many => {
                let shown: Vec<String> = many
                    .iter()
                    .take(REFUSED_IDS_SHOWN)
                    .map(ToString::to_string)
                    .collect();
                let more = many.len().saturating_sub(REFUSED_IDS_SHOWN);
                Event::new(who.name.clone(), action, *status).detail(format!(
                    "{} keys: {}{}",
                    many.len(),
                    shown.join(" "),
                    if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    }
                ))
            }
        });
    }
    if let Err(e) = audit.append_all(events) {
        return plain(500, json_error(format!("refused: {e}")));
    }
    let estimate = 64 + results.len() * (160 + 2 * 220);
    Reply {
        status: 200,
        body: secret_json(&serde_json::json!({ "results": results }), estimate),
        refused: !refused.is_empty(),
    }
}

/// Key ids named in a record of refusals (the count says how many there were).
const REFUSED_IDS_SHOWN: usize = 8;

fn item(key_id: KeyId, r: Result<Vec<Share>>) -> ItemResult {
    match r {
        Ok(shares) => ItemResult {
            key_id,
            status: "ok",
            error: None,
            shares,
        },
        Err(e) => ItemResult {
            key_id,
            status: classify(&e).0,
            error: Some(e.to_string()),
            shares: Vec::new(),
        },
    }
}

/// The audit detail of an ACL change: the grants added and the subjects removed (at most 16 of
/// each named, then a count).
fn acl_change(add: &[Grant], remove: &[Subject]) -> String {
    const NAMED: usize = 16;
    fn list(items: Vec<String>) -> String {
        let n = items.len();
        let mut text = items.into_iter().take(NAMED).collect::<Vec<_>>().join(", ");
        if n > NAMED {
            text.push_str(&format!(" and {} more", n - NAMED));
        }
        if text.is_empty() { "none".into() } else { text }
    }
    let right = |r: Right| match r {
        Right::Get => "get",
        Right::Admin => "admin",
    };
    format!(
        "add: {}; remove: {}",
        list(
            add.iter()
                .map(|g| format!("{} {}", g.subject, right(g.right)))
                .collect()
        ),
        list(remove.iter().map(ToString::to_string).collect())
    )
}

/// The operations on one key.
fn single(
    store: &dyn KeyStore,
    audit: &AuditLog,
    who: &Principal,
    action: &'static str,
    body: &[u8],
) -> Reply {
    let key_id = match action {
        "stage" => parse::<StageBody>(body).map(|b| b.share.key_id),
        "commit" | "abort" => parse::<GenerationBody>(body).map(|b| b.key_id),
        "set-acl" => parse::<AclBody>(body).map(|b| b.key_id),
        _ => parse::<KeyBody>(body).map(|b| b.key_id),
    };
    let key_id = match key_id {
        Ok(k) => k,
        Err(e) => return plain(400, json_error(e)),
    };
    // What an ACL change adds and removes is on record with the request (who was let in or
    // shut out), bounded like every detail.
    let change = (action == "set-acl")
        .then(|| parse::<AclBody>(body).ok())
        .flatten()
        .map(|b| acl_change(&b.add, &b.remove));
    let ev = |result: &str| {
        let e = Event::new(who.name.clone(), action, result).key(key_id.to_string());
        match &change {
            Some(c) => e.detail(c.clone()),
            None => e,
        }
    };
    if let Err(e) = audit.append(ev("requested")) {
        return plain(500, json_error(format!("refused: {e}")));
    }
    let empty = || b"{}".to_vec();
    let info_json =
        |i: KeyInfo| serde_json::to_vec(&i).map_err(|e| Error::invalid("info", e.to_string()));
    let outcome: Result<Vec<u8>> = match action {
        "stage" => parse::<StageBody>(body).and_then(|b| {
            store
                .stage(who, b.share, b.salt.map(|s| s.0), b.grants)
                .map(|()| empty())
        }),
        "commit" => parse::<GenerationBody>(body)
            .and_then(|b| store.commit(who, &b.key_id, b.generation).map(|()| empty())),
        "abort" => parse::<GenerationBody>(body)
            .and_then(|b| store.abort(who, &b.key_id, b.generation).map(|()| empty())),
        "set-acl" => parse::<AclBody>(body).and_then(|b| {
            store
                .change_acl(who, &b.key_id, b.add, b.remove)
                .and_then(info_json)
        }),
        "read-acl" => store.info(who, &key_id).and_then(info_json),
        _ => store.delete(who, &key_id).map(|()| empty()),
    };
    let (status, body, result) = match outcome {
        Ok(b) => (200, b, "granted"),
        Err(e) => {
            let (word, status) = classify(&e);
            (status, json_error(e), word)
        }
    };
    match audit.append(ev(result)) {
        Ok(_) => plain(status, body),
        Err(e) => plain(500, json_error(format!("refused: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryKeyStore;
    use proptest::prelude::Strategy;

    fn request(method: &str, path: &str, body: serde_json::Value) -> http::Request {
        http::Request {
            method: method.into(),
            path: path.into(),
            body: Zeroizing::new(body.to_string().into_bytes()),
            keep_alive: true,
        }
    }

    fn audit_log(dir: &Path, name: &str) -> AuditLog {
        AuditLog::open(dir.join(name), AuditKey::from_bytes([1; 32])).unwrap()
    }

    /// Attack round of issue 20: an ACL change was recorded as "set-acl granted" for the key,
    /// without saying whom it let in or shut out. The grants added and the subjects removed are
    /// in the record's detail.
    #[test]
    fn attack_20_an_acl_change_records_whom_it_adds_and_removes() {
        let dir = tempfile::tempdir().unwrap();
        let store = MemoryKeyStore::new();
        let alice = Principal::user("alice");
        let (id, salt) = KeyId::bound_to("alice").unwrap();
        let share = Share::from_parts(id, 1, 2, 1, [9; 32]);
        let log = audit_log(dir.path(), "acl.jsonl");
        let create = request(
            "POST",
            "/v2/keys/create",
            serde_json::json!({ "keys": [{ "share": share, "salt": hex::encode(salt) }] }),
        );
        assert_eq!(handle(&store, &log, &alice, &create).status, 200);
        let change = request(
            "POST",
            "/v2/keys/acl",
            serde_json::json!({
                "key_id": id,
                "add": [
                    { "subject": { "user": "bob" }, "right": "get" },
                    { "subject": { "group": "physics" }, "right": "admin" },
                ],
                "remove": [{ "user": "mallory" }],
            }),
        );
        let Reply { status, body, .. } = handle(&store, &log, &alice, &change);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let text = std::fs::read_to_string(dir.path().join("acl.jsonl")).unwrap();
        let granted = text
            .lines()
            .find(|l| l.contains("\"set-acl\"") && l.contains("\"granted\""))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(
            granted.contains("add: user:bob get, group:physics admin; remove: user:mallory"),
            "{granted}"
        );
        let many: Vec<Grant> = (0..40)
            .map(|i| Grant::user(format!("u{i}"), Right::Get))
            .collect();
        let detail = acl_change(&many, &[]);
        assert!(
            detail.contains("u15 get and 24 more; remove: none"),
            "{detail}"
        );
    }

    #[test]
    fn nothing_happens_and_nothing_is_released_without_an_audit_record() {
        let dir = tempfile::tempdir().unwrap();
        let store = MemoryKeyStore::new();
        let alice = Principal::user("alice");
        let (id, salt) = KeyId::bound_to("alice").unwrap();
        let share = Share::from_parts(id, 1, 2, 1, [9; 32]);
        let create = request(
            "POST",
            "/v2/keys/create",
            serde_json::json!({ "keys": [{ "share": share, "salt": hex::encode(salt) }] }),
        );
        let good = audit_log(dir.path(), "ok.jsonl");
        let Reply { status, body, .. } = handle(&store, &good, &alice, &create);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert!(String::from_utf8_lossy(&body).contains("\"ok\""));
        let get = request(
            "POST",
            "/v2/keys/get",
            serde_json::json!({ "key_ids": [id] }),
        );
        let Reply { status, body, .. } = handle(&store, &good, &alice, &get);
        assert_eq!(status, 200);
        assert!(String::from_utf8_lossy(&body).contains(&hex::encode([9u8; 32])));

        let broken = AuditLog::unwritable_for_tests(dir.path().join("broken.jsonl"));
        let Reply { status, body, .. } = handle(&store, &broken, &alice, &get);
        assert_eq!(status, 500);
        assert!(
            !String::from_utf8_lossy(&body).contains(&hex::encode([9u8; 32])),
            "share leaked"
        );
        let del = request(
            "POST",
            "/v2/keys/delete",
            serde_json::json!({ "key_id": id }),
        );
        assert_eq!(handle(&store, &broken, &alice, &del).status, 500);
        assert!(
            store.get(&alice, &[id]).unwrap()[0].is_ok(),
            "refused request must not be executed"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

        /// Arbitrary bodies on every route: a status and an answer, never a panic, and the audit
        /// log still verifies.
        #[test]
        fn request_bodies_never_panic(
            route in proptest::sample::select(vec![
                "/v2/keys/create", "/v2/keys/get", "/v2/keys/stage", "/v2/keys/commit",
                "/v2/keys/abort", "/v2/keys/acl", "/v2/keys/info", "/v2/keys/delete",
            ]),
            body in proptest::prelude::prop_oneof![
                proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
                "[{}\\[\\]\\\":,a-z0-9 ]{0,120}".prop_map(String::into_bytes),
            ],
        ) {
            let dir = tempfile::tempdir().unwrap();
            let store = MemoryKeyStore::new();
            let audit = audit_log(dir.path(), "a.jsonl");
            let req = http::Request {
                method: "POST".into(),
                path: route.into(),
                body: Zeroizing::new(body),
                keep_alive: true,
            };
            let status = handle(&store, &audit, &Principal::user("p"), &req).status;
            proptest::prop_assert!((200..600).contains(&status));
            crate::audit::verify(dir.path().join("a.jsonl"), &AuditKey::from_bytes([1; 32])).unwrap();
        }
    }

    #[test]
    fn routes_and_status_codes() {
        let dir = tempfile::tempdir().unwrap();
        let store = MemoryKeyStore::new();
        let audit = audit_log(dir.path(), "a.jsonl");
        let who = Principal::user("bob");
        let cases = [
            (
                request("POST", "/v2/keys/info", serde_json::json!({"key_id": "zz"})),
                400,
            ),
            (
                request(
                    "POST",
                    "/v2/keys/info",
                    serde_json::json!({ "key_id": KeyId([1; 16]) }),
                ),
                404,
            ),
            (request("PUT", "/v1/keys", serde_json::Value::Null), 404),
            (
                request(
                    "POST",
                    "/v2/keys/create",
                    serde_json::json!({"keys": [{"share": 1}]}),
                ),
                400,
            ),
            (
                request(
                    "POST",
                    "/v2/keys/get",
                    serde_json::json!({"key_ids": [], "extra": 1}),
                ),
                400,
            ),
            (request("GET", "/v1/health", serde_json::Value::Null), 200),
        ];
        for (req, status) in cases {
            assert_eq!(
                handle(&store, &audit, &who, &req).status,
                status,
                "{} {}",
                req.method,
                req.path
            );
        }
        let too_many: Vec<KeyId> = (0..=MAX_BATCH).map(|i| KeyId([i as u8; 16])).collect();
        let big = request(
            "POST",
            "/v2/keys/get",
            serde_json::json!({ "key_ids": too_many }),
        );
        assert_eq!(handle(&store, &audit, &who, &big).status, 400);
        crate::audit::verify(dir.path().join("a.jsonl"), &AuditKey::from_bytes([1; 32])).unwrap();
    }
}
