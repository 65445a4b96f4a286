//! `JSON_VALUE(s, path [RETURNING type] [NULL|ERROR|DEFAULT x ON EMPTY] [NULL|ERROR|DEFAULT x ON ERROR])`: the
//! scalar at a JSON path in a STRING, as Flink (Calcite's JSON functions, lax mode by default) gives it. A path
//! that finds nothing is the ON EMPTY case; text that is not JSON, a path that finds an object or array, or a
//! value that does not convert to the RETURNING type is the ON ERROR case. Both default to NULL.

use std::borrow::Cow;

use serde_json::Value;

use crate::types::Type;
use crate::value::{java_double, Val, NULL};

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `.name` or `['name']`.
    Key(String),
    /// `[n]`.
    Index(usize),
}

/// What to give when the path finds nothing, or fails.
#[derive(Debug, Clone, PartialEq)]
pub enum Behaviour {
    /// NULL (the default).
    Null,
    /// Fail (Flink fails the job; here the record is dead-lettered).
    Error,
    /// A constant.
    Default(Val<'static>),
}

/// A compiled JSON_VALUE call (everything but the input text).
#[derive(Debug, Clone, PartialEq)]
pub struct JsonValue {
    /// The path.
    pub path: Vec<Step>,
    /// `strict` mode: a missing key is an error rather than empty.
    pub strict: bool,
    /// The RETURNING type (STRING by default).
    pub returning: Type,
    /// ON EMPTY.
    pub on_empty: Behaviour,
    /// ON ERROR.
    pub on_error: Behaviour,
}

/// The types RETURNING takes.
pub const RETURNING: &str = "STRING, BOOLEAN, INT, BIGINT, DOUBLE";

/// Parses a path: `[lax|strict] $`, then `.name`, `."name"`, `['name']`, `[n]`.
pub fn parse_path(text: &str) -> Result<(Vec<Step>, bool), String> {
    let t = text.trim();
    let (strict, t) = if let Some(rest) = t.strip_prefix("strict ") {
        (true, rest.trim_start())
    } else if let Some(rest) = t.strip_prefix("lax ") {
        (false, rest.trim_start())
    } else {
        (false, t)
    };
    let rest = t.strip_prefix('$').ok_or_else(|| format!("a JSON path starts with $, got {text:?}"))?;
    let b = rest.as_bytes();
    let mut steps = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' => {
                i += 1;
                if b.get(i) == Some(&b'"') {
                    let end = rest[i + 1..].find('"').ok_or("an unclosed \" in the JSON path")? + i + 1;
                    steps.push(Step::Key(rest[i + 1..end].to_owned()));
                    i = end + 1;
                } else {
                    let start = i;
                    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$' || b[i] >= 0x80)
                    {
                        i += 1;
                    }
                    if start == i {
                        return Err(format!("a name must follow '.' in the JSON path {text:?}"));
                    }
                    steps.push(Step::Key(rest[start..i].to_owned()));
                }
            }
            b'[' => {
                let end = rest[i..].find(']').ok_or("an unclosed [ in the JSON path")? + i;
                let inner = rest[i + 1..end].trim();
                if let Some(q) = inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
                    steps.push(Step::Key(q.to_owned()));
                } else if let Ok(n) = inner.parse::<usize>() {
                    steps.push(Step::Index(n));
                } else {
                    return Err(format!("unsupported JSON path step [{inner}] (supported: .name, ['name'], [n])"));
                }
                i = end + 1;
            }
            b' ' => i += 1,
            _ => return Err(format!("unsupported JSON path {text:?} (supported: $, .name, ['name'], [n])")),
        }
    }
    Ok((steps, strict))
}

