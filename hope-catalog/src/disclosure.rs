//! Disclosure control of aggregate answers: what a site applies to the queries others send to
//! its catalog service (configured by the site, per collection, never by the requester).
//!
//! Under a [`Policy`] (a collection and everything below it):
//!
//! - **Counts only**: an aggregate answer may select its grouping attributes (all of them) and
//!   `count(*)`, nothing else: `count(A)`, `sum` and `avg` report a cell's size or one person's
//!   value when a cell holds one non-null value, and `min` and `max` are one person's value. It
//!   may be ordered by its grouping attributes only, not by counts (the order of suppressed
//!   cells would tell their size). Recursive queries are refused (their totals would not be
//!   those of the collections the query used); ask each collection.
//! - **Minimum cell size** (`min_cell`, e.g. 5 or 10): a row of an aggregate answer whose
//!   `count(*)` is below it is suppressed (left out of the answer), and so is one whose
//!   complement in its collection is (a query selecting all but three patients says as much
//!   about those three as one selecting them: query-set-size control, Denning 1982).
//! - **Complementary suppression**: in a table of counts, a suppressed cell could be recovered
//!   from the others and the table's total (which another query gives). Along each group-by
//!   dimension, wherever a line of the table has exactly one suppressed cell, the smallest other
//!   cell of that line is suppressed too, until no line has a lone suppressed cell.
//! - **Rounding** (`round_to`, optional): the counts left are rounded to the nearest multiple.
//! - **Aggregate only** (`aggregate_only`): row-level answers are refused (queries without
//!   aggregates, reading an entry or its annotations), and so are `min` and `max`, which are one
//!   person's value.
//! - **Unique identifiers** (`unique`, and always the entry `name`): a filter on, or a grouping
//!   by, one of these attributes is refused: "count where PatientPseudonym = X" against "count"
//!   is the obvious differencing attack (two queries differing by one patient).
//! - Paging (`limit`, `offset`) of aggregate answers is refused: suppression needs the whole
//!   table.
//!
//! What this does not stop: differencing with filters that each select many people but differ
//! by a few (`Age >= 40` against `Age >= 41` in a small cohort), or queries combined over time.
//! Rounding blurs such differences; the service's audit log records the shape of every query
//! (attributes and operators, without the values compared) with the number of cells suppressed,
//! so a site can see series of near-identical queries. Sites that need stronger guarantees
//! should publish answers with noise added (differential privacy), which this module does not
//! do.

use std::collections::{BTreeMap, BTreeSet};

use crate::backend::QueryResult;
use crate::path::CollectionPath;
use crate::query::ast::{AggFn, Expr, Item, Query};
use crate::value::Value;
use crate::{Error, Result};

/// A site's disclosure rules for a collection and everything below it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// The collection.
    pub collection: CollectionPath,
    /// Counts below this are suppressed (1: none).
    #[serde(default = "one")]
    pub min_cell: u64,
    /// Counts are rounded to a multiple of this (none when absent).
    #[serde(default)]
    pub round_to: Option<u64>,
    /// Only aggregate answers.
    #[serde(default)]
    pub aggregate_only: bool,
    /// Attributes that identify a person (no filter on them, no grouping by them).
    #[serde(default)]
    pub unique: Vec<String>,
}

fn one() -> u64 {
    1
}

impl Policy {
    /// Checks the values; the error names the field.
    pub fn validate(&self) -> Result<()> {
        if !(1..=1_000_000).contains(&self.min_cell) {
            return Err(Error::invalid(
                format!("disclosure policy of {}: min_cell", self.collection),
                format!("{}; expected 1 to 1000000", self.min_cell),
            ));
        }
        if let Some(r) = self.round_to
            && !(1..=1_000_000).contains(&r)
        {
            return Err(Error::invalid(
                format!("disclosure policy of {}: round_to", self.collection),
                format!("{r}; expected 1 to 1000000"),
            ));
        }
        Ok(())
    }
}

