//! The catalog: names, values, queries and permissions checked on every operation, over any
//! [`Backend`].

use std::time::{SystemTime, UNIX_EPOCH};

use crate::acl::{AclEntry, Permission, Permissions, Principal, Subject, effective};
use crate::backend::{
    Annotation, AuditRecord, Backend, CollectionRecord, MemoryBackend, PostgresBackend,
    QueryResult, SqliteBackend, Target,
};
use crate::path::CollectionPath;
use crate::query::{self, Checked};
#[cfg(feature = "client")]
use crate::remote::Call;
use crate::schema::{Attribute, Entry, Schema, check_entry_name};
use crate::value::Value;
use crate::{Error, Result};

/// A metadata catalog: a tree of collections with typed schemas, entries, annotations,
/// permissions and an audit trail of writes and denied accesses.
///
/// ```
/// use hope_catalog::{AttrType, Attribute, Catalog, Entry, Principal, Value};
///
/// let cat = Catalog::in_memory();
/// let admin = Principal::user("admin");
/// cat.init(&admin)?;
/// cat.mkdir(&admin, "/studies")?;
/// cat.add_attribute(&admin, "/studies", Attribute::new("Modality", AttrType::Text).indexed())?;
/// cat.add(&admin, "/studies", Entry::new("s1").with("Modality", Value::Text("CT".into())))?;
/// let rows = cat.query(&admin, "/studies", "Modality = 'CT'")?;
/// assert_eq!(rows.rows.len(), 1);
/// // Nobody else may read it.
/// assert!(cat.query(&Principal::user("eve"), "/studies", "Modality = 'CT'").is_err());
/// # Ok::<(), hope_catalog::Error>(())
/// ```
pub struct Catalog {
    backend: Box<dyn Backend>,
    /// A catalog on a service: every operation goes there (the back-end is then
    /// [`NoBackend`], which refuses everything).
    #[cfg(feature = "client")]
    remote: Option<crate::remote::client::Remote>,
}

/// Sends the call to the service when the catalog is on one.
macro_rules! remote {
    ($self:ident, $who:expr, $call:expr) => {
        #[cfg(feature = "client")]
        if let Some(r) = &$self.remote {
            return r.call($who, &$call);
        }
    };
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("backend", &self.backend.kind())
            .finish()
    }
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// What [`Catalog::init`] found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Initialised {
    /// The root was created, owned by the caller.
    Created,
    /// The catalog already had a root, owned by `owner`: nothing changed.
    Existing {
        /// The root's owner.
        owner: String,
    },
}

impl Catalog {
    /// A catalog over any back-end.
    pub fn new(backend: impl Backend + 'static) -> Catalog {
        Catalog {
            backend: Box::new(backend),
            #[cfg(feature = "client")]
            remote: None,
        }
    }

    #[cfg(feature = "client")]
    pub(crate) fn remote(remote: crate::remote::client::Remote) -> Catalog {
        Catalog {
            backend: Box::new(crate::backend::NoBackend),
            remote: Some(remote),
        }
    }

    #[cfg(feature = "client")]
    pub(crate) fn remote_ref(&self) -> Option<&crate::remote::client::Remote> {
        self.remote.as_ref()
    }

    /// The service this catalog is on (`host:port`), if it is on one.
    pub fn server(&self) -> Option<&str> {
        #[cfg(feature = "client")]
        if let Some(r) = &self.remote {
            return Some(r.server());
        }
        None
    }

    /// The identities a catalog on a service can call as (those of its certificates); empty
    /// for a local catalog, which takes any principal at its word.
    pub fn identities(&self) -> Vec<Principal> {
        #[cfg(feature = "client")]
        if let Some(r) = &self.remote {
            return r.identities();
        }
        Vec::new()
    }

    /// A catalog held in memory.
    pub fn in_memory() -> Catalog {
        Catalog::new(MemoryBackend::new())
    }

    /// A catalog in an SQLite file (created if needed): the embedded default.
    pub fn open_sqlite(path: impl AsRef<std::path::Path>) -> Result<Catalog> {
        Ok(Catalog::new(SqliteBackend::open(path)?))
    }

