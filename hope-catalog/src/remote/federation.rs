//! Federated queries: one query sent to several hospitals' catalog services at once, each
//! evaluating it under its own ACLs and disclosure rules for the researcher's certificate there,
//! the answers merged and labelled by site, with a status for every site: a site that did not
//! answer is reported, never silently dropped.
//!
//! A sites file (`sites.toml`), client configurations relative to its folder:
//!
//! ```toml
//! timeout_ms = 10000          # how long to wait for the slowest site
//!
//! [[site]]
//! name = "hospital-a"
//! client = "hospital-a.toml"  # a client configuration (server, ca, cert, key)
//! path = "/studies/breast"    # the collection the query runs on there
//! recursive = false           # and the readable collections below it
//! ```

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::client::ClientSettings;
use crate::backend::QueryResult;
use crate::value::Value;
use crate::{Catalog, Error, Result};

/// The most sites one federated query goes to.
pub const MAX_SITES: usize = 256;

/// One site of a federation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    /// The site's name, as its rows are labelled.
    pub name: String,
    /// Its client configuration.
    pub client: PathBuf,
    /// The collection queried there.
    pub path: String,
    /// Whether the query also runs on the readable collections below `path`.
    #[serde(default)]
    pub recursive: bool,
}

/// The sites of a federation and how long to wait for them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sites {
    /// How long to wait for all answers, milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The sites.
    #[serde(rename = "site")]
    pub sites: Vec<Site>,
}

fn default_timeout_ms() -> u64 {
    10_000
}

impl Sites {
    /// Reads a sites file; client paths are taken from its folder. Errors name the file and
    /// the field.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Sites> {
        let path = path.as_ref();
        let (mut s, dir): (Sites, _) = super::read_toml(path, "sites file")?;
        for site in &mut s.sites {
            super::rebase(&dir, &mut site.client);
        }
        s.check().map_err(|e| {
            Error::invalid(
                format!("sites file {}: site", path.display()),
                e.to_string(),
            )
        })?;
        Ok(s)
    }

    /// Checks the values.
    pub fn check(&self) -> Result<()> {
        if self.sites.is_empty() || self.sites.len() > MAX_SITES {
            return Err(Error::invalid(
                "sites",
                format!("{} sites; expected 1 to {MAX_SITES}", self.sites.len()),
            ));
        }
        if !(1..=3_600_000).contains(&self.timeout_ms) {
            return Err(Error::invalid(
                "timeout_ms",
                format!("{}; expected 1 to 3600000", self.timeout_ms),
            ));
        }
        for (i, s) in self.sites.iter().enumerate() {
            if !hope_core::principal::is_valid_name(&s.name) {
                return Err(Error::invalid("site name", format!("{:?}", s.name)));
            }
            if self.sites[..i].iter().any(|o| o.name == s.name) {
                return Err(Error::invalid(
                    "site name",
                    format!("{} appears twice", s.name),
                ));
            }
        }
        Ok(())
    }
}

/// What became of the query at one site.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Status {
    /// The site answered (its rows may be suppressed in part by its disclosure rules).
    Answered,
    /// The site refused the query (permission, its disclosure rules, a query its schema does
    /// not fit): what it said.
    Refused(String),
    /// No answer within the federation's timeout.
    TimedOut,
    /// No connection could be made (down, wrong address, our certificate refused in the
    /// handshake): why.
    Unreachable(String),
    /// The site failed while answering: what it said.
    Failed(String),
}

impl Status {
    /// `answered`, `refused`, `timed out`, `unreachable` or `failed`.
    pub fn label(&self) -> &'static str {
        match self {
            Status::Answered => "answered",
            Status::Refused(_) => "refused",
            Status::TimedOut => "timed out",
            Status::Unreachable(_) => "unreachable",
            Status::Failed(_) => "failed",
        }
    }
}

/// One site's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteAnswer {
    /// The site.
    pub site: String,
    /// What happened.
    pub status: Status,
    /// Its answer, when it answered.
    pub result: Option<QueryResult>,
    /// Whether its rows are in the merged table (its columns are those of the first site that
    /// answered).
    pub merged: bool,
}

/// The answers of every site, and the merged table (`site` column first).
#[derive(Debug, Clone, PartialEq)]
pub struct Federated {
    /// Per site, in the order of the sites file.
    pub sites: Vec<SiteAnswer>,
    /// The rows of the sites that answered, labelled.
    pub merged: QueryResult,
}

fn classify(e: &Error) -> Status {
    match e {
        Error::Remote {
            status: None,
            message,
            ..
        } if message.contains("cannot connect")
            || message.contains("cannot resolve")
            || message.contains("resolves to nothing") =>
        {
            Status::Unreachable(message.clone())
        }
        Error::Remote {
            status: None,
            message,
            ..
        } if message.contains("timed out")
            || message.contains("WouldBlock")
            || message.contains("temporarily unavailable")
            || message.contains("os error 11") =>
        {
            Status::TimedOut
        }
        Error::Remote {
            status: None,
            message,
            ..
        } => Status::Unreachable(message.clone()),
        Error::Remote { message, .. } | Error::Backend { message, .. } => {
            Status::Failed(message.clone())
        }
        other => Status::Refused(other.to_string()),
    }
}

fn ask(site: &Site, text: &str, timeout: Duration) -> Result<QueryResult> {
    let mut settings = ClientSettings::from_file(&site.client)?;
    settings.timeout_ms = settings.timeout_ms.min(timeout.as_millis() as u64).max(1);
    let cat = Catalog::connect(&settings)?;
    let me = cat
        .identities()
        .into_iter()
        .next()
        .ok_or_else(|| Error::invalid("client", "no certificate"))?;
    if site.recursive {
        cat.query_recursive(&me, &site.path, text)
    } else {
        cat.query(&me, &site.path, text)
    }
}

