//! SQL text shared by the SQLite and PostgreSQL back-ends: DDL, and checked queries translated into
//! parameterised SQL. Values are always bound as parameters; identifiers are attribute names that
//! [`crate::schema::check_name`] restricted to `[A-Za-z][A-Za-z0-9_]*`, quoted all the same.

use super::CollectionRecord;
use crate::query::{AggFn, CExpr, CItem, Checked, Col, Dir};
use crate::value::{AttrType, Value};

/// The SQL dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub(crate) fn ph(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}"),
        }
    }

    pub(crate) fn column_type(self, ty: AttrType) -> &'static str {
        match (self, ty) {
            (
                Dialect::Sqlite,
                AttrType::Int | AttrType::Timestamp | AttrType::Date | AttrType::Bool,
            ) => "INTEGER",
            (Dialect::Sqlite, AttrType::Float) => "REAL",
            (Dialect::Sqlite, AttrType::Text | AttrType::Uid) => "TEXT",
            (Dialect::Postgres, AttrType::Int | AttrType::Timestamp) => "BIGINT",
            (Dialect::Postgres, AttrType::Date) => "INTEGER",
            (Dialect::Postgres, AttrType::Bool) => "BOOLEAN",
            (Dialect::Postgres, AttrType::Float) => "DOUBLE PRECISION",
            (Dialect::Postgres, AttrType::Text | AttrType::Uid) => "TEXT COLLATE \"C\"",
        }
    }

    /// Byte-wise ordering of text, the same in every back-end (text columns carry it in PostgreSQL,
    /// so that ordering by output position keeps it).
    fn collate(self, ty: AttrType) -> &'static str {
        match (self, ty) {
            (Dialect::Postgres, AttrType::Text | AttrType::Uid) => " COLLATE \"C\"",
            _ => "",
        }
    }
}

pub(crate) fn table(id: i64) -> String {
    format!("hope_c{id}")
}

pub(crate) fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

pub(crate) fn index_name(id: i64, attr: &str) -> String {
    quote(&format!("hope_c{id}_{attr}"))
}

/// SQL text and its parameters, in placeholder order.
#[derive(Debug)]
pub(crate) struct Built {
    pub(crate) sql: String,
    pub(crate) params: Vec<(Value, AttrType)>,
    /// Types of the output columns to read.
    pub(crate) columns: Vec<AttrType>,
}

struct Builder {
    d: Dialect,
    params: Vec<(Value, AttrType)>,
}

impl Builder {
    fn bind(&mut self, v: &Value, ty: AttrType) -> String {
        self.params.push((v.clone(), ty));
        self.d.ph(self.params.len())
    }

    fn col(c: &Col) -> String {
        quote(&c.name)
    }

    fn expr(&mut self, e: &CExpr) -> String {
        match e {
            CExpr::And(a, b) => format!("({} AND {})", self.expr(a), self.expr(b)),
            CExpr::Or(a, b) => format!("({} OR {})", self.expr(a), self.expr(b)),
            CExpr::Not(a) => format!("(NOT {})", self.expr(a)),
            CExpr::Cmp(c, op, v) => format!("{} {} {}", Self::col(c), op.sql(), self.bind(v, c.ty)),
            CExpr::In(c, vs, neg) => {
                let list: Vec<String> = vs.iter().map(|v| self.bind(v, c.ty)).collect();
                format!(
                    "{} {}IN ({})",
                    Self::col(c),
                    if *neg { "NOT " } else { "" },
                    list.join(", ")
                )
            }
            CExpr::IsNull(c, neg) => {
                format!("{} IS {}NULL", Self::col(c), if *neg { "NOT " } else { "" })
            }
            CExpr::Like(c, p, false) => {
                format!(
                    "{} LIKE {} ESCAPE '\\'",
                    Self::col(c),
                    self.bind(&Value::Text(p.clone()), AttrType::Text)
                )
            }
            CExpr::Like(c, p, true) => format!(
                "lower({}) LIKE lower({}) ESCAPE '\\'",
                Self::col(c),
                self.bind(&Value::Text(p.clone()), AttrType::Text)
            ),
        }
    }
}

/// The most SELECTs joined by UNION ALL in one compound statement: SQLite refuses more than 500
/// (SQLITE_MAX_COMPOUND_SELECT), which a recursive query over many collections would pass.
const MAX_COMPOUND: usize = 400;

/// `parts` joined by UNION ALL, nested in sub-selects of at most [`MAX_COMPOUND`] terms each, so
/// that no compound statement has more terms than the database allows, however many parts.
fn union_all(mut parts: Vec<String>) -> String {
    let mut level = 0;
    while parts.len() > MAX_COMPOUND {
        parts = parts
            .chunks(MAX_COMPOUND)
            .enumerate()
            .map(|(i, group)| {
                format!(
                    "SELECT * FROM ({}) AS \"u{level}_{i}\"",
                    group.join(" UNION ALL ")
                )
            })
            .collect();
        level += 1;
    }
    parts.join(" UNION ALL ")
}

