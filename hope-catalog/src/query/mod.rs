//! The query language: parsed into a syntax tree, checked against a schema, run by any back-end.
//!
//! ```text
//! [select ITEM, ...] [where] FILTER [group by ATTR, ...] [order by KEY [asc|desc], ...]
//!                                   [limit N] [offset N]
//! ITEM   := ATTR | count(*) | count(ATTR) | min(ATTR) | max(ATTR) | sum(ATTR) | avg(ATTR)
//! FILTER := FILTER or FILTER | FILTER and FILTER | not FILTER | ( FILTER )
//!         | ATTR (= | != | <> | < | <= | > | >=) VALUE
//!         | ATTR [not] in (VALUE, ...) | ATTR is [not] null
//!         | like(ATTR, 'pattern') | ilike(ATTR, 'pattern')      -- % any run, _ one char, \ escapes
//! VALUE  := 'text' ('' for a quote) | 42 | -1.5e3 | 2024-01-31 | 2024-01-31T08:00:00Z | true | false
//! ```
//!
//! `name` is the entry name. Comparisons follow SQL: a comparison with a null attribute is unknown,
//! and `not unknown` is unknown, so entries with a null attribute match neither `A = 1` nor
//! `not A = 1` (use `is null`). Sorting puts nulls last in both directions and ends with a stable
//! tie-break. Text compares and sorts by bytes (code points). `ilike` folds ASCII letters only.
//!
//! ```
//! use hope_catalog::query;
//! use hope_catalog::{AttrType, Attribute, Schema};
//!
//! let schema = Schema::new(vec![
//!     Attribute::new("Modality", AttrType::Text),
//!     Attribute::new("StudyDate", AttrType::Date),
//! ])?;
//! let q = query::parse("Modality = 'CT' and StudyDate >= 2024-01-01 order by StudyDate desc limit 10")?;
//! let checked = query::check(&q, &schema)?;
//! assert_eq!(checked.limit, Some(10));
//! let err = query::check(&query::parse("Modality > 3")?, &schema).unwrap_err();
//! assert!(err.to_string().contains("position 11"));
//! # Ok::<(), hope_catalog::Error>(())
//! ```

pub mod ast;
mod parse;

pub use ast::{
    AggFn, CExpr, CItem, COrder, Checked, CmpOp, Col, Dir, Expr, Item, OrderKey, Query, Select,
};
pub use parse::{MAX_NESTING, MAX_QUERY_LEN, MAX_TREE_DEPTH, parse};

use crate::schema::Schema;
use crate::value::{AttrType, Value};
use crate::{Error, Result};

/// Most rows a query may ask for.
pub const MAX_LIMIT: u64 = 1_000_000;

struct Checker<'a> {
    q: &'a Query,
    schema: &'a Schema,
    needed: Vec<Col>,
}