/// Sends `text` to every site at once and waits at most the sites' timeout.
pub fn federate(sites: &Sites, text: &str) -> Federated {
    let timeout = Duration::from_millis(sites.timeout_ms);
    let deadline = Instant::now() + timeout;
    let (tx, rx) = mpsc::channel();
    for (i, site) in sites.sites.iter().enumerate() {
        let (tx, site, text) = (tx.clone(), site.clone(), text.to_string());
        // A site that does not answer is reported as timed out at the deadline; its thread goes
        // on until the client's socket timeout (per read, as long as the federation's) ends it,
        // or longer for a site that trickles bytes: it no longer holds anything up.
        std::thread::spawn(move || {
            let _ = tx.send((i, ask(&site, &text, timeout)));
        });
    }
    drop(tx);
    let mut answers: Vec<Option<Result<QueryResult>>> =
        (0..sites.sites.len()).map(|_| None).collect();
    while answers.iter().any(Option::is_none) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((i, r)) => answers[i] = Some(r),
            Err(_) => break,
        }
    }
    merge(sites, answers)
}

/// The federation's outcome from each site's answer (`None`: none in time).
fn merge(sites: &Sites, answers: Vec<Option<Result<QueryResult>>>) -> Federated {
    let outcomes: Vec<(Status, Option<QueryResult>)> = answers
        .into_iter()
        .map(|a| match a {
            None => (Status::TimedOut, None),
            Some(Ok(r)) => {
                // Every row as wide as the columns, or the answer is not one.
                if r.rows.iter().any(|row| row.len() != r.columns.len()) {
                    (
                        Status::Failed("rows of another width than the columns".into()),
                        None,
                    )
                } else {
                    (Status::Answered, Some(r))
                }
            }
            Some(Err(e)) => (classify(&e), None),
        })
        .collect();
    // The columns most sites answered with (the first of them on a tie): one site cannot push
    // the others out of the merge by answering first with other columns.
    let mut tally: Vec<(&Vec<String>, usize)> = Vec::new();
    for r in outcomes.iter().filter_map(|(_, r)| r.as_ref()) {
        match tally.iter_mut().find(|(c, _)| **c == r.columns) {
            Some((_, n)) => *n += 1,
            None => tally.push((&r.columns, 1)),
        }
    }
    let best = tally.iter().map(|(_, n)| *n).max().unwrap_or(0);
    let columns = tally
        .iter()
        .find(|(_, n)| *n == best)
        .map(|(c, _)| (*c).clone());
    let mut merged = QueryResult {
        columns: columns
            .iter()
            .flat_map(|c| std::iter::once("site".to_string()).chain(c.iter().cloned()))
            .collect(),
        rows: Vec::new(),
    };
    let mut out = Vec::new();
    for (site, (mut status, result)) in sites.sites.iter().zip(outcomes) {
        let mut in_merge = false;
        if let Some(r) = &result {
            if Some(&r.columns) == columns.as_ref() {
                in_merge = true;
                for row in &r.rows {
                    merged.rows.push(
                        std::iter::once(Value::Text(site.name.clone()))
                            .chain(row.iter().cloned())
                            .collect(),
                    );
                }
            } else {
                // Answered, but not mergeable: said, never dropped silently.
                status = Status::Failed(format!(
                    "answered with columns ({}) where most sites answered ({}): not merged",
                    r.columns.join(", "),
                    columns.as_ref().map_or(String::new(), |c| c.join(", "))
                ));
            }
        }
        out.push(SiteAnswer {
            site: site.name.clone(),
            status,
            result,
            merged: in_merge,
        });
    }
    Federated { sites: out, merged }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(columns: &[&str], rows: Vec<Vec<Value>>) -> Option<Result<QueryResult>> {
        Some(Ok(QueryResult {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows,
        }))
    }

    /// Second attack round: a site answering first with other columns pushed every other site
    /// out of the merge while they stayed "answered"; a row narrower than its columns crashed
    /// the table printer.
    #[test]
    fn the_merge_follows_most_sites_and_says_who_is_left_out() {
        let sites = Sites {
            timeout_ms: 1000,
            sites: ["hostile", "a", "b", "c"]
                .iter()
                .map(|n| Site {
                    name: (*n).into(),
                    client: PathBuf::new(),
                    path: "/s".into(),
                    recursive: false,
                })
                .collect(),
        };
        let n = |k: i64| vec![Value::Text("F".into()), Value::Int(k)];
        let f = merge(
            &sites,
            vec![
                answer(
                    &["name", "Secret"],
                    vec![vec![Value::Text("x".into()), Value::Int(1)]],
                ),
                answer(&["Sex", "count(*)"], vec![n(40)]),
                answer(&["Sex", "count(*)"], vec![vec![Value::Text("F".into())]]),
                answer(&["Sex", "count(*)"], vec![n(25)]),
            ],
        );
        assert_eq!(f.merged.columns, ["site", "Sex", "count(*)"]);
        assert_eq!(f.merged.rows.len(), 2);
        assert!(matches!(&f.sites[0].status, Status::Failed(m) if m.contains("not merged")));
        assert_eq!(f.sites[1].status, Status::Answered);
        assert!(matches!(&f.sites[2].status, Status::Failed(m) if m.contains("width")));
        assert!(
            f.sites
                .iter()
                .all(|s| s.merged == (s.status == Status::Answered))
        );
    }
}
