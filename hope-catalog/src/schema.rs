//! Typed schemas of collections, and entries.

use std::collections::BTreeMap;

use crate::value::{AttrType, Value};
use crate::{Error, Result};

/// Names that attributes may not take: the entry name and internal columns.
pub const RESERVED: &[&str] = &["name", "id", "collection"];

/// One attribute of a schema.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Attribute {
    /// Name: a letter, then letters, digits or `_`, at most 63 characters; unique in its schema
    /// regardless of case.
    pub name: String,
    /// Type.
    #[serde(rename = "type")]
    pub ty: AttrType,
    /// Whether entries may leave it empty.
    #[serde(default = "yes")]
    pub nullable: bool,
    /// Whether the back-end keeps an index on it.
    #[serde(default)]
    pub indexed: bool,
}

fn yes() -> bool {
    true
}

impl Attribute {
    /// A nullable, unindexed attribute.
    pub fn new(name: impl Into<String>, ty: AttrType) -> Attribute {
        Attribute {
            name: name.into(),
            ty,
            nullable: true,
            indexed: false,
        }
    }

    /// The attribute with an index.
    #[must_use]
    pub fn indexed(mut self) -> Attribute {
        self.indexed = true;
        self
    }

    /// The attribute, required.
    #[must_use]
    pub fn required(mut self) -> Attribute {
        self.nullable = false;
        self
    }
}

/// Checks an attribute name (it becomes a quoted SQL identifier: the check keeps it plain).
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.as_bytes()[0].is_ascii_alphabetic()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !ok {
        return Err(Error::invalid(
            "attribute name",
            format!("`{name}`: expected a letter, then letters, digits or _ (at most 63)"),
        ));
    }
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name)) {
        return Err(Error::invalid(
            "attribute name",
            format!("`{name}` is reserved"),
        ));
    }
    Ok(())
}

/// The attributes of a collection, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Schema {
    /// The attributes.
    pub attributes: Vec<Attribute>,
}

impl Schema {
    /// A schema of the given attributes (checked).
    pub fn new(attributes: Vec<Attribute>) -> Result<Schema> {
        let mut s = Schema::default();
        for a in attributes {
            s.check_new(&a)?;
            s.attributes.push(a);
        }
        Ok(s)
    }

    /// The attribute called `name` (exact case).
    pub fn get(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// Checks that `a` may be added.
    pub fn check_new(&self, a: &Attribute) -> Result<()> {
        check_name(&a.name)?;
        if self
            .attributes
            .iter()
            .any(|b| b.name.eq_ignore_ascii_case(&a.name))
        {
            return Err(Error::AlreadyExists(format!("attribute {}", a.name)));
        }
        Ok(())
    }
}

/// An entry: a name unique in its collection, and typed values.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// The entry's name (1-255 characters, no `/`).
    pub name: String,
    /// Values by attribute name; missing attributes are null.
    pub values: BTreeMap<String, Value>,
}

impl Entry {
    /// An entry with no values yet.
    pub fn new(name: impl Into<String>) -> Entry {
        Entry {
            name: name.into(),
            values: BTreeMap::new(),
        }
    }

    /// The entry with one more value.
    #[must_use]
    pub fn with(mut self, attr: impl Into<String>, value: Value) -> Entry {
        self.values.insert(attr.into(), value);
        self
    }

    /// The value of `attr` (null when absent).
    pub fn get(&self, attr: &str) -> &Value {
        self.values.get(attr).unwrap_or(&Value::Null)
    }

    /// Checks the entry against `schema`, coercing values to the attribute types; the result has
    /// one value per attribute.
    pub fn checked(mut self, schema: &Schema) -> Result<Entry> {
        check_entry_name(&self.name)?;
        for a in &schema.attributes {
            match self.values.get_mut(&a.name) {
                Some(v) => {
                    // Coerce in place: most values already have their type, and nothing is copied.
                    if v.attr_type() != Some(a.ty) || matches!(v, Value::Float(_) | Value::Uid(_)) {
                        *v = std::mem::replace(v, Value::Null).coerce(a.ty, &a.name)?;
                    }
                    if v.is_null() && !a.nullable {
                        return Err(Error::invalid(
                            format!("entry {}", self.name),
                            format!("attribute {} is required", a.name),
                        ));
                    }
                }
                None if !a.nullable => {
                    return Err(Error::invalid(
                        format!("entry {}", self.name),
                        format!("attribute {} is required", a.name),
                    ));
                }
                None => {
                    self.values.insert(a.name.clone(), Value::Null);
                }
            }
        }
        // Every schema attribute is now present, so any extra key is unknown.
        if self.values.len() > schema.attributes.len()
            && let Some(unknown) = self.values.keys().find(|k| schema.get(k).is_none())
        {
            return Err(Error::invalid(
                format!("entry {}", self.name),
                format!("the schema has no attribute `{unknown}`"),
            ));
        }
        Ok(self)
    }
}

/// Checks an entry name.
pub fn check_entry_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 255
        || name.contains('/')
        || name.chars().any(char::is_control)
    {
        let shown: String = name.chars().take(64).flat_map(char::escape_debug).collect();
        let more = if name.chars().count() > 64 { "..." } else { "" };
        return Err(Error::invalid(
            "entry name",
            format!(
                "`{shown}{more}` ({} bytes): expected 1-255 characters without / or control characters",
                name.len()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_identifiers() {
        for ok in ["Modality", "StudyDate", "a1_b"] {
            check_name(ok).unwrap();
        }
        for bad in [
            "",
            "1a",
            "a-b",
            "a b",
            "x\"; drop",
            "name",
            "ID",
            &"a".repeat(64),
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        let s = Schema::new(vec![Attribute::new("Modality", AttrType::Text)]).unwrap();
        assert!(
            s.check_new(&Attribute::new("modality", AttrType::Int))
                .is_err()
        );
    }

    #[test]
    fn entries_are_checked_against_the_schema() {
        let s = Schema::new(vec![
            Attribute::new("Age", AttrType::Int).required(),
            Attribute::new("W", AttrType::Float),
        ])
        .unwrap();
        let e = Entry::new("e1")
            .with("Age", Value::Int(40))
            .with("W", Value::Int(70))
            .checked(&s)
            .unwrap();
        assert_eq!(e.get("W"), &Value::Float(70.0));
        assert!(Entry::new("e2").checked(&s).is_err());
        assert!(
            Entry::new("e3")
                .with("Age", Value::Int(1))
                .with("Zzz", Value::Int(1))
                .checked(&s)
                .is_err()
        );
        assert!(
            Entry::new("a/b")
                .with("Age", Value::Int(1))
                .checked(&s)
                .is_err()
        );
    }
}
