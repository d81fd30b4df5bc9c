//! Key stores: where a key server keeps its shares, behind one ACL-checking trait.
//!
//! [`KeyStore`] is the interface; [`MemoryKeyStore`] (for tests and in-process use) and
//! [`SqliteKeyStore`] (durable: one SQLite database, every write synced before it is
//! acknowledged, fast at millions of keys) implement it with the same rules, and one conformance
//! suite runs against both:
//!
//! - a key id is registered only by the principal it is bound to ([`KeyId::bound_to`]), who
//!   becomes its owner: nobody can claim a key id seen in a container header, even on a server
//!   that lost its share (a replaced server);
//! - fetching a share needs [`Right::Get`]; staging, committing and aborting a re-sharing,
//!   changing the ACL and deleting need [`Right::Admin`] (the owner holds every right);
//! - a re-sharing is two-phase: the new generation's share is *staged* beside the active one and
//!   becomes active only at its commit; a failure never deletes an active share. A fetch returns
//!   the active share and a staged one, so a key stays whole whatever step a re-sharing stopped
//!   at;
//! - ACLs change by adding and removing grants on the server itself (never by a client writing
//!   back what it read elsewhere), each change bumping the ACL's version.
//!
//! Writes of a batch (registration of many keys) are one transaction: one sync for all.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::acl::{Acl, Grant, Principal, Right, Subject};
use crate::key::{BindingSalt, KeyId};
use crate::shares::Share;
use crate::{Error, Result};

/// One key as a store keeps it: ACL, binding, and the active and staged shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// The key.
    pub key_id: KeyId,
    /// Owner and grants.
    pub acl: Acl,
    /// The salt that binds the key id to its owner (`None` for keys registered before binding
    /// existed: they can never be registered again elsewhere).
    pub salt: Option<BindingSalt>,
    /// Bumped by every change of the ACL.
    pub acl_version: u64,
    /// The share in force.
    pub active: Option<Share>,
    /// The share of a re-sharing under way.
    pub staged: Option<Share>,
}

/// A key to register: its share on this server, the binding salt and the grants.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// This server's share (its key id must be bound to the caller by `salt`).
    pub share: Share,
    /// The binding salt.
    pub salt: BindingSalt,
    /// Rights beyond the owner's.
    pub grants: Vec<Grant>,
}

/// What an administrator of a key sees of it on one server.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyInfo {
    /// Owner and grants.
    pub acl: Acl,
    /// The binding salt (hexadecimal), if the key has one.
    #[serde(default, with = "opt_hex16")]
    pub salt: Option<BindingSalt>,
    /// Version of the ACL (bumped by every change).
    pub acl_version: u64,
    /// Generation of the active share, if any.
    pub generation: Option<u32>,
    /// Generation of a staged share, if any.
    pub staged_generation: Option<u32>,
}

mod opt_hex16 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Option<[u8; 16]>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_some(&hex::encode(b)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<[u8; 16]>, D::Error> {
        let Some(text) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        let mut b = [0u8; 16];
        hex::decode_to_slice(text.as_bytes(), &mut b)
            .map_err(|_| serde::de::Error::custom("salt: expected 32 hexadecimal digits"))?;
        Ok(Some(b))
    }
}

/// An ACL-checked store of key shares.
pub trait KeyStore: Send + Sync {
    /// Registers new keys (the caller becomes their owner), in one durable write. One outcome
    /// per key: registered (or registered before with this very share: a retry), or the error.
    fn create(&self, who: &Principal, keys: Vec<NewKey>) -> Result<Vec<Result<()>>>;
    /// The shares of each key (active, then staged), or why not (needs get).
    fn get(&self, who: &Principal, key_ids: &[KeyId]) -> Result<Vec<Result<Vec<Share>>>>;
    /// Stages the share of a new generation (needs admin; a key this server does not hold is
    /// created, with `salt` proving the caller owns its id, and `grants`).
    fn stage(
        &self,
        who: &Principal,
        share: Share,
        salt: Option<BindingSalt>,
        grants: Vec<Grant>,
    ) -> Result<()>;
    /// Makes the staged share of `generation` active (needs admin; done already is fine).
    fn commit(&self, who: &Principal, key_id: &KeyId, generation: u32) -> Result<()>;
    /// Drops the staged share of `generation`, never the active one (needs admin).
    fn abort(&self, who: &Principal, key_id: &KeyId, generation: u32) -> Result<()>;
    /// Removes the grants of `remove`'s subjects, then adds `add` (a grant replaces the same
    /// subject's), atomically (needs admin).
    fn change_acl(
        &self,
        who: &Principal,
        key_id: &KeyId,
        add: Vec<Grant>,
        remove: Vec<Subject>,
    ) -> Result<KeyInfo>;
    /// The ACL and bookkeeping of a key (needs admin).
    fn info(&self, who: &Principal, key_id: &KeyId) -> Result<KeyInfo>;
    /// Deletes a key (needs admin).
    fn delete(&self, who: &Principal, key_id: &KeyId) -> Result<()>;
}

