//! Attribute types and typed values.

use std::cmp::Ordering;
use std::fmt;

use hope_core::calendar;

use crate::{Error, Result};

/// The type of an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttrType {
    /// 64-bit signed integer.
    Int,
    /// 64-bit float.
    Float,
    /// UTF-8 text.
    Text,
    /// UTC instant, microsecond precision (`2024-05-01T10:30:00Z`).
    Timestamp,
    /// Calendar date (`2024-05-01`).
    Date,
    /// true or false.
    Bool,
    /// A DICOM UID (digits and dots, at most 64 characters).
    Uid,
}

impl AttrType {
    /// The name used in schemas and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            AttrType::Int => "int",
            AttrType::Float => "float",
            AttrType::Text => "text",
            AttrType::Timestamp => "timestamp",
            AttrType::Date => "date",
            AttrType::Bool => "bool",
            AttrType::Uid => "uid",
        }
    }

    /// Parses a type name.
    pub fn parse(s: &str) -> Result<AttrType> {
        [
            AttrType::Int,
            AttrType::Float,
            AttrType::Text,
            AttrType::Timestamp,
            AttrType::Date,
            AttrType::Bool,
            AttrType::Uid,
        ]
        .into_iter()
        .find(|t| t.name().eq_ignore_ascii_case(s))
        .ok_or_else(|| {
            Error::invalid(
                "attribute type",
                format!("`{s}`; expected int, float, text, timestamp, date, bool or uid"),
            )
        })
    }

    /// Whether values of this type are numbers (for sum and avg).
    pub fn is_numeric(self) -> bool {
        matches!(self, AttrType::Int | AttrType::Float)
    }
}

impl fmt::Display for AttrType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A typed value (or null).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum Value {
    /// No value.
    Null,
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// Text.
    Text(String),
    /// Microseconds since 1970-01-01T00:00:00Z.
    Timestamp(i64),
    /// Days since 1970-01-01.
    Date(i32),
    /// A boolean.
    Bool(bool),
    /// A DICOM UID.
    Uid(String),
}

impl Value {
    /// The value's type, or `None` for null.
    pub fn attr_type(&self) -> Option<AttrType> {
        Some(match self {
            Value::Null => return None,
            Value::Int(_) => AttrType::Int,
            Value::Float(_) => AttrType::Float,
            Value::Text(_) => AttrType::Text,
            Value::Timestamp(_) => AttrType::Timestamp,
            Value::Date(_) => AttrType::Date,
            Value::Bool(_) => AttrType::Bool,
            Value::Uid(_) => AttrType::Uid,
        })
    }

    /// Whether the value is null.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// A date from `YYYY-MM-DD`.
    pub fn date(s: &str) -> Result<Value> {
        parse_date(s)
            .map(Value::Date)
            .ok_or_else(|| Error::invalid("date", format!("`{s}`; expected YYYY-MM-DD")))
    }

    /// A timestamp from `YYYY-MM-DDTHH:MM:SS[.ffffff][Z]` (UTC).
    pub fn timestamp(s: &str) -> Result<Value> {
        parse_timestamp(s).map(Value::Timestamp).ok_or_else(|| {
            Error::invalid(
                "timestamp",
                format!("`{s}`; expected YYYY-MM-DDTHH:MM:SS[.ffffff][Z]"),
            )
        })
    }

    /// A UID, checked (digits and dots, components without leading zeros, at most 64 characters).
    pub fn uid(s: &str) -> Result<Value> {
        if is_valid_uid(s) {
            Ok(Value::Uid(s.to_string()))
        } else {
            Err(Error::invalid(
                "uid",
                format!("`{s}`; expected digits and dots, at most 64 characters"),
            ))
        }
    }

    /// Converts a value to `ty` where the conversion is exact (int to float, text to uid or to
    /// date/timestamp by parsing); `what` names the attribute in the error.
    pub fn coerce(self, ty: AttrType, what: &str) -> Result<Value> {
        let bad =
            |v: &Value| Error::invalid(format!("value of {what}"), format!("{v} is not a {ty}"));
        Ok(match (self, ty) {
            (Value::Null, _) => Value::Null,
            (v, t) if v.attr_type() == Some(t) => {
                if let Value::Float(f) = v
                    && !f.is_finite()
                {
                    return Err(Error::invalid(
                        format!("value of {what}"),
                        "not a finite number",
                    ));
                }
                if let Value::Uid(u) = &v
                    && !is_valid_uid(u)
                {
                    return Err(bad(&v));
                }
                v
            }
            (Value::Int(i), AttrType::Float) => Value::Float(i as f64),
            (Value::Text(s), AttrType::Uid) if is_valid_uid(&s) => Value::Uid(s),
            (Value::Text(s), AttrType::Date) => {
                Value::date(&s).map_err(|_| bad(&Value::Text(s.clone())))?
            }
            (Value::Text(s), AttrType::Timestamp) => {
                Value::timestamp(&s).map_err(|_| bad(&Value::Text(s.clone())))?
            }
            (Value::Uid(s), AttrType::Text) => Value::Text(s),
            (v, _) => return Err(bad(&v)),
        })
    }

