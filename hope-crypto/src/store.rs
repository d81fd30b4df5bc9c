//! Key stores: where a key server keeps its shares, behind one ACL-checking trait.
//!
//! [`KeyStore`] is the interface; [`MemoryKeyStore`] (for tests and in-process use) and
//! [`DirKeyStore`] (durable: one file per key, written to a temporary file, synced and renamed)
//! implement it with the same access rules, and one conformance suite runs against both:
//!
//! - anyone authenticated may register a new key id and becomes its owner;
//! - fetching a share needs [`Right::Get`]; replacing or deleting a share and changing the ACL
//!   need [`Right::Admin`] (the owner holds every right);
//! - a key server holds only its own share of each key: one share per key id.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::acl::{Acl, Grant, Principal, Right};
use crate::key::KeyId;
use crate::shares::Share;
use crate::{Error, Result};

/// A share with its ACL, as a store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredShare {
    /// The share.
    pub share: Share,
    /// Who may do what with it.
    pub acl: Acl,
}

/// An ACL-checked store of key shares.
pub trait KeyStore: Send + Sync {
    /// Stores a share: a new key id (the caller becomes owner, with `grants`), or a replacement
    /// (needs admin; `grants` then replace the old ones).
    fn put_share(&self, who: &Principal, share: Share, grants: Vec<Grant>) -> Result<()>;
    /// The share of `key_id` (needs get).
    fn get_share(&self, who: &Principal, key_id: &KeyId) -> Result<Share>;
    /// Deletes the share of `key_id` (needs admin).
    fn delete(&self, who: &Principal, key_id: &KeyId) -> Result<()>;
    /// Replaces the grants of `key_id` (needs admin; the owner stays).
    fn set_grants(&self, who: &Principal, key_id: &KeyId, grants: Vec<Grant>) -> Result<()>;
    /// The ACL of `key_id` (needs admin).
    fn acl(&self, who: &Principal, key_id: &KeyId) -> Result<Acl>;
}

/// Where an [`AclStore`] keeps records (private plumbing of the two stores).
pub trait Records: Send + Sync {
    /// The record of `key_id`, if any.
    fn load(&self, key_id: &KeyId) -> Result<Option<StoredShare>>;
    /// Stores a record, durably where the backend is durable.
    fn save(&self, record: &StoredShare) -> Result<()>;
    /// Removes a record.
    fn remove(&self, key_id: &KeyId) -> Result<()>;
}

/// A [`KeyStore`] over some [`Records`]: the ACL logic, written once.
#[derive(Debug)]
pub struct AclStore<R> {
    records: R,
    /// Serialises read-modify-write sequences.
    lock: Mutex<()>,
}

/// A store in memory.
pub type MemoryKeyStore = AclStore<MemoryRecords>;
/// A durable store in a directory, one JSON file per key.
pub type DirKeyStore = AclStore<DirRecords>;

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

impl DirKeyStore {
    /// A store in `dir` (created if missing).
    pub fn open(dir: impl AsRef<Path>) -> Result<DirKeyStore> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(AclStore {
            records: DirRecords { dir },
            lock: Mutex::new(()),
        })
    }
}

fn denied(who: &Principal, action: &'static str, key_id: &KeyId) -> Error {
    Error::AccessDenied {
        principal: who.name.clone(),
        action,
        key_id: key_id.to_string(),
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
    ) -> Result<StoredShare> {
        let rec = self.records.load(key_id)?.ok_or_else(|| Error::NotFound {
            key_id: key_id.to_string(),
        })?;
        if rec.acl.allows(who, right) {
            Ok(rec)
        } else {
            Err(denied(who, action, key_id))
        }
    }
}

impl<R: Records> KeyStore for AclStore<R> {
    fn put_share(&self, who: &Principal, share: Share, grants: Vec<Grant>) -> Result<()> {
        let _g = self.guard();
        let key_id = share.key_id;
        let acl = match self.records.load(&key_id)? {
            None => Acl {
                owner: who.name.clone(),
                grants,
            },
            Some(old) if old.acl.allows(who, Right::Admin) => Acl {
                owner: old.acl.owner,
                grants,
            },
            Some(_) => return Err(denied(who, "put", &key_id)),
        };
        self.records.save(&StoredShare { share, acl })
    }

    fn get_share(&self, who: &Principal, key_id: &KeyId) -> Result<Share> {
        Ok(self.existing(who, key_id, Right::Get, "get")?.share)
    }

    fn delete(&self, who: &Principal, key_id: &KeyId) -> Result<()> {
        let _g = self.guard();
        self.existing(who, key_id, Right::Admin, "delete")?;
        self.records.remove(key_id)
    }

    fn set_grants(&self, who: &Principal, key_id: &KeyId, grants: Vec<Grant>) -> Result<()> {
        let _g = self.guard();
        let mut rec = self.existing(who, key_id, Right::Admin, "set-acl")?;
        rec.acl.grants = grants;
        self.records.save(&rec)
    }

    fn acl(&self, who: &Principal, key_id: &KeyId) -> Result<Acl> {
        Ok(self.existing(who, key_id, Right::Admin, "read-acl")?.acl)
    }
}

/// Records in a hash map.
#[derive(Debug)]
pub struct MemoryRecords(Mutex<HashMap<KeyId, StoredShare>>);

impl Records for MemoryRecords {
    fn load(&self, key_id: &KeyId) -> Result<Option<StoredShare>> {
        Ok(self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key_id)
            .cloned())
    }
    fn save(&self, record: &StoredShare) -> Result<()> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(record.share.key_id, record.clone());
        Ok(())
    }
    fn remove(&self, key_id: &KeyId) -> Result<()> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(key_id);
        Ok(())
    }
}

/// Records as `<dir>/<key id>.json`, written atomically (temporary file, fsync, rename).
#[derive(Debug)]
pub struct DirRecords {
    dir: PathBuf,
}

impl DirRecords {
    fn path(&self, key_id: &KeyId) -> PathBuf {
        self.dir.join(format!("{key_id}.json"))
    }
}

impl Records for DirRecords {
    fn load(&self, key_id: &KeyId) -> Result<Option<StoredShare>> {
        let path = self.path(key_id);
        let bytes = match std::fs::read(&path) {
            Ok(b) => zeroize::Zeroizing::new(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let rec: StoredShare = serde_json::from_slice(&bytes).map_err(|e| Error::Config {
            path: path.clone(),
            field: "share record".into(),
            message: format!("not a valid share record: {e}"),
        })?;
        if rec.share.key_id != *key_id {
            return Err(Error::Config {
                path,
                field: "key_id".into(),
                message: "does not match the file name".into(),
            });
        }
        Ok(Some(rec))
    }

    fn save(&self, record: &StoredShare) -> Result<()> {
        let json = zeroize::Zeroizing::new(
            serde_json::to_vec_pretty(record)
                .map_err(|e| Error::invalid("share record", e.to_string()))?,
        );
        hope_core::fs::write_atomic(self.path(&record.share.key_id), &json)?;
        Ok(())
    }

    fn remove(&self, key_id: &KeyId) -> Result<()> {
        let path = self.path(key_id);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&path, e)),
        }
    }
}