/// Where an [`AclStore`] keeps records (the plumbing of the two stores).
pub trait Records: Send + Sync {
    /// The records of `key_ids`, in order.
    fn load(&self, key_ids: &[KeyId]) -> Result<Vec<Option<StoredKey>>>;
    /// Stores records atomically (all or none), durably where the backend is durable.
    fn save(&self, records: &[StoredKey]) -> Result<()>;
    /// Removes a record.
    fn remove(&self, key_id: &KeyId) -> Result<()>;
}

/// A [`KeyStore`] over some [`Records`]: the rules, written once.
#[derive(Debug)]
pub struct AclStore<R> {
    records: R,
    /// Serialises read-modify-write sequences.
    lock: Mutex<()>,
}

/// A store in memory.
pub type MemoryKeyStore = AclStore<MemoryRecords>;
/// A durable store in an SQLite database.
pub type SqliteKeyStore = AclStore<SqliteRecords>;

impl MemoryKeyStore {
    /// An empty store in memory.
    pub fn new() -> MemoryKeyStore {
        AclStore {
            records: MemoryRecords(Mutex::new(HashMap::new())),
            lock: Mutex::new(()),
        }
    }
}

impl Default for MemoryKeyStore {
    fn default() -> Self {
        Self::new()
    }
}

impl SqliteKeyStore {
    /// A store in the directory `dir` (created if missing), as `dir/shares.sqlite`. Share records
    /// left there by the earlier one-file-per-key store (`<key id>.json`) are imported once and
    /// removed.
    pub fn open(dir: impl AsRef<Path>) -> Result<SqliteKeyStore> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let records = SqliteRecords::open(&dir.join("shares.sqlite"))?;
        let store = AclStore {
            records,
            lock: Mutex::new(()),
        };
        import_legacy(&dir, &store.records)?;
        Ok(store)
    }
}

fn denied(who: &Principal, action: &'static str, key_id: &KeyId) -> Error {
    Error::AccessDenied {
        principal: who.name.clone(),
        action,
        key_id: key_id.to_string(),
    }
}

fn not_found(key_id: &KeyId) -> Error {
    Error::NotFound {
        key_id: key_id.to_string(),
    }
}

fn conflict(key_id: &KeyId, message: impl Into<String>) -> Error {
    Error::Conflict {
        key_id: key_id.to_string(),
        message: message.into(),
    }
}

fn info_of(rec: &StoredKey) -> KeyInfo {
    KeyInfo {
        acl: rec.acl.clone(),
        salt: rec.salt,
        acl_version: rec.acl_version,
        generation: rec.active.as_ref().map(|s| s.generation),
        staged_generation: rec.staged.as_ref().map(|s| s.generation),
    }
}

impl<R: Records> AclStore<R> {
    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn existing(
        &self,
        who: &Principal,
        key_id: &KeyId,
        right: Right,
        action: &'static str,
    ) -> Result<StoredKey> {
        let rec = self
            .records
            .load(std::slice::from_ref(key_id))?
            .pop()
            .flatten()
            .ok_or_else(|| not_found(key_id))?;
        if rec.acl.allows(who, right) {
            Ok(rec)
        } else {
            Err(denied(who, action, key_id))
        }
    }
}

