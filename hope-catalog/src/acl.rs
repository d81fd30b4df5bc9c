//! Principals and POSIX-like permissions with ACLs, inherited down the collection tree.

use crate::{Error, Result};

pub use hope_core::{Principal, Subject};

/// A permission. Each implies the ones before it: admin ⊇ write ⊇ read.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// Query, list and read entries and annotations.
    Read,
    /// Add, change and delete entries; create sub-collections; annotate.
    Write,
    /// Change the schema, the permissions; remove the collection.
    Admin,
}

impl Permission {
    /// The word used in errors and audit records.
    pub fn name(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Write => "write",
            Permission::Admin => "admin",
        }
    }

    /// Parses `read`, `write`, `admin` or a letter `r`, `w`, `a`; `-`/`none` is no permission.
    pub fn parse(s: &str) -> Result<Option<Permission>> {
        match s {
            "r" | "read" => Ok(Some(Permission::Read)),
            "w" | "write" => Ok(Some(Permission::Write)),
            "a" | "admin" => Ok(Some(Permission::Admin)),
            "-" | "none" => Ok(None),
            _ => Err(Error::invalid(
                "permission",
                format!("`{s}`; expected read, write, admin or none"),
            )),
        }
    }
}

/// One ACL entry: the highest permission granted to a subject.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AclEntry {
    /// Whom it is for.
    pub subject: Subject,
    /// What it grants (and everything below).
    pub permission: Permission,
}

/// The permissions of one collection, POSIX-like: owner (everything), an optional group and
/// everyone else, plus ACL entries. With `inherit` (the default), the grants of the parent
/// collection apply too, recursively.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Permissions {
    /// The owner: every permission.
    pub owner: String,
    /// The collection's group, if any.
    #[serde(default)]
    pub group: Option<String>,
    /// What the group may do.
    #[serde(default)]
    pub group_permission: Option<Permission>,
    /// What everyone else may do.
    #[serde(default)]
    pub other_permission: Option<Permission>,
    /// Further grants.
    #[serde(default)]
    pub acl: Vec<AclEntry>,
    /// Whether the parent's grants apply here too.
    #[serde(default = "yes")]
    pub inherit: bool,
}

fn yes() -> bool {
    true
}

impl Permissions {
    /// Owner only, inheriting from the parent.
    pub fn owned_by(owner: impl Into<String>) -> Permissions {
        Permissions {
            owner: owner.into(),
            group: None,
            group_permission: None,
            other_permission: None,
            acl: Vec::new(),
            inherit: true,
        }
    }

    /// The highest permission these permissions alone give `p`.
    pub fn local_grant(&self, p: &Principal) -> Option<Permission> {
        if p.name == self.owner {
            return Some(Permission::Admin);
        }
        let mut best = self.other_permission;
        if let (Some(g), Some(gp)) = (&self.group, self.group_permission)
            && p.is_in(g)
        {
            best = best.max(Some(gp));
        }
        for e in &self.acl {
            if e.subject.matches(p) {
                best = best.max(Some(e.permission));
            }
        }
        best
    }
}

/// The effective permission of `p` on a collection, given its permissions and its ancestors'
/// (nearest first).
pub fn effective<'a>(
    p: &Principal,
    chain: impl IntoIterator<Item = &'a Permissions>,
) -> Option<Permission> {
    let mut best = None;
    for perms in chain {
        best = best.max(perms.local_grant(p));
        if !perms.inherit {
            break;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_group_other_acl_and_inheritance() {
        let mut root = Permissions::owned_by("admin");
        root.other_permission = Some(Permission::Read);
        let mut dept = Permissions::owned_by("alice");
        dept.group = Some("physics".into());
        dept.group_permission = Some(Permission::Write);
        dept.acl.push(AclEntry {
            subject: Subject::User("bob".into()),
            permission: Permission::Admin,
        });
        let alice = Principal::user("alice");
        let carol = Principal::user("carol").in_group("physics");
        let eve = Principal::user("eve");
        assert_eq!(effective(&alice, [&dept, &root]), Some(Permission::Admin));
        assert_eq!(effective(&carol, [&dept, &root]), Some(Permission::Write));
        assert_eq!(
            effective(&Principal::user("bob"), [&dept, &root]),
            Some(Permission::Admin)
        );
        assert_eq!(
            effective(&eve, [&dept, &root]),
            Some(Permission::Read),
            "inherited from /"
        );
        dept.inherit = false;
        assert_eq!(effective(&eve, [&dept, &root]), None, "inheritance cut");
        assert_eq!(
            effective(&Principal::user("admin"), [&dept, &root]),
            None,
            "root owner is not owner here"
        );
    }
}