/// Evaluates JSON_VALUE on the text `s`; `Err` is the ERROR behaviour's failure.
pub fn json_value<'r>(s: &str, spec: &JsonValue) -> Result<Val<'r>, String> {
    let outcome = match serde_json::from_str::<Value>(s) {
        Err(e) => Err(format!("not JSON: {e}")),
        Ok(doc) => {
            let mut at = Some(&doc);
            let mut missing = false;
            for step in &spec.path {
                at = match (at, step) {
                    (Some(Value::Object(m)), Step::Key(k)) => m.get(k),
                    (Some(Value::Array(a)), Step::Index(n)) => a.get(*n),
                    _ => None,
                };
                if at.is_none() {
                    missing = true;
                    break;
                }
            }
            match at {
                None if missing && spec.strict => Err("the path finds nothing (strict mode)".to_owned()),
                None | Some(Value::Null) => Ok(None),
                Some(Value::Object(_) | Value::Array(_)) => {
                    Err("the path finds an object or array, not a scalar".into())
                }
                Some(v) => convert(v, spec.returning).map(Some),
            }
        }
    };
    match outcome {
        Ok(Some(v)) => Ok(v),
        Ok(None) => behave(&spec.on_empty, "the path finds nothing"),
        Err(e) => behave(&spec.on_error, &e),
    }
}

fn behave<'r>(b: &Behaviour, why: &str) -> Result<Val<'r>, String> {
    match b {
        Behaviour::Null => Ok(NULL),
        Behaviour::Error => Err(format!("JSON_VALUE: {why}")),
        Behaviour::Default(v) => Ok(v.clone()),
    }
}

/// A scalar as the RETURNING type.
fn convert<'r>(v: &Value, ty: Type) -> Result<Val<'r>, String> {
    let text = || match v {
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_f64() => java_double(n.as_f64().unwrap_or(f64::NAN)),
        other => other.to_string(),
    };
    Ok(match ty {
        Type::String => Val::Str(Cow::Owned(text())),
        Type::Boolean => match v {
            Value::Bool(b) => Val::Bool(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Val::Bool(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Val::Bool(false),
            _ => return Err(format!("{} is not a BOOLEAN", text())),
        },
        Type::Int | Type::BigInt => {
            let n = match v {
                Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|x| x as i64)),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            }
            .ok_or_else(|| format!("{} is not an integer", text()))?;
            if ty == Type::Int && i32::try_from(n).is_err() {
                return Err(format!("{n} is out of INT's range"));
            }
            Val::Int(n)
        }
        Type::Double => Val::Double(match v {
            Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
            Value::String(s) => crate::flink_json::parse_double(s).ok_or_else(|| format!("{s} is not a DOUBLE"))?,
            _ => return Err(format!("{} is not a DOUBLE", text())),
        }),
        other => return Err(format!("RETURNING {other} is not supported (supported: {RETURNING})")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(path: &str, returning: Type) -> JsonValue {
        let (path, strict) = parse_path(path).unwrap();
        JsonValue { path, strict, returning, on_empty: Behaviour::Null, on_error: Behaviour::Null }
    }

    #[test]
    fn paths_and_types() {
        let doc = r#"{"a":{"b":[10,"x",1.50,true,null,{"c":1}]},"k y":"v"}"#;
        let v = |p: &str, t| json_value(doc, &spec(p, t)).unwrap();
        assert_eq!(v("$.a.b[0]", Type::Int), Val::Int(10));
        assert_eq!(v("$.a.b[1]", Type::String), Val::Str("x".into()));
        assert_eq!(v("$.a.b[2]", Type::String), Val::Str("1.5".into()));
        assert_eq!(v("$.a.b[3]", Type::Boolean), Val::Bool(true));
        assert_eq!(v("$.a.b[4]", Type::String), NULL);
        assert_eq!(v("$.a.b[5]", Type::String), NULL); // an object: ERROR → NULL by default
        assert_eq!(v("$['k y']", Type::String), Val::Str("v".into()));
        assert_eq!(v("$.nope", Type::String), NULL);
        assert_eq!(v("$.a.b[1]", Type::Int), NULL);
        assert_eq!(json_value("not json", &spec("$.a", Type::String)).unwrap(), NULL);
        let mut s = spec("$.nope", Type::Int);
        s.on_empty = Behaviour::Default(Val::Int(7));
        assert_eq!(json_value(doc, &s).unwrap(), Val::Int(7));
        s.on_empty = Behaviour::Error;
        assert!(json_value(doc, &s).is_err());
        assert!(parse_path("a.b").is_err());
        assert!(parse_path("$.a[*]").is_err());
    }
}