impl<R: Records> KeyStore for AclStore<R> {
    fn create(&self, who: &Principal, keys: Vec<NewKey>) -> Result<Vec<Result<()>>> {
        let _g = self.guard();
        let ids: Vec<KeyId> = keys.iter().map(|k| k.share.key_id).collect();
        let existing = self.records.load(&ids)?;
        let mut outcomes = Vec::with_capacity(keys.len());
        let mut writes: Vec<StoredKey> = Vec::new();
        for (k, old) in keys.into_iter().zip(existing) {
            let id = k.share.key_id;
            if !id.is_bound_to(&who.name, &k.salt) {
                outcomes.push(Err(denied(who, "create", &id)));
                continue;
            }
            if writes.iter().any(|w| w.key_id == id) {
                outcomes.push(Err(conflict(&id, "twice in one batch")));
                continue;
            }
            match old {
                Some(rec) if rec.acl.owner == who.name && rec.active.as_ref() == Some(&k.share) => {
                    outcomes.push(Ok(())); // a retry of a registration that went through
                }
                Some(_) => outcomes.push(Err(conflict(&id, "is registered already"))),
                None => {
                    writes.push(StoredKey {
                        key_id: id,
                        acl: Acl {
                            owner: who.name.clone(),
                            grants: k.grants,
                        },
                        salt: Some(k.salt),
                        acl_version: 1,
                        active: Some(k.share),
                        staged: None,
                    });
                    outcomes.push(Ok(()));
                }
            }
        }
        self.records.save(&writes)?;
        Ok(outcomes)
    }

    fn get(&self, who: &Principal, key_ids: &[KeyId]) -> Result<Vec<Result<Vec<Share>>>> {
        Ok(self
            .records
            .load(key_ids)?
            .into_iter()
            .zip(key_ids)
            .map(|(rec, id)| match rec {
                None => Err(not_found(id)),
                Some(r) if !r.acl.allows(who, Right::Get) => Err(denied(who, "get", id)),
                Some(r) => Ok(r.active.into_iter().chain(r.staged).collect()),
            })
            .collect())
    }

    fn stage(
        &self,
        who: &Principal,
        share: Share,
        salt: Option<BindingSalt>,
        grants: Vec<Grant>,
    ) -> Result<()> {
        let _g = self.guard();
        let id = share.key_id;
        let old = self
            .records
            .load(std::slice::from_ref(&id))?
            .pop()
            .flatten();
        let rec = match old {
            Some(mut rec) => {
                if !rec.acl.allows(who, Right::Admin) {
                    return Err(denied(who, "stage", &id));
                }
                if let Some(a) = &rec.active
                    && share.generation <= a.generation
                {
                    return Err(conflict(
                        &id,
                        format!(
                            "generation {} is not newer than the active generation {}",
                            share.generation, a.generation
                        ),
                    ));
                }
                rec.staged = Some(share);
                rec
            }
            None => {
                // A server that lost the key (replaced): only the owner the id is bound to may
                // put it back.
                let Some(salt) = salt.filter(|s| id.is_bound_to(&who.name, s)) else {
                    return Err(denied(who, "stage", &id));
                };
                StoredKey {
                    key_id: id,
                    acl: Acl {
                        owner: who.name.clone(),
                        grants,
                    },
                    salt: Some(salt),
                    acl_version: 1,
                    active: None,
                    staged: Some(share),
                }
            }
        };
        self.records.save(&[rec])
    }

    fn commit(&self, who: &Principal, key_id: &KeyId, generation: u32) -> Result<()> {
        let _g = self.guard();
        let mut rec = self.existing(who, key_id, Right::Admin, "commit")?;
        match (&rec.staged, &rec.active) {
            (Some(s), _) if s.generation == generation => {
                rec.active = rec.staged.take();
                self.records.save(&[rec])
            }
            (_, Some(a)) if a.generation == generation => Ok(()),
            _ => Err(conflict(
                key_id,
                format!("no staged share of generation {generation}"),
            )),
        }
    }

    fn abort(&self, who: &Principal, key_id: &KeyId, generation: u32) -> Result<()> {
        let _g = self.guard();
        let mut rec = self.existing(who, key_id, Right::Admin, "abort")?;
        if rec
            .staged
            .as_ref()
            .is_some_and(|s| s.generation == generation)
        {
            rec.staged = None;
            if rec.active.is_none() {
                // Created by the staging itself: nothing is left of it.
                return self.records.remove(key_id);
            }
            return self.records.save(&[rec]);
        }
        Ok(())
    }

    fn change_acl(
        &self,
        who: &Principal,
        key_id: &KeyId,
        add: Vec<Grant>,
        remove: Vec<Subject>,
    ) -> Result<KeyInfo> {
        let _g = self.guard();
        let mut rec = self.existing(who, key_id, Right::Admin, "set-acl")?;
        rec.acl.grants.retain(|g| {
            !remove.contains(&g.subject) && !add.iter().any(|a| a.subject == g.subject)
        });
        rec.acl.grants.extend(add);
        rec.acl_version += 1;
        self.records.save(std::slice::from_ref(&rec))?;
        Ok(info_of(&rec))
    }

