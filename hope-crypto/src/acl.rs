//! Principals and per-key access control lists.

pub use hope_core::{Principal, Subject};

/// What a grant allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Right {
    /// Fetch the share (to decrypt).
    Get,
    /// Fetch the share, change the ACL, replace or delete the share.
    Admin,
}

/// One ACL entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Grant {
    /// Whom it is for.
    pub subject: Subject,
    /// What it allows.
    pub right: Right,
}

impl Grant {
    /// A grant to one user.
    pub fn user(name: impl Into<String>, right: Right) -> Grant {
        Grant {
            subject: Subject::User(name.into()),
            right,
        }
    }

    /// A grant to a group.
    pub fn group(name: impl Into<String>, right: Right) -> Grant {
        Grant {
            subject: Subject::Group(name.into()),
            right,
        }
    }
}

/// The access control list of one key: its owner (who registered it: every right) and grants.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Acl {
    /// The user who registered the key.
    pub owner: String,
    /// Further rights.
    #[serde(default)]
    pub grants: Vec<Grant>,
}

impl Acl {
    /// Whether `who` holds `right` (the owner holds all; admin implies get).
    pub fn allows(&self, who: &Principal, right: Right) -> bool {
        if who.name == self.owner {
            return true;
        }
        self.grants.iter().any(|g| {
            let covers = g.right == right || g.right == Right::Admin;
            covers && g.subject.matches(who)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_grants_and_groups() {
        let acl = Acl {
            owner: "alice".into(),
            grants: vec![
                Grant::user("bob", Right::Get),
                Grant::group("physics", Right::Admin),
            ],
        };
        let alice = Principal::user("alice");
        let bob = Principal::user("bob");
        let carol = Principal::user("carol").in_group("physics");
        let dave = Principal::user("dave").in_group("radiology");
        assert!(acl.allows(&alice, Right::Admin));
        assert!(acl.allows(&bob, Right::Get));
        assert!(!acl.allows(&bob, Right::Admin));
        assert!(acl.allows(&carol, Right::Get) && acl.allows(&carol, Right::Admin));
        assert!(!acl.allows(&dave, Right::Get));
    }
}
