//! `CAST(x AS type)`, as Flink 2.0 defines it for the types here. An `Err` is where Flink fails the job (a text
//! that is not a number, say); `TRY_CAST` turns it into NULL. A DECIMAL that does not fit its precision is NULL
//! (Flink's rule), narrowing integer casts wrap and casts from floating point saturate, as Java's do.

use std::borrow::Cow;

use crate::flink_json::{java_trim, parse_double};
use crate::func::time;
use crate::types::Type;
use crate::value::{decimal_plain, decimal_to_f64, fits, java_double, java_float, parse_decimal, rescale, Val, NULL};

/// Casts a non-NULL `v` of type `from` to `to`.
pub fn cast<'r>(v: Val<'r>, from: Type, to: Type) -> Result<Val<'r>, String> {
    if from == to {
        return Ok(v);
    }
    Ok(match to {
        Type::String => Val::Str(to_string(v, from)),
        Type::Boolean => match v {
            Val::Bool(b) => Val::Bool(b),
            Val::Int(n) => Val::Bool(n != 0),
            Val::Double(x) => Val::Bool(x != 0.0),
            Val::Dec(x, _) => Val::Bool(x != 0),
            Val::Str(s) => {
                let t = java_trim(&s).to_ascii_lowercase();
                match t.as_str() {
                    "t" | "true" | "y" | "yes" | "1" => Val::Bool(true),
                    "f" | "false" | "n" | "no" | "0" => Val::Bool(false),
                    _ => return Err(format!("cannot cast {:?} to BOOLEAN", cut(&s))),
                }
            }
            other => return Err(format!("cannot cast {other:?} to BOOLEAN")),
        },
        Type::TinyInt | Type::SmallInt | Type::Int | Type::BigInt => {
            let n = match v {
                Val::Int(n) => n,
                Val::Bool(b) => i64::from(b),
                // Java's (long) of a double saturates; (int)/(short)/(byte) go through int.
                Val::Double(x) if to == Type::BigInt => x as i64,
                Val::Double(x) => i64::from(x as i32),
                Val::Dec(x, s) => (x / 10i128.pow(u32::from(s))) as i64,
                Val::Str(s) => parse_integer(&s).ok_or_else(|| format!("cannot cast {:?} to {to}", cut(&s)))?,
                other => return Err(format!("cannot cast {other:?} to {to}")),
            };
            Val::Int(crate::func::math::wrap(n, to))
        }
        Type::Float | Type::Double => {
            let x = match v {
                Val::Int(n) => n as f64,
                Val::Double(x) => x,
                Val::Dec(x, s) => decimal_to_f64(x, s),
                Val::Bool(b) => f64::from(u8::from(b)),
                Val::Str(s) => parse_double(&s).ok_or_else(|| format!("cannot cast {:?} to {to}", cut(&s)))?,
                other => return Err(format!("cannot cast {other:?} to {to}")),
            };
            Val::Double(if to == Type::Float { f64::from(x as f32) } else { x })
        }
        Type::Decimal(p, s) => {
            let unscaled = match v {
                Val::Int(n) => rescale(i128::from(n), 0, s),
                Val::Bool(b) => rescale(i128::from(b), 0, s),
                Val::Dec(x, xs) => rescale(x, xs, s),
                Val::Double(x) if x.is_finite() => parse_decimal(&java_double(x), s),
                Val::Double(_) => None,
                Val::Str(st) => {
                    let t = java_trim(&st);
                    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)) {
                        return Err(format!("cannot cast {:?} to {to}", cut(&st)));
                    }
                    Some(parse_decimal(t, s).ok_or_else(|| format!("cannot cast {:?} to {to}", cut(&st)))?)
                }
                other => return Err(format!("cannot cast {other:?} to {to}")),
            };
            match unscaled {
                Some(x) if fits(x, p) => Val::Dec(x, s),
                _ => NULL,
            }
        }
        Type::Timestamp(_) | Type::TimestampLtz(_) => match v {
            Val::Ts(ms) => Val::Ts(ms),
            Val::Date(d) => Val::Ts(time::date_to_ms(d)),
            Val::Str(s) => {
                Val::Ts(time::cast_to_timestamp(&s).ok_or_else(|| format!("cannot cast {:?} to {to}", cut(&s)))?)
            }
            other => return Err(format!("cannot cast {other:?} to {to}")),
        },
        Type::Date => match v {
            Val::Date(d) => Val::Date(d),
            Val::Ts(ms) => Val::Date(time::ms_to_date(ms)),
            Val::Str(s) => Val::Date(
                time::cast_to_timestamp(&s)
                    .map(time::ms_to_date)
                    .ok_or_else(|| format!("cannot cast {:?} to DATE", cut(&s)))?,
            ),
            other => return Err(format!("cannot cast {other:?} to DATE")),
        },
        Type::Bytes => match v {
            Val::Bytes(b) => Val::Bytes(b),
            Val::Str(Cow::Borrowed(s)) => Val::Bytes(Cow::Borrowed(s.as_bytes())),
            Val::Str(Cow::Owned(s)) => Val::Bytes(Cow::Owned(s.into_bytes())),
            other => return Err(format!("cannot cast {other:?} to BYTES")),
        },
        Type::Null => NULL,
        Type::Array(_) | Type::Map(_) | Type::Row(_) => return Err(format!("cannot cast a {from} to {to}")),
    })
}

