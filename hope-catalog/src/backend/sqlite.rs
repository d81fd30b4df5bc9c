//! The SQLite back-end (rusqlite, SQLite bundled): the embedded default, one file, WAL journal so
//! that readers never block the writer, safe for several processes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::Value as SqlValue;
use rusqlite::{
    Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior, params_from_iter,
};

use super::pool::{DEFAULT_MAX_CONNECTIONS, Loan, Pool};
use super::sql::{self, Dialect};
use super::{Annotation, AuditRecord, Backend, Changes, CollectionRecord, QueryResult, Target};
use crate::acl::Permissions;
use crate::path::CollectionPath;
use crate::query::Checked;
use crate::schema::{Attribute, Entry, Schema};
use crate::value::{AttrType, Value};
use crate::{Error, Result};

const D: Dialect = Dialect::Sqlite;

fn be(what: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> Error {
    let what = what.into();
    move |e| {
        if let rusqlite::Error::SqliteFailure(f, _) = &e
            && f.code == ErrorCode::ConstraintViolation
        {
            return Error::AlreadyExists(what);
        }
        Error::backend("sqlite", what, e)
    }
}

fn json_err(e: serde_json::Error) -> Error {
    Error::metadata("sqlite", e)
}

/// A catalog in one SQLite file.
pub struct SqliteBackend {
    path: PathBuf,
    pool: Pool<Connection>,
}

impl std::fmt::Debug for SqliteBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteBackend")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteBackend {
    /// Opens (creating if needed) a catalog file and brings its tables to the current version.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteBackend> {
        let b = SqliteBackend {
            path: path.as_ref().to_path_buf(),
            pool: Pool::new(DEFAULT_MAX_CONNECTIONS),
        };
        let mut c = b.conn()?;
        migrate(&mut c)?;
        drop(c);
        Ok(b)
    }

    fn conn(&self) -> Result<Loan<'_, Connection>> {
        self.pool
            .get(|| {
                let what = format!("cannot open {}", self.path.display());
                let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_CREATE
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                let c = Connection::open_with_flags(&self.path, flags).map_err(be(what.clone()))?;
                c.busy_timeout(Duration::from_secs(30))
                    .map_err(be(what.clone()))?;
                // 16 KiB pages for new files: shallower B-trees and fewer splits under bulk loads (no
                // effect on an existing file; must come before WAL is switched on).
                c.pragma_update(None, "page_size", 16_384)
                    .map_err(be(what.clone()))?;
                // WAL: readers never block the writer; NORMAL sync is durable against process crashes
                // (a power cut may lose the last transactions, never corrupt the file).
                c.pragma_update(None, "journal_mode", "WAL")
                    .map_err(be(what.clone()))?;
                c.pragma_update(None, "synchronous", "NORMAL")
                    .map_err(be(what.clone()))?;
                // Checkpoint the WAL every 4,000 pages (64 MiB) rather than 1,000: fewer syncs.
                c.pragma_update(None, "wal_autocheckpoint", 4000)
                    .map_err(be(what.clone()))?;
                // like() is case-sensitive, as in PostgreSQL; ilike() lowers both sides.
                c.pragma_update(None, "case_sensitive_like", true)
                    .map_err(be(what.clone()))?;
                // A 64 MiB page cache keeps index maintenance of large bulk loads in memory.
                c.pragma_update(None, "cache_size", -65_536)
                    .map_err(be(what.clone()))?;
                // Read pages through a memory map (no copy per page miss); address space only.
                c.pragma_update(None, "mmap_size", 1i64 << 30)
                    .map_err(be(what))?;
                c.set_prepared_statement_cache_capacity(64);
                Ok(c)
            })
            .map_err(|e| e.into_error("sqlite"))
    }
}

fn migrate(c: &mut Connection) -> Result<()> {
    let tx = c
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(be("migration"))?;
    tx.execute(
        "CREATE TABLE IF NOT EXISTS hope_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        [],
    )
    .map_err(be("migration"))?;
    let version: i64 = tx
        .query_row(
            "SELECT value FROM hope_meta WHERE key = 'schema_version'",
            [],
            |r| r.get::<_, String>(0),
        )
        .optional()
        .map_err(be("migration"))?
        .map_or(0, |v| v.parse().unwrap_or(i64::MAX));
    if version > sql::SCHEMA_VERSION {
        return Err(Error::Backend {
            backend: "sqlite",
            message: format!(
                "catalog schema version {version} is newer than this hope-catalog ({})",
                sql::SCHEMA_VERSION
            ),
            source: None,
        });
    }
    if version < 1 {
        for stmt in sql::migration_v1(D) {
            tx.execute(&stmt, [])
                .map_err(be("migration to version 1"))?;
        }
    }
    tx.execute(
        "INSERT INTO hope_meta (key, value) VALUES ('schema_version', ?1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [sql::SCHEMA_VERSION.to_string()],
    )
    .map_err(be("migration"))?;
    tx.commit().map_err(be("migration"))
}

