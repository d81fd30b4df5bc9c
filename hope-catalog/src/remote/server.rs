//! The catalog as a mutual-TLS service (`hope catalog serve --config catalog.toml`).
//!
//! Built on [`hope_service`], as the key servers and the gateway are: a client certificate from
//! the configured CA is required and checked against the configured CRLs (failing closed; a
//! revocation reaches connections kept alive across it); the caller is the certificate's
//! principal (its common name, its organisational units as groups) with the groups the site's
//! configuration adds for that name, never anything a request says. Every operation of
//! [`Catalog`] is available ([`super::Call`]); the catalog's ACLs are enforced exactly as for
//! a local caller, since the server calls the same [`Catalog`] methods as that principal.
//!
//! Every request is audited in the service's chained audit log (who, operation, collection,
//! result) before its answer goes out; a request that changes the catalog is recorded as
//! requested before it is carried out. If the log cannot be written, the request is refused
//! (fail closed). Errors tell the client what the local catalog would have told it (a query
//! error, a denial naming the collection and the right); a back-end failure is reported without
//! its details, which the audit log keeps under the request's id.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hope_service::audit::{AuditKey, AuditLog, Event};
use hope_service::http::{MAX_BODY, Request};
use hope_service::service::{Activity, Audited, Limits, RefusalBudget, Service, ServiceHandle};
use hope_service::session::{Reply, Session, json_error};
use hope_service::tls::{MutualTls, TlsFiles, crl_state_path};

use super::{CALL_PATH, Call, ErrorBody, Whoami, WireError, read_toml, rebase};
use crate::disclosure::{self, Policy, Rules};
use crate::path::CollectionPath;
use crate::{Catalog, Error, Permission, Principal, Result, query};

/// Where the catalog is stored.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
pub enum Storage {
    /// An SQLite file (created if needed): the embedded default.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL.
    Postgres(String),
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Storage::Sqlite(p) => f.debug_tuple("Sqlite").field(p).finish(),
            // The URL may carry a password: never printed.
            Storage::Postgres(_) => f.write_str("Postgres(..)"),
        }
    }
}

/// The `[postgres]` table: how the service reaches its PostgreSQL storage.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresTable {
    /// The CA of the PostgreSQL server's certificate: connections are then TLS, verified.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// The most connections (0: 16).
    #[serde(default)]
    pub max_connections: usize,
}

/// A catalog service's configuration file (`catalog.toml`), paths relative to the file's
/// folder:
///
/// ```toml
/// listen = "0.0.0.0:7443"
/// cert = "server.pem"           # the service's certificate and key
/// key = "server.key"
/// ca = "ca.pem"                 # the CA whose client certificates are accepted
/// crl = "crl.pem"               # optional: revoked certificates (fails closed when stale)
/// audit_log = "audit.jsonl"     # chained, keyed; the key beside it unless audit_key says
/// storage = { sqlite = "catalog.db" }   # or { postgres = "postgresql://..." }
/// admin = "catalog-admin"       # the one user who may create the root over the service
///
/// [postgres]                    # with a PostgreSQL storage
/// ca = "pg-ca.pem"              # TLS, the server's certificate verified (verify-full)
/// max_connections = 16
///
/// [groups]                      # groups the site gives, by certificate common name
/// alice = ["epidemiology"]
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// The address to listen on (`host:port`).
    pub listen: String,
    /// The service's certificate chain (PEM).
    pub cert: PathBuf,
    /// The service's private key (PEM).
    pub key: PathBuf,
    /// The CA that issues the clients' certificates (PEM).
    pub ca: PathBuf,
    /// The CRLs of that CA (PEM), if any.
    #[serde(default)]
    pub crl: Option<PathBuf>,
    /// The audit log.
    pub audit_log: PathBuf,
    /// The audit log's key (default: beside the log).
    #[serde(default)]
    pub audit_key: Option<PathBuf>,
    /// Where the catalog is.
    pub storage: Storage,
    /// TLS and pool of the PostgreSQL storage (`[postgres]`: `ca`, `max_connections`).
    #[serde(default)]
    pub postgres: PostgresTable,
    /// The one user who may create the catalog's root over the service (`init`); without it,
    /// `init` is refused to everyone (the operator initialises the catalog on the server).
    #[serde(default)]
    pub admin: Option<String>,
    /// Groups given by the site, by certificate common name (added to the certificate's).
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<String>>,
    /// Disclosure control of the answers to callers who may only read (`[[disclosure]]`
    /// tables, see [`crate::disclosure`]).
    #[serde(default)]
    pub disclosure: Vec<Policy>,
    /// Most connections at once.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Most connections at once from one address.
    #[serde(default = "default_per_address")]
    pub max_connections_per_address: usize,
    /// Time for a handshake or a request to come in, milliseconds.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// Time an idle kept-alive connection is kept, milliseconds.
    #[serde(default = "default_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
}

