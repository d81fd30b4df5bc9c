//! Collection paths: `/`, `/hospital-a`, `/hospital-a/ophthalmology/studies`.

use std::fmt;
use std::str::FromStr;

use crate::{Error, Result};

/// An absolute, normalised collection path. Segments are 1-64 characters of letters, digits,
/// `.`, `_` and `-`, and not `.` or `..`.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct CollectionPath(String);

/// The longest collection path, bytes. (Every operation walks a path's ancestors: without a
/// bound, one request of megabytes made the server copy the path once per level.)
pub const MAX_PATH_LEN: usize = 1024;

/// The most levels of a collection path.
pub const MAX_DEPTH: usize = 32;

impl CollectionPath {
    /// The root collection `/`.
    pub fn root() -> CollectionPath {
        CollectionPath("/".into())
    }

    /// Parses and checks a path: at most [`MAX_PATH_LEN`] bytes and [`MAX_DEPTH`] segments.
    pub fn parse(s: &str) -> Result<CollectionPath> {
        if s.len() > MAX_PATH_LEN {
            // (Not echoed whole: the text may be megabytes.)
            let head: String = s.chars().take(64).collect();
            return Err(Error::invalid(
                "collection path",
                format!(
                    "`{head}...`: {} bytes; expected at most {MAX_PATH_LEN}",
                    s.len()
                ),
            ));
        }
        let bad = |m: String| Error::invalid("collection path", format!("`{s}`: {m}"));
        if !s.starts_with('/') {
            return Err(bad("expected an absolute path starting with /".into()));
        }
        if s == "/" {
            return Ok(CollectionPath::root());
        }
        let trimmed = s.trim_end_matches('/');
        if trimmed.is_empty() {
            // `//`, `///`: the root, as `/a/` is `/a`.
            return Ok(CollectionPath::root());
        }
        if trimmed[1..].split('/').count() > MAX_DEPTH {
            return Err(bad(format!("more than {MAX_DEPTH} levels")));
        }
        for seg in trimmed[1..].split('/') {
            if seg.is_empty() || seg.len() > 64 || seg == "." || seg == ".." {
                return Err(bad(format!(
                    "segment `{seg}` must be 1-64 characters and not . or .."
                )));
            }
            if !seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            {
                return Err(bad(format!(
                    "segment `{seg}` may hold only letters, digits, . _ and -"
                )));
            }
        }
        Ok(CollectionPath(trimmed.to_string()))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is `/`.
    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    /// The parent (`None` for the root).
    pub fn parent(&self) -> Option<CollectionPath> {
        if self.is_root() {
            return None;
        }
        let i = self.0.rfind('/').unwrap_or(0);
        Some(if i == 0 {
            CollectionPath::root()
        } else {
            CollectionPath(self.0[..i].to_string())
        })
    }

    /// The last segment (empty for the root).
    pub fn name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or("")
    }

    /// A child path.
    pub fn join(&self, segment: &str) -> Result<CollectionPath> {
        if self.is_root() {
            CollectionPath::parse(&format!("/{segment}"))
        } else {
            CollectionPath::parse(&format!("{}/{segment}", self.0))
        }
    }

    /// This path and all its ancestors, root last.
    pub fn ancestry(&self) -> Vec<CollectionPath> {
        let mut out = vec![self.clone()];
        let mut p = self.parent();
        while let Some(q) = p {
            p = q.parent();
            out.push(q);
        }
        out
    }

    /// Whether `self` is `other` or lies below it.
    pub fn is_within(&self, other: &CollectionPath) -> bool {
        other.is_root() || self.0 == other.0 || self.0.starts_with(&format!("{}/", other.0))
    }
}

impl fmt::Display for CollectionPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for CollectionPath {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        CollectionPath::parse(s)
    }
}

impl TryFrom<String> for CollectionPath {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        CollectionPath::parse(&s)
    }
}

impl From<CollectionPath> for String {
    fn from(p: CollectionPath) -> String {
        p.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_normalise_and_navigate() {
        let p = CollectionPath::parse("/hospital-a/ophthalmology/studies/").unwrap();
        assert_eq!(p.as_str(), "/hospital-a/ophthalmology/studies");
        assert_eq!(p.parent().unwrap().as_str(), "/hospital-a/ophthalmology");
        assert_eq!(p.name(), "studies");
        assert_eq!(p.ancestry().len(), 4);
        assert!(p.is_within(&CollectionPath::parse("/hospital-a").unwrap()));
        assert!(
            !CollectionPath::parse("/hospital-ab")
                .unwrap()
                .is_within(&CollectionPath::parse("/hospital-a").unwrap())
        );
        for bad in ["", "a/b", "/a//b", "/a/../b", "/a b", "/a;drop table x"] {
            assert!(CollectionPath::parse(bad).is_err(), "{bad}");
        }
    }

    /// Attack round on issue 21: a 4 MiB path of two million levels made every operation copy
    /// it once per ancestor (terabytes) before any permission check. Paths are bounded; the
    /// error does not echo the whole text.
    #[test]
    fn long_and_deep_paths_are_refused_cheaply() {
        let deep = "/a".repeat(20_000);
        let err = CollectionPath::parse(&deep).unwrap_err().to_string();
        assert!(
            err.contains("at most 1024") && err.len() < 300,
            "{}",
            err.len()
        );
        // (`//` made the parser slice an empty string: a panic in the service's thread.)
        assert!(CollectionPath::parse("//").unwrap().is_root());
        assert!(CollectionPath::parse("///").unwrap().is_root());
        let levels = "/a".repeat(MAX_DEPTH + 1);
        assert!(
            CollectionPath::parse(&levels)
                .unwrap_err()
                .to_string()
                .contains("levels")
        );
        assert_eq!(
            CollectionPath::parse(&"/a".repeat(MAX_DEPTH))
                .unwrap()
                .ancestry()
                .len(),
            MAX_DEPTH + 1
        );
    }
}
