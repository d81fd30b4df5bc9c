//! Replication of a collection subtree from one catalog to another: a read-only copy, brought up
//! to date incrementally, resumable after a crash. A regional catalog holds the pseudonymous
//! study indexes of several hospitals this way (each hospital's service as the source, the
//! regional catalog as the target), or a hospital keeps a copy for reading.
//!
//! A run walks the source subtree in path order. For each collection it makes the target's
//! schema the source's (attributes added and dropped), copies the permissions with every right
//! lowered to read (the copy is read-only; the replicating principal owns it), and compares the
//! entries of both sides in name order, page by page: what the target lacks is added, what
//! differs is updated, what the source no longer has is removed. Collections the source no
//! longer has are removed from the copy. Only differences are written, so a run over an
//! unchanged source writes nothing.
//!
//! Resuming: with a state file, the position (collection, last entry name) is written atomically
//! after every page; a run that finds one skips what the interrupted run had finished and goes
//! on from there. Every step is idempotent, so a page that was written but not yet recorded is
//! simply found equal. The state file is removed when a run completes. What changed at the
//! source behind the resumed position is taken up by the next run.
//!
//! Both sides are [`Catalog`]s: local files, PostgreSQL, or catalog services (the source's ACLs
//! and disclosure rules apply to the replicating principal as to anyone).

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::acl::{AclEntry, Permission, Permissions};
use crate::path::CollectionPath;
use crate::schema::{Entry, Schema};
use crate::value::Value;
use crate::{Catalog, Error, Principal, Result};

/// One side of a replication.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    /// The catalog.
    pub catalog: &'a Catalog,
    /// Who acts on it.
    pub who: &'a Principal,
    /// The subtree's root.
    pub path: &'a str,
}

/// How a run goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Entries per page (read and written in one request).
    pub page: usize,
    /// Where the position is kept between pages (no resuming without one).
    pub state: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            page: 2_000,
            state: None,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Collections compared.
    pub collections: usize,
    /// Collections created in the copy.
    pub created: usize,
    /// Collections removed from the copy.
    pub removed_collections: usize,
    /// Attributes added or dropped.
    pub schema_changes: usize,
    /// Entries added.
    pub added: usize,
    /// Entries updated.
    pub updated: usize,
    /// Entries removed.
    pub removed: usize,
    /// Whether the run went on from an interrupted one.
    pub resumed: bool,
}

impl Report {
    /// Whether the run wrote anything.
    pub fn changed(&self) -> bool {
        self.created
            + self.removed_collections
            + self.schema_changes
            + self.added
            + self.updated
            + self.removed
            > 0
    }
}

/// The position of an interrupted run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct State {
    source: String,
    target: String,
    /// The collection being copied (relative to the source root) and the last entry name done.
    collection: String,
    after: Option<String>,
}

/// `path` relative to `root`; an error for a path outside it (a hostile source listing
/// collections elsewhere; second attack round: it panicked).
fn relative(root: &CollectionPath, path: &CollectionPath) -> Result<String> {
    if !path.is_within(root) {
        return Err(Error::invalid(
            "replication",
            format!("{path} is not within {root}"),
        ));
    }
    let rest = path.as_str().get(root.as_str().len()..).unwrap_or("");
    Ok(rest.trim_start_matches('/').to_string())
}

fn join(root: &CollectionPath, rel: &str) -> Result<CollectionPath> {
    if rel.is_empty() {
        return Ok(root.clone());
    }
    CollectionPath::parse(&format!("{}/{rel}", root.as_str().trim_end_matches('/')))
}

/// Every collection of the subtree at `root`, in path order.
fn subtree(side: &Side<'_>, root: &CollectionPath) -> Result<Vec<CollectionPath>> {
    let mut out = vec![root.clone()];
    let mut i = 0;
    while i < out.len() {
        let children = side.catalog.list(side.who, out[i].as_str())?;
        out.extend(children);
        i += 1;
        if out.len() > 1_000_000 {
            return Err(Error::invalid(
                "replication",
                "more than a million collections",
            ));
        }
    }
    out.sort();
    Ok(out)
}

fn read_only(p: Option<Permission>) -> Option<Permission> {
    p.map(|p| p.min(Permission::Read))
}