/// The rules that apply to one query: the strictest of every policy it reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// The largest minimum cell size.
    pub min_cell: u64,
    /// The largest rounding.
    pub round_to: Option<u64>,
    /// Whether any collection reached is aggregate-only.
    pub aggregate_only: bool,
    /// Every unique attribute.
    pub unique: BTreeSet<String>,
}

/// The rules for an operation on `path` (and, when `below`, on the collections under it):
/// those of the policies of `path` and its ancestors, and with `below` of its descendants, the
/// strictest of each; `None` when no policy applies.
pub fn rules_for(policies: &[Policy], path: &CollectionPath, below: bool) -> Option<Rules> {
    let mut rules: Option<Rules> = None;
    for p in policies {
        let applies = path.is_within(&p.collection) || (below && p.collection.is_within(path));
        if !applies {
            continue;
        }
        let r = rules.get_or_insert_with(|| Rules {
            min_cell: 1,
            round_to: None,
            aggregate_only: false,
            unique: BTreeSet::new(),
        });
        r.min_cell = r.min_cell.max(p.min_cell);
        r.round_to = r.round_to.max(p.round_to);
        r.aggregate_only |= p.aggregate_only;
        r.unique.extend(p.unique.iter().cloned());
    }
    rules
}

fn refused(message: impl Into<String>) -> Error {
    Error::invalid("query (the site's disclosure policy)", message)
}

fn filter_attrs<'a>(e: &'a Expr, out: &mut Vec<&'a str>) {
    match e {
        Expr::And(a, b) | Expr::Or(a, b) => {
            filter_attrs(a, out);
            filter_attrs(b, out);
        }
        Expr::Not(a) => filter_attrs(a, out),
        Expr::Cmp { attr, .. }
        | Expr::In { attr, .. }
        | Expr::IsNull { attr, .. }
        | Expr::Like { attr, .. } => out.push(attr),
    }
}

/// Whether `q` asks for aggregates (a grouping or an aggregate in its select).
pub fn is_aggregate(q: &Query) -> bool {
    !q.group_by.is_empty() || q.select.0.iter().any(|i| matches!(i, Item::Agg { .. }))
}

/// Refuses what `rules` do not allow of `q`; the error says which rule.
pub fn check(rules: &Rules, q: &Query) -> Result<()> {
    let mut attrs = Vec::new();
    if let Some(f) = &q.filter {
        filter_attrs(f, &mut attrs);
    }
    attrs.extend(q.group_by.iter().map(|(a, _)| a.as_str()));
    if let Some(a) = attrs
        .iter()
        .find(|a| **a == "name" || rules.unique.contains(**a))
    {
        return Err(refused(format!(
            "{a} identifies a person: no filter on it and no grouping by it"
        )));
    }
    let aggregate = is_aggregate(q);
    if rules.aggregate_only && !aggregate {
        return Err(refused(
            "the collection gives aggregates only: ask for count(*) with group by",
        ));
    }
    if !aggregate {
        return Ok(());
    }
    let keys: BTreeSet<&str> = q.group_by.iter().map(|(g, _)| g.as_str()).collect();
    let mut selected = BTreeSet::new();
    for item in &q.select.0 {
        match item {
            Item::Attr { name, .. } => {
                selected.insert(name.as_str());
            }
            Item::Agg {
                f: AggFn::Count,
                attr: None,
                ..
            } => {}
            Item::Agg { f, .. } => {
                return Err(refused(format!(
                    "counts only: {}() can give a cell's size or one person's value; select the grouping attributes and count(*)",
                    f.name()
                )));
            }
        }
    }
    // (A grouping without a select gives its keys and count(*) by itself.)
    if !q.select.0.is_empty() {
        if !q.select.0.iter().any(|i| {
            matches!(
                i,
                Item::Agg {
                    f: AggFn::Count,
                    attr: None,
                    ..
                }
            )
        }) {
            return Err(refused("aggregates must select count(*)"));
        }
        if let Some(k) = keys.iter().find(|k| !selected.contains(**k)) {
            return Err(refused(format!(
                "select every grouping attribute ({k}): suppression works on the table's lines"
            )));
        }
    }
    if q.order_by
        .iter()
        .any(|(k, _)| matches!(k, crate::query::ast::OrderKey::Agg { .. }))
    {
        return Err(refused(
            "order by grouping attributes only: the order of counts would tell suppressed ones",
        ));
    }
    if q.limit.is_some() || q.offset > 0 {
        return Err(refused(
            "no limit or offset on aggregates: suppression needs the whole table",
        ));
    }
    Ok(())
}