/// The parameters of one entry's row: name, then the attributes in schema order.
fn row_params<'a>(e: &'a Entry, attrs: &'a [&'a str]) -> impl Iterator<Item = Param<'a>> + 'a {
    std::iter::once(Param::Name(&e.name)).chain(attrs.iter().map(move |a| Param::Value(e.get(a))))
}

/// A parameter bound by reference (no copy of the text).
enum Param<'a> {
    Name(&'a str),
    Value(&'a Value),
}

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Param::Name(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Param::Value(Value::Text(s) | Value::Uid(s)) => {
                ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes()))
            }
            Param::Value(v) => ToSqlOutput::Owned(to_sql(v)),
        })
    }
}

pub(crate) fn to_sql(v: &Value) -> SqlValue {
    match v {
        Value::Null => SqlValue::Null,
        Value::Int(i) | Value::Timestamp(i) => SqlValue::Integer(*i),
        Value::Date(d) => SqlValue::Integer(i64::from(*d)),
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Float(x) => SqlValue::Real(*x),
        Value::Text(s) | Value::Uid(s) => SqlValue::Text(s.clone()),
    }
}

fn from_sql(v: SqlValue, ty: AttrType) -> Value {
    match (v, ty) {
        (SqlValue::Null, _) => Value::Null,
        (SqlValue::Integer(i), AttrType::Int) => Value::Int(i),
        (SqlValue::Integer(i), AttrType::Timestamp) => Value::Timestamp(i),
        (SqlValue::Integer(i), AttrType::Date) => Value::Date(i32::try_from(i).unwrap_or(i32::MAX)),
        (SqlValue::Integer(i), AttrType::Bool) => Value::Bool(i != 0),
        (SqlValue::Integer(i), AttrType::Float) => Value::Float(i as f64),
        (SqlValue::Real(x), AttrType::Float | AttrType::Int) => Value::Float(x),
        (SqlValue::Text(s), AttrType::Uid) => Value::Uid(s),
        (SqlValue::Text(s), _) => Value::Text(s),
        (other, _) => Value::Text(format!("{other:?}")),
    }
}

fn record(row: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, String, String, String)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

fn to_record((id, path, schema, perms): (i64, String, String, String)) -> Result<CollectionRecord> {
    Ok(CollectionRecord {
        id,
        path: CollectionPath::parse(&path)?,
        schema: serde_json::from_str(&schema).map_err(json_err)?,
        permissions: serde_json::from_str(&perms).map_err(json_err)?,
    })
}

const COLLECTION_COLUMNS: &str = "SELECT id, path, schema, permissions FROM hope_collections";

fn save_schema(c: &Connection, id: i64, schema: &Schema) -> Result<()> {
    let json = serde_json::to_string(schema).map_err(json_err)?;
    c.execute(
        "UPDATE hope_collections SET schema = ?1 WHERE id = ?2",
        rusqlite::params![json, id],
    )
    .map_err(be("schema update"))?;
    Ok(())
}

fn entry_from_row(row: &rusqlite::Row<'_>, schema: &Schema) -> rusqlite::Result<Entry> {
    let mut e = Entry::new(row.get::<_, String>(0)?);
    for (i, a) in schema.attributes.iter().enumerate() {
        e.values
            .insert(a.name.clone(), from_sql(row.get(i + 1)?, a.ty));
    }
    Ok(e)
}

impl Backend for SqliteBackend {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn collection(&self, path: &CollectionPath) -> Result<Option<CollectionRecord>> {
        let c = self.conn()?;
        let row = c
            .prepare_cached(&format!("{COLLECTION_COLUMNS} WHERE path = ?1"))
            .and_then(|mut s| s.query_row([path.as_str()], record).optional())
            .map_err(be(format!("reading collection {path}")))?;
        row.map(to_record).transpose()
    }

    fn children(&self, id: i64) -> Result<Vec<CollectionRecord>> {
        let Some(parent) = self.subtree_rows(None, Some(id))?.into_iter().next() else {
            return Ok(Vec::new());
        };
        let all = self.subtree(&parent.path)?;
        Ok(all
            .into_iter()
            .filter(|c| c.path.parent().as_ref() == Some(&parent.path))
            .collect())
    }