/// The copy's permissions: the source's, every right lowered to read, owned by `owner`.
fn copied(source: &Permissions, owner: &str) -> Permissions {
    Permissions {
        owner: owner.to_string(),
        group: source.group.clone(),
        group_permission: read_only(source.group_permission),
        other_permission: read_only(source.other_permission),
        acl: source
            .acl
            .iter()
            .map(|e| AclEntry {
                subject: e.subject.clone(),
                permission: e.permission.min(Permission::Read),
            })
            .collect(),
        inherit: source.inherit,
    }
}

/// A page of entries of `path`, in name order, after `after`.
fn page(side: &Side<'_>, path: &str, after: Option<&str>, n: usize) -> Result<Vec<Entry>> {
    let filter = after.map_or(String::new(), |a| {
        format!("name > '{}' ", a.replace('\'', "''"))
    });
    let r = side
        .catalog
        .query(side.who, path, &format!("{filter}order by name limit {n}"))?;
    let cols = &r.columns;
    let Some(ni) = cols.iter().position(|c| c == "name") else {
        return Err(Error::invalid(
            "replication",
            "the answer has no name column",
        ));
    };
    r.rows
        .into_iter()
        .map(|row| {
            let Value::Text(name) = &row[ni] else {
                return Err(Error::invalid("replication", "an entry name is not text"));
            };
            let mut e = Entry::new(name.clone());
            for (c, v) in cols.iter().zip(row) {
                if c != "name" && c != "collection" && !v.is_null() {
                    e.values.insert(c.clone(), v);
                }
            }
            Ok(e)
        })
        .collect()
}

fn save(options: &Options, state: &State) -> Result<()> {
    if let Some(p) = &options.state {
        let bytes = serde_json::to_vec(state)
            .map_err(|e| Error::invalid("replication state", e.to_string()))?;
        hope_core::fs::write_atomic(p, &bytes).map_err(|e| {
            Error::invalid(format!("replication state {}", p.display()), e.to_string())
        })?;
    }
    Ok(())
}

fn load(options: &Options, source: &str, target: &str) -> Result<Option<State>> {
    let Some(p) = &options.state else {
        return Ok(None);
    };
    if !p.exists() {
        return Ok(None);
    }
    let bad = |m: String| Error::invalid(format!("replication state {}", p.display()), m);
    let bytes = hope_core::fs::read_bounded(p, 64 * 1024).map_err(|e| bad(e.to_string()))?;
    let s: State = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    if s.source != source || s.target != target {
        return Err(bad(format!(
            "it is the state of a replication of {} to {}, not of {source} to {target}",
            s.source, s.target
        )));
    }
    Ok(Some(s))
}