/// A count in a result cell.
fn count_of(v: &Value) -> Option<u64> {
    match v {
        Value::Int(n) if *n >= 0 => Some(*n as u64),
        _ => None,
    }
}

/// Applies suppression, complementary suppression and rounding to the answer of `q` (which
/// [`check`] allowed). `total(collection)` is the number of entries of the collection a row
/// comes from (`collection` column of a recursive answer, else `None` for the one collection),
/// for the complement rule. Returns how many rows were suppressed.
pub fn protect(
    rules: &Rules,
    q: &Query,
    result: &mut QueryResult,
    total: &dyn Fn(Option<&str>) -> Option<u64>,
) -> usize {
    if !is_aggregate(q) {
        return 0;
    }
    let Some(ci) = result.columns.iter().position(|c| c == "count(*)") else {
        return 0;
    };
    let coll = result.columns.iter().position(|c| c == "collection");
    let keys: Vec<usize> = q
        .group_by
        .iter()
        .filter_map(|(g, _)| result.columns.iter().position(|c| c == g))
        .collect();
    let aggregates: Vec<usize> = result
        .columns
        .iter()
        .enumerate()
        .filter(|(i, c)| Some(*i) != coll && !keys.contains(i) && c.contains('('))
        .map(|(i, _)| i)
        .collect();
    let k = rules.min_cell;
    let counts: Vec<Option<u64>> = result.rows.iter().map(|r| count_of(&r[ci])).collect();
    let mut hidden: Vec<bool> = result
        .rows
        .iter()
        .zip(&counts)
        .map(|(row, c)| {
            let Some(c) = *c else { return true };
            let name = coll.and_then(|i| match &row[i] {
                Value::Text(s) => Some(s.as_str()),
                _ => None,
            });
            let complement = total(name).map_or(0, |t| t.saturating_sub(c));
            c < k || (complement > 0 && complement < k)
        })
        .collect();
    if k > 1 {
        // Complementary suppression, line by line along each grouping (the collection column
        // is a dimension too).
        let dims: Vec<usize> = coll.into_iter().chain(keys.iter().copied()).collect();
        loop {
            let mut changed = false;
            for d in &dims {
                let mut lines: BTreeMap<Vec<String>, Vec<usize>> = BTreeMap::new();
                for (i, row) in result.rows.iter().enumerate() {
                    let key: Vec<String> = dims
                        .iter()
                        .filter(|o| *o != d)
                        .map(|o| format!("{:?}", row[*o]))
                        .collect();
                    lines.entry(key).or_default().push(i);
                }
                for cells in lines.values() {
                    let lone = cells.iter().filter(|i| hidden[**i]).count() == 1;
                    if lone && cells.len() > 1 {
                        let next = cells
                            .iter()
                            .filter(|i| !hidden[**i])
                            .min_by_key(|i| counts[**i].unwrap_or(0));
                        if let Some(i) = next {
                            hidden[*i] = true;
                            changed = true;
                        }
                    }
                }
            }
            if !changed {
                break;
            }
        }
    }
    // Suppressed rows are left out whole: their grouping values would say that someone with
    // them exists.
    let suppressed = hidden.iter().filter(|h| **h).count();
    let rows = std::mem::take(&mut result.rows);
    for (mut row, hide) in rows.into_iter().zip(hidden) {
        if hide {
            continue;
        }
        if let (Some(r), Some(c)) = (rules.round_to, count_of(&row[ci])) {
            let rounded = (c + r / 2) / r * r;
            row[ci] = Value::Int(rounded as i64);
        }
        result.rows.push(row);
    }
    let _ = &aggregates;
    suppressed
}

