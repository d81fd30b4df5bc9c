//! The PostgreSQL back-end (the `postgres` crate, synchronous): a real server, many clients.

use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, GenericClient, NoTls, Row};

use super::pool::{DEFAULT_MAX_CONNECTIONS, Loan, Pool};
use super::sql::{self, Dialect};
use super::{Annotation, AuditRecord, Backend, Changes, CollectionRecord, QueryResult, Target};
use crate::acl::Permissions;
use crate::path::CollectionPath;
use crate::query::Checked;
use crate::schema::{Attribute, Entry, Schema};
use crate::value::{AttrType, Value};
use crate::{Error, Result};

const D: Dialect = Dialect::Postgres;
/// Rows per multi-row INSERT (PostgreSQL allows 65,535 parameters per statement).
const INSERT_BATCH: usize = 1000;

fn be(what: impl Into<String>) -> impl FnOnce(postgres::Error) -> Error {
    let what = what.into();
    move |e| {
        if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
            return Error::AlreadyExists(what);
        }
        Error::backend("postgres", what, e)
    }
}

fn json_err(e: serde_json::Error) -> Error {
    Error::metadata("postgres", e)
}

/// How to reach a PostgreSQL server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostgresOptions {
    /// The CA (PEM) that issued the server's certificate: with it, every connection is TLS (no
    /// fallback to plain text), the server's certificate is verified against it and must name
    /// the URL's host (libpq's `sslmode=verify-full`). Without it, connections are plain (for a
    /// server on the same machine or a private network; hospital servers usually require TLS).
    pub ca: Option<std::path::PathBuf>,
    /// The most connections open at once (0: 16); callers beyond wait for one, 30 s at most.
    pub max_connections: usize,
}

/// A catalog in a PostgreSQL database.
pub struct PostgresBackend {
    config: postgres::Config,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    pool: Pool<Client>,
}