/// `CAST(v AS STRING)`.
pub fn to_string<'r>(v: Val<'r>, from: Type) -> Cow<'r, str> {
    match v {
        Val::Str(s) => s,
        Val::Int(n) => Cow::Owned(n.to_string()),
        Val::Double(x) if from == Type::Float => Cow::Owned(java_float(x as f32)),
        Val::Double(x) => Cow::Owned(java_double(x)),
        Val::Dec(x, s) => Cow::Owned(decimal_plain(x, s)),
        Val::Bool(b) => Cow::Borrowed(if b { "TRUE" } else { "FALSE" }),
        Val::Ts(ms) => {
            let mut out = String::new();
            let precision = match from {
                Type::Timestamp(p) | Type::TimestampLtz(p) => p,
                _ => 3,
            };
            time::format_timestamp(ms, precision.min(3), false, &mut out);
            Cow::Owned(out)
        }
        Val::Date(d) => {
            let mut out = String::new();
            time::format_date(d, &mut out);
            Cow::Owned(out)
        }
        Val::Bytes(b) => Cow::Owned(String::from_utf8_lossy(&b).into_owned()),
        Val::Null(_) => Cow::Borrowed(""),
        // The planner refuses CAST of a nested value; its JSON text, should a caller ask.
        nested @ (Val::Array(_) | Val::Map(_) | Val::Row(_)) => {
            let mut out = Vec::new();
            crate::write::write_value(from, &nested, &mut out);
            Cow::Owned(String::from_utf8(out).expect("the JSON writer writes UTF-8"))
        }
    }
}

/// Flink's string-to-integer cast: trimmed, a sign, digits, and a fraction that is dropped (`"1.9"` → 1).
fn parse_integer(s: &str) -> Option<i64> {
    let t = java_trim(s);
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = int.strip_prefix(['+', '-']).unwrap_or(int);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    int.parse().ok()
}

fn cut(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flink_casts() {
        let s = |v: &str| Val::Str(Cow::Owned(v.to_owned()));
        assert_eq!(cast(s(" 42 "), Type::String, Type::Int), Ok(Val::Int(42)));
        assert_eq!(cast(s("1.9"), Type::String, Type::BigInt), Ok(Val::Int(1)));
        assert!(cast(s("abc"), Type::String, Type::Int).is_err());
        assert_eq!(cast(Val::Int(300), Type::Int, Type::TinyInt), Ok(Val::Int(44)));
        assert_eq!(cast(Val::Double(1e20), Type::Double, Type::Int), Ok(Val::Int(i64::from(i32::MAX))));
        assert_eq!(cast(s("yes"), Type::String, Type::Boolean), Ok(Val::Bool(true)));
        assert_eq!(cast(Val::Bool(true), Type::Boolean, Type::String), Ok(s("TRUE")));
        assert_eq!(cast(Val::Double(100.0), Type::Double, Type::String), Ok(s("100.0")));
        assert_eq!(cast(Val::Dec(150, 2), Type::Decimal(5, 2), Type::String), Ok(s("1.50")));
        assert_eq!(cast(s("12.345"), Type::String, Type::Decimal(5, 2)), Ok(Val::Dec(1235, 2)));
        assert_eq!(cast(s("12345.6"), Type::String, Type::Decimal(5, 2)), Ok(NULL));
        assert_eq!(cast(Val::Double(2.675), Type::Double, Type::Decimal(5, 2)), Ok(Val::Dec(268, 2)));
        assert_eq!(
            cast(Val::Ts(1_623_760_245_500), Type::Timestamp(3), Type::String),
            Ok(s("2021-06-15 12:30:45.500"))
        );
        assert_eq!(cast(s("2021-06-15 12:30:45.5"), Type::String, Type::Timestamp(3)), Ok(Val::Ts(1_623_760_245_500)));
        assert!(cast(s("noon"), Type::String, Type::Timestamp(3)).is_err());
        assert_eq!(java_float(1.1), "1.1");
        assert_eq!(java_float(1e10), "1.0E10");
    }
}