/// The shape of a query for an audit log: its attributes, operators, grouping and ordering,
/// every value compared replaced by `?` (values may identify people; the shape is what shows
/// a series of differencing queries).
pub fn shape(q: &Query) -> String {
    use crate::query::ast::OrderKey;
    fn expr(e: &Expr, out: &mut String) {
        match e {
            Expr::And(a, b) | Expr::Or(a, b) => {
                out.push('(');
                expr(a, out);
                out.push_str(if matches!(e, Expr::And(..)) {
                    " and "
                } else {
                    " or "
                });
                expr(b, out);
                out.push(')');
            }
            Expr::Not(a) => {
                out.push_str("not ");
                expr(a, out);
            }
            Expr::Cmp { attr, op, .. } => {
                out.push_str(&format!("{attr} {} ?", op.sql()));
            }
            Expr::In {
                attr,
                values,
                negated,
                ..
            } => out.push_str(&format!(
                "{attr} {}in ({} values)",
                if *negated { "not " } else { "" },
                values.len()
            )),
            Expr::IsNull { attr, negated, .. } => out.push_str(&format!(
                "{attr} is {}null",
                if *negated { "not " } else { "" }
            )),
            Expr::Like {
                attr,
                case_insensitive,
                ..
            } => out.push_str(&format!(
                "{}like({attr}, ?)",
                if *case_insensitive { "i" } else { "" }
            )),
        }
    }
    let mut out = String::from("select ");
    let items: Vec<String> = q
        .select
        .0
        .iter()
        .map(|i| match i {
            Item::Attr { name, .. } => name.clone(),
            Item::Agg { f, attr, .. } => format!(
                "{}({})",
                f.name(),
                attr.as_ref().map_or("*", |(a, _)| a.as_str())
            ),
        })
        .collect();
    out.push_str(if items.is_empty() { "*" } else { "" });
    out.push_str(&items.join(", "));
    if let Some(f) = &q.filter {
        out.push_str(" where ");
        expr(f, &mut out);
    }
    if !q.group_by.is_empty() {
        let g: Vec<&str> = q.group_by.iter().map(|(a, _)| a.as_str()).collect();
        out.push_str(&format!(" group by {}", g.join(", ")));
    }
    if !q.order_by.is_empty() {
        let o: Vec<String> = q
            .order_by
            .iter()
            .map(|(k, _)| match k {
                OrderKey::Attr { name, .. } => name.clone(),
                OrderKey::Agg { f, attr, .. } => {
                    format!("{}({})", f.name(), attr.as_deref().unwrap_or("*"))
                }
            })
            .collect();
        out.push_str(&format!(" order by {}", o.join(", ")));
    }
    if q.limit.is_some() || q.offset > 0 {
        out.push_str(" limit ? offset ?");
    }
    out.chars().take(1024).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::parse;

    fn rules(k: u64) -> Rules {
        Rules {
            min_cell: k,
            round_to: None,
            aggregate_only: true,
            unique: ["Pseudonym".to_string()].into_iter().collect(),
        }
    }

    fn table(rows: &[(&str, i64)]) -> QueryResult {
        QueryResult {
            columns: vec!["Sex".into(), "count(*)".into()],
            rows: rows
                .iter()
                .map(|(s, n)| vec![Value::Text((*s).into()), Value::Int(*n)])
                .collect(),
        }
    }

    #[test]
    fn small_cells_and_their_complements_are_suppressed() {
        let q = parse("group by Sex").unwrap();
        check(&rules(5), &q).unwrap();
        // M = 3 is small; alone suppressed, it would be total - F: F goes too.
        let mut t = table(&[("F", 50), ("M", 3)]);
        assert_eq!(protect(&rules(5), &q, &mut t, &|_| Some(53)), 2);
        // Left out whole: a row's grouping values would say someone with them exists.
        assert!(t.rows.is_empty());
        // Two large cells and a total: nothing to hide.
        let mut t = table(&[("F", 50), ("M", 30), ("X", 20)]);
        assert_eq!(protect(&rules(5), &q, &mut t, &|_| Some(100)), 0);
        // One small cell among three: the next smallest goes with it, the largest stays.
        let mut t = table(&[("F", 50), ("M", 30), ("X", 2)]);
        assert_eq!(protect(&rules(5), &q, &mut t, &|_| Some(82)), 2);
        assert_eq!(t.rows, [vec![Value::Text("F".into()), Value::Int(50)]]);
        // All but two: the complement is small.
        let q = parse("select count(*) where Sex != 'M'").unwrap();
        let mut t = QueryResult {
            columns: vec!["count(*)".into()],
            rows: vec![vec![Value::Int(98)]],
        };
        assert_eq!(protect(&rules(5), &q, &mut t, &|_| Some(100)), 1);
        // Rounding of what is left.
        let mut r = rules(5);
        r.round_to = Some(5);
        let q = parse("group by Sex").unwrap();
        let mut t = table(&[("F", 52), ("M", 38)]);
        protect(&r, &q, &mut t, &|_| Some(90));
        assert_eq!(t.rows[0][1], Value::Int(50));
        assert_eq!(t.rows[1][1], Value::Int(40));
    }

    #[test]
    fn row_level_queries_unique_identifiers_and_paging_are_refused() {
        for q in [
            "",
            "Sex = 'F'",
            "select Sex",
            "select min(Age), count(*)",
            "select count(*) where Pseudonym = 'p1'",
            "group by Pseudonym",
            "select sum(Age) group by Sex",
            "group by Sex limit 1",
            // Second attack round: the entry name is an identifier; group keys not selected;
            // other aggregates; order by counts.
            "select name, Sex, Age, count(*) group by name, Sex, Age",
            "select count(*) where Sex = 'F' and name != 'x'",
            "select count(*) where like(name, 'hospital-b%')",
            "select count(*) group by Sex",
            "select Sex, count(*), count(Age) group by Sex",
            "select Sex, count(*), avg(Age) group by Sex",
            "select Sex, count(*) group by Sex order by count(*) desc",
        ] {
            let parsed = parse(q).unwrap();
            let err = check(&rules(5), &parsed).unwrap_err().to_string();
            assert!(err.contains("disclosure policy"), "{q}: {err}");
        }
        for ok in [
            "select Sex, count(*) group by Sex order by Sex",
            "group by Sex, Age",
        ] {
            check(&rules(5), &parse(ok).unwrap()).unwrap();
        }
        // What the audit log keeps of a query: no value.
        let q = parse(
            "select count(*) where Pseudonym = 'P-123' and Age in (40, 41) and like(Sex, 'F%')",
        )
        .unwrap();
        let s = shape(&q);
        assert_eq!(
            s,
            "select count(*) where ((Pseudonym = ? and Age in (2 values)) and like(Sex, ?))"
        );
    }

    #[test]
    fn the_strictest_policy_applies_above_and_below() {
        let p = |c: &str, k: u64, agg: bool| Policy {
            collection: CollectionPath::parse(c).unwrap(),
            min_cell: k,
            round_to: None,
            aggregate_only: agg,
            unique: Vec::new(),
        };
        let policies = [p("/a", 5, false), p("/a/b", 10, true)];
        let path = |s: &str| CollectionPath::parse(s).unwrap();
        assert_eq!(
            rules_for(&policies, &path("/a/b/c"), false)
                .unwrap()
                .min_cell,
            10
        );
        assert!(
            !rules_for(&policies, &path("/a"), false)
                .unwrap()
                .aggregate_only
        );
        let below = rules_for(&policies, &path("/a"), true).unwrap();
        assert!(below.aggregate_only && below.min_cell == 10);
        assert!(rules_for(&policies, &path("/z"), true).is_none());
        assert!(rules_for(&policies, &path("/"), true).is_some());
    }
}
