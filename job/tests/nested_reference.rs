//! Nested columns (ARRAY, MAP, ROW, in each other) against an independent reference of Flink's JSON format: for a
//! random type and a random JSON value shaped after it (with wrong kinds, nulls, missing and unknown fields mixed
//! in), `INSERT INTO out SELECT v FROM src` either writes what the reference says Flink writes, or refuses the
//! record where the reference says Flink fails it.
//!
//! The reference works on serde_json's tree, written here from Flink's rules (JsonParserToRowDataConverters and
//! JsonRowDataSerializationSchema), not from the engine: STRING takes a string, a number's text or a boolean's;
//! or a small container's compact JSON text; BIGINT an integer or a string of one; BOOLEAN a boolean, or any other scalar as `"true"` ignoring case; ARRAY
//! an array, MAP and ROW an object, a ROW's absent field NULL; null is NULL at any depth; anything else fails.

use job::{Outcome, Plan, Record};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// A type, as the test declares it.
#[derive(Debug, Clone)]
enum Ty {
    String,
    BigInt,
    Boolean,
    Array(Box<Ty>),
    Map(Box<Ty>),
    Row(Vec<(String, Ty)>),
}

impl Ty {
    fn sql(&self) -> String {
        match self {
            Ty::String => "STRING".into(),
            Ty::BigInt => "BIGINT".into(),
            Ty::Boolean => "BOOLEAN".into(),
            Ty::Array(e) => format!("ARRAY<{}>", e.sql()),
            Ty::Map(v) => format!("MAP<STRING, {}>", v.sql()),
            Ty::Row(fields) => {
                let f: Vec<String> = fields.iter().map(|(n, t)| format!("`{n}` {}", t.sql())).collect();
                format!("ROW<{}>", f.join(", "))
            }
        }
    }
}

fn ty() -> impl Strategy<Value = Ty> {
    let leaf = prop_oneof![Just(Ty::String), Just(Ty::BigInt), Just(Ty::Boolean)];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|t| Ty::Array(Box::new(t))),
            inner.clone().prop_map(|t| Ty::Map(Box::new(t))),
            prop::collection::vec(inner, 1..4)
                .prop_map(|ts| { Ty::Row(ts.into_iter().enumerate().map(|(i, t)| (format!("f{i}"), t)).collect()) }),
        ]
    })
}

/// A JSON scalar of any kind (no containers where a scalar is expected: a STRING's text of a container is
/// Jackson's, with its key order, which serde_json's tree does not keep).
fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-1000i64..1000).prop_map(|n| json!(n)),
        "[a-z]{0,3}".prop_map(Value::String),
        (-50i64..50).prop_map(|n| Value::String(n.to_string())),
        Just(json!("TRUE")),
    ]
}

/// A value shaped after `t`, mostly of the right kinds.
fn value(t: &Ty) -> BoxedStrategy<Value> {
    let wrong =
        prop_oneof![Just(Value::Null), Just(json!(7)), Just(json!("x")), Just(json!([1])), Just(json!({"a": 1}))];
    let right: BoxedStrategy<Value> = match t {
        Ty::String | Ty::BigInt | Ty::Boolean => scalar().boxed(),
        Ty::Array(e) => prop::collection::vec(value(e), 0..4).prop_map(Value::Array).boxed(),
        Ty::Map(v) => prop::collection::btree_map("[a-c]", value(v), 0..3)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
            .boxed(),
        Ty::Row(fields) => {
            let parts: Vec<BoxedStrategy<Option<Value>>> =
                fields.iter().map(|(_, t)| prop::option::weighted(0.85, value(t)).boxed()).collect();
            let names: Vec<String> = fields.iter().map(|(n, _)| n.clone()).collect();
            (parts, any::<bool>())
                .prop_map(move |(vals, extra)| {
                    let mut m = Map::new();
                    for (n, v) in names.iter().zip(vals) {
                        if let Some(v) = v {
                            m.insert(n.clone(), v);
                        }
                    }
                    if extra {
                        m.insert("unknown".into(), json!([1, {"b": 2}]));
                    }
                    Value::Object(m)
                })
                .boxed()
        }
    };
    prop_oneof![9 => right, 1 => wrong].boxed()
}

/// What Flink's format reads `v` as, then writes: `None` where it fails the record.
fn reference(t: &Ty, v: &Value) -> Option<Value> {
    if v.is_null() {
        return Some(Value::Null);
    }
    Some(match (t, v) {
        (Ty::String, Value::String(s)) => json!(s),
        (Ty::String, Value::Number(n)) => json!(n.to_string()),
        (Ty::String, Value::Bool(b)) => json!(b.to_string()),
        // A container's compact JSON text (the generator's are small enough to have one key order).
        (Ty::String, x @ (Value::Array(_) | Value::Object(_))) => json!(x.to_string()),
        (Ty::BigInt, Value::Number(n)) => json!(n.as_i64()?),
        (Ty::BigInt, Value::String(s)) => json!(s.trim().parse::<i64>().ok()?),
        (Ty::Boolean, Value::Bool(b)) => json!(b),
        (Ty::Boolean, Value::String(s)) => json!(s.trim().eq_ignore_ascii_case("true")),
        (Ty::Boolean, Value::Number(_)) => json!(false),
        (Ty::Array(e), Value::Array(items)) => {
            Value::Array(items.iter().map(|x| reference(e, x)).collect::<Option<Vec<_>>>()?)
        }
        (Ty::Map(t), Value::Object(m)) => {
            Value::Object(m.iter().map(|(k, x)| Some((k.clone(), reference(t, x)?))).collect::<Option<_>>()?)
        }
        (Ty::Row(fields), Value::Object(m)) => Value::Object(
            fields
                .iter()
                .map(|(n, t)| Some((n.clone(), m.get(n).map_or(Some(Value::Null), |x| reference(t, x))?)))
                .collect::<Option<_>>()?,
        ),
        _ => return None,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn nested_values_are_read_and_written_as_flinks_format_does((t, v) in ty().prop_flat_map(|t| {
        let v = value(&t);
        (Just(t), v)
    })) {
        let sql = format!(
            "CREATE TABLE src (v {ty}) WITH ('connector' = 'kafka', 'topic' = 't', 'format' = 'json');
             CREATE TABLE out (v {ty}) WITH ('connector' = 'kafka', 'topic' = 'o', 'format' = 'json');
             INSERT INTO out SELECT v FROM src;",
            ty = t.sql()
        );
        let plan = Plan::new("nested.sql", &sql).unwrap_or_else(|e| panic!("{e}\n{sql}"));
        let raw = json!({ "v": v }).to_string();
        let rec = Record {
            topic: "t", partition: 0, offset: 0, timestamp_ms: 0, key: None, value: Some(raw.as_bytes()), headers: None,
        };
        let out = plan.map_owned(&rec, 1 << 20, 0);
        match (reference(&t, &v), &out[..]) {
            (Some(want), [Outcome::Row { json, .. }]) => {
                let got: Value = serde_json::from_str(json).unwrap();
                prop_assert_eq!(got, json!({ "v": want }), "{} of {}", t.sql(), raw);
            }
            (None, [Outcome::Dead { .. }]) => {}
            (want, got) => prop_assert!(false, "{} of {}: reference {:?}, engine {:?}", t.sql(), raw, want, got),
        }
    }
}