impl Checker<'_> {
    fn err(&self, pos: usize, message: impl Into<String>) -> Error {
        Error::Query {
            query: self.q.text.clone(),
            position: pos,
            message: message.into(),
        }
    }

    fn col(&mut self, name: &str, pos: usize) -> Result<Col> {
        let col = if name == "name" {
            Col {
                name: "name".into(),
                ty: AttrType::Text,
            }
        } else if let Some(a) = self.schema.get(name) {
            Col {
                name: a.name.clone(),
                ty: a.ty,
            }
        } else {
            let hint = self
                .schema
                .attributes
                .iter()
                .find(|a| a.name.eq_ignore_ascii_case(name))
                .map(|a| format!(" (did you mean {}?)", a.name))
                .unwrap_or_default();
            return Err(self.err(pos, format!("no attribute `{name}` in the schema{hint}")));
        };
        if !self.needed.contains(&col) {
            self.needed.push(col.clone());
        }
        Ok(col)
    }

    fn value(&self, v: &Value, col: &Col, pos: usize) -> Result<Value> {
        let v = match (v, col.ty) {
            // A date compares with a timestamp as its midnight (UTC).
            (Value::Date(d), AttrType::Timestamp) => {
                Value::Timestamp(i64::from(*d) * 86_400_000_000)
            }
            _ => v.clone(),
        };
        let shown = v.to_string();
        v.coerce(col.ty, &col.name)
            .map_err(|_| self.err(pos, format!("{} is a {}; {shown} is not", col.name, col.ty)))
    }

    fn expr(&mut self, e: &Expr) -> Result<CExpr> {
        Ok(match e {
            Expr::And(a, b) => CExpr::And(Box::new(self.expr(a)?), Box::new(self.expr(b)?)),
            Expr::Or(a, b) => CExpr::Or(Box::new(self.expr(a)?), Box::new(self.expr(b)?)),
            Expr::Not(a) => CExpr::Not(Box::new(self.expr(a)?)),
            Expr::Cmp {
                attr,
                pos,
                op,
                value,
                value_pos,
            } => {
                let c = self.col(attr, *pos)?;
                let v = self.value(value, &c, *value_pos)?;
                CExpr::Cmp(c, *op, v)
            }
            Expr::In {
                attr,
                pos,
                values,
                negated,
            } => {
                let c = self.col(attr, *pos)?;
                let vs = values
                    .iter()
                    .map(|(v, p)| self.value(v, &c, *p))
                    .collect::<Result<Vec<_>>>()?;
                CExpr::In(c, vs, *negated)
            }
            Expr::IsNull { attr, pos, negated } => CExpr::IsNull(self.col(attr, *pos)?, *negated),
            Expr::Like {
                attr,
                pos,
                pattern,
                case_insensitive,
            } => {
                let c = self.col(attr, *pos)?;
                if !matches!(c.ty, AttrType::Text | AttrType::Uid) {
                    return Err(self.err(
                        *pos,
                        format!(
                            "like() needs a text or uid attribute; {} is a {}",
                            c.name, c.ty
                        ),
                    ));
                }
                CExpr::Like(c, pattern.clone(), *case_insensitive)
            }
        })
    }

    fn agg(&mut self, f: AggFn, attr: Option<(&str, usize)>, pos: usize) -> Result<CItem> {
        let arg = attr.map(|(a, p)| self.col(a, p)).transpose()?;
        let ty = match (f, &arg) {
            (AggFn::Count, _) => AttrType::Int,
            (_, None) => return Err(self.err(pos, format!("{}() needs an attribute", f.name()))),
            (AggFn::Avg, Some(c)) if c.ty.is_numeric() => AttrType::Float,
            (AggFn::Sum, Some(c)) if c.ty.is_numeric() => c.ty,
            (AggFn::Sum | AggFn::Avg, Some(c)) => {
                return Err(self.err(
                    pos,
                    format!("{}() needs a number; {} is a {}", f.name(), c.name, c.ty),
                ));
            }
            (AggFn::Min | AggFn::Max, Some(c)) if c.ty == AttrType::Bool => {
                return Err(self.err(
                    pos,
                    format!(
                        "{}() does not apply to the bool attribute {}",
                        f.name(),
                        c.name
                    ),
                ));
            }
            (_, Some(c)) => c.ty,
        };
        Ok(CItem::Agg { f, arg, ty })
    }
}