/// The SELECT of a checked query over one or more collection tables: an inner UNION ALL of the
/// filtered rows of each table, and an outer projection, grouping, ordering and paging.
pub(crate) fn build_query(d: Dialect, collections: &[CollectionRecord], q: &Checked) -> Built {
    let mut b = Builder {
        d,
        params: Vec::new(),
    };
    let needed: Vec<&Col> = q.needed.iter().filter(|c| c.name != "name").collect();
    let mut parts = Vec::new();
    for c in collections {
        let path = b.bind(&Value::Text(c.path.to_string()), AttrType::Text);
        let mut cols = vec![
            format!(
                "CAST({path} AS TEXT){} AS \"collection\"",
                d.collate(AttrType::Text)
            ),
            "\"name\"".to_string(),
        ];
        cols.extend(needed.iter().map(|c| quote(&c.name)));
        let filter = q
            .filter
            .as_ref()
            .map(|f| format!(" WHERE {}", b.expr(f)))
            .unwrap_or_default();
        parts.push(format!(
            "SELECT {} FROM {}{}",
            cols.join(", "),
            table(c.id),
            filter
        ));
    }
    let inner = union_all(parts);
    let multi = collections.len() > 1;

    let mut select = Vec::new();
    let mut columns = Vec::new();
    if multi && !q.aggregate {
        select.push("\"collection\"".to_string());
        columns.push(AttrType::Text);
    }
    for it in &q.items {
        match it {
            CItem::Col(c) => {
                select.push(quote(&c.name));
                columns.push(c.ty);
            }
            CItem::Agg { f, arg, ty } => {
                let a = arg.as_ref().map_or("*".to_string(), |c| quote(&c.name));
                let expr = match (f, d, ty) {
                    (AggFn::Sum, Dialect::Postgres, AttrType::Int) => {
                        format!("CAST(SUM({a}) AS BIGINT)")
                    }
                    (AggFn::Avg, Dialect::Postgres, _) => {
                        format!("CAST(AVG({a}) AS DOUBLE PRECISION)")
                    }
                    (AggFn::Avg, Dialect::Sqlite, _) => format!("AVG({a})"),
                    (f, _, _) => format!("{}({a})", f.name().to_uppercase()),
                };
                select.push(expr);
                columns.push(*ty);
            }
        }
    }
    let shift = usize::from(multi && !q.aggregate);
    for h in &q.hidden {
        select.push(quote(&h.name));
    }
    let mut order: Vec<String> = q
        .order
        .iter()
        .map(|o| {
            let pos = o.column + 1 + shift;
            let dir = if o.dir == Dir::Desc { "DESC" } else { "ASC" };
            format!("{pos} {dir} NULLS LAST")
        })
        .collect();
    let mut sql = format!("SELECT {} FROM ({inner}) AS t", select.join(", "));
    if q.aggregate {
        if !q.group_by.is_empty() {
            let g: Vec<String> = q.group_by.iter().map(|c| quote(&c.name)).collect();
            sql.push_str(&format!(" GROUP BY {}", g.join(", ")));
        }
        for g in &q.group_by {
            order.push(format!("{} ASC NULLS LAST", quote(&g.name)));
        }
    } else {
        order.push("\"collection\" ASC".to_string());
        order.push("\"name\" ASC".to_string());
    }
    if !order.is_empty() {
        sql.push_str(&format!(" ORDER BY {}", order.join(", ")));
    }
    if let Some(l) = q.limit {
        sql.push_str(&format!(" LIMIT {l}"));
    }
    if q.offset > 0 {
        if q.limit.is_none() && d == Dialect::Sqlite {
            sql.push_str(" LIMIT -1");
        }
        sql.push_str(&format!(" OFFSET {}", q.offset));
    }
    Built {
        sql,
        params: b.params,
        columns,
    }
}

/// `CREATE TABLE` of a collection's entries.
pub(crate) fn create_table(d: Dialect, id: i64) -> String {
    let name_type = d.column_type(AttrType::Text);
    format!(
        "CREATE TABLE {} (\"name\" {name_type} PRIMARY KEY NOT NULL)",
        table(id)
    )
}

/// Statements that add an attribute.
pub(crate) fn add_column(
    d: Dialect,
    id: i64,
    name: &str,
    ty: AttrType,
    indexed: bool,
) -> Vec<String> {
    let mut v = vec![format!(
        "ALTER TABLE {} ADD COLUMN {} {}",
        table(id),
        quote(name),
        d.column_type(ty)
    )];
    if indexed {
        v.push(format!(
            "CREATE INDEX {} ON {} ({})",
            index_name(id, name),
            table(id),
            quote(name)
        ));
    }
    v
}

