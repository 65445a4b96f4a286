//! `JSON_VALUE(s, path [RETURNING type] [NULL|ERROR|DEFAULT x ON EMPTY] [NULL|ERROR|DEFAULT x ON ERROR])`: the
//! scalar at a JSON path in a STRING, as Flink (Calcite's JSON functions, lax mode by default) gives it. A path
//! that finds nothing is the ON EMPTY case; text that is not JSON, a path that finds an object or array, or a
//! value that does not convert to the RETURNING type is the ON ERROR case. Both default to NULL.
//!
//! `JSON_QUERY(s, path [WITHOUT|WITH [CONDITIONAL|UNCONDITIONAL] [ARRAY] WRAPPER] [NULL|ERROR|EMPTY ARRAY|EMPTY
//! OBJECT ON EMPTY] [… ON ERROR])`: the object or array at a path, as compact JSON text, as Flink gives it (Calcite
//! over Jackson: keys in document order, a repeated key once with its last value, numbers as Java prints them).

use std::borrow::Cow;

use serde_json::value::RawValue;
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
    /// `[*]`: every element of an array (the path then finds a list).
    Every,
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
                } else if inner == "*" {
                    steps.push(Step::Every);
                } else {
                    return Err(format!("unsupported JSON path step [{inner}] (supported: .name, ['name'], [n], [*])"));
                }
                i = end + 1;
            }
            b' ' => i += 1,
            _ => return Err(format!("unsupported JSON path {text:?} (supported: $, .name, ['name'], [n], [*])")),
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
            if spec.path.contains(&Step::Every) {
                return behave(&spec.on_error, "the path finds a list, not a scalar");
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

/// JSON_QUERY's wrapper: what wraps the value found in an array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wrapper {
    /// `WITHOUT [ARRAY] WRAPPER` (the default): the value as it is; a scalar is the ON EMPTY case (lax) or an
    /// error (strict).
    Without,
    /// `WITH CONDITIONAL [ARRAY] WRAPPER`: an array as it is, anything else in an array of one.
    Conditional,
    /// `WITH [UNCONDITIONAL] [ARRAY] WRAPPER`: always in an array of one.
    Unconditional,
}

/// What JSON_QUERY gives when the path finds nothing, or fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryBehaviour {
    /// NULL (the default).
    Null,
    /// Fail (a dead letter).
    Error,
    /// `[]`.
    EmptyArray,
    /// `{}`.
    EmptyObject,
}

/// A compiled JSON_QUERY call (everything but the input text).
#[derive(Debug, Clone, PartialEq)]
pub struct JsonQuery {
    /// The path.
    pub path: Vec<Step>,
    /// `strict` mode: a missing key, or a scalar found, is an error.
    pub strict: bool,
    /// The wrapper.
    pub wrapper: Wrapper,
    /// ON EMPTY.
    pub on_empty: QueryBehaviour,
    /// ON ERROR.
    pub on_error: QueryBehaviour,
    /// `RETURNING ARRAY<STRING>`: the array found, each element as text (a string as it is, another scalar as
    /// Java prints it, an object or array as compact JSON, a null as NULL); anything but an array is the ON ERROR
    /// case (Flink's `SqlJsonUtils.jsonQuery`).
    pub returning_array: bool,
}