    fn subtree(&self, path: &CollectionPath) -> Result<Vec<CollectionRecord>> {
        self.subtree_rows(Some(path), None)
    }

    fn lineage(&self, path: &CollectionPath) -> Result<Vec<CollectionRecord>> {
        let ancestry = path.ancestry();
        let placeholders: Vec<String> = (1..=ancestry.len()).map(|i| format!("?{i}")).collect();
        let c = self.conn()?;
        let mut s = c
            .prepare_cached(&format!(
                "{COLLECTION_COLUMNS} WHERE path IN ({})",
                placeholders.join(", ")
            ))
            .map_err(be("collections"))?;
        let rows: Vec<(i64, String, String, String)> = s
            .query_map(
                params_from_iter(ancestry.iter().map(CollectionPath::as_str)),
                record,
            )
            .and_then(Iterator::collect)
            .map_err(be("collections"))?;
        let mut recs = rows
            .into_iter()
            .map(to_record)
            .collect::<Result<Vec<_>>>()?;
        recs.sort_by_key(|r| std::cmp::Reverse(r.path.as_str().len()));
        Ok(recs)
    }

    fn create_collection(
        &self,
        path: &CollectionPath,
        permissions: &Permissions,
    ) -> Result<CollectionRecord> {
        let mut c = self.conn()?;
        let tx = c
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(be("mkdir"))?;
        if let Some(parent) = path.parent() {
            let exists: Option<i64> = tx
                .query_row(
                    "SELECT id FROM hope_collections WHERE path = ?1",
                    [parent.as_str()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(be("mkdir"))?;
            if exists.is_none() {
                return Err(Error::NotFound(format!("collection {parent}")));
            }
        }
        let schema = Schema::default();
        tx.execute(
            "INSERT INTO hope_collections (path, schema, permissions) VALUES (?1, ?2, ?3)",
            rusqlite::params![
                path.as_str(),
                serde_json::to_string(&schema).map_err(json_err)?,
                serde_json::to_string(permissions).map_err(json_err)?
            ],
        )
        .map_err(be(format!("collection {path}")))?;
        let id = tx.last_insert_rowid();
        tx.execute(&sql::create_table(D, id), [])
            .map_err(be("mkdir"))?;
        tx.commit().map_err(be("mkdir"))?;
        Ok(CollectionRecord {
            id,
            path: path.clone(),
            schema,
            permissions: permissions.clone(),
        })
    }

    fn remove_collection(&self, col: &CollectionRecord) -> Result<()> {
        let mut c = self.conn()?;
        let tx = c
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(be("rmdir"))?;
        tx.execute(&format!("DROP TABLE IF EXISTS {}", sql::table(col.id)), [])
            .map_err(be("rmdir"))?;
        tx.execute(
            "DELETE FROM hope_annotations WHERE collection_id = ?1",
            [col.id],
        )
        .map_err(be("rmdir"))?;
        tx.execute("DELETE FROM hope_collections WHERE id = ?1", [col.id])
            .map_err(be("rmdir"))?;
        tx.commit().map_err(be("rmdir"))
    }

    fn set_permissions(&self, col: &CollectionRecord, permissions: &Permissions) -> Result<()> {
        let json = serde_json::to_string(permissions).map_err(json_err)?;
        self.conn()?
            .execute(
                "UPDATE hope_collections SET permissions = ?1 WHERE id = ?2",
                rusqlite::params![json, col.id],
            )
            .map_err(be("chmod"))?;
        Ok(())
    }

    fn add_attribute(&self, col: &CollectionRecord, attr: &Attribute) -> Result<()> {
        self.alter_schema(col, |tx, schema| {
            schema.check_new(attr)?;
            for stmt in sql::add_column(D, col.id, &attr.name, attr.ty, attr.indexed) {
                tx.execute(&stmt, [])
                    .map_err(|e| be(format!("adding attribute {}", attr.name))(e))?;
            }
            schema.attributes.push(attr.clone());
            Ok(())
        })
    }

    fn drop_attribute(&self, col: &CollectionRecord, name: &str) -> Result<()> {
        self.alter_schema(col, |tx, schema| {
            for stmt in sql::drop_column(col.id, name) {
                tx.execute(&stmt, [])
                    .map_err(|e| be(format!("dropping attribute {name}"))(e))?;
            }
            schema.attributes.retain(|a| a.name != name);
            Ok(())
        })
    }

    fn insert(&self, col: &CollectionRecord, entries: &[Entry]) -> Result<()> {
        let mut c = self.conn()?;
        let attrs: Vec<&str> = col
            .schema
            .attributes
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        let tx = c
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(be("insert"))?;
        {
            let mut stmt = tx
                .prepare_cached(&sql::insert(D, col.id, &attrs, 1))
                .map_err(be("insert"))?;
            for e in entries {
                // The error text is built only on failure: this loop runs a million times in a load.
                stmt.execute(params_from_iter(row_params(e, &attrs)))
                    .map_err(|err| be(format!("entry {} in {}", e.name, col.path))(err))?;
            }
        }
        // Planner statistics, so that a date range beats a low-cardinality equality: refreshed
        // when a load grows the table by half since the last analysis (amortised linear cost;
        // the distribution, not the absolute count, is what the planner needs).
        let analysed: Option<u64> = tx
            .query_row(
                "SELECT stat FROM sqlite_stat1 WHERE tbl = ?1 LIMIT 1",
                [sql::table(col.id)],
                |r| r.get::<_, String>(0),
            )
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()));
        if entries.len() >= 1000 && analysed.is_none_or(|n| entries.len() as u64 * 2 >= n) {
            tx.execute_batch(&format!("ANALYZE {}", sql::table(col.id)))
                .map_err(be("analyze"))?;
        }
        tx.commit().map_err(be("insert"))
    }

