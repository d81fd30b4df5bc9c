//! The catalog as a service: the wire format that `server` (feature `server`) and `client`
//! (feature `client`) share.
//!
//! One request per call: `POST /v1/catalog` with a JSON [`Call`]; the answer is `200` with the
//! call's result as JSON, or an error status with `{"error": {"kind": ..., ...}}`
//! ([`WireError`]), which the client turns back into the [`Error`] the local catalog would have
//! returned. Who calls is never part of a call: the server takes it from the verified client
//! certificate.

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "client")]
pub mod federation;
#[cfg(feature = "server")]
pub mod server;

use crate::Error;
use crate::acl::{Permission, Permissions, Subject};
use crate::backend::Annotation;
use crate::path::CollectionPath;
use crate::schema::{Attribute, Entry};
use crate::value::Value;

/// The path of every call.
pub const CALL_PATH: &str = "/v1/catalog";

/// One operation of [`crate::Catalog`], as sent to a catalog service.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
// Each field is the argument of that name of the method the variant names.
#[allow(missing_docs)]
pub enum Call {
    /// The caller as the server sees it (name and groups).
    Whoami,
    /// [`crate::Catalog::permission`].
    Permission { path: CollectionPath },
    /// [`crate::Catalog::init`].
    Init,
    /// [`crate::Catalog::mkdir`].
    Mkdir { path: String },
    /// [`crate::Catalog::mkdir_all`].
    MkdirAll { path: String },
    /// [`crate::Catalog::rmdir`].
    Rmdir { path: String },
    /// [`crate::Catalog::list`].
    List { path: String },
    /// [`crate::Catalog::schema`].
    Schema { path: String },
    /// [`crate::Catalog::add_attribute`].
    AddAttribute { path: String, attribute: Attribute },
    /// [`crate::Catalog::drop_attribute`].
    DropAttribute { path: String, name: String },
    /// [`crate::Catalog::add_many`] (one transaction per call).
    AddMany { path: String, entries: Vec<Entry> },
    /// [`crate::Catalog::get`].
    Get { path: String, name: String },
    /// Sets values of an entry if it still equals `expected` (else a conflict): what
    /// [`crate::Catalog::update_with`] does over the network, retried on conflict.
    UpdateIf {
        path: String,
        name: String,
        expected: Option<Entry>,
        values: Vec<(String, Value)>,
    },
    /// [`crate::Catalog::remove`].
    Remove { path: String, name: String },
    /// [`crate::Catalog::query`].
    Query { path: String, text: String },
    /// [`crate::Catalog::query_recursive`].
    QueryRecursive { path: String, text: String },
    /// [`crate::Catalog::count`].
    Count { path: String },
    /// [`crate::Catalog::permissions`].
    Permissions { path: String },
    /// [`crate::Catalog::set_permissions`].
    SetPermissions {
        path: String,
        permissions: Permissions,
    },
    /// [`crate::Catalog::grant`].
    Grant {
        path: String,
        subject: Subject,
        permission: Option<Permission>,
    },
    /// [`crate::Catalog::annotate`].
    Annotate {
        path: String,
        entry: Option<String>,
        annotation: Annotation,
    },
    /// [`crate::Catalog::annotations`].
    Annotations { path: String, entry: Option<String> },
    /// [`crate::Catalog::audit_log`].
    AuditLog { limit: usize },
}

