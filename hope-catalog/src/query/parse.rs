//! Lexer and recursive-descent parser of the query language.

use crate::value::{Value, parse_date, parse_timestamp};
use crate::{Error, Result};

use super::ast::{AggFn, CmpOp, Dir, Expr, Item, OrderKey, Query, Select};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Date(i32),
    Timestamp(i64),
    LParen,
    RParen,
    Comma,
    Star,
    Op(CmpOp),
    End,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    pos: usize,
}

fn err(query: &str, pos: usize, message: impl Into<String>) -> Error {
    Error::Query {
        query: query.to_string(),
        position: pos,
        message: message.into(),
    }
}

fn lex(q: &str) -> Result<Vec<Token>> {
    let b = q.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        let tok = match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'(' => {
                i += 1;
                Tok::LParen
            }
            b')' => {
                i += 1;
                Tok::RParen
            }
            b',' => {
                i += 1;
                Tok::Comma
            }
            b'*' => {
                i += 1;
                Tok::Star
            }
            b'=' => {
                i += 1;
                Tok::Op(CmpOp::Eq)
            }
            b'!' if b.get(i + 1) == Some(&b'=') => {
                i += 2;
                Tok::Op(CmpOp::Ne)
            }
            b'<' => match b.get(i + 1) {
                Some(b'=') => {
                    i += 2;
                    Tok::Op(CmpOp::Le)
                }
                Some(b'>') => {
                    i += 2;
                    Tok::Op(CmpOp::Ne)
                }
                _ => {
                    i += 1;
                    Tok::Op(CmpOp::Lt)
                }
            },
            b'>' => {
                if b.get(i + 1) == Some(&b'=') {
                    i += 2;
                    Tok::Op(CmpOp::Ge)
                } else {
                    i += 1;
                    Tok::Op(CmpOp::Gt)
                }
            }
            b'\'' => {
                // 'text', with '' for a quote.
                let mut s = String::new();
                i += 1;
                loop {
                    match q[i..].find('\'') {
                        None => return Err(err(q, start, "unterminated string")),
                        Some(k) => {
                            s.push_str(&q[i..i + k]);
                            i += k + 1;
                            if b.get(i) == Some(&b'\'') {
                                s.push('\'');
                                i += 1;
                            } else {
                                break;
                            }
                        }
                    }
                }
                Tok::Str(s)
            }
            b'0'..=b'9' | b'-' | b'+' | b'.' => {
                let (tok, len) = scan_number(&q[i..]).ok_or_else(|| {
                    let text = q[i..]
                        .split(|c: char| c.is_whitespace() || c == ')' || c == ',')
                        .next()
                        .unwrap_or("");
                    err(
                        q,
                        start,
                        format!("`{text}` is not a number, date (YYYY-MM-DD) or timestamp"),
                    )
                })?;
                i += len;
                tok
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                let text = q[i..j].to_string();
                i = j;
                Tok::Ident(text)
            }
            _ => {
                let ch = q[i..].chars().next().unwrap_or('?');
                return Err(err(q, start, format!("unexpected character `{ch}`")));
            }
        };
        out.push(Token { tok, pos: start });
    }
    out.push(Token {
        tok: Tok::End,
        pos: q.len(),
    });
    Ok(out)
}

/// A date `YYYY-MM-DD`, a timestamp `YYYY-MM-DDTHH:MM:SS[.f][Z]` or a number at the start of
/// `s`, with its length.
fn scan_number(s: &str) -> Option<(Tok, usize)> {
    let b = s.as_bytes();
    let digit = |k: usize| b.get(k).is_some_and(u8::is_ascii_digit);
    let run = |mut k: usize| {
        while digit(k) {
            k += 1;
        }
        k
    };
    if run(0) == 4
        && b.get(4) == Some(&b'-')
        && run(5) == 7
        && b.get(7) == Some(&b'-')
        && run(8) == 10
    {
        if b.get(10) == Some(&b'T') {
            let mut k = 11;
            while k < b.len() && (b[k].is_ascii_digit() || matches!(b[k], b':' | b'.')) {
                k += 1;
            }
            if b.get(k) == Some(&b'Z') {
                k += 1;
            }
            return parse_timestamp(&s[..k]).map(|t| (Tok::Timestamp(t), k));
        }
        return parse_date(&s[..10]).map(|d| (Tok::Date(d), 10));
    }
    let mut k = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    let int_end = run(k);
    let mut end = int_end;
    let mut is_float = false;
    if b.get(end) == Some(&b'.') {
        is_float = true;
        end = run(end + 1);
    }
    if end == k || (end == k + 1 && is_float && int_end == k) {
        return None; // no digits
    }
    if matches!(b.get(end), Some(b'e' | b'E')) {
        let mut e = end + 1;
        if matches!(b.get(e), Some(b'-' | b'+')) {
            e += 1;
        }
        let e_end = run(e);
        if e_end > e {
            is_float = true;
            end = e_end;
        }
    }
    if b.get(end)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
    {
        return None; // `12abc`
    }
    k = end;
    let text = &s[..k];
    if !is_float && let Ok(n) = text.parse::<i64>() {
        return Some((Tok::Int(n), k));
    }
    text.parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
        .map(|x| (Tok::Float(x), k))
}