    fn info(&self, who: &Principal, key_id: &KeyId) -> Result<KeyInfo> {
        Ok(info_of(&self.existing(
            who,
            key_id,
            Right::Admin,
            "read-acl",
        )?))
    }

    fn delete(&self, who: &Principal, key_id: &KeyId) -> Result<()> {
        let _g = self.guard();
        self.existing(who, key_id, Right::Admin, "delete")?;
        self.records.remove(key_id)
    }
}

/// Records in a hash map.
#[derive(Debug)]
pub struct MemoryRecords(Mutex<HashMap<KeyId, StoredKey>>);

impl MemoryRecords {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<KeyId, StoredKey>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Records for MemoryRecords {
    fn load(&self, key_ids: &[KeyId]) -> Result<Vec<Option<StoredKey>>> {
        let m = self.map();
        Ok(key_ids.iter().map(|id| m.get(id).cloned()).collect())
    }
    fn save(&self, records: &[StoredKey]) -> Result<()> {
        let mut m = self.map();
        for r in records {
            m.insert(r.key_id, r.clone());
        }
        Ok(())
    }
    fn remove(&self, key_id: &KeyId) -> Result<()> {
        self.map().remove(key_id);
        Ok(())
    }
}

/// Records in an SQLite database: one row per key, written in WAL mode with `synchronous=FULL`
/// (a transaction is on disk before it is acknowledged) and `secure_delete` (replaced and
/// deleted shares are overwritten in the file, not left in free pages).
pub struct SqliteRecords {
    path: PathBuf,
    conn: Mutex<rusqlite::Connection>,
}

impl std::fmt::Debug for SqliteRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteRecords")
            .field("path", &self.path)
            .finish()
    }
}

fn db_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Config {
        path: path.to_path_buf(),
        field: "share store".into(),
        message: e.to_string(),
    }
}

/// Most key ids in one SQL statement.
const LOAD_CHUNK: usize = 500;