    fn get(&self, col: &CollectionRecord, name: &str) -> Result<Option<Entry>> {
        let attrs: Vec<&str> = col
            .schema
            .attributes
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        let c = self.conn()?;
        let mut s = c
            .prepare_cached(&sql::select_entry(D, col.id, &attrs, false))
            .map_err(be("get"))?;
        s.query_row([name], |r| entry_from_row(r, &col.schema))
            .optional()
            .map_err(be("get"))
    }

    fn update_entry(
        &self,
        col: &CollectionRecord,
        name: &str,
        change: &mut dyn FnMut(&Entry) -> Result<Changes>,
    ) -> Result<()> {
        let attrs: Vec<&str> = col
            .schema
            .attributes
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        let mut c = self.conn()?;
        // IMMEDIATE takes the write lock before reading: concurrent read-modify-writes serialise.
        let tx = c
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(be("update"))?;
        let current = tx
            .query_row(&sql::select_entry(D, col.id, &attrs, true), [name], |r| {
                entry_from_row(r, &col.schema)
            })
            .optional()
            .map_err(be("update"))?
            .ok_or_else(|| Error::NotFound(format!("entry {name} in {}", col.path)))?;
        let changes = change(&current)?;
        if !changes.is_empty() {
            let names: Vec<&str> = changes.iter().map(|(k, _)| k.as_str()).collect();
            let mut params: Vec<SqlValue> = changes.iter().map(|(_, v)| to_sql(v)).collect();
            params.push(SqlValue::Text(name.to_string()));
            tx.execute(&sql::update(D, col.id, &names), params_from_iter(params))
                .map_err(be("update"))?;
        }
        tx.commit().map_err(be("update"))
    }

    fn delete_entry(&self, col: &CollectionRecord, name: &str) -> Result<bool> {
        let mut c = self.conn()?;
        let tx = c.transaction().map_err(be("delete"))?;
        let n = tx
            .execute(
                &format!("DELETE FROM {} WHERE \"name\" = ?1", sql::table(col.id)),
                [name],
            )
            .map_err(be("delete"))?;
        tx.execute(
            "DELETE FROM hope_annotations WHERE collection_id = ?1 AND entry = ?2",
            rusqlite::params![col.id, name],
        )
        .map_err(be("delete"))?;
        tx.commit().map_err(be("delete"))?;
        Ok(n > 0)
    }

    fn count(&self, col: &CollectionRecord) -> Result<u64> {
        let c = self.conn()?;
        let n: i64 = c
            .query_row(
                &format!("SELECT COUNT(*) FROM {}", sql::table(col.id)),
                [],
                |r| r.get(0),
            )
            .map_err(be("count"))?;
        Ok(n as u64)
    }

    fn query(&self, collections: &[CollectionRecord], q: &Checked) -> Result<QueryResult> {
        let mut result = QueryResult {
            columns: q.column_names(),
            rows: Vec::new(),
        };
        if collections.len() > 1 && !q.aggregate {
            result.columns.insert(0, "collection".into());
        }
        if collections.is_empty() {
            return Ok(result);
        }
        let built = sql::build_query(D, collections, q);
        let c = self.conn()?;
        let mut s = c.prepare_cached(&built.sql).map_err(be("query"))?;
        let params: Vec<SqlValue> = built.params.iter().map(|(v, _)| to_sql(v)).collect();
        let rows = s
            .query_map(params_from_iter(params), |r| {
                built
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, ty)| Ok(from_sql(r.get(i)?, *ty)))
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(be("query"))?;
        for r in rows {
            result.rows.push(r.map_err(be("query"))?);
        }
        Ok(result)
    }

