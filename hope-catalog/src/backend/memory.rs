//! The in-memory back-end: the reference semantics of every operation and of the query language.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use super::{Annotation, AuditRecord, Backend, Changes, CollectionRecord, QueryResult, Target};
use crate::acl::Permissions;
use crate::path::CollectionPath;
use crate::query::{AggFn, CExpr, CItem, Checked, CmpOp, Col, Dir};
use crate::schema::{Attribute, Entry, Schema};
use crate::value::{AttrType, Value};
use crate::{Error, Result};

#[derive(Default)]
struct State {
    next_id: i64,
    collections: BTreeMap<CollectionPath, CollectionRecord>,
    entries: BTreeMap<i64, BTreeMap<String, Entry>>,
    annotations: Vec<(Target, Annotation)>,
    audit: Vec<AuditRecord>,
}

/// A catalog held in memory (tests, examples, short-lived tools).
#[derive(Default)]
pub struct MemoryBackend {
    state: Mutex<State>,
}

impl std::fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBackend").finish_non_exhaustive()
    }
}

impl MemoryBackend {
    /// An empty catalog.
    pub fn new() -> MemoryBackend {
        MemoryBackend::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn missing(c: &CollectionRecord) -> Error {
    Error::NotFound(format!("collection {}", c.path))
}

impl Backend for MemoryBackend {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn collection(&self, path: &CollectionPath) -> Result<Option<CollectionRecord>> {
        Ok(self.lock().collections.get(path).cloned())
    }

    fn children(&self, id: i64) -> Result<Vec<CollectionRecord>> {
        let st = self.lock();
        let Some(parent) = st.collections.values().find(|c| c.id == id) else {
            return Ok(Vec::new());
        };
        Ok(st
            .collections
            .values()
            .filter(|c| c.path.parent().as_ref() == Some(&parent.path))
            .cloned()
            .collect())
    }

    fn subtree(&self, path: &CollectionPath) -> Result<Vec<CollectionRecord>> {
        Ok(self
            .lock()
            .collections
            .values()
            .filter(|c| c.path.is_within(path))
            .cloned()
            .collect())
    }

    fn create_collection(
        &self,
        path: &CollectionPath,
        permissions: &Permissions,
    ) -> Result<CollectionRecord> {
        let mut st = self.lock();
        if st.collections.contains_key(path) {
            return Err(Error::AlreadyExists(format!("collection {path}")));
        }
        if let Some(parent) = path.parent()
            && !st.collections.contains_key(&parent)
        {
            return Err(Error::NotFound(format!("collection {parent}")));
        }
        st.next_id += 1;
        let rec = CollectionRecord {
            id: st.next_id,
            path: path.clone(),
            schema: Schema::default(),
            permissions: permissions.clone(),
        };
        st.collections.insert(path.clone(), rec.clone());
        st.entries.insert(rec.id, BTreeMap::new());
        Ok(rec)
    }

    fn remove_collection(&self, c: &CollectionRecord) -> Result<()> {
        let mut st = self.lock();
        st.collections.remove(&c.path).ok_or_else(|| missing(c))?;
        st.entries.remove(&c.id);
        st.annotations.retain(
            |(t, _)| !matches!(t, Target::Collection(i) | Target::Entry(i, _) if *i == c.id),
        );
        Ok(())
    }

    fn set_permissions(&self, c: &CollectionRecord, permissions: &Permissions) -> Result<()> {
        let mut st = self.lock();
        st.collections
            .get_mut(&c.path)
            .ok_or_else(|| missing(c))?
            .permissions = permissions.clone();
        Ok(())
    }

    fn add_attribute(&self, c: &CollectionRecord, attr: &Attribute) -> Result<()> {
        let mut st = self.lock();
        let rec = st.collections.get_mut(&c.path).ok_or_else(|| missing(c))?;
        rec.schema.check_new(attr)?;
        rec.schema.attributes.push(attr.clone());
        for e in st.entries.entry(c.id).or_default().values_mut() {
            e.values.insert(attr.name.clone(), Value::Null);
        }
        Ok(())
    }

    fn drop_attribute(&self, c: &CollectionRecord, name: &str) -> Result<()> {
        let mut st = self.lock();
        let rec = st.collections.get_mut(&c.path).ok_or_else(|| missing(c))?;
        rec.schema.attributes.retain(|a| a.name != name);
        for e in st.entries.entry(c.id).or_default().values_mut() {
            e.values.remove(name);
        }
        Ok(())
    }

    fn insert(&self, c: &CollectionRecord, entries: &[Entry]) -> Result<()> {
        let mut st = self.lock();
        let table = st.entries.get_mut(&c.id).ok_or_else(|| missing(c))?;
        let mut seen = std::collections::BTreeSet::new();
        for e in entries {
            if table.contains_key(&e.name) || !seen.insert(&e.name) {
                return Err(Error::AlreadyExists(format!(
                    "entry {} in {}",
                    e.name, c.path
                )));
            }
        }
        for e in entries {
            table.insert(e.name.clone(), e.clone());
        }
        Ok(())
    }

    fn get(&self, c: &CollectionRecord, name: &str) -> Result<Option<Entry>> {
        Ok(self
            .lock()
            .entries
            .get(&c.id)
            .and_then(|t| t.get(name))
            .cloned())
    }

    fn update_entry(
        &self,
        c: &CollectionRecord,
        name: &str,
        change: &mut dyn FnMut(&Entry) -> Result<Changes>,
    ) -> Result<()> {
        let mut st = self.lock();
        let e = st
            .entries
            .get_mut(&c.id)
            .and_then(|t| t.get_mut(name))
            .ok_or_else(|| Error::NotFound(format!("entry {name} in {}", c.path)))?;
        for (k, v) in change(e)? {
            e.values.insert(k, v);
        }
        Ok(())
    }

    fn delete_entry(&self, c: &CollectionRecord, name: &str) -> Result<bool> {
        let mut st = self.lock();
        let removed = st
            .entries
            .get_mut(&c.id)
            .and_then(|t| t.remove(name))
            .is_some();
        st.annotations
            .retain(|(t, _)| *t != Target::Entry(c.id, name.to_string()));
        Ok(removed)
    }

    fn count(&self, c: &CollectionRecord) -> Result<u64> {
        Ok(self.lock().entries.get(&c.id).map_or(0, |t| t.len() as u64))
    }

    fn query(&self, collections: &[CollectionRecord], q: &Checked) -> Result<QueryResult> {
        let st = self.lock();
        let mut rows: Vec<(String, &Entry)> = Vec::new();
        for c in collections {
            for e in st
                .entries
                .get(&c.id)
                .map(|t| t.values())
                .into_iter()
                .flatten()
            {
                if q.filter.as_ref().is_none_or(|f| eval(f, e) == Some(true)) {
                    rows.push((c.path.to_string(), e));
                }
            }
        }
        let multi = collections.len() > 1;
        let mut result = QueryResult {
            columns: q.column_names(),
            rows: Vec::new(),
        };
        if q.aggregate {
            let mut groups: BTreeMap<Vec<Key>, Vec<&Entry>> = BTreeMap::new();
            for (_, e) in &rows {
                groups
                    .entry(q.group_by.iter().map(|g| Key(value_of(e, g))).collect())
                    .or_default()
                    .push(e);
            }
            if q.group_by.is_empty() && groups.is_empty() {
                groups.insert(Vec::new(), Vec::new()); // aggregates over no rows give one row
            }
            let mut out: Vec<Vec<Value>> = groups
                .into_iter()
                .map(|(key, members)| {
                    q.items
                        .iter()
                        .map(|it| match it {
                            CItem::Col(c) => key
                                [q.group_by.iter().position(|g| g == c).unwrap_or(0)]
                            .0
                            .clone(),
                            CItem::Agg { f, arg, ty } => aggregate(*f, arg.as_ref(), *ty, &members),
                        })
                        .collect()
                })
                .collect();
            let keys: Vec<usize> = q
                .group_by
                .iter()
                .filter_map(|g| q.items.iter().position(|i| *i == CItem::Col(g.clone())))
                .collect();
            out.sort_by(|a, b| {
                for o in &q.order {
                    let ord = cmp_nulls_last(&a[o.column], &b[o.column], o.dir);
                    if ord != Ordering::Equal {
                        return ord;
                    }
                }
                keys.iter()
                    .map(|&k| cmp_nulls_last(&a[k], &b[k], Dir::Asc))
                    .find(|o| *o != Ordering::Equal)
                    .unwrap_or(Ordering::Equal)
            });
            result.rows = out;
        } else {
            let cols: Vec<&Col> = q
                .items
                .iter()
                .filter_map(|i| if let CItem::Col(c) = i { Some(c) } else { None })
                .chain(&q.hidden)
                .collect();
            rows.sort_by(|(ca, a), (cb, b)| {
                for o in &q.order {
                    let c = cols[o.column];
                    let ord = cmp_nulls_last(&value_of(a, c), &value_of(b, c), o.dir);
                    if ord != Ordering::Equal {
                        return ord;
                    }
                }
                ca.as_bytes()
                    .cmp(cb.as_bytes())
                    .then_with(|| a.name.as_bytes().cmp(b.name.as_bytes()))
            });
            let n_out = q.items.len();
            result.rows = rows
                .iter()
                .map(|(cp, e)| {
                    let mut r: Vec<Value> = cols[..n_out].iter().map(|c| value_of(e, c)).collect();
                    if multi {
                        r.insert(0, Value::Text(cp.clone()));
                    }
                    r
                })
                .collect();
        }
        if multi && !q.aggregate {
            result.columns.insert(0, "collection".into());
        }
        let skip = usize::try_from(q.offset).unwrap_or(usize::MAX);
        let take = q
            .limit
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        result.rows = result.rows.into_iter().skip(skip).take(take).collect();
        Ok(result)
    }

    fn annotate(&self, target: &Target, a: &Annotation) -> Result<()> {
        self.lock().annotations.push((target.clone(), a.clone()));
        Ok(())
    }

    fn annotations(&self, target: &Target) -> Result<Vec<Annotation>> {
        Ok(self
            .lock()
            .annotations
            .iter()
            .filter(|(t, _)| t == target)
            .map(|(_, a)| a.clone())
            .collect())
    }

    fn audit(&self, r: &AuditRecord) -> Result<()> {
        self.lock().audit.push(r.clone());
        Ok(())
    }

    fn audit_log(&self, limit: usize) -> Result<Vec<AuditRecord>> {
        Ok(self
            .lock()
            .audit
            .iter()
            .rev()
            .take(limit)
            .cloned()
            .collect())
    }
}

/// A group key with a total order (nulls last, as in the SQL back-ends).
#[derive(Debug, Clone, PartialEq)]
struct Key(Value);

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_nulls_last(&self.0, &other.0, Dir::Asc)
    }
}