/// The TLS connector that trusts only `ca` (rustls, ring provider).
fn tls_connector(ca: &std::path::Path) -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let bad = |m: String| Error::invalid(format!("PostgreSQL CA {}", ca.display()), m);
    let bytes = std::fs::read(ca).map_err(|e| bad(e.to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        let cert = cert.map_err(|e| bad(format!("not PEM certificates: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| bad(format!("not a usable CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(bad("no certificate in the file".into()));
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

impl std::fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: never print it.
        f.debug_struct("PostgresBackend").finish_non_exhaustive()
    }
}

type Param = Box<dyn ToSql + Sync + Send>;

fn to_pg(v: &Value, ty: AttrType) -> Param {
    match (v, ty) {
        (Value::Int(i) | Value::Timestamp(i), _) => Box::new(*i),
        (Value::Date(d), _) => Box::new(*d),
        (Value::Bool(b), _) => Box::new(*b),
        (Value::Float(x), _) => Box::new(*x),
        (Value::Text(s) | Value::Uid(s), _) => Box::new(s.clone()),
        (Value::Null, AttrType::Int | AttrType::Timestamp) => Box::new(None::<i64>),
        (Value::Null, AttrType::Date) => Box::new(None::<i32>),
        (Value::Null, AttrType::Bool) => Box::new(None::<bool>),
        (Value::Null, AttrType::Float) => Box::new(None::<f64>),
        (Value::Null, AttrType::Text | AttrType::Uid) => Box::new(None::<String>),
    }
}

fn from_pg(row: &Row, i: usize, ty: AttrType) -> std::result::Result<Value, postgres::Error> {
    Ok(match ty {
        AttrType::Int => row
            .try_get::<_, Option<i64>>(i)?
            .map_or(Value::Null, Value::Int),
        AttrType::Timestamp => row
            .try_get::<_, Option<i64>>(i)?
            .map_or(Value::Null, Value::Timestamp),
        AttrType::Date => row
            .try_get::<_, Option<i32>>(i)?
            .map_or(Value::Null, Value::Date),
        AttrType::Bool => row
            .try_get::<_, Option<bool>>(i)?
            .map_or(Value::Null, Value::Bool),
        AttrType::Float => row
            .try_get::<_, Option<f64>>(i)?
            .map_or(Value::Null, Value::Float),
        AttrType::Text => row
            .try_get::<_, Option<String>>(i)?
            .map_or(Value::Null, Value::Text),
        AttrType::Uid => row
            .try_get::<_, Option<String>>(i)?
            .map_or(Value::Null, Value::Uid),
    })
}

fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

const COLLECTION_COLUMNS: &str = "SELECT id, path, schema, permissions FROM hope_collections";

fn to_record(row: &Row) -> Result<CollectionRecord> {
    let path: String = row.get(1);
    Ok(CollectionRecord {
        id: row.get(0),
        path: CollectionPath::parse(&path)?,
        schema: serde_json::from_str(row.get::<_, &str>(2)).map_err(json_err)?,
        permissions: serde_json::from_str(row.get::<_, &str>(3)).map_err(json_err)?,
    })
}

fn entry_from_row(row: &Row, schema: &Schema) -> Result<Entry> {
    let mut e = Entry::new(row.get::<_, String>(0));
    for (i, a) in schema.attributes.iter().enumerate() {
        e.values.insert(
            a.name.clone(),
            from_pg(row, i + 1, a.ty).map_err(be("reading an entry"))?,
        );
    }
    Ok(e)
}

fn load_schema(c: &mut impl GenericClient, id: i64) -> Result<Schema> {
    let row = c
        .query_one(
            "SELECT id, path, schema, permissions FROM hope_collections WHERE id = $1 FOR UPDATE",
            &[&id],
        )
        .map_err(be("schema"))?;
    Ok(to_record(&row)?.schema)
}

fn save_schema(c: &mut impl GenericClient, id: i64, schema: &Schema) -> Result<()> {
    let json = serde_json::to_string(schema).map_err(json_err)?;
    c.execute(
        "UPDATE hope_collections SET schema = $1 WHERE id = $2",
        &[&json, &id],
    )
    .map_err(be("schema"))?;
    Ok(())
}

impl PostgresBackend {
    /// Connects (e.g. `postgresql://hope@127.0.0.1:5432/hope`) and brings the tables to the current
    /// version.
    pub fn connect(url: &str) -> Result<PostgresBackend> {
        PostgresBackend::connect_with(url, &PostgresOptions::default())
    }

    /// [`PostgresBackend::connect`] with TLS and pool options.
    pub fn connect_with(url: &str, options: &PostgresOptions) -> Result<PostgresBackend> {
        let mut config: postgres::Config = url.parse().map_err(|e: postgres::Error| {
            // (The URL may carry a password: not echoed.)
            Error::invalid("PostgreSQL URL", e.to_string())
        })?;
        if config.get_connect_timeout().is_none() {
            // A server that does not answer must not hold a pool slot for ever.
            config.connect_timeout(std::time::Duration::from_secs(10));
        }
        let tls = match &options.ca {
            Some(ca) => {
                // TLS always, never the plain fallback of `sslmode=prefer`.
                config.ssl_mode(postgres::config::SslMode::Require);
                Some(tls_connector(ca)?)
            }
            None if config.get_ssl_mode() == postgres::config::SslMode::Require => {
                return Err(Error::invalid(
                    "PostgreSQL URL",
                    "sslmode=require: give the CA of the server's certificate (PostgresOptions::ca, \
                     `[postgres] ca` of a service) so that it can be verified",
                ));
            }
            None => None,
        };
        let max = if options.max_connections == 0 {
            DEFAULT_MAX_CONNECTIONS
        } else {
            options.max_connections
        };
        let b = PostgresBackend {
            config,
            tls,
            pool: Pool::new(max),
        };
        let mut c = b.conn()?;
        let mut tx = c.transaction().map_err(be("migration"))?;
        tx.execute("SELECT pg_advisory_xact_lock(727274)", &[])
            .map_err(be("migration"))?;
        tx.execute(
            "CREATE TABLE IF NOT EXISTS hope_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            &[],
        )
        .map_err(be("migration"))?;
        let version = tx
            .query_opt(
                "SELECT value FROM hope_meta WHERE key = 'schema_version'",
                &[],
            )
            .map_err(be("migration"))?
            .map_or(0, |r| r.get::<_, String>(0).parse().unwrap_or(i64::MAX));
        if version > sql::SCHEMA_VERSION {
            return Err(Error::Backend {
                backend: "postgres",
                message: format!(
                    "catalog schema version {version} is newer than this hope-catalog ({})",
                    sql::SCHEMA_VERSION
                ),
                source: None,
            });
        }
        if version < 1 {
            for stmt in sql::migration_v1(D) {
                tx.execute(stmt.as_str(), &[])
                    .map_err(be("migration to version 1"))?;
            }
        }
        let v = sql::SCHEMA_VERSION.to_string();
        tx.execute(
            "INSERT INTO hope_meta (key, value) VALUES ('schema_version', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&v],
        )
        .map_err(be("migration"))?;
        tx.commit().map_err(be("migration"))?;
        drop(c);
        Ok(b)
    }

    fn open(&self) -> Result<Client> {
        let what = "cannot connect to the PostgreSQL server";
        match &self.tls {
            Some(tls) => self.config.connect(tls.clone()).map_err(be(what)),
            None => self.config.connect(NoTls).map_err(be(what)),
        }
    }

    fn conn(&self) -> Result<Loan<'_, Client>> {
        let mut loan = self
            .pool
            .get(|| self.open())
            .map_err(|e| e.into_error("postgres"))?;
        if loan.is_closed() {
            // The server closed this idle connection: drop it and open a fresh one.
            loan.discard();
            drop(loan);
            loan = self
                .pool
                .get(|| self.open())
                .map_err(|e| e.into_error("postgres"))?;
        }
        Ok(loan)
    }

    fn rows(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<CollectionRecord>> {
        let rows = self.conn()?.query(sql, params).map_err(be("collections"))?;
        rows.iter().map(to_record).collect()
    }
}

impl Backend for PostgresBackend {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn collection(&self, path: &CollectionPath) -> Result<Option<CollectionRecord>> {
        let p = path.as_str();
        Ok(self
            .rows(&format!("{COLLECTION_COLUMNS} WHERE path = $1"), &[&p])?
            .into_iter()
            .next())
    }

    fn children(&self, id: i64) -> Result<Vec<CollectionRecord>> {
        let Some(parent) = self
            .rows(&format!("{COLLECTION_COLUMNS} WHERE id = $1"), &[&id])?
            .into_iter()
            .next()
        else {
            return Ok(Vec::new());
        };
        Ok(self
            .subtree(&parent.path)?
            .into_iter()
            .filter(|c| c.path.parent().as_ref() == Some(&parent.path))
            .collect())
    }

    fn lineage(&self, path: &CollectionPath) -> Result<Vec<CollectionRecord>> {
        let ancestry: Vec<String> = path.ancestry().iter().map(|p| p.to_string()).collect();
        let mut recs = self.rows(
            &format!("{COLLECTION_COLUMNS} WHERE path = ANY($1)"),
            &[&ancestry],
        )?;
        recs.sort_by_key(|r| std::cmp::Reverse(r.path.as_str().len()));
        Ok(recs)
    }

    fn subtree(&self, path: &CollectionPath) -> Result<Vec<CollectionRecord>> {
        if path.is_root() {
            return self.rows(&format!("{COLLECTION_COLUMNS} ORDER BY path"), &[]);
        }
        let (p, lo, hi) = (path.as_str(), format!("{path}/"), format!("{path}0"));
        self.rows(
            &format!(
                "{COLLECTION_COLUMNS} WHERE path = $1 OR (path >= $2 AND path < $3) ORDER BY path"
            ),
            &[&p, &lo, &hi],
        )
    }

    fn create_collection(
        &self,
        path: &CollectionPath,
        permissions: &Permissions,
    ) -> Result<CollectionRecord> {
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(be("mkdir"))?;
        if let Some(parent) = path.parent() {
            let p = parent.as_str();
            if tx
                .query_opt(
                    "SELECT id FROM hope_collections WHERE path = $1 FOR SHARE",
                    &[&p],
                )
                .map_err(be("mkdir"))?
                .is_none()
            {
                return Err(Error::NotFound(format!("collection {parent}")));
            }
        }
        let schema = Schema::default();
        let (p, s, perms) = (
            path.as_str(),
            serde_json::to_string(&schema).map_err(json_err)?,
            serde_json::to_string(permissions).map_err(json_err)?,
        );
        let row = tx
            .query_one("INSERT INTO hope_collections (path, schema, permissions) VALUES ($1, $2, $3) RETURNING id", &[&p, &s, &perms])
            .map_err(be(format!("collection {path}")))?;
        let id: i64 = row.get(0);
        tx.execute(sql::create_table(D, id).as_str(), &[])
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
        let mut tx = c.transaction().map_err(be("rmdir"))?;
        tx.execute(
            format!("DROP TABLE IF EXISTS {}", sql::table(col.id)).as_str(),
            &[],
        )
        .map_err(be("rmdir"))?;
        tx.execute(
            "DELETE FROM hope_annotations WHERE collection_id = $1",
            &[&col.id],
        )
        .map_err(be("rmdir"))?;
        tx.execute("DELETE FROM hope_collections WHERE id = $1", &[&col.id])
            .map_err(be("rmdir"))?;
        tx.commit().map_err(be("rmdir"))
    }

    fn set_permissions(&self, col: &CollectionRecord, permissions: &Permissions) -> Result<()> {
        let json = serde_json::to_string(permissions).map_err(json_err)?;
        self.conn()?
            .execute(
                "UPDATE hope_collections SET permissions = $1 WHERE id = $2",
                &[&json, &col.id],
            )
            .map_err(be("chmod"))?;
        Ok(())
    }

    fn add_attribute(&self, col: &CollectionRecord, attr: &Attribute) -> Result<()> {
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(be("schema"))?;
        let mut schema = load_schema(&mut tx, col.id)?;
        schema.check_new(attr)?;
        for stmt in sql::add_column(D, col.id, &attr.name, attr.ty, attr.indexed) {
            tx.execute(stmt.as_str(), &[])
                .map_err(be(format!("adding attribute {}", attr.name)))?;
        }
        schema.attributes.push(attr.clone());
        save_schema(&mut tx, col.id, &schema)?;
        tx.commit().map_err(be("schema"))
    }

    fn drop_attribute(&self, col: &CollectionRecord, name: &str) -> Result<()> {
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(be("schema"))?;
        let mut schema = load_schema(&mut tx, col.id)?;
        for stmt in sql::drop_column(col.id, name) {
            tx.execute(stmt.as_str(), &[])
                .map_err(be(format!("dropping attribute {name}")))?;
        }
        schema.attributes.retain(|a| a.name != name);
        save_schema(&mut tx, col.id, &schema)?;
        tx.commit().map_err(be("schema"))
    }

    fn insert(&self, col: &CollectionRecord, entries: &[Entry]) -> Result<()> {
        let attrs: Vec<&str> = col
            .schema
            .attributes
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        let width = attrs.len() + 1;
        let per = INSERT_BATCH.min(65_535 / width).max(1);
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(be("insert"))?;
        for chunk in entries.chunks(per) {
            let stmt = tx
                .prepare(&sql::insert(D, col.id, &attrs, chunk.len()))
                .map_err(be("insert"))?;
            let mut params: Vec<Param> = Vec::with_capacity(chunk.len() * width);
            for e in chunk {
                params.push(Box::new(e.name.clone()));
                for a in &col.schema.attributes {
                    params.push(to_pg(e.get(&a.name), a.ty));
                }
            }
            tx.execute(&stmt, &refs(&params))
                .map_err(be(format!("entries in {}", col.path)))?;
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
        let row = self
            .conn()?
            .query_opt(
                sql::select_entry(D, col.id, &attrs, false).as_str(),
                &[&name],
            )
            .map_err(be("get"))?;
        row.map(|r| entry_from_row(&r, &col.schema)).transpose()
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
        let mut tx = c.transaction().map_err(be("update"))?;
        // FOR UPDATE locks the row: concurrent read-modify-writes serialise.
        let row = tx
            .query_opt(
                sql::select_entry(D, col.id, &attrs, true).as_str(),
                &[&name],
            )
            .map_err(be("update"))?
            .ok_or_else(|| Error::NotFound(format!("entry {name} in {}", col.path)))?;
        let current = entry_from_row(&row, &col.schema)?;
        let changes = change(&current)?;
        if !changes.is_empty() {
            let names: Vec<&str> = changes.iter().map(|(k, _)| k.as_str()).collect();
            let mut params: Vec<Param> = changes
                .iter()
                .map(|(k, v)| to_pg(v, col.schema.get(k).map_or(AttrType::Text, |a| a.ty)))
                .collect();
            params.push(Box::new(name.to_string()));
            tx.execute(sql::update(D, col.id, &names).as_str(), &refs(&params))
                .map_err(be("update"))?;
        }
        tx.commit().map_err(be("update"))
    }

    fn delete_entry(&self, col: &CollectionRecord, name: &str) -> Result<bool> {
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(be("delete"))?;
        let n = tx
            .execute(
                format!("DELETE FROM {} WHERE \"name\" = $1", sql::table(col.id)).as_str(),
                &[&name],
            )
            .map_err(be("delete"))?;
        tx.execute(
            "DELETE FROM hope_annotations WHERE collection_id = $1 AND entry = $2",
            &[&col.id, &name],
        )
        .map_err(be("delete"))?;
        tx.commit().map_err(be("delete"))?;
        Ok(n > 0)
    }

    fn count(&self, col: &CollectionRecord) -> Result<u64> {
        let row = self
            .conn()?
            .query_one(
                format!("SELECT COUNT(*) FROM {}", sql::table(col.id)).as_str(),
                &[],
            )
            .map_err(be("count"))?;
        Ok(row.get::<_, i64>(0) as u64)
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
        let params: Vec<Param> = built.params.iter().map(|(v, t)| to_pg(v, *t)).collect();
        let mut c = self.conn()?;
        let stmt = c.prepare(&built.sql).map_err(be("query"))?;
        for row in c.query(&stmt, &refs(&params)).map_err(be("query"))? {
            let values = built
                .columns
                .iter()
                .enumerate()
                .map(|(i, t)| from_pg(&row, i, *t))
                .collect::<std::result::Result<Vec<_>, _>>();
            result.rows.push(values.map_err(be("query"))?);
        }
        Ok(result)
    }

    fn annotate(&self, target: &Target, a: &Annotation) -> Result<()> {
        let (id, entry) = target.parts();
        self.conn()?
            .execute(
                "INSERT INTO hope_annotations (collection_id, entry, attribute, value, unit) VALUES ($1, $2, $3, $4, $5)",
                &[&id, &entry, &a.attribute, &a.value, &a.unit],
            )
            .map_err(be("annotate"))?;
        Ok(())
    }

    fn annotations(&self, target: &Target) -> Result<Vec<Annotation>> {
        let (id, entry) = target.parts();
        let rows = self
            .conn()?
            .query(
                "SELECT attribute, value, unit FROM hope_annotations WHERE collection_id = $1 AND entry IS NOT DISTINCT FROM $2 ORDER BY id",
                &[&id, &entry],
            )
            .map_err(be("annotations"))?;
        Ok(rows
            .iter()
            .map(|r| Annotation {
                attribute: r.get(0),
                value: r.get(1),
                unit: r.get(2),
            })
            .collect())
    }

    fn audit(&self, r: &AuditRecord) -> Result<()> {
        self.conn()?
            .execute(
                "INSERT INTO hope_audit (time_us, principal, action, target, result, detail) VALUES ($1, $2, $3, $4, $5, $6)",
                &[&r.time_us, &r.principal, &r.action, &r.target, &r.result, &r.detail],
            )
            .map_err(be("audit"))?;
        Ok(())
    }

    fn audit_log(&self, limit: usize) -> Result<Vec<AuditRecord>> {
        let limit = limit as i64;
        let rows = self
            .conn()?
            .query("SELECT time_us, principal, action, target, result, detail FROM hope_audit ORDER BY id DESC LIMIT $1", &[&limit])
            .map_err(be("audit"))?;
        Ok(rows
            .iter()
            .map(|r| AuditRecord {
                time_us: r.get(0),
                principal: r.get(1),
                action: r.get(2),
                target: r.get(3),
                result: r.get(4),
                detail: r.get(5),
            })
            .collect())
    }
}
