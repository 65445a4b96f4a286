//! A field's raw JSON read as its declared type, nested types included: ARRAY from a JSON array, MAP from an object
//! (string keys), ROW from an object whose keys are the row's field names. As Flink's JSON format reads them
//! (`JsonParserToRowDataConverters`): every part converts by the rules of [`crate::flink_json`] for its own type; a
//! JSON null is NULL at any depth; a ROW's field absent from the object is NULL, or refused under
//! `json.fail-on-missing-field`; a part that does not convert is NULL under `json.ignore-parse-errors` (Flink wraps
//! every part's converter the same way), else the whole record is refused, naming the part (`items[2].price`).
//!
//! A MAP keeps its keys in the order of the document, a repeated key once with its last value. (Flink collects a
//! MAP into a Java `HashMap`, so its JSON writer gives the keys in that map's order: the same entries, in an order
//! JSON does not give a meaning to.)

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::flink_json::{self, Refusal};
use crate::raw::Raw;
use crate::types::Type;
use crate::value::Val;

/// The source's rules for values that do not fit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules {
    /// `json.ignore-parse-errors`: a part that does not convert is NULL.
    pub ignore_parse_errors: bool,
    /// `json.fail-on-missing-field`: a ROW's field absent from its object refuses the record.
    pub fail_on_missing: bool,
}

/// `raw` as a value of `ty`: `None` for a JSON null.
pub(crate) fn read<'a>(raw: Raw<'a>, ty: Type, rules: Rules) -> Result<Option<Val<'a>>, Refusal> {
    match ty {
        Type::Array(elem) => {
            let items: Vec<&'a RawValue> = match first(raw) {
                b'n' => return Ok(None),
                b'[' => serde_json::from_str(raw.get()).map_err(|_| Refusal::Kind(flink_json::kind(raw)))?,
                _ => return Err(Refusal::Kind(flink_json::kind(raw))),
            };
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                out.push(part(Raw::new(item.get()), elem.ty, rules, || format!("[{}]", i + 1))?);
            }
            Ok(Some(Val::array(out)))
        }
        Type::Map(value) => {
            let Some(entries) = object(raw)? else { return Ok(None) };
            // Each key once, at its first place, with its last value: found by a hash of the keys, so that a large
            // map is read in linear time.
            let mut out: Vec<(Val<'a>, Val<'a>)> = Vec::with_capacity(entries.len());
            let mut at: HashMap<Cow<'a, str>, usize> = HashMap::with_capacity(entries.len());
            for (key, raw) in entries {
                let v = part(Raw::new(raw.get()), value.ty, rules, || format!("['{key}']"))?;
                match at.get(&key) {
                    Some(&i) => out[i].1 = v,
                    None => {
                        at.insert(key.clone(), out.len());
                        out.push((Val::Str(key), v));
                    }
                }
            }
            Ok(Some(Val::map(out)))
        }
        Type::Row(fields) => {
            let Some(entries) = object(raw)? else { return Ok(None) };
            let mut out = Vec::with_capacity(fields.len());
            for f in fields {
                // The last of a repeated key, as Jackson's tree keeps it.
                match entries.iter().rev().find(|(k, _)| *k == f.name) {
                    Some((_, raw)) => out.push(part(Raw::new(raw.get()), f.ty, rules, || format!(".{}", f.name))?),
                    None if rules.fail_on_missing => {
                        return Err(Refusal::Inside(format!(".{}", f.name), f.ty, Box::new(Refusal::Missing)))
                    }
                    None => out.push(crate::value::NULL),
                }
            }
            Ok(Some(Val::row(out)))
        }
        scalar => flink_json::scalar(raw, scalar),
    }
}

/// One part of a nested value: NULL for a JSON null, and for a value that does not convert under
/// `json.ignore-parse-errors`; else a refusal says where (`path`) it is.
fn part<'a>(raw: Raw<'a>, ty: Type, rules: Rules, path: impl FnOnce() -> String) -> Result<Val<'a>, Refusal> {
    match read(raw, ty, rules) {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Ok(crate::value::NULL),
        Err(_) if rules.ignore_parse_errors => Ok(crate::value::NULL),
        Err(why) => Err(Refusal::Inside(path(), ty, Box::new(why))),
    }
}