/// An aggregate as parsed: function, argument with its position, position of the call.
type ParsedAgg = (AggFn, Option<(String, usize)>, usize);

const KEYWORDS: &[&str] = &[
    "and", "or", "not", "in", "is", "null", "true", "false", "select", "where", "group", "by",
    "order", "asc", "desc", "limit", "offset", "like", "ilike",
];

/// Longest query text accepted, in bytes.
pub const MAX_QUERY_LEN: usize = 64 * 1024;
/// Deepest nesting of parentheses and `not` accepted.
pub const MAX_NESTING: usize = 32;
/// Deepest condition tree accepted once built (chains of `and` and `or` are balanced trees).
pub const MAX_TREE_DEPTH: usize = 128;

struct Parser<'a> {
    q: &'a str,
    toks: Vec<Token>,
    i: usize,
    /// Parentheses and `not` currently open.
    nesting: usize,
}

/// `items` joined by `join` as a balanced tree (and/or are associative): its depth grows with the
/// logarithm of the chain's length, not with the length.
fn balanced(mut items: Vec<Expr>, join: fn(Box<Expr>, Box<Expr>) -> Expr) -> Expr {
    if items.len() == 1 {
        return items.remove(0);
    }
    let right = items.split_off(items.len().div_ceil(2));
    join(
        Box::new(balanced(items, join)),
        Box::new(balanced(right, join)),
    )
}

