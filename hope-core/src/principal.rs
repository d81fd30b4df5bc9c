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
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "lowercase", try_from = "SubjectRepr")
)]
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
        write!(
            f,
            "`{}`: expected user:NAME or group:NAME (a name without control characters or \
             surrounding spaces, at most {MAX_SUBJECT_NAME} characters)",
            self.text.escape_debug()
        )
    }
}

impl std::error::Error for SubjectError {}

/// The most characters a subject's name may have (a certificate's CN or OU has at most 64).
pub const MAX_SUBJECT_NAME: usize = 256;

/// Whether `name` may name a user or a group: not empty, at most [`MAX_SUBJECT_NAME`]
/// characters, no control characters (a newline or a terminal escape could forge a log line or
/// hide a grant from whoever reviews it), no space at either end (`user: bob` is not `bob`).
/// The same rule holds for the names a certificate gives (its CN and OUs).
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= MAX_SUBJECT_NAME
        && !name.chars().any(char::is_control)
        && name.trim() == name
}

impl Subject {
    /// Parses `user:NAME` or `group:NAME`; the name is not empty, has no control characters and
    /// no space at either end (see [`MAX_SUBJECT_NAME`]).
    pub fn parse(text: &str) -> Result<Subject, SubjectError> {
        let subject = match text.split_once(':') {
            Some(("user", n)) => Subject::User(n.to_string()),
            Some(("group", n)) => Subject::Group(n.to_string()),
            _ => {
                return Err(SubjectError {
                    text: text.to_string(),
                });
            }
        };
        subject.checked().map_err(|_| SubjectError {
            text: text.to_string(),
        })
    }

    /// This subject if its name is valid (as [`Subject::parse`] requires).
    fn checked(self) -> Result<Subject, Subject> {
        let ok = match &self {
            Subject::User(n) | Subject::Group(n) => is_valid_name(n),
        };
        if ok { Ok(self) } else { Err(self) }
    }

    /// Whether `who` is this user or a member of this group.
    pub fn matches(&self, who: &Principal) -> bool {
        match self {
            Subject::User(u) => *u == who.name,
            Subject::Group(g) => who.is_in(g),
        }
    }
}

/// The serialised form, read before the name is checked: stored ACLs and requests go through the
/// same rules as the command line and configuration files.
#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum SubjectRepr {
    User(String),
    Group(String),
}

#[cfg(feature = "serde")]
impl TryFrom<SubjectRepr> for Subject {
    type Error = SubjectError;
    fn try_from(r: SubjectRepr) -> Result<Subject, SubjectError> {
        let subject = match r {
            SubjectRepr::User(n) => Subject::User(n),
            SubjectRepr::Group(n) => Subject::Group(n),
        };
        subject.checked().map_err(|s| SubjectError {
            text: s.to_string(),
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Attack of issue 20: names a grant could hide behind (control characters, surrounding
    /// spaces) or that no command could remove (empty) are refused, on the command line and in
    /// stored or requested ACLs alike; everything else keeps its exact meaning.
    #[test]
    fn subjects_that_could_hide_or_forge_are_refused_everywhere() {
        for bad in [
            "user:",
            "group:",
            "user: bob",
            "user:bob ",
            "user:e\nvil",
            "group:\u{1b}[2Jx",
            "USER:x",
            "user",
            ":x",
            "",
        ] {
            let err = Subject::parse(bad).unwrap_err();
            assert!(!err.to_string().contains('\u{1b}'), "{err}");
        }
        assert!(Subject::parse(&format!("user:{}", "a".repeat(MAX_SUBJECT_NAME))).is_ok());
        assert!(Subject::parse(&format!("user:{}", "a".repeat(MAX_SUBJECT_NAME + 1))).is_err());
        assert_eq!(
            Subject::parse("group:a:b").unwrap(),
            Subject::Group("a:b".into())
        );
        assert!(
            !Subject::parse("user:*")
                .unwrap()
                .matches(&Principal::user("eve"))
        );
    }

    #[cfg(feature = "serde")]
    #[test]
    fn stored_subjects_go_through_the_same_rules() {
        let ok: Subject = serde_json::from_str(r#"{"group":"physics"}"#).unwrap();
        assert_eq!(ok, Subject::Group("physics".into()));
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r#"{"group":"physics"}"#
        );
        for bad in [
            r#"{"user":""}"#,
            r#"{"group":""}"#,
            r#"{"user":"e\nvil"}"#,
            r#"{"user":" bob"}"#,
        ] {
            assert!(
                serde_json::from_str::<Subject>(bad).is_err(),
                "{bad} was read"
            );
        }
    }
}