fn first(raw: Raw<'_>) -> u8 {
    raw.get().as_bytes()[0]
}

/// An object's entries: each key (borrowed where it has no escapes) and its raw value.
type Entries<'a> = Vec<(Cow<'a, str>, &'a RawValue)>;

/// The entries of an object (`None` for null), in order, repeats kept.
fn object(raw: Raw<'_>) -> Result<Option<Entries<'_>>, Refusal> {
    match first(raw) {
        b'n' => Ok(None),
        b'{' => {
            let mut de = serde_json::Deserializer::from_str(raw.get());
            de.deserialize_map(EntryVisitor).map(Some).map_err(|_| Refusal::LoneSurrogate)
        }
        _ => Err(Refusal::Kind(flink_json::kind(raw))),
    }
}

/// Collects an object's entries with their keys borrowed where they have no escapes.
struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = Entries<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Key(k)) = map.next_key()? {
            out.push((k, map.next_value()?));
        }
        Ok(out)
    }
}

/// An object key, borrowed from the text when it can be.
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::RowField;

    fn raw(s: &str) -> Raw<'_> {
        Raw::new(s)
    }

    const STRICT: Rules = Rules { ignore_parse_errors: false, fail_on_missing: false };

    #[test]
    fn arrays_maps_and_rows_read_part_by_part() {
        let ints = Type::array(Type::Int, true);
        assert_eq!(
            read(raw("[1, \"2\", null, 4.7]"), ints, STRICT),
            Ok(Some(Val::array(vec![Val::Int(1), Val::Int(2), crate::value::NULL, Val::Int(4)])))
        );
        assert_eq!(read(raw("null"), ints, STRICT), Ok(None));
        assert_eq!(read(raw("{}"), ints, STRICT), Err(Refusal::Kind("an object")));
        let bad = read(raw("[1, \"x\"]"), ints, STRICT).unwrap_err();
        assert_eq!(bad, Refusal::Inside("[2]".into(), Type::Int, Box::new(Refusal::Number("x".into()))));
        let lenient = Rules { ignore_parse_errors: true, ..STRICT };
        assert_eq!(read(raw("[1, \"x\"]"), ints, lenient), Ok(Some(Val::array(vec![Val::Int(1), crate::value::NULL]))));

        let m = Type::map(Type::String, true);
        let got = read(raw(r#"{"b": 1, "a\u0041": {"x":1}, "b": true}"#), m, STRICT).unwrap().unwrap();
        assert_eq!(
            got,
            Val::map(vec![
                (Val::Str("b".into()), Val::Str("true".into())),
                (Val::Str("aA".into()), Val::Str("{\"x\":1}".into())),
            ])
        );

        let row = Type::row(vec![
            RowField { name: "id".into(), ty: Type::BigInt, nullable: false },
            RowField { name: "price".into(), ty: Type::Decimal(10, 2), nullable: true },
            RowField { name: "tags".into(), ty: Type::array(Type::String, true), nullable: true },
        ]);
        assert_eq!(
            read(raw(r#"{"price": "1.005", "id": 7, "extra": [1], "id": 8}"#), row, STRICT),
            Ok(Some(Val::row(vec![Val::Int(8), Val::Dec(101, 2), crate::value::NULL])))
        );
        let strict_missing = Rules { fail_on_missing: true, ..STRICT };
        assert_eq!(
            read(raw(r#"{"id": 1, "price": 2}"#), row, strict_missing),
            Err(Refusal::Inside(".tags".into(), Type::array(Type::String, true), Box::new(Refusal::Missing)))
        );
        let deep = read(raw(r#"{"id": 1, "tags": ["a", {"b": 2}, 3]}"#), row, STRICT).unwrap().unwrap();
        let Val::Row(fields) = deep else { panic!() };
        assert_eq!(
            fields[2],
            Val::array(vec![Val::Str("a".into()), Val::Str("{\"b\":2}".into()), Val::Str("3".into())])
        );
        let nested_bad = read(raw(r#"{"id": 1, "tags": [[1]], "price": "x"}"#), row, STRICT).unwrap_err();
        assert_eq!(
            nested_bad,
            Refusal::Inside(".price".into(), Type::Decimal(10, 2), Box::new(Refusal::Number("x".into())))
        );
    }
}