/// The depth of a condition tree, or `None` once it exceeds `limit` (looks no deeper).
fn depth_within(e: &Expr, limit: usize) -> Option<usize> {
    if limit == 0 {
        return None;
    }
    Some(
        1 + match e {
            Expr::And(a, b) | Expr::Or(a, b) => {
                depth_within(a, limit - 1)?.max(depth_within(b, limit - 1)?)
            }
            Expr::Not(a) => depth_within(a, limit - 1)?,
            _ => 0,
        },
    )
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &Token {
        &self.toks[self.i]
    }

    fn next(&mut self) -> Token {
        let t = self.toks[self.i].clone();
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
        t
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(&self.peek().tok, Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        let yes = self.is_kw(kw);
        if yes {
            self.next();
        }
        yes
    }

    fn expect_kw(&mut self, kw: &str) -> Result<()> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("`{kw}`")))
        }
    }

    fn expect(&mut self, t: &Tok, what: &str) -> Result<()> {
        if &self.peek().tok == t {
            self.next();
            Ok(())
        } else {
            Err(self.unexpected(what))
        }
    }

    fn unexpected(&self, expected: &str) -> Error {
        let t = self.peek();
        let found = match &t.tok {
            Tok::End => "the end of the query".to_string(),
            _ => format!(
                "`{}`",
                self.q[t.pos..].split_whitespace().next().unwrap_or("")
            ),
        };
        err(self.q, t.pos, format!("expected {expected}, found {found}"))
    }

    fn ident(&mut self, what: &str) -> Result<(String, usize)> {
        let t = self.peek().clone();
        match t.tok {
            Tok::Ident(s) if !KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(&s)) => {
                self.next();
                Ok((s, t.pos))
            }
            _ => Err(self.unexpected(what)),
        }
    }

    fn literal(&mut self) -> Result<(Value, usize)> {
        let t = self.next();
        let v = match t.tok {
            Tok::Str(s) => Value::Text(s),
            Tok::Int(n) => Value::Int(n),
            Tok::Float(x) => Value::Float(x),
            Tok::Date(d) => Value::Date(d),
            Tok::Timestamp(ts) => Value::Timestamp(ts),
            Tok::Ident(s) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
            Tok::Ident(s) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
            _ => {
                self.i -= usize::from(self.i > 0 && t.tok != Tok::End);
                return Err(
                    self.unexpected("a value ('text', number, date, timestamp, true or false)")
                );
            }
        };
        Ok((v, t.pos))
    }

    fn query(&mut self) -> Result<Query> {
        let mut q = Query::default();
        if self.eat_kw("select") {
            q.select = self.select_list()?;
        }
        if self.eat_kw("where") || !self.at_clause_start() {
            q.filter = Some(self.expr()?);
        }
        if self.eat_kw("group") {
            self.expect_kw("by")?;
            loop {
                q.group_by.push(self.ident("an attribute to group by")?);
                if !self.eat_comma() {
                    break;
                }
            }
        }
        if self.eat_kw("order") {
            self.expect_kw("by")?;
            loop {
                let key = self.order_key()?;
                let dir = if self.eat_kw("desc") {
                    Dir::Desc
                } else {
                    self.eat_kw("asc");
                    Dir::Asc
                };
                q.order_by.push((key, dir));
                if !self.eat_comma() {
                    break;
                }
            }
        }
        if self.eat_kw("limit") {
            q.limit = Some(self.count("a row count after limit")?);
        }
        if self.eat_kw("offset") {
            q.offset = self.count("a row count after offset")?;
        }
        if self.peek().tok != Tok::End {
            return Err(self
                .unexpected("and, or, group by, order by, limit, offset or the end of the query"));
        }
        Ok(q)
    }

    fn at_clause_start(&self) -> bool {
        self.peek().tok == Tok::End
            || ["group", "order", "limit", "offset"]
                .iter()
                .any(|k| self.is_kw(k))
    }

    fn eat_comma(&mut self) -> bool {
        if self.peek().tok == Tok::Comma {
            self.next();
            true
        } else {
            false
        }
    }

    fn count(&mut self, what: &str) -> Result<u64> {
        match self.peek().tok {
            Tok::Int(n) if n >= 0 => {
                self.next();
                Ok(n as u64)
            }
            _ => Err(self.unexpected(what)),
        }
    }

    fn agg(&mut self) -> Result<Option<ParsedAgg>> {
        let t = self.peek().clone();
        let Tok::Ident(name) = &t.tok else {
            return Ok(None);
        };
        let f = match name.to_ascii_lowercase().as_str() {
            "count" => AggFn::Count,
            "min" => AggFn::Min,
            "max" => AggFn::Max,
            "sum" => AggFn::Sum,
            "avg" => AggFn::Avg,
            _ => return Ok(None),
        };
        if self.toks.get(self.i + 1).map(|t| &t.tok) != Some(&Tok::LParen) {
            return Ok(None);
        }
        self.next();
        self.next();
        let arg = if f == AggFn::Count && self.peek().tok == Tok::Star {
            self.next();
            None
        } else {
            Some(self.ident("an attribute")?)
        };
        self.expect(&Tok::RParen, "`)`")?;
        Ok(Some((f, arg, t.pos)))
    }

    fn select_list(&mut self) -> Result<Select> {
        let mut items = Vec::new();
        loop {
            if let Some((f, arg, pos)) = self.agg()? {
                items.push(Item::Agg { f, attr: arg, pos });
            } else {
                let (a, pos) =
                    self.ident("an attribute or an aggregate (count, min, max, sum, avg)")?;
                items.push(Item::Attr { name: a, pos });
            }
            if !self.eat_comma() {
                break;
            }
        }
        Ok(Select(items))
    }

    fn order_key(&mut self) -> Result<OrderKey> {
        if let Some((f, arg, pos)) = self.agg()? {
            return Ok(OrderKey::Agg {
                f,
                attr: arg.map(|a| a.0),
                pos,
            });
        }
        let (a, pos) = self.ident("an attribute to order by")?;
        Ok(OrderKey::Attr { name: a, pos })
    }

    fn expr(&mut self) -> Result<Expr> {
        let mut terms = vec![self.and_expr()?];
        while self.eat_kw("or") {
            terms.push(self.and_expr()?);
        }
        Ok(balanced(terms, Expr::Or))
    }

    fn and_expr(&mut self) -> Result<Expr> {
        let mut terms = vec![self.not_expr()?];
        while self.eat_kw("and") {
            terms.push(self.not_expr()?);
        }
        Ok(balanced(terms, Expr::And))
    }

    /// Enters a parenthesis or a `not`, refusing nesting beyond [`MAX_NESTING`].
    fn enter(&mut self) -> Result<()> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(err(
                self.q,
                self.peek().pos,
                format!("parentheses and `not` nested more than {MAX_NESTING} deep"),
            ));
        }
        Ok(())
    }

    fn not_expr(&mut self) -> Result<Expr> {
        if self.eat_kw("not") {
            self.enter()?;
            let e = Expr::Not(Box::new(self.not_expr()?));
            self.nesting -= 1;
            return Ok(e);
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr> {
        if self.peek().tok == Tok::LParen {
            self.next();
            self.enter()?;
            let e = self.expr()?;
            self.nesting -= 1;
            self.expect(&Tok::RParen, "`)`")?;
            return Ok(e);
        }
        for (kw, ci) in [("like", false), ("ilike", true)] {
            if self.is_kw(kw) && self.toks.get(self.i + 1).map(|t| &t.tok) == Some(&Tok::LParen) {
                self.next();
                self.next();
                let (attr, pos) = self.ident("an attribute")?;
                self.expect(&Tok::Comma, "`,`")?;
                let t = self.next();
                let Tok::Str(pattern) = t.tok else {
                    self.i -= 1;
                    return Err(self.unexpected("a 'pattern' string"));
                };
                self.expect(&Tok::RParen, "`)`")?;
                return Ok(Expr::Like {
                    attr,
                    pos,
                    pattern,
                    case_insensitive: ci,
                });
            }
        }
        let (attr, pos) = self.ident("an attribute, `not`, `like(...)` or `(`")?;
        if self.eat_kw("is") {
            let negated = self.eat_kw("not");
            self.expect_kw("null")?;
            return Ok(Expr::IsNull { attr, pos, negated });
        }
        let negated_in = self.is_kw("not")
            && matches!(&self.toks.get(self.i + 1).map(|t| &t.tok), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("in"));
        if negated_in {
            self.next();
        }
        if self.eat_kw("in") {
            self.expect(&Tok::LParen, "`(`")?;
            let mut values = Vec::new();
            loop {
                values.push(self.literal()?);
                if !self.eat_comma() {
                    break;
                }
            }
            self.expect(&Tok::RParen, "`)`")?;
            return Ok(Expr::In {
                attr,
                pos,
                values,
                negated: negated_in,
            });
        }
        let op = match self.peek().tok {
            Tok::Op(op) => {
                self.next();
                op
            }
            _ => return Err(self.unexpected("a comparison (=, !=, <, <=, >, >=), in, is null")),
        };
        let (value, vpos) = self.literal()?;
        Ok(Expr::Cmp {
            attr,
            pos,
            op,
            value,
            value_pos: vpos,
        })
    }
}

/// Parses a query text into its (unchecked) syntax tree.
pub fn parse(q: &str) -> Result<Query> {
    if q.len() > MAX_QUERY_LEN {
        return Err(Error::Query {
            query: format!("{}...", q.chars().take(80).collect::<String>()),
            position: MAX_QUERY_LEN,
            message: format!("a query of {} bytes; at most {MAX_QUERY_LEN}", q.len()),
        });
    }
    let toks = lex(q)?;
    let mut p = Parser {
        q,
        toks,
        i: 0,
        nesting: 0,
    };
    let mut query = p.query()?;
    if let Some(f) = &query.filter
        && depth_within(f, MAX_TREE_DEPTH).is_none()
    {
        return Err(err(
            q,
            0,
            format!("conditions nested more than {MAX_TREE_DEPTH} deep"),
        ));
    }
    query.text = q.to_string();
    Ok(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexes_dates_timestamps_numbers() {
        let t: Vec<Tok> = lex("2024-01-02 2024-01-02T10:00:00Z -5 3.5e2 'it''s'")
            .unwrap()
            .into_iter()
            .map(|t| t.tok)
            .collect();
        assert_eq!(t[0], Tok::Date(19_724));
        assert!(matches!(t[1], Tok::Timestamp(_)));
        assert_eq!(t[2], Tok::Int(-5));
        assert_eq!(t[3], Tok::Float(350.0));
        assert_eq!(t[4], Tok::Str("it's".into()));
    }

    #[test]
    fn errors_point_at_the_problem() {
        let cases = [
            ("Modality = ", 11, "expected a value"),
            ("Modality == 'CT'", 10, "expected a value"),
            ("Modality = 'CT' and", 19, "expected an attribute"),
            ("(Age > 3", 8, "expected `)`"),
            ("Age > 3 limit x", 14, "row count"),
            ("Age > 3 foo", 8, "expected and, or"),
            ("Age # 3", 4, "unexpected character"),
            ("Name = 'x", 7, "unterminated"),
            ("select count( where", 14, "expected an attribute"),
        ];
        for (q, pos, msg) in cases {
            match parse(q) {
                Err(Error::Query {
                    position, message, ..
                }) => {
                    assert_eq!(position, pos, "{q}: {message}");
                    assert!(message.contains(msg), "{q}: {message}");
                }
                other => panic!("{q}: expected an error, got {other:?}"),
            }
        }
    }

    #[test]
    fn full_statement_parses() {
        let q = parse("select Modality, count(*) where StudyDate >= 2024-01-01 and not (Age < 18 or Sex is null) group by Modality order by count(*) desc, Modality limit 10 offset 5").unwrap();
        assert_eq!(q.select.0.len(), 2);
        assert_eq!(q.group_by.len(), 1);
        assert_eq!(q.order_by.len(), 2);
        assert_eq!((q.limit, q.offset), (Some(10), 5));
        assert!(parse("").unwrap().filter.is_none());
        assert!(parse("Modality in ('CT', 'MR') and like(SeriesDescription, '%eye%')").is_ok());
        assert!(parse("Modality not in ('CT')").is_ok());
    }
}