/// Checks a parsed query against a schema: attribute names, literal types, aggregate rules.
pub fn check(q: &Query, schema: &Schema) -> Result<Checked> {
    let mut ck = Checker {
        q,
        schema,
        needed: Vec::new(),
    };
    ck.needed.push(Col {
        name: "name".into(),
        ty: AttrType::Text,
    });
    let filter = q.filter.as_ref().map(|e| ck.expr(e)).transpose()?;
    let aggregate =
        !q.group_by.is_empty() || q.select.0.iter().any(|i| matches!(i, Item::Agg { .. }));
    let limit = match q.limit {
        Some(n) if n > MAX_LIMIT => {
            return Err(ck.err(0, format!("limit {n} is above the maximum of {MAX_LIMIT}")));
        }
        l => l,
    };

    let mut group_by = Vec::new();
    for (g, pos) in &q.group_by {
        let c = ck.col(g, *pos)?;
        if !group_by.contains(&c) {
            group_by.push(c);
        }
    }

    let mut items = Vec::new();
    let mut hidden = Vec::new();
    if aggregate {
        if q.select.0.is_empty() {
            items.extend(group_by.iter().cloned().map(CItem::Col));
            items.push(CItem::Agg {
                f: AggFn::Count,
                arg: None,
                ty: AttrType::Int,
            });
        }
        for it in &q.select.0 {
            match it {
                Item::Attr { name, pos } => {
                    let c = ck.col(name, *pos)?;
                    if !group_by.contains(&c) {
                        return Err(ck.err(
                            *pos,
                            format!("{name} must appear in group by, or be inside an aggregate"),
                        ));
                    }
                    items.push(CItem::Col(c));
                }
                Item::Agg { f, attr, pos } => {
                    let a = ck.agg(*f, attr.as_ref().map(|(a, p)| (a.as_str(), *p)), *pos)?;
                    items.push(a);
                }
            }
        }
    } else {
        items.push(CItem::Col(Col {
            name: "name".into(),
            ty: AttrType::Text,
        }));
        if q.select.0.is_empty() {
            for a in &schema.attributes {
                items.push(CItem::Col(ck.col(&a.name, 0)?));
            }
        }
        for it in &q.select.0 {
            if let Item::Attr { name, pos } = it {
                let c = ck.col(name, *pos)?;
                if !items.contains(&CItem::Col(c.clone())) {
                    items.push(CItem::Col(c));
                }
            }
        }
    }

    let mut order = Vec::new();
    for (key, dir) in &q.order_by {
        let column = match key {
            OrderKey::Attr { name, pos } => {
                let c = ck.col(name, *pos)?;
                match items.iter().position(|i| *i == CItem::Col(c.clone())) {
                    Some(i) => i,
                    None if aggregate => {
                        return Err(ck.err(*pos, format!("order by {name}: not a grouping attribute or aggregate of the select list")));
                    }
                    None => {
                        let h = hidden.iter().position(|x| *x == c).unwrap_or_else(|| {
                            hidden.push(c.clone());
                            hidden.len() - 1
                        });
                        items.len() + h
                    }
                }
            }
            OrderKey::Agg { f, attr, pos } => {
                let found = items.iter().position(|i| match i {
                    CItem::Agg { f: g, arg, .. } => {
                        g == f && arg.as_ref().map(|c| &c.name) == attr.as_ref()
                    }
                    CItem::Col(_) => false,
                });
                match found {
                    Some(i) => i,
                    None => {
                        return Err(
                            ck.err(*pos, "order by an aggregate that is not in the select list")
                        );
                    }
                }
            }
        };
        order.push(COrder { column, dir: *dir });
    }
    Ok(Checked {
        aggregate,
        items,
        hidden,
        group_by,
        filter,
        order,
        limit,
        offset: q.offset,
        needed: ck.needed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Attribute;

    fn schema() -> Schema {
        Schema::new(vec![
            Attribute::new("Modality", AttrType::Text),
            Attribute::new("Age", AttrType::Int),
            Attribute::new("Dose", AttrType::Float),
            Attribute::new("StudyDate", AttrType::Date),
            Attribute::new("Acquired", AttrType::Timestamp),
            Attribute::new("Contrast", AttrType::Bool),
            Attribute::new("StudyUID", AttrType::Uid),
        ])
        .unwrap()
    }

    fn check_err(q: &str) -> (usize, String) {
        match parse(q).and_then(|p| check(&p, &schema())) {
            Err(Error::Query {
                position, message, ..
            }) => (position, message),
            other => panic!("{q}: expected a query error, got {other:?}"),
        }
    }

    #[test]
    fn type_errors_point_at_the_literal_or_attribute() {
        assert_eq!(check_err("Age = 'old'").0, 6);
        assert_eq!(check_err("Modality = 'CT' and Agee > 3").0, 20);
        assert!(
            check_err("modality = 'CT'")
                .1
                .contains("did you mean Modality")
        );
        assert_eq!(check_err("like(Age, '%1%')").0, 5);
        assert_eq!(check_err("StudyDate < 'yesterday'").0, 12);
        assert_eq!(check_err("StudyUID = '1.02'").0, 11);
        assert!(
            check_err("select sum(Modality)")
                .1
                .contains("needs a number")
        );
        assert!(
            check_err("select Modality, count(*) group by Age")
                .1
                .contains("group by")
        );
        assert!(
            check_err("select count(*) order by max(Age)")
                .1
                .contains("select list")
        );
        assert!(check_err("Age > 1 limit 2000000").1.contains("maximum"));
    }

    #[test]
    fn literals_are_coerced() {
        let c = check(
            &parse("Dose > 2 and StudyDate >= '2024-01-01' and Acquired < 2024-01-02").unwrap(),
            &schema(),
        )
        .unwrap();
        let Some(CExpr::And(a, b)) = c.filter else {
            panic!()
        };
        let CExpr::And(x, y) = *a else { panic!() };
        assert_eq!(
            *x,
            CExpr::Cmp(
                Col {
                    name: "Dose".into(),
                    ty: AttrType::Float
                },
                CmpOp::Gt,
                Value::Float(2.0)
            )
        );
        assert!(matches!(*y, CExpr::Cmp(_, CmpOp::Ge, Value::Date(19_723))));
        assert!(
            matches!(*b, CExpr::Cmp(_, CmpOp::Lt, Value::Timestamp(t)) if t == 19_724 * 86_400_000_000)
        );
    }

    #[test]
    fn modes_and_columns() {
        let c = check(
            &parse("select Modality, count(*), avg(Age) group by Modality order by count(*) desc")
                .unwrap(),
            &schema(),
        )
        .unwrap();
        assert!(c.aggregate);
        assert_eq!(c.column_names(), vec!["Modality", "count(*)", "avg(Age)"]);
        assert_eq!(
            c.order,
            vec![COrder {
                column: 1,
                dir: Dir::Desc
            }]
        );
        let c = check(
            &parse("select Age where Contrast = true order by Dose").unwrap(),
            &schema(),
        )
        .unwrap();
        assert_eq!(c.column_names(), vec!["name", "Age"]);
        assert_eq!(c.hidden.len(), 1);
        assert_eq!(c.order[0].column, 2);
        let c = check(&parse("group by Modality").unwrap(), &schema()).unwrap();
        assert_eq!(c.column_names(), vec!["Modality", "count(*)"]);
    }
}
