//! Storage back-ends behind one object-safe, synchronous trait.
//!
//! The [`crate::Catalog`] checks names, values, queries and permissions; a back-end stores and
//! retrieves. [`MemoryBackend`] is the reference implementation; [`SqliteBackend`] (the embedded
//! default) and [`PostgresBackend`] translate checked queries into parameterised SQL. One conformance
//! suite (`tests/conformance.rs`) runs against all three.

mod memory;
mod pool;
mod postgres;
mod sql;
mod sqlite;

pub use memory::MemoryBackend;
pub use postgres::{PostgresBackend, PostgresOptions};
pub use sqlite::SqliteBackend;

use crate::Result;
use crate::acl::Permissions;
use crate::path::CollectionPath;
use crate::query::Checked;
use crate::schema::{Attribute, Entry, Schema};
use crate::value::Value;

/// A collection as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionRecord {
    /// Back-end identifier.
    pub id: i64,
    /// Path.
    pub path: CollectionPath,
    /// Schema.
    pub schema: Schema,
    /// Permissions.
    pub permissions: Permissions,
}

/// What an annotation is attached to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A collection.
    Collection(i64),
    /// An entry of a collection.
    Entry(i64, String),
}

impl Target {
    /// The collection id and, for an entry, its name (as the SQL back-ends store them).
    pub(crate) fn parts(&self) -> (i64, Option<String>) {
        match self {
            Target::Collection(id) => (*id, None),
            Target::Entry(id, name) => (*id, Some(name.clone())),
        }
    }
}

/// A free attribute/value/unit annotation (iRODS AVU style).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Annotation {
    /// Attribute.
    pub attribute: String,
    /// Value.
    pub value: String,
    /// Unit (may be empty).
    #[serde(default)]
    pub unit: String,
}

/// One audit record: a write or a denied access.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditRecord {
    /// Microseconds since the epoch.
    pub time_us: i64,
    /// Who.
    pub principal: String,
    /// What (`mkdir`, `add`, `query`...).
    pub action: String,
    /// Which collection (and entry).
    pub target: String,
    /// `ok` or `denied`.
    pub result: String,
    /// Free detail (never PHI: counts and attribute names only).
    pub detail: String,
}

/// The result of a query: column names and rows.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QueryResult {
    /// Column names (`collection` first for queries over several collections).
    pub columns: Vec<String>,
    /// Rows, one value per column.
    pub rows: Vec<Vec<Value>>,
}

/// A change made by [`Backend::update_entry`]'s closure: new values by attribute.
pub type Changes = Vec<(String, Value)>;

/// Storage for a catalog. Implementations must be safe for concurrent use from many threads and,
/// for the SQL back-ends, from many processes.
pub trait Backend: Send + Sync {
    /// `memory`, `sqlite` or `postgres`.
    fn kind(&self) -> &'static str;

    /// The collection at `path`.
    fn collection(&self, path: &CollectionPath) -> Result<Option<CollectionRecord>>;
    /// The collection at `path` followed by those of its ancestors that exist, nearest first
    /// (one round trip in the SQL back-ends: permission checks run on every operation).
    fn lineage(&self, path: &CollectionPath) -> Result<Vec<CollectionRecord>> {
        let mut out = Vec::new();
        for p in path.ancestry() {
            if let Some(r) = self.collection(&p)? {
                out.push(r);
            }
        }
        Ok(out)
    }
    /// Collections directly below `id`.
    fn children(&self, id: i64) -> Result<Vec<CollectionRecord>>;
    /// Every collection at or below `path`.
    fn subtree(&self, path: &CollectionPath) -> Result<Vec<CollectionRecord>>;
    /// Creates a collection with an empty schema (the parent must exist, except for `/`).
    fn create_collection(
        &self,
        path: &CollectionPath,
        permissions: &Permissions,
    ) -> Result<CollectionRecord>;
    /// Removes an empty collection (no children) with its entries and annotations.
    fn remove_collection(&self, c: &CollectionRecord) -> Result<()>;
    /// Replaces the permissions.
    fn set_permissions(&self, c: &CollectionRecord, permissions: &Permissions) -> Result<()>;
    /// Adds an attribute (existing entries get null).
    fn add_attribute(&self, c: &CollectionRecord, attr: &Attribute) -> Result<()>;
    /// Drops an attribute and its values.
    fn drop_attribute(&self, c: &CollectionRecord, name: &str) -> Result<()>;