    /// Total order used by sorting and comparisons within one type (nulls are handled by the
    /// caller); floats compare by value.
    pub(crate) fn cmp_same(&self, other: &Value) -> Option<Ordering> {
        match (self, other) {
            (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
            (Value::Float(a), Value::Float(b)) => a.partial_cmp(b),
            (Value::Int(a), Value::Float(b)) => (*a as f64).partial_cmp(b),
            (Value::Float(a), Value::Int(b)) => a.partial_cmp(&(*b as f64)),
            (Value::Text(a), Value::Text(b)) | (Value::Uid(a), Value::Uid(b)) => {
                Some(a.as_bytes().cmp(b.as_bytes()))
            }
            (Value::Timestamp(a), Value::Timestamp(b)) => Some(a.cmp(b)),
            (Value::Date(a), Value::Date(b)) => Some(a.cmp(b)),
            (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Text(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Value::Uid(s) => write!(f, "'{s}'"),
            Value::Timestamp(us) => f.write_str(&format_timestamp(*us)),
            Value::Date(d) => f.write_str(&format_date(*d)),
            Value::Bool(b) => write!(f, "{b}"),
        }
    }
}

fn is_valid_uid(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.split('.').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_digit())
                && (c == "0" || !c.starts_with('0'))
        })
}

fn digits(s: &str) -> Option<u32> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// `YYYY-MM-DD` to days since the epoch (a day that exists).
pub(crate) fn parse_date(s: &str) -> Option<i32> {
    i32::try_from(calendar::days_since_epoch(calendar::parse_iso_date(s)?)).ok()
}

/// `YYYY-MM-DDTHH:MM:SS[.ffffff][Z]` (or a space instead of `T`) to microseconds since the epoch.
pub(crate) fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z').unwrap_or(s);
    if s.len() < 19 || !matches!(s.as_bytes()[10], b'T' | b' ') {
        return None;
    }
    let days = i64::from(parse_date(&s[..10])?);
    let t = &s[11..];
    let b = t.as_bytes();
    if b.len() < 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let (h, mi, sec) = (
        digits(t.get(0..2)?)?,
        digits(t.get(3..5)?)?,
        digits(t.get(6..8)?)?,
    );
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let frac = match t.get(8..)? {
        "" => 0,
        f if f.starts_with('.') && f.len() >= 2 && f.len() <= 7 => {
            let d = digits(&f[1..])?;
            i64::from(d) * 10i64.pow(7 - f.len() as u32)
        }
        _ => return None,
    };
    Some(
        ((days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(sec)) * 1_000_000)
            + frac,
    )
}

pub(crate) fn format_date(d: i32) -> String {
    calendar::date_from_days(i64::from(d))
        .map_or_else(|| format!("day {d}"), calendar::format_iso_date)
}

pub(crate) fn format_timestamp(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let frac = us.rem_euclid(1_000_000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let date = format_date(days as i32);
    let base = format!(
        "{date}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if frac == 0 {
        format!("{base}Z")
    } else {
        format!("{base}.{frac:06}Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_reject_nonsense() {
        for s in [
            "1970-01-01",
            "2000-02-29",
            "2024-12-31",
            "1899-03-01",
            "2100-02-28",
        ] {
            assert_eq!(format_date(parse_date(s).unwrap()), s);
        }
        assert_eq!(parse_date("1970-01-02"), Some(1));
        for s in [
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-1-01",
            "20240101",
            "abcd-ef-gh",
        ] {
            assert_eq!(parse_date(s), None, "{s}");
        }
    }

    #[test]
    fn timestamps_round_trip() {
        let t = parse_timestamp("2024-05-01T10:30:00.250Z").unwrap();
        assert_eq!(format_timestamp(t), "2024-05-01T10:30:00.250000Z");
        assert_eq!(parse_timestamp("1970-01-01 00:00:01"), Some(1_000_000));
        assert_eq!(parse_timestamp("1969-12-31T23:59:59Z"), Some(-1_000_000));
        assert_eq!(format_timestamp(-1), "1969-12-31T23:59:59.999999Z");
        assert_eq!(parse_timestamp("2024-05-01T25:00:00"), None);
    }

    #[test]
    fn uids_are_checked() {
        assert!(Value::uid("1.2.840.10008.5.1.4.1.1.2").is_ok());
        assert!(Value::uid("2.25.0").is_ok());
        for bad in ["", "1..2", "1.02", "1.2a", &"1.".repeat(40)] {
            assert!(Value::uid(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn coercions_are_exact_only() {
        assert_eq!(
            Value::Int(3).coerce(AttrType::Float, "x").unwrap(),
            Value::Float(3.0)
        );
        assert!(Value::Float(3.5).coerce(AttrType::Int, "x").is_err());
        assert_eq!(
            Value::Text("2024-01-02".into())
                .coerce(AttrType::Date, "x")
                .unwrap(),
            Value::Date(19_724)
        );
        assert!(Value::Text("x".into()).coerce(AttrType::Bool, "x").is_err());
        assert!(Value::Float(f64::NAN).coerce(AttrType::Float, "x").is_err());
    }
}