    fn annotate(&self, target: &Target, a: &Annotation) -> Result<()> {
        let (id, entry) = target.parts();
        self.conn()?
            .execute(
                "INSERT INTO hope_annotations (collection_id, entry, attribute, value, unit) VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![id, entry, a.attribute, a.value, a.unit],
            )
            .map_err(be("annotate"))?;
        Ok(())
    }

    fn annotations(&self, target: &Target) -> Result<Vec<Annotation>> {
        let (id, entry) = target.parts();
        let c = self.conn()?;
        let mut s = c
            .prepare_cached("SELECT attribute, value, unit FROM hope_annotations WHERE collection_id = ?1 AND entry IS ?2 ORDER BY id")
            .map_err(be("annotations"))?;
        let rows = s
            .query_map(rusqlite::params![id, entry], |r| {
                Ok(Annotation {
                    attribute: r.get(0)?,
                    value: r.get(1)?,
                    unit: r.get(2)?,
                })
            })
            .map_err(be("annotations"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(be("annotations"))
    }

    fn audit(&self, r: &AuditRecord) -> Result<()> {
        self.conn()?
            .execute(
                "INSERT INTO hope_audit (time_us, principal, action, target, result, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                rusqlite::params![r.time_us, r.principal, r.action, r.target, r.result, r.detail],
            )
            .map_err(be("audit"))?;
        Ok(())
    }

    fn audit_log(&self, limit: usize) -> Result<Vec<AuditRecord>> {
        let c = self.conn()?;
        let mut s = c
            .prepare_cached("SELECT time_us, principal, action, target, result, detail FROM hope_audit ORDER BY id DESC LIMIT ?1")
            .map_err(be("audit"))?;
        let rows = s
            .query_map([limit as i64], |r| {
                Ok(AuditRecord {
                    time_us: r.get(0)?,
                    principal: r.get(1)?,
                    action: r.get(2)?,
                    target: r.get(3)?,
                    result: r.get(4)?,
                    detail: r.get(5)?,
                })
            })
            .map_err(be("audit"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(be("audit"))
    }
}

impl SqliteBackend {
    /// Reads the stored schema, lets `change` alter table and schema, and saves the schema, all in
    /// one write transaction (concurrent schema changes serialise).
    fn alter_schema(
        &self,
        col: &CollectionRecord,
        change: impl FnOnce(&Connection, &mut Schema) -> Result<()>,
    ) -> Result<()> {
        let mut c = self.conn()?;
        let tx = c
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(be("schema"))?;
        let current = tx
            .query_row(
                "SELECT id, path, schema, permissions FROM hope_collections WHERE id = ?1",
                [col.id],
                record,
            )
            .map_err(be("schema"))?;
        let mut schema = to_record(current)?.schema;
        change(&tx, &mut schema)?;
        save_schema(&tx, col.id, &schema)?;
        tx.commit().map_err(be("schema"))
    }

    fn subtree_rows(
        &self,
        path: Option<&CollectionPath>,
        id: Option<i64>,
    ) -> Result<Vec<CollectionRecord>> {
        let c = self.conn()?;
        let rows: Vec<(i64, String, String, String)> = match (path, id) {
            (_, Some(id)) => {
                let mut s = c
                    .prepare_cached(&format!("{COLLECTION_COLUMNS} WHERE id = ?1"))
                    .map_err(be("collections"))?;
                s.query_map([id], record)
                    .and_then(Iterator::collect)
                    .map_err(be("collections"))?
            }
            (Some(p), None) if !p.is_root() => {
                let mut s = c
                    .prepare_cached(&format!("{COLLECTION_COLUMNS} WHERE path = ?1 OR (path >= ?2 AND path < ?3) ORDER BY path"))
                    .map_err(be("collections"))?;
                let (lo, hi) = (format!("{p}/"), format!("{p}0"));
                s.query_map(rusqlite::params![p.as_str(), lo, hi], record)
                    .and_then(Iterator::collect)
                    .map_err(be("collections"))?
            }
            _ => {
                let mut s = c
                    .prepare_cached(&format!("{COLLECTION_COLUMNS} ORDER BY path"))
                    .map_err(be("collections"))?;
                s.query_map([], record)
                    .and_then(Iterator::collect)
                    .map_err(be("collections"))?
            }
        };
        rows.into_iter().map(to_record).collect()
    }
}