impl Call {
    /// The operation's name (as audited).
    pub fn name(&self) -> &'static str {
        match self {
            Call::Whoami => "whoami",
            Call::Permission { .. } => "permission",
            Call::Init => "init",
            Call::Mkdir { .. } => "mkdir",
            Call::MkdirAll { .. } => "mkdir_all",
            Call::Rmdir { .. } => "rmdir",
            Call::List { .. } => "list",
            Call::Schema { .. } => "schema",
            Call::AddAttribute { .. } => "add_attribute",
            Call::DropAttribute { .. } => "drop_attribute",
            Call::AddMany { .. } => "add_many",
            Call::Get { .. } => "get",
            Call::UpdateIf { .. } => "update",
            Call::Remove { .. } => "remove",
            Call::Query { .. } => "query",
            Call::QueryRecursive { .. } => "query_recursive",
            Call::Count { .. } => "count",
            Call::Permissions { .. } => "permissions",
            Call::SetPermissions { .. } => "set_permissions",
            Call::Grant { .. } => "grant",
            Call::Annotate { .. } => "annotate",
            Call::Annotations { .. } => "annotations",
            Call::AuditLog { .. } => "audit_log",
        }
    }

    /// The collection the call is about (for the audit log), if any.
    pub fn path(&self) -> Option<&str> {
        match self {
            Call::Whoami | Call::Init | Call::AuditLog { .. } => None,
            Call::Permission { path } => Some(path.as_str()),
            Call::Mkdir { path }
            | Call::MkdirAll { path }
            | Call::Rmdir { path }
            | Call::List { path }
            | Call::Schema { path }
            | Call::AddAttribute { path, .. }
            | Call::DropAttribute { path, .. }
            | Call::AddMany { path, .. }
            | Call::Get { path, .. }
            | Call::UpdateIf { path, .. }
            | Call::Remove { path, .. }
            | Call::Query { path, .. }
            | Call::QueryRecursive { path, .. }
            | Call::Count { path }
            | Call::Permissions { path }
            | Call::SetPermissions { path, .. }
            | Call::Grant { path, .. }
            | Call::Annotate { path, .. }
            | Call::Annotations { path, .. } => Some(path),
        }
    }

    /// What the audit line says of the call besides its operation and collection: the entry,
    /// attribute or subject it is about (at most 256 characters; no values, no query text).
    pub fn detail(&self) -> String {
        let d = match self {
            Call::Get { name, .. } | Call::Remove { name, .. } | Call::UpdateIf { name, .. } => {
                format!("entry {name}")
            }
            Call::Annotate { entry: Some(e), .. } | Call::Annotations { entry: Some(e), .. } => {
                format!("entry {e}")
            }
            Call::AddAttribute { attribute, .. } => format!("attribute {}", attribute.name),
            Call::DropAttribute { name, .. } => format!("attribute {name}"),
            Call::AddMany { entries, .. } => format!("{} entries", entries.len()),
            Call::Grant {
                subject,
                permission,
                ..
            } => format!("{subject} {}", permission.map_or("none", |p| p.name())),
            Call::SetPermissions { permissions, .. } => format!(
                "owner {} group {}",
                permissions.owner,
                permissions.group.as_deref().unwrap_or("-")
            ),
            Call::AuditLog { limit } => format!("limit {limit}"),
            _ => String::new(),
        };
        d.chars().take(256).collect()
    }

    /// Whether the call changes nothing (so a client may repeat it after a lost connection).
    pub fn is_read(&self) -> bool {
        matches!(
            self,
            Call::Whoami
                | Call::Permission { .. }
                | Call::List { .. }
                | Call::Schema { .. }
                | Call::Get { .. }
                | Call::Query { .. }
                | Call::QueryRecursive { .. }
                | Call::Count { .. }
                | Call::Permissions { .. }
                | Call::Annotations { .. }
                | Call::AuditLog { .. }
        )
    }
}

/// An error as a catalog service reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
// Each field is that of the [`Error`] variant of the same name.
#[allow(missing_docs)]
pub enum WireError {
    /// [`Error::Query`].
    Query {
        query: String,
        position: usize,
        message: String,
    },
    /// [`Error::Invalid`].
    Invalid { what: String, message: String },
    /// [`Error::AccessDenied`].
    AccessDenied {
        principal: String,
        action: String,
        path: String,
    },
    /// [`Error::NotFound`].
    NotFound { message: String },
    /// [`Error::AlreadyExists`].
    AlreadyExists { message: String },
    /// [`Error::Conflict`].
    Conflict { message: String },
    /// Anything else: the service failed (the details stay in its logs).
    Server { message: String },
}

