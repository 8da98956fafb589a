//! The values a template computes with: Go's dynamic types reduced to what rule templates
//! meet, with Go's truth and `%v` printing.

use std::collections::BTreeMap;
use std::fmt;

use crate::format::go_float;

/// A value while a template runs: Go's dynamic types reduced to what rule templates meet.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// `map[string]string`: label sets.
    Map(BTreeMap<String, String>),
    /// A struct with named fields: the template's data and the samples `query` returns.
    Struct(BTreeMap<&'static str, Value>),
    /// A slice: a query result.
    List(Vec<Value>),
}

impl Value {
    /// Go's truth: the zero value of a type, nil and empty collections are false.
    pub fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Struct(_) => true,
            Value::List(l) => !l.is_empty(),
        }
    }

    /// Go's type name for messages (`%T`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::Map(_) => "map[string]string",
            Value::Struct(_) => "struct",
            Value::List(_) => "[]*sample",
        }
    }

    /// A sample as `query` returns it: `.Labels` and `.Value`.
    pub fn sample(labels: BTreeMap<String, String>, value: f64) -> Value {
        let mut m = BTreeMap::new();
        m.insert("Labels", Value::Map(labels));
        m.insert("Value", Value::Float(value));
        Value::Struct(m)
    }
}

/// How Go's `fmt.Print` shows a value (`%v`).
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("<nil>"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => f.write_str(&go_float(*x, 'g', None)),
            Value::Str(s) => f.write_str(s),
            Value::Map(m) => {
                f.write_str("map[")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{k}:{v}")?;
                }
                f.write_str("]")
            }
            Value::Struct(m) => {
                f.write_str("{")?;
                for (i, v) in m.values().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("}")
            }
            Value::List(l) => {
                f.write_str("[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}