impl SqliteRecords {
    fn open(path: &Path) -> Result<SqliteRecords> {
        let conn = rusqlite::Connection::open(path).map_err(|e| db_error(path, e))?;
        let setup = || -> rusqlite::Result<()> {
            conn.busy_timeout(std::time::Duration::from_secs(10))?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "FULL")?;
            conn.pragma_update(None, "secure_delete", true)?;
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS keys (
                    key_id BLOB PRIMARY KEY,
                    owner TEXT NOT NULL,
                    salt BLOB,
                    grants TEXT NOT NULL,
                    acl_version INTEGER NOT NULL,
                    active BLOB,
                    staged BLOB
                ) WITHOUT ROWID;",
            )
        };
        setup().map_err(|e| db_error(path, e))?;
        Ok(SqliteRecords {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn row(&self, row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<StoredKey>> {
        let id: Vec<u8> = row.get(0)?;
        let owner: String = row.get(1)?;
        let salt: Option<Vec<u8>> = row.get(2)?;
        let grants: String = row.get(3)?;
        let acl_version: i64 = row.get(4)?;
        let active: Option<zeroize::Zeroizing<Vec<u8>>> = row
            .get::<_, Option<Vec<u8>>>(5)?
            .map(zeroize::Zeroizing::new);
        let staged: Option<zeroize::Zeroizing<Vec<u8>>> = row
            .get::<_, Option<Vec<u8>>>(6)?
            .map(zeroize::Zeroizing::new);
        let corrupt = |what: &str| db_error(&self.path, format!("a corrupt record: {what}"));
        let decode = || -> Result<StoredKey> {
            let key_id = KeyId(id.as_slice().try_into().map_err(|_| corrupt("key id"))?);
            let salt = match salt {
                Some(s) => Some(s.as_slice().try_into().map_err(|_| corrupt("salt"))?),
                None => None,
            };
            let grants: Vec<Grant> =
                serde_json::from_str(&grants).map_err(|_| corrupt("grants"))?;
            let share = |b: Option<zeroize::Zeroizing<Vec<u8>>>| -> Result<Option<Share>> {
                match b {
                    None => Ok(None),
                    Some(b) => Share::from_record(&b)
                        .filter(|s| s.key_id == key_id)
                        .map(Some)
                        .ok_or_else(|| corrupt("share")),
                }
            };
            Ok(StoredKey {
                key_id,
                acl: Acl { owner, grants },
                salt,
                acl_version: u64::try_from(acl_version).map_err(|_| corrupt("acl version"))?,
                active: share(active)?,
                staged: share(staged)?,
            })
        };
        Ok(decode())
    }
}

impl Records for SqliteRecords {
    fn load(&self, key_ids: &[KeyId]) -> Result<Vec<Option<StoredKey>>> {
        let conn = self.conn();
        let mut found: HashMap<KeyId, StoredKey> = HashMap::new();
        for chunk in key_ids.chunks(LOAD_CHUNK) {
            let marks = vec!["?"; chunk.len()].join(",");
            let sql = format!(
                "SELECT key_id, owner, salt, grants, acl_version, active, staged FROM keys WHERE key_id IN ({marks})"
            );
            let mut stmt = conn
                .prepare_cached(&sql)
                .map_err(|e| db_error(&self.path, e))?;
            let params: Vec<&[u8]> = chunk.iter().map(|k| &k.0[..]).collect();
            let rows = stmt
                .query_map(rusqlite::params_from_iter(params), |r| self.row(r))
                .map_err(|e| db_error(&self.path, e))?;
            for r in rows {
                let rec = r.map_err(|e| db_error(&self.path, e))??;
                found.insert(rec.key_id, rec);
            }
        }
        Ok(key_ids.iter().map(|id| found.get(id).cloned()).collect())
    }

    fn save(&self, records: &[StoredKey]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| db_error(&self.path, e))?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO keys (key_id, owner, salt, grants, acl_version, active, staged)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(|e| db_error(&self.path, e))?;
            for r in records {
                let grants =
                    serde_json::to_string(&r.acl.grants).map_err(|e| db_error(&self.path, e))?;
                let active = r.active.as_ref().map(Share::to_record);
                let staged = r.staged.as_ref().map(Share::to_record);
                stmt.execute(rusqlite::params![
                    &r.key_id.0[..],
                    r.acl.owner,
                    r.salt.as_ref().map(|s| &s[..]),
                    grants,
                    i64::try_from(r.acl_version).unwrap_or(i64::MAX),
                    active.as_ref().map(|b| &b[..]),
                    staged.as_ref().map(|b| &b[..]),
                ])
                .map_err(|e| db_error(&self.path, e))?;
            }
        }
        tx.commit().map_err(|e| db_error(&self.path, e))
    }

    fn remove(&self, key_id: &KeyId) -> Result<()> {
        self.conn()
            .execute("DELETE FROM keys WHERE key_id = ?1", [&key_id.0[..]])
            .map(drop)
            .map_err(|e| db_error(&self.path, e))
    }
}

/// A record of the one-file-per-key store that came before.
#[derive(serde::Deserialize)]
struct LegacyRecord {
    share: Share,
    acl: Acl,
}

/// Imports `<key id>.json` records of the earlier directory store, in one transaction, then
/// removes their files.
fn import_legacy(dir: &Path, records: &SqliteRecords) -> Result<()> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let Some(id) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".json"))
            .and_then(|n| n.parse::<KeyId>().ok())
        else {
            continue;
        };
        let bytes = zeroize::Zeroizing::new(
            hope_core::fs::read_bounded(&path, hope_core::fs::MAX_CONFIG_BYTES)
                .map_err(|e| Error::io(&path, e))?,
        );
        let rec: LegacyRecord = serde_json::from_slice(&bytes).map_err(|e| Error::Config {
            path: path.clone(),
            field: "share record".into(),
            message: format!("not a valid share record: {e}"),
        })?;
        if rec.share.key_id != id {
            return Err(Error::Config {
                path,
                field: "key_id".into(),
                message: "does not match the file name".into(),
            });
        }
        found.push((
            path,
            StoredKey {
                key_id: id,
                acl: rec.acl,
                salt: None,
                acl_version: 1,
                active: Some(rec.share),
                staged: None,
            },
        ));
    }
    if found.is_empty() {
        return Ok(());
    }
    let recs: Vec<StoredKey> = found.iter().map(|(_, r)| r.clone()).collect();
    records.save(&recs)?;
    for (path, _) in found {
        std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
    }
    Ok(())
}
