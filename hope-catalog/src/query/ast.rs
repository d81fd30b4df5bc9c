//! The syntax tree of a query, before and after checking against a schema.

use crate::value::{AttrType, Value};

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `!=` or `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// The SQL spelling.
    pub fn sql(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "<>",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// Aggregate functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggFn {
    /// `count(*)` or `count(attr)` (non-null values).
    Count,
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// Sum of a numeric attribute.
    Sum,
    /// Mean of a numeric attribute (a float).
    Avg,
}

impl AggFn {
    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            AggFn::Count => "count",
            AggFn::Min => "min",
            AggFn::Max => "max",
            AggFn::Sum => "sum",
            AggFn::Avg => "avg",
        }
    }
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Ascending (nulls last).
    Asc,
    /// Descending (nulls last).
    Desc,
}

/// One item of a `select` list.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// An attribute.
    Attr {
        /// Its name.
        name: String,
        /// Position in the text.
        pos: usize,
    },
    /// An aggregate.
    Agg {
        /// The function.
        f: AggFn,
        /// Its argument (`None` for `count(*)`).
        attr: Option<(String, usize)>,
        /// Position in the text.
        pos: usize,
    },
}

/// The `select` list (empty: every attribute).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Select(pub Vec<Item>);

/// A sort key.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderKey {
    /// An attribute.
    Attr {
        /// Its name.
        name: String,
        /// Position in the text.
        pos: usize,
    },
    /// An aggregate of the select list.
    Agg {
        /// The function.
        f: AggFn,
        /// Its argument.
        attr: Option<String>,
        /// Position in the text.
        pos: usize,
    },
}

/// A filter expression as written.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// Both.
    And(Box<Expr>, Box<Expr>),
    /// Either.
    Or(Box<Expr>, Box<Expr>),
    /// Negation (SQL three-valued logic: `not` of unknown is unknown).
    Not(Box<Expr>),
    /// `attr op value`.
    Cmp {
        /// Attribute.
        attr: String,
        /// Its position.
        pos: usize,
        /// Operator.
        op: CmpOp,
        /// Literal.
        value: Value,
        /// The literal's position.
        value_pos: usize,
    },
    /// `attr [not] in (v, ...)`.
    In {
        /// Attribute.
        attr: String,
        /// Its position.
        pos: usize,
        /// Literals with positions.
        values: Vec<(Value, usize)>,
        /// `not in`.
        negated: bool,
    },
    /// `attr is [not] null`.
    IsNull {
        /// Attribute.
        attr: String,
        /// Its position.
        pos: usize,
        /// `is not null`.
        negated: bool,
    },
    /// `like(attr, 'pattern')` / `ilike(...)`: `%` any run, `_` one character, `\` escapes.
    Like {
        /// Attribute.
        attr: String,
        /// Its position.
        pos: usize,
        /// Pattern.
        pattern: String,
        /// `ilike`: ASCII case-insensitive.
        case_insensitive: bool,
    },
}

/// A parsed query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    /// The text it was parsed from.
    pub text: String,
    /// What to return.
    pub select: Select,
    /// Which entries.
    pub filter: Option<Expr>,
    /// Grouping attributes.
    pub group_by: Vec<(String, usize)>,
    /// Sort keys.
    pub order_by: Vec<(OrderKey, Dir)>,
    /// Most rows returned.
    pub limit: Option<u64>,
    /// Rows skipped.
    pub offset: u64,
}

/// A column referenced by a checked query: an attribute, or the entry name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Col {
    /// Attribute name, or `name` for the entry name.
    pub name: String,
    /// Its type.
    pub ty: AttrType,
}

/// A checked filter: attributes resolved, literals coerced to their types.
#[derive(Debug, Clone, PartialEq)]
pub enum CExpr {
    /// Both.
    And(Box<CExpr>, Box<CExpr>),
    /// Either.
    Or(Box<CExpr>, Box<CExpr>),
    /// Negation.
    Not(Box<CExpr>),
    /// Comparison with a typed literal.
    Cmp(Col, CmpOp, Value),
    /// Membership (`true`: `not in`).
    In(Col, Vec<Value>, bool),
    /// Null test (`true`: `is not null`).
    IsNull(Col, bool),
    /// Pattern match (`true`: case-insensitive).
    Like(Col, String, bool),
}

/// A checked select item.
#[derive(Debug, Clone, PartialEq)]
pub enum CItem {
    /// A grouping attribute (aggregate mode) or projected attribute (entries mode).
    Col(Col),
    /// An aggregate and its argument; the result type is in `ty`.
    Agg {
        /// Function.
        f: AggFn,
        /// Argument (`None`: `count(*)`).
        arg: Option<Col>,
        /// Type of the result.
        ty: AttrType,
    },
}

/// A checked sort key: an index into the output columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct COrder {
    /// Output column (entries mode: may also be a hidden column, see [`Checked::hidden`]).
    pub column: usize,
    /// Direction.
    pub dir: Dir,
}

/// A query checked against a schema, ready for any back-end.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    /// Whether rows are groups (aggregate mode) or entries.
    pub aggregate: bool,
    /// Output columns (entries mode: `name` first, then the projection).
    pub items: Vec<CItem>,
    /// Entries mode: columns sorted on but not returned (after `items` in numbering).
    pub hidden: Vec<Col>,
    /// Aggregate mode: the grouping columns.
    pub group_by: Vec<Col>,
    /// Filter.
    pub filter: Option<CExpr>,
    /// Sort keys (a stable tie-break is added by the back-ends: entries by collection and name,
    /// groups by their keys).
    pub order: Vec<COrder>,
    /// Most rows.
    pub limit: Option<u64>,
    /// Rows skipped.
    pub offset: u64,
    /// Every attribute the query reads (for choosing collections in recursive queries).
    pub needed: Vec<Col>,
}

impl Checked {
    /// Output column names.
    pub fn column_names(&self) -> Vec<String> {
        self.items
            .iter()
            .map(|i| match i {
                CItem::Col(c) => c.name.clone(),
                CItem::Agg { f, arg, .. } => format!(
                    "{}({})",
                    f.name(),
                    arg.as_ref().map_or("*", |c| c.name.as_str())
                ),
            })
            .collect()
    }
}
