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

/// Whom a right is granted to: one user or every member of a group. The key servers' grants, the
/// catalog's ACL entries and the gateway's readers all use this one type, written `user:NAME` or
/// `group:NAME` in configuration files and on the command line.
///
/// ```
/// use hope_core::{Principal, Subject};
///
/// let physics: Subject = "group:physics".parse()?;
/// assert!(physics.matches(&Principal::user("carol").in_group("physics")));
/// assert_eq!(physics.to_string(), "group:physics");
/// assert!("physics".parse::<Subject>().is_err());
/// # Ok::<(), hope_core::principal::SubjectError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Subject {
    /// One user, by name (a client certificate's CN).
    User(String),
    /// Every member of a group (a client certificate's OU).
    Group(String),
}

/// A subject that is not `user:NAME` or `group:NAME`. It keeps the text, so that a caller can name
/// the field and the file it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectError {
    /// The text that was refused.
    pub text: String,
}

impl fmt::Display for SubjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: expected user:NAME or group:NAME", self.text)
    }
}

impl std::error::Error for SubjectError {}

impl Subject {
    /// Parses `user:NAME` or `group:NAME` (the name not empty).
    pub fn parse(text: &str) -> Result<Subject, SubjectError> {
        match text.split_once(':') {
            Some(("user", n)) if !n.is_empty() => Ok(Subject::User(n.to_string())),
            Some(("group", n)) if !n.is_empty() => Ok(Subject::Group(n.to_string())),
            _ => Err(SubjectError {
                text: text.to_string(),
            }),
        }
    }

    /// Whether `who` is this user or a member of this group.
    pub fn matches(&self, who: &Principal) -> bool {
        match self {
            Subject::User(u) => *u == who.name,
            Subject::Group(g) => who.is_in(g),
        }
    }
}

impl std::str::FromStr for Subject {
    type Err = SubjectError;
    fn from_str(text: &str) -> Result<Subject, SubjectError> {
        Subject::parse(text)
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::User(n) => write!(f, "user:{n}"),
            Subject::Group(n) => write!(f, "group:{n}"),
        }
    }
}