/// Statements that drop an attribute (its index first: SQLite refuses to drop an indexed column).
pub(crate) fn drop_column(id: i64, name: &str) -> Vec<String> {
    vec![
        format!("DROP INDEX IF EXISTS {}", index_name(id, name)),
        format!("ALTER TABLE {} DROP COLUMN {}", table(id), quote(name)),
    ]
}

/// `INSERT` of `rows` entries with the given attribute names.
pub(crate) fn insert(d: Dialect, id: i64, attrs: &[&str], rows: usize) -> String {
    let mut cols = vec!["\"name\"".to_string()];
    cols.extend(attrs.iter().map(|a| quote(a)));
    let width = cols.len();
    let tuples: Vec<String> = (0..rows)
        .map(|r| {
            format!(
                "({})",
                (1..=width)
                    .map(|k| d.ph(r * width + k))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect();
    format!(
        "INSERT INTO {} ({}) VALUES {}",
        table(id),
        cols.join(", "),
        tuples.join(", ")
    )
}

/// `SELECT` of one entry by name.
pub(crate) fn select_entry(d: Dialect, id: i64, attrs: &[&str], for_update: bool) -> String {
    let mut cols = vec!["\"name\"".to_string()];
    cols.extend(attrs.iter().map(|a| quote(a)));
    let lock = if for_update && d == Dialect::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    format!(
        "SELECT {} FROM {} WHERE \"name\" = {}{lock}",
        cols.join(", "),
        table(id),
        d.ph(1)
    )
}

/// `UPDATE` of some attributes of one entry; the name is the last parameter.
pub(crate) fn update(d: Dialect, id: i64, attrs: &[&str]) -> String {
    let sets: Vec<String> = attrs
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{} = {}", quote(a), d.ph(i + 1)))
        .collect();
    format!(
        "UPDATE {} SET {} WHERE \"name\" = {}",
        table(id),
        sets.join(", "),
        d.ph(attrs.len() + 1)
    )
}

/// The metadata tables of catalog schema version 1.
pub(crate) fn migration_v1(d: Dialect) -> Vec<String> {
    let (id, text) = match d {
        Dialect::Sqlite => ("INTEGER PRIMARY KEY", "TEXT"),
        Dialect::Postgres => ("BIGSERIAL PRIMARY KEY", "TEXT COLLATE \"C\""),
    };
    vec![
        format!(
            "CREATE TABLE hope_collections (id {id}, path {text} NOT NULL UNIQUE, schema TEXT NOT NULL, permissions TEXT NOT NULL)"
        ),
        format!(
            "CREATE TABLE hope_annotations (id {id}, collection_id BIGINT NOT NULL, entry {text}, attribute TEXT NOT NULL, value TEXT NOT NULL, unit TEXT NOT NULL)"
        ),
        "CREATE INDEX hope_annotations_target ON hope_annotations (collection_id, entry)"
            .to_string(),
        format!(
            "CREATE TABLE hope_audit (id {id}, time_us BIGINT NOT NULL, principal TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, result TEXT NOT NULL, detail TEXT NOT NULL)"
        ),
    ]
}

/// The schema version this crate writes; a catalog of a newer version is refused.
pub(crate) const SCHEMA_VERSION: i64 = 1;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::Permissions;
    use crate::path::CollectionPath;
    use crate::query::{check, parse};
    use crate::schema::{Attribute, Schema};

    #[test]
    fn values_never_reach_the_sql_text() {
        let schema = Schema::new(vec![
            Attribute::new("Modality", AttrType::Text),
            Attribute::new("Age", AttrType::Int),
        ])
        .unwrap();
        let c = CollectionRecord {
            id: 7,
            path: CollectionPath::parse("/a").unwrap(),
            schema: schema.clone(),
            permissions: Permissions::owned_by("x"),
        };
        let evil = "x'); DROP TABLE hope_collections; --";
        let q = check(
            &parse(&format!(
                "Modality = '{}' and Age in (1, 2) and like(Modality, '%{}%')",
                evil.replace('\'', "''"),
                "a_b"
            ))
            .unwrap(),
            &schema,
        )
        .unwrap();
        for d in [Dialect::Sqlite, Dialect::Postgres] {
            let b = build_query(d, std::slice::from_ref(&c), &q);
            assert!(!b.sql.contains("DROP"), "{}", b.sql);
            assert_eq!(b.params.len(), 5, "path, modality, two ages, pattern");
            assert_eq!(b.params[1].0, Value::Text(evil.into()));
        }
    }
}