    /// A catalog in a PostgreSQL database.
    pub fn open_postgres(url: &str) -> Result<Catalog> {
        Ok(Catalog::new(PostgresBackend::connect(url)?))
    }

    /// A catalog in a PostgreSQL database, over TLS verified against a CA and with a bounded
    /// pool (see [`crate::backend::PostgresOptions`]).
    pub fn open_postgres_with(
        url: &str,
        options: &crate::backend::PostgresOptions,
    ) -> Result<Catalog> {
        Ok(Catalog::new(PostgresBackend::connect_with(url, options)?))
    }

    /// The back-end's kind (`memory`, `sqlite`, `postgres`).
    pub fn backend_kind(&self) -> &'static str {
        #[cfg(feature = "client")]
        if self.remote.is_some() {
            return "remote";
        }
        self.backend.kind()
    }

    fn audit(
        &self,
        who: &Principal,
        action: &str,
        target: &str,
        result: &str,
        detail: String,
    ) -> Result<()> {
        self.backend.audit(&AuditRecord {
            time_us: now_us(),
            principal: who.name.clone(),
            action: action.into(),
            target: target.into(),
            result: result.into(),
            detail,
        })
    }

    fn record(&self, path: &CollectionPath) -> Result<CollectionRecord> {
        self.backend
            .collection(path)?
            .ok_or_else(|| Error::NotFound(format!("collection {path}")))
    }

    /// The permission `who` holds on `path`: its own grants and, while inheritance is on, its
    /// ancestors'.
    pub fn permission(&self, who: &Principal, path: &CollectionPath) -> Result<Option<Permission>> {
        remote!(self, who, Call::Permission { path: path.clone() });
        let lineage = self.backend.lineage(path)?;
        Ok(effective(who, lineage.iter().map(|r| &r.permissions)))
    }

    /// Checks `need` on `path` and returns the collection; a denial is audited.
    fn authorise(
        &self,
        who: &Principal,
        path: &str,
        need: Permission,
        action: &str,
    ) -> Result<CollectionRecord> {
        let path = CollectionPath::parse(path)?;
        let mut lineage = self.backend.lineage(&path)?;
        if lineage.first().is_none_or(|r| r.path != path) {
            // Whoever may not read the nearest collection that exists learns nothing of what
            // is below it, not even that it is missing: denied, as for one that exists.
            if effective(who, lineage.iter().map(|r| &r.permissions)) >= Some(Permission::Read) {
                return Err(Error::NotFound(format!("collection {path}")));
            }
            return self.deny(who, &path, need, action);
        }
        if effective(who, lineage.iter().map(|r| &r.permissions)) >= Some(need) {
            return Ok(lineage.swap_remove(0));
        }
        self.deny(who, &path, need, action)
    }

    /// Records and returns a denial.
    fn deny<T>(
        &self,
        who: &Principal,
        path: &CollectionPath,
        need: Permission,
        action: &str,
    ) -> Result<T> {
        self.audit(
            who,
            action,
            path.as_str(),
            "denied",
            format!("needs {}", need.name()),
        )?;
        Err(Error::AccessDenied {
            principal: who.name.clone(),
            action: need.name(),
            path: path.to_string(),
        })
    }

    /// Creates the root collection `/`, owned by `admin`, if it does not exist yet.
    pub fn init(&self, admin: &Principal) -> Result<Initialised> {
        remote!(self, admin, Call::Init);
        let root = CollectionPath::root();
        if let Some(existing) = self.backend.collection(&root)? {
            return Ok(Initialised::Existing {
                owner: existing.permissions.owner,
            });
        }
        let mut p = Permissions::owned_by(admin.name.clone());
        p.inherit = false;
        match self.backend.create_collection(&root, &p) {
            Ok(_) => {}
            // Created by someone else in the meantime: theirs.
            Err(Error::AlreadyExists(_)) => {
                let owner = self
                    .backend
                    .collection(&root)?
                    .map(|c| c.permissions.owner)
                    .unwrap_or_default();
                return Ok(Initialised::Existing { owner });
            }
            Err(e) => return Err(e),
        }
        self.audit(admin, "init", "/", "ok", String::new())?;
        Ok(Initialised::Created)
    }

    /// Creates a collection (needs write on the parent); the caller owns it and it inherits the
    /// parent's grants.
    pub fn mkdir(&self, who: &Principal, path: &str) -> Result<()> {
        remote!(self, who, Call::Mkdir { path: path.into() });
        let path = CollectionPath::parse(path)?;
        let parent = path
            .parent()
            .ok_or_else(|| Error::AlreadyExists("collection /".into()))?;
        self.authorise(who, parent.as_str(), Permission::Write, "mkdir")?;
        self.backend
            .create_collection(&path, &Permissions::owned_by(who.name.clone()))?;
        self.audit(who, "mkdir", path.as_str(), "ok", String::new())
    }

    /// Creates a collection and its missing ancestors.
    pub fn mkdir_all(&self, who: &Principal, path: &str) -> Result<()> {
        remote!(self, who, Call::MkdirAll { path: path.into() });
        let path = CollectionPath::parse(path)?;
        let mut created = false;
        for p in path.ancestry().into_iter().rev().skip(1) {
            if self.backend.collection(&p)?.is_none() {
                self.mkdir(who, p.as_str())?;
                created = true;
            }
        }
        if !created && !path.is_root() {
            // (Attack round on issue 21: it said `ok` for a path that existed to anyone, a way
            // to learn which collections exist.)
            self.authorise(who, path.as_str(), Permission::Read, "mkdir")?;
        }
        Ok(())
    }

    /// Removes an empty collection (no sub-collections; its entries go with it). Needs admin.
    pub fn rmdir(&self, who: &Principal, path: &str) -> Result<()> {
        remote!(self, who, Call::Rmdir { path: path.into() });
        let rec = self.authorise(who, path, Permission::Admin, "rmdir")?;
        if rec.path.is_root() || !self.backend.children(rec.id)?.is_empty() {
            return Err(Error::invalid(
                "rmdir",
                format!("{} is the root or has sub-collections", rec.path),
            ));
        }
        self.backend.remove_collection(&rec)?;
        self.audit(who, "rmdir", rec.path.as_str(), "ok", String::new())
    }

    /// The sub-collections of a collection (needs read).
    pub fn list(&self, who: &Principal, path: &str) -> Result<Vec<CollectionPath>> {
        remote!(self, who, Call::List { path: path.into() });
        let rec = self.authorise(who, path, Permission::Read, "list")?;
        Ok(self
            .backend
            .children(rec.id)?
            .into_iter()
            .map(|c| c.path)
            .collect())
    }

    /// The schema of a collection (needs read).
    pub fn schema(&self, who: &Principal, path: &str) -> Result<Schema> {
        remote!(self, who, Call::Schema { path: path.into() });
        Ok(self
            .authorise(who, path, Permission::Read, "schema")?
            .schema)
    }

    /// Adds an attribute (needs admin). A required attribute can only be added to an empty
    /// collection.
    pub fn add_attribute(&self, who: &Principal, path: &str, attr: Attribute) -> Result<()> {
        remote!(
            self,
            who,
            Call::AddAttribute {
                path: path.into(),
                attribute: attr
            }
        );
        let rec = self.authorise(who, path, Permission::Admin, "schema")?;
        rec.schema.check_new(&attr)?;
        if !attr.nullable && self.backend.count(&rec)? > 0 {
            return Err(Error::invalid(
                "attribute",
                format!(
                    "{} is required but {} already has entries",
                    attr.name, rec.path
                ),
            ));
        }
        self.backend.add_attribute(&rec, &attr)?;
        self.audit(
            who,
            "add-attribute",
            rec.path.as_str(),
            "ok",
            format!("{} {}", attr.name, attr.ty),
        )
    }

    /// Drops an attribute and its values (needs admin).
    pub fn drop_attribute(&self, who: &Principal, path: &str, name: &str) -> Result<()> {
        remote!(
            self,
            who,
            Call::DropAttribute {
                path: path.into(),
                name: name.into()
            }
        );
        let rec = self.authorise(who, path, Permission::Admin, "schema")?;
        if rec.schema.get(name).is_none() {
            return Err(Error::NotFound(format!("attribute {name} in {}", rec.path)));
        }
        self.backend.drop_attribute(&rec, name)?;
        self.audit(
            who,
            "drop-attribute",
            rec.path.as_str(),
            "ok",
            name.to_string(),
        )
    }

    /// Adds one entry (needs write).
    pub fn add(&self, who: &Principal, path: &str, entry: Entry) -> Result<()> {
        self.add_many(who, path, vec![entry]).map(drop)
    }

    /// Adds entries in one transaction: all or none (needs write). Returns how many.
    pub fn add_many(&self, who: &Principal, path: &str, entries: Vec<Entry>) -> Result<usize> {
        #[cfg(feature = "client")]
        if let Some(r) = &self.remote {
            return r.add_many(who, path, entries);
        }
        let rec = self.authorise(who, path, Permission::Write, "add")?;
        let checked = entries
            .into_iter()
            .map(|e| e.checked(&rec.schema))
            .collect::<Result<Vec<_>>>()?;
        self.backend.insert(&rec, &checked)?;
        self.audit(
            who,
            "add",
            rec.path.as_str(),
            "ok",
            format!("{} entries", checked.len()),
        )?;
        Ok(checked.len())
    }

    /// Reads an entry (needs read).
    pub fn get(&self, who: &Principal, path: &str, name: &str) -> Result<Entry> {
        remote!(
            self,
            who,
            Call::Get {
                path: path.into(),
                name: name.into()
            }
        );
        let rec = self.authorise(who, path, Permission::Read, "get")?;
        self.backend
            .get(&rec, name)?
            .ok_or_else(|| Error::NotFound(format!("entry {name} in {}", rec.path)))
    }

    /// Sets some values of an entry (needs write).
    pub fn update(
        &self,
        who: &Principal,
        path: &str,
        name: &str,
        values: Vec<(String, Value)>,
    ) -> Result<()> {
        self.update_with(who, path, name, |_| Ok(values.clone()))
    }

    /// Atomically reads an entry and sets values computed from it (needs write): concurrent
    /// updates never lose each other's changes.
    pub fn update_with(
        &self,
        who: &Principal,
        path: &str,
        name: &str,
        mut f: impl FnMut(&Entry) -> Result<Vec<(String, Value)>>,
    ) -> Result<()> {
        #[cfg(feature = "client")]
        if let Some(r) = &self.remote {
            return r.update_with(who, path, name, f);
        }
        let rec = self.authorise(who, path, Permission::Write, "update")?;
        let schema = rec.schema.clone();
        self.backend.update_entry(&rec, name, &mut |e| {
            f(e)?
                .into_iter()
                .map(|(k, v)| {
                    let a = schema.get(&k).ok_or_else(|| {
                        Error::invalid(
                            format!("entry {name}"),
                            format!("the schema has no attribute `{k}`"),
                        )
                    })?;
                    let v = v.coerce(a.ty, &a.name)?;
                    if v.is_null() && !a.nullable {
                        return Err(Error::invalid(
                            format!("entry {name}"),
                            format!("attribute {k} is required"),
                        ));
                    }
                    Ok((k, v))
                })
                .collect()
        })?;
        self.audit(
            who,
            "update",
            rec.path.as_str(),
            "ok",
            format!("entry {name}"),
        )
    }

    /// Deletes an entry (needs write).
    pub fn remove(&self, who: &Principal, path: &str, name: &str) -> Result<()> {
        remote!(
            self,
            who,
            Call::Remove {
                path: path.into(),
                name: name.into()
            }
        );
        let rec = self.authorise(who, path, Permission::Write, "remove")?;
        if !self.backend.delete_entry(&rec, name)? {
            return Err(Error::NotFound(format!("entry {name} in {}", rec.path)));
        }
        self.audit(
            who,
            "remove",
            rec.path.as_str(),
            "ok",
            format!("entry {name}"),
        )
    }

    /// Runs a query on one collection (needs read).
    pub fn query(&self, who: &Principal, path: &str, text: &str) -> Result<QueryResult> {
        // (On a service, query_capped sends the call.)
        self.query_capped(who, path, text, false, None)
    }

    /// [`Catalog::query`] (or with `recursive` [`Catalog::query_recursive`]) with the query's
    /// own limit lowered to `cap + 1` rows, so that a caller (the catalog service) can refuse an
    /// answer of more than `cap` rows without building it whole.
    pub fn query_capped(
        &self,
        who: &Principal,
        path: &str,
        text: &str,
        recursive: bool,
        cap: Option<u64>,
    ) -> Result<QueryResult> {
        #[cfg(feature = "client")]
        if let Some(r) = &self.remote {
            let (path, text) = (path.to_string(), text.to_string());
            let call = if recursive {
                Call::QueryRecursive { path, text }
            } else {
                Call::Query { path, text }
            };
            return r.call(who, &call);
        }
        let mut parsed = query::parse(text)?;
        if let Some(cap) = cap {
            let most = cap.saturating_add(1).min(query::MAX_LIMIT);
            parsed.limit = Some(parsed.limit.map_or(most, |l| l.min(most)));
        }
        if recursive {
            return self.query_recursive_parsed(who, path, parsed);
        }
        let rec = self.authorise(who, path, Permission::Read, "query")?;
        let q = query::check(&parsed, &rec.schema)?;
        self.backend.query(std::slice::from_ref(&rec), &q)
    }

    /// Runs a query on a collection and every collection below it that `who` may read and whose
    /// schema has the attributes the query uses, with the same types. Collections `who` may not
    /// read are left out silently: their rows never appear, in counts neither. Needs read on
    /// `path` itself.
    pub fn query_recursive(&self, who: &Principal, path: &str, text: &str) -> Result<QueryResult> {
        // (On a service, query_capped sends the call.)
        self.query_capped(who, path, text, true, None)
    }

    fn query_recursive_parsed(
        &self,
        who: &Principal,
        path: &str,
        parsed: query::Query,
    ) -> Result<QueryResult> {
        let root = self.authorise(who, path, Permission::Read, "query")?;
        let mut chain: Vec<(CollectionPath, Permissions)> = Vec::new();
        for p in root.path.ancestry().into_iter().skip(1) {
            if let Some(r) = self.backend.collection(&p)? {
                chain.push((p, r.permissions));
            }
        }
        let subtree = self.backend.subtree(&root.path)?;
        let readable = |c: &CollectionRecord| {
            let mut perms: Vec<&Permissions> = c
                .path
                .ancestry()
                .iter()
                .filter_map(|p| {
                    subtree
                        .iter()
                        .find(|s| s.path == *p)
                        .map(|s| &s.permissions)
                })
                .collect();
            perms.extend(chain.iter().map(|(_, p)| p));
            effective(who, perms) >= Some(Permission::Read)
        };
        let mut reference: Option<Checked> = None;
        let mut chosen = Vec::new();
        let mut first_error = None;
        for c in &subtree {
            if !readable(c) {
                continue;
            }
            match query::check(&parsed, &c.schema) {
                Ok(q) => match &reference {
                    None => {
                        reference = Some(q);
                        chosen.push(c.clone());
                    }
                    Some(r) if *r == q => chosen.push(c.clone()),
                    Some(_) => {}
                },
                Err(e) => {
                    if first_error.is_none() {
                        first_error = Some(e);
                    }
                }
            }
        }
        match reference {
            Some(q) => self.backend.query(&chosen, &q),
            None => Err(first_error
                .unwrap_or_else(|| Error::NotFound(format!("no collection under {path}")))),
        }
    }

    /// The same query without any permission check, for measuring the cost of the checks.
    /// Dangerous: it returns rows whatever the caller may read.
    pub fn dangerous_query_without_acl(&self, path: &str, text: &str) -> Result<QueryResult> {
        #[cfg(feature = "client")]
        if self.remote.is_some() {
            return Err(Error::invalid(
                "dangerous_query_without_acl",
                "not available on a catalog service",
            ));
        }
        let rec = self.record(&CollectionPath::parse(path)?)?;
        let q = query::check(&query::parse(text)?, &rec.schema)?;
        self.backend.query(std::slice::from_ref(&rec), &q)
    }

    /// Number of entries of a collection (needs read).
    pub fn count(&self, who: &Principal, path: &str) -> Result<u64> {
        remote!(self, who, Call::Count { path: path.into() });
        let rec = self.authorise(who, path, Permission::Read, "count")?;
        self.backend.count(&rec)
    }

    /// The permissions of a collection (needs read).
    pub fn permissions(&self, who: &Principal, path: &str) -> Result<Permissions> {
        remote!(self, who, Call::Permissions { path: path.into() });
        Ok(self
            .authorise(who, path, Permission::Read, "permissions")?
            .permissions)
    }

    /// Replaces the permissions of a collection (needs admin).
    pub fn set_permissions(
        &self,
        who: &Principal,
        path: &str,
        permissions: Permissions,
    ) -> Result<()> {
        remote!(
            self,
            who,
            Call::SetPermissions {
                path: path.into(),
                permissions
            }
        );
        let rec = self.authorise(who, path, Permission::Admin, "chmod")?;
        self.backend.set_permissions(&rec, &permissions)?;
        let detail = serde_json::to_string(&permissions).unwrap_or_default();
        self.audit(who, "chmod", rec.path.as_str(), "ok", detail)
    }

    /// Grants `permission` to a subject (replacing its previous ACL entry; `None` removes it).
    pub fn grant(
        &self,
        who: &Principal,
        path: &str,
        subject: Subject,
        permission: Option<Permission>,
    ) -> Result<()> {
        remote!(
            self,
            who,
            Call::Grant {
                path: path.into(),
                subject,
                permission
            }
        );
        let rec = self.authorise(who, path, Permission::Admin, "chmod")?;
        let mut p = rec.permissions.clone();
        p.acl.retain(|e| e.subject != subject);
        let detail = match permission {
            Some(permission) => format!("{subject} {}", permission.name()),
            None => format!("{subject} none"),
        };
        if let Some(permission) = permission {
            p.acl.push(AclEntry {
                subject,
                permission,
            });
        }
        self.backend.set_permissions(&rec, &p)?;
        self.audit(who, "acl", rec.path.as_str(), "ok", detail)
    }

    /// Adds an annotation to a collection or one of its entries (needs write).
    pub fn annotate(
        &self,
        who: &Principal,
        path: &str,
        entry: Option<&str>,
        a: Annotation,
    ) -> Result<()> {
        remote!(
            self,
            who,
            Call::Annotate {
                path: path.into(),
                entry: entry.map(str::to_string),
                annotation: a
            }
        );
        let rec = self.authorise(who, path, Permission::Write, "annotate")?;
        let target = match entry {
            Some(name) => {
                check_entry_name(name)?;
                if self.backend.get(&rec, name)?.is_none() {
                    return Err(Error::NotFound(format!("entry {name} in {}", rec.path)));
                }
                Target::Entry(rec.id, name.to_string())
            }
            None => Target::Collection(rec.id),
        };
        self.backend.annotate(&target, &a)?;
        self.audit(who, "annotate", rec.path.as_str(), "ok", a.attribute)
    }

    /// The annotations of a collection or entry (needs read).
    pub fn annotations(
        &self,
        who: &Principal,
        path: &str,
        entry: Option<&str>,
    ) -> Result<Vec<Annotation>> {
        remote!(
            self,
            who,
            Call::Annotations {
                path: path.into(),
                entry: entry.map(str::to_string)
            }
        );
        let rec = self.authorise(who, path, Permission::Read, "annotations")?;
        let target = entry.map_or(Target::Collection(rec.id), |n| {
            Target::Entry(rec.id, n.to_string())
        });
        self.backend.annotations(&target)
    }

    /// The newest audit records (needs admin on `/`).
    pub fn audit_log(&self, who: &Principal, limit: usize) -> Result<Vec<AuditRecord>> {
        remote!(self, who, Call::AuditLog { limit });
        self.authorise(who, "/", Permission::Admin, "audit")?;
        self.backend.audit_log(limit)
    }
}