    /// Inserts checked entries, all or none (one transaction).
    fn insert(&self, c: &CollectionRecord, entries: &[Entry]) -> Result<()>;
    /// Reads an entry.
    fn get(&self, c: &CollectionRecord, name: &str) -> Result<Option<Entry>>;
    /// Atomically reads an entry, computes changes from it and writes them (no lost update under
    /// concurrent writers). The changes are checked by the caller's closure.
    fn update_entry(
        &self,
        c: &CollectionRecord,
        name: &str,
        change: &mut dyn FnMut(&Entry) -> Result<Changes>,
    ) -> Result<()>;
    /// Deletes an entry; false when there was none.
    fn delete_entry(&self, c: &CollectionRecord, name: &str) -> Result<bool>;
    /// Number of entries.
    fn count(&self, c: &CollectionRecord) -> Result<u64>;
    /// Runs a checked query over one or more collections that all have the attributes it needs.
    /// With more than one collection, a `collection` column comes first.
    fn query(&self, collections: &[CollectionRecord], q: &Checked) -> Result<QueryResult>;

    /// Adds an annotation.
    fn annotate(&self, target: &Target, a: &Annotation) -> Result<()>;
    /// The annotations of a target.
    fn annotations(&self, target: &Target) -> Result<Vec<Annotation>>;

    /// Appends an audit record.
    fn audit(&self, r: &AuditRecord) -> Result<()>;
    /// The newest audit records, newest first.
    fn audit_log(&self, limit: usize) -> Result<Vec<AuditRecord>>;
}

/// The back-end of a catalog on a service: every operation goes to the service, so anything
/// that reaches this back-end is a mistake, refused.
#[cfg(feature = "client")]
pub(crate) struct NoBackend;

#[cfg(feature = "client")]
fn no_backend<T>() -> Result<T> {
    Err(crate::Error::Backend {
        backend: "remote",
        message: "a catalog on a service has no local storage".into(),
        source: None,
    })
}

#[cfg(feature = "client")]
impl Backend for NoBackend {
    fn kind(&self) -> &'static str {
        "remote"
    }
    fn collection(&self, _: &CollectionPath) -> Result<Option<CollectionRecord>> {
        no_backend()
    }
    fn children(&self, _: i64) -> Result<Vec<CollectionRecord>> {
        no_backend()
    }
    fn subtree(&self, _: &CollectionPath) -> Result<Vec<CollectionRecord>> {
        no_backend()
    }
    fn create_collection(&self, _: &CollectionPath, _: &Permissions) -> Result<CollectionRecord> {
        no_backend()
    }
    fn remove_collection(&self, _: &CollectionRecord) -> Result<()> {
        no_backend()
    }
    fn set_permissions(&self, _: &CollectionRecord, _: &Permissions) -> Result<()> {
        no_backend()
    }
    fn add_attribute(&self, _: &CollectionRecord, _: &Attribute) -> Result<()> {
        no_backend()
    }
    fn drop_attribute(&self, _: &CollectionRecord, _: &str) -> Result<()> {
        no_backend()
    }
    fn insert(&self, _: &CollectionRecord, _: &[Entry]) -> Result<()> {
        no_backend()
    }
    fn get(&self, _: &CollectionRecord, _: &str) -> Result<Option<Entry>> {
        no_backend()
    }
    fn update_entry(
        &self,
        _: &CollectionRecord,
        _: &str,
        _: &mut dyn FnMut(&Entry) -> Result<Changes>,
    ) -> Result<()> {
        no_backend()
    }
    fn delete_entry(&self, _: &CollectionRecord, _: &str) -> Result<bool> {
        no_backend()
    }
    fn count(&self, _: &CollectionRecord) -> Result<u64> {
        no_backend()
    }
    fn query(&self, _: &[CollectionRecord], _: &Checked) -> Result<QueryResult> {
        no_backend()
    }
    fn annotate(&self, _: &Target, _: &Annotation) -> Result<()> {
        no_backend()
    }
    fn annotations(&self, _: &Target) -> Result<Vec<Annotation>> {
        no_backend()
    }
    fn audit(&self, _: &AuditRecord) -> Result<()> {
        no_backend()
    }
    fn audit_log(&self, _: usize) -> Result<Vec<AuditRecord>> {
        no_backend()
    }
}