/// What a path found in a document, as raw JSON: nothing, one value, or (a path with `[*]`) a list.
enum Found<'a> {
    Nothing,
    One(&'a RawValue),
    List(Vec<&'a RawValue>),
}

/// Evaluates JSON_QUERY on the text `s`; `Err` is the ERROR behaviour's failure.
pub fn json_query<'r>(s: &str, spec: &JsonQuery) -> Result<Val<'r>, String> {
    let outcome: Result<Option<String>, String> = (|| {
        let doc: &RawValue = serde_json::from_str(s).map_err(|e| format!("not JSON: {e}"))?;
        let found = follow(doc, &spec.path, spec.strict)?;
        let text = match (found, spec.wrapper) {
            (Found::Nothing, _) => return Ok(None),
            (Found::One(v), _) if v.get() == "null" => return Ok(None),
            (Found::One(v), Wrapper::Without) => {
                if is_scalar(v) {
                    return if spec.strict { Err(format!("a scalar ({}) in strict mode", v.get())) } else { Ok(None) };
                }
                jsonize(v)?
            }
            (Found::One(v), Wrapper::Conditional) if v.get().starts_with('[') => jsonize(v)?,
            (Found::One(v), _) => format!("[{}]", jsonize(v)?),
            (Found::List(vs), wrapper) => {
                let items = vs.iter().map(|v| jsonize(v)).collect::<Result<Vec<_>, _>>()?;
                let list = format!("[{}]", items.join(","));
                if wrapper == Wrapper::Unconditional {
                    format!("[{list}]")
                } else {
                    list
                }
            }
        };
        Ok(Some(text))
    })();
    let behave = |b: QueryBehaviour, why: &str| match b {
        QueryBehaviour::Null => Ok(NULL),
        QueryBehaviour::Error => Err(format!("JSON_QUERY: {why}")),
        QueryBehaviour::EmptyArray if spec.returning_array => Ok(Val::array(Vec::new())),
        QueryBehaviour::EmptyArray => Ok(Val::Str(Cow::Borrowed("[]"))),
        QueryBehaviour::EmptyObject => Ok(Val::Str(Cow::Borrowed("{}"))),
    };
    match outcome {
        Ok(Some(text)) if spec.returning_array => match elements_as_text(&text) {
            Ok(items) => Ok(Val::array(items)),
            Err(e) => behave(spec.on_error, &e),
        },
        Ok(Some(text)) => Ok(Val::Str(Cow::Owned(text))),
        Ok(None) => behave(spec.on_empty, "the path finds nothing"),
        Err(e) => behave(spec.on_error, &e),
    }
}

/// The elements of the JSON array `text` (what JSON_QUERY found, wrapped), each as RETURNING ARRAY<STRING> gives
/// it: a string as it is, another scalar as Java's `String.valueOf` of what Jackson read (`1.50` is `1.5`), an
/// object or array as compact JSON, a null as NULL. Not an array: an error.
fn elements_as_text<'r>(text: &str) -> Result<Vec<Val<'r>>, String> {
    if !text.starts_with('[') {
        return Err(format!(
            "RETURNING ARRAY<STRING> needs an array, not {}",
            text.chars().take(64).collect::<String>()
        ));
    }
    let items: Vec<&RawValue> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    items
        .into_iter()
        .map(|v| {
            Ok(match v.get().as_bytes().first() {
                Some(b'n') => NULL,
                Some(b'"') => Val::Str(Cow::Owned(serde_json::from_str::<String>(v.get()).map_err(|e| e.to_string())?)),
                // Numbers as Jackson's types print them, objects and arrays as compact JSON: what jsonize writes.
                _ => Val::Str(Cow::Owned(jsonize(v)?)),
            })
        })
        .collect()
}

/// Follows `path` from `doc`. Lax: a step that does not apply finds nothing; strict: it is an error.
fn follow<'a>(doc: &'a RawValue, path: &[Step], strict: bool) -> Result<Found<'a>, String> {
    let mut at: Vec<&'a RawValue> = vec![doc];
    let mut list = false;
    for step in path {
        let mut next = Vec::with_capacity(at.len());
        for v in at {
            let t = v.get();
            match step {
                Step::Key(k) if t.starts_with('{') => {
                    // A repeated key counts once, with its last value (Jackson's map).
                    let m: Vec<(String, &'a RawValue)> = entries(v)?;
                    match m.into_iter().rev().find(|(key, _)| key == k) {
                        Some((_, x)) => next.push(x),
                        None if strict && !list => return Err(format!("no key {k:?} (strict mode)")),
                        None => {}
                    }
                }
                Step::Index(n) if t.starts_with('[') => {
                    let a: Vec<&'a RawValue> = serde_json::from_str(t).map_err(|e| e.to_string())?;
                    match a.get(*n) {
                        Some(x) => next.push(x),
                        None if strict && !list => return Err(format!("no element [{n}] (strict mode)")),
                        None => {}
                    }
                }
                Step::Every if t.starts_with('[') => {
                    let a: Vec<&'a RawValue> = serde_json::from_str(t).map_err(|e| e.to_string())?;
                    next.extend(a);
                }
                _ if strict && !list => return Err(format!("the path step {step:?} does not apply to {t}")),
                _ => {}
            }
        }
        list |= *step == Step::Every;
        at = next;
    }
    Ok(match (list, at.len()) {
        (true, _) => Found::List(at),
        (false, 0) => Found::Nothing,
        (false, _) => Found::One(at[0]),
    })
}

