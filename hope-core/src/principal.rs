//! Who is asking: the identity every HOPE-rs service checks rights against.

use std::fmt;

/// An authenticated caller: a user name and the groups it belongs to.
///
/// Services take it from a verified credential (for the key servers and the gateway, the subject of a
/// client certificate: CN as the name, OUs as the groups) and pass it to the libraries, which never
/// authenticate by themselves.
///
/// ```
/// use hope_core::Principal;
///
/// let alice = Principal::user("alice").in_group("physics");
/// assert!(alice.is_in("physics"));
/// assert_eq!(alice.to_string(), "alice");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Principal {
    /// The user.
    pub name: String,
    /// The user's groups.
    #[cfg_attr(feature = "serde", serde(default))]
    pub groups: Vec<String>,
}

impl Principal {
    /// A user with no groups.
    pub fn user(name: impl Into<String>) -> Principal {
        Principal {
            name: name.into(),
            groups: Vec::new(),
        }
    }

    /// This principal with one more group.
    #[must_use]
    pub fn in_group(mut self, group: impl Into<String>) -> Principal {
        self.groups.push(group.into());
        self
    }

    /// Whether the principal belongs to `group`.
    pub fn is_in(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}