fn value_of(e: &Entry, c: &Col) -> Value {
    if c.name == "name" {
        Value::Text(e.name.clone())
    } else {
        e.get(&c.name).clone()
    }
}

/// Ordering with nulls last in both directions.
pub(crate) fn cmp_nulls_last(a: &Value, b: &Value, dir: Dir) -> Ordering {
    match (a.is_null(), b.is_null()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => {
            let o = a.cmp_same(b).unwrap_or(Ordering::Equal);
            if dir == Dir::Desc { o.reverse() } else { o }
        }
    }
}

/// Three-valued evaluation: `None` is SQL's unknown.
fn eval(e: &CExpr, entry: &Entry) -> Option<bool> {
    match e {
        CExpr::And(a, b) => match (eval(a, entry), eval(b, entry)) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        CExpr::Or(a, b) => match (eval(a, entry), eval(b, entry)) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        CExpr::Not(a) => eval(a, entry).map(|v| !v),
        CExpr::Cmp(c, op, lit) => {
            let v = value_of(entry, c);
            if v.is_null() {
                return None;
            }
            let o = v.cmp_same(lit)?;
            Some(match op {
                CmpOp::Eq => o == Ordering::Equal,
                CmpOp::Ne => o != Ordering::Equal,
                CmpOp::Lt => o == Ordering::Less,
                CmpOp::Le => o != Ordering::Greater,
                CmpOp::Gt => o == Ordering::Greater,
                CmpOp::Ge => o != Ordering::Less,
            })
        }
        CExpr::In(c, lits, negated) => {
            let v = value_of(entry, c);
            if v.is_null() {
                return None;
            }
            let found = lits.iter().any(|l| v.cmp_same(l) == Some(Ordering::Equal));
            Some(found != *negated)
        }
        CExpr::IsNull(c, negated) => Some(value_of(entry, c).is_null() != *negated),
        CExpr::Like(c, pattern, ci) => match value_of(entry, c) {
            Value::Text(s) | Value::Uid(s) => Some(if *ci {
                like(&s.to_ascii_lowercase(), &pattern.to_ascii_lowercase())
            } else {
                like(&s, pattern)
            }),
            _ => None,
        },
    }
}