impl WireError {
    /// What the service tells a client about `e`, and the HTTP status. A back-end failure is
    /// reported without its details (they may name files, tables or other users' data); the
    /// server's logs have them under `request`.
    pub fn from_error(e: &Error, request: &str) -> (u16, WireError) {
        match e {
            Error::Query {
                query,
                position,
                message,
            } => (
                400,
                WireError::Query {
                    query: query.clone(),
                    position: *position,
                    message: message.clone(),
                },
            ),
            Error::Invalid { what, message } => (
                400,
                WireError::Invalid {
                    what: what.clone(),
                    message: message.clone(),
                },
            ),
            Error::AccessDenied {
                principal,
                action,
                path,
            } => (
                403,
                WireError::AccessDenied {
                    principal: principal.clone(),
                    action: (*action).to_string(),
                    path: path.clone(),
                },
            ),
            Error::NotFound(m) => (404, WireError::NotFound { message: m.clone() }),
            Error::AlreadyExists(m) => (409, WireError::AlreadyExists { message: m.clone() }),
            Error::Conflict(m) => (409, WireError::Conflict { message: m.clone() }),
            _ => (
                500,
                WireError::Server {
                    message: format!(
                        "the catalog service failed (request {request}); its operators find the cause in its audit log"
                    ),
                },
            ),
        }
    }

    /// The error the local catalog would have returned (a service failure as
    /// [`Error::Remote`] naming `server`).
    pub fn into_error(self, server: &str, status: u16) -> Error {
        match self {
            WireError::Query {
                query,
                position,
                message,
            } => Error::Query {
                // (A position past the text would make the caret line absurd.)
                position: position.min(query.len()),
                query,
                message,
            },
            WireError::Invalid { what, message } => Error::Invalid { what, message },
            WireError::AccessDenied {
                principal,
                action,
                path,
            } => Error::AccessDenied {
                principal,
                action: match action.as_str() {
                    "read" => "read",
                    "write" => "write",
                    "admin" => "admin",
                    _ => "access",
                },
                path,
            },
            WireError::NotFound { message } => Error::NotFound(message),
            WireError::AlreadyExists { message } => Error::AlreadyExists(message),
            WireError::Conflict { message } => Error::Conflict(message),
            WireError::Server { message } => Error::Remote {
                server: server.to_string(),
                status: Some(status),
                message,
            },
        }
    }
}

/// Reads the TOML file `path` (at most 1 MiB) as a `T`; returns it with the file's folder, from
/// which its relative paths are taken ([`rebase`]). Errors name `what` and the file.
#[cfg(any(feature = "client", feature = "server"))]
pub(crate) fn read_toml<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
    what: &str,
) -> crate::Result<(T, std::path::PathBuf)> {
    let bad = |message: String| Error::invalid(format!("{what} {}", path.display()), message);
    let bytes = hope_core::fs::read_bounded(path, 1024 * 1024).map_err(|e| bad(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|_| bad("not UTF-8 text".into()))?;
    let value = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let dir = path
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .to_path_buf();
    Ok((value, dir))
}

/// `p` taken from `dir` when it is relative.
#[cfg(any(feature = "client", feature = "server"))]
pub(crate) fn rebase(dir: &std::path::Path, p: &mut std::path::PathBuf) {
    if p.is_relative() {
        *p = dir.join(&*p);
    }
}

/// The body of an error answer.
#[cfg(any(feature = "client", feature = "server"))]
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct ErrorBody {
    pub(crate) error: WireError,
}

/// The answer to [`Call::Whoami`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Whoami {
    /// The name (the certificate's common name).
    pub name: String,
    /// The groups (the certificate's organisational units and the site's mapping).
    pub groups: Vec<String>,
}