/// Brings the copy at `to` up to date with the subtree at `from`; `progress` hears of every
/// page written (an error from it stops the run, as a crash would).
pub fn replicate(
    from: Side<'_>,
    to: Side<'_>,
    options: &Options,
    progress: &mut dyn FnMut(&Report) -> Result<()>,
) -> Result<Report> {
    let src_root = CollectionPath::parse(from.path)?;
    let dst_root = CollectionPath::parse(to.path)?;
    if options.page == 0 || options.page > 100_000 {
        return Err(Error::invalid(
            "replication page",
            format!("{}; expected 1 to 100000", options.page),
        ));
    }
    let resume = load(options, src_root.as_str(), dst_root.as_str())?;
    let mut report = Report {
        resumed: resume.is_some(),
        ..Report::default()
    };
    let collections = subtree(&from, &src_root)?;
    let wanted: BTreeSet<String> = collections
        .iter()
        .map(|c| relative(&src_root, c))
        .collect::<Result<_>>()?;
    for src in &collections {
        let rel = relative(&src_root, src)?;
        let mut after: Option<String> = None;
        if let Some(r) = &resume {
            if rel < r.collection {
                continue;
            }
            if rel == r.collection {
                after.clone_from(&r.after);
            }
        }
        let dst = join(&dst_root, &rel)?;
        report.collections += 1;
        // The collection, its schema and its permissions.
        match to.catalog.schema(to.who, dst.as_str()) {
            Ok(_) => {}
            Err(Error::NotFound(_)) => {
                to.catalog.mkdir_all(to.who, dst.as_str())?;
                report.created += 1;
            }
            Err(e) => return Err(e),
        }
        let schema: Schema = from.catalog.schema(from.who, src.as_str())?;
        let have: Schema = to.catalog.schema(to.who, dst.as_str())?;
        for a in &have.attributes {
            if schema.get(&a.name).is_none_or(|s| s.ty != a.ty) {
                to.catalog.drop_attribute(to.who, dst.as_str(), &a.name)?;
                report.schema_changes += 1;
            }
        }
        let have: Schema = to.catalog.schema(to.who, dst.as_str())?;
        for a in &schema.attributes {
            if have.get(&a.name).is_none() {
                let mut a = a.clone();
                // (A required attribute cannot be added to a collection with entries.)
                a.nullable = true;
                to.catalog.add_attribute(to.who, dst.as_str(), a)?;
                report.schema_changes += 1;
            }
        }
        let permissions = from.catalog.permissions(from.who, src.as_str())?;
        let mut wanted_perms = copied(&permissions, &to.who.name);
        if dst == dst_root {
            // The copy's root takes nothing from the target's ancestors: no grant there makes
            // the copy writable.
            wanted_perms.inherit = false;
        }
        if to.catalog.permissions(to.who, dst.as_str())? != wanted_perms {
            to.catalog
                .set_permissions(to.who, dst.as_str(), wanted_perms)?;
        }
        // The entries, in name order on both sides.
        loop {
            let mine = page(&from, src.as_str(), after.as_deref(), options.page)?;
            let last = mine.last().map(|e| e.name.clone());
            // The target's entries in the same span of names (all that are left, once the
            // source has no more: they go).
            let mut theirs = Vec::new();
            let mut cursor = after.clone();
            loop {
                let p = page(&to, dst.as_str(), cursor.as_deref(), options.page)?;
                let done = p.len() < options.page
                    || p.last()
                        .zip(last.as_ref())
                        .is_some_and(|(e, l)| e.name >= *l);
                cursor = p.last().map(|e| e.name.clone());
                theirs.extend(
                    p.into_iter()
                        .filter(|e| last.as_ref().is_none_or(|l| e.name <= *l)),
                );
                if done {
                    break;
                }
            }
            let (mut add, mut update, mut remove) = (Vec::new(), Vec::new(), Vec::new());
            let (mut i, mut j) = (0, 0);
            while i < mine.len() || j < theirs.len() {
                match (mine.get(i), theirs.get(j)) {
                    (Some(a), Some(b)) if a.name == b.name => {
                        if a != b {
                            update.push(a);
                        }
                        i += 1;
                        j += 1;
                    }
                    (Some(a), Some(b)) if a.name < b.name => {
                        add.push(a.clone());
                        i += 1;
                    }
                    (Some(a), None) => {
                        add.push(a.clone());
                        i += 1;
                    }
                    (_, Some(b)) => {
                        remove.push(b.name.clone());
                        j += 1;
                    }
                    (None, None) => break,
                }
            }
            if !add.is_empty() {
                report.added += to.catalog.add_many(to.who, dst.as_str(), add)?;
            }
            for e in update {
                let mut values: Vec<(String, Value)> = e
                    .values
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                for a in &schema.attributes {
                    if !e.values.contains_key(&a.name) {
                        values.push((a.name.clone(), Value::Null));
                    }
                }
                to.catalog.update(to.who, dst.as_str(), &e.name, values)?;
                report.updated += 1;
            }
            for name in &remove {
                to.catalog.remove(to.who, dst.as_str(), name)?;
                report.removed += 1;
            }
            let Some(l) = last else { break };
            after = Some(l);
            save(
                options,
                &State {
                    source: src_root.to_string(),
                    target: dst_root.to_string(),
                    collection: rel.clone(),
                    after: after.clone(),
                },
            )?;
            progress(&report)?;
            if mine.len() < options.page {
                break;
            }
        }
    }
    // Collections the source no longer has: gone from the copy, deepest first.
    let mut extra: Vec<CollectionPath> = subtree(&to, &dst_root)?
        .into_iter()
        .filter(|c| relative(&dst_root, c).is_ok_and(|r| !wanted.contains(&r)))
        .collect();
    extra.sort();
    for c in extra.iter().rev() {
        for e in page(&to, c.as_str(), None, 100_000)? {
            to.catalog.remove(to.who, c.as_str(), &e.name)?;
            report.removed += 1;
        }
        to.catalog.rmdir(to.who, c.as_str())?;
        report.removed_collections += 1;
    }
    if let Some(p) = &options.state
        && p.exists()
    {
        std::fs::remove_file(p).map_err(|e| {
            Error::invalid(format!("replication state {}", p.display()), e.to_string())
        })?;
    }
    Ok(report)
}