/// SQL LIKE with `\` as the escape character, on characters.
pub(crate) fn like(s: &str, pattern: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum P {
        Any,
        One,
        Lit(char),
    }
    let mut p = Vec::new();
    let mut it = pattern.chars();
    while let Some(ch) = it.next() {
        p.push(match ch {
            '%' => P::Any,
            '_' => P::One,
            '\\' => P::Lit(it.next().unwrap_or('\\')),
            c => P::Lit(c),
        });
    }
    let s: Vec<char> = s.chars().collect();
    // Classic two-pointer wildcard match with backtracking to the last %.
    let (mut i, mut j) = (0usize, 0usize);
    let (mut star, mut mark) = (None, 0usize);
    while i < s.len() {
        if j < p.len() && (p[j] == P::One || p[j] == P::Lit(s[i])) {
            i += 1;
            j += 1;
        } else if j < p.len() && p[j] == P::Any {
            star = Some(j);
            mark = i;
            j += 1;
        } else if let Some(sj) = star {
            j = sj + 1;
            mark += 1;
            i = mark;
        } else {
            return false;
        }
    }
    while j < p.len() && p[j] == P::Any {
        j += 1;
    }
    j == p.len()
}

fn aggregate(f: AggFn, arg: Option<&Col>, ty: AttrType, members: &[&Entry]) -> Value {
    let values: Vec<Value> = match arg {
        None => return Value::Int(members.len() as i64),
        Some(c) => members
            .iter()
            .map(|e| value_of(e, c))
            .filter(|v| !v.is_null())
            .collect(),
    };
    match f {
        AggFn::Count => Value::Int(values.len() as i64),
        AggFn::Min | AggFn::Max => {
            let pick = values.into_iter().reduce(|a, b| {
                let o = a.cmp_same(&b).unwrap_or(Ordering::Equal);
                if (f == AggFn::Min) == (o == Ordering::Greater) {
                    b
                } else {
                    a
                }
            });
            pick.unwrap_or(Value::Null)
        }
        AggFn::Sum if values.is_empty() => Value::Null,
        AggFn::Sum if ty == AttrType::Int => Value::Int(
            values
                .iter()
                .map(|v| if let Value::Int(i) = v { *i } else { 0 })
                .fold(0i64, i64::wrapping_add),
        ),
        AggFn::Sum => Value::Float(values.iter().map(as_f64).sum()),
        AggFn::Avg if values.is_empty() => Value::Null,
        AggFn::Avg => Value::Float(values.iter().map(as_f64).sum::<f64>() / values.len() as f64),
    }
}

fn as_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(x) => *x,
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::like;

    #[test]
    fn like_patterns() {
        assert!(like("Left eye plaque", "%eye%"));
        assert!(!like("Left Eye plaque", "%eye%"));
        assert!(like("abc", "a_c"));
        assert!(!like("abbc", "a_c"));
        assert!(like("100%", "100\\%"));
        assert!(!like("1000", "100\\%"));
        assert!(like("", "%"));
        assert!(like("aXbXc", "a%b%c"));
        assert!(!like("ab", "a%b%c"));
    }
}