fn default_max_connections() -> usize {
    64
}
fn default_per_address() -> usize {
    32
}
fn default_request_timeout_ms() -> u64 {
    10_000
}
fn default_idle_timeout_ms() -> u64 {
    30_000
}

fn config_error(path: &Path, field: &str, message: impl Into<String>) -> Error {
    Error::invalid(
        format!("catalog service configuration {}: {field}", path.display()),
        message,
    )
}

impl ServerSettings {
    /// Reads `path`; relative paths are taken from the file's folder. Errors name the file and
    /// the field.
    pub fn from_file(path: impl AsRef<Path>) -> Result<ServerSettings> {
        let path = path.as_ref();
        let (mut s, dir): (ServerSettings, _) = read_toml(path, "catalog service configuration")?;
        for p in [&mut s.cert, &mut s.key, &mut s.ca, &mut s.audit_log] {
            rebase(&dir, p);
        }
        let storage = match &mut s.storage {
            Storage::Sqlite(p) => Some(p),
            Storage::Postgres(_) => None,
        };
        for p in [
            s.crl.as_mut(),
            s.audit_key.as_mut(),
            storage,
            s.postgres.ca.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            rebase(&dir, p);
        }
        s.check(path)?;
        Ok(s)
    }

    /// Checks the values; errors name the field (`file` names the configuration's origin).
    pub fn check(&self, file: &Path) -> Result<()> {
        if !(1..=100_000).contains(&self.max_connections) {
            return Err(config_error(
                file,
                "max_connections",
                format!("{}; expected 1 to 100000", self.max_connections),
            ));
        }
        if !(1..=self.max_connections).contains(&self.max_connections_per_address) {
            return Err(config_error(
                file,
                "max_connections_per_address",
                format!(
                    "{}; expected 1 to max_connections ({})",
                    self.max_connections_per_address, self.max_connections
                ),
            ));
        }
        for (field, v) in [
            ("request_timeout_ms", self.request_timeout_ms),
            ("idle_timeout_ms", self.idle_timeout_ms),
        ] {
            if !(1..=3_600_000).contains(&v) {
                return Err(config_error(
                    file,
                    field,
                    format!("{v}; expected 1 to 3600000"),
                ));
            }
        }
        for p in &self.disclosure {
            p.validate()
                .map_err(|e| config_error(file, "disclosure", e.to_string()))?;
        }
        for (name, groups) in &self.groups {
            for g in std::iter::once(name).chain(groups) {
                if !hope_core::principal::is_valid_name(g) {
                    return Err(config_error(
                        file,
                        &format!("groups.{name}"),
                        format!("{g:?} is not a usable name"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Opens the catalog of [`ServerSettings::storage`].
    pub fn open_catalog(&self) -> Result<Catalog> {
        match &self.storage {
            Storage::Sqlite(p) => Catalog::open_sqlite(p),
            Storage::Postgres(url) => Catalog::open_postgres_with(
                url,
                &crate::backend::PostgresOptions {
                    ca: self.postgres.ca.clone(),
                    max_connections: self.postgres.max_connections,
                },
            ),
        }
    }
}

struct Shared {
    catalog: Catalog,
    admin: Option<String>,
    groups: BTreeMap<String, Vec<String>>,
    disclosure: Vec<Policy>,
    tls: MutualTls,
    audit: AuditLog,
    refusals: RefusalBudget,
    limits: Limits,
}

/// A bound catalog service, ready to [`serve`](CatalogServer::serve) or
/// [`spawn`](CatalogServer::spawn).
pub struct CatalogServer {
    service: Service,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for CatalogServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogServer")
            .field("listen", &self.service.local_addr().ok())
            .finish()
    }
}

fn service_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::invalid(format!("catalog service {what}"), e.to_string())
}

impl CatalogServer {
    /// Binds the service of `settings` to its catalog ([`ServerSettings::open_catalog`]).
    pub fn bind(settings: &ServerSettings) -> Result<CatalogServer> {
        CatalogServer::with_catalog(settings, settings.open_catalog()?)
    }

    /// Binds the service of `settings`, serving `catalog`.
    pub fn with_catalog(settings: &ServerSettings, catalog: Catalog) -> Result<CatalogServer> {
        let files = TlsFiles {
            cert: &settings.cert,
            key: &settings.key,
            ca: &settings.ca,
        };
        let tls = MutualTls::with_crl_state(
            &files,
            settings.crl.as_deref(),
            Some(&crl_state_path(&settings.audit_log)),
        )
        .map_err(|e| service_error("TLS", e))?;
        let key_path = settings
            .audit_key
            .clone()
            .unwrap_or_else(|| AuditKey::default_path(&settings.audit_log));
        let key = AuditKey::load_or_create(&key_path).map_err(|e| service_error("audit key", e))?;
        let audit =
            AuditLog::open(&settings.audit_log, key).map_err(|e| service_error("audit log", e))?;
        // The newest CRLs are on record in the audit log too: a lost state file cannot bring an
        // older one back.
        tls.adopt_audit_marks(&audit)
            .map_err(|e| service_error("CRL", e))?;
        let limits = Limits {
            max_connections: settings.max_connections,
            max_per_address: settings.max_connections_per_address,
            request_timeout: Duration::from_millis(settings.request_timeout_ms),
            idle_timeout: Duration::from_millis(settings.idle_timeout_ms),
        };
        let service = Service::bind(&settings.listen, limits)
            .map_err(|e| service_error("listen", format!("{}: {e}", settings.listen)))?;
        audit
            .append(Event::new("-", "start", "ok").detail(format!(
                "listening on {} ({} catalog)",
                settings.listen,
                catalog.backend_kind()
            )))
            .map_err(|e| service_error("audit log", e))?;
        Ok(CatalogServer {
            service,
            shared: Arc::new(Shared {
                catalog,
                admin: settings.admin.clone(),
                groups: settings.groups.clone(),
                disclosure: settings.disclosure.clone(),
                tls,
                audit,
                refusals: RefusalBudget::new(),
                limits,
            }),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.service
            .local_addr()
            .map_err(|e| service_error("listen", e))
    }

    /// Serves connections until the process ends.
    pub fn serve(self) {
        self.service.serve_audited(self.shared);
    }

    /// Serves on a background thread; dropping the handle (or
    /// [`ServiceHandle::shutdown`]) stops it.
    pub fn spawn(self) -> Result<ServiceHandle> {
        self.service
            .spawn_audited(self.shared)
            .map_err(|e| service_error("listen", e))
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
        session.serve(stream, activity, |who, request| self.handle(who, request));
    }
}

/// The most rows of an answer (the service stops reading the catalog after one more).
pub const MAX_ANSWER_ROWS: u64 = 100_000;

/// At most this much of a collection path goes into an audit line.
const AUDITED_PATH: usize = 256;

fn request_id() -> String {
    let mut b = [0u8; 8];
    match hope_service::error::random_fill(&mut b) {
        Ok(()) => b.iter().map(|x| format!("{x:02x}")).collect(),
        Err(_) => "unknown".into(),
    }
}

/// An error answer. Only denials and requests for what does not exist (or may not be seen)
/// count against the caller's refusal budget: a query error or a concurrent change is no probe.
fn error_reply(status: u16, error: WireError) -> Reply {
    let body = serde_json::to_vec(&ErrorBody { error }).unwrap_or_else(json_error);
    let mut reply = Reply::new(status, body);
    reply.refused = matches!(status, 403 | 404 | 413);
    reply
}

impl Shared {
    /// The caller: the certificate's principal and the groups the site gives its name.
    fn caller(&self, cert: &Principal) -> Principal {
        let mut who = cert.clone();
        if let Some(extra) = self.groups.get(&who.name) {
            for g in extra {
                if !who.groups.contains(g) {
                    who.groups.push(g.clone());
                }
            }
        }
        who
    }

    fn handle(&self, cert: &Principal, request: &Request) -> Reply {
        let id = request_id();
        let who = self.caller(cert);
        if request.method != "POST" || request.path != CALL_PATH {
            let _ = self.audit.append_limited(
                "bad-request",
                Event::new(who.name.clone(), "request", "refused")
                    .detail(format!("request {id}: not POST {CALL_PATH}")),
            );
            let mut reply = Reply::new(404, json_error(format!("expected POST {CALL_PATH}")));
            reply.refused = true;
            return reply;
        }
        let call: Call = match serde_json::from_slice(&request.body) {
            Ok(c) => c,
            Err(e) => {
                let _ = self.audit.append_limited(
                    "bad-request",
                    Event::new(who.name.clone(), "request", "refused")
                        .detail(format!("request {id}: not a catalog call")),
                );
                return error_reply(
                    400,
                    WireError::Invalid {
                        what: "request".into(),
                        message: format!("not a catalog call: {e}"),
                    },
                );
            }
        };
        let target: String = call
            .path()
            .unwrap_or("-")
            .chars()
            .take(AUDITED_PATH)
            .collect();
        let action = call.name();
        let mut about = call.detail();
        if let Call::Query { text, .. } | Call::QueryRecursive { text, .. } = &call {
            // The query's shape, its values left out.
            let shape = query::parse(text)
                .map_or_else(|_| "(does not parse)".into(), |q| disclosure::shape(&q));
            about = format!("query: {shape}");
        }
        let target = if about.is_empty() {
            target
        } else {
            format!("{target} {about}")
        };
        // Fail closed: a change is on record before it is made.
        if !call.is_read()
            && self
                .audit
                .append(
                    Event::new(who.name.clone(), action, "requested")
                        .detail(format!("request {id}: {target}")),
                )
                .is_err()
        {
            return error_reply(
                503,
                WireError::Server {
                    message: format!("the audit log cannot be written (request {id}): refused"),
                },
            );
        }
        let call_changes = !call.is_read();
        // What the handling adds to the audit line (the cells suppressed).
        let mut note = String::new();
        let outcome = self.execute(&who, call, &mut note);
        let (reply, result, detail) = match outcome {
            Ok(body) if body.len() > MAX_BODY => (
                error_reply(
                    413,
                    WireError::Invalid {
                        what: "answer".into(),
                        message: format!(
                            "{} bytes, more than the {MAX_BODY} an answer may carry: narrow the query or page it with limit and offset",
                            body.len()
                        ),
                    },
                ),
                "too-large",
                String::new(),
            ),
            Ok(body) => (Reply::new(200, body), "ok", String::new()),
            Err(e) => {
                let (status, wire) = WireError::from_error(&e, &id);
                let result = match &wire {
                    WireError::AccessDenied { .. } => "denied",
                    WireError::Server { .. } => "error",
                    _ => "refused",
                };
                // The cause of a server error stays here, under the request's id.
                let detail = if status >= 500 {
                    format!(": {e}")
                } else {
                    String::new()
                };
                (error_reply(status, wire), result, detail)
            }
        };
        let recorded = self.audit.append(
            Event::new(who.name.clone(), action, result)
                .detail(format!("request {id}: {target}{detail}{note}")),
        );
        if recorded.is_err() {
            let message = if call_changes {
                format!(
                    "the audit log could not record the outcome (request {id}): the change may have been made"
                )
            } else {
                format!("the audit log cannot be written (request {id}): refused")
            };
            return error_reply(503, WireError::Server { message });
        }
        reply
    }

    /// The disclosure rules for `who` on `path` (and below, with `below`): none where no policy
    /// applies, nor for the administrators of the collection itself (its custodians) when
    /// `below` is false. (Second attack round: write on a query's root exempted a whole subtree,
    /// where a collection below could grant only read; and a replicating principal with write
    /// copied an aggregate-only collection's rows to a catalog without its rules.)
    fn rules(&self, who: &Principal, path: &str, below: bool) -> Result<Option<Rules>> {
        if self.disclosure.is_empty() {
            return Ok(None);
        }
        let path = CollectionPath::parse(path)?;
        let Some(rules) = disclosure::rules_for(&self.disclosure, &path, below) else {
            return Ok(None);
        };
        if !below && self.catalog.permission(who, &path)? >= Some(Permission::Admin) {
            return Ok(None);
        }
        Ok(Some(rules))
    }

    /// Refuses row-level reads of an aggregate-only collection.
    fn row_level(&self, who: &Principal, path: &str) -> Result<()> {
        match self.rules(who, path, false)? {
            Some(r) if r.aggregate_only => Err(Error::invalid(
                "read (the site's disclosure policy)",
                format!("{path} gives aggregates only"),
            )),
            _ => Ok(()),
        }
    }

    /// A query, under the site's disclosure rules where they apply (`note` gets the cells
    /// suppressed).
    fn query(
        &self,
        who: &Principal,
        path: &str,
        text: &str,
        recursive: bool,
        note: &mut String,
    ) -> Result<crate::QueryResult> {
        let cat = &self.catalog;
        let run = |text: &str| {
            let r = cat.query_capped(who, path, text, recursive, Some(MAX_ANSWER_ROWS))?;
            if r.rows.len() as u64 > MAX_ANSWER_ROWS {
                return Err(Error::invalid(
                    "answer",
                    format!(
                        "more than {MAX_ANSWER_ROWS} rows: narrow the query or page it with limit and offset"
                    ),
                ));
            }
            Ok(r)
        };
        let Some(rules) = self.rules(who, path, recursive)? else {
            return run(text);
        };
        if recursive {
            // (Its totals would not be those of the collections the query used.)
            return Err(Error::invalid(
                "query (the site's disclosure policy)",
                "recursive queries reach collections under disclosure rules: ask each collection",
            ));
        }
        let q = query::parse(text)?;
        disclosure::check(&rules, &q)?;
        let mut result = run(text)?;
        // The collections' sizes, for the complement rule.
        let totals = run("select count(*)")?;
        let by_collection: BTreeMap<String, u64> = match totals.columns.first() {
            Some(c) if c == "collection" => totals
                .rows
                .iter()
                .filter_map(|r| match (&r[0], &r[1]) {
                    (crate::Value::Text(c), crate::Value::Int(n)) => Some((c.clone(), *n as u64)),
                    _ => None,
                })
                .collect(),
            _ => BTreeMap::new(),
        };
        let single = match (totals.columns.len(), totals.rows.first().map(|r| &r[0])) {
            (1, Some(crate::Value::Int(n))) => Some(*n as u64),
            _ => None,
        };
        let suppressed = disclosure::protect(&rules, &q, &mut result, &|c| match c {
            Some(c) => by_collection.get(c).copied(),
            None => single,
        });
        *note = format!("; {suppressed} cells suppressed");
        Ok(result)
    }

    fn execute(&self, who: &Principal, call: Call, note: &mut String) -> Result<Vec<u8>> {
        let cat = &self.catalog;
        fn json<T: serde::Serialize>(v: T) -> Result<Vec<u8>> {
            serde_json::to_vec(&v).map_err(|e| Error::Backend {
                backend: "service",
                message: format!("cannot encode the answer: {e}"),
                source: None,
            })
        }
        match call {
            Call::Whoami => json(Whoami {
                name: who.name.clone(),
                groups: who.groups.clone(),
            }),
            Call::Permission { path } => json(cat.permission(who, &path)?),
            // (Attack round on issue 21: on a fresh service whoever called first owned `/`.)
            Call::Init if self.admin.as_deref() == Some(who.name.as_str()) => json(cat.init(who)?),
            Call::Init => Err(Error::AccessDenied {
                principal: who.name.clone(),
                action: "admin",
                path: "/".into(),
            }),
            Call::Mkdir { path } => json(cat.mkdir(who, &path)?),
            Call::MkdirAll { path } => json(cat.mkdir_all(who, &path)?),
            Call::Rmdir { path } => json(cat.rmdir(who, &path)?),
            Call::List { path } => json(cat.list(who, &path)?),
            Call::Schema { path } => json(cat.schema(who, &path)?),
            Call::AddAttribute { path, attribute } => {
                json(cat.add_attribute(who, &path, attribute)?)
            }
            Call::DropAttribute { path, name } => json(cat.drop_attribute(who, &path, &name)?),
            Call::AddMany { path, entries } => json(cat.add_many(who, &path, entries)?),
            Call::Get { path, name } => {
                self.row_level(who, &path)?;
                json(cat.get(who, &path, &name)?)
            }
            Call::UpdateIf {
                path,
                name,
                expected,
                values,
            } => json(
                cat.update_with(who, &path, &name, |current| match &expected {
                    Some(e) if e != current => Err(Error::Conflict(format!(
                        "entry {name} in {path} changed since it was read"
                    ))),
                    _ => Ok(values.clone()),
                })?,
            ),
            Call::Remove { path, name } => json(cat.remove(who, &path, &name)?),
            Call::Query { path, text } => json(self.query(who, &path, &text, false, note)?),
            Call::QueryRecursive { path, text } => json(self.query(who, &path, &text, true, note)?),
            Call::Count { path } => {
                let n = cat.count(who, &path)?;
                match self.rules(who, &path, false)? {
                    Some(r) if n < r.min_cell => Err(Error::invalid(
                        "count (the site's disclosure policy)",
                        format!("fewer than {} entries: suppressed", r.min_cell),
                    )),
                    Some(Rules {
                        round_to: Some(to), ..
                    }) => json((n + to / 2) / to * to),
                    _ => json(n),
                }
            }
            Call::Permissions { path } => json(cat.permissions(who, &path)?),
            Call::SetPermissions { path, permissions } => {
                json(cat.set_permissions(who, &path, permissions)?)
            }
            Call::Grant {
                path,
                subject,
                permission,
            } => json(cat.grant(who, &path, subject, permission)?),
            Call::Annotate {
                path,
                entry,
                annotation,
            } => json(cat.annotate(who, &path, entry.as_deref(), annotation)?),
            Call::Annotations { path, entry } => {
                if entry.is_some() {
                    self.row_level(who, &path)?;
                }
                json(cat.annotations(who, &path, entry.as_deref())?)
            }
            Call::AuditLog { limit } => json(cat.audit_log(who, limit.min(100_000))?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AttrType, Attribute};

    /// The audit log fails closed: with a log that cannot be written, a change is refused before
    /// it is made, and a read gives nothing out.
    #[test]
    fn requests_are_refused_when_the_audit_log_cannot_be_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut pki = hope_crypto::pki::TestPki::new("CA").unwrap();
        std::fs::write(dir.path().join("ca.pem"), pki.ca_pem()).unwrap();
        let (cert, key) = pki
            .issue_server(&["localhost"])
            .unwrap()
            .write(dir.path(), "server")
            .unwrap();
        let ca = dir.path().join("ca.pem");
        let tls = MutualTls::new(
            &TlsFiles {
                cert: &cert,
                key: &key,
                ca: &ca,
            },
            None,
        )
        .unwrap();
        let catalog = Catalog::in_memory();
        let admin = Principal::user("admin");
        catalog.init(&admin).unwrap();
        catalog.mkdir(&admin, "/s").unwrap();
        catalog
            .add_attribute(&admin, "/s", Attribute::new("A", AttrType::Int))
            .unwrap();
        let shared = Shared {
            catalog,
            admin: None,
            groups: BTreeMap::new(),
            disclosure: Vec::new(),
            tls,
            audit: AuditLog::unwritable_for_tests(dir.path().join("broken.jsonl")),
            refusals: RefusalBudget::new(),
            limits: Limits::new(),
        };
        let request = |call: &Call| Request {
            method: "POST".into(),
            path: CALL_PATH.into(),
            body: serde_json::to_vec(call).unwrap().into(),
            keep_alive: true,
        };
        let reply = shared.handle(&admin, &request(&Call::Mkdir { path: "/t".into() }));
        assert_eq!(reply.status, 503);
        assert!(String::from_utf8_lossy(&reply.body).contains("audit log"));
        assert!(
            shared
                .catalog
                .list(&admin, "/")
                .unwrap()
                .iter()
                .all(|p| p.as_str() != "/t"),
            "the change was made"
        );
        let reply = shared.handle(&admin, &request(&Call::Count { path: "/s".into() }));
        assert_eq!(reply.status, 503);
        assert!(!String::from_utf8_lossy(&reply.body).contains("\"0\""));
    }
}