/// The entries of a JSON object, in document order.
fn entries(v: &RawValue) -> Result<Vec<(String, &RawValue)>, String> {
    struct Entries;
    impl<'de> serde::de::Visitor<'de> for Entries {
        type Value = Vec<(String, &'de RawValue)>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((k, v)) = map.next_entry::<String, &'de RawValue>()? {
                out.push((k, v));
            }
            Ok(out)
        }
    }
    use serde::Deserializer;
    let mut de = serde_json::Deserializer::from_str(v.get());
    de.deserialize_map(Entries).map_err(|e| e.to_string())
}

/// Whether a raw JSON value is a scalar (not an object or an array).
fn is_scalar(v: &RawValue) -> bool {
    !matches!(v.get().as_bytes().first(), Some(b'{' | b'['))
}

/// A raw JSON value as Jackson writes it back: compact, keys in document order, a repeated key once (its last
/// value, at its first place), integers as written, other numbers as Java's `Double.toString`.
fn jsonize(v: &RawValue) -> Result<String, String> {
    let mut out = String::new();
    write_json(v, &mut out)?;
    Ok(out)
}

fn write_json(v: &RawValue, out: &mut String) -> Result<(), String> {
    let t = v.get();
    match t.as_bytes().first() {
        Some(b'{') => {
            let mut kept: Vec<(String, &RawValue)> = Vec::new();
            for (k, x) in entries(v)? {
                match kept.iter_mut().find(|(key, _)| *key == k) {
                    Some(slot) => slot.1 = x,
                    None => kept.push((k, x)),
                }
            }
            out.push('{');
            for (i, (k, x)) in kept.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).map_err(|e| e.to_string())?);
                out.push(':');
                write_json(x, out)?;
            }
            out.push('}');
        }
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_str(t).map_err(|e| e.to_string())?;
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(x, out)?;
            }
            out.push(']');
        }
        Some(b'-' | b'0'..=b'9') => match serde_json::from_str::<Value>(t).map_err(|e| e.to_string())? {
            Value::Number(n) if n.is_i64() || n.is_u64() => out.push_str(&n.to_string()),
            Value::Number(n) => out.push_str(&java_double(n.as_f64().unwrap_or(f64::NAN))),
            other => out.push_str(&other.to_string()),
        },
        Some(b'"') => {
            let s: String = serde_json::from_str(t).map_err(|e| e.to_string())?;
            out.push_str(&serde_json::to_string(&s).map_err(|e| e.to_string())?);
        }
        _ => out.push_str(t.trim()), // true, false, null
    }
    Ok(())
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
        assert!(parse_path("$.a[?(@.x)]").is_err());
        assert_eq!(json_value(doc, &spec("$.a.b[*]", Type::String)).unwrap(), NULL, "a list is not a scalar");
    }

    fn query(path: &str, wrapper: Wrapper) -> JsonQuery {
        let (path, strict) = parse_path(path).unwrap();
        JsonQuery {
            path,
            strict,
            wrapper,
            on_empty: QueryBehaviour::Null,
            on_error: QueryBehaviour::Null,
            returning_array: false,
        }
    }

    /// Flink's documented examples, and Calcite's rules for wrappers, scalars, and the two behaviours.
    #[test]
    fn json_query_as_flink_gives_it() {
        let q = |doc: &str, path: &str, w| json_query(doc, &query(path, w)).unwrap();
        let text = |s: &str| Val::Str(s.to_owned().into());
        assert_eq!(q(r#"{ "a": { "b": 1 } }"#, "$.a", Wrapper::Without), text(r#"{"b":1}"#));
        assert_eq!(q("[1, 2]", "$", Wrapper::Without), text("[1,2]"));
        assert_eq!(q(r#"{"a":[{"c":"c1"},{"c":"c2"}]}"#, "lax $.a[*].c", Wrapper::Without), text(r#"["c1","c2"]"#));
        // Keys in document order, a repeated key once with its last value, numbers as Java prints them.
        assert_eq!(
            q(r#"{"z":{"y":1,"x":1.50,"y":2,"w":1e2,"v":"a\"b/\u00e9"}}"#, "$.z", Wrapper::Without),
            text(r#"{"y":2,"x":1.5,"w":100.0,"v":"a\"b/é"}"#)
        );
        // A scalar: empty without a wrapper (lax), wrapped with one; an array wrapped only unconditionally.
        assert_eq!(q(r#"{"a":1}"#, "$.a", Wrapper::Without), NULL);
        assert_eq!(q(r#"{"a":1}"#, "$.a", Wrapper::Conditional), text("[1]"));
        assert_eq!(q(r#"{"a":[1]}"#, "$.a", Wrapper::Conditional), text("[1]"));
        assert_eq!(q(r#"{"a":[1]}"#, "$.a", Wrapper::Unconditional), text("[[1]]"));
        assert_eq!(q(r#"{"a":{"b":1}}"#, "$.a", Wrapper::Conditional), text(r#"[{"b":1}]"#));
        assert_eq!(q(r#"{"a":null}"#, "$.a", Wrapper::Unconditional), NULL);
        assert_eq!(q("{}", "$.nope", Wrapper::Without), NULL);
        // The behaviours.
        let mut s = query("lax $.invalid", Wrapper::Without);
        s.on_empty = QueryBehaviour::EmptyObject;
        assert_eq!(json_query("{}", &s).unwrap(), text("{}"));
        let mut s = query("strict $.invalid", Wrapper::Without);
        s.on_error = QueryBehaviour::EmptyArray;
        assert_eq!(json_query("{}", &s).unwrap(), text("[]"));
        s.on_error = QueryBehaviour::Error;
        assert!(json_query("{}", &s).unwrap_err().contains("strict"));
        let mut s = query("strict $.a", Wrapper::Without);
        s.on_error = QueryBehaviour::Error;
        assert!(json_query(r#"{"a":1}"#, &s).is_err(), "a scalar in strict mode is an error");
        assert_eq!(json_query("not json", &query("$", Wrapper::Without)).unwrap(), NULL);
    }

    /// RETURNING ARRAY<STRING>, as Flink's SqlJsonUtils.jsonQuery gives it (FLINK-35687: nested values as JSON).
    #[test]
    fn json_query_returning_an_array_of_strings() {
        let array = |path: &str, wrapper, doc: &str| {
            let spec = JsonQuery { returning_array: true, ..query(path, wrapper) };
            json_query(doc, &spec)
        };
        let s = |t: &str| Val::Str(Cow::Owned(t.to_owned()));
        let doc = r#"{"a": ["x", 1, 1.50, 1e3, true, null, {"k": [2]}, [3, "y"]], "o": {"k": 1}, "n": 7}"#;
        assert_eq!(
            array("$.a", Wrapper::Without, doc),
            Ok(Val::array(vec![
                s("x"),
                s("1"),
                s("1.5"),
                s("1000.0"),
                s("true"),
                NULL,
                s("{\"k\":[2]}"),
                s("[3,\"y\"]")
            ]))
        );
        // An object is no array: the ON ERROR case (NULL by default); wrapped, it is one element.
        assert_eq!(array("$.o", Wrapper::Without, doc), Ok(NULL));
        assert_eq!(array("$.o", Wrapper::Unconditional, doc), Ok(Val::array(vec![s("{\"k\":1}")])));
        // A scalar without a wrapper is the ON EMPTY case in lax mode; wrapped, an array of its text.
        assert_eq!(array("$.n", Wrapper::Without, doc), Ok(NULL));
        assert_eq!(array("$.n", Wrapper::Conditional, doc), Ok(Val::array(vec![s("7")])));
        let empty = JsonQuery {
            returning_array: true,
            on_empty: QueryBehaviour::EmptyArray,
            ..query("$.nope", Wrapper::Without)
        };
        assert_eq!(json_query(doc, &empty), Ok(Val::array(Vec::new())));
        assert_eq!(array("$.a[*]", Wrapper::Without, doc).map(|v| matches!(v, Val::Array(_))), Ok(true));
    }
}
